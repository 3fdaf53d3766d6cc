//! The one typed configuration, built in layers: built-in defaults < TOML file < `REELM_*`
//! environment variables < command-line flags (applied by the binary). Loading reads no files
//! itself: the caller passes the file's text and an environment lookup, which keeps every
//! layer testable.

use crate::region::RegionId;
use crate::sensitive::redact_url;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Everything a reelm process needs to know, resolved once at start-up.
///
/// `Debug` is written by hand (below) so that store and broker URLs, which may carry a user
/// and password (`postgres://app:pw@db/eu`), print with their userinfo redacted. Wrapping the
/// URL fields in `Sensitive` would do the same for `Debug`, but every crate that opens a store
/// reads them as `&str`; a redacting `Debug` keeps those readers unchanged and the TOML format
/// identical, and the exhaustive destructuring in it stops a new field from being left out.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where embedded stores live: `directory.db`, and per region `regions/<id>/store.db`,
    /// `regions/<id>/media/` and `regions/<id>/keys/`.
    pub data_dir: PathBuf,
    /// The address the edge listens on.
    pub addr: String,
    /// The global directory's store (user id → home region, handle → user id). `{data_dir}`
    /// is replaced by the data dir.
    pub directory_url: String,
    /// Largest accepted upload, in bytes. Checked while streaming, before anything is stored.
    pub max_upload_bytes: u64,
    /// Marks cookies `Secure`. Off by default because the demo serves plain HTTP on loopback;
    /// turn it on behind TLS.
    pub cookie_secure: bool,
    /// The regions (cells). Exactly one region serves the fallback country list `["*"]`.
    pub regions: Vec<RegionConfig>,
    /// How the For You feed picks and ranks candidates.
    pub feed: FeedConfig,
    /// Prefix of the NATS stream and subject names of this deployment (regions with a
    /// `nats_url` publish their event log to `<NAMESPACE>_EVENTS_<REGION>`), so several
    /// deployments can share a NATS server without seeing each other's streams.
    pub nats_namespace: String,
}

/// Tunables of the For You feed, the same in every region.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// A video is "trending in your region" only once this many distinct people of the region
    /// viewed it (below that one person's replays could make it trend).
    pub trending_min_viewers: u32,
    /// Half-life of a video's regional trending score, in hours.
    pub trending_half_life_hours: f64,
    /// Slots of every For You page reserved for fresh uploads that few people have seen yet,
    /// so new creators get impressions.
    pub explore_slots: u32,
    /// A fresh upload leaves exploration once this many distinct people of the region saw it.
    pub explore_max_viewers: u32,
    /// Uploads younger than this many hours count as fresh.
    pub fresh_hours: u32,
    /// A video the person viewed within this many hours is not shown again while unseen
    /// candidates remain.
    pub seen_window_hours: u32,
    /// Regions share feed statistics (co-engagement, distinct viewers) only when each value
    /// rests on at least this many distinct people; the residency policy's own minimum
    /// applies on top.
    pub share_min_people: u32,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            trending_min_viewers: 5,
            trending_half_life_hours: 24.0,
            explore_slots: 2,
            explore_max_viewers: 50,
            fresh_hours: 48,
            seen_window_hours: 24,
            share_min_people: 5,
        }
    }
}

/// One region (cell): a jurisdiction plus the data center that serves it. `Debug` is written
/// by hand to redact credentials in its URLs, as for [`Config`].
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    pub id: RegionId,
    /// Human label of the data center, shown to people ("Dublin, Ireland").
    pub data_center: String,
    /// The legal order the region's data falls under ("European Union").
    pub jurisdiction: String,
    /// ISO 3166-1 alpha-2 codes of the countries whose residents live here; `["*"]` marks the
    /// fallback region for every country not listed elsewhere.
    pub countries: Vec<String>,
    /// `sqlite://…` (default, under the data dir) or `postgres://…` (one database per region).
    pub store_url: String,
    /// A folder path or `file://` URL for the region's media objects.
    pub media_url: String,
    /// `nats://host:port` of the region's NATS server: the region's event log is then also a
    /// JetStream stream (`REELM_EVENTS_<REGION>`) that the feed consumes. Unset: the log in the
    /// region store is consumed directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_url: Option<String>,
    /// `host:port` of the cell's mutual-TLS endpoint, used when cells run as separate
    /// processes (`reelm serve --region <id>`): the cell listens here and the other cells and
    /// edges reach it here. Unused (and may be left out) while every cell runs in one process.
    #[serde(default)]
    pub cell_addr: String,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field is a compile error here until it is printed.
        let Config {
            data_dir,
            addr,
            directory_url,
            max_upload_bytes,
            cookie_secure,
            regions,
            feed,
            nats_namespace,
        } = self;
        f.debug_struct("Config")
            .field("data_dir", data_dir)
            .field("addr", addr)
            .field("directory_url", &redact_url(directory_url))
            .field("max_upload_bytes", max_upload_bytes)
            .field("cookie_secure", cookie_secure)
            .field("regions", regions)
            .field("feed", feed)
            .field("nats_namespace", nats_namespace)
            .finish()
    }
}

