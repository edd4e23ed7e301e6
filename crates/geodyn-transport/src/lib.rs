//! # geodyn-transport
//!
//! The distribution-space layer of geodyn: measures, optimal transport between them, and a
//! Fokker–Planck solver with its free energy.
//!
//! - [`measure`]: weighted empirical measures in R^d ([`EmpiricalMeasure`], from samples or from a
//!   sampler's output rows) and densities on uniform 1-D grids ([`GridDensity1d`]).
//! - [`transport`]: exact 1-D W_p by quantiles ([`wasserstein_1d`]), W2 between Gaussians by the
//!   Bures formula ([`bures_w2_squared`]), entropic OT by log-domain Sinkhorn with ε-scaling
//!   ([`sinkhorn`]) and the debiased Sinkhorn divergence ([`sinkhorn_divergence`]), exact small-n OT
//!   by an O(n³) assignment solver ([`exact_ot`], [`solve_assignment`]), and barycentric projection
//!   maps from a plan ([`barycentric_projection`]).
//! - [`fokker_planck`]: ∂ρ/∂t = ∂ₓ(ρ∂ₓV + β⁻¹∂ₓρ) in 1-D by Scharfetter–Gummel finite volumes and
//!   backward Euler ([`FokkerPlanck1d`]): mass-conserving, positivity-preserving, exact discrete Gibbs
//!   steady state, non-increasing free energy.
//!
//! All routines work in f64, validate their input and return [`TransportError`] instead of
//! panicking. Transport routines normalise weights: they compare the shapes of measures, not
//! their total masses.
//!
//! ```
//! use geodyn_transport::{EmpiricalMeasure, wasserstein_1d};
//!
//! let mu = EmpiricalMeasure::from_samples_1d(&[0.0, 1.0, 2.0]).unwrap();
//! let nu = EmpiricalMeasure::from_samples_1d(&[3.0, 1.0, 2.0]).unwrap();
//! // Sorted matching: (0→1, 1→2, 2→3), each moved by 1.
//! assert!((wasserstein_1d(&mu, &nu, 2.0).unwrap() - 1.0).abs() < 1e-15);
//! ```
#![deny(missing_docs)]

pub mod error;
pub mod fokker_planck;
pub mod measure;
pub mod transport;

pub use error::{Result, TransportError};
pub use fokker_planck::{FokkerPlanck1d, FokkerPlanckRun, bernoulli};
pub use measure::{EmpiricalMeasure, GridDensity1d};
pub use transport::{
    Assignment, ExactOt, MAX_ASSIGNMENT_SIZE, PARALLEL_MIN_ENTRIES, SinkhornOptions, SinkhornSolution,
    barycentric_projection, bures_w2, bures_w2_squared, exact_ot, normal_quantile, psd_sqrt, sinkhorn,
    sinkhorn_divergence, sinkhorn_with_cost, solve_assignment, squared_euclidean_cost, wasserstein_1d,
    wasserstein_1d_pow, wasserstein_1d_samples_pow, wasserstein2_squared_to_gaussian_1d,
};
