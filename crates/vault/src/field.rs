//! Field encryption under a per-user data key, bound to where the value lives.

use crate::aead::{NONCE_LEN, TAG_LEN, open, push_lp, seal_into};
use crate::error::VaultError;
use crate::keys::DataKey;

/// Current field ciphertext format: `0x01 | nonce (24) | ciphertext | tag (16)`,
/// XChaCha20-Poly1305, AAD = [`FieldContext::aad`].
pub const FIELD_FORMAT_V1: u8 = 1;

/// Bytes a field ciphertext adds to its plaintext (version + nonce + tag = 41).
pub const FIELD_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

const FIELD_DOMAIN: &[u8] = b"reelm-vault/field/v1";

/// Where an encrypted value lives. All four parts are authenticated as
/// associated data: a ciphertext copied to another region, user, table or
/// column fails to decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldContext<'a> {
    pub region: &'a str,
    pub user_id: i64,
    pub table: &'a str,
    pub column: &'a str,
}

impl<'a> FieldContext<'a> {
    pub fn new(region: &'a str, user_id: i64, table: &'a str, column: &'a str) -> Self {
        FieldContext {
            region,
            user_id,
            table,
            column,
        }
    }

    /// The associated data bound into every field ciphertext:
    /// `"reelm-vault/field/v1" | version | lp(region) | user_id (i64 BE) | lp(table) | lp(column)`.
    pub fn aad(&self, version: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            FIELD_DOMAIN.len()
                + 1
                + 8
                + 12
                + self.region.len()
                + self.table.len()
                + self.column.len(),
        );
        out.extend_from_slice(FIELD_DOMAIN);
        out.push(version);
        push_lp(&mut out, self.region.as_bytes());
        out.extend_from_slice(&self.user_id.to_be_bytes());
        push_lp(&mut out, self.table.as_bytes());
        push_lp(&mut out, self.column.as_bytes());
        out
    }
}

/// Encrypts one field value. Each call uses a fresh random nonce, so equal
/// plaintexts give different ciphertexts. Output length is
/// `plaintext.len() + FIELD_OVERHEAD`.
///
/// # Panics
/// Only if the operating system cannot supply randomness.
pub fn encrypt_field(key: &DataKey, ctx: &FieldContext<'_>, plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + FIELD_OVERHEAD);
    out.push(FIELD_FORMAT_V1);
    seal_into(
        key.expose_secret(),
        &ctx.aad(FIELD_FORMAT_V1),
        plaintext,
        &mut out,
    );
    out
}

/// Decrypts a value made by [`encrypt_field`] with the same key and context.
/// Fails with [`VaultError::Decrypt`] on a wrong key or context or any
/// tampering, and with `UnsupportedVersion`/`Malformed` on foreign bytes.
pub fn decrypt_field(
    key: &DataKey,
    ctx: &FieldContext<'_>,
    ciphertext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let (&version, sealed) = ciphertext
        .split_first()
        .ok_or_else(|| VaultError::malformed("field ciphertext", "empty"))?;
    if version != FIELD_FORMAT_V1 {
        return Err(VaultError::UnsupportedVersion {
            what: "field ciphertext",
            version,
        });
    }
    open(
        key.expose_secret(),
        &ctx.aad(version),
        sealed,
        "field ciphertext",
    )
}

/// [`encrypt_field`] for a UTF-8 string.
pub fn encrypt_str(key: &DataKey, ctx: &FieldContext<'_>, plaintext: &str) -> Vec<u8> {
    encrypt_field(key, ctx, plaintext.as_bytes())
}

/// [`decrypt_field`] into a `String`; fails with [`VaultError::Utf8`] if the
/// plaintext is not UTF-8.
pub fn decrypt_str(
    key: &DataKey,
    ctx: &FieldContext<'_>,
    ciphertext: &[u8],
) -> Result<String, VaultError> {
    String::from_utf8(decrypt_field(key, ctx, ciphertext)?).map_err(|_| VaultError::Utf8)
}

/// [`encrypt_field`] then `Option` passthrough: `None` stays `None` (NULL column).
pub fn encrypt_opt_str(
    key: &DataKey,
    ctx: &FieldContext<'_>,
    plaintext: Option<&str>,
) -> Option<Vec<u8>> {
    plaintext.map(|p| encrypt_str(key, ctx, p))
}

/// Inverse of [`encrypt_opt_str`].
pub fn decrypt_opt_str(
    key: &DataKey,
    ctx: &FieldContext<'_>,
    ciphertext: Option<&[u8]>,
) -> Result<Option<String>, VaultError> {
    ciphertext.map(|c| decrypt_str(key, ctx, c)).transpose()
}

/// Decrypts under `from` and encrypts under `to` with the same key, e.g. when
/// a user's rows move to another region (the region is bound into the AAD).
/// The plaintext is zeroized before returning.
pub fn reencrypt_field(
    key: &DataKey,
    from: &FieldContext<'_>,
    to: &FieldContext<'_>,
    ciphertext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let plain = zeroize::Zeroizing::new(decrypt_field(key, from, ciphertext)?);
    Ok(encrypt_field(key, to, &plain))
}
