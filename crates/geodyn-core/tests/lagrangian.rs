//! LagrangianSystem against Newtonian mechanics and the damped oscillator.
use geodyn_core::{IntegrateOptions, Lagrangian, LagrangianSystem, Rayleigh, Result, SecondOrderSystem, integrate};
use geodyn_testkit::lagrangians::{Drag, Newton};

/// L = ½mv² − V(x) gives Newton's ẍ = −V'(x)/m pointwise, and the energy
/// ½mv² + V is the energy function v·∂L/∂v − L.
#[test]
fn newtonian_lagrangian_gives_newtons_law() {
    let sys = LagrangianSystem::new(Newton { m: 2.5, k: 1.3, q: 0.7 });
    for &(x, v) in &[(0.3, -1.0), (-1.7, 0.2), (2.0, 3.0)] {
        let mut a = [0.0];
        let t = sys.acceleration(0.0, &[x], &[v], &mut a).unwrap();
        let exact = -(1.3 * x + 0.7 * x * x * x) / 2.5;
        assert!((a[0] - exact).abs() < 1e-14, "{} vs {exact}", a[0]);
        assert!((t - 0.5 * 2.5 * v * v).abs() < 1e-14);
        let e = sys.energy(&[x], &[v]).unwrap();
        assert!((e.potential - (0.65 * x * x + 0.175 * x.powi(4))).abs() < 1e-13);
    }
}

/// The harmonic oscillator (q = 0) follows x(t) = x0 cos ωt + (v0/ω) sin ωt.
#[test]
fn harmonic_oscillator_matches_closed_form() {
    let (m, k): (f64, f64) = (2.0, 8.0);
    let w = (k / m).sqrt();
    let sys = LagrangianSystem::new(Newton { m, k, q: 0.0 });
    let opts = IntegrateOptions::new(10.0).tolerances(1e-12, 1e-12).uniform_outputs(21);
    let sol = integrate(&sys, &[1.0], &[0.5], &opts).unwrap();
    for o in &sol.outputs {
        let exact = (w * o.t).cos() + 0.5 / w * (w * o.t).sin();
        assert!((o.x[0] - exact).abs() < 1e-8, "t = {}: {} vs {exact}", o.t, o.x[0]);
    }
}

/// R = ½cv² gives m ẍ = −kx − cẋ; the underdamped solution is
/// x(t) = e^{−γt}(x0 cos ω_d t + (v0 + γx0)/ω_d sin ω_d t), γ = c/2m, ω_d = √(k/m − γ²),
/// and the energy decreases at the rate v·∂R/∂v = c v².
#[test]
fn rayleigh_damping_matches_damped_oscillator() {
    let (m, k, c): (f64, f64, f64) = (1.5, 6.0, 0.9);
    let g = c / (2.0 * m);
    let wd = (k / m - g * g).sqrt();
    let sys = LagrangianSystem::new(Newton { m, k, q: 0.0 }).with_friction(Drag(c));
    let (x0, v0) = (1.0, -0.4);
    let opts = IntegrateOptions::new(12.0).tolerances(1e-12, 1e-12).uniform_outputs(25);
    let sol = integrate(&sys, &[x0], &[v0], &opts).unwrap();
    for o in &sol.outputs {
        let exact = (-g * o.t).exp() * (x0 * (wd * o.t).cos() + (v0 + g * x0) / wd * (wd * o.t).sin());
        assert!((o.x[0] - exact).abs() < 1e-8, "t = {}: {} vs {exact}", o.t, o.x[0]);
        let p = sys.dissipated_power(o.t, &o.x, &o.v).unwrap();
        assert!((p - c * o.v[0] * o.v[0]).abs() < 1e-14);
    }
}

/// L = ½mv² on R³ (the free particle), the Lagrangian form of `Mechanics` on the metric
/// G = m·I.
struct Free(f64);

