//! DiMS and RLA as constrained mechanics on the loss graph ([`Method::GraphRattle`]).
//!
//! # The idea
//!
//! The loss-graph metric G = I + ∇L∇Lᵀ is the metric that the graph
//! M = {(θ, y) : y = L(θ)} ⊂ R^{K+1} inherits from R^{K+1}: with q = (θ, y) and
//! p = q̇ = (v, w), w = ∇L·v, the kinetic energy ½|p|² is ½vᵀGv. A DiMS particle is
//! therefore a unit mass on the hypersurface M, pulled by gravity κ along the y axis
//! (V = κ(y − L*)) and slowed by friction −ηp; an RLA geodesic is the same particle
//! without gravity and friction. [`Mechanics`](crate::Mechanics) writes these dynamics
//! in θ alone, ẍ = −(ẋᵀHẋ + κ)g/(1+|g|²) − ηẋ, whose stiffness (Hessian eigenvalues
//! up to ~1e6 on a trained network) limits every explicit Runge–Kutta step. Here the
//! particle is integrated in R^{K+1} with the constraint c(q) = y − L(θ) = 0 held by a
//! Lagrange multiplier, so the stiffness enters only through one scalar implicit
//! equation per step.
//!
//! # The method
//!
//! One step of size h from (θ_n, v_n), with g_n = ∇L(θ_n), w_n = g_n·v_n, y_n = L(θ_n):
//!
//! 1. **Friction for h/2, exactly** (the position frozen): v̇ = −ηv has the flow
//!    v ← s v with s = 1/(1 + η0 (h/2) √T) for η = η0√T (T^{−1/2} grows linearly in
//!    time) and s = e^{−ηh/2} for constant η ([`FrictionFlow`](crate::FrictionFlow)). The energy removed,
//!    (1 − s²)T, is booked.
//! 2. **RATTLE** (Andersen 1983; Leimkuhler & Reich, *Simulating Hamiltonian Dynamics*,
//!    §7.2), the constrained Störmer–Verlet step for H = ½|p|² + κy:
//!    p_{1/2} = p_n − (h/2)(κe_y + λ∇c(q_n)), q_{n+1} = q_n + h p_{1/2}, with ∇c = (−g, 1).
//!    The multiplier λ solves the scalar equation
//!    φ(λ) = y_n + h(w − (h/2)(κ + λ)) − L(θ_n + h(v + (h/2)λ g_n)) = 0 by Newton's
//!    method, φ'(λ) = −(h²/2)(1 + ∇L(θ_{n+1})·g_n): one loss gradient per iteration
//!    (no Hessian), warm-started from the last step's λ, converged when
//!    |φ| ≤ 1e-13 (1 + |L|) or by the *secant finish* below. Then
//!    p_{n+1} = p_{1/2} − (h/2)(κe_y + μ∇c(q_{n+1})) with μ in closed form, so that
//!    p_{n+1} is tangent to M (w = g·v).
//!
//!    **Secant finish.** θ(λ) is linear in λ, so two iterates on the line determine the
//!    last Newton step's gradient to second order. When the iteration has evaluated at
//!    least two iterates λ_{k−1}, λ_k and the next correction dλ is deep in the quadratic
//!    phase (|r| ≤ 1e-2 for r = dλ/(λ_k − λ_{k−1}), predicted residual |r φ_k| within the
//!    Newton tolerance, gradient change |r|·|∇L_k − ∇L_{k−1}| ≤ 1e-5 |∇L_k|), the step
//!    λ_k + dλ is taken without evaluating the loss there: ∇L ≈ ∇L_k + r(∇L_k − ∇L_{k−1})
//!    and L by the trapezoidal rule on dL/dλ = (h²/2)∇L·g_n. On the Snelson network
//!    this replaces the third gradient of most late-trajectory steps (Newton from the
//!    warm start reaches ~1e-11 relative in one correction and 1e-15 in two), at a
//!    gradient error of ~1e-11 relative (at most 3e-10 measured over 16k finishes) and
//!    a constraint residual of rounding size.
//! 3. **Friction for h/2** again, from the new kinetic energy.
//! 4. **Energy projection**: the velocity is scaled (which keeps it tangent) so that
//!    H_{n+1} = H_n − (the energy the two friction half-steps removed). The conservative
//!    step conserves H only up to its error, and this bookkeeping makes the discrete
//!    energy follow the exact balance of the friction flow.
//!
//! The three pieces are a Strang splitting of the dissipative dynamics, so the method is
//! of order 2 (RATTLE is symmetric and symplectic on M; the projection moves the state
//! by the size of the conservative step's energy error). The position y is never
//! integrated: after each step it is L(θ_{n+1}) as evaluated, so the particle stays on
//! the graph to rounding.
//!
//! **Step size.** The conservative step's energy error e = |H(after 2) − H(before 2)|,
//! of order h³ per step, is compared with ε_E (1 + |H|), where
//! ε_E = [`IntegrateOptions::rtol`]/100 (atol is not used: ε_E = 1e-9 at the DiMS
//! paper's rtol 1e-7, the setting measured below). A step is accepted if e ≤ ε_E(1+|H|),
//! and the next step size comes from a PI controller (Gustafsson 1991; Hairer & Wanner,
//! *Solving ODEs II*, §IV.2) on the scaled error r_n = e/ε_E(1+|H|):
//! h·clamp(0.9 r_n^{−0.7/3} r_{n−1}^{0.4/3}, 0.2, 1.5), with no growth right after a
//! rejection. A step is rejected, with h shrunk by clamp(0.9 r^{−1/3}, 0.2, 0.9), if the
//! error is too large; with
//! h halved if Newton does not converge in 6 iterations, if a loss evaluation fails with
//! [`Error::NonFinite`] (a step so large that the network overflows), or if no velocity
//! scaling reaches the energy target (the potential alone exceeds it). The first step
//! is min(1e-5, (t1 − t0)/100). Only if h cannot recover (below 1e-13 or 16 ulp of t,
//! or more than 40 consecutive rejections) does the run fail, with the last such
//! evaluation error if there was one.
//!
//! **Held steps.** When at least 6 of the last 40 attempts were rejected, the PI
//! controller is cycling (see "Why the step is held" below), and the step is *held*:
//! fixed at 0.9 of the last rejected size (at most the PI proposal, at least half the
//! rejected size), changed only every 100 accepted steps, by 0.9 max(r)^{−1/3} over
//! those steps clamped to [1, 1.25], or at a rejection, by the rejection rule but at most
//! by half. Once the largest r of 100 held steps stays below 0.3, the PI controller takes
//! over again.
//!
//! **Dense output.** Output times and the stop event use the cubic Hermite interpolant
//! of (θ_n, v_n), (θ_{n+1}, v_{n+1}) (θ̇ = v), with its derivative as the velocity. The
//! stop event T < ε is located on the cubic Hermite interpolant of T itself, whose end
//! slopes dT/dt = −κw − 2ηT are known without evaluations; one loss gradient at the
//! located state then gives its true T and V, and the velocity there is scaled down if
//! needed so that T < ε and H ≤ H_n hold at the returned state (if no scaling can, the
//! step's end, where both hold, is returned).
//!
//! # Guarantees
//!
//! - H_{n+1} ≤ H_n at every accepted step, up to rounding in evaluating H, for DiMS
//!   (and for any friction law with an exact flow); at the stop event H ≤ H_n as well.
//! - Geodesics (κ = 0, no friction): H = T is conserved to rounding, ~1e-13 relative
//!   over [0, 1] on a K = 321 network.
//! - The particle stays on the graph: y_{n+1} = L(θ_{n+1}) to the Newton tolerance
//!   (exactly the evaluated L, or within rounding of it after a secant finish), and the
//!   velocity is tangent to the gradient the step ends with (evaluated, or extrapolated
//!   to ~1e-11 relative by a secant finish).
//! - Order 2: the error at a fixed time falls like the step size squared, that is like
//!   ε_E^{2/3}; the tests check convergence to a tight Tsit45 reference.
//! - Not guaranteed: states at requested output times are interpolated, not projected.
//!
//! # Cost
//!
//! Each Newton iteration costs one gradient of the loss (no curvature term, so about
//! 0.6× the cost of the right-hand side of the Runge–Kutta methods on the Snelson
//! network). The run's first is an [`Objective::gradient`](crate::Objective::gradient)
//! call; every later one goes through
//! [`Objective::gradient_near`](crate::Objective::gradient_near), which backends may
//! answer from earlier calls' work, since the evaluations of a trajectory lie close
//! together: a step's Newton iterates within (h²/2)|Δλ||g_n| of its first (≲ 1e-6 on
//! Snelson), and its first about h|v| from the last step's. The MLP backend expands its
//! activations in Taylor series around the last step's (no exp or erfc): on the
//! Snelson network a step's pair of evaluations costs 46.7 µs instead of 54.6 µs with
//! a full first evaluation and 66.9 µs with two full ones (`mlp_cost`, AVX2 EPYC). Its
//! results differ from a full evaluation's in the last bits, and near the energy
//! error's rounding floor that shows: at rtol 1e-9 on Snelson, with near evaluations
//! for the Newton iterates only, one DiMS sample of eight took 90.7k gradients to
//! t = 2 instead of 63.2k (the eight together 7% more gradients in 12% less time); at
//! rtol 1e-8 the counts of two samples to t = 2 and 10 moved by −5 … +4% and the time
//! fell by 19–28%.
//! [`SolveStats::rhs_evaluations`] counts
//! these gradient calls (plus one at t0); a secant finish is not an evaluation and is not
//! counted. An attempted step costs at least two gradients (the warm start and one
//! Newton correction, or two iterates for a secant finish); on the Snelson network 2.02
//! on average with the secant finish against 2.11 without it over 16 DiMS samples to
//! t1 = 50, 2.0 against 2.5 to t1 = 10 (on t ∈ [1, 10] Newton mostly needs two
//! corrections: 2.8 without the finish), 2.05 against 2.33 for RLA.
//! [`SolveStats::energy_evaluations`] counts the one gradient at a stop event.
//!
//! # Measurements
//!
//! Snelson workload (148 points, MLP 1-16-16-1 GELU, K = 321, σ = 0.285, λ = 0.209,
//! κ = 1, η0 = 0.1, the CLI's exact mode, 16 seeded velocities), rtol 1e-7 (ε_E = 1e-9)
//! against [`Method::EnergyProjected`] (the samplers' default before this method) at the
//! paper's tolerances, one thread per sample, both in one session on an idle machine
//! (BENCHMARKS.md has the commands and the per-sample tables). All of them predate the
//! held step; "Why the step is held" gives its effect:
//!
//! - Later, on an AVX2 EPYC (one run, one thread, 16 samples each): the secant finish
//!   and near gradients took DiMS to t1 = 50 from 4.09 M gradients and 139.7 s to
//!   3.94 M and 119.3 s, RLA from 318.5k gradients and 12.4 s to 276.4k and 9.8 s,
//!   H never rising in any run. Then near first evaluations (every evaluation after a
//!   run's first through `gradient_near`): 12 DiMS samples in 64.7 s against 77.2 s,
//!   3.36× faster than JAX + diffrax's Dormand–Prince at the paper's tolerances on the
//!   same inputs, with the same accuracy against tight references. The measurements
//!   below predate all three.
//! - DiMS to t1 = 50: 4.09 M gradients, 42.6 s for 16 samples (2.7 s per sample),
//!   against 6.05 M right-hand sides and 105.8 s (6.6 s per sample), 2.5× faster; H
//!   never rose in either; the final losses end in the same range (−2.33% … +0.15% of
//!   the mode's against −2.29% … +0.17%, 13 of 16 within 1% in both) and the mean
//!   predictive std in the gap differs by 5% (0.202 against 0.192).
//! - Accuracy against energy-projected Tsit5 at atol 1e-11, rtol 1e-12, θ error (l2):
//!   samples 0 and 1, 7.0e-6 and 9.0e-6 at t = 2 (17k gradients each) against 1.5e-2
//!   for energy-projected at the paper's tolerances on sample 0 (28k right-hand sides);
//!   at t = 10, where the trajectories are chaotic, 9.6e-4 and 5.4e-2 against 8.1e-2 and
//!   1.6e-1 (3–2100× smaller on the samples measured). Sample 1 converges to the
//!   reference as rtol tightens (measured with the first controller: 3.0e-2 at 1e-9,
//!   6.8e-3 at 1e-10).
//! - RLA to t = 1, 16 samples: 19.9k gradients per sample (0.21 s) against 34k
//!   right-hand sides (0.60 s), 2.8× faster; T drift ≤ 1e-15 relative; on samples 0 and
//!   1 the θ error is 2.3e-5 and 3.2e-4 against 1.4e-2 … 2.0e-2.
//! - The CLI's default problem (embedded data, MLP 1-16-16-16-1 GELU, K = 593, 16
//!   samples, same run): DiMS to t1 = 50 1.9 s per sample (1.77 M gradients in all)
//!   against 5.0 s (2.78 M right-hand sides), 2.6× faster, all 16 losses within 0.4% of
//!   the mode's in both; RLA 0.14 s against 0.43 s per sample (3.1×), T drift 8.7e-16.
//! - The PI controller against the first, integral-only one (h·clamp(0.9 r^{−1/3}, 0.2,
//!   1.5)): 89k rejected attempts instead of 504k for the 16 DiMS samples, 12% fewer
//!   gradients (4.09 M against 4.67 M; 11% fewer on two other seeds' 16 samples: 3.11 M
//!   against 3.50 M and 3.37 M against 3.80 M), 24% fewer for RLA. The other variants
//!   tried on the 16 samples saved less: other PI exponents (kI, kP) = (0.4, 0.2)/3,
//!   (0.2, 0.3)/3, (0.3, 0.5)/3 14%, 14%, 1%; a safety factor of 0.8 8%; no growth
//!   right after a rejection without the PI term 0.5%. The totals are chaotic at the
//!   level of a few per cent: the chosen controller with its exponent written as −0.7/3
//!   instead of −(0.3 + 0.4)/3 (a last-bit change) took 3.83 M.
//!
//! Tolerances much tighter than rtol = 1e-9 reach the rounding floor of the energy error
//! (V = κ(L − L*) carries the rounding of a sum over the data, ~1e-13 here): at
//! rtol = 1e-10 a DiMS sample to t = 10 took 1.25 M gradients instead of 45k.
//!
//! # When not to use it
//!
//! The step size is set by the energy error of the conservative step, which for a stiff
//! mode of frequency ω carrying kinetic energy T_ω is about (hω)³T_ω per step. The method
//! is cheap when the stiff directions carry little energy, which is the case for DiMS and
//! RLA started from a mode with velocities drawn from the Laplace posterior N(0, H⁻¹)
//! (their kinetic energy in a direction of curvature c scales like 1/c). Started with
//! energy in the stiff directions it needs small steps: on the 8-dimensional test
//! problem of the tests (curvatures 1e-2 … 1e4) with a unit velocity of random direction,
//! DiMS to t = 1000 took 3.7 M gradients against 0.84 M right-hand sides for
//! [`Method::EnergyProjected`], and geodesics to t = 1 took 1.8–11× more evaluations
//! (five seeds). With a Laplace-like velocity the same DiMS run took 0.36 M gradients
//! against 0.65 M.
//!
//! Nor where the loss is not stiff. Runge–Kutta 5(4) then takes steps set by accuracy,
//! and a fifth-order method beats a second-order one: on a 13-parameter network
//! (MLP 1-4-1 tanh, the CLI's snapshot test, DiMS to t = 3) the projected Tsitouras
//! pair reached 1e-6 of a tight reference with about 500 right-hand sides per sample,
//! where GraphRattle needed about 8 000 gradients (3e-7) at rtol 1e-7 and 700 (1.5e-4)
//! at rtol 1e-3. The trained networks measured above (K = 321 and 593, Hessian
//! eigenvalues up to ~1e6) are stiff; small or well-conditioned models may not be.
//!
//! # Why this design
//!
//! The explicit pairs' steps are set by stability, not accuracy (hω ≈ 1.1–2.4 on the
//! stiffest mode), and no explicit method escapes that. Fully implicit methods need the
//! Jacobian of the θ-space force, i.e. third derivatives of the loss through the
//! Christoffel term. The embedding moves all the curvature into the constraint, whose
//! implicit solve is a scalar Newton iteration on gradients: the same ∇L the metric
//! needs anyway. The friction law η = η0√T has an exact flow, so the splitting costs
//! nothing and is exact in the friction part; user friction laws without a closed-form
//! flow ([`FnDissipation`](crate::FnDissipation)) and other metrics get
//! [`Error::Unsupported`] and stay with the Runge–Kutta methods.
//!
//! The multiplier has to be solved to rounding, not to the energy tolerance. Accepting
//! the Newton iterate as soon as |φ| ≤ τ ε_E (1 + |H|) (so that a close warm start
//! costs one gradient per step instead of two) was measured on Snelson samples 0 and 1
//! to t = 2 (BENCHMARKS.md): for τ = 0.01, 0.1 and 1 the constraint defect entered the
//! energy error, the controller took 10–18× more steps (71–136k against 7.1–7.5k) and
//! 4–8× more gradients, and the θ error against the tight reference grew 20–80×. λ
//! carries the stiff modes' fast oscillation of vᵀHv, so no cheap predictor is close
//! enough to skip the solve.
//!
//! # Why the step is held
//!
//! With the PI controller alone, long DiMS runs lock into a limit cycle. On the Snelson
//! workload to t1 = 1000 (BENCHMARKS.md, "Where the gradients of a t1 = 1000 run go"),
//! from some time on (t ≈ 75 … 850, depending on the sample) the step size cycles
//! around a fixed mean (4.8–6.2e-4 depending on the sample) with exactly one attempt in
//! five rejected, whatever the tolerance (the same step at rtol 1e-8) and however far T
//! falls (20× over the locked stretch). The scaled error cycles with twice the frequency
//! of the stiffest mode (ω ≈ 1300), and the PI controller follows it. On sample 0 the
//! locked stretch took 4.07 M of the run's 4.66 M gradients.
//!
//! The likely cause is known for symplectic methods (Hairer, Lubich & Wanner,
//! *Geometric Numerical Integration*, §VIII.1: step sizes chosen by a standard error
//! estimate spoil their long-time energy behaviour). At a fixed step RATTLE conserves a
//! modified energy, which differs from H by an O(h²) term that oscillates with the
//! phase of the stiff modes. A change of step keeps the state but shifts its modified
//! energy by an amount whose sign depends on that phase. A controller that reacts to an
//! error oscillating with the phase changes h in step with it, so the shifts add up and
//! keep energy in the stiff modes, which keeps the error up and the step down. This
//! mechanism was not measured directly. What was measured fits it:
//!
//! - the lock persisted when the energy projection was made one-sided (the velocity
//!   scaled only where H would otherwise rise, which happened on almost no step), so the
//!   projection is not its cause (and the one-sided projection, no cheaper with the hold
//!   below, was not kept);
//! - holding the step breaks it. With the hold, none of the 16 samples showed the
//!   cycle (0.14–1.15% of attempts rejected per sample, 0.46% in all). On the two
//!   samples traced (1 and 4, with an equivalent experimental build), the held step grew
//!   over t ∈ [400, 1000] as T fell, from 8.2e-4 to 1.4e-3 and from 5.2e-4 to 8.6e-4,
//!   with next to no rejection.
//!   The 16 samples to t1 = 1000 took 37.2 M gradients and 447 s of sampling, against
//!   53.3 M and 657 s with the PI controller alone (plain Dormand–Prince at the paper's
//!   tolerance from the same θ* and velocities: 42.4 M right-hand sides; on a second
//!   seed's mode and velocities 28.9 M gradients against 73.9 M, all 16 final losses
//!   within 1% of the mode's). Samples 2 and 3 took 1.80 M and 1.49 M
//!   against 4.60 M and 2.46 M. H never rose, and the final losses (the same basins)
//!   and T(1000) = 3.0e-4 … 4.2e-4 are as before. The five samples that end 1.08–2.65%
//!   below the mode's loss end, to 0.02% of it, where tight references of the exact
//!   dynamics from the same θ* and velocities end (plain Tsitouras 5(4) at
//!   atol = rtol = 1e-10, 7.5–17.8 M right-hand sides each): in lower minima at a
//!   smaller |θ|, with the data term Σ(f−y)²/(2σ²) within 0.5% of the MAP's.
//!
//! The hold is entered only once the PI controller is seen cycling (6 rejections in 40
//! attempts), because in transients the PI controller adapts faster. The hold still
//! engages now and then early in a run, and short runs pay a little for it: 16 samples
//! to t1 = 50 took 3.92 M gradients against 3.71 M (+6%; the counts are chaotic at
//! the level of a few per cent), and RLA to t = 1 took 293k against 285k (+3%).

