//! The crate's error type. Messages never contain key material.

use std::path::PathBuf;

/// Every failure of this crate. `Display` never contains key material,
/// plaintexts or ciphertexts.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Authenticated decryption failed: wrong key, wrong context (region,
    /// user, table, column or associated data) or a tampered ciphertext.
    #[error("decryption failed: wrong key, wrong context or tampered data")]
    Decrypt,
    /// A stored blob starts with a format version this build does not know.
    #[error("unsupported {what} format version {version}")]
    UnsupportedVersion { what: &'static str, version: u8 },
    /// A stored blob is structurally invalid (too short, bad length prefix...).
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// The wrapped key names a region key this KMS does not hold (never
    /// known, or retired).
    #[error("unknown key id {0:?}")]
    UnknownKeyId(String),
    /// A key file or key environment variable has invalid content.
    #[error("key source {source_name}: {reason}")]
    KeySource { source_name: String, reason: String },
    /// A key file can be read or written by other users.
    #[error("key file {path} has mode {mode:o}, readable by others; run `chmod 600` on it")]
    InsecureKeyFile { path: PathBuf, mode: u32 },
    /// The key file belongs to another region than the one requested.
    #[error("key source {source_name} is for region {found:?}, expected {expected:?}")]
    RegionMismatch {
        source_name: String,
        expected: String,
        found: String,
    },
    /// `retire` was asked to remove the key currently used for wrapping or signing.
    #[error("cannot retire {0:?}: it is the current key; rotate first")]
    RetireCurrent(String),
    /// An environment variable holding keys is missing or not unicode.
    #[error("environment variable {0} is not set or not valid unicode")]
    MissingEnv(String),
    /// A decrypted string field is not valid UTF-8.
    #[error("decrypted field is not valid UTF-8")]
    Utf8,
    /// A value could not be serialized as canonical JSON.
    #[error("cannot encode canonical JSON: {0}")]
    Json(String),
    /// File system error on a key file.
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl VaultError {
    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        VaultError::Malformed {
            what,
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        VaultError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
