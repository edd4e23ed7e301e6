//! The driver loop every method runs, over the [`Stepper`] trait: accepted steps, the
//! stop event located on the dense output ([`first_crossing`]), states at the requested
//! output times, the trajectory and the energy record.
//!
//! A method implements [`Stepper`] (one accepted step at a time, its dense output and
//! the stop function along it); [`drive`] does the rest the same way for all of them.

use super::options::IntegrateOptions;
use super::solution::{EnergyTracker, Solution, SolveStats, StatePoint, StopReason};
use crate::error::Result;

/// One accepted step as its stepper reports it.
pub(crate) struct Advance {
    /// Whether the step ended the interval (the state is at t1).
    pub(crate) last: bool,
    /// The stop function at the step's end when the run has a stop event (the run stops
    /// at the first time it is negative), else `None`.
    pub(crate) stop_value: Option<f64>,
    /// H at the step's end and whether power was dissipated during the step, when the
    /// run's energy is monitored.
    pub(crate) energy: Option<(f64, bool)>,
}

/// The state where the stop event fired, and H there when the energy is monitored.
pub(crate) struct Located<P> {
    pub(crate) t: f64,
    pub(crate) point: P,
    pub(crate) energy: Option<f64>,
}

/// One integration method as the driver sees it: a state that advances by accepted
/// steps, with dense output over the last one.
pub(crate) trait Stepper {
    /// The record of a state at one time (t, x, v) or (t, y).
    type Point: Clone;
    /// The time of the accepted state.
    fn t(&self) -> f64;
    /// A copy of the accepted state.
    fn point(&self) -> Self::Point;
    /// Takes one accepted step (rejected attempts are retried inside) towards
    /// `opts.t1`; fails when the step size or the step budget runs out.
    fn advance(&mut self, opts: &IntegrateOptions) -> Result<Advance>;
    /// The state at `t` within the last accepted step, from the method's dense output.
    fn dense(&mut self, t: f64) -> Result<Self::Point>;
    /// The first time in the last accepted step where the stop function is negative (it
    /// is ≥ 0 at the step's start and negative at its end), the state there and, when
    /// monitored, H there.
    fn locate_stop(&mut self, opts: &IntegrateOptions) -> Result<Located<Self::Point>>;
}

/// The records of a run: the states at the output times reached so far, the index of
/// the next output time, and the trajectory when one is asked for.
pub(crate) struct Records<P> {
    pub(crate) outputs: Vec<P>,
    pub(crate) next_output: usize,
    pub(crate) trajectory: Option<Vec<P>>,
}

impl<P: Clone> Records<P> {
    /// The records a run starts with: the initial state `p0` (at `opts.t0`) once for
    /// every output time at or before t0, and as the trajectory's first point.
    pub(crate) fn start(opts: &IntegrateOptions, p0: &P) -> Self {
        let mut outputs = Vec::with_capacity(opts.output_times.len());
        let mut next_output = 0;
        while next_output < opts.output_times.len() && opts.output_times[next_output] <= opts.t0 {
            outputs.push(p0.clone());
            next_output += 1;
        }
        let trajectory = opts.trajectory.then(|| vec![p0.clone()]);
        Self { outputs, next_output, trajectory }
    }
}

/// How a run ended.
pub(crate) struct Finished<P> {
    /// The time reached (t1 or the stop-event time).
    pub(crate) t: f64,
    /// The state there.
    pub(crate) point: P,
    /// Whether the stop event ended the run.
    pub(crate) stopped: bool,
    pub(crate) records: Records<P>,
    pub(crate) tracker: Option<EnergyTracker>,
}

impl<P: Clone> Finished<P> {
    /// A run that ends where it starts, at `t0`, because the stop event holds there.
    pub(crate) fn stopped_at_start(t0: f64, point: P, records: Records<P>, tracker: Option<EnergyTracker>) -> Self {
        Self { t: t0, point, stopped: true, records, tracker }
    }
}

impl Finished<StatePoint> {
    /// A second-order run that stops at t0 (T(t0) < ε already) in state (x0, v0).
    pub(crate) fn at_start(
        t0: f64,
        x0: &[f64],
        v0: &[f64],
        records: Records<StatePoint>,
        tracker: Option<EnergyTracker>,
    ) -> Self {
        Self::stopped_at_start(t0, StatePoint { t: t0, x: x0.to_vec(), v: v0.to_vec() }, records, tracker)
    }

    /// The [`Solution`] of a second-order run with the statistics `stats`.
    pub(crate) fn into_solution(self, stats: SolveStats, opts: &IntegrateOptions) -> Solution {
        let stop = match (self.stopped, opts.stop_below_kinetic) {
            (true, Some(threshold)) => StopReason::KineticBelow { threshold },
            _ => StopReason::FinalTime,
        };
        Solution {
            t: self.t,
            x: self.point.x,
            v: self.point.v,
            stop,
            stats,
            outputs: self.records.outputs,
            trajectory: self.records.trajectory,
            energy: self.tracker.as_ref().map(EnergyTracker::report),
        }
    }
}

