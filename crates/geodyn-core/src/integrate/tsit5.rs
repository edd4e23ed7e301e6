//! diffsol's explicit Tsitouras 5(4) pair ([`Method::Tsit5`]), for first-order systems
//! and second-order systems alike.
//!
//! # The method
//!
//! A [`FirstOrderSystem`] ẏ = f(t, y) is solved with diffsol's Tsit45 (Tsitouras 2011:
//! 7 stages, first-same-as-last, embedded 4th-order error estimate, diffsol's step-size
//! control) under mixed absolute/relative tolerances. A second-order system
//! ẍ = a(t, x, ẋ) is the case y = (x, v), f = (v, a). Output times are interpolated by
//! diffsol's dense output; the stop event (g < 0 for the system's stop function, or
//! T < ε) is located on it by Illinois regula falsi. The right-hand side writes straight
//! into the solver's buffers and does not allocate.
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
//! size; the stop event costs 5–10 evaluations of the stop function (T for second-order
//! systems) and one per accepted step.
//!
//! # When not to use it
//!
//! For dissipative mechanics whose energy must not rise (DiMS, RLA geodesics that must
//! conserve T), use [`Method::ProjectedTsit5`] at the same cost per step, or
//! [`Method::LossGraphRattle`] on loss graphs.

use super::controller::{MAX_REJECTIONS, step_underflows};
use super::driver::{Advance, Finished, Located, Records, Stepper, drive, first_crossing};
use super::first_order::{FirstOrderPoint, FirstOrderSolution, FirstOrderSystem};
#[cfg(doc)]
use super::method::Method;
use super::options::{EnergyMonitor, IntegrateOptions};
use super::solution::{EnergyTracker, Solution, SolveStats, StatePoint, StopReason};
use crate::error::{Error, FailureReason, Result, check_finite, evaluation_error};
use crate::mechanics::{Evaluation, SecondOrderSystem};
use diffsol::{
    DiffsolError, FaerMat, MatrixCommon, OdeBuilder, OdeEquations, OdeSolverMethod, OdeSolverStopReason, Vector,
    error::OdeSolverError,
};
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;

type M = FaerMat<f64>;
type V = <M as MatrixCommon>::V;

/// After an accepted step: the stop function (when the run has a stop event), and H with
/// whether power was dissipated (when the energy is monitored).
type AtStep = (Option<f64>, Option<(f64, bool)>);

/// What the Tsit5 stepper integrates: ẏ = f(t, y), the stop function along the
/// solution, the energy record and how a state is reported.
pub(crate) trait Tsit5Rhs {
    /// The record of a state.
    type Point: Clone;
    /// f(t, y) into `dy`.
    fn rhs(&self, t: f64, y: &[f64], dy: &mut [f64]) -> Result<()>;
    /// After an accepted step to (t, y): the stop function there (when the run has a stop
    /// event) and the energy record (when monitored).
    fn at_step(&self, t: f64, y: &[f64]) -> Result<AtStep>;
    /// The stop function at (t, y) of the dense output.
    fn stop_value(&self, t: f64, y: &[f64]) -> Result<f64>;
    /// The stop function's value scale: location ends where −scale·1e-12 < g < 0.
    fn stop_scale(&self) -> f64;
    /// H at the stop-event state, when the energy is monitored.
    fn event_energy(&self, t: f64, y: &[f64]) -> Result<Option<f64>>;
    /// The record of (t, y).
    fn point(&self, t: f64, y: &[f64]) -> Self::Point;
}

