//! Problems with closed-form solutions, for convergence orders and pinned solve
//! statistics.
use crate::objectives::PlaneLoss;
use geodyn_core::integrate::FirstOrderSystem;
use geodyn_core::{Constant, IntrinsicPotential, LossGraph, Mechanics, Result};

/// DiMS on the linear loss L(θ) = aᵀθ (a plane graph, H = 0, g = a) with constant
/// friction: ẍ = −(ẋᵀHẋ + κ) g/(1+|g|²) − ηẋ is the linear system ẍ = c − ηẋ with
/// c = −κa/(1+|a|²), solved in [`PlaneDims::exact`]. Every integrator, RATTLE included,
/// applies to it.
pub struct PlaneDims {
    /// The loss gradient a.
    pub a: Vec<f64>,
    /// The potential's scale κ.
    pub kappa: f64,
    /// The friction coefficient η > 0.
    pub eta: f64,
}

impl PlaneDims {
    /// The instance of the order tests: a = (0.3, −0.4), κ = 1, η = 0.5 in R².
    pub fn standard() -> Self {
        Self { a: vec![0.3, -0.4], kappa: 1.0, eta: 0.5 }
    }

    /// The DiMS system `Mechanics::dims(PlaneLoss(a), κ, 0, Constant(η))`.
    pub fn system(&self) -> Mechanics<LossGraph<PlaneLoss>, Constant, IntrinsicPotential> {
        Mechanics::dims(PlaneLoss(self.a.clone()), self.kappa, 0.0, Constant(self.eta)).unwrap()
    }

    /// The solution of ẍ = c − ηẋ from (x0, v0) at time t:
    /// ẋ(t) = c/η + (v0 − c/η)e^{−ηt}, x(t) = x0 + (c/η)t + (v0 − c/η)(1 − e^{−ηt})/η.
    pub fn exact(&self, x0: &[f64], v0: &[f64], t: f64) -> (Vec<f64>, Vec<f64>) {
        let aa: f64 = self.a.iter().map(|a| a * a).sum();
        let decay = (-self.eta * t).exp();
        let (mut x, mut v) = (vec![0.0; self.a.len()], vec![0.0; self.a.len()]);
        for j in 0..self.a.len() {
            let drift = -self.kappa * self.a[j] / (1.0 + aa) / self.eta;
            v[j] = drift + (v0[j] - drift) * decay;
            x[j] = x0[j] + drift * t + (v0[j] - drift) * (1.0 - decay) / self.eta;
        }
        (x, v)
    }
}

/// The underdamped mode ẍ = −kx − ηẋ (4k > η²) from x(0) = 1, ẋ(0) = 0 at time t:
/// x(t) = e^{−ηt/2}(cos ωt + (η/2ω) sin ωt), ω = √(k − η²/4), and ẋ(t). Returns (x, ẋ).
pub fn damped_mode(k: f64, eta: f64, t: f64) -> (f64, f64) {
    let (g, w) = (0.5 * eta, (k - 0.25 * eta * eta).sqrt());
    let (c, s, e) = ((w * t).cos(), (w * t).sin(), (-g * t).exp());
    (e * (c + g / w * s), e * (-g * (c + g / w * s) + (-w * s + g * c)))
}

/// Exponential decay ẏ = −Λy with Λ = diag(λ): y(t) = e^{−Λt}y0 ([`Decay::exact`]).
pub struct Decay(pub Vec<f64>);

impl Decay {
    /// y(t) = e^{−Λt} y0.
    pub fn exact(&self, y0: &[f64], t: f64) -> Vec<f64> {
        self.0.iter().zip(y0).map(|(l, y)| y * (-l * t).exp()).collect()
    }
}

impl FirstOrderSystem for Decay {
    fn dim(&self) -> usize {
        self.0.len()
    }
    fn rhs(&self, _t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
        for ((d, l), y) in dy.iter_mut().zip(&self.0).zip(y) {
            *d = -l * y;
        }
        Ok(())
    }
}
