//! The control plane: create, delete, describe and list streams; list shards; tags.

use std::sync::Arc;

use crate::catalog::{RecordDistribution, ShardMeta, StreamLifecycle, StreamMeta, StreamMode, WarmThroughput};
use crate::engine::capacity::ON_DEMAND_STREAM_LIMIT;
use crate::engine::encryption::encryption_type;
use crate::engine::types::*;
use crate::engine::{parse_shard_id, shard_create_secs, Engine, StreamHandle};
use crate::error::{Error, Result};
use crate::kinesis::quotas::{
    DEFAULT_MAX_RECORD_KIB, DEFAULT_RETENTION_HOURS, MAX_MAX_RECORD_KIB, MAX_SHARDS_PER_STREAM, ON_DEMAND_SHARDS,
};
use crate::kinesis::{even_split, messages, names, Constraint, NextToken, ResumeAt, SequenceNumber, ValidationErrors};

/// The Kinesis view of a shard.
pub(crate) fn shard_view(s: &ShardMeta) -> Shard {
    let create = shard_create_secs(s);
    Shard {
        shard_id: names::shard_id_name(s.index),
        parent_shard_id: s.parent.map(names::shard_id_name),
        adjacent_parent_shard_id: s.adjacent_parent.map(names::shard_id_name),
        hash_key_range: s.range,
        sequence_number_range: SequenceNumberRange {
            starting_sequence_number: SequenceNumber::starting(create, s.index),
            ending_sequence_number: s.closed.map(|c| {
                SequenceNumber::ending(create, s.index, u64::try_from(c.closed_ms.div_euclid(1000)).unwrap_or(0))
            }),
        },
    }
}

fn check_limit(member: &str, value: Option<u32>, min: u32, max: u32, default: u32) -> Result<u32> {
    let v = value.unwrap_or(default);
    let mut errs = ValidationErrors::new();
    errs.range(member, i128::from(v), i128::from(min), i128::from(max));
    errs.into_result().map(|()| v)
}

