//! Named consumers of the log: the [`EventConsumer`] trait a subsystem implements, and the
//! task that feeds one consumer from the store log or from its own JetStream consumer.
//!
//! Every consumer has its own durable position (`consumer_positions` under its name) and its
//! own task, so a slow or failing consumer only delays itself: the appender and the other
//! consumers go on, and the stuck batch is retried with backoff until it applies.

use crate::{EventsError, FEED_CONSUMER, FeedState, MAX_BATCH, RELAY_CONSUMER};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use reelm_store::{CellStore, EventRow};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How a consumer's position moves with its effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// [`EventConsumer::apply`] commits the batch's effects **and** the consumer's position
    /// (the last event's `seq`, in `consumer_positions` under [`EventConsumer::name`]) in one
    /// store transaction, and skips events at or below the stored position inside that
    /// transaction. Nothing is applied twice, even after a crash between commit and
    /// acknowledgement. The effects must live in the region store, written by a store method
    /// of the subsystem's own (see `CellStore::apply_feed_events` for the feed state).
    ExactlyOnce,
    /// The log records the position itself, right after [`EventConsumer::apply`] returns
    /// `Ok`. A crash (or [`EventLog::stop`](crate::EventLog::stop)) between the two hands the
    /// batch to the consumer again on the next start, so effects must tolerate a repeat
    /// (idempotent writes, approximate counters, notifications deduplicated by `seq`).
    AtLeastOnce,
}

/// A subsystem that reads the region's event log (fake-engagement detection, experiment
/// metrics, notifications, ...). Pass it to [`EventLog::start`](crate::EventLog::start) or
/// [`EventLog::subscribe`](crate::EventLog::subscribe); the log never needs to change.
///
/// The log guarantees, per consumer: batches arrive in `seq` order, every event after the
/// consumer's durable position is eventually handed over (a failed batch is retried with
/// backoff, the same events again), and an event at or below the position is never handed
/// over again, whatever NATS redelivers. A consumer added to a region that already has a log
/// starts at position 0, i.e. with the whole log (with NATS: whatever the stream still holds).
pub trait EventConsumer: Send + Sync + 'static {
    /// The consumer's durable identity: its row in `consumer_positions` and, with NATS, the
    /// name of its JetStream durable consumer. 1 to 64 characters of `A-Z a-z 0-9 - _`; never
    /// rename a consumer that ran, or it starts again from the beginning of the log.
    fn name(&self) -> &str;

    /// [`Delivery::AtLeastOnce`] unless the consumer commits its position itself.
    fn delivery(&self) -> Delivery {
        Delivery::AtLeastOnce
    }

    /// Applies a batch (non-empty, increasing `seq`, all after the consumer's position). An
    /// `Err` (or a panic) is logged and the same batch comes again after a backoff.
    fn apply<'a>(
        &'a self,
        store: &'a CellStore,
        events: &'a [EventRow],
    ) -> BoxFuture<'a, Result<(), EventsError>>;
}

/// The built-in consumer that keeps [`FeedState`] current: batch and position in one store
/// transaction, then the changes are published in memory.
pub(crate) struct FeedStateConsumer {
    pub(crate) state: Arc<FeedState>,
}

impl EventConsumer for FeedStateConsumer {
    fn name(&self) -> &str {
        FEED_CONSUMER
    }

    fn delivery(&self) -> Delivery {
        Delivery::ExactlyOnce
    }

    fn apply<'a>(
        &'a self,
        store: &'a CellStore,
        events: &'a [EventRow],
    ) -> BoxFuture<'a, Result<(), EventsError>> {
        async move {
            let changes = store
                .apply_feed_events(FEED_CONSUMER, events, self.state.half_life_ms)
                .await?;
            let last = events.last().map(|e| e.seq).unwrap_or(0);
            self.state.apply(changes, last);
            Ok(())
        }
        .boxed()
    }
}

/// Checks a consumer name: it becomes a JetStream durable name (no `.`, `*`, `>` or spaces)
/// and must not take the relay's row.
pub(crate) fn check_name(name: &str) -> Result<(), EventsError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(EventsError::Internal(format!(
            "invalid event consumer name {name:?}: use 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'"
        )));
    }
    if name == RELAY_CONSUMER {
        return Err(EventsError::Internal(format!(
            "the event consumer name {name:?} is reserved for the NATS relay"
        )));
    }
    Ok(())
}

/// Longest pause between two attempts at a failing batch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One consumer with its position, as its task sees it.
pub(crate) struct Runner {
    consumer: Arc<dyn EventConsumer>,
    /// Cached so that logging does not call into the consumer.
    name: String,
    /// The last event whose effects are durable (what `consumer_positions` says, or ahead of
    /// it by a batch whose position write failed, for an at-least-once consumer).
    position: i64,
    /// Published after every applied batch, for [`EventLog::position`](crate::EventLog::position).
    progress: watch::Sender<i64>,
}

