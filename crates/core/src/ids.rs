//! Typed 64-bit ids. They are generated without coordination (time + process salt + counter)
//! so that any cell can mint ids that never collide with another cell's, which keeps a
//! person's id stable when their data moves to another region.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::atomic::{AtomicU64, Ordering};

/// 2025-01-01T00:00:00Z, the epoch of our ids: 41 bits of milliseconds last until 2094.
const ID_EPOCH_MS: i64 = 1_735_689_600_000;

/// The last `(milliseconds << 12 | sequence)` handed out by this process.
static LAST: AtomicU64 = AtomicU64::new(0);
static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Returns a fresh positive id: 41 bits of time, a 12-bit sequence and 10 bits of per-process
/// random salt (so two processes minting in the same millisecond differ). Within a process ids
/// strictly increase: past 4096 ids in one millisecond the sequence borrows from the next
/// millisecond instead of wrapping, so a tight loop can never repeat an id.
pub fn next_id() -> i64 {
    let salt = *SALT.get_or_init(|| rand::random::<u64>() & 0x3ff);
    let now = ((crate::now_ms() - ID_EPOCH_MS).max(0) as u64 & ((1 << 41) - 1)) << 12;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return ((next << 10) | salt) as i64,
            Err(actual) => last = actual,
        }
    }
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
id_type!(
    /// A background job's id (`reelm-jobs`); time-ordered, so ids sort by enqueue time.
    JobId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_positive() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
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
