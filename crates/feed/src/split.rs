//! Train/test splits, the sovereign region split, and the aggregate item statistics a region
//! may publish to the others.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::{Event, Interactions};
use crate::models::{FactorParams, FactorStats, federated_imports};

/// Per-user held-out items (sorted item ids; empty for users without a test item).
pub type TestSet = Vec<Vec<u32>>;

/// Per-user stratified random split: each user's events are shuffled (ChaCha8 seeded with
/// `seed`) and `round(train_frac · n)` of them go to training, the rest to test. Users with
/// fewer than 2 events keep them all in training.
pub fn random_split(data: &Interactions, train_frac: f64, seed: u64) -> (Interactions, TestSet) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(data.n_users());
    let mut test = Vec::with_capacity(data.n_users());
    for row in &data.rows {
        let mut idx: Vec<usize> = (0..row.len()).collect();
        idx.shuffle(&mut rng);
        let n = row.len();
        let n_train = if n < 2 {
            n
        } else {
            ((train_frac * n as f64).round() as usize).clamp(1, n - 1)
        };
        let mut tr: Vec<Event> = idx[..n_train].iter().map(|&i| row[i]).collect();
        tr.sort_by(|a, b| a.ts.cmp(&b.ts).then(a.item.cmp(&b.item)));
        let mut te: Vec<u32> = idx[n_train..].iter().map(|&i| row[i].item).collect();
        te.sort_unstable();
        train.push(tr);
        test.push(te);
    }
    (
        Interactions {
            n_items: data.n_items,
            rows: train,
        },
        test,
    )
}

/// Per-user temporal leave-last-out: the last event by timestamp (ties: the larger item index,
/// i.e. rows are ordered by (timestamp, item id) and the last one is held out) is the test item.
/// Users with fewer than 2 events keep them all in training.
pub fn leave_last_out(data: &Interactions) -> (Interactions, TestSet) {
    let mut train = Vec::with_capacity(data.n_users());
    let mut test = Vec::with_capacity(data.n_users());
    for row in &data.rows {
        // rows are kept sorted by (ts, item)
        if row.len() < 2 {
            train.push(row.clone());
            test.push(Vec::new());
        } else {
            train.push(row[..row.len() - 1].to_vec());
            test.push(vec![row[row.len() - 1].item]);
        }
    }
    (
        Interactions {
            n_items: data.n_items,
            rows: train,
        },
        test,
    )
}

/// Aggregate item statistics one region publishes for the others: no user ids, no per-user
/// rows. Each count is the number of *distinct users of the publishing region(s)*, and any count
/// below the k-anonymity threshold is dropped before publishing.
///
/// What crosses regions, and why each piece is k-anonymous (the argument the module docs of
/// [`crate::models::Reelm`] rely on):
/// - `item_users`, `pairs`: counts of distinct users, each published only if ≥ k.
/// - `dropped_mass`: per item with ≥ k users, the sum of the counts of its pairs that were
///   dropped. It is a sum over all those pairs, published only for an item that ≥ k users of
///   the region engaged.
/// - `factors` (optional, [`FactorStats`]): per item with ≥ k users of the region, sums over
///   exactly those users of terms of their (home-computed) user vectors, and one sum over all
///   the region's users (published only if they are ≥ k). No per-user vector crosses.
/// - `sources` only keeps the separate publications of a merge apart; it adds nothing that the
///   publications did not already contain.
///
/// Anything an importer derives from these (e.g. [`ItemAggregates::dropped_pair_factors`])
/// is a function of published aggregates only, so it reveals nothing beyond them.
///
/// This is k-anonymity of each published number, the same standard as the counts, not
/// differential privacy: a sum over exactly k people still moves when one of them acts, and
/// the factor protocol publishes such sums once per round (always over the same ≥ k people).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemAggregates {
    pub n_items: usize,
    /// Distinct users per item (0 where fewer than k).
    pub item_users: Vec<u32>,
    /// (i, j, distinct users who interacted with both), i < j, only pairs seen by ≥ k users.
    pub pairs: Vec<(u32, u32, u32)>,
    /// Per item (with ≥ k users): the summed counts of its pairs that were dropped for having
    /// fewer than k users. Adding it to the diagonal keeps the published Gram positive
    /// semi-definite (the dropped entries form a graph whose Laplacian is PSD), so importers
    /// can invert their Gram without a fudge.
    pub dropped_mass: Vec<u32>,
    /// The separate publications this is the sum of ([`ItemAggregates::merge`]); empty for a
    /// single region's own publication. Lets an importer tell which pairs each region dropped.
    pub sources: Vec<ItemAggregates>,
    /// Item-step statistics of the federated factor protocol ([`attach_factor_imports`]).
    pub factors: Option<FactorStats>,
}

