//! `reelm`: the model that serves the For You feed.
//!
//! # Design
//! The serving target (a page of 10 out of 1M videos for 100k people, p99 ≤ 20 ms, every event
//! visible on the next request) rules out anything that needs a dense scan of user × item
//! scores or a model refit at request time. reelm therefore keeps all learned state on the
//! *item* side and builds the user side from the event history on the fly:
//!
//! 1. **Sparse item→item weights.** An EASE-style closed form over the item co-engagement Gram
//!    matrix `G = XᵀX`: `B = I − P·diagMat(1/diag P)`, `P = (G + Λ)⁻¹`, zero diagonal. Unlike
//!    plain EASE the ridge is popularity-dependent, `Λ_ii = λ + ρ·G_ii` (the closed form of
//!    emphasised denoising / dropout regularisation, Steck 2020 "Autoencoders that don't overfit
//!    towards the identity", with ρ = p/(1−p) for dropout rate p). Each item then keeps only its
//!    `neighbours` strongest outgoing weights (by |w|): at 1M items and K = 100 that is 100M
//!    (u32, f32) pairs, 800 MB, within the 2 GiB budget, and an event costs O(K) to fold into
//!    a user's state. Pruning is a memory measure for the full catalog; for a catalog of at most
//!    [`super::MAX_DENSE_ITEMS`] the evaluation lets validation choose K among 100, 400 and
//!    "all" (no pruning). (At 1M items the Gram inverse is fitted per item on a candidate
//!    neighbourhood, SLIM-style, not as one dense inverse: the dense path here is the
//!    offline-evaluation path.)
//! 2. **Low-rank term.** Item factors `y_i` (f = 32) from implicit ALS ([`FactorParams`]); the
//!    user vector is folded in from the history at scoring time, `x_u = (YᵀY + reg·I + Σ α w
//!    y_i y_iᵀ)⁻¹ Σ (1 + α w) y_i`: an f×f solve, O(|history|·f² + f³) ≈ 0.1 ms, no stored
//!    per-user state. The score adds `factor_weight · x_uᵀ y_i`. The item→item weights are a
//!    local (neighbourhood) model and the factors a global one; their errors differ, so the
//!    blend ranks better than either (the weight is chosen on validation, 0 switches it off).
//!    In serving, the factor term re-scores the candidates the neighbour lists produce.
//! 3. **Long-term profile.** The sum of the user's history items' neighbour lists, each weighted
//!    by the event weight and an exponential decay in the event's age counted in events
//!    (`half_life`; a global decay factor makes the update O(K) per event in serving).
//! 4. **Short-term profile.** The last `recent_n` events get an extra weight `recent_boost`, so
//!    the next page follows the last swipes. History weights are normalised to mean 1.
//! 5. **Popularity prior.** `pop_weight · log(1 + n_i) / log(1 + max n)` with `n_i` the item's
//!    distinct users (own region plus imported aggregate counts): breaks near-ties toward items
//!    many people engaged with, and is the non-personalised fallback for a user with no history.
//!
//! # Sovereign regions
//! A region trains on its own people's rows plus what the other regions publish
//! ([`ItemAggregates`]); nothing crosses that was computed from fewer than k distinct people of
//! another region (the per-field argument is on [`ItemAggregates`]).
//! - Item→item weights depend on the data only through `G`, and `G` is a sum over people, so
//!   a region adds the others' item and pair counts to its own `G`. k-anonymity drops the pairs
//!   fewer than k people of a region co-engaged — on ML-100K's training rows, with ~300 people
//!   per region and k = 5, that is about 4 in 5 co-engaged pairs and 38–42% of the
//!   off-diagonal mass. What *is* published about them is each item's
//!   dropped total (`dropped_mass`) and which pairs were kept; reelm spreads each item's dropped
//!   total over its unpublished pairs in proportion to `n_i·n_j`, fitted so every item's total
//!   matches ([`ItemAggregates::dropped_pair_factors`]). That estimate is computed by the
//!   importer from published aggregates alone, so it reveals nothing new, and it brings the
//!   region's `G` close to the central one (see `EVAL_RESULTS.md`).
//! - Item factors are learned by federated ALS ([`super::federated_imports`]): the item step
//!   needs only sums over users, so each region computes its people's vectors at home and
//!   publishes, per item engaged by ≥ k of its people, the sums of their terms. The importing
//!   region then alternates a few local rounds on its own rows with those sums held fixed.
//!
//! Hyper-parameters are chosen by the evaluation harness on a validation split carved out of
//! the training data (never on the test split); see `eval`.

