//! Offline evaluation: the two protocols of issue 5 part 8, the baselines and reelm in one
//! harness, and the sovereign 3-region split.
//!
//! Protocols (labels as printed):
//! - `random_75_25`: all ratings as implicit positives; per user, a seeded random 75/25 split
//!   (`round(0.75·n)` events to training); every item the user has not seen in training is
//!   ranked; NDCG@10, Precision@10, Recall@10, MAP@10 (`map_at_k`) and MAP (`map`) as defined in
//!   [`crate::metrics`]; mean and sample standard deviation over `seeds` seeds (0, 1, …).
//! - `temporal_leave_last_out`: per user the last event by (timestamp, item id) is the test
//!   item; full ranking over unseen items; HR@10 and NDCG@10. The split is deterministic, so it
//!   runs once (seed 0).
//!
//! Hyper-parameters: for each protocol, each model's grid is searched once on a validation
//! split carved out of the *training* part of seed 0 (protocol a: a further per-user random
//! 80/20 split of the training rows; protocol b: leave-last-out of the training rows), picking
//! the best validation NDCG@10. The chosen configuration is then refitted on the full training
//! part of every seed. The test split is never used for a choice. reelm's search is staged
//! (ridge × blend weight with refits, then K and the profile without), see `tune_reelm`.
//!
//! Sovereign split (`regions: 3`): every user belongs to one region (see
//! [`crate::data::movielens_region`] and [`crate::data::hash_region`]). Each region tunes and
//! fits its models on its own users' training rows only, plus the other regions' published
//! [`ItemAggregates`] (item and item-pair distinct-user counts, each published count ≥
//! `k_anonymity`, and, when reelm runs, the federated factor statistics of
//! [`crate::split::attach_factor_imports`], per item from ≥ `k_anonymity` users); it then
//! ranks for its own users. When a region tunes, the factor protocol is re-run with that
//! region taking part with its validation rows held out, so no validation row shapes its
//! imports. Metrics are averaged over all users of all regions, so they compare directly with
//! the central run on the same split.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::data::{DataError, Interactions, load};
use crate::metrics;
use crate::models::{
    ALL_NEIGHBOURS, DenseWeights, Ease, FactorParams, Ials, IalsParams, ItemKnn, MAX_DENSE_ITEMS,
    ModelError, MostPopular, Profile, Recommender, Reelm, ReelmParams, federated_imports,
};
use crate::split::{
    ItemAggregates, TestSet, attach_factor_imports, leave_last_out, random_split, sovereign_shares,
};

/// Options of `reelm eval`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// `movielens:DIR` or `csv:FILE`.
    pub dataset: String,
    /// Seeds of the random 75/25 protocol (default 5).
    pub seeds: u32,
    /// 1 (central only) or 3 (central and the sovereign 3-region split).
    pub regions: u32,
    /// Models to run (default all): `MostPopular`, `ItemKNN`, `iALS`, `EASE`, `reelm`
    /// (case-insensitive).
    pub models: Option<Vec<String>>,
    /// Minimum distinct users behind any aggregate count that crosses regions (default 5).
    pub k_anonymity: u32,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            dataset: String::new(),
            seeds: 5,
            regions: 1,
            models: None,
            k_anonymity: 5,
        }
    }
}

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A new stage begins with `total` steps.
    Stage { name: String, total: u64 },
    /// `n` more steps of the current stage are done.
    Advance(u64),
    /// The run is finished.
    Done,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("unknown model {0:?}: expected one of MostPopular, ItemKNN, iALS, EASE, reelm")]
    UnknownModel(String),
    #[error("invalid option: {0}")]
    BadOption(String),
}

/// The protocol labels.
pub const RANDOM: &str = "random_75_25";
pub const TEMPORAL: &str = "temporal_leave_last_out";
const SOVEREIGN_SUFFIX: &str = "/regions_3";

const MODEL_NAMES: [&str; 5] = ["MostPopular", "ItemKNN", "iALS", "EASE", "reelm"];
/// Ablation row of the sovereign split: reelm with nothing imported from other regions.
pub const REELM_NO_IMPORT: &str = "reelm_no_import";

