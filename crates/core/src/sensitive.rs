//! `Sensitive<T>`: a value that must never reach a log, a panic message or an error string.
//!
//! Passwords, session and CSRF tokens, TOTP secrets, operator secrets and e-mail addresses
//! travel through request and config types that derive `Debug` for good reasons (tracing,
//! test failures). Wrapping such a field in `Sensitive` keeps those derives harmless: `Debug`
//! and `Display` print `***` whatever the value is, so `tracing::debug!(?request)` or an
//! `assert_eq!` failure shows the shape of the data and nothing of the secret.
//!
//! Reading the value is explicit, through [`Sensitive::expose`] or [`Sensitive::into_inner`],
//! so every place that touches the secret can be found with a grep for `expose`.
//!
//! Serde is transparent in both directions, so wrapping a field leaves the JSON and TOML wire
//! format byte for byte unchanged. **Serializing is a deliberate act**: the API has to return
//! a person's own e-mail address to them and the configuration has to round-trip through
//! `reelm config show`, so `Serialize` writes the plain value. Serialize a `Sensitive` field
//! only into a response meant for its owner or into a file meant for the operator, never into
//! a log line (use `Debug` there, which is what it is for).
//!
//! `crates/core/tests/redaction.rs` walks every crate's sources and fails when a type that
//! derives `Debug` has a secret-looking field that is not wrapped.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What `Debug` and `Display` print in place of the value.
const REDACTED: &str = "***";

/// A secret or a piece of personal data whose `Debug` and `Display` print `***`.
///
/// `PartialEq`/`Eq` exist for tests and plain values; checking a secret a client sent against
/// a stored one should still use a constant-time comparison on the exposed bytes. `Hash` and
/// `Ord` are left out on purpose: secrets make poor map keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    pub fn new(value: T) -> Self {
        Sensitive(value)
    }

    /// The value itself. Each call is a place where the secret leaves its wrapper: keep the
    /// borrow short and do not format it into logs or errors.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value, for handing it to an API that takes it by value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Sensitive<T> {
    fn from(value: T) -> Self {
        Sensitive(value)
    }
}

impl From<&str> for Sensitive<String> {
    fn from(value: &str) -> Self {
        Sensitive::new(value.to_owned())
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Transparent: writes the plain value. See the module documentation for why, and for where
/// a `Sensitive` may be serialized.
impl<T: Serialize> Serialize for Sensitive<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Transparent: reads the plain value.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sensitive<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Sensitive)
    }
}

/// `url` with the userinfo part (`user:password@`) replaced by `***@`, for messages and `Debug`
/// output that name a store or broker: `postgres://app:pw@db:5432/eu` becomes
/// `postgres://***@db:5432/eu`. Anything without `scheme://…@` comes back unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://{REDACTED}{}{tail}", &authority[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hunter2-correct-horse";

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct LogIn {
        handle: String,
        password: Sensitive<String>,
        #[serde(default)]
        email: Option<Sensitive<String>>,
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Sensitive::new(SECRET.to_owned());
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s:#?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:>10}", s), "***");
        assert_eq!(s.expose(), SECRET);
        let n: Sensitive<u64> = 42.into();
        assert_eq!(format!("{n:?} {n}"), "*** ***");
        assert_eq!(n.into_inner(), 42);
    }

    #[test]
    fn a_derived_debug_of_a_containing_struct_redacts_the_field() {
        let l = LogIn {
            handle: "ada".into(),
            password: SECRET.to_owned().into(),
            email: Some(Sensitive::new("ada@example.org".to_owned())),
        };
        for text in [format!("{l:?}"), format!("{l:#?}")] {
            assert!(!text.contains(SECRET), "{text}");
            assert!(!text.contains("ada@example.org"), "{text}");
            assert!(text.contains("ada"), "{text}");
            assert!(text.contains("***"), "{text}");
        }
        assert_eq!(
            format!("{l:?}"),
            r#"LogIn { handle: "ada", password: ***, email: Some(***) }"#
        );
    }

    #[test]
    fn urls_lose_their_userinfo() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.internal:5432/eu?sslmode=require"),
            "postgres://***@db.internal:5432/eu?sslmode=require"
        );
        assert_eq!(redact_url("nats://tok@n1:4222"), "nats://***@n1:4222");
        assert_eq!(redact_url("postgres://a:b@c@h/db"), "postgres://***@h/db");
        assert_eq!(
            redact_url("sqlite:///d/eu/store.db"),
            "sqlite:///d/eu/store.db"
        );
        assert_eq!(redact_url("sqlite:/d/x@y.db"), "sqlite:/d/x@y.db");
        assert_eq!(redact_url("file:///srv/media/a@b"), "file:///srv/media/a@b");
        assert_eq!(redact_url("/srv/media"), "/srv/media");
    }

    #[test]
    fn serde_is_transparent_both_ways() {
        let json = r#"{"handle":"ada","password":"hunter2-correct-horse","email":"a@b.c"}"#;
        let l: LogIn = serde_json::from_str(json).unwrap();
        assert_eq!(l.password.expose(), SECRET);
        assert_eq!(serde_json::to_string(&l).unwrap(), json);
        let s: Sensitive<String> = serde_json::from_str("\"x\"").unwrap();
        assert_eq!(s, Sensitive::new("x".to_owned()));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"x\"");
        assert_eq!(Sensitive::<String>::default().expose(), "");
    }
}
