//! Data sets: inputs `[N, d]` with regression targets `[N, m]` or class labels, the
//! built-in synthetic sets, CSV loading and standardisation.
//!
//! - [`Dataset`] and [`Split`]: validated inputs and targets;
//! - [`Standardizer`]: per-column standardisation fitted on training data;
//! - [`snelson_like`] and [`two_moons`]: deterministic synthetic sets;
//! - [`Table`] and [`CsvSpec`]: CSV files as tables and the columns that make a data set.

mod csv;
mod dataset;
mod standardize;
mod synthetic;

pub use csv::{CsvSpec, Table, TargetKind};
pub use dataset::{Dataset, Split, Target, Targets};
pub use standardize::Standardizer;
pub use synthetic::{
    SNELSON_LIKE_GAP, SNELSON_LIKE_N, SNELSON_LIKE_NOISE, SNELSON_LIKE_RANGE, SNELSON_LIKE_SEED, snelson_like,
    snelson_like_full, snelson_like_mean, two_moons,
};
