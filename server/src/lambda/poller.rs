//! One mapping's poller: its definition turned into the library driver's configuration and
//! an [`EventSourceMapping`] with a [`FunctionHandler`], and one step of it that also notices
//! when the stream is gone (deleted, or deleted and created again under the same ARN).

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use shardlog::engine::StreamRef;
use shardlog::event_source::{
    EventSourceConfig, EventSourceMapping, EventSourcePosition, FilterCriteria, FunctionResponseType, StepReport,
};
use shardlog::{Engine, Error};

use super::destination::Destinations;
use super::errors::LambdaError;
use super::invoke::{FunctionHandler, Functions};
use super::model::{EventSource, FunctionRef, MappingDef};
use super::status::Live;

/// What building a poller needs.
pub(crate) struct BuildCtx<'a> {
    pub engine: &'a Engine,
    pub region: &'a str,
    pub account: &'a str,
    pub functions: &'a Functions,
    pub destinations: &'a Arc<Destinations>,
}

/// Stops a poller thread: a flag and a condvar its idle wait watches.
#[derive(Debug, Default)]
pub(crate) struct StopSignal {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl StopSignal {
    /// Ask the poller to stop after its current step.
    pub(crate) fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// True once stopping was asked.
    pub(crate) fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait `d`, or less if stopping is asked meanwhile.
    pub(crate) fn wait(&self, d: Duration) {
        let g = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.cv.wait_timeout_while(g, d, |stopped| !*stopped);
    }
}

/// A running mapping: the driver and what its poller checks between steps.
#[derive(Debug)]
pub(crate) struct Poller {
    mapping: EventSourceMapping,
    live: Arc<Live>,
    /// The stream's ARN.
    pub(crate) stream_arn: String,
    /// The stream's creation time (ms) when the poller was built.
    pub(crate) stream_creation_ms: i64,
    last_error: Option<String>,
}

/// What one poller step came to.
pub(crate) enum Stepped {
    /// Something happened: step again at once.
    Busy(StepReport),
    /// Nothing to do (or polling failed): wait the poll interval.
    Idle(StepReport),
    /// The stream is gone (the reason).
    StreamGone(String),
}

impl Poller {
    /// One step of the driver, and whether the stream still exists.
    pub(crate) fn step(&mut self, engine: &Engine) -> Stepped {
        match self.mapping.poll_once() {
            Ok(r) => {
                self.live.record_step(&r);
                self.last_error = None;
                if !r.is_idle() {
                    return Stepped::Busy(r);
                }
                match self.stream_gone(engine) {
                    Some(why) => Stepped::StreamGone(why),
                    None => Stepped::Idle(r),
                }
            }
            Err(e) => {
                if let Some(why) = self.stream_gone(engine) {
                    return Stepped::StreamGone(why);
                }
                let text = e.to_string();
                if self.last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(uuid = self.mapping.config().uuid, error = %e, "event source mapping: polling failed");
                    self.last_error = Some(text);
                }
                self.live.set_last_result(&format!("PROBLEM: {e}"));
                Stepped::Idle(StepReport::default())
            }
        }
    }

    /// Why the mapping's stream no longer exists, if it does not.
    fn stream_gone(&self, engine: &Engine) -> Option<String> {
        match engine.describe_stream_summary(StreamRef::arn(self.stream_arn.clone())) {
            Err(Error::ResourceNotFound { .. }) => Some(format!("PROBLEM: Stream {} was deleted", self.stream_arn)),
            Ok(s) if s.stream_creation_timestamp.as_millis() != self.stream_creation_ms => {
                Some(format!("PROBLEM: Stream {} was deleted and created again", self.stream_arn))
            }
            _ => None,
        }
    }
}

/// Lambda's error for an engine error about the event source.
pub(crate) fn source_error(arn: &str, e: Error) -> LambdaError {
    match e {
        Error::ResourceNotFound { message } | Error::InvalidArgument { message } | Error::Validation { message } => {
            LambdaError::invalid_parameter(format!("EventSourceArn {arn}: {message}"))
        }
        e if e.is_client_error() => LambdaError::invalid_parameter(format!("EventSourceArn {arn}: {e}")),
        e => LambdaError::service(e),
    }
}

