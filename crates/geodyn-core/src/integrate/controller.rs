//! Step-size control shared by the hand-written integrators: the step guard (step limit,
//! last-step stretch, underflow) and the two controllers behind [`StepController`].
//!
//! - [`RkPiController`]: Hairer's DOPRI5 PI controller on the error norm of a 5(4) pair,
//!   with cautious growth after rejections (the energy-projected Runge–Kutta methods).
//! - [`EnergyErrorController`]: Gustafsson's PI controller on the O(h³) energy error of
//!   a RATTLE step, which holds the step once the PI controller cycles (RATTLE on the
//!   loss graph).

use super::options::IntegrateOptions;
use crate::error::{Error, FailureReason, Result};

/// Consecutive rejections after which a run fails (also diffsol's Tsit5 path's limit on
/// retries after a non-finite stage).
pub(crate) const MAX_REJECTIONS: usize = 40;
/// Smallest step size; below it (or below 16 ulp of t) a run fails.
pub(crate) const MIN_STEP: f64 = 1e-13;

/// Whether `h` is too small to step from `t`: NaN, below [`MIN_STEP`] or below 16 ulp of t.
pub(crate) fn step_underflows(t: f64, h: f64) -> bool {
    h.is_nan() || h < MIN_STEP.max(16.0 * f64::EPSILON * t.abs())
}

/// The checks at the top of every attempted step: the step limit; within 1% of t1 the
/// step takes the rest of the interval (no sliver of a last step, which could fall below
/// the smallest step size), and then returns `true`; a step below [`MIN_STEP`] or 16 ulp
/// of t fails with the last evaluation failure seen since the last accepted step, if
/// any, else with [`FailureReason::StepSizeUnderflow`].
pub(crate) fn begin_step(
    t: f64,
    h: &mut f64,
    accepted: usize,
    opts: &IntegrateOptions,
    failure: &mut Option<Error>,
) -> Result<bool> {
    if accepted >= opts.max_steps {
        return Err(Error::Integration { t, reason: FailureReason::StepLimit { max_steps: opts.max_steps } });
    }
    let last = t + 1.01 * *h >= opts.t1;
    if last {
        *h = opts.t1 - t;
    }
    if step_underflows(t, *h) {
        return Err(failure.take().unwrap_or(Error::Integration { t, reason: FailureReason::StepSizeUnderflow }));
    }
    Ok(last)
}

/// A step-size controller: the next attempt's size from the last attempt's size and its
/// scaled error (≤ 1 accepted, > 1 rejected; not finite, or ≤ 1 at a rejection, when
/// the rejection had another cause than the error test).
pub(crate) trait StepController {
    /// After rejecting an attempt of size `h` with scaled error `err`.
    fn rejected(&mut self, h: f64, err: f64) -> f64;
    /// After accepting a step of size `h` with scaled error `err`.
    fn accepted(&mut self, h: f64, err: f64) -> f64;
}

/// Hairer's DOPRI5 PI controller on the error norm of a 5(4) pair (β = 0.08), with no
/// growth right after a rejection and at most [`CAUTIOUS_GROWTH`](Self::CAUTIOUS_GROWTH)
/// per step for [`CAUTIOUS_STEPS`](Self::CAUTIOUS_STEPS) accepted steps after it:
/// h_{n+1} = h_n · clamp(s · err_n^{−0.14} · err_{n−1}^{0.08}, 0.2, growth) with
/// err_{n−1} ≥ 1e-4, and a rejected attempt shrinks by clamp(0.9 err^{−1/5}, 0.2, 1)
/// (halves when the rejection had another cause).
#[derive(Debug, Clone)]
pub(crate) struct RkPiController {
    /// The last accepted step's error norm, at least 1e-4.
    err_old: f64,
    /// Accepted steps since the last rejection (0: the previous attempt was rejected).
    since_rejection: usize,
}

