//! Field encryption, per-user keys, rotation, region moves and crypto-shredding.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use reelm_vault::{
    DataKey, FIELD_OVERHEAD, FieldContext, Kms, LocalKms, VaultError, WrappedKey, decrypt_field,
    decrypt_opt_str, decrypt_str, encrypt_field, encrypt_opt_str, encrypt_str, needs_rewrap,
    new_user_key, open_user_key, reencrypt_field, rewrap,
};

fn ctx(user_id: i64) -> FieldContext<'static> {
    FieldContext::new("eu", user_id, "users", "email")
}

#[test]
fn field_round_trip_and_format() {
    let key = DataKey::generate();
    let c = ctx(42);
    let ct = encrypt_field(&key, &c, b"ada@example.org");
    assert_eq!(ct[0], 1);
    assert_eq!(ct.len(), 15 + FIELD_OVERHEAD);
    assert_eq!(decrypt_field(&key, &c, &ct).unwrap(), b"ada@example.org");
    // Random nonces: same plaintext, different ciphertext.
    assert_ne!(ct, encrypt_field(&key, &c, b"ada@example.org"));
    // Empty plaintext works.
    let empty = encrypt_field(&key, &c, b"");
    assert_eq!(decrypt_field(&key, &c, &empty).unwrap(), b"");

    let s = encrypt_str(&key, &c, "Zoë 🎬");
    assert_eq!(decrypt_str(&key, &c, &s).unwrap(), "Zoë 🎬");
    let bin = encrypt_field(&key, &c, &[0xff, 0xfe]);
    assert!(matches!(decrypt_str(&key, &c, &bin), Err(VaultError::Utf8)));

    assert_eq!(encrypt_opt_str(&key, &c, None), None);
    let some = encrypt_opt_str(&key, &c, Some("x")).unwrap();
    assert_eq!(
        decrypt_opt_str(&key, &c, Some(&some)).unwrap().as_deref(),
        Some("x")
    );
    assert_eq!(decrypt_opt_str(&key, &c, None).unwrap(), None);
}

#[test]
fn ciphertext_is_bound_to_region_user_table_column() {
    let key = DataKey::generate();
    let base = FieldContext::new("eu", 42, "users", "email");
    let ct = encrypt_field(&key, &base, b"secret");
    for other in [
        FieldContext::new("us", 42, "users", "email"),
        FieldContext::new("eu", 43, "users", "email"),
        FieldContext::new("eu", 42, "profiles", "email"),
        FieldContext::new("eu", 42, "users", "birth_date"),
        // Length-prefixing: shifting bytes between parts changes the AAD.
        FieldContext::new("eu", 42, "usersemail", ""),
        FieldContext::new("eu", 42, "user", "semail"),
    ] {
        assert!(
            matches!(decrypt_field(&key, &other, &ct), Err(VaultError::Decrypt)),
            "{other:?}"
        );
    }
    // Wrong key.
    assert!(matches!(
        decrypt_field(&DataKey::generate(), &base, &ct),
        Err(VaultError::Decrypt)
    ));
    // Any flipped bit or truncation fails.
    for i in 1..ct.len() {
        let mut t = ct.clone();
        t[i] ^= 0x40;
        assert!(decrypt_field(&key, &base, &t).is_err(), "byte {i}");
    }
    for n in 0..ct.len() {
        assert!(decrypt_field(&key, &base, &ct[..n]).is_err(), "len {n}");
    }
    let mut v2 = ct.clone();
    v2[0] = 2;
    assert!(matches!(
        decrypt_field(&key, &base, &v2),
        Err(VaultError::UnsupportedVersion { version: 2, .. })
    ));
}

#[test]
fn user_key_is_bound_to_region_and_user() {
    let kms = LocalKms::generate("eu").unwrap();
    let (key, wrapped) = new_user_key(&kms, "eu", 1).unwrap();
    assert_eq!(
        open_user_key(&kms, "eu", 1, &wrapped)
            .unwrap()
            .expose_secret(),
        key.expose_secret()
    );
    // Someone copying user 1's wrapped key onto user 2's row gets nothing.
    assert!(matches!(
        open_user_key(&kms, "eu", 2, &wrapped),
        Err(VaultError::Decrypt)
    ));
    assert!(open_user_key(&kms, "us", 1, &wrapped).is_err());
}

