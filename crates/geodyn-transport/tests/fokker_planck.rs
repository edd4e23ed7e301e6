//! Oracles for the Scharfetter–Gummel Fokker–Planck solver.

use geodyn_transport::{FokkerPlanck1d, GridDensity1d, bernoulli};

fn gaussian(m: f64, v: f64) -> impl Fn(f64) -> f64 {
    move |x| (-(x - m) * (x - m) / (2.0 * v)).exp() / (2.0 * std::f64::consts::PI * v).sqrt()
}

#[test]
fn bernoulli_function_values_and_symmetry() {
    assert_eq!(bernoulli(0.0), 1.0);
    for z in [1e-12f64, 1e-6, 0.3, -2.0, 15.0, -40.0, 300.0] {
        let want = if z == 0.0 { 1.0 } else { z / z.exp_m1() };
        assert!((bernoulli(z) - want).abs() <= 1e-15 * want.abs().max(1.0));
        // B(−z) = e^z B(z) (the discrete detailed balance).
        let lhs = bernoulli(-z);
        let rhs = z.exp() * bernoulli(z);
        assert!((lhs - rhs).abs() <= 1e-14 * lhs.abs(), "z {z}: {lhs} vs {rhs}");
    }
}

#[test]
fn double_well_conserves_mass_keeps_positivity_and_dissipates_free_energy() {
    let beta = 3.0;
    let mut fp = FokkerPlanck1d::new(-2.5, 2.5, 300, beta, |x| (x * x - 1.0).powi(2)).unwrap();
    let rho0 = GridDensity1d::from_fn(-2.5, 2.5, 300, gaussian(0.6, 0.02)).unwrap();
    let run = fp.run(&rho0, 0.01, 400).unwrap();
    let m0 = run.mass[0];
    let mass_err = run.mass.iter().map(|m| (m - m0).abs()).fold(0.0, f64::max);
    let rise = run.free_energy.windows(2).map(|w| w[1] - w[0]).fold(f64::NEG_INFINITY, f64::max);
    println!(
        "double well: mass drift {mass_err:e}, min density {:e}, largest free-energy change {rise:e}",
        run.min_density
    );
    assert!(mass_err < 1e-12 * m0);
    assert!(run.min_density > 0.0);
    // Every step dissipates (a rounding allowance of 1e-13 relative near equilibrium).
    for (k, w) in run.free_energy.windows(2).enumerate() {
        assert!(w[1] <= w[0] + 1e-13 * w[0].abs().max(1.0), "step {k}: {} -> {}", w[0], w[1]);
    }
    assert!(run.free_energy[0] - run.free_energy[400] > 0.1);
}

