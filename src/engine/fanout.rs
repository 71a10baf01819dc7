//! Enhanced fan-out: registered stream consumers and push subscriptions
//! (`SubscribeToShard`).
//!
//! A [`Subscription`] reads its shard independently of every other reader (its own position,
//! one event's worth of records in memory at a time), so a slow subscriber never slows
//! producers or other subscribers. It is woken by the append itself (the shard's notifier),
//! never by a polling sleep; idle subscriptions get empty events carrying the continuation
//! sequence number every heartbeat interval; a subscription ends after its lifetime (5
//! minutes by default). Subscribing again with the same consumer and shard within 5 s fails
//! with `ResourceInUse`; later, the new subscription takes over and the old one ends with
//! `ResourceInUse`. Usable blocking ([`Subscription::recv_timeout`], `Iterator`) and async
//! (`futures_core::Stream`, no runtime needed).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::catalog::{ConsumerMeta, ShardMeta};
use crate::engine::data::children;
use crate::engine::parse_shard_id;
use crate::engine::types::*;
use crate::engine::{arrival_secs, shard_create_secs, Engine, EngineInner, StreamHandle};
use crate::error::{Error, Result};
use crate::kinesis::quotas::MAX_CREATING_CONSUMERS;
use crate::kinesis::{messages, names, NextToken, ResumeAt, SequenceNumber, ValidationErrors};
use crate::log::ShardLog;

/// Tunables of push subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutConfig {
    /// How long a subscription lives (Kinesis: 5 minutes).
    pub subscription_lifetime: Duration,
    /// How long an idle subscription waits before an empty event.
    pub heartbeat_interval: Duration,
    /// A second subscribe within this window is `ResourceInUse` (Kinesis: 5 s).
    pub takeover_window: Duration,
    /// Most records in one event.
    pub max_event_records: usize,
    /// Most bytes of keys and data in one event.
    pub max_event_bytes: usize,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            subscription_lifetime: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(5),
            takeover_window: Duration::from_secs(5),
            max_event_records: 10_000,
            max_event_bytes: 2 * 1024 * 1024,
        }
    }
}

/// A live subscription's entry in the engine (for the 5-second rule and takeovers).
pub(crate) struct SubscriptionEntry {
    started_ms: i64,
    cancel: Arc<AtomicBool>,
    log: ShardLog,
}

/// Subscriptions by (consumer ARN, shard index).
pub(crate) type SubscriptionTable = HashMap<(String, u32), SubscriptionEntry>;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl EngineInner {
    pub(crate) fn consumer_arn(&self, stream: &str, c: &ConsumerMeta) -> String {
        names::consumer_arn(
            &self.config.region,
            &self.config.account_id,
            stream,
            &c.name,
            u64::try_from(c.created_ms.div_euclid(1000)).unwrap_or(0),
        )
    }

    fn consumer_status(&self, c: &ConsumerMeta) -> ConsumerStatus {
        match self.config.status_delays {
            Some(d) if self.now_ms() < c.created_ms.saturating_add(ms(d.creating)) => ConsumerStatus::Creating,
            _ => ConsumerStatus::Active,
        }
    }

    fn consumer_view(&self, stream: &str, c: &ConsumerMeta) -> Consumer {
        Consumer {
            consumer_name: c.name.clone(),
            consumer_arn: self.consumer_arn(stream, c),
            consumer_status: self.consumer_status(c),
            consumer_creation_timestamp: Timestamp(c.created_ms),
        }
    }

    /// The stream and consumer a request names.
    pub(crate) fn resolve_consumer(&self, r: &ConsumerRef) -> Result<(Arc<StreamHandle>, ConsumerMeta)> {
        let (stream_ref, name, arn_secs) = match (&r.consumer_arn, &r.stream_arn, &r.consumer_name) {
            (Some(arn), sarn, cname) => {
                let p = names::parse_consumer_arn(arn).ok_or_else(|| {
                    ValidationErrors::single(
                        "consumerARN",
                        arn,
                        crate::kinesis::Constraint::Pattern(
                            "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/[a-zA-Z0-9_.-]+:[0-9]+",
                        ),
                    )
                })?;
                if p.region != self.config.region || p.account != self.config.account_id {
                    return Err(consumer_not_found(arn));
                }
                let stream_arn = names::stream_arn(p.region, p.account, p.stream);
                if sarn.as_ref().is_some_and(|s| *s != stream_arn) || cname.as_ref().is_some_and(|c| c != p.consumer) {
                    return Err(Error::invalid_argument(format!(
                        "ConsumerARN {arn} does not match the given StreamARN or ConsumerName."
                    )));
                }
                (StreamRef::arn(stream_arn), p.consumer.to_string(), Some(p.creation_secs))
            }
            (None, Some(sarn), Some(cname)) => {
                names::validate_consumer_name(cname)?;
                (StreamRef::arn(sarn.clone()), cname.clone(), None)
            }
            _ => {
                return Err(Error::invalid_argument(
                    "Either ConsumerARN, or both StreamARN and ConsumerName, must be provided.",
                ))
            }
        };
        let stream_ref = StreamRef { stream_id: r.stream_id.clone(), ..stream_ref };
        let h = self.resolve(&stream_ref)?;
        let found = {
            let topo = h.topo.read();
            topo.meta.consumers.iter().find(|c| c.name == name).cloned()
        };
        match found {
            Some(c) if arn_secs.is_none_or(|s| u64::try_from(c.created_ms.div_euclid(1000)).ok() == Some(s)) => {
                Ok((h, c))
            }
            _ => Err(consumer_not_found(r.consumer_arn.as_deref().unwrap_or(&name))),
        }
    }

    /// End every subscription of a consumer (deregistration, stream deletion).
    pub(crate) fn cancel_subscriptions(&self, consumer_arn: &str) {
        let mut subs = self.subscriptions.lock();
        subs.retain(|(arn, _), e| {
            if arn == consumer_arn {
                e.cancel.store(true, Ordering::Release);
                e.log.wake_waiters();
                false
            } else {
                true
            }
        });
    }
}

