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
//! a near pass ([`Mode::Near`], `gradient_near`) takes σ and σ' of each segment (one
//! GELU row over one block of data points) from Taylor series around the base
//! ([`gelu_series`]; GELU's derivatives are polynomials times φ, so the series need no
//! exp or erfc), of order 3, 4, 6 or 8 as the segment's pre-activations moved by at most
//! [`SERIES_LIMITS`] = 5e-6 … 1.5e-2 relative to 1 + |Z|, and evaluates the segment in
//! full otherwise. The order is picked from a prediction (the segment's last ratio of
//! its move to the parameters' move) and checked in the same loop. A near pass that
//! moved further than the lowest order covers (the first evaluation of a LossGraphRattle
//! step, ~1e-4 … 1e-2 from the last step's) also *re-bases*: its values become the
//! base, so the next step expands around this one; after [`MAX_AGE`] re-basings a
//! segment is evaluated in full, which bounds the rounding carried along to a few ulp.
//! The elementwise GELU kernel is about half of a gradient pass on the Snelson network;
//! a near pass costs about 60% of a full one within a step and about 77% from step to
//! step (a step of 1e-4 v; `cargo run --release -p geodyn-dual --example mlp_cost`).

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
    /// Takes σ and σ' of each GELU segment from a Taylor expansion around the base
    /// ([`gelu_series`]) where the base belongs to objective `id` and the segment's
    /// pre-activations are within [`SERIES_LIMITS`] of the base's; evaluates the segment
    /// in full otherwise. Passes whose parameters moved far enough for some segment to
    /// need more than the lowest order also re-base: the pass's values become the base.
    Near { id: u64 },
}

/// The largest |Z − Z_base|·(1 + |Z_base|) of a segment that [`Mode::Near`] expands
/// around the base with [`gelu_series`] of order 3, 4, 6 and 8 (see
/// [`gelu_series_tier`]): the truncation, about φ·D^P/√(P!), stays below 0.1 ulp of φ
/// there (at 3× these limits it shows as 13–250 ulp). On the Snelson workload the
/// iterates of one LossGraphRattle step differ by D ≲ 1e-6 and consecutive steps' first
/// iterates by D ~ 1e-4 … 1e-2.
pub(crate) const SERIES_LIMITS: [f64; 4] = [5e-6, 1e-4, 3e-3, 1.5e-2];

/// A near pass predicts each segment's D from its last ratio D/δθ and picks the lowest
/// order whose limit is at least this many times the prediction.
const SERIES_MARGIN: f64 = 1.5;

/// After this many re-basings by series a segment is evaluated in full, so that the
/// rounding carried from base to base (about an ulp per re-basing) stays a few ulp.
pub(crate) const MAX_AGE: u32 = 32;

/// The most base elements kept per quantity (N × the GELU widths summed), 2 MiB each:
/// larger problems record nothing and their near passes are full ones.
const BASE_CAP: usize = 1 << 18;

/// Z, σ(Z), σ'(Z) and φ(Z) of every GELU layer at the base point: the last
/// [`Mode::Record`] pass's, moved along by the [`Mode::Near`] passes that re-base (see
/// [`pass`]); each laid out layer after layer as [width, N] over all N data points.
#[derive(Default)]
struct Base {
    /// The objective (and so the network shape and the data) they belong to.
    id: Option<u64>,
    z: Vec<f64>,
    a: Vec<f64>,
    s1: Vec<f64>,
    phi: Vec<f64>,
    /// The parameters of the last pass that recorded or re-based (every segment's values
    /// belong to them).
    theta: Vec<f64>,
    /// Per segment (one GELU row over one block of data points): the ratio D/δθ of the
    /// segment's last series evaluation in a pass that did not re-base (`rho[0]`) and in
    /// one that did (`rho[1]`), where D = max |Z − Z_base|(1 + |Z_base|) and
    /// δθ = max |θ − θ_base|; predicts the next such pass's D from its δθ (0 before any).
    /// The two kinds of pass move θ in different directions (along the gradient within
    /// a step, along the velocity from step to step), so their ratios differ.
    rho: [Vec<f64>; 2],
    /// Per segment: re-basings by series since its last full evaluation.
    age: Vec<u32>,
}

