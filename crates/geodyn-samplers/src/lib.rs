//! # geodyn-samplers
//!
//! Sampler plugins on top of geodyn-core: [`Dims`] (the dissipative minima sampler),
//! [`Rla`] (the Riemannian Laplace approximation) and [`Laplace`] (the sampled Laplace
//! baseline), a name-keyed [`Registry`], the Laplace posterior ([`LaplacePosterior`],
//! hyperparameter tuning by the Laplace evidence) and a deterministic parallel driver
//! ([`run_samples`]), and [`find_mode`] to take a trained network to an exact mode.
//!
//! All samplers start from the MAP θ* with an initial velocity v ~ N(0, P⁻¹), P the
//! Laplace posterior precision; they differ in how v is turned into a sample.
#![deny(missing_docs)]

pub mod driver;
pub mod error;
pub mod laplace;
pub mod mode;
pub mod registry;
pub mod sampler;

pub use driver::{initial_velocity, run_chains, run_samples, run_selected};
pub use error::{Result, SamplerError};
pub use laplace::{
    EvidenceInputs, GgnSpectrum, LaplacePosterior, log_evidence, regression_laplace_at, tune_hyperparameters,
};
pub use mode::{ModeReport, ModeSearch, find_mode};
pub use registry::Registry;
pub use sampler::{
    Dims, DimsConfig, Integration, Laplace, LaplaceConfig, Rla, RlaConfig, SampleRecord, Sampler, SamplerConfig,
};