fn consumer_not_found(what: &str) -> Error {
    Error::ResourceNotFound { message: format!("Consumer {what} not found.") }
}

impl Engine {
    /// `RegisterStreamConsumer`: at most 20 per stream (50 while the account has a billing
    /// commitment); a duplicate name is `ResourceInUse`.
    pub fn register_stream_consumer(&self, input: RegisterStreamConsumerInput) -> Result<Consumer> {
        self.inner.admit_control("RegisterStreamConsumer", 0)?;
        names::validate_consumer_name(&input.consumer_name)?;
        if !input.tags.is_empty() {
            crate::engine::resources::validate_resource_tags(&input.tags)?;
        }
        let inner = &self.inner;
        let stream = StreamRef {
            stream_arn: Some(input.stream_arn.clone()),
            stream_id: input.stream_id.clone(),
            ..StreamRef::default()
        };
        let now = inner.now_ms();
        let max_consumers = inner.max_consumers();
        let queues = match inner.resolve(&stream) {
            Ok(h) => {
                inner.reap_queues()?;
                inner.queue_count_of(h.uid) as usize
            }
            Err(_) => 0,
        };
        let mut registered = None;
        self.update_stream(&stream, |inner, meta| {
            if meta.consumers.iter().any(|c| c.name == input.consumer_name) {
                return Err(Error::ResourceInUse {
                    message: format!(
                        "Consumer {} under stream {} already exists for account {}.",
                        input.consumer_name, meta.name, inner.config.account_id
                    ),
                });
            }
            // Enhanced fan-out consumers and queues share the limit.
            if meta.consumers.len() + queues >= max_consumers {
                return Err(Error::LimitExceeded {
                    message: format!(
                        "Consumer limit of {max_consumers} (consumers and queues together) reached for stream {} under account {}.",
                        meta.name, inner.config.account_id
                    ),
                });
            }
            let creating =
                meta.consumers.iter().filter(|c| inner.consumer_status(c) == ConsumerStatus::Creating).count();
            if creating >= MAX_CREATING_CONSUMERS {
                return Err(Error::LimitExceeded {
                    message: format!(
                        "Stream {} under account {} already has {MAX_CREATING_CONSUMERS} consumers in CREATING status.",
                        meta.name, inner.config.account_id
                    ),
                });
            }
            // ARNs embed the creation second; a re-registration in the same second as a
            // previous registration of the name must still get a different ARN.
            let mut c = ConsumerMeta::new(input.consumer_name.clone(), now);
            c.tags = input.tags.clone();
            meta.consumers.push(c.clone());
            registered = Some((meta.name.clone(), c));
            Ok(())
        })?;
        let (stream_name, c) = registered.ok_or_else(|| Error::invalid_argument("consumer not registered"))?;
        Ok(inner.consumer_view(&stream_name, &c))
    }

