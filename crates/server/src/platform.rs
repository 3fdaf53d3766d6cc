//! The platform: the global directory plus one [`Cell`] per region. In the demo all cells live
//! in this process; with `reelm serve --region <id>` only that region's cell does, and the
//! others are reached over mutual TLS. Operations reach another region's cell only through a
//! [`CellLink`] (public reads and gateway deliveries), never through its store.

use crate::api::model::PersonRef;
use crate::error::AppError;
use crate::link::{CellLink, RemoteCell};
use hmac::{Hmac, Mac};
use reelm_core::{Config, RegionConfig, RegionId, UserId, VideoId};
use reelm_media::MediaStore;
use reelm_store::{AccountRow, CellStore, DirectoryStore, VideoRow};
use reelm_vault::{DataKey, FieldContext, LocalKms, WrappedKey};
use sha2::Sha256;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod candidates;
pub use candidates::spawn_refresher as spawn_candidate_refresher;

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("region {region}: {source}")]
    Store {
        region: String,
        source: reelm_store::StoreError,
    },
    #[error("directory: {0}")]
    Directory(reelm_store::StoreError),
    #[error("region {region} media store: {source}")]
    Media {
        region: String,
        source: reelm_media::MediaError,
    },
    #[error("region {region} keys: {message}")]
    Keys { region: String, message: String },
    #[error("region {region} event log: {source}")]
    Events {
        region: String,
        source: crate::events::EventsError,
    },
    #[error("region {region} is not in the configuration")]
    UnknownRegion { region: String },
    #[error(
        "region {region} has no cell_addr: with cells in separate processes every region needs one"
    )]
    NoCellAddr { region: String },
    #[error("region {region} TLS: {source}")]
    Tls {
        region: String,
        source: crate::tls::TlsError,
    },
}

/// One region: its store, media store and keys. Nothing in a cell refers to another cell.
pub struct Cell {
    pub config: RegionConfig,
    pub store: CellStore,
    pub media: MediaStore,
    kms: LocalKms,
    /// The cell's in-memory feed state (see [`crate::cache`]).
    pub cache: crate::cache::CellCache,
    /// The engagement ranker trained on this region's events (see [`crate::ranker`]).
    ranker: std::sync::RwLock<Option<Arc<crate::ranker::RegionRanker>>>,
    /// Key of the keyed hash that indexes emails (uniqueness without storing them in clear).
    index_key: [u8; 32],
    /// This region's transfer ledger (the gateway appends decisions with this region as source).
    pub ledger: crate::ledger::RegionLedger,
    /// Serializes appends to the per-person access logs of this cell (see
    /// [`crate::ops::operators`]).
    pub access_log_lock: tokio::sync::Mutex<()>,
    /// The region's behavioral event log and the feed state its consumer keeps current.
    pub events: crate::events::EventLog,
}

impl std::fmt::Debug for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cell")
            .field("region", &self.config.id)
            .finish_non_exhaustive()
    }
}

impl Cell {
    pub fn id(&self) -> &RegionId {
        &self.config.id
    }

    /// The folder that holds this region's keys, apart from its data.
    pub fn keys_dir(data_dir: &Path, region: &RegionId) -> PathBuf {
        data_dir.join("regions").join(region.as_str()).join("keys")
    }

    async fn open(
        config: &RegionConfig,
        platform: &Config,
        max_connections: u32,
    ) -> Result<Cell, PlatformError> {
        let data_dir = platform.data_dir.as_path();
        let region = config.id.to_string();
        let store = CellStore::open(&config.store_url, max_connections)
            .await
            .map_err(|source| PlatformError::Store {
                region: region.clone(),
                source,
            })?;
        let media = MediaStore::open(&config.media_url).map_err(|source| PlatformError::Media {
            region: region.clone(),
            source,
        })?;
        let keys_dir = Cell::keys_dir(data_dir, &config.id);
        let keys_err = |message: String| PlatformError::Keys {
            region: region.clone(),
            message,
        };
        let kms = LocalKms::load_or_create(keys_dir.join("region-kms.json"), &region)
            .map_err(|e| keys_err(e.to_string()))?;
        let index_key = load_or_create_secret(&keys_dir.join("email-index.key"))
            .map_err(|e| keys_err(e.to_string()))?;
        let ledger = crate::ledger::RegionLedger::open(&store, &keys_dir, &config.id)
            .await
            .map_err(keys_err)?;
        let events = crate::events::EventLog::start(
            &config.id,
            &store,
            &platform.feed,
            config.nats_url.as_deref(),
            &platform.nats_namespace,
        )
        .await
        .map_err(|source| PlatformError::Events {
            region: region.clone(),
            source,
        })?;
        Ok(Cell {
            config: config.clone(),
            store,
            media,
            kms,
            index_key,
            cache: Default::default(),
            ranker: Default::default(),
            ledger,
            access_log_lock: Default::default(),
            events,
        })
    }

