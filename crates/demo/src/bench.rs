//! `reelm bench api`: a bounded load generator over real HTTP on loopback against a platform
//! loaded with a synthetic community (default 100k people, 1M interactions).
//!
//! The dataset is bulk-loaded through the store's registry-checked bulk insert, with the same
//! placement rule as sign-up (people in their country's region, their behavior in their home
//! cell, personal fields encrypted under their own key). Counters are computed while loading.

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reelm_core::{UserId, VideoId};
use reelm_platform::Error;
use reelm_platform::platform::Platform;
use reelm_store::registry::Scope;
use reelm_store::{BulkValue, BulkValue::*};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct DatasetSpec {
    pub people: usize,
    pub interactions: usize,
    /// One person in this many is a creator.
    pub creator_every: usize,
    pub videos_per_creator: usize,
    /// Put every person in the `us` region instead of spreading them over three.
    pub one_region: bool,
}

impl Default for DatasetSpec {
    fn default() -> Self {
        DatasetSpec {
            people: 100_000,
            interactions: 1_000_000,
            creator_every: 20,
            videos_per_creator: 10,
            one_region: false,
        }
    }
}

/// What the load generator needs to know about the loaded data.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub people: Vec<(UserId, usize)>,
    pub videos: Vec<VideoId>,
    pub creator_handles: Vec<String>,
}

const BENCH_COUNTRIES: [&str; 3] = ["US", "DE", "JP"];

