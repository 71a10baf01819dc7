//! Byte layout of the `MANIFEST` file (see `docs/format.md`): a fixed header, the encoded
//! catalog, and a CRC-32 over everything before it. Decoding checks every length against the
//! bytes that remain before allocating, and rejects unknown versions.
//!
//! Version 2 (written since the 2026 API: capacity, encryption, monitoring, policies,
//! account settings, channels) appends its fields to version 1's stream, consumer and
//! catalog records; version 1 manifests are still read (the new fields take their
//! defaults, stream ids are derived from the key and uid as for new streams). Version 3
//! (queues) appends the queue uid counter and the queues to the catalog record; versions 1
//! and 2 are still read (no queues).

use std::collections::BTreeMap;

use crate::catalog::channel::{
    ChannelDestination, ChannelLogging, ChannelMeta, DeadLetterS3, DeliveryState, RecordFormat, S3Compression,
    S3Destination, StorageClass, TableConfig, TablesCompression, TablesDestination,
};
use crate::catalog::queue::{QueueMeta, QueueStart, QueueStartKind};
use crate::catalog::wire::{DecodeResult, Reader, Writer};
use crate::catalog::{
    Catalog, Checkpoint, Commitment, ConsumerMeta, RecordDistribution, ShardClose, ShardMeta, StreamLifecycle,
    StreamMeta, StreamMode, WarmThroughput,
};
use crate::kinesis::quotas::{
    DEFAULT_MAX_RECORD_KIB, DEFAULT_RETENTION_HOURS, MAX_CONSUMERS_PER_STREAM_ADVANTAGE, MAX_MAX_RECORD_KIB,
    MAX_RETENTION_HOURS,
};
use crate::kinesis::{ids, names, HashKeyRange};
use crate::log::queue::{DeadLetter, QueueConfig};

/// Magic bytes of the manifest.
pub const MANIFEST_MAGIC: [u8; 4] = *b"SLMF";
/// Manifest format version written by this build (versions 1 and 2 are still read).
pub const MANIFEST_VERSION: u16 = 3;
/// Header bytes: magic, version, reserved, generation, body length.
pub const MANIFEST_HEADER_LEN: usize = 20;
/// Largest manifest accepted (bytes).
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024 * 1024;

/// Encode a catalog at `generation` as a complete manifest file (the current version).
pub fn encode(catalog: &Catalog, generation: u64) -> Vec<u8> {
    encode_version(catalog, generation, MANIFEST_VERSION)
}

