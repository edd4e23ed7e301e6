//! insta snapshots of what the `geodyn` command line shows a person: the help texts,
//! `geodyn list`, the exact message of every user error, and the summary.json of a
//! small deterministic run (floats rounded, wall times redacted, so the snapshot is
//! stable across runs). Review changes with `cargo xtask snap`.
use clap::{CommandFactory, Parser};
use geodyn_cli::{Cli, Command};
use std::path::Path;

fn fixture(name: &str) -> String {
    format!("tests/fixtures/cli/{name}")
}

/// A scratch directory, removed when the guard is dropped.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("geodyn-snap-{name}-")).tempdir().unwrap()
}

/// Runs `geodyn sample …` through the library and returns the error line the binary
/// prints, with the scratch directory replaced by `[tmp]`.
fn error_line(argv: &[&str], tmp: &Path) -> String {
    let mut full = vec!["geodyn", "sample"];
    full.extend_from_slice(argv);
    let msg = match Cli::try_parse_from(full) {
        Err(e) => return format!("usage error (exit {}): {}", e.exit_code(), e.kind()),
        Ok(cli) => {
            let Command::Sample(args) = cli.command else { unreachable!() };
            match geodyn_cli::sample(&args) {
                Ok(_) => "no error".to_string(),
                Err(e) => format!("error: {e} (exit {})", e.exit_code()),
            }
        }
    };
    msg.replace(&tmp.display().to_string(), "[tmp]")
}

#[test]
fn help_texts() {
    let mut cmd = Cli::command();
    insta::assert_snapshot!("help_geodyn", cmd.render_help().to_string());
    let sample = cmd.find_subcommand_mut("sample").unwrap();
    insta::assert_snapshot!("help_sample", sample.render_long_help().to_string());
}

#[test]
fn list_output() {
    insta::assert_snapshot!("list", geodyn_cli::list_text());
}

#[test]
fn user_error_messages() {
    let guard = scratch("errors");
    let tmp = guard.path();
    let out = tmp.join("out");
    let out = out.to_str().unwrap();
    let spec: geodyn_nn::ModelSpec = "1-4-1:tanh".parse().unwrap();
    let model = tmp.join("model.safetensors");
    let theta: Vec<f64> = (0..spec.num_params()).map(|i| 0.1 * i as f64 - 0.5).collect();
    geodyn_nn::weights::save_safetensors_file(&spec, &theta, geodyn_nn::weights::FloatDtype::F64, &model).unwrap();
    let model = model.to_str().unwrap();
    let vel = tmp.join("v.npy");
    geodyn_nn::npy::write_npy_file(&vel, &[2, 5], &[0.1; 10]).unwrap();
    let vel = vel.to_str().unwrap();
    let tiny = fixture("tiny.csv");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("unknown sampler", vec!["nuts", "--out", out]),
        ("missing data file", vec!["dims", "--data", "/nonexistent/train.csv", "--out", out]),
        ("unparsable CSV row", vec!["dims", "--data", "tests/fixtures/cli/bad_row.csv", "--out", out]),
        ("non-finite CSV value", vec!["dims", "--data", "tests/fixtures/cli/non_finite.csv", "--out", out]),
        ("unknown target column", vec!["dims", "--data", &tiny, "--target", "z", "--out", out]),
        ("bad architecture", vec!["dims", "--arch", "1-16-1:softsign", "--out", out]),
        ("backend not compiled in", vec!["rla", "--backend", "cuda", "--out", out]),
        ("architecture vs data", vec!["dims", "--data", &tiny, "--arch", "2-4-1:tanh", "--out", out]),
        (
            "tensor of the wrong shape",
            vec!["dims", "--data", &tiny, "--model", model, "--arch", "1-5-1:tanh", "--out", out],
        ),
        ("missing tensor", vec!["dims", "--data", &tiny, "--model", model, "--arch", "1-4-1-1:tanh", "--out", out]),
        (
            "missing model file",
            vec![
                "dims",
                "--data",
                &tiny,
                "--model",
                "/nonexistent/m.safetensors",
                "--arch",
                "1-4-1:tanh",
                "--out",
                out,
            ],
        ),
        (
            "velocities of the wrong shape",
            vec!["rla", "--data", &tiny, "--model", model, "--arch", "1-4-1:tanh", "--velocities", vel, "--out", out],
        ),
        ("non-positive noise", vec!["dims", "--noise-std=-1", "--out", out]),
        ("bad tolerance", vec!["dims", "--atol", "0", "--out", out]),
        ("unknown flag", vec!["dims", "--bogus"]),
    ];
    let mut text = String::new();
    for (name, argv) in &cases {
        text.push_str(&format!("{name}:\n  {}\n", error_line(argv, tmp)));
    }
    insta::assert_snapshot!("user_errors", text);
}

#[test]
fn summary_of_small_deterministic_run() {
    let guard = scratch("summary");
    let tmp = guard.path();
    let out = tmp.join("out");
    let argv = [
        "geodyn",
        "sample",
        "dims",
        "--data",
        "tests/fixtures/cli/tiny.csv",
        "--arch",
        "1-4-1:tanh",
        "--epochs",
        "200",
        "--samples",
        "2",
        "--t1",
        "3",
        "--seed",
        "1",
        "--threads",
        "1",
        "--no-progress",
        "--out",
        out.to_str().unwrap(),
    ];
    let Command::Sample(args) = Cli::try_parse_from(argv).unwrap().command else { unreachable!() };
    geodyn_cli::sample(&args).unwrap();
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Gradient norms at the mode are rounding noise (CPU-dependent): snapshot the bound.
    let at_rounding = |x: &serde_json::Value| -> serde_json::Value {
        match x.as_f64() {
            Some(g) if g < 1e-8 => "[< 1e-8]".into(),
            _ => x.clone(),
        }
    };
    v["map_grad_norm"] = at_rounding(&v["map_grad_norm"]);
    v["map_search"]["grad_norm"] = at_rounding(&v["map_search"]["grad_norm"]);
    round_floats(&mut v);
    v["data"] = "[data path]".into();
    for key in ["sampling_wall_time_s", "total_wall_time_s"] {
        v[key] = "[wall time]".into();
    }
    for s in v["per_sample"].as_array_mut().unwrap() {
        s["wall_time_s"] = "[wall time]".into();
    }
    insta::assert_json_snapshot!("summary_small_run", v);
}

/// Rounds every float to 4 significant digits (small runs are deterministic; rounding
/// keeps the snapshot stable against last-digit differences between CPUs).
fn round_floats(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(0.0);
            let r = if x == 0.0 {
                0.0
            } else {
                let e = 10f64.powi(3 - x.abs().log10().floor() as i32);
                (x * e).round() / e
            };
            *v = serde_json::json!(r);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(round_floats),
        serde_json::Value::Object(o) => o.values_mut().for_each(round_floats),
        _ => {}
    }
}
