//! The Following feed and the For You feed. For You has two modes: *personal* (the default
//! when signed in) ranks the shared candidate pool with the person's interest profile, rebuilt
//! from their own behavior on every request so the next page reflects the last swipe; and
//! *trending*, which uses no profiling at all (recency × engagement, the same for everyone
//! apart from "not interested"). Every item carries the reason it was picked.

use crate::candidates::{CandidatePool, Recommender};
use reelm_core::{UserId, VideoId};
use reelm_platform::Error;
use reelm_platform::Session;
use reelm_platform::cursor;
use reelm_platform::gates::Surface;
use reelm_platform::link::CellLink;
use reelm_platform::platform::{Cell, Platform};
use reelm_platform::views::hydrate;
use reelm_platform::views::{FeedItem, FeedPage, Page, Reason};
use reelm_store::{Keyset, VideoRow};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// At most this many followed accounts are read per page; the rest would not fit one query.
const MAX_FOLLOWEES: usize = 5000;

pub async fn following(
    p: &Platform,
    viewer: &Session,
    cursor_in: Option<&str>,
    limit: i64,
) -> Result<Page<FeedItem>, Error> {
    let after = match cursor_in {
        Some(c) => {
            let (at, id): (i64, i64) = cursor::decode(c)?;
            Keyset { at, id }
        }
        None => Keyset::START,
    };
    let followees = viewer.home.followees(viewer.user).await?;
    let followees = &followees[..followees.len().min(MAX_FOLLOWEES)];
    let before = |v: &VideoRow| (v.created_at, v.id.0) < (after.at, after.id);
    // Serve from each cell's in-memory lists of creators' newest videos. A list that is full
    // may have older videos beyond it: remember the oldest position it vouches for.
    let mut merged: Vec<(CellLink, VideoRow)> = Vec::new();
    let mut exact_down_to = (i64::MIN, i64::MIN);
    for link in p.links() {
        for videos in link.creator_videos(followees).await? {
            if videos.len() >= reelm_platform::cache::CREATOR_VIDEOS_CAP
                && let Some(oldest) = videos.last()
            {
                exact_down_to = exact_down_to.max((oldest.created_at, oldest.id.0));
            }
            merged.extend(
                videos
                    .iter()
                    .filter(|v| before(v))
                    .map(|v| (link.clone(), v.clone())),
            );
        }
    }
    merged.sort_by_key(|(_, v)| std::cmp::Reverse((v.created_at, v.id.0)));
    let page_end = merged
        .get(limit as usize)
        .map(|(_, v)| (v.created_at, v.id.0));
    let cache_may_miss = exact_down_to > (i64::MIN, i64::MIN);
    if cache_may_miss && page_end.is_none_or(|end| end < exact_down_to) {
        // The page reaches past what memory holds for a prolific creator: ask the stores.
        merged.clear();
        for link in p.links() {
            let rows = link.videos_by_creators(followees, after, limit + 1).await?;
            merged.extend(rows.into_iter().map(|v| (link.clone(), v)));
        }
        merged.sort_by_key(|(_, v)| std::cmp::Reverse((v.created_at, v.id.0)));
    }
    let gates = p.gates();
    let audience = reelm_platform::session::audience_for(Some(viewer), &gates).await?;
    merged.retain(|(_, v)| gates.admits(Surface::Following, &audience, v));
    let more = merged.len() as i64 > limit;
    merged.truncate(limit as usize);
    let next_cursor = if more {
        merged
            .last()
            .map(|(_, v)| cursor::encode(&(v.created_at, v.id.0)))
    } else {
        None
    };
    let videos = hydrate(Some(viewer), merged).await?;
    let items = videos
        .into_iter()
        .map(|video| {
            let detail = format!("You follow @{}", video.creator.handle);
            FeedItem {
                video,
                reason: Reason {
                    source: "following",
                    detail,
                },
            }
        })
        .collect();
    Ok(Page { items, next_cursor })
}

#[derive(Default, Serialize, Deserialize)]
struct ForYouCursor {
    /// The time scores are computed at, fixed for the whole scroll.
    t: i64,
    /// Trending mode: the last item shown, its score (as IEEE bits, so it survives JSON
    /// exactly) and id.
    #[serde(default)]
    s: u64,
    #[serde(default)]
    i: i64,
    /// Personal mode: ids already served in this scroll (the newest [`MAX_SERVED`]), since
    /// the ranking itself changes with every swipe.
    #[serde(default)]
    sv: Vec<i64>,
}

