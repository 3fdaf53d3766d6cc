//! XChaCha20-Poly1305 helpers shared by key wrapping and field encryption.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

use crate::error::VaultError;
use crate::random::random_array;

pub(crate) const NONCE_LEN: usize = 24;
pub(crate) const TAG_LEN: usize = 16;

/// Appends a u32-big-endian length prefix and the bytes: an unambiguous
/// encoding for associated data built from several strings.
pub(crate) fn push_lp(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends `nonce | ciphertext | tag` of `plaintext` to `out` (which may
/// already hold a header) under a random 24-byte nonce.
pub(crate) fn seal_into(key: &[u8; 32], aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce: [u8; NONCE_LEN] = random_array();
    out.reserve(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    let start = out.len();
    out.extend_from_slice(plaintext);
    // Only fails for messages beyond XChaCha20's 256 GiB limit, which no
    // Vec-held field reaches; treat that as a caller bug rather than emit
    // an unauthenticated blob.
    #[allow(clippy::expect_used)]
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, &mut out[start..])
        .expect("XChaCha20-Poly1305 message length limit exceeded");
    out.extend_from_slice(&tag);
}

/// Opens `nonce | ciphertext | tag`.
pub(crate) fn open(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, VaultError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(VaultError::malformed(what, "too short"));
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut buf = ct.to_vec();
    match cipher.decrypt_in_place_detached(
        XNonce::from_slice(nonce),
        aad,
        &mut buf,
        Tag::from_slice(tag),
    ) {
        Ok(()) => Ok(buf),
        Err(_) => Err(VaultError::Decrypt),
    }
}
