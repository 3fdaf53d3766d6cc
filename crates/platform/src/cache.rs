//! Per-cell read caches: the feed state a cell keeps in memory so that a feed read costs no
//! database round trip in the common case (sessions, follow lists, each creator's newest
//! videos, display names, a person's likes and "not interested" marks).
//!
//! Writes made through this process update or invalidate the entries they touch at once, so a
//! person always sees their own last action. Every entry also expires after a short
//! time-to-live, which bounds staleness for changes made by another process serving the same
//! cell and for public counters (likes, views) that change under everyone's feet.
//!
//! A cell's cache holds only data of that cell, so caching never moves data across regions.

use crate::views::PersonRef;
use moka::sync::Cache;
use reelm_core::{UserId, VideoId};
use reelm_store::VideoRow;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// One of a person's recent views: (video, watch ms, completed, at epoch ms).
pub type RecentView = (VideoId, i64, bool, i64);

/// What a person said they are not interested in: videos, and creators.
pub type Hidden = (HashSet<VideoId>, HashSet<UserId>);

/// How many of a creator's newest videos are kept in memory per creator.
pub const CREATOR_VIDEOS_CAP: usize = 100;
/// Public counts in cached rows may lag by at most this much.
const TTL: Duration = Duration::from_secs(5);
/// Sessions are re-checked against the store at least this often (a logout in another
/// process takes effect within it).
const SESSION_TTL: Duration = Duration::from_secs(60);

pub struct CellCache {
    /// token hash → (person, session expiry in epoch ms).
    pub sessions: Cache<String, (UserId, i64)>,
    pub followees: Cache<UserId, Arc<Vec<UserId>>>,
    /// creator → their newest published videos in this cell (empty when they have none here).
    pub creator_videos: Cache<UserId, Arc<Vec<VideoRow>>>,
    pub people: Cache<UserId, PersonRef>,
    pub likes: Cache<UserId, Arc<HashSet<VideoId>>>,
    pub not_interested: Cache<UserId, Arc<Hidden>>,
    /// A person's recent views, newest first: (video, watch ms, completed, at).
    pub recent_views: Cache<UserId, Arc<Vec<RecentView>>>,
    /// What the visibility gates know of a person: country and age band (see
    /// [`crate::Session::audience`]).
    pub audiences: Cache<UserId, (Option<String>, Option<crate::gates::AgeBand>)>,
}

impl CellCache {
    pub fn new() -> CellCache {
        fn cache<K, V>(n: u64) -> Cache<K, V>
        where
            K: std::hash::Hash + Eq + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
        {
            Cache::builder().max_capacity(n).time_to_live(TTL).build()
        }
        CellCache {
            sessions: Cache::builder()
                .max_capacity(200_000)
                .time_to_live(SESSION_TTL)
                .build(),
            followees: cache(200_000),
            creator_videos: cache(100_000),
            people: cache(200_000),
            likes: cache(200_000),
            not_interested: cache(200_000),
            recent_views: cache(200_000),
            audiences: cache(200_000),
        }
    }
}

impl Default for CellCache {
    fn default() -> Self {
        Self::new()
    }
}
