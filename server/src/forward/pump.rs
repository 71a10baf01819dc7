//! One source shard's pump: read ahead → cut a window → send it in rounds with backoff →
//! checkpoint once the destination accepted all of it → (optionally) trim what was
//! forwarded → again, until the shard ends or the forwarder stops.
//!
//! Invariants: a checkpoint names only records the destination acknowledged (so a crash
//! re-sends at most the window in flight); records leave in source order (rounds follow
//! [`Ordering`](crate::forward::batch::Ordering)); a finished checkpoint is written only
//! after the shard's last record was acknowledged, so children start after it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::forward::backoff::Failure;
use crate::forward::batch::Window;
use crate::forward::checkpoint::{CheckpointStore, ShardPosition};
use crate::forward::rate::RateLimiter;
use crate::forward::record::{to_out, OutRecord};
use crate::forward::sink::Sink;
use crate::forward::source::Source;
use crate::forward::stats::ForwardStats;
use crate::forward::ForwardOptions;

/// How a pump ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PumpEnd {
    /// The shard was forwarded to its end and checkpointed finished.
    Finished,
    /// The forwarder is stopping.
    Stopped,
}

/// What every pump shares.
pub(crate) struct PumpCtx {
    pub source: Arc<dyn Source>,
    pub sink: Arc<dyn Sink>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub options: Arc<ForwardOptions>,
    pub stats: Arc<ForwardStats>,
    pub rate: Arc<tokio::sync::Mutex<RateLimiter>>,
    /// Acknowledged position per shard (one past the last acknowledged offset).
    pub acked: Arc<Mutex<HashMap<String, u64>>>,
}

struct Buffered {
    out: OutRecord,
    offset: Option<u64>,
    read_at: Instant,
}

/// The source's offset for a sequence number of the local engine (`None` for others).
pub(crate) fn offset_of(seq: &str) -> Option<u64> {
    shardlog::engine::types::SequenceNumber::parse(seq).ok().map(|s| s.counter())
}

/// Wait `d` unless `stop` turns true first; returns true if stopped.
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        r = stop.changed() => r.is_err() || *stop.borrow(),
    }
}

struct Pump<'a> {
    ctx: &'a PumpCtx,
    shard_id: String,
    stop: watch::Receiver<bool>,
    idle: Arc<AtomicBool>,
    iterator: Option<String>,
    last_read: Option<String>,
    last_acked: Option<String>,
    expected_offset: Option<u64>,
    buffer: VecDeque<Buffered>,
    ended: bool,
    at_tip: bool,
    millis_behind_latest: i64,
    read_failures: u32,
}

/// Forward shard `shard_id` from `start` until it ends or `stop` turns true.
pub(crate) async fn run(
    ctx: &PumpCtx,
    shard_id: String,
    start: ShardPosition,
    stop: watch::Receiver<bool>,
    idle: Arc<AtomicBool>,
) -> Result<PumpEnd, Failure> {
    let expected_offset = start.last_forwarded.as_deref().and_then(offset_of).map(|o| o + 1);
    let mut p = Pump {
        ctx,
        shard_id,
        stop,
        idle,
        iterator: None,
        last_read: start.last_forwarded.clone(),
        last_acked: start.last_forwarded,
        expected_offset,
        buffer: VecDeque::new(),
        ended: false,
        at_tip: false,
        millis_behind_latest: 0,
        read_failures: 0,
    };
    let end = p.run().await;
    p.ctx.stats.shard_stopped(&p.shard_id);
    end
}

