//! Part (c) of `shardlog bench`: consumers attached to a scale step.
//!
//! - Polling readers: a few threads, each owning every P-th shard, run `GetRecords` loops
//!   from `TRIM_HORIZON`, calling each shard once per poll interval (200 ms by default: the
//!   Kinesis limit of 5 calls per second per shard); a call that returns records while
//!   behind the tip is repeated at once. They start at `LATEST`, just before the producers.
//! - Push subscribers: one registered consumer (`RegisterStreamConsumer`) subscribed to every
//!   shard (`SubscribeToShard` from `LATEST`). The subscriptions are driven as futures
//!   (`futures_core::Stream`) by a tiny executor — a few threads, each polling the
//!   subscriptions whose wakers fired — so they are woken by the appends themselves.
//!
//! Every record's first 8 data bytes hold the producer's send time, so each consumer records
//! append→receipt latency (send of the `PutRecords` call → record in the consumer's hands) for
//! every record. `MillisBehindLatest` is sampled as the largest value either kind saw in each
//! sampling period.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_core::Stream;
use shardlog::engine::fanout::Subscription;
use shardlog::engine::*;
use shardlog::Engine;

use super::elapsed_ns;
use super::hist::Histogram;
use crate::Failure;

/// How often `MillisBehindLatest` is sampled.
pub(crate) const SAMPLE_PERIOD: Duration = Duration::from_millis(250);
/// How long consumers may take, after the producers stop, to receive every record.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Records one `GetRecords` call returns at most (its default limit).
const MAX_GET_RECORDS_LIMIT: u32 = 10_000;

/// Settings of part (c).
#[derive(Debug, Clone)]
pub(crate) struct ConsumerSettings {
    /// Per-shard `GetRecords` interval of the polling readers.
    pub(crate) poll_interval: Duration,
    /// Polling reader threads.
    pub(crate) pollers: usize,
    /// Threads driving the push subscriptions.
    pub(crate) push_threads: usize,
}

/// One `MillisBehindLatest` sample: the largest value each kind saw in the period.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BehindSample {
    /// Seconds since the producers started.
    pub(crate) t: f64,
    /// Polling readers (-1: no response in the period).
    pub(crate) polling_ms: i64,
    /// Push subscribers (-1: no event in the period).
    pub(crate) push_ms: i64,
}

/// What one kind of consumer saw.
#[derive(Debug, Clone, Default)]
pub(crate) struct Side {
    /// Records received.
    pub(crate) received: u64,
    /// Records acknowledged to the producers during the step.
    pub(crate) expected: u64,
    /// Append→receipt latency (µs) of every timed record.
    pub(crate) latency: Histogram,
    /// Seconds after the producers stopped until every record was received (None: not within
    /// the drain timeout).
    pub(crate) drained_after: Option<f64>,
    /// Calls (`GetRecords`) or events (push).
    pub(crate) calls: u64,
    /// First errors.
    pub(crate) errors: Vec<String>,
}

impl Side {
    /// Received everything within the drain timeout.
    pub(crate) fn kept_up(&self) -> bool {
        self.drained_after.is_some() && self.errors.is_empty()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "received": self.received,
            "expected": self.expected,
            "kept_up": self.kept_up(),
            "drained_after_s": self.drained_after,
            "calls": self.calls,
            "latency": self.latency.json_ms(),
            "errors": self.errors,
        })
    }
}

/// What part (c) measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConsumerReport {
    /// `GetRecords` loops.
    pub(crate) polling: Side,
    /// `SubscribeToShard` subscriptions.
    pub(crate) push: Side,
    /// `MillisBehindLatest` over time.
    pub(crate) behind: Vec<BehindSample>,
    /// The polling interval used.
    pub(crate) poll_interval: Duration,
}

