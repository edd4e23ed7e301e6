//! Entropic optimal transport: log-domain Sinkhorn with ε-scaling, and the debiased Sinkhorn divergence.

use rayon::prelude::*;

use crate::error::{Result, TransportError, check_dim, check_finite, check_weights};

/// Cost matrices with at least this many entries are swept in parallel (when
/// [`SinkhornOptions::parallel`] is set).
pub const PARALLEL_MIN_ENTRIES: usize = 1 << 16;
use crate::measure::EmpiricalMeasure;

/// Settings of [`sinkhorn`] and [`sinkhorn_with_cost`].
///
/// Build with [`SinkhornOptions::new`] and adjust the public fields or the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SinkhornOptions {
    /// The entropic regularisation ε > 0, in units of the cost.
    pub epsilon: f64,
    /// The stopping tolerance on the marginal error ‖π1 − a‖₁ (default 1e-9).
    pub tol: f64,
    /// The largest number of iterations, all ε-stages together (default 100 000). One iteration is
    /// one update of each potential.
    pub max_iter: usize,
    /// The ε-scaling factor q ∈ (0, 1]: stages ε_ℓ = max(ε, ε₀ q^ℓ), each warm-started from the last
    /// (default 0.5; 1 disables scaling and starts at ε).
    pub scaling: f64,
    /// The first stage's ε₀ (default: the largest cost entry, or ε if that is smaller).
    pub epsilon_start: Option<f64>,
    /// Sweep the cost matrix on rayon's thread pool (rows for f, column blocks for g) when it has
    /// at least [`PARALLEL_MIN_ENTRIES`] entries (default true). Every potential entry is computed
    /// by the same sequential sum either way, so the results are bitwise identical.
    pub parallel: bool,
}

impl SinkhornOptions {
    /// Defaults for regularisation `epsilon`: tolerance 1e-9, 100 000 iterations, scaling 0.5.
    pub fn new(epsilon: f64) -> Self {
        SinkhornOptions { epsilon, tol: 1e-9, max_iter: 100_000, scaling: 0.5, epsilon_start: None, parallel: true }
    }

    /// Sets the marginal-error tolerance.
    pub fn with_tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    /// Sets the iteration limit.
    pub fn with_max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }

    /// Sets the ε-scaling factor q ∈ (0, 1].
    pub fn with_scaling(mut self, scaling: f64) -> Self {
        self.scaling = scaling;
        self
    }

    /// Turns the parallel sweeps on or off.
    pub fn with_parallel(mut self, parallel: bool) -> Self {
        self.parallel = parallel;
        self
    }

    /// Sets the first stage's ε₀.
    pub fn with_epsilon_start(mut self, epsilon_start: f64) -> Self {
        self.epsilon_start = Some(epsilon_start);
        self
    }

    fn validate(&self) -> Result<()> {
        let bad = |name, value, reason| Err(TransportError::InvalidParameter { name, value, reason });
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return bad("epsilon", self.epsilon, "must be finite and > 0");
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return bad("tol", self.tol, "must be finite and > 0");
        }
        if self.max_iter == 0 {
            return bad("max_iter", 0.0, "must be at least 1");
        }
        if !(self.scaling > 0.0 && self.scaling <= 1.0) {
            return bad("scaling", self.scaling, "must lie in (0, 1]");
        }
        if let Some(e0) = self.epsilon_start
            && !(e0.is_finite() && e0 > 0.0)
        {
            return bad("epsilon_start", e0, "must be finite and > 0");
        }
        Ok(())
    }
}

/// The result of a converged Sinkhorn run.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkhornSolution {
    /// The potential f on the source points (n values).
    pub f: Vec<f64>,
    /// The potential g on the target points (m values).
    pub g: Vec<f64>,
    /// The entropic cost OT_ε(a, b) = min_π ⟨C, π⟩ + ε KL(π ‖ a⊗b), evaluated as the dual value
    /// ⟨f, a⟩ + ⟨g, b⟩. It differs from the primal value of the returned plan by at most
    /// max|f| · `marginal_error`.
    pub cost: f64,
    /// The transport part ⟨C, π⟩ of the returned plan (≥ the unregularised optimum up to the
    /// marginal error).
    pub transport_cost: f64,
    /// The plan π_ij = aᵢ b_j exp((fᵢ + g_j − C_ij)/ε), row-major n×m. Its column sums equal b to
    /// rounding; its row sums are within `marginal_error` of a in ℓ¹.
    pub plan: Vec<f64>,
    /// Iterations done, all ε-stages together.
    pub iterations: usize,
    /// ‖π1 − a‖₁ of the returned plan (≤ the tolerance).
    pub marginal_error: f64,
    /// The ε of the returned solution.
    pub epsilon: f64,
}

