//! Exact derivatives of MLP negative log posteriors: a hand-written backward pass,
//! and Hessian-vector products by forward-over-reverse over [`Dual64`].
//!
//! [`MlpObjective`] is the [`Objective`] L(θ) = Σₙ ℓ(f_θ(xₙ), yₙ) + ½λ|θ|² (DiMS eq. 1,
//! up to constants) for a [`ModelSpec`], a [`Dataset`] and a [`Loss`].
//!
//! The forward and backward passes are written once, generic over the scalar type:
//!
//! - over `f64` they give L and ∇L (reverse mode by hand: δ_L = ∂ℓ/∂a_L ⊙ σ'(z_L),
//!   ∇W_l = δ_l a_{l−1}ᵀ, ∇b_l = δ_l, δ_{l−1} = (W_lᵀ δ_l) ⊙ σ'(z_{l−1}));
//! - over `Dual64` with parameters θ + εv they differentiate that whole computation
//!   in the direction v: the real parts are ∇L(θ), the ε parts are d/dt ∇L(θ + tv) =
//!   H(θ) v — an exact Hessian-vector product for about the cost of two gradients.
//!   The loss enters through its closed-form output gradient and output Hessian
//!   Λ = ∂²ℓ/∂f² (ε part of ∂ℓ/∂f = Λ ḟ), the activations through σ, σ', σ''.
//!
//! The hot calls — value, gradient, [`Objective::grad_and_curvature`] and
//! [`Objective::hvp`] — run the same mathematics in the batched, feature-major f64
//! engine (`mlp_batched`): whole layers as matrix products and the vectorised activation
//! kernels, with the tangent streams written out instead of carried by dual numbers.
//! The dual-number reverse pass stays available as
//! [`MlpObjective::gradient_and_hvp_dual`], the reference the engine is tested against.
//!
//! The same dual forward pass gives Jacobian-vector products J v of the network
//! outputs at the data, and with the f64 backward pass (vector-Jacobian products Jᵀu)
//! the generalised Gauss–Newton product (JᵀΛJ + λI) v: the [`ModelObjective`] surface;
//! [`MlpObjective::outputs_embedding`] exposes the outputs as an
//! [`Embedding`](geodyn_core::Embedding) (E''[v, v] from a `Dual2_64` forward pass).
//!
//! Scratch space is thread-local and grows to the largest size seen: after the first
//! call on a thread no call allocates. Samples are processed in chunks of
//! [`CHUNK`] rows, so scratch stays small for large data sets.

use crate::mlp_batched::Mode;
use geodyn_core::error::{check_dim, check_finite};
use geodyn_core::{GradientContext, ModelObjective, ModelOutputs, Objective, Result};
use geodyn_nn::{Activation, Dataset, GaussianPrior, Loss, ModelSpec, NnError, Target};
use num_dual::{Dual2_64, Dual64};
use std::ops::{Add, AddAssign, Mul};

/// Samples per chunk of the forward/backward passes.
pub const CHUNK: usize = 256;

// ---------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------

/// A scalar the forward pass runs over: f64, `Dual64` (first directional derivative)
/// or `Dual2_64` (first and second directional derivatives).
trait ForwardScalar: Copy + Add<Output = Self> + Mul<Output = Self> + AddAssign + 'static {
    fn zero() -> Self;
    fn from_re(x: f64) -> Self;
    /// σ(z).
    fn act_value(a: Activation, z: Self) -> Self;
    /// Runs `f` with a workspace for this scalar type from the thread's scratch pool.
    fn with_work<R>(f: impl FnOnce(&mut Work<Self>) -> R) -> R;
}

