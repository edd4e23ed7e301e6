//! Vectorisable exp, normal cdf / pdf and activation kernels over slices.
//!
//! The scalar functions in [`special`](crate::special) and the scalar
//! [`Activation::eval3`](crate::Activation::eval3) call libm (`erfc`, `exp`, `tanh`)
//! once per element: accurate, but ~25–30 ns per GELU element and opaque to the
//! vectoriser. The kernels here are straight-line, branch-free code (comparisons
//! become selects, 2^k is built from exponent bits, nothing is called out of line)
//! inside plain loops over slices, which LLVM vectorises. On x86-64 every kernel is
//! compiled three times — for the baseline target (SSE2, no FMA), with AVX2 + FMA and
//! with AVX-512 (F, DQ, VL) — and the widest copy the CPU supports is chosen at run
//! time (`std`'s cached feature test, once per slice). The AVX-512 copy computes the
//! same FMA arithmetic as the AVX2 one in 8-wide vectors, so the two agree bit for bit;
//! on an AMD EPYC (Zen 4) it cut a 1-16-16-1 GELU `grad_and_curvature` from 27.1 to
//! 23.9 µs (BENCHMARKS.md). Public entry points: [`exp_slice`], [`normal_cdf_pdf_slice`],
//! [`gelu_pdf_slice`] and [`Activation::value_slice`](crate::Activation::value_slice) /
//! [`eval2_slice`](crate::Activation::eval2_slice) /
//! [`eval3_slice`](crate::Activation::eval3_slice).
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
//!   selected before a single division. The tail piece (|x| > √32) is rare for
//!   pre-activations, so the slice loop leaves it out and a second, scalar pass
//!   redoes the few elements that need it.
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

// ---------------------------------------------------------------------------------
// Building blocks (all `#[inline(always)]`, generic over `F`: use hardware FMA).
// ---------------------------------------------------------------------------------

/// a·b + c, fused when `F`.
#[inline(always)]
fn mla<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
    if F { a.mul_add(b, c) } else { a * b + c }
}

/// Polynomial evaluation by Estrin's scheme, coefficients from the highest degree
/// down: pairs a_{2j} + a_{2j+1}·x, then pairs of those with x², x⁴, …. The
/// dependency chain is ⌈log₂ N⌉ multiply–adds deep instead of N − 1 (the loops unroll
/// completely), which lets the out-of-order core overlap more elements, and the
/// rounding errors accumulate over fewer sequential steps than in Horner's scheme.
#[inline(always)]
fn poly<const F: bool, const N: usize>(x: f64, c: &[f64; N]) -> f64 {
    let mut b = [0.0; N];
    let mut i = 0;
    while i < N {
        b[i] = c[N - 1 - i]; // ascending
        i += 1;
    }
    let mut m = N;
    let mut p = x;
    while m > 1 {
        let half = m.div_ceil(2);
        let mut j = 0;
        while j < half {
            b[j] = if 2 * j + 1 < m { mla::<F>(b[2 * j + 1], p, b[2 * j]) } else { b[2 * j] };
            j += 1;
        }
        m = half;
        p *= p;
    }
    b[0]
}

/// x² = hi + lo exactly (for |x| ≤ 2^500 or so; we use |x| ≤ 40): with FMA, or
/// with Dekker's product of Veltkamp halves.
#[inline(always)]
fn square_exact<const F: bool>(x: f64) -> (f64, f64) {
    let hi = x * x;
    if F {
        (hi, x.mul_add(x, -hi))
    } else {
        let t = 134_217_729.0 * x; // 2^27 + 1
        let xh = t - (t - x);
        let xl = x - xh;
        (hi, ((xh * xh - hi) + 2.0 * xh * xl) + xl * xl)
    }
}

/// a·b = hi + lo exactly (no overflow / underflow): with FMA, or Dekker's product.
#[inline(always)]
fn two_prod<const F: bool>(a: f64, b: f64) -> (f64, f64) {
    let hi = a * b;
    if F {
        (hi, a.mul_add(b, -hi))
    } else {
        let ta = 134_217_729.0 * a;
        let ah = ta - (ta - a);
        let al = a - ah;
        let tb = 134_217_729.0 * b;
        let bh = tb - (tb - b);
        let bl = b - bh;
        (hi, ((ah * bh - hi) + ah * bl + al * bh) + al * bl)
    }
}

