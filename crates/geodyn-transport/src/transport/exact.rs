//! Exact discrete optimal transport for small uniform measures (an assignment problem), and
//! barycentric projection maps from a plan.

use crate::error::{Result, TransportError, check_dim, check_finite};
use crate::measure::EmpiricalMeasure;

/// The largest n accepted by [`solve_assignment`] and [`exact_ot`]: the solver is O(n³) time and the
/// cost matrix O(n²) memory (2000² costs are 32 MB, and the solve takes seconds).
pub const MAX_ASSIGNMENT_SIZE: usize = 2000;

/// An optimal assignment: row i goes to column `perm[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The column assigned to each row (a permutation of 0..n).
    pub perm: Vec<usize>,
    /// Σᵢ C(i, perm(i)), the minimal total cost.
    pub total_cost: f64,
}

/// The minimum-cost perfect matching of a square row-major n×n `cost` matrix (any finite f64 costs,
/// negative ones included), by the shortest-augmenting-path Hungarian method with dual potentials
/// (the Jonker–Volgenant / Kuhn–Munkres O(n³) form).
///
/// The result is optimal up to rounding in the potentials (the reduced costs stay ≥ −n·ulp·max|C|).
/// Errors: `cost.len() ≠ n²`, n = 0 ([`TransportError::Empty`]), non-finite costs,
/// n > [`MAX_ASSIGNMENT_SIZE`] ([`TransportError::TooLarge`]). Cost O(n³) time, O(n) extra memory.
/// For large n use entropic transport ([`sinkhorn`](super::sinkhorn)); for non-uniform weights a
/// network-simplex solver (not in this crate).
// The classic index-based form of the algorithm reads best with explicit indices.
#[allow(clippy::needless_range_loop)]
pub fn solve_assignment(cost: &[f64], n: usize) -> Result<Assignment> {
    if n == 0 {
        return Err(TransportError::Empty { what: "cost matrix" });
    }
    if n > MAX_ASSIGNMENT_SIZE {
        return Err(TransportError::TooLarge { what: "assignment", n, max: MAX_ASSIGNMENT_SIZE });
    }
    check_dim("cost (n×n)", n * n, cost.len())?;
    check_finite("cost", cost)?;
    // 1-based arrays; index 0 is the virtual column/row of the augmenting-path search.
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; n + 1];
    let mut p = vec![0usize; n + 1]; // p[j]: the row matched to column j (0 = none)
    let mut way = vec![0usize; n + 1];
    let mut minv = vec![0.0; n + 1];
    let mut used = vec![false; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        minv.fill(f64::INFINITY);
        used.fill(false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let row = &cost[(i0 - 1) * n..i0 * n];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = row[j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut perm = vec![0usize; n];
    for j in 1..=n {
        perm[p[j] - 1] = j - 1;
    }
    let total_cost = perm.iter().enumerate().map(|(i, &j)| cost[i * n + j]).sum();
    Ok(Assignment { perm, total_cost })
}

/// Exact W2 transport between two uniform empirical measures with the same number of points.
#[derive(Debug, Clone, PartialEq)]
pub struct ExactOt {
    /// Point i of the source goes to point `perm[i]` of the target (the optimal map is a permutation).
    pub perm: Vec<usize>,
    /// W2² = (1/n) Σᵢ |xᵢ − y_σ(i)|², σ = `perm`.
    pub cost: f64,
}

impl ExactOt {
    /// The plan as a dense row-major n×n matrix (1/n on the permutation). Allocates n² values.
    pub fn plan(&self) -> Vec<f64> {
        let n = self.perm.len();
        let mut p = vec![0.0; n * n];
        for (i, &j) in self.perm.iter().enumerate() {
            p[i * n + j] = 1.0 / n as f64;
        }
        p
    }
}

/// Exact W2² between two uniform empirical measures of n points each (any dimension), by
/// [`solve_assignment`] on the squared-Euclidean costs (for uniform weights an optimal plan is a
/// permutation, Birkhoff–von Neumann).
///
/// Errors: different dimensions or sizes ([`TransportError::DimensionMismatch`]), non-uniform
/// weights ([`TransportError::Unsupported`]), n > [`MAX_ASSIGNMENT_SIZE`]. Cost O(n²d + n³) time,
/// O(n²) memory. Use only for small n (test oracles, n ≲ 10³).
pub fn exact_ot(mu: &EmpiricalMeasure, nu: &EmpiricalMeasure) -> Result<ExactOt> {
    check_dim("dimension of nu", mu.dim(), nu.dim())?;
    check_dim("number of points of nu (exact assignment)", mu.len(), nu.len())?;
    if !mu.has_uniform_weights() || !nu.has_uniform_weights() {
        return Err(TransportError::Unsupported { what: "exact_ot", reason: "needs uniform weights on both measures" });
    }
    let n = mu.len();
    if n > MAX_ASSIGNMENT_SIZE {
        return Err(TransportError::TooLarge { what: "exact_ot", n, max: MAX_ASSIGNMENT_SIZE });
    }
    let c = super::sinkhorn::squared_euclidean_cost(mu, nu)?;
    let a = solve_assignment(&c, n)?;
    Ok(ExactOt { perm: a.perm, cost: a.total_cost / n as f64 })
}

/// The barycentric projection T(xᵢ) = Σ_j π_ij y_j / Σ_j π_ij of a transport plan onto the target
/// points, row-major n×d (n = rows of the plan, d = the target's dimension).
///
/// For a plan that is a permutation this is the optimal map itself; for an entropic plan it is a
/// smoothed map (biased towards the target's local mean by O(ε)). Errors: `plan.len() ≠ n·m`,
/// non-finite or negative entries, a row of zero mass ([`TransportError::ZeroMass`]).
/// Cost O(n·m·d) time, O(n·d) memory.
pub fn barycentric_projection(plan: &[f64], n: usize, target: &EmpiricalMeasure) -> Result<Vec<f64>> {
    let (m, d) = (target.len(), target.dim());
    check_dim("plan (n×m)", n * m, plan.len())?;
    check_finite("plan", plan)?;
    if let Some((index, &value)) = plan.iter().enumerate().find(|(_, v)| **v < 0.0) {
        return Err(TransportError::Negative { what: "plan", index, value });
    }
    let mut out = vec![0.0; n * d];
    for i in 0..n {
        let row = &plan[i * m..(i + 1) * m];
        let s: f64 = row.iter().sum();
        if s <= 0.0 {
            return Err(TransportError::ZeroMass { what: "plan row" });
        }
        let o = &mut out[i * d..(i + 1) * d];
        for (j, &p) in row.iter().enumerate() {
            if p > 0.0 {
                for (ok, yk) in o.iter_mut().zip(target.point(j)) {
                    *ok += p * yk;
                }
            }
        }
        o.iter_mut().for_each(|v| *v /= s);
    }
    Ok(out)
}