/// A scalar the backward pass runs over: f64 (gradient) or `Dual64` (gradient + Hv).
trait Scalar: ForwardScalar {
    /// (σ(z), σ'(z)).
    fn act(a: Activation, z: Self) -> (Self, Self);
    /// ℓ(f, y) into the return value and ∂ℓ/∂f into `cot`; `tmp` holds ≥ 4m values.
    fn loss(loss: &Loss, f: &[Self], y: Target<'_>, cot: &mut [Self], tmp: &mut [f64]) -> Self;
}

impl ForwardScalar for f64 {
    #[inline]
    fn zero() -> Self {
        0.0
    }
    #[inline]
    fn from_re(x: f64) -> Self {
        x
    }
    #[inline]
    fn act_value(a: Activation, z: Self) -> Self {
        a.value(z)
    }
    fn with_work<R>(f: impl FnOnce(&mut Work<Self>) -> R) -> R {
        geodyn_core::scratch::with_scratch(f)
    }
}

impl Scalar for f64 {
    #[inline]
    fn act(a: Activation, z: Self) -> (Self, Self) {
        a.eval2(z)
    }
    #[inline]
    fn loss(loss: &Loss, f: &[Self], y: Target<'_>, cot: &mut [Self], _tmp: &mut [f64]) -> Self {
        loss.value_grad(f, y, cot)
    }
}

impl ForwardScalar for Dual64 {
    #[inline]
    fn zero() -> Self {
        Dual64::new(0.0, 0.0)
    }
    #[inline]
    fn from_re(x: f64) -> Self {
        Dual64::new(x, 0.0)
    }
    #[inline]
    fn act_value(a: Activation, z: Self) -> Self {
        let (s, ds) = a.eval2(z.re);
        Dual64::new(s, ds * z.eps)
    }
    fn with_work<R>(f: impl FnOnce(&mut Work<Self>) -> R) -> R {
        geodyn_core::scratch::with_scratch(f)
    }
}

impl Scalar for Dual64 {
    /// σ(a + bε) = σ(a) + σ'(a) b ε and σ'(a + bε) = σ'(a) + σ''(a) b ε.
    #[inline]
    fn act(a: Activation, z: Self) -> (Self, Self) {
        let (s, ds, dds) = a.eval3(z.re);
        (Dual64::new(s, ds * z.eps), Dual64::new(ds, dds * z.eps))
    }
    /// ℓ(f + ḟε) = ℓ(f) + (∇ℓ·ḟ) ε and ∇ℓ(f + ḟε) = ∇ℓ(f) + (Λ ḟ) ε.
    #[inline]
    fn loss(loss: &Loss, f: &[Self], y: Target<'_>, cot: &mut [Self], tmp: &mut [f64]) -> Self {
        let m = f.len();
        let (re, rest) = tmp.split_at_mut(m);
        let (eps, rest) = rest.split_at_mut(m);
        let (g, rest) = rest.split_at_mut(m);
        let hv = &mut rest[..m];
        for ((r, e), f) in re.iter_mut().zip(eps.iter_mut()).zip(f) {
            *r = f.re;
            *e = f.eps;
        }
        let val = loss.value_grad(re, y, g);
        loss.hess_vec(re, eps, hv);
        let mut dval = 0.0;
        for (((c, g), h), e) in cot.iter_mut().zip(g.iter()).zip(hv.iter()).zip(eps.iter()) {
            *c = Dual64::new(*g, *h);
            dval += g * e;
        }
        Dual64::new(val, dval)
    }
}

impl ForwardScalar for Dual2_64 {
    #[inline]
    fn zero() -> Self {
        Dual2_64::new(0.0, 0.0, 0.0)
    }
    #[inline]
    fn from_re(x: f64) -> Self {
        Dual2_64::new(x, 0.0, 0.0)
    }
    /// σ(z(t)): d/dt = σ' ż, d²/dt² = σ'' ż² + σ' z̈.
    #[inline]
    fn act_value(a: Activation, z: Self) -> Self {
        let (s, ds, dds) = a.eval3(z.re);
        Dual2_64::new(s, ds * z.v1, dds * z.v1 * z.v1 + ds * z.v2)
    }
    fn with_work<R>(f: impl FnOnce(&mut Work<Self>) -> R) -> R {
        geodyn_core::scratch::with_scratch(f)
    }
}

// ---------------------------------------------------------------------------------
// Workspace and the generic passes
// ---------------------------------------------------------------------------------

/// Scratch for one scalar type, kept in the thread's scratch pool. Buffers only grow.
struct Work<S> {
    /// Parameters as scalars (θ + εv for duals).
    params: Vec<S>,
    /// Activations of one chunk, per layer (input included): blocks `[chunk, w_l]`.
    acts: Vec<S>,
    /// σ'(z_l) of one chunk, per layer: blocks `[chunk, w_l]`.
    dacts: Vec<S>,
    /// Backward deltas, two ping-pong buffers of `[chunk, max_width]`.
    delta: Vec<S>,
    delta2: Vec<S>,
    /// The gradient accumulator (K).
    grad: Vec<S>,
    /// f64 scratch for the loss.
    tmp: Vec<f64>,
}

impl<S: ForwardScalar> Default for Work<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: ForwardScalar> Work<S> {
    fn new() -> Self {
        Self {
            params: Vec::new(),
            acts: Vec::new(),
            dacts: Vec::new(),
            delta: Vec::new(),
            delta2: Vec::new(),
            grad: Vec::new(),
            tmp: Vec::new(),
        }
    }

