//! The views operations return: what a person or a client sees of videos, people, comments
//! and feeds (serialized as the API's JSON, see docs/API.md), and how rows become views.

use crate::link::CellLink;
use crate::{Cell, Error, Session};
use reelm_core::{CommentId, ErrorCode, UserId, VideoId};
use reelm_store::VideoRow;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A person's own view of their account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserJson {
    pub id: UserId,
    pub handle: String,
    pub display_name: String,
    pub bio: String,
    /// Serialized on purpose: this is the person's own view of their account.
    #[schema(value_type = String)]
    pub email: reelm_core::Sensitive<String>,
    pub birth_date: String,
    pub country: String,
    pub region: String,
    pub data_center: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Profile)]
pub struct ProfileJson {
    pub id: UserId,
    pub handle: String,
    pub display_name: String,
    pub bio: String,
    pub region: String,
    pub follower_count: i64,
    pub following_count: i64,
    pub video_count: i64,
    pub like_count: i64,
    pub followed_by_me: bool,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = Person)]
pub struct PersonRef {
    pub id: UserId,
    pub handle: String,
    pub display_name: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Video)]
pub struct VideoJson {
    pub id: VideoId,
    pub creator: PersonRef,
    pub caption: String,
    pub hashtags: Vec<String>,
    pub language: String,
    pub duration_ms: i64,
    pub width: i64,
    pub height: i64,
    pub status: String,
    pub created_at: String,
    pub like_count: i64,
    pub comment_count: i64,
    pub view_count: i64,
    pub liked_by_me: bool,
    pub media_url: String,
    pub poster_url: Option<String>,
    pub region: String,
    /// Why screening held, blocked or restricted the video: shown to its creator only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screening_reason: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Comment)]
pub struct CommentJson {
    pub id: CommentId,
    pub video_id: VideoId,
    pub author: PersonRef,
    pub text: String,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Reason {
    pub source: &'static str,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FeedItem {
    pub video: VideoJson,
    pub reason: Reason,
}

/// A page of the For You feed, with the ranking that produced it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedPage {
    pub items: Vec<FeedItem>,
    pub next_cursor: Option<String>,
    /// The ranking model version: a region's trained ranker (`<region>-<trained at ms>`),
    /// `interest-v2` before one is trained, or `trending-v2` (no profiling).
    pub model: String,
}

/// Turns stored rows (each with the cell that holds it) into API videos: creator from the
/// creator's cell, `liked_by_me` from the viewer's home cell.
pub async fn hydrate(
    viewer: Option<&Session>,
    rows: Vec<(CellLink, VideoRow)>,
) -> Result<Vec<VideoJson>, Error> {
    let mut by_cell: HashMap<String, (CellLink, Vec<UserId>)> = HashMap::new();
    for (cell, v) in &rows {
        by_cell
            .entry(cell.id().to_string())
            .or_insert_with(|| (cell.clone(), Vec::new()))
            .1
            .push(v.creator_id);
    }
    let mut people: HashMap<UserId, PersonRef> = HashMap::new();
    for (cell, mut ids) in by_cell.into_values() {
        ids.sort();
        ids.dedup();
        for p in cell.people(&ids).await? {
            people.insert(p.id, p);
        }
    }
    let liked: Arc<HashSet<VideoId>> = match viewer {
        Some(v) => v.home.likes(v.user).await?,
        None => Arc::new(HashSet::new()),
    };
    Ok(rows
        .into_iter()
        .map(|(cell, v)| {
            let creator = people.get(&v.creator_id).cloned().unwrap_or(PersonRef {
                id: v.creator_id,
                handle: "unknown".into(),
                display_name: String::new(),
            });
            VideoJson {
                id: v.id,
                creator,
                hashtags: v.hashtag_list(),
                caption: v.caption,
                language: v.language,
                duration_ms: v.duration_ms,
                width: v.width,
                height: v.height,
                status: v.status,
                created_at: reelm_core::rfc3339(v.created_at),
                like_count: v.like_count,
                comment_count: v.comment_count,
                view_count: v.view_count,
                liked_by_me: liked.contains(&v.id),
                media_url: format!("/api/videos/{}/media", v.id),
                poster_url: v
                    .poster_key
                    .as_ref()
                    .map(|_| format!("/api/videos/{}/poster", v.id)),
                region: cell.id().to_string(),
                screening_reason: v
                    .screening_reason
                    .filter(|_| viewer.is_some_and(|s| s.user == v.creator_id)),
            }
        })
        .collect())
}

/// The person's own account, decrypted with their key.
pub async fn own_account(cell: &Cell, user: UserId) -> Result<UserJson, Error> {
    let account = cell
        .store
        .account(user)
        .await?
        .ok_or_else(|| Error::user(ErrorCode::NotFound, "account not found"))?;
    let profile = cell
        .store
        .profile(user)
        .await?
        .ok_or_else(|| Error::Internal("account without profile".into()))?;
    let key = cell.user_key(&account)?;
    let open = |column: &str, ct: &[u8]| cell.unseal(&key, user, "accounts", column, ct);
    Ok(UserJson {
        id: user,
        handle: profile.handle,
        display_name: profile.display_name,
        bio: profile.bio,
        email: open("email_enc", &account.email_enc)?.into(),
        birth_date: open("birth_date_enc", &account.birth_date_enc)?,
        country: open("country_enc", &account.country_enc)?,
        region: cell.id().to_string(),
        data_center: cell.config.data_center.clone(),
        created_at: reelm_core::rfc3339(account.created_at),
    })
}
