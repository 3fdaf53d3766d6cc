//! The `reelm` command line. Thin: parses flags, loads the one configuration, and calls the
//! libraries. `anyhow` lives only here, at the binary's edge.

use anyhow::{Context, Result, bail};
use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};
use reelm_core::Config;
use reelm_platform::Platform;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "reelm",
    version,
    about = "A sovereign-by-design short-video platform engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ConfigArgs {
    /// TOML config file (see reelm.example.toml); values there override the built-in defaults.
    #[arg(long, env = "REELM_CONFIG")]
    config: Option<PathBuf>,
    /// Folder for the embedded stores, media and keys (overrides the file and REELM_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on, HOST:PORT (overrides the file and REELM_ADDR).
    #[arg(long)]
    addr: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the full three-region platform with a seeded demo community (reused on later runs).
    Demo {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Number of seeded viewers besides the creators and demo logins.
        #[arg(long, default_value_t = 320)]
        people: usize,
    },
    /// Serve the platform from a configuration, without seeding anything.
    Serve {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Run only this region's cell in this process (its own store, media and keys); the
        /// other regions' cells are separate processes reached over mutual TLS at their
        /// `cell_addr` (certificates from `reelm certs init`). Default: every region here.
        #[arg(long)]
        region: Option<String>,
    },
    /// Certificates for mutual TLS between cells running as separate processes.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Residency: prove where data lives.
    Residency {
        #[command(subcommand)]
        command: ResidencyCommand,
    },
    /// Region keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The transfer ledger: every cross-region transfer, allowed or refused, hash-chained per
    /// source region.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Operator (staff) accounts.
    Operators {
        #[command(subcommand)]
        command: OperatorsCommand,
    },
    /// Offline evaluation of the recommender against baselines on real interaction data.
    Eval(EvalArgs),
    /// Train each region's engagement ranker from that region's own events and print it
    /// (the running server retrains on its own every 10 minutes).
    Train {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Only this region.
        #[arg(long)]
        region: Option<String>,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Make the deployment's cell CA (unless it exists) and a certificate per region (unless
    /// it has one) under the data dir, for `reelm serve --region <id>`.
    Init {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Replace the regions' certificates that already exist (the CA is kept).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum ResidencyCommand {
    /// Read every region's store and the directory; print rows per data class per region and
    /// exit non-zero naming each row stored outside its owner's home region.
    Audit {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new region key current and re-wrap every person's data key of the region under
    /// it, without re-encrypting any field. Stop the server on this data dir first: a running
    /// server keeps the old key ring in memory and would not know the new key.
    Rotate {
        /// The region whose key to rotate (e.g. eu).
        #[arg(long)]
        region: String,
        #[command(flatten)]
        cfg: ConfigArgs,
        /// After every data key is re-wrapped, retire (forget) the older region keys.
        #[arg(long)]
        retire_old: bool,
    },
}

#[derive(Subcommand)]
enum OperatorsCommand {
    /// Create an operator in a region; prints the generated password and the TOTP
    /// provisioning URI (otpauth://) once. Both are required to sign in.
    Add {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// The operator's home region (jurisdiction), e.g. eu.
        #[arg(long)]
        region: String,
        /// Sign-in name (a-z, 0-9, '_' and '.').
        #[arg(long)]
        name: String,
        /// moderator, support, privacy_officer or engineer.
        #[arg(long)]
        role: String,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Stream a region's ledger and verify every hash, link and signed checkpoint (with the
    /// region's public keys only); exit non-zero naming the seq and kind of any tampering.
    Verify {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Region id, e.g. eu.
        #[arg(long)]
        region: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct EvalArgs {
    /// `movielens:DIR` (e.g. movielens:../shared/datasets/ml-100k) or `csv:FILE` with
    /// `user,item,timestamp[,weight]` rows.
    #[arg(long)]
    dataset: String,
    /// Seeds of the random 75/25 protocol.
    #[arg(long, default_value_t = 5)]
    seeds: u32,
    /// 1 = one central model; 3 = also the sovereign split (each region trains on its own
    /// people, importing only k-anonymous aggregates).
    #[arg(long, default_value_t = 1, value_parser = clap::builder::PossibleValuesParser::new(["1", "3"]).map(|s| s.parse::<u32>().unwrap_or(1)))]
    regions: u32,
    /// Only these models (MostPopular, ItemKNN, iALS, EASE, reelm).
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Minimum distinct people behind any aggregate that crosses regions.
    #[arg(long, default_value_t = 5)]
    k_anonymity: u32,
    /// Print `{"<protocol>": {"<model>": {"<metric>": value}}}` instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Load a synthetic community, then drive the HTTP API on loopback with concurrent clients
    /// and report p50/p99 latency and throughput per scenario.
    Api(BenchApiArgs),
    /// Measure freshness: from an event accepted to its effect on the next For You request,
    /// and from an append to the regional feed state (the event-log consumer) under load.
    Freshness(BenchFreshnessArgs),
}

#[derive(Args)]
struct BenchFreshnessArgs {
    /// People in the synthetic community.
    #[arg(long, default_value_t = 20_000)]
    people: usize,
    /// Follows, views and likes in the synthetic community.
    #[arg(long, default_value_t = 200_000)]
    interactions: usize,
    /// End-to-end trials ("not interested", then the next page).
    #[arg(long, default_value_t = 500)]
    trials: usize,
    /// Events per second appended to the regions' logs while measuring the consumer.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Seconds of the consumer measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Run every region's event log through this NATS server (JetStream), e.g.
    /// nats://127.0.0.1:4222.
    #[arg(long)]
    nats: Option<String>,
    /// Print results as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BenchApiArgs {
    /// People in the synthetic community.
    #[arg(long, default_value_t = 100_000)]
    people: usize,
    /// Follows, views and likes in the synthetic community.
    #[arg(long, default_value_t = 1_000_000)]
    interactions: usize,
    /// Videos per creator (one person in 20 is a creator): 10 gives 50k videos for 100k
    /// people, 200 gives 1M.
    #[arg(long, default_value_t = 10)]
    videos_per_creator: usize,
    /// Put all people in one region (us) instead of spreading them over three.
    #[arg(long)]
    one_region: bool,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Also run each read scenario open-loop at this many requests per second (latency at a
    /// fixed load, measured from the scheduled send time). 0 turns it off.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Base URL of a PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/postgres):
    /// fresh databases are created there for the directory and each region. SQLite otherwise.
    #[arg(long)]
    postgres: Option<String>,
    /// Keep the loaded data in this folder (created if missing) instead of a temporary folder
    /// removed at the end, e.g. to run `reelm residency audit --data-dir DIR` on it (SQLite).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Only these scenarios (following-feed, for-you-feed, profile-read, like, view, follow,
    /// sign-up; a prefix is enough).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Print results as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the merged configuration (defaults < file < environment < flags).
    Show {
        #[command(flatten)]
        cfg: ConfigArgs,
    },
}

fn load_config(args: &ConfigArgs, default_data_dir: &str) -> Result<Config> {
    let text = match &args.config {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?,
        ),
        None => None,
    };
    let mut config = Config::load(&PathBuf::from(default_data_dir), text.as_deref(), &|k| {
        std::env::var(k).ok()
    })?;
    if let Some(addr) = &args.addr {
        config.addr = addr.clone();
    }
    if let Some(dir) = &args.data_dir {
        // The data dir is a layer like any other: re-resolve the defaults under it.
        let again = Config::load(dir, text.as_deref(), &|k| {
            if k == "REELM_DATA_DIR" {
                None
            } else {
                std::env::var(k).ok()
            }
        })?;
        config = Config {
            addr: config.addr,
            ..again
        };
    }
    Ok(config)
}

async fn open(config: Config) -> Result<Arc<Platform>> {
    let platform = Platform::open(config)
        .await
        .context("cannot open the platform's stores")?;
    Ok(Arc::new(platform))
}

async fn serve(platform: Arc<Platform>) -> Result<()> {
    let addr = platform.config.addr.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let regions: Vec<String> = platform
        .cells()
        .iter()
        .map(|c| c.id().to_string())
        .collect();
    println!(
        "reelm is serving region(s) {} at http://{local}/",
        regions.join(", ")
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // The cell endpoint (mutual TLS), when the other regions run in other processes.
    let cell_endpoint = match &platform.tls {
        Some(tls) => {
            let region = platform.local_region();
            let cell_addr = platform
                .config
                .region(&region)
                .map(|r| r.cell_addr.clone())
                .unwrap_or_default();
            let cell_listener = tokio::net::TcpListener::bind(&cell_addr)
                .await
                .with_context(|| format!("cannot listen on {cell_addr} (cell_addr of {region})"))?;
            println!("cell {region} accepts other cells at https://{cell_addr}/ (mutual TLS)");
            let mut stopped = stopped.clone();
            Some(tokio::spawn(reelm_server::api::cells::serve(
                cell_listener,
                platform.clone(),
                tls.server.clone(),
                async move {
                    let _ = stopped.changed().await;
                },
            )))
        }
        None => None,
    };
    let shutdown = async move {
        let _ = tokio::signal::ctrl_c().await;
        println!("shutting down");
        let _ = stop.send(true);
    };
    reelm_server::run(listener, platform.clone(), shutdown).await?;
    if let Some(endpoint) = cell_endpoint {
        let _ = endpoint.await;
    }
    platform.close().await;
    Ok(())
}

/// Prints a failure as one readable line (with its causes) and exits non-zero, without the
/// backtrace `anyhow` would print when `RUST_BACKTRACE` is set.
fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the line already holds
/// (many library errors repeat their source in their own message).
fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REELM_LOG")
                .unwrap_or_else(|_| "warn,sqlx=error,reelm=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { cfg, people } => {
            let config = load_config(&cfg, "reelm-data")?;
            println!("data dir: {}", config.data_dir.display());
            let platform = open(config).await?;
            let started = std::time::Instant::now();
            let summary =
                reelm_demo::seed::seed_demo(&platform, people, &mut |m| eprintln!("seeding: {m}"))
                    .await?;
            if summary.reused {
                println!("reusing the demo data already in the data dir");
            } else {
                println!(
                    "seeded {} people, {} videos, {} follows, {} views, {} likes, {} comments in {:.1}s",
                    summary.people,
                    summary.videos,
                    summary.follows,
                    summary.views,
                    summary.likes,
                    summary.comments,
                    started.elapsed().as_secs_f64()
                );
            }
            for r in &platform.config.regions {
                println!(
                    "  region {:<3} {:<24} store {}",
                    r.id, r.data_center, r.store_url
                );
            }
            let logins: Vec<&str> = reelm_demo::seed::DEMO_LOGINS
                .iter()
                .map(|(h, _)| *h)
                .collect();
            println!(
                "log in as {} with password {:?}",
                logins.join(", "),
                reelm_demo::seed::DEMO_PASSWORD
            );
            serve(platform).await
        }
        Command::Serve { cfg, region: None } => {
            serve(open(load_config(&cfg, "reelm-data")?).await?).await
        }
        Command::Serve {
            cfg,
            region: Some(region),
        } => {
            let config = load_config(&cfg, "reelm-data")?;
            let region = reelm_core::RegionId::new(&region)
                .map_err(|e| anyhow::anyhow!("--region {region:?}: {e}"))?;
            let platform = Platform::open_region(config, &region)
                .await
                .with_context(|| format!("cannot open region {region}'s cell"))?;
            serve(Arc::new(platform)).await
        }
        Command::Certs {
            command: CertsCommand::Init { cfg, force },
        } => {
            let config = load_config(&cfg, "reelm-data")?;
            let regions: Vec<_> = config.regions.iter().map(|r| r.id.clone()).collect();
            let made = reelm_platform::tls::init(&config.data_dir, &regions, force)?;
            for m in &made {
                let what = if m.created { "created" } else { "kept   " };
                println!("{what} {}", m.path.display());
            }
            println!(
                "keep {} offline once every region has its certificate: it can issue new ones",
                config.data_dir.join("certs").join("ca-key.pem").display()
            );
            Ok(())
        }
        Command::Residency {
            command: ResidencyCommand::Audit { cfg, json },
        } => {
            let platform = open(load_config(&cfg, "reelm-data")?).await?;
            let report = reelm_audit::run(&platform).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
            if !report.passed() {
                bail!(
                    "residency audit failed with {} violation(s)",
                    report.violation_count()
                );
            }
            Ok(())
        }
        Command::Ledger {
            command: LedgerCommand::Verify { cfg, region, json },
        } => {
            let platform = open(load_config(&cfg, "reelm-data")?).await?;
            let report = reelm_audit::verify_region(&platform, &region).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "region {}: {} entries verified ({} refused transfers), last seq {}",
                    report.region, report.entries, report.refused, report.last_seq
                );
                match report.last_checkpoint_seq {
                    Some(seq) => println!(
                        "last signed checkpoint at seq {seq} ({} checkpoints); unanchored tail {} entries",
                        report.checkpoints, report.unanchored_tail
                    ),
                    None => println!(
                        "no signed checkpoint yet; unanchored tail {} entries",
                        report.unanchored_tail
                    ),
                }
                println!(
                    "{:.0} entries/s ({:.3}s)",
                    report.entries_per_sec, report.seconds
                );
            }
            Ok(())
        }
        Command::Operators {
            command:
                OperatorsCommand::Add {
                    cfg,
                    region,
                    name,
                    role,
                },
        } => {
            let platform = open(load_config(&cfg, "reelm-data")?).await?;
            let op = reelm_operators::add_operator(&platform, &region, &name, &role).await?;
            platform.close().await;
            println!(
                "operator {} ({}, home region {}) created",
                op.name, op.role, op.region
            );
            println!("password (shown once): {}", op.password.expose());
            println!(
                "TOTP provisioning URI (shown once): {}",
                op.provisioning_uri.expose()
            );
            Ok(())
        }
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    region,
                    cfg,
                    retire_old,
                },
        } => keys_rotate(&region, &cfg, retire_old).await,
        Command::Bench {
            command: BenchCommand::Api(args),
        } => bench_api(args).await,
        Command::Bench {
            command: BenchCommand::Freshness(args),
        } => bench_freshness(args).await,
        Command::Eval(args) => eval(args),
        Command::Train { cfg, region } => train(load_config(&cfg, "reelm-data")?, region).await,
        Command::Config {
            command: ConfigCommand::Show { cfg },
        } => {
            print!("{}", load_config(&cfg, "reelm-data")?.to_toml());
            Ok(())
        }
    }
}

