//! The JSON shapes of the API (see docs/API.md).

use reelm_core::{CommentId, UserId, VideoId};
use serde::Serialize;

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
    pub email: String,
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
