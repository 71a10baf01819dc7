//! The queue data operations: `ReceiveQueueRecords`, `AcknowledgeQueueRecords`,
//! `UpdateQueueRecordsVisibility`, `ReceiveDeadLetterQueueRecords`,
//! `AcknowledgeDeadLetterQueueRecords`, `UpdateDeadLetterQueueRecordsVisibility`,
//! `RestoreDeadLetterQueueRecords`.
//!
//! A receive asks the queue's store for deliveries — visible redeliveries first, then fresh
//! records from the stream's shards (each shard's readable range: trim horizon to
//! high-watermark; children only once their parents were received to their end) — and
//! reads each delivered record from its shard log. A record trimmed between the two is
//! dropped from the queue and left out. With nothing to deliver it long-polls
//! ([`super::poll`]): appends, releases and visibility deadlines on the engine clock wake it.
//!
//! Wire limits (AWS'): `Limit` 1–10 (default 10), `WaitTimeSeconds` 1–20 (default 9),
//! `VisibilityTimeoutSeconds` 0–43,200, 1–10 entries per batch call, handles of 1–1,024
//! characters; violations are `ValidationException`. The batch calls answer per entry:
//! `InvalidArgumentException` for handles that are malformed, forged, of another queue, of
//! the other kind (normal / dead-letter), or repeated in one request;
//! `ResourceNotFoundException` for deliveries that no longer exist (see `log::queue`).

use std::sync::Arc;
use std::time::Duration;

use super::poll::Attempt;
use super::runtime::QueueRuntime;
use super::{check_queue_arn, QueueStatus};
use crate::catalog::queue::MAX_VISIBILITY_TIMEOUT_SECS;
use crate::catalog::ShardMeta;
use crate::engine::types::*;
use crate::engine::{Engine, EngineInner, StreamHandle, Topology};
use crate::error::{Error, Result};
use crate::kinesis::{Constraint, ValidationErrors};
use crate::log::queue::{Delivery, EntryResults, FreshSpan, HandleInput, ReceiveRequest, RecordId};
use crate::log::record::Record;

/// Most records per wire receive.
pub const MAX_RECEIVE_LIMIT: u32 = 10;
/// Default wire `Limit`.
pub const DEFAULT_RECEIVE_LIMIT: u32 = 10;
/// Longest `WaitTimeSeconds`.
pub const MAX_WAIT_SECONDS: u32 = 20;
/// Default `WaitTimeSeconds`.
pub const DEFAULT_WAIT_SECONDS: u32 = 9;
/// Most entries per batch call.
pub const MAX_BATCH_ENTRIES: usize = 10;

/// A delivery with its record, as a receive hands it out.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) delivery: Delivery,
    pub(crate) record: Record,
    /// The record's sequence number (its `RecordId` is rendered from it on demand).
    pub(crate) seq: crate::kinesis::SequenceNumber,
}

impl Received {
    pub(crate) fn record_id(&self) -> RecordId {
        RecordId::from_sequence_number(&self.seq)
    }
}

/// Which receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Normal,
    DeadLetter,
}

/// The batch operations on handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchOp {
    Acknowledge,
    Visibility,
    AcknowledgeDeadLetter,
    DeadLetterVisibility,
    Restore,
}

/// The per-entry code of an entry error (the documented `ErrorCode` values).
pub(crate) fn entry_error_code(e: &Error) -> &'static str {
    match e.kinesis_error_code() {
        "InternalFailure" => "InternalFailureException",
        code => code,
    }
}

impl EngineInner {
    /// The spans fresh records may come from, in the order to take them (see the module
    /// docs); also registers the queue's waker with every open shard's notifier at the
    /// high-watermark seen, so an append after this wakes a long poll.
    fn fresh_spans(&self, rt: &QueueRuntime, topo: &Topology) -> Result<Vec<FreshSpan>> {
        let meta = &topo.meta;
        // (shard, start, end) per shard still in the catalog.
        let mut ranges: Vec<(u32, u64, u64, bool)> = Vec::with_capacity(meta.shards.len());
        for (slot, shard) in topo.slots.iter().zip(&meta.shards) {
            let log = if shard.is_open() { Some(self.log(slot)?) } else { self.existing_log(slot)? };
            let (start, hw) = match &log {
                Some(l) => {
                    let hw = l.high_watermark();
                    if shard.is_open() {
                        l.register_waker(hw, &rt.waker);
                    }
                    (l.start_offset(), hw)
                }
                None => (0, 0),
            };
            let end = shard.closed.map_or(hw, |c| c.end_offset.min(hw));
            ranges.push((shard.index, start.min(end), end, shard.is_open()));
        }
        let drained = |index: u32| -> bool {
            let Some(&(_, start, end, _)) = ranges.iter().find(|r| r.0 == index) else { return true };
            rt.store.progress(index).map_or(start, |p| p.cursor) >= end
        };
        let ready = |shard: &ShardMeta| [shard.parent, shard.adjacent_parent].into_iter().flatten().all(drained);
        let mut spans: Vec<FreshSpan> = meta
            .shards
            .iter()
            .zip(&ranges)
            .filter(|(shard, _)| ready(shard))
            .map(|(_, &(shard, start, end, _))| FreshSpan { shard, start, end })
            .collect();
        if !spans.is_empty() {
            let turn = rt.rotation.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % spans.len();
            spans.rotate_left(turn);
        }
        Ok(spans)
    }

