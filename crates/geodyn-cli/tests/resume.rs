//! Nothing is lost on interruption: a run killed with SIGKILL part-way and continued
//! with `--resume` gives the same samples as an uninterrupted run with the same seed,
//! bit for bit.
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ARGS: &[&str] = &[
    "sample",
    "dims",
    "--arch",
    "1-6-1:tanh",
    "--epochs",
    "300",
    "--samples",
    "6",
    "--t1",
    "15",
    "--seed",
    "9",
    "--threads",
    "1",
    "--no-progress",
];

fn finished(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("samples"))
        .map(|d| d.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().ends_with(".json")).count())
        .unwrap_or(0)
}

#[test]
fn sigkill_then_resume_equals_uninterrupted_run() {
    let guard = tempfile::Builder::new().prefix("geodyn-resume-").tempdir().unwrap();
    let root = guard.path();
    let (full, cut) = (root.join("full"), root.join("cut"));
    let bin = env!("CARGO_BIN_EXE_geodyn");

    let st = Command::new(bin).args(ARGS).arg("--out").arg(&full).status().unwrap();
    assert!(st.success());

    let mut child = Command::new(bin).args(ARGS).arg("--out").arg(&cut).spawn().unwrap();
    let start = Instant::now();
    while finished(&cut) < 2 {
        assert!(start.elapsed() < Duration::from_secs(300), "no samples written");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("run ended before it could be interrupted: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let kept = finished(&cut);
    assert!((2..6).contains(&kept), "interrupted after {kept} samples");
    assert!(!cut.join("samples.npy").exists(), "the run was cut before its outputs");

    let st = Command::new(bin)
        .args(["sample", "--resume"])
        .arg(&cut)
        .args(["--threads", "2", "--no-progress"])
        .status()
        .unwrap();
    assert!(st.success());
    let a = std::fs::read(full.join("samples.npy")).unwrap();
    let b = std::fs::read(cut.join("samples.npy")).unwrap();
    assert_eq!(a, b, "resumed samples differ from the uninterrupted run");
}

/// A fresh run into a directory that holds another run's per-sample files computes every
/// sample itself: a `dims` run followed by an `rla` run with the same --out must report
/// geodesics (final time 1, a kinetic-energy drift), not the stored DiMS endpoints.
#[test]
fn a_fresh_run_never_takes_an_earlier_runs_samples() {
    let guard = tempfile::Builder::new().prefix("geodyn-fresh-").tempdir().unwrap();
    let out = guard.path().join("out");
    let bin = env!("CARGO_BIN_EXE_geodyn");
    let common =
        ["--arch", "1-6-1:tanh", "--epochs", "300", "--samples", "2", "--seed", "9", "--threads", "1", "--no-progress"];
    let run = |sampler: &str, extra: &[&str]| {
        let st = Command::new(bin)
            .args(["sample", sampler])
            .args(common)
            .args(extra)
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
        let samples = std::fs::read(out.join("samples.npy")).unwrap();
        (summary, samples)
    };
    let (dims, dims_samples) = run("dims", &["--t1", "3"]);
    let (rla, rla_samples) = run("rla", &[]);
    let times = |s: &serde_json::Value| -> Vec<f64> {
        s["per_sample"].as_array().unwrap().iter().map(|p| p["final_time"].as_f64().unwrap()).collect()
    };
    assert_eq!(times(&dims), vec![3.0, 3.0]);
    assert_eq!(times(&rla), vec![1.0, 1.0], "the rla run reported stored DiMS samples");
    assert!(rla["per_sample"].as_array().unwrap().iter().all(|p| p["kinetic_drift"].is_f64()));
    assert_ne!(dims_samples, rla_samples);
}
