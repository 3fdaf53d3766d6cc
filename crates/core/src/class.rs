//! Data classes: the residency category of every stored field (see PLATFORM.md).

use serde::{Deserialize, Serialize};

/// The residency class of a table column. The class decides whether a value may ever leave
/// its home region; the registry in `reelm-store` gives every column exactly one class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Published content and public counts: may be served and copied anywhere.
    Public,
    /// Identifies or describes a person (email, birth date, country, sessions).
    Personal,
    /// Personal data needing extra care (precise location, family links, moderation notes).
    Sensitive,
    /// What a person did (views, likes, follows, comments' authorship).
    Behavioral,
    /// Computed about one person (interest vectors, ranker features).
    Derived,
    /// Computed from at least k distinct people; may travel when k meets the policy minimum.
    Aggregate,
    /// The platform's own records (ledger, access log, directory routing).
    Operational,
}

impl DataClass {
    pub const ALL: [DataClass; 7] = [
        DataClass::Public,
        DataClass::Personal,
        DataClass::Sensitive,
        DataClass::Behavioral,
        DataClass::Derived,
        DataClass::Aggregate,
        DataClass::Operational,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Public => "public",
            DataClass::Personal => "personal",
            DataClass::Sensitive => "sensitive",
            DataClass::Behavioral => "behavioral",
            DataClass::Derived => "derived",
            DataClass::Aggregate => "aggregate",
            DataClass::Operational => "operational",
        }
    }

    /// True when rows of this class that belong to a person must stay in that person's home
    /// region (promise 1 of PLATFORM.md).
    pub fn bound_to_home_region(self) -> bool {
        matches!(
            self,
            DataClass::Personal | DataClass::Sensitive | DataClass::Behavioral | DataClass::Derived
        )
    }

    /// A sentence for people (privacy center) describing what the class holds.
    pub fn description(self) -> &'static str {
        match self {
            DataClass::Public => {
                "What you chose to publish: videos, captions, hashtags, your handle and public counts."
            }
            DataClass::Personal => {
                "Your account details: email, birth date, country, password hash and sign-in sessions."
            }
            DataClass::Sensitive => {
                "Specially protected data such as family links and moderation notes about you."
            }
            DataClass::Behavioral => {
                "What you do here: views with watch time, likes, follows, comments and \"not interested\" choices."
            }
            DataClass::Derived => "What the feed learned about your interests from your behavior.",
            DataClass::Aggregate => "Statistics computed from many people, never about you alone.",
            DataClass::Operational => {
                "Records the platform keeps to run and prove itself, such as the transfer ledger."
            }
        }
    }
}

impl std::fmt::Display for DataClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
