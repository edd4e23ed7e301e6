//! Underdamped Langevin kernels: the BAOAB and OBABO splittings with an exact O-step.

use super::noise::Noise;
use super::problem::Gibbs;
use super::scheme::{Kernel, Transition, finite_state};
use crate::error::Result;
use crate::objective::Objective;

/// Which splitting of dθ = p dt, dp = −∇U dt − γp dt + √(2γT) dW.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Splitting {
    /// B A O A B.
    Baoab,
    /// O(h/2) B A B O(h/2).
    Obabo,
}

/// An underdamped kernel with unit mass; the momentum p lives here (it is not part of
/// the samples). One gradient per step: the force at the end of a step is reused at the
/// start of the next.
pub(crate) struct Underdamped<'a, O> {
    target: &'a Gibbs<O>,
    splitting: Splitting,
    friction: f64,
    p: Vec<f64>,
    g: Vec<f64>,
    xi: Vec<f64>,
    gradients: u64,
}

impl<'a, O: Objective> Underdamped<'a, O> {
    pub(crate) fn new(target: &'a Gibbs<O>, splitting: Splitting, friction: f64) -> Self {
        let k = target.dim();
        Self { target, splitting, friction, p: vec![0.0; k], g: vec![0.0; k], xi: vec![0.0; k], gradients: 0 }
    }

    /// B: p ← p − τ∇U.
    fn kick(&mut self, tau: f64) {
        for (p, g) in self.p.iter_mut().zip(&self.g) {
            *p -= tau * g;
        }
    }

    /// O: the exact Ornstein–Uhlenbeck flow of dp = −γp dt + √(2γT) dW over a time τ.
    fn thermostat(&mut self, tau: f64, noise: &mut Noise) {
        let c = (-self.friction * tau).exp();
        let s = ((1.0 - c * c) * self.target.temperature()).sqrt();
        noise.normals(&mut self.xi);
        for (p, xi) in self.p.iter_mut().zip(&self.xi) {
            *p = c * *p + s * xi;
        }
    }

    /// The force at x (one gradient), checked finite.
    fn force(&mut self, x: &[f64]) -> Result<()> {
        self.gradients += 1;
        let u = self.target.potential().gradient(x, &mut self.g)?;
        finite_state(u, &self.g)
    }
}

/// A: θ ← θ + τp.
fn drift(x: &mut [f64], p: &[f64], tau: f64) {
    for (x, p) in x.iter_mut().zip(p) {
        *x += tau * p;
    }
}

impl<O: Objective> Kernel for Underdamped<'_, O> {
    /// Draws p ∼ N(0, T I) (the momentum marginal of the invariant measure) and the force.
    fn init(&mut self, x: &[f64], noise: &mut Noise) -> Result<()> {
        noise.normals(&mut self.p);
        let s = self.target.temperature().sqrt();
        self.p.iter_mut().for_each(|p| *p *= s);
        self.force(x)
    }

    fn step(&mut self, h: f64, x: &mut [f64], noise: &mut Noise) -> Result<Transition> {
        match self.splitting {
            Splitting::Baoab => {
                self.kick(0.5 * h);
                drift(x, &self.p, 0.5 * h);
                self.thermostat(h, noise);
                drift(x, &self.p, 0.5 * h);
                self.force(x)?;
                self.kick(0.5 * h);
            }
            Splitting::Obabo => {
                self.thermostat(0.5 * h, noise);
                self.kick(0.5 * h);
                drift(x, &self.p, h);
                self.force(x)?;
                self.kick(0.5 * h);
                self.thermostat(0.5 * h, noise);
            }
        }
        finite_state(0.0, &self.p)?;
        Ok(Transition::MOVE)
    }

    fn counts(&self) -> (u64, u64) {
        (self.gradients, 0)
    }
}