/// max(x, lo) and min(·, hi) that keep NaN (`x < lo` is false for NaN).
#[inline(always)]
fn clamp_nan(x: f64, lo: f64, hi: f64) -> f64 {
    let x = if x < lo { lo } else { x };
    if x > hi { hi } else { x }
}

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
fn exp_reduce<const F: bool>(hi: f64, lo: f64) -> (f64, f64) {
    exp_reduce_in::<F, true>(hi, lo)
}

/// [`exp_reduce`] with an optional clamp (NaN kept) of `hi` to
/// [EXP_MIN, EXP_MAX]: callers that know `hi` is in range skip it.
#[inline(always)]
fn exp_reduce_in<const F: bool, const CLAMP: bool>(hi: f64, lo: f64) -> (f64, f64) {
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
fn exp_scale(k: f64) -> (f64, f64) {
    let k1 = (k * 0.5 + SHIFT) - SHIFT;
    let k2 = k - k1;
    let s1 = f64::from_bits((k1 + SHIFT_BIAS).to_bits() << 52);
    let s2 = f64::from_bits((k2 + SHIFT_BIAS).to_bits() << 52);
    (s1, s2)
}

/// 2^k for an integral k in the normal exponent range (−1022 ≤ k ≤ 1023).
#[inline(always)]
fn pow2(k: f64) -> f64 {
    f64::from_bits((k + SHIFT_BIAS).to_bits() << 52)
}

/// e^{hi + lo}.
#[inline(always)]
fn exp2p<const F: bool>(hi: f64, lo: f64) -> f64 {
    let (k, p) = exp_reduce::<F>(hi, lo);
    let (s1, s2) = exp_scale(k);
    (1.0 + p) * s1 * s2
}

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
const NORMAL_CLAMP: f64 = 40.0;

/// `if c { a } else { b }` as a data select, never a branch: keeps LLVM from
/// duplicating the code after a select into each arm (it would otherwise turn the one
/// division of [`normal_parts`] into three).
#[inline(always)]
fn sel(c: bool, a: f64, b: f64) -> f64 {
    core::hint::select_unpredictable(c, a, b)
}

/// The pieces of Φ and φ at x (already clamped to [−40, 40], NaN kept), in the form
/// mantissa × 2^{k1} × 2^{k2} so that products taken before the scaling stay exact
/// where φ or Φ alone would be subnormal.
struct NormalParts {
    /// 2^{k1}, 2^{k2} with e^{−x²/2} = (1 + p)·2^{k1}·2^{k2}.
    s1: f64,
    s2: f64,
    /// φ(x)/2^{k1+k2}.
    phi_m: f64,
    /// Φ(−|x|)/2^{k1+k2} (outside the central interval).
    q_m: f64,
    /// x²: hi + lo exactly.
    vh: f64,
    vl: f64,
    /// |x| ≤ 0.67448975: Φ = ½ + x·ratio.
    central: bool,
    ratio: f64,
}

#[inline(always)]
fn normal_parts<const F: bool, const R: u8>(x: f64) -> NormalParts {
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

/// GELU (σ, σ', σ'') = (xΦ, Φ + xφ, (2 − x²)φ).
#[inline(always)]
pub(crate) fn gelu<const F: bool, const R: u8>(x: f64) -> (f64, f64, f64) {
    let (v, d1, d2, _) = gelu_parts::<F, R>(x);
    (v, d1, d2)
}

/// GELU (σ, σ') and the normal pdf φ (from which every higher derivative follows:
/// σ⁽ᵏ⁾ = P_k(x)φ with polynomials P_k), the same bits as [`gelu`]'s σ, σ' and
/// [`normal`]'s φ.
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

/// SiLU (σ, σ', σ'') with s = sigmoid(x), sm = 1 − s = sigmoid(−x):
/// (xs, s(1 + x·sm), s·sm·(2 + x(sm − s))). With e = e^{−|x|} and q = 1 + e (kept
/// exactly as qh + ql), sigmoid(|x|) = 1/q and sigmoid(−|x|) = e/q, each corrected
/// once from its exact residual.
#[inline(always)]
pub(crate) fn silu<const F: bool>(x: f64) -> (f64, f64, f64) {
    const CLAMP: f64 = 800.0; // e^{−800} = 0: beyond, s ∈ {0, 1} exactly
    let y = x.abs();
    let (k, p) = exp_reduce::<F>(-y, 0.0);
    let (s1, s2) = exp_scale(k);
    let sc = s1 * s2;
    let e = mla::<F>(sc, p, sc);
    let qh = 1.0 + e;
    let ql = (1.0 - qh) + e;
    let w = 1.0 / qh;
    let (ph, pl) = two_prod::<F>(w, qh);
    let sp = mla::<F>(((1.0 - ph) - pl) - w * ql, w, w); // sigmoid(|x|)
    let sn0 = e * w;
    let (nh, nl) = two_prod::<F>(sn0, qh);
    let sn = mla::<F>(((e - nh) - nl) - sn0 * ql, w, sn0); // sigmoid(−|x|)
    let neg = x < 0.0;
    let s = sel(neg, sn, sp);
    let sm = sel(neg, sp, sn);
    let xc = clamp_nan(x, -CLAMP, CLAMP);
    let xs = if x < -CLAMP { -CLAMP } else { x };
    (xs * s, s * mla::<F>(xc, sm, 1.0), s * sm * mla::<F>(xc, sm - s, 2.0))
}

/// e^x.
#[inline(always)]
pub(crate) fn exp<const F: bool>(x: f64) -> (f64, f64, f64) {
    (exp2p::<F>(x, 0.0), 0.0, 0.0)
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
fn normal_tail(x: f64) -> bool {
    x.abs() > CODY_X2
}

/// Whether x lies in Cody's central interval |x| ≤ 0.67448975.
#[inline(always)]
fn normal_central(x: f64) -> bool {
    x.abs() <= CODY_X1
}

/// Region sets of a split kernel (which of Cody's pieces of Φ are evaluated): the
/// central interval only, the middle one only, both, all three, or the tail only.
const REGION_CENTRAL: u8 = 0;
const REGION_MIDDLE: u8 = 1;
const REGION_COMMON: u8 = 2;
const REGION_ALL: u8 = 3;
const REGION_TAIL: u8 = 4;

// ---------------------------------------------------------------------------------
// Slice drivers and run-time dispatch.
// ---------------------------------------------------------------------------------

/// An elementwise function with up to three outputs.
pub(crate) trait Kernel {
    /// The function, valid everywhere.
    fn eval<const F: bool>(x: f64) -> (f64, f64, f64);
    /// Whether [`eval_region`](Kernel::eval_region) exists and is cheaper.
    const SPLIT: bool = false;
    /// The function restricted to the region set `R` (`REGION_*`): `REGION_ALL` valid
    /// everywhere, `REGION_TAIL` where `rare(x)`, the others where `!rare(x)` and, for
    /// `REGION_CENTRAL` / `REGION_MIDDLE`, where `low(x)` / `!low(x)`.
    #[inline(always)]
    fn eval_region<const F: bool, const R: u8>(x: f64) -> (f64, f64, f64) {
        Self::eval::<F>(x)
    }
    /// The inputs that only the full kernel covers.
    #[inline(always)]
    fn rare(_x: f64) -> bool {
        false
    }
    /// The inputs of the cheaper low region.
    #[inline(always)]
    fn low(_x: f64) -> bool {
        false
    }
}

macro_rules! kernel {
    ($ty:ident, $f:ident) => {
        pub(crate) struct $ty;
        impl Kernel for $ty {
            #[inline(always)]
            fn eval<const F: bool>(x: f64) -> (f64, f64, f64) {
                $f::<F>(x)
            }
        }
    };
    ($ty:ident, $f:ident, split $rare:ident, $low:ident) => {
        pub(crate) struct $ty;
        impl Kernel for $ty {
            #[inline(always)]
            fn eval<const F: bool>(x: f64) -> (f64, f64, f64) {
                $f::<F, REGION_ALL>(x)
            }
            const SPLIT: bool = true;
            #[inline(always)]
            fn eval_region<const F: bool, const R: u8>(x: f64) -> (f64, f64, f64) {
                $f::<F, R>(x)
            }
            #[inline(always)]
            fn rare(x: f64) -> bool {
                $rare(x)
            }
            #[inline(always)]
            fn low(x: f64) -> bool {
                $low(x)
            }
        }
    };
}
kernel!(GeluK, gelu, split normal_tail, normal_central);
kernel!(GeluPdfK, gelu_pdf, split normal_tail, normal_central);
kernel!(TanhK, tanh);
kernel!(SiluK, silu);
kernel!(ExpK, exp);
kernel!(NormalK, normal, split normal_tail, normal_central);

/// The loop: writes the first `N` outputs (`o2`, `o3` unused below that). A split
/// kernel goes block by block: each block of eight inputs is classified first and then
/// evaluated once with the cheapest piece that covers it — Cody's central rational
/// alone, the middle one alone, both, the tail piece alone (every input beyond √32: a
/// saturated unit), or (tail and other inputs mixed) all three. The block loops
/// have a fixed length and no branches, so they vectorise; being inlined, they run with
/// the caller's target features. A trained network's saturated units fill whole blocks
/// with middle or tail inputs, so this costs at most one full-kernel evaluation per
/// element and often less than the two-piece one. Every element gets the same bits
/// whichever variant runs (the pieces not evaluated would have been discarded).
///
/// The last `n mod 8` inputs do not run through a scalar loop: layers process rows of a
/// batch (148 points on the Snelson workload: 18 blocks and 4 left over), and four scalar
/// evaluations cost about as much as three blocks. Instead the last eight inputs run as
/// one more block, overlapping the previous one (its elements are recomputed to the same
/// bits, since every element's arithmetic is the same in every variant); slices shorter
/// than a block are padded with copies of their last input.
#[inline(always)]
fn map<K: Kernel, const F: bool, const N: usize>(x: &[f64], o1: &mut [f64], o2: &mut [f64], o3: &mut [f64]) {
    const B: usize = 8;
    let n = x.len();
    if n >= B {
        // (A loop over block starts rather than a closure: closures do not inherit the
        // caller's target features, so one would not be inlined into the AVX copies.)
        let last = n - B;
        let mut i0 = 0;
        loop {
            let o2b: &mut [f64] = if N >= 2 { &mut o2[i0..i0 + B] } else { &mut [] };
            let o3b: &mut [f64] = if N >= 3 { &mut o3[i0..i0 + B] } else { &mut [] };
            map_block::<K, F, N, B>(&x[i0..i0 + B], &mut o1[i0..i0 + B], o2b, o3b);
            if i0 == last {
                break;
            }
            i0 = (i0 + B).min(last);
        }
    } else if n > 0 {
        let mut xp = [x[n - 1]; B];
        xp[..n].copy_from_slice(x);
        let mut out = [[0.0; B]; 3];
        let [p1, p2, p3] = &mut out;
        map_block::<K, F, N, B>(&xp, p1, p2, p3);
        o1[..n].copy_from_slice(&p1[..n]);
        if N >= 2 {
            o2[..n].copy_from_slice(&p2[..n]);
        }
        if N >= 3 {
            o3[..n].copy_from_slice(&p3[..n]);
        }
    }
}

/// One block of `B` inputs of [`map`]: classified first when `K` is split, else the
/// whole kernel.
#[inline(always)]
fn map_block<K: Kernel, const F: bool, const N: usize, const B: usize>(
    xb: &[f64],
    o1b: &mut [f64],
    o2b: &mut [f64],
    o3b: &mut [f64],
) {
    if !K::SPLIT {
        block::<K, F, N, B, REGION_ALL>(xb, o1b, o2b, o3b);
        return;
    }
    let rare = xb.iter().fold(false, |r, &v| r | K::rare(v));
    let all_rare = xb.iter().fold(true, |r, &v| r & K::rare(v));
    let any_low = xb.iter().fold(false, |r, &v| r | K::low(v));
    let all_low = xb.iter().fold(true, |r, &v| r & K::low(v));
    if all_rare {
        block::<K, F, N, B, REGION_TAIL>(xb, o1b, o2b, o3b);
    } else if rare {
        block::<K, F, N, B, REGION_ALL>(xb, o1b, o2b, o3b);
    } else if all_low {
        block::<K, F, N, B, REGION_CENTRAL>(xb, o1b, o2b, o3b);
    } else if !any_low {
        block::<K, F, N, B, REGION_MIDDLE>(xb, o1b, o2b, o3b);
    } else {
        block::<K, F, N, B, REGION_COMMON>(xb, o1b, o2b, o3b);
    }
}

/// The kernel restricted to region set `R` over one block of `B` inputs (`o2`, `o3` hold
/// `B` elements when `N` asks for them and may be empty otherwise).
#[inline(always)]
fn block<K: Kernel, const F: bool, const N: usize, const B: usize, const R: u8>(
    x: &[f64],
    o1: &mut [f64],
    o2: &mut [f64],
    o3: &mut [f64],
) {
    #[inline(always)]
    fn ev<K: Kernel, const F: bool, const R: u8>(x: f64) -> (f64, f64, f64) {
        K::eval_region::<F, R>(x)
    }
    let x: &[f64; B] = x.try_into().expect("block of B");
    let o1: &mut [f64; B] = (&mut o1[..B]).try_into().expect("block of B");
    if N >= 3 {
        let o2: &mut [f64; B] = (&mut o2[..B]).try_into().expect("block of B");
        let o3: &mut [f64; B] = (&mut o3[..B]).try_into().expect("block of B");
        for j in 0..B {
            let (a, b, c) = ev::<K, F, R>(x[j]);
            o1[j] = a;
            o2[j] = b;
            o3[j] = c;
        }
    } else if N == 2 {
        let o2: &mut [f64; B] = (&mut o2[..B]).try_into().expect("block of B");
        for j in 0..B {
            let (a, b, _) = ev::<K, F, R>(x[j]);
            o1[j] = a;
            o2[j] = b;
        }
    } else {
        for j in 0..B {
            o1[j] = ev::<K, F, R>(x[j]).0;
        }
    }
}

/// Whether `f64::mul_add` is a single instruction on the compile-time target.
const FMA_NATIVE: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn map_avx2<K: Kernel, const N: usize>(x: &[f64], o1: &mut [f64], o2: &mut [f64], o3: &mut [f64]) {
    map::<K, true, N>(x, o1, o2, o3)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn map_avx512<K: Kernel, const N: usize>(x: &[f64], o1: &mut [f64], o2: &mut [f64], o3: &mut [f64]) {
    map::<K, true, N>(x, o1, o2, o3)
}

#[inline(never)]
fn map_baseline<K: Kernel, const N: usize>(x: &[f64], o1: &mut [f64], o2: &mut [f64], o3: &mut [f64]) {
    map::<K, FMA_NATIVE, N>(x, o1, o2, o3)
}

/// The widest vector extension whose copies of the hot loops may run on this CPU.
#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Isa {
    /// Neither of the below: the baseline copies.
    Baseline,
    /// AVX2 + FMA (x86-64).
    Avx2,
    /// AVX-512 F, DQ and VL, plus AVX2 and FMA (x86-64).
    Avx512,
}

/// The widest [`Isa`] this CPU supports (`std`'s cached feature tests). Shared by the
/// kernels here and by the backends' multiversioned loops, so that every hot loop picks
/// its copy by the same rule.
#[doc(hidden)]
#[inline]
pub fn best_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = cfg!(all(target_feature = "avx2", target_feature = "fma"))
            || (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"));
        if avx2
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return Isa::Avx512;
        }
        if avx2 {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// Which compiled copy of a kernel runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Path {
    /// The best the CPU supports: AVX-512, else AVX2 + FMA, else the baseline.
    Best,
    /// AVX2 + FMA where the CPU has them (else the baseline), even on AVX-512 CPUs.
    Avx2,
    /// The baseline copy (SSE2 without FMA on x86-64).
    Portable,
}

/// Runs kernel `K` over `x`, writing `N` outputs, on the copy `path` asks for.
#[inline]
pub(crate) fn run<K: Kernel, const N: usize>(path: Path, x: &[f64], o1: &mut [f64], o2: &mut [f64], o3: &mut [f64]) {
    assert_eq!(o1.len(), x.len(), "output length differs from input length");
    if N >= 2 {
        assert_eq!(o2.len(), x.len(), "output length differs from input length");
    }
    if N >= 3 {
        assert_eq!(o3.len(), x.len(), "output length differs from input length");
    }
    let isa = match path {
        Path::Best => best_isa(),
        Path::Avx2 => best_isa().min(Isa::Avx2),
        Path::Portable => Isa::Baseline,
    };
    #[cfg(target_arch = "x86_64")]
    {
        if isa == Isa::Avx512 {
            // SAFETY: the CPU supports AVX-512 F/DQ/VL, AVX2 and FMA (`best_isa`).
            unsafe { map_avx512::<K, N>(x, o1, o2, o3) };
            return;
        }
        if isa == Isa::Avx2 {
            // SAFETY: the CPU supports AVX2 and FMA (`best_isa`).
            unsafe { map_avx2::<K, N>(x, o1, o2, o3) };
            return;
        }
    }
    let _ = isa;
    map_baseline::<K, N>(x, o1, o2, o3)
}

// ---------------------------------------------------------------------------------
// Public slice functions.
// ---------------------------------------------------------------------------------

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
                crate::activation::eval_slice::<3>(act, $path, z, a, s1, s2)
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
