//! e^x: the Cody–Waite reduction shared by every kernel, the 2^k scaling, and the
//! [`ExpK`] kernel behind [`exp_slice`](super::exp_slice).
//!
//! Cody–Waite reduction x = k ln 2 + r with a two-constant ln 2 (k·ln2_hi and
//! x − k·ln2_hi are exact), the rounding error of r carried as a correction,
//! e^r − 1 = r + r²·g(r) with g a degree-10 Chebyshev fit on |r| ≤ ln2/2 (relative
//! error 5e−18), and the scale 2^k applied as two exact powers of two built from
//! exponent bits, so results that underflow to subnormals are rounded once.
//! Polynomials are evaluated by Estrin's scheme.
//!
//! Accuracy: 0.82 ulp against mpmath, ≤ 1 ulp from `f64::exp` for normal results,
//! subnormal results within one subnormal step; 0 below x ≈ −745.13, +∞ above
//! x ≈ 709.78, NaN kept.

use super::kernel::kernel;
use super::primitives::{clamp_nan, mla, poly};

const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// 1.5·2^52: adding and subtracting it rounds to an integer (|v| < 2^51).
const SHIFT: f64 = 6_755_399_441_055_744.0;
/// SHIFT + 1023: the exponent bias rides along in the low mantissa bits.
const SHIFT_BIAS: f64 = 6_755_399_441_056_767.0;
/// ln 2 split (msun): LN2_HI has 32 significant bits, so k·LN2_HI is exact for
/// |k| < 2^21; LN2_HI + LN2_LO = ln 2 to 2^−85.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// Arguments are clamped to [EXP_MIN, EXP_MAX] (NaN kept): e^710 overflows, and
/// e^−1000 = 2^−1443 stays 0 even after the kernels multiply its mantissa by factors up
/// to 2^400 before scaling, so the results at and beyond the clamps are exact.
const EXP_MIN: f64 = -1000.0;
const EXP_MAX: f64 = 710.0;

/// (e^r − 1 − r)/r² on |r| ≤ ln2/2·1.0001: degree-10 Chebyshev fit (mpmath, 50
/// digits), relative error 4.9e−18 with the coefficients rounded to f64.
const EXPM1_G: [f64; 11] = [
    2.0914686968086876e-09,
    2.5105217004720745e-08,
    2.75572736431103e-07,
    2.7557255400206422e-06,
    2.4801587325547743e-05,
    0.00019841269874820627,
    0.0013888888888883748,
    0.008333333333326136,
    0.04166666666666667,
    0.1666666666666667,
    0.5,
];

/// Cody–Waite reduction of e^{hi + lo} (|lo| ≪ |hi|, lo may be 0): returns
/// (k as f64, p) with e^{hi+lo} ≈ 2^k (1 + p), p = e^r − 1 for the reduced r, to
/// about 0.1 ulp of 1 + p.
#[inline(always)]
pub(super) fn exp_reduce<const F: bool>(hi: f64, lo: f64) -> (f64, f64) {
    exp_reduce_in::<F, true>(hi, lo)
}

/// [`exp_reduce`] with an optional clamp (NaN kept) of `hi` to
/// [EXP_MIN, EXP_MAX]: callers that know `hi` is in range skip it.
#[inline(always)]
pub(super) fn exp_reduce_in<const F: bool, const CLAMP: bool>(hi: f64, lo: f64) -> (f64, f64) {
    let x = if CLAMP { clamp_nan(hi, EXP_MIN, EXP_MAX) } else { hi };
    let k = (x * LOG2_E + SHIFT) - SHIFT;
    // x − k·ln2_hi is exact (k·LN2_HI is exact and the difference is a multiple of
    // ulp(x) below 1), so the only roundings are in the small part.
    let rh = mla::<F>(-k, LN2_HI, x);
    let rl = mla::<F>(-k, LN2_LO, lo);
    let r = rh + rl;
    let rc = (rh - r) + rl; // rounding error of r (to ~2^−106 relative where it matters)
    let r2 = r * r;
    let q = r2 * poly::<F, 11>(r, &EXPM1_G);
    // e^{r + rc} − 1 ≈ r + q + rc (1 + r)
    let p = r + (q + mla::<F>(rc, r, rc));
    (k, p)
}

/// (2^{k1}, 2^{k2}) with k1 + k2 = k and both normal, so that m·2^{k1}·2^{k2} is
/// exact for normal results and rounded once for subnormal ones.
#[inline(always)]
pub(super) fn exp_scale(k: f64) -> (f64, f64) {
    let k1 = (k * 0.5 + SHIFT) - SHIFT;
    let k2 = k - k1;
    let s1 = f64::from_bits((k1 + SHIFT_BIAS).to_bits() << 52);
    let s2 = f64::from_bits((k2 + SHIFT_BIAS).to_bits() << 52);
    (s1, s2)
}

/// 2^k for an integral k in the normal exponent range (−1022 ≤ k ≤ 1023).
#[inline(always)]
pub(super) fn pow2(k: f64) -> f64 {
    f64::from_bits((k + SHIFT_BIAS).to_bits() << 52)
}

/// e^{hi + lo}.
#[inline(always)]
fn exp2p<const F: bool>(hi: f64, lo: f64) -> f64 {
    let (k, p) = exp_reduce::<F>(hi, lo);
    let (s1, s2) = exp_scale(k);
    (1.0 + p) * s1 * s2
}

/// e^x.
#[inline(always)]
pub(crate) fn exp<const F: bool>(x: f64) -> (f64, f64, f64) {
    (exp2p::<F>(x, 0.0), 0.0, 0.0)
}

kernel!(ExpK, exp);
