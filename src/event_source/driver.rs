//! The mapping: discovers shards, follows lineage (a child starts only after its parent —
//! both parents of a merge — is checkpointed as finished), steps every active shard
//! (concurrently), and offers a background runner.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::engine::checkpoint::ShardCheckpoint;
use crate::engine::types::{ConsumerRef, ListShardsInput, Shard, StreamRef};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::event_source::config::{EventSourceConfig, EventSourcePosition};
use crate::event_source::response::Handler;
use crate::event_source::shard::{ShardCtx, ShardReport, ShardRunner, StartAt};
use crate::kinesis::names;

/// What one [`EventSourceMapping::poll_once`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Records read from the stream.
    pub records_read: usize,
    /// Records dropped by `FilterCriteria` (checkpointed, never delivered).
    pub records_filtered: usize,
    /// Function invocations.
    pub invocations: usize,
    /// Invocations that failed (wholly or partly).
    pub failed_invocations: usize,
    /// Records delivered in invocations that succeeded for them.
    pub records_succeeded: usize,
    /// Records skipped after retry exhaustion or record-age expiry.
    pub records_discarded: usize,
    /// Checkpoints written.
    pub checkpoints_written: usize,
    /// Shards processed to their end in this step.
    pub shards_finished: Vec<String>,
    /// Shards being processed after this step.
    pub active_shards: usize,
    /// Records read and not yet processed, over all shards.
    pub pending_records: usize,
}

impl StepReport {
    /// Nothing happened: no record read, no invocation, no discard, no shard finished.
    pub fn is_idle(&self) -> bool {
        self.records_read == 0
            && self.records_filtered == 0
            && self.invocations == 0
            && self.records_discarded == 0
            && self.shards_finished.is_empty()
            && self.checkpoints_written == 0
    }

    fn add(&mut self, r: &ShardReport) {
        self.records_read += r.records_read;
        self.records_filtered += r.records_filtered;
        self.invocations += r.lanes.invocations;
        self.failed_invocations += r.lanes.failed_invocations;
        self.records_succeeded += r.lanes.records_succeeded;
        self.records_discarded += r.lanes.records_discarded;
        self.checkpoints_written += r.checkpoints_written;
    }
}

/// An event-source mapping from a stream to a [`Handler`], with Lambda's semantics (see the
/// module docs). Drive it with [`EventSourceMapping::poll_once`] or [`EventSourceMapping::run`].
pub struct EventSourceMapping {
    engine: Engine,
    config: EventSourceConfig,
    handler: Arc<dyn Handler>,
    stream_arn: Arc<str>,
    role_arn: Arc<str>,
    region: Arc<str>,
    runners: BTreeMap<u32, ShardRunner>,
    finished: BTreeSet<u32>,
    stored: HashMap<u32, ShardCheckpoint>,
    initialized: bool,
}

impl std::fmt::Debug for EventSourceMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSourceMapping")
            .field("uuid", &self.config.uuid)
            .field("stream_arn", &self.stream_arn)
            .field("active", &self.runners.keys().collect::<Vec<_>>())
            .field("finished", &self.finished)
            .finish()
    }
}

