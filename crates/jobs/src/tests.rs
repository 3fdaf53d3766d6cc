//! The runner against real stores: temporary SQLite always, PostgreSQL when
//! `REELM_TEST_POSTGRES_URL` is set. Leases and polls are tiny and every wait is for a state,
//! bounded only so that a broken runner fails the test instead of hanging it.

use crate::*;
use reelm_store::CellStore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// `(name, url, folder kept alive for SQLite)` of one fresh store per dialect.
async fn store_urls() -> Vec<(&'static str, String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cell.db", dir.path().display());
    let mut out = vec![("sqlite", url, Some(dir))];
    if let Ok(base) = std::env::var("REELM_TEST_POSTGRES_URL") {
        let url = reelm_store::testing::fresh_postgres_database(&base, "reelm_jobs_test")
            .await
            .unwrap();
        out.push(("postgres", url, None));
    }
    out
}

fn fast(name: &str) -> RunnerConfig {
    RunnerConfig {
        name: name.into(),
        poll_interval: Duration::from_millis(10),
        lease: Duration::from_secs(30),
        heartbeat: Duration::from_millis(20),
        concurrency: 2,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
    }
}

/// Waits until the job satisfies `done`, and returns it.
async fn wait_for(jobs: &Jobs, id: JobId, done: impl Fn(&JobRow) -> bool) -> JobRow {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let job = jobs.status(id).await.unwrap().unwrap();
        if done(&job) {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting; the job is {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Count {
    n: i64,
}

/// Counts to `n`, reporting progress, and stops half-way until the test lets it go on.
struct Stepper {
    gate: Arc<Notify>,
}

impl JobHandler for Stepper {
    fn kind(&self) -> &'static str {
        "stepper"
    }

    async fn run(&self, ctx: &mut JobContext) -> Result<(), JobError> {
        let Count { n } = ctx.payload()?;
        for i in 1..=n {
            ctx.progress(i, n).await?;
            if i == n / 2 {
                self.gate.notified().await;
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_to_success_with_its_progress_visible() {
    for (name, url, _dir) in store_urls().await {
        let jobs = Jobs::new(CellStore::open(&url, 4).await.unwrap());
        let gate = Arc::new(Notify::new());
        let _runner = JobRunner::start(
            &jobs,
            Handlers::new().with(Stepper { gate: gate.clone() }),
            fast("r"),
        );
        let owner = UserId::new();
        let id = jobs
            .enqueue("stepper", &Count { n: 10 }, Some(owner))
            .await
            .unwrap();
        let mid = wait_for(&jobs, id, |j| j.progress_done == 5).await;
        assert_eq!(
            (mid.state, mid.progress_total, mid.owner_id),
            (JobState::Running, 10, Some(owner)),
            "{name}"
        );
        gate.notify_one();
        let done = wait_for(&jobs, id, |j| j.state.is_final()).await;
        assert_eq!(
            (
                done.state,
                done.progress_done,
                done.attempts,
                done.lease_owner.as_deref()
            ),
            (JobState::Succeeded, 10, 1, None),
            "{name}"
        );
        let listed = jobs
            .list(
                &JobFilter {
                    owner_id: Some(owner),
                    ..Default::default()
                },
                10,
            )
            .await
            .unwrap();
        assert_eq!(listed, [done], "{name}");
    }
}

/// Fails its first `failures` runs of every job.
struct Flaky {
    failures: u32,
    runs: Arc<AtomicU32>,
}

impl JobHandler for Flaky {
    fn kind(&self) -> &'static str {
        "flaky"
    }

    async fn run(&self, _ctx: &mut JobContext) -> Result<(), JobError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if run <= self.failures {
            return Err(JobError::retry(format!("failure {run}")));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_retried_with_backoff_until_max_attempts() {
    for (name, url, _dir) in store_urls().await {
        let jobs = Jobs::new(CellStore::open(&url, 4).await.unwrap());

        // Two failures, then success.
        let runs = Arc::new(AtomicU32::new(0));
        let runner = JobRunner::start(
            &jobs,
            Handlers::new().with(Flaky {
                failures: 2,
                runs: runs.clone(),
            }),
            fast("r"),
        );
        let id = jobs.enqueue("flaky", &(), None).await.unwrap();
        let done = wait_for(&jobs, id, |j| j.state.is_final()).await;
        assert_eq!(
            (done.state, done.attempts, runs.load(Ordering::SeqCst)),
            (JobState::Succeeded, 3, 3),
            "{name}"
        );
        assert_eq!(done.last_error.as_deref(), Some("failure 2"), "{name}");
        drop(runner);

        // Always failing: final failure after max_attempts, with the last error.
        let runs = Arc::new(AtomicU32::new(0));
        let _runner = JobRunner::start(
            &jobs,
            Handlers::new().with(Flaky {
                failures: u32::MAX,
                runs: runs.clone(),
            }),
            fast("r"),
        );
        let options = EnqueueOptions {
            max_attempts: 3,
            ..Default::default()
        };
        let id = jobs
            .enqueue_with("flaky", &(), None, options)
            .await
            .unwrap();
        let failed = wait_for(&jobs, id, |j| j.state.is_final()).await;
        assert_eq!(
            (failed.state, failed.attempts, failed.last_error.as_deref()),
            (JobState::Failed, 3, Some("failure 3")),
            "{name}"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 3, "{name}");
    }
}

struct BadPayload;

impl JobHandler for BadPayload {
    fn kind(&self) -> &'static str {
        "bad_payload"
    }

    async fn run(&self, ctx: &mut JobContext) -> Result<(), JobError> {
        let _: Count = ctx.payload()?;
        Ok(())
    }
}

#[tokio::test]
async fn a_permanent_error_fails_at_once() {
    for (name, url, _dir) in store_urls().await {
        let jobs = Jobs::new(CellStore::open(&url, 4).await.unwrap());
        let _runner = JobRunner::start(&jobs, Handlers::new().with(BadPayload), fast("r"));
        let id = jobs.enqueue("bad_payload", &"nope", None).await.unwrap();
        let failed = wait_for(&jobs, id, |j| j.state.is_final()).await;
        assert_eq!(
            (failed.state, failed.attempts),
            (JobState::Failed, 1),
            "{name}"
        );
        assert!(
            failed
                .last_error
                .as_deref()
                .unwrap_or("")
                .starts_with("payload:"),
            "{name}: {failed:?}"
        );
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Resume {
    next: i64,
}

/// Processes items 0..n, checkpointing every 5; while `crash` is set it hangs forever after
/// item 6 (two items past its checkpoint), for the test to kill its runner there.
struct Resumable {
    done: Arc<Mutex<Vec<i64>>>,
    crash: Arc<AtomicBool>,
    stuck: Arc<Notify>,
}

impl JobHandler for Resumable {
    fn kind(&self) -> &'static str {
        "resumable"
    }

    async fn run(&self, ctx: &mut JobContext) -> Result<(), JobError> {
        let Count { n } = ctx.payload()?;
        let start = ctx.last_checkpoint::<Resume>()?.map_or(0, |r| r.next);
        for i in start..n {
            self.done.lock().unwrap().push(i);
            if (i + 1) % 5 == 0 {
                ctx.checkpoint_with_progress(&Resume { next: i + 1 }, i + 1, n)
                    .await?;
            }
            if i == 6 && self.crash.load(Ordering::SeqCst) {
                self.stuck.notify_one();
                std::future::pending::<()>().await;
            }
        }
        ctx.progress(n, n).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_runners_job_is_taken_over_and_resumes_from_its_checkpoint() {
    for (name, url, _dir) in store_urls().await {
        let jobs = Jobs::new(CellStore::open(&url, 4).await.unwrap());
        let done = Arc::new(Mutex::new(Vec::new()));
        let crash = Arc::new(AtomicBool::new(true));
        let stuck = Arc::new(Notify::new());
        let handler = || Resumable {
            done: done.clone(),
            crash: crash.clone(),
            stuck: stuck.clone(),
        };
        // A short lease, renewed often, so the job is free soon after its runner dies.
        let config = RunnerConfig {
            lease: Duration::from_millis(200),
            heartbeat: Duration::from_millis(20),
            ..fast("a")
        };
        let first = JobRunner::start(&jobs, Handlers::new().with(handler()), config);
        let id = jobs
            .enqueue("resumable", &Count { n: 12 }, None)
            .await
            .unwrap();
        notified(&stuck).await;
        // The crash: the runner and its job task are gone mid-job, lease still held.
        drop(first);
        crash.store(false, Ordering::SeqCst);
        let before = jobs.status(id).await.unwrap().unwrap();
        assert_eq!(
            (
                before.state,
                before.checkpoint.as_deref(),
                before.progress_done
            ),
            (JobState::Running, Some(r#"{"next":5}"#), 5),
            "{name}"
        );

        // The survivor keeps the default long lease: only the dead runner's had to lapse.
        let _second = JobRunner::start(&jobs, Handlers::new().with(handler()), fast("b"));
        let finished = wait_for(&jobs, id, |j| j.state.is_final()).await;
        assert_eq!(
            (finished.state, finished.attempts, finished.progress_done),
            (JobState::Succeeded, 2, 12),
            "{name}"
        );
        assert!(
            finished.checkpoint.as_deref() == Some(r#"{"next":10}"#),
            "{name}: {finished:?}"
        );
        // Items before the checkpoint ran once; the two after it ran again (the first run's
        // work there was never saved); then the rest once.
        let done = done.lock().unwrap().clone();
        assert_eq!(done, [0, 1, 2, 3, 4, 5, 6, 5, 6, 7, 8, 9, 10, 11], "{name}");
    }
}

/// Counts how often each job ran.
struct Tally {
    runs: Arc<Mutex<HashMap<JobId, u32>>>,
}

impl JobHandler for Tally {
    fn kind(&self) -> &'static str {
        "tally"
    }

    async fn run(&self, ctx: &mut JobContext) -> Result<(), JobError> {
        *self.runs.lock().unwrap().entry(ctx.id()).or_default() += 1;
        // Hold the job a moment so the two runners overlap.
        tokio::time::sleep(Duration::from_millis(2)).await;
        ctx.progress(1, 1).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_on_one_store_never_run_a_job_twice() {
    for (name, url, _dir) in store_urls().await {
        // Two handles on two pools, as two processes would have.
        let a = Jobs::new(CellStore::open(&url, 4).await.unwrap());
        let b = Jobs::new(CellStore::open(&url, 4).await.unwrap());
        let runs = Arc::new(Mutex::new(HashMap::new()));
        let mut ids = Vec::new();
        for i in 0..30 {
            let jobs = if i % 2 == 0 { &a } else { &b };
            ids.push(jobs.enqueue("tally", &i, None).await.unwrap());
        }
        let _ra = JobRunner::start(
            &a,
            Handlers::new().with(Tally { runs: runs.clone() }),
            fast("a"),
        );
        let _rb = JobRunner::start(
            &b,
            Handlers::new().with(Tally { runs: runs.clone() }),
            fast("b"),
        );
        for id in &ids {
            let job = wait_for(&a, *id, |j| j.state.is_final()).await;
            assert_eq!(
                (job.state, job.attempts),
                (JobState::Succeeded, 1),
                "{name}"
            );
        }
        let runs = runs.lock().unwrap().clone();
        assert_eq!(runs.len(), ids.len(), "{name}");
        assert!(runs.values().all(|n| *n == 1), "{name}: {runs:?}");
    }
}

/// Saves progress until its lease is taken away.
struct UntilCancelled {
    stopped: Arc<Notify>,
}

/// Tells the test that a run ended, however it ended: returned after a save found the lease
/// gone, or dropped by the runner when a lease renewal found it gone first.
struct NotifyOnDrop(Arc<Notify>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

impl JobHandler for UntilCancelled {
    fn kind(&self) -> &'static str {
        "until_cancelled"
    }

    async fn run(&self, ctx: &mut JobContext) -> Result<(), JobError> {
        let _ended = NotifyOnDrop(self.stopped.clone());
        let mut i = 0;
        loop {
            i += 1;
            ctx.progress(i, 0).await?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Waits for a notification, bounded so that a broken runner fails the test instead of
/// hanging it.
async fn notified(n: &Notify) {
    tokio::time::timeout(Duration::from_secs(30), n.notified())
        .await
        .expect("gave up waiting for the handler");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_wakes_the_runner_and_cancel_stops_a_running_job() {
    for (name, url, _dir) in store_urls().await {
        let jobs = Jobs::new(CellStore::open(&url, 4).await.unwrap());
        let stopped = Arc::new(Notify::new());
        // Polling once an hour: only the enqueue's wake-up can start the job in time.
        let _runner = JobRunner::start(
            &jobs,
            Handlers::new().with(UntilCancelled {
                stopped: stopped.clone(),
            }),
            RunnerConfig {
                poll_interval: Duration::from_secs(3600),
                ..fast("r")
            },
        );
        let id = jobs.enqueue("until_cancelled", &(), None).await.unwrap();
        wait_for(&jobs, id, |j| j.progress_done >= 2).await;
        assert!(jobs.cancel(id).await.unwrap(), "{name}");
        notified(&stopped).await;
        let job = jobs.status(id).await.unwrap().unwrap();
        assert_eq!(job.state, JobState::Cancelled, "{name}");
        assert!(!jobs.cancel(id).await.unwrap(), "{name}: cancelled twice");
    }
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let c = RunnerConfig {
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(10),
        ..Default::default()
    };
    let waits: Vec<u64> = (1..=6).map(|a| c.backoff(a).as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
    assert_eq!(c.backoff(i64::MAX), Duration::from_secs(10));
}
