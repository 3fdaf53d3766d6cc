//! Each region's transfer ledger: a hash chain (`reelm_vault::ChainBuilder`) of every
//! cross-region transfer the gateway decided with this region as the source, with
//! ed25519-signed checkpoints in `ledger_checkpoints` every [`CHECKPOINT_EVERY`] entries and
//! at clean shutdown.
//!
//! **Storage.** Entries are stored as rows of the cell's `transfer_ledger` table until their
//! block is complete: every [`LEDGER_BLOCK_ENTRIES`] entries (seqs `(k-1)·N+1 ..= k·N`) the
//! appender seals them into ONE `ledger_blocks` row (their stored bytes framed back to back)
//! and deletes their rows, in the commit that stores the block's last entry. A sealed block is
//! the only copy of its entries, so there is no second copy that could be edited unnoticed;
//! verification reads a few hundred values per million entries instead of a row per entry.
//!
//! **Group commit.** One appender task per region owns the chain: callers send their decision
//! over a channel and wait; the task takes every decision pending (up to [`MAX_BATCH`]),
//! assigns seq and prev-hash in arrival order, stores them in commits of up to 1,024 entries
//! (each a single multi-row INSERT, atomic on its own; a checkpoint the entries reach goes in
//! the same transaction), and answers each caller once its entry is stored. A
//! caller therefore still returns only once its entry is durable, and the chain is the same as
//! one INSERT per entry would have made; under concurrency one commit serves many callers.
//!
//! The region's signing key also signs the **access-log checkpoints** (see
//! [`RegionLedger::checkpoint_access`] and [`crate::access_log`]): signed statements over
//! the heads of every person's access-log chain that moved, written every
//! [`ACCESS_CHECKPOINT_EVERY`] appends, every [`ACCESS_CHECKPOINT_INTERVAL`] and at close.
//!
//! Verification ([`verify_ledger`]) needs only the store and the region's *public* signing keys
//! (`regions/<id>/keys/region-signing.pub.json`), so an auditor can run it without secrets.

use crate::ResidencyError;
use reelm_core::RegionId;
use reelm_store::{
    AccessCheckpointRow, AccessHeadRow, CellStore, CheckpointRow, LEDGER_BLOCK_ENTRIES,
    LedgerBlockRef, LedgerEntryRef, LedgerPage, LedgerRow, MAX_LEDGER_ROWS_PER_STATEMENT,
    push_block_entry,
};
use reelm_vault::{
    ChainBuilder, ChainEntry, ChainHead, ChainVerifier, ChainViolation, Checkpoint, GENESIS_ROOT,
    SigningKeys, TrustedKeys,
};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use tokio::sync::{mpsc, oneshot};

/// A signed checkpoint is written after every this many entries.
pub const CHECKPOINT_EVERY: u64 = 1_000;
/// Most decisions one transaction stores.
pub const MAX_BATCH: usize = 8_192;
/// Decisions that may wait for the appender before callers wait to enqueue.
const QUEUE: usize = 65_536;
/// Seqs read per page when verifying (pages of a few MB keep allocations cheap; see
/// BENCHMARKS.md).
const PAGE: i64 = 4_096;
/// Kind of a gateway decision entry.
pub const KIND_TRANSFER: &str = "transfer";
/// An access-log checkpoint is signed after this many access-log appends in the region…
pub const ACCESS_CHECKPOINT_EVERY: u64 = 1_000;
/// …and at least this often while heads moved (and at close).
pub const ACCESS_CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// File names under `regions/<id>/keys/`.
pub const SIGNING_KEY_FILE: &str = "region-signing.json";
pub const SIGNING_PUB_FILE: &str = "region-signing.pub.json";

// A commit (at most one statement's worth of entries) seals at most one block.
const _: () = assert!(MAX_LEDGER_ROWS_PER_STATEMENT as i64 <= LEDGER_BLOCK_ENTRIES);

/// The appender task's chain state.
struct State {
    chain: ChainBuilder,
    last_checkpoint: u64,
    /// Last seq when the ledger was opened: only entries this process wrote get signed at
    /// shutdown, so opening a store (e.g. to verify it) never vouches for a stored tail.
    opened_at: u64,
    /// The open block: the framed entries stored as rows since the last sealed block (the
    /// same bytes as those rows), sealed into `ledger_blocks` when its last seq is stored.
    open: Vec<u8>,
    /// Seq of the open block's first entry.
    open_first: u64,
}

