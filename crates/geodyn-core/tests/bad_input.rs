//! Bad input gives typed errors, never a panic.
use geodyn_core::{
    Error, FailureReason, IntegrateOptions, IntrinsicPotential, LossGraph, Mechanics, SpeedDependent, integrate,
};
use geodyn_testkit::objectives::*;

fn sys() -> Mechanics<LossGraph<SphereLoss>, SpeedDependent, IntrinsicPotential> {
    Mechanics::dims(SphereLoss(3), 1.0, 0.0, SpeedDependent(0.5)).unwrap()
}

/// NaN in the initial state is reported as non-finite input.
#[test]
fn nan_initial_state_is_typed_error() {
    let e = integrate(&sys(), &[1.0, f64::NAN, 0.0], &[0.0; 3], &IntegrateOptions::new(1.0)).unwrap_err();
    assert_eq!(e, Error::NonFinite { what: "x0" });
    let e = integrate(&sys(), &[1.0, 0.0, 0.0], &[0.0, f64::INFINITY, 0.0], &IntegrateOptions::new(1.0)).unwrap_err();
    assert_eq!(e, Error::NonFinite { what: "v0" });
}

/// A state of the wrong dimension is a dimension mismatch.
#[test]
fn dimension_mismatch_is_typed_error() {
    let e = integrate(&sys(), &[1.0, 0.0], &[0.0; 3], &IntegrateOptions::new(1.0)).unwrap_err();
    assert_eq!(e, Error::DimensionMismatch { what: "x0", expected: 3, got: 2 });
}

/// Non-positive tolerances are rejected.
#[test]
fn non_positive_tolerance_is_typed_error() {
    let e =
        integrate(&sys(), &[1.0, 0.0, 0.0], &[0.0; 3], &IntegrateOptions::new(1.0).tolerances(0.0, 1e-6)).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { name: "atol", .. }), "{e}");
    let e =
        integrate(&sys(), &[1.0, 0.0, 0.0], &[0.0; 3], &IntegrateOptions::new(1.0).tolerances(1e-6, -1.0)).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { name: "rtol", .. }), "{e}");
}

/// A final time before the initial time is rejected.
#[test]
fn final_time_before_initial_time_is_typed_error() {
    let e = integrate(&sys(), &[1.0, 0.0, 0.0], &[0.0; 3], &IntegrateOptions::new(1.0).t0(2.0)).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { name: "t1", .. }), "{e}");
}

/// Unsorted output times and a bad stop threshold are rejected.
#[test]
fn bad_outputs_and_threshold_are_typed_errors() {
    let o = IntegrateOptions::new(1.0).output_times(vec![0.5, 0.2]);
    assert!(matches!(integrate(&sys(), &[1.0, 0.0, 0.0], &[0.0; 3], &o), Err(Error::InvalidParameter { .. })));
    let o = IntegrateOptions::new(1.0).stop_below_kinetic(-1.0);
    assert!(matches!(integrate(&sys(), &[1.0, 0.0, 0.0], &[0.0; 3], &o), Err(Error::InvalidParameter { .. })));
}

/// The step limit stops a run with an error that names the time reached.
#[test]
fn step_limit_is_typed_error_with_time() {
    let o = IntegrateOptions::new(100.0).max_steps(5);
    let e = integrate(&sys(), &[1.2, 0.0, 0.0], &[0.0, 1.0, 0.8], &o).unwrap_err();
    match e {
        Error::Integration { t, reason: FailureReason::StepLimit { max_steps: 5 } } => assert!(t > 0.0 && t < 100.0),
        other => panic!("unexpected {other:?}"),
    }
}

/// A loss that fails (non-finite) beyond |x| > 2 makes the run fail with the time
/// reached and the objective's error, instead of returning garbage.
#[test]
fn objective_failure_is_reported_with_time() {
    let s = Mechanics::dims(Cliff, 1.0, 0.0, geodyn_core::Frictionless).unwrap();
    let e = integrate(&s, &[0.0], &[1.0], &IntegrateOptions::new(10.0)).unwrap_err();
    match e {
        Error::Integration { t, reason: FailureReason::Evaluation(inner) } => {
            assert!(t > 0.5 && t < 2.0, "t = {t}");
            assert_eq!(*inner, Error::NonFinite { what: "loss" });
        }
        other => panic!("unexpected {other:?}"),
    }
}