/// The first-order path of [`integrate_first_order`](super::integrate_first_order);
/// `opts` is validated and y0 checked by the caller.
pub(crate) fn solve_first_order<F: FirstOrderSystem + ?Sized>(
    system: &F,
    y0: &[f64],
    opts: &IntegrateOptions,
) -> Result<FirstOrderSolution> {
    let mut dy0 = vec![0.0; y0.len()];
    system.rhs(opts.t0, y0, &mut dy0).map_err(|e| evaluation_error(opts.t0, e))?;
    check_finite("initial derivative", &dy0).map_err(|e| evaluation_error(opts.t0, e))?;
    let rhs = FirstOrder { system, stop_calls: Cell::new(0) };
    let g0 = rhs.stop_function(opts.t0, y0)?;
    let records = Records::start(opts, &FirstOrderPoint { t: opts.t0, y: y0.to_vec() });
    let (finished, mut stats) = match g0 {
        Some(g) if g < 0.0 => {
            let p0 = FirstOrderPoint { t: opts.t0, y: y0.to_vec() };
            (
                Finished::stopped_at_start(opts.t0, p0, records, None),
                SolveStats { rhs_evaluations: 1, ..SolveStats::default() },
            )
        }
        _ => run(&rhs, (y0, g0.unwrap_or(f64::NAN)), opts, records, None)?,
    };
    stats.energy_evaluations = rhs.stop_calls.get();
    Ok(FirstOrderSolution {
        t: finished.t,
        y: finished.point.y,
        stop: if finished.stopped { StopReason::StopFunction } else { StopReason::FinalTime },
        stats,
        outputs: finished.records.outputs,
        trajectory: finished.records.trajectory,
    })
}

/// The second-order path of [`integrate`](crate::integrate()) with [`Method::Tsit5`]:
/// the first-order system y = (x, v), ẏ = (v, a); `opts` is validated and (x0, v0)
/// checked by the caller.
pub(crate) fn solve<S: SecondOrderSystem + ?Sized>(
    system: &S,
    x0: &[f64],
    v0: &[f64],
    opts: &IntegrateOptions,
) -> Result<Solution> {
    let n = system.dim();
    let energy_calls = Cell::new(0usize);
    // One evaluation at t0 surfaces objective errors with a clear time and gives T(t0).
    let mut a0 = vec![0.0; n];
    let ev0 = system.evaluate(opts.t0, x0, v0, &mut a0).map_err(|e| evaluation_error(opts.t0, e))?;
    check_finite("initial acceleration", &a0).map_err(|e| evaluation_error(opts.t0, e))?;
    let tracker = start_tracker(system, opts, (x0, v0), &ev0, &energy_calls)?;
    let records = Records::start(opts, &StatePoint { t: opts.t0, x: x0.to_vec(), v: v0.to_vec() });
    let (finished, mut stats) = match opts.stop_below_kinetic {
        Some(eps) if ev0.kinetic < eps => (
            Finished::at_start(opts.t0, x0, v0, records, tracker),
            SolveStats { rhs_evaluations: 1, ..SolveStats::default() },
        ),
        _ => {
            let rhs = SecondOrder {
                system,
                n,
                stop_below: opts.stop_below_kinetic,
                monitored: tracker.is_some(),
                energy_calls: &energy_calls,
                cache: RefCell::new(Cache { t: f64::NAN, y: vec![0.0; 2 * n], energies: None }),
            };
            let mut y0 = Vec::with_capacity(2 * n);
            y0.extend_from_slice(x0);
            y0.extend_from_slice(v0);
            run(&rhs, (&y0, opts.stop_below_kinetic.map_or(f64::NAN, |eps| ev0.kinetic - eps)), opts, records, tracker)?
        }
    };
    stats.energy_evaluations = energy_calls.get();
    Ok(finished.into_solution(stats, opts))
}

/// Runs the Tsit5 stepper on `rhs` from y0 at t0 (where f was evaluated once already).
fn run<P: Tsit5Rhs>(
    rhs: &P,
    (y0, g0): (&[f64], f64),
    opts: &IntegrateOptions,
    records: Records<P::Point>,
    tracker: Option<EnergyTracker>,
) -> Result<(Finished<P::Point>, SolveStats)> {
    let state = RhsState { rhs, calls: Cell::new(1usize), failure: RefCell::new(None) };
    let f = |y: &[f64], _p: &[f64], t: f64, dy: &mut [f64]| state.eval(y, t, dy);
    let y_init = y0.to_vec();
    // Fixed steps: tolerances no step fails, the step size is set before every step.
    let (atol, rtol) = match opts.fixed_step {
        Some(_) => (1e300, 1e300),
        None => (opts.atol, opts.rtol),
    };
    let problem = OdeBuilder::<M>::new()
        .t0(opts.t0)
        .rtol(rtol)
        .atol([atol])
        .rhs(f)
        .init(move |_p, _t, y: &mut [f64]| y.copy_from_slice(&y_init), y0.len())
        .build()
        .map_err(|e| solver_error(opts.t0, e))?;
    let mut solver = problem.tsit45().map_err(|e| solver_error(opts.t0, e))?;
    solver.set_stop_time(opts.t1).map_err(|e| solver_error(opts.t0, e))?;
    let mut stepper = Tsit5Stepper {
        state: &state,
        y: y0.to_vec(),
        t_prev: opts.t0,
        t_now: opts.t0,
        t: opts.t0,
        interp: solver.state().y.clone(),
        dy_prev: solver.state().dy.clone(),
        retries: 0,
        g: (f64::NAN, g0),
        solver,
        eqn: PhantomData,
    };
    let finished = drive(&mut stepper, opts, records, tracker)?;
    let st = stepper.solver.get_statistics();
    let stats = SolveStats {
        rhs_evaluations: state.calls.get(),
        // diffsol counted the undone steps as accepted.
        accepted_steps: st.number_of_steps - stepper.retries,
        rejected_steps: st.number_of_error_test_failures + stepper.retries,
        energy_evaluations: 0,
    };
    Ok((finished, stats))
}