/// Encode in format `version` (1 drops every field version 2 added, 2 drops the queues;
/// kept for tests of the upgrade path).
pub fn encode_version(catalog: &Catalog, generation: u64, version: u16) -> Vec<u8> {
    let v2 = version >= 2;
    let mut w = Writer(Vec::with_capacity(4096));
    w.0.extend_from_slice(&catalog.token_key);
    w.u64(catalog.next_stream_uid);
    w.u32(catalog.streams.len() as u32);
    for s in catalog.streams.values() {
        encode_stream(&mut w, s, v2);
    }
    w.u32(catalog.checkpoints.len() as u32);
    for c in &catalog.checkpoints {
        w.u64(c.stream_uid);
        w.str(&c.owner);
        w.u32(c.shard_index);
        w.str(&c.sequence_number);
        w.u8(u8::from(c.finished));
    }
    if v2 {
        w.opt_i64(catalog.commitment.started_ms);
        w.opt_i64(catalog.commitment.ends_ms);
        w.u64(catalog.next_channel_uid);
        w.u32(catalog.channels.len() as u32);
        for c in catalog.channels.values() {
            encode_channel(&mut w, c);
        }
    }
    if version >= 3 {
        w.u64(catalog.next_queue_uid);
        w.u32(catalog.queues.len() as u32);
        for q in catalog.queues.values() {
            encode_queue(&mut w, q);
        }
    }
    let body = w.0;
    let mut out = Vec::with_capacity(MANIFEST_HEADER_LEN + body.len() + 4);
    out.extend_from_slice(&MANIFEST_MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn encode_stream(w: &mut Writer, s: &StreamMeta, v2: bool) {
    w.u64(s.uid);
    w.str(&s.name);
    w.i64(s.created_ms);
    match s.lifecycle {
        StreamLifecycle::Live => w.u8(0),
        StreamLifecycle::Deleting { since_ms } => {
            w.u8(1);
            w.i64(since_ms);
        }
    }
    w.i64(s.updated_ms);
    w.u32(s.retention_hours);
    w.u32(s.max_record_size_kib);
    w.u8(match s.mode {
        StreamMode::Provisioned => 0,
        StreamMode::OnDemand => 1,
    });
    w.u32(s.next_shard_index);
    match s.max_bytes {
        Some(b) => {
            w.u8(1);
            w.u64(b);
        }
        None => w.u8(0),
    }
    w.str_map(&s.tags);
    w.u32(s.shards.len() as u32);
    for sh in &s.shards {
        w.u32(sh.index);
        w.u128(sh.range.starting_hash_key);
        w.u128(sh.range.ending_hash_key);
        w.i64(sh.created_ms);
        w.opt_u32(sh.parent);
        w.opt_u32(sh.adjacent_parent);
        match sh.closed {
            Some(c) => {
                w.u8(1);
                w.i64(c.closed_ms);
                w.u64(c.end_offset);
            }
            None => w.u8(0),
        }
    }
    w.u32(s.consumers.len() as u32);
    for c in &s.consumers {
        w.str(&c.name);
        w.i64(c.created_ms);
        if v2 {
            w.str_map(&c.tags);
            w.opt_str(c.policy.as_deref());
        }
    }
    w.i64_list(&s.scaling_history_ms);
    if !v2 {
        return;
    }
    w.str(&s.stream_id);
    w.u8(match s.distribution {
        RecordDistribution::UserPartitionKey => 0,
        RecordDistribution::Auto => 1,
    });
    w.opt_str(s.encryption_key.as_deref());
    w.i64_list(&s.key_changes_ms);
    w.i64_list(&s.encryption_stops_ms);
    w.u8(s.shard_level_metrics);
    w.i64_list(&s.mode_changes_ms);
    match s.warm_throughput {
        Some(wt) => {
            w.u8(1);
            w.u32(wt.target_mibps);
            w.u32(wt.previous_mibps);
        }
        None => w.u8(0),
    }
    w.opt_str(s.policy.as_deref());
    w.u64(s.peak_write_bytes_per_sec);
}

fn encode_dead_letter(w: &mut Writer, d: &DeadLetterS3) {
    w.str(&d.bucket_arn);
    w.str(&d.expected_bucket_owner);
    w.opt_str(d.error_output_prefix.as_deref());
}

fn encode_channel(w: &mut Writer, c: &ChannelMeta) {
    w.u64(c.uid);
    w.str(&c.id);
    w.str(&c.name);
    w.i64(c.created_ms);
    w.i64(c.updated_ms);
    w.str(&c.role_arn);
    w.u64(c.stream_uid);
    w.u8(enum_index(&RecordFormat::ALL, c.record_format));
    w.opt_str(c.gsr_schema_arn.as_deref());
    match &c.destination {
        ChannelDestination::S3(d) => {
            w.u8(0);
            w.u32(d.freshness_secs);
            encode_dead_letter(w, &d.dead_letter);
            w.str(&d.bucket_arn);
            w.str(&d.expected_bucket_owner);
            w.opt_str(d.output_key_template.as_deref());
            match d.storage_class {
                Some(sc) => {
                    w.u8(1);
                    w.u8(enum_index(&StorageClass::ALL, sc));
                }
                None => w.u8(0),
            }
            w.u8(enum_index(&S3Compression::ALL, d.compression));
        }
        ChannelDestination::S3Tables(d) => {
            w.u8(1);
            w.u32(d.freshness_secs);
            encode_dead_letter(w, &d.dead_letter);
            w.u32(d.tables.len() as u32);
            for t in &d.tables {
                w.str(&t.table_bucket_arn);
                w.str(&t.namespace);
                w.str(&t.table_name);
                w.u8(enum_index(&TablesCompression::ALL, t.compression));
                match &t.partition_fields {
                    Some(fields) => {
                        w.u8(1);
                        w.u32(fields.len() as u32);
                        for (transform, source) in fields {
                            w.str(transform);
                            w.str(source);
                        }
                    }
                    None => w.u8(0),
                }
            }
        }
    }
    w.opt_str(c.encryption_key.as_deref());
    w.str_map(&c.tags);
    w.bool(c.logging.enabled);
    w.opt_str(c.logging.log_group_name.as_deref());
    w.opt_str(c.logging.log_stream_name.as_deref());
    w.opt_i64(c.deleting_since_ms);
    w.opt_str(c.failure.as_deref());
    w.u32(c.delivery.first_new_shard);
    w.u32(c.delivery.positions.len() as u32);
    for (shard, offset) in &c.delivery.positions {
        w.u32(*shard);
        w.u64(*offset);
    }
    w.u64(c.delivery.objects);
}

fn enum_index<T: PartialEq + Copy>(all: &[T], v: T) -> u8 {
    all.iter().position(|x| *x == v).unwrap_or(0) as u8
}

fn enum_at<T: Copy>(all: &[T], i: u8, what: &str) -> DecodeResult<T> {
    all.get(usize::from(i)).copied().ok_or_else(|| format!("bad {what} {i}"))
}

/// Decode a manifest file: `(generation, catalog)`. Any damage or inconsistency is an `Err`
/// describing it.
pub fn decode(bytes: &[u8]) -> DecodeResult<(u64, Catalog)> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(format!("manifest of {} bytes exceeds the limit", bytes.len()));
    }
    if bytes.len() < MANIFEST_HEADER_LEN + 4 {
        return Err(format!("{} bytes is shorter than a manifest header", bytes.len()));
    }
    let (content, crc) = bytes.split_at(bytes.len() - 4);
    let mut c = [0u8; 4];
    c.copy_from_slice(crc);
    if u32::from_le_bytes(c) != crc32fast::hash(content) {
        return Err("manifest CRC mismatch".into());
    }
    let mut r = Reader { buf: content, pos: 0 };
    if r.arr::<4>()? != MANIFEST_MAGIC {
        return Err("bad manifest magic".into());
    }
    let version = r.u16()?;
    if !(1..=MANIFEST_VERSION).contains(&version) {
        return Err(format!("unsupported manifest format version {version}"));
    }
    let v2 = version >= 2;
    r.u16()?;
    let generation = r.u64()?;
    let body_len = r.u32()? as usize;
    if body_len != content.len() - MANIFEST_HEADER_LEN {
        return Err(format!("body length {body_len} does not match the file"));
    }
    let token_key = r.arr::<32>()?;
    let next_stream_uid = r.u64()?;
    let mut streams: BTreeMap<u64, StreamMeta> = BTreeMap::new();
    for _ in 0..r.count(40)? {
        let s = decode_stream(&mut r, v2, &token_key)?;
        if s.uid >= next_stream_uid {
            return Err(format!("stream uid {} not below the next uid {next_stream_uid}", s.uid));
        }
        if streams.values().any(|o| o.name == s.name) {
            return Err(format!("two streams are named {:?}", s.name));
        }
        if streams.values().any(|o| o.stream_id == s.stream_id) {
            return Err(format!("two streams have the id {:?}", s.stream_id));
        }
        if streams.insert(s.uid, s).is_some() {
            return Err("duplicate stream uid".into());
        }
    }
    let mut checkpoints = Vec::new();
    for _ in 0..r.count(21)? {
        let stream_uid = r.u64()?;
        let owner = r.str()?;
        let shard_index = r.u32()?;
        let sequence_number = r.str()?;
        let finished = r.bool()?;
        checkpoints.push(Checkpoint { stream_uid, owner, shard_index, sequence_number, finished });
    }
    let mut catalog = Catalog::new(token_key);
    catalog.next_stream_uid = next_stream_uid;
    catalog.streams = streams;
    catalog.checkpoints = checkpoints;
    if v2 {
        catalog.commitment = Commitment { started_ms: r.opt_i64()?, ends_ms: r.opt_i64()? };
        if !catalog.commitment.is_consistent() {
            return Err("impossible billing commitment".into());
        }
        catalog.next_channel_uid = r.u64()?;
        for _ in 0..r.count(64)? {
            let ch = decode_channel(&mut r)?;
            check_channel(&catalog, &ch)?;
            catalog.channels.insert(ch.uid, ch);
        }
    }
    if version >= 3 {
        catalog.next_queue_uid = r.u64()?;
        for _ in 0..r.count(64)? {
            let q = decode_queue(&mut r)?;
            check_queue(&catalog, &q)?;
            catalog.queues.insert(q.uid, q);
        }
    }
    if r.pos != content.len() {
        return Err(format!("{} trailing bytes", content.len() - r.pos));
    }
    Ok((generation, catalog))
}

