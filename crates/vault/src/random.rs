//! Operating-system randomness.

/// Fills an array from the operating system's CSPRNG.
///
/// # Panics
/// If the operating system cannot provide randomness at all (no
/// `getrandom(2)`, no `/dev/urandom`). This is an unrecoverable platform
/// misconfiguration, the same policy as `rand::rngs::OsRng`; continuing with
/// weak randomness would be worse.
pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut out).expect("operating system random number generator failed");
    out
}
