//! A fixed symmetric positive definite preconditioner D = L Lᵀ (Cholesky).

use crate::error::{Error, Result, check_dim, check_finite};

/// A constant SPD diffusion matrix D (the inverse mass matrix M⁻¹) for preconditioned
/// Langevin: dθ = −D∇U dt + √(2T) D^{1/2} dW, whose invariant measure is still
/// π ∝ exp(−U/T).
///
/// Stored as its Cholesky factor L (D = L Lᵀ), computed once in [`new`](Self::new)
/// (O(K³)); a step then costs O(K²): D v, L z (a draw of N(0, D) from z ∼ N(0, I))
/// and rᵀD⁻¹r by one triangular solve. A good D is an estimate of the target's
/// covariance; for K in the thousands prefer a diagonal D (its Cholesky is cheap, but
/// the dense O(K²) work per step is not).
#[derive(Debug, Clone, PartialEq)]
pub struct Preconditioner {
    dim: usize,
    /// Row-major lower-triangular Cholesky factor.
    l: Vec<f64>,
}

impl Preconditioner {
    /// The preconditioner D given row-major as `matrix` (K·K entries, symmetric).
    ///
    /// Returns [`Error::DimensionMismatch`] unless `matrix` has `dim`² entries,
    /// [`Error::NonFinite`] for a non-finite entry, [`Error::InvalidParameter`] if D is
    /// not symmetric (relative tolerance 1e-12) and [`Error::LinearSolve`] if it is not
    /// positive definite (the failing pivot is named).
    pub fn new(dim: usize, matrix: &[f64]) -> Result<Self> {
        check_dim("preconditioner", dim * dim, matrix.len())?;
        check_finite("preconditioner", matrix)?;
        for i in 0..dim {
            for j in 0..i {
                let (a, b) = (matrix[i * dim + j], matrix[j * dim + i]);
                if (a - b).abs() > 1e-12 * a.abs().max(b.abs()).max(f64::MIN_POSITIVE) {
                    return Err(Error::InvalidParameter {
                        name: "preconditioner entry",
                        value: a - b,
                        reason: "the matrix must be symmetric",
                    });
                }
            }
        }
        let mut l = vec![0.0; dim * dim];
        for j in 0..dim {
            let mut d = matrix[j * dim + j];
            for k in 0..j {
                d -= l[j * dim + k] * l[j * dim + k];
            }
            if d.is_nan() || d <= 0.0 {
                return Err(Error::LinearSolve {
                    what: "preconditioner (Cholesky)",
                    detail: format!("not positive definite: pivot {j} is {d:e}"),
                });
            }
            let d = d.sqrt();
            l[j * dim + j] = d;
            for i in j + 1..dim {
                let mut s = matrix[i * dim + j];
                for k in 0..j {
                    s -= l[i * dim + k] * l[j * dim + k];
                }
                l[i * dim + j] = s / d;
            }
        }
        Ok(Self { dim, l })
    }

    /// The diagonal preconditioner D = diag(`d`) (every entry finite and > 0).
    pub fn diagonal(d: &[f64]) -> Result<Self> {
        let k = d.len();
        let mut m = vec![0.0; k * k];
        for (i, di) in d.iter().enumerate() {
            m[i * k + i] = *di;
        }
        Self::new(k, &m)
    }

    /// The dimension K.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Writes L z: for z ∼ N(0, I) a draw of N(0, D).
    pub(crate) fn sqrt_apply(&self, z: &[f64], out: &mut [f64]) {
        let k = self.dim;
        for (i, o) in out.iter_mut().enumerate().take(k) {
            *o = (0..=i).map(|j| self.l[i * k + j] * z[j]).sum();
        }
    }

    /// Writes D v = L(Lᵀv), using `tmp` (length K) for Lᵀv.
    pub(crate) fn apply(&self, v: &[f64], tmp: &mut [f64], out: &mut [f64]) {
        let k = self.dim;
        for (j, t) in tmp.iter_mut().enumerate().take(k) {
            *t = (j..k).map(|i| self.l[i * k + j] * v[i]).sum();
        }
        self.sqrt_apply(tmp, out);
    }

    /// rᵀD⁻¹r = |L⁻¹r|², using `tmp` (length K) for L⁻¹r.
    pub(crate) fn inverse_norm2(&self, r: &[f64], tmp: &mut [f64]) -> f64 {
        let k = self.dim;
        for i in 0..k {
            let s: f64 = (0..i).map(|j| self.l[i * k + j] * tmp[j]).sum();
            tmp[i] = (r[i] - s) / self.l[i * k + i];
        }
        tmp.iter().map(|t| t * t).sum()
    }
}
