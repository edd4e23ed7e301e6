//! Conjugate gradients for a symmetric positive-definite operator given by its action.

use crate::error::{Error, Result};
use crate::objective::dot;

/// What a [`solve`] reports in its errors.
pub(crate) struct CgLabels<'a> {
    /// The solve, as `Error::LinearSolve::what` names it.
    pub what: &'static str,
    /// The operator's name in the "not positive definite" message (e.g. `"G"`).
    pub operator: &'a str,
    /// The operator's symbol in the curvature pᵀAp of that message (e.g. `'G'`).
    pub symbol: char,
    /// Appended to the "not positive definite" message (e.g. a remedy), or empty.
    pub hint: &'a str,
}

/// Solves A out = b by conjugate gradients from out = 0, with `apply(v, av)` writing A v.
///
/// Stops when ‖r‖ ≤ `tol` (an absolute residual); a non-positive or NaN curvature pᵀAp
/// along a search direction, or `max_iter` iterations without convergence, is an
/// [`Error::LinearSolve`]. Cost: one `apply` and 5K flops per iteration; `r`, `p`, `ap`
/// are K-vectors of scratch, so the solve allocates nothing.
pub(crate) fn solve(
    mut apply: impl FnMut(&[f64], &mut [f64]) -> Result<()>,
    b: &[f64],
    tol: f64,
    max_iter: usize,
    [r, p, ap]: [&mut [f64]; 3],
    out: &mut [f64],
    labels: CgLabels<'_>,
) -> Result<()> {
    let k = b.len();
    out.fill(0.0);
    r.copy_from_slice(b);
    p.copy_from_slice(b);
    let mut rr = dot(r, r);
    for _ in 0..max_iter {
        if rr.sqrt() <= tol {
            return Ok(());
        }
        apply(p, ap)?;
        let pap = dot(p, ap);
        // NaN-safe: NaN curvature is a failure too
        if pap.is_nan() || pap <= 0.0 {
            let CgLabels { what, operator, symbol, hint } = labels;
            return Err(Error::LinearSolve {
                what,
                detail: format!(
                    "{operator} is not positive definite along the search direction (pᵀ{symbol}p = {pap:e}){hint}"
                ),
            });
        }
        let alpha = rr / pap;
        for i in 0..k {
            out[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        let rr_new = dot(r, r);
        let beta = rr_new / rr;
        rr = rr_new;
        for i in 0..k {
            p[i] = r[i] + beta * p[i];
        }
    }
    if rr.sqrt() <= tol {
        Ok(())
    } else {
        Err(Error::LinearSolve {
            what: labels.what,
            detail: format!("no convergence in {max_iter} iterations: residual {:e} > {tol:e}", rr.sqrt()),
        })
    }
}