/// Mean (and, over several seeds, sample standard deviation) of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricValue {
    pub mean: f64,
    pub std: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelResult {
    pub model: String,
    /// The configuration chosen on validation (per region in a sovereign run).
    pub config: String,
    pub metrics: Vec<(String, MetricValue)>,
    /// Mean wall-clock seconds to fit (all regions together in a sovereign run).
    pub fit_seconds: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolResult {
    pub protocol: String,
    pub seeds: u32,
    pub models: Vec<ModelResult>,
    pub seconds: f64,
}

/// Everything `reelm eval` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    pub dataset: String,
    pub n_users: usize,
    pub n_items: usize,
    pub n_interactions: usize,
    pub seeds: u32,
    pub regions: u32,
    pub k_anonymity: u32,
    /// Users per region (sovereign runs only).
    pub region_users: Vec<usize>,
    pub protocols: Vec<ProtocolResult>,
    /// (protocol, model, sovereign NDCG@10 / central NDCG@10).
    pub sovereign_ratio: Vec<(String, String, f64)>,
    pub total_seconds: f64,
}

impl EvalReport {
    pub fn protocol(&self, name: &str) -> Option<&ProtocolResult> {
        self.protocols.iter().find(|p| p.protocol == name)
    }

    /// Mean of `metric` for `model` under `protocol`.
    pub fn value(&self, protocol: &str, model: &str, metric: &str) -> Option<f64> {
        self.protocol(protocol)?
            .models
            .iter()
            .find(|m| m.model == model)?
            .metrics
            .iter()
            .find(|(n, _)| n == metric)
            .map(|(_, v)| v.mean)
    }

    /// `{"<protocol>": {"<model>": {"<metric>": value, "<metric>_std": std, "fit_seconds": s}}}`,
    /// plus `"sovereign_vs_central": {"<model>": {"<protocol>/ndcg@10_ratio": r}}` for a
    /// sovereign run.
    pub fn to_json(&self) -> Value {
        let mut root = Map::new();
        for p in &self.protocols {
            let mut pm = Map::new();
            for m in &p.models {
                let mut mm = Map::new();
                for (name, v) in &m.metrics {
                    mm.insert(name.clone(), json!(v.mean));
                    if let Some(s) = v.std {
                        mm.insert(format!("{name}_std"), json!(s));
                    }
                }
                mm.insert("fit_seconds".into(), json!(m.fit_seconds));
                pm.insert(m.model.clone(), Value::Object(mm));
            }
            root.insert(p.protocol.clone(), Value::Object(pm));
        }
        if !self.sovereign_ratio.is_empty() {
            let mut sm = Map::new();
            for (proto, model, r) in &self.sovereign_ratio {
                let entry = sm
                    .entry(model.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(o) = entry {
                    o.insert(format!("{proto}/ndcg@10_ratio"), json!(r));
                }
            }
            root.insert("sovereign_vs_central".into(), Value::Object(sm));
        }
        Value::Object(root)
    }

    /// Human-readable tables, one per protocol, each labelled, with dataset and seeds named.
    pub fn render_table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "dataset: {} ({} users, {} items, {} interactions)",
            self.dataset, self.n_users, self.n_items, self.n_interactions
        );
        for p in &self.protocols {
            let _ = writeln!(s);
            let seeds = if p.seeds > 1 {
                format!("mean ± std over {} seeds", p.seeds)
            } else {
                "single deterministic split".to_string()
            };
            let _ = writeln!(s, "protocol {} — {}, {:.1} s", p.protocol, seeds, p.seconds);
            if p.protocol.ends_with(SOVEREIGN_SUFFIX) {
                let _ = writeln!(
                    s,
                    "  3 regions (users per region {:?}); imports: aggregates (item/pair counts; for reelm also federated factor sums), each from ≥ {} distinct users",
                    self.region_users, self.k_anonymity
                );
            }
            let names: Vec<&str> = p
                .models
                .first()
                .map(|m| m.metrics.iter().map(|(n, _)| n.as_str()).collect())
                .unwrap_or_default();
            let _ = write!(s, "  {:<16}", "model");
            for n in &names {
                let _ = write!(s, " {:>17}", n);
            }
            let _ = writeln!(s, " {:>8}  config", "fit s");
            for m in &p.models {
                let _ = write!(s, "  {:<16}", m.model);
                for (_, v) in &m.metrics {
                    let cell = match v.std {
                        Some(sd) => format!("{:.4} ± {:.4}", v.mean, sd),
                        None => format!("{:.4}", v.mean),
                    };
                    let _ = write!(s, " {:>17}", cell);
                }
                let _ = writeln!(s, " {:>8.2}  {}", m.fit_seconds, m.config);
            }
        }
        if !self.sovereign_ratio.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(s, "sovereign (3 regions) / central, NDCG@10:");
            for (proto, model, r) in &self.sovereign_ratio {
                let _ = writeln!(s, "  {:<26} {:<16} {:.4}", proto, model, r);
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "total {:.1} s", self.total_seconds);
        s
    }
}

