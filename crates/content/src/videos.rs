//! Videos: upload, the public video view, likes, comments, views and "not interested".

use reelm_core::{CommentId, ErrorCode, UserId, VideoId, validate};
use reelm_events::NewEvent;
use reelm_platform::Error;
use reelm_platform::Session;
use reelm_platform::cursor;
use reelm_platform::gates::Surface;
use reelm_platform::gateway;
use reelm_platform::link::CellLink;
use reelm_platform::platform::{Cell, Platform};
use reelm_platform::views::{CommentJson, Page, PersonRef};
use reelm_residency::policy::PURPOSE_PUBLIC_COUNTER;
use reelm_store::{
    CommentRow, EventKind, Keyset, MediaObjectRow, ProfileCounterDelta, VideoCounterDelta, VideoRow,
};
use std::collections::HashMap;

pub struct Upload {
    pub bytes: bytes::Bytes,
    pub poster: Option<bytes::Bytes>,
    pub caption: String,
    pub hashtags: String,
    pub language: String,
}

/// Validates and stores an upload in the creator's home cell. With no screening stages
/// installed it is published at once; otherwise it waits in `processing` (visible only to its
/// creator) while a background job in the home cell runs the stages ([`screening`]).
pub async fn upload(
    p: &Platform,
    creator: UserId,
    home: &Cell,
    up: Upload,
) -> Result<VideoRow, Error> {
    let caption = validate::caption(&up.caption).map_err(Error::from_validation)?;
    let hashtags = validate::hashtags(&up.hashtags).map_err(Error::from_validation)?;
    let language = validate::language(&up.language).map_err(Error::from_validation)?;
    if up.bytes.is_empty() {
        return Err(Error::user(
            ErrorCode::MissingField,
            "the upload has no file: send the video in the 'file' field",
        ));
    }
    // Never trust the claimed type: the container itself must be a playable MP4.
    let info = reelm_media::validate_mp4(&up.bytes)?;
    let id = VideoId::new();
    let now = reelm_core::now_ms();
    let media_key = format!("videos/{id}.mp4");
    let mut objects = vec![MediaObjectRow {
        object_key: media_key.clone(),
        video_id: id,
        kind: "video".into(),
        bytes: up.bytes.len() as i64,
        content_type: "video/mp4".into(),
    }];
    home.media.put(&media_key, up.bytes).await?;
    let mut poster_key = None;
    if let Some(poster) = up.poster {
        let key = format!("posters/{id}.jpg");
        objects.push(MediaObjectRow {
            object_key: key.clone(),
            video_id: id,
            kind: "poster".into(),
            bytes: poster.len() as i64,
            content_type: "image/jpeg".into(),
        });
        home.media.put(&key, poster).await?;
        poster_key = Some(key);
    }
    let screened = !p.screening_stages().is_empty();
    let row = VideoRow {
        id,
        creator_id: creator,
        caption,
        hashtags: hashtags.join(" "),
        language,
        duration_ms: info.duration_ms as i64,
        width: i64::from(info.width),
        height: i64::from(info.height),
        status: if screened { "processing" } else { "published" }.into(),
        media_key,
        poster_key,
        created_at: now,
        like_count: 0,
        comment_count: 0,
        view_count: 0,
        restricted_regions: String::new(),
        screening_reason: None,
    };
    home.store.insert_video(&row, &objects).await?;
    home.cache.creator_videos.invalidate(&creator);
    home.cache.people.invalidate(&creator);
    if screened {
        crate::screening::enqueue(home, &row).await?;
    } else {
        // A candidate at once, without rebuilding the pool for every upload.
        p.video_published(home, &row);
    }
    Ok(row)
}

pub use reelm_platform::views::hydrate;

/// A published video, from whichever cell holds it (no gates: for callers that apply their
/// own, see [`visible_video`]).
pub async fn get_video(p: &Platform, id: VideoId) -> Result<(CellLink, VideoRow), Error> {
    match p.find_video(id).await? {
        Some((cell, v)) if v.status == "published" => Ok((cell, v)),
        _ => Err(not_found(id)),
    }
}

