//! Region keys: wrap/unwrap, rotation, retirement, key files, env vars.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use reelm_vault::{DataKey, Kms, LocalKms, VaultError, WrappedKey};

#[test]
fn wrap_unwrap_round_trip_and_aad_binding() {
    let kms = LocalKms::generate("eu").unwrap();
    assert_eq!(kms.current_key_id(), "eu-k1");
    let key = DataKey::generate();
    let w = kms.wrap(&key, b"ctx-a").unwrap();
    assert_eq!(w.key_id, "eu-k1");
    assert_eq!(w.blob.len(), 24 + 32 + 16);
    let back = kms.unwrap(&w, b"ctx-a").unwrap();
    assert_eq!(back.expose_secret(), key.expose_secret());
    assert!(matches!(kms.unwrap(&w, b"ctx-b"), Err(VaultError::Decrypt)));

    // Same key wrapped twice gives different blobs (random nonces).
    let w2 = kms.wrap(&key, b"ctx-a").unwrap();
    assert_ne!(w.blob, w2.blob);

    // Tampering with any byte of the blob fails.
    for i in 0..w.blob.len() {
        let mut t = w.clone();
        t.blob[i] ^= 1;
        assert!(kms.unwrap(&t, b"ctx-a").is_err(), "byte {i}");
    }
    // Another region's KMS cannot unwrap, even if the id matches by name.
    let other = LocalKms::generate("eu").unwrap();
    assert!(matches!(
        other.unwrap(&w, b"ctx-a"),
        Err(VaultError::Decrypt)
    ));
}

#[test]
fn data_key_debug_hides_material() {
    let key = DataKey::from_bytes([7u8; 32]);
    assert_eq!(format!("{key:?}"), "DataKey(***)");
    let kms = LocalKms::generate("us").unwrap();
    let dbg = format!("{kms:?}");
    assert!(dbg.contains("us-k1"), "{dbg}");
    let w = kms.wrap(&key, b"").unwrap();
    let dbg = format!("{w:?}");
    assert!(dbg.contains("blob_len"), "{dbg}");
}

#[test]
fn wrapped_key_bytes_round_trip_and_rejects_garbage() {
    let kms = LocalKms::generate("ap").unwrap();
    let w = kms.wrap(&DataKey::generate(), b"x").unwrap();
    let bytes = w.to_bytes();
    assert_eq!(bytes[0], 1);
    assert_eq!(bytes.len(), 2 + "ap-k1".len() + 72);
    assert_eq!(WrappedKey::from_bytes(&bytes).unwrap(), w);

    let long = WrappedKey {
        key_id: "k".repeat(300),
        blob: vec![1, 2, 3],
    };
    assert_eq!(WrappedKey::from_bytes(&long.to_bytes()).unwrap(), long);

    assert!(WrappedKey::from_bytes(&[]).is_err());
    assert!(matches!(
        WrappedKey::from_bytes(&[9, 1, b'a']),
        Err(VaultError::UnsupportedVersion { version: 9, .. })
    ));
    assert!(WrappedKey::from_bytes(&[1, 5, b'a']).is_err());
    assert!(WrappedKey::from_bytes(&[1, 0]).is_err());
    assert!(WrappedKey::from_bytes(&[1, 0x80]).is_err());
}

