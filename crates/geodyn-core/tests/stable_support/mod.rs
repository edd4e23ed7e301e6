//! Test problems for the energy-projected integrator (hand-derived derivatives, no
//! autodiff), shared by the `stable_*` tests.
#![allow(dead_code)]

use geodyn_core::{Objective, Result, dot};

/// An anisotropic quadratic + quartic loss on R^k, rotated so that it is not separable:
/// with y = Qθ, Q = I − 2uuᵀ/|u|² (a Householder reflection, symmetric orthogonal),
///
/// L(θ) = Σ_i ½ c_i y_i² + ¼ q |y|⁴,
/// ∇L = Q (c ⊙ y + q|y|² y),  ∇²L = Q (diag(c) + q|y|² I + 2q y yᵀ) Q.
///
/// The curvatures at the minimum θ = 0 are the c_i, log-spaced from `c_min` to `c_max`.
pub struct AnisotropicQuartic {
    pub c: Vec<f64>,
    pub q: f64,
    pub u: Vec<f64>,
}

impl AnisotropicQuartic {
    /// Curvatures log-spaced in [c_min, c_max] on R^k, quartic strength q.
    pub fn new(k: usize, c_min: f64, c_max: f64, q: f64) -> Self {
        let c = (0..k).map(|i| c_min * (c_max / c_min).powf(i as f64 / (k.max(2) - 1) as f64)).collect();
        let u = (0..k).map(|i| 1.0 + 0.37 * i as f64 - 0.05 * (i * i) as f64).collect();
        Self { c, q, u }
    }
    /// The paper-like stiff test problem: R^8, curvatures 1e-2 … 1e4, q = 1.
    pub fn stiff() -> Self {
        Self::new(8, 1e-2, 1e4, 1.0)
    }
    fn reflect(&self, v: &[f64], out: &mut [f64]) {
        let s = 2.0 * dot(&self.u, v) / dot(&self.u, &self.u);
        for i in 0..v.len() {
            out[i] = v[i] - s * self.u[i];
        }
    }
}

impl Objective for AnisotropicQuartic {
    fn dim(&self) -> usize {
        self.c.len()
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        let mut y = vec![0.0; x.len()];
        self.reflect(x, &mut y);
        let r2 = dot(&y, &y);
        Ok(0.5 * self.c.iter().zip(&y).map(|(c, y)| c * y * y).sum::<f64>() + 0.25 * self.q * r2 * r2)
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        let k = x.len();
        let mut y = vec![0.0; k];
        self.reflect(x, &mut y);
        let r2 = dot(&y, &y);
        let gy: Vec<f64> = (0..k).map(|i| self.c[i] * y[i] + self.q * r2 * y[i]).collect();
        self.reflect(&gy, g);
        Ok(0.5 * self.c.iter().zip(&y).map(|(c, y)| c * y * y).sum::<f64>() + 0.25 * self.q * r2 * r2)
    }
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        let k = x.len();
        let (mut y, mut w) = (vec![0.0; k], vec![0.0; k]);
        self.reflect(x, &mut y);
        self.reflect(v, &mut w);
        let (r2, yw) = (dot(&y, &y), dot(&y, &w));
        let hw: Vec<f64> = (0..k).map(|i| self.c[i] * w[i] + self.q * r2 * w[i] + 2.0 * self.q * yw * y[i]).collect();
        self.reflect(&hw, hv);
        Ok(())
    }
    fn grad_and_curvature(&self, x: &[f64], v: &[f64], g: &mut [f64]) -> Result<(f64, f64)> {
        let k = x.len();
        let (mut y, mut w) = (vec![0.0; k], vec![0.0; k]);
        self.reflect(x, &mut y);
        self.reflect(v, &mut w);
        let (r2, yw, w2) = (dot(&y, &y), dot(&y, &w), dot(&w, &w));
        let gy: Vec<f64> = (0..k).map(|i| self.c[i] * y[i] + self.q * r2 * y[i]).collect();
        self.reflect(&gy, g);
        let vhv = (0..k).map(|i| self.c[i] * w[i] * w[i]).sum::<f64>() + self.q * r2 * w2 + 2.0 * self.q * yw * yw;
        let f = 0.5 * self.c.iter().zip(&y).map(|(c, y)| c * y * y).sum::<f64>() + 0.25 * self.q * r2 * r2;
        Ok((f, vhv))
    }
}

/// A deterministic pseudo-random vector in [-1, 1]^n (splitmix64).
pub fn pseudo_random(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E3779B97F4A7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// A unit-norm pseudo-random initial velocity.
pub fn unit_velocity(n: usize, seed: u64) -> Vec<f64> {
    let v = pseudo_random(n, seed);
    let s = dot(&v, &v).sqrt();
    v.iter().map(|z| z / s).collect()
}