impl ItemAggregates {
    /// Computes a region's publishable aggregates from its own training rows.
    pub fn publish(region_train: &Interactions, k: u32) -> Self {
        let n = region_train.n_items;
        let mut item_users = region_train.item_counts();
        for c in &mut item_users {
            if *c < k {
                *c = 0;
            }
        }
        let mut counts: HashMap<(u32, u32), u32> = HashMap::new();
        let mut items: Vec<u32> = Vec::new();
        for row in &region_train.rows {
            items.clear();
            items.extend(row.iter().map(|e| e.item));
            items.sort_unstable();
            for (a, &i) in items.iter().enumerate() {
                for &j in &items[a + 1..] {
                    *counts.entry((i, j)).or_insert(0) += 1;
                }
            }
        }
        let mut dropped_mass = vec![0u32; n];
        let mut pairs: Vec<(u32, u32, u32)> = Vec::new();
        for ((i, j), c) in counts {
            if c >= k {
                pairs.push((i, j, c));
            } else {
                dropped_mass[i as usize] += c;
                dropped_mass[j as usize] += c;
            }
        }
        for (m, &c) in dropped_mass.iter_mut().zip(&item_users) {
            if c == 0 {
                *m = 0;
            }
        }
        pairs.sort_unstable();
        Self {
            n_items: n,
            item_users,
            pairs,
            dropped_mass,
            sources: Vec::new(),
            factors: None,
        }
    }

    /// The separate publications behind `self`: its `sources`, or `self` if it is one.
    pub fn publications(&self) -> Vec<&ItemAggregates> {
        if self.sources.is_empty() {
            vec![self]
        } else {
            self.sources.iter().collect()
        }
    }

    /// Estimates the pair counts this publication dropped (for one region's publication; call
    /// it per entry of [`ItemAggregates::publications`]). We know, per item, their sum
    /// (`dropped_mass`) and which pairs were published; the estimate spreads each item's
    /// dropped mass over its unpublished pairs in proportion to the independence prior
    /// `item_users_i · item_users_j`, scaled by symmetric iterative proportional fitting so
    /// that every row sums to `dropped_mass`: the estimated count of an unpublished pair
    /// (i, j), i ≠ j, is `v_i · v_j` with the returned `v` (0 for items with no dropped mass).
    /// Costs O(iters · (items + published pairs)): the prior is rank one minus the published
    /// pairs, so it scales to a full catalog.
    pub fn dropped_pair_factors(&self, iters: usize) -> Vec<f64> {
        let n = self.n_items;
        let d: Vec<f64> = (0..n)
            .map(|i| {
                let ok = self.item_users.get(i).is_some_and(|&u| u > 0);
                let m = self.dropped_mass.get(i).copied().unwrap_or(0);
                if ok { f64::from(m) } else { 0.0 }
            })
            .collect();
        let total: f64 = d.iter().sum();
        if total <= 0.0 {
            return vec![0.0; n];
        }
        // published partners of each item that also carry dropped mass
        let mut partners: Vec<Vec<u32>> = vec![Vec::new(); n];
        for &(i, j, _) in &self.pairs {
            let (iu, ju) = (i as usize, j as usize);
            if iu < n && ju < n && d[iu] > 0.0 && d[ju] > 0.0 {
                partners[iu].push(j);
                partners[ju].push(i);
            }
        }
        let mut v: Vec<f64> = d.iter().map(|x| x / total.sqrt()).collect();
        for _ in 0..iters {
            let sum: f64 = v.iter().sum();
            let next: Vec<f64> = (0..n)
                .map(|i| {
                    if d[i] <= 0.0 || v[i] <= 0.0 {
                        return 0.0;
                    }
                    let published: f64 = partners[i].iter().map(|&j| v[j as usize]).sum();
                    let row = v[i] * (sum - v[i] - published);
                    if row > 0.0 {
                        v[i] * (d[i] / row).sqrt()
                    } else {
                        0.0
                    }
                })
                .collect();
            v = next;
        }
        v
    }

