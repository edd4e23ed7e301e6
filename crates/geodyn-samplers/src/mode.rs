//! Finding the mode θ* that the Laplace approximation and the samplers start from.
//!
//! Every sampler here assumes θ* is a minimum of the negative log posterior L: the
//! Laplace precision is the curvature *at a mode*, DiMS's potential is V = κ(L − L*) and
//! RLA's geodesics leave θ* with zero force only where ∇L(θ*) = 0. Adam, the usual way
//! to train a network (and the DiMS authors' way), stops far from that: on the Snelson
//! workload (1-16-16-1 GELU, σ = 0.285, λ = 0.209) 20 000 Adam epochs end with
//! ‖∇L‖ ≈ 10 and a Hessian with eigenvalues down to −13; the nearest minimum is 1.2%
//! lower in L and |Δθ| ≈ 5.5 away.
//!
//! [`find_mode`] gets there in two phases:
//!
//! 1. **L-BFGS** ([argmin](https://docs.rs/argmin)'s, with the Moré–Thuente line search)
//!    through the region of negative curvature, where Newton-type steps stall (a shifted
//!    Newton or Levenberg–Marquardt iteration on the Gauss–Newton matrix makes almost no
//!    progress there: the valley is long and bent). Values and gradients come from one
//!    [`Objective::gradient`] call per point (the line search asks for both).
//! 2. **Newton** with the exact dense Hessian (K Hessian-vector products and a symmetric
//!    eigendecomposition per iteration, so only for K ≤ [`ModeSearch::max_newton_dim`]):
//!    d = −U diag(1/(s + μ)) Uᵀ ∇L, with μ = 0 when the Hessian is positive definite
//!    (then the convergence is quadratic) and a Levenberg shift otherwise; a step is kept
//!    when it lowers L, or, once L no longer changes measurably, when it keeps L within
//!    rounding and lowers ‖∇L‖. L-BFGS alone stalls where changes of L reach rounding
//!    (‖∇L‖ ≈ 2e-4 on the workload); Newton takes ‖∇L‖ to rounding level in a few steps.
//!
//! The search stops when ‖∇L‖ ≤ `grad_rtol`·max(1, |L|).

use crate::error::{Result, SamplerError};
use crate::laplace::{dense_hessian, sym_eigen};
use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use geodyn_core::Objective;
use std::cell::RefCell;

/// Settings of [`find_mode`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModeSearch {
    /// L-BFGS iterations at most (0 skips the quasi-Newton phase).
    pub max_lbfgs_iters: u64,
    /// L-BFGS history length m.
    pub memory: usize,
    /// Newton iterations at most (0 skips the Newton phase).
    pub max_newton_iters: usize,
    /// The Newton phase needs the dense K×K Hessian (K Hessian-vector products, 8K²
    /// bytes and an O(K³) eigendecomposition per iteration); it is skipped for K above this.
    pub max_newton_dim: usize,
    /// Converged when ‖∇L‖ ≤ `grad_rtol`·max(1, |L|).
    pub grad_rtol: f64,
}

impl Default for ModeSearch {
    /// 50 000 L-BFGS iterations with memory 20, then up to 50 Newton iterations for
    /// K ≤ 4096, to ‖∇L‖ ≤ 1e-10·max(1, |L|).
    fn default() -> Self {
        Self { max_lbfgs_iters: 50_000, memory: 20, max_newton_iters: 50, max_newton_dim: 4096, grad_rtol: 1e-10 }
    }
}

/// What [`find_mode`] did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModeReport {
    /// L at the starting point.
    pub initial_value: f64,
    /// ‖∇L‖ at the starting point.
    pub initial_grad_norm: f64,
    /// L at the returned point.
    pub value: f64,
    /// ‖∇L‖ at the returned point.
    pub grad_norm: f64,
    /// L-BFGS iterations taken.
    pub lbfgs_iterations: u64,
    /// Newton steps taken (accepted).
    pub newton_iterations: usize,
    /// The smallest eigenvalue of the Hessian at the returned point (positive: a strict
    /// local minimum); `None` when the Newton phase is off or K is too large for it.
    pub min_hessian_eigenvalue: Option<f64>,
    /// Whether ‖∇L‖ ≤ `grad_rtol`·max(1, |L|) was reached.
    pub converged: bool,
}

/// A point, L there and ∇L there.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

