//! tanh with its derivatives: the [`TanhK`] kernel behind `Activation::eval3_slice`.
//!
//! e = e^{−2|x|} and em = e − 1 come from one exp reduction (each rounded once),
//! tanh|x| = −em/(1 + e) (no cancellation near 0) and sech² x = 4e/(1 + e)² (no
//! cancellation of 1 − tanh² for large |x|), with 1 + e kept exactly as a pair and each
//! quotient corrected once from its exact residual.
//!
//! Accuracy against mpmath: σ 1.4 ulp, σ' 1.4 ulp, σ'' 2.8 ulp; (±1, 0, 0) at ±∞,
//! NaN gives NaN.

use super::exp::{exp_reduce, exp_scale};
use super::kernel::kernel;
use super::primitives::{mla, two_prod};

/// tanh: (t, 1 − t², −2t(1 − t²)), with e = e^{−2|x|}, em = e − 1, q = 1 + e:
/// t = −em/q, 1 − t² = 4e/q². q is kept exactly as qh + ql and both quotients get one
/// correction step from their exact residual, so their only sizeable errors are those
/// of e and em (one rounding each after the exp reduction).
#[inline(always)]
pub(crate) fn tanh<const F: bool>(x: f64) -> (f64, f64, f64) {
    let y = x.abs();
    let (k, p) = exp_reduce::<F>(-2.0 * y, 0.0);
    let (s1, s2) = exp_scale(k);
    let s = s1 * s2; // 2^k; subnormal or 0 where e^{−2|x|} is (then em = −1 exactly)
    let e = mla::<F>(s, p, s);
    let em = mla::<F>(s, p, s - 1.0); // s − 1 is exact for k ≥ −53
    let one_s = 1.0 + s;
    let qh = mla::<F>(s, p, one_s);
    let ql = mla::<F>(s, p, one_s - qh) + ((1.0 - one_s) + s);
    let qq = qh * qh;
    let qq_lo = two_prod::<F>(qh, qh).1 + 2.0 * qh * ql; // q² − qq
    let w = 1.0 / qq;
    // 1 − t² = 4e/q²
    let e4 = 4.0 * e;
    let d0 = e4 * w;
    let (ph, pl) = two_prod::<F>(d0, qq);
    let d1 = mla::<F>(((e4 - ph) - pl) - d0 * qq_lo, w, d0);
    // |t| = −em/q, 1/q ≈ qh/q²
    let inv_q = qh * w;
    let t0 = -em * inv_q;
    let (th, tl) = two_prod::<F>(t0, qh);
    let t = mla::<F>(((-em - th) - tl) - t0 * ql, inv_q, t0).copysign(x);
    (t, d1, -2.0 * t * d1)
}

kernel!(TanhK, tanh);
