//! The demo community: creators who posted the embedded demo clips, a few hundred viewers
//! across the three regions with interests, follows and a realistic spread of views, likes and
//! comments. Everything goes through the same operations the API uses, so seeded data obeys
//! the same residency rules as real data.

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use reelm_accounts::accounts;
use reelm_content::{social, videos};
use reelm_core::{UserId, VideoId};
use reelm_platform::Error;
use reelm_platform::Session;
use reelm_platform::platform::Platform;
use std::sync::Arc;

/// The people a visitor can log in as (password [`DEMO_PASSWORD`]).
pub const DEMO_LOGINS: &[(&str, &str)] = &[("demo_us", "US"), ("demo_eu", "DE"), ("demo_ap", "JP")];
pub const DEMO_PASSWORD: &str = "reelm-demo";

const FIRST: &[&str] = &[
    "ana", "ben", "chen", "dara", "eli", "fatima", "gus", "hana", "ivan", "jo", "kai", "lena",
    "mo", "nia", "omar", "pia", "quinn", "ravi", "sara", "tom", "uma", "vic", "wen", "xavi",
    "yuki", "zoe", "luca", "mila", "noah", "ines",
];
const US: &[&str] = &["US"];
const EU: &[&str] = &[
    "DE", "FR", "ES", "IT", "NL", "IE", "SE", "PL", "GB", "CH", "AT", "PT",
];
const AP: &[&str] = &["JP", "SG", "IN", "BR", "AU", "KR", "MX", "ZA", "CA", "ID"];
const COMMENTS: &[&str] = &[
    "love this",
    "so good 😍",
    "again!",
    "how did you make this?",
    "this is my whole mood",
    "wow",
    "need more of these",
    "the colors!",
    "saving this",
    "ok this is art",
    "haha",
    "the sound 🔥",
    "underrated",
    "first time seeing this, amazing",
];

#[derive(Debug, Default)]
pub struct SeedSummary {
    pub reused: bool,
    pub people: usize,
    pub videos: usize,
    pub follows: usize,
    pub views: usize,
    pub likes: usize,
    pub comments: usize,
}

fn country_for(rng: &mut StdRng) -> &'static str {
    let pool = match rng.random_range(0..100) {
        0..35 => US,
        35..70 => EU,
        _ => AP,
    };
    pool.choose(rng).copied().unwrap_or("US")
}

async fn viewer(p: &Platform, user: UserId) -> Result<Session, Error> {
    let home = p
        .home_of(user)
        .await?
        .ok_or_else(|| Error::Internal("seeded person has no home".into()))?;
    Ok(Session {
        user,
        home,
        token_hash: String::new(),
    })
}

