//! Reliability R2, "multi-file crash states", for the engine's metadata protocols.
//!
//! A `Durability::Sync` workload with small segments runs an [`Engine`] on the
//! crash-simulating `SimVfs`: open, create two streams, puts, `split_shard`, puts,
//! `merge_shards`, puts, `update_shard_count`, puts, increase and decrease retention, an
//! advance of the clock past retention and `enforce_retention()` (segment trims and
//! closed-shard expiry), `delete_stream` and a re-create under the same name. For each
//! protocol step the sim op range it spans is recorded together with the topology before and
//! after it; every put is recorded with the op count at which it was acknowledged, its
//! content, shard and sequence number.
//!
//! Then, for crash states at every op index inside every protocol step (with both directory
//! modes and whole / cut / zero-filled tails of the interrupted write, plus a strict power-cut
//! pass keeping only synced data), and at sampled op indexes between the steps, an engine is
//! reopened on the crashed file system and checked:
//!
//! - it opens: no panic and no error;
//! - the topology (streams, their creation time and retention, and ListShards
//!   `FROM_TRIM_HORIZON`: ids, ranges, parents, open/closed) equals the topology before or
//!   after the step the crash interrupted, never a mix (outside steps: exactly the current one);
//! - every put acknowledged before the crash point is readable (per-shard GetRecords from
//!   TRIM_HORIZON, and through `LineageReader`) with identical key, data and arrival time, in
//!   the shard its acknowledgement named, under the sequence number it was given — unless a
//!   retention pass had started and its arrival is older than that pass's cutoff, or its
//!   stream was deleted; beyond them at most the one in-flight put;
//! - nothing is duplicated; per shard offsets are dense; a closed shard reads to its end and
//!   ends exactly at the end offset its catalog entry records;
//! - no orphans: every shard directory under a stream directory is a shard the catalog lists,
//!   and every stream directory belongs to a stream the catalog knows;
//! - the engine works again: a new stream is created, put to and read from, and every existing
//!   stream takes and returns a put.
//!
//! The PR run checks ≥ 2,000 states (about 2,600) in well under a minute in debug. The
//! nightly run doubles the puts of the workload and tries every tail variant (every cut
//! length, zero-filled and garbage) of every operation, plus the strict power cut at every
//! operation — about 176,000 states, some 3 minutes in release:
//!
//! ```text
//! SHARDLOG_CRASH_STATES=full cargo test -p shardlog --release --test engine_crash -- --nocapture
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod sim;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardlog::catalog::store::ManifestStore;
use shardlog::engine::lineage::{LineageReader, LineageStart};
use shardlog::engine::*;
use shardlog::io::sim::{CrashState, CrashSweep, DataMode, DirMode, SimOp, SimVfs, TailMode};
use shardlog::kinesis::names;
use shardlog::{Clock, Durability, Engine, EngineConfig, ManualClock};
use sim::{HOUR_MS, ROOT, T0};

/// Puts per put phase (doubled in the full run).
const PUTS: usize = 36;
/// R2's PR gate.
const MIN_STATES: usize = 2_000;
/// Between protocol steps, crash states are taken at every this-many-th op.
const SAMPLE_EVERY: usize = 4;
/// Puts that rolled a segment (and sealed the previous one): every this-many-th one is swept
/// like a protocol step.
const ROLLS_EVERY: usize = 4;
/// Cut lengths tried for an interrupted write inside a protocol step: 0, this, 2×this, ...
const CUT_STEP: usize = 24;

/// The harness configuration of tests/sim/mod.rs (small segments, no background retention)
/// under `Durability::Sync`.
fn engine_config(vfs: shardlog::io::VfsRef, clock: &ManualClock) -> EngineConfig {
    sim::engine_config(vfs, clock, Durability::Sync)
}

// ---------------------------------------------------------------------------------------
// What the workload records
// ---------------------------------------------------------------------------------------

/// One stream as the control plane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StreamView {
    name: String,
    created_ms: i64,
    retention_hours: u32,
    /// ListShards FROM_TRIM_HORIZON, every page.
    shards: Vec<Shard>,
    /// Everything else the API shows of the stream: capacity mode, record distribution,
    /// encryption, enhanced monitoring, warm throughput, StreamId, tags and policy.
    settings: String,
}

/// Every stream, by name, and the account's state (commitment and channels).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Topo {
    streams: Vec<StreamView>,
    account: String,
}

/// An acknowledged put.
#[derive(Debug, Clone)]
struct Put {
    stream: String,
    /// Creation time of the stream it went to (tells a re-created stream from its predecessor).
    stream_created_ms: i64,
    key: String,
    /// Per (stream generation, key) counter, for the per-key order check.
    counter: u32,
    data: Bytes,
    arrival_ms: i64,
    /// Sim op count when the call started and when it returned (acknowledged).
    start_op: usize,
    ack_op: usize,
    shard_id: String,
    seq: SequenceNumber,
}

