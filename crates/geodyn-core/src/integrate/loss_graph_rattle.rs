//! DiMS and RLA as constrained mechanics on the loss graph ([`Method::LossGraphRattle`]).
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
//!    time) and s = e^{−ηh/2} for constant η ([`FrictionFlow`]). The energy removed,
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
//!    and L by the trapezoidal rule on dL/dλ = (h²/2)∇L·g_n, at a gradient error of
//!    second order in the Newton corrections and a constraint residual of rounding size.
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
//! paper's rtol 1e-7). A step is accepted if e ≤ ε_E(1+|H|),
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
//! **Held steps.** With the PI controller alone, long DiMS runs lock into a limit cycle
//! (the step size cycles around a fixed mean with about one attempt in five rejected,
//! following the energy error, which oscillates with twice the frequency of the stiffest
//! mode). Step sizes chosen by a standard error estimate are known to spoil the
//! long-time energy behaviour of symplectic methods (Hairer, Lubich & Wanner, *Geometric
//! Numerical Integration*, §VIII.1). So when at least 6 of the last 40 attempts were
//! rejected the step is *held*: fixed at 0.9 of the last rejected size (at most the PI
//! proposal, at least half the rejected size), changed only every 100 accepted steps, by
//! 0.9 max(r)^{−1/3} over those steps clamped to [1, 1.25], or at a rejection, by the
//! rejection rule but at most by half. Once the largest r of 100 held steps stays below
//! 0.3, the PI controller takes over again. The controller is
//! `integrate::controller::EnergyErrorController`.
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
//! - Geodesics (κ = 0, no friction): H = T is conserved to rounding.
//! - The particle stays on the graph: y_{n+1} = L(θ_{n+1}) to the Newton tolerance
//!   (exactly the evaluated L, or within rounding of it after a secant finish), and the
//!   velocity is tangent to the gradient the step ends with (evaluated, or extrapolated
//!   to ~1e-11 relative by a secant finish).
//! - Order 2: the error at a fixed time falls like the step size squared, that is like
//!   ε_E^{2/3}; the tests check convergence to a tight reference.
//! - Not guaranteed: states at requested output times are interpolated, not projected.
//!
//! # Cost
//!
//! Each Newton iteration costs one gradient of the loss (no curvature term: cheaper than
//! the right-hand side of the Runge–Kutta methods, which needs a Hessian-vector
//! product). A run evaluates every gradient through one [`GradientContext`] of its own
//! ([`Objective::gradient_context`](crate::Objective::gradient_context)), which backends
//! may answer from earlier calls' work, since the evaluations of a trajectory lie close
//! together: a step's Newton iterates within (h²/2)|Δλ||g_n| of its first, and its first
//! about h|v| from the last step's. The run's first evaluation, and the one at a stop
//! event, start the context afresh (full evaluations); the results of the others may
//! differ from a full evaluation's in the last bits, and depend only on the run's own
//! inputs. [`SolveStats::rhs_evaluations`] counts these gradient
//! calls (plus one at t0); a secant finish is not an evaluation and is not counted.  Most
//! attempted steps cost two gradients (the warm start and one Newton correction, or two
//! iterates for a secant finish); a warm start that already solves the constraint, or a
//! rejected first iterate, costs one. Tolerances much tighter than
//! rtol = 1e-9 reach the rounding floor of the energy error (V = κ(L − L*) carries the
//! rounding of a sum over the data) and cost far more steps.
//! [`SolveStats::energy_evaluations`] counts the one gradient at a stop event.
//!
//! # When not to use it
//!
//! The step size is set by the energy error of the conservative step, which for a stiff
//! mode of frequency ω carrying kinetic energy T_ω is about (hω)³T_ω per step. The method
//! is cheap when the stiff directions carry little energy, which is the case for DiMS and
//! RLA started from a mode with velocities drawn from the Laplace posterior N(0, H⁻¹)
//! (their kinetic energy in a direction of curvature c scales like 1/c). Started with
//! much energy in the stiff directions (velocities of your own) it needs small steps,
//! and [`Method::ProjectedTsit5`] needs fewer evaluations.
//!
//! Nor where the loss is not stiff. Runge–Kutta 5(4) then takes steps set by accuracy,
//! and a fifth-order method beats a second-order one: small or well-conditioned models
//! (a 13-parameter network, say) are cheaper with [`Method::ProjectedTsit5`]
//! (BENCHMARKS.md has the measured counts).
//!
//! Only particles on a loss graph can be integrated ([`LossGraphParticle`]): mechanics on
//! a [`LossGraph`](crate::LossGraph) metric with no potential or the intrinsic one, and a
//! friction law with an exact flow ([`FrictionFlow`]).
//! [`integrate_particle`] takes the particle itself, from
//! [`Mechanics::particle`](crate::Mechanics::particle), so that the compiler checks this;
//! [`integrate`](crate::integrate()) with [`Method::LossGraphRattle`], for a method chosen
//! at run time, asks the system for it
//! ([`SecondOrderSystem::as_loss_graph_particle`]) and returns [`Error::Unsupported`] for
//! other systems.
//!
//! # Why this design
//!
//! The explicit pairs' steps are set by stability, not accuracy, and no explicit method
//! escapes that. Fully implicit methods need the Jacobian of the θ-space force, i.e.
//! third derivatives of the loss through the Christoffel term. The embedding moves all
//! the curvature into the constraint, whose implicit solve is a scalar Newton iteration
//! on gradients: the same ∇L the metric needs anyway. The friction law η = η0√T has an
//! exact flow, so the splitting is exact in the friction part. The multiplier is solved
//! to rounding, not to the energy tolerance: a constraint defect enters the energy error,
//! and accepting Newton iterates early made the controller take many more steps.

