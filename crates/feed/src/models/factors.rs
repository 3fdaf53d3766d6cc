//! Item factors for reelm's low-rank term: implicit alternating least squares (Hu, Koren &
//! Volinsky 2008) with exact per-user and per-item solves, arranged so that the item step needs
//! only *sums over users*. That is what lets sovereign regions learn one shared factor basis
//! without moving anyone's rows (federated ALS, Ammad-ud-din et al. 2019): every region keeps
//! its people's user vectors at home and publishes, per item, the sums of its users' terms,
//! each from at least k distinct people ([`FactorStats::publish`]).
//!
//! Model: minimise Σ_{u,i} c_ui (p_ui − x_uᵀ y_i)² + reg (Σ‖x_u‖² + Σ‖y_i‖²) with p_ui = 1 for
//! observed pairs (0 otherwise) and confidence c_ui = 1 + α·w_ui for observed pairs, 1 otherwise.
//! - User step (at home, and at request time for serving): `x_u = (YᵀY + reg·I + Σ_{i∈u}
//!   α w_ui y_i y_iᵀ)⁻¹ Σ_{i∈u} (1 + α w_ui) y_i` — an f×f solve over the person's history.
//! - Item step: `y_i = (Σ_u x_u x_uᵀ + Σ_{u∋i} α w_ui x_u x_uᵀ + reg·I)⁻¹ Σ_{u∋i} (1 + α w_ui) x_u`:
//!   the three sums are additive over users, hence over regions.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::{Event, Interactions};
use crate::linalg::spd_solve;

/// Parameters of the factor model. In a sovereign deployment they are part of the protocol the
/// regions agree on (they are not personal data), so they are fixed, not tuned per region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FactorParams {
    pub factors: usize,
    pub reg: f64,
    pub alpha: f64,
    /// Alternations (item step + user step) of a fit from scratch, and protocol rounds of the
    /// federated fit.
    pub rounds: usize,
    /// Alternations of a region's final local fit on top of imported statistics.
    pub local_rounds: usize,
    pub seed: u64,
}

impl Default for FactorParams {
    fn default() -> Self {
        Self {
            factors: 32,
            reg: 50.0,
            alpha: 15.0,
            rounds: 8,
            local_rounds: 4,
            seed: 42,
        }
    }
}

/// The sufficient statistics of the item step, summed over some set of users.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FactorStats {
    pub factors: usize,
    pub n_items: usize,
    /// Distinct users behind `gram`.
    pub users: u32,
    /// Σ_u x_u x_uᵀ (f×f, row-major).
    pub gram: Vec<f64>,
    /// Distinct users per item behind `a` and `b`.
    pub item_users: Vec<u32>,
    /// Per item: Σ_{u∋i} α w_ui x_u x_uᵀ (n_items × f × f).
    pub a: Vec<f64>,
    /// Per item: Σ_{u∋i} (1 + α w_ui) x_u (n_items × f).
    pub b: Vec<f64>,
}

impl FactorStats {
    pub fn zeros(n_items: usize, factors: usize) -> Self {
        Self {
            factors,
            n_items,
            users: 0,
            gram: vec![0.0; factors * factors],
            item_users: vec![0; n_items],
            a: vec![0.0; n_items * factors * factors],
            b: vec![0.0; n_items * factors],
        }
    }

    /// The statistics of `train`'s users given item factors `y`; also returns the user vectors.
    pub fn local(train: &Interactions, y: &[f64], p: &FactorParams) -> (Self, Vec<Vec<f64>>) {
        let f = p.factors;
        let n = train.n_items;
        let mut s = Self::zeros(n, f);
        let base = gram_plus_reg(y, f, p.reg);
        let mut xs = Vec::with_capacity(train.n_users());
        for row in &train.rows {
            let x = user_vector(y, &base, f, row, p.alpha);
            if !row.is_empty() {
                s.users += 1;
                add_outer(&mut s.gram, &x, &x, 1.0);
                for e in row {
                    let i = e.item as usize;
                    let w = f64::from(e.weight);
                    s.item_users[i] += 1;
                    add_outer(&mut s.a[i * f * f..(i + 1) * f * f], &x, &x, p.alpha * w);
                    for (bb, xx) in s.b[i * f..(i + 1) * f].iter_mut().zip(&x) {
                        *bb += (1.0 + p.alpha * w) * xx;
                    }
                }
            }
            xs.push(x);
        }
        (s, xs)
    }

