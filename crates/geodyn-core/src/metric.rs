//! Riemannian metrics on R^K induced by functions, applied matrix-free.
//!
//! A [`Metric`] gives G(x) v, G(x)⁻¹ w, the geodesic acceleration −Γ(x)[v, v] and the
//! kinetic energy ½ vᵀG(x)v without forming G. Three are provided:
//!
//! - [`Euclidean`]: G = I.
//! - [`LossGraph`]: the pullback of the graph h(θ) = (θ, L(θ)) of a loss, with the
//!   closed forms of DiMS appendix A.1 (g = ∇L, H = ∇²L):
//!   G = I + g gᵀ, G⁻¹w = w − g (g·w)/(1+|g|²), grad_G L = g/(1+|g|²),
//!   Γ(v,v) = (vᵀHv) g/(1+|g|²). Every call is O(K) given g and vᵀHv.
//! - [`Pullback`]: any embedding E, G = JᵀJ + λI, with the geodesic acceleration
//!   −G⁻¹Jᵀ E''\[v,v\] solved matrix-free by conjugate gradients.

use crate::cg::{self, CgLabels};
use crate::error::{Error, Result, check_dim, check_finite};
use crate::objective::{Embedding, Objective, dot};
use crate::scratch::with_buffers;

/// A Riemannian metric on R^K, applied matrix-free.
pub trait Metric: Sync {
    /// The dimension K.
    fn dim(&self) -> usize;
    /// Writes G(x) v.
    fn apply(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()>;
    /// Writes G(x)⁻¹ w.
    fn solve(&self, x: &[f64], w: &[f64], out: &mut [f64]) -> Result<()>;
    /// Writes the geodesic acceleration −Γ(x)[v, v], so that geodesics solve ẍ = out.
    fn geodesic_acceleration(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()>;
    /// The kinetic energy T = ½ vᵀG(x)v.
    fn kinetic(&self, x: &[f64], v: &[f64]) -> Result<f64> {
        with_buffers::<1, _>(self.dim(), |[gv]| {
            self.apply(x, v, gv)?;
            Ok(0.5 * dot(v, gv))
        })
    }
    /// [`geodesic_acceleration`](Metric::geodesic_acceleration) and
    /// [`kinetic`](Metric::kinetic) together: writes −Γ(x)[v, v] and returns T. Metrics
    /// whose two share work (the loss graph needs ∇L for both) override it so that a
    /// geodesic right-hand side costs one derivative evaluation, not two.
    fn geodesic_acceleration_kinetic(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<f64> {
        self.geodesic_acceleration(x, v, out)?;
        self.kinetic(x, v)
    }
    /// The loss L if this is the loss-graph metric G = I + ∇L∇Lᵀ (default `None`; only
    /// [`LossGraph`] returns `Some`).
    ///
    /// This is how [`integrate`](crate::integrate()) recognises, for a method chosen at run
    /// time, that [`Mechanics`](crate::Mechanics) on this metric is a particle on the graph
    /// of L ([`SecondOrderSystem::as_loss_graph_particle`](crate::SecondOrderSystem::as_loss_graph_particle));
    /// other metrics keep the default.
    fn graph_loss(&self) -> Option<&dyn Objective> {
        None
    }
}

/// The flat metric G = I on R^K.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Euclidean {
    dim: usize,
}

impl Euclidean {
    /// The Euclidean metric on R^`dim`.
    pub fn new(dim: usize) -> Self {
        Self { dim }
    }
}

impl Metric for Euclidean {
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&self, _x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        check_dim("v", self.dim, v.len())?;
        check_dim("out", self.dim, out.len())?;
        out.copy_from_slice(v);
        Ok(())
    }
    fn solve(&self, x: &[f64], w: &[f64], out: &mut [f64]) -> Result<()> {
        self.apply(x, w, out)
    }
    fn geodesic_acceleration(&self, _x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        check_dim("v", self.dim, v.len())?;
        check_dim("out", self.dim, out.len())?;
        out.fill(0.0);
        Ok(())
    }
    fn kinetic(&self, _x: &[f64], v: &[f64]) -> Result<f64> {
        check_dim("v", self.dim, v.len())?;
        Ok(0.5 * dot(v, v))
    }
}

/// The loss-graph metric: the pullback of h(θ) = (θ, L(θ)) ∈ R^{K+1}, G = I + ∇L ∇Lᵀ.
///
/// All operations are O(K) given ∇L and one curvature probe vᵀ∇²L v (DiMS appendix
/// A.1); [`LossGraph::intrinsic_force`] evaluates the whole DiMS force
/// −(vᵀHv + κ) g/(1+|g|²) from a single [`Objective::grad_and_curvature`] call.
#[derive(Debug, Clone)]
pub struct LossGraph<O> {
    loss: O,
}

impl<O: Objective> LossGraph<O> {
    /// The loss-graph metric of `loss`.
    pub fn new(loss: O) -> Self {
        Self { loss }
    }
    /// The loss L inducing the metric.
    pub fn loss(&self) -> &O {
        &self.loss
    }
    /// Writes the Riemannian gradient grad_G L = G⁻¹∇L = g/(1+|g|²) and returns L(x).
    pub fn natural_gradient(&self, x: &[f64], out: &mut [f64]) -> Result<f64> {
        check_dim("out", self.loss.dim(), out.len())?;
        let l = self.loss.gradient(x, out)?;
        let s = 1.0 / (1.0 + dot(out, out));
        out.iter_mut().for_each(|o| *o *= s);
        Ok(l)
    }
    /// Writes Γ(x)[v, v] = (vᵀHv) g/(1+|g|²) (the Christoffel contraction; note the sign:
    /// the geodesic acceleration is its negative).
    pub fn christoffel(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        self.geodesic_acceleration(x, v, out)?;
        out.iter_mut().for_each(|o| *o = -*o);
        Ok(())
    }
    /// Writes −Γ(x)\[v,v\] − κ grad_G L(x) = −(vᵀHv + κ) g/(1+|g|²) into `out` in one
    /// fused pass (one [`Objective::grad_and_curvature`] call) and returns (L(x), T(x, v)).
    ///
    /// With κ = 0 this is the geodesic acceleration; with κ > 0, the DiMS force of the
    /// potential κ(L − L*) without friction.
    pub fn intrinsic_force(&self, x: &[f64], v: &[f64], kappa: f64, out: &mut [f64]) -> Result<(f64, f64)> {
        let k = self.dim();
        check_dim("v", k, v.len())?;
        check_dim("out", k, out.len())?;
        // out holds g first, then is scaled in place: no scratch needed.
        let (l, vhv) = self.loss.grad_and_curvature(x, v, out)?;
        let g2 = dot(out, out);
        let gv = dot(out, v);
        let t = 0.5 * (dot(v, v) + gv * gv);
        let s = -(vhv + kappa) / (1.0 + g2);
        out.iter_mut().for_each(|o| *o *= s);
        Ok((l, t))
    }
    /// The loss L(x) inducing the metric (the potential of
    /// [`IntrinsicPotential`](crate::mechanics::IntrinsicPotential) is κ(L − L*)).
    pub fn intrinsic_potential(&self, x: &[f64]) -> Result<f64> {
        self.loss.value(x)
    }
}

impl<O: Objective> Metric for LossGraph<O> {
    fn dim(&self) -> usize {
        self.loss.dim()
    }
    fn apply(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let k = self.dim();
        check_dim("v", k, v.len())?;
        check_dim("out", k, out.len())?;
        self.loss.gradient(x, out)?;
        let gv = dot(out, v);
        for (o, vi) in out.iter_mut().zip(v) {
            *o = vi + *o * gv;
        }
        Ok(())
    }
    fn solve(&self, x: &[f64], w: &[f64], out: &mut [f64]) -> Result<()> {
        let k = self.dim();
        check_dim("w", k, w.len())?;
        check_dim("out", k, out.len())?;
        self.loss.gradient(x, out)?;
        let s = dot(out, w) / (1.0 + dot(out, out));
        for (o, wi) in out.iter_mut().zip(w) {
            *o = wi - *o * s;
        }
        Ok(())
    }
    fn geodesic_acceleration(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        self.intrinsic_force(x, v, 0.0, out).map(|_| ())
    }
    /// One [`Objective::grad_and_curvature`] call gives both (T needs only ∇L·v).
    fn geodesic_acceleration_kinetic(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<f64> {
        self.intrinsic_force(x, v, 0.0, out).map(|(_, t)| t)
    }
    fn kinetic(&self, x: &[f64], v: &[f64]) -> Result<f64> {
        let k = self.dim();
        check_dim("v", k, v.len())?;
        with_buffers::<1, _>(k, |[g]| {
            self.loss.gradient(x, g)?;
            let gv = dot(g, v);
            Ok(0.5 * (dot(v, v) + gv * gv))
        })
    }
    fn graph_loss(&self) -> Option<&dyn Objective> {
        Some(&self.loss)
    }
}

/// Settings of the conjugate-gradient solves inside [`Pullback`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgOptions {
    /// Stop when ‖r‖ ≤ `rel_tol` · ‖b‖ (default 1e-12).
    pub rel_tol: f64,
    /// Iteration limit; `None` means 10·K + 50.
    pub max_iter: Option<usize>,
}

impl Default for CgOptions {
    fn default() -> Self {
        Self { rel_tol: 1e-12, max_iter: None }
    }
}

/// The pullback metric of an embedding E: R^K → R^m, G = JᵀJ + λI with J = ∂E/∂x.
///
/// The geodesic acceleration is −G⁻¹Jᵀ E''\[v,v\] (the λI part is constant and has no
/// Christoffel symbols); G⁻¹ is applied by conjugate gradients using only
/// [`Embedding::jvp`] and [`Embedding::vjp`]. λ > 0 keeps G positive definite when J
/// is rank-deficient (m < K).
#[derive(Debug, Clone)]
pub struct Pullback<E> {
    embedding: E,
    lambda: f64,
    cg: CgOptions,
}

impl<E: Embedding> Pullback<E> {
    /// The pullback metric of `embedding` plus `lambda`·I.
    ///
    /// Returns [`Error::InvalidParameter`] if `lambda` is negative or not finite.
    pub fn new(embedding: E, lambda: f64) -> Result<Self> {
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(Error::InvalidParameter { name: "lambda", value: lambda, reason: "must be finite and >= 0" });
        }
        Ok(Self { embedding, lambda, cg: CgOptions::default() })
    }
    /// Replaces the conjugate-gradient settings.
    pub fn with_cg(mut self, cg: CgOptions) -> Self {
        self.cg = cg;
        self
    }
    /// The embedding.
    pub fn embedding(&self) -> &E {
        &self.embedding
    }
    /// The regularisation λ.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// G v with a caller-provided m-vector of scratch.
    fn apply_with(&self, x: &[f64], v: &[f64], jv: &mut [f64], out: &mut [f64]) -> Result<()> {
        self.embedding.jvp(x, v, jv)?;
        self.embedding.vjp(x, jv, out)?;
        for (o, vi) in out.iter_mut().zip(v) {
            *o += self.lambda * vi;
        }
        Ok(())
    }