    /// Grows the buffers for `spec` (never shrinks, so later calls do not allocate).
    fn reserve(&mut self, spec: &ModelSpec) {
        fn grow<T: Copy>(v: &mut Vec<T>, n: usize, z: T) {
            if v.len() < n {
                v.resize(n, z);
            }
        }
        let z = S::zero();
        let units = spec.input_dim() + spec.total_units();
        grow(&mut self.params, spec.num_params(), z);
        grow(&mut self.acts, CHUNK * units, z);
        grow(&mut self.dacts, CHUNK * spec.total_units(), z);
        grow(&mut self.delta, CHUNK * spec.max_width(), z);
        grow(&mut self.delta2, CHUNK * spec.max_width(), z);
        grow(&mut self.grad, spec.num_params(), z);
        grow(&mut self.tmp, 4 * spec.output_dim(), 0.0);
    }
}

/// Offset of activation block `a` for a chunk of `n` rows: a = 0 is the input
/// `[n, d]`, a = l + 1 the output `[n, w_l]` of layer l.
#[inline]
fn act_offset(spec: &ModelSpec, a: usize, n: usize) -> usize {
    if a == 0 { 0 } else { n * (spec.input_dim() + spec.layers()[..a - 1].iter().map(|d| d.output).sum::<usize>()) }
}

/// Offset of layer `l`'s σ' block (l ≥ 1 indexes the layer producing it; stored at l−1).
#[inline]
fn dact_offset(spec: &ModelSpec, l: usize, n: usize) -> usize {
    n * spec.layers()[..l].iter().map(|d| d.output).sum::<usize>()
}

/// b + Σᵢ wᵢ aᵢ with four independent accumulators (breaks the add latency chain).
#[inline(always)]
fn dot_plus<S: ForwardScalar>(w: &[S], a: &[S], b: S) -> S {
    let n4 = w.len() / 4 * 4;
    let mut acc = [S::zero(); 4];
    for (wc, ac) in w[..n4].chunks_exact(4).zip(a[..n4].chunks_exact(4)) {
        acc[0] += wc[0] * ac[0];
        acc[1] += wc[1] * ac[1];
        acc[2] += wc[2] * ac[2];
        acc[3] += wc[3] * ac[3];
    }
    let mut s = b + ((acc[0] + acc[1]) + (acc[2] + acc[3]));
    for (w, a) in w[n4..].iter().zip(&a[n4..]) {
        s += *w * *a;
    }
    s
}

/// Forward pass of `n` rows of `inputs` (row-major `[n, d]`): fills the activation
/// blocks of `acts` (and σ' into `dacts` when given). Returns the offset of the output
/// block `[n, m]` in `acts`.
#[inline]
fn forward_values<S: ForwardScalar>(spec: &ModelSpec, params: &[S], inputs: &[f64], n: usize, acts: &mut [S]) -> usize {
    let d = spec.input_dim();
    for (a, x) in acts[..n * d].iter_mut().zip(inputs) {
        *a = S::from_re(*x);
    }
    for (l, layer) in spec.layers().iter().enumerate() {
        let (wt, b) = spec.layer_params(params, l);
        let in_off = act_offset(spec, l, n);
        let out_off = act_offset(spec, l + 1, n);
        let (lo, hi) = acts.split_at_mut(out_off);
        let a_in = &lo[in_off..in_off + n * layer.input];
        let a_out = &mut hi[..n * layer.output];
        for (x, y) in a_in.chunks_exact(layer.input).zip(a_out.chunks_exact_mut(layer.output)) {
            for ((yo, row), bo) in y.iter_mut().zip(wt.chunks_exact(layer.input)).zip(b) {
                *yo = S::act_value(layer.activation, dot_plus(row, x, *bo));
            }
        }
    }
    act_offset(spec, spec.layers().len(), n)
}

/// Forward pass storing σ'(z_l) too (needed by the backward pass).
#[inline]
fn forward<S: Scalar>(
    spec: &ModelSpec,
    params: &[S],
    inputs: &[f64],
    n: usize,
    acts: &mut [S],
    dacts: &mut [S],
) -> usize {
    let d = spec.input_dim();
    for (a, x) in acts[..n * d].iter_mut().zip(inputs) {
        *a = S::from_re(*x);
    }
    for (l, layer) in spec.layers().iter().enumerate() {
        let (wt, b) = spec.layer_params(params, l);
        let in_off = act_offset(spec, l, n);
        let out_off = act_offset(spec, l + 1, n);
        let (lo, hi) = acts.split_at_mut(out_off);
        let a_in = &lo[in_off..in_off + n * layer.input];
        let a_out = &mut hi[..n * layer.output];
        let da_off = dact_offset(spec, l, n);
        let da = &mut dacts[da_off..da_off + n * layer.output];
        for ((x, y), dy) in a_in
            .chunks_exact(layer.input)
            .zip(a_out.chunks_exact_mut(layer.output))
            .zip(da.chunks_exact_mut(layer.output))
        {
            for (((yo, dyo), row), bo) in y.iter_mut().zip(dy.iter_mut()).zip(wt.chunks_exact(layer.input)).zip(b) {
                let (v, dv) = S::act(layer.activation, dot_plus(row, x, *bo));
                *yo = v;
                *dyo = dv;
            }
        }
    }
    act_offset(spec, spec.layers().len(), n)
}

/// Backward pass of `n` rows: on entry `delta[..n·m]` holds ∂ℓ/∂a_L (the output
/// cotangent); accumulates Σ ∂ℓ/∂θ into `grad` (not zeroed here).
#[inline]
#[allow(clippy::too_many_arguments)]
fn backward<S: Scalar>(
    spec: &ModelSpec,
    params: &[S],
    n: usize,
    acts: &[S],
    dacts: &[S],
    delta: &mut [S],
    delta2: &mut [S],
    grad: &mut [S],
) {
    let layers = spec.layers();
    let (mut cur, mut next) = (delta, delta2);
    for l in (0..layers.len()).rev() {
        let layer = layers[l];
        let (wi, wo) = (layer.input, layer.output);
        // δ_l = ∂ℓ/∂a_l ⊙ σ'(z_l)
        let da_off = dact_offset(spec, l, n);
        for (c, d) in cur[..n * wo].iter_mut().zip(&dacts[da_off..da_off + n * wo]) {
            *c = *c * *d;
        }
        let a_off = act_offset(spec, l, n);
        let a_in = &acts[a_off..a_off + n * wi];
        // ∇W_l += δ_l a_{l−1}ᵀ, ∇b_l += δ_l
        let (w_off, b_off) = (spec.weight_offset(l), spec.bias_offset(l));
        let (gw, gb) = grad[w_off..b_off + wo].split_at_mut(wo * wi);
        for (dl, x) in cur[..n * wo].chunks_exact(wo).zip(a_in.chunks_exact(wi)) {
            for ((g_row, gbo), d) in gw.chunks_exact_mut(wi).zip(gb.iter_mut()).zip(dl) {
                *gbo += *d;
                for (g, a) in g_row.iter_mut().zip(x) {
                    *g += *d * *a;
                }
            }
        }
        // ∂ℓ/∂a_{l−1} = W_lᵀ δ_l
        if l > 0 {
            let (wt, _) = spec.layer_params(params, l);
            for (dl, dn) in cur[..n * wo].chunks_exact(wo).zip(next[..n * wi].chunks_exact_mut(wi)) {
                dn.fill(S::zero());
                for (row, d) in wt.chunks_exact(wi).zip(dl) {
                    for (o, w) in dn.iter_mut().zip(row) {
                        *o += *d * *w;
                    }
                }
            }
            std::mem::swap(&mut cur, &mut next);
        }
    }
}

/// Loss and gradient of the data term (no prior) over all of `data`; the gradient is
/// accumulated into `work.grad[..K]` (zeroed first). `work.params[..K]` must hold θ.
fn loss_and_grad<S: Scalar>(spec: &ModelSpec, data: &Dataset, loss: &Loss, work: &mut Work<S>) -> S {
    let k = spec.num_params();
    let (d, m) = (spec.input_dim(), spec.output_dim());
    let Work { params, acts, dacts, delta, delta2, grad, tmp } = work;
    let params = &params[..k];
    let grad = &mut grad[..k];
    grad.fill(S::zero());
    let mut total = S::zero();
    let n_all = data.len();
    let mut start = 0;
    while start < n_all {
        let n = CHUNK.min(n_all - start);
        let inputs = &data.inputs()[start * d..(start + n) * d];
        let out_off = forward(spec, params, inputs, n, acts, dacts);
        for i in 0..n {
            let f = &acts[out_off + i * m..out_off + (i + 1) * m];
            total += S::loss(loss, f, data.target(start + i), &mut delta[i * m..(i + 1) * m], tmp);
        }
        backward(spec, params, n, acts, dacts, delta, delta2, grad);
        start += n;
    }
    total
}

// ---------------------------------------------------------------------------------
// The objective
// ---------------------------------------------------------------------------------

/// The negative log posterior L(θ) = Σₙ ℓ(f_θ(xₙ), yₙ) + ½λ|θ|² of an MLP, with exact
/// gradients (hand-written backward pass) and exact Hessian-vector products
/// (forward-over-reverse: the tangent of the backward pass along v).
///
/// ```
/// use geodyn_core::Objective;
/// use geodyn_dual::mlp::MlpObjective;
/// use geodyn_nn::{Loss, ModelSpec, data};
///
/// let spec: ModelSpec = "1-8-1:tanh".parse().unwrap();
/// let train = data::snelson_like(data::SNELSON_LIKE_SEED).train;
/// let obj = MlpObjective::new(spec.clone(), train, Loss::gaussian(0.3).unwrap(), 1.0).unwrap();
/// let theta = vec![0.1; spec.num_params()];
/// let v = vec![1.0; obj.dim()];
/// let (mut g, mut hv) = (vec![0.0; obj.dim()], vec![0.0; obj.dim()]);
/// // f, ∇f and vᵀHv in one forward-over-reverse pass …
/// let (f, vhv) = obj.grad_and_curvature(&theta, &v, &mut g).unwrap();
/// // … agree with the separate calls.
/// obj.hvp(&theta, &v, &mut hv).unwrap();
/// let vhv2: f64 = v.iter().zip(&hv).map(|(a, b)| a * b).sum();
/// assert!((vhv - vhv2).abs() <= 1e-12 * vhv.abs());
/// assert!((f - obj.value(&theta).unwrap()).abs() <= 1e-12 * f);
/// ```
#[derive(Debug, Clone)]
pub struct MlpObjective {
    spec: ModelSpec,
    data: Dataset,
    /// The rows of `data` sorted by their inputs, for the batched engine (see
    /// [`sorted_by_inputs`]); sums over the data do not depend on the order but the
    /// activation kernels run faster on it.
    batched: Dataset,
    /// `batched`'s inputs feature-major ([d, N]).
    inputs_t: Vec<f64>,
    loss: Loss,
    prior: GaussianPrior,
}

impl MlpObjective {
    /// The objective for `spec` on `data` with `loss` and prior precision λ ≥ 0.
    ///
    /// Errors if the data's input width differs from the network's, the loss does not
    /// fit the targets (see [`Loss::check_compatible`]) or λ is invalid.
    pub fn new(spec: ModelSpec, data: Dataset, loss: Loss, prior_precision: f64) -> Result<Self, NnError> {
        if data.input_dim() != spec.input_dim() {
            return Err(NnError::shape(
                "data inputs per sample (= network inputs)",
                spec.input_dim(),
                data.input_dim(),
            ));
        }
        loss.check_compatible(spec.output_dim(), &data)?;
        let prior = GaussianPrior::new(prior_precision)?;
        let batched = sorted_by_inputs(&data)?;
        let inputs_t = crate::mlp_batched::transpose_inputs(&batched);
        Ok(Self { spec, data, batched, inputs_t, loss, prior })
    }

