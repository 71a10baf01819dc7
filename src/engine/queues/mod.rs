//! Kinesis queues: `CreateQueue`, `DescribeQueue`, `ListQueues`, `UpdateQueue`,
//! `DeleteQueue` (this module), the data operations ([`records`]: receive, acknowledge,
//! visibility changes and the four dead-letter operations, with long polling through
//! [`poll`]), and the plain in-process face ([`buffer`]: `engine.queue("orders",
//! "workers")?.receive(max, wait)?`).
//!
//! A queue reads one on-demand stream and keeps per-record delivery state in its own
//! crash-safe state log (`log::queue`, `<root>/queues/<uid:016x>/`), bounded by what is in
//! flight or dead-lettered. The catalog (manifest) holds its identity and attributes.
//!
//! Rules (AWS' where it states them): the stream must be ON_DEMAND (`ValidationException`
//! otherwise); exactly one stream per queue; queues and enhanced fan-out consumers together
//! stay within 20 per stream (50 with the billing commitment; `LimitExceededException`);
//! at most 5 queues CREATING or DELETING per account (`LimitExceededException`); while a
//! stream has queues it cannot be deleted nor switched to PROVISIONED
//! (`ResourceInUseException`). Status: CREATING → ACTIVE ⇄ UPDATING → DELETING → gone, with
//! the engine's modelled delays (at once without them).
//!
//! Decisions where AWS is silent:
//! - Queue names are unique per account (`ResourceInUseException` on a repeat). Queue ids
//!   are 32-character DNS labels (`q` + 31 of `[a-z0-9]`) derived from the data directory's
//!   key, so SDK host prefixes work.
//! - LATEST is pinned at the request (records appended after CreateQueue returns, and any
//!   appended while it ran, are delivered); TRIM_HORIZON starts at every shard's trim
//!   horizon, closed shards included; AT_TIMESTAMP at each shard's first record at or after
//!   the time. Descriptions echo the request while CREATING and give the effective start
//!   once ACTIVE (LATEST: the creation time; otherwise the later of the requested time and
//!   the oldest retained record's arrival).
//! - `DeadLetterConfiguration` NONE with a `MaxReceiveCount` is `ValidationException`;
//!   BUILT_IN without one is too. Descriptions echo the effective attributes (defaults
//!   included).
//! - UpdateQueue on a queue that is not ACTIVE is `ResourceInUseException`; DeleteQueue of a
//!   queue already DELETING is `ResourceNotFoundException`.
//! - Receives on a CREATING queue return no records at once; every operation on a DELETING
//!   queue is `ResourceNotFoundException`; receives are served while ACTIVE and UPDATING.
//! - ListQueues: pages of at most 100 in creation order; several StreamFilter entries mean
//!   any of them; NextToken expires after 300 s.
//! - Records come back in lineage order: a child shard's records are offered only once
//!   every parent still in the catalog was received to its end; among open shards the
//!   first shard taken from rotates per receive. Nothing else is promised (as AWS).

pub mod buffer;
mod poll;
pub mod records;
pub(crate) mod runtime;

use std::sync::Arc;

use crate::catalog::queue::{config_in_range, QueueMeta, QueueStart, QueueStartKind, MAX_VISIBILITY_TIMEOUT_SECS};
use crate::catalog::{StreamLifecycle, StreamMode};
use crate::engine::listing::{ByStreamPager, STREAM_ARN_PATTERN};
use crate::engine::types::*;
use crate::engine::{Engine, EngineInner};
use crate::error::{Error, Result};
use crate::kinesis::{ids, messages, names, Constraint, ValidationErrors};
use crate::log::queue::{DeadLetter, QueueConfig, QueueSpec, QueueStore};

pub use buffer::{Deliveries, QueueDelivery, QueueHandle};
pub use runtime::QueueActivity;
use runtime::QueueRuntime;

