//! The region's event log and its named consumers, the feed state's among them.
//!
//! Owns: appending a person's behavioral events to their home region's log (group commit),
//! the named consumers that read it ([`EventConsumer`]: each with its own durable position,
//! exactly once or at least once), the optional NATS JetStream relay, and [`FeedState`]
//! (regional statistics, trending and co-engagement, plus other regions' k-anonymous
//! aggregates once the gateway delivered them), kept by the built-in `feed-state` consumer.
//!
//! Must not know: cells, the platform, other regions or HTTP, nor what the other consumers
//! do; it reads and writes one region's store and, when configured, that region's stream.
//!
//! Every view (with its watch time), like, unlike, share, comment and "not interested" of a
//! person is appended to the log of their **home** region, never anywhere else:
//!
//! ```text
//!  API handler ──append──► appender task ──one transaction per batch──► event_log (+ view_events)
//!                               │ (group commit; seq assigned in commit order; a commit watch
//!                               │  wakes every consumer)
//!                               ▼
//!                  [NATS configured] relay ──publish, Nats-Msg-Id = region:seq──► JetStream
//!                               │                                         REELM_EVENTS_<REGION>
//!                               │                                  one durable pull consumer
//!                               ▼                                        per consumer name
//!  one task per named consumer: reads the log table after its own position, or │
//!  its own JetStream consumer (acknowledged after apply) ◄──────────────────────┘
//!     │
//!     ├─► "feed-state" (built in, exactly once): batch + position in ONE store transaction
//!     │        ▼
//!     │   FeedState (in memory): regional video statistics, trending, co-engagement
//!     │
//!     └─► any other EventConsumer given to EventLog::start or EventLog::subscribe
//!         ("fake-engagement", "experiment-metrics", ...): exactly once (effects + position
//!         in one transaction) or at least once (the log records the position after apply)
//!
//!  consumer_positions: one durable position per consumer name (and the relay's "nats-relay")
//! ```
//!
//! Why this shape: the append returns only after the event is durable in the region store, so
//! an accepted event is never lost; each consumer's position is durable, and events at or
//! below it are never handed to it again, so a crash or a redelivery (NATS delivers at least
//! once) never counts an event twice for an exactly-once consumer such as the feed state.
//! Each consumer runs in its own task and retries a failed batch with backoff, so a slow or
//! broken subsystem delays only itself, never the appender or the others. A new subsystem
//! subscribes by implementing [`EventConsumer`]; the log does not change. The person's own
//! interest profile does not wait for any consumer: it reads their history, which the
//! append's transaction wrote, on the next request.

mod consumers;
#[cfg(test)]
mod tests;

pub use consumers::{Delivery, EventConsumer};

use consumers::{FeedStateConsumer, Runner, check_name, consume_nats, consume_store};
use reelm_core::{FeedConfig, RegionId, UserId, VideoId};
use reelm_store::{CellStore, EventKind, EventRow, FeedChanges, VideoStats};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The consumer that maintains [`FeedState`]; its position lives in `consumer_positions`.
pub const FEED_CONSUMER: &str = "feed-state";
/// The relay's position in the same table.
pub(crate) const RELAY_CONSUMER: &str = "nats-relay";
/// Most events committed in one transaction by the appender, and applied in one by a consumer.
pub(crate) const MAX_BATCH: usize = 1_000;
/// Co-engagement neighbours kept in memory per video (the strongest).
pub const CO_NEIGHBOURS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("store: {0}")]
    Store(#[from] reelm_store::StoreError),
    #[error("NATS at {url}: {message}")]
    Nats { url: String, message: String },
    #[error("{0}")]
    Internal(String),
}

/// An event as a handler reports it; the log assigns its sequence number.
#[derive(Clone, Copy, Debug)]
pub struct NewEvent {
    pub user: UserId,
    pub video: VideoId,
    pub kind: EventKind,
    pub watch_ms: i64,
}

struct Pending {
    event: NewEvent,
    at_ms: i64,
    done: oneshot::Sender<Result<EventRow, String>>,
}

