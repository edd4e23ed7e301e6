//! The `geodyn` command line. See `geodyn --help`.

use clap::Parser;
use geodyn_cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            let reg = geodyn_samplers::Registry::with_builtin();
            for name in reg.names() {
                if let Some(e) = reg.get(name) {
                    println!("{name:<8} {}", e.description);
                }
            }
            ExitCode::SUCCESS
        }
        Command::Sample(a) => match geodyn_cli::sample(&a) {
            Ok((path, _)) => {
                println!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code())
            }
        },
    }
}
