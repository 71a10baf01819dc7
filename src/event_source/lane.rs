//! One lane of a shard: the records of the partition keys hashed to it, in shard order, and
//! everything that happens to a batch — batching window, invocation, partial failure,
//! retries, bisection, record-age expiry, discard to the on-failure destination, and the
//! lane's tumbling window. With `ParallelizationFactor` N a shard has N lanes that run
//! concurrently; a lane never has two batches in flight, so each key stays in order.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::clock::Clock;
use crate::engine::types::{SequenceNumber, Timestamp};
use crate::event_source::config::{EventSourceConfig, MAX_PAYLOAD_BYTES, MAX_WINDOW_STATE_BYTES};
use crate::event_source::event::{KinesisEvent, KinesisEventRecord, TimeWindow};
use crate::event_source::failure::{
    FailureCondition, KinesisBatchInfo, OnFailureDocument, RequestContext, ResponseContext,
};
use crate::event_source::response::{judge, FunctionError, Handler, Outcome};
use crate::event_source::window::{bounds, WindowRun};

/// A record waiting in a lane.
#[derive(Debug)]
pub(crate) struct Queued {
    /// Its position in the shard's read order (for the checkpoint tracker).
    pub pos: u64,
    /// When the driver read it (engine clock, ms): the batching window runs from here.
    pub read_at: i64,
    /// The record as delivered.
    pub record: KinesisEventRecord,
}

/// What a lane step needs from its shard and mapping.
pub(crate) struct LaneCtx<'a> {
    pub config: &'a EventSourceConfig,
    pub handler: &'a dyn Handler,
    pub clock: &'a dyn Clock,
    pub shard_id: &'a str,
    pub stream_arn: &'a str,
    /// The shard is closed and read to its end: nothing more will arrive.
    pub reading_ended: bool,
    /// The last read reached the shard's tip.
    pub caught_up: bool,
    /// Event JSON bytes per record besides its data and key (for the 6 MB payload cap).
    pub record_overhead: usize,
}

/// What a lane step did.
#[derive(Debug, Default)]
pub(crate) struct LaneReport {
    /// Positions now processed (succeeded, discarded, or closed with their window).
    pub done: Vec<u64>,
    pub invocations: usize,
    pub failed_invocations: usize,
    pub records_succeeded: usize,
    pub records_discarded: usize,
}

/// The next invocation of a lane.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Records from the head of the queue.
    count: usize,
    /// Tumbling window: this is the window's final invoke.
    final_invoke: bool,
    /// Tumbling window: ended early because the state outgrew the limit.
    early: bool,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Lane {
    queue: VecDeque<Queued>,
    /// Failed invocations of the batch at the head (reset by a success or a discard).
    failures: u32,
    /// The head batch failed before: retry without waiting for the batching window.
    retrying: bool,
    /// Bisection: sizes of the pieces still to process, the next one on top.
    segments: Vec<usize>,
    /// `functionError` of the last failed invocation (`Some(None)`: failed by its response).
    last_failure: Option<Option<&'static str>>,
    /// The open tumbling window.
    window: Option<WindowRun>,
}

impl Lane {
    /// Queue a record read from the shard.
    pub fn push(&mut self, q: Queued) {
        self.queue.push_back(q);
    }

    /// Records waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// True when the lane has records waiting or an open window.
    pub fn has_work(&self) -> bool {
        !self.queue.is_empty() || self.window.is_some()
    }

    /// Invoke every batch that is ready, until the lane is empty, a batch is not ready yet, or
    /// an invocation fails (retried at the next step).
    pub fn step(&mut self, ctx: &LaneCtx<'_>) -> LaneReport {
        let mut rep = LaneReport::default();
        loop {
            let now = ctx.clock.now_ms();
            self.expire(now, ctx, &mut rep);
            let Some(plan) = self.plan(now, ctx) else { break };
            if !self.invoke(plan, ctx, &mut rep) {
                break;
            }
        }
        rep
    }

