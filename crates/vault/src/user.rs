//! Per-user data keys: creation, opening, re-wrapping (rotation and region
//! moves). Storage-agnostic: the caller stores the [`WrappedKey`] (never the
//! [`DataKey`]) and crypto-shreds a user by deleting it.

use crate::aead::push_lp;
use crate::error::VaultError;
use crate::keys::{DataKey, WrappedKey};
use crate::kms::Kms;

const USER_KEY_DOMAIN: &[u8] = b"reelm-vault/user-key/v1";

/// AAD binding a wrapped user key to its region and user:
/// `"reelm-vault/user-key/v1" | lp(region) | user_id (i64 BE)`.
pub fn user_key_aad(region: &str, user_id: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(USER_KEY_DOMAIN.len() + 4 + region.len() + 8);
    out.extend_from_slice(USER_KEY_DOMAIN);
    push_lp(&mut out, region.as_bytes());
    out.extend_from_slice(&user_id.to_be_bytes());
    out
}

/// Makes a fresh data key for a user and wraps it under the region's current
/// key. Store only the `WrappedKey`; use the `DataKey` and drop it.
pub fn new_user_key<K: Kms + ?Sized>(
    kms: &K,
    region: &str,
    user_id: i64,
) -> Result<(DataKey, WrappedKey), VaultError> {
    let key = DataKey::generate();
    let wrapped = kms.wrap(&key, &user_key_aad(region, user_id))?;
    Ok((key, wrapped))
}

/// Unwraps a user's data key. Fails if the wrapped key was made for another
/// region or user, or its region key is unknown/retired.
pub fn open_user_key<K: Kms + ?Sized>(
    kms: &K,
    region: &str,
    user_id: i64,
    wrapped: &WrappedKey,
) -> Result<DataKey, VaultError> {
    kms.unwrap(wrapped, &user_key_aad(region, user_id))
}

/// Unwraps with `from` (bound to `from_region`) and wraps with `to`'s current
/// key (bound to `to_region`). The data key itself is unchanged, so field
/// ciphertexts stay valid; but note field ciphertexts bind the region too,
/// so a user moving region must have fields re-encrypted (see
/// [`reencrypt_field`](crate::reencrypt_field)) unless the caller keeps the
/// original region in the field context.
///
/// Uses: key rotation in one region (`from` and `to` the same KMS, same
/// region) and moving a user to another region.
pub fn rewrap<F: Kms + ?Sized, T: Kms + ?Sized>(
    from: &F,
    from_region: &str,
    to: &T,
    to_region: &str,
    user_id: i64,
    wrapped: &WrappedKey,
) -> Result<WrappedKey, VaultError> {
    let key = open_user_key(from, from_region, user_id, wrapped)?;
    to.wrap(&key, &user_key_aad(to_region, user_id))
}

/// True if `wrapped` is not under the KMS's current key, i.e. a rotation
/// still has to re-wrap it.
pub fn needs_rewrap<K: Kms + ?Sized>(kms: &K, wrapped: &WrappedKey) -> bool {
    wrapped.key_id != kms.current_key_id()
}
