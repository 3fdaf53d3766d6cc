//! The one table of error codes. Each code has a stable machine-readable name and an HTTP
//! status; the API answers `{"error":{"code":<name>,"message":<text>}}`. The internal cause of a
//! failure never reaches the message of an `internal` error.

use serde::Serialize;

macro_rules! error_codes {
    ($($variant:ident = $status:literal, $name:literal;)*) => {
        /// A stable, documented reason for a failed request.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];
            pub fn http_status(self) -> u16 { match self { $(ErrorCode::$variant => $status,)* } }
            pub fn name(self) -> &'static str { match self { $(ErrorCode::$variant => $name,)* } }
        }
    };
}

error_codes! {
    BadRequest = 400, "bad_request";
    InvalidJson = 400, "invalid_json";
    MissingField = 400, "missing_field";
    ValidationFailed = 400, "validation_failed";
    BadCursor = 400, "bad_cursor";
    Unauthenticated = 401, "unauthenticated";
    WrongCredentials = 401, "wrong_credentials";
    CsrfFailed = 403, "csrf_failed";
    Forbidden = 403, "forbidden";
    NotFound = 404, "not_found";
    MethodNotAllowed = 405, "method_not_allowed";
    HandleTaken = 409, "handle_taken";
    EmailTaken = 409, "email_taken";
    PayloadTooLarge = 413, "payload_too_large";
    UnsupportedMedia = 415, "unsupported_media";
    RangeNotSatisfiable = 416, "range_not_satisfiable";
    Internal = 500, "internal";
    Unavailable = 503, "unavailable";
}

/// A failure caused by the request, with a message for the person who made it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct UserError {
    pub code: ErrorCode,
    pub message: String,
}

impl UserError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_statuses_are_errors() {
        let mut names = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(names.insert(c.name()), "duplicate {}", c.name());
            assert!((400..600).contains(&c.http_status()));
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        }
    }

    /// docs/API.md's error table lists exactly this table's codes, in order, with their
    /// statuses and a meaning each.
    #[test]
    fn the_api_doc_lists_every_code_with_its_status() {
        let doc = include_str!("../../../docs/API.md");
        let section = doc
            .split("\n## Errors\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("docs/API.md has an Errors section");
        let rows: Vec<(String, u16, String)> = section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
                assert_eq!(cells.len(), 3, "a row is | code | status | meaning |: {l}");
                let status = cells[1].parse().unwrap_or_else(|_| panic!("status in {l}"));
                (
                    cells[0].trim_matches('`').to_owned(),
                    status,
                    cells[2].to_owned(),
                )
            })
            .collect();
        let listed: Vec<(&str, u16)> = rows.iter().map(|(c, s, _)| (c.as_str(), *s)).collect();
        let table: Vec<(&str, u16)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.name(), c.http_status()))
            .collect();
        assert_eq!(
            listed, table,
            "docs/API.md's error table differs from ErrorCode"
        );
        for (code, _, meaning) in &rows {
            assert!(meaning.len() > 10, "{code} needs a meaning in docs/API.md");
        }
    }
}
