//! geodyn's benchmarks (run by `cargo xtask bench`); prints markdown tables.
//!
//! 1. Cost of one right-hand side (`grad_and_curvature`) against one forward pass
//!    (`value`) of the MLP objective, for N ∈ {150, 1500, 15000} and widths {16, 64, 256}
//!    (1-W-W-1 GELU), measured in the same run.
//! 2. DiMS samples (κ = 1, η0 = 0.1, t1 = 50) and RLA samples (t = 1) on the Snelson
//!    workload of the issues (real data with the gap held out if
//!    ../shared/data/snelson_train.csv exists, else the embedded set; 1-16-16-1 GELU;
//!    atol 1e-6, rtol 1e-7) from the same four initial velocities, with Tsit5,
//!    projected Tsit5 and LossGraphRattle (the default): wall time, steps and RHS per sample, the largest step-to-step rise of
//!    H and for RLA the relative drift of the conserved kinetic energy.
//! 3. Samples per second with 1 and 2 threads (RLA, the default integrator).
//! 4. Per-RHS cost (`grad_and_curvature`) of the dfdx backend (CPU, f64) against the dual
//!    backend, 1-W-W-1 GELU at W ∈ {16, 64, 256}, N = 150, measured in the same run on one
//!    thread (dfdx's matmul runs inside a one-thread rayon pool). `--dfdx-only` runs just
//!    this table.
//!
//! `--quick` shrinks everything for a smoke run.
use geodyn_core::{Method, ModelObjective, Objective};
use geodyn_dual::MlpObjective;
use geodyn_nn::{Dataset, Loss, ModelSpec};
use geodyn_samplers::{LaplacePosterior, Registry, SamplerConfig, initial_velocity, run_samples};
use rand::SeedableRng;
use std::time::Instant;

