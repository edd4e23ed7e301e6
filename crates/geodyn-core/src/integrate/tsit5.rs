//! diffsol's explicit Tsitouras 5(4) pair ([`Method::Tsit5`]).
//!
//! # The method
//!
//! ẍ = a(t, x, ẋ) is solved as the first-order system y = (x, v), ẏ = (v, a), with
//! diffsol's Tsit45 (Tsitouras 2011: 7 stages, first-same-as-last, embedded 4th-order
//! error estimate, diffsol's step-size control) under mixed absolute/relative
//! tolerances. Output times are interpolated by diffsol's dense output; the stop event
//! T < ε is located by bisection on it. The right-hand side writes straight into the
//! solver's buffers and does not allocate.
//!
//! # Guarantees
//!
//! Order 5 under the usual local-error control. No energy guarantee: on stiff dissipative
//! systems the steps are stability-limited and H can rise between rejections
//! ([`Solution::energy`] reports the largest rise when monitored; see [`EnergyMonitor`]:
//! reading T and V from the FSAL evaluation makes it free for
//! [`Mechanics`](crate::Mechanics)).
//!
//! A stage whose evaluation fails with [`Error::NonFinite`] (a step so large that the
//! stage overflows) does not end the run: diffsol cannot be told to reject a step from
//! inside the right-hand side, so the step is undone afterwards — the solver is put back
//! at the last accepted state with half the failed step — and counted as a rejection.
//! Only if h cannot recover (underflow, or more than 40 consecutive retries) does the run
//! fail, with that evaluation's error. Any other evaluation error ends the run at once.
//!
//! # Cost
//!
//! 6 right-hand sides per attempted step, plus one at t0 and one for the initial step
//! size; the stop event costs about 40 kinetic-energy evaluations.
//!
//! # When not to use it
//!
//! For dissipative mechanics whose energy must not rise (DiMS, RLA geodesics that must
//! conserve T), use [`Method::ProjectedTsit5`] at the same cost per step, or
//! [`Method::LossGraphRattle`] on loss graphs.

use super::controller::{MAX_REJECTIONS, step_underflows};
#[cfg(doc)]
use super::method::Method;
use super::options::{EnergyMonitor, IntegrateOptions};
use super::save::initial_records;
use super::solution::{EnergyTracker, Solution, SolveStats, StatePoint, StopReason};
use crate::error::{Error, FailureReason, Result, check_finite, evaluation_error};
use crate::mechanics::{Evaluation, SecondOrderSystem};
use diffsol::{
    DiffsolError, FaerMat, MatrixCommon, OdeBuilder, OdeSolverMethod, OdeSolverStopReason, Vector,
    error::OdeSolverError,
};
use std::cell::{Cell, RefCell};

type M = FaerMat<f64>;
type V = <M as MatrixCommon>::V;

struct Cache {
    t: f64,
    y: Vec<f64>,
    kinetic: f64,
    potential: Option<f64>,
    power: Option<f64>,
    valid: bool,
}