    /// A keyed hash of a normalized email, unique per region.
    pub fn email_index(&self, email: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key)
            .expect("HMAC takes any key length");
        mac.update(email.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn new_user_key(&self, user: UserId) -> Result<(DataKey, WrappedKey), AppError> {
        Ok(reelm_vault::new_user_key(
            &self.kms,
            self.id().as_str(),
            user.0,
        )?)
    }

    pub fn user_key(&self, account: &AccountRow) -> Result<DataKey, AppError> {
        let wrapped = WrappedKey::from_bytes(account.wrapped_key.expose())?;
        Ok(reelm_vault::open_user_key(
            &self.kms,
            self.id().as_str(),
            account.user_id.0,
            &wrapped,
        )?)
    }

    /// Unwraps the data key of a non-person owner (an operator) stored as `wrapped`.
    pub fn open_key(&self, owner: i64, wrapped: &[u8]) -> Result<DataKey, AppError> {
        let wrapped = WrappedKey::from_bytes(wrapped)?;
        Ok(reelm_vault::open_user_key(
            &self.kms,
            self.id().as_str(),
            owner,
            &wrapped,
        )?)
    }

    /// The region's trained engagement ranker, if enough events exist to train one.
    pub fn ranker(&self) -> Option<Arc<crate::ranker::RegionRanker>> {
        self.ranker.read().ok().and_then(|r| r.clone())
    }

    pub fn set_ranker(&self, ranker: Arc<crate::ranker::RegionRanker>) {
        if let Ok(mut slot) = self.ranker.write() {
            *slot = Some(ranker);
        }
    }

    /// The person's follow list, from memory when fresh.
    pub async fn followees(&self, user: UserId) -> Result<Arc<Vec<UserId>>, AppError> {
        if let Some(f) = self.cache.followees.get(&user) {
            return Ok(f);
        }
        let f = Arc::new(self.store.followees(user).await?);
        self.cache.followees.insert(user, f.clone());
        Ok(f)
    }

    /// A creator's newest published videos held in this cell (empty if none are here).
    pub async fn creator_videos(&self, creator: UserId) -> Result<Arc<Vec<VideoRow>>, AppError> {
        if let Some(v) = self.cache.creator_videos.get(&creator) {
            return Ok(v);
        }
        let cap = crate::cache::CREATOR_VIDEOS_CAP as i64;
        let v = Arc::new(
            self.store
                .videos_by_creators(&[creator], reelm_store::Keyset::START, cap)
                .await?,
        );
        self.cache.creator_videos.insert(creator, v.clone());
        Ok(v)
    }

    /// Which videos the person liked.
    pub async fn likes(&self, user: UserId) -> Result<Arc<HashSet<VideoId>>, AppError> {
        if let Some(l) = self.cache.likes.get(&user) {
            return Ok(l);
        }
        let l: Arc<HashSet<VideoId>> =
            Arc::new(self.store.liked_videos(user).await?.into_iter().collect());
        self.cache.likes.insert(user, l.clone());
        Ok(l)
    }

    /// The videos and creators the person marked "not interested".
    pub async fn not_interested(
        &self,
        user: UserId,
    ) -> Result<Arc<crate::cache::Hidden>, AppError> {
        if let Some(n) = self.cache.not_interested.get(&user) {
            return Ok(n);
        }
        let (videos, creators) = self.store.not_interested(user).await?;
        let n = Arc::new((videos.into_iter().collect(), creators.into_iter().collect()));
        self.cache.not_interested.insert(user, n.clone());
        Ok(n)
    }

    /// How many recent views feed a person's interest profile.
    pub const RECENT_VIEWS: i64 = 300;

    /// The person's recent views, newest first.
    pub async fn recent_views(
        &self,
        user: UserId,
    ) -> Result<Arc<Vec<crate::cache::RecentView>>, AppError> {
        if let Some(v) = self.cache.recent_views.get(&user) {
            return Ok(v);
        }
        let v = Arc::new(self.store.recent_views(user, Self::RECENT_VIEWS).await?);
        self.cache.recent_views.insert(user, v.clone());
        Ok(v)
    }

    /// Display references of people of this cell, from memory when fresh.
    pub async fn people(&self, ids: &[UserId]) -> Result<Vec<PersonRef>, AppError> {
        let mut out = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match self.cache.people.get(id) {
                Some(p) => out.push(p),
                None => missing.push(*id),
            }
        }
        missing.sort();
        missing.dedup();
        for p in self.store.profiles(&missing).await? {
            let r = PersonRef {
                id: p.user_id,
                handle: p.handle,
                display_name: p.display_name,
            };
            self.cache.people.insert(p.user_id, r.clone());
            out.push(r);
        }
        Ok(out)
    }

