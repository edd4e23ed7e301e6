//! The sampling schemes a chain can run, and what each step reports.

use super::euler_maruyama::check_step;
use super::noise::Noise;
use super::preconditioner::Preconditioner;
use crate::error::{Error, Result, check_dim};

/// A Langevin sampling scheme for π ∝ exp(−U/T) and its step size h.
///
/// | scheme | invariant measure | weak / strong order | cost per step |
/// |---|---|---|---|
/// | [`Ula`](Scheme::Ula) | π + O(h) | 1 / 1 (additive noise) | 1 gradient |
/// | [`Mala`](Scheme::Mala) | π exactly | — (Metropolis) | 1 gradient (the value comes with it) |
/// | [`PreconditionedUla`](Scheme::PreconditionedUla) | π + O(h) | 1 / 1 | 1 gradient + O(K²) |
/// | [`PreconditionedMala`](Scheme::PreconditionedMala) | π exactly | — | 1 gradient + O(K²) |
/// | [`Baoab`](Scheme::Baoab) | π + O(h²); θ-marginal exact on Gaussians | 2 / 1 | 1 gradient |
/// | [`Obabo`](Scheme::Obabo) | π + O(h²); momentum marginal exact on Gaussians | 2 / 1 | 1 gradient |
/// | [`LossGraphMala`](Scheme::LossGraphMala) | π exactly | — | 1 gradient (+ K + 1 HVPs with the divergence) |
/// | [`LossGraphLangevin`](Scheme::LossGraphLangevin) | π + O(h) | 1 / ½ | 1 gradient + K + 1 HVPs |
///
/// The overdamped schemes are stable for h < 2/λ_max(∇²U) (preconditioned:
/// λ_max(D∇²U)); the underdamped ones for h ω_max < 2 (ω² the eigenvalues of ∇²U).
/// Metropolis-adjusted schemes never accept a non-finite proposal; the unadjusted ones
/// report a non-finite state as [`Error::ChainDiverged`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Scheme {
    /// The unadjusted Langevin algorithm (Euler–Maruyama on overdamped Langevin):
    /// θ' = θ − h∇U(θ) + √(2hT) z. For U = x²/2, T = 1 its variance is 1/(1 − h/2).
    /// Use where a small O(h) bias is acceptable for speed; not for accurate tails.
    Ula {
        /// The step size h > 0.
        step: f64,
    },
    /// The Metropolis-adjusted Langevin algorithm (Roberts & Tweedie 1996): the ULA
    /// proposal accepted with probability min{1, π(y)q(x|y)/(π(x)q(y|x))}. Optimal
    /// acceptance ≈ 0.574 with h ∝ K^{−1/3}; adapt h with [`DualAveraging`](super::DualAveraging).
    /// Poor on badly conditioned targets (use a preconditioner).
    Mala {
        /// The step size h > 0.
        step: f64,
    },
    /// ULA with a constant SPD diffusion matrix D: θ' = θ − hD∇U + √(2hT) D^{1/2} z.
    PreconditionedUla {
        /// The step size h > 0.
        step: f64,
        /// D (the inverse mass matrix).
        preconditioner: Preconditioner,
    },
    /// MALA with the preconditioned proposal of [`PreconditionedUla`](Scheme::PreconditionedUla)
    /// and squared norms in the D⁻¹ inner product in the proposal ratio.
    PreconditionedMala {
        /// The step size h > 0.
        step: f64,
        /// D (the inverse mass matrix).
        preconditioner: Preconditioner,
    },
    /// Underdamped Langevin (unit mass) by the splitting B A O A B (Leimkuhler &
    /// Matthews 2013): B p ← p − (h/2)∇U, A θ ← θ + (h/2)p, O the exact
    /// Ornstein–Uhlenbeck flow p ← e^{−γh}p + √((1 − e^{−2γh})T) ξ. For U = ω²θ²/2
    /// and hω < 2, ⟨θ²⟩ = T/ω² exactly and ⟨p²⟩ = T(1 − h²ω²/4). The best of the
    /// splittings for configurational averages.
    Baoab {
        /// The step size h > 0.
        step: f64,
        /// The friction γ > 0.
        friction: f64,
    },
    /// Underdamped Langevin by O(h/2) B A(h) B O(h/2). For U = ω²θ²/2 and hω < 2,
    /// ⟨p²⟩ = T exactly and ⟨θ²⟩ = T/(ω²(1 − h²ω²/4)): prefer BAOAB for θ-averages.
    Obabo {
        /// The step size h > 0.
        step: f64,
        /// The friction γ > 0.
        friction: f64,
    },
    /// Riemannian MALA (Girolami & Calderhead 2011) on the loss-graph metric
    /// G = I + ggᵀ, g = ∇U: proposal y = θ + h(−G⁻¹∇U + T∇·G⁻¹) + √(2hT)G^{−1/2}z, all
    /// in closed form (G⁻¹∇U = g/s, G^{−1/2}z = z − c g(g·z), c = 1/(√s(1 + √s)),
    /// det G = s = 1 + |g|²) with a Metropolis test, so π is exact with or without
    /// the divergence term. Without the term the drift g/s is bounded by ½ whatever the
    /// scale of U, and where U is steep the noise shrinks along g; both help on steep,
    /// curved valleys. Because the proposal covariance depends on θ, the rejection rate
    /// falls only like h^{1/2} as h → 0 (MALA's at least like h^{3/2}); on a plain Gaussian
    /// it is MALA with extra work.
    LossGraphMala {
        /// The step size h > 0.
        step: f64,
        /// Whether the drift keeps the divergence term T∇·G⁻¹.
        divergence: Divergence,
    },
    /// Unadjusted Riemannian Langevin on the loss-graph metric: the
    /// [`LossGraphMala`](Scheme::LossGraphMala) proposal with the exact divergence term,
    /// always accepted (Euler–Maruyama on dθ = (−G⁻¹∇U + T∇·G⁻¹)dt + √(2T)G^{−1/2}dW).
    /// The divergence term is not optional here: without it the invariant density would
    /// be π·det G. Invariant-measure error O(h); K + 1 HVPs per step, so for small K.
    /// Explicit: across a steep curved valley the stiffness (H restricted to the
    /// directions where G⁻¹ ≈ I) limits h, and too large a step escapes along the
    /// valley instead of failing loudly; prefer [`LossGraphMala`](Scheme::LossGraphMala),
    /// which is exact and rejects such steps.
    LossGraphLangevin {
        /// The step size h > 0.
        step: f64,
    },
}