/// The Tsit5 path of [`integrate`](crate::integrate()); `opts` is validated and (x0, v0)
/// checked by the caller.
pub(crate) fn solve<S: SecondOrderSystem + ?Sized>(
    system: &S,
    x0: &[f64],
    v0: &[f64],
    opts: &IntegrateOptions,
) -> Result<Solution> {
    let n = system.dim();
    let mut y0 = Vec::with_capacity(2 * n);
    y0.extend_from_slice(x0);
    y0.extend_from_slice(v0);

    let energy_calls = Cell::new(0usize);
    let (mut tracker, (mut outputs, mut out_idx, mut trajectory)) = match begin(system, x0, v0, opts, &energy_calls)? {
        Begin::Stopped(solution) => return Ok(solution),
        Begin::Run { tracker, records } => (tracker, records),
    };

    let state = RhsState {
        system,
        calls: Cell::new(1usize),
        failure: RefCell::new(None),
        cache: RefCell::new(Cache {
            t: f64::NAN,
            y: vec![0.0; 2 * n],
            kinetic: f64::NAN,
            potential: None,
            power: None,
            valid: false,
        }),
    };
    let rhs = |y: &[f64], _p: &[f64], t: f64, dy: &mut [f64]| state.eval(y, t, dy);
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
        if let Some(e) = state.failure.borrow_mut().take() {
            let non_finite = matches!(e, Error::NonFinite { .. });
            // Half the step diffsol ended up taking after the failed stage (the zero
            // stages may have made it shrink h further before accepting).
            let h_half = 0.5 * (t_now - t_prev);
            let err = Error::Integration { t: t_prev, reason: FailureReason::Evaluation(Box::new(e)) };
            if !non_finite || res.is_err() || consecutive_retries >= MAX_REJECTIONS || step_underflows(t_prev, h_half) {
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
        let cached = state.cached(t_now, &y);
        let mut pending = match tracker {
            Some(_) => Some(energy_at_step(system, t_now, &y, cached, &energy_calls)?),
            None => None,
        };

        // Stop event: the first time T < ε, located by bisection on the dense output.
        if let Some(eps) = opts.stop_below_kinetic {
            let kin = match cached {
                Some((k, _, _)) => k,
                None => {
                    energy_calls.set(energy_calls.get() + 1);
                    kinetic_at(system, &y, n).map_err(|e| evaluation_error(t_now, e))?
                }
            };
            if kin < eps {
                let mut interpolate = |t: f64, out: &mut [f64]| -> Result<()> {
                    solver.interpolate_inplace(t, &mut interp).map_err(|e| solver_error(t, e))?;
                    copy_vec(&interp, out);
                    Ok(())
                };
                let hi = locate_kinetic_below(system, eps, (t_prev, t_now), &mut y, &mut interpolate, &energy_calls)?;
                t_end = hi;
                stop = StopReason::KineticBelow { threshold: eps };
                // The monitored energy ends at the event state, not the step end.
                if let Some((h_now, _)) = pending.as_mut() {
                    energy_calls.set(energy_calls.get() + 1);
                    let (x, v) = y.split_at(n);
                    *h_now = system.energy(x, v).map_err(|e| evaluation_error(hi, e))?.total();
                }
            }
        }

        if let (Some(tr), Some((h_now, power_seen))) = (tracker.as_mut(), pending) {
            tr.record(h_now, power_seen);
        }
        let mut interpolate = |t: f64, out: &mut [f64]| -> Result<()> {
            solver.interpolate_inplace(t, &mut interp).map_err(|e| solver_error(t, e))?;
            copy_vec(&interp, out);
            Ok(())
        };
        push_outputs(&mut outputs, &mut out_idx, opts, t_end, &y, &mut interpolate)?;
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
        rhs_evaluations: state.calls.get(),
        // diffsol counted the undone steps as accepted.
        accepted_steps: st.number_of_steps - retries,
        rejected_steps: st.number_of_error_test_failures + retries,
        energy_evaluations: energy_calls.get(),
    };
    let v = y.split_off(n);
    let energy = tracker.as_ref().map(EnergyTracker::report);
    Ok(Solution { t: t_end, x: y, v, stop, stats, outputs, trajectory, energy })
}

/// How a run begins: stopped at t0 (T(t0) < ε already), or running with its energy
/// tracker and initial records.
enum Begin {
    Stopped(Solution),
    Run { tracker: Option<EnergyTracker>, records: (Vec<StatePoint>, usize, Option<Vec<StatePoint>>) },
}

/// Evaluates once at t0, which surfaces objective errors with a clear time and gives
/// T(t0) for the stop event, and starts the energy monitor and the records.
fn begin<S: SecondOrderSystem + ?Sized>(
    system: &S,
    x0: &[f64],
    v0: &[f64],
    opts: &IntegrateOptions,
    energy_calls: &Cell<usize>,
) -> Result<Begin> {
    let n = system.dim();
    let mut a0 = vec![0.0; n];
    let ev0 = system
        .evaluate(opts.t0, x0, v0, &mut a0)
        .map_err(|e| Error::Integration { t: opts.t0, reason: FailureReason::Evaluation(Box::new(e)) })?;
    check_finite("initial acceleration", &a0)
        .map_err(|e| Error::Integration { t: opts.t0, reason: FailureReason::Evaluation(Box::new(e)) })?;
    let tracker = start_tracker(system, opts, (x0, v0), &ev0, energy_calls)?;
    let (outputs, out_idx, trajectory) = initial_records(opts, x0, v0);
    if let Some(eps) = opts.stop_below_kinetic
        && ev0.kinetic < eps
    {
        return Ok(Begin::Stopped(Solution {
            t: opts.t0,
            x: x0.to_vec(),
            v: v0.to_vec(),
            stop: StopReason::KineticBelow { threshold: eps },
            stats: SolveStats { rhs_evaluations: 1, energy_evaluations: energy_calls.get(), ..SolveStats::default() },
            outputs,
            trajectory,
            energy: tracker.as_ref().map(EnergyTracker::report),
        }));
    }
    Ok(Begin::Run { tracker, records: (outputs, out_idx, trajectory) })
}

/// The right-hand side's state: the evaluation count, the first failed evaluation since
/// the last accepted step, and the last evaluation's energies (for the FSAL stage).
struct RhsState<'a, S: ?Sized> {
    system: &'a S,
    calls: Cell<usize>,
    failure: RefCell<Option<Error>>,
    cache: RefCell<Cache>,
}

