//! Typed errors of the abstract layer.

use std::fmt;

/// Result alias used throughout geodyn.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in geodyn-core, and in backends that report through it.
///
/// Errors never come from a panic on user input: dimension mismatches, non-finite
/// values and out-of-range settings are all reported here.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A slice had the wrong length.
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// Which argument or buffer.
        what: &'static str,
        /// The length that was required.
        expected: usize,
        /// The length that was given.
        got: usize,
    },
    /// An input or an evaluated quantity was NaN or infinite.
    #[error("non-finite value in {what}")]
    NonFinite {
        /// Which argument or quantity.
        what: &'static str,
    },
    /// A setting was out of its admissible range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The setting's name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What the admissible range is.
        reason: &'static str,
    },
    /// An integration stopped before its final time.
    #[error("integration failed at t = {t}: {reason}")]
    Integration {
        /// The time the solver had reached.
        t: f64,
        /// Why it stopped.
        reason: FailureReason,
    },
    /// A linear solve did not converge (conjugate gradients, a singular matrix).
    #[error("linear solve failed in {what}: {detail}")]
    LinearSolve {
        /// Which solve.
        what: &'static str,
        /// What happened (iterations, residual, pivot).
        detail: String,
    },
    /// The chosen method cannot integrate this system (for example
    /// [`Method::LossGraphRattle`](crate::Method::LossGraphRattle) on a system that is not a
    /// particle on a loss graph).
    #[error("{method} cannot integrate this system: {reason}")]
    Unsupported {
        /// The method.
        method: &'static str,
        /// What it needs.
        reason: &'static str,
    },
    /// A friction law has no closed-form flow ([`Friction::exact_flow`](crate::Friction::exact_flow)
    /// is `None`), which [`Method::LossGraphRattle`](crate::Method::LossGraphRattle) needs;
    /// returned by [`Mechanics::particle`](crate::Mechanics::particle).
    #[error("LossGraphRattle needs a friction law with a closed-form flow, and {friction} has none")]
    NoExactFlow {
        /// The friction law's type name.
        friction: &'static str,
    },
    /// A sampling chain's state (or its potential or gradient) became NaN or infinite;
    /// returned by [`sde::run_chain`](crate::sde::run_chain).
    #[error("chain {chain} diverged at step {step}: the state became non-finite (reduce the step size)")]
    ChainDiverged {
        /// The chain's index.
        chain: u64,
        /// The step (0-based, warm-up included) at which it diverged.
        step: usize,
    },
    /// An error reported by a backend or a user-supplied function.
    #[error("{0}")]
    Backend(String),
}

/// Why an integration failed; carried by [`Error::Integration`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FailureReason {
    /// The adaptive step size fell below the solver's minimum.
    StepSizeUnderflow,
    /// The step limit of the run was reached before the final time.
    StepLimit {
        /// The limit that was reached.
        max_steps: usize,
    },
    /// Too many consecutive rejected steps.
    TooManyRejections,
    /// The state became NaN or infinite.
    NonFiniteState,
    /// Evaluating the right-hand side failed (e.g. the objective returned an error).
    Evaluation(Box<Error>),
    /// The underlying ODE solver reported another failure.
    Solver(String),
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::StepSizeUnderflow => write!(f, "step size underflow"),
            FailureReason::StepLimit { max_steps } => write!(f, "step limit of {max_steps} steps reached"),
            FailureReason::TooManyRejections => write!(f, "too many consecutive rejected steps"),
            FailureReason::NonFiniteState => write!(f, "the state became non-finite"),
            FailureReason::Evaluation(e) => write!(f, "right-hand side evaluation failed: {e}"),
            FailureReason::Solver(s) => write!(f, "solver error: {s}"),
        }
    }
}

/// Returns [`Error::DimensionMismatch`] unless `got == expected`.
#[inline]
pub fn check_dim(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got { Ok(()) } else { Err(Error::DimensionMismatch { what, expected, got }) }
}

/// Returns [`Error::NonFinite`] if any entry of `x` is NaN or infinite.
#[inline]
pub fn check_finite(what: &'static str, x: &[f64]) -> Result<()> {
    // (A fold without early exit: it vectorises, and the error path is the rare one.)
    if x.iter().fold(true, |ok, v| ok & v.is_finite()) { Ok(()) } else { Err(Error::NonFinite { what }) }
}

/// Returns [`Error::NonFinite`] if `x` is NaN or infinite, else `x`.
#[inline]
pub fn finite(what: &'static str, x: f64) -> Result<f64> {
    if x.is_finite() { Ok(x) } else { Err(Error::NonFinite { what }) }
}

/// An evaluation failure `e` inside an integration, reported at the time `t` reached.
pub(crate) fn evaluation_error(t: f64, e: Error) -> Error {
    Error::Integration { t, reason: FailureReason::Evaluation(Box::new(e)) }
}
