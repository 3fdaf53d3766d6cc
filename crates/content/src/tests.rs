//! Videos and the social graph without HTTP, on a throw-away three-region platform: uploads
//! land in the creator's home cell, a like or comment stays in the viewer's home cell while
//! counters travel through the gateway (ledgered at the source), follows move both counters.

use crate::social;
use crate::videos::{self, Upload};
use reelm_core::{RegionId, UserId};
use reelm_platform::{Cell, Error, Platform, Session};
use reelm_store::{Keyset, VideoRow};
use serde_json::Value;
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

fn clip_upload(i: usize) -> Upload {
    let clip = &reelm_media::demo::clips()[i];
    Upload {
        bytes: bytes::Bytes::from_static(clip.video),
        poster: Some(bytes::Bytes::from_static(clip.poster)),
        caption: clip.caption.into(),
        hashtags: clip.hashtags.join(" "),
        language: clip.language.into(),
    }
}

async fn upload(p: &Platform, s: &Session, i: usize) -> VideoRow {
    videos::upload(p, s.user, &s.home, clip_upload(i))
        .await
        .unwrap()
}

fn code<T>(r: Result<T, Error>) -> &'static str {
    match r {
        Ok(_) => panic!("the operation should fail"),
        Err(e) => e.public().0.name(),
    }
}

