//! Recommendation models. Every model implements [`Recommender`]: `fit` on a training set
//! (optionally with aggregate item statistics imported from other regions), then
//! `score_user` fills a score for every item; the harness masks the user's training items.

mod ease;
mod factors;
mod ials;
mod knn;
mod popular;
mod reelm;

pub use ease::Ease;
pub use factors::{FactorParams, FactorStats, federated_imports};
pub use ials::{Ials, IalsParams};
pub use knn::ItemKnn;
pub use popular::MostPopular;
pub(crate) use reelm::DenseWeights;
pub use reelm::{ALL_NEIGHBOURS, Profile, Reelm, ReelmParams};

use crate::data::Interactions;
use crate::linalg::{NotPositiveDefinite, Real};
use crate::split::ItemAggregates;

/// Dense item×item models refuse catalogs larger than this (a dense f64 Gram matrix of 8000²
/// is 512 MB, and the inverse needs two more of those).
pub const MAX_DENSE_ITEMS: usize = 8000;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{model}: {n_items} items is more than the {max} a dense item×item model handles")]
    TooManyItems {
        model: &'static str,
        n_items: usize,
        max: usize,
    },
    #[error("{model}: {source}")]
    Numeric {
        model: &'static str,
        #[source]
        source: NotPositiveDefinite,
    },
    #[error("{0}: score_user called before fit")]
    NotFitted(&'static str),
}

/// A top-N recommender over a fixed item index space.
pub trait Recommender {
    /// Short name with the hyper-parameters, e.g. `EASE(lambda=400)`.
    fn describe(&self) -> String;

    /// Fits on `train` alone.
    fn fit(&mut self, train: &Interactions) -> Result<(), ModelError> {
        self.fit_with(train, None)
    }

    /// Fits on a region's own `train` rows plus, if given, aggregates imported from other
    /// regions (models that cannot use aggregates ignore them).
    fn fit_with(
        &mut self,
        train: &Interactions,
        imported: Option<&ItemAggregates>,
    ) -> Result<(), ModelError>;

    /// Writes a score for every item into `out` (`out.len() == n_items`); higher is better.
    /// Items the user already has may get any score: callers mask them.
    fn score_user(&self, user: usize, out: &mut [f32]) -> Result<(), ModelError>;
}

/// Dense item×item Gram matrix `XᵀX` of the binary interaction matrix (co-occurrence counts,
/// diagonal = item popularity), plus imported aggregate counts; with `include_dropped_mass`
/// the imported pairs' dropped (k-anonymised) mass goes on the diagonal, which keeps the sum
/// positive semi-definite (used by the models that invert it).
pub(crate) fn dense_gram(
    model: &'static str,
    train: &Interactions,
    imported: Option<&ItemAggregates>,
    include_dropped_mass: bool,
) -> Result<Vec<f64>, ModelError> {
    let n = train.n_items;
    if n > MAX_DENSE_ITEMS {
        return Err(ModelError::TooManyItems {
            model,
            n_items: n,
            max: MAX_DENSE_ITEMS,
        });
    }
    let mut g = vec![0.0f64; n * n];
    let mut items: Vec<usize> = Vec::new();
    for row in &train.rows {
        items.clear();
        items.extend(row.iter().map(|e| e.item as usize));
        for &i in &items {
            let r = &mut g[i * n..i * n + n];
            for &j in &items {
                r[j] += 1.0;
            }
        }
    }
    if let Some(agg) = imported {
        for (i, &c) in agg.item_users.iter().enumerate().take(n) {
            g[i * n + i] += f64::from(c);
        }
        if include_dropped_mass {
            for (i, &c) in agg.dropped_mass.iter().enumerate().take(n) {
                g[i * n + i] += f64::from(c);
            }
        }
        for &(i, j, c) in &agg.pairs {
            let (i, j) = (i as usize, j as usize);
            g[i * n + j] += f64::from(c);
            g[j * n + i] += f64::from(c);
        }
    }
    Ok(g)
}

