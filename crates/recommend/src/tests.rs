//! The feeds without HTTP, on a throw-away three-region platform: For You over every region's
//! videos with a reason per item and the model that ranked them, "not interested", visibility
//! gates on For You and Following, and the trending mode for people who are not signed in.

use crate::feed::{self, FeedMode};
use reelm_core::{RegionId, VideoId};
use reelm_platform::gates::{Audience, FeedGate};
use reelm_platform::views::FeedPage;
use reelm_platform::{Platform, Session};
use reelm_store::VideoRow;
use std::collections::BTreeSet;
use std::sync::Arc;
use tempfile::TempDir;

async fn platform() -> (Platform, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let p = reelm_platform::testing::open_temp(dir.path())
        .await
        .unwrap();
    (p, dir)
}

/// A person of `country` (no password, so no Argon2 work) acting in their home cell.
async fn person(p: &Platform, handle: &str, country: &str) -> Session {
    let email = format!("{handle}@example.org");
    let user = reelm_accounts::accounts::create_account(
        p,
        handle,
        &email,
        None,
        "1990-01-01",
        country,
        handle,
    )
    .await
    .unwrap();
    Session::for_user(p, user).await.unwrap()
}

/// Uploads demo clip `i` as `s`.
async fn upload(p: &Platform, s: &Session, i: usize) -> VideoRow {
    let clip = &reelm_media::demo::clips()[i];
    let up = reelm_content::videos::Upload {
        bytes: bytes::Bytes::from_static(clip.video),
        poster: None,
        caption: clip.caption.into(),
        hashtags: clip.hashtags.join(" "),
        language: clip.language.into(),
    };
    reelm_content::videos::upload(p, s.user, &s.home, up)
        .await
        .unwrap()
}

fn ids(page: &FeedPage) -> BTreeSet<VideoId> {
    page.items.iter().map(|i| i.video.id).collect()
}

async fn for_you(p: &Platform, viewer: Option<&Session>, mode: FeedMode) -> FeedPage {
    feed::for_you(p, viewer, None, 10, mode).await.unwrap()
}

#[tokio::test]
async fn for_you_ranks_every_regions_videos_with_reasons_and_a_model_version() {
    let (p, _dir) = platform().await;
    let us = person(&p, "us_maker", "US").await;
    let eu = person(&p, "eu_maker", "DE").await;
    let ap = person(&p, "ap_maker", "JP").await;
    let viewer = person(&p, "fr_viewer", "FR").await;
    let videos = [
        upload(&p, &us, 0).await,
        upload(&p, &eu, 1).await,
        upload(&p, &ap, 2).await,
    ];
    let all: BTreeSet<VideoId> = videos.iter().map(|v| v.id).collect();
    reelm_content::social::set_follow(&p, &viewer, "us_maker", true)
        .await
        .unwrap();

    let page = for_you(&p, Some(&viewer), FeedMode::Personal).await;
    // No ranker has been trained: the hand-set interest weights rank.
    assert_eq!(page.model, "interest-v2");
    assert_eq!(ids(&page), all);
    assert_eq!(page.items.len(), 3, "no repeats");
    assert!(page.next_cursor.is_none());
    for item in &page.items {
        assert!(!item.reason.source.is_empty() && !item.reason.detail.is_empty());
    }
    let followed = page
        .items
        .iter()
        .find(|i| i.video.id == videos[0].id)
        .unwrap();
    assert_eq!(followed.reason.source, "following");
    assert_eq!(followed.reason.detail, "You follow @us_maker");
    assert_eq!(followed.video.creator.handle, "us_maker");
    // Following boosts the creator: their video leads the page.
    assert_eq!(page.items[0].video.id, videos[0].id);

    // Pages of two: the personal cursor remembers what was served.
    let first = feed::for_you(&p, Some(&viewer), None, 2, FeedMode::Personal)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = feed::for_you(&p, Some(&viewer), Some(&cursor), 2, FeedMode::Personal)
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    let mut seen = ids(&first);
    seen.extend(ids(&second));
    assert_eq!(seen, all);
}

#[tokio::test]
async fn not_interested_removes_the_creator_from_for_you() {
    let (p, _dir) = platform().await;
    let boring = person(&p, "boring_one", "US").await;
    let other = person(&p, "other_one", "JP").await;
    let viewer = person(&p, "picky_viewer", "DE").await;
    let b1 = upload(&p, &boring, 0).await;
    let b2 = upload(&p, &boring, 1).await;
    let o = upload(&p, &other, 2).await;
    let before = for_you(&p, Some(&viewer), FeedMode::Personal).await;
    assert_eq!(ids(&before), BTreeSet::from([b1.id, b2.id, o.id]));

    reelm_content::videos::not_interested(&p, &viewer, b1.id)
        .await
        .unwrap();
    // The mark (video and creator) is the viewer's behavior, kept in their home cell only.
    let marks = viewer.home.store.not_interested(viewer.user).await.unwrap();
    assert_eq!(marks, (vec![b1.id], vec![boring.user]));
    assert_eq!(viewer.home.id().as_str(), "eu");
    for c in p.cells().iter().filter(|c| c.id().as_str() != "eu") {
        assert_eq!(c.store.db.count_rows("not_interested").await.unwrap(), 0);
    }
    // Both of the creator's videos are gone, in either mode; others still see them.
    let after = for_you(&p, Some(&viewer), FeedMode::Personal).await;
    assert_eq!(ids(&after), BTreeSet::from([o.id]));
    let trending = for_you(&p, Some(&viewer), FeedMode::Trending).await;
    assert_eq!(ids(&trending), BTreeSet::from([o.id]));
    let someone_else = person(&p, "not_picky", "FR").await;
    assert_eq!(
        ids(&for_you(&p, Some(&someone_else), FeedMode::Personal).await),
        BTreeSet::from([b1.id, b2.id, o.id])
    );
}