/// Whether [`Scheme::LossGraphMala`] includes the divergence term T∇·G⁻¹ in its drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// ∇·G⁻¹ = −Hg/s − g tr(H)/s + 2g(gᵀHg)/s² exactly: K + 1 Hessian-vector products
    /// per step (tr H needs K of them), so use it for small K. The proposal is then the
    /// Euler step of the Langevin diffusion with invariant measure π.
    Exact,
    /// The simplified MMALA drift without the term: one gradient per step; the chain is
    /// still exact (the Metropolis test corrects it), only its efficiency changes.
    Dropped,
}

impl Scheme {
    /// The step size h.
    pub fn step(&self) -> f64 {
        match self {
            Scheme::Ula { step }
            | Scheme::Mala { step }
            | Scheme::PreconditionedUla { step, .. }
            | Scheme::PreconditionedMala { step, .. }
            | Scheme::Baoab { step, .. }
            | Scheme::Obabo { step, .. }
            | Scheme::LossGraphMala { step, .. }
            | Scheme::LossGraphLangevin { step } => *step,
        }
    }

    /// Whether the scheme has a Metropolis test (an acceptance rate to adapt h to).
    pub fn is_adjusted(&self) -> bool {
        matches!(self, Scheme::Mala { .. } | Scheme::PreconditionedMala { .. } | Scheme::LossGraphMala { .. })
    }

    /// The scheme's name (`"ula"`, `"mala"`, `"baoab"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Ula { .. } => "ula",
            Scheme::Mala { .. } => "mala",
            Scheme::PreconditionedUla { .. } => "preconditioned-ula",
            Scheme::PreconditionedMala { .. } => "preconditioned-mala",
            Scheme::Baoab { .. } => "baoab",
            Scheme::Obabo { .. } => "obabo",
            Scheme::LossGraphMala { .. } => "loss-graph-mala",
            Scheme::LossGraphLangevin { .. } => "loss-graph-langevin",
        }
    }

    /// Checks the settings for a target of dimension `dim`: h (and γ) finite and > 0,
    /// a preconditioner of dimension `dim`.
    pub fn validate(&self, dim: usize) -> Result<()> {
        check_step(self.step())?;
        match self {
            Scheme::PreconditionedUla { preconditioner, .. } | Scheme::PreconditionedMala { preconditioner, .. } => {
                check_dim("preconditioner", dim, preconditioner.dim())
            }
            Scheme::Baoab { friction, .. } | Scheme::Obabo { friction, .. } => {
                if friction.is_finite() && *friction > 0.0 {
                    Ok(())
                } else {
                    Err(Error::InvalidParameter {
                        name: "friction",
                        value: *friction,
                        reason: "must be finite and > 0",
                    })
                }
            }
            _ => Ok(()),
        }
    }
}

/// What one step of a kernel reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Transition {
    /// The acceptance probability min{1, α} (1 for unadjusted schemes).
    pub accept_prob: f64,
    /// Whether the proposal was accepted.
    pub accepted: bool,
}

impl Transition {
    pub(crate) const MOVE: Transition = Transition { accept_prob: 1.0, accepted: true };
    pub(crate) const REJECT: Transition = Transition { accept_prob: 0.0, accepted: false };

    /// The Metropolis decision for the log ratio `log_alpha` and the uniform `u`.
    pub(crate) fn metropolis(log_alpha: f64, u: f64) -> Transition {
        if log_alpha.is_nan() {
            return Transition::REJECT;
        }
        Transition { accept_prob: log_alpha.min(0.0).exp(), accepted: u.ln() < log_alpha }
    }
}

/// One chain's sampling kernel: its own buffers, allocated once.
pub(crate) trait Kernel {
    /// Caches what the kernel needs at the start x (gradient, momentum).
    fn init(&mut self, x: &[f64], noise: &mut Noise) -> Result<()>;
    /// One step of size h from x (overwritten). A non-finite state is
    /// [`Error::NonFinite`].
    fn step(&mut self, h: f64, x: &mut [f64], noise: &mut Noise) -> Result<Transition>;
    /// (gradient evaluations, Hessian-vector products) so far.
    fn counts(&self) -> (u64, u64);
}

/// [`Error::NonFinite`] naming the state unless `u` and every entry of `v` are finite.
pub(crate) fn finite_state(u: f64, v: &[f64]) -> Result<()> {
    if u.is_finite() && v.iter().all(|x| x.is_finite()) { Ok(()) } else { Err(Error::NonFinite { what: "state" }) }
}