    /// Records of the stream not yet received by the queue (`VisibleQueueRecords` beyond
    /// the redeliveries).
    pub(crate) fn fresh_backlog(&self, rt: &QueueRuntime, h: &StreamHandle) -> Result<u64> {
        let topo = h.topo.read();
        let mut backlog = 0u64;
        for (slot, shard) in topo.slots.iter().zip(&topo.meta.shards) {
            let Some(log) = self.existing_log(slot)? else { continue };
            let hw = shard.closed.map_or(log.high_watermark(), |c| c.end_offset.min(log.high_watermark()));
            let from = rt.store.progress(shard.index).map_or(log.start_offset(), |p| p.cursor.max(log.start_offset()));
            backlog = backlog.saturating_add(hw.saturating_sub(from));
        }
        Ok(backlog)
    }

    /// One receive attempt (no waiting): deliveries with their records (not counted in the
    /// queue's activity: the caller counts the receive once).
    pub(crate) fn receive_once(
        &self,
        rt: &QueueRuntime,
        h: &StreamHandle,
        kind: Kind,
        max: usize,
        visibility_ms: Option<u64>,
    ) -> Result<Vec<Received>> {
        let now = self.queue_now();
        let topo = h.topo.read();
        let outcome = match kind {
            Kind::Normal => {
                let spans = self.fresh_spans(rt, &topo)?;
                rt.store.receive(
                    now,
                    &ReceiveRequest { max_records: max, visibility_timeout_ms: visibility_ms, fresh: &spans },
                )?
            }
            Kind::DeadLetter => rt.store.receive_dead_letter(now, max, visibility_ms)?,
        };
        self.read_deliveries(rt, &topo, outcome.deliveries)
    }

    /// Read the records of `deliveries` (sorted by record) from their shard logs, in runs
    /// of consecutive offsets; records trimmed meanwhile are dropped from the queue.
    fn read_deliveries(&self, rt: &QueueRuntime, topo: &Topology, deliveries: Vec<Delivery>) -> Result<Vec<Received>> {
        let now = self.queue_now();
        let mut out = Vec::with_capacity(deliveries.len());
        let mut i = 0;
        while let Some(first) = deliveries.get(i) {
            let shard = first.handle.record.shard;
            let mut j = i + 1;
            while deliveries.get(j).is_some_and(|d| {
                d.handle.record.shard == shard && d.handle.record.offset == first.handle.record.offset + (j - i) as u64
            }) {
                j += 1;
            }
            let run = deliveries.get(i..j).unwrap_or_default();
            i = j;
            let slot_meta = topo.position(shard).and_then(|p| topo.slots.get(p).zip(topo.meta.shards.get(p)));
            let Some((slot, meta)) = slot_meta else {
                rt.store.forget_shard(now, shard)?;
                continue;
            };
            let Some(log) = self.existing_log(slot)? else {
                rt.store.trim(now, shard, first.handle.record.offset.saturating_add(run.len() as u64))?;
                continue;
            };
            let read = log.read(first.handle.record.offset, run.len(), usize::MAX)?;
            let mut trimmed = false;
            let mut records = read.records.into_iter().peekable();
            for d in run {
                while records.peek().is_some_and(|r| r.offset < d.handle.record.offset) {
                    records.next();
                }
                match records.next_if(|r| r.offset == d.handle.record.offset) {
                    Some(record) => {
                        let seq = EngineInner::sequence_number(meta, record.offset, record.arrival_ms);
                        out.push(Received { delivery: *d, record, seq });
                    }
                    None => trimmed = true,
                }
            }
            if trimmed {
                rt.store.trim(now, shard, log.start_offset())?;
            }
        }
        Ok(out)
    }

