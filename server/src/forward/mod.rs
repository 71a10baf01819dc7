//! The forwarder: ships a stream to another Kinesis-compatible stream — a local stream to
//! AWS Kinesis (or LocalStack, or another `shardlog serve`), or, in reverse, a remote stream
//! into a local data directory — at least once, in order per key, resumable.
//!
//! # Guarantees
//! - **At least once.** A source shard's position is checkpointed durably only after the
//!   destination acknowledged every record up to it. After a crash the forwarder resumes
//!   from the checkpoints and sends again at most the *window* that was in flight per shard
//!   (≤ 500 records and ≤ 5 MiB, the PutRecords limits; smaller with `BatchLimits`).
//! - **In order per key.** Shards are read through their lineage: a child shard starts only
//!   after its parent (both parents of a merge) was forwarded to its end and checkpointed
//!   finished. Within a shard, records leave in order and a record of a key is never accepted
//!   before an earlier one of that key ([`Ordering::Strict`], the default: at most one
//!   record per key per request) — or, with [`Ordering::Batched`], every later record of a
//!   failed record's key is sent again after it. Records without a partition key (AUTO
//!   streams) are sent under their sequence number and promise no order.
//! - **Keys.** Partition keys and explicit hash keys are kept (the local engine stores the
//!   explicit hash key a producer gave; a remote source's GetRecords does not return it, so
//!   the reverse direction routes by partition key), or replaced by a [`KeyTemplate`].
//! - **Backpressure.** Throttling (`ProvisionedThroughputExceeded`, `LimitExceeded`, per entry
//!   or per request), 5xx answers and connection failures are retried with exponential
//!   backoff and full jitter; anything else (a missing stream, a record the destination
//!   refuses, bad credentials) stops the forwarder with the error. A configurable
//!   [`RateLimit`] paces requests; windows are sent when full or after `linger`.
//! - **Lag and throughput** are in [`ForwardStats`] (records and milliseconds behind).
//!
//! # Modules
//! `source` (the [`Source`] trait, [`LocalSource`]), `sink` ([`Sink`], [`EngineSink`]),
//! `remote` (the AWS SDK: [`KinesisSink`], [`KinesisSource`], client configuration),
//! `checkpoint` ([`EngineCheckpoints`], [`FileCheckpoints`]), `batch` (windows and rounds),
//! `backoff`, `rate`, `record` (keys and re-keying), `stats`, `pump` (one shard's loop) and
//! this file (lineage: which shards run, stopping, caught-up detection).

pub mod backoff;
pub mod batch;
pub mod checkpoint;
pub mod embedded;
mod pump;
pub mod rate;
pub mod record;
pub mod remote;
pub mod runner;
pub mod setup;
pub mod sink;
pub mod source;
pub mod stats;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

pub use backoff::{BackoffPolicy, Failure};
pub use batch::{BatchLimits, Ordering};
pub use checkpoint::{CheckpointStore, EngineCheckpoints, FileCheckpoints, ShardPosition};
pub use rate::RateLimit;
pub use record::KeyTemplate;
pub use remote::{KinesisSink, KinesisSource, RemoteConfig};
pub use sink::{EngineSink, Sink};
pub use source::{LocalSource, Source};
pub use stats::{ForwardStats, StatsSnapshot};

use pump::{PumpCtx, PumpEnd};

/// How the forwarder batches, paces, retries and stops.
#[derive(Debug, Clone)]
pub struct ForwardOptions {
    /// Window (and request) size limits.
    pub limits: BatchLimits,
    /// How long a partial window waits for more records at the tip of a shard.
    pub linger: Duration,
    /// How often a shard read to its tip is polled again (and shards are listed again).
    pub poll_interval: Duration,
    /// Records and bytes per second over all shards.
    pub rate: RateLimit,
    /// Backoff after failures.
    pub backoff: BackoffPolicy,
    /// How records of one key are kept in order.
    pub ordering: Ordering,
    /// Re-key every record with this template.
    pub rekey: Option<KeyTemplate>,
    /// Stop once everything readable was acknowledged (lag zero) instead of running on.
    pub until_caught_up: bool,
    /// After each checkpoint, delete the source's whole segments already forwarded.
    pub keep_until_forwarded: bool,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions {
            limits: BatchLimits::default(),
            linger: Duration::from_millis(100),
            poll_interval: Duration::from_millis(200),
            rate: RateLimit::default(),
            backoff: BackoffPolicy::default(),
            ordering: Ordering::Strict,
            rekey: None,
            until_caught_up: false,
            keep_until_forwarded: false,
        }
    }
}