thread_local! {
    static WORK: RefCell<Work> = RefCell::new(Work::default());
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

/// σ and σ' of GELU at z from the base point x = zb where σ(x) = ab, σ'(x) = s1b and
/// φ(x) = pb, by Taylor series of order `P` in d = z − x, without exp or erfc. With
/// φ(x + d)/φ(x) = e^{−xd − d²/2} = Σ cₙ dⁿ (c₀ = 1, c₁ = −x,
/// c_{n+1} = −(x cₙ + c_{n−1})/(n + 1): the Hermite polynomials' recurrence) and
/// Φ(x + d) − Φ(x) = φ(x)·F(d), F = Σ cₙ d^{n+1}/(n + 1), σ = zΦ and σ' = Φ + zφ give
///
/// ```text
/// σ(z)  = σ(x) + d σ'(x) + φ(x)(z F₋ + d²)        F₋ = F − d
/// σ'(z) = σ'(x) + φ(x)(2d + F₋ + z E₋)            E₋ = Σ_{n≥1} cₙ dⁿ
/// φ(z)  = φ(x)(1 + E₋)
/// ```
///
/// (no cancellation: the brackets are the small increments), each series summed
/// through c_{P−1}. |cₙ dⁿ| ≲ Dⁿ/√(n!)·e^{x²/4} and, where |x| is large, (|x|d)ⁿ/n!
/// for D = |d|(1 + |x|), so the truncation is about φ(x)·D^P/√(P!): below 0.1 ulp of
/// φ within the [`SERIES_LIMITS`] of P = 3, 4, 6, 8. The results are the base's plus terms far
/// below their ulp, rounded a few times. With `REBASE` the segment's base becomes z
/// and these values. Where φ underflows (x < −37.5) σ' = 0 and σ = the base's 0.
///
/// Returns the segment's D (for the next prediction, NaN ignored) and whether every
/// element had D ≤ `limit` (false for NaN); where not, the outputs and, with `REBASE`,
/// the base are meaningless and the caller evaluates the segment in full.
#[inline(always)]
fn gelu_series<const F: bool, const P: usize, const REBASE: bool>(
    limit: f64,
    z: &[f64],
    base: SegmentBase<'_>,
    a: &mut [f64],
    s1: &mut [f64],
) -> (f64, bool) {
    let mla = |a: f64, b: f64, c: f64| if F { a.mul_add(b, c) } else { a * b + c };
    let n = z.len();
    let SegmentBase { z: zb, a: ab, s1: s1b, phi: pb } = base;
    let (zb, ab, s1b, pb, a, s1) = (&mut zb[..n], &mut ab[..n], &mut s1b[..n], &mut pb[..n], &mut a[..n], &mut s1[..n]);
    // max D as the largest bit pattern (D ≥ 0, so its bits order like it; an integer
    // reduction vectorises where a float max reduction does not).
    let mut dmax = 0i64;
    let mut ok = true;
    for j in 0..n {
        let x = zb[j];
        let zj = z[j];
        let d = zj - x;
        let dd = d.abs() * (1.0 + x.abs());
        ok &= dd <= limit;
        dmax = dmax.max(dd.to_bits() as i64);
        // c[k] = c_k and f[k] = c_k/(k + 1) for k < P.
        let mut c = [0.0; P];
        let mut f = [0.0; P];
        c[0] = 1.0;
        c[1] = -x;
        f[1] = -0.5 * x;
        for k in 1..P - 1 {
            let t = mla(x, c[k], c[k - 1]);
            c[k + 1] = t * (-1.0 / (k + 1) as f64);
            f[k + 1] = t * (-1.0 / ((k + 1) * (k + 2)) as f64);
        }
        // E₋/d = Σ_{n=1}^{P−1} cₙ d^{n−1}, F₋/d² = Σ_{n=1}^{P−1} cₙ/(n+1) d^{n−1}.
        let mut e = c[P - 1];
        let mut fs = f[P - 1];
        for k in (1..P - 1).rev() {
            e = mla(e, d, c[k]);
            fs = mla(fs, d, f[k]);
        }
        let em = e * d;
        let d2 = d * d;
        let fm = fs * d2;
        let p = pb[j];
        let s1v = mla(p, mla(zj, em, mla(d, 2.0, fm)), s1b[j]);
        let av = mla(p, mla(zj, fm, d2), mla(d, s1b[j], ab[j]));
        a[j] = av;
        s1[j] = s1v;
        if REBASE {
            zb[j] = zj;
            ab[j] = av;
            s1b[j] = s1v;
            pb[j] = mla(p, em, p);
        }
    }
    (f64::from_bits(dmax as u64), ok)
}

/// One segment's share of the [`Base`]: Z, σ(Z), σ'(Z) and φ(Z).
struct SegmentBase<'a> {
    z: &'a mut [f64],
    a: &'a mut [f64],
    s1: &'a mut [f64],
    phi: &'a mut [f64],
}

