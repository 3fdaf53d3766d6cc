//! Key rings persisted in a key file (JSON, mode 0600) or read from an
//! environment variable. Shared by [`crate::LocalKms`] (region wrapping keys)
//! and [`crate::SigningKeys`] (region checkpoint-signing keys).
//!
//! File format (JSON):
//! ```json
//! { "version": 1, "kind": "region-kms", "region": "eu",
//!   "keys": [ { "id": "eu-k1", "key_b64": "<32 bytes, standard base64>", "created_at": 1700000000000 } ] }
//! ```
//! `created_at` is Unix time in milliseconds; the newest key (largest
//! `created_at`, last in file order on ties) is the current one. A bare JSON
//! list of key records is accepted too. The environment-variable form is either
//! the same JSON or the compact `id:key_b64[,id:key_b64...]`, oldest first.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::VaultError;
use crate::random::random_array;

const KEY_FILE_VERSION: u32 = 1;
const MAX_KEY_ID_LEN: usize = 128;

#[derive(Serialize, Deserialize)]
struct KeyFile {
    version: u32,
    kind: String,
    region: String,
    keys: Vec<KeyRecord>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct KeyRecord {
    id: String,
    key_b64: String,
    created_at: i64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AnyKeyFile {
    Full(KeyFile),
    List(Vec<KeyRecord>),
}

/// One secret key of a ring.
pub(crate) struct RingKey {
    pub(crate) id: String,
    pub(crate) secret: Zeroizing<[u8; 32]>,
    pub(crate) created_at: i64,
}

/// Which kind of key a ring holds; written into the file so a signing key
/// file cannot be loaded as a KMS file by mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RingKind {
    Kms,
    Signing,
}

impl RingKind {
    fn name(self) -> &'static str {
        match self {
            RingKind::Kms => "region-kms",
            RingKind::Signing => "region-signing",
        }
    }
    fn id_letter(self) -> char {
        match self {
            RingKind::Kms => 'k',
            RingKind::Signing => 's',
        }
    }
}

/// Ordered (oldest first) set of secret keys of one region.
pub(crate) struct KeyRing {
    pub(crate) region: String,
    kind: RingKind,
    keys: Vec<RingKey>,
    path: Option<PathBuf>,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn key_source_err(source_name: &str, reason: impl Into<String>) -> VaultError {
    VaultError::KeySource {
        source_name: source_name.to_owned(),
        reason: reason.into(),
    }
}

fn validate_region(region: &str) -> Result<(), VaultError> {
    if region.is_empty()
        || region.len() > 64
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(key_source_err(
            region,
            "region must be 1-64 characters of [A-Za-z0-9_-]",
        ));
    }
    Ok(())
}

fn validate_id(source_name: &str, id: &str) -> Result<(), VaultError> {
    if id.is_empty()
        || id.len() > MAX_KEY_ID_LEN
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(key_source_err(
            source_name,
            format!("key id {id:?} must be 1-{MAX_KEY_ID_LEN} characters of [A-Za-z0-9._-]"),
        ));
    }
    Ok(())
}

fn decode_key(source_name: &str, id: &str, b64: &str) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    // Never put decoder errors in the message: they quote offending bytes.
    let raw = Zeroizing::new(B64.decode(b64.trim()).map_err(|_| {
        key_source_err(
            source_name,
            format!("key {id:?}: key_b64 is not valid base64"),
        )
    })?);
    let mut out = Zeroizing::new([0u8; 32]);
    if raw.len() != 32 {
        return Err(key_source_err(
            source_name,
            format!("key {id:?}: key must be 32 bytes, found {}", raw.len()),
        ));
    }
    out.copy_from_slice(&raw);
    Ok(out)
}

impl KeyRing {
    pub(crate) fn generate(region: &str, kind: RingKind) -> Result<Self, VaultError> {
        validate_region(region)?;
        let mut ring = KeyRing {
            region: region.to_owned(),
            kind,
            keys: Vec::new(),
            path: None,
        };
        ring.push_new_key();
        Ok(ring)
    }

