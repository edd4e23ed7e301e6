//! Bad input gives typed errors, never a panic.

use geodyn_transport::*;

#[test]
fn measures_reject_bad_points_and_weights() {
    assert!(matches!(
        EmpiricalMeasure::uniform(2, vec![0.0, f64::NAN, 1.0, 2.0]),
        Err(TransportError::NonFinite { what: "points" })
    ));
    assert!(matches!(
        EmpiricalMeasure::new(1, vec![0.0, 1.0], vec![0.5, -0.1]),
        Err(TransportError::Negative { index: 1, .. })
    ));
    assert!(matches!(
        EmpiricalMeasure::new(1, vec![0.0, 1.0], vec![0.5, f64::INFINITY]),
        Err(TransportError::NonFinite { .. })
    ));
    assert!(matches!(EmpiricalMeasure::new(1, vec![0.0, 1.0], vec![0.0, 0.0]), Err(TransportError::ZeroMass { .. })));
    assert!(matches!(
        EmpiricalMeasure::new(1, vec![0.0, 1.0], vec![1.0]),
        Err(TransportError::DimensionMismatch { .. })
    ));
    assert!(matches!(EmpiricalMeasure::uniform(2, vec![0.0, 1.0, 2.0]), Err(TransportError::DimensionMismatch { .. })));
    assert!(matches!(EmpiricalMeasure::uniform(0, vec![0.0]), Err(TransportError::InvalidParameter { .. })));
    assert!(matches!(EmpiricalMeasure::from_samples_1d(&[]), Err(TransportError::Empty { .. })));
    assert!(matches!(
        EmpiricalMeasure::from_rows(&[vec![0.0, 1.0], vec![2.0]]),
        Err(TransportError::DimensionMismatch { .. })
    ));
    assert!(matches!(GridDensity1d::new(1.0, 0.0, vec![1.0]), Err(TransportError::InvalidParameter { .. })));
    assert!(matches!(GridDensity1d::new(0.0, 1.0, vec![1.0, -1.0]), Err(TransportError::Negative { .. })));
    assert!(matches!(
        GridDensity1d::new(0.0, 1.0, vec![0.0, 0.0]).unwrap().mean(),
        Err(TransportError::ZeroMass { .. })
    ));
}

#[test]
fn transport_rejects_mismatched_dimensions_and_bad_settings() {
    let a = EmpiricalMeasure::uniform(2, vec![0.0, 0.0, 1.0, 1.0]).unwrap();
    let b = EmpiricalMeasure::uniform(3, vec![0.0, 0.0, 0.0]).unwrap();
    let c = EmpiricalMeasure::from_samples_1d(&[0.0, 1.0]).unwrap();
    assert!(matches!(wasserstein_1d(&a, &c, 2.0), Err(TransportError::DimensionMismatch { .. })));
    assert!(matches!(wasserstein_1d(&c, &c, 0.5), Err(TransportError::InvalidParameter { name: "p", .. })));
    assert!(matches!(
        wasserstein_1d_samples_pow(&[0.0], &[0.0, 1.0], 2.0),
        Err(TransportError::DimensionMismatch { .. })
    ));
    assert!(matches!(wasserstein_1d_samples_pow(&[f64::NAN], &[0.0], 2.0), Err(TransportError::NonFinite { .. })));
    assert!(matches!(wasserstein2_squared_to_gaussian_1d(&a, 0.0, 1.0), Err(TransportError::DimensionMismatch { .. })));
    assert!(matches!(
        wasserstein2_squared_to_gaussian_1d(&c, 0.0, -1.0),
        Err(TransportError::InvalidParameter { name: "s", .. })
    ));
    assert!(matches!(wasserstein2_squared_to_gaussian_1d(&c, f64::NAN, 1.0), Err(TransportError::NonFinite { .. })));
    assert!(matches!(sinkhorn(&a, &b, &SinkhornOptions::new(0.1)), Err(TransportError::DimensionMismatch { .. })));
    for eps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            sinkhorn(&a, &a, &SinkhornOptions::new(eps)),
            Err(TransportError::InvalidParameter { name: "epsilon", .. })
        ));
    }
    assert!(matches!(
        sinkhorn(&a, &a, &SinkhornOptions::new(0.1).with_scaling(1.5)),
        Err(TransportError::InvalidParameter { name: "scaling", .. })
    ));
    assert!(matches!(
        sinkhorn_with_cost(&[0.0, 1.0, 1.0], &[1.0, 1.0], &[1.0, 1.0], &SinkhornOptions::new(0.1)),
        Err(TransportError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        sinkhorn_with_cost(&[0.0, 1.0], &[1.0, -1.0], &[1.0], &SinkhornOptions::new(0.1)),
        Err(TransportError::Negative { .. })
    ));
    assert!(matches!(
        sinkhorn_with_cost(&[0.0, f64::NAN], &[1.0, 1.0], &[1.0], &SinkhornOptions::new(0.1)),
        Err(TransportError::NonFinite { .. })
    ));
    // Too few iterations for a tight tolerance: a typed NotConverged error.
    let x = EmpiricalMeasure::uniform(1, (0..20).map(|i| i as f64 / 20.0).collect()).unwrap();
    let y = EmpiricalMeasure::uniform(1, (0..20).map(|i| (i as f64 / 20.0).powi(2) + 0.1).collect()).unwrap();
    assert!(matches!(
        sinkhorn(&x, &y, &SinkhornOptions::new(1e-3).with_max_iter(3).with_tol(1e-12)),
        Err(TransportError::NotConverged { iterations: 3, .. })
    ));
    // Exact OT: uniform weights and equal sizes only, and a size limit.
    let w = EmpiricalMeasure::new(1, vec![0.0, 1.0], vec![1.0, 2.0]).unwrap();
    assert!(matches!(exact_ot(&w, &c), Err(TransportError::Unsupported { .. })));
    assert!(matches!(exact_ot(&x, &c), Err(TransportError::DimensionMismatch { .. })));
    assert!(matches!(solve_assignment(&[], 0), Err(TransportError::Empty { .. })));
    assert!(matches!(solve_assignment(&[0.0; 3], 2), Err(TransportError::DimensionMismatch { .. })));
    let big = MAX_ASSIGNMENT_SIZE + 1;
    assert!(matches!(solve_assignment(&[], big), Err(TransportError::TooLarge { .. })));
    assert!(matches!(barycentric_projection(&[0.0, 0.0], 1, &c), Err(TransportError::ZeroMass { .. })));
    assert!(matches!(barycentric_projection(&[0.0], 1, &c), Err(TransportError::DimensionMismatch { .. })));
}