#[test]
fn steady_state_is_the_discrete_gibbs_density() {
    let beta = 2.0;
    let v = |x: f64| (x * x - 1.0).powi(2) + 0.3 * x;
    let mut fp = FokkerPlanck1d::new(-2.0, 2.0, 200, beta, v).unwrap();
    let pi = fp.gibbs();
    // From a uniform start with long steps (backward Euler contracts by 1/(1 + Δt λ₁) per step).
    let mut rho = GridDensity1d::new(-2.0, 2.0, vec![0.25; 200]).unwrap();
    for _ in 0..60 {
        fp.step(&mut rho, 50.0).unwrap();
    }
    let top = pi.values().iter().copied().fold(0.0, f64::max);
    let err = rho.values().iter().zip(pi.values()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / top;
    println!("distance to the discrete Gibbs density after 60 long steps: {err:e}");
    assert!(err < 1e-10, "{err:e}");
    // The Gibbs density is a fixed point of one step.
    let mut p = pi.clone();
    fp.step(&mut p, 0.1).unwrap();
    let fixed = p.values().iter().zip(pi.values()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / top;
    assert!(fixed < 1e-13, "{fixed:e}");
}

/// Max error of mean and variance over [0, T] against the OU closed forms, for step `dt`.
fn ou_errors(dt: f64) -> (f64, f64) {
    let (beta, lo, hi, n) = (2.0, -6.0, 6.0, 600);
    let mut fp = FokkerPlanck1d::new(lo, hi, n, beta, |x| 0.5 * x * x).unwrap();
    let rho0 = GridDensity1d::from_fn(lo, hi, n, gaussian(1.0, 0.1)).unwrap();
    let steps = (1.0 / dt).round() as usize;
    let run = fp.run(&rho0, dt, steps).unwrap();
    let (m0, v0) = (run.mean[0], run.variance[0]);
    let mut em = 0.0f64;
    let mut ev = 0.0f64;
    for ((t, m), v) in run.times.iter().zip(&run.mean).zip(&run.variance) {
        em = em.max((m - m0 * (-t).exp()).abs());
        ev = ev.max((v - (1.0 / beta + (v0 - 1.0 / beta) * (-2.0 * t).exp())).abs());
    }
    (em, ev)
}

#[test]
fn ornstein_uhlenbeck_moments_follow_the_closed_form_at_first_order_in_dt() {
    // V = x²/2: m(t) = m₀e^{−t}, v(t) = 1/β + (v₀ − 1/β)e^{−2t}.
    let dts = [0.02, 0.01, 0.005];
    let errs: Vec<(f64, f64)> = dts.iter().map(|&dt| ou_errors(dt)).collect();
    println!("OU max errors (mean, variance) at dt = {dts:?}: {errs:?}");
    let slope = |e: &[f64]| {
        // Least-squares slope of log e against log dt.
        let xs: Vec<f64> = dts.iter().map(|d| d.ln()).collect();
        let ys: Vec<f64> = e.iter().map(|e| e.ln()).collect();
        let (mx, my) = (xs.iter().sum::<f64>() / 3.0, ys.iter().sum::<f64>() / 3.0);
        xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum::<f64>()
            / xs.iter().map(|x| (x - mx).powi(2)).sum::<f64>()
    };
    let sm = slope(&errs.iter().map(|e| e.0).collect::<Vec<_>>());
    let sv = slope(&errs.iter().map(|e| e.1).collect::<Vec<_>>());
    println!("fitted orders in dt: mean {sm:.3}, variance {sv:.3}");
    assert!((sm - 1.0).abs() < 0.15 && (sv - 1.0).abs() < 0.15, "{sm} {sv}");
    assert!(errs[2].0 < 5e-3 && errs[2].1 < 5e-3, "{:?}", errs[2]);
}

#[test]
fn free_energy_is_relative_entropy_to_the_gibbs_density() {
    // F_h(ρ) − F_h(π) = β⁻¹ KL_h(ρ‖π) and F_h(π) = −β⁻¹ log Z_h, with Z_h = Σ e^{−βVᵢ} Δx.
    let beta = 1.5;
    let fp = FokkerPlanck1d::new(-3.0, 3.0, 120, beta, |x| 0.5 * x * x + 0.2 * x.powi(3).sin()).unwrap();
    let pi = fp.gibbs();
    let dx = pi.dx();
    let z: f64 = fp.potential().iter().map(|v| (-beta * v).exp()).sum::<f64>() * dx;
    let f_pi = fp.free_energy(&pi).unwrap();
    assert!((f_pi + z.ln() / beta).abs() < 1e-13, "{f_pi} vs {}", -z.ln() / beta);
    let rho = GridDensity1d::from_fn(-3.0, 3.0, 120, gaussian(0.5, 0.3)).unwrap();
    let mut rho = rho;
    rho.normalize().unwrap();
    let kl: f64 = rho.values().iter().zip(pi.values()).map(|(r, p)| r * (r / p).ln()).sum::<f64>() * dx;
    let lhs = fp.free_energy(&rho).unwrap() - f_pi;
    assert!((lhs - kl / beta).abs() < 1e-12, "{lhs} vs {}", kl / beta);
}
