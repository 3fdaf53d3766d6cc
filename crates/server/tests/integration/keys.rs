//! Region-key rotation (`reelm keys rotate`): every data key of the region is re-wrapped under
//! the new region key without re-encrypting anything, and people still read their own data
//! after a restart, also once the old key is retired.

use crate::common::Server;
use reelm_accounts::keys::rotate_region_key;
use reelm_core::RegionId;
use reelm_vault::{Kms, LocalKms, WrappedKey};
use serde_json::json;

fn eu() -> RegionId {
    RegionId::new("eu").unwrap()
}

async fn wrapped_key_ids(s: &Server, region: &str) -> Vec<String> {
    let rows = s.cell(region).store.user_keys().await.unwrap();
    rows.iter()
        .map(|r| {
            let w = WrappedKey::from_bytes(r.wrapped_key.expose()).unwrap();
            assert_eq!(
                w.key_id, r.key_id,
                "key_id column matches the wrapped bytes"
            );
            r.key_id.clone()
        })
        .collect()
}

async fn log_in_reads_email(s: &Server, handle: &str) {
    let mut c = s.anon();
    let r = c
        .post(
            "/api/auth/login",
            &json!({"handle": handle, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    c.adopt_session(&r);
    let me = c.get_json("/api/me").await;
    assert_eq!(me["email"], format!("{handle}@example.org"));
    assert_eq!(me["birth_date"], "1999-04-02");
}

#[tokio::test]
async fn rotation_rewraps_every_key_and_people_still_read_their_data() {
    let s = Server::start().await;
    s.signup("rot_ada", "DE").await;
    let quick = s.quick_user("rot_bea", "FR").await;
    s.signup("rot_cy", "US").await;
    let email_before = s
        .cell("eu")
        .store
        .account(quick.user_id())
        .await
        .unwrap()
        .unwrap()
        .email_enc;
    assert_eq!(wrapped_key_ids(&s, "eu").await, ["eu-k1", "eu-k1"]);

    let mut seen = Vec::new();
    let report = rotate_region_key(&s.platform.config, &eu(), false, &mut |done, total| {
        seen.push((done, total))
    })
    .await
    .unwrap();
    assert_eq!(
        (
            report.previous_key_id.as_str(),
            report.new_key_id.as_str(),
            report.rewrapped,
            report.total
        ),
        ("eu-k1", "eu-k2", 2, 2)
    );
    assert!(report.retired.is_empty());
    assert_eq!(seen.last(), Some(&(2, 2)));
    assert_eq!(wrapped_key_ids(&s, "eu").await, ["eu-k2", "eu-k2"]);
    assert_eq!(
        wrapped_key_ids(&s, "us").await,
        ["us-k1"],
        "other regions untouched"
    );
    // No field was re-encrypted.
    let account = s.cell("eu").store.account(quick.user_id()).await.unwrap();
    assert_eq!(account.unwrap().email_enc, email_before);

    // After a restart (which reloads the key file) people log in and read their data.
    let s = s.reopen().await;
    log_in_reads_email(&s, "rot_ada").await;
    log_in_reads_email(&s, "rot_cy").await;
    let cell = s.cell("eu").clone();
    let me = reelm_accounts::accounts::me(&cell, quick.user_id())
        .await
        .unwrap();
    assert_eq!(me.email.expose(), "rot_bea@example.org");
    // New people get keys under the new region key.
    s.signup("rot_dee", "IT").await;
    assert_eq!(wrapped_key_ids(&s, "eu").await, ["eu-k2"; 3]);

    // Rotate again and retire the old keys: only the newest remains, and everything still
    // opens.
    let report = rotate_region_key(&s.platform.config, &eu(), true, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.new_key_id, "eu-k3");
    assert_eq!(report.rewrapped, 3);
    assert_eq!(report.retired, ["eu-k1", "eu-k2"]);
    let path =
        reelm_server::Cell::keys_dir(&s.platform.config.data_dir, &eu()).join("region-kms.json");
    let kms = LocalKms::load(&path, "eu").unwrap();
    assert_eq!(kms.key_ids(), ["eu-k3"]);
    assert_eq!(kms.current_key_id(), "eu-k3");
    let s = s.reopen().await;
    log_in_reads_email(&s, "rot_ada").await;
    log_in_reads_email(&s, "rot_dee").await;
    let report = reelm_audit::run(&s.platform).await.unwrap();
    assert!(report.passed(), "{}", report.render());
}

#[tokio::test]
async fn rotating_an_unknown_region_fails_clearly() {
    let s = Server::start().await;
    let err = rotate_region_key(
        &s.platform.config,
        &RegionId::new("zz").unwrap(),
        false,
        &mut |_, _| {},
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("unknown region") && text.contains("eu"),
        "{text}"
    );
}
