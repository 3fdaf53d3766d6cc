//! The platform: the global directory plus one [`Cell`] per region. In the demo all cells live
//! in this process; with `reelm serve --region <id>` only that region's cell does, and the
//! others are reached over mutual TLS. Operations reach another region's cell only through a
//! [`CellLink`] (public reads and gateway deliveries), never through its store.

use crate::Error;
use crate::link::{CellLink, RemoteCell};
use crate::views::PersonRef;
use hmac::{Hmac, Mac};
use reelm_core::{Config, RegionConfig, RegionId, UserId, VideoId};
use reelm_media::MediaStore;
use reelm_store::{AccountRow, CellStore, DirectoryStore, VideoRow};
use reelm_vault::{DataKey, FieldContext, LocalKms, WrappedKey};
use sha2::Sha256;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        source: reelm_events::EventsError,
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
    /// Key of the keyed hash that indexes emails (uniqueness without storing them in clear).
    index_key: [u8; 32],
    /// This region's transfer ledger (the gateway appends decisions with this region as source).
    pub ledger: reelm_residency::ledger::RegionLedger,
    /// The region's behavioral event log and the feed state its consumer keeps current.
    pub events: reelm_events::EventLog,
    /// The cell calls this process answers (shared by its cells; see [`crate::services`]).
    pub services: Arc<crate::services::CellServices>,
    /// The cell's persisted background jobs (upload screening, ...), run by the runners
    /// [`Platform::start_jobs`] starts.
    pub jobs: reelm_jobs::Jobs,
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
        reelm_residency::keys_dir(data_dir, region)
    }

    async fn open(
        config: &RegionConfig,
        platform: &Config,
        max_connections: u32,
        services: Arc<crate::services::CellServices>,
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
        let ledger = reelm_residency::ledger::RegionLedger::open(&store, &keys_dir, &config.id)
            .await
            .map_err(keys_err)?;
        let events = reelm_events::EventLog::start(
            &config.id,
            &store,
            &platform.feed,
            config.nats_url.as_deref(),
            &platform.nats_namespace,
            Vec::new(),
        )
        .await
        .map_err(|source| PlatformError::Events {
            region: region.clone(),
            source,
        })?;
        Ok(Cell {
            config: config.clone(),
            jobs: reelm_jobs::Jobs::new(store.clone()),
            store,
            media,
            kms,
            index_key,
            cache: Default::default(),
            ledger,
            events,
            services,
        })
    }

    /// A keyed hash of a normalized email, unique per region.
    pub fn email_index(&self, email: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key)
            .expect("HMAC takes any key length");
        mac.update(email.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn new_user_key(&self, user: UserId) -> Result<(DataKey, WrappedKey), Error> {
        Ok(reelm_vault::new_user_key(
            &self.kms,
            self.id().as_str(),
            user.0,
        )?)
    }

    pub fn user_key(&self, account: &AccountRow) -> Result<DataKey, Error> {
        let wrapped = WrappedKey::from_bytes(account.wrapped_key.expose())?;
        Ok(reelm_vault::open_user_key(
            &self.kms,
            self.id().as_str(),
            account.user_id.0,
            &wrapped,
        )?)
    }

    /// Unwraps the data key of a non-person owner (an operator) stored as `wrapped`.
    pub fn open_key(&self, owner: i64, wrapped: &[u8]) -> Result<DataKey, Error> {
        let wrapped = WrappedKey::from_bytes(wrapped)?;
        Ok(reelm_vault::open_user_key(
            &self.kms,
            self.id().as_str(),
            owner,
            &wrapped,
        )?)
    }

    /// The person's follow list, from memory when fresh.
    pub async fn followees(&self, user: UserId) -> Result<Arc<Vec<UserId>>, Error> {
        if let Some(f) = self.cache.followees.get(&user) {
            return Ok(f);
        }
        let f = Arc::new(self.store.followees(user).await?);
        self.cache.followees.insert(user, f.clone());
        Ok(f)
    }

    /// A creator's newest published videos held in this cell (empty if none are here).
    pub async fn creator_videos(&self, creator: UserId) -> Result<Arc<Vec<VideoRow>>, Error> {
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
    pub async fn likes(&self, user: UserId) -> Result<Arc<HashSet<VideoId>>, Error> {
        if let Some(l) = self.cache.likes.get(&user) {
            return Ok(l);
        }
        let l: Arc<HashSet<VideoId>> =
            Arc::new(self.store.liked_videos(user).await?.into_iter().collect());
        self.cache.likes.insert(user, l.clone());
        Ok(l)
    }

    /// The videos and creators the person marked "not interested".
    pub async fn not_interested(&self, user: UserId) -> Result<Arc<crate::cache::Hidden>, Error> {
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
    ) -> Result<Arc<Vec<crate::cache::RecentView>>, Error> {
        if let Some(v) = self.cache.recent_views.get(&user) {
            return Ok(v);
        }
        let v = Arc::new(self.store.recent_views(user, Self::RECENT_VIEWS).await?);
        self.cache.recent_views.insert(user, v.clone());
        Ok(v)
    }

    /// Display references of people of this cell, from memory when fresh.
    pub async fn people(&self, ids: &[UserId]) -> Result<Vec<PersonRef>, Error> {
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
    ) -> Result<String, Error> {
        let ctx = FieldContext::new(self.id().as_str(), user.0, table, column);
        let bytes = reelm_vault::decrypt_field(key, &ctx, ciphertext)?;
        String::from_utf8(bytes).map_err(|_| Error::Internal("decrypted field is not UTF-8".into()))
    }
}

/// A subsystem that keeps something derived from public content (a candidate pool, a search
/// index) and must hear at once when content appears or goes.
pub trait ContentListener: Send + Sync {
    /// A short name for logs.
    fn name(&self) -> &str;
    /// A video held by `cell` was published.
    fn published(&self, cell: &CellLink, video: &VideoRow);
    /// Content was removed wholesale (an erasure): forget whatever was derived from it.
    fn removed(&self);
}

/// The error for a region whose cell runs in another process, where only it may act.
fn not_here(region: &RegionId) -> Error {
    Error::user(
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
    /// Filters every surface applies (see [`crate::gates`]).
    gates: std::sync::RwLock<Vec<Arc<dyn crate::gates::VisibilityGate>>>,
    /// Subsystems told when content is published or removed (see [`ContentListener`]).
    listeners: std::sync::RwLock<Vec<Arc<dyn ContentListener>>>,
    /// Platform-wide state of subsystems, one value per type (see [`Platform::extension`]).
    extensions: crate::Extensions,
    /// The cell calls this process's cells answer (see [`crate::services`]).
    services: Arc<crate::services::CellServices>,
    /// Upload screening stages, in order (see [`crate::screening`]).
    screening: std::sync::RwLock<Vec<Arc<dyn crate::screening::ScreeningStage>>>,
    /// The background-job runners of this process's cells; dropping them stops them.
    job_runners: std::sync::Mutex<Vec<reelm_jobs::JobRunner>>,
}

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
        let services = Arc::new(crate::services::CellServices::with_builtins(
            crate::services::Limits {
                trending_min_viewers: i64::from(config.feed.trending_min_viewers),
                share_min_people: u64::from(config.feed.share_min_people),
            },
        ));
        let mut cells = Vec::new();
        let mut links = Vec::new();
        for r in &config.regions {
            match (only, &tls) {
                (Some(region), Some(tls)) if &r.id != region => {
                    links.push(CellLink::remote(Arc::new(RemoteCell::new(
                        r.id.clone(),
                        &r.cell_addr,
                        tls,
                    ))));
                }
                _ => {
                    let cell = Arc::new(
                        Cell::open(r, &config, pool_size(&r.store_url), services.clone()).await?,
                    );
                    links.push(CellLink::local(cell.clone()));
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
            gates: Default::default(),
            listeners: Default::default(),
            extensions: Default::default(),
            services,
            screening: Default::default(),
            job_runners: Default::default(),
        })
    }

    /// The cell calls this process's cells answer; subsystems register theirs here.
    pub fn cell_services(&self) -> &Arc<crate::services::CellServices> {
        &self.services
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
    pub fn local_cell(&self, id: &RegionId) -> Result<&Arc<Cell>, Error> {
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
    pub fn cell_for_country(&self, country: &str) -> Result<&Arc<Cell>, Error> {
        let region = &self.config.region_for_country(country).id;
        self.cell(region).ok_or_else(|| not_here(region))
    }

    /// The home cell of a person, from the directory, when it runs in this process.
    pub async fn home_of(&self, user: UserId) -> Result<Option<Arc<Cell>>, Error> {
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
    pub async fn home_link(&self, user: UserId) -> Result<Option<CellLink>, Error> {
        Ok(self
            .directory
            .by_id(user)
            .await?
            .and_then(|e| self.link(&e.region).cloned()))
    }

    /// Finds a video in whichever cell holds it (the creator's home). Videos are public, so the
    /// edge may look in every cell. A cell that cannot be reached fails the lookup only when
    /// no other cell holds the video.
    pub async fn find_video(&self, id: VideoId) -> Result<Option<(CellLink, VideoRow)>, Error> {
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

    /// Installs a filter on every surface (trust & safety and minors' protection hook in here).
    pub fn add_gate(&self, gate: Arc<dyn crate::gates::VisibilityGate>) {
        if let Ok(mut gates) = self.gates.write() {
            tracing::info!(gate = gate.name(), "visibility gate installed");
            gates.push(gate);
        }
    }

    /// Installs a gate written in the simple yes/no form (see [`crate::gates::FeedGate`]).
    pub fn add_feed_gate<G: crate::gates::FeedGate + 'static>(&self, gate: Arc<G>) {
        self.add_gate(gate);
    }

    /// The installed gates.
    pub fn gates(&self) -> crate::gates::Gates {
        crate::gates::Gates(self.gates.read().map(|g| g.clone()).unwrap_or_default())
    }

    /// Adds an upload screening stage after the installed ones. From then on an upload waits in
    /// `processing` until a background job has run every stage (see [`crate::screening`]).
    pub fn add_screening_stage(&self, stage: Arc<dyn crate::screening::ScreeningStage>) {
        if let Ok(mut stages) = self.screening.write() {
            tracing::info!(stage = stage.name(), "screening stage installed");
            stages.push(stage);
        }
    }

    /// The installed screening stages, in order.
    pub fn screening_stages(&self) -> Vec<Arc<dyn crate::screening::ScreeningStage>> {
        self.screening.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Starts a background-job runner with `handlers` on every cell of this process (the
    /// server does this at start-up with every subsystem's handlers). Jobs left running by a
    /// crashed process are taken over when their lease expires and resume from their
    /// checkpoint. The runners stop with the platform or at [`Platform::stop_jobs`]; calling
    /// this again replaces them (a platform served twice does not run every job twice over).
    pub fn start_jobs(&self, handlers: reelm_jobs::Handlers) {
        let Ok(mut runners) = self.job_runners.lock() else {
            return;
        };
        runners.clear();
        for cell in &self.cells {
            let config = reelm_jobs::RunnerConfig {
                name: format!("{}-{}", cell.id(), std::process::id()),
                ..Default::default()
            };
            runners.push(reelm_jobs::JobRunner::start(
                &cell.jobs,
                handlers.clone(),
                config,
            ));
        }
    }

    /// Stops this process's job runners (what they were running resumes later, elsewhere or
    /// after a restart).
    pub fn stop_jobs(&self) {
        if let Ok(mut runners) = self.job_runners.lock() {
            runners.clear();
        }
    }

    /// Tells `listener` from now on when content is published or removed.
    pub fn add_content_listener(&self, listener: Arc<dyn ContentListener>) {
        if let Ok(mut listeners) = self.listeners.write() {
            tracing::debug!(listener = listener.name(), "content listener added");
            listeners.push(listener);
        }
    }

    fn listeners(&self) -> Vec<Arc<dyn ContentListener>> {
        self.listeners.read().map(|l| l.clone()).unwrap_or_default()
    }

    /// A video of `cell` became public: every listener hears of it at once.
    pub fn video_published(&self, cell: &Cell, video: &VideoRow) {
        let Some(link) = self.link(cell.id()).cloned() else {
            return;
        };
        for l in self.listeners() {
            l.published(&link, video);
        }
    }

    /// Content was removed wholesale (an erasure): listeners forget what they derived from it.
    pub fn content_removed(&self) {
        for l in self.listeners() {
            l.removed();
        }
    }

    /// The platform-wide state of type `T`, made by `init` on first use. Subsystems keep their
    /// state here (e.g. the recommender's candidate pool) instead of in a field of `Platform`.
    pub fn extension<T: Send + Sync + 'static>(&self, init: impl FnOnce() -> Arc<T>) -> Arc<T> {
        self.extensions.get_or_insert_with(init)
    }

    /// The published videos among `ids`, from whichever cells hold them (a region that
    /// cannot be reached contributes none).
    pub async fn published_videos(
        &self,
        ids: &[VideoId],
    ) -> Result<Vec<(CellLink, VideoRow)>, Error> {
        let mut out = Vec::new();
        if ids.is_empty() {
            return Ok(out);
        }
        for link in &self.links {
            let rows = match link.videos(ids).await {
                Ok(rows) => rows,
                Err(e @ Error::Unreachable { .. }) => {
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

    pub async fn close(&self) {
        self.stop_jobs();
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
