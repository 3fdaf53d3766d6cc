//! Fails when a type that derives `Debug` has a field that looks like a secret or a piece of
//! personal data (a password, token, TOTP or other secret, an e-mail address, a key) and is not
//! wrapped in `reelm_core::Sensitive`, whose `Debug` prints `***`.
//!
//! It walks every `.rs` file under `crates/*/src` of the workspace (new crates are picked up
//! without touching this file), parses each with `syn` and looks at every struct and enum with
//! `#[derive(.., Debug, ..)]`. A field is flagged when its name matches a sensitive pattern and
//! its type is not redacting. A field that matches by name but carries nothing secret (a hash
//! of a token, an object-store path called `media_key`) opts out with a doc comment containing
//! `not-secret:` followed by the reason, which reviewers can read next to the field.
//!
//! The scanner is syntactic: it sees derives and field names, not types across crates. It
//! cannot see a secret in a field with an innocent name, nor a `Debug` written by hand; it is a
//! tripwire for the common mistake, not a proof.

use std::fmt;
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// Substrings of a field name (lower-cased) that mark it as sensitive.
const SENSITIVE_PARTS: &[&str] = &[
    "password",
    "passwd",
    "token",
    "secret",
    "email",
    "totp",
    "private_key",
    "api_key",
    "csrf",
];

/// Whether a field name looks like it holds a secret or personal data.
///
/// `key` alone or as the last word (`index_key`, `wrapped_key`, `signing_key`) is flagged:
/// most such fields in this workspace hold key material. `key_id` and `keys_dir` are not, since
/// `key` is not their last word; names such as `object_key` that are store paths opt out on
/// the field.
fn is_sensitive_name(name: &str) -> bool {
    let name = name.trim_start_matches("r#").to_ascii_lowercase();
    SENSITIVE_PARTS.iter().any(|p| name.contains(p)) || name == "key" || name.ends_with("_key")
}

/// Whether a field of this type prints nothing of its value in a derived `Debug`:
/// `Sensitive<..>`, possibly inside `Option`, `Vec`, `Box`, `Arc` or `Rc`, a `bool` (which can
/// say *whether* a person has an e-mail but not what it is), or a type named in
/// `redacting_types` (types of the workspace whose `Debug` is written by hand, which are checked
/// by their own tests).
fn is_redacting_type(ty: &syn::Type, redacting_types: &[&str]) -> bool {
    match ty {
        syn::Type::Reference(r) => is_redacting_type(&r.elem, redacting_types),
        syn::Type::Paren(p) => is_redacting_type(&p.elem, redacting_types),
        syn::Type::Group(g) => is_redacting_type(&g.elem, redacting_types),
        syn::Type::Path(p) => {
            let Some(last) = p.path.segments.last() else {
                return false;
            };
            let name = last.ident.to_string();
            if name == "Sensitive" || name == "bool" || redacting_types.contains(&name.as_str()) {
                return true;
            }
            if matches!(name.as_str(), "Option" | "Vec" | "Box" | "Arc" | "Rc")
                && let syn::PathArguments::AngleBracketed(args) = &last.arguments
            {
                let types: Vec<&syn::Type> = args
                    .args
                    .iter()
                    .filter_map(|a| match a {
                        syn::GenericArgument::Type(t) => Some(t),
                        _ => None,
                    })
                    .collect();
                return types.len() == 1 && is_redacting_type(types[0], redacting_types);
            }
            false
        }
        _ => false,
    }
}

fn derives_debug(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        if !attr.path().is_ident("derive") {
            return false;
        }
        let mut found = false;
        // A malformed derive does not compile, so ignoring a parse error here loses nothing.
        let _ = attr.parse_nested_meta(|meta| {
            if meta
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "Debug")
            {
                found = true;
            }
            Ok(())
        });
        found
    })
}

/// The text of a field's doc comments, where an opt-out reason lives.
fn doc_text(attrs: &[syn::Attribute]) -> String {
    let mut text = String::new();
    for attr in attrs {
        if let syn::Meta::NameValue(nv) = &attr.meta
            && nv.path.is_ident("doc")
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
        {
            text.push_str(&s.value());
            text.push('\n');
        }
    }
    text
}

/// A field opts out with `/// not-secret: <reason>`; the reason must not be empty.
fn opts_out(attrs: &[syn::Attribute]) -> bool {
    let docs = doc_text(attrs);
    docs.split("not-secret:")
        .skip(1)
        .any(|reason| reason.trim().len() >= 10)
}

#[derive(Clone, PartialEq, Eq)]
struct Finding {
    path: String,
    line: usize,
    ty: String,
    field: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} {}.{}", self.path, self.line, self.ty, self.field)
    }
}

struct Scanner<'a> {
    path: &'a str,
    redacting_types: &'a [&'a str],
    findings: Vec<Finding>,
}

impl Scanner<'_> {
    fn check_fields(&mut self, ty: String, fields: &syn::Fields) {
        let syn::Fields::Named(named) = fields else {
            return;
        };
        for field in &named.named {
            let Some(ident) = &field.ident else { continue };
            let name = ident.to_string();
            if is_sensitive_name(&name)
                && !is_redacting_type(&field.ty, self.redacting_types)
                && !opts_out(&field.attrs)
            {
                self.findings.push(Finding {
                    path: self.path.to_owned(),
                    line: ident.span().start().line,
                    ty: ty.clone(),
                    field: name,
                });
            }
        }
    }
}