    /// The model spec.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The training data.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The loss.
    pub fn loss(&self) -> &Loss {
        &self.loss
    }

    /// The prior precision λ.
    pub fn prior_precision(&self) -> f64 {
        self.prior.precision
    }

    /// A copy with another prior precision λ (e.g. while tuning it).
    pub fn with_prior_precision(&self, prior_precision: f64) -> Result<Self, NnError> {
        Ok(Self { prior: GaussianPrior::new(prior_precision)?, ..self.clone() })
    }

    /// A copy with another loss (e.g. another noise σ while tuning it).
    pub fn with_loss(&self, loss: Loss) -> Result<Self, NnError> {
        Self::new(self.spec.clone(), self.data.clone(), loss, self.prior.precision)
    }

    fn check_x(&self, x: &[f64]) -> Result<()> {
        check_dim("x", self.spec.num_params(), x.len())?;
        check_finite("x", x)
    }

    /// The data term Σₙ ℓ(f_θ(xₙ), yₙ) alone (no prior).
    pub fn data_loss(&self, x: &[f64]) -> Result<f64> {
        self.check_x(x)?;
        let (d, m) = (self.spec.input_dim(), self.spec.output_dim());
        let f = f64::with_work(|w| {
            w.reserve(&self.spec);
            let Work { acts, delta, tmp, .. } = w;
            let mut total = 0.0;
            let mut start = 0;
            while start < self.data.len() {
                let n = CHUNK.min(self.data.len() - start);
                let out = forward_values(&self.spec, x, &self.data.inputs()[start * d..(start + n) * d], n, acts);
                for i in 0..n {
                    let f = &acts[out + i * m..out + (i + 1) * m];
                    total += f64::loss(&self.loss, f, self.data.target(start + i), &mut delta[..m], tmp);
                }
                start += n;
            }
            total
        });
        geodyn_core::error::finite("data loss", f)
    }