/// reelm's Gram: `XᵀX` of the region's own rows plus, per imported publication, its item
/// counts on the diagonal, its published pair counts, and an estimate of the pair counts it
/// dropped for k-anonymity ([`ItemAggregates::dropped_pair_factors`]) off the diagonal. The
/// estimate depends on published aggregates only. Unlike [`dense_gram`] the dropped mass is not
/// put on the diagonal: it is spread over the pairs it came from, which brings the sum close to
/// the Gram of all regions' rows (the weights' fallback ridge handles a rare indefinite sum).
pub(crate) fn imputed_gram(
    model: &'static str,
    train: &Interactions,
    imported: Option<&ItemAggregates>,
) -> Result<Vec<f64>, ModelError> {
    let n = train.n_items;
    let mut g = dense_gram(model, train, None, false)?;
    let Some(agg) = imported else {
        return Ok(g);
    };
    for publ in agg.publications() {
        for (i, &c) in publ.item_users.iter().enumerate().take(n) {
            g[i * n + i] += f64::from(c);
        }
        let v = publ.dropped_pair_factors(30);
        let active: Vec<usize> = (0..n.min(v.len())).filter(|&i| v[i] > 0.0).collect();
        for &i in &active {
            let row = &mut g[i * n..i * n + n];
            for &j in &active {
                if j != i {
                    row[j] += v[i] * v[j];
                }
            }
        }
        for &(i, j, c) in &publ.pairs {
            let (i, j) = (i as usize, j as usize);
            if i >= n || j >= n {
                continue;
            }
            // a published pair's count is known: no estimate for it
            let est = if i < v.len() && j < v.len() {
                v[i] * v[j]
            } else {
                0.0
            };
            g[i * n + j] += f64::from(c) - est;
            g[j * n + i] += f64::from(c) - est;
        }
    }
    Ok(g)
}

/// EASE-style closed form: `P = (G + diag(reg))⁻¹`, `B[j][i] = −P[j][i] / P[i][i]`, `B[i][i] = 0`.
/// Returned row-major as f32: row `j` holds the weights from history item `j` to every item.
pub(crate) fn ease_weights(
    model: &'static str,
    g: Vec<f64>,
    n: usize,
    reg: impl Fn(usize, f64) -> f64,
) -> Result<Vec<f32>, ModelError> {
    ease_weights_in(model, g, n, reg)
}

/// [`ease_weights`] with the inverse in single precision (reelm: about two thirds of the time
/// of the f64 path on ML-100K's 1682 items; the weights are stored as f32 anyway).
pub(crate) fn ease_weights_f32(
    model: &'static str,
    g: Vec<f64>,
    n: usize,
    reg: impl Fn(usize, f64) -> f64,
) -> Result<Vec<f32>, ModelError> {
    let g32: Vec<f32> = g.iter().map(|&v| v as f32).collect();
    drop(g);
    ease_weights_in(model, g32, n, |i, d: f32| reg(i, f64::from(d)) as f32)
}

fn ease_weights_in<T: Real + Into<f64>>(
    model: &'static str,
    mut g: Vec<T>,
    n: usize,
    reg: impl Fn(usize, T) -> T,
) -> Result<Vec<f32>, ModelError> {
    for i in 0..n {
        let d = g[i * n + i];
        g[i * n + i] = d + reg(i, d);
    }
    // A sovereign region's Gram is its own counts plus imported k-anonymous counts; dropping
    // the pairs seen by fewer than k users can make it indefinite when the ridge is small. Then
    // retry with an extra ridge of 1%, 4%, 16%, … of the mean diagonal (a plain central Gram
    // plus a positive ridge is always SPD and never takes this path).
    let mean_diag = (0..n).map(|i| g[i * n + i].into()).sum::<f64>() / n.max(1) as f64;
    let mut extra = 0.0;
    let mut attempt = 0;
    let p = loop {
        match crate::linalg::spd_inverse_in(&g, n) {
            Ok(p) => break p,
            Err(source) if attempt >= 6 => return Err(ModelError::Numeric { model, source }),
            Err(_) => {
                let next = mean_diag * 0.01 * 4f64.powi(attempt);
                for i in 0..n {
                    let d: f64 = g[i * n + i].into();
                    g[i * n + i] = T::from_f64(d + (next - extra));
                }
                extra = next;
                attempt += 1;
            }
        }
    };
    drop(g);
    let diag: Vec<f64> = (0..n).map(|i| p[i * n + i].into()).collect();
    let mut b = vec![0.0f32; n * n];
    for j in 0..n {
        for i in 0..n {
            if i != j {
                let pji: f64 = p[j * n + i].into();
                b[j * n + i] = (-pji / diag[i]) as f32;
            }
        }
    }
    Ok(b)
}