#[derive(Debug, Clone)]
struct Step {
    name: String,
    /// Sim op counts before and after the call: crash points `start..=end` interrupt it.
    start: usize,
    end: usize,
    /// Indexes into `Workload::topos`.
    before: usize,
    after: usize,
    /// For a retention pass: records older than this may be gone once it has started.
    trim_cutoff: Option<i64>,
}

struct Workload {
    sim: SimVfs,
    puts: Vec<Put>,
    by_data: HashMap<Bytes, usize>,
    steps: Vec<Step>,
    /// Op ranges of puts that rolled a segment (every `ROLLS_EVERY`-th): the roll, then (in
    /// the same put's sync round) the seal of the segment it sealed — a multi-file protocol
    /// of its own.
    rolls: Vec<(usize, usize)>,
    topos: Vec<Topo>,
    end_ms: i64,
}

fn snapshot(e: &Engine) -> shardlog::Result<Topo> {
    let names = e.list_streams(ListStreamsInput { limit: Some(100), ..Default::default() })?.stream_names;
    let mut out = Vec::new();
    for name in names {
        let summary = e.describe_stream_summary(StreamRef::name(&name))?;
        let mut shards = Vec::new();
        let mut token = None;
        loop {
            let first = token.is_none();
            let page = e.list_shards(ListShardsInput {
                stream: if first { StreamRef::name(&name) } else { StreamRef::default() },
                next_token: token.take(),
                max_results: Some(3),
                shard_filter: if first { token_filter() } else { None },
                ..Default::default()
            })?;
            shards.extend(page.shards);
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let arn = summary.stream_arn.clone();
        let tags =
            e.list_tags_for_resource(ListTagsForResourceInput { resource_arn: arn.clone(), stream_id: None })?.tags;
        let policy = e.get_resource_policy(ResourcePolicyInput { resource_arn: arn, stream_id: None })?.policy;
        let settings = format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {} {} {:?} {policy}",
            summary.stream_mode,
            summary.record_distribution_strategy,
            summary.encryption_type,
            summary.key_id,
            summary.enhanced_monitoring,
            summary.warm_throughput,
            summary.stream_id,
            summary.max_record_size_in_kib,
            tags,
        );
        out.push(StreamView {
            name,
            created_ms: summary.stream_creation_timestamp.as_millis(),
            retention_hours: summary.retention_period_hours,
            shards,
            settings,
        });
    }
    // The commitment's stored times (its status follows from them and the clock).
    let commitment = e.describe_account_settings()?.minimum_throughput_billing_commitment;
    let mut account = format!("{:?} {:?}", commitment.started_at, commitment.ended_at);
    for c in e.list_channels(ListChannelsInput::default())?.channel_summaries {
        let d = e.describe_channel(&c.channel_arn)?;
        account.push_str(&format!(" | {d:?}"));
    }
    Ok(Topo { streams: out, account })
}

/// `FROM_TRIM_HORIZON` on the first page (a NextToken carries it after that).
fn token_filter() -> Option<ShardFilter> {
    Some(ShardFilter { filter_type: ShardFilterType::FromTrimHorizon, shard_id: None, timestamp: None })
}

fn describe(t: &Topo) -> String {
    let mut s = String::new();
    for v in &t.streams {
        s.push_str(&format!("\n  {} (created {}, {} h, {}):", v.name, v.created_ms, v.retention_hours, v.settings));
        for sh in &v.shards {
            s.push_str(&format!(
                " {}{}",
                sh.shard_id.trim_start_matches("shardId-0000000"),
                if sh.sequence_number_range.ending_sequence_number.is_some() { "(closed)" } else { "" }
            ));
        }
    }
    if t.streams.is_empty() {
        s.push_str(" <no streams>");
    }
    s.push_str(&format!("\n  account: {}", t.account));
    s
}

/// Drives the workload and records everything the oracle needs.
struct Driver {
    sim: SimVfs,
    clock: ManualClock,
    engine: Engine,
    puts: Vec<Put>,
    counters: HashMap<(String, i64, String), u32>,
    steps: Vec<Step>,
    topos: Vec<Topo>,
    serial: u64,
}

impl Driver {
    fn start() -> Driver {
        let sim = SimVfs::new();
        let clock = ManualClock::new(T0);
        let engine = Engine::open(ROOT, engine_config(sim.shared(), &clock)).unwrap();
        let end = sim.op_count();
        let topo = snapshot(&engine).unwrap();
        let steps = vec![Step { name: "open".into(), start: 0, end, before: 0, after: 1, trim_cutoff: None }];
        Driver {
            sim,
            clock,
            engine,
            puts: Vec::new(),
            counters: HashMap::new(),
            steps,
            // Before the open there is nothing, which an opened empty engine shows too.
            topos: vec![topo.clone(), topo],
            serial: 0,
        }
    }

    /// Run one metadata operation as a recorded protocol step.
    fn step(&mut self, name: &str, trim_cutoff: Option<i64>, op: impl FnOnce(&Engine)) {
        self.clock.advance(Duration::from_secs(3));
        let start = self.sim.op_count();
        op(&self.engine);
        let end = self.sim.op_count();
        let before = self.topos.len() - 1;
        self.topos.push(snapshot(&self.engine).unwrap());
        self.steps.push(Step { name: name.into(), start, end, before, after: before + 1, trim_cutoff });
    }

