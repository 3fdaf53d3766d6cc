//! `reelm bench freshness`: how long from an event being accepted to its effect on the feed.
//!
//! Two measurements, because the feed has two paths (see [`reelm_events`]):
//!
//! 1. **Next request** (end to end, over HTTP): a person opens For You, marks the first video
//!    "not interested", and asks for the next page at once. The time from the event's `204`
//!    to the next page being received, and whether that page still shows the creator (it must
//!    not). The person's own state is read synchronously, so this is bounded by one request.
//! 2. **Regional state** (the consumer): events appended through the region's log at a fixed
//!    rate from many tasks; for each, the time from the append returning (durable) to the
//!    feed-state consumer having applied it (regional trending, co-engagement). With NATS
//!    configured this includes the relay to JetStream and back.

use crate::bench::Dataset;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reelm_core::UserId;
use reelm_events::NewEvent;
use reelm_platform::platform::Platform;
use reelm_store::EventKind;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct Latencies {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latencies {
    fn from(mut ms: Vec<f64>) -> Latencies {
        ms.sort_by(f64::total_cmp);
        let pct = |q: f64| {
            if ms.is_empty() {
                0.0
            } else {
                ms[((ms.len() - 1) as f64 * q).round() as usize]
            }
        };
        Latencies {
            samples: ms.len(),
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FreshnessReport {
    /// Event accepted → next For You page received, per trial.
    pub next_request: Latencies,
    /// Trials whose next page still showed the creator marked "not interested".
    pub stale_pages: usize,
    /// Trials that could not run (an empty first page, an HTTP error).
    pub failed_trials: usize,
    /// Append returned → applied by the feed-state consumer.
    pub consumer: Latencies,
    pub consumer_rate_target: f64,
    pub consumer_rate_achieved: f64,
    pub consumer_not_applied: usize,
    pub event_log: &'static str,
}

/// Runs `trials` end-to-end trials against `base`, then `rate` events/s into the regions'
/// logs for `duration`.
pub async fn run(
    p: Arc<Platform>,
    base: &str,
    data: &Dataset,
    sessions: &[(UserId, String)],
    trials: usize,
    rate: f64,
    duration: Duration,
) -> FreshnessReport {
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut rng = StdRng::seed_from_u64(17);
    let mut next_request = Vec::new();
    let mut stale_pages = 0;
    let mut failed_trials = 0;
    for _ in 0..trials {
        let (_, cookie) = &sessions[rng.random_range(0..sessions.len())];
        let page = get_json(&client, base, "/api/feed/foryou?limit=10", cookie).await;
        let first = page.as_ref().and_then(|p| {
            let item = p["items"].get(0)?;
            Some((
                id_text(&item["video"]["id"]),
                id_text(&item["video"]["creator"]["id"]),
            ))
        });
        let Some((video, creator)) = first else {
            failed_trials += 1;
            continue;
        };
        let path = format!("/api/videos/{video}/not-interested");
        if !post(&client, base, &path, cookie).await {
            failed_trials += 1;
            continue;
        }
        let accepted = Instant::now();
        let Some(next) = get_json(&client, base, "/api/feed/foryou?limit=10", cookie).await else {
            failed_trials += 1;
            continue;
        };
        next_request.push(accepted.elapsed().as_secs_f64() * 1000.0);
        let still_there = next["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|i| id_text(&i["video"]["creator"]["id"]) == creator)
        });
        if still_there {
            stale_pages += 1;
        }
    }

    // The consumer path: open-loop appends of views by random people of each region.
    let tasks = 32usize;
    let started = Instant::now();
    let deadline = started + duration;
    let interval = Duration::from_secs_f64(tasks as f64 / rate.max(1.0));
    let data = Arc::new(data.clone());
    let mut handles = Vec::new();
    for t in 0..tasks {
        let p = p.clone();
        let data = data.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(100 + t as u64);
            let mut lags = Vec::new();
            let mut not_applied = 0;
            let mut next_at = started + interval.mul_f64(t as f64 / tasks as f64);
            while next_at < deadline {
                tokio::time::sleep_until(next_at.into()).await;
                next_at += interval;
                let (user, ci) = data.people[rng.random_range(0..data.people.len())];
                let video = data.videos[rng.random_range(0..data.videos.len())];
                let cell = &p.cells()[ci];
                let completed = rng.random_bool(0.4);
                let event = NewEvent {
                    user,
                    video,
                    kind: if completed {
                        EventKind::Complete
                    } else {
                        EventKind::View
                    },
                    watch_ms: rng.random_range(500..15_000),
                };
                let Ok(row) = cell.events.append(event).await else {
                    not_applied += 1;
                    continue;
                };
                let accepted = Instant::now();
                if cell
                    .events
                    .state
                    .wait_applied(row.seq, Duration::from_secs(10))
                    .await
                {
                    lags.push(accepted.elapsed().as_secs_f64() * 1000.0);
                } else {
                    not_applied += 1;
                }
            }
            (lags, not_applied)
        }));
    }
    let mut lags = Vec::new();
    let mut consumer_not_applied = 0;
    for h in handles {
        if let Ok((l, n)) = h.await {
            lags.extend(l);
            consumer_not_applied += n;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let achieved = lags.len() as f64 / seconds;
    let nats = p.cells().iter().any(|c| c.events.uses_nats());
    FreshnessReport {
        next_request: Latencies::from(next_request),
        stale_pages,
        failed_trials,
        consumer: Latencies::from(lags),
        consumer_rate_target: rate,
        consumer_rate_achieved: achieved,
        consumer_not_applied,
        event_log: if nats {
            "region store + NATS JetStream"
        } else {
            "region store"
        },
    }
}

/// A JSON id (a string or a number) as text.
fn id_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn request(
    method: &str,
    base: &str,
    path: &str,
    cookie: &str,
) -> Option<hyper::Request<Full<bytes::Bytes>>> {
    hyper::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("x-csrf-token", "bench")
        .header(
            "cookie",
            format!("reelm_session={cookie}; reelm_csrf=bench"),
        )
        .body(Full::new(bytes::Bytes::new()))
        .ok()
}

async fn get_json(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<bytes::Bytes>>,
    base: &str,
    path: &str,
    cookie: &str,
) -> Option<serde_json::Value> {
    let resp = client
        .request(request("GET", base, path, cookie)?)
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&body).ok()
}

async fn post(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<bytes::Bytes>>,
    base: &str,
    path: &str,
    cookie: &str,
) -> bool {
    let Some(req) = request("POST", base, path, cookie) else {
        return false;
    };
    match client.request(req).await {
        Ok(resp) => {
            let ok = resp.status().is_success();
            let _ = resp.into_body().collect().await;
            ok
        }
        Err(_) => false,
    }
}

/// The report as text.
pub fn render(r: &FreshnessReport) -> String {
    format!(
        "event log: {}\n\
         next request after \"not interested\": {} trials, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         pages still showing the creator: {}; failed trials: {}\n\
         consumer (append → applied to regional feed state) at {:.0} events/s target ({:.0} achieved): \
         {} events, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; not applied within 10 s: {}\n",
        r.event_log,
        r.next_request.samples,
        r.next_request.p50_ms,
        r.next_request.p99_ms,
        r.next_request.max_ms,
        r.stale_pages,
        r.failed_trials,
        r.consumer_rate_target,
        r.consumer_rate_achieved,
        r.consumer.samples,
        r.consumer.p50_ms,
        r.consumer.p99_ms,
        r.consumer.max_ms,
        r.consumer_not_applied,
    )
}