use super::factors::{FactorParams, fit_local, gram_plus_reg, user_vector};
use super::knn::top_k_row;
use super::{ModelError, Recommender, ease_weights_f32, imputed_gram};
use crate::data::{Event, Interactions};
use crate::split::ItemAggregates;

/// `neighbours` value meaning "keep every weight" (no pruning).
pub const ALL_NEIGHBOURS: usize = usize::MAX;

/// Parameters of the item→item weights and the blend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReelmParams {
    pub lambda: f64,
    pub rho: f64,
    /// Weights kept per item ([`ALL_NEIGHBOURS`]: all).
    pub neighbours: usize,
    /// Weight of the low-rank term (0: no factors are fitted).
    pub factor_weight: f32,
}

impl Default for ReelmParams {
    fn default() -> Self {
        Self {
            lambda: 400.0,
            rho: 0.25,
            neighbours: 100,
            factor_weight: 0.0,
        }
    }
}

/// Parameters of the user profile (cheap to change after fit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Half-life of the long-term decay, in events; `f32::INFINITY` disables decay.
    pub half_life: f32,
    pub recent_n: usize,
    pub recent_boost: f32,
    pub pop_weight: f32,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            half_life: f32::INFINITY,
            recent_n: 10,
            recent_boost: 0.0,
            pop_weight: 0.0,
        }
    }
}

/// Unpruned item→item weights and item counts, kept by the tuner to try several K without a
/// refit.
#[derive(Debug, Clone)]
pub(crate) struct DenseWeights {
    pub n: usize,
    /// Row-major: row `j` holds the weights from history item `j` to every item.
    pub b: Vec<f32>,
    /// Distinct users per item (own plus imported).
    pub counts: Vec<f64>,
}

/// The item→item weights as kept for scoring.
#[derive(Debug, Clone)]
enum Weights {
    /// Per item, its K kept (target, weight) pairs.
    Lists(Vec<Vec<(u32, f32)>>),
    /// Unpruned (K = all): the dense row-major matrix, scored with contiguous row additions.
    Dense { n: usize, b: Vec<f32> },
}

impl Default for Weights {
    fn default() -> Self {
        Weights::Lists(Vec::new())
    }
}

#[derive(Debug, Clone, Default)]
pub struct Reelm {
    pub params: ReelmParams,
    pub profile: Profile,
    pub factor_params: FactorParams,
    neighbours: Weights,
    pop_prior: Vec<f32>,
    history: Vec<Vec<Event>>,
    /// Item factors, n_items × f (empty when `factor_weight` is 0).
    item_factors: Vec<f64>,
    /// `YᵀY + reg·I`, for folding a history in.
    factor_base: Vec<f64>,
    /// The training users' folded-in vectors (a cache of what `score_history` computes).
    user_factors: Vec<Vec<f64>>,
}

impl Reelm {
    pub fn new(params: ReelmParams, profile: Profile) -> Self {
        Self {
            params,
            profile,
            ..Self::default()
        }
    }

    /// Grid for the item→item ridge (first tuning stage: each point is a refit).
    pub fn weight_grid() -> Vec<ReelmParams> {
        let mut v = Vec::new();
        for lambda in [200.0, 400.0, 800.0] {
            for rho in [0.0, 0.5] {
                v.push(ReelmParams {
                    lambda,
                    rho,
                    ..ReelmParams::default()
                });
            }
        }
        v
    }

    /// Blend weights of the low-rank term tried with every ridge of [`Reelm::weight_grid`].
    pub fn factor_weight_grid() -> Vec<f32> {
        vec![0.0, 0.1, 0.2, 0.3, 0.5]
    }

    /// K values tried after the ridge and blend are chosen ([`ALL_NEIGHBOURS`] only for
    /// catalogs a dense fit handles).
    pub fn neighbour_grid() -> Vec<usize> {
        vec![100, 400, ALL_NEIGHBOURS]
    }