    /// What a region may publish: the per-item sums of items engaged by at least `k` of its
    /// users (others zeroed, count 0), and the user Gram only if it sums at least `k` users.
    pub fn publish(&self, k: u32) -> Self {
        let f = self.factors;
        let mut out = self.clone();
        for i in 0..self.n_items {
            if out.item_users[i] < k {
                out.item_users[i] = 0;
                out.a[i * f * f..(i + 1) * f * f].fill(0.0);
                out.b[i * f..(i + 1) * f].fill(0.0);
            }
        }
        if out.users < k {
            out.users = 0;
            out.gram.fill(0.0);
        }
        out
    }

    /// Adds `other` (same shape) into `self`; a zero-sized `self` takes `other`'s shape.
    pub fn add(&mut self, other: &FactorStats) {
        if self.factors == 0 && self.n_items == 0 {
            *self = Self::zeros(other.n_items, other.factors);
        }
        if self.factors != other.factors || self.n_items != other.n_items {
            return;
        }
        self.users += other.users;
        for (a, b) in self.gram.iter_mut().zip(&other.gram) {
            *a += b;
        }
        for (a, b) in self.item_users.iter_mut().zip(&other.item_users) {
            *a += b;
        }
        for (a, b) in self.a.iter_mut().zip(&other.a) {
            *a += b;
        }
        for (a, b) in self.b.iter_mut().zip(&other.b) {
            *a += b;
        }
    }

    /// The item step: item factors from these (summed) statistics. Items nobody engaged get 0.
    pub fn solve_items(&self, reg: f64) -> Vec<f64> {
        let f = self.factors;
        let mut y = vec![0.0; self.n_items * f];
        let mut m = vec![0.0; f * f];
        for i in 0..self.n_items {
            if self.item_users[i] == 0 {
                continue;
            }
            for (k, v) in m.iter_mut().enumerate() {
                *v = self.gram[k] + self.a[i * f * f + k];
            }
            for d in 0..f {
                m[d * f + d] += reg;
            }
            let yi = &mut y[i * f..(i + 1) * f];
            yi.copy_from_slice(&self.b[i * f..(i + 1) * f]);
            // gram + reg·I is SPD for reg > 0, and `a` adds a PSD sum
            if spd_solve(&m, f, yi).is_err() {
                yi.fill(0.0);
            }
        }
        y
    }
}

/// `m += s · u vᵀ` for an f×f row-major `m`.
fn add_outer(m: &mut [f64], u: &[f64], v: &[f64], s: f64) {
    let f = u.len();
    for (a, ua) in u.iter().enumerate() {
        let su = s * ua;
        for (mm, vb) in m[a * f..(a + 1) * f].iter_mut().zip(v) {
            *mm += su * vb;
        }
    }
}

/// `YᵀY + reg·I` (f×f).
pub fn gram_plus_reg(y: &[f64], f: usize, reg: f64) -> Vec<f64> {
    let mut g = vec![0.0; f * f];
    for yi in y.chunks_exact(f) {
        add_outer(&mut g, yi, yi, 1.0);
    }
    for d in 0..f {
        g[d * f + d] += reg;
    }
    g
}

/// The user step for one history: `(base + Σ α w y yᵀ)⁻¹ Σ (1 + α w) y` with `base = YᵀY +
/// reg·I`. An empty history (or a singular system, which `reg > 0` rules out) gives 0.
pub fn user_vector(y: &[f64], base: &[f64], f: usize, history: &[Event], alpha: f64) -> Vec<f64> {
    let mut x = vec![0.0; f];
    if history.is_empty() || f == 0 {
        return x;
    }
    let mut m = base.to_vec();
    for e in history {
        let i = e.item as usize;
        let Some(yi) = y.get(i * f..(i + 1) * f) else {
            continue;
        };
        let w = f64::from(e.weight);
        add_outer(&mut m, yi, yi, alpha * w);
        for (xx, yy) in x.iter_mut().zip(yi) {
            *xx += (1.0 + alpha * w) * yy;
        }
    }
    if spd_solve(&m, f, &mut x).is_err() {
        x.fill(0.0);
    }
    x
}

