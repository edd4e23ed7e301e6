//! Deterministic gradient flows: the zero-noise limit of the Langevin dynamics, as
//! [`FirstOrderSystem`]s for [`integrate_first_order`](crate::integrate_first_order).

use crate::cg::{self, CgLabels};
use crate::error::{Result, check_dim};
use crate::integrate::FirstOrderSystem;
use crate::metric::{CgOptions, Metric};
use crate::objective::{Objective, dot};
use crate::scratch::with_buffers;

/// The Euclidean gradient flow θ̇ = −∇U(θ) of a potential U.
///
/// Along it dU/dt = −|∇U|² ≤ 0; on U = ½θᵀAθ the solution is exp(−At)θ0. Cost per
/// right-hand side: one [`Objective::gradient`], no allocation. Overdamped Langevin
/// with T → 0; integrate it with [`integrate_first_order`](crate::integrate_first_order)
/// (adaptive Tsit5: explicit, so very stiff potentials take many steps).
#[derive(Debug, Clone)]
pub struct GradientFlow<O> {
    potential: O,
}

impl<O: Objective> GradientFlow<O> {
    /// The gradient flow of `potential`.
    pub fn new(potential: O) -> Self {
        Self { potential }
    }
    /// The potential U.
    pub fn potential(&self) -> &O {
        &self.potential
    }
}

impl<O: Objective> FirstOrderSystem for GradientFlow<O> {
    fn dim(&self) -> usize {
        self.potential.dim()
    }
    fn rhs(&self, _t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
        check_dim("dy", self.potential.dim(), dy.len())?;
        self.potential.gradient(y, dy)?;
        dy.iter_mut().for_each(|d| *d = -*d);
        Ok(())
    }
}

/// The natural-gradient flow on the loss graph, θ̇ = −G⁻¹∇U with G = I + ∇U∇Uᵀ:
/// θ̇ = −g/(1 + |g|²), g = ∇U, in closed form (Sherman–Morrison).
///
/// Along it dU/dt = −|g|²/(1 + |g|²) ≤ 0, and the speed |θ̇| ≤ ½ whatever the scale of
/// U, so steep regions do not force tiny explicit steps; where |g| ≫ 1 progress in U
/// per unit time is at most 1. Cost per right-hand side: one gradient and O(K)
/// arithmetic, no allocation. The same flow as [`RiemannianGradientFlow`] on
/// [`LossGraph`](crate::LossGraph), without the metric's second gradient call.
#[derive(Debug, Clone)]
pub struct LossGraphFlow<O> {
    potential: O,
}

impl<O: Objective> LossGraphFlow<O> {
    /// The loss-graph natural-gradient flow of `potential`.
    pub fn new(potential: O) -> Self {
        Self { potential }
    }
    /// The potential U (the loss inducing the metric).
    pub fn potential(&self) -> &O {
        &self.potential
    }
}

impl<O: Objective> FirstOrderSystem for LossGraphFlow<O> {
    fn dim(&self) -> usize {
        self.potential.dim()
    }
    fn rhs(&self, _t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
        check_dim("dy", self.potential.dim(), dy.len())?;
        self.potential.gradient(y, dy)?;
        let s = -1.0 / (1.0 + dot(dy, dy));
        dy.iter_mut().for_each(|d| *d *= s);
        Ok(())
    }
}

/// The Riemannian gradient flow θ̇ = −G(θ)⁻¹∇U(θ) for any [`Metric`] G (natural
/// gradient; with the Fisher/GGN pullback metric, Amari's natural gradient flow).
///
/// dU/dt = −∇UᵀG⁻¹∇U ≤ 0. Cost per right-hand side: one gradient and one
/// [`Metric::solve`] (O(K) for the loss graph, conjugate gradients for a pullback);
/// one scratch vector from the per-thread pool. For the loss graph of U itself prefer
/// [`LossGraphFlow`] (one gradient instead of two).
#[derive(Debug, Clone)]
pub struct RiemannianGradientFlow<M, O> {
    metric: M,
    potential: O,
}

impl<M: Metric, O: Objective> RiemannianGradientFlow<M, O> {
    /// The gradient flow of `potential` in the metric `metric`.
    ///
    /// Returns [`Error::DimensionMismatch`](crate::Error::DimensionMismatch) if the two
    /// dimensions differ.
    pub fn new(metric: M, potential: O) -> Result<Self> {
        check_dim("metric", potential.dim(), metric.dim())?;
        Ok(Self { metric, potential })
    }
}

