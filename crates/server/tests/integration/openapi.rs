//! The OpenAPI document is generated from the handlers (`api/openapi.rs`); these tests hold it
//! to the router, to the hand-written document it replaced, and to live answers.

use crate::common::{Client, Server};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn generated() -> Value {
    serde_json::from_str(reelm_server::api::openapi::document()).expect("the document is JSON")
}

fn handwritten() -> Value {
    serde_json::from_str(include_str!("../fixtures/openapi-handwritten.json"))
        .expect("the fixture is JSON")
}

/// `(path, method)` of every operation of a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in item.as_object().expect("path item").keys() {
            if METHODS.contains(&m.as_str()) {
                out.insert((path.clone(), m.clone()));
            }
        }
    }
    out
}

/// `(path, method)` of every route in the router's source, e.g. `.route("/me",
/// get(accounts::me).delete(accounts::erase_me))` gives `/api/me` with `get` and `delete`.
fn routed() -> BTreeSet<(String, String)> {
    let src = include_str!("../../src/api/mod.rs");
    let mut out = BTreeSet::new();
    for rest in src.split(".route(").skip(1) {
        let start = rest.find('"').unwrap() + 1;
        let end = start + rest[start..].find('"').unwrap();
        let path = format!("/api{}", &rest[start..end]);
        // The route's handlers: up to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let mut close = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let handlers = &rest[end..close];
        let mut found = false;
        for m in METHODS {
            // `get(` as a method router, not `videos::get)` the handler of that name.
            let needle = format!("{m}(");
            let as_router = handlers.match_indices(&needle).any(|(i, _)| {
                let before = handlers[..i].chars().next_back();
                !matches!(before, Some(c) if c.is_alphanumeric() || c == '_' || c == ':')
            });
            if as_router {
                out.insert((path.clone(), m.to_owned()));
                found = true;
            }
        }
        assert!(found, "no method found for route {path}: {handlers}");
    }
    out
}

#[test]
fn router_source_and_document_list_the_same_operations() {
    let routed = routed();
    let documented = operations(&generated());
    assert!(routed.len() >= 33, "the route parser found {routed:?}");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routed but missing from the OpenAPI document (add #[utoipa::path] and list it in \
         ApiDoc): {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

/// Nothing of the hand-written document that the generated one replaced went missing: its
/// operations, their parameters and response statuses, its schemas and their properties.
#[test]
fn generated_document_keeps_everything_of_the_handwritten_one() {
    let old = handwritten();
    let new = generated();
    let mut missing = Vec::new();
    for (path, method) in operations(&old) {
        let o = &old["paths"][&path][&method];
        let n = &new["paths"][&path][&method];
        if n.is_null() {
            missing.push(format!("{method} {path}"));
            continue;
        }
        let params = |op: &Value| -> BTreeSet<(String, String)> {
            op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            (
                                p["name"].as_str().unwrap().to_owned(),
                                p["in"].as_str().unwrap().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        for (name, place) in params(o).difference(&params(n)) {
            missing.push(format!("{method} {path}: parameter {name} in {place}"));
        }
        for status in o["responses"].as_object().unwrap().keys() {
            if n["responses"].get(status).is_none() {
                missing.push(format!("{method} {path}: response {status}"));
            }
        }
        if o.get("requestBody").is_some() {
            let types = |op: &Value| -> BTreeSet<String> {
                op["requestBody"]["content"]
                    .as_object()
                    .map(|c| c.keys().cloned().collect())
                    .unwrap_or_default()
            };
            for t in types(o).difference(&types(n)) {
                missing.push(format!("{method} {path}: request body {t}"));
            }
        }
    }
    let schemas = new["components"]["schemas"].as_object().unwrap();
    for (name, schema) in old["components"]["schemas"].as_object().unwrap() {
        let Some(now) = schemas.get(name) else {
            missing.push(format!("schema {name}"));
            continue;
        };
        for prop in schema["properties"].as_object().into_iter().flatten() {
            if now["properties"].get(prop.0).is_none() {
                missing.push(format!("schema {name}: property {}", prop.0));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "missing from the generated document: {missing:#?}"
    );
}

#[test]
fn every_failure_answers_the_error_schema() {
    let doc = generated();
    let error_ref = "#/components/schemas/Error";
    let mut ids = BTreeSet::new();
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        assert!(
            ids.insert(op["operationId"].as_str().unwrap().to_owned()),
            "{method} {path}: operationId {} is not unique",
            op["operationId"]
        );
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path} has no tag"
        );
        for (status, resp) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') || status == "default" {
                assert_eq!(
                    resp["content"]["application/json"]["schema"]["$ref"], error_ref,
                    "{method} {path} {status}"
                );
            }
        }
        assert!(op["responses"].get("default").is_some(), "{method} {path}");
    }
    // The error codes are the code's own table.
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let table: Vec<&str> = reelm_core::ErrorCode::ALL
        .iter()
        .map(|c| c.name())
        .collect();
    assert_eq!(codes, table);
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["name"], "reelm_session");
    assert_eq!(schemes["operator"]["name"], "reelm_ops");
}

/// Every `$ref` in the document names a schema it has.
#[test]
fn every_reference_resolves() {
    fn walk(v: &Value, doc: &Value, bad: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let name = r.trim_start_matches("#/components/schemas/");
                    if doc["components"]["schemas"].get(name).is_none() {
                        bad.push(r.clone());
                    }
                }
                m.values().for_each(|x| walk(x, doc, bad));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, doc, bad)),
            _ => {}
        }
    }
    let doc = generated();
    let mut bad = Vec::new();
    walk(&doc, &doc, &mut bad);
    assert!(bad.is_empty(), "dangling references: {bad:?}");
}

