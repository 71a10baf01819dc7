//! `shardlog forward`: ship a local stream to a Kinesis stream (AWS, LocalStack, another
//! `shardlog serve`), at least once, in order per key, resumable — or, with
//! `--from-endpoint`, copy a remote stream into a local data directory.
//!
//! The work is `shardlog_server::forward`; this file parses the command line, opens the
//! data directory and shows progress: a live line on a terminal, one JSON object per
//! `--stats-interval-ms` on stdout with `--json` (the last one has `"final": true`), else a
//! summary line on stderr at the end. Exit 0 when caught up or stopped by Ctrl-C/SIGTERM,
//! 1 on a failure, 2 on bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use shardlog::{Durability, Engine, EngineConfig};
use shardlog_server::forward::{
    runner, setup, BackoffPolicy, BatchLimits, ForwardOptions, KeyTemplate, Ordering, Outcome, RateLimit, RemoteConfig,
    StatsSnapshot,
};

use crate::bench::progress::Progress;
use crate::format::thousands;
use crate::Failure;

/// How records of one key are kept in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OrderingArg {
    /// At most one record per partition key per request: a record is never accepted before
    /// an earlier one of its key (fewer records per request when keys repeat).
    Strict,
    /// Whole batches per request; after a failure, the key's later records are sent again
    /// after the failed one (extra copies at the destination, order kept).
    Batched,
}

/// Durability of the local data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DurabilityArg {
    /// Written to the OS.
    Buffered,
    /// fdatasync every 200 ms.
    Interval,
    /// fdatasync before acknowledging.
    Sync,
}

/// Arguments of `shardlog forward`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("direction").args(["dir", "from_endpoint"]).required(true)))]
pub(crate) struct ForwardArgs {
    /// Data directory holding the local stream to forward.
    #[arg(long, value_name = "DIR", requires_all = ["stream", "to_stream"], conflicts_with_all = ["from_endpoint", "from_stream", "to_dir"])]
    dir: Option<PathBuf>,
    /// The local stream (name or ARN).
    #[arg(long, value_name = "NAME")]
    stream: Option<String>,
    /// The destination stream (name or ARN); with --from-endpoint, the local stream to copy
    /// into (default: the remote stream's name).
    #[arg(long, value_name = "NAME")]
    to_stream: Option<String>,
    /// The destination endpoint (default: AWS for the region).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// The AWS region (default: AWS_REGION / the AWS profile).
    #[arg(long, value_name = "R")]
    region: Option<String>,
    /// Stop once everything readable was forwarded (lag zero) instead of running on.
    #[arg(long)]
    until_caught_up: bool,
    /// Reverse direction: the endpoint of the stream to copy from.
    #[arg(long, value_name = "URL", requires_all = ["from_stream", "to_dir"])]
    from_endpoint: Option<String>,
    /// Reverse direction: the remote stream (name or ARN).
    #[arg(long, value_name = "NAME")]
    from_stream: Option<String>,
    /// Reverse direction: the local data directory to copy into (created if missing).
    #[arg(long, value_name = "DIR")]
    to_dir: Option<PathBuf>,
    /// Stats as JSON lines on stdout.
    #[arg(long)]
    json: bool,
    /// How often stats are shown.
    #[arg(long, default_value_t = 1000, value_name = "MS", value_parser = clap::value_parser!(u64).range(10..))]
    stats_interval_ms: u64,
    /// Checkpoint name in the local data directory (default: per destination,
    /// `forward:<to-stream>@<endpoint>`).
    #[arg(long, value_name = "NAME")]
    checkpoint_name: Option<String>,
    /// Most records per request (1–500).
    #[arg(long, default_value_t = 500, value_name = "N")]
    batch_records: usize,
    /// Most bytes (data + partition keys) per request (up to 5 MiB).
    #[arg(long, default_value_t = 5 * 1024 * 1024, value_name = "BYTES")]
    batch_bytes: usize,
    /// How long a partial batch waits for more records at the tip of a shard.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    linger_ms: u64,
    /// How often a shard read to its tip is polled.
    #[arg(long, default_value_t = 200, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    poll_interval_ms: u64,
    /// Most records per second sent (all shards together).
    #[arg(long, value_name = "N")]
    max_records_per_sec: Option<f64>,
    /// Most bytes per second sent (all shards together).
    #[arg(long, value_name = "N")]
    max_bytes_per_sec: Option<f64>,
    /// First backoff ceiling after a failure.
    #[arg(long, default_value_t = 100, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    backoff_base_ms: u64,
    /// Largest backoff ceiling.
    #[arg(long, default_value_t = 10_000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    backoff_max_ms: u64,
    /// How records of one partition key are kept in order.
    #[arg(long, value_enum, default_value = "strict")]
    ordering: OrderingArg,
    /// Re-key records: a template of `{partition_key}`, `{explicit_hash_key}`,
    /// `{sequence_number}`, `{shard_id}` and text (drops explicit hash keys).
    #[arg(long, value_name = "TEMPLATE")]
    rekey: Option<String>,
    /// "Keep until forwarded": delete the local stream's segments once the destination
    /// acknowledged all of their records, so disk holds only what was not yet accepted.
    #[arg(long, conflicts_with = "from_endpoint")]
    keep_until_forwarded: bool,
    /// Durability of the local data directory (the reverse direction writes to it).
    #[arg(long, value_enum, default_value = "interval")]
    durability: DurabilityArg,
}

