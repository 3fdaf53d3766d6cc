//! A cell's transfer ledger (hash-chained, see `reelm-vault`'s chain) and its signed
//! checkpoints. The store only keeps rows; chaining, signing and verifying happen above it.

use crate::cell::CellStore;
use crate::db::StoreError;
use sqlx::Row;

/// One stored ledger entry; hashes are 32 raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerRow {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: String,
    pub payload: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// One stored signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRow {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub at_ms: i64,
    pub signer_key_id: String,
    pub signature: Vec<u8>,
}

impl CellStore {
    /// Appends one entry (a single INSERT).
    pub async fn insert_ledger_entry(&self, e: &LedgerRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO transfer_ledger (seq, at_ms, kind, payload, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(e.seq)
        .bind(e.at_ms)
        .bind(&e.kind)
        .bind(&e.payload)
        .bind(&e.prev_hash)
        .bind(&e.hash)
        .execute(&self.db.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Up to `limit` entries with seq > `after`, in seq order.
    pub async fn ledger_page(&self, after: i64, limit: i64) -> Result<Vec<LedgerRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, kind, payload, prev_hash, hash FROM transfer_ledger WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| LedgerRow {
                seq: r.get(0),
                at_ms: r.get(1),
                kind: r.get(2),
                payload: r.get(3),
                prev_hash: r.get(4),
                hash: r.get(5),
            })
            .collect())
    }

    /// The entry with the highest seq, to resume the chain after a restart.
    pub async fn last_ledger_entry(&self) -> Result<Option<LedgerRow>, StoreError> {
        let last: Option<i64> = sqlx::query("SELECT MAX(seq) FROM transfer_ledger")
            .fetch_one(&self.db.pool)
            .await?
            .get(0);
        match last {
            Some(seq) => Ok(self.ledger_page(seq - 1, 1).await?.pop()),
            None => Ok(None),
        }
    }

    pub async fn insert_ledger_checkpoint(&self, c: &CheckpointRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ledger_checkpoints (seq, hash, at_ms, signer_key_id, signature) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(c.seq)
        .bind(&c.hash)
        .bind(c.at_ms)
        .bind(&c.signer_key_id)
        .bind(&c.signature)
        .execute(&self.db.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Every checkpoint, in seq order.
    pub async fn ledger_checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, hash, at_ms, signer_key_id, signature FROM ledger_checkpoints ORDER BY seq",
        )
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| CheckpointRow {
                seq: r.get(0),
                hash: r.get(1),
                at_ms: r.get(2),
                signer_key_id: r.get(3),
                signature: r.get(4),
            })
            .collect())
    }

    /// The highest checkpointed seq (0 if none).
    pub async fn last_ledger_checkpoint_seq(&self) -> Result<i64, StoreError> {
        let last: Option<i64> = sqlx::query("SELECT MAX(seq) FROM ledger_checkpoints")
            .fetch_one(&self.db.pool)
            .await?
            .get(0);
        Ok(last.unwrap_or(0))
    }
}