/// One region's event log, its consumers and (when configured) its NATS stream.
pub struct EventLog {
    sender: mpsc::Sender<Pending>,
    pub state: Arc<FeedState>,
    nats: Option<NatsLink>,
    /// What a consumer added by [`EventLog::subscribe`] needs: the store it reads and commits
    /// to, and the appender's commit watch that wakes it.
    store: CellStore,
    committed: watch::Receiver<i64>,
    /// A std mutex, not a Tokio one: it is held only to look up or push, never across an
    /// `.await`.
    running: Mutex<Running>,
}

/// The log's tasks and its consumers' progress.
#[derive(Default)]
struct Running {
    /// The appender, the relay and one task per consumer.
    tasks: Vec<JoinHandle<()>>,
    /// Each consumer's position (last applied `seq`) by name, the feed state's included.
    progress: HashMap<String, watch::Receiver<i64>>,
    /// Set by [`EventLog::stop`]: a consumer subscribed afterwards would never be stopped.
    stopped: bool,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("nats", &self.nats.as_ref().map(|n| &n.stream))
            .field("consumers", &self.consumers())
            .finish_non_exhaustive()
    }
}

impl EventLog {
    /// Opens the log of `region`: loads the feed state from the store and starts the appender,
    /// the feed-state consumer, one task per consumer of `consumers` and, with `nats_url`, the
    /// relay to JetStream (each consumer then reads its own durable JetStream consumer).
    pub async fn start(
        region: &RegionId,
        store: &CellStore,
        feed: &FeedConfig,
        nats_url: Option<&str>,
        nats_namespace: &str,
        consumers: Vec<Arc<dyn EventConsumer>>,
    ) -> Result<EventLog, EventsError> {
        // Check every name before anything starts, so a bad list starts nothing.
        let mut names = vec![FEED_CONSUMER];
        for c in &consumers {
            check_name(c.name())?;
            if names.contains(&c.name()) {
                return Err(EventsError::Internal(format!(
                    "two event consumers are named {:?}",
                    c.name()
                )));
            }
            names.push(c.name());
        }
        let half_life_ms = (feed.trending_half_life_hours * 3_600_000.0) as i64;
        let state = Arc::new(FeedState::load(store, half_life_ms).await?);
        let nats = match nats_url {
            Some(url) => Some(NatsLink::connect(url, nats_namespace, region).await?),
            None => None,
        };
        let last = store.last_event_seq().await?;
        let (committed_tx, committed) = watch::channel(last);
        let (sender, receiver) = mpsc::channel(8 * MAX_BATCH);
        let log = EventLog {
            sender,
            state: state.clone(),
            nats,
            store: store.clone(),
            committed,
            running: Mutex::new(Running::default()),
        };
        log.push_task(tokio::spawn(appender(
            store.clone(),
            receiver,
            last,
            committed_tx,
        )));
        if let Some(link) = &log.nats {
            log.push_task(tokio::spawn(relay(
                store.clone(),
                link.clone(),
                log.committed.clone(),
            )));
        }
        // If a consumer cannot start (its position or its JetStream consumer is unreachable),
        // dropping `log` stops whatever already started.
        log.subscribe(Arc::new(FeedStateConsumer { state })).await?;
        for c in consumers {
            log.subscribe(c).await?;
        }
        Ok(log)
    }

