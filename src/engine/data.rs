//! The data plane: PutRecord, PutRecords, GetShardIterator, GetRecords.

use crate::catalog::{RecordDistribution, ShardMeta, StreamLifecycle, StreamMode};
use crate::engine::encryption::encryption_type;
use crate::engine::parse_shard_id_of;
use crate::engine::types::*;
use crate::engine::{arrival_secs, shard_create_secs, Engine, EngineInner, StreamHandle, Topology};
use crate::error::{Error, Result};
use crate::kinesis::quotas::{
    MAX_GET_RECORDS_BYTES, MAX_GET_RECORDS_LIMIT, MAX_PUT_RECORDS_BYTES, MAX_PUT_RECORDS_BYTES_LARGE,
    MAX_PUT_RECORDS_ENTRIES,
};
use crate::kinesis::sequence::{check_sequence_number_for_ordering, check_starting_sequence_number};
use crate::kinesis::{
    messages, names, partition_key_hash, Constraint, SequenceNumber, ShardIteratorToken, ValidationErrors,
};
use crate::log::record::{Record, RecordRef};

/// One validated record on its way to a shard.
struct Routed<'a> {
    key: &'a str,
    hash_key: Option<u128>,
    data: &'a [u8],
    pos: usize,
}

impl EngineInner {
    /// Check a write target: the stream must be ACTIVE or UPDATING.
    fn check_writable(&self, topo: &Topology) -> Result<()> {
        self.check_metadata()?;
        match self.status(&topo.meta) {
            StreamStatus::Active | StreamStatus::Updating => Ok(()),
            StreamStatus::Creating | StreamStatus::Deleting => {
                Err(messages::stream_not_found(&topo.meta.name, &self.config.account_id))
            }
        }
    }

    fn max_record_bytes(topo: &Topology) -> usize {
        topo.meta.max_record_size_kib as usize * 1024
    }

