//! The data-class registry: the single place that says which class every table and column
//! holds, and whose data a row is (its *owner column*). Start-up refuses a schema with a column
//! missing here, and the residency audit uses the owner columns to prove placement.

use reelm_core::DataClass;
use reelm_core::DataClass::*;

/// Which database a table lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every region's cell store has the table.
    Cell,
    /// Only the global directory has the table.
    Directory,
}

#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    pub scope: Scope,
    /// The column holding the id of the person whose data the row is. For tables of a
    /// home-bound class, every row must sit in that person's home region. The column may be
    /// NULL only where a row can be about no one (a `jobs` row with no person behind it): such
    /// a row has no home region to check, so the audit skips it, and erasure never matches it.
    pub owner_column: Option<&'static str>,
    pub columns: &'static [(&'static str, DataClass)],
}

impl TableSpec {
    /// The most restrictive class of the table's columns: what the table as a whole holds.
    pub fn class(&self) -> DataClass {
        let rank = |c: DataClass| match c {
            Public => 0,
            Aggregate => 1,
            Operational => 2,
            Derived => 3,
            Behavioral => 4,
            Personal => 5,
            Sensitive => 6,
        };
        self.columns
            .iter()
            .map(|(_, c)| *c)
            .max_by_key(|c| rank(*c))
            .unwrap_or(Operational)
    }

    /// True when the table's rows must stay in their owner's home region.
    pub fn home_bound(&self) -> bool {
        self.class().bound_to_home_region()
    }
}

