//! Typed 64-bit ids. They are generated without coordination (time + process salt + counter)
//! so that any cell can mint ids that never collide with another cell's, which keeps a
//! person's id stable when their data moves to another region.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::atomic::{AtomicU64, Ordering};

/// 2025-01-01T00:00:00Z, the epoch of our ids: 41 bits of milliseconds last until 2094.
const ID_EPOCH_MS: i64 = 1_735_689_600_000;

static COUNTER: AtomicU64 = AtomicU64::new(0);
static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Returns a fresh positive id: 41 bits of time, 10 bits of per-process random salt and a
/// 12-bit counter. Ids sort roughly by creation time, which keyset cursors rely on only as a
/// tie-breaker.
pub fn next_id() -> i64 {
    let salt = *SALT.get_or_init(|| rand::random::<u64>() & 0x3ff);
    let ms = (crate::now_ms() - ID_EPOCH_MS).max(0) as u64 & ((1 << 41) - 1);
    let seq = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xfff;
    ((ms << 22) | (salt << 12) | seq) as i64
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Serialized as a decimal string: JavaScript numbers cannot hold 64-bit integers.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl $name {
            pub fn new() -> Self {
                Self(next_id())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse::<i64>().map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A person's id, the same in every region and across migrations.
    UserId
);
id_type!(
    /// A video's id.
    VideoId
);
id_type!(
    /// A comment's id.
    CommentId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_positive() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = next_id();
            assert!(id > 0);
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn ids_serialize_as_strings() {
        let id = UserId(9_007_199_254_740_993);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"9007199254740993\"");
        let back: UserId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<UserId>("\"x1\"").is_err());
    }
}
