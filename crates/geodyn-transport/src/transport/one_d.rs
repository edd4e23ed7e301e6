//! Exact optimal transport on the line by the quantile (north-west corner) formula.

use crate::error::{Result, TransportError, check_dim, check_finite};
use crate::measure::EmpiricalMeasure;

/// W_p^p(μ, ν) = ∫₀¹ |F_μ⁻¹(u) − F_ν⁻¹(u)|^p du between two weighted empirical measures on the line.
///
/// Both measures must have dimension 1; their weights are normalised (only the shapes are
/// compared). The two sorted cumulative-weight sequences are swept with two pointers (the
/// north-west corner rule on the sorted supports), which is the optimal plan for every convex cost
/// |x − y|^p, p ≥ 1. The result is exact up to rounding.
///
/// Errors: a dimension other than 1 ([`TransportError::DimensionMismatch`]); p < 1 or not finite
/// ([`TransportError::InvalidParameter`]). Cost O(n log n + m log m) time (two sorts), O(n + m)
/// memory. Not for d > 1 (use [`sinkhorn`](super::sinkhorn) or [`exact_ot`](super::exact_ot)).
pub fn wasserstein_1d_pow(mu: &EmpiricalMeasure, nu: &EmpiricalMeasure, p: f64) -> Result<f64> {
    check_dim("dimension of mu (1-D transport)", 1, mu.dim())?;
    check_dim("dimension of nu (1-D transport)", 1, nu.dim())?;
    check_p(p)?;
    let (x, a) = sorted_probabilities(mu);
    let (y, b) = sorted_probabilities(nu);
    Ok(north_west_corner(&x, &a, &y, &b, p))
}

/// W_p(μ, ν) = (W_p^p)^{1/p}; see [`wasserstein_1d_pow`] for the guarantees, errors and cost.
pub fn wasserstein_1d(mu: &EmpiricalMeasure, nu: &EmpiricalMeasure, p: f64) -> Result<f64> {
    Ok(wasserstein_1d_pow(mu, nu, p)?.powf(1.0 / p))
}

/// W_p^p between the uniform empirical measures of two equal-size sample sets: (1/n) Σᵢ |x₍ᵢ₎ − y₍ᵢ₎|^p
/// over the sorted samples (the sorted matching).
///
/// Errors: empty or different lengths ([`TransportError::Empty`], [`TransportError::DimensionMismatch`]),
/// non-finite samples, p < 1. Cost O(n log n) (copies and sorts both inputs). For unequal sizes or
/// weights use [`wasserstein_1d_pow`].
pub fn wasserstein_1d_samples_pow(x: &[f64], y: &[f64], p: f64) -> Result<f64> {
    if x.is_empty() {
        return Err(TransportError::Empty { what: "x" });
    }
    check_dim("y (same number of samples as x)", x.len(), y.len())?;
    check_finite("x", x)?;
    check_finite("y", y)?;
    check_p(p)?;
    let mut xs = x.to_vec();
    let mut ys = y.to_vec();
    xs.sort_unstable_by(f64::total_cmp);
    ys.sort_unstable_by(f64::total_cmp);
    Ok(xs.iter().zip(&ys).map(|(a, b)| (a - b).abs().powf(p)).sum::<f64>() / x.len() as f64)
}

fn check_p(p: f64) -> Result<()> {
    if p.is_finite() && p >= 1.0 {
        Ok(())
    } else {
        Err(TransportError::InvalidParameter { name: "p", value: p, reason: "the exponent must be finite and ≥ 1" })
    }
}

/// The support sorted increasingly with its normalised weights.
fn sorted_probabilities(m: &EmpiricalMeasure) -> (Vec<f64>, Vec<f64>) {
    let mut idx: Vec<usize> = (0..m.len()).collect();
    let x = m.points();
    idx.sort_unstable_by(|&i, &j| x[i].total_cmp(&x[j]));
    (idx.iter().map(|&i| x[i]).collect(), idx.iter().map(|&i| m.probability(i)).collect())
}

/// The north-west corner sweep: transports the sorted masses a (at x) onto b (at y) in order.
fn north_west_corner(x: &[f64], a: &[f64], y: &[f64], b: &[f64], p: f64) -> f64 {
    let (mut i, mut j) = (0, 0);
    let (mut ra, mut rb) = (a[0], b[0]);
    let mut total = 0.0;
    let cost = |u: f64, v: f64| if p == 2.0 { (u - v) * (u - v) } else { (u - v).abs().powf(p) };
    loop {
        let t = ra.min(rb);
        total += t * cost(x[i], y[j]);
        ra -= t;
        rb -= t;
        // Advance the side that ran out; rounding leaves tiny remainders, so the last atom of either
        // side absorbs them.
        if ra <= rb {
            i += 1;
            if i == x.len() {
                break;
            }
            ra = a[i];
            if rb <= 0.0 {
                j += 1;
                if j == y.len() {
                    break;
                }
                rb = b[j];
            }
        } else {
            j += 1;
            if j == y.len() {
                break;
            }
            rb = b[j];
        }
    }
    total
}

