//! Adaptive (or fixed-step) integration of second-order systems ẍ = a(t, x, ẋ) and
//! first-order systems ẏ = f(t, y).
//!
//! [`integrate()`] solves a [`SecondOrderSystem`] from (x0, v0) at
//! [`IntegrateOptions::t0`] to [`IntegrateOptions::t1`] or to an optional stop event
//! (kinetic energy below ε), with states at requested output times (dense output), an
//! optional trajectory of every accepted step, work statistics ([`SolveStats`]) and the
//! energy behaviour of the run ([`EnergyReport`]). A failed solve returns
//! [`Error::Integration`] naming the time reached and the
//! [`FailureReason`](crate::FailureReason).
//!
//! [`IntegrateOptions::method`] selects the [`Method`]:
//!
//! | method | module | energy H | use for |
//! |---|---|---|---|
//! | [`Method::Tsit5`] (default) | [`tsit5`] | unconstrained | general systems |
//! | [`Method::ProjectedTsit5`] | [`projected_rk`] | never rises | dissipative mechanics, geodesics |
//! | [`Method::ProjectedDopri5`] | [`projected_rk`] | never rises | the same, long runs |
//! | [`Method::LossGraphRattle`] | [`loss_graph_rattle`] | never rises | DiMS and RLA on stiff losses |
//!
//! [`integrate_first_order`] solves a [`FirstOrderSystem`] with the same options, dense
//! output and statistics (by [`Method::Tsit5`]; a second-order system is the case
//! y = (x, ẋ), and that is how Tsit5 integrates one), with a stop event given by the
//! system's [`stop_function`](FirstOrderSystem::stop_function).
//! [`IntegrateOptions::fixed_step`] replaces the step-size control by fixed steps, for
//! convergence studies.
//!
//! The layout: leaf modules hold the shared vocabulary — [`method`] (the selector),
//! [`options`], [`solution`], [`first_order`] (the first-order system and its solution),
//! `driver` (the loop every method runs: accepted steps, the stop event located by one
//! root finder on the method's dense output, output times, trajectory and energy record,
//! over a small `Stepper` trait), `controller` (step guard and step-size controllers),
//! `dense` (Hermite dense output), `tableau` (the 5(4) pairs) and `counted` (evaluation
//! counters) — and import no method; each method is one file that implements `Stepper`
//! and imports leaves only.

pub mod first_order;
pub mod loss_graph_rattle;
pub mod method;
pub mod options;
pub mod projected_rk;
pub mod solution;
pub mod tsit5;

mod controller;
mod counted;
mod dense;
mod driver;
mod tableau;

pub use first_order::{FirstOrderPoint, FirstOrderSolution, FirstOrderSystem};
pub use method::{Method, UnknownMethod};
pub use options::{EnergyMonitor, IntegrateOptions};
pub use solution::{EnergyReport, Solution, SolveStats, StatePoint, StopReason};

use crate::error::{Error, Result, check_dim, check_finite};
use crate::mechanics::SecondOrderSystem;

/// Integrates `system` from (x0, v0) at `opts.t0` to `opts.t1` (or the stop event) with
/// the method `opts.method`.
///
/// The method is chosen at run time. [`Method::LossGraphRattle`] integrates only systems
/// that are a particle on a loss graph
/// ([`SecondOrderSystem::as_loss_graph_particle`]) and returns
/// [`Error::Unsupported`] for others; where the method is known
/// when the program is written,
/// [`loss_graph_rattle::integrate_particle`] checks this at compile time.
///
/// ```
/// use geodyn_core::{integrate, Constant, Euclidean, IntegrateOptions, Mechanics};
/// // ẍ = −0.5 ẋ from v0 = 1: x(t) = 2(1 − e^{−t/2})
/// let sys = Mechanics::new(Euclidean::new(1), Constant(0.5));
/// let sol = integrate(&sys, &[0.0], &[1.0], &IntegrateOptions::new(4.0).tolerances(1e-10, 1e-10)).unwrap();
/// assert!((sol.x[0] - 2.0 * (1.0 - (-2.0f64).exp())).abs() < 1e-8);
/// ```
pub fn integrate<S: SecondOrderSystem + ?Sized>(
    system: &S,
    x0: &[f64],
    v0: &[f64],
    opts: &IntegrateOptions,
) -> Result<Solution> {
    let n = system.dim();
    check_dim("x0", n, x0.len())?;
    check_dim("v0", n, v0.len())?;
    check_finite("x0", x0)?;
    check_finite("v0", v0)?;
    opts.validate()?;
    match opts.method {
        Method::Tsit5 => tsit5::solve(system, x0, v0, opts),
        Method::ProjectedTsit5 | Method::ProjectedDopri5 => projected_rk::solve(system, x0, v0, opts),
        Method::LossGraphRattle => loss_graph_rattle::solve(system, x0, v0, opts),
    }
}

/// Integrates the first-order system ẏ = f(t, y) from `y0` at `opts.t0` to `opts.t1` (or
/// the system's stop event, [`FirstOrderSystem::stop_function`]) with diffsol's
/// Tsitouras 5(4) pair ([`Method::Tsit5`], module [`tsit5`]): the same tolerances, step
/// limit, output times (dense output), trajectory and [`SolveStats`] as [`integrate()`].
///
/// `opts.method` must be [`Method::Tsit5`] (the energy-projected and loss-graph methods
/// need mechanics: an energy and a particle) and `opts.stop_below_kinetic` unset (a
/// first-order system has no kinetic energy; give it a stop function instead); both
/// return [`Error::Unsupported`]. `opts.energy_monitor` is not consulted.
///
/// ```
/// use geodyn_core::integrate::{FirstOrderSystem, integrate_first_order};
/// use geodyn_core::{IntegrateOptions, Result, StopReason};
/// /// The harmonic oscillator (y0, y1)' = (y1, −y0), stopped where y0 first turns negative.
/// struct Oscillator;
/// impl FirstOrderSystem for Oscillator {
///     fn dim(&self) -> usize { 2 }
///     fn rhs(&self, _t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
///         dy[0] = y[1];
///         dy[1] = -y[0];
///         Ok(())
///     }
///     fn stop_function(&self, _t: f64, y: &[f64]) -> Option<Result<f64>> { Some(Ok(y[0])) }
/// }
/// let opts = IntegrateOptions::new(10.0).tolerances(1e-12, 1e-12);
/// let sol = integrate_first_order(&Oscillator, &[0.0, 1.0], &opts).unwrap(); // y0 = sin t
/// assert_eq!(sol.stop, StopReason::StopFunction);
/// assert!((sol.t - std::f64::consts::PI).abs() < 1e-9);
/// ```
pub fn integrate_first_order<F: FirstOrderSystem + ?Sized>(
    system: &F,
    y0: &[f64],
    opts: &IntegrateOptions,
) -> Result<FirstOrderSolution> {
    check_dim("y0", system.dim(), y0.len())?;
    check_finite("y0", y0)?;
    opts.validate()?;
    if opts.method != Method::Tsit5 {
        return Err(Error::Unsupported {
            method: opts.method.name(),
            reason: "first-order systems are integrated by Tsit5 only: the energy-projected and loss-graph \
                     methods need mechanics (an energy, a particle)",
        });
    }
    if opts.stop_below_kinetic.is_some() {
        return Err(Error::Unsupported {
            method: "stop_below_kinetic",
            reason: "a first-order system has no kinetic energy: give it a stop function \
                     (FirstOrderSystem::stop_function)",
        });
    }
    tsit5::solve_first_order(system, y0, opts)
}
