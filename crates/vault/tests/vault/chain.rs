//! Hash chain and signed checkpoints: tamper cases and a property test.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use proptest::prelude::*;
use reelm_vault::{
    ChainBuilder, ChainEntry, ChainVerifier, ChainViolation, Checkpoint, GENESIS_HASH, SigningKeys,
    TrustedKeys, canonical_json, entry_hash, verify_chain, verify_checkpoints,
};

fn chain(n: u64) -> Vec<ChainEntry> {
    let mut b = ChainBuilder::new();
    (0..n)
        .map(|i| {
            b.append(
                1_700_000_000_000 + i as i64,
                if i % 2 == 0 { "transfer" } else { "access" },
                format!(r#"{{"i":{i},"to":"us"}}"#),
            )
        })
        .collect()
}

#[test]
fn builder_links_entries_and_verifies() {
    let c = chain(10);
    assert_eq!(c[0].seq, 1);
    assert_eq!(c[0].prev_hash, GENESIS_HASH);
    for w in c.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
        assert_eq!(w[1].seq, w[0].seq + 1);
    }
    let r = verify_chain(&c).unwrap();
    assert_eq!(r.entries, 10);
    assert_eq!(r.last_seq, 10);
    assert_eq!(r.last_hash, c[9].hash);
    // Empty chain is valid.
    let r = verify_chain(std::iter::empty()).unwrap();
    assert_eq!((r.entries, r.last_seq, r.last_hash), (0, 0, GENESIS_HASH));
}

#[test]
fn resume_continues_the_same_chain() {
    let mut all = chain(5);
    let mut b = ChainBuilder::resume(all.last());
    assert_eq!(b.next_seq(), 6);
    all.push(b.append(5, "transfer", "{}"));
    all.push(b.append(6, "transfer", "{}"));
    verify_chain(&all).unwrap();
    assert_eq!(ChainBuilder::resume(None), ChainBuilder::new());
}

#[test]
fn entry_hash_encoding_is_unambiguous() {
    let p = [1u8; 32];
    let h = entry_hash(1, 2, "ab", "c", &p);
    assert_ne!(h, entry_hash(1, 2, "a", "bc", &p));
    assert_ne!(h, entry_hash(1, 2, "abc", "", &p));
    assert_ne!(h, entry_hash(2, 2, "ab", "c", &p));
    assert_ne!(h, entry_hash(1, 3, "ab", "c", &p));
    assert_ne!(h, entry_hash(1, 2, "ab", "c", &[2u8; 32]));
    assert_eq!(h, entry_hash(1, 2, "ab", "c", &p));
    // Pinned test vector: the encoding is a storage format; changing it
    // breaks every stored ledger.
    assert_eq!(
        hex::encode(entry_hash(1, 0, "transfer", "{}", &GENESIS_HASH)),
        hex::encode(known_vector())
    );
}

fn known_vector() -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut m = Vec::new();
    m.extend_from_slice(b"reelm-chain/v1\0");
    m.extend_from_slice(&1u64.to_be_bytes());
    m.extend_from_slice(&0i64.to_be_bytes());
    m.extend_from_slice(&8u64.to_be_bytes());
    m.extend_from_slice(b"transfer");
    m.extend_from_slice(&2u64.to_be_bytes());
    m.extend_from_slice(b"{}");
    m.extend_from_slice(&[0u8; 32]);
    Sha256::digest(&m).into()
}

#[test]
fn edited_payload_is_caught_at_its_seq() {
    let mut c = chain(10);
    c[4].payload = r#"{"i":4,"to":"ap"}"#.into();
    let err = verify_chain(&c).unwrap_err();
    assert_eq!(err, ChainViolation::HashMismatch { seq: 5 });
    assert_eq!((err.seq(), err.kind()), (5, "edited"));
    assert!(err.to_string().contains("entry 5"), "{err}");
}

#[test]
fn consistently_rehashed_edit_breaks_the_next_link() {
    let mut c = chain(10);
    c[4].kind = "forged".into();
    c[4].hash = c[4].compute_hash();
    let err = verify_chain(&c).unwrap_err();
    assert_eq!(err, ChainViolation::PrevHashMismatch { seq: 6 });
    assert_eq!(err.kind(), "prev_hash_mismatch");
}

