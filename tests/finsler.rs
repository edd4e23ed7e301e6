//! Lagrangian and Finsler mechanics through the dual backend.
use geodyn::dual::{DualLagrangian, DualNum, DualRayleigh, LagrangianFn, RayleighFn};
use geodyn::prelude::*;

/// A Randers metric F(v) = √(vᵀAv) + b·v with constant A and b (|b|_{A⁻¹} < 1).
/// β = b·dx is closed, so F has the geodesics of the constant Riemannian metric A:
/// straight lines traversed at constant speed. L = ½F².
struct Randers;
const A: [[f64; 2]; 2] = [[2.0, 0.5], [0.5, 1.0]];
const B: [f64; 2] = [0.3, -0.2];

impl LagrangianFn for Randers {
    fn dim(&self) -> usize {
        2
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _x: &[D], v: &[D]) -> D {
        let q = v[0] * v[0] * A[0][0] + v[0] * v[1] * (2.0 * A[0][1]) + v[1] * v[1] * A[1][1];
        let f = q.sqrt() + v[0] * B[0] + v[1] * B[1];
        f * f * 0.5
    }
}

/// Randers geodesics with closed β and constant coefficients are x0 + t v0.
#[test]
fn randers_finsler_geodesics_are_straight_lines() {
    let sys = LagrangianSystem::new(DualLagrangian::new(Randers));
    let (x0, v0) = ([0.5, -1.0], [1.0, 0.7]);
    let opts = IntegrateOptions::new(5.0).tolerances(1e-11, 1e-11).uniform_outputs(11);
    let sol = integrate(&sys, &x0, &v0, &opts).unwrap();
    for o in &sol.outputs {
        for i in 0..2 {
            assert!((o.x[i] - (x0[i] + o.t * v0[i])).abs() < 1e-8, "t = {}: {:?}", o.t, o.x);
            assert!((o.v[i] - v0[i]).abs() < 1e-8);
        }
    }
}

/// L = ½ m v² − V(x) with V = x⁴/4 − x²/2 (a double well) and R = ½ c v²: the dual
/// backend reproduces m ẍ = −V'(x) − c ẋ pointwise, and the energy ½mv² + V decreases
/// at the rate c v² along a trajectory.
struct DoubleWell;
impl LagrangianFn for DoubleWell {
    fn dim(&self) -> usize {
        1
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], v: &[D]) -> D {
        v[0] * v[0] * (0.5 * 1.5) - (x[0].powi(4) * 0.25 - x[0] * x[0] * 0.5)
    }
}
struct Drag;
impl RayleighFn for Drag {
    fn dim(&self) -> usize {
        1
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _x: &[D], v: &[D]) -> D {
        v[0] * v[0] * (0.5 * 0.4)
    }
}

#[test]
fn damped_double_well_follows_newton_and_dissipates() {
    let sys = LagrangianSystem::new(DualLagrangian::new(DoubleWell)).with_friction(DualRayleigh::new(Drag));
    for &(x, v) in &[(0.3f64, -1.0f64), (-1.7, 0.2), (2.0, 3.0)] {
        let mut a = [0.0];
        sys.acceleration(0.0, &[x], &[v], &mut a).unwrap();
        let exact = (-(x.powi(3) - x) - 0.4 * v) / 1.5;
        assert!((a[0] - exact).abs() < 1e-13, "{} vs {exact}", a[0]);
    }
    let n = 6001;
    let t1 = 60.0;
    let opts = IntegrateOptions::new(t1).tolerances(1e-11, 1e-11).uniform_outputs(n);
    let sol = integrate(&sys, &[2.0], &[0.0], &opts).unwrap();
    let e = |x: f64, v: f64| 0.75 * v * v + x.powi(4) / 4.0 - x * x / 2.0;
    let power: Vec<f64> = sol.outputs.iter().map(|o| 0.4 * o.v[0] * o.v[0]).collect();
    let h = t1 / (n - 1) as f64;
    let mut work = power[0] + power[n - 1];
    for (i, p) in power.iter().enumerate().take(n - 1).skip(1) {
        work += if i % 2 == 1 { 4.0 * p } else { 2.0 * p };
    }
    work *= h / 3.0;
    let de = e(sol.x[0], sol.v[0]) - e(2.0, 0.0);
    assert!((de + work).abs() < 1e-6 * work, "ΔE = {de}, −∫cv² = {}", -work);
    // it settles into one of the wells x = ±1 (amplitude decays like e^{−ct/2m})
    assert!((sol.x[0].abs() - 1.0).abs() < 0.05, "x(60) = {}", sol.x[0]);
}
