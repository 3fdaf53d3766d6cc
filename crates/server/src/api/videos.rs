//! Videos: upload, read, stream, like, comment, view, not interested.

use super::{ApiJson, ApiQuery, PageQuery, json, parse_id};
use crate::auth::{MaybeViewer, Viewer};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reelm_content::videos::{self as ops, Upload};
use reelm_core::{ErrorCode, VideoId};
use reelm_platform::Platform;
use reelm_platform::cursor;
use reelm_platform::gates::Surface;
use reelm_platform::link::CellLink;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// "50 MiB", "195 KiB": the limit as a person reads it.
fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1024 * 1024 => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
        n if n >= 1024 => format!("{:.0} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::user(
        ErrorCode::PayloadTooLarge,
        format!(
            "the video is larger than the upload limit of {}",
            human_bytes(limit)
        ),
    )
}

fn multipart_error(e: axum::extract::multipart::MultipartError, limit: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::user(
            ErrorCode::BadRequest,
            format!("could not read the multipart form: {}", e.body_text()),
        )
    }
}

/// Reads the multipart form, refusing a file above the limit as soon as it is crossed.
#[utoipa::path(
    post,
    path = "/api/videos",
    tag = "videos",
    operation_id = "upload_video",
    summary = "Upload a video (multipart: file, caption, hashtags, language)",
    params(crate::api::openapi::Csrf),
    request_body(content = inline(crate::api::openapi::UploadForm), content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "published", body = reelm_platform::views::VideoJson),
        (status = 400, description = "invalid input", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
        (status = 413, description = "too large", body = crate::api::openapi::ErrorBody),
        (status = 415, description = "not an MP4 video", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn upload(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let limit = p.config.max_upload_bytes;
    let mut form = form.map_err(|e| {
        ApiError::user(
            ErrorCode::BadRequest,
            format!(
                "send the video as multipart/form-data with a 'file' field ({})",
                e.body_text()
            ),
        )
    })?;
    let mut up = Upload {
        bytes: bytes::Bytes::new(),
        poster: None,
        caption: String::new(),
        hashtags: String::new(),
        language: String::new(),
    };
    let mut got_file = false;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limit))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                let mut buf = bytes::BytesMut::new();
                while let Some(chunk) =
                    field.chunk().await.map_err(|e| multipart_error(e, limit))?
                {
                    if (buf.len() + chunk.len()) as u64 > limit {
                        return Err(too_large(limit));
                    }
                    buf.extend_from_slice(&chunk);
                }
                up.bytes = buf.freeze();
                got_file = true;
            }
            "caption" | "hashtags" | "language" => {
                let text = field.text().await.map_err(|e| multipart_error(e, limit))?;
                if text.len() > 4096 {
                    return Err(ApiError::from_validation(format!("{name} is too long")));
                }
                match name.as_str() {
                    "caption" => up.caption = text,
                    "hashtags" => up.hashtags = text,
                    _ => up.language = text,
                }
            }
            other => {
                return Err(ApiError::from_validation(format!(
                    "unknown form field {other:?}; send file, caption, hashtags and language"
                )));
            }
        }
    }
    if !got_file {
        return Err(ApiError::user(
            ErrorCode::MissingField,
            "the form has no 'file' field with the video",
        ));
    }
    let row = ops::upload(&p, v.user, &v.home, up).await?;
    let video = ops::hydrate(Some(&v), vec![(CellLink::local(v.home.clone()), row)])
        .await?
        .remove(0);
    Ok(json(StatusCode::CREATED, video))
}

#[utoipa::path(
    get,
    path = "/api/videos/{id}",
    tag = "videos",
    operation_id = "get_video",
    summary = "A video",
    params(("id" = reelm_core::VideoId, Path, description = "the video's id")),
    responses(
        (status = 200, description = "video", body = reelm_platform::views::VideoJson),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
    security((), ("session" = [])),
)]
pub async fn get(
    State(p): State<Arc<Platform>>,
    MaybeViewer(viewer): MaybeViewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: VideoId = parse_id(&id, "video")?;
    let (cell, row) = ops::visible_video(&p, viewer.as_deref(), id, Surface::DirectLink).await?;
    let video = ops::hydrate(viewer.as_deref(), vec![(cell, row)])
        .await?
        .remove(0);
    Ok(Json(video).into_response())
}