    fn created_ms(&self, stream: &str) -> i64 {
        self.engine.describe_stream_summary(StreamRef::name(stream)).unwrap().stream_creation_timestamp.as_millis()
    }

    fn entry(&mut self, stream: &str, gen: i64, key: &str) -> (u32, Bytes) {
        let c = self.counters.entry((stream.to_string(), gen, key.to_string())).or_insert(0);
        let counter = *c;
        *c += 1;
        self.serial += 1;
        let mut text = format!("{stream}#{gen}:{key}:{counter}:{:06}:", self.serial);
        let pad = 10 + (self.serial * 37 % 90) as usize;
        text.extend(std::iter::repeat_n((b'a' + (self.serial % 26) as u8) as char, pad));
        (counter, Bytes::from(text))
    }

    /// `n` puts to `stream` over 11 keys, every fourth call a 3-record PutRecords.
    fn puts(&mut self, stream: &str, n: usize) {
        let gen = self.created_ms(stream);
        let mut done = 0;
        while done < n {
            self.clock.advance(Duration::from_millis(7));
            let batch = if self.serial % 4 == 3 { 3.min(n - done) } else { 1 };
            let mut entries = Vec::new();
            for j in 0..batch {
                let key = format!("k{}", (self.serial as usize + j * 5) % 11);
                let (counter, data) = self.entry(stream, gen, &key);
                entries.push((key, counter, data));
            }
            let start_op = self.sim.op_count();
            let arrival_ms = self.clock.now_ms();
            let acks: Vec<(String, SequenceNumber)> = if batch == 1 {
                let (key, _, data) = &entries[0];
                let out = self
                    .engine
                    .put_record(PutRecordInput {
                        stream: StreamRef::name(stream),
                        data: data.clone(),
                        partition_key: Some(key.clone()),
                        ..Default::default()
                    })
                    .unwrap();
                vec![(out.shard_id, out.sequence_number)]
            } else {
                let out = self
                    .engine
                    .put_records(PutRecordsInput {
                        stream: StreamRef::name(stream),
                        records: entries
                            .iter()
                            .map(|(key, _, data)| PutRecordsRequestEntry {
                                data: data.clone(),
                                partition_key: Some(key.clone()),
                                explicit_hash_key: None,
                            })
                            .collect(),
                        dry_run: false,
                    })
                    .unwrap();
                assert_eq!(out.failed_record_count, 0);
                out.records.into_iter().map(|r| (r.shard_id.unwrap(), r.sequence_number.unwrap())).collect()
            };
            let ack_op = self.sim.op_count();
            for ((key, counter, data), (shard_id, seq)) in entries.into_iter().zip(acks) {
                assert_eq!(names::shard_id_name(seq.shard_index()), shard_id, "the sequence number names the shard");
                self.puts.push(Put {
                    stream: stream.into(),
                    stream_created_ms: gen,
                    key,
                    counter,
                    data,
                    arrival_ms,
                    start_op,
                    ack_op,
                    shard_id,
                    seq,
                });
            }
            done += batch;
        }
    }

    fn finish(self) -> Workload {
        let by_data = self.puts.iter().enumerate().map(|(i, p)| (p.data.clone(), i)).collect();
        let ops = self.sim.ops();
        let mut rolls: Vec<(usize, usize)> =
            self.puts
                .iter()
                .map(|p| (p.start_op, p.ack_op))
                .filter(|&(start, end)| {
                    ops.get(start..end).unwrap_or_default().iter().any(
                        |op| matches!(op, SimOp::Create { path, .. } if path.extension().is_some_and(|e| e == "log")),
                    )
                })
                .collect();
        rolls.dedup();
        // Every variant inside every fourth of them (the rest are sampled like other puts).
        let rolls = rolls.into_iter().step_by(ROLLS_EVERY).collect();
        Workload {
            rolls,
            end_ms: self.clock.now_ms(),
            sim: self.sim,
            puts: self.puts,
            by_data,
            steps: self.steps,
            topos: self.topos,
        }
    }
}

fn open_shards(e: &Engine, stream: &str) -> Vec<Shard> {
    e.list_shards(ListShardsInput {
        stream: StreamRef::name(stream),
        shard_filter: Some(ShardFilter { filter_type: ShardFilterType::AtLatest, shard_id: None, timestamp: None }),
        ..Default::default()
    })
    .unwrap()
    .shards
}

fn create(name: &str, n: u32) -> impl FnOnce(&Engine) + '_ {
    move |e| {
        e.create_stream(CreateStreamInput { stream_name: name.into(), shard_count: Some(n), ..Default::default() })
            .unwrap()
    }
}

fn retention(name: &str, hours: u32, increase: bool) -> impl FnOnce(&Engine) + '_ {
    move |e| {
        let input = RetentionPeriodInput { stream: StreamRef::name(name), retention_period_hours: hours };
        if increase {
            e.increase_stream_retention_period(input).unwrap()
        } else {
            e.decrease_stream_retention_period(input).unwrap()
        }
    }
}