use super::controller::{EnergyErrorController, MAX_REJECTIONS, StepController, begin_step};
use super::dense::hermite;
use super::driver::{Advance, Finished, Located, Records, Stepper, drive, first_crossing};
#[cfg(doc)]
use super::method::Method;
use super::options::IntegrateOptions;
use super::solution::{EnergyTracker, Solution, SolveStats, StatePoint};
use crate::error::{Error, FailureReason, Result, check_dim, check_finite, evaluation_error};
use crate::mechanics::{FrictionFlow, LossGraphParticle, SecondOrderSystem};
use crate::objective::{GradientContext, dot};

/// Newton iterations allowed for the multiplier λ before the step is rejected.
const NEWTON_MAX: usize = 6;
/// Newton stops when |φ| ≤ NEWTON_TOL (1 + |L|).
const NEWTON_TOL: f64 = 1e-13;
/// ε_E = rtol · ENERGY_TOL_PER_RTOL.
const ENERGY_TOL_PER_RTOL: f64 = 1e-2;
/// The Newton step that ends a solve without another evaluation (see the module docs)
/// is taken only when it is at most this fraction of the step before it, so that the
/// iteration is deep in its quadratic phase,
const SECANT_MAX_RATIO: f64 = 1e-2;
/// and when the gradient correction it needs is at most this fraction of |∇L|.
const SECANT_GRAD_TOL: f64 = 1e-5;
/// The largest first step.
const FIRST_STEP: f64 = 1e-5;

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

