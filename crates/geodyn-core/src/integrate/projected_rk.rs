//! Energy-projected Runge–Kutta integration for dissipative mechanics
//! ([`Method::ProjectedTsit5`] and [`Method::ProjectedDopri5`]).
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
//! Each step is one step of Tsitouras' 5(4) pair (the tableau of diffsol's Tsit45,
//! module `integrate::tableau`;
//! 7 stages, first-same-as-last, 6 right-hand sides per step) from (x_n, v_n) to
//! (x̃, ṽ) — or of Dormand and Prince's 5(4) pair with
//! [`Method::ProjectedDopri5`], same shape, see [below](#the-pair) —
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
//! 4. **Step size.** Hairer's initial step (one extra right-hand side, as diffsol) and
//!    Hairer's DOPRI5 PI controller h ← h·s·err_n^{−0.14}·err_{n−1}^{0.08} (β = 0.08;
//!    Gustafsson's k_I = 0.3/k, k_P = 0.4/k for k = 5), with the safety factor s chosen
//!    to aim at the same error level as diffsol's P controller. The err_{n−1} term damps
//!    the step-size oscillation at the stability boundary, where the DiMS and RLA
//!    trajectories of neural networks spend most of their steps. No growth right after
//!    a rejection (as DOPRI5), and growth of at most 1.2× per step over the next 10
//!    accepted steps: near that boundary the error estimate is far from the h⁵ law, so
//!    the usual growth of up to 5× lands beyond it and wastes six right-hand sides.
//!
//! The next step's first stage reuses the FSAL acceleration a(x̃, ṽ) although the state
//! is (x̃, αṽ). The mismatch (α − 1)∂a/∂v·ṽ is of the size of the local error and enters
//! the next step multiplied by h, so the order is kept.
//!
//! Dense output (for output times and the stop event) is Tsit5's free 4th-order
//! interpolant with the velocity correction blended in linearly in θ, so it is
//! continuous and ends at the projected state. The stop event T < ε is located on it
//! by Illinois regula falsi (5–10 kinetic-energy evaluations).
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
//!   to [`Method::Tsit5`]'s at equal tolerance.
//! - Not guaranteed: states at requested output times are interpolated, not projected,
//!   so H there can exceed H at the preceding step by the interpolation error. If a
//!   velocity scaling cannot reach the target even after step reductions, the run fails
//!   with [`FailureReason::TooManyRejections`] or [`FailureReason::StepSizeUnderflow`].
//!
//! # Cost
//!
//! Right-hand sides: 6 per attempted step + 2 (the initial evaluation and the initial
//! step-size guess), exactly like [`Method::Tsit5`]. For [`Mechanics`](crate::Mechanics) that is
//! all ([`SolveStats::energy_evaluations`] = 0 without a stop event). Systems whose
//! [`SecondOrderSystem::evaluate`] does not report V or P pay one
//! [`energy`](SecondOrderSystem::energy) call per attempted step, one
//! [`dissipated_power`](SecondOrderSystem::dissipated_power) call per stage, and up to 8
//! secant `energy` calls per step unless they declare
//! [`quadratic_kinetic`](SecondOrderSystem::quadratic_kinetic).
//!
//!
//!
//! # The pair
//!
//! Near rest a DiMS particle still oscillates in the stiff directions of the loss, and
//! the steps are limited by how fast those modes grow under the method's stability
//! function R on the imaginary axis. Tsit5's |R(iy)| exceeds 1 for every y > 0
//! (1 + 1.3e-4 at y = 1); Dormand–Prince's stays within 1.4e-6 of 1 up to y = 1 (both
//! computed from the tableaus). The projection keeps H from rising but cannot stop a
//! mode from growing at the expense of the others, so [`Method::ProjectedDopri5`] is the
//! pair for long runs (t1 ≫ 50) and [`Method::ProjectedTsit5`] for short ones. With the
//! projection the tolerance no longer has to hold the energy down, only the trajectory,
//! so long runs can loosen it (BENCHMARKS.md, "Long runs").
//!
//! # When not to use it
//!
//! - Particles on a loss graph (DiMS, RLA) from a mode with Laplace-posterior velocities:
//!   [`Method::LossGraphRattle`] needs far fewer evaluations there, because the stiff
//!   directions carry little energy.
//! - Non-dissipative problems where the energy is not an invariant you need: plain
//!   [`Method::Tsit5`] costs the same and skips the projection's bookkeeping.
//! - Splitting, discrete-gradient (AVF) and relaxation Runge–Kutta alternatives were
//!   weighed: splitting needs a closed-form friction flow and its steps are not
//!   controlled by the splitting error; discrete gradients need third derivatives of the
//!   loss through the Christoffel term; relaxation needs several energy evaluations per
//!   step (each a loss gradient on the loss graph), against none here.