    /// `DeregisterStreamConsumer`: ends its subscriptions.
    pub fn deregister_stream_consumer(&self, consumer: ConsumerRef) -> Result<()> {
        self.inner.admit_control("DeregisterStreamConsumer", 0)?;
        let inner = &self.inner;
        let (h, c) = inner.resolve_consumer(&consumer)?;
        let arn = {
            let topo = h.topo.read();
            inner.consumer_arn(&topo.meta.name, &c)
        };
        self.update_stream(&StreamRef::arn(h.arn.clone()), |_, meta| {
            meta.consumers.retain(|x| x != &c);
            Ok(())
        })?;
        inner.cancel_subscriptions(&arn);
        Ok(())
    }

    /// `DescribeStreamConsumer`.
    pub fn describe_stream_consumer(&self, consumer: ConsumerRef) -> Result<ConsumerDescription> {
        self.inner.admit_control("DescribeStreamConsumer", 0)?;
        let inner = &self.inner;
        let (h, c) = inner.resolve_consumer(&consumer)?;
        let name = h.topo.read().meta.name.clone();
        let v = inner.consumer_view(&name, &c);
        Ok(ConsumerDescription {
            consumer_name: v.consumer_name,
            consumer_arn: v.consumer_arn,
            consumer_status: v.consumer_status,
            consumer_creation_timestamp: v.consumer_creation_timestamp,
            stream_arn: h.arn.clone(),
        })
    }

    /// `ListStreamConsumers`, by name, paginated with `NextToken` (expires after 300 s).
    pub fn list_stream_consumers(&self, input: ListStreamConsumersInput) -> Result<ListStreamConsumersOutput> {
        self.inner.admit_control("ListStreamConsumers", 0)?;
        let inner = &self.inner;
        let max = input.max_results.unwrap_or(100);
        let mut e = ValidationErrors::new();
        e.range("maxResults", i128::from(max), 1, 10_000);
        e.into_result()?;
        // At most 100 are returned whatever MaxResults says.
        let max = max.min(100);
        let stream = StreamRef {
            stream_arn: Some(input.stream_arn.clone()),
            stream_id: input.stream_id.clone(),
            ..StreamRef::default()
        };
        let h = inner.resolve(&stream)?;
        let now = inner.now_ms();
        let after = match &input.next_token {
            Some(t) => {
                let tok = NextToken::decode(t, &inner.token_key)?;
                tok.check_age(now)?;
                match tok.resume {
                    ResumeAt::Key(k) if tok.stream_uid == h.uid => Some(k),
                    _ => return Err(messages::invalid_next_token()),
                }
            }
            None => None,
        };
        let topo = h.topo.read();
        if input.stream_creation_timestamp.is_some_and(|t| t.0 != topo.meta.created_ms) {
            return Err(messages::stream_not_found(&topo.meta.name, &inner.config.account_id));
        }
        let mut all: Vec<&ConsumerMeta> =
            topo.meta.consumers.iter().filter(|c| after.as_ref().is_none_or(|a| c.name > *a)).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let more = all.len() > max as usize;
        let consumers: Vec<Consumer> =
            all.into_iter().take(max as usize).map(|c| inner.consumer_view(&topo.meta.name, c)).collect();
        let next_token = match (more, consumers.last()) {
            (true, Some(last)) => Some(
                NextToken { stream_uid: h.uid, resume: ResumeAt::Key(last.consumer_name.clone()), issued_ms: now }
                    .encode(&inner.token_key)?,
            ),
            _ => None,
        };
        Ok(ListStreamConsumersOutput { consumers, next_token })
    }

