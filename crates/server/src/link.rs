//! The cell interface: everything one cell (or the edge) may ask of ANOTHER region's cell.
//! It is deliberately small — public reads (videos, profiles, display names, the public
//! listing of comments, trending lists) and the transfer gateway's deliveries (public counter
//! deltas, k-anonymous feed aggregates) — because nothing else may cross a region's border.
//!
//! [`CellLink::Local`] serves it from a cell in this process (the demo keeps all cells in one
//! process); [`CellLink::Remote`] serves it from a cell in another process over HTTPS with
//! mutual TLS ([`crate::tls`], routes in [`crate::api::cells`]). Callers cannot tell them
//! apart, so both paths run the same code above this seam. A person's own rows are never
//! read through a link: requests are served in the person's home cell (an edge forwards a
//! request whose home is elsewhere, see [`crate::api::cells::route_home`]).

use crate::api::model::PersonRef;
use crate::error::AppError;
use crate::events::Imported;
use crate::platform::Cell;
use axum::body::Body;
use axum::http::{Method, Request, Response, header};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use moka::sync::Cache;
use reelm_core::{ErrorCode, RegionId, UserId, VideoId};
use reelm_store::{
    CommentRow, Keyset, ProfileCounterDelta, ProfileRow, VideoCounterDelta, VideoRow,
};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// One region's cell as seen from this process.
#[derive(Clone, Debug)]
pub enum CellLink {
    Local(Arc<Cell>),
    Remote(Arc<RemoteCell>),
}

/// Header naming the region whose edge forwarded a request to its home cell; a forwarded
/// request is never forwarded again.
pub const FORWARDED_FROM: &str = "x-reelm-forwarded-from";

impl CellLink {
    pub fn id(&self) -> &RegionId {
        match self {
            CellLink::Local(c) => c.id(),
            CellLink::Remote(r) => &r.region,
        }
    }

    /// The cell, when it runs in this process.
    pub fn local(&self) -> Option<&Arc<Cell>> {
        match self {
            CellLink::Local(c) => Some(c),
            CellLink::Remote(_) => None,
        }
    }

    /// A video held by this cell, in any status.
    pub async fn video(&self, id: VideoId) -> Result<Option<VideoRow>, AppError> {
        match self {
            CellLink::Local(c) => Ok(c.store.video(id).await?),
            CellLink::Remote(r) => r.get(&format!("videos/{id}")).await,
        }
    }