#[test]
fn dropped_middle_entry_is_caught() {
    let mut c = chain(10);
    c.remove(3);
    let err = verify_chain(&c).unwrap_err();
    assert_eq!(
        err,
        ChainViolation::SeqGap {
            seq: 5,
            expected: 4
        }
    );
    assert_eq!(err.kind(), "dropped");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn dropped_middle_entry_with_renumbering_is_caught() {
    let mut c = chain(10);
    c.remove(3);
    for e in &mut c[3..] {
        e.seq -= 1;
    }
    assert!(verify_chain(&c).is_err());
}

#[test]
fn dropped_head_is_caught() {
    let c = chain(5);
    let err = verify_chain(&c[1..]).unwrap_err();
    assert_eq!(
        err,
        ChainViolation::SeqGap {
            seq: 2,
            expected: 1
        }
    );
}

#[test]
fn swapped_entries_are_caught() {
    let mut c = chain(10);
    c.swap(2, 6);
    let err = verify_chain(&c).unwrap_err();
    assert_eq!(
        err,
        ChainViolation::SeqGap {
            seq: 7,
            expected: 3
        }
    );
    // Adjacent swap reads as reordering.
    let mut c = chain(10);
    c.swap(4, 5);
    let err = verify_chain(&c).unwrap_err();
    assert_eq!(err.seq(), 6);
    // Swapping contents but keeping seq numbers is an edit.
    let mut c = chain(10);
    let (a, b) = (c[2].payload.clone(), c[3].payload.clone());
    c[2].payload = b;
    c[3].payload = a;
    assert_eq!(
        verify_chain(&c).unwrap_err(),
        ChainViolation::HashMismatch { seq: 3 }
    );
    // Duplicated entry.
    let mut c = chain(5);
    let dup = c[2].clone();
    c.insert(3, dup);
    let err = verify_chain(&c).unwrap_err();
    assert_eq!(err.kind(), "reordered");
}

#[test]
fn streaming_verifier_from_anchor() {
    let c = chain(20);
    let mut v = ChainVerifier::from_anchor(c[9].seq, c[9].hash);
    for e in &c[10..] {
        v.push(e).unwrap();
    }
    assert_eq!(v.report().entries, 10);
    assert_eq!(v.report().last_seq, 20);
    // An anchor with the wrong hash rejects the segment.
    let mut v = ChainVerifier::from_anchor(c[9].seq, c[8].hash);
    assert_eq!(
        v.push(&c[10]).unwrap_err(),
        ChainViolation::PrevHashMismatch { seq: 11 }
    );
}

#[test]
fn entries_and_checkpoints_round_trip_as_json() {
    let c = chain(3);
    let json = serde_json::to_string(&c[1]).unwrap();
    assert!(json.contains(&hex::encode(c[1].hash)), "{json}");
    let back: ChainEntry = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c[1]);
    let keys = SigningKeys::generate("eu").unwrap();
    let cp = keys.checkpoint(&c[2], 99);
    let back: Checkpoint = serde_json::from_str(&serde_json::to_string(&cp).unwrap()).unwrap();
    assert_eq!(back, cp);
}

#[test]
fn canonical_json_sorts_keys_and_strips_whitespace() {
    let v = serde_json::json!({"b": 1, "a": {"z": [1, "x\"y"], "y": null}, "é": true});
    assert_eq!(
        canonical_json(&v).unwrap(),
        r#"{"a":{"y":null,"z":[1,"x\"y"]},"b":1,"é":true}"#
    );
    #[derive(serde::Serialize)]
    struct T {
        zed: u32,
        alpha: &'static str,
    }
    assert_eq!(
        canonical_json(&T { zed: 1, alpha: "a" }).unwrap(),
        r#"{"alpha":"a","zed":1}"#
    );
}

// ---- checkpoints -------------------------------------------------------

fn signed(n: u64, every: u64) -> (Vec<ChainEntry>, Vec<Checkpoint>, SigningKeys) {
    let keys = SigningKeys::generate("eu").unwrap();
    let c = chain(n);
    let cps = c
        .iter()
        .filter(|e| e.seq % every == 0)
        .map(|e| keys.checkpoint(e, e.at_ms + 1))
        .collect();
    (c, cps, keys)
}

#[test]
fn checkpoints_verify() {
    let (c, cps, keys) = signed(25, 10);
    let r = verify_checkpoints(&c, &cps, &keys.public_keys()).unwrap();
    assert_eq!(r.checkpoints, 2);
    assert_eq!(r.last_checkpoint_seq, Some(20));
    assert_eq!(r.unanchored_tail, 5);
    assert_eq!(r.chain.last_seq, 25);
    // Order of checkpoints does not matter.
    let mut rev = cps.clone();
    rev.reverse();
    verify_checkpoints(&c, &rev, &keys.public_keys()).unwrap();
    // Single verifying key, as a verifier outside the region would hold it.
    let vk = keys.verifying_key("eu-s1").unwrap();
    verify_checkpoints(&c, &cps, &TrustedKeys::single("eu-s1", vk)).unwrap();
}

