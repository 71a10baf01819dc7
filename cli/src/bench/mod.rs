//! `shardlog bench`: measure shardlog against the Kinesis per-shard targets.
//!
//! Parts (`--parts`, all by default), run in this order on one data directory (temporary
//! unless `--dir`):
//!
//! - `baseline` ([`baseline`]): one `ShardLog`, append-then-read, beside a raw buffered file
//!   with a CRC per record measured in the same run (the ceiling).
//! - `single` ([`single`]): the maximum rates of one shard through the engine's `PutRecords`
//!   and `GetRecords`, for 100 B and 1 MiB records, as multiples of the Kinesis per-shard
//!   target.
//! - `scale` ([`scale`]): N shards each fed at exactly 1,000 records/s and 1 MiB/s, N grown
//!   until a shard falls behind or the p99 `PutRecords` latency passes 10 ms.
//! - `consumers` ([`consumers`]): the scale load at the largest sustained N with polling
//!   readers and push subscribers on every shard: append→receipt latency and
//!   `MillisBehindLatest` over time.
//!
//! `--soak DURATION` ([`soak`]) runs instead a mixed load with resharding and retention, and
//! verifies every record at the end. `--hostile DURATION` ([`hostile`]) runs normal
//! producers against a `shardlog serve` child beside hostile and careless clients.
//!
//! Output: live progress on stderr (terminal only), then a table, or one JSON object with
//! `--json`; `--svg PATH` draws the scale part ([`chart`]). Given only the baseline
//! comparison's own options (`--records`, `--record-size`, `--batch`, `--segment-bytes`), the
//! run is the baseline comparison alone, printed as it always was.

mod baseline;
mod chart;
mod consumers;
mod hist;
mod hostile;
pub(crate) mod progress;
mod report;
mod scale;
mod single;
mod soak;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shardlog::{Durability, Engine, EngineConfig};

use crate::Failure;

/// Kinesis per-shard write target: records per second.
pub(crate) const KINESIS_RECORDS_PER_S: f64 = 1000.0;
/// Kinesis per-shard write target: bytes per second.
pub(crate) const KINESIS_BYTES_PER_S: f64 = 1024.0 * 1024.0;

/// Durability modes selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DurabilityArg {
    /// Acknowledge once written to the OS (survives a process crash, not power loss).
    Buffered,
    /// A background flusher fdatasyncs every 200 ms.
    Interval,
    /// Acknowledge each append after fdatasync.
    Sync,
}

impl DurabilityArg {
    pub(crate) fn durability(self) -> Durability {
        match self {
            DurabilityArg::Buffered => Durability::Buffered,
            DurabilityArg::Interval => Durability::Interval(Duration::from_millis(200)),
            DurabilityArg::Sync => Durability::Sync,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            DurabilityArg::Buffered => "buffered",
            DurabilityArg::Interval => "interval",
            DurabilityArg::Sync => "sync",
        }
    }

    /// The name with the interval spelled out.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            DurabilityArg::Buffered => "buffered (no fsync)",
            DurabilityArg::Interval => "interval (fdatasync every 200 ms)",
            DurabilityArg::Sync => "sync (fdatasync before every acknowledgement)",
        }
    }
}

/// The parts of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum Part {
    /// One `ShardLog` beside a raw-file baseline.
    Baseline,
    /// Single-shard maximum rates through the engine.
    Single,
    /// Kinesis-rate scale.
    Scale,
    /// Consumers during the scale load.
    Consumers,
    /// Every part.
    All,
}