async fn keys_rotate(region: &str, cfg: &ConfigArgs, retire_old: bool) -> Result<()> {
    let config = load_config(cfg, "reelm-data")?;
    let known: Vec<String> = config.regions.iter().map(|r| r.id.to_string()).collect();
    let id = reelm_core::RegionId::new(region)
        .ok()
        .filter(|id| config.regions.iter().any(|r| &r.id == id))
        .with_context(|| {
            format!(
                "unknown region {region:?}; this configuration has: {}",
                known.join(", ")
            )
        })?;
    let key_file = reelm_platform::Cell::keys_dir(&config.data_dir, &id).join("region-kms.json");
    if !key_file.exists() {
        bail!(
            "region {id} has no key file at {} (has the platform run with this data dir?)",
            key_file.display()
        );
    }
    let report =
        reelm_accounts::keys::rotate_region_key(&config, &id, retire_old, &mut |done, total| {
            eprintln!("re-wrapped {done}/{total} data keys")
        })
        .await?;
    println!(
        "region {}: new region key {} (was {}); re-wrapped {} of {} data keys",
        report.region, report.new_key_id, report.previous_key_id, report.rewrapped, report.total
    );
    if report.retired.is_empty() {
        println!("older region keys are kept for unwrapping; --retire-old forgets them");
    } else {
        println!("retired: {}", report.retired.join(", "));
    }
    Ok(())
}

