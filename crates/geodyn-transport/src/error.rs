//! Typed errors of the transport layer.

/// Result alias of this crate.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;

/// Everything that can go wrong in geodyn-transport.
///
/// Bad input (non-finite values, negative weights, mismatched dimensions, out-of-range settings)
/// is always reported here and never causes a panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A slice or a measure had the wrong length or dimension.
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// Which argument.
        what: &'static str,
        /// The length or dimension that was required.
        expected: usize,
        /// The one that was given.
        got: usize,
    },
    /// An input was empty where at least one element is needed.
    #[error("{what} is empty")]
    Empty {
        /// Which argument.
        what: &'static str,
    },
    /// An input was NaN or infinite.
    #[error("non-finite value in {what}")]
    NonFinite {
        /// Which argument.
        what: &'static str,
    },
    /// A weight or density value was negative.
    #[error("negative value {value} at index {index} in {what}")]
    Negative {
        /// Which argument.
        what: &'static str,
        /// The offending index.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// The weights (or density values) sum to zero, so there is no measure to normalise.
    #[error("{what} has zero total mass")]
    ZeroMass {
        /// Which argument.
        what: &'static str,
    },
    /// A setting was out of its admissible range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The setting's name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// The admissible range.
        reason: &'static str,
    },
    /// A matrix that must be symmetric positive semi-definite is not.
    #[error("{what} is not symmetric positive semi-definite: {detail}")]
    NotPositiveSemiDefinite {
        /// Which argument.
        what: &'static str,
        /// The asymmetry or the negative eigenvalue found.
        detail: String,
    },
    /// The eigensolver failed.
    #[error("eigendecomposition failed in {what}")]
    Eigen {
        /// Which matrix.
        what: &'static str,
    },
    /// An iterative solver did not reach its tolerance within its iteration limit.
    #[error("{what} did not converge in {iterations} iterations (error {error:e}, tolerance {tol:e})")]
    NotConverged {
        /// Which solver.
        what: &'static str,
        /// Iterations done.
        iterations: usize,
        /// The error reached.
        error: f64,
        /// The tolerance asked for.
        tol: f64,
    },
    /// A problem exceeds the documented size limit of an exact solver.
    #[error("{what}: size {n} exceeds the limit {max}")]
    TooLarge {
        /// Which solver.
        what: &'static str,
        /// The size given.
        n: usize,
        /// The largest size accepted.
        max: usize,
    },
    /// The inputs are valid but the operation is not defined for them (for example exact
    /// assignment between measures with non-uniform weights).
    #[error("{what}: {reason}")]
    Unsupported {
        /// Which operation.
        what: &'static str,
        /// What it needs.
        reason: &'static str,
    },
}

/// [`TransportError::DimensionMismatch`] unless `got == expected`.
#[inline]
pub(crate) fn check_dim(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got { Ok(()) } else { Err(TransportError::DimensionMismatch { what, expected, got }) }
}

/// [`TransportError::NonFinite`] if any entry of `x` is NaN or infinite.
#[inline]
pub(crate) fn check_finite(what: &'static str, x: &[f64]) -> Result<()> {
    if x.iter().fold(true, |ok, v| ok & v.is_finite()) { Ok(()) } else { Err(TransportError::NonFinite { what }) }
}

/// Checks that `w` is a finite, non-negative vector with positive total; returns the total.
pub(crate) fn check_weights(what: &'static str, w: &[f64]) -> Result<f64> {
    if w.is_empty() {
        return Err(TransportError::Empty { what });
    }
    check_finite(what, w)?;
    if let Some((index, &value)) = w.iter().enumerate().find(|(_, v)| **v < 0.0) {
        return Err(TransportError::Negative { what, index, value });
    }
    let total: f64 = w.iter().sum();
    if !total.is_finite() {
        return Err(TransportError::NonFinite { what });
    }
    if total <= 0.0 {
        return Err(TransportError::ZeroMass { what });
    }
    Ok(total)
}
