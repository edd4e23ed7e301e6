//! Orders of convergence with fixed steps, for every integrator, on a problem with a
//! closed-form solution; and first-order systems ẏ = f(t, y) against closed forms and
//! against the second-order path they generalise.
use geodyn_core::integrate::{FirstOrderSystem, integrate_first_order};
use geodyn_core::{
    Constant, Error, Euclidean, IntegrateOptions, Mechanics, Method, Result, SecondOrderSystem, StopReason, integrate,
};
use geodyn_testkit::closed_form::{Decay, PlaneDims, damped_mode};
use geodyn_testkit::numerics::fitted_order;
use geodyn_testkit::objectives::AxisQuadratic;

/// ẏ = −Λy with Λ = diag(1, 3).
fn decay() -> Decay {
    Decay(vec![1.0, 3.0])
}

const X0: [f64; 2] = [0.2, -0.1];
const V0: [f64; 2] = [1.0, 0.6];

/// DiMS on the linear loss L(θ) = aᵀθ in R², a = (0.3, −0.4), κ = 1, η = 0.5: its graph
/// is a plane, so it is the linear system ẍ = c − ηẋ with c = −κa/(1+|a|²)
/// ([`PlaneDims`]); the closed form from (X0, V0) at time t.
fn exact(t: f64) -> (Vec<f64>, Vec<f64>) {
    PlaneDims::standard().exact(&X0, &V0, t)
}

/// The potential ½(x₁² + 5.3x₂²) in R² ([`AxisQuadratic`]), for the damped anisotropic
/// oscillator ẍ = −k diag(1, 5.3) x − ηẋ (as `Mechanics::new(Euclidean, Constant(η))`
/// with V = k·L): two modes of incommensurate frequencies, so that the energy projection,
/// which corrects one scalar, does not remove the leading error of either mode.
const STIFF: [f64; 2] = [1.0, 5.3];

const K_SPRING: f64 = 4.0;
const ETA_OSC: f64 = 0.1;

/// The closed form of each underdamped mode ẍ = −kcx − ηẋ from x(0) = 1, ẋ(0) = 0:
/// x(t) = e^{−ηt/2}(cos ωt + (η/2ω) sin ωt), ω = √(kc − η²/4).
fn oscillator_exact(t: f64) -> ([f64; 2], [f64; 2]) {
    let (mut x, mut v) = ([0.0; 2], [0.0; 2]);
    for j in 0..2 {
        (x[j], v[j]) = damped_mode(K_SPRING * STIFF[j], ETA_OSC, t);
    }
    (x, v)
}

/// The error |(x, v)(T) − exact| of the damped oscillator at T = 10 (three periods) with
/// `steps` fixed steps of `method`, after checking that the run took exactly that many
/// steps and rejected none.
fn oscillator_error(method: Method, steps: usize) -> (f64, f64) {
    let t1 = 10.0;
    let h = t1 / steps as f64;
    let osc = Mechanics::new(Euclidean::new(2), Constant(ETA_OSC))
        .with_potential(AxisQuadratic(STIFF.to_vec()), K_SPRING, 0.0)
        .unwrap();
    let opts = IntegrateOptions::new(t1).method(method).fixed_step(h);
    let sol = integrate(&osc, &[1.0, 1.0], &[0.0, 0.0], &opts).unwrap();
    assert_eq!(sol.t, t1);
    assert_eq!((sol.stats.accepted_steps, sol.stats.rejected_steps), (steps, 0), "{method:?} with h = {h}");
    let (x, v) = oscillator_exact(t1);
    let err = (0..2).map(|j| (sol.x[j] - x[j]).powi(2) + (sol.v[j] - v[j]).powi(2)).sum::<f64>().sqrt();
    (h, err)
}

/// The error |(x, v)(T) − exact| of DiMS on the linear loss at T = 4 with `steps` fixed
/// steps of `method`, after checking that the run took exactly that many steps and
/// rejected none.
fn error_with_fixed_steps(method: Method, steps: usize) -> (f64, f64) {
    let t1 = 4.0;
    let h = t1 / steps as f64;
    let dims = PlaneDims::standard().system();
    let opts = IntegrateOptions::new(t1).method(method).fixed_step(h);
    let sol = integrate(&dims, &X0, &V0, &opts).unwrap();
    assert_eq!(sol.t, t1);
    assert_eq!((sol.stats.accepted_steps, sol.stats.rejected_steps), (steps, 0), "{method:?} with h = {h}");
    let (x, v) = exact(t1);
    let err = (0..2).map(|j| (sol.x[j] - x[j]).powi(2) + (sol.v[j] - v[j]).powi(2)).sum::<f64>().sqrt();
    (h, err)
}