#[test]
fn rotate_keeps_old_keys_until_retired() {
    let mut kms = LocalKms::generate("eu").unwrap();
    let key = DataKey::generate();
    let old = kms.wrap(&key, b"a").unwrap();
    assert_eq!(kms.rotate().unwrap(), "eu-k2");
    assert_eq!(kms.current_key_id(), "eu-k2");
    let new = kms.wrap(&key, b"a").unwrap();
    assert_eq!(new.key_id, "eu-k2");
    // Both unwrap.
    assert_eq!(
        kms.unwrap(&old, b"a").unwrap().expose_secret(),
        key.expose_secret()
    );
    assert_eq!(
        kms.unwrap(&new, b"a").unwrap().expose_secret(),
        key.expose_secret()
    );
    // The current key cannot be retired.
    assert!(matches!(
        kms.retire("eu-k2"),
        Err(VaultError::RetireCurrent(_))
    ));
    assert!(matches!(
        kms.retire("nope"),
        Err(VaultError::UnknownKeyId(_))
    ));
    kms.retire("eu-k1").unwrap();
    assert_eq!(kms.key_ids(), vec!["eu-k2".to_owned()]);
    assert!(matches!(kms.unwrap(&old, b"a"), Err(VaultError::UnknownKeyId(id)) if id == "eu-k1"));
    assert!(kms.unwrap(&new, b"a").is_ok());
    // Ids keep increasing after a retire.
    assert_eq!(kms.rotate().unwrap(), "eu-k3");
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn key_file_create_load_rotate_retire_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/eu/region.json");
    let key = DataKey::generate();

    let mut kms = LocalKms::load_or_create(&path, "eu").unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let w1 = kms.wrap(&key, b"u1").unwrap();

    // A second load sees the same key.
    let again = LocalKms::load_or_create(&path, "eu").unwrap();
    assert_eq!(again.key_ids(), vec!["eu-k1".to_owned()]);
    assert!(again.unwrap(&w1, b"u1").is_ok());

    // Rotation persists.
    kms.rotate().unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let w2 = kms.wrap(&key, b"u1").unwrap();
    let mut loaded = LocalKms::load(&path, "eu").unwrap();
    assert_eq!(loaded.current_key_id(), "eu-k2");
    assert!(loaded.unwrap(&w1, b"u1").is_ok());
    assert!(loaded.unwrap(&w2, b"u1").is_ok());

    // A running process picks up another's rotation with reload.
    let mut running = LocalKms::load(&path, "eu").unwrap();
    loaded.rotate().unwrap();
    assert_eq!(running.current_key_id(), "eu-k2");
    running.reload().unwrap();
    assert_eq!(running.current_key_id(), "eu-k3");

    // Retirement persists.
    running.retire("eu-k1").unwrap();
    let reloaded = LocalKms::load(&path, "eu").unwrap();
    assert_eq!(
        reloaded.key_ids(),
        vec!["eu-k2".to_owned(), "eu-k3".to_owned()]
    );
    assert!(reloaded.unwrap(&w1, b"u1").is_err());
    assert!(reloaded.unwrap(&w2, b"u1").is_ok());

    // The file is JSON with the documented shape and no temp files remain.
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["kind"], "region-kms");
    assert_eq!(v["region"], "eu");
    assert_eq!(v["keys"][1]["id"], "eu-k3");
    assert!(v["keys"][0]["key_b64"].is_string());
    assert!(v["keys"][0]["created_at"].is_i64());
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // Wrong region is refused.
    assert!(matches!(
        LocalKms::load(&path, "us"),
        Err(VaultError::RegionMismatch { .. })
    ));
}

#[test]
fn save_to_persists_generated_kms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    let mut kms = LocalKms::generate("ap").unwrap();
    let w = kms.wrap(&DataKey::generate(), b"").unwrap();
    kms.save_to(&path).unwrap();
    assert_eq!(kms.path(), Some(path.as_path()));
    kms.rotate().unwrap();
    let loaded = LocalKms::load(&path, "ap").unwrap();
    assert_eq!(loaded.key_ids(), kms.key_ids());
    assert!(loaded.unwrap(&w, b"").is_ok());
}

