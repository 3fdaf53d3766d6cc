//! ItemKNN with cosine similarity (Sarwar et al. 2001; Deshpande & Karypis 2004):
//! `sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|)`, each item keeps its `k` most similar items,
//! and a user's score for item `i` is the sum of `sim(j, i)` over history items `j` that have
//! `i` among their neighbours.

use super::{ModelError, Recommender, dense_gram};
use crate::data::Interactions;
use crate::split::ItemAggregates;

#[derive(Debug, Clone)]
pub struct ItemKnn {
    pub k: usize,
    neighbours: Vec<Vec<(u32, f32)>>,
    history: Vec<Vec<u32>>,
}

impl ItemKnn {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            neighbours: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Hyper-parameter grid searched on the validation split.
    pub fn grid() -> Vec<Self> {
        [5, 10, 20, 50, 100, 200]
            .into_iter()
            .map(Self::new)
            .collect()
    }
}

/// Keeps the `k` entries of `row` with the largest value (ties: lower index), excluding `skip`.
pub(crate) fn top_k_row(row: &[f32], k: usize, skip: usize, by_abs: bool) -> Vec<(u32, f32)> {
    let key = |v: f32| if by_abs { v.abs() } else { v };
    let mut idx: Vec<u32> = (0..row.len() as u32)
        .filter(|&i| i as usize != skip && row[i as usize] != 0.0)
        .collect();
    let cmp = |a: &u32, b: &u32| {
        key(row[*b as usize])
            .total_cmp(&key(row[*a as usize]))
            .then(a.cmp(b))
    };
    if idx.len() > k {
        idx.select_nth_unstable_by(k, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx.into_iter().map(|i| (i, row[i as usize])).collect()
}

impl Recommender for ItemKnn {
    fn describe(&self) -> String {
        format!("ItemKNN(cosine, k={})", self.k)
    }

    fn fit_with(
        &mut self,
        train: &Interactions,
        imported: Option<&ItemAggregates>,
    ) -> Result<(), ModelError> {
        let n = train.n_items;
        let g = dense_gram("ItemKNN", train, imported, false)?;
        let norm: Vec<f64> = (0..n).map(|i| g[i * n + i].sqrt()).collect();
        let mut row = vec![0.0f32; n];
        self.neighbours = (0..n)
            .map(|j| {
                for i in 0..n {
                    let d = norm[i] * norm[j];
                    row[i] = if d > 0.0 {
                        (g[j * n + i] / d) as f32
                    } else {
                        0.0
                    };
                }
                top_k_row(&row, self.k, j, false)
            })
            .collect();
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
            .ok_or(ModelError::NotFitted("ItemKNN"))?;
        out.fill(0.0);
        for &j in hist {
            for &(i, s) in &self.neighbours[j as usize] {
                out[i as usize] += s;
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
    fn top_k_row_picks_largest() {
        let r = [0.1, 0.9, -2.0, 0.5, 0.0];
        assert_eq!(top_k_row(&r, 2, 1, false), vec![(3, 0.5), (0, 0.1)]);
        assert_eq!(top_k_row(&r, 1, 1, true), vec![(2, -2.0)]);
    }

    #[test]
    fn beats_random_on_planted_data() {
        let (train, test) = split();
        let mut m = ItemKnn::new(20);
        m.fit(&train).unwrap();
        let (got, rnd) = (ndcg(&m, &train, &test), random_ndcg(&train, &test));
        assert!(got > rnd * 2.0, "ItemKNN {got} vs random {rnd}");
    }
}