    fn from_records(
        source_name: &str,
        region: &str,
        kind: RingKind,
        records: &[KeyRecord],
    ) -> Result<Self, VaultError> {
        validate_region(region)?;
        if records.is_empty() {
            return Err(key_source_err(source_name, "holds no keys"));
        }
        let mut keys: Vec<RingKey> = Vec::with_capacity(records.len());
        for r in records {
            validate_id(source_name, &r.id)?;
            if keys.iter().any(|k| k.id == r.id) {
                return Err(key_source_err(
                    source_name,
                    format!("duplicate key id {:?}", r.id),
                ));
            }
            keys.push(RingKey {
                id: r.id.clone(),
                secret: decode_key(source_name, &r.id, &r.key_b64)?,
                created_at: r.created_at,
            });
        }
        // Stable: equal timestamps keep file order, so "last" wins ties.
        keys.sort_by_key(|k| k.created_at);
        Ok(KeyRing {
            region: region.to_owned(),
            kind,
            keys,
            path: None,
        })
    }

    /// Parses key-file JSON or the compact env form.
    pub(crate) fn parse(
        source_name: &str,
        text: &str,
        region: &str,
        kind: RingKind,
    ) -> Result<Self, VaultError> {
        let trimmed = text.trim();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            // serde_json messages can quote input, so report only the position.
            let parsed: AnyKeyFile = serde_json::from_str(trimmed).map_err(|e| {
                key_source_err(
                    source_name,
                    format!(
                        "not a valid key file (JSON error at line {} column {})",
                        e.line(),
                        e.column()
                    ),
                )
            })?;
            match parsed {
                AnyKeyFile::Full(file) => {
                    if file.version != KEY_FILE_VERSION {
                        return Err(key_source_err(
                            source_name,
                            format!("unsupported key file version {}", file.version),
                        ));
                    }
                    if file.kind != kind.name() {
                        return Err(key_source_err(
                            source_name,
                            format!("holds {:?} keys, expected {:?}", file.kind, kind.name()),
                        ));
                    }
                    if file.region != region {
                        return Err(VaultError::RegionMismatch {
                            source_name: source_name.to_owned(),
                            expected: region.to_owned(),
                            found: file.region.clone(),
                        });
                    }
                    Self::from_records(source_name, region, kind, &file.keys)
                }
                AnyKeyFile::List(records) => {
                    Self::from_records(source_name, region, kind, &records)
                }
            }
        } else {
            let mut records = Vec::new();
            for (i, item) in trimmed.split(',').enumerate() {
                let item = item.trim();
                if item.is_empty() {
                    continue;
                }
                let (id, b64) = item.split_once(':').ok_or_else(|| {
                    key_source_err(source_name, format!("item {} is not `id:key_b64`", i + 1))
                })?;
                records.push(KeyRecord {
                    id: id.trim().to_owned(),
                    key_b64: b64.trim().to_owned(),
                    created_at: i64::try_from(i).unwrap_or(i64::MAX),
                });
            }
            Self::from_records(source_name, region, kind, &records)
        }
    }

    pub(crate) fn from_env(var: &str, region: &str, kind: RingKind) -> Result<Self, VaultError> {
        let value =
            Zeroizing::new(std::env::var(var).map_err(|_| VaultError::MissingEnv(var.to_owned()))?);
        Self::parse(&format!("${var}"), &value, region, kind)
    }

    pub(crate) fn load(path: &Path, region: &str, kind: RingKind) -> Result<Self, VaultError> {
        check_permissions(path)?;
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| VaultError::io(path, e))?);
        let mut ring = Self::parse(&path.display().to_string(), &text, region, kind)?;
        ring.path = Some(path.to_path_buf());
        Ok(ring)
    }

    pub(crate) fn load_or_create(
        path: &Path,
        region: &str,
        kind: RingKind,
    ) -> Result<Self, VaultError> {
        match fs::symlink_metadata(path) {
            Ok(_) => return Self::load(path, region, kind),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(VaultError::io(path, e)),
        }
        let mut ring = Self::generate(region, kind)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        let bytes = ring.to_json()?;
        // Write a temp file, then hard-link it into place: exclusive, so two
        // processes starting at once never end up with different keys.
        let tmp = temp_path(path);
        write_private(&tmp, &bytes)?;
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_parent(path);
                ring.path = Some(path.to_path_buf());
                Ok(ring)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(path, region, kind)
            }
            Err(e) => Err(VaultError::io(path, e)),
        }
    }

    /// Re-reads the backing file (after another process rotated it).
    pub(crate) fn reload(&mut self) -> Result<(), VaultError> {
        if let Some(path) = self.path.clone() {
            *self = Self::load(&path, &self.region, self.kind)?;
        }
        Ok(())
    }

    fn to_json(&self) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let file = KeyFile {
            version: KEY_FILE_VERSION,
            kind: self.kind.name().to_owned(),
            region: self.region.clone(),
            keys: self
                .keys
                .iter()
                .map(|k| KeyRecord {
                    id: k.id.clone(),
                    key_b64: B64.encode(k.secret.as_slice()),
                    created_at: k.created_at,
                })
                .collect(),
        };
        let mut out = Zeroizing::new(
            serde_json::to_vec_pretty(&file).map_err(|e| VaultError::Json(e.to_string()))?,
        );
        out.push(b'\n');
        Ok(out)
    }

    /// Writes the ring to its backing file (atomically, mode 0600), if any.
    fn persist(&self) -> Result<(), VaultError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes = self.to_json()?;
        let tmp = temp_path(path);
        write_private(&tmp, &bytes)?;
        fs::rename(&tmp, path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            VaultError::io(path, e)
        })?;
        sync_parent(path);
        Ok(())
    }

    fn push_new_key(&mut self) -> &RingKey {
        let next = self
            .keys
            .iter()
            .filter_map(|k| {
                k.id.rsplit_once('-')
                    .and_then(|(_, n)| n.strip_prefix(self.kind.id_letter()))
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .max()
            .unwrap_or(0)
            + 1;
        let mut n = next;
        let mut id = format!("{}-{}{}", self.region, self.kind.id_letter(), n);
        while self.keys.iter().any(|k| k.id == id) {
            n += 1;
            id = format!("{}-{}{}", self.region, self.kind.id_letter(), n);
        }
        let created_at = match self.keys.last() {
            Some(last) => now_ms().max(last.created_at.saturating_add(1)),
            None => now_ms(),
        };
        self.keys.push(RingKey {
            id,
            secret: Zeroizing::new(random_array()),
            created_at,
        });
        let idx = self.keys.len() - 1;
        &self.keys[idx]
    }

    /// Adds a new current key and persists the ring; returns the new id.
    pub(crate) fn rotate(&mut self) -> Result<String, VaultError> {
        let id = self.push_new_key().id.clone();
        if let Err(e) = self.persist() {
            self.keys.pop();
            return Err(e);
        }
        Ok(id)
    }

    /// Removes a non-current key and persists the ring.
    pub(crate) fn retire(&mut self, id: &str) -> Result<(), VaultError> {
        let pos = self
            .keys
            .iter()
            .position(|k| k.id == id)
            .ok_or_else(|| VaultError::UnknownKeyId(id.to_owned()))?;
        if pos + 1 == self.keys.len() {
            return Err(VaultError::RetireCurrent(id.to_owned()));
        }
        let removed = self.keys.remove(pos);
        if let Err(e) = self.persist() {
            self.keys.insert(pos, removed);
            return Err(e);
        }
        Ok(())
    }

    /// The newest key. A ring always holds at least one key.
    pub(crate) fn current(&self) -> &RingKey {
        // Invariant: constructors reject empty rings and `retire` keeps the last.
        &self.keys[self.keys.len() - 1]
    }

    pub(crate) fn get(&self, id: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub(crate) fn keys(&self) -> &[RingKey] {
        &self.keys
    }

    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub(crate) fn set_path(&mut self, path: &Path) -> Result<(), VaultError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        self.path = Some(path.to_path_buf());
        self.persist()
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let nonce: [u8; 8] = random_array();
    name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        hex::encode(nonce)
    ));
    path.with_file_name(name)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let _ = fs::remove_file(path);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| VaultError::io(path, e))?;
    f.write_all(bytes).map_err(|e| VaultError::io(path, e))?;
    f.sync_all().map_err(|e| VaultError::io(path, e))?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<(), VaultError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| VaultError::io(dir, e))
}

fn sync_parent(path: &Path) {
    // Best effort: make the rename durable.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|e| VaultError::io(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::InsecureKeyFile {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), VaultError> {
    Ok(())
}