// The stage loops index several arrays of the tableau and the state at once.
#![allow(clippy::needless_range_loop)]

use super::controller::{MAX_REJECTIONS, RkPiController, StepController, begin_step};
use super::counted::{Counted, stage_result};
use super::driver::{Advance, Finished, Located, Records, Stepper, drive, first_crossing};
use super::method::Method;
use super::options::IntegrateOptions;
use super::solution::{EnergyTracker, Solution, SolveStats, StatePoint};
use super::tableau::{STAGES, Tableau};
use crate::error::{Error, FailureReason, Result, evaluation_error};
use crate::mechanics::SecondOrderSystem;

/// The velocity correction of the projection may be up to 1/PROJECTION_WEIGHT times the
/// tolerance before a step is rejected.
const PROJECTION_WEIGHT: f64 = 0.1;

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
        Self {
            n,
            kx: vec![z(); STAGES],
            kv: vec![z(); STAGES],
            xs: z(),
            vs: z(),
            xt: z(),
            vt: z(),
            ex: z(),
            dv: z(),
            tab,
        }
    }
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
/// [`Method::ProjectedTsit5`] or [`Method::ProjectedDopri5`]; `opts` is validated and
/// (x0, v0) checked by the caller.
pub(crate) fn solve<Sy: SecondOrderSystem + ?Sized>(
    system: &Sy,
    x0: &[f64],
    v0: &[f64],
    opts: &IntegrateOptions,
) -> Result<Solution> {
    let tab = match opts.method {
        Method::ProjectedDopri5 => Tableau::dopri5(),
        _ => Tableau::tsit5(),
    };
    let mut st = Projected::start(system, x0, v0, opts.t0, tab)?;
    let tracker = EnergyTracker::new(st.start.energy, st.start.power);
    let records = Records::start(opts, &StatePoint { t: opts.t0, x: x0.to_vec(), v: v0.to_vec() });
    let finished = match opts.stop_below_kinetic {
        Some(eps) if st.start.kinetic < eps => Finished::at_start(opts.t0, x0, v0, records, Some(tracker)),
        _ => {
            st.h = match opts.fixed_step {
                Some(h) => h,
                None => initial_step(&mut st.ev, &mut st.w, x0, v0, opts.t0, opts)?,
            };
            drive(&mut st, opts, records, Some(tracker))?
        }
    };
    let stats = SolveStats {
        rhs_evaluations: st.ev.rhs,
        accepted_steps: st.accepted,
        rejected_steps: st.rejected,
        energy_evaluations: st.ev.energy_calls,
    };
    Ok(finished.into_solution(stats, opts))
}

/// What a step starts from besides the state: the dissipated power at its first stage,
/// T and H at (x_n, v_n).
struct StepStart {
    power: f64,
    kinetic: f64,
    energy: f64,
}

/// The energy-projected Runge–Kutta method as a [`Stepper`]: the accepted state
/// (t, x, v), the step before it (for dense output and the stop event) and the
/// step-size control.
struct Projected<'a, Sy: SecondOrderSystem + ?Sized> {
    ev: Counted<'a, Sy>,
    w: Work,
    t: f64,
    x: Vec<f64>,
    v: Vec<f64>,
    /// The state at the start of the last accepted step, its time and size, and T and H
    /// there.
    prev: (f64, Vec<f64>, Vec<f64>),
    h_prev: f64,
    prev_start: StepStart,
    /// H and T at (x, v), the dissipated power at its (FSAL) stage.
    start: StepStart,
    /// The next attempt's step size.
    h: f64,
    control: RkPiController,
    /// The FSAL stage of the last accepted step is still in the last stage's slot (it
    /// moves to the first before the next attempt; dense output needs it in place).
    fsal_pending: bool,
    accepted: usize,
    rejected: usize,
}

