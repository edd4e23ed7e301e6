//! Measurements behind the `stable` module docs. Run with
//! `cargo run --release -p geodyn-core --example integrator_study`.
//! They print right-hand-side counts and energy behaviour of Tsit5 and the
//! energy-projected method at equal tolerances; nothing is timed.
use geodyn_core::*;
use geodyn_testkit::objectives::AnisotropicQuartic;
use geodyn_testkit::rng::{uniform_vec, unit_vec};

/// Independent recount on the accepted states: (steps where H rose, largest rise).
fn increases<S: SecondOrderSystem>(sys: &S, sol: &Solution) -> (usize, f64) {
    let tr = sol.trajectory.as_ref().unwrap();
    let hs: Vec<f64> = tr.iter().map(|p| sys.energy(&p.x, &p.v).unwrap().total()).collect();
    let rises: Vec<f64> = hs.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0.0).collect();
    (rises.len(), rises.iter().cloned().fold(0.0, f64::max))
}

fn both(o: &IntegrateOptions) -> [IntegrateOptions; 2] {
    [o.clone(), o.clone().method(Method::ProjectedTsit5)]
}

/// Stiff DiMS (R^8, curvatures 1e-2 … 1e4) over [0, 1000] at the paper's tolerances,
/// against a reference H(1000) from both methods at atol 1e-12.
fn stiff_dims_long_horizon() {
    let k = 8;
    for &(eta0, seed) in &[(0.1, 1u64), (0.01, 2), (0.1, 3)] {
        let sys = Mechanics::dims(AnisotropicQuartic::stiff(), 1.0, 0.0, SpeedDependent(eta0)).unwrap();
        let (x0, v0) = (vec![0.0; k], unit_vec(k, seed));
        for &t1 in &[100.0, 300.0, 1000.0] {
            let reference = integrate(&sys, &x0, &v0, &IntegrateOptions::new(t1).tolerances(1e-12, 1e-13)).unwrap();
            let h_ref = reference.energy.unwrap().last;
            for (name, o) in ["tsit45", "projected"].iter().zip(both(&IntegrateOptions::new(t1).with_trajectory())) {
                let s = integrate(&sys, &x0, &v0, &o).unwrap();
                let (c, m) = increases(&sys, &s);
                let h = s.energy.unwrap().last;
                println!(
                    "eta0 {eta0} seed {seed} t1 {t1} {name}: rhs {} acc {} rej {} | H rose at {c} steps (max {m:.2e}) | H(t1) {h:.5e} vs ref {h_ref:.5e} ({:+.2}%)",
                    s.stats.rhs_evaluations,
                    s.stats.accepted_steps,
                    s.stats.rejected_steps,
                    100.0 * (h - h_ref) / h_ref
                );
            }
        }
    }
}

/// Global error against a tight reference, as the tolerance tightens.
fn stiff_dims_accuracy() {
    let k = 8;
    let sys = Mechanics::dims(AnisotropicQuartic::stiff(), 1.0, 0.0, SpeedDependent(0.1)).unwrap();
    let (x0, v0) = (vec![0.0; k], unit_vec(k, 1));
    for &t1 in &[5.0, 20.0, 50.0] {
        let r = integrate(&sys, &x0, &v0, &IntegrateOptions::new(t1).tolerances(1e-13, 1e-13)).unwrap();
        for &(atol, rtol) in &[(1e-6, 1e-7), (1e-8, 1e-9), (1e-10, 1e-10)] {
            let mut line = format!("t1 {t1} atol {atol:e}:");
            for (name, o) in ["tsit45", "projected"].iter().zip(both(&IntegrateOptions::new(t1).tolerances(atol, rtol)))
            {
                let s = integrate(&sys, &x0, &v0, &o).unwrap();
                let ex = s.x.iter().zip(&r.x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                let ev = s.v.iter().zip(&r.v).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                line += &format!(" {name} |Δx| {ex:.2e} |Δv| {ev:.2e} rhs {} |", s.stats.rhs_evaluations);
            }
            println!("{line}");
        }
    }
}

/// RLA geodesics on the stiff loss over [0, 1]: relative drift of T.
fn geodesic_kinetic_drift() {
    let k = 8;
    let sys = Mechanics::geodesic(LossGraph::new(AnisotropicQuartic::stiff()));
    for seed in 1..6u64 {
        let x0: Vec<f64> = uniform_vec(k, 100 + seed).iter().map(|z| 0.05 * z).collect();
        let v0 = unit_vec(k, seed);
        let t0 = sys.energy(&x0, &v0).unwrap().kinetic;
        let mut line = format!("seed {seed} T0 {t0:.3e}:");
        for (name, o) in ["tsit45", "projected"].iter().zip(both(&IntegrateOptions::new(1.0))) {
            let s = integrate(&sys, &x0, &v0, &o).unwrap();
            let t1 = sys.energy(&s.x, &s.v).unwrap().kinetic;
            line += &format!(" {name} drift {:+.2e} rhs {} |", (t1 - t0) / t0, s.stats.rhs_evaluations);
        }
        println!("{line}");
    }
}

/// Right-hand-side counts at the paper's tolerances over 10 seeds per problem family.
fn rhs_count_matrix() {
    fn run<S: SecondOrderSystem>(sys: &S, x0: &[f64], v0: &[f64], t1: f64) -> [usize; 2] {
        both(&IntegrateOptions::new(t1)).map(|o| integrate(sys, x0, v0, &o).unwrap().stats.rhs_evaluations)
    }
    let mut totals = std::collections::BTreeMap::<&str, [usize; 2]>::new();
    let mut add = |name, r: [usize; 2]| {
        let e = totals.entry(name).or_insert([0, 0]);
        e[0] += r[0];
        e[1] += r[1];
    };
    for seed in 1..11u64 {
        let stiff = AnisotropicQuartic::stiff;
        let mild = || AnisotropicQuartic::new(6, 0.1, 10.0, 1.0);
        let x8: Vec<f64> = uniform_vec(8, 100 + seed).iter().map(|z| 0.05 * z).collect();
        let x6: Vec<f64> = uniform_vec(6, 100 + seed).iter().map(|z| 0.3 * z).collect();
        add("geodesic stiff [0,1]", run(&Mechanics::geodesic(LossGraph::new(stiff())), &x8, &unit_vec(8, seed), 1.0));
        add("geodesic mild [0,1]", run(&Mechanics::geodesic(LossGraph::new(mild())), &x6, &unit_vec(6, seed), 1.0));
        let d = Mechanics::dims(mild(), 1.0, 0.0, SpeedDependent(0.1)).unwrap();
        add("dims mild [0,50]", run(&d, &[0.0; 6], &unit_vec(6, seed), 50.0));
        let d = Mechanics::dims(stiff(), 1.0, 0.0, SpeedDependent(0.1)).unwrap();
        add("dims stiff [0,50]", run(&d, &[0.0; 8], &unit_vec(8, seed), 50.0));
    }
    for (k, [a, b]) in totals {
        println!("{k}: tsit45 {a}, projected {b} ({:.3})", b as f64 / a as f64);
    }
}

fn main() {
    stiff_dims_long_horizon();
    stiff_dims_accuracy();
    geodesic_kinetic_drift();
    rhs_count_matrix();
}
