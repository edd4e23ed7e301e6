//! Energy-projected Runge–Kutta integration for dissipative mechanics
//! ([`Method::EnergyProjected`] and [`Method::EnergyProjectedDopri5`]).
//!
//! # The problem
//!
//! DiMS dissipates energy exactly, dH/dt = −2ηT ≤ 0 (Lemma 1), and geodesics (RLA)
//! conserve T. An explicit Runge–Kutta pair under atol/rtol controls the local error in
//! the state, not in H. On stiff losses (Hessian eigenvalues up to 1e4 … 1e6) its steps
//! are stability-limited: the controller keeps hλ near the edge of the stability region,
//! where stiff components are amplified between rejections, and at the DiMS paper's
//! tolerances (atol 1e-6, rtol 1e-7) H rises again and again — energy injected by the
//! integrator — and geodesics lose or gain T.
//!
//! # The method
//!
//! Each step is one step of Tsitouras' 5(4) pair (the tableau of diffsol's Tsit45;
//! 7 stages, first-same-as-last, 6 right-hand sides per step) from (x_n, v_n) to
//! (x̃, ṽ) — or of Dormand and Prince's 5(4) pair with
//! [`Method::EnergyProjectedDopri5`], same shape, see [below](#the-pair-long-runs) —
//! followed by an energy projection:
//!
//! 1. **Energy target.** The stages already know the dissipated power P_i = 2η_iT_i
//!    ([`Mechanics`](crate::Mechanics) returns it with the acceleration, see
//!    [`SecondOrderSystem::evaluate`]). The step's dissipated energy is estimated by the
//!    Runge–Kutta quadrature ΔE = h Σ b_i P_i (5th order; the entropy estimate of
//!    relaxation Runge–Kutta methods, Ketcheson 2019, Ranocha et al. 2020), clipped at
//!    ΔE ≥ 0 when every P_i ≥ 0 (both pairs have a negative weight). Target:
//!    H* = H_n − ΔE.
//! 2. **Velocity scaling.** x_{n+1} = x̃ and v_{n+1} = αṽ with H(x̃, αṽ) = H*. For
//!    quadratic kinetic energies T(x, αv) = α²T(x, v)
//!    ([`SecondOrderSystem::quadratic_kinetic`]), α = √((H* − V(x̃)) / T(x̃, ṽ)) in closed
//!    form; T(x̃, ṽ) and V(x̃) come from the FSAL stage's evaluation, so the projection
//!    costs no evaluation at all. Other systems get a few secant iterations on
//!    [`SecondOrderSystem::energy`].
//! 3. **Acceptance.** A step is rejected (and h reduced) if the embedded error estimate
//!    exceeds the tolerance, if no α reaches H* (V(x̃) > H*: h is halved), or if the
//!    velocity correction (α − 1)ṽ exceeds ten times the tolerance in the same norm — a
//!    consistency check: the correction is normally far below the error estimate. A
//!    stage whose state or evaluation is NaN or infinite (an evaluation failing with
//!    [`Error::NonFinite`]: a step so large that a stage overflows) also rejects the step
//!    and halves h; only if h cannot recover (step-size underflow, or more than 40
//!    consecutive rejections) does the run fail, with that evaluation's error.
//! 4. **Step size.** Hairer's initial step (one extra right-hand side, as diffsol) and a
//!    PI controller h ← h·s·err_n^{−0.14}·err_{n−1}^{0.08}: DOPRI5's controller with
//!    β = 0.08 (its code allows β ≤ 0.1 and defaults to 0.04), which is also
//!    Gustafsson's (1991) recommended k_I = 0.3/k, k_P = 0.4/k for k = 5, with the safety
//!    factor s chosen to aim at the same error level as diffsol's P controller. The
//!    err_{n−1} term damps the step-size oscillation at the stability boundary, where
//!    the DiMS and RLA trajectories of neural networks spend most of their steps. No
//!    growth right after a rejection (as DOPRI5), and growth of at most 1.2× per step
//!    over the next 10 accepted steps: near that boundary the error estimate is far from
//!    the h⁵ law (traced on the default problem: 0.02 at h, 2 at 1.5h), so the usual
//!    growth of up to 5× lands beyond it and wastes six right-hand sides. See the
//!    measurements below for both choices.
//!
//! The next step's first stage reuses the FSAL acceleration a(x̃, ṽ) although the state
//! is (x̃, αṽ). The mismatch (α − 1)∂a/∂v·ṽ is of the size of the local error and enters
//! the next step multiplied by h, so the order is kept; re-evaluating the first stage
//! instead cost 13% more right-hand sides and changed H(1000) below 1e-4 relative in the
//! measurements below.
//!
//! Dense output (for output times and the stop event) is Tsit5's free 4th-order
//! interpolant with the velocity correction blended in linearly in θ, so it is
//! continuous and ends at the projected state. The stop event T < ε is located on it
//! by Illinois regula falsi (5–10 kinetic-energy evaluations, against ~40 for the
//! bisection of the Tsit45 path).
//!
//! # Guarantees
//!
//! For systems whose energy balance is dH/dt = −P with P = `dissipated_power` (true for
//! [`Mechanics`](crate::Mechanics) and [`LagrangianSystem`](crate::LagrangianSystem)):
//!
//! - **Dissipative systems** (P ≥ 0): H_{n+1} ≤ H_n at every accepted step, up to
//!   rounding in evaluating H; the state returned at a stop event also has H ≤ H_n (its
//!   velocity is scaled down if the interpolant overshoots, which keeps T < ε).
//! - **No dissipation** (P ≡ 0): H_{n+1} = H_n up to rounding, so H (and T along
//!   geodesics) drifts only by accumulated rounding, ~1e-15 relative over [0, 1].
//! - **Accuracy**: the projection moves the state by the size of the local error, so the
//!   method keeps order 5 and converges as the tolerance tightens; errors are comparable
//!   to Tsit45's at equal tolerance.
//! - Not guaranteed: states at requested output times are interpolated, not projected,
//!   so H there can exceed H at the preceding step by the interpolation error. If a
//!   velocity scaling cannot reach the target even after step reductions, the run fails
//!   with [`FailureReason::TooManyRejections`] or [`FailureReason::StepSizeUnderflow`].
//!
//! # Cost
//!
//! Right-hand sides: 6 per attempted step + 2 (the initial evaluation and the initial
//! step-size guess), exactly like Tsit45. For [`Mechanics`](crate::Mechanics) that is
//! all ([`SolveStats::energy_evaluations`] = 0 without a stop event). Systems whose
//! [`SecondOrderSystem::evaluate`] does not report V or P pay one
//! [`energy`](SecondOrderSystem::energy) call per attempted step, one
//! [`dissipated_power`](SecondOrderSystem::dissipated_power) call per stage, and up to 8
//! secant `energy` calls per step unless they declare
//! [`quadratic_kinetic`](SecondOrderSystem::quadratic_kinetic).
//!
//! # Why this design: measurements
//!
//! Test problem (`tests/stable_support`): DiMS (κ = 1, L* = 0, η = η0√T) on the loss
//! graph of an anisotropic quadratic + quartic loss in R^8 with curvatures log-spaced in
//! 1e-2 … 1e4, rotated by a Householder reflection; start at the minimum, |v0| = 1;
//! the paper's tolerances. Reference H from both methods at atol 1e-12 (they agree to 6
//! digits). Reproduce with
//! `cargo run --release -p geodyn-core --example integrator_study`.
//!
//! | run (η0, seed, t1) | Tsit45 RHS | projected RHS | steps with H rising (Tsit45 / projected) | H(t1) error Tsit45 / projected |
//! |---|---|---|---|---|
//! | 0.1, 1, 100  |   118 479 |   125 900 | 19 / 0     | +0.35% / −0.01% |
//! | 0.1, 1, 300  |   405 039 |   404 468 | 821 / 0    | +4.4% / +0.07% |
//! | 0.1, 1, 1000 | 1 472 409 | 1 387 856 | 28 733 / 0 | +119% / +3.1% |
//! | 0.01, 2, 1000 |  775 215 |   774 044 | 3 117 / 0  | +7.4% / +2.1% |
//! | 0.1, 3, 1000 | 1 543 623 | 1 437 128 | 26 390 / 0 | +111% / +3.6% |
//!
//! The largest single rise of H under Tsit45 was 4.0e-6 (η0 = 0.1) and 3.7e-5
//! (η0 = 0.01). RLA geodesics on the same loss over [0, 1], 5 seeds: Tsit45 changes T by
//! 4e-5 … 4e-4 relative, the projected method by ≤ 2e-14. Right-hand sides at the
//! paper's tolerances, summed over 10 seeds, projected vs Tsit45: stiff DiMS on [0, 50]
//! 571 904 vs 544 284 (1.051), a milder DiMS (curvatures 0.1 … 10, R^6) 23 270 vs 24 276
//! (0.959), geodesics on [0, 1] 13 712 vs 12 894 (1.063, stiff) and 722 vs 570 (1.27,
//! mild: a few dozen steps each, where the controller's start-up dominates). Global
//! errors at t = 5, 20, 50 are comparable to Tsit45's at equal tolerance (at the paper's
//! tolerances smaller: |Δx| 1.7e-4 vs 3.9e-4 at t = 5, 5.0e-4 vs 4.4e-3 at t = 50). At
//! tolerance 1e-10 the method needs ~10% more right-hand sides than Tsit45 on the stiff
//! problem. (With DOPRI5's default β = 0.04 and no cautious growth, the subject of the
//! next paragraph, this toy problem took 2–5% fewer right-hand sides; on the neural
//! networks the method is for, 19% more.)
//!
//! **The step-size controller, on neural networks.** The toy problem above starts at
//! rest in its stiff directions; DiMS and RLA on a trained MLP spend most of their
//! steps at the stability boundary, where the step-size sequence oscillates and every
//! rejected step wastes six right-hand sides. The default problem of `geodyn sample
//! dims` (embedded data, 1-16-16-16-1 GELU, K = 593, 16 samples, t1 = 50, the paper's
//! tolerances):
//!
//! | controller | RHS | accepted | rejected | final loss vs MAP | gap std |
//! |---|---|---|---|---|---|
//! | PI, β = 0.04 (DOPRI5's default) | 3 601 232 | 412 812 | 187 388 | −0.19% … +0.32% | 0.057 |
//! | PI, β = 0.08 | 3 212 378 | 402 314 | 133 077 | −0.20% … +0.33% | 0.053 |
//! | PI, β = 0.08, growth ≤ 1.2× for 10 steps after a rejection (this module) | 2 925 104 | 428 463 | 59 049 | −0.21% … +0.35% | 0.055 |
//! | PI, β = 0.08, growth ≤ 1.2× always | 2 947 112 | 449 539 | 41 641 | −0.20% … +0.35% | 0.055 |
//! | PI, β = 0.08, h ≤ 0.97 × the last rejected h, relaxed 0.3% per step | 3 962 012 | 629 406 | 30 924 | −0.21% … +0.34% | 0.059 |
//!
//! The chosen controller needs 19% fewer right-hand sides than DOPRI5's default. A
//! global growth limit does as well here but slows every start-up and every recovery
//! after a transient; a cap from the last rejected step size stays stuck low after
//! transients. 16 RLA samples on the same network with β = 0.08 alone: 273 506 → 254 306
//! right-hand sides (−7%), T drift ≤ 2e-14 either way. The trajectories are chaotic, so
//! any change of the controller (even of the last digit of s) changes each sample's
//! step count by up to ±10% and a 16-sample total by several per cent: with
//! s = 0.9689 instead of 0.9^{0.3} = 0.968886, β = 0.08 alone took 2 987 216. Over
//! 6-sample subsets nine PI variants with err_{n−1}-exponents 0.06 … 0.10 took
//! 0.79 … 0.98 times the right-hand sides of β = 0.04, and the plain controller (no
//! err_{n−1} term) 1.03 times. At t = 2, against a reference at atol 1e-11, rtol 1e-12,
//! the endpoints of four samples are as accurate with β = 0.08 as with β = 0.04
//! (|Δθ| 1.2e-3 … 7.0e-3 against 1.6e-3 … 7.7e-3).
//!
//! # The pair: long runs
//!
//! Near rest a DiMS particle still oscillates in the stiff directions of the loss
//! (Hessian eigenvalues up to ~1e6 on the Snelson network, ω ≈ 1300), and the steps are
//! limited by how fast those modes grow under the method's stability function R on the
//! imaginary axis. Tsit5's |R(iy)| exceeds 1 for every y > 0 (1 + 1.3e-4 at y = 1,
//! 1.026 at y = 2); Dormand–Prince's stays within 1.4e-6 of 1 up to y = 1 (1.032 at
//! y = 2; both computed from the tableaus). The projection keeps H from rising but
//! cannot stop a mode from growing at the expense of the others. Real Snelson data (148
//! points, 1-16-16-1 GELU, K = 321, σ = 0.285, λ = 0.209, exact mode L* = 74.992), DiMS
//! samples 0, 1, 8, 9 (same θ*, v0 for both pairs), t1 = 1000, the paper's tolerances,
//! the controller above:
//!
//! | sample | RHS, Tsit5 ([`Method::EnergyProjected`]) | RHS, Dormand–Prince ([`Method::EnergyProjectedDopri5`]) | ratio | T(1000) Tsit5 / DP | final loss vs mode, Tsit5 / DP |
//! |---|---|---|---|---|---|
//! | 0 | 15 217 820 | 5 245 658 | 0.34 | 4.0e-4 / 4.7e-4 | −0.20% / −0.19% |
//! | 1 | 16 087 790 | 11 774 816 | 0.73 | 4.3e-4 / 1.5e-3 | −0.20% / −0.20% |
//! | 8 | 9 333 356 | 8 636 588 | 0.93 | 3.9e-4 / 6.9e-4 | −1.38% / −1.39% |
//! | 9 | 16 097 366 | 11 399 576 | 0.71 | 4.2e-4 / 1.8e-3 | −0.21% / −0.20% |
//!
//! H never rose in either. Dormand–Prince needs 35% fewer right-hand sides in all but
//! dissipates a little less by t = 1000 (plain Tsit45 at atol = rtol = 1e-10 reaches
//! T(1000) = 3.8e-4 on sample 0; the DiMS issue's tight DP5 run, 2.2e-4 on its sample). With diffrax's plain controller
//! (0.9 err^{−1/5}, growth ≤ 10; an experiment) sample 0 took 7 131 524 RHS and kept
//! T(1000) = 4.7e-3. At t1 = 50 the pairs trade places by problem: 16 samples of the
//! default problem of `geodyn sample dims` took 2 925 104 RHS with Tsit5 and 3 997 004
//! with Dormand–Prince, so Tsit5 stays the default and Dormand–Prince is an option for
//! long runs.
//!
//! **The tolerance on long runs.** With the projection the tolerance no longer has to
//! hold the energy down (H cannot rise at any tolerance), only the trajectory. On the 16
//! (θ*, v0) of the Snelson workload above, t1 = 1000, Dormand–Prince, rtol = atol/10
//! (BENCHMARKS.md has the per-sample figures and the function-space spread):
//!
//! | atol | RHS, 16 samples | final loss vs mode | within 1% | T(1000) |
//! |---|---|---|---|---|
//! | 1e-6 (the paper's) | 162.3 M | −2.55% … −0.11% | 9 | 4.7e-4 … 3.2e-3 |
//! | 1e-4 | 47.1 M | −2.68% … +0.42% | 11 | 2.7e-5 … 2.9e-3 |
//! | 3e-4 | 36.1 M | −1.17% … +1.21% | 14 | 5.4e-6 … 3.3e-3 |
//! | 1e-3 | 9.5 M | −0.58% … +5.37% | 10 | 9.1e-6 … 1.37 |
//!
//! H never rose in any of them; plain Dormand–Prince at the paper's tolerance took 38.6 M
//! on the same inputs and ended −2.35% … +55.9% (3 of 16 within 1%, T(1000) up to 1.5).
//! At 1e-3 (mean step 1.2e-2, hω ≈ 17 for the stiffest mode) accuracy in the stiff
//! directions is lost and samples end above the mode's loss. This is a long-run setting
//! only: at t1 = 50, atol 1e-4 leaves the particles on worse ground (final losses up to
//! +32% of the mode's with Dormand–Prince, +12% with Tsit5; 2 and 6 of 16 within 1%,
//! against 11 at the paper's tolerances), and only the long dissipation afterwards brings
//! them back to the low-loss set.
//!
//! Alternatives measured or weighed:
//!
//! - **Splitting** (exact friction flow v ← v/(1 + η0√T τ) for η = η0√T, Strang-composed
//!   with an energy-conserving projected step): second order, and the embedded pair
//!   estimates only the conservative part's error, so steps are not controlled by the
//!   splitting error. With fixed steps it needed h ≤ 2e-4 to survive the initial stiff
//!   transient: 150 000 right-hand sides on [0, 5] for |Δx| = 1.1e-3, against ~4 500 and
//!   1.8e-4 here. It also needs a closed-form friction flow, which user laws
//!   ([`FnDissipation`](crate::FnDissipation)) do not have.
//! - **Discrete-gradient methods** (AVF, Gonzalez): implicit; Newton needs derivatives of
//!   the force, i.e. third derivatives of the loss through the loss graph's Christoffel
//!   term, which the [`Objective`](crate::Objective) seam does not offer; fixed-point
//!   iteration contracts only for h‖∂a/∂x‖ < 1, far below the explicit stability limit
//!   on these losses; and they are second order. Not pursued.
//! - **Relaxation Runge–Kutta** (scale the whole step, x and v, by γ and advance time by
//!   γh): keeps the order too, but finding γ needs several evaluations of H per step
//!   (each a loss gradient on the loss graph), against none here.
//! - **Variants of this method**: re-evaluating the first stage after the projection
//!   (+13% right-hand sides, same results); counting the full velocity correction in the
//!   error norm (+4% right-hand sides on stiff geodesics, no accuracy gain measured, also
//!   at turning points where T ≈ 0); diffsol's P controller (similar totals, more
//!   rejections on stiff DiMS, +5% on stiff geodesics).