impl EventSourceMapping {
    /// Validate `config` (against the engine clock), resolve the stream and load the
    /// mapping's checkpoints (owner = `config.uuid`): a mapping created again with the same
    /// UUID resumes after its last checkpoint.
    pub fn new(engine: &Engine, config: EventSourceConfig, handler: Arc<dyn Handler>) -> Result<EventSourceMapping> {
        config.validate(engine.config().clock.now_ms())?;
        let summary = engine.describe_stream_summary(config.stream.clone())?;
        if let Some(arn) = &config.consumer_arn {
            let consumer = engine
                .describe_stream_consumer(ConsumerRef { consumer_arn: Some(arn.clone()), ..ConsumerRef::default() })?;
            if consumer.stream_arn != summary.stream_arn {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "EventSourceArn {arn} is a consumer of another stream, not of {}",
                        summary.stream_arn
                    ),
                });
            }
        }
        let stored = engine
            .checkpoints(&config.stream, &config.uuid)?
            .into_iter()
            .filter_map(|c| names::parse_shard_id(&c.shard_id).map(|i| (i, c)))
            .collect::<HashMap<_, _>>();
        let ec = engine.config();
        let role = config
            .invoke_identity_arn
            .clone()
            .unwrap_or_else(|| format!("arn:aws:iam::{}:role/lambda-role", ec.account_id));
        Ok(EventSourceMapping {
            stream_arn: Arc::from(summary.stream_arn.as_str()),
            role_arn: Arc::from(role.as_str()),
            region: Arc::from(ec.region.as_str()),
            initialized: !stored.is_empty(),
            engine: engine.clone(),
            config,
            handler,
            runners: BTreeMap::new(),
            finished: BTreeSet::new(),
            stored,
        })
    }

    /// The mapping's parameters.
    pub fn config(&self) -> &EventSourceConfig {
        &self.config
    }

    /// The stream ARN (`eventSourceARN`).
    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// The mapping's stored checkpoints.
    pub fn checkpoints(&self) -> Result<Vec<ShardCheckpoint>> {
        self.engine.checkpoints(&self.config.stream, &self.config.uuid)
    }

    /// Shards being processed now.
    pub fn active_shards(&self) -> Vec<String> {
        self.runners.values().map(|r| r.shard_id.clone()).collect()
    }

    /// One deterministic step: list shards and start those whose parents are finished, then
    /// in every active shard (shards concurrently) read what is available and invoke every
    /// batch that is due — a batch that fails is retried at the next step — and move the
    /// checkpoints. Time (batching window, record age, tumbling windows) is the engine
    /// clock's. An engine error in one shard does not stop the others; the first is returned.
    pub fn poll_once(&mut self) -> Result<StepReport> {
        let shards = self.list_shards()?;
        self.discover(&shards)?;
        let ctx = ShardCtx {
            engine: &self.engine,
            stream: &self.config.stream,
            config: &self.config,
            handler: self.handler.as_ref(),
            stream_arn: &self.stream_arn,
            role_arn: &self.role_arn,
            region: &self.region,
        };
        let results: Vec<(u32, Result<ShardReport>)> = if self.runners.len() <= 1 {
            self.runners.iter_mut().map(|(&i, r)| (i, r.step(&ctx))).collect()
        } else {
            let ctx = &ctx;
            std::thread::scope(|s| {
                let handles: Vec<_> =
                    self.runners.iter_mut().map(|(&i, r)| (i, s.spawn(move || r.step(ctx)))).collect();
                handles
                    .into_iter()
                    .map(|(i, h)| (i, h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))))
                    .collect()
            })
        };
        let mut report = StepReport::default();
        let mut first_err: Option<Error> = None;
        for (index, res) in results {
            match res {
                Ok(r) => {
                    report.add(&r);
                    if r.finished {
                        if let Some(runner) = self.runners.remove(&index) {
                            report.shards_finished.push(runner.shard_id);
                        }
                        self.finished.insert(index);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        report.active_shards = self.runners.len();
        report.pending_records = self.runners.values().map(ShardRunner::pending).sum();
        match first_err {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    fn list_shards(&self) -> Result<Vec<Shard>> {
        let mut token: Option<String> = None;
        let mut out = Vec::new();
        loop {
            let page = self.engine.list_shards(ListShardsInput {
                stream: if token.is_some() { StreamRef::default() } else { self.config.stream.clone() },
                next_token: token.take(),
                ..Default::default()
            })?;
            out.extend(page.shards);
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Start the shards that are due. On the mapping's very first run, record where every
    /// existing shard starts (so a restart before any progress keeps the starting position,
    /// and shards created later are known to be new).
    fn discover(&mut self, shards: &[Shard]) -> Result<()> {
        let listed: BTreeSet<u32> = shards.iter().filter_map(|s| names::parse_shard_id(&s.shard_id)).collect();
        if !self.initialized {
            for s in shards {
                let Some(index) = names::parse_shard_id(&s.shard_id) else { continue };
                if self.stored.contains_key(&index) {
                    continue;
                }
                let closed = s.sequence_number_range.ending_sequence_number.is_some();
                // At LATEST, shards already closed hold only history: skip them.
                let finished = closed && self.config.starting_position == EventSourcePosition::Latest;
                self.engine.set_checkpoint(&self.config.stream, &self.config.uuid, &s.shard_id, None, finished)?;
                self.stored
                    .insert(index, ShardCheckpoint { shard_id: s.shard_id.clone(), last_processed: None, finished });
            }
            self.initialized = true;
        }
        // Shards no longer listed have expired (retention): nothing is left to read.
        self.runners.retain(|index, _| listed.contains(index));
        for s in shards {
            let Some(index) = names::parse_shard_id(&s.shard_id) else { continue };
            if self.finished.contains(&index) || self.runners.contains_key(&index) {
                continue;
            }
            let stored = self.stored.get(&index);
            if stored.is_some_and(|c| c.finished) {
                self.finished.insert(index);
                continue;
            }
            let parents_done = [&s.parent_shard_id, &s.adjacent_parent_shard_id]
                .into_iter()
                .flatten()
                .filter_map(|p| names::parse_shard_id(p))
                .all(|p| !listed.contains(&p) || self.finished.contains(&p));
            if !parents_done {
                continue;
            }
            let start = match stored {
                Some(ShardCheckpoint { last_processed: Some(seq), .. }) => StartAt::After(*seq),
                Some(_) => match self.config.starting_position {
                    EventSourcePosition::TrimHorizon => StartAt::TrimHorizon,
                    EventSourcePosition::Latest => StartAt::Latest,
                    EventSourcePosition::AtTimestamp(ts) => StartAt::AtTimestamp(ts),
                },
                // Created after the mapping first ran: read from its start.
                None => StartAt::TrimHorizon,
            };
            let checkpoint = stored.and_then(|c| c.last_processed);
            let lanes = self.config.parallelization_factor as usize;
            let push = self.config.consumer_arn.is_some();
            self.runners.insert(index, ShardRunner::new(s.shard_id.clone(), lanes, start, checkpoint, push));
        }
        Ok(())
    }

    /// Run [`EventSourceMapping::poll_once`] on a background thread until stopped, waiting
    /// `idle_wait` (real time) after a step that did nothing or failed.
    pub fn run(self, idle_wait: Duration) -> RunningMapping {
        let stop = StopHandle { inner: Arc::new((Mutex::new(false), Condvar::new())) };
        let last_error = Arc::new(Mutex::new(None));
        let (stop2, err2) = (stop.clone(), Arc::clone(&last_error));
        let mut mapping = self;
        let thread = std::thread::spawn(move || {
            while !stop2.is_stopped() {
                let idle = match mapping.poll_once() {
                    Ok(r) => r.is_idle(),
                    Err(e) => {
                        *err2.lock() = Some(e.to_string());
                        true
                    }
                };
                if idle {
                    stop2.wait(idle_wait);
                }
            }
            mapping
        });
        RunningMapping { stop, last_error, thread }
    }
}

/// Stops a [`RunningMapping`] from any thread.
#[derive(Debug, Clone)]
pub struct StopHandle {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl StopHandle {
    /// Ask the runner to stop after its current step.
    pub fn stop(&self) {
        let (flag, cv) = &*self.inner;
        *flag.lock() = true;
        cv.notify_all();
    }

    /// True once stop was asked.
    pub fn is_stopped(&self) -> bool {
        *self.inner.0.lock()
    }

    fn wait(&self, d: Duration) {
        let (flag, cv) = &*self.inner;
        let mut g = flag.lock();
        if !*g {
            let _ = cv.wait_for(&mut g, d);
        }
    }
}

/// A mapping running on a background thread (see [`EventSourceMapping::run`]).
#[derive(Debug)]
pub struct RunningMapping {
    stop: StopHandle,
    last_error: Arc<Mutex<Option<String>>>,
    thread: JoinHandle<EventSourceMapping>,
}

impl RunningMapping {
    /// A handle that stops the runner.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The last engine error a step returned (the runner keeps going after errors).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// Stop after the current step and give the mapping back (its handler panicking is
    /// re-raised here).
    pub fn stop(self) -> EventSourceMapping {
        self.stop.stop();
        self.thread.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}