/// Most queues CREATING or DELETING at once per account.
pub const MAX_QUEUES_IN_TRANSITION: usize = 5;
/// Pattern of `QueueARN`.
pub const QUEUE_ARN_PATTERN: &str = "arn:aws.*:kinesis:.*:\\d{12}:queue/\\S+";
/// Largest `MaxReceiveCount`.
pub const MAX_MAX_RECEIVE_COUNT: u32 = crate::catalog::queue::MAX_MAX_RECEIVE_COUNT;

pub(crate) fn check_queue_arn(arn: &str) -> Result<()> {
    let mut e = ValidationErrors::new();
    e.length("queueARN", arn, 1, names::ARN_MAX_LEN);
    if names::parse_resource_arn(arn).is_none_or(|p| p.kind != names::ResourceKind::Queue) {
        e.pattern("queueARN", arn, QUEUE_ARN_PATTERN);
    }
    e.into_result()
}

pub(crate) fn queue_not_found(arn: &str) -> Error {
    Error::ResourceNotFound { message: format!("Queue {arn} not found.") }
}

fn validation(message: impl Into<String>) -> Error {
    Error::Validation { message: message.into() }
}

/// Check `QueueAttributes` members (ranges, dead-letter rules) into `e`; the effective
/// configuration starting from `base`.
fn apply_attributes(e: &mut ValidationErrors, base: QueueConfig, attrs: &QueueAttributes) -> Result<QueueConfig> {
    let mut config = base;
    if let Some(v) = attrs.visibility_timeout_seconds {
        e.range("queueAttributes.visibilityTimeoutSeconds", i128::from(v), 0, i128::from(MAX_VISIBILITY_TIMEOUT_SECS));
        config.visibility_timeout_ms = u64::from(v).min(MAX_VISIBILITY_TIMEOUT_SECS) * 1000;
    }
    if let Some(d) = attrs.dead_letter_configuration {
        if let Some(n) = d.max_receive_count {
            e.range(
                "queueAttributes.deadLetterConfiguration.maxReceiveCount",
                i128::from(n),
                1,
                i128::from(MAX_MAX_RECEIVE_COUNT),
            );
        }
        config.dead_letter = match (d.target_type, d.max_receive_count) {
            (DeadLetterTargetType::BuiltIn, Some(n)) => {
                DeadLetter::BuiltIn { max_receive_count: n.clamp(1, MAX_MAX_RECEIVE_COUNT) }
            }
            (DeadLetterTargetType::BuiltIn, None) => {
                return Err(validation("MaxReceiveCount is required when the dead-letter TargetType is BUILT_IN."))
            }
            (DeadLetterTargetType::None, Some(_)) => {
                return Err(validation("MaxReceiveCount applies only to the dead-letter TargetType BUILT_IN."))
            }
            (DeadLetterTargetType::None, None) => DeadLetter::Off,
        };
    }
    Ok(config)
}

fn attributes_of(config: QueueConfig) -> QueueAttributes {
    QueueAttributes {
        visibility_timeout_seconds: Some((config.visibility_timeout_ms / 1000) as u32),
        dead_letter_configuration: Some(match config.dead_letter {
            DeadLetter::Off => {
                DeadLetterConfiguration { target_type: DeadLetterTargetType::None, max_receive_count: None }
            }
            DeadLetter::BuiltIn { max_receive_count } => DeadLetterConfiguration {
                target_type: DeadLetterTargetType::BuiltIn,
                max_receive_count: Some(max_receive_count),
            },
        }),
    }
}

impl EngineInner {
    pub(crate) fn queue_arn(&self, q: &QueueMeta) -> String {
        names::queue_arn(&self.config.region, &self.config.account_id, &q.id)
    }

