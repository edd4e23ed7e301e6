//! The work of every integrator, pinned as insta snapshots of `SolveStats` (diffsol
//! style), on problems with closed-form solutions: a change of a method's arithmetic or
//! step-size controller shows up in review as a changed count. Each run is also checked
//! against its closed form, so a snapshot never pins a wrong answer.
//!
//! The options are fixed here, not taken from the defaults: adaptive steps at the DiMS
//! paper's tolerances `atol = 1e-6`, `rtol = 1e-7`, from t0 = 0, no output times, no
//! trajectory, no stop event, energy monitoring `EnergyMonitor::WhenFree`. The problems
//! are smooth and non-chaotic (linear, or a linear oscillator), so the counts are not at
//! the mercy of last-digit differences in the state.
use geodyn_core::integrate::integrate_first_order;
use geodyn_core::{
    Constant, EnergyMonitor, Euclidean, IntegrateOptions, Mechanics, Method, SolveStats, StopReason, integrate,
};
use geodyn_testkit::closed_form::{Decay, PlaneDims, damped_mode};
use geodyn_testkit::numerics::dist;
use geodyn_testkit::objectives::AxisQuadratic;

/// The fixed options of every snapshot: `method` adaptively to `t1` at atol 1e-6,
/// rtol 1e-7, energy monitor `WhenFree`, nothing recorded.
fn options(method: Method, t1: f64) -> IntegrateOptions {
    IntegrateOptions::new(t1).method(method).tolerances(1e-6, 1e-7).energy_monitor(EnergyMonitor::WhenFree)
}

/// The stats with the invariants every method keeps checked first: at least one accepted
/// step and, for the energy-projected pairs (FSAL, 6 right-hand sides per attempt),
/// exactly 6 per attempt plus the start and the step-size guess. (diffsol's Tsit5 makes
/// no such promise; its count is pinned by the snapshot alone.)
fn checked(method: Method, stats: SolveStats) -> SolveStats {
    assert!(stats.accepted_steps > 0, "{method:?}: {stats:?}");
    if matches!(method, Method::ProjectedTsit5 | Method::ProjectedDopri5) {
        let attempts = stats.accepted_steps + stats.rejected_steps;
        assert_eq!(stats.rhs_evaluations, 6 * attempts + 2, "{method:?}: FSAL count {stats:?}");
    }
    stats
}

/// DiMS on the plane L(θ) = aᵀθ, a = (0.3, −0.4), κ = 1, η = 0.5 (the linear system
/// ẍ = c − ηẋ, c = −κa/(1+|a|²), [`PlaneDims::standard`]) from x0 = (0.2, −0.1),
/// v0 = (1, 0.6) to t = 4, with each of the four second-order methods. The 5(4) pairs
/// match the closed-form endpoint (x, v) to 1e-5 (measured 1.5e-7 … 2.4e-7).
/// LossGraphRattle is held only to 0.1 (measured 7.2e-2): its controller bounds the
/// *energy* error per step (rtol/100·(1 + |H|)), and on a flat graph with constant
/// friction the Strang-splitting error of order h² moves the state along the trajectory
/// without changing H much, so the controller takes long steps; its order 2 is checked
/// with fixed steps in `order.rs`. Mechanics reports V and the dissipated power with the
/// acceleration, so no method needs a separate energy call: `energy_evaluations` = 0.
#[test]
fn solve_statistics_of_every_method_on_dims_on_a_plane() {
    let problem = PlaneDims::standard();
    let sys = problem.system();
    let (x0, v0) = ([0.2, -0.1], [1.0, 0.6]);
    let (x1, v1) = problem.exact(&x0, &v0, 4.0);
    for method in [Method::Tsit5, Method::ProjectedTsit5, Method::ProjectedDopri5, Method::LossGraphRattle] {
        let sol = integrate(&sys, &x0, &v0, &options(method, 4.0)).unwrap();
        assert_eq!((sol.t, sol.stop), (4.0, StopReason::FinalTime));
        let err = dist(&sol.x, &x1).hypot(dist(&sol.v, &v1));
        eprintln!("{method:?}: endpoint error {err:e}");
        let bound = if method == Method::LossGraphRattle { 0.1 } else { 1e-5 };
        assert!(err < bound, "{method:?}: endpoint error {err:e}");
        assert_eq!(sol.stats.energy_evaluations, 0, "{method:?}: energies come with the right-hand side");
        insta::assert_debug_snapshot!(format!("dims_on_a_plane_{method}"), checked(method, sol.stats));
    }
}

/// The damped anisotropic oscillator ẍ = −k diag(1, 5.3) x − ηẋ, k = 4, η = 0.1
/// (`Mechanics::new(Euclidean, Constant(η))` with V = k·½(x₁² + 5.3x₂²)), from
/// x0 = (1, 1), v0 = 0 to t = 10 (three periods of the slow mode), with the three
/// Runge–Kutta methods (RATTLE integrates only particles on a loss graph). Each mode
/// is [`damped_mode`]; the endpoint matches it to 1e-4 (measured 1.3e-5, 8.2e-6 and
/// 1.8e-5): the tolerances bound the local error per step (≈ atol = 1e-6 here, where
/// |x| ≤ 1), and the global error over the run's steps accumulates to a few times
/// that, so the bound is 100·atol.
#[test]
fn solve_statistics_of_the_runge_kutta_methods_on_a_damped_oscillator() {
    let (k, eta, stiff) = (4.0, 0.1, [1.0, 5.3]);
    let sys =
        Mechanics::new(Euclidean::new(2), Constant(eta)).with_potential(AxisQuadratic(stiff.to_vec()), k, 0.0).unwrap();
    let modes: Vec<(f64, f64)> = stiff.iter().map(|c| damped_mode(k * c, eta, 10.0)).collect();
    let (x1, v1): (Vec<f64>, Vec<f64>) = modes.into_iter().unzip();
    for method in [Method::Tsit5, Method::ProjectedTsit5, Method::ProjectedDopri5] {
        let sol = integrate(&sys, &[1.0, 1.0], &[0.0, 0.0], &options(method, 10.0)).unwrap();
        assert_eq!((sol.t, sol.stop), (10.0, StopReason::FinalTime));
        let err = dist(&sol.x, &x1).hypot(dist(&sol.v, &v1));
        eprintln!("{method:?}: endpoint error {err:e}");
        assert!(err < 1e-4, "{method:?}: endpoint error {err:e}");
        insta::assert_debug_snapshot!(format!("damped_oscillator_{method}"), checked(method, sol.stats));
    }
}

/// First-order Tsit5 (`integrate_first_order`) on ẏ = −Λy, Λ = diag(1, 3), from
/// y0 = (1, −2) to t = 3 ([`Decay`]): y(3) matches e^{−3Λ}y0 to 1e-6, and without a
/// stop function `energy_evaluations` (its calls) is 0.
#[test]
fn solve_statistics_of_first_order_tsit5_on_exponential_decay() {
    let decay = Decay(vec![1.0, 3.0]);
    let y0 = [1.0, -2.0];
    let sol = integrate_first_order(&decay, &y0, &options(Method::Tsit5, 3.0)).unwrap();
    assert_eq!((sol.t, sol.stop), (3.0, StopReason::FinalTime));
    let err = dist(&sol.y, &decay.exact(&y0, 3.0));
    eprintln!("endpoint error {err:e}");
    assert!(err < 1e-6, "endpoint error {err:e}");
    assert_eq!(sol.stats.energy_evaluations, 0);
    insta::assert_debug_snapshot!("exponential_decay_first_order_tsit5", checked(Method::Tsit5, sol.stats));
}
