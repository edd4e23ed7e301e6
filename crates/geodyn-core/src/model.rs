//! The model-objective seam: an [`Objective`] that is the negative log posterior of a
//! model with outputs f_θ(x) at its training inputs, and the Jacobian products that the
//! Laplace posterior, the linearised predictive and pullback metrics need.
//!
//! Every backend's network objective implements [`ModelObjective`]; code written against
//! it (the GGN spectrum and the evidence in `geodyn-samplers`, the CLI pipeline) runs on
//! any backend. [`ModelOutputs`] turns any model objective into the [`Embedding`]
//! E(θ) = (f_θ(x₁), …, f_θ(x_N)) for [`Pullback`](crate::Pullback) metrics.

use crate::error::Result;
use crate::objective::{Embedding, Objective};

/// The negative log posterior L(θ) = Σₙ ℓ(f_θ(xₙ), yₙ) + ½λ|θ|² of a model with `m`
/// outputs per input, with the products of the output Jacobian J = ∂f_θ(x_{1..N})/∂θ
/// (shape `[N·m, K]`, rows in data order, outputs of one input contiguous).
///
/// Implementations check lengths and finiteness and return typed errors; none of the
/// methods allocates per call beyond what its documentation says.
pub trait ModelObjective: Objective {
    /// N·m, the number of outputs at the training inputs (the length of
    /// [`outputs`](Self::outputs) and [`jvp`](Self::jvp)).
    fn num_outputs(&self) -> usize;

    /// The outputs f_θ(xₙ) at the training inputs, row-major `[N, m]`.
    fn outputs(&self, x: &[f64], out: &mut [f64]) -> Result<()>;

    /// J(θ) v, row-major `[N, m]`.
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()>;

    /// J(θ)ᵀ u for an output cotangent u of shape `[N, m]` (length K; the data term
    /// only, no prior).
    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()>;

    /// The generalised Gauss–Newton product (JᵀΛJ + λI) v, Λ the block-diagonal Hessian
    /// of the loss with respect to the outputs (I/σ² for a Gaussian likelihood).
    fn ggn_vp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()>;

    /// d²/dt² f_{θ+tv}(x_{1..N}) at t = 0, `[N, m]` (the second directional derivative
    /// of the outputs; what a pullback metric's geodesic equation needs).
    fn outputs_second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()>;

    /// Batched predictions at arbitrary inputs: `param_sets` holds S parameter vectors
    /// back to back (`[S, K]`), `inputs` is `[n, d]`, `out` receives `[S, n, m]`.
    fn predict(&self, param_sets: &[f64], inputs: &[f64], out: &mut [f64]) -> Result<()>;
}

/// The outputs at the training inputs of any [`ModelObjective`], as an [`Embedding`]
/// E: R^K → R^{N·m}, E(θ) = (f_θ(x₁), …, f_θ(x_N)).
///
/// ```
/// # use geodyn_core::{Embedding, ModelObjective, ModelOutputs, Objective, Result};
/// # struct Line; // f_θ(x) = θ₀ + θ₁x at x = 0, 1, 2, squared loss, no prior
/// # impl Objective for Line {
/// #     fn dim(&self) -> usize { 2 }
/// #     fn value(&self, t: &[f64]) -> Result<f64> {
/// #         Ok((0..3).map(|x| (t[0] + t[1] * x as f64).powi(2) / 2.0).sum()) }
/// #     fn gradient(&self, t: &[f64], g: &mut [f64]) -> Result<f64> {
/// #         g.fill(0.0);
/// #         for x in 0..3 { let r = t[0] + t[1] * x as f64; g[0] += r; g[1] += r * x as f64; }
/// #         self.value(t) }
/// #     fn hvp(&self, _: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
/// #         hv[0] = 3.0 * v[0] + 3.0 * v[1]; hv[1] = 3.0 * v[0] + 5.0 * v[1]; Ok(()) }
/// # }
/// # impl ModelObjective for Line {
/// #     fn num_outputs(&self) -> usize { 3 }
/// #     fn outputs(&self, t: &[f64], o: &mut [f64]) -> Result<()> {
/// #         for x in 0..3 { o[x] = t[0] + t[1] * x as f64 } Ok(()) }
/// #     fn jvp(&self, _: &[f64], v: &[f64], o: &mut [f64]) -> Result<()> { self.outputs(v, o) }
/// #     fn vjp(&self, _: &[f64], u: &[f64], o: &mut [f64]) -> Result<()> {
/// #         o[0] = u.iter().sum(); o[1] = u[1] + 2.0 * u[2]; Ok(()) }
/// #     fn ggn_vp(&self, t: &[f64], v: &[f64], o: &mut [f64]) -> Result<()> { self.hvp(t, v, o) }
/// #     fn outputs_second_directional(&self, _: &[f64], _: &[f64], o: &mut [f64]) -> Result<()> {
/// #         o.fill(0.0); Ok(()) }
/// #     fn predict(&self, _: &[f64], _: &[f64], _: &mut [f64]) -> Result<()> { Ok(()) }
/// # }
/// let e = ModelOutputs::new(&Line);
/// let mut f = [0.0; 3];
/// e.value(&[1.0, 2.0], &mut f).unwrap();
/// assert_eq!(f, [1.0, 3.0, 5.0]);
/// assert_eq!((e.input_dim(), e.output_dim()), (2, 3));
/// ```
#[derive(Debug)]
pub struct ModelOutputs<'a, M: ?Sized> {
    model: &'a M,
}

impl<M: ?Sized> Clone for ModelOutputs<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: ?Sized> Copy for ModelOutputs<'_, M> {}

impl<'a, M: ModelObjective + ?Sized> ModelOutputs<'a, M> {
    /// The embedding of `model`'s outputs at its training inputs.
    pub fn new(model: &'a M) -> Self {
        Self { model }
    }
}

impl<M: ModelObjective + ?Sized> Embedding for ModelOutputs<'_, M> {
    fn input_dim(&self) -> usize {
        self.model.dim()
    }

    fn output_dim(&self) -> usize {
        self.model.num_outputs()
    }

    fn value(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        self.model.outputs(x, out)
    }

    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        self.model.jvp(x, v, out)
    }

    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        self.model.vjp(x, u, out)
    }

    fn second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        self.model.outputs_second_directional(x, v, out)
    }
}
