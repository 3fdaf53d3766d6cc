//! The KMS seam: region keys that wrap per-user data keys.

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::aead::{open, push_lp, seal_into};
use crate::error::VaultError;
use crate::keyfile::{KeyRing, RingKind};
use crate::keys::{DATA_KEY_LEN, DataKey, WrappedKey};

/// A key-management service holding the region keys of one region.
/// [`LocalKms`] is the built-in implementation; a cloud KMS can implement the
/// same trait (wrap = its `Encrypt` with the AAD as encryption context).
pub trait Kms: Send + Sync {
    /// Id of the region key currently used for wrapping (e.g. "eu-k2").
    fn current_key_id(&self) -> String;
    /// Wraps a data key under the current region key, binding `aad`.
    fn wrap(&self, plaintext_key: &DataKey, aad: &[u8]) -> Result<WrappedKey, VaultError>;
    /// Unwraps with whichever known region key `wrapped.key_id` names.
    fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey, VaultError>;
}

impl<K: Kms + ?Sized> Kms for &K {
    fn current_key_id(&self) -> String {
        (**self).current_key_id()
    }
    fn wrap(&self, plaintext_key: &DataKey, aad: &[u8]) -> Result<WrappedKey, VaultError> {
        (**self).wrap(plaintext_key, aad)
    }
    fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey, VaultError> {
        (**self).unwrap(wrapped, aad)
    }
}

impl<K: Kms + ?Sized> Kms for std::sync::Arc<K> {
    fn current_key_id(&self) -> String {
        (**self).current_key_id()
    }
    fn wrap(&self, plaintext_key: &DataKey, aad: &[u8]) -> Result<WrappedKey, VaultError> {
        (**self).wrap(plaintext_key, aad)
    }
    fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey, VaultError> {
        (**self).unwrap(wrapped, aad)
    }
}

/// Region keys held in memory (XChaCha20-Poly1305 key wrapping), loaded from
/// a key file or an environment variable. See the crate docs for formats.
///
/// Wrapped blob layout: `nonce (24) | encrypted data key (32) | tag (16)`; the
/// AAD is `"reelm-vault/wrap/v1" | lp(key_id) | lp(caller aad)`.
pub struct LocalKms {
    ring: KeyRing,
}

const WRAP_DOMAIN: &[u8] = b"reelm-vault/wrap/v1";

fn wrap_aad(key_id: &str, aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(WRAP_DOMAIN.len() + 8 + key_id.len() + aad.len());
    out.extend_from_slice(WRAP_DOMAIN);
    push_lp(&mut out, key_id.as_bytes());
    push_lp(&mut out, aad);
    out
}

impl LocalKms {
    /// A new in-memory KMS with one fresh key `"{region}-k1"`. Nothing is
    /// persisted (use [`LocalKms::save_to`] or [`LocalKms::load_or_create`]).
    pub fn generate(region: &str) -> Result<Self, VaultError> {
        Ok(LocalKms {
            ring: KeyRing::generate(region, RingKind::Kms)?,
        })
    }

    /// Loads an existing key file. Fails if it is readable by group/others
    /// (unix), holds keys for another region, or is malformed.
    pub fn load(path: impl AsRef<Path>, region: &str) -> Result<Self, VaultError> {
        Ok(LocalKms {
            ring: KeyRing::load(path.as_ref(), region, RingKind::Kms)?,
        })
    }

    /// Loads the key file, or creates it (mode 0600, parent dirs 0700) with
    /// one fresh key. Safe against two processes creating it at once.
    pub fn load_or_create(path: impl AsRef<Path>, region: &str) -> Result<Self, VaultError> {
        Ok(LocalKms {
            ring: KeyRing::load_or_create(path.as_ref(), region, RingKind::Kms)?,
        })
    }

    /// Reads keys from environment variable `var`: key-file JSON, or the
    /// compact `id:key_b64[,id:key_b64...]` (oldest first, last is current).
    /// `rotate`/`retire` then change memory only.
    pub fn from_env(var: &str, region: &str) -> Result<Self, VaultError> {
        Ok(LocalKms {
            ring: KeyRing::from_env(var, region, RingKind::Kms)?,
        })
    }

    /// Parses key-file JSON or the compact env form from a string.
    pub fn from_key_text(text: &str, region: &str) -> Result<Self, VaultError> {
        Ok(LocalKms {
            ring: KeyRing::parse("key text", text, region, RingKind::Kms)?,
        })
    }

    /// Persists this KMS to `path` (0600) and keeps that file as its backing
    /// store for later `rotate`/`retire`.
    pub fn save_to(&mut self, path: impl AsRef<Path>) -> Result<(), VaultError> {
        self.ring.set_path(path.as_ref())
    }

    /// Re-reads the backing key file (e.g. after `reelm keys rotate` ran in
    /// another process). No-op for env/in-memory KMSs.
    pub fn reload(&mut self) -> Result<(), VaultError> {
        self.ring.reload()
    }

    /// Adds a new current region key (`"{region}-k{n+1}"`), persists the key
    /// file if there is one, and returns the new id. Older keys keep
    /// unwrapping until [`LocalKms::retire`]d.
    pub fn rotate(&mut self) -> Result<String, VaultError> {
        self.ring.rotate()
    }

    /// Forgets a non-current key and persists. Every key wrapped under it
    /// becomes unreadable: re-wrap first (see [`crate::rewrap`]).
    pub fn retire(&mut self, id: &str) -> Result<(), VaultError> {
        self.ring.retire(id)
    }

    /// The region this KMS serves.
    pub fn region(&self) -> &str {
        &self.ring.region
    }

    /// All key ids, oldest first; the last is current.
    pub fn key_ids(&self) -> Vec<String> {
        self.ring.keys().iter().map(|k| k.id.clone()).collect()
    }

    /// The backing key file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.ring.path()
    }
}

impl Kms for LocalKms {
    fn current_key_id(&self) -> String {
        self.ring.current().id.clone()
    }

    fn wrap(&self, plaintext_key: &DataKey, aad: &[u8]) -> Result<WrappedKey, VaultError> {
        let key = self.ring.current();
        let mut blob = Vec::with_capacity(24 + DATA_KEY_LEN + 16);
        seal_into(
            &key.secret,
            &wrap_aad(&key.id, aad),
            plaintext_key.expose_secret(),
            &mut blob,
        );
        Ok(WrappedKey {
            key_id: key.id.clone(),
            blob,
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey, VaultError> {
        let key = self
            .ring
            .get(&wrapped.key_id)
            .ok_or_else(|| VaultError::UnknownKeyId(wrapped.key_id.clone()))?;
        let plain = Zeroizing::new(open(
            &key.secret,
            &wrap_aad(&key.id, aad),
            &wrapped.blob,
            "wrapped key",
        )?);
        DataKey::from_slice(&plain)
    }
}

impl fmt::Debug for LocalKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKms")
            .field("region", &self.ring.region)
            .field("key_ids", &self.key_ids())
            .field("path", &self.ring.path())
            .finish()
    }
}