    /// Discard the records at the head that are older than `MaximumRecordAgeInSeconds`.
    fn expire(&mut self, now: i64, ctx: &LaneCtx<'_>, rep: &mut LaneReport) {
        let max_age = ctx.config.maximum_record_age_in_seconds;
        if max_age < 0 {
            return;
        }
        let limit = i64::from(max_age) * 1000;
        let expired = self
            .queue
            .iter()
            .take_while(|q| now.saturating_sub(q.record.kinesis.approximate_arrival_timestamp.as_millis()) > limit)
            .count();
        if expired == 0 {
            return;
        }
        let gone: Vec<Queued> = self.queue.drain(..expired).collect();
        self.discard(&gone, FailureCondition::RecordAgeExpired, ctx, rep);
        self.consume(expired);
        self.failures = 0;
        self.retrying = false;
        self.last_failure = None;
    }

    /// Choose the next invocation, if one is due.
    fn plan(&self, now: i64, ctx: &LaneCtx<'_>) -> Option<Plan> {
        let cfg = ctx.config;
        let batch_size = cfg.batch_size as usize;
        let limit = self.segments.last().map_or(batch_size, |&s| s.min(batch_size));
        let window_ms = i64::from(cfg.maximum_batching_window_in_seconds) * 1000;
        let head = self.queue.front();
        let timer_expired = head.is_some_and(|h| now.saturating_sub(h.read_at) >= window_ms);
        let eager = self.retrying || !self.segments.is_empty() || ctx.reading_ended || timer_expired;
        if cfg.tumbling_window_in_seconds == 0 {
            let available = self.queue.len();
            if available == 0 {
                return None;
            }
            let count = self.payload_count(limit.min(available), ctx);
            let full = count >= batch_size || count < limit.min(available);
            return (full || eager).then_some(Plan { count, final_invoke: false, early: false });
        }
        if let Some(run) = &self.window {
            if run.terminated_early {
                return Some(Plan { count: 0, final_invoke: true, early: true });
            }
        }
        let length_ms = i64::from(cfg.tumbling_window_in_seconds) * 1000;
        let (start, end) = match (&self.window, head) {
            (Some(run), _) => (run.start, run.end),
            (None, Some(h)) => bounds(h.record.kinesis.approximate_arrival_timestamp.as_millis(), length_ms),
            (None, None) => return None,
        };
        let in_window = self
            .queue
            .iter()
            .take_while(|q| (start..end).contains(&q.record.kinesis.approximate_arrival_timestamp.as_millis()))
            .count();
        let closed = ctx.reading_ended || in_window < self.queue.len() || (ctx.caught_up && now >= end);
        if in_window == 0 {
            // Every record of the open window was delivered: only the final invoke is left.
            return closed.then_some(Plan { count: 0, final_invoke: true, early: false });
        }
        let count = self.payload_count(limit.min(in_window), ctx);
        if closed && count == in_window {
            return Some(Plan { count, final_invoke: true, early: false });
        }
        let full = count >= batch_size || count < limit.min(in_window);
        (full || eager || closed).then_some(Plan { count, final_invoke: false, early: false })
    }

    /// How many of the first `max` records fit in one invocation payload (at least one).
    fn payload_count(&self, max: usize, ctx: &LaneCtx<'_>) -> usize {
        let mut total = 0usize;
        let mut n = 0usize;
        for q in self.queue.iter().take(max) {
            let k = &q.record.kinesis;
            total += k.data.len().div_ceil(3) * 4 + k.partition_key.len() + ctx.record_overhead;
            if n > 0 && total > MAX_PAYLOAD_BYTES {
                break;
            }
            n += 1;
        }
        n
    }

