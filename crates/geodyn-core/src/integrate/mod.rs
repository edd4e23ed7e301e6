//! Adaptive integration of second-order systems ẍ = a(t, x, ẋ).
//!
//! [`integrate()`] solves a [`SecondOrderSystem`] from (x0, v0) at
//! [`IntegrateOptions::t0`] to [`IntegrateOptions::t1`] or to an optional stop event
//! (kinetic energy below ε), with states at requested output times (dense output), an
//! optional trajectory of every accepted step, work statistics ([`SolveStats`]) and the
//! energy behaviour of the run ([`EnergyReport`]). A failed solve returns
//! [`Error::Integration`](crate::Error::Integration) naming the time reached and the
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
//! The layout: leaf modules hold the shared vocabulary — [`method`] (the selector),
//! [`options`], [`solution`], `save` (initial records), `controller` (step guard and
//! step-size controllers), `dense` (Hermite dense output), `tableau` (the 5(4) pairs)
//! and `counted` (evaluation counters) — and import no method; each method is one file
//! that imports leaves only.

pub mod loss_graph_rattle;
pub mod method;
pub mod options;
pub mod projected_rk;
pub mod solution;
pub mod tsit5;

mod controller;
mod counted;
mod dense;
mod save;
mod tableau;

pub use method::{Method, UnknownMethod};
pub use options::{EnergyMonitor, IntegrateOptions};
pub use solution::{EnergyReport, Solution, SolveStats, StatePoint, StopReason};

use crate::error::{Result, check_dim, check_finite};
use crate::mechanics::SecondOrderSystem;

/// Integrates `system` from (x0, v0) at `opts.t0` to `opts.t1` (or the stop event) with
/// the method `opts.method`.
///
/// The method is chosen at run time. [`Method::LossGraphRattle`] integrates only systems
/// that are a particle on a loss graph
/// ([`SecondOrderSystem::as_loss_graph_particle`]) and returns
/// [`Error::Unsupported`](crate::Error::Unsupported) for others; where the method is known
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
