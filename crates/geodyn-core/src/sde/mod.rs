//! Stochastic dynamics: Langevin samplers for π ∝ exp(−U/T), Euler–Maruyama for general
//! SDEs, and the deterministic gradient flows they reduce to without noise.
//!
//! - [`Noise`]: Brownian increments from a ChaCha8 stream keyed by (seed, chain), so a
//!   chain's noise depends on nothing else.
//! - [`SdeProblem`]: dX = b(t, X)dt + σ(t, X)dW with scalar or diagonal σ, integrated by
//!   [`EulerMaruyama`] (strong order ½, 1 for additive noise; weak order 1).
//! - [`Gibbs`]: a potential U (any [`Objective`](crate::Objective)) at a temperature T;
//!   as an [`SdeProblem`] it is overdamped Langevin dθ = −∇U dt + √(2T)dW.
//! - [`Scheme`]: the samplers — ULA, MALA, their constant-[`Preconditioner`] versions,
//!   underdamped Langevin by BAOAB and OBABO (exact Ornstein–Uhlenbeck O-step), and
//!   Riemannian MALA on the loss-graph metric G = I + ∇U∇Uᵀ in O(K) closed forms (with
//!   or without the divergence term, [`Divergence`]) and its unadjusted counterpart
//!   (Riemannian Langevin, divergence term included). Its documentation tabulates orders,
//!   invariant-measure errors and costs.
//! - [`run_chain`] / [`run_chains`]: warm-up with optional [`DualAveraging`] of the step
//!   size (Metropolis schemes), thinning, acceptance and evaluation counts ([`Chain`]);
//!   chains in parallel, bit-identical for any thread count.
//! - [`GradientFlow`], [`LossGraphFlow`], [`RiemannianGradientFlow`], [`MirrorFlow`]:
//!   θ̇ = −∇U, θ̇ = −g/(1 + |g|²), θ̇ = −G⁻¹∇U, θ̇ = −(∇²φ)⁻¹∇U as
//!   [`FirstOrderSystem`](crate::FirstOrderSystem)s for
//!   [`integrate_first_order`](crate::integrate_first_order).
//!
//! ```
//! use geodyn_core::sde::{ChainConfig, Gibbs, Scheme, run_chain};
//! use geodyn_core::{Objective, Result};
//! /// U(x) = x²/2: π = N(0, T).
//! struct Harmonic;
//! impl Objective for Harmonic {
//!     fn dim(&self) -> usize { 1 }
//!     fn value(&self, x: &[f64]) -> Result<f64> { Ok(0.5 * x[0] * x[0]) }
//!     fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> { g[0] = x[0]; self.value(x) }
//!     fn hvp(&self, _x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> { hv[0] = v[0]; Ok(()) }
//! }
//! let target = Gibbs::new(Harmonic, 1.0).unwrap();
//! let chain = run_chain(&target, &[0.0], &Scheme::Mala { step: 0.5 }, &ChainConfig::new(2000, 1), 0).unwrap();
//! assert_eq!(chain.len(), 2000);
//! assert!(chain.acceptance_rate > 0.8);
//! ```
//!
//! The layout: leaf files hold the vocabulary — `noise`, `problem`, `preconditioner`,
//! `adapt`, `scheme` (the [`Scheme`] enum and the per-chain kernel trait) — each kernel is
//! one file (`overdamped`, `underdamped`, `loss_graph_mala`) importing leaves only, and
//! `chain` is the one loop that runs any kernel.

mod adapt;
mod chain;
mod euler_maruyama;
mod flow;
mod loss_graph_mala;
mod noise;
mod overdamped;
mod preconditioner;
mod problem;
mod scheme;
mod underdamped;

pub use adapt::{DualAveraging, DualAveragingState};
pub use chain::{Chain, ChainConfig, run_chain, run_chains};
pub use euler_maruyama::EulerMaruyama;
pub use flow::{GradientFlow, LossGraphFlow, MirrorFlow, RiemannianGradientFlow};
pub use loss_graph_mala::loss_graph_divergence;
pub use noise::Noise;
pub use overdamped::mala_log_ratio;
pub use preconditioner::Preconditioner;
pub use problem::{Gibbs, SdeProblem};
pub use scheme::{Divergence, Scheme};
