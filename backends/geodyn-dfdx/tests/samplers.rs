//! DiMS and RLA trajectories from the same start and initial velocity on both backends
//! end at the same point to within the solver tolerance (short horizons, small network):
//! the samplers only see the `Objective` seam, and both backends give the same f, ∇f
//! and vᵀHv up to rounding.

mod common;
use common::regression;
use geodyn_samplers::{Registry, SamplerConfig};

#[test]
fn dims_and_rla_endpoints_agree_between_backends() {
    let p = regression("1-8-8-1:gelu", 30, 11);
    let v0: Vec<f64> = p.v.iter().map(|x| 0.3 * x).collect();
    let reg = Registry::with_builtin();
    let (atol, rtol) = (1e-6, 1e-7);
    for (name, t1) in [("rla", None), ("dims", Some(2.0))] {
        let cfg = SamplerConfig { t1, atol, rtol, ..SamplerConfig::default() };
        let s = reg.create(name, cfg).unwrap();
        let a = s.sample_one(&p.dual, &p.theta, &v0, 0).unwrap();
        let b = s.sample_one(&p.dfdx, &p.theta, &v0, 0).unwrap();
        let scale = p.theta.iter().chain(&a.theta).fold(0.0f64, |m, x| m.max(x.abs()));
        let diff = a.theta.iter().zip(&b.theta).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
        let moved = a.theta.iter().zip(&p.theta).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
        println!(
            "{name}: max |θ_dual − θ_dfdx| = {diff:.2e} (moved {moved:.2e}, tolerance atol + rtol·{scale:.2}); RHS {} vs {}",
            a.rhs_evaluations, b.rhs_evaluations
        );
        assert!(moved > 1e-2, "{name}: the trajectory should go somewhere");
        assert!(diff <= 10.0 * (atol + rtol * scale), "{name}: endpoints differ by {diff:e}");
    }
}
