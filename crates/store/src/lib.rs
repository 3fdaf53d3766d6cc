//! One region cell's relational store and the global directory, through sqlx's `Any` driver so
//! that the same SQL runs on SQLite (embedded default) and PostgreSQL (one database per region).
//!
//! Owns: schema migrations for both dialects, the data-class registry (every table and column
//! has exactly one [`DataClass`](reelm_core::DataClass)), and typed queries.
//!
//! Must not: know about HTTP, sessions cookies or other cells. A [`CellStore`] only ever sees
//! its own region's database; moving data between regions is the transfer gateway's job.

pub mod audit;
pub mod cell;
mod db;
pub mod directory;
pub mod erasure;
pub mod events;
pub mod jobs;
pub mod ledger;
pub mod operators;
pub mod registry;
mod schema;

pub use audit::MediaPlacementRow;
pub use cell::*;
pub use db::{BulkValue, Db, Dialect, StoreError};
pub use directory::{DirectoryEntry, DirectoryStore};
pub use erasure::{ErasurePlan, ErasureReceiptRow, UserKeyRow};
pub use events::{EventKind, EventRow, FeedChanges, VideoStats};
pub use jobs::{JobFilter, JobRow, JobState, NewJob};
pub use ledger::{
    BlockFormatError, CheckpointRow, LEDGER_BLOCK_ENTRIES, LedgerBlockRef, LedgerEntryRef,
    LedgerPage, LedgerRow, MAX_LEDGER_ROWS_PER_STATEMENT, PackedRow, push_block_entry,
};
pub use operators::{AccessCheckpointRow, AccessEntryRow, AccessHeadRow, GrantRow, OperatorRow};

#[cfg(test)]
mod tests;

/// Helpers for tests (here and in other crates) that need fresh stores.
pub mod testing {
    use sqlx::{AnyPool, AssertSqlSafe};

    /// Creates an empty PostgreSQL database next to `base_url` (e.g.
    /// `postgres://postgres@127.0.0.1:5432/postgres`) and returns its URL.
    pub async fn fresh_postgres_database(
        base_url: &str,
        prefix: &str,
    ) -> Result<String, crate::StoreError> {
        sqlx::any::install_default_drivers();
        let name = format!("{prefix}_{}", reelm_core::ids::next_id());
        let pool = AnyPool::connect(base_url).await?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await?;
        pool.close().await;
        let (head, _) = base_url.rsplit_once('/').unwrap_or((base_url, ""));
        Ok(format!("{head}/{name}"))
    }
}