/// [`gelu_series`] of the order that `tier` (an index into [`SERIES_LIMITS`]) names.
#[inline(always)]
fn gelu_series_tier<const F: bool, const REBASE: bool>(
    tier: usize,
    z: &[f64],
    base: SegmentBase<'_>,
    a: &mut [f64],
    s1: &mut [f64],
) -> (f64, bool) {
    let limit = SERIES_LIMITS[tier];
    match tier {
        0 => gelu_series::<F, 3, REBASE>(limit, z, base, a, s1),
        1 => gelu_series::<F, 4, REBASE>(limit, z, base, a, s1),
        2 => gelu_series::<F, 6, REBASE>(limit, z, base, a, s1),
        _ => gelu_series::<F, 8, REBASE>(limit, z, base, a, s1),
    }
}

/// max |a − b| over two slices, NaN if any difference is NaN.
#[inline(always)]
fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    let mut m = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        let d = (x - y).abs();
        if d.is_nan() {
            return f64::NAN;
        }
        m = m.max(d);
    }
    m
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
    let nblocks = n.div_ceil(BLOCK);
    let (record, use_base) = match mode {
        Mode::Record { id } if !curv && base_len <= BASE_CAP => {
            let b = &mut w.base;
            for buf in [&mut b.z, &mut b.a, &mut b.s1, &mut b.phi] {
                grow(buf, base_len);
            }
            // A fresh start: nothing of earlier passes (of this objective or another)
            // decides anything after a recording pass, so a run that begins with one
            // gets the same bits whatever ran on this thread before.
            for rho in &mut b.rho {
                grow(rho, gelu_rows * nblocks);
                rho.fill(0.0);
            }
            grow(&mut b.age, gelu_rows * nblocks);
            b.theta.clear();
            b.theta.extend_from_slice(params);
            b.id = Some(id);
            (true, false)
        }
        Mode::Record { .. } => {
            w.base.id = None;
            (false, false)
        }
        Mode::Near { id } => (false, !curv && w.base.id == Some(id) && w.base.z.len() >= base_len),
        Mode::Plain => (false, false),
    };
    // How far the parameters moved from the base, and whether this pass re-bases: when
    // some segment is predicted to need more than the lowest order (a new step, not
    // another Newton iterate of the same one).
    let (dtheta, rebase) = if use_base {
        let b = &mut w.base;
        let dtheta = max_abs_diff(params, &b.theta);
        let rho_max = b.rho[0][..gelu_rows * nblocks].iter().fold(0.0f64, |m, &r| m.max(r));
        let rebase = rho_max * dtheta * SERIES_MARGIN > SERIES_LIMITS[0];
        if rebase {
            b.theta.copy_from_slice(params);
        }
        (dtheta, rebase)
    } else {
        (0.0, false)
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
        // The first base row of this layer (GELU layers are counted only).
        let mut base_row = 0;
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
                // This row's place in the base, and its segment (GELU layers only).
                let bo = (base_row + o) * n + c0;
                let seg = (base_row + o) * nblocks + c0 / BLOCK;
                let r = bo..bo + c;
                let mut full = true;
                if is_gelu && use_base {
                    let b = &mut w.base;
                    let predicted = b.rho[rebase as usize][seg] * dtheta * SERIES_MARGIN;
                    let tier = SERIES_LIMITS.iter().position(|&lim| predicted <= lim);
                    let tier = tier.filter(|_| !(rebase && b.age[seg] >= MAX_AGE));
                    if let Some(tier) = tier {
                        let sb = SegmentBase {
                            z: &mut b.z[r.clone()],
                            a: &mut b.a[r.clone()],
                            s1: &mut b.s1[r.clone()],
                            phi: &mut b.phi[r.clone()],
                        };
                        let (dmax, ok) = if rebase {
                            gelu_series_tier::<F, true>(tier, &zr[..c], sb, a0, s1)
                        } else {
                            gelu_series_tier::<F, false>(tier, &zr[..c], sb, a0, s1)
                        };
                        if dtheta > 0.0 && dmax.is_finite() {
                            b.rho[rebase as usize][seg] = dmax / dtheta;
                        }
                        if ok {
                            full = false;
                            if rebase {
                                b.age[seg] += 1;
                            }
                        }
                    }
                }
                if full && is_gelu && (record || rebase) {
                    // In full, and (re)recorded: this segment's base is exact again.
                    let b = &mut w.base;
                    geodyn_nn::fastmath::gelu_pdf_slice(&zr[..c], a0, s1, &mut b.phi[r.clone()]);
                    b.z[r.clone()].copy_from_slice(&zr[..c]);
                    b.a[r.clone()].copy_from_slice(a0);
                    b.s1[r].copy_from_slice(s1);
                    b.age[seg] = 0;
                } else if full {
                    activate(layer.activation, &zr[..c], a0, s1, s2, curv);
                }
                if curv {
                    tangent(s1, &zr[c..], ad);
                }
            }
            if is_gelu {
                base_row += nout;
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

    /// Largest errors of `gelu_series::<F, P>` over z ∈ [−9, 9] (every Cody piece and the
    /// edges between them) and shifts with |d|(1 + |x|) up to `dmax`, against the kernel
    /// at the shifted point: σ and σ' in ulp of max(|σ|, |σ'|, 2^−60) (both carry the
    /// kernels' few-ulp errors), φ in ulp of φ; also the error of the first-order
    /// expansion of σ', so that a test can check the shifts matter.
    fn series_errors<const F: bool, const P: usize>(dmax: f64, seed: u64) -> [f64; 4] {
        let n = 4001;
        let zb: Vec<f64> =
            (0..n).map(|i| -9.0 + 18.0 * i as f64 / (n - 1) as f64 + 1e-3 * ((i * 7919) % 13) as f64).collect();
        let d = stream(seed, n, dmax);
        let z: Vec<f64> = zb.iter().zip(&d).map(|(a, b)| a + b / (1.0 + a.abs())).collect();
        let (mut ab, mut s1b, mut pb) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        geodyn_nn::fastmath::gelu_pdf_slice(&zb, &mut ab, &mut s1b, &mut pb);
        let s1_first = s1b.clone();
        let mut zb2 = zb.clone();
        let (mut a, mut s1) = (vec![0.0; n], vec![0.0; n]);
        let base = SegmentBase { z: &mut zb2, a: &mut ab, s1: &mut s1b, phi: &mut pb };
        let (_, ok) = gelu_series::<F, P, true>(2.0 * dmax, &z, base, &mut a, &mut s1);
        assert!(ok);
        assert_eq!((&zb2, &ab, &s1b), (&z, &a, &s1), "re-basing keeps z and the values");
        let (mut ae, mut s1e, mut pe) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        geodyn_nn::fastmath::gelu_pdf_slice(&z, &mut ae, &mut s1e, &mut pe);
        let mut worst = [0.0f64; 4];
        for j in 0..n {
            let scale = ae[j].abs().max(s1e[j].abs()).max(2f64.powi(-60)) * f64::EPSILON;
            worst[0] = worst[0].max((a[j] - ae[j]).abs() / scale);
            worst[1] = worst[1].max((s1[j] - s1e[j]).abs() / scale);
            worst[2] = worst[2].max((pb[j] - pe[j]).abs() / (pe[j] * f64::EPSILON));
            worst[3] = worst[3].max((s1_first[j] - s1e[j]).abs());
        }
        worst
    }

    /// The series order of each entry of `SERIES_LIMITS` (as `gelu_series_tier` picks).
    const SERIES_ORDERS: [usize; 4] = [3, 4, 6, 8];

    /// `gelu_series` of tier `t` (the order in `SERIES_ORDERS`), fused or not.
    fn series_errors_tier<const F: bool>(t: usize, dmax: f64, seed: u64) -> [f64; 4] {
        match SERIES_ORDERS[t] {
            3 => series_errors::<F, 3>(dmax, seed),
            4 => series_errors::<F, 4>(dmax, seed),
            6 => series_errors::<F, 6>(dmax, seed),
            8 => series_errors::<F, 8>(dmax, seed),
            p => panic!("no test instance for order {p}"),
        }
    }

    /// Each order's series reproduces the kernel at its largest shift: σ and σ' within
    /// 6 ulp (the kernel's own σ errors are up to 3 ulp, σ' up to 2.2, so most of the
    /// difference is the kernel's at the two points), the re-based φ within 2 ulp. The
    /// truncation (the omitted terms, about φ·D^P/√(P!)) grows as D^P: at 3× each limit
    /// it would show as 13–250 ulp of φ (measured while choosing the limits), so these
    /// bounds would catch a wrong coefficient or a limit set too far. The first-order
    /// expansion's error shows that the shifts matter.
    #[test]
    fn gelu_series_matches_the_kernel() {
        assert_eq!(SERIES_ORDERS.len(), SERIES_LIMITS.len());
        for t in 0..SERIES_LIMITS.len() {
            let lim = SERIES_LIMITS[t];
            for (fused, [ea, es, ep, first]) in
                [(false, series_errors_tier::<false>(t, lim, 9)), (true, series_errors_tier::<true>(t, lim, 9))]
            {
                let what = format!("order {} at D ≤ {lim:e}, fused {fused}", SERIES_ORDERS[t]);
                assert!(ea <= 6.0 && es <= 6.0, "{what}: σ {ea:.2} ulp, σ' {es:.2} ulp");
                assert!(ep <= 2.0, "{what}: φ {ep:.2} ulp");
                assert!(first > 0.3 * lim, "{what}: the shifts must matter ({first:e})");
            }
        }
    }

    /// Re-basing carries the rounding along: after `MAX_AGE` re-basings by series
    /// along a random walk of steps at the order-6 limit (each step's D up to 3e-3,
    /// about 1 in z over the walk), σ, σ' (as above) and φ stay within 10 ulp of the
    /// kernel at the walk's end (measured: 6.3, 4.0 and 6.3): the errors add like a
    /// random walk of ~1-ulp steps (√32 ≈ 5.7), not like a drift.
    #[test]
    fn rebasing_keeps_the_values_within_a_few_ulp() {
        let n = 2001;
        let mut zb: Vec<f64> = (0..n).map(|i| -9.0 + 18.0 * i as f64 / (n - 1) as f64).collect();
        let (mut ab, mut s1b, mut pb) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        geodyn_nn::fastmath::gelu_pdf_slice(&zb, &mut ab, &mut s1b, &mut pb);
        let (mut a, mut s1) = (vec![0.0; n], vec![0.0; n]);
        let lim = SERIES_LIMITS[2];
        assert_eq!(SERIES_ORDERS[2], 6);
        for step in 0..MAX_AGE as u64 {
            let d = stream(100 + step, n, lim);
            let z: Vec<f64> = zb.iter().zip(&d).map(|(a, b)| a + b / (1.0 + a.abs())).collect();
            let base = SegmentBase { z: &mut zb, a: &mut ab, s1: &mut s1b, phi: &mut pb };
            let (_, ok) = gelu_series::<true, 6, true>(lim, &z, base, &mut a, &mut s1);
            assert!(ok, "step {step}");
        }
        let (mut ae, mut s1e, mut pe) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        geodyn_nn::fastmath::gelu_pdf_slice(&zb, &mut ae, &mut s1e, &mut pe);
        let (mut wa, mut ws, mut wp) = (0.0f64, 0.0f64, 0.0f64);
        for j in 0..n {
            let scale = ae[j].abs().max(s1e[j].abs()).max(2f64.powi(-60)) * f64::EPSILON;
            wa = wa.max((ab[j] - ae[j]).abs() / scale);
            ws = ws.max((s1b[j] - s1e[j]).abs() / scale);
            wp = wp.max((pb[j] - pe[j]).abs() / (pe[j] * f64::EPSILON));
        }
        assert!(wa <= 10.0 && ws <= 10.0 && wp <= 10.0, "σ {wa:.2}, σ' {ws:.2}, φ {wp:.2} ulp");
    }
}