async fn bench_api(args: BenchApiArgs) -> Result<()> {
    let BenchApiArgs {
        people,
        interactions,
        videos_per_creator,
        one_region,
        clients,
        seconds,
        rate,
        postgres,
        data_dir,
        only,
        json,
    } = args;
    use reelm_demo::bench::{self, DatasetSpec, Scenario};
    let scenarios: Vec<Scenario> = if only.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        only.iter()
            .map(|name| {
                Scenario::ALL
                    .into_iter()
                    .find(|s| s.name().starts_with(name.as_str()))
                    .with_context(|| format!("unknown scenario {name:?}"))
            })
            .collect::<Result<_>>()?
    };
    let keep = data_dir.is_some();
    let dir = data_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("reelm-bench-{}", std::process::id()))
    });
    let mut config = Config::load(&dir, None, &|_| None)?;
    config.addr = "127.0.0.1:0".into();
    let store = match &postgres {
        Some(base) => {
            config.directory_url = reelm_store_fresh(base, "reelm_bench_dir").await?;
            for r in &mut config.regions {
                r.store_url = reelm_store_fresh(base, &format!("reelm_bench_{}", r.id)).await?;
            }
            "PostgreSQL"
        }
        None => "SQLite",
    };
    eprintln!("store: {store}; data dir {}", dir.display());
    let platform = open(config).await?;
    let t = std::time::Instant::now();
    let spec = DatasetSpec {
        people,
        interactions,
        videos_per_creator,
        one_region,
        ..Default::default()
    };
    let data = bench::load(&platform, &spec, &mut |m| eprintln!("loading {m}")).await?;
    eprintln!("loaded in {:.1}s", t.elapsed().as_secs_f64());
    // Train the rankers before measuring, so no scenario runs beside the training.
    let t = std::time::Instant::now();
    reelm_recommend::ranker::train_all(&platform).await?;
    eprintln!(
        "trained the regions' rankers in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let sessions = Arc::new(bench::sessions(&platform, &data, 2000).await?);
    let data = Arc::new(data);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(reelm_server::run(listener, platform.clone(), async move {
        let _ = stop_rx.await;
    }));
    let mut results = Vec::new();
    for s in scenarios {
        let duration = std::time::Duration::from_secs(seconds);
        eprintln!("running {} for {seconds}s with {clients} clients", s.name());
        results.push(
            bench::run_scenario(
                &base,
                s,
                clients,
                None,
                duration,
                data.clone(),
                sessions.clone(),
            )
            .await,
        );
        if rate > 0.0 && s.is_read() {
            eprintln!("running {} at {rate} requests/s", s.name());
            results.push(
                bench::run_scenario(
                    &base,
                    s,
                    clients,
                    Some(rate),
                    duration,
                    data.clone(),
                    sessions.clone(),
                )
                .await,
            );
        }
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    platform.close().await;
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!(
            "reelm bench api: {store}, {people} people, {} videos, {interactions} interactions, {clients} clients, {seconds}s per scenario; peak resident memory {}",
            data.videos.len(),
            peak_rss()
        );
        print!("{}", bench::render(&results));
    }
    Ok(())
}