    /// The status a queue shows now.
    pub(crate) fn queue_status(&self, q: &QueueMeta) -> QueueStatus {
        if q.deleting_since_ms.is_some() {
            return QueueStatus::Deleting;
        }
        let now = self.now_ms();
        let (creating, updating) = self
            .config
            .status_delays
            .map_or((0, 0), |d| (d.creating.as_millis() as i64, d.updating.as_millis() as i64));
        if now < q.created_ms.saturating_add(creating) {
            QueueStatus::Creating
        } else if now < q.updated_ms.saturating_add(updating) {
            QueueStatus::Updating
        } else {
            QueueStatus::Active
        }
    }

    /// Drop queues whose deletion delay has passed (catalog commit).
    pub(crate) fn reap_queues(&self) -> Result<()> {
        let now = self.now_ms();
        let delay = self.config.status_delays.map_or(0, |d| d.deleting.as_millis() as i64);
        let mut cat = self.catalog.lock();
        let due: Vec<u64> = cat
            .catalog
            .queues
            .values()
            .filter(|q| q.deleting_since_ms.is_some_and(|t| now >= t.saturating_add(delay)))
            .map(|q| q.uid)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut next = cat.catalog.clone();
        for uid in &due {
            next.queues.remove(uid);
        }
        self.commit_catalog(&mut cat, &next)?;
        cat.catalog = next;
        Ok(())
    }

    /// The queue a `QueueARN` names (not yet gone; DELETING included).
    pub(crate) fn find_queue(&self, arn: &str) -> Result<QueueMeta> {
        check_queue_arn(arn)?;
        self.reap_queues()?;
        let p = names::parse_resource_arn(arn).ok_or_else(|| queue_not_found(arn))?;
        if p.region != self.config.region || p.account != self.config.account_id {
            return Err(queue_not_found(arn));
        }
        let cat = self.catalog.lock();
        cat.catalog.queues.values().find(|q| q.id == p.id).cloned().ok_or_else(|| queue_not_found(arn))
    }

    /// The run-time queue a `QueueARN` names, with its stream; DELETING queues are not found.
    /// (Every open queue was reconciled with its shard logs inside the engine's open.)
    pub(crate) fn live_queue(
        &self,
        arn: &str,
    ) -> Result<(QueueMeta, Arc<QueueRuntime>, Arc<crate::engine::StreamHandle>)> {
        let q = self.find_queue(arn)?;
        if q.deleting_since_ms.is_some() {
            return Err(queue_not_found(arn));
        }
        let rt = self.queues.read().get(&q.uid).cloned().ok_or_else(|| queue_not_found(arn))?;
        let h = self.streams.read().by_uid.get(&q.stream_uid).cloned().ok_or_else(|| queue_not_found(arn))?;
        Ok((q, rt, h))
    }

    fn queue_description(&self, q: &QueueMeta) -> QueueDescription {
        let stream = self.streams.read().by_uid.get(&q.stream_uid).cloned();
        let stream_arn = stream.map(|h| h.arn.clone()).unwrap_or_default();
        let status = self.queue_status(q);
        let timestamp = if status == QueueStatus::Creating {
            q.start.requested_ms.map(Timestamp)
        } else {
            Some(Timestamp(q.start.effective_ms))
        };
        QueueDescription {
            queue_name: q.name.clone(),
            queue_arn: self.queue_arn(q),
            queue_id: q.id.clone(),
            queue_status: status,
            queue_creation_timestamp: Timestamp(q.created_ms),
            stream_configuration_list: vec![QueueStreamConfiguration {
                stream_arn,
                starting_position: Some(QueueStartingPosition { kind: q.start.kind, timestamp }),
            }],
            queue_attributes: attributes_of(q.config),
        }
    }

    fn queue_summary(&self, q: &QueueMeta) -> QueueSummary {
        let stream = self.streams.read().by_uid.get(&q.stream_uid).cloned();
        let (arn, created) = match stream {
            Some(h) => (h.arn.clone(), h.topo.read().meta.created_ms),
            None => (String::new(), 0),
        };
        QueueSummary {
            queue_name: q.name.clone(),
            queue_arn: self.queue_arn(q),
            queue_status: self.queue_status(q),
            queue_creation_timestamp: Timestamp(q.created_ms),
            streams: vec![(arn, Timestamp(created))],
        }
    }

