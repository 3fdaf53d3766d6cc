//! The OpenAPI document describes every route the router serves, and nothing it does not.

use crate::common::Server;
use reqwest::Method;

/// Every route in `crates/server/src/api/mod.rs`, with its methods.
const ROUTES: &[(&str, &[&str])] = &[
    ("/api/health", &["get"]),
    ("/api/regions", &["get"]),
    ("/api/regions/placement", &["get"]),
    ("/api/openapi.json", &["get"]),
    ("/api/auth/signup", &["post"]),
    ("/api/auth/login", &["post"]),
    ("/api/auth/logout", &["post"]),
    ("/api/me", &["get", "delete"]),
    ("/api/me/data-location", &["get"]),
    ("/api/me/access-log", &["get"]),
    ("/api/ops/login", &["post"]),
    ("/api/ops/me", &["get"]),
    ("/api/ops/break-glass", &["post"]),
    ("/api/ops/break-glass/{id}/approve", &["post"]),
    ("/api/ops/people/{handle}/personal", &["get"]),
    ("/api/videos", &["post"]),
    ("/api/videos/{id}", &["get"]),
    ("/api/videos/{id}/media", &["get"]),
    ("/api/videos/{id}/poster", &["get"]),
    ("/api/videos/{id}/like", &["post", "delete"]),
    ("/api/videos/{id}/comments", &["get", "post"]),
    ("/api/videos/{id}/views", &["post"]),
    ("/api/videos/{id}/not-interested", &["post"]),
    ("/api/videos/{id}/share", &["post"]),
    ("/api/users/{handle}", &["get"]),
    ("/api/users/{handle}/videos", &["get"]),
    ("/api/users/{handle}/follow", &["post", "delete"]),
    ("/api/feed/following", &["get"]),
    ("/api/feed/foryou", &["get"]),
];

#[test]
fn route_list_matches_the_router_source() {
    // Keeps ROUTES honest: a route added to the router without being added here fails.
    let src = include_str!("../../src/api/mod.rs");
    let mut in_source: Vec<String> = src
        .split(".route(")
        .skip(1)
        .map(|rest| {
            let start = rest.find('"').unwrap() + 1;
            let end = start + rest[start..].find('"').unwrap();
            format!("/api{}", &rest[start..end])
        })
        .collect();
    let mut listed: Vec<String> = ROUTES.iter().map(|(p, _)| p.to_string()).collect();
    in_source.sort();
    listed.sort();
    assert_eq!(listed, in_source);
}

#[tokio::test]
async fn openapi_lists_every_served_route() {
    let s = Server::start().await;
    let r = s.anon().get("/api/openapi.json").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in ROUTES {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is missing from the OpenAPI document"));
        for m in *methods {
            assert!(
                item.get(*m).is_some(),
                "{m} {path} is missing from the OpenAPI document"
            );
        }
    }
    // And the document promises nothing the router does not serve.
    let anon = s.anon();
    for (path, item) in paths {
        assert!(
            ROUTES.iter().any(|(p, _)| p == path),
            "{path} is documented but not routed"
        );
        for m in item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
        {
            let (_, methods) = ROUTES.iter().find(|(p, _)| p == path).unwrap();
            assert!(
                methods.contains(&m.as_str()),
                "{m} {path} is documented but not routed"
            );
            let url = path.replace("{id}", "1").replace("{handle}", "nobody_here");
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let r = crate::common::Client::send(anon.request(method, &url)).await;
            assert_ne!(r.status, 405, "{m} {path}: {}", r.text());
            assert!(
                !r.text().contains("no such API endpoint"),
                "{m} {path}: {}",
                r.text()
            );
        }
    }
}