async fn bench_freshness(args: BenchFreshnessArgs) -> Result<()> {
    use reelm_demo::bench::{self, DatasetSpec};
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        bail!("--rate must be a positive number of events per second");
    }
    if args.trials == 0 {
        bail!("--trials must be at least 1");
    }
    let dir = std::env::temp_dir().join(format!("reelm-freshness-{}", std::process::id()));
    let mut config = Config::load(&dir, None, &|_| None)?;
    config.addr = "127.0.0.1:0".into();
    if let Some(url) = &args.nats {
        // A namespace of its own, so repeated runs never share a stream.
        config.nats_namespace = format!("bench-{}", std::process::id());
        for r in &mut config.regions {
            r.nats_url = Some(url.clone());
        }
    }
    config.validate()?;
    eprintln!("data dir {}", dir.display());
    let platform = open(config).await?;
    let spec = DatasetSpec {
        people: args.people,
        interactions: args.interactions,
        ..Default::default()
    };
    let data = bench::load(&platform, &spec, &mut |m| eprintln!("loading {m}")).await?;
    reelm_recommend::ranker::train_all(&platform).await?;
    let sessions = bench::sessions(&platform, &data, 500).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(reelm_server::run(listener, platform.clone(), async move {
        let _ = stop_rx.await;
    }));
    eprintln!(
        "measuring: {} trials, then {} events/s for {}s",
        args.trials, args.rate, args.seconds
    );
    let report = reelm_demo::freshness::run(
        platform.clone(),
        &base,
        &data,
        &sessions,
        args.trials,
        args.rate,
        std::time::Duration::from_secs(args.seconds),
    )
    .await;
    let _ = stop_tx.send(());
    let _ = server.await;
    for cell in platform.cells() {
        cell.events.stop();
        if let Err(e) = cell.events.delete_nats_stream().await {
            eprintln!("warning: {e}");
        }
    }
    platform.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "reelm bench freshness: SQLite, {} people, {} videos, {} interactions",
            args.people,
            data.videos.len(),
            args.interactions
        );
        print!("{}", reelm_demo::freshness::render(&report));
    }
    Ok(())
}

