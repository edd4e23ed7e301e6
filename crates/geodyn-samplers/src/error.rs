//! Errors of the sampler layer.

/// Result alias of this crate.
pub type Result<T, E = SamplerError> = std::result::Result<T, E>;

/// What can go wrong while sampling.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SamplerError {
    /// An error of the geometry / integration layer (carries the time reached for failed solves).
    #[error(transparent)]
    Core(#[from] geodyn_core::Error),
    /// No sampler is registered under this name.
    #[error("unknown sampler `{name}` (registered: {known})")]
    UnknownSampler {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        known: String,
    },
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    /// The precision matrix is not positive definite.
    #[error("posterior precision is not positive definite (smallest eigenvalue {min_eigenvalue:e})")]
    NotPositiveDefinite {
        /// The smallest eigenvalue found.
        min_eigenvalue: f64,
    },
    /// The mode search's optimiser failed (not through the objective).
    #[error("mode search: {0}")]
    Optimizer(String),
    /// The eigensolver failed.
    #[error("eigendecomposition failed: {0}")]
    Eigen(String),
    /// The caller's per-sample callback failed (e.g. writing the sample to disk).
    #[error("{0}")]
    Callback(String),
    /// One sample failed; carries its index.
    #[error("sample {index} failed: {source}")]
    Sample {
        /// Sample index.
        index: usize,
        /// What failed.
        source: Box<SamplerError>,
    },
}
