//! What a handler sees of its job during one run.

use crate::JobError;
use reelm_core::{JobId, UserId};
use reelm_store::{CellStore, JobRow};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One run of one job. Progress and checkpoints are written to the store before the call
/// returns, under the run's lease: a save that finds the lease gone returns
/// [`JobError::LeaseLost`], and the handler should return it (`?`).
pub struct JobContext {
    store: CellStore,
    job: JobRow,
    lease: String,
}

impl JobContext {
    pub(crate) fn new(store: CellStore, job: JobRow, lease: String) -> JobContext {
        JobContext { store, job, lease }
    }

    pub fn id(&self) -> JobId {
        self.job.id
    }

    pub fn kind(&self) -> &str {
        &self.job.kind
    }

    /// The person the job is about, if any.
    pub fn owner(&self) -> Option<UserId> {
        self.job.owner_id
    }

    /// Which run this is, from 1 (runs cut short by a crash count too).
    pub fn attempt(&self) -> i64 {
        self.job.attempts
    }

    /// The payload as enqueued, decoded. A payload that does not decode as `T` never will, so
    /// the error is permanent.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_str(&self.job.payload)
            .map_err(|e| JobError::permanent(format!("payload: {e}")))
    }

    /// The payload's JSON text.
    pub fn payload_json(&self) -> &str {
        &self.job.payload
    }

    /// The last checkpoint saved by any run of this job, decoded: where to resume. `None` on a
    /// job's first run (or until its first checkpoint).
    pub fn last_checkpoint<T: DeserializeOwned>(&self) -> Result<Option<T>, JobError> {
        self.job
            .checkpoint
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| JobError::permanent(format!("checkpoint: {e}")))
    }

    /// The last saved progress, `(done, total)`.
    pub fn last_progress(&self) -> (i64, i64) {
        (self.job.progress_done, self.job.progress_total)
    }

    /// Records how far the job is (shown by [`crate::Jobs::status`]), at once.
    pub async fn progress(&mut self, done: i64, total: i64) -> Result<(), JobError> {
        self.save(done, total, None).await
    }

    /// Saves where to resume from (with the current progress), at once: a later run, after a
    /// crash or a failed attempt, starts from here.
    pub async fn checkpoint(&mut self, state: &impl Serialize) -> Result<(), JobError> {
        let json = serde_json::to_string(state)?;
        let (done, total) = self.last_progress();
        self.save(done, total, Some(json)).await
    }

    /// Saves progress and checkpoint in one write, so they never disagree after a crash.
    pub async fn checkpoint_with_progress(
        &mut self,
        state: &impl Serialize,
        done: i64,
        total: i64,
    ) -> Result<(), JobError> {
        let json = serde_json::to_string(state)?;
        self.save(done, total, Some(json)).await
    }

    async fn save(
        &mut self,
        done: i64,
        total: i64,
        checkpoint: Option<String>,
    ) -> Result<(), JobError> {
        let held = self
            .store
            .save_job_progress(
                self.job.id,
                &self.lease,
                done,
                total,
                checkpoint.as_deref(),
                reelm_core::now_ms(),
            )
            .await?;
        if !held {
            return Err(JobError::LeaseLost);
        }
        self.job.progress_done = done;
        self.job.progress_total = total;
        if checkpoint.is_some() {
            self.job.checkpoint = checkpoint;
        }
        Ok(())
    }
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("id", &self.job.id)
            .field("kind", &self.job.kind)
            .field("attempt", &self.job.attempts)
            .finish_non_exhaustive()
    }
}