impl Engine {
    /// `CreateStream`. Without `ShardCount` and `StreamModeDetails` the stream is on-demand
    /// with 4 shards, as AWS creates it today; `ShardCount` alone is a provisioned stream.
    pub fn create_stream(&self, input: CreateStreamInput) -> Result<()> {
        let inner = &self.inner;
        inner.admit_control("CreateStream", 0)?;
        inner.reap_deleted()?;
        names::validate_stream_name(&input.stream_name)?;
        let mode = input.stream_mode.unwrap_or(match input.shard_count {
            Some(_) => StreamMode::Provisioned,
            None => StreamMode::OnDemand,
        });
        let shard_count = match (mode, input.shard_count) {
            (StreamMode::Provisioned, None) => {
                let mut e = ValidationErrors::new();
                e.null("shardCount");
                return Err(e.into_result().err().unwrap_or_else(|| Error::invalid_argument("ShardCount is required")));
            }
            (_, Some(n)) => check_limit("shardCount", Some(n), 1, u32::MAX, 1)?,
            (StreamMode::OnDemand, None) => ON_DEMAND_SHARDS,
        };
        let max_kib = check_limit(
            "maxRecordSizeInKiB",
            input.max_record_size_in_kib,
            DEFAULT_MAX_RECORD_KIB,
            MAX_MAX_RECORD_KIB,
            DEFAULT_MAX_RECORD_KIB,
        )?;
        if !input.tags.is_empty() {
            let tags: Vec<(&str, &str)> = input.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            names::validate_tags(&tags, names::MAX_TAGS_PER_STREAM)?;
        }
        let distribution = input.record_distribution_strategy.unwrap_or_default();
        if distribution == RecordDistribution::Auto && mode != StreamMode::OnDemand {
            return Err(Error::invalid_argument(
                "RecordDistributionStrategy AUTO is supported only for streams in ON_DEMAND capacity mode.",
            ));
        }
        if let Some(w) = input.warm_throughput_mibps {
            inner.check_warm(mode, w)?;
        }
        let mut cat = inner.catalog.lock();
        if cat.catalog.stream_by_name(&input.stream_name).is_some() {
            return Err(messages::stream_already_exists(&input.stream_name, &inner.config.account_id));
        }
        names::validate_tag_characters(
            &input.stream_name,
            &inner.config.account_id,
            names::TagChange::Add,
            input.tags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]),
        )?;
        let live = cat.catalog.streams.values().filter(|s| matches!(s.lifecycle, StreamLifecycle::Live));
        if mode == StreamMode::OnDemand
            && live.filter(|s| s.mode == StreamMode::OnDemand).count() as u32 >= ON_DEMAND_STREAM_LIMIT
        {
            return Err(Error::LimitExceeded {
                message: format!(
                    "Account {} already has {ON_DEMAND_STREAM_LIMIT} streams in ON_DEMAND mode.",
                    inner.config.account_id
                ),
            });
        }
        // The account quota first, so a huge ShardCount reports it with its real numbers,
        // then the per-stream limit.
        let open_now: u64 =
            cat.catalog.streams.values().map(|s| s.shards.iter().filter(|sh| sh.is_open()).count() as u64).sum();
        let limit = u64::from(inner.config.effective_shard_limit());
        if open_now + u64::from(shard_count) > limit {
            return Err(messages::shard_limit_exceeded(
                &inner.config.account_id,
                &inner.config.region,
                open_now,
                limit,
                u64::from(shard_count),
            ));
        }
        if shard_count > MAX_SHARDS_PER_STREAM {
            return Err(Error::LimitExceeded {
                message: format!(
                    "Stream {} under account {} cannot have more than {MAX_SHARDS_PER_STREAM} shards.",
                    input.stream_name, inner.config.account_id
                ),
            });
        }
        let now = inner.now_ms();
        let uid = cat.catalog.next_stream_uid;
        let shards = even_split(shard_count)
            .into_iter()
            .zip(0u32..)
            .map(|(range, index)| ShardMeta {
                index,
                range,
                created_ms: now,
                parent: None,
                adjacent_parent: None,
                closed: None,
            })
            .collect();
        let meta = StreamMeta {
            uid,
            name: input.stream_name.clone(),
            created_ms: now,
            lifecycle: StreamLifecycle::Live,
            updated_ms: i64::MIN,
            retention_hours: DEFAULT_RETENTION_HOURS,
            max_record_size_kib: max_kib,
            mode,
            next_shard_index: shard_count,
            tags: input.tags,
            shards,
            consumers: Vec::new(),
            max_bytes: None,
            scaling_history_ms: Vec::new(),
            stream_id: crate::kinesis::ids::stream_id(&cat.catalog.token_key, uid),
            distribution,
            encryption_key: None,
            key_changes_ms: Vec::new(),
            encryption_stops_ms: Vec::new(),
            shard_level_metrics: 0,
            mode_changes_ms: Vec::new(),
            warm_throughput: input.warm_throughput_mibps.map(|w| WarmThroughput { target_mibps: w, previous_mibps: 0 }),
            policy: None,
            peak_write_bytes_per_sec: 0,
        };
        let mut next = cat.catalog.clone();
        next.next_stream_uid = uid + 1;
        next.streams.insert(uid, meta.clone());
        inner.commit_catalog(&mut cat, &next)?;
        cat.catalog = next;
        let handle = inner.new_handle(meta, None);
        {
            let mut streams = inner.streams.write();
            streams.by_name.insert(input.stream_name, std::sync::Arc::clone(&handle));
            streams.by_uid.insert(uid, std::sync::Arc::clone(&handle));
        }
        drop(cat);
        inner.prescale(&handle)
    }

    /// `DeleteStream`. Without modelled delays the stream and its files are gone when this
    /// returns; with them it shows `DELETING` until the delay passes.
    pub fn delete_stream(&self, input: DeleteStreamInput) -> Result<()> {
        let inner = &self.inner;
        inner.admit_control("DeleteStream", 0)?;
        inner.reap_deleted()?;
        let h = inner.resolve(&input.stream)?;
        {
            let mut cat = inner.catalog.lock();
            let mut topo = h.topo.write();
            let name = topo.meta.name.clone();
            if matches!(topo.meta.lifecycle, StreamLifecycle::Deleting { .. }) {
                return Err(messages::stream_not_found(&name, &inner.config.account_id));
            }
            let channels = cat
                .catalog
                .channels
                .values()
                .filter(|c| c.stream_uid == h.uid && c.deleting_since_ms.is_none())
                .count();
            if channels > 0 {
                return Err(Error::ResourceInUse {
                    message: format!(
                        "Stream {name} under account {} has {channels} channel(s). Delete them before the stream.",
                        inner.config.account_id
                    ),
                });
            }
            // Queues block a deletion whatever EnforceConsumerDeletion says (AWS).
            let queues = cat.catalog.queues.values().filter(|q| q.stream_uid == h.uid).count();
            if queues > 0 {
                return Err(Error::ResourceInUse {
                    message: format!(
                        "Stream {name} under account {} has {queues} queue(s). Delete them before the stream.",
                        inner.config.account_id
                    ),
                });
            }
            if !topo.meta.consumers.is_empty() && !input.enforce_consumer_deletion {
                return Err(Error::ResourceInUse {
                    message: format!(
                        "Stream {name} under account {} has registered consumers. Deregister them or set EnforceConsumerDeletion.",
                        inner.config.account_id
                    ),
                });
            }
            let mut meta = topo.meta.clone();
            meta.lifecycle = StreamLifecycle::Deleting { since_ms: inner.now_ms() };
            let arns: Vec<String> = meta.consumers.iter().map(|c| inner.consumer_arn(&name, c)).collect();
            meta.consumers.clear();
            inner.commit_stream(&mut cat, &mut topo, &h.dir, meta)?;
            drop(topo);
            drop(cat);
            for arn in arns {
                inner.cancel_subscriptions(&arn);
            }
        }
        inner.reap_deleted()
    }

    /// `DescribeStream`.
    pub fn describe_stream(&self, input: DescribeStreamInput) -> Result<StreamDescription> {
        let inner = &self.inner;
        inner.admit_control("DescribeStream", 0)?;
        inner.reap_deleted()?;
        // AWS returns at most 100 shards whatever the limit.
        let limit = check_limit("limit", input.limit, 1, 10_000, 100)?.min(100) as usize;
        let after = input
            .exclusive_start_shard_id
            .as_deref()
            .map(|id| parse_shard_id("exclusiveStartShardId", id))
            .transpose()?;
        let h = inner.resolve(&input.stream)?;
        let topo = h.topo.read();
        let status = inner.status(&topo.meta);
        let listed: Vec<&ShardMeta> = if status == StreamStatus::Creating {
            Vec::new()
        } else {
            topo.meta.shards.iter().filter(|s| after.is_none_or(|a| s.index > a)).collect()
        };
        Ok(StreamDescription {
            stream_name: topo.meta.name.clone(),
            stream_arn: h.arn.clone(),
            stream_status: status,
            stream_mode: topo.meta.mode,
            has_more_shards: listed.len() > limit,
            shards: listed.into_iter().take(limit).map(shard_view).collect(),
            retention_period_hours: topo.meta.retention_hours,
            stream_creation_timestamp: Timestamp(topo.meta.created_ms),
            enhanced_monitoring: ShardMetric::from_bits(topo.meta.shard_level_metrics),
            encryption_type: encryption_type(&topo.meta),
            key_id: topo.meta.encryption_key.clone(),
        })
    }

    /// `DescribeStreamSummary`.
    pub fn describe_stream_summary(&self, stream: StreamRef) -> Result<StreamDescriptionSummary> {
        let inner = &self.inner;
        inner.admit_control("DescribeStreamSummary", 0)?;
        inner.reap_deleted()?;
        let h = inner.resolve(&stream)?;
        let channel_count = inner.channel_count_of(h.uid);
        inner.reap_queues()?;
        let queue_count = inner.queue_count_of(h.uid);
        let advantage = inner.is_advantage();
        let topo = h.topo.read();
        let m = &topo.meta;
        Ok(StreamDescriptionSummary {
            stream_name: m.name.clone(),
            stream_arn: h.arn.clone(),
            stream_status: inner.status(m),
            stream_mode: m.mode,
            retention_period_hours: m.retention_hours,
            stream_creation_timestamp: Timestamp(m.created_ms),
            enhanced_monitoring: ShardMetric::from_bits(m.shard_level_metrics),
            encryption_type: encryption_type(m),
            key_id: m.encryption_key.clone(),
            open_shard_count: m.shards.iter().filter(|s| s.is_open()).count() as u32,
            consumer_count: m.consumers.len() as u32,
            max_record_size_in_kib: m.max_record_size_kib,
            stream_id: m.stream_id.clone(),
            warm_throughput: if advantage { inner.warm_view(m) } else { None },
            channel_count,
            queue_count,
            record_distribution_strategy: (m.mode == StreamMode::OnDemand).then_some(m.distribution),
        })
    }

    /// `ListStreams`, in name order, paginated by `ExclusiveStartStreamName` or `NextToken`.
    pub fn list_streams(&self, input: ListStreamsInput) -> Result<ListStreamsOutput> {
        let inner = &self.inner;
        inner.admit_control("ListStreams", 0)?;
        inner.reap_deleted()?;
        let limit = check_limit("limit", input.limit, 1, 10_000, 100)? as usize;
        let now = inner.now_ms();
        let after: Option<String> = match (&input.next_token, &input.exclusive_start_stream_name) {
            (Some(t), _) => {
                let tok = NextToken::decode(t, &inner.token_key)?;
                tok.check_age(now)?;
                match tok.resume {
                    // ListStreams tokens carry no stream; anything else is another API's token.
                    ResumeAt::Key(k) if tok.stream_uid == 0 => Some(k),
                    _ => return Err(messages::invalid_next_token()),
                }
            }
            (None, Some(name)) => {
                names::validate_stream_name(name)?;
                Some(name.clone())
            }
            (None, None) => None,
        };
        let mut all: Vec<Arc<StreamHandle>> = inner.streams.read().by_name.values().cloned().collect();
        all.sort_by(|a, b| a.topo.read().meta.name.cmp(&b.topo.read().meta.name));
        let mut summaries = Vec::new();
        let mut has_more = false;
        for h in all {
            let topo = h.topo.read();
            if after.as_deref().is_some_and(|a| topo.meta.name.as_str() <= a) {
                continue;
            }
            if summaries.len() == limit {
                has_more = true;
                break;
            }
            summaries.push(StreamSummary {
                stream_name: topo.meta.name.clone(),
                stream_arn: h.arn.clone(),
                stream_status: inner.status(&topo.meta),
                stream_mode: topo.meta.mode,
                stream_creation_timestamp: Timestamp(topo.meta.created_ms),
            });
        }
        let next_token = match (has_more, summaries.last()) {
            (true, Some(last)) => Some(
                NextToken { stream_uid: 0, resume: ResumeAt::Key(last.stream_name.clone()), issued_ms: now }
                    .encode(&inner.token_key)?,
            ),
            _ => None,
        };
        Ok(ListStreamsOutput {
            stream_names: summaries.iter().map(|s| s.stream_name.clone()).collect(),
            has_more_streams: has_more,
            next_token,
            stream_summaries: summaries,
        })
    }

    /// `ListShards`, with `NextToken` pagination (tokens expire after 300 s and carry the
    /// filter), `ExclusiveStartShardId`, `MaxResults` and every `ShardFilter` type.
    pub fn list_shards(&self, input: ListShardsInput) -> Result<ListShardsOutput> {
        let inner = &self.inner;
        inner.admit_control("ListShards", 0)?;
        inner.reap_deleted()?;
        let has_stream = input.stream.stream_name.is_some() || input.stream.stream_arn.is_some();
        // AWS returns at most 1,000 shards whatever MaxResults says.
        let max = check_limit("maxResults", input.max_results, 1, 10_000, 1000)?.min(1000) as usize;
        let now = inner.now_ms();
        let (h, after, filter) = match (&input.next_token, has_stream) {
            (Some(_), true) => return Err(messages::next_token_with_stream_name()),
            (None, false) => return Err(messages::next_token_or_stream_name_required()),
            (Some(_), false) if input.exclusive_start_shard_id.is_some() => {
                return Err(Error::invalid_argument("NextToken and ExclusiveStartShardId cannot be provided together."))
            }
            (Some(_), false) if input.stream_creation_timestamp.is_some() => {
                return Err(Error::invalid_argument(
                    "NextToken and StreamCreationTimestamp cannot be provided together.",
                ))
            }
            (Some(t), false) => {
                let tok = NextToken::decode(t, &inner.token_key)?;
                tok.check_age(now)?;
                let ResumeAt::Key(state) = tok.resume else { return Err(messages::invalid_next_token()) };
                let (after, filter) = decode_list_state(&state).ok_or_else(messages::invalid_next_token)?;
                let h = inner.streams.read().by_uid.get(&tok.stream_uid).cloned();
                let h = h.ok_or_else(messages::invalid_next_token)?;
                (h, after, filter)
            }
            (None, true) => {
                let after = input
                    .exclusive_start_shard_id
                    .as_deref()
                    .map(|id| parse_shard_id("exclusiveStartShardId", id))
                    .transpose()?;
                let filter = input.shard_filter.clone().map(|f| resolve_filter(&f)).transpose()?;
                (inner.resolve(&input.stream)?, after, filter)
            }
        };
        let topo = h.topo.read();
        if let Some(ts) = input.stream_creation_timestamp {
            if ts.0 != topo.meta.created_ms {
                return Err(messages::stream_not_found(&topo.meta.name, &inner.config.account_id));
            }
        }
        let matching: Vec<&ShardMeta> = topo
            .meta
            .shards
            .iter()
            .filter(|s| after.is_none_or(|a| s.index > a))
            .filter(|s| filter.as_ref().is_none_or(|f| f.keeps(s, &topo.meta)))
            .collect();
        let more = matching.len() > max;
        let shards: Vec<Shard> = matching.into_iter().take(max).map(shard_view).collect();
        let next_token = if more {
            let last = shards.last().and_then(|s| names::parse_shard_id(&s.shard_id));
            let state = encode_list_state(last, filter.as_ref());
            Some(
                NextToken { stream_uid: h.uid, resume: ResumeAt::Key(state), issued_ms: now }
                    .encode(&inner.token_key)?,
            )
        } else {
            None
        };
        Ok(ListShardsOutput { shards, next_token })
    }

    /// `UpdateMaxRecordSize` (1,024–10,240 KiB).
    pub fn update_max_record_size(&self, stream: StreamRef, max_record_size_in_kib: u32) -> Result<()> {
        self.inner.admit_control("UpdateMaxRecordSize", 0)?;
        check_limit(
            "maxRecordSizeInKiB",
            Some(max_record_size_in_kib),
            DEFAULT_MAX_RECORD_KIB,
            MAX_MAX_RECORD_KIB,
            DEFAULT_MAX_RECORD_KIB,
        )?;
        self.update_stream(&stream, |_, meta| {
            meta.max_record_size_kib = max_record_size_in_kib;
            Ok(())
        })
    }

    /// `DescribeLimits`: the account's shard quota and usage.
    pub fn describe_limits(&self) -> Result<DescribeLimitsOutput> {
        let inner = &self.inner;
        inner.admit_control("DescribeLimits", 0)?;
        inner.reap_deleted()?;
        inner.reap_queues()?;
        let cat = inner.catalog.lock();
        let live = cat.catalog.streams.values().filter(|s| matches!(s.lifecycle, StreamLifecycle::Live));
        let (mut open, mut on_demand) = (0u32, 0u32);
        for s in live {
            open += s.shards.iter().filter(|sh| sh.is_open()).count() as u32;
            on_demand += u32::from(s.mode == StreamMode::OnDemand);
        }
        Ok(DescribeLimitsOutput {
            shard_limit: inner.config.effective_shard_limit(),
            open_shard_count: open,
            on_demand_stream_count: on_demand,
            on_demand_stream_count_limit: ON_DEMAND_STREAM_LIMIT,
            channel_count: cat.catalog.channels.len() as u32,
            channel_count_limit: crate::engine::channels::CHANNEL_COUNT_LIMIT,
            queue_count: cat.catalog.queues.len() as u32,
        })
    }

    /// `AddTagsToStream`.
    pub fn add_tags_to_stream(&self, input: AddTagsToStreamInput) -> Result<()> {
        self.inner.admit_control("AddTagsToStream", 0)?;
        let tags: Vec<(&str, &str)> = input.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        names::validate_tags(&tags, names::MAX_TAGS_PER_ADD_CALL)?;
        self.update_stream(&input.stream, |inner, meta| {
            names::validate_tag_characters(
                &meta.name,
                &inner.config.account_id,
                names::TagChange::Add,
                input.tags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]),
            )?;
            let mut after = meta.tags.clone();
            after.extend(input.tags.clone());
            names::validate_tag_count(&meta.name, &inner.config.account_id, after.len())?;
            meta.tags = after;
            Ok(())
        })
    }

    /// `RemoveTagsFromStream`.
    pub fn remove_tags_from_stream(&self, input: RemoveTagsFromStreamInput) -> Result<()> {
        self.inner.admit_control("RemoveTagsFromStream", 0)?;
        let mut e = ValidationErrors::new();
        if input.tag_keys.is_empty() || input.tag_keys.len() > names::MAX_TAGS_PER_ADD_CALL {
            let c = if input.tag_keys.is_empty() {
                Constraint::MinLength(1)
            } else {
                Constraint::MaxLength(names::MAX_TAGS_PER_ADD_CALL)
            };
            e.push("tagKeys", format!("[{}]", input.tag_keys.join(", ")), c);
        }
        for (i, k) in input.tag_keys.iter().enumerate() {
            e.length(&format!("tagKeys.{}.member", i + 1), k, 1, names::TAG_KEY_MAX_LEN);
        }
        e.into_result()?;
        self.update_stream(&input.stream, |inner, meta| {
            names::validate_tag_characters(
                &meta.name,
                &inner.config.account_id,
                names::TagChange::Remove,
                input.tag_keys.iter().map(String::as_str),
            )?;
            for k in &input.tag_keys {
                meta.tags.remove(k);
            }
            Ok(())
        })
    }

    /// `ListTagsForStream`.
    pub fn list_tags_for_stream(&self, input: ListTagsForStreamInput) -> Result<ListTagsForStreamOutput> {
        self.inner.admit_control("ListTagsForStream", 0)?;
        let limit = check_limit("limit", input.limit, 1, 50, 50)? as usize;
        let h = self.inner.resolve(&input.stream)?;
        let topo = h.topo.read();
        let mut tags: Vec<Tag> = topo
            .meta
            .tags
            .iter()
            .filter(|(k, _)| input.exclusive_start_tag_key.as_ref().is_none_or(|s| k.as_str() > s.as_str()))
            .map(|(k, v)| Tag { key: k.clone(), value: Some(v.clone()) })
            .collect();
        let has_more_tags = tags.len() > limit;
        tags.truncate(limit);
        Ok(ListTagsForStreamOutput { tags, has_more_tags })
    }

    /// Apply a change to a live stream's catalog entry and commit it.
    pub(crate) fn update_stream(
        &self,
        stream: &StreamRef,
        change: impl FnOnce(&crate::engine::EngineInner, &mut StreamMeta) -> Result<()>,
    ) -> Result<()> {
        let inner = &self.inner;
        inner.reap_deleted()?;
        let h = inner.resolve(stream)?;
        let mut cat = inner.catalog.lock();
        let mut topo = h.topo.write();
        if matches!(topo.meta.lifecycle, StreamLifecycle::Deleting { .. }) {
            return Err(messages::stream_not_found(&topo.meta.name, &inner.config.account_id));
        }
        let mut meta = topo.meta.clone();
        change(inner, &mut meta)?;
        inner.commit_stream(&mut cat, &mut topo, &h.dir, meta)
    }
}

