//! Profiles, follows and the two feeds.

use super::{ApiQuery, PageQuery};
use crate::auth::{MaybeViewer, Viewer};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use reelm_content::social;
use reelm_platform::Platform;
use reelm_platform::cursor;
use reelm_recommend::feed;
use serde_json::json;
use std::sync::Arc;

pub async fn profile(
    State(p): State<Arc<Platform>>,
    MaybeViewer(v): MaybeViewer,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(social::profile(&p, v.as_deref(), &handle).await?).into_response())
}

pub async fn videos(
    State(p): State<Arc<Platform>>,
    MaybeViewer(v): MaybeViewer,
    Path(handle): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let limit = cursor::limit(q.limit, 20)?;
    Ok(
        Json(social::videos_of(&p, v.as_deref(), &handle, q.cursor.as_deref(), limit).await?)
            .into_response(),
    )
}

pub async fn follow(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    let (following, follower_count) = social::set_follow(&p, &v, &handle, true).await?;
    Ok(Json(json!({"following": following, "follower_count": follower_count})).into_response())
}

pub async fn unfollow(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    let (following, follower_count) = social::set_follow(&p, &v, &handle, false).await?;
    Ok(Json(json!({"following": following, "follower_count": follower_count})).into_response())
}

pub async fn following_feed(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let limit = cursor::limit(q.limit, 10)?;
    Ok(Json(feed::following(&p, &v, q.cursor.as_deref(), limit).await?).into_response())
}

#[derive(serde::Deserialize)]
pub struct ForYouQuery {
    cursor: Option<String>,
    limit: Option<i64>,
    /// `personal` (default) or `trending` (no profiling).
    #[serde(default)]
    mode: feed::FeedMode,
}

pub async fn for_you_feed(
    State(p): State<Arc<Platform>>,
    MaybeViewer(v): MaybeViewer,
    ApiQuery(q): ApiQuery<ForYouQuery>,
) -> Result<Response, ApiError> {
    let limit = cursor::limit(q.limit, 10)?;
    Ok(
        Json(feed::for_you(&p, v.as_deref(), q.cursor.as_deref(), limit, q.mode).await?)
            .into_response(),
    )
}