fn run_workload() -> Workload {
    let puts = if full_mode() { 2 * PUTS } else { PUTS };
    let mut d = Driver::start();
    d.step("create_stream s", None, create("s", 2));
    d.step("create_stream t", None, create("t", 1));
    d.puts("s", puts);
    d.puts("t", puts / 3);
    d.step("split_shard", None, |e| {
        let s0 = &open_shards(e, "s")[0];
        let r = s0.hash_key_range;
        let mid = r.starting_hash_key + (r.ending_hash_key - r.starting_hash_key) / 2;
        e.split_shard(SplitShardInput {
            stream: StreamRef::name("s"),
            shard_to_split: s0.shard_id.clone(),
            new_starting_hash_key: mid.to_string(),
        })
        .unwrap();
    });
    d.puts("s", puts);
    d.step("merge_shards", None, |e| {
        let open = open_shards(e, "s");
        // The two children of the split are adjacent; merge them back.
        let kids: Vec<&Shard> = open.iter().filter(|s| s.parent_shard_id.is_some()).collect();
        assert_eq!(kids.len(), 2);
        e.merge_shards(MergeShardsInput {
            stream: StreamRef::name("s"),
            shard_to_merge: kids[0].shard_id.clone(),
            adjacent_shard_to_merge: kids[1].shard_id.clone(),
        })
        .unwrap();
    });
    d.puts("s", puts);
    d.step("update_shard_count 2->3", None, |e| {
        e.update_shard_count(UpdateShardCountInput {
            stream: StreamRef::name("s"),
            target_shard_count: 3,
            ..Default::default()
        })
        .unwrap();
    });
    d.puts("s", puts);
    d.step("increase retention", None, retention("s", 48, true));
    d.puts("s", puts / 3);
    d.step("decrease retention", None, retention("s", 24, false));
    d.puts("s", puts / 3);
    d.puts("t", puts / 3);
    // A day and an hour later, fresh records join the old ones, then the retention pass
    // deletes sealed segments holding only old records and expires every closed shard.
    d.clock.advance(Duration::from_millis((25 * HOUR_MS) as u64));
    d.puts("s", puts / 2);
    d.puts("t", 4);
    let cutoff = d.clock.now_ms() + 3_000 - 24 * HOUR_MS;
    d.step("enforce_retention", Some(cutoff), |e| {
        let report = e.enforce_retention().unwrap();
        assert!(report.shards_expired >= 3, "closed shards expire: {report:?}");
        assert!(report.segments_removed >= 3, "old segments go: {report:?}");
    });
    d.puts("s", puts / 2);
    d.step("delete_stream s", None, |e| {
        e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), enforce_consumer_deletion: false }).unwrap()
    });
    d.puts("t", 4);
    d.step("re-create s", None, create("s", 3));
    d.puts("s", puts);
    // The 2026 API's metadata: account commitment, an on-demand stream and its record
    // distribution, encryption, monitoring, tags, policy, warm throughput, a mode switch,
    // and a channel whose deliveries (objects written, then progress committed) run through
    // the same crash states.
    d.step("account commitment on", None, |e| {
        e.update_account_settings(UpdateAccountSettingsInput { enable_minimum_throughput_billing_commitment: true })
            .unwrap();
    });
    d.step("create on-demand od", None, |e| {
        e.create_stream(CreateStreamInput { stream_name: "od".into(), ..Default::default() }).unwrap()
    });
    for strategy in [RecordDistribution::Auto, RecordDistribution::UserPartitionKey] {
        d.step("record distribution", None, move |e| {
            e.update_stream_record_distribution_strategy(UpdateStreamRecordDistributionStrategyInput {
                stream: StreamRef::arn(arn("od")),
                record_distribution_strategy: strategy,
            })
            .unwrap()
        });
    }
    d.step("start encryption t", None, |e| {
        e.start_stream_encryption(StreamEncryptionInput {
            stream: StreamRef::name("t"),
            encryption_type: EncryptionType::Kms,
            key_id: "alias/aws/kinesis".into(),
        })
        .unwrap()
    });
    d.step("enable monitoring t", None, |e| {
        e.enable_enhanced_monitoring(EnhancedMonitoringInput {
            stream: StreamRef::name("t"),
            shard_level_metrics: vec![MetricsName::All],
        })
        .unwrap();
    });
    d.step("tag resource t", None, |e| {
        let tags = [("team".to_string(), "data".to_string())].into_iter().collect();
        e.tag_resource(TagResourceInput { resource_arn: arn("t"), tags, stream_id: None }).unwrap()
    });
    d.step("put policy t", None, |e| {
        let policy = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*"}}"#.into();
        e.put_resource_policy(PutResourcePolicyInput { resource_arn: arn("t"), policy, stream_id: None }).unwrap()
    });
    d.step("create channel", None, |e| {
        e.create_channel(channel_input()).unwrap();
    });
    d.puts("od", puts / 2);
    d.step("deliver (buffer)", None, |e| {
        e.deliver_channels().unwrap();
    });
    d.step("deliver (write and commit)", None, |e| {
        assert_eq!(e.deliver_channels().unwrap().objects_written, 1);
    });
    d.puts("od", 6);
    d.step("update channel", None, |e| {
        let arn = e.list_channels(ListChannelsInput::default()).unwrap().channel_summaries[0].channel_arn.clone();
        e.update_channel(UpdateChannelInput {
            channel_arn: arn,
            s3_data_freshness_in_seconds: Some(2),
            ..Default::default()
        })
        .unwrap();
    });
    d.step("warm throughput od", None, |e| {
        e.update_stream_warm_throughput(UpdateStreamWarmThroughputInput {
            stream: StreamRef::name("od"),
            warm_throughput_mibps: 8,
        })
        .unwrap();
    });
    d.step("stream mode t on-demand", None, |e| {
        e.update_stream_mode(UpdateStreamModeInput {
            stream: StreamRef::arn(arn("t")),
            stream_mode: StreamMode::OnDemand,
            warm_throughput_mibps: None,
        })
        .unwrap()
    });
    d.step("stop encryption t", None, |e| {
        e.stop_stream_encryption(StreamEncryptionInput {
            stream: StreamRef::name("t"),
            encryption_type: EncryptionType::Kms,
            key_id: "alias/aws/kinesis".into(),
        })
        .unwrap()
    });
    d.puts("t", 4);
    d.step("account commitment off", None, |e| {
        e.update_account_settings(UpdateAccountSettingsInput { enable_minimum_throughput_billing_commitment: false })
            .unwrap();
    });
    d.finish()
}

