//! Erasure by crypto-shredding (`DELETE /api/me`): a copy of the person's ciphertext taken
//! before erasure stays unreadable after it, their rows and public content are gone, counters
//! elsewhere are corrected, the handle is free again, a receipt proves it, and the audit passes.

use crate::common::{Client, Server, assert_error};
use reelm_core::{RegionId, UserId};
use reelm_vault::{DataKey, FieldContext, Kms, LocalKms, WrappedKey};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

const PASSWORD: &str = "correct horse battery";

async fn erase(c: &Client, password: &str) -> crate::common::Resp {
    Client::send(
        c.request(Method::DELETE, "/api/me")
            .json(&json!({ "password": password })),
    )
    .await
}

#[tokio::test]
async fn erasure_crypto_shreds_and_removes_everything() {
    let s = Server::start().await;
    let bob = s.quick_user("bob_creator", "US").await;
    let carol = s.quick_user("carol_fan", "JP").await;
    let ada = s.signup("ada_erased", "DE").await;
    assert_eq!(ada.region, "eu");
    let uid: UserId = ada.user_id();
    let eu = s.cell("eu").clone();

    // Ada acts across regions: follows, likes, comments on and watches Bob's video, and posts
    // her own, which Carol likes.
    let bob_video = bob.upload_clip(0).await["id"].as_str().unwrap().to_owned();
    let ada_video = ada.upload_clip(1).await["id"].as_str().unwrap().to_owned();
    let ok = |r: crate::common::Resp, want: u16| assert_eq!(r.status, want, "{}", r.text());
    ok(ada.post_empty("/api/users/bob_creator/follow").await, 200);
    ok(
        ada.post_empty(&format!("/api/videos/{bob_video}/like"))
            .await,
        200,
    );
    for text in ["first!", "second"] {
        ok(
            ada.post(
                &format!("/api/videos/{bob_video}/comments"),
                &json!({ "text": text }),
            )
            .await,
            201,
        );
    }
    ok(
        ada.post(
            &format!("/api/videos/{bob_video}/views"),
            &json!({"watch_ms": 1500}),
        )
        .await,
        202,
    );
    ok(
        carol
            .post_empty(&format!("/api/videos/{ada_video}/like"))
            .await,
        200,
    );
    let bob_profile = s.anon().get_json("/api/users/bob_creator").await;
    assert_eq!(bob_profile["follower_count"], 1, "{bob_profile}");
    let v = s.anon().get_json(&format!("/api/videos/{bob_video}")).await;
    assert_eq!(
        (v["like_count"].as_i64(), v["comment_count"].as_i64()),
        (Some(1), Some(2))
    );

    // A copy of Ada's encrypted row and of her wrapped key, as a backup or a thief would have.
    let account = eu.store.account(uid).await.unwrap().expect("ada's account");
    let email_ct = account.email_enc.clone();
    let wrapped_copy = account.wrapped_key.clone();
    let ctx = FieldContext::new("eu", uid.0, "accounts", "email_enc");
    let key = eu.user_key(&account).unwrap();
    assert_eq!(
        reelm_vault::decrypt_field(&key, &ctx, &email_ct).unwrap(),
        b"ada_erased@example.org",
        "readable before erasure"
    );
    drop(key);
    let ada_media: Vec<String> = eu
        .store
        .media_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.contains(&ada_video))
        .collect();
    assert!(!ada_media.is_empty());

    // Without the CSRF header: refused, nothing deleted.
    let before = s.snapshot().await;
    let no_csrf = Client::send(
        ada.http
            .delete(format!("{}/api/me", s.base))
            .json(&json!({ "password": PASSWORD })),
    )
    .await;
    assert_error(&no_csrf, 403, "csrf_failed");
    // With a wrong password: refused, nothing deleted.
    assert_error(
        &erase(&ada, "not my password").await,
        401,
        "wrong_credentials",
    );
    // Without a session at all.
    assert_error(&erase(&s.anon(), PASSWORD).await, 401, "unauthenticated");
    assert_eq!(s.snapshot().await, before);
    assert_eq!(
        ada.get_json("/api/me").await["email"],
        "ada_erased@example.org"
    );

    // Erase.
    let r = erase(&ada, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let receipt = r.json();
    assert_eq!(receipt["user_id"], ada.id);
    assert_eq!(receipt["region"], "eu");
    let counts = receipt["counts"].as_object().unwrap();
    let count = |t: &str| counts.get(t).and_then(Value::as_i64).unwrap_or(-1);
    for (table, n) in [
        ("user_keys", 1),
        ("accounts", 1),
        ("profiles", 1),
        ("sessions", 1),
        ("follows", 1),
        ("likes", 1),
        ("comments", 2),
        ("view_events", 1),
        ("not_interested", 0),
        ("videos", 1),
    ] {
        assert_eq!(count(table), n, "{table} in {receipt}");
    }
    assert_eq!(count("media_objects"), ada_media.len() as i64, "{receipt}");
    assert_eq!(count("media_files"), ada_media.len() as i64, "{receipt}");
    // The digest is the SHA-256 of the counts' canonical JSON, as stored in the receipt table.
    let stored = eu.store.erasure_receipts().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].user_id, uid);
    assert_eq!(stored[0].receipt_id.to_string(), receipt["receipt_id"]);
    assert_eq!(
        hex::encode(sha2::Sha256::digest(stored[0].counts.as_bytes())),
        receipt["counts_sha256"].as_str().unwrap()
    );
    assert_eq!(
        serde_json::from_str::<Value>(&stored[0].counts).unwrap(),
        receipt["counts"]
    );

    // The session is gone; the person is gone from the directory and from every cell.
    assert_error(&ada.get("/api/me").await, 401, "unauthenticated");
    assert!(s.platform.directory.by_id(uid).await.unwrap().is_none());
    for cell in s.platform.cells() {
        for (table, rows) in cell.store.rows_owned_by(uid).await.unwrap() {
            assert_eq!(rows, 0, "{}.{table} still holds ada's rows", cell.id());
        }
    }
    assert!(eu.store.account(uid).await.unwrap().is_none());
    assert!(eu.store.profile(uid).await.unwrap().is_none());
    // Crypto-shredding: no wrapped key row exists any more, so the region KMS has nothing to
    // unwrap the data key from.
    assert!(eu.store.user_key(uid).await.unwrap().is_none());
    assert!(
        eu.store
            .user_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.user_id != uid)
    );
    // The copied ciphertext is useless without that key: no other key opens it (a fresh key
    // stands for any key one could guess or derive without the wrapped one).
    for _ in 0..3 {
        assert!(reelm_vault::decrypt_field(&DataKey::generate(), &ctx, &email_ct).is_err());
    }
    // Nor does another eu person's data key: keys are per person.
    let bob_account = s
        .cell("us")
        .store
        .account(bob.user_id())
        .await
        .unwrap()
        .unwrap();
    let bob_key = s.cell("us").user_key(&bob_account).unwrap();
    assert!(reelm_vault::decrypt_field(&bob_key, &ctx, &email_ct).is_err());

    // Public content is gone, media files included; counters elsewhere are honest again.
    ok(s.anon().get(&format!("/api/videos/{ada_video}")).await, 404);
    ok(s.anon().get("/api/users/ada_erased").await, 404);
    let left = eu.media.list_keys().await.unwrap();
    for k in &ada_media {
        assert!(!left.contains(k), "media {k} survived erasure");
    }
    let bob_profile = s.anon().get_json("/api/users/bob_creator").await;
    assert_eq!(bob_profile["follower_count"], 0, "{bob_profile}");
    let v = s.anon().get_json(&format!("/api/videos/{bob_video}")).await;
    assert_eq!(
        (v["like_count"].as_i64(), v["comment_count"].as_i64()),
        (Some(0), Some(0))
    );
    let comments = s
        .anon()
        .get_json(&format!("/api/videos/{bob_video}/comments"))
        .await;
    assert_eq!(comments["items"].as_array().unwrap().len(), 0, "{comments}");

    // The audit passes (the receipt is operational and names no one who exists).
    let report = reelm_audit::run(&s.platform).await.unwrap();
    assert!(report.passed(), "{}", report.render());

    // The handle (and the email) are free again.
    let again = s.signup("ada_erased", "DE").await;
    assert_ne!(again.id, ada.id);
    assert_eq!(
        again.get_json("/api/me").await["email"],
        "ada_erased@example.org"
    );

    // Stronger: even the copied wrapped key dies with the next rotation that retires the old
    // region key. Before it, the region KMS could still unwrap the copy, which is why the
    // wrapped key row itself must go and backups must not outlive the retirement.
    let region = RegionId::new("eu").unwrap();
    let report =
        reelm_accounts::keys::rotate_region_key(&s.platform.config, &region, true, &mut |_, _| {})
            .await
            .unwrap();
    assert_eq!(report.retired, vec!["eu-k1".to_owned()]);
    let kms_path =
        reelm_server::Cell::keys_dir(&s.platform.config.data_dir, &region).join("region-kms.json");
    let kms = LocalKms::load(&kms_path, "eu").unwrap();
    assert_eq!(kms.current_key_id(), "eu-k2");
    let wrapped = WrappedKey::from_bytes(wrapped_copy.expose()).unwrap();
    assert_eq!(wrapped.key_id, "eu-k1");
    assert!(reelm_vault::open_user_key(&kms, "eu", uid.0, &wrapped).is_err());
}
