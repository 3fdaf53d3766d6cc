//! Keeping the shared For You candidate pool fresh off the request path.
//!
//! Why: rebuilding the pool reads each cell's newest and most liked videos (two indexed
//! queries returning hundreds of full rows per cell, plus the regions' trending videos). Done
//! inside a request, as it used to be, the request that found the pool stale paid for that
//! build every [`CANDIDATES_TTL`] and held store connections and CPU while the feed's other
//! requests queued behind it. A background task now rebuilds the pool on a timer and requests
//! only read it; a new upload is added to the current pool at once instead of forcing a build.
//!
//! A rebuild snapshots [`Platform::candidates_generation`] before it reads the stores. When
//! the pool changed while it read them, an upload added meanwhile is carried over into the new
//! pool, and after an erasure the build is thrown away (it may hold the erased videos; the next
//! request or tick rebuilds), so neither is undone by a build that read the stores before it.

use reelm_core::VideoId;
use reelm_platform::{CellLink, ContentListener, Error, Platform};
use reelm_store::VideoRow;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use tokio::task::JoinHandle;

pub type CandidatePool = Arc<Vec<(CellLink, VideoRow)>>;

/// How long a candidate pool is served before it is rebuilt.
const CANDIDATES_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// How many of the newest and of the most liked videos each cell contributes as For You
/// candidates.
const CANDIDATES_PER_CELL: i64 = 300;

/// The For You candidate pool and the recommender's platform-wide state, kept as a
/// [`Platform::extension`] (see [`Recommender::of`]).
#[derive(Default)]
pub struct Recommender {
    /// The For You candidate pool (newest and most liked videos of every cell), shared by all
    /// viewers and refreshed every few seconds instead of on every request.
    candidates: std::sync::RwLock<Option<(std::time::Instant, CandidatePool)>>,
    /// Held by whoever rebuilds the pool (the background refresher, or a request that found
    /// none); the others keep serving the current one.
    refreshing: tokio::sync::Mutex<()>,
    /// Bumped (under the `candidates` write lock) whenever the pool is edited or forgotten, so
    /// a rebuild that read the store before the change does not overwrite it (see
    /// [`candidates`]).
    candidates_generation: std::sync::atomic::AtomicU64,
    /// The generation of the last time the pool was forgotten (erasure, see
    /// [`Platform::refresh_candidates`]).
    candidates_forgotten: std::sync::atomic::AtomicU64,
    /// Uploads added to the pool since it was last built, with the generation each made: a
    /// build that read the stores before them carries them over.
    candidate_additions: std::sync::Mutex<Vec<(u64, CellLink, VideoRow)>>,
    /// True while a background refresher keeps the pool fresh: requests then never rebuild a
    /// pool that merely aged.
    candidates_refresher: std::sync::atomic::AtomicBool,
    /// When the regions' rankers were last trained (ms since the epoch; 0: never).
    trained_at_ms: std::sync::atomic::AtomicI64,
    /// Each region's trained engagement ranker (see [`crate::ranker`]).
    rankers: std::sync::RwLock<
        std::collections::HashMap<reelm_core::RegionId, Arc<crate::ranker::RegionRanker>>,
    >,
}

impl Recommender {
    /// The platform's recommender, created (and told about uploads and erasures from then
    /// on) on first use.
    pub fn of(p: &Platform) -> Arc<Recommender> {
        p.extension(|| {
            let r = Arc::new(Recommender::default());
            p.add_content_listener(r.clone());
            r
        })
    }

    /// The region's trained engagement ranker, if enough events exist to train one.
    pub fn ranker(
        &self,
        region: &reelm_core::RegionId,
    ) -> Option<Arc<crate::ranker::RegionRanker>> {
        self.rankers
            .read()
            .ok()
            .and_then(|r| r.get(region).cloned())
    }

    pub fn set_ranker(
        &self,
        region: reelm_core::RegionId,
        ranker: Arc<crate::ranker::RegionRanker>,
    ) {
        if let Ok(mut slot) = self.rankers.write() {
            slot.insert(region, ranker);
        }
    }

