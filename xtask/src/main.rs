//! Project tasks: `cargo xtask test | snap | fuzz | bench`.
//!
//! - `test`: every test of the workspace, doctests included (the README's and CI's test command).
//! - `snap`: review pending insta snapshots (`cargo insta review`; installs cargo-insta if missing).
//! - `fuzz [TARGET] [--seconds N] [--fallback]`: run fuzz targets, libFuzzer or the stable fallback (see `fuzz/README.md`).
//! - `bench`: run the benchmarks and print their tables.
//! - `lint`: clippy (when installed) and rustdoc over the workspace, warnings as errors.
//! - `check-cuda`: type-check the `cuda` feature (dfdx's CUDA device) without a CUDA toolkit.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type DynError = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("snap") => snap(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("lint") => lint(),
        Some("check-cuda") => check_cuda(),
        _ => {
            eprintln!("usage: cargo xtask <test|snap|fuzz [TARGET] [--seconds N]|bench|lint|check-cuda>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<(), DynError> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(cargo).current_dir(project_root()).args(args).envs(envs.iter().copied()).status()?;
    if status.success() { Ok(()) } else { Err(format!("`cargo {}` failed: {status}", args.join(" ")).into()) }
}

/// All workspace tests (unit, integration, doctests) in the dev profile, with snapshot
/// updates disabled so a changed snapshot fails instead of being rewritten.
fn test(extra: &[String]) -> Result<(), DynError> {
    let mut args = vec!["test", "--workspace"];
    args.extend(extra.iter().map(String::as_str));
    cargo(&args, &[("INSTA_UPDATE", "no")])
}

fn snap() -> Result<(), DynError> {
    let has_insta =
        Command::new("cargo").args(["insta", "--version"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !has_insta {
        cargo(&["install", "cargo-insta", "--locked"], &[])?;
    }
    cargo(&["insta", "test", "--workspace", "--review"], &[])
}

/// `cargo xtask fuzz [TARGET] [--seconds N] [--fallback]`: runs every fuzz target of
/// `fuzz/fuzz_targets/` (or only TARGET) for N seconds each (default 60).
///
/// With `cargo fuzz` available (installed once with `cargo install cargo-fuzz --locked`
/// if missing) this is libFuzzer on stable: `cargo +stable fuzz run --sanitizer none
/// --debug-assertions TARGET fuzz/target/xtask-corpus/TARGET fuzz/corpus/TARGET --
/// -max_total_time=N`, where new inputs go to the ignored work corpus and the committed
/// one is read only. Otherwise (or with `--fallback`) the stable fallback runs the corpus
/// test of `geodyn-fuzz-props` (`fuzz/props/tests/fuzz_corpus.rs`) for each target with
/// `GEODYN_FUZZ_SECONDS=N`: it replays the committed corpus and then runs deterministic
/// mutations of it for N seconds of wall-clock time per target (a smoke run, so the
/// number of executions depends on the machine; plain `cargo test` runs a fixed count
/// instead), and `GEODYN_FUZZ_SAVE=fuzz/artifacts`, so a crashing input lands where
/// libFuzzer puts its crashes (git-ignored) and is replayed by later runs. Either way it
/// prints the mode and the executions per target, and fails if a target crashed.
fn fuzz(args: &[String]) -> Result<(), DynError> {
    let usage = "usage: cargo xtask fuzz [TARGET] [--seconds N] [--fallback]";
    let mut target = None;
    let mut seconds: u64 = 60;
    let mut force_fallback = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().ok_or(usage)?;
                seconds = v.parse().map_err(|_| format!("--seconds {v:?} is not a whole number of seconds"))?;
            }
            s if s.starts_with("--seconds=") => {
                seconds = s["--seconds=".len()..].parse().map_err(|_| format!("bad {s:?}"))?;
            }
            "--fallback" => force_fallback = true,
            s if !s.starts_with('-') && target.is_none() => target = Some(s.to_string()),
            other => return Err(format!("unexpected argument {other:?}\n{usage}").into()),
        }
    }
    let root = project_root();
    let fuzz_dir = root.join("fuzz");
    let mut all: Vec<String> = std::fs::read_dir(fuzz_dir.join("fuzz_targets"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    all.sort();
    let targets = match target {
        Some(t) if all.contains(&t) => vec![t],
        Some(t) => return Err(format!("no fuzz target {t:?}; targets: {}", all.join(", ")).into()),
        None => all,
    };

    let libfuzzer = !force_fallback && cargo_fuzz_available();
    let mut results: Vec<(String, Option<u64>, Result<(), String>)> = Vec::new();
    if libfuzzer {
        // `+stable` needs the rustup proxy; without rustup the default toolchain is used.
        let rustup = Command::new("rustup").arg("--version").output().is_ok_and(|o| o.status.success());
        eprintln!(
            "xtask fuzz: mode = libFuzzer (cargo fuzz, {} toolchain, --sanitizer none, debug assertions), {seconds} s per target",
            if rustup { "stable" } else { "default" }
        );
        for t in &targets {
            let work = fuzz_dir.join("target").join("xtask-corpus").join(t);
            std::fs::create_dir_all(&work)?;
            let seeds = fuzz_dir.join("corpus").join(t);
            let mut cmd = Command::new("cargo");
            if rustup {
                cmd.arg("+stable");
            }
            cmd.current_dir(&fuzz_dir)
                .args(["fuzz", "run", "--sanitizer", "none", "--debug-assertions", t])
                .arg(&work)
                .arg(&seeds)
                .args([
                    "--",
                    &format!("-max_total_time={seconds}"),
                    "-timeout=10",
                    "-max_len=16384",
                    "-print_final_stats=1",
                ]);
            eprintln!(
                "xtask fuzz: {t}: cargo fuzz run --sanitizer none --debug-assertions {t} ... -max_total_time={seconds}"
            );
            let (status, lines) = run_tee(cmd, false)?;
            // libFuzzer ends with "Done N runs in S second(s)" and the final stats.
            let execs = lines.iter().rev().find_map(|l| {
                l.strip_prefix("stat::number_of_executed_units:")
                    .map(str::trim)
                    .or_else(|| l.strip_prefix("Done ").and_then(|r| r.split_whitespace().next()))
                    .and_then(|n| n.parse().ok())
            });
            let res = if status.success() {
                Ok(())
            } else {
                let artifact = lines
                    .iter()
                    .find_map(|l| l.split("Test unit written to ").nth(1))
                    .unwrap_or("no artifact reported");
                Err(format!("crashed ({status}): {artifact}"))
            };
            results.push((t.clone(), execs, res));
        }
    } else {
        eprintln!(
            "xtask fuzz: mode = stable fallback (corpus replay + deterministic ChaCha8 mutations, \
             fuzz/props/tests/fuzz_corpus.rs), {seconds} s per target"
        );
        let cargo_bin = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        for t in &targets {
            let mut cmd = Command::new(&cargo_bin);
            // `--workspace`, as in `cargo xtask test`: the same feature unification, so the
            // test build is reused instead of rebuilding every dependency (2+ minutes).
            cmd.current_dir(&root)
                .args(["test", "--workspace", "--test", "fuzz_corpus", "--", "--nocapture", "--exact"])
                .arg(format!("fuzz_{t}"))
                .env("GEODYN_FUZZ_SECONDS", seconds.to_string())
                .env("GEODYN_FUZZ_SAVE", fuzz_dir.join("artifacts"));
            let (status, lines) = run_tee(cmd, true)?;
            let prefix = format!("fuzz {t}: ");
            let execs = lines.iter().find_map(|l| {
                let rest = l.strip_prefix(&prefix)?;
                let before = rest.split(" generated executions").next()?;
                before.rsplit(' ').next()?.parse().ok()
            });
            let res = if status.success() { Ok(()) } else { Err(format!("failed ({status}); see the output above")) };
            results.push((t.clone(), execs, res));
        }
    }

    eprintln!("\nxtask fuzz: {} mode, {seconds} s per target", if libfuzzer { "libFuzzer" } else { "stable fallback" });
    eprintln!("{:<14} {:>14}  result", "target", "executions");
    for (t, execs, res) in &results {
        let n = execs.map_or_else(|| "?".to_string(), |n| n.to_string());
        eprintln!("{t:<14} {n:>14}  {}", res.as_ref().map_or_else(|e| e.clone(), |_| "ok".to_string()));
    }
    let failed: Vec<&str> = results.iter().filter(|r| r.2.is_err()).map(|r| r.0.as_str()).collect();
    if failed.is_empty() { Ok(()) } else { Err(format!("fuzz targets failed: {}", failed.join(", ")).into()) }
}

/// Whether `cargo fuzz` runs; if not, tries `cargo install cargo-fuzz --locked` once.
fn cargo_fuzz_available() -> bool {
    let works = || Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if works() {
        return true;
    }
    eprintln!("xtask fuzz: cargo fuzz not found; trying `cargo install cargo-fuzz --locked`");
    let installed =
        Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]).status().is_ok_and(|s| s.success());
    if !installed {
        eprintln!("xtask fuzz: installing cargo-fuzz failed; falling back to the stable harness");
    }
    installed && works()
}

