//! The access log: every operator decision about a person, allow or deny, appended *before*
//! any data is read, to the person's own hash chain in their home cell, with region-wide signed
//! checkpoints over the chains' heads (see [`crate::ledger::RegionLedger::checkpoint_access`]).
//! Verification needs only public keys.

use crate::ResidencyError;
use crate::ledger::{RegionLedger, hash32};
use reelm_core::UserId;
use reelm_store::{CellStore, DirectoryStore, LedgerRow};
use reelm_vault::{
    ChainBuilder, ChainEntry, ChainHead, ChainVerifier, ChainViolation, HeadsCheckpoint,
    HeadsReplay, HeadsViolation, SignedHead, TrustedKeys, chain_tag,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The ledger kind of an access-log entry: an operator's read of personal data.
pub const KIND_READ_PERSONAL: &str = "read_personal";

/// The canonical payload of an access-log entry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AccessRecord {
    pub operator_id: String,
    pub operator: String,
    pub role: String,
    pub operator_region: String,
    pub region: String,
    pub purpose: String,
    pub ticket: String,
    pub decision: String,
    pub reason: String,
}

fn to_entry(r: &LedgerRow) -> ChainEntry {
    ChainEntry {
        seq: r.seq.max(0) as u64,
        at_ms: r.at_ms,
        kind: r.kind.clone(),
        payload: r.payload.clone(),
        prev_hash: hash32(&r.prev_hash),
        hash: hash32(&r.hash),
    }
}

/// Appends one decision to `person`'s access log in their home `cell` (their own hash chain),
/// and records the new head for the region's next signed access-log checkpoint. Refuses to
/// extend a log that is shorter than (or differs from) what the region already vouched for:
/// a truncated or rewritten log fails closed, so nothing is read without a trace.
pub async fn append_access(
    store: &CellStore,
    ledger: &RegionLedger,
    person: UserId,
    record: &AccessRecord,
) -> Result<ChainEntry, ResidencyError> {
    let payload = reelm_vault::canonical_json(record)?;
    let tag = chain_tag(person.0);
    let _guard = ledger.access_log_lock.lock().await;
    let last = store
        .access_entries(person, 0, i64::MAX, true, 1)
        .await?
        .pop()
        .map(|r| to_entry(&r));
    if let Some((seq, hash)) = ledger.access_head(store, &tag).await? {
        let intact = last
            .as_ref()
            .is_some_and(|l| l.seq > seq || (l.seq == seq && l.hash == hash));
        if !intact {
            tracing::error!(person = %person, signed_seq = seq, "access log shorter than its signed head");
            return Err(ResidencyError::Internal(format!(
                "the access log of person {person} no longer reaches entry {seq}, which the region signed (truncated or rewritten); refusing to extend it"
            )));
        }
    }
    let mut chain = ChainBuilder::resume(last.as_ref());
    let e = chain.append(reelm_core::now_ms(), KIND_READ_PERSONAL, payload);
    store
        .insert_access_entry(
            person,
            &LedgerRow {
                seq: e.seq as i64,
                at_ms: e.at_ms,
                kind: e.kind.clone(),
                payload: e.payload.clone(),
                prev_hash: e.prev_hash.to_vec(),
                hash: e.hash.to_vec(),
            },
        )
        .await?;
    // The entry is stored; a checkpoint that cannot be signed now is retried by the timer.
    if let Err(err) = ledger.access_appended(store, tag, e.seq, e.hash).await {
        tracing::warn!(error = %err, "access-log checkpoint not signed; will retry");
    }
    Ok(e)
}

/// Where and how the access logs of a region are broken.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AccessLogViolation {
    /// The person whose chain is broken, when known (a checkpoint names only a chain tag).
    pub person: Option<String>,
    /// The entry (or, for checkpoint problems, the checkpoint number) where it was found.
    pub seq: u64,
    /// `edited`, `dropped`, `reordered`, `prev_hash_mismatch`, `truncated`,
    /// `checkpoint_mismatch`, `log_dropped`, `erased_but_present`, `checkpoint_dropped`,
    /// `checkpoint_reordered`, `checkpoint_edited`, `bad_checkpoint_signature`,
    /// `unknown_signer` or `regressed`.
    pub kind: String,
    pub message: String,
}

