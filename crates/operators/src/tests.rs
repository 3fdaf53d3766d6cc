//! Operator access without HTTP, on a throw-away three-region platform: operators are added
//! and sign in with password and TOTP, every read of a person's personal data is decided by
//! the Cedar policy and logged in the person's access log (deny as well as allow, and before
//! any data is read), and a cross-region read needs break-glass approved by a privacy officer
//! of the person's region.

use crate::{
    AccessLogItem, BreakGlassRequest, Operator, OpsLogIn, PersonalQuery, add_operator,
    approve_break_glass, log_in, my_access_log, read_personal, request_break_glass, totp_code,
    verify_access_log,
};
use reelm_core::{RegionId, UserId};
use reelm_platform::{Cell, Error, Platform};
use std::sync::Arc;
use tempfile::TempDir;

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

/// A person of `country` (no password: operators read them, they do not sign in here).
async fn person(p: &Platform, handle: &str, country: &str) -> UserId {
    let email = format!("{handle}@example.org");
    reelm_accounts::accounts::create_account(p, handle, &email, None, "1990-01-01", country, handle)
        .await
        .unwrap()
}

/// An operator of `region` with `role`, as the server would resolve them from their session.
async fn operator(p: &Platform, region: &str, name: &str, role: &str) -> Operator {
    let new = add_operator(p, region, name, role).await.unwrap();
    let home = cell(p, region).clone();
    let row = home.store.operator(new.operator_id).await.unwrap().unwrap();
    Operator { row, home }
}

fn query(purpose: &str, ticket: &str) -> PersonalQuery {
    PersonalQuery {
        purpose: Some(purpose.into()),
        ticket: Some(ticket.into()),
    }
}

/// The code and message of a failure.
fn failure<T>(r: Result<T, Error>) -> (&'static str, String) {
    match r {
        Ok(_) => panic!("the operation should fail"),
        Err(e) => {
            let (code, message) = e.public();
            (code.name(), message)
        }
    }
}

/// The person's access log, oldest first.
async fn access_log(cell: &Cell, person: UserId) -> Vec<AccessLogItem> {
    let mut items = my_access_log(cell, person, None, 100).await.unwrap().items;
    items.reverse();
    items
}

#[tokio::test]
async fn a_support_operator_of_the_persons_region_reads_with_a_ticket_and_is_logged_first() {
    let (p, _dir) = platform().await;
    let ana = person(&p, "ana_de", "DE").await;
    let eu = cell(&p, "eu");

    // Added, then signed in with the generated password and the current TOTP code.
    let new = add_operator(&p, "eu", "sue.support", "support")
        .await
        .unwrap();
    assert_eq!((new.role.as_str(), new.region.as_str()), ("support", "eu"));
    assert!(new.provisioning_uri.expose().starts_with("otpauth://totp/"));
    let now_secs = (reelm_core::now_ms() / 1000) as u64;
    let (json, home, token) = log_in(
        &p,
        OpsLogIn {
            name: "sue.support".into(),
            region: "eu".into(),
            password: new.password.clone(),
            totp: totp_code(new.totp_secret.expose(), now_secs)
                .unwrap()
                .into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (json.name.as_str(), home.id().as_str()),
        ("sue.support", "eu")
    );
    let op = Operator::resolve(&p, "eu", &token).await.unwrap().unwrap();
    assert_eq!(op.row.operator_id, new.operator_id);
    // The same name twice in a region is refused.
    assert_eq!(
        failure(add_operator(&p, "eu", "sue.support", "support").await).0,
        "validation_failed"
    );

    let data = read_personal(&p, &op, "ana_de", query("support_ticket", "SUP-123"))
        .await
        .unwrap();
    assert_eq!(data.email.expose(), "ana_de@example.org");
    assert_eq!((data.country.as_str(), data.region.as_str()), ("DE", "eu"));
    assert_eq!(data.birth_date, "1990-01-01");

    let log = access_log(eu, ana).await;
    assert_eq!(log.len(), 1, "{log:?}");
    let e = &log[0];
    assert_eq!(e.decision, "allow");
    assert_eq!(
        (e.operator.as_str(), e.role.as_str()),
        ("sue.support", "support")
    );
    assert_eq!(
        (e.purpose.as_str(), e.ticket.as_str()),
        ("support_ticket", "SUP-123")
    );
    assert_eq!(
        (e.operator_region.as_str(), e.region.as_str()),
        ("eu", "eu")
    );
    assert!(e.reason.contains("same jurisdiction"), "{}", e.reason);
    // A same-region read is no transfer: nothing ledgered.
    assert!(eu.store.ledger_page(0, 10).await.unwrap().is_empty());

    // Without an open ticket: denied, and the denial is logged too.
    let (code, reason) =
        failure(read_personal(&p, &op, "ana_de", query("support_ticket", "")).await);
    assert_eq!(code, "forbidden");
    assert!(reason.contains("ticket"), "{reason}");
    let log = access_log(eu, ana).await;
    assert_eq!(
        log.iter().map(|e| e.decision.as_str()).collect::<Vec<_>>(),
        ["allow", "deny"]
    );
    assert_eq!(verify_access_log(eu, ana).await.unwrap().unwrap(), 2);
    // Nothing about Ana is logged anywhere else.
    for other in ["us", "ap"] {
        assert_eq!(
            cell(&p, other)
                .store
                .db
                .count_rows("access_log")
                .await
                .unwrap(),
            0
        );
    }

    // No trace, no data: when the decision cannot be logged, nothing is read.
    eu.store
        .db
        .execute_unchecked("ALTER TABLE access_log RENAME TO access_log_away")
        .await
        .unwrap();
    let blocked = read_personal(&p, &op, "ana_de", query("support_ticket", "SUP-124")).await;
    assert_eq!(failure(blocked).0, "internal");
}

#[tokio::test]
async fn an_engineer_is_denied_even_with_a_purpose_and_a_ticket() {
    let (p, _dir) = platform().await;
    let ana = person(&p, "ana_eng", "FR").await;
    let eng = operator(&p, "eu", "eddie.eng", "engineer").await;
    let (code, reason) =
        failure(read_personal(&p, &eng, "ana_eng", query("support_ticket", "SUP-9")).await);
    assert_eq!(code, "forbidden");
    assert!(reason.contains("engineer"), "{reason}");
    let log = access_log(cell(&p, "eu"), ana).await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].decision.as_str(), log[0].role.as_str()),
        ("deny", "engineer")
    );
    assert_eq!(log[0].reason, reason);
    // Unknown people and roles are refused plainly.
    assert_eq!(
        failure(read_personal(&p, &eng, "nobody_here", query("support_ticket", "SUP-9")).await).0,
        "not_found"
    );
    assert_eq!(
        failure(add_operator(&p, "eu", "root.user", "superuser").await).0,
        "validation_failed"
    );
}

