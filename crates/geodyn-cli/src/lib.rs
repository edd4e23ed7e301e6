//! The library behind the `geodyn` command line: argument definitions, the sampling
//! pipeline (data → MAP → Laplace hyperparameters → posterior → samples → outputs)
//! and its reports. The binary is a thin wrapper; tests drive the pipeline directly.
#![deny(missing_docs)]

pub mod args;
pub mod backend;
pub mod error;
pub mod pipeline;
pub mod report;
mod svg;

pub use args::{Cli, Command, PrecisionKind, SampleArgs};
pub use backend::{BackendArg, NetObjective};
pub use error::CliError;
pub use pipeline::sample;
pub use report::{SampleReport, Summary};

/// The text of `geodyn list`: each registered sampler with its one-line description.
pub fn list_text() -> String {
    let reg = geodyn_samplers::Registry::with_builtin();
    let mut out = String::new();
    for name in reg.names() {
        if let Some(e) = reg.get(name) {
            out.push_str(&format!("{name:<8} {}\n", e.description));
        }
    }
    out
}
