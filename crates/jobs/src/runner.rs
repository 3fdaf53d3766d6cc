//! The runner: one polling task per runner, one task per job it runs.

use crate::{JobContext, JobError, JobHandler, JobState, Jobs, ms};
use reelm_core::{JobId, now_ms};
use reelm_store::{CellStore, JobRow};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{JoinHandle, JoinSet};

type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send + 'a>>;

/// [`JobHandler`] with its future boxed, so handlers of different types sit in one map
/// (`async fn` in a trait is not usable through `dyn` on its own).
trait ErasedHandler: Send + Sync {
    fn run_boxed<'a>(&'a self, ctx: &'a mut JobContext) -> RunFuture<'a>;
}

impl<H: JobHandler> ErasedHandler for H {
    fn run_boxed<'a>(&'a self, ctx: &'a mut JobContext) -> RunFuture<'a> {
        Box::pin(self.run(ctx))
    }
}

/// The handlers a runner has, by kind; it claims only jobs of these kinds, so runners with
/// different handlers can share a store.
#[derive(Clone, Default)]
pub struct Handlers {
    by_kind: BTreeMap<&'static str, Arc<dyn ErasedHandler>>,
}

impl Handlers {
    pub fn new() -> Handlers {
        Handlers::default()
    }

    /// Adds a handler; one registered earlier for the same kind is replaced.
    pub fn with(mut self, handler: impl JobHandler) -> Handlers {
        self.by_kind.insert(handler.kind(), Arc::new(handler));
        self
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.by_kind.keys().copied().collect()
    }
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_kind.keys()).finish()
    }
}

#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Names the runner in lease tokens (`<name>:<claim id>`), for people reading the table.
    pub name: String,
    /// How often to look for due jobs when not woken by an enqueue through the same handle
    /// (retries coming due, jobs enqueued by other processes, expired leases).
    pub poll_interval: Duration,
    /// How long a claim holds a job without renewal: after a crash the job waits this long
    /// before another runner takes it over.
    pub lease: Duration,
    /// How often a running job's lease is renewed; well below `lease`, so that one slow
    /// renewal does not let the lease lapse.
    pub heartbeat: Duration,
    /// Jobs run at once by this runner.
    pub concurrency: usize,
    /// The wait before the first retry; doubled after every failed attempt.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            name: "runner".into(),
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            concurrency: 2,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
        }
    }
}

impl RunnerConfig {
    /// The wait before the attempt after `attempts` failed ones: base · 2^(attempts−1), capped.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.backoff_base
            .saturating_mul(1 << doublings)
            .min(self.backoff_max)
    }
}

/// A running runner. Dropping it stops the runner and every job it is running (their leases
/// then expire and other runners take them over), like a crash would.
#[derive(Debug)]
pub struct JobRunner {
    task: JoinHandle<()>,
}

impl JobRunner {
    /// Starts running the jobs of `handlers`' kinds from `jobs`' store, on the current Tokio
    /// runtime.
    pub fn start(jobs: &Jobs, handlers: Handlers, config: RunnerConfig) -> JobRunner {
        let task = tokio::spawn(poll_loop(jobs.clone(), handlers, Arc::new(config)));
        JobRunner { task }
    }
}

impl Drop for JobRunner {
    fn drop(&mut self) {
        // Aborting the polling task drops its JoinSet, which aborts every job task too.
        self.task.abort();
    }
}

async fn poll_loop(jobs: Jobs, handlers: Handlers, config: Arc<RunnerConfig>) {
    let kinds = handlers.kinds();
    let concurrency = config.concurrency.max(1);
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        while running.len() < concurrency {
            let lease = format!("{}:{}", config.name, reelm_core::ids::next_id());
            match jobs
                .store
                .claim_next_job(&kinds, &lease, now_ms(), ms(config.lease))
                .await
            {
                Ok(Some(job)) => {
                    let Some(handler) = handlers.by_kind.get(job.kind.as_str()).cloned() else {
                        // Claimed only by our kinds, so this cannot happen; let the lease lapse.
                        tracing::error!(kind = %job.kind, "claimed a job of a kind with no handler");
                        continue;
                    };
                    running.spawn(execute(
                        jobs.store.clone(),
                        handler,
                        job,
                        lease,
                        config.clone(),
                    ));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed; retrying at the next poll");
                    break;
                }
            }
        }
        let full = running.len() >= concurrency;
        tokio::select! {
            _ = jobs.wake.notified(), if !full => {}
            _ = tokio::time::sleep(config.poll_interval) => {}
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    // The lease lapses and the job is retried by a later claim.
                    tracing::error!(error = %e, "a job handler panicked");
                }
            }
        }
    }
}

/// Runs one claimed job while renewing its lease, then records the outcome.
async fn execute(
    store: CellStore,
    handler: Arc<dyn ErasedHandler>,
    job: JobRow,
    lease: String,
    config: Arc<RunnerConfig>,
) {
    let (id, attempts, max_attempts) = (job.id, job.attempts, job.max_attempts);
    let mut ctx = JobContext::new(store.clone(), job, lease.clone());
    let outcome = tokio::select! {
        r = handler.run_boxed(&mut ctx) => r,
        () = keep_lease(&store, id, &lease, &config) => Err(JobError::LeaseLost),
    };
    let now = now_ms();
    let recorded = match &outcome {
        Ok(()) => store
            .finish_job(id, &lease, now)
            .await
            .map(|held| held.then_some(JobState::Succeeded)),
        Err(JobError::LeaseLost) => Ok(None),
        Err(e) => {
            let retry_at = e
                .retryable()
                .then(|| now.saturating_add(ms(config.backoff(attempts))));
            store
                .fail_job(id, &lease, &e.to_string(), retry_at, now)
                .await
        }
    };
    match (recorded, outcome) {
        (Ok(Some(state)), Ok(())) => tracing::debug!(%id, ?state, "job finished"),
        (Ok(Some(state)), Err(e)) => {
            tracing::warn!(%id, attempts, max_attempts, ?state, error = %e, "job attempt failed")
        }
        (Ok(None), _) => tracing::info!(%id, "job run stopped: its lease is gone"),
        // The lease lapses and the job runs again: its outcome was not recorded.
        (Err(e), _) => tracing::warn!(%id, error = %e, "recording a job's outcome failed"),
    }
}

/// Renews the lease every heartbeat; returns when it is lost (taken over, cancelled, erased)
/// or may have lapsed because renewals kept failing, so the run stops before another runner
/// could be running the job too.
async fn keep_lease(store: &CellStore, id: JobId, lease: &str, config: &RunnerConfig) {
    let lease_ms = ms(config.lease);
    let mut held_until = now_ms().saturating_add(lease_ms);
    loop {
        tokio::time::sleep(config.heartbeat).await;
        let now = now_ms();
        match store.extend_job_lease(id, lease, now, lease_ms).await {
            Ok(true) => held_until = now.saturating_add(lease_ms),
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(%id, error = %e, "renewing a job's lease failed");
                if now_ms() >= held_until {
                    return;
                }
            }
        }
    }
}
