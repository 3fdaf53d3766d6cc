//! The cell endpoint: what a cell serves to other regions' cells over mutual TLS when cells
//! run as separate processes (`reelm serve --region <id>`), and how an edge sends a request to
//! the person's home cell.
//!
//! - `/cell/<version>/<region>/<call>`: the cell protocol of [`reelm_platform::protocol`]
//!   (public reads, the gateway's deliveries, and the calls subsystems registered). Only reachable on the mTLS listener; every handler knows the
//!   calling region from its certificate ([`Peer`]).
//! - Anything else on the mTLS listener is the public API, for requests an edge forwarded to
//!   this home cell ([`route_home`]).

use crate::error::ApiError;
use axum::Extension;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt;
use reelm_core::{ErrorCode, RegionId};
use reelm_platform::link::FORWARDED_FROM;
use reelm_platform::protocol;
use reelm_platform::services::Caller;
use reelm_platform::{Cell, Platform};
use std::sync::Arc;

/// The region of the cell on the other end of an mTLS connection, from its certificate.
#[derive(Clone, Debug)]
pub struct Peer(pub RegionId);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Peer>().cloned().ok_or_else(|| {
            ApiError::user(
                ErrorCode::Forbidden,
                "the cell interface is served to other cells only, over mutual TLS",
            )
        })
    }
}

/// The router of the mTLS listener: the cell protocol (every call dispatched through the
/// platform's cell services, so this file names no call), then the public API for forwarded
/// requests.
pub fn router(platform: Arc<Platform>) -> Router {
    let app = Router::new()
        .route(
            &format!("/cell/{}/{{region}}/{{*call}}", protocol::VERSION),
            post(call),
        )
        .with_state(platform.clone())
        .merge(crate::api::router(platform));
    crate::api::security_headers(app)
}

/// The addressed cell, which must run in this process.
fn here(p: &Platform, region: &str) -> Result<Arc<Cell>, ApiError> {
    RegionId::new(region)
        .ok()
        .and_then(|r| p.cell(&r).cloned())
        .ok_or_else(|| {
            ApiError::user(
                ErrorCode::NotFound,
                format!("region {region} is not served by this process"),
            )
        })
}

/// One call of the cell protocol, answered by the handler registered for its path.
async fn call(
    State(p): State<Arc<Platform>>,
    peer: Peer,
    Path((region, call)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let cell = here(&p, &region)?;
    let answer = p
        .cell_services()
        .serve_json(&call, cell, Caller { region: peer.0 }, &body)
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], answer).into_response())
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
        && let Some(remote) = p.link(&home).and_then(|l| l.as_remote())
    {
        return forward(remote, request, &p.local_region()).await;
    }
    next.run(request).await
}

/// Sends `request` on to `remote`'s cell, unchanged but for its address and the forwarding
/// mark, and streams the answer back. Only for a person's own request going to their own home
/// cell ([`route_home`]): it carries their cookies. Public content held by another region's
/// cell goes through [`forward_public`].
pub async fn forward(
    remote: &reelm_platform::RemoteCell,
    request: Request,
    from: &RegionId,
) -> Response {
    let path = original_path(&request);
    let request = request.map(|body| {
        body.map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })
            .boxed_unsync()
    });
    send(remote, request, &path, from).await
}

/// The only request headers an edge passes on when it fetches PUBLIC content (a video's media
/// or poster) from the other region's cell that holds it: what ranged and conditional reads
/// and content negotiation need. That cell is in another jurisdiction and serves these bytes
/// to anyone, so it is told nothing of who asks: the viewer's `reelm_session` cookie (a 30-day
/// bearer token), the CSRF cookie and header, `Authorization`, and every other header stay at
/// the edge.
pub const PUBLIC_FORWARD_HEADERS: [header::HeaderName; 7] = [
    header::RANGE,
    header::IF_RANGE,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_MATCH,
    header::IF_UNMODIFIED_SINCE,
    header::ACCEPT,
];

/// The headers of `headers` that [`PUBLIC_FORWARD_HEADERS`] allows, and no other.
pub fn public_headers(headers: &header::HeaderMap) -> header::HeaderMap {
    let mut kept = header::HeaderMap::new();
    for name in PUBLIC_FORWARD_HEADERS {
        for value in headers.get_all(&name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

/// Fetches public content (a video's media or poster) that `request` asks for from `remote`'s
/// cell, which holds it, and streams the answer back. The request is rebuilt from its method,
/// original path and [`PUBLIC_FORWARD_HEADERS`] only, with no body; nothing personal leaves
/// this region.
pub async fn forward_public(
    remote: &reelm_platform::RemoteCell,
    request: Request,
    from: &RegionId,
) -> Response {
    let path = original_path(&request);
    let mut public = axum::http::Request::new(
        http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *public.method_mut() = request.method().clone();
    *public.headers_mut() = public_headers(request.headers());
    drop(request);
    send(remote, public, &path, from).await
}

/// The request's path and query as the client sent it: inside a nested router the URI lost
/// its prefix (`/api`).
fn original_path(request: &Request) -> String {
    let original = request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map(|o| &o.0)
        .unwrap_or_else(|| request.uri());
    original
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .to_owned()
}

async fn send(
    remote: &reelm_platform::RemoteCell,
    request: axum::http::Request<reelm_platform::link::OutBody>,
    path: &str,
    from: &RegionId,
) -> Response {
    match remote.forward(request, path, from).await {
        Ok(response) => response.map(Body::new),
        Err(e) => ApiError(e).into_response(),
    }
}

/// The region a request belongs to, when it belongs to one: the session's (people's or
/// operators' cookies are `<region>.<token>`), a sign-up's country, a login's handle.
async fn home_region(
    p: &Platform,
    request: Request,
) -> Result<(Request, Option<RegionId>), ApiError> {
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
        let region =
            cookie_region("reelm_session").or_else(|| cookie_region(reelm_operators::OPS_COOKIE));
        return Ok((request, region));
    }
    let path = path.to_owned();
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, ROUTING_BODY_LIMIT)
        .await
        .map_err(|_| {
            ApiError::user(
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
    serve_router(listener, app, &platform, tls, shutdown).await
}

/// [`serve`] with `app` in place of [`router`]`(platform)`, e.g. that router wrapped in a
/// layer that observes what arrives (the integration tests record forwarded requests' headers).
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    app: Router,
    platform: &Platform,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
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
                .and_then(|cert| reelm_platform::tls::peer_region(cert, &regions));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_forwarding_keeps_only_the_allowed_headers() {
        let mut h = header::HeaderMap::new();
        for (name, value) in [
            ("cookie", "reelm_session=eu.secret; reelm_csrf=c"),
            ("authorization", "Bearer secret"),
            ("x-csrf-token", "c"),
            ("user-agent", "test"),
            ("range", "bytes=0-99"),
            ("if-none-match", "\"abc\""),
            ("accept", "video/mp4"),
            ("accept", "*/*"),
        ] {
            h.append(
                header::HeaderName::from_static(name),
                header::HeaderValue::from_static(value),
            );
        }
        let kept = public_headers(&h);
        let mut names: Vec<&str> = kept.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "if-none-match", "range"]);
        assert_eq!(kept["range"], "bytes=0-99");
        assert_eq!(kept["if-none-match"], "\"abc\"");
        let accepts: Vec<_> = kept.get_all("accept").iter().collect();
        assert_eq!(
            accepts,
            ["video/mp4", "*/*"],
            "repeated headers keep every value"
        );
    }
}