/// The planted test data, for tests in other modules.
#[cfg(test)]
pub(crate) fn testutil_planted(
    n_users: usize,
    n_items: usize,
    n_clusters: usize,
    seed: u64,
) -> Interactions {
    testutil::planted(n_users, n_items, n_clusters, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imputed_gram_is_closer_to_the_central_one() {
        // A region of a third of the users imports the other two thirds' k-anonymous counts.
        // Spreading the dropped mass over the unpublished pairs must bring its Gram closer to
        // the Gram of everyone's rows than putting that mass on the diagonal.
        let data = testutil::planted(600, 80, 4, 9);
        let n = data.n_items;
        let central = dense_gram("t", &data, None, false).unwrap();
        let own = data.restrict_users(|u| u % 3 == 0);
        let parts: Vec<ItemAggregates> = (1..3)
            .map(|r| ItemAggregates::publish(&data.restrict_users(|u| u % 3 == r), 8))
            .collect();
        let imp = ItemAggregates::merge(&parts);
        assert!(imp.dropped_mass.iter().any(|&d| d > 0));
        let plain = dense_gram("t", &own, Some(&imp), true).unwrap();
        let imputed = imputed_gram("t", &own, Some(&imp)).unwrap();
        let dist = |g: &[f64]| -> f64 {
            g.iter()
                .zip(&central)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let (d_plain, d_imp) = (dist(&plain), dist(&imputed));
        assert!(d_imp < 0.3 * d_plain, "imputed {d_imp} vs plain {d_plain}");
        // the item counts (diagonal) are the true ones
        for i in 0..n {
            assert_eq!(imputed[i * n + i], central[i * n + i]);
        }
    }

    #[test]
    fn ease_weights_recover_from_an_indefinite_gram() {
        // [[1, 2], [2, 1]] is indefinite (as a k-anonymised Gram can be); the extra ridge
        // makes it SPD and the weights stay finite.
        let b = super::ease_weights("t", vec![1.0, 2.0, 2.0, 1.0], 2, |_, _| 0.0).unwrap();
        assert!(b.iter().all(|v| v.is_finite()));
        assert_eq!(b[0], 0.0);
        assert!(b[1] > 0.0);
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A synthetic data set with planted structure: items form clusters, each user likes one or
    //! two clusters and interacts with random items of them (plus a little noise).
    use crate::data::{Event, Interactions};
    use crate::split::{TestSet, random_split};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    pub fn planted(n_users: usize, n_items: usize, n_clusters: usize, seed: u64) -> Interactions {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let per = n_items / n_clusters;
        let mut rows = Vec::new();
        for _ in 0..n_users {
            let c1 = rng.random_range(0..n_clusters);
            let c2 = rng.random_range(0..n_clusters);
            let n = rng.random_range(12..30);
            let mut row = Vec::new();
            for t in 0..n {
                let item = if rng.random_bool(0.1) {
                    rng.random_range(0..n_items)
                } else {
                    let c = if rng.random_bool(0.7) { c1 } else { c2 };
                    // popular items within a cluster are more likely
                    let r: f64 = rng.random();
                    c * per + ((r * r) * per as f64) as usize
                };
                row.push(Event {
                    item: item as u32,
                    ts: t as i64,
                    weight: 1.0,
                });
            }
            rows.push(row);
        }
        Interactions::from_rows(n_items, rows)
    }

    pub fn split() -> (Interactions, TestSet) {
        random_split(&planted(300, 120, 6, 7), 0.75, 11)
    }

    /// Mean nDCG@10 of a fitted model, masking training items.
    pub fn ndcg(model: &dyn super::Recommender, train: &Interactions, test: &TestSet) -> f64 {
        crate::eval::evaluate_model(model, train, test, 10)
            .expect("evaluate")
            .mean("ndcg@10")
    }

    /// nDCG@10 of a seeded random ranking.
    pub fn random_ndcg(train: &Interactions, test: &TestSet) -> f64 {
        let mut m = Random;
        super::Recommender::fit(&mut m, train).expect("fit");
        ndcg(&m, train, test)
    }

    struct Random;
    impl super::Recommender for Random {
        fn describe(&self) -> String {
            "Random".into()
        }
        fn fit_with(
            &mut self,
            _: &Interactions,
            _: Option<&crate::split::ItemAggregates>,
        ) -> Result<(), super::ModelError> {
            Ok(())
        }
        fn score_user(&self, user: usize, out: &mut [f32]) -> Result<(), super::ModelError> {
            let mut rng = ChaCha8Rng::seed_from_u64(user as u64);
            for v in out.iter_mut() {
                *v = rng.random();
            }
            Ok(())
        }
    }
}
