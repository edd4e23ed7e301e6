//! The Laplace approximation: posterior precision, its eigendecomposition, sampling
//! v ~ N(0, P⁻¹), and the Laplace log marginal likelihood with hyperparameter tuning.
//!
//! The precision is P = JᵀΛJ + λI (the generalised Gauss–Newton, what the DiMS
//! authors use through laplace-torch) or the exact Hessian with only its positive
//! eigenpairs kept. Either way P is decomposed once, P = U S Uᵀ (faer's symmetric
//! eigensolver), and samples are v = U S^{-1/2} z with z ~ N(0, I), so that
//! Cov v = U S⁻¹ Uᵀ = P⁻¹ (laplace-torch 0.2.2.2 had this factor transposed).

use crate::error::{Result, SamplerError};
use faer::{Mat, Side};
use geodyn_core::{ModelObjective, Objective};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// A Gaussian N(θ*, P⁻¹) stored by the eigendecomposition of its precision.
#[derive(Debug, Clone)]
pub struct LaplacePosterior {
    dim: usize,
    /// Eigenvalues of P (ascending, all > 0).
    eigenvalues: Vec<f64>,
    /// Eigenvectors of P, column-major K × r (r = number of kept eigenpairs).
    eigenvectors: Vec<f64>,
}

impl LaplacePosterior {
    /// From a dense symmetric precision (row-major K×K; only the lower triangle is
    /// read). Fails unless every eigenvalue is positive.
    pub fn from_precision(dim: usize, precision: &[f64]) -> Result<Self> {
        let (vals, vecs) = sym_eigen(dim, precision)?;
        if let Some(&min) = vals.first()
            && (min <= 0.0 || min.is_nan())
        {
            return Err(SamplerError::NotPositiveDefinite { min_eigenvalue: min });
        }
        Ok(Self { dim, eigenvalues: vals, eigenvectors: vecs })
    }

    /// From the generalised Gauss–Newton of a model: P = (1/σ²)·JᵀJ + λI for Gaussian
    /// regression, given the eigendecomposition of JᵀΛJ in [`GgnSpectrum`].
    pub fn from_ggn(spectrum: &GgnSpectrum, likelihood_scale: f64, prior_precision: f64) -> Result<Self> {
        if !(prior_precision.is_finite() && prior_precision > 0.0) {
            return Err(SamplerError::InvalidSetting(format!("prior precision must be > 0, got {prior_precision}")));
        }
        if !(likelihood_scale.is_finite() && likelihood_scale > 0.0) {
            return Err(SamplerError::InvalidSetting(format!("likelihood scale must be > 0, got {likelihood_scale}")));
        }
        let eigenvalues =
            spectrum.eigenvalues.iter().map(|e| likelihood_scale * e.max(0.0) + prior_precision).collect();
        Ok(Self { dim: spectrum.dim, eigenvalues, eigenvectors: spectrum.eigenvectors.clone() })
    }

    /// From the exact Hessian of `objective` at `theta` (K Hessian-vector products),
    /// keeping only eigenpairs with eigenvalue > `min_eigenvalue` (> 0): directions of
    /// non-positive curvature get no posterior spread.
    pub fn from_hessian<O: Objective + ?Sized>(objective: &O, theta: &[f64], min_eigenvalue: f64) -> Result<Self> {
        let k = objective.dim();
        let h = dense_hessian(objective, theta)?;
        let (vals, vecs) = sym_eigen(k, &h)?;
        let thr = min_eigenvalue.max(0.0);
        let keep: Vec<usize> = (0..k).filter(|&i| vals[i] > thr).collect();
        if keep.is_empty() {
            return Err(SamplerError::NotPositiveDefinite { min_eigenvalue: vals.last().copied().unwrap_or(f64::NAN) });
        }
        let mut eigenvectors = Vec::with_capacity(keep.len() * k);
        for &c in &keep {
            eigenvectors.extend_from_slice(&vecs[c * k..(c + 1) * k]);
        }
        Ok(Self { dim: k, eigenvalues: keep.iter().map(|&i| vals[i]).collect(), eigenvectors })
    }

    /// The dimension K.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The kept eigenvalues of P, ascending.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// log det P over the kept eigenpairs.
    pub fn log_det_precision(&self) -> f64 {
        self.eigenvalues.iter().map(|e| e.ln()).sum()
    }

