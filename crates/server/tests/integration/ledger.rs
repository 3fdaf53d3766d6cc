//! The transfer ledger: a cross-region like is ledgered in the liker's home region (the
//! source), a refused transfer is ledgered as refused, and editing, dropping, swapping or
//! truncating entries in the store is caught by the verifier and by the residency audit.

use crate::common::Server;
use reelm_audit::verify_region;
use reelm_core::{DataClass, RegionId};
use reelm_platform::gateway::{self, Transfer};
use reelm_residency::LedgerError;
use reelm_residency::policy::PURPOSE_PUBLIC_COUNTER;
use serde_json::Value;

fn tampered(r: Result<reelm_residency::ledger::LedgerReport, LedgerError>) -> (u64, String) {
    match r {
        Err(LedgerError::Tampered { violation, .. }) => (violation.seq, violation.kind),
        other => panic!("expected tampering to be detected, got {other:?}"),
    }
}

#[tokio::test]
async fn cross_region_transfers_are_ledgered_at_the_source_and_tampering_is_caught() {
    let s = Server::start().await;
    let creator = s.quick_user("ledgercreator", "US").await;
    assert_eq!(creator.region, "us");
    let video = creator.upload_clip(0).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut likers = Vec::new();
    for i in 0..3 {
        let p = s.quick_user(&format!("ledgerfan{i}"), "DE").await;
        assert_eq!(p.region, "eu");
        likers.push(p);
    }
    // A like from the US creator's own region is not a cross-region transfer.
    let neighbour = s.quick_user("ledgerneighbour", "US").await;
    assert_eq!(
        neighbour
            .post_empty(&format!("/api/videos/{video}/like"))
            .await
            .status,
        200
    );
    for p in &likers {
        assert_eq!(
            p.post_empty(&format!("/api/videos/{video}/like"))
                .await
                .status,
            200
        );
    }
    let eu = s.cell("eu");
    let us = s.cell("us");
    // Each EU like sends two public counter deltas (video likes, creator likes) to the US.
    let rows = eu.store.ledger_page(0, 100).await.unwrap();
    assert_eq!(rows.len(), 6, "{rows:?}");
    let first: Value = serde_json::from_str(&rows[0].payload).unwrap();
    assert_eq!(first["from"], "eu");
    assert_eq!(first["to"], "us");
    assert_eq!(first["class"], "public");
    assert_eq!(first["purpose"], PURPOSE_PUBLIC_COUNTER);
    assert_eq!(first["object"], "video_counters");
    assert_eq!(first["decision"], "allowed");
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .contains("public-anywhere")
    );
    assert!(
        us.store.ledger_page(0, 100).await.unwrap().is_empty(),
        "the video's region is the target, not the source"
    );
    let report = verify_region(&s.platform, "eu").await.unwrap();
    assert_eq!((report.entries, report.last_seq, report.refused), (6, 6, 0));
    assert_eq!(verify_region(&s.platform, "us").await.unwrap().entries, 0);

    // A refused transfer is ledgered too, and nothing is sent.
    let behavioral = Transfer {
        class: DataClass::Behavioral,
        purpose: PURPOSE_PUBLIC_COUNTER,
        object: "likes",
        distinct_people: None,
    };
    let to_us = RegionId::new("us").unwrap();
    let decision = gateway::check(eu, &to_us, &behavioral).await.unwrap();
    assert!(!decision.allowed());
    assert!(
        decision.reason().contains("behavioral-owner-migration"),
        "{}",
        decision.reason()
    );
    assert!(gateway::require(eu, &to_us, &behavioral).await.is_err());
    let rows = eu.store.ledger_page(0, 100).await.unwrap();
    assert_eq!(rows.len(), 8);
    let refused: Value = serde_json::from_str(&rows[6].payload).unwrap();
    assert_eq!(refused["decision"], "refused");
    assert_eq!(refused["class"], "behavioral");
    let report = verify_region(&s.platform, "eu").await.unwrap();
    assert_eq!((report.entries, report.refused), (8, 2));

    // Signed checkpoint over the tail.
    eu.ledger.checkpoint_tail(&eu.store).await.unwrap();
    let report = verify_region(&s.platform, "eu").await.unwrap();
    assert_eq!(
        (report.last_checkpoint_seq, report.unanchored_tail),
        (Some(8), 0)
    );
    assert!(
        s.dir
            .path()
            .join("regions/eu/keys/region-signing.pub.json")
            .exists()
    );

    let db = &eu.store.db;
    let original = eu.store.ledger_page(0, 100).await.unwrap();

    // Edited payload.
    db.execute_unchecked(
        "UPDATE transfer_ledger SET payload = REPLACE(payload, 'allowed', 'refused') WHERE seq = 3",
    )
    .await
    .unwrap();
    assert_eq!(
        tampered(verify_region(&s.platform, "eu").await),
        (3, "edited".to_owned())
    );
    let audit = reelm_audit::run(&s.platform).await.unwrap();
    assert!(!audit.passed());
    assert!(
        audit.render().contains("transfer ledger: entry 3 edited"),
        "{}",
        audit.render()
    );
    db.execute_unchecked(&format!(
        "UPDATE transfer_ledger SET payload = '{}' WHERE seq = 3",
        original[2].payload.replace('\'', "''")
    ))
    .await
    .unwrap();
    assert!(verify_region(&s.platform, "eu").await.is_ok());

    // Dropped middle entry.
    db.execute_unchecked("DELETE FROM transfer_ledger WHERE seq = 4")
        .await
        .unwrap();
    let (seq, kind) = tampered(verify_region(&s.platform, "eu").await);
    assert_eq!(kind, "dropped");
    assert_eq!(seq, 5, "the first entry after the gap");
    eu.store.insert_ledger_entry(&original[3]).await.unwrap();
    assert!(verify_region(&s.platform, "eu").await.is_ok());

    // An entry moved far away (seqs no longer dense: the verifier reads page by page, skipping
    // the gap).
    db.execute_unchecked("UPDATE transfer_ledger SET seq = 1000000000000 WHERE seq = 4")
        .await
        .unwrap();
    let (seq, kind) = tampered(verify_region(&s.platform, "eu").await);
    assert_eq!((seq, kind.as_str()), (5, "dropped"));
    db.execute_unchecked("UPDATE transfer_ledger SET seq = 4 WHERE seq = 1000000000000")
        .await
        .unwrap();
    assert!(verify_region(&s.platform, "eu").await.is_ok());

    // Swapped entries.
    for sql in [
        "UPDATE transfer_ledger SET seq = -1 WHERE seq = 2",
        "UPDATE transfer_ledger SET seq = 2 WHERE seq = 5",
        "UPDATE transfer_ledger SET seq = 5 WHERE seq = -1",
    ] {
        db.execute_unchecked(sql).await.unwrap();
    }
    assert_eq!(
        tampered(verify_region(&s.platform, "eu").await),
        (2, "reordered".to_owned())
    );
    for sql in [
        "UPDATE transfer_ledger SET seq = -1 WHERE seq = 2",
        "UPDATE transfer_ledger SET seq = 2 WHERE seq = 5",
        "UPDATE transfer_ledger SET seq = 5 WHERE seq = -1",
    ] {
        db.execute_unchecked(sql).await.unwrap();
    }
    assert!(verify_region(&s.platform, "eu").await.is_ok());

    // Truncated tail below the signed checkpoint.
    db.execute_unchecked("DELETE FROM transfer_ledger WHERE seq >= 7")
        .await
        .unwrap();
    assert_eq!(
        tampered(verify_region(&s.platform, "eu").await),
        (8, "truncated".to_owned())
    );
}