/// W2²(μ, N(m, s²)) between a weighted empirical measure on the line and a Gaussian, exactly (no
/// binning): with the atoms sorted and their cumulative weights u₀ = 0 < u₁ < … < u_n = 1,
/// W2² = Σ_k ∫_{u_{k−1}}^{u_k} (x₍k₎ − m − sΦ⁻¹(u))² du, and each integral is closed-form through
/// ∫Φ⁻¹ = −φ(Φ⁻¹(u)) and ∫(Φ⁻¹)² = u − Φ⁻¹(u)φ(Φ⁻¹(u)).
///
/// Accuracy: that of [`normal_quantile`] (about 1e-16 relative) times the measure's scale, plus
/// rounding of the n terms. Errors: a dimension other than 1, m or s not finite, s < 0
/// ([`TransportError::InvalidParameter`]). Cost O(n log n) (one sort) and n quantile evaluations.
/// Only for Gaussian targets; between two Gaussians use [`bures_w2_squared`](super::bures_w2_squared).
pub fn wasserstein2_squared_to_gaussian_1d(mu: &EmpiricalMeasure, m: f64, s: f64) -> Result<f64> {
    check_dim("dimension of mu (1-D transport)", 1, mu.dim())?;
    if !m.is_finite() {
        return Err(TransportError::NonFinite { what: "Gaussian mean" });
    }
    if !(s.is_finite() && s >= 0.0) {
        return Err(TransportError::InvalidParameter { name: "s", value: s, reason: "must be finite and ≥ 0" });
    }
    let (x, w) = sorted_probabilities(mu);
    let phi = |z: f64| if z.is_finite() { (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt() } else { 0.0 };
    let zphi = |z: f64| if z.is_finite() { z * phi(z) } else { 0.0 };
    let mut u = 0.0;
    let mut z_lo = f64::NEG_INFINITY;
    let mut total = 0.0;
    for (k, (&xk, &wk)) in x.iter().zip(&w).enumerate() {
        let u_hi = if k + 1 == x.len() { 1.0 } else { (u + wk).min(1.0) };
        let z_hi = normal_quantile(u_hi);
        let iz = phi(z_lo) - phi(z_hi);
        // The atom's own weight is the interval's width, without the cumulative sum's rounding.
        let iz2 = wk - (zphi(z_hi) - zphi(z_lo));
        let dx = xk - m;
        total += wk * dx * dx - 2.0 * dx * s * iz + s * s * iz2;
        u = u_hi;
        z_lo = z_hi;
    }
    Ok(total.max(0.0))
}

/// The standard normal quantile Φ⁻¹(p) by Wichura's algorithm AS 241 (PPND16, Appl. Statist. 37,
/// 1988): rational minimax approximations with relative error about 1e-16 on (0, 1).
///
/// Returns −∞ at p = 0, +∞ at p = 1 and NaN outside [0, 1] or for NaN (it is a pure function for
/// inner loops; validate p beforehand where NaN is not acceptable). Cost: one rational function of
/// degree 7, plus a log and a square root in the tails.
// The coefficients are kept digit for digit as published, so they can be checked against the paper.
#[allow(clippy::excessive_precision)]
pub fn normal_quantile(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 8] = [
        3.387_132_872_796_366_608,
        1.331_416_678_917_843_774_5e2,
        1.971_590_950_306_551_442_7e3,
        1.373_169_376_550_946_112_5e4,
        4.592_195_393_154_987_145_7e4,
        6.726_577_092_700_870_085_3e4,
        3.343_057_558_358_812_810_5e4,
        2.509_080_928_730_122_672_7e3,
    ];
    const B: [f64; 8] = [
        1.0,
        4.231_333_070_160_091_125_2e1,
        6.871_870_074_920_579_083e2,
        5.394_196_021_424_751_107_7e3,
        2.121_379_430_158_659_586_7e4,
        3.930_789_580_009_271_061e4,
        2.872_908_573_572_194_267_4e4,
        5.226_495_278_852_854_561e3,
    ];
    const C: [f64; 8] = [
        1.423_437_110_749_683_577_34,
        4.630_337_846_156_545_295_9,
        5.769_497_221_460_691_405_5,
        3.647_848_324_763_204_605_04,
        1.270_458_252_452_368_382_58,
        2.417_807_251_774_506_117_7e-1,
        2.272_384_498_926_918_458_33e-2,
        7.745_450_142_783_414_076_4e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.053_191_626_637_758_821_87,
        1.676_384_830_183_803_849_4,
        6.897_673_349_851_000_045_5e-1,
        1.481_039_764_274_800_745_9e-1,
        1.519_866_656_361_645_719_66e-2,
        5.475_938_084_995_344_946e-4,
        1.050_750_071_644_416_843_24e-9,
    ];
    const E: [f64; 8] = [
        6.657_904_643_501_103_777_2,
        5.463_784_911_164_114_369_9,
        1.784_826_539_917_291_335_8,
        2.965_605_718_285_048_912_3e-1,
        2.653_218_952_657_612_309_3e-2,
        1.242_660_947_388_078_438_6e-3,
        2.711_555_568_743_487_578_15e-5,
        2.010_334_399_292_288_132_65e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        5.998_322_065_558_879_376_9e-1,
        1.369_298_809_227_358_053_1e-1,
        1.487_536_129_085_061_485_25e-2,
        7.868_691_311_456_132_591e-4,
        1.846_318_317_510_054_681_8e-5,
        1.421_511_758_316_445_888_7e-7,
        2.044_263_103_389_939_785_64e-15,
    ];
    let poly = |c: &[f64; 8], x: f64| c.iter().rev().fold(0.0, |acc, &ck| acc * x + ck);
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * poly(&A, r) / poly(&B, r);
    }
    let r = (-(p.min(1.0 - p)).ln()).sqrt();
    let z = if r <= 5.0 {
        let r = r - 1.6;
        poly(&C, r) / poly(&D, r)
    } else {
        let r = r - 5.0;
        poly(&E, r) / poly(&F, r)
    };
    if q < 0.0 { -z } else { z }
}
