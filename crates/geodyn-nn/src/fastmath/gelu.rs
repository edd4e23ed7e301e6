//! GELU in its exact form σ(x) = xΦ(x) with σ' = Φ + xφ and σ'' = (2 − x²)φ, built
//! on the pieces of [`normal`](super::normal): the [`GeluK`] kernel behind
//! `Activation::eval3_slice` and the [`GeluPdfK`] kernel (σ, σ', φ) behind
//! [`gelu_pdf_slice`](super::gelu_pdf_slice).
//!
//! Products that could be subnormal although the final value is not (x·Φ(x) and
//! (2 − x²)φ(x) near x = −37.5) are formed on the unscaled mantissas before the
//! scaling by 2^k; 2 − x² comes from the exact split of x², so σ'' is accurate at its
//! zero x = √2.
//!
//! Accuracy against mpmath (AVX2 + FMA / baseline): σ 3.0 / 3.0 ulp, σ' 2.2 / 2.8,
//! σ'' 1.9 / 2.1 (σ' in ulp of |Φ| + |xφ|, since the sum cancels at its zero). At
//! −∞ the kernel gives (0, 0, 0), at +∞ (+∞, 1, 0); NaN gives NaN.

use super::kernel::{REGION_CENTRAL, REGION_COMMON, REGION_MIDDLE, kernel};
use super::normal::{NORMAL_CLAMP, normal_central, normal_parts, normal_tail};
use super::primitives::{clamp_nan, mla, sel};

/// GELU (σ, σ', σ'') = (xΦ, Φ + xφ, (2 − x²)φ).
#[inline(always)]
pub(crate) fn gelu<const F: bool, const R: u8>(x: f64) -> (f64, f64, f64) {
    let (v, d1, d2, _) = gelu_parts::<F, R>(x);
    (v, d1, d2)
}

/// GELU (σ, σ') and the normal pdf φ (from which every higher derivative follows:
/// σ⁽ᵏ⁾ = P_k(x)φ with polynomials P_k), the same bits as [`gelu`]'s σ, σ' and
/// [`normal`](super::normal::normal)'s φ.
#[inline(always)]
pub(crate) fn gelu_pdf<const F: bool, const R: u8>(x: f64) -> (f64, f64, f64) {
    let (v, d1, _, phi) = gelu_parts::<F, R>(x);
    (v, d1, phi)
}

/// GELU's σ, σ', σ'' and φ (outputs not used by the caller are dead code).
#[inline(always)]
fn gelu_parts<const F: bool, const R: u8>(x: f64) -> (f64, f64, f64, f64) {
    // Without tail inputs (|x| ≤ √32 or NaN) the clamp and the pre-scaling products
    // below are no-ops: the same bits come out of the cheaper expressions.
    let no_tail = matches!(R, REGION_CENTRAL | REGION_MIDDLE | REGION_COMMON);
    let xc = if no_tail { x } else { clamp_nan(x, -NORMAL_CLAMP, NORMAL_CLAMP) };
    let np = normal_parts::<F, R>(xc);
    let (s1, s2) = (np.s1, np.s2);
    let q = np.q_m * s1 * s2;
    let phi = np.phi_m * s1 * s2;
    let cdf = sel(np.central, mla::<F>(xc, np.ratio, 0.5), sel(xc < 0.0, q, 1.0 - q));
    // In the lower tail (x < −0.674) Φ = q and everything carries the factor 2^k:
    // multiply before scaling so that σ, σ' stay accurate where Φ is subnormal.
    let lower = !no_tail && !np.central && xc < 0.0;
    // (σ(x) for x < −40 is −0 since the scaled Φ is 0; x = +∞ gives +∞ via x·Φ.)
    let v = if no_tail { x * cdf } else { sel(lower, np.q_m * xc * s1 * s2, x * cdf) };
    let d1 = if no_tail {
        mla::<F>(xc, phi, cdf)
    } else {
        sel(lower, mla::<F>(xc, np.phi_m, np.q_m) * s1 * s2, mla::<F>(xc, phi, cdf))
    };
    // 2 − x² from the exact split: accurate even at the zero x = √2.
    let d2 = ((2.0 - np.vh) - np.vl) * np.phi_m * s1 * s2;
    (v, d1, d2, phi)
}

kernel!(GeluK, gelu, split normal_tail, normal_central);
kernel!(GeluPdfK, gelu_pdf, split normal_tail, normal_central);
