//! Region-key rotation: a new region key becomes current and every person's data key is
//! re-wrapped under it. Field ciphertexts are untouched (the data keys themselves do not
//! change), so rotation costs one small write per person, not a re-encryption of the data.
//!
//! Runs offline against a region's store and key file: a server holding the region's keys in
//! memory would not know the new key (stop it first; it reloads the key file on start).

use reelm_core::{Config, RegionId};
use reelm_platform::Error;
use reelm_platform::platform::Cell;
use reelm_store::{CellStore, UserKeyRow};
use reelm_vault::{Kms, LocalKms, WrappedKey};
use serde::Serialize;

/// How many wrapped keys are replaced per transaction.
const BATCH: usize = 500;

#[derive(Debug, Serialize)]
pub struct RotationReport {
    pub region: String,
    /// The key that was current before the rotation.
    pub previous_key_id: String,
    pub new_key_id: String,
    /// Wrapped keys re-wrapped under the new key.
    pub rewrapped: u64,
    /// Wrapped keys in the table in all.
    pub total: u64,
    /// Operators' wrapped keys (they seal the TOTP secrets) re-wrapped under the new key.
    pub operators_rewrapped: u64,
    /// Region keys retired after the re-wrap (only with `retire_old`).
    pub retired: Vec<String>,
}

/// Progress of a rotation: keys re-wrapped so far out of the total.
pub type Progress<'a> = &'a mut (dyn FnMut(u64, u64) + Send);

/// Rotates the region key of `region` and re-wraps every user key of its store. With
/// `retire_old`, every older region key is forgotten afterwards (only when no wrapped key
/// still names it).
pub async fn rotate_region_key(
    config: &Config,
    region: &RegionId,
    retire_old: bool,
    progress: Progress<'_>,
) -> Result<RotationReport, Error> {
    let rc = config
        .regions
        .iter()
        .find(|r| &r.id == region)
        .ok_or_else(|| {
            let known: Vec<String> = config.regions.iter().map(|r| r.id.to_string()).collect();
            Error::Internal(format!(
                "unknown region {region:?}; this configuration has: {}",
                known.join(", ")
            ))
        })?;
    let path = Cell::keys_dir(&config.data_dir, region).join("region-kms.json");
    if !path.exists() {
        return Err(Error::Internal(format!(
            "region {region} has no key file at {} (has the platform run with this data dir?)",
            path.display()
        )));
    }
    let mut kms = LocalKms::load(&path, region.as_str())?;
    let store = CellStore::open(&rc.store_url, 2).await?;
    let result = rotate_in(&store, &mut kms, region.as_str(), retire_old, progress).await;
    store.db.close().await;
    result
}

async fn rotate_in(
    store: &CellStore,
    kms: &mut LocalKms,
    region: &str,
    retire_old: bool,
    progress: Progress<'_>,
) -> Result<RotationReport, Error> {
    let previous_key_id = kms.current_key_id();
    let new_key_id = kms.rotate()?;
    let rows = store.user_keys().await?;
    let total = rows.len() as u64;
    let mut rewrapped = 0u64;
    let mut batch: Vec<(UserKeyRow, UserKeyRow)> = Vec::with_capacity(BATCH);
    for row in rows {
        let wrapped = WrappedKey::from_bytes(row.wrapped_key.expose())?;
        if !reelm_vault::needs_rewrap(&*kms, &wrapped) {
            continue;
        }
        let again = reelm_vault::rewrap(&*kms, region, &*kms, region, row.user_id.0, &wrapped)?;
        let new = UserKeyRow {
            user_id: row.user_id,
            key_id: again.key_id.clone(),
            wrapped_key: again.to_bytes().into(),
        };
        batch.push((row, new));
        if batch.len() == BATCH {
            rewrapped += store.replace_wrapped_keys(&batch).await?;
            batch.clear();
            progress(rewrapped, total);
        }
    }
    if !batch.is_empty() {
        rewrapped += store.replace_wrapped_keys(&batch).await?;
    }
    progress(rewrapped, total);
    let mut operators_rewrapped = 0u64;
    for (id, bytes) in store.operator_wrapped_keys().await? {
        let wrapped = WrappedKey::from_bytes(&bytes)?;
        if !reelm_vault::needs_rewrap(&*kms, &wrapped) {
            continue;
        }
        let again = reelm_vault::rewrap(&*kms, region, &*kms, region, id, &wrapped)?;
        if store
            .replace_operator_wrapped_key(id, &bytes, &again.to_bytes())
            .await?
        {
            operators_rewrapped += 1;
        }
    }
    let mut retired = Vec::new();
    if retire_old {
        let still_old = store
            .user_keys()
            .await?
            .iter()
            .filter(|r| r.key_id != new_key_id)
            .count()
            + store
                .operator_wrapped_keys()
                .await?
                .iter()
                .filter(|(_, b)| WrappedKey::from_bytes(b).map_or(true, |w| w.key_id != new_key_id))
                .count();
        if still_old > 0 {
            return Err(Error::Internal(format!(
                "{still_old} wrapped key(s) still name an older region key (written during the \
                 rotation?); nothing retired: run the rotation again"
            )));
        }
        for id in kms.key_ids() {
            if id != new_key_id {
                kms.retire(&id)?;
                retired.push(id);
            }
        }
    }
    Ok(RotationReport {
        region: region.to_owned(),
        previous_key_id,
        new_key_id,
        rewrapped,
        total,
        operators_rewrapped,
        retired,
    })
}
