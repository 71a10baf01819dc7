//! Any Kinesis endpoint through the official AWS SDK (`aws-sdk-kinesis`): the client
//! configuration ([`RemoteConfig`]: the standard chain for region and credentials —
//! environment variables, shared config and credentials files, web identity, ECS and EC2
//! instance metadata — with optional endpoint and region overrides), [`KinesisSink`]
//! (PutRecords, the forward direction) and [`KinesisSource`] (ListShards, GetShardIterator,
//! GetRecords, the reverse direction).
//!
//! The SDK's own retries are off: the forwarder retries with its own backoff, so it can keep
//! a key's order across per-entry failures and count every retry. Each call has a timeout
//! (a dead connection is a retryable failure, not a hang).

use std::time::Duration;

use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use aws_sdk_kinesis::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use bytes::Bytes;

use crate::forward::backoff::Failure;
use crate::forward::batch::EntryOutcome;
use crate::forward::record::{OutRecord, SourceRecord};
use crate::forward::sink::{check_answer, Sink};
use crate::forward::source::{BoxFuture, ShardRead, Source, SourceShard};

/// How to reach a Kinesis endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteConfig {
    /// The endpoint (`None`: AWS's for the region).
    pub endpoint_url: Option<String>,
    /// The region (`None`: from the standard chain: `AWS_REGION`, the profile, IMDS).
    pub region: Option<String>,
    /// Per-attempt timeout of a call (default 30 s).
    pub call_timeout: Option<Duration>,
    /// Connection timeout (default 5 s).
    pub connect_timeout: Option<Duration>,
}

impl RemoteConfig {
    /// Build an SDK client: the standard configuration chain with this config's overrides,
    /// HTTPS through rustls (ring), no SDK retries.
    pub async fn client(&self) -> Result<Client, String> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(5)))
            .operation_attempt_timeout(self.call_timeout.unwrap_or(Duration::from_secs(30)))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts);
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let shared = loader.load().await;
        if shared.region().is_none() {
            return Err("no AWS region: give --region or set AWS_REGION (or a region in the AWS profile)".into());
        }
        Ok(Client::new(&shared))
    }
}

/// A stream named by name or ARN (an ARN is passed as `StreamARN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTarget(pub String);

impl StreamTarget {
    fn is_arn(&self) -> bool {
        self.0.starts_with("arn:")
    }
}

/// Classify an SDK failure.
pub fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &str,
    e: &SdkError<E, HttpResponse>,
) -> Failure {
    match e {
        SdkError::ServiceError(ctx) => {
            let err = ctx.err();
            let message =
                format!("{op}: {}: {}", err.code().unwrap_or("unknown error"), err.message().unwrap_or("no message"));
            Failure::from_kinesis(err.code(), Some(ctx.raw().status().as_u16()), message)
        }
        SdkError::TimeoutError(_) => Failure::Unreachable(format!("{op}: timed out")),
        SdkError::DispatchFailure(d) => {
            if d.is_io() || d.is_timeout() {
                Failure::Unreachable(format!("{op}: {}", error_chain(e)))
            } else if d.is_user() {
                Failure::Fatal(format!("{op}: {}", error_chain(e)))
            } else {
                Failure::Unreachable(format!("{op}: {}", error_chain(e)))
            }
        }
        SdkError::ResponseError(_) => Failure::Unreachable(format!("{op}: {}", error_chain(e))),
        // Building the request failed (no credentials, a bad endpoint): retrying cannot help.
        _ => Failure::Fatal(format!("{op}: {}", error_chain(e))),
    }
}

/// An error and its sources, as one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// PutRecords to a Kinesis stream.
#[derive(Debug, Clone)]
pub struct KinesisSink {
    client: Client,
    stream: StreamTarget,
    endpoint: String,
}

impl KinesisSink {
    /// The stream `stream` (a name or an ARN) at the client's endpoint (`endpoint` is only
    /// for messages).
    pub fn new(client: Client, stream: impl Into<String>, endpoint: impl Into<String>) -> KinesisSink {
        KinesisSink { client, stream: StreamTarget(stream.into()), endpoint: endpoint.into() }
    }
}

impl Sink for KinesisSink {
    fn describe(&self) -> String {
        format!("stream {} at {}", self.stream.0, self.endpoint)
    }