    /// Validate one entry and pick its shard. Constraint violations are collected in `errs`
    /// under the member path `member(field)` builds (e.g. `records.3.member.partitionKey`),
    /// which is only formatted when something is wrong; range errors of the explicit hash key
    /// fail at once as Kinesis does.
    ///
    /// USER_PARTITION_KEY streams require the key (a missing key is reported as the model
    /// used to: `Member must not be null`) and route by its MD5 or the explicit hash key.
    /// AUTO streams take the key as optional and ignore both for routing: records go
    /// round-robin over the open shards (in hash-key order), so they spread evenly.
    #[allow(clippy::too_many_arguments)]
    fn route_entry<'a>(
        &self,
        h: &StreamHandle,
        topo: &Topology,
        member: &dyn Fn(&str) -> String,
        key: Option<&'a str>,
        explicit_hash_key: Option<&str>,
        data: &'a [u8],
        errs: &mut ValidationErrors,
    ) -> Result<Option<Routed<'a>>> {
        let before = errs.len();
        let auto = topo.meta.distribution == RecordDistribution::Auto;
        match key {
            None if !auto => errs.null(&member("partitionKey")),
            None => {}
            // 1..=256 bytes is always 1..=256 UTF-16 units: only other keys need the full count.
            Some(k) if k.is_empty() || k.len() > names::PARTITION_KEY_MAX_LEN => {
                errs.partition_key(&member("partitionKey"), k)
            }
            Some(_) => {}
        }
        let key = key.unwrap_or("");
        let max = Self::max_record_bytes(topo);
        if data.len() > max {
            errs.push(
                &member("data"),
                format_args!("java.nio.HeapByteBuffer[pos=0 lim={0} cap={0}]", data.len()),
                Constraint::MaxLength(max),
            );
        }
        let hash_key = match explicit_hash_key {
            None => None,
            Some(h) => match crate::kinesis::parse_explicit_hash_key(h) {
                Ok(v) => Some(v),
                Err(Error::Validation { .. }) => {
                    errs.pattern(&member("explicitHashKey"), h, crate::kinesis::hashkey::HASH_KEY_PATTERN);
                    None
                }
                Err(e) => return Err(e),
            },
        };
        if errs.len() > before {
            return Ok(None);
        }
        if data.len() + key.len() > max {
            return Err(Error::invalid_argument(format!(
                "Record size exceeds the maximum allowed size of {max} bytes: data ({} bytes) plus partition key ({} bytes).",
                data.len(),
                key.len()
            )));
        }
        if auto {
            let n = topo.routes.len().max(1);
            let i = h.auto_cursor.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n;
            let pos =
                topo.routes.get(i).map(|&(_, pos)| pos).ok_or_else(|| Error::invalid_argument("no open shard"))?;
            return Ok(Some(Routed { key, hash_key: None, data, pos }));
        }
        let hash = hash_key.unwrap_or_else(|| partition_key_hash(key.as_bytes()));
        let pos = topo.route(hash).ok_or_else(|| Error::invalid_argument("no open shard covers the hash key"))?;
        Ok(Some(Routed { key, hash_key, data, pos }))
    }

    /// With limits on, an on-demand stream's stream-wide write capacity (see `capacity`):
    /// true if `records` records of `bytes` bytes are admitted (spent unless `dry_run`).
    fn admit_stream_write(&self, h: &StreamHandle, topo: &Topology, records: f64, bytes: f64, dry_run: bool) -> bool {
        if topo.meta.mode != StreamMode::OnDemand || self.limits_for(h).is_off() {
            return true;
        }
        h.demand.lock().admit(&topo.meta, records, bytes, self.now_ms(), !dry_run)
    }

    /// Count accepted writes for the hot-shard detector of an on-demand stream; the index
    /// of the shard if it just became hot.
    fn observe_hot(&self, h: &StreamHandle, topo: &Topology, pos: usize, records: f64, bytes: f64) -> Option<u32> {
        if topo.meta.mode != StreamMode::OnDemand {
            return None;
        }
        let limits = self.limits_for(h);
        if limits.is_off() {
            return None;
        }
        let slot = topo.slots.get(pos)?;
        let hot = slot.hot.lock().observe(&self.config.on_demand, &limits, self.now_ms(), records, bytes);
        hot.then_some(slot.index)
    }

    pub(crate) fn sequence_number(shard: &ShardMeta, offset: u64, arrival_ms: i64) -> SequenceNumber {
        SequenceNumber::new(shard_create_secs(shard), shard.index, offset, arrival_secs(arrival_ms))
    }

    /// The offset an iterator (or subscription) of type `kind` starts at, with Kinesis' rules
    /// and errors: LATEST is the tip now; AT_TIMESTAMP is inclusive, clamped to the trim
    /// horizon, and rejects the future; AT/AFTER a sequence number must name this shard, and
    /// AT/AFTER the shard's starting number work with no record there.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn position_for(
        &self,
        topo: &Topology,
        shard: &ShardMeta,
        log: Option<&crate::log::ShardLog>,
        kind: ShardIteratorType,
        starting_sequence_number: Option<&str>,
        timestamp: Option<Timestamp>,
        now: i64,
    ) -> Result<u64> {
        let start = log.map_or(0, |l| l.start_offset());
        let hw = log.map_or(0, |l| l.high_watermark());
        Ok(match kind {
            ShardIteratorType::TrimHorizon => start,
            ShardIteratorType::Latest => hw,
            ShardIteratorType::AtTimestamp => {
                let ts = timestamp.ok_or_else(messages::timestamp_missing)?;
                if ts.0 > now {
                    return Err(messages::timestamp_in_future(ts.0, now));
                }
                match log {
                    Some(l) => l.offset_for_time(ts.0)?,
                    None => 0,
                }
            }
            ShardIteratorType::AtSequenceNumber | ShardIteratorType::AfterSequenceNumber => {
                let text = starting_sequence_number.unwrap_or_default();
                let create = shard_create_secs(shard);
                let seq = check_starting_sequence_number(
                    text,
                    shard.index,
                    create,
                    &topo.meta.name,
                    &self.config.account_id,
                )?;
                if seq.is_ending() {
                    return Err(messages::sequence_number_at_shard_end(kind.as_str()));
                }
                let starting = SequenceNumber::starting(create, shard.index);
                let counter = seq.counter();
                if seq != starting && counter >= hw {
                    return Err(messages::starting_sequence_number_invalid(
                        text,
                        &names::shard_id_name(shard.index),
                        &topo.meta.name,
                        &self.config.account_id,
                    ));
                }
                match kind {
                    ShardIteratorType::AfterSequenceNumber if seq != starting => counter + 1,
                    _ => counter,
                }
                .max(start)
            }
        })
    }

    /// The shard `index` of a stream, or `Shard <id> in stream <s> … does not exist`.
    pub(crate) fn shard_at<'t>(&self, topo: &'t Topology, index: u32) -> Result<(usize, &'t ShardMeta)> {
        topo.position(index).and_then(|p| topo.meta.shards.get(p).map(|s| (p, s))).ok_or_else(|| {
            messages::shard_not_found(&names::shard_id_name(index), &topo.meta.name, &self.config.account_id)
        })
    }
}

