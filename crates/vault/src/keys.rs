//! Data keys and wrapped keys.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::VaultError;
use crate::random::random_array;

/// Length of a [`DataKey`] in bytes.
pub const DATA_KEY_LEN: usize = 32;

/// A 256-bit symmetric key (a per-user data key). Zeroized on drop; `Debug`
/// prints `DataKey(***)`. Never store it in plaintext: store the
/// [`WrappedKey`] that a [`crate::Kms`] made from it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; DATA_KEY_LEN]);

impl DataKey {
    /// A fresh random key from the OS CSPRNG.
    pub fn generate() -> Self {
        DataKey(random_array())
    }

    /// Wraps raw key bytes (e.g. just unwrapped by a KMS).
    pub fn from_bytes(bytes: [u8; DATA_KEY_LEN]) -> Self {
        DataKey(bytes)
    }

    /// Builds a key from a slice, which must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, VaultError> {
        let arr: [u8; DATA_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| VaultError::malformed("data key", "expected 32 bytes"))?;
        Ok(DataKey(arr))
    }

    /// The raw key bytes. Only for handing to a cipher or a KMS; never log,
    /// print or store them.
    pub fn expose_secret(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(***)")
    }
}

/// A data key encrypted ("wrapped") under a region key of a [`crate::Kms`].
///
/// `blob` is opaque to callers; its layout belongs to the KMS that made it
/// (for [`crate::LocalKms`]: 24-byte nonce, 32-byte encrypted key, 16-byte tag).
/// Store it with [`WrappedKey::to_bytes`] in one column next to the user; delete
/// that column value to crypto-shred the user's data.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Id of the region key that wrapped it, e.g. `"eu-k2"`.
    pub key_id: String,
    /// The KMS-specific ciphertext of the data key.
    pub blob: Vec<u8>,
}

const WRAPPED_KEY_VERSION: u8 = 1;

impl WrappedKey {
    /// Compact versioned encoding for a DB column:
    /// `0x01 | LEB128 len(key_id) | key_id (UTF-8) | blob`.
    /// A typical LocalKms key is 1 + 1 + 5 + 72 = 79 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let id = self.key_id.as_bytes();
        let mut out = Vec::with_capacity(1 + 10 + id.len() + self.blob.len());
        out.push(WRAPPED_KEY_VERSION);
        let mut n = id.len() as u64;
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(id);
        out.extend_from_slice(&self.blob);
        out
    }

    /// Parses [`Self::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        let (&version, mut rest) = bytes
            .split_first()
            .ok_or_else(|| VaultError::malformed("wrapped key", "empty"))?;
        if version != WRAPPED_KEY_VERSION {
            return Err(VaultError::UnsupportedVersion {
                what: "wrapped key",
                version,
            });
        }
        let mut id_len: u64 = 0;
        let mut shift = 0u32;
        loop {
            let (&byte, tail) = rest
                .split_first()
                .ok_or_else(|| VaultError::malformed("wrapped key", "truncated key id length"))?;
            rest = tail;
            if shift > 28 {
                return Err(VaultError::malformed(
                    "wrapped key",
                    "key id length too large",
                ));
            }
            id_len |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let id_len = usize::try_from(id_len)
            .map_err(|_| VaultError::malformed("wrapped key", "key id length too large"))?;
        if rest.len() < id_len {
            return Err(VaultError::malformed("wrapped key", "truncated key id"));
        }
        let (id, blob) = rest.split_at(id_len);
        let key_id = std::str::from_utf8(id)
            .map_err(|_| VaultError::malformed("wrapped key", "key id is not UTF-8"))?
            .to_owned();
        if key_id.is_empty() {
            return Err(VaultError::malformed("wrapped key", "empty key id"));
        }
        Ok(WrappedKey {
            key_id,
            blob: blob.to_vec(),
        })
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("key_id", &self.key_id)
            .field("blob_len", &self.blob.len())
            .finish()
    }
}
