//! Cells as separate platforms (what `reelm serve --region <id>` runs): each region's cell in
//! its own `Platform` with only its own store and keys, reached by the others over mutual TLS.
//! Drives the public API of different regions' edges and checks that personal data stays home,
//! public reads and gateway deliveries cross, and a peer without the CA's certificate is
//! refused.

use crate::common::{Client, signup_body};
use reelm_core::{Config, RegionId};
use reelm_server::Platform;
use reqwest::cookie::Jar;
use std::collections::HashMap;
use std::sync::Arc;

struct Split {
    /// region → its edge's base URL.
    base: HashMap<String, String>,
    platforms: HashMap<String, Arc<Platform>>,
    cell_addr: HashMap<String, String>,
    stops: Vec<tokio::sync::watch::Sender<bool>>,
    dir: tempfile::TempDir,
    /// region → every request its cell endpoint received (path and query, headers), recorded
    /// by a layer the test puts around the endpoint's router.
    arrived: HashMap<String, Arrived>,
}

type Arrived = Arc<std::sync::Mutex<Vec<(String, axum::http::HeaderMap)>>>;

impl Split {
    async fn start() -> Split {
        // RUST_LOG=reelm_server=debug shows the platforms' logs beside a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::load(dir.path(), None, &|_| None).unwrap();
        let mut cell_listeners = Vec::new();
        for r in &mut config.regions {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            r.cell_addr = l.local_addr().unwrap().to_string();
            cell_listeners.push(l);
        }
        let regions: Vec<RegionId> = config.regions.iter().map(|r| r.id.clone()).collect();
        reelm_platform::tls::init(dir.path(), &regions, false).unwrap();
        let mut split = Split {
            base: HashMap::new(),
            platforms: HashMap::new(),
            cell_addr: HashMap::new(),
            stops: Vec::new(),
            dir,
            arrived: HashMap::new(),
        };
        for (region, cell_listener) in regions.iter().zip(cell_listeners) {
            let platform = Arc::new(Platform::open_region(config.clone(), region).await.unwrap());
            assert_eq!(platform.cells().len(), 1, "one cell per process");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let tls = platform.tls.as_ref().unwrap().server.clone();
            let mut s1 = stopped.clone();
            let arrived = Arrived::default();
            let log = arrived.clone();
            let app = reelm_server::api::cells::router(platform.clone()).layer(
                axum::middleware::from_fn(
                    move |request: axum::extract::Request, next: axum::middleware::Next| {
                        let path = request
                            .uri()
                            .path_and_query()
                            .map(|pq| pq.to_string())
                            .unwrap_or_default();
                        log.lock().unwrap().push((path, request.headers().clone()));
                        next.run(request)
                    },
                ),
            );
            let served_cell = platform.clone();
            tokio::spawn(async move {
                reelm_server::api::cells::serve_router(
                    cell_listener,
                    app,
                    &served_cell,
                    tls,
                    async move {
                        let _ = s1.changed().await;
                    },
                )
                .await
            });
            let mut s2 = stopped;
            let served = platform.clone();
            tokio::spawn(async move {
                reelm_server::run(listener, served, async move {
                    let _ = s2.changed().await;
                })
                .await
            });
            split.base.insert(region.to_string(), base);
            split.cell_addr.insert(
                region.to_string(),
                config.region(region).unwrap().cell_addr.clone(),
            );
            split.platforms.insert(region.to_string(), platform);
            split.arrived.insert(region.to_string(), arrived);
            split.stops.push(stop);
        }
        split
    }

    fn anon(&self, edge: &str) -> Client {
        Client::new(&self.base[edge], Arc::new(Jar::default()))
    }

    /// Signs up through `edge`'s public API.
    async fn signup(&self, edge: &str, handle: &str, country: &str) -> Client {
        let mut c = self.anon(edge);
        let r = c
            .post("/api/auth/signup", &signup_body(handle, country))
            .await;
        assert_eq!(r.status, 201, "sign-up of {handle} at {edge}: {}", r.text());
        c.adopt_session(&r);
        c
    }