// The stage loops index several arrays of the tableau and the state at once.
#![allow(clippy::needless_range_loop)]

use crate::error::{Error, FailureReason, Result};
use crate::integrate::{IntegrateOptions, Solution, SolveStats, StatePoint, StopReason, initial_records};
use crate::mechanics::{Evaluation, SecondOrderSystem};

/// Which integrator [`integrate`](crate::integrate()) uses.
///
/// ```
/// use geodyn_core::{Constant, Euclidean, IntegrateOptions, Mechanics, Method, integrate};
/// // ẍ = −0.5ẋ from v0 = 1: x(t) = 2(1 − e^{−t/2}), and H = ½v² only decreases
/// let sys = Mechanics::new(Euclidean::new(1), Constant(0.5));
/// let opts = IntegrateOptions::new(4.0).method(Method::EnergyProjected);
/// let sol = integrate(&sys, &[0.0], &[1.0], &opts).unwrap();
/// assert!((sol.x[0] - 2.0 * (1.0 - (-2.0f64).exp())).abs() < 1e-5);
/// let energy = sol.energy.unwrap();
/// assert!(energy.max_increase <= 1e-15 && energy.last < energy.initial);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// diffsol's explicit Tsitouras 5(4) pair (the default).
    #[default]
    Tsit45,
    /// Tsitouras 5(4) with an energy projection after every step: H never increases at
    /// accepted steps of dissipative systems and is conserved to rounding without
    /// dissipation, at the right-hand-side cost of Tsit45; see the
    /// [module docs](crate::stable).
    EnergyProjected,
    /// The same energy projection and step-size controller around Dormand and Prince's
    /// 5(4) pair (the DiMS paper's solver). Its stability function stays within 1.4e-6 of
    /// |R| = 1 on the imaginary axis up to |hλ| = 1 (Tsit5's: 1.3e-4), so oscillatory
    /// stiff modes near rest grow more slowly: on long DiMS runs (t1 = 1000) it needed
    /// 0.35–0.93 times the right-hand sides of [`Method::EnergyProjected`] (four samples,
    /// 35% fewer in all), with T(1000) up to 4× larger; on short runs (t1 = 50) it can
    /// need more. See the [module docs](crate::stable).
    EnergyProjectedDopri5,
    /// DiMS and RLA as a particle on the graph (θ, L(θ)) of the loss: RATTLE with the
    /// constraint solved by a scalar Newton iteration on loss gradients, exact friction
    /// half-steps and an energy projection. H never increases at accepted steps, T is
    /// conserved to rounding along geodesics, and a step costs about two loss gradients
    /// and no curvature term (order 2; the step size follows the energy error, which
    /// stiff modes carrying energy drive up). Only for systems with a
    /// [`SecondOrderSystem::loss_graph`] form (others get
    /// [`Error::Unsupported`]); the tolerance is the energy error per step,
    /// rtol/100 · (1 + |H|). On the Snelson network it needed 2.5× less time than
    /// [`Method::EnergyProjected`] for 16 DiMS samples to t1 = 50, with smaller errors
    /// against a tight reference (2.7–2000× on the samples measured); it loses when the
    /// stiff directions carry energy. See the [module docs](crate::rattle).
    GraphRattle,
}

