//! Likes, comments, views, follows and the two feeds.

use crate::common::{Server, ids};
use serde_json::{Value, json};
use std::collections::HashSet;

#[tokio::test]
async fn likes_count_once_and_unlike_restores() {
    let s = Server::start().await;
    let cat = s.quick_user("cat", "JP").await;
    let dan = s.signup("dan", "DE").await;
    let vid = cat.upload_clip(3).await["id"].as_str().unwrap().to_owned();
    let like = format!("/api/videos/{vid}/like");

    for _ in 0..2 {
        let r = dan.post_empty(&like).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json(), json!({"liked": true, "like_count": 1}));
    }
    let v = dan.get_json(&format!("/api/videos/{vid}")).await;
    assert_eq!(v["like_count"], 1);
    assert_eq!(v["liked_by_me"], true);
    assert_eq!(
        s.anon().get_json(&format!("/api/videos/{vid}")).await["liked_by_me"],
        false
    );
    assert_eq!(
        cat.get_json(&format!("/api/videos/{vid}")).await["liked_by_me"],
        false
    );
    assert_eq!(
        s.anon().get_json("/api/users/cat").await["like_count"],
        1,
        "the creator's like total"
    );
    // The like row sits in dan's home (eu), not in the video's cell (ap).
    let vid_id = vid.parse().unwrap();
    assert_eq!(
        s.cell("eu")
            .store
            .liked_among(dan.user_id(), &[vid_id])
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.cell("ap")
            .store
            .liked_among(dan.user_id(), &[vid_id])
            .await
            .unwrap()
            .is_empty()
    );

    for _ in 0..2 {
        let r = dan.delete(&like).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json(), json!({"liked": false, "like_count": 0}));
    }
    let v = dan.get_json(&format!("/api/videos/{vid}")).await;
    assert_eq!(
        (v["like_count"].as_i64(), v["liked_by_me"].as_bool()),
        (Some(0), Some(false))
    );
    assert_eq!(s.anon().get_json("/api/users/cat").await["like_count"], 0);
}