fn arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}")
}

/// A STRING channel on `od` (records are text without newlines: one line per record),
/// uncompressed, to bucket `out` of the directory sink, freshness 1 s.
fn channel_input() -> CreateChannelInput {
    CreateChannelInput {
        channel_name: "ch".into(),
        service_execution_role_arn: "arn:aws:iam::000000000000:role/r".into(),
        stream_configuration_list: vec![ChannelStreamConfiguration {
            stream_arn: arn("od"),
            record_configuration: RecordConfiguration {
                record_format_type: RecordFormat::String,
                gsr_schema_arn: None,
            },
        }],
        s3_destination_configuration: Some(S3DestinationConfiguration {
            data_freshness_in_seconds: Some(1),
            dead_letter_queue_s3_configuration: None,
            storage_configuration: S3StorageConfiguration {
                bucket_arn: "arn:aws:s3:::out".into(),
                expected_bucket_owner: "000000000000".into(),
                output_key_template: None,
                storage_class: None,
                compression_type: S3Compression::None,
            },
        }),
        ..Default::default()
    }
}

/// Every line of every object under `dir` of the simulated file system.
fn object_lines(vfs: &shardlog::io::VfsRef, dir: &Path, out: &mut Vec<Bytes>) -> Result<(), String> {
    if !vfs.exists(dir) {
        return Ok(());
    }
    for entry in vfs.read_dir(dir).map_err(|e| format!("read_dir {}: {e}", dir.display()))? {
        let path = dir.join(&entry.name);
        if entry.is_dir {
            object_lines(vfs, &path, out)?;
            continue;
        }
        if entry.name.ends_with(".tmp") {
            continue;
        }
        let f = vfs.open_read(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
        let len = f.len().map_err(|e| format!("stat {}: {e}", path.display()))?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact_at(&mut buf, 0).map_err(|e| format!("read {}: {e}", path.display()))?;
        out.extend(buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(Bytes::copy_from_slice));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------------------

/// What a crash after `n` ops may show.
struct Expect<'w> {
    /// The steps the crash interrupted (empty between steps).
    steps: Vec<&'w Step>,
    /// Allowed topologies (indexes into `topos`).
    allowed: Vec<usize>,
    /// Cutoff of the latest retention pass that had started.
    trim_cutoff: Option<i64>,
}

impl Workload {
    fn expect(&self, n: usize) -> Expect<'_> {
        let steps: Vec<&Step> = self.steps.iter().filter(|s| s.start <= n && n <= s.end).collect();
        let mut allowed: Vec<usize> = steps.iter().flat_map(|s| [s.before, s.after]).collect();
        if allowed.is_empty() {
            let last = self.steps.iter().rev().find(|s| s.end < n).expect("ops 0.. lie in the open step");
            allowed.push(last.after);
        }
        allowed.sort_unstable();
        allowed.dedup();
        let trim_cutoff = self.steps.iter().filter(|s| s.start < n).filter_map(|s| s.trim_cutoff).max();
        Expect { steps, allowed, trim_cutoff }
    }

    fn step_names(&self, n: usize) -> String {
        let e = self.expect(n);
        if e.steps.is_empty() {
            let last = self.steps.iter().rev().find(|s| s.end < n).map_or("?", |s| s.name.as_str());
            format!("between steps (after {last})")
        } else {
            e.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" / ")
        }
    }
}