impl<'a, Sy: SecondOrderSystem + ?Sized> Projected<'a, Sy> {
    /// Evaluates the first stage at (t0, x0, v0); its acceleration must be finite.
    fn start(system: &'a Sy, x0: &[f64], v0: &[f64], t0: f64, tab: Tableau) -> Result<Self> {
        let n = system.dim();
        let mut ev = Counted { system, rhs: 0, energy_calls: 0 };
        let mut w = Work::new(n, tab);
        let e0 = ev.eval(t0, x0, v0, &mut w.kv[0], t0)?;
        if !(w.kv[0].iter().all(|z| z.is_finite()) && e0.kinetic.is_finite()) {
            return Err(evaluation_error(t0, Error::NonFinite { what: "initial acceleration" }));
        }
        let start = StepStart {
            power: ev.power(&e0, t0, x0, v0, t0)?,
            kinetic: e0.kinetic,
            energy: e0.kinetic + ev.potential(&e0, x0, v0, t0)?,
        };
        Ok(Self {
            ev,
            w,
            t: t0,
            x: x0.to_vec(),
            v: v0.to_vec(),
            prev: (t0, x0.to_vec(), v0.to_vec()),
            h_prev: 0.0,
            prev_start: StepStart { power: start.power, kinetic: start.kinetic, energy: start.energy },
            start,
            h: f64::NAN,
            control: RkPiController::new(),
            fsal_pending: false,
            accepted: 0,
            rejected: 0,
        })
    }

    /// The dense output of the last accepted step at θ ∈ [0, 1].
    fn dense_at(&self, theta: f64) -> (Vec<f64>, Vec<f64>) {
        let (_, x, v) = &self.prev;
        dense(&self.w, x, v, self.h_prev, theta)
    }
}

impl<Sy: SecondOrderSystem + ?Sized> Stepper for Projected<'_, Sy> {
    type Point = StatePoint;

    fn t(&self) -> f64 {
        self.t
    }

    fn point(&self) -> StatePoint {
        StatePoint { t: self.t, x: self.x.clone(), v: self.v.clone() }
    }

    fn advance(&mut self, opts: &IntegrateOptions) -> Result<Advance> {
        if std::mem::take(&mut self.fsal_pending) {
            // The FSAL stage a(x̃, ṽ) becomes the first stage (see the module docs for
            // why the unscaled velocity is harmless there).
            self.w.kv.swap(0, STAGES - 1);
        }
        let mut consecutive_rejections = 0usize;
        // The last stage evaluation that failed with a non-finite value since the last
        // accepted step: reported if the step size cannot recover.
        let mut stage_failure: Option<Error> = None;
        let (t, h) = (self.t, &mut self.h);
        let (last, err, alpha, kin7, pot, p7, power_seen) = loop {
            let last = begin_step(t, h, self.accepted, opts, &mut stage_failure)?;
            let x = (self.x.as_slice(), self.v.as_slice());
            match attempt(&mut self.ev, &mut self.w, x, t, *h, &self.start, opts, &mut stage_failure)? {
                Attempt::Accepted { err, alpha, kin7, pot, p7, power_seen } => {
                    break (last, err, alpha, kin7, pot, p7, power_seen);
                }
                Attempt::Rejected { .. } if opts.fixed_step.is_some() => {
                    return Err(
                        stage_failure.unwrap_or(Error::Integration { t, reason: FailureReason::TooManyRejections })
                    );
                }
                Attempt::Rejected { err } => {
                    *h = self.control.rejected(*h, err);
                    self.rejected += 1;
                    consecutive_rejections += 1;
                    if consecutive_rejections > MAX_REJECTIONS {
                        return Err(
                            stage_failure.unwrap_or(Error::Integration { t, reason: FailureReason::TooManyRejections })
                        );
                    }
                }
            }
        };

        // Accepted: x_{n+1} = x̃, v_{n+1} = αṽ (w.dv holds v_{n+1} − ṽ).
        self.accepted += 1;
        let kin_new = alpha * alpha * kin7;
        let energy_new = kin_new + pot;
        std::mem::swap(&mut self.prev.1, &mut self.x);
        std::mem::swap(&mut self.prev.2, &mut self.v);
        self.prev.0 = t;
        self.h_prev = *h;
        self.x.copy_from_slice(&self.w.xt);
        for (vj, &vt) in self.v.iter_mut().zip(&self.w.vt) {
            *vj = alpha * vt;
        }
        self.t = if last { opts.t1 } else { t + *h };
        let start = StepStart { power: p7, kinetic: kin_new, energy: energy_new };
        self.prev_start = std::mem::replace(&mut self.start, start);
        self.fsal_pending = true;
        if let Some(fixed) = opts.fixed_step {
            *h = fixed;
        } else if !last {
            *h = self.control.accepted(*h, err);
        }
        Ok(Advance {
            last,
            stop_value: opts.stop_below_kinetic.map(|eps| kin_new - eps),
            energy: Some((energy_new, power_seen)),
        })
    }

    fn dense(&mut self, t: f64) -> Result<StatePoint> {
        let (xo, vo) = self.dense_at(((t - self.prev.0) / self.h_prev).clamp(0.0, 1.0));
        Ok(StatePoint { t, x: xo, v: vo })
    }

    /// By Illinois regula falsi on T along the dense output (5–10 kinetic-energy
    /// evaluations); the velocity there is scaled down if needed so that H ≤ H_n (which
    /// keeps T < ε).
    fn locate_stop(&mut self, opts: &IntegrateOptions) -> Result<Located<StatePoint>> {
        let (t0, h) = (self.prev.0, self.h_prev);
        let eps = opts.stop_below_kinetic.unwrap_or(0.0);
        let tol = 4.0 * f64::EPSILON * self.t.abs().max(1.0) / h;
        let (f0, f1) = (self.prev_start.kinetic - eps, self.start.kinetic - eps);
        let theta = {
            let mut f = |theta: f64| -> Result<f64> {
                let (xm, vm) = self.dense_at(theta);
                Ok(self.ev.kinetic(&xm, &vm, t0)? - eps)
            };
            first_crossing(&mut f, (0.0, f0), (1.0, f1), (tol, 1e-12 * eps), 0)?
        };
        let (te, xe, ve) = if theta >= 1.0 {
            let mut v1 = self.w.vt.clone();
            v1.iter_mut().zip(&self.w.dv).for_each(|(v, dv)| *v += dv);
            (self.t, self.w.xt.clone(), v1)
        } else {
            let (xe, ve) = self.dense_at(theta);
            (t0 + theta * h, xe, ve)
        };
        let (ve, h_event) = cap_event_energy(&mut self.ev, &xe, ve, self.prev_start.energy, t0)?;
        Ok(Located { t: te, point: StatePoint { t: te, x: xe, v: ve }, energy: Some(h_event) })
    }
}

