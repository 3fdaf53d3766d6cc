//! Signed checkpoints over a hash chain (ed25519 region signing keys).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

// ---- checkpoints over many chains (one per person) ----------------------------------------------

const HEADS_DOMAIN: &[u8] = b"reelm-heads-checkpoint/v1";
const HEADS_ROOT_DOMAIN: &[u8] = b"reelm-heads-root/v1\0";
const CHAIN_TAG_DOMAIN: &[u8] = b"reelm-chain-tag/v1\0";

/// `prev_root` of the first heads checkpoint.
pub const GENESIS_ROOT: [u8; 32] = [0u8; 32];

/// The tag that names chain `id` (e.g. a person's access log) in heads checkpoints:
/// `SHA-256("reelm-chain-tag/v1\0" | id (i64 BE))`. A pseudonym, not a secret: whoever knows
/// the id can compute it. Kept after the chain is erased, so older checkpoints stay verifiable.
pub fn chain_tag(id: i64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(CHAIN_TAG_DOMAIN);
    h.update(id.to_be_bytes());
    h.finalize().into()
}

/// The head (last entry) of one chain among many, named by its [`chain_tag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainHead {
    #[serde(with = "hex32")]
    pub tag: [u8; 32],
    pub seq: u64,
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

/// The root a heads checkpoint signs: `SHA-256("reelm-heads-root/v1\0" | seq (u64 BE) |
/// prev_root | n (u64 BE) | n × (tag | head seq (u64 BE) | head hash))` over the heads sorted
/// by tag. `heads` may come in any order; a tag given twice is refused (`None`). Each
/// checkpoint holds the heads that moved since the previous one and chains to its root, so
/// dropping, editing or adding a stored head, or dropping a whole checkpoint, changes a root.
pub fn heads_root(seq: u64, prev_root: &[u8; 32], heads: &[ChainHead]) -> Option<[u8; 32]> {
    let mut sorted: Vec<&ChainHead> = heads.iter().collect();
    sorted.sort_unstable_by_key(|h| h.tag);
    if sorted.windows(2).any(|w| w[0].tag == w[1].tag) {
        return None;
    }
    let mut h = Sha256::new();
    h.update(HEADS_ROOT_DOMAIN);
    h.update(seq.to_be_bytes());
    h.update(prev_root);
    h.update((sorted.len() as u64).to_be_bytes());
    for head in sorted {
        h.update(head.tag);
        h.update(head.seq.to_be_bytes());
        h.update(head.hash);
    }
    Some(h.finalize().into())
}

/// A signed statement "after heads checkpoint `seq - 1` (root `prev_root`), these chains
/// reached these heads", over [`heads_root`]. Checkpoints are numbered 1, 2, … per region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadsCheckpoint {
    pub seq: u64,
    #[serde(with = "hex32")]
    pub root: [u8; 32],
    /// How many heads the checkpoint holds.
    pub heads: u64,
    pub at_ms: i64,
    pub signer_key_id: String,
    #[serde(with = "hexvec")]
    pub signature: Vec<u8>,
}

impl HeadsCheckpoint {
    /// The exact bytes signed: `"reelm-heads-checkpoint/v1" | seq (u64 BE) | root |
    /// heads (u64 BE) | at_ms (i64 BE) | lp(signer_key_id)`. Another domain than
    /// [`Checkpoint::signed_message`], so one signature never passes for the other.
    pub fn signed_message(
        seq: u64,
        root: &[u8; 32],
        heads: u64,
        at_ms: i64,
        signer_key_id: &str,
    ) -> Vec<u8> {
        let mut m =
            Vec::with_capacity(HEADS_DOMAIN.len() + 8 + 32 + 8 + 8 + 4 + signer_key_id.len());
        m.extend_from_slice(HEADS_DOMAIN);
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(root);
        m.extend_from_slice(&heads.to_be_bytes());
        m.extend_from_slice(&at_ms.to_be_bytes());
        push_lp(&mut m, signer_key_id.as_bytes());
        m
    }

    /// Checks the signature against the trusted keys.
    pub fn verify_signature(&self, keys: &TrustedKeys) -> Result<(), HeadsViolation> {
        let vk = keys
            .get(&self.signer_key_id)
            .ok_or_else(|| HeadsViolation::UnknownSigner {
                checkpoint: self.seq,
                signer_key_id: self.signer_key_id.clone(),
            })?;
        let bad = || HeadsViolation::BadSignature {
            checkpoint: self.seq,
            signer_key_id: self.signer_key_id.clone(),
        };
        let sig = Signature::from_slice(&self.signature).map_err(|_| bad())?;
        let msg = Self::signed_message(
            self.seq,
            &self.root,
            self.heads,
            self.at_ms,
            &self.signer_key_id,
        );
        vk.verify_strict(&msg, &sig).map_err(|_| bad())
    }
}