    /// Run one invocation. Returns true when the lane may go on in this step.
    fn invoke(&mut self, plan: Plan, ctx: &LaneCtx<'_>, rep: &mut LaneReport) -> bool {
        let cfg = ctx.config;
        let windowed = cfg.tumbling_window_in_seconds > 0;
        if windowed && self.window.is_none() {
            let length_ms = i64::from(cfg.tumbling_window_in_seconds) * 1000;
            let arrival = self.queue.front().map_or(0, |h| h.record.kinesis.approximate_arrival_timestamp.as_millis());
            let (start, end) = bounds(arrival, length_ms);
            self.window = Some(WindowRun::new(start, end));
        }
        let taken: Vec<Queued> = self.queue.drain(..plan.count.min(self.queue.len())).collect();
        let n = taken.len();
        let mut metas = Vec::with_capacity(n);
        let mut records = Vec::with_capacity(n);
        for q in taken {
            metas.push((q.pos, q.read_at));
            records.push(q.record);
        }
        let seqs: Vec<SequenceNumber> = records.iter().map(|r| r.kinesis.sequence_number).collect();
        let window = self.window.as_ref().map(|run| TimeWindow {
            start: Timestamp(run.start),
            end: Timestamp(run.end),
            state: run.state.clone(),
            shard_id: ctx.shard_id.to_string(),
            event_source_arn: ctx.stream_arn.to_string(),
            is_final_invoke_for_window: plan.final_invoke,
            is_window_terminated_early: plan.early,
        });
        let event = KinesisEvent { records, window };
        let result = catch_unwind(AssertUnwindSafe(|| ctx.handler.handle(&event))).unwrap_or_else(|_| {
            Err(FunctionError { error_type: "Panic".into(), error_message: "handler panicked".into() })
        });
        let not_invoked = matches!(&result, Err(e) if e.is_not_invoked());
        // Give the records back to the queue in their order; outcomes take what succeeded.
        let mut back: Vec<Queued> = event
            .records
            .into_iter()
            .zip(metas)
            .map(|(record, (pos, read_at))| Queued { pos, read_at, record })
            .collect();
        if not_invoked {
            // Lambda's errors before invocation: retried later, neither a retry nor a bisection.
            self.requeue(back);
            return false;
        }
        let outcome = judge(result, &seqs, cfg.reports_batch_item_failures(), windowed);
        rep.invocations += 1;
        match outcome {
            Outcome::Success(state) => {
                self.failures = 0;
                self.retrying = false;
                self.last_failure = None;
                self.consume(n);
                rep.records_succeeded += n;
                self.settle(back.iter().map(|q| q.pos), windowed, rep);
                if windowed {
                    self.after_window_invoke(plan, state, rep);
                }
                true
            }
            Outcome::Partial { first_failed, state } => {
                let k = first_failed.min(back.len());
                let failed = back.split_off(k);
                self.settle(back.iter().map(|q| q.pos), windowed, rep);
                rep.records_succeeded += k;
                rep.failed_invocations += 1;
                self.consume(k);
                if let (Some(run), Some(state)) = (self.window.as_mut(), state) {
                    run.state = state;
                }
                self.requeue(failed);
                self.failed(Some(None), n - k, plan, ctx, rep)
            }
            Outcome::Failure(f) => {
                rep.failed_invocations += 1;
                self.requeue(back);
                if cfg.bisect_batch_on_function_error && n > 1 {
                    // Split in halves; a split is not a retry. The first half goes next.
                    self.retrying = true;
                    self.last_failure = Some(f.function_error());
                    self.consume(n);
                    let first = n / 2;
                    self.segments.push(n - first);
                    self.segments.push(first);
                    return false;
                }
                self.failed(Some(f.function_error()), n, plan, ctx, rep)
            }
        }
    }

