//! The engagement ranker the For You feed serves with: two logistic models over a small,
//! explainable feature vector, one predicting that a view *completes* and one that the viewer
//! *likes* the video. Trained per region from that region's own view events only, in event
//! order with features computed from what was known *before* each event (no look-ahead).
//!
//! Pure computation: callers extract features from their stores.

use serde::Serialize;

/// Names of the features, in vector order (index 0 is the bias).
pub const FEATURES: [&str; 6] = [
    "bias",
    "hashtag_affinity",
    "creator_affinity",
    "item_completion_rate",
    "item_popularity",
    "item_age",
];
pub const N_FEATURES: usize = FEATURES.len();

pub type Features = [f64; N_FEATURES];

/// A logistic model trained by SGD with L2 regularisation.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Logistic {
    pub weights: Features,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Logistic {
    pub fn predict(&self, x: &Features) -> f64 {
        sigmoid(self.weights.iter().zip(x).map(|(w, v)| w * v).sum())
    }

    /// Fits on `(features, label)` pairs: `epochs` passes of SGD with a decaying step.
    pub fn fit(examples: &[(Features, bool)], epochs: usize, l2: f64) -> Logistic {
        let mut w = [0.0; N_FEATURES];
        let base_rate =
            examples.iter().filter(|(_, y)| *y).count() as f64 / examples.len().max(1) as f64;
        // Start at the base rate so a tiny region still predicts something sensible.
        w[0] = (base_rate.clamp(0.01, 0.99) / (1.0 - base_rate.clamp(0.01, 0.99))).ln();
        let mut step = 0.1;
        for _ in 0..epochs {
            for (x, y) in examples {
                let p = sigmoid(w.iter().zip(x).map(|(a, b)| a * b).sum());
                let g = p - if *y { 1.0 } else { 0.0 };
                for k in 0..N_FEATURES {
                    let reg = if k == 0 { 0.0 } else { l2 * w[k] };
                    w[k] -= step * (g * x[k] + reg);
                }
            }
            step *= 0.7;
        }
        Logistic { weights: w }
    }
}

/// Area under the ROC curve of `scores` for `labels` (0.5 = chance). `None` when one class is
/// missing.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pos = labels.iter().filter(|l| **l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    // Rank-sum with average ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * pairs[i..=j].iter().filter(|p| p.1).count() as f64;
        i = j + 1;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// The two models and how well they did on the held-out tail of the region's events.
#[derive(Clone, Debug, Serialize)]
pub struct EngagementModel {
    /// `<region>-<unix ms of training>`: recorded on every list served with this model.
    pub version: String,
    pub completion: Logistic,
    pub like: Logistic,
    pub trained_on: usize,
    pub held_out: usize,
    pub completion_auc: Option<f64>,
    pub like_auc: Option<f64>,
}

impl EngagementModel {
    /// Trains on the first 80% of `examples` (in event order) and measures AUC on the last 20%,
    /// then refits on everything for serving. Each example: features, completed, liked.
    pub fn train(version: String, examples: &[(Features, bool, bool)]) -> EngagementModel {
        let split = examples.len() * 4 / 5;
        let (train, test) = examples.split_at(split);
        let fit = |rows: &[(Features, bool, bool)], pick: fn(&(Features, bool, bool)) -> bool| {
            let xs: Vec<(Features, bool)> = rows.iter().map(|r| (r.0, pick(r))).collect();
            Logistic::fit(&xs, 4, 1e-4)
        };
        let completed = |r: &(Features, bool, bool)| r.1;
        let liked = |r: &(Features, bool, bool)| r.2;
        let (c, l) = (fit(train, completed), fit(train, liked));
        let eval = |m: &Logistic, pick: fn(&(Features, bool, bool)) -> bool| {
            let scores: Vec<f64> = test.iter().map(|r| m.predict(&r.0)).collect();
            let labels: Vec<bool> = test.iter().map(pick).collect();
            auc(&scores, &labels)
        };
        let (completion_auc, like_auc) = (eval(&c, completed), eval(&l, liked));
        EngagementModel {
            version,
            completion: fit(examples, completed),
            like: fit(examples, liked),
            trained_on: examples.len(),
            held_out: test.len(),
            completion_auc,
            like_auc,
        }
    }

    /// Expected engagement of a candidate: completion counts once, a like twice.
    pub fn engagement(&self, x: &Features) -> f64 {
        self.completion.predict(x) + 2.0 * self.like.predict(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn auc_of_known_orders() {
        assert_eq!(
            auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(auc(&[0.5], &[true]), None);
    }

    #[test]
    fn learns_a_planted_signal() {
        // Completion depends on hashtag affinity; likes on creator affinity.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let examples: Vec<(Features, bool, bool)> = (0..4000)
            .map(|_| {
                let x = [
                    1.0,
                    rng.random_range(-1.0..1.0),
                    rng.random_range(-1.0..1.0),
                    rng.random(),
                    rng.random(),
                    rng.random(),
                ];
                let completed = rng.random::<f64>() < sigmoid(3.0 * x[1]);
                let liked = rng.random::<f64>() < sigmoid(-1.5 + 3.0 * x[2]);
                (x, completed, liked)
            })
            .collect();
        let m = EngagementModel::train("test-1".into(), &examples);
        assert!(m.completion.weights[1] > 1.0, "{:?}", m.completion);
        assert!(m.like.weights[2] > 1.0, "{:?}", m.like);
        assert!(m.completion_auc.unwrap() > 0.75);
        assert!(m.like_auc.unwrap() > 0.7);
        assert_eq!(m.held_out, 800);
    }
}