async fn reelm_store_fresh(base: &str, prefix: &str) -> Result<String> {
    Ok(reelm_store::testing::fresh_postgres_database(base, prefix).await?)
}

fn eval(args: EvalArgs) -> Result<()> {
    use reelm_feed::eval::{EvalOptions, Progress, run};
    let opts = EvalOptions {
        dataset: args.dataset,
        seeds: args.seeds,
        regions: args.regions,
        models: (!args.models.is_empty()).then_some(args.models),
        k_anonymity: args.k_anonymity,
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:40} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = run(&opts, &mut |p| match p {
        Progress::Stage { name, total } => {
            bar.set_message(name);
            bar.set_length(total);
            bar.set_position(0);
        }
        Progress::Advance(n) => bar.inc(n),
        Progress::Done => bar.finish_and_clear(),
    })?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.render_table());
    }
    Ok(())
}

async fn train(config: Config, region: Option<String>) -> Result<()> {
    if let Some(r) = &region
        && !config.regions.iter().any(|c| c.id.as_str() == r)
    {
        let known: Vec<&str> = config.regions.iter().map(|c| c.id.as_str()).collect();
        bail!("unknown region {r:?}; the regions are {}", known.join(", "));
    }
    let platform = open(config).await?;
    for cell in platform.cells() {
        if region.as_deref().is_some_and(|r| r != cell.id().as_str()) {
            continue;
        }
        let started = std::time::Instant::now();
        match reelm_recommend::ranker::train(&platform, cell).await? {
            None => println!(
                "region {}: fewer than {} view events; the feed keeps its hand-set weights",
                cell.id(),
                reelm_recommend::ranker::MIN_EXAMPLES
            ),
            Some(r) => {
                let m = &r.model;
                let auc =
                    |a: Option<f64>| a.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into());
                println!(
                    "region {}: model {} from {} view events in {:.1}s; held-out last 20% ({} events): completion AUC {}, like AUC {}",
                    cell.id(),
                    m.version,
                    m.trained_on,
                    started.elapsed().as_secs_f64(),
                    m.held_out,
                    auc(m.completion_auc),
                    auc(m.like_auc)
                );
                println!("  {:<22}{:>12}{:>12}", "feature", "completion", "like");
                for (k, name) in reelm_feed::engagement::FEATURES.iter().enumerate() {
                    println!(
                        "  {:<22}{:>12.3}{:>12.3}",
                        name, m.completion.weights[k], m.like.weights[k]
                    );
                }
            }
        }
    }
    platform.close().await;
    Ok(())
}

/// Peak resident memory of this process (Linux `VmHWM`), for the bench report.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}