    /// Sum of several regions' published aggregates.
    pub fn merge(parts: &[ItemAggregates]) -> Self {
        let n = parts.iter().map(|p| p.n_items).max().unwrap_or(0);
        let mut item_users = vec![0u32; n];
        let mut dropped_mass = vec![0u32; n];
        let mut pairs: HashMap<(u32, u32), u32> = HashMap::new();
        for p in parts {
            for (i, c) in p.item_users.iter().enumerate() {
                item_users[i] += c;
            }
            for (i, c) in p.dropped_mass.iter().enumerate() {
                dropped_mass[i] += c;
            }
            for &(i, j, c) in &p.pairs {
                *pairs.entry((i, j)).or_insert(0) += c;
            }
        }
        let mut pairs: Vec<(u32, u32, u32)> =
            pairs.into_iter().map(|((i, j), c)| (i, j, c)).collect();
        pairs.sort_unstable();
        let mut sources = Vec::new();
        let mut factors: Option<FactorStats> = None;
        for p in parts {
            sources.extend(p.publications().into_iter().map(|s| ItemAggregates {
                sources: Vec::new(),
                factors: None,
                ..s.clone()
            }));
            if let Some(f) = &p.factors {
                factors.get_or_insert_with(FactorStats::default).add(f);
            }
        }
        Self {
            n_items: n,
            item_users,
            pairs,
            dropped_mass,
            sources,
            factors,
        }
    }
}

/// One region's view of a split: its own users' training rows and the other regions'
/// published aggregates.
#[derive(Debug, Clone)]
pub struct RegionShare {
    pub region: u8,
    pub train: Interactions,
    pub imported: ItemAggregates,
}

/// Splits a (central) training set into per-region shares. Each share holds only the rows of
/// its own users; what crosses regions is [`ItemAggregates::publish`]ed with threshold `k`.
pub fn sovereign_shares(
    train: &Interactions,
    region_of_user: &[u8],
    n_regions: u8,
    k: u32,
) -> Vec<RegionShare> {
    let own: Vec<Interactions> = (0..n_regions)
        .map(|r| train.restrict_users(|u| region_of_user[u] == r))
        .collect();
    let published: Vec<ItemAggregates> =
        own.iter().map(|t| ItemAggregates::publish(t, k)).collect();
    own.into_iter()
        .enumerate()
        .map(|(r, t)| {
            let others: Vec<ItemAggregates> = published
                .iter()
                .enumerate()
                .filter(|(o, _)| *o != r)
                .map(|(_, a)| a.clone())
                .collect();
            RegionShare {
                region: r as u8,
                train: t,
                imported: ItemAggregates::merge(&others),
            }
        })
        .collect()
}