#[test]
fn dropped_tail_behind_checkpoint_is_caught() {
    let (c, cps, keys) = signed(30, 10);
    // Plain verification cannot see truncation...
    verify_chain(&c[..25]).unwrap();
    // ...checkpoints can.
    let err = verify_checkpoints(&c[..25], &cps, &keys.public_keys()).unwrap_err();
    assert_eq!(
        err,
        ChainViolation::Truncated {
            checkpoint_seq: 30,
            last_seq: 25
        }
    );
    assert_eq!(err.kind(), "truncated");
    // Truncating everything.
    let err = verify_checkpoints(std::iter::empty(), &cps, &keys.public_keys()).unwrap_err();
    assert_eq!(err.kind(), "truncated");
}

#[test]
fn rewritten_chain_does_not_match_checkpoint() {
    let (c, cps, keys) = signed(20, 10);
    // Attacker rewrites entry 5 and re-hashes everything after it: the
    // chain is internally consistent again but no longer matches the signature.
    let mut forged: Vec<ChainEntry> = c[..4].to_vec();
    let mut b = ChainBuilder::resume(forged.last());
    for e in &c[4..] {
        let payload = if e.seq == 5 {
            "{}".to_owned()
        } else {
            e.payload.clone()
        };
        forged.push(b.append(e.at_ms, e.kind.clone(), payload));
    }
    verify_chain(&forged).unwrap();
    let err = verify_checkpoints(&forged, &cps, &keys.public_keys()).unwrap_err();
    assert_eq!(err, ChainViolation::CheckpointMismatch { seq: 10 });
}

#[test]
fn forged_or_foreign_checkpoints_are_rejected() {
    let (c, cps, keys) = signed(20, 10);
    let trusted = keys.public_keys();

    let mut bad = cps.clone();
    bad[0].at_ms += 1;
    assert_eq!(
        verify_checkpoints(&c, &bad, &trusted).unwrap_err().kind(),
        "bad_checkpoint_signature"
    );
    let mut bad = cps.clone();
    bad[1].signature[0] ^= 1;
    assert!(verify_checkpoints(&c, &bad, &trusted).is_err());
    let mut bad = cps.clone();
    bad[1].signature.truncate(10);
    assert!(verify_checkpoints(&c, &bad, &trusted).is_err());

    // A checkpoint by another region's key named like ours.
    let other = SigningKeys::generate("eu").unwrap();
    let foreign = vec![other.checkpoint(&c[9], 1)];
    assert_eq!(
        verify_checkpoints(&c, &foreign, &trusted).unwrap_err(),
        ChainViolation::BadCheckpointSignature {
            seq: 10,
            signer_key_id: "eu-s1".into()
        }
    );
    // An unknown signer id.
    let mut unknown = cps.clone();
    unknown[0].signer_key_id = "ap-s1".into();
    assert_eq!(
        verify_checkpoints(&c, &unknown, &trusted)
            .unwrap_err()
            .kind(),
        "unknown_signer"
    );
}

