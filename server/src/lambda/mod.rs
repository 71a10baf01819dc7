//! Lambda event-source mappings over the wire: the Lambda ESM control API on the same port
//! as Kinesis, and real functions invoked with each batch.
//!
//! - `api`: the five operations (Create/Get/Update/Delete/ListEventSourceMappings, Lambda's
//!   REST-JSON protocol under `/2015-03-31/`), decoding and checking their members;
//!   `errors`: Lambda's error shapes; `model`: a mapping's definition, state and JSON.
//! - `registry`: the mappings and their state machine; `poller`: each enabled one's poller, an
//!   [`EventSourceMapping`](shardlog::event_source::EventSourceMapping), the library's
//!   driver, with all of Lambda's batching, retry, bisection, partial-failure, record-age,
//!   tumbling-window, filtering and lineage rules; `store`: their crash-atomic file;
//!   `status`: live `LastProcessingResult` and counters.
//! - `invoke`: running a function — the Lambda Invoke API (`--lambda-endpoint`) or a local
//!   command (`--lambda-command NAME=CMD`), over [`crate::outbound`]'s signed HTTP;
//!   `destination`: on-failure documents (local files, or SQS with `--sqs-endpoint`).
//! - `metrics`: per-mapping series on `/metrics`. The HTTP side (body limits, the blocking
//!   pool) is the server's (`serve::lambda_http`); [`Lambda::handle`] answers one request,
//!   its authentication checked by [`crate::auth`].
//!
//! Checkpoints are the engine's (stored in its catalog under the mapping's UUID), so they
//! are as crash-safe as the stream itself; a restart resumes every enabled mapping after its
//! last checkpoint.

pub mod api;
pub mod destination;
pub mod errors;
pub mod invoke;
pub mod metrics;
pub mod model;
mod poller;
pub mod registry;
pub mod status;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use shardlog::event_source::StepReport;
use shardlog::Engine;

use crate::auth;
use crate::outbound::{Abort, Credentials, Outbound};
use crate::ServeError;
use api::{ListQuery, Members, Op};
use destination::Destinations;
use errors::LambdaError;
use invoke::command::CommandBackend;
use invoke::http::HttpBackend;
use invoke::Backend;
use invoke::Functions;
use model::FunctionRef;
use registry::{Env, Registry};

/// The `serve` arguments of the Lambda side.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LambdaArgs {
    /// Invoke functions through the Lambda Invoke API at URL (AWS Lambda's API as `sam local
    /// start-lambda`, the Lambda Runtime Interface Emulator and LocalStack serve it): `POST
    /// {URL}/2015-03-31/functions/{FunctionName}/invocations`, SigV4-signed with
    /// --access-key/--secret-key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
    #[arg(long, value_name = "URL")]
    pub lambda_endpoint: Option<String>,
    /// Run function NAME as a local command (`sh -c CMD`): the event JSON on stdin, the
    /// response JSON on stdout, a non-zero exit is a function error. Repeatable; takes
    /// precedence over --lambda-endpoint for NAME.
    #[arg(long, value_name = "NAME=CMD")]
    pub lambda_command: Vec<String>,
    /// How long one invocation may take before it fails as timed out.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=900))]
    pub lambda_timeout_secs: u64,
    /// Send the on-failure documents of mappings whose destination is an SQS queue ARN to
    /// this SQS-compatible endpoint (AWS JSON protocol). Without it they are kept as files
    /// under DIR/lambda/on-failure/.
    #[arg(long, value_name = "URL")]
    pub sqs_endpoint: Option<String>,
    /// How long a mapping with nothing to do waits before it polls its shards again.
    #[arg(long, default_value_t = 1000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub lambda_poll_interval_ms: u64,
}

