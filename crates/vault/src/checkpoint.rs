//! Signed checkpoints over a hash chain (ed25519 region signing keys).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::aead::push_lp;
use crate::chain::{ChainEntry, ChainVerifier, ChainViolation, VerifyReport};
use crate::error::VaultError;
use crate::keyfile::{KeyRing, RingKind};
use crate::serde_hex::{hex32, hexvec};

const CHECKPOINT_DOMAIN: &[u8] = b"reelm-checkpoint/v1";

/// A signed statement "entry `seq` of this chain has hash `hash`". Store
/// checkpoints apart from the chain (and/or publish them): a rewritten or
/// truncated chain no longer matches them. JSON uses hex for bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    pub at_ms: i64,
    pub signer_key_id: String,
    #[serde(with = "hexvec")]
    pub signature: Vec<u8>,
}

impl Checkpoint {
    /// The exact bytes signed:
    /// `"reelm-checkpoint/v1" | seq (u64 BE) | hash | at_ms (i64 BE) | lp(signer_key_id)`.
    pub fn signed_message(seq: u64, hash: &[u8; 32], at_ms: i64, signer_key_id: &str) -> Vec<u8> {
        let mut m =
            Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 8 + 32 + 8 + 4 + signer_key_id.len());
        m.extend_from_slice(CHECKPOINT_DOMAIN);
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(hash);
        m.extend_from_slice(&at_ms.to_be_bytes());
        push_lp(&mut m, signer_key_id.as_bytes());
        m
    }

    /// Checks the signature against the trusted keys.
    pub fn verify_signature(&self, keys: &TrustedKeys) -> Result<(), ChainViolation> {
        let vk = keys
            .get(&self.signer_key_id)
            .ok_or_else(|| ChainViolation::UnknownSigner {
                seq: self.seq,
                signer_key_id: self.signer_key_id.clone(),
            })?;
        let bad = || ChainViolation::BadCheckpointSignature {
            seq: self.seq,
            signer_key_id: self.signer_key_id.clone(),
        };
        let sig = Signature::from_slice(&self.signature).map_err(|_| bad())?;
        let msg = Self::signed_message(self.seq, &self.hash, self.at_ms, &self.signer_key_id);
        vk.verify_strict(&msg, &sig).map_err(|_| bad())
    }

    /// True if `entry` is the entry this checkpoint vouches for.
    pub fn matches(&self, entry: &ChainEntry) -> bool {
        entry.seq == self.seq && entry.hash == self.hash
    }
}

/// Region checkpoint-signing keys (ed25519), kept like region keys: a 0600
/// key file of 32-byte seeds (kind `"region-signing"`, ids `"{region}-s{n}"`)
/// or an env var; newest is current. Export the public half with
/// [`SigningKeys::public_keys`].
pub struct SigningKeys {
    ring: KeyRing,
}

impl SigningKeys {
    /// One fresh in-memory key `"{region}-s1"`.
    pub fn generate(region: &str) -> Result<Self, VaultError> {
        Ok(SigningKeys {
            ring: KeyRing::generate(region, RingKind::Signing)?,
        })
    }

    /// Loads an existing key file (must not be group/other readable on unix).
    pub fn load(path: impl AsRef<Path>, region: &str) -> Result<Self, VaultError> {
        Ok(SigningKeys {
            ring: KeyRing::load(path.as_ref(), region, RingKind::Signing)?,
        })
    }

    /// Loads the key file or creates it (0600) with one fresh key.
    pub fn load_or_create(path: impl AsRef<Path>, region: &str) -> Result<Self, VaultError> {
        Ok(SigningKeys {
            ring: KeyRing::load_or_create(path.as_ref(), region, RingKind::Signing)?,
        })
    }

    /// Reads seeds from an env var (key-file JSON or `id:seed_b64,...`).
    pub fn from_env(var: &str, region: &str) -> Result<Self, VaultError> {
        Ok(SigningKeys {
            ring: KeyRing::from_env(var, region, RingKind::Signing)?,
        })
    }

    /// Parses key-file JSON or the compact form from a string.
    pub fn from_key_text(text: &str, region: &str) -> Result<Self, VaultError> {
        Ok(SigningKeys {
            ring: KeyRing::parse("key text", text, region, RingKind::Signing)?,
        })
    }

    /// Persists to `path` (0600) and keeps it as the backing file.
    pub fn save_to(&mut self, path: impl AsRef<Path>) -> Result<(), VaultError> {
        self.ring.set_path(path.as_ref())
    }

    /// Re-reads the backing key file.
    pub fn reload(&mut self) -> Result<(), VaultError> {
        self.ring.reload()
    }

    /// Adds a new current signing key and persists; returns its id. Old
    /// public keys stay in [`SigningKeys::public_keys`] until retired; keep
    /// exported public keys of retired ids to verify old checkpoints.
    pub fn rotate(&mut self) -> Result<String, VaultError> {
        self.ring.rotate()
    }

    /// Forgets a non-current signing key and persists.
    pub fn retire(&mut self, id: &str) -> Result<(), VaultError> {
        self.ring.retire(id)
    }

    pub fn region(&self) -> &str {
        &self.ring.region
    }

    /// Id of the key that signs new checkpoints.
    pub fn current_key_id(&self) -> String {
        self.ring.current().id.clone()
    }

    /// All key ids, oldest first.
    pub fn key_ids(&self) -> Vec<String> {
        self.ring.keys().iter().map(|k| k.id.clone()).collect()
    }

