//! Erasure (crypto-shredding a person and deleting their rows) and region-key rotation: the
//! queries that read or replace wrapped data keys.

use crate::cell::CellStore;
use crate::db::StoreError;
use crate::registry::{self, Scope};
use reelm_core::{Sensitive, UserId, VideoId};
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// Turns an erasure's per-table counts into their JSON text and that text's digest.
pub type RenderCounts = dyn Fn(&BTreeMap<String, i64>) -> (String, String) + Send + Sync;

/// One row of `user_keys`: a person's data key wrapped by a region key.
#[derive(Clone, Debug, PartialEq)]
pub struct UserKeyRow {
    pub user_id: UserId,
    pub key_id: String,
    /// Redacted: a logged copy would outlive crypto-shredding (see `NewAccount::wrapped_key`).
    pub wrapped_key: Sensitive<Vec<u8>>,
}

/// The proof that a person was erased: what was deleted, per table, and a digest of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ErasureReceiptRow {
    pub receipt_id: i64,
    pub user_id: UserId,
    pub region: String,
    pub erased_at: i64,
    /// Rows deleted per table, as a JSON object with sorted keys.
    pub counts: String,
    /// Hex SHA-256 of `counts`.
    pub counts_sha256: String,
}

/// What the cell held about a person right before erasure, for the follow-up work outside
/// the cell's transaction (counters elsewhere, media files).
#[derive(Clone, Debug, Default)]
pub struct ErasurePlan {
    pub followees: Vec<UserId>,
    pub liked: Vec<VideoId>,
    /// Videos the person commented on, with their number of comments on each.
    pub commented: Vec<(VideoId, i64)>,
    /// The person's own videos in this cell.
    pub videos: Vec<VideoId>,
    /// Media object keys of those videos.
    pub media_keys: Vec<String>,
    /// Hashes of the person's session tokens.
    pub session_hashes: Vec<String>,
}

