//! A system with evaluation counters ([`Counted`]): right-hand sides and energy calls,
//! with the fall-backs for systems whose fused evaluation does not report V or the
//! dissipated power; and the rule that turns a non-finite stage into a rejected step.

use crate::error::{Error, FailureReason, Result, evaluation_error};
use crate::mechanics::{Evaluation, SecondOrderSystem};

/// Evaluation counters, and the fall-backs for systems whose fused evaluation does not
/// report V or the dissipated power.
pub(crate) struct Counted<'a, Sy: SecondOrderSystem + ?Sized> {
    pub(crate) system: &'a Sy,
    pub(crate) rhs: usize,
    pub(crate) energy_calls: usize,
}

impl<Sy: SecondOrderSystem + ?Sized> Counted<'_, Sy> {
    /// One right-hand side; failures are reported at `t_fail` (the time reached).
    pub(crate) fn eval(&mut self, t: f64, x: &[f64], v: &[f64], a: &mut [f64], t_fail: f64) -> Result<Evaluation> {
        self.rhs += 1;
        self.system.evaluate(t, x, v, a).map_err(|e| evaluation_error(t_fail, e))
    }
    pub(crate) fn power(&mut self, ev: &Evaluation, t: f64, x: &[f64], v: &[f64], t_fail: f64) -> Result<f64> {
        match ev.dissipated_power {
            Some(p) => Ok(p),
            None => {
                self.energy_calls += 1;
                self.system.dissipated_power(t, x, v).map_err(|e| evaluation_error(t_fail, e))
            }
        }
    }
    pub(crate) fn potential(&mut self, ev: &Evaluation, x: &[f64], v: &[f64], t_fail: f64) -> Result<f64> {
        match ev.potential {
            Some(p) => Ok(p),
            None => {
                self.energy_calls += 1;
                Ok(self.system.energy(x, v).map_err(|e| evaluation_error(t_fail, e))?.potential)
            }
        }
    }
    pub(crate) fn total(&mut self, x: &[f64], v: &[f64], t_fail: f64) -> Result<f64> {
        self.energy_calls += 1;
        Ok(self.system.energy(x, v).map_err(|e| evaluation_error(t_fail, e))?.total())
    }
    pub(crate) fn kinetic(&mut self, x: &[f64], v: &[f64], t_fail: f64) -> Result<f64> {
        self.energy_calls += 1;
        self.system.kinetic_energy(x, v).map_err(|e| evaluation_error(t_fail, e))
    }
}

/// A stage evaluation's result: `Ok(None)` (the step is to be rejected) if it failed on
/// a NaN or infinite value, which is then kept in `failure`; other errors pass through.
pub(crate) fn stage_result<T>(r: Result<T>, failure: &mut Option<Error>) -> Result<Option<T>> {
    let e = match r {
        Ok(x) => return Ok(Some(x)),
        Err(e) => e,
    };
    if matches!(&e, Error::Integration { reason: FailureReason::Evaluation(inner), .. } if matches!(**inner, Error::NonFinite { .. }))
    {
        *failure = Some(e);
        return Ok(None);
    }
    Err(e)
}
