//! Adaptive integration of second-order systems through diffsol.
//!
//! [`integrate`] solves ẍ = a(t, x, ẋ) for a [`SecondOrderSystem`] as the first-order
//! system y = (x, v), ẏ = (v, a), with diffsol's explicit Runge–Kutta 5(4) pair
//! (Tsitouras' Tsit45, FSAL, embedded error estimate, PI step control) under mixed
//! absolute/relative tolerances. It supports a final time, an optional stop event
//! (kinetic energy below ε), requested output times (interpolated by the solver's
//! dense output), an optional trajectory of every accepted step, and statistics. A
//! failed solve returns [`Error::Integration`] naming the time reached and the
//! [`FailureReason`].
//!
//! [`IntegrateOptions::method`] selects the integrator: [`Method::Tsit45`] (the
//! default, described here) or [`Method::EnergyProjected`], the same 5(4) pair with an
//! energy projection after every step, for which H never increases at accepted steps of
//! dissipative systems, or [`Method::EnergyProjectedDopri5`], the projection around
//! Dormand–Prince 5(4) for long runs (see [`crate::stable`]), or
//! [`Method::GraphRattle`], RATTLE on the graph of the loss for DiMS and RLA (see
//! [`crate::rattle`]). All report the energy behaviour of the
//! run in [`Solution::energy`]; for Tsit45 the monitor reads T and V from the FSAL
//! evaluation, so it is free for [`Mechanics`](crate::Mechanics) (see
//! [`EnergyMonitor`]).
//!
//! The right-hand side does not allocate: it writes straight into the solver's
//! buffers.
//!
//! A stage whose evaluation fails with [`Error::NonFinite`] (a step so large that the
//! stage overflows) does not end a Tsit45 run: diffsol cannot be told to reject a step
//! from inside the right-hand side, so the step is undone afterwards — the solver is
//! put back at the last accepted state with half the failed step — and counted as a
//! rejection, as [`crate::stable`]'s integrators do. Only if h cannot recover
//! (underflow, or more than 40 consecutive retries) does the run fail, with that
//! evaluation's error. Any other evaluation error ends the run at once.

use crate::error::{Error, FailureReason, Result, check_dim, check_finite};
use crate::mechanics::SecondOrderSystem;
use crate::stable::{EnergyMonitor, EnergyReport, EnergyTracker, Method};
use diffsol::{
    DiffsolError, FaerMat, MatrixCommon, OdeBuilder, OdeSolverMethod, OdeSolverStopReason, Vector,
    error::OdeSolverError,
};
use std::cell::{Cell, RefCell};

type M = FaerMat<f64>;
type V = <M as MatrixCommon>::V;

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
    /// Largest number of accepted steps before [`FailureReason::StepLimit`].
    pub max_steps: usize,
    /// Stop at the first time the kinetic energy T drops below this ε (> 0). If
    /// T(t0) < ε already, the run stops at t0.
    pub stop_below_kinetic: Option<f64>,
    /// Times in [t0, t1], non-decreasing, at which to report the state.
    pub output_times: Vec<f64>,
    /// Keep the state after every accepted step (memory grows with the step count).
    pub trajectory: bool,
    /// The integrator (default [`Method::Tsit45`]).
    pub method: Method,
    /// When [`Method::Tsit45`] monitors the energy for [`Solution::energy`] (default
    /// [`EnergyMonitor::WhenFree`]); [`Method::EnergyProjected`] always does.
    pub energy_monitor: EnergyMonitor,
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
    /// Sets when [`Method::Tsit45`] monitors the energy.
    pub fn energy_monitor(mut self, monitor: EnergyMonitor) -> Self {
        self.energy_monitor = monitor;
        self
    }

    fn validate(&self) -> Result<()> {
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
}

/// Work done by one integration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SolveStats {
    /// Right-hand-side evaluations (each is one acceleration evaluation); for
    /// [`Method::GraphRattle`], loss-gradient evaluations (no curvature term).
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

/// The result of [`integrate`].
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
    /// [`Method::EnergyProjected`]; with [`Method::Tsit45`] as
    /// [`IntegrateOptions::energy_monitor`] says (`None` when not monitored).
    pub energy: Option<EnergyReport>,
}

struct Cache {
    t: f64,
    y: Vec<f64>,
    kinetic: f64,
    potential: Option<f64>,
    power: Option<f64>,
    valid: bool,
}

