//! Region ids.

use serde::{Deserialize, Serialize};

/// A region (cell) id such as `us`, `eu` or `ap`: 1–16 characters of `a-z`, `0-9` and `-`.
/// It appears in session cookies, ledger entries and file paths, hence the strict alphabet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionId(String);

#[derive(Debug, thiserror::Error)]
#[error("invalid region id {0:?}: use 1 to 16 characters of a-z, 0-9 and '-'")]
pub struct InvalidRegionId(pub String);

impl RegionId {
    pub fn new(s: &str) -> Result<Self, InvalidRegionId> {
        let ok = !s.is_empty()
            && s.len() <= 16
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidRegionId(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RegionId {
    type Error = InvalidRegionId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        RegionId::new(&s)
    }
}

impl From<RegionId> for String {
    fn from(r: RegionId) -> String {
        r.0
    }
}

impl std::fmt::Display for RegionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for RegionId {
    type Err = InvalidRegionId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegionId::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_ids_are_strict() {
        assert!(RegionId::new("eu").is_ok());
        assert!(RegionId::new("us-east-2").is_ok());
        assert!(RegionId::new("").is_err());
        assert!(RegionId::new("EU").is_err());
        assert!(RegionId::new("eu/../x").is_err());
        assert!(RegionId::new("abcdefghijklmnopq").is_err());
    }
}