    fn platform(&self, region: &str) -> &Arc<Platform> {
        &self.platforms[region]
    }
}

impl Drop for Split {
    fn drop(&mut self) {
        for s in &self.stops {
            let _ = s.send(true);
        }
    }
}

#[tokio::test]
async fn separate_cells_keep_people_home_and_share_only_public_data_over_mtls() {
    let split = Split::start().await;
    let us = RegionId::new("us").unwrap();

    // A US resident signs up at the EU edge: the request goes to the US cell, which alone
    // stores the account (the EU process has no US store at all).
    let ann = split.signup("eu", "ann_us", "US").await;
    assert_eq!(ann.region, "us");
    let ann_id = ann.user_id();
    let us_cell = split.platform("us").cell(&us).unwrap().clone();
    assert!(us_cell.store.account(ann_id).await.unwrap().is_some());
    assert!(split.platform("eu").cell(&us).is_none());
    // Her session works through the EU edge (forwarded home) and through her own edge.
    let me = ann.get_json("/api/me").await;
    assert_eq!(me["email"], "ann_us@example.org");
    assert_eq!(me["region"], "us");

    // An EU creator uploads at home.
    let eve = split.signup("eu", "eve_eu", "FR").await;
    let video = eve.upload_clip(0).await;
    let vid = video["id"].as_str().unwrap().to_owned();

    // Ann, at her own edge, sees the EU video in For You (public read over mTLS), plays its
    // media (forwarded to the EU cell), likes and comments on it.
    let mut ann_home = Client::new(&split.base["us"], Arc::new(Jar::default()));
    let login = ann_home
        .post(
            "/api/auth/login",
            &serde_json::json!({"handle": "ann_us", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text());
    ann_home.adopt_session(&login);
    // Another process's upload reaches this edge's candidate pool at its next rebuild (every
    // 2 s, in the background).
    let mut found = false;
    for _ in 0..50 {
        let feed = ann_home.get_json("/api/feed/foryou?limit=10").await;
        found = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.pointer("/video/id").and_then(|v| v.as_str()) == Some(vid.as_str()));
        if found {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(found, "the EU video became a candidate at the US edge");
    let media = ann_home.get(&format!("/api/videos/{vid}/media")).await;
    assert_eq!(media.status, 200);
    assert_eq!(
        media.body.len(),
        reelm_media::demo::clips()[0].video.len(),
        "the whole clip streamed from the EU cell"
    );
    let ranged = Client::send(
        ann_home
            .request(reqwest::Method::GET, &format!("/api/videos/{vid}/media"))
            .header("range", "bytes=0-99"),
    )
    .await;
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body.len(), 100);
    let liked = ann_home
        .post_empty(&format!("/api/videos/{vid}/like"))
        .await;
    assert_eq!(liked.status, 200, "{}", liked.text());
    let commented = ann_home
        .post(
            &format!("/api/videos/{vid}/comments"),
            &serde_json::json!({"text": "from Texas"}),
        )
        .await;
    assert_eq!(commented.status, 201, "{}", commented.text());

    // The like row stays with Ann in the US cell; only the counter crossed, through the
    // gateway (ledgered in the US, the source) and over mTLS to the EU cell.
    let eu = RegionId::new("eu").unwrap();
    let eu_cell = split.platform("eu").cell(&eu).unwrap().clone();
    let stored = eu_cell
        .store
        .video(vid.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.like_count, 1);
    assert_eq!(stored.comment_count, 1);
    assert!(
        us_cell
            .store
            .liked_videos(ann_id)
            .await
            .unwrap()
            .contains(&vid.parse().unwrap())
    );
    let ledger = us_cell.store.ledger_page(0, 1000).await.unwrap();
    assert!(
        ledger
            .iter()
            .any(|e| e.payload.contains("\"to\":\"eu\"") && e.payload.contains("video_counters")),
        "the transfer is ledgered in the source region"
    );

    // Anyone at the EU edge sees Ann's comment with her handle (a public read of the US cell).
    let comments = split
        .anon("eu")
        .get_json(&format!("/api/videos/{vid}/comments"))
        .await;
    assert_eq!(comments["items"][0]["author"]["handle"], "ann_us");
    assert_eq!(comments["items"][0]["text"], "from Texas");
    // And Ann's profile, at the AP edge.
    let profile = split.anon("ap").get_json("/api/users/ann_us").await;
    assert_eq!(profile["region"], "us");
    assert!(profile.get("email").is_none());

    // The placement holds: each process's audit of its own cell finds nothing misplaced.
    for region in ["us", "eu", "ap"] {
        let report = reelm_audit::run(split.platform(region)).await.unwrap();
        assert!(
            report.violations.is_empty(),
            "{region}: {:?}",
            report.violations
        );
    }
}

#[tokio::test]
async fn another_regions_media_is_fetched_without_the_viewers_cookies() {
    let split = Split::start().await;
    // An EU creator's clip with a poster (uploads through the API have none), stored by the
    // upload operation in the EU process.
    let eve = split.signup("eu", "eve_eu", "FR").await;
    let eu = split.platform("eu");
    let eu_cell = eu.cell(&RegionId::new("eu").unwrap()).unwrap().clone();
    let clip = &reelm_media::demo::clips()[0];
    let row = reelm_content::videos::upload(
        eu,
        eve.user_id(),
        &eu_cell,
        reelm_content::videos::Upload {
            bytes: bytes::Bytes::from_static(clip.video),
            poster: Some(bytes::Bytes::from_static(clip.poster)),
            caption: clip.caption.to_owned(),
            hashtags: String::new(),
            language: "en".to_owned(),
        },
    )
    .await
    .unwrap();
    let vid = row.id.to_string();
    // A US resident, signed in at her own edge, plays the EU video: her request carries her
    // session and CSRF cookies, the CSRF header and an Authorization header.
    let ann = split.signup("us", "ann_us", "US").await;
    assert_eq!(ann.region, "us");
    let csrf = ann.csrf.clone().unwrap();
    let media_path = format!("/api/videos/{vid}/media");
    let poster_path = format!("/api/videos/{vid}/poster");
    let ranged = Client::send(
        ann.request(reqwest::Method::GET, &media_path)
            .header("range", "bytes=0-99")
            .header("if-none-match", "\"not-it\"")
            .header("accept", "video/mp4")
            .header("authorization", "Bearer not-for-the-eu")
            .header("x-csrf-token", &csrf)
            .header("x-something-else", "stays home"),
    )
    .await;
    assert_eq!(ranged.status, 206, "{}", ranged.text());
    assert_eq!(ranged.body.len(), 100);
    let poster = ann.get(&poster_path).await;
    assert_eq!(poster.status, 200, "{}", poster.text());
    assert_eq!(
        poster.body, clip.poster,
        "the poster streamed from the EU cell"
    );

    // What the EU cell received: both requests, forwarded by the US edge, with the viewer's
    // conditional and range headers and nothing that says who she is.
    let arrived = split.arrived["eu"].lock().unwrap().clone();
    let media: Vec<_> = arrived.iter().filter(|(p, _)| *p == media_path).collect();
    let posters: Vec<_> = arrived.iter().filter(|(p, _)| *p == poster_path).collect();
    assert_eq!(media.len(), 1, "the media request reached the EU cell once");
    assert_eq!(
        posters.len(),
        1,
        "the poster request reached the EU cell once"
    );
    let (_, h) = media[0];
    assert_eq!(h["range"], "bytes=0-99");
    assert_eq!(h["if-none-match"], "\"not-it\"");
    assert_eq!(h["accept"], "video/mp4");
    assert_eq!(h[reelm_platform::link::FORWARDED_FROM], "us");
    for (path, h) in media.iter().chain(&posters) {
        for personal in [
            "cookie",
            "authorization",
            "x-csrf-token",
            "x-something-else",
        ] {
            assert!(
                !h.contains_key(personal),
                "{path} reached the EU cell with {personal}: {h:?}"
            );
        }
    }
    // Her cookies are nowhere in anything the EU cell received (cell calls included).
    for (path, h) in &arrived {
        for (name, value) in h {
            let v = value.to_str().unwrap_or("");
            assert!(
                !v.contains("reelm_session") && !v.contains(&csrf),
                "{path} reached the EU cell with {name}: {v}"
            );
        }
    }
}

#[tokio::test]
async fn the_cell_endpoint_refuses_peers_without_a_certificate_of_the_deployment() {
    let split = Split::start().await;
    let addr = split.cell_addr["eu"].clone();

    // A client that trusts the CA but presents no certificate: the handshake fails.
    let ca = std::fs::read(split.dir.path().join("certs").join("ca-cert.pem")).unwrap();
    let ca = rustls_ca(&ca);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let refused = talk(config, &addr, "eu.cell.reelm").await;
    assert!(
        refused.is_err(),
        "served without a client certificate: {refused:?}"
    );

    // A cell of another deployment (its own CA) is refused too.
    let other = tempfile::tempdir().unwrap();
    let eu = RegionId::new("eu").unwrap();
    reelm_platform::tls::init(other.path(), std::slice::from_ref(&eu), false).unwrap();
    let foreign = reelm_platform::tls::CellTls::load(other.path(), &eu).unwrap();
    let refused = talk(foreign.client.clone(), &addr, "eu.cell.reelm").await;
    assert!(
        refused.is_err(),
        "served a foreign certificate: {refused:?}"
    );

    // The deployment's own US cell gets an answer.
    let us = RegionId::new("us").unwrap();
    let ours = reelm_platform::tls::CellTls::load(split.dir.path(), &us).unwrap();
    let answer = talk(ours.client.clone(), &addr, "eu.cell.reelm")
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // The cell interface is not part of the public API (the web app's page answers instead).
    let r = split
        .anon("eu")
        .get("/cell/v2/eu/videos/recent?limit=5")
        .await;
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn a_region_out_of_reach_leaves_the_others_serving() {
    let split = Split::start().await;
    let bea = split.signup("eu", "bea_eu", "DE").await;
    bea.upload_clip(1).await;
    // Stop AP's processes: its cell endpoint and edge go away.
    let _ = split.stops[2].send(true);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    split.platform("ap").close().await;
    let feed = split.anon("us").get("/api/feed/foryou?limit=10").await;
    assert_eq!(feed.status, 200, "{}", feed.text());
    // A sign-up for an AP resident at the US edge cannot be served now: a clear 503.
    let r = split
        .anon("us")
        .post("/api/auth/signup", &signup_body("sam_sg", "SG"))
        .await;
    crate::common::assert_error(&r, 503, "unavailable");
}

fn rustls_ca(pem: &[u8]) -> rustls::pki_types::CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem).unwrap()
}

/// Sends one GET over TLS with `config` and returns the answer's first bytes.
async fn talk(
    config: rustls::ClientConfig,
    addr: &str,
    name: &str,
) -> Result<String, std::io::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let server_name =
        rustls::pki_types::ServerName::try_from(name.to_owned()).map_err(std::io::Error::other)?;
    let mut tls = connector.connect(server_name, tcp).await?;
    tls.write_all(
        b"POST /cell/v2/eu/videos/recent HTTP/1.1\r\nhost: eu.cell.reelm\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"limit\":1}",
    )
    .await?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await?;
    if answer.is_empty() {
        return Err(std::io::Error::other("no answer"));
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Signs `op` in at `edge` (password + TOTP) and returns the client with its `reelm_ops` cookie.
async fn ops_login(split: &Split, edge: &str, op: &reelm_operators::NewOperator) -> Client {
    let c = split.anon(edge);
    let code = reelm_operators::totp_code(
        op.totp_secret.expose(),
        (reelm_core::now_ms() / 1000) as u64,
    )
    .unwrap();
    let r = c
        .post(
            "/api/ops/login",
            &serde_json::json!({"name": op.name, "region": op.region, "password": op.password, "totp": code}),
        )
        .await;
    assert_eq!(r.status, 200, "operator login at {edge}: {}", r.text());
    c
}

#[tokio::test]
async fn operators_reach_people_of_other_regions_only_through_their_cell() {
    use reelm_operators::add_operator;
    let split = Split::start().await;
    let ann = split.signup("us", "ann_glass", "US").await;
    // An EU support operator (EU process) and a US privacy officer (US process).
    let erin = add_operator(split.platform("eu"), "eu", "erin.support", "support")
        .await
        .unwrap();
    let pat = add_operator(split.platform("us"), "us", "pat.privacy", "privacy_officer")
        .await
        .unwrap();
    // Erin signs in at the US edge: her login goes to her own (EU) cell.
    let erin = ops_login(&split, "us", &erin).await;
    let pat = ops_login(&split, "us", &pat).await;
    let read = "/api/ops/people/ann_glass/personal?purpose=legal_request&ticket=LEG-3";

    // Without break-glass the US cell's policy denies, and logs the denial with Ann.
    crate::common::assert_error(&erin.get(read).await, 403, "forbidden");
    let log = ann.all_pages("/api/me/access-log", 10).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["decision"], "deny");
    assert_eq!(log[0]["operator_region"], "eu");

    // Break-glass: requested from the EU process, kept in the US cell, approved there.
    let r = erin
        .post(
            "/api/ops/break-glass",
            &serde_json::json!({"handle": "ann_glass", "purpose": "legal_request", "ticket": "LEG-3"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = pat
        .post_empty(&format!("/api/ops/break-glass/{id}/approve"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = erin.get(read).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["email"], "ann_glass@example.org");
    let log = ann.all_pages("/api/me/access-log", 10).await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["decision"], "allow");
    // Her data left the US for an EU operator: a transfer, ledgered in the US (the source).
    let us_cell = split
        .platform("us")
        .cell(&RegionId::new("us").unwrap())
        .unwrap()
        .clone();
    let ledger = us_cell.store.ledger_page(0, 1000).await.unwrap();
    assert!(
        ledger
            .iter()
            .any(|e| e.payload.contains("\"object\":\"operator_read\"")
                && e.payload.contains("\"class\":\"personal\"")
                && e.payload.contains("\"to\":\"eu\"")
                && e.payload.contains("\"decision\":\"allowed\"")),
        "the operator read is ledgered in the person's region"
    );

    // A cell speaks only for its own operators: the EU certificate cannot vouch for a US one.
    let us = RegionId::new("us").unwrap();
    let eu = RegionId::new("eu").unwrap();
    let eu_tls = reelm_platform::tls::CellTls::load(split.dir.path(), &eu).unwrap();
    let link = reelm_platform::link::RemoteCell::new(us.clone(), &split.cell_addr["us"], &eu_tls);
    let forged = link
        .call(&reelm_operators::OperatorRead {
            operator: reelm_operators::OperatorClaim {
                operator_id: 1,
                name: "pat.privacy".into(),
                role: "privacy_officer".into(),
                home_region: "us".into(),
            },
            person: ann.user_id(),
            purpose: "support_ticket".into(),
            ticket: "SUP-1".into(),
        })
        .await;
    let err = forged.unwrap_err().to_string();
    assert!(err.contains("own operators"), "{err}");
}
