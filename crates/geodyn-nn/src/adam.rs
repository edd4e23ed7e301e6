//! Full-batch Adam driving any [`Objective`] to a (MAP) minimum.

use crate::error::{NnError, Result};
use geodyn_core::Objective;

/// How Adam applies weight decay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightDecay {
    /// PyTorch's `Adam(weight_decay=w)`: w·θ is added to the gradient (an L2 penalty
    /// ½w|θ|² on the objective, passed through the adaptive scaling).
    L2,
    /// PyTorch's `AdamW(weight_decay=w)`: θ ← θ (1 − lr·w) before the Adam step.
    Decoupled,
}

/// Adam settings (defaults as PyTorch's `torch.optim.Adam`, plus a stopping rule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    /// Decay rate of the first-moment estimate β₁.
    pub beta1: f64,
    /// Decay rate of the second-moment estimate β₂.
    pub beta2: f64,
    /// The ε added to √v̂.
    pub eps: f64,
    /// Weight decay w (0 for none).
    pub weight_decay: f64,
    /// How the weight decay is applied.
    pub decay: WeightDecay,
    /// Maximum number of full-batch steps (epochs).
    pub max_epochs: usize,
    /// Stop when the Euclidean norm of the gradient (including an L2 weight-decay
    /// term) falls to this value or below.
    pub grad_tol: f64,
}

impl Default for Adam {
    /// lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay, 1000 epochs, grad_tol 0.
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decay: WeightDecay::L2,
            max_epochs: 1000,
            grad_tol: 0.0,
        }
    }
}

/// What a run of [`Adam::minimize`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamReport {
    /// Steps taken.
    pub epochs: usize,
    /// The objective at the final parameters.
    pub value: f64,
    /// The gradient norm at the final parameters (including L2 weight decay).
    pub grad_norm: f64,
    /// Whether the gradient-norm tolerance was met (else the epoch limit stopped it).
    pub converged: bool,
    /// The objective value before each step, then the final value.
    pub history: Vec<f64>,
}

impl Adam {
    /// Adam with learning rate `lr` and the other settings at their defaults.
    pub fn with_lr(lr: f64) -> Self {
        Self { lr, ..Self::default() }
    }

    fn validate(&self) -> Result<()> {
        let bad = |name, value, reason| Err(NnError::InvalidParameter { name, value, reason });
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", self.lr, "must be finite and > 0");
        }
        if !(0.0..1.0).contains(&self.beta1) {
            return bad("beta1", self.beta1, "must lie in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.beta2) {
            return bad("beta2", self.beta2, "must lie in [0, 1)");
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return bad("eps", self.eps, "must be finite and >= 0");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", self.weight_decay, "must be finite and >= 0");
        }
        if self.grad_tol.is_nan() || self.grad_tol < 0.0 {
            return bad("grad_tol", self.grad_tol, "must be >= 0");
        }
        Ok(())
    }

    /// Minimises `objective` from `x` (updated in place), full batch, with PyTorch's
    /// update rule:
    /// g ← ∇f(θ) (+ wθ for L2 decay); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
    /// θ ← θ − lr · (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε).
    ///
    /// Stops after `max_epochs` steps or when |g| ≤ `grad_tol`.
    pub fn minimize<O: Objective + ?Sized>(&self, objective: &O, x: &mut [f64]) -> Result<AdamReport> {
        self.validate()?;
        let k = objective.dim();
        geodyn_core::error::check_dim("x", k, x.len())?;
        let (mut m, mut v, mut g) = (vec![0.0; k], vec![0.0; k], vec![0.0; k]);
        let mut history = Vec::with_capacity(self.max_epochs.min(1 << 20) + 1);
        let (b1, b2) = (self.beta1, self.beta2);
        let (mut b1t, mut b2t) = (1.0, 1.0);
        let mut epochs = 0;
        loop {
            let f = objective.gradient(x, &mut g)?;
            if self.decay == WeightDecay::L2 && self.weight_decay > 0.0 {
                for (g, x) in g.iter_mut().zip(x.iter()) {
                    *g += self.weight_decay * x;
                }
            }
            let gn = g.iter().map(|g| g * g).sum::<f64>().sqrt();
            history.push(f);
            if !(f.is_finite() && gn.is_finite()) {
                return Err(NnError::NonFinite { what: format!("objective or gradient at epoch {epochs}") });
            }
            let converged = gn <= self.grad_tol;
            if converged || epochs >= self.max_epochs {
                return Ok(AdamReport { epochs, value: f, grad_norm: gn, converged, history });
            }
            epochs += 1;
            b1t *= b1;
            b2t *= b2;
            let (c1, c2) = (1.0 - b1t, 1.0 - b2t);
            if self.decay == WeightDecay::Decoupled && self.weight_decay > 0.0 {
                let s = 1.0 - self.lr * self.weight_decay;
                x.iter_mut().for_each(|x| *x *= s);
            }
            for (((x, m), v), g) in x.iter_mut().zip(&mut m).zip(&mut v).zip(&g) {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *x -= self.lr * (*m / c1) / ((*v / c2).sqrt() + self.eps);
            }
        }
    }
}
