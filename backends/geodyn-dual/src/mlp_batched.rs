//! The batched, feature-major MLP engine behind [`MlpObjective`](crate::MlpObjective)'s
//! hot calls: value, gradient, and the fused gradient + curvature vᵀHv.
//!
//! Activations are stored feature-major ([width, batch]), so every layer is a sequence
//! of contiguous axpy / dot loops over the batch that the compiler vectorises. The
//! curvature is the second directional derivative of the loss along θ(t) = θ + tv,
//! carried forward as value, first and second tangents per layer:
//!
//! ```text
//! Z = W A + b          Ż = W Ȧ + V A + v_b          Z̈ = W Ä + 2 V Ȧ
//! A' = σ(Z)            Ȧ' = σ'(Z) Ż                 Ä' = σ''(Z) Ż² + σ'(Z) Z̈
//! vᵀHv = Σₙ ḟₙᵀ Λₙ ḟₙ + ∇ℓₙ · f̈ₙ  (+ λ|v|² from the prior)
//! ```
//!
//! so no backward pass over dual numbers is needed; the gradient is one plain f64
//! backward pass reusing σ'(Z) from the forward pass. Scratch is thread-local and only
//! grows: after warm-up nothing is allocated.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use geodyn_nn::{Activation, Dataset, Loss, ModelSpec};
use std::cell::RefCell;

/// Columns (data points) per block.
pub(crate) const BLOCK: usize = 256;

#[derive(Default)]
struct Layer {
    z: Vec<f64>,
    a: Vec<f64>,
    s1: Vec<f64>,
    s2: Vec<f64>,
    zd: Vec<f64>,
    ad: Vec<f64>,
    zdd: Vec<f64>,
    add: Vec<f64>,
}