/// diffsol's Tsit45 solver as a [`Stepper`]: the accepted state y at `t` (t1 exactly
/// once reached), the solver's own time `t_now` and the last step's start `t_prev`.
struct Tsit5Stepper<'a, P: Tsit5Rhs, Eqn, Sv> {
    state: &'a RhsState<'a, P>,
    solver: Sv,
    y: Vec<f64>,
    t_prev: f64,
    t_now: f64,
    t: f64,
    /// The dense output's buffer.
    interp: V,
    /// ẏ at the last accepted state (the FSAL stage), to put the solver back there when
    /// a step met a non-finite stage.
    dy_prev: V,
    /// Steps undone after a non-finite stage.
    retries: usize,
    /// The stop function at the last step's start and end.
    g: (f64, f64),
    eqn: PhantomData<Eqn>,
}

impl<'a, P, Eqn, Sv> Tsit5Stepper<'a, P, Eqn, Sv>
where
    P: Tsit5Rhs,
    Eqn: OdeEquations<T = f64, V = V> + 'a,
    Sv: OdeSolverMethod<'a, Eqn>,
{
    /// The dense output at `t` into `out`.
    fn interpolate(&mut self, t: f64, out: &mut [f64]) -> Result<()> {
        self.solver.interpolate_inplace(t, &mut self.interp).map_err(|e| solver_error(t, e))?;
        for (i, d) in out.iter_mut().enumerate() {
            *d = self.interp[i];
        }
        Ok(())
    }
}

