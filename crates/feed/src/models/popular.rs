//! MostPopular: every user gets the items with the most distinct users in training (plus
//! imported aggregate counts in a sovereign region).

use super::{ModelError, Recommender};
use crate::data::Interactions;
use crate::split::ItemAggregates;

#[derive(Debug, Clone, Default)]
pub struct MostPopular {
    counts: Vec<f32>,
}

impl MostPopular {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Recommender for MostPopular {
    fn describe(&self) -> String {
        "MostPopular".into()
    }

    fn fit_with(
        &mut self,
        train: &Interactions,
        imported: Option<&ItemAggregates>,
    ) -> Result<(), ModelError> {
        let mut c = train.item_counts();
        if let Some(a) = imported {
            for (x, y) in c.iter_mut().zip(&a.item_users) {
                *x += y;
            }
        }
        self.counts = c.into_iter().map(|v| v as f32).collect();
        Ok(())
    }

    fn score_user(&self, _user: usize, out: &mut [f32]) -> Result<(), ModelError> {
        if self.counts.len() != out.len() {
            return Err(ModelError::NotFitted("MostPopular"));
        }
        out.copy_from_slice(&self.counts);
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
        let mut m = MostPopular::new();
        m.fit(&train).unwrap();
        let (got, rnd) = (ndcg(&m, &train, &test), random_ndcg(&train, &test));
        assert!(got > rnd * 1.5, "MostPopular {got} vs random {rnd}");
    }
}
