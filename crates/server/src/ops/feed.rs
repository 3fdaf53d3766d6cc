//! The Following feed and a first For You feed (recency × engagement, the same for everyone
//! apart from "not interested"; the learned recommender replaces its ranking).

use crate::api::model::{FeedItem, Page, Reason};
use crate::auth::Viewer;
use crate::cursor;
use crate::error::AppError;
use crate::ops::videos::hydrate;
use crate::platform::{Cell, Platform};
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

#[derive(Serialize, Deserialize)]
struct ForYouCursor {
    /// The time scores are computed at, fixed for the whole scroll so pages do not reshuffle.
    t: i64,
    /// The last item shown: its score (as IEEE bits, so it survives JSON exactly) and id.
    s: u64,
    i: i64,
}

/// Recency × engagement: engagement grows with likes, comments and views; a video's score
/// halves roughly every day of age.
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
) -> Result<Page<FeedItem>, AppError> {
    let pos: Option<ForYouCursor> = cursor_in.map(cursor::decode).transpose()?;
    let now = pos.as_ref().map(|c| c.t).unwrap_or_else(reelm_core::now_ms);
    let (hidden_videos, hidden_creators): (HashSet<VideoId>, HashSet<UserId>) = match viewer {
        Some(v) => {
            let hidden = v.home.not_interested(v.user).await?;
            let (vids, creators) = (hidden.0.iter().copied(), hidden.1.iter().copied());
            (vids.into_iter().collect(), creators.into_iter().collect())
        }
        None => Default::default(),
    };
    let pool = p.candidates().await?;
    // Score by index and clone only the page: the pool holds thousands of rows.
    let last = pos.as_ref().map(|c| (f64::from_bits(c.s), c.i));
    let mut ranked: Vec<(usize, f64)> = pool
        .iter()
        .enumerate()
        .filter(|(_, (_, v))| {
            !hidden_videos.contains(&v.id) && !hidden_creators.contains(&v.creator_id)
        })
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
            })
        })
    } else {
        None
    };
    let ranked: Vec<(Arc<Cell>, VideoRow)> = ranked.iter().map(|(i, _)| pool[*i].clone()).collect();
    let reasons: Vec<Reason> = ranked.iter().map(|(_, v)| reason(v, now)).collect();
    let videos = hydrate(viewer, ranked).await?;
    let items = videos
        .into_iter()
        .zip(reasons)
        .map(|(video, reason)| FeedItem { video, reason })
        .collect();
    Ok(Page { items, next_cursor })
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
