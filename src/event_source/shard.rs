//! One shard of a mapping: reads it (polling GetRecords, or through an enhanced fan-out
//! subscription of the mapping's consumer), deals its records to the lanes by
//! partition key, runs the lanes (concurrently when there are several), and moves the
//! shard's durable checkpoint over the longest prefix of records every lane has finished.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::engine::fanout::{Received, Subscription};
use crate::engine::types::{GetRecordsInput, GetShardIteratorInput, KinesisRecord, SequenceNumber, ShardIteratorType};
use crate::engine::types::{StartingPosition, StreamRef, SubscribeToShardInput, Timestamp};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::event_source::config::EventSourceConfig;
use crate::event_source::event::{KinesisData, KinesisEventRecord};
use crate::event_source::lane::{Lane, LaneCtx, LaneReport, Queued};
use crate::event_source::response::Handler;
use crate::kinesis::partition_key_hash;

/// Most read-and-invoke rounds in one step (bounds a step's work on a long backlog).
const MAX_ROUNDS: usize = 64;

/// Records a shard's lanes may hold before reading stops (at least; twice a batch per lane
/// when that is more), so small batches still read with large GetRecords calls.
const MIN_READ_AHEAD: usize = 1_000;

/// Where a shard's reading starts when nothing has been read from it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartAt {
    /// `TRIM_HORIZON`.
    TrimHorizon,
    /// `LATEST`.
    Latest,
    /// `AT_TIMESTAMP`.
    AtTimestamp(Timestamp),
    /// Just after the checkpointed record.
    After(SequenceNumber),
}

impl StartAt {
    /// As a Kinesis starting position (iterator type, sequence number, timestamp).
    fn into_subscribe(self) -> StartingPosition {
        let (position_type, sequence_number, timestamp) = match self {
            StartAt::TrimHorizon => (ShardIteratorType::TrimHorizon, None, None),
            StartAt::Latest => (ShardIteratorType::Latest, None, None),
            StartAt::AtTimestamp(ts) => (ShardIteratorType::AtTimestamp, None, Some(ts)),
            StartAt::After(seq) => (ShardIteratorType::AfterSequenceNumber, Some(seq.to_string()), None),
        };
        StartingPosition { position_type, sequence_number, timestamp }
    }
}

/// What a shard step needs from the mapping.
pub(crate) struct ShardCtx<'a> {
    pub engine: &'a Engine,
    pub stream: &'a StreamRef,
    pub config: &'a EventSourceConfig,
    pub handler: &'a dyn Handler,
    pub stream_arn: &'a Arc<str>,
    pub role_arn: &'a Arc<str>,
    pub region: &'a Arc<str>,
}

/// What a shard step did.
#[derive(Debug, Default)]
pub(crate) struct ShardReport {
    pub records_read: usize,
    /// Records dropped by `FilterCriteria`.
    pub records_filtered: usize,
    pub lanes: LaneReport,
    pub checkpoints_written: usize,
    pub finished: bool,
}

/// Read positions and whether each is processed, in read order. A run of consecutive
/// processed records that were never queued (dropped by the filter) is kept as one entry —
/// its last record — so a long filtered stretch costs one entry, not one per record.
#[derive(Debug, Default)]
struct Tracker {
    next_pos: u64,
    /// (position, sequence number, processed), positions increasing.
    entries: VecDeque<(u64, SequenceNumber, bool)>,
    /// Entries not processed yet.
    undone: usize,
}

impl Tracker {
    /// Track a record that a lane will process; its position.
    fn push(&mut self, seq: SequenceNumber) -> u64 {
        let pos = self.next_pos;
        self.next_pos += 1;
        self.entries.push_back((pos, seq, false));
        self.undone += 1;
        pos
    }

