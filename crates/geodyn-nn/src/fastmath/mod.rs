//! Vectorisable exp, normal cdf / pdf and activation kernels over slices.
//!
//! The scalar functions in [`special`](crate::special) and the scalar
//! [`Activation::eval3`](crate::Activation::eval3) call libm (`erfc`, `exp`, `tanh`)
//! once per element: accurate, but opaque to the vectoriser. The kernels here are
//! straight-line, branch-free code (comparisons become selects, 2^k is built from
//! exponent bits, nothing is called out of line) inside plain loops over slices, which
//! LLVM vectorises. On x86-64 every kernel is compiled three times — for the baseline
//! target (SSE2, no FMA), with AVX2 + FMA and with AVX-512 (F, DQ, VL) — and the widest
//! copy the CPU supports ([`best_isa`]) is chosen at run time (`std`'s cached feature
//! test, once per slice). The AVX-512 copy computes the same FMA arithmetic as the AVX2
//! one in 8-wide vectors, so the two agree bit for bit. Public entry points:
//! [`exp_slice`], [`normal_cdf_pdf_slice`], [`gelu_pdf_slice`] and
//! [`Activation::value_slice`](crate::Activation::value_slice) /
//! [`eval2_slice`](crate::Activation::eval2_slice) /
//! [`eval3_slice`](crate::Activation::eval3_slice); [`Isa`] and [`best_isa`] let other
//! crates' multiversioned loops pick their copy by the same rule.
//!
//! # Algorithms
//!
//! - **exp**: Cody–Waite reduction x = k ln 2 + r with a two-constant ln 2 (k·ln2_hi
//!   and x − k·ln2_hi are exact), the rounding error of r carried as a correction,
//!   e^r − 1 = r + r²·g(r) with g a degree-10 Chebyshev fit on |r| ≤ ln2/2 (relative
//!   error 5e−18), and the scale 2^k applied as two exact powers of two built from
//!   exponent bits, so results that underflow to subnormals are rounded once.
//!   Polynomials are evaluated by Estrin's scheme.
//! - **φ** (standard normal pdf): x² is split exactly into hi + lo (FMA, or Dekker's
//!   product without FMA), e^{−hi/2 − lo/2} comes from the two-part reduction above,
//!   and 1/√(2π) is applied as a double-f64 constant to the unscaled mantissa.
//! - **Φ** (standard normal cdf): W. J. Cody's rational Chebyshev approximations
//!   (Math. Comp. 1969; TOMS 715 `ANORM`, as in R's `pnorm`), directly in x — not via
//!   erfc(−x/√2), whose rounded argument costs up to ~x²/2 ulp in the lower tail:
//!   Φ = ½ + x·N₁(x²)/D₁(x²) for |x| ≤ 0.674;
//!   Φ(−|x|) = e^{−x²/2}·N₂/(2|x|·N₂ + P₂) for |x| ≤ √32 (Cody's N₂/D₂ with the
//!   denominator rewritten so that the rounding errors of N₂ largely cancel);
//!   Φ(−|x|) = φ(x)·(1 − R₃(1/x²))/|x| beyond (multiplied through by x¹⁰, so no
//!   division for 1/x²); Φ(|x|) = 1 − Φ(−|x|). Numerators and denominators are
//!   selected before a single division. The slice loops classify each block of
//!   eight inputs first and evaluate only the pieces its inputs need (the tail piece,
//!   |x| > √32, only for blocks that hold such inputs), to the same bits.
//! - **tanh**: e = e^{−2|x|} and em = e − 1 from one exp reduction (each rounded
//!   once), tanh|x| = −em/(1 + e) (no cancellation near 0) and
//!   sech² x = 4e/(1 + e)² (no cancellation of 1 − tanh² for large |x|), with
//!   1 + e kept exactly as a pair and each quotient corrected once from its exact
//!   residual.
//! - **sigmoid** (SiLU): e = e^{−|x|}, sigmoid(|x|) = 1/(1 + e),
//!   sigmoid(−|x|) = e/(1 + e), corrected the same way.
//!
//! Products that could be subnormal although the final value is not (x·Φ(x) and
//! (2 − x²)φ(x) near x = −37.5) are formed on the unscaled mantissas before the
//! scaling by 2^k.
//!
//! # Accuracy
//!
//! Maximum errors measured against mpmath (60 digits) where the exact value is a
//! normal number, on 25 000 random points (10⁴ in [−40, 40], 10⁴ in [−8, 8],
//! 5·10³ in [−1, 1]) and the grid k/8 on [−40, 40]; for exp on 10⁵ random points over
//! its whole range plus the f64 neighbourhoods of the overflow / underflow edges.
//! Where the two differ: AVX2 + FMA path / baseline path.
//!
//! | function | max error |
//! |---|---|
//! | [`exp_slice`] | 0.82 ulp (≤ 1 ulp from `f64::exp`; subnormal results within one subnormal step) |
//! | Φ ([`normal_cdf_pdf_slice`]) | 3.1 / 3.8 ulp |
//! | φ | 0.94 / 1.03 ulp |
//! | GELU σ, σ', σ'' | 3.0 / 3.0, 2.2 / 2.8, 1.9 / 2.1 |
//! | SiLU σ, σ', σ'' | 2.1, 2.8, 3.3 |
//! | tanh σ, σ', σ'' | 1.4, 1.4, 2.8 |
//!
//! (ulp of the value, except for the derivatives of GELU and SiLU, whose defining
//! sums Φ + xφ, s(1 + x(1 − s)), … cancel at their zeros: there the error is in ulp of
//! the sum of the magnitudes of the terms, the best any f64 evaluation of the formula
//! can do.) For comparison the scalar path reaches 1640 ulp for Φ and 1475 ulp for
//! GELU's σ in the lower tail, and 4.4 / 4.2 ulp for SiLU'' / tanh''. The test file
//! `tests/fastmath_kernels.rs` checks these bounds against committed mpmath values.
//!
//! Results can differ in the last bits between the FMA (AVX2, AVX-512) and the baseline path
//! (fused multiply–adds round once); within one process a given input always gives
//! the same output, whatever its position in the slice and whichever of
//! `value_slice` / `eval2_slice` / `eval3_slice` computes it.

