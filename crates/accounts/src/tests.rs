//! Accounts without HTTP: sign-up placement, log-in, the account view, taken handles and
//! erasure, on a throw-away three-region platform.

use crate::accounts::{self, LogIn, SignUp};
use crate::erasure::{self, EraseRequest};
use reelm_core::{RegionId, UserId, VideoId};
use reelm_platform::{Cell, Error, Platform, Session};
use reelm_store::ProfileCounterDelta;
use std::sync::Arc;
use tempfile::TempDir;

const PASSWORD: &str = "correct horse battery";

async fn platform() -> (Platform, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let p = reelm_platform::testing::open_temp(dir.path())
        .await
        .unwrap();
    (p, dir)
}

fn cell<'a>(p: &'a Platform, region: &str) -> &'a Arc<Cell> {
    p.cell(&RegionId::new(region).unwrap()).unwrap()
}

fn sign_up_req(handle: &str, country: &str) -> SignUp {
    SignUp {
        handle: handle.into(),
        email: format!("{handle}@example.org").into(),
        password: PASSWORD.into(),
        birth_date: "1999-04-02".into(),
        country: country.into(),
        display_name: None,
    }
}

/// The stable machine-readable code of a failure.
fn code<T>(r: Result<T, Error>) -> &'static str {
    match r {
        Ok(_) => panic!("the operation should fail"),
        Err(e) => e.public().0.name(),
    }
}

/// Rows per table that `user` owns in `cell`, leaving out empty tables.
async fn owned(cell: &Cell, user: UserId) -> Vec<(&'static str, i64)> {
    let mut rows = cell.store.rows_owned_by(user).await.unwrap();
    rows.retain(|(_, n)| *n > 0);
    rows
}

