//! Objectives (losses) with hand-derived gradients and Hessian-vector products.
use geodyn_core::{Error, Objective, Result, dot};

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
    /// A, row-major k×k, symmetric.
    pub a: Vec<f64>,
    /// b.
    pub b: Vec<f64>,
}

impl Wiggly {
    /// The instance on R^k: A_ii = 2 + i, A_ij = 0.3/(1 + i + j), b_i = 0.5 − 0.2i.
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
    /// The dimension k.
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
    /// The gradient ∇L(x) as a new vector. (No third-derivative contraction is provided:
    /// the loss graph's Christoffel symbols involve only g and H.)
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

/// An anisotropic quadratic + quartic loss on R^k, rotated so that it is not separable:
/// with y = Qθ, Q = I − 2uuᵀ/|u|² (a Householder reflection, symmetric orthogonal),
///
/// L(θ) = Σ_i ½ c_i y_i² + ¼ q |y|⁴,
/// ∇L = Q (c ⊙ y + q|y|² y),  ∇²L = Q (diag(c) + q|y|² I + 2q y yᵀ) Q.
///
/// The curvatures at the minimum θ = 0 are the c_i, log-spaced from `c_min` to `c_max`.
pub struct AnisotropicQuartic {
    /// The curvatures c_i at the minimum.
    pub c: Vec<f64>,
    /// The quartic strength q.
    pub q: f64,
    /// The Householder vector u of the rotation Q.
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

/// L(θ) = ½ Σ_i c_i θ_i²: an axis-aligned quadratic (½x² for `c = [1]`),
/// ∇L = c ⊙ θ, ∇²L = diag(c). With `Mechanics::new(Euclidean, Constant(η))` and V = k·L
/// it is the damped oscillator ẍ = −k c ⊙ x − ηẋ, one mode per coordinate
/// ([`crate::closed_form::damped_mode`]).
pub struct AxisQuadratic(pub Vec<f64>);

impl Objective for AxisQuadratic {
    fn dim(&self) -> usize {
        self.0.len()
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        Ok(0.5 * self.0.iter().zip(x).map(|(c, x)| c * x * x).sum::<f64>())
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        for ((gi, c), xi) in g.iter_mut().zip(&self.0).zip(x) {
            *gi = c * xi;
        }
        self.value(x)
    }
    fn hvp(&self, _x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        for ((h, c), vi) in hv.iter_mut().zip(&self.0).zip(v) {
            *h = c * vi;
        }
        Ok(())
    }
}

/// The linear loss L(θ) = aᵀθ: ∇L = a, ∇²L = 0. Its graph is a plane, so the loss-graph
/// metric I + aaᵀ is constant and DiMS on it is linear
/// ([`crate::closed_form::PlaneDims`]).
pub struct PlaneLoss(pub Vec<f64>);

impl Objective for PlaneLoss {
    fn dim(&self) -> usize {
        self.0.len()
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        Ok(dot(&self.0, x))
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        g.copy_from_slice(&self.0);
        self.value(x)
    }
    fn hvp(&self, _x: &[f64], _v: &[f64], hv: &mut [f64]) -> Result<()> {
        hv.fill(0.0);
        Ok(())
    }
}

/// L(x) = −x on R¹ that fails beyond a cliff: for x > 2 the value is the typed error
/// `NonFinite { what: "loss" }` (the gradient −1 is exact elsewhere), so a run that
/// crosses x = 2 must report the objective's failure and the time reached.
pub struct Cliff;

impl Objective for Cliff {
    fn dim(&self) -> usize {
        1
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        if x[0] > 2.0 { Err(Error::NonFinite { what: "loss" }) } else { Ok(-x[0]) }
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        g[0] = -1.0;
        self.value(x)
    }
    fn hvp(&self, _x: &[f64], _v: &[f64], hv: &mut [f64]) -> Result<()> {
        hv[0] = 0.0;
        Ok(())
    }
}