/// Concurrent gateway decisions share transactions (group commit) yet every call returns only
/// once its own entry is stored, seqs are dense and in one chain, and checkpoints land every
/// 1,000 entries as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_durable_on_return_and_form_one_chain() {
    let s = Server::start().await;
    let eu = s.cell("eu").clone();
    let mut tasks = Vec::new();
    for task in 0..32 {
        let eu = eu.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..40 {
                let e = eu
                    .ledger
                    .append(
                        reelm_residency::ledger::KIND_TRANSFER,
                        format!(r#"{{"task":{task},"i":{i}}}"#),
                    )
                    .await
                    .unwrap();
                // Durable on return: the row is already in the store.
                let stored = eu.store.ledger_page(e.seq as i64 - 1, 1).await.unwrap();
                assert_eq!(stored[0].hash, e.hash.to_vec());
                seqs.push(e.seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=1280).collect::<Vec<u64>>());
    let report = verify_region(&s.platform, "eu").await.unwrap();
    assert_eq!(
        (
            report.entries,
            report.checkpoints,
            report.last_checkpoint_seq
        ),
        (1280, 1, Some(1000))
    );
    eu.ledger.checkpoint_tail(&eu.store).await.unwrap();
    let report = verify_region(&s.platform, "eu").await.unwrap();
    assert_eq!((report.checkpoints, report.unanchored_tail), (2, 0));
}

/// Throughput of ledger appends through the gateway (policy, canonical JSON, the appender's
/// group commit) — one caller at a time, then 64 concurrent callers — and of verification.
/// `cargo test --release -p reelm-server --test integration ledger_throughput -- --ignored
/// --nocapture`; set REELM_LEDGER_BENCH_DIR to keep the data dir for `reelm ledger verify
/// --data-dir DIR --region eu`, REELM_LEDGER_BENCH_N for the concurrent entry count (200,000),
/// REELM_LEDGER_BENCH_SEQ for the sequential one (20,000), REELM_LEDGER_BENCH_TASKS for the
/// number of concurrent callers (64).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn ledger_throughput() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("REELM_LEDGER_BENCH_N", 200_000);
    let n_seq = env("REELM_LEDGER_BENCH_SEQ", 20_000);
    let tasks = env("REELM_LEDGER_BENCH_TASKS", 64);
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var("REELM_LEDGER_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_owned());
    let config = reelm_core::Config::load(&dir, None, &|_| None).unwrap();
    let platform = reelm_server::Platform::open(config).await.unwrap();
    let eu = platform
        .cell(&RegionId::new("eu").unwrap())
        .unwrap()
        .clone();
    let to_us = RegionId::new("us").unwrap();
    let t = Transfer {
        class: DataClass::Public,
        purpose: PURPOSE_PUBLIC_COUNTER,
        object: "video_counters",
        distinct_people: None,
    };
    let started = std::time::Instant::now();
    for _ in 0..n_seq {
        gateway::require(&eu, &to_us, &t).await.unwrap();
    }
    let sequential = started.elapsed().as_secs_f64();
    println!(
        "ledger append, sequential: {n_seq} entries in {sequential:.2}s = {:.0} entries/s",
        n_seq as f64 / sequential
    );
    let started = std::time::Instant::now();
    let mut handles = Vec::new();
    for k in 0..tasks {
        let eu = eu.clone();
        let to_us = to_us.clone();
        let share = n / tasks + u64::from(k < n % tasks);
        handles.push(tokio::spawn(async move {
            for _ in 0..share {
                gateway::require(&eu, &to_us, &t).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let concurrent = started.elapsed().as_secs_f64();
    println!(
        "ledger append, {tasks} concurrent callers: {n} entries in {concurrent:.2}s = {:.0} entries/s",
        n as f64 / concurrent
    );
    let report = verify_region(&platform, "eu").await.unwrap();
    assert_eq!(report.entries, n + n_seq);
    println!(
        "ledger verify: {} entries, {} checkpoints in {:.3}s = {:.0} entries/s",
        report.entries, report.checkpoints, report.seconds, report.entries_per_sec
    );
    let started = std::time::Instant::now();
    let (mut bytes, mut blocks) = (0, 0);
    for (first, _) in eu.store.ledger_block_ranges().await.unwrap() {
        bytes += eu.store.ledger_block(first).await.unwrap().unwrap().len();
        blocks += 1;
    }
    println!(
        "ledger read only, one reader: {blocks} sealed blocks ({:.1} MB) in {:.3}s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    platform.close().await;
}

/// A sealed block's body with `rows` framed as the appender frames them.
fn frame(rows: &[reelm_store::LedgerRow]) -> Vec<u8> {
    let mut body = Vec::new();
    for r in rows {
        reelm_store::push_block_entry(
            &mut body,
            r.seq,
            r.at_ms,
            r.kind.as_bytes(),
            r.payload.as_bytes(),
            &r.prev_hash,
            &r.hash,
        );
    }
    body
}

/// SQL storing `body` as the block starting at entry 1 (a SQLite BLOB literal).
fn put_block(body: &[u8]) -> String {
    format!(
        "UPDATE ledger_blocks SET body = X'{}' WHERE first_seq = 1",
        hex::encode(body)
    )
}

/// Past 4,096 entries the appender seals entries 1..=4096 into one block (their rows go) and
/// verification reads it; editing, dropping or reordering entries inside the block, a block
/// that stops framing or claims another range, a stray row in the sealed range, a deleted block
/// and truncation are each caught, as for entry rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_blocks_are_verified_and_tampering_with_them_is_caught() {
    let s = Server::start().await;
    let eu = s.cell("eu").clone();
    let mut tasks = Vec::new();
    for task in 0..41 {
        let eu = eu.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                eu.ledger
                    .append(
                        reelm_residency::ledger::KIND_TRANSFER,
                        format!(r#"{{"decision":"allowed","task":{task},"i":{i}}}"#),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    eu.ledger.checkpoint_tail(&eu.store).await.unwrap();
    let report = verify_region(&s.platform, "eu").await.unwrap();
    assert_eq!(
        (report.entries, report.checkpoints, report.unanchored_tail),
        (4100, 5, 0)
    );
    assert_eq!(
        eu.store.ledger_block_ranges().await.unwrap(),
        vec![(1, 4096)]
    );
    assert_eq!(
        eu.store.ledger_rows_extent().await.unwrap(),
        (4, Some(4097), Some(4100)),
        "the sealed entries' rows are gone"
    );
    let entries = eu.store.ledger_page(0, 10_000).await.unwrap();
    assert_eq!(entries.len(), 4100);
    assert!(entries.iter().zip(1..).all(|(e, seq)| e.seq == seq));
    let original = eu.store.ledger_block(1).await.unwrap().unwrap();
    assert_eq!(original, frame(&entries[..4096]));
    let db = &eu.store.db;
    let restore = put_block(&original);
    let ok = |r: Result<_, LedgerError>| assert!(r.is_ok(), "{r:?}");

    // Edited payload inside the block.
    let mut edited = entries[..4096].to_vec();
    edited[9].payload = edited[9].payload.replace("allowed", "refused");
    db.execute_unchecked(&put_block(&frame(&edited)))
        .await
        .unwrap();
    assert_eq!(
        tampered(verify_region(&s.platform, "eu").await),
        (10, "edited".to_owned())
    );
    let audit = reelm_audit::run(&s.platform).await.unwrap();
    assert!(
        audit.render().contains("transfer ledger: entry 10 edited"),
        "{}",
        audit.render()
    );
    db.execute_unchecked(&restore).await.unwrap();
    ok(verify_region(&s.platform, "eu").await);

    // Dropped entry inside the block.
    let mut dropped = entries[..4096].to_vec();
    dropped.remove(3);
    db.execute_unchecked(&put_block(&frame(&dropped)))
        .await
        .unwrap();
    assert_eq!(
        tampered(verify_region(&s.platform, "eu").await),
        (5, "dropped".to_owned())
    );

    // Entries 2 and 5 swapped, each renumbered to the other's seq.
    let mut swapped = entries[..4096].to_vec();
    swapped.swap(1, 4);
    (swapped[1].seq, swapped[4].seq) = (2, 5);
    db.execute_unchecked(&put_block(&frame(&swapped)))
        .await
        .unwrap();
    assert_eq!(
        tampered(verify_region(&s.platform, "eu").await),
        (2, "reordered".to_owned())
    );

    // A body cut short: the entries before the cut are checked, the cut one is reported.
    db.execute_unchecked(&put_block(&original[..original.len() - 1]))
        .await
        .unwrap();
    assert_eq!(
        tampered(verify_region(&s.platform, "eu").await),
        (4096, "edited".to_owned())
    );
    db.execute_unchecked(&restore).await.unwrap();
    ok(verify_region(&s.platform, "eu").await);

    // A block claiming another range than the entries it holds.
    db.execute_unchecked("UPDATE ledger_blocks SET last_seq = 5000 WHERE first_seq = 1")
        .await
        .unwrap();
    assert_eq!(
        tampered(verify_region(&s.platform, "eu").await),
        (1, "edited".to_owned())
    );
    db.execute_unchecked("UPDATE ledger_blocks SET last_seq = 4096 WHERE first_seq = 1")
        .await
        .unwrap();

    // A row added inside the sealed range (a second, different entry 5).
    let mut stray = entries[4].clone();
    stray.payload = stray.payload.replace("allowed", "refused");
    eu.store.insert_ledger_entry(&stray).await.unwrap();
    assert_eq!(
        tampered(verify_region(&s.platform, "eu").await),
        (5, "reordered".to_owned())
    );
    db.execute_unchecked("DELETE FROM transfer_ledger WHERE seq = 5")
        .await
        .unwrap();
    ok(verify_region(&s.platform, "eu").await);

    // The whole block deleted.
    db.execute_unchecked("DELETE FROM ledger_blocks")
        .await
        .unwrap();
    assert_eq!(
        tampered(verify_region(&s.platform, "eu").await),
        (4097, "dropped".to_owned())
    );

    // Everything deleted: the signed checkpoints show the truncation.
    db.execute_unchecked("DELETE FROM transfer_ledger")
        .await
        .unwrap();
    assert_eq!(
        tampered(verify_region(&s.platform, "eu").await),
        (4100, "truncated".to_owned())
    );
}

/// A ledger stored as entry rows only (before migration 10) is sealed into blocks when its
/// appender opens, from the stored bytes; the appender continues the chain and seals the next
/// blocks itself, and the whole ledger verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_of_rows_is_sealed_when_its_appender_opens() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cell.db", dir.path().display());
    let store = reelm_store::CellStore::open(&url, 4).await.unwrap();
    let mut chain = reelm_vault::ChainBuilder::new();
    let entries: Vec<_> = (0..5000)
        .map(|i| chain.append(1_700_000_000_000 + i, "transfer", format!(r#"{{"i":{i}}}"#)))
        .collect();
    for chunk in entries.chunks(1000) {
        let refs: Vec<_> = chunk
            .iter()
            .map(|e| reelm_store::LedgerEntryRef {
                seq: e.seq as i64,
                at_ms: e.at_ms,
                kind: &e.kind,
                payload: &e.payload,
                prev_hash: &e.prev_hash,
                hash: &e.hash,
            })
            .collect();
        store.insert_ledger_batch(&refs, &[], None).await.unwrap();
    }
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let ledger =
        reelm_residency::ledger::RegionLedger::open(&store, &keys, &RegionId::new("eu").unwrap())
            .await
            .unwrap();
    assert_eq!(store.ledger_block_ranges().await.unwrap(), vec![(1, 4096)]);
    assert_eq!(
        store.ledger_rows_extent().await.unwrap(),
        (904, Some(4097), Some(5000))
    );
    for i in 0..3200 {
        let e = ledger
            .append("transfer", format!(r#"{{"more":{i}}}"#))
            .await
            .unwrap();
        assert_eq!(e.seq, 5001 + i);
    }
    assert_eq!(
        store.ledger_block_ranges().await.unwrap(),
        vec![(1, 4096), (4097, 8192)]
    );
    let report = reelm_residency::ledger::verify_store(&store, "eu", &ledger.public_keys())
        .await
        .unwrap();
    assert_eq!((report.entries, report.last_seq), (8200, 8200));
    // Entries 4991..=5010: the last rows stored before the appender opened, then its own.
    let stored = store.ledger_page(4990, 20).await.unwrap();
    assert_eq!(stored[0].payload, entries[4990].payload);
    assert_eq!(stored[15].payload, r#"{"more":5}"#);
}
