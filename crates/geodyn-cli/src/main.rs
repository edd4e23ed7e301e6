//! The `geodyn` command line. See `geodyn --help`.

mod args;
mod error;
mod pipeline;
mod report;
mod svg;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match cli.command {
        args::Command::List => {
            let reg = geodyn_samplers::Registry::with_builtin();
            for name in reg.names() {
                if let Some(e) = reg.get(name) {
                    println!("{name:<8} {}", e.description);
                }
            }
            ExitCode::SUCCESS
        }
        args::Command::Sample(a) => match pipeline::sample(&a) {
            Ok(path) => {
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