/// The fitted order of `method` with fixed steps (errors from `error`) is within ±0.3 of
/// its order: 5 for the Runge–Kutta 5(4) pairs (the energy projection keeps the order), 2
/// for RATTLE with friction half-steps (a Strang splitting). The step counts are in the
/// asymptotic range (successive error ratios within 2^(order ± 0.3)) and keep every error
/// well above rounding (≥ 1e-12).
fn assert_order(method: Method, error: fn(Method, usize) -> (f64, f64), steps: &[usize], order: f64) {
    let points: Vec<(f64, f64)> = steps.iter().map(|&n| error(method, n)).collect();
    assert!(points.iter().all(|&(_, e)| e > 1e-12), "{method:?}: errors at rounding level {points:?}");
    let p = fitted_order(&points);
    eprintln!("{method:?}: fitted order {p:.3}");
    assert!((p - order).abs() <= 0.3, "{method:?}: fitted order {p:.3}, errors {points:?}");
}

/// On a single undamped-like mode the leading local error of a 5th-order pair is pure
/// amplitude error (z⁶ is real for z = iωh), which the energy projection removes, and the
/// projected pairs would show order 6; two modes of incommensurate frequency keep it.
const OSCILLATOR_STEPS: [usize; 4] = [320, 640, 1280, 2560];

#[test]
fn tsit5_has_order_five_with_fixed_steps() {
    assert_order(Method::Tsit5, oscillator_error, &OSCILLATOR_STEPS, 5.0);
}

#[test]
fn projected_tsit5_has_order_five_with_fixed_steps() {
    assert_order(Method::ProjectedTsit5, oscillator_error, &OSCILLATOR_STEPS, 5.0);
}

#[test]
fn projected_dopri5_has_order_five_with_fixed_steps() {
    assert_order(Method::ProjectedDopri5, oscillator_error, &OSCILLATOR_STEPS, 5.0);
}

/// RATTLE integrates only particles on a loss graph: DiMS on the linear loss, whose
/// friction and gravity flows do not commute, so the splitting error is of order 2.
#[test]
fn loss_graph_rattle_has_order_two_with_fixed_steps() {
    assert_order(Method::LossGraphRattle, error_with_fixed_steps, &[16, 32, 64, 128], 2.0);
}

/// A fixed step must be positive and finite.
#[test]
fn a_non_positive_fixed_step_is_a_typed_error() {
    let dims = PlaneDims::standard().system();
    for h in [0.0, -1.0, f64::NAN] {
        let err = integrate(&dims, &X0, &V0, &IntegrateOptions::new(1.0).fixed_step(h)).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { name: "fixed_step", .. }), "{err:?}");
    }
}

/// Adaptive Tsit5 on ẏ = −Λy, Λ = diag(1, 3) ([`Decay`]), matches y(t) = e^{−Λt}y0 at the end and at every output
/// time (dense output) to the tolerance's order, and the records follow the contract:
/// outputs at t0 are the initial state, the trajectory starts there and has one point
/// per accepted step.
#[test]
fn first_order_decay_matches_the_closed_form() {
    let y0 = [1.0, -2.0];
    let exact = |t: f64| decay().exact(&y0, t);
    let opts = IntegrateOptions::new(3.0).tolerances(1e-10, 1e-10).uniform_outputs(7).with_trajectory();
    let sol = integrate_first_order(&decay(), &y0, &opts).unwrap();
    assert_eq!((sol.t, sol.stop), (3.0, StopReason::FinalTime));
    let close = |t: f64, y: &[f64]| {
        let e = exact(t);
        (y[0] - e[0]).abs().max((y[1] - e[1]).abs()) < 1e-8
    };
    assert!(close(3.0, &sol.y), "{:?}", sol.y);
    assert_eq!(sol.outputs.len(), 7);
    assert_eq!(sol.outputs[0].y, y0);
    for p in &sol.outputs {
        assert!(close(p.t, &p.y), "t = {}: {:?}", p.t, p.y);
    }
    let tr = sol.trajectory.unwrap();
    assert_eq!(tr.len(), sol.stats.accepted_steps + 1);
    assert_eq!((tr[0].t, tr.last().unwrap().t), (0.0, 3.0));
    assert_eq!(sol.stats.energy_evaluations, 0, "no stop function, no calls");
}

/// The harmonic oscillator y = (sin t, cos t) with the stop function g = y0 + 0.5: the
/// event is the first t with sin t = −0.5, t = 7π/6, located to rounding; a stop function
/// negative at t0 ends the run there.
#[test]
fn first_order_stop_function_is_located_on_the_dense_output() {
    struct Oscillator(f64);
    impl FirstOrderSystem for Oscillator {
        fn dim(&self) -> usize {
            2
        }
        fn rhs(&self, _t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
            dy[0] = y[1];
            dy[1] = -y[0];
            Ok(())
        }
        fn stop_function(&self, _t: f64, y: &[f64]) -> Option<Result<f64>> {
            Some(Ok(y[0] + self.0))
        }
    }
    let opts = IntegrateOptions::new(10.0).tolerances(1e-12, 1e-12).uniform_outputs(11);
    let sol = integrate_first_order(&Oscillator(0.5), &[0.0, 1.0], &opts).unwrap();
    assert_eq!(sol.stop, StopReason::StopFunction);
    assert!((sol.t - 7.0 * std::f64::consts::PI / 6.0).abs() < 1e-9, "t = {}", sol.t);
    assert!(sol.y[0] + 0.5 < 0.0, "the returned state has g < 0: {:?}", sol.y);
    assert!(sol.outputs.iter().all(|p| p.t <= sol.t) && sol.outputs.len() == 4, "{:?}", sol.outputs.len());
    assert!(sol.stats.energy_evaluations > 0);

    let at_start = integrate_first_order(&Oscillator(-0.5), &[0.0, 1.0], &opts).unwrap();
    assert_eq!((at_start.t, at_start.stop, at_start.y), (0.0, StopReason::StopFunction, vec![0.0, 1.0]));
}

