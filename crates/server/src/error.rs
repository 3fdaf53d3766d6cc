//! How failures become HTTP answers: a person's mistake is a 4xx with a message saying what to
//! fix; our own failure is a 500 whose cause is logged but never shown. The mapping from the
//! domain [`Error`] to a status is the one table in `reelm-core` ([`ErrorCode::http_status`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use reelm_core::ErrorCode;
use reelm_platform::{Error, error_body};

/// The error of every handler: a domain error, answered as `{"error":{"code","message"}}`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl ApiError {
    pub fn user(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError(Error::user(code, message))
    }

    /// A request field that failed validation.
    pub fn from_validation(message: String) -> ApiError {
        ApiError(Error::from_validation(message))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, message) = self.0.public();
        if self.0.is_ours() {
            // The cause may name tables or files, never personal data: stores and the vault
            // keep values out of their error messages.
            tracing::error!(error = %self.0, "request failed");
        }
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(error_body(code, &message))).into_response()
    }
}
