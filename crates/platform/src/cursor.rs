//! Opaque pagination cursors: base64url of a small JSON object, so clients cannot depend on
//! their shape and a tampered cursor is a clean 400.

use crate::Error;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reelm_core::ErrorCode;
use serde::{Serialize, de::DeserializeOwned};

pub fn encode<T: Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

pub fn decode<T: DeserializeOwned>(cursor: &str) -> Result<T, Error> {
    let bad = || {
        Error::user(
            ErrorCode::BadCursor,
            "the cursor is not one this server gave out; start from the first page",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// Checks `?limit=`: 1..=50, `default` when absent.
pub fn limit(raw: Option<i64>, default: i64) -> Result<i64, Error> {
    match raw {
        None => Ok(default),
        Some(n) if (1..=50).contains(&n) => Ok(n),
        Some(n) => Err(Error::user(
            ErrorCode::ValidationFailed,
            format!("limit must be between 1 and 50, not {n}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let c = encode(&(5_i64, 7_i64));
        assert_eq!(decode::<(i64, i64)>(&c).unwrap(), (5, 7));
        assert!(decode::<(i64, i64)>("!!!").is_err());
        assert!(decode::<(i64, i64)>(&encode(&"x")).is_err());
        assert!(limit(Some(0), 10).is_err());
        assert_eq!(limit(None, 10).unwrap(), 10);
    }
}
