//! Special functions for the exact GELU: erf, erfc and the standard normal pdf / cdf.
//!
//! erf and erfc use the rational approximations of the Sun/FreeBSD `msun` library (as
//! shipped by musl and the Rust `libm` crate), accurate to better than 1 ulp over the
//! whole real line; erfc keeps full *relative* accuracy deep in the tail, so
//! Φ(x) = ½ erfc(−x/√2) does not cancel for very negative x.

/// 1/√(2π).
pub const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// ½ ln(2π).
pub const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// The error function erf(x) = 2/√π ∫₀ˣ e^{−t²} dt, to f64 rounding.
///
/// ```
/// assert!((geodyn_nn::special::erf(1.0) - 0.842_700_792_949_714_9).abs() < 1e-16);
/// ```
#[inline]
pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// The complementary error function erfc(x) = 1 − erf(x), with full relative accuracy
/// for large x.
#[inline]
pub fn erfc(x: f64) -> f64 {
    libm::erfc(x)
}

/// The standard normal density φ(x) = e^{−x²/2}/√(2π).
///
/// The rounding of x·x costs up to ~x²/2 ulp of relative accuracy for large |x| (e.g.
/// ~490 ulp at |x| = 37); [`fastmath::normal_cdf_pdf_slice`](crate::fastmath::normal_cdf_pdf_slice)
/// splits x² exactly and stays within ~1 ulp.
#[inline]
pub fn normal_pdf(x: f64) -> f64 {
    FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()
}

/// The standard normal distribution function Φ(x) = ½ erfc(−x/√2), accurate in both
/// tails in the sense that nothing cancels (Φ(−30) ≈ 4.9e−198 has a relative error
/// ~1e−14, not 1).
///
/// The rounding of −x/√2 costs up to ~x²/2 ulp of relative accuracy in the lower tail
/// (~1600 ulp near x = −37); [`fastmath::normal_cdf_pdf_slice`](crate::fastmath::normal_cdf_pdf_slice)
/// evaluates Φ directly in x and stays within ~4 ulp.
#[inline]
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}
