//! Replays the fuzz corpora and crash artifacts through the fuzz properties, then runs a
//! fixed number of deterministic generated inputs per target (see `fuzz/README.md`).
//!
//! - `fuzz/corpus/<target>/*`, `fuzz/artifacts/<target>/*` (libFuzzer's crashes,
//!   git-ignored) and the built-in seeds of `geodyn_fuzz_props::seeds` are replayed
//!   through the target's check;
//! - then `GEODYN_FUZZ_ITERATIONS` mutations of them per target (default
//!   [`DEFAULT_ITERATIONS`]), drawn from ChaCha8 seeded by `GEODYN_FUZZ_SEED` on one
//!   stream per target: the same inputs on every run. `GEODYN_FUZZ_SECONDS=N` replaces
//!   the count with a wall-clock budget of N seconds per target; only the stable
//!   fallback of `cargo xtask fuzz` sets it.
//!
//! A panicking generated input fails the test and is saved as `crash-<hash>` under
//! `$GEODYN_FUZZ_SAVE/<target>/` when that variable is set (for example
//! `GEODYN_FUZZ_SAVE=fuzz/artifacts`, where it is replayed from then on), otherwise under
//! the build directory, `<target dir>/tmp/fuzz-artifacts/<target>/`; never in the source
//! tree unless asked.
//!
//! `committed_seeds_are_the_builtin_seeds` checks that the committed
//! `fuzz/corpus/<target>/seed-*` files are the built-in seeds byte for byte;
//! `GEODYN_FUZZ_WRITE_SEEDS=1` rewrites them first.

use geodyn_fuzz_props::{self as props, Budget, Check, TARGETS};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Generated inputs per target under plain `cargo test`.
const DEFAULT_ITERATIONS: usize = 5_000;

/// The default of `GEODYN_FUZZ_SEED`.
const DEFAULT_SEED: u64 = 0x6765_6f64_796e;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    let s = std::env::var(name).ok()?;
    Some(s.parse().unwrap_or_else(|_| panic!("{name}={s:?} does not parse")))
}

/// The generated-input budget: `GEODYN_FUZZ_SECONDS` if set, else the iteration count.
fn budget() -> Budget {
    match env_parse::<f64>("GEODYN_FUZZ_SECONDS") {
        Some(s) if s.is_finite() && s >= 0.0 => Budget::Time(Duration::from_secs_f64(s)),
        Some(s) => panic!("GEODYN_FUZZ_SECONDS={s} is not a duration"),
        None => Budget::Iterations(env_parse("GEODYN_FUZZ_ITERATIONS").unwrap_or(DEFAULT_ITERATIONS)),
    }
}

/// Where a crashing generated input of `name` is saved.
fn artifact_dir(name: &str) -> PathBuf {
    let base = match std::env::var_os("GEODYN_FUZZ_SAVE") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-artifacts"),
    };
    base.join(name)
}

fn show(input: &[u8]) -> String {
    let s: String = input.iter().take(400).flat_map(|&b| std::ascii::escape_default(b)).map(char::from).collect();
    if input.len() > 400 { format!("b\"{s}\"... ({} bytes)", input.len()) } else { format!("b\"{s}\"") }
}

fn run_target(name: &str) {
    let check: Check = props::target(name).expect("a registered target");
    let stream = TARGETS.iter().position(|(n, _)| *n == name).expect("a registered target") as u64;
    let dir = fuzz_dir();

    // Replay: committed corpus, crash artifacts, built-in seeds.
    let mut inputs = props::read_inputs(&[dir.join("corpus").join(name), dir.join("artifacts").join(name)]);
    inputs.extend(props::seeds(name).into_iter().map(|(f, b)| (PathBuf::from(format!("<builtin {f}>")), b)));
    let mut slowest = Duration::ZERO;
    for (path, bytes) in &inputs {
        let t = Instant::now();
        if let Err(p) = std::panic::catch_unwind(|| check(bytes)) {
            let msg = props::mutate::panic_message(p.as_ref());
            panic!("fuzz target {name}: {} panics: {msg}\ninput: {}", path.display(), show(bytes));
        }
        slowest = slowest.max(t.elapsed());
    }

    // Generated inputs: deterministic mutations of everything replayed.
    let budget = budget();
    let seed = env_parse("GEODYN_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let corpus: Vec<Vec<u8>> = inputs.into_iter().map(|(_, b)| b).collect();
    let start = Instant::now();
    let run = props::run_generated(check, &corpus, &mut props::generator(seed, stream), budget);
    // `cargo xtask fuzz --fallback` reads the number before " generated executions".
    println!(
        "fuzz {name}: replayed {} inputs (slowest {:.1} ms), {} generated executions ({budget:?}, seed {seed}) in {:.1} s (slowest {:.1} ms)",
        corpus.len(),
        slowest.as_secs_f64() * 1e3,
        run.executions,
        start.elapsed().as_secs_f64(),
        run.slowest.as_secs_f64() * 1e3
    );
    if let Some((input, msg)) = run.crash {
        let saved = props::save_artifact(&artifact_dir(name), &input);
        panic!("fuzz target {name}: generated input panics: {msg}\nsaved as {saved:?}\ninput: {}", show(&input));
    }
    if let Budget::Iterations(n) = budget {
        assert_eq!(run.executions, n, "fuzz target {name}: every generated input ran");
    }
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
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["safetensors", "csv", "npy", "cli", "integrate"]);
    for n in names {
        assert!(!props::seeds(n).is_empty(), "{n} has seeds");
        assert!(fuzz_dir().join("fuzz_targets").join(format!("{n}.rs")).is_file(), "fuzz/fuzz_targets/{n}.rs exists");
    }
}

/// The committed `seed-*` files are exactly the built-in seeds (none missing, none
/// stale, same bytes), so the seed generators cannot drift from what is replayed.
#[test]
fn committed_seeds_are_the_builtin_seeds() {
    let write = std::env::var_os("GEODYN_FUZZ_WRITE_SEEDS").is_some();
    for (name, _) in TARGETS {
        let corpus = fuzz_dir().join("corpus").join(name);
        let seeds = props::seeds(name);
        if write {
            std::fs::create_dir_all(&corpus).expect("corpus directory");
            for (file, bytes) in &seeds {
                std::fs::write(corpus.join(file), bytes).expect("writing a seed");
            }
        }
        let mut committed: Vec<(String, Vec<u8>)> = props::read_inputs(std::slice::from_ref(&corpus))
            .into_iter()
            .map(|(p, b)| (p.file_name().unwrap().to_string_lossy().into_owned(), b))
            .filter(|(f, _)| f.starts_with("seed-"))
            .collect();
        committed.sort();
        let mut builtin = seeds;
        builtin.sort();
        let files = |v: &[(String, Vec<u8>)]| v.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>();
        assert_eq!(files(&committed), files(&builtin), "{name}: committed seed files vs built-in seeds");
        for ((file, c), (_, b)) in committed.iter().zip(&builtin) {
            assert!(c == b, "{name}/{file}: the committed bytes differ from the built-in seed");
        }
    }
}

/// The same seed and stream give the same generated inputs; another stream others.
#[test]
fn generated_inputs_are_deterministic() {
    let corpus: Vec<Vec<u8>> = props::seeds("csv").into_iter().map(|(_, b)| b).collect();
    let draw = |stream| {
        let mut rng = props::generator(DEFAULT_SEED, stream);
        let mut out = Vec::new();
        (0..50)
            .map(|_| {
                props::mutate(&mut rng, &corpus, &mut out);
                out.clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
}