/// `DryRunOperationException`: every check passed, nothing was done.
pub(crate) fn dry_run_succeeded() -> Error {
    Error::DryRunOperation { message: "Request would have succeeded, but DryRun flag is set.".into() }
}

impl Engine {
    /// `PutRecord`: validated like Kinesis, routed by MD5 of the partition key (or the
    /// explicit hash key; round-robin on AUTO streams), appended and acknowledged per the
    /// engine's durability. With `dry_run`, every check runs (throughput included, without
    /// spending it) and the answer is `DryRunOperation`.
    pub fn put_record(&self, input: PutRecordInput) -> Result<PutRecordOutput> {
        let inner = &self.inner;
        let h = inner.resolve(&input.stream)?;
        let (out, hot) = {
            let topo = h.topo.read();
            let mut errs = ValidationErrors::new();
            let routed = inner.route_entry(
                &h,
                &topo,
                &|field: &str| field.to_string(),
                input.partition_key.as_deref(),
                input.explicit_hash_key.as_deref(),
                &input.data,
                &mut errs,
            )?;
            errs.into_result()?;
            let Some(r) = routed else { return Err(Error::invalid_argument("record rejected")) };
            if let Some(s) = &input.sequence_number_for_ordering {
                if topo.meta.distribution == RecordDistribution::Auto {
                    return Err(Error::invalid_argument(format!(
                        "SequenceNumberForOrdering is not supported on stream {} under account {}: its \
                         RecordDistributionStrategy is AUTO.",
                        topo.meta.name, inner.config.account_id
                    )));
                }
                check_sequence_number_for_ordering(s, &topo.meta.name, &inner.config.account_id, inner.now_ms())?;
            }
            inner.check_writable(&topo)?;
            let shard = topo.meta.shards.get(r.pos).ok_or_else(|| Error::invalid_argument("no such shard"))?;
            let slot = topo.slots.get(r.pos).ok_or_else(|| Error::invalid_argument("no such shard"))?;
            let limits = inner.limits_for(&h);
            let bytes = (r.key.len() + r.data.len()) as f64;
            if !limits.is_off() {
                let max = EngineInner::max_record_bytes(&topo) as f64;
                let now = inner.now_ms();
                let admitted = {
                    let mut b = slot.buckets.lock();
                    let shard_ok = b.can_write(&limits, 1.0, bytes, max, now);
                    shard_ok
                        && inner.admit_stream_write(&h, &topo, 1.0, bytes, input.dry_run)
                        && (input.dry_run || b.admit_write(&limits, 1.0, bytes, max, now))
                };
                if !admitted {
                    if !input.dry_run {
                        slot.counters.write_throttled(1);
                        h.counters.write_throttled(1);
                    }
                    return Err(messages::shard_rate_exceeded(
                        &names::shard_id_name(shard.index),
                        &topo.meta.name,
                        &inner.config.account_id,
                    ));
                }
            }
            if input.dry_run {
                return Err(dry_run_succeeded());
            }
            let log = inner.log(slot)?;
            let seal = topo.meta.encryption_key.is_some();
            let a = log.append_with(
                &[RecordRef { partition_key: r.key.as_bytes(), explicit_hash_key: r.hash_key, data: r.data }],
                seal,
            )?;
            slot.counters.incoming(1, bytes as u64);
            h.counters.incoming(1, bytes as u64);
            let hot = inner.observe_hot(&h, &topo, r.pos, 1.0, bytes);
            let out = PutRecordOutput {
                shard_id: names::shard_id_name(shard.index),
                sequence_number: EngineInner::sequence_number(shard, a.first_offset, a.arrival_ms),
                encryption_type: encryption_type(&topo.meta),
            };
            (out, hot)
        };
        if let Some(index) = hot {
            inner.split_hot_shard(&h, index);
        }
        Ok(out)
    }