    /// Encrypts a personal field under the person's key, bound to region, person and column.
    pub fn seal(
        &self,
        key: &DataKey,
        user: UserId,
        table: &str,
        column: &str,
        plaintext: &str,
    ) -> Vec<u8> {
        let ctx = FieldContext::new(self.id().as_str(), user.0, table, column);
        reelm_vault::encrypt_field(key, &ctx, plaintext.as_bytes())
    }

    pub fn unseal(
        &self,
        key: &DataKey,
        user: UserId,
        table: &str,
        column: &str,
        ciphertext: &[u8],
    ) -> Result<String, AppError> {
        let ctx = FieldContext::new(self.id().as_str(), user.0, table, column);
        let bytes = reelm_vault::decrypt_field(key, &ctx, ciphertext)?;
        String::from_utf8(bytes)
            .map_err(|_| AppError::Internal("decrypted field is not UTF-8".into()))
    }
}

/// The error for a region whose cell runs in another process, where only it may act.
fn not_here(region: &RegionId) -> AppError {
    AppError::user(
        reelm_core::ErrorCode::Unavailable,
        format!("region {region} is served by another process; send this request there"),
    )
}

/// Reads a 32-byte secret from `path`, creating it (mode 0600) on first use.
fn load_or_create_secret(path: &Path) -> std::io::Result<[u8; 32]> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let bytes = hex::decode(text.trim())
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        return bytes
            .try_into()
            .map_err(|_| std::io::Error::other(format!("{}: expected 32 bytes", path.display())));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secret: [u8; 32] = rand::random();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    use std::io::Write;
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(hex::encode(secret).as_bytes())?;
            Ok(secret)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_secret(path),
        Err(e) => Err(e),
    }
}

/// The directory and every region's cell.
pub struct Platform {
    pub config: Config,
    pub directory: DirectoryStore,
    /// The cells running in this process.
    cells: Vec<Arc<Cell>>,
    /// Every region's cell, local or remote, in configuration order.
    links: Vec<CellLink>,
    /// This process's cell certificate, when it serves one region among separate processes.
    pub tls: Option<crate::tls::CellTls>,
    /// The For You candidate pool (newest and most liked videos of every cell), shared by all
    /// viewers and refreshed every few seconds instead of on every request.
    candidates: std::sync::RwLock<Option<(std::time::Instant, CandidatePool)>>,
    /// Held by whoever rebuilds the pool (the background refresher, or a request that found
    /// none); the others keep serving the current one.
    refreshing: tokio::sync::Mutex<()>,
    /// Bumped (under the `candidates` write lock) whenever the pool is edited or forgotten, so
    /// a rebuild that read the store before the change does not overwrite it (see
    /// [`candidates`]).
    candidates_generation: std::sync::atomic::AtomicU64,
    /// The generation of the last time the pool was forgotten (erasure, see
    /// [`Platform::refresh_candidates`]).
    candidates_forgotten: std::sync::atomic::AtomicU64,
    /// Uploads added to the pool since it was last built, with the generation each made: a
    /// build that read the stores before them carries them over.
    candidate_additions: std::sync::Mutex<Vec<(u64, CellLink, VideoRow)>>,
    /// True while a background refresher keeps the pool fresh: requests then never rebuild a
    /// pool that merely aged.
    candidates_refresher: std::sync::atomic::AtomicBool,
    /// Filters every feed applies (see [`crate::ops::feed::FeedGate`]).
    gates: std::sync::RwLock<Vec<Arc<dyn crate::ops::feed::FeedGate>>>,
    /// When the regions' rankers were last trained (ms since the epoch; 0: never).
    trained_at_ms: std::sync::atomic::AtomicI64,
}

