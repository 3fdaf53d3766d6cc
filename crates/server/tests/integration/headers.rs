//! Every answer carries the browser-hardening headers: JSON answers, errors and the web app's
//! pages alike.

use crate::common::{Resp, Server};

fn assert_hardened(r: &Resp, what: &str) {
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("content-security-policy", "frame-ancestors 'none'"),
    ] {
        assert_eq!(
            r.header(name).as_deref(),
            Some(value),
            "{what} ({}) has {name}: {value}",
            r.status
        );
    }
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let s = Server::start().await;
    let anon = s.anon();

    let json = anon.get("/api/regions").await;
    assert_eq!(json.status, 200);
    assert_hardened(&json, "a JSON answer");

    let missing = anon.get("/api/no-such-endpoint").await;
    assert_eq!(missing.status, 404);
    assert_hardened(&missing, "an unknown endpoint's error");

    let no_video = anon.get("/api/videos/not-an-id").await;
    assert!(no_video.status >= 400, "{}", no_video.text());
    assert_hardened(&no_video, "a handler's error");

    let index = anon.get("/").await;
    assert_eq!(index.status, 200);
    assert!(index.text().contains("<html"), "the web app's index page");
    assert_hardened(&index, "the web app's index page");

    let deep_link = anon.get("/@ana").await;
    assert_eq!(deep_link.status, 200);
    assert_hardened(&deep_link, "a deep link to the web app");
}
