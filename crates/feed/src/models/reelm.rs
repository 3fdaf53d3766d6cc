//! `reelm`: the model that serves the For You feed.
//!
//! # Design
//! The serving target (a page of 10 out of 1M videos for 100k people, p99 ≤ 20 ms, every event
//! visible on the next request) rules out anything that needs a per-user fit or a dense scan of
//! user × item scores at request time. reelm therefore keeps all learned state on the *item*
//! side and builds the user side from the event history on the fly:
//!
//! 1. **Sparse item→item weights.** An EASE-style closed form over the item co-engagement Gram
//!    matrix `G = XᵀX`: `B = I − P·diagMat(1/diag P)`, `P = (G + Λ)⁻¹`, zero diagonal. Unlike
//!    plain EASE the ridge is popularity-dependent, `Λ_ii = λ + ρ·G_ii` (the closed form of
//!    emphasised denoising / dropout regularisation, Steck 2020 "Autoencoders that don't overfit
//!    towards the identity"), which stops popular items from explaining everything. Each item
//!    then keeps only its `neighbours` strongest outgoing weights (by |w|): at 1M items and
//!    K = 100 that is 100M (u32, f32) pairs, 800 MB, within the 2 GiB budget, and an event
//!    costs O(K) to fold into a user's state. (At 1M items the Gram inverse is fitted per
//!    item on a candidate neighbourhood, SLIM-style, not as one dense inverse: the dense path
//!    here is the offline-evaluation path and is capped at [`super::MAX_DENSE_ITEMS`].)
//!    Because `B` depends on the data only through `G`, a sovereign region can add other
//!    regions' *aggregate* co-occurrence counts (k-anonymous, no user rows) to its own `G` and
//!    learn nearly the central weights: that is how reelm drives the sovereignty cost down.
//! 2. **Long-term profile.** The sum of the user's history items' neighbour lists, each weighted
//!    by the event weight and an exponential decay in the event's age counted in events
//!    (`half_life`; a global decay factor makes the update O(K) per event in serving).
//! 3. **Short-term profile.** The last `recent_n` events get an extra weight `recent_boost`, so
//!    the next page follows the last swipes. History weights are normalised to mean 1.
//! 4. **Popularity prior.** `pop_weight · log(1 + n_i) / log(1 + max n)` with `n_i` the item's
//!    distinct users (own region plus imported aggregate counts): breaks near-ties toward items
//!    many people engaged with, and is the non-personalised fallback for a user with no history.
//!
//! Hyper-parameters are chosen by the evaluation harness on a validation split carved out of
//! the training data (never on the test split); see `eval`.

use super::knn::top_k_row;
use super::{ModelError, Recommender, dense_gram, ease_weights};
use crate::data::{Event, Interactions};
use crate::split::ItemAggregates;

/// Parameters of the item→item weights (changing them needs a refit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReelmParams {
    pub lambda: f64,
    pub rho: f64,
    pub neighbours: usize,
}

impl Default for ReelmParams {
    fn default() -> Self {
        Self {
            lambda: 200.0,
            rho: 0.2,
            neighbours: 100,
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

#[derive(Debug, Clone, Default)]
pub struct Reelm {
    pub params: ReelmParams,
    pub profile: Profile,
    neighbours: Vec<Vec<(u32, f32)>>,
    pop_prior: Vec<f32>,
    history: Vec<Vec<Event>>,
}

impl Reelm {
    pub fn new(params: ReelmParams, profile: Profile) -> Self {
        Self {
            params,
            profile,
            ..Self::default()
        }
    }

    /// Grid for the item→item weights (first tuning stage, default profile).
    pub fn weight_grid() -> Vec<ReelmParams> {
        let mut v = Vec::new();
        for lambda in [50.0, 150.0, 400.0, 800.0] {
            for rho in [0.0, 0.5, 1.0] {
                v.push(ReelmParams {
                    lambda,
                    rho,
                    ..ReelmParams::default()
                });
            }
        }
        v
    }

    /// Grid for the profile (second tuning stage, weights fixed).
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

    /// Scores every item for a history (events sorted oldest first): the serving entry point.
    pub fn score_history(&self, history: &[Event], out: &mut [f32]) {
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
        for (e, wj) in history.iter().zip(&w) {
            for &(i, s) in &self.neighbours[e.item as usize] {
                out[i as usize] += wj * s;
            }
        }
    }
}

impl Recommender for Reelm {
    fn describe(&self) -> String {
        let (m, p) = (&self.params, &self.profile);
        format!(
            "reelm(lambda={}, rho={}, K={}, half_life={}, recent={}x{}, pop={})",
            m.lambda, m.rho, m.neighbours, p.half_life, p.recent_n, p.recent_boost, p.pop_weight
        )
    }

    fn fit_with(
        &mut self,
        train: &Interactions,
        imported: Option<&ItemAggregates>,
    ) -> Result<(), ModelError> {
        let n = train.n_items;
        let g = dense_gram("reelm", train, imported, true)?;
        let counts: Vec<f64> = (0..n).map(|i| g[i * n + i]).collect();
        let (lambda, rho) = (self.params.lambda, self.params.rho);
        let b = ease_weights("reelm", g, n, |_, d| lambda + rho * d)?;
        self.neighbours = (0..n)
            .map(|j| top_k_row(&b[j * n..j * n + n], self.params.neighbours, j, true))
            .collect();
        let max = counts.iter().copied().fold(0.0f64, f64::max);
        self.pop_prior = counts
            .iter()
            .map(|&c| {
                if max > 0.0 {
                    ((1.0 + c).ln() / (1.0 + max).ln()) as f32
                } else {
                    0.0
                }
            })
            .collect();
        self.history = train.rows.clone();
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
        self.score_history(hist, out);
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
}