/// The squared-Euclidean cost matrix C_ij = |xᵢ − y_j|², row-major n×m.
///
/// Errors: different dimensions ([`TransportError::DimensionMismatch`]). Cost O(n·m·d) time and
/// O(n·m) memory.
pub fn squared_euclidean_cost(mu: &EmpiricalMeasure, nu: &EmpiricalMeasure) -> Result<Vec<f64>> {
    check_dim("dimension of nu", mu.dim(), nu.dim())?;
    let (n, m) = (mu.len(), nu.len());
    let mut c = Vec::with_capacity(n * m);
    for i in 0..n {
        let x = mu.point(i);
        for j in 0..m {
            c.push(x.iter().zip(nu.point(j)).map(|(u, v)| (u - v) * (u - v)).sum());
        }
    }
    Ok(c)
}

/// Entropic OT between two empirical measures for the squared-Euclidean cost (so OT_ε → W2² as
/// ε → 0); see [`sinkhorn_with_cost`] for the algorithm, guarantees and cost. Weights are normalised.
pub fn sinkhorn(mu: &EmpiricalMeasure, nu: &EmpiricalMeasure, opts: &SinkhornOptions) -> Result<SinkhornSolution> {
    opts.validate()?;
    let c = squared_euclidean_cost(mu, nu)?;
    solve(&c, &mu.probabilities(), &nu.probabilities(), opts)
}

/// Entropic OT for a given row-major n×m `cost` matrix between weights `a` (n) and `b` (m), by
/// log-domain Sinkhorn with ε-scaling.
///
/// Iterates f ← −ε LSE_j[(g_j − C_ij)/ε + log b_j], g ← −ε LSE_i[(fᵢ − C_ij)/ε + log aᵢ] (never the
/// multiplicative form, so small ε does not underflow), through the stages of
/// [`SinkhornOptions::scaling`], and stops at the final ε when ‖π1 − a‖₁ ≤ `tol` for the plan of the
/// returned (f, g); its column marginal is exact. The row error is read off the f-update at no extra
/// cost. Weights are normalised; zero weights are allowed.
///
/// Errors: inconsistent lengths, non-finite costs, invalid weights or options (ε ≤ 0 included), and
/// [`TransportError::NotConverged`] if `max_iter` iterations do not reach `tol`.
/// Cost O(n·m) per iteration (two passes per potential, no allocation inside the loop; parallel
/// per [`SinkhornOptions::parallel`]), O(n·m)
/// memory for the cost and the plan. Iterations grow as ε falls: when the plan approaches a
/// permutation with cost margin Δ the contraction per iteration is only 1 − O(e^{−Δ/ε}), so for ε
/// well below the gaps between competing assignments (or a marginal tolerance far below 1e-8) expect
/// tens of thousands of iterations, and raise `max_iter` or ε. For exact (ε = 0) transport with
/// uniform weights use [`exact_ot`](super::exact_ot), and on the line [`wasserstein_1d`](super::wasserstein_1d).
pub fn sinkhorn_with_cost(cost: &[f64], a: &[f64], b: &[f64], opts: &SinkhornOptions) -> Result<SinkhornSolution> {
    opts.validate()?;
    let sa = check_weights("a", a)?;
    let sb = check_weights("b", b)?;
    check_dim("cost (n×m)", a.len() * b.len(), cost.len())?;
    check_finite("cost", cost)?;
    let a: Vec<f64> = a.iter().map(|w| w / sa).collect();
    let b: Vec<f64> = b.iter().map(|w| w / sb).collect();
    solve(cost, &a, &b, opts)
}

