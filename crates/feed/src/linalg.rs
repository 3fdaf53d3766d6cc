//! Small dense linear algebra for symmetric positive definite (SPD) matrices.
//!
//! Written here rather than pulled from `faer`/`nalgebra`: the models need only a Cholesky
//! factorisation, triangular solves and an SPD inverse (EASE: the item×item Gram matrix,
//! 1682² on ML-100K; iALS: k×k systems), and a few hundred lines of tested code keep the
//! build small on a 2-core machine. Loops are arranged so that the inner loop is a dot product
//! over contiguous rows, which the compiler vectorises.
//!
//! Matrices are row-major `Vec<f64>` of size n×n.

/// The matrix is not (numerically) positive definite.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("matrix is not positive definite (pivot {pivot} = {value})")]
pub struct NotPositiveDefinite {
    pub pivot: usize,
    pub value: f64,
}

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four accumulators: lets the compiler vectorise without reassociation flags.
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0.0f64; 4];
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
    assert_eq!(a.len(), n * n, "cholesky: matrix must be n×n");
    let mut l = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let (ri, rj) = (i * n, j * n);
            let s = a[ri + j] - dot(&l[ri..ri + j], &l[rj..rj + j]);
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return Err(NotPositiveDefinite { pivot: i, value: s });
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
    let l = cholesky(a, n)?;
    // U = (L⁻¹)ᵀ, upper triangular, stored by rows: row j of U is column j of L⁻¹.
    let mut u = vec![0.0f64; n * n];
    let mut m = vec![0.0f64; n];
    for j in 0..n {
        // forward solve L m = e_j, m_i = 0 for i < j
        for v in m.iter_mut() {
            *v = 0.0;
        }
        for i in j..n {
            let r = i * n;
            let rhs = if i == j { 1.0 } else { 0.0 };
            m[i] = (rhs - dot(&l[r + j..r + i], &m[j..i])) / l[r + i];
        }
        u[j * n + j..j * n + n].copy_from_slice(&m[j..n]);
    }
    drop(l);
    // (A⁻¹)_ij = Σ_{k ≥ max(i,j)} U_ik U_jk
    let mut inv = vec![0.0f64; n * n];
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
    fn not_positive_definite() {
        let a = [1.0, 2.0, 2.0, 1.0];
        assert_eq!(cholesky(&a, 2).unwrap_err().pivot, 1);
    }
}