/// Integrates the particle `particle` on the graph of its loss from (x0, v0) at
/// `opts.t0` to `opts.t1` (or the stop event) by RATTLE with exact friction half-steps;
/// `opts.method` is not consulted.
///
/// This is the compile-time-checked entry point: only a [`LossGraphParticle`] can be
/// passed, obtained from DiMS or RLA mechanics with
/// [`Mechanics::particle`](crate::Mechanics::particle). It validates its input as
/// [`integrate`](crate::integrate()) does: the dimensions of `x0` and `v0`, their
/// finiteness and the options (tolerances, times, outputs). `integrate` with
/// [`Method::LossGraphRattle`] gives the same [`Solution`] for the mechanics the particle
/// came from.
///
/// ```
/// use geodyn_core::integrate::loss_graph_rattle::integrate_particle;
/// use geodyn_core::{IntegrateOptions, LossGraph, Mechanics, Objective, Result};
/// /// L(x) = ½|x|².
/// struct Bowl;
/// impl Objective for Bowl {
///     fn dim(&self) -> usize { 2 }
///     fn value(&self, x: &[f64]) -> Result<f64> { Ok(0.5 * (x[0] * x[0] + x[1] * x[1])) }
///     fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
///         g.copy_from_slice(x);
///         self.value(x)
///     }
///     fn hvp(&self, _x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
///         hv.copy_from_slice(v);
///         Ok(())
///     }
/// }
/// // an RLA geodesic on the graph of L: the exponential map at the minimum
/// let rla = Mechanics::geodesic(LossGraph::new(Bowl));
/// let opts = IntegrateOptions::new(1.0);
/// let sol = integrate_particle(&rla.particle().unwrap(), &[0.0, 0.0], &[1.0, 0.5], &opts).unwrap();
/// assert_eq!(sol.t, 1.0);
/// ```
pub fn integrate_particle(
    particle: &LossGraphParticle<'_>,
    x0: &[f64],
    v0: &[f64],
    opts: &IntegrateOptions,
) -> Result<Solution> {
    let n = particle.dim();
    check_dim("x0", n, x0.len())?;
    check_dim("v0", n, v0.len())?;
    check_finite("x0", x0)?;
    check_finite("v0", v0)?;
    opts.validate()?;
    run(particle, x0, v0, opts)
}

/// The RATTLE integrator behind [`integrate`](crate::integrate()) with
/// [`Method::LossGraphRattle`]; `opts` is validated and (x0, v0) checked by the caller.
/// Systems without a [`SecondOrderSystem::as_loss_graph_particle`] get
/// [`Error::Unsupported`].
pub(crate) fn solve<Sy: SecondOrderSystem + ?Sized>(
    system: &Sy,
    x0: &[f64],
    v0: &[f64],
    opts: &IntegrateOptions,
) -> Result<Solution> {
    let particle = system.as_loss_graph_particle().ok_or(Error::Unsupported {
        method: "LossGraphRattle",
        reason: "it needs mechanics on a loss-graph metric with no potential or the intrinsic one, and a \
                 friction law with an exact flow (Frictionless, Constant, SpeedDependent)",
    })?;
    check_dim("loss dimension", system.dim(), particle.dim())?;
    run(&particle, x0, v0, opts)
}

/// The position step's buffers for [`newton`]: the state (θ_n, v_n) with g_n = ∇L(θ_n),
/// and the iterate θ_{n+1} with its gradient and the previous iterate's.
struct NewtonBuffers<'a> {
    th: &'a [f64],
    v: &'a [f64],
    gn: &'a [f64],
    thn: &'a mut [f64],
    g: &'a mut Vec<f64>,
    gp: &'a mut Vec<f64>,
}

