//! The reelm edge and its region cells, as a library: `reelm serve` and `reelm demo` are thin
//! wrappers around [`run`].
//!
//! Owns: the HTTP API (one handler module per resource), sessions and CSRF, the operations
//! behind the API (sign-up placement, behavior written to the home cell, feeds), the embedded
//! web app, demo seeding and the residency audit.
//!
//! Must not: write a person's personal or behavioral rows anywhere but their home cell. The
//! only writes that cross cells are public counter deltas, and they go through
//! [`gateway`].

pub mod api;
pub mod audit;
mod auth;
pub mod bench;
pub mod cache;
mod cursor;
pub mod error;
pub mod gateway;
pub mod ledger;
pub mod ops;
pub mod platform;
pub mod policy;
pub mod seed;
mod web;

pub use error::AppError;
pub use platform::{Cell, Platform};

use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves the platform on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    platform: Arc<Platform>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = api::router(platform);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