use crate::error::{Error, FailureReason, Result, check_dim};
use crate::integrate::{IntegrateOptions, Solution, SolveStats, StatePoint, StopReason, initial_records};
use crate::mechanics::SecondOrderSystem;
use crate::objective::dot;
#[cfg(doc)]
use crate::stable::Method;
use crate::stable::{EnergyTracker, MAX_REJECTIONS, begin_step};

/// Newton iterations allowed for the multiplier λ before the step is rejected.
const NEWTON_MAX: usize = 6;
/// Newton stops when |φ| ≤ NEWTON_TOL (1 + |L|).
const NEWTON_TOL: f64 = 1e-13;
/// ε_E = rtol · ENERGY_TOL_PER_RTOL.
const ENERGY_TOL_PER_RTOL: f64 = 1e-2;
/// Largest growth of the step size per accepted step.
const MAX_GROWTH: f64 = 1.5;
/// Smallest factor of a step-size change.
const MIN_SHRINK: f64 = 0.2;
/// Safety factor of the controller.
const SAFETY: f64 = 0.9;
/// PI controller exponents on the energy error e (an O(h³) quantity, k = 3):
/// h_{n+1} = h_n · SAFETY · e_n^{−K_I − K_P} · e_{n−1}^{K_P} (Gustafsson's kI = 0.3/k,
/// kP = 0.4/k).
const K_I: f64 = 0.3 / 3.0;
/// See [`K_I`].
const K_P: f64 = 0.4 / 3.0;
/// The Newton step that ends a solve without another evaluation (see the module docs)
/// is taken only when it is at most this fraction of the step before it, so that the
/// iteration is deep in its quadratic phase,
const SECANT_MAX_RATIO: f64 = 1e-2;
/// and when the gradient correction it needs is at most this fraction of |∇L|
/// (measured on Snelson: the extrapolation's error is about 1e-4.6 of the correction,
/// 3e-10 of |∇L| in the worst case of 16k steps).
const SECANT_GRAD_TOL: f64 = 1e-5;
/// The largest first step.
const FIRST_STEP: f64 = 1e-5;
/// The PI controller counts as cycling when at least [`CYCLE_REJECTIONS`] of the last
/// `CYCLE_WINDOW` attempts were rejected (it then holds the step; see the module docs).
const CYCLE_WINDOW: u32 = 40;
/// See [`CYCLE_WINDOW`].
const CYCLE_REJECTIONS: u32 = 6;
/// A held step is entered at this fraction of the last rejected step size.
const HOLD_ENTRY: f64 = 0.9;
/// Accepted steps between changes of a held step size.
const HOLD_STEPS: usize = 100;
/// The largest growth of a held step size per [`HOLD_STEPS`] accepted steps.
const HOLD_GROWTH: f64 = 1.25;
/// A hold ends, and the PI controller takes over again, when the largest scaled error
/// of [`HOLD_STEPS`] accepted steps stays below this.
const HOLD_RELEASE: f64 = 0.3;