/// When [`integrate`](crate::integrate()) with [`Method::Tsit45`] tracks the energy H at
/// accepted steps (the energy-projected method always does, at no cost).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EnergyMonitor {
    /// Only when it is free: when [`SecondOrderSystem::evaluate`] reports V(x) and
    /// the dissipated power (as [`Mechanics`](crate::Mechanics) does). Otherwise
    /// [`Solution::energy`] is `None`.
    #[default]
    WhenFree,
    /// Always; systems without fused energies then cost one
    /// [`energy`](SecondOrderSystem::energy) and one
    /// [`dissipated_power`](SecondOrderSystem::dissipated_power) call per accepted step.
    Always,
    /// Never.
    Off,
}

/// The energy behaviour of one run, over its accepted steps (and the stop-event state).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct EnergyReport {
    /// H at the initial state.
    pub initial: f64,
    /// H at the final state.
    pub last: f64,
    /// The largest step-to-step increase H_{n+1} − H_n seen, or 0 if H never increased.
    pub max_increase: f64,
    /// For runs that dissipated nothing (the dissipated power was 0 wherever it was
    /// evaluated): max_n |H_n − H_0| / |H_0| (absolute if H_0 = 0). For geodesics
    /// (V = 0) this is the relative drift of the kinetic energy T. `None` for
    /// dissipative runs.
    pub relative_drift: Option<f64>,
    /// How many states were monitored (accepted steps + 1).
    pub states: usize,
}

