//! Where data may go, and the proof of where it went.
//!
//! Owns: the declarative residency policy (`policy/residency.toml`, [`policy`]), each region's
//! hash-chained, signed transfer ledger ([`ledger`]) and the per-person access-log chains with
//! their signed checkpoints ([`access_log`]), all over one region's store and keys folder.
//!
//! Must not know: cells, the platform, other regions' stores or HTTP. It decides and records;
//! the transfer gateway (`reelm-platform`) is what moves data, after asking here.

pub mod access_log;
pub mod ledger;
pub mod policy;

pub use access_log::{AccessRecord, append_access};
pub use ledger::{LedgerError, LedgerReport, RegionLedger};
pub use policy::{Decision, ResidencyPolicy, TransferRequest};

use reelm_core::RegionId;
use std::path::{Path, PathBuf};

/// The folder that holds a region's keys (region key ring, signing keys, email index key),
/// kept apart from its data.
pub fn keys_dir(data_dir: &Path, region: &RegionId) -> PathBuf {
    data_dir.join("regions").join(region.as_str()).join("keys")
}

/// A failure to decide, record or verify; never a refusal (that is a [`Decision`]).
#[derive(Debug, thiserror::Error)]
pub enum ResidencyError {
    #[error("store: {0}")]
    Store(#[from] reelm_store::StoreError),
    #[error("vault: {0}")]
    Vault(#[from] reelm_vault::VaultError),
    #[error("{0}")]
    Internal(String),
}