/// Check one crash state. `Err` describes the first violation.
fn check_state(w: &Workload, state: &CrashState) -> Result<(), String> {
    let n = state.spec.ops;
    let exp = w.expect(n);
    let vfs = state.vfs.shared();
    let clock = ManualClock::new(w.end_ms);
    let e = Engine::open(ROOT, engine_config(vfs.clone(), &clock)).map_err(|err| format!("open failed: {err}"))?;

    // Topology: before or after the interrupted step, never a mix.
    let topo = snapshot(&e).map_err(|err| format!("listing after open failed: {err}"))?;
    if !exp.allowed.iter().any(|&i| w.topos[i] == topo) {
        let allowed: Vec<String> = exp.allowed.iter().map(|&i| describe(&w.topos[i])).collect();
        return Err(format!(
            "topology is neither before nor after the step:\n found:{}\n allowed:{}",
            describe(&topo),
            allowed.join("\n  or:")
        ));
    }

    // No orphans (checked before any read, as reads open shard logs and create directories).
    let root = Path::new(ROOT);
    let (_, catalog) = ManifestStore::open(vfs.clone(), root).map_err(|err| format!("manifest: {err}"))?;
    let catalog = catalog.ok_or("no manifest after open")?;
    sim::check_no_orphans(&vfs, &catalog)?;
    let end_offsets: HashMap<(String, String), u64> = catalog
        .streams
        .values()
        .flat_map(|m| {
            m.shards
                .iter()
                .filter_map(|s| s.closed.map(|c| ((m.name.clone(), names::shard_id_name(s.index)), c.end_offset)))
        })
        .collect();

    // Records.
    let mut seen: HashSet<usize> = HashSet::new();
    for view in &topo.streams {
        let mut per_stream: HashSet<usize> = HashSet::new();
        for shard in &view.shards {
            let (records, ended) = sim::read_shard(&e, &view.name, &shard.shard_id, 7)?;
            let closed = shard.sequence_number_range.ending_sequence_number;
            if closed.is_some() != ended {
                return Err(format!(
                    "{}/{}: closed={} but read-to-end={ended}",
                    view.name,
                    shard.shard_id,
                    closed.is_some()
                ));
            }
            let mut prev: Option<u64> = None;
            for r in &records {
                let at = format!("{}/{} offset {}", view.name, shard.shard_id, r.sequence_number.counter());
                let &i = w.by_data.get(&r.data).ok_or_else(|| format!("{at}: record never written: {:?}", r.data))?;
                let p = &w.puts[i];
                if p.stream != view.name || p.stream_created_ms != view.created_ms {
                    return Err(format!("{at}: record belongs to {}#{}", p.stream, p.stream_created_ms));
                }
                if p.start_op >= n {
                    return Err(format!(
                        "{at}: record of a put issued after the crash point (ops {}..{})",
                        p.start_op, p.ack_op
                    ));
                }
                if p.shard_id != shard.shard_id || p.seq != r.sequence_number {
                    return Err(format!(
                        "{at}: acknowledged as {} {} but read as {} {}",
                        p.shard_id, p.seq, shard.shard_id, r.sequence_number
                    ));
                }
                if p.key != r.partition_key || p.arrival_ms != r.approximate_arrival_timestamp.as_millis() {
                    return Err(format!("{at}: key/arrival differ from the put: {p:?} vs {r:?}"));
                }
                if !seen.insert(i) {
                    return Err(format!("{at}: duplicate record"));
                }
                per_stream.insert(i);
                let off = r.sequence_number.counter();
                if prev.is_some_and(|q| q + 1 != off) {
                    return Err(format!("{at}: offsets not dense (previous {prev:?})"));
                }
                prev = Some(off);
            }
            if let Some(&end) = end_offsets.get(&(view.name.clone(), shard.shard_id.clone())) {
                if let Some(last) = prev {
                    if last + 1 != end {
                        return Err(format!(
                            "{}/{}: closed at offset {end} but its last record is {last}",
                            view.name, shard.shard_id
                        ));
                    }
                }
            }
        }
        // Every acknowledged put of this stream is back, unless retention legitimately
        // removed it; at most the in-flight put beyond them.
        for (i, p) in w.puts.iter().enumerate() {
            if p.stream != view.name || p.stream_created_ms != view.created_ms {
                continue;
            }
            let acked = p.ack_op <= n;
            let present = per_stream.contains(&i);
            if acked && !present {
                let expired = exp.trim_cutoff.is_some_and(|c| p.arrival_ms < c);
                if !expired {
                    return Err(format!(
                        "acknowledged put lost: {}/{} {} key {} (acked at op {})",
                        p.stream, p.shard_id, p.seq, p.key, p.ack_op
                    ));
                }
            }
        }
        let in_flight = per_stream.iter().filter(|&&i| w.puts[i].ack_op > n).count();
        let max_in_flight = w.puts.iter().filter(|p| p.start_op < n && n < p.ack_op).count();
        if in_flight > max_in_flight {
            return Err(format!("{in_flight} unacknowledged puts present, at most {max_in_flight} were in flight"));
        }

        // The lineage reader returns the same records, each once, in per-key order.
        let mut reader = LineageReader::new(&e, StreamRef::name(&view.name), LineageStart::TrimHorizon);
        let mut via_lineage: HashSet<usize> = HashSet::new();
        let mut last_counter: HashMap<String, u32> = HashMap::new();
        for _ in 0..1000 {
            let batch = reader.poll(500).map_err(|err| format!("LineageReader on {}: {err}", view.name))?;
            if batch.is_empty() {
                break;
            }
            for r in batch {
                let &i = w.by_data.get(&r.record.data).ok_or("lineage reader returned an unknown record")?;
                if !via_lineage.insert(i) {
                    return Err(format!("lineage reader returned {} twice", r.record.sequence_number));
                }
                let p = &w.puts[i];
                if let Some(&c) = last_counter.get(&p.key) {
                    if p.counter <= c {
                        return Err(format!("lineage reader: key {} counter {} after {c}", p.key, p.counter));
                    }
                }
                last_counter.insert(p.key.clone(), p.counter);
            }
        }
        if via_lineage != per_stream {
            return Err(format!(
                "lineage reader returned {} records, per-shard reads {}",
                via_lineage.len(),
                per_stream.len()
            ));
        }
    }

    // Channel delivery is at least once: after a reopen and two passes (the freshness has
    // passed), every acknowledged record written to `od` since the channel was created lies
    // in an object, and every object line is a record of `od`.
    let channels = e.list_channels(ListChannelsInput::default()).map_err(|err| format!("ListChannels: {err}"))?;
    if let Some(ch) = channels.channel_summaries.iter().find(|c| c.channel_status == ChannelStatus::Active) {
        let since = ch.channel_creation_timestamp.as_millis();
        e.deliver_channels().map_err(|err| format!("delivery after the crash: {err}"))?;
        clock.advance(Duration::from_secs(10));
        e.deliver_channels().map_err(|err| format!("delivery after the crash: {err}"))?;
        let mut lines = Vec::new();
        object_lines(&vfs, &Path::new(ROOT).join("s3").join("out"), &mut lines)?;
        let delivered: HashSet<usize> = lines
            .iter()
            .map(|l| {
                w.by_data.get(l).copied().filter(|&i| w.puts[i].stream == "od").ok_or("an object holds an unknown line")
            })
            .collect::<Result<_, _>>()?;
        for (i, p) in w.puts.iter().enumerate() {
            if p.stream == "od" && p.ack_op <= n && p.arrival_ms >= since && !delivered.contains(&i) {
                return Err(format!("acknowledged record {} of od (acked at op {}) never delivered", p.seq, p.ack_op));
            }
        }
    }

    // The engine works again.
    sim::probe(&e, topo.streams.iter().map(|v| v.name.clone()).collect())
}

