//! Mechanics and integration against invariants and closed forms.
use geodyn_core::{
    Constant, Euclidean, Frictionless, IntegrateOptions, LossGraph, Mechanics, Metric, Pullback, SecondOrderSystem,
    SpeedDependent, StopReason, integrate,
};
use geodyn_testkit::embeddings::*;
use geodyn_testkit::numerics::*;
use geodyn_testkit::objectives::*;

const X0: [f64; 3] = [1.1, 0.2, -0.1];
const V0: [f64; 3] = [0.3, 1.0, 0.5];

/// With η = 0 the total energy H = T + V is conserved to solver tolerance on [0, 20].
#[test]
fn energy_is_conserved_without_friction() {
    let sys = Mechanics::dims(SphereLoss(3), 1.0, 0.0, Frictionless).unwrap();
    let opts = IntegrateOptions::new(20.0).tolerances(1e-11, 1e-11).uniform_outputs(201);
    let sol = integrate(&sys, &X0, &V0, &opts).unwrap();
    let h0 = sys.energy(&X0, &V0).unwrap().total();
    let drift = sol.outputs.iter().map(|p| (sys.energy(&p.x, &p.v).unwrap().total() - h0).abs()).fold(0.0, f64::max);
    assert!(drift < 1e-8 * h0, "max |H(t) − H(0)| = {drift:e}, H(0) = {h0}");
    assert_eq!(sol.stop, StopReason::FinalTime);
    assert_eq!(sol.t, 20.0);
}

/// With friction, H(t) − H(0) = −∫₀ᵗ 2ηT ds (Simpson quadrature on the dense output),
/// to 1e-4 relative, for constant and for DiMS's speed-dependent friction.
#[test]
fn energy_balance_with_friction_matches_dissipated_work() {
    fn check<D: geodyn_core::Friction>(d: D) {
        let t1 = 10.0;
        let n = 4001;
        let sys = Mechanics::dims(SphereLoss(3), 1.0, 0.0, d).unwrap();
        let opts = IntegrateOptions::new(t1).tolerances(1e-11, 1e-11).uniform_outputs(n);
        let sol = integrate(&sys, &X0, &V0, &opts).unwrap();
        let power: Vec<f64> = sol.outputs.iter().map(|p| sys.dissipated_power(p.t, &p.x, &p.v).unwrap()).collect();
        let work = simpson(t1 / (n - 1) as f64, &power);
        let h0 = sys.energy(&X0, &V0).unwrap().total();
        let h1 = sys.energy(&sol.x, &sol.v).unwrap().total();
        let rel = ((h1 - h0) + work).abs() / work;
        assert!(work > 0.1 * h0, "the test must dissipate a real share of the energy");
        assert!(rel < 1e-4, "H(t)−H(0) = {:e}, −∫2ηT = {:e}, rel {rel:e}", h1 - h0, -work);
    }
    check(Constant(0.3));
    check(SpeedDependent(0.5));
}

/// With κ = η = 0 (geodesic flow) the speed ‖ẋ‖_G = √(2T) is constant.
#[test]
fn geodesic_speed_is_constant() {
    let sys = Mechanics::geodesic(LossGraph::new(SphereLoss(3)));
    let opts = IntegrateOptions::new(5.0).tolerances(1e-11, 1e-11).uniform_outputs(51);
    let sol = integrate(&sys, &X0, &V0, &opts).unwrap();
    let s0 = (2.0 * sys.energy(&X0, &V0).unwrap().kinetic).sqrt();
    for p in &sol.outputs {
        let s = (2.0 * sys.metric().kinetic(&p.x, &p.v).unwrap()).sqrt();
        assert!((s - s0).abs() < 1e-8 * s0, "speed {s} vs {s0} at t = {}", p.t);
    }
}

/// DiMS Theorem 2: with η = η0√T the first time T < ε is at most
/// t0 + H(t0)/(2 η0 ε^{3/2}); the event is located where T = ε.
#[test]
fn dims_theorem_2_bound_on_stopping_time() {
    for &(eta0, eps) in &[(0.5f64, 0.05f64), (1.0, 0.01), (0.2, 0.1)] {
        let sys = Mechanics::dims(SphereLoss(3), 1.0, 0.0, SpeedDependent(eta0)).unwrap();
        let t0 = 0.5;
        let opts = IntegrateOptions::new(1e4).t0(t0).tolerances(1e-10, 1e-10).stop_below_kinetic(eps);
        let sol = integrate(&sys, &X0, &V0, &opts).unwrap();
        let h0 = sys.energy(&X0, &V0).unwrap().total();
        let bound = t0 + h0 / (2.0 * eta0 * eps.powf(1.5));
        assert_eq!(sol.stop, StopReason::KineticBelow { threshold: eps });
        assert!(sol.t <= bound, "t_eps = {} > bound {bound}", sol.t);
        let t_end = sys.energy(&sol.x, &sol.v).unwrap().kinetic;
        assert!((t_end - eps).abs() < 1e-6 * eps, "T at the event = {t_end}, ε = {eps}");
    }
}

