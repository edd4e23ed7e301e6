//! The one seam between geometry and autodiff: [`Objective`] and [`Embedding`].
//!
//! Everything geometric in geodyn needs only a few derivatives of a scalar function
//! f: R^K → R (or of an embedding E: R^K → R^m). Backends implement these traits;
//! nothing above the backends knows how the derivatives are computed.

use crate::error::{Result, check_dim};
use crate::scratch::with_buffers;
use std::sync::Arc;

/// A twice-differentiable scalar function f: R^K → R with exact derivatives.
///
/// Implementors provide [`value`](Objective::value), [`gradient`](Objective::gradient)
/// and an exact Hessian-vector product [`hvp`](Objective::hvp);
/// [`grad_and_curvature`](Objective::grad_and_curvature) — the hot path of
/// second-order dynamics — has a default from `gradient` + `hvp` that backends
/// override with a fused pass.
///
/// Callers pass output buffers; implementations must not allocate per call after
/// warm-up, must check dimensions, and must report non-finite results as
/// [`Error::NonFinite`](crate::Error::NonFinite) rather than panic.
///
/// ```
/// use geodyn_core::{Objective, Result};
///
/// /// f(x) = ½ Σ a_i x_i², so ∇f = a ⊙ x and H = diag(a).
/// struct Quadratic(Vec<f64>);
///
/// impl Objective for Quadratic {
///     fn dim(&self) -> usize { self.0.len() }
///     fn value(&self, x: &[f64]) -> Result<f64> {
///         Ok(0.5 * self.0.iter().zip(x).map(|(a, x)| a * x * x).sum::<f64>())
///     }
///     fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
///         for ((g, a), x) in g.iter_mut().zip(&self.0).zip(x) { *g = a * x; }
///         self.value(x)
///     }
///     fn hvp(&self, _x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
///         for ((h, a), v) in hv.iter_mut().zip(&self.0).zip(v) { *h = a * v; }
///         Ok(())
///     }
/// }
///
/// let q = Quadratic(vec![1.0, 4.0]);
/// let mut g = [0.0; 2];
/// let (f, vhv) = q.grad_and_curvature(&[1.0, 1.0], &[1.0, 0.5], &mut g).unwrap();
/// assert_eq!((f, vhv, g), (2.5, 2.0, [1.0, 4.0]));
/// ```
pub trait Objective: Sync {
    /// The input dimension K.
    fn dim(&self) -> usize;

    /// f(x).
    fn value(&self, x: &[f64]) -> Result<f64>;

    /// Writes ∇f(x) into `g` and returns f(x).
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64>;

    /// Writes the exact Hessian-vector product ∇²f(x) v into `hv`.
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()>;

    /// A [`GradientContext`] for a run of [`gradient`](Objective::gradient) calls at
    /// nearby points, such as an integrator's evaluations along one trajectory. The
    /// default answers every call with `gradient`; backends whose evaluations can reuse
    /// earlier work return their own (see [`GradientContext`] for the contract).
    ///
    /// A boxed trait object rather than an associated type, so that `Objective` stays
    /// usable as `dyn Objective` (integrators hold `&dyn Objective`) and forwarding
    /// impls and enum dispatchers simply pass the box on; the box is one allocation per
    /// context, that is per trajectory, not per evaluation.
    fn gradient_context(&self) -> Box<dyn GradientContext + '_> {
        Box::new(FullGradients(self))
    }

    /// Writes ∇f(x) into `g` and returns (f(x), vᵀ∇²f(x)v).
    ///
    /// The fused derivative of second-order dynamics on the loss graph (the curvature of
    /// the loss along the velocity). The default calls [`gradient`](Objective::gradient)
    /// and [`hvp`](Objective::hvp) with a thread-local scratch buffer.
    fn grad_and_curvature(&self, x: &[f64], v: &[f64], g: &mut [f64]) -> Result<(f64, f64)> {
        let k = self.dim();
        check_dim("v", k, v.len())?;
        let f = self.gradient(x, g)?;
        let vhv = with_buffers::<1, _>(k, |[hv]| -> Result<f64> {
            self.hvp(x, v, hv)?;
            Ok(dot(v, hv))
        })?;
        Ok((f, vhv))
    }
}

