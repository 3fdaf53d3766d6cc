//! The `jobs` table: a cell's persisted background jobs (`reelm-jobs` runs them).
//!
//! Runners coordinate through the table alone. A runner takes a job with one conditional
//! UPDATE that only matches while the job is still claimable, so two runners (in this process
//! or another one on the same store) never both take it; it then holds a *lease* (a token in
//! `lease_owner`, valid until `lease_until`) and every later write of the run is conditional on
//! still holding it. A runner that crashed stops renewing; once the lease has expired another
//! runner takes the job over, and the stale holder's writes match nothing.
//!
//! `payload`, `checkpoint` and `last_error` are personal in the registry when the job names an
//! owner; the payload must never carry plaintext personal data (ids, object keys and cursors
//! only), since it is not encrypted.

use crate::cell::{CellStore, placeholders};
use crate::db::StoreError;
use reelm_core::{JobId, UserId};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to run (first time, or again after a failed attempt), from `run_after` on.
    Queued,
    /// Leased by a runner.
    Running,
    Succeeded,
    /// Gave up: `max_attempts` used, or the handler said retrying is pointless.
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    /// True once the job will never run again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: JobId,
    pub kind: String,
    /// JSON; ids and cursors, never plaintext personal data.
    pub payload: String,
    /// The person the job is about, if any: the job must be enqueued in their home cell.
    pub owner_id: Option<UserId>,
    pub max_attempts: i64,
    /// Epoch ms before which no runner takes the job.
    pub run_after: i64,
}

/// One stored job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    pub id: JobId,
    pub kind: String,
    pub state: JobState,
    pub payload: String,
    /// The JSON the handler last saved to resume from.
    pub checkpoint: Option<String>,
    pub progress_done: i64,
    pub progress_total: i64,
    /// Runs started so far, including ones whose runner died mid-job.
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_after: i64,
    /// The lease token of the run holding the job (while `running`).
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub owner_id: Option<UserId>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which jobs [`CellStore::jobs`] lists; `None` fields match everything.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    pub kind: Option<String>,
    pub state: Option<JobState>,
    pub owner_id: Option<UserId>,
}

const JOB_COLUMNS: &str = "id, kind, state, payload, checkpoint, progress_done, progress_total, attempts, max_attempts, run_after, lease_owner, lease_until, last_error, owner_id, created_at, updated_at";

/// Candidates a claim tries per round; more than one so that runners racing for the oldest
/// job spill over to the next ones instead of coming back empty.
const CLAIM_CANDIDATES: i64 = 4;

fn job_from(r: &AnyRow) -> Result<JobRow, StoreError> {
    let state: String = r.get(2);
    Ok(JobRow {
        id: JobId(r.get(0)),
        kind: r.get(1),
        state: JobState::parse(&state).ok_or_else(|| {
            StoreError::Db(sqlx::Error::Decode(
                format!("unknown job state {state:?}").into(),
            ))
        })?,
        payload: r.get(3),
        checkpoint: r.get(4),
        progress_done: r.get(5),
        progress_total: r.get(6),
        attempts: r.get(7),
        max_attempts: r.get(8),
        run_after: r.get(9),
        lease_owner: r.get(10),
        lease_until: r.get(11),
        last_error: r.get(12),
        owner_id: r.get::<Option<i64>, _>(13).map(UserId),
        created_at: r.get(14),
        updated_at: r.get(15),
    })
}