    /// Draws v = scale · U S^{-1/2} z, z ~ N(0, I): a sample of N(0, scale² P⁻¹).
    pub fn sample_velocity<R: Rng + ?Sized>(&self, rng: &mut R, scale: f64, out: &mut [f64]) {
        out.fill(0.0);
        for (c, &s) in self.eigenvalues.iter().enumerate() {
            let z: f64 = StandardNormal.sample(rng);
            let w = scale * z / s.sqrt();
            let u = &self.eigenvectors[c * self.dim..(c + 1) * self.dim];
            for (o, ui) in out.iter_mut().zip(u) {
                *o += w * ui;
            }
        }
    }

    /// Applies P⁻¹ to `w` (over the kept eigenpairs).
    pub fn apply_covariance(&self, w: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (c, &s) in self.eigenvalues.iter().enumerate() {
            let u = &self.eigenvectors[c * self.dim..(c + 1) * self.dim];
            let coef = u.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / s;
            for (o, ui) in out.iter_mut().zip(u) {
                *o += coef * ui;
            }
        }
    }
}

/// The eigendecomposition of the Gauss–Newton matrix JᵀΛJ (without the prior), computed
/// once and reused while λ and σ are tuned.
#[derive(Debug, Clone)]
pub struct GgnSpectrum {
    dim: usize,
    eigenvalues: Vec<f64>,
    eigenvectors: Vec<f64>,
}

impl GgnSpectrum {
    /// From the Jacobian J of the model outputs (row-major N×K) and per-output weights
    /// Λ (length N; 1 for unscaled Gaussian regression): JᵀΛJ.
    pub fn from_jacobian(n: usize, k: usize, jacobian: &[f64], weights: &[f64]) -> Result<Self> {
        if jacobian.len() != n * k || weights.len() != n {
            return Err(SamplerError::InvalidSetting(format!(
                "Jacobian must be {n}×{k} and weights {n} long, got {} and {}",
                jacobian.len(),
                weights.len()
            )));
        }
        let j = Mat::<f64>::from_fn(n, k, |r, c| jacobian[r * k + c] * weights[r].max(0.0).sqrt());
        let jtj = j.transpose() * &j;
        let dense: Vec<f64> = (0..k * k).map(|idx| jtj[(idx / k, idx % k)]).collect();
        Self::from_matrix(k, &dense)
    }

    /// The spectrum of JᵀJ, J the `[N·m, K]` Jacobian of `model`'s outputs at `theta`
    /// (unweighted: for Gaussian regression with noise σ the GGN is JᵀJ/σ², and σ enters
    /// through [`LaplacePosterior::from_ggn`] and [`log_evidence`], so that it can be
    /// tuned without recomputing the spectrum).
    ///
    /// Cost: K Jacobian-vector products to build J column by column, the K×K product
    /// JᵀJ (O(N·m·K²)) and a dense symmetric eigendecomposition (O(K³)); memory
    /// N·m·K + 2K². For networks beyond a few thousand parameters a structured
    /// posterior is needed instead.
    pub fn of_outputs<M: ModelObjective + ?Sized>(model: &M, theta: &[f64]) -> Result<Self> {
        let (n, k) = (model.num_outputs(), model.dim());
        let mut jac = vec![0.0; n * k];
        let mut e = vec![0.0; k];
        let mut col = vec![0.0; n];
        for j in 0..k {
            e.fill(0.0);
            e[j] = 1.0;
            model.jvp(theta, &e, &mut col)?;
            for i in 0..n {
                jac[i * k + j] = col[i];
            }
        }
        Self::from_jacobian(n, k, &jac, &vec![1.0; n])
    }

    /// From a dense symmetric JᵀΛJ (row-major K×K).
    pub fn from_matrix(k: usize, matrix: &[f64]) -> Result<Self> {
        let (eigenvalues, eigenvectors) = sym_eigen(k, matrix)?;
        Ok(Self { dim: k, eigenvalues, eigenvectors })
    }

    /// Eigenvalues of JᵀΛJ, ascending (≥ 0 up to rounding).
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }
}

/// The exact Hessian of `objective` at `theta`, row-major K×K, from K Hessian-vector
/// products, symmetrised against rounding.
pub(crate) fn dense_hessian<O: Objective + ?Sized>(objective: &O, theta: &[f64]) -> Result<Vec<f64>> {
    let k = objective.dim();
    let mut h = vec![0.0; k * k];
    let mut e = vec![0.0; k];
    let mut col = vec![0.0; k];
    for j in 0..k {
        e.fill(0.0);
        e[j] = 1.0;
        objective.hvp(theta, &e, &mut col)?;
        for i in 0..k {
            h[i * k + j] = col[i];
        }
    }
    for i in 0..k {
        for j in 0..i {
            let s = 0.5 * (h[i * k + j] + h[j * k + i]);
            h[i * k + j] = s;
            h[j * k + i] = s;
        }
    }
    Ok(h)
}

