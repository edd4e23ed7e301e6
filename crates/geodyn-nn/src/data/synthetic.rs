//! The built-in synthetic data sets: the Snelson-like 1-D regression set with its
//! "in-between" gap ([`snelson_like`]) and [`two_moons`].
//!
//! Both are fixed functions of their seed: they draw from `ChaCha8Rng`, whose stream is
//! the same on every platform, so the same seed gives the same bits everywhere.

use super::{Dataset, Split};
use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The default seed of [`snelson_like`] (the CLI's embedded data set).
pub const SNELSON_LIKE_SEED: u64 = 2006;
/// Number of points of [`snelson_like`].
pub const SNELSON_LIKE_N: usize = 200;
/// Input range of [`snelson_like`].
pub const SNELSON_LIKE_RANGE: (f64, f64) = (-0.5, 6.5);
/// The "in-between" gap of [`snelson_like`]: points with 1.5 ≤ x ≤ 3 are held out.
pub const SNELSON_LIKE_GAP: (f64, f64) = (1.5, 3.0);
/// Noise standard deviation of [`snelson_like`].
pub const SNELSON_LIKE_NOISE: f64 = 0.25;

/// The noise-free function of [`snelson_like`]:
/// f(x) = sin(2.2x − 0.3) · (1 − 0.05x) + 0.6 cos(0.9x + 0.5) − 0.3.
pub fn snelson_like_mean(x: f64) -> f64 {
    (2.2 * x - 0.3).sin() * (1.0 - 0.05 * x) + 0.6 * (0.9 * x + 0.5).cos() - 0.3
}

/// A deterministic Snelson-like 1-D regression set of [`SNELSON_LIKE_N`] points:
/// x ~ U(−0.5, 6.5), y = f(x) + N(0, 0.25²) with f = [`snelson_like_mean`], drawn from
/// `ChaCha8Rng::seed_from_u64(seed)` (x and ε alternate per point). Returns the full
/// set and the gap flags (1.5 ≤ x ≤ 3).
pub fn snelson_like_full(seed: u64) -> (Dataset, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (lo, hi) = SNELSON_LIKE_RANGE;
    let mut xs = Vec::with_capacity(SNELSON_LIKE_N);
    let mut ys = Vec::with_capacity(SNELSON_LIKE_N);
    for _ in 0..SNELSON_LIKE_N {
        let u: f64 = rng.random();
        let x = lo + (hi - lo) * u;
        let e: f64 = rng.sample(StandardNormal);
        xs.push(x);
        ys.push(snelson_like_mean(x) + SNELSON_LIKE_NOISE * e);
    }
    let gap = xs.iter().map(|&x| (SNELSON_LIKE_GAP.0..=SNELSON_LIKE_GAP.1).contains(&x)).collect();
    (Dataset::regression(xs, 1, ys, 1).expect("finite synthetic data"), gap)
}

/// [`snelson_like_full`] split into training points and the held-out gap.
///
/// ```
/// let s = geodyn_nn::data::snelson_like(geodyn_nn::data::SNELSON_LIKE_SEED);
/// assert_eq!(s.train.len() + s.held_out.len(), 200);
/// assert!(s.held_out.inputs().iter().all(|&x| (1.5..=3.0).contains(&x)));
/// ```
pub fn snelson_like(seed: u64) -> Split {
    let (all, gap) = snelson_like_full(seed);
    all.split(&gap).expect("mask has the set's length")
}

/// A 2-D two-class "two moons" set of `n` points (classes alternate, n/2 each up to
/// one): class 0 on the upper half circle (cos t, sin t), class 1 on the shifted lower
/// one (1 − cos t, ½ − sin t), t ~ U(0, π), plus isotropic N(0, noise²) jitter, from
/// `ChaCha8Rng::seed_from_u64(seed)`.
pub fn two_moons(n: usize, noise: f64, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut inputs = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let t = std::f64::consts::PI * rng.random::<f64>();
        let (x, y) = if i % 2 == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
        let ex: f64 = rng.sample(StandardNormal);
        let ey: f64 = rng.sample(StandardNormal);
        inputs.push(x + noise * ex);
        inputs.push(y + noise * ey);
        labels.push(i % 2);
    }
    Dataset::classification(inputs, 2, labels, Some(2)).expect("finite synthetic data")
}