/// Loads the synthetic community; `progress` gets a line per stage.
pub async fn load(
    p: &Platform,
    spec: &DatasetSpec,
    progress: &mut dyn FnMut(String),
) -> Result<Dataset, Error> {
    let mut rng = StdRng::seed_from_u64(7);
    let now = reelm_core::now_ms();
    let cells = p.cells();
    let cell_of_country: Vec<usize> = BENCH_COUNTRIES
        .iter()
        .map(|c| {
            cells
                .iter()
                .position(|cell| cell.id() == &p.config.region_for_country(c).id)
                .unwrap_or(0)
        })
        .collect();
    progress(format!("people: {}", spec.people));
    let mut people = Vec::with_capacity(spec.people);
    let mut dir_rows = Vec::new();
    let mut accounts: Vec<Vec<Vec<BulkValue>>> = vec![Vec::new(); cells.len()];
    let mut profiles: Vec<Vec<Vec<BulkValue>>> = vec![Vec::new(); cells.len()];
    let mut keys: Vec<Vec<Vec<BulkValue>>> = vec![Vec::new(); cells.len()];
    let mut creator_handles = Vec::new();
    let mut creators = Vec::new();
    for i in 0..spec.people {
        let user = UserId::new();
        let k = if spec.one_region { 0 } else { i % 3 };
        let country = BENCH_COUNTRIES[k];
        let ci = cell_of_country[k];
        let cell = &cells[ci];
        let handle = format!("bench{i}");
        let (key, wrapped) = cell.new_user_key(user)?;
        let email = format!("{handle}@bench.invalid");
        dir_rows.push(vec![
            Int(user.0),
            Text(handle.clone()),
            Text(cell.id().to_string()),
            Int(now),
        ]);
        accounts[ci].push(vec![
            Int(user.0),
            Text(cell.email_index(&email)),
            Bytes(cell.seal(&key, user, "accounts", "email_enc", &email)),
            Null,
            Bytes(cell.seal(&key, user, "accounts", "birth_date_enc", "1990-01-01")),
            Bytes(cell.seal(&key, user, "accounts", "country_enc", country)),
            Int(now),
        ]);
        keys[ci].push(vec![
            Int(user.0),
            Text(wrapped.key_id.clone()),
            Bytes(wrapped.to_bytes()),
            Int(now),
        ]);
        profiles[ci].push(vec![
            Int(user.0),
            Text(handle.clone()),
            Text(handle.clone()),
            Text(String::new()),
            Int(now),
        ]);
        if i % spec.creator_every == 0 {
            creators.push((user, ci));
            creator_handles.push(handle);
        }
        people.push((user, ci));
    }
    p.directory
        .db
        .bulk_insert(
            Scope::Directory,
            "directory_users",
            &["user_id", "handle", "region", "created_at"],
            &dir_rows,
        )
        .await?;
    for (ci, cell) in cells.iter().enumerate() {
        let db = &cell.store.db;
        db.bulk_insert(
            Scope::Cell,
            "accounts",
            &[
                "user_id",
                "email_index",
                "email_enc",
                "password_hash",
                "birth_date_enc",
                "country_enc",
                "created_at",
            ],
            &accounts[ci],
        )
        .await?;
        db.bulk_insert(
            Scope::Cell,
            "user_keys",
            &["user_id", "key_id", "wrapped_key", "created_at"],
            &keys[ci],
        )
        .await?;
        db.bulk_insert(
            Scope::Cell,
            "profiles",
            &["user_id", "handle", "display_name", "bio", "created_at"],
            &profiles[ci],
        )
        .await?;
    }
    progress(format!(
        "videos: {}",
        creators.len() * spec.videos_per_creator
    ));
    let mut videos = Vec::new();
    let mut video_rows: Vec<Vec<(VideoId, UserId, i64)>> = vec![Vec::new(); cells.len()];
    for (creator, ci) in &creators {
        for _ in 0..spec.videos_per_creator {
            let id = VideoId::new();
            let at = now - rng.random_range(0..30 * 24 * 3600 * 1000_i64);
            videos.push((id, *ci, *creator));
            video_rows[*ci].push((id, *creator, at));
        }
    }
    // Interactions: 30% follows, 45% views, 25% likes, each by a random person, targets skewed
    // toward popular creators and videos (squared uniform ≈ a long tail).
    progress(format!("interactions: {}", spec.interactions));
    let skewed =
        |rng: &mut StdRng, n: usize| ((rng.random::<f64>().powi(2)) * n as f64) as usize % n.max(1);
    let mut follows: Vec<HashMap<(i64, i64), ()>> = vec![HashMap::new(); cells.len()];
    let mut likes: Vec<HashMap<(i64, i64), ()>> = vec![HashMap::new(); cells.len()];
    let mut views: Vec<Vec<Vec<BulkValue>>> = vec![Vec::new(); cells.len()];
    let mut video_counts: HashMap<VideoId, (i64, i64)> = HashMap::new();
    let mut follower_counts: HashMap<UserId, i64> = HashMap::new();
    let mut following_counts: HashMap<UserId, i64> = HashMap::new();
    for n in 0..spec.interactions {
        let (user, ci) = people[rng.random_range(0..people.len())];
        match n % 20 {
            0..6 => {
                let (creator, _) = creators[skewed(&mut rng, creators.len())];
                if creator != user && follows[ci].insert((user.0, creator.0), ()).is_none() {
                    *follower_counts.entry(creator).or_default() += 1;
                    *following_counts.entry(user).or_default() += 1;
                }
            }
            6..15 => {
                let (vid, _, _) = videos[skewed(&mut rng, videos.len())];
                let watch = rng.random_range(300..15_000);
                views[ci].push(vec![
                    Int(reelm_core::ids::next_id()),
                    Int(user.0),
                    Int(vid.0),
                    Int(watch),
                    Int(i64::from(watch > 5000)),
                    Int(now),
                ]);
                video_counts.entry(vid).or_default().1 += 1;
            }
            _ => {
                let (vid, _, _) = videos[skewed(&mut rng, videos.len())];
                if likes[ci].insert((user.0, vid.0), ()).is_none() {
                    video_counts.entry(vid).or_default().0 += 1;
                }
            }
        }
    }
    for (ci, cell) in cells.iter().enumerate() {
        let db = &cell.store.db;
        let rows: Vec<Vec<BulkValue>> = video_rows[ci]
            .iter()
            .map(|(id, creator, at)| {
                let (l, v) = video_counts.get(id).copied().unwrap_or_default();
                vec![
                    Int(id.0),
                    Int(creator.0),
                    Text("bench clip".into()),
                    Text("bench load".into()),
                    Text("en".into()),
                    Int(6000),
                    Int(360),
                    Int(640),
                    Text("published".into()),
                    Text(format!("videos/{id}.mp4")),
                    Null,
                    Int(*at),
                    Int(l),
                    Int(0),
                    Int(v),
                ]
            })
            .collect();
        db.bulk_insert(
            Scope::Cell,
            "videos",
            &[
                "id",
                "creator_id",
                "caption",
                "hashtags",
                "language",
                "duration_ms",
                "width",
                "height",
                "status",
                "media_key",
                "poster_key",
                "created_at",
                "like_count",
                "comment_count",
                "view_count",
            ],
            &rows,
        )
        .await?;
        let f: Vec<Vec<BulkValue>> = follows[ci]
            .keys()
            .map(|(a, b)| vec![Int(*a), Int(*b), Int(now)])
            .collect();
        db.bulk_insert(
            Scope::Cell,
            "follows",
            &["follower_id", "followee_id", "created_at"],
            &f,
        )
        .await?;
        let l: Vec<Vec<BulkValue>> = likes[ci]
            .keys()
            .map(|(a, b)| vec![Int(*a), Int(*b), Int(now)])
            .collect();
        db.bulk_insert(
            Scope::Cell,
            "likes",
            &["user_id", "video_id", "created_at"],
            &l,
        )
        .await?;
        db.bulk_insert(
            Scope::Cell,
            "view_events",
            &[
                "id",
                "user_id",
                "video_id",
                "watch_ms",
                "completed",
                "created_at",
            ],
            &views[ci],
        )
        .await?;
        progress(format!(
            "region {}: {} videos, {} follows, {} likes, {} views",
            cell.id(),
            rows.len(),
            f.len(),
            l.len(),
            views[ci].len()
        ));
    }
    let home: HashMap<UserId, usize> = people.iter().copied().collect();
    for (user, n) in follower_counts {
        let cell = &cells[home[&user]];
        cell.store
            .adjust_profile_counters(
                user,
                reelm_store::ProfileCounterDelta {
                    followers: n,
                    ..Default::default()
                },
            )
            .await?;
    }
    for (user, n) in following_counts {
        let cell = &cells[home[&user]];
        cell.store
            .adjust_profile_counters(
                user,
                reelm_store::ProfileCounterDelta {
                    following: n,
                    ..Default::default()
                },
            )
            .await?;
    }
    Ok(Dataset {
        people,
        videos: videos.iter().map(|(v, _, _)| *v).collect(),
        creator_handles,
    })
}