/// Arguments of `shardlog bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Keep the data in DIR (new or empty): the baseline's shard log, the engine directory, or
    /// the soak's engine. Default: a temporary directory, removed afterwards.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// When appends are acknowledged. Default: interval for the engine parts and the soak,
    /// buffered for the baseline comparison (whose raw file never syncs).
    #[arg(long, value_enum)]
    durability: Option<DurabilityArg>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Write an SVG chart of sustained per-shard throughput against shard count.
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
    /// Parts to run (comma-separated). Default: all; only `baseline` when one of --records,
    /// --record-size, --batch or --segment-bytes is given.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PARTS")]
    parts: Vec<Part>,

    /// Baseline: records to append and read back [default: 2000000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Baseline comparison")]
    records: Option<u64>,
    /// Baseline: data bytes per record (the partition key adds 5 bytes) [default: 100].
    #[arg(long, value_name = "BYTES", help_heading = "Baseline comparison")]
    record_size: Option<usize>,
    /// Baseline: records per append (one batch each) [default: 500].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Baseline comparison")]
    batch: Option<u64>,
    /// Baseline: roll to a new segment at this size [default: 67108864].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(4096..), help_heading = "Baseline comparison")]
    segment_bytes: Option<u64>,

    /// Single shard: seconds of writing per record size.
    #[arg(long, default_value = "2", value_parser = parse_seconds, value_name = "SECONDS", help_heading = "Single shard")]
    single_seconds: Duration,
    /// Single shard: record sizes (key + data bytes), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,1048576", value_name = "BYTES", value_parser = clap::value_parser!(u64).range(8..=1_048_576), help_heading = "Single shard")]
    single_sizes: Vec<u64>,
    /// Single shard: producer threads.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..64), help_heading = "Single shard")]
    single_producers: u64,

    /// Scale: first shard count.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Scale")]
    scale_start_shards: u32,
    /// Scale: largest shard count tried.
    #[arg(long, visible_alias = "scale-max-shards", default_value_t = 3200, value_parser = clap::value_parser!(u32).range(1..=100_000), help_heading = "Scale")]
    max_shards: u32,
    /// Scale: seconds of the timed window of each step.
    #[arg(long, default_value = "4", value_parser = parse_seconds, value_name = "SECONDS", help_heading = "Scale")]
    step_seconds: Duration,
    /// Scale: producer threads (each paces every P-th shard).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..256), help_heading = "Scale")]
    producers: u64,
    /// Scale: bisection steps between the last sustained and the first failed shard count.
    #[arg(long, default_value_t = 1, help_heading = "Scale")]
    refine: u32,
    /// Scale: producer pacing tick in milliseconds (the KPL buffers 100 ms by default).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000), help_heading = "Scale")]
    tick_ms: u64,

    /// Consumers: shard count of the consumer step [default: the largest sustained].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000), help_heading = "Consumers")]
    consumer_shards: Option<u32>,
    /// Consumers: per-shard GetRecords interval of the polling readers, ms (Kinesis allows 5
    /// calls per second per shard).
    #[arg(long, default_value_t = 200, help_heading = "Consumers")]
    poll_interval_ms: u64,
    /// Consumers: polling reader threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..64), help_heading = "Consumers")]
    pollers: u64,
    /// Consumers: threads driving the push subscriptions.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..64), help_heading = "Consumers")]
    push_threads: u64,

    /// Run the soak instead: mixed load with resharding and retention for DURATION (e.g.
    /// 30s, 10m), then verify every record; exit 1 on any violation.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", help_heading = "Soak")]
    soak: Option<Duration>,
    /// Soak: streams.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50), help_heading = "Soak")]
    soak_streams: u32,
    /// Soak: producer threads.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..64), help_heading = "Soak")]
    soak_producers: u64,
    /// Soak: records per second per producer thread.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Soak")]
    soak_rate: u64,
    /// Soak: readers stop for 0.3–2 s now and then, so retention removes records — and
    /// whole closed shards — before they are read, as it may.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", help_heading = "Soak")]
    soak_lagging_readers: bool,
    /// Soak: seed of the random choices [default: from the clock; printed].
    #[arg(long, help_heading = "Soak")]
    soak_seed: Option<u64>,

    /// Run the hostile-client benchmark instead: normal producers against a `shardlog
    /// serve` child beside idle connections, slow request heads, unfinished bodies, error
    /// amplifiers, stalled subscribers and split/merge churn, each kind for DURATION, then
    /// all together; reports the producers' p99 per phase and the server's peak memory.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", help_heading = "Hostile")]
    hostile: Option<Duration>,
}

/// Seconds as a decimal number (> 0).
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v > 0.0 && v < 1e7) {
        return Err("must be more than 0 seconds".into());
    }
    Ok(Duration::from_secs_f64(v))
}

/// `500ms`, `30s`, `10m`, `2h` or plain seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration (e.g. 30s, 10m, 1h)"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (use ms, s, m or h)")),
    };
    let secs = v * scale;
    if !(secs > 0.0 && secs < 1e8) {
        return Err("must be more than 0".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the bench started (≥ 1): the producers' send stamp.
pub(crate) fn elapsed_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// How many Kinesis shards' write limit (1,000 records/s and 1 MiB/s each) a rate equals, and
/// which limit binds at its record size.
pub(crate) fn kinesis_multiple(records_per_s: f64, bytes_per_s: f64) -> (f64, &'static str) {
    let by_records = records_per_s / KINESIS_RECORDS_PER_S;
    let by_bytes = bytes_per_s / KINESIS_BYTES_PER_S;
    if by_records >= by_bytes {
        (by_records, "1,000 records/s")
    } else {
        (by_bytes, "1 MiB/s")
    }
}

/// `--dir` must be new or empty so the run starts from nothing.
fn prepare_dir(dir: &Path) -> Result<(), Failure> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Failure::usage(format!(
                    "{} is not empty; give a new or empty directory to keep the bench data in",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| Failure::usage(format!("creating {}: {e}", dir.display())))
        }
        Err(e) => Err(Failure::usage(format!("{}: {e}", dir.display()))),
    }
}