    /// `PutRecords`: every entry validated first (a bad entry fails the whole request, as in
    /// Kinesis); records bound for the same shard are appended as one batch (one write, and
    /// under `Sync` one shared fdatasync). A storage failure on one shard fails only that
    /// shard's entries, with `InternalFailure`. With `dry_run`, every check runs (per-entry
    /// throttling included, without spending) and the answer is `DryRunOperation`.
    pub fn put_records(&self, input: PutRecordsInput) -> Result<PutRecordsOutput> {
        let inner = &self.inner;
        let n = input.records.len();
        let mut errs = ValidationErrors::new();
        if n == 0 {
            errs.push("records", "[]", Constraint::MinLength(1));
        } else if n > MAX_PUT_RECORDS_ENTRIES {
            errs.push("records", format_args!("[{n} entries]"), Constraint::MaxLength(MAX_PUT_RECORDS_ENTRIES));
        }
        errs.into_result()?;
        let h = inner.resolve(&input.stream)?;
        let mut hot: Vec<u32> = Vec::new();
        let out = {
            let topo = h.topo.read();
            let mut routed = Vec::with_capacity(n);
            let mut errs = ValidationErrors::new();
            let mut total = 0usize;
            for (i, e) in input.records.iter().enumerate() {
                total += e.data.len() + e.partition_key.as_ref().map_or(0, String::len);
                let member = |field: &str| format!("records.{}.member.{field}", i + 1);
                routed.push(inner.route_entry(
                    &h,
                    &topo,
                    &member,
                    e.partition_key.as_deref(),
                    e.explicit_hash_key.as_deref(),
                    &e.data,
                    &mut errs,
                )?);
            }
            errs.into_result()?;
            let limit =
                if topo.meta.max_record_size_kib > 1024 { MAX_PUT_RECORDS_BYTES_LARGE } else { MAX_PUT_RECORDS_BYTES };
            if total > limit {
                return Err(Error::invalid_argument(format!(
                    "Records size exceeds {} MB limit",
                    limit / (1024 * 1024)
                )));
            }
            inner.check_writable(&topo)?;
            let routed: Vec<Routed<'_>> = routed.into_iter().flatten().collect();
            // Throughput limits are per entry, in request order: a throttled entry fails alone
            // and later entries are still tried. A dry run checks each entry alone.
            let limits = inner.limits_for(&h);
            let mut throttled = vec![false; routed.len()];
            if !limits.is_off() {
                let now = inner.now_ms();
                let max = EngineInner::max_record_bytes(&topo) as f64;
                for (r, t) in routed.iter().zip(throttled.iter_mut()) {
                    if let Some(slot) = topo.slots.get(r.pos) {
                        let bytes = (r.key.len() + r.data.len()) as f64;
                        let mut b = slot.buckets.lock();
                        let ok = b.can_write(&limits, 1.0, bytes, max, now)
                            && inner.admit_stream_write(&h, &topo, 1.0, bytes, input.dry_run)
                            && (input.dry_run || b.admit_write(&limits, 1.0, bytes, max, now));
                        *t = !ok;
                        if !ok && !input.dry_run {
                            slot.counters.write_throttled(1);
                            h.counters.write_throttled(1);
                        }
                    }
                }
            }
            if input.dry_run {
                return Err(dry_run_succeeded());
            }
            // Group entry indexes by shard, keeping request order within a shard.
            let mut order: Vec<usize> =
                (0..routed.len()).filter(|&i| !throttled.get(i).copied().unwrap_or(false)).collect();
            order.sort_by_key(|&i| routed.get(i).map_or(0, |r| r.pos));
            let mut results: Vec<PutRecordsResultEntry> = vec![
                PutRecordsResultEntry {
                    sequence_number: None,
                    shard_id: None,
                    error_code: None,
                    error_message: None
                };
                routed.len()
            ];
            let mut failed = 0u32;
            for (i, _) in throttled.iter().enumerate().filter(|(_, t)| **t) {
                let (Some(out), Some(shard)) =
                    (results.get_mut(i), routed.get(i).and_then(|r| topo.meta.shards.get(r.pos)))
                else {
                    continue;
                };
                failed += 1;
                out.error_code = Some("ProvisionedThroughputExceededException".into());
                out.error_message = Some(
                    messages::shard_rate_exceeded(
                        &names::shard_id_name(shard.index),
                        &topo.meta.name,
                        &inner.config.account_id,
                    )
                    .to_string(),
                );
            }
            let mut batch: Vec<RecordRef<'_>> = Vec::new();
            for group in order.chunk_by(|&a, &b| routed.get(a).map(|r| r.pos) == routed.get(b).map(|r| r.pos)) {
                let Some(pos) = group.first().and_then(|&i| routed.get(i)).map(|r| r.pos) else { continue };
                let (Some(shard), Some(slot)) = (topo.meta.shards.get(pos), topo.slots.get(pos)) else { continue };
                batch.clear();
                batch.extend(group.iter().filter_map(|&i| routed.get(i)).map(|r| RecordRef {
                    partition_key: r.key.as_bytes(),
                    explicit_hash_key: r.hash_key,
                    data: r.data,
                }));
                let seal = topo.meta.encryption_key.is_some();
                let appended = inner.log(slot).and_then(|log| log.append_with(&batch, seal));
                let shard_id = names::shard_id_name(shard.index);
                if appended.is_ok() {
                    let bytes: usize = batch.iter().map(|r| r.partition_key.len() + r.data.len()).sum();
                    slot.counters.incoming(batch.len() as u64, bytes as u64);
                    h.counters.incoming(batch.len() as u64, bytes as u64);
                    hot.extend(inner.observe_hot(&h, &topo, pos, batch.len() as f64, bytes as f64));
                }
                for (k, &i) in group.iter().enumerate() {
                    let Some(out) = results.get_mut(i) else { continue };
                    match &appended {
                        Ok(a) => {
                            out.sequence_number =
                                Some(EngineInner::sequence_number(shard, a.first_offset + k as u64, a.arrival_ms));
                            out.shard_id = Some(shard_id.clone());
                        }
                        Err(_) => {
                            failed += 1;
                            out.error_code = Some("InternalFailure".into());
                            out.error_message = Some(messages::INTERNAL_FAILURE_MESSAGE.into());
                        }
                    }
                }
            }
            PutRecordsOutput {
                failed_record_count: failed,
                records: results,
                encryption_type: encryption_type(&topo.meta),
            }
        };
        for index in hot {
            inner.split_hot_shard(&h, index);
        }
        Ok(out)
    }