impl fmt::Debug for RegionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RegionConfig {
            id,
            data_center,
            jurisdiction,
            countries,
            store_url,
            media_url,
            nats_url,
            cell_addr,
        } = self;
        f.debug_struct("RegionConfig")
            .field("id", id)
            .field("data_center", data_center)
            .field("jurisdiction", jurisdiction)
            .field("countries", countries)
            .field("store_url", &redact_url(store_url))
            .field("media_url", &redact_url(media_url))
            .field("nats_url", &nats_url.as_deref().map(redact_url))
            .field("cell_addr", cell_addr)
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("config file is not valid TOML: {0}")]
    Toml(String),
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// EU member states, EEA members, the UK and Switzerland: the countries served from Dublin.
pub const EU_REGION_COUNTRIES: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "GB", "CH",
];

impl Config {
    /// The built-in configuration: three regions on embedded stores under `data_dir`.
    pub fn defaults(data_dir: &Path) -> Config {
        let region =
            |id: &str, dc: &str, jurisdiction: &str, countries: Vec<String>, cell_port: u16| {
                RegionConfig {
                    id: RegionId::new(id).expect("built-in region ids are valid"),
                    data_center: dc.into(),
                    jurisdiction: jurisdiction.into(),
                    countries,
                    store_url: format!("sqlite://{{data_dir}}/regions/{id}/store.db"),
                    media_url: format!("{{data_dir}}/regions/{id}/media"),
                    nats_url: None,
                    cell_addr: format!("127.0.0.1:{cell_port}"),
                }
            };
        Config {
            data_dir: data_dir.to_path_buf(),
            addr: "127.0.0.1:8080".into(),
            directory_url: "sqlite://{data_dir}/directory.db".into(),
            max_upload_bytes: 50 * 1024 * 1024,
            cookie_secure: false,
            feed: FeedConfig::default(),
            nats_namespace: "reelm".into(),
            regions: vec![
                region(
                    "us",
                    "Texas, United States",
                    "United States",
                    vec!["US".into()],
                    7443,
                ),
                region(
                    "eu",
                    "Dublin, Ireland",
                    "European Union (EU/EEA, UK, CH)",
                    EU_REGION_COUNTRIES.iter().map(|c| c.to_string()).collect(),
                    7444,
                ),
                region("ap", "Singapore", "Singapore", vec!["*".into()], 7445),
            ],
        }
    }

    /// Builds the configuration from its layers. `file` is the TOML text of a config file (a
    /// partial file overrides only what it names); `env` looks up environment variables.
    pub fn load(
        default_data_dir: &Path,
        file: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut value = toml::Value::try_from(Config::defaults(default_data_dir))
            .map_err(|e| ConfigError::Toml(e.to_string()))?;
        if let Some(text) = file {
            let overlay: toml::Value =
                toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
            merge(&mut value, overlay);
        }
        let mut config: Config = value
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Toml(e.to_string()))?;
        config.apply_env(env)?;
        config.resolve()?;
        Ok(config)
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = env("REELM_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = env("REELM_ADDR") {
            self.addr = v;
        }
        if let Some(v) = env("REELM_DIRECTORY_URL") {
            self.directory_url = v;
        }
        if let Some(v) = env("REELM_MAX_UPLOAD_BYTES") {
            self.max_upload_bytes = v.parse().map_err(|_| ConfigError::Env {
                var: "REELM_MAX_UPLOAD_BYTES".into(),
                message: format!("{v:?} is not a byte count"),
            })?;
        }
        if let Some(v) = env("REELM_COOKIE_SECURE") {
            self.cookie_secure = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = env("REELM_NATS_NAMESPACE") {
            self.nats_namespace = v;
        }
        let nats_all = env("REELM_NATS_URL");
        for region in &mut self.regions {
            let key = region.id.as_str().to_uppercase().replace('-', "_");
            if let Some(v) = env(&format!("REELM_REGION_{key}_NATS_URL")).or(nats_all.clone()) {
                region.nats_url = Some(v);
            }
            if let Some(v) = env(&format!("REELM_REGION_{key}_STORE_URL")) {
                region.store_url = v;
            }
            if let Some(v) = env(&format!("REELM_REGION_{key}_MEDIA_URL")) {
                region.media_url = v;
            }
            if let Some(v) = env(&format!("REELM_REGION_{key}_CELL_ADDR")) {
                region.cell_addr = v;
            }
        }
        Ok(())
    }