/// Whether entry `seq` is the last of its block (blocks are aligned on
/// [`LEDGER_BLOCK_ENTRIES`]).
fn ends_block(seq: u64) -> bool {
    seq > 0 && seq.is_multiple_of(LEDGER_BLOCK_ENTRIES as u64)
}

enum Command {
    Append {
        kind: String,
        payload: String,
        reply: oneshot::Sender<Result<ChainEntry, String>>,
    },
    /// Sign the unanchored tail (after every append sent before it).
    Tail {
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// The writer side of one region's ledger (its appender task) and of its access-log
/// checkpoints.
pub struct RegionLedger {
    region: RegionId,
    /// Serializes appends to the per-person access logs of this region (see
    /// [`crate::access_log::append_access`]): each chain is extended by one writer at a time.
    pub(crate) access_log_lock: tokio::sync::Mutex<()>,
    appender: mpsc::Sender<Command>,
    signing: Arc<SigningKeys>,
    access: Arc<AccessCheckpoints>,
    /// The access-log checkpoint timer; stopped with the ledger.
    timer: tokio::task::JoinHandle<()>,
}

impl Drop for RegionLedger {
    fn drop(&mut self) {
        self.timer.abort();
    }
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
        prev_hash: hash32(&r.prev_hash),
        hash: hash32(&r.hash),
    }
}

/// A stored 32-byte hash; a value of another length (tampered) becomes zeros, which never
/// match a real hash.
pub(crate) fn hash32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().unwrap_or([0; 32])
}

fn to_checkpoint(r: &CheckpointRow) -> Checkpoint {
    Checkpoint {
        seq: r.seq.max(0) as u64,
        hash: hash32(&r.hash),
        at_ms: r.at_ms,
        signer_key_id: r.signer_key_id.clone(),
        signature: r.signature.clone(),
    }
}

fn checkpoint_row(cp: Checkpoint) -> CheckpointRow {
    CheckpointRow {
        seq: cp.seq as i64,
        hash: cp.hash.to_vec(),
        at_ms: cp.at_ms,
        signer_key_id: cp.signer_key_id,
        signature: cp.signature,
    }
}

impl RegionLedger {
    /// Loads (or creates) the region signing key, writes its public half beside it for
    /// auditors, resumes the chain from the last stored entry and starts the appender task
    /// and the access-log checkpoint timer.
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
        let signing = Arc::new(signing);
        let state = resume(store).await.map_err(|e| e.to_string())?;
        let (appender, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run_appender(store.clone(), signing.clone(), state, rx));
        let last = store
            .last_access_checkpoint()
            .await
            .map_err(|e| e.to_string())?;
        let access = Arc::new(AccessCheckpoints {
            signing: signing.clone(),
            state: tokio::sync::Mutex::new(AccessState {
                dirty: HashMap::new(),
                appended: 0,
                last_seq: last.as_ref().map_or(0, |c| c.seq.max(0) as u64),
                last_root: last.as_ref().map_or(GENESIS_ROOT, |c| hash32(&c.root)),
            }),
        });
        let timer = tokio::spawn(access_timer(Arc::downgrade(&access), store.clone()));
        Ok(RegionLedger {
            region: region.clone(),
            access_log_lock: Default::default(),
            appender,
            signing,
            access,
            timer,
        })
    }

    /// The region whose ledger this is.
    pub fn region(&self) -> &RegionId {
        &self.region
    }

    /// Appends one entry and returns it once it is stored (with a signed checkpoint every
    /// [`CHECKPOINT_EVERY`] entries). Concurrent appends share one transaction.
    pub async fn append(&self, kind: &str, payload: String) -> Result<ChainEntry, ResidencyError> {
        let (reply, answer) = oneshot::channel();
        self.appender
            .send(Command::Append {
                kind: kind.to_owned(),
                payload,
                reply,
            })
            .await
            .map_err(|_| ResidencyError::Internal("the ledger appender has stopped".into()))?;
        answer
            .await
            .map_err(|_| ResidencyError::Internal("the ledger appender has stopped".into()))?
            .map_err(|e| ResidencyError::Internal(format!("ledger append: {e}")))
    }

    /// Signs a checkpoint over the last entry if it is not anchored yet, and one over the
    /// access-log heads that moved (at clean shutdown).
    pub async fn checkpoint_tail(&self, store: &CellStore) -> Result<(), ResidencyError> {
        let (reply, answer) = oneshot::channel();
        self.appender
            .send(Command::Tail { reply })
            .await
            .map_err(|_| ResidencyError::Internal("the ledger appender has stopped".into()))?;
        answer
            .await
            .map_err(|_| ResidencyError::Internal("the ledger appender has stopped".into()))?
            .map_err(ResidencyError::Internal)?;
        self.checkpoint_access(store).await.map(|_| ())
    }

    /// The public keys that verify this region's checkpoints.
    pub fn public_keys(&self) -> TrustedKeys {
        self.signing.public_keys()
    }
}