/// Streams the video with HTTP range support, which browsers need to start playing before the
/// download ends and to seek.
/// The video's media, from the media store of the cell that holds it; when that cell runs in
/// another process the request is sent there and the answer streamed back.
#[utoipa::path(
    get,
    path = "/api/videos/{id}/media",
    tag = "videos",
    operation_id = "video_media",
    summary = "The MP4, with HTTP range support",
    params(("id" = reelm_core::VideoId, Path, description = "the video's id"), ("Range" = Option<String>, Header, description = "bytes=a-b; a malformed range is ignored")),
    responses(
        (status = 200, description = "whole file", content_type = "video/mp4", body = inline(crate::api::openapi::Binary), headers(("Accept-Ranges" = String, description = "bytes"))),
        (status = 206, description = "partial content", content_type = "video/mp4", body = inline(crate::api::openapi::Binary), headers(("Content-Range" = String, description = "bytes a-b/size"))),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
        (status = 416, description = "range not satisfiable", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn media(
    State(p): State<Arc<Platform>>,
    viewer: MaybeViewer,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let id: VideoId = parse_id(&id, "video")?;
    let (link, row) = ops::visible_video(&p, viewer.session(), id, Surface::Media).await?;
    match (link.as_local(), link.as_remote()) {
        (Some(cell), _) => {
            serve_object(&cell.media, &row.media_key, "video/mp4", request.headers()).await
        }
        (None, Some(remote)) => {
            Ok(super::cells::forward_public(remote, request, &p.local_region()).await)
        }
        (None, None) => Err(ApiError::user(ErrorCode::NotFound, "media not found")),
    }
}

#[utoipa::path(
    get,
    path = "/api/videos/{id}/poster",
    tag = "videos",
    operation_id = "video_poster",
    summary = "The poster image",
    params(("id" = reelm_core::VideoId, Path, description = "the video's id")),
    responses(
        (status = 200, description = "JPEG", content_type = "image/jpeg", body = inline(crate::api::openapi::Binary)),
        (status = 404, description = "no poster", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn poster(
    State(p): State<Arc<Platform>>,
    viewer: MaybeViewer,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let id: VideoId = parse_id(&id, "video")?;
    let (link, row) = ops::visible_video(&p, viewer.session(), id, Surface::Media).await?;
    let key = row
        .poster_key
        .ok_or_else(|| ApiError::user(ErrorCode::NotFound, "this video has no poster"))?;
    match (link.as_local(), link.as_remote()) {
        (Some(cell), _) => serve_object(&cell.media, &key, "image/jpeg", request.headers()).await,
        (None, Some(remote)) => {
            Ok(super::cells::forward_public(remote, request, &p.local_region()).await)
        }
        (None, None) => Err(ApiError::user(
            ErrorCode::NotFound,
            "this video has no poster",
        )),
    }
}

async fn serve_object(
    media: &reelm_media::MediaStore,
    key: &str,
    content_type: &'static str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let size = media.size(key).await?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, range) = match range.map(|r| reelm_media::parse_range_header(r, size)) {
        Some(Ok(r)) => (StatusCode::PARTIAL_CONTENT, r),
        Some(Err(reelm_media::RangeError::Unsatisfiable { size })) => {
            let mut resp = ApiError::user(
                ErrorCode::RangeNotSatisfiable,
                format!("the range is outside the {size} bytes of this object"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(resp);
        }
        // A malformed Range header is ignored, as RFC 9110 allows: the whole object follows.
        _ => (StatusCode::OK, 0..size),
    };
    let body = if range.is_empty() {
        bytes::Bytes::new()
    } else {
        media.get_range(key, range.clone()).await?
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // Media objects never change once written (a new upload gets a new id).
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{size}",
            range.start,
            range.end.saturating_sub(1)
        ))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

#[utoipa::path(
    post,
    path = "/api/videos/{id}/like",
    tag = "videos",
    operation_id = "like_video",
    summary = "Like",
    params(("id" = reelm_core::VideoId, Path, description = "the video's id"), crate::api::openapi::Csrf),
    responses(
        (status = 200, description = "state", body = crate::api::openapi::LikeState),
        (status = 400, description = "invalid input", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn like(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: VideoId = parse_id(&id, "video")?;
    let (liked, like_count) = ops::set_like(&p, &v, id, true).await?;
    Ok(Json(json!({"liked": liked, "like_count": like_count})).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/videos/{id}/like",
    tag = "videos",
    operation_id = "unlike_video",
    summary = "Unlike",
    params(("id" = reelm_core::VideoId, Path, description = "the video's id"), crate::api::openapi::Csrf),
    responses(
        (status = 200, description = "state", body = crate::api::openapi::LikeState),
        (status = 400, description = "invalid input", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn unlike(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: VideoId = parse_id(&id, "video")?;
    let (liked, like_count) = ops::set_like(&p, &v, id, false).await?;
    Ok(Json(json!({"liked": liked, "like_count": like_count})).into_response())
}

#[utoipa::path(
    get,
    path = "/api/videos/{id}/comments",
    tag = "videos",
    operation_id = "list_comments",
    summary = "Comments, newest first",
    params(("id" = reelm_core::VideoId, Path, description = "the video's id"), PageQuery),
    responses(
        (status = 200, description = "page", body = crate::api::openapi::CommentPage),
        (status = 400, description = "bad cursor", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn comments(
    State(p): State<Arc<Platform>>,
    viewer: MaybeViewer,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let id: VideoId = parse_id(&id, "video")?;
    let limit = cursor::limit(q.limit, 20)?;
    Ok(
        Json(ops::list_comments(&p, viewer.session(), id, q.cursor.as_deref(), limit).await?)
            .into_response(),
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewComment {
    text: String,
}

#[utoipa::path(
    post,
    path = "/api/videos/{id}/comments",
    tag = "videos",
    operation_id = "add_comment",
    summary = "Comment",
    params(("id" = reelm_core::VideoId, Path, description = "the video's id"), crate::api::openapi::Csrf),
    request_body = NewComment,
    responses(
        (status = 201, description = "comment", body = reelm_platform::views::CommentJson),
        (status = 400, description = "invalid input", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn comment(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<NewComment>,
) -> Result<Response, ApiError> {
    let id: VideoId = parse_id(&id, "video")?;
    Ok(json(
        StatusCode::CREATED,
        ops::add_comment(&p, &v, id, &c.text).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewView {
    watch_ms: i64,
    #[serde(default)]
    completed: bool,
}

#[utoipa::path(
    post,
    path = "/api/videos/{id}/views",
    tag = "videos",
    operation_id = "record_view",
    summary = "Record a view with its watch time",
    params(("id" = reelm_core::VideoId, Path, description = "the video's id"), crate::api::openapi::Csrf),
    request_body = NewView,
    responses(
        (status = 202, description = "recorded", body = crate::api::openapi::Recorded),
        (status = 400, description = "invalid input", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn view(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    Path(id): Path<String>,
    ApiJson(view): ApiJson<NewView>,
) -> Result<Response, ApiError> {
    let id: VideoId = parse_id(&id, "video")?;
    ops::record_view(&p, &v, id, view.watch_ms, view.completed).await?;
    Ok(json(StatusCode::ACCEPTED, json!({"recorded": true})))
}

#[utoipa::path(
    post,
    path = "/api/videos/{id}/share",
    tag = "videos",
    operation_id = "share_video",
    summary = "Record that I shared this video (a behavioral event for my home region's feed)",
    params(("id" = reelm_core::VideoId, Path, description = "the video's id"), crate::api::openapi::Csrf),
    responses(
        (status = 202, description = "recorded", body = crate::api::openapi::Recorded),
        (status = 400, description = "invalid input", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn share(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: VideoId = parse_id(&id, "video")?;
    ops::share(&p, &v, id).await?;
    Ok(json(StatusCode::ACCEPTED, json!({"recorded": true})))
}

#[utoipa::path(
    post,
    path = "/api/videos/{id}/not-interested",
    tag = "videos",
    summary = "Hide this video and its creator from my For You feed",
    params(("id" = reelm_core::VideoId, Path, description = "the video's id"), crate::api::openapi::Csrf),
    responses(
        (status = 204, description = "done"),
        (status = 400, description = "invalid input", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not found", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn not_interested(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: VideoId = parse_id(&id, "video")?;
    ops::not_interested(&p, &v, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
