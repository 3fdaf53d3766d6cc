//! Upload screening stages: with a stage installed, an upload waits in `processing` while a
//! background job runs the stages, and the creator reads the outcome as the video's status
//! (`published`, `held`, `blocked`); a geo-restriction keeps the published video from viewers
//! homed in the restricted region, on every surface.

use crate::common::{Client, Server, assert_error};
use futures::future::BoxFuture;
use reelm_core::RegionId;
use reelm_platform::Error;
use reelm_platform::screening::{ScreeningStage, Upload, Verdict};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Decides by hashtag; counts the uploads it saw (and checks it got their bytes).
#[derive(Default)]
struct ByTag {
    seen: AtomicUsize,
}

impl ScreeningStage for ByTag {
    fn name(&self) -> &str {
        "by-tag"
    }

    fn screen<'a>(&'a self, upload: &'a Upload<'a>) -> BoxFuture<'a, Result<Verdict, Error>> {
        Box::pin(async move {
            assert!(upload.media.len() > 1_000, "the stage gets the media bytes");
            self.seen.fetch_add(1, Ordering::SeqCst);
            let tags = upload.video.hashtags.clone();
            let has = |t: &str| tags.split_whitespace().any(|h| h == t);
            Ok(if has("blockme") {
                Verdict::Block {
                    reason: "matched a hash list".into(),
                }
            } else if has("holdme") {
                Verdict::HoldForReview {
                    reason: "needs a human look".into(),
                }
            } else if has("noap") {
                Verdict::GeoRestrict {
                    regions: vec![RegionId::new("ap").unwrap()],
                    reason: "unlawful in ap".into(),
                }
            } else {
                Verdict::Publish
            })
        })
    }
}

/// The video's status as its creator reads it, once screening has finished.
async fn screened(creator: &Client, id: &str) -> serde_json::Value {
    for _ in 0..200 {
        let v = creator.get_json(&format!("/api/videos/{id}")).await;
        if v["status"] != "processing" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("video {id} still processing after 5 s");
}

#[tokio::test]
async fn uploads_wait_in_processing_and_the_creator_reads_the_outcome() {
    let s = Server::start().await;
    let stage = Arc::new(ByTag::default());
    s.platform.add_screening_stage(stage.clone());
    let creator = s.quick_user("screen_creator", "US").await;
    let eu = s.quick_user("screen_viewer_eu", "DE").await;
    let ap = s.quick_user("screen_viewer_ap", "SG").await;

    let mut ids = Vec::new();
    for (clip, tag) in [(0, "fine"), (1, "blockme"), (2, "holdme"), (3, "noap")] {
        ids.push(creator.upload_tagged(clip, tag).await);
    }
    let [fine, blocked, held, restricted] = [&ids[0], &ids[1], &ids[2], &ids[3]];

    assert_eq!(screened(&creator, fine).await["status"], "published");
    let b = screened(&creator, blocked).await;
    assert_eq!(b["status"], "blocked");
    assert_eq!(b["screening_reason"], "by-tag: matched a hash list", "{b}");
    assert_eq!(screened(&creator, held).await["status"], "held");
    assert_eq!(screened(&creator, restricted).await["status"], "published");
    assert_eq!(stage.seen.load(Ordering::SeqCst), 4);

    // Only the creator sees what is not published.
    for id in [blocked, held] {
        assert_error(
            &eu.get(&format!("/api/videos/{id}")).await,
            404,
            "not_found",
        );
        assert_error(
            &eu.get(&format!("/api/videos/{id}/media")).await,
            404,
            "not_found",
        );
    }
    let grid = eu
        .get_json(&format!("/api/users/{}/videos?limit=50", creator.handle))
        .await;
    let listed: Vec<&str> = grid["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&fine.as_str()) && listed.contains(&restricted.as_str()));
    assert!(!listed.contains(&blocked.as_str()) && !listed.contains(&held.as_str()));
    // The profile counts only the public videos.
    let profile = eu.get_json(&format!("/api/users/{}", creator.handle)).await;
    assert_eq!(profile["video_count"], 2, "{profile}");

    // The geo-restricted video is refused in ap on every surface, with the reason, and shown
    // elsewhere.
    assert_eq!(
        eu.get(&format!("/api/videos/{restricted}")).await.status,
        200
    );
    for path in [
        format!("/api/videos/{restricted}"),
        format!("/api/videos/{restricted}/media"),
        format!("/api/videos/{restricted}/comments"),
    ] {
        let message = assert_error(&ap.get(&path).await, 403, "forbidden");
        assert!(
            message.contains("not available in your region"),
            "{message}"
        );
    }
    let ap_grid = ap
        .get_json(&format!("/api/users/{}/videos?limit=50", creator.handle))
        .await;
    assert!(
        !ap_grid.to_string().contains(restricted.as_str()),
        "{ap_grid}"
    );
}

#[tokio::test]
async fn without_stages_an_upload_is_published_at_once() {
    let s = Server::start().await;
    let creator = s.quick_user("unscreened", "US").await;
    let id = creator.upload_tagged(0, "fine").await;
    let v = creator.get_json(&format!("/api/videos/{id}")).await;
    assert_eq!(v["status"], "published");
}