/// The data directory of a run: `--dir` (prepared) or a temporary one.
struct Root {
    path: PathBuf,
    kept: bool,
    _temp: Option<tempfile::TempDir>,
}

impl Root {
    fn new(dir: Option<&Path>) -> Result<Root, Failure> {
        match dir {
            Some(d) => {
                prepare_dir(d)?;
                Ok(Root { path: d.to_path_buf(), kept: true, _temp: None })
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("shardlog-bench")
                    .tempdir()
                    .map_err(|e| Failure::run(format!("creating a temp dir: {e}")))?;
                Ok(Root { path: t.path().to_path_buf(), kept: false, _temp: Some(t) })
            }
        }
    }
}

impl BenchArgs {
    fn baseline_params(&self) -> baseline::Params {
        baseline::Params {
            records: self.records.unwrap_or(2_000_000),
            record_size: self.record_size.unwrap_or(100),
            batch: self.batch.unwrap_or(500),
            durability: self.durability.unwrap_or(DurabilityArg::Buffered),
            segment_bytes: self.segment_bytes.unwrap_or(64 << 20),
        }
    }

    fn engine_durability(&self) -> DurabilityArg {
        self.durability.unwrap_or(DurabilityArg::Interval)
    }

    /// The parts to run, in order.
    fn parts(&self) -> Vec<Part> {
        let baseline_only = self.records.is_some()
            || self.record_size.is_some()
            || self.batch.is_some()
            || self.segment_bytes.is_some();
        let mut parts = if self.parts.is_empty() {
            if baseline_only {
                vec![Part::Baseline]
            } else {
                vec![Part::All]
            }
        } else {
            self.parts.clone()
        };
        if parts.contains(&Part::All) {
            parts = vec![Part::Baseline, Part::Single, Part::Scale, Part::Consumers];
        }
        parts.sort();
        parts.dedup();
        parts
    }

    fn scale_settings(&self) -> scale::Settings {
        scale::Settings {
            start: self.scale_start_shards,
            max: self.max_shards,
            step: self.step_seconds,
            producers: self.producers as usize,
            refine: self.refine,
            tick: Duration::from_millis(self.tick_ms),
        }
    }

    fn consumer_settings(&self) -> consumers::ConsumerSettings {
        consumers::ConsumerSettings {
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            pollers: self.pollers as usize,
            push_threads: self.push_threads as usize,
        }
    }
}

/// An engine for the bench parts: retention passes off, the shard quota raised.
fn open_engine(path: &Path, durability: DurabilityArg, shard_limit: u32) -> Result<Engine, Failure> {
    let config = EngineConfig {
        durability: durability.durability(),
        shard_limit: Some(shard_limit),
        retention_check_interval: None,
        ..EngineConfig::default()
    };
    Engine::open(path, config).map_err(|e| Failure::run(format!("opening the engine in {}: {e}", path.display())))
}

/// Everything a full run measured.
pub(crate) struct FullRun {
    pub(crate) durability: DurabilityArg,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) baseline: Option<(baseline::Params, baseline::Results)>,
    pub(crate) single: Vec<single::Single>,
    pub(crate) scale: Option<scale::Scale>,
    pub(crate) scale_settings: scale::Settings,
    pub(crate) consumers: Option<scale::Step>,
    pub(crate) wall_seconds: f64,
    /// `/proc/loadavg`'s 1-minute load when the run started (other work on the machine).
    pub(crate) load_at_start: Option<f64>,
}

/// The 1-minute load average (Linux), to show how busy the machine was.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

