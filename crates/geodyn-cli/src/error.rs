//! CLI errors: one clear line each, non-zero exit.

use std::path::PathBuf;

/// Everything the command line reports to the user.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A data, model or weights problem.
    #[error(transparent)]
    Nn(#[from] geodyn_nn::NnError),
    /// A sampler problem (unknown name, bad setting, failed trajectory).
    #[error(transparent)]
    Sampler(#[from] geodyn_samplers::SamplerError),
    /// A numerical problem in the core layer.
    #[error(transparent)]
    Core(#[from] geodyn_core::Error),
    /// Inconsistent inputs.
    #[error("{0}")]
    Input(String),
}

impl CliError {
    /// The process exit code: 1 for bad input or files, 3 for numerical failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Core(geodyn_core::Error::Integration { .. }) => 3,
            CliError::Sampler(geodyn_samplers::SamplerError::Sample { .. }) => 3,
            _ => 1,
        }
    }
}
