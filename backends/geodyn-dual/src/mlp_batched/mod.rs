//! The batched, feature-major MLP engine behind [`MlpObjective`](crate::MlpObjective)'s
//! hot calls: value, gradient, the fused gradient + curvature vᵀHv, and H v.
//!
//! Activations are stored feature-major ([width, batch]), so every layer is a sequence
//! of contiguous axpy / dot loops over the batch that the compiler vectorises. The
//! curvature is the second directional derivative of the loss along θ(t) = θ + tv.
//! Forward, every layer carries the value and the first tangent:
//!
//! ```text
//! Z = W A + b          Ż = W Ȧ + V A + v_b          A' = σ(Z)     Ȧ' = σ'(Z) Ż
//! ```
//!
//! and the second tangent is never formed: with Z̈_l = W_l Ä_{l−1} + 2 V_l Ȧ_{l−1} and
//! Ä_l = σ''_l Ż_l² + σ'_l Z̈_l, the map Z̈_l ↦ f̈ is linear with the same adjoints as the
//! gradient's backward pass (δ_l = ∂ℓ/∂Z_l, G_l = ∂ℓ/∂A_l = W_{l+1}ᵀ δ_{l+1}), so
//!
//! ```text
//! vᵀHv = Σₙ ḟₙᵀ Λₙ ḟₙ + ∇ℓₙ · f̈ₙ  (+ λ|v|² from the prior)
//! Σₙ ∇ℓₙ · f̈ₙ = Σ_l ⟨G_l ⊙ σ''(Z_l), Ż_l²⟩ + 2 Σ_{l≥1} ⟨V_l, δ_l Ȧ_{l−1}ᵀ⟩
//! ```
//!
//! (induction on ⟨δ_l, Z̈_l⟩ = ⟨G_{l−1}, Ä_{l−1}⟩ + 2⟨δ_l, V_l Ȧ_{l−1}⟩ down to Z̈_0 = 0).
//! Both sums reuse what the backward pass computes anyway, so a layer costs three
//! products forward (W·[A | Ȧ], V·A) and three backward (δ·[A | Ȧ]ᵀ, Wᵀδ) instead of five
//! and two with a forward second tangent (W·[A | Ȧ | Ä], V·[A | Ȧ]). No dual numbers are
//! involved: every stream is plain f64, σ'(Z) and σ''(Z) come from the forward pass.
//! Scratch comes from the thread's scratch pool (`geodyn_core::scratch`) and only grows:
//! after warm-up nothing is allocated.
//!
//! Gradient passes of a gradient context ([`MlpGradientContext`](crate::MlpGradientContext))
//! may also expand the GELU activations around a base that the context owns (the
//! [`near`] module). The elementwise GELU kernel is about half of a gradient pass on the
//! Snelson network; a near pass costs about 60% of a full one within a step and about
//! 77% from step to step (a step of 1e-4 v; `cargo run --release -p geodyn-dual
//! --example mlp_cost`).
//!
//! A pass is planned once ([`Plan`], [`NearPass`]) and then runs per block of data
//! points through named stages: inputs, forward (pre-activations, activations), the
//! loss, and backward (weight gradients, curvature weight term, H v weights,
//! propagation to the layer below).

mod near;

use near::NearPass;
pub(crate) use near::{Base, Mode};

use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, MatMut, MatRef, Par};
use geodyn_nn::fastmath::Isa;
use geodyn_nn::{Activation, Dataset, Loss, ModelSpec};

/// Whether `f64::mul_add` is a single instruction on the compile-time target (the
/// baseline copy of the pass fuses only then).
const FMA_NATIVE: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

/// Columns (data points) per block.
pub(crate) const BLOCK: usize = 256;

#[derive(Default)]
struct Layer {
    /// Pre-activation streams, [nout, ns·c] row-major: each row holds Z | Ż
    /// (ns = 2 with a direction v, else Z alone).
    z: Vec<f64>,
    /// Post-activation streams in the same layout, A | Ȧ: the next layer's input.
    a: Vec<f64>,
    /// σ'(Z), σ''(Z), [nout, c].
    s1: Vec<f64>,
    s2: Vec<f64>,
}

