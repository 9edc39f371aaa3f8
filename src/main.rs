//! The `lockstep` command line: thin wiring over the library crates.

use clap::{Parser, Subcommand};

mod demo;
mod journal_cmd;

/// Lockstep: a sequencer with a primary-backup replicated matching engine.
#[derive(Debug, Parser)]
#[command(name = "lockstep", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, verify or dump a journal.
    Journal(journal_cmd::JournalArgs),
    /// Run the built pipeline end to end on generated order flow.
    Demo(demo::DemoArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Journal(args) => journal_cmd::run(args),
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lockstep: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
