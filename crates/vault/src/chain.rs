//! Tamper-evident hash chains (transfer ledger, access log), storage-agnostic.
//!
//! Entry `n` (seq starting at [`FIRST_SEQ`]) carries the hash of entry `n-1`
//! ([`GENESIS_HASH`] for the first) and its own hash, [`entry_hash`]. Editing,
//! dropping, inserting or reordering entries breaks the chain at a seq that
//! [`verify_chain`] names. Truncating the tail is only detectable against a
//! signed [`crate::Checkpoint`] (see [`crate::verify_checkpoints`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::VaultError;
use crate::serde_hex::hex32;

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: [u8; 32] = [0u8; 32];
/// Seq of the first entry.
pub const FIRST_SEQ: u64 = 1;

const CHAIN_DOMAIN: &[u8] = b"reelm-chain/v1\0";

/// One entry of a hash chain. In JSON the hashes are lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainEntry {
    pub seq: u64,
    pub at_ms: i64,
    pub kind: String,
    /// Canonical JSON (see [`canonical_json`]); hashed byte for byte as stored.
    pub payload: String,
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

impl ChainEntry {
    /// Recomputes this entry's hash from its fields.
    pub fn compute_hash(&self) -> [u8; 32] {
        entry_hash(
            self.seq,
            self.at_ms,
            &self.kind,
            &self.payload,
            &self.prev_hash,
        )
    }

    /// `hash` as lowercase hex (for display or TEXT columns).
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

/// SHA-256 over an unambiguous encoding:
/// `"reelm-chain/v1\0" | seq (u64 BE) | at_ms (i64 BE) | len(kind) (u64 BE) | kind
///  | len(payload) (u64 BE) | payload | prev_hash (32)`. Allocation-free.
pub fn entry_hash(
    seq: u64,
    at_ms: i64,
    kind: &str,
    payload: &str,
    prev_hash: &[u8; 32],
) -> [u8; 32] {
    entry_hash_bytes(seq, at_ms, kind.as_bytes(), payload.as_bytes(), prev_hash)
}

/// [`entry_hash`] over raw bytes, for verifiers that read stored entries without decoding
/// them into strings (the hash covers the stored bytes, valid UTF-8 or not).
pub fn entry_hash_bytes(
    seq: u64,
    at_ms: i64,
    kind: &[u8],
    payload: &[u8],
    prev_hash: &[u8; 32],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(CHAIN_DOMAIN);
    h.update(seq.to_be_bytes());
    h.update(at_ms.to_be_bytes());
    h.update((kind.len() as u64).to_be_bytes());
    h.update(kind);
    h.update((payload.len() as u64).to_be_bytes());
    h.update(payload);
    h.update(prev_hash);
    h.finalize().into()
}

/// Appends entries to a chain; holds only the last seq and hash, so one
/// builder per chain (per region ledger / access log) must be the single
/// writer, e.g. behind a mutex or a DB transaction that re-`resume`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBuilder {
    last_seq: u64,
    last_hash: [u8; 32],
}

impl Default for ChainBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainBuilder {
    /// A builder for an empty chain.
    pub fn new() -> Self {
        ChainBuilder {
            last_seq: FIRST_SEQ - 1,
            last_hash: GENESIS_HASH,
        }
    }

    /// Continues after `last` (the stored entry with the highest seq), or
    /// from genesis for `None`. Trusts `last`; verify the chain first if in doubt.
    pub fn resume(last: Option<&ChainEntry>) -> Self {
        match last {
            Some(e) => ChainBuilder {
                last_seq: e.seq,
                last_hash: e.hash,
            },
            None => Self::new(),
        }
    }

    /// Makes the next entry. The caller stores it; if storing fails, discard
    /// the builder and `resume` from storage.
    pub fn append(
        &mut self,
        at_ms: i64,
        kind: impl Into<String>,
        payload: impl Into<String>,
    ) -> ChainEntry {
        let kind = kind.into();
        let payload = payload.into();
        let seq = self.last_seq + 1;
        let prev_hash = self.last_hash;
        let hash = entry_hash(seq, at_ms, &kind, &payload, &prev_hash);
        self.last_seq = seq;
        self.last_hash = hash;
        ChainEntry {
            seq,
            at_ms,
            kind,
            payload,
            prev_hash,
            hash,
        }
    }

