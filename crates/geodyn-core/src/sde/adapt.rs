//! Step-size adaptation by dual averaging (Hoffman & Gelman 2014, as in Stan and blackjax).

use crate::error::{Error, Result};

/// Dual averaging of log h towards a target mean acceptance probability δ, run during
/// warm-up only and then frozen at its averaged iterate.
///
/// With t the warm-up iteration, α_t the acceptance probability of step t and
/// μ = log(10 h0): H̄_t = (1 − 1/(t + t0)) H̄_{t−1} + (δ − α_t)/(t + t0),
/// log h_t = μ − √t H̄_t / γ, log h̄_t = t^{−κ} log h_t + (1 − t^{−κ}) log h̄_{t−1}; the
/// sampling phase uses h̄ from the last warm-up step. Cost: O(1) per step. The frozen
/// step makes the post-warm-up chain a time-homogeneous Markov chain (adapting
/// forever would not be). A few hundred warm-up steps are needed; with fewer, the
/// averaged h̄ still carries the early large steps. Only for Metropolis-adjusted
/// schemes (an unadjusted scheme has no acceptance rate to steer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DualAveraging {
    /// The target mean acceptance probability δ ∈ (0, 1) (0.574 for MALA, Roberts &
    /// Rosenthal 1998).
    pub target: f64,
    /// The shrinkage γ > 0 (Stan: 0.05).
    pub gamma: f64,
    /// The iteration offset t0 ≥ 0 that damps the first iterations (Stan: 10).
    pub t0: f64,
    /// The averaging exponent κ ∈ (0.5, 1] (Stan: 0.75).
    pub kappa: f64,
}

impl Default for DualAveraging {
    /// Stan's constants with MALA's optimal acceptance: δ = 0.574, γ = 0.05, t0 = 10, κ = 0.75.
    fn default() -> Self {
        Self { target: 0.574, gamma: 0.05, t0: 10.0, kappa: 0.75 }
    }
}

impl DualAveraging {
    /// The default constants with target acceptance `target`.
    pub fn with_target(target: f64) -> Self {
        Self { target, ..Self::default() }
    }

    /// Returns [`Error::InvalidParameter`] for a setting out of its range.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, value, reason| Err(Error::InvalidParameter { name, value, reason });
        if !(self.target > 0.0 && self.target < 1.0) {
            return bad("target acceptance", self.target, "must lie in (0, 1)");
        }
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            return bad("dual averaging gamma", self.gamma, "must be finite and > 0");
        }
        if !(self.t0.is_finite() && self.t0 >= 0.0) {
            return bad("dual averaging t0", self.t0, "must be finite and >= 0");
        }
        if !(self.kappa > 0.5 && self.kappa <= 1.0) {
            return bad("dual averaging kappa", self.kappa, "must lie in (0.5, 1]");
        }
        Ok(())
    }

    /// The adaptation state for the initial step size `h0` (finite and > 0; the chain
    /// runner checks it as the scheme's step size).
    pub fn start(&self, h0: f64) -> DualAveragingState {
        DualAveragingState { settings: *self, mu: (10.0 * h0).ln(), h_bar: 0.0, log_h_avg: 0.0, t: 0 }
    }
}

/// The running state of a [`DualAveraging`] adaptation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DualAveragingState {
    settings: DualAveraging,
    mu: f64,
    h_bar: f64,
    log_h_avg: f64,
    t: u64,
}

impl DualAveragingState {
    /// Records the acceptance probability of one warm-up step (NaN counts as 0) and
    /// returns the step size for the next one.
    pub fn update(&mut self, accept_prob: f64) -> f64 {
        let s = &self.settings;
        let a = if accept_prob.is_nan() { 0.0 } else { accept_prob.clamp(0.0, 1.0) };
        self.t += 1;
        let t = self.t as f64;
        let w = 1.0 / (t + s.t0);
        self.h_bar = (1.0 - w) * self.h_bar + w * (s.target - a);
        let log_h = self.mu - t.sqrt() / s.gamma * self.h_bar;
        let eta = t.powf(-s.kappa);
        self.log_h_avg = eta * log_h + (1.0 - eta) * self.log_h_avg;
        log_h.exp()
    }

    /// The averaged step size h̄ = exp(log h̄_t) to freeze after warm-up (None before the
    /// first update).
    pub fn final_step(&self) -> Option<f64> {
        (self.t > 0).then(|| self.log_h_avg.exp())
    }
}