    /// `GetShardIterator` with the five iterator types and Kinesis' rules and errors. As in
    /// AWS, the shard id is parsed before the stream is looked up: one that does not resolve
    /// is `Could not find shard <id> in stream <s> …` whether or not the stream exists, and a
    /// missing stream is reported as its shard: `Shard shardId-<n> in stream <s> … does not
    /// exist`. With `dry_run`, the answer is `DryRunOperation` once every check passed (the
    /// call's throughput token is not spent).
    pub fn get_shard_iterator(&self, input: GetShardIteratorInput) -> Result<GetShardIteratorOutput> {
        let inner = &self.inner;
        let account = &inner.config.account_id;
        let name = inner.stream_name_of(&input.stream)?;
        let index = parse_shard_id_of("shardId", &input.shard_id, &name, account)?;
        let h = inner.resolve(&input.stream).map_err(|e| match e {
            Error::ResourceNotFound { .. } => messages::shard_not_found(&names::shard_id_name(index), &name, account),
            e => e,
        })?;
        let topo = h.topo.read();
        let (pos, shard) = inner.shard_at(&topo, index)?;
        let kind = input.shard_iterator_type;
        let seq_type = matches!(kind, ShardIteratorType::AtSequenceNumber | ShardIteratorType::AfterSequenceNumber);
        match (seq_type, input.starting_sequence_number.is_some()) {
            (true, false) => return Err(messages::starting_sequence_number_missing(kind.as_str())),
            (false, true) if kind != ShardIteratorType::AtTimestamp => {
                return Err(messages::starting_sequence_number_unexpected(kind.as_str()))
            }
            _ => {}
        }
        let slot = topo.slots.get(pos).ok_or_else(|| Error::invalid_argument("no such shard"))?;
        let now = inner.now_ms();
        let limits = inner.limits_for(&h);
        let admitted = {
            let mut b = slot.buckets.lock();
            if input.dry_run {
                b.can_iterator(&limits, now)
            } else {
                b.admit_iterator(&limits, now)
            }
        };
        if !admitted {
            return Err(messages::shard_rate_exceeded(
                &names::shard_id_name(shard.index),
                &topo.meta.name,
                &inner.config.account_id,
            ));
        }
        let log = inner.existing_log(slot)?;
        let offset = inner.position_for(
            &topo,
            shard,
            log.as_ref(),
            kind,
            input.starting_sequence_number.as_deref(),
            input.timestamp,
            now,
        )?;
        if input.dry_run {
            return Err(dry_run_succeeded());
        }
        let token =
            ShardIteratorToken { stream_uid: h.uid, shard_index: shard.index, offset, issued_ms: now, flags: 0 };
        Ok(GetShardIteratorOutput { shard_iterator: token.encode(&inner.token_key) })
    }

