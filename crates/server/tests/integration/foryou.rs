//! The For You feed adapts within a swipe: likes and completed views of one hashtag lift it on
//! the very next page, "not interested" removes a creator, every item explains itself, and the
//! trending mode uses no profiling.

use crate::common::*;
use serde_json::Value;

fn tags(item: &Value) -> Vec<String> {
    item["video"]["hashtags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn for_you_follows_the_last_swipe() {
    let s = Server::start().await;
    let mut pets = Vec::new();
    let mut clip = 0;
    for (handle, country, tag) in [
        ("cook_a", "US", "cooking"),
        ("cook_b", "FR", "cooking"),
        ("music_c", "JP", "music"),
        ("music_d", "US", "music"),
        ("pets_e", "DE", "pets"),
        ("pets_f", "SG", "pets"),
    ] {
        let creator = s.quick_user(handle, country).await;
        for _ in 0..3 {
            let id = creator.upload_tagged(clip, tag).await;
            clip += 1;
            if tag == "pets" {
                pets.push(id);
            }
        }
    }
    let viewer = s.quick_user("viewer_one", "DE").await;

    // Page one of a scroll, before any behavior.
    let first = viewer.get_json("/api/feed/foryou?limit=3").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    for item in first["items"].as_array().unwrap() {
        assert!(
            !item["reason"]["detail"].as_str().unwrap().is_empty(),
            "every item explains itself"
        );
    }
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();

    // Watch three #pets clips to the end and like them...
    for id in &pets[..3] {
        let r = viewer
            .post(
                &format!("/api/videos/{id}/views"),
                &serde_json::json!({"watch_ms": 6000, "completed": true}),
            )
            .await;
        assert_eq!(r.status, 202);
        assert_eq!(
            viewer
                .post_empty(&format!("/api/videos/{id}/like"))
                .await
                .status,
            200
        );
    }
    // ...and the very next page of the same scroll leads with the other #pets clips.
    let next = viewer
        .get_json(&format!("/api/feed/foryou?limit=3&cursor={cursor}"))
        .await;
    let items = next["items"].as_array().unwrap();
    let shown_first: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["video"]["id"].as_str().unwrap().to_owned())
        .collect();
    let unseen_pets = pets[3..]
        .iter()
        .filter(|id| !shown_first.contains(id))
        .count();
    let pets_on_next = items
        .iter()
        .filter(|i| tags(i).contains(&"pets".to_string()))
        .count();
    assert!(
        pets_on_next >= unseen_pets.min(3).min(2),
        "next page after liking #pets: {items:#?}"
    );
    let lead = &items[0];
    assert!(
        tags(lead).contains(&"pets".to_string()),
        "the next page leads with #pets: {lead:#?}"
    );
    assert_eq!(lead["reason"]["source"], "interest");
    assert!(lead["reason"]["detail"].as_str().unwrap().contains("#pets"));
    // Clips already watched are not served again while unseen ones remain.
    let fresh = viewer.all_pages("/api/feed/foryou", 5).await;
    let position = |id: &str| fresh.iter().position(|i| i["video"]["id"] == id).unwrap();
    for watched in &pets[..3] {
        assert!(
            position(watched) >= fresh.len() - 3,
            "a watched clip came before unseen ones"
        );
    }

    // "Not interested" in one music_c clip drops music_c entirely.
    let music_c = fresh
        .iter()
        .find(|i| i["video"]["creator"]["handle"] == "music_c")
        .unwrap();
    let id = music_c["video"]["id"].as_str().unwrap();
    assert_eq!(
        viewer
            .post_empty(&format!("/api/videos/{id}/not-interested"))
            .await
            .status,
        204
    );
    let after = viewer.all_pages("/api/feed/foryou", 5).await;
    assert!(
        after
            .iter()
            .all(|i| i["video"]["creator"]["handle"] != "music_c")
    );
    assert_eq!(after.len(), fresh.len() - 3);
}