#![allow(clippy::excessive_precision, clippy::unreadable_literal)]

mod activation;
mod exp;
mod gelu;
mod kernel;
mod normal;
mod primitives;
mod sigmoid;
mod simd;
mod tanh;

pub use simd::{Isa, best_isa};

use exp::ExpK;
use gelu::GeluPdfK;
use kernel::run;
use normal::NormalK;
use simd::Path;

/// `out[i] = e^{x[i]}`, within 1 ulp of `f64::exp` for every normal result; results
/// below the normal range are subnormal (rounded once) down to 0 at x < −745.13,
/// overflow gives +∞, and NaN stays NaN.
///
/// # Panics
/// If `out.len() != x.len()`.
///
/// ```
/// let x = [0.0, 1.0, -745.2, 710.0];
/// let mut y = [0.0; 4];
/// geodyn_nn::fastmath::exp_slice(&x, &mut y);
/// assert_eq!(y[0], 1.0);
/// assert!((y[1] - std::f64::consts::E).abs() <= f64::EPSILON * 2.0);
/// assert_eq!((y[2], y[3]), (0.0, f64::INFINITY));
/// ```
pub fn exp_slice(x: &[f64], out: &mut [f64]) {
    run::<ExpK, 1>(Path::Best, x, out, &mut [], &mut [])
}