/// A held step size: constant between changes, so that its changes do not follow the
/// phase of the stiff modes' energy error (see the module docs).
#[derive(Debug, Clone, Copy)]
struct Hold {
    /// The step size held.
    h: f64,
    /// Accepted steps since it last changed.
    steps: usize,
    /// The largest scaled energy error over those steps.
    max_err: f64,
}

impl Hold {
    /// A held step of size `h` that has just changed.
    fn at(h: f64) -> Self {
        Self { h, steps: 0, max_err: 0.0 }
    }
}

/// The step-size controller of [`integrate_graph`]: PI on the scaled energy error, and a
/// held step once the PI controller cycles (see "Step size" in the module docs).
#[derive(Debug, Clone)]
struct StepControl {
    /// The last accepted step's scaled error.
    err_prev: f64,
    /// Whether the attempt before this one was rejected (then h does not grow).
    after_rejection: bool,
    /// One bit per attempt, the latest lowest (1 = rejected).
    recent: u64,
    /// The last rejected step size.
    h_rejected: f64,
    /// The held step, while the controller holds one.
    hold: Option<Hold>,
}

impl StepControl {
    fn new() -> Self {
        Self { err_prev: 1.0, after_rejection: false, recent: 0, h_rejected: 0.0, hold: None }
    }

