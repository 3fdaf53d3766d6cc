//! The region's behavioral event log and the feed state its consumer maintains.
//!
//! `event_log` is append-only and ordered by `seq`, which the cell's single appender assigns
//! in commit order: a consumer that has applied everything up to `position` reads
//! `seq > position` and can never skip an event that committed late. A consumer applies a
//! batch of events and moves its position in **one transaction**, so after a crash it resumes
//! exactly where its last commit ended: nothing is lost, nothing is counted twice.

use crate::cell::{CellStore, placeholders};
use crate::db::{StoreError, values_rows};
use reelm_core::{UserId, VideoId};
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

/// What a person did to a video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A view that stopped before the end (`watch_ms` says how long).
    View,
    /// A view watched to the end.
    Complete,
    Like,
    Unlike,
    Share,
    Comment,
    NotInterested,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::View,
        EventKind::Complete,
        EventKind::Like,
        EventKind::Unlike,
        EventKind::Share,
        EventKind::Comment,
        EventKind::NotInterested,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::View => "view",
            EventKind::Complete => "complete",
            EventKind::Like => "like",
            EventKind::Unlike => "unlike",
            EventKind::Share => "share",
            EventKind::Comment => "comment",
            EventKind::NotInterested => "not_interested",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn is_view(self) -> bool {
        matches!(self, EventKind::View | EventKind::Complete)
    }
}

/// A view at least this long counts as engagement even when it did not complete.
pub const LONG_WATCH_MS: i64 = 3_000;
/// A view shorter than this that did not complete is a skip.
pub const SKIP_MS: i64 = 1_500;
/// How many of a person's previous engagements a new one is paired with for co-engagement.
pub const CO_ENGAGEMENT_WINDOW: i64 = 20;

/// The SQL condition for "this row is a positive engagement" (kept in one place with
/// [`EventRow::is_positive`]).
const POSITIVE_SQL: &str =
    "(kind IN ('complete', 'like', 'share', 'comment') OR (kind = 'view' AND watch_ms >= 3000))";

/// One event of the log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventRow {
    pub seq: i64,
    pub user: UserId,
    pub video: VideoId,
    pub kind: EventKind,
    /// Watch time of a view; 0 for other kinds.
    pub watch_ms: i64,
    pub at_ms: i64,
}

impl EventRow {
    /// A completed or long view, a like, a share or a comment.
    pub fn is_positive(&self) -> bool {
        match self.kind {
            EventKind::Complete | EventKind::Like | EventKind::Share | EventKind::Comment => true,
            EventKind::View => self.watch_ms >= LONG_WATCH_MS,
            EventKind::Unlike | EventKind::NotInterested => false,
        }
    }

    /// The event's contribution to a video's trending score.
    pub fn trend_weight(&self) -> f64 {
        match self.kind {
            EventKind::View if self.watch_ms < SKIP_MS => 0.2,
            EventKind::View => 1.0,
            EventKind::Complete => 3.0,
            EventKind::Like => 4.0,
            EventKind::Comment => 4.0,
            EventKind::Share => 6.0,
            EventKind::Unlike => -4.0,
            EventKind::NotInterested => -2.0,
        }
    }
}

/// A video's statistics among this region's people.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VideoStats {
    /// Distinct people who viewed it.
    pub viewers: i64,
    pub views: i64,
    pub completions: i64,
    pub skips: i64,
    pub likes: i64,
    pub shares: i64,
    pub comments: i64,
    /// Time-decayed engagement as of `trend_at` (see [`VideoStats::trend_now`]).
    pub trend: f64,
    pub trend_at: i64,
}

impl VideoStats {
    /// The trending score decayed to `now_ms` with the given half-life.
    pub fn trend_now(&self, now_ms: i64, half_life_ms: i64) -> f64 {
        decay(self.trend, now_ms - self.trend_at, half_life_ms)
    }
}

fn decay(value: f64, elapsed_ms: i64, half_life_ms: i64) -> f64 {
    if elapsed_ms <= 0 || half_life_ms <= 0 {
        return value;
    }
    value * 0.5f64.powf(elapsed_ms as f64 / half_life_ms as f64)
}

/// What one applied batch changed, for the in-memory copy of the feed state.
#[derive(Debug, Default)]
pub struct FeedChanges {
    /// The new statistics of every video the batch touched.
    pub stats: Vec<(VideoId, VideoStats)>,
    /// Increments of co-engagement pairs (both directions are listed).
    pub pairs: Vec<(VideoId, VideoId, i64)>,
}

const EVENT_COLUMNS: &str = "seq, user_id, video_id, kind, watch_ms, at_ms";
const STATS_COLUMNS: &str =
    "video_id, viewers, views, completions, skips, likes, shares, comments, trend, trend_at";

fn event_from(r: &sqlx::any::AnyRow) -> Result<EventRow, StoreError> {
    let kind: String = r.get(3);
    let kind = EventKind::parse(&kind).ok_or_else(|| {
        StoreError::Db(sqlx::Error::Decode(
            format!("unknown event kind {kind:?}").into(),
        ))
    })?;
    Ok(EventRow {
        seq: r.get(0),
        user: UserId(r.get(1)),
        video: VideoId(r.get(2)),
        kind,
        watch_ms: r.get(4),
        at_ms: r.get(5),
    })
}