/// How the Lambda side is set up.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    /// `--lambda-endpoint`.
    pub endpoint: Option<String>,
    /// `--lambda-command`, as (name, command).
    pub commands: Vec<(String, String)>,
    /// `--lambda-timeout-secs`.
    pub timeout: Duration,
    /// `--sqs-endpoint`.
    pub sqs_endpoint: Option<String>,
    /// `--lambda-poll-interval-ms`.
    pub poll_interval: Duration,
    /// Credentials outgoing requests are signed with.
    pub credentials: Credentials,
    /// Pollers are stepped by the caller ([`Lambda::step`]) instead of running on threads:
    /// for tests that drive time with a manual clock.
    pub manual: bool,
    /// Verify the signatures of incoming requests (`--verify-sigv4`).
    pub verifier: Option<auth::Verifier>,
    /// Largest request body (`--max-body-bytes`).
    pub max_body_bytes: u64,
}

impl LambdaConfig {
    /// From the command line. Credentials: `access_key`/`secret_key` when given, else the
    /// standard `AWS_*` variables, else a fixed local pair (local endpoints do not check).
    pub fn from_args(
        args: &LambdaArgs,
        access_key: Option<&str>,
        secret_key: Option<&str>,
        verifier: Option<auth::Verifier>,
        max_body_bytes: u64,
    ) -> Result<LambdaConfig, ServeError> {
        if let Some(e) = &args.lambda_endpoint {
            Outbound::check_endpoint(e).map_err(|m| ServeError::usage(format!("--lambda-endpoint: {m}")))?;
        }
        if let Some(e) = &args.sqs_endpoint {
            Outbound::check_endpoint(e).map_err(|m| ServeError::usage(format!("--sqs-endpoint: {m}")))?;
        }
        let mut commands: Vec<(String, String)> = Vec::new();
        for c in &args.lambda_command {
            let Some((name, cmd)) = c.split_once('=') else {
                return Err(ServeError::usage(format!("--lambda-command {c:?}: expected NAME=CMD")));
            };
            let f = FunctionRef::parse(name, "us-east-1", "000000000000")
                .ok()
                .filter(|f| f.name == name)
                .ok_or_else(|| {
                    ServeError::usage(format!(
                        "--lambda-command {c:?}: {name:?} is not a function name (1 to 64 of a-z, A-Z, 0-9, '-', '_', '.')"
                    ))
                })?;
            if cmd.trim().is_empty() {
                return Err(ServeError::usage(format!("--lambda-command {c:?}: the command is empty")));
            }
            if commands.iter().any(|(n, _)| *n == f.name) {
                return Err(ServeError::usage(format!("--lambda-command: function {name:?} is given twice")));
            }
            commands.push((f.name, cmd.to_string()));
        }
        let credentials = Credentials::resolve(access_key.zip(secret_key));
        Ok(LambdaConfig {
            endpoint: args.lambda_endpoint.clone(),
            commands,
            timeout: Duration::from_secs(args.lambda_timeout_secs),
            sqs_endpoint: args.sqs_endpoint.clone(),
            poll_interval: Duration::from_millis(args.lambda_poll_interval_ms),
            credentials,
            manual: false,
            verifier,
            max_body_bytes,
        })
    }
}

/// One response of the Lambda API.
#[derive(Debug, Clone)]
pub struct LambdaResponse {
    /// Status.
    pub status: StatusCode,
    /// JSON body.
    pub body: Vec<u8>,
    /// The operation (`-` when none matched).
    pub op: &'static str,
    /// The error code, for `x-amzn-ErrorType`.
    pub error: Option<&'static str>,
    /// The error message (for the log).
    pub message: Option<String>,
}

impl LambdaResponse {
    /// The answer of error `e` to operation `op`.
    pub(crate) fn error(op: &'static str, e: LambdaError) -> LambdaResponse {
        LambdaResponse { status: e.status, body: e.body(), op, error: Some(e.code), message: Some(e.message) }
    }
}

/// The Lambda side of one server (cheap to clone).
#[derive(Debug, Clone)]
pub struct Lambda {
    registry: Arc<Registry>,
    verifier: Option<auth::Verifier>,
    max_body_bytes: u64,
}

