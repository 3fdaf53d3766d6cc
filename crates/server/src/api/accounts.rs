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

pub async fn sign_up(
    State(p): State<Arc<Platform>>,
    ApiJson(req): ApiJson<SignUp>,
) -> Result<Response, ApiError> {
    let s = ops::sign_up(&p, req).await?;
    Ok(with_cookies(&p, StatusCode::CREATED, s))
}

pub async fn log_in(
    State(p): State<Arc<Platform>>,
    ApiJson(req): ApiJson<LogIn>,
) -> Result<Response, ApiError> {
    let s = ops::log_in(&p, req).await?;
    Ok(with_cookies(&p, StatusCode::OK, s))
}

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

pub async fn me(v: Viewer) -> Result<Response, ApiError> {
    Ok(Json(ops::me(&v.home, v.user).await?).into_response())
}

/// Erases the signed-in person (crypto-shredding) after they confirm with their password, and
/// answers with the erasure receipt. The session cookies are cleared.
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

pub async fn data_location(v: Viewer) -> Result<Response, ApiError> {
    Ok(Json(ops::data_location(&v.home, v.user).await?).into_response())
}