#[tokio::test]
async fn sign_up_places_a_german_in_eu_and_nowhere_else() {
    let (p, _dir) = platform().await;
    let s = accounts::sign_up(&p, sign_up_req("ana_de", "DE"))
        .await
        .unwrap();
    let id = s.user.id;
    assert_eq!(s.cell.id().as_str(), "eu");
    assert_eq!(s.user.region, "eu");

    let eu = cell(&p, "eu");
    let account = eu.store.account(id).await.unwrap().expect("account in eu");
    assert!(eu.store.profile(id).await.unwrap().is_some());
    for other in ["us", "ap"] {
        let c = cell(&p, other);
        assert!(
            c.store.account(id).await.unwrap().is_none(),
            "account in {other}"
        );
        assert!(
            c.store.profile(id).await.unwrap().is_none(),
            "profile in {other}"
        );
        assert_eq!(owned(c, id).await, [], "rows of ana in {other}");
    }
    // Account, profile, wrapped key and the new session: all in eu.
    let mut in_eu = owned(eu, id).await;
    in_eu.sort();
    assert_eq!(
        in_eu,
        [
            ("accounts", 1),
            ("profiles", 1),
            ("sessions", 1),
            ("user_keys", 1)
        ]
    );
    // Sealed fields: nothing in clear, and the password only as an Argon2id hash.
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(&account.email_enc, b"ana_de@example.org"));
    assert!(!contains(&account.birth_date_enc, b"1999-04-02"));
    assert!(
        account
            .password_hash
            .unwrap()
            .expose()
            .starts_with("$argon2id$")
    );

    // The directory knows the handle and the region, and the token finds the session in eu
    // only.
    let entry = p.directory.by_id(id).await.unwrap().unwrap();
    assert_eq!(
        (entry.handle.as_str(), entry.region.as_str()),
        ("ana_de", "eu")
    );
    let resolved = Session::resolve(&p, "eu", s.token.expose())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.user, id);
    assert!(
        Session::resolve(&p, "us", s.token.expose())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        Session::resolve(&p, "eu", "not-a-token")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn log_in_needs_the_right_password() {
    let (p, _dir) = platform().await;
    let s = accounts::sign_up(&p, sign_up_req("sam_us", "US"))
        .await
        .unwrap();
    let log_in = |handle: &str, password: &str| {
        accounts::log_in(
            &p,
            LogIn {
                handle: handle.into(),
                password: password.into(),
            },
        )
    };
    assert_eq!(
        code(log_in("sam_us", "not my password").await),
        "wrong_credentials"
    );
    // An unknown handle answers exactly like a wrong password.
    assert_eq!(
        code(log_in("nobody_here", PASSWORD).await),
        "wrong_credentials"
    );
    let again = log_in("sam_us", PASSWORD).await.unwrap();
    assert_eq!(again.user.id, s.user.id);
    assert_eq!(again.cell.id().as_str(), "us");
    assert_ne!(again.token, s.token, "every log-in makes a new session");
    assert_eq!(
        Session::resolve(&p, "us", again.token.expose())
            .await
            .unwrap()
            .unwrap()
            .user,
        s.user.id
    );
}

#[tokio::test]
async fn me_opens_the_persons_own_sealed_fields() {
    let (p, _dir) = platform().await;
    let mut req = sign_up_req("mio_jp", "JP");
    req.display_name = Some("Mio".into());
    let s = accounts::sign_up(&p, req).await.unwrap();
    let ap = cell(&p, "ap");
    let me = accounts::me(ap, s.user.id).await.unwrap();
    assert_eq!(me.handle, "mio_jp");
    assert_eq!(me.display_name, "Mio");
    assert_eq!(me.email.expose(), "mio_jp@example.org");
    assert_eq!(me.birth_date, "1999-04-02");
    assert_eq!(me.country, "JP");
    assert_eq!(me.region, "ap");
    assert_eq!(me.data_center, "Singapore");
    // Another cell holds nothing to open.
    assert!(accounts::me(cell(&p, "eu"), s.user.id).await.is_err());
}

#[tokio::test]
async fn a_taken_handle_or_email_is_refused_and_leaves_nothing_behind() {
    let (p, _dir) = platform().await;
    accounts::sign_up(&p, sign_up_req("taken", "DE"))
        .await
        .unwrap();
    assert_eq!(p.directory.count().await.unwrap(), 1);

    // The same handle from another country: refused before anything is written anywhere.
    let mut req = sign_up_req("taken", "US");
    req.email = "someone.else@example.org".into();
    assert_eq!(code(accounts::sign_up(&p, req).await), "handle_taken");
    // The same email in the same region under a new handle: the directory entry made for the
    // new handle is taken back.
    let mut req = sign_up_req("fresh_handle", "FR");
    req.email = "taken@example.org".into();
    assert_eq!(code(accounts::sign_up(&p, req).await), "email_taken");
    assert!(
        p.directory
            .by_handle("fresh_handle")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(p.directory.count().await.unwrap(), 1);
    let report = cell(&p, "us")
        .store
        .db
        .count_rows("accounts")
        .await
        .unwrap();
    assert_eq!(report, 0);
    assert_eq!(
        cell(&p, "eu")
            .store
            .db
            .count_rows("accounts")
            .await
            .unwrap(),
        1
    );
    // Invalid input is a validation failure, not a half-made account.
    let mut req = sign_up_req("bad handle!", "DE");
    req.email = "bad@example.org".into();
    assert_eq!(code(accounts::sign_up(&p, req).await), "validation_failed");
    assert_eq!(p.directory.count().await.unwrap(), 1);
}

#[tokio::test]
async fn erasure_removes_every_row_and_the_directory_entry_and_leaves_a_receipt() {
    let (p, _dir) = platform().await;
    let s = accounts::sign_up(&p, sign_up_req("ada_erased", "DE"))
        .await
        .unwrap();
    let ada = s.user.id;
    let eu = cell(&p, "eu");
    let us = cell(&p, "us");
    let bob = accounts::create_account(
        &p,
        "bob_stays",
        "bob@example.org",
        None,
        "1980-01-01",
        "US",
        "Bob",
    )
    .await
    .unwrap();

    // Ada follows Bob (her row in eu, his public count in us) and likes a video.
    let now = reelm_core::now_ms();
    assert!(eu.store.follow(ada, bob, now).await.unwrap());
    us.store
        .adjust_profile_counters(
            bob,
            ProfileCounterDelta {
                followers: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(eu.store.like(ada, VideoId(12345), now).await.unwrap());
    let mut before = owned(eu, ada).await;
    before.sort();
    assert_eq!(
        before,
        [
            ("accounts", 1),
            ("follows", 1),
            ("likes", 1),
            ("profiles", 1),
            ("sessions", 1),
            ("user_keys", 1)
        ]
    );

    // A wrong password erases nothing.
    let session = Session::for_user(&p, ada).await.unwrap();
    let wrong = erasure::erase_me(
        &p,
        &session,
        EraseRequest {
            password: "not my password".into(),
        },
    )
    .await;
    assert_eq!(code(wrong), "wrong_credentials");
    assert_eq!(owned(eu, ada).await.len(), 6);

    let receipt = erasure::erase_me(
        &p,
        &session,
        EraseRequest {
            password: PASSWORD.into(),
        },
    )
    .await
    .unwrap();
    assert_eq!((receipt.user_id, receipt.region.as_str()), (ada, "eu"));
    for (table, n) in [
        ("accounts", 1),
        ("user_keys", 1),
        ("profiles", 1),
        ("sessions", 1),
        ("follows", 1),
        ("likes", 1),
        ("videos", 0),
        ("media_files", 0),
    ] {
        assert_eq!(receipt.counts.get(table), Some(&n), "{table}: {receipt:?}");
    }
    assert_eq!(
        erasure::render_counts(&receipt.counts).1,
        receipt.counts_sha256
    );

    // Every registered table in every cell: nothing of Ada's is left.
    for c in p.cells() {
        assert_eq!(owned(c, ada).await, [], "rows of ada in {}", c.id());
    }
    assert!(eu.store.user_key(ada).await.unwrap().is_none());
    assert!(p.directory.by_id(ada).await.unwrap().is_none());
    assert!(
        Session::resolve(&p, "eu", s.token.expose())
            .await
            .unwrap()
            .is_none()
    );
    let stored = eu.store.erasure_receipts().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].user_id, ada);
    assert_eq!(stored[0].receipt_id.to_string(), receipt.receipt_id);
    assert_eq!(stored[0].counts_sha256, receipt.counts_sha256);
    // Bob lost his follower through the gateway, which ledgered it in eu (the source).
    assert_eq!(
        us.store.profile(bob).await.unwrap().unwrap().follower_count,
        0
    );
    let ledger = eu.store.ledger_page(0, 10).await.unwrap();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert!(
        ledger[0].payload.contains("\"to\":\"us\""),
        "{}",
        ledger[0].payload
    );
    // Bob is untouched, and the handle is free again.
    assert_eq!(owned(us, bob).await.len(), 3);
    accounts::sign_up(&p, sign_up_req("ada_erased", "DE"))
        .await
        .unwrap();
    // Erasing someone unknown is not found.
    assert_eq!(code(erasure::erase(&p, ada).await), "not_found");
}

/// Every SQLite file (`*.db`, `*.db-wal`, `*.db-shm`) under `dir`, read whole.
fn sqlite_files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().contains(".db") {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// The files of `needles` (name, bytes) found in, as "name in path".
fn found_in(files: &[(std::path::PathBuf, Vec<u8>)], needles: &[(&str, Vec<u8>)]) -> Vec<String> {
    let mut hits = Vec::new();
    for (name, needle) in needles {
        for (path, bytes) in files {
            if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                hits.push(format!("{name} in {}", path.display()));
            }
        }
    }
    hits
}

#[tokio::test]
async fn erasure_leaves_no_key_ciphertext_or_email_index_in_the_sqlite_files() {
    let (p, dir) = platform().await;
    let req = sign_up_req("zelda_shredded_7f3a", "DE");
    let email = req.email.expose().clone();
    let zelda = accounts::sign_up(&p, req).await.unwrap().user.id;
    let eu = cell(&p, "eu");
    let account = eu.store.account(zelda).await.unwrap().expect("account");
    let needles = [
        ("wrapped key", account.wrapped_key.expose().clone()),
        ("email ciphertext", account.email_enc.clone()),
        ("email index", eu.email_index(&email).into_bytes()),
    ];
    assert!(needles.iter().all(|(_, n)| n.len() >= 16), "{needles:?}");
    // The scan sees them before erasure (in the store file or its WAL).
    let before = found_in(&sqlite_files(dir.path()), &needles);
    for (name, _) in &needles {
        assert!(
            before.iter().any(|h| h.starts_with(name)),
            "{name} not on disk before erasure: {before:?}"
        );
    }

    erasure::erase(&p, zelda).await.unwrap();

    // Scanned with the platform still open (closing the last connection would checkpoint
    // the WAL anyway): secure_delete zeroed the rows, the erasure's checkpoint emptied the WAL.
    let after = found_in(&sqlite_files(dir.path()), &needles);
    assert_eq!(after, Vec::<String>::new(), "left on disk after erasure");
    p.close().await;
    let after_close = found_in(&sqlite_files(dir.path()), &needles);
    assert_eq!(
        after_close,
        Vec::<String>::new(),
        "left on disk after close"
    );
}
