//! Replays the fuzz corpora and crash artifacts through the fuzz properties, then runs
//! deterministic mutations of them for a time budget (see `fuzz/README.md`).
//!
//! - `fuzz/corpus/<target>/*`, `fuzz/artifacts/<target>/*` and the built-in seeds of
//!   `geodyn_cli::fuzzing::seeds` are replayed through the target's check;
//! - then mutations run for `GEODYN_FUZZ_SECONDS` seconds per target (default 1; the
//!   stable fallback of `cargo xtask fuzz` sets it), seeded by `GEODYN_FUZZ_SEED`.
//!
//! A panicking generated input is saved as `fuzz/artifacts/<target>/crash-<hash>` (so it
//! is replayed from then on) and fails the test. `GEODYN_FUZZ_WRITE_SEEDS=1` rewrites the
//! committed `fuzz/corpus/<target>/seed-*` files from the built-in seeds.

use geodyn_cli::fuzzing::{self, Check};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A single input taking longer than this counts as a hang.
const HANG: Duration = Duration::from_secs(10);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .unwrap_or(default)
}

fn show(input: &[u8]) -> String {
    let s: String = input.iter().take(400).flat_map(|&b| std::ascii::escape_default(b)).map(char::from).collect();
    if input.len() > 400 { format!("b\"{s}\"... ({} bytes)", input.len()) } else { format!("b\"{s}\"") }
}

fn run_target(name: &str) {
    let check: Check = fuzzing::target(name).expect("a registered target");
    let dir = fuzz_dir();
    let seeds = fuzzing::seeds(name);
    if std::env::var_os("GEODYN_FUZZ_WRITE_SEEDS").is_some() {
        let corpus = dir.join("corpus").join(name);
        std::fs::create_dir_all(&corpus).expect("corpus directory");
        for (file, bytes) in &seeds {
            std::fs::write(corpus.join(file), bytes).expect("writing a seed");
        }
    }

    // Replay: committed corpus, crash artifacts, built-in seeds.
    let mut inputs = fuzzing::read_inputs(&[dir.join("corpus").join(name), dir.join("artifacts").join(name)]);
    inputs.extend(seeds.into_iter().map(|(f, b)| (PathBuf::from(format!("<builtin {f}>")), b)));
    let mut slowest = (Duration::ZERO, PathBuf::new());
    for (path, bytes) in &inputs {
        let t = Instant::now();
        if let Err(p) = std::panic::catch_unwind(|| check(bytes)) {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("fuzz target {name}: {} panics: {msg:?}\ninput: {}", path.display(), show(bytes));
        }
        if t.elapsed() > slowest.0 {
            slowest = (t.elapsed(), path.clone());
        }
    }
    assert!(slowest.0 < HANG, "fuzz target {name}: {} takes {:?}", slowest.1.display(), slowest.0);

    // Generated inputs: deterministic mutations of everything replayed.
    let budget = Duration::from_secs_f64(env_f64("GEODYN_FUZZ_SECONDS", 1.0));
    let seed = std::env::var("GEODYN_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x6765_6f64_796e);
    let corpus: Vec<Vec<u8>> = inputs.into_iter().map(|(_, b)| b).collect();
    let target_seed = name.bytes().fold(seed, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let run = fuzzing::run_generated(check, &corpus, target_seed, budget);
    println!(
        "fuzz {name}: replayed {} inputs (slowest {:.1} ms), {} generated executions in {:.1} s (slowest {:.1} ms)",
        corpus.len(),
        slowest.0.as_secs_f64() * 1e3,
        run.executions,
        budget.as_secs_f64(),
        run.slowest.as_secs_f64() * 1e3
    );
    if let Some((input, msg)) = run.crash {
        let saved = fuzzing::save_artifact(&dir.join("artifacts").join(name), &input);
        panic!("fuzz target {name}: generated input panics: {msg}\nsaved as {saved:?}\ninput: {}", show(&input));
    }
    assert!(run.slowest < HANG, "fuzz target {name}: a generated input took {:?}", run.slowest);
}

#[test]
fn fuzz_safetensors() {
    run_target("safetensors");
}

#[test]
fn fuzz_csv() {
    run_target("csv");
}

#[test]
fn fuzz_npy() {
    run_target("npy");
}

#[test]
fn fuzz_cli() {
    run_target("cli");
}

#[test]
fn fuzz_integrate() {
    run_target("integrate");
}

#[test]
fn every_target_has_a_test_and_seeds() {
    let names: Vec<&str> = fuzzing::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["safetensors", "csv", "npy", "cli", "integrate"]);
    for n in names {
        assert!(!fuzzing::seeds(n).is_empty(), "{n} has seeds");
        assert!(fuzz_dir().join("fuzz_targets").join(format!("{n}.rs")).is_file(), "fuzz/fuzz_targets/{n}.rs exists");
    }
}