impl SigningKeys {
    /// Signs heads checkpoint `seq` over `heads` (the chains that moved since checkpoint
    /// `seq - 1`, whose root was `prev_root`; [`GENESIS_ROOT`] for the first). `None` if a tag
    /// is given twice.
    pub fn sign_heads(
        &self,
        seq: u64,
        prev_root: &[u8; 32],
        heads: &[ChainHead],
        at_ms: i64,
    ) -> Option<HeadsCheckpoint> {
        let root = heads_root(seq, prev_root, heads)?;
        let key = self.ring.current();
        let sk = SigningKey::from_bytes(&key.secret);
        let count = heads.len() as u64;
        let msg = HeadsCheckpoint::signed_message(seq, &root, count, at_ms, &key.id);
        Some(HeadsCheckpoint {
            seq,
            root,
            heads: count,
            at_ms,
            signer_key_id: key.id.clone(),
            signature: sk.sign(&msg).to_bytes().to_vec(),
        })
    }
}

/// How a sequence of heads checkpoints is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadsViolation {
    /// Checkpoint `checkpoint` came where `expected` was due: checkpoints were dropped
    /// (`checkpoint > expected`) or reordered/duplicated.
    #[error(
        "heads checkpoint {checkpoint}: expected checkpoint {expected} (checkpoints dropped or reordered)"
    )]
    CheckpointGap { checkpoint: u64, expected: u64 },
    #[error("heads checkpoint {checkpoint}: invalid signature by {signer_key_id:?}")]
    BadSignature {
        checkpoint: u64,
        signer_key_id: String,
    },
    #[error("heads checkpoint {checkpoint}: unknown signing key {signer_key_id:?}")]
    UnknownSigner {
        checkpoint: u64,
        signer_key_id: String,
    },
    /// The stored heads of a checkpoint do not hash to its signed root: a head was edited,
    /// dropped or added (or the previous checkpoint's heads were).
    #[error(
        "heads checkpoint {checkpoint}: stored heads do not match the signed root (heads edited, dropped or added)"
    )]
    RootMismatch { checkpoint: u64 },
    /// A signed checkpoint puts a chain at or below a seq an earlier checkpoint already
    /// vouched for, with another hash: the chain was rewritten between checkpoints.
    #[error("heads checkpoint {checkpoint}: chain {} goes back from entry {previous_seq} to entry {seq}", hex::encode(&tag[..8]))]
    Regressed {
        checkpoint: u64,
        tag: [u8; 32],
        seq: u64,
        previous_seq: u64,
    },
}

impl HeadsViolation {
    /// The checkpoint at which the violation was found.
    pub fn checkpoint(&self) -> u64 {
        match self {
            HeadsViolation::CheckpointGap { checkpoint, .. }
            | HeadsViolation::BadSignature { checkpoint, .. }
            | HeadsViolation::UnknownSigner { checkpoint, .. }
            | HeadsViolation::RootMismatch { checkpoint }
            | HeadsViolation::Regressed { checkpoint, .. } => *checkpoint,
        }
    }

    /// A stable machine-readable name of the violation kind.
    pub fn kind(&self) -> &'static str {
        match self {
            HeadsViolation::CheckpointGap {
                checkpoint,
                expected,
            } if checkpoint > expected => "checkpoint_dropped",
            HeadsViolation::CheckpointGap { .. } => "checkpoint_reordered",
            HeadsViolation::BadSignature { .. } => "bad_checkpoint_signature",
            HeadsViolation::UnknownSigner { .. } => "unknown_signer",
            HeadsViolation::RootMismatch { .. } => "checkpoint_edited",
            HeadsViolation::Regressed { .. } => "regressed",
        }
    }
}

/// What the checkpoints vouch for about one chain: its latest signed head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedHead {
    pub seq: u64,
    pub hash: [u8; 32],
    /// The heads checkpoint that signed it.
    pub checkpoint: u64,
}

/// Replays heads checkpoints in order (1, 2, …), each with its stored heads: checks the
/// numbering, the root chain, every signature and that no chain goes back; keeps each chain's
/// latest signed head, which the chains themselves must then reach (see
/// [`HeadsReplay::heads`]).
#[derive(Debug, Clone, Default)]
pub struct HeadsReplay {
    last: u64,
    prev_root: [u8; 32],
    heads: std::collections::HashMap<[u8; 32], SignedHead>,
}

impl HeadsReplay {
    pub fn new() -> Self {
        HeadsReplay {
            last: 0,
            prev_root: GENESIS_ROOT,
            heads: Default::default(),
        }
    }

