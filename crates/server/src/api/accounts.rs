//! Sign-up, log-in, log-out, the account and where its data lives.

use super::{ApiJson, json};
use crate::auth::{self, MaybeViewer, Viewer};
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use reelm_accounts::accounts::{self as ops, LogIn, NewSession, SignUp};
use reelm_platform::Platform;
use std::sync::Arc;

fn with_cookies(p: &Platform, status: StatusCode, s: NewSession) -> Response {
    let cookies = auth::session_cookies(
        s.cell.id(),
        s.token.expose(),
        s.csrf.expose(),
        p.config.cookie_secure,
    );
    let mut resp = json(status, s.user);
    for c in cookies {
        if let Ok(v) = c.parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

#[utoipa::path(
    post,
    path = "/api/auth/signup",
    tag = "accounts",
    summary = "Create an account in the home region of its country",
    request_body = reelm_accounts::accounts::SignUp,
    responses(
        (status = 201, description = "created; sets reelm_session and reelm_csrf cookies", body = reelm_platform::views::UserJson),
        (status = 400, description = "invalid field", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "handle or email taken", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn sign_up(
    State(p): State<Arc<Platform>>,
    ApiJson(req): ApiJson<SignUp>,
) -> Result<Response, ApiError> {
    let s = ops::sign_up(&p, req).await?;
    Ok(with_cookies(&p, StatusCode::CREATED, s))
}

#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "accounts",
    summary = "Log in",
    request_body = reelm_accounts::accounts::LogIn,
    responses(
        (status = 200, description = "logged in; sets cookies", body = reelm_platform::views::UserJson),
        (status = 401, description = "wrong handle or password", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn log_in(
    State(p): State<Arc<Platform>>,
    ApiJson(req): ApiJson<LogIn>,
) -> Result<Response, ApiError> {
    let s = ops::log_in(&p, req).await?;
    Ok(with_cookies(&p, StatusCode::OK, s))
}

#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "accounts",
    summary = "Log out",
    params(crate::api::openapi::Csrf),
    responses(
        (status = 204, description = "cookies cleared"),
        (status = 403, description = "CSRF", body = crate::api::openapi::ErrorBody),
    ),
    security((), ("session" = [])),
)]
pub async fn log_out(MaybeViewer(viewer): MaybeViewer) -> Result<Response, ApiError> {
    if let Some(v) = viewer {
        v.home.store.delete_session(&v.token_hash).await?;
        v.home.cache.sessions.invalidate(&v.token_hash);
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    for c in auth::clear_cookies() {
        if let Ok(v) = c.parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

#[utoipa::path(
    get,
    path = "/api/me",
    tag = "accounts",
    summary = "The signed-in account",
    responses(
        (status = 200, description = "account", body = reelm_platform::views::UserJson),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn me(v: Viewer) -> Result<Response, ApiError> {
    Ok(Json(ops::me(&v.home, v.user).await?).into_response())
}

/// Erases the signed-in person (crypto-shredding) after they confirm with their password, and
/// answers with the erasure receipt. The session cookies are cleared.
#[utoipa::path(
    delete,
    path = "/api/me",
    tag = "accounts",
    summary = "Erase the signed-in account (crypto-shredding): the data key goes first, then every row of the person in their home region, their videos and media, and the directory entry; answers with an erasure receipt and clears the cookies",
    params(crate::api::openapi::Csrf),
    request_body = reelm_accounts::erasure::EraseRequest,
    responses(
        (status = 200, description = "erased", body = reelm_accounts::erasure::ErasureReceipt),
        (status = 400, description = "invalid input", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in, or wrong password (wrong_credentials)", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "CSRF token missing or wrong", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn erase_me(
    State(p): State<Arc<Platform>>,
    v: Viewer,
    ApiJson(req): ApiJson<reelm_accounts::erasure::EraseRequest>,
) -> Result<Response, ApiError> {
    let receipt = reelm_accounts::erasure::erase_me(&p, &v, req).await?;
    let mut resp = Json(receipt).into_response();
    for c in auth::clear_cookies() {
        if let Ok(v) = c.parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

#[utoipa::path(
    get,
    path = "/api/me/data-location",
    tag = "accounts",
    summary = "Where my data lives, by data class",
    responses(
        (status = 200, description = "location", body = reelm_accounts::accounts::DataLocation),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn data_location(v: Viewer) -> Result<Response, ApiError> {
    Ok(Json(ops::data_location(&v.home, v.user).await?).into_response())
}
