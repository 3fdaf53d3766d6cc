//! The log's consumers on temporary SQLite stores. With `REELM_TEST_NATS_URL` set (e.g.
//! `nats://127.0.0.1:4222`, a server with JetStream), the same scenarios also run through
//! JetStream, each in a namespace of its own whose stream is deleted afterwards.

use super::*;
use futures::FutureExt;
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const WAIT: Duration = Duration::from_secs(20);

/// A consumer that records the `seq` of everything it is handed. It can be told to fail
/// (every batch is refused) or to block (every batch waits for the gate to open).
struct Recorder {
    name: String,
    delivery: Delivery,
    seen: Mutex<Vec<i64>>,
    failing: AtomicBool,
    /// Batches refused while failing.
    refused: AtomicUsize,
    open: watch::Sender<bool>,
}

impl Recorder {
    fn new(name: &str) -> Arc<Recorder> {
        Arc::new(Recorder {
            name: name.into(),
            delivery: Delivery::AtLeastOnce,
            seen: Mutex::new(Vec::new()),
            failing: AtomicBool::new(false),
            refused: AtomicUsize::new(0),
            open: watch::channel(true).0,
        })
    }

    fn seen(&self) -> Vec<i64> {
        self.seen.lock().unwrap().clone()
    }
}

impl EventConsumer for Recorder {
    fn name(&self) -> &str {
        &self.name
    }

    fn delivery(&self) -> Delivery {
        self.delivery
    }

    fn apply<'a>(
        &'a self,
        store: &'a CellStore,
        events: &'a [EventRow],
    ) -> BoxFuture<'a, Result<(), EventsError>> {
        async move {
            if self.failing.load(Ordering::SeqCst) {
                self.refused.fetch_add(1, Ordering::SeqCst);
                return Err(EventsError::Internal("failing on purpose".into()));
            }
            let mut open = self.open.subscribe();
            let _ = open.wait_for(|o| *o).await;
            self.seen
                .lock()
                .unwrap()
                .extend(events.iter().map(|e| e.seq));
            if self.delivery == Delivery::ExactlyOnce {
                // Stands in for a store method that commits effects and position together.
                let last = events.last().map(|e| e.seq).unwrap_or(0);
                store.set_consumer_position(&self.name, last).await?;
            }
            Ok(())
        }
        .boxed()
    }
}

fn dyns(consumers: &[&Arc<Recorder>]) -> Vec<Arc<dyn EventConsumer>> {
    consumers
        .iter()
        .map(|c| Arc::clone(*c) as Arc<dyn EventConsumer>)
        .collect()
}

/// Where a scenario runs: the store log alone, or through JetStream.
struct Setup {
    nats: Option<(String, String)>,
}

impl Setup {
    /// The store-only setup, plus the JetStream one when `REELM_TEST_NATS_URL` is set.
    fn all() -> Vec<Setup> {
        let mut out = vec![Setup { nats: None }];
        if let Ok(url) = std::env::var("REELM_TEST_NATS_URL") {
            let namespace = format!("evtest{}", reelm_core::ids::next_id());
            out.push(Setup {
                nats: Some((url, namespace)),
            });
        }
        out
    }

    fn label(&self) -> &'static str {
        if self.nats.is_some() { "nats" } else { "store" }
    }

    async fn start(&self, store: &CellStore, consumers: Vec<Arc<dyn EventConsumer>>) -> EventLog {
        EventLog::start(
            &RegionId::new("eu").unwrap(),
            store,
            &FeedConfig::default(),
            self.nats.as_ref().map(|(url, _)| url.as_str()),
            self.nats
                .as_ref()
                .map(|(_, ns)| ns.as_str())
                .unwrap_or("reelm"),
            consumers,
        )
        .await
        .unwrap()
    }
}

async fn temp_store() -> (CellStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cell.db?mode=rwc", dir.path().display());
    (CellStore::open(&url, 4).await.unwrap(), dir)
}