impl ConsumerReport {
    /// As JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "poll_interval_ms": self.poll_interval.as_millis() as u64,
            "polling": self.polling.json(),
            "push": self.push.json(),
            "millis_behind_latest": self.behind.iter().map(|s| serde_json::json!({
                "t": s.t, "polling_ms": s.polling_ms, "push_ms": s.push_ms,
            })).collect::<Vec<_>>(),
        })
    }
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    poll_received: AtomicU64,
    push_received: AtomicU64,
    poll_behind: AtomicI64,
    push_behind: AtomicI64,
}

#[derive(Default)]
struct ThreadOut {
    latency: Histogram,
    calls: u64,
    errors: Vec<String>,
}

/// Consumers running against a stream.
pub(crate) struct Running {
    shared: Arc<Shared>,
    pollers: Vec<JoinHandle<ThreadOut>>,
    pushers: Vec<JoinHandle<ThreadOut>>,
    queues: Vec<Arc<Queue>>,
    poll_interval: Duration,
    setup_errors: Vec<String>,
}

/// Record the latency of every stamped record of a batch.
fn note_records<'a>(records: impl Iterator<Item = &'a KinesisRecord>, h: &mut Histogram) -> u64 {
    let now = elapsed_ns();
    let mut n = 0;
    for r in records {
        n += 1;
        let stamp = r.data.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
        if stamp > 0 {
            h.record(now.saturating_sub(stamp) / 1000);
        }
    }
    n
}

/// Start polling readers and push subscribers on every shard of `stream`.
pub(crate) fn start(
    engine: &Engine,
    stream: &str,
    shard_ids: &[String],
    s: &ConsumerSettings,
) -> Result<Running, Failure> {
    let shared =
        Arc::new(Shared { poll_behind: AtomicI64::new(-1), push_behind: AtomicI64::new(-1), ..Default::default() });
    let fail = |what: &str, e: shardlog::Error| Failure::run(format!("{what} on {stream}: {e}"));

    // Polling readers.
    let pollers_n = s.pollers.clamp(1, shard_ids.len().max(1));
    let mut pollers = Vec::new();
    for p in 0..pollers_n {
        let mut its = Vec::new();
        for shard in shard_ids.iter().skip(p).step_by(pollers_n) {
            let it = engine
                .get_shard_iterator(GetShardIteratorInput {
                    stream: StreamRef::name(stream),
                    shard_id: shard.clone(),
                    shard_iterator_type: ShardIteratorType::Latest,
                    starting_sequence_number: None,
                    timestamp: None,
                    dry_run: false,
                })
                .map_err(|e| fail("GetShardIterator", e))?;
            its.push(it.shard_iterator);
        }
        let engine = engine.clone();
        let shared = Arc::clone(&shared);
        let interval = s.poll_interval;
        let h = std::thread::Builder::new()
            .name(format!("bench-poll-{p}"))
            .spawn(move || poll_loop(&engine, its, interval, &shared))
            .map_err(|e| Failure::run(format!("spawning a polling reader: {e}")))?;
        pollers.push(h);
    }

    // Push subscribers.
    let arn = engine
        .describe_stream_summary(StreamRef::name(stream))
        .map_err(|e| fail("DescribeStreamSummary", e))?
        .stream_arn;
    let consumer_arn = match engine.register_stream_consumer(RegisterStreamConsumerInput {
        stream_arn: arn.clone(),
        consumer_name: "bench-push".into(),
        stream_id: None,
        tags: Default::default(),
    }) {
        Ok(c) => c.consumer_arn,
        Err(shardlog::Error::ResourceInUse { .. }) => {
            engine
                .describe_stream_consumer(ConsumerRef {
                    stream_arn: Some(arn),
                    consumer_name: Some("bench-push".into()),
                    consumer_arn: None,
                    stream_id: None,
                })
                .map_err(|e| fail("DescribeStreamConsumer", e))?
                .consumer_arn
        }
        Err(e) => return Err(fail("RegisterStreamConsumer", e)),
    };
    let threads = s.push_threads.clamp(1, shard_ids.len().max(1));
    let mut tasks: Vec<Vec<Subscription>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, shard) in shard_ids.iter().enumerate() {
        let sub = engine
            .subscribe_to_shard(SubscribeToShardInput {
                consumer_arn: consumer_arn.clone(),
                shard_id: shard.clone(),
                starting_position: StartingPosition {
                    position_type: ShardIteratorType::Latest,
                    sequence_number: None,
                    timestamp: None,
                },
                stream_id: None,
                dry_run: false,
            })
            .map_err(|e| fail("SubscribeToShard", e))?;
        if let Some(t) = tasks.get_mut(i % threads) {
            t.push(sub);
        }
    }
    let mut pushers = Vec::new();
    let mut queues = Vec::new();
    for (i, subs) in tasks.into_iter().enumerate() {
        let queue = Arc::new(Queue::default());
        queues.push(Arc::clone(&queue));
        let shared = Arc::clone(&shared);
        let h = std::thread::Builder::new()
            .name(format!("bench-push-{i}"))
            .spawn(move || push_loop(subs, &queue, &shared))
            .map_err(|e| Failure::run(format!("spawning a push executor: {e}")))?;
        pushers.push(h);
    }
    Ok(Running { shared, pollers, pushers, queues, poll_interval: s.poll_interval, setup_errors: Vec::new() })
}

