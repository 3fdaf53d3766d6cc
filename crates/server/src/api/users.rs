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

#[utoipa::path(
    get,
    path = "/api/users/{handle}",
    tag = "users",
    summary = "A public profile",
    params(("handle" = String, Path, description = "the person's public handle")),
    responses(
        (status = 200, description = "profile", body = reelm_platform::views::ProfileJson),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
    security((), ("session" = [])),
)]
pub async fn profile(
    State(p): State<Arc<Platform>>,
    MaybeViewer(v): MaybeViewer,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(social::profile(&p, v.as_deref(), &handle).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/users/{handle}/videos",
    tag = "users",
    operation_id = "user_videos",
    summary = "A creator's videos, newest first",
    params(("handle" = String, Path, description = "the person's public handle"), PageQuery),
    responses(
        (status = 200, description = "page", body = crate::api::openapi::VideoPage),
        (status = 400, description = "bad cursor", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
    security((), ("session" = [])),
)]
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

#[utoipa::path(
    post,
    path = "/api/users/{handle}/follow",
    tag = "users",
    summary = "Follow",
    params(("handle" = String, Path, description = "the person's public handle"), crate::api::openapi::Csrf),
    responses(
        (status = 200, description = "state", body = crate::api::openapi::FollowState),
        (status = 400, description = "invalid input", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn follow(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    let (following, follower_count) = social::set_follow(&p, &v, &handle, true).await?;
    Ok(Json(json!({"following": following, "follower_count": follower_count})).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/users/{handle}/follow",
    tag = "users",
    summary = "Unfollow",
    params(("handle" = String, Path, description = "the person's public handle"), crate::api::openapi::Csrf),
    responses(
        (status = 200, description = "state", body = crate::api::openapi::FollowState),
        (status = 400, description = "invalid input", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn unfollow(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    let (following, follower_count) = social::set_follow(&p, &v, &handle, false).await?;
    Ok(Json(json!({"following": following, "follower_count": follower_count})).into_response())
}

#[utoipa::path(
    get,
    path = "/api/feed/following",
    tag = "feed",
    summary = "Videos of the people I follow, newest first",
    params(PageQuery),
    responses(
        (status = 200, description = "page of FeedItem", body = crate::api::openapi::FeedItemPage),
        (status = 400, description = "bad cursor", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn following_feed(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let limit = cursor::limit(q.limit, 10)?;
    Ok(Json(feed::following(&p, &v, q.cursor.as_deref(), limit).await?).into_response())
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForYouQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page (default 10).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<i64>,
    /// `personal` (default) or `trending` (no profiling).
    #[serde(default)]
    #[param(inline)]
    mode: feed::FeedMode,
}

#[utoipa::path(
    get,
    path = "/api/feed/foryou",
    tag = "feed",
    summary = "The For You feed: personal (from your own behavior, in your home region) or trending (no profiling); each item says why it was picked",
    params(ForYouQuery),
    responses(
        (status = 200, description = "page of FeedItem, with the ranking model", body = reelm_platform::views::FeedPage),
        (status = 400, description = "bad cursor", body = crate::api::openapi::ErrorBody),
    ),
    security((), ("session" = [])),
)]
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
