//! The cell interface: everything one cell (or the edge) may ask of ANOTHER region's cell.
//! It is deliberately small — public reads (videos, profiles, display names, the public
//! listing of comments, trending lists) and the transfer gateway's deliveries (public counter
//! deltas, k-anonymous feed aggregates) — because nothing else may cross a region's border.
//!
//! Its private `Local` variant serves it from a cell in this process (the demo keeps all cells
//! in one process); `Remote` ([`RemoteCell`]) from a cell in another process, posting the
//! typed calls of [`crate::protocol`] over HTTPS with mutual TLS ([`crate::tls`]; the
//! server's cell endpoint answers). Callers cannot tell them apart, so both paths run the same
//! code above this seam. A person's own rows are never
//! read through a link: requests are served in the person's home cell (an edge forwards a
//! request whose home is elsewhere, see `reelm_server::api::cells::route_home`).

use crate::Error;
use crate::platform::Cell;
use crate::protocol::{self, CellCall, video_rows};
use crate::services::Caller;
use crate::views::PersonRef;
use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use moka::sync::Cache;
use reelm_core::{ErrorCode, RegionId, UserId, VideoId};
use reelm_events::Imported;
use reelm_store::{
    CommentRow, Keyset, ProfileCounterDelta, ProfileRow, VideoCounterDelta, VideoRow,
};
use std::sync::Arc;
use std::time::Duration;

/// One region's cell as seen from this process. The variants are private: callers cannot
/// tell an in-process cell from a remote one, so both deployments run the same code.
#[derive(Clone, Debug)]
pub struct CellLink(Link);

#[derive(Clone, Debug)]
enum Link {
    Local(Arc<Cell>),
    Remote(Arc<RemoteCell>),
}

/// The body of a request sent to another cell (a forwarded request streams its body through).
pub type OutBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Header naming the region whose edge forwarded a request to its home cell; a forwarded
/// request is never forwarded again.
pub const FORWARDED_FROM: &str = "x-reelm-forwarded-from";

impl CellLink {
    /// The link to a cell in this process.
    pub fn local(cell: Arc<Cell>) -> CellLink {
        CellLink(Link::Local(cell))
    }

    /// The link to a cell in another process.
    pub fn remote(cell: Arc<RemoteCell>) -> CellLink {
        CellLink(Link::Remote(cell))
    }

    /// The other process's cell, when this one is remote (to forward a request there).
    pub fn as_remote(&self) -> Option<&Arc<RemoteCell>> {
        match &self.0 {
            Link::Local(_) => None,
            Link::Remote(r) => Some(r),
        }
    }

    /// Makes call `C` on this cell as the cell of `from`: in process through the handler the
    /// cell's services registered, otherwise over mutual TLS (where the callee learns `from`
    /// from our certificate).
    pub async fn call<C: CellCall>(
        &self,
        from: &RegionId,
        request: C,
    ) -> Result<C::Response, Error> {
        match &self.0 {
            Link::Local(c) => {
                let handler = c.services.handler::<C>().ok_or_else(|| {
                    Error::Internal(format!("no handler registered for cell call {}", C::PATH))
                })?;
                let caller = Caller {
                    region: from.clone(),
                };
                handler(c.clone(), caller, request).await
            }
            Link::Remote(r) => r.call(&request).await,
        }
    }

    pub fn id(&self) -> &RegionId {
        match &self.0 {
            Link::Local(c) => c.id(),
            Link::Remote(r) => &r.region,
        }
    }

    /// The cell, when it runs in this process.
    pub fn as_local(&self) -> Option<&Arc<Cell>> {
        match &self.0 {
            Link::Local(c) => Some(c),
            Link::Remote(_) => None,
        }
    }

    /// A video held by this cell, in any status.
    pub async fn video(&self, id: VideoId) -> Result<Option<VideoRow>, Error> {
        match &self.0 {
            Link::Local(c) => Ok(c.store.video(id).await?),
            Link::Remote(r) => Ok(r
                .call(&protocol::GetVideo { id })
                .await?
                .map(VideoRow::from)),
        }
    }