fn poll_loop(engine: &Engine, iterators: Vec<String>, interval: Duration, shared: &Shared) -> ThreadOut {
    let mut out = ThreadOut::default();
    let n = iterators.len().max(1) as u32;
    let start = Instant::now();
    // Stagger the shards over the interval so calls do not come in bursts.
    let mut shards: Vec<(Option<String>, Instant)> =
        iterators.into_iter().enumerate().map(|(i, it)| (Some(it), start + interval * i as u32 / n)).collect();
    while !shared.stop.load(Ordering::Acquire) {
        let now = Instant::now();
        let mut next_due = now + interval;
        for (it, due) in shards.iter_mut() {
            if *due > now {
                next_due = next_due.min(*due);
                continue;
            }
            let Some(iterator) = it.take() else { continue };
            out.calls += 1;
            match engine.get_records(GetRecordsInput {
                shard_iterator: iterator,
                limit: None,
                stream_arn: None,
                stream_id: None,
                dry_run: false,
            }) {
                Ok(r) => {
                    let got = note_records(r.records.iter(), &mut out.latency);
                    shared.poll_received.fetch_add(got, Ordering::Relaxed);
                    shared.poll_behind.fetch_max(r.millis_behind_latest, Ordering::Relaxed);
                    *it = r.next_shard_iterator;
                    // A full call means more is waiting: come back at once.
                    *due = if got >= u64::from(MAX_GET_RECORDS_LIMIT) || r.millis_behind_latest > 0 {
                        now
                    } else {
                        now + interval
                    };
                }
                Err(e) => {
                    if out.errors.len() < 5 {
                        out.errors.push(format!("GetRecords: {e}"));
                    }
                }
            }
            next_due = next_due.min(*due);
        }
        let now = Instant::now();
        if next_due > now {
            std::thread::sleep((next_due - now).min(Duration::from_millis(20)));
        }
    }
    out
}

/// The run queue of one push executor thread.
#[derive(Default)]
struct Queue {
    ready: Mutex<VecDeque<usize>>,
    cv: Condvar,
}

struct TaskWaker {
    index: usize,
    queued: AtomicBool,
    queue: Arc<Queue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            if let Ok(mut q) = self.queue.ready.lock() {
                q.push_back(self.index);
            }
            self.queue.cv.notify_one();
        }
    }
}

