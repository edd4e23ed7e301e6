//! Optimal transport between measures: exact 1-D W_p by quantiles, W2 between Gaussians (Bures),
//! entropic OT by log-domain Sinkhorn and its debiased divergence, exact small-n OT by assignment,
//! and barycentric projection maps.
//!
//! Which one to use: on the line, [`wasserstein_1d`] (exact, O(n log n)); between Gaussians or as a
//! moment surrogate, [`bures_w2_squared`]; in R^d with n ≲ 10³ uniform points, [`exact_ot`]; otherwise
//! [`sinkhorn`] / [`sinkhorn_divergence`] (O(n·m) per iteration, and S_ε as the unbiased loss).

mod exact;
mod gaussian;
mod one_d;
mod sinkhorn;

pub use exact::{Assignment, ExactOt, MAX_ASSIGNMENT_SIZE, barycentric_projection, exact_ot, solve_assignment};
pub use gaussian::{bures_w2, bures_w2_squared, psd_sqrt};
pub use one_d::{
    normal_quantile, wasserstein_1d, wasserstein_1d_pow, wasserstein_1d_samples_pow,
    wasserstein2_squared_to_gaussian_1d,
};
pub use sinkhorn::{
    PARALLEL_MIN_ENTRIES, SinkhornOptions, SinkhornSolution, sinkhorn, sinkhorn_divergence, sinkhorn_with_cost,
    squared_euclidean_cost,
};
