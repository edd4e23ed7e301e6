//! The library behind the `geodyn` command line: argument definitions, the sampling
//! pipeline (data → MAP → Laplace hyperparameters → posterior → samples → outputs)
//! and its reports. The binary is a thin wrapper; tests drive the pipeline directly.
#![deny(missing_docs)]

pub mod args;
pub mod error;
pub mod fuzzing;
pub mod pipeline;
pub mod report;
mod svg;

pub use args::{Cli, Command, PrecisionKind, SampleArgs};
pub use error::CliError;
pub use pipeline::sample;
pub use report::Summary;