    /// `SubscribeToShard`: a push subscription for a registered, active consumer. With
    /// `dry_run`, every check runs (including the 5-second rule) and the answer is
    /// `DryRunOperation`; no subscription starts or is taken over.
    pub fn subscribe_to_shard(&self, input: SubscribeToShardInput) -> Result<Subscription> {
        let inner = &self.inner;
        let consumer_ref = ConsumerRef {
            consumer_arn: Some(input.consumer_arn.clone()),
            stream_id: input.stream_id.clone(),
            ..ConsumerRef::default()
        };
        let (h, c) = inner.resolve_consumer(&consumer_ref)?;
        if inner.consumer_status(&c) != ConsumerStatus::Active {
            return Err(Error::ResourceInUse {
                message: format!("Consumer {} is not in ACTIVE state.", input.consumer_arn),
            });
        }
        let index = parse_shard_id("shardId", &input.shard_id)?;
        let topo = h.topo.read();
        let (pos, shard) = inner.shard_at(&topo, index)?;
        let slot = topo.slots.get(pos).ok_or_else(|| Error::invalid_argument("no such shard"))?;
        let log = inner.log(slot)?;
        let now = inner.now_ms();
        let sp = &input.starting_position;
        let position = inner.position_for(
            &topo,
            shard,
            Some(&log),
            sp.position_type,
            sp.sequence_number.as_deref(),
            sp.timestamp,
            now,
        )?;
        let continuation = match position.checked_sub(1).filter(|p| *p >= log.start_offset()) {
            Some(prev) => log
                .read(prev, 1, 0)?
                .records
                .first()
                .map(|r| sequence_number(shard, r.offset, r.arrival_ms))
                .unwrap_or_else(|| SequenceNumber::starting(shard_create_secs(shard), shard.index)),
            None => SequenceNumber::starting(shard_create_secs(shard), shard.index),
        };
        let shard = shard.clone();
        drop(topo);
        let cancel = Arc::new(AtomicBool::new(false));
        {
            let mut subs = inner.subscriptions.lock();
            let key = (input.consumer_arn.clone(), index);
            if let Some(old) = subs.get(&key) {
                if !old.cancel.load(Ordering::Acquire)
                    && now.saturating_sub(old.started_ms) < ms(inner.config.fanout.takeover_window)
                {
                    return Err(Error::ResourceInUse {
                        message: format!(
                            "Another active subscription exists for consumer {} on shard {}.",
                            input.consumer_arn,
                            names::shard_id_name(index)
                        ),
                    });
                }
            }
            if input.dry_run {
                return Err(crate::engine::data::dry_run_succeeded());
            }
            if let Some(old) = subs.get(&key) {
                old.cancel.store(true, Ordering::Release);
                old.log.wake_waiters();
            }
            subs.insert(key, SubscriptionEntry { started_ms: now, cancel: Arc::clone(&cancel), log: log.clone() });
        }
        Ok(Subscription {
            engine: Arc::clone(&self.inner),
            stream_uid: h.uid,
            consumer: c,
            shard,
            log,
            position,
            continuation,
            started_ms: now,
            last_event_ms: now,
            cancel,
            state: SubState::Live,
            bucket: crate::engine::limits::Bucket::default(),
            max_event_bytes: None,
        })
    }
}

fn sequence_number(shard: &ShardMeta, offset: u64, arrival_ms: i64) -> SequenceNumber {
    SequenceNumber::new(shard_create_secs(shard), shard.index, offset, arrival_secs(arrival_ms))
}

/// What [`Subscription::recv_timeout`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// An event (records, a heartbeat, or the final event of a closed shard).
    Event(SubscribeToShardEvent),
    /// Nothing within the timeout.
    TimedOut,
    /// The subscription is over (lifetime reached, or shard end delivered, or an error was
    /// already returned).
    Ended,
}

#[derive(Debug)]
enum SubState {
    Live,
    Done,
}

/// A push subscription to one shard for one consumer. See the module docs.
#[derive(Debug)]
pub struct Subscription {
    engine: Arc<EngineInner>,
    stream_uid: u64,
    consumer: ConsumerMeta,
    shard: ShardMeta,
    log: ShardLog,
    position: u64,
    continuation: SequenceNumber,
    started_ms: i64,
    last_event_ms: i64,
    cancel: Arc<AtomicBool>,
    state: SubState,
    /// Push throughput budget (2 MiB/s per consumer per shard under Kinesis limits).
    bucket: crate::engine::limits::Bucket,
    /// This subscription's own cap on an event's record bytes, below the engine's.
    max_event_bytes: Option<usize>,
}