fn not_found(id: VideoId) -> Error {
    Error::user(ErrorCode::NotFound, format!("video {id} not found"))
}

/// The video `viewer` may see on `surface`: a published one that every visibility gate admits
/// for them, or their own in any status (so a creator can follow their upload through
/// screening). A video that does not exist, or is not published and not theirs, is not found;
/// one a gate refuses is `forbidden`, with the gate's reason.
pub async fn visible_video(
    p: &Platform,
    viewer: Option<&Session>,
    id: VideoId,
    surface: Surface,
) -> Result<(CellLink, VideoRow), Error> {
    let Some((cell, v)) = p.find_video(id).await? else {
        return Err(not_found(id));
    };
    let own = viewer.is_some_and(|s| s.user == v.creator_id);
    if own {
        return Ok((cell, v));
    }
    if v.status != "published" {
        return Err(not_found(id));
    }
    let gates = p.gates();
    let audience = reelm_platform::session::audience_for(viewer, &gates).await?;
    if let Err(refusal) = gates.check(surface, &audience, &v) {
        return Err(Error::user(
            ErrorCode::Forbidden,
            format!("video {id} is not available to you: {}", refusal.reason),
        ));
    }
    Ok((cell, v))
}

/// Likes (`like = true`) or unlikes a video. The like row stays in the viewer's home cell;
/// only the count change travels to the video's cell.
pub async fn set_like(
    p: &Platform,
    viewer: &Session,
    id: VideoId,
    like: bool,
) -> Result<(bool, i64), Error> {
    let (cell, video) = visible_video(p, Some(viewer), id, Surface::DirectLink).await?;
    let now = reelm_core::now_ms();
    let changed = if like {
        viewer.home.store.like(viewer.user, id, now).await?
    } else {
        viewer.home.store.unlike(viewer.user, id).await?
    };
    viewer.home.cache.likes.invalidate(&viewer.user);
    let mut count = video.like_count;
    if changed {
        let kind = if like {
            EventKind::Like
        } else {
            EventKind::Unlike
        };
        record_event(viewer, id, kind, 0).await?;
        let d = if like { 1 } else { -1 };
        gateway::video_counters(
            &viewer.home,
            &cell,
            PURPOSE_PUBLIC_COUNTER,
            id,
            VideoCounterDelta {
                likes: d,
                ..Default::default()
            },
        )
        .await?;
        gateway::profile_counters(
            &viewer.home,
            &cell,
            PURPOSE_PUBLIC_COUNTER,
            video.creator_id,
            ProfileCounterDelta {
                likes: d,
                ..Default::default()
            },
        )
        .await?;
        count = (count + d).max(0);
    }
    Ok((like, count))
}

pub async fn add_comment(
    p: &Platform,
    viewer: &Session,
    id: VideoId,
    text: &str,
) -> Result<CommentJson, Error> {
    let body = validate::comment(text).map_err(Error::from_validation)?;
    let (cell, _) = visible_video(p, Some(viewer), id, Surface::DirectLink).await?;
    let row = CommentRow {
        id: CommentId::new(),
        video_id: id,
        author_id: viewer.user,
        body,
        created_at: reelm_core::now_ms(),
    };
    viewer.home.store.insert_comment(&row).await?;
    record_event(viewer, id, EventKind::Comment, 0).await?;
    gateway::video_counters(
        &viewer.home,
        &cell,
        PURPOSE_PUBLIC_COUNTER,
        id,
        VideoCounterDelta {
            comments: 1,
            ..Default::default()
        },
    )
    .await?;
    let profile = viewer
        .home
        .store
        .profile(viewer.user)
        .await?
        .ok_or_else(|| Error::Internal("no profile".into()))?;
    Ok(CommentJson {
        id: row.id,
        video_id: id,
        author: PersonRef {
            id: profile.user_id,
            handle: profile.handle,
            display_name: profile.display_name,
        },
        text: row.body,
        created_at: reelm_core::rfc3339(row.created_at),
    })
}