/// Runs `cmd`, echoing its stderr (and its stdout when `stdout` is set) line by line to
/// our stderr, and returns the exit status with every captured line.
fn run_tee(mut cmd: Command, stdout: bool) -> Result<(std::process::ExitStatus, Vec<String>), DynError> {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    cmd.stderr(Stdio::piped());
    if stdout {
        cmd.stdout(Stdio::piped());
    }
    let mut child = cmd.spawn()?;
    let out_thread = child.stdout.take().map(|o| {
        std::thread::spawn(move || {
            BufReader::new(o).lines().map_while(Result::ok).inspect(|l| eprintln!("{l}")).collect::<Vec<_>>()
        })
    });
    let err = child.stderr.take().ok_or("no stderr pipe")?;
    let mut lines: Vec<String> =
        BufReader::new(err).lines().map_while(Result::ok).inspect(|l| eprintln!("{l}")).collect();
    if let Some(h) = out_thread {
        lines.extend(h.join().map_err(|_| "stdout reader panicked")?);
    }
    Ok((child.wait()?, lines))
}

/// Runs the benchmark example in release and prints its markdown tables
/// (`--quick` for a smoke run). Results go to BENCHMARKS.md by hand, with the command.
fn bench(args: &[String]) -> Result<(), DynError> {
    let mut a = vec!["run", "--release", "-p", "geodyn-cli", "--example", "bench", "--"];
    a.extend(args.iter().map(String::as_str));
    cargo(&a, &[])
}

