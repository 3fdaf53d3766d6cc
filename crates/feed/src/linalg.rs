//! Small dense linear algebra for symmetric positive definite (SPD) matrices.
//!
//! Written here rather than pulled from `faer`/`nalgebra`: the models need only a Cholesky
//! factorisation, triangular solves and an SPD inverse (EASE: the item×item Gram matrix,
//! 1682² on ML-100K; iALS: k×k systems), and a few hundred lines of tested code keep the
//! build small on a 2-core machine. Loops are arranged so that the inner loop is a dot product
//! over contiguous rows, which the compiler vectorises.
//!
//! Matrices are row-major `Vec<f64>` of size n×n. The Cholesky factorisation and the SPD
//! inverse also exist in f32 ([`spd_inverse_f32`]): half the memory traffic and twice the
//! vector lanes, for the well-conditioned ridge systems of reelm's tuning grid, where single
//! precision is ample for a ranking.

/// The matrix is not (numerically) positive definite.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("matrix is not positive definite (pivot {pivot} = {value})")]
pub struct NotPositiveDefinite {
    pub pivot: usize,
    pub value: f64,
}

/// The float types the factorisation runs in (f64, and f32 for [`spd_inverse_f32`]).
pub trait Real:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::AddAssign
{
    const ZERO: Self;
    const ONE: Self;
    fn sqrt(self) -> Self;
    fn is_finite(self) -> bool;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    /// `Σ a_i b_i` over the shorter length.
    fn dot(a: &[Self], b: &[Self]) -> Self;
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn dot(a: &[Self], b: &[Self]) -> Self {
        dot4(a, b)
    }
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn dot(a: &[Self], b: &[Self]) -> Self {
        // 16 accumulators = four 4-lane vectors, enough independent adds to hide their latency
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut s = [0.0f32; 16];
        let mut ca = a.chunks_exact(16);
        let mut cb = b.chunks_exact(16);
        for (x, y) in (&mut ca).zip(&mut cb) {
            for k in 0..16 {
                s[k] += x[k] * y[k];
            }
        }
        let mut t = 0.0f32;
        for k in 0..4 {
            t += (s[k] + s[k + 4]) + (s[k + 8] + s[k + 12]);
        }
        for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
            t += x * y;
        }
        t
    }
}

#[inline]
fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    T::dot(a, b)
}

#[inline]
fn dot4<T: Real>(a: &[T], b: &[T]) -> T {
    // Four accumulators: lets the compiler vectorise without reassociation flags.
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [T::ZERO; 4];
    let chunks = n / 4;
    for c in 0..chunks {
        let i = c * 4;
        s[0] += a[i] * b[i];
        s[1] += a[i + 1] * b[i + 1];
        s[2] += a[i + 2] * b[i + 2];
        s[3] += a[i + 3] * b[i + 3];
    }
    let mut t = (s[0] + s[1]) + (s[2] + s[3]);
    for i in chunks * 4..n {
        t += a[i] * b[i];
    }
    t
}

/// Lower-triangular Cholesky factor `L` (row-major, upper part zero) with `A = L Lᵀ`.
pub fn cholesky(a: &[f64], n: usize) -> Result<Vec<f64>, NotPositiveDefinite> {
    cholesky_in(a, n)
}

fn cholesky_in<T: Real>(a: &[T], n: usize) -> Result<Vec<T>, NotPositiveDefinite> {
    assert_eq!(a.len(), n * n, "cholesky: matrix must be n×n");
    let mut l = vec![T::ZERO; n * n];
    for i in 0..n {
        for j in 0..=i {
            let (ri, rj) = (i * n, j * n);
            let s = a[ri + j] - dot(&l[ri..ri + j], &l[rj..rj + j]);
            if i == j {
                if s <= T::ZERO || !s.is_finite() {
                    return Err(NotPositiveDefinite {
                        pivot: i,
                        value: s.to_f64(),
                    });
                }
                l[ri + i] = s.sqrt();
            } else {
                l[ri + j] = s / l[rj + j];
            }
        }
    }
    Ok(l)
}

/// Solves `A x = b` given the Cholesky factor `L` of `A`; `b` is overwritten with `x`.
pub fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    assert_eq!(b.len(), n);
    // L y = b
    for i in 0..n {
        let r = i * n;
        b[i] = (b[i] - dot(&l[r..r + i], &b[..i])) / l[r + i];
    }
    // Lᵀ x = y
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// Solves the SPD system `A x = b` (`b` overwritten).
pub fn spd_solve(a: &[f64], n: usize, b: &mut [f64]) -> Result<(), NotPositiveDefinite> {
    let l = cholesky(a, n)?;
    cholesky_solve(&l, n, b);
    Ok(())
}

/// Inverse of an SPD matrix via Cholesky: `A⁻¹ = L⁻ᵀ L⁻¹`. About n³/2 multiply-adds.
pub fn spd_inverse(a: &[f64], n: usize) -> Result<Vec<f64>, NotPositiveDefinite> {
    spd_inverse_in(a, n)
}

/// [`spd_inverse`] in single precision.
pub fn spd_inverse_f32(a: &[f32], n: usize) -> Result<Vec<f32>, NotPositiveDefinite> {
    spd_inverse_in(a, n)
}

