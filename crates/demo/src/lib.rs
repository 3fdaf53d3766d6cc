//! The demo community and the load generators.
//!
//! Owns: seeding the demo community through the same operations the API uses ([`seed`]), the
//! API load generator behind `reelm bench api` ([`bench`]) and the feed-freshness benchmark
//! behind `reelm bench freshness` ([`freshness`]).
//!
//! Must not know: axum. The benchmarks talk to a running server over HTTP as a client would.

pub mod bench;
pub mod freshness;
pub mod seed;