/// Free particle with η = η0√T (Euclidean, no potential): Ṫ = −2η0 T^{3/2}, so
/// T(t) = (T0^{-1/2} + η0 t)^{-2} and the first time T < ε is (ε^{-1/2} − T0^{-1/2})/η0.
#[test]
fn stop_event_time_matches_closed_form() {
    let eta0 = 0.7;
    let eps: f64 = 1e-3;
    let sys = Mechanics::new(Euclidean::new(2), SpeedDependent(eta0));
    let v0 = [1.0, -2.0];
    let t0k: f64 = 0.5 * (1.0 + 4.0);
    let exact = (eps.powf(-0.5) - t0k.powf(-0.5)) / eta0;
    let opts = IntegrateOptions::new(1e3).tolerances(1e-12, 1e-12).stop_below_kinetic(eps);
    let sol = integrate(&sys, &[0.0, 0.0], &v0, &opts).unwrap();
    assert!((sol.t - exact).abs() < 1e-6 * exact, "t_eps = {}, exact {exact}", sol.t);
}

/// Geodesics of the unit sphere through the pullback of spherical coordinates
/// R² → R³ are great circles: E(x(t)) = cos(st) p0 + sin(st) u.
#[test]
fn pullback_geodesics_are_great_circles() {
    let sys = Mechanics::geodesic(Pullback::new(SphericalCoordinates, 0.0).unwrap());
    let x0 = [std::f64::consts::FRAC_PI_2, 0.0]; // p0 = (1, 0, 0)
    let v0 = [-0.6, 0.8]; // J v0 = (0, 0.8, 0.6), unit speed
    let t1 = 2.0 * std::f64::consts::PI;
    let opts = IntegrateOptions::new(t1).tolerances(1e-11, 1e-11).uniform_outputs(41);
    let sol = integrate(&sys, &x0, &v0, &opts).unwrap();
    let mut p = [0.0; 3];
    for o in &sol.outputs {
        geodyn_core::Embedding::value(&SphericalCoordinates, &o.x, &mut p).unwrap();
        let exact = [o.t.cos(), 0.8 * o.t.sin(), 0.6 * o.t.sin()];
        assert!(rel_err(&p, &exact) < 1e-7, "t = {}: {p:?} vs {exact:?}", o.t);
    }
}

/// Requested outputs are interpolated: a damped linear system ẍ = −ηẋ has
/// x(t) = x0 + v0(1 − e^{−ηt})/η at every output time.
#[test]
fn outputs_match_closed_form_at_requested_times() {
    let eta = 0.4;
    let sys = Mechanics::new(Euclidean::new(1), Constant(eta));
    let times = vec![0.0, 0.3, 1.7, 2.0, 5.5, 8.0];
    let opts = IntegrateOptions::new(8.0).tolerances(1e-12, 1e-12).output_times(times.clone()).with_trajectory();
    let sol = integrate(&sys, &[1.0], &[2.0], &opts).unwrap();
    assert_eq!(sol.outputs.len(), times.len());
    for (o, &t) in sol.outputs.iter().zip(&times) {
        assert_eq!(o.t, t);
        let exact = 1.0 + 2.0 * (1.0 - (-eta * t).exp()) / eta;
        assert!((o.x[0] - exact).abs() < 1e-9, "t = {t}: {} vs {exact}", o.x[0]);
    }
    let tr = sol.trajectory.unwrap();
    assert_eq!(tr.len(), sol.stats.accepted_steps + 1);
    assert!(tr.windows(2).all(|w| w[1].t > w[0].t));
    // Tsit5 is FSAL: 6 evaluations per attempted step, plus start-up.
    let attempts = sol.stats.accepted_steps + sol.stats.rejected_steps;
    assert!(
        sol.stats.rhs_evaluations >= 6 * attempts && sol.stats.rhs_evaluations <= 6 * attempts + 4,
        "{:?}",
        sol.stats
    );
}
