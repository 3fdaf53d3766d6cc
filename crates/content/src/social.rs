//! Profiles and follows.

use crate::videos::hydrate;
use reelm_core::{ErrorCode, UserId, validate};
use reelm_platform::Error;
use reelm_platform::Session;
use reelm_platform::cursor;
use reelm_platform::gates::Surface;
use reelm_platform::gateway;
use reelm_platform::link::CellLink;
use reelm_platform::platform::Platform;
use reelm_platform::views::{Page, ProfileJson, VideoJson};
use reelm_residency::policy::PURPOSE_PUBLIC_COUNTER;
use reelm_store::{Keyset, ProfileCounterDelta};

/// Finds a person by handle: their id and home cell (local or remote: only public reads and
/// gateway deliveries go to it).
pub async fn resolve_handle(p: &Platform, handle: &str) -> Result<(UserId, CellLink), Error> {
    let not_found = || Error::user(ErrorCode::NotFound, format!("no one is called @{handle}"));
    let h = validate::handle(handle).map_err(|_| not_found())?;
    let entry = p.directory.by_handle(&h).await?.ok_or_else(not_found)?;
    let cell = p.link(&entry.region).cloned().ok_or_else(not_found)?;
    Ok((entry.user_id, cell))
}

pub async fn profile(
    p: &Platform,
    viewer: Option<&Session>,
    handle: &str,
) -> Result<ProfileJson, Error> {
    let (user, cell) = resolve_handle(p, handle).await?;
    let pr = cell
        .profile(user)
        .await?
        .ok_or_else(|| Error::user(ErrorCode::NotFound, "profile not found"))?;
    let followed_by_me = match viewer {
        Some(v) => v.home.store.is_following(v.user, user).await?,
        None => false,
    };
    Ok(ProfileJson {
        id: pr.user_id,
        handle: pr.handle,
        display_name: pr.display_name,
        bio: pr.bio,
        region: cell.id().to_string(),
        follower_count: pr.follower_count,
        following_count: pr.following_count,
        video_count: pr.video_count,
        like_count: pr.like_count,
        followed_by_me,
    })
}

pub async fn videos_of(
    p: &Platform,
    viewer: Option<&Session>,
    handle: &str,
    cursor_in: Option<&str>,
    limit: i64,
) -> Result<Page<VideoJson>, Error> {
    let (user, cell) = resolve_handle(p, handle).await?;
    let after = match cursor_in {
        Some(c) => {
            let (at, id): (i64, i64) = cursor::decode(c)?;
            Keyset { at, id }
        }
        None => Keyset::START,
    };
    let mut rows = cell.videos_by_creators(&[user], after, limit + 1).await?;
    let gates = p.gates();
    let audience = reelm_platform::session::audience_for(viewer, &gates).await?;
    rows.retain(|v| gates.admits(Surface::Profile, &audience, v));
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|v| cursor::encode(&(v.created_at, v.id.0)))
    } else {
        None
    };
    let items = hydrate(
        viewer,
        rows.into_iter().map(|v| (cell.clone(), v)).collect(),
    )
    .await?;
    Ok(Page { items, next_cursor })
}

/// Follows (`follow = true`) or unfollows. The follow row is behavioral and stays in the
/// follower's home; the followee's public follower count changes through the gateway.
pub async fn set_follow(
    p: &Platform,
    viewer: &Session,
    handle: &str,
    follow: bool,
) -> Result<(bool, i64), Error> {
    let (target, cell) = resolve_handle(p, handle).await?;
    if target == viewer.user {
        return Err(Error::from_validation("you cannot follow yourself".into()));
    }
    let now = reelm_core::now_ms();
    let changed = if follow {
        viewer.home.store.follow(viewer.user, target, now).await?
    } else {
        viewer.home.store.unfollow(viewer.user, target).await?
    };
    viewer.home.cache.followees.invalidate(&viewer.user);
    if changed {
        let d = if follow { 1 } else { -1 };
        viewer
            .home
            .store
            .adjust_profile_counters(
                viewer.user,
                ProfileCounterDelta {
                    following: d,
                    ..Default::default()
                },
            )
            .await?;
        gateway::profile_counters(
            &viewer.home,
            &cell,
            PURPOSE_PUBLIC_COUNTER,
            target,
            ProfileCounterDelta {
                followers: d,
                ..Default::default()
            },
        )
        .await?;
    }
    let count = cell
        .profile(target)
        .await?
        .map(|p| p.follower_count)
        .unwrap_or(0);
    Ok((follow, count))
}
