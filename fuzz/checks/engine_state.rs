//! An in-memory engine for the engine-level fuzz targets (`manifest`, `engine_ops`, and
//! `request` in `request.rs`), and a snapshot of everything visible through its API, used to
//! check that a rejected call changed nothing.

use std::fmt::Write as _;
use std::sync::Arc;

use shardlog::engine::*;
use shardlog::io::sim::SimVfs;
use shardlog::kinesis::SequenceNumber;
use shardlog::{Durability, Engine, EngineConfig, LogConfig, ManualClock, Sealing};

/// The engine's data directory inside the [`SimVfs`].
pub const ROOT: &str = "/fuzz/data";
/// The clock's start: 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600_000;

/// Small segments (rolls every few records), no background threads, `Buffered` puts.
pub fn engine_config(sim: &SimVfs, clock: &ManualClock) -> EngineConfig {
    EngineConfig {
        vfs: sim.shared(),
        clock: Arc::new(clock.clone()),
        durability: Durability::Buffered,
        retention_check_interval: None,
        channel_delivery_interval: None,
        log: LogConfig {
            segment_max_bytes: 2048,
            segment_max_age: None,
            index_interval_bytes: 256,
            sealing: Sealing::Deferred,
            ..LogConfig::default()
        },
        ..EngineConfig::default()
    }
}

/// Opens (or reopens) the fuzz engine; opening an empty in-memory directory cannot fail.
pub fn open(sim: &SimVfs, clock: &ManualClock) -> shardlog::Result<Engine> {
    Engine::open(ROOT, engine_config(sim, clock))
}

/// One record as a snapshot sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its sequence number.
    pub seq: SequenceNumber,
    /// Its partition key.
    pub key: String,
    /// Its data.
    pub data: Vec<u8>,
}

/// Every record of one shard, read from TRIM_HORIZON to the end (or the open shard's tip).
/// An API error is returned; sequence numbers that do not increase are a panic.
pub fn try_shard_records(e: &Engine, stream: &str, shard_id: &str) -> shardlog::Result<Vec<Seen>> {
    let it = e.get_shard_iterator(GetShardIteratorInput {
        stream: StreamRef::name(stream),
        shard_id: shard_id.to_string(),
        shard_iterator_type: ShardIteratorType::TrimHorizon,
        starting_sequence_number: None,
        timestamp: None,
        dry_run: false,
    })?;
    let mut out: Vec<Seen> = Vec::new();
    let mut next = Some(it.shard_iterator);
    while let Some(iterator) = next.take() {
        let page = e.get_records(GetRecordsInput {
            shard_iterator: iterator,
            limit: Some(10_000),
            stream_arn: None,
            stream_id: None,
            dry_run: false,
        })?;
        if page.records.is_empty() {
            break;
        }
        for r in page.records {
            if let Some(last) = out.last() {
                assert!(last.seq < r.sequence_number, "{stream}/{shard_id}: sequence numbers do not increase");
            }
            out.push(Seen { seq: r.sequence_number, key: r.partition_key, data: r.data.to_vec() });
        }
        next = page.next_shard_iterator;
    }
    Ok(out)
}

/// [`try_shard_records`] of a shard the engine listed: reading it must work.
pub fn shard_records(e: &Engine, stream: &str, shard_id: &str) -> Vec<Seen> {
    try_shard_records(e, stream, shard_id)
        .unwrap_or_else(|err| panic!("reading listed shard {stream}/{shard_id} from TRIM_HORIZON failed: {err}"))
}

/// The shards of a stream, all of them (open and closed).
pub fn shards(e: &Engine, stream: &str) -> shardlog::Result<Vec<Shard>> {
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let page = e.list_shards(ListShardsInput {
            stream: if token.is_some() { StreamRef::default() } else { StreamRef::name(stream) },
            next_token: token.take(),
            max_results: Some(10_000),
            ..ListShardsInput::default()
        })?;
        all.extend(page.shards);
        match page.next_token {
            Some(t) => token = Some(t),
            None => return Ok(all),
        }
    }
}

/// Every live stream's name.
pub fn stream_names(e: &Engine) -> Vec<String> {
    let out = e.list_streams(ListStreamsInput { limit: Some(10_000), ..ListStreamsInput::default() });
    out.map(|o| o.stream_names).unwrap_or_else(|err| panic!("ListStreams failed: {err}"))
}

/// Everything the API shows: streams, their summaries, shards, tags, policies, consumers
/// (with their tags and policies) and records, the account's commitment, and channels (an
/// error reading a shard is part of the picture, not a failure).
pub fn snapshot(e: &Engine) -> String {
    let mut s = String::new();
    for name in stream_names(e) {
        let r = StreamRef::name(&name);
        let summary = e.describe_stream_summary(r.clone());
        let _ = writeln!(s, "stream {name}: {summary:?}");
        let _ = writeln!(
            s,
            "  tags {:?}",
            e.list_tags_for_stream(ListTagsForStreamInput { stream: r.clone(), ..Default::default() })
        );
        if let Ok(summary) = &summary {
            let arn = summary.stream_arn.clone();
            let policy = e.get_resource_policy(ResourcePolicyInput { resource_arn: arn.clone(), stream_id: None });
            let _ = writeln!(s, "  policy {policy:?}");
            let consumers = e.list_stream_consumers(ListStreamConsumersInput {
                stream_arn: arn,
                next_token: None,
                max_results: Some(10_000),
                stream_creation_timestamp: None,
                stream_id: None,
            });
            let _ = writeln!(s, "  consumers {consumers:?}");
            for c in consumers.iter().flat_map(|c| &c.consumers) {
                let arn = c.consumer_arn.clone();
                let tags =
                    e.list_tags_for_resource(ListTagsForResourceInput { resource_arn: arn.clone(), stream_id: None });
                let policy = e.get_resource_policy(ResourcePolicyInput { resource_arn: arn, stream_id: None });
                let _ = writeln!(s, "    {}: {tags:?} {policy:?}", c.consumer_name);
            }
        }
        match shards(e, &name) {
            Ok(list) => {
                for sh in list {
                    match try_shard_records(e, &name, &sh.shard_id) {
                        Ok(records) => {
                            let _ = writeln!(s, "  {sh:?}: {} records", records.len());
                            for r in records {
                                let _ = writeln!(s, "    {} {:?} {} bytes", r.seq, r.key, r.data.len());
                            }
                        }
                        Err(err) => {
                            let _ = writeln!(s, "  {sh:?}: {err}");
                        }
                    }
                }
            }
            Err(err) => {
                let _ = writeln!(s, "  shards: {err}");
            }
        }
    }
    let _ = writeln!(s, "account {:?}", e.describe_account_settings());
    if let Ok(list) = e.list_channels(ListChannelsInput::default()) {
        for c in list.channel_summaries {
            let tags = e.list_tags_for_resource(ListTagsForResourceInput {
                resource_arn: c.channel_arn.clone(),
                stream_id: None,
            });
            let _ = writeln!(s, "channel {:?} {tags:?}", e.describe_channel(&c.channel_arn));
        }
    }
    s
}

/// Every file the engine made lies under [`ROOT`].
pub fn assert_files_inside_root(sim: &SimVfs) {
    for path in sim.list_files() {
        assert!(path.starts_with(ROOT), "file {} outside the data directory", path.display());
    }
}