/// Why the forwarder stopped with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ForwardError(pub String);

/// How a run ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything readable was acknowledged (`until_caught_up`).
    CaughtUp,
    /// The stop signal was given.
    Stopped,
}

/// A forwarder from a [`Source`] to a [`Sink`] with positions in a [`CheckpointStore`].
pub struct Forwarder {
    source: Arc<dyn Source>,
    sink: Arc<dyn Sink>,
    checkpoints: Arc<dyn CheckpointStore>,
    options: Arc<ForwardOptions>,
    stats: Arc<ForwardStats>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("source", &self.source.describe())
            .field("sink", &self.sink.describe())
            .field("options", &self.options)
            .finish()
    }
}

impl Forwarder {
    /// A forwarder; the options are checked here.
    pub fn new(
        source: Arc<dyn Source>,
        sink: Arc<dyn Sink>,
        checkpoints: Arc<dyn CheckpointStore>,
        options: ForwardOptions,
    ) -> Result<Forwarder, ForwardError> {
        options.limits.validate().map_err(ForwardError)?;
        let hour = Duration::from_secs(3600);
        if options.poll_interval.is_zero() || options.poll_interval > hour {
            return Err(ForwardError("the poll interval must be between 1 ms and 1 hour".into()));
        }
        if options.linger > hour {
            return Err(ForwardError("the linger time must be at most 1 hour".into()));
        }
        if options.backoff.base.is_zero() || options.backoff.max < options.backoff.base || options.backoff.max > hour {
            return Err(ForwardError("backoff needs 0 < base <= max <= 1 hour".into()));
        }
        Ok(Forwarder {
            source,
            sink,
            checkpoints,
            options: Arc::new(options),
            stats: Arc::new(ForwardStats::default()),
        })
    }

    /// The live counters (shared: keep the `Arc` to watch a running forwarder).
    pub fn stats(&self) -> Arc<ForwardStats> {
        Arc::clone(&self.stats)
    }

