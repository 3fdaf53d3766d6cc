//! The integration suite: each module starts its own platform (three regions on SQLite in a
//! temp dir) on a random loopback port and drives it over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns

mod common;

#[path = "integration/accounts.rs"]
mod accounts;
#[path = "integration/cells.rs"]
mod cells;
#[path = "integration/encryption.rs"]
mod encryption;
#[path = "integration/erasure.rs"]
mod erasure;
#[path = "integration/errors.rs"]
mod errors;
#[path = "integration/events.rs"]
mod events;
#[path = "integration/foryou.rs"]
mod foryou;
#[path = "integration/gates.rs"]
mod gates;
#[path = "integration/headers.rs"]
mod headers;
#[path = "integration/keys.rs"]
mod keys;
#[path = "integration/ledger.rs"]
mod ledger;
#[path = "integration/media.rs"]
mod media;
#[path = "integration/openapi.rs"]
mod openapi;
#[path = "integration/operators.rs"]
mod operators;
#[path = "integration/residency.rs"]
mod residency;
#[path = "integration/screening.rs"]
mod screening;
#[path = "integration/social.rs"]
mod social;