    /// Grid for the profile (last tuning stage, weights fixed).
    pub fn profile_grid() -> Vec<Profile> {
        let mut v = Vec::new();
        for half_life in [f32::INFINITY, 200.0, 50.0, 15.0] {
            for (recent_n, recent_boost) in [(10, 0.0), (5, 0.5), (5, 2.0), (20, 0.5), (20, 1.0)] {
                for pop_weight in [0.0, 0.02, 0.05, 0.1] {
                    v.push(Profile {
                        half_life,
                        recent_n,
                        recent_boost,
                        pop_weight,
                    });
                }
            }
        }
        v
    }

    /// Unpruned item→item weights for ridge `(lambda, rho)` on `train` plus imports.
    pub(crate) fn dense_weights(
        train: &Interactions,
        imported: Option<&ItemAggregates>,
        lambda: f64,
        rho: f64,
    ) -> Result<DenseWeights, ModelError> {
        let n = train.n_items;
        let g = imputed_gram("reelm", train, imported)?;
        let counts: Vec<f64> = (0..n).map(|i| g[i * n + i]).collect();
        let b = ease_weights_f32("reelm", g, n, |_, d| lambda + rho * d)?;
        Ok(DenseWeights { n, b, counts })
    }

    /// Prunes `w` to `params.neighbours` per item and sets the popularity prior.
    pub(crate) fn set_weights(&mut self, w: &DenseWeights) {
        let n = w.n;
        let k = self.params.neighbours.min(n);
        self.neighbours = if k + 1 >= n {
            Weights::Dense { n, b: w.b.clone() }
        } else {
            Weights::Lists(
                (0..n)
                    .map(|j| top_k_row(&w.b[j * n..j * n + n], k, j, true))
                    .collect(),
            )
        };
        let max = w.counts.iter().copied().fold(0.0f64, f64::max);
        self.pop_prior = w
            .counts
            .iter()
            .map(|&c| {
                if max > 0.0 {
                    ((1.0 + c.max(0.0)).ln() / (1.0 + max).ln()) as f32
                } else {
                    0.0
                }
            })
            .collect();
    }

    /// Fits the item factors on `train` plus imported factor statistics, and caches the
    /// training users' vectors.
    pub(crate) fn fit_factors(&mut self, train: &Interactions, imported: Option<&ItemAggregates>) {
        let p = self.factor_params;
        let stats = imported.and_then(|a| a.factors.as_ref());
        let (y, xs) = fit_local(train, stats, &p);
        self.factor_base = gram_plus_reg(&y, p.factors, p.reg);
        self.item_factors = y;
        self.user_factors = xs;
    }

    pub(crate) fn set_history(&mut self, train: &Interactions) {
        self.history = train.rows.clone();
    }

    /// Scores every item for a history (events sorted oldest first): the serving entry point.
    pub fn score_history(&self, history: &[Event], out: &mut [f32]) {
        let x = self.fold_in(history);
        self.score_with(history, x.as_deref(), out);
    }

    /// The user vector of a history, if the low-rank term is on.
    fn fold_in(&self, history: &[Event]) -> Option<Vec<f64>> {
        let f = self.factor_params.factors;
        (self.params.factor_weight != 0.0 && !self.item_factors.is_empty()).then(|| {
            user_vector(
                &self.item_factors,
                &self.factor_base,
                f,
                history,
                self.factor_params.alpha,
            )
        })
    }

    fn score_with(&self, history: &[Event], x: Option<&[f64]>, out: &mut [f32]) {
        let p = &self.profile;
        let n = history.len();
        let mut w: Vec<f32> = history
            .iter()
            .enumerate()
            .map(|(pos, e)| {
                let age = (n - 1 - pos) as f32;
                let decay = if p.half_life.is_finite() {
                    (-(age / p.half_life) * std::f32::consts::LN_2).exp()
                } else {
                    1.0
                };
                let recent = if (n - 1 - pos) < p.recent_n {
                    1.0 + p.recent_boost
                } else {
                    1.0
                };
                e.weight * decay * recent
            })
            .collect();
        let mean = w.iter().sum::<f32>() / n.max(1) as f32;
        if mean > 0.0 {
            for x in &mut w {
                *x /= mean;
            }
        }
        for (o, pr) in out.iter_mut().zip(&self.pop_prior) {
            *o = p.pop_weight * pr;
        }
        match &self.neighbours {
            Weights::Lists(lists) => {
                for (e, wj) in history.iter().zip(&w) {
                    if let Some(list) = lists.get(e.item as usize) {
                        for &(i, s) in list {
                            out[i as usize] += wj * s;
                        }
                    }
                }
            }
            Weights::Dense { n, b } => {
                for (e, wj) in history.iter().zip(&w) {
                    let j = e.item as usize;
                    if let Some(row) = b.get(j * n..(j + 1) * n) {
                        for (o, s) in out.iter_mut().zip(row) {
                            *o += wj * s;
                        }
                    }
                }
            }
        }
        if let Some(x) = x {
            let f = self.factor_params.factors;
            let fw = self.params.factor_weight;
            for (o, y) in out.iter_mut().zip(self.item_factors.chunks_exact(f)) {
                *o += fw * y.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() as f32;
            }
        }
    }
}