/// Integrates `system` from (x0, v0) at `opts.t0` to `opts.t1` (or the stop event).
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
    if matches!(opts.method, Method::EnergyProjected | Method::EnergyProjectedDopri5) {
        return crate::stable::integrate_projected(system, x0, v0, opts);
    }
    if matches!(opts.method, Method::GraphRattle) {
        return crate::rattle::integrate_graph(system, x0, v0, opts);
    }

    let mut y0 = Vec::with_capacity(2 * n);
    y0.extend_from_slice(x0);
    y0.extend_from_slice(v0);

    // Evaluate once up front: surfaces objective errors at t0 with a clear time,
    // and gives T(t0) for the stop event.
    let mut a0 = vec![0.0; n];
    let ev0 = system
        .evaluate(opts.t0, x0, v0, &mut a0)
        .map_err(|e| Error::Integration { t: opts.t0, reason: FailureReason::Evaluation(Box::new(e)) })?;
    let kin0 = ev0.kinetic;
    check_finite("initial acceleration", &a0)
        .map_err(|e| Error::Integration { t: opts.t0, reason: FailureReason::Evaluation(Box::new(e)) })?;
    // Energy monitoring (free when the evaluation reports V and the power).
    let energy_calls = Cell::new(0usize);
    let fused = ev0.potential.is_some() && ev0.dissipated_power.is_some();
    let mut tracker = match opts.energy_monitor {
        EnergyMonitor::Off => None,
        EnergyMonitor::WhenFree if !fused => None,
        _ => {
            let (pot, power) = match (ev0.potential, ev0.dissipated_power) {
                (Some(p), Some(w)) => (p, w),
                _ => {
                    energy_calls.set(energy_calls.get() + 2);
                    let e = system.energy(x0, v0).map_err(|e| eval_error(opts.t0, e))?;
                    (e.potential, system.dissipated_power(opts.t0, x0, v0).map_err(|e| eval_error(opts.t0, e))?)
                }
            };
            Some(EnergyTracker::new(kin0 + pot, power))
        }
    };

    let (mut outputs, mut out_idx, mut trajectory) = initial_records(opts, x0, v0);

    if let Some(eps) = opts.stop_below_kinetic
        && kin0 < eps
    {
        return Ok(Solution {
            t: opts.t0,
            x: x0.to_vec(),
            v: v0.to_vec(),
            stop: StopReason::KineticBelow { threshold: eps },
            stats: SolveStats { rhs_evaluations: 1, energy_evaluations: energy_calls.get(), ..SolveStats::default() },
            outputs,
            trajectory,
            energy: tracker.as_ref().map(EnergyTracker::report),
        });
    }

    let calls = Cell::new(1usize);
    let failure: RefCell<Option<Error>> = RefCell::new(None);
    let cache = RefCell::new(Cache {
        t: f64::NAN,
        y: vec![0.0; 2 * n],
        kinetic: f64::NAN,
        potential: None,
        power: None,
        valid: false,
    });
    let rhs = |y: &[f64], _p: &[f64], t: f64, dy: &mut [f64]| {
        // After a failed evaluation the step is undone (see `integrate`), so the stages
        // only have to stay finite: zeros, not NaN, because diffsol keeps its stage
        // columns between attempts and 0·NaN would poison the retry. Such stages are not
        // evaluated and not counted.
        if failure.borrow().is_some() {
            dy.fill(0.0);
            return;
        }
        calls.set(calls.get() + 1);
        let (x, v) = y.split_at(n);
        let (dx, dv) = dy.split_at_mut(n);
        dx.copy_from_slice(v);
        match system.evaluate(t, x, v, dv) {
            Ok(ev) => {
                let mut c = cache.borrow_mut();
                c.t = t;
                c.y.copy_from_slice(y);
                c.kinetic = ev.kinetic;
                c.potential = ev.potential;
                c.power = ev.dissipated_power;
                c.valid = true;
            }
            Err(e) => {
                *failure.borrow_mut() = Some(e);
                dy.fill(0.0);
            }
        }
    };
    let y_init = y0.clone();
    let problem = OdeBuilder::<M>::new()
        .t0(opts.t0)
        .rtol(opts.rtol)
        .atol([opts.atol])
        .rhs(rhs)
        .init(move |_p, _t, y: &mut [f64]| y.copy_from_slice(&y_init), 2 * n)
        .build()
        .map_err(|e| solver_error(opts.t0, e))?;
    let mut solver = problem.tsit45().map_err(|e| solver_error(opts.t0, e))?;
    solver.set_stop_time(opts.t1).map_err(|e| solver_error(opts.t0, e))?;

    let mut y = y0;
    let mut t_prev = opts.t0;
    let mut interp: V = solver.state().y.clone();
    // ẏ at the last accepted state (the FSAL stage), to put the solver back there when
    // a step met a non-finite stage.
    let mut dy_prev: V = solver.state().dy.clone();
    // Steps undone after a non-finite stage: in all, and since the last good step.
    let (mut retries, mut consecutive_retries) = (0usize, 0usize);
    let mut stop = StopReason::FinalTime;
    let mut t_end;
    loop {
        let res = solver.step();
        let t_now = solver.state().t;
        if let Some(e) = failure.borrow_mut().take() {
            let non_finite = matches!(e, Error::NonFinite { .. });
            // Half the step diffsol ended up taking after the failed stage (the zero
            // stages may have made it shrink h further before accepting).
            let h_half = 0.5 * (t_now - t_prev);
            let err = Error::Integration { t: t_prev, reason: FailureReason::Evaluation(Box::new(e)) };
            if !non_finite
                || res.is_err()
                || consecutive_retries >= crate::stable::MAX_REJECTIONS
                || h_half.is_nan()
                || h_half < crate::stable::MIN_STEP.max(16.0 * f64::EPSILON * t_prev.abs())
            {
                return Err(err);
            }
            retries += 1;
            consecutive_retries += 1;
            let state = solver.state_mut();
            for (i, yi) in y.iter().enumerate() {
                state.y[i] = *yi;
            }
            state.dy.copy_from(&dy_prev);
            *state.t = t_prev;
            *state.h = h_half;
            continue;
        }
        consecutive_retries = 0;
        let reason = res.map_err(|e| solver_error(t_prev, e))?;
        dy_prev.copy_from(solver.state().dy);
        {
            let sy = solver.state().y;
            for (i, yi) in y.iter_mut().enumerate() {
                *yi = sy[i];
            }
        }
        if !y.iter().all(|v| v.is_finite()) {
            return Err(Error::Integration { t: t_prev, reason: FailureReason::NonFiniteState });
        }
        // diffsol may land within rounding of t1 when it reaches the stop time; the run
        // ends exactly at t1 (outputs at t1 must not be dropped).
        t_end = if matches!(reason, OdeSolverStopReason::TstopReached) { opts.t1 } else { t_now };

        // Energy at the accepted step: from the FSAL evaluation when it is cached.
        let cached = {
            let c = cache.borrow();
            if c.valid && c.t == t_now && c.y == y { Some((c.kinetic, c.potential, c.power)) } else { None }
        };
        let mut pending = None;
        if tracker.is_some() {
            let (h_now, power) = match cached {
                Some((k, Some(p), Some(w))) => (k + p, w),
                _ => {
                    energy_calls.set(energy_calls.get() + 2);
                    let (x, v) = y.split_at(n);
                    let e = system.energy(x, v).map_err(|e| eval_error(t_now, e))?;
                    (e.total(), system.dissipated_power(t_now, x, v).map_err(|e| eval_error(t_now, e))?)
                }
            };
            pending = Some((h_now, power != 0.0));
        }

        // Stop event: the first time T < ε, located by bisection on the dense output.
        if let Some(eps) = opts.stop_below_kinetic {
            let kin = match cached {
                Some((k, _, _)) => k,
                None => {
                    energy_calls.set(energy_calls.get() + 1);
                    kinetic_at(system, &y, n).map_err(|e| eval_error(t_now, e))?
                }
            };
            if kin < eps {
                let (mut lo, mut hi) = (t_prev, t_now);
                for _ in 0..200 {
                    if hi - lo <= 4.0 * f64::EPSILON * hi.abs().max(1.0) {
                        break;
                    }
                    let mid = 0.5 * (lo + hi);
                    solver.interpolate_inplace(mid, &mut interp).map_err(|e| solver_error(mid, e))?;
                    copy_vec(&interp, &mut y);
                    energy_calls.set(energy_calls.get() + 1);
                    let k = kinetic_at(system, &y, n).map_err(|e| eval_error(mid, e))?;
                    if k < eps { hi = mid } else { lo = mid }
                }
                if hi < t_now {
                    solver.interpolate_inplace(hi, &mut interp).map_err(|e| solver_error(hi, e))?;
                    copy_vec(&interp, &mut y);
                }
                t_end = hi;
                stop = StopReason::KineticBelow { threshold: eps };
                // The monitored energy ends at the event state, not the step end.
                if let Some((h_now, _)) = pending.as_mut() {
                    energy_calls.set(energy_calls.get() + 1);
                    let (x, v) = y.split_at(n);
                    *h_now = system.energy(x, v).map_err(|e| eval_error(hi, e))?.total();
                }
            }
        }

        if let (Some(tr), Some((h_now, power_seen))) = (tracker.as_mut(), pending) {
            tr.record(h_now, power_seen);
        }
        while out_idx < opts.output_times.len() && opts.output_times[out_idx] <= t_end {
            let to = opts.output_times[out_idx];
            let mut yo = vec![0.0; 2 * n];
            if to == t_end {
                yo.copy_from_slice(&y);
            } else {
                solver.interpolate_inplace(to, &mut interp).map_err(|e| solver_error(to, e))?;
                copy_vec(&interp, &mut yo);
            }
            let v = yo.split_off(n);
            outputs.push(StatePoint { t: to, x: yo, v });
            out_idx += 1;
        }
        if let Some(tr) = trajectory.as_mut() {
            tr.push(StatePoint { t: t_end, x: y[..n].to_vec(), v: y[n..].to_vec() });
        }
        if matches!(stop, StopReason::KineticBelow { .. })
            || matches!(reason, OdeSolverStopReason::TstopReached)
            || t_end >= opts.t1
        {
            break;
        }
        if solver.get_statistics().number_of_steps - retries >= opts.max_steps {
            return Err(Error::Integration {
                t: t_end,
                reason: FailureReason::StepLimit { max_steps: opts.max_steps },
            });
        }
        t_prev = t_now;
    }
    let st = solver.get_statistics();
    let stats = SolveStats {
        rhs_evaluations: calls.get(),
        // diffsol counted the undone steps as accepted.
        accepted_steps: st.number_of_steps - retries,
        rejected_steps: st.number_of_error_test_failures + retries,
        energy_evaluations: energy_calls.get(),
    };
    let v = y.split_off(n);
    let energy = tracker.as_ref().map(EnergyTracker::report);
    Ok(Solution { t: t_end, x: y, v, stop, stats, outputs, trajectory, energy })
}

