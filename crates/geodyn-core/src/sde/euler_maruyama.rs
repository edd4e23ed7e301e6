//! The Euler–Maruyama scheme for [`SdeProblem`]s.

use super::noise::Noise;
use super::problem::SdeProblem;
use crate::error::{Error, Result, check_dim, check_finite};

/// Euler–Maruyama: X_{n+1} = X_n + h b(t_n, X_n) + σ(t_n, X_n) ΔW_n, ΔW_n ∼ N(0, h I).
///
/// Orders: strong ½ in general, strong 1 for additive noise (σ independent of X, as
/// in constant-preconditioner Langevin), weak 1. Applied to [`Gibbs`](super::Gibbs)
/// it is the unadjusted Langevin algorithm, whose invariant measure is off by O(h)
/// (for U = x²/2, T = 1 its variance is 1/(1 − h/2)). Linear drift −A is stable for
/// h < 2/λ_max(A). Cost per step: one drift and one diffusion evaluation and O(n)
/// arithmetic; the two buffers are allocated once in [`new`](Self::new). Do not use it
/// for stiff drifts (the step is limited by explicit stability) or where a weak order
/// above 1 or an unbiased invariant measure is needed (use MALA or BAOAB).
#[derive(Debug, Clone)]
pub struct EulerMaruyama {
    drift: Vec<f64>,
    sigma: Vec<f64>,
    dw: Vec<f64>,
}

impl EulerMaruyama {
    /// A stepper for problems of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        Self { drift: vec![0.0; dim], sigma: vec![0.0; dim], dw: vec![0.0; dim] }
    }

    /// One step from (t, x) of size h with the given Brownian increment `dw` (length n):
    /// overwrites `x` with X_{n+1}.
    ///
    /// Passing the increments lets a caller drive several step sizes with one Brownian
    /// path (sums of fine increments), as strong-order studies do.
    pub fn step<P: SdeProblem + ?Sized>(
        &mut self,
        problem: &P,
        t: f64,
        x: &mut [f64],
        h: f64,
        dw: &[f64],
    ) -> Result<()> {
        let n = problem.dim();
        check_dim("x", n, x.len())?;
        check_dim("dw", n, dw.len())?;
        check_dim("stepper", n, self.drift.len())?;
        problem.drift(t, x, &mut self.drift)?;
        problem.diffusion(t, x, &mut self.sigma)?;
        for i in 0..n {
            x[i] += h * self.drift[i] + self.sigma[i] * dw[i];
        }
        Ok(())
    }

    /// `steps` steps of size `h` from (t0, x), with increments drawn from `noise`;
    /// overwrites `x` with the final state X(t0 + steps·h).
    ///
    /// Returns [`Error::InvalidParameter`] for h ≤ 0 or non-finite h or t0,
    /// [`Error::DimensionMismatch`] and [`Error::NonFinite`] for a bad `x`, and
    /// [`Error::Integration`] with [`FailureReason::NonFiniteState`](crate::FailureReason::NonFiniteState)
    /// at the time where the state stops being finite.
    pub fn solve<P: SdeProblem + ?Sized>(
        &mut self,
        problem: &P,
        t0: f64,
        x: &mut [f64],
        h: f64,
        steps: usize,
        noise: &mut Noise,
    ) -> Result<()> {
        check_step(h)?;
        if !t0.is_finite() {
            return Err(Error::InvalidParameter { name: "t0", value: t0, reason: "must be finite" });
        }
        check_dim("x", problem.dim(), x.len())?;
        check_finite("x", x)?;
        let mut dw = std::mem::take(&mut self.dw);
        dw.resize(problem.dim(), 0.0);
        let mut result = Ok(());
        for n in 0..steps {
            let t = t0 + n as f64 * h;
            noise.brownian_increment(h, &mut dw);
            result = self.step(problem, t, x, h, &dw).and_then(|_| {
                check_finite("x", x)
                    .map_err(|_| Error::Integration { t: t + h, reason: crate::error::FailureReason::NonFiniteState })
            });
            if result.is_err() {
                break;
            }
        }
        self.dw = dw;
        result
    }
}

/// [`Error::InvalidParameter`] unless the step size h is finite and > 0.
pub(crate) fn check_step(h: f64) -> Result<()> {
    if h.is_finite() && h > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name: "step size", value: h, reason: "must be finite and > 0" })
    }
}