/// Gradients of one [`Objective`] at a sequence of nearby points, with whatever the
/// backend keeps between them owned by the context (one per trajectory): obtained from
/// [`Objective::gradient_context`].
///
/// # Contract
///
/// - The first call, and the first after [`restart`](GradientContext::restart), is a
///   full evaluation: the same bits as [`Objective::gradient`] at that point.
/// - Later calls may reuse the work of the earlier ones where the point is close enough
///   to them, and fall back to a full evaluation elsewhere. Their results agree with
///   `gradient(x)` to rounding (a few ulp of each elementwise term), not necessarily to
///   the last bit; their bits depend only on the calls made through this context since
///   its last full start, never on other contexts, other threads or the calls of other
///   objects.
/// - Errors are those of `gradient`; after an error the context stays usable.
///
/// # Cost and when not to use it
///
/// A context may hold a copy of intermediate values of the last evaluations (for a
/// network: its activations over the data), so creating one can allocate; its calls
/// allocate nothing after the first. Use it for evaluations that follow each other at
/// nearby points, one context per sequence. For isolated evaluations, or where results
/// must equal `gradient` bit for bit, call [`Objective::gradient`] instead.
///
/// ```
/// use geodyn_core::{GradientContext, Objective, Result};
///
/// struct Bowl;
/// impl Objective for Bowl {
///     fn dim(&self) -> usize { 1 }
///     fn value(&self, x: &[f64]) -> Result<f64> { Ok(0.5 * x[0] * x[0]) }
///     fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> { g[0] = x[0]; self.value(x) }
///     fn hvp(&self, _x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> { hv[0] = v[0]; Ok(()) }
/// }
///
/// let mut ctx = Bowl.gradient_context();
/// let mut g = [0.0];
/// assert_eq!(ctx.gradient(&[2.0], &mut g).unwrap(), 2.0);
/// assert_eq!(g, [2.0]);
/// ```
pub trait GradientContext {
    /// Writes ∇f(x) into `g` and returns f(x), as [`Objective::gradient`] does, under
    /// the contract above.
    fn gradient(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64>;

    /// Forgets what earlier calls kept: the next call is a full evaluation again. The
    /// default does nothing (for contexts that keep nothing).
    fn restart(&mut self) {}
}

/// The default [`GradientContext`]: every call is [`Objective::gradient`].
#[derive(Debug, Clone, Copy)]
pub struct FullGradients<'a, O: ?Sized>(pub &'a O);

impl<O: Objective + ?Sized> GradientContext for FullGradients<'_, O> {
    fn gradient(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        self.0.gradient(x, g)
    }
}

/// A smooth map E: R^K → R^m (an embedding or immersion) with exact first and second
/// directional derivatives; the input of [`Pullback`](crate::Pullback) metrics.
pub trait Embedding: Sync {
    /// The input dimension K.
    fn input_dim(&self) -> usize;
    /// The output dimension m.
    fn output_dim(&self) -> usize;
    /// Writes E(x) (length m).
    fn value(&self, x: &[f64], out: &mut [f64]) -> Result<()>;
    /// Writes the Jacobian-vector product J(x) v (length m).
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()>;
    /// Writes the vector-Jacobian product J(x)ᵀ u (length K).
    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()>;
    /// Writes the second directional derivative E''(x)[v, v] = d²/dt² E(x + t v) at t = 0
    /// (length m).
    fn second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()>;
}

