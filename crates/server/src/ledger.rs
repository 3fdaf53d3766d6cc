//! Each region's transfer ledger: a hash chain (`reelm_vault::ChainBuilder`) of every
//! cross-region transfer the gateway decided with this region as the source, stored in the
//! cell's `transfer_ledger` table, with ed25519-signed checkpoints in `ledger_checkpoints`
//! every [`CHECKPOINT_EVERY`] entries and at clean shutdown.
//!
//! Verification ([`verify_region`]) needs only the store and the region's *public* signing keys
//! (`regions/<id>/keys/region-signing.pub.json`), so an auditor can run it without secrets.

use crate::error::AppError;
use crate::platform::{Cell, Platform};
use reelm_core::RegionId;
use reelm_store::{CellStore, CheckpointRow, LedgerRow};
use reelm_vault::{
    ChainBuilder, ChainEntry, ChainVerifier, ChainViolation, Checkpoint, SigningKeys, TrustedKeys,
};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A signed checkpoint is written after every this many entries.
pub const CHECKPOINT_EVERY: u64 = 1_000;
/// Entries read per page when verifying.
const PAGE: i64 = 10_000;
/// Kind of a gateway decision entry.
pub const KIND_TRANSFER: &str = "transfer";

/// File names under `regions/<id>/keys/`.
pub const SIGNING_KEY_FILE: &str = "region-signing.json";
pub const SIGNING_PUB_FILE: &str = "region-signing.pub.json";

struct State {
    chain: ChainBuilder,
    last_checkpoint: u64,
    /// Last seq when the ledger was opened: only entries this process wrote get signed at
    /// shutdown, so opening a store (e.g. to verify it) never vouches for a stored tail.
    opened_at: u64,
}

/// The writer side of one region's ledger; appends are serialized by the mutex.
pub struct RegionLedger {
    state: tokio::sync::Mutex<State>,
    signing: SigningKeys,
}

impl std::fmt::Debug for RegionLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionLedger")
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}

fn to_entry(r: &LedgerRow) -> ChainEntry {
    ChainEntry {
        seq: r.seq.max(0) as u64,
        at_ms: r.at_ms,
        kind: r.kind.clone(),
        payload: r.payload.clone(),
        // A hash of the wrong length was tampered with: zeros never match a real hash.
        prev_hash: r.prev_hash.as_slice().try_into().unwrap_or([0; 32]),
        hash: r.hash.as_slice().try_into().unwrap_or([0; 32]),
    }
}

fn to_checkpoint(r: &CheckpointRow) -> Checkpoint {
    Checkpoint {
        seq: r.seq.max(0) as u64,
        hash: r.hash.as_slice().try_into().unwrap_or([0; 32]),
        at_ms: r.at_ms,
        signer_key_id: r.signer_key_id.clone(),
        signature: r.signature.clone(),
    }
}

impl RegionLedger {
    /// Loads (or creates) the region signing key, writes its public half beside it for
    /// auditors, and resumes the chain from the last stored entry.
    pub async fn open(
        store: &CellStore,
        keys_dir: &Path,
        region: &RegionId,
    ) -> Result<RegionLedger, String> {
        let signing = SigningKeys::load_or_create(keys_dir.join(SIGNING_KEY_FILE), region.as_str())
            .map_err(|e| e.to_string())?;
        let public = signing.public_keys().to_json();
        let pub_path = keys_dir.join(SIGNING_PUB_FILE);
        if std::fs::read_to_string(&pub_path).ok().as_deref() != Some(public.as_str()) {
            std::fs::write(&pub_path, &public)
                .map_err(|e| format!("{}: {e}", pub_path.display()))?;
        }
        let last = store.last_ledger_entry().await.map_err(|e| e.to_string())?;
        let last_checkpoint = store
            .last_ledger_checkpoint_seq()
            .await
            .map_err(|e| e.to_string())?
            .max(0) as u64;
        let chain = ChainBuilder::resume(last.as_ref().map(to_entry).as_ref());
        Ok(RegionLedger {
            state: tokio::sync::Mutex::new(State {
                opened_at: chain.last_seq(),
                chain,
                last_checkpoint,
            }),
            signing,
        })
    }

    /// Appends one entry: one INSERT, plus a signed checkpoint every [`CHECKPOINT_EVERY`].
    pub async fn append(
        &self,
        store: &CellStore,
        kind: &str,
        payload: String,
    ) -> Result<ChainEntry, AppError> {
        let mut state = self.state.lock().await;
        let entry = state
            .chain
            .append(reelm_core::now_ms(), kind.to_owned(), payload);
        let row = LedgerRow {
            seq: entry.seq as i64,
            at_ms: entry.at_ms,
            kind: entry.kind.clone(),
            payload: entry.payload.clone(),
            prev_hash: entry.prev_hash.to_vec(),
            hash: entry.hash.to_vec(),
        };
        if let Err(e) = store.insert_ledger_entry(&row).await {
            // The builder moved on; go back to what is stored.
            if let Ok(last) = store.last_ledger_entry().await {
                state.chain = ChainBuilder::resume(last.as_ref().map(to_entry).as_ref());
            }
            return Err(e.into());
        }
        if entry.seq >= state.last_checkpoint + CHECKPOINT_EVERY {
            self.write_checkpoint(store, &mut state, &entry).await?;
        }
        Ok(entry)
    }