#[test]
fn bures_rejects_non_psd_and_mismatched_inputs() {
    let i2 = [1.0, 0.0, 0.0, 1.0];
    assert!(matches!(bures_w2_squared(&[0.0, 0.0], &i2, &[0.0], &i2), Err(TransportError::DimensionMismatch { .. })));
    assert!(matches!(
        bures_w2_squared(&[0.0, 0.0], &[1.0, 0.0, 0.0, -1.0], &[0.0, 0.0], &i2),
        Err(TransportError::NotPositiveSemiDefinite { .. })
    ));
    assert!(matches!(
        bures_w2_squared(&[0.0, 0.0], &i2, &[0.0, 0.0], &[1.0, 0.5, 0.0, 1.0]),
        Err(TransportError::NotPositiveSemiDefinite { .. })
    ));
    assert!(matches!(bures_w2_squared(&[f64::NAN], &[1.0], &[0.0], &[1.0]), Err(TransportError::NonFinite { .. })));
    assert!(matches!(psd_sqrt(&[1.0, 2.0], 2), Err(TransportError::DimensionMismatch { .. })));
}

#[test]
fn fokker_planck_rejects_bad_settings() {
    assert!(matches!(FokkerPlanck1d::new(0.0, 1.0, 10, 0.0, |x| x), Err(TransportError::InvalidParameter { .. })));
    assert!(matches!(FokkerPlanck1d::new(0.0, 1.0, 0, 1.0, |x| x), Err(TransportError::Empty { .. })));
    assert!(matches!(
        FokkerPlanck1d::new(0.0, 1.0, 10, 1.0, |x| 1.0 / (x - 0.05)),
        Err(TransportError::NonFinite { .. })
    ));
    let mut fp = FokkerPlanck1d::new(0.0, 1.0, 10, 1.0, |x| x).unwrap();
    let mut rho = GridDensity1d::new(0.0, 1.0, vec![1.0; 10]).unwrap();
    assert!(matches!(fp.step(&mut rho, 0.0), Err(TransportError::InvalidParameter { name: "dt", .. })));
    let mut other = GridDensity1d::new(0.0, 1.0, vec![1.0; 11]).unwrap();
    assert!(matches!(fp.step(&mut other, 0.1), Err(TransportError::DimensionMismatch { .. })));
    let mut shifted = GridDensity1d::new(0.0, 2.0, vec![1.0; 10]).unwrap();
    assert!(matches!(fp.step(&mut shifted, 0.1), Err(TransportError::InvalidParameter { .. })));
}