/// Running energy bookkeeping shared by both integration paths.
#[derive(Debug, Clone)]
pub(crate) struct EnergyTracker {
    initial: f64,
    last: f64,
    max_increase: f64,
    max_drift: f64,
    dissipative: bool,
    states: usize,
}

impl EnergyTracker {
    pub(crate) fn new(h0: f64, power0: f64) -> Self {
        Self { initial: h0, last: h0, max_increase: 0.0, max_drift: 0.0, dissipative: power0 != 0.0, states: 1 }
    }
    /// Records the energy `h` of the next monitored state; `power_seen` says whether a
    /// non-zero dissipated power was seen since the previous one.
    pub(crate) fn record(&mut self, h: f64, power_seen: bool) {
        self.max_increase = self.max_increase.max(h - self.last);
        self.max_drift = self.max_drift.max((h - self.initial).abs());
        self.dissipative |= power_seen;
        self.last = h;
        self.states += 1;
    }
    pub(crate) fn report(&self) -> EnergyReport {
        let scale = if self.initial != 0.0 { self.initial.abs() } else { 1.0 };
        EnergyReport {
            initial: self.initial,
            last: self.last,
            max_increase: self.max_increase,
            relative_drift: (!self.dissipative).then(|| self.max_drift / scale),
            states: self.states,
        }
    }
}

// ---------------------------------------------------------------------------------
// The two 5(4) tableaus (Tsitouras; Dormand–Prince), each with its free 4th-order
// dense output.

const S: usize = 7;

/// An explicit 7-stage first-same-as-last Runge–Kutta 5(4) pair with a free
/// 4th-order dense output.
struct Tableau {
    c: [f64; S],
    a: [[f64; S]; S],
    /// 5th-order weights (the last row of `a`).
    b: [f64; S],
    /// Error weights b − b̂.
    d: [f64; S],
    /// Dense output: b_i(θ) = Σ_k p[i][k] θ^{k+1}.
    p: [[f64; 4]; S],
}

impl Tableau {
    /// Tsitouras' 5(4) pair (Ch. Tsitouras, Comput. Math. Appl. 62 (2011) 770–775), the
    /// same coefficients as diffsol's Tsit45.
    fn tsit5() -> Self {
        let c = [0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0];
        let b = [
            0.09646076681806523,
            0.01,
            0.4798896504144996,
            1.379008574103742,
            -3.290069515436081,
            2.324710524099774,
            0.0,
        ];
        let mut a = [[0.0; S]; S];
        a[2][1] = 0.335480655492357;
        a[3][1] = -6.359448489975075;
        a[3][2] = 4.362295432869581;
        a[4][1] = -11.74888356406283;
        a[4][2] = 7.495539342889836;
        a[4][3] = -0.09249506636175525;
        a[5][1] = -12.92096931784711;
        a[5][2] = 8.159367898576159;
        a[5][3] = -0.071584973281401;
        a[5][4] = -0.02826905039406838;
        for i in 1..6 {
            let rest: f64 = a[i][1..i].iter().sum();
            a[i][0] = c[i] - rest;
        }
        a[6] = b;
        let d = [
            -0.001780011052225777,
            -0.0008164344596567469,
            0.007880878010261995,
            -0.1447110071732629,
            0.5823571654525552,
            -0.45808210592918697,
            0.015151515151515152,
        ];
        let p = [
            [1.0, -2.76370619727483, 2.91325546182191, -1.05308849772902],
            [0.0, 0.1317, -0.2234, 0.1017],
            [0.0, 3.93029623689475, -5.9410338721315, 2.49062728565125],
            [0.0, -12.4110771669337, 30.3381886302823, -16.5481028892449],
            [0.0, 37.509313416511, -88.1789048947664, 47.3795219628193],
            [0.0, -27.8965262891973, 65.0918946747937, -34.8706578614966],
            [0.0, 1.5, -4.0, 2.5],
        ];
        Self { c, a, b, d, p }
    }

    /// Dormand and Prince's 5(4) pair (J. Comput. Appl. Math. 6 (1980) 19–26; DOPRI5,
    /// the solver of the DiMS paper) with Shampine's 4th-order dense output (the
    /// coefficients of Hairer's DOPRI5 code, as in SciPy's RK45).
    fn dopri5() -> Self {
        let c = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
        let b = [35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0.0];
        let mut a = [[0.0; S]; S];
        a[1][0] = 1.0 / 5.0;
        a[2][..2].copy_from_slice(&[3.0 / 40.0, 9.0 / 40.0]);
        a[3][..3].copy_from_slice(&[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0]);
        a[4][..4].copy_from_slice(&[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0]);
        a[5][..5].copy_from_slice(&[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0]);
        a[6] = b;
        let d = [71.0 / 57600.0, 0.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0, 22.0 / 525.0, -1.0 / 40.0];
        let p = [
            [1.0, -8048581381.0 / 2820520608.0, 8663915743.0 / 2820520608.0, -12715105075.0 / 11282082432.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 131558114200.0 / 32700410799.0, -68118460800.0 / 10900136933.0, 87487479700.0 / 32700410799.0],
            [0.0, -1754552775.0 / 470086768.0, 14199869525.0 / 1410260304.0, -10690763975.0 / 1880347072.0],
            [0.0, 127303824393.0 / 49829197408.0, -318862633887.0 / 49829197408.0, 701980252875.0 / 199316789632.0],
            [0.0, -282668133.0 / 205662961.0, 2019193451.0 / 616988883.0, -1453857185.0 / 822651844.0],
            [0.0, 40617522.0 / 29380423.0, -110615467.0 / 29380423.0, 69997945.0 / 29380423.0],
        ];
        Self { c, a, b, d, p }
    }

    fn dense_weights(&self, theta: f64) -> [f64; S] {
        let mut w = [0.0; S];
        for (wi, p) in w.iter_mut().zip(self.p.iter()) {
            *wi = theta * (p[0] + theta * (p[1] + theta * (p[2] + theta * p[3])));
        }
        w
    }
}

/// Safety factor of a step-size reduction after a rejection: h ← h·max(0.2, 0.9 err^{−1/5}).
const SAFETY: f64 = 0.9;
/// The smallest factor of a step-size change.
const MIN_SHRINK: f64 = 0.2;

/// PI controller exponents on err_n and err_{n−1}: Hairer's DOPRI5 form
/// (err_n^{−(1/5 − 0.75β)}·err_{n−1}^{β}) with β = 0.08.
const BETA1: f64 = 0.14;
const BETA2: f64 = 0.08;
/// The PI controller's safety factor, 0.9^{(β1−β2)·5} = 0.9^{0.3}: at constant step size
/// it aims at the same error level 0.9⁵ as the plain controller h ← 0.9 h err^{−1/5}
/// (which diffsol uses), so smooth problems take about as many steps, while the err_{n−1}
/// term damps the step-size oscillation at the stability boundary of stiff problems
/// (fewer rejections).
const PI_SAFETY: f64 = 0.968_886;
/// The largest growth of the step size per accepted step.
const MAX_GROWTH: f64 = 5.0;
/// Growth limit for the [`CAUTIOUS_STEPS`] accepted steps after a rejection: a rejection
/// says the step size is at its limit, and on stiff problems a larger jump lands beyond
/// it (the error estimate rises by 10–100× for a 1.5× step there).
const CAUTIOUS_GROWTH: f64 = 1.2;
/// See [`CAUTIOUS_GROWTH`].
const CAUTIOUS_STEPS: usize = 10;
/// The velocity correction of the projection may be up to 1/PROJECTION_WEIGHT times the
/// tolerance before a step is rejected.
const PROJECTION_WEIGHT: f64 = 0.1;
/// Consecutive rejections after which a run fails (also the Tsit45 path's limit on
/// retries after a non-finite stage).
pub(crate) const MAX_REJECTIONS: usize = 40;
/// Smallest step size; below it (or below 16 ulp of t) a run fails.
pub(crate) const MIN_STEP: f64 = 1e-13;