impl<'a, P, Eqn, Sv> Stepper for Tsit5Stepper<'a, P, Eqn, Sv>
where
    P: Tsit5Rhs,
    Eqn: OdeEquations<T = f64, V = V> + 'a,
    Sv: OdeSolverMethod<'a, Eqn>,
{
    type Point = P::Point;

    fn t(&self) -> f64 {
        self.t
    }

    fn point(&self) -> P::Point {
        self.state.rhs.point(self.t, &self.y)
    }

    fn advance(&mut self, opts: &IntegrateOptions) -> Result<Advance> {
        if self.solver.get_statistics().number_of_steps - self.retries >= opts.max_steps {
            return Err(Error::Integration {
                t: self.t,
                reason: FailureReason::StepLimit { max_steps: opts.max_steps },
            });
        }
        let mut consecutive_retries = 0usize;
        if let Some(h) = opts.fixed_step {
            *self.solver.state_mut().h = h;
        }
        // The last accepted time is `t_now` until this step is accepted.
        let reason = loop {
            let res = self.solver.step();
            let t_solver = self.solver.state().t;
            let Some(e) = self.state.failure.borrow_mut().take() else {
                break res.map_err(|e| solver_error(self.t_now, e))?;
            };
            // Half the step diffsol ended up taking after the failed stage (the zero
            // stages may have made it shrink h further before accepting).
            let h_half = 0.5 * (t_solver - self.t_now);
            let non_finite = matches!(e, Error::NonFinite { .. });
            let err = evaluation_error(self.t_now, e);
            if !non_finite
                || opts.fixed_step.is_some()
                || res.is_err()
                || consecutive_retries >= MAX_REJECTIONS
                || step_underflows(self.t_now, h_half)
            {
                return Err(err);
            }
            self.retries += 1;
            consecutive_retries += 1;
            let state = self.solver.state_mut();
            for (i, yi) in self.y.iter().enumerate() {
                state.y[i] = *yi;
            }
            state.dy.copy_from(&self.dy_prev);
            *state.t = self.t_now;
            *state.h = h_half;
        };
        self.t_prev = self.t_now;
        self.t_now = self.solver.state().t;
        self.dy_prev.copy_from(self.solver.state().dy);
        {
            let sy = self.solver.state().y;
            for (i, yi) in self.y.iter_mut().enumerate() {
                *yi = sy[i];
            }
        }
        if !self.y.iter().all(|v| v.is_finite()) {
            return Err(Error::Integration { t: self.t_prev, reason: FailureReason::NonFiniteState });
        }
        // diffsol may land within rounding of t1 when it reaches the stop time; the run
        // ends exactly at t1 (outputs at t1 must not be dropped).
        let stop_time = matches!(reason, OdeSolverStopReason::TstopReached);
        self.t = if stop_time { opts.t1 } else { self.t_now };
        let (stop_value, energy) = self.state.rhs.at_step(self.t_now, &self.y)?;
        self.g = (self.g.1, stop_value.unwrap_or(f64::NAN));
        Ok(Advance { last: stop_time || self.t >= opts.t1, stop_value, energy })
    }

    fn dense(&mut self, t: f64) -> Result<P::Point> {
        let mut y = vec![0.0; self.y.len()];
        self.interpolate(t, &mut y)?;
        Ok(self.state.rhs.point(t, &y))
    }

    fn locate_stop(&mut self, _opts: &IntegrateOptions) -> Result<Located<P::Point>> {
        let (lo, hi) = (self.t_prev, self.t_now);
        let rhs = self.state.rhs;
        let mut y = vec![0.0; self.y.len()];
        let (g_lo, g_hi) = self.g;
        let tol = 4.0 * f64::EPSILON * hi.abs().max(1.0);
        let te = {
            let mut g = |t: f64| -> Result<f64> {
                self.interpolate(t, &mut y)?;
                rhs.stop_value(t, &y)
            };
            first_crossing(&mut g, (lo, g_lo), (hi, g_hi), (tol, 1e-12 * rhs.stop_scale()), 0)?
        };
        let (te, y) = if te >= hi {
            (self.t, self.y.clone())
        } else {
            let mut y = vec![0.0; self.y.len()];
            self.interpolate(te, &mut y)?;
            (te, y)
        };
        let energy = rhs.event_energy(te, &y)?;
        Ok(Located { t: te, point: rhs.point(te, &y), energy })
    }
}

/// The right-hand side as diffsol calls it: the evaluation count and the first failed
/// evaluation since the last accepted step.
struct RhsState<'a, P> {
    rhs: &'a P,
    calls: Cell<usize>,
    failure: RefCell<Option<Error>>,
}

impl<P: Tsit5Rhs> RhsState<'_, P> {
    /// f(t, y) into `dy`. After a failed evaluation the step is undone (see
    /// [`Tsit5Stepper::advance`]), so the stages only have to stay finite: zeros, not NaN,
    /// because diffsol keeps its stage columns between attempts and 0·NaN would poison
    /// the retry. Such stages are not evaluated and not counted.
    fn eval(&self, y: &[f64], t: f64, dy: &mut [f64]) {
        if self.failure.borrow().is_some() {
            dy.fill(0.0);
            return;
        }
        self.calls.set(self.calls.get() + 1);
        if let Err(e) = self.rhs.rhs(t, y, dy) {
            *self.failure.borrow_mut() = Some(e);
            dy.fill(0.0);
        }
    }
}

/// A [`FirstOrderSystem`] for the stepper, counting its stop-function calls.
struct FirstOrder<'a, F: ?Sized> {
    system: &'a F,
    stop_calls: Cell<usize>,
}

impl<F: FirstOrderSystem + ?Sized> FirstOrder<'_, F> {
    fn stop_function(&self, t: f64, y: &[f64]) -> Result<Option<f64>> {
        match self.system.stop_function(t, y) {
            None => Ok(None),
            Some(r) => {
                self.stop_calls.set(self.stop_calls.get() + 1);
                r.map(Some).map_err(|e| evaluation_error(t, e))
            }
        }
    }
}