impl RkPiController {
    /// Safety factor of a step-size reduction after a rejection.
    pub(crate) const SAFETY: f64 = 0.9;
    /// The smallest factor of a step-size change.
    pub(crate) const MIN_SHRINK: f64 = 0.2;
    /// PI exponent on err_n: Hairer's DOPRI5 form err_n^{−(1/5 − 0.75β)}·err_{n−1}^{β}
    /// with β = 0.08.
    pub(crate) const BETA1: f64 = 0.14;
    /// PI exponent on err_{n−1} (β).
    pub(crate) const BETA2: f64 = 0.08;
    /// The PI controller's safety factor, 0.9^{(β1−β2)·5} = 0.9^{0.3}: at constant step
    /// size it aims at the same error level 0.9⁵ as the plain controller
    /// h ← 0.9 h err^{−1/5}, while the err_{n−1} term damps the step-size oscillation at
    /// the stability boundary of stiff problems.
    pub(crate) const PI_SAFETY: f64 = 0.968_886;
    /// The largest growth of the step size per accepted step.
    pub(crate) const MAX_GROWTH: f64 = 5.0;
    /// Growth limit for the [`CAUTIOUS_STEPS`](Self::CAUTIOUS_STEPS) accepted steps after
    /// a rejection: a rejection says the step size is at its limit, and on stiff problems
    /// a larger jump lands beyond it.
    pub(crate) const CAUTIOUS_GROWTH: f64 = 1.2;
    /// See [`CAUTIOUS_GROWTH`](Self::CAUTIOUS_GROWTH).
    pub(crate) const CAUTIOUS_STEPS: usize = 10;

    pub(crate) fn new() -> Self {
        Self { err_old: 1e-4, since_rejection: usize::MAX }
    }
}

impl StepController for RkPiController {
    fn rejected(&mut self, h: f64, err: f64) -> f64 {
        self.since_rejection = 0;
        h * if err.is_finite() && err > 1.0 {
            (Self::SAFETY * err.powf(-0.2)).clamp(Self::MIN_SHRINK, 1.0)
        } else {
            0.5
        }
    }

    fn accepted(&mut self, h: f64, err: f64) -> f64 {
        let max_growth = match self.since_rejection {
            0 => 1.0,
            s if s < Self::CAUTIOUS_STEPS => Self::CAUTIOUS_GROWTH,
            _ => Self::MAX_GROWTH,
        };
        let next = h
            * (Self::PI_SAFETY * err.max(1e-10).powf(-Self::BETA1) * self.err_old.powf(Self::BETA2))
                .clamp(Self::MIN_SHRINK, max_growth);
        self.err_old = err.max(1e-4);
        self.since_rejection = self.since_rejection.saturating_add(1);
        next
    }
}

/// A held step size: constant between changes, so that its changes do not follow the
/// phase of the stiff modes' energy error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hold {
    /// The step size held.
    pub(crate) h: f64,
    /// Accepted steps since it last changed.
    steps: usize,
    /// The largest scaled energy error over those steps.
    max_err: f64,
}

impl Hold {
    /// A held step of size `h` that has just changed.
    fn at(h: f64) -> Self {
        Self { h, steps: 0, max_err: 0.0 }
    }
}