    /// The next attempt's size after rejecting one of size `h` with scaled energy error
    /// `err` (not finite, or at most 1, when the rejection had another cause).
    fn rejected(&mut self, h: f64, err: f64) -> f64 {
        self.after_rejection = true;
        self.recent = (self.recent << 1) | 1;
        self.h_rejected = h;
        let next = h * if err.is_finite() && err > 1.0 {
            (SAFETY * err.powf(-1.0 / 3.0)).clamp(MIN_SHRINK, SAFETY)
        } else {
            0.5
        };
        match self.hold.as_mut() {
            Some(held) => {
                // A rejected held step shrinks as any rejected step does, but at most by half.
                *held = Hold::at(next.max(0.5 * held.h));
                held.h
            }
            None => next,
        }
    }

    /// The next step's size after accepting one of size `h` with scaled energy error `err`.
    fn accepted(&mut self, h: f64, err: f64) -> f64 {
        let err = err.max(1e-10);
        self.recent <<= 1;
        if let Some(held) = self.hold.as_mut() {
            held.steps += 1;
            held.max_err = held.max_err.max(err);
            if held.steps >= HOLD_STEPS {
                if held.max_err < HOLD_RELEASE {
                    self.hold = None;
                } else {
                    *held = Hold::at(held.h * (SAFETY * held.max_err.powf(-1.0 / 3.0)).clamp(1.0, HOLD_GROWTH));
                }
            }
        }
        let next = match &self.hold {
            Some(held) => held.h,
            None => {
                let growth = if self.after_rejection { 1.0 } else { MAX_GROWTH };
                let pi = h * (SAFETY * err.powf(-K_I - K_P) * self.err_prev.powf(K_P)).clamp(MIN_SHRINK, growth);
                if (self.recent & ((1u64 << CYCLE_WINDOW) - 1)).count_ones() >= CYCLE_REJECTIONS {
                    // The PI controller is cycling: hold the step under the rejected size.
                    let held = (HOLD_ENTRY * self.h_rejected).min(pi.max(0.5 * self.h_rejected));
                    self.hold = Some(Hold::at(held));
                    self.recent = 0;
                    held
                } else {
                    pi
                }
            }
        };
        self.err_prev = err;
        self.after_rejection = false;
        next
    }
}

