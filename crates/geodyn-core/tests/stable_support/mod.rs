//! Test problems for the energy-projected and LossGraphRattle integrators (hand-derived
//! derivatives, no autodiff) and the checks both are held to, shared by
//! `stable_integrator`, `graph_rattle` and the `integrator_study` example.
#![allow(dead_code)]

use geodyn_core::{
    Energy, IntegrateOptions, IntrinsicPotential, LossGraph, Mechanics, Objective, Result, SecondOrderSystem, Solution,
    SpeedDependent, StopReason, dot, integrate,
};

/// DiMS (κ = 1, L* = 0, η = η0√T) on the stiff loss: curvatures 1e-2 … 1e4 in R^8.
pub fn stiff_dims(eta0: f64) -> Mechanics<LossGraph<AnisotropicQuartic>, SpeedDependent, IntrinsicPotential> {
    Mechanics::dims(AnisotropicQuartic::stiff(), 1.0, 0.0, SpeedDependent(eta0)).unwrap()
}

/// Energies at the accepted states of a run, recomputed from scratch.
pub fn energies<S: SecondOrderSystem>(sys: &S, sol: &Solution) -> Vec<Energy> {
    sol.trajectory.as_ref().unwrap().iter().map(|p| sys.energy(&p.x, &p.v).unwrap()).collect()
}

/// DiMS Theorem 2 on [`stiff_dims`] from the minimum, for four (η0, ε) pairs with the
/// initial velocity 2·`velocity(seed)`: with η = η0√T the first time T < ε lies in
/// (t0, t0 + H(t0)/(2η0 ε^{3/2})]; T at the returned state is below ε and within
/// `event_rel` of it (the event is located where T crosses ε); and H ≤ H(t0) there.
/// `options(t1)` selects the method.
pub fn check_theorem_2(options: impl Fn(f64) -> IntegrateOptions, velocity: impl Fn(u64) -> Vec<f64>, event_rel: f64) {
    let t0 = 0.5;
    for &(eta0, eps, seed) in &[(0.5f64, 0.05f64, 1u64), (1.0, 0.01, 2), (0.2, 0.1, 3), (0.1, 1e-3, 4)] {
        let sys = stiff_dims(eta0);
        let x0 = vec![0.0; 8];
        let v0: Vec<f64> = velocity(seed).iter().map(|z| 2.0 * z).collect();
        let h0 = sys.energy(&x0, &v0).unwrap().total();
        let bound = t0 + h0 / (2.0 * eta0 * eps.powf(1.5));
        let sol = integrate(&sys, &x0, &v0, &options(1e5).t0(t0).stop_below_kinetic(eps)).unwrap();
        assert_eq!(sol.stop, StopReason::KineticBelow { threshold: eps });
        assert!(sol.t > t0 && sol.t <= bound, "t_eps = {} not in (t0, {bound}]", sol.t);
        let end = sys.energy(&sol.x, &sol.v).unwrap();
        assert!(
            end.kinetic < eps && end.kinetic > eps * (1.0 - event_rel),
            "T at the event = {}, ε = {eps}",
            end.kinetic
        );
        assert!(end.total() <= h0, "H(event) = {} > H(t0) = {h0}", end.total());
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