/// Served ids remembered in a personal cursor.
const MAX_SERVED: usize = 300;

/// Which For You ranking to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedMode {
    /// Ranked with the person's own interest profile (the default when signed in).
    #[default]
    Personal,
    /// No profiling: regional trending and freshness, the same for everyone.
    Trending,
}

/// Recency × engagement: engagement grows with likes, comments and views; a video's score
/// halves roughly every day of age. New videos keep a floor so they are seen at all.
pub fn score(v: &VideoRow, now_ms: i64) -> f64 {
    let age_h = ((now_ms - v.created_at).max(0) as f64) / 3_600_000.0;
    let engagement =
        1.0 + 3.0 * v.like_count as f64 + 4.0 * v.comment_count as f64 + 0.3 * v.view_count as f64;
    engagement.ln_1p() * 0.5f64.powf(age_h / 24.0) + 1e-9 * (v.id.0 % 1000) as f64
}

pub async fn for_you(
    p: &Platform,
    viewer: Option<&Session>,
    cursor_in: Option<&str>,
    limit: i64,
    mode: FeedMode,
) -> Result<FeedPage, Error> {
    let pos: ForYouCursor = cursor_in
        .map(cursor::decode)
        .transpose()?
        .unwrap_or_default();
    let now = if pos.t > 0 {
        pos.t
    } else {
        reelm_core::now_ms()
    };
    let pool = Recommender::of(p).candidates(p).await?;
    let (hidden_videos, hidden_creators): (HashSet<VideoId>, HashSet<UserId>) = match viewer {
        Some(v) => {
            let hidden = v.home.not_interested(v.user).await?;
            (hidden.0.clone(), hidden.1.clone())
        }
        None => Default::default(),
    };
    let gates = p.gates();
    let audience = reelm_platform::session::audience_for(viewer, &gates).await?;
    // Every source's candidates pass here: "not interested" and the installed gates (policy
    // and age filters) apply whatever found the video.
    let visible = |v: &VideoRow| {
        !hidden_videos.contains(&v.id)
            && !hidden_creators.contains(&v.creator_id)
            && gates.admits(Surface::ForYou, &audience, v)
    };
    match (viewer, mode) {
        (Some(viewer), FeedMode::Personal) => {
            personal(p, viewer, &pool, pos, now, limit, &visible).await
        }
        _ => {
            trending(
                p,
                viewer,
                &pool,
                cursor_in.map(|_| pos),
                now,
                limit,
                &visible,
            )
            .await
        }
    }
}

/// The regional trending score of a video for people of `home`, when enough distinct people
/// there watched it: `ln(1 + decayed engagement)`.
fn regional_trend(home: &Cell, min_viewers: i64, v: &VideoRow, now: i64) -> Option<(f64, i64)> {
    let state = &home.events.state;
    let s = state.stats(v.id);
    (s.viewers >= min_viewers).then(|| (s.trend_now(now, state.half_life_ms).ln_1p(), s.viewers))
}