#[derive(Default)]
struct Work {
    layers: Vec<Layer>,
    input: Vec<f64>,
    delta: Vec<f64>,
    delta_prev: Vec<f64>,
    /// Tangents of δ along v (Hessian-vector products only).
    ddelta: Vec<f64>,
    ddelta_prev: Vec<f64>,
    /// δ_l Ȧ_{l−1}ᵀ, [nout, nin] (curvature).
    dat: Vec<f64>,
    /// The curvature's activation terms per column of the block.
    cacc: Vec<f64>,
    f: Vec<f64>,
    fd: Vec<f64>,
    gf: Vec<f64>,
    lf: Vec<f64>,
}

fn grow<T: Copy + Default>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}

/// Evaluates σ, σ' (and σ'' when `second`) elementwise.
fn activate(act: Activation, z: &[f64], a: &mut [f64], s1: &mut [f64], s2: &mut [f64], second: bool) {
    match act {
        Activation::Identity => {
            a.copy_from_slice(z);
            s1.fill(1.0);
            if second {
                s2.fill(0.0);
            }
        }
        Activation::Relu => {
            for ((a, s1), &z) in a.iter_mut().zip(s1.iter_mut()).zip(z) {
                let p = z > 0.0;
                *a = if p { z } else { 0.0 };
                *s1 = if p { 1.0 } else { 0.0 };
            }
            if second {
                s2.fill(0.0);
            }
        }
        _ => {
            if second {
                act.eval3_slice(z, a, s1, s2);
            } else {
                act.eval2_slice(z, a, s1);
            }
        }
    }
}

/// The first tangent of one activation row: Ȧ = σ'Ż.
#[inline(always)]
fn tangent(s1: &[f64], zd: &[f64], ad: &mut [f64]) {
    for ((ad, &s1), &zd) in ad.iter_mut().zip(s1).zip(zd) {
        *ad = s1 * zd;
    }
}

/// acc += G ⊙ σ'' ⊙ Ż² over one row: the curvature's activation term of one unit,
/// accumulated per column (a loop without a reduction, which vectorises fully; the
/// columns are summed once per block). Inlined always, so that it runs with the
/// target features of the pass's copy.
#[inline(always)]
fn curvature_term(acc: &mut [f64], g: &[f64], s2: &[f64], zd: &[f64]) {
    for (((acc, &g), &s2), &zd) in acc.iter_mut().zip(g).zip(s2).zip(zd) {
        *acc += g * s2 * zd * zd;
    }
}

/// One pass over the data. Returns (data loss, data part of vᵀHv); adds the data
/// gradient into `grad` (which the caller zeroes) when given, and with `hv` (which needs
/// `v` and `grad`) the data part of the Hessian-vector product H v, also added.
///
/// H v is the tangent of the backward pass along v (forward-over-reverse in plain f64):
/// with G_l = W_{l+1}ᵀδ_{l+1} and δ_l = G_l ⊙ σ'(Z_l),
///
/// ```text
/// δ̇_L = (Λ ḟ) ⊙ σ'(Z_L) + ∇ℓ ⊙ σ''(Z_L) ⊙ Ż_L
/// Ġ_l = V_{l+1}ᵀ δ_{l+1} + W_{l+1}ᵀ δ̇_{l+1}
/// δ̇_l = Ġ_l ⊙ σ'(Z_l) + G_l ⊙ σ''(Z_l) ⊙ Ż_l
/// (H v)_{W_l} = δ̇_l A_{l−1}ᵀ + δ_l Ȧ_{l−1}ᵀ      (H v)_{b_l} = Σₙ δ̇_l
/// ```
///
/// `inputs_t` is the data's inputs feature-major ([d, N]). With a direction `v`, every
/// layer carries two streams side by side in one [width, 2c] block (value, first
/// tangent), and the backward pass runs (for the curvature's adjoint sums, see the
/// module doc) whether or not `grad` is given.
#[allow(
    clippy::too_many_arguments,
    reason = "the hot internal pass: optional outputs as arguments keep it allocation-free"
)]
pub(crate) fn pass(
    spec: &ModelSpec,
    data: &Dataset,
    inputs_t: &[f64],
    loss: &Loss,
    params: &[f64],
    v: Option<&[f64]>,
    grad: Option<&mut [f64]>,
    hv: Option<&mut [f64]>,
    mode: Mode,
) -> (f64, f64) {
    debug_assert!(hv.is_none() || (v.is_some() && grad.is_some()), "H v needs v and the gradient pass");
    debug_assert!(matches!(mode, Mode::Plain) || v.is_none(), "only passes without a direction use the base");
    let args = PassArgs { spec, data, inputs_t, loss, params, v, grad, hv, mode };
    geodyn_core::scratch::with_scratch::<Work, _>(|w| {
        match geodyn_nn::fastmath::best_isa() {
            // SAFETY: the CPU supports AVX-512 F/DQ/VL, AVX2 and FMA (`best_isa`).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { pass_avx512(w, args) },
            // SAFETY: the CPU supports AVX2 and FMA (`best_isa`).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { pass_avx2(w, args) },
            _ => pass_in::<FMA_NATIVE>(w, args),
        }
    })
}