/// The chain state as stored. Also seals every complete block still stored as entry rows (a
/// ledger from before sealed blocks, migration 10), copying the rows' stored bytes unchanged
/// (nothing is checked or vouched for: a tampered entry stays as detectable in its block as
/// it was in its row), and loads the open block's rows.
async fn resume(store: &CellStore) -> Result<State, reelm_store::StoreError> {
    let sealed = store.ledger_sealed_through().await?;
    let mut open = Vec::new();
    let mut open_first: Option<i64> = None;
    let mut after = sealed;
    loop {
        let page = store.ledger_packed_page(after, PAGE).await?;
        let Some(last) = page.last_seq() else { break };
        after = last;
        for r in page.iter() {
            push_block_entry(
                &mut open,
                r.seq,
                r.at_ms,
                r.kind,
                r.payload,
                r.prev_hash,
                r.hash,
            );
            let first = *open_first.get_or_insert(r.seq);
            if ends_block(r.seq.max(0) as u64) {
                let block = LedgerBlockRef {
                    first_seq: first,
                    last_seq: r.seq,
                    body: &open,
                };
                store.insert_ledger_batch(&[], &[], Some(block)).await?;
                tracing::info!(
                    first,
                    last = r.seq,
                    "sealed a block of stored ledger entries"
                );
                open.clear();
                open_first = None;
            }
        }
    }
    let last = store.last_ledger_entry().await?;
    let last_checkpoint = store.last_ledger_checkpoint_seq().await?.max(0) as u64;
    let chain = ChainBuilder::resume(last.as_ref().map(to_entry).as_ref());
    Ok(State {
        opened_at: chain.last_seq(),
        open_first: open_first.map_or(chain.last_seq() + 1, |f| f.max(0) as u64),
        chain,
        last_checkpoint,
        open,
    })
}

/// The appender: owns the chain, stores every pending decision in one transaction.
async fn run_appender(
    store: CellStore,
    signing: Arc<SigningKeys>,
    mut state: State,
    mut rx: mpsc::Receiver<Command>,
) {
    let mut commands = Vec::with_capacity(MAX_BATCH);
    let mut pending = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut commands, MAX_BATCH).await > 0 {
        for command in commands.drain(..) {
            match command {
                Command::Append {
                    kind,
                    payload,
                    reply,
                } => pending.push((kind, payload, reply)),
                Command::Tail { reply } => {
                    commit(&store, &signing, &mut state, &mut pending).await;
                    let _ = reply.send(sign_tail(&store, &signing, &mut state).await);
                }
            }
        }
        commit(&store, &signing, &mut state, &mut pending).await;
    }
}

type Pending = (String, String, oneshot::Sender<Result<ChainEntry, String>>);

