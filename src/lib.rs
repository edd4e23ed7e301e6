//! # geodyn
//!
//! An embeddable toolkit for dynamics on manifolds induced by functions — most often
//! the loss of a neural network. Compose a [`Metric`](core::Metric) (Euclidean, the
//! loss graph, any pullback), a potential and a friction law into
//! [`Mechanics`](core::Mechanics), or write a [`Lagrangian`](core::Lagrangian); integrate it
//! adaptively with [`integrate`](core::integrate()).
//!
//! Derivatives come from a backend selected by cargo features:
//! - `dual` (default): exact gradients and Hessian-vector products from dual numbers
//!   (num-dual), re-exported as [`dual`].
//! - `dfdx`: reverse mode on dfdx's CPU device (f64) for neural-network objectives,
//!   re-exported as `dfdx`; `cuda` adds dfdx's CUDA device (needs the CUDA toolkit).
//!
//! ```
//! use geodyn::prelude::*;
//!
//! // DiMS on the loss graph of L(θ) = (|θ|² − 1)², from a point on the minimum set.
//! struct Sphere;
//! impl geodyn::dual::ScalarFn for Sphere {
//!     fn dim(&self) -> usize { 3 }
//!     fn eval<D: geodyn::dual::DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
//!         let r2 = x[0] * x[0] + x[1] * x[1] + x[2] * x[2];
//!         (r2 - 1.0) * (r2 - 1.0)
//!     }
//! }
//! let loss = geodyn::dual::DualObjective::new(Sphere);
//! let sys = Mechanics::dims(loss, 1.0, 0.0, SpeedDependent(0.5)).unwrap();
//! let sol = integrate(&sys, &[1.0, 0.0, 0.0], &[0.0, 1.0, 0.8], &IntegrateOptions::new(1.0)).unwrap();
//! assert!(sol.stats.accepted_steps > 0);
//! ```
#![deny(missing_docs)]

/// The abstract layer (metrics, mechanics, integration); see [`geodyn_core`].
pub use geodyn_core as core;

/// Neural-network specs, data sets, losses and training; see [`geodyn_nn`].
pub use geodyn_nn as nn;

/// Sampler plugins (DiMS, RLA, Laplace), the registry and the Laplace posterior; see [`geodyn_samplers`].
pub use geodyn_samplers as samplers;

/// Measures, optimal transport (1-D quantiles, Bures, Sinkhorn, exact assignment) and the 1-D
/// Fokker–Planck solver; see [`geodyn_transport`].
pub use geodyn_transport as transport;

/// The dual-number backend (feature `dual`); see [`geodyn_dual`].
#[cfg(feature = "dual")]
pub use geodyn_dual as dual;

/// The dfdx backend (feature `dfdx`; CUDA with feature `cuda`); see `geodyn_dfdx`.
#[cfg(feature = "dfdx")]
pub use geodyn_dfdx as dfdx;

/// The items most programs need: `use geodyn::prelude::*;`.
pub mod prelude {
    pub use geodyn_core::integrate::loss_graph_rattle::integrate_particle;
    pub use geodyn_core::{
        Constant, Embedding, Energy, Error, Euclidean, FnDissipation, Friction, Frictionless, IntegrateOptions,
        Lagrangian, LagrangianSystem, LossGraph, LossGraphParticle, Mechanics, Metric, Objective, Pullback, Rayleigh,
        Result, SecondOrderSystem, Solution, SpeedDependent, StopReason, integrate,
    };
}