#[tokio::test]
async fn a_cross_region_read_needs_break_glass_approved_by_a_privacy_officer_there() {
    let (p, _dir) = platform().await;
    let ana = person(&p, "ana_far", "DE").await;
    let eu = cell(&p, "eu");
    let us_support = operator(&p, "us", "uma.support", "support").await;
    let eu_support = operator(&p, "eu", "eva.support", "support").await;
    let us_privacy = operator(&p, "us", "ulf.privacy", "privacy_officer").await;
    let eu_privacy = operator(&p, "eu", "emil.privacy", "privacy_officer").await;
    let q = || query("support_ticket", "SUP-77");

    // Another jurisdiction without break-glass: denied and logged in the person's region.
    let (code, reason) = failure(read_personal(&p, &us_support, "ana_far", q()).await);
    assert_eq!(code, "forbidden");
    assert!(reason.contains("another jurisdiction"), "{reason}");

    let req = || BreakGlassRequest {
        handle: "ana_far".into(),
        purpose: "support_ticket".into(),
        ticket: "SUP-77".into(),
    };
    let grant = request_break_glass(&p, &us_support, req()).await.unwrap();
    assert_eq!(
        (grant.status.as_str(), grant.region.as_str()),
        ("pending", "eu")
    );
    // Pending is not approved.
    assert_eq!(
        failure(read_personal(&p, &us_support, "ana_far", q()).await).0,
        "forbidden"
    );
    // Break-glass is for other jurisdictions only.
    assert_eq!(
        failure(request_break_glass(&p, &eu_support, req()).await).0,
        "validation_failed"
    );

    // Only a privacy officer of the person's region approves: the grant is kept there.
    assert_eq!(
        failure(approve_break_glass(&p, &eu_support, &grant.id).await).0,
        "forbidden"
    );
    assert_eq!(
        failure(approve_break_glass(&p, &us_privacy, &grant.id).await).0,
        "not_found"
    );
    let approved = approve_break_glass(&p, &eu_privacy, &grant.id)
        .await
        .unwrap();
    assert_eq!(approved.status, "approved");
    assert!(approved.expires_at.is_some());
    assert_eq!(
        failure(approve_break_glass(&p, &eu_privacy, &grant.id).await).0,
        "validation_failed",
        "approved once"
    );

    let data = read_personal(&p, &us_support, "ana_far", q())
        .await
        .unwrap();
    assert_eq!(data.email.expose(), "ana_far@example.org");
    // The grant is for this purpose and ticket only.
    assert_eq!(
        failure(
            read_personal(
                &p,
                &us_support,
                "ana_far",
                query("support_ticket", "SUP-78")
            )
            .await
        )
        .0,
        "forbidden"
    );

    let log = access_log(eu, ana).await;
    assert_eq!(
        log.iter().map(|e| e.decision.as_str()).collect::<Vec<_>>(),
        ["deny", "deny", "allow", "deny"]
    );
    let allowed = &log[2];
    assert_eq!(allowed.operator_region, "us");
    assert!(
        allowed.reason.contains(&format!(
            "break-glass grant {} approved by emil.privacy",
            grant.id
        )),
        "{}",
        allowed.reason
    );
    // Personal data leaving eu for a us operator is a transfer, ledgered in eu (the source).
    let ledger = eu.store.ledger_page(0, 10).await.unwrap();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    let entry: serde_json::Value = serde_json::from_str(&ledger[0].payload).unwrap();
    assert_eq!(
        (
            entry["object"].as_str(),
            entry["class"].as_str(),
            entry["to"].as_str(),
            entry["decision"].as_str()
        ),
        (
            Some("operator_read"),
            Some("personal"),
            Some("us"),
            Some("allowed")
        )
    );
    assert!(
        cell(&p, "us")
            .store
            .ledger_page(0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
