//! Reproducible Gaussian noise: one ChaCha8 stream per (seed, chain).

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, Open01, StandardNormal};

/// The random stream of one chain: ChaCha8 seeded with `seed`, on stream `chain`.
///
/// A chain's draws depend only on (seed, chain): not on the number of threads, on
/// which thread runs the chain, or on the other chains. ChaCha8 is portable (the same
/// bits on every platform); normal variates come from `rand_distr`'s ziggurat
/// [`StandardNormal`], uniforms from [`Open01`]. Drawing costs a few nanoseconds per
/// variate and never allocates.
///
/// ```
/// use geodyn_core::sde::Noise;
/// let (mut a, mut b) = (Noise::new(7, 0), Noise::new(7, 0));
/// let (mut za, mut zb) = ([0.0; 3], [0.0; 3]);
/// a.normals(&mut za);
/// b.normals(&mut zb);
/// assert_eq!(za, zb);
/// ```
#[derive(Debug)]
pub struct Noise {
    rng: ChaCha8Rng,
}

impl Noise {
    /// The stream of chain `chain` under `seed`.
    pub fn new(seed: u64, chain: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(chain);
        Self { rng }
    }

    /// Fills `out` with independent standard normal variates.
    pub fn normals(&mut self, out: &mut [f64]) {
        for o in out.iter_mut() {
            *o = StandardNormal.sample(&mut self.rng);
        }
    }

    /// Fills `out` with a Brownian increment over a time `h`: √h z, z ∼ N(0, I).
    pub fn brownian_increment(&mut self, h: f64, out: &mut [f64]) {
        let s = h.sqrt();
        for o in out.iter_mut() {
            let z: f64 = StandardNormal.sample(&mut self.rng);
            *o = s * z;
        }
    }

    /// A uniform variate in the open interval (0, 1) (its logarithm is finite).
    pub fn uniform(&mut self) -> f64 {
        Open01.sample(&mut self.rng)
    }

    /// The underlying generator, for draws of other distributions.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }
}