#[cfg(unix)]
#[test]
fn insecure_key_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    LocalKms::load_or_create(&path, "eu").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = LocalKms::load(&path, "eu").unwrap_err();
    assert!(
        matches!(err, VaultError::InsecureKeyFile { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"));
}

#[test]
fn signing_key_file_is_not_a_kms_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sign.json");
    reelm_vault::SigningKeys::load_or_create(&path, "eu").unwrap();
    let err = LocalKms::load(&path, "eu").unwrap_err();
    assert!(err.to_string().contains("region-signing"), "{err}");
}

#[test]
fn key_text_forms_and_errors_never_echo_keys() {
    use base64::Engine;
    let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
    let (k1, k2) = (b64(1), b64(2));

    // Compact env form: oldest first.
    let kms = LocalKms::from_key_text(&format!("eu-k1:{k1}, eu-k2:{k2}"), "eu").unwrap();
    assert_eq!(kms.current_key_id(), "eu-k2");

    // Bare list, newest decided by created_at not order.
    let list = format!(
        r#"[{{"id":"eu-k9","key_b64":"{k2}","created_at":20}},{{"id":"eu-k1","key_b64":"{k1}","created_at":10}}]"#
    );
    let kms = LocalKms::from_key_text(&list, "eu").unwrap();
    assert_eq!(kms.current_key_id(), "eu-k9");
    assert_eq!(kms.key_ids(), vec!["eu-k1".to_owned(), "eu-k9".to_owned()]);

    // Same key material gives the same wrapping results across instances.
    let a = LocalKms::from_key_text(&format!("x-k1:{k1}"), "eu").unwrap();
    let b = LocalKms::from_key_text(&format!("x-k1:{k1}"), "eu").unwrap();
    let w = a.wrap(&DataKey::generate(), b"aad").unwrap();
    assert!(b.unwrap(&w, b"aad").is_ok());

    // Errors.
    let short = base64::engine::general_purpose::STANDARD.encode([3u8; 16]);
    for (text, needle) in [
        (String::new(), "no keys"),
        (format!("eu-k1:{short}"), "32 bytes"),
        (format!("eu-k1:{k1}!!"), "not valid base64"),
        (format!("eu-k1:{k1},eu-k1:{k2}"), "duplicate"),
        (format!("bad id:{k1}"), "key id"),
        (k1.clone(), "id:key_b64"),
        (format!(r#"{{"keys": [ {{"id": "{k1}" "#), "JSON error"),
    ] {
        let err = LocalKms::from_key_text(&text, "eu")
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err}");
        assert!(
            !err.contains(&k1) && !err.contains(&k2),
            "error leaks key: {err}"
        );
    }
    assert!(LocalKms::generate("").is_err());
    assert!(LocalKms::generate("e u").is_err());
}

const ENV_VAR: &str = "REELM_VAULT_TEST_KMS_KEYS";

/// Runs in a child process with the env var set (setting env vars in-process
/// is `unsafe` in edition 2024 and this workspace forbids unsafe code).
#[test]
fn from_env_child() {
    let Ok(expected) = std::env::var("REELM_VAULT_TEST_EXPECT") else {
        return; // only meaningful when spawned by `from_env_reads_keys`
    };
    let kms = LocalKms::from_env(ENV_VAR, "eu").unwrap();
    assert_eq!(kms.current_key_id(), expected);
    let signing = reelm_vault::SigningKeys::from_env(ENV_VAR, "eu").unwrap();
    assert_eq!(signing.current_key_id(), expected);
}

#[test]
fn from_env_reads_keys() {
    use base64::Engine;
    assert!(matches!(
        LocalKms::from_env("REELM_VAULT_TEST_SURELY_UNSET", "eu"),
        Err(VaultError::MissingEnv(_))
    ));
    let k = base64::engine::general_purpose::STANDARD.encode([5u8; 32]);
    // Output is captured so the child's summary does not mix into ours.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kms::from_env_child", "--test-threads=1"])
        .env(ENV_VAR, format!("eu-k1:{k},eu-k4:{k}"))
        .env("REELM_VAULT_TEST_EXPECT", "eu-k4")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn concurrent_load_or_create_agrees_on_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.json");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let p = path.clone();
            std::thread::spawn(move || LocalKms::load_or_create(&p, "eu"))
        })
        .collect();
    let kmss: Vec<LocalKms> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    let w = kmss[0].wrap(&DataKey::generate(), b"").unwrap();
    for k in &kmss {
        assert!(k.unwrap(&w, b"").is_ok());
    }
}

#[test]
fn kms_is_usable_as_trait_object() {
    let kms: std::sync::Arc<dyn Kms> = std::sync::Arc::new(LocalKms::generate("us").unwrap());
    let (key, wrapped) = reelm_vault::new_user_key(&kms, "us", 7).unwrap();
    let opened = reelm_vault::open_user_key(kms.as_ref(), "us", 7, &wrapped).unwrap();
    assert_eq!(opened.expose_secret(), key.expose_secret());
}
