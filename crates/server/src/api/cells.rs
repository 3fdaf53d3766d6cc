//! The cell endpoint: what a cell serves to other regions' cells over mutual TLS when cells
//! run as separate processes (`reelm serve --region <id>`), and how an edge sends a request to
//! the person's home cell.
//!
//! - `/cell/v1/<region>/…`: the cell interface of [`crate::link::CellLink`] (public reads and
//!   the gateway's deliveries). Only reachable on the mTLS listener; every handler knows the
//!   calling region from its certificate ([`Peer`]).
//! - Anything else on the mTLS listener is the public API, for requests an edge forwarded to
//!   this home cell ([`route_home`]).

use crate::api::model::PersonRef;
use crate::api::{ApiJson, ApiQuery, parse_id};
use crate::error::AppError;
use crate::events::Imported;
use crate::link::{CellLink, FORWARDED_FROM};
use crate::platform::{Cell, Platform};
use crate::policy::{Decision, ResidencyPolicy, TransferRequest};
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use reelm_core::{DataClass, ErrorCode, RegionId, UserId, VideoId};
use reelm_store::{Keyset, ProfileCounterDelta, VideoCounterDelta};
use serde::Deserialize;
use std::sync::Arc;

/// The region of the cell on the other end of an mTLS connection, from its certificate.
#[derive(Clone, Debug)]
pub struct Peer(pub RegionId);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts.extensions.get::<Peer>().cloned().ok_or_else(|| {
            AppError::user(
                ErrorCode::Forbidden,
                "the cell interface is served to other cells only, over mutual TLS",
            )
        })
    }
}

/// The router of the mTLS listener: the cell interface, then the public API for forwarded
/// requests.
pub fn router(platform: Arc<Platform>) -> Router {
    let cell = Router::new()
        .route("/videos", post(videos))
        .route("/videos/recent", get(recent))
        .route("/videos/top", get(top))
        .route("/videos/by-creators", post(by_creators))
        .route("/videos/{id}", get(video))
        .route("/videos/{id}/comments", get(comments))
        .route("/trending", get(trending))
        .route("/creator-videos", post(creator_videos))
        .route("/people", post(people))
        .route("/profiles/{id}", get(profile))
        .route("/deliver/video-counters", post(deliver_video_counters))
        .route("/deliver/profile-counters", post(deliver_profile_counters))
        .route("/deliver/aggregates", post(deliver_aggregates))
        .route("/operator/read", post(operator_read))
        .route("/operator/break-glass", post(operator_break_glass));
    Router::new()
        .nest("/cell/v1/{region}", cell)
        .with_state(platform.clone())
        .merge(crate::api::router(platform))
}

/// The addressed cell, which must run in this process.
fn here(p: &Platform, region: &str) -> Result<Arc<Cell>, AppError> {
    RegionId::new(region)
        .ok()
        .and_then(|r| p.cell(&r).cloned())
        .ok_or_else(|| {
            AppError::user(
                ErrorCode::NotFound,
                format!("region {region} is not served by this process"),
            )
        })
}

/// The cell path's `{region}` (the nested router's only path parameter besides handlers'
/// own, which come after it).
type RegionPath = Path<String>;

#[derive(Deserialize)]
struct Ids<T> {
    ids: Vec<T>,
}

async fn videos(
    State(p): State<Arc<Platform>>,
    _: Peer,
    Path(region): RegionPath,
    ApiJson(body): ApiJson<Ids<VideoId>>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    Ok(Json(cell.store.videos(&body.ids).await?).into_response())
}

#[derive(Deserialize)]
struct Limit {
    limit: i64,
}

async fn recent(
    State(p): State<Arc<Platform>>,
    _: Peer,
    Path(region): RegionPath,
    ApiQuery(q): ApiQuery<Limit>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    Ok(Json(cell.store.recent_videos(q.limit.clamp(0, 1_000)).await?).into_response())
}

async fn top(
    State(p): State<Arc<Platform>>,
    _: Peer,
    Path(region): RegionPath,
    ApiQuery(q): ApiQuery<Limit>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    Ok(Json(cell.store.top_videos(q.limit.clamp(0, 1_000)).await?).into_response())
}