/// Comments live with their authors, so listing them reads every cell and merges newest
/// first. The cursor is the last comment shown.
pub async fn list_comments(
    p: &Platform,
    viewer: Option<&Session>,
    id: VideoId,
    cursor_in: Option<&str>,
    limit: i64,
) -> Result<Page<CommentJson>, Error> {
    visible_video(p, viewer, id, Surface::Comments).await?;
    let after = match cursor_in {
        Some(c) => {
            let (at, cid): (i64, i64) = cursor::decode(c)?;
            Keyset { at, id: cid }
        }
        None => Keyset::START,
    };
    let mut merged: Vec<(CellLink, CommentRow)> = Vec::new();
    for link in p.links() {
        for c in link.comments_on(id, after, limit + 1).await? {
            merged.push((link.clone(), c));
        }
    }
    merged.sort_by_key(|(_, c)| std::cmp::Reverse((c.created_at, c.id.0)));
    let more = merged.len() as i64 > limit;
    merged.truncate(limit as usize);
    let mut people: HashMap<UserId, PersonRef> = HashMap::new();
    for link in p.links() {
        let mut ids: Vec<UserId> = merged
            .iter()
            .filter(|(c, _)| c.id() == link.id())
            .map(|(_, r)| r.author_id)
            .collect();
        ids.sort();
        ids.dedup();
        for pr in link.people(&ids).await? {
            people.insert(pr.id, pr);
        }
    }
    let next_cursor = if more {
        merged
            .last()
            .map(|(_, c)| cursor::encode(&(c.created_at, c.id.0)))
    } else {
        None
    };
    let items = merged
        .into_iter()
        .map(|(_, c)| CommentJson {
            id: c.id,
            video_id: c.video_id,
            author: people.get(&c.author_id).cloned().unwrap_or(PersonRef {
                id: c.author_id,
                handle: "unknown".into(),
                display_name: String::new(),
            }),
            text: c.body,
            created_at: reelm_core::rfc3339(c.created_at),
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// The longest watch time a single view may report: a day. Anything above is a broken client.
pub const MAX_WATCH_MS: i64 = 24 * 3600 * 1000;

pub async fn record_view(
    p: &Platform,
    viewer: &Session,
    id: VideoId,
    watch_ms: i64,
    completed: bool,
) -> Result<(), Error> {
    if !(0..=MAX_WATCH_MS).contains(&watch_ms) {
        return Err(Error::from_validation(format!(
            "watch_ms must be between 0 and {MAX_WATCH_MS}, not {watch_ms}"
        )));
    }
    let (cell, _) = visible_video(p, Some(viewer), id, Surface::DirectLink).await?;
    // The log's transaction also writes the person's viewing history.
    let kind = if completed {
        EventKind::Complete
    } else {
        EventKind::View
    };
    record_event(viewer, id, kind, watch_ms).await?;
    viewer.home.cache.recent_views.invalidate(&viewer.user);
    gateway::video_counters(
        &viewer.home,
        &cell,
        PURPOSE_PUBLIC_COUNTER,
        id,
        VideoCounterDelta {
            views: 1,
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

pub async fn not_interested(p: &Platform, viewer: &Session, id: VideoId) -> Result<(), Error> {
    let (_, video) = visible_video(p, Some(viewer), id, Surface::DirectLink).await?;
    viewer
        .home
        .store
        .mark_not_interested(viewer.user, id, video.creator_id, reelm_core::now_ms())
        .await?;
    viewer.home.cache.not_interested.invalidate(&viewer.user);
    record_event(viewer, id, EventKind::NotInterested, 0).await?;
    Ok(())
}

/// Records that the person shared a video (the link itself is made by the client).
pub async fn share(p: &Platform, viewer: &Session, id: VideoId) -> Result<(), Error> {
    visible_video(p, Some(viewer), id, Surface::DirectLink).await?;
    record_event(viewer, id, EventKind::Share, 0).await?;
    Ok(())
}

/// Appends a behavioral event to the viewer's home region's log (and nowhere else).
async fn record_event(
    viewer: &Session,
    video: VideoId,
    kind: EventKind,
    watch_ms: i64,
) -> Result<(), Error> {
    viewer
        .home
        .events
        .append(NewEvent {
            user: viewer.user,
            video,
            kind,
            watch_ms,
        })
        .await?;
    Ok(())
}
