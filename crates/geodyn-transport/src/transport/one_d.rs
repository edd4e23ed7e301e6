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