/// Runs the federated factor protocol ([`crate::models::FactorParams`]) between the shares'
/// regions and attaches each region's import (the sum of the other regions' last published
/// [`FactorStats`], each item's sums from ≥ `k` of that region's users) to its `imported`.
pub fn attach_factor_imports(shares: &mut [RegionShare], params: &FactorParams, k: u32) {
    let own: Vec<Interactions> = shares.iter().map(|s| s.train.clone()).collect();
    let imports = federated_imports(&own, params, k);
    for (s, imp) in shares.iter_mut().zip(imports) {
        s.imported.factors = Some(imp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(n_users: usize, n_items: usize, per_user: usize) -> Interactions {
        let mut rows = Vec::new();
        for u in 0..n_users {
            let row = (0..per_user)
                .map(|k| Event {
                    item: ((u * 7 + k * 13) % n_items) as u32,
                    ts: (k * 10 + u) as i64,
                    weight: 1.0,
                })
                .collect();
            rows.push(row);
        }
        Interactions::from_rows(n_items, rows)
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn random_split_no_leakage_and_75_25() {
        let data = synthetic(50, 200, 20);
        let (train, test) = random_split(&data, 0.75, 3);
        for u in 0..data.n_users() {
            let n = data.rows[u].len();
            assert_eq!(train.rows[u].len() + test[u].len(), n);
            assert_eq!(train.rows[u].len(), (0.75 * n as f64).round() as usize);
            for e in &train.rows[u] {
                assert!(!test[u].contains(&e.item), "item in both train and test");
            }
            let mut all: Vec<u32> = train.rows[u].iter().map(|e| e.item).collect();
            all.extend(&test[u]);
            all.sort_unstable();
            let mut orig: Vec<u32> = data.rows[u].iter().map(|e| e.item).collect();
            orig.sort_unstable();
            assert_eq!(all, orig);
        }
        // seeded: same seed, same split; other seed, other split
        assert_eq!(random_split(&data, 0.75, 3).1, test);
        assert_ne!(random_split(&data, 0.75, 4).1, test);
    }

    #[test]
    fn leave_last_out_takes_latest_with_item_tiebreak() {
        let rows = vec![vec![
            Event {
                item: 5,
                ts: 10,
                weight: 1.0,
            },
            Event {
                item: 2,
                ts: 30,
                weight: 1.0,
            },
            Event {
                item: 9,
                ts: 30,
                weight: 1.0,
            },
            Event {
                item: 1,
                ts: 20,
                weight: 1.0,
            },
        ]];
        let data = Interactions::from_rows(10, rows);
        let (train, test) = leave_last_out(&data);
        assert_eq!(test[0], vec![9]);
        assert_eq!(train.rows[0].len(), 3);
        assert!(train.rows[0].iter().all(|e| e.item != 9));
    }

    #[test]
    fn aggregates_k_anonymity() {
        // 5 users share items 0 and 1; 2 users share items 2 and 3.
        let mut rows = Vec::new();
        for _ in 0..5 {
            rows.push(vec![0u32, 1]);
        }
        for _ in 0..2 {
            rows.push(vec![2u32, 3]);
        }
        let rows = rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|item| Event {
                        item,
                        ts: 0,
                        weight: 1.0,
                    })
                    .collect()
            })
            .collect();
        let data = Interactions::from_rows(4, rows);
        let agg = ItemAggregates::publish(&data, 5);
        assert_eq!(agg.item_users, vec![5, 5, 0, 0]);
        assert_eq!(agg.pairs, vec![(0, 1, 5)]);
        // items 2 and 3 have < k users: nothing about them is published
        assert_eq!(agg.dropped_mass, vec![0, 0, 0, 0]);
        let merged = ItemAggregates::merge(&[agg.clone(), agg]);
        assert_eq!(merged.item_users, vec![10, 10, 0, 0]);
        assert_eq!(merged.pairs, vec![(0, 1, 10)]);
    }

    #[test]
    fn dropped_pair_estimate_matches_each_items_dropped_mass() {
        let data = crate::models::testutil_planted(200, 60, 4, 5);
        let agg = ItemAggregates::publish(&data, 6);
        let n = agg.n_items;
        let v = agg.dropped_pair_factors(40);
        let published: std::collections::HashSet<(u32, u32)> =
            agg.pairs.iter().map(|&(i, j, _)| (i, j)).collect();
        let (mut err, mut total) = (0.0, 0.0);
        for i in 0..n {
            let row: f64 = (0..n)
                .filter(|&j| j != i && !published.contains(&(i.min(j) as u32, i.max(j) as u32)))
                .map(|j| v[i] * v[j])
                .sum();
            let d = f64::from(agg.dropped_mass[i]);
            if d == 0.0 {
                assert_eq!(v[i], 0.0, "item {i} has no dropped mass");
            }
            err += (row - d).abs();
            total += d;
        }
        assert!(
            total > 0.0,
            "the planted data must drop some pairs at k = 6"
        );
        assert!(err / total < 1e-3, "relative error {}", err / total);
    }

    #[test]
    fn merge_keeps_each_publication_apart() {
        let data = synthetic(60, 40, 12);
        let a = ItemAggregates::publish(&data.restrict_users(|u| u % 2 == 0), 2);
        let b = ItemAggregates::publish(&data.restrict_users(|u| u % 2 == 1), 2);
        let m = ItemAggregates::merge(&[a.clone(), b.clone()]);
        assert_eq!(m.publications(), vec![&a, &b]);
        assert_eq!(a.publications(), vec![&a]);
        // merging a merge flattens
        let c = ItemAggregates::publish(&data, 3);
        let mm = ItemAggregates::merge(&[m, c.clone()]);
        assert_eq!(mm.publications(), vec![&a, &b, &c]);
    }

    #[test]
    fn factor_imports_are_attached_per_region_and_k_anonymous() {
        let data = synthetic(60, 40, 12);
        let (train, _) = random_split(&data, 0.75, 1);
        let region: Vec<u8> = (0..60).map(|u| (u % 3) as u8).collect();
        let mut shares = sovereign_shares(&train, &region, 3, 4);
        let p = FactorParams {
            factors: 4,
            rounds: 3,
            ..FactorParams::default()
        };
        attach_factor_imports(&mut shares, &p, 4);
        for s in &shares {
            let f = s.imported.factors.as_ref().expect("attached");
            assert_eq!(f.factors, 4);
            // each item's imported sums come from ≥ k users of each other region, or none
            for r in (0..3u8).filter(|r| *r != s.region) {
                let counts = train.restrict_users(|u| region[u] == r).item_counts();
                for (i, &c) in counts.iter().enumerate() {
                    if c < 4 {
                        // this region contributed nothing for item i
                        let other = 3 - s.region - r;
                        let oc = train.restrict_users(|u| region[u] == other).item_counts()[i];
                        let expect = if oc >= 4 { oc } else { 0 };
                        assert_eq!(f.item_users[i], expect, "item {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn sovereign_share_holds_only_own_users_rows() {
        let data = synthetic(60, 40, 12);
        let (train, _) = random_split(&data, 0.75, 1);
        let region: Vec<u8> = (0..60).map(|u| (u % 3) as u8).collect();
        let shares = sovereign_shares(&train, &region, 3, 2);
        assert_eq!(shares.len(), 3);
        let mut seen_rows = 0;
        for s in &shares {
            assert_eq!(s.train.n_users(), train.n_users());
            for (u, row) in s.train.rows.iter().enumerate() {
                if region[u] == s.region {
                    // own users: exactly their training rows
                    assert_eq!(row, &train.rows[u]);
                    seen_rows += row.len();
                } else {
                    // any other region's user: nothing at all
                    assert!(row.is_empty(), "region {} got user {u}'s rows", s.region);
                }
            }
            // the import is exactly the sum of the other regions' published aggregates, each
            // computed on that region's rows alone
            let others: Vec<ItemAggregates> = (0..3u8)
                .filter(|r| *r != s.region)
                .map(|r| ItemAggregates::publish(&train.restrict_users(|u| region[u] == r), 2))
                .collect();
            assert_eq!(s.imported, ItemAggregates::merge(&others));
            assert!(s.imported.pairs.iter().all(|p| p.2 >= 2));
        }
        assert_eq!(seen_rows, train.n_interactions());
    }
}
