//! The plain face of queues for apps that use the engine as a durable local buffer and never
//! want Kinesis concepts:
//!
//! ```
//! # use std::time::Duration;
//! # use bytes::Bytes;
//! # use shardlog::engine::*;
//! # use shardlog::{Engine, EngineConfig};
//! # fn main() -> shardlog::Result<()> {
//! # let dir = tempfile::tempdir().expect("temp dir");
//! # let engine = Engine::open(dir.path(), EngineConfig::default())?;
//! # engine.create_stream(CreateStreamInput { stream_name: "orders".into(), ..Default::default() })?;
//! # let arn = engine.describe_stream_summary(StreamRef::name("orders"))?.stream_arn;
//! # engine.create_queue(CreateQueueInput {
//! #     queue_name: "workers".into(),
//! #     stream_configuration_list: vec![QueueStreamConfiguration { stream_arn: arn, starting_position: None }],
//! #     ..Default::default()
//! # })?;
//! # engine.put_record(PutRecordInput { stream: StreamRef::name("orders"), partition_key: Some("k".into()),
//! #     data: Bytes::from_static(b"job"), ..Default::default() })?;
//! let workers = engine.queue("orders", "workers")?;
//! for job in workers.receive(100, Duration::from_secs(1))? {
//!     println!("{:?}", job.data());
//!     job.ack()?; // or job.extend(Duration::from_secs(60))? / job.release()?
//! }
//! # Ok(())
//! # }
//! ```
//!
//! In process there is no 10-record cap on a receive (the wire keeps AWS' limits), handles
//! are passed decoded (no MAC work), and a receive is a blocking call
//! ([`QueueHandle::receive`]) or a `futures_core::Stream` of deliveries
//! ([`QueueHandle::deliveries`]). Semantics are those of the Kinesis operations: at least
//! once; a delivery not acknowledged within its visibility timeout comes back; after
//! `MaxReceiveCount` unacknowledged deliveries a record becomes a dead letter
//! ([`QueueHandle::receive_dead_letters`]).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use super::records::{BatchOp, Kind, Received};
use super::runtime::QueueRuntime;
use super::{queue_not_found, QueueStatus};
use crate::engine::{Engine, StreamHandle};
use crate::error::{Error, Result};
use crate::kinesis::names;
use crate::log::queue::ReceiptHandle;

/// A queue of a stream, for receiving in process. Cheap to clone.
#[derive(Clone)]
pub struct QueueHandle {
    engine: Engine,
    rt: Arc<QueueRuntime>,
    stream: Arc<StreamHandle>,
    arn: String,
}

impl std::fmt::Debug for QueueHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueHandle").field("arn", &self.arn).finish()
    }
}

/// One record handed out by a receive, until acknowledged, extended or released.
#[derive(Clone)]
pub struct QueueDelivery {
    engine: Engine,
    rt: Arc<QueueRuntime>,
    received: Received,
}

impl std::fmt::Debug for QueueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueDelivery")
            .field("record_id", &self.received.record_id().as_str().to_owned())
            .field("receive_count", &self.received.delivery.receive_count)
            .finish()
    }
}

impl Engine {
    /// The queue named `queue` of stream `stream`, for the plain receive API.
    /// `ResourceNotFound` if either does not exist (or the queue reads another stream).
    pub fn queue(&self, stream: &str, queue: &str) -> Result<QueueHandle> {
        let inner = &self.inner;
        names::validate_stream_name(stream)?;
        let h = inner.resolve(&crate::engine::StreamRef::name(stream))?;
        inner.reap_queues()?;
        let meta = {
            let cat = inner.catalog.lock();
            cat.catalog.queues.values().find(|q| q.name == queue && q.stream_uid == h.uid).cloned()
        };
        let not_found = || Error::ResourceNotFound {
            message: format!("Queue {queue} of stream {stream} under account {} not found.", inner.config.account_id),
        };
        let meta = meta.ok_or_else(not_found)?;
        let arn = inner.queue_arn(&meta);
        let (_, rt, stream) = inner.live_queue(&arn).map_err(|_| not_found())?;
        Ok(QueueHandle { engine: self.clone(), rt, stream, arn })
    }
}

