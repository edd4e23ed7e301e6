//! The `geodyn` binary: listing, user errors (one clear line, non-zero exit, no panic)
//! and a small deterministic run.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary in its own scratch working directory, so default outputs never collide.
fn geodyn(args: &[&str]) -> Output {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let cwd = tempfile::Builder::new().prefix(&format!("geodyn-cli-cwd-{n}-")).tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_geodyn")).current_dir(cwd.path()).args(args).output().expect("run geodyn")
}

/// A scratch directory, removed when the guard is dropped.
fn tmpdir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("geodyn-cli-test-{name}-")).tempdir().unwrap()
}

/// Asserts a user error: exit code `code`, stderr exactly one line "error: …" containing
/// every `needle`, and no panic.
fn assert_user_error(out: &Output, code: i32, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` not in: {err}");
    }
}

fn small_model(dir: &Path, arch: &str) -> PathBuf {
    let spec: geodyn_nn::ModelSpec = arch.parse().unwrap();
    let theta: Vec<f64> = (0..spec.num_params()).map(|i| 0.3 * ((i * 7919 % 13) as f64 / 13.0 - 0.5)).collect();
    let p = dir.join("model.safetensors");
    geodyn_nn::weights::save_safetensors_file(&spec, &theta, geodyn_nn::weights::FloatDtype::F64, &p).unwrap();
    p
}

fn csv(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("train.csv");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn list_names_every_sampler_on_one_line() {
    let out = geodyn(&["list"]);
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = s.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(names, ["dims", "laplace", "rla"]);
}

#[test]
fn unknown_sampler_is_one_line_error() {
    assert_user_error(&geodyn(&["sample", "nuts"]), 1, &["unknown sampler `nuts`", "dims, laplace, rla"]);
}

#[test]
fn missing_data_file_is_one_line_error() {
    assert_user_error(&geodyn(&["sample", "dims", "--data", "/nonexistent/train.csv"]), 1, &["/nonexistent/train.csv"]);
}

#[test]
fn unparsable_csv_row_names_the_line() {
    let dir = tmpdir("badrow");
    let d = dir.path();
    let p = csv(d, "x,y\n0.1,0.2\n0.3,abc\n");
    assert_user_error(&geodyn(&["sample", "dims", "--data", p.to_str().unwrap()]), 1, &["line 3"]);
}

#[test]
fn non_finite_csv_value_is_one_line_error() {
    let dir = tmpdir("nan");
    let d = dir.path();
    let p = csv(d, "x,y\n0.1,0.2\n0.3,nan\n");
    assert_user_error(&geodyn(&["sample", "dims", "--data", p.to_str().unwrap()]), 1, &["line 3"]);
}

#[test]
fn safetensors_wrong_shape_names_the_tensor() {
    let dir = tmpdir("shape");
    let d = dir.path();
    let m = small_model(d, "1-4-1:tanh");
    let p = csv(d, "x,y\n0.1,0.2\n0.3,0.5\n0.5,0.1\n");
    let out = geodyn(&[
        "sample",
        "dims",
        "--data",
        p.to_str().unwrap(),
        "--model",
        m.to_str().unwrap(),
        "--arch",
        "1-5-1:tanh",
    ]);
    assert_user_error(&out, 1, &["0.weight"]);
}

#[test]
fn safetensors_missing_tensor_is_one_line_error() {
    let dir = tmpdir("missing");
    let d = dir.path();
    let m = small_model(d, "1-4-1:tanh");
    let p = csv(d, "x,y\n0.1,0.2\n0.3,0.5\n0.5,0.1\n");
    let out = geodyn(&[
        "sample",
        "dims",
        "--data",
        p.to_str().unwrap(),
        "--model",
        m.to_str().unwrap(),
        "--arch",
        "1-4-1-1:tanh",
    ]);
    assert_user_error(&out, 1, &["4.weight"]);
}

#[test]
fn velocities_of_wrong_length_are_one_line_error() {
    let dir = tmpdir("vel");
    let d = dir.path();
    let m = small_model(d, "1-4-1:tanh");
    let p = csv(d, "x,y\n0.1,0.2\n0.3,0.5\n0.5,0.1\n0.7,-0.2\n");
    let v = d.join("v.npy");
    geodyn_nn::npy::write_npy_file(&v, &[2, 5], &[0.1; 10]).unwrap();
    let out = geodyn(&[
        "sample",
        "rla",
        "--data",
        p.to_str().unwrap(),
        "--model",
        m.to_str().unwrap(),
        "--arch",
        "1-4-1:tanh",
        "--velocities",
        v.to_str().unwrap(),
    ]);
    assert_user_error(&out, 1, &["[S, 13]", "[2, 5]"]);
}

#[test]
fn bad_arch_is_one_line_error() {
    assert_user_error(&geodyn(&["sample", "dims", "--arch", "1-16-1:softsign"]), 1, &["softsign"]);
}

/// `geodyn sample dims` on the default problem, small (1-6-1 tanh, 300 Adam epochs,
/// 3 samples to t1 = 2), with `extra` options, into `out`; panics unless it succeeds.
fn small_dims_run(out: &Path, extra: &[&str]) {
    let mut argv = vec!["sample", "dims", "--arch", "1-6-1:tanh", "--epochs", "300", "--samples", "3", "--t1", "2"];
    argv.extend_from_slice(extra);
    let out_s = out.to_string_lossy();
    argv.extend_from_slice(&["--no-progress", "--out", &out_s]);
    let o = geodyn(&argv);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A small run writes the three files; samples.npy is [S, K]; the same seed gives
/// bit-identical samples with 1 and 2 worker threads.
#[test]
fn small_run_writes_outputs_and_is_thread_count_independent() {
    let dir = tmpdir("run");
    let d = dir.path();
    let (a, b) = (d.join("a"), d.join("b"));
    small_dims_run(&a, &["--threads", "1", "--seed", "5"]);
    small_dims_run(&b, &["--threads", "2", "--seed", "5"]);
    for f in ["samples.npy", "summary.json", "function_space.svg"] {
        assert!(a.join(f).is_file(), "{f} missing");
    }
    let arr = geodyn_nn::npy::read_npy_file(a.join("samples.npy")).unwrap();
    assert_eq!(arr.shape, vec![3, 19]);
    assert_eq!(std::fs::read(a.join("samples.npy")).unwrap(), std::fs::read(b.join("samples.npy")).unwrap());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["sampler"], "dims");
    assert_eq!(summary["per_sample"].as_array().unwrap().len(), 3);
    assert!(summary["per_sample"][0]["rhs_evaluations"].as_u64().unwrap() > 0);
}

/// summary.json splits the negative log posterior L = D + ½λ|θ|² (D = Σ(f−y)²/(2σ²), the
/// data term) at the MAP and at every sample: L − D equals ½λ|θ|² computed here from
/// map.npy and samples.npy, to rounding (a data term evaluated with the prior, or with
/// another λ, fails this).
#[test]
fn summary_splits_final_losses_into_data_and_prior_terms() {
    let dir = tmpdir("split");
    let out = dir.path().join("out");
    small_dims_run(&out, &["--prior-precision", "0.7"]);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let lambda = s["prior_precision"].as_f64().unwrap();
    assert_eq!(lambda, 0.7);
    let half_lambda_sq = |t: &[f64]| 0.5 * lambda * t.iter().map(|x| x * x).sum::<f64>();
    let check = |total: f64, data: f64, theta: &[f64], what: &str| {
        let prior = half_lambda_sq(theta);
        assert!(data > 0.0 && prior > 0.0, "{what}: D = {data}, prior {prior}");
        assert!(
            ((total - data) - prior).abs() <= 1e-12 * total,
            "{what}: L − D = {} vs ½λ|θ|² = {prior}",
            total - data
        );
    };
    let map = geodyn_nn::npy::read_npy_file(out.join("map.npy")).unwrap().data;
    check(s["map_train_loss"].as_f64().unwrap(), s["map_data_loss"].as_f64().unwrap(), &map, "MAP");
    let samples = geodyn_nn::npy::read_npy_file(out.join("samples.npy")).unwrap();
    let k = map.len();
    let per_sample = s["per_sample"].as_array().unwrap();
    assert_eq!(per_sample.len(), 3);
    for (i, r) in per_sample.iter().enumerate() {
        let theta = &samples.data[i * k..(i + 1) * k];
        check(r["final_loss"].as_f64().unwrap(), r["final_data_loss"].as_f64().unwrap(), theta, &format!("sample {i}"));
    }
}

/// `--standardize` fits the affine maps on the training rows only (held-out rows excluded)
/// and reports them; the run is invariant to an affine change of units of the data: with
/// x → a·x + b and y → c·y + d the standardised problem is the same, so the MAP and the
/// evidence agree up to rounding, and the recorded means and scales follow the change of
/// units. (Samples are not compared: eigenvector signs of the posterior may flip under
/// rounding-level changes, which changes the drawn velocities.)
#[test]
fn standardize_is_invariant_to_the_units_of_the_data() {
    let dir = tmpdir("standardize");
    let d = dir.path();
    let rows = |a: f64, b: f64, c: f64, dd: f64| {
        let mut t = String::from("x,y,gap\n");
        for i in 0..40 {
            let x = -2.0 + 4.0 * i as f64 / 39.0;
            let y = (1.7 * x).sin() + 0.1 * x;
            let gap = i32::from((0.5..=1.0).contains(&x));
            t.push_str(&format!("{},{},{gap}\n", a * x + b, c * y + dd));
        }
        t
    };
    let run = |name: &str, text: &str| -> (serde_json::Value, Vec<f64>) {
        let dir = d.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let data = csv(&dir, text);
        let out = dir.join("out");
        let o = geodyn(&[
            "sample",
            "rla",
            "--data",
            data.to_str().unwrap(),
            "--holdout",
            "gap",
            "--standardize",
            "--arch",
            "1-6-1:tanh",
            "--epochs",
            "300",
            "--samples",
            "2",
            "--noise-std",
            "0.3",
            "--prior-precision",
            "1.0",
            "--no-progress",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        (summary, geodyn_nn::npy::read_npy_file(out.join("map.npy")).unwrap().data)
    };
    let (s1, t1) = run("unit", &rows(1.0, 0.0, 1.0, 0.0));
    let (s2, t2) = run("scaled", &rows(250.0, -40.0, 1e3, 7.0));
    let st1 = &s1["standardization"];
    let st2 = &s2["standardization"];
    let f = |v: &serde_json::Value| v[0].as_f64().unwrap();
    // Training rows only (x in [0.5, 1] held out), so the input mean is not 0.
    assert!(s1["held_out_points"].as_u64().unwrap() > 0);
    assert!(f(&st1["input_mean"]) < -1e-2);
    assert!((f(&st2["input_mean"]) - (250.0 * f(&st1["input_mean"]) - 40.0)).abs() < 1e-9);
    assert!((f(&st2["input_scale"]) - 250.0 * f(&st1["input_scale"])).abs() < 1e-9);
    assert!((f(&st2["target_mean"]) - (1e3 * f(&st1["target_mean"]) + 7.0)).abs() < 1e-6);
    assert!((f(&st2["target_scale"]) - 1e3 * f(&st1["target_scale"])).abs() < 1e-6);
    assert!(t1.len() == t2.len() && !t1.is_empty());
    let diff = t1.iter().zip(&t2).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(diff < 1e-6, "MAPs differ by {diff} between units");
    let (e1, e2) = (s1["log_evidence"].as_f64().unwrap(), s2["log_evidence"].as_f64().unwrap());
    assert!((e1 - e2).abs() < 1e-6 * e1.abs().max(1.0), "evidence {e1} vs {e2}");
}

/// `--standardize` with `--model` is refused: the network was trained on raw data.
#[test]
fn standardize_with_a_model_is_one_line_error() {
    let dir = tmpdir("standardize-model");
    let d = dir.path();
    let model = small_model(d, "1-4-1:tanh");
    let data = csv(d, "x,y\n0,1\n1,2\n2,3\n");
    let o = geodyn(&[
        "sample",
        "laplace",
        "--model",
        model.to_str().unwrap(),
        "--arch",
        "1-4-1:tanh",
        "--data",
        data.to_str().unwrap(),
        "--standardize",
        "--no-progress",
        "--out",
        d.join("out").to_str().unwrap(),
    ]);
    assert_user_error(&o, 1, &["--standardize", "--model"]);
}

/// A user's network is sampled from as it is (no mode search, its own ‖∇L‖ reported);
/// `--polish` first moves it to an exact mode: ‖∇L‖ at rounding level, a positive
/// definite Hessian, and a loss no higher than the network's own. `--polish` without
/// `--model` is refused by the parser.
#[test]
fn polish_moves_a_user_network_to_a_mode() {
    let dir = tmpdir("polish");
    let d = dir.path();
    let model = small_model(d, "1-4-1:tanh");
    let run = |polish: bool, out: &Path| -> serde_json::Value {
        let mut argv = vec![
            "sample",
            "rla",
            "--model",
            model.to_str().unwrap(),
            "--arch",
            "1-4-1:tanh",
            "--noise-std",
            "0.3",
            "--prior-precision",
            "0.5",
            "--samples",
            "2",
            "--no-progress",
            "--out",
            out.to_str().unwrap(),
        ];
        if polish {
            argv.push("--polish");
        }
        let o = geodyn(&argv);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
    };
    let as_is = run(false, &d.join("as-is"));
    let polished = run(true, &d.join("polished"));
    assert!(as_is["map_search"].is_null());
    assert!(as_is["map_grad_norm"].as_f64().unwrap() > 1e-3, "the synthetic weights are not a mode");
    let search = &polished["map_search"];
    let loss = polished["map_train_loss"].as_f64().unwrap();
    assert_eq!(search["converged"], true, "{search}");
    assert!(polished["map_grad_norm"].as_f64().unwrap() <= 1e-10 * loss.max(1.0));
    assert!(search["min_hessian_eigenvalue"].as_f64().unwrap() > 0.0, "{search}");
    assert!(loss <= as_is["map_train_loss"].as_f64().unwrap());
    assert_eq!(search["initial_value"], as_is["map_train_loss"]);
    let o = geodyn(&["sample", "rla", "--polish", "--no-progress"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `--integrator energy-projected-dopri5` reaches the integrator: on the same seed and
/// network the step counts differ from the energy-projected Tsitouras pair's, H never
/// rises at an accepted DiMS step (max increase ≤ rounding), and RLA geodesics conserve T
/// to 1e-6 relative, as for the energy-projected Tsitouras method.
#[test]
fn dopri5_integrator_is_selectable_and_keeps_the_invariants() {
    let dir = tmpdir("dopri5");
    let d = dir.path();
    let run = |sampler: &str, integrator: Option<&str>, out: &Path| -> serde_json::Value {
        let mut args = vec![
            "sample",
            sampler,
            "--arch",
            "1-6-1:tanh",
            "--epochs",
            "300",
            "--samples",
            "2",
            "--t1",
            "2",
            "--seed",
            "5",
            "--threads",
            "1",
            "--no-progress",
            "--out",
        ];
        args.push(out.to_str().unwrap());
        if let Some(i) = integrator {
            args.extend(["--integrator", i]);
        }
        let o = geodyn(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
    };
    let steps = |s: &serde_json::Value| -> Vec<u64> {
        s["per_sample"].as_array().unwrap().iter().map(|r| r["accepted_steps"].as_u64().unwrap()).collect()
    };
    let dp5 = run("dims", Some("energy-projected-dopri5"), &d.join("dp5"));
    let tsit = run("dims", Some("energy-projected"), &d.join("tsit"));
    assert_ne!(steps(&dp5), steps(&tsit), "the flag did not change the integrator");
    for r in dp5["per_sample"].as_array().unwrap() {
        let rise = r["max_energy_increase"].as_f64().unwrap();
        assert!(rise <= 1e-12, "H rose by {rise:e}");
    }
    let rla = run("rla", Some("energy-projected-dopri5"), &d.join("rla"));
    for r in rla["per_sample"].as_array().unwrap() {
        let drift = r["kinetic_drift"].as_f64().unwrap();
        assert!(drift <= 1e-6, "T drift {drift:e}");
    }
}

/// `--integrator` takes the canonical names and the 0.1 spellings, which name the same
/// method; an unknown name is one clear line that lists the valid ones; run.json files
/// written by geodyn 0.1 (variant names such as "GraphRattle") still deserialise.
#[test]
fn integrator_names_and_old_spellings_parse_to_one_method() {
    use clap::Parser;
    use geodyn_cli::{Cli, Command as Sub};
    use geodyn_core::Method;
    let parse = |name: &str| match Cli::try_parse_from(["geodyn", "sample", "dims", "--integrator", name]) {
        Ok(Cli { command: Sub::Sample(a) }) => Ok(a.integrator),
        Ok(_) => panic!("not a sample command"),
        Err(e) => Err(e.to_string()),
    };
    for (new, old, method) in [
        ("tsit5", "tsit45", Method::Tsit5),
        ("projected-tsit5", "energy-projected", Method::ProjectedTsit5),
        ("projected-dopri5", "energy-projected-dopri5", Method::ProjectedDopri5),
        ("loss-graph-rattle", "graph-rattle", Method::LossGraphRattle),
    ] {
        assert_eq!(parse(new), Ok(method), "{new}");
        assert_eq!(parse(old), Ok(method), "{old}");
    }
    let err = parse("rk4").unwrap_err();
    assert!(err.contains("rk4") && err.contains("loss-graph-rattle"), "{err}");
    for (json, method) in [("\"GraphRattle\"", Method::LossGraphRattle), ("\"Tsit45\"", Method::Tsit5)] {
        assert_eq!(serde_json::from_str::<Method>(json).unwrap(), method);
    }
    assert_eq!(serde_json::to_string(&Method::ProjectedDopri5).unwrap(), "\"projected-dopri5\"");
}