/// A Lagrangian L(x, v) on the tangent bundle of R^n, with the derivatives the
/// Euler–Lagrange equations need; the input of
/// [`LagrangianSystem`](crate::LagrangianSystem).
///
/// A Finsler metric F enters as L = ½F².
pub trait Lagrangian: Sync {
    /// The configuration dimension n.
    fn dim(&self) -> usize;
    /// L(x, v).
    fn value(&self, x: &[f64], v: &[f64]) -> Result<f64>;
    /// Writes ∂L/∂v (length n).
    fn velocity_gradient(&self, x: &[f64], v: &[f64], lv: &mut [f64]) -> Result<()>;
    /// Writes ∂L/∂x (length n), the velocity Hessian ∂²L/∂v² (n×n, row-major) and the
    /// mixed term (∂²L/∂v∂x) v, i.e. Σ_j ∂²L/∂v_i∂x_j v_j (length n).
    fn euler_lagrange_terms(
        &self,
        x: &[f64],
        v: &[f64],
        lx: &mut [f64],
        lvv: &mut [f64],
        lvx_v: &mut [f64],
    ) -> Result<()>;
}

/// A Rayleigh dissipation function R(x, v): the generalised friction force is −∂R/∂v.
pub trait Rayleigh: Sync {
    /// R(x, v).
    fn value(&self, x: &[f64], v: &[f64]) -> Result<f64>;
    /// Writes ∂R/∂v (length n).
    fn velocity_gradient(&self, x: &[f64], v: &[f64], rv: &mut [f64]) -> Result<()>;
}

/// Dot product of two equal-length slices (of the common prefix if they differ).
///
/// Summed with eight interleaved partial sums, combined pairwise in a fixed order: the
/// result is deterministic, its rounding error bound is that of a sum of about n/8
/// terms instead of n, and the additions do not form one serial dependency chain (a
/// plain left-to-right sum of n terms costs n floating-point latencies, which for the
/// few-hundred-parameter networks of the samplers is comparable to the rest of a
/// right-hand-side evaluation's bookkeeping).
///
/// ```
/// assert_eq!(geodyn_core::dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
/// ```
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut rest = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        rest += x * y;
    }
    let mut acc = [0.0; 8];
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    combine8(acc) + rest
}

/// The eight partial sums of [`dot`] and friends, added pairwise in a fixed order.
#[inline(always)]
pub(crate) fn combine8(acc: [f64; 8]) -> f64 {
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

macro_rules! forward_objective {
    ($($ty:ty),*) => {$(
        impl<T: Objective + ?Sized> Objective for $ty {
            fn dim(&self) -> usize { (**self).dim() }
            fn value(&self, x: &[f64]) -> Result<f64> { (**self).value(x) }
            fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> { (**self).gradient(x, g) }
            fn gradient_context(&self) -> Box<dyn GradientContext + '_> { (**self).gradient_context() }
            fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> { (**self).hvp(x, v, hv) }
            fn grad_and_curvature(&self, x: &[f64], v: &[f64], g: &mut [f64]) -> Result<(f64, f64)> {
                (**self).grad_and_curvature(x, v, g)
            }
        }
    )*};
}
forward_objective!(&T, Box<T>);

impl<T: Objective + Send + ?Sized> Objective for Arc<T> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        (**self).value(x)
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        (**self).gradient(x, g)
    }
    fn gradient_context(&self) -> Box<dyn GradientContext + '_> {
        (**self).gradient_context()
    }
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        (**self).hvp(x, v, hv)
    }
    fn grad_and_curvature(&self, x: &[f64], v: &[f64], g: &mut [f64]) -> Result<(f64, f64)> {
        (**self).grad_and_curvature(x, v, g)
    }
}

macro_rules! forward_embedding {
    ($($ty:ty),*) => {$(
        impl<T: Embedding + ?Sized> Embedding for $ty {
            fn input_dim(&self) -> usize { (**self).input_dim() }
            fn output_dim(&self) -> usize { (**self).output_dim() }
            fn value(&self, x: &[f64], out: &mut [f64]) -> Result<()> { (**self).value(x, out) }
            fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> { (**self).jvp(x, v, out) }
            fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> { (**self).vjp(x, u, out) }
            fn second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
                (**self).second_directional(x, v, out)
            }
        }
    )*};
}
forward_embedding!(&T, Box<T>);
