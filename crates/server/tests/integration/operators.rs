//! Operator access: operators sign in with password and TOTP, Cedar decides every read of a
//! person's personal data, and every decision lands in the person's hash-chained access log.

use crate::common::*;
use reelm_operators::{
    AccessRequest, NewOperator, OperatorPolicy, add_operator, totp_code, verify_access_log,
};
use serde_json::{Value, json};

fn now_secs() -> u64 {
    (reelm_core::now_ms() / 1000) as u64
}

/// Signs in `op` over HTTP and returns a client holding the `reelm_ops` cookie.
async fn ops_client(s: &Server, op: &NewOperator) -> Client {
    let c = s.anon();
    let code = totp_code(op.totp_secret.expose(), now_secs()).unwrap();
    let r = c
        .post(
            "/api/ops/login",
            &json!({"name": op.name, "region": op.region, "password": op.password, "totp": code}),
        )
        .await;
    assert_eq!(r.status, 200, "operator login: {}", r.text());
    let cookie = r.set_cookie("reelm_ops").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert_eq!(r.json()["role"], op.role.as_str());
    c
}

async fn log_of(person: &Client) -> Vec<Value> {
    person.all_pages("/api/me/access-log", 2).await
}

#[tokio::test]
async fn operators_sign_in_with_password_and_totp_and_cedar_decides_every_read() {
    let s = Server::start().await;
    let p = &s.platform;
    let eu_op = add_operator(p, "eu", "erin.support", "support")
        .await
        .unwrap();
    let us_op = add_operator(p, "us", "sam.support", "support")
        .await
        .unwrap();
    assert!(
        eu_op
            .provisioning_uri
            .expose()
            .starts_with("otpauth://totp/")
    );
    assert!(
        eu_op
            .provisioning_uri
            .expose()
            .contains("algorithm=SHA1&digits=6&period=30")
    );
    // The TOTP secret is not stored in clear.
    let stored = s
        .cell("eu")
        .store
        .operator_by_name("erin.support")
        .await
        .unwrap()
        .unwrap();
    assert!(
        !stored
            .totp_secret_enc
            .windows(eu_op.totp_secret.expose().len())
            .any(|w| w == eu_op.totp_secret.expose().as_slice())
    );

    // Wrong TOTP (or none) is 401 even with the right password; so is a wrong password.
    let anon = s.anon();
    let good = totp_code(eu_op.totp_secret.expose(), now_secs()).unwrap();
    let wrong = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
    for body in [
        json!({"name": "erin.support", "region": "eu", "password": eu_op.password, "totp": wrong}),
        json!({"name": "erin.support", "region": "eu", "password": eu_op.password, "totp": ""}),
        json!({"name": "erin.support", "region": "eu", "password": "nope", "totp": good}),
        json!({"name": "erin.support", "region": "us", "password": eu_op.password, "totp": good}),
    ] {
        let r = anon.post("/api/ops/login", &body).await;
        assert_error(&r, 401, "wrong_credentials");
        assert!(r.set_cookie("reelm_ops").is_none());
    }
    // Without an operator session the endpoint is closed; a person's session is not one.
    let ana = s.quick_user("ana_private", "DE").await;
    assert_eq!(ana.region, "eu");
    assert_error(
        &ana.get("/api/ops/people/ana_private/personal?purpose=support_ticket&ticket=SUP-1")
            .await,
        401,
        "unauthenticated",
    );
    assert!(log_of(&ana).await.is_empty());

    let erin = ops_client(&s, &eu_op).await;
    let sam = ops_client(&s, &us_op).await;
    assert_eq!(erin.get_json("/api/ops/me").await["name"], "erin.support");

    // Same region, purpose and ticket: allowed, with the decrypted fields.
    let r = erin
        .get("/api/ops/people/ana_private/personal?purpose=support_ticket&ticket=SUP-42")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let data = r.json();
    assert_eq!(data["email"], "ana_private@example.org");
    assert_eq!(data["country"], "DE");
    assert_eq!(data["birth_date"], "1990-01-01");

    // Cross-region: denied, with the reason.
    let msg = assert_error(
        &sam.get("/api/ops/people/ana_private/personal?purpose=support_ticket&ticket=SUP-42")
            .await,
        403,
        "forbidden",
    );
    assert!(msg.contains("jurisdiction"), "{msg}");
    // No purpose, no ticket, a made-up purpose, a malformed ticket: denied.
    for (q, why) in [
        ("ticket=SUP-42", "purpose"),
        ("purpose=support_ticket", "ticket"),
        ("purpose=curiosity&ticket=SUP-42", "purpose"),
        ("purpose=legal_request&ticket=whatever", "ticket"),
    ] {
        let msg = assert_error(
            &erin
                .get(&format!("/api/ops/people/ana_private/personal?{q}"))
                .await,
            403,
            "forbidden",
        );
        assert!(msg.contains(why), "{q}: {msg}");
    }

    // The person sees every decision, newest first, paginated.
    let log = log_of(&ana).await;
    assert_eq!(log.len(), 6, "{log:?}");
    let decisions: Vec<&str> = log
        .iter()
        .map(|e| e["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["deny", "deny", "deny", "deny", "deny", "allow"]);
    let allowed = &log[5];
    assert_eq!(allowed["operator"], "erin.support");
    assert_eq!(allowed["role"], "support");
    assert_eq!(allowed["operator_region"], "eu");
    assert_eq!(allowed["purpose"], "support_ticket");
    assert_eq!(allowed["ticket"], "SUP-42");
    let cross = &log[4];
    assert_eq!(cross["operator"], "sam.support");
    assert_eq!(cross["operator_region"], "us");
    assert_eq!(cross["region"], "eu");
    assert!(cross["reason"].as_str().unwrap().contains("jurisdiction"));
    assert!(log[3]["purpose"] == "" && log[3]["decision"] == "deny");
    let seqs: Vec<i64> = log.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [6, 5, 4, 3, 2, 1]);

    // The log lives in the person's home cell only, and the residency audit stays clean.
    for region in ["us", "ap"] {
        let n = s
            .cell(region)
            .store
            .access_entries(ana.user_id(), 0, i64::MAX, false, 100)
            .await
            .unwrap();
        assert!(n.is_empty());
    }
    let audit = reelm_audit::run(p).await.unwrap();
    assert!(audit.passed(), "{}", audit.render());

    // The chain verifies; an edited entry is caught.
    let eu = s.cell("eu");
    assert_eq!(verify_access_log(eu, ana.user_id()).await.unwrap(), Ok(6));
    eu.store
        .db
        .execute_unchecked(
            "UPDATE access_log SET payload = REPLACE(payload, '\"deny\"', '\"allow\"') WHERE seq = 2",
        )
        .await
        .unwrap();
    let violation = verify_access_log(eu, ana.user_id())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(violation.seq(), 2, "{violation:?}");
}

/// Cedar's p99 per decision (`cargo test --release -p reelm-server --test integration -- --ignored cedar_p99`).
#[tokio::test]
#[ignore]
async fn cedar_p99() {
    let policy = OperatorPolicy::embedded();
    let req = |i: i64| AccessRequest {
        operator_id: i,
        role: if i % 5 == 0 { "engineer" } else { "support" },
        operator_region: if i % 3 == 0 { "us" } else { "eu" },
        person: reelm_core::UserId(i * 7),
        person_region: "eu",
        purpose: if i % 4 == 0 { "" } else { "support_ticket" },
        ticket: "SUP-1",
        break_glass: i % 7 == 0,
    };
    for i in 0..1_000 {
        policy.decide(&req(i)).unwrap();
    }
    let mut times = Vec::with_capacity(100_000);
    for i in 0..100_000 {
        let r = req(i);
        let t = std::time::Instant::now();
        let d = policy.decide(&r).unwrap();
        times.push(t.elapsed().as_nanos() as u64);
        std::hint::black_box(d);
    }
    times.sort_unstable();
    let pct =
        |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)] as f64 / 1000.0;
    println!(
        "cedar decision (operator-access.cedar, 6 policies, 100k decisions): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

/// `reelm keys rotate --retire-old` re-wraps operators' keys too: they still sign in (their TOTP
/// secret is sealed under a key wrapped by the region key), and an erased person's access log
/// goes with them.
#[tokio::test]
async fn operators_survive_key_rotation_and_erasure_removes_the_access_log() {
    let s = Server::start().await;
    let op = add_operator(&s.platform, "eu", "rita.privacy", "privacy_officer")
        .await
        .unwrap();
    let eu = reelm_core::RegionId::new("eu").unwrap();
    let report =
        reelm_accounts::keys::rotate_region_key(&s.platform.config, &eu, true, &mut |_, _| {})
            .await
            .unwrap();
    assert_eq!(report.operators_rewrapped, 1);
    assert_eq!(report.retired, ["eu-k1"]);
    let s = s.reopen().await;
    let rita = ops_client(&s, &op).await;

    // An erased person's whole chain goes; nobody else's chain is touched.
    let bo = s.signup("bo_erased", "FR").await;
    let cy = s.quick_user("cy_stays", "FR").await;
    for handle in ["bo_erased", "cy_stays"] {
        let r = rita
            .get(&format!(
                "/api/ops/people/{handle}/personal?purpose=legal_request&ticket=LEG-7"
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(log_of(&bo).await.len(), 1);
    let r = Client::send(
        bo.request(reqwest::Method::DELETE, "/api/me")
            .json(&json!({"password": "correct horse battery"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["counts"]["access_log"], 1);
    let cell = s.cell("eu");
    assert!(
        cell.store
            .access_entries(bo.user_id(), 0, i64::MAX, false, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(verify_access_log(cell, cy.user_id()).await.unwrap(), Ok(1));
}

/// Break-glass: a cross-region operator reads only after a second operator (a privacy officer
/// of the person's region) approves, and only for the approved purpose and ticket.
#[tokio::test]
async fn break_glass_needs_a_second_operators_approval() {
    let s = Server::start().await;
    let p = &s.platform;
    let us_op = add_operator(p, "us", "uma.support", "support")
        .await
        .unwrap();
    let eu_po = add_operator(p, "eu", "eve.privacy", "privacy_officer")
        .await
        .unwrap();
    let eu_mod = add_operator(p, "eu", "max.mod", "moderator").await.unwrap();
    let ana = s.quick_user("ana_glass", "DE").await;
    let uma = ops_client(&s, &us_op).await;
    let eve = ops_client(&s, &eu_po).await;
    let max = ops_client(&s, &eu_mod).await;
    let read = "/api/ops/people/ana_glass/personal?purpose=legal_request&ticket=LEG-9";
    assert_error(&uma.get(read).await, 403, "forbidden");

    // Same-region requests are refused: no break-glass needed.
    assert_error(
        &eve.post(
            "/api/ops/break-glass",
            &json!({"handle": "ana_glass", "purpose": "legal_request", "ticket": "LEG-9"}),
        )
        .await,
        400,
        "validation_failed",
    );
    let r = uma
        .post(
            "/api/ops/break-glass",
            &json!({"handle": "ana_glass", "purpose": "legal_request", "ticket": "LEG-9"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let grant = r.json();
    assert_eq!(grant["status"], "pending");
    let id = grant["id"].as_str().unwrap();
    // Pending is not enough.
    assert_error(&uma.get(read).await, 403, "forbidden");
    // The requester cannot approve (their region does not even hold it); a moderator may not.
    assert_error(
        &uma.post_empty(&format!("/api/ops/break-glass/{id}/approve"))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &max.post_empty(&format!("/api/ops/break-glass/{id}/approve"))
            .await,
        403,
        "forbidden",
    );
    let r = eve
        .post_empty(&format!("/api/ops/break-glass/{id}/approve"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "approved");

    let r = uma.get(read).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["email"], "ana_glass@example.org");
    // The data went to a US operator: ledgered in the EU as a personal-data transfer.
    let ledger = s.cell("eu").store.ledger_page(0, 1000).await.unwrap();
    assert!(
        ledger
            .iter()
            .any(|e| e.payload.contains("\"object\":\"operator_read\"")
                && e.payload.contains("\"to\":\"us\""))
    );
    // Only for the approved purpose and ticket.
    assert_error(
        &uma.get("/api/ops/people/ana_glass/personal?purpose=legal_request&ticket=LEG-10")
            .await,
        403,
        "forbidden",
    );
    // Expired grants no longer apply.
    s.cell("eu")
        .store
        .db
        .execute_unchecked("UPDATE break_glass_grants SET expires_at = 1")
        .await
        .unwrap();
    assert_error(&uma.get(read).await, 403, "forbidden");

    let log = log_of(&ana).await;
    let decisions: Vec<&str> = log
        .iter()
        .map(|e| e["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["deny", "deny", "allow", "deny", "deny"]);
    let allowed = log[2]["reason"].as_str().unwrap();
    assert!(
        allowed.contains("break-glass") && allowed.contains("eve.privacy"),
        "{allowed}"
    );
    let audit = reelm_audit::run(p).await.unwrap();
    assert!(audit.passed(), "{}", audit.render());
}

fn access_audit(audit: &reelm_audit::AuditReport, region: &str) -> (u64, u64, u64, u64) {
    let a = audit
        .access_logs
        .iter()
        .find(|a| a.region == region)
        .unwrap();
    (a.people, a.entries, a.checkpoints, a.erased)
}

/// Verifies the eu access logs with the region's public keys; the violation's kind, or "ok".
async fn eu_access_verdict(s: &Server) -> String {
    let keys = s.cell("eu").ledger.public_keys();
    match reelm_operators::verify_access_logs(&s.platform, s.cell("eu"), &keys)
        .await
        .unwrap()
    {
        Ok(_) => "ok".to_owned(),
        Err(v) => v.kind,
    }
}

/// Signed access-log checkpoints: a truncated tail, a whole dropped log, an edited or dropped
/// checkpoint, reordered entries and a forged erasure are caught by the verifier and the
/// residency audit; a truncated log is never extended; a real erasure is tolerated.
#[tokio::test]
async fn access_log_checkpoints_catch_truncation_and_tolerate_erasure() {
    let s = Server::start().await;
    let op = add_operator(&s.platform, "eu", "ivy.support", "support")
        .await
        .unwrap();
    let ivy = ops_client(&s, &op).await;
    let ana = s.quick_user("ana_chk", "DE").await;
    let bo = s.signup("bo_chk", "FR").await;
    let read = |handle: &str| {
        format!("/api/ops/people/{handle}/personal?purpose=support_ticket&ticket=SUP-5")
    };
    for handle in ["ana_chk", "ana_chk", "ana_chk", "bo_chk", "bo_chk"] {
        assert_eq!(ivy.get(&read(handle)).await.status, 200);
    }
    let eu = s.cell("eu");
    // Not yet signed: the audit passes and shows the unanchored entries.
    let audit = reelm_audit::run(&s.platform).await.unwrap();
    assert!(audit.passed(), "{}", audit.render());
    assert_eq!(access_audit(&audit, "eu"), (2, 5, 0, 0));
    assert_eq!(
        eu.ledger.checkpoint_access(&eu.store).await.unwrap(),
        Some(1)
    );
    assert_eq!(eu.ledger.checkpoint_access(&eu.store).await.unwrap(), None);
    let audit = reelm_audit::run(&s.platform).await.unwrap();
    assert!(audit.passed(), "{}", audit.render());
    assert_eq!(access_audit(&audit, "eu"), (2, 5, 1, 0));
    let eu_log = audit.access_logs.iter().find(|a| a.region == "eu").unwrap();
    assert_eq!(eu_log.unanchored, 0);

    let db = &eu.store.db;
    let ana_id = ana.user_id().0;
    let bo_id = bo.user_id().0;
    let ana_entries = eu
        .store
        .access_entries(ana.user_id(), 0, i64::MAX, false, 10)
        .await
        .unwrap();

    // Tail truncation: ana's last entry goes.
    db.execute_unchecked(&format!(
        "DELETE FROM access_log WHERE person_id = {ana_id} AND seq = 3"
    ))
    .await
    .unwrap();
    let v = verify_access_log(eu, ana.user_id())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((v.kind.as_str(), v.seq), ("truncated", 3), "{v}");
    let audit = reelm_audit::run(&s.platform).await.unwrap();
    assert!(!audit.passed());
    let text = audit.render();
    assert!(
        text.contains("region eu access log") && text.contains("tail truncated"),
        "{text}"
    );
    // The writer refuses to extend a truncated log (the operator's read fails with a 500,
    // logged): no read without a trace.
    let record = reelm_operators::AccessRecord {
        operator_id: "1".into(),
        operator: "ivy.support".into(),
        role: "support".into(),
        operator_region: "eu".into(),
        region: "eu".into(),
        purpose: "support_ticket".into(),
        ticket: "SUP-5".into(),
        decision: "allow".into(),
        reason: "test".into(),
    };
    let err = reelm_operators::append_access(eu, ana.user_id(), &record)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refusing to extend"), "{err}");
    eu.store
        .insert_access_entry(ana.user_id(), &ana_entries[2])
        .await
        .unwrap();
    assert_eq!(eu_access_verdict(&s).await, "ok");

    // A whole log dropped (the ultimate truncation).
    db.execute_unchecked(&format!("DELETE FROM access_log WHERE person_id = {bo_id}"))
        .await
        .unwrap();
    assert_eq!(eu_access_verdict(&s).await, "log_dropped");
    // A forged erasure receipt does not explain it while the person is in the directory.
    db.execute_unchecked(&format!(
        "INSERT INTO erasure_receipts (receipt_id, user_id, region, erased_at, counts, counts_sha256)
         VALUES (1, {bo_id}, 'eu', 1, '{{}}', '')"
    ))
    .await
    .unwrap();
    assert_eq!(eu_access_verdict(&s).await, "erased_but_present");
    db.execute_unchecked("DELETE FROM erasure_receipts WHERE receipt_id = 1")
        .await
        .unwrap();
    // (bo's log stays gone: bo is erased for real below.)

    // An edited signed head, a dropped checkpoint (both caught before any chain is read).
    let ana_tag = hex::encode(reelm_vault::chain_tag(ana_id));
    db.execute_unchecked(&format!(
        "UPDATE access_checkpoint_heads SET seq = 2 WHERE person_tag = X'{ana_tag}'"
    ))
    .await
    .unwrap();
    assert_eq!(eu_access_verdict(&s).await, "checkpoint_edited");
    db.execute_unchecked(&format!(
        "UPDATE access_checkpoint_heads SET seq = 3 WHERE person_tag = X'{ana_tag}'"
    ))
    .await
    .unwrap();
    let cp = eu.store.access_checkpoints().await.unwrap();
    db.execute_unchecked("DELETE FROM access_checkpoints")
        .await
        .unwrap();
    assert_eq!(eu_access_verdict(&s).await, "checkpoint_dropped");
    db.execute_unchecked(&format!(
        "INSERT INTO access_checkpoints (seq, root, heads, at_ms, signer_key_id, signature)
         VALUES (1, X'{}', {}, {}, '{}', X'{}')",
        hex::encode(&cp[0].root),
        cp[0].heads,
        cp[0].at_ms,
        cp[0].signer_key_id,
        hex::encode(&cp[0].signature)
    ))
    .await
    .unwrap();

    // Reordered entries of ana's chain.
    for sql in [
        format!("UPDATE access_log SET seq = -1 WHERE person_id = {ana_id} AND seq = 1"),
        format!("UPDATE access_log SET seq = 1 WHERE person_id = {ana_id} AND seq = 2"),
        format!("UPDATE access_log SET seq = 2 WHERE person_id = {ana_id} AND seq = -1"),
    ] {
        db.execute_unchecked(&sql).await.unwrap();
    }
    let v = verify_access_log(eu, ana.user_id())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(v.kind, "reordered", "{v}");
    for sql in [
        format!("UPDATE access_log SET seq = -1 WHERE person_id = {ana_id} AND seq = 1"),
        format!("UPDATE access_log SET seq = 1 WHERE person_id = {ana_id} AND seq = 2"),
        format!("UPDATE access_log SET seq = 2 WHERE person_id = {ana_id} AND seq = -1"),
    ] {
        db.execute_unchecked(&sql).await.unwrap();
    }
    assert_eq!(verify_access_log(eu, ana.user_id()).await.unwrap(), Ok(3));

    // A real erasure: bo's log is gone, the signed head stays explained by the receipt.
    let r = Client::send(
        bo.request(reqwest::Method::DELETE, "/api/me")
            .json(&json!({"password": "correct horse battery"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let audit = reelm_audit::run(&s.platform).await.unwrap();
    assert!(audit.passed(), "{}", audit.render());
    assert_eq!(access_audit(&audit, "eu"), (1, 3, 1, 1));

    // More reads, then a restart: close signs the moved heads.
    assert_eq!(ivy.get(&read("ana_chk")).await.status, 200);
    let s = s.reopen().await;
    let audit = reelm_audit::run(&s.platform).await.unwrap();
    assert!(audit.passed(), "{}", audit.render());
    assert_eq!(access_audit(&audit, "eu"), (1, 4, 2, 1));
    let eu_log = audit.access_logs.iter().find(|a| a.region == "eu").unwrap();
    assert_eq!(eu_log.unanchored, 0);
}

/// Every ACCESS_CHECKPOINT_EVERY appends sign a checkpoint on their own.
#[tokio::test]
async fn access_log_checkpoints_every_n_appends() {
    use reelm_operators::{AccessRecord, append_access};
    use reelm_residency::ledger::ACCESS_CHECKPOINT_EVERY;
    let s = Server::start().await;
    let people = [
        s.quick_user("cat_many", "DE").await,
        s.quick_user("dan_many", "DE").await,
    ];
    let eu = s.cell("eu");
    let record = AccessRecord {
        operator_id: "1".into(),
        operator: "test.op".into(),
        role: "support".into(),
        operator_region: "eu".into(),
        region: "eu".into(),
        purpose: "support_ticket".into(),
        ticket: "SUP-1".into(),
        decision: "allow".into(),
        reason: "test".into(),
    };
    for i in 0..ACCESS_CHECKPOINT_EVERY + 3 {
        append_access(eu, people[(i % 2) as usize].user_id(), &record)
            .await
            .unwrap();
    }
    let last = eu.store.last_access_checkpoint().await.unwrap().unwrap();
    assert_eq!((last.seq, last.heads), (1, 2));
    let audit = reelm_audit::run(&s.platform).await.unwrap();
    assert!(audit.passed(), "{}", audit.render());
    let eu_log = audit.access_logs.iter().find(|a| a.region == "eu").unwrap();
    assert_eq!(
        (eu_log.entries, eu_log.checkpoints, eu_log.unanchored),
        (ACCESS_CHECKPOINT_EVERY + 3, 1, 3)
    );
}

/// RFC 6238 section 5.2: a TOTP code signs in once. Replaying it within its 30 s window (with
/// the right password) is refused like a wrong code; a code of a later step still works, and
/// after it the earlier step's code is refused too.
#[tokio::test]
async fn a_totp_code_signs_in_only_once() {
    let s = Server::start().await;
    let op = add_operator(&s.platform, "eu", "olga.support", "support")
        .await
        .unwrap();
    let now = now_secs();
    let login = |code: String| json!({"name": op.name, "region": op.region, "password": op.password, "totp": code});
    let code = totp_code(op.totp_secret.expose(), now).unwrap();
    let first = s.anon().post("/api/ops/login", &login(code.clone())).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let replay = s.anon().post("/api/ops/login", &login(code.clone())).await;
    assert_error(&replay, 401, "wrong_credentials");
    assert!(replay.set_cookie("reelm_ops").is_none());
    // The next step's code (accepted with one step of skew) is new, so it signs in …
    let next = totp_code(op.totp_secret.expose(), now + 30).unwrap();
    let r = s.anon().post("/api/ops/login", &login(next.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // … and neither it nor the older code works again.
    for code in [next, code] {
        let r = s.anon().post("/api/ops/login", &login(code)).await;
        assert_error(&r, 401, "wrong_credentials");
    }
}
