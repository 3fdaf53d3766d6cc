//! Persisted background jobs of one region cell: work with no request behind it (upload
//! screening, migration catch-up, data exports, reports) that must survive a crash.
//!
//! Owns: the [`JobHandler`] trait, the per-run [`JobContext`] (payload, last checkpoint,
//! progress and checkpoint saves that persist at once), the [`Jobs`] handle (enqueue, status,
//! list, cancel) and the [`JobRunner`] (polls the cell's `jobs` table, claims with a lease,
//! renews it while a handler runs, retries with exponential backoff up to `max_attempts`, takes
//! over jobs whose runner died and resumes them from their checkpoint). The table and its
//! conditional claims live in `reelm_store::jobs`; runners coordinate through it alone.
//!
//! Must not: know about HTTP, other cells or any job's meaning. A job about a person is
//! enqueued in that person's home cell and runs there; its payload carries ids and cursors,
//! never plaintext personal data.
//!
//! Why not an existing queue crate: the well-kept ones are PostgreSQL-only (sqlxmq,
//! graphile_worker, underway) or pin sqlx 0.8 (apalis-sql, whose second libsqlite3 does not
//! link beside ours), and none runs on sqlx 0.9's `Any` driver over both of our dialects.

mod context;
mod runner;

#[cfg(test)]
mod tests;

pub use context::JobContext;
pub use reelm_core::JobId;
pub use reelm_store::{JobFilter, JobRow, JobState};
pub use runner::{Handlers, JobRunner, RunnerConfig};

use reelm_core::UserId;
use reelm_store::{CellStore, NewJob, StoreError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What a job's run (or an enqueue) can fail with.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The attempt failed but another may succeed: retried with backoff while attempts last.
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (a payload that does not decode, a video that is gone): the job
    /// fails at once.
    #[error("{0}")]
    Permanent(String),
    /// The run no longer holds the job (it was cancelled or erased, or its lease expired and
    /// another runner took it over); it must stop without writing anything more.
    #[error("the run lost its lease on the job (cancelled, erased or taken over)")]
    LeaseLost,
    #[error("cannot encode the job's JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Store failures are treated as transient: retried.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl JobError {
    pub fn retry(message: impl std::fmt::Display) -> JobError {
        JobError::Retry(message.to_string())
    }

    pub fn permanent(message: impl std::fmt::Display) -> JobError {
        JobError::Permanent(message.to_string())
    }

    /// True when a failed attempt should be tried again (if attempts are left).
    fn retryable(&self) -> bool {
        matches!(self, JobError::Retry(_) | JobError::Store(_))
    }
}

/// Runs the jobs of one kind.
///
/// Implement `run` as an `async fn`; its future must be `Send` (the runner spawns it). A run
/// may be cut short at any await (its runner crashed, the job was cancelled) and then starts
/// again from the last [`JobContext::checkpoint`], so work between two checkpoints must be
/// safe to do twice.
pub trait JobHandler: Send + Sync + 'static {
    /// The job kind this handler runs, stored in `jobs.kind`; stable across releases.
    fn kind(&self) -> &'static str;

    fn run(&self, ctx: &mut JobContext) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// How to enqueue a job, beyond its kind, payload and owner.
#[derive(Clone, Copy, Debug)]
pub struct EnqueueOptions {
    /// Runs allowed in all, counting runs cut short by a crash.
    pub max_attempts: i64,
    /// How long to wait before the first run.
    pub delay: Duration,
}

impl Default for EnqueueOptions {
    fn default() -> Self {
        EnqueueOptions {
            max_attempts: 5,
            delay: Duration::ZERO,
        }
    }
}

/// The jobs of one cell: enqueue, look up, cancel. Cheap to clone; runners started from a
/// handle are woken at once by jobs enqueued through it (others find them at their next poll).
#[derive(Clone, Debug)]
pub struct Jobs {
    store: CellStore,
    /// Wakes this handle's runners; `notify_one` keeps a permit, so an enqueue that lands while
    /// a runner is busy claiming is not missed.
    wake: Arc<Notify>,
}

impl Jobs {
    pub fn new(store: CellStore) -> Jobs {
        Jobs {
            store,
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn store(&self) -> &CellStore {
        &self.store
    }

    /// Enqueues a job of `kind` about `owner` (who must live in this cell's region), with
    /// default options.
    pub async fn enqueue(
        &self,
        kind: &str,
        payload: &impl serde::Serialize,
        owner: Option<UserId>,
    ) -> Result<JobId, JobError> {
        self.enqueue_with(kind, payload, owner, EnqueueOptions::default())
            .await
    }

    pub async fn enqueue_with(
        &self,
        kind: &str,
        payload: &impl serde::Serialize,
        owner: Option<UserId>,
        options: EnqueueOptions,
    ) -> Result<JobId, JobError> {
        let now = reelm_core::now_ms();
        let job = NewJob {
            id: JobId::new(),
            kind: kind.to_owned(),
            payload: serde_json::to_string(payload)?,
            owner_id: owner,
            max_attempts: options.max_attempts.max(1),
            run_after: now.saturating_add(ms(options.delay)),
        };
        self.store.enqueue_job(&job, now).await?;
        self.wake.notify_one();
        Ok(job.id)
    }

    pub async fn status(&self, id: JobId) -> Result<Option<JobRow>, JobError> {
        Ok(self.store.job(id).await?)
    }

    /// Jobs matching `filter`, newest first.
    pub async fn list(&self, filter: &JobFilter, limit: i64) -> Result<Vec<JobRow>, JobError> {
        Ok(self.store.jobs(filter, limit).await?)
    }

    /// Cancels a queued or running job (a running one stops at its next lease renewal or
    /// save). False when it had already finished or does not exist.
    pub async fn cancel(&self, id: JobId) -> Result<bool, JobError> {
        Ok(self.store.cancel_job(id, reelm_core::now_ms()).await?)
    }
}

/// A duration in whole milliseconds, saturating (the table keeps epoch milliseconds).
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