/// Per-user metric sums over the users that have test items.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSums {
    pub names: Vec<&'static str>,
    pub sums: Vec<f64>,
    pub users: usize,
}

impl MetricSums {
    fn add(&mut self, other: &MetricSums) {
        if self.names.is_empty() {
            self.names = other.names.clone();
            self.sums = vec![0.0; other.sums.len()];
        }
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            *a += b;
        }
        self.users += other.users;
    }

    /// Mean over users of a metric (0 if absent).
    pub fn mean(&self, name: &str) -> f64 {
        match self.names.iter().position(|n| *n == name) {
            Some(i) if self.users > 0 => self.sums[i] / self.users as f64,
            _ => 0.0,
        }
    }
}

const ALL_METRICS: [&str; 6] = [
    "ndcg@10",
    "precision@10",
    "recall@10",
    "map@10",
    "map",
    "hr@10",
];

/// Ranks, for every user with test items (and, if given, `only(u)`), all items not in the
/// user's training row, and sums the metrics at 10.
pub fn evaluate_users(
    model: &dyn Recommender,
    train: &Interactions,
    test: &TestSet,
    k: usize,
    only: &dyn Fn(usize) -> bool,
) -> Result<MetricSums, ModelError> {
    let mut out = MetricSums {
        names: ALL_METRICS.to_vec(),
        sums: vec![0.0; ALL_METRICS.len()],
        users: 0,
    };
    let mut scores = vec![0.0f32; train.n_items];
    for (u, rel) in test.iter().enumerate() {
        if rel.is_empty() || !only(u) {
            continue;
        }
        model.score_user(u, &mut scores)?;
        for e in &train.rows[u] {
            scores[e.item as usize] = f32::NEG_INFINITY;
        }
        let ranked = metrics::top_k(&scores, k);
        let vals = [
            metrics::ndcg_at_k(&ranked, rel, k),
            metrics::precision_at_k(&ranked, rel, k),
            metrics::recall_at_k(&ranked, rel, k),
            metrics::map_at_k(&ranked, rel, k),
            metrics::map_full(&ranked, rel, k),
            metrics::hit_rate_at_k(&ranked, rel, k),
        ];
        for (s, v) in out.sums.iter_mut().zip(vals) {
            *s += v;
        }
        out.users += 1;
    }
    Ok(out)
}

/// [`evaluate_users`] over all users.
pub fn evaluate_model(
    model: &dyn Recommender,
    train: &Interactions,
    test: &TestSet,
    k: usize,
) -> Result<MetricSums, ModelError> {
    evaluate_users(model, train, test, k, &|_| true)
}

/// A model configuration the harness can build, tune and name.
#[derive(Debug, Clone, PartialEq)]
enum Spec {
    Pop,
    Knn(usize),
    Ials(IalsParams),
    Ease(f64),
    Reelm(ReelmParams, Profile),
}

impl Spec {
    fn build(&self, seed: u64) -> Box<dyn Recommender> {
        match self {
            Spec::Pop => Box::new(MostPopular::new()),
            Spec::Knn(k) => Box::new(ItemKnn::new(*k)),
            Spec::Ials(p) => Box::new(Ials::new(IalsParams { seed, ..*p })),
            Spec::Ease(l) => Box::new(Ease::new(*l)),
            Spec::Reelm(p, q) => Box::new(Reelm::new(*p, *q)),
        }
    }

    fn grid(model: &str) -> Vec<Spec> {
        match model {
            "MostPopular" => vec![Spec::Pop],
            "ItemKNN" => ItemKnn::grid()
                .into_iter()
                .map(|m| Spec::Knn(m.k))
                .collect(),
            "iALS" => Ials::grid()
                .into_iter()
                .map(|m| Spec::Ials(m.params))
                .collect(),
            "EASE" => Ease::grid()
                .into_iter()
                .map(|m| Spec::Ease(m.lambda))
                .collect(),
            _ => Reelm::weight_grid()
                .into_iter()
                .map(|p| Spec::Reelm(p, Profile::default()))
                .collect(),
        }
    }
}