/// Newton's method on φ(λ) = y_n + h(w − (h/2)(κ + λ)) − L(θ_n + h(s₁v + (h/2)λ g_n)) from
/// the warm start `lam`, with the secant finish (see the module docs). Returns whether it
/// converged, the multiplier and L(θ_{n+1}); leaves θ_{n+1} in `thn` and its gradient in
/// `g`. A non-finite loss evaluation is kept in `failure` (the step is then rejected);
/// other evaluation errors end the run.
#[allow(clippy::too_many_arguments)]
fn newton(
    loss: &mut dyn GradientContext,
    NewtonBuffers { th, v, gn, thn, g, gp }: NewtonBuffers<'_>,
    (h, s1, kappa): (f64, f64, f64),
    (y, w_half): (f64, f64),
    lam: f64,
    grads: &mut usize,
    t: f64,
    failure: &mut Option<Error>,
) -> Result<(bool, f64, f64)> {
    let n = th.len();
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
        *grads += 1;
        match loss.gradient(thn, g.as_mut_slice()) {
            Ok(l) => l_new = l,
            Err(e @ Error::NonFinite { .. }) => {
                *failure = Some(evaluation_error(t, e));
                break;
            }
            Err(e) => return Err(evaluation_error(t, e)),
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
        let g_gn = dot(g.as_slice(), gn);
        let dl = phi / (0.5 * h * h * (1.0 + g_gn));
        if it >= 1 {
            // The last Newton step without an evaluation, where it is safe (see the
            // module docs): ∇L and L at λ + dl from the two iterates on the line.
            let r = dl / (lam_try - lam_last);
            if r.abs() <= SECANT_MAX_RATIO
                && (r * phi).abs() <= tol
                && r.abs() * dist2(g, gp).sqrt() <= SECANT_GRAD_TOL * dot(g.as_slice(), g).sqrt()
            {
                l_new = secant_finish(g, gp, gn, r, 0.5 * h * h * dl, l_new, g_gn);
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
        // Swap the buffers themselves, so that the caller's `g` holds the last gradient.
        std::mem::swap(g, gp);
        lam_try += dl;
    }
    Ok((converged, lam_try, l_new))
}

/// The integrator proper; (x0, v0) have the particle's dimension and `opts` is valid.
fn run(particle: &LossGraphParticle<'_>, x0: &[f64], v0: &[f64], opts: &IntegrateOptions) -> Result<Solution> {
    let mut st = Rattle::start(particle, x0, v0, opts)?;
    let tracker = EnergyTracker::new(st.energy_n, 2.0 * st.friction.coefficient(st.kin) * st.kin);
    let records = Records::start(opts, &StatePoint { t: opts.t0, x: x0.to_vec(), v: v0.to_vec() });
    let finished = match opts.stop_below_kinetic {
        Some(eps) if st.kin < eps => Finished::at_start(opts.t0, x0, v0, records, Some(tracker)),
        _ => drive(&mut st, opts, records, Some(tracker))?,
    };
    let stats = SolveStats {
        rhs_evaluations: st.grads,
        accepted_steps: st.accepted,
        rejected_steps: st.rejected,
        energy_evaluations: st.energy_calls,
    };
    Ok(finished.into_solution(stats, opts))
}

/// RATTLE on the loss graph as a [`Stepper`]: the accepted state (θ, v) with g = ∇L(θ),
/// y = L(θ), w = g·v, T and the booked energy H_n, the state before the last step (for
/// dense output), the warm start of the multiplier and the step-size control.
struct Rattle<'a> {
    /// The run's gradient evaluations (all of them, so that reuse stays within the run).
    loss: Box<dyn GradientContext + 'a>,
    kappa: f64,
    l_star: f64,
    friction: FrictionFlow,
    etol: f64,
    t: f64,
    th: Vec<f64>,
    v: Vec<f64>,
    gn: Vec<f64>,
    y: f64,
    w: f64,
    kin: f64,
    energy_n: f64,
    /// The step's buffers: the iterate θ_{n+1} with its velocity and gradient, and the
    /// previous iterate's gradient.
    thn: Vec<f64>,
    vn: Vec<f64>,
    g: Vec<f64>,
    gp: Vec<f64>,
    /// The state at the start of the last accepted step: t, θ, v, T, w and H there.
    prev: (f64, Vec<f64>, Vec<f64>),
    prev_kin: f64,
    prev_w: f64,
    prev_energy: f64,
    /// The last accepted step's size and the next attempt's.
    h_prev: f64,
    h: f64,
    lam: f64,
    control: EnergyErrorController,
    grads: usize,
    energy_calls: usize,
    accepted: usize,
    rejected: usize,
}

impl<'a> Rattle<'a> {
    /// One loss gradient at (t0, x0): the initial g, L, w, T and H.
    fn start(particle: &LossGraphParticle<'a>, x0: &[f64], v0: &[f64], opts: &IntegrateOptions) -> Result<Self> {
        let objective = particle.loss();
        let n = objective.dim();
        let z = || vec![0.0; n];
        let t = opts.t0;
        let mut gn = z();
        let mut loss = objective.gradient_context();
        let y = loss.gradient(x0, &mut gn).map_err(|e| evaluation_error(t, e))?;
        if !(y.is_finite() && gn.iter().all(|z| z.is_finite())) {
            return Err(evaluation_error(t, Error::NonFinite { what: "loss gradient at the initial state" }));
        }
        let w = dot(&gn, v0);
        let kin = 0.5 * (dot(v0, v0) + w * w);
        let mut st = Self {
            loss,
            kappa: particle.kappa(),
            l_star: particle.l_star(),
            friction: particle.friction(),
            etol: opts.rtol * ENERGY_TOL_PER_RTOL,
            t,
            th: x0.to_vec(),
            v: v0.to_vec(),
            gn,
            y,
            w,
            kin,
            energy_n: 0.0,
            thn: z(),
            vn: z(),
            g: z(),
            gp: z(),
            prev: (t, z(), z()),
            prev_kin: kin,
            prev_w: w,
            prev_energy: 0.0,
            h_prev: 0.0,
            h: opts.fixed_step.unwrap_or(FIRST_STEP.min(0.01 * (opts.t1 - opts.t0))),
            lam: 0.0,
            control: EnergyErrorController::new(),
            grads: 1,
            energy_calls: 0,
            accepted: 0,
            rejected: 0,
        };
        st.energy_n = kin + st.pot(y);
        st.prev_energy = st.energy_n;
        Ok(st)
    }

    /// V = κ(L − L*) (0 without gravity).
    fn pot(&self, l: f64) -> f64 {
        if self.kappa == 0.0 { 0.0 } else { self.kappa * (l - self.l_star) }
    }

    /// The cubic Hermite interpolant of (θ, v) over the last accepted step at θ ∈ [0, 1].
    fn hermite_at(&self, theta: f64) -> (Vec<f64>, Vec<f64>) {
        let n = self.th.len();
        let (mut xo, mut vo) = (vec![0.0; n], vec![0.0; n]);
        hermite((&self.prev.1, &self.prev.2), (&self.th, &self.v), self.h_prev, theta, &mut xo, &mut vo);
        (xo, vo)
    }

    /// One attempt of size `h` from the accepted state: friction for h/2, RATTLE (Newton
    /// on φ(λ) and the tangency multiplier μ), friction for h/2 and the energy target;
    /// with `fixed` steps the energy error is not tested. Returns the scaled energy error and, when the step is acceptable, the multiplier,
    /// L(θ_{n+1}), w_{n+1} before the final scaling, the scaling α and the energy removed;
    /// leaves θ_{n+1}, its gradient and the unscaled velocity in `thn`, `g`, `vn`.
    fn attempt(&mut self, h: f64, fixed: bool, failure: &mut Option<Error>) -> Result<(f64, Option<AttemptEnd>)> {
        let kappa = self.kappa;
        // 1. Friction for h/2 (applied to v on the fly below).
        let s1 = self.friction.scale(self.kin, 0.5 * h);
        let removed1 = self.kin * (1.0 - s1 * s1);
        let h_mid = self.energy_n - removed1;
        let w_half = s1 * self.w;

        // 2. RATTLE: Newton on φ(λ) for the position step.
        let bufs = NewtonBuffers {
            th: &self.th,
            v: &self.v,
            gn: &self.gn,
            thn: &mut self.thn,
            g: &mut self.g,
            gp: &mut self.gp,
        };
        let (converged, lam_try, l_new) = newton(
            &mut *self.loss,
            bufs,
            (h, s1, kappa),
            (self.y, w_half),
            self.lam,
            &mut self.grads,
            self.t,
            failure,
        )?;
        // Velocity update with the tangency multiplier μ, and the energy error.
        if !converged {
            return Ok((f64::INFINITY, None));
        }
        let (g, vn) = (&self.g, &mut self.vn);
        let c = 0.5 * h * lam_try;
        for ((vn, &v), &gn) in vn.iter_mut().zip(&self.v).zip(&self.gn) {
            *vn = s1 * v + c * gn;
        }
        let mut w_new = w_half - 0.5 * h * (kappa + lam_try);
        let mu = (w_new - 0.5 * h * kappa - dot(g, vn)) / (0.5 * h * (1.0 + dot(g, g)));
        let c = 0.5 * h * mu;
        for (vn, &g) in vn.iter_mut().zip(g) {
            *vn += c * g;
        }
        w_new -= 0.5 * h * (kappa + mu);
        let kin_after = 0.5 * (dot(vn, vn) + w_new * w_new);
        let h_after = kin_after + self.pot(l_new);
        let err = (h_after - h_mid).abs() / (self.etol * (1.0 + h_mid.abs()));
        if !(err <= 1.0 || fixed && err.is_finite()) {
            return Ok((err, None));
        }

        // 3. Friction for h/2, and 4. the energy target.
        let s2 = self.friction.scale(kin_after, 0.5 * h);
        let removed = removed1 + kin_after * (1.0 - s2 * s2);
        let kin2 = s2 * s2 * kin_after;
        let mut target = self.energy_n - removed - self.pot(l_new);
        // Rounding at rest: a target a few ulp below zero is zero.
        if target < 0.0 && target >= -8.0 * f64::EPSILON * (self.energy_n.abs() + self.pot(l_new).abs()) {
            target = 0.0;
        }
        if target < 0.0 {
            return Ok((err, None));
        }
        let alpha = if kin2 > 0.0 { s2 * (target / kin2).sqrt() } else { s2 };
        Ok((err, alpha.is_finite().then_some(AttemptEnd { lam: lam_try, l_new, w_new, alpha, removed })))
    }
}

/// An acceptable attempt's results (see [`Rattle::attempt`]).
struct AttemptEnd {
    lam: f64,
    l_new: f64,
    w_new: f64,
    alpha: f64,
    removed: f64,
}

impl Stepper for Rattle<'_> {
    type Point = StatePoint;

    fn t(&self) -> f64 {
        self.t
    }

    fn point(&self) -> StatePoint {
        StatePoint { t: self.t, x: self.th.clone(), v: self.v.clone() }
    }

    fn advance(&mut self, opts: &IntegrateOptions) -> Result<Advance> {
        let mut failure: Option<Error> = None;
        let mut consecutive = 0usize;
        let mut h = self.h;
        let (last, err, end) = loop {
            let last = begin_step(self.t, &mut h, self.accepted, opts, &mut failure)?;
            let fixed = opts.fixed_step.is_some();
            match self.attempt(h, fixed, &mut failure)? {
                (err, Some(end)) => break (last, err, end),
                (_, None) if fixed => {
                    return Err(
                        failure.unwrap_or(Error::Integration { t: self.t, reason: FailureReason::TooManyRejections })
                    );
                }
                (err, None) => {
                    self.rejected += 1;
                    consecutive += 1;
                    if consecutive > MAX_REJECTIONS {
                        return Err(failure
                            .unwrap_or(Error::Integration { t: self.t, reason: FailureReason::TooManyRejections }));
                    }
                    h = self.control.rejected(h, err);
                }
            }
        };

        // Accepted: v_{n+1} = α v_after (friction and projection in one scaling).
        self.accepted += 1;
        let AttemptEnd { lam, l_new, w_new, alpha, removed } = end;
        self.vn.iter_mut().for_each(|z| *z *= alpha);
        self.prev.0 = self.t;
        self.prev_kin = self.kin;
        self.prev_w = self.w;
        self.prev_energy = self.energy_n;
        std::mem::swap(&mut self.prev.1, &mut self.th);
        std::mem::swap(&mut self.prev.2, &mut self.v);
        std::mem::swap(&mut self.th, &mut self.thn);
        std::mem::swap(&mut self.v, &mut self.vn);
        std::mem::swap(&mut self.gn, &mut self.g);
        self.y = l_new;
        self.w = w_new * alpha;
        self.kin = 0.5 * (dot(&self.v, &self.v) + self.w * self.w);
        // The energy target is booked (H_n minus what friction removed), not recomputed
        // from the scaled state: rounding in the scaling then does not accumulate.
        self.energy_n -= removed;
        let h_state = self.kin + self.pot(self.y);
        self.lam = lam;
        self.t = if last { opts.t1 } else { self.t + h };
        self.h_prev = h;
        self.h = match opts.fixed_step {
            Some(fixed) => fixed,
            None if last => h,
            None => self.control.accepted(h, err),
        };
        Ok(Advance {
            last,
            stop_value: opts.stop_below_kinetic.map(|eps| self.kin - eps),
            energy: Some((h_state, removed > 0.0)),
        })
    }

    fn dense(&mut self, t: f64) -> Result<StatePoint> {
        let (x, v) = self.hermite_at(((t - self.prev.0) / self.h_prev).clamp(0.0, 1.0));
        Ok(StatePoint { t, x, v })
    }

    /// The first crossing of T = ε on the cubic Hermite interpolant of T (end slopes
    /// dT/dt = −κw − 2ηT, no evaluations), the state there from the Hermite interpolant of
    /// (θ, v), and one loss gradient for its true T and V; the velocity is scaled down so
    /// that T < ε and H ≤ H_n hold, or, where no scaling can, the step's end is returned.
    fn locate_stop(&mut self, opts: &IntegrateOptions) -> Result<Located<StatePoint>> {
        let eps = opts.stop_below_kinetic.unwrap_or(0.0);
        let (h, kappa) = (self.h_prev, self.kappa);
        let (k0, k1) = (self.prev_kin, self.kin);
        let (d0, d1) = (
            h * (-kappa * self.prev_w - 2.0 * self.friction.coefficient(k0) * k0),
            h * (-kappa * self.w - 2.0 * self.friction.coefficient(k1) * k1),
        );
        let mut cubic = |s: f64| -> Result<f64> {
            let (s2, s3) = (s * s, s * s * s);
            Ok((2.0 * s3 - 3.0 * s2 + 1.0) * k0
                + (s3 - 2.0 * s2 + s) * d0
                + (-2.0 * s3 + 3.0 * s2) * k1
                + (s3 - s2) * d1
                - eps)
        };
        let theta = first_crossing(&mut cubic, (0.0, k0 - eps), (1.0, k1 - eps), (4.0 * f64::EPSILON, 0.0), 16)?;
        let (xe, mut ve) = self.hermite_at(theta);
        self.energy_calls += 1;
        let at_end = |st: &Self| Located { t: st.t, point: st.point(), energy: Some(st.kin + st.pot(st.y)) };
        self.loss.restart();
        Ok(match self.loss.gradient(&xe, &mut self.thn) {
            Ok(l) if l.is_finite() => {
                let gv = dot(&self.thn, &ve);
                let ke = 0.5 * (dot(&ve, &ve) + gv * gv);
                let cap = eps.min(self.prev_energy - self.pot(l));
                let s = if ke < cap { 1.0 } else { (cap / ke).sqrt() * (1.0 - 1e-12) };
                let (ke, he) = (s * s * ke, s * s * ke + self.pot(l));
                if cap > 0.0 && s.is_finite() && ke < eps && he <= self.prev_energy {
                    ve.iter_mut().for_each(|z| *z *= s);
                    let te = self.prev.0 + theta * h;
                    Located { t: te, point: StatePoint { t: te, x: xe, v: ve }, energy: Some(he) }
                } else {
                    at_end(self)
                }
            }
            Ok(_) | Err(Error::NonFinite { .. }) => at_end(self),
            Err(e) => return Err(evaluation_error(self.t, e)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanics::FrictionFlow;

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
}