impl<'ast> Visit<'ast> for Scanner<'_> {
    fn visit_item_struct(&mut self, item: &'ast syn::ItemStruct) {
        if derives_debug(&item.attrs) {
            self.check_fields(item.ident.to_string(), &item.fields);
        }
        syn::visit::visit_item_struct(self, item);
    }

    fn visit_item_enum(&mut self, item: &'ast syn::ItemEnum) {
        if derives_debug(&item.attrs) {
            for variant in &item.variants {
                self.check_fields(
                    format!("{}::{}", item.ident, variant.ident),
                    &variant.fields,
                );
            }
        }
        syn::visit::visit_item_enum(self, item);
    }
}

/// Names of types with a hand-written `impl Debug for T` (or `fmt::Debug`) in this file.
struct ManualDebug(Vec<String>);

impl<'ast> Visit<'ast> for ManualDebug {
    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let is_debug = item
            .trait_
            .as_ref()
            .and_then(|(_, path, _)| path.segments.last())
            .is_some_and(|s| s.ident == "Debug");
        if is_debug
            && let syn::Type::Path(p) = &*item.self_ty
            && let Some(last) = p.path.segments.last()
        {
            self.0.push(last.ident.to_string());
        }
        syn::visit::visit_item_impl(self, item);
    }
}

fn parse(path: &str, source: &str) -> syn::File {
    syn::parse_file(source).unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
}

fn scan_file(path: &str, file: &syn::File, redacting_types: &[&str]) -> Vec<Finding> {
    let mut scanner = Scanner {
        path,
        redacting_types,
        findings: Vec::new(),
    };
    scanner.visit_file(file);
    scanner.findings
}

/// Scans one source text on its own (types with a hand-written `Debug` are taken from the
/// same text).
fn scan_source(path: &str, source: &str) -> Vec<Finding> {
    let file = parse(path, source);
    let mut manual = ManualDebug(Vec::new());
    manual.visit_file(&file);
    let redacting: Vec<&str> = manual.0.iter().map(String::as_str).collect();
    scan_file(path, &file, &redacting)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

#[test]
fn no_type_deriving_debug_reveals_a_secret_field() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).expect("crates/ exists") {
        let src = krate.expect("a directory entry").path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    files.sort();
    assert!(
        files.len() > 50,
        "found only {} source files under {}: is the walk broken?",
        files.len(),
        root.display()
    );

    // Two passes: a field whose type has a hand-written `Debug` anywhere in the workspace is
    // trusted to be redacted by that impl (the vault's key types print only their ids).
    let parsed: Vec<(String, syn::File)> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap_or(p).display().to_string();
            let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{rel}: {e}"));
            let file = parse(&rel, &text);
            (rel, file)
        })
        .collect();
    let mut manual = ManualDebug(Vec::new());
    for (_, file) in &parsed {
        manual.visit_file(file);
    }
    let redacting: Vec<&str> = manual.0.iter().map(String::as_str).collect();

    let findings: Vec<Finding> = parsed
        .iter()
        .flat_map(|(path, file)| scan_file(path, file, &redacting))
        .collect();
    for f in &findings {
        println!("{f}");
    }
    assert!(
        findings.is_empty(),
        "{} field(s) of types deriving Debug look secret but are not Sensitive<..> (wrap them, \
         or add `/// not-secret: <reason>` on the field):\n{}",
        findings.len(),
        findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_scanner_catches_a_password_in_a_derived_debug() {
    let caught = scan_source(
        "inline.rs",
        "#[derive(Debug, Clone)]\npub struct LogIn {\n    pub handle: String,\n    pub password: String,\n}\n",
    );
    assert_eq!(caught.len(), 1);
    assert_eq!(caught[0].to_string(), "inline.rs:4 LogIn.password");

    let wrapped = "#[derive(Debug)]\nstruct LogIn { password: Sensitive<String>, email: Option<reelm_core::Sensitive<String>> }";
    assert!(scan_source("inline.rs", wrapped).is_empty());

    let no_debug = "#[derive(Clone, serde::Deserialize)]\nstruct LogIn { password: String }";
    assert!(scan_source("inline.rs", no_debug).is_empty());
}

#[test]
fn the_scanner_looks_into_enums_nested_modules_and_key_names() {
    let source = r#"
        mod inner {
            #[derive(std::fmt::Debug)]
            enum Msg { Rotate { new_key: Vec<u8>, key_id: String }, Ping }
        }
        #[derive(Debug)]
        struct Row {
            email_enc: Vec<u8>,
            /// not-secret: the hex SHA-256 of a session token, useless without the token.
            token_hash: String,
            /// not-secret:
            csrf: String,
            email_verified: bool,
            keys_dir: String,
            dk: DataKey,
            index_key: DataKey,
        }
        struct DataKey([u8; 32]);
        impl std::fmt::Debug for DataKey {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("DataKey") }
        }
    "#;
    let found: Vec<String> = scan_source("x.rs", source)
        .iter()
        .map(|f| format!("{}.{}", f.ty, f.field))
        .collect();
    // An empty opt-out reason does not count; a type with a hand-written Debug does.
    assert_eq!(found, ["Msg::Rotate.new_key", "Row.email_enc", "Row.csrf"]);
}
