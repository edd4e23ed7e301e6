//! The slice kernels of [`Activation`]: [`Activation::value_slice`],
//! [`eval2_slice`](Activation::eval2_slice) and [`eval3_slice`](Activation::eval3_slice),
//! and the dispatcher behind them and the fixed-path test modules.
//!
//! GELU, SiLU and tanh run the vectorised kernels of this module's siblings; ReLU and the
//! identity are plain loops with the scalar path's results (NaN kept). The enum and its
//! scalar functions live in [`crate::activation`]; this inherent impl lives here so that
//! the enum depends on nothing in `fastmath`.

use super::gelu::GeluK;
use super::kernel::run;
use super::sigmoid::SiluK;
use super::simd::Path;
use super::tanh::TanhK;
use crate::Activation;

impl Activation {
    /// `a[i] = σ(z[i])` for a whole slice, with the vectorised kernels of
    /// [`fastmath`](crate::fastmath).
    ///
    /// # Panics
    /// If `a.len() != z.len()`.
    #[inline]
    pub fn value_slice(self, z: &[f64], a: &mut [f64]) {
        eval_slice::<1>(self, Path::Best, z, a, &mut [], &mut [])
    }

    /// `(a[i], s1[i]) = (σ(z[i]), σ'(z[i]))` for a whole slice: the vectorised
    /// counterpart of [`eval2`](Activation::eval2) for the forward pass of a layer.
    ///
    /// # Panics
    /// If the lengths differ.
    #[inline]
    pub fn eval2_slice(self, z: &[f64], a: &mut [f64], s1: &mut [f64]) {
        eval_slice::<2>(self, Path::Best, z, a, s1, &mut [])
    }

    /// `(a[i], s1[i], s2[i]) = (σ(z[i]), σ'(z[i]), σ''(z[i]))` for a whole slice: the
    /// vectorised counterpart of [`eval3`](Activation::eval3).
    ///
    /// GELU, SiLU and tanh run branch-free kernels that LLVM vectorises (AVX-512 or
    /// AVX2 + FMA chosen at run time on x86-64), several times faster than the scalar
    /// path.
    /// Their values are within 2–4 ulp of the exact ones (in ulp of the sum of the
    /// terms for GELU' and SiLU', SiLU'', whose formulas cancel at their zeros; see the
    /// [`fastmath`](crate::fastmath) module doc for the measured bounds), which is
    /// better than the scalar path: its GELU loses up to ~x²/2 ulp for x < 0 to the
    /// rounded argument of Φ(x) = ½ erfc(−x/√2). At ±∞ the kernels return the limits
    /// (GELU and SiLU (0, 0, 0) at −∞ and (+∞, 1, 0) at +∞, tanh (±1, 0, 0)) where the
    /// scalar path may give NaN; NaN gives NaN (ReLU included; the identity's
    /// derivatives stay (1, 0)). The results do not depend on the position of an
    /// element in the slice nor on which of `value_slice` / `eval2_slice` /
    /// `eval3_slice` computes them.
    ///
    /// ```
    /// use geodyn_nn::Activation;
    /// let z = [-1.0, 0.0, 2.0];
    /// let (mut a, mut s1, mut s2) = ([0.0; 3], [0.0; 3], [0.0; 3]);
    /// Activation::Gelu.eval3_slice(&z, &mut a, &mut s1, &mut s2);
    /// for i in 0..3 {
    ///     let (v, d, dd) = Activation::Gelu.eval3(z[i]);
    ///     assert!((a[i] - v).abs() <= 4.0 * f64::EPSILON * v.abs());
    ///     assert!((s1[i] - d).abs() <= 4.0 * f64::EPSILON * d.abs());
    ///     assert!((s2[i] - dd).abs() <= 4.0 * f64::EPSILON * dd.abs());
    /// }
    /// ```
    ///
    /// # Panics
    /// If the lengths differ.
    #[inline]
    pub fn eval3_slice(self, z: &[f64], a: &mut [f64], s1: &mut [f64], s2: &mut [f64]) {
        eval_slice::<3>(self, Path::Best, z, a, s1, s2)
    }
}

/// The slice kernels: the first `N` of (σ, σ', σ'') into `a`, `s1`, `s2`.
pub(super) fn eval_slice<const N: usize>(
    act: Activation,
    path: Path,
    z: &[f64],
    a: &mut [f64],
    s1: &mut [f64],
    s2: &mut [f64],
) {
    match act {
        Activation::Gelu => run::<GeluK, N>(path, z, a, s1, s2),
        Activation::Silu => run::<SiluK, N>(path, z, a, s1, s2),
        Activation::Tanh => run::<TanhK, N>(path, z, a, s1, s2),
        Activation::Relu => {
            // Selects that keep NaN (both comparisons are false for NaN).
            check_lengths::<N>(z, a, s1, s2);
            let n = z.len();
            let relu = |x: f64| if x <= 0.0 { 0.0 } else { x };
            let num = |x: f64| (x > 0.0) | (x <= 0.0);
            let step = |x: f64| {
                let d = if x > 0.0 { 1.0 } else { 0.0 };
                if num(x) { d } else { x }
            };
            let a = &mut a[..n];
            match N {
                1 => {
                    for i in 0..n {
                        a[i] = relu(z[i]);
                    }
                }
                2 => {
                    let s1 = &mut s1[..n];
                    for i in 0..n {
                        a[i] = relu(z[i]);
                        s1[i] = step(z[i]);
                    }
                }
                _ => {
                    let s1 = &mut s1[..n];
                    let s2 = &mut s2[..n];
                    for i in 0..n {
                        let x = z[i];
                        a[i] = relu(x);
                        s1[i] = step(x);
                        s2[i] = if num(x) { 0.0 } else { x };
                    }
                }
            }
        }
        Activation::Identity => {
            check_lengths::<N>(z, a, s1, s2);
            a.copy_from_slice(z);
            if N >= 2 {
                s1.fill(1.0);
            }
            if N >= 3 {
                s2.fill(0.0);
            }
        }
    }
}

fn check_lengths<const N: usize>(z: &[f64], a: &[f64], s1: &[f64], s2: &[f64]) {
    assert_eq!(a.len(), z.len(), "output length differs from input length");
    if N >= 2 {
        assert_eq!(s1.len(), z.len(), "output length differs from input length");
    }
    if N >= 3 {
        assert_eq!(s2.len(), z.len(), "output length differs from input length");
    }
}