    /// Replaces `{data_dir}` and checks the invariants between regions.
    fn resolve(&mut self) -> Result<(), ConfigError> {
        let dir = self.data_dir.to_string_lossy().into_owned();
        self.directory_url = self.directory_url.replace("{data_dir}", &dir);
        for r in &mut self.regions {
            r.store_url = r.store_url.replace("{data_dir}", &dir);
            r.media_url = r.media_url.replace("{data_dir}", &dir);
            for c in &mut r.countries {
                *c = c.to_ascii_uppercase();
            }
        }
        self.validate()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.regions.is_empty() {
            return invalid("at least one region is needed".into());
        }
        if self.max_upload_bytes == 0 {
            return invalid("max_upload_bytes must be positive".into());
        }
        let ns = &self.nats_namespace;
        if ns.is_empty()
            || !ns
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return invalid(format!(
                "nats_namespace must be lowercase letters, digits and '-', not {ns:?}"
            ));
        }
        let half_life = self.feed.trending_half_life_hours;
        if !(half_life.is_finite() && half_life > 0.0) {
            return invalid(format!(
                "feed.trending_half_life_hours must be a positive number of hours, not {half_life}"
            ));
        }
        let mut ids = std::collections::HashSet::new();
        let mut countries = std::collections::HashMap::new();
        let mut fallbacks = 0;
        for r in &self.regions {
            if !ids.insert(r.id.clone()) {
                return invalid(format!("region {} is declared twice", r.id));
            }
            for c in &r.countries {
                if c == "*" {
                    fallbacks += 1;
                    continue;
                }
                if !crate::validate::is_country_code(c) {
                    return invalid(format!(
                        "region {}: {c:?} is not an ISO 3166-1 alpha-2 country code",
                        r.id
                    ));
                }
                if let Some(other) = countries.insert(c.clone(), r.id.clone()) {
                    return invalid(format!(
                        "country {c} is served by both {other} and {}",
                        r.id
                    ));
                }
            }
            let sqlite_or_pg = r.store_url.starts_with("sqlite:")
                || r.store_url.starts_with("postgres://")
                || r.store_url.starts_with("postgresql://");
            if let Some(url) = &r.nats_url
                && !(url.starts_with("nats://") || url.starts_with("tls://"))
            {
                return invalid(format!(
                    "region {}: nats_url must start with nats:// or tls://, not {url:?}",
                    r.id
                ));
            }
            if !r.cell_addr.is_empty()
                && r.cell_addr
                    .rsplit_once(':')
                    .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
            {
                return invalid(format!(
                    "region {}: cell_addr must be host:port, not {:?}",
                    r.id, r.cell_addr
                ));
            }
            if !sqlite_or_pg {
                return invalid(format!(
                    "region {}: store_url must start with sqlite: or postgres://",
                    r.id
                ));
            }
        }
        if fallbacks != 1 {
            return invalid(format!(
                "exactly one region must serve the fallback country list [\"*\"]; found {fallbacks}"
            ));
        }
        Ok(())
    }

    /// The home region of a resident of `country` (ISO alpha-2, any case).
    pub fn region_for_country(&self, country: &str) -> &RegionConfig {
        let country = country.to_ascii_uppercase();
        self.regions
            .iter()
            .find(|r| r.countries.contains(&country))
            .or_else(|| {
                self.regions
                    .iter()
                    .find(|r| r.countries.iter().any(|c| c == "*"))
            })
            .unwrap_or(&self.regions[0])
    }

    pub fn region(&self, id: &RegionId) -> Option<&RegionConfig> {
        self.regions.iter().find(|r| &r.id == id)
    }

    /// The merged configuration as TOML, for `reelm config show`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// Overlays `overlay` on `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Value, overlay: toml::Value) {
    match (base, overlay) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_example_file_states_the_defaults() {
        let text = include_str!("../../../reelm.example.toml");
        let from_file = Config::load(Path::new("/d"), Some(text), &no_env).unwrap();
        let defaults = Config::load(Path::new("/d"), None, &no_env).unwrap();
        assert_eq!(from_file.feed, defaults.feed);
        assert_eq!(from_file.nats_namespace, defaults.nats_namespace);
        assert_eq!(from_file.regions.len(), defaults.regions.len());
    }

    #[test]
    fn nats_urls_come_from_the_environment_and_are_checked() {
        let env = |k: &str| (k == "REELM_NATS_URL").then(|| "nats://127.0.0.1:4222".to_owned());
        let c = Config::load(Path::new("/d"), None, &env).unwrap();
        assert!(
            c.regions
                .iter()
                .all(|r| r.nats_url.as_deref() == Some("nats://127.0.0.1:4222"))
        );
        let bad = |k: &str| (k == "REELM_REGION_EU_NATS_URL").then(|| "http://x".to_owned());
        let e = Config::load(Path::new("/d"), None, &bad).unwrap_err();
        assert!(
            e.to_string().contains("nats_url must start with nats://"),
            "{e}"
        );
        let ns = |k: &str| (k == "REELM_NATS_NAMESPACE").then(|| "Bad Name".to_owned());
        assert!(Config::load(Path::new("/d"), None, &ns).is_err());
    }

    #[test]
    fn cell_addresses_default_per_region_and_are_checked() {
        let c = Config::load(Path::new("/d"), None, &no_env).unwrap();
        let addrs: Vec<&str> = c.regions.iter().map(|r| r.cell_addr.as_str()).collect();
        assert_eq!(
            addrs,
            ["127.0.0.1:7443", "127.0.0.1:7444", "127.0.0.1:7445"]
        );
        let env = |k: &str| (k == "REELM_REGION_EU_CELL_ADDR").then(|| "10.0.0.2:9443".to_owned());
        let c = Config::load(Path::new("/d"), None, &env).unwrap();
        assert_eq!(c.regions[1].cell_addr, "10.0.0.2:9443");
        let bad = |k: &str| (k == "REELM_REGION_AP_CELL_ADDR").then(|| "no-port".to_owned());
        let e = Config::load(Path::new("/d"), None, &bad).unwrap_err();
        assert!(e.to_string().contains("cell_addr must be host:port"), "{e}");
    }

    #[test]
    fn debug_hides_credentials_in_urls() {
        let env = |k: &str| match k {
            "REELM_DIRECTORY_URL" => Some("postgres://dir:pw-one@db/directory".to_owned()),
            "REELM_REGION_EU_STORE_URL" => Some("postgres://eu:pw-two@db/eu".to_owned()),
            "REELM_NATS_URL" => Some("nats://pw-three@nats:4222".to_owned()),
            _ => None,
        };
        let c = Config::load(Path::new("/d"), None, &env).unwrap();
        let text = format!("{c:?}");
        for secret in ["pw-one", "pw-two", "pw-three"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("postgres://***@db/eu"), "{text}");
        assert!(text.contains("sqlite:///d/regions/us/store.db"), "{text}");
        // Serializing stays exact: `config show` and the TOML round trip need the real URL.
        assert!(c.to_toml().contains("postgres://eu:pw-two@db/eu"));
    }

    #[test]
    fn defaults_place_countries() {
        let c = Config::load(Path::new("/d"), None, &no_env).unwrap();
        assert_eq!(c.region_for_country("de").id.as_str(), "eu");
        assert_eq!(c.region_for_country("GB").id.as_str(), "eu");
        assert_eq!(c.region_for_country("US").id.as_str(), "us");
        assert_eq!(c.region_for_country("JP").id.as_str(), "ap");
        assert_eq!(c.regions[1].store_url, "sqlite:///d/regions/eu/store.db");
    }

    #[test]
    fn file_then_env_override() {
        let file = "addr = \"0.0.0.0:9000\"\nmax_upload_bytes = 1000\n";
        let env = |k: &str| match k {
            "REELM_ADDR" => Some("127.0.0.1:1".to_string()),
            "REELM_REGION_EU_STORE_URL" => Some("postgres://x/eu".to_string()),
            _ => None,
        };
        let c = Config::load(Path::new("/d"), Some(file), &env).unwrap();
        assert_eq!(c.addr, "127.0.0.1:1");
        assert_eq!(c.max_upload_bytes, 1000);
        assert_eq!(c.regions[1].store_url, "postgres://x/eu");
    }

    #[test]
    fn bad_configs_are_refused_with_reasons() {
        let dup = "[[regions]]\nid='us'\ndata_center='a'\njurisdiction='b'\ncountries=['US']\nstore_url='sqlite://a'\nmedia_url='m'\n[[regions]]\nid='eu'\ndata_center='a'\njurisdiction='b'\ncountries=['US','*']\nstore_url='sqlite://b'\nmedia_url='m'\n";
        let err = Config::load(Path::new("/d"), Some(dup), &no_env).unwrap_err();
        assert!(
            err.to_string().contains("country US is served by both"),
            "{err}"
        );
        let err = Config::load(Path::new("/d"), Some("addr = 5"), &no_env).unwrap_err();
        assert!(matches!(err, ConfigError::Toml(_)));
        let err = Config::load(Path::new("/d"), Some("nonsense = 1"), &no_env).unwrap_err();
        assert!(matches!(err, ConfigError::Toml(_)));
        let env = |k: &str| (k == "REELM_MAX_UPLOAD_BYTES").then(|| "lots".to_string());
        assert!(matches!(
            Config::load(Path::new("/d"), None, &env),
            Err(ConfigError::Env { .. })
        ));
    }
}