    /// A receive with a long poll of `wait` (engine clock and real time): returns as soon as
    /// anything is delivered, or empty when the wait ends.
    pub(crate) fn receive_polling(
        &self,
        rt: &Arc<QueueRuntime>,
        h: &StreamHandle,
        kind: Kind,
        max: usize,
        visibility_ms: Option<u64>,
        wait: Duration,
    ) -> Result<Vec<Received>> {
        let end_ms = self.queue_now().saturating_add(wait.as_millis() as u64);
        let got = rt.gate.poll(
            wait,
            || self.queue_now() >= end_ms || !self.queues.read().contains_key(&rt.uid),
            || {
                if !self.queues.read().contains_key(&rt.uid) {
                    return Err(Error::ResourceNotFound { message: "The queue was deleted.".into() });
                }
                let received = self.receive_once(rt, h, kind, max, visibility_ms)?;
                if !received.is_empty() {
                    return Ok(Attempt::Done(received));
                }
                let now = self.queue_now();
                let nap = rt.store.next_deadline_ms().map(|d| Duration::from_millis(d.saturating_sub(now).max(1)));
                Ok(Attempt::Retry(nap))
            },
        )?;
        let received = got.unwrap_or_default();
        rt.count_received(received.len());
        Ok(received)
    }

    /// Run a batch operation on handles and count what it settled; wakes pollers when it
    /// may have made records visible.
    pub(crate) fn queue_batch<H: HandleInput>(
        &self,
        rt: &QueueRuntime,
        op: BatchOp,
        handles: &[H],
        timeouts_ms: &[u64],
    ) -> Result<EntryResults> {
        let now = self.queue_now();
        let results = match op {
            BatchOp::Acknowledge => rt.store.acknowledge(now, handles)?,
            BatchOp::AcknowledgeDeadLetter => rt.store.acknowledge_dead_letter(now, handles)?,
            BatchOp::Restore => rt.store.restore_dead_letter(now, handles)?,
            BatchOp::Visibility | BatchOp::DeadLetterVisibility => {
                let entries: Vec<(&H, u64)> = handles.iter().zip(timeouts_ms.iter().copied()).collect();
                if op == BatchOp::Visibility {
                    rt.store.change_visibility(now, &entries)?
                } else {
                    rt.store.change_dead_letter_visibility(now, &entries)?
                }
            }
        };
        let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
        match op {
            BatchOp::Acknowledge | BatchOp::AcknowledgeDeadLetter => {
                rt.activity.acknowledged.fetch_add(ok, std::sync::atomic::Ordering::Relaxed);
            }
            BatchOp::Restore => rt.gate.wake(),
            BatchOp::Visibility | BatchOp::DeadLetterVisibility => {
                if ok > 0 && timeouts_ms.contains(&0) {
                    rt.gate.wake();
                }
            }
        }
        Ok(results)
    }

    /// A wire receive.
    fn wire_receive(&self, input: ReceiveQueueRecordsInput, kind: Kind) -> Result<ReceiveQueueRecordsOutput> {
        check_queue_arn(&input.queue_arn)?;
        let mut e = ValidationErrors::new();
        let limit = input.limit.unwrap_or(DEFAULT_RECEIVE_LIMIT);
        e.range("limit", i128::from(limit), 1, i128::from(MAX_RECEIVE_LIMIT));
        let wait = input.wait_time_seconds.unwrap_or(DEFAULT_WAIT_SECONDS);
        e.range("waitTimeSeconds", i128::from(wait), 1, i128::from(MAX_WAIT_SECONDS));
        if let Some(v) = input.visibility_timeout_seconds {
            e.range("visibilityTimeoutSeconds", i128::from(v), 0, i128::from(MAX_VISIBILITY_TIMEOUT_SECS));
        }
        e.into_result()?;
        let (q, rt, h) = self.live_queue(&input.queue_arn)?;
        if self.queue_status(&q) == QueueStatus::Creating {
            rt.count_received(0);
            return Ok(ReceiveQueueRecordsOutput::default());
        }
        let visibility = input.visibility_timeout_seconds.map(|v| u64::from(v) * 1000);
        let wait = Duration::from_secs(u64::from(wait));
        let received = self.receive_polling(&rt, &h, kind, limit as usize, visibility, wait)?;
        Ok(ReceiveQueueRecordsOutput {
            queue_records: received
                .into_iter()
                .map(|r| QueueRecord {
                    receipt_handle: rt.store.encode_handle(&r.delivery.handle),
                    record_id: r.record_id().as_str().to_owned(),
                    partition_key: (!r.record.partition_key.is_empty())
                        .then(|| String::from_utf8_lossy(&r.record.partition_key).into_owned()),
                    data: r.record.data,
                    approximate_arrival_timestamp: Timestamp(r.record.arrival_ms),
                    first_receive_timestamp: Timestamp(r.delivery.first_receive_ms as i64),
                    receive_count: r.delivery.receive_count,
                })
                .collect(),
        })
    }

