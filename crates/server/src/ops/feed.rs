//! The Following feed and the For You feed. For You has two modes: *personal* (the default
//! when signed in) ranks the shared candidate pool with the person's interest profile, rebuilt
//! from their own behavior on every request so the next page reflects the last swipe; and
//! *trending*, which uses no profiling at all (recency × engagement, the same for everyone
//! apart from "not interested"). Every item carries the reason it was picked.

use crate::api::model::{FeedItem, FeedPage, Page, Reason};
use crate::auth::Viewer;
use crate::cursor;
use crate::error::AppError;
use crate::ops::videos::hydrate;
use crate::platform::{CandidatePool, Cell, Platform};
use reelm_core::{UserId, VideoId};
use reelm_store::{Keyset, VideoRow};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;

/// At most this many followed accounts are read per page; the rest would not fit one query.
const MAX_FOLLOWEES: usize = 5000;

pub async fn following(
    p: &Platform,
    viewer: &Viewer,
    cursor_in: Option<&str>,
    limit: i64,
) -> Result<Page<FeedItem>, AppError> {
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
    let mut merged: Vec<(Arc<Cell>, VideoRow)> = Vec::new();
    let mut exact_down_to = (i64::MIN, i64::MIN);
    for cell in p.cells() {
        for creator in followees {
            let videos = cell.creator_videos(*creator).await?;
            if videos.len() >= crate::cache::CREATOR_VIDEOS_CAP
                && let Some(oldest) = videos.last()
            {
                exact_down_to = exact_down_to.max((oldest.created_at, oldest.id.0));
            }
            merged.extend(
                videos
                    .iter()
                    .filter(|v| before(v))
                    .map(|v| (cell.clone(), v.clone())),
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
        for cell in p.cells() {
            let rows = cell
                .store
                .videos_by_creators(followees, after, limit + 1)
                .await?;
            merged.extend(rows.into_iter().map(|v| (cell.clone(), v)));
        }
        merged.sort_by_key(|(_, v)| std::cmp::Reverse((v.created_at, v.id.0)));
    }
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
/// A video viewed within this window is not shown again while unseen candidates remain.
pub const SEEN_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// Which For You ranking to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
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
    viewer: Option<&Viewer>,
    cursor_in: Option<&str>,
    limit: i64,
    mode: FeedMode,
) -> Result<FeedPage, AppError> {
    let pos: ForYouCursor = cursor_in
        .map(cursor::decode)
        .transpose()?
        .unwrap_or_default();
    let now = if pos.t > 0 {
        pos.t
    } else {
        reelm_core::now_ms()
    };
    let pool = p.candidates().await?;
    let (hidden_videos, hidden_creators): (HashSet<VideoId>, HashSet<UserId>) = match viewer {
        Some(v) => {
            let hidden = v.home.not_interested(v.user).await?;
            (hidden.0.clone(), hidden.1.clone())
        }
        None => Default::default(),
    };
    let visible =
        |v: &VideoRow| !hidden_videos.contains(&v.id) && !hidden_creators.contains(&v.creator_id);
    match (viewer, mode) {
        (Some(viewer), FeedMode::Personal) => {
            personal(viewer, &pool, pos, now, limit, &visible).await
        }
        _ => trending(viewer, &pool, cursor_in.map(|_| pos), now, limit, &visible).await,
    }
}

/// The non-personalized ranking: trending × freshness, paged by score keyset.
async fn trending(
    viewer: Option<&Viewer>,
    pool: &CandidatePool,
    pos: Option<ForYouCursor>,
    now: i64,
    limit: i64,
    visible: &(dyn Fn(&VideoRow) -> bool + Sync),
) -> Result<FeedPage, AppError> {
    // Score by index and clone only the page: the pool holds thousands of rows.
    let last = pos.as_ref().map(|c| (f64::from_bits(c.s), c.i));
    let mut ranked: Vec<(usize, f64)> = pool
        .iter()
        .enumerate()
        .filter(|(_, (_, v))| visible(v))
        .map(|(i, (_, v))| (i, score(v, now)))
        .filter(|(i, s)| match last {
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
        ranked.last().map(|(i, s)| {
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
    let rows: Vec<(Arc<Cell>, VideoRow)> = ranked.iter().map(|(i, _)| pool[*i].clone()).collect();
    let reasons: Vec<Reason> = rows.iter().map(|(_, v)| reason(v, now)).collect();
    let videos = hydrate(viewer, rows).await?;
    let items = videos
        .into_iter()
        .zip(reasons)
        .map(|(video, reason)| FeedItem { video, reason })
        .collect();
    Ok(FeedPage {
        items,
        next_cursor,
        model: "trending-v1".into(),
    })
}

/// Why a personal pick was made, turned into words once the creator's handle is known.
enum Why {
    Follow,
    Tag(String),
    Creator,
    Seen,
    General,
}

/// The personal ranking: trending × freshness scaled by the person's long- and short-term
/// affinity for each video's hashtags and creator, already-seen videos last, and a greedy
/// re-rank that spreads creators and hashtags.
async fn personal(
    viewer: &Viewer,
    pool: &CandidatePool,
    pos: ForYouCursor,
    now: i64,
    limit: i64,
    visible: &(dyn Fn(&VideoRow) -> bool + Sync),
) -> Result<FeedPage, AppError> {
    let interest = super::interest::Interest::build(viewer, pool, now - SEEN_WINDOW_MS).await?;
    let served: HashSet<i64> = pos.sv.iter().copied().collect();
    // The region's trained ranker when there is one; hand-set weights until then.
    let ranker = viewer.home.ranker();
    let model = ranker
        .as_ref()
        .map(|r| r.model.version.clone())
        .unwrap_or_else(|| "interest-v1".into());
    let mut scored: Vec<(usize, f64, Why)> = pool
        .iter()
        .enumerate()
        .filter(|(_, (_, v))| visible(v) && !served.contains(&v.id.0))
        .map(|(i, (_, v))| {
            let (tag_aff, creator_aff, best_tag) = interest.affinity(&v.hashtags, v.creator_id);
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
            let seen = interest.seen.contains(&v.id);
            if seen {
                s *= 0.02;
            }
            let why = if seen {
                Why::Seen
            } else if follows {
                Why::Follow
            } else if tag_aff > 0.2 {
                best_tag.map(Why::Tag).unwrap_or(Why::General)
            } else if creator_aff > 0.3 {
                Why::Creator
            } else {
                Why::General
            };
            (i, s, why)
        })
        .collect();
    scored.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(pool[b.0].1.id.0.cmp(&pool[a.0].1.id.0))
    });
    let more = scored.len() as i64 > limit;
    // Diversity: pick greedily from the head, damping a creator seen in the last two picks
    // and a first hashtag equal to the previous pick's.
    let mut head: Vec<(usize, f64, Why)> = scored.into_iter().take((limit as usize) * 5).collect();
    let mut picked: Vec<(usize, Why)> = Vec::new();
    while (picked.len() as i64) < limit && !head.is_empty() {
        let recent: Vec<&VideoRow> = picked
            .iter()
            .rev()
            .take(2)
            .map(|(i, _)| &pool[*i].1)
            .collect();
        let adjusted = |(i, s, _): &(usize, f64, Why)| {
            let v = &pool[*i].1;
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
    let mut sv = pos.sv;
    sv.extend(picked.iter().map(|(i, _)| pool[*i].1.id.0));
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
    let rows: Vec<(Arc<Cell>, VideoRow)> = picked.iter().map(|(i, _)| pool[*i].clone()).collect();
    let general: Vec<Reason> = rows.iter().map(|(_, v)| reason(v, now)).collect();
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