fn stats_from(r: &sqlx::any::AnyRow) -> (VideoId, VideoStats) {
    (
        VideoId(r.get(0)),
        VideoStats {
            viewers: r.get(1),
            views: r.get(2),
            completions: r.get(3),
            skips: r.get(4),
            likes: r.get(5),
            shares: r.get(6),
            comments: r.get(7),
            trend: r.get(8),
            trend_at: r.get(9),
        },
    )
}

impl CellStore {
    /// The highest sequence number in the log (0 when empty).
    pub async fn last_event_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT MAX(seq) FROM event_log")
            .fetch_one(&self.db.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
    }

    /// Appends events (their `seq` already assigned, increasing) in one transaction. Views
    /// also land in `view_events`, the person's viewing history, in the same transaction.
    pub async fn append_events(&self, events: &[EventRow]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.pool.begin().await?;
        // 6 columns: at most 1,500 rows per statement keeps parameters below 9,000.
        for batch in events.chunks(1_500) {
            let sql = format!(
                "INSERT INTO event_log ({EVENT_COLUMNS}) VALUES {}",
                values_rows(self.db.dialect, batch.len(), 6)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for e in batch {
                q = q
                    .bind(e.seq)
                    .bind(e.user.0)
                    .bind(e.video.0)
                    .bind(e.kind.as_str())
                    .bind(e.watch_ms)
                    .bind(e.at_ms);
            }
            q.execute(&mut *tx).await?;
            let views: Vec<&EventRow> = batch.iter().filter(|e| e.kind.is_view()).collect();
            if !views.is_empty() {
                let sql = format!(
                    "INSERT INTO view_events (id, user_id, video_id, watch_ms, completed, created_at) VALUES {}",
                    values_rows(self.db.dialect, views.len(), 6)
                );
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for e in views {
                    q = q
                        .bind(reelm_core::ids::next_id())
                        .bind(e.user.0)
                        .bind(e.video.0)
                        .bind(e.watch_ms)
                        .bind(i64::from(e.kind == EventKind::Complete))
                        .bind(e.at_ms);
                }
                q.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` events after `position`, in order.
    pub async fn events_after(
        &self,
        position: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM event_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        )))
        .bind(position)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?
        .iter()
        .map(event_from)
        .collect()
    }

    /// How far `consumer` has durably applied the log (0 when it never ran).
    pub async fn consumer_position(&self, consumer: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT position FROM consumer_positions WHERE consumer = $1")
            .bind(consumer)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| r.get(0)).unwrap_or(0))
    }

    /// Records `position` for a consumer whose effects live outside this store (the relay to
    /// NATS): it is at-least-once, and whoever reads downstream deduplicates by `seq`.
    pub async fn set_consumer_position(
        &self,
        consumer: &str,
        position: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consumer_positions (consumer, position, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(position)
        .bind(reelm_core::now_ms())
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Every video's regional statistics.
    pub async fn all_video_stats(&self) -> Result<Vec<(VideoId, VideoStats)>, StoreError> {
        Ok(sqlx::query(AssertSqlSafe(format!(
            "SELECT {STATS_COLUMNS} FROM video_stats"
        )))
        .fetch_all(&self.db.pool)
        .await?
        .iter()
        .map(stats_from)
        .collect())
    }

    /// Every co-engagement pair `(a, b, people)`.
    pub async fn all_co_engagement(&self) -> Result<Vec<(VideoId, VideoId, i64)>, StoreError> {
        Ok(
            sqlx::query("SELECT video_a, video_b, people FROM co_engagement")
                .fetch_all(&self.db.pool)
                .await?
                .iter()
                .map(|r| (VideoId(r.get(0)), VideoId(r.get(1)), r.get(2)))
                .collect(),
        )
    }

    /// Applies `events` (in seq order, all after the consumer's position) to the feed state
    /// and moves the consumer's position to the last one, in one transaction. Events at or
    /// before the stored position are skipped, so a redelivered batch changes nothing.
    pub async fn apply_feed_events(
        &self,
        consumer: &str,
        events: &[EventRow],
        trend_half_life_ms: i64,
    ) -> Result<FeedChanges, StoreError> {
        let mut tx = self.db.pool.begin().await?;
        // Write first: on SQLite a transaction that reads and then writes fails with
        // SQLITE_BUSY_SNAPSHOT if another writer (the appender) committed in between; a
        // transaction that starts with a write waits for the lock instead.
        sqlx::query(
            "INSERT INTO consumer_positions (consumer, position, updated_at) VALUES ($1, 0, $2)
             ON CONFLICT (consumer) DO UPDATE SET updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(reelm_core::now_ms())
        .execute(&mut *tx)
        .await?;
        let position: i64 =
            sqlx::query("SELECT position FROM consumer_positions WHERE consumer = $1")
                .bind(consumer)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.get(0))
                .unwrap_or(0);
        let events: Vec<&EventRow> = events.iter().filter(|e| e.seq > position).collect();
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(FeedChanges::default());
        };
        let mut touched: Vec<i64> = events.iter().map(|e| e.video.0).collect();
        touched.sort_unstable();
        touched.dedup();
        let mut stats: HashMap<VideoId, VideoStats> = HashMap::new();
        for chunk in touched.chunks(500) {
            let sql = format!(
                "SELECT {STATS_COLUMNS} FROM video_stats WHERE video_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&mut *tx).await? {
                let (id, s) = stats_from(&r);
                stats.insert(id, s);
            }
        }
        let mut pairs: HashMap<(VideoId, VideoId), i64> = HashMap::new();
        for e in &events {
            let s = stats.entry(e.video).or_insert(VideoStats {
                trend_at: e.at_ms,
                ..Default::default()
            });
            if e.kind.is_view() {
                let earlier: i64 = sqlx::query(
                    "SELECT COUNT(*) FROM event_log WHERE user_id = $1 AND video_id = $2
                     AND seq < $3 AND kind IN ('view', 'complete')",
                )
                .bind(e.user.0)
                .bind(e.video.0)
                .bind(e.seq)
                .fetch_one(&mut *tx)
                .await?
                .get(0);
                if earlier == 0 {
                    s.viewers += 1;
                }
                s.views += 1;
                match e.kind {
                    EventKind::Complete => s.completions += 1,
                    _ if e.watch_ms < SKIP_MS => s.skips += 1,
                    _ => {}
                }
            }
            match e.kind {
                EventKind::Like => s.likes += 1,
                EventKind::Unlike => s.likes = (s.likes - 1).max(0),
                EventKind::Share => s.shares += 1,
                EventKind::Comment => s.comments += 1,
                _ => {}
            }
            let at = e.at_ms.max(s.trend_at);
            s.trend = (decay(s.trend, at - s.trend_at, trend_half_life_ms)
                + decay(e.trend_weight(), at - e.at_ms, trend_half_life_ms))
            .max(0.0);
            s.trend_at = at;
            if e.is_positive() {
                // Pair only on the person's first engagement with this video, so each person
                // adds at most one to a pair: `people` counts distinct people.
                let before: i64 = sqlx::query(AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM event_log WHERE user_id = $1 AND video_id = $2
                     AND seq < $3 AND {POSITIVE_SQL}"
                )))
                .bind(e.user.0)
                .bind(e.video.0)
                .bind(e.seq)
                .fetch_one(&mut *tx)
                .await?
                .get(0);
                if before == 0 {
                    let previous = sqlx::query(AssertSqlSafe(format!(
                        "SELECT video_id, MAX(seq) AS latest FROM event_log
                         WHERE user_id = $1 AND seq < $2 AND video_id <> $3 AND {POSITIVE_SQL}
                         GROUP BY video_id ORDER BY latest DESC LIMIT $4"
                    )))
                    .bind(e.user.0)
                    .bind(e.seq)
                    .bind(e.video.0)
                    .bind(CO_ENGAGEMENT_WINDOW)
                    .fetch_all(&mut *tx)
                    .await?;
                    for r in previous {
                        let other = VideoId(r.get(0));
                        *pairs.entry((other, e.video)).or_default() += 1;
                        *pairs.entry((e.video, other)).or_default() += 1;
                    }
                }
            }
        }
        let stats: Vec<(VideoId, VideoStats)> = stats.into_iter().collect();
        for batch in stats.chunks(800) {
            let sql = format!(
                "INSERT INTO video_stats ({STATS_COLUMNS}) VALUES {}
                 ON CONFLICT (video_id) DO UPDATE SET viewers = excluded.viewers,
                 views = excluded.views, completions = excluded.completions,
                 skips = excluded.skips, likes = excluded.likes, shares = excluded.shares,
                 comments = excluded.comments, trend = excluded.trend,
                 trend_at = excluded.trend_at",
                values_rows(self.db.dialect, batch.len(), 10)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (id, s) in batch {
                q = q
                    .bind(id.0)
                    .bind(s.viewers)
                    .bind(s.views)
                    .bind(s.completions)
                    .bind(s.skips)
                    .bind(s.likes)
                    .bind(s.shares)
                    .bind(s.comments)
                    .bind(s.trend)
                    .bind(s.trend_at);
            }
            q.execute(&mut *tx).await?;
        }
        let pairs: Vec<(VideoId, VideoId, i64)> =
            pairs.into_iter().map(|((a, b), n)| (a, b, n)).collect();
        for batch in pairs.chunks(2_000) {
            let sql = format!(
                "INSERT INTO co_engagement (video_a, video_b, people) VALUES {}
                 ON CONFLICT (video_a, video_b) DO UPDATE SET people = co_engagement.people + excluded.people",
                values_rows(self.db.dialect, batch.len(), 3)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (a, b, n) in batch {
                q = q.bind(a.0).bind(b.0).bind(*n);
            }
            q.execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO consumer_positions (consumer, position, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(last)
        .bind(reelm_core::now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(FeedChanges { stats, pairs })
    }
}