/// Chains the pending decisions in order and stores them in commits of up to
/// [`MAX_LEDGER_ROWS_PER_STATEMENT`] entries (each one multi-row INSERT, atomic on its own; a
/// commit that reaches a checkpoint stores it in the same transaction), answering each
/// commit's callers as soon as it is stored. If a commit fails, its callers and every later one get the error and the
/// chain resumes from what is stored.
async fn commit(
    store: &CellStore,
    signing: &SigningKeys,
    state: &mut State,
    pending: &mut Vec<Pending>,
) {
    if pending.is_empty() {
        return;
    }
    let at_ms = reelm_core::now_ms();
    let mut entries = Vec::with_capacity(pending.len());
    let mut replies = Vec::with_capacity(pending.len());
    for (kind, payload, reply) in pending.drain(..) {
        entries.push(state.chain.append(at_ms, kind, payload));
        replies.push(reply);
    }
    let mut entries = entries.into_iter();
    let mut replies = replies.into_iter();
    while entries.len() > 0 {
        let n = entries.len().min(MAX_LEDGER_ROWS_PER_STATEMENT);
        let chunk: Vec<ChainEntry> = entries.by_ref().take(n).collect();
        let mut checkpoints = Vec::new();
        let mut last_checkpoint = state.last_checkpoint;
        for e in &chunk {
            if e.seq >= last_checkpoint + CHECKPOINT_EVERY {
                checkpoints.push(checkpoint_row(signing.checkpoint(e, at_ms)));
                last_checkpoint = e.seq;
            }
        }
        // Frame the chunk into the open block; if it completes the block, the entries up to
        // its end go into the block only and the rest start the next one.
        let mut sealed: Option<(u64, Vec<u8>)> = None;
        let mut rows_from = 0;
        for (i, e) in chunk.iter().enumerate() {
            push_block_entry(
                &mut state.open,
                e.seq as i64,
                e.at_ms,
                e.kind.as_bytes(),
                e.payload.as_bytes(),
                &e.prev_hash,
                &e.hash,
            );
            if ends_block(e.seq) {
                sealed = Some((state.open_first, std::mem::take(&mut state.open)));
                state.open_first = e.seq + 1;
                rows_from = i + 1;
            }
        }
        let refs: Vec<LedgerEntryRef<'_>> = chunk[rows_from..]
            .iter()
            .map(|e| LedgerEntryRef {
                seq: e.seq as i64,
                at_ms: e.at_ms,
                kind: &e.kind,
                payload: &e.payload,
                prev_hash: &e.prev_hash,
                hash: &e.hash,
            })
            .collect();
        let block = sealed.as_ref().map(|(first, body)| LedgerBlockRef {
            first_seq: *first as i64,
            last_seq: state.open_first as i64 - 1,
            body,
        });
        let stored = store.insert_ledger_batch(&refs, &checkpoints, block).await;
        drop(refs);
        match stored {
            Ok(()) => {
                state.last_checkpoint = last_checkpoint;
                for (entry, reply) in chunk.into_iter().zip(replies.by_ref()) {
                    let _ = reply.send(Ok(entry));
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, entries = chunk.len() + entries.len(), "ledger entries not stored");
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
                // The builder and the open block moved on; go back to what is stored.
                match resume(store).await {
                    Ok(stored) => {
                        state.chain = stored.chain;
                        state.last_checkpoint = stored.last_checkpoint;
                        state.open = stored.open;
                        state.open_first = stored.open_first;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot resume the ledger from the store")
                    }
                }
                return;
            }
        }
    }
}

/// Signs a checkpoint over the last entry if this process wrote entries after the last one.
async fn sign_tail(
    store: &CellStore,
    signing: &SigningKeys,
    state: &mut State,
) -> Result<(), String> {
    if state.chain.last_seq() <= state.last_checkpoint.max(state.opened_at) {
        return Ok(());
    }
    let Some(last) = store.last_ledger_entry().await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let entry = to_entry(&last);
    // Sign only what the chain itself produced: a stored tail that differs is not vouched for.
    if entry.seq != state.chain.last_seq() || entry.hash != state.chain.last_hash() {
        return Err(format!(
            "ledger tail changed under the writer at entry {}",
            entry.seq
        ));
    }
    let cp = signing.checkpoint(&entry, reelm_core::now_ms());
    store
        .insert_ledger_checkpoint(&checkpoint_row(cp))
        .await
        .map_err(|e| e.to_string())?;
    state.last_checkpoint = entry.seq;
    Ok(())
}

// ---- access-log checkpoints ---------------------------------------------------------------------

/// The heads of the region's access-log chains that moved since the last signed checkpoint.
struct AccessCheckpoints {
    signing: Arc<SigningKeys>,
    state: tokio::sync::Mutex<AccessState>,
}

