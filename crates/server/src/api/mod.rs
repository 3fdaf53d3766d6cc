//! The HTTP API: one module per resource, the router, and extractors that turn malformed input
//! into clear 4xx answers.

pub mod accounts;
pub mod cells;
pub mod openapi;
pub mod operators;
pub mod regions;
pub mod users;
pub mod videos;

use crate::error::ApiError;
use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use reelm_core::ErrorCode;
use reelm_platform::Platform;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

pub fn router(platform: Arc<Platform>) -> Router {
    // Operators' requests about a person of another region are cell calls the person's cell
    // answers; this process's cells answer them from now on.
    reelm_operators::register(&platform);
    let upload_limit = platform.config.max_upload_bytes as usize + 64 * 1024;
    let api = Router::new()
        .route("/health", get(regions::health))
        .route("/regions", get(regions::list))
        .route("/regions/placement", get(regions::placement))
        .route("/openapi.json", get(regions::openapi))
        .route("/auth/signup", post(accounts::sign_up))
        .route("/auth/login", post(accounts::log_in))
        .route("/auth/logout", post(accounts::log_out))
        .route("/me", get(accounts::me).delete(accounts::erase_me))
        .route("/me/data-location", get(accounts::data_location))
        .route("/me/access-log", get(operators::my_access_log))
        .route("/ops/login", post(operators::log_in))
        .route("/ops/me", get(operators::me))
        .route("/ops/break-glass", post(operators::request_break_glass))
        .route(
            "/ops/break-glass/{id}/approve",
            post(operators::approve_break_glass),
        )
        .route(
            "/ops/people/{handle}/personal",
            get(operators::read_personal),
        )
        .route(
            "/videos",
            post(videos::upload).layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/videos/{id}", get(videos::get))
        .route("/videos/{id}/media", get(videos::media))
        .route("/videos/{id}/poster", get(videos::poster))
        .route(
            "/videos/{id}/like",
            post(videos::like).delete(videos::unlike),
        )
        .route(
            "/videos/{id}/comments",
            get(videos::comments).post(videos::comment),
        )
        .route("/videos/{id}/views", post(videos::view))
        .route("/videos/{id}/not-interested", post(videos::not_interested))
        .route("/videos/{id}/share", post(videos::share))
        .route("/users/{handle}", get(users::profile))
        .route("/users/{handle}/videos", get(users::videos))
        .route(
            "/users/{handle}/follow",
            post(users::follow).delete(users::unfollow),
        )
        .route("/feed/following", get(users::following_feed))
        .route("/feed/foryou", get(users::for_you_feed))
        .fallback(|| async {
            ApiError::user(
                ErrorCode::NotFound,
                "no such API endpoint; see /api/openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::user(
                ErrorCode::MethodNotAllowed,
                "this endpoint does not take that method; see /api/openapi.json",
            )
        });
    let app = Router::new()
        .nest("/api", api)
        .merge(crate::web::router())
        // When some cells run in other processes, a request of a person homed elsewhere is
        // sent to their home cell before any handler runs.
        .layer(axum::middleware::from_fn_with_state(
            platform.clone(),
            cells::route_home,
        ))
        .with_state(platform);
    security_headers(app).layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Sets the browser-hardening headers on every answer of `router` (its handlers, errors,
/// fallbacks and the web app's pages alike):
/// - `X-Content-Type-Options: nosniff`: a browser takes our content types as given, so an
///   uploaded file is never run as a script or a page;
/// - `Referrer-Policy: same-origin`: our URLs name people (`/@handle`) and videos; a link
///   followed to another site learns nothing, not even our origin, and the web app needs no
///   referrer from anyone (`strict-origin-when-cross-origin` would still send the origin);
/// - `X-Frame-Options: DENY` and `Content-Security-Policy: frame-ancestors 'none'`: no site may
///   frame ours (click-jacking a like or a follow). The policy has that directive only, so it
///   restricts nothing the web app's own scripts and styles do.
pub fn security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    use axum::http::{HeaderName, HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    router
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'none'",
        ))
}

/// `Json<T>` whose rejections speak our error format.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            let code = if text.contains("missing field") {
                ErrorCode::MissingField
            } else {
                ErrorCode::ValidationFailed
            };
            ApiError::user(code, text)
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::user(ErrorCode::InvalidJson, e.body_text()),
        JsonRejection::MissingJsonContentType(_) => ApiError::user(
            ErrorCode::InvalidJson,
            "send a JSON body with Content-Type: application/json",
        ),
        other => ApiError::user(ErrorCode::BadRequest, other.body_text()),
    }
}

/// `Query<T>` whose rejections speak our error format.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(ApiError::user(ErrorCode::ValidationFailed, e.body_text()))
            }
            Err(e) => Err(ApiError::user(ErrorCode::BadRequest, e.body_text())),
        }
    }
}

/// `?cursor=&limit=` of every list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page (default 10 for feeds, 20 otherwise).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<i64>,
}

/// Parses an id from the path; an id that cannot exist is simply not found.
pub fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::user(ErrorCode::NotFound, format!("{what} {raw:?} not found")))
}

pub fn json<T: serde::Serialize>(status: axum::http::StatusCode, body: T) -> Response {
    (status, axum::Json(body)).into_response()
}