/// The crypto-shredding promise: after the wrapped key is deleted, a copy
/// of the user's ciphertexts is unreadable even with the region key.
#[test]
fn crypto_shredding_makes_copied_ciphertext_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("eu.json");
    let kms = LocalKms::load_or_create(&key_path, "eu").unwrap();

    // Sign-up: a user row with a wrapped key column and encrypted fields.
    let (key, wrapped) = new_user_key(&kms, "eu", 77).unwrap();
    let mut wrapped_column: Option<Vec<u8>> = Some(wrapped.to_bytes());
    let email_ct = encrypt_str(&key, &ctx(77), "erase-me@example.org");
    drop(key);

    // An attacker (or a stale backup) copies the encrypted row...
    let stolen = email_ct.clone();
    // ...and it is readable while the wrapped key exists.
    let w = WrappedKey::from_bytes(wrapped_column.as_deref().unwrap()).unwrap();
    let k = open_user_key(&kms, "eu", 77, &w).unwrap();
    assert_eq!(
        decrypt_str(&k, &ctx(77), &stolen).unwrap(),
        "erase-me@example.org"
    );
    drop(k);

    // Erasure: delete the wrapped key.
    wrapped_column = None;
    assert!(wrapped_column.is_none());

    // Even with the region key (the file, reloaded), nothing in the
    // attacker's hands opens the copy: no other user's key, no fresh key,
    // no key made from the region key material.
    let kms_again = LocalKms::load(&key_path, "eu").unwrap();
    let (other_key, _) = new_user_key(&kms_again, "eu", 77).unwrap(); // re-registered id
    assert!(matches!(
        decrypt_str(&other_key, &ctx(77), &stolen),
        Err(VaultError::Decrypt)
    ));
    let region_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
    use base64::Engine;
    let region_bytes = base64::engine::general_purpose::STANDARD
        .decode(region_json["keys"][0]["key_b64"].as_str().unwrap())
        .unwrap();
    let as_data_key = DataKey::from_slice(&region_bytes).unwrap();
    assert!(matches!(
        decrypt_str(&as_data_key, &ctx(77), &stolen),
        Err(VaultError::Decrypt)
    ));
}

/// Rotation re-wraps user keys without touching field ciphertexts.
#[test]
fn rotation_rewraps_without_touching_fields() {
    let mut kms = LocalKms::generate("eu").unwrap();
    let users: Vec<(i64, WrappedKey, Vec<u8>)> = (1..=5)
        .map(|uid| {
            let (k, w) = new_user_key(&kms, "eu", uid).unwrap();
            let ct = encrypt_str(&k, &ctx(uid), &format!("user{uid}@example.org"));
            (uid, w, ct)
        })
        .collect();
    let fields_before: Vec<Vec<u8>> = users.iter().map(|u| u.2.clone()).collect();

    kms.rotate().unwrap();
    let rewrapped: Vec<(i64, WrappedKey, Vec<u8>)> = users
        .into_iter()
        .map(|(uid, w, ct)| {
            assert!(needs_rewrap(&kms, &w));
            let nw = rewrap(&kms, "eu", &kms, "eu", uid, &w).unwrap();
            assert_eq!(nw.key_id, "eu-k2");
            assert!(!needs_rewrap(&kms, &nw));
            (uid, nw, ct)
        })
        .collect();
    kms.retire("eu-k1").unwrap();

    for (i, (uid, w, ct)) in rewrapped.iter().enumerate() {
        assert_eq!(ct, &fields_before[i], "field ciphertext untouched");
        let k = open_user_key(&kms, "eu", *uid, w).unwrap();
        assert_eq!(
            decrypt_str(&k, &ctx(*uid), ct).unwrap(),
            format!("user{uid}@example.org")
        );
    }
}

/// Moving a user to another region: re-wrap under the target region key,
/// re-bind field ciphertexts to the target region.
#[test]
fn region_move_rewraps_under_target_kms() {
    let eu = LocalKms::generate("eu").unwrap();
    let us = LocalKms::generate("us").unwrap();
    let (key, w_eu) = new_user_key(&eu, "eu", 9).unwrap();
    let eu_ctx = FieldContext::new("eu", 9, "users", "email");
    let ct_eu = encrypt_str(&key, &eu_ctx, "mover@example.org");

    let w_us = rewrap(&eu, "eu", &us, "us", 9, &w_eu).unwrap();
    assert_eq!(w_us.key_id, "us-k1");
    // The source KMS cannot open the target copy, nor vice versa.
    assert!(open_user_key(&eu, "us", 9, &w_us).is_err());
    assert!(open_user_key(&us, "eu", 9, &w_eu).is_err());
    // Wrong source region binding is refused.
    assert!(rewrap(&eu, "us", &us, "us", 9, &w_eu).is_err());

    let k_us = open_user_key(&us, "us", 9, &w_us).unwrap();
    assert_eq!(k_us.expose_secret(), key.expose_secret());
    let us_ctx = FieldContext::new("us", 9, "users", "email");
    assert!(decrypt_str(&k_us, &us_ctx, &ct_eu).is_err());
    let ct_us = reencrypt_field(&k_us, &eu_ctx, &us_ctx, &ct_eu).unwrap();
    assert_eq!(
        decrypt_str(&k_us, &us_ctx, &ct_us).unwrap(),
        "mover@example.org"
    );
    assert!(decrypt_str(&k_us, &eu_ctx, &ct_us).is_err());
}

#[test]
fn kms_trait_object_rewrap() {
    let a: Box<dyn Kms> = Box::new(LocalKms::generate("eu").unwrap());
    let b: Box<dyn Kms> = Box::new(LocalKms::generate("ap").unwrap());
    let (_k, w) = new_user_key(a.as_ref(), "eu", 1).unwrap();
    let w2 = rewrap(a.as_ref(), "eu", b.as_ref(), "ap", 1, &w).unwrap();
    assert!(open_user_key(b.as_ref(), "ap", 1, &w2).is_ok());
}
