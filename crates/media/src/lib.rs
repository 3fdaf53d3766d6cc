//! `reelm-media` owns **one region's media objects** (video files and posters) and the
//! **validation of uploads** before they are stored.
//!
//! - [`MediaStore`] wraps an [`object_store::ObjectStore`]: a local folder by default, an
//!   in-memory store for tests, and (later) any S3-compatible store. One store per region cell;
//!   nothing in this crate knows about regions, users or other cells.
//! - [`parse_range_header`] turns an HTTP `Range` header into a byte range so the server can
//!   stream partial content (browsers seek in video with range requests).
//! - [`validate_mp4`] walks the ISO-BMFF box structure of an upload and extracts what the feed
//!   needs (duration, size, audio or not).
//! - [`demo`] embeds the demo clips so the demo needs no ffmpeg and no network.
//!
//! **Architecture invariant:** this crate never trusts what an upload *claims* to be (file
//! name, extension, `Content-Type`): only the bytes decide, through [`validate_mp4`]. It does
//! not transcode and does not spawn external programs.

mod mp4;
mod range;
mod store;

pub mod demo;

pub use mp4::{Mp4Info, validate_mp4};
pub use range::{RangeError, parse_range_header};
pub use store::MediaStore;

/// Everything that can go wrong with media. The variants separate the person's fault
/// ([`MediaError::InvalidMedia`], shown to them) from ours ([`MediaError::Storage`], logged and
/// answered with a generic 500).
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The object does not exist (HTTP 404).
    #[error("media object {0:?} not found")]
    NotFound(String),
    /// The uploaded bytes are not an acceptable video. The message is written for the
    /// uploader and safe to show them (HTTP 415 `unsupported_media`).
    #[error("{0}")]
    InvalidMedia(String),
    /// The key is not a valid object path (empty, `..`, empty segments, ...). Keys are built
    /// by the server, so this is a bug on our side rather than the user's.
    #[error("invalid media key {key:?}: {reason}")]
    InvalidKey {
        /// not-secret: an object path built by the server (`videos/<id>.mp4`).
        key: String,
        reason: String,
    },
    /// The store could not be opened from its URL (bad configuration).
    #[error("cannot open media store {url:?}: {reason}")]
    Open { url: String, reason: String },
    /// The storage backend failed (disk, permissions, network): our fault (HTTP 500).
    #[error("media storage failed during {op} of {key:?}: {source}")]
    Storage {
        op: &'static str,
        /// not-secret: an object path built by the server (`videos/<id>.mp4`).
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl MediaError {
    /// True when the error is the uploader's fault and its message may be shown to them.
    pub fn is_user_error(&self) -> bool {
        matches!(self, MediaError::InvalidMedia(_))
    }
}