/// The objective as argmin sees it: value and gradient from one `gradient` call,
/// cached for the line search's paired requests; the first error is kept to be
/// returned as it was.
struct Problem<'a, O: ?Sized> {
    objective: &'a O,
    cache: RefCell<Option<Evaluated>>,
    error: &'a RefCell<Option<geodyn_core::Error>>,
}

impl<O: Objective + ?Sized> Problem<'_, O> {
    fn eval(&self, p: &[f64]) -> std::result::Result<(f64, Vec<f64>), argmin::core::Error> {
        if let Some((x, f, g)) = self.cache.borrow().as_ref()
            && x.as_slice() == p
        {
            return Ok((*f, g.clone()));
        }
        let mut g = vec![0.0; p.len()];
        match self.objective.gradient(p, &mut g) {
            Ok(f) if f.is_finite() && g.iter().all(|v| v.is_finite()) => {
                *self.cache.borrow_mut() = Some((p.to_vec(), f, g.clone()));
                Ok((f, g))
            }
            // A non-finite value or gradient (e.g. a line-search trial far out): an
            // infinite cost makes the line search step back.
            Ok(_) => Ok((f64::INFINITY, vec![f64::NAN; p.len()])),
            Err(e) => {
                let msg = e.to_string();
                self.error.borrow_mut().get_or_insert(e);
                Err(argmin::core::Error::msg(msg))
            }
        }
    }
}

impl<O: Objective + ?Sized> CostFunction for Problem<'_, O> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        self.eval(p).map(|(f, _)| f)
    }
}

