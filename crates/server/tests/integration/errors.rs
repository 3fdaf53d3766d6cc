//! Every bad input gets a 4xx in our error shape and changes nothing.

use crate::common::{Client, Server, assert_error, signup_body};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn bad_inputs_get_4xx_and_change_nothing() {
    let s = Server::start_with(|c| c.max_upload_bytes = 200_000).await;
    let ana = s.signup("ana", "DE").await;
    let video = ana.upload_clip(0).await;
    let vid = video["id"].as_str().unwrap().to_owned();
    let anon = s.anon();
    let before = s.snapshot().await;
    let dir_count = s.platform.directory.count().await.unwrap();

    // Sign-up.
    let raw = |body: &'static str| {
        Client::send(
            anon.request(Method::POST, "/api/auth/signup")
                .header("content-type", "application/json")
                .body(body),
        )
    };
    assert_error(&raw("{not json").await, 400, "invalid_json");
    assert_error(&raw("").await, 400, "invalid_json");
    let no_type = Client::send(
        anon.request(Method::POST, "/api/auth/signup")
            .body(signup_body("x1", "US").to_string()),
    )
    .await;
    assert!(
        no_type.status == 400 || no_type.status == 415,
        "{}",
        no_type.text()
    );
    assert_error(
        &anon
            .post("/api/auth/signup", &json!({"handle": "bob"}))
            .await,
        400,
        "missing_field",
    );
    assert_error(
        &anon.post("/api/auth/signup", &json!([1, 2])).await,
        400,
        "validation_failed",
    );
    let with = |k: &str, v: serde_json::Value| {
        let mut b = signup_body("bob", "US");
        b[k] = v;
        b
    };
    for (field, value) in [
        ("email", json!("not-an-email")),
        ("email", json!("a@b")),
        ("birth_date", json!(format!("{}-01-01", 2026 - 5))),
        ("birth_date", json!("2999-01-01")),
        ("birth_date", json!("yesterday")),
        ("country", json!("XX")),
        ("country", json!("Germany")),
        ("handle", json!("a")),
        ("handle", json!("has space")),
        ("password", json!("short")),
    ] {
        let r = anon
            .post("/api/auth/signup", &with(field, value.clone()))
            .await;
        let msg = assert_error(&r, 400, "validation_failed");
        assert!(
            msg.contains(field),
            "message for {field}={value} names the field: {msg}"
        );
    }
    let dup = anon.post("/api/auth/signup", &json!({"handle": "ANA", "email": "other@example.org", "password": "correct horse battery", "birth_date": "1990-01-01", "country": "US"})).await;
    assert_error(&dup, 409, "handle_taken");
    assert_eq!(
        s.platform.directory.count().await.unwrap(),
        dir_count,
        "a refused sign-up leaves the directory alone"
    );
    let dup_email = anon.post("/api/auth/signup", &json!({"handle": "ana2", "email": "ANA@example.org", "password": "correct horse battery", "birth_date": "1990-01-01", "country": "DE"})).await;
    assert_error(&dup_email, 409, "email_taken");
    assert_eq!(
        s.platform.directory.count().await.unwrap(),
        dir_count,
        "email_taken must undo the directory entry"
    );

    // Log-in.
    let login = |h: &str, p: &str| {
        let body = json!({"handle": h, "password": p});
        let anon = &anon;
        async move { anon.post("/api/auth/login", &body).await }
    };
    assert_error(
        &login("ana", "wrong password!").await,
        401,
        "wrong_credentials",
    );
    assert_error(
        &login("nobody_here", "correct horse battery").await,
        401,
        "wrong_credentials",
    );
    assert_error(&login("!!", "x").await, 401, "wrong_credentials");
    assert_error(
        &anon
            .post("/api/auth/login", &json!({"handle": "ana"}))
            .await,
        400,
        "missing_field",
    );

    // Unknown ids and paths.
    for path in [
        "/api/videos/123456789".to_owned(),
        "/api/videos/abc".to_owned(),
        "/api/videos/99999999999999999999999".to_owned(),
        "/api/videos/abc/media".to_owned(),
        "/api/videos/123/media".to_owned(),
        "/api/videos/123/poster".to_owned(),
        "/api/videos/123/comments".to_owned(),
        "/api/users/nobody_here".to_owned(),
        "/api/users/nobody_here/videos".to_owned(),
        "/api/users/%20/videos".to_owned(),
        "/api/nope".to_owned(),
        "/api/videos/1/2/3".to_owned(),
        format!("/api/videos/{vid}/poster"),
    ] {
        assert_error(&anon.get(&path).await, 404, "not_found");
    }
    assert_error(
        &ana.post_empty("/api/videos/123/like").await,
        404,
        "not_found",
    );
    assert_error(
        &ana.post_empty("/api/videos/abc/like").await,
        404,
        "not_found",
    );
    assert_error(
        &ana.post("/api/videos/123/comments", &json!({"text": "hi"}))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &ana.post("/api/videos/123/views", &json!({"watch_ms": 10}))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &ana.post_empty("/api/videos/123/not-interested").await,
        404,
        "not_found",
    );
    assert_error(
        &ana.post_empty("/api/users/nobody_here/follow").await,
        404,
        "not_found",
    );

    // Wrong methods.
    assert_error(
        &Client::send(anon.request(Method::PUT, "/api/health")).await,
        405,
        "method_not_allowed",
    );
    assert_error(
        &ana.delete(&format!("/api/videos/{vid}/comments")).await,
        405,
        "method_not_allowed",
    );
    assert_error(
        &anon.get("/api/auth/signup").await,
        405,
        "method_not_allowed",
    );

    // Cursors and limits, on every list.
    for list in [
        "/api/users/ana/videos".to_owned(),
        format!("/api/videos/{vid}/comments"),
        "/api/feed/foryou".to_owned(),
        "/api/feed/following".to_owned(),
    ] {
        for bad in ["!!!", "abc", "eyJ4IjoxfQ", "W10"] {
            assert_error(
                &ana.get(&format!("{list}?cursor={bad}")).await,
                400,
                "bad_cursor",
            );
        }
        for bad in ["0", "51", "-1"] {
            assert_error(
                &ana.get(&format!("{list}?limit={bad}")).await,
                400,
                "validation_failed",
            );
        }
        let r = ana.get(&format!("{list}?limit=ten")).await;
        assert_eq!(r.status, 400, "{list}?limit=ten: {}", r.text());
        assert_error(&r, 400, r.json()["error"]["code"].as_str().unwrap());
    }

    // Comments and views.
    for text in ["", "   ", &"x".repeat(501)] {
        assert_error(
            &ana.post(
                &format!("/api/videos/{vid}/comments"),
                &json!({"text": text}),
            )
            .await,
            400,
            "validation_failed",
        );
    }
    assert_error(
        &ana.post(&format!("/api/videos/{vid}/comments"), &json!({}))
            .await,
        400,
        "missing_field",
    );
    assert_error(
        &ana.post(
            &format!("/api/videos/{vid}/views"),
            &json!({"watch_ms": -1}),
        )
        .await,
        400,
        "validation_failed",
    );
    assert_error(
        &ana.post(
            &format!("/api/videos/{vid}/views"),
            &json!({"watch_ms": 1_000_000_000_000_i64}),
        )
        .await,
        400,
        "validation_failed",
    );
    assert_error(
        &ana.post(
            &format!("/api/videos/{vid}/views"),
            &json!({"watch_ms": "10"}),
        )
        .await,
        400,
        "validation_failed",
    );
    assert_error(
        &ana.post(
            &format!("/api/videos/{vid}/views"),
            &json!({"completed": true}),
        )
        .await,
        400,
        "missing_field",
    );

    // Follow yourself.
    assert_error(
        &ana.post_empty("/api/users/ana/follow").await,
        400,
        "validation_failed",
    );

    // CSRF and authentication.
    let like = format!("/api/videos/{vid}/like");
    let no_header = Client::send(ana.http.post(format!("{}{like}", s.base))).await;
    assert_error(&no_header, 403, "csrf_failed");
    let wrong = Client::send(
        ana.http
            .post(format!("{}{like}", s.base))
            .header("x-csrf-token", "forged"),
    )
    .await;
    assert_error(&wrong, 403, "csrf_failed");
    let empty = Client::send(
        ana.http
            .delete(format!("{}{like}", s.base))
            .header("x-csrf-token", ""),
    )
    .await;
    assert_error(&empty, 403, "csrf_failed");
    assert_error(&anon.post_empty(&like).await, 401, "unauthenticated");
    assert_error(&anon.get("/api/me").await, 401, "unauthenticated");
    assert_error(
        &anon.get("/api/feed/following").await,
        401,
        "unauthenticated",
    );
    assert_eq!(
        anon.post_empty("/api/auth/logout").await.status,
        204,
        "logging out without a session is harmless"
    );

    // Uploads.
    let clip = reelm_media::demo::clips()[1].video;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0".to_vec();
    assert_error(
        &ana.upload_bytes(png, "a.png", "image/png", "png").await,
        415,
        "unsupported_media",
    );
    assert_error(
        &ana.upload_bytes(b"hello, I am text".to_vec(), "a.mp4", "video/mp4", "text")
            .await,
        415,
        "unsupported_media",
    );
    let truncated = clip[..clip.len() / 2].to_vec();
    assert_error(
        &ana.upload_bytes(truncated, "half.mp4", "video/mp4", "half")
            .await,
        415,
        "unsupported_media",
    );
    let head_only = clip[..64].to_vec();
    assert_error(
        &ana.upload_bytes(head_only, "head.mp4", "video/mp4", "head")
            .await,
        415,
        "unsupported_media",
    );
    let mut big = clip.to_vec();
    big.resize(300_000, 0);
    assert_error(
        &ana.upload_bytes(big, "big.mp4", "video/mp4", "big").await,
        413,
        "payload_too_large",
    );
    let huge = vec![0u8; 2_000_000];
    assert_error(
        &ana.upload_bytes(huge, "huge.mp4", "video/mp4", "huge")
            .await,
        413,
        "payload_too_large",
    );
    let no_file = reqwest::multipart::Form::new().text("caption", "where is the file");
    let r = Client::send(ana.request(Method::POST, "/api/videos").multipart(no_file)).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_error(&r, 400, "missing_field");
    assert_error(
        &ana.upload_bytes(Vec::new(), "empty.mp4", "video/mp4", "empty")
            .await,
        400,
        "missing_field",
    );
    let r = Client::send(
        ana.request(Method::POST, "/api/videos").multipart(
            reqwest::multipart::Form::new()
                .text("caption", "x".repeat(301))
                .part("file", reqwest::multipart::Part::bytes(clip.to_vec())),
        ),
    )
    .await;
    assert_error(&r, 400, "validation_failed");
    let anon_up = anon
        .upload_bytes(clip.to_vec(), "a.mp4", "video/mp4", "anon")
        .await;
    assert_error(&anon_up, 401, "unauthenticated");

    assert_eq!(
        s.snapshot().await,
        before,
        "a refused request changed stored state"
    );
}

/// A non-multipart body to `POST /api/videos` is refused in the JSON error format (axum's own
/// rejection would answer plain text).
#[tokio::test]
async fn upload_without_multipart_body_speaks_json() {
    let s = Server::start().await;
    let ana = s.quick_user("ana_json", "DE").await;
    let r = ana.post("/api/videos", &json!({"file": "x"})).await;
    assert_error(&r, 400, "bad_request");
}
