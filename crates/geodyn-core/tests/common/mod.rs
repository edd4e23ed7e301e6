//! Hand-derived test functions with closed-form derivatives (no autodiff), shared by
//! the core tests.
#![allow(dead_code)]

use geodyn_core::{Embedding, Objective, Result, dot};

/// L(θ) = (|θ|² − 1)²: ∇L = 4(r² − 1)θ, ∇²L = 4(r² − 1)I + 8θθᵀ.
pub struct SphereLoss(pub usize);

impl Objective for SphereLoss {
    fn dim(&self) -> usize {
        self.0
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        let r2 = dot(x, x);
        Ok((r2 - 1.0) * (r2 - 1.0))
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        let r2 = dot(x, x);
        for (gi, xi) in g.iter_mut().zip(x) {
            *gi = 4.0 * (r2 - 1.0) * xi;
        }
        Ok((r2 - 1.0) * (r2 - 1.0))
    }
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        let r2 = dot(x, x);
        let xv = dot(x, v);
        for i in 0..x.len() {
            hv[i] = 4.0 * (r2 - 1.0) * v[i] + 8.0 * x[i] * xv;
        }
        Ok(())
    }
}

/// A non-quadratic, non-separable test loss on R^k:
/// L(θ) = Σ_i θ_i⁴/4 + ½ θᵀAθ + sin(b·θ) with A symmetric.
pub struct Wiggly {
    pub a: Vec<f64>, // row-major k×k, symmetric
    pub b: Vec<f64>,
}

impl Wiggly {
    pub fn new(k: usize) -> Self {
        let mut a = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                a[i * k + j] = if i == j { 2.0 + i as f64 } else { 0.3 / (1.0 + (i + j) as f64) };
            }
        }
        let b = (0..k).map(|i| 0.5 - 0.2 * i as f64).collect();
        Self { a, b }
    }
    pub fn k(&self) -> usize {
        self.b.len()
    }
    /// The dense Hessian, row-major.
    pub fn hessian(&self, x: &[f64]) -> Vec<f64> {
        let k = self.k();
        let s = dot(&self.b, x).sin();
        let mut h = self.a.clone();
        for i in 0..k {
            h[i * k + i] += 3.0 * x[i] * x[i];
            for j in 0..k {
                h[i * k + j] -= s * self.b[i] * self.b[j];
            }
        }
        h
    }
    /// The dense Hessian's third derivative contraction is not needed: the loss graph's
    /// Christoffel symbols involve only g and H.
    pub fn grad_vec(&self, x: &[f64]) -> Vec<f64> {
        let mut g = vec![0.0; self.k()];
        self.gradient(x, &mut g).unwrap();
        g
    }
}

impl Objective for Wiggly {
    fn dim(&self) -> usize {
        self.k()
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        let k = self.k();
        let mut f = dot(&self.b, x).sin();
        for i in 0..k {
            f += x[i].powi(4) / 4.0;
            for j in 0..k {
                f += 0.5 * x[i] * self.a[i * k + j] * x[j];
            }
        }
        Ok(f)
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        let k = self.k();
        let c = dot(&self.b, x).cos();
        for i in 0..k {
            g[i] = x[i].powi(3) + dot(&self.a[i * k..(i + 1) * k], x) + c * self.b[i];
        }
        self.value(x)
    }
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        let h = self.hessian(x);
        let k = self.k();
        for i in 0..k {
            hv[i] = dot(&h[i * k..(i + 1) * k], v);
        }
        Ok(())
    }
}

/// The graph embedding E(θ) = (θ, L(θ)) ∈ R^{k+1} of an objective, with exact
/// derivatives from the objective's gradient and HVP.
pub struct GraphEmbedding<O>(pub O);