impl Recommender for Reelm {
    fn describe(&self) -> String {
        let (m, p) = (&self.params, &self.profile);
        let k = if m.neighbours == ALL_NEIGHBOURS {
            "all".to_string()
        } else {
            m.neighbours.to_string()
        };
        let factors = if m.factor_weight != 0.0 {
            format!(
                ", factors={}x{}",
                self.factor_params.factors, m.factor_weight
            )
        } else {
            String::new()
        };
        format!(
            "reelm(lambda={}, rho={}, K={k}{factors}, half_life={}, recent={}x{}, pop={})",
            m.lambda, m.rho, p.half_life, p.recent_n, p.recent_boost, p.pop_weight
        )
    }

    fn fit_with(
        &mut self,
        train: &Interactions,
        imported: Option<&ItemAggregates>,
    ) -> Result<(), ModelError> {
        let w = Self::dense_weights(train, imported, self.params.lambda, self.params.rho)?;
        self.set_weights(&w);
        if self.params.factor_weight != 0.0 {
            self.fit_factors(train, imported);
        } else {
            self.item_factors.clear();
            self.user_factors.clear();
        }
        self.set_history(train);
        Ok(())
    }

    fn score_user(&self, user: usize, out: &mut [f32]) -> Result<(), ModelError> {
        let hist = self
            .history
            .get(user)
            .ok_or(ModelError::NotFitted("reelm"))?;
        if out.len() != self.pop_prior.len() {
            return Err(ModelError::NotFitted("reelm"));
        }
        let on = self.params.factor_weight != 0.0 && !self.item_factors.is_empty();
        match self.user_factors.get(user) {
            Some(x) if on => self.score_with(hist, Some(x), out),
            _ => self.score_history(hist, out),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn beats_random_on_planted_data() {
        let (train, test) = split();
        let mut m = Reelm::new(
            ReelmParams {
                lambda: 20.0,
                rho: 0.1,
                neighbours: 30,
                ..ReelmParams::default()
            },
            Profile {
                half_life: 50.0,
                recent_n: 5,
                recent_boost: 0.5,
                pop_weight: 0.05,
            },
        );
        m.fit(&train).unwrap();
        let (got, rnd) = (ndcg(&m, &train, &test), random_ndcg(&train, &test));
        assert!(got > rnd * 2.0, "reelm {got} vs random {rnd}");
    }

    #[test]
    fn next_page_follows_the_last_swipes() {
        // Two disjoint clusters; a user whose long history is cluster A but whose last events
        // are cluster B gets B first with a short-term boost.
        let (train, _) = split();
        let mut m = Reelm::new(
            ReelmParams {
                lambda: 20.0,
                rho: 0.0,
                neighbours: 30,
                ..ReelmParams::default()
            },
            Profile {
                half_life: f32::INFINITY,
                recent_n: 3,
                recent_boost: 10.0,
                pop_weight: 0.0,
            },
        );
        m.fit(&train).unwrap();
        let ev = |item: u32, ts: i64| Event {
            item,
            ts,
            weight: 1.0,
        };
        // clusters of the planted data are 20 items wide: 0..20 and 40..60
        let mut hist: Vec<Event> = (0..8).map(|k| ev(k, k as i64)).collect();
        hist.extend((40..43).map(|k| ev(k, 100 + k as i64)));
        let mut out = vec![0.0; train.n_items];
        m.score_history(&hist, &mut out);
        for e in &hist {
            out[e.item as usize] = f32::NEG_INFINITY;
        }
        let top = crate::metrics::top_k(&out, 3);
        assert!(top.iter().all(|&i| (40..60).contains(&i)), "{top:?}");
    }

    fn blended() -> Reelm {
        Reelm::new(
            ReelmParams {
                lambda: 20.0,
                rho: 0.1,
                neighbours: ALL_NEIGHBOURS,
                factor_weight: 0.5,
            },
            Profile::default(),
        )
    }

    #[test]
    fn cached_user_vectors_match_serving_fold_in() {
        let (train, _) = split();
        let mut m = blended();
        m.factor_params = FactorParams {
            factors: 8,
            ..FactorParams::default()
        };
        m.fit(&train).unwrap();
        let n = train.n_items;
        for u in [0usize, 7, 42] {
            let mut a = vec![0.0; n];
            let mut b = vec![0.0; n];
            m.score_user(u, &mut a).unwrap();
            m.score_history(&train.rows[u], &mut b);
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-4, "{x} vs {y}");
            }
        }
        // the factor term changes the ranking input: weight 0 gives other scores
        let mut off = m.clone();
        off.params.factor_weight = 0.0;
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        m.score_user(3, &mut a).unwrap();
        off.score_user(3, &mut b).unwrap();
        assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-3));
    }

    #[test]
    fn blend_and_unpruned_beat_random() {
        let (train, test) = split();
        let mut m = blended();
        m.factor_params = FactorParams {
            factors: 8,
            ..FactorParams::default()
        };
        m.fit(&train).unwrap();
        let (got, rnd) = (ndcg(&m, &train, &test), random_ndcg(&train, &test));
        assert!(got > rnd * 2.0, "reelm {got} vs random {rnd}");
        assert!(m.describe().contains("K=all"), "{}", m.describe());
        // pruning keeps at most K per item
        let mut p = m.clone();
        p.params.neighbours = 5;
        let w = Reelm::dense_weights(&train, None, 20.0, 0.1).unwrap();
        p.set_weights(&w);
        let Weights::Lists(lists) = &p.neighbours else {
            panic!("K = 5 keeps lists");
        };
        assert!(lists.iter().all(|l| l.len() <= 5));
        assert!(lists.iter().any(|l| l.len() == 5));
        assert!(matches!(m.neighbours, Weights::Dense { .. }));
        // unpruned lists and the dense matrix score alike
        let mut q = m.clone();
        q.params.neighbours = train.n_items - 2;
        q.set_weights(&Reelm::dense_weights(&train, None, 20.0, 0.1).unwrap());
        let (mut a, mut b) = (vec![0.0; train.n_items], vec![0.0; train.n_items]);
        q.score_user(1, &mut a).unwrap();
        m.score_user(1, &mut b).unwrap();
        let top = |s: &[f32]| crate::metrics::top_k(s, 10);
        assert_eq!(top(&a).len(), 10);
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 0.05),
            "pruning 1 weight moved a score far"
        );
    }

    #[test]
    fn sovereign_region_gains_from_imports() {
        // One region of a third of the users: with the others' k-anonymous aggregates (counts
        // and federated factor statistics) it ranks its users better than from its rows alone.
        let data = planted(900, 120, 6, 21);
        let (train, test) = crate::split::random_split(&data, 0.75, 2);
        let region: Vec<u8> = (0..train.n_users()).map(|u| (u % 3) as u8).collect();
        let mut shares = crate::split::sovereign_shares(&train, &region, 3, 5);
        let fp = FactorParams {
            factors: 8,
            rounds: 6,
            ..FactorParams::default()
        };
        crate::split::attach_factor_imports(&mut shares, &fp, 5);
        let share = &shares[0];
        let mine = |u: usize| region[u] == 0;
        let run = |imported: Option<&ItemAggregates>| {
            let mut m = Reelm::new(
                ReelmParams {
                    lambda: 60.0,
                    rho: 0.25,
                    neighbours: ALL_NEIGHBOURS,
                    factor_weight: 0.3,
                },
                Profile::default(),
            );
            m.factor_params = fp;
            m.fit_with(&share.train, imported).unwrap();
            crate::eval::evaluate_users(&m, &share.train, &test, 10, &mine)
                .unwrap()
                .mean("ndcg@10")
        };
        let (with, without) = (run(Some(&share.imported)), run(None));
        assert!(with > without, "with imports {with} vs without {without}");
    }
}
