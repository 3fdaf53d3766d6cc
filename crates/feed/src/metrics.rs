//! Top-k ranking metrics with binary relevance, per user; the harness averages over users that
//! have at least one test item.
//!
//! Definitions (`ranked` = the model's top-k list, `rel` = the user's held-out items, `hit(i)` =
//! 1 if the item at 1-based rank i is in `rel`):
//! - Precision@k = Σ hit(i) / k (k, not the list length, as in Microsoft Recommenders).
//! - Recall@k = Σ hit(i) / |rel|.
//! - nDCG@k = DCG / IDCG, DCG = Σ hit(i) / log2(i + 1), IDCG = Σ_{i ≤ min(k, |rel|)} 1 / log2(i + 1).
//! - MAP@k, as Microsoft Recommenders' `map_at_k` (after Spark's `RankingMetrics`):
//!   AP@k = Σ_i hit(i) · (hits in ranks 1..=i) / i, divided by min(|rel|, k).
//! - MAP (Microsoft Recommenders' `map`, which their published ML-100K table used): the same
//!   sum over the top k, divided by |rel| instead of min(|rel|, k).
//! - HR@k = 1 if any held-out item is in the top k.

/// Sum of precisions at the hit positions in the top k.
fn ap_sum(ranked: &[u32], rel: &[u32], k: usize) -> f64 {
    let mut hits = 0usize;
    let mut s = 0.0;
    for (i, it) in ranked.iter().take(k).enumerate() {
        if rel.contains(it) {
            hits += 1;
            s += hits as f64 / (i + 1) as f64;
        }
    }
    s
}

fn hits(ranked: &[u32], rel: &[u32], k: usize) -> usize {
    ranked.iter().take(k).filter(|i| rel.contains(i)).count()
}

pub fn precision_at_k(ranked: &[u32], rel: &[u32], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    hits(ranked, rel, k) as f64 / k as f64
}

pub fn recall_at_k(ranked: &[u32], rel: &[u32], k: usize) -> f64 {
    if rel.is_empty() {
        return 0.0;
    }
    hits(ranked, rel, k) as f64 / rel.len() as f64
}

pub fn ndcg_at_k(ranked: &[u32], rel: &[u32], k: usize) -> f64 {
    if rel.is_empty() || k == 0 {
        return 0.0;
    }
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, it)| rel.contains(it))
        .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
        .sum();
    let idcg: f64 = (0..rel.len().min(k))
        .map(|i| 1.0 / ((i + 2) as f64).log2())
        .sum();
    dcg / idcg
}

pub fn map_at_k(ranked: &[u32], rel: &[u32], k: usize) -> f64 {
    if rel.is_empty() || k == 0 {
        return 0.0;
    }
    ap_sum(ranked, rel, k) / rel.len().min(k) as f64
}

pub fn map_full(ranked: &[u32], rel: &[u32], k: usize) -> f64 {
    if rel.is_empty() {
        return 0.0;
    }
    ap_sum(ranked, rel, k) / rel.len() as f64
}

pub fn hit_rate_at_k(ranked: &[u32], rel: &[u32], k: usize) -> f64 {
    if hits(ranked, rel, k) > 0 { 1.0 } else { 0.0 }
}

/// Indices of the `k` largest scores, best first; ties broken by lower index. Items whose score
/// is `-inf` (excluded) are never returned.
pub fn top_k(scores: &[f32], k: usize) -> Vec<u32> {
    let better = |a: u32, b: u32| {
        let (sa, sb) = (scores[a as usize], scores[b as usize]);
        sa > sb || (sa == sb && a < b)
    };
    let mut top: Vec<u32> = Vec::with_capacity(k + 1);
    for (i, &s) in scores.iter().enumerate() {
        if s == f32::NEG_INFINITY || s.is_nan() {
            continue;
        }
        let i = i as u32;
        if top.len() == k {
            match top.last() {
                Some(&worst) if better(i, worst) => {}
                _ => continue,
            }
            top.pop();
        }
        let pos = top.iter().position(|&t| better(i, t)).unwrap_or(top.len());
        top.insert(pos, i);
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approx(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    #[test]
    fn hand_computed() {
        // ranked: 5 1 7 3 9 ; relevant: {1, 3, 4}; k = 5
        let ranked = [5, 1, 7, 3, 9];
        let rel = [1, 3, 4];
        approx(precision_at_k(&ranked, &rel, 5), 2.0 / 5.0);
        approx(recall_at_k(&ranked, &rel, 5), 2.0 / 3.0);
        // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/log2(4)
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        approx(ndcg_at_k(&ranked, &rel, 5), dcg / idcg);
        // AP sum = 1/2 + 2/4 = 1.0; min(|rel|, k) = 3
        approx(map_at_k(&ranked, &rel, 5), 1.0 / 3.0);
        approx(map_full(&ranked, &rel, 5), 1.0 / 3.0);
        // k = 2: only item 1 at rank 2 -> AP sum 1/2, min(3, 2) = 2
        approx(map_at_k(&ranked, &rel, 2), 0.25);
        approx(map_full(&ranked, &rel, 2), 1.0 / 6.0);
        approx(hit_rate_at_k(&ranked, &rel, 1), 0.0);
        approx(hit_rate_at_k(&ranked, &rel, 2), 1.0);
        // perfect ranking
        approx(ndcg_at_k(&[4, 3, 1], &rel, 10), 1.0);
        approx(map_at_k(&[4, 3, 1], &rel, 10), 1.0);
        // single test item at rank 3: nDCG = 1/log2(4) = 0.5
        approx(ndcg_at_k(&[8, 9, 2], &[2], 10), 0.5);
        approx(ndcg_at_k(&[8, 9, 2], &[], 10), 0.0);
    }

    #[test]
    fn top_k_order_ties_and_exclusions() {
        let s = [0.5, 2.0, f32::NEG_INFINITY, 2.0, -1.0, 3.0];
        assert_eq!(top_k(&s, 3), vec![5, 1, 3]);
        assert_eq!(top_k(&s, 10), vec![5, 1, 3, 0, 4]);
        assert!(top_k(&s, 0).is_empty());
    }
}