#[derive(Default)]
struct Work {
    layers: Vec<Layer>,
    input: Vec<f64>,
    delta: Vec<f64>,
    delta_prev: Vec<f64>,
    f: Vec<f64>,
    fd: Vec<f64>,
    gf: Vec<f64>,
    lf: Vec<f64>,
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
            for j in 0..z.len() {
                let p = z[j] > 0.0;
                a[j] = if p { z[j] } else { 0.0 };
                s1[j] = if p { 1.0 } else { 0.0 };
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

/// One pass over the data. Returns (data loss, data part of vᵀHv); adds the data
/// gradient into `grad` (which the caller zeroes) when given.
///
/// `inputs_t` is the data's inputs feature-major ([d, N]).
pub(crate) fn pass(
    spec: &ModelSpec,
    data: &Dataset,
    inputs_t: &[f64],
    loss: &Loss,
    params: &[f64],
    v: Option<&[f64]>,
    mut grad: Option<&mut [f64]>,
) -> (f64, f64) {
    let n = data.len();
    let d = spec.input_dim();
    let m = spec.output_dim();
    let layers = spec.layers();
    let nl = layers.len();
    let curv = v.is_some();
    WORK.with(|w| {
        let mut w = w.borrow_mut();
        let w = &mut *w;
        if w.layers.len() < nl {
            w.layers.resize_with(nl, Layer::default);
        }
        let maxw = spec.max_width();
        grow(&mut w.input, d * BLOCK);
        grow(&mut w.delta, maxw * BLOCK);
        grow(&mut w.delta_prev, maxw * BLOCK);
        for buf in [&mut w.f, &mut w.fd, &mut w.gf, &mut w.lf] {
            grow(buf, m.max(1));
        }
        for (l, layer) in layers.iter().enumerate() {
            let sz = layer.output * BLOCK;
            let lw = &mut w.layers[l];
            for buf in [&mut lw.z, &mut lw.a, &mut lw.s1, &mut lw.s2, &mut lw.zd, &mut lw.ad, &mut lw.zdd, &mut lw.add]
            {
                grow(buf, sz);
            }
        }
        let mut loss_sum = 0.0;
        let mut curv_sum = 0.0;
        let mut c0 = 0;
        while c0 < n {
            let c = (n - c0).min(BLOCK);
            for i in 0..d {
                w.input[i * c..(i + 1) * c].copy_from_slice(&inputs_t[i * n + c0..i * n + c0 + c]);
            }
            // Forward with value, first and second tangents.
            for (l, layer) in layers.iter().enumerate() {
                let (nin, nout) = (layer.input, layer.output);
                let (wt, bias) = spec.layer_params(params, l);
                let vw = v.map(|v| spec.layer_params(v, l));
                let (prev, rest) = w.layers.split_at_mut(l);
                let cur = &mut rest[0];
                let (a_in, ad_in, add_in): (&[f64], Option<&[f64]>, Option<&[f64]>) = if l == 0 {
                    (&w.input[..nin * c], None, None)
                } else {
                    let p = &prev[l - 1];
                    (&p.a[..nin * c], Some(&p.ad[..nin * c]), Some(&p.add[..nin * c]))
                };
                let wm = MatRef::from_row_major_slice(wt, nout, nin);
                let am = MatRef::from_row_major_slice(a_in, nin, c);
                {
                    let z = &mut cur.z[..nout * c];
                    for o in 0..nout {
                        z[o * c..(o + 1) * c].fill(bias[o]);
                    }
                    matmul(MatMut::from_row_major_slice_mut(z, nout, c), Accum::Add, wm, am, 1.0, Par::Seq);
                }
                if let Some((vwt, vb)) = vw {
                    let vm = MatRef::from_row_major_slice(vwt, nout, nin);
                    let zd = &mut cur.zd[..nout * c];
                    for o in 0..nout {
                        zd[o * c..(o + 1) * c].fill(vb[o]);
                    }
                    matmul(MatMut::from_row_major_slice_mut(zd, nout, c), Accum::Add, vm, am, 1.0, Par::Seq);
                    let zdd = &mut cur.zdd[..nout * c];
                    if let (Some(ad), Some(add)) = (ad_in, add_in) {
                        let adm = MatRef::from_row_major_slice(ad, nin, c);
                        let addm = MatRef::from_row_major_slice(add, nin, c);
                        matmul(MatMut::from_row_major_slice_mut(zd, nout, c), Accum::Add, wm, adm, 1.0, Par::Seq);
                        matmul(MatMut::from_row_major_slice_mut(zdd, nout, c), Accum::Replace, wm, addm, 1.0, Par::Seq);
                        matmul(MatMut::from_row_major_slice_mut(zdd, nout, c), Accum::Add, vm, adm, 2.0, Par::Seq);
                    } else {
                        zdd.fill(0.0);
                    }
                }
                let sz = nout * c;
                activate(layer.activation, &cur.z[..sz], &mut cur.a[..sz], &mut cur.s1[..sz], &mut cur.s2[..sz], curv);
                if curv {
                    for j in 0..sz {
                        let (zd, s1) = (cur.zd[j], cur.s1[j]);
                        cur.ad[j] = s1 * zd;
                        cur.add[j] = cur.s2[j] * zd * zd + s1 * cur.zdd[j];
                    }
                }
            }
            // Loss per column: ℓ, δ = ∂ℓ/∂Z_L, and the curvature ȧᵀΛȧ + ∇ℓ·ä.
            {
                let out = &w.layers[nl - 1];
                for j in 0..c {
                    for k in 0..m {
                        w.f[k] = out.a[k * c + j];
                    }
                    loss_sum += loss.value_grad(&w.f[..m], data.target(c0 + j), &mut w.gf[..m]);
                    if curv {
                        for k in 0..m {
                            w.fd[k] = out.ad[k * c + j];
                        }
                        loss.hess_vec(&w.f[..m], &w.fd[..m], &mut w.lf[..m]);
                        for k in 0..m {
                            curv_sum += w.fd[k] * w.lf[k] + w.gf[k] * out.add[k * c + j];
                        }
                    }
                    for k in 0..m {
                        w.delta[k * c + j] = w.gf[k] * out.s1[k * c + j];
                    }
                }
            }
            // Backward: plain f64.
            if let Some(g) = grad.as_deref_mut() {
                for l in (0..nl).rev() {
                    let (nin, nout) = (layers[l].input, layers[l].output);
                    let woff = spec.weight_offset(l);
                    let boff = spec.bias_offset(l);
                    let a_in: &[f64] = if l == 0 { &w.input[..nin * c] } else { &w.layers[l - 1].a[..nin * c] };
                    let dm = MatRef::from_row_major_slice(&w.delta[..nout * c], nout, c);
                    let am = MatRef::from_row_major_slice(a_in, nin, c);
                    matmul(
                        MatMut::from_row_major_slice_mut(&mut g[woff..woff + nout * nin], nout, nin),
                        Accum::Add,
                        dm,
                        am.transpose(),
                        1.0,
                        Par::Seq,
                    );
                    for o in 0..nout {
                        g[boff + o] += w.delta[o * c..(o + 1) * c].iter().sum::<f64>();
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
                        let s1 = &w.layers[l - 1].s1[..nin * c];
                        for (x, s) in dp.iter_mut().zip(s1) {
                            *x *= s;
                        }
                        std::mem::swap(&mut w.delta, &mut w.delta_prev);
                    }
                }
            }
            c0 += c;
        }
        (loss_sum, curv_sum)
    })
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