/// The step-size controller of [`integrate_projected`]: Hairer's DOPRI5 PI controller on
/// the error norm (β = 0.08), with no growth right after a rejection and at most
/// [`CAUTIOUS_GROWTH`] per step for [`CAUTIOUS_STEPS`] accepted steps after it.
#[derive(Debug, Clone)]
struct RkStepControl {
    /// The last accepted step's error norm, at least 1e-4.
    err_old: f64,
    /// Accepted steps since the last rejection (0: the previous attempt was rejected).
    since_rejection: usize,
}

impl RkStepControl {
    fn new() -> Self {
        Self { err_old: 1e-4, since_rejection: usize::MAX }
    }

    /// The next attempt's size after rejecting one of size `h` with error norm `err`
    /// (not finite, or at most 1, when the rejection had another cause: then h halves).
    fn rejected(&mut self, h: f64, err: f64) -> f64 {
        self.since_rejection = 0;
        h * if err.is_finite() && err > 1.0 { (SAFETY * err.powf(-0.2)).clamp(MIN_SHRINK, 1.0) } else { 0.5 }
    }

    /// The next step's size after accepting one of size `h` with error norm `err` ≤ 1.
    fn accepted(&mut self, h: f64, err: f64) -> f64 {
        let max_growth = match self.since_rejection {
            0 => 1.0,
            s if s < CAUTIOUS_STEPS => CAUTIOUS_GROWTH,
            _ => MAX_GROWTH,
        };
        let next =
            h * (PI_SAFETY * err.max(1e-10).powf(-BETA1) * self.err_old.powf(BETA2)).clamp(MIN_SHRINK, max_growth);
        self.err_old = err.max(1e-4);
        self.since_rejection = self.since_rejection.saturating_add(1);
        next
    }
}

/// The checks at the top of every attempted step, shared by the energy-projected and
/// GraphRattle methods: the step limit; within 1% of t1 the step takes the rest of the
/// interval (no sliver of a last step, which could fall below the smallest step size),
/// and then returns `true`; a step below [`MIN_STEP`] or 16 ulp of t fails with the last
/// evaluation failure seen since the last accepted step, if any, else with
/// [`FailureReason::StepSizeUnderflow`].
pub(crate) fn begin_step(
    t: f64,
    h: &mut f64,
    accepted: usize,
    opts: &IntegrateOptions,
    failure: &mut Option<Error>,
) -> Result<bool> {
    if accepted >= opts.max_steps {
        return Err(Error::Integration { t, reason: FailureReason::StepLimit { max_steps: opts.max_steps } });
    }
    let last = t + 1.01 * *h >= opts.t1;
    if last {
        *h = opts.t1 - t;
    }
    if h.is_nan() || *h < MIN_STEP.max(16.0 * f64::EPSILON * t.abs()) {
        return Err(failure.take().unwrap_or(Error::Integration { t, reason: FailureReason::StepSizeUnderflow }));
    }
    Ok(last)
}

/// Work buffers of one step: stage derivatives (kx = stage velocities, kv = stage
/// accelerations), the stage state, the RK solution (x̃, ṽ) and scratch.
struct Work {
    n: usize,
    kx: Vec<Vec<f64>>,
    kv: Vec<Vec<f64>>,
    xs: Vec<f64>,
    vs: Vec<f64>,
    xt: Vec<f64>,
    vt: Vec<f64>,
    ex: Vec<f64>,
    /// After an accepted step: v_{n+1} − ṽ, blended into the dense output.
    dv: Vec<f64>,
    /// The Runge–Kutta pair.
    tab: Tableau,
}

impl Work {
    fn new(n: usize, tab: Tableau) -> Self {
        let z = || vec![0.0; n];
        Self { n, kx: vec![z(); S], kv: vec![z(); S], xs: z(), vs: z(), xt: z(), vt: z(), ex: z(), dv: z(), tab }
    }
}

/// Evaluation counters, and the fall-backs for systems whose fused evaluation does not
/// report V or the dissipated power.
struct Evaluator<'a, Sy: SecondOrderSystem + ?Sized> {
    system: &'a Sy,
    rhs: usize,
    energy_calls: usize,
}

impl<Sy: SecondOrderSystem + ?Sized> Evaluator<'_, Sy> {
    /// One right-hand side; failures are reported at `t_fail` (the time reached).
    fn eval(&mut self, t: f64, x: &[f64], v: &[f64], a: &mut [f64], t_fail: f64) -> Result<Evaluation> {
        self.rhs += 1;
        self.system.evaluate(t, x, v, a).map_err(|e| eval_error(t_fail, e))
    }
    fn power(&mut self, ev: &Evaluation, t: f64, x: &[f64], v: &[f64], t_fail: f64) -> Result<f64> {
        match ev.dissipated_power {
            Some(p) => Ok(p),
            None => {
                self.energy_calls += 1;
                self.system.dissipated_power(t, x, v).map_err(|e| eval_error(t_fail, e))
            }
        }
    }
    fn potential(&mut self, ev: &Evaluation, x: &[f64], v: &[f64], t_fail: f64) -> Result<f64> {
        match ev.potential {
            Some(p) => Ok(p),
            None => {
                self.energy_calls += 1;
                Ok(self.system.energy(x, v).map_err(|e| eval_error(t_fail, e))?.potential)
            }
        }
    }
    fn total(&mut self, x: &[f64], v: &[f64], t_fail: f64) -> Result<f64> {
        self.energy_calls += 1;
        Ok(self.system.energy(x, v).map_err(|e| eval_error(t_fail, e))?.total())
    }
    fn kinetic(&mut self, x: &[f64], v: &[f64], t_fail: f64) -> Result<f64> {
        self.energy_calls += 1;
        self.system.kinetic_energy(x, v).map_err(|e| eval_error(t_fail, e))
    }
}

fn eval_error(t: f64, e: Error) -> Error {
    Error::Integration { t, reason: FailureReason::Evaluation(Box::new(e)) }
}

/// A stage evaluation's result: `Ok(None)` (the step is to be rejected) if it failed on
/// a NaN or infinite value, which is then kept in `failure`; other errors pass through.
fn stage_result<T>(r: Result<T>, failure: &mut Option<Error>) -> Result<Option<T>> {
    let e = match r {
        Ok(x) => return Ok(Some(x)),
        Err(e) => e,
    };
    if matches!(&e, Error::Integration { reason: FailureReason::Evaluation(inner), .. } if matches!(**inner, Error::NonFinite { .. }))
    {
        *failure = Some(e);
        return Ok(None);
    }
    Err(e)
}