    fn outputs_at(&self, x: &[f64], inputs: &[f64], out: &mut [f64]) -> Result<()> {
        let (d, m) = (self.spec.input_dim(), self.spec.output_dim());
        let n_all = inputs.len() / d;
        f64::with_work(|w| {
            w.reserve(&self.spec);
            let mut start = 0;
            while start < n_all {
                let n = CHUNK.min(n_all - start);
                let o = forward_values(&self.spec, x, &inputs[start * d..(start + n) * d], n, &mut w.acts);
                out[start * m..(start + n) * m].copy_from_slice(&w.acts[o..o + n * m]);
                start += n;
            }
        });
        check_finite("network outputs", out)
    }

    /// J v at arbitrary `inputs`.
    fn jvp_at(&self, x: &[f64], v: &[f64], inputs: &[f64], out: &mut [f64]) -> Result<()> {
        let (d, m, k) = (self.spec.input_dim(), self.spec.output_dim(), self.spec.num_params());
        let n_all = inputs.len() / d;
        Dual64::with_work(|w| {
            w.reserve(&self.spec);
            for ((p, x), v) in w.params[..k].iter_mut().zip(x).zip(v) {
                *p = Dual64::new(*x, *v);
            }
            let mut start = 0;
            while start < n_all {
                let n = CHUNK.min(n_all - start);
                let o = forward_values(&self.spec, &w.params[..k], &inputs[start * d..(start + n) * d], n, &mut w.acts);
                for (dst, a) in out[start * m..(start + n) * m].iter_mut().zip(&w.acts[o..o + n * m]) {
                    *dst = a.eps;
                }
                start += n;
            }
        });
        check_finite("jvp", out)
    }

    fn vjp_at(&self, x: &[f64], u: &[f64], inputs: &[f64], out: &mut [f64]) -> Result<()> {
        let (d, m, k) = (self.spec.input_dim(), self.spec.output_dim(), self.spec.num_params());
        let n_all = inputs.len() / d;
        f64::with_work(|w| {
            w.reserve(&self.spec);
            let Work { acts, dacts, delta, delta2, grad, .. } = w;
            let grad = &mut grad[..k];
            grad.fill(0.0);
            let mut start = 0;
            while start < n_all {
                let n = CHUNK.min(n_all - start);
                forward(&self.spec, x, &inputs[start * d..(start + n) * d], n, acts, dacts);
                delta[..n * m].copy_from_slice(&u[start * m..(start + n) * m]);
                backward(&self.spec, x, n, acts, dacts, delta, delta2, grad);
                start += n;
            }
            out.copy_from_slice(grad);
        });
        check_finite("vjp", out)
    }

