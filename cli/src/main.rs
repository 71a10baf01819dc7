//! `shardlog`: measure, inspect and verify shardlog data directories.
//!
//! - `shardlog bench` — shardlog against the Kinesis per-shard targets: a raw-file baseline,
//!   single-shard maximum rates, Kinesis-rate scale to hundreds of shards, consumers; `--soak`
//!   for a verified mixed load with resharding and retention.
//! - `shardlog inspect DIR` — segments, indexes and markers of every shard log under DIR.
//! - `shardlog verify DIR` — check every byte under DIR; exit 1 on damage.
//! - `shardlog serve` — the Kinesis-compatible endpoint; `shardlog forward` — ship a local
//!   stream to Kinesis (or copy one back).
//!
//! Exit codes: 0 success, 1 damage found (verify) or a failed run, 2 usage errors (bad
//! arguments, a directory that does not exist).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod format;
mod forward;
mod inspect;
mod verify;

#[derive(Debug, Parser)]
#[command(name = "shardlog", version, about = "Measure, inspect and verify shardlog data directories")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure shardlog against the Kinesis per-shard targets (or soak it with --soak).
    Bench(bench::BenchArgs),
    /// Show the segments, indexes and markers of every shard log under DIR.
    Inspect(ExamineArgs),
    /// Check every segment, index and marker under DIR; exit 1 if anything is damaged.
    Verify(ExamineArgs),
    /// Serve the Kinesis API (JSON 1.1, CBOR, SubscribeToShard event streams) over HTTP, and
    /// the Lambda event-source-mapping API with mappings that invoke real functions.
    Serve(Box<shardlog_server::serve::ServeCommand>),
    /// Forward a local stream to a Kinesis stream (AWS or any endpoint), at least once, in
    /// order per key, resumable; or copy a remote stream into a local directory.
    Forward(forward::ForwardArgs),
}

/// Arguments of `inspect` and `verify`.
#[derive(Debug, clap::Args)]
struct ExamineArgs {
    /// A shard log directory, or any directory containing shard log directories.
    dir: PathBuf,
    /// The index interval the logs were written with (only changes the in-memory index
    /// entry counts shown).
    #[arg(long, default_value_t = shardlog::check::DEFAULT_INDEX_INTERVAL_BYTES, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1..))]
    index_interval: u32,
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// A usage error (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure { code: 2, message: message.into() }
    }

    /// A failed run (exit 1).
    pub(crate) fn run(message: impl Into<String>) -> Failure {
        Failure { code: 1, message: message.into() }
    }
}

impl From<shardlog_server::ServeError> for Failure {
    fn from(e: shardlog_server::ServeError) -> Failure {
        match e {
            shardlog_server::ServeError::Usage(m) => Failure::usage(m),
            shardlog_server::ServeError::Run(m) => Failure::run(m),
        }
    }
}

/// Check that `dir` names an existing directory (a usage error otherwise).
pub(crate) fn existing_dir(dir: &Path) -> Result<(), Failure> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Failure::usage(format!("{} is not a directory", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Failure::usage(format!("{}: no such directory", dir.display())))
        }
        Err(e) => Err(Failure::usage(format!("{}: {e}", dir.display()))),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(&args),
        Command::Inspect(args) => inspect::run(&args.dir, args.index_interval),
        Command::Verify(args) => verify::run(&args.dir, args.index_interval),
        Command::Serve(cmd) => shardlog_server::serve::run(&cmd.args).map_err(Failure::from),
        Command::Forward(args) => forward::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("shardlog: error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