impl QueueHandle {
    /// The queue's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    fn check_live(&self) -> Result<()> {
        let inner = &self.engine.inner;
        if !inner.queues.read().contains_key(&self.rt.uid) {
            return Err(queue_not_found(&self.arn));
        }
        Ok(())
    }

    fn wrap(&self, received: Vec<Received>) -> Vec<QueueDelivery> {
        received
            .into_iter()
            .map(|received| QueueDelivery { engine: self.engine.clone(), rt: Arc::clone(&self.rt), received })
            .collect()
    }

    fn receive_kind(
        &self,
        kind: Kind,
        max: usize,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<QueueDelivery>> {
        self.check_live()?;
        let inner = &self.engine.inner;
        if max == 0 {
            return Ok(Vec::new());
        }
        // Only modelled delays make a queue CREATING.
        if inner.config.status_delays.is_some()
            && inner.queue_status(&inner.find_queue(&self.arn)?) == QueueStatus::Creating
        {
            return Ok(Vec::new());
        }
        let visibility_ms = visibility.map(|v| v.as_millis() as u64);
        let received = if wait.is_zero() {
            let r = inner.receive_once(&self.rt, &self.stream, kind, max, visibility_ms)?;
            self.rt.count_received(r.len());
            r
        } else {
            inner.receive_polling(&self.rt, &self.stream, kind, max, visibility_ms, wait)?
        };
        Ok(self.wrap(received))
    }

    /// Up to `max` records (any number: no 10-record cap in process), each hidden from other
    /// receivers for the queue's visibility timeout. Waits up to `wait` (engine clock, and at
    /// most `wait` of real time) when none is available; `Duration::ZERO` returns at once.
    pub fn receive(&self, max: usize, wait: Duration) -> Result<Vec<QueueDelivery>> {
        self.receive_kind(Kind::Normal, max, wait, None)
    }

    /// As [`QueueHandle::receive`] with this receive's own visibility timeout.
    pub fn receive_with_visibility(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<QueueDelivery>> {
        self.receive_kind(Kind::Normal, max, wait, Some(visibility))
    }

    /// Up to `max` dead-letter records (their `ack` discards them, `restore` puts them back).
    pub fn receive_dead_letters(&self, max: usize, wait: Duration) -> Result<Vec<QueueDelivery>> {
        self.receive_kind(Kind::DeadLetter, max, wait, None)
    }

    /// Acknowledge many deliveries in one state-log event (one fdatasync under `Sync`);
    /// one result per delivery, in order.
    pub fn ack_all(&self, deliveries: &[QueueDelivery]) -> Result<Vec<Result<()>>> {
        let (normal, dead): (Vec<usize>, Vec<usize>) =
            (0..deliveries.len()).partition(|&i| deliveries.get(i).is_some_and(|d| !d.is_dead_letter()));
        let inner = &self.engine.inner;
        let mut results: Vec<Option<Result<()>>> = (0..deliveries.len()).map(|_| None).collect();
        for (group, op) in [(normal, BatchOp::Acknowledge), (dead, BatchOp::AcknowledgeDeadLetter)] {
            if group.is_empty() {
                continue;
            }
            let handles: Vec<ReceiptHandle> =
                group.iter().filter_map(|&i| deliveries.get(i)).map(|d| d.received.delivery.handle).collect();
            let out = inner.queue_batch(&self.rt, op, &handles, &[])?;
            for (i, r) in group.into_iter().zip(out) {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(r);
                }
            }
        }
        Ok(results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect())
    }

    /// The queue's deliveries as a `futures_core::Stream`, receiving up to `batch` records at
    /// a time; it waits (without a thread) for appends, releases and visibility timeouts.
    /// Each item is a delivery or the error a receive failed with; the stream ends after the
    /// queue is deleted. Receives run in `poll_next` (they write the queue's state log).
    pub fn deliveries(&self, batch: usize) -> Deliveries {
        Deliveries { queue: self.clone(), batch: batch.max(1), buffer: VecDeque::new(), done: false }
    }
}

impl QueueDelivery {
    /// The record's payload.
    pub fn data(&self) -> &Bytes {
        &self.received.record.data
    }

    /// The record's partition key (empty if it has none).
    pub fn key(&self) -> &[u8] {
        &self.received.record.partition_key
    }