/// A shard filter with its arguments checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResolvedFilter {
    AfterShardId(u32),
    AtTrimHorizon,
    FromTrimHorizon,
    AtLatest,
    AtTimestamp(i64),
    FromTimestamp(i64),
}

fn resolve_filter(f: &ShardFilter) -> Result<ResolvedFilter> {
    let need_ts = |ts: Option<Timestamp>| {
        ts.map(|t| t.0).ok_or_else(|| {
            Error::invalid_argument(format!(
                "Timestamp is required for ShardFilter type {}.",
                if f.filter_type == ShardFilterType::AtTimestamp { "AT_TIMESTAMP" } else { "FROM_TIMESTAMP" }
            ))
        })
    };
    Ok(match f.filter_type {
        ShardFilterType::AfterShardId => {
            let id = f
                .shard_id
                .as_deref()
                .ok_or_else(|| Error::invalid_argument("ShardId is required for ShardFilter type AFTER_SHARD_ID."))?;
            ResolvedFilter::AfterShardId(parse_shard_id("shardFilter.shardId", id)?)
        }
        ShardFilterType::AtTrimHorizon => ResolvedFilter::AtTrimHorizon,
        ShardFilterType::FromTrimHorizon => ResolvedFilter::FromTrimHorizon,
        ShardFilterType::AtLatest => ResolvedFilter::AtLatest,
        ShardFilterType::AtTimestamp => ResolvedFilter::AtTimestamp(need_ts(f.timestamp)?),
        ShardFilterType::FromTimestamp => ResolvedFilter::FromTimestamp(need_ts(f.timestamp)?),
    })
}

