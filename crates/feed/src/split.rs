//! Train/test splits, the sovereign region split, and the aggregate item statistics a region
//! may publish to the others.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::{Event, Interactions};

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
        }
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
        Self {
            n_items: n,
            item_users,
            pairs,
            dropped_mass,
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
