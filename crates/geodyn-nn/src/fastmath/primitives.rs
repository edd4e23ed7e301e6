//! Building blocks of the kernels: fused or unfused multiply–add, Estrin polynomials,
//! exact products, NaN-keeping clamps and branch-free selects.
//!
//! Every function is `#[inline(always)]` and, where it multiplies, generic over `F`:
//! `F = true` uses hardware FMA (`f64::mul_add`, rounded once), `F = false` the
//! unfused product and sum (rounded twice) or Dekker's exact product. The kernels are
//! instantiated once per `F`, so each compiled copy has one fixed rounding behaviour.

/// a·b + c, fused when `F`.
#[inline(always)]
pub(super) fn mla<const F: bool>(a: f64, b: f64, c: f64) -> f64 {
    if F { a.mul_add(b, c) } else { a * b + c }
}

/// Polynomial evaluation by Estrin's scheme, coefficients from the highest degree
/// down: pairs a_{2j} + a_{2j+1}·x, then pairs of those with x², x⁴, …. The
/// dependency chain is ⌈log₂ N⌉ multiply–adds deep instead of N − 1 (the loops unroll
/// completely), which lets the out-of-order core overlap more elements, and the
/// rounding errors accumulate over fewer sequential steps than in Horner's scheme.
#[inline(always)]
pub(super) fn poly<const F: bool, const N: usize>(x: f64, c: &[f64; N]) -> f64 {
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
pub(super) fn square_exact<const F: bool>(x: f64) -> (f64, f64) {
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
pub(super) fn two_prod<const F: bool>(a: f64, b: f64) -> (f64, f64) {
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
pub(super) fn clamp_nan(x: f64, lo: f64, hi: f64) -> f64 {
    let x = if x < lo { lo } else { x };
    if x > hi { hi } else { x }
}

/// `if c { a } else { b }` as a data select, never a branch: keeps LLVM from
/// duplicating the code after a select into each arm (it would otherwise turn the one
/// division of [`normal_parts`](super::normal::normal_parts) into three).
#[inline(always)]
pub(super) fn sel(c: bool, a: f64, b: f64) -> f64 {
    core::hint::select_unpredictable(c, a, b)
}