    /// The network outputs at the data as an [`Embedding`](geodyn_core::Embedding) E: R^K → R^{N·m}
    /// (for [`Pullback`](geodyn_core::Pullback) metrics G = JᵀJ + λI).
    pub fn outputs_embedding(&self) -> ModelOutputs<'_, Self> {
        ModelOutputs::new(self)
    }

    /// The objective, its gradient and H v through the generic reverse pass over dual
    /// numbers seeded with v (forward-over-reverse with `num-dual`, DESIGN.md's
    /// construction): an independent implementation of what
    /// [`Objective::hvp`] computes with the batched f64 engine, several times slower;
    /// kept as the reference the batched tangent backward pass is tested against.
    ///
    /// # Errors
    /// Wrong lengths or non-finite inputs or results.
    pub fn gradient_and_hvp_dual(&self, x: &[f64], v: &[f64], g: &mut [f64], hv: &mut [f64]) -> Result<f64> {
        self.check_x(x)?;
        let k = self.spec.num_params();
        check_dim("v", k, v.len())?;
        check_finite("v", v)?;
        check_dim("g", k, g.len())?;
        check_dim("hv", k, hv.len())?;
        let lambda = self.prior.precision;
        let f = Dual64::with_work(|w| {
            w.reserve(&self.spec);
            for ((p, x), v) in w.params[..k].iter_mut().zip(x).zip(v) {
                *p = Dual64::new(*x, *v);
            }
            let data_term = loss_and_grad(&self.spec, &self.data, &self.loss, w);
            for (((g, hv), d), (x, v)) in g.iter_mut().zip(hv.iter_mut()).zip(&w.grad[..k]).zip(x.iter().zip(v)) {
                *g = d.re + lambda * x;
                *hv = d.eps + lambda * v;
            }
            data_term.re + self.prior.value(x)
        });
        check_finite("gradient", g)?;
        check_finite("Hessian-vector product", hv)?;
        geodyn_core::error::finite("objective", f)
    }
}

/// The rows of `data` in lexicographic order of their inputs (stable, so equal inputs
/// keep their order).
///
/// Why: the activation kernels of `geodyn-nn` evaluate blocks of eight consecutive data
/// points with the cheapest piece of the function that covers the whole block (GELU:
/// Cody's central or middle rational, or all three with the tail). Pre-activations are
/// continuous in the input, so sorted rows put similar values side by side and fewer
/// blocks need the general kernel: 5% fewer instructions per `grad_and_curvature` at the
/// default problem's MAP (callgrind), the same results up to the summation order.
fn sorted_by_inputs(data: &Dataset) -> Result<Dataset, NnError> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by(|&a, &b| {
        data.input(a)
            .iter()
            .zip(data.input(b))
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    data.select(&order)
}

impl MlpObjective {
    /// [`mlp_batched::pass`](crate::mlp_batched::pass) over this objective's network,
    /// sorted data and loss: (data loss, data part of vᵀHv).
    fn batched_pass(
        &self,
        x: &[f64],
        v: Option<&[f64]>,
        grad: Option<&mut [f64]>,
        hv: Option<&mut [f64]>,
        mode: Mode,
    ) -> (f64, f64) {
        crate::mlp_batched::pass(&self.spec, &self.batched, &self.inputs_t, &self.loss, x, v, grad, hv, mode)
    }

    /// ∇f and f from one batched pass that uses a gradient context's base as `mode` says.
    fn gradient_mode(&self, x: &[f64], g: &mut [f64], mode: Mode) -> Result<f64> {
        self.check_x(x)?;
        check_dim("g", self.spec.num_params(), g.len())?;
        g.fill(0.0);
        let (f, _) = self.batched_pass(x, None, Some(g), None, mode);
        self.prior.add_gradient(x, g);
        check_finite("gradient", g)?;
        geodyn_core::error::finite("objective", f + self.prior.value(x))
    }
}

impl Objective for MlpObjective {
    fn dim(&self) -> usize {
        self.spec.num_params()
    }

    fn value(&self, x: &[f64]) -> Result<f64> {
        self.check_x(x)?;
        let (d, _) = self.batched_pass(x, None, None, None, Mode::Plain);
        geodyn_core::error::finite("objective", d + self.prior.value(x))
    }

    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        self.gradient_mode(x, g, Mode::Plain)
    }

    /// An [`MlpGradientContext`]: Taylor-series reuse of the GELU activations.
    fn gradient_context(&self) -> Box<dyn GradientContext + '_> {
        Box::new(MlpGradientContext::new(self))
    }

    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        self.check_x(x)?;
        let k = self.spec.num_params();
        check_dim("v", k, v.len())?;
        check_finite("v", v)?;
        check_dim("hv", k, hv.len())?;
        // One batched pass: value and first tangent forward, then the backward pass and
        // its tangent along v (forward-over-reverse in plain f64; see `mlp_batched::pass`).
        geodyn_core::scratch::with_buffers::<1, _>(k, |[g]| {
            g.fill(0.0);
            hv.fill(0.0);
            self.batched_pass(x, Some(v), Some(g), Some(&mut *hv), Mode::Plain);
        });
        for (h, v) in hv.iter_mut().zip(v) {
            *h += self.prior.precision * v;
        }
        check_finite("Hessian-vector product", hv)?;
        Ok(())
    }

    /// One batched pass: value and first tangent forward, then the plain backward pass
    /// for ∇f, whose adjoints also give vᵀHv (the second directional derivative,
    /// assembled from adjoint sums instead of a forward second tangent; see
    /// `mlp_batched`).
    fn grad_and_curvature(&self, x: &[f64], v: &[f64], g: &mut [f64]) -> Result<(f64, f64)> {
        self.check_x(x)?;
        let k = self.spec.num_params();
        check_dim("v", k, v.len())?;
        check_finite("v", v)?;
        check_dim("g", k, g.len())?;
        g.fill(0.0);
        let (f, c) = self.batched_pass(x, Some(v), Some(g), None, Mode::Plain);
        self.prior.add_gradient(x, g);
        check_finite("gradient", g)?;
        let vhv = c + self.prior.precision * geodyn_core::dot(v, v);
        Ok((
            geodyn_core::error::finite("objective", f + self.prior.value(x))?,
            geodyn_core::error::finite("curvature vᵀHv", vhv)?,
        ))
    }
}