/// Gustafsson's PI controller (Gustafsson 1991; Hairer & Wanner, *Solving ODEs II*,
/// §IV.2) on a scaled O(h³) error r (k = 3):
/// h_{n+1} = h_n · clamp(0.9 r_n^{−(kI+kP)} r_{n−1}^{kP}, 0.2, 1.5) with kI = 0.3/3,
/// kP = 0.4/3, no growth right after a rejection; a rejected attempt shrinks by
/// clamp(0.9 r^{−1/3}, 0.2, 0.9) (halves when the rejection had another cause).
///
/// When at least [`CYCLE_REJECTIONS`](Self::CYCLE_REJECTIONS) of the last
/// [`CYCLE_WINDOW`](Self::CYCLE_WINDOW) attempts were rejected, the PI controller is
/// cycling and the step is *held*: fixed at [`HOLD_ENTRY`](Self::HOLD_ENTRY) of the last
/// rejected size (at most the PI proposal, at least half the rejected size), changed only
/// every [`HOLD_STEPS`](Self::HOLD_STEPS) accepted steps, by 0.9 max(r)^{−1/3} over those
/// steps clamped to [1, [`HOLD_GROWTH`](Self::HOLD_GROWTH)], or at a rejection, by the
/// rejection rule but at most by half. Once the largest r of `HOLD_STEPS` held steps stays
/// below [`HOLD_RELEASE`](Self::HOLD_RELEASE), the PI controller takes over again.
#[derive(Debug, Clone)]
pub(crate) struct EnergyErrorController {
    /// The last accepted step's scaled error.
    err_prev: f64,
    /// Whether the attempt before this one was rejected (then h does not grow).
    after_rejection: bool,
    /// One bit per attempt, the latest lowest (1 = rejected).
    recent: u64,
    /// The last rejected step size.
    pub(crate) h_rejected: f64,
    /// The held step, while the controller holds one.
    pub(crate) hold: Option<Hold>,
}

impl EnergyErrorController {
    /// Largest growth of the step size per accepted step.
    pub(crate) const MAX_GROWTH: f64 = 1.5;
    /// Smallest factor of a step-size change.
    pub(crate) const MIN_SHRINK: f64 = 0.2;
    /// Safety factor of the controller.
    pub(crate) const SAFETY: f64 = 0.9;
    /// PI exponent kI (Gustafsson's 0.3/k for k = 3).
    pub(crate) const K_I: f64 = 0.3 / 3.0;
    /// PI exponent kP (Gustafsson's 0.4/k for k = 3).
    pub(crate) const K_P: f64 = 0.4 / 3.0;
    /// Attempts looked back on to recognise a cycling controller.
    pub(crate) const CYCLE_WINDOW: u32 = 40;
    /// Rejections within [`CYCLE_WINDOW`](Self::CYCLE_WINDOW) attempts that mean cycling.
    pub(crate) const CYCLE_REJECTIONS: u32 = 6;
    /// A held step is entered at this fraction of the last rejected step size.
    pub(crate) const HOLD_ENTRY: f64 = 0.9;
    /// Accepted steps between changes of a held step size.
    pub(crate) const HOLD_STEPS: usize = 100;
    /// The largest growth of a held step size per [`HOLD_STEPS`](Self::HOLD_STEPS).
    pub(crate) const HOLD_GROWTH: f64 = 1.25;
    /// A hold ends when the largest scaled error of `HOLD_STEPS` accepted steps stays
    /// below this.
    pub(crate) const HOLD_RELEASE: f64 = 0.3;

    pub(crate) fn new() -> Self {
        Self { err_prev: 1.0, after_rejection: false, recent: 0, h_rejected: 0.0, hold: None }
    }
}

impl StepController for EnergyErrorController {
    fn rejected(&mut self, h: f64, err: f64) -> f64 {
        self.after_rejection = true;
        self.recent = (self.recent << 1) | 1;
        self.h_rejected = h;
        let next = h * if err.is_finite() && err > 1.0 {
            (Self::SAFETY * err.powf(-1.0 / 3.0)).clamp(Self::MIN_SHRINK, Self::SAFETY)
        } else {
            0.5
        };
        match self.hold.as_mut() {
            Some(held) => {
                // A rejected held step shrinks as any rejected step does, but at most by half.
                *held = Hold::at(next.max(0.5 * held.h));
                held.h
            }
            None => next,
        }
    }