    /// The For You candidate pool: each cell's newest and most liked published videos.
    /// Normally a background task ([`spawn_refresher`], started by `reelm_server::run`)
    /// rebuilds it every [`CANDIDATES_TTL`] off the request path, and requests only read it. Without that task (a platform used as a library), stale-while-revalidate:
    /// one request rebuilds an aged pool while concurrent requests keep using the previous one.
    /// A request waits for a build only when there is no pool at all (start-up, or after
    /// [`Platform::refresh_candidates`]).
    pub async fn candidates(&self, p: &Platform) -> Result<CandidatePool, Error> {
        let current = self.current_candidates();
        if let Some((built, pool)) = &current
            && (built.elapsed() < CANDIDATES_TTL || self.candidates_refreshed_in_background())
        {
            return Ok(pool.clone());
        }
        let guard = match &current {
            Some((_, pool)) => match self.refreshing.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(pool.clone()),
            },
            None => self.refreshing.lock().await,
        };
        // Someone may have rebuilt it while this request waited for the lock.
        if let Some((built, pool)) = self.current_candidates()
            && built.elapsed() < CANDIDATES_TTL
        {
            return Ok(pool);
        }
        let generation = self.candidates_generation();
        let pool = Self::build_candidates(p).await?;
        self.store_candidates(generation, pool.clone());
        drop(guard);
        Ok(pool)
    }

    /// Reads the pool's videos from the cells and the regions' trending lists.
    async fn build_candidates(p: &Platform) -> Result<CandidatePool, Error> {
        let mut pool: Vec<(CellLink, VideoRow)> = Vec::new();
        let mut seen = HashSet::new();
        for link in p.links() {
            // A region that cannot be reached contributes nothing this time.
            let lists = async {
                let recent = link.recent_videos(CANDIDATES_PER_CELL).await?;
                let top = link.top_videos(CANDIDATES_PER_CELL).await?;
                Ok::<_, Error>((recent, top))
            };
            let (recent, top) = match lists.await {
                Ok(lists) => lists,
                Err(e @ Error::Unreachable { .. }) => {
                    tracing::warn!(error = %e, "candidate pool without this region");
                    continue;
                }
                Err(e) => return Err(e),
            };
            for v in recent.into_iter().chain(top) {
                if seen.insert(v.id) {
                    pool.push((link.clone(), v));
                }
            }
        }
        // What trends in each region, wherever the video is stored (videos are public; the
        // statistics behind the choice stay in their region).
        let now = reelm_core::now_ms();
        let min_viewers = i64::from(p.config.feed.trending_min_viewers);
        let mut trending: Vec<VideoId> = Vec::new();
        for link in p.links() {
            let list = match link
                .trending(now, min_viewers, CANDIDATES_PER_CELL as usize)
                .await
            {
                Ok(list) => list,
                Err(e @ Error::Unreachable { .. }) => {
                    tracing::warn!(error = %e, "candidate pool without this region's trending");
                    continue;
                }
                Err(e) => return Err(e),
            };
            for (id, _) in list {
                if !seen.contains(&id) {
                    trending.push(id);
                }
            }
        }
        trending.sort();
        trending.dedup();
        for chunk in trending.chunks(500) {
            for (cell, v) in p.published_videos(chunk).await? {
                if seen.insert(v.id) {
                    pool.push((cell, v));
                }
            }
        }
        Ok(Arc::new(pool))
    }

    fn current_candidates(&self) -> Option<(std::time::Instant, CandidatePool)> {
        self.candidates.read().ok().and_then(|slot| slot.clone())
    }

    /// Records that every region's ranker was just (re)trained.
    pub fn mark_trained(&self) {
        self.trained_at_ms
            .store(reelm_core::now_ms(), std::sync::atomic::Ordering::Relaxed);
    }

    /// True when the rankers were trained less than `within` ago.
    pub fn trained_within(&self, within: std::time::Duration) -> bool {
        let at = self
            .trained_at_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        at > 0 && reelm_core::now_ms() - at < within.as_millis() as i64
    }

    /// Forgets the candidate pool so the next request sees the stores as they are now (an
    /// erased creator's videos are gone at once); that request rebuilds it.
    pub fn refresh_candidates(&self) {
        if let Ok(mut slot) = self.candidates.write() {
            let generation = self
                .candidates_generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
                + 1;
            self.candidates_forgotten
                .store(generation, std::sync::atomic::Ordering::Release);
            if let Ok(mut additions) = self.candidate_additions.lock() {
                additions.clear();
            }
            *slot = None;
        }
    }
}

impl ContentListener for Recommender {
    fn name(&self) -> &str {
        "for-you candidate pool"
    }

    fn published(&self, cell: &CellLink, video: &VideoRow) {
        self.add_candidate(cell, video.clone());
    }

    fn removed(&self) {
        self.refresh_candidates();
    }
}

/// Starts the task that rebuilds `platform`'s candidate pool every [`CANDIDATES_TTL`]. It
/// holds the platform weakly and ends when the platform is dropped or the handle is aborted.
pub fn spawn_refresher(platform: &Arc<Platform>) -> JoinHandle<()> {
    let weak = Arc::downgrade(platform);
    tokio::spawn(async move {
        let _running = RefresherFlag::set(&weak);
        let mut tick = tokio::time::interval(CANDIDATES_TTL);
        // After a slow build, wait a whole period again instead of catching up at once.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(platform) = weak.upgrade() else {
                return;
            };
            let started = std::time::Instant::now();
            match Recommender::of(&platform)
                .rebuild_candidates(&platform)
                .await
            {
                Ok(n) => tracing::debug!(
                    videos = n,
                    ms = started.elapsed().as_secs_f64() * 1000.0,
                    "candidate pool rebuilt"
                ),
                // Requests keep the previous pool; the next tick tries again.
                Err(e) => tracing::warn!(error = %e, "cannot rebuild the candidate pool"),
            }
        }
    })
}

