//! The settings of one integration ([`IntegrateOptions`]) and when the energy is
//! monitored ([`EnergyMonitor`]).

use super::method::Method;
#[cfg(doc)]
use super::solution::Solution;
use crate::error::{Error, Result};
#[cfg(doc)]
use crate::mechanics::SecondOrderSystem;

/// Settings of one integration.
///
/// Defaults: t0 = 0, t1 = 1, the DiMS paper's tolerances atol = 1e-6 and rtol = 1e-7,
/// at most 10 million steps, no stop event, no outputs, no trajectory.
///
/// ```
/// use geodyn_core::IntegrateOptions;
/// let opts = IntegrateOptions::new(30.0).tolerances(1e-9, 1e-9).stop_below_kinetic(1e-4);
/// assert_eq!(opts.t1, 30.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrateOptions {
    /// Initial time.
    pub t0: f64,
    /// Final time (must exceed `t0`).
    pub t1: f64,
    /// Absolute tolerance (> 0).
    pub atol: f64,
    /// Relative tolerance (> 0).
    pub rtol: f64,
    /// Largest number of accepted steps before [`FailureReason::StepLimit`](crate::FailureReason::StepLimit).
    pub max_steps: usize,
    /// Stop at the first time the kinetic energy T drops below this ε (> 0). If
    /// T(t0) < ε already, the run stops at t0.
    pub stop_below_kinetic: Option<f64>,
    /// Times in [t0, t1], non-decreasing, at which to report the state.
    pub output_times: Vec<f64>,
    /// Keep the state after every accepted step (memory grows with the step count).
    pub trajectory: bool,
    /// The integrator (default [`Method::Tsit5`]).
    pub method: Method,
    /// When [`Method::Tsit5`] monitors the energy for [`Solution::energy`] (default
    /// [`EnergyMonitor::WhenFree`]); [`Method::ProjectedTsit5`] always does.
    pub energy_monitor: EnergyMonitor,
    /// Fixed steps of this size (> 0) instead of adaptive ones: no error control, atol
    /// and rtol are not used, the last step takes the rest of the interval (a step
    /// within 1% of t1 is stretched to it). For convergence studies and for comparing
    /// methods at equal cost, not for production runs: a step that cannot be taken at
    /// this size (a non-finite stage; for the energy-projected and loss-graph methods no
    /// velocity reaching the energy target, or a multiplier that does not converge) fails
    /// the run with [`FailureReason::TooManyRejections`](crate::FailureReason::TooManyRejections)
    /// or the evaluation's error. Default `None` (adaptive).
    pub fixed_step: Option<f64>,
}

impl Default for IntegrateOptions {
    fn default() -> Self {
        Self {
            t0: 0.0,
            t1: 1.0,
            atol: 1e-6,
            rtol: 1e-7,
            max_steps: 10_000_000,
            stop_below_kinetic: None,
            output_times: Vec::new(),
            trajectory: false,
            method: Method::default(),
            energy_monitor: EnergyMonitor::default(),
            fixed_step: None,
        }
    }
}

impl IntegrateOptions {
    /// Defaults with final time `t1` (from t0 = 0).
    pub fn new(t1: f64) -> Self {
        Self { t1, ..Self::default() }
    }
    /// Sets the initial time.
    pub fn t0(mut self, t0: f64) -> Self {
        self.t0 = t0;
        self
    }
    /// Sets absolute and relative tolerances.
    pub fn tolerances(mut self, atol: f64, rtol: f64) -> Self {
        self.atol = atol;
        self.rtol = rtol;
        self
    }
    /// Sets the step limit.
    pub fn max_steps(mut self, max_steps: usize) -> Self {
        self.max_steps = max_steps;
        self
    }
    /// Stops when the kinetic energy first drops below `eps`.
    pub fn stop_below_kinetic(mut self, eps: f64) -> Self {
        self.stop_below_kinetic = Some(eps);
        self
    }
    /// Requests the state at `times`.
    pub fn output_times(mut self, times: Vec<f64>) -> Self {
        self.output_times = times;
        self
    }
    /// Requests `n` ≥ 2 equally spaced output times from t0 to t1 inclusive.
    pub fn uniform_outputs(mut self, n: usize) -> Self {
        let n = n.max(2);
        let (a, b) = (self.t0, self.t1);
        self.output_times =
            (0..n).map(|i| if i + 1 == n { b } else { a + (b - a) * i as f64 / (n - 1) as f64 }).collect();
        self
    }
    /// Keeps the state after every accepted step.
    pub fn with_trajectory(mut self) -> Self {
        self.trajectory = true;
        self
    }
    /// Selects the integrator.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }
    /// Takes fixed steps of size `h` ([`fixed_step`](Self::fixed_step)).
    pub fn fixed_step(mut self, h: f64) -> Self {
        self.fixed_step = Some(h);
        self
    }
    /// Sets when [`Method::Tsit5`] monitors the energy.
    pub fn energy_monitor(mut self, monitor: EnergyMonitor) -> Self {
        self.energy_monitor = monitor;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |name, value, reason| Err(Error::InvalidParameter { name, value, reason });
        if !self.t0.is_finite() {
            return bad("t0", self.t0, "must be finite");
        }
        if !(self.t1.is_finite() && self.t1 > self.t0) {
            return bad("t1", self.t1, "must be finite and greater than t0");
        }
        if !(self.atol.is_finite() && self.atol > 0.0) {
            return bad("atol", self.atol, "must be finite and > 0");
        }
        if !(self.rtol.is_finite() && self.rtol > 0.0) {
            return bad("rtol", self.rtol, "must be finite and > 0");
        }
        if let Some(eps) = self.stop_below_kinetic
            && !(eps.is_finite() && eps > 0.0)
        {
            return bad("stop_below_kinetic", eps, "must be finite and > 0");
        }
        if let Some(h) = self.fixed_step
            && !(h.is_finite() && h > 0.0)
        {
            return bad("fixed_step", h, "must be finite and > 0");
        }
        let mut prev = self.t0;
        for &t in &self.output_times {
            if !(t.is_finite() && t >= prev && t <= self.t1) {
                return bad("output time", t, "output times must be non-decreasing and within [t0, t1]");
            }
            prev = t;
        }
        Ok(())
    }
}

/// When [`integrate`](crate::integrate()) with [`Method::Tsit5`] tracks the energy H at
/// accepted steps (the energy-projected method always does, at no cost).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EnergyMonitor {
    /// Only when it is free: when [`SecondOrderSystem::evaluate`] reports V(x) and
    /// the dissipated power (as [`Mechanics`](crate::Mechanics) does). Otherwise
    /// [`Solution::energy`] is `None`.
    #[default]
    WhenFree,
    /// Always; systems without fused energies then cost one
    /// [`energy`](SecondOrderSystem::energy) and one
    /// [`dissipated_power`](SecondOrderSystem::dissipated_power) call per accepted step.
    Always,
    /// Never.
    Off,
}