/// The non-personalized ranking: trending × freshness, paged by score keyset. Signed in, the
/// trending part is the viewer's region's (distinct viewers there, decayed engagement);
/// signed out, the public counters.
async fn trending(
    p: &Platform,
    viewer: Option<&Session>,
    pool: &CandidatePool,
    pos: Option<ForYouCursor>,
    now: i64,
    limit: i64,
    visible: &(dyn Fn(&VideoRow) -> bool + Sync),
) -> Result<FeedPage, Error> {
    let min_viewers = i64::from(p.config.feed.trending_min_viewers);
    let rank = |v: &VideoRow| -> (f64, Option<i64>) {
        let regional = viewer.and_then(|vw| regional_trend(&vw.home, min_viewers, v, now));
        match regional {
            Some((t, viewers)) => (score(v, now) + t, Some(viewers)),
            None => (score(v, now), None),
        }
    };
    // Score by index and clone only the page: the pool holds thousands of rows.
    let last = pos.as_ref().map(|c| (f64::from_bits(c.s), c.i));
    let mut ranked: Vec<(usize, f64, Option<i64>)> = pool
        .iter()
        .enumerate()
        .filter(|(_, (_, v))| visible(v))
        .map(|(i, (_, v))| {
            let (s, viewers) = rank(v);
            (i, s, viewers)
        })
        .filter(|(i, s, _)| match last {
            Some((ls, li)) => *s < ls || (*s == ls && pool[*i].1.id.0 < li),
            None => true,
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(pool[b.0].1.id.0.cmp(&pool[a.0].1.id.0))
    });
    let more = ranked.len() as i64 > limit;
    ranked.truncate(limit as usize);
    let next_cursor = if more {
        ranked.last().map(|(i, s, _)| {
            cursor::encode(&ForYouCursor {
                t: now,
                s: s.to_bits(),
                i: pool[*i].1.id.0,
                sv: Vec::new(),
            })
        })
    } else {
        None
    };
    let region = viewer.map(|v| v.home.id().to_string());
    let reasons: Vec<Reason> = ranked
        .iter()
        .map(|(i, _, viewers)| match (viewers, &region) {
            (Some(n), Some(region)) => Reason {
                source: "trending",
                detail: format!("Trending in your region ({region}): {n} people here watched it"),
            },
            _ => reason(&pool[*i].1, now),
        })
        .collect();
    let rows: Vec<(CellLink, VideoRow)> = ranked.iter().map(|(i, _, _)| pool[*i].clone()).collect();
    let videos = hydrate(viewer, rows).await?;
    let items = videos
        .into_iter()
        .zip(reasons)
        .map(|(video, reason)| FeedItem { video, reason })
        .collect();
    Ok(FeedPage {
        items,
        next_cursor,
        model: "trending-v2".into(),
    })
}

/// Why a personal pick was made, turned into words once the creator's handle is known.
enum Why {
    Follow,
    Tag(String),
    Creator,
    /// Item-to-item: people who engaged with this seed video also engaged with the pick
    /// (no seed: the learned item→item model over the person's recent positives).
    CoEngaged(Option<VideoId>),
    /// Content similarity: a caption term the person's engagement shares.
    Similar(String),
    /// Regional trending with this many distinct viewers.
    Trending(i64),
    /// A fresh upload in the exploration quota.
    Explore,
    Seen,
    General,
}

/// Seeds' neighbours outside the candidate pool that are fetched per request, at most.
const MAX_EXTRA_CANDIDATES: usize = 50;