/// RMS over the 2n state components of `e_i / (atol + rtol·max(|a_i|, |b_i|))`, with
/// e = (ex, ev) and the states a = (xa, va), b = (xb, vb).
fn rms_norm(e: (&[f64], &[f64]), ya: (&[f64], &[f64]), yb: (&[f64], &[f64]), atol: f64, rtol: f64) -> f64 {
    // Eight interleaved partial sums (see `dot`): no serial chain of divisions and adds.
    let mut acc = [0.0; 8];
    let mut rest = 0.0;
    let mut add = |e: &[f64], a: &[f64], b: &[f64]| {
        let term = |e: f64, a: f64, b: f64| (e / (atol + rtol * a.abs().max(b.abs()))).powi(2);
        let n = e.len();
        let (a, b) = (&a[..n], &b[..n]);
        let (ce, ca, cb) = (e.chunks_exact(8), a.chunks_exact(8), b.chunks_exact(8));
        for ((e, a), b) in ce.remainder().iter().zip(ca.remainder()).zip(cb.remainder()) {
            rest += term(*e, *a, *b);
        }
        for ((e, a), b) in ce.zip(ca).zip(cb) {
            for k in 0..8 {
                acc[k] += term(e[k], a[k], b[k]);
            }
        }
    };
    add(e.0, ya.0, yb.0);
    add(e.1, ya.1, yb.1);
    let s = crate::objective::combine8(acc) + rest;
    (s / (e.0.len() + e.1.len()).max(1) as f64).sqrt()
}

/// The energy-projected integrator behind [`integrate`](crate::integrate()) with
/// [`Method::EnergyProjected`]; `opts` is validated and (x0, v0) checked by the caller.
pub(crate) fn integrate_projected<Sy: SecondOrderSystem + ?Sized>(
    system: &Sy,
    x0: &[f64],
    v0: &[f64],
    opts: &IntegrateOptions,
) -> Result<Solution> {
    let n = system.dim();
    let tab = match opts.method {
        Method::EnergyProjectedDopri5 => Tableau::dopri5(),
        _ => Tableau::tsit5(),
    };
    let (atol, rtol) = (opts.atol, opts.rtol);
    let mut ev = Evaluator { system, rhs: 0, energy_calls: 0 };
    let mut w = Work::new(n, tab);

    let mut t = opts.t0;
    let mut x = x0.to_vec();
    let mut v = v0.to_vec();
    // The first stage at t0; afterwards the first stage of a step is the last (FSAL)
    // stage of the previous one.
    let e0 = ev.eval(t, &x, &v, &mut w.kv[0], t)?;
    if !(w.kv[0].iter().all(|z| z.is_finite()) && e0.kinetic.is_finite()) {
        return Err(eval_error(t, Error::NonFinite { what: "initial acceleration" }));
    }
    let mut p1 = ev.power(&e0, t, &x, &v, t)?; // dissipated power at the first stage
    let mut kin_n = e0.kinetic; // T at (x_n, v_n)
    let mut h_n = kin_n + ev.potential(&e0, &x, &v, t)?; // H at (x_n, v_n)
    let mut tracker = EnergyTracker::new(h_n, p1);

    let (mut outputs, mut out_idx, mut trajectory) = initial_records(opts, x0, v0);
    let (mut accepted, mut rejected) = (0usize, 0usize);
    let solution =
        |t, x, v, stop, ev: &Evaluator<'_, Sy>, accepted, rejected, outputs, trajectory, tracker: &EnergyTracker| {
            Solution {
                t,
                x,
                v,
                stop,
                stats: SolveStats {
                    rhs_evaluations: ev.rhs,
                    accepted_steps: accepted,
                    rejected_steps: rejected,
                    energy_evaluations: ev.energy_calls,
                },
                outputs,
                trajectory,
                energy: Some(tracker.report()),
            }
        };
    if let Some(eps) = opts.stop_below_kinetic
        && kin_n < eps
    {
        let stop = StopReason::KineticBelow { threshold: eps };
        return Ok(solution(t, x, v, stop, &ev, 0, 0, outputs, trajectory, &tracker));
    }

    // Initial step size: Hairer, Nørsett & Wanner, Solving ODEs I, §II.4 (as diffsol);
    // one extra right-hand side.
    let mut h = {
        let d0 = rms_norm((&x, &v), (&x, &v), (&x, &v), atol, rtol);
        let d1 = rms_norm((&v, &w.kv[0]), (&x, &v), (&x, &v), atol, rtol);
        let h0 = if d0 < 1e-5 || d1 < 1e-5 { 1e-6 } else { 0.01 * d0 / d1 };
        let h0 = h0.min(opts.t1 - t);
        for i in 0..n {
            w.xs[i] = x[i] + h0 * v[i];
            w.vs[i] = v[i] + h0 * w.kv[0][i];
        }
        ev.eval(t + h0, &w.xs, &w.vs, &mut w.kv[1], t)?;
        for i in 0..n {
            w.ex[i] = w.vs[i] - v[i];
            w.dv[i] = w.kv[1][i] - w.kv[0][i];
        }
        let d2 = rms_norm((&w.ex, &w.dv), (&x, &v), (&x, &v), atol, rtol) / h0;
        let dm = d1.max(d2);
        let h1 = if dm <= 1e-15 { (h0 * 1e-3).max(1e-6) } else { (0.01 / dm).powf(0.2) };
        let h = (100.0 * h0).min(h1).min(opts.t1 - t);
        if h.is_finite() && h > 0.0 { h } else { h0 }
    };

    let mut control = RkStepControl::new();
    let mut consecutive_rejections = 0usize;
    // The last stage evaluation that failed with a non-finite value since the last
    // accepted step: reported if the step size cannot recover.
    let mut stage_failure: Option<Error> = None;
    let mut power = [0.0f64; S]; // dissipated power at the stages
    loop {
        let last = begin_step(t, &mut h, accepted, opts, &mut stage_failure)?;

        // Stages 2..7; the 7th is evaluated at (t + h, x̃, ṽ) (FSAL).
        w.kx[0].copy_from_slice(&v);
        power[0] = p1;
        let mut e7 = None;
        for i in 1..S {
            combine(&mut w.xs, &x, h, &w.tab.a[i][..i], &w.kx);
            combine(&mut w.vs, &v, h, &w.tab.a[i][..i], &w.kv);
            let ti = t + w.tab.c[i] * h;
            // A stage state that overflows (NaN or infinite values: a step far too
            // large) rejects the step like a non-finite stage below; other errors end
            // the run.
            let Some(ei) = stage_result(ev.eval(ti, &w.xs, &w.vs, &mut w.kv[i], t), &mut stage_failure)? else {
                break;
            };
            w.kx[i].copy_from_slice(&w.vs);
            let finite = w.kv[i].iter().chain(&w.vs).chain(&w.xs).fold(true, |ok, z| ok & z.is_finite())
                && ei.kinetic.is_finite();
            if !finite {
                break;
            }
            if i < S - 1 {
                let Some(p) = stage_result(ev.power(&ei, ti, &w.xs, &w.vs, t), &mut stage_failure)? else {
                    break;
                };
                power[i] = p;
            } else {
                w.xt.copy_from_slice(&w.xs);
                w.vt.copy_from_slice(&w.vs);
                e7 = Some(ei);
            }
        }

        // Error estimate, energy target and velocity scaling. A rejection's error norm
        // stays NaN when the step was rejected for another cause (then h halves).
        let mut accept = None;
        let mut reject_err = f64::NAN;
        if let Some(e7) = e7 {
            weighted_sum(&mut w.ex, &w.tab.d, &w.kx);
            weighted_sum(&mut w.dv, &w.tab.d, &w.kv);
            for (ex, dv) in w.ex.iter_mut().zip(w.dv.iter_mut()) {
                *ex *= h;
                *dv *= h;
            }
            let mut err = rms_norm((&w.ex, &w.dv), (&x, &v), (&w.xt, &w.vt), atol, rtol);
            if err.is_nan() || err > 1.0 {
                reject_err = err;
            } else {
                let pot = ev.potential(&e7, &w.xt, &w.vt, t)?;
                let p7 = ev.power(&e7, t + h, &w.xt, &w.vt, t)?;
                // Dissipated energy over the step by the RK quadrature h Σ b_i P_i;
                // clipped at 0 for dissipative systems (both pairs have a negative weight).
                let mut de: f64 = h * w.tab.b.iter().zip(&power).map(|(b, p)| b * p).sum::<f64>();
                if power[..S - 1].iter().all(|&p| p >= 0.0) {
                    de = de.max(0.0);
                }
                let target = h_n - de;
                if let Some(alpha) = solve_alpha(system, &mut ev, &w.xt, &w.vt, e7.kinetic, pot, target, t)? {
                    for j in 0..n {
                        w.dv[j] = (alpha - 1.0) * w.vt[j];
                    }
                    w.ex.fill(0.0);
                    let moved = rms_norm((&w.ex, &w.dv), (&x, &v), (&w.xt, &w.vt), atol, rtol);
                    err = err.max(PROJECTION_WEIGHT * moved);
                    if err <= 1.0 {
                        let power_seen = power[..S - 1].iter().any(|&p| p != 0.0) || p7 != 0.0;
                        accept = Some((err, alpha, e7.kinetic, pot, p7, power_seen));
                    } else {
                        reject_err = err;
                    }
                }
                // Else no velocity reaches the energy target (V(x̃) exceeds it): halve.
            }
        }
        // Else a non-finite stage: the step was too large; halve.
        let Some((err, alpha, kin7, pot, p7, power_seen)) = accept else {
            h = control.rejected(h, reject_err);
            rejected += 1;
            consecutive_rejections += 1;
            if consecutive_rejections > MAX_REJECTIONS {
                return Err(stage_failure.unwrap_or(Error::Integration { t, reason: FailureReason::TooManyRejections }));
            }
            continue;
        };

        // Accepted: x_{n+1} = x̃, v_{n+1} = αṽ (w.dv holds v_{n+1} − ṽ).
        consecutive_rejections = 0;
        stage_failure = None;
        accepted += 1;
        let t_new = if last { opts.t1 } else { t + h };
        let kin_new = alpha * alpha * kin7;
        let h_new = kin_new + pot;

        // Stop event: the first time T < ε, located on the dense output.
        let mut t_end = t_new;
        let mut event = None;
        if let Some(eps) = opts.stop_below_kinetic
            && kin_new < eps
        {
            let (te, xe, ve) = locate_event(&mut ev, &w, &x, &v, t, h, t_new, eps, (kin_n, kin_new))?;
            t_end = te;
            event = Some((xe, ve, eps));
        }

        // Outputs in (t, t_end].
        while out_idx < opts.output_times.len() && opts.output_times[out_idx] <= t_end {
            let to = opts.output_times[out_idx];
            let (xo, vo) = match &event {
                Some((xe, ve, _)) if to == t_end => (xe.clone(), ve.clone()),
                None if to == t_end => (w.xt.clone(), w.vt.iter().map(|z| alpha * z).collect()),
                _ => dense(&w, &x, &v, h, ((to - t) / h).clamp(0.0, 1.0)),
            };
            outputs.push(StatePoint { t: to, x: xo, v: vo });
            out_idx += 1;
        }

        if let Some((xe, mut ve, eps)) = event {
            // Keep the guarantee at the returned state: H(event) ≤ H_n (scaling v down
            // keeps T < ε).
            let mut h_event = ev.total(&xe, &ve, t)?;
            if h_event > h_n {
                let kin_e = ev.kinetic(&xe, &ve, t)?;
                if let Some(s) = solve_alpha(system, &mut ev, &xe, &ve, kin_e, h_event - kin_e, h_n, t)?
                    && s < 1.0
                {
                    ve.iter_mut().for_each(|z| *z *= s);
                    h_event = ev.total(&xe, &ve, t)?;
                }
            }
            tracker.record(h_event, power_seen);
            if let Some(tr) = trajectory.as_mut() {
                tr.push(StatePoint { t: t_end, x: xe.clone(), v: ve.clone() });
            }
            let stop = StopReason::KineticBelow { threshold: eps };
            return Ok(solution(t_end, xe, ve, stop, &ev, accepted, rejected, outputs, trajectory, &tracker));
        }

        // Advance; the FSAL stage a(x̃, ṽ) becomes the next first stage (see the
        // module docs for why the unscaled velocity is harmless there).
        x.copy_from_slice(&w.xt);
        for j in 0..n {
            v[j] = alpha * w.vt[j];
        }
        t = t_new;
        kin_n = kin_new;
        h_n = h_new;
        p1 = p7;
        tracker.record(h_new, power_seen);
        w.kv.swap(0, S - 1);
        if let Some(tr) = trajectory.as_mut() {
            tr.push(StatePoint { t, x: x.clone(), v: v.clone() });
        }
        if last {
            break;
        }

        h = control.accepted(h, err);
    }
    Ok(solution(t, x, v, StopReason::FinalTime, &ev, accepted, rejected, outputs, trajectory, &tracker))
}