/// The debiased Sinkhorn divergence S_ε(μ, ν) = OT_ε(μ, ν) − ½ OT_ε(μ, μ) − ½ OT_ε(ν, ν) for the
/// squared-Euclidean cost.
///
/// S_ε ≥ 0 with equality iff μ = ν, and S_ε → W2² as ε → 0 (Feydy et al. 2019); computed values
/// are so up to the three solves' tolerances (a tiny negative value can come back for equal
/// measures). The cross term is a [`sinkhorn`] solve; the two self terms use the symmetric,
/// averaged iteration f ← ½(f + T_ε f) (one potential, same stopping rule), which converges fast
/// where the plain iteration crawls (a self-transport plan is close to the identity permutation).
/// Errors as [`sinkhorn`]. Cost: three solves, O(n·m + n² + m²) per iteration and memory.
pub fn sinkhorn_divergence(mu: &EmpiricalMeasure, nu: &EmpiricalMeasure, opts: &SinkhornOptions) -> Result<f64> {
    let ab = sinkhorn(mu, nu, opts)?.cost;
    let aa = symmetric_cost(mu, opts)?;
    let bb = symmetric_cost(nu, opts)?;
    Ok(ab - 0.5 * aa - 0.5 * bb)
}

/// OT_ε(a, a) = 2⟨f, a⟩ at the fixed point f = T_ε f, f ← ½(f + T_ε f), with ε-scaling; stops when
/// the plan of (f, f) has ‖π1 − a‖₁ ≤ tol (both marginals, by symmetry).
fn symmetric_cost(mu: &EmpiricalMeasure, opts: &SinkhornOptions) -> Result<f64> {
    opts.validate()?;
    let c = squared_euclidean_cost(mu, mu)?;
    let a = mu.probabilities();
    let log_a: Vec<f64> = a.iter().map(|w| w.ln()).collect();
    let n = a.len();
    let eps = opts.epsilon;
    let cmax = c.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    let mut stage_eps = if opts.scaling < 1.0 { opts.epsilon_start.unwrap_or(cmax).max(eps) } else { eps };
    let mut f = vec![0.0; n];
    let mut tf = vec![0.0; n];
    let mut iterations = 0;
    loop {
        let last = stage_eps <= eps;
        let stage_tol = if last { opts.tol } else { opts.tol.max(1e-3) };
        loop {
            update_f(&c, &f, &log_a, stage_eps, &mut tf, opts.parallel);
            iterations += 1;
            let err: f64 =
                (0..n).filter(|&i| a[i] > 0.0).map(|i| a[i] * (((f[i] - tf[i]) / stage_eps).exp() - 1.0).abs()).sum();
            if err <= stage_tol {
                break;
            }
            if iterations >= opts.max_iter {
                return Err(TransportError::NotConverged {
                    what: "symmetric sinkhorn",
                    iterations,
                    error: err,
                    tol: opts.tol,
                });
            }
            f.iter_mut().zip(&tf).for_each(|(fi, ti)| *fi = 0.5 * (*fi + ti));
        }
        if last {
            return Ok(2.0 * dot_positive(&f, &a));
        }
        stage_eps = (stage_eps * opts.scaling).max(eps);
    }
}

/// The solver on validated, normalised inputs.
fn solve(cost: &[f64], a: &[f64], b: &[f64], opts: &SinkhornOptions) -> Result<SinkhornSolution> {
    let (n, m) = (a.len(), b.len());
    let eps = opts.epsilon;
    let cmax = cost.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    let eps0 = opts.epsilon_start.unwrap_or(cmax).max(eps);
    let log_a: Vec<f64> = a.iter().map(|w| w.ln()).collect();
    let log_b: Vec<f64> = b.iter().map(|w| w.ln()).collect();
    let mut f = vec![0.0; n];
    let mut f_new = vec![0.0; n];
    let mut g = vec![0.0; m];
    let mut scratch = ColumnScratch { max: vec![0.0; m], sum: vec![0.0; m] };
    let par = opts.parallel;
    let mut iterations = 0;
    let mut stage_eps = if opts.scaling < 1.0 { eps0 } else { eps };
    let err = loop {
        let last = stage_eps <= eps;
        let stage_tol = if last { opts.tol } else { opts.tol.max(1e-3) };
        let err = loop {
            update_g(cost, &f, &log_a, stage_eps, &mut g, &mut scratch, par);
            update_f(cost, &g, &log_b, stage_eps, &mut f_new, par);
            iterations += 1;
            let err: f64 = (0..n)
                .filter(|&i| a[i] > 0.0)
                .map(|i| a[i] * (((f[i] - f_new[i]) / stage_eps).exp() - 1.0).abs())
                .sum();
            if err <= stage_tol {
                break err;
            }
            if iterations >= opts.max_iter {
                return Err(TransportError::NotConverged { what: "sinkhorn", iterations, error: err, tol: opts.tol });
            }
            std::mem::swap(&mut f, &mut f_new);
        };
        if last {
            break err;
        }
        stage_eps = (stage_eps * opts.scaling).max(eps);
    };
    let mut plan = Vec::with_capacity(n * m);
    let mut transport_cost = 0.0;
    for i in 0..n {
        let row = &cost[i * m..(i + 1) * m];
        for j in 0..m {
            let p = if a[i] > 0.0 && b[j] > 0.0 { a[i] * b[j] * ((f[i] + g[j] - row[j]) / eps).exp() } else { 0.0 };
            transport_cost += p * row[j];
            plan.push(p);
        }
    }
    let dual = dot_positive(&f, a) + dot_positive(&g, b);
    Ok(SinkhornSolution { f, g, cost: dual, transport_cost, plan, iterations, marginal_error: err, epsilon: eps })
}