impl AccessLogViolation {
    pub fn seq(&self) -> u64 {
        self.seq
    }

    fn chain(person: UserId, v: &ChainViolation) -> Self {
        AccessLogViolation {
            person: Some(person.to_string()),
            seq: v.seq(),
            kind: v.kind().to_owned(),
            message: format!("person {person}'s access log: {v}"),
        }
    }

    fn heads(v: &HeadsViolation) -> Self {
        AccessLogViolation {
            person: None,
            seq: v.checkpoint(),
            kind: v.kind().to_owned(),
            message: v.to_string(),
        }
    }
}

impl std::fmt::Display for AccessLogViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.replace('_', " "))
    }
}

/// A region's access logs, verified.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AccessLogReport {
    pub region: String,
    /// People with an access log.
    pub people: u64,
    pub entries: u64,
    pub checkpoints: u64,
    /// Signed heads of logs that are gone because their person was erased (erasure receipt,
    /// not in the directory).
    pub erased: u64,
    /// Entries after their person's last signed head (their truncation would go unnoticed
    /// until the next checkpoint, at most [`crate::ledger::ACCESS_CHECKPOINT_INTERVAL`]).
    pub unanchored: u64,
    pub seconds: f64,
}

/// Replays every signed access-log checkpoint of `cell` (numbering, root chain, signatures
/// by `keys`, no head going back) and returns each chain's latest signed head.
async fn replay_checkpoints(
    store: &CellStore,
    keys: &TrustedKeys,
) -> Result<Result<HeadsReplay, AccessLogViolation>, ResidencyError> {
    let checkpoints = store.access_checkpoints().await?;
    // Every signed head, in (checkpoint, tag) order.
    let mut heads_rows = Vec::new();
    let mut cursor: Option<(i64, Vec<u8>)> = None;
    loop {
        let page = store
            .access_heads_page(cursor.as_ref().map(|(c, t)| (*c, t.as_slice())), 10_000)
            .await?;
        let Some(last) = page.last() else { break };
        cursor = Some((last.checkpoint_seq, last.person_tag.clone()));
        heads_rows.extend(page);
    }
    let mut replay = HeadsReplay::new();
    let mut at = 0usize;
    for row in &checkpoints {
        let cp = HeadsCheckpoint {
            seq: row.seq.max(0) as u64,
            root: hash32(&row.root),
            heads: row.heads.max(0) as u64,
            at_ms: row.at_ms,
            signer_key_id: row.signer_key_id.clone(),
            signature: row.signature.clone(),
        };
        if let Some(orphan) = heads_rows.get(at).filter(|h| h.checkpoint_seq < row.seq) {
            // Heads of a checkpoint that is gone.
            let v = HeadsViolation::CheckpointGap {
                checkpoint: row.seq.max(0) as u64,
                expected: orphan.checkpoint_seq.max(0) as u64,
            };
            return Ok(Err(AccessLogViolation::heads(&v)));
        }
        let end = at
            + heads_rows[at..]
                .iter()
                .take_while(|h| h.checkpoint_seq == row.seq)
                .count();
        let heads: Vec<ChainHead> = heads_rows[at..end]
            .iter()
            .map(|h| ChainHead {
                tag: hash32(&h.person_tag),
                seq: h.seq.max(0) as u64,
                hash: hash32(&h.hash),
            })
            .collect();
        at = end;
        if let Err(v) = replay.push(&cp, &heads, keys) {
            return Ok(Err(AccessLogViolation::heads(&v)));
        }
    }
    if let Some(head) = heads_rows.get(at) {
        // Signed heads whose checkpoint row is gone (the newest checkpoint was dropped).
        return Ok(Err(AccessLogViolation {
            person: None,
            seq: head.checkpoint_seq.max(0) as u64,
            kind: "checkpoint_dropped".into(),
            message: format!(
                "signed heads of access-log checkpoint {} are stored but the checkpoint is gone (checkpoint dropped)",
                head.checkpoint_seq
            ),
        }));
    }
    Ok(Ok(replay))
}