/// Latency summary of one scenario.
#[derive(Debug, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    /// Target requests per second (open loop), or `None` for closed loop.
    pub target_rate: Option<f64>,
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub throughput_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    SignUp,
    Like,
    View,
    Follow,
    FollowingFeed,
    ForYouFeed,
    Me,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::FollowingFeed,
        Scenario::ForYouFeed,
        Scenario::Me,
        Scenario::Like,
        Scenario::View,
        Scenario::Follow,
        Scenario::SignUp,
    ];
    /// Feed and profile reads, which get an open-loop run at a fixed rate too.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Scenario::FollowingFeed | Scenario::ForYouFeed | Scenario::Me
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::SignUp => "sign-up",
            Scenario::Like => "like",
            Scenario::View => "view",
            Scenario::Follow => "follow",
            Scenario::FollowingFeed => "following-feed",
            Scenario::ForYouFeed => "for-you-feed",
            Scenario::Me => "profile-read",
        }
    }
}

/// Logged-in sessions for a sample of people, created directly in their home cells.
pub async fn sessions(
    p: &Platform,
    data: &Dataset,
    n: usize,
) -> Result<Vec<(UserId, String)>, Error> {
    let mut rng = StdRng::seed_from_u64(11);
    let mut out = Vec::new();
    let now = reelm_core::now_ms();
    for _ in 0..n {
        let (user, ci) = data.people[rng.random_range(0..data.people.len())];
        let token = reelm_platform::session::random_token();
        p.cells()[ci]
            .store
            .insert_session(
                &reelm_platform::session::token_hash(&token),
                user,
                now,
                now + 3_600_000,
            )
            .await?;
        out.push((user, format!("{}.{token}", p.cells()[ci].id())));
    }
    Ok(out)
}