// ---------------------------------------------------------------------------------------
// The sweep
// ---------------------------------------------------------------------------------------

fn full_mode() -> bool {
    std::env::var("SHARDLOG_CRASH_STATES").is_ok_and(|v| v == "full")
}

struct Tally {
    checked: usize,
    per_step: BTreeMap<String, usize>,
    failures: Vec<String>,
}

impl Tally {
    fn run(&mut self, w: &Workload, state: CrashState) {
        let n = state.spec.ops;
        let where_ = w.step_names(n);
        let outcome = catch_unwind(AssertUnwindSafe(|| check_state(w, &state)));
        self.checked += 1;
        *self.per_step.entry(where_.clone()).or_insert(0) += 1;
        let err = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(msg)) => msg,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("PANIC: {msg}")
            }
        };
        self.failures.push(format!("[{where_}] {}: {err}", state.label));
    }
}

/// Keep this state in the PR sweep? Inside a step or a put that rolled a segment (and
/// sealed the previous one): every variant. Between them: every `SAMPLE_EVERY`-th op,
/// whole, zero-filled or cut at 0 / `CUT_STEP`.
fn selected(w: &Workload, state: &CrashState) -> bool {
    let n = state.spec.ops;
    if w.steps.iter().any(|s| s.start <= n && n <= s.end) || w.rolls.iter().any(|&(s, e)| s <= n && n <= e) {
        return true;
    }
    n.is_multiple_of(SAMPLE_EVERY)
        && matches!(state.spec.tail, TailMode::Whole | TailMode::Zeroed | TailMode::Cut(0 | CUT_STEP))
}