/// Runs `stepper` from its current state to `opts.t1` or the stop event, recording the
/// outputs, the trajectory and (with a `tracker`) the energy of every accepted state.
pub(crate) fn drive<S: Stepper>(
    stepper: &mut S,
    opts: &IntegrateOptions,
    mut records: Records<S::Point>,
    mut tracker: Option<EnergyTracker>,
) -> Result<Finished<S::Point>> {
    loop {
        let step = stepper.advance(opts)?;
        let t = stepper.t();
        let event = match step.stop_value {
            Some(g) if g < 0.0 => Some(stepper.locate_stop(opts)?),
            _ => None,
        };
        let t_end = event.as_ref().map_or(t, |e| e.t);

        while records.next_output < opts.output_times.len() && opts.output_times[records.next_output] <= t_end {
            let to = opts.output_times[records.next_output];
            let point = match &event {
                Some(e) if to == e.t => e.point.clone(),
                None if to == t => stepper.point(),
                _ => stepper.dense(to)?,
            };
            records.outputs.push(point);
            records.next_output += 1;
        }

        if let (Some(tr), Some((h, power_seen))) = (tracker.as_mut(), step.energy) {
            tr.record(event.as_ref().and_then(|e| e.energy).unwrap_or(h), power_seen);
        }
        if let Some(e) = event {
            if let Some(tr) = records.trajectory.as_mut() {
                tr.push(e.point.clone());
            }
            return Ok(Finished { t: e.t, point: e.point, stopped: true, records, tracker });
        }
        // States are copied only where they are kept (no allocation per step otherwise).
        if let Some(tr) = records.trajectory.as_mut() {
            tr.push(stepper.point());
        }
        if step.last {
            let point = stepper.point();
            return Ok(Finished { t, point, stopped: false, records, tracker });
        }
    }
}

/// The first root of a scalar function along one step: `f` is ≥ 0 at `lo` (value
/// `f_lo`) and negative at `hi` (value `f_hi`). Returns a point `s` in (lo, hi] with
/// f(s) < 0 within `tol` of the crossing, by Illinois regula falsi (superlinear, about 5–10
/// evaluations of `f` on smooth functions), stopping early where −`f_tol` < f(s) < 0.
///
/// With `scan` > 0 the bracket is first narrowed to the first of `scan` equal
/// sub-intervals in which `f` turns negative, so that a later root of a function with
/// several in the step is not taken (for cheap `f` only: it costs up to `scan`
/// evaluations).
pub(crate) fn first_crossing(
    f: &mut dyn FnMut(f64) -> Result<f64>,
    (mut lo, mut f_lo): (f64, f64),
    (mut hi, mut f_hi): (f64, f64),
    (tol, f_tol): (f64, f64),
    scan: usize,
) -> Result<f64> {
    if scan > 0 {
        let (a, b) = (lo, hi);
        for i in 1..scan {
            let s = a + (b - a) * (i as f64 / scan as f64);
            let fs = f(s)?;
            if fs < 0.0 {
                (hi, f_hi) = (s, fs);
                break;
            }
            (lo, f_lo) = (s, fs);
        }
    }
    let mut side = 0i8;
    for _ in 0..100 {
        if hi - lo <= tol {
            break;
        }
        let mut m = (lo * f_hi - hi * f_lo) / (f_hi - f_lo);
        if !(m > lo && m < hi) {
            m = 0.5 * (lo + hi);
        }
        let fm = f(m)?;
        if fm < 0.0 {
            (hi, f_hi) = (m, fm);
            if side == -1 {
                f_lo *= 0.5;
            }
            side = -1;
            if fm > -f_tol {
                break;
            }
        } else {
            (lo, f_lo) = (m, fm);
            if side == 1 {
                f_hi *= 0.5;
            }
            side = 1;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The root of a cubic, f(s) = (s − 0.3)(s² + 1) on [0, 1], to the tolerance asked
    /// for, with f < 0 at the returned point, in far fewer evaluations than bisection's
    /// ~50.
    #[test]
    fn first_crossing_converges_superlinearly() {
        let g = |s: f64| -(s - 0.3) * (s * s + 1.0);
        let mut calls = 0;
        let mut f = |s: f64| {
            calls += 1;
            Ok(g(s))
        };
        let s = first_crossing(&mut f, (0.0, g(0.0)), (1.0, g(1.0)), (1e-15, 0.0), 0).unwrap();
        assert!(g(s) < 0.0 && (s - 0.3).abs() < 1e-14, "{s}");
        assert!(calls < 20, "{calls} evaluations");
    }

    /// With a scan the first of several roots is found: f(s) = cos(5πs) − 0.5 on
    /// [0, 0.9] turns negative at s = 1/15, 7/15 and 13/15 (and positive in between);
    /// regula falsi on the whole bracket alone may converge to a later one.
    #[test]
    fn first_crossing_with_a_scan_finds_the_first_root() {
        let g = |s: f64| (5.0 * std::f64::consts::PI * s).cos() - 0.5;
        let mut f = |s: f64| Ok(g(s));
        let s = first_crossing(&mut f, (0.0, g(0.0)), (0.9, g(0.9)), (1e-14, 0.0), 16).unwrap();
        assert!(g(s) < 0.0 && (s - 1.0 / 15.0).abs() < 1e-12, "{s}");
    }
}