    /// The videos among `ids` held by this cell, in any status.
    pub async fn videos(&self, ids: &[VideoId]) -> Result<Vec<VideoRow>, AppError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            CellLink::Local(c) => Ok(c.store.videos(ids).await?),
            CellLink::Remote(r) => r.post("videos", &serde_json::json!({ "ids": ids })).await,
        }
    }

    /// The newest published videos.
    pub async fn recent_videos(&self, limit: i64) -> Result<Vec<VideoRow>, AppError> {
        match self {
            CellLink::Local(c) => Ok(c.store.recent_videos(limit).await?),
            CellLink::Remote(r) => r.get(&format!("videos/recent?limit={limit}")).await,
        }
    }

    /// The most liked published videos.
    pub async fn top_videos(&self, limit: i64) -> Result<Vec<VideoRow>, AppError> {
        match self {
            CellLink::Local(c) => Ok(c.store.top_videos(limit).await?),
            CellLink::Remote(r) => r.get(&format!("videos/top?limit={limit}")).await,
        }
    }

    /// What trends among the region's people: videos with at least `min_viewers` distinct
    /// viewers (so no value rests on fewer people), strongest first.
    pub async fn trending(
        &self,
        now_ms: i64,
        min_viewers: i64,
        limit: usize,
    ) -> Result<Vec<(VideoId, f64)>, AppError> {
        match self {
            CellLink::Local(c) => Ok(c.events.state.trending(now_ms, min_viewers, limit)),
            CellLink::Remote(r) => {
                r.get(&format!(
                    "trending?now_ms={now_ms}&min_viewers={min_viewers}&limit={limit}"
                ))
                .await
            }
        }
    }

    /// Each creator's newest published videos held by this cell (empty lists for creators
    /// with none here), in the order of `creators`.
    pub async fn creator_videos(
        &self,
        creators: &[UserId],
    ) -> Result<Vec<Arc<Vec<VideoRow>>>, AppError> {
        match self {
            CellLink::Local(c) => {
                let mut out = Vec::with_capacity(creators.len());
                for creator in creators {
                    out.push(c.creator_videos(*creator).await?);
                }
                Ok(out)
            }
            CellLink::Remote(r) => r.creator_videos(creators).await,
        }
    }

    /// Published videos of `creators` before `after`, newest first.
    pub async fn videos_by_creators(
        &self,
        creators: &[UserId],
        after: Keyset,
        limit: i64,
    ) -> Result<Vec<VideoRow>, AppError> {
        match self {
            CellLink::Local(c) => Ok(c.store.videos_by_creators(creators, after, limit).await?),
            CellLink::Remote(r) => {
                r.post(
                    "videos/by-creators",
                    &serde_json::json!({ "creators": creators, "after": after, "limit": limit }),
                )
                .await
            }
        }
    }

    /// Display references (handle, name) of people homed in this cell.
    pub async fn people(&self, ids: &[UserId]) -> Result<Vec<PersonRef>, AppError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            CellLink::Local(c) => c.people(ids).await,
            CellLink::Remote(r) => r.people(ids).await,
        }
    }

    /// A person's public profile.
    pub async fn profile(&self, user: UserId) -> Result<Option<ProfileRow>, AppError> {
        match self {
            CellLink::Local(c) => Ok(c.store.profile(user).await?),
            CellLink::Remote(r) => r.get(&format!("profiles/{user}")).await,
        }
    }

    /// The public listing of comments on `video` written by people homed in this cell.
    pub async fn comments_on(
        &self,
        video: VideoId,
        after: Keyset,
        limit: i64,
    ) -> Result<Vec<CommentRow>, AppError> {
        match self {
            CellLink::Local(c) => Ok(c.store.comments_on(video, after, limit).await?),
            CellLink::Remote(r) => {
                r.get(&format!(
                    "videos/{video}/comments?after_at={}&after_id={}&limit={limit}",
                    after.at, after.id
                ))
                .await
            }
        }
    }

    /// Applies a public counter delta to a video held here. Only [`crate::gateway`] calls
    /// this, after the transfer was decided and ledgered in the source region.
    pub(crate) async fn apply_video_counters(
        &self,
        purpose: &str,
        video: VideoId,
        delta: VideoCounterDelta,
    ) -> Result<(), AppError> {
        match self {
            CellLink::Local(c) => Ok(c.store.adjust_video_counters(video, delta).await?),
            CellLink::Remote(r) => {
                r.post::<serde_json::Value>(
                    "deliver/video-counters",
                    &serde_json::json!({ "purpose": purpose, "video": video, "delta": delta }),
                )
                .await?;
                Ok(())
            }
        }
    }

    /// Applies a public counter delta to a profile held here (gateway only, as above).
    pub(crate) async fn apply_profile_counters(
        &self,
        purpose: &str,
        user: UserId,
        delta: ProfileCounterDelta,
    ) -> Result<(), AppError> {
        match self {
            CellLink::Local(c) => Ok(c.store.adjust_profile_counters(user, delta).await?),
            CellLink::Remote(r) => {
                r.post::<serde_json::Value>(
                    "deliver/profile-counters",
                    &serde_json::json!({ "purpose": purpose, "user": user, "delta": delta }),
                )
                .await?;
                Ok(())
            }
        }
    }

    /// Hands this cell the k-anonymous feed aggregates `from` shares (gateway only, as
    /// above; purpose model_training).
    pub(crate) async fn import_aggregates(
        &self,
        from: &RegionId,
        shared: Imported,
    ) -> Result<(), AppError> {
        match self {
            CellLink::Local(c) => {
                c.events.state.set_imported(from.clone(), shared);
                Ok(())
            }
            CellLink::Remote(r) => {
                r.post::<serde_json::Value>(
                    "deliver/aggregates",
                    &serde_json::json!({ "shared": shared }),
                )
                .await?;
                Ok(())
            }
        }
    }
}

/// How long a call to another cell may take before it counts as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Public rows of another region cached here expire after this long (the same bound on
/// staleness as a cell's own caches).
const REMOTE_TTL: Duration = Duration::from_secs(5);

/// Another region's cell, reached over HTTPS with mutual TLS at its `cell_addr`.
pub struct RemoteCell {
    pub region: RegionId,
    /// `https://<cell_addr>/cell/v1/<region>/`.
    base: String,
    /// `https://<cell_addr>`, for forwarded requests.
    origin: String,
    client: Client<HttpsConnector<HttpConnector>, Body>,
    /// Public rows only (videos, display names): never anything personal.
    creator_videos: Cache<UserId, Arc<Vec<VideoRow>>>,
    people: Cache<UserId, PersonRef>,
}