    /// Checks the next checkpoint and its stored heads.
    pub fn push(
        &mut self,
        cp: &HeadsCheckpoint,
        heads: &[ChainHead],
        keys: &TrustedKeys,
    ) -> Result<(), HeadsViolation> {
        let expected = self.last + 1;
        if cp.seq != expected {
            return Err(HeadsViolation::CheckpointGap {
                checkpoint: cp.seq,
                expected,
            });
        }
        cp.verify_signature(keys)?;
        if heads.len() as u64 != cp.heads
            || heads_root(cp.seq, &self.prev_root, heads) != Some(cp.root)
        {
            return Err(HeadsViolation::RootMismatch { checkpoint: cp.seq });
        }
        for h in heads {
            if let Some(prev) = self.heads.get(&h.tag)
                && (h.seq < prev.seq || (h.seq == prev.seq && h.hash != prev.hash))
            {
                return Err(HeadsViolation::Regressed {
                    checkpoint: cp.seq,
                    tag: h.tag,
                    seq: h.seq,
                    previous_seq: prev.seq,
                });
            }
        }
        for h in heads {
            self.heads.insert(
                h.tag,
                SignedHead {
                    seq: h.seq,
                    hash: h.hash,
                    checkpoint: cp.seq,
                },
            );
        }
        self.last = cp.seq;
        self.prev_root = cp.root;
        Ok(())
    }

    /// Number of the last checkpoint replayed (0 if none).
    pub fn last_checkpoint(&self) -> u64 {
        self.last
    }

    /// Root of the last checkpoint replayed ([`GENESIS_ROOT`] if none).
    pub fn last_root(&self) -> [u8; 32] {
        self.prev_root
    }

    /// Each chain's latest signed head, by tag.
    pub fn heads(&self) -> &std::collections::HashMap<[u8; 32], SignedHead> {
        &self.heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(id: i64, seq: u64) -> ChainHead {
        ChainHead {
            tag: chain_tag(id),
            seq,
            hash: [seq as u8; 32],
        }
    }

    #[test]
    fn heads_checkpoints_replay_and_catch_tampering() {
        let signer = SigningKeys::generate("eu").unwrap();
        let keys = signer.public_keys();
        let d1 = vec![head(1, 3), head(2, 1)];
        let c1 = signer.sign_heads(1, &GENESIS_ROOT, &d1, 10).unwrap();
        let d2 = vec![head(1, 5)];
        let c2 = signer.sign_heads(2, &c1.root, &d2, 20).unwrap();
        let mut r = HeadsReplay::new();
        r.push(&c1, &d1, &keys).unwrap();
        r.push(&c2, &d2, &keys).unwrap();
        assert_eq!(r.last_checkpoint(), 2);
        assert_eq!(r.heads()[&chain_tag(1)].seq, 5);
        assert_eq!(r.heads()[&chain_tag(2)].checkpoint, 1);

        // Order of the stored heads does not matter; a duplicate tag is refused.
        let swapped = vec![d1[1], d1[0]];
        assert_eq!(heads_root(1, &GENESIS_ROOT, &swapped), Some(c1.root));
        assert_eq!(heads_root(1, &GENESIS_ROOT, &[d1[0], d1[0]]), None);

        // A dropped, edited or added head changes the root.
        let mut r = HeadsReplay::new();
        let err = r.push(&c1, &d1[..1], &keys).unwrap_err();
        assert_eq!(err.kind(), "checkpoint_edited");
        let mut edited = d1.clone();
        edited[0].seq = 2;
        assert_eq!(
            HeadsReplay::new().push(&c1, &edited, &keys).unwrap_err(),
            HeadsViolation::RootMismatch { checkpoint: 1 }
        );
        // A dropped checkpoint is a gap; a later one's root chains to the dropped one.
        let err = HeadsReplay::new().push(&c2, &d2, &keys).unwrap_err();
        assert_eq!(err.kind(), "checkpoint_dropped");
        // Signatures: another key, or a flipped bit.
        let other = SigningKeys::generate("eu").unwrap().public_keys();
        let err = HeadsReplay::new().push(&c1, &d1, &other).unwrap_err();
        assert_eq!(err.kind(), "bad_checkpoint_signature");
        let mut forged = c1.clone();
        forged.heads = 1;
        let err = HeadsReplay::new()
            .push(&forged, &d1[..1], &keys)
            .unwrap_err();
        assert_eq!(err.kind(), "bad_checkpoint_signature");

        // A signed regression is caught.
        let back = vec![head(1, 2)];
        let c2b = signer.sign_heads(2, &c1.root, &back, 20).unwrap();
        let mut r = HeadsReplay::new();
        r.push(&c1, &d1, &keys).unwrap();
        assert_eq!(r.push(&c2b, &back, &keys).unwrap_err().kind(), "regressed");
    }

    #[test]
    fn heads_and_chain_signatures_do_not_pass_for_each_other() {
        let signer = SigningKeys::generate("eu").unwrap();
        let hc = signer
            .sign_heads(1, &GENESIS_ROOT, &[head(1, 1)], 5)
            .unwrap();
        let as_chain = Checkpoint {
            seq: hc.seq,
            hash: hc.root,
            at_ms: hc.at_ms,
            signer_key_id: hc.signer_key_id.clone(),
            signature: hc.signature.clone(),
        };
        assert!(as_chain.verify_signature(&signer.public_keys()).is_err());
    }
}