impl Runner {
    /// Loads the consumer's durable position.
    pub(crate) async fn load(
        store: &CellStore,
        consumer: Arc<dyn EventConsumer>,
        progress: watch::Sender<i64>,
    ) -> Result<Runner, EventsError> {
        let name = consumer.name().to_owned();
        let position = store.consumer_position(&name).await?;
        progress.send_replace(position);
        Ok(Runner {
            consumer,
            name,
            position,
            progress,
        })
    }

    /// Hands `events` (in `seq` order) to the consumer, without those at or below its
    /// position, and returns once they are applied: a failure is retried with backoff,
    /// since skipping the batch would lose it.
    pub(crate) async fn deliver(&mut self, store: &CellStore, events: &[EventRow]) {
        let mut backoff = Duration::from_millis(50);
        loop {
            let fresh = &events[events.partition_point(|e| e.seq <= self.position)..];
            let Some(last) = fresh.last().map(|e| e.seq) else {
                return;
            };
            let outcome = AssertUnwindSafe(self.consumer.apply(store, fresh))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(EventsError::Internal("the consumer panicked".into())));
            match outcome {
                Ok(()) => {
                    if self.consumer.delivery() == Delivery::AtLeastOnce
                        && let Err(e) = store.set_consumer_position(&self.name, last).await
                    {
                        // The next batch's write covers this one; until then a restart hands
                        // this batch over again, which an at-least-once consumer accepts.
                        tracing::warn!(consumer = %self.name, error = %e, "cannot record the consumer's position");
                    }
                    self.advance(last);
                    return;
                }
                Err(e) => {
                    tracing::warn!(
                        consumer = %self.name, error = %e, retry_in = ?backoff,
                        "event consumer: batch not applied, will retry"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    // An exactly-once consumer may have committed and then failed to say so:
                    // its stored position is the truth, and what it covers is not handed over
                    // again.
                    if self.consumer.delivery() == Delivery::ExactlyOnce
                        && let Ok(stored) = store.consumer_position(&self.name).await
                    {
                        self.advance(stored);
                    }
                }
            }
        }
    }

    fn advance(&mut self, position: i64) {
        if position > self.position {
            self.position = position;
            self.progress.send_replace(position);
        }
    }
}

/// Tails `event_log` after the consumer's position, woken by the appender's commits.
pub(crate) async fn consume_store(
    store: CellStore,
    mut runner: Runner,
    mut committed: watch::Receiver<i64>,
) {
    loop {
        // Mark the current commit as seen *before* reading, so a commit that lands while we
        // read wakes us up again.
        committed.borrow_and_update();
        match store.events_after(runner.position, MAX_BATCH as i64).await {
            Ok(events) if events.is_empty() => {
                if committed.changed().await.is_err() {
                    return;
                }
            }
            Ok(events) => runner.deliver(&store, &events).await,
            Err(e) => {
                tracing::warn!(consumer = %runner.name, error = %e, "event consumer cannot read the log");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Reads the consumer's own JetStream durable consumer: takes what has arrived (up to a
/// batch), hands it over, and only then acknowledges (acknowledging first could lose it).
pub(crate) async fn consume_nats(
    store: CellStore,
    mut runner: Runner,
    consumer: async_nats::jetstream::consumer::PullConsumer,
) {
    loop {
        let mut messages = match consumer.messages().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(consumer = %runner.name, error = %e, "NATS consumer cannot pull; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(first) = messages.next().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match messages.next().now_or_never() {
                    Some(Some(m)) => batch.push(m),
                    _ => break,
                }
            }
            let mut events = Vec::with_capacity(batch.len());
            let mut last_message = None;
            for m in batch {
                match m {
                    Ok(m) => {
                        match serde_json::from_slice::<EventRow>(&m.payload) {
                            Ok(e) => events.push(e),
                            Err(e) => tracing::warn!(
                                consumer = %runner.name, error = %e, "skipping an undecodable event"
                            ),
                        }
                        last_message = Some(m);
                    }
                    Err(e) => {
                        tracing::warn!(consumer = %runner.name, error = %e, "NATS consumer: bad message")
                    }
                }
            }
            events.sort_by_key(|e| e.seq);
            events.dedup_by_key(|e| e.seq);
            runner.deliver(&store, &events).await;
            // The ack policy is "all": one ack covers every earlier message.
            if let Some(m) = last_message
                && let Err(e) = m.ack().await
            {
                tracing::warn!(
                    consumer = %runner.name, error = %e,
                    "NATS consumer: ack failed (redelivered events are skipped)"
                );
            }
        }
    }
}