/// Runs `clients` concurrent clients doing `scenario` against `base` for `duration`.
///
/// With `rate: None` each client sends its next request as soon as the last one answered
/// (closed loop: the highest throughput the platform sustains). With `rate: Some(r)` the
/// clients together send `r` requests per second on a fixed schedule (open loop), and latency
/// counts from the *scheduled* send time, so a stalled server is not hidden by clients that
/// politely waited (no coordinated omission).
pub async fn run_scenario(
    base: &str,
    scenario: Scenario,
    clients: usize,
    rate: Option<f64>,
    duration: Duration,
    data: Arc<Dataset>,
    sessions: Arc<Vec<(UserId, String)>>,
) -> ScenarioResult {
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(clients)
        .build_http();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let base = base.to_owned();
        let data = data.clone();
        let sessions = sessions.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(1000 + c as u64);
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut n = 0u64;
            // Open loop: client c sends at start + (c + k·clients) / rate.
            let interval = rate.map(|r| Duration::from_secs_f64(clients as f64 / r));
            let mut next_at = started + interval.map(|i| i.mul_f64(c as f64 / clients as f64)).unwrap_or_default();
            while Instant::now() < deadline {
                n += 1;
                if interval.is_some() {
                    tokio::time::sleep_until(next_at.into()).await;
                    if next_at >= deadline {
                        break;
                    }
                }
                let (_, cookie) = &sessions[rng.random_range(0..sessions.len())];
                let video = data.videos[rng.random_range(0..data.videos.len())];
                let (method, path, body): (&str, String, Option<String>) = match scenario {
                    Scenario::FollowingFeed => ("GET", "/api/feed/following?limit=10".into(), None),
                    Scenario::ForYouFeed => ("GET", "/api/feed/foryou?limit=10".into(), None),
                    Scenario::Me => ("GET", "/api/me".into(), None),
                    Scenario::Like => ("POST", format!("/api/videos/{video}/like"), None),
                    Scenario::View => ("POST", format!("/api/videos/{video}/views"), Some(r#"{"watch_ms":3200,"completed":false}"#.into())),
                    Scenario::Follow => {
                        let h = &data.creator_handles[rng.random_range(0..data.creator_handles.len())];
                        ("POST", format!("/api/users/{h}/follow"), None)
                    }
                    Scenario::SignUp => (
                        "POST",
                        "/api/auth/signup".into(),
                        Some(format!(
                            r#"{{"handle":"load{c}x{n}x{}","email":"load{c}x{n}@bench.invalid","password":"correct horse battery","birth_date":"1990-01-01","country":"{}"}}"#,
                            rng.random_range(0..1_000_000),
                            BENCH_COUNTRIES[(n % 3) as usize]
                        )),
                    ),
                };
                let mut req = hyper::Request::builder()
                    .method(method)
                    .uri(format!("{base}{path}"))
                    .header("content-type", "application/json")
                    .header("x-csrf-token", "bench");
                if scenario != Scenario::SignUp {
                    req = req.header("cookie", format!("reelm_session={cookie}; reelm_csrf=bench"));
                }
                let Ok(req) = req.body(Full::new(bytes::Bytes::from(body.unwrap_or_default()))) else {
                    errors += 1;
                    continue;
                };
                let t = if interval.is_some() { next_at } else { Instant::now() };
                if let Some(i) = interval {
                    next_at += i;
                }
                match client.request(req).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let _ = resp.into_body().collect().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        if !ok {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((lat, e)) = t.await {
            all.extend(lat);
            errors += e;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        if all.is_empty() {
            0.0
        } else {
            all[((all.len() - 1) as f64 * q).round() as usize]
        }
    };
    ScenarioResult {
        scenario: scenario.name().into(),
        target_rate: rate,
        requests: all.len(),
        errors,
        seconds,
        throughput_per_s: all.len() as f64 / seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: all.last().copied().unwrap_or(0.0),
    }
}

pub fn render(results: &[ScenarioResult]) -> String {
    let mut out = format!(
        "{:<24}{:>12}{:>10}{:>8}{:>12}{:>10}{:>10}{:>10}\n",
        "scenario", "load", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms"
    );
    for r in results {
        let load = r
            .target_rate
            .map(|t| format!("{t:.0}/s"))
            .unwrap_or_else(|| "closed".into());
        out.push_str(&format!(
            "{:<24}{:>12}{:>10}{:>8}{:>12.0}{:>10.2}{:>10.2}{:>10.1}\n",
            r.scenario,
            load,
            r.requests,
            r.errors,
            r.throughput_per_s,
            r.p50_ms,
            r.p99_ms,
            r.max_ms
        ));
    }
    out
}