fn decode_stream(r: &mut Reader<'_>, v2: bool, token_key: &[u8; 32]) -> DecodeResult<StreamMeta> {
    let uid = r.u64()?;
    let name = r.str()?;
    let created_ms = r.i64()?;
    let lifecycle = match r.u8()? {
        0 => StreamLifecycle::Live,
        1 => StreamLifecycle::Deleting { since_ms: r.i64()? },
        t => return Err(format!("bad lifecycle tag {t}")),
    };
    let updated_ms = r.i64()?;
    let retention_hours = r.u32()?;
    let max_record_size_kib = r.u32()?;
    let mode = match r.u8()? {
        0 => StreamMode::Provisioned,
        1 => StreamMode::OnDemand,
        t => return Err(format!("bad stream mode {t}")),
    };
    let next_shard_index = r.u32()?;
    let max_bytes = r.opt_u64()?;
    let tags = r.str_map()?;
    let mut shards: Vec<ShardMeta> = Vec::new();
    for _ in 0..r.count(47)? {
        let index = r.u32()?;
        let starting_hash_key = r.u128()?;
        let ending_hash_key = r.u128()?;
        let created_ms = r.i64()?;
        let parent = r.opt_u32()?;
        let adjacent_parent = r.opt_u32()?;
        let closed = match r.u8()? {
            0 => None,
            1 => Some(ShardClose { closed_ms: r.i64()?, end_offset: r.u64()? }),
            t => return Err(format!("bad option tag {t}")),
        };
        if starting_hash_key > ending_hash_key {
            return Err(format!("shard {index} has an inverted hash-key range"));
        }
        if index >= next_shard_index || shards.last().is_some_and(|p| p.index >= index) {
            return Err(format!("shard index {index} out of order or not below {next_shard_index}"));
        }
        shards.push(ShardMeta {
            index,
            range: HashKeyRange { starting_hash_key, ending_hash_key },
            created_ms,
            parent,
            adjacent_parent,
            closed,
        });
    }
    let mut consumers = Vec::new();
    for _ in 0..r.count(12)? {
        let mut c = ConsumerMeta::new(r.str()?, r.i64()?);
        if v2 {
            c.tags = r.str_map()?;
            c.policy = r.opt_str()?;
        }
        consumers.push(c);
    }
    let scaling_history_ms = r.i64_list()?;
    let mut s = StreamMeta {
        uid,
        name,
        created_ms,
        lifecycle,
        updated_ms,
        retention_hours,
        max_record_size_kib,
        mode,
        next_shard_index,
        tags,
        shards,
        consumers,
        max_bytes,
        scaling_history_ms,
        stream_id: ids::stream_id(token_key, uid),
        distribution: RecordDistribution::UserPartitionKey,
        encryption_key: None,
        key_changes_ms: Vec::new(),
        encryption_stops_ms: Vec::new(),
        shard_level_metrics: 0,
        mode_changes_ms: Vec::new(),
        warm_throughput: None,
        policy: None,
        peak_write_bytes_per_sec: 0,
    };
    if v2 {
        s.stream_id = r.str()?;
        s.distribution = match r.u8()? {
            0 => RecordDistribution::UserPartitionKey,
            1 => RecordDistribution::Auto,
            t => return Err(format!("bad record distribution {t}")),
        };
        s.encryption_key = r.opt_str()?;
        s.key_changes_ms = r.i64_list()?;
        s.encryption_stops_ms = r.i64_list()?;
        s.shard_level_metrics = r.u8()?;
        s.mode_changes_ms = r.i64_list()?;
        s.warm_throughput = match r.u8()? {
            0 => None,
            1 => Some(WarmThroughput { target_mibps: r.u32()?, previous_mibps: r.u32()? }),
            t => return Err(format!("bad option tag {t}")),
        };
        s.policy = r.opt_str()?;
        s.peak_write_bytes_per_sec = r.u64()?;
    }
    check_stream(&s)?;
    check_tiling(&s)?;
    Ok(s)
}

