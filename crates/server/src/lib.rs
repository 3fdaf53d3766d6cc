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
pub mod events;
pub mod freshness;
pub mod gateway;
pub mod ledger;
pub mod link;
pub mod ops;
pub mod platform;
pub mod policy;
pub mod ranker;
pub mod seed;
pub mod tls;
mod web;

pub use error::AppError;
pub use platform::{Cell, Platform};

use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// How often each region's engagement ranker is retrained from its own events (and regions
/// share their k-anonymous feed statistics).
pub const RANKER_RETRAIN: std::time::Duration = std::time::Duration::from_secs(600);

/// Serves the platform on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    platform: Arc<Platform>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = api::router(platform.clone());
    // The For You candidate pool is rebuilt on a timer, never inside a request.
    let refresher = platform::spawn_candidate_refresher(&platform);
    // Retrain every region's ranker now and then on a schedule; stops with the server.
    let trainer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(RANKER_RETRAIN);
        let mut first = true;
        loop {
            tick.tick().await;
            // Regions share their k-anonymous feed statistics through the gateway.
            if let Err(e) = events::share_aggregates(&platform).await {
                tracing::warn!(error = %e, "sharing feed aggregates failed; keeping the last ones");
            }
            // A caller that trained just before serving (the bench, `reelm train`) is not
            // retrained at once.
            if std::mem::take(&mut first) && platform.trained_within(RANKER_RETRAIN) {
                continue;
            }
            if let Err(e) = ranker::train_all(&platform).await {
                tracing::warn!(error = %e, "ranker training failed; serving the previous model");
            }
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    trainer.abort();
    refresher.abort();
    served
}