/// `def` as the driver's configuration, every parameter checked.
pub(crate) fn config(
    env: &BuildCtx<'_>,
    def: &MappingDef,
    live: &Arc<Live>,
) -> Result<(EventSourceConfig, FunctionRef), LambdaError> {
    let source = EventSource::parse(&def.event_source_arn)?;
    let function = FunctionRef::parse(&def.function_arn, env.region, env.account)?;
    let position = match (def.starting_position.as_str(), def.starting_position_timestamp_ms) {
        ("TRIM_HORIZON", _) => EventSourcePosition::TrimHorizon,
        ("LATEST", _) => EventSourcePosition::Latest,
        ("AT_TIMESTAMP", Some(ms)) => EventSourcePosition::AtTimestamp(shardlog::engine::Timestamp(ms)),
        (p, _) => return Err(LambdaError::invalid_parameter(format!("StartingPosition {p:?} is not usable"))),
    };
    let mut cfg = EventSourceConfig::new(StreamRef::arn(source.stream_arn.clone()), function.arn.clone(), position);
    cfg.uuid = def.uuid.clone();
    cfg.consumer_arn = source.consumer_arn.clone();
    cfg.batch_size = def.batch_size;
    cfg.maximum_batching_window_in_seconds = def.maximum_batching_window_in_seconds;
    cfg.bisect_batch_on_function_error = def.bisect_batch_on_function_error;
    cfg.maximum_retry_attempts = def.maximum_retry_attempts;
    cfg.maximum_record_age_in_seconds = def.maximum_record_age_in_seconds;
    cfg.parallelization_factor = def.parallelization_factor;
    cfg.tumbling_window_in_seconds = def.tumbling_window_in_seconds;
    if def.function_response_types.iter().any(|t| t == "ReportBatchItemFailures") {
        cfg.function_response_types = vec![FunctionResponseType::ReportBatchItemFailures];
    }
    if let Some(patterns) = &def.filter_patterns {
        let criteria = FilterCriteria::parse(patterns).map_err(|e| LambdaError::invalid_parameter(e.0))?;
        cfg.filter = Some(criteria.into_record_filter());
    }
    if let Some(d) = &def.on_failure_destination {
        cfg.on_failure = Some(env.destinations.sink(&def.uuid, d, Arc::clone(live)));
    }
    cfg.validate(env.engine.config().clock.now_ms()).map_err(|e| match e {
        Error::InvalidArgument { message } => LambdaError::invalid_parameter(message),
        e => LambdaError::service(e),
    })?;
    Ok((cfg, function))
}

/// Check `def` against the engine (its stream, its consumer) and build its driver.
pub(crate) fn build(env: &BuildCtx<'_>, def: &MappingDef, live: &Arc<Live>) -> Result<Poller, LambdaError> {
    let (cfg, function) = config(env, def, live)?;
    let source = EventSource::parse(&def.event_source_arn)?;
    let summary = env
        .engine
        .describe_stream_summary(StreamRef::arn(source.stream_arn.clone()))
        .map_err(|e| source_error(&def.event_source_arn, e))?;
    let handler = Arc::new(FunctionHandler {
        uuid: Arc::from(def.uuid.as_str()),
        backend: env.functions.backend(&function),
        function,
        live: Arc::clone(live),
        clock: Arc::clone(&env.engine.config().clock),
    });
    let mapping =
        EventSourceMapping::new(env.engine, cfg, handler).map_err(|e| source_error(&def.event_source_arn, e))?;
    Ok(Poller {
        mapping,
        live: Arc::clone(live),
        stream_arn: summary.stream_arn,
        stream_creation_ms: summary.stream_creation_timestamp.as_millis(),
        last_error: None,
    })
}
