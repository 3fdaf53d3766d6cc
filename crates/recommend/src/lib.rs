//! Recommendation in serving.
//!
//! Owns: the For You and Following feeds ([`feed`]), a person's long- and short-term interest
//! profile ([`interest`]), the shared candidate pool and its background refresher
//! ([`candidates`], state kept as the platform's [`Recommender`] extension), each region's
//! trained engagement ranker ([`ranker`]) and k-anonymous aggregate sharing ([`sharing`]).
//!
//! Must not know: HTTP or other subsystems. A feed is computed in the viewer's home cell from
//! their own rows; only public videos and k-anonymous counts come from other regions.

pub mod candidates;
pub mod feed;
pub mod interest;
pub mod ranker;
pub mod sharing;

pub use candidates::{Recommender, spawn_refresher};

#[cfg(test)]
mod tests;