/// The initial step size: Hairer, Nørsett & Wanner, Solving ODEs I, §II.4 (as diffsol);
/// one extra right-hand side (into `w.kv[1]`).
fn initial_step<Sy: SecondOrderSystem + ?Sized>(
    ev: &mut Counted<'_, Sy>,
    w: &mut Work,
    x: &[f64],
    v: &[f64],
    t: f64,
    opts: &IntegrateOptions,
) -> Result<f64> {
    let (atol, rtol, n) = (opts.atol, opts.rtol, w.n);
    let d0 = rms_norm((x, v), (x, v), (x, v), atol, rtol);
    let d1 = rms_norm((v, &w.kv[0]), (x, v), (x, v), atol, rtol);
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
    let d2 = rms_norm((&w.ex, &w.dv), (x, v), (x, v), atol, rtol) / h0;
    let dm = d1.max(d2);
    let h1 = if dm <= 1e-15 { (h0 * 1e-3).max(1e-6) } else { (0.01 / dm).powf(0.2) };
    let h = (100.0 * h0).min(h1).min(opts.t1 - t);
    Ok(if h.is_finite() && h > 0.0 { h } else { h0 })
}

/// The outcome of one attempted step.
enum Attempt {
    /// Accepted with error norm `err`, velocity scaling `alpha`, T, V and the dissipated
    /// power at (x̃, ṽ), and whether any stage dissipated.
    Accepted { err: f64, alpha: f64, kin7: f64, pot: f64, p7: f64, power_seen: bool },
    /// Rejected with error norm `err` (NaN when the rejection had another cause: a
    /// non-finite stage, or no velocity reaching the energy target; then h halves).
    Rejected { err: f64 },
}