/// Symmetric eigendecomposition with faer: eigenvalues (ascending) and eigenvectors
/// (eigenvector c at `[c·k, (c+1)·k)`) of a symmetric row-major K×K matrix.
pub(crate) fn sym_eigen(k: usize, a: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
    if a.len() != k * k {
        return Err(SamplerError::InvalidSetting(format!("matrix must be {k}×{k}, got {} entries", a.len())));
    }
    if !a.iter().all(|v| v.is_finite()) {
        return Err(SamplerError::Core(geodyn_core::Error::NonFinite { what: "precision matrix" }));
    }
    let m = Mat::<f64>::from_fn(k, k, |i, j| a[i * k + j]);
    let evd = m.self_adjoint_eigen(Side::Lower).map_err(|e| SamplerError::Eigen(format!("{e:?}")))?;
    let vals: Vec<f64> = evd.S().column_vector().iter().copied().collect();
    let u = evd.U();
    let mut vecs = Vec::with_capacity(k * k);
    for c in 0..k {
        for r in 0..k {
            vecs.push(u[(r, c)]);
        }
    }
    Ok((vals, vecs))
}

/// What the Laplace log marginal likelihood needs at a fixed MAP θ*.
#[derive(Debug, Clone)]
pub struct EvidenceInputs<'a> {
    /// Number of data points N.
    pub n: usize,
    /// For regression: the sum of squared residuals Σ(f(x_i; θ*) − y_i)². For
    /// classification: the data negative log-likelihood at θ*.
    pub data_term: f64,
    /// |θ*|².
    pub theta_sq: f64,
    /// Eigenvalues of JᵀΛJ (Λ = I for regression; σ enters separately).
    pub ggn_eigenvalues: &'a [f64],
    /// Gaussian regression (σ is a hyperparameter) or a classification likelihood.
    pub regression: bool,
}

/// What the Laplace evidence of a Gaussian regression needs from `model` at the mode
/// `theta` with regression `targets` (one per output, `[N, m]`): the spectrum of JᵀJ
/// ([`GgnSpectrum::of_outputs`]) and the sum of squared residuals Σ(f(xᵢ; θ*) − yᵢ)².
pub fn regression_laplace_at<M: ModelObjective + ?Sized>(
    model: &M,
    theta: &[f64],
    targets: &[f64],
) -> Result<(GgnSpectrum, f64)> {
    geodyn_core::error::check_dim("regression targets", model.num_outputs(), targets.len())?;
    let spectrum = GgnSpectrum::of_outputs(model, theta)?;
    let mut f = vec![0.0; model.num_outputs()];
    model.outputs(theta, &mut f)?;
    let sse = f.iter().zip(targets).map(|(a, b)| (a - b) * (a - b)).sum();
    Ok((spectrum, sse))
}

impl<'a> EvidenceInputs<'a> {
    /// The evidence inputs of a Gaussian regression with `n` data points at θ* =
    /// `theta`, from its spectrum and sum of squared residuals
    /// ([`regression_laplace_at`]).
    pub fn regression(n: usize, spectrum: &'a GgnSpectrum, sse: f64, theta: &[f64]) -> Self {
        EvidenceInputs {
            n,
            data_term: sse,
            theta_sq: theta.iter().map(|t| t * t).sum(),
            ggn_eigenvalues: spectrum.eigenvalues(),
            regression: true,
        }
    }
}