/// The [`GradientContext`] of an [`MlpObjective`]: it owns a *base*, the GELU
/// activations (Z, σ, σ', φ) of every data point at a recent point θ_b, and expands
/// around it.
///
/// The first call (and the first after [`restart`](GradientContext::restart)) is a full
/// evaluation, bit for bit [`Objective::gradient`], and records the base (up to 2^18
/// values per quantity, N × the GELU widths summed; larger problems keep none and every
/// call is a full evaluation). In later calls σ and σ' of each GELU row of the data (per
/// block of 256 points) come from a Taylor series of order 3 … 8 around the base when
/// every pre-activation z of the row moved by at most 1.5e-2/(1 + |z|) from it
/// (truncation below 0.1 ulp), and from the full kernel otherwise; the results agree
/// with `gradient(x)` to the rounding of those series, a few ulp of each activation. A
/// call that moved further than its predecessor predicts (a new integration step rather
/// than another iterate of the same one) also moves the base to its own values; a row
/// is evaluated in full again after 32 such moves, which bounds the rounding carried
/// from base to base to a few ulp. The bits of every call depend only on this
/// context's calls since its last full start.
///
/// Cost: the base is four arrays of N × (GELU widths summed) values plus per-row
/// predictions, allocated by the first call; a call within an integration step costs
/// about 60% of a full gradient, one from step to step about 77% (`cargo run --release
/// -p geodyn-dual --example mlp_cost`). A context far from its base (farther than the
/// highest order covers) gains nothing and pays the check: use
/// [`Objective::gradient`] for isolated points.
#[derive(Debug)]
pub struct MlpGradientContext<'a> {
    objective: &'a MlpObjective,
    base: crate::mlp_batched::Base,
    /// Whether the next call is a full, recording evaluation.
    fresh: bool,
}

impl<'a> MlpGradientContext<'a> {
    /// A context of `objective` that holds no base yet (its first call records one).
    pub fn new(objective: &'a MlpObjective) -> Self {
        Self { objective, base: Default::default(), fresh: true }
    }
}

impl GradientContext for MlpGradientContext<'_> {
    fn gradient(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        // Invalid arguments leave the context as it was; a pass that ran (even one whose
        // results are not finite) leaves its base, whose non-finite rows no series uses.
        self.objective.check_x(x)?;
        check_dim("g", self.objective.spec.num_params(), g.len())?;
        let mode = if self.fresh { Mode::Record(&mut self.base) } else { Mode::Near(&mut self.base) };
        self.fresh = false;
        self.objective.gradient_mode(x, g, mode)
    }

    fn restart(&mut self) {
        self.fresh = true;
    }
}

impl ModelObjective for MlpObjective {
    /// N · m, the number of network outputs at the data (length of [`jvp`](Self::jvp)).
    fn num_outputs(&self) -> usize {
        self.data.len() * self.spec.output_dim()
    }

    /// Writes the network outputs f_θ(xₙ) at the data, row-major `[N, m]`.
    fn outputs(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        self.check_x(x)?;
        check_dim("out", self.num_outputs(), out.len())?;
        self.outputs_at(x, self.data.inputs(), out)
    }