fn canonical_models(opts: &EvalOptions) -> Result<Vec<&'static str>, EvalError> {
    match &opts.models {
        None => Ok(MODEL_NAMES.to_vec()),
        Some(list) => {
            let mut out = Vec::new();
            for m in list {
                let found = MODEL_NAMES
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(m.trim()))
                    .ok_or_else(|| EvalError::UnknownModel(m.clone()))?;
                if !out.contains(found) {
                    out.push(*found);
                }
            }
            if out.is_empty() {
                return Err(EvalError::BadOption("empty model list".into()));
            }
            Ok(out)
        }
    }
}

/// The validation split carved from a training set, per protocol.
fn carve_validation(protocol: &str, train: &Interactions) -> (Interactions, TestSet) {
    if protocol == RANDOM {
        random_split(train, 0.8, 0x005e_ed0f_7a11)
    } else {
        leave_last_out(train)
    }
}

/// Threads for independent jobs (grid points, model fits). Every job is single-threaded and
/// seeded and results are kept in job order, so a run's numbers do not depend on this.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// `jobs.map(f)` on [`workers`] threads, in order; one `Advance(1)` per finished job.
fn par_map<T: Sync, R: Send>(
    jobs: &[T],
    f: &(dyn Fn(&T) -> R + Sync),
    progress: &mut dyn FnMut(Progress),
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    let mut out: Vec<Option<R>> = (0..jobs.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers().min(jobs.len()) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    if tx.send((i, f(job))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            out[i] = Some(r);
            progress(Progress::Advance(1));
        }
    });
    out.into_iter().flatten().collect()
}

/// Progress steps [`tune`] reports for `model`.
fn tune_steps(model: &str) -> usize {
    let grid = Spec::grid(model).len();
    if model == "reelm" { grid + 2 } else { grid }
}

/// Picks the best configuration of `model` by validation NDCG@10: fits on `inner` (own rows of
/// a region plus its imports, or the central training set minus validation) and scores the
/// `users` of `val`.
fn tune(
    model: &str,
    inner: &Interactions,
    val: &TestSet,
    imported: Option<&ItemAggregates>,
    users: &(dyn Fn(usize) -> bool + Sync),
    progress: &mut dyn FnMut(Progress),
) -> Result<Spec, EvalError> {
    if model == "reelm" {
        return tune_reelm(inner, val, imported, users, progress);
    }
    let grid = Spec::grid(model);
    let scores = par_map(
        &grid,
        &|spec: &Spec| -> Result<f64, ModelError> {
            let mut m = spec.build(0);
            m.fit_with(inner, imported)?;
            Ok(evaluate_users(m.as_ref(), inner, val, 10, users)?.mean("ndcg@10"))
        },
        progress,
    );
    let mut best: Option<(f64, &Spec)> = None;
    for (spec, score) in grid.iter().zip(scores) {
        let score = score?;
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, spec));
        }
    }
    best.map(|(_, s)| s.clone())
        .ok_or_else(|| EvalError::BadOption(format!("empty grid for {model}")))
}