/// The Laplace log marginal likelihood at fixed θ*:
///
/// regression: −SSE/(2σ²) − N log σ − (N/2) log 2π + (K/2) log λ − ½λ|θ*|² − ½ Σ log(eᵢ/σ² + λ);
/// classification: −NLL + (K/2) log λ − ½λ|θ*|² − ½ Σ log(eᵢ + λ) (σ ignored).
///
/// It is log p(D|θ*) + log p(θ*) + (K/2) log 2π − ½ log det P with the Gaussian prior
/// N(0, λ⁻¹I); the 2π factors of prior and Laplace cancel.
pub fn log_evidence(inp: &EvidenceInputs<'_>, prior_precision: f64, noise_std: f64) -> f64 {
    let k = inp.ggn_eigenvalues.len() as f64;
    let lam = prior_precision;
    let prior = 0.5 * k * lam.ln() - 0.5 * lam * inp.theta_sq;
    if inp.regression {
        let s2 = noise_std * noise_std;
        let n = inp.n as f64;
        let lik = -inp.data_term / (2.0 * s2) - n * noise_std.ln() - 0.5 * n * (2.0 * std::f64::consts::PI).ln();
        let logdet: f64 = inp.ggn_eigenvalues.iter().map(|e| (e.max(0.0) / s2 + lam).ln()).sum();
        lik + prior - 0.5 * logdet
    } else {
        let logdet: f64 = inp.ggn_eigenvalues.iter().map(|e| (e.max(0.0) + lam).ln()).sum();
        -inp.data_term + prior - 0.5 * logdet
    }
}

/// Maximises [`log_evidence`] over log λ and, for regression, log σ, by Nelder–Mead in
/// log space from (λ0, σ0). `tune_prior` / `tune_noise` = false keep that value fixed
/// (σ is always fixed for classification). Returns (λ, σ, log evidence).
pub fn tune_hyperparameters(
    inp: &EvidenceInputs<'_>,
    prior_precision0: f64,
    noise_std0: f64,
    tune_prior: bool,
    tune_noise: bool,
) -> Result<(f64, f64, f64)> {
    if !(prior_precision0 > 0.0 && noise_std0 > 0.0 && prior_precision0.is_finite() && noise_std0.is_finite()) {
        return Err(SamplerError::InvalidSetting("initial λ and σ must be finite and > 0".into()));
    }
    let tune_noise = tune_noise && inp.regression;
    let start = [prior_precision0.ln(), noise_std0.ln()];
    let pin = |p: &[f64; 2]| [if tune_prior { p[0] } else { start[0] }, if tune_noise { p[1] } else { start[1] }];
    let f = |p: &[f64; 2]| -> f64 {
        let q = pin(p);
        let v = log_evidence(inp, q[0].exp(), q[1].exp());
        if v.is_finite() { -v } else { f64::INFINITY }
    };
    let best = if tune_prior || tune_noise { pin(&nelder_mead_2d(f, start)) } else { start };
    let (lam, sig) = (best[0].exp(), best[1].exp());
    Ok((lam, sig, log_evidence(inp, lam, sig)))
}

/// Nelder–Mead on R² (standard coefficients), to a simplex size of 1e-10 in log space.
fn nelder_mead_2d(f: impl Fn(&[f64; 2]) -> f64, start: [f64; 2]) -> [f64; 2] {
    let mut s = [start, [start[0] + 0.5, start[1]], [start[0], start[1] + 0.5]];
    let mut fs = s.map(|p| f(&p));
    for _ in 0..2000 {
        let mut idx = [0usize, 1, 2];
        idx.sort_by(|&a, &b| fs[a].total_cmp(&fs[b]));
        s = idx.map(|i| s[i]);
        fs = idx.map(|i| fs[i]);
        let size = (0..2).map(|d| (s[1][d] - s[0][d]).abs().max((s[2][d] - s[0][d]).abs())).fold(0.0, f64::max);
        if size < 1e-10 {
            break;
        }
        let c = [(s[0][0] + s[1][0]) / 2.0, (s[0][1] + s[1][1]) / 2.0];
        let at = |t: f64| [c[0] + t * (s[2][0] - c[0]), c[1] + t * (s[2][1] - c[1])];
        let r = at(-1.0);
        let fr = f(&r);
        if fr < fs[0] {
            let e = at(-2.0);
            let fe = f(&e);
            if fe < fr { (s[2], fs[2]) = (e, fe) } else { (s[2], fs[2]) = (r, fr) }
        } else if fr < fs[1] {
            (s[2], fs[2]) = (r, fr);
        } else {
            let (cpt, fc) = if fr < fs[2] {
                let p = at(-0.5);
                (p, f(&p))
            } else {
                let p = at(0.5);
                (p, f(&p))
            };
            if fc < fs[2].min(fr) {
                (s[2], fs[2]) = (cpt, fc);
            } else {
                for i in 1..3 {
                    s[i] = [(s[i][0] + s[0][0]) / 2.0, (s[i][1] + s[0][1]) / 2.0];
                    fs[i] = f(&s[i]);
                }
            }
        }
    }
    let best = (0..3).min_by(|&a, &b| fs[a].total_cmp(&fs[b])).unwrap_or(0);
    s[best]
}