    /// Count a failed invocation whose first `failed` queued records must be retried; discard
    /// them when the retries are exhausted. Returns true when the lane may go on.
    fn failed(
        &mut self,
        function_error: Option<Option<&'static str>>,
        failed: usize,
        plan: Plan,
        ctx: &LaneCtx<'_>,
        rep: &mut LaneReport,
    ) -> bool {
        self.failures = self.failures.saturating_add(1);
        self.retrying = true;
        self.last_failure = function_error;
        let max = ctx.config.maximum_retry_attempts;
        let exhausted = max >= 0 && i64::from(self.failures) > i64::from(max);
        if !exhausted {
            return false;
        }
        let gone: Vec<Queued> = self.queue.drain(..failed.min(self.queue.len())).collect();
        self.discard(&gone, FailureCondition::RetryAttemptsExhausted, ctx, rep);
        self.consume(gone.len());
        self.failures = 0;
        self.retrying = false;
        self.last_failure = None;
        if plan.final_invoke {
            self.close_window(rep);
        }
        true
    }

    /// Records that succeeded: processed now, or (tumbling windows) when their window closes.
    fn settle(&mut self, positions: impl Iterator<Item = u64>, windowed: bool, rep: &mut LaneReport) {
        match (windowed, self.window.as_mut()) {
            (true, Some(run)) => run.delivered.extend(positions),
            _ => rep.done.extend(positions),
        }
    }

    /// After a successful windowed invocation: keep the new state, or close the window.
    fn after_window_invoke(
        &mut self,
        plan: Plan,
        state: Option<crate::event_source::event::WindowState>,
        rep: &mut LaneReport,
    ) {
        if plan.final_invoke {
            let reopen = self.window.as_ref().filter(|_| plan.early).map(|run| (run.start, run.end));
            self.close_window(rep);
            if let Some((start, end)) = reopen {
                // The window goes on with a fresh state.
                self.window = Some(WindowRun::new(start, end));
            }
            return;
        }
        if let (Some(run), Some(state)) = (self.window.as_mut(), state) {
            run.terminated_early = state.len() > MAX_WINDOW_STATE_BYTES;
            run.state = state;
        }
    }

    /// Drop the open window: its delivered records become processed.
    fn close_window(&mut self, rep: &mut LaneReport) {
        if let Some(run) = self.window.take() {
            rep.done.extend(run.delivered);
        }
    }

    fn requeue(&mut self, records: Vec<Queued>) {
        for q in records.into_iter().rev() {
            self.queue.push_front(q);
        }
    }

    /// `n` records left the head of the queue: shrink the bisection pieces.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(top) = self.segments.last_mut() else { break };
            if *top > n {
                *top -= n;
                n = 0;
            } else {
                n -= *top;
                self.segments.pop();
            }
        }
    }

    /// Skip `gone` and send its on-failure document.
    fn discard(&mut self, gone: &[Queued], condition: FailureCondition, ctx: &LaneCtx<'_>, rep: &mut LaneReport) {
        let (Some(first), Some(last)) = (gone.first(), gone.last()) else { return };
        rep.records_discarded += gone.len();
        rep.done.extend(gone.iter().map(|q| q.pos));
        let Some(dest) = &ctx.config.on_failure else { return };
        let doc = OnFailureDocument {
            request_context: RequestContext {
                request_id: crate::event_source::config::new_uuid(),
                function_arn: ctx.config.function_arn.clone(),
                condition,
                approximate_invoke_count: self.failures,
            },
            response_context: self.last_failure.map(|function_error| ResponseContext {
                status_code: 200,
                executed_version: "$LATEST".into(),
                function_error: function_error.map(str::to_string),
            }),
            version: "1.0",
            timestamp: Timestamp(ctx.clock.now_ms()),
            kinesis_batch_info: KinesisBatchInfo {
                shard_id: ctx.shard_id.to_string(),
                start_sequence_number: first.record.kinesis.sequence_number,
                end_sequence_number: last.record.kinesis.sequence_number,
                approximate_arrival_of_first_record: first.record.kinesis.approximate_arrival_timestamp,
                approximate_arrival_of_last_record: last.record.kinesis.approximate_arrival_timestamp,
                batch_size: u32::try_from(gone.len()).unwrap_or(u32::MAX),
                stream_arn: ctx.stream_arn.to_string(),
            },
        };
        dest(&doc);
    }
}