/// The ledger entries of `cell` as JSON payloads.
async fn ledger(cell: &Cell) -> Vec<Value> {
    cell.store
        .ledger_page(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(&r.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn an_upload_is_published_in_the_creators_home_cell_only() {
    let (p, _dir) = platform().await;
    let mio = person(&p, "mio_creator", "JP").await;
    assert_eq!(mio.home.id().as_str(), "ap");
    let clip = &reelm_media::demo::clips()[0];

    let v = upload(&p, &mio, 0).await;
    assert_eq!(v.creator_id, mio.user);
    assert_eq!(v.status, "published");
    assert_eq!(v.caption, clip.caption);
    assert!(v.duration_ms > 0 && v.width > 0 && v.height > 0, "{v:?}");
    assert_eq!(v.media_key, format!("videos/{}.mp4", v.id));

    let ap = cell(&p, "ap");
    assert_eq!(ap.store.video(v.id).await.unwrap().as_ref(), Some(&v));
    for other in ["us", "eu"] {
        let c = cell(&p, other);
        assert!(
            c.store.video(v.id).await.unwrap().is_none(),
            "video in {other}"
        );
        assert_eq!(
            c.media.list_keys().await.unwrap().len(),
            0,
            "media in {other}"
        );
    }
    // The bytes stored are the bytes uploaded, with the poster beside them.
    assert_eq!(&ap.media.get(&v.media_key).await.unwrap()[..], clip.video);
    assert_eq!(ap.media.list_keys().await.unwrap().len(), 2);
    let (link, found) = videos::get_video(&p, v.id).await.unwrap();
    assert_eq!((link.id().as_str(), found.id), ("ap", v.id));
    let profile = social::profile(&p, None, "mio_creator").await.unwrap();
    assert_eq!((profile.region.as_str(), profile.video_count), ("ap", 1));

    // Not an MP4, or no file at all: refused, nothing stored.
    let mut bad = clip_upload(1);
    bad.bytes = bytes::Bytes::from_static(b"<html>not a video</html>");
    assert_eq!(
        code(videos::upload(&p, mio.user, &mio.home, bad).await),
        "unsupported_media"
    );
    let mut empty = clip_upload(1);
    empty.bytes = bytes::Bytes::new();
    assert_eq!(
        code(videos::upload(&p, mio.user, &mio.home, empty).await),
        "missing_field"
    );
    assert_eq!(ap.store.db.count_rows("videos").await.unwrap(), 1);
    assert_eq!(ap.media.list_keys().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_like_from_another_region_stays_home_and_counts_through_the_gateway() {
    let (p, _dir) = platform().await;
    let creator = person(&p, "us_creator", "US").await;
    let fan = person(&p, "eu_fan", "DE").await;
    let v = upload(&p, &creator, 0).await;
    let (us, eu) = (cell(&p, "us"), cell(&p, "eu"));

    assert_eq!(
        videos::set_like(&p, &fan, v.id, true).await.unwrap(),
        (true, 1)
    );
    // The like row is the fan's behavior: in eu only.
    assert_eq!(eu.store.liked_videos(fan.user).await.unwrap(), [v.id]);
    assert_eq!(us.store.liked_videos(fan.user).await.unwrap(), []);
    assert_eq!(us.store.db.count_rows("likes").await.unwrap(), 0);
    // The public counters in the creator's cell moved.
    assert_eq!(us.store.video(v.id).await.unwrap().unwrap().like_count, 1);
    assert_eq!(
        us.store
            .profile(creator.user)
            .await
            .unwrap()
            .unwrap()
            .like_count,
        1
    );
    // Two counter deltas left eu (video and creator), each ledgered at the source.
    let entries = ledger(eu).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    let objects: Vec<&str> = entries
        .iter()
        .map(|e| e["object"].as_str().unwrap())
        .collect();
    assert_eq!(objects, ["video_counters", "profile_counters"]);
    for e in &entries {
        assert_eq!(
            (e["from"].as_str(), e["to"].as_str()),
            (Some("eu"), Some("us"))
        );
        assert_eq!(e["class"], "public");
        assert_eq!(e["decision"], "allowed");
    }
    assert_eq!(
        ledger(us).await.len(),
        0,
        "the video's region is the target"
    );

    // Liking twice changes nothing; unliking takes it back (and is ledgered too).
    assert_eq!(
        videos::set_like(&p, &fan, v.id, true).await.unwrap(),
        (true, 1)
    );
    assert_eq!(ledger(eu).await.len(), 2);
    assert_eq!(
        videos::set_like(&p, &fan, v.id, false).await.unwrap(),
        (false, 0)
    );
    assert_eq!(eu.store.liked_videos(fan.user).await.unwrap(), []);
    assert_eq!(us.store.video(v.id).await.unwrap().unwrap().like_count, 0);
    assert_eq!(ledger(eu).await.len(), 4);

    // A like within the creator's own region is no transfer.
    let neighbour = person(&p, "us_neighbour", "US").await;
    assert_eq!(
        videos::set_like(&p, &neighbour, v.id, true).await.unwrap(),
        (true, 1)
    );
    assert_eq!(ledger(us).await.len(), 0);
    assert_eq!(us.store.liked_videos(neighbour.user).await.unwrap(), [v.id]);

    // An unknown video is not found, and nothing is written.
    let missing = reelm_core::VideoId(v.id.0 + 1);
    assert_eq!(
        code(videos::set_like(&p, &fan, missing, true).await),
        "not_found"
    );
    assert_eq!(eu.store.liked_videos(fan.user).await.unwrap(), []);
}

#[tokio::test]
async fn follow_and_unfollow_move_both_counters() {
    let (p, _dir) = platform().await;
    let creator = person(&p, "followed_one", "US").await;
    let fan = person(&p, "follower_fr", "FR").await;
    let (us, eu) = (cell(&p, "us"), cell(&p, "eu"));
    let counts = |c: &Arc<Cell>, u: UserId| {
        let c = c.clone();
        async move {
            let pr = c.store.profile(u).await.unwrap().unwrap();
            (pr.follower_count, pr.following_count)
        }
    };

    assert_eq!(
        social::set_follow(&p, &fan, "followed_one", true)
            .await
            .unwrap(),
        (true, 1)
    );
    assert_eq!(counts(us, creator.user).await, (1, 0));
    assert_eq!(counts(eu, fan.user).await, (0, 1));
    assert_eq!(eu.store.followees(fan.user).await.unwrap(), [creator.user]);
    assert_eq!(us.store.db.count_rows("follows").await.unwrap(), 0);
    let seen = social::profile(&p, Some(&fan), "followed_one")
        .await
        .unwrap();
    assert!(seen.followed_by_me);
    assert_eq!(seen.follower_count, 1);

    // Following again changes nothing.
    assert_eq!(
        social::set_follow(&p, &fan, "followed_one", true)
            .await
            .unwrap(),
        (true, 1)
    );
    assert_eq!(counts(us, creator.user).await, (1, 0));

    assert_eq!(
        social::set_follow(&p, &fan, "followed_one", false)
            .await
            .unwrap(),
        (false, 0)
    );
    assert_eq!(counts(us, creator.user).await, (0, 0));
    assert_eq!(counts(eu, fan.user).await, (0, 0));
    assert_eq!(eu.store.followees(fan.user).await.unwrap(), []);
    assert!(
        !social::profile(&p, Some(&fan), "followed_one")
            .await
            .unwrap()
            .followed_by_me
    );

    assert_eq!(
        code(social::set_follow(&p, &fan, "follower_fr", true).await),
        "validation_failed",
        "nobody follows themselves"
    );
    assert_eq!(
        code(social::set_follow(&p, &fan, "nobody_at_all", true).await),
        "not_found"
    );
    assert_eq!(counts(eu, fan.user).await, (0, 0));
}

#[tokio::test]
async fn comments_live_with_their_authors_and_list_merged_newest_first() {
    let (p, _dir) = platform().await;
    let creator = person(&p, "commented_on", "US").await;
    let v = upload(&p, &creator, 2).await;
    let authors = [
        person(&p, "first_us", "US").await,
        person(&p, "second_de", "DE").await,
        person(&p, "third_jp", "JP").await,
    ];
    for (a, text) in authors.iter().zip(["first", "second", "third"]) {
        let c = videos::add_comment(&p, a, v.id, text).await.unwrap();
        assert_eq!((c.text.as_str(), c.author.id), (text, a.user));
        // Distinct timestamps, so "newest first" is one order.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    // Each comment is stored in its author's home cell.
    for (region, n) in [("us", 1), ("eu", 1), ("ap", 1)] {
        let rows = cell(&p, region)
            .store
            .comments_on(v.id, Keyset::START, 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), n, "comments in {region}");
    }
    let us = cell(&p, "us");
    assert_eq!(
        us.store.video(v.id).await.unwrap().unwrap().comment_count,
        3
    );

    let page = videos::list_comments(&p, None, v.id, None, 10)
        .await
        .unwrap();
    let got: Vec<(&str, &str)> = page
        .items
        .iter()
        .map(|c| (c.text.as_str(), c.author.handle.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("third", "third_jp"),
            ("second", "second_de"),
            ("first", "first_us")
        ]
    );
    assert!(page.next_cursor.is_none());

    // Pages of two: the cursor continues across cells without repeats.
    let first = videos::list_comments(&p, None, v.id, None, 2)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let cursor = first.next_cursor.expect("a second page");
    let second = videos::list_comments(&p, None, v.id, Some(&cursor), 2)
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].text, "first");
    assert!(second.next_cursor.is_none());

    // Empty comments are refused and not counted.
    assert_eq!(
        code(videos::add_comment(&p, &authors[0], v.id, "   ").await),
        "validation_failed"
    );
    assert_eq!(
        us.store.video(v.id).await.unwrap().unwrap().comment_count,
        3
    );
}