fn decode_dead_letter(r: &mut Reader<'_>) -> DecodeResult<DeadLetterS3> {
    Ok(DeadLetterS3 { bucket_arn: r.str()?, expected_bucket_owner: r.str()?, error_output_prefix: r.opt_str()? })
}

fn decode_channel(r: &mut Reader<'_>) -> DecodeResult<ChannelMeta> {
    let uid = r.u64()?;
    let id = r.str()?;
    let name = r.str()?;
    let created_ms = r.i64()?;
    let updated_ms = r.i64()?;
    let role_arn = r.str()?;
    let stream_uid = r.u64()?;
    let record_format = enum_at(&RecordFormat::ALL, r.u8()?, "record format")?;
    let gsr_schema_arn = r.opt_str()?;
    let destination = match r.u8()? {
        0 => {
            let freshness_secs = r.u32()?;
            let dead_letter = decode_dead_letter(r)?;
            let bucket_arn = r.str()?;
            let expected_bucket_owner = r.str()?;
            let output_key_template = r.opt_str()?;
            let storage_class = match r.u8()? {
                0 => None,
                1 => Some(enum_at(&StorageClass::ALL, r.u8()?, "storage class")?),
                t => return Err(format!("bad option tag {t}")),
            };
            let compression = enum_at(&S3Compression::ALL, r.u8()?, "compression")?;
            ChannelDestination::S3(S3Destination {
                freshness_secs,
                dead_letter,
                bucket_arn,
                expected_bucket_owner,
                output_key_template,
                storage_class,
                compression,
            })
        }
        1 => {
            let freshness_secs = r.u32()?;
            let dead_letter = decode_dead_letter(r)?;
            let mut tables = Vec::new();
            for _ in 0..r.count(14)? {
                let table_bucket_arn = r.str()?;
                let namespace = r.str()?;
                let table_name = r.str()?;
                let compression = enum_at(&TablesCompression::ALL, r.u8()?, "compression")?;
                let partition_fields = match r.u8()? {
                    0 => None,
                    1 => {
                        let mut fields = Vec::new();
                        for _ in 0..r.count(8)? {
                            fields.push((r.str()?, r.str()?));
                        }
                        Some(fields)
                    }
                    t => return Err(format!("bad option tag {t}")),
                };
                tables.push(TableConfig { table_bucket_arn, namespace, table_name, compression, partition_fields });
            }
            ChannelDestination::S3Tables(TablesDestination { freshness_secs, dead_letter, tables })
        }
        t => return Err(format!("bad destination tag {t}")),
    };
    let encryption_key = r.opt_str()?;
    let tags = r.str_map()?;
    let logging = ChannelLogging { enabled: r.bool()?, log_group_name: r.opt_str()?, log_stream_name: r.opt_str()? };
    let deleting_since_ms = r.opt_i64()?;
    let failure = r.opt_str()?;
    let first_new_shard = r.u32()?;
    let mut positions = BTreeMap::new();
    for _ in 0..r.count(12)? {
        let shard = r.u32()?;
        if positions.insert(shard, r.u64()?).is_some() {
            return Err(format!("channel {uid}: shard {shard} has two positions"));
        }
    }
    let objects = r.u64()?;
    Ok(ChannelMeta {
        uid,
        id,
        name,
        created_ms,
        updated_ms,
        role_arn,
        stream_uid,
        record_format,
        gsr_schema_arn,
        destination,
        encryption_key,
        tags,
        logging,
        deleting_since_ms,
        failure,
        delivery: DeliveryState { first_new_shard, positions, objects },
    })
}

fn encode_queue(w: &mut Writer, q: &QueueMeta) {
    w.u64(q.uid);
    w.str(&q.id);
    w.str(&q.name);
    w.i64(q.created_ms);
    w.i64(q.updated_ms);
    w.u64(q.stream_uid);
    w.u8(enum_index(&QueueStartKind::ALL, q.start.kind));
    w.opt_i64(q.start.requested_ms);
    w.i64(q.start.effective_ms);
    w.u64(q.config.visibility_timeout_ms);
    match q.config.dead_letter {
        DeadLetter::Off => w.u8(0),
        DeadLetter::BuiltIn { max_receive_count } => {
            w.u8(1);
            w.u32(max_receive_count);
        }
    }
    w.str_map(&q.tags);
    w.opt_str(q.policy.as_deref());
    w.opt_i64(q.deleting_since_ms);
}

fn decode_queue(r: &mut Reader<'_>) -> DecodeResult<QueueMeta> {
    let uid = r.u64()?;
    let id = r.str()?;
    let name = r.str()?;
    let created_ms = r.i64()?;
    let updated_ms = r.i64()?;
    let stream_uid = r.u64()?;
    let kind = enum_at(&QueueStartKind::ALL, r.u8()?, "queue starting position")?;
    let requested_ms = r.opt_i64()?;
    let effective_ms = r.i64()?;
    let visibility_timeout_ms = r.u64()?;
    let dead_letter = match r.u8()? {
        0 => DeadLetter::Off,
        1 => DeadLetter::BuiltIn { max_receive_count: r.u32()? },
        t => return Err(format!("queue {uid}: bad dead-letter tag {t}")),
    };
    let tags = r.str_map()?;
    let policy = r.opt_str()?;
    let deleting_since_ms = r.opt_i64()?;
    Ok(QueueMeta {
        uid,
        id,
        name,
        created_ms,
        updated_ms,
        stream_uid,
        start: QueueStart { kind, requested_ms, effective_ms },
        config: QueueConfig { visibility_timeout_ms, dead_letter },
        tags,
        policy,
        deleting_since_ms,
    })
}