/// The arguments of [`pass`], passed on to the copy that runs.
struct PassArgs<'a> {
    spec: &'a ModelSpec,
    data: &'a Dataset,
    inputs_t: &'a [f64],
    loss: &'a Loss,
    params: &'a [f64],
    v: Option<&'a [f64]>,
    grad: Option<&'a mut [f64]>,
    hv: Option<&'a mut [f64]>,
    mode: Mode<'a>,
}

/// [`pass_in`] compiled for AVX2 + FMA, so that the pass's own elementwise loops (tangent
/// streams, δ updates, sums) use 4-wide vectors; the arithmetic is the same (no
/// contraction into FMAs), so the results are bit-identical to the baseline copy, except
/// the Taylor series of near passes, which fuse multiply–adds here and in the
/// AVX-512 copy (as the activation kernels do) and so may differ from the baseline's in
/// the last bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn pass_avx2(w: &mut Work, args: PassArgs<'_>) -> (f64, f64) {
    pass_in::<true>(w, args)
}

/// [`pass_in`] compiled for AVX-512 (8-wide vectors), bit-identical likewise.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn pass_avx512(w: &mut Work, args: PassArgs<'_>) -> (f64, f64) {
    pass_in::<true>(w, args)
}

/// The body of [`pass`] on the scratch `w` (no closure around it, and every stage
/// inlined, so that it inherits the target features of [`pass_avx2`] / [`pass_avx512`]
/// when inlined there).
#[inline(always)]
fn pass_in<const F: bool>(w: &mut Work, args: PassArgs<'_>) -> (f64, f64) {
    let PassArgs { spec, data, inputs_t, loss, params, v, mut grad, mut hv, mode } = args;
    let plan = Plan::new(spec, data, v, hv.is_some());
    plan.reserve(w, spec);
    let mut near = NearPass::start(mode, spec, params, plan.n, plan.curv);
    let mut sums = Sums { loss: 0.0, curv: 0.0 };
    let mut c0 = 0;
    while c0 < plan.n {
        let c = (plan.n - c0).min(BLOCK);
        let blk = Block { c0, c, stride: plan.ns * c };
        for i in 0..plan.d {
            w.input[i * c..(i + 1) * c].copy_from_slice(&inputs_t[i * plan.n + c0..i * plan.n + c0 + c]);
        }
        forward::<F>(w, spec, params, v, &plan, blk, &mut near);
        loss_stage(w, data, loss, &plan, blk, &mut sums);
        // Backward: plain f64 (also for the curvature alone: its adjoint sums need δ).
        if grad.is_some() || plan.curv {
            if plan.curv {
                w.cacc[..c].fill(0.0);
            }
            for l in (0..plan.nl).rev() {
                backward_layer(
                    w,
                    spec,
                    params,
                    v,
                    &plan,
                    blk,
                    l,
                    grad.as_deref_mut(),
                    hv.as_deref_mut(),
                    &mut sums.curv,
                );
            }
        }
        if plan.curv {
            sums.curv += sum(&w.cacc[..c]);
        }
        c0 += c;
    }
    (sums.loss, sums.curv)
}

