//! The `geodyn` binary: listing, user errors (one clear line, non-zero exit, no panic)
//! and a small deterministic run.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary in its own scratch working directory, so default outputs never collide.
fn geodyn(args: &[&str]) -> Output {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let cwd = std::env::temp_dir().join(format!("geodyn-cli-cwd-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&cwd).unwrap();
    Command::new(env!("CARGO_BIN_EXE_geodyn")).current_dir(&cwd).args(args).output().expect("run geodyn")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("geodyn-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
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
    let d = tmpdir("badrow");
    let p = csv(&d, "x,y\n0.1,0.2\n0.3,abc\n");
    assert_user_error(&geodyn(&["sample", "dims", "--data", p.to_str().unwrap()]), 1, &["line 3"]);
}

#[test]
fn non_finite_csv_value_is_one_line_error() {
    let d = tmpdir("nan");
    let p = csv(&d, "x,y\n0.1,0.2\n0.3,nan\n");
    assert_user_error(&geodyn(&["sample", "dims", "--data", p.to_str().unwrap()]), 1, &["line 3"]);
}

#[test]
fn safetensors_wrong_shape_names_the_tensor() {
    let d = tmpdir("shape");
    let m = small_model(&d, "1-4-1:tanh");
    let p = csv(&d, "x,y\n0.1,0.2\n0.3,0.5\n0.5,0.1\n");
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
    let d = tmpdir("missing");
    let m = small_model(&d, "1-4-1:tanh");
    let p = csv(&d, "x,y\n0.1,0.2\n0.3,0.5\n0.5,0.1\n");
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
    let d = tmpdir("vel");
    let m = small_model(&d, "1-4-1:tanh");
    let p = csv(&d, "x,y\n0.1,0.2\n0.3,0.5\n0.5,0.1\n0.7,-0.2\n");
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

/// A small run writes the three files; samples.npy is [S, K]; the same seed gives
/// bit-identical samples with 1 and 2 worker threads.
#[test]
fn small_run_writes_outputs_and_is_thread_count_independent() {
    let d = tmpdir("run");
    let run = |threads: &str, out: &Path| {
        let o = geodyn(&[
            "sample",
            "dims",
            "--arch",
            "1-6-1:tanh",
            "--epochs",
            "300",
            "--samples",
            "3",
            "--t1",
            "2",
            "--threads",
            threads,
            "--seed",
            "5",
            "--no-progress",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (a, b) = (d.join("a"), d.join("b"));
    run("1", &a);
    run("2", &b);
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