/// A queue must have what the API stores: a known stream, a unique name and DNS-label id,
/// attributes in range, a timestamp exactly when AT_TIMESTAMP, valid tags and policy.
fn check_queue(catalog: &Catalog, q: &QueueMeta) -> DecodeResult<()> {
    let id = q.uid;
    if q.uid >= catalog.next_queue_uid || catalog.queues.contains_key(&q.uid) {
        return Err(format!("queue uid {id} repeated or not below the next uid"));
    }
    if !ids::is_dns_label(&q.id) || catalog.queues.values().any(|o| o.id == q.id) {
        return Err(format!("queue {id}: invalid or repeated id {:?}", q.id));
    }
    if names::validate_consumer_name(&q.name).is_err() || catalog.queues.values().any(|o| o.name == q.name) {
        return Err(format!("queue {id}: invalid or repeated name {:?}", q.name));
    }
    if !catalog.streams.contains_key(&q.stream_uid) {
        return Err(format!("queue {id} reads unknown stream {}", q.stream_uid));
    }
    if !crate::catalog::queue::config_in_range(&q.config) {
        return Err(format!("queue {id}: attributes out of range"));
    }
    if (q.start.kind == QueueStartKind::AtTimestamp) != q.start.requested_ms.is_some() {
        return Err(format!("queue {id}: a timestamp goes with AT_TIMESTAMP and only with it"));
    }
    if !tags_ok(&q.tags) || q.policy.as_deref().is_some_and(|p| !policy_ok(p)) {
        return Err(format!("queue {id}: invalid tags or policy"));
    }
    Ok(())
}

/// A channel must have what the API stores: a known stream, a unique name and DNS-label id,
/// exactly one table for S3 Tables, tags and configuration values the API accepts.
fn check_channel(catalog: &Catalog, c: &ChannelMeta) -> DecodeResult<()> {
    let id = c.uid;
    if c.uid >= catalog.next_channel_uid || catalog.channels.contains_key(&c.uid) {
        return Err(format!("channel uid {id} repeated or not below the next uid"));
    }
    if !ids::is_dns_label(&c.id) || catalog.channels.values().any(|o| o.id == c.id) {
        return Err(format!("channel {id}: invalid or repeated id {:?}", c.id));
    }
    if names::validate_consumer_name(&c.name).is_err() || catalog.channels.values().any(|o| o.name == c.name) {
        return Err(format!("channel {id}: invalid or repeated name {:?}", c.name));
    }
    let Some(stream) = catalog.streams.get(&c.stream_uid) else {
        return Err(format!("channel {id} reads unknown stream {}", c.stream_uid));
    };
    if c.delivery.first_new_shard > stream.next_shard_index {
        return Err(format!("channel {id}: first new shard beyond the stream's shards"));
    }
    if let ChannelDestination::S3Tables(t) = &c.destination {
        if t.tables.len() != 1 {
            return Err(format!("channel {id}: {} tables", t.tables.len()));
        }
    }
    if c.tags.len() > names::MAX_TAGS_PER_STREAM
        || c.tags.iter().any(|(k, v)| names::validate_tag_key(k).is_err() || names::validate_tag_value(v).is_err())
    {
        return Err(format!("channel {id}: invalid tags"));
    }
    if c.failure.as_ref().is_some_and(|f| f.is_empty() || f.len() > 2048) {
        return Err(format!("channel {id}: invalid failure reason"));
    }
    Ok(())
}

/// Values the API can never have stored are damage too: a name, limit, tag or consumer it
/// would have refused, a stream without shards, a parent that is still open or younger.
fn check_stream(s: &StreamMeta) -> DecodeResult<()> {
    let id = s.uid;
    names::validate_stream_name(&s.name).map_err(|_| format!("stream {id}: invalid name {:?}", s.name))?;
    if !(DEFAULT_RETENTION_HOURS..=MAX_RETENTION_HOURS).contains(&s.retention_hours) {
        return Err(format!("stream {id}: retention of {} hours is out of range", s.retention_hours));
    }
    if !(DEFAULT_MAX_RECORD_KIB..=MAX_MAX_RECORD_KIB).contains(&s.max_record_size_kib) {
        return Err(format!("stream {id}: maximum record size of {} KiB is out of range", s.max_record_size_kib));
    }
    if s.shards.is_empty() {
        return Err(format!("stream {id} has no shards"));
    }
    if !tags_ok(&s.tags) {
        return Err(format!("stream {id} has {} tags, or an invalid tag", s.tags.len()));
    }
    if s.consumers.len() > MAX_CONSUMERS_PER_STREAM_ADVANTAGE {
        return Err(format!("stream {id} has {} consumers", s.consumers.len()));
    }
    for (i, c) in s.consumers.iter().enumerate() {
        if names::validate_consumer_name(&c.name).is_err() || s.consumers.iter().take(i).any(|o| o.name == c.name) {
            return Err(format!("stream {id}: invalid or repeated consumer name {:?}", c.name));
        }
        if !tags_ok(&c.tags) || c.policy.as_deref().is_some_and(|p| !policy_ok(p)) {
            return Err(format!("stream {id}: consumer {:?} has invalid tags or policy", c.name));
        }
    }
    if !ids::is_stream_id(&s.stream_id) {
        return Err(format!("stream {id}: invalid stream id {:?}", s.stream_id));
    }
    if s.distribution == RecordDistribution::Auto && s.mode != StreamMode::OnDemand {
        return Err(format!("stream {id}: AUTO record distribution on a provisioned stream"));
    }
    if s.warm_throughput.is_some() && s.mode != StreamMode::OnDemand {
        return Err(format!("stream {id}: warm throughput on a provisioned stream"));
    }
    if s.encryption_key.as_deref().is_some_and(|k| crate::engine::encryption::validate_key_id(k).is_err()) {
        return Err(format!("stream {id}: invalid encryption key id"));
    }
    if s.shard_level_metrics >= 1 << crate::engine::types::ShardMetric::ALL.len() {
        return Err(format!("stream {id}: unknown shard-level metrics {:#x}", s.shard_level_metrics));
    }
    if s.policy.as_deref().is_some_and(|p| !policy_ok(p)) {
        return Err(format!("stream {id}: invalid resource policy"));
    }
    // A parent has a lower index and is closed; it may be gone (expired by retention).
    let parent_ok =
        |parent: u32, child: u32| parent < child && s.shards.iter().all(|p| p.index != parent || !p.is_open());
    for sh in &s.shards {
        let parents_ok = match (sh.parent, sh.adjacent_parent) {
            (None, None) => true,
            (Some(p), None) => parent_ok(p, sh.index),
            (Some(p), Some(a)) => p != a && parent_ok(p, sh.index) && parent_ok(a, sh.index),
            (None, Some(_)) => false,
        };
        if !parents_ok {
            return Err(format!("stream {id}: shard {} names an impossible parent", sh.index));
        }
    }
    Ok(())
}

