//! What an integration returns: the final state, why it stopped, the states at the
//! requested times, the work done and the energy behaviour.

#[cfg(doc)]
use super::method::Method;
#[cfg(doc)]
use super::options::IntegrateOptions;
#[cfg(doc)]
use crate::mechanics::SecondOrderSystem;

/// The state (t, x, v) at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct StatePoint {
    /// Time.
    pub t: f64,
    /// Position.
    pub x: Vec<f64>,
    /// Velocity.
    pub v: Vec<f64>,
}

/// Why an integration ended successfully.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    /// The final time t1 was reached.
    FinalTime,
    /// The kinetic energy dropped below the threshold (the stop event fired at
    /// [`Solution::t`]).
    KineticBelow {
        /// The threshold ε.
        threshold: f64,
    },
    /// The stop function of a first-order system turned negative
    /// ([`FirstOrderSystem::stop_function`](super::FirstOrderSystem::stop_function); the
    /// event fired at [`FirstOrderSolution::t`](super::FirstOrderSolution::t)).
    StopFunction,
}

/// Work done by one integration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SolveStats {
    /// Right-hand-side evaluations (each is one acceleration evaluation); for
    /// [`Method::LossGraphRattle`], loss-gradient evaluations (no curvature term).
    pub rhs_evaluations: usize,
    /// Accepted steps.
    pub accepted_steps: usize,
    /// Rejected step attempts (error test failures).
    pub rejected_steps: usize,
    /// Calls of [`SecondOrderSystem::energy`], [`SecondOrderSystem::kinetic_energy`]
    /// or [`SecondOrderSystem::dissipated_power`] outside the right-hand side: stop-event
    /// location, energy monitoring and projection for systems without fused energies.
    pub energy_evaluations: usize,
}

/// The result of [`integrate`](crate::integrate()).
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// The time the run ended (t1, or the stop-event time).
    pub t: f64,
    /// Position at `t`.
    pub x: Vec<f64>,
    /// Velocity at `t`.
    pub v: Vec<f64>,
    /// Why it ended.
    pub stop: StopReason,
    /// Work statistics.
    pub stats: SolveStats,
    /// The states at the requested output times (those before the stop time).
    pub outputs: Vec<StatePoint>,
    /// The state after every accepted step, starting with the initial state, if requested.
    pub trajectory: Option<Vec<StatePoint>>,
    /// The energy behaviour over the accepted steps: always with
    /// [`Method::ProjectedTsit5`]; with [`Method::Tsit5`] as
    /// [`IntegrateOptions::energy_monitor`] says (`None` when not monitored).
    pub energy: Option<EnergyReport>,
}

/// The energy behaviour of one run, over its accepted steps (and the stop-event state).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct EnergyReport {
    /// H at the initial state.
    pub initial: f64,
    /// H at the final state.
    pub last: f64,
    /// The largest step-to-step increase H_{n+1} − H_n seen, or 0 if H never increased.
    pub max_increase: f64,
    /// For runs that dissipated nothing (the dissipated power was 0 wherever it was
    /// evaluated): max_n |H_n − H_0| / |H_0| (absolute if H_0 = 0). For geodesics
    /// (V = 0) this is the relative drift of the kinetic energy T. `None` for
    /// dissipative runs.
    pub relative_drift: Option<f64>,
    /// How many states were monitored (accepted steps + 1).
    pub states: usize,
}

/// Running energy bookkeeping shared by both integration paths.
#[derive(Debug, Clone)]
pub(crate) struct EnergyTracker {
    initial: f64,
    last: f64,
    max_increase: f64,
    max_drift: f64,
    dissipative: bool,
    states: usize,
}

impl EnergyTracker {
    pub(crate) fn new(h0: f64, power0: f64) -> Self {
        Self { initial: h0, last: h0, max_increase: 0.0, max_drift: 0.0, dissipative: power0 != 0.0, states: 1 }
    }
    /// Records the energy `h` of the next monitored state; `power_seen` says whether a
    /// non-zero dissipated power was seen since the previous one.
    pub(crate) fn record(&mut self, h: f64, power_seen: bool) {
        self.max_increase = self.max_increase.max(h - self.last);
        self.max_drift = self.max_drift.max((h - self.initial).abs());
        self.dissipative |= power_seen;
        self.last = h;
        self.states += 1;
    }
    pub(crate) fn report(&self) -> EnergyReport {
        let scale = if self.initial != 0.0 { self.initial.abs() } else { 1.0 };
        EnergyReport {
            initial: self.initial,
            last: self.last,
            max_increase: self.max_increase,
            relative_drift: (!self.dissipative).then(|| self.max_drift / scale),
            states: self.states,
        }
    }
}