/// One non-blocking step.
enum Step {
    Event(SubscribeToShardEvent),
    /// Nothing now; the next heartbeat or the end of life is due in this many ms.
    Wait(i64),
    End(Option<Error>),
}

impl Subscription {
    /// The next read position (offset) in the shard.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Cap the bytes of keys and data in each of this subscription's events below the
    /// engine's `FanoutConfig::max_event_bytes` (an event still carries at least one record
    /// when one is available). A server uses it to bound what a subscriber that stops
    /// reading holds in memory: one event is read from the shard at a time.
    pub fn limit_event_bytes(&mut self, max_bytes: usize) {
        self.max_event_bytes = Some(max_bytes);
    }

    fn finish(&mut self, e: Option<Error>) -> Step {
        self.state = SubState::Done;
        Step::End(e)
    }

    fn step(&mut self) -> Step {
        if matches!(self.state, SubState::Done) {
            return Step::End(None);
        }
        let inner = Arc::clone(&self.engine);
        let cfg = inner.config.fanout;
        if self.cancel.load(Ordering::Acquire) {
            let e = Error::ResourceInUse {
                message:
                    "Another subscription for this consumer and shard took over, or the consumer was deregistered."
                        .into(),
            };
            return self.finish(Some(e));
        }
        let now = inner.now_ms();
        let end_of_life = self.started_ms.saturating_add(ms(cfg.subscription_lifetime));
        if now >= end_of_life {
            return self.finish(None);
        }
        let h = inner.streams.read().by_uid.get(&self.stream_uid).cloned();
        let Some(h) = h else {
            return self.finish(Some(Error::ResourceNotFound { message: "The stream was deleted.".into() }));
        };
        let topo = h.topo.read();
        if !topo.meta.consumers.iter().any(|c| c.name == self.consumer.name && c.created_ms == self.consumer.created_ms)
        {
            drop(topo);
            return self.finish(Some(consumer_not_found(&self.consumer.name)));
        }
        let Some(shard) = topo.meta.shard(self.shard.index).cloned() else {
            drop(topo);
            return self.finish(Some(Error::ResourceNotFound { message: "The shard expired.".into() }));
        };
        let hw = self.log.high_watermark();
        // Under a push limit an event carries at most the budget available, and none is sent
        // until a fifth of a second's budget has accrued.
        let rate = inner.limits_for(&h).consumer_shard_bytes_per_sec;
        let mut max_bytes = self.max_event_bytes.map_or(cfg.max_event_bytes, |m| m.min(cfg.max_event_bytes));
        if let Some(rate) = rate.filter(|_| self.position < hw) {
            let available = self.bucket.available(rate, rate, now);
            let minimum = (rate / 5.0).min(max_bytes as f64);
            if available < minimum {
                drop(topo);
                return Step::Wait(self.bucket.wait_ms(rate, minimum).max(1));
            }
            max_bytes = max_bytes.min(available as usize);
        }
        if self.position < hw {
            let read = match self.log.read(self.position, cfg.max_event_records, max_bytes) {
                Ok(r) => r,
                Err(e) => return self.finish(Some(e)),
            };
            let bytes: usize = read.records.iter().map(|r| r.data.len() + r.partition_key.len()).sum();
            let last_arrival = read.records.last().map(|r| r.arrival_ms);
            self.position = read.next_offset;
            let mut records = Vec::with_capacity(read.records.len());
            let encryption = crate::engine::encryption::encryption_type(&topo.meta);
            for r in read.records {
                match crate::engine::data::to_kinesis(&shard, r, encryption) {
                    Ok(k) => records.push(k),
                    Err(e) => return self.finish(Some(e)),
                }
            }
            if rate.is_some() {
                self.bucket.spend(bytes as f64);
            }
            if let Some(last) = records.last() {
                self.continuation = last.sequence_number;
            }
            let behind = match last_arrival {
                Some(a) if self.position < self.log.high_watermark() => now.saturating_sub(a).max(0),
                _ => 0,
            };
            if let Some(slot) = topo.position(shard.index).and_then(|p| topo.slots.get(p)) {
                slot.counters.subscribe_event(records.len() as u64, bytes as u64, behind);
            }
            h.counters.subscribe_event(records.len() as u64, bytes as u64, behind);
            self.last_event_ms = now;
            return Step::Event(SubscribeToShardEvent {
                records,
                continuation_sequence_number: Some(self.continuation),
                millis_behind_latest: behind,
                child_shards: None,
            });
        }
        if shard.closed.is_some() {
            let kids = children(&topo, shard.index);
            drop(topo);
            self.state = SubState::Done;
            return Step::Event(SubscribeToShardEvent {
                records: Vec::new(),
                continuation_sequence_number: None,
                millis_behind_latest: 0,
                child_shards: Some(kids),
            });
        }
        let slot = topo.position(shard.index).and_then(|p| topo.slots.get(p)).cloned();
        drop(topo);
        let heartbeat_due = self.last_event_ms.saturating_add(ms(cfg.heartbeat_interval));
        if now >= heartbeat_due {
            if let Some(slot) = slot {
                slot.counters.subscribe_event(0, 0, 0);
            }
            h.counters.subscribe_event(0, 0, 0);
            self.last_event_ms = now;
            return Step::Event(SubscribeToShardEvent {
                records: Vec::new(),
                continuation_sequence_number: Some(self.continuation),
                millis_behind_latest: 0,
                child_shards: None,
            });
        }
        Step::Wait(heartbeat_due.min(end_of_life).saturating_sub(now))
    }

