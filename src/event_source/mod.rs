//! An AWS Lambda Kinesis event-source mapping over an [`Engine`](crate::Engine) stream:
//! the same parameters, batching, ordering, checkpoints, retries, bisection, partial batch
//! responses, on-failure documents and tumbling windows (kinesis-behaviour.md §9), invoking a
//! [`Handler`] in-process.
//!
//! - [`config`]: [`EventSourceConfig`] (Lambda's parameters, ranges and defaults).
//! - [`event`]: the [`KinesisEvent`] a handler receives; [`response`]: the [`Handler`]
//!   trait, [`HandlerResponse`] and the rules that judge it; [`failure`]: the
//!   [`OnFailureDocument`]. With the `json` feature all of these have Lambda's exact JSON.
//! - `filter` (feature `json`): `FilterCriteria`, Lambda's event-filter grammar, applied
//!   through [`EventSourceConfig::filter`].
//! - `driver`: [`EventSourceMapping`] (discovery, lineage, stepping, background runner);
//!   `shard`: polling one shard and its checkpoint; `lane`: one lane's batches, retries,
//!   bisection, expiry and tumbling window; `window`: window bounds.
//!
//! # Semantics in brief
//! - A batch holds records of one shard, in order: up to `BatchSize`, cut before the event
//!   JSON would pass 6 MB; it is invoked when full, when `MaximumBatchingWindowInSeconds` has
//!   passed since its first record was read (at once with 0), or when the shard has ended.
//! - Full success moves the checkpoint past the batch. With `ReportBatchItemFailures`, a
//!   partial failure moves it to just before the lowest reported sequence number and retries
//!   from that record (later records of the batch are delivered again). An empty list,
//!   `batchItemFailures: null`, an empty object and a null response are success; an empty,
//!   null or misspelled `itemIdentifier`, or one that is not a sequence number of the batch,
//!   fails the whole batch (for the last case the sources conflict: LocalStack fails the
//!   batch, fakecloud ignores the item; failing it never skips a record).
//! - A failed batch is retried at the next step, `MaximumRetryAttempts` times (−1: until the
//!   records expire); partial failures count. With `BisectBatchOnFunctionError` a function
//!   error splits the batch in halves (first half first) without counting a retry. Records
//!   older than `MaximumRecordAgeInSeconds` are skipped before an invocation. A skipped batch
//!   goes to the on-failure destination (`RetryAttemptsExhausted` / `RecordAgeExpired`) and
//!   processing goes on.
//! - `ParallelizationFactor` N: a shard's records are dealt to N lanes by the MD5 of their
//!   partition key; lanes run concurrently, each one batch at a time, so every key stays in
//!   order; the checkpoint only covers records every lane has finished.
//! - A handler error made with `FunctionError::not_invoked` (the invocation never happened,
//!   e.g. its caller is shutting down) is Lambda's error before invocation: the batch is
//!   retried later without counting a retry and without bisection.
//! - `FilterCriteria`: a record that matches no filter is dropped before batching and the
//!   checkpoint moves past it as if it had been processed.
//! - Lineage: a child shard starts only once its parent (both parents of a merge) is
//!   checkpointed `finished`. Checkpoints are stored in the engine under the mapping's UUID:
//!   a new mapping with the same UUID resumes after them (at least once, in order per shard
//!   and per key).
//! - Tumbling windows: epoch-aligned windows over arrival time, per lane; each invocation
//!   gets the state the previous one returned (a response without `state` fails the batch);
//!   once the window is over (the engine clock passed its end with the shard read to its
//!   tip, a later record was read, or the shard ended) its last invocation has
//!   `isFinalInvokeForWindow` (with the window's remaining records, or none). Records of a
//!   window are checkpointed only when its final invoke succeeds, so a restart replays the
//!   window with a fresh state. A state over 1 MB ends the window early
//!   (`isWindowTerminatedEarly`), and the window continues with a fresh state.

pub mod config;
mod driver;
pub mod event;
pub mod failure;
#[cfg(feature = "json")]
pub mod filter;
#[cfg(feature = "json")]
mod json;
mod lane;
pub mod response;
mod shard;
mod time;
mod window;

pub use config::{EventSourceConfig, EventSourcePosition, FunctionResponseType, OnFailureDestination, RecordFilter};
pub use driver::{EventSourceMapping, RunningMapping, StepReport, StopHandle};
pub use event::{KinesisData, KinesisEvent, KinesisEventRecord, TimeWindow, WindowState};
pub use failure::{FailureCondition, KinesisBatchInfo, OnFailureDocument, RequestContext, ResponseContext};
#[cfg(feature = "json")]
pub use filter::{FilterCriteria, FilterError};
pub use response::{BatchFailure, BatchItemFailure, FunctionError, Handler, HandlerResponse, ItemIdentifier};
pub use time::{iso8601_millis, iso8601_secs};