impl ResolvedFilter {
    /// Whether shard `s` of `meta` passes the filter. Lineage rules: a shard is open at time
    /// `t` if it was created by then (the stream's original shards count as created from the
    /// beginning) and not closed by then.
    pub(crate) fn keeps(&self, s: &ShardMeta, meta: &StreamMeta) -> bool {
        let _ = meta;
        let open_at = |t: i64| {
            let created = s.parent.is_none() || s.created_ms <= t;
            created && s.closed.is_none_or(|c| c.closed_ms > t)
        };
        match *self {
            ResolvedFilter::AfterShardId(id) => s.index > id,
            ResolvedFilter::AtTrimHorizon => s.parent.is_none() || !has_listed_parent(s, meta),
            ResolvedFilter::FromTrimHorizon => true,
            ResolvedFilter::AtLatest => s.is_open(),
            ResolvedFilter::AtTimestamp(t) => open_at(t),
            ResolvedFilter::FromTimestamp(t) => s.closed.is_none_or(|c| c.closed_ms > t),
        }
    }
}

/// True if one of `s`'s parents is still listed (not expired).
fn has_listed_parent(s: &ShardMeta, meta: &StreamMeta) -> bool {
    [s.parent, s.adjacent_parent].into_iter().flatten().any(|p| meta.shard(p).is_some())
}

