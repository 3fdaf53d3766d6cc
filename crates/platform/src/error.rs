//! The domain error of every operation: a person's mistake (a [`UserError`] with a code from
//! the one table in `reelm-core`), another region out of reach, or our own failure. The server
//! maps it to HTTP; nothing here knows a status line.

use reelm_core::{ErrorCode, UserError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    User(#[from] UserError),
    #[error("store: {0}")]
    Store(#[from] reelm_store::StoreError),
    #[error("media: {0}")]
    Media(#[from] reelm_media::MediaError),
    #[error("vault: {0}")]
    Vault(#[from] reelm_vault::VaultError),
    #[error("residency: {0}")]
    Residency(#[from] reelm_residency::ResidencyError),
    #[error("event log: {0}")]
    Events(#[from] reelm_events::EventsError),
    #[error("internal: {0}")]
    Internal(String),
    /// Another region's cell did not answer (down, unreachable, or refused our certificate).
    #[error("region {region} is unreachable: {message}")]
    Unreachable { region: String, message: String },
}

impl Error {
    pub fn user(code: ErrorCode, message: impl Into<String>) -> Error {
        Error::User(UserError::new(code, message))
    }

    /// A request field that failed validation.
    pub fn from_validation(message: String) -> Error {
        Error::User(UserError::validation(message))
    }

    /// The code and message the client sees: a person's mistake says what to fix; our own
    /// failure says only that it was logged.
    pub fn public(&self) -> (ErrorCode, String) {
        match self {
            Error::User(e) => (e.code, e.message.clone()),
            Error::Media(e @ reelm_media::MediaError::InvalidMedia(_)) => {
                (ErrorCode::UnsupportedMedia, e.to_string())
            }
            Error::Media(reelm_media::MediaError::NotFound(_)) => {
                (ErrorCode::NotFound, "media not found".into())
            }
            Error::Unreachable { region, .. } => (
                ErrorCode::Unavailable,
                format!("region {region} cannot be reached right now; try again shortly"),
            ),
            _ => (
                ErrorCode::Internal,
                "something went wrong on our side; it has been logged".into(),
            ),
        }
    }

    /// True when the failure is ours (or another region's) and its cause belongs in the log.
    pub fn is_ours(&self) -> bool {
        self.public().0 == ErrorCode::Internal || matches!(self, Error::Unreachable { .. })
    }
}

/// `{"error":{"code","message"}}`, the body of every failed request and of a cell's refusal.
pub fn error_body(code: ErrorCode, message: &str) -> serde_json::Value {
    serde_json::json!({"error": {"code": code.name(), "message": message}})
}