    /// The record's id: the same across redeliveries and in every queue of the stream
    /// (rendered on each call).
    pub fn record_id(&self) -> String {
        self.received.record_id().as_str().to_owned()
    }

    /// Deliveries without an acknowledgement, this one included.
    pub fn receive_count(&self) -> u32 {
        self.received.delivery.receive_count
    }

    /// When the record reached the stream (engine clock, ms).
    pub fn arrival_ms(&self) -> i64 {
        self.received.record.arrival_ms
    }

    /// When this delivery's visibility timeout ends (engine clock, ms).
    pub fn deadline_ms(&self) -> u64 {
        self.received.delivery.deadline_ms
    }

    /// True for a dead-letter delivery.
    pub fn is_dead_letter(&self) -> bool {
        self.received.delivery.handle.dead_letter
    }

    /// The receipt handle's wire text (for the Kinesis operations).
    pub fn receipt_handle(&self) -> String {
        self.rt.store.encode_handle(&self.received.delivery.handle)
    }

    fn one(&self, op: BatchOp, timeout_ms: u64) -> Result<()> {
        let out = self.engine.inner.queue_batch(&self.rt, op, &[self.received.delivery.handle], &[timeout_ms])?;
        out.into_iter().next().unwrap_or(Ok(()))
    }

    /// Done with it: never delivered again (a dead letter: discarded). `ResourceNotFound`
    /// if this delivery no longer exists (it timed out and was received again, or the
    /// record was trimmed); `InvalidArgument` if it was already acknowledged in this call.
    pub fn ack(&self) -> Result<()> {
        let op = if self.is_dead_letter() { BatchOp::AcknowledgeDeadLetter } else { BatchOp::Acknowledge };
        self.one(op, 0)
    }

    /// Keep it hidden for `by` from now (instead of its current deadline).
    pub fn extend(&self, by: Duration) -> Result<()> {
        let op = if self.is_dead_letter() { BatchOp::DeadLetterVisibility } else { BatchOp::Visibility };
        self.one(op, (by.as_millis() as u64).max(1))
    }

    /// Give it back now: visible to the next receive (a normal delivery that was its
    /// `MaxReceiveCount`-th becomes a dead letter, as a timeout would).
    pub fn release(&self) -> Result<()> {
        let op = if self.is_dead_letter() { BatchOp::DeadLetterVisibility } else { BatchOp::Visibility };
        self.one(op, 0)
    }

    /// A dead letter back to the normal path with receive count 0 (`InvalidArgument` for a
    /// normal delivery).
    pub fn restore(&self) -> Result<()> {
        self.one(BatchOp::Restore, 0)
    }
}

/// A queue's deliveries as a `futures_core::Stream` (see [`QueueHandle::deliveries`]).
pub struct Deliveries {
    queue: QueueHandle,
    batch: usize,
    buffer: VecDeque<QueueDelivery>,
    done: bool,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries").field("queue", &self.queue.arn).field("buffered", &self.buffer.len()).finish()
    }
}

impl futures_core::Stream for Deliveries {
    type Item = Result<QueueDelivery>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(d) = this.buffer.pop_front() {
                return Poll::Ready(Some(Ok(d)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            if this.queue.check_live().is_err() {
                this.done = true;
                return Poll::Ready(None);
            }
            let q = &this.queue;
            let inner = &q.engine.inner;
            let seen = q.rt.gate.version();
            match inner.receive_once(&q.rt, &q.stream, Kind::Normal, this.batch, None) {
                Err(e) => {
                    if q.check_live().is_err() {
                        this.done = true;
                    }
                    return Poll::Ready(Some(Err(e)));
                }
                Ok(received) if !received.is_empty() => {
                    q.rt.count_received(received.len());
                    let wrapped = q.wrap(received);
                    this.buffer.extend(wrapped);
                }
                Ok(_) => {
                    if !q.rt.gate.register(seen, cx.waker()) {
                        continue;
                    }
                    if let Some(deadline) = q.rt.store.next_deadline_ms() {
                        let after = Duration::from_millis(deadline.saturating_sub(inner.queue_now()).max(1));
                        inner.timer.wake_after(after, cx.waker().clone());
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}