    fn accepted(&mut self, h: f64, err: f64) -> f64 {
        let err = err.max(1e-10);
        self.recent <<= 1;
        if let Some(held) = self.hold.as_mut() {
            held.steps += 1;
            held.max_err = held.max_err.max(err);
            if held.steps >= Self::HOLD_STEPS {
                if held.max_err < Self::HOLD_RELEASE {
                    self.hold = None;
                } else {
                    *held =
                        Hold::at(held.h * (Self::SAFETY * held.max_err.powf(-1.0 / 3.0)).clamp(1.0, Self::HOLD_GROWTH));
                }
            }
        }
        let next = match &self.hold {
            Some(held) => held.h,
            None => {
                let growth = if self.after_rejection { 1.0 } else { Self::MAX_GROWTH };
                let pi = h
                    * (Self::SAFETY * err.powf(-Self::K_I - Self::K_P) * self.err_prev.powf(Self::K_P))
                        .clamp(Self::MIN_SHRINK, growth);
                if (self.recent & ((1u64 << Self::CYCLE_WINDOW) - 1)).count_ones() >= Self::CYCLE_REJECTIONS {
                    // The PI controller is cycling: hold the step under the rejected size.
                    let held = (Self::HOLD_ENTRY * self.h_rejected).min(pi.max(0.5 * self.h_rejected));
                    self.hold = Some(Hold::at(held));
                    self.recent = 0;
                    held
                } else {
                    pi
                }
            }
        };
        self.err_prev = err;
        self.after_rejection = false;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hairer's DOPRI5 PI controller on the error norm of a 5(4) pair:
    /// h_{n+1} = h_n · clamp(0.9^{0.3} err_n^{−0.14} err_{n−1}^{0.08}, 0.2, 5) with
    /// err_{n−1} ≥ 1e-4; a rejected step shrinks by clamp(0.9 err^{−1/5}, 0.2, 1) (halved
    /// when the rejection had another cause); right after a rejection h does not grow,
    /// and for the next C::CAUTIOUS_STEPS − 1 accepted steps by at most C::CAUTIOUS_GROWTH.
    #[test]
    fn pi_controller_follows_hairer() {
        type C = RkPiController;
        let mut c = C::new();
        let h1 = c.accepted(1e-3, 0.5);
        let first = C::PI_SAFETY * 0.5f64.powf(-C::BETA1) * 1e-4f64.powf(C::BETA2);
        assert!((h1 / 1e-3 - first).abs() < 1e-14, "{h1}");
        let h2 = c.accepted(h1, 0.2);
        assert!((h2 / h1 - C::PI_SAFETY * 0.2f64.powf(-C::BETA1) * 0.5f64.powf(C::BETA2)).abs() < 1e-14);
        assert_eq!(c.accepted(1.0, 1e-12), C::MAX_GROWTH, "growth is capped");
        let floored = c.accepted(1.0, 1.0);
        assert!(
            (floored - C::PI_SAFETY * 1e-4f64.powf(C::BETA2)).abs() < 1e-14,
            "err_{{n−1}} = 1e-12 counts as 1e-4: {floored}"
        );
        let r = c.rejected(1e-3, 32.0);
        assert!((r / 1e-3 - 0.45).abs() < 1e-14, "0.9 · 32^(−1/5) = 0.45: {r}");
        assert_eq!(c.rejected(1e-3, 1e10), C::MIN_SHRINK * 1e-3, "shrink is capped");
        assert_eq!(c.rejected(1e-3, f64::NAN), 0.5e-3);
        assert_eq!(c.rejected(1e-3, 0.5), 0.5e-3, "rejected for another cause");
        assert_eq!(c.accepted(1.0, 1e-12), 1.0, "no growth right after a rejection");
        for k in 1..C::CAUTIOUS_STEPS {
            assert_eq!(c.accepted(1.0, 1e-12), C::CAUTIOUS_GROWTH, "accepted step {k} after the rejection");
        }
        assert_eq!(c.accepted(1.0, 1e-12), C::MAX_GROWTH, "caution over");
    }

    /// The PI step of Gustafsson's controller on an O(h³) error:
    /// h_{n+1} = h_n · clamp(0.9 r_n^{−(kI+kP)} r_{n−1}^{kP}, 0.2, 1.5), no growth right
    /// after a rejection, and a rejected step shrinks by clamp(0.9 r^{−1/3}, 0.2, 0.9)
    /// (halved when the rejection had another cause).
    #[test]
    fn pi_controller_follows_gustafsson() {
        type C = EnergyErrorController;
        let mut c = C::new();
        let h1 = c.accepted(1e-3, 0.5);
        assert!((h1 / 1e-3 - 0.9 * 0.5f64.powf(-C::K_I - C::K_P)).abs() < 1e-14);
        let h2 = c.accepted(h1, 0.2);
        assert!((h2 / h1 - 0.9 * 0.2f64.powf(-C::K_I - C::K_P) * 0.5f64.powf(C::K_P)).abs() < 1e-14);
        assert_eq!(c.accepted(h2, 1e-12) / h2, C::MAX_GROWTH, "growth is capped");
        let r = c.rejected(1e-3, 8.0);
        assert!((r / 1e-3 - 0.45).abs() < 1e-14, "0.9 · 8^(−1/3) = 0.45: {r}");
        assert_eq!(c.rejected(1e-3, f64::INFINITY), 0.5e-3);
        assert_eq!(c.accepted(1e-3, 1e-6), 1e-3, "no growth right after a rejection");
    }

    /// A PI controller that keeps being rejected (six of the last 40 attempts) holds the
    /// step at 0.9 of the rejected size; the held step stays constant between changes,
    /// changes every C::HOLD_STEPS accepted steps by at most C::HOLD_GROWTH (by
    /// 0.9 max(r)^{−1/3}), shrinks on a rejection as any step does but by half at most,
    /// and is released to the PI controller once the largest error of C::HOLD_STEPS steps
    /// stays below C::HOLD_RELEASE.
    #[test]
    fn a_cycling_controller_holds_the_step() {
        type C = EnergyErrorController;
        let mut c = C::new();
        let mut h = 1e-3;
        let mut rejections = 0;
        // The limit cycle: four accepted attempts, then one rejected at the cycle's top.
        while c.hold.is_none() {
            for _ in 0..4 {
                h = c.accepted(h, 0.5);
            }
            h = c.rejected(h, 1.2);
            rejections += 1;
            h = c.accepted(h, 0.9);
            assert!(
                c.hold.is_some() || rejections < C::CYCLE_REJECTIONS as usize,
                "not held after {rejections} rejections"
            );
        }
        assert_eq!(rejections, C::CYCLE_REJECTIONS as usize);
        let held = c.hold.expect("held").h;
        assert!(held <= C::HOLD_ENTRY * c.h_rejected && held >= 0.5 * c.h_rejected);
        assert_eq!(h, held);
        // Constant between changes, whatever the errors do.
        for k in 1..C::HOLD_STEPS {
            let err = if k % 5 == 0 { 0.5 } else { 0.05 };
            assert_eq!(c.accepted(h, err), held, "step {k}");
        }
        // After HOLD_STEPS steps with max error 0.5: growth 0.9 · 0.5^(−1/3).
        let grown = c.accepted(h, 0.1);
        assert!((grown / held - C::SAFETY * 0.5f64.powf(-1.0 / 3.0)).abs() < 1e-14, "{}", grown / held);
        // With max error 0.9 it would have to shrink (0.9 · 0.9^(−1/3) < 1): it stays.
        for _ in 0..C::HOLD_STEPS {
            assert_eq!(c.accepted(grown, 0.9), grown);
        }
        assert!(c.hold.is_some());
        // A rejection in the hold: shrink by 5% … 50%.
        let shrunk = c.rejected(grown, 1.01);
        assert!((shrunk / grown - C::SAFETY * 1.01f64.powf(-1.0 / 3.0)).abs() < 1e-14);
        assert_eq!(c.rejected(shrunk, 1e6), 0.5 * shrunk, "a large one by half at most");
        h = 0.5 * shrunk;
        // Small errors for C::HOLD_STEPS steps: released, then PI again (growth allowed).
        for _ in 0..C::HOLD_STEPS - 1 {
            assert_eq!(c.accepted(h, 0.01), h);
        }
        let released = c.accepted(h, 0.01);
        assert!(c.hold.is_none());
        assert!(released > h, "PI grows the step again: {released} vs {h}");
    }
}