/// Marks the platform as refreshed in the background while the task lives (also when it is
/// aborted: dropping the flag clears it, and requests go back to rebuilding aged pools).
struct RefresherFlag(Weak<Platform>);

impl RefresherFlag {
    fn set(platform: &Weak<Platform>) -> RefresherFlag {
        if let Some(p) = platform.upgrade() {
            Recommender::of(&p)
                .candidates_refresher
                .store(true, Ordering::Release);
        }
        RefresherFlag(platform.clone())
    }
}

impl Drop for RefresherFlag {
    fn drop(&mut self) {
        if let Some(p) = self.0.upgrade() {
            Recommender::of(&p)
                .candidates_refresher
                .store(false, Ordering::Release);
        }
    }
}

impl Recommender {
    /// Rebuilds the pool now; returns how many videos it holds.
    async fn rebuild_candidates(&self, p: &Platform) -> Result<usize, Error> {
        let _guard = self.refreshing.lock().await;
        let generation = self.candidates_generation();
        let pool = Self::build_candidates(p).await?;
        let n = pool.len();
        self.store_candidates(generation, pool);
        Ok(n)
    }

    /// True while the background refresher keeps the pool fresh.
    fn candidates_refreshed_in_background(&self) -> bool {
        self.candidates_refresher.load(Ordering::Acquire)
    }

    /// The pool's edit count, read before a build starts reading the stores.
    fn candidates_generation(&self) -> u64 {
        self.candidates_generation.load(Ordering::Acquire)
    }

    /// Publishes a freshly built pool. Uploads added after `generation` was read (the build
    /// may predate them) are carried over; after an erasure since then the build is dropped.
    fn store_candidates(&self, generation: u64, pool: CandidatePool) {
        let Ok(mut slot) = self.candidates.write() else {
            return;
        };
        let Ok(mut additions) = self.candidate_additions.lock() else {
            return;
        };
        if self.candidates_forgotten.load(Ordering::Acquire) > generation {
            return;
        }
        let late: Vec<&(u64, CellLink, VideoRow)> = additions
            .iter()
            .filter(|(g, _, v)| *g > generation && !pool.iter().any(|(_, p)| p.id == v.id))
            .collect();
        let pool = if late.is_empty() {
            pool
        } else {
            let mut merged: Vec<(CellLink, VideoRow)> = late
                .into_iter()
                .map(|(_, c, v)| (c.clone(), v.clone()))
                .collect();
            merged.extend(pool.iter().cloned());
            Arc::new(merged)
        };
        // Every upload recorded so far is in this pool now; only one build runs at a time.
        additions.clear();
        *slot = Some((std::time::Instant::now(), pool));
    }

    /// Makes a just-published video of `cell` a candidate at once, without rebuilding the
    /// pool (a rebuild would add it anyway: it is the cell's newest video). With no pool yet it
    /// is only remembered, for a build already under way.
    pub fn add_candidate(&self, cell: &CellLink, video: VideoRow) {
        let cell = cell.clone();
        let Ok(mut slot) = self.candidates.write() else {
            return;
        };
        let Ok(mut additions) = self.candidate_additions.lock() else {
            return;
        };
        let generation = self.candidates_generation.fetch_add(1, Ordering::AcqRel) + 1;
        if slot
            .as_ref()
            .is_some_and(|(_, pool)| pool.iter().any(|(_, v)| v.id == video.id))
        {
            return;
        }
        if additions.len() >= MAX_ADDITIONS {
            // Nobody has rebuilt the pool for a long while (no refresher, no feed requests):
            // forget it rather than remember every upload; the next request rebuilds it.
            self.candidates_forgotten
                .store(generation, Ordering::Release);
            additions.clear();
            *slot = None;
            return;
        }
        // Remembered even with no pool yet: a first build may be reading the stores already.
        additions.push((generation, cell.clone(), video.clone()));
        let Some((built, pool)) = slot.as_ref() else {
            return;
        };
        let mut next = Vec::with_capacity(pool.len() + 1);
        next.push((cell, video));
        next.extend(pool.iter().cloned());
        *slot = Some((*built, Arc::new(next)));
    }
}

/// Uploads remembered between two builds of the pool, at most.
const MAX_ADDITIONS: usize = 1_000;