pub static TABLES: &[TableSpec] = &[
    TableSpec {
        name: "schema_migrations",
        scope: Scope::Cell,
        owner_column: None,
        columns: &[("version", Operational), ("applied_at", Operational)],
    },
    TableSpec {
        name: "profiles",
        scope: Scope::Cell,
        owner_column: Some("user_id"),
        columns: &[
            ("user_id", Public),
            ("handle", Public),
            ("display_name", Public),
            ("bio", Public),
            ("follower_count", Public),
            ("following_count", Public),
            ("video_count", Public),
            ("like_count", Public),
            ("created_at", Public),
        ],
    },
    TableSpec {
        name: "accounts",
        scope: Scope::Cell,
        owner_column: Some("user_id"),
        columns: &[
            ("user_id", Personal),
            // A keyed hash of the normalized email, so uniqueness and log-in by email work
            // without storing the address in clear.
            ("email_index", Personal),
            ("email_enc", Personal),
            ("password_hash", Personal),
            ("birth_date_enc", Personal),
            ("country_enc", Personal),
            ("created_at", Personal),
        ],
    },
    TableSpec {
        name: "user_keys",
        scope: Scope::Cell,
        owner_column: Some("user_id"),
        columns: &[
            ("user_id", Personal),
            // The person's data key, wrapped (encrypted) by the region key. Deleting this row
            // crypto-shreds every encrypted field of the person, wherever copies went.
            ("key_id", Personal),
            ("wrapped_key", Personal),
            ("created_at", Personal),
        ],
    },
    TableSpec {
        name: "sessions",
        scope: Scope::Cell,
        owner_column: Some("user_id"),
        columns: &[
            ("token_hash", Personal),
            ("user_id", Personal),
            ("created_at", Personal),
            ("expires_at", Personal),
        ],
    },
    TableSpec {
        name: "videos",
        scope: Scope::Cell,
        owner_column: Some("creator_id"),
        columns: &[
            ("id", Public),
            ("creator_id", Public),
            ("caption", Public),
            ("hashtags", Public),
            ("language", Public),
            ("duration_ms", Public),
            ("width", Public),
            ("height", Public),
            ("status", Public),
            ("media_key", Public),
            ("poster_key", Public),
            ("created_at", Public),
            ("like_count", Public),
            ("comment_count", Public),
            ("view_count", Public),
            ("restricted_regions", Public),
            // A statement about the content (which screening stage and rule), never about a
            // person; shown to the creator and fit for transparency reports.
            ("screening_reason", Public),
        ],
    },
    TableSpec {
        name: "media_objects",
        scope: Scope::Cell,
        owner_column: None,
        columns: &[
            ("object_key", Public),
            ("video_id", Public),
            ("kind", Public),
            ("bytes", Public),
            ("content_type", Public),
            ("created_at", Public),
        ],
    },
    TableSpec {
        name: "follows",
        scope: Scope::Cell,
        owner_column: Some("follower_id"),
        columns: &[
            ("follower_id", Behavioral),
            ("followee_id", Behavioral),
            ("created_at", Behavioral),
        ],
    },
    TableSpec {
        name: "likes",
        scope: Scope::Cell,
        owner_column: Some("user_id"),
        columns: &[
            ("user_id", Behavioral),
            ("video_id", Behavioral),
            ("created_at", Behavioral),
        ],
    },
    TableSpec {
        name: "comments",
        scope: Scope::Cell,
        owner_column: Some("author_id"),
        columns: &[
            ("id", Behavioral),
            ("video_id", Behavioral),
            ("author_id", Behavioral),
            ("body", Behavioral),
            ("created_at", Behavioral),
        ],
    },
    TableSpec {
        name: "view_events",
        scope: Scope::Cell,
        owner_column: Some("user_id"),
        columns: &[
            ("id", Behavioral),
            ("user_id", Behavioral),
            ("video_id", Behavioral),
            ("watch_ms", Behavioral),
            ("completed", Behavioral),
            ("created_at", Behavioral),
        ],
    },
    TableSpec {
        name: "event_log",
        scope: Scope::Cell,
        owner_column: Some("user_id"),
        columns: &[
            ("seq", Behavioral),
            ("user_id", Behavioral),
            ("video_id", Behavioral),
            ("kind", Behavioral),
            ("watch_ms", Behavioral),
            ("at_ms", Behavioral),
        ],
    },
    TableSpec {
        name: "consumer_positions",
        scope: Scope::Cell,
        owner_column: None,
        columns: &[
            ("consumer", Operational),
            ("position", Operational),
            ("updated_at", Operational),
        ],
    },
    // Region-wide counts over many people's events: no row is about one person. They stay in
    // the region (the gateway policy decides whether an aggregate may leave, and only from
    // ≥ k distinct people).
    TableSpec {
        name: "video_stats",
        scope: Scope::Cell,
        owner_column: None,
        columns: &[
            ("video_id", Aggregate),
            ("viewers", Aggregate),
            ("views", Aggregate),
            ("completions", Aggregate),
            ("skips", Aggregate),
            ("likes", Aggregate),
            ("shares", Aggregate),
            ("comments", Aggregate),
            ("trend", Aggregate),
            ("trend_at", Aggregate),
        ],
    },
    TableSpec {
        name: "co_engagement",
        scope: Scope::Cell,
        owner_column: None,
        columns: &[
            ("video_a", Aggregate),
            ("video_b", Aggregate),
            ("people", Aggregate),
        ],
    },
    TableSpec {
        name: "not_interested",
        scope: Scope::Cell,
        owner_column: Some("user_id"),
        columns: &[
            ("user_id", Behavioral),
            ("video_id", Behavioral),
            ("creator_id", Behavioral),
            ("created_at", Behavioral),
        ],
    },
    TableSpec {
        name: "erasure_receipts",
        scope: Scope::Cell,
        // The proof that a person was erased: which rows went, per table, and a digest. The
        // person no longer exists, so there is no owner (and nothing personal: an id that now
        // names no one, and counts).
        owner_column: None,
        columns: &[
            ("receipt_id", Operational),
            ("user_id", Operational),
            ("region", Operational),
            ("erased_at", Operational),
            ("counts", Operational),
            ("counts_sha256", Operational),
        ],
    },
    TableSpec {
        name: "transfer_ledger",
        scope: Scope::Cell,
        // The hash chain of every cross-region transfer the gateway decided in this (source)
        // region: classes, regions, purpose and decision; no person's id.
        owner_column: None,
        columns: &[
            ("seq", Operational),
            ("at_ms", Operational),
            ("kind", Operational),
            ("payload", Operational),
            ("prev_hash", Operational),
            ("hash", Operational),
        ],
    },
    TableSpec {
        name: "ledger_blocks",
        scope: Scope::Cell,
        // Sealed runs of `transfer_ledger` entries (the same contents, framed into one value).
        owner_column: None,
        columns: &[
            ("first_seq", Operational),
            ("last_seq", Operational),
            ("body", Operational),
        ],
    },
    TableSpec {
        name: "ledger_checkpoints",
        scope: Scope::Cell,
        // Signed statements "ledger entry seq has this hash" (region signing key).
        owner_column: None,
        columns: &[
            ("seq", Operational),
            ("hash", Operational),
            ("at_ms", Operational),
            ("signer_key_id", Operational),
            ("signature", Operational),
        ],
    },
    // Operators are staff, not people using the platform: operational, no owner. The TOTP
    // secret is sealed under the operator's own data key, wrapped by the region key.
    TableSpec {
        name: "operators",
        scope: Scope::Cell,
        owner_column: None,
        columns: &[
            ("operator_id", Operational),
            ("name", Operational),
            ("role", Operational),
            ("home_region", Operational),
            ("password_hash", Operational),
            ("wrapped_key", Operational),
            ("totp_secret_enc", Operational),
            ("created_at", Operational),
            // The time step of the last TOTP code accepted, so no code signs in twice.
            ("last_totp_step", Operational),
        ],
    },
    TableSpec {
        name: "operator_sessions",
        scope: Scope::Cell,
        owner_column: None,
        columns: &[
            ("token_hash", Operational),
            ("operator_id", Operational),
            ("created_at", Operational),
            ("expires_at", Operational),
        ],
    },
    // Who accessed (or tried to access) a person's personal data: one hash chain per person,
    // kept in the person's home cell. It says something about the person, so it is personal
    // with the person as owner: the residency audit checks its placement and erasure removes
    // the person's whole chain (never a piece of another person's chain).
    TableSpec {
        name: "access_log",
        scope: Scope::Cell,
        owner_column: Some("person_id"),
        columns: &[
            ("person_id", Personal),
            ("seq", Personal),
            ("at_ms", Personal),
            ("kind", Personal),
            ("payload", Personal),
            ("prev_hash", Personal),
            ("hash", Personal),
        ],
    },
    // A cross-region operator's request to read a person's personal data, and its approval by
    // a second operator of the person's region; kept with the person (personal, owner
    // person_id), in the person's home cell.
    TableSpec {
        name: "break_glass_grants",
        scope: Scope::Cell,
        owner_column: Some("person_id"),
        columns: &[
            ("grant_id", Personal),
            ("person_id", Personal),
            ("requester_id", Personal),
            ("requester_region", Personal),
            ("purpose", Personal),
            ("ticket", Personal),
            ("created_at", Personal),
            ("approver_id", Personal),
            ("expires_at", Personal),
        ],
    },
    // Signed checkpoints over the heads of the per-person access logs: a region-wide
    // statement, no person in it.
    TableSpec {
        name: "access_checkpoints",
        scope: Scope::Cell,
        owner_column: None,
        columns: &[
            ("seq", Operational),
            ("root", Operational),
            ("heads", Operational),
            ("at_ms", Operational),
            ("signer_key_id", Operational),
            ("signature", Operational),
        ],
    },
    // The heads a checkpoint signed. A person appears only as the tag of their chain (a
    // SHA-256 of their id, a pseudonym, never the id), with how far their log had reached.
    // Operational, like the erasure receipt (which keeps the id and the access-log row count):
    // the rows are the proof an auditor checks, so they stay when the person is erased, and
    // they never leave the region.
    TableSpec {
        name: "access_checkpoint_heads",
        scope: Scope::Cell,
        owner_column: None,
        columns: &[
            ("checkpoint_seq", Operational),
            ("person_tag", Operational),
            ("seq", Operational),
            ("hash", Operational),
        ],
    },
    // Background jobs (`reelm-jobs`). A job about a person (an export of their data, the
    // screening of their upload) names them in `owner_id`: what it carries and what it
    // reports say something about that person, so those columns are personal and the job
    // stays in their home cell (the audit checks it; erasure deletes it). The bookkeeping
    // (state, attempts, leases, times) says only how the region's machinery ran. A job about
    // no one (a region-wide report) has a NULL owner. `payload` and `checkpoint` never hold
    // plaintext personal data: ids, object keys and cursors only.
    TableSpec {
        name: "jobs",
        scope: Scope::Cell,
        owner_column: Some("owner_id"),
        columns: &[
            ("id", Operational),
            ("kind", Operational),
            ("state", Operational),
            ("payload", Personal),
            ("checkpoint", Personal),
            ("progress_done", Operational),
            ("progress_total", Operational),
            ("attempts", Operational),
            ("max_attempts", Operational),
            ("run_after", Operational),
            ("lease_owner", Operational),
            ("lease_until", Operational),
            // A handler's error text may name what it was working on.
            ("last_error", Personal),
            ("owner_id", Personal),
            ("created_at", Operational),
            ("updated_at", Operational),
        ],
    },
    TableSpec {
        name: "schema_migrations",
        scope: Scope::Directory,
        owner_column: None,
        columns: &[("version", Operational), ("applied_at", Operational)],
    },
    TableSpec {
        name: "directory_users",
        scope: Scope::Directory,
        owner_column: None,
        // The directory is global, so it holds nothing personal: a public handle and where
        // the person's data lives.
        columns: &[
            ("user_id", Operational),
            ("handle", Public),
            ("region", Operational),
            ("created_at", Operational),
        ],
    },
];