/// The personal ranking. Candidate sources: the shared pool (each cell's newest and most
/// liked videos, plus every region's trending ones), item-to-item neighbours of the person's
/// last positive engagements (regional co-engagement, fetched when outside the pool), and
/// fresh uploads for the exploration quota. The score is the region's learned engagement
/// model (or hand-set weights until it is trained) times boosts for item-to-item strength,
/// content similarity (caption terms, language) and regional trending; then seen videos
/// last, a greedy re-rank that spreads creators and hashtags, and the reserved exploration
/// slots.
async fn personal(
    p: &Platform,
    viewer: &Session,
    pool: &CandidatePool,
    pos: ForYouCursor,
    now: i64,
    limit: i64,
    visible: &(dyn Fn(&VideoRow) -> bool + Sync),
) -> Result<FeedPage, Error> {
    let cfg = &p.config.feed;
    let min_viewers = i64::from(cfg.trending_min_viewers);
    let seen_window_ms = i64::from(cfg.seen_window_hours) * 3_600_000;
    let interest = super::interest::Interest::build(viewer, pool, now - seen_window_ms).await?;
    let served: HashSet<i64> = pos.sv.iter().copied().collect();
    let state = &viewer.home.events.state;

    // Item-to-item: cosine-normalised co-engagement of the person's recent positives, this
    // region's plus the k-anonymous counts other regions shared through the gateway.
    let mut item_to_item: HashMap<VideoId, (f64, Option<VideoId>, f64)> = HashMap::new();
    for (seed, weight) in &interest.positives {
        let seed_viewers = state.viewers_with_imports(*seed).max(1) as f64;
        for (video, people, viewers) in state.co_engaged_with_imports(*seed) {
            let strength = weight * people as f64 / (seed_viewers * viewers.max(1) as f64).sqrt();
            let entry = item_to_item.entry(video).or_insert((0.0, Some(*seed), 0.0));
            entry.0 += strength;
            if strength > entry.2 {
                entry.1 = Some(*seed);
                entry.2 = strength;
            }
        }
    }
    let top = item_to_item.values().fold(0.0f64, |m, e| m.max(e.0));
    if top > 0.0 {
        item_to_item.values_mut().for_each(|e| e.0 /= top);
    }
    // The region's learned item→item model (`reelm`), when it has one: the stronger of the
    // two signals counts.
    let ranker = Recommender::of(p).ranker(viewer.home.id());
    if let Some(model) = ranker.as_ref().and_then(|r| r.item_model.as_ref()) {
        let history: Vec<VideoId> = interest.positives.iter().rev().map(|(v, _)| *v).collect();
        for (video, learned) in model.scores(&history) {
            if history.contains(&video) {
                continue;
            }
            let entry = item_to_item.entry(video).or_insert((0.0, None, 0.0));
            entry.0 = entry.0.max(learned);
        }
    }
    // Neighbours the pool does not hold: fetch the strongest from their cells.
    let in_pool: HashSet<VideoId> = if item_to_item.is_empty() {
        HashSet::new()
    } else {
        pool.iter().map(|(_, v)| v.id).collect()
    };
    let mut missing: Vec<(VideoId, f64)> = item_to_item
        .iter()
        .filter(|(v, _)| !in_pool.contains(v) && !interest.seen.contains(v))
        .map(|(v, e)| (*v, e.0))
        .collect();
    missing.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    missing.truncate(MAX_EXTRA_CANDIDATES);
    let missing: Vec<VideoId> = missing.into_iter().map(|(v, _)| v).collect();
    let extra = p.published_videos(&missing).await?;
    let candidates: Vec<&(CellLink, VideoRow)> = pool.iter().chain(extra.iter()).collect();

    // The region's trained ranker when there is one; hand-set weights until then.
    let model = ranker
        .as_ref()
        .map(|r| r.model.version.clone())
        .unwrap_or_else(|| "interest-v2".into());
    let fresh_ms = i64::from(cfg.fresh_hours) * 3_600_000;
    let explore_max = i64::from(cfg.explore_max_viewers);
    let mut explore: Vec<(usize, f64)> = Vec::new();
    let mut scored: Vec<(usize, f64, Why)> = Vec::new();
    for (i, (_, v)) in candidates.iter().enumerate() {
        if !visible(v) || served.contains(&v.id.0) {
            continue;
        }
        let (tag_aff, creator_aff, best_tag) = interest.affinity(&v.hashtags, v.creator_id);
        let (content, best_term) = interest.content(&v.caption, &v.language);
        let follows = interest.follows.contains(&v.creator_id);
        let follow_boost = if follows { 1.5 } else { 1.0 };
        let mut s = match &ranker {
            Some(r) => {
                let x = crate::ranker::features(&interest, r, v, now);
                (score(v, now) + 0.05).sqrt() * r.model.engagement(&x) * follow_boost
            }
            None => {
                (score(v, now) + 0.05)
                    * (1.0 + 1.5 * tag_aff + 0.6 * creator_aff).max(0.05)
                    * follow_boost
            }
        };
        let (i2i, seed) = item_to_item
            .get(&v.id)
            .map(|e| (e.0, e.1))
            .unwrap_or((0.0, None));
        let stats = state.stats(v.id);
        let trend = (stats.viewers >= min_viewers).then(|| {
            (
                stats.trend_now(now, state.half_life_ms).ln_1p(),
                stats.viewers,
            )
        });
        let trend_score = trend.map(|t| t.0).unwrap_or(0.0);
        s *= (1.0 + 1.2 * i2i + 0.4 * content + 0.1 * trend_score).max(0.05);
        let seen = interest.seen.contains(&v.id);
        if seen {
            s *= 0.02;
        }
        let why = if seen {
            Why::Seen
        } else if follows {
            Why::Follow
        } else if i2i > 0.3 {
            Why::CoEngaged(seed)
        } else if tag_aff > 0.2 {
            best_tag.map(Why::Tag).unwrap_or(Why::General)
        } else if let (true, Some(term)) = (content > 0.3, best_term) {
            Why::Similar(term)
        } else if creator_aff > 0.3 {
            Why::Creator
        } else if let Some((_, viewers)) = trend.filter(|(t, _)| *t > 1.0) {
            Why::Trending(viewers)
        } else {
            Why::General
        };
        let age = now - v.created_at;
        if !seen && !follows && (0..fresh_ms).contains(&age) && stats.viewers < explore_max {
            // Different people explore different fresh uploads; their interest decides
            // among similar ones.
            let jitter = jitter(viewer.user, v.id, now);
            let e = (1.0 + tag_aff + content).max(0.1) * (0.5 + jitter);
            explore.push((i, e));
        }
        scored.push((i, s, why));
    }
    scored.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(candidates[b.0].1.id.0.cmp(&candidates[a.0].1.id.0))
    });
    let more = scored.len() as i64 > limit;

    // Exploration quota: fresh uploads few people here have seen get reserved slots. They
    // are chosen among those the ranking would not show on this page anyway, so the slots
    // add impressions instead of relabelling picks.
    let slots = exploration_slots(cfg.explore_slots, limit);
    let on_merit: HashSet<usize> = scored
        .iter()
        .take((limit as usize).saturating_sub(slots))
        .map(|(i, _, _)| *i)
        .collect();
    explore.retain(|(i, _)| !on_merit.contains(i));
    explore.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(candidates[b.0].1.id.0.cmp(&candidates[a.0].1.id.0))
    });
    let explore: Vec<usize> = explore.into_iter().take(slots).map(|(i, _)| i).collect();
    let main_count = (limit as usize).saturating_sub(explore.len());

    // Diversity: pick greedily from the head, damping a creator seen in the last two picks
    // and a first hashtag equal to the previous pick's.
    let mut head: Vec<(usize, f64, Why)> = scored
        .into_iter()
        .filter(|(i, _, _)| !explore.contains(i))
        .take(main_count * 5)
        .collect();
    let mut picked: Vec<(usize, Why)> = Vec::new();
    while picked.len() < main_count && !head.is_empty() {
        let recent: Vec<&VideoRow> = picked
            .iter()
            .rev()
            .take(2)
            .map(|(i, _)| &candidates[*i].1)
            .collect();
        let adjusted = |(i, s, _): &(usize, f64, Why)| {
            let v = &candidates[*i].1;
            let mut a = *s;
            if recent.iter().any(|r| r.creator_id == v.creator_id) {
                a *= 0.5;
            }
            if recent.first().is_some_and(|r| {
                r.hashtags.split_whitespace().next() == v.hashtags.split_whitespace().next()
            }) {
                a *= 0.8;
            }
            a
        };
        let best = (0..head.len())
            .max_by(|&a, &b| adjusted(&head[a]).total_cmp(&adjusted(&head[b])))
            .unwrap_or(0);
        let (i, _, why) = head.swap_remove(best);
        picked.push((i, why));
    }
    // Spread the exploration picks over the page (a page of 10 with 2 slots: 4th and 8th).
    let total = picked.len() + explore.len();
    for (k, i) in explore.into_iter().enumerate() {
        let at = ((k + 1) * total / (slots + 1)).min(picked.len());
        picked.insert(at, (i, Why::Explore));
    }

    let mut sv = pos.sv;
    sv.extend(picked.iter().map(|(i, _)| candidates[*i].1.id.0));
    if sv.len() > MAX_SERVED {
        sv.drain(..sv.len() - MAX_SERVED);
    }
    let next_cursor = more.then(|| {
        cursor::encode(&ForYouCursor {
            t: now,
            sv,
            ..Default::default()
        })
    });
    let captions: HashMap<VideoId, String> = candidates
        .iter()
        .map(|(_, v)| (v.id, v.caption.clone()))
        .filter(|(id, _)| {
            picked
                .iter()
                .any(|(_, why)| matches!(why, Why::CoEngaged(Some(seed)) if seed == id))
        })
        .collect();
    let rows: Vec<(CellLink, VideoRow)> =
        picked.iter().map(|(i, _)| candidates[*i].clone()).collect();
    let general: Vec<Reason> = rows.iter().map(|(_, v)| reason(v, now)).collect();
    let region = viewer.home.id().to_string();
    let videos = hydrate(Some(viewer), rows).await?;
    let items = videos
        .into_iter()
        .zip(picked)
        .zip(general)
        .map(|((video, (_, why)), general)| {
            let handle = video.creator.handle.clone();
            let reason = match why {
                Why::Follow => Reason {
                    source: "following",
                    detail: format!("You follow @{handle}"),
                },
                Why::Tag(tag) => Reason {
                    source: "interest",
                    detail: format!("Because you watch and like #{tag} videos"),
                },
                Why::Creator => Reason {
                    source: "interest",
                    detail: format!("You often watch @{handle}"),
                },
                Why::CoEngaged(seed) => Reason {
                    source: "similar_viewers",
                    detail: match seed.and_then(|s| captions.get(&s)) {
                        Some(c) => format!("People who enjoyed “{}” also watched this", short(c)),
                        None => "People here who enjoy what you watch also watched this".into(),
                    },
                },
                Why::Similar(term) => Reason {
                    source: "similar_content",
                    detail: format!("Similar to videos you enjoyed: “{term}”"),
                },
                Why::Trending(viewers) => Reason {
                    source: "trending",
                    detail: format!(
                        "Trending in your region ({region}): {viewers} people here watched it"
                    ),
                },
                Why::Explore => Reason {
                    source: "fresh",
                    detail: format!(
                        "New from @{handle}: few people have seen it yet, so it gets a chance"
                    ),
                },
                Why::Seen => Reason {
                    source: "seen",
                    detail: "You watched this recently; shown again after everything newer".into(),
                },
                Why::General => general,
            };
            FeedItem { video, reason }
        })
        .collect();
    Ok(FeedPage {
        items,
        next_cursor,
        model,
    })
}

