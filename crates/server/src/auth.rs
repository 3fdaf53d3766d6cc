//! Who is asking, by type: the session cookie, CSRF, and the extractors that turn them into
//! the signed-in [`Session`] (people) or [`reelm_operators::Operator`] (operators).
//!
//! The session cookie is `<region>.<token>`: the region prefix lets the edge find the home
//! cell that holds the session without any global session table (see
//! [`reelm_platform::session`]).

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use reelm_core::{ErrorCode, RegionId};
use reelm_platform::session::{SESSION_TTL_MS, constant_time_eq};
use reelm_platform::{Platform, Session};
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "reelm_session";
pub const CSRF_COOKIE: &str = "reelm_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` values for a new session.
pub fn session_cookies(region: &RegionId, token: &str, csrf: &str, secure: bool) -> [String; 2] {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = SESSION_TTL_MS / 1000;
    [
        format!(
            "{SESSION_COOKIE}={region}.{token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        ),
        format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Lax; Max-Age={max_age}{secure}"),
    ]
}

pub fn clear_cookies() -> [String; 2] {
    [
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
        format!("{CSRF_COOKIE}=; Path=/; SameSite=Lax; Max-Age=0"),
    ]
}

/// The signed-in person, checked by type: a handler that takes `Viewer` cannot run without a
/// live session, and on state-changing methods without a matching CSRF token.
#[derive(Clone, Debug)]
pub struct Viewer(pub Session);

impl std::ops::Deref for Viewer {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0
    }
}

/// The signed-in person if any; reads work anonymously.
#[derive(Clone, Debug)]
pub struct MaybeViewer(pub Option<Viewer>);

impl MaybeViewer {
    /// The session, when signed in.
    pub fn session(&self) -> Option<&Session> {
        self.0.as_deref()
    }
}

async fn resolve(parts: &Parts, platform: &Platform) -> Result<Option<Viewer>, ApiError> {
    let Some(raw) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some((region, token)) = raw.split_once('.') else {
        return Ok(None);
    };
    let Some(session) = Session::resolve(platform, region, token).await? else {
        return Ok(None);
    };
    if is_state_changing(&parts.method) {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let expected = cookie(&parts.headers, CSRF_COOKIE);
        let ok = matches!((sent, expected), (Some(s), Some(e)) if !e.is_empty() && constant_time_eq(s.as_bytes(), e.as_bytes()));
        if !ok {
            return Err(ApiError::user(
                ErrorCode::CsrfFailed,
                "missing or wrong X-CSRF-Token header: send the value of the reelm_csrf cookie",
            ));
        }
    }
    Ok(Some(Viewer(session)))
}

fn is_state_changing(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<Arc<Platform>> for Viewer {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, ApiError> {
        resolve(parts, platform)
            .await?
            .ok_or_else(|| ApiError::user(ErrorCode::Unauthenticated, "sign in first"))
    }
}

impl FromRequestParts<Arc<Platform>> for MaybeViewer {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, ApiError> {
        Ok(MaybeViewer(resolve(parts, platform).await?))
    }
}

/// The signed-in operator (cookie `reelm_ops=<region>.<token>`), checked by type.
#[derive(Clone, Debug)]
pub struct SignedInOperator(pub reelm_operators::Operator);

impl FromRequestParts<Arc<Platform>> for SignedInOperator {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, p: &Arc<Platform>) -> Result<Self, ApiError> {
        let none = || ApiError::user(ErrorCode::Unauthenticated, "operator sign-in required");
        let raw = cookie(&parts.headers, reelm_operators::OPS_COOKIE).ok_or_else(none)?;
        let (region, token) = raw.split_once('.').ok_or_else(none)?;
        let op = reelm_operators::Operator::resolve(p, region, token)
            .await?
            .ok_or_else(none)?;
        Ok(SignedInOperator(op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_parse() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; reelm_session=eu.tok; reelm_csrf=xyz".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("eu.tok"));
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "nope"), None);
    }
}