/// reelm's staged search (later stages need no refit): the item factors are fitted once; for
/// every ridge (λ, ρ) of [`Reelm::weight_grid`] the unpruned weights are fitted and every blend
/// weight of [`Reelm::factor_weight_grid`] is scored; then K ([`Reelm::neighbour_grid`], ties
/// to the smaller K) and finally the profile ([`Reelm::profile_grid`]).
fn tune_reelm(
    inner: &Interactions,
    val: &TestSet,
    imported: Option<&ItemAggregates>,
    users: &(dyn Fn(usize) -> bool + Sync),
    progress: &mut dyn FnMut(Progress),
) -> Result<Spec, EvalError> {
    let all = if inner.n_items <= MAX_DENSE_ITEMS {
        ALL_NEIGHBOURS
    } else {
        ReelmParams::default().neighbours
    };
    let mut m = Reelm::new(
        ReelmParams {
            neighbours: all,
            factor_weight: 1.0,
            ..ReelmParams::default()
        },
        Profile::default(),
    );
    m.fit_factors(inner, imported);
    m.set_history(inner);
    progress(Progress::Advance(1));
    let score = |m: &Reelm| -> Result<f64, ModelError> {
        Ok(evaluate_users(m, inner, val, 10, users)?.mean("ndcg@10"))
    };
    // Each ridge is one job; the best unpruned weights are kept (ties: the earlier grid point)
    // so that K and the profile can be tried without a refit.
    let best: Mutex<Option<(f64, usize, ReelmParams, DenseWeights)>> = Mutex::new(None);
    let grid: Vec<(usize, ReelmParams)> = Reelm::weight_grid().into_iter().enumerate().collect();
    let done = par_map(
        &grid,
        &|&(gi, p): &(usize, ReelmParams)| -> Result<(), ModelError> {
            let w = Reelm::dense_weights(inner, imported, p.lambda, p.rho)?;
            let mut mm = m.clone();
            mm.params = ReelmParams {
                neighbours: all,
                ..p
            };
            mm.set_weights(&w);
            let mut found: Option<(f64, ReelmParams)> = None;
            for fw in Reelm::factor_weight_grid() {
                mm.params.factor_weight = fw;
                let s = score(&mm)?;
                if found.as_ref().is_none_or(|(b, _)| s > *b) {
                    found = Some((s, mm.params));
                }
            }
            if let Some((s, params)) = found {
                let mut b = best.lock().unwrap_or_else(|e| e.into_inner());
                if b.as_ref()
                    .is_none_or(|(bs, bi, _, _)| s > *bs || (s == *bs && gi < *bi))
                {
                    *b = Some((s, gi, params, w));
                }
            }
            Ok(())
        },
        progress,
    );
    for d in done {
        d?;
    }
    let best = best.into_inner().unwrap_or_else(|e| e.into_inner());
    let Some((_, _, mut params, w)) = best else {
        return Err(EvalError::BadOption("empty grid for reelm".into()));
    };
    let mut best_k: Option<(f64, usize)> = None;
    for k in Reelm::neighbour_grid() {
        if k == ALL_NEIGHBOURS && all != ALL_NEIGHBOURS {
            continue;
        }
        m.params = ReelmParams {
            neighbours: k,
            ..params
        };
        m.set_weights(&w);
        let s = score(&m)?;
        if best_k.is_none_or(|(b, _)| s > b) {
            best_k = Some((s, k));
        }
    }
    params.neighbours = best_k.map_or(params.neighbours, |(_, k)| k);
    m.params = params;
    m.set_weights(&w);
    let mut best_p = (f64::NEG_INFINITY, Profile::default());
    for prof in Reelm::profile_grid() {
        m.profile = prof;
        let s = score(&m)?;
        if s > best_p.0 {
            best_p = (s, prof);
        }
    }
    progress(Progress::Advance(1));
    Ok(Spec::Reelm(params, best_p.1))
}

fn protocol_metrics(protocol: &str) -> &'static [&'static str] {
    if protocol == RANDOM {
        &["ndcg@10", "precision@10", "recall@10", "map@10", "map"]
    } else {
        &["hr@10", "ndcg@10"]
    }
}