impl<O: Objective + ?Sized> Gradient for Problem<'_, O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        self.eval(p).map(|(_, g)| g)
    }
}

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Moves `theta` to a minimum of `objective` (L-BFGS, then Newton with the exact
/// Hessian; see the [module docs](self)). `theta` is only ever replaced by points of
/// lower L (or, at rounding level, equal L and smaller gradient), so a search that does
/// not converge still returns its best point; the report says how far it got.
///
/// Trial points where the objective fails or is not finite (a line search overshooting
/// into a region where the model overflows, a restricted domain) count as rejected
/// steps; the objective's errors at the start and at accepted points are returned.
///
/// # Errors
/// A start of the wrong length or not finite, the objective failing at the start or at
/// an accepted point, or an eigendecomposition failure.
///
/// ```
/// use geodyn_core::{Objective, Result};
/// use geodyn_samplers::mode::{find_mode, ModeSearch};
/// // The Rosenbrock function: minimum 0 at (1, 1).
/// struct Rosenbrock;
/// impl Objective for Rosenbrock {
///     fn dim(&self) -> usize { 2 }
///     fn value(&self, x: &[f64]) -> Result<f64> {
///         Ok((1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2))
///     }
///     fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
///         let r = x[1] - x[0] * x[0];
///         g[0] = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * r;
///         g[1] = 200.0 * r;
///         self.value(x)
///     }
///     fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
///         let (h00, h01, h11) = (2.0 - 400.0 * (x[1] - 3.0 * x[0] * x[0]), -400.0 * x[0], 200.0);
///         hv[0] = h00 * v[0] + h01 * v[1];
///         hv[1] = h01 * v[0] + h11 * v[1];
///         Ok(())
///     }
/// }
/// let mut theta = [-1.2, 1.0];
/// let report = find_mode(&Rosenbrock, &mut theta, &ModeSearch::default())?;
/// assert!(report.converged && report.grad_norm <= 1e-10);
/// assert!((theta[0] - 1.0).abs() < 1e-9 && (theta[1] - 1.0).abs() < 1e-9);
/// # Ok::<(), geodyn_samplers::SamplerError>(())
/// ```
pub fn find_mode<O: Objective + ?Sized>(objective: &O, theta: &mut [f64], opts: &ModeSearch) -> Result<ModeReport> {
    let k = objective.dim();
    if theta.len() != k {
        return Err(SamplerError::InvalidSetting(format!("start has {} entries, the objective {k}", theta.len())));
    }
    if opts.memory == 0 || opts.grad_rtol.is_nan() || opts.grad_rtol < 0.0 {
        return Err(SamplerError::InvalidSetting(format!(
            "mode search needs memory ≥ 1 and grad_rtol ≥ 0 (got {} and {})",
            opts.memory, opts.grad_rtol
        )));
    }
    geodyn_core::error::check_finite("mode search start", theta)?;
    let mut g = vec![0.0; k];
    let f0 = objective.gradient(theta, &mut g)?;
    if !f0.is_finite() {
        return Err(SamplerError::Core(geodyn_core::Error::NonFinite { what: "objective at the mode search start" }));
    }
    let gn0 = norm(&g);
    let tol = |f: f64| opts.grad_rtol * f.abs().max(1.0);
    let f = f0;

    // Phase 1: L-BFGS.
    let mut lbfgs_iterations = 0;
    if opts.max_lbfgs_iters > 0 && gn0 > tol(f) {
        let error = RefCell::new(None);
        let problem = Problem { objective, cache: RefCell::new(None), error: &error };
        let linesearch = MoreThuenteLineSearch::new();
        let solver = LBFGS::new(linesearch, opts.memory)
            .with_tolerance_grad(tol(f))
            .map_err(|e| SamplerError::Optimizer(e.to_string()))?;
        let start = theta.to_vec();
        let run = Executor::new(problem, solver).configure(|s| s.param(start).max_iters(opts.max_lbfgs_iters)).run();
        match run {
            Ok(mut res) => {
                lbfgs_iterations = res.state().get_iter();
                let best = res.state.take_best_param();
                if let Some(p) = best
                    && objective.value(&p).is_ok_and(|fb| fb.is_finite() && fb <= f)
                {
                    theta.copy_from_slice(&p);
                }
            }
            Err(e) => {
                return Err(match error.into_inner() {
                    Some(objective_error) => SamplerError::Core(objective_error),
                    None => SamplerError::Optimizer(format!("L-BFGS failed: {e}")),
                });
            }
        }
    }
    // The gradient at θ (the L-BFGS branch may have left another point's in `g`).
    let mut f = objective.gradient(theta, &mut g)?;
    let mut gn = norm(&g);

    // Phase 2: Newton with the exact Hessian.
    let mut newton_iterations = 0;
    let mut min_eig = None;
    if opts.max_newton_iters > 0 && k <= opts.max_newton_dim {
        let (mut trial, mut gt, mut ug, mut d) = (vec![0.0; k], vec![0.0; k], vec![0.0; k], vec![0.0; k]);
        'newton: while newton_iterations < opts.max_newton_iters && gn > tol(f) {
            let h = dense_hessian(objective, theta)?;
            let (vals, vecs) = sym_eigen(k, &h)?;
            let smin = vals.iter().copied().fold(f64::INFINITY, f64::min);
            let smax = vals.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            min_eig = Some(smin); // at θ, until a step is accepted
            for c in 0..k {
                ug[c] = vecs[c * k..(c + 1) * k].iter().zip(&g).map(|(a, b)| a * b).sum();
            }
            // μ = 0 for a positive definite Hessian, else a shift past the most negative
            // eigenvalue; grown ×10 per rejected step.
            let mut mu = if smin > 1e-14 * smax { 0.0 } else { -smin + 1e-8 * smax.max(1.0) };
            for _ in 0..40 {
                d.fill(0.0);
                for c in 0..k {
                    let coef = -ug[c] / (vals[c] + mu);
                    for (di, ui) in d.iter_mut().zip(&vecs[c * k..(c + 1) * k]) {
                        *di += coef * ui;
                    }
                }
                for i in 0..k {
                    trial[i] = theta[i] + d[i];
                }
                if let Ok(ft) = objective.gradient(&trial, &mut gt) {
                    let gnt = norm(&gt);
                    let level = 8.0 * f64::EPSILON * f.abs().max(1.0);
                    if ft.is_finite() && gnt.is_finite() && (ft < f - level || (ft <= f + level && gnt < gn)) {
                        theta.copy_from_slice(&trial);
                        g.copy_from_slice(&gt);
                        (f, gn) = (ft, gnt);
                        newton_iterations += 1;
                        min_eig = None;
                        continue 'newton;
                    }
                }
                mu = (mu * 10.0).max(1e-10 * smax.max(1.0));
            }
            break; // no acceptable step: stalled at rounding level
        }
        // The curvature where the search ended (unless a stalled Newton step just had it).
        if min_eig.is_none() {
            let (vals, _) = sym_eigen(k, &dense_hessian(objective, theta)?)?;
            min_eig = Some(vals.iter().copied().fold(f64::INFINITY, f64::min));
        }
    }
    Ok(ModeReport {
        initial_value: f0,
        initial_grad_norm: gn0,
        value: f,
        grad_norm: gn,
        lbfgs_iterations,
        newton_iterations,
        min_hessian_eigenvalue: min_eig,
        converged: gn <= tol(f),
    })
}
