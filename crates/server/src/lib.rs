//! The reelm HTTP server, as a library: `reelm serve` and `reelm demo` are thin wrappers around
//! [`run`].
//!
//! Owns: axum and only axum: the public API (one handler module per resource, [`api`]), the
//! extractors that turn cookies into a signed-in [`reelm_platform::Session`] or operator
//! ([`auth`]), the mapping from domain errors to HTTP ([`error`]), the mTLS cell endpoint and
//! `route_home` ([`api::cells`]), the embedded web app, and the background tasks a serving
//! process runs (candidate pool refresher, ranker training).
//!
//! Must not: hold a rule of its own. Operations live in the subsystem crates and know no HTTP;
//! a handler parses, calls one operation and answers.

pub mod api;
pub mod auth;
pub mod error;
mod web;

pub use error::ApiError;
pub use reelm_platform::{Cell, Platform};

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
    // Background jobs of this process's cells (upload screening, ...), with every
    // subsystem's handlers; they stop with the server.
    platform.start_jobs(reelm_content::screening::job_handlers(&platform));
    let jobs_platform = platform.clone();
    // The For You candidate pool is rebuilt on a timer, never inside a request.
    let refresher = reelm_recommend::spawn_refresher(&platform);
    // Retrain every region's ranker now and then on a schedule; stops with the server.
    let trainer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(RANKER_RETRAIN);
        let mut first = true;
        loop {
            tick.tick().await;
            // Regions share their k-anonymous feed statistics through the gateway.
            if let Err(e) = reelm_recommend::sharing::share_aggregates(&platform).await {
                tracing::warn!(error = %e, "sharing feed aggregates failed; keeping the last ones");
            }
            // A caller that trained just before serving (the bench, `reelm train`) is not
            // retrained at once.
            if std::mem::take(&mut first)
                && reelm_recommend::Recommender::of(&platform).trained_within(RANKER_RETRAIN)
            {
                continue;
            }
            if let Err(e) = reelm_recommend::ranker::train_all(&platform).await {
                tracing::warn!(error = %e, "ranker training failed; serving the previous model");
            }
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    trainer.abort();
    refresher.abort();
    jobs_platform.stop_jobs();
    served
}