/// The records a run starts with: one copy of the state at t0 for every output time at
/// or before t0, the index of the first later output time, and the trajectory's first
/// point when a trajectory is asked for. Shared by all integration methods.
pub(crate) fn initial_records(
    opts: &IntegrateOptions,
    x0: &[f64],
    v0: &[f64],
) -> (Vec<StatePoint>, usize, Option<Vec<StatePoint>>) {
    let mut outputs = Vec::with_capacity(opts.output_times.len());
    let mut out_idx = 0;
    while out_idx < opts.output_times.len() && opts.output_times[out_idx] <= opts.t0 {
        outputs.push(StatePoint { t: opts.t0, x: x0.to_vec(), v: v0.to_vec() });
        out_idx += 1;
    }
    let trajectory = opts.trajectory.then(|| vec![StatePoint { t: opts.t0, x: x0.to_vec(), v: v0.to_vec() }]);
    (outputs, out_idx, trajectory)
}

fn copy_vec(src: &V, dst: &mut [f64]) {
    for (i, d) in dst.iter_mut().enumerate() {
        *d = src[i];
    }
}

fn kinetic_at<S: SecondOrderSystem + ?Sized>(system: &S, y: &[f64], n: usize) -> Result<f64> {
    let (x, v) = y.split_at(n);
    system.kinetic_energy(x, v)
}

fn eval_error(t: f64, e: Error) -> Error {
    Error::Integration { t, reason: FailureReason::Evaluation(Box::new(e)) }
}

fn solver_error(t: f64, e: DiffsolError) -> Error {
    match e {
        DiffsolError::OdeSolverError(OdeSolverError::StepSizeTooSmall { time }) => {
            Error::Integration { t: time, reason: FailureReason::StepSizeUnderflow }
        }
        DiffsolError::OdeSolverError(OdeSolverError::TooManyErrorTestFailures { time, .. }) => {
            Error::Integration { t: time, reason: FailureReason::TooManyRejections }
        }
        other => Error::Integration { t, reason: FailureReason::Solver(other.to_string()) },
    }
}