#[test]
fn signing_keys_rotate_persist_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sign.json");
    let mut keys = SigningKeys::load_or_create(&path, "eu").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let c = chain(4);
    let cp1 = keys.checkpoint(&c[1], 1);
    assert_eq!(cp1.signer_key_id, "eu-s1");
    assert_eq!(keys.rotate().unwrap(), "eu-s2");
    let cp2 = keys.checkpoint(&c[3], 2);
    assert_eq!(cp2.signer_key_id, "eu-s2");

    // Export public keys as JSON, verify elsewhere.
    let exported = keys.public_keys().to_json();
    assert!(!exported.contains("key_b64"));
    let trusted = TrustedKeys::from_json(&exported).unwrap();
    assert_eq!(trusted.ids().collect::<Vec<_>>(), vec!["eu-s1", "eu-s2"]);
    verify_checkpoints(&c, &[cp1.clone(), cp2.clone()], &trusted).unwrap();

    // Reload from disk signs with the same key.
    let loaded = SigningKeys::load(&path, "eu").unwrap();
    assert_eq!(loaded.current_key_id(), "eu-s2");
    let cp3 = loaded.checkpoint(&c[3], 3);
    verify_checkpoints(&c, &[cp3], &trusted).unwrap();

    // Retiring a signing key: archived public keys still verify old checkpoints.
    keys.retire("eu-s1").unwrap();
    let current_only = keys.public_keys();
    assert!(verify_checkpoints(&c, std::slice::from_ref(&cp1), &current_only).is_err());
    let mut archive = current_only.clone();
    archive.extend(&trusted);
    verify_checkpoints(&c, &[cp1, cp2], &archive).unwrap();

    assert!(TrustedKeys::from_json(r#"{"x":"zz"}"#).is_err());
    assert!(format!("{keys:?}").contains("eu-s2"));
}

// ---- property tests ----------------------------------------------------

#[derive(Debug, Clone)]
enum Mutation {
    Seq(u64),
    AtMs(i64),
    Kind(String),
    Payload(String),
    PrevHash(usize, u8),
    Hash(usize, u8),
    Drop,
    Duplicate,
    SwapWithNext,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (1u64..u64::MAX).prop_map(Mutation::Seq),
        (1i64..i64::MAX).prop_map(Mutation::AtMs),
        "[a-z]{0,3}".prop_map(Mutation::Kind),
        ".{0,8}".prop_map(Mutation::Payload),
        (0usize..32, 1u8..=255).prop_map(|(i, x)| Mutation::PrevHash(i, x)),
        (0usize..32, 1u8..=255).prop_map(|(i, x)| Mutation::Hash(i, x)),
        Just(Mutation::Drop),
        Just(Mutation::Duplicate),
        Just(Mutation::SwapWithNext),
    ]
}

fn random_chain(items: &[(i64, String, String)]) -> Vec<ChainEntry> {
    let mut b = ChainBuilder::new();
    items
        .iter()
        .map(|(t, k, p)| b.append(*t, k.clone(), p.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any single-entry mutation of a random chain is detected, at or before
    /// the mutated entry's successor. (Dropping the last entry is tail
    /// truncation: only a checkpoint detects it, tested below.)
    #[test]
    fn any_single_entry_mutation_is_detected(
        items in prop::collection::vec((any::<i64>(), "[a-z_]{1,12}", ".{0,40}"), 2..40),
        idx in any::<prop::sample::Index>(),
        m in mutation(),
    ) {
        let original = random_chain(&items);
        prop_assert!(verify_chain(&original).is_ok());
        let i = idx.index(original.len());
        let mut c = original.clone();
        let changed = match &m {
            Mutation::Seq(s) => { let s = c[i].seq.wrapping_add(*s); c[i].seq = s; true }
            Mutation::AtMs(d) => { c[i].at_ms = c[i].at_ms.wrapping_add(*d); true }
            Mutation::Kind(k) => { let ch = c[i].kind != *k; c[i].kind = k.clone(); ch }
            Mutation::Payload(p) => { let ch = c[i].payload != *p; c[i].payload = p.clone(); ch }
            Mutation::PrevHash(b, x) => { c[i].prev_hash[*b] ^= x; true }
            Mutation::Hash(b, x) => { c[i].hash[*b] ^= x; true }
            Mutation::Drop => { if i + 1 == c.len() { false } else { c.remove(i); true } }
            Mutation::Duplicate => { let e = c[i].clone(); c.insert(i, e); true }
            Mutation::SwapWithNext => {
                if i + 1 == c.len() { false } else { c.swap(i, i + 1); true }
            }
        };
        prop_assume!(changed);
        let err = verify_chain(&c);
        prop_assert!(err.is_err(), "undetected {:?} at {}", m, i);
        let seq = err.unwrap_err().seq();
        prop_assert!(seq <= original.len() as u64 + 1 || matches!(m, Mutation::Seq(_)));
    }

    /// With a checkpoint at the end, dropping any suffix is detected too.
    #[test]
    fn truncation_behind_checkpoint_is_detected(
        n in 1u64..60,
        keep in any::<prop::sample::Index>(),
    ) {
        let keys = SigningKeys::generate("eu").unwrap();
        let c = chain(n);
        let cp = keys.checkpoint(c.last().unwrap(), 0);
        let keep = keep.index(c.len()); // 0..n-1 entries kept
        let err = verify_checkpoints(&c[..keep], &[cp], &keys.public_keys());
        prop_assert_eq!(err.unwrap_err().kind(), "truncated");
    }
}
