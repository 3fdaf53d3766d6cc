//! The region's engagement ranker (see `reelm_feed::engagement`): trained from the region's own
//! view events and likes only, kept in the cell, retrained on a schedule. Features are computed
//! the same way for training (as of each event) and for serving (from the person's profile).

use crate::interest::Interest;
use reelm_core::{UserId, VideoId};
use reelm_feed::data::{Event, Interactions};
use reelm_feed::engagement::{EngagementModel, Features};
use reelm_feed::models::{Profile, Recommender, Reelm, ReelmParams};
use reelm_platform::Error;
use reelm_platform::platform::{Cell, Platform};
use reelm_store::VideoRow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// At most this many of the region's newest view events train the ranker.
pub const TRAINING_EVENTS: i64 = 300_000;
/// Fewer examples than this and the feed keeps its hand-set weights.
pub const MIN_EXAMPLES: usize = 200;

/// A trained model plus the per-video statistics it needs at serving time.
#[derive(Debug)]
pub struct RegionRanker {
    pub model: EngagementModel,
    /// Smoothed completion rate of each video among this region's viewers.
    pub completion_rate: HashMap<VideoId, f64>,
    /// The `reelm` item→item model fitted on this region's positive engagements, when the
    /// region's catalog of engaged videos is small enough for its dense fit.
    pub item_model: Option<ItemModel>,
}

/// At most this many distinct engaged videos are fitted by the dense item→item model (its
/// Gram inverse is cubic in them); above it the item-to-item source uses co-engagement counts
/// alone.
pub const ITEM_MODEL_MAX_VIDEOS: usize = 3_000;

/// `reelm_feed`'s `reelm` model (the one `reelm eval` measures) over this region's videos.
#[derive(Debug)]
pub struct ItemModel {
    model: Reelm,
    index: HashMap<VideoId, u32>,
    ids: Vec<VideoId>,
}

impl ItemModel {
    /// Fits on the region's positive engagements (completed or long views, likes), each a
    /// weight-1 implicit event, with the configuration the offline evaluation chose (λ = 800,
    /// ρ = 0, 32 implicit-ALS factors blended at 0.5), pruned to 100 neighbours per video as
    /// serving keeps it (0.4844 nDCG@10 on ML-100K protocol (a) with K = 100, BENCHMARKS.md).
    fn fit(
        events: &[(UserId, VideoId, i64, bool, i64)],
        likes: &HashSet<(UserId, VideoId)>,
    ) -> Option<ItemModel> {
        let mut per_user: HashMap<UserId, Vec<(VideoId, i64)>> = HashMap::new();
        let mut seen: HashSet<(UserId, VideoId)> = HashSet::new();
        for (user, video, watch_ms, completed, at) in events {
            let positive = *completed
                || *watch_ms >= reelm_store::events::LONG_WATCH_MS
                || likes.contains(&(*user, *video));
            if positive && seen.insert((*user, *video)) {
                per_user.entry(*user).or_default().push((*video, *at));
            }
        }
        let mut ids: Vec<VideoId> = seen.iter().map(|(_, v)| *v).collect();
        ids.sort();
        ids.dedup();
        if ids.len() < 2 || per_user.len() < 20 || ids.len() > ITEM_MODEL_MAX_VIDEOS {
            return None;
        }
        let index: HashMap<VideoId, u32> = ids
            .iter()
            .enumerate()
            .map(|(i, v)| (*v, i as u32))
            .collect();
        let rows: Vec<Vec<Event>> = per_user
            .into_values()
            .map(|list| {
                list.into_iter()
                    .map(|(v, at)| Event {
                        item: index[&v],
                        ts: at,
                        weight: 1.0,
                    })
                    .collect()
            })
            .collect();
        let train = Interactions::from_rows(ids.len(), rows);
        let mut model = Reelm::new(
            ReelmParams {
                lambda: 800.0,
                rho: 0.0,
                neighbours: 100,
                factor_weight: 0.5,
            },
            Profile::default(),
        );
        if let Err(e) = model.fit(&train) {
            tracing::warn!(error = %e, "item→item model not fitted");
            return None;
        }
        Some(ItemModel { model, index, ids })
    }

    /// Scores of every video for a history (oldest first), scaled so the best is 1; videos
    /// with no positive score are left out.
    pub fn scores(&self, history: &[VideoId]) -> HashMap<VideoId, f64> {
        let events: Vec<Event> = history
            .iter()
            .enumerate()
            .filter_map(|(ts, v)| {
                self.index.get(v).map(|&item| Event {
                    item,
                    ts: ts as i64,
                    weight: 1.0,
                })
            })
            .collect();
        if events.is_empty() {
            return HashMap::new();
        }
        let mut out = vec![0.0f32; self.ids.len()];
        self.model.score_history(&events, &mut out);
        let top = out.iter().copied().fold(0.0f32, f32::max);
        if top <= 0.0 {
            return HashMap::new();
        }
        out.iter()
            .zip(&self.ids)
            .filter(|(s, _)| **s > 0.0)
            .map(|(s, v)| (*v, f64::from(*s / top)))
            .collect()
    }