impl<F: FirstOrderSystem + ?Sized> Tsit5Rhs for FirstOrder<'_, F> {
    type Point = FirstOrderPoint;
    fn rhs(&self, t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
        self.system.rhs(t, y, dy)
    }
    fn at_step(&self, t: f64, y: &[f64]) -> Result<AtStep> {
        Ok((self.stop_function(t, y)?, None))
    }
    fn stop_value(&self, t: f64, y: &[f64]) -> Result<f64> {
        Ok(self.stop_function(t, y)?.unwrap_or(0.0))
    }
    fn stop_scale(&self) -> f64 {
        0.0
    }
    fn event_energy(&self, _t: f64, _y: &[f64]) -> Result<Option<f64>> {
        Ok(None)
    }
    fn point(&self, t: f64, y: &[f64]) -> FirstOrderPoint {
        FirstOrderPoint { t, y: y.to_vec() }
    }
}

/// The last evaluation of a second-order right-hand side: where, and its (T, V, power).
struct Cache {
    t: f64,
    y: Vec<f64>,
    energies: Option<(f64, Option<f64>, Option<f64>)>,
}

/// A [`SecondOrderSystem`] as the first-order system y = (x, v), ẏ = (v, a), with the
/// stop event T < ε and the energy record; the last evaluation's energies are cached,
/// so that the FSAL stage gives them at accepted steps for free.
struct SecondOrder<'a, S: ?Sized> {
    system: &'a S,
    n: usize,
    stop_below: Option<f64>,
    monitored: bool,
    energy_calls: &'a Cell<usize>,
    cache: RefCell<Cache>,
}

impl<S: SecondOrderSystem + ?Sized> SecondOrder<'_, S> {
    /// (T, V, power) of the last evaluation if it was at (t, y).
    fn cached(&self, t: f64, y: &[f64]) -> Option<(f64, Option<f64>, Option<f64>)> {
        let c = self.cache.borrow();
        if c.t == t && c.y == y { c.energies } else { None }
    }

    /// T at y, counted.
    fn kinetic(&self, t: f64, y: &[f64]) -> Result<f64> {
        self.energy_calls.set(self.energy_calls.get() + 1);
        let (x, v) = y.split_at(self.n);
        self.system.kinetic_energy(x, v).map_err(|e| evaluation_error(t, e))
    }
}

impl<S: SecondOrderSystem + ?Sized> Tsit5Rhs for SecondOrder<'_, S> {
    type Point = StatePoint;

    fn rhs(&self, t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
        let (x, v) = y.split_at(self.n);
        let (dx, dv) = dy.split_at_mut(self.n);
        dx.copy_from_slice(v);
        let ev = self.system.evaluate(t, x, v, dv)?;
        let mut c = self.cache.borrow_mut();
        c.t = t;
        c.y.copy_from_slice(y);
        c.energies = Some((ev.kinetic, ev.potential, ev.dissipated_power));
        Ok(())
    }

    fn at_step(&self, t: f64, y: &[f64]) -> Result<AtStep> {
        let cached = self.cached(t, y);
        let energy = match self.monitored {
            true => Some(energy_at_step(self.system, t, y, cached, self.energy_calls)?),
            false => None,
        };
        let stop = match self.stop_below {
            Some(eps) => Some(
                match cached {
                    Some((k, _, _)) => k,
                    None => self.kinetic(t, y)?,
                } - eps,
            ),
            None => None,
        };
        Ok((stop, energy))
    }

    fn stop_value(&self, t: f64, y: &[f64]) -> Result<f64> {
        Ok(self.kinetic(t, y)? - self.stop_below.unwrap_or(0.0))
    }

    fn stop_scale(&self) -> f64 {
        self.stop_below.unwrap_or(0.0)
    }

    fn event_energy(&self, t: f64, y: &[f64]) -> Result<Option<f64>> {
        if !self.monitored {
            return Ok(None);
        }
        self.energy_calls.set(self.energy_calls.get() + 1);
        let (x, v) = y.split_at(self.n);
        Ok(Some(self.system.energy(x, v).map_err(|e| evaluation_error(t, e))?.total()))
    }

    fn point(&self, t: f64, y: &[f64]) -> StatePoint {
        StatePoint { t, x: y[..self.n].to_vec(), v: y[self.n..].to_vec() }
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