/// A second-order system is the first-order system y = (x, v), f = (v, a): the
/// second-order Tsit5 path and the first-order path on that f give bit-identical states
/// and the same work statistics (the DiMS problem above, adaptive steps).
#[test]
fn second_order_tsit5_is_the_first_order_path_on_x_and_v() {
    struct AsFirstOrder<'a, S>(&'a S);
    impl<S: SecondOrderSystem> FirstOrderSystem for AsFirstOrder<'_, S> {
        fn dim(&self) -> usize {
            2 * self.0.dim()
        }
        fn rhs(&self, t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
            let n = self.0.dim();
            let (x, v) = y.split_at(n);
            let (dx, dv) = dy.split_at_mut(n);
            dx.copy_from_slice(v);
            self.0.evaluate(t, x, v, dv).map(|_| ())
        }
    }
    let dims = PlaneDims::standard().system();
    let opts = IntegrateOptions::new(4.0).tolerances(1e-9, 1e-9).uniform_outputs(5);
    let second = integrate(&dims, &X0, &V0, &opts).unwrap();
    let first = integrate_first_order(&AsFirstOrder(&dims), &[X0, V0].concat(), &opts).unwrap();
    assert_eq!(first.y, [second.x.clone(), second.v.clone()].concat());
    for (a, b) in first.outputs.iter().zip(&second.outputs) {
        assert_eq!(a.y, [b.x.clone(), b.v.clone()].concat(), "t = {}", a.t);
    }
    let (s1, s2) = (first.stats, second.stats);
    assert_eq!(
        (s1.rhs_evaluations, s1.accepted_steps, s1.rejected_steps),
        (s2.rhs_evaluations, s2.accepted_steps, s2.rejected_steps)
    );
}

/// First-order systems are integrated by Tsit5 only and have no kinetic energy; bad input
/// is a typed error, not a panic.
#[test]
fn first_order_bad_input_is_a_typed_error() {
    let unsupported = |opts: IntegrateOptions| integrate_first_order(&decay(), &[1.0, 1.0], &opts).unwrap_err();
    for m in [Method::ProjectedTsit5, Method::ProjectedDopri5, Method::LossGraphRattle] {
        assert!(matches!(unsupported(IntegrateOptions::new(1.0).method(m)), Error::Unsupported { .. }), "{m:?}");
    }
    assert!(matches!(unsupported(IntegrateOptions::new(1.0).stop_below_kinetic(1e-3)), Error::Unsupported { .. }));
    let err = integrate_first_order(&decay(), &[1.0], &IntegrateOptions::new(1.0)).unwrap_err();
    assert!(matches!(err, Error::DimensionMismatch { .. }), "{err:?}");
    let err = integrate_first_order(&decay(), &[1.0, f64::NAN], &IntegrateOptions::new(1.0)).unwrap_err();
    assert!(matches!(err, Error::NonFinite { .. }), "{err:?}");
}

/// Tsit5 with fixed steps on the first-order oscillator y' = (y₂, −ω²y₁), ω = 2.3, from
/// y = (1, 0) to T = 10 (y₁ = cos ωt): order 5 for the first-order path too.
#[test]
fn first_order_tsit5_has_order_five_with_fixed_steps() {
    struct Harmonic;
    impl FirstOrderSystem for Harmonic {
        fn dim(&self) -> usize {
            2
        }
        fn rhs(&self, _t: f64, y: &[f64], dy: &mut [f64]) -> Result<()> {
            dy[0] = y[1];
            dy[1] = -2.3 * 2.3 * y[0];
            Ok(())
        }
    }
    let w = 2.3f64;
    let points: Vec<(f64, f64)> = [80usize, 160, 320, 640]
        .iter()
        .map(|&n| {
            let h = 10.0 / n as f64;
            let sol =
                integrate_first_order(&Harmonic, &[1.0, 0.0], &IntegrateOptions::new(10.0).fixed_step(h)).unwrap();
            assert_eq!(sol.stats.accepted_steps, n);
            let (y1, y2) = ((w * 10.0).cos(), -w * (w * 10.0).sin());
            (h, ((sol.y[0] - y1).powi(2) + (sol.y[1] - y2).powi(2)).sqrt())
        })
        .collect();
    assert!(points.iter().all(|&(_, e)| e > 1e-12), "errors at rounding level {points:?}");
    let p = fitted_order(&points);
    eprintln!("first-order Tsit5: fitted order {p:.3}");
    assert!((p - 5.0).abs() <= 0.3, "fitted order {p:.3}: {points:?}");
}