pub(crate) fn run(args: &BenchArgs) -> Result<ExitCode, Failure> {
    let _ = elapsed_ns();
    if let Some(duration) = args.soak {
        return soak::run(args, duration);
    }
    if let Some(duration) = args.hostile {
        return hostile::run(args, duration);
    }
    let parts = args.parts();
    let base = args.baseline_params();
    if parts.contains(&Part::Baseline) {
        baseline::check(&base)?;
    }
    if args.svg.is_some() && !parts.contains(&Part::Scale) {
        return Err(Failure::usage("--svg draws the scale part; run it (--parts scale or all)"));
    }
    if parts == [Part::Baseline] {
        return run_baseline_only(args, &base);
    }
    let started = Instant::now();
    let root = Root::new(args.dir.as_deref())?;
    let progress = progress::Progress::new();
    let mut full = FullRun {
        durability: args.engine_durability(),
        dir: root.kept.then(|| root.path.clone()),
        baseline: None,
        single: Vec::new(),
        scale: None,
        scale_settings: args.scale_settings(),
        consumers: None,
        wall_seconds: 0.0,
        load_at_start: load_average(),
    };
    if parts.contains(&Part::Baseline) {
        progress.set(format!("baseline: {} records through one ShardLog and a raw file", base.records));
        let shard_dir = root.path.join("baseline");
        let r = baseline::measure(&base, &shard_dir, &root.path)?;
        progress.line(format!("baseline: append {:.2}x, read {:.2}x the raw file", r.append_ratio(), r.read_ratio()));
        full.baseline = Some((base.clone(), r));
    }
    let needs_engine = parts.iter().any(|p| matches!(p, Part::Single | Part::Scale | Part::Consumers));
    if needs_engine {
        let bed_shards = args.max_shards.max(args.consumer_shards.unwrap_or(0));
        let engine = open_engine(&root.path.join("engine"), full.durability, bed_shards.saturating_add(16))?;
        if parts.contains(&Part::Single) {
            for &bytes in &args.single_sizes {
                let name = format!("single-{bytes}");
                let s = single::run(
                    &engine,
                    &name,
                    bytes as usize,
                    args.single_seconds,
                    args.single_producers as usize,
                    &progress,
                )?;
                let (m, _) = s.write.kinesis_multiple();
                progress.line(format!(
                    "single shard, {} B records: {} records/s, {:.1} MiB/s = {:.0}x the Kinesis target",
                    s.record_bytes,
                    crate::format::rate(s.write.records_per_s()).trim_end(),
                    s.write.mib_per_s(),
                    m
                ));
                full.single.push(s);
            }
        }
        let mut bed = None;
        if parts.contains(&Part::Scale) || parts.contains(&Part::Consumers) {
            bed = Some(scale::Bed::create(&engine, "kinesis-rate", bed_shards)?);
        }
        if let (true, Some(bed)) = (parts.contains(&Part::Scale), bed.as_mut()) {
            full.scale = Some(scale::run(&engine, bed, &full.scale_settings, &progress)?);
        }
        if let (true, Some(bed)) = (parts.contains(&Part::Consumers), bed.as_mut()) {
            let n = args
                .consumer_shards
                .or_else(|| full.scale.as_ref().and_then(|s| s.best()).map(|b| b.shards))
                .unwrap_or_else(|| args.scale_start_shards.min(args.max_shards));
            let step =
                scale::run_step(&engine, bed, n, &full.scale_settings, Some(&args.consumer_settings()), &progress)?;
            progress
                .line(format!("consumers at {n} shards: producers {}", step.reason.as_deref().unwrap_or("sustained")));
            full.consumers = Some(step);
        }
        if root.kept {
            progress.set("closing the engine (index files and clean markers for every shard)");
            engine.close().map_err(|e| Failure::run(format!("closing the engine: {e}")))?;
        } else {
            // The temporary directory goes away: skip the clean close, which would write and
            // fdatasync index files and a clean marker for every shard only to delete them.
            // Its files are unlinked now; the handle is leaked and the process exits soon.
            progress.set("removing the temporary data");
            let _ = std::fs::remove_dir_all(root.path.join("engine"));
            std::mem::forget(engine);
        }
    }
    progress.finish();
    full.wall_seconds = started.elapsed().as_secs_f64();
    if let (Some(path), Some(scale)) = (&args.svg, &full.scale) {
        chart::write_svg(path, scale, full.durability)
            .map_err(|e| Failure::run(format!("writing {}: {e}", path.display())))?;
    }
    if args.json {
        println!("{}", report::json(&full));
    } else {
        print!("{}", report::table(&full));
    }
    Ok(ExitCode::SUCCESS)
}

/// The baseline comparison alone, printed as it always was.
fn run_baseline_only(args: &BenchArgs, params: &baseline::Params) -> Result<ExitCode, Failure> {
    let temp;
    let (shard_dir, scratch_parent, kept) = match &args.dir {
        Some(dir) => {
            prepare_dir(dir)?;
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
            (dir.clone(), parent, Some(dir.as_path()))
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("shardlog-bench")
                .tempdir()
                .map_err(|e| Failure::run(format!("creating a temp dir: {e}")))?;
            (temp.path().join("shard"), temp.path().to_path_buf(), None)
        }
    };
    let r = baseline::measure(params, &shard_dir, &scratch_parent)?;
    if args.json {
        println!("{}", baseline::json(params, &r, kept));
    } else {
        print!("{}", baseline::table(params, &r, kept));
    }
    Ok(ExitCode::SUCCESS)
}