/// Item factors fitted on `train`'s own rows plus, if given, statistics imported from other
/// regions (held fixed). From scratch (no import) the factors start random and alternate
/// `rounds` times; on top of an import they start from the imported item step and alternate
/// `local_rounds` times. Returns the item factors and the user vectors of `train`'s users.
pub fn fit_local(
    train: &Interactions,
    imported: Option<&FactorStats>,
    p: &FactorParams,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let f = p.factors;
    let n = train.n_items;
    let usable = imported.filter(|s| s.factors == f && s.n_items == n);
    let (mut y, rounds) = match usable {
        Some(s) => (s.solve_items(p.reg), p.local_rounds),
        None => (random_factors(n, f, p.seed), p.rounds),
    };
    for _ in 0..rounds {
        let (mut total, _) = FactorStats::local(train, &y, p);
        if let Some(s) = usable {
            total.add(s);
        }
        y = total.solve_items(p.reg);
    }
    let base = gram_plus_reg(&y, f, p.reg);
    let xs = train
        .rows
        .iter()
        .map(|r| user_vector(&y, &base, f, r, p.alpha))
        .collect();
    (y, xs)
}

fn random_factors(n: usize, f: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let scale = 0.1 / (f.max(1) as f64).sqrt();
    (0..n * f)
        .map(|_| (rng.random::<f64>() - 0.5) * scale)
        .collect()
}