/// Names a broken link of `person`'s chain: if the entry's `prev_hash` is the hash of another
/// of their entries, entries were moved (reordered); otherwise the entry before was rewritten.
async fn diagnose(
    store: &CellStore,
    person: UserId,
    violation: &ChainViolation,
    prev_hash: &[u8; 32],
) -> Result<AccessLogViolation, ResidencyError> {
    let ChainViolation::PrevHashMismatch { seq } = *violation else {
        return Ok(AccessLogViolation::chain(person, violation));
    };
    let mut after = i64::MIN;
    loop {
        let page = store
            .access_entries(person, after, i64::MAX, false, 1000)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        if let Some(found) = page.iter().find(|r| r.hash.as_slice() == prev_hash) {
            if found.seq.max(0) as u64 + 1 != seq {
                return Ok(AccessLogViolation {
                    person: Some(person.to_string()),
                    seq,
                    kind: "reordered".into(),
                    message: format!(
                        "person {person}'s access log: the entry stored as {seq} follows entry {} in the chain (entries moved or swapped)",
                        found.seq
                    ),
                });
            }
            break;
        }
    }
    let edited = seq.saturating_sub(1);
    Ok(AccessLogViolation {
        person: Some(person.to_string()),
        seq: edited,
        kind: "edited".into(),
        message: format!(
            "person {person}'s access log: entry {edited} was rewritten (entry {seq} links to a hash no stored entry has)"
        ),
    })
}

/// Checks one person's chain, page by page, from genesis, and against their latest signed
/// head (`signed`). Returns (entries, last seq).
async fn verify_person_chain(
    store: &CellStore,
    person: UserId,
    signed: Option<SignedHead>,
) -> Result<Result<(u64, u64), AccessLogViolation>, ResidencyError> {
    let mut v = ChainVerifier::new();
    let mut after = 0;
    loop {
        let page = store
            .access_entries(person, after, i64::MAX, false, 1000)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in &page {
            let e = to_entry(r);
            if let Err(violation) = v.push(&e) {
                return Ok(Err(diagnose(store, person, &violation, &e.prev_hash).await?));
            }
            if let Some(s) = signed
                && s.seq == e.seq
                && s.hash != e.hash
            {
                let violation = ChainViolation::CheckpointMismatch { seq: e.seq };
                return Ok(Err(AccessLogViolation::chain(person, &violation)));
            }
        }
    }
    let report = v.report();
    if let Some(s) = signed
        && report.last_seq < s.seq
    {
        let violation = ChainViolation::Truncated {
            checkpoint_seq: s.seq,
            last_seq: report.last_seq,
        };
        return Ok(Err(AccessLogViolation::chain(person, &violation)));
    }
    Ok(Ok((report.entries, report.last_seq)))
}

/// Verifies `person`'s whole access-log chain from genesis and against the region's signed
/// checkpoints (with the cell's own public keys): an edited, dropped or reordered entry, and a
/// tail truncated below a signed head, are caught. `Ok(entries)` or the first violation.
pub async fn verify_access_log(
    store: &CellStore,
    ledger: &RegionLedger,
    person: UserId,
) -> Result<Result<u64, AccessLogViolation>, ResidencyError> {
    let replay = match replay_checkpoints(store, &ledger.public_keys()).await? {
        Ok(r) => r,
        Err(v) => return Ok(Err(v)),
    };
    let signed = replay.heads().get(&chain_tag(person.0)).copied();
    Ok(verify_person_chain(store, person, signed)
        .await?
        .map(|(entries, _)| entries))
}