fn encode_list_state(last: Option<u32>, f: Option<&ResolvedFilter>) -> String {
    let last = last.map_or_else(String::new, |l| l.to_string());
    let f = match f {
        None => "-".to_string(),
        Some(ResolvedFilter::AfterShardId(i)) => format!("A{i}"),
        Some(ResolvedFilter::AtTrimHorizon) => "H".into(),
        Some(ResolvedFilter::FromTrimHorizon) => "F".into(),
        Some(ResolvedFilter::AtLatest) => "L".into(),
        Some(ResolvedFilter::AtTimestamp(t)) => format!("T{t}"),
        Some(ResolvedFilter::FromTimestamp(t)) => format!("S{t}"),
    };
    format!("{last}|{f}")
}

fn decode_list_state(s: &str) -> Option<(Option<u32>, Option<ResolvedFilter>)> {
    let (last, f) = s.split_once('|')?;
    let last = if last.is_empty() { None } else { Some(last.parse().ok()?) };
    let (tag, arg) = f.split_at_checked(1)?;
    let filter = match tag {
        "-" => None,
        "A" => Some(ResolvedFilter::AfterShardId(arg.parse().ok()?)),
        "H" => Some(ResolvedFilter::AtTrimHorizon),
        "F" => Some(ResolvedFilter::FromTrimHorizon),
        "L" => Some(ResolvedFilter::AtLatest),
        "T" => Some(ResolvedFilter::AtTimestamp(arg.parse().ok()?)),
        "S" => Some(ResolvedFilter::FromTimestamp(arg.parse().ok()?)),
        _ => return None,
    };
    Some((last, filter))
}