impl Lambda {
    /// Load the mappings stored under `engine`'s data directory and start the enabled ones.
    pub fn open(engine: &Engine, config: LambdaConfig) -> Result<Lambda, ServeError> {
        let ec = engine.config();
        let (region, account) = (ec.region.clone(), ec.account_id.clone());
        let abort = Arc::new(Abort::default());
        let needs_http = config.endpoint.is_some() || config.sqs_endpoint.is_some();
        let outbound = if needs_http {
            let o = Outbound::new(config.credentials.clone(), &region)
                .map_err(|e| ServeError::run(format!("cannot start the Lambda HTTP client: {e}")))?;
            Some(Arc::new(o))
        } else {
            None
        };
        let mut functions = Functions { commands: HashMap::new(), endpoint: None };
        for (name, cmd) in &config.commands {
            let b: Arc<dyn Backend> = Arc::new(CommandBackend::new(cmd, config.timeout, &region, Arc::clone(&abort)));
            functions.commands.insert(name.clone(), b);
        }
        if let (Some(url), Some(out)) = (&config.endpoint, &outbound) {
            functions.endpoint =
                Some(Arc::new(HttpBackend::new(url, Arc::clone(out), config.timeout, Arc::clone(&abort))));
        }
        let root = engine.root().join("lambda");
        let sqs = match (&config.sqs_endpoint, &outbound) {
            (Some(url), Some(out)) => Some((url.clone(), Arc::clone(out), Arc::clone(&abort))),
            _ => None,
        };
        let env = Env {
            engine: engine.clone(),
            region,
            account,
            functions,
            destinations: Arc::new(Destinations::new(root.join("on-failure"), sqs)),
            poll_interval: config.poll_interval,
            manual: config.manual,
            abort,
        };
        let registry = Registry::open(env, &root)
            .map_err(|e| ServeError::run(format!("cannot load the event source mappings: {e}")))?;
        Ok(Lambda { registry, verifier: config.verifier, max_body_bytes: config.max_body_bytes })
    }

    /// Largest request body.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_body_bytes
    }

    /// Answer one request (blocking: run it off the async executor). `host` is the
    /// authority the request was sent to (for signature checks).
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        host: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> LambdaResponse {
        let op = match Op::route(method, path) {
            Ok(op) => op,
            Err(e) => return LambdaResponse::error("-", e),
        };
        let name = op.name();
        let request = auth::Request { service: "lambda", method: method.as_str(), path, query, host, headers, body };
        if let Err(e) = auth::check(&request, self.verifier.as_ref()) {
            return LambdaResponse::error(name, LambdaError::auth(e.code, e.message));
        }
        let result = match &op {
            Op::Create => Members::parse(body, true).and_then(|m| self.registry.create(m)),
            Op::Update(uuid) => Members::parse(body, false).and_then(|m| self.registry.update(uuid, m)),
            Op::Get(uuid) => self.registry.get(uuid),
            Op::Delete(uuid) => self.registry.delete(uuid),
            Op::List => ListQuery::parse(query).and_then(|q| self.registry.list(&q)),
        };
        match result {
            Ok(v) => LambdaResponse {
                status: op.success_status(),
                body: v.to_string().into_bytes(),
                op: name,
                error: None,
                message: None,
            },
            Err(e) => LambdaResponse::error(name, e),
        }
    }

    /// Manual mode: one poller step of mapping `uuid` (`None` if it is not running).
    pub fn step(&self, uuid: &str) -> Option<StepReport> {
        self.registry.step(uuid)
    }

    /// The registry (checkpoints, counters, on-failure directories).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The `/metrics` collector of the mappings.
    pub fn metrics_collector(&self) -> metrics::LambdaCollector {
        metrics::LambdaCollector::new(Arc::clone(&self.registry))
    }

    /// Stop every poller and store the final state.
    pub fn shutdown(&self) {
        self.registry.shutdown();
    }
}