    /// Track a record that is processed already (filtered out).
    fn push_done(&mut self, seq: SequenceNumber) {
        let pos = self.next_pos;
        self.next_pos += 1;
        match self.entries.back_mut() {
            Some(last) if last.2 => *last = (pos, seq, true),
            _ => self.entries.push_back((pos, seq, true)),
        }
    }

    fn mark_done(&mut self, pos: u64) {
        let i = self.entries.binary_search_by_key(&pos, |e| e.0);
        debug_assert!(i.is_ok(), "position {pos} was never tracked or was already checkpointed");
        if let Some(e) = i.ok().and_then(|i| self.entries.get_mut(i)) {
            if !e.2 {
                e.2 = true;
                self.undone -= 1;
            }
        }
    }

    /// Drop the processed prefix; the last record dropped is the new checkpoint.
    fn advance(&mut self) -> Option<SequenceNumber> {
        let mut last = None;
        while let Some(&(_, seq, true)) = self.entries.front() {
            self.entries.pop_front();
            last = Some(seq);
        }
        last
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct ShardRunner {
    pub shard_id: String,
    shard_id_arc: Arc<str>,
    start: StartAt,
    iterator: Option<String>,
    /// Read through this enhanced fan-out subscription instead of GetRecords.
    push: bool,
    subscription: Option<Subscription>,
    last_read: Option<SequenceNumber>,
    ended: bool,
    caught_up: bool,
    lanes: Vec<Lane>,
    tracker: Tracker,
    checkpoint: Option<SequenceNumber>,
}

impl ShardRunner {
    /// A runner for `shard_id` with `lanes` lanes, starting at `start`; `checkpoint` is the
    /// stored last processed record.
    /// `push`: read through the mapping's enhanced fan-out consumer.
    pub fn new(
        shard_id: String,
        lanes: usize,
        start: StartAt,
        checkpoint: Option<SequenceNumber>,
        push: bool,
    ) -> ShardRunner {
        ShardRunner {
            shard_id_arc: Arc::from(shard_id.as_str()),
            shard_id,
            start,
            iterator: None,
            push,
            subscription: None,
            last_read: None,
            ended: false,
            caught_up: false,
            lanes: (0..lanes.max(1)).map(|_| Lane::default()).collect(),
            tracker: Tracker::default(),
            checkpoint,
        }
    }

    /// Records read and not yet processed.
    pub fn pending(&self) -> usize {
        self.tracker.undone
    }

    /// One step: read, invoke, checkpoint; finish the shard when it is closed, read to its
    /// end and fully processed.
    pub fn step(&mut self, ctx: &ShardCtx<'_>) -> Result<ShardReport> {
        let mut rep = ShardReport::default();
        let mut read = Ok(());
        // Read and invoke until the shard's tip is reached or the lanes stop making room.
        for _ in 0..MAX_ROUNDS {
            let before = rep.lanes.records_succeeded + rep.lanes.records_discarded + rep.records_filtered;
            read = self.refill(ctx, &mut rep);
            self.run_lanes(ctx, &mut rep);
            let progress = rep.lanes.records_succeeded + rep.lanes.records_discarded + rep.records_filtered > before;
            if read.is_err() || self.caught_up || self.ended || !progress {
                break;
            }
        }
        if let Some(seq) = self.tracker.advance() {
            ctx.engine.set_checkpoint(ctx.stream, &ctx.config.uuid, &self.shard_id, Some(seq), false)?;
            self.checkpoint = Some(seq);
            rep.checkpoints_written += 1;
        }
        read?;
        if self.ended && self.tracker.is_empty() && self.lanes.iter().all(|l| !l.has_work()) {
            ctx.engine.set_checkpoint(ctx.stream, &ctx.config.uuid, &self.shard_id, self.checkpoint, true)?;
            rep.checkpoints_written += 1;
            rep.finished = true;
        }
        Ok(rep)
    }

    /// Read until the shard's tip (or its end), or until the lanes hold enough.
    fn refill(&mut self, ctx: &ShardCtx<'_>, rep: &mut ShardReport) -> Result<()> {
        let cap =
            (ctx.config.batch_size as usize).saturating_mul(self.lanes.len()).saturating_mul(2).max(MIN_READ_AHEAD);
        if self.push {
            self.refill_push(ctx, rep, cap)
        } else {
            self.refill_polling(ctx, rep, cap)
        }
    }

    /// Take what the enhanced fan-out subscription has now (never blocks); subscribe again
    /// after the last record read when a subscription ends (its 5-minute lifetime).
    fn refill_push(&mut self, ctx: &ShardCtx<'_>, rep: &mut ShardReport, cap: usize) -> Result<()> {
        let mut resubscribed = false;
        let mut read = 0usize;
        while !self.ended {
            if self.lanes.iter().map(Lane::queued).sum::<usize>() >= cap || read >= cap {
                self.caught_up = false;
                return Ok(());
            }
            let sub = match &mut self.subscription {
                Some(sub) => sub,
                None => {
                    let sub = ctx.engine.subscribe_to_shard(SubscribeToShardInput {
                        consumer_arn: ctx.config.consumer_arn.clone().unwrap_or_default(),
                        shard_id: self.shard_id.clone(),
                        starting_position: self.position().into_subscribe(),
                        stream_id: None,
                        dry_run: false,
                    })?;
                    self.subscription.insert(sub)
                }
            };
            let event = match sub.try_recv() {
                Ok(Received::Event(e)) => e,
                Ok(Received::TimedOut) => break,
                Ok(Received::Ended) if !resubscribed => {
                    resubscribed = true;
                    self.subscription = None;
                    continue;
                }
                Ok(Received::Ended) => {
                    self.subscription = None;
                    break;
                }
                Err(e) => {
                    self.subscription = None;
                    return Err(e);
                }
            };
            let now = ctx.engine.config().clock.now_ms();
            rep.records_read += event.records.len();
            read += event.records.len();
            let empty = event.records.is_empty();
            for r in event.records {
                self.accept(r, now, ctx, rep);
            }
            if event.continuation_sequence_number.is_none() {
                // The final event of a closed shard (it carries the child shards).
                self.ended = true;
                self.subscription = None;
            } else if empty || event.millis_behind_latest == 0 {
                break;
            }
        }
        self.caught_up = true;
        Ok(())
    }

    /// Where reading goes on: after the last record read, else the starting position.
    fn position(&self) -> StartAt {
        match self.last_read {
            Some(seq) => StartAt::After(seq),
            None => self.start,
        }
    }

    /// Poll GetRecords until the shard's tip (or its end), or until the lanes hold enough.
    fn refill_polling(&mut self, ctx: &ShardCtx<'_>, rep: &mut ShardReport, cap: usize) -> Result<()> {
        let mut expired_once = false;
        // Records read by this refill, filtered ones included: bounds one refill's work when
        // the filter drops a long stretch.
        let mut read = 0usize;
        while !self.ended {
            let buffered: usize = self.lanes.iter().map(Lane::queued).sum();
            if buffered >= cap || read >= cap {
                self.caught_up = false;
                return Ok(());
            }
            let it = match &self.iterator {
                Some(it) => it.clone(),
                None => self.new_iterator(ctx)?,
            };
            let limit = u32::try_from((cap - buffered.max(read)).min(10_000)).unwrap_or(10_000);
            let out = match ctx.engine.get_records(GetRecordsInput {
                shard_iterator: it,
                limit: Some(limit),
                stream_arn: None,
                stream_id: None,
                dry_run: false,
            }) {
                Ok(out) => out,
                Err(Error::ExpiredIterator { .. }) if !expired_once => {
                    expired_once = true;
                    self.iterator = None;
                    continue;
                }
                Err(e) => {
                    self.iterator = None;
                    return Err(e);
                }
            };
            let now = ctx.engine.config().clock.now_ms();
            let got = out.records.len();
            rep.records_read += got;
            read += got;
            for r in out.records {
                self.accept(r, now, ctx, rep);
            }
            match out.next_shard_iterator {
                None => {
                    self.ended = true;
                    self.iterator = None;
                }
                Some(next) => self.iterator = Some(next),
            }
            if got == 0 || out.millis_behind_latest == 0 && got < limit as usize {
                self.caught_up = true;
                return Ok(());
            }
        }
        self.caught_up = true;
        Ok(())
    }

    fn new_iterator(&self, ctx: &ShardCtx<'_>) -> Result<String> {
        let StartingPosition { position_type: kind, sequence_number: seq, timestamp } =
            self.position().into_subscribe();
        Ok(ctx
            .engine
            .get_shard_iterator(GetShardIteratorInput {
                stream: ctx.stream.clone(),
                shard_id: self.shard_id.clone(),
                shard_iterator_type: kind,
                starting_sequence_number: seq,
                timestamp,
                dry_run: false,
            })?
            .shard_iterator)
    }

    /// Track a record and queue it on its key's lane, or (dropped by the filter) mark it
    /// processed.
    fn accept(&mut self, r: KinesisRecord, now: i64, ctx: &ShardCtx<'_>, rep: &mut ShardReport) {
        let seq = r.sequence_number;
        self.last_read = Some(seq);
        let n = self.lanes.len();
        let lane = if n <= 1 { 0 } else { (partition_key_hash(r.partition_key.as_bytes()) % n as u128) as usize };
        let record = KinesisEventRecord {
            kinesis: KinesisData {
                partition_key: r.partition_key,
                sequence_number: seq,
                data: r.data,
                approximate_arrival_timestamp: r.approximate_arrival_timestamp,
            },
            shard_id: Arc::clone(&self.shard_id_arc),
            event_source_arn: Arc::clone(ctx.stream_arn),
            invoke_identity_arn: Arc::clone(ctx.role_arn),
            aws_region: Arc::clone(ctx.region),
        };
        if ctx.config.filter.as_ref().is_some_and(|keep| !keep(&record)) {
            self.tracker.push_done(seq);
            rep.records_filtered += 1;
            return;
        }
        let pos = self.tracker.push(seq);
        let lane = self.lanes.get_mut(lane);
        debug_assert!(lane.is_some(), "a key's lane index is below the lane count");
        if let Some(l) = lane {
            l.push(Queued { pos, read_at: now, record });
        }
    }

    /// Step every lane with work; lanes run on their own threads when more than one is busy.
    fn run_lanes(&mut self, ctx: &ShardCtx<'_>, rep: &mut ShardReport) {
        let clock = ctx.engine.config().clock.as_ref();
        let lane_ctx = LaneCtx {
            config: ctx.config,
            handler: ctx.handler,
            clock,
            shard_id: &self.shard_id,
            stream_arn: ctx.stream_arn,
            reading_ended: self.ended,
            caught_up: self.caught_up,
            record_overhead: 330
                + self.shard_id.len()
                + ctx.stream_arn.len() * 2
                + ctx.role_arn.len()
                + ctx.region.len(),
        };
        let mut busy: Vec<&mut Lane> = self.lanes.iter_mut().filter(|l| l.has_work()).collect();
        let reports: Vec<LaneReport> = if busy.len() <= 1 {
            busy.iter_mut().map(|l| l.step(&lane_ctx)).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = busy.into_iter().map(|l| s.spawn(|| l.step(&lane_ctx))).collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
            })
        };
        for r in reports {
            for &pos in &r.done {
                self.tracker.mark_done(pos);
            }
            let t = &mut rep.lanes;
            t.invocations += r.invocations;
            t.failed_invocations += r.failed_invocations;
            t.records_succeeded += r.records_succeeded;
            t.records_discarded += r.records_discarded;
        }
    }
}
