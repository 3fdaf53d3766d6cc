//! Shared helpers: a platform served on a random loopback port, HTTP clients that carry a
//! session (cookies + CSRF header), quick sign-ups and uploads.

use reelm_core::{Config, RegionId, UserId};
use reelm_server::{Cell, Platform};
use reqwest::Method;
use reqwest::cookie::Jar;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};
use std::sync::Arc;
use tempfile::TempDir;

/// A platform with three regions in a temp dir, served on 127.0.0.1:<random>.
pub struct Server {
    pub base: String,
    pub platform: Arc<Platform>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    // Dropped last: the stores live in it.
    pub dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` changed the default configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::load(dir.path(), None, &|_| None).unwrap();
        adjust(&mut config);
        Server::serve(config, dir).await
    }

    /// Stops serving, closes the stores and opens the same data dir again, as a restart would
    /// (e.g. after an offline key rotation).
    pub async fn reopen(mut self) -> Server {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.platform.close().await;
        let config = self.platform.config.clone();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Server::serve(config, dir).await
    }

    async fn serve(config: Config, dir: TempDir) -> Server {
        // RUST_LOG=reelm_server=debug shows the platform's logs beside a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let platform = Arc::new(Platform::open(config).await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = platform.clone();
        tokio::spawn(async move {
            let _ = reelm_server::run(listener, served, async move {
                let _ = stopped.await;
            })
            .await;
        });
        Server {
            base,
            platform,
            stop: Some(stop),
            dir,
        }
    }

    pub fn cell(&self, region: &str) -> &Arc<Cell> {
        self.platform.cell(&RegionId::new(region).unwrap()).unwrap()
    }

    /// A client without a session.
    pub fn anon(&self) -> Client {
        Client::new(&self.base, Arc::new(Jar::default()))
    }

    /// Signs up over HTTP (the real path, with Argon2) and returns the signed-in client.
    pub async fn signup(&self, handle: &str, country: &str) -> Client {
        let mut c = self.anon();
        let r = c
            .post("/api/auth/signup", &signup_body(handle, country))
            .await;
        assert_eq!(r.status, 201, "sign-up of {handle}: {}", r.text());
        c.adopt_session(&r);
        c
    }

    /// Creates an account through the operations layer (no password, so no Argon2 work) and a
    /// session for it; much faster when a test needs many people.
    pub async fn quick_user(&self, handle: &str, country: &str) -> Client {
        use reelm_accounts::accounts;
        // The ops layer trusts its caller; keep test handles valid so the API can find them.
        assert_eq!(
            reelm_core::validate::handle(handle).as_deref(),
            Ok(handle),
            "test handle {handle:?} is not valid"
        );
        let p = &self.platform;
        let email = format!("{handle}@example.org");
        let user = accounts::create_account(p, handle, &email, None, "1990-01-01", country, handle)
            .await
            .unwrap();
        let s = accounts::start_session(p, user).await.unwrap();
        let jar = Arc::new(Jar::default());
        let url: reqwest::Url = self.base.parse().unwrap();
        jar.add_cookie_str(
            &format!("reelm_session={}.{}; Path=/", s.cell.id(), s.token.expose()),
            &url,
        );
        jar.add_cookie_str(&format!("reelm_csrf={}; Path=/", s.csrf.expose()), &url);
        let mut c = Client::new(&self.base, jar);
        c.csrf = Some(s.csrf.into_inner());
        c.id = user.to_string();
        c.handle = handle.to_owned();
        c.region = s.cell.id().to_string();
        c
    }

    /// Everything a bad request must not change: directory size, row counts per class and
    /// region, and the media files on disk.
    pub async fn snapshot(&self) -> String {
        let report = reelm_audit::run(&self.platform).await.unwrap();
        let files = count_files(self.dir.path());
        format!(
            "directory={} counts={:?} files={files}",
            self.platform.directory.count().await.unwrap(),
            report.counts
        )
    }
}

fn count_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            n += count_files(&path);
        } else if path.to_string_lossy().contains("/media/") {
            n += 1;
        }
    }
    n
}

/// Every file under `dir`, recursively.
pub fn all_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

pub fn signup_body(handle: &str, country: &str) -> Value {
    json!({
        "handle": handle,
        "email": format!("{handle}@example.org"),
        "password": "correct horse battery",
        "birth_date": "1999-04-02",
        "country": country,
    })
}

pub fn user_id(id: &str) -> UserId {
    id.parse().unwrap()
}

/// A finished HTTP exchange: status, headers and the whole body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The `Set-Cookie` line for cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }
}

/// Asserts a failure: the status, our error shape and its code. Returns the message.
#[track_caller]
pub fn assert_error(r: &Resp, status: u16, code: &str) -> String {
    assert_eq!(
        r.status,
        status,
        "expected {status} {code}, got: {}",
        r.text()
    );
    let ct = r.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "error content type {ct:?}"
    );
    let v = r.json();
    let err = v
        .get("error")
        .unwrap_or_else(|| panic!("no error object: {v}"));
    assert_eq!(err["code"], code, "error body: {v}");
    let message = err["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {v}"));
    assert!(!message.is_empty());
    assert_eq!(
        v.as_object().unwrap().len(),
        1,
        "only `error` at the top: {v}"
    );
    message.to_owned()
}

/// An HTTP client with its own cookie jar; sends `X-CSRF-Token` when it knows the token.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: Option<String>,
    pub id: String,
    pub handle: String,
    pub region: String,
}

impl Client {
    pub fn new(base: &str, jar: Arc<Jar>) -> Client {
        let http = reqwest::Client::builder()
            .cookie_provider(jar)
            .build()
            .unwrap();
        Client {
            http,
            base: base.to_owned(),
            csrf: None,
            id: String::new(),
            handle: String::new(),
            region: String::new(),
        }
    }

    /// Takes the user and the CSRF token from a sign-up or log-in answer (the jar already has
    /// the cookies).
    pub fn adopt_session(&mut self, r: &Resp) {
        let user = r.json();
        let csrf = r.set_cookie("reelm_csrf").expect("a reelm_csrf cookie");
        let value = csrf
            .trim_start_matches("reelm_csrf=")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        self.csrf = Some(value);
        self.id = user["id"].as_str().unwrap().to_owned();
        self.handle = user["handle"].as_str().unwrap().to_owned();
        self.region = user["region"].as_str().unwrap().to_owned();
    }

    pub fn user_id(&self) -> UserId {
        user_id(&self.id)
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = &self.csrf
            && method != Method::GET
        {
            b = b.header("x-csrf-token", t);
        }
        b
    }

    pub async fn send(b: reqwest::RequestBuilder) -> Resp {
        let r = b.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.unwrap().to_vec();
        assert_ne!(
            status,
            500,
            "internal error: {}",
            String::from_utf8_lossy(&body)
        );
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        Client::send(self.request(Method::GET, path)).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        Client::send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn post_empty(&self, path: &str) -> Resp {
        Client::send(self.request(Method::POST, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        Client::send(self.request(Method::DELETE, path)).await
    }

    /// Uploads `bytes` as the `file` field of a multipart form.
    pub async fn upload_bytes(
        &self,
        bytes: Vec<u8>,
        file_name: &str,
        mime: &str,
        caption: &str,
    ) -> Resp {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(mime)
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .text("caption", caption.to_owned())
            .text("hashtags", "#travel, music")
            .part("file", part);
        Client::send(self.request(Method::POST, "/api/videos").multipart(form)).await
    }

    /// Uploads demo clip `i` with these hashtags and returns the new video's id.
    pub async fn upload_tagged(&self, clip: usize, hashtags: &str) -> String {
        let clip = &reelm_media::demo::clips()[clip];
        let part = reqwest::multipart::Part::bytes(clip.video.to_vec())
            .file_name(clip.file.to_owned())
            .mime_str("video/mp4")
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .text("caption", clip.caption.to_owned())
            .text("hashtags", hashtags.to_owned())
            .part("file", part);
        let r = Client::send(self.request(Method::POST, "/api/videos").multipart(form)).await;
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// Uploads demo clip `i` and returns the new video (asserting 201).
    pub async fn upload_clip(&self, i: usize) -> Value {
        let clip = &reelm_media::demo::clips()[i];
        let r = self
            .upload_bytes(clip.video.to_vec(), clip.file, "video/mp4", clip.caption)
            .await;
        assert_eq!(r.status, 201, "upload: {}", r.text());
        r.json()
    }

    /// Follows every page of a list from `path` (which has no query or ends in `?…&`), with
    /// `limit`, and returns all items in order.
    pub async fn all_pages(&self, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        for page_no in 0..1000 {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
                None => format!("{path}{sep}limit={limit}"),
            };
            let page = self.get_json(&url).await;
            let got = page["items"].as_array().unwrap();
            assert!(
                got.len() <= limit,
                "page larger than limit {limit}: {}",
                got.len()
            );
            for item in got {
                let key = item.get("id").or_else(|| item.pointer("/video/id"));
                if let Some(prev) = items.iter().position(|i| {
                    key.is_some() && i.get("id").or_else(|| i.pointer("/video/id")) == key
                }) {
                    panic!(
                        "{path} with limit {limit}: page {page_no} repeats item #{prev} ({})",
                        key.unwrap_or(&Value::Null)
                    );
                }
                items.push(item.clone());
            }
            match page["next_cursor"].as_str() {
                Some(c) => {
                    assert!(!got.is_empty(), "an empty page with a next cursor");
                    cursor = Some(c.to_owned());
                }
                None => return items,
            }
        }
        panic!("pagination of {path} never ended");
    }
}

pub fn ids(items: &[Value], pointer: &str) -> Vec<String> {
    items
        .iter()
        .map(|v| {
            v.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        })
        .collect()
}