/// Refuses one video to viewers whose home is one region.
struct HiddenIn {
    video: VideoId,
    region: RegionId,
}

impl FeedGate for HiddenIn {
    fn name(&self) -> &str {
        "hidden_in_region"
    }

    fn admits(&self, audience: &Audience, video: &VideoRow) -> bool {
        !(video.id == self.video && audience.region.as_ref() == Some(&self.region))
    }
}

#[tokio::test]
async fn a_feed_gate_removes_a_video_from_for_you_and_following() {
    let (p, _dir) = platform().await;
    let creator = person(&p, "gated_maker", "US").await;
    let eu_fan = person(&p, "gated_fan_eu", "DE").await;
    let us_fan = person(&p, "gated_fan_us", "US").await;
    let kept = upload(&p, &creator, 0).await;
    let hidden = upload(&p, &creator, 1).await;
    for fan in [&eu_fan, &us_fan] {
        reelm_content::social::set_follow(&p, fan, "gated_maker", true)
            .await
            .unwrap();
    }
    let both = BTreeSet::from([kept.id, hidden.id]);
    let following = |s: &Session| {
        let s = s.clone();
        let p = &p;
        async move {
            let page = feed::following(p, &s, None, 10).await.unwrap();
            page.items
                .iter()
                .map(|i| i.video.id)
                .collect::<BTreeSet<_>>()
        }
    };
    assert_eq!(following(&eu_fan).await, both);
    assert_eq!(
        ids(&for_you(&p, Some(&eu_fan), FeedMode::Personal).await),
        both
    );

    p.add_feed_gate(Arc::new(HiddenIn {
        video: hidden.id,
        region: RegionId::new("eu").unwrap(),
    }));
    let only_kept = BTreeSet::from([kept.id]);
    assert_eq!(following(&eu_fan).await, only_kept);
    assert_eq!(
        ids(&for_you(&p, Some(&eu_fan), FeedMode::Personal).await),
        only_kept
    );
    assert_eq!(
        ids(&for_you(&p, Some(&eu_fan), FeedMode::Trending).await),
        only_kept
    );
    // The gate sees who is looking: a viewer at home in us still gets both.
    assert_eq!(following(&us_fan).await, both);
    assert_eq!(
        ids(&for_you(&p, Some(&us_fan), FeedMode::Personal).await),
        both
    );
    // Signed out, the audience has no region.
    assert_eq!(ids(&for_you(&p, None, FeedMode::Trending).await), both);
}

#[tokio::test]
async fn trending_works_without_a_session() {
    let (p, _dir) = platform().await;
    let a = person(&p, "trend_a", "US").await;
    let b = person(&p, "trend_b", "DE").await;
    let c = person(&p, "trend_c", "JP").await;
    let quiet = upload(&p, &a, 0).await;
    let liked = upload(&p, &b, 1).await;
    let also_quiet = upload(&p, &c, 2).await;
    // Two likes lift one video above the others (before the pool is first built, so the pool
    // holds the new counts).
    for fan in [&a, &c] {
        reelm_content::videos::set_like(&p, fan, liked.id, true)
            .await
            .unwrap();
    }

    let page = for_you(&p, None, FeedMode::Personal).await;
    // Without a session, "personal" falls back to trending: no profiling at all.
    assert_eq!(page.model, "trending-v2");
    assert_eq!(
        ids(&page),
        BTreeSet::from([quiet.id, liked.id, also_quiet.id])
    );
    assert_eq!(page.items[0].video.id, liked.id);
    assert_eq!(page.items[0].video.like_count, 2);
    assert!(!page.items[0].video.liked_by_me);
    for item in &page.items {
        assert_eq!(item.reason.source, "fresh");
        assert_eq!(item.reason.detail, "New: posted less than an hour ago");
    }

    // The score keyset pages without repeats.
    let first = feed::for_you(&p, None, None, 2, FeedMode::Trending)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0].video.id, liked.id);
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = feed::for_you(&p, None, Some(&cursor), 2, FeedMode::Trending)
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert!(second.next_cursor.is_none());
    assert!(!ids(&first).contains(&second.items[0].video.id));
}