    /// The videos among `ids` held by this cell, in any status.
    pub async fn videos(&self, ids: &[VideoId]) -> Result<Vec<VideoRow>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match &self.0 {
            Link::Local(c) => Ok(c.store.videos(ids).await?),
            Link::Remote(r) => Ok(video_rows(
                r.call(&protocol::GetVideos { ids: ids.to_vec() }).await?,
            )),
        }
    }

    /// The newest published videos.
    pub async fn recent_videos(&self, limit: i64) -> Result<Vec<VideoRow>, Error> {
        match &self.0 {
            Link::Local(c) => Ok(c.store.recent_videos(limit).await?),
            Link::Remote(r) => Ok(video_rows(r.call(&protocol::RecentVideos { limit }).await?)),
        }
    }

    /// The most liked published videos.
    pub async fn top_videos(&self, limit: i64) -> Result<Vec<VideoRow>, Error> {
        match &self.0 {
            Link::Local(c) => Ok(c.store.top_videos(limit).await?),
            Link::Remote(r) => Ok(video_rows(r.call(&protocol::TopVideos { limit }).await?)),
        }
    }

    /// What trends among the region's people: videos with at least `min_viewers` distinct
    /// viewers (so no value rests on fewer people), strongest first.
    pub async fn trending(
        &self,
        now_ms: i64,
        min_viewers: i64,
        limit: usize,
    ) -> Result<Vec<(VideoId, f64)>, Error> {
        match &self.0 {
            Link::Local(c) => Ok(c.events.state.trending(now_ms, min_viewers, limit)),
            Link::Remote(r) => {
                r.call(&protocol::Trending {
                    now_ms,
                    min_viewers,
                    limit,
                })
                .await
            }
        }
    }

    /// Each creator's newest published videos held by this cell (empty lists for creators
    /// with none here), in the order of `creators`.
    pub async fn creator_videos(
        &self,
        creators: &[UserId],
    ) -> Result<Vec<Arc<Vec<VideoRow>>>, Error> {
        match &self.0 {
            Link::Local(c) => {
                let mut out = Vec::with_capacity(creators.len());
                for creator in creators {
                    out.push(c.creator_videos(*creator).await?);
                }
                Ok(out)
            }
            Link::Remote(r) => r.creator_videos(creators).await,
        }
    }

    /// Published videos of `creators` before `after`, newest first.
    pub async fn videos_by_creators(
        &self,
        creators: &[UserId],
        after: Keyset,
        limit: i64,
    ) -> Result<Vec<VideoRow>, Error> {
        match &self.0 {
            Link::Local(c) => Ok(c.store.videos_by_creators(creators, after, limit).await?),
            Link::Remote(r) => Ok(video_rows(
                r.call(&protocol::VideosByCreators {
                    creators: creators.to_vec(),
                    after: after.into(),
                    limit,
                })
                .await?,
            )),
        }
    }

    /// Display references (handle, name) of people homed in this cell.
    pub async fn people(&self, ids: &[UserId]) -> Result<Vec<PersonRef>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match &self.0 {
            Link::Local(c) => c.people(ids).await,
            Link::Remote(r) => r.people(ids).await,
        }
    }

    /// A person's public profile.
    pub async fn profile(&self, user: UserId) -> Result<Option<ProfileRow>, Error> {
        match &self.0 {
            Link::Local(c) => Ok(c.store.profile(user).await?),
            Link::Remote(r) => Ok(r
                .call(&protocol::Profile { user })
                .await?
                .map(ProfileRow::from)),
        }
    }

    /// The public listing of comments on `video` written by people homed in this cell.
    pub async fn comments_on(
        &self,
        video: VideoId,
        after: Keyset,
        limit: i64,
    ) -> Result<Vec<CommentRow>, Error> {
        match &self.0 {
            Link::Local(c) => Ok(c.store.comments_on(video, after, limit).await?),
            Link::Remote(r) => Ok(r
                .call(&protocol::CommentsOn {
                    video,
                    after: after.into(),
                    limit,
                })
                .await?
                .into_iter()
                .map(CommentRow::from)
                .collect()),
        }
    }

    /// Applies a public counter delta to a video held here. Only [`crate::gateway`] calls
    /// this, after the transfer was decided and ledgered in the source region.
    pub(crate) async fn apply_video_counters(
        &self,
        purpose: &str,
        video: VideoId,
        delta: VideoCounterDelta,
    ) -> Result<(), Error> {
        match &self.0 {
            Link::Local(c) => Ok(c.store.adjust_video_counters(video, delta).await?),
            Link::Remote(r) => {
                r.call(&protocol::DeliverVideoCounters {
                    purpose: purpose.to_owned(),
                    video,
                    delta: delta.into(),
                })
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
    ) -> Result<(), Error> {
        match &self.0 {
            Link::Local(c) => Ok(c.store.adjust_profile_counters(user, delta).await?),
            Link::Remote(r) => {
                r.call(&protocol::DeliverProfileCounters {
                    purpose: purpose.to_owned(),
                    user,
                    delta: delta.into(),
                })
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
    ) -> Result<(), Error> {
        match &self.0 {
            Link::Local(c) => {
                c.events.state.set_imported(from.clone(), shared);
                Ok(())
            }
            Link::Remote(r) => {
                r.call(&protocol::DeliverAggregates {
                    shared: shared.into(),
                })
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
    /// `https://<cell_addr>`: calls go to `<origin>/cell/<version>/<region>/<path>`.
    origin: String,
    client: Client<HttpsConnector<HttpConnector>, OutBody>,
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
            origin: format!("https://{addr}"),
            region,
            client,
            creator_videos: cache(),
            people: cache(),
        }
    }

    fn unreachable(&self, message: impl std::fmt::Display) -> Error {
        Error::Unreachable {
            region: self.region.to_string(),
            message: message.to_string(),
        }
    }

    /// Makes call `C` over mutual TLS.
    pub async fn call<C: CellCall>(&self, request: &C) -> Result<C::Response, Error> {
        let bytes = serde_json::to_vec(request)
            .map_err(|e| Error::Internal(format!("cell request {}: {e}", C::PATH)))?;
        let body: OutBody = http_body_util::Full::new(Bytes::from(bytes))
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!(
                "{}{}",
                self.origin,
                protocol::path_of::<C>(&self.region)
            ))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| Error::Internal(format!("cell request: {e}")))?;
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
            return serde_json::from_slice(&bytes).map_err(|e| {
                Error::Internal(format!("region {} answered {}: {e}", self.region, C::PATH))
            });
        }
        // A person's mistake detected over there (e.g. a video that does not exist) stays
        // that mistake here; anything else is the other cell's failure.
        if status.is_client_error()
            && let Some((code, message)) = error_of(&bytes)
        {
            return Err(Error::user(code, message));
        }
        Err(self.unreachable(format!("HTTP {status}")))
    }

    async fn creator_videos(&self, creators: &[UserId]) -> Result<Vec<Arc<Vec<VideoRow>>>, Error> {
        let missing: Vec<UserId> = creators
            .iter()
            .filter(|c| !self.creator_videos.contains_key(*c))
            .copied()
            .collect();
        if !missing.is_empty() {
            let fetched = self
                .call(&protocol::CreatorVideos { creators: missing })
                .await?;
            for (creator, videos) in fetched {
                self.creator_videos
                    .insert(creator, Arc::new(video_rows(videos)));
            }
        }
        Ok(creators
            .iter()
            .map(|c| self.creator_videos.get(c).unwrap_or_default())
            .collect())
    }

    async fn people(&self, ids: &[UserId]) -> Result<Vec<PersonRef>, Error> {
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
            let fetched = self.call(&protocol::People { ids: missing }).await?;
            for p in fetched {
                let p = PersonRef {
                    id: p.id,
                    handle: p.handle,
                    display_name: p.display_name,
                };
                self.people.insert(p.id, p.clone());
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Sends a request made to this process on to the cell at home for it, unchanged but for
    /// its address and the [`FORWARDED_FROM`] mark, and returns the answer to stream back.
    /// `path_and_query` is the request's original path (a nested router may have cut it).
    pub async fn forward(
        &self,
        request: Request<OutBody>,
        path_and_query: &str,
        from: &RegionId,
    ) -> Result<Response<hyper::body::Incoming>, Error> {
        let (mut parts, body) = request.into_parts();
        parts.uri = format!("{}{path_and_query}", self.origin)
            .parse()
            .map_err(|e| Error::Internal(format!("forward uri: {e}")))?;
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
        self.client
            .request(Request::from_parts(parts, body))
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))
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
