//! First-order systems ẏ = f(t, y) ([`FirstOrderSystem`]) and what their integration
//! returns ([`FirstOrderSolution`]).
//!
//! [`integrate_first_order`](super::integrate_first_order) solves them with the same
//! [`IntegrateOptions`] (times, tolerances, step limit, output times, trajectory), the
//! same dense output and [`SolveStats`] as second-order systems, and a stop event given
//! by the system itself ([`FirstOrderSystem::stop_function`]). A second-order system
//! ẍ = a(t, x, ẋ) is the case y = (x, ẋ), f = (ẋ, a): [`Method::Tsit5`] integrates it
//! by exactly this path.

#[cfg(doc)]
use super::method::Method;
#[cfg(doc)]
use super::options::IntegrateOptions;
use super::solution::{SolveStats, StopReason};
use crate::error::Result;

/// A first-order system ẏ = f(t, y) in R^n.
///
/// ```
/// use geodyn_core::integrate::{FirstOrderSystem, integrate_first_order};
/// use geodyn_core::{IntegrateOptions, Result};
/// /// Exponential decay ẏ = −y.
/// struct Decay;
/// impl FirstOrderSystem for Decay {
///     fn dim(&self) -> usize { 1 }
///     fn rhs(&self, _t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
///         dy[0] = -y[0];
///         Ok(())
///     }
/// }
/// let sol = integrate_first_order(&Decay, &[1.0], &IntegrateOptions::new(2.0).tolerances(1e-10, 1e-10)).unwrap();
/// assert!((sol.y[0] - (-2.0f64).exp()).abs() < 1e-8);
/// ```
pub trait FirstOrderSystem {
    /// The state dimension n.
    fn dim(&self) -> usize;

    /// Writes f(t, y) into `dy` (length n). Called once per stage with `dy` holding
    /// arbitrary values; must not allocate on hot paths. An error fails the run with
    /// [`FailureReason::Evaluation`](crate::FailureReason::Evaluation), except
    /// [`Error::NonFinite`](crate::Error::NonFinite), which rejects the step (a step so
    /// large that a stage overflows) and retries with half of it.
    fn rhs(&self, t: f64, y: &[f64], dy: &mut [f64]) -> Result<()>;

    /// The stop function g(t, y): the run ends at the first time g < 0, located on the
    /// dense output to rounding (Illinois regula falsi, 5–10 evaluations of g), with
    /// [`StopReason::StopFunction`]. If g(t0, y0) < 0 the run ends at t0. `None` (the
    /// default): no stop event. g is evaluated once per accepted step, so it should be
    /// cheap next to [`rhs`](Self::rhs); it must return `Some` at every call or at none.
    fn stop_function(&self, _t: f64, _y: &[f64]) -> Option<Result<f64>> {
        None
    }
}

impl<F: FirstOrderSystem + ?Sized> FirstOrderSystem for &F {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn rhs(&self, t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
        (**self).rhs(t, y, dy)
    }
    fn stop_function(&self, t: f64, y: &[f64]) -> Option<Result<f64>> {
        (**self).stop_function(t, y)
    }
}

/// The state (t, y) of a first-order system at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstOrderPoint {
    /// Time.
    pub t: f64,
    /// State.
    pub y: Vec<f64>,
}

/// The result of [`integrate_first_order`](super::integrate_first_order).
#[derive(Debug, Clone, PartialEq)]
pub struct FirstOrderSolution {
    /// The time the run ended (t1, or the stop-event time).
    pub t: f64,
    /// The state at `t`.
    pub y: Vec<f64>,
    /// Why it ended: [`StopReason::FinalTime`] or [`StopReason::StopFunction`].
    pub stop: StopReason,
    /// Work statistics; `rhs_evaluations` counts calls of
    /// [`FirstOrderSystem::rhs`], `energy_evaluations` calls of
    /// [`FirstOrderSystem::stop_function`].
    pub stats: SolveStats,
    /// The states at the requested output times (those before the stop time).
    pub outputs: Vec<FirstOrderPoint>,
    /// The state after every accepted step, starting with the initial state, if requested.
    pub trajectory: Option<Vec<FirstOrderPoint>>,
}