pub fn tables(scope: Scope) -> impl Iterator<Item = &'static TableSpec> {
    TABLES.iter().filter(move |t| t.scope == scope)
}

pub fn table(scope: Scope, name: &str) -> Option<&'static TableSpec> {
    tables(scope).find(|t| t.name == name)
}

/// Columns present in a live schema but missing from the registry, as `table.column`.
pub fn unclassified(scope: Scope, live: &[(String, String)]) -> Vec<String> {
    live.iter()
        .filter(|(t, c)| {
            !table(scope, t).is_some_and(|spec| spec.columns.iter().any(|(name, _)| name == c))
        })
        .map(|(t, c)| format!("{t}.{c}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_columns_are_declared_columns() {
        for t in TABLES {
            if let Some(owner) = t.owner_column {
                assert!(
                    t.columns.iter().any(|(c, _)| *c == owner),
                    "{}.{owner}",
                    t.name
                );
            }
            if t.home_bound() {
                assert!(
                    t.owner_column.is_some(),
                    "home-bound table {} needs an owner column",
                    t.name
                );
            }
        }
    }

    #[test]
    fn the_directory_holds_nothing_personal() {
        for t in tables(Scope::Directory) {
            assert!(!t.home_bound(), "{} is home-bound but global", t.name);
        }
    }
}