impl<O: Objective> Embedding for GraphEmbedding<O> {
    fn input_dim(&self) -> usize {
        self.0.dim()
    }
    fn output_dim(&self) -> usize {
        self.0.dim() + 1
    }
    fn value(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        let k = x.len();
        out[..k].copy_from_slice(x);
        out[k] = self.0.value(x)?;
        Ok(())
    }
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let k = x.len();
        let mut g = vec![0.0; k];
        self.0.gradient(x, &mut g)?;
        out[..k].copy_from_slice(v);
        out[k] = dot(&g, v);
        Ok(())
    }
    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        let k = x.len();
        let mut g = vec![0.0; k];
        self.0.gradient(x, &mut g)?;
        for i in 0..k {
            out[i] = u[i] + u[k] * g[i];
        }
        Ok(())
    }
    fn second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let k = x.len();
        let mut hv = vec![0.0; k];
        self.0.hvp(x, v, &mut hv)?;
        out[..k].fill(0.0);
        out[k] = dot(v, &hv);
        Ok(())
    }
}

/// Spherical coordinates (θ, φ) ↦ (sinθ cosφ, sinθ sinφ, cosθ) on the unit sphere.
pub struct SphericalCoordinates;

impl SphericalCoordinates {
    pub fn jacobian(x: &[f64]) -> [[f64; 2]; 3] {
        let (st, ct, sp, cp) = (x[0].sin(), x[0].cos(), x[1].sin(), x[1].cos());
        [[ct * cp, -st * sp], [ct * sp, st * cp], [-st, 0.0]]
    }
}

impl Embedding for SphericalCoordinates {
    fn input_dim(&self) -> usize {
        2
    }
    fn output_dim(&self) -> usize {
        3
    }
    fn value(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        out[0] = x[0].sin() * x[1].cos();
        out[1] = x[0].sin() * x[1].sin();
        out[2] = x[0].cos();
        Ok(())
    }
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let j = Self::jacobian(x);
        for r in 0..3 {
            out[r] = j[r][0] * v[0] + j[r][1] * v[1];
        }
        Ok(())
    }
    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        let j = Self::jacobian(x);
        for c in 0..2 {
            out[c] = (0..3).map(|r| j[r][c] * u[r]).sum();
        }
        Ok(())
    }
    fn second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        // d²/dt² of E(x + t v): second partials contracted with v twice.
        let (st, ct, sp, cp) = (x[0].sin(), x[0].cos(), x[1].sin(), x[1].cos());
        let (a, b) = (v[0], v[1]);
        out[0] = -st * cp * a * a - 2.0 * ct * sp * a * b - st * cp * b * b;
        out[1] = -st * sp * a * a + 2.0 * ct * cp * a * b - st * sp * b * b;
        out[2] = -ct * a * a;
        Ok(())
    }
}

/// Solves a dense row-major system by Gaussian elimination (test reference only).
pub fn dense_solve(a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut m = a.to_vec();
    let mut x = b.to_vec();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| m[i * n + c].abs().total_cmp(&m[j * n + c].abs())).unwrap();
        for k in 0..n {
            m.swap(c * n + k, p * n + k);
        }
        x.swap(c, p);
        for r in c + 1..n {
            let f = m[r * n + c] / m[c * n + c];
            for k in c..n {
                m[r * n + k] -= f * m[c * n + k];
            }
            x[r] -= f * x[c];
        }
    }
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| m[r * n + k] * x[k]).sum();
        x[r] = (x[r] - s) / m[r * n + r];
    }
    x
}

/// max_i |a_i − b_i| / max(1, max_i |b_i|).
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Composite Simpson rule on an odd number of equally spaced samples.
pub fn simpson(h: f64, f: &[f64]) -> f64 {
    let n = f.len();
    assert!(n % 2 == 1 && n >= 3);
    let mut s = f[0] + f[n - 1];
    for (i, fi) in f.iter().enumerate().take(n - 1).skip(1) {
        s += if i % 2 == 1 { 4.0 * fi } else { 2.0 * fi };
    }
    s * h / 3.0
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
