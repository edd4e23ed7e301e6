//! Project tasks: `cargo xtask test | snap | fuzz | bench`.
//!
//! - `test`: every test of the workspace, doctests included (the README's and CI's test command).
//! - `snap`: review pending insta snapshots (`cargo insta review`; installs cargo-insta if missing).
//! - `fuzz [TARGET] [--seconds N]`: run fuzz targets (see `fuzz/README.md`).
//! - `bench`: run the benchmarks and print their tables.

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
        _ => {
            eprintln!("usage: cargo xtask <test|snap|fuzz [TARGET] [--seconds N]|bench>");
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
    let has_insta = Command::new("cargo").args(["insta", "--version"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !has_insta {
        cargo(&["install", "cargo-insta", "--locked"], &[])?;
    }
    cargo(&["insta", "test", "--workspace", "--review"], &[])
}

fn fuzz(_args: &[String]) -> Result<(), DynError> {
    Err("no fuzz targets yet (issue 7)".into())
}

fn bench(_args: &[String]) -> Result<(), DynError> {
    Err("no benchmarks yet (issue 4)".into())
}
