//! The fuzz properties of geodyn and the stable harness around them.
//!
//! A property is a plain function `check_*(data: &[u8])` ([`Check`]) that must return
//! normally for every input: typed errors are fine, a panic, an abort or a hang is a bug.
//! Beyond "no panic", the checks assert the documented contracts of successful results
//! (lengths, finiteness, round trips), so a wrong `Ok` is a failure too.
//!
//! Every harness runs the same functions:
//!
//! - the libFuzzer targets `fuzz/fuzz_targets/<target>.rs` (`cargo xtask fuzz`), each a
//!   one-line call of its check;
//! - the corpus test `fuzz/props/tests/fuzz_corpus.rs` (part of `cargo test --workspace`),
//!   which replays `fuzz/corpus/<target>/`, `fuzz/artifacts/<target>/` and [`seeds`],
//!   then a fixed number of generated inputs ([`run_generated`] with
//!   [`Budget::Iterations`]); with a time budget it is also the stable fallback of
//!   `cargo xtask fuzz --fallback`.
//!
//! The targets ([`TARGETS`]):
//!
//! | target        | property |
//! |---------------|----------|
//! | `safetensors` | [`check_safetensors`]: `--arch` text → `ModelSpec`; safetensors bytes → `load_safetensors`; loaded weights round-trip |
//! | `csv`         | [`check_csv`]: `Table::parse` + `CsvSpec::apply` (regression, classification, Snelson, explicit inputs) + standardisation |
//! | `npy`         | [`check_npy`]: `npy::read_npy`; an accepted array round-trips through `write_npy` |
//! | `cli`         | [`check_cli`]: argv (NUL/newline-separated) → `geodyn_cli::Cli::try_parse_from`; a parsed `--arch` → `ModelSpec` |
//! | `integrate`   | [`check_integrate`]: `geodyn_core::integrate` of small DiMS / geodesic / Euclidean systems from decoded states, parameters and options |
//!
//! Modules: [`mod@formats`] and [`mod@integrate`] hold the properties, [`mod@mutate`] the
//! mutator and the generated-input loop, [`mod@corpus`] corpus I/O and the seed inputs.
#![deny(missing_docs)]

pub mod corpus;
pub mod formats;
pub mod integrate;
pub mod mutate;

pub use corpus::{read_inputs, save_artifact, seeds};
pub use formats::{check_cli, check_csv, check_npy, check_safetensors};
pub use integrate::{FUZZ_MAX_STEPS, check_integrate};
pub use mutate::{Budget, GeneratedRun, generator, mutate, run_generated};

/// A fuzz property: must return normally for every input.
pub type Check = fn(&[u8]);

/// Every fuzz target: its name (the `fuzz/fuzz_targets/<name>.rs` file and the
/// `fuzz/corpus/<name>/` directory) and its property.
pub const TARGETS: &[(&str, Check)] = &[
    ("safetensors", check_safetensors),
    ("csv", check_csv),
    ("npy", check_npy),
    ("cli", check_cli),
    ("integrate", check_integrate),
];

/// The property of the target `name`, if there is one.
pub fn target(name: &str) -> Option<Check> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}
