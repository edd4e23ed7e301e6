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

/// Runs `sampler` for every velocity in `velocities` (index i ↦ `velocities[i]`) on
/// `threads` worker threads (0: rayon's default), calling `on_done` after each sample
/// (an error there stops the run). Results are in index order.
pub fn run_samples(
    sampler: &dyn Sampler,
    objective: &dyn Objective,
    theta_map: &[f64],
    velocities: &[Vec<f64>],
    threads: usize,
    on_done: &(dyn Fn(&SampleRecord) -> std::result::Result<(), String> + Sync),
) -> Result<Vec<SampleRecord>> {
    let all: Vec<usize> = (0..velocities.len()).collect();
    run_selected(sampler, objective, theta_map, velocities, &all, threads, on_done)
}

/// Like [`run_samples`] for the sample indices in `indices` only (e.g. the ones an
/// interrupted run had not finished); results follow `indices`' order.
pub fn run_selected(
    sampler: &dyn Sampler,
    objective: &dyn Objective,
    theta_map: &[f64],
    velocities: &[Vec<f64>],
    indices: &[usize],
    threads: usize,
    on_done: &(dyn Fn(&SampleRecord) -> std::result::Result<(), String> + Sync),
) -> Result<Vec<SampleRecord>> {
    if let Some(&bad) = indices.iter().find(|&&i| i >= velocities.len()) {
        return Err(SamplerError::InvalidSetting(format!(
            "sample index {bad} out of range ({} velocities)",
            velocities.len()
        )));
    }
    par_map(threads, indices, |i| {
        let r = sampler.sample_one(objective, theta_map, &velocities[i], i)?;
        on_done(&r).map_err(SamplerError::Callback)?;
        Ok(r)
    })
}

/// Runs [`Sampler::sample_chain`] for chain i ↦ `velocities[i]` (its initial velocity or
/// momentum, which the plugin may ignore) on `threads` worker threads (0: rayon's
/// default). Chain i's states are in `result[i]`, in chain order; like the samples of
/// [`run_samples`], they depend only on (seed, i), not on the thread count.
pub fn run_chains(
    sampler: &dyn Sampler,
    objective: &dyn Objective,
    theta_map: &[f64],
    velocities: &[Vec<f64>],
    threads: usize,
) -> Result<Vec<Vec<SampleRecord>>> {
    let all: Vec<usize> = (0..velocities.len()).collect();
    par_map(threads, &all, |i| sampler.sample_chain(objective, theta_map, &velocities[i], i))
}

/// `f` over `indices` on a pool of `threads` threads, one index per job; results follow
/// `indices`' order; if a job fails, one of the failures is returned.
fn par_map<T: Send>(threads: usize, indices: &[usize], f: impl Fn(usize) -> Result<T> + Sync) -> Result<Vec<T>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| SamplerError::InvalidSetting(format!("cannot start {threads} threads: {e}")))?;
    pool.install(|| {
        // One index per rayon job (`with_max_len(1)`): with rayon's default adaptive
        // splitting a thread runs a leaf of several samples sequentially and the other
        // threads, once idle, cannot steal from it; samples differ in length by 2x, so
        // the last leaf left cores idle. Single-sample jobs make the schedule greedy: an idle thread always takes the next sample.
        indices.par_iter().with_max_len(1).map(|&i| f(i)).collect::<Result<Vec<_>>>()
    })
}