fn time_per_call(iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..(iters / 10).max(1) {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() / iters as f64
}

fn synthetic(n: usize) -> Dataset {
    let xs: Vec<f64> = (0..n).map(|i| -0.5 + 7.0 * (i as f64 + 0.5) / n as f64).collect();
    let ys: Vec<f64> = xs.iter().map(|&x| geodyn_nn::data::snelson_like_mean(x) + 0.1 * (7.3 * x).sin()).collect();
    Dataset::regression(xs, 1, ys, 1).expect("finite")
}

/// Table 4: per-RHS cost of dfdx vs dual.
fn dfdx_vs_dual(quick: bool) {
    println!("\n## Per-RHS cost: dfdx (CPU, f64) vs dual (1-W-W-1 GELU, N = 150, one thread)\n");
    println!("| width | K | dual µs | dfdx µs | dfdx / dual | dfdx gradient µs | dfdx forward µs |");
    println!("|---|---|---|---|---|---|---|");
    let ws: &[usize] = if quick { &[16] } else { &[16, 64, 256] };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("rayon pool");
    for &w in ws {
        let spec: ModelSpec = format!("1-{w}-{w}-1:gelu").parse().expect("arch");
        let data = synthetic(150);
        let loss = Loss::gaussian(0.3).expect("σ");
        let dual = MlpObjective::new(spec.clone(), data.clone(), loss, 0.5).expect("dual");
        let dfdx = geodyn_dfdx::DfdxMlpObjective::new(spec.clone(), data, loss, 0.5).expect("dfdx");
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
        let theta = spec.init_params(&mut rng);
        let v = spec.init_params(&mut rng);
        let mut g = vec![0.0; theta.len()];
        let iters = ((2e7 / (150 * w * w) as f64) as usize).clamp(5, 2000);
        let (td, tx, tg, tf) = pool.install(|| {
            let td = time_per_call(iters, || {
                dual.grad_and_curvature(&theta, &v, &mut g).expect("dual");
            });
            let tx = time_per_call(iters, || {
                dfdx.grad_and_curvature(&theta, &v, &mut g).expect("dfdx");
            });
            let tg = time_per_call(iters, || {
                dfdx.gradient(&theta, &mut g).expect("dfdx gradient");
            });
            let tf = time_per_call(iters, || {
                dfdx.value(&theta).expect("dfdx value");
            });
            (td, tx, tg, tf)
        });
        println!(
            "| {w} | {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} |",
            theta.len(),
            td * 1e6,
            tx * 1e6,
            tx / td,
            tg * 1e6,
            tf * 1e6
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    faer::set_global_parallelism(faer::Par::Seq);
    if std::env::args().any(|a| a == "--dfdx-only") {
        dfdx_vs_dual(quick);
        return;
    }

    println!("## Cost of one RHS vs one forward pass (1-W-W-1 GELU)\n");
    println!("| N | width | K | forward (value) µs | grad_and_curvature µs | ratio |");
    println!("|---|---|---|---|---|---|");
    let ns: &[usize] = if quick { &[150] } else { &[150, 1500, 15000] };
    let ws: &[usize] = if quick { &[16] } else { &[16, 64, 256] };
    for &n in ns {
        for &w in ws {
            let spec: ModelSpec = format!("1-{w}-{w}-1:gelu").parse().expect("arch");
            let obj =
                MlpObjective::new(spec.clone(), synthetic(n), Loss::gaussian(0.3).expect("σ"), 0.5).expect("objective");
            let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
            let theta = spec.init_params(&mut rng);
            let v = spec.init_params(&mut rng);
            let mut g = vec![0.0; theta.len()];
            let work = (n * w * w) as f64;
            let iters = ((2e8 / work) as usize).clamp(3, 2000);
            let tf = time_per_call(iters, || {
                obj.value(&theta).expect("value");
            });
            let tc = time_per_call(iters, || {
                obj.grad_and_curvature(&theta, &v, &mut g).expect("curvature");
            });
            println!("| {n} | {w} | {} | {:.1} | {:.1} | {:.2} |", theta.len(), tf * 1e6, tc * 1e6, tc / tf);
        }
    }

    // The Snelson workload.
    let shared = std::path::Path::new("../shared/data/snelson_train.csv");
    let (split, source) = if shared.exists() {
        (geodyn_nn::CsvSpec::snelson().load(shared).expect("snelson csv"), "real Snelson (148 train, gap held out)")
    } else {
        (geodyn_nn::data::snelson_like(geodyn_nn::data::SNELSON_LIKE_SEED), "embedded Snelson-like")
    };
    let arch = if quick { "1-8-8-1:gelu" } else { "1-16-16-1:gelu" };
    let spec: ModelSpec = arch.parse().expect("arch");
    let (sigma, lambda) = (0.285, 0.209); // the tuned values on real Snelson
    let obj = MlpObjective::new(spec.clone(), split.train.clone(), Loss::gaussian(sigma).expect("σ"), lambda)
        .expect("objective");
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(0);
    let mut theta = spec.init_params(&mut rng);
    let adam = geodyn_nn::Adam { max_epochs: if quick { 2000 } else { 20000 }, ..geodyn_nn::Adam::default() };
    adam.minimize(&obj, &mut theta).expect("adam");
    // Adam stops short of a stationary point; samplers start from an exact mode, as the CLI's.
    let mode = geodyn_samplers::find_mode(&obj, &mut theta, &geodyn_samplers::ModeSearch::default()).expect("mode");
    let mode_line = format!(
        "MAP: {} Adam epochs (L = {:.4}, ‖∇L‖ = {:.2e}), then the exact mode: L = {:.4}, ‖∇L‖ = {:.1e}, smallest Hessian eigenvalue {:.2e}",
        adam.max_epochs,
        mode.initial_value,
        mode.initial_grad_norm,
        mode.value,
        mode.grad_norm,
        mode.min_hessian_eigenvalue.unwrap_or(f64::NAN)
    );
    let k = theta.len();
    // GGN posterior from K Jacobian columns
    let n = split.train.len();
    let probe =
        MlpObjective::new(spec.clone(), split.train.clone(), Loss::gaussian(1.0).expect("σ"), 0.0).expect("probe");
    let mut jac = vec![0.0; n * k];
    let (mut e, mut col) = (vec![0.0; k], vec![0.0; n]);
    for j in 0..k {
        e.fill(0.0);
        e[j] = 1.0;
        probe.jvp(&theta, &e, &mut col).expect("jvp");
        for i in 0..n {
            jac[i * k + j] = col[i];
        }
    }
    let spectrum = geodyn_samplers::GgnSpectrum::from_jacobian(n, k, &jac, &vec![1.0; n]).expect("spectrum");
    let post = LaplacePosterior::from_ggn(&spectrum, 1.0 / (sigma * sigma), lambda).expect("posterior");
    // Several samples: a DiMS trajectory's cost depends on where it goes (at the paper's
    // tolerance one sample's RHS count varies by 2× between initial velocities, and by
    // as much under rounding-level changes), so one sample is not a measurement.
    let per = if quick { 1 } else { 4 };
    let v0s: Vec<Vec<f64>> = (0..per).map(|i| initial_velocity(&post, 0, i, 1.0)).collect();

    println!(
        "\n## Samples on the Snelson workload ({source}, {arch}, K = {k}, σ = {sigma}, λ = {lambda}, atol 1e-6, rtol 1e-7, one core, velocities 0..{per})\n"
    );
    println!("{mode_line}\n");
    println!(
        "| sampler | integrator | samples | wall s per sample | accepted steps | rejected | RHS per sample (min–max)¹ | µs per RHS¹ | max H increase | T drift |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let reg = Registry::with_builtin();
    for sampler in ["rla", "dims"] {
        for integ in [Method::Tsit5, Method::ProjectedTsit5, Method::LossGraphRattle] {
            let t1 = if sampler == "dims" && quick { Some(5.0) } else { None };
            let cfg = SamplerConfig { integrator: integ, t1, ..SamplerConfig::default() };
            let s = reg.create(sampler, cfg).expect("sampler");
            let rs: Vec<_> = v0s.iter().map(|v0| s.sample_one(&obj, &theta, v0, 0).expect("sample")).collect();
            let m = rs.len() as f64;
            let wall: f64 = rs.iter().map(|r| r.wall_time_s).sum();
            let rhs: Vec<usize> = rs.iter().map(|r| r.rhs_evaluations).collect();
            let total: usize = rhs.iter().sum();
            let max_of = |f: &dyn Fn(&geodyn_samplers::SampleRecord) -> Option<f64>| {
                rs.iter().filter_map(f).fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))))
            };
            println!(
                "| {sampler}{} | {integ:?} | {} | {:.2} | {:.0} | {:.0} | {:.0} ({}–{}) | {:.1} | {:.2e} | {} |",
                t1.map(|t| format!(" (t1 = {t})")).unwrap_or_default(),
                rs.len(),
                wall / m,
                rs.iter().map(|r| r.accepted_steps as f64).sum::<f64>() / m,
                rs.iter().map(|r| r.rejected_steps as f64).sum::<f64>() / m,
                total as f64 / m,
                rhs.iter().min().copied().unwrap_or(0),
                rhs.iter().max().copied().unwrap_or(0),
                wall / total.max(1) as f64 * 1e6,
                max_of(&|r| r.max_energy_increase).unwrap_or(f64::NAN),
                max_of(&|r| r.kinetic_drift).map(|d| format!("{d:.2e}")).unwrap_or_else(|| "—".into()),
            );
        }
    }

    println!(
        "\n¹ For LossGraphRattle: loss gradients (no curvature term), not right-hand sides of the Runge–Kutta pairs."
    );

    println!("\n## Parallel samples (RLA, {:?})\n", SamplerConfig::default().integrator);
    println!("| threads | samples | wall s | samples/s |");
    println!("|---|---|---|---|");
    let s = reg.create("rla", SamplerConfig::default()).expect("rla");
    let count = if quick { 2 } else { 8 };
    let vs: Vec<Vec<f64>> = (0..count).map(|i| initial_velocity(&post, 0, i, 1.0)).collect();
    let mut rates = vec![];
    for threads in [1, 2] {
        let t = Instant::now();
        run_samples(s.as_ref(), &obj, &theta, &vs, threads, &|_| Ok(())).expect("samples");
        let wall = t.elapsed().as_secs_f64();
        rates.push(count as f64 / wall);
        println!("| {threads} | {count} | {wall:.2} | {:.3} |", count as f64 / wall);
    }
    println!("\nspeed-up with 2 threads: {:.2}x", rates[1] / rates[0]);

    dfdx_vs_dual(quick);
}