/// The shape of one pass, fixed before the data loop.
struct Plan {
    /// Data points, network inputs, outputs and layers.
    n: usize,
    d: usize,
    m: usize,
    nl: usize,
    /// With a direction v (curvature, H v): two streams per layer (ns = 2), else one.
    curv: bool,
    ns: usize,
    /// With the Hessian-vector product.
    hv: bool,
}

/// One block of data points: its first point, its width and the streams' row stride.
#[derive(Clone, Copy)]
struct Block {
    c0: usize,
    c: usize,
    stride: usize,
}

/// The pass's running sums: data loss and data part of vᵀHv.
struct Sums {
    loss: f64,
    curv: f64,
}

impl Plan {
    #[inline(always)]
    fn new(spec: &ModelSpec, data: &Dataset, v: Option<&[f64]>, hv: bool) -> Self {
        let curv = v.is_some();
        Plan {
            n: data.len(),
            d: spec.input_dim(),
            m: spec.output_dim(),
            nl: spec.layers().len(),
            curv,
            ns: if curv { 2 } else { 1 },
            hv,
        }
    }

    /// Grows `w` for this pass (never shrinks, so later passes do not allocate).
    #[inline(always)]
    fn reserve(&self, w: &mut Work, spec: &ModelSpec) {
        if w.layers.len() < self.nl {
            w.layers.resize_with(self.nl, Layer::default);
        }
        let maxw = spec.max_width();
        grow(&mut w.input, self.d * BLOCK);
        grow(&mut w.delta, maxw * BLOCK);
        grow(&mut w.delta_prev, maxw * BLOCK);
        if self.hv {
            grow(&mut w.ddelta, maxw * BLOCK);
            grow(&mut w.ddelta_prev, maxw * BLOCK);
        }
        if self.curv {
            grow(&mut w.dat, maxw * maxw);
            grow(&mut w.cacc, BLOCK);
        }
        for buf in [&mut w.f, &mut w.fd, &mut w.gf, &mut w.lf] {
            grow(buf, self.m.max(1));
        }
        for (l, layer) in spec.layers().iter().enumerate() {
            let sz = layer.output * BLOCK;
            let lw = &mut w.layers[l];
            grow(&mut lw.z, 2 * sz);
            grow(&mut lw.a, 2 * sz);
            grow(&mut lw.s1, sz);
            grow(&mut lw.s2, sz);
        }
    }
}

/// Forward with value and first tangent through every layer of one block.
#[inline(always)]
fn forward<const F: bool>(
    w: &mut Work,
    spec: &ModelSpec,
    params: &[f64],
    v: Option<&[f64]>,
    plan: &Plan,
    blk: Block,
    near: &mut NearPass<'_>,
) {
    // The first base row of this layer (GELU layers are counted only).
    let mut base_row = 0;
    for (l, layer) in spec.layers().iter().enumerate() {
        preactivations(w, spec, params, v, l, blk);
        let is_gelu = layer.activation == Activation::Gelu;
        let (c, stride) = (blk.c, blk.stride);
        let cur = &mut w.layers[l];
        for o in 0..layer.output {
            let zr = &cur.z[o * stride..(o + 1) * stride];
            let ar = &mut cur.a[o * stride..(o + 1) * stride];
            let s1 = &mut cur.s1[o * c..(o + 1) * c];
            let s2 = &mut cur.s2[o * c..(o + 1) * c];
            let (a0, ad) = ar.split_at_mut(c);
            let done = is_gelu && near.gelu_row::<F>(base_row + o, blk.c0, &zr[..c], a0, s1);
            if !done {
                activate(layer.activation, &zr[..c], a0, s1, s2, plan.curv);
            }
            if plan.curv {
                tangent(s1, &zr[c..], ad);
            }
        }
        if is_gelu {
            base_row += layer.output;
        }
    }
}

