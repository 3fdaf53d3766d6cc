//! Schema migrations. One source for both dialects: each statement is written once with
//! `{blob}` standing for the binary type, so SQLite and PostgreSQL schemas cannot drift apart
//! (the class registry is checked against both). Applied versions are recorded in
//! `schema_migrations`; a migration runs in one transaction.

use crate::db::Dialect;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub statements: &'static [&'static str],
}

pub static CELL_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "cell foundation",
        statements: &[
            "CREATE TABLE profiles (
            user_id BIGINT PRIMARY KEY,
            handle TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL,
            bio TEXT NOT NULL,
            follower_count BIGINT NOT NULL DEFAULT 0,
            following_count BIGINT NOT NULL DEFAULT 0,
            video_count BIGINT NOT NULL DEFAULT 0,
            like_count BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL)",
            "CREATE TABLE accounts (
            user_id BIGINT PRIMARY KEY,
            email_index TEXT NOT NULL UNIQUE,
            email_enc {blob} NOT NULL,
            password_hash TEXT,
            birth_date_enc {blob} NOT NULL,
            country_enc {blob} NOT NULL,
            created_at BIGINT NOT NULL)",
            "CREATE TABLE user_keys (
            user_id BIGINT PRIMARY KEY,
            key_id TEXT NOT NULL,
            wrapped_key {blob} NOT NULL,
            created_at BIGINT NOT NULL)",
            "CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL)",
            "CREATE INDEX sessions_user ON sessions (user_id)",
            "CREATE TABLE videos (
            id BIGINT PRIMARY KEY,
            creator_id BIGINT NOT NULL,
            caption TEXT NOT NULL,
            hashtags TEXT NOT NULL,
            language TEXT NOT NULL,
            duration_ms BIGINT NOT NULL,
            width BIGINT NOT NULL,
            height BIGINT NOT NULL,
            status TEXT NOT NULL,
            media_key TEXT NOT NULL,
            poster_key TEXT,
            created_at BIGINT NOT NULL,
            like_count BIGINT NOT NULL DEFAULT 0,
            comment_count BIGINT NOT NULL DEFAULT 0,
            view_count BIGINT NOT NULL DEFAULT 0)",
            "CREATE INDEX videos_creator_time ON videos (creator_id, created_at, id)",
            "CREATE INDEX videos_time ON videos (created_at, id)",
            "CREATE INDEX videos_likes ON videos (like_count)",
            "CREATE TABLE media_objects (
            object_key TEXT PRIMARY KEY,
            video_id BIGINT NOT NULL,
            kind TEXT NOT NULL,
            bytes BIGINT NOT NULL,
            content_type TEXT NOT NULL,
            created_at BIGINT NOT NULL)",
            "CREATE INDEX media_objects_video ON media_objects (video_id)",
            "CREATE TABLE follows (
            follower_id BIGINT NOT NULL,
            followee_id BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (follower_id, followee_id))",
            "CREATE TABLE likes (
            user_id BIGINT NOT NULL,
            video_id BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, video_id))",
            "CREATE TABLE comments (
            id BIGINT PRIMARY KEY,
            video_id BIGINT NOT NULL,
            author_id BIGINT NOT NULL,
            body TEXT NOT NULL,
            created_at BIGINT NOT NULL)",
            "CREATE INDEX comments_video_time ON comments (video_id, created_at, id)",
            "CREATE INDEX comments_author ON comments (author_id)",
            "CREATE TABLE view_events (
            id BIGINT PRIMARY KEY,
            user_id BIGINT NOT NULL,
            video_id BIGINT NOT NULL,
            watch_ms BIGINT NOT NULL,
            completed BIGINT NOT NULL,
            created_at BIGINT NOT NULL)",
            "CREATE INDEX view_events_user_time ON view_events (user_id, created_at)",
            "CREATE TABLE not_interested (
            user_id BIGINT NOT NULL,
            video_id BIGINT NOT NULL,
            creator_id BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, video_id))",
        ],
    },
    Migration {
        version: 2,
        name: "most-liked index covers the tie-breaker",
        statements: &[
            // `ORDER BY like_count DESC, id DESC` sorted the whole table without `id` in the index.
            "DROP INDEX videos_likes",
            "CREATE INDEX videos_likes ON videos (like_count, id)",
        ],
    },
    Migration {
        version: 3,
        name: "erasure receipts",
        statements: &["CREATE TABLE erasure_receipts (
            receipt_id BIGINT PRIMARY KEY,
            user_id BIGINT NOT NULL,
            region TEXT NOT NULL,
            erased_at BIGINT NOT NULL,
            counts TEXT NOT NULL,
            counts_sha256 TEXT NOT NULL)"],
    },
    Migration {
        version: 4,
        name: "transfer ledger and its signed checkpoints",
        statements: &[
            "CREATE TABLE transfer_ledger (
            seq BIGINT PRIMARY KEY,
            at_ms BIGINT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            prev_hash {blob} NOT NULL,
            hash {blob} NOT NULL)",
            "CREATE TABLE ledger_checkpoints (
            seq BIGINT PRIMARY KEY,
            hash {blob} NOT NULL,
            at_ms BIGINT NOT NULL,
            signer_key_id TEXT NOT NULL,
            signature {blob} NOT NULL)",
        ],
    },
    Migration {
        version: 5,
        name: "operators, their sessions and the per-person access log",
        statements: &[
            "CREATE TABLE operators (
            operator_id BIGINT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL,
            home_region TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            wrapped_key {blob} NOT NULL,
            totp_secret_enc {blob} NOT NULL,
            created_at BIGINT NOT NULL)",
            "CREATE TABLE operator_sessions (
            token_hash TEXT PRIMARY KEY,
            operator_id BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL)",
            "CREATE TABLE access_log (
            person_id BIGINT NOT NULL,
            seq BIGINT NOT NULL,
            at_ms BIGINT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            prev_hash {blob} NOT NULL,
            hash {blob} NOT NULL,
            PRIMARY KEY (person_id, seq))",
        ],
    },
    Migration {
        version: 6,
        name: "break-glass grants",
        statements: &["CREATE TABLE break_glass_grants (
            grant_id BIGINT PRIMARY KEY,
            person_id BIGINT NOT NULL,
            requester_id BIGINT NOT NULL,
            requester_region TEXT NOT NULL,
            purpose TEXT NOT NULL,
            ticket TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            approver_id BIGINT,
            expires_at BIGINT)"],
    },
    Migration {
        version: 7,
        name: "per-region event log, consumer positions and the feed state it maintains",
        statements: &[
            // The region's behavioral event log, in append order (seq is assigned by the cell's
            // single appender, so a consumer reading `seq > position` never skips a commit).
            "CREATE TABLE event_log (
            seq BIGINT PRIMARY KEY,
            user_id BIGINT NOT NULL,
            video_id BIGINT NOT NULL,
            kind TEXT NOT NULL,
            watch_ms BIGINT NOT NULL,
            at_ms BIGINT NOT NULL)",
            "CREATE INDEX event_log_user_video ON event_log (user_id, video_id)",
            "CREATE INDEX event_log_user_seq ON event_log (user_id, seq)",
            // How far each consumer (or the NATS relay) has durably applied the log.
            "CREATE TABLE consumer_positions (
            consumer TEXT PRIMARY KEY,
            position BIGINT NOT NULL,
            updated_at BIGINT NOT NULL)",
            // Per-video statistics of this region's viewers (aggregate, never per person).
            "CREATE TABLE video_stats (
            video_id BIGINT PRIMARY KEY,
            viewers BIGINT NOT NULL,
            views BIGINT NOT NULL,
            completions BIGINT NOT NULL,
            skips BIGINT NOT NULL,
            likes BIGINT NOT NULL,
            shares BIGINT NOT NULL,
            comments BIGINT NOT NULL,
            trend DOUBLE PRECISION NOT NULL,
            trend_at BIGINT NOT NULL)",
            // Distinct people of this region who engaged with both videos.
            "CREATE TABLE co_engagement (
            video_a BIGINT NOT NULL,
            video_b BIGINT NOT NULL,
            people BIGINT NOT NULL,
            PRIMARY KEY (video_a, video_b))",
        ],
    },
    Migration {
        version: 8,
        name: "signed checkpoints over the access-log heads",
        statements: &[
            // Region-wide signed checkpoints over the heads of the per-person access logs
            // (numbered 1, 2, …; each chains to the previous root).
            "CREATE TABLE access_checkpoints (
            seq BIGINT PRIMARY KEY,
            root {blob} NOT NULL,
            heads BIGINT NOT NULL,
            at_ms BIGINT NOT NULL,
            signer_key_id TEXT NOT NULL,
            signature {blob} NOT NULL)",
            // The heads each checkpoint signed: the person's chain tag, not their id.
            "CREATE TABLE access_checkpoint_heads (
            checkpoint_seq BIGINT NOT NULL,
            person_tag {blob} NOT NULL,
            seq BIGINT NOT NULL,
            hash {blob} NOT NULL,
            PRIMARY KEY (checkpoint_seq, person_tag))",
            "CREATE INDEX access_checkpoint_heads_tag ON access_checkpoint_heads (person_tag, checkpoint_seq)",
        ],
    },
    Migration {
        version: 9,
        name: "operators' last accepted TOTP step",
        statements: &[
            // RFC 6238 section 5.2: a code is accepted once. Sign-in claims the code's time step
            // only if it is later than this one (NULL: no code accepted yet).
            "ALTER TABLE operators ADD COLUMN last_totp_step BIGINT",
        ],
    },
    Migration {
        version: 10,
        name: "sealed blocks of the transfer ledger",
        statements: &[
            // Every ledger entry with seq in [first_seq, last_seq], framed back to back in seq
            // order (`reelm_store::ledger::push_block_entry`): the authoritative record of those
            // entries, whose rows are deleted from `transfer_ledger` when the block is sealed.
            // Verification reads one value per BLOCK entries instead of one row per entry.
            // Existing entries are sealed by the region's appender when it next opens (the
            // framing is binary, beyond portable SQL).
            "CREATE TABLE ledger_blocks (
            first_seq BIGINT PRIMARY KEY,
            last_seq BIGINT NOT NULL,
            body {blob} NOT NULL)",
        ],
    },
    Migration {
        version: 11,
        name: "persisted background jobs",
        statements: &[
            // Background work with no request behind it (`reelm-jobs`). `payload` and
            // `checkpoint` are JSON and never hold plaintext personal data (ids, object keys,
            // cursors only); `owner_id` names the person a job is about, if any, so the job
            // stays in their home cell and goes with their erasure. A runner owns a `running`
            // job until `lease_until` (epoch ms); past it, another runner may take it over.
            "CREATE TABLE jobs (
            id BIGINT PRIMARY KEY,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            payload TEXT NOT NULL,
            checkpoint TEXT,
            progress_done BIGINT NOT NULL DEFAULT 0,
            progress_total BIGINT NOT NULL DEFAULT 0,
            attempts BIGINT NOT NULL DEFAULT 0,
            max_attempts BIGINT NOT NULL,
            run_after BIGINT NOT NULL,
            lease_owner TEXT,
            lease_until BIGINT,
            last_error TEXT,
            owner_id BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL)",
            // What runners claim: due queued jobs and running ones whose lease may have expired.
            "CREATE INDEX jobs_due ON jobs (state, run_after)",
            "CREATE INDEX jobs_kind ON jobs (kind, state)",
            "CREATE INDEX jobs_owner ON jobs (owner_id)",
        ],
    },
    Migration {
        version: 12,
        name: "upload screening outcome on videos",
        statements: &[
            // Regions (space-separated ids) where a screened video must not be shown: the
            // platform's built-in gate refuses it to viewers homed there.
            "ALTER TABLE videos ADD COLUMN restricted_regions TEXT NOT NULL DEFAULT ''",
            // Why screening held, blocked or restricted the video (`<stage>: <reason>`), for
            // the creator; NULL when it was simply published.
            "ALTER TABLE videos ADD COLUMN screening_reason TEXT",
        ],
    },
];

pub static DIRECTORY_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "directory",
    statements: &[
        "CREATE TABLE directory_users (
            user_id BIGINT PRIMARY KEY,
            handle TEXT NOT NULL UNIQUE,
            region TEXT NOT NULL,
            created_at BIGINT NOT NULL)",
        "CREATE INDEX directory_users_region ON directory_users (region)",
    ],
}];

/// The statement text for a dialect.
pub fn render(statement: &str, dialect: Dialect) -> String {
    let blob = match dialect {
        Dialect::Sqlite => "BLOB",
        Dialect::Postgres => "BYTEA",
    };
    statement.replace("{blob}", blob)
}
