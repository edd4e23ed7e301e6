//! W2 between Gaussians (the Bures–Wasserstein formula) and symmetric positive semi-definite square roots.

use faer::{Mat, Side};

use crate::error::{Result, TransportError, check_dim, check_finite};

/// Relative tolerance for the symmetry check and for clipping negative eigenvalues of a PSD input.
const PSD_TOL: f64 = 1e-10;

/// W2²(N(m₁, S₁), N(m₂, S₂)) = |m₁ − m₂|² + tr(S₁ + S₂ − 2 (S₂^{1/2} S₁ S₂^{1/2})^{1/2}) (the squared
/// Bures–Wasserstein distance).
///
/// `m1`, `m2` have d entries; `s1`, `s2` are row-major d×d symmetric positive semi-definite matrices
/// (degenerate Gaussians allowed). The square roots come from faer's symmetric eigendecomposition;
/// eigenvalues within a relative 1e-10 below zero are clipped to zero, and the result is clipped at
/// zero (rounding can make it a tiny negative number for equal Gaussians). The error is a few ulps
/// times the condition of S₂ in the trace term.
///
/// Errors: inconsistent lengths ([`TransportError::DimensionMismatch`]), non-finite entries, d = 0
/// ([`TransportError::Empty`]), a matrix that is not symmetric to a relative 1e-10 or has a
/// clearly negative eigenvalue ([`TransportError::NotPositiveSemiDefinite`]), an eigensolver failure.
/// Cost O(d³) (one eigendecomposition, two d×d products, two eigenvalue solves). Use it between
/// Gaussians or as a moment-matching surrogate; it is not W2 between non-Gaussian measures (it is
/// a lower bound for measures with those moments).
pub fn bures_w2_squared(m1: &[f64], s1: &[f64], m2: &[f64], s2: &[f64]) -> Result<f64> {
    let d = m1.len();
    if d == 0 {
        return Err(TransportError::Empty { what: "mean" });
    }
    check_dim("m2", d, m2.len())?;
    check_dim("s1 (d×d)", d * d, s1.len())?;
    check_dim("s2 (d×d)", d * d, s2.len())?;
    check_finite("m1", m1)?;
    check_finite("m2", m2)?;
    let a = symmetric("s1", s1, d)?;
    let lam1 = a.self_adjoint_eigenvalues(Side::Lower).map_err(|_| TransportError::Eigen { what: "s1" })?;
    check_psd("s1", &lam1)?;
    let r = sqrt_of("s2", &symmetric("s2", s2, d)?)?;
    let mut m = &r * &a * &r;
    symmetrize(&mut m);
    let mu = m.self_adjoint_eigenvalues(Side::Lower).map_err(|_| TransportError::Eigen { what: "S2^½ S1 S2^½" })?;
    let tr_sqrt: f64 = mu.iter().map(|v| v.max(0.0).sqrt()).sum();
    let tr1: f64 = (0..d).map(|i| s1[i * d + i]).sum();
    let tr2: f64 = (0..d).map(|i| s2[i * d + i]).sum();
    let dm: f64 = m1.iter().zip(m2).map(|(x, y)| (x - y) * (x - y)).sum();
    Ok((dm + tr1 + tr2 - 2.0 * tr_sqrt).max(0.0))
}

/// W2 between two Gaussians: the square root of [`bures_w2_squared`] (same guarantees, errors, cost).
pub fn bures_w2(m1: &[f64], s1: &[f64], m2: &[f64], s2: &[f64]) -> Result<f64> {
    Ok(bures_w2_squared(m1, s1, m2, s2)?.sqrt())
}

/// The symmetric positive semi-definite square root A^{1/2} = U diag(√λ) Uᵀ of a row-major d×d
/// symmetric PSD matrix, returned row-major.
///
/// Eigenvalues within a relative 1e-10 below zero are clipped to zero. Errors: `a.len() ≠ d²`, d = 0,
/// non-finite entries, asymmetry or a clearly negative eigenvalue
/// ([`TransportError::NotPositiveSemiDefinite`]). Cost O(d³). For a square root of a matrix that is
/// not symmetric use a general matrix-function routine; a Cholesky factor is cheaper if any
/// factor, not the symmetric root, will do.
pub fn psd_sqrt(a: &[f64], d: usize) -> Result<Vec<f64>> {
    if d == 0 {
        return Err(TransportError::Empty { what: "matrix" });
    }
    check_dim("matrix (d×d)", d * d, a.len())?;
    let r = sqrt_of("matrix", &symmetric("matrix", a, d)?)?;
    Ok((0..d * d).map(|k| r[(k / d, k % d)]).collect())
}

/// Validates and loads a row-major symmetric matrix.
fn symmetric(what: &'static str, s: &[f64], d: usize) -> Result<Mat<f64>> {
    check_finite(what, s)?;
    let scale = s.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for i in 0..d {
        for j in 0..i {
            let gap = (s[i * d + j] - s[j * d + i]).abs();
            if gap > PSD_TOL * scale {
                return Err(TransportError::NotPositiveSemiDefinite {
                    what,
                    detail: format!("entries ({i},{j}) and ({j},{i}) differ by {gap:e}"),
                });
            }
        }
    }
    Ok(Mat::from_fn(d, d, |i, j| 0.5 * (s[i * d + j] + s[j * d + i])))
}

/// U diag(√λ₊) Uᵀ, after checking that no eigenvalue is clearly negative.
fn sqrt_of(what: &'static str, a: &Mat<f64>) -> Result<Mat<f64>> {
    let evd = a.self_adjoint_eigen(Side::Lower).map_err(|_| TransportError::Eigen { what })?;
    let u = evd.U();
    let lam: Vec<f64> = evd.S().column_vector().iter().copied().collect();
    check_psd(what, &lam)?;
    let d = a.nrows();
    let ul = Mat::from_fn(d, d, |i, j| u[(i, j)] * lam[j].max(0.0).sqrt());
    let mut r = &ul * u.transpose();
    symmetrize(&mut r);
    Ok(r)
}

/// [`TransportError::NotPositiveSemiDefinite`] if an eigenvalue is below −1e-10 · max |λ|.
fn check_psd(what: &'static str, lam: &[f64]) -> Result<()> {
    let top = lam.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    match lam.iter().find(|&&l| l < -PSD_TOL * top) {
        Some(&neg) => Err(TransportError::NotPositiveSemiDefinite { what, detail: format!("eigenvalue {neg:e}") }),
        None => Ok(()),
    }
}

fn symmetrize(m: &mut Mat<f64>) {
    let d = m.nrows();
    for i in 0..d {
        for j in 0..i {
            let v = 0.5 * (m[(i, j)] + m[(j, i)]);
            m[(i, j)] = v;
            m[(j, i)] = v;
        }
    }
}