    async fn write_checkpoint(
        &self,
        store: &CellStore,
        state: &mut State,
        entry: &ChainEntry,
    ) -> Result<(), AppError> {
        let cp = self.signing.checkpoint(entry, reelm_core::now_ms());
        store
            .insert_ledger_checkpoint(&CheckpointRow {
                seq: cp.seq as i64,
                hash: cp.hash.to_vec(),
                at_ms: cp.at_ms,
                signer_key_id: cp.signer_key_id,
                signature: cp.signature,
            })
            .await?;
        state.last_checkpoint = entry.seq;
        Ok(())
    }

    /// Signs a checkpoint over the last entry if it is not anchored yet (at clean shutdown).
    pub async fn checkpoint_tail(&self, store: &CellStore) -> Result<(), AppError> {
        let mut state = self.state.lock().await;
        if state.chain.last_seq() <= state.last_checkpoint.max(state.opened_at) {
            return Ok(());
        }
        let Some(last) = store.last_ledger_entry().await? else {
            return Ok(());
        };
        let entry = to_entry(&last);
        // Sign only what the chain itself produced: a stored tail that differs is not vouched for.
        if entry.seq != state.chain.last_seq() || entry.hash != state.chain.last_hash() {
            return Err(AppError::Internal(format!(
                "ledger tail changed under the writer at entry {}",
                entry.seq
            )));
        }
        self.write_checkpoint(store, &mut state, &entry).await
    }

    /// The public keys that verify this region's checkpoints.
    pub fn public_keys(&self) -> TrustedKeys {
        self.signing.public_keys()
    }
}

/// Where the region's public checkpoint keys are.
pub fn public_keys_path(data_dir: &Path, region: &RegionId) -> PathBuf {
    Cell::keys_dir(data_dir, region).join(SIGNING_PUB_FILE)
}

/// A successful verification.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LedgerReport {
    pub region: String,
    pub entries: u64,
    pub last_seq: u64,
    /// Entries recording a refused transfer.
    pub refused: u64,
    pub checkpoints: usize,
    pub last_checkpoint_seq: Option<u64>,
    /// Entries after the last checkpoint (their truncation would go unnoticed).
    pub unanchored_tail: u64,
    pub seconds: f64,
    pub entries_per_sec: f64,
}

/// Where and how a ledger is broken.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LedgerViolation {
    pub seq: u64,
    /// `edited`, `dropped`, `reordered`, `truncated`, `bad_checkpoint_signature`,
    /// `unknown_signer` or `checkpoint_mismatch`.
    pub kind: String,
    pub message: String,
}

impl std::fmt::Display for LedgerViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "entry {} {}: {}",
            self.seq,
            self.kind.replace('_', " "),
            self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("region {region}: ledger broken after {verified} verified entries: {violation}")]
    Tampered {
        region: String,
        verified: u64,
        violation: LedgerViolation,
    },
    #[error("no region {0:?} in the configuration")]
    UnknownRegion(String),
    #[error("region {region}: public signing keys {path}: {message}")]
    Keys {
        region: String,
        path: String,
        message: String,
    },
    #[error(transparent)]
    Failed(#[from] AppError),
}

impl From<reelm_store::StoreError> for LedgerError {
    fn from(e: reelm_store::StoreError) -> Self {
        LedgerError::Failed(e.into())
    }
}