impl<M: Metric, O: Objective> FirstOrderSystem for RiemannianGradientFlow<M, O> {
    fn dim(&self) -> usize {
        self.potential.dim()
    }
    fn rhs(&self, _t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
        let k = self.potential.dim();
        check_dim("dy", k, dy.len())?;
        with_buffers::<1, _>(k, |[g]| {
            self.potential.gradient(y, g)?;
            self.metric.solve(y, g, dy)
        })?;
        dy.iter_mut().for_each(|d| *d = -*d);
        Ok(())
    }
}

/// The mirror-descent flow of a potential U under a strictly convex mirror map φ:
/// d/dt ∇φ(θ) = −∇U(θ), i.e. θ̇ = −(∇²φ(θ))⁻¹∇U(θ) — the Riemannian gradient flow in the
/// Hessian metric G = ∇²φ, the continuous limit of mirror descent
/// ∇φ(θ_{k+1}) = ∇φ(θ_k) − η∇U(θ_k).
///
/// dU/dt = −∇Uᵀ(∇²φ)⁻¹∇U ≤ 0. The Hessian system is solved matrix-free by conjugate
/// gradients with [`Objective::hvp`] of φ (Hessian-vector products only; φ need not
/// be cheap to differentiate twice in full). Cost per right-hand side: one gradient of
/// U and one HVP of φ per CG iteration (at most K + a few for exact arithmetic; the
/// limit is [`CgOptions::max_iter`]); four scratch vectors from the per-thread pool.
/// For the entropic map φ = Σθ_i log θ_i (∇²φ = diag(1/θ_i)) the flow is
/// θ̇_i = −θ_i ∂_iU, which keeps θ positive. A Hessian that is not positive definite
/// along a search direction (θ outside φ's domain, for instance) fails the
/// evaluation with [`Error::LinearSolve`](crate::Error::LinearSolve).
#[derive(Debug, Clone)]
pub struct MirrorFlow<P, O> {
    mirror: P,
    potential: O,
    cg: CgOptions,
}

impl<P: Objective, O: Objective> MirrorFlow<P, O> {
    /// The mirror flow of `potential` under the mirror map `mirror` (CG defaults:
    /// relative tolerance 1e-12, at most 10K + 50 iterations).
    ///
    /// Returns [`Error::DimensionMismatch`](crate::Error::DimensionMismatch) if the two dimensions differ.
    pub fn new(mirror: P, potential: O) -> Result<Self> {
        check_dim("mirror map", potential.dim(), mirror.dim())?;
        Ok(Self { mirror, potential, cg: CgOptions::default() })
    }
    /// Replaces the conjugate-gradient settings.
    pub fn with_cg(mut self, cg: CgOptions) -> Self {
        self.cg = cg;
        self
    }
}

impl<P: Objective, O: Objective> FirstOrderSystem for MirrorFlow<P, O> {
    fn dim(&self) -> usize {
        self.potential.dim()
    }
    fn rhs(&self, _t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
        let k = self.potential.dim();
        check_dim("dy", k, dy.len())?;
        with_buffers::<4, _>(k, |[g, r, p, ap]| {
            self.potential.gradient(y, g)?;
            hessian_solve(&self.mirror, y, g, self.cg, [r, p, ap], dy)
        })?;
        dy.iter_mut().for_each(|d| *d = -*d);
        Ok(())
    }
}

/// Conjugate gradients for ∇²φ(y) out = b, from out = 0.
fn hessian_solve<P: Objective>(
    phi: &P,
    y: &[f64],
    b: &[f64],
    cg: CgOptions,
    scratch: [&mut [f64]; 3],
    out: &mut [f64],
) -> Result<()> {
    let tol = cg.rel_tol * dot(b, b).sqrt();
    let max_iter = cg.max_iter.unwrap_or(10 * b.len() + 50);
    let labels = CgLabels {
        what: "mirror flow (conjugate gradients on the mirror map's Hessian)",
        operator: "the Hessian",
        symbol: 'H',
        hint: "",
    };
    cg::solve(|v, hv| phi.hvp(y, v, hv), b, tol, max_iter, scratch, out, labels)
}