    /// Writes the Jacobian-vector product J(θ) v of the network outputs at the data
    /// (`[N, m]`), J = ∂f_θ(x_{1..N})/∂θ, by one `Dual64` forward pass.
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        self.check_x(x)?;
        check_dim("v", self.spec.num_params(), v.len())?;
        check_finite("v", v)?;
        check_dim("out", self.num_outputs(), out.len())?;
        self.jvp_at(x, v, self.data.inputs(), out)
    }

    /// Writes the vector-Jacobian product J(θ)ᵀ u (length K) for an output cotangent
    /// u of shape `[N, m]` (the data term only, no prior).
    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        self.check_x(x)?;
        check_dim("u", self.num_outputs(), u.len())?;
        check_finite("u", u)?;
        check_dim("out", self.spec.num_params(), out.len())?;
        self.vjp_at(x, u, self.data.inputs(), out)
    }

    /// Writes the generalised Gauss–Newton product (JᵀΛJ + λI) v, with J the Jacobian
    /// of the outputs at the data and Λ the block-diagonal Hessian of the loss with
    /// respect to the outputs (I/σ² for the Gaussian, diag(p) − ppᵀ for softmax).
    fn ggn_vp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        self.check_x(x)?;
        check_dim("v", self.spec.num_params(), v.len())?;
        check_finite("v", v)?;
        check_dim("out", self.spec.num_params(), out.len())?;
        let (d, m, k) = (self.spec.input_dim(), self.spec.output_dim(), self.spec.num_params());
        let n_all = self.data.len();
        let inputs = self.data.inputs();
        // Per chunk: u = J v and f by a dual forward pass; w = Λ(f) u; Jᵀw by the f64
        // backward pass.
        Dual64::with_work(|dw| {
            dw.reserve(&self.spec);
            for ((p, x), v) in dw.params[..k].iter_mut().zip(x).zip(v) {
                *p = Dual64::new(*x, *v);
            }
            f64::with_work(|w| {
                w.reserve(&self.spec);
                let Work { acts, dacts, delta, delta2, grad, tmp, .. } = w;
                let grad = &mut grad[..k];
                grad.fill(0.0);
                let mut start = 0;
                while start < n_all {
                    let n = CHUNK.min(n_all - start);
                    let xin = &inputs[start * d..(start + n) * d];
                    let o = forward_values(&self.spec, &dw.params[..k], xin, n, &mut dw.acts);
                    for i in 0..n {
                        let fo = &dw.acts[o + i * m..o + (i + 1) * m];
                        let (f, u) = tmp[..2 * m].split_at_mut(m);
                        for ((f, u), a) in f.iter_mut().zip(u.iter_mut()).zip(fo) {
                            *f = a.re;
                            *u = a.eps;
                        }
                        self.loss.hess_vec(f, u, &mut delta[i * m..(i + 1) * m]);
                    }
                    forward(&self.spec, x, xin, n, acts, dacts);
                    backward(&self.spec, x, n, acts, dacts, delta, delta2, grad);
                    start += n;
                }
                for ((o, g), v) in out.iter_mut().zip(grad.iter()).zip(v) {
                    *o = g + self.prior.precision * v;
                }
            })
        });
        check_finite("GGN-vector product", out)
    }

    /// Batched predictions at arbitrary inputs: `param_sets` holds S parameter vectors
    /// back to back (`[S, K]`), `inputs` is `[n, d]`, `out` receives `[S, n, m]`.
    fn predict(&self, param_sets: &[f64], inputs: &[f64], out: &mut [f64]) -> Result<()> {
        let (m, k) = (self.spec.output_dim(), self.spec.num_params());
        let (_, n) = self.spec.check_predict(param_sets, inputs, out.len())?;
        if n == 0 {
            return Ok(());
        }
        for (p, o) in param_sets.chunks_exact(k).zip(out.chunks_exact_mut(n * m)) {
            self.outputs_at(p, inputs, o)?;
        }
        Ok(())
    }

    /// E''[v, v] = d²/dt² E(θ + tv) by one `Dual2_64` forward pass seeded (θ, v, 0).
    fn outputs_second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let obj = self;
        obj.check_x(x)?;
        let (d, m, k) = (obj.spec.input_dim(), obj.spec.output_dim(), obj.spec.num_params());
        check_dim("v", k, v.len())?;
        check_finite("v", v)?;
        check_dim("out", obj.num_outputs(), out.len())?;
        let inputs = obj.data.inputs();
        let n_all = obj.data.len();
        Dual2_64::with_work(|w| {
            w.reserve(&obj.spec);
            for ((p, x), v) in w.params[..k].iter_mut().zip(x).zip(v) {
                *p = Dual2_64::new(*x, *v, 0.0);
            }
            let mut start = 0;
            while start < n_all {
                let n = CHUNK.min(n_all - start);
                let o = forward_values(&obj.spec, &w.params[..k], &inputs[start * d..(start + n) * d], n, &mut w.acts);
                for (dst, a) in out[start * m..(start + n) * m].iter_mut().zip(&w.acts[o..o + n * m]) {
                    *dst = a.v2;
                }
                start += n;
            }
        });
        check_finite("second directional derivative", out)
    }
}

// The objective is shared across sampler threads.
const _: fn() = || {
    fn is_sync_send<T: Sync + Send>() {}
    is_sync_send::<MlpObjective>();
};
