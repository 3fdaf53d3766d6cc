//! Per-field encryption overhead (data-sovereignty issue: ≤ 15% of the sign-up and profile-read
//! p99). The product has no plaintext mode to compare with, so this measures, on the same
//! platform and cell, (a) the whole request over HTTP and (b) exactly the sealing or opening the
//! request performs (data key generation and wrapping, email index, three field encryptions for
//! a sign-up; unwrapping the data key and three field decryptions for `/api/me`), and reports
//! the crypto share. `cargo test --release -p reelm-server --test integration
//! encryption_overhead -- --ignored --nocapture`.

use crate::common::{Client, Server};
use reelm_core::UserId;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn ms(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q) as usize).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1000.0
}

fn summary(name: &str, mut d: Vec<Duration>) -> (f64, f64) {
    d.sort_unstable();
    let (p50, p99, max) = (ms(&d, 0.5), ms(&d, 0.99), ms(&d, 1.0));
    println!(
        "{name:<44} n={:<6} p50 {p50:>9.4} ms  p99 {p99:>9.4} ms  max {max:>9.4} ms",
        d.len()
    );
    (p50, p99)
}

fn env(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn encryption_overhead() {
    let n_signups = env("REELM_ENC_SIGNUPS", 200);
    let n_reads = env("REELM_ENC_READS", 5_000);
    let s = Server::start().await;
    let eu = s.cell("eu");

    // Sign-up over HTTP (Argon2id included, as in the product), one at a time.
    let mut signup = Vec::with_capacity(n_signups);
    let mut people: Vec<Client> = Vec::new();
    for i in 0..n_signups {
        let t = Instant::now();
        let c = s.signup(&format!("enc{i}"), "DE").await;
        signup.push(t.elapsed());
        if people.len() < 100 {
            people.push(c);
        }
    }
    // The sealing a sign-up does, on the same cell.
    let mut seal = Vec::with_capacity(n_signups * 10);
    for i in 0..n_signups * 10 {
        let user = UserId::new();
        let email = format!("enc{i}@example.org");
        let t = Instant::now();
        let (key, wrapped) = eu.new_user_key(user).unwrap();
        black_box(wrapped.to_bytes());
        black_box(eu.email_index(&email));
        black_box(eu.seal(&key, user, "accounts", "email_enc", &email));
        black_box(eu.seal(&key, user, "accounts", "birth_date_enc", "1999-04-02"));
        black_box(eu.seal(&key, user, "accounts", "country_enc", "DE"));
        seal.push(t.elapsed());
    }

    // Profile read over HTTP, one at a time, round robin over 100 people.
    for c in &people {
        assert_eq!(c.get("/api/me").await.status, 200);
    }
    let mut me = Vec::with_capacity(n_reads);
    for i in 0..n_reads {
        let c = &people[i % people.len()];
        let t = Instant::now();
        let r = c.get("/api/me").await;
        me.push(t.elapsed());
        assert_eq!(r.status, 200);
    }
    // The opening `/api/me` does, on the stored rows.
    let mut accounts = Vec::new();
    for c in &people {
        accounts.push(eu.store.account(c.user_id()).await.unwrap().unwrap());
    }
    let mut open = Vec::with_capacity(n_reads);
    for i in 0..n_reads {
        let a = &accounts[i % accounts.len()];
        let t = Instant::now();
        let key = eu.user_key(a).unwrap();
        for (column, ct) in [
            ("email_enc", &a.email_enc),
            ("birth_date_enc", &a.birth_date_enc),
            ("country_enc", &a.country_enc),
        ] {
            black_box(eu.unseal(&key, a.user_id, "accounts", column, ct).unwrap());
        }
        open.push(t.elapsed());
    }

    println!("per-field encryption overhead (sequential requests, one client, loopback):");
    let (_, signup_p99) = summary("sign-up request (HTTP, Argon2id)", signup);
    let (_, seal_p99) = summary("  of which sealing (key, index, 3 fields)", seal);
    let (_, me_p99) = summary("profile read /api/me (HTTP)", me);
    let (_, open_p99) = summary("  of which opening (unwrap, 3 fields)", open);
    // Upper bound: the crypto's own p99 over the request's p99 without it (a fixed cost added
    // to every request cannot raise the p99 by more than its own p99).
    let share = |crypto: f64, total: f64| 100.0 * crypto / (total - crypto).max(f64::EPSILON);
    println!(
        "overhead on p99 (upper bound): sign-up {:.3}%, profile read {:.3}%",
        share(seal_p99, signup_p99),
        share(open_p99, me_p99)
    );
    assert!(share(open_p99, me_p99) <= 15.0 && share(seal_p99, signup_p99) <= 15.0);
}