/// One attempted step of size `h` from (x, v) at `t`: stages 2..7 (the 7th at
/// (t + h, x̃, ṽ), FSAL), the error estimate, the energy target and the velocity scaling.
/// On acceptance `w.xt`, `w.vt` hold (x̃, ṽ) and `w.dv` holds v_{n+1} − ṽ.
#[allow(clippy::too_many_arguments)]
fn attempt<Sy: SecondOrderSystem + ?Sized>(
    ev: &mut Counted<'_, Sy>,
    w: &mut Work,
    (x, v): (&[f64], &[f64]),
    t: f64,
    h: f64,
    start: &StepStart,
    opts: &IntegrateOptions,
    stage_failure: &mut Option<Error>,
) -> Result<Attempt> {
    let (atol, rtol, n) = (opts.atol, opts.rtol, w.n);
    let mut power = [0.0f64; STAGES]; // dissipated power at the stages
    w.kx[0].copy_from_slice(v);
    power[0] = start.power;
    let mut e7 = None;
    for i in 1..STAGES {
        combine(&mut w.xs, x, h, &w.tab.a[i][..i], &w.kx);
        combine(&mut w.vs, v, h, &w.tab.a[i][..i], &w.kv);
        let ti = t + w.tab.c[i] * h;
        // A stage state that overflows (NaN or infinite values: a step far too large)
        // rejects the step like a non-finite stage below; other errors end the run.
        let Some(ei) = stage_result(ev.eval(ti, &w.xs, &w.vs, &mut w.kv[i], t), stage_failure)? else {
            break;
        };
        w.kx[i].copy_from_slice(&w.vs);
        let finite =
            w.kv[i].iter().chain(&w.vs).chain(&w.xs).fold(true, |ok, z| ok & z.is_finite()) && ei.kinetic.is_finite();
        if !finite {
            break;
        }
        if i < STAGES - 1 {
            let Some(p) = stage_result(ev.power(&ei, ti, &w.xs, &w.vs, t), stage_failure)? else {
                break;
            };
            power[i] = p;
        } else {
            w.xt.copy_from_slice(&w.xs);
            w.vt.copy_from_slice(&w.vs);
            e7 = Some(ei);
        }
    }
    // Else a non-finite stage: the step was too large; halve.
    let Some(e7) = e7 else { return Ok(Attempt::Rejected { err: f64::NAN }) };

    // Error estimate, energy target and velocity scaling.
    weighted_sum(&mut w.ex, &w.tab.d, &w.kx);
    weighted_sum(&mut w.dv, &w.tab.d, &w.kv);
    for (ex, dv) in w.ex.iter_mut().zip(w.dv.iter_mut()) {
        *ex *= h;
        *dv *= h;
    }
    let fixed = opts.fixed_step.is_some();
    let mut err = rms_norm((&w.ex, &w.dv), (x, v), (&w.xt, &w.vt), atol, rtol);
    if err.is_nan() || (err > 1.0 && !fixed) {
        return Ok(Attempt::Rejected { err });
    }
    let pot = ev.potential(&e7, &w.xt, &w.vt, t)?;
    let p7 = ev.power(&e7, t + h, &w.xt, &w.vt, t)?;
    // Dissipated energy over the step by the RK quadrature h Σ b_i P_i; clipped at 0 for
    // dissipative systems (both pairs have a negative weight).
    let mut de: f64 = h * w.tab.b.iter().zip(&power).map(|(b, p)| b * p).sum::<f64>();
    if power[..STAGES - 1].iter().all(|&p| p >= 0.0) {
        de = de.max(0.0);
    }
    let target = start.energy - de;
    // No velocity reaches the energy target (V(x̃) exceeds it): halve.
    let Some(alpha) = solve_alpha(ev, &w.xt, &w.vt, e7.kinetic, pot, target, t)? else {
        return Ok(Attempt::Rejected { err: f64::NAN });
    };
    for j in 0..n {
        w.dv[j] = (alpha - 1.0) * w.vt[j];
    }
    w.ex.fill(0.0);
    let moved = rms_norm((&w.ex, &w.dv), (x, v), (&w.xt, &w.vt), atol, rtol);
    err = err.max(PROJECTION_WEIGHT * moved);
    if err > 1.0 && !fixed {
        return Ok(Attempt::Rejected { err });
    }
    let power_seen = power[..STAGES - 1].iter().any(|&p| p != 0.0) || p7 != 0.0;
    Ok(Attempt::Accepted { err, alpha, kin7: e7.kinetic, pot, p7, power_seen })
}

/// Keeps the guarantee at a stop-event state: H(event) ≤ `h_start` (H at the step's
/// start), by scaling the velocity down, which keeps T < ε. Returns the velocity and H
/// there.
fn cap_event_energy<Sy: SecondOrderSystem + ?Sized>(
    ev: &mut Counted<'_, Sy>,
    xe: &[f64],
    mut ve: Vec<f64>,
    h_start: f64,
    t: f64,
) -> Result<(Vec<f64>, f64)> {
    let mut h_event = ev.total(xe, &ve, t)?;
    if h_event > h_start {
        let kin_e = ev.kinetic(xe, &ve, t)?;
        if let Some(s) = solve_alpha(ev, xe, &ve, kin_e, h_event - kin_e, h_start, t)?
            && s < 1.0
        {
            ve.iter_mut().for_each(|z| *z *= s);
            h_event = ev.total(xe, &ve, t)?;
        }
    }
    Ok((ve, h_event))
}

/// The velocity scaling α with H(x̃, αṽ) = `target`, or `None` if no α ≥ 0 reaches it
/// (the potential alone exceeds the target).
#[allow(clippy::too_many_arguments)]
fn solve_alpha<Sy: SecondOrderSystem + ?Sized>(
    ev: &mut Counted<'_, Sy>,
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
    if ev.system.quadratic_kinetic() {
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