    /// Non-blocking: an event if one is available now (records, a due heartbeat, the final
    /// event of a closed shard), `TimedOut` if not, `Ended` once over. Errors (a takeover,
    /// deregistration, deletion, storage failure) are returned once, then `Ended`.
    pub fn try_recv(&mut self) -> Result<Received> {
        self.recv_timeout(Duration::ZERO)
    }

    /// Wait up to `timeout` for an event; woken by the append itself.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Received> {
        let deadline = std::time::Instant::now().checked_add(timeout);
        loop {
            match self.step() {
                Step::Event(e) => return Ok(Received::Event(e)),
                Step::End(Some(e)) => return Err(e),
                Step::End(None) => return Ok(Received::Ended),
                Step::Wait(due_ms) => {
                    let left = deadline.map_or(timeout, |d| d.saturating_duration_since(std::time::Instant::now()));
                    if left.is_zero() {
                        return Ok(Received::TimedOut);
                    }
                    let wait = left.min(Duration::from_millis(u64::try_from(due_ms).unwrap_or(0).max(1)));
                    let cancel = Arc::clone(&self.cancel);
                    self.log.wait_past_unless(self.position, wait, &|| cancel.load(Ordering::Acquire));
                }
            }
        }
    }
}

impl Iterator for Subscription {
    type Item = Result<SubscribeToShardEvent>;

    /// Blocks until the next event; `None` once the subscription is over.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.recv_timeout(Duration::from_secs(3600)) {
                Ok(Received::Event(e)) => return Some(Ok(e)),
                Ok(Received::TimedOut) => continue,
                Ok(Received::Ended) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl futures_core::Stream for Subscription {
    type Item = Result<SubscribeToShardEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.step() {
                Step::Event(e) => return Poll::Ready(Some(Ok(e))),
                Step::End(Some(e)) => return Poll::Ready(Some(Err(e))),
                Step::End(None) => return Poll::Ready(None),
                Step::Wait(due_ms) => {
                    if this.log.register_waker(this.position, cx.waker()) {
                        continue;
                    }
                    let after = Duration::from_millis(u64::try_from(due_ms).unwrap_or(0).max(1));
                    this.engine.timer.wake_after(after, cx.waker().clone());
                    // A cancel between the step and the registration must not be missed.
                    if this.cancel.load(Ordering::Acquire) {
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let arn = {
            let topo = self.engine.streams.read().by_uid.get(&self.stream_uid).cloned();
            topo.map(|h| self.engine.consumer_arn(&h.topo.read().meta.name, &self.consumer))
        };
        if let Some(arn) = arn {
            let mut subs = self.engine.subscriptions.lock();
            let key = (arn, self.shard.index);
            if subs.get(&key).is_some_and(|e| Arc::ptr_eq(&e.cancel, &self.cancel)) {
                subs.remove(&key);
            }
        }
    }
}
