//! The standard normal pdf φ and cdf Φ, the pieces of them that GELU shares, and the
//! [`NormalK`] kernel behind [`normal_cdf_pdf_slice`](super::normal_cdf_pdf_slice).
//!
//! - **φ**: x² is split exactly into hi + lo (FMA, or Dekker's product without FMA),
//!   e^{−hi/2 − lo/2} comes from the two-part exp reduction, and 1/√(2π) is applied as
//!   a double-f64 constant to the unscaled mantissa.
//! - **Φ**: W. J. Cody's rational Chebyshev approximations (Math. Comp. 1969; TOMS 715
//!   `ANORM`, as in R's `pnorm`), directly in x — not via erfc(−x/√2), whose rounded
//!   argument costs up to ~x²/2 ulp in the lower tail:
//!   Φ = ½ + x·N₁(x²)/D₁(x²) for |x| ≤ 0.674;
//!   Φ(−|x|) = e^{−x²/2}·N₂/(2|x|·N₂ + P₂) for |x| ≤ √32 (Cody's N₂/D₂ with the
//!   denominator rewritten so that the rounding errors of N₂ largely cancel);
//!   Φ(−|x|) = φ(x)·(1 − R₃(1/x²))/|x| beyond (multiplied through by x¹⁰, so no
//!   division for 1/x²); Φ(|x|) = 1 − Φ(−|x|). Numerators and denominators are
//!   selected before a single division; the region set `R` of a split kernel decides
//!   which of the three pieces are evaluated at all.
//!
//! Accuracy against mpmath where the exact value is normal (AVX2 + FMA / baseline):
//! Φ 3.1 / 3.8 ulp, φ 0.94 / 1.03 ulp, relative all the way down the lower tail
//! (Φ(−37.5) ≈ 4.6e−308). Beyond |x| = 40, Φ is 0 or 1 and φ is 0.

use super::exp::{exp_reduce_in, exp_scale, pow2};
use super::kernel::{REGION_ALL, REGION_CENTRAL, REGION_COMMON, REGION_MIDDLE, REGION_TAIL, kernel};
use super::primitives::{clamp_nan, mla, poly, sel, square_exact};

/// 1/√(2π) as a double-f64 (the f64 alone is 0.45 ulp off).
const FRAC_1_SQRT_2PI_HI: f64 = 0.3989422804014327;
const FRAC_1_SQRT_2PI_LO: f64 = -2.49232720227773e-17;

// Cody's coefficients (TOMS 715 ANORM; R's pnorm.c), |x| ≤ 0.67448975:
// Φ(x) = ½ + x·N₁(x²)/D₁(x²).
const CODY_N1: [f64; 5] = [
    0.065682337918207449113,
    2.2352520354606839287,
    161.02823106855587881,
    1067.6894854603709582,
    18154.981253343561249,
];
const CODY_D1: [f64; 5] =
    [1.0, 47.20258190468824187, 976.09855173777669322, 10260.932208618978205, 45507.789335026729956];
// 0.67448975 < y ≤ √32: Φ(−y) = e^{−y²/2}·N₂(y)/D₂(y).
const CODY_N2: [f64; 9] = [
    1.0765576773720192317e-8,
    0.39894151208813466764,
    8.8831497943883759412,
    93.506656132177855979,
    597.27027639480026226,
    2494.5375852903726711,
    6848.1904505362823326,
    11602.651437647350124,
    9842.7148383839780218,
];
// Cody's D₂ is
//   [1, 22.266688044328115691, 235.38790178262499861, 1519.377599407554805,
//    6485.558298266760755, 18615.571640885098091, 34900.952721145977266,
//    38912.003286093271411, 19685.429676859990727];
// we evaluate it as D₂ = 2y·N₂ + P₂ with P₂ = D₂ − 2y·N₂ (coefficients computed
// exactly from the f64 ones, then rounded). N₂/D₂ = N₂/(2y·N₂ + P₂) shares N₂'s
// rounding errors between numerator and denominator, and P₂ is at most half of the
// denominator, so the quotient is about twice as accurate as N₂/D₂ evaluated
// separately (2.5 instead of 4.6 units of 2^−53 in the worst case); the rounding of
// P₂'s coefficients changes the approximation by < 10^−3 of its error.
const CODY_P2: [f64; 10] = [
    -2.1531153547440383e-08,
    0.20211697582373067,
    4.500388455551363,
    48.37458951826929,
    324.83704661795423,
    1496.483127686016,
    4919.190739812531,
    11695.64984585128,
    19226.573609325314,
    19685.429676859992,
];
// y > √32: Φ(−y) = e^{−y²/2}(1/√(2π) − z·N₃(z)/D₃(z))/y with z = 1/y². Multiplied
// through by y^10 the rational is Ñ(v)/(v·D̃(v)) in v = y² (no division for z), and
// Φ(−y) = φ(y)·(v·D̃(v) − Ñ(v)·√(2π))/(y·v·D̃(v)). Ñ·√(2π) below (its coefficients
// only shape a ≤ 3 % correction, so rounding them is harmless).
const CODY_D3_REV: [f64; 6] = [
    7.29751555083966205e-5,
    0.00378239633202758244,
    0.0659881378689285515,
    0.468238212480865118,
    1.28426009614491121,
    1.0,
];
const CODY_N3_REV_SQRT_2PI: [f64; 6] = [
    2.9112874951168792e-5 * SQRT_2PI,
    0.001421619193227893466 * SQRT_2PI,
    0.022235277870649807 * SQRT_2PI,
    0.1274011611602473639 * SQRT_2PI,
    0.21589853405795699 * SQRT_2PI,
    0.02307344176494017303 * SQRT_2PI,
];
const SQRT_2PI: f64 = 2.5066282746310007;
const CODY_X1: f64 = 0.67448975;
const CODY_X2: f64 = 5.656854249492380195206754896838; // √32
/// Beyond |x| = 40, Φ is 0 or 1 and φ is 0 in f64.
pub(super) const NORMAL_CLAMP: f64 = 40.0;