struct AccessState {
    /// Person tag → (seq, hash) of the newest entry appended by this process.
    dirty: HashMap<[u8; 32], (u64, [u8; 32])>,
    /// Appends since the last checkpoint.
    appended: u64,
    last_seq: u64,
    last_root: [u8; 32],
}

async fn access_timer(access: Weak<AccessCheckpoints>, store: CellStore) {
    let mut tick = tokio::time::interval(ACCESS_CHECKPOINT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(access) = access.upgrade() else {
            return;
        };
        if let Err(e) = access.checkpoint(&store).await {
            tracing::warn!(error = %e, "cannot sign the access-log checkpoint; will retry");
        }
    }
}

impl AccessCheckpoints {
    async fn checkpoint(&self, store: &CellStore) -> Result<Option<u64>, ResidencyError> {
        let mut state = self.state.lock().await;
        if state.dirty.is_empty() {
            return Ok(None);
        }
        let heads: Vec<ChainHead> = state
            .dirty
            .iter()
            .map(|(tag, (seq, hash))| ChainHead {
                tag: *tag,
                seq: *seq,
                hash: *hash,
            })
            .collect();
        let seq = state.last_seq + 1;
        let cp = self
            .signing
            .sign_heads(seq, &state.last_root, &heads, reelm_core::now_ms())
            .ok_or_else(|| ResidencyError::Internal("duplicate access-log head".into()))?;
        let rows: Vec<AccessHeadRow> = heads
            .iter()
            .map(|h| AccessHeadRow {
                checkpoint_seq: seq as i64,
                person_tag: h.tag.to_vec(),
                seq: h.seq as i64,
                hash: h.hash.to_vec(),
            })
            .collect();
        store
            .insert_access_checkpoint(
                &AccessCheckpointRow {
                    seq: seq as i64,
                    root: cp.root.to_vec(),
                    heads: cp.heads as i64,
                    at_ms: cp.at_ms,
                    signer_key_id: cp.signer_key_id,
                    signature: cp.signature,
                },
                &rows,
            )
            .await?;
        state.dirty.clear();
        state.appended = 0;
        state.last_seq = seq;
        state.last_root = cp.root;
        Ok(Some(seq))
    }
}

impl RegionLedger {
    /// The newest head of `tag`'s access log this region has vouched for or is about to:
    /// an append must continue after it. `None` for a log never checkpointed nor appended by
    /// this process.
    pub async fn access_head(
        &self,
        store: &CellStore,
        tag: &[u8; 32],
    ) -> Result<Option<(u64, [u8; 32])>, ResidencyError> {
        let state = self.access.state.lock().await;
        if let Some(head) = state.dirty.get(tag) {
            return Ok(Some(*head));
        }
        Ok(store
            .latest_access_head(tag)
            .await?
            .map(|(seq, hash)| (seq.max(0) as u64, hash32(&hash))))
    }

    /// Records an appended access-log entry (`tag`'s new head); signs a checkpoint every
    /// [`ACCESS_CHECKPOINT_EVERY`] appends.
    pub async fn access_appended(
        &self,
        store: &CellStore,
        tag: [u8; 32],
        seq: u64,
        hash: [u8; 32],
    ) -> Result<(), ResidencyError> {
        let due = {
            let mut state = self.access.state.lock().await;
            state.dirty.insert(tag, (seq, hash));
            state.appended += 1;
            state.appended >= ACCESS_CHECKPOINT_EVERY
        };
        if due {
            self.checkpoint_access(store).await?;
        }
        Ok(())
    }

    /// Signs a checkpoint over every access-log head that moved since the last one; returns
    /// its number, or `None` when nothing moved.
    pub async fn checkpoint_access(
        &self,
        store: &CellStore,
    ) -> Result<Option<u64>, ResidencyError> {
        self.access.checkpoint(store).await
    }
}

/// The region's public checkpoint keys from its keys folder (empty when the file is missing:
/// then every checkpoint fails as signed by an unknown key).
pub fn load_public_keys(data_dir: &Path, region: &RegionId) -> Result<TrustedKeys, LedgerError> {
    let path = public_keys_path(data_dir, region);
    let keys_err = |message: String| LedgerError::Keys {
        region: region.to_string(),
        path: path.display().to_string(),
        message,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => TrustedKeys::from_json(&text).map_err(|e| keys_err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustedKeys::new()),
        Err(e) => Err(keys_err(e.to_string())),
    }
}