    fn put_records<'a>(&'a self, records: Vec<&'a OutRecord>) -> BoxFuture<'a, Result<Vec<EntryOutcome>, Failure>> {
        Box::pin(async move {
            let sent = records.len();
            let mut entries = Vec::with_capacity(sent);
            for r in &records {
                let entry = PutRecordsRequestEntry::builder()
                    .data(Blob::new(r.data.to_vec()))
                    .partition_key(r.partition_key.clone())
                    .set_explicit_hash_key(r.explicit_hash_key.map(|h| h.to_string()))
                    .build()
                    .map_err(|e| Failure::Fatal(format!("PutRecords entry: {e}")))?;
                entries.push(entry);
            }
            let mut req = self.client.put_records().set_records(Some(entries));
            req = if self.stream.is_arn() { req.stream_arn(&self.stream.0) } else { req.stream_name(&self.stream.0) };
            let out = req.send().await.map_err(|e| classify("PutRecords", &e))?;
            let outcomes = out
                .records()
                .iter()
                .map(|r| match r.error_code() {
                    None => EntryOutcome::Accepted,
                    Some(code) => EntryOutcome::Failed {
                        code: code.to_string(),
                        message: r.error_message().unwrap_or_default().to_string(),
                    },
                })
                .collect();
            check_answer(sent, outcomes, &self.describe())
        })
    }
}

/// A Kinesis stream read through ListShards, GetShardIterator and GetRecords.
#[derive(Debug, Clone)]
pub struct KinesisSource {
    client: Client,
    stream: StreamTarget,
    endpoint: String,
}

impl KinesisSource {
    /// The stream `stream` (a name or an ARN) at the client's endpoint.
    pub fn new(client: Client, stream: impl Into<String>, endpoint: impl Into<String>) -> KinesisSource {
        KinesisSource { client, stream: StreamTarget(stream.into()), endpoint: endpoint.into() }
    }

    /// How many shards are open now (to create a local copy with as many).
    pub async fn open_shard_count(&self) -> Result<usize, Failure> {
        Ok(self.list_shards().await?.iter().filter(|s| !s.closed).count())
    }
}

impl Source for KinesisSource {
    fn describe(&self) -> String {
        format!("stream {} at {}", self.stream.0, self.endpoint)
    }

    fn list_shards(&self) -> BoxFuture<'_, Result<Vec<SourceShard>, Failure>> {
        Box::pin(async move {
            let mut shards = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut req = self.client.list_shards();
                req = match &token {
                    Some(t) => req.next_token(t),
                    None if self.stream.is_arn() => req.stream_arn(&self.stream.0),
                    None => req.stream_name(&self.stream.0),
                };
                let out = req.send().await.map_err(|e| classify("ListShards", &e))?;
                shards.extend(out.shards().iter().map(|s| {
                    SourceShard {
                        shard_id: s.shard_id().to_string(),
                        parents: s
                            .parent_shard_id()
                            .into_iter()
                            .chain(s.adjacent_parent_shard_id())
                            .map(str::to_string)
                            .collect(),
                        closed: s.sequence_number_range().and_then(|r| r.ending_sequence_number()).is_some(),
                    }
                }));
                match out.next_token() {
                    Some(t) => token = Some(t.to_string()),
                    None => return Ok(shards),
                }
            }
        })
    }

    fn shard_iterator<'a>(
        &'a self,
        shard_id: &'a str,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, Failure>> {
        Box::pin(async move {
            let mut req = self.client.get_shard_iterator().shard_id(shard_id);
            req = if self.stream.is_arn() { req.stream_arn(&self.stream.0) } else { req.stream_name(&self.stream.0) };
            req = match after {
                Some(seq) => {
                    req.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(seq)
                }
                None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let out = req.send().await.map_err(|e| match classify("GetShardIterator", &e) {
                Failure::Fatal(m) if m.contains("ResourceNotFoundException") => Failure::ShardGone(m),
                f => f,
            })?;
            out.shard_iterator()
                .map(str::to_string)
                .ok_or_else(|| Failure::Fatal(format!("GetShardIterator for {shard_id} returned no iterator")))
        })
    }

    fn get_records<'a>(&'a self, iterator: &'a str, limit: u32) -> BoxFuture<'a, Result<ShardRead, Failure>> {
        Box::pin(async move {
            let limit = i32::try_from(limit.clamp(1, 10_000)).unwrap_or(10_000);
            let out =
                self.client.get_records().shard_iterator(iterator).limit(limit).send().await.map_err(
                    |e| match classify("GetRecords", &e) {
                        Failure::Fatal(m) if m.contains("ResourceNotFoundException") => Failure::ShardGone(m),
                        f => f,
                    },
                )?;
            let records = out
                .records()
                .iter()
                .map(|r| SourceRecord {
                    sequence_number: r.sequence_number().to_string(),
                    offset: None,
                    arrival_ms: r
                        .approximate_arrival_timestamp()
                        .and_then(|t| t.to_millis().ok())
                        .unwrap_or_else(crate::forward::stats::now_ms),
                    data: Bytes::copy_from_slice(r.data().as_ref()),
                    partition_key: r.partition_key().filter(|k| !k.is_empty()).map(str::to_string),
                    explicit_hash_key: None,
                })
                .collect();
            Ok(ShardRead {
                records,
                next_iterator: out.next_shard_iterator().map(str::to_string),
                millis_behind_latest: out.millis_behind_latest().unwrap_or(0),
            })
        })
    }
}