/// [Z | Ż] of layer `l` for one block: Z = W A + b and Ż = W Ȧ + V A + v_b (the inputs
/// carry no tangent).
#[inline(always)]
fn preactivations(w: &mut Work, spec: &ModelSpec, params: &[f64], v: Option<&[f64]>, l: usize, blk: Block) {
    let Block { c, stride, .. } = blk;
    let layer = &spec.layers()[l];
    let (nin, nout) = (layer.input, layer.output);
    let (wt, bias) = spec.layer_params(params, l);
    let vw = v.map(|v| spec.layer_params(v, l));
    let (prev, rest) = w.layers.split_at_mut(l);
    let cur = &mut rest[0];
    let wm = MatRef::from_row_major_slice(wt, nout, nin);
    let z = &mut cur.z[..nout * stride];
    for o in 0..nout {
        let row = &mut z[o * stride..(o + 1) * stride];
        row[..c].fill(bias[o]);
        if let Some((_, vb)) = vw {
            row[c..].fill(vb[o]);
        }
    }
    let mut zm = MatMut::from_row_major_slice_mut(z, nout, stride);
    if l == 0 {
        // The inputs carry no tangent: Z = W X + b, Ż = V X + v_b.
        let xm = MatRef::from_row_major_slice(&w.input[..nin * c], nin, c);
        matmul(zm.rb_mut().subcols_mut(0, c), Accum::Add, wm, xm, 1.0, Par::Seq);
        if let Some((vwt, _)) = vw {
            let vm = MatRef::from_row_major_slice(vwt, nout, nin);
            matmul(zm.rb_mut().subcols_mut(c, c), Accum::Add, vm, xm, 1.0, Par::Seq);
        }
    } else {
        // [Z | Ż] = W·[A | Ȧ] + [b | v_b], then Ż += V·A.
        let xm = MatRef::from_row_major_slice(&prev[l - 1].a[..nin * stride], nin, stride);
        matmul(zm.rb_mut(), Accum::Add, wm, xm, 1.0, Par::Seq);
        if let Some((vwt, _)) = vw {
            let vm = MatRef::from_row_major_slice(vwt, nout, nin);
            matmul(zm.rb_mut().subcols_mut(c, c), Accum::Add, vm, xm.subcols(0, c), 1.0, Par::Seq);
        }
    }
}

/// Loss per column of one block: ℓ, δ = ∂ℓ/∂Z_L, the output's curvature terms
/// ḟᵀΛḟ + ⟨∇ℓ ⊙ σ''(Z_L), Ż_L²⟩ and, for H v, δ̇_L.
#[inline(always)]
fn loss_stage(w: &mut Work, data: &Dataset, loss: &Loss, plan: &Plan, blk: Block, sums: &mut Sums) {
    let Block { c0, c, stride } = blk;
    let m = plan.m;
    let out = &w.layers[plan.nl - 1];
    for j in 0..c {
        for k in 0..m {
            w.f[k] = out.a[k * stride + j];
        }
        sums.loss += loss.value_grad(&w.f[..m], data.target(c0 + j), &mut w.gf[..m]);
        if plan.curv {
            for k in 0..m {
                w.fd[k] = out.a[k * stride + c + j];
            }
            loss.hess_vec(&w.f[..m], &w.fd[..m], &mut w.lf[..m]);
            for k in 0..m {
                let zd = out.z[k * stride + c + j];
                sums.curv += w.fd[k] * w.lf[k] + w.gf[k] * out.s2[k * c + j] * zd * zd;
            }
        }
        for k in 0..m {
            w.delta[k * c + j] = w.gf[k] * out.s1[k * c + j];
        }
        if plan.hv {
            // δ̇_L = (Λ ḟ) ⊙ σ' + ∇ℓ ⊙ σ'' ⊙ Ż (w.lf holds Λ ḟ from above)
            for k in 0..m {
                w.ddelta[k * c + j] =
                    w.lf[k] * out.s1[k * c + j] + w.gf[k] * out.s2[k * c + j] * out.z[k * stride + c + j];
            }
        }
    }
}