#[tokio::test]
async fn trending_mode_uses_no_profiling() {
    let s = Server::start().await;
    let creator = s.quick_user("maker", "US").await;
    let mut ids = Vec::new();
    for (i, tag) in ["art", "art", "tech", "tech", "dance"].iter().enumerate() {
        ids.push(creator.upload_tagged(i, tag).await);
    }
    let a = s.quick_user("viewer_a", "DE").await;
    let b = s.quick_user("viewer_b", "JP").await;
    // Viewer a likes and watches the tech clips; the trending order must not care.
    for id in &ids[2..4] {
        a.post(
            &format!("/api/videos/{id}/views"),
            &serde_json::json!({"watch_ms": 9000, "completed": true}),
        )
        .await;
    }
    let order = |items: Vec<Value>| {
        items
            .iter()
            .map(|i| i["video"]["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let ta = order(a.all_pages("/api/feed/foryou?mode=trending", 2).await);
    let tb = order(b.all_pages("/api/feed/foryou?mode=trending", 2).await);
    let anon = order(
        s.anon()
            .all_pages("/api/feed/foryou?mode=trending", 2)
            .await,
    );
    assert_eq!(ta.len(), 5);
    assert_eq!(ta, tb);
    assert_eq!(ta, anon);
    let r = a.get("/api/feed/foryou?mode=creepy").await;
    assert_error(&r, 400, "validation_failed");
}

#[tokio::test]
async fn a_trained_ranker_serves_and_names_its_version() {
    let s = Server::start().await;
    reelm_demo::seed::seed_demo(&s.platform, 80, &mut |_| {})
        .await
        .unwrap();
    let viewer = s.quick_user("ranked_viewer", "DE").await;
    // Before training, the hand-set interest weights rank the feed.
    let before = viewer.get_json("/api/feed/foryou?limit=5").await;
    assert_eq!(before["model"], "interest-v2");
    reelm_recommend::ranker::train_all(&s.platform)
        .await
        .unwrap();
    let eu = s.cell("eu");
    let ranker = reelm_recommend::Recommender::of(&s.platform)
        .ranker(eu.id())
        .expect("the eu region has enough seeded views to train");
    // The model learned from the seeded behavior: completion is predictable from interest.
    assert!(
        ranker.model.completion_auc.unwrap() > 0.55,
        "{:?}",
        ranker.model
    );
    // The eu region's `reelm` item→item model is fitted from its own positive engagements.
    let item_model = ranker
        .item_model
        .as_ref()
        .expect("the eu region has enough engaged people for the item→item model");
    assert!(item_model.videos() > 10);
    let page = viewer.get_json("/api/feed/foryou?limit=5").await;
    assert_eq!(page["model"], ranker.model.version.as_str());
    assert!(
        page["model"].as_str().unwrap().starts_with("eu-"),
        "the viewer's home region ranks their feed"
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    let trending = viewer
        .get_json("/api/feed/foryou?limit=5&mode=trending")
        .await;
    assert_eq!(trending["model"], "trending-v2");
}

#[tokio::test]
async fn an_upload_is_a_candidate_at_once_while_the_pool_refreshes_in_the_background() {
    let s = Server::start().await;
    let creator = s.quick_user("fresh_maker", "US").await;
    creator.upload_tagged(0, "cooking").await;
    let viewer = s.quick_user("fresh_viewer", "DE").await;
    // The pool exists (built in the background or by this request)...
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["video"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&viewer.get_json("/api/feed/foryou?limit=50").await).len(),
        1
    );
    // ... and each new upload is served on the very next request, without waiting for a
    // rebuild, in both modes.
    for clip in 1..4 {
        let id = creator.upload_tagged(clip, "music").await;
        let personal = viewer.get_json("/api/feed/foryou?limit=50").await;
        assert!(ids(&personal).contains(&id), "{personal:#?}");
        let trending = viewer
            .get_json("/api/feed/foryou?limit=50&mode=trending")
            .await;
        assert!(ids(&trending).contains(&id), "{trending:#?}");
    }
}