pub type CandidatePool = Arc<Vec<(CellLink, VideoRow)>>;

/// How long a candidate pool is served before it is rebuilt.
const CANDIDATES_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// How many of the newest and of the most liked videos each cell contributes as For You
/// candidates.
const CANDIDATES_PER_CELL: i64 = 300;

impl Platform {
    /// Opens every region's cell in this process (the demo, tests, and admin commands that
    /// read all regions' stores: the audit, ledger verification, key rotation).
    pub async fn open(config: Config) -> Result<Platform, PlatformError> {
        Platform::open_served(config, None).await
    }

    /// Opens only `region`'s cell in this process; the other regions' cells are reached at
    /// their `cell_addr` over mutual TLS with this region's certificate.
    pub async fn open_region(config: Config, region: &RegionId) -> Result<Platform, PlatformError> {
        Platform::open_served(config, Some(region)).await
    }

    async fn open_served(
        config: Config,
        only: Option<&RegionId>,
    ) -> Result<Platform, PlatformError> {
        if let Some(region) = only {
            if config.region(region).is_none() {
                return Err(PlatformError::UnknownRegion {
                    region: region.to_string(),
                });
            }
            if let Some(r) = config.regions.iter().find(|r| r.cell_addr.is_empty()) {
                return Err(PlatformError::NoCellAddr {
                    region: r.id.to_string(),
                });
            }
        }
        let tls = match only {
            Some(region) => Some(crate::tls::CellTls::load(&config.data_dir, region).map_err(
                |source| PlatformError::Tls {
                    region: region.to_string(),
                    source,
                },
            )?),
            None => None,
        };
        // SQLite serializes writers anyway; a few connections serve concurrent readers. A
        // PostgreSQL region gets a larger pool.
        let pool_size = |url: &str| if url.starts_with("sqlite") { 8 } else { 16 };
        let directory =
            DirectoryStore::open(&config.directory_url, pool_size(&config.directory_url))
                .await
                .map_err(PlatformError::Directory)?;
        let mut cells = Vec::new();
        let mut links = Vec::new();
        for r in &config.regions {
            match (only, &tls) {
                (Some(region), Some(tls)) if &r.id != region => {
                    links.push(CellLink::Remote(Arc::new(RemoteCell::new(
                        r.id.clone(),
                        &r.cell_addr,
                        tls,
                    ))));
                }
                _ => {
                    let cell = Arc::new(Cell::open(r, &config, pool_size(&r.store_url)).await?);
                    links.push(CellLink::Local(cell.clone()));
                    cells.push(cell);
                }
            }
        }
        Ok(Platform {
            config,
            directory,
            cells,
            links,
            tls,
            candidates: std::sync::RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            candidates_generation: Default::default(),
            candidates_forgotten: Default::default(),
            candidate_additions: Default::default(),
            candidates_refresher: Default::default(),
            gates: Default::default(),
            trained_at_ms: Default::default(),
        })
    }

    /// The cells running in this process.
    pub fn cells(&self) -> &[Arc<Cell>] {
        &self.cells
    }

    /// A cell running in this process.
    pub fn cell(&self, id: &RegionId) -> Option<&Arc<Cell>> {
        self.cells.iter().find(|c| c.id() == id)
    }

    /// A region's cell that must run in this process to act (its people's own rows are
    /// read and written only there); a clear 503 when another process serves it.
    pub fn local_cell(&self, id: &RegionId) -> Result<&Arc<Cell>, AppError> {
        self.cell(id).ok_or_else(|| not_here(id))
    }

    /// Every region's cell, local or remote.
    pub fn links(&self) -> &[CellLink] {
        &self.links
    }