#[tokio::test]
async fn comments_from_three_regions_paginate_newest_first() {
    let s = Server::start().await;
    let creator = s.quick_user("maker", "US").await;
    let vid = creator.upload_clip(4).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let countries = ["US", "DE", "JP"];
    let mut people = Vec::new();
    for i in 0..25 {
        people.push(s.quick_user(&format!("fan{i}"), countries[i % 3]).await);
    }
    let mut posted = Vec::new();
    for (i, p) in people.iter().enumerate() {
        let r = p
            .post(
                &format!("/api/videos/{vid}/comments"),
                &json!({"text": format!("  comment {i}  ")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let c = r.json();
        assert_eq!(c["text"], format!("comment {i}"), "text is trimmed");
        assert_eq!(c["author"]["handle"], p.handle);
        assert_eq!(c["video_id"], vid.as_str());
        posted.push(c["id"].as_str().unwrap().to_owned());
    }
    let all = s
        .anon()
        .all_pages(&format!("/api/videos/{vid}/comments"), 7)
        .await;
    let got = ids(&all, "/id");
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), 25, "no duplicates");
    let newest_first: Vec<String> = posted.iter().rev().cloned().collect();
    assert_eq!(
        got, newest_first,
        "every comment exactly once, newest first"
    );
    for (c, i) in all.iter().zip((0..25).rev()) {
        assert_eq!(
            c["author"]["handle"],
            format!("fan{i}"),
            "author resolved from their home cell"
        );
    }
    assert_eq!(
        s.anon().get_json(&format!("/api/videos/{vid}")).await["comment_count"],
        25
    );
    let first_page = s
        .anon()
        .get_json(&format!("/api/videos/{vid}/comments"))
        .await;
    assert_eq!(
        first_page["items"].as_array().unwrap().len(),
        20,
        "default limit 20"
    );
}

#[tokio::test]
async fn views_and_follows() {
    let s = Server::start().await;
    let zed = s.quick_user("zed", "US").await;
    let yui = s.quick_user("yui", "JP").await;
    let vid = zed.upload_clip(5).await["id"].as_str().unwrap().to_owned();

    for (n, body) in [
        json!({"watch_ms": 3000, "completed": true}),
        json!({"watch_ms": 0}),
    ]
    .iter()
    .enumerate()
    {
        let r = yui.post(&format!("/api/videos/{vid}/views"), body).await;
        assert_eq!(r.status, 202, "{}", r.text());
        assert_eq!(r.json(), json!({"recorded": true}));
        assert_eq!(
            s.anon().get_json(&format!("/api/videos/{vid}")).await["view_count"],
            n as i64 + 1
        );
    }
    let loc = yui.get_json("/api/me/data-location").await;
    let behavioral: Vec<&Value> = loc["classes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["class"] == "behavioral")
        .collect();
    assert_eq!(behavioral.len(), 1, "{loc}");
    assert!(
        behavioral[0]["tables"]
            .as_array()
            .unwrap()
            .contains(&json!("view_events"))
    );
    assert_eq!(behavioral[0]["stays_in_region"], true);

    let follow = "/api/users/zed/follow";
    for _ in 0..2 {
        let r = yui.post_empty(follow).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json(), json!({"following": true, "follower_count": 1}));
    }
    let p = yui.get_json("/api/users/zed").await;
    assert_eq!(
        (p["follower_count"].as_i64(), p["followed_by_me"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(p["region"], "us");
    assert_eq!(
        s.anon().get_json("/api/users/zed").await["followed_by_me"],
        false
    );
    assert_eq!(
        s.anon().get_json("/api/users/yui").await["following_count"],
        1
    );

    let r = yui.delete(follow).await;
    assert_eq!(r.json(), json!({"following": false, "follower_count": 0}));
    let r = yui.delete(follow).await;
    assert_eq!(r.json(), json!({"following": false, "follower_count": 0}));
    let p = yui.get_json("/api/users/zed").await;
    assert_eq!(
        (p["follower_count"].as_i64(), p["followed_by_me"].as_bool()),
        (Some(0), Some(false))
    );
    assert_eq!(
        s.anon().get_json("/api/users/yui").await["following_count"],
        0
    );
}

#[tokio::test]
async fn following_feed_and_not_interested() {
    let s = Server::start().await;
    let us = s.quick_user("creator_us", "US").await;
    let ap = s.quick_user("creator_ap", "SG").await;
    let other = s.quick_user("creator_eu", "IT").await;
    let viewer = s.quick_user("viewer", "NL").await;
    let mut followed = Vec::new();
    for i in 0..3 {
        followed.push(us.upload_clip(i).await["id"].as_str().unwrap().to_owned());
        followed.push(
            ap.upload_clip(i + 3).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let unfollowed = other.upload_clip(6).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let empty = viewer.get_json("/api/feed/following").await;
    assert_eq!(empty, json!({"items": [], "next_cursor": null}));

    viewer.post_empty("/api/users/creator_us/follow").await;
    viewer.post_empty("/api/users/creator_ap/follow").await;
    let feed = viewer.all_pages("/api/feed/following", 4).await;
    let got = ids(&feed, "/video/id");
    let newest_first: Vec<String> = followed.iter().rev().cloned().collect();
    assert_eq!(
        got, newest_first,
        "followed creators' videos, each once, newest first"
    );
    assert!(!got.contains(&unfollowed));
    assert!(feed.iter().all(|f| f["reason"]["source"] == "following"));

    // For You, then "not interested" in one of creator_us's videos hides all of theirs.
    let creator_of = |items: &[Value]| -> HashSet<String> {
        items
            .iter()
            .map(|f| f["video"]["creator"]["handle"].as_str().unwrap().to_owned())
            .collect()
    };
    let fy = viewer.all_pages("/api/feed/foryou", 50).await;
    assert_eq!(fy.len(), 7);
    // One page of 50: multi-page For You is covered by residency::for_you_pages_never_repeat.
    assert!(creator_of(&fy).contains("creator_us"));
    let r = viewer
        .post_empty(&format!("/api/videos/{}/not-interested", followed[0]))
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let fy = viewer.all_pages("/api/feed/foryou", 50).await;
    let creators = creator_of(&fy);
    assert!(
        !creators.contains("creator_us"),
        "not interested hides the creator: {creators:?}"
    );
    assert!(creators.contains("creator_ap") && creators.contains("creator_eu"));
    assert_eq!(fy.len(), 4);
    // Only for that viewer.
    let anon_fy = s.anon().all_pages("/api/feed/foryou", 50).await;
    assert_eq!(anon_fy.len(), 7);
    assert!(creator_of(&anon_fy).contains("creator_us"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_likes_and_sign_ups_stay_consistent() {
    let s = Server::start().await;
    let creator = s.quick_user("creator_cc", "US").await;
    let vid = creator.upload_clip(7).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let like = format!("/api/videos/{vid}/like");

    // One person liking ten times at once counts once.
    let fan = s.quick_user("fan_cc", "DE").await;
    let answers = futures::future::join_all((0..10).map(|_| fan.post_empty(&like))).await;
    assert!(answers.iter().all(|r| r.status == 200));
    assert_eq!(
        s.anon().get_json(&format!("/api/videos/{vid}")).await["like_count"],
        1
    );

    // Ten people in three regions liking at once count ten times.
    let mut fans = Vec::new();
    for (i, c) in ["US", "JP", "ES", "US", "KR", "PL", "US", "IN", "SE"]
        .iter()
        .enumerate()
    {
        fans.push(s.quick_user(&format!("fan_cc{i}"), c).await);
    }
    let answers = futures::future::join_all(fans.iter().map(|f| f.post_empty(&like))).await;
    assert!(answers.iter().all(|r| r.status == 200));
    assert_eq!(
        s.anon().get_json(&format!("/api/videos/{vid}")).await["like_count"],
        10
    );

    // The same handle signed up four times at once: one account.
    let anon = s.anon();
    let body = crate::common::signup_body("racer", "FR");
    let answers =
        futures::future::join_all((0..4).map(|_| anon.post("/api/auth/signup", &body))).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [201, 409, 409, 409],
        "{:?}",
        answers.iter().map(|r| r.text()).collect::<Vec<_>>()
    );
    let id = s
        .platform
        .directory
        .by_handle("racer")
        .await
        .unwrap()
        .unwrap()
        .user_id;
    assert!(s.cell("eu").store.account(id).await.unwrap().is_some());
}