    /// Starts one more consumer on a running log: it resumes after its durable position (the
    /// beginning of the log the first time). Fails if the name is invalid or taken.
    pub async fn subscribe(&self, consumer: Arc<dyn EventConsumer>) -> Result<(), EventsError> {
        let name = consumer.name().to_owned();
        check_name(&name)?;
        let (progress, watcher) = watch::channel(0);
        {
            let mut running = self.lock();
            if running.stopped {
                return Err(EventsError::Internal("the event log is stopped".into()));
            }
            if running.progress.contains_key(&name) {
                return Err(EventsError::Internal(format!(
                    "an event consumer named {name:?} is already running"
                )));
            }
            // Taken now, so that a concurrent subscribe under the same name fails.
            running.progress.insert(name.clone(), watcher);
        }
        let started = async {
            let runner = Runner::load(&self.store, consumer, progress).await?;
            Ok::<_, EventsError>(match &self.nats {
                None => tokio::spawn(consume_store(
                    self.store.clone(),
                    runner,
                    self.committed.clone(),
                )),
                Some(link) => {
                    let pull = link.durable_consumer(&name).await?;
                    tokio::spawn(consume_nats(self.store.clone(), runner, pull))
                }
            })
        }
        .await;
        let mut running = self.lock();
        match started {
            Ok(task) if !running.stopped => {
                running.tasks.push(task);
                Ok(())
            }
            Ok(task) => {
                task.abort();
                running.progress.remove(&name);
                Err(EventsError::Internal("the event log is stopped".into()))
            }
            Err(e) => {
                running.progress.remove(&name);
                Err(e)
            }
        }
    }

    /// The names of the running consumers, sorted.
    pub fn consumers(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().progress.keys().cloned().collect();
        names.sort();
        names
    }

    /// The last event `consumer` has applied (durably), or `None` if no consumer of that name
    /// runs here.
    pub fn position(&self, consumer: &str) -> Option<i64> {
        self.lock().progress.get(consumer).map(|p| *p.borrow())
    }

