//! Uploading a clip, reading it back, and streaming it with HTTP ranges.

use crate::common::{Server, assert_error, ids};
use reqwest::Method;

#[tokio::test]
async fn upload_list_read_and_stream_with_ranges() {
    let s = Server::start().await;
    let bo = s.signup("bob_us", "US").await;
    let clips = reelm_media::demo::clips();

    let first = bo.upload_clip(0).await;
    assert_eq!(first["creator"]["handle"], "bob_us");
    assert_eq!(first["caption"], clips[0].caption);
    assert_eq!(first["hashtags"], serde_json::json!(["travel", "music"]));
    assert_eq!(first["status"], "published");
    assert_eq!(first["region"], "us");
    assert_eq!(
        (first["width"].as_i64(), first["height"].as_i64()),
        (Some(360), Some(640))
    );
    assert!(first["duration_ms"].as_i64().unwrap() > 1000);
    assert_eq!(first["like_count"], 0);
    assert!(first["poster_url"].is_null());
    let second = bo.upload_clip(1).await;
    let third = bo.upload_clip(2).await;
    let id = third["id"].as_str().unwrap().to_owned();
    assert_eq!(
        first["media_url"],
        format!("/api/videos/{}/media", first["id"].as_str().unwrap())
    );

    // Newest first, paginated.
    let anon = s.anon();
    let page = anon.get_json("/api/users/bob_us/videos").await;
    assert_eq!(
        page["items"][0]["id"], third["id"],
        "the new upload comes first"
    );
    let all = anon.all_pages("/api/users/bob_us/videos", 2).await;
    assert_eq!(
        ids(&all, "/id"),
        [&third, &second, &first].map(|v| v["id"].as_str().unwrap().to_owned())
    );
    assert_eq!(anon.get_json("/api/users/bob_us").await["video_count"], 3);

    // Any region's viewer reads the video.
    let eve = s.quick_user("eve", "FR").await;
    let got = eve.get_json(&format!("/api/videos/{id}")).await;
    assert_eq!(got["caption"], third["caption"]);
    assert_eq!(got["region"], "us");

    // Media with and without ranges.
    let bytes = clips[2].video;
    let size = bytes.len();
    let media = format!("/api/videos/{id}/media");
    let full = eve.get(&media).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.header("accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(full.header("content-type").as_deref(), Some("video/mp4"));
    assert_eq!(full.header("content-length"), Some(size.to_string()));
    assert_eq!(full.body, bytes, "served bytes equal the upload");

    let ranged = |range: String| {
        crate::common::Client::send(anon.request(Method::GET, &media).header("range", range))
    };
    let r = ranged("bytes=0-99".into()).await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 0-99/{size}"))
    );
    assert_eq!(r.body, &bytes[..100]);
    assert_eq!(r.header("accept-ranges").as_deref(), Some("bytes"));

    let r = ranged(format!("bytes=100-{}", size + 1000)).await;
    assert_eq!(r.status, 206, "an end past the size is clamped");
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 100-{}/{size}", size - 1))
    );
    assert_eq!(r.body, &bytes[100..]);

    let r = ranged("bytes=-10".into()).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &bytes[size - 10..]);

    let r = ranged(format!("bytes={}-", size - 1)).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &bytes[size - 1..]);

    let r = ranged(format!("bytes={size}-")).await;
    assert_error(&r, 416, "range_not_satisfiable");
    assert_eq!(r.header("content-range"), Some(format!("bytes */{size}")));

    // A malformed Range is ignored: the whole object.
    let r = ranged("furlongs=1-2".into()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), size);
}
