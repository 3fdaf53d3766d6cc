//! Sessions, cookies, CSRF and password hashing.
//!
//! The session cookie is `<region>.<token>`: the region prefix lets the edge find the home
//! cell that holds the session without any global session table. Only a SHA-256 of the token
//! is stored, so a copy of the sessions table cannot be replayed.

use crate::error::AppError;
use crate::platform::{Cell, Platform};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reelm_core::{ErrorCode, RegionId, UserId};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "reelm_session";
pub const CSRF_COOKIE: &str = "reelm_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const SESSION_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes): OWASP's recommended floor. Runs on the
/// blocking pool because it takes tens of milliseconds by design.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
}

/// Verifies a password against a stored hash. With no hash (unknown handle, or a seeded
/// person who cannot log in) it still spends the same work on a dummy hash, so response time
/// does not reveal which handles exist.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool, AppError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let dummy = DUMMY.get_or_init(|| {
            let salt = SaltString::encode_b64(&[7u8; 16]).expect("static salt encodes");
            Argon2::default()
                .hash_password(b"dummy password", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        });
        let (hash, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => (dummy.as_str(), false),
        };
        let parsed = PasswordHash::new(hash)
            .map_err(|e| AppError::Internal(format!("stored password hash: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && real)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
}

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
pub struct Viewer {
    pub user: UserId,
    pub home: Arc<Cell>,
    /// not-secret: the hex SHA-256 of the session token, the sessions table's lookup key; it
    /// cannot be turned back into the token, and the cookie needs the token itself.
    pub token_hash: String,
}

/// The signed-in person if any; reads work anonymously.
#[derive(Clone, Debug)]
pub struct MaybeViewer(pub Option<Viewer>);

async fn resolve(parts: &Parts, platform: &Platform) -> Result<Option<Viewer>, AppError> {
    let Some(raw) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some((region, token)) = raw.split_once('.') else {
        return Ok(None);
    };
    let Some(cell) = RegionId::new(region)
        .ok()
        .and_then(|r| platform.cell(&r).cloned())
    else {
        return Ok(None);
    };
    let hash = token_hash(token);
    let now = reelm_core::now_ms();
    let user = match cell.cache.sessions.get(&hash) {
        Some((user, expires_at)) if expires_at > now => user,
        _ => {
            let Some((user, expires_at)) = cell.store.session(&hash, now).await? else {
                return Ok(None);
            };
            cell.cache.sessions.insert(hash.clone(), (user, expires_at));
            user
        }
    };
    if is_state_changing(&parts.method) {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let expected = cookie(&parts.headers, CSRF_COOKIE);
        let ok = matches!((sent, expected), (Some(s), Some(e)) if !e.is_empty() && constant_time_eq(s.as_bytes(), e.as_bytes()));
        if !ok {
            return Err(AppError::user(
                ErrorCode::CsrfFailed,
                "missing or wrong X-CSRF-Token header: send the value of the reelm_csrf cookie",
            ));
        }
    }
    Ok(Some(Viewer {
        user,
        home: cell,
        token_hash: hash,
    }))
}

fn is_state_changing(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<Arc<Platform>> for Viewer {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, AppError> {
        resolve(parts, platform)
            .await?
            .ok_or_else(|| AppError::user(ErrorCode::Unauthenticated, "sign in first"))
    }
}

impl FromRequestParts<Arc<Platform>> for MaybeViewer {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, AppError> {
        Ok(MaybeViewer(resolve(parts, platform).await?))
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

    #[tokio::test]
    async fn passwords_hash_with_argon2id() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong".into(), Some(h)).await.unwrap());
        assert!(
            !verify_password("dummy password".into(), None)
                .await
                .unwrap()
        );
    }
}