    /// Queues reading a stream (DELETING ones included), for `QueueCount` and the limits.
    pub(crate) fn queue_count_of(&self, stream_uid: u64) -> u32 {
        let cat = self.catalog.lock();
        cat.catalog.queues.values().filter(|q| q.stream_uid == stream_uid).count() as u32
    }

    fn queues_in_transition(&self, cat: &crate::catalog::Catalog) -> usize {
        cat.queues
            .values()
            .filter(|q| matches!(self.queue_status(q), QueueStatus::Creating | QueueStatus::Deleting))
            .count()
    }
}

/// Validate a CreateQueue request: the stream ARN, the starting position and the
/// configuration.
fn check_create(input: &CreateQueueInput) -> Result<(String, QueueStartKind, Option<i64>, QueueConfig)> {
    let mut e = ValidationErrors::new();
    e.name("queueName", &input.queue_name);
    let n = input.stream_configuration_list.len();
    if n == 0 || n > 10_000 {
        let c = if n == 0 { Constraint::MinLength(1) } else { Constraint::MaxLength(10_000) };
        e.push("streamConfigurationList", format!("[{n} entries]"), c);
    }
    for (i, sc) in input.stream_configuration_list.iter().enumerate() {
        let m = format!("streamConfigurationList.{}.member.streamARN", i + 1);
        e.length(&m, &sc.stream_arn, 1, names::ARN_MAX_LEN);
        if names::parse_stream_arn(&sc.stream_arn).is_none() {
            e.pattern(&m, &sc.stream_arn, STREAM_ARN_PATTERN);
        }
    }
    let config = match &input.queue_attributes {
        Some(a) => apply_attributes(&mut e, QueueConfig::default(), a)?,
        None => QueueConfig::default(),
    };
    e.into_result()?;
    let Some(sc) = input.stream_configuration_list.first().filter(|_| n == 1) else {
        return Err(validation(format!("StreamConfigurationList must hold exactly one stream, not {n}.")));
    };
    let (kind, ts) = match sc.starting_position {
        None => (QueueStartKind::Latest, None),
        Some(p) => (p.kind, p.timestamp.map(|t| t.0)),
    };
    match (kind, ts) {
        (QueueStartKind::AtTimestamp, None) => {
            return Err(validation("Timestamp is required when the StartingPosition Type is AT_TIMESTAMP."))
        }
        (QueueStartKind::TrimHorizon | QueueStartKind::Latest, Some(_)) => {
            return Err(validation(format!(
                "Timestamp can be given only when the StartingPosition Type is AT_TIMESTAMP, not {}.",
                kind.as_str()
            )))
        }
        _ => {}
    }
    if !input.tags.is_empty() {
        crate::engine::resources::validate_resource_tags(&input.tags)?;
        if input.tags.len() > names::MAX_TAGS_PER_STREAM {
            return Err(Error::invalid_argument(format!(
                "A queue takes at most {} tags; {} were given.",
                names::MAX_TAGS_PER_STREAM,
                input.tags.len()
            )));
        }
    }
    debug_assert!(config_in_range(&config));
    Ok((sc.stream_arn.clone(), kind, ts, config))
}

