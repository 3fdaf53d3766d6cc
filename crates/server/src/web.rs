//! The web app: plain ES modules and CSS from `web/`, embedded in the binary at build time so
//! the platform runs with no build step and no files beside the binary.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};
use reelm_platform::Platform;
use std::sync::Arc;

static WEB: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../web");

pub fn router() -> Router<Arc<Platform>> {
    Router::new()
        .route("/static/{*path}", get(asset))
        .fallback(get(index))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/json",
        _ => "application/octet-stream",
    }
}

async fn asset(Path(path): Path<String>) -> Response {
    match WEB.get_file(&path) {
        Some(f) => {
            let mut resp = f.contents().into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&path)),
            );
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            resp
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// Every other path is a page of the single-page app (`/`, `/@ana`, `/v/123`, …).
async fn index() -> Response {
    match WEB.get_file("index.html") {
        Some(f) => {
            let mut resp = f.contents().into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
            resp
        }
        None => (
            StatusCode::NOT_FOUND,
            "the web app is not built into this binary",
        )
            .into_response(),
    }
}
