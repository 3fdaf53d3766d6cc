//! The residency audit on a throw-away three-region platform: a fresh platform with a few
//! people passes; a personal row planted outside its owner's home region fails it, named.

use reelm_core::{DataClass, RegionId, UserId};
use reelm_platform::{Cell, Platform};
use std::collections::BTreeMap;
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

async fn person(p: &Platform, handle: &str, country: &str) -> UserId {
    let email = format!("{handle}@example.org");
    reelm_accounts::accounts::create_account(p, handle, &email, None, "1990-01-01", country, handle)
        .await
        .unwrap()
}

/// Four people: two in us, one in eu, one in ap.
async fn populated() -> (Platform, TempDir, Vec<UserId>) {
    let (p, dir) = platform().await;
    let mut people = Vec::new();
    for (handle, country) in [
        ("audit_us1", "US"),
        ("audit_us2", "US"),
        ("audit_de", "DE"),
        ("audit_jp", "JP"),
    ] {
        people.push(person(&p, handle, country).await);
    }
    (p, dir, people)
}

#[tokio::test]
async fn a_fresh_platform_with_a_few_people_passes() {
    let (p, _dir, _people) = populated().await;
    let report = crate::run(&p).await.unwrap();
    assert!(report.passed(), "{}", report.render());
    assert_eq!(report.violation_count(), 0);
    assert_eq!(
        report.users_per_region,
        BTreeMap::from([("ap".into(), 1), ("eu".into(), 1), ("us".into(), 2)])
    );
    // Each person has an account and a wrapped key (personal) in their home region only.
    for (region, people) in [("us", 2), ("eu", 1), ("ap", 1)] {
        assert_eq!(
            report.counts[region][&DataClass::Personal],
            2 * people,
            "{}",
            report.render()
        );
    }
    assert!(report.tables_checked > 0);
    assert_eq!(report.media.len(), 3);
    assert!(report.media.iter().all(|m| m.objects == 0));
    assert!(
        report
            .ledger
            .iter()
            .all(|l| l.violation.is_none() && l.entries == 0)
    );
    assert!(report.render().contains("PASS"), "{}", report.render());
}

#[tokio::test]
async fn a_personal_row_planted_in_another_region_fails_the_audit_by_name() {
    let (p, _dir, people) = populated().await;
    let us_person = people[0];
    let eu = cell(&p, "eu");
    // A session (personal data) of a US person, stored in the EU store.
    let now = reelm_core::now_ms();
    eu.store
        .insert_session("planted-token-hash", us_person, now, now + 60_000)
        .await
        .unwrap();

    let report = crate::run(&p).await.unwrap();
    assert!(!report.passed());
    assert_eq!(report.violations.len(), 1, "{}", report.render());
    let v = &report.violations[0];
    assert_eq!(
        (
            v.region.as_str(),
            v.table,
            v.class,
            v.user_id.as_str(),
            v.rows
        ),
        (
            "eu",
            "sessions",
            DataClass::Personal,
            us_person.to_string().as_str(),
            1
        )
    );
    assert_eq!(v.home_region.as_deref(), Some("us"));
    let text = report.render();
    assert!(
        text.contains("FAIL") && text.contains(&v.to_string()),
        "{text}"
    );
    assert!(
        v.to_string()
            .contains("whose home is us, but are stored in eu"),
        "{v}"
    );

    // A row of someone the directory does not know is a violation too.
    let ghost = UserId(us_person.0 + 1_000_000);
    cell(&p, "ap")
        .store
        .insert_session("ghost-token-hash", ghost, now, now + 60_000)
        .await
        .unwrap();
    let report = crate::run(&p).await.unwrap();
    assert_eq!(report.violations.len(), 2, "{}", report.render());
    let orphan = report.violations.iter().find(|v| v.region == "ap").unwrap();
    assert_eq!(orphan.home_region, None);
    assert_eq!(orphan.user_id, ghost.to_string());

    // Removing both plants makes it pass again.
    eu.store.delete_session("planted-token-hash").await.unwrap();
    cell(&p, "ap")
        .store
        .delete_session("ghost-token-hash")
        .await
        .unwrap();
    let report = crate::run(&p).await.unwrap();
    assert!(report.passed(), "{}", report.render());
}
