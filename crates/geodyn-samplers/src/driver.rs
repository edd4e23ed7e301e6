//! Drawing many samples in parallel, reproducibly.
//!
//! Sample i uses the initial velocity drawn from ChaCha8 seeded with `seed` on stream
//! i (or a velocity given by the caller), so each sample depends only on (seed, i)
//! and the results are identical for any number of threads.

use crate::error::{Result, SamplerError};
use crate::laplace::LaplacePosterior;
use crate::sampler::{SampleRecord, Sampler};
use geodyn_core::Objective;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rayon::prelude::*;

/// The initial velocity of sample `index`: v = scale · U S^{-1/2} z with z from ChaCha8
/// (seed, stream = index).
pub fn initial_velocity(posterior: &LaplacePosterior, seed: u64, index: usize, scale: f64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    let mut v = vec![0.0; posterior.dim()];
    posterior.sample_velocity(&mut rng, scale, &mut v);
    v
}

/// Runs `sampler` for every velocity in `velocities` (index i ↦ velocities[i]) on
/// `threads` worker threads (0: rayon's default), calling `on_done` after each sample.
/// Results are in index order.
pub fn run_samples(
    sampler: &dyn Sampler,
    objective: &dyn Objective,
    theta_map: &[f64],
    velocities: &[Vec<f64>],
    threads: usize,
    on_done: &(dyn Fn(&SampleRecord) + Sync),
) -> Result<Vec<SampleRecord>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| SamplerError::InvalidSetting(format!("cannot start {threads} threads: {e}")))?;
    pool.install(|| {
        velocities
            .par_iter()
            .enumerate()
            .map(|(i, v)| {
                let r = sampler.sample_one(objective, theta_map, v, i)?;
                on_done(&r);
                Ok(r)
            })
            .collect::<Result<Vec<_>>>()
    })
}