    pub fn link(&self, id: &RegionId) -> Option<&CellLink> {
        self.links.iter().find(|l| l.id() == id)
    }

    /// True when some regions' cells run in other processes.
    pub fn is_split(&self) -> bool {
        self.cells.len() < self.links.len()
    }

    /// The region this process serves (the first, when it serves all).
    pub fn local_region(&self) -> RegionId {
        self.cells
            .first()
            .map(|c| c.id().clone())
            .unwrap_or_else(|| self.config.regions[0].id.clone())
    }

    /// The cell that is home to residents of `country`, when it runs in this process.
    pub fn cell_for_country(&self, country: &str) -> Result<&Arc<Cell>, AppError> {
        let region = &self.config.region_for_country(country).id;
        self.cell(region).ok_or_else(|| not_here(region))
    }

    /// The home cell of a person, from the directory, when it runs in this process.
    pub async fn home_of(&self, user: UserId) -> Result<Option<Arc<Cell>>, AppError> {
        match self.directory.by_id(user).await? {
            Some(e) => Ok(Some(
                self.cell(&e.region)
                    .cloned()
                    .ok_or_else(|| not_here(&e.region))?,
            )),
            None => Ok(None),
        }
    }

    /// The home cell of a person, local or remote (for public reads and deliveries).
    pub async fn home_link(&self, user: UserId) -> Result<Option<CellLink>, AppError> {
        Ok(self
            .directory
            .by_id(user)
            .await?
            .and_then(|e| self.link(&e.region).cloned()))
    }