/// The SPD inverse in either precision.
pub fn spd_inverse_in<T: Real>(a: &[T], n: usize) -> Result<Vec<T>, NotPositiveDefinite> {
    let l = cholesky_in(a, n)?;
    // U = (L⁻¹)ᵀ, upper triangular, stored by rows: row j of U is column j of L⁻¹.
    let mut u = vec![T::ZERO; n * n];
    let mut m = vec![T::ZERO; n];
    for j in 0..n {
        // forward solve L m = e_j, m_i = 0 for i < j
        for v in m.iter_mut() {
            *v = T::ZERO;
        }
        for i in j..n {
            let r = i * n;
            let rhs = if i == j { T::ONE } else { T::ZERO };
            m[i] = (rhs - dot(&l[r + j..r + i], &m[j..i])) / l[r + i];
        }
        u[j * n + j..j * n + n].copy_from_slice(&m[j..n]);
    }
    drop(l);
    // (A⁻¹)_ij = Σ_{k ≥ max(i,j)} U_ik U_jk
    let mut inv = vec![T::ZERO; n * n];
    for i in 0..n {
        for j in i..n {
            let v = dot(&u[i * n + j..i * n + n], &u[j * n + j..j * n + n]);
            inv[i * n + j] = v;
            inv[j * n + i] = v;
        }
    }
    Ok(inv)
}

/// Solves `A x = b` for SPD `A` by conjugate gradient, starting from the given `x`, for at most
/// `iters` steps. Used by iALS (warm-started, a few steps per sweep, as in Takács et al. 2011).
pub fn conjugate_gradient(
    apply: impl Fn(&[f64], &mut [f64]),
    b: &[f64],
    x: &mut [f64],
    iters: usize,
) {
    let n = b.len();
    let mut ax = vec![0.0; n];
    apply(x, &mut ax);
    let mut r: Vec<f64> = b.iter().zip(&ax).map(|(b, a)| b - a).collect();
    let mut p = r.clone();
    let mut rs = dot(&r, &r);
    let mut ap = vec![0.0; n];
    for _ in 0..iters {
        if rs < 1e-20 {
            break;
        }
        apply(&p, &mut ap);
        let pap = dot(&p, &ap);
        if pap <= 0.0 {
            break;
        }
        let alpha = rs / pap;
        for i in 0..n {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        let rs_new = dot(&r, &r);
        let beta = rs_new / rs;
        for i in 0..n {
            p[i] = r[i] + beta * p[i];
        }
        rs = rs_new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < tol, "{x} vs {y}");
        }
    }

    #[test]
    fn cholesky_known_factor() {
        // Classic example: A = [[4,12,-16],[12,37,-43],[-16,-43,98]], L = [[2,0,0],[6,1,0],[-8,5,3]]
        let a = [4.0, 12.0, -16.0, 12.0, 37.0, -43.0, -16.0, -43.0, 98.0];
        let l = cholesky(&a, 3).unwrap();
        close(&l, &[2.0, 0.0, 0.0, 6.0, 1.0, 0.0, -8.0, 5.0, 3.0], 1e-12);
    }

    #[test]
    fn inverse_known() {
        // A = [[2,-1,0],[-1,2,-1],[0,-1,2]], A⁻¹ = 1/4 [[3,2,1],[2,4,2],[1,2,3]]
        let a = [2.0, -1.0, 0.0, -1.0, 2.0, -1.0, 0.0, -1.0, 2.0];
        let inv = spd_inverse(&a, 3).unwrap();
        let want: Vec<f64> = [3.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 3.0]
            .iter()
            .map(|v| v / 4.0)
            .collect();
        close(&inv, &want, 1e-12);
        let mut b = vec![1.0, 0.0, 0.0];
        spd_solve(&a, 3, &mut b).unwrap();
        close(&b, &[0.75, 0.5, 0.25], 1e-12);
    }

    #[test]
    fn inverse_random_spd_times_a_is_identity() {
        let n = 37;
        // A = M Mᵀ + n I with a deterministic pseudo-random M
        let mut seed = 12345u64;
        let mut m = vec![0.0; n * n];
        for v in &mut m {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *v = ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
        }
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = dot(&m[i * n..i * n + n], &m[j * n..j * n + n]);
            }
            a[i * n + i] += n as f64;
        }
        let inv = spd_inverse(&a, n).unwrap();
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..n).map(|k| a[i * n + k] * inv[k * n + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((s - want).abs() < 1e-10, "({i},{j}) = {s}");
            }
        }
        // CG reaches the same solution as Cholesky
        let b: Vec<f64> = (0..n).map(|i| i as f64 - 3.0).collect();
        let mut x_chol = b.clone();
        spd_solve(&a, n, &mut x_chol).unwrap();
        let mut x_cg = vec![0.0; n];
        conjugate_gradient(
            |p, out| {
                for i in 0..n {
                    out[i] = dot(&a[i * n..i * n + n], p);
                }
            },
            &b,
            &mut x_cg,
            200,
        );
        close(&x_cg, &x_chol, 1e-8);
    }

    #[test]
    fn f32_inverse_agrees_with_f64() {
        let n = 23;
        let mut a = vec![0.0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = ((i * 7 + j * 7) % 5) as f64 + if i == j { 30.0 } else { 0.0 };
            }
        }
        let inv = spd_inverse(&a, n).unwrap();
        let a32: Vec<f32> = a.iter().map(|&v| v as f32).collect();
        let inv32 = spd_inverse_f32(&a32, n).unwrap();
        let scale = inv.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (x, y) in inv.iter().zip(&inv32) {
            assert!((x - f64::from(*y)).abs() < 1e-5 * scale, "{x} vs {y}");
        }
        assert!(spd_inverse_f32(&[1.0, 2.0, 2.0, 1.0], 2).is_err());
    }

    #[test]
    fn not_positive_definite() {
        let a = [1.0, 2.0, 2.0, 1.0];
        assert_eq!(cholesky(&a, 2).unwrap_err().pivot, 1);
    }
}