    /// Seq the next `append` will use.
    pub fn next_seq(&self) -> u64 {
        self.last_seq + 1
    }

    /// Seq of the last entry (0 for an empty chain).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Hash of the last entry ([`GENESIS_HASH`] for an empty chain).
    pub fn last_hash(&self) -> [u8; 32] {
        self.last_hash
    }
}

/// Outcome of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// Seq of the last entry (the anchor's seq, 0 for genesis, if none).
    pub last_seq: u64,
    /// Hash of the last entry (the anchor's hash / [`GENESIS_HASH`] if none).
    pub last_hash: [u8; 32],
}

/// How a chain is broken, and at which seq.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainViolation {
    /// Entry `seq` arrived where `expected` was due: `seq > expected` means
    /// entries were dropped; `seq < expected` means reordered or duplicated.
    #[error("{}", describe_gap(*seq, *expected))]
    SeqGap { seq: u64, expected: u64 },
    /// Entry `seq`'s `prev_hash` is not the hash of the entry before it: the
    /// previous entry was edited (with its hash recomputed), dropped or replaced.
    #[error(
        "entry {seq}: prev_hash does not match the previous entry's hash (previous entry edited or removed)"
    )]
    PrevHashMismatch { seq: u64 },
    /// Entry `seq`'s stored hash does not match its contents: it was edited.
    #[error("entry {seq}: stored hash does not match its contents (entry edited)")]
    HashMismatch { seq: u64 },
    /// A checkpoint's signature is invalid.
    #[error("checkpoint at entry {seq}: invalid signature by {signer_key_id:?}")]
    BadCheckpointSignature { seq: u64, signer_key_id: String },
    /// A checkpoint names a signing key that is not trusted.
    #[error("checkpoint at entry {seq}: unknown signing key {signer_key_id:?}")]
    UnknownSigner { seq: u64, signer_key_id: String },
    /// The entry at a checkpoint's seq has another hash than the signed one.
    #[error("entry {seq}: hash differs from the signed checkpoint (chain rewritten)")]
    CheckpointMismatch { seq: u64 },
    /// The chain ends before a signed checkpoint: its tail was truncated.
    #[error(
        "chain ends at entry {last_seq} but a signed checkpoint covers entry {checkpoint_seq} (tail truncated)"
    )]
    Truncated { checkpoint_seq: u64, last_seq: u64 },
}

fn describe_gap(seq: u64, expected: u64) -> String {
    if seq > expected {
        format!(
            "entry {seq}: expected entry {expected}; entries {expected}..{seq} missing (dropped)"
        )
    } else {
        format!("entry {seq}: expected entry {expected}; entry out of order or duplicated")
    }
}

impl ChainViolation {
    /// The seq at which the violation was found.
    pub fn seq(&self) -> u64 {
        match self {
            ChainViolation::SeqGap { seq, .. }
            | ChainViolation::PrevHashMismatch { seq }
            | ChainViolation::HashMismatch { seq }
            | ChainViolation::BadCheckpointSignature { seq, .. }
            | ChainViolation::UnknownSigner { seq, .. }
            | ChainViolation::CheckpointMismatch { seq } => *seq,
            ChainViolation::Truncated { checkpoint_seq, .. } => *checkpoint_seq,
        }
    }

    /// A stable machine-readable name of the violation kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ChainViolation::SeqGap { seq, expected } if seq > expected => "dropped",
            ChainViolation::SeqGap { .. } => "reordered",
            ChainViolation::PrevHashMismatch { .. } => "prev_hash_mismatch",
            ChainViolation::HashMismatch { .. } => "edited",
            ChainViolation::BadCheckpointSignature { .. } => "bad_checkpoint_signature",
            ChainViolation::UnknownSigner { .. } => "unknown_signer",
            ChainViolation::CheckpointMismatch { .. } => "checkpoint_mismatch",
            ChainViolation::Truncated { .. } => "truncated",
        }
    }
}