impl std::fmt::Debug for RemoteCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCell")
            .field("region", &self.region)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl RemoteCell {
    /// A client for `region`'s cell at `addr`, presenting this cell's certificate and
    /// accepting only a server certificate valid for `region`'s cell name.
    pub fn new(region: RegionId, addr: &str, tls: &crate::tls::CellTls) -> RemoteCell {
        let name = rustls::pki_types::ServerName::try_from(crate::tls::cell_name(&region))
            .map(|n| n.to_owned())
            .unwrap_or_else(|_| rustls::pki_types::ServerName::from(std::net::Ipv4Addr::LOCALHOST));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.client.clone())
            .https_only()
            .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            .enable_http1()
            .build();
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        fn cache<V: Clone + Send + Sync + 'static>() -> Cache<UserId, V> {
            Cache::builder()
                .max_capacity(100_000)
                .time_to_live(REMOTE_TTL)
                .build()
        }
        RemoteCell {
            base: format!("https://{addr}/cell/v1/{}/", region.as_str()),
            origin: format!("https://{addr}"),
            region,
            client,
            creator_videos: cache(),
            people: cache(),
        }
    }

    fn unreachable(&self, message: impl std::fmt::Display) -> AppError {
        AppError::Unreachable {
            region: self.region.to_string(),
            message: message.to_string(),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AppError> {
        self.call(Method::GET, path, Body::empty()).await
    }

    /// POSTs `body` to the cell interface's `path` (relative to `/cell/v1/<region>/`).
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, AppError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| AppError::Internal(format!("cell request body: {e}")))?;
        self.call(Method::POST, path, Body::from(bytes)).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<T, AppError> {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| AppError::Internal(format!("cell request: {e}")))?;
        let response = tokio::time::timeout(CALL_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| self.unreachable("no answer within 10 s"))?
            .map_err(|e| self.unreachable(error_chain(&e)))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.unreachable(e))?
            .to_bytes();
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| AppError::Internal(format!("region {} answered: {e}", self.region)));
        }
        // A person's mistake detected over there (e.g. a video that does not exist) stays
        // that mistake here; anything else is the other cell's failure.
        if status.is_client_error()
            && let Some((code, message)) = error_of(&bytes)
        {
            return Err(AppError::user(code, message));
        }
        Err(self.unreachable(format!("HTTP {status}")))
    }

    async fn creator_videos(
        &self,
        creators: &[UserId],
    ) -> Result<Vec<Arc<Vec<VideoRow>>>, AppError> {
        let missing: Vec<UserId> = creators
            .iter()
            .filter(|c| !self.creator_videos.contains_key(*c))
            .copied()
            .collect();
        if !missing.is_empty() {
            let fetched: Vec<(UserId, Vec<VideoRow>)> = self
                .post(
                    "creator-videos",
                    &serde_json::json!({ "creators": missing }),
                )
                .await?;
            for (creator, videos) in fetched {
                self.creator_videos.insert(creator, Arc::new(videos));
            }
        }
        Ok(creators
            .iter()
            .map(|c| self.creator_videos.get(c).unwrap_or_default())
            .collect())
    }

    async fn people(&self, ids: &[UserId]) -> Result<Vec<PersonRef>, AppError> {
        let mut out = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match self.people.get(id) {
                Some(p) => out.push(p),
                None => missing.push(*id),
            }
        }
        if !missing.is_empty() {
            missing.sort();
            missing.dedup();
            let fetched: Vec<PersonRef> = self
                .post("people", &serde_json::json!({ "ids": missing }))
                .await?;
            for p in fetched {
                self.people.insert(p.id, p.clone());
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Sends a request made to this process on to the cell at home for it, unchanged but for
    /// its address and the [`FORWARDED_FROM`] mark, and streams the answer back.
    pub async fn forward(&self, request: Request<Body>, from: &RegionId) -> Response<Body> {
        let (mut parts, body) = request.into_parts();
        // Inside a nested router the URI lost its prefix (`/api`); forward the original.
        let original = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|o| o.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        let path = original
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        parts.uri = match format!("{}{path}", self.origin).parse() {
            Ok(uri) => uri,
            Err(e) => return AppError::Internal(format!("forward uri: {e}")).into_response(),
        };
        for hop in [
            header::HOST,
            header::CONNECTION,
            header::TE,
            header::TRAILER,
            header::UPGRADE,
        ] {
            parts.headers.remove(hop);
        }
        if let Ok(v) = from.as_str().parse() {
            parts.headers.insert(FORWARDED_FROM, v);
        }
        match self.client.request(Request::from_parts(parts, body)).await {
            Ok(response) => response.map(Body::new),
            Err(e) => self.unreachable(error_chain(&e)).into_response(),
        }
    }
}

/// `{"error":{"code","message"}}` of another cell's answer, when it is one of ours.
fn error_of(bytes: &[u8]) -> Option<(ErrorCode, String)> {
    #[derive(serde::Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        code: String,
        message: String,
    }
    let body: Body = serde_json::from_slice(bytes).ok()?;
    let code = ErrorCode::ALL
        .iter()
        .find(|c| c.name() == body.error.code)
        .copied()?;
    Some((code, body.error.message))
}

/// An error and its causes on one line (hyper's client errors say little on their own).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}