/// The Newton step that ends a solve without evaluating the loss again. On the line
/// θ(λ) = a + λ(h²/2)g_n two iterates λ_{k−1}, λ_k have gradients `gp`, `g` and λ_k has
/// loss `l` and `g_gn` = ∇L(θ(λ_k))·g_n; the step is λ_k → λ_k + dλ with r = dλ/(λ_k − λ_{k−1})
/// and `step` = (h²/2)dλ. Overwrites `g` with the secant extrapolation
/// ∇L(θ(λ_k + dλ)) ≈ g + r(g − gp) (error of order dλ·(λ_k − λ_{k−1})) and returns the
/// loss there by the trapezoidal rule on dL/dλ = (h²/2)∇L·g_n (error of order dλ³ and
/// dλ²(λ_k − λ_{k−1})).
fn secant_finish(g: &mut [f64], gp: &[f64], gn: &[f64], r: f64, step: f64, l: f64, g_gn: f64) -> f64 {
    for (g, &gp) in g.iter_mut().zip(gp) {
        *g += r * (*g - gp);
    }
    l + 0.5 * step * (g_gn + dot(g, gn))
}

/// |a − b|².
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn eval_error(t: f64, e: Error) -> Error {
    Error::Integration { t, reason: FailureReason::Evaluation(Box::new(e)) }
}

/// The state at the start of the last accepted step, for dense output.
struct Previous {
    t: f64,
    x: Vec<f64>,
    v: Vec<f64>,
    kinetic: f64,
    w: f64,
    energy: f64,
}

/// Cubic Hermite interpolation of position and velocity over a step of size `h` from
/// `(x0, v0)` to `(x1, v1)`, at θ ∈ [0, 1].
fn hermite((x0, v0): (&[f64], &[f64]), (x1, v1): (&[f64], &[f64]), h: f64, theta: f64, xo: &mut [f64], vo: &mut [f64]) {
    let (s, s2, s3) = (theta, theta * theta, theta * theta * theta);
    let (h00, h10, h01, h11) = (2.0 * s3 - 3.0 * s2 + 1.0, s3 - 2.0 * s2 + s, -2.0 * s3 + 3.0 * s2, s3 - s2);
    let (d00, d10, d11) = (6.0 * s2 - 6.0 * s, 3.0 * s2 - 4.0 * s + 1.0, 3.0 * s2 - 2.0 * s);
    for j in 0..x0.len() {
        xo[j] = h00 * x0[j] + h10 * h * v0[j] + h01 * x1[j] + h11 * h * v1[j];
        vo[j] = d00 * (x0[j] - x1[j]) / h + d10 * v0[j] + d11 * v1[j];
    }
}

/// The first θ ∈ (0, 1] where the cubic Hermite interpolant of T (values `k0` ≥ ε > `k1`,
/// derivatives `d0`, `d1` with respect to θ) drops below ε, by bisection.
fn kinetic_crossing(k0: f64, k1: f64, d0: f64, d1: f64, eps: f64) -> f64 {
    let f = |s: f64| {
        let (s2, s3) = (s * s, s * s * s);
        (2.0 * s3 - 3.0 * s2 + 1.0) * k0 + (s3 - 2.0 * s2 + s) * d0 + (-2.0 * s3 + 3.0 * s2) * k1 + (s3 - s2) * d1 - eps
    };
    // The first crossing: scan coarsely, then bisect the first bracket.
    let mut lo = 0.0;
    let mut hi = 1.0;
    const SCAN: usize = 16;
    for i in 1..=SCAN {
        let s = i as f64 / SCAN as f64;
        if f(s) < 0.0 {
            hi = s;
            break;
        }
        lo = s;
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if f(mid) < 0.0 { hi = mid } else { lo = mid }
    }
    hi
}

