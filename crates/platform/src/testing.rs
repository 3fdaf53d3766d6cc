//! A platform on throw-away SQLite stores, for tests of crates built on the platform and for
//! throw-away demos.
//!
//! The platform has the built-in three regions (`us`, `eu`, `ap`), every cell in this
//! process, its stores, media and keys under a folder the caller owns (a temporary directory,
//! usually). It reads no config file and no `REELM_*` environment variable, so a developer's
//! settings (a NATS URL, another data dir) cannot leak into a test: nothing here opens a port
//! or talks to NATS.
//!
//! Typical use, in a `#[tokio::test]`: make a `tempfile::TempDir`, call
//! [`open_temp`]`(dir.path())`, keep the dir alive for the platform's life, and act with a
//! [`crate::Session::for_user`]. (No doc example here: each one is another test binary to
//! link.)

use crate::platform::{Platform, PlatformError};
use reelm_core::Config;
use reelm_core::config::ConfigError;
use std::path::Path;

/// Why a throw-away platform could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// The built-in configuration (three regions on SQLite files) with `dir` as its data dir,
/// resolved exactly as `reelm` resolves it, but without a file or environment layer.
pub fn config(dir: &Path) -> Result<Config, ConfigError> {
    Config::load(dir, None, &|_| None)
}

/// Opens every region's cell of [`config`]`(dir)` in this process. `dir` must outlive the
/// platform (the stores live in it); call [`Platform::close`] first to reopen the same `dir`.
pub async fn open_temp(dir: &Path) -> Result<Platform, OpenError> {
    Ok(Platform::open(config(dir)?).await?)
}
