//! Shared fixtures: the same spec, parameters and data for both backends.
#![allow(dead_code)]

use geodyn_dfdx::DfdxMlpObjective;
use geodyn_dual::MlpObjective;
use geodyn_nn::{Dataset, Loss, ModelSpec};
use geodyn_testkit::rng::{TestRng, normals, seeded};

/// Both backends' objectives for one problem, a parameter vector and a direction.
pub struct Pair {
    pub dual: MlpObjective,
    pub dfdx: DfdxMlpObjective,
    pub theta: Vec<f64>,
    pub v: Vec<f64>,
}

/// Regression: `spec` on `n` random inputs, sin-like targets, Gaussian σ = 0.4, λ = 0.3.
pub fn regression(spec: &str, n: usize, seed: u64) -> Pair {
    let spec: ModelSpec = spec.parse().unwrap();
    let mut rng = seeded(seed);
    let (d, m) = (spec.input_dim(), spec.output_dim());
    let x = normals(&mut rng, n * d, 1.0);
    let y: Vec<f64> = (0..n * m).map(|i| (1.3 * x[(i / m) * d] + i as f64).sin()).collect();
    let data = Dataset::regression(x, d, y, m).unwrap();
    pair(spec, data, Loss::gaussian(0.4).unwrap(), &mut rng)
}

/// Classification: C = output width classes, cross-entropy with label smoothing 0.1.
pub fn classification(spec: &str, n: usize, seed: u64) -> Pair {
    let spec: ModelSpec = spec.parse().unwrap();
    let mut rng = seeded(seed);
    let (d, c) = (spec.input_dim(), spec.output_dim());
    let x = normals(&mut rng, n * d, 1.0);
    let labels = (0..n).map(|i| (i * 7 + 3) % c).collect();
    let data = Dataset::classification(x, d, labels, Some(c)).unwrap();
    pair(spec, data, Loss::cross_entropy(0.1).unwrap(), &mut rng)
}

fn pair(spec: ModelSpec, data: Dataset, loss: Loss, rng: &mut TestRng) -> Pair {
    let theta = normals(rng, spec.num_params(), 0.7);
    let v = normals(rng, spec.num_params(), 1.0);
    Pair {
        dual: MlpObjective::new(spec.clone(), data.clone(), loss, 0.3).unwrap(),
        dfdx: DfdxMlpObjective::new(spec, data, loss, 0.3).unwrap(),
        theta,
        v,
    }
}

/// ‖a − b‖∞ / ‖b‖∞.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let d = a.iter().zip(b).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    d / b.iter().fold(0.0f64, |m, b| m.max(b.abs())).max(1e-300)
}

/// |a − b| / |b|.
pub fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}