    pub fn path(&self) -> Option<&Path> {
        self.ring.path()
    }

    /// Signs "entry `seq` has hash `hash`" with the current key.
    pub fn sign(&self, seq: u64, hash: [u8; 32], at_ms: i64) -> Checkpoint {
        let key = self.ring.current();
        let sk = SigningKey::from_bytes(&key.secret);
        let msg = Checkpoint::signed_message(seq, &hash, at_ms, &key.id);
        Checkpoint {
            seq,
            hash,
            at_ms,
            signer_key_id: key.id.clone(),
            signature: sk.sign(&msg).to_bytes().to_vec(),
        }
    }

    /// Signs a checkpoint at `entry` (normally the chain's last entry).
    pub fn checkpoint(&self, entry: &ChainEntry, at_ms: i64) -> Checkpoint {
        self.sign(entry.seq, entry.hash, at_ms)
    }

    /// The public key of `id`, if held.
    pub fn verifying_key(&self, id: &str) -> Option<VerifyingKey> {
        self.ring
            .get(id)
            .map(|k| SigningKey::from_bytes(&k.secret).verifying_key())
    }

    /// Public keys of every held signing key, for verifiers.
    pub fn public_keys(&self) -> TrustedKeys {
        let mut t = TrustedKeys::new();
        for k in self.ring.keys() {
            t.insert(&k.id, SigningKey::from_bytes(&k.secret).verifying_key());
        }
        t
    }
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("region", &self.ring.region)
            .field("key_ids", &self.key_ids())
            .field("path", &self.ring.path())
            .finish()
    }
}

/// Public checkpoint-verification keys by key id. Exportable as JSON
/// `{"eu-s1": "<64 hex chars>", ...}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

impl TrustedKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// A set with one key.
    pub fn single(id: &str, key: VerifyingKey) -> Self {
        let mut t = Self::new();
        t.insert(id, key);
        t
    }

    pub fn insert(&mut self, id: &str, key: VerifyingKey) {
        self.keys.insert(id.to_owned(), key);
    }

    pub fn get(&self, id: &str) -> Option<&VerifyingKey> {
        self.keys.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Merges another set (e.g. archived public keys of retired ids).
    pub fn extend(&mut self, other: &TrustedKeys) {
        for (id, k) in &other.keys {
            self.keys.insert(id.clone(), *k);
        }
    }

    /// `{"id": "hex public key", ...}`, sorted by id.
    pub fn to_json(&self) -> String {
        let map: BTreeMap<&str, String> = self
            .keys
            .iter()
            .map(|(id, k)| (id.as_str(), hex::encode(k.as_bytes())))
            .collect();
        serde_json::to_string_pretty(&map).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Parses [`TrustedKeys::to_json`] output.
    pub fn from_json(text: &str) -> Result<Self, VaultError> {
        let map: BTreeMap<String, String> =
            serde_json::from_str(text).map_err(|e| VaultError::Json(e.to_string()))?;
        let mut t = Self::new();
        for (id, hex_key) in map {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(|_| {
                VaultError::malformed("public key", format!("{id:?} is not 64 hex characters"))
            })?;
            let vk = VerifyingKey::from_bytes(&bytes).map_err(|_| {
                VaultError::malformed("public key", format!("{id:?} is not an ed25519 point"))
            })?;
            t.insert(&id, vk);
        }
        Ok(t)
    }
}

/// Result of [`verify_checkpoints`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointReport {
    pub chain: VerifyReport,
    /// Checkpoints whose signature and hash were verified.
    pub checkpoints: usize,
    /// Highest checkpointed seq, if any checkpoint was given.
    pub last_checkpoint_seq: Option<u64>,
    /// Entries after the last checkpoint: their truncation would not be
    /// detectable, so checkpoint often.
    pub unanchored_tail: u64,
}

/// Verifies a whole chain from genesis (as [`crate::verify_chain`]) and every
/// checkpoint: signature by a trusted key, the entry at its seq has the
/// signed hash, and the chain reaches its seq (detects tail truncation).
/// Checkpoints may come in any order.
pub fn verify_checkpoints<'a>(
    entries: impl IntoIterator<Item = &'a ChainEntry>,
    checkpoints: &[Checkpoint],
    keys: &TrustedKeys,
) -> Result<CheckpointReport, ChainViolation> {
    for cp in checkpoints {
        cp.verify_signature(keys)?;
    }
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|cp| cp.seq);
    let mut next = 0usize;
    let mut verifier = ChainVerifier::new();
    for e in entries {
        verifier.push(e)?;
        while let Some(cp) = sorted.get(next) {
            if cp.seq > e.seq {
                break;
            }
            // cp.seq < e.seq only for a checkpoint at seq 0, which no entry has.
            if !cp.matches(e) {
                return Err(ChainViolation::CheckpointMismatch { seq: cp.seq });
            }
            next += 1;
        }
    }
    let chain = verifier.report();
    if let Some(last_cp) = sorted.last()
        && next < sorted.len()
    {
        return Err(ChainViolation::Truncated {
            checkpoint_seq: last_cp.seq,
            last_seq: chain.last_seq,
        });
    }
    let last_checkpoint_seq = sorted.last().map(|cp| cp.seq);
    Ok(CheckpointReport {
        unanchored_tail: chain.last_seq - last_checkpoint_seq.unwrap_or(0),
        chain,
        checkpoints: sorted.len(),
        last_checkpoint_seq,
    })
}