/// Where the region's public checkpoint keys are.
pub fn public_keys_path(data_dir: &Path, region: &RegionId) -> PathBuf {
    crate::keys_dir(data_dir, region).join(SIGNING_PUB_FILE)
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
    Failed(#[from] ResidencyError),
}

impl From<reelm_store::StoreError> for LedgerError {
    fn from(e: reelm_store::StoreError) -> Self {
        LedgerError::Failed(e.into())
    }
}

/// Verifies a region's ledger from its store and the public keys in its keys folder under
/// `data_dir`: every hash, every link, every checkpoint's signature and hash, and that no
/// checkpointed tail is missing. Streams the ledger page by page.
pub async fn verify_ledger(
    store: &CellStore,
    data_dir: &Path,
    region: &RegionId,
) -> Result<LedgerReport, LedgerError> {
    let keys = load_public_keys(data_dir, region)?;
    verify_store(store, region.as_str(), &keys).await
}

/// A unit of the ledger read and hashed: a sealed block's or a page of rows' entries and, per
/// entry, its recomputed hash and whether it records a refused transfer; for a block, where
/// its body stopped framing or its stored range disagrees with its entries (tampering).
struct HashedPage {
    page: LedgerPage,
    computed: Vec<([u8; 32], bool)>,
    broken: Option<LedgerViolation>,
}

/// Recomputes every entry's hash and notes refused transfers (the links are checked
/// afterwards, in order). Runs on the blocking pool; pages are hashed concurrently.
fn hash_page(page: LedgerPage) -> HashedPage {
    let computed = page
        .iter()
        .map(|r| {
            let h = reelm_vault::entry_hash_bytes(
                r.seq.max(0) as u64,
                r.at_ms,
                r.kind,
                r.payload,
                &hash32(r.prev_hash),
            );
            let refused = std::str::from_utf8(r.payload)
                .is_ok_and(|p| p.contains("\"decision\":\"refused\""));
            (h, refused)
        })
        .collect();
    HashedPage {
        page,
        computed,
        broken: None,
    }
}

/// Unframes and hashes the sealed block stored as `first_seq ..= last_seq`.
fn hash_block(first_seq: i64, last_seq: i64, body: Vec<u8>) -> HashedPage {
    let (page, format) = LedgerPage::from_block(body);
    let at = |seq: i64| seq.max(0) as u64;
    let broken = if let Some(e) = format {
        let seq = page.last_seq().map_or(first_seq, |s| s.saturating_add(1));
        Some(LedgerViolation {
            seq: at(seq),
            kind: "edited".into(),
            message: format!(
                "the sealed block of entries {first_seq}..={last_seq} was rewritten: it stops framing entries {e}"
            ),
        })
    } else if page.get(0).map(|e| e.seq) != Some(first_seq) || page.last_seq() != Some(last_seq) {
        Some(LedgerViolation {
            seq: at(first_seq),
            kind: "edited".into(),
            message: format!(
                "the sealed block stored as entries {first_seq}..={last_seq} holds entries {:?}..={:?}",
                page.get(0).map(|e| e.seq),
                page.last_seq()
            ),
        })
    } else {
        None
    };
    HashedPage {
        broken,
        ..hash_page(page)
    }
}

type PageResult = Result<tokio::task::JoinHandle<HashedPage>, reelm_store::StoreError>;

/// The ledger in seq order, each unit read and being hashed ahead of the verifier: first the
/// sealed blocks, read by several reader tasks (one per core and one more, at most 5), each
/// taking every n-th block on its own connection and handing it to the blocking pool to unframe
/// and hash, up to four blocks ahead each; then the entry rows not sealed yet (fewer than a
/// block, unless tampered with), in packed pages. Unit `i` arrives on channel `i % n`, so the
/// verifier reads them back in order.
struct PageStream {
    channels: Vec<mpsc::Receiver<PageResult>>,
    next: usize,
    _readers: AbortOnDrop,
}

impl PageStream {
    async fn next(&mut self) -> Option<PageResult> {
        let n = self.channels.len();
        let got = self.channels[self.next % n].recv().await;
        self.next += 1;
        got
    }
}

fn read_pages(store: &CellStore) -> PageStream {
    // One more reader than cores: a reader waiting for its connection's thread leaves a core
    // to the others (measured: 3 readers beat 2 on 2 cores).
    let readers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4) + 1);
    let mut channels = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..readers {
        let (tx, rx) = mpsc::channel::<PageResult>(4);
        channels.push(rx);
        senders.push(tx);
    }
    let store = store.clone();
    let planner = tokio::spawn(async move {
        let blocks = match store.ledger_block_ranges().await {
            Ok(b) => Arc::new(b),
            Err(e) => {
                let _ = senders[0].send(Err(e)).await;
                return;
            }
        };
        let n = senders.len();
        let tasks: Vec<_> = senders
            .iter()
            .enumerate()
            .map(|(r, tx)| {
                let (store, blocks, tx) = (store.clone(), blocks.clone(), tx.clone());
                AbortOnDrop(tokio::spawn(async move {
                    for &(first, last) in blocks.iter().skip(r).step_by(n) {
                        // A block gone between listing and reading is an empty unit: the
                        // verifier then finds its entries missing.
                        let body = match store.ledger_block(first).await {
                            Ok(body) => body.unwrap_or_default(),
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        };
                        let hashing =
                            tokio::task::spawn_blocking(move || hash_block(first, last, body));
                        if tx.send(Ok(hashing)).await.is_err() {
                            return;
                        }
                    }
                }))
            })
            .collect();
        for t in tasks {
            t.join().await;
        }
        // The rows after the blocks, from the lowest stored seq (a row inside a sealed range
        // then shows up as out of order), skipping gaps.
        let mut after = i64::MIN;
        for k in blocks.len().. {
            let tx = &senders[k % n];
            let page = match store.ledger_packed_page(after, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let Some(last) = page.last_seq() else { return };
            after = last;
            let hashing = tokio::task::spawn_blocking(move || hash_page(page));
            if tx.send(Ok(hashing)).await.is_err() {
                return;
            }
        }
    });
    PageStream {
        channels,
        next: 0,
        _readers: AbortOnDrop(planner),
    }
}

