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