impl CellStore {
    pub async fn enqueue_job(&self, job: &NewJob, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO jobs (id, kind, state, payload, max_attempts, run_after, owner_id, created_at, updated_at)
             VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8)",
        )
        .bind(job.id.0)
        .bind(&job.kind)
        .bind(&job.payload)
        .bind(job.max_attempts)
        .bind(job.run_after)
        .bind(job.owner_id.map(|u| u.0))
        .bind(now)
        .bind(now)
        .execute(&self.db.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Takes the oldest due job of one of `kinds` for the run with lease token `lease`, until
    /// `now + lease_ms`, counting the attempt: a queued job whose `run_after` has come, or a
    /// running one whose lease expired (its runner died; it resumes from its checkpoint).
    /// A job whose lease expired on its last allowed attempt is marked failed instead.
    /// Returns the claimed job as stored after the claim.
    pub async fn claim_next_job(
        &self,
        kinds: &[&str],
        lease: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<JobRow>, StoreError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let n = kinds.len();
        let in_kinds = placeholders(1, n);
        let expire = format!(
            "UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_until = NULL,
             last_error = 'the runner stopped during the last allowed attempt (lease expired)',
             updated_at = ${}
             WHERE kind IN ({in_kinds}) AND state = 'running' AND lease_until < ${} AND attempts >= max_attempts",
            n + 1,
            n + 2
        );
        let mut q = sqlx::query(AssertSqlSafe(expire));
        for k in kinds {
            q = q.bind(*k);
        }
        q.bind(now).bind(now).execute(&self.db.pool).await?;

        // The condition a job must still meet when the UPDATE reaches it: a runner that took it
        // in between changed its state or lease, so the second runner's UPDATE matches nothing.
        let due = |first: usize| {
            format!(
                "((state = 'queued' AND run_after <= ${}) OR (state = 'running' AND lease_until < ${} AND attempts < max_attempts))",
                first,
                first + 1
            )
        };
        for _round in 0..3 {
            let select = format!(
                "SELECT id FROM jobs WHERE kind IN ({in_kinds}) AND {} ORDER BY run_after, id LIMIT ${}",
                due(n + 1),
                n + 3
            );
            let mut q = sqlx::query(AssertSqlSafe(select));
            for k in kinds {
                q = q.bind(*k);
            }
            let candidates: Vec<i64> = q
                .bind(now)
                .bind(now)
                .bind(CLAIM_CANDIDATES)
                .fetch_all(&self.db.pool)
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if candidates.is_empty() {
                return Ok(None);
            }
            for id in candidates {
                let update = format!(
                    "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2,
                     attempts = attempts + 1, updated_at = $3 WHERE id = $4 AND {}",
                    due(5)
                );
                let taken = sqlx::query(AssertSqlSafe(update))
                    .bind(lease)
                    .bind(now + lease_ms)
                    .bind(now)
                    .bind(id)
                    .bind(now)
                    .bind(now)
                    .execute(&self.db.pool)
                    .await?
                    .rows_affected();
                if taken == 1 {
                    return self.job(JobId(id)).await;
                }
            }
            // Every candidate went to other runners meanwhile; look again.
        }
        Ok(None)
    }

    /// Renews the lease of a running job until `now + lease_ms`. False when the run no longer
    /// holds it (cancelled, erased, or taken over after it expired): the run must stop.
    pub async fn extend_job_lease(
        &self,
        id: JobId,
        lease: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE jobs SET lease_until = $1, updated_at = $2
             WHERE id = $3 AND state = 'running' AND lease_owner = $4",
        )
        .bind(now + lease_ms)
        .bind(now)
        .bind(id.0)
        .bind(lease)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Saves a running job's progress, and its checkpoint when given (kept otherwise). False
    /// when the run no longer holds the lease.
    pub async fn save_job_progress(
        &self,
        id: JobId,
        lease: &str,
        done: i64,
        total: i64,
        checkpoint: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let q = match checkpoint {
            Some(c) => sqlx::query(
                "UPDATE jobs SET progress_done = $1, progress_total = $2, updated_at = $3, checkpoint = $4
                 WHERE id = $5 AND state = 'running' AND lease_owner = $6",
            )
            .bind(done)
            .bind(total)
            .bind(now)
            .bind(c),
            None => sqlx::query(
                "UPDATE jobs SET progress_done = $1, progress_total = $2, updated_at = $3
                 WHERE id = $4 AND state = 'running' AND lease_owner = $5",
            )
            .bind(done)
            .bind(total)
            .bind(now),
        };
        let n = q
            .bind(id.0)
            .bind(lease)
            .execute(&self.db.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Marks a running job succeeded. False when the run no longer holds the lease.
    pub async fn finish_job(&self, id: JobId, lease: &str, now: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE jobs SET state = 'succeeded', lease_owner = NULL, lease_until = NULL, updated_at = $1
             WHERE id = $2 AND state = 'running' AND lease_owner = $3",
        )
        .bind(now)
        .bind(id.0)
        .bind(lease)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Records a failed attempt of a running job with its error. With `retry_at` and attempts
    /// left, the job is queued again from then on (the checkpoint stays, so the next attempt
    /// resumes); otherwise it fails for good. Returns the job's new state, or `None` when the
    /// run no longer holds the lease.
    pub async fn fail_job(
        &self,
        id: JobId,
        lease: &str,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<Option<JobState>, StoreError> {
        let n = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE jobs SET
                 state = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                 run_after = $1, last_error = $2, lease_owner = NULL, lease_until = NULL, updated_at = $3
                 WHERE id = $4 AND state = 'running' AND lease_owner = $5",
            )
            .bind(at),
            None => sqlx::query(
                "UPDATE jobs SET state = 'failed', last_error = $1, lease_owner = NULL,
                 lease_until = NULL, updated_at = $2
                 WHERE id = $3 AND state = 'running' AND lease_owner = $4",
            ),
        }
        .bind(error)
        .bind(now)
        .bind(id.0)
        .bind(lease)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(None);
        }
        Ok(self.job(id).await?.map(|j| j.state))
    }

    /// Cancels a job that has not finished. A running job's runner notices at its next lease
    /// renewal or progress save and stops. False when the job was already final or is unknown.
    pub async fn cancel_job(&self, id: JobId, now: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, updated_at = $1
             WHERE id = $2 AND state IN ('queued', 'running')",
        )
        .bind(now)
        .bind(id.0)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn job(&self, id: JobId) -> Result<Option<JobRow>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(&self.db.pool)
            .await?
            .as_ref()
            .map(job_from)
            .transpose()
    }

    /// Jobs matching `filter`, newest first, at most `limit`.
    pub async fn jobs(&self, filter: &JobFilter, limit: i64) -> Result<Vec<JobRow>, StoreError> {
        let mut conditions = Vec::new();
        if filter.kind.is_some() {
            conditions.push(format!("kind = ${}", conditions.len() + 1));
        }
        if filter.state.is_some() {
            conditions.push(format!("state = ${}", conditions.len() + 1));
        }
        if filter.owner_id.is_some() {
            conditions.push(format!("owner_id = ${}", conditions.len() + 1));
        }
        let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT ${}",
            conditions.len() + 1
        ));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(k) = &filter.kind {
            q = q.bind(k.clone());
        }
        if let Some(s) = filter.state {
            q = q.bind(s.as_str());
        }
        if let Some(o) = filter.owner_id {
            q = q.bind(o.0);
        }
        q.bind(limit)
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(job_from)
            .collect()
    }
}
