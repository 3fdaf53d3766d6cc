//! EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): item-item weights in closed form,
//! `B = I − P · diagMat(1 / diag(P))` with `P = (XᵀX + λI)⁻¹` and a zero diagonal.

use super::{ModelError, Recommender, dense_gram, ease_weights};
use crate::data::Interactions;
use crate::split::ItemAggregates;

#[derive(Debug, Clone)]
pub struct Ease {
    pub lambda: f64,
    n: usize,
    b: Vec<f32>,
    history: Vec<Vec<u32>>,
}

impl Ease {
    pub fn new(lambda: f64) -> Self {
        Self {
            lambda,
            n: 0,
            b: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Hyper-parameter grid searched on the validation split.
    pub fn grid() -> Vec<Self> {
        [50.0, 100.0, 200.0, 400.0, 800.0, 1600.0]
            .into_iter()
            .map(Self::new)
            .collect()
    }
}

impl Recommender for Ease {
    fn describe(&self) -> String {
        format!("EASE(lambda={})", self.lambda)
    }

    fn fit_with(
        &mut self,
        train: &Interactions,
        imported: Option<&ItemAggregates>,
    ) -> Result<(), ModelError> {
        let n = train.n_items;
        let g = dense_gram("EASE", train, imported, true)?;
        let lambda = self.lambda;
        self.b = ease_weights("EASE", g, n, |_, _| lambda)?;
        self.n = n;
        self.history = train
            .rows
            .iter()
            .map(|r| r.iter().map(|e| e.item).collect())
            .collect();
        Ok(())
    }

    fn score_user(&self, user: usize, out: &mut [f32]) -> Result<(), ModelError> {
        let hist = self
            .history
            .get(user)
            .ok_or(ModelError::NotFitted("EASE"))?;
        out.fill(0.0);
        let n = self.n;
        for &j in hist {
            let row = &self.b[j as usize * n..j as usize * n + n];
            for (o, w) in out.iter_mut().zip(row) {
                *o += w;
            }
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
        let mut m = Ease::new(50.0);
        m.fit(&train).unwrap();
        let (got, rnd) = (ndcg(&m, &train, &test), random_ndcg(&train, &test));
        assert!(got > rnd * 2.0, "EASE {got} vs random {rnd}");
    }

    #[test]
    fn weights_solve_the_constrained_least_squares() {
        // With zero diagonal, column i of B is the ridge regression of item i on the others:
        // (G_{-i,-i} + λI) b = G_{-i,i}. Check on a tiny dense example.
        let (train, _) = split();
        let mut small = train.clone();
        small.n_items = 120;
        let mut m = Ease::new(10.0);
        m.fit(&small).unwrap();
        let g = dense_gram("t", &small, None, false).unwrap();
        let n = 120;
        let i = 3usize;
        for r in [0usize, 7, 50] {
            if r == i {
                continue;
            }
            // row r of the normal equations, restricted to j != i
            let lhs: f64 = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let a = g[r * n + j] + if r == j { 10.0 } else { 0.0 };
                    a * f64::from(m.b[j * n + i])
                })
                .sum();
            assert!(
                (lhs - g[r * n + i]).abs() < 1e-2,
                "{lhs} vs {}",
                g[r * n + i]
            );
        }
    }
}