/// The pieces of Φ and φ at x (already clamped to [−40, 40], NaN kept), in the form
/// mantissa × 2^{k1} × 2^{k2} so that products taken before the scaling stay exact
/// where φ or Φ alone would be subnormal.
pub(super) struct NormalParts {
    /// 2^{k1}, 2^{k2} with e^{−x²/2} = (1 + p)·2^{k1}·2^{k2}.
    pub(super) s1: f64,
    pub(super) s2: f64,
    /// φ(x)/2^{k1+k2}.
    pub(super) phi_m: f64,
    /// Φ(−|x|)/2^{k1+k2} (outside the central interval).
    pub(super) q_m: f64,
    /// x²: hi + lo exactly.
    pub(super) vh: f64,
    pub(super) vl: f64,
    /// |x| ≤ 0.67448975: Φ = ½ + x·ratio.
    pub(super) central: bool,
    pub(super) ratio: f64,
}

#[inline(always)]
pub(super) fn normal_parts<const F: bool, const R: u8>(x: f64) -> NormalParts {
    let y = x.abs();
    let (vh, vl) = square_exact::<F>(x);
    // −x²/2 ∈ [−800, 0] for |x| ≤ 40: no clamping needed.
    let (k, p) = exp_reduce_in::<F, false>(-0.5 * vh, -0.5 * vl);
    // Outside the tail (|x| ≤ √32, k ≥ −24) nothing below is subnormal, so one factor
    // 2^k does what the split pair does, to the same bits (products with powers of two
    // are exact there), and the multiplications by s2 = 1 vanish.
    let (s1, s2) = match R {
        REGION_CENTRAL | REGION_MIDDLE | REGION_COMMON => (pow2(k), 1.0),
        _ => exp_scale(k),
    };
    let phi_m = mla::<F>(FRAC_1_SQRT_2PI_HI, p, FRAC_1_SQRT_2PI_LO) + FRAC_1_SQRT_2PI_HI;

    // Only the pieces the region set `R` needs are evaluated (the others are dead code).
    let central = match R {
        REGION_CENTRAL => true,
        REGION_MIDDLE | REGION_TAIL => false,
        _ => y <= CODY_X1,
    };
    let middle = y <= CODY_X2;
    let piece1 = || (poly::<F, 5>(vh, &CODY_N1), poly::<F, 5>(vh, &CODY_D1));
    let piece2 = || {
        let n2 = poly::<F, 9>(y, &CODY_N2);
        (n2, mla::<F>(y + y, n2, poly::<F, 10>(y, &CODY_P2)))
    };
    let piece3 = || {
        let m3 = vh * poly::<F, 6>(vh, &CODY_D3_REV);
        (m3 - poly::<F, 6>(vh, &CODY_N3_REV_SQRT_2PI), y * m3)
    };
    let (num, den) = match R {
        REGION_CENTRAL => piece1(),
        REGION_MIDDLE => piece2(),
        REGION_TAIL => piece3(),
        REGION_COMMON => {
            let ((n1, d1), (n2, d2)) = (piece1(), piece2());
            (sel(central, n1, n2), sel(central, d1, d2))
        }
        _ => {
            let ((n1, d1), (n2, d2), (n3, d3)) = (piece1(), piece2(), piece3());
            (sel(central, n1, sel(middle, n2, n3)), sel(central, d1, sel(middle, d2, d3)))
        }
    };
    let ratio = num / den;
    // Middle: e^{−x²/2}·ratio = (1 + p)·ratio·2^k; tail: φ·ratio.
    let q_m = match R {
        REGION_ALL => sel(middle, mla::<F>(ratio, p, ratio), phi_m * ratio),
        REGION_TAIL => phi_m * ratio,
        _ => mla::<F>(ratio, p, ratio),
    };
    NormalParts { s1, s2, phi_m, q_m, vh, vl, central, ratio }
}

/// (Φ(x), φ(x)) for x already clamped to [−40, 40] (NaN kept).
#[inline(always)]
fn normal_cdf_pdf<const F: bool, const R: u8>(x: f64) -> (f64, f64) {
    let np = normal_parts::<F, R>(x);
    let q = np.q_m * np.s1 * np.s2;
    let cdf = sel(np.central, mla::<F>(x, np.ratio, 0.5), sel(x < 0.0, q, 1.0 - q));
    (cdf, np.phi_m * np.s1 * np.s2)
}

/// (Φ(x), φ(x)).
#[inline(always)]
pub(crate) fn normal<const F: bool, const R: u8>(x: f64) -> (f64, f64, f64) {
    let (c, p) = normal_cdf_pdf::<F, R>(clamp_nan(x, -NORMAL_CLAMP, NORMAL_CLAMP));
    (c, p, 0.0)
}

/// Whether x needs the tail piece of Φ (|x| > √32); the slice drivers evaluate a
/// cheaper kernel without it and redo the few elements that do.
#[inline(always)]
pub(super) fn normal_tail(x: f64) -> bool {
    x.abs() > CODY_X2
}

/// Whether x lies in Cody's central interval |x| ≤ 0.67448975.
#[inline(always)]
pub(super) fn normal_central(x: f64) -> bool {
    x.abs() <= CODY_X1
}

kernel!(NormalK, normal, split normal_tail, normal_central);
