//! Domain types of reelm, shared by every other crate: ids, regions, data classes, the typed
//! configuration, validation of user input, the table of error codes and `Sensitive`, the
//! redacting wrapper for secrets and personal data.
//!
//! This crate does no I/O (no files, sockets or databases): it parses configuration from a
//! string handed to it, so every rule here can be unit-tested in isolation.

pub mod class;
pub mod config;
pub mod error;
pub mod ids;
pub mod region;
mod schema;
pub mod sensitive;
pub mod validate;

pub use class::DataClass;
pub use config::{Config, FeedConfig, RegionConfig};
pub use error::{ErrorCode, UserError};
pub use ids::{CommentId, JobId, UserId, VideoId};
pub use region::RegionId;
pub use sensitive::Sensitive;

/// Milliseconds since the Unix epoch, the one time unit stored in every table (portable across
/// SQLite and PostgreSQL, and cheap to compare in keyset cursors).
pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// Formats epoch milliseconds as an RFC 3339 UTC string for the API.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