fn options(args: &ForwardArgs) -> Result<ForwardOptions, Failure> {
    let limits = BatchLimits { max_records: args.batch_records, max_bytes: args.batch_bytes };
    limits.validate().map_err(Failure::usage)?;
    if args.backoff_max_ms < args.backoff_base_ms {
        return Err(Failure::usage("--backoff-max-ms must be at least --backoff-base-ms"));
    }
    for (name, v) in
        [("--max-records-per-sec", args.max_records_per_sec), ("--max-bytes-per-sec", args.max_bytes_per_sec)]
    {
        if v.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
            return Err(Failure::usage(format!("{name} must be a positive number")));
        }
    }
    let rekey = args.rekey.as_deref().map(KeyTemplate::parse).transpose().map_err(Failure::usage)?;
    Ok(ForwardOptions {
        limits,
        linger: Duration::from_millis(args.linger_ms),
        poll_interval: Duration::from_millis(args.poll_interval_ms),
        rate: RateLimit { records_per_sec: args.max_records_per_sec, bytes_per_sec: args.max_bytes_per_sec },
        backoff: BackoffPolicy {
            base: Duration::from_millis(args.backoff_base_ms),
            max: Duration::from_millis(args.backoff_max_ms),
        },
        ordering: match args.ordering {
            OrderingArg::Strict => Ordering::Strict,
            OrderingArg::Batched => Ordering::Batched,
        },
        rekey,
        until_caught_up: args.until_caught_up,
        keep_until_forwarded: args.keep_until_forwarded,
    })
}

fn check_url(flag: &str, url: &Option<String>) -> Result<(), Failure> {
    match url {
        Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
            Err(Failure::usage(format!("{flag} must be an http:// or https:// URL, not {u:?}")))
        }
        _ => Ok(()),
    }
}

fn progress_line(s: &StatsSnapshot, rate: f64) -> String {
    let behind = match s.records_behind {
        Some(n) => format!("{} records / {} ms behind", thousands(n), thousands(s.millis_behind)),
        None => format!("{} ms behind", thousands(s.millis_behind)),
    };
    let mut line = format!(
        "forwarded {} records ({:.0} rec/s), {behind}, {} shards active, {} retries",
        thousands(s.records_forwarded),
        rate,
        s.shards_active,
        thousands(s.backoffs)
    );
    if s.backoffs > 0 {
        if let Some(e) = &s.last_error {
            line.push_str(&format!(" — last: {e}"));
        }
    }
    line
}