    /// `GetRecords`: up to `limit` records (default and maximum 10,000) and 10 MiB from the
    /// iterator's position, a fresh `NextShardIterator` every call (none once a closed shard
    /// is read to its end, when `ChildShards` are given instead), and `MillisBehindLatest`.
    /// With `dry_run`, the iterator and limits are checked, nothing is read and no throughput
    /// is used, and the answer is `DryRunOperation`.
    pub fn get_records(&self, input: GetRecordsInput) -> Result<GetRecordsOutput> {
        let inner = &self.inner;
        let limit = input.limit.unwrap_or(MAX_GET_RECORDS_LIMIT);
        if limit == 0 {
            return Err(ValidationErrors::single("limit", limit, Constraint::MinValue(1)));
        }
        if limit > MAX_GET_RECORDS_LIMIT {
            return Err(Error::invalid_argument(format!(
                "Limit {limit} is greater than the maximum of {MAX_GET_RECORDS_LIMIT}."
            )));
        }
        if let Some(id) = &input.stream_id {
            crate::engine::check_stream_id(id)?;
        }
        let token = ShardIteratorToken::decode(&input.shard_iterator, &inner.token_key)?;
        let now = inner.now_ms();
        token.check_age(now)?;
        let shard_id = names::shard_id_name(token.shard_index);
        let account = &inner.config.account_id;
        // An iterator of a deleted stream names the stream; one re-created under the same
        // name has another uid, so the iterator never reads it.
        let h = inner.streams.read().by_uid.get(&token.stream_uid).cloned();
        let Some(h) = h else {
            let name = inner.deleted_stream_name(token.stream_uid).unwrap_or_default();
            return Err(messages::shard_not_found(&shard_id, &name, account));
        };
        let topo = h.topo.read();
        if matches!(topo.meta.lifecycle, StreamLifecycle::Deleting { .. }) {
            return Err(messages::shard_not_found(&shard_id, &topo.meta.name, account));
        }
        if let Some(arn) = &input.stream_arn {
            if *arn != h.arn {
                return Err(Error::invalid_argument(format!(
                    "StreamARN {arn} does not match the shard iterator's stream."
                )));
            }
        }
        if let Some(id) = &input.stream_id {
            if *id != topo.meta.stream_id {
                return Err(Error::invalid_argument(format!(
                    "StreamId {id} does not match the shard iterator's stream."
                )));
            }
        }
        let pos = topo
            .position(token.shard_index)
            .ok_or_else(|| messages::shard_not_found(&shard_id, &topo.meta.name, &inner.config.account_id))?;
        let (Some(shard), Some(slot)) = (topo.meta.shards.get(pos), topo.slots.get(pos)) else {
            return Err(messages::shard_not_found(&shard_id, &topo.meta.name, &inner.config.account_id));
        };
        let encryption = encryption_type(&topo.meta);
        let Some(log) = inner.existing_log(slot)? else {
            if input.dry_run {
                return Err(dry_run_succeeded());
            }
            // Never written: an empty shard.
            let at_end = shard.closed.is_some();
            slot.counters.get_records(0, 0, 0);
            h.counters.get_records(0, 0, 0);
            let t = ShardIteratorToken { issued_ms: now, ..token };
            return Ok(GetRecordsOutput {
                records: Vec::new(),
                next_shard_iterator: (!at_end).then(|| t.encode(&inner.token_key)),
                millis_behind_latest: 0,
                child_shards: at_end.then(|| children(&topo, shard.index)),
            });
        };
        let limits = inner.limits_for(&h);
        let admitted = {
            let mut b = slot.buckets.lock();
            if input.dry_run {
                b.can_read(&limits, now)
            } else {
                b.admit_read(&limits, now)
            }
        };
        if !admitted {
            if !input.dry_run {
                slot.counters.read_throttled();
                h.counters.read_throttled();
            }
            return Err(messages::shard_rate_exceeded(&shard_id, &topo.meta.name, &inner.config.account_id));
        }
        if input.dry_run {
            return Err(dry_run_succeeded());
        }
        let read = log.read(token.offset, limit as usize, MAX_GET_RECORDS_BYTES)?;
        let read_bytes: usize = read.records.iter().map(|r| r.data.len() + r.partition_key.len()).sum();
        slot.buckets.lock().charge_read(&limits, read_bytes as f64);
        let hw = log.high_watermark();
        let next = read.next_offset;
        let last_arrival = read.records.last().map(|r| r.arrival_ms);
        let mut records = Vec::with_capacity(read.records.len());
        for r in read.records {
            records.push(to_kinesis(shard, r, encryption)?);
        }
        let millis_behind_latest = if next >= hw {
            0
        } else {
            let oldest_unread = match last_arrival {
                Some(a) => a,
                None => log.read(next, 1, 0)?.records.first().map_or(now, |r| r.arrival_ms),
            };
            now.saturating_sub(oldest_unread).max(0)
        };
        slot.counters.get_records(records.len() as u64, read_bytes as u64, millis_behind_latest);
        h.counters.get_records(records.len() as u64, read_bytes as u64, millis_behind_latest);
        let at_end = shard.closed.is_some() && next >= hw;
        let (next_shard_iterator, child_shards) = if at_end {
            (None, Some(children(&topo, shard.index)))
        } else {
            let t = ShardIteratorToken { offset: next, issued_ms: now, ..token };
            (Some(t.encode(&inner.token_key)), None)
        };
        Ok(GetRecordsOutput { records, next_shard_iterator, millis_behind_latest, child_shards })
    }
}