/// Verifies every access log of `cell` against its signed checkpoints (public `keys` only):
/// each person's chain (edited, dropped, reordered entries), each signed head reached
/// (truncated tails, including a whole log dropped), and that a signed head whose log is gone
/// belongs to a person erased here (an erasure receipt, and no longer in the directory).
pub async fn verify_access_logs(
    directory: &DirectoryStore,
    store: &CellStore,
    ledger: &RegionLedger,
    keys: &TrustedKeys,
) -> Result<Result<AccessLogReport, AccessLogViolation>, ResidencyError> {
    let started = std::time::Instant::now();
    let replay = match replay_checkpoints(store, keys).await? {
        Ok(r) => r,
        Err(v) => return Ok(Err(v)),
    };
    let mut unmatched: HashMap<[u8; 32], SignedHead> = replay.heads().clone();
    let (mut people, mut entries, mut unanchored) = (0u64, 0u64, 0u64);
    // One chain at a time, in (person, seq) order, page by page.
    let mut after = (i64::MIN, 0i64);
    let mut current: Option<(UserId, ChainVerifier, Option<SignedHead>)> = None;
    let finish = |person: UserId,
                  v: &ChainVerifier,
                  signed: Option<SignedHead>|
     -> Result<(u64, u64), AccessLogViolation> {
        let r = v.report();
        match signed {
            Some(s) if r.last_seq < s.seq => Err(AccessLogViolation::chain(
                person,
                &ChainViolation::Truncated {
                    checkpoint_seq: s.seq,
                    last_seq: r.last_seq,
                },
            )),
            _ => Ok((r.entries, r.last_seq - signed.map_or(0, |s| s.seq))),
        }
    };
    loop {
        let page = store.access_log_page(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = (last.person_id.0, last.entry.seq);
        for row in &page {
            if current.as_ref().is_none_or(|(p, _, _)| *p != row.person_id) {
                if let Some((person, v, signed)) = current.take() {
                    match finish(person, &v, signed) {
                        Ok((n, tail)) => {
                            entries += n;
                            unanchored += tail;
                        }
                        Err(violation) => return Ok(Err(violation)),
                    }
                }
                people += 1;
                let signed = unmatched.remove(&chain_tag(row.person_id.0));
                current = Some((row.person_id, ChainVerifier::new(), signed));
            }
            let Some((person, v, signed)) = current.as_mut() else {
                continue;
            };
            let e = to_entry(&row.entry);
            if let Err(violation) = v.push(&e) {
                return Ok(Err(
                    diagnose(store, *person, &violation, &e.prev_hash).await?
                ));
            }
            if let Some(s) = signed
                && s.seq == e.seq
                && s.hash != e.hash
            {
                let violation = ChainViolation::CheckpointMismatch { seq: e.seq };
                return Ok(Err(AccessLogViolation::chain(*person, &violation)));
            }
        }
    }
    if let Some((person, v, signed)) = current.take() {
        match finish(person, &v, signed) {
            Ok((n, tail)) => {
                entries += n;
                unanchored += tail;
            }
            Err(violation) => return Ok(Err(violation)),
        }
    }
    // Signed heads of logs that are gone: only an erasure explains them.
    let mut erased = 0u64;
    if !unmatched.is_empty() {
        let receipts: HashMap<[u8; 32], UserId> = store
            .erased_people()
            .await?
            .into_iter()
            .map(|u| (chain_tag(u.0), u))
            .collect();
        let mut gone: Vec<(&[u8; 32], &SignedHead)> = unmatched.iter().collect();
        gone.sort_by_key(|(tag, s)| (s.checkpoint, **tag));
        for (tag, signed) in gone {
            match receipts.get(tag) {
                Some(user) if directory.by_id(*user).await?.is_none() => erased += 1,
                Some(user) => {
                    return Ok(Err(AccessLogViolation {
                        person: Some(user.to_string()),
                        seq: signed.seq,
                        kind: "erased_but_present".into(),
                        message: format!(
                            "person {user}'s access log is gone and an erasure receipt names them, but the directory still has them (a forged erasure hiding a dropped log)"
                        ),
                    }));
                }
                None => {
                    return Ok(Err(AccessLogViolation {
                        person: None,
                        seq: signed.seq,
                        kind: "log_dropped".into(),
                        message: format!(
                            "access-log checkpoint {} signed entry {} of the chain tagged {}, but that whole log is gone and no erasure receipt explains it (log dropped)",
                            signed.checkpoint,
                            signed.seq,
                            hex::encode(&tag[..8])
                        ),
                    }));
                }
            }
        }
    }
    Ok(Ok(AccessLogReport {
        region: ledger.region().to_string(),
        people,
        entries,
        checkpoints: replay.last_checkpoint(),
        erased,
        unanchored,
        seconds: started.elapsed().as_secs_f64(),
    }))
}