impl CellStore {
    /// Reads what erasing `user` will touch outside this cell's rows.
    pub async fn erasure_plan(&self, user: UserId) -> Result<ErasurePlan, StoreError> {
        let pool = &self.db.pool;
        let ids = |sql: &'static str| async move {
            Ok::<Vec<i64>, StoreError>(
                sqlx::query(sql)
                    .bind(user.0)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|r| r.get::<i64, _>(0))
                    .collect(),
            )
        };
        let followees = ids("SELECT followee_id FROM follows WHERE follower_id = $1").await?;
        let liked = ids("SELECT video_id FROM likes WHERE user_id = $1").await?;
        let videos = ids("SELECT id FROM videos WHERE creator_id = $1").await?;
        let commented = sqlx::query(
            "SELECT video_id, COUNT(*) FROM comments WHERE author_id = $1 GROUP BY video_id",
        )
        .bind(user.0)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| (VideoId(r.get(0)), r.get(1)))
        .collect();
        let media_keys = sqlx::query(
            "SELECT m.object_key FROM media_objects m JOIN videos v ON v.id = m.video_id
             WHERE v.creator_id = $1",
        )
        .bind(user.0)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
        let session_hashes = sqlx::query("SELECT token_hash FROM sessions WHERE user_id = $1")
            .bind(user.0)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok(ErasurePlan {
            followees: followees.into_iter().map(UserId).collect(),
            liked: liked.into_iter().map(VideoId).collect(),
            commented,
            videos: videos.into_iter().map(VideoId).collect(),
            media_keys,
            session_hashes,
        })
    }

    /// Erases a person from this cell in one transaction: first their wrapped data key
    /// (crypto-shredding every encrypted field of theirs, wherever copies went), then the media
    /// records of their videos, then their rows in every registered table with an owner column
    /// (so a new table is covered as soon as it is registered), and records the receipt.
    /// Returns the receipt; `extra_counts` (e.g. media files) are added to its counts, and
    /// `render` turns the counts into their JSON text and its digest (the store itself does
    /// not know JSON or hashes).
    pub async fn erase_user(
        &self,
        user: UserId,
        region: &str,
        now: i64,
        extra_counts: &BTreeMap<String, i64>,
        render: &RenderCounts,
    ) -> Result<ErasureReceiptRow, StoreError> {
        let mut counts: BTreeMap<String, i64> = extra_counts.clone();
        let mut tx = self.db.pool.begin().await?;
        let keys = sqlx::query("DELETE FROM user_keys WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        counts.insert("user_keys".into(), keys as i64);
        let media = sqlx::query(
            "DELETE FROM media_objects WHERE video_id IN (SELECT id FROM videos WHERE creator_id = $1)",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.insert("media_objects".into(), media as i64);
        for t in registry::tables(Scope::Cell) {
            let Some(owner) = t.owner_column else {
                continue;
            };
            if t.name == "user_keys" {
                continue;
            }
            let sql = format!("DELETE FROM {} WHERE {owner} = $1", t.name);
            let n = sqlx::query(AssertSqlSafe(sql))
                .bind(user.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            counts.insert(t.name.into(), n as i64);
        }
        let (counts, counts_sha256) = render(&counts);
        let receipt = ErasureReceiptRow {
            receipt_id: reelm_core::ids::next_id(),
            user_id: user,
            region: region.to_owned(),
            erased_at: now,
            counts,
            counts_sha256,
        };
        sqlx::query(
            "INSERT INTO erasure_receipts (receipt_id, user_id, region, erased_at, counts, counts_sha256)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(receipt.receipt_id)
        .bind(receipt.user_id.0)
        .bind(&receipt.region)
        .bind(receipt.erased_at)
        .bind(&receipt.counts)
        .bind(&receipt.counts_sha256)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        tx.commit().await?;
        Ok(receipt)
    }

    /// Every erasure receipt of this cell, oldest first.
    pub async fn erasure_receipts(&self) -> Result<Vec<ErasureReceiptRow>, StoreError> {
        Ok(sqlx::query(
            "SELECT receipt_id, user_id, region, erased_at, counts, counts_sha256
             FROM erasure_receipts ORDER BY erased_at, receipt_id",
        )
        .fetch_all(&self.db.pool)
        .await?
        .iter()
        .map(|r| ErasureReceiptRow {
            receipt_id: r.get(0),
            user_id: UserId(r.get(1)),
            region: r.get(2),
            erased_at: r.get(3),
            counts: r.get(4),
            counts_sha256: r.get(5),
        })
        .collect())
    }

    /// The wrapped data key of one person, if they have one.
    pub async fn user_key(&self, user: UserId) -> Result<Option<UserKeyRow>, StoreError> {
        let row =
            sqlx::query("SELECT user_id, key_id, wrapped_key FROM user_keys WHERE user_id = $1")
                .bind(user.0)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(row.map(|r| UserKeyRow {
            user_id: UserId(r.get(0)),
            key_id: r.get(1),
            wrapped_key: Sensitive::new(r.get(2)),
        }))
    }

    /// Every wrapped data key of the cell, by person (for region-key rotation).
    pub async fn user_keys(&self) -> Result<Vec<UserKeyRow>, StoreError> {
        Ok(
            sqlx::query("SELECT user_id, key_id, wrapped_key FROM user_keys ORDER BY user_id")
                .fetch_all(&self.db.pool)
                .await?
                .iter()
                .map(|r| UserKeyRow {
                    user_id: UserId(r.get(0)),
                    key_id: r.get(1),
                    wrapped_key: Sensitive::new(r.get(2)),
                })
                .collect(),
        )
    }

    /// Replaces wrapped keys in one transaction (a batch of a rotation). A row whose stored
    /// key id is no longer `expected_key_id` (changed meanwhile) is left alone; returns the
    /// number of rows replaced.
    pub async fn replace_wrapped_keys(
        &self,
        batch: &[(UserKeyRow, UserKeyRow)],
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.pool.begin().await?;
        let mut n = 0;
        for (old, new) in batch {
            n += sqlx::query(
                "UPDATE user_keys SET key_id = $2, wrapped_key = $3 WHERE user_id = $1 AND key_id = $4",
            )
            .bind(new.user_id.0)
            .bind(&new.key_id)
            .bind(new.wrapped_key.expose())
            .bind(&old.key_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }
}
