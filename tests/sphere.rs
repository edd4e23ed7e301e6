//! The DiMS Figure 1/4 setting (the `sphere` example) end to end through the facade:
//! L(θ) = (|θ|² − 1)², κ = 1, θ0 = (1,0,0), θ̇0 = (0,1,0.8), t = 30.
//! An independent high-accuracy integration gave L ≈ 4e-3, T ≈ 3e-3 for DiMS
//! (η0 = 0.5) and T ≈ 0.56 for the gravity-only curve.
use geodyn::dual::{DualNum, DualObjective, ScalarFn};
use geodyn::prelude::*;

struct SphereLoss;
impl ScalarFn for SphereLoss {
    fn dim(&self) -> usize {
        3
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
        let r2 = x[0] * x[0] + x[1] * x[1] + x[2] * x[2];
        (r2 - 1.0) * (r2 - 1.0)
    }
}

const X0: [f64; 3] = [1.0, 0.0, 0.0];
const V0: [f64; 3] = [0.0, 1.0, 0.8];

/// DiMS comes to rest on the minimum set; gravity alone keeps oscillating; both agree
/// with the independent reference values.
#[test]
fn dims_settles_and_gravity_only_does_not() {
    let loss = DualObjective::new(SphereLoss);
    let opts = IntegrateOptions::new(30.0).tolerances(1e-9, 1e-9);
    let dims = Mechanics::dims(&loss, 1.0, 0.0, SpeedDependent(0.5)).unwrap();
    let gravity = Mechanics::dims(&loss, 1.0, 0.0, Frictionless).unwrap();
    let d = integrate(&dims, &X0, &V0, &opts).unwrap();
    let g = integrate(&gravity, &X0, &V0, &opts).unwrap();
    let (dl, dt) = (loss.value(&d.x).unwrap(), dims.energy(&d.x, &d.v).unwrap().kinetic);
    let gt = gravity.energy(&g.x, &g.v).unwrap().kinetic;
    assert!(dl < 1e-2 && dt < 1e-2, "DiMS: L = {dl}, T = {dt}");
    assert!((dl - 4e-3).abs() < 1e-3 && (dt - 3e-3).abs() < 1e-3, "DiMS vs reference: L = {dl}, T = {dt}");
    assert!(gt > 0.1 && (gt - 0.56).abs() < 0.02, "gravity-only T = {gt}");
}

/// The geodesic (κ = η = 0) conserves the speed ‖ẋ‖_G: T(30) = T(0) = ½|v0|² (g(θ0) = 0).
#[test]
fn sphere_geodesic_conserves_kinetic_energy() {
    let loss = DualObjective::new(SphereLoss);
    let geo = Mechanics::geodesic(LossGraph::new(&loss));
    let sol = integrate(&geo, &X0, &V0, &IntegrateOptions::new(30.0).tolerances(1e-10, 1e-10)).unwrap();
    let t = geo.energy(&sol.x, &sol.v).unwrap().kinetic;
    assert!((t - 0.82).abs() < 1e-6, "T = {t}");
}