/// The input A_{l−1} of layer `l` in one block ([nin, c]; the data's inputs for l = 0).
#[inline(always)]
fn layer_input<'w>(w: &'w Work, l: usize, nin: usize, blk: Block) -> MatRef<'w, f64> {
    let Block { c, stride, .. } = blk;
    if l == 0 {
        MatRef::from_row_major_slice(&w.input[..nin * c], nin, c)
    } else {
        MatRef::from_row_major_slice_with_stride(&w.layers[l - 1].a[..nin * stride], nin, c, stride)
    }
}

/// The backward stages of layer `l` for one block, δ_l in `w.delta` (and δ̇_l in
/// `w.ddelta` for H v): the gradient, the curvature's weight term, the H v weights, and
/// δ (δ̇) of the layer below.
#[allow(clippy::too_many_arguments, reason = "the pass's inputs, passed on to each stage")]
#[inline(always)]
fn backward_layer(
    w: &mut Work,
    spec: &ModelSpec,
    params: &[f64],
    v: Option<&[f64]>,
    plan: &Plan,
    blk: Block,
    l: usize,
    grad: Option<&mut [f64]>,
    hv: Option<&mut [f64]>,
    curv_sum: &mut f64,
) {
    if let Some(g) = grad {
        weight_gradient(w, spec, blk, l, g);
    }
    // δ Ȧᵀ (the inputs carry no tangent): 2⟨V, δȦᵀ⟩ is the curvature's weight term, and
    // δȦᵀ is one of the two terms of (H v)_W.
    let has_dat = match (v, l > 0) {
        (Some(v), true) => {
            curvature_weights(w, spec, v, blk, l, curv_sum);
            true
        }
        _ => false,
    };
    if let Some(h) = hv {
        hv_weights(w, spec, blk, l, h, has_dat);
    }
    if l > 0 {
        propagate(w, spec, params, v, plan, blk, l);
    }
}

/// ∇_W += δ Aᵀ and ∇_b += Σ δ for layer `l`.
#[inline(always)]
fn weight_gradient(w: &Work, spec: &ModelSpec, blk: Block, l: usize, g: &mut [f64]) {
    let c = blk.c;
    let (nin, nout) = (spec.layers()[l].input, spec.layers()[l].output);
    let (woff, boff) = (spec.weight_offset(l), spec.bias_offset(l));
    let am = layer_input(w, l, nin, blk);
    let dm = MatRef::from_row_major_slice(&w.delta[..nout * c], nout, c);
    matmul(
        MatMut::from_row_major_slice_mut(&mut g[woff..woff + nout * nin], nout, nin),
        Accum::Add,
        dm,
        am.transpose(),
        1.0,
        Par::Seq,
    );
    for o in 0..nout {
        g[boff + o] += sum(&w.delta[o * c..(o + 1) * c]);
    }
}

/// δ Ȧᵀ of layer `l` ≥ 1 into `w.dat`, and its curvature term 2⟨V_l, δȦᵀ⟩.
#[inline(always)]
fn curvature_weights(w: &mut Work, spec: &ModelSpec, v: &[f64], blk: Block, l: usize, curv_sum: &mut f64) {
    let Block { c, stride, .. } = blk;
    let (nin, nout) = (spec.layers()[l].input, spec.layers()[l].output);
    let dm = MatRef::from_row_major_slice(&w.delta[..nout * c], nout, c);
    let adm = MatRef::from_row_major_slice_with_stride(&w.layers[l - 1].a[c..nin * stride], nin, c, stride);
    let dat = &mut w.dat[..nout * nin];
    matmul(MatMut::from_row_major_slice_mut(dat, nout, nin), Accum::Replace, dm, adm.transpose(), 1.0, Par::Seq);
    *curv_sum += 2.0 * geodyn_core::dot(spec.layer_params(v, l).0, dat);
}