/// Streaming verifier: feed entries in storage order (e.g. page by page from
/// a DB cursor). Allocation-free per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVerifier {
    last_seq: u64,
    last_hash: [u8; 32],
    entries: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// Verifies from genesis: the first entry must be seq [`FIRST_SEQ`] with
    /// prev_hash [`GENESIS_HASH`].
    pub fn new() -> Self {
        ChainVerifier {
            last_seq: FIRST_SEQ - 1,
            last_hash: GENESIS_HASH,
            entries: 0,
        }
    }

    /// Verifies a chain segment that continues after a trusted entry
    /// (`seq`, `hash`), e.g. a verified checkpoint.
    pub fn from_anchor(seq: u64, hash: [u8; 32]) -> Self {
        ChainVerifier {
            last_seq: seq,
            last_hash: hash,
            entries: 0,
        }
    }

    /// Checks the next entry.
    pub fn push(&mut self, e: &ChainEntry) -> Result<(), ChainViolation> {
        self.push_hashed(e.seq, &e.prev_hash, &e.hash, &e.compute_hash())
    }

    /// Checks the next entry given the hash recomputed from its contents (`computed`, e.g.
    /// [`entry_hash_bytes`] run in parallel over a page of entries before the links are
    /// checked in order): seq follows, `prev_hash` links to the previous entry and the stored
    /// `hash` matches the contents. Same checks, same order as [`ChainVerifier::push`].
    pub fn push_hashed(
        &mut self,
        seq: u64,
        prev_hash: &[u8; 32],
        hash: &[u8; 32],
        computed: &[u8; 32],
    ) -> Result<(), ChainViolation> {
        let expected = self.last_seq + 1;
        if seq != expected {
            return Err(ChainViolation::SeqGap { seq, expected });
        }
        if *prev_hash != self.last_hash {
            return Err(ChainViolation::PrevHashMismatch { seq });
        }
        if computed != hash {
            return Err(ChainViolation::HashMismatch { seq });
        }
        self.last_seq = seq;
        self.last_hash = *hash;
        self.entries += 1;
        Ok(())
    }

    /// Summary so far.
    pub fn report(&self) -> VerifyReport {
        VerifyReport {
            entries: self.entries,
            last_seq: self.last_seq,
            last_hash: self.last_hash,
        }
    }
}

/// Verifies a whole chain from genesis, in the order given. Detects an edited
/// entry, a dropped/inserted entry, reordering and a dropped head; names the
/// first broken seq. Tail truncation needs [`crate::verify_checkpoints`].
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a ChainEntry>,
) -> Result<VerifyReport, ChainViolation> {
    let mut v = ChainVerifier::new();
    for e in entries {
        v.push(e)?;
    }
    Ok(v.report())
}

/// Serializes `value` as canonical JSON: no whitespace, object keys sorted by
/// their UTF-8 bytes at every level, serde_json's number and string
/// formatting. Independent of serde_json's `preserve_order` feature.
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<String, VaultError> {
    let v = serde_json::to_value(value).map_err(|e| VaultError::Json(e.to_string()))?;
    let mut out = String::new();
    write_canonical(&v, &mut out)?;
    Ok(out)
}

fn write_canonical(v: &serde_json::Value, out: &mut String) -> Result<(), VaultError> {
    use serde_json::Value;
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let key = serde_json::to_string(k).map_err(|e| VaultError::Json(e.to_string()))?;
                out.push_str(&key);
                out.push(':');
                if let Some(item) = map.get(k) {
                    write_canonical(item, out)?;
                }
            }
            out.push('}');
        }
        scalar => {
            let s = serde_json::to_string(scalar).map_err(|e| VaultError::Json(e.to_string()))?;
            out.push_str(&s);
        }
    }
    Ok(())
}