/// The property names of a component schema.
fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][name]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name} has no properties"))
        .keys()
        .cloned()
        .collect()
}

#[track_caller]
fn assert_shape(doc: &Value, name: &str, answer: &Value) {
    let keys: BTreeSet<String> = answer
        .as_object()
        .unwrap_or_else(|| panic!("{name}: not an object: {answer}"))
        .keys()
        .cloned()
        .collect();
    // Every property answered is documented, and every required one is answered (optional
    // ones, such as a video's `screening_reason` for its creator, may be absent).
    let documented = properties(doc, name);
    assert!(
        keys.is_subset(&documented),
        "{name}: undocumented properties in {answer}"
    );
    let required: BTreeSet<String> = doc["components"]["schemas"][name]["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        required.is_subset(&keys),
        "{name}: required properties missing in {answer}"
    );
}

/// The shapes described in `api/openapi.rs` rather than derived from a handler's type match
/// what the handlers answer, and so do a few derived ones.
#[tokio::test]
async fn documented_shapes_match_live_answers() {
    let s = Server::start().await;
    let doc = generated();
    let anon = s.anon();
    assert_shape(&doc, "Health", &anon.get_json("/api/health").await);
    let regions = anon.get_json("/api/regions").await;
    assert!(!regions.as_array().unwrap().is_empty());
    for r in regions.as_array().unwrap() {
        assert_shape(&doc, "Region", r);
    }
    assert_shape(
        &doc,
        "Placement",
        &anon.get_json("/api/regions/placement?country=DE").await,
    );
    let bad = anon
        .get("/api/regions/placement?country=Germany")
        .await
        .json();
    assert_shape(&doc, "Error", &bad);
    let detail = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
        .as_object()
        .unwrap();
    let got: BTreeSet<&String> = bad["error"].as_object().unwrap().keys().collect();
    assert_eq!(got, detail.keys().collect::<BTreeSet<_>>());

    let ana = s.signup("ana", "DE").await;
    let bob = s.signup("bob", "US").await;
    assert_shape(&doc, "User", &ana.get_json("/api/me").await);
    let video = bob.upload_clip(0).await;
    assert_shape(&doc, "Video", &video);
    let id = video["id"].as_str().unwrap();
    let like = ana.post_empty(&format!("/api/videos/{id}/like")).await;
    assert_eq!(like.status, 200, "{}", like.text());
    assert_shape(&doc, "LikeState", &like.json());
    let unlike = ana.delete(&format!("/api/videos/{id}/like")).await;
    assert_shape(&doc, "LikeState", &unlike.json());
    let follow = ana.post_empty("/api/users/bob/follow").await;
    assert_eq!(follow.status, 200, "{}", follow.text());
    assert_shape(&doc, "FollowState", &follow.json());
    let view = ana
        .post(
            &format!("/api/videos/{id}/views"),
            &json!({"watch_ms": 1000, "completed": false}),
        )
        .await;
    assert_eq!(view.status, 202, "{}", view.text());
    assert_shape(&doc, "Recorded", &view.json());
    let share = ana.post_empty(&format!("/api/videos/{id}/share")).await;
    assert_eq!(share.status, 202, "{}", share.text());
    assert_shape(&doc, "Recorded", &share.json());
    let comment = ana
        .post(
            &format!("/api/videos/{id}/comments"),
            &json!({"text": "nice"}),
        )
        .await;
    assert_eq!(comment.status, 201, "{}", comment.text());
    assert_shape(&doc, "Comment", &comment.json());
    let page = ana
        .get_json(&format!("/api/videos/{id}/comments?limit=1"))
        .await;
    assert_shape(&doc, "CommentPage", &page);
    assert_shape(
        &doc,
        "VideoPage",
        &ana.get_json("/api/users/bob/videos").await,
    );
    assert_shape(
        &doc,
        "FeedItemPage",
        &ana.get_json("/api/feed/following").await,
    );
    let for_you = ana.get_json("/api/feed/foryou").await;
    assert_shape(&doc, "FeedPage", &for_you);
    assert_shape(
        &doc,
        "AccessLogPage",
        &ana.get_json("/api/me/access-log").await,
    );
    assert_shape(
        &doc,
        "DataLocation",
        &ana.get_json("/api/me/data-location").await,
    );
    assert_shape(&doc, "Profile", &ana.get_json("/api/users/bob").await);
}

#[tokio::test]
async fn openapi_is_served_and_every_documented_operation_is_routed() {
    let s = Server::start().await;
    let r = s.anon().get("/api/openapi.json").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let doc = r.json();
    assert_eq!(doc, generated(), "the served document is the generated one");
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    // The router answers every documented operation with something other than "no such
    // endpoint" or "method not allowed".
    let anon = s.anon();
    for (path, method) in operations(&doc) {
        let url = path.replace("{id}", "1").replace("{handle}", "nobody_here");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = Client::send(anon.request(m, &url)).await;
        assert_ne!(r.status, 405, "{method} {path}: {}", r.text());
        assert!(
            !r.text().contains("no such API endpoint"),
            "{method} {path}: {}",
            r.text()
        );
    }
}
