//! # reelm-vault
//!
//! Owns reelm's key material and the cryptography built on it:
//!
//! - **Region keys** behind the [`Kms`] trait ([`LocalKms`]: a 0600 JSON key
//!   file or an environment variable; a cloud KMS can implement the trait).
//! - **Per-user data keys** ([`DataKey`]), stored only wrapped ([`WrappedKey`])
//!   under a region key with the region and user id as associated data
//!   ([`new_user_key`], [`open_user_key`], [`rewrap`]).
//! - **Field encryption** ([`encrypt_field`], [`decrypt_field`]):
//!   XChaCha20-Poly1305, random 24-byte nonces, versioned format, bound to
//!   (region, user, table, column) through [`FieldContext`].
//! - **Crypto-shredding**: delete a user's wrapped key and every copy of their
//!   field ciphertexts is unreadable, even to a holder of the region key.
//! - **Tamper-evident hash chains** for the transfer ledger and the access
//!   log ([`ChainBuilder`], [`verify_chain`]) with ed25519-signed
//!   [`Checkpoint`]s ([`SigningKeys`], [`verify_checkpoints`]), and signed
//!   [`HeadsCheckpoint`]s over the heads of many chains at once (one per person:
//!   [`chain_tag`], [`heads_root`], [`HeadsReplay`]).
//!
//! Rules this crate keeps and expects callers to keep: a plaintext user key is
//! never stored beside data (store the [`WrappedKey`] only); key material is
//! never logged (`Debug` of keys prints `DataKey(***)`, error messages carry
//! ids, never bytes). The only I/O is reading and writing key files and
//! reading key environment variables.
//!
//! ## Formats (stable; each starts with a version)
//! - Field ciphertext: `0x01 | nonce(24) | ciphertext | tag(16)`.
//! - Wrapped key column ([`WrappedKey::to_bytes`]): `0x01 | LEB128 len | key_id | blob`.
//! - Key file ([`LocalKms`] kind `region-kms`, [`SigningKeys`] kind `region-signing`;
//!   mode 0600, newest `created_at` (unix ms) is current; a bare list of key
//!   records, or `id:key_b64,...` oldest first in an env var, are accepted too):
//!   `{"version":1,"kind":"region-kms","region":"eu","keys":[{"id":"eu-k1","key_b64":"…","created_at":<unix ms>}]}`.
//! - Chain entry hash: [`entry_hash`].
//!
//! ## Example
//! ```
//! use reelm_vault::*;
//!
//! let kms = LocalKms::generate("eu")?;                  // or LocalKms::load_or_create(path, "eu")
//! let (key, wrapped) = new_user_key(&kms, "eu", 42)?;   // store wrapped.to_bytes() only
//! let ctx = FieldContext::new("eu", 42, "users", "email");
//! let ct = encrypt_str(&key, &ctx, "ada@example.org");
//! let key = open_user_key(&kms, "eu", 42, &WrappedKey::from_bytes(&wrapped.to_bytes())?)?;
//! assert_eq!(decrypt_str(&key, &ctx, &ct)?, "ada@example.org");
//!
//! let mut chain = ChainBuilder::new();
//! let e1 = chain.append(1_700_000_000_000, "transfer", canonical_json(&serde_json::json!({"to": "us"}))?);
//! let e2 = chain.append(1_700_000_000_001, "transfer", "{}");
//! let signer = SigningKeys::generate("eu")?;
//! let cp = signer.checkpoint(&e2, 1_700_000_000_002);
//! verify_checkpoints([&e1, &e2], &[cp], &signer.public_keys()).map_err(|v| v.to_string()).unwrap();
//! # Ok::<(), VaultError>(())
//! ```
//!
//! Randomness comes from the OS (`getrandom`); functions that need it panic
//! only if the OS cannot provide any.

mod aead;
mod chain;
mod checkpoint;
mod error;
mod field;
mod keyfile;
mod keys;
mod kms;
mod random;
mod serde_hex;
mod user;

pub use chain::{
    ChainBuilder, ChainEntry, ChainVerifier, ChainViolation, FIRST_SEQ, GENESIS_HASH, VerifyReport,
    canonical_json, entry_hash, entry_hash_bytes, verify_chain,
};
pub use checkpoint::{
    ChainHead, Checkpoint, CheckpointReport, GENESIS_ROOT, HeadsCheckpoint, HeadsReplay,
    HeadsViolation, SignedHead, SigningKeys, TrustedKeys, chain_tag, heads_root,
    verify_checkpoints,
};
pub use error::VaultError;
pub use field::{
    FIELD_FORMAT_V1, FIELD_OVERHEAD, FieldContext, decrypt_field, decrypt_opt_str, decrypt_str,
    encrypt_field, encrypt_opt_str, encrypt_str, reencrypt_field,
};
pub use keys::{DATA_KEY_LEN, DataKey, WrappedKey};
pub use kms::{Kms, LocalKms};
pub use user::{needs_rewrap, new_user_key, open_user_key, rewrap, user_key_aad};

/// Re-exported so callers can name verifying keys without a direct dependency.
pub use ed25519_dalek::VerifyingKey;