/// The standard normal cdf Φ and pdf φ of every element:
/// `cdf[i] = Φ(x[i])`, `pdf[i] = e^{−x[i]²/2}/√(2π)`, each within 2 ulp of the exact
/// value wherever it is a normal number (relative accuracy all the way down the lower
/// tail, Φ(−37.5) ≈ 4.6e−308).
///
/// # Panics
/// If the lengths differ.
///
/// ```
/// let x = [0.0, -30.0];
/// let (mut c, mut p) = ([0.0; 2], [0.0; 2]);
/// geodyn_nn::fastmath::normal_cdf_pdf_slice(&x, &mut c, &mut p);
/// assert_eq!(c[0], 0.5);
/// assert!((c[1] / 4.906_713_927_148_187e-198 - 1.0).abs() < 1e-15);
/// ```
pub fn normal_cdf_pdf_slice(x: &[f64], cdf: &mut [f64], pdf: &mut [f64]) {
    run::<NormalK, 2>(Path::Best, x, cdf, pdf, &mut [])
}

/// GELU's value and first derivative and the standard normal pdf of every element:
/// `a[i] = σ(z[i])`, `s1[i] = σ'(z[i])` (the same bits as
/// [`Activation::eval2_slice`](crate::Activation::eval2_slice)) and
/// `pdf[i] = φ(z[i])` (the same bits as [`normal_cdf_pdf_slice`]). Every higher
/// derivative of GELU is a polynomial times φ — σ'' = (2 − z²)φ, σ''' = (z³ − 4z)φ,
/// σ'''' = (−z⁴ + 7z² − 4)φ — so these three numbers carry a Taylor expansion of σ and
/// σ' around each `z[i]` at no further exp or erfc.
///
/// # Panics
/// If the lengths differ.
///
/// ```
/// use geodyn_nn::{fastmath, Activation};
/// let z = [-1.0, 0.5];
/// let (mut a, mut s1, mut p) = ([0.0; 2], [0.0; 2], [0.0; 2]);
/// fastmath::gelu_pdf_slice(&z, &mut a, &mut s1, &mut p);
/// let (mut a2, mut s12, mut s2) = ([0.0; 2], [0.0; 2], [0.0; 2]);
/// Activation::Gelu.eval3_slice(&z, &mut a2, &mut s12, &mut s2);
/// assert_eq!((a, s1), (a2, s12));
/// assert!((s2[1] - (2.0 - 0.25) * p[1]).abs() <= 4.0 * f64::EPSILON * s2[1]);
/// ```
pub fn gelu_pdf_slice(z: &[f64], a: &mut [f64], s1: &mut [f64], pdf: &mut [f64]) {
    run::<GeluPdfK, 3>(Path::Best, z, a, s1, pdf)
}

/// A module of the public slice functions run on one fixed [`Path`], for tests and
/// benchmarks.
macro_rules! path_module {
    ($(#[$doc:meta])* $name:ident, $path:expr) => {
        $(#[$doc])*
        #[doc(hidden)]
        pub mod $name {
            use super::*;

            /// [`exp_slice`] on this module's path.
            pub fn exp_slice(x: &[f64], out: &mut [f64]) {
                run::<ExpK, 1>($path, x, out, &mut [], &mut [])
            }

            /// [`normal_cdf_pdf_slice`] on this module's path.
            pub fn normal_cdf_pdf_slice(x: &[f64], cdf: &mut [f64], pdf: &mut [f64]) {
                run::<NormalK, 2>($path, x, cdf, pdf, &mut [])
            }

            /// [`Activation::eval3_slice`](crate::Activation::eval3_slice) on this
            /// module's path.
            pub fn eval3_slice(act: crate::Activation, z: &[f64], a: &mut [f64], s1: &mut [f64], s2: &mut [f64]) {
                super::activation::eval_slice::<3>(act, $path, z, a, s1, s2)
            }
        }
    };
}

path_module!(
    /// The baseline (SSE2 without FMA on x86-64) paths.
    portable,
    Path::Portable
);
path_module!(
    /// The AVX2 + FMA paths (the baseline where the CPU lacks them), for CPUs whose best
    /// path is AVX-512.
    avx2,
    Path::Avx2
);