/// The velocity scaling α with H(x̃, αṽ) = `target`, or `None` if no α ≥ 0 reaches it
/// (the potential alone exceeds the target).
#[allow(clippy::too_many_arguments)]
fn solve_alpha<Sy: SecondOrderSystem + ?Sized>(
    system: &Sy,
    ev: &mut Evaluator<'_, Sy>,
    x: &[f64],
    v: &[f64],
    kinetic: f64,
    potential: f64,
    target: f64,
    t_fail: f64,
) -> Result<Option<f64>> {
    let t_target = target - potential;
    if t_target < 0.0 {
        return Ok(None);
    }
    if kinetic <= 0.0 {
        // At rest: the energy cannot be raised by scaling; it is already ≤ target.
        return Ok(Some(1.0));
    }
    let alpha = (t_target / kinetic).sqrt();
    if system.quadratic_kinetic() {
        return Ok(Some(alpha));
    }
    // General H(x, v): secant iterations on α ↦ H(x, αv) − target from α = 1 and the
    // quadratic guess.
    let scale = target.abs().max(kinetic).max(f64::MIN_POSITIVE);
    let mut vb = v.to_vec();
    let (mut a0, mut f0) = (1.0, kinetic + potential - target);
    let mut a1 = alpha;
    for _ in 0..8 {
        vb.iter_mut().zip(v).for_each(|(b, z)| *b = a1 * z);
        let f1 = ev.total(x, &vb, t_fail)? - target;
        if f1.abs() <= 1e-14 * scale {
            return Ok(Some(a1));
        }
        if f1 == f0 {
            break;
        }
        let a2 = a1 - f1 * (a1 - a0) / (f1 - f0);
        (a0, f0, a1) = (a1, f1, a2.max(0.0));
    }
    Ok(None)
}

/// out = Σ_l a_l k_l, accumulated in the order of l from 0 (the loop over the
/// components is innermost, so it vectorises and has no dependency chain through l).
#[inline]
fn weighted_sum(out: &mut [f64], a: &[f64], k: &[Vec<f64>]) {
    out.fill(0.0);
    for (&al, kl) in a.iter().zip(k) {
        for (o, &kj) in out.iter_mut().zip(kl) {
            *o += al * kj;
        }
    }
}

