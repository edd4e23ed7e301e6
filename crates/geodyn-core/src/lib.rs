//! # geodyn-core
//!
//! The abstract layer of geodyn: the [`Objective`] / [`Embedding`] / [`Lagrangian`]
//! seam that backends implement, Riemannian [`Metric`]s induced by functions
//! ([`Euclidean`], [`LossGraph`], [`Pullback`]), second-order dissipative
//! [`Mechanics`] (DiMS, geodesics / RLA), [`LagrangianSystem`]s (Finsler metrics as
//! L = ½F²) and adaptive Runge–Kutta integration through diffsol ([`integrate()`]),
//! optionally with an energy projection that keeps the discrete energy of dissipative
//! systems non-increasing ([`Method::EnergyProjected`], [`Method::EnergyProjectedDopri5`],
//! module [`stable`]), or as RATTLE on the graph of the loss with exact friction
//! half-steps for DiMS and RLA ([`Method::GraphRattle`], module [`rattle`]).
//!
//! This crate depends on no autodiff library; see `geodyn-dual` for exact
//! derivatives from dual numbers.
#![deny(missing_docs)]

pub mod error;
pub mod integrate;
pub mod lagrangian;
pub mod mechanics;
pub mod metric;
pub mod objective;
pub mod rattle;
pub mod scratch;
pub mod stable;

pub use error::{Error, FailureReason, Result};
pub use integrate::{IntegrateOptions, Solution, SolveStats, StopReason, integrate};
pub use lagrangian::LagrangianSystem;
pub use mechanics::{
    Constant, Dissipation, Energy, Evaluation, FnDissipation, FrictionFlow, Frictionless, LossGraphForm, Mechanics,
    SecondOrderSystem, SpeedDependent,
};
pub use metric::{Euclidean, LossGraph, Metric, Pullback};
pub use objective::{Embedding, Lagrangian, Objective, Rayleigh, dot};
pub use stable::{EnergyMonitor, EnergyReport, Method};