    /// Conjugate gradients for G out = b, starting from out = 0.
    fn cg_solve(&self, x: &[f64], b: &[f64], out: &mut [f64]) -> Result<()> {
        let k = self.embedding.input_dim();
        let m = self.embedding.output_dim();
        let max_iter = self.cg.max_iter.unwrap_or(10 * k + 50);
        out.fill(0.0);
        let bnorm = dot(b, b).sqrt();
        if bnorm == 0.0 {
            return Ok(());
        }
        let tol = self.cg.rel_tol * bnorm;
        let labels = CgLabels {
            what: "pullback metric (conjugate gradients)",
            operator: "G",
            symbol: 'G',
            hint: "; use lambda > 0",
        };
        with_buffers::<3, _>(k, |scratch| {
            with_buffers::<1, _>(m, |[jv]| {
                cg::solve(|v, gv| self.apply_with(x, v, jv, gv), b, tol, max_iter, scratch, out, labels)
            })
        })
    }
}

impl<E: Embedding> Metric for Pullback<E> {
    fn dim(&self) -> usize {
        self.embedding.input_dim()
    }
    fn apply(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let k = self.dim();
        check_dim("x", k, x.len())?;
        check_dim("v", k, v.len())?;
        check_dim("out", k, out.len())?;
        with_buffers::<1, _>(self.embedding.output_dim(), |[jv]| self.apply_with(x, v, jv, out))
    }
    fn solve(&self, x: &[f64], w: &[f64], out: &mut [f64]) -> Result<()> {
        let k = self.dim();
        check_dim("x", k, x.len())?;
        check_dim("w", k, w.len())?;
        check_dim("out", k, out.len())?;
        check_finite("w", w)?;
        self.cg_solve(x, w, out)
    }
    fn geodesic_acceleration(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let k = self.dim();
        check_dim("x", k, x.len())?;
        check_dim("v", k, v.len())?;
        check_dim("out", k, out.len())?;
        with_buffers::<1, _>(k, |[rhs]| {
            with_buffers::<1, _>(self.embedding.output_dim(), |[e2]| -> Result<()> {
                self.embedding.second_directional(x, v, e2)?;
                self.embedding.vjp(x, e2, rhs)?;
                Ok(())
            })?;
            check_finite("Jᵀ E''[v,v]", rhs)?;
            self.cg_solve(x, rhs, out)?;
            out.iter_mut().for_each(|o| *o = -*o);
            Ok(())
        })
    }
    fn kinetic(&self, x: &[f64], v: &[f64]) -> Result<f64> {
        let k = self.dim();
        check_dim("v", k, v.len())?;
        with_buffers::<1, _>(self.embedding.output_dim(), |[jv]| {
            self.embedding.jvp(x, v, jv)?;
            Ok(0.5 * (dot(jv, jv) + self.lambda * dot(v, v)))
        })
    }
}