    /// How many videos the model covers.
    pub fn videos(&self) -> usize {
        self.ids.len()
    }
}

/// The serving features of one candidate for one person.
pub fn features(interest: &Interest, ranker: &RegionRanker, v: &VideoRow, now_ms: i64) -> Features {
    let (tag, creator, _) = interest.affinity(&v.hashtags, v.creator_id);
    item_features(
        tag,
        creator,
        ranker.completion_rate.get(&v.id).copied().unwrap_or(0.5),
        v,
        now_ms,
    )
}

fn item_features(
    tag: f64,
    creator: f64,
    completion_rate: f64,
    v: &VideoRow,
    at_ms: i64,
) -> Features {
    let age_days = ((at_ms - v.created_at).max(0) as f64) / 86_400_000.0;
    [
        1.0,
        tag,
        creator,
        completion_rate,
        (v.like_count as f64).ln_1p() / 10.0,
        age_days.ln_1p() / 5.0,
    ]
}

/// Running affinity of one person while replaying events in order.
#[derive(Default)]
struct Running {
    tags: HashMap<String, f64>,
    creators: HashMap<UserId, f64>,
}

impl Running {
    fn affinity(&self, v: &VideoRow) -> (f64, f64) {
        // The same normalisation as serving, so training matches it.
        let (t, c, _) =
            crate::interest::affinity(&self.tags, &self.creators, &v.hashtags, v.creator_id);
        (t, c)
    }

    fn credit(&mut self, v: &VideoRow, weight: f64) {
        for tag in v.hashtags.split_whitespace() {
            *self.tags.entry(tag.to_owned()).or_default() += weight;
        }
        *self.creators.entry(v.creator_id).or_default() += weight * 0.7;
    }
}

/// Trains the ranker of `cell` from its own events. Videos are public, so their metadata may
/// be read from whichever cell holds them; behavior is read from `cell` only.
pub async fn train(p: &Platform, cell: &Cell) -> Result<Option<RegionRanker>, Error> {
    let events = cell.store.view_events_for_training(TRAINING_EVENTS).await?;
    let likes: HashSet<(UserId, VideoId)> = cell.store.all_likes().await?.into_iter().collect();
    let mut ids: Vec<VideoId> = events.iter().map(|e| e.1).collect();
    ids.sort();
    ids.dedup();
    let mut videos: HashMap<VideoId, VideoRow> = HashMap::new();
    for chunk in ids.chunks(500) {
        for link in p.links() {
            match link.videos(chunk).await {
                Ok(rows) => videos.extend(rows.into_iter().map(|v| (v.id, v))),
                // Events on videos of a region out of reach are left out of this training.
                Err(e @ Error::Unreachable { .. }) => {
                    tracing::warn!(error = %e, "training without this region's video metadata");
                }
                Err(e) => return Err(e),
            }
        }
    }
    let mut people: HashMap<UserId, Running> = HashMap::new();
    let mut stats: HashMap<VideoId, (f64, f64)> = HashMap::new();
    let mut examples = Vec::with_capacity(events.len());
    for (user, video, watch_ms, completed, at) in &events {
        let Some(v) = videos.get(video) else { continue };
        let person = people.entry(*user).or_default();
        let (tag, creator) = person.affinity(v);
        let (done, seen) = stats.get(video).copied().unwrap_or((0.0, 0.0));
        let x = item_features(tag, creator, (done + 1.0) / (seen + 2.0), v, *at);
        let liked = likes.contains(&(*user, *video));
        examples.push((x, *completed, liked));
        // Only now does the event become known: update the person and the item.
        let signal = if *completed {
            1.5
        } else if *watch_ms >= 3_000 {
            0.5
        } else if *watch_ms < 1_500 {
            -0.7
        } else {
            0.0
        };
        person.credit(v, signal + if liked { 3.0 } else { 0.0 });
        let s = stats.entry(*video).or_default();
        s.0 += f64::from(u8::from(*completed));
        s.1 += 1.0;
    }
    if examples.len() < MIN_EXAMPLES {
        return Ok(None);
    }
    let version = format!("{}-{}", cell.id(), reelm_core::now_ms());
    let model = EngagementModel::train(version, &examples);
    let completion_rate = stats
        .into_iter()
        .map(|(v, (done, seen))| (v, (done + 1.0) / (seen + 2.0)))
        .collect();
    let item_model = ItemModel::fit(&events, &likes);
    Ok(Some(RegionRanker {
        model,
        completion_rate,
        item_model,
    }))
}

/// Trains every cell's ranker and installs it.
pub async fn train_all(p: &Platform) -> Result<(), Error> {
    for cell in p.cells() {
        if let Some(r) = train(p, cell).await? {
            tracing::info!(
                region = %cell.id(),
                version = %r.model.version,
                examples = r.model.trained_on,
                completion_auc = ?r.model.completion_auc,
                like_auc = ?r.model.like_auc,
                item_model_videos = r.item_model.as_ref().map(ItemModel::videos),
                "ranker trained"
            );
            crate::Recommender::of(p).set_ranker(cell.id().clone(), Arc::new(r));
        }
    }
    crate::Recommender::of(p).mark_trained();
    Ok(())
}
