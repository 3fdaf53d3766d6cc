//! Sessions and password hashing, without HTTP: who is signed in (a [`Session`] resolved in
//! the person's home cell), session tokens and their stored hashes, and Argon2id.
//!
//! A session token is presented as `<region>.<token>` (the server puts it in a cookie): the
//! region prefix finds the home cell that holds the session without any global session table.
//! Only a SHA-256 of the token is stored, so a copy of the sessions table cannot be replayed.

use crate::error::Error;
use crate::platform::{Cell, Platform};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reelm_core::{RegionId, UserId};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const SESSION_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes): OWASP's recommended floor. Runs on the
/// blocking pool because it takes tens of milliseconds by design.
pub async fn hash_password(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| Error::Internal(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(e.to_string()))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// Verifies a password against a stored hash. With no hash (unknown handle, or a seeded
/// person who cannot log in) it still spends the same work on a dummy hash, so response time
/// does not reveal which handles exist.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool, Error> {
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
            .map_err(|e| Error::Internal(format!("stored password hash: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && real)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// The signed-in person: who they are and their home cell, where every row of theirs is read
/// and written. Operations take a `&Session`; the server's extractors make one from a cookie,
/// tests and background work from [`Session::for_user`].
#[derive(Clone, Debug)]
pub struct Session {
    pub user: UserId,
    pub home: Arc<Cell>,
    /// not-secret: the hex SHA-256 of the session token (empty for a session made without
    /// one), the sessions table's lookup key; it cannot be turned back into the token.
    pub token_hash: String,
}

impl Session {
    /// Finds the live session `token` in `region`'s cell, when that cell runs in this process.
    pub async fn resolve(
        platform: &Platform,
        region: &str,
        token: &str,
    ) -> Result<Option<Session>, Error> {
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
        Ok(Some(Session {
            user,
            home: cell,
            token_hash: hash,
        }))
    }

    /// Acts as `user` in their home cell without a token (background jobs, the demo seed,
    /// tests). The home cell must run in this process.
    pub async fn for_user(platform: &Platform, user: UserId) -> Result<Session, Error> {
        let home = platform.home_of(user).await?.ok_or_else(|| {
            Error::user(
                reelm_core::ErrorCode::NotFound,
                format!("person {user} not found"),
            )
        })?;
        Ok(Session {
            user,
            home,
            token_hash: String::new(),
        })
    }
}

impl Session {
    /// Who this person is to the visibility gates: home region, country and age band (from
    /// their sealed account fields, opened in their home cell and cached there briefly).
    pub async fn audience(&self) -> Result<crate::gates::Audience, Error> {
        let (country, age_band) = match self.home.cache.audiences.get(&self.user) {
            Some(found) => found,
            None => {
                let found = match self.home.store.account(self.user).await? {
                    Some(account) => {
                        let key = self.home.user_key(&account)?;
                        let open = |column: &str, ct: &[u8]| {
                            self.home
                                .unseal(&key, self.user, "accounts", column, ct)
                                .ok()
                        };
                        let today = reelm_core::rfc3339(reelm_core::now_ms());
                        let band = open("birth_date_enc", &account.birth_date_enc)
                            .and_then(|b| crate::gates::AgeBand::on(&b, today.get(..10)?));
                        (open("country_enc", &account.country_enc), band)
                    }
                    // A seeded or half-made person without an account row.
                    None => (None, None),
                };
                self.home.cache.audiences.insert(self.user, found.clone());
                found
            }
        };
        Ok(crate::gates::Audience {
            region: Some(self.home.id().clone()),
            user: Some(self.user),
            country,
            age_band,
        })
    }
}

/// The audience `gates` need: the viewer's home region always (the built-in screening gate
/// needs it), their country and age band only when some installed gate may ask.
pub async fn audience_for(
    session: Option<&Session>,
    gates: &crate::gates::Gates,
) -> Result<crate::gates::Audience, Error> {
    match session {
        Some(s) if gates.need_person_details() => s.audience().await,
        Some(s) => Ok(crate::gates::Audience {
            region: Some(s.home.id().clone()),
            user: Some(s.user),
            ..Default::default()
        }),
        None => Ok(crate::gates::Audience::default()),
    }
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

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
