//! The downstream objective and DiMS on it: the dfdx reverse-mode gradient equals the
//! closed form 4 r A x; the closed-form H v agrees with differences of that gradient;
//! DiMS dissipates 99.9% of its energy H = T + V, never increasing it (dH/dt = −2ηT ≤ 0),
//! and ends within (xᵀAx − 1)² = V ≤ H of the minimum set xᵀAx = 1.

use geodyn::prelude::*;
use geodyn_downstream_example::{Ellipsoid, run_dims};

#[test]
fn dfdx_gradient_is_the_closed_form_and_hvp_matches_gradient_differences() {
    let e = Ellipsoid::new([1.0, 0.5, 2.0]).unwrap();
    let x = [0.7, -1.1, 0.4];
    let v = [0.3, 0.2, -0.5];
    let mut g = [0.0; 3];
    let f = e.gradient(&x, &mut g).unwrap();
    let r = e.residual(&x);
    assert!((f - r * r).abs() <= 1e-15 * f);
    let a = [1.0, 0.5, 2.0];
    for i in 0..3 {
        assert!((g[i] - 4.0 * r * a[i] * x[i]).abs() <= 1e-14, "∂{i}");
    }
    let mut hv = [0.0; 3];
    e.hvp(&x, &v, &mut hv).unwrap();
    let h = 1e-5;
    let (mut gp, mut gm) = ([0.0; 3], [0.0; 3]);
    let xp: Vec<f64> = (0..3).map(|i| x[i] + h * v[i]).collect();
    let xm: Vec<f64> = (0..3).map(|i| x[i] - h * v[i]).collect();
    e.gradient(&xp, &mut gp).unwrap();
    e.gradient(&xm, &mut gm).unwrap();
    for i in 0..3 {
        assert!(((gp[i] - gm[i]) / (2.0 * h) - hv[i]).abs() < 1e-8, "(Hv)_{i}");
    }
    assert!(e.gradient(&[1.0, 2.0], &mut g).is_err(), "wrong dimension is an error");
    assert!(Ellipsoid::new([1.0, -1.0, 1.0]).is_err());
}

#[test]
fn dims_dissipates_energy_monotonically_and_ends_near_the_minimum_set() {
    let e = Ellipsoid::new([1.0, 0.5, 2.0]).unwrap();
    let run = run_dims(&e, &[1.0, 0.0, 0.0], &[0.0, 1.0, 0.8], 100.0).unwrap();
    let moved = ((run.x[0] - 1.0).powi(2) + run.x[1].powi(2) + run.x[2].powi(2)).sqrt();
    assert!(moved > 0.3, "DiMS should travel along the minimum set, moved {moved}");
    let (h0, h_end) = (run.energy[0], run.final_kinetic + run.final_loss);
    assert!(h_end < 1e-3 * h0, "H = {h_end} at the end, {h0} at the start: friction should dissipate 99.9%");
    // V = L = r² ≤ H: the distance to the minimum set is bounded by the energy left.
    let r = e.residual(&run.x);
    assert!(r * r <= h_end * (1.0 + 1e-12), "xᵀAx − 1 = {r} with H = {h_end}");
    for (i, w) in run.energy.windows(2).enumerate() {
        assert!(w[1] <= w[0] + 1e-9, "H rose between outputs {i} and {}: {} → {}", i + 1, w[0], w[1]);
    }
    assert!(run.rhs_evaluations > 0);
    // the same run through the trait object the samplers use
    let dyn_obj: &dyn Objective = &e;
    assert_eq!(dyn_obj.dim(), 3);
}
