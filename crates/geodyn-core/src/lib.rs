//! # geodyn-core
//!
//! The abstract layer of geodyn: the [`Objective`] / [`Embedding`] / [`Lagrangian`]
//! seam that backends implement, Riemannian [`Metric`]s induced by functions
//! ([`Euclidean`], [`LossGraph`], [`Pullback`]), second-order dissipative
//! [`Mechanics`] (DiMS, geodesics / RLA), [`LagrangianSystem`]s (Finsler metrics as
//! L = ½F²) and adaptive integration ([`integrate()`], module [`integrate`](mod@integrate)): diffsol's
//! Tsitouras 5(4), the same pair or Dormand–Prince 5(4) with an energy projection that
//! keeps the discrete energy of dissipative systems non-increasing, and RATTLE on the
//! graph of the loss with exact friction half-steps for DiMS and RLA (one [`Method`]
//! enum selects them, or [`integrate::loss_graph_rattle::integrate_particle`] takes a
//! [`LossGraphParticle`] for the last one, checked at compile time), and stochastic
//! dynamics (module [`sde`]): Langevin samplers (ULA, MALA, preconditioned, BAOAB/OBABO,
//! Riemannian MALA on the loss graph), Euler–Maruyama and gradient flows.
//!
//! This crate depends on no autodiff library; see `geodyn-dual` for exact
//! derivatives from dual numbers.
#![deny(missing_docs)]

mod cg;
pub mod error;
pub mod friction;
pub mod integrate;
pub mod lagrangian;
pub mod mechanics;
pub mod metric;
pub mod model;
pub mod objective;
pub mod scratch;
pub mod sde;

pub use error::{Error, FailureReason, Result};
pub use friction::{Constant, FnDissipation, Friction, FrictionFlow, Frictionless, SpeedDependent};
pub use integrate::{
    EnergyMonitor, EnergyReport, FirstOrderPoint, FirstOrderSolution, FirstOrderSystem, IntegrateOptions, Method,
    Solution, SolveStats, StatePoint, StopReason, UnknownMethod, integrate, integrate_first_order,
};
pub use lagrangian::LagrangianSystem;
pub use mechanics::{
    Energy, Evaluation, ExternalPotential, IntrinsicPotential, LossGraphParticle, Mechanics, NoPotential, Potential,
    SecondOrderSystem,
};
pub use metric::{Euclidean, LossGraph, Metric, Pullback};
pub use model::{ModelObjective, ModelOutputs};
pub use objective::{Embedding, FullGradients, GradientContext, Lagrangian, Objective, Rayleigh, dot};