fn push_loop(mut subs: Vec<Subscription>, queue: &Arc<Queue>, shared: &Shared) -> ThreadOut {
    let mut out = ThreadOut::default();
    let wakers: Vec<Arc<TaskWaker>> = (0..subs.len())
        .map(|index| Arc::new(TaskWaker { index, queued: AtomicBool::new(true), queue: Arc::clone(queue) }))
        .collect();
    if let Ok(mut q) = queue.ready.lock() {
        q.extend(0..subs.len());
    }
    let mut live = vec![true; subs.len()];
    loop {
        let next = {
            let Ok(mut q) = queue.ready.lock() else { break };
            loop {
                if shared.stop.load(Ordering::Acquire) {
                    return out;
                }
                if let Some(i) = q.pop_front() {
                    break i;
                }
                q = match queue.cv.wait_timeout(q, Duration::from_millis(20)) {
                    Ok((q, _)) => q,
                    Err(_) => return out,
                };
            }
        };
        let (Some(w), Some(sub)) = (wakers.get(next), subs.get_mut(next)) else { continue };
        if !live.get(next).copied().unwrap_or(false) {
            continue;
        }
        w.queued.store(false, Ordering::Release);
        let waker = Waker::from(Arc::clone(w));
        let mut cx = Context::from_waker(&waker);
        loop {
            match Pin::new(&mut *sub).poll_next(&mut cx) {
                Poll::Ready(Some(Ok(event))) => {
                    out.calls += 1;
                    let got = note_records(event.records.iter(), &mut out.latency);
                    shared.push_received.fetch_add(got, Ordering::Relaxed);
                    shared.push_behind.fetch_max(event.millis_behind_latest, Ordering::Relaxed);
                }
                Poll::Ready(Some(Err(e))) => {
                    if out.errors.len() < 5 {
                        out.errors.push(format!("SubscribeToShard: {e}"));
                    }
                    if let Some(l) = live.get_mut(next) {
                        *l = false;
                    }
                    break;
                }
                Poll::Ready(None) => {
                    if let Some(l) = live.get_mut(next) {
                        *l = false;
                    }
                    break;
                }
                Poll::Pending => break,
            }
        }
    }
    out
}

impl Running {
    /// Take a `MillisBehindLatest` sample (largest values since the last sample).
    pub(crate) fn sample(&self, t: f64) -> BehindSample {
        BehindSample {
            t,
            polling_ms: self.shared.poll_behind.swap(-1, Ordering::Relaxed),
            push_ms: self.shared.push_behind.swap(-1, Ordering::Relaxed),
        }
    }

    /// Wait (up to the drain timeout) for both kinds to receive `written` records, stop
    /// everything and report.
    pub(crate) fn finish(self, written: u64, mut behind: Vec<BehindSample>, t0: Instant) -> ConsumerReport {
        let stopped = Instant::now();
        let (mut poll_done, mut push_done) = (None, None);
        let mut last_sample = Instant::now();
        while stopped.elapsed() < DRAIN_TIMEOUT && (poll_done.is_none() || push_done.is_none()) {
            if poll_done.is_none() && self.shared.poll_received.load(Ordering::Relaxed) >= written {
                poll_done = Some(stopped.elapsed().as_secs_f64());
            }
            if push_done.is_none() && self.shared.push_received.load(Ordering::Relaxed) >= written {
                push_done = Some(stopped.elapsed().as_secs_f64());
            }
            if last_sample.elapsed() >= SAMPLE_PERIOD {
                last_sample = Instant::now();
                behind.push(self.sample(t0.elapsed().as_secs_f64()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        behind.push(self.sample(t0.elapsed().as_secs_f64()));
        self.shared.stop.store(true, Ordering::Release);
        for q in &self.queues {
            q.cv.notify_all();
        }
        let collect = |handles: Vec<JoinHandle<ThreadOut>>, received: u64, drained: Option<f64>| {
            let mut side = Side { received, expected: written, drained_after: drained, ..Side::default() };
            for h in handles {
                match h.join() {
                    Ok(o) => {
                        side.latency.merge(&o.latency);
                        side.calls += o.calls;
                        side.errors.extend(o.errors);
                    }
                    Err(_) => side.errors.push("consumer thread panicked".into()),
                }
            }
            side.errors.truncate(5);
            side
        };
        let polling = collect(self.pollers, self.shared.poll_received.load(Ordering::Relaxed), poll_done);
        let mut push = collect(self.pushers, self.shared.push_received.load(Ordering::Relaxed), push_done);
        push.errors.extend(self.setup_errors);
        ConsumerReport { polling, push, behind, poll_interval: self.poll_interval }
    }
}
