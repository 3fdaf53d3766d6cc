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

use super::{CANDIDATES_TTL, CandidatePool, Cell, CellLink, Platform};
use reelm_store::VideoRow;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use tokio::task::JoinHandle;

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
            match platform.rebuild_candidates().await {
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
            p.candidates_refresher.store(true, Ordering::Release);
        }
        RefresherFlag(platform.clone())
    }
}

impl Drop for RefresherFlag {
    fn drop(&mut self) {
        if let Some(p) = self.0.upgrade() {
            p.candidates_refresher.store(false, Ordering::Release);
        }
    }
}

impl Platform {
    /// Rebuilds the pool now; returns how many videos it holds.
    async fn rebuild_candidates(&self) -> Result<usize, crate::AppError> {
        let _guard = self.refreshing.lock().await;
        let generation = self.candidates_generation();
        let pool = self.build_candidates().await?;
        let n = pool.len();
        self.store_candidates(generation, pool);
        Ok(n)
    }

    /// True while the background refresher keeps the pool fresh.
    pub(super) fn candidates_refreshed_in_background(&self) -> bool {
        self.candidates_refresher.load(Ordering::Acquire)
    }

    /// The pool's edit count, read before a build starts reading the stores.
    pub(super) fn candidates_generation(&self) -> u64 {
        self.candidates_generation.load(Ordering::Acquire)
    }

    /// Publishes a freshly built pool. Uploads added after `generation` was read (the build
    /// may predate them) are carried over; after an erasure since then the build is dropped.
    pub(super) fn store_candidates(&self, generation: u64, pool: CandidatePool) {
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
    pub fn add_candidate(&self, cell: &Cell, video: VideoRow) {
        let Some(cell) = self.cell(cell.id()).cloned().map(CellLink::Local) else {
            return;
        };
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
