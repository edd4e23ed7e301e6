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
//! Scratch is thread-local and only grows: after warm-up nothing is allocated.
//!
//! Gradient passes also keep a *base*: a recording pass ([`Mode::Record`], every
//! `gradient` call) stores Z, σ, σ' and φ of each GELU layer over all data points, and
//! a near pass ([`Mode::Near`], `gradient_near`) takes σ and σ' of each GELU row from
//! their Taylor series around the base when the row's pre-activations moved by at most
//! [`NEAR_MAX`]/(1 + |Z|) (GELU's derivatives are polynomials times φ, so the series
//! needs no exp or erfc), and evaluates the row in full otherwise. The elementwise GELU
//! kernel is about half of a gradient pass on the Snelson network; a near pass costs
//! about two thirds of a full one (`cargo run --release -p geodyn-dual --example
//! mlp_cost`).

use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, MatMut, MatRef, Par};
use geodyn_nn::fastmath::Isa;
use geodyn_nn::{Activation, Dataset, Loss, ModelSpec};
use std::cell::RefCell;

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
    /// The last recording pass's GELU layers, for [`Mode::Near`].
    base: Base,
}

/// What a gradient pass does with the thread's [`Base`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Neither reads nor writes it (value, curvature and Hessian-vector passes).
    Plain,
    /// Evaluates the activations in full and keeps Z, σ, σ' and φ of every GELU layer
    /// as the base of later [`Mode::Near`] passes of the objective `id`.
    Record { id: u64 },
    /// Takes σ and σ' of each GELU row from a Taylor expansion around the base where
    /// the base belongs to objective `id` and every pre-activation of the row is
    /// [`near_base`] the base's; evaluates the row in full otherwise.
    Near { id: u64 },
}

/// The largest |Z − Z_base|·(1 + |Z_base|) of a row that [`Mode::Near`] expands around
/// the base (see [`near_base`]). The Taylor series of σ and σ' stop at σ'''' (see [`gelu_taylor`]), so their truncation
/// errors are below |σ⁽⁵⁾|·(1e-4)⁴/24 ≈ 1e-17 (|σ⁽⁵⁾| ≤ 2.2); on the Snelson workload the
/// iterates of one GraphRattle step differ by |ΔZ| ≲ 1e-6.
pub(crate) const NEAR_MAX: f64 = 1e-4;

/// The most base elements kept per quantity (N × the GELU widths summed), 2 MiB each:
/// larger problems record nothing and their near passes are full ones.
const BASE_CAP: usize = 1 << 18;

/// Z, σ(Z), σ'(Z) and φ(Z) of every GELU layer of the last [`Mode::Record`] pass, each
/// laid out layer after layer as [width, N] over all N data points.
#[derive(Default)]
struct Base {
    /// The objective (and so the network shape and the data) they belong to.
    id: Option<u64>,
    z: Vec<f64>,
    a: Vec<f64>,
    s1: Vec<f64>,
    phi: Vec<f64>,
}

thread_local! {
    static WORK: RefCell<Work> = RefCell::new(Work::default());
}

