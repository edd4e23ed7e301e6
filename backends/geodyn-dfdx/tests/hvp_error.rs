//! The differenced Hessian-vector product: central differences of dfdx gradients,
//! (∇L(θ + hv) − ∇L(θ − hv))/2h. Checks the error against the dual backend's exact
//! H v at the chosen step (≤ 1e-8 relative), and that the truncation error is O(h²):
//! doubling h multiplies the error by ≈ 4 where truncation dominates.

mod common;
use common::{classification, regression, rel_err};
use geodyn_core::Objective;
use geodyn_dfdx::DfdxMlpObjective;

/// Central difference of the full gradient (prior included) with step h.
fn fd_hv(o: &DfdxMlpObjective, x: &[f64], v: &[f64], h: f64) -> Vec<f64> {
    let k = x.len();
    let (mut gp, mut gm) = (vec![0.0; k], vec![0.0; k]);
    let xp: Vec<f64> = x.iter().zip(v).map(|(a, b)| a + h * b).collect();
    let xm: Vec<f64> = x.iter().zip(v).map(|(a, b)| a - h * b).collect();
    o.gradient(&xp, &mut gp).unwrap();
    o.gradient(&xm, &mut gm).unwrap();
    gp.iter().zip(&gm).map(|(p, m)| (p - m) / (2.0 * h)).collect()
}

#[test]
fn differenced_hvp_error_is_second_order_and_small_at_the_chosen_step() {
    for (name, p) in [
        ("regression 1-16-16-1:gelu", regression("1-16-16-1:gelu", 30, 7)),
        ("cross-entropy 2-8-3:tanh", classification("2-8-3:tanh", 25, 8)),
    ] {
        let k = p.dual.dim();
        let mut exact = vec![0.0; k];
        p.dual.hvp(&p.theta, &p.v, &mut exact).unwrap();
        let mut hv = vec![0.0; k];
        p.dfdx.hvp(&p.theta, &p.v, &mut hv).unwrap();
        let h0 = geodyn_dfdx::hvp_step(&p.theta, &p.v);
        let e0 = rel_err(&hv, &exact);
        // Truncation regime: steps 100–800× the chosen one.
        let errs: Vec<f64> = [100.0, 200.0, 400.0, 800.0]
            .iter()
            .map(|s| rel_err(&fd_hv(&p.dfdx, &p.theta, &p.v, s * h0), &exact))
            .collect();
        let ratios: Vec<f64> = errs.windows(2).map(|w| w[1] / w[0]).collect();
        println!("{name}: h = {h0:.2e}, error at h {e0:.1e}; at 100h..800h {errs:?}, ratios per doubling {ratios:.2?}");
        assert!(e0 < 1e-8, "{name}: error {e0:e} at the chosen step");
        for r in &ratios {
            assert!((3.0..5.0).contains(r), "{name}: error ratio {r} per doubling of h, expected ≈ 4 (O(h²))");
        }
    }
}

#[test]
fn zero_direction_gives_zero() {
    let p = regression("2-5-1:silu", 10, 9);
    let mut hv = vec![1.0; p.dfdx.dim()];
    p.dfdx.hvp(&p.theta, &vec![0.0; p.dfdx.dim()], &mut hv).unwrap();
    assert!(hv.iter().all(|&x| x == 0.0));
}