impl Lagrangian for Free {
    fn dim(&self) -> usize {
        3
    }
    fn value(&self, _x: &[f64], v: &[f64]) -> Result<f64> {
        Ok(0.5 * self.0 * v.iter().map(|vi| vi * vi).sum::<f64>())
    }
    fn velocity_gradient(&self, _x: &[f64], v: &[f64], lv: &mut [f64]) -> Result<()> {
        for (l, vi) in lv.iter_mut().zip(v) {
            *l = self.0 * vi;
        }
        Ok(())
    }
    fn euler_lagrange_terms(
        &self,
        _x: &[f64],
        _v: &[f64],
        lx: &mut [f64],
        lvv: &mut [f64],
        lvx_v: &mut [f64],
    ) -> Result<()> {
        lx.fill(0.0);
        lvx_v.fill(0.0);
        lvv.fill(0.0);
        for i in 0..3 {
            lvv[i * 3 + i] = self.0;
        }
        Ok(())
    }
}

/// R = ½c|v|² on R³.
#[derive(Clone)]
struct Drag3(f64);

impl Rayleigh for Drag3 {
    fn value(&self, _x: &[f64], v: &[f64]) -> Result<f64> {
        Ok(0.5 * self.0 * v.iter().map(|vi| vi * vi).sum::<f64>())
    }
    fn velocity_gradient(&self, _x: &[f64], v: &[f64], rv: &mut [f64]) -> Result<()> {
        for (r, vi) in rv.iter_mut().zip(v) {
            *r = self.0 * vi;
        }
        Ok(())
    }
}

/// One friction abstraction: the same law gives the same acceleration and dissipated power
/// in `Mechanics` (metric G = I) and in `LagrangianSystem` (L = ½|v|², so ∂²L/∂v² = I).
/// Scalar laws: ẍ = −ηv and power 2ηT, with η = η0 (`Constant`) and η = η0√T
/// (`SpeedDependent`). The Rayleigh function R = ½c|v|² is the resistance r = cv, so in
/// both systems it equals `Constant(c)`: ẍ = −cv, power c|v|².
#[test]
fn one_friction_law_means_the_same_in_mechanics_and_lagrangian_systems() {
    use geodyn_core::{Constant, Euclidean, Friction, Mechanics, SpeedDependent};
    let x = [0.3, -1.2, 0.8];
    let v = [0.7, 0.2, -1.1];
    let kin = 0.5 * v.iter().map(|vi| vi * vi).sum::<f64>();
    /// Accelerations and powers (Mechanics, LagrangianSystem).
    type Pair = ([f64; 3], [f64; 3], f64, f64);
    fn both<F: Friction + Clone>(law: F, x: &[f64], v: &[f64]) -> Pair {
        let mech = Mechanics::new(Euclidean::new(3), law.clone());
        let lag = LagrangianSystem::new(Free(1.0)).with_friction(law);
        let (mut am, mut al) = ([0.0; 3], [0.0; 3]);
        mech.acceleration(0.0, x, v, &mut am).unwrap();
        lag.acceleration(0.0, x, v, &mut al).unwrap();
        (am, al, mech.dissipated_power(0.0, x, v).unwrap(), lag.dissipated_power(0.0, x, v).unwrap())
    }
    let cases: [(&str, f64, Pair); 3] = [
        ("Constant(0.4)", 0.4, both(Constant(0.4), &x, &v)),
        ("SpeedDependent(0.5)", 0.5 * kin.sqrt(), both(SpeedDependent(0.5), &x, &v)),
        ("Rayleigh ½·0.4|v|²", 0.4, both(Drag3(0.4), &x, &v)),
    ];
    for (name, eta, (am, al, pm, pl)) in cases {
        for i in 0..3 {
            assert!((am[i] + eta * v[i]).abs() < 1e-15, "{name} Mechanics: a = {am:?}");
            assert!((al[i] + eta * v[i]).abs() < 1e-15, "{name} LagrangianSystem: a = {al:?}");
        }
        assert!((pm - 2.0 * eta * kin).abs() < 1e-14, "{name} Mechanics power {pm}");
        assert!((pl - 2.0 * eta * kin).abs() < 1e-14, "{name} LagrangianSystem power {pl}");
    }
}