/// Appends `n` views of `video` by one person, concurrently (so that the appender groups
/// them), and returns the highest `seq`.
async fn append_views(log: &EventLog, video: VideoId, n: usize) -> i64 {
    let user = UserId::new();
    let appends = (0..n).map(|_| {
        log.append(NewEvent {
            user,
            video,
            kind: EventKind::View,
            watch_ms: 2_000,
        })
    });
    futures::future::join_all(appends)
        .await
        .into_iter()
        .map(|r| r.unwrap().seq)
        .max()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugged_consumer_gets_every_event_once_across_restarts() {
    for setup in Setup::all() {
        let label = setup.label();
        let (store, _dir) = temp_store().await;
        let video = VideoId::new();
        let counter = Recorder::new("counter");

        // It gets what is appended while it runs.
        let log = setup.start(&store, dyns(&[&counter])).await;
        assert_eq!(log.consumers(), vec!["counter", FEED_CONSUMER], "{label}");
        let last = append_views(&log, video, 30).await;
        assert_eq!(last, 30);
        assert!(log.wait_position("counter", 30, WAIT).await, "{label}");
        assert!(log.state.wait_applied(30, WAIT).await, "{label}");
        log.stop();
        drop(log);

        // The region runs for a while without it (a deploy without the subsystem) ...
        let log = setup.start(&store, Vec::new()).await;
        assert_eq!(log.position("counter"), None);
        assert_eq!(append_views(&log, video, 20).await, 50);
        assert!(log.state.wait_applied(50, WAIT).await, "{label}");
        log.stop();
        drop(log);
        assert_eq!(store.consumer_position("counter").await.unwrap(), 30);

        // ... and when it is back, it resumes after its position: nothing lost, nothing twice.
        let log = setup.start(&store, dyns(&[&counter])).await;
        assert!(log.wait_position("counter", 50, WAIT).await, "{label}");
        assert_eq!(append_views(&log, video, 5).await, 55);
        assert!(log.wait_position("counter", 55, WAIT).await, "{label}");
        assert_eq!(counter.seen(), (1..=55).collect::<Vec<i64>>(), "{label}");
        assert_eq!(store.consumer_position("counter").await.unwrap(), 55);

        // The feed state applied every event once too, in memory and in the store.
        assert!(log.state.wait_applied(55, WAIT).await, "{label}");
        let stats = log.state.stats(video);
        // Three people (one per `append_views`), every view once.
        assert_eq!((stats.viewers, stats.views), (3, 55), "{label}");
        assert_eq!(store.consumer_position(FEED_CONSUMER).await.unwrap(), 55);
        assert_eq!(log.position(FEED_CONSUMER), Some(55));
        log.delete_nats_stream().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_progress_independently() {
    for setup in Setup::all() {
        let label = setup.label();
        let (store, _dir) = temp_store().await;
        let video = VideoId::new();
        let healthy = Recorder::new("healthy");
        let failing = Recorder::new("failing");
        failing.failing.store(true, Ordering::SeqCst);
        let slow = Recorder::new("slow");
        slow.open.send_replace(false);
        let log = setup
            .start(&store, dyns(&[&healthy, &failing, &slow]))
            .await;

        let last = append_views(&log, video, 40).await;
        assert!(log.wait_position("healthy", last, WAIT).await, "{label}");
        assert!(log.state.wait_applied(last, WAIT).await, "{label}");
        assert_eq!(healthy.seen(), (1..=last).collect::<Vec<i64>>(), "{label}");
        // The appender was not held back either: a further append commits at once.
        let more = append_views(&log, video, 1).await;
        assert!(log.wait_position("healthy", more, WAIT).await, "{label}");
        assert_eq!(log.position("failing"), Some(0), "{label}");
        assert_eq!(log.position("slow"), Some(0), "{label}");
        assert!(failing.seen().is_empty() && slow.seen().is_empty());

        // The failing one was tried, and is retried (with backoff) rather than given up.
        let retried = async {
            while failing.refused.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        assert!(tokio::time::timeout(WAIT, retried).await.is_ok(), "{label}");

        // Once they recover, they catch up on their own, each event once.
        failing.failing.store(false, Ordering::SeqCst);
        slow.open.send_replace(true);
        for r in [&failing, &slow] {
            assert!(log.wait_position(&r.name, more, WAIT).await, "{label}");
            assert_eq!(r.seen(), (1..=more).collect::<Vec<i64>>(), "{label}");
            assert_eq!(store.consumer_position(&r.name).await.unwrap(), more);
        }
        log.delete_nats_stream().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_subscribed_later_reads_the_log_from_the_beginning() {
    for setup in Setup::all() {
        let label = setup.label();
        let (store, _dir) = temp_store().await;
        let log = setup.start(&store, Vec::new()).await;
        let first = append_views(&log, VideoId::new(), 10).await;

        let mut late = Recorder::new("late");
        Arc::get_mut(&mut late).unwrap().delivery = Delivery::ExactlyOnce;
        log.subscribe(late.clone()).await.unwrap();
        let last = append_views(&log, VideoId::new(), 10).await;
        assert!(log.wait_position("late", last, WAIT).await, "{label}");
        assert_eq!(late.seen(), (1..=last).collect::<Vec<i64>>(), "{label}");
        assert!(first < last);

        // A name is taken once; the relay's name and names JetStream refuses are not valid.
        for bad in [
            "late",
            FEED_CONSUMER,
            RELAY_CONSUMER,
            "",
            "has.dot",
            "has space",
        ] {
            let err = log.subscribe(Recorder::new(bad)).await;
            assert!(err.is_err(), "{label}: {bad:?} accepted");
        }
        log.stop();
        assert!(log.subscribe(Recorder::new("after-stop")).await.is_err());
        log.delete_nats_stream().await.unwrap();
    }
}

#[tokio::test]
async fn start_refuses_two_consumers_with_one_name() {
    let (store, _dir) = temp_store().await;
    let setup = Setup { nats: None };
    let a = Recorder::new("twin");
    let b = Recorder::new("twin");
    let started = EventLog::start(
        &RegionId::new("eu").unwrap(),
        &store,
        &FeedConfig::default(),
        None,
        "reelm",
        dyns(&[&a, &b]),
    )
    .await;
    assert!(started.is_err());
    let feed = Recorder::new(FEED_CONSUMER);
    let started = EventLog::start(
        &RegionId::new("eu").unwrap(),
        &store,
        &FeedConfig::default(),
        None,
        "reelm",
        dyns(&[&feed]),
    )
    .await;
    assert!(started.is_err());
    // The store is unharmed: a correct list starts.
    let log = setup.start(&store, dyns(&[&a])).await;
    assert_eq!(log.consumers(), vec![FEED_CONSUMER, "twin"]);
}

/// NATS delivers at least once: a batch that overlaps what the consumer applied is handed
/// over without the overlap, and a batch entirely at or below its position not at all.
#[tokio::test]
async fn redelivered_events_are_skipped() {
    let (store, _dir) = temp_store().await;
    let recorder = Recorder::new("redelivery");
    let (progress, watcher) = watch::channel(0);
    let mut runner = Runner::load(&store, recorder.clone(), progress)
        .await
        .unwrap();
    let rows = |seqs: std::ops::RangeInclusive<i64>| -> Vec<EventRow> {
        seqs.map(|seq| EventRow {
            seq,
            user: UserId(1),
            video: VideoId(2),
            kind: EventKind::Like,
            watch_ms: 0,
            at_ms: seq,
        })
        .collect()
    };
    runner.deliver(&store, &rows(1..=10)).await;
    runner.deliver(&store, &rows(5..=15)).await;
    runner.deliver(&store, &rows(1..=15)).await;
    assert_eq!(recorder.seen(), (1..=15).collect::<Vec<i64>>());
    assert_eq!(*watcher.borrow(), 15);
    assert_eq!(store.consumer_position("redelivery").await.unwrap(), 15);

    // After a restart the durable position holds.
    let (progress, _) = watch::channel(0);
    let mut runner = Runner::load(&store, recorder.clone(), progress)
        .await
        .unwrap();
    runner.deliver(&store, &rows(12..=16)).await;
    assert_eq!(recorder.seen(), (1..=16).collect::<Vec<i64>>());
}
