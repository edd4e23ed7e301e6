//! The `geodyn` command line. See `geodyn --help`.

use clap::Parser;
use geodyn_cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            print!("{}", geodyn_cli::list_text());
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