    /// Waits until `consumer` has applied the event `seq` (or `timeout` passes); true when it
    /// has.
    pub async fn wait_position(&self, consumer: &str, seq: i64, timeout: Duration) -> bool {
        let Some(mut progress) = self.lock().progress.get(consumer).cloned() else {
            return false;
        };
        tokio::time::timeout(timeout, progress.wait_for(|p| *p >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Running> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push_task(&self, task: JoinHandle<()>) {
        self.lock().tasks.push(task);
    }

    /// Appends an event; returns once it is durable in the region store.
    pub async fn append(&self, event: NewEvent) -> Result<EventRow, EventsError> {
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            event,
            at_ms: reelm_core::now_ms(),
            done,
        };
        self.sender
            .send(pending)
            .await
            .map_err(|_| EventsError::Internal("the event log is closed".into()))?;
        answer
            .await
            .map_err(|_| EventsError::Internal("the event log stopped".into()))?
            .map_err(|e| EventsError::Internal(format!("cannot append to the event log: {e}")))
    }

    /// Removes a person's events from the NATS stream (the store rows go with the rest of
    /// their behavioral data on erasure).
    pub async fn forget(&self, user: UserId) -> Result<(), EventsError> {
        if let Some(link) = &self.nats {
            link.purge_person(user)
                .await
                .map_err(|e| EventsError::Internal(e.to_string()))?;
        }
        Ok(())
    }

    /// Deletes the region's JetStream stream (for throw-away deployments such as the
    /// benchmarks; a real region keeps its stream).
    pub async fn delete_nats_stream(&self) -> Result<(), EventsError> {
        if let Some(link) = &self.nats {
            link.js.delete_stream(&link.stream).await.map_err(|e| {
                EventsError::Internal(format!("delete stream {}: {e}", link.stream))
            })?;
        }
        Ok(())
    }

    /// True when the log is also a JetStream stream.
    pub fn uses_nats(&self) -> bool {
        self.nats.is_some()
    }

    /// Stops the tasks. Anything committed stays; a consumer batch that did not commit is
    /// applied again on the next start.
    pub fn stop(&self) {
        let mut running = self.lock();
        running.stopped = true;
        for t in &running.tasks {
            t.abort();
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Group commit: every pending append that is waiting when a transaction starts joins it.
async fn appender(
    store: CellStore,
    mut receiver: mpsc::Receiver<Pending>,
    mut last_seq: i64,
    committed: watch::Sender<i64>,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let rows: Vec<EventRow> = batch
            .iter()
            .zip(last_seq + 1..)
            .map(|(p, seq)| EventRow {
                seq,
                user: p.event.user,
                video: p.event.video,
                kind: p.event.kind,
                watch_ms: p.event.watch_ms,
                at_ms: p.at_ms,
            })
            .collect();
        match store.append_events(&rows).await {
            Ok(()) => {
                last_seq += rows.len() as i64;
                committed.send_replace(last_seq);
                for (p, row) in batch.into_iter().zip(rows) {
                    let _ = p.done.send(Ok(row));
                }
            }
            Err(e) => {
                // A failed transaction wrote nothing: the numbers are free for the next batch.
                let message = e.to_string();
                tracing::warn!(error = %message, "event log append failed");
                for p in batch {
                    let _ = p.done.send(Err(message.clone()));
                }
            }
        }
    }
}

/// The region's feed state: regional statistics and co-engagement, current up to
/// [`FeedState::position`].
#[derive(Debug)]
pub struct FeedState {
    inner: RwLock<Inner>,
    applied: watch::Sender<i64>,
    pub half_life_ms: i64,
}

#[derive(Debug, Default)]
struct Inner {
    stats: HashMap<VideoId, VideoStats>,
    co: HashMap<VideoId, Vec<(VideoId, i64)>>,
    /// Other regions' k-anonymous aggregates, received through the transfer gateway (see
    /// `share_aggregates` in the recommender), by source region.
    imported: HashMap<RegionId, Imported>,
}

/// What one region shared: co-engagement pairs and distinct viewers per video, each from at
/// least k distinct people of that region.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Imported {
    pub co: HashMap<VideoId, Vec<(VideoId, i64)>>,
    pub viewers: HashMap<VideoId, i64>,
}

impl Imported {
    /// The smallest number of distinct people behind any shared value (0 when empty): what
    /// the residency policy's k-anonymity minimum is checked against, by the sender and again
    /// by the receiver.
    pub fn fewest_people(&self) -> u64 {
        self.co
            .values()
            .flatten()
            .map(|(_, n)| *n)
            .chain(self.viewers.values().copied())
            .min()
            .unwrap_or(0)
            .max(0) as u64
    }
}

impl FeedState {
    async fn load(store: &CellStore, half_life_ms: i64) -> Result<FeedState, EventsError> {
        let position = store.consumer_position(FEED_CONSUMER).await?;
        let mut inner = Inner {
            stats: store.all_video_stats().await?.into_iter().collect(),
            ..Default::default()
        };
        for (a, b, n) in store.all_co_engagement().await? {
            inner.co.entry(a).or_default().push((b, n));
        }
        for list in inner.co.values_mut() {
            trim(list);
        }
        Ok(FeedState {
            inner: RwLock::new(inner),
            applied: watch::channel(position).0,
            half_life_ms,
        })
    }

    /// The last event whose effects are in this state.
    pub fn position(&self) -> i64 {
        *self.applied.borrow()
    }

    /// Waits until the event `seq` is applied (or `timeout` passes); true when it is.
    pub async fn wait_applied(&self, seq: i64, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn apply(&self, changes: FeedChanges, position: i64) {
        if let Ok(mut inner) = self.inner.write() {
            for (id, s) in changes.stats {
                inner.stats.insert(id, s);
            }
            for (a, b, n) in changes.pairs {
                let list = inner.co.entry(a).or_default();
                match list.iter_mut().find(|(v, _)| *v == b) {
                    Some(entry) => entry.1 += n,
                    None => list.push((b, n)),
                }
                if list.len() > CO_NEIGHBOURS * 2 {
                    trim(list);
                }
            }
        }
        self.applied.send_replace(position);
    }

    /// The regional statistics of a video (zero when nobody here has seen it).
    pub fn stats(&self, video: VideoId) -> VideoStats {
        self.inner
            .read()
            .ok()
            .and_then(|i| i.stats.get(&video).copied())
            .unwrap_or_default()
    }

    /// The videos most often engaged by the same people as `video`, strongest first:
    /// `(video, distinct people)`, this region's people only.
    pub fn co_engaged(&self, video: VideoId) -> Vec<(VideoId, i64)> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let mut list = inner.co.get(&video).cloned().unwrap_or_default();
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        list.truncate(CO_NEIGHBOURS);
        list
    }

    /// [`FeedState::co_engaged`] plus what other regions shared (people of different regions
    /// are different people, so the counts add up), and the matching distinct-viewer counts:
    /// `(video, people, viewers of video)`.
    pub fn co_engaged_with_imports(&self, video: VideoId) -> Vec<(VideoId, i64, i64)> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let mut people: HashMap<VideoId, i64> = HashMap::new();
        for (v, n) in inner.co.get(&video).into_iter().flatten() {
            *people.entry(*v).or_default() += n;
        }
        for imported in inner.imported.values() {
            for (v, n) in imported.co.get(&video).into_iter().flatten() {
                *people.entry(*v).or_default() += n;
            }
        }
        let viewers = |v: &VideoId| {
            inner.stats.get(v).map(|s| s.viewers).unwrap_or(0)
                + inner
                    .imported
                    .values()
                    .map(|i| i.viewers.get(v).copied().unwrap_or(0))
                    .sum::<i64>()
        };
        let mut list: Vec<(VideoId, i64, i64)> = people
            .into_iter()
            .map(|(v, n)| (v, n, viewers(&v)))
            .collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        list.truncate(CO_NEIGHBOURS);
        list
    }

    /// Distinct viewers of a video here plus in the regions that shared theirs.
    pub fn viewers_with_imports(&self, video: VideoId) -> i64 {
        let Ok(inner) = self.inner.read() else {
            return 0;
        };
        inner.stats.get(&video).map(|s| s.viewers).unwrap_or(0)
            + inner
                .imported
                .values()
                .map(|i| i.viewers.get(&video).copied().unwrap_or(0))
                .sum::<i64>()
    }

    /// This region's aggregates that rest on at least `k` distinct people: what it may share.
    pub fn shareable(&self, k: i64) -> Imported {
        let Ok(inner) = self.inner.read() else {
            return Imported::default();
        };
        let co = inner
            .co
            .iter()
            .filter_map(|(a, list)| {
                let kept: Vec<(VideoId, i64)> =
                    list.iter().copied().filter(|(_, n)| *n >= k).collect();
                (!kept.is_empty()).then_some((*a, kept))
            })
            .collect();
        let viewers = inner
            .stats
            .iter()
            .filter(|(_, s)| s.viewers >= k)
            .map(|(v, s)| (*v, s.viewers))
            .collect();
        Imported { co, viewers }
    }

    /// Replaces what `from` shared last time.
    pub fn set_imported(&self, from: RegionId, imported: Imported) {
        if let Ok(mut inner) = self.inner.write() {
            inner.imported.insert(from, imported);
        }
    }

    /// The region's trending videos: at least `min_viewers` distinct viewers, by decayed
    /// engagement, strongest first.
    pub fn trending(&self, now_ms: i64, min_viewers: i64, limit: usize) -> Vec<(VideoId, f64)> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let mut list: Vec<(VideoId, f64)> = inner
            .stats
            .iter()
            .filter(|(_, s)| s.viewers >= min_viewers)
            .map(|(v, s)| (*v, s.trend_now(now_ms, self.half_life_ms)))
            .collect();
        list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        list.truncate(limit);
        list
    }
}

/// Keeps the strongest [`CO_NEIGHBOURS`] of a neighbour list.
fn trim(list: &mut Vec<(VideoId, i64)>) {
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    list.truncate(CO_NEIGHBOURS);
}

// ---- NATS JetStream -----------------------------------------------------------------------

#[derive(Clone)]
struct NatsLink {
    /// For error messages only, so kept with its credentials redacted.
    url: String,
    js: async_nats::jetstream::Context,
    stream: String,
    /// `<namespace>.<region>.events`; a person's events are under `.<user id>`.
    subject_prefix: String,
}

impl NatsLink {
    async fn connect(
        url: &str,
        namespace: &str,
        region: &RegionId,
    ) -> Result<NatsLink, EventsError> {
        // The URL may carry a NATS user and password or token; errors end up in logs.
        let err = |message: String| EventsError::Nats {
            url: reelm_core::sensitive::redact_url(url),
            message,
        };
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| err(format!("cannot connect: {e}")))?;
        let js = async_nats::jetstream::new(client);
        let stream = format!(
            "{}_EVENTS_{}",
            namespace.to_uppercase().replace('-', "_"),
            region.as_str().to_uppercase().replace('-', "_")
        );
        let subject_prefix = format!("{namespace}.{}.events", region.as_str());
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{subject_prefix}.>")],
            storage: async_nats::jetstream::stream::StorageType::File,
            // Behavioral data is not kept longer than the feed needs it.
            max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| err(format!("cannot create stream {stream}: {e}")))?;
        Ok(NatsLink {
            url: reelm_core::sensitive::redact_url(url),
            js,
            stream,
            subject_prefix,
        })
    }

    fn err(&self, message: String) -> EventsError {
        EventsError::Nats {
            url: self.url.clone(),
            message,
        }
    }

    /// The durable pull consumer of the stream named after an event consumer (created the
    /// first time, from the beginning of the stream; the event consumer skips what it
    /// already applied).
    async fn durable_consumer(
        &self,
        name: &str,
    ) -> Result<async_nats::jetstream::consumer::PullConsumer, EventsError> {
        use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| self.err(format!("stream {}: {e}", self.stream)))?;
        stream
            .get_or_create_consumer(
                name,
                pull::Config {
                    durable_name: Some(name.into()),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::All,
                    ack_wait: Duration::from_secs(30),
                    max_ack_pending: 100_000,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| self.err(format!("consumer {name}: {e}")))
    }

    async fn publish(&self, events: &[EventRow]) -> Result<(), EventsError> {
        let mut acks = Vec::with_capacity(events.len());
        for e in events {
            let payload =
                serde_json::to_vec(e).map_err(|err| self.err(format!("encode event: {err}")))?;
            let publish = async_nats::jetstream::message::PublishMessage::build()
                .payload(payload.into())
                .message_id(format!("{}:{}", self.stream, e.seq));
            let ack = self
                .js
                .send_publish(format!("{}.{}", self.subject_prefix, e.user.0), publish)
                .await
                .map_err(|err| self.err(format!("publish: {err}")))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await
                .map_err(|err| self.err(format!("publish not acknowledged: {err}")))?;
        }
        Ok(())
    }

    async fn purge_person(&self, user: UserId) -> Result<(), EventsError> {
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| self.err(format!("stream {}: {e}", self.stream)))?;
        stream
            .purge()
            .filter(format!("{}.{}", self.subject_prefix, user.0))
            .await
            .map_err(|e| self.err(format!("purge: {e}")))?;
        Ok(())
    }
}

/// Forwards the store's log to JetStream in order. At least once: after a crash it republishes
/// from its last recorded position, and JetStream drops repeats by message id (the consumer
/// also skips any event at or below its own position).
async fn relay(store: CellStore, link: NatsLink, mut committed: watch::Receiver<i64>) {
    let mut position = match store.consumer_position(RELAY_CONSUMER).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "NATS relay cannot read its position; not relaying");
            return;
        }
    };
    loop {
        committed.borrow_and_update();
        let events = match store.events_after(position, MAX_BATCH as i64).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "NATS relay cannot read the log");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Some(last) = events.last().map(|e| e.seq) else {
            if committed.changed().await.is_err() {
                return;
            }
            continue;
        };
        if let Err(e) = link.publish(&events).await {
            tracing::warn!(error = %e, "NATS relay: publish failed, will retry");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        if let Err(e) = store.set_consumer_position(RELAY_CONSUMER, last).await {
            tracing::warn!(error = %e, "NATS relay cannot record its position");
        }
        position = last;
    }
}