/// Exploration slots for a page of `limit`: `per_ten` per ten items, rounded down (a page too
/// small for a whole slot has none), never more than half the page.
fn exploration_slots(per_ten: u32, limit: i64) -> usize {
    let slots = i64::from(per_ten) * limit / 10;
    slots.clamp(0, limit / 2) as usize
}

/// A pseudo-random number in [0, 1) fixed per person, video and hour (SplitMix64 finalizer:
/// cheap, and well mixed for neighbouring ids).
fn jitter(user: UserId, video: VideoId, now: i64) -> f64 {
    let mut z = (user.0 as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(video.0 as u64)
        .wrapping_add((now / 3_600_000) as u64)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The first words of a caption, for an explanation.
fn short(caption: &str) -> String {
    let mut out = String::new();
    for word in caption.split_whitespace() {
        if out.chars().count() + word.chars().count() > 40 {
            out.push('…');
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn reason(v: &VideoRow, now: i64) -> Reason {
    let age_h = (now - v.created_at).max(0) / 3_600_000;
    if age_h < 24 && v.like_count < 5 {
        Reason {
            source: "fresh",
            detail: format!("New: posted {} ago", human_age(age_h)),
        }
    } else {
        Reason {
            source: "trending",
            detail: format!(
                "Popular right now: {} likes, {} comments and {} views",
                v.like_count, v.comment_count, v.view_count
            ),
        }
    }
}

fn human_age(hours: i64) -> String {
    match hours {
        0 => "less than an hour".into(),
        1 => "1 hour".into(),
        h if h < 48 => format!("{h} hours"),
        h => format!("{} days", h / 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exploration_slots_scale_with_the_page() {
        assert_eq!(exploration_slots(2, 10), 2);
        assert_eq!(exploration_slots(2, 20), 4);
        assert_eq!(exploration_slots(2, 5), 1);
        assert_eq!(exploration_slots(2, 3), 0);
        assert_eq!(exploration_slots(2, 1), 0);
        assert_eq!(exploration_slots(0, 10), 0);
        // Never more than half a page.
        assert_eq!(exploration_slots(10, 10), 5);
    }

    #[test]
    fn jitter_is_stable_in_range_and_varies() {
        let u = UserId(7);
        let values: Vec<f64> = (0..1000).map(|v| jitter(u, VideoId(v), 0)).collect();
        assert!(values.iter().all(|x| (0.0..1.0).contains(x)));
        assert_eq!(jitter(u, VideoId(3), 10), jitter(u, VideoId(3), 20));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }

    #[test]
    fn short_captions_stop_at_a_word() {
        assert_eq!(short("a b c"), "a b c");
        let long = short("one two three four five six seven eight nine ten eleven twelve");
        assert!(long.ends_with('…') && long.chars().count() <= 42, "{long}");
    }
}