/// [`verify_ledger`] against explicit trusted keys. A pipeline: reader tasks read the sealed
/// blocks ([`CellStore::ledger_block`], one value per [`LEDGER_BLOCK_ENTRIES`] entries) and then
/// the entry rows after them (packed pages, [`CellStore::ledger_packed_page`]) and hand each to
/// the blocking pool to recompute its hashes, while this task checks seq, links and
/// checkpoints unit after unit, in order.
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
    // Reading and hashing start at once, while the checkpoints' signatures are checked here.
    let mut pages = read_pages(store);
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
    while let Some(hashing) = pages.next().await {
        let HashedPage {
            page,
            computed,
            broken,
        } = hashing?
            .await
            .map_err(|e| ResidencyError::Internal(format!("ledger hashing: {e}")))?;
        for (row, (hash, is_refused)) in page.iter().zip(&computed) {
            let seq = row.seq.max(0) as u64;
            let prev_hash = hash32(row.prev_hash);
            let stored = hash32(row.hash);
            if let Err(v) = verifier.push_hashed(seq, &prev_hash, &stored, hash) {
                let verified = verifier.report().entries;
                let violation = match v {
                    ChainViolation::PrevHashMismatch { seq } => {
                        diagnose_broken_link(store, seq, &prev_hash).await?
                    }
                    other => from_chain(&other),
                };
                return Err(tampered(verified, violation));
            }
            if *is_refused {
                refused += 1;
            }
            while let Some(cp) = checkpoints.get(next_cp) {
                if cp.seq > seq {
                    break;
                }
                if cp.seq != seq || cp.hash != stored {
                    let v = ChainViolation::CheckpointMismatch { seq: cp.seq };
                    return Err(tampered(verifier.report().entries, from_chain(&v)));
                }
                next_cp += 1;
            }
        }
        if let Some(violation) = broken {
            return Err(tampered(verifier.report().entries, violation));
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

impl AbortOnDrop {
    /// Waits for the task to end.
    async fn join(mut self) {
        let _ = (&mut self.0).await;
    }
}

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