pub(crate) fn to_kinesis(shard: &ShardMeta, r: Record, encryption_type: EncryptionType) -> Result<KinesisRecord> {
    let partition_key = std::str::from_utf8(&r.partition_key)
        .map_err(|_| Error::Corrupt {
            path: std::path::PathBuf::from(names::shard_id_name(shard.index)),
            offset: r.offset,
            reason: "stored partition key is not UTF-8".into(),
        })?
        .to_owned();
    Ok(KinesisRecord {
        sequence_number: EngineInner::sequence_number(shard, r.offset, r.arrival_ms),
        approximate_arrival_timestamp: Timestamp(r.arrival_ms),
        data: r.data,
        partition_key,
        explicit_hash_key: r.explicit_hash_key,
        encryption_type,
    })
}

/// The shards created from `index` by a split or merge.
pub(crate) fn children(topo: &Topology, index: u32) -> Vec<ChildShard> {
    topo.meta
        .shards
        .iter()
        .filter(|s| s.parent == Some(index) || s.adjacent_parent == Some(index))
        .map(|s| ChildShard {
            shard_id: names::shard_id_name(s.index),
            parent_shards: [s.parent, s.adjacent_parent].into_iter().flatten().map(names::shard_id_name).collect(),
            hash_key_range: s.range,
        })
        .collect()
}