impl Pump<'_> {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    fn report_lag(&self, pending: Option<i64>) {
        let buffered = self.buffer.iter().map(|b| b.out.arrival_ms).min();
        let oldest = match (pending, buffered) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.ctx.stats.shard_lag(&self.shard_id, oldest, Some(self.millis_behind_latest));
    }

    async fn run(&mut self) -> Result<PumpEnd, Failure> {
        let opts = Arc::clone(&self.ctx.options);
        let read_ahead = opts.limits.max_records.saturating_mul(2).max(1);
        loop {
            if self.stopping() {
                return Ok(PumpEnd::Stopped);
            }
            self.fill(read_ahead).await?;
            self.report_lag(None);
            if self.buffer.is_empty() {
                if self.ended {
                    return self.finish().await;
                }
                self.idle.store(self.at_tip, AtomicOrdering::SeqCst);
                let mut stop = self.stop.clone();
                let wait = if self.at_tip { opts.poll_interval } else { Duration::ZERO };
                if pause(wait, &mut stop).await {
                    return Ok(PumpEnd::Stopped);
                }
                continue;
            }
            self.idle.store(false, AtomicOrdering::SeqCst);
            let (n, full) = opts.limits.window_len(self.buffer.iter().map(|b| b.out.billed_bytes()));
            let age = self.buffer.front().map_or(Duration::ZERO, |b| b.read_at.elapsed());
            let send_now = full || self.ended || !self.at_tip || opts.until_caught_up || age >= opts.linger;
            if !send_now {
                let mut stop = self.stop.clone();
                if pause(opts.linger.saturating_sub(age).min(opts.poll_interval), &mut stop).await {
                    return Ok(PumpEnd::Stopped);
                }
                continue;
            }
            let taken: Vec<Buffered> = self.buffer.drain(..n.min(self.buffer.len())).collect();
            let last_seq = taken.last().map(|b| b.out.source_sequence_number.clone());
            let last_offset = taken.last().and_then(|b| b.offset);
            let window = Window::new(taken.into_iter().map(|b| b.out).collect(), opts.ordering);
            let bytes: usize = window.records().iter().map(OutRecord::billed_bytes).sum();
            let count = window.records().len();
            if !self.send(window).await? {
                return Ok(PumpEnd::Stopped);
            }
            self.last_acked = last_seq;
            let finished = self.ended && self.buffer.is_empty();
            self.save(finished).await?;
            self.ctx.stats.forwarded(count, bytes);
            if let Some(o) = last_offset {
                self.ctx.acked.lock().unwrap_or_else(|p| p.into_inner()).insert(self.shard_id.clone(), o + 1);
            }
            if opts.keep_until_forwarded {
                if let Some(seq) = &self.last_acked {
                    if let Some(freed) = self.ctx.source.trim_through(&self.shard_id, seq).await? {
                        self.ctx.stats.trimmed(freed);
                    }
                }
            }
            if finished {
                self.ctx.stats.shard_finished(&self.shard_id);
                return Ok(PumpEnd::Finished);
            }
        }
    }

    async fn save(&self, finished: bool) -> Result<(), Failure> {
        let position = ShardPosition { last_forwarded: self.last_acked.clone(), finished };
        let started = Instant::now();
        self.ctx.checkpoints.save(&self.shard_id, &position).await?;
        self.ctx.stats.checkpoint(started.elapsed());
        Ok(())
    }

    async fn finish(&mut self) -> Result<PumpEnd, Failure> {
        self.save(true).await?;
        self.ctx.stats.shard_finished(&self.shard_id);
        Ok(PumpEnd::Finished)
    }

    /// Read until the buffer holds `read_ahead` records, the shard has nothing more now, or
    /// a read fails (retried later; backs off only when there is nothing to send).
    async fn fill(&mut self, read_ahead: usize) -> Result<(), Failure> {
        let opts = Arc::clone(&self.ctx.options);
        while !self.ended && self.buffer.len() < read_ahead && !self.stopping() {
            let iterator = match &self.iterator {
                Some(it) => it.clone(),
                None => match self.ctx.source.shard_iterator(&self.shard_id, self.last_read.as_deref()).await {
                    Ok(it) => it,
                    Err(f) => match self.read_failed(f).await? {
                        ReadNext::Retry => continue,
                        ReadNext::SendFirst => return Ok(()),
                    },
                },
            };
            let limit = u32::try_from(read_ahead - self.buffer.len()).unwrap_or(10_000).clamp(1, 10_000);
            let read = match self.ctx.source.get_records(&iterator, limit).await {
                Ok(r) => r,
                Err(Failure::ExpiredIterator(_)) => {
                    self.iterator = None;
                    continue;
                }
                Err(f) => match self.read_failed(f).await? {
                    ReadNext::Retry => continue,
                    ReadNext::SendFirst => return Ok(()),
                },
            };
            self.read_failures = 0;
            let got = read.records.len();
            self.ctx.stats.read(got);
            self.millis_behind_latest = read.millis_behind_latest;
            let now = Instant::now();
            for r in read.records {
                if let (Some(expected), Some(offset)) = (self.expected_offset, r.offset) {
                    if offset > expected {
                        let lost = offset - expected;
                        self.ctx.stats.lost_to_retention(lost);
                        self.ctx.stats.set_error(&format!(
                            "{lost} records of {} were trimmed by retention before they were forwarded",
                            self.shard_id
                        ));
                    }
                }
                self.expected_offset = r.offset.map(|o| o + 1);
                self.last_read = Some(r.sequence_number.clone());
                let offset = r.offset;
                let out = to_out(&self.shard_id, r, opts.rekey.as_ref()).map_err(Failure::Fatal)?;
                self.buffer.push_back(Buffered { out, offset, read_at: now });
            }
            match read.next_iterator {
                Some(next) => self.iterator = Some(next),
                None => {
                    self.ended = true;
                    self.iterator = None;
                }
            }
            self.at_tip = read.millis_behind_latest <= 0 && (got as u64) < u64::from(limit);
            if got == 0 || self.at_tip {
                break;
            }
        }
        Ok(())
    }

    async fn read_failed(&mut self, f: Failure) -> Result<ReadNext, Failure> {
        match f {
            // The shard expired with its records (retention): send what was read, then finish.
            Failure::ShardGone(_) => {
                self.ended = true;
                self.iterator = None;
                Ok(ReadNext::SendFirst)
            }
            Failure::ExpiredIterator(_) => {
                self.iterator = None;
                Ok(ReadNext::Retry)
            }
            f if f.is_retryable() => {
                self.ctx.stats.set_error(&format!("reading {} of {}: {f}", self.shard_id, self.ctx.source.describe()));
                if !self.buffer.is_empty() {
                    return Ok(ReadNext::SendFirst);
                }
                // Nothing to send: wait out the backoff here.
                self.read_failures = self.read_failures.saturating_add(1);
                let d = self.ctx.options.backoff.jittered(self.read_failures);
                self.ctx.stats.backoff(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                let mut stop = self.stop.clone();
                pause(d, &mut stop).await;
                Ok(ReadNext::Retry)
            }
            f => Err(Failure::Fatal(format!("reading {} of {}: {f}", self.shard_id, self.ctx.source.describe()))),
        }
    }

    /// Send a window until every record was accepted. Returns false if the forwarder
    /// stopped first (the window is abandoned: not checkpointed, sent again next time).
    async fn send(&mut self, mut window: Window) -> Result<bool, Failure> {
        let opts = Arc::clone(&self.ctx.options);
        let mut failures = 0u32;
        loop {
            let round = window.next_round();
            if round.is_empty() {
                debug_assert!(window.is_done());
                return Ok(true);
            }
            self.report_lag(window.oldest_pending_arrival_ms());
            let records: Vec<&OutRecord> = round.iter().filter_map(|&i| window.records().get(i)).collect();
            debug_assert_eq!(records.len(), round.len());
            let bytes = records.iter().map(|r| r.billed_bytes()).sum();
            let wait = self.ctx.rate.lock().await.charge(records.len(), bytes, Instant::now());
            let mut stop = self.stop.clone();
            if !wait.is_zero() && pause(wait, &mut stop).await && failures > 0 {
                return Ok(false);
            }
            self.ctx.stats.request();
            let answer = self.ctx.sink.put_records(records).await;
            let failed = match answer {
                Ok(outcomes) => {
                    let rep = window.apply(&round, &outcomes);
                    self.ctx.stats.entries(rep.failed, rep.throttled, rep.resent);
                    if rep.failed > 0 {
                        let first = outcomes.iter().find_map(|o| match o {
                            crate::forward::batch::EntryOutcome::Failed { code, message } => {
                                Some(format!("{code}: {message}"))
                            }
                            crate::forward::batch::EntryOutcome::Accepted => None,
                        });
                        self.ctx.stats.set_error(&format!(
                            "{} of {} records refused by {}: {}",
                            rep.failed,
                            round.len(),
                            self.ctx.sink.describe(),
                            first.unwrap_or_default()
                        ));
                    }
                    rep.failed > 0
                }
                Err(f) if f.is_retryable() => {
                    self.ctx.stats.request_failed(&format!("PutRecords to {}: {f}", self.ctx.sink.describe()));
                    true
                }
                Err(f) => {
                    return Err(Failure::Fatal(format!(
                        "PutRecords to {} (records of {} from {}): {f}",
                        self.ctx.sink.describe(),
                        self.shard_id,
                        window.records().first().map_or("", |r| r.source_sequence_number.as_str())
                    )))
                }
            };
            if failed {
                failures = failures.saturating_add(1);
                let d = opts.backoff.jittered(failures);
                self.ctx.stats.backoff(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                let mut stop = self.stop.clone();
                if pause(d, &mut stop).await {
                    return Ok(false);
                }
            } else {
                failures = 0;
            }
        }
    }
}

enum ReadNext {
    Retry,
    SendFirst,
}