pub(crate) fn run(args: &ForwardArgs) -> Result<ExitCode, Failure> {
    let opts = options(args)?;
    check_url("--endpoint-url", &args.endpoint_url)?;
    check_url("--from-endpoint", &args.from_endpoint)?;
    let durability = match args.durability {
        DurabilityArg::Buffered => Durability::Buffered,
        DurabilityArg::Interval => Durability::Interval(Duration::from_millis(200)),
        DurabilityArg::Sync => Durability::Sync,
    };
    let open = |dir: &PathBuf| {
        Engine::open(dir, EngineConfig { durability, ..EngineConfig::default() })
            .map_err(|e| Failure::run(format!("cannot open {}: {e}", dir.display())))
    };
    let (engine, reverse) = match (&args.dir, &args.to_dir) {
        (Some(dir), _) => {
            crate::existing_dir(dir)?;
            (open(dir)?, false)
        }
        (None, Some(dir)) => (open(dir)?, true),
        (None, None) => return Err(Failure::usage("give --dir (forward) or --from-endpoint with --to-dir (reverse)")),
    };
    let tick = Duration::from_millis(args.stats_interval_ms);
    let progress = if args.json { None } else { Some(Progress::new()) };
    let mut last: Option<StatsSnapshot> = None;
    let json = args.json;
    let on_tick = |s: &StatsSnapshot| {
        let rate = last.as_ref().map_or(0.0, |l| s.records_per_sec_since(l));
        if json {
            let mut v = s.to_json();
            set_field(&mut v, "interval_records_per_sec", serde_json::json!((rate * 10.0).round() / 10.0));
            println!("{v}");
        } else if let Some(p) = &progress {
            p.set(progress_line(s, rate));
        }
        last = Some(s.clone());
    };
    let engine2 = engine.clone();
    let (outcome, stats) = if reverse {
        let remote = RemoteConfig {
            endpoint_url: args.from_endpoint.clone(),
            region: args.region.clone(),
            ..Default::default()
        };
        let from = args.from_stream.clone().unwrap_or_default();
        let to = args.to_stream.clone().unwrap_or_else(|| from.rsplit('/').next().unwrap_or(&from).to_string());
        runner::run_until_signal(
            async move { setup::remote_to_local(engine2, &remote, &from, &to, opts).await },
            tick,
            on_tick,
        )
    } else {
        let remote =
            RemoteConfig { endpoint_url: args.endpoint_url.clone(), region: args.region.clone(), ..Default::default() };
        let (stream, to, owner) = (
            args.stream.clone().unwrap_or_default(),
            args.to_stream.clone().unwrap_or_default(),
            args.checkpoint_name.clone(),
        );
        runner::run_until_signal(
            async move { setup::local_to_remote(engine2, &stream, &to, &remote, owner, opts).await },
            tick,
            on_tick,
        )
    };
    if let Some(p) = &progress {
        p.finish();
    }
    let closed = engine.close();
    let outcome_name = match &outcome {
        Ok(Outcome::CaughtUp) => "caught_up",
        Ok(Outcome::Stopped) => "stopped",
        Err(_) => "failed",
    };
    if args.json {
        let mut v = stats.to_json();
        set_field(&mut v, "final", serde_json::json!(true));
        set_field(&mut v, "outcome", serde_json::json!(outcome_name));
        if let Err(e) = &outcome {
            set_field(&mut v, "error", serde_json::json!(e.0));
        }
        println!("{v}");
    } else {
        eprintln!(
            "shardlog forward: {outcome_name}: {} records forwarded in {:.1} s ({:.0} rec/s), {} requests, {} retries, {} checkpoints",
            thousands(stats.records_forwarded),
            stats.elapsed_ms as f64 / 1000.0,
            stats.records_per_sec_since(&StatsSnapshot::default()),
            thousands(stats.requests),
            thousands(stats.backoffs),
            thousands(stats.checkpoints)
        );
    }
    outcome.map_err(|e| Failure::run(e.0))?;
    closed.map_err(|e| Failure::run(format!("closing the data directory failed: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// Add a field to a stats object (`StatsSnapshot::to_json` is always an object).
fn set_field(v: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    debug_assert!(v.is_object(), "stats JSON is an object");
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_string(), value);
    }
}