/// The RATTLE integrator behind [`integrate`](crate::integrate()) with
/// [`Method::GraphRattle`]; `opts` is validated and (x0, v0) checked by the caller.
pub(crate) fn integrate_graph<Sy: SecondOrderSystem + ?Sized>(
    system: &Sy,
    x0: &[f64],
    v0: &[f64],
    opts: &IntegrateOptions,
) -> Result<Solution> {
    let form = system.loss_graph().ok_or(Error::Unsupported {
        method: "GraphRattle",
        reason: "it needs mechanics on a loss-graph metric with no potential or the intrinsic one, and a \
                 friction law with an exact flow (Frictionless, Constant, SpeedDependent)",
    })?;
    let loss = form.loss;
    let (kappa, l_star, friction) = (form.kappa, form.l_star, form.friction);
    let n = system.dim();
    check_dim("loss dimension", n, loss.dim())?;
    let etol = opts.rtol * ENERGY_TOL_PER_RTOL;
    let pot = |l: f64| if kappa == 0.0 { 0.0 } else { kappa * (l - l_star) };
    let z = || vec![0.0; n];

    let mut t = opts.t0;
    let (mut th, mut v) = (x0.to_vec(), v0.to_vec());
    let (mut gn, mut g, mut thn, mut vn) = (z(), z(), z(), z());
    // ∇L at the previous Newton iterate of the step.
    let mut gp = z();
    let mut grads = 1usize;
    let mut energy_calls = 0usize;
    let mut y = loss.gradient(&th, &mut gn).map_err(|e| eval_error(t, e))?;
    if !(y.is_finite() && gn.iter().all(|z| z.is_finite())) {
        return Err(eval_error(t, Error::NonFinite { what: "loss gradient at the initial state" }));
    }
    let mut w = dot(&gn, &v);
    let mut kin = 0.5 * (dot(&v, &v) + w * w);
    let mut hn = kin + pot(y);
    let mut tracker = EnergyTracker::new(hn, 2.0 * friction.coefficient(kin) * kin);

    let (mut outputs, mut out_idx, mut trajectory) = initial_records(opts, x0, v0);
    let (mut accepted, mut rejected, mut consecutive) = (0usize, 0usize, 0usize);
    let stats = |grads, accepted, rejected, energy_calls| SolveStats {
        rhs_evaluations: grads,
        accepted_steps: accepted,
        rejected_steps: rejected,
        energy_evaluations: energy_calls,
    };
    if let Some(eps) = opts.stop_below_kinetic
        && kin < eps
    {
        return Ok(Solution {
            t,
            x: th,
            v,
            stop: StopReason::KineticBelow { threshold: eps },
            stats: stats(grads, 0, 0, 0),
            outputs,
            trajectory,
            energy: Some(tracker.report()),
        });
    }

    let mut prev = Previous { t, x: z(), v: z(), kinetic: kin, w, energy: hn };
    let mut lam = 0.0;
    let mut h = FIRST_STEP.min(0.01 * (opts.t1 - opts.t0));
    let mut failure: Option<Error> = None;
    let mut control = StepControl::new();
    loop {
        let last = begin_step(t, &mut h, accepted, opts, &mut failure)?;

        // 1. Friction for h/2 (applied to v on the fly below).
        let s1 = friction.scale(kin, 0.5 * h);
        let removed1 = kin * (1.0 - s1 * s1);
        let h_mid = hn - removed1;
        let w_half = s1 * w;

        // 2. RATTLE: Newton on φ(λ) for the position step.
        let mut lam_try = lam;
        let mut lam_last = f64::NAN;
        let mut l_new = f64::NAN;
        let mut converged = false;
        for it in 0..NEWTON_MAX {
            let c = 0.5 * h * lam_try;
            for j in 0..n {
                thn[j] = th[j] + h * (s1 * v[j] + c * gn[j]);
            }
            let y_new = y + h * (w_half - 0.5 * h * (kappa + lam_try));
            grads += 1;
            match loss.gradient_near(&thn, &mut g) {
                Ok(l) => l_new = l,
                Err(e @ Error::NonFinite { .. }) => {
                    failure = Some(eval_error(t, e));
                    break;
                }
                Err(e) => return Err(eval_error(t, e)),
            }
            let phi = y_new - l_new;
            if !phi.is_finite() {
                break;
            }
            let tol = NEWTON_TOL * (1.0 + l_new.abs());
            if phi.abs() <= tol {
                converged = true;
                break;
            }
            let g_gn = dot(&g, &gn);
            let dl = phi / (0.5 * h * h * (1.0 + g_gn));
            if it >= 1 {
                // The last Newton step without an evaluation, where it is safe (see the
                // module docs): ∇L and L at λ + dl from the two iterates on the line.
                let r = dl / (lam_try - lam_last);
                if r.abs() <= SECANT_MAX_RATIO
                    && (r * phi).abs() <= tol
                    && r.abs() * dist2(&g, &gp).sqrt() <= SECANT_GRAD_TOL * dot(&g, &g).sqrt()
                {
                    l_new = secant_finish(&mut g, &gp, &gn, r, 0.5 * h * h * dl, l_new, g_gn);
                    lam_try += dl;
                    let c = 0.5 * h * lam_try;
                    for j in 0..n {
                        thn[j] = th[j] + h * (s1 * v[j] + c * gn[j]);
                    }
                    converged = true;
                    break;
                }
            }
            lam_last = lam_try;
            std::mem::swap(&mut g, &mut gp);
            lam_try += dl;
        }
        // Velocity update with the tangency multiplier μ, and the energy error.
        let mut err = f64::INFINITY;
        let mut w_new = 0.0;
        let mut kin_after = 0.0;
        if converged {
            let c = 0.5 * h * lam_try;
            for j in 0..n {
                vn[j] = s1 * v[j] + c * gn[j];
            }
            w_new = w_half - 0.5 * h * (kappa + lam_try);
            let mu = (w_new - 0.5 * h * kappa - dot(&g, &vn)) / (0.5 * h * (1.0 + dot(&g, &g)));
            let c = 0.5 * h * mu;
            for j in 0..n {
                vn[j] += c * g[j];
            }
            w_new -= 0.5 * h * (kappa + mu);
            kin_after = 0.5 * (dot(&vn, &vn) + w_new * w_new);
            let h_after = kin_after + pot(l_new);
            err = (h_after - h_mid).abs() / (etol * (1.0 + h_mid.abs()));
        }

        // 3. Friction for h/2, and 4. the energy target.
        let mut alpha = f64::NAN;
        let mut removed = removed1;
        if err <= 1.0 {
            let s2 = friction.scale(kin_after, 0.5 * h);
            removed += kin_after * (1.0 - s2 * s2);
            let kin2 = s2 * s2 * kin_after;
            let mut target = hn - removed - pot(l_new);
            // Rounding at rest: a target a few ulp below zero is zero.
            if target < 0.0 && target >= -8.0 * f64::EPSILON * (hn.abs() + pot(l_new).abs()) {
                target = 0.0;
            }
            if target >= 0.0 {
                alpha = if kin2 > 0.0 { s2 * (target / kin2).sqrt() } else { s2 };
            }
        }
        if !(err <= 1.0 && alpha.is_finite()) {
            rejected += 1;
            consecutive += 1;
            if consecutive > MAX_REJECTIONS {
                return Err(failure.unwrap_or(Error::Integration { t, reason: FailureReason::TooManyRejections }));
            }
            h = control.rejected(h, err);
            continue;
        }

        // Accepted: v_{n+1} = α v_after (friction and projection in one scaling).
        consecutive = 0;
        failure = None;
        accepted += 1;
        vn.iter_mut().for_each(|z| *z *= alpha);
        w_new *= alpha;
        prev.t = t;
        prev.kinetic = kin;
        prev.w = w;
        prev.energy = hn;
        std::mem::swap(&mut prev.x, &mut th);
        std::mem::swap(&mut prev.v, &mut v);
        std::mem::swap(&mut th, &mut thn);
        std::mem::swap(&mut v, &mut vn);
        std::mem::swap(&mut gn, &mut g);
        y = l_new;
        w = w_new;
        kin = 0.5 * (dot(&v, &v) + w * w);
        // The energy target is booked (H_n minus what friction removed), not recomputed
        // from the scaled state: rounding in the scaling then does not accumulate.
        hn -= removed;
        let h_state = kin + pot(y);
        lam = lam_try;
        t = if last { opts.t1 } else { t + h };
        let power_seen = removed > 0.0;

        // Stop event: the first time T < ε.
        let mut event = None;
        if let Some(eps) = opts.stop_below_kinetic
            && kin < eps
        {
            let (d0, d1) = (
                h * (-kappa * prev.w - 2.0 * friction.coefficient(prev.kinetic) * prev.kinetic),
                h * (-kappa * w - 2.0 * friction.coefficient(kin) * kin),
            );
            let theta = kinetic_crossing(prev.kinetic, kin, d0, d1, eps);
            let (mut xe, mut ve) = (z(), z());
            hermite((&prev.x, &prev.v), (&th, &v), h, theta, &mut xe, &mut ve);
            energy_calls += 1;
            let located = match loss.gradient(&xe, &mut thn) {
                Ok(l) if l.is_finite() => {
                    let gv = dot(&thn, &ve);
                    let ke = 0.5 * (dot(&ve, &ve) + gv * gv);
                    let cap = eps.min(prev.energy - pot(l));
                    let s = if ke < cap { 1.0 } else { (cap / ke).sqrt() * (1.0 - 1e-12) };
                    let (ke, he) = (s * s * ke, s * s * ke + pot(l));
                    (cap > 0.0 && s.is_finite() && ke < eps && he <= prev.energy).then(|| {
                        ve.iter_mut().for_each(|z| *z *= s);
                        (prev.t + theta * h, xe, ve, he)
                    })
                }
                Ok(_) | Err(Error::NonFinite { .. }) => None,
                Err(e) => return Err(eval_error(t, e)),
            };
            event = Some((located.unwrap_or_else(|| (t, th.clone(), v.clone(), h_state)), eps));
        }
        let t_end = event.as_ref().map_or(t, |e| e.0.0);

        // Outputs in (t_n, t_end].
        while out_idx < opts.output_times.len() && opts.output_times[out_idx] <= t_end {
            let to = opts.output_times[out_idx];
            let (xo, vo) = match &event {
                Some(((te, xe, ve, _), _)) if to == *te => (xe.clone(), ve.clone()),
                None if to == t => (th.clone(), v.clone()),
                _ => {
                    let (mut xo, mut vo) = (z(), z());
                    hermite((&prev.x, &prev.v), (&th, &v), h, ((to - prev.t) / h).clamp(0.0, 1.0), &mut xo, &mut vo);
                    (xo, vo)
                }
            };
            outputs.push(StatePoint { t: to, x: xo, v: vo });
            out_idx += 1;
        }

        if let Some(((te, xe, ve, he), eps)) = event {
            tracker.record(he, power_seen);
            if let Some(tr) = trajectory.as_mut() {
                tr.push(StatePoint { t: te, x: xe.clone(), v: ve.clone() });
            }
            return Ok(Solution {
                t: te,
                x: xe,
                v: ve,
                stop: StopReason::KineticBelow { threshold: eps },
                stats: stats(grads, accepted, rejected, energy_calls),
                outputs,
                trajectory,
                energy: Some(tracker.report()),
            });
        }
        tracker.record(h_state, power_seen);
        if let Some(tr) = trajectory.as_mut() {
            tr.push(StatePoint { t, x: th.clone(), v: v.clone() });
        }
        if last {
            break;
        }
        h = control.accepted(h, err);
    }
    Ok(Solution {
        t,
        x: th,
        v,
        stop: StopReason::FinalTime,
        stats: stats(grads, accepted, rejected, energy_calls),
        outputs,
        trajectory,
        energy: Some(tracker.report()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanics::FrictionFlow;

    /// The Hermite interpolant reproduces a cubic x(t) = t³ − t and its derivative
    /// exactly from the end values and slopes.
    #[test]
    fn hermite_is_exact_on_cubics() {
        let (h, t0) = (0.5, 0.3);
        let x = |t: f64| t * t * t - t;
        let dx = |t: f64| 3.0 * t * t - 1.0;
        let (mut xo, mut vo) = ([0.0], [0.0]);
        for theta in [0.0, 0.25, 0.6, 1.0] {
            hermite((&[x(t0)], &[dx(t0)]), (&[x(t0 + h)], &[dx(t0 + h)]), h, theta, &mut xo, &mut vo);
            let t = t0 + theta * h;
            assert!((xo[0] - x(t)).abs() < 1e-14 && (vo[0] - dx(t)).abs() < 1e-13, "θ = {theta}");
        }
    }

    /// The crossing of the interpolated T with ε is the first one: for T(θ) = 1 − θ
    /// (k0 = 1, k1 = 0, slopes −1) and ε = 0.25 it is θ = 0.75; for the cubic from 1 to
    /// 0.5 with slopes −8 at both ends, which is 0.17 at θ = 0.25 and 1.33 at θ = 0.75,
    /// and ε = 0.6, the early root (below 0.25), not the late one.
    #[test]
    fn kinetic_crossing_finds_first_root() {
        assert!((kinetic_crossing(1.0, 0.0, -1.0, -1.0, 0.25) - 0.75).abs() < 1e-12);
        let theta = kinetic_crossing(1.0, 0.5, -8.0, -8.0, 0.6);
        assert!(theta > 0.0 && theta < 0.25, "{theta}");
    }

    /// The secant finish is exact to second order along the line θ(λ) = a + λb of
    /// L(θ) = Σ (θ⁴/4 + θ²/2): from iterates at λ = 0 and Δ and a last step dλ, the
    /// extrapolated gradient's error is O(dλ·Δ) and the loss's O(dλ²·Δ + dλ³), so halving
    /// Δ and dλ divides them by ≈ 4 and ≈ 8; at Δ = 1e-2 they are below 2% and 1e-5 of
    /// the error of keeping ∇L(θ(Δ)) and L(θ(Δ)) unchanged (first order in dλ; measured
    /// 0.7% and 4e-7).
    #[test]
    fn secant_finish_is_second_order_on_a_line() {
        let (a, b) = ([0.3, -1.2, 0.7], [0.8, 0.5, -1.1]);
        let loss = |l: f64| -> (f64, Vec<f64>) {
            let th: Vec<f64> = a.iter().zip(&b).map(|(a, b)| a + l * b).collect();
            (th.iter().map(|t| t.powi(4) / 4.0 + t * t / 2.0).sum(), th.iter().map(|t| t.powi(3) + t).collect())
        };
        // b = (h²/2) g_n with h²/2 = 1, so g_n = b.
        let errors = |delta: f64, dl: f64| {
            let (_, gp) = loss(0.0);
            let (l1, mut g) = loss(delta);
            let (l_exact, g_exact) = loss(delta + dl);
            let stay = (l1 - l_exact).abs().max(dist2(&g, &g_exact).sqrt());
            let g_b = dot(&g, &b);
            let l = secant_finish(&mut g, &gp, &b, dl / delta, dl, l1, g_b);
            (dist2(&g, &g_exact).sqrt(), (l - l_exact).abs(), stay)
        };
        let (eg1, el1, stay) = errors(1e-2, 1e-4);
        let (eg2, el2, _) = errors(5e-3, 5e-5);
        assert!(eg1 < 2e-2 * stay && el1 < 1e-5 * stay, "{eg1:e} {el1:e} vs {stay:e}");
        assert!((eg1 / eg2 - 4.0).abs() < 0.2, "gradient error ratio {}", eg1 / eg2);
        assert!((el1 / el2 - 8.0).abs() < 0.5, "loss error ratio {}", el1 / el2);
    }

    /// The exact friction flow of η = η0√T: T^{−1/2} grows by η0 τ, and composing two
    /// half-steps gives the full step (the flow is a semigroup).
    #[test]
    fn friction_flow_is_exact_semigroup() {
        let f = FrictionFlow::SpeedDependent(0.3);
        let (k0, tau) = (2.0, 0.7);
        let s = f.scale(k0, tau);
        let k1 = s * s * k0;
        assert!((k1.powf(-0.5) - (k0.powf(-0.5) + 0.3 * tau)).abs() < 1e-14);
        let s_half = f.scale(k0, 0.5 * tau);
        let s_two = s_half * f.scale(s_half * s_half * k0, 0.5 * tau);
        assert!((s_two - s).abs() < 1e-15);
        let c = FrictionFlow::Constant(0.4);
        assert!((c.scale(1.0, 0.5) * c.scale(1.0, 0.5) - c.scale(1.0, 1.0)).abs() < 1e-15);
        assert_eq!(FrictionFlow::None.scale(5.0, 3.0), 1.0);
    }

    /// The PI step of Gustafsson's controller on an O(h³) error:
    /// h_{n+1} = h_n · clamp(0.9 r_n^{−(kI+kP)} r_{n−1}^{kP}, 0.2, 1.5), no growth right
    /// after a rejection, and a rejected step shrinks by clamp(0.9 r^{−1/3}, 0.2, 0.9)
    /// (halved when the rejection had another cause).
    #[test]
    fn pi_controller_follows_gustafsson() {
        let mut c = StepControl::new();
        let h1 = c.accepted(1e-3, 0.5);
        assert!((h1 / 1e-3 - 0.9 * 0.5f64.powf(-K_I - K_P)).abs() < 1e-14);
        let h2 = c.accepted(h1, 0.2);
        assert!((h2 / h1 - 0.9 * 0.2f64.powf(-K_I - K_P) * 0.5f64.powf(K_P)).abs() < 1e-14);
        assert_eq!(c.accepted(h2, 1e-12) / h2, MAX_GROWTH, "growth is capped");
        let r = c.rejected(1e-3, 8.0);
        assert!((r / 1e-3 - 0.45).abs() < 1e-14, "0.9 · 8^(−1/3) = 0.45: {r}");
        assert_eq!(c.rejected(1e-3, f64::INFINITY), 0.5e-3);
        assert_eq!(c.accepted(1e-3, 1e-6), 1e-3, "no growth right after a rejection");
    }

    /// A PI controller that keeps being rejected (six of the last 40 attempts) holds the
    /// step at 0.9 of the rejected size; the held step stays constant between changes,
    /// changes every HOLD_STEPS accepted steps by at most HOLD_GROWTH (by
    /// 0.9 max(r)^{−1/3}), shrinks on a rejection as any step does but by half at most,
    /// and is released to the PI controller once the largest error of HOLD_STEPS steps
    /// stays below HOLD_RELEASE.
    #[test]
    fn a_cycling_controller_holds_the_step() {
        let mut c = StepControl::new();
        let mut h = 1e-3;
        let mut rejections = 0;
        // The limit cycle: four accepted attempts, then one rejected at the cycle's top.
        while c.hold.is_none() {
            for _ in 0..4 {
                h = c.accepted(h, 0.5);
            }
            h = c.rejected(h, 1.2);
            rejections += 1;
            h = c.accepted(h, 0.9);
            assert!(
                c.hold.is_some() || rejections < CYCLE_REJECTIONS as usize,
                "not held after {rejections} rejections"
            );
        }
        assert_eq!(rejections, CYCLE_REJECTIONS as usize);
        let held = c.hold.expect("held").h;
        assert!(held <= HOLD_ENTRY * c.h_rejected && held >= 0.5 * c.h_rejected);
        assert_eq!(h, held);
        // Constant between changes, whatever the errors do.
        for k in 1..HOLD_STEPS {
            let err = if k % 5 == 0 { 0.5 } else { 0.05 };
            assert_eq!(c.accepted(h, err), held, "step {k}");
        }
        // After HOLD_STEPS steps with max error 0.5: growth 0.9 · 0.5^(−1/3).
        let grown = c.accepted(h, 0.1);
        assert!((grown / held - SAFETY * 0.5f64.powf(-1.0 / 3.0)).abs() < 1e-14, "{}", grown / held);
        // With max error 0.9 it would have to shrink (0.9 · 0.9^(−1/3) < 1): it stays.
        for _ in 0..HOLD_STEPS {
            assert_eq!(c.accepted(grown, 0.9), grown);
        }
        assert!(c.hold.is_some());
        // A rejection in the hold: shrink by 5% … 50%.
        let shrunk = c.rejected(grown, 1.01);
        assert!((shrunk / grown - SAFETY * 1.01f64.powf(-1.0 / 3.0)).abs() < 1e-14);
        assert_eq!(c.rejected(shrunk, 1e6), 0.5 * shrunk, "a large one by half at most");
        h = 0.5 * shrunk;
        // Small errors for HOLD_STEPS steps: released, then PI again (growth allowed).
        for _ in 0..HOLD_STEPS - 1 {
            assert_eq!(c.accepted(h, 0.01), h);
        }
        let released = c.accepted(h, 0.01);
        assert!(c.hold.is_none());
        assert!(released > h, "PI grows the step again: {released} vs {h}");
    }
}