    /// Forward until `stop` turns true, a fatal error, or (with `until_caught_up`) lag zero.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<Outcome, ForwardError> {
        let fatal = |f: Failure| ForwardError(f.message().to_string());
        let positions = self.checkpoints.load().await.map_err(fatal)?;
        let mut finished: BTreeSet<String> =
            positions.iter().filter(|(_, p)| p.finished).map(|(id, _)| id.clone()).collect();
        let acked: HashMap<String, u64> = positions
            .iter()
            .filter_map(|(id, p)| p.last_forwarded.as_deref().and_then(pump::offset_of).map(|o| (id.clone(), o + 1)))
            .collect();
        let ctx = Arc::new(PumpCtx {
            source: Arc::clone(&self.source),
            sink: Arc::clone(&self.sink),
            checkpoints: Arc::clone(&self.checkpoints),
            options: Arc::clone(&self.options),
            stats: Arc::clone(&self.stats),
            rate: Arc::new(tokio::sync::Mutex::new(rate::RateLimiter::new(self.options.rate, Instant::now()))),
            acked: Arc::new(Mutex::new(acked)),
        });
        let (pump_stop_tx, pump_stop) = watch::channel(false);
        let mut pumps: JoinSet<(String, Result<PumpEnd, Failure>)> = JoinSet::new();
        let mut running: HashMap<String, Arc<AtomicBool>> = HashMap::new();
        let mut list_failures = 0u32;
        let result = loop {
            if *stop.borrow() {
                break Ok(Outcome::Stopped);
            }
            let shards = match self.source.list_shards().await {
                Ok(s) => {
                    list_failures = 0;
                    Some(s)
                }
                Err(f) if f.is_retryable() => {
                    self.stats.set_error(&format!("listing the shards of {}: {f}", self.source.describe()));
                    list_failures = list_failures.saturating_add(1);
                    None
                }
                Err(f) => break Err(ForwardError(format!("listing the shards of {}: {f}", self.source.describe()))),
            };
            let mut caught_up = false;
            if let Some(shards) = &shards {
                let listed: BTreeSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
                for s in shards {
                    if finished.contains(&s.shard_id) || running.contains_key(&s.shard_id) {
                        continue;
                    }
                    // A parent no longer listed expired with its records: it cannot hold
                    // anything that must go first.
                    let ready = s.parents.iter().all(|p| finished.contains(p) || !listed.contains(p.as_str()));
                    if !ready {
                        continue;
                    }
                    let idle = Arc::new(AtomicBool::new(false));
                    running.insert(s.shard_id.clone(), Arc::clone(&idle));
                    let start = positions.get(&s.shard_id).cloned().unwrap_or_default();
                    let (ctx, id, stop) = (Arc::clone(&ctx), s.shard_id.clone(), pump_stop.clone());
                    pumps.spawn(async move {
                        let end = pump::run(&ctx, id.clone(), start, stop, idle).await;
                        (id, end)
                    });
                }
                self.update_records_behind(shards, &finished, &ctx).await;
                caught_up = shards
                    .iter()
                    .filter(|s| !finished.contains(&s.shard_id))
                    .all(|s| running.get(&s.shard_id).is_some_and(|idle| idle.load(AtomicOrdering::SeqCst)));
            }
            if self.options.until_caught_up && caught_up {
                break Ok(Outcome::CaughtUp);
            }
            let wait = if list_failures > 0 {
                self.options.backoff.jittered(list_failures)
            } else {
                self.options.poll_interval
            };
            tokio::select! {
                joined = pumps.join_next(), if !pumps.is_empty() => {
                    match joined {
                        Some(Ok((id, Ok(PumpEnd::Finished)))) => {
                            running.remove(&id);
                            finished.insert(id);
                        }
                        Some(Ok((id, Ok(PumpEnd::Stopped)))) => {
                            running.remove(&id);
                        }
                        Some(Ok((_, Err(f)))) => break Err(ForwardError(f.message().to_string())),
                        Some(Err(e)) => break Err(ForwardError(format!("a shard pump failed: {e}"))),
                        None => {}
                    }
                }
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break Ok(Outcome::Stopped);
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        };
        let _ = pump_stop_tx.send(true);
        let mut first_error = None;
        while let Some(joined) = pumps.join_next().await {
            if let Ok((_, Err(f))) = joined {
                first_error.get_or_insert(f);
            }
        }
        if let Ok(shards) = self.source.list_shards().await {
            self.update_records_behind(&shards, &finished, &ctx).await;
        }
        match (result, first_error) {
            (Err(e), _) => {
                self.stats.set_error(&e.0);
                Err(e)
            }
            (Ok(_), Some(f)) => Err(ForwardError(f.message().to_string())),
            (Ok(o), None) => Ok(o),
        }
    }

    async fn update_records_behind(&self, shards: &[source::SourceShard], finished: &BTreeSet<String>, ctx: &PumpCtx) {
        let Ok(Some(extents)) = self.source.extents().await else {
            return;
        };
        let extents: BTreeMap<&str, &source::SourceExtent> = extents.iter().map(|x| (x.shard_id.as_str(), x)).collect();
        let acked = ctx.acked.lock().unwrap_or_else(|p| p.into_inner());
        let behind = shards
            .iter()
            .filter(|s| !finished.contains(&s.shard_id))
            .filter_map(|s| extents.get(s.shard_id.as_str()))
            .map(|x| {
                let from = acked.get(x.shard_id.as_str()).copied().unwrap_or(0).max(x.first_offset);
                x.next_offset.saturating_sub(from)
            })
            .sum();
        self.stats.set_records_behind(Some(behind));
    }
}