/// Clippy over every target of the workspace and rustdoc over its crates, both with
/// warnings as errors (broken intra-doc links, lints). Clippy is skipped with a note
/// when the toolchain has no clippy component (a minimal rustup profile).
fn lint() -> Result<(), DynError> {
    let cargo_bin = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let has_clippy = Command::new(&cargo_bin).args(["clippy", "--version"]).output().is_ok_and(|o| o.status.success());
    if has_clippy {
        cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])?;
    } else {
        eprintln!("xtask lint: clippy is not installed (`rustup component add clippy`); skipping it");
    }
    cargo(&["doc", "--workspace", "--no-deps"], &[("RUSTDOCFLAGS", "-D warnings")])
}

/// Type-checks the code behind the `cuda` feature (the dfdx backend's `CudaMlpObjective`
/// and the CLI's `--backend cuda`) with cudarc's `ci-check` feature: no CUDA headers,
/// no nvcc, no GPU, no linking. The result cannot run; building for a GPU needs the CUDA
/// toolkit (see the README). Not part of `cargo xtask test`.
fn check_cuda() -> Result<(), DynError> {
    cargo(&["check", "-p", "geodyn-dfdx", "--features", "ci-check", "--all-targets"], &[])?;
    cargo(&["check", "-p", "geodyn-cli", "--features", "cuda,geodyn-dfdx/ci-check"], &[])?;
    cargo(&["check", "-p", "geodyn", "--features", "cuda,geodyn-dfdx/ci-check"], &[])
}