/// Verifies a region's ledger from its store and the public keys in its keys folder: every
/// hash, every link, every checkpoint's signature and hash, and that no checkpointed tail is
/// missing. Streams the ledger page by page.
pub async fn verify_region(p: &Platform, region: &str) -> Result<LedgerReport, LedgerError> {
    let id = RegionId::new(region).map_err(|_| LedgerError::UnknownRegion(region.to_owned()))?;
    let cell = p
        .cell(&id)
        .ok_or_else(|| LedgerError::UnknownRegion(region.to_owned()))?;
    let path = public_keys_path(&p.config.data_dir, &id);
    let keys_err = |message: String| LedgerError::Keys {
        region: region.to_owned(),
        path: path.display().to_string(),
        message,
    };
    let keys = match std::fs::read_to_string(&path) {
        Ok(text) => TrustedKeys::from_json(&text).map_err(|e| keys_err(e.to_string()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TrustedKeys::new(),
        Err(e) => return Err(keys_err(e.to_string())),
    };
    verify_store(&cell.store, region, &keys).await
}

/// [`verify_region`] against explicit trusted keys.
pub async fn verify_store(
    store: &CellStore,
    region: &str,
    keys: &TrustedKeys,
) -> Result<LedgerReport, LedgerError> {
    let started = std::time::Instant::now();
    let tampered = |verified: u64, violation: LedgerViolation| LedgerError::Tampered {
        region: region.to_owned(),
        verified,
        violation,
    };
    let from_chain = |v: &ChainViolation| LedgerViolation {
        seq: v.seq(),
        kind: v.kind().to_owned(),
        message: v.to_string(),
    };
    let checkpoints: Vec<Checkpoint> = store
        .ledger_checkpoints()
        .await?
        .iter()
        .map(to_checkpoint)
        .collect();
    for cp in &checkpoints {
        cp.verify_signature(keys)
            .map_err(|v| tampered(0, from_chain(&v)))?;
    }
    let mut next_cp = 0usize;
    let mut verifier = ChainVerifier::new();
    let mut refused = 0u64;
    // Read the next page while this one is verified: reading dominates.
    let (tx, mut pages) = tokio::sync::mpsc::channel(2);
    let reader_store = store.clone();
    let reader = tokio::spawn(async move {
        let mut after = 0i64;
        loop {
            let page = match reader_store.ledger_page(after, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let Some(last) = page.last() else { return };
            after = last.seq;
            if tx.send(Ok(page)).await.is_err() {
                return;
            }
        }
    });
    let _stop_reader = AbortOnDrop(reader);
    while let Some(page) = pages.recv().await {
        let page = page?;
        for row in &page {
            let e = to_entry(row);
            if let Err(v) = verifier.push(&e) {
                let verified = verifier.report().entries;
                let violation = match v {
                    ChainViolation::PrevHashMismatch { seq } => {
                        diagnose_broken_link(store, seq, &e.prev_hash).await?
                    }
                    other => from_chain(&other),
                };
                return Err(tampered(verified, violation));
            }
            if e.payload.contains("\"decision\":\"refused\"") {
                refused += 1;
            }
            while let Some(cp) = checkpoints.get(next_cp) {
                if cp.seq > e.seq {
                    break;
                }
                if !cp.matches(&e) {
                    let v = ChainViolation::CheckpointMismatch { seq: cp.seq };
                    return Err(tampered(verifier.report().entries, from_chain(&v)));
                }
                next_cp += 1;
            }
        }
    }
    let chain = verifier.report();
    if let Some(cp) = checkpoints.get(next_cp) {
        let v = ChainViolation::Truncated {
            checkpoint_seq: checkpoints.last().map_or(cp.seq, |c| c.seq),
            last_seq: chain.last_seq,
        };
        return Err(tampered(chain.entries, from_chain(&v)));
    }
    let last_checkpoint_seq = checkpoints.last().map(|c| c.seq);
    let seconds = started.elapsed().as_secs_f64();
    Ok(LedgerReport {
        region: region.to_owned(),
        entries: chain.entries,
        last_seq: chain.last_seq,
        refused,
        checkpoints: checkpoints.len(),
        last_checkpoint_seq,
        unanchored_tail: chain.last_seq - last_checkpoint_seq.unwrap_or(0),
        seconds,
        entries_per_sec: if seconds > 0.0 {
            chain.entries as f64 / seconds
        } else {
            0.0
        },
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Entry `seq` does not link to the entry stored before it. If its `prev_hash` is the hash of
/// some other stored entry, entries were moved (reordered); otherwise the entry before it was
/// rewritten with a recomputed hash (edited).
async fn diagnose_broken_link(
    store: &CellStore,
    seq: u64,
    prev_hash: &[u8; 32],
) -> Result<LedgerViolation, LedgerError> {
    let mut by_hash: HashMap<[u8; 32], u64> = HashMap::new();
    let mut after = 0i64;
    loop {
        let page = store.ledger_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in &page {
            let e = to_entry(r);
            by_hash.insert(e.hash, e.seq);
        }
    }
    Ok(match by_hash.get(prev_hash) {
        Some(&found) if found + 1 != seq => LedgerViolation {
            seq,
            kind: "reordered".into(),
            message: format!(
                "the entry stored as {seq} follows entry {} in the chain (entries moved or swapped)",
                found
            ),
        },
        _ => LedgerViolation {
            seq: seq.saturating_sub(1),
            kind: "edited".into(),
            message: format!(
                "entry {} was rewritten: entry {seq} links to a hash no stored entry has",
                seq.saturating_sub(1)
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_read_well() {
        let v = LedgerViolation {
            seq: 7,
            kind: "edited".into(),
            message: "m".into(),
        };
        assert_eq!(v.to_string(), "entry 7 edited: m");
    }
}