#[derive(Deserialize)]
struct ByCreators {
    creators: Vec<UserId>,
    after: Keyset,
    limit: i64,
}

async fn by_creators(
    State(p): State<Arc<Platform>>,
    _: Peer,
    Path(region): RegionPath,
    ApiJson(q): ApiJson<ByCreators>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    let rows = cell
        .store
        .videos_by_creators(&q.creators, q.after, q.limit.clamp(0, 1_000))
        .await?;
    Ok(Json(rows).into_response())
}

async fn video(
    State(p): State<Arc<Platform>>,
    _: Peer,
    Path((region, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    let id: VideoId = parse_id(&id, "video")?;
    Ok(Json(cell.store.video(id).await?).into_response())
}

#[derive(Deserialize)]
struct CommentsQuery {
    after_at: i64,
    after_id: i64,
    limit: i64,
}

async fn comments(
    State(p): State<Arc<Platform>>,
    _: Peer,
    Path((region, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<CommentsQuery>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    let id: VideoId = parse_id(&id, "video")?;
    let after = Keyset {
        at: q.after_at,
        id: q.after_id,
    };
    let rows = cell
        .store
        .comments_on(id, after, q.limit.clamp(0, 1_000))
        .await?;
    Ok(Json(rows).into_response())
}

#[derive(Deserialize)]
struct TrendingQuery {
    now_ms: i64,
    min_viewers: i64,
    limit: usize,
}

async fn trending(
    State(p): State<Arc<Platform>>,
    _: Peer,
    Path(region): RegionPath,
    ApiQuery(q): ApiQuery<TrendingQuery>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    // Never below the region's own threshold: a trending list must not single anyone out.
    let min = q
        .min_viewers
        .max(i64::from(p.config.feed.trending_min_viewers));
    let list = cell
        .events
        .state
        .trending(q.now_ms, min, q.limit.min(1_000));
    Ok(Json(list).into_response())
}

#[derive(Deserialize)]
struct Creators {
    creators: Vec<UserId>,
}

async fn creator_videos(
    State(p): State<Arc<Platform>>,
    _: Peer,
    Path(region): RegionPath,
    ApiJson(q): ApiJson<Creators>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    let mut out: Vec<(UserId, Arc<Vec<reelm_store::VideoRow>>)> = Vec::new();
    for c in q.creators.iter().take(1_000) {
        out.push((*c, cell.creator_videos(*c).await?));
    }
    Ok(Json(out).into_response())
}

async fn people(
    State(p): State<Arc<Platform>>,
    _: Peer,
    Path(region): RegionPath,
    ApiJson(q): ApiJson<Ids<UserId>>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    let people: Vec<PersonRef> = cell.people(&q.ids).await?;
    Ok(Json(people).into_response())
}

async fn profile(
    State(p): State<Arc<Platform>>,
    _: Peer,
    Path((region, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    let id: UserId = parse_id(&id, "person")?;
    Ok(Json(cell.store.profile(id).await?).into_response())
}

/// Checks a delivery against the residency policy on the receiving side too: the source
/// decided and ledgered it, and a peer cannot push what the policy would refuse.
fn admit(
    peer: &Peer,
    to: &Cell,
    class: DataClass,
    purpose: &str,
    people: Option<u64>,
) -> Result<(), AppError> {
    let decision = ResidencyPolicy::embedded().evaluate(&TransferRequest {
        from: peer.0.as_str(),
        to: to.id().as_str(),
        class,
        purpose,
        distinct_people: people,
    });
    match decision {
        Decision::Allowed { .. } => Ok(()),
        Decision::Refused { reason } => Err(AppError::user(
            ErrorCode::Forbidden,
            format!("transfer refused by the residency policy: {reason}"),
        )),
    }
}

#[derive(Deserialize)]
struct VideoCounters {
    purpose: String,
    video: VideoId,
    delta: VideoCounterDelta,
}

async fn deliver_video_counters(
    State(p): State<Arc<Platform>>,
    peer: Peer,
    Path(region): RegionPath,
    ApiJson(d): ApiJson<VideoCounters>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    admit(&peer, &cell, DataClass::Public, &d.purpose, None)?;
    CellLink::Local(cell)
        .apply_video_counters(&d.purpose, d.video, d.delta)
        .await?;
    Ok(Json(serde_json::json!({})).into_response())
}

#[derive(Deserialize)]
struct ProfileCounters {
    purpose: String,
    user: UserId,
    delta: ProfileCounterDelta,
}

async fn deliver_profile_counters(
    State(p): State<Arc<Platform>>,
    peer: Peer,
    Path(region): RegionPath,
    ApiJson(d): ApiJson<ProfileCounters>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    admit(&peer, &cell, DataClass::Public, &d.purpose, None)?;
    CellLink::Local(cell)
        .apply_profile_counters(&d.purpose, d.user, d.delta)
        .await?;
    Ok(Json(serde_json::json!({})).into_response())
}

#[derive(Deserialize)]
struct Aggregates {
    shared: Imported,
}

async fn deliver_aggregates(
    State(p): State<Arc<Platform>>,
    peer: Peer,
    Path(region): RegionPath,
    ApiJson(d): ApiJson<Aggregates>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    // Every value must rest on enough people (recomputed here, not taken from the sender),
    // and the policy must admit it.
    let fewest = d.shared.fewest_people();
    let k = u64::from(p.config.feed.share_min_people);
    if fewest < k {
        return Err(AppError::user(
            ErrorCode::Forbidden,
            format!("aggregates must rest on at least {k} people each; one rests on {fewest}"),
        ));
    }
    admit(
        &peer,
        &cell,
        DataClass::Aggregate,
        crate::policy::PURPOSE_MODEL_TRAINING,
        Some(fewest),
    )?;
    CellLink::Local(cell)
        .import_aggregates(&peer.0, d.shared)
        .await?;
    Ok(Json(serde_json::json!({})).into_response())
}

// ---- operators of other regions -----------------------------------------------------------

/// The operator a peer cell vouches for: only one of the peer's own region.
fn vouched(peer: &Peer, op: &crate::ops::operators::OperatorClaim) -> Result<(), AppError> {
    if op.home_region == peer.0.as_str() {
        Ok(())
    } else {
        Err(AppError::user(
            ErrorCode::Forbidden,
            format!(
                "cell {} may speak only for its own operators, not for one of {}",
                peer.0, op.home_region
            ),
        ))
    }
}

#[derive(Deserialize)]
struct OperatorRead {
    operator: crate::ops::operators::OperatorClaim,
    person: UserId,
    purpose: String,
    ticket: String,
}

/// An operator of the peer's region reads a person of this cell: decided by this cell's
/// Cedar policy and logged in the person's access log here, exactly as in one process.
async fn operator_read(
    State(p): State<Arc<Platform>>,
    peer: Peer,
    Path(region): RegionPath,
    ApiJson(q): ApiJson<OperatorRead>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    vouched(&peer, &q.operator)?;
    let data =
        crate::ops::operators::read_personal_in(&cell, &q.operator, q.person, q.purpose, q.ticket)
            .await?;
    Ok(Json(data).into_response())
}

#[derive(Deserialize)]
struct OperatorBreakGlass {
    operator: crate::ops::operators::OperatorClaim,
    person: UserId,
    request: crate::ops::operators::BreakGlassRequest,
}

async fn operator_break_glass(
    State(p): State<Arc<Platform>>,
    peer: Peer,
    Path(region): RegionPath,
    ApiJson(q): ApiJson<OperatorBreakGlass>,
) -> Result<Response, AppError> {
    let cell = here(&p, &region)?;
    vouched(&peer, &q.operator)?;
    let grant =
        crate::ops::operators::request_break_glass_in(&cell, &q.operator, q.person, q.request)
            .await?;
    Ok(Json(grant).into_response())
}

// ---- the edge: send a request to the person's home cell -----------------------------------

/// Largest body read to find a sign-up's country or a login's handle.
const ROUTING_BODY_LIMIT: usize = 64 * 1024;

/// Middleware of the public API when some cells run in other processes: a request that
/// belongs to a person (or an operator) homed in another region is forwarded, whole, to that
/// region's cell over mutual TLS, and its answer streamed back; so personal data is read and
/// written only in its home region. A request already forwarded is never forwarded again.
pub async fn route_home(State(p): State<Arc<Platform>>, request: Request, next: Next) -> Response {
    let forwarded_by_a_cell = request.headers().contains_key(FORWARDED_FROM)
        && request.extensions().get::<Peer>().is_some();
    if !p.is_split() || forwarded_by_a_cell || !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let (request, home) = match home_region(&p, request).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    if let Some(home) = home
        && p.cell(&home).is_none()
        && let Some(CellLink::Remote(remote)) = p.link(&home)
    {
        let from = p.local_region();
        return remote.forward(request, &from).await;
    }
    next.run(request).await
}

/// The region a request belongs to, when it belongs to one: the session's (people's or
/// operators' cookies are `<region>.<token>`), a sign-up's country, a login's handle.
async fn home_region(
    p: &Platform,
    request: Request,
) -> Result<(Request, Option<RegionId>), AppError> {
    use axum::http::Method;
    let path = request.uri().path();
    let body_decides = request.method() == Method::POST
        && matches!(
            path,
            "/api/auth/signup" | "/api/auth/login" | "/api/ops/login"
        );
    if !body_decides {
        let cookie_region = |name: &str| {
            crate::auth::cookie(request.headers(), name)
                .and_then(|v| v.split_once('.'))
                .and_then(|(r, _)| RegionId::new(r).ok())
        };
        let region = cookie_region("reelm_session")
            .or_else(|| cookie_region(crate::ops::operators::OPS_COOKIE));
        return Ok((request, region));
    }
    let path = path.to_owned();
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, ROUTING_BODY_LIMIT)
        .await
        .map_err(|_| {
            AppError::user(
                ErrorCode::PayloadTooLarge,
                format!("this request's body may be at most {ROUTING_BODY_LIMIT} bytes"),
            )
        })?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let field = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let region = match path.as_str() {
        "/api/auth/signup" => field("country").map(|c| p.config.region_for_country(&c).id.clone()),
        "/api/auth/login" => {
            match field("handle").and_then(|h| reelm_core::validate::handle(&h).ok()) {
                Some(h) => p.directory.by_handle(&h).await?.map(|e| e.region),
                None => None,
            }
        }
        _ => field("region").and_then(|r| RegionId::new(&r).ok()),
    };
    // Anything malformed is left to the handler, which answers with the precise error.
    Ok((Request::from_parts(parts, Body::from(bytes)), region))
}

// ---- the mTLS listener ---------------------------------------------------------------------

/// Serves the cell endpoint on `listener` until `shutdown` resolves: TLS with a required
/// client certificate of the deployment's CA, the peer's region taken from it; a peer whose
/// certificate names no configured region is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    platform: Arc<Platform>,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(platform.clone());
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let regions: Vec<RegionId> = platform
        .config
        .regions
        .iter()
        .map(|r| r.id.clone())
        .collect();
    tokio::pin!(shutdown);
    // Connection tasks end with the endpoint (dropping the set aborts them): peers' pooled
    // keep-alive connections must not outlive a cell that stopped.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cell endpoint: accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let regions = regions.clone();
        connections.spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "cell endpoint: TLS handshake refused");
                    return;
                }
            };
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|cert| crate::tls::peer_region(cert, &regions));
            let Some(peer) = peer else {
                tracing::warn!(%addr, "cell endpoint: the peer's certificate names no region");
                return;
            };
            let service =
                hyper_util::service::TowerToHyperService::new(app.layer(Extension(Peer(peer))));
            let io = hyper_util::rt::TokioIo::new(tls);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(%addr, error = %e, "cell endpoint: connection ended");
            }
        });
    }
}