/// Σ wᵢ vᵢ over the positive weights (zero-weight potentials do not enter).
fn dot_positive(v: &[f64], w: &[f64]) -> f64 {
    v.iter().zip(w).filter(|(_, w)| **w > 0.0).map(|(v, w)| v * w).sum()
}

/// fᵢ = −ε LSE_j[(g_j − C_ij)/ε + log b_j], row by row (two contiguous passes per row), rows in
/// parallel when `par`.
fn update_f(cost: &[f64], g: &[f64], log_b: &[f64], eps: f64, f: &mut [f64], par: bool) {
    let m = g.len();
    let inv = 1.0 / eps;
    let row_op = |(i, fi): (usize, &mut f64)| {
        let row = &cost[i * m..(i + 1) * m];
        let terms = || g.iter().zip(row).zip(log_b).map(|((gj, cij), lb)| (gj - cij) * inv + lb);
        let mx = terms().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = terms().map(|t| (t - mx).exp()).sum();
        *fi = -eps * (mx + s.ln());
    };
    if par && f.len() * m >= PARALLEL_MIN_ENTRIES {
        f.par_iter_mut().enumerate().for_each(row_op);
    } else {
        f.iter_mut().enumerate().for_each(row_op);
    }
}

/// Scratch of the g-update: running column maxima and sums.
struct ColumnScratch {
    max: Vec<f64>,
    sum: Vec<f64>,
}

/// One block of columns for the g-update: (index, ((g, running maxima), running sums)).
type ColumnBlock<'a> = (usize, ((&'a mut [f64], &'a mut [f64]), &'a mut [f64]));

/// g_j = −ε LSE_i[(fᵢ − C_ij)/ε + log aᵢ], accumulated over rows so the cost is read contiguously;
/// blocks of columns in parallel when `par`.
fn update_g(cost: &[f64], f: &[f64], log_a: &[f64], eps: f64, g: &mut [f64], scratch: &mut ColumnScratch, par: bool) {
    let m = g.len();
    let inv = 1.0 / eps;
    let block_op = |(blk, ((gb, mxb), sb)): ColumnBlock<'_>, width: usize| {
        let j0 = blk * width;
        let w = gb.len();
        mxb.fill(f64::NEG_INFINITY);
        sb.fill(0.0);
        for (i, (&fi, &la)) in f.iter().zip(log_a).enumerate() {
            if la == f64::NEG_INFINITY {
                continue;
            }
            let row = &cost[i * m + j0..i * m + j0 + w];
            let shift = fi * inv + la;
            mxb.iter_mut().zip(row).for_each(|(mx, cij)| *mx = mx.max(shift - cij * inv));
        }
        for (i, (&fi, &la)) in f.iter().zip(log_a).enumerate() {
            if la == f64::NEG_INFINITY {
                continue;
            }
            let row = &cost[i * m + j0..i * m + j0 + w];
            let shift = fi * inv + la;
            for ((sj, cij), mx) in sb.iter_mut().zip(row).zip(mxb.iter()) {
                *sj += (shift - cij * inv - mx).exp();
            }
        }
        for ((gj, mx), sj) in gb.iter_mut().zip(mxb.iter()).zip(sb.iter()) {
            *gj = -eps * (mx + sj.ln());
        }
    };
    if par && f.len() * m >= PARALLEL_MIN_ENTRIES {
        let width = 64.max(m.div_ceil(4 * rayon::current_num_threads()));
        g.par_chunks_mut(width)
            .zip(scratch.max.par_chunks_mut(width))
            .zip(scratch.sum.par_chunks_mut(width))
            .enumerate()
            .for_each(|x| block_op(x, width));
    } else {
        block_op((0, ((g, &mut scratch.max[..]), &mut scratch.sum[..])), m.max(1));
    }
}