/// Seeds the demo community unless the directory already has people (then the data is reused).
/// `people` is the number of viewers besides the creators and demo logins (≥ 300 for the demo).
pub async fn seed_demo(
    p: &Arc<Platform>,
    people: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<SeedSummary, Error> {
    if p.directory.count().await? > 0 {
        return Ok(SeedSummary {
            reused: true,
            ..Default::default()
        });
    }
    let mut rng = StdRng::seed_from_u64(2026);
    let mut s = SeedSummary::default();
    let clips = reelm_media::demo::clips();

    progress("creating demo logins");
    let hash = reelm_platform::session::hash_password(DEMO_PASSWORD.into()).await?;
    let mut logins = Vec::new();
    for (handle, country) in DEMO_LOGINS {
        let email = format!("{handle}@demo.reelm.invalid");
        let u = accounts::create_account(
            p,
            handle,
            &email,
            Some(hash.clone()),
            "1995-06-15",
            country,
            &handle.replace('_', " "),
        )
        .await?;
        logins.push(u);
    }

    progress("creating creators and publishing the demo clips");
    let creator_count = clips.len().div_ceil(2);
    let mut creators = Vec::new();
    for i in 0..creator_count {
        let clip = &clips[i * 2 % clips.len()];
        let topic = clip.hashtags.first().copied().unwrap_or("art");
        let handle = format!("{}.{}", FIRST[i % FIRST.len()], topic);
        let country = country_for(&mut rng);
        let display = format!(
            "{} · {}",
            capitalize(FIRST[i % FIRST.len()]),
            capitalize(topic)
        );
        let u = accounts::create_account(
            p,
            &handle,
            &format!("{handle}@demo.reelm.invalid"),
            accounts::NO_PASSWORD,
            "1990-01-01",
            country,
            &display,
        )
        .await?;
        creators.push(u);
    }
    // Each clip: its creator, its hashtags; spread over the last two weeks.
    let mut catalog: Vec<(VideoId, UserId, &'static [&'static str])> = Vec::new();
    for (i, clip) in clips.iter().enumerate() {
        let creator = creators[i / 2];
        let v = viewer(p, creator).await?;
        let row = videos::upload(
            p,
            creator,
            &v.home,
            videos::Upload {
                bytes: bytes::Bytes::from_static(clip.video),
                poster: Some(bytes::Bytes::from_static(clip.poster)),
                caption: clip.caption.to_string(),
                hashtags: clip.hashtags.join(" "),
                language: clip.language.to_string(),
            },
        )
        .await?;
        let age_ms = rng.random_range(0..14 * 24 * 3600 * 1000_i64);
        v.home
            .store
            .set_video_created_at(row.id, row.created_at - age_ms)
            .await?;
        catalog.push((row.id, creator, clip.hashtags));
        s.videos += 1;
    }

    progress("creating viewers with interests, follows, views, likes and comments");
    let topics: Vec<&str> = {
        let mut t: Vec<&str> = clips
            .iter()
            .flat_map(|c| c.hashtags.iter().copied())
            .collect();
        t.sort();
        t.dedup();
        t
    };
    let mut everyone = logins.clone();
    for i in 0..people {
        let handle = format!("{}{}", FIRST[i % FIRST.len()], 100 + i);
        let country = country_for(&mut rng);
        let year = rng.random_range(1960..2008);
        let birth = format!(
            "{year}-{:02}-{:02}",
            rng.random_range(1..=12),
            rng.random_range(1..=28)
        );
        let u = accounts::create_account(
            p,
            &handle,
            &format!("{handle}@demo.reelm.invalid"),
            accounts::NO_PASSWORD,
            &birth,
            country,
            &capitalize(FIRST[i % FIRST.len()]),
        )
        .await?;
        everyone.push(u);
    }
    s.people = everyone.len() + creators.len();
    let handles: Vec<String> = {
        let mut h = Vec::new();
        for c in &creators {
            h.push(
                p.directory
                    .by_id(*c)
                    .await?
                    .map(|e| e.handle)
                    .unwrap_or_default(),
            );
        }
        h
    };
    for (n, &user) in everyone.iter().enumerate() {
        if n % 50 == 0 {
            progress(&format!("  people {n}/{}", everyone.len()));
        }
        let v = viewer(p, user).await?;
        let interests: Vec<&str> = topics.choose_multiple(&mut rng, 2).copied().collect();
        let likes_topic = |tags: &[&str]| tags.iter().any(|t| interests.contains(t));
        // Follow creators who post what this person likes, plus a few at random.
        for (ci, handle) in handles.iter().enumerate() {
            let posts_interest = catalog
                .iter()
                .any(|(_, c, tags)| *c == creators[ci] && likes_topic(tags));
            let pr = if posts_interest { 0.45 } else { 0.04 };
            if creators[ci] != user && rng.random_bool(pr) {
                social::set_follow(p, &v, handle, true).await?;
                s.follows += 1;
            }
        }
        let mut order: Vec<usize> = (0..catalog.len()).collect();
        order.shuffle(&mut rng);
        let watched = rng.random_range(8..24);
        for &vi in order.iter().take(watched) {
            let (vid, _, tags) = catalog[vi];
            let interested = likes_topic(tags);
            let completed = rng.random_bool(if interested { 0.7 } else { 0.25 });
            let watch_ms = if completed {
                rng.random_range(5000..12000)
            } else {
                rng.random_range(400..4000)
            };
            videos::record_view(p, &v, vid, watch_ms, completed).await?;
            s.views += 1;
            if rng.random_bool(if interested { 0.45 } else { 0.05 }) {
                videos::set_like(p, &v, vid, true).await?;
                s.likes += 1;
            }
            if rng.random_bool(if interested { 0.08 } else { 0.01 }) {
                let text = COMMENTS.choose(&mut rng).copied().unwrap_or("nice");
                videos::add_comment(p, &v, vid, text).await?;
                s.comments += 1;
            }
        }
    }
    // The pool's rows were added as the videos were uploaded, before any of the views and
    // likes above: rebuild it from the stores so the first pages rank by the real counts.
    p.content_removed();
    Ok(s)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}