#[test]
fn engine_metadata_protocols_survive_every_crash_state() {
    let started = Instant::now();
    let w = run_workload();
    let total_ops = w.sim.op_count();
    println!(
        "workload: {total_ops} ops, {} puts ({} rolls swept like steps), {} protocol steps",
        w.puts.len(),
        w.rolls.len(),
        w.steps.len()
    );
    for s in &w.steps {
        println!("  {:<26} ops {:>5}..={:<5} ({} ops)", s.name, s.start, s.end, s.end - s.start);
    }
    // Sanity: the oracle sees the workload's own final state as valid.
    let final_state = w.sim.crash_states(&CrashSweep { from_op: total_ops, ..CrashSweep::default() }).next().unwrap();
    check_state(&w, &final_state).unwrap_or_else(|e| panic!("the final, uncrashed state fails the oracle: {e}"));

    let full = full_mode();
    let mut tally = Tally { checked: 0, per_step: BTreeMap::new(), failures: Vec::new() };
    // Pass 1: every write kept up to the crash point, the interrupted one whole, cut or
    // zero-filled (garbage too in the full run), with and without un-synced directory changes.
    let sweep = CrashSweep {
        from_op: 0,
        cut_step: if full { 1 } else { CUT_STEP },
        zeroed: true,
        garbage: full,
        bit_flips: 0,
        dir_modes: vec![DirMode::KeepAll, DirMode::DropUnsynced],
        data: DataMode::AllWritten,
    };
    for state in w.sim.crash_states(&sweep) {
        if full || selected(&w, &state) {
            tally.run(&w, state);
        }
    }
    // Pass 2: a strict power cut: only fdatasync'd data and dir-fsync'd entries survive.
    let strict = CrashSweep {
        from_op: 0,
        cut_step: 0,
        zeroed: false,
        garbage: false,
        bit_flips: 0,
        dir_modes: vec![DirMode::DropUnsynced],
        data: DataMode::SyncedOnly,
    };
    for state in w.sim.crash_states(&strict) {
        if full || selected(&w, &state) {
            tally.run(&w, state);
        }
    }
    let elapsed = started.elapsed();
    println!("crash states checked: {} in {elapsed:.1?} ({})", tally.checked, if full { "full" } else { "PR" });
    for (step, count) in &tally.per_step {
        println!("  {count:>6}  {step}");
    }
    if !tally.failures.is_empty() {
        let shown: Vec<&str> = tally.failures.iter().take(15).map(String::as_str).collect();
        panic!("{} of {} crash states failed; first ones:\n{}", tally.failures.len(), tally.checked, shown.join("\n"));
    }
    assert!(tally.checked >= MIN_STATES, "only {} crash states checked, R2 asks for ≥ {MIN_STATES}", tally.checked);
    if full {
        assert!(tally.checked >= 100_000, "the full run checks ≥ 100,000 states, got {}", tally.checked);
    }
}

/// Crash states inside a step cover both of its outcomes: some show the old topology and
/// some the new one (so the "before or after" check is not vacuous), and records the
/// retention pass deletes are there at its first op and gone after its last.
#[test]
fn crash_states_inside_steps_show_both_outcomes() {
    let w = run_workload();
    for step in w.steps.iter().filter(|s| w.topos[s.before] != w.topos[s.after]) {
        let mut seen = HashSet::new();
        for n in step.start..=step.end {
            let vfs = w.sim.crash_at_with(n, TailMode::Whole, DirMode::KeepAll).shared();
            let e = Engine::open(ROOT, engine_config(vfs, &ManualClock::new(w.end_ms))).unwrap();
            let t = snapshot(&e).unwrap();
            let which = (w.topos[step.before] == t, w.topos[step.after] == t);
            assert!(which.0 || which.1, "{} at op {n}: a mixed topology:{}", step.name, describe(&t));
            seen.insert(which.1);
        }
        assert_eq!(seen.len(), 2, "{}: crash points show both the old and the new topology", step.name);
    }
    // The retention step: records of an old segment survive a crash before the step's first
    // op and are gone after its last.
    let trim = w.steps.iter().find(|s| s.trim_cutoff.is_some()).unwrap();
    let count = |n: usize| -> usize {
        let vfs = w.sim.crash_at_with(n, TailMode::Whole, DirMode::KeepAll).shared();
        let e = Engine::open(ROOT, engine_config(vfs, &ManualClock::new(w.end_ms))).unwrap();
        let topo = snapshot(&e).unwrap();
        let s = topo.streams.iter().find(|v| v.name == "s").unwrap();
        s.shards.iter().map(|sh| sim::read_shard(&e, "s", &sh.shard_id, 7).unwrap().0.len()).sum()
    };
    let (before, after) = (count(trim.start), count(trim.end));
    assert!(after < before, "the retention pass removed records ({before} -> {after})");
}

/// A data directory whose catalog holds a stream of many original shards reopens. (The
/// manifest decoder once demanded 48 bytes per shard entry where an open shard without
/// parents takes 47, so a last stream of ≥ 13 such shards made the directory unopenable.)
#[test]
fn a_wide_stream_survives_a_reopen() {
    for shards in [12u32, 13, 200] {
        let sim = SimVfs::new();
        let clock = ManualClock::new(T0);
        let e = Engine::open(ROOT, engine_config(sim.shared(), &clock)).unwrap();
        e.create_stream(CreateStreamInput {
            stream_name: "wide".into(),
            shard_count: Some(shards),
            ..Default::default()
        })
        .unwrap();
        let before = snapshot(&e).unwrap();
        drop(e);
        let e = Engine::open(ROOT, engine_config(sim.power_cut().shared(), &clock))
            .unwrap_or_else(|err| panic!("reopen with a {shards}-shard stream: {err}"));
        assert_eq!(snapshot(&e).unwrap(), before);
    }
}