fn grow(v: &mut Vec<f64>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
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

/// σ and σ' of GELU at z from the base point zb where σ(zb) = ab, σ'(zb) = s1b and
/// φ(zb) = pb, by Taylor series in d = z − zb through the fourth derivative:
/// σ'' = (2 − x²)φ, σ''' = (x² − 4)xφ, σ'''' = ((7 − x²)x² − 4)φ at x = zb. For
/// |d| ≤ [`NEAR_MAX`] the truncation is below 1e-17 absolute, so the results are the
/// base's (a few ulp from exact) plus terms rounded far below their ulp. Where φ
/// underflows (x < −37.5) the expansion gives σ' = 0 and σ = the base's 0.
///
/// Returns whether every element was [`near_base`] its base; where not, the outputs are
/// meaningless and the caller evaluates the row in full.
#[inline(always)]
fn gelu_taylor<const F: bool>(
    z: &[f64],
    zb: &[f64],
    ab: &[f64],
    s1b: &[f64],
    pb: &[f64],
    a: &mut [f64],
    s1: &mut [f64],
) -> bool {
    let mla = |a: f64, b: f64, c: f64| if F { a.mul_add(b, c) } else { a * b + c };
    let n = z.len();
    let (zb, ab, s1b, pb, a, s1) = (&zb[..n], &ab[..n], &s1b[..n], &pb[..n], &mut a[..n], &mut s1[..n]);
    let mut ok = true;
    for j in 0..n {
        let x = zb[j];
        let d = z[j] - x;
        ok &= near_base(d, x);
        let p = pb[j];
        let x2 = x * x;
        let c2 = (2.0 - x2) * p;
        let c3 = (x2 - 4.0) * x * p;
        let c4 = ((7.0 - x2) * x2 - 4.0) * p;
        let ta = mla(d, c4 * (1.0 / 24.0), c3 * (1.0 / 6.0));
        let ta = mla(d, ta, 0.5 * c2);
        a[j] = mla(d, mla(d, ta, s1b[j]), ab[j]);
        let ts = mla(d, c4 * (1.0 / 6.0), 0.5 * c3);
        s1[j] = mla(d, mla(d, ts, c2), s1b[j]);
    }
    ok
}

/// Whether a pre-activation moved by d from its base value x is close enough for
/// [`gelu_taylor`]: |d|·(1 + |x|) ≤ [`NEAR_MAX`] (false for NaN). The factor keeps the
/// truncation small relative to σ' in the lower tail too, where the k-th derivative
/// grows like |x|^k φ while σ' ~ φ/x²: the neglected fifth-order term is then about
/// (|x|d)⁵/5! ≤ 1e-22 of it.
#[inline(always)]
fn near_base(d: f64, x: f64) -> bool {
    d.abs() * (1.0 + x.abs()) <= NEAR_MAX
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
    debug_assert!(mode == Mode::Plain || v.is_none(), "only passes without a direction use the base");
    let args = PassArgs { spec, data, inputs_t, loss, params, v, grad, hv, mode };
    WORK.with(|w| {
        let mut w = w.borrow_mut();
        let w = &mut *w;
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
    mode: Mode,
}

/// [`pass_in`] compiled for AVX2 + FMA, so that the pass's own elementwise loops (tangent
/// streams, δ updates, sums) use 4-wide vectors; the arithmetic is the same (no
/// contraction into FMAs), so the results are bit-identical to the baseline copy, except
/// the Taylor series of [`Mode::Near`] passes, which fuse multiply–adds here and in the
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

/// The body of [`pass`] on the thread's scratch `w` (no closure around it, so that it
/// inherits the target features of [`pass_avx2`] / [`pass_avx512`] when inlined there).
#[inline(always)]
fn pass_in<const F: bool>(w: &mut Work, args: PassArgs<'_>) -> (f64, f64) {
    let PassArgs { spec, data, inputs_t, loss, params, v, mut grad, mut hv, mode } = args;
    let n = data.len();
    let d = spec.input_dim();
    let m = spec.output_dim();
    let layers = spec.layers();
    let nl = layers.len();
    let curv = v.is_some();
    let ns = if curv { 2 } else { 1 };
    if w.layers.len() < nl {
        w.layers.resize_with(nl, Layer::default);
    }
    let maxw = spec.max_width();
    grow(&mut w.input, d * BLOCK);
    grow(&mut w.delta, maxw * BLOCK);
    grow(&mut w.delta_prev, maxw * BLOCK);
    if hv.is_some() {
        grow(&mut w.ddelta, maxw * BLOCK);
        grow(&mut w.ddelta_prev, maxw * BLOCK);
    }
    if curv {
        grow(&mut w.dat, maxw * maxw);
        grow(&mut w.cacc, BLOCK);
    }
    for buf in [&mut w.f, &mut w.fd, &mut w.gf, &mut w.lf] {
        grow(buf, m.max(1));
    }
    for (l, layer) in layers.iter().enumerate() {
        let sz = layer.output * BLOCK;
        let lw = &mut w.layers[l];
        grow(&mut lw.z, 2 * sz);
        grow(&mut lw.a, 2 * sz);
        grow(&mut lw.s1, sz);
        grow(&mut lw.s2, sz);
    }
    // The base: offsets of the GELU layers in it, and what this pass does with it.
    let gelu_rows: usize = layers.iter().filter(|l| l.activation == Activation::Gelu).map(|l| l.output).sum();
    let base_len = gelu_rows * n;
    let (record, use_base) = match mode {
        Mode::Record { id } if !curv && base_len <= BASE_CAP => {
            for buf in [&mut w.base.z, &mut w.base.a, &mut w.base.s1, &mut w.base.phi] {
                grow(buf, base_len);
            }
            w.base.id = Some(id);
            (true, false)
        }
        Mode::Record { .. } => {
            w.base.id = None;
            (false, false)
        }
        Mode::Near { id } => (false, !curv && w.base.id == Some(id) && w.base.z.len() >= base_len),
        Mode::Plain => (false, false),
    };
    let mut loss_sum = 0.0;
    let mut curv_sum = 0.0;
    let mut c0 = 0;
    while c0 < n {
        let c = (n - c0).min(BLOCK);
        let stride = ns * c;
        for i in 0..d {
            w.input[i * c..(i + 1) * c].copy_from_slice(&inputs_t[i * n + c0..i * n + c0 + c]);
        }
        // Forward with value and first tangent.
        let mut base_off = 0;
        for (l, layer) in layers.iter().enumerate() {
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
            let is_gelu = layer.activation == Activation::Gelu;
            for o in 0..nout {
                let zr = &cur.z[o * stride..(o + 1) * stride];
                let ar = &mut cur.a[o * stride..(o + 1) * stride];
                let s1 = &mut cur.s1[o * c..(o + 1) * c];
                let s2 = &mut cur.s2[o * c..(o + 1) * c];
                let (a0, ad) = ar.split_at_mut(c);
                // This row's place in the base (GELU layers only).
                let bo = base_off + o * n + c0;
                if is_gelu && record {
                    let b = &mut w.base;
                    geodyn_nn::fastmath::gelu_pdf_slice(&zr[..c], a0, s1, &mut b.phi[bo..bo + c]);
                    b.z[bo..bo + c].copy_from_slice(&zr[..c]);
                    b.a[bo..bo + c].copy_from_slice(a0);
                    b.s1[bo..bo + c].copy_from_slice(s1);
                } else {
                    let b = &w.base;
                    let r = bo..bo + c;
                    let expanded = is_gelu
                        && use_base
                        && gelu_taylor::<F>(
                            &zr[..c],
                            &b.z[r.clone()],
                            &b.a[r.clone()],
                            &b.s1[r.clone()],
                            &b.phi[r],
                            a0,
                            s1,
                        );
                    if !expanded {
                        activate(layer.activation, &zr[..c], a0, s1, s2, curv);
                    }
                }
                if curv {
                    tangent(s1, &zr[c..], ad);
                }
            }
            if is_gelu {
                base_off += nout * n;
            }
        }
        // Loss per column: ℓ, δ = ∂ℓ/∂Z_L, and the output's curvature terms
        // ḟᵀΛḟ + ⟨∇ℓ ⊙ σ''(Z_L), Ż_L²⟩.
        {
            let out = &w.layers[nl - 1];
            for j in 0..c {
                for k in 0..m {
                    w.f[k] = out.a[k * stride + j];
                }
                loss_sum += loss.value_grad(&w.f[..m], data.target(c0 + j), &mut w.gf[..m]);
                if curv {
                    for k in 0..m {
                        w.fd[k] = out.a[k * stride + c + j];
                    }
                    loss.hess_vec(&w.f[..m], &w.fd[..m], &mut w.lf[..m]);
                    for k in 0..m {
                        let zd = out.z[k * stride + c + j];
                        curv_sum += w.fd[k] * w.lf[k] + w.gf[k] * out.s2[k * c + j] * zd * zd;
                    }
                }
                for k in 0..m {
                    w.delta[k * c + j] = w.gf[k] * out.s1[k * c + j];
                }
                if hv.is_some() {
                    // δ̇_L = (Λ ḟ) ⊙ σ' + ∇ℓ ⊙ σ'' ⊙ Ż (w.lf holds Λ ḟ from above)
                    for k in 0..m {
                        w.ddelta[k * c + j] =
                            w.lf[k] * out.s1[k * c + j] + w.gf[k] * out.s2[k * c + j] * out.z[k * stride + c + j];
                    }
                }
            }
        }
        // Backward: plain f64 (also for the curvature alone: its adjoint sums need δ).
        if grad.is_some() || curv {
            if curv {
                w.cacc[..c].fill(0.0);
            }
            for l in (0..nl).rev() {
                let (nin, nout) = (layers[l].input, layers[l].output);
                let woff = spec.weight_offset(l);
                let boff = spec.bias_offset(l);
                let am = if l == 0 {
                    MatRef::from_row_major_slice(&w.input[..nin * c], nin, c)
                } else {
                    MatRef::from_row_major_slice_with_stride(&w.layers[l - 1].a[..nin * stride], nin, c, stride)
                };
                let dm = MatRef::from_row_major_slice(&w.delta[..nout * c], nout, c);
                if let Some(g) = grad.as_deref_mut() {
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
                // δ Ȧᵀ (the inputs carry no tangent): 2⟨V, δȦᵀ⟩ is the curvature's
                // weight term, and δȦᵀ is one of the two terms of (H v)_W.
                let dat = match (v, l > 0) {
                    (Some(v), true) => {
                        let adm = MatRef::from_row_major_slice_with_stride(
                            &w.layers[l - 1].a[c..nin * stride],
                            nin,
                            c,
                            stride,
                        );
                        let dat = &mut w.dat[..nout * nin];
                        matmul(
                            MatMut::from_row_major_slice_mut(dat, nout, nin),
                            Accum::Replace,
                            dm,
                            adm.transpose(),
                            1.0,
                            Par::Seq,
                        );
                        curv_sum += 2.0 * geodyn_core::dot(spec.layer_params(v, l).0, dat);
                        Some(&w.dat[..nout * nin])
                    }
                    _ => None,
                };
                if let Some(h) = hv.as_deref_mut() {
                    // (H v)_W = δ̇ Aᵀ + δ Ȧᵀ, (H v)_b = Σ δ̇
                    let ddm = MatRef::from_row_major_slice(&w.ddelta[..nout * c], nout, c);
                    let hw = &mut h[woff..woff + nout * nin];
                    matmul(
                        MatMut::from_row_major_slice_mut(hw, nout, nin),
                        Accum::Add,
                        ddm,
                        am.transpose(),
                        1.0,
                        Par::Seq,
                    );
                    if let Some(dat) = dat {
                        for (h, x) in hw.iter_mut().zip(dat) {
                            *h += x;
                        }
                    }
                    for o in 0..nout {
                        h[boff + o] += sum(&w.ddelta[o * c..(o + 1) * c]);
                    }
                }
                if l > 0 {
                    let (wt, _) = spec.layer_params(params, l);
                    let wm = MatRef::from_row_major_slice(wt, nout, nin);
                    let dp = &mut w.delta_prev[..nin * c];
                    matmul(
                        MatMut::from_row_major_slice_mut(dp, nin, c),
                        Accum::Replace,
                        wm.transpose(),
                        dm,
                        1.0,
                        Par::Seq,
                    );
                    let prev = &w.layers[l - 1];
                    if curv {
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
                    if let (true, Some(v)) = (hv.is_some(), v) {
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
            }
        }
        if curv {
            curv_sum += sum(&w.cacc[..c]);
        }
        c0 += c;
    }
    (loss_sum, curv_sum)
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

    /// A deterministic pseudo-random stream in (−1, 1) (no rand in unit tests).
    fn stream(seed: u64, n: usize, scale: f64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                scale * ((s >> 11) as f64 / (1u64 << 52) as f64 - 1.0)
            })
            .collect()
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

    /// The Taylor expansion of GELU around a base point agrees with the kernel at the
    /// shifted point: over z ∈ [−9, 9] (every Cody piece and the edges between them)
    /// and shifts |d|(1 + |z|) ≤ NEAR_MAX, σ and σ' within 4 ulp of the kernel's values (in ulp
    /// of max(|σ|, |σ'|, 2^−60) each, as both carry the kernels' few-ulp errors), while
    /// dropping the Taylor terms beyond σ' costs up to ~1e-8.
    #[test]
    fn gelu_taylor_matches_the_kernel() {
        let n = 4001;
        let zb: Vec<f64> =
            (0..n).map(|i| -9.0 + 18.0 * i as f64 / (n - 1) as f64 + 1e-3 * ((i * 7919) % 13) as f64).collect();
        let d = stream(9, n, NEAR_MAX);
        let z: Vec<f64> = zb.iter().zip(&d).map(|(a, b)| a + b / (1.0 + a.abs())).collect();
        assert!(z.iter().zip(&zb).all(|(z, x)| near_base(z - x, *x)));
        let (mut ab, mut s1b, mut pb) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        geodyn_nn::fastmath::gelu_pdf_slice(&zb, &mut ab, &mut s1b, &mut pb);
        let (mut a, mut s1) = (vec![0.0; n], vec![0.0; n]);
        assert!(gelu_taylor::<false>(&z, &zb, &ab, &s1b, &pb, &mut a, &mut s1));
        let (mut af, mut s1f) = (vec![0.0; n], vec![0.0; n]);
        assert!(gelu_taylor::<true>(&z, &zb, &ab, &s1b, &pb, &mut af, &mut s1f));
        let (mut ae, mut s1e) = (vec![0.0; n], vec![0.0; n]);
        Activation::Gelu.eval2_slice(&z, &mut ae, &mut s1e);
        let mut worst_first_order = 0.0f64;
        for j in 0..n {
            let scale = ae[j].abs().max(s1e[j].abs()).max(2f64.powi(-60)) * f64::EPSILON;
            assert!((a[j] - ae[j]).abs() <= 4.0 * scale, "σ at z = {}: {} vs {}", z[j], a[j], ae[j]);
            assert!((s1[j] - s1e[j]).abs() <= 4.0 * scale, "σ' at z = {}: {} vs {}", z[j], s1[j], s1e[j]);
            assert!(
                (af[j] - ae[j]).abs() <= 4.0 * scale && (s1f[j] - s1e[j]).abs() <= 4.0 * scale,
                "fused, z = {}",
                z[j]
            );
            worst_first_order = worst_first_order.max((s1b[j] - s1e[j]).abs());
        }
        assert!(worst_first_order > 1e-5, "the shifts must matter: {worst_first_order:e}");
    }
}