impl Engine {
    /// `CreateQueue`: a queue over one on-demand stream (CREATING → ACTIVE). Its state
    /// directory is created (durably) before the catalog names it.
    pub fn create_queue(&self, input: CreateQueueInput) -> Result<QueueDescription> {
        let inner = &self.inner;
        inner.admit_control("CreateQueue", 0)?;
        inner.check_metadata()?;
        let (stream_arn, kind, requested_ms, config) = check_create(&input)?;
        inner.reap_queues()?;
        let h = inner.resolve(&StreamRef::arn(&stream_arn))?;
        let now = inner.now_ms();
        let account = inner.config.account_id.clone();
        let max_consumers = inner.max_consumers();
        let mut cat = inner.catalog.lock();
        let topo = h.topo.read();
        let meta = &topo.meta;
        if matches!(meta.lifecycle, StreamLifecycle::Deleting { .. }) {
            return Err(messages::stream_not_found(&meta.name, &account));
        }
        if meta.mode != StreamMode::OnDemand {
            return Err(validation(format!(
                "Queues need a stream in ON_DEMAND capacity mode; stream {} under account {account} is PROVISIONED.",
                meta.name
            )));
        }
        if inner.status(meta) == StreamStatus::Creating {
            return Err(messages::stream_not_active(&meta.name, &account, "CREATING"));
        }
        if cat.catalog.queues.values().any(|q| q.name == input.queue_name) {
            return Err(Error::ResourceInUse {
                message: format!("Queue {} under account {account} already exists.", input.queue_name),
            });
        }
        let on_stream = cat.catalog.queues.values().filter(|q| q.stream_uid == h.uid).count();
        if meta.consumers.len() + on_stream >= max_consumers {
            return Err(Error::LimitExceeded {
                message: format!(
                    "Stream {} under account {account} already has {max_consumers} consumers and queues together.",
                    meta.name
                ),
            });
        }
        if inner.queues_in_transition(&cat.catalog) >= MAX_QUEUES_IN_TRANSITION {
            return Err(Error::LimitExceeded {
                message: format!(
                    "Account {account} already has {MAX_QUEUES_IN_TRANSITION} queues in CREATING or DELETING status."
                ),
            });
        }
        // Where each shard starts, and the effective start time.
        let mut start_positions = Vec::with_capacity(meta.shards.len());
        let mut earliest: Option<i64> = None;
        for (slot, shard) in topo.slots.iter().zip(&meta.shards) {
            let log = inner.existing_log(slot)?;
            let (trim, hw) = log.as_ref().map_or((0, 0), |l| (l.start_offset(), l.high_watermark()));
            if let Some(l) = &log {
                if hw > trim {
                    if let Some(first) = l.read(trim, 1, 0)?.records.first() {
                        earliest = Some(earliest.map_or(first.arrival_ms, |e| e.min(first.arrival_ms)));
                    }
                }
            }
            let offset = match (kind, &log) {
                (QueueStartKind::Latest, _) => hw,
                (QueueStartKind::TrimHorizon, _) => trim,
                (QueueStartKind::AtTimestamp, Some(l)) => l.offset_for_time(requested_ms.unwrap_or(0))?.max(trim),
                (QueueStartKind::AtTimestamp, None) => 0,
            };
            start_positions.push((shard.index, offset));
        }
        drop(topo);
        let effective_ms = match kind {
            QueueStartKind::Latest => now,
            QueueStartKind::TrimHorizon => earliest.unwrap_or(now),
            QueueStartKind::AtTimestamp => requested_ms.unwrap_or(0).max(earliest.unwrap_or(i64::MIN)),
        };
        let uid = cat.catalog.next_queue_uid;
        let queue = QueueMeta {
            uid,
            id: ids::queue_id(&cat.catalog.token_key, uid),
            name: input.queue_name.clone(),
            created_ms: now,
            updated_ms: i64::MIN,
            stream_uid: h.uid,
            start: QueueStart { kind, requested_ms, effective_ms },
            config,
            tags: input.tags,
            policy: None,
            deleting_since_ms: None,
        };
        let spec = QueueSpec { uid, config, now_ms: inner.queue_now(), start_positions };
        let store = QueueStore::create(inner.queue_dir(uid), inner.queue_options(), spec)?;
        let mut next = cat.catalog.clone();
        next.next_queue_uid = uid + 1;
        next.queues.insert(uid, queue.clone());
        if let Err(e) = inner.commit_catalog(&mut cat, &next) {
            // Not named by the catalog: an orphan the next open removes if this fails too.
            let _ = store.delete();
            return Err(e);
        }
        cat.catalog = next;
        drop(cat);
        inner.queues.write().insert(uid, QueueRuntime::new(uid, h.uid, store));
        Ok(inner.queue_description(&queue))
    }