    /// A wire batch call.
    fn wire_batch(
        &self,
        op: BatchOp,
        queue_arn: &str,
        entries: Vec<(String, Option<u32>)>,
    ) -> Result<QueueEntriesOutput> {
        check_queue_arn(queue_arn)?;
        let mut e = ValidationErrors::new();
        let n = entries.len();
        if n == 0 || n > MAX_BATCH_ENTRIES {
            let c = if n == 0 { Constraint::MinLength(1) } else { Constraint::MaxLength(MAX_BATCH_ENTRIES) };
            e.push("entries", format!("[{n} entries]"), c);
        }
        for (i, (handle, timeout)) in entries.iter().enumerate() {
            e.length(&format!("entries.{}.member.receiptHandle", i + 1), handle, 1, 1024);
            if let Some(t) = timeout {
                e.range(
                    &format!("entries.{}.member.visibilityTimeoutSeconds", i + 1),
                    i128::from(*t),
                    0,
                    i128::from(MAX_VISIBILITY_TIMEOUT_SECS),
                );
            }
        }
        e.into_result()?;
        let (_, rt, _) = self.live_queue(queue_arn)?;
        let handles: Vec<&str> = entries.iter().map(|(h, _)| h.as_str()).collect();
        let timeouts: Vec<u64> = entries.iter().map(|(_, t)| t.map_or(0, |t| u64::from(t) * 1000)).collect();
        let results = self.queue_batch(&rt, op, &handles, &timeouts)?;
        let mut out = QueueEntriesOutput::default();
        for ((handle, _), r) in entries.into_iter().zip(results) {
            match r {
                Ok(()) => out.successful.push(handle),
                Err(err) => out.failed.push(QueueEntryError {
                    receipt_handle: handle,
                    error_code: entry_error_code(&err).to_owned(),
                    error_message: err.to_string(),
                }),
            }
        }
        Ok(out)
    }
}

impl Engine {
    /// `ReceiveQueueRecords`: up to `Limit` records, each in flight for the visibility
    /// timeout; long-polls up to `WaitTimeSeconds` when none is visible.
    pub fn receive_queue_records(&self, input: ReceiveQueueRecordsInput) -> Result<ReceiveQueueRecordsOutput> {
        self.inner.wire_receive(input, Kind::Normal)
    }

    /// `ReceiveDeadLetterQueueRecords`: as [`Engine::receive_queue_records`] for dead-letter
    /// records (their receive counts do not change).
    pub fn receive_dead_letter_queue_records(
        &self,
        input: ReceiveQueueRecordsInput,
    ) -> Result<ReceiveQueueRecordsOutput> {
        self.inner.wire_receive(input, Kind::DeadLetter)
    }

    /// `AcknowledgeQueueRecords`.
    pub fn acknowledge_queue_records(&self, input: QueueHandlesInput) -> Result<QueueEntriesOutput> {
        let entries = input.receipt_handles.into_iter().map(|h| (h, None)).collect();
        self.inner.wire_batch(BatchOp::Acknowledge, &input.queue_arn, entries)
    }

    /// `UpdateQueueRecordsVisibility`.
    pub fn update_queue_records_visibility(&self, input: QueueVisibilityInput) -> Result<QueueEntriesOutput> {
        let entries = input.entries.into_iter().map(|(h, t)| (h, Some(t))).collect();
        self.inner.wire_batch(BatchOp::Visibility, &input.queue_arn, entries)
    }

    /// `AcknowledgeDeadLetterQueueRecords`: discard dead-letter records.
    pub fn acknowledge_dead_letter_queue_records(&self, input: QueueHandlesInput) -> Result<QueueEntriesOutput> {
        let entries = input.receipt_handles.into_iter().map(|h| (h, None)).collect();
        self.inner.wire_batch(BatchOp::AcknowledgeDeadLetter, &input.queue_arn, entries)
    }

    /// `UpdateDeadLetterQueueRecordsVisibility`.
    pub fn update_dead_letter_queue_records_visibility(
        &self,
        input: QueueVisibilityInput,
    ) -> Result<QueueEntriesOutput> {
        let entries = input.entries.into_iter().map(|(h, t)| (h, Some(t))).collect();
        self.inner.wire_batch(BatchOp::DeadLetterVisibility, &input.queue_arn, entries)
    }

    /// `RestoreDeadLetterQueueRecords`: back to the normal path with receive count 0.
    pub fn restore_dead_letter_queue_records(&self, input: QueueHandlesInput) -> Result<QueueEntriesOutput> {
        let entries = input.receipt_handles.into_iter().map(|h| (h, None)).collect();
        self.inner.wire_batch(BatchOp::Restore, &input.queue_arn, entries)
    }
}
