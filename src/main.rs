//! The `lockstep` command line: thin wiring over the library crates.

use clap::{Parser, Subcommand};

mod cluster;
mod demo;
mod fix_client_cmd;
mod journal_cmd;
mod load_cmd;
mod pipeline;
mod replay_cmd;
mod sim_cmd;

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
    /// Run a whole cluster on this machine as processes: order flow, a primary kill, the
    /// failover, latency percentiles, and state hashes checked against an offline replay.
    Demo(demo::DemoArgs),
    /// Re-execute a journal: verify it, regenerate events, show a book at any point.
    Replay(replay_cmd::ReplayArgs),
    /// Run the pipeline in one process with no transport: journal, engine, replay, snapshot.
    Pipeline(pipeline::PipelineArgs),
    /// Run the cluster's sequencer (journal, then the sequenced stream) until SIGTERM/SIGINT.
    Sequencer(cluster::sequencer::SequencerArgs),
    /// Run one matching engine replica (`--node N`) until SIGTERM/SIGINT.
    Engine(cluster::engine::EngineArgs),
    /// Run the FIX 4.4 gateway (the `[gateway]` section) until SIGTERM/SIGINT.
    Gateway(cluster::gateway::GatewayArgs),
    /// Run a standalone media driver in aeron.dir until SIGTERM/SIGINT.
    Driver(cluster::driver::DriverArgs),
    /// Replay the journal alongside the engines and report any engine that diverges from it.
    Auditor(cluster::auditor::AuditorArgs),
    /// Drive FIX sessions through a gateway and report order -> ack latency and throughput.
    Load(load_cmd::LoadArgs),
    /// One FIX session to a gateway: send requests typed or from a file, print the answers.
    FixClient(fix_client_cmd::FixClientArgs),
    /// Run the deterministic simulator over many seeds; print failing seeds and how to
    /// reproduce them (`lockstep sim --seed S`).
    Sim(sim_cmd::SimArgs),
    /// Print the embedded default cluster configuration (TOML).
    Config,
    /// An engine's liveness sentinel (started by `lockstep engine` itself).
    #[command(hide = true)]
    LivenessSentinel(cluster::sentinel::SentinelArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Journal(args) => journal_cmd::run(args),
        Command::Demo(args) => demo::run(&args),
        Command::Pipeline(args) => pipeline::run(&args),
        Command::Replay(args) => replay_cmd::run(args),
        Command::Sequencer(args) => cluster::sequencer::run(&args),
        Command::Engine(args) => cluster::engine::run(&args),
        Command::Driver(args) => cluster::driver::run(&args),
        Command::Gateway(args) => cluster::gateway::run(&args),
        Command::Auditor(args) => cluster::auditor::run(&args),
        Command::Load(args) => load_cmd::run(&args),
        Command::FixClient(args) => fix_client_cmd::run(&args),
        Command::Sim(args) => sim_cmd::run(&args),
        Command::Config => print_defaults(),
        Command::LivenessSentinel(args) => cluster::sentinel::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lockstep: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn print_defaults() -> anyhow::Result<()> {
    use std::io::Write as _;
    std::io::stdout().write_all(cluster::config::DEFAULTS.as_bytes())?;
    Ok(())
}