    /// `DescribeQueue`.
    pub fn describe_queue(&self, queue_arn: &str) -> Result<QueueDescription> {
        let inner = &self.inner;
        inner.admit_control("DescribeQueue", 0)?;
        let q = inner.find_queue(queue_arn)?;
        Ok(inner.queue_description(&q))
    }

    /// `ListQueues`, in creation order, at most 100 per page, optionally only queues of the
    /// given streams; `NextToken` expires after 300 s.
    pub fn list_queues(&self, input: ListQueuesInput) -> Result<ListQueuesOutput> {
        let inner = &self.inner;
        inner.admit_control("ListQueues", 0)?;
        let filter = input
            .stream_filter
            .as_ref()
            .map(|f| f.iter().map(|sf| (sf.stream_arn.clone(), sf.stream_creation_timestamp.map(|t| t.0))).collect());
        let pager = ByStreamPager::new(inner, "queue", input.max_results, filter, input.next_token.as_deref(), || {
            inner.reap_queues()
        })?;
        let all: Vec<QueueMeta> = inner.catalog.lock().catalog.queues.values().cloned().collect();
        let (page, next_token) = pager.page(&all, |x| x.uid, |x| x.stream_uid)?;
        Ok(ListQueuesOutput { queue_summaries: page.into_iter().map(|q| inner.queue_summary(q)).collect(), next_token })
    }

    /// `UpdateQueue`: a new visibility timeout (for receives from now on) and/or dead-letter
    /// configuration; what is left out stays. ACTIVE → UPDATING → ACTIVE.
    pub fn update_queue(&self, input: UpdateQueueInput) -> Result<QueueDescription> {
        let inner = &self.inner;
        inner.admit_control("UpdateQueue", 0)?;
        inner.check_metadata()?;
        check_queue_arn(&input.queue_arn)?;
        let mut e = ValidationErrors::new();
        let probe = apply_attributes(&mut e, QueueConfig::default(), &input.queue_attributes)?;
        e.into_result()?;
        let _ = probe;
        let (q, rt, _) = inner.live_queue(&input.queue_arn)?;
        let status = inner.queue_status(&q);
        if status != QueueStatus::Active {
            return Err(Error::ResourceInUse {
                message: format!("Queue {} is not ACTIVE, instead in state {}.", q.name, status.as_str()),
            });
        }
        let mut ignored = ValidationErrors::new();
        let config = apply_attributes(&mut ignored, q.config, &input.queue_attributes)?;
        let mut updated = q.clone();
        updated.config = config;
        updated.updated_ms = inner.now_ms();
        {
            let mut cat = inner.catalog.lock();
            let mut next = cat.catalog.clone();
            next.queues.insert(updated.uid, updated.clone());
            inner.commit_catalog(&mut cat, &next)?;
            cat.catalog = next;
        }
        // A lost state-log event is redone at the next open from the catalog's attributes.
        rt.store.update_config(inner.queue_now(), config)?;
        rt.gate.wake();
        Ok(inner.queue_description(&updated))
    }

