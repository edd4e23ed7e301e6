//! The one seeded random-number helper of the workspace's tests.
//!
//! Every random test input is drawn from [`seeded`], a ChaCha8 stream
//! ([`rand::rngs::ChaCha8Rng`]): an algorithm-named generator, so a seed gives the same
//! numbers on every platform and `rand` release (unlike `StdRng`). Normals come from
//! `rand_distr`'s ziggurat [`StandardNormal`]. A test names its seed, so a failure
//! reproduces exactly.
use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::StandardNormal;

/// The generator of the tests: ChaCha8 (portable and reproducible).
pub type TestRng = ChaCha8Rng;

/// The ChaCha8 stream of `seed`.
pub fn seeded(seed: u64) -> TestRng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` independent draws of `scale`·N(0, 1) from `rng`.
pub fn normals<R: Rng + ?Sized>(rng: &mut R, n: usize, scale: f64) -> Vec<f64> {
    (0..n).map(|_| scale * rng.sample::<f64, _>(StandardNormal)).collect()
}

/// `n` independent uniform draws in [lo, hi) from `rng`.
pub fn uniforms<R: Rng + ?Sized>(rng: &mut R, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// A vector uniform in [−1, 1)ⁿ, drawn from its own stream [`seeded`]`(seed)`.
pub fn uniform_vec(n: usize, seed: u64) -> Vec<f64> {
    uniforms(&mut seeded(seed), n, -1.0, 1.0)
}

/// A unit vector in Rⁿ: [`uniform_vec`]`(n, seed)` divided by its Euclidean norm.
pub fn unit_vec(n: usize, seed: u64) -> Vec<f64> {
    let v = uniform_vec(n, seed);
    let s = v.iter().map(|z| z * z).sum::<f64>().sqrt();
    v.iter().map(|z| z / s).collect()
}