/// out = base + h Σ_l a_l k_l (the Runge–Kutta stage state), with the sum formed as in
/// [`weighted_sum`].
#[inline]
fn combine(out: &mut [f64], base: &[f64], h: f64, a: &[f64], k: &[Vec<f64>]) {
    weighted_sum(out, a, k);
    for (o, &b) in out.iter_mut().zip(base) {
        *o = b + h * *o;
    }
}

/// The dense output at θ ∈ [0, 1] of the last step, including the projection's
/// velocity change blended in linearly (`w.dv` holds v_{n+1} − ṽ).
fn dense(w: &Work, x: &[f64], v: &[f64], h: f64, theta: f64) -> (Vec<f64>, Vec<f64>) {
    let n = w.n;
    let b = w.tab.dense_weights(theta);
    let (mut xo, mut vo) = (vec![0.0; n], vec![0.0; n]);
    combine(&mut xo, x, h, &b, &w.kx);
    weighted_sum(&mut vo, &b, &w.kv);
    for ((o, &vj), &dvj) in vo.iter_mut().zip(v).zip(&w.dv) {
        *o = vj + (h * *o + theta * dvj);
    }
    (xo, vo)
}

/// Locates the first time in (t, t + h] where T < ε on the dense output (Illinois
/// regula falsi; T(t) ≥ ε > T(t + h)), returning (time, x, v) with T(time) < ε.
#[allow(clippy::too_many_arguments)]
fn locate_event<Sy: SecondOrderSystem + ?Sized>(
    ev: &mut Evaluator<'_, Sy>,
    w: &Work,
    x: &[f64],
    v: &[f64],
    t: f64,
    h: f64,
    t_new: f64,
    eps: f64,
    (kin_start, kin_end): (f64, f64),
) -> Result<(f64, Vec<f64>, Vec<f64>)> {
    let n = w.n;
    let x1 = w.xt.clone();
    let mut v1 = w.vt.clone();
    for j in 0..n {
        v1[j] += w.dv[j];
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    let (mut f_lo, mut f_hi) = (kin_start - eps, kin_end - eps);
    let mut best = (1.0, x1, v1);
    let mut side = 0i8;
    for _ in 0..100 {
        if (hi - lo) * h <= 4.0 * f64::EPSILON * t_new.abs().max(1.0) {
            break;
        }
        let mut m = (lo * f_hi - hi * f_lo) / (f_hi - f_lo);
        if !(m > lo && m < hi) {
            m = 0.5 * (lo + hi);
        }
        let (xm, vm) = dense(w, x, v, h, m);
        let fm = ev.kinetic(&xm, &vm, t)? - eps;
        if fm < 0.0 {
            hi = m;
            f_hi = fm;
            best = (m, xm, vm);
            if side == -1 {
                f_lo *= 0.5;
            }
            side = -1;
            if fm > -1e-12 * eps {
                break;
            }
        } else {
            lo = m;
            f_lo = fm;
            if side == 1 {
                f_hi *= 0.5;
            }
            side = 1;
        }
    }
    let te = if best.0 >= 1.0 { t_new } else { t + best.0 * h };
    Ok((te, best.1, best.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tableau satisfies the quadrature order conditions Σ b_i c_i^{q−1} = 1/q for
    /// q = 1..5, row sums Σ_j a_ij = c_i, and the embedded weights b̂ = b − d are
    /// consistent (Σ d_i = 0).
    #[test]
    fn tableau_order_conditions() {
        for tab in [Tableau::tsit5(), Tableau::dopri5()] {
            for q in 1..=5 {
                let s: f64 = tab.b.iter().zip(tab.c.iter()).map(|(b, c)| b * c.powi(q - 1)).sum();
                assert!((s - 1.0 / q as f64).abs() < 1e-12, "q = {q}: {s}");
            }
            for i in 0..S {
                let r: f64 = tab.a[i].iter().sum();
                assert!((r - tab.c[i]).abs() < 1e-12, "row {i}: {r} vs {}", tab.c[i]);
            }
            assert!(tab.d.iter().sum::<f64>().abs() < 1e-12);
        }
    }

    /// Hairer's DOPRI5 PI controller on the error norm of a 5(4) pair:
    /// h_{n+1} = h_n · clamp(0.9^{0.3} err_n^{−0.14} err_{n−1}^{0.08}, 0.2, 5) with
    /// err_{n−1} ≥ 1e-4; a rejected step shrinks by clamp(0.9 err^{−1/5}, 0.2, 1) (halved
    /// when the rejection had another cause); right after a rejection h does not grow,
    /// and for the next CAUTIOUS_STEPS − 1 accepted steps by at most CAUTIOUS_GROWTH.
    #[test]
    fn pi_controller_follows_hairer() {
        let mut c = RkStepControl::new();
        let h1 = c.accepted(1e-3, 0.5);
        let first = PI_SAFETY * 0.5f64.powf(-BETA1) * 1e-4f64.powf(BETA2);
        assert!((h1 / 1e-3 - first).abs() < 1e-14, "{h1}");
        let h2 = c.accepted(h1, 0.2);
        assert!((h2 / h1 - PI_SAFETY * 0.2f64.powf(-BETA1) * 0.5f64.powf(BETA2)).abs() < 1e-14);
        assert_eq!(c.accepted(1.0, 1e-12), MAX_GROWTH, "growth is capped");
        let floored = c.accepted(1.0, 1.0);
        assert!(
            (floored - PI_SAFETY * 1e-4f64.powf(BETA2)).abs() < 1e-14,
            "err_{{n−1}} = 1e-12 counts as 1e-4: {floored}"
        );
        let r = c.rejected(1e-3, 32.0);
        assert!((r / 1e-3 - 0.45).abs() < 1e-14, "0.9 · 32^(−1/5) = 0.45: {r}");
        assert_eq!(c.rejected(1e-3, 1e10), MIN_SHRINK * 1e-3, "shrink is capped");
        assert_eq!(c.rejected(1e-3, f64::NAN), 0.5e-3);
        assert_eq!(c.rejected(1e-3, 0.5), 0.5e-3, "rejected for another cause");
        assert_eq!(c.accepted(1.0, 1e-12), 1.0, "no growth right after a rejection");
        for k in 1..CAUTIOUS_STEPS {
            assert_eq!(c.accepted(1.0, 1e-12), CAUTIOUS_GROWTH, "accepted step {k} after the rejection");
        }
        assert_eq!(c.accepted(1.0, 1e-12), MAX_GROWTH, "caution over");
    }

    /// The dense output's weights vanish at θ = 0 and equal b at θ = 1, so the
    /// interpolant joins the step's end points.
    #[test]
    fn dense_output_weights_match_endpoints() {
        for tab in [Tableau::tsit5(), Tableau::dopri5()] {
            assert!(tab.dense_weights(0.0).iter().all(|w| *w == 0.0));
            for (w, b) in tab.dense_weights(1.0).iter().zip(tab.b.iter()) {
                assert!((w - b).abs() < 1e-12, "{w} vs {b}");
            }
        }
    }

    /// The tracker reports the largest rise (0 if none) and the drift only for runs
    /// without dissipation.
    #[test]
    fn energy_tracker_reports_rises_and_drift() {
        let mut t = EnergyTracker::new(2.0, 0.0);
        t.record(1.5, false);
        t.record(1.75, false);
        let r = t.report();
        assert_eq!((r.initial, r.last, r.max_increase, r.states), (2.0, 1.75, 0.25, 3));
        assert_eq!(r.relative_drift, Some(0.25));
        t.record(1.0, true);
        assert_eq!(t.report().relative_drift, None);
    }
}