    /// `DeleteQueue`: delivery stops at once, records in flight are never redelivered and
    /// every receipt handle becomes invalid; the stream and its data are untouched.
    /// DELETING, then gone.
    pub fn delete_queue(&self, queue_arn: &str) -> Result<()> {
        let inner = &self.inner;
        inner.admit_control("DeleteQueue", 0)?;
        inner.check_metadata()?;
        let q = inner.find_queue(queue_arn)?;
        if q.deleting_since_ms.is_some() {
            return Err(queue_not_found(queue_arn));
        }
        {
            let mut cat = inner.catalog.lock();
            let delayed = inner.config.status_delays.is_some_and(|d| !d.deleting.is_zero());
            if delayed && inner.queues_in_transition(&cat.catalog) >= MAX_QUEUES_IN_TRANSITION {
                return Err(Error::LimitExceeded {
                    message: format!(
                        "Account {} already has {MAX_QUEUES_IN_TRANSITION} queues in CREATING or DELETING status.",
                        inner.config.account_id
                    ),
                });
            }
            let mut next = cat.catalog.clone();
            if delayed {
                if let Some(x) = next.queues.get_mut(&q.uid) {
                    x.deleting_since_ms = Some(inner.now_ms());
                }
            } else {
                next.queues.remove(&q.uid);
            }
            inner.commit_catalog(&mut cat, &next)?;
            cat.catalog = next;
        }
        let rt = inner.queues.write().remove(&q.uid);
        if let Some(rt) = rt {
            rt.gate.wake();
            rt.store.delete()?;
        }
        Ok(())
    }

    /// Run-time counters of a queue (`ReceivedQueueRecords`, `AcknowledgedQueueRecords`,
    /// `EmptyReceives`) and its record counts (`VisibleQueueRecords` capped at 1,000,000,
    /// `InFlightQueueRecords`, `VisibleDeadLetterQueueRecords`), for metrics.
    pub fn queue_metrics(&self) -> Result<Vec<QueueMetrics>> {
        let inner = &self.inner;
        let metas: Vec<QueueMeta> =
            inner.catalog.lock().catalog.queues.values().filter(|q| q.deleting_since_ms.is_none()).cloned().collect();
        let mut out = Vec::with_capacity(metas.len());
        for q in metas {
            let Some(rt) = inner.queues.read().get(&q.uid).cloned() else { continue };
            let Some(h) = inner.streams.read().by_uid.get(&q.stream_uid).cloned() else { continue };
            rt.store.tick(inner.queue_now())?;
            let counts = rt.store.counts();
            let backlog = inner.fresh_backlog(&rt, &h)?;
            use std::sync::atomic::Ordering::Relaxed;
            out.push(QueueMetrics {
                queue_id: q.id.clone(),
                queue_name: q.name.clone(),
                received: rt.activity.received.load(Relaxed),
                acknowledged: rt.activity.acknowledged.load(Relaxed),
                empty_receives: rt.activity.empty_receives.load(Relaxed),
                visible: (counts.visible_redeliveries as u64).saturating_add(backlog).min(VISIBLE_METRIC_CAP),
                in_flight: counts.in_flight as u64,
                visible_dead_letter: counts.dead_letter_visible as u64,
            });
        }
        Ok(out)
    }
}

impl Engine {
    /// Blocking long polls waiting on any queue now (for tests that must know a poll is
    /// waiting before they act).
    #[doc(hidden)]
    pub fn queue_pollers_waiting(&self) -> usize {
        self.inner.queues.read().values().map(|q| q.gate.waiting()).sum()
    }
}

/// AWS caps `VisibleQueueRecords` at 1,000,000.
pub const VISIBLE_METRIC_CAP: u64 = 1_000_000;

/// One queue's metrics (the CloudWatch names of AWS' queue metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMetrics {
    /// The `QueueId` dimension.
    pub queue_id: String,
    /// The `QueueName` dimension.
    pub queue_name: String,
    /// `ReceivedQueueRecords` since the engine opened.
    pub received: u64,
    /// `AcknowledgedQueueRecords` since the engine opened.
    pub acknowledged: u64,
    /// `EmptyReceives` since the engine opened.
    pub empty_receives: u64,
    /// `VisibleQueueRecords`: visible redeliveries plus records not yet received.
    pub visible: u64,
    /// `InFlightQueueRecords` (normal deliveries).
    pub in_flight: u64,
    /// `VisibleDeadLetterQueueRecords`.
    pub visible_dead_letter: u64,
}