impl<S: SecondOrderSystem + ?Sized> RhsState<'_, S> {
    /// ẏ = (v, a(t, x, v)) into `dy`. After a failed evaluation the step is undone (see
    /// [`solve`]), so the stages only have to stay finite: zeros, not NaN, because diffsol
    /// keeps its stage columns between attempts and 0·NaN would poison the retry. Such
    /// stages are not evaluated and not counted.
    fn eval(&self, y: &[f64], t: f64, dy: &mut [f64]) {
        if self.failure.borrow().is_some() {
            dy.fill(0.0);
            return;
        }
        self.calls.set(self.calls.get() + 1);
        let n = y.len() / 2;
        let (x, v) = y.split_at(n);
        let (dx, dv) = dy.split_at_mut(n);
        dx.copy_from_slice(v);
        match self.system.evaluate(t, x, v, dv) {
            Ok(ev) => {
                let mut c = self.cache.borrow_mut();
                c.t = t;
                c.y.copy_from_slice(y);
                c.kinetic = ev.kinetic;
                c.potential = ev.potential;
                c.power = ev.dissipated_power;
                c.valid = true;
            }
            Err(e) => {
                *self.failure.borrow_mut() = Some(e);
                dy.fill(0.0);
            }
        }
    }

    /// (T, V, power) of the last evaluation if it was at (t, y).
    fn cached(&self, t: f64, y: &[f64]) -> Option<(f64, Option<f64>, Option<f64>)> {
        let c = self.cache.borrow();
        if c.valid && c.t == t && c.y == y { Some((c.kinetic, c.potential, c.power)) } else { None }
    }
}

/// H at an accepted state and whether power was dissipated: from the cached FSAL
/// evaluation when it reports V and the power, else by two counted energy calls.
fn energy_at_step<S: SecondOrderSystem + ?Sized>(
    system: &S,
    t: f64,
    y: &[f64],
    cached: Option<(f64, Option<f64>, Option<f64>)>,
    energy_calls: &Cell<usize>,
) -> Result<(f64, bool)> {
    let (h_now, power) = match cached {
        Some((k, Some(p), Some(w))) => (k + p, w),
        _ => {
            energy_calls.set(energy_calls.get() + 2);
            let (x, v) = y.split_at(y.len() / 2);
            let e = system.energy(x, v).map_err(|e| evaluation_error(t, e))?;
            (e.total(), system.dissipated_power(t, x, v).map_err(|e| evaluation_error(t, e))?)
        }
    };
    Ok((h_now, power != 0.0))
}