fn summarize(
    protocol: &str,
    model: &str,
    config: String,
    runs: &[MetricSums],
    fit_seconds: f64,
) -> ModelResult {
    let metrics = protocol_metrics(protocol)
        .iter()
        .map(|name| {
            let vals: Vec<f64> = runs.iter().map(|r| r.mean(name)).collect();
            let n = vals.len() as f64;
            let mean = vals.iter().sum::<f64>() / n;
            let std = (vals.len() > 1)
                .then(|| (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
            (name.to_string(), MetricValue { mean, std })
        })
        .collect();
    ModelResult {
        model: model.to_string(),
        config,
        metrics,
        fit_seconds: fit_seconds / runs.len().max(1) as f64,
    }
}

fn split_for(protocol: &str, data: &Interactions, seed: u64) -> (Interactions, TestSet) {
    if protocol == RANDOM {
        random_split(data, 0.75, seed)
    } else {
        leave_last_out(data)
    }
}

fn run_central(
    protocol: &str,
    data: &Interactions,
    models: &[&'static str],
    seeds: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<ProtocolResult, EvalError> {
    let start = Instant::now();
    let (train0, _) = split_for(protocol, data, 0);
    let (inner, val) = carve_validation(protocol, &train0);
    let mut specs = Vec::new();
    let total: usize = models.iter().map(|m| tune_steps(m)).sum();
    progress(Progress::Stage {
        name: format!("{protocol}: tuning on validation"),
        total: total as u64,
    });
    for m in models {
        specs.push(tune(m, &inner, &val, None, &|_| true, progress)?);
    }
    let mut runs: Vec<Vec<MetricSums>> = vec![Vec::new(); models.len()];
    let mut fit_s = vec![0.0; models.len()];
    for seed in 0..seeds {
        progress(Progress::Stage {
            name: format!("{protocol}: seed {}/{}", seed + 1, seeds),
            total: models.len() as u64,
        });
        let (train, test) = split_for(protocol, data, u64::from(seed));
        let results = par_map(
            &specs,
            &|spec: &Spec| -> Result<(MetricSums, f64), ModelError> {
                let mut m = spec.build(u64::from(seed));
                let t = Instant::now();
                m.fit(&train)?;
                let secs = t.elapsed().as_secs_f64();
                Ok((evaluate_model(m.as_ref(), &train, &test, 10)?, secs))
            },
            progress,
        );
        for (mi, r) in results.into_iter().enumerate() {
            let (sums, secs) = r?;
            fit_s[mi] += secs;
            runs[mi].push(sums);
        }
    }
    let mut results = Vec::new();
    for (mi, m) in models.iter().enumerate() {
        let config = spec_name(&specs[mi]);
        results.push(summarize(protocol, m, config, &runs[mi], fit_s[mi]));
    }
    Ok(ProtocolResult {
        protocol: protocol.to_string(),
        seeds,
        models: results,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn spec_name(spec: &Spec) -> String {
    spec.build(0).describe()
}

#[allow(clippy::too_many_arguments)]
fn run_sovereign(
    protocol: &str,
    data: &Interactions,
    region_of_user: &[u8],
    models: &[&'static str],
    seeds: u32,
    k_anon: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<ProtocolResult, EvalError> {
    let start = Instant::now();
    let label = format!("{protocol}{SOVEREIGN_SUFFIX}");
    let mut names: Vec<&str> = models.to_vec();
    if models.contains(&"reelm") {
        names.push(REELM_NO_IMPORT);
    }
    // Tune per region on seed 0, from the region's own rows and imports only.
    let (train0, _) = split_for(protocol, data, 0);
    let shares0 = sovereign_shares(&train0, region_of_user, 3, k_anon);
    let with_factors = models.contains(&"reelm");
    let factor_params = FactorParams::default();
    let total: usize = models.iter().map(|m| tune_steps(m)).sum::<usize>() * 3;
    progress(Progress::Stage {
        name: format!("{label}: tuning per region on validation"),
        total: total as u64,
    });
    // specs[region][model]
    let mut specs: Vec<Vec<Spec>> = Vec::new();
    for share in &shares0 {
        let r = share.region;
        let mine = |u: usize| region_of_user[u] == r;
        let (inner, val) = carve_validation(protocol, &share.train);
        let mut imported = share.imported.clone();
        if with_factors {
            // The factor protocol again, with this region taking part with its validation
            // rows held out (the count aggregates come from the other regions' rows only).
            let own: Vec<Interactions> = shares0
                .iter()
                .map(|s| {
                    if s.region == r {
                        inner.clone()
                    } else {
                        s.train.clone()
                    }
                })
                .collect();
            imported.factors = federated_imports(&own, &factor_params, k_anon)
                .into_iter()
                .nth(usize::from(r));
        }
        let mut row = Vec::new();
        for m in models {
            row.push(tune(m, &inner, &val, Some(&imported), &mine, progress)?);
        }
        specs.push(row);
    }
    let mut runs: Vec<Vec<MetricSums>> = vec![Vec::new(); names.len()];
    let mut fit_s = vec![0.0; names.len()];
    for seed in 0..seeds {
        progress(Progress::Stage {
            name: format!("{label}: seed {}/{}", seed + 1, seeds),
            total: (names.len() * 3) as u64,
        });
        let (train, test) = split_for(protocol, data, u64::from(seed));
        let mut shares = sovereign_shares(&train, region_of_user, 3, k_anon);
        if with_factors {
            attach_factor_imports(&mut shares, &factor_params, k_anon);
        }
        let reelm_idx = models.iter().position(|m| *m == "reelm").unwrap_or(0);
        let jobs: Vec<(usize, usize)> = (0..shares.len())
            .flat_map(|si| (0..names.len()).map(move |mi| (si, mi)))
            .collect();
        let results = par_map(
            &jobs,
            &|&(si, mi): &(usize, usize)| -> Result<(MetricSums, f64), ModelError> {
                let share = &shares[si];
                let r = share.region;
                let mine = |u: usize| region_of_user[u] == r;
                let (spec, imported) = if names[mi] == REELM_NO_IMPORT {
                    (&specs[r as usize][reelm_idx], None)
                } else {
                    (&specs[r as usize][mi], Some(&share.imported))
                };
                let mut m = spec.build(u64::from(seed));
                let t = Instant::now();
                m.fit_with(&share.train, imported)?;
                let secs = t.elapsed().as_secs_f64();
                // share.train holds exactly this region's users' training rows
                let sums = evaluate_users(m.as_ref(), &share.train, &test, 10, &mine)?;
                Ok((sums, secs))
            },
            progress,
        );
        let mut seed_sums = vec![MetricSums::default(); names.len()];
        for (&(_, mi), r) in jobs.iter().zip(results) {
            let (sums, secs) = r?;
            fit_s[mi] += secs;
            seed_sums[mi].add(&sums);
        }
        for (mi, s) in seed_sums.into_iter().enumerate() {
            runs[mi].push(s);
        }
    }
    let mut results = Vec::new();
    for (mi, name) in names.iter().enumerate() {
        let spec_idx = if *name == REELM_NO_IMPORT {
            models.iter().position(|m| *m == "reelm").unwrap_or(0)
        } else {
            mi
        };
        let config = (0..3)
            .map(|r| format!("r{r}: {}", spec_name(&specs[r][spec_idx])))
            .collect::<Vec<_>>()
            .join("; ");
        results.push(summarize(protocol, name, config, &runs[mi], fit_s[mi]));
    }
    Ok(ProtocolResult {
        protocol: label,
        seeds,
        models: results,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Runs the evaluation described by `opts`.
pub fn run(
    opts: &EvalOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<EvalReport, EvalError> {
    if opts.seeds == 0 {
        return Err(EvalError::BadOption("seeds must be ≥ 1".into()));
    }
    if opts.regions != 1 && opts.regions != 3 {
        return Err(EvalError::BadOption(format!(
            "regions must be 1 or 3, got {}",
            opts.regions
        )));
    }
    let models = canonical_models(opts)?;
    let start = Instant::now();
    progress(Progress::Stage {
        name: format!("loading {}", opts.dataset),
        total: 1,
    });
    let ds = load(&opts.dataset)?;
    progress(Progress::Advance(1));
    let data = &ds.interactions;
    let mut protocols = Vec::new();
    protocols.push(run_central(RANDOM, data, &models, opts.seeds, progress)?);
    protocols.push(run_central(TEMPORAL, data, &models, 1, progress)?);
    let mut sovereign_ratio = Vec::new();
    let mut region_users = Vec::new();
    if opts.regions == 3 {
        region_users = (0..3u8)
            .map(|r| ds.region3.iter().filter(|&&x| x == r).count())
            .collect();
        for (proto, seeds) in [(RANDOM, opts.seeds), (TEMPORAL, 1)] {
            let sov = run_sovereign(
                proto,
                data,
                &ds.region3,
                &models,
                seeds,
                opts.k_anonymity,
                progress,
            )?;
            protocols.push(sov);
        }
    }
    let mut report = EvalReport {
        dataset: ds.name.clone(),
        n_users: data.n_users(),
        n_items: data.n_items,
        n_interactions: data.n_interactions(),
        seeds: opts.seeds,
        regions: opts.regions,
        k_anonymity: opts.k_anonymity,
        region_users,
        protocols,
        sovereign_ratio: Vec::new(),
        total_seconds: 0.0,
    };
    if opts.regions == 3 {
        for proto in [RANDOM, TEMPORAL] {
            let sov = format!("{proto}{SOVEREIGN_SUFFIX}");
            for m in &models {
                let c = report.value(proto, m, "ndcg@10");
                let s = report.value(&sov, m, "ndcg@10");
                if let (Some(c), Some(s)) = (c, s)
                    && c > 0.0
                {
                    sovereign_ratio.push((proto.to_string(), m.to_string(), s / c));
                }
            }
            if let (Some(c), Some(s)) = (
                report.value(proto, "reelm", "ndcg@10"),
                report.value(&sov, REELM_NO_IMPORT, "ndcg@10"),
            ) && c > 0.0
            {
                sovereign_ratio.push((proto.to_string(), REELM_NO_IMPORT.to_string(), s / c));
            }
        }
    }
    report.sovereign_ratio = sovereign_ratio;
    report.total_seconds = start.elapsed().as_secs_f64();
    progress(Progress::Done);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::testutil::planted;

    fn write_csv(name: &str) -> std::path::PathBuf {
        let data = planted(90, 60, 4, 3);
        let d = std::env::temp_dir().join(format!("reelm-eval-{}-{}", name, std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("events.csv");
        let mut s = String::from("user,item,timestamp\n");
        for (u, row) in data.rows.iter().enumerate() {
            for e in row {
                s.push_str(&format!("u{u},v{},{}\n", e.item, e.ts));
            }
        }
        std::fs::write(&p, s).unwrap();
        p
    }

    #[test]
    fn run_on_synthetic_csv_produces_labelled_report() {
        let p = write_csv("central");
        let opts = EvalOptions {
            dataset: format!("csv:{}", p.display()),
            seeds: 2,
            regions: 3,
            models: Some(vec!["mostpopular".into(), "reelm".into()]),
            k_anonymity: 2,
        };
        let mut stages = 0;
        let mut done = false;
        let report = run(&opts, &mut |p| match p {
            Progress::Stage { .. } => stages += 1,
            Progress::Done => done = true,
            Progress::Advance(_) => {}
        })
        .unwrap();
        assert!(done && stages > 4);
        let j = report.to_json();
        let ndcg = j[RANDOM]["reelm"]["ndcg@10"].as_f64().unwrap();
        assert!(ndcg > 0.0 && ndcg <= 1.0);
        assert!(j[RANDOM]["reelm"]["ndcg@10_std"].is_number());
        assert!(j[TEMPORAL]["MostPopular"]["hr@10"].is_number());
        assert!(j["random_75_25/regions_3"][REELM_NO_IMPORT]["ndcg@10"].is_number());
        assert!(j["sovereign_vs_central"]["reelm"]["random_75_25/ndcg@10_ratio"].is_number());
        let table = report.render_table();
        for needle in [
            RANDOM,
            TEMPORAL,
            "regions_3",
            "over 2 seeds",
            "csv:",
            "reelm",
        ] {
            assert!(table.contains(needle), "missing {needle} in\n{table}");
        }
    }

    #[test]
    fn bad_options() {
        let mut nop = |_: Progress| {};
        let o = EvalOptions {
            dataset: "csv:/nonexistent/x.csv".into(),
            ..EvalOptions::default()
        };
        assert!(matches!(run(&o, &mut nop), Err(EvalError::Data(_))));
        let o2 = EvalOptions {
            models: Some(vec!["BiVAE".into()]),
            ..o.clone()
        };
        assert!(matches!(
            run(&o2, &mut nop),
            Err(EvalError::UnknownModel(_))
        ));
        let o3 = EvalOptions { regions: 2, ..o };
        assert!(matches!(run(&o3, &mut nop), Err(EvalError::BadOption(_))));
    }

    /// The real ML-100K report: `cargo test --release -p reelm-feed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn movielens_report() {
        let dir = std::env::var("REELM_ML100K").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/datasets/ml-100k"
            )
            .to_string()
        });
        if !std::path::Path::new(&dir).join("u.data").exists() {
            println!("skipping movielens_report: no u.data under {dir} (set REELM_ML100K)");
            return;
        }
        let regions = std::env::var("REELM_REGIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3);
        let opts = EvalOptions {
            dataset: format!("movielens:{dir}"),
            regions,
            models: std::env::var("REELM_MODELS")
                .ok()
                .map(|v| v.split(',').map(String::from).collect()),
            ..EvalOptions::default()
        };
        let mut last = Instant::now();
        let report = run(&opts, &mut |p| {
            if let Progress::Stage { name, .. } = p {
                eprintln!("[{:>7.1}s] {name}", last.elapsed().as_secs_f64());
                last = Instant::now();
            }
        })
        .unwrap();
        println!("{}", report.render_table());
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap()
        );
    }
}
