//! How failures become HTTP answers: a person's mistake is a 4xx with a message saying what to
//! fix; our own failure is a 500 whose cause is logged but never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use reelm_core::{ErrorCode, UserError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    User(#[from] UserError),
    #[error("store: {0}")]
    Store(#[from] reelm_store::StoreError),
    #[error("media: {0}")]
    Media(#[from] reelm_media::MediaError),
    #[error("vault: {0}")]
    Vault(#[from] reelm_vault::VaultError),
    #[error("internal: {0}")]
    Internal(String),
    /// Another region's cell did not answer (down, unreachable, or refused our certificate).
    #[error("region {region} is unreachable: {message}")]
    Unreachable { region: String, message: String },
}

impl AppError {
    pub fn user(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError::User(UserError::new(code, message))
    }

    /// The code and message the client sees.
    pub fn public(&self) -> (ErrorCode, String) {
        match self {
            AppError::User(e) => (e.code, e.message.clone()),
            AppError::Media(e @ reelm_media::MediaError::InvalidMedia(_)) => {
                (ErrorCode::UnsupportedMedia, e.to_string())
            }
            AppError::Media(reelm_media::MediaError::NotFound(_)) => {
                (ErrorCode::NotFound, "media not found".into())
            }
            AppError::Unreachable { region, .. } => (
                ErrorCode::Unavailable,
                format!("region {region} cannot be reached right now; try again shortly"),
            ),
            _ => (
                ErrorCode::Internal,
                "something went wrong on our side; it has been logged".into(),
            ),
        }
    }
}

pub fn error_body(code: ErrorCode, message: &str) -> serde_json::Value {
    serde_json::json!({"error": {"code": code.name(), "message": message}})
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (code, message) = self.public();
        if code == ErrorCode::Internal || matches!(self, AppError::Unreachable { .. }) {
            // The cause may name tables or files, never personal data: stores and the vault
            // keep values out of their error messages.
            tracing::error!(error = %self, "request failed");
        }
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(error_body(code, &message))).into_response()
    }
}