/// (H v)_W += δ̇ Aᵀ (+ δ Ȧᵀ from `w.dat` when `has_dat`) and (H v)_b += Σ δ̇.
#[inline(always)]
fn hv_weights(w: &Work, spec: &ModelSpec, blk: Block, l: usize, h: &mut [f64], has_dat: bool) {
    let c = blk.c;
    let (nin, nout) = (spec.layers()[l].input, spec.layers()[l].output);
    let (woff, boff) = (spec.weight_offset(l), spec.bias_offset(l));
    let am = layer_input(w, l, nin, blk);
    let ddm = MatRef::from_row_major_slice(&w.ddelta[..nout * c], nout, c);
    let hw = &mut h[woff..woff + nout * nin];
    matmul(MatMut::from_row_major_slice_mut(hw, nout, nin), Accum::Add, ddm, am.transpose(), 1.0, Par::Seq);
    if has_dat {
        for (h, x) in hw.iter_mut().zip(&w.dat[..nout * nin]) {
            *h += x;
        }
    }
    for o in 0..nout {
        h[boff + o] += sum(&w.ddelta[o * c..(o + 1) * c]);
    }
}

/// δ_{l−1} = (W_lᵀ δ_l) ⊙ σ'(Z_{l−1}), with the curvature's activation term of layer
/// l − 1 and, for H v, δ̇_{l−1}; both δ buffers swap.
#[inline(always)]
fn propagate(w: &mut Work, spec: &ModelSpec, params: &[f64], v: Option<&[f64]>, plan: &Plan, blk: Block, l: usize) {
    let Block { c, stride, .. } = blk;
    let (nin, nout) = (spec.layers()[l].input, spec.layers()[l].output);
    let dm = MatRef::from_row_major_slice(&w.delta[..nout * c], nout, c);
    let (wt, _) = spec.layer_params(params, l);
    let wm = MatRef::from_row_major_slice(wt, nout, nin);
    let dp = &mut w.delta_prev[..nin * c];
    matmul(MatMut::from_row_major_slice_mut(dp, nin, c), Accum::Replace, wm.transpose(), dm, 1.0, Par::Seq);
    let prev = &w.layers[l - 1];
    if plan.curv {
        // ⟨G ⊙ σ'', Ż²⟩ of the layer below (G = dp here)
        for i in 0..nin {
            curvature_term(
                &mut w.cacc[..c],
                &dp[i * c..(i + 1) * c],
                &prev.s2[i * c..(i + 1) * c],
                &prev.z[i * stride + c..(i + 1) * stride],
            );
        }
    }
    if let (true, Some(v)) = (plan.hv, v) {
        // Ġ = Vᵀδ + Wᵀδ̇, then δ̇_prev = Ġ ⊙ σ' + G ⊙ σ'' ⊙ Ż (G = dp here)
        let vm = MatRef::from_row_major_slice(spec.layer_params(v, l).0, nout, nin);
        let ddm = MatRef::from_row_major_slice(&w.ddelta[..nout * c], nout, c);
        let ddp = &mut w.ddelta_prev[..nin * c];
        let mut ddpm = MatMut::from_row_major_slice_mut(ddp, nin, c);
        matmul(ddpm.rb_mut(), Accum::Replace, vm.transpose(), dm, 1.0, Par::Seq);
        matmul(ddpm, Accum::Add, wm.transpose(), ddm, 1.0, Par::Seq);
        for i in 0..nin {
            let (s1, s2) = (&prev.s1[i * c..(i + 1) * c], &prev.s2[i * c..(i + 1) * c]);
            let zd = &prev.z[i * stride + c..(i + 1) * stride];
            let (gr, dgr) = (&dp[i * c..(i + 1) * c], &mut ddp[i * c..(i + 1) * c]);
            for j in 0..c {
                dgr[j] = dgr[j] * s1[j] + gr[j] * s2[j] * zd[j];
            }
        }
        std::mem::swap(&mut w.ddelta, &mut w.ddelta_prev);
    }
    for (x, s) in dp.iter_mut().zip(&prev.s1[..nin * c]) {
        *x *= s;
    }
    std::mem::swap(&mut w.delta, &mut w.delta_prev);
}

