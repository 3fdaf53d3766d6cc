//! Erasure by crypto-shredding: a person deletes their account.
//!
//! In the home cell, one transaction deletes the wrapped data key first (every encrypted field
//! of the person, wherever a copy went, is unreadable from then on), then every row the
//! registry says the person owns (account, sessions, profile, follows, likes, comments, views,
//! "not interested" marks, and their public videos with their media records), and records an
//! erasure receipt. Then, outside that transaction: the media files go, public counters
//! elsewhere are corrected through the gateway, caches forget the person, the directory entry
//! goes (so the handle is free again), and last the SQLite write-ahead logs of the home cell
//! and the directory are checkpointed so the deleted bytes leave the disk too.

use reelm_core::{ErrorCode, UserId};
use reelm_platform::Error;
use reelm_platform::gateway;
use reelm_platform::platform::Platform;
use reelm_platform::session::{self, Session};
use reelm_residency::policy::PURPOSE_PUBLIC_COUNTER;
use reelm_store::{ErasureReceiptRow, ProfileCounterDelta, VideoCounterDelta};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = EraseMe)]
pub struct EraseRequest {
    /// The account's password, to confirm.
    #[schema(value_type = String)]
    pub password: reelm_core::Sensitive<String>,
}

/// What the person gets back: proof of what was deleted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErasureReceipt {
    pub receipt_id: String,
    pub user_id: UserId,
    pub region: String,
    #[schema(format = DateTime)]
    pub erased_at: String,
    /// Rows deleted per table (and `media_files` deleted from the media store).
    pub counts: BTreeMap<String, i64>,
    /// Hex SHA-256 of the counts' JSON text as stored in the receipt.
    pub counts_sha256: String,
}

impl ErasureReceipt {
    fn from_row(r: &ErasureReceiptRow) -> Result<ErasureReceipt, Error> {
        Ok(ErasureReceipt {
            receipt_id: r.receipt_id.to_string(),
            user_id: r.user_id,
            region: r.region.clone(),
            erased_at: reelm_core::rfc3339(r.erased_at),
            counts: serde_json::from_str(&r.counts)
                .map_err(|e| Error::Internal(format!("erasure receipt counts: {e}")))?,
            counts_sha256: r.counts_sha256.clone(),
        })
    }
}

/// The canonical JSON text of the counts (keys sorted) and its hex SHA-256.
pub fn render_counts(counts: &BTreeMap<String, i64>) -> (String, String) {
    let text = serde_json::to_string(counts).unwrap_or_else(|_| "{}".into());
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    (text, digest)
}

/// Erases the signed-in person after checking their password.
pub async fn erase_me(
    p: &Platform,
    viewer: &Session,
    req: EraseRequest,
) -> Result<ErasureReceipt, Error> {
    let wrong = || Error::user(ErrorCode::WrongCredentials, "wrong password");
    let home = &viewer.home;
    let user = viewer.user;
    let account = home.store.account(user).await?.ok_or_else(wrong)?;
    if !session::verify_password(
        req.password.into_inner(),
        account
            .password_hash
            .clone()
            .map(reelm_core::Sensitive::into_inner),
    )
    .await?
    {
        return Err(wrong());
    }
    erase(p, user).await
}

/// Erases a person (no confirmation: the caller has checked it).
pub async fn erase(p: &Platform, user: UserId) -> Result<ErasureReceipt, Error> {
    let home = p
        .home_of(user)
        .await?
        .ok_or_else(|| Error::user(ErrorCode::NotFound, "account not found"))?;
    let plan = home.store.erasure_plan(user).await?;

    // The media files are deleted only after the rows that name them (a failed transaction
    // must not leave videos without media); their count is known now.
    let extra = BTreeMap::from([("media_files".to_owned(), plan.media_keys.len() as i64)]);
    let receipt = home
        .store
        .erase_user(
            user,
            home.id().as_str(),
            reelm_core::now_ms(),
            &extra,
            &render_counts,
        )
        .await?;

    for key in &plan.media_keys {
        // Deletion is idempotent; a file that fails to go is logged and does not undo the
        // erasure (its rows, and the person's key, are already gone).
        if let Err(e) = home.media.delete(key).await {
            tracing::error!(error = %e, key = %key, "erasure: media object not deleted");
        }
    }

    // Public counters elsewhere, through the gateway: the people they followed lose a
    // follower; the videos they liked or commented on lose those likes and comments.
    let own: HashSet<_> = plan.videos.iter().copied().collect();
    for followee in &plan.followees {
        if let Some(cell) = p.home_link(*followee).await? {
            gateway::profile_counters(
                &home,
                &cell,
                PURPOSE_PUBLIC_COUNTER,
                *followee,
                ProfileCounterDelta {
                    followers: -1,
                    ..Default::default()
                },
            )
            .await?;
        }
    }
    let mut deltas: BTreeMap<_, VideoCounterDelta> = BTreeMap::new();
    for v in plan.liked.iter().filter(|v| !own.contains(v)) {
        deltas.entry(v.0).or_default().likes -= 1;
    }
    for (v, n) in plan.commented.iter().filter(|(v, _)| !own.contains(v)) {
        deltas.entry(v.0).or_default().comments -= n;
    }
    for (id, delta) in deltas {
        let id = reelm_core::VideoId(id);
        let Some((cell, video)) = p.find_video(id).await? else {
            continue;
        };
        gateway::video_counters(&home, &cell, PURPOSE_PUBLIC_COUNTER, id, delta).await?;
        if delta.likes != 0 {
            gateway::profile_counters(
                &home,
                &cell,
                PURPOSE_PUBLIC_COUNTER,
                video.creator_id,
                ProfileCounterDelta {
                    likes: delta.likes,
                    ..Default::default()
                },
            )
            .await?;
        }
    }

    // Their events in the region's NATS stream, when the log has one (the store's event_log
    // rows went with the rest of their behavioral rows).
    home.events.forget(user).await?;

    // Forget the person in every cache.
    for hash in &plan.session_hashes {
        home.cache.sessions.invalidate(hash);
    }
    // (The cells of this process; another process's caches expire within seconds.)
    for cell in p.cells() {
        cell.cache.followees.invalidate(&user);
        cell.cache.creator_videos.invalidate(&user);
        cell.cache.people.invalidate(&user);
        cell.cache.likes.invalidate(&user);
        cell.cache.not_interested.invalidate(&user);
    }
    if !plan.videos.is_empty() {
        p.content_removed();
    }

    // Last, the directory: the handle is free again.
    p.directory.remove(user).await?;

    // Nothing left on disk: on SQLite, `secure_delete` has zeroed the deleted rows in their
    // pages, but the write-ahead logs still hold earlier versions of those pages (the wrapped
    // key, ciphertexts and email index as they were) until a checkpoint resets them. A failed
    // or incomplete checkpoint is logged, not returned: the rows are already gone from every
    // query and the key is shredded, so failing now would only report an erasure that
    // happened as failed; the next checkpoint (automatic, or at close) finishes the job.
    for (what, db) in [
        ("home cell", &home.store.db),
        ("directory", &p.directory.db),
    ] {
        match db.checkpoint_wal().await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                store = what,
                "erasure: WAL checkpoint incomplete (a reader is busy); old pages stay until the next one"
            ),
            Err(e) => tracing::warn!(store = what, error = %e, "erasure: WAL checkpoint failed"),
        }
    }
    ErasureReceipt::from_row(&receipt)
}
