//! Videos and the social graph.
//!
//! Owns: uploads (validated MP4, stored in the creator's home cell and media store), the
//! public video view, likes, comments, views, shares and "not interested" ([`videos`]),
//! follows and profiles ([`social`]), and upload screening as a background job
//! ([`screening`]).
//!
//! Must not know: HTTP, feeds or other subsystems. A person's behavioral rows go to their home
//! cell only (events through that region's event log); public counter changes to a video or
//! profile held elsewhere go through the transfer gateway.

pub mod screening;
pub mod social;
pub mod videos;

#[cfg(test)]
mod tests;