/// Σ x with four independent accumulators (vectorises; the order is fixed, so the
/// result is deterministic).
#[inline]
fn sum(x: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let chunks = x.chunks_exact(4);
    let rest = chunks.remainder();
    for ch in chunks {
        for i in 0..4 {
            acc[i] += ch[i];
        }
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + rest.iter().sum::<f64>()
}

/// The inputs of `data` feature-major ([d, N]).
pub(crate) fn transpose_inputs(data: &Dataset) -> Vec<f64> {
    let (n, d) = (data.len(), data.input_dim());
    let x = data.inputs();
    let mut t = vec![0.0; n * d];
    for r in 0..n {
        for i in 0..d {
            t[i * n + r] = x[r * d + i];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` values uniform in [−scale, scale) from the tests' seeded stream.
    fn stream(seed: u64, n: usize, scale: f64) -> Vec<f64> {
        geodyn_testkit::rng::uniforms(&mut geodyn_testkit::rng::seeded(seed), n, -scale, scale)
    }

    /// (loss, curvature, gradient, H v) of one copy of the pass.
    fn run(copy: fn(&mut Work, PassArgs<'_>) -> (f64, f64), case: &(ModelSpec, Dataset, Loss)) -> Vec<u64> {
        let (spec, data, loss) = case;
        let k = spec.num_params();
        let (params, v) = (stream(1, k, 0.9), stream(2, k, 1.0));
        let inputs_t = transpose_inputs(data);
        let (mut g, mut hv) = (vec![0.0; k], vec![0.0; k]);
        let call = |grad: Option<&mut [f64]>, hv: Option<&mut [f64]>| {
            let mode = Mode::Plain;
            copy(
                &mut Work::default(),
                PassArgs { spec, data, inputs_t: &inputs_t, loss, params: &params, v: Some(&v), grad, hv, mode },
            )
        };
        let (l, c) = call(Some(&mut g), Some(&mut hv));
        let (l2, c2) = call(None, None);
        [l, c, l2, c2].into_iter().chain(g).chain(hv).map(f64::to_bits).collect()
    }

    /// The baseline, AVX2 and AVX-512 copies of the pass (whichever this CPU runs)
    /// give the same bits: the same arithmetic in wider vectors, never contracted into
    /// FMAs (outside near passes). Regression and cross-entropy, GELU and tanh, more
    /// rows than one block; also the curvature without the gradient (the backward pass
    /// still runs for it).
    #[test]
    fn every_copy_of_the_pass_gives_the_same_bits() {
        let regression = |arch: &str, n: usize| {
            let spec: ModelSpec = arch.parse().expect("arch");
            let (d, m) = (spec.input_dim(), spec.output_dim());
            let x = stream(3, n * d, 2.0);
            let y = stream(4, n * m, 1.0);
            (spec, Dataset::regression(x, d, y, m).expect("data"), Loss::gaussian(0.3).expect("σ"))
        };
        let spec: ModelSpec = "2-6-5-3:tanh".parse().expect("arch");
        let labels = (0..70).map(|i| i % 3).collect();
        let cls = Dataset::classification(stream(5, 140, 1.5), 2, labels, Some(3)).expect("data");
        let cases = [
            regression("1-16-16-1:gelu", 148),
            regression("2-7-5-2:gelu", 300),
            (spec, cls, Loss::cross_entropy(0.1).expect("ε")),
        ];
        for (i, case) in cases.iter().enumerate() {
            let base = run(pass_in::<false>, case);
            #[cfg(target_arch = "x86_64")]
            {
                let isa = geodyn_nn::fastmath::best_isa();
                if isa >= Isa::Avx2 {
                    // SAFETY: the CPU supports AVX2 and FMA (`best_isa`).
                    assert_eq!(run(|w, a| unsafe { pass_avx2(w, a) }, case), base, "case {i}: AVX2 copy");
                }
                if isa >= Isa::Avx512 {
                    // SAFETY: the CPU supports AVX-512 F/DQ/VL, AVX2 and FMA (`best_isa`).
                    assert_eq!(run(|w, a| unsafe { pass_avx512(w, a) }, case), base, "case {i}: AVX-512 copy");
                }
            }
            assert!(f64::from_bits(base[1]).is_finite(), "case {i}: curvature");
            assert_eq!((base[0], base[1]), (base[2], base[3]), "case {i}: value, curvature without the gradient");
        }
    }
}