/// At most 50 tags, keys and values of valid lengths and characters. The characters are
/// those any tagging path accepts (TagResource's union of the documented sets, of which
/// AddTagsToStream's is a subset), so no committed catalog is ever refused.
fn tags_ok(tags: &BTreeMap<String, String>) -> bool {
    tags.len() <= names::MAX_TAGS_PER_STREAM
        && tags.iter().all(|(k, v)| {
            names::validate_tag_key(k).is_ok()
                && names::validate_tag_value(v).is_ok()
                && crate::engine::resources::tag_chars_ok(k)
                && crate::engine::resources::tag_chars_ok(v)
        })
}

fn policy_ok(p: &str) -> bool {
    crate::engine::resources::validate_policy(p).is_ok()
}

/// The open shards of a live stream must tile the hash-key space exactly (a stream has shards:
/// [`check_stream`] ran first).
fn check_tiling(s: &StreamMeta) -> DecodeResult<()> {
    let mut expect: Option<u128> = Some(0);
    for sh in s.open_shards() {
        if expect != Some(sh.range.starting_hash_key) {
            return Err(format!("stream {}: open shards leave a gap or overlap at shard {}", s.uid, sh.index));
        }
        expect = sh.range.ending_hash_key.checked_add(1);
    }
    if expect.is_some() {
        return Err(format!("stream {}: open shards do not reach the end of the hash-key space", s.uid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinesis::even_split;

    pub(crate) fn sample() -> Catalog {
        let mut c = Catalog::new([7; 32]);
        let shards = even_split(3)
            .into_iter()
            .enumerate()
            .map(|(i, range)| ShardMeta {
                index: i as u32,
                range,
                created_ms: 1000,
                parent: None,
                adjacent_parent: None,
                closed: None,
            })
            .collect();
        let mut tags = BTreeMap::new();
        tags.insert("k".to_string(), "v".to_string());
        c.streams.insert(
            1,
            StreamMeta {
                uid: 1,
                name: "a.b".into(),
                created_ms: 1000,
                lifecycle: StreamLifecycle::Live,
                updated_ms: 1000,
                retention_hours: 24,
                max_record_size_kib: 1024,
                mode: StreamMode::Provisioned,
                next_shard_index: 3,
                tags,
                shards,
                consumers: vec![ConsumerMeta::new("c", 5)],
                max_bytes: Some(1 << 30),
                scaling_history_ms: vec![5, 6],
                stream_id: ids::stream_id(&[7; 32], 1),
                distribution: RecordDistribution::UserPartitionKey,
                encryption_key: None,
                key_changes_ms: Vec::new(),
                encryption_stops_ms: Vec::new(),
                shard_level_metrics: 0,
                mode_changes_ms: Vec::new(),
                warm_throughput: None,
                policy: None,
                peak_write_bytes_per_sec: 0,
            },
        );
        c.next_stream_uid = 2;
        c.checkpoints.push(Checkpoint {
            stream_uid: 1,
            owner: "esm".into(),
            shard_index: 1,
            sequence_number: "49".into(),
            finished: true,
        });
        c
    }

    /// [`sample`] plus everything version 2 stores: an on-demand stream with every setting,
    /// consumer tags and policy, the account commitment and a channel.
    pub(crate) fn sample_v2() -> Catalog {
        let mut c = sample();
        let mut od = stream(&mut c).clone();
        od.uid = 2;
        od.name = "od".into();
        od.stream_id = ids::stream_id(&[7; 32], 2);
        od.mode = StreamMode::OnDemand;
        od.distribution = RecordDistribution::Auto;
        od.encryption_key = Some("alias/aws/kinesis".into());
        od.key_changes_ms = vec![10];
        od.encryption_stops_ms = vec![11];
        od.shard_level_metrics = 0b101_0101;
        od.mode_changes_ms = vec![12, 13];
        od.warm_throughput = Some(WarmThroughput { target_mibps: 8, previous_mibps: 4 });
        od.policy = Some(POLICY.into());
        od.peak_write_bytes_per_sec = 3 << 20;
        od.consumers[0].tags.insert("team".into(), "a".into());
        od.consumers[0].policy = Some(POLICY.into());
        c.streams.insert(2, od);
        c.next_stream_uid = 3;
        c.commitment = Commitment { started_ms: Some(100), ends_ms: Some(100 + 24 * 3_600_000) };
        let dead_letter = DeadLetterS3 {
            bucket_arn: "arn:aws:s3:::errors".into(),
            expected_bucket_owner: "000000000000".into(),
            error_output_prefix: Some("err/".into()),
        };
        c.channels.insert(
            1,
            ChannelMeta {
                uid: 1,
                id: ids::channel_id(&[7; 32], 1),
                name: "ch".into(),
                created_ms: 200,
                updated_ms: 201,
                role_arn: "arn:aws:iam::000000000000:role/r".into(),
                stream_uid: 2,
                record_format: RecordFormat::Json,
                gsr_schema_arn: None,
                destination: ChannelDestination::S3(S3Destination {
                    freshness_secs: 300,
                    dead_letter: dead_letter.clone(),
                    bucket_arn: "arn:aws:s3:::bucket".into(),
                    expected_bucket_owner: "000000000000".into(),
                    output_key_template: Some("x/!{channel-id}".into()),
                    storage_class: Some(StorageClass::GlacierIr),
                    compression: S3Compression::Zstd,
                }),
                encryption_key: Some("arn:aws:kms:us-east-1:000000000000:key/k".into()),
                tags: [("a".to_string(), "b".to_string())].into_iter().collect(),
                logging: ChannelLogging { enabled: true, log_group_name: Some("/g".into()), log_stream_name: None },
                deleting_since_ms: None,
                failure: Some("bucket missing".into()),
                delivery: DeliveryState {
                    first_new_shard: 3,
                    positions: [(0, 5), (1, 0)].into_iter().collect(),
                    objects: 4,
                },
            },
        );
        c.channels.insert(
            2,
            ChannelMeta {
                uid: 2,
                id: ids::channel_id(&[7; 32], 2),
                name: "tables".into(),
                record_format: RecordFormat::GsrJson,
                gsr_schema_arn: Some("arn:aws:glue:us-east-1:000000000000:schema/r/s".into()),
                destination: ChannelDestination::S3Tables(TablesDestination {
                    freshness_secs: 600,
                    dead_letter,
                    tables: vec![TableConfig {
                        table_bucket_arn: "arn:aws:s3tables:us-east-1:000000000000:bucket/tb".into(),
                        namespace: "ns".into(),
                        table_name: "t".into(),
                        compression: TablesCompression::Snappy,
                        partition_fields: Some(vec![("TIME_HOUR".into(), "ts".into())]),
                    }],
                }),
                deleting_since_ms: Some(300),
                failure: None,
                ..c.channels[&1].clone()
            },
        );
        c.next_channel_uid = 3;
        c
    }

    /// [`sample_v2`] plus two queues (version 3).
    pub(crate) fn sample_v3() -> Catalog {
        let mut c = sample_v2();
        c.queues.insert(
            1,
            QueueMeta {
                uid: 1,
                id: ids::queue_id(&[7; 32], 1),
                name: "workers".into(),
                created_ms: 400,
                updated_ms: i64::MIN,
                stream_uid: 2,
                start: QueueStart { kind: QueueStartKind::AtTimestamp, requested_ms: Some(50), effective_ms: 60 },
                config: QueueConfig { visibility_timeout_ms: 45_000, dead_letter: DeadLetter::Off },
                tags: [("team".to_string(), "q".to_string())].into_iter().collect(),
                policy: Some(POLICY.into()),
                deleting_since_ms: None,
            },
        );
        c.queues.insert(
            3,
            QueueMeta {
                uid: 3,
                id: ids::queue_id(&[7; 32], 3),
                name: "audit".into(),
                start: QueueStart { kind: QueueStartKind::Latest, requested_ms: None, effective_ms: 400 },
                config: QueueConfig::default(),
                tags: BTreeMap::new(),
                policy: None,
                deleting_since_ms: Some(500),
                ..c.queues[&1].clone()
            },
        );
        c.next_queue_uid = 4;
        c
    }

    #[test]
    fn version_2_manifests_are_read_without_queues() {
        let v3 = sample_v3();
        let (_, read) = decode(&encode_version(&v3, 3, 2)).expect("a version 2 manifest decodes");
        assert!(read.queues.is_empty());
        assert_eq!(read.next_queue_uid, 1);
        assert_eq!(read.channels, v3.channels);
    }

    #[test]
    fn damage_to_queues_is_rejected() {
        let b = encode(&sample_v3(), 1);
        let v2_len = encode(&sample_v2(), 1).len();
        for i in (v2_len - 8..b.len()).step_by(3) {
            let mut bad = b.clone();
            bad[i] ^= 0x10;
            assert!(decode(&bad).is_err(), "flip at {i} accepted");
        }
        type Edit = Box<dyn Fn(&mut Catalog)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("unknown stream", Box::new(|c| c.queues.get_mut(&1).unwrap().stream_uid = 9)),
            ("id", Box::new(|c| c.queues.get_mut(&1).unwrap().id = "Not_A_Label".into())),
            ("uid", Box::new(|c| c.next_queue_uid = 3)),
            ("name", Box::new(|c| c.queues.get_mut(&3).unwrap().name = "workers".into())),
            ("visibility", Box::new(|c| c.queues.get_mut(&1).unwrap().config.visibility_timeout_ms = 43_201_000)),
            (
                "max receive count",
                Box::new(|c| {
                    c.queues.get_mut(&1).unwrap().config.dead_letter = DeadLetter::BuiltIn { max_receive_count: 1001 }
                }),
            ),
            ("timestamp", Box::new(|c| c.queues.get_mut(&3).unwrap().start.requested_ms = Some(1))),
            ("policy", Box::new(|c| c.queues.get_mut(&1).unwrap().policy = Some("[]".into()))),
        ];
        for (what, edit) in cases {
            let mut c = sample_v3();
            edit(&mut c);
            assert!(decode(&encode(&c, 1)).is_err(), "{what}: accepted");
        }
    }

    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kinesis:GetRecords","Resource":"*"}]}"#;

    #[test]
    fn round_trip() {
        for c in [sample(), sample_v2(), sample_v3()] {
            let b = encode(&c, 42);
            assert_eq!(decode(&b), Ok((42, c)));
        }
    }

    #[test]
    fn version_1_manifests_are_read_with_defaults_for_the_new_fields() {
        let c = sample();
        let b = encode_version(&c, 9, 1);
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 1);
        let (generation, read) = decode(&b).expect("a version 1 manifest decodes");
        assert_eq!(generation, 9);
        assert_eq!(read, c, "the sample holds only version 1 values and the derived stream id");
        let v2 = sample_v2();
        let (_, downgraded) = decode(&encode_version(&v2, 1, 1)).expect("decodes");
        assert_eq!(downgraded.streams[&2].policy, None);
        assert!(downgraded.channels.is_empty());
    }

    #[test]
    fn damage_to_version_2_fields_is_rejected() {
        let b = encode(&sample_v2(), 1);
        for i in (0..b.len()).step_by(5) {
            let mut bad = b.clone();
            bad[i] ^= 0x10;
            assert!(decode(&bad).is_err(), "flip at {i} accepted");
        }
        type Edit = Box<dyn Fn(&mut Catalog)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("stream id", Box::new(|c| c.streams.get_mut(&2).unwrap().stream_id = "x".into())),
            ("AUTO", Box::new(|c| c.streams.get_mut(&2).unwrap().mode = StreamMode::Provisioned)),
            ("metrics", Box::new(|c| c.streams.get_mut(&2).unwrap().shard_level_metrics = 0x80)),
            ("policy", Box::new(|c| c.streams.get_mut(&2).unwrap().policy = Some("{".into()))),
            ("key id", Box::new(|c| c.streams.get_mut(&2).unwrap().encryption_key = Some(String::new()))),
            ("commitment", Box::new(|c| c.commitment = Commitment { started_ms: None, ends_ms: Some(1) })),
            ("unknown stream", Box::new(|c| c.channels.get_mut(&1).unwrap().stream_uid = 9)),
            ("id", Box::new(|c| c.channels.get_mut(&1).unwrap().id = "Not_A_Label".into())),
            (
                "repeated name",
                Box::new(|c| {
                    let n = c.channels[&1].name.clone();
                    c.channels.get_mut(&2).unwrap().name = n;
                }),
            ),
            (
                "tables",
                Box::new(|c| {
                    if let ChannelDestination::S3Tables(t) = &mut c.channels.get_mut(&2).unwrap().destination {
                        t.tables.clear();
                    }
                }),
            ),
        ];
        for (what, edit) in cases {
            let mut c = sample_v2();
            edit(&mut c);
            assert!(decode(&encode(&c, 1)).is_err(), "{what}: accepted");
        }
    }

    #[test]
    fn damage_is_rejected() {
        let b = encode(&sample(), 1);
        for i in (0..b.len()).step_by(3) {
            let mut bad = b.clone();
            bad[i] ^= 0x20;
            assert!(decode(&bad).is_err(), "flip at {i} accepted");
        }
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err());
        }
    }

    #[test]
    fn gaps_in_open_shards_are_rejected() {
        let mut c = sample();
        if let Some(s) = c.streams.get_mut(&1) {
            s.shards.remove(1);
        }
        assert!(decode(&encode(&c, 1)).unwrap_err().contains("gap"));
    }

    /// Every value the API would have refused makes the manifest damaged (found by the
    /// `manifest` fuzz target: a manifest with the names `""` and `"\0"` opened, and a clean
    /// close + reopen changed which streams were listed).
    #[test]
    fn values_the_api_refuses_are_rejected() {
        type Edit = Box<dyn Fn(&mut Catalog)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("invalid name", Box::new(|c| stream(c).name = "\0".into())),
            ("invalid name", Box::new(|c| stream(c).name = String::new())),
            ("retention", Box::new(|c| stream(c).retention_hours = 0)),
            ("retention", Box::new(|c| stream(c).retention_hours = 8761)),
            ("record size", Box::new(|c| stream(c).max_record_size_kib = 1023)),
            ("no shards", Box::new(|c| stream(c).shards.clear())),
            ("tag", Box::new(|c| drop(stream(c).tags.insert(String::new(), "v".into())))),
            ("consumer name", Box::new(|c| stream(c).consumers.push(ConsumerMeta::new("c", 6)))),
            ("consumer name", Box::new(|c| stream(c).consumers[0].name = "a/b".into())),
            ("parent", Box::new(|c| stream(c).shards[2].parent = Some(0))),
            ("parent", Box::new(|c| stream(c).shards[1].parent = Some(7))),
            ("parent", Box::new(|c| stream(c).shards[2].adjacent_parent = Some(1))),
            (
                "two streams are named",
                Box::new(|c| {
                    let mut other = stream(c).clone();
                    other.uid = 2;
                    other.stream_id = ids::stream_id(&[7; 32], 2);
                    c.next_stream_uid = 3;
                    c.streams.insert(2, other);
                }),
            ),
        ];
        for (what, edit) in cases {
            let mut c = sample();
            edit(&mut c);
            let err = decode(&encode(&c, 1)).expect_err(what);
            let name_ok = ["parent", "consumer", "tag", "name", "retention", "size", "shards", "named"];
            assert!(name_ok.iter().any(|w| err.contains(w)), "{what}: {err}");
        }
        assert!(decode(&encode(&sample(), 1)).is_ok());
    }

    fn stream(c: &mut Catalog) -> &mut StreamMeta {
        c.streams.get_mut(&1).expect("sample stream 1")
    }
}