/// The energy tracker of a run, or `None` when [`IntegrateOptions::energy_monitor`] says
/// not to monitor: from the first evaluation's V and power when it reports them, else from
/// one [`energy`](SecondOrderSystem::energy) and one
/// [`dissipated_power`](SecondOrderSystem::dissipated_power) call (counted).
fn start_tracker<S: SecondOrderSystem + ?Sized>(
    system: &S,
    opts: &IntegrateOptions,
    (x0, v0): (&[f64], &[f64]),
    ev0: &Evaluation,
    energy_calls: &Cell<usize>,
) -> Result<Option<EnergyTracker>> {
    let fused = ev0.potential.is_some() && ev0.dissipated_power.is_some();
    Ok(match opts.energy_monitor {
        EnergyMonitor::Off => None,
        EnergyMonitor::WhenFree if !fused => None,
        _ => {
            let (pot, power) = match (ev0.potential, ev0.dissipated_power) {
                (Some(p), Some(w)) => (p, w),
                _ => {
                    energy_calls.set(energy_calls.get() + 2);
                    let e = system.energy(x0, v0).map_err(|e| evaluation_error(opts.t0, e))?;
                    (e.potential, system.dissipated_power(opts.t0, x0, v0).map_err(|e| evaluation_error(opts.t0, e))?)
                }
            };
            Some(EnergyTracker::new(ev0.kinetic + pot, power))
        }
    })
}

/// The first time in (`lo`, `hi`] where T < ε (T(hi) < ε ≤ T(lo)), by bisection on the
/// dense output `interpolate` to 4 ulp; leaves the state there in `y` and counts one
/// kinetic-energy evaluation per bisection step.
fn locate_kinetic_below<S: SecondOrderSystem + ?Sized>(
    system: &S,
    eps: f64,
    (mut lo, mut hi): (f64, f64),
    y: &mut [f64],
    interpolate: &mut dyn FnMut(f64, &mut [f64]) -> Result<()>,
    energy_calls: &Cell<usize>,
) -> Result<f64> {
    let (n, t_step_end) = (y.len() / 2, hi);
    for _ in 0..200 {
        if hi - lo <= 4.0 * f64::EPSILON * hi.abs().max(1.0) {
            break;
        }
        let mid = 0.5 * (lo + hi);
        interpolate(mid, y)?;
        energy_calls.set(energy_calls.get() + 1);
        let k = kinetic_at(system, y, n).map_err(|e| evaluation_error(mid, e))?;
        if k < eps { hi = mid } else { lo = mid }
    }
    if hi < t_step_end {
        interpolate(hi, y)?;
    }
    Ok(hi)
}

/// The outputs requested up to `t_end`: the state `y` at `t_end` itself, the dense output
/// `interpolate` before it.
fn push_outputs(
    outputs: &mut Vec<StatePoint>,
    out_idx: &mut usize,
    opts: &IntegrateOptions,
    t_end: f64,
    y: &[f64],
    interpolate: &mut dyn FnMut(f64, &mut [f64]) -> Result<()>,
) -> Result<()> {
    let n = y.len() / 2;
    while *out_idx < opts.output_times.len() && opts.output_times[*out_idx] <= t_end {
        let to = opts.output_times[*out_idx];
        let mut yo = vec![0.0; 2 * n];
        if to == t_end {
            yo.copy_from_slice(y);
        } else {
            interpolate(to, &mut yo)?;
        }
        let v = yo.split_off(n);
        outputs.push(StatePoint { t: to, x: yo, v });
        *out_idx += 1;
    }
    Ok(())
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