    /// Finds a video in whichever cell holds it (the creator's home). Videos are public, so the
    /// edge may look in every cell. A cell that cannot be reached fails the lookup only when
    /// no other cell holds the video.
    pub async fn find_video(&self, id: VideoId) -> Result<Option<(CellLink, VideoRow)>, AppError> {
        let lookups = self
            .links
            .iter()
            .map(|l| async move { (l.clone(), l.video(id).await) });
        let mut failure = None;
        for (link, found) in futures::future::join_all(lookups).await {
            match found {
                Ok(Some(v)) => return Ok(Some((link, v))),
                Ok(None) => {}
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// The For You candidate pool: each cell's newest and most liked published videos.
    /// Normally a background task ([`spawn_candidate_refresher`], started by
    /// [`crate::run`]) rebuilds it every [`CANDIDATES_TTL`] off the request path, and requests
    /// only read it. Without that task (a platform used as a library), stale-while-revalidate:
    /// one request rebuilds an aged pool while concurrent requests keep using the previous one.
    /// A request waits for a build only when there is no pool at all (start-up, or after
    /// [`Platform::refresh_candidates`]).
    pub async fn candidates(&self) -> Result<CandidatePool, AppError> {
        let current = self.current_candidates();
        if let Some((built, pool)) = &current
            && (built.elapsed() < CANDIDATES_TTL || self.candidates_refreshed_in_background())
        {
            return Ok(pool.clone());
        }
        let guard = match &current {
            Some((_, pool)) => match self.refreshing.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(pool.clone()),
            },
            None => self.refreshing.lock().await,
        };
        // Someone may have rebuilt it while this request waited for the lock.
        if let Some((built, pool)) = self.current_candidates()
            && built.elapsed() < CANDIDATES_TTL
        {
            return Ok(pool);
        }
        let generation = self.candidates_generation();
        let pool = self.build_candidates().await?;
        self.store_candidates(generation, pool.clone());
        drop(guard);
        Ok(pool)
    }

    /// Reads the pool's videos from the cells and the regions' trending lists.
    async fn build_candidates(&self) -> Result<CandidatePool, AppError> {
        let mut pool: Vec<(CellLink, VideoRow)> = Vec::new();
        let mut seen = HashSet::new();
        for link in &self.links {
            // A region that cannot be reached contributes nothing this time.
            let lists = async {
                let recent = link.recent_videos(CANDIDATES_PER_CELL).await?;
                let top = link.top_videos(CANDIDATES_PER_CELL).await?;
                Ok::<_, AppError>((recent, top))
            };
            let (recent, top) = match lists.await {
                Ok(lists) => lists,
                Err(e @ AppError::Unreachable { .. }) => {
                    tracing::warn!(error = %e, "candidate pool without this region");
                    continue;
                }
                Err(e) => return Err(e),
            };
            for v in recent.into_iter().chain(top) {
                if seen.insert(v.id) {
                    pool.push((link.clone(), v));
                }
            }
        }
        // What trends in each region, wherever the video is stored (videos are public; the
        // statistics behind the choice stay in their region).
        let now = reelm_core::now_ms();
        let min_viewers = i64::from(self.config.feed.trending_min_viewers);
        let mut trending: Vec<VideoId> = Vec::new();
        for link in &self.links {
            let list = match link
                .trending(now, min_viewers, CANDIDATES_PER_CELL as usize)
                .await
            {
                Ok(list) => list,
                Err(e @ AppError::Unreachable { .. }) => {
                    tracing::warn!(error = %e, "candidate pool without this region's trending");
                    continue;
                }
                Err(e) => return Err(e),
            };
            for (id, _) in list {
                if !seen.contains(&id) {
                    trending.push(id);
                }
            }
        }
        trending.sort();
        trending.dedup();
        for chunk in trending.chunks(500) {
            for (cell, v) in self.published_videos(chunk).await? {
                if seen.insert(v.id) {
                    pool.push((cell, v));
                }
            }
        }
        Ok(Arc::new(pool))
    }

    fn current_candidates(&self) -> Option<(std::time::Instant, CandidatePool)> {
        self.candidates.read().ok().and_then(|slot| slot.clone())
    }

    /// Records that every region's ranker was just (re)trained.
    pub fn mark_trained(&self) {
        self.trained_at_ms
            .store(reelm_core::now_ms(), std::sync::atomic::Ordering::Relaxed);
    }

    /// True when the rankers were trained less than `within` ago.
    pub fn trained_within(&self, within: std::time::Duration) -> bool {
        let at = self
            .trained_at_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        at > 0 && reelm_core::now_ms() - at < within.as_millis() as i64
    }

    /// Installs a filter on every feed (trust & safety and minors' protection hook in here).
    pub fn add_feed_gate(&self, gate: Arc<dyn crate::ops::feed::FeedGate>) {
        if let Ok(mut gates) = self.gates.write() {
            tracing::info!(gate = gate.name(), "feed gate installed");
            gates.push(gate);
        }
    }

    /// The installed feed gates.
    pub fn feed_gates(&self) -> Vec<Arc<dyn crate::ops::feed::FeedGate>> {
        self.gates.read().map(|g| g.clone()).unwrap_or_default()
    }

    /// The published videos among `ids`, from whichever cells hold them (a region that
    /// cannot be reached contributes none).
    pub async fn published_videos(
        &self,
        ids: &[VideoId],
    ) -> Result<Vec<(CellLink, VideoRow)>, AppError> {
        let mut out = Vec::new();
        if ids.is_empty() {
            return Ok(out);
        }
        for link in &self.links {
            let rows = match link.videos(ids).await {
                Ok(rows) => rows,
                Err(e @ AppError::Unreachable { .. }) => {
                    tracing::warn!(error = %e, "videos of this region left out");
                    continue;
                }
                Err(e) => return Err(e),
            };
            for v in rows {
                if v.status == "published" {
                    out.push((link.clone(), v));
                }
            }
        }
        Ok(out)
    }

    /// Forgets the candidate pool so the next request sees the stores as they are now (an
    /// erased creator's videos are gone at once); that request rebuilds it.
    pub fn refresh_candidates(&self) {
        if let Ok(mut slot) = self.candidates.write() {
            let generation = self
                .candidates_generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
                + 1;
            self.candidates_forgotten
                .store(generation, std::sync::atomic::Ordering::Release);
            if let Ok(mut additions) = self.candidate_additions.lock() {
                additions.clear();
            }
            *slot = None;
        }
    }

    pub async fn close(&self) {
        self.directory.db.close().await;
        for c in &self.cells {
            // Anchor the ledger's tail so truncating it is detectable; a failure is logged,
            // the entries stay verifiable by their hashes.
            if let Err(e) = c.ledger.checkpoint_tail(&c.store).await {
                tracing::warn!(region = %c.id(), error = %e, "cannot checkpoint the ledger");
            }
            c.events.stop();
            c.store.db.close().await;
        }
    }
}