/// The federated protocol over regions' own training rows: all regions start from the same
/// seeded item factors; each round every region computes its users' vectors at home, publishes
/// [`FactorStats::publish`]`(k)` of its statistics, and updates its item factors from its own
/// full statistics plus the others' publications. Returns, per region, the sum of the other
/// regions' publications of the last round: the region's import.
pub fn federated_imports(own: &[Interactions], p: &FactorParams, k: u32) -> Vec<FactorStats> {
    let Some(first) = own.first() else {
        return Vec::new();
    };
    let (n, f) = (first.n_items, p.factors);
    let mut ys: Vec<Vec<f64>> = vec![random_factors(n, f, p.seed); own.len()];
    let mut imports = vec![FactorStats::zeros(n, f); own.len()];
    for _ in 0..p.rounds.max(1) {
        // each region's home computation runs on its own thread
        let local: Vec<FactorStats> = std::thread::scope(|scope| {
            let handles: Vec<_> = own
                .iter()
                .zip(&ys)
                .map(|(t, y)| scope.spawn(move || FactorStats::local(t, y, p).0))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let published: Vec<FactorStats> = local.iter().map(|s| s.publish(k)).collect();
        for (r, slot) in imports.iter_mut().enumerate() {
            let mut imp = FactorStats::zeros(n, f);
            for (o, s) in published.iter().enumerate() {
                if o != r {
                    imp.add(s);
                }
            }
            *slot = imp;
        }
        ys = std::thread::scope(|scope| {
            let handles: Vec<_> = local
                .iter()
                .zip(&imports)
                .map(|(l, imp)| {
                    scope.spawn(move || {
                        let mut total = l.clone();
                        total.add(imp);
                        total.solve_items(p.reg)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
    }
    imports
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn small() -> FactorParams {
        FactorParams {
            factors: 6,
            reg: 2.0,
            alpha: 5.0,
            rounds: 8,
            local_rounds: 3,
            seed: 1,
        }
    }

    #[test]
    fn user_vector_solves_the_normal_equations() {
        let (train, _) = split();
        let p = small();
        let (y, xs) = fit_local(&train, None, &p);
        let f = p.factors;
        let u = 5;
        let x = &xs[u];
        // residual of (YᵀY + reg I + Σ α y yᵀ) x − Σ (1 + α) y
        let mut m = gram_plus_reg(&y, f, p.reg);
        let mut rhs = vec![0.0; f];
        for e in &train.rows[u] {
            let yi = &y[e.item as usize * f..(e.item as usize + 1) * f];
            add_outer(&mut m, yi, yi, p.alpha);
            for (r, v) in rhs.iter_mut().zip(yi) {
                *r += (1.0 + p.alpha) * v;
            }
        }
        for a in 0..f {
            let lhs: f64 = (0..f).map(|b| m[a * f + b] * x[b]).sum();
            assert!((lhs - rhs[a]).abs() < 1e-8, "{lhs} vs {}", rhs[a]);
        }
    }

    #[test]
    fn statistics_add_over_user_partitions() {
        // The item step from the sum of two halves' statistics equals the one from all users.
        let (train, _) = split();
        let p = small();
        let (y, _) = fit_local(&train, None, &p);
        let (all, _) = FactorStats::local(&train, &y, &p);
        let even = train.restrict_users(|u| u % 2 == 0);
        let odd = train.restrict_users(|u| u % 2 == 1);
        let mut sum = FactorStats::local(&even, &y, &p).0;
        sum.add(&FactorStats::local(&odd, &y, &p).0);
        assert_eq!(sum.item_users, all.item_users);
        for (a, b) in sum.solve_items(p.reg).iter().zip(all.solve_items(p.reg)) {
            assert!((a - b).abs() < 1e-9);
        }
    }

    #[test]
    fn publish_drops_items_with_fewer_than_k_users() {
        let (train, _) = split();
        let p = small();
        let (y, _) = fit_local(&train, None, &p);
        let (s, _) = FactorStats::local(&train, &y, &p);
        let k = 30;
        let pubd = s.publish(k);
        let f = p.factors;
        let mut dropped = 0;
        for i in 0..s.n_items {
            if s.item_users[i] < k {
                dropped += 1;
                assert_eq!(pubd.item_users[i], 0);
                assert!(pubd.a[i * f * f..(i + 1) * f * f].iter().all(|v| *v == 0.0));
                assert!(pubd.b[i * f..(i + 1) * f].iter().all(|v| *v == 0.0));
            } else {
                assert_eq!(pubd.b[i * f..(i + 1) * f], s.b[i * f..(i + 1) * f]);
            }
        }
        assert!(dropped > 0 && dropped < s.n_items, "{dropped}");
        // a region with fewer than k users publishes no user Gram
        assert!(s.publish(s.users + 1).gram.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn federated_factors_rank_like_central_ones() {
        // Three "regions" of the planted data: the federated factors (k = 1, nothing dropped)
        // should rank a region's users about as well as factors fitted on everyone.
        let (train, test) = split();
        let p = small();
        let own: Vec<Interactions> = (0..3)
            .map(|r| train.restrict_users(|u| u % 3 == r))
            .collect();
        let imports = federated_imports(&own, &p, 1);
        let score = |y: &[f64], xs: &[Vec<f64>], users: &dyn Fn(usize) -> bool| {
            let f = p.factors;
            let mut hits = 0usize;
            for (u, rel) in test.iter().enumerate() {
                if rel.is_empty() || !users(u) {
                    continue;
                }
                let mut s: Vec<f32> = (0..train.n_items)
                    .map(|i| {
                        y[i * f..(i + 1) * f]
                            .iter()
                            .zip(&xs[u])
                            .map(|(a, b)| a * b)
                            .sum::<f64>() as f32
                    })
                    .collect();
                for e in &train.rows[u] {
                    s[e.item as usize] = f32::NEG_INFINITY;
                }
                hits += crate::metrics::top_k(&s, 10)
                    .iter()
                    .filter(|i| rel.contains(i))
                    .count();
            }
            hits
        };
        let (yc, xc) = fit_local(&train, None, &p);
        let mut central = 0;
        let mut fed = 0;
        let mut alone = 0;
        for (r, t) in own.iter().enumerate() {
            let mine = move |u: usize| u % 3 == r;
            central += score(&yc, &xc, &mine);
            let (yf, xf) = fit_local(t, Some(&imports[r]), &p);
            fed += score(&yf, &xf, &mine);
            let (ya, xa) = fit_local(t, None, &p);
            alone += score(&ya, &xa, &mine);
        }
        assert!(
            fed as f64 >= 0.97 * central as f64,
            "federated {fed} vs central {central}"
        );
        assert!(fed > alone, "federated {fed} vs own rows only {alone}");
    }
}
