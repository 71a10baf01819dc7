//! Where records come from: the [`Source`] trait (ListShards, GetShardIterator, GetRecords
//! in Kinesis' shapes) and [`LocalSource`], a stream of a local [`Engine`]. The remote
//! source (any Kinesis endpoint, for the reverse direction) is in `remote`.

use std::future::Future;
use std::pin::Pin;

use shardlog::engine::types::{GetRecordsInput, GetShardIteratorInput, ListShardsInput, ShardIteratorType, StreamRef};
use shardlog::{Engine, Error};

use crate::forward::backoff::Failure;
use crate::forward::record::SourceRecord;

/// A boxed, sendable future (the traits here are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A shard of the source stream, as ListShards shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceShard {
    /// `ShardId`.
    pub shard_id: String,
    /// `ParentShardId` and `AdjacentParentShardId`.
    pub parents: Vec<String>,
    /// The shard was closed by a split or merge.
    pub closed: bool,
}

/// One GetRecords answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRead {
    /// The records, in shard order.
    pub records: Vec<SourceRecord>,
    /// `NextShardIterator` (`None`: a closed shard read to its end).
    pub next_iterator: Option<String>,
    /// `MillisBehindLatest`.
    pub millis_behind_latest: i64,
}

/// The retained offsets of a source shard (for the lag in records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceExtent {
    /// The shard.
    pub shard_id: String,
    /// Offset of the oldest retained record.
    pub first_offset: u64,
    /// One past the newest record.
    pub next_offset: u64,
}

/// A stream to read, shard by shard.
pub trait Source: Send + Sync {
    /// A human-readable name (for messages).
    fn describe(&self) -> String;
    /// Every shard (ListShards with its pagination).
    fn list_shards(&self) -> BoxFuture<'_, Result<Vec<SourceShard>, Failure>>;
    /// A shard iterator just after `after` (a sequence number of the shard), or at the trim
    /// horizon.
    fn shard_iterator<'a>(
        &'a self,
        shard_id: &'a str,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, Failure>>;
    /// GetRecords.
    fn get_records<'a>(&'a self, iterator: &'a str, limit: u32) -> BoxFuture<'a, Result<ShardRead, Failure>>;
    /// The retained offsets of every shard, when the source knows them (`None` otherwise).
    fn extents(&self) -> BoxFuture<'_, Result<Option<Vec<SourceExtent>>, Failure>> {
        Box::pin(async { Ok(None) })
    }
    /// Delete whole segments of `shard_id` at or before sequence number `through` ("keep
    /// until forwarded"). Returns the bytes freed, `None` if the source cannot trim.
    fn trim_through<'a>(&'a self, shard_id: &'a str, through: &'a str) -> BoxFuture<'a, Result<Option<u64>, Failure>> {
        let _ = (shard_id, through);
        Box::pin(async { Ok(None) })
    }
}

/// Map an engine error: throttling and expiry are retried, a missing shard has expired,
/// everything else stops the forwarder.
pub(crate) fn engine_failure(e: Error, what: &str) -> Failure {
    let message = format!("{what}: {e}");
    match e {
        Error::ProvisionedThroughputExceeded { .. } | Error::LimitExceeded { .. } => Failure::Throttled(message),
        Error::ExpiredIterator { .. } => Failure::ExpiredIterator(message),
        Error::ResourceNotFound { .. } => Failure::ShardGone(message),
        _ => Failure::Fatal(message),
    }
}

/// Run a blocking engine call off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Failure::Fatal(format!("engine call failed: {e}")))?
}

/// A stream of a local engine.
#[derive(Debug, Clone)]
pub struct LocalSource {
    engine: Engine,
    stream: StreamRef,
}

impl LocalSource {
    /// The stream `stream` of `engine`.
    pub fn new(engine: Engine, stream: StreamRef) -> LocalSource {
        LocalSource { engine, stream }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The stream.
    pub fn stream(&self) -> &StreamRef {
        &self.stream
    }
}

impl Source for LocalSource {
    fn describe(&self) -> String {
        let name = self.stream.stream_name.as_deref().or(self.stream.stream_arn.as_deref()).unwrap_or("?");
        format!("local stream {name} in {}", self.engine.root().display())
    }

    fn list_shards(&self) -> BoxFuture<'_, Result<Vec<SourceShard>, Failure>> {
        let (engine, stream) = (self.engine.clone(), self.stream.clone());
        Box::pin(blocking(move || {
            let mut shards = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let out = engine
                    .list_shards(ListShardsInput {
                        stream: if token.is_some() { StreamRef::default() } else { stream.clone() },
                        next_token: token.take(),
                        ..Default::default()
                    })
                    .map_err(|e| match engine_failure(e, "ListShards") {
                        Failure::ShardGone(m) => Failure::Fatal(m),
                        f => f,
                    })?;
                shards.extend(out.shards.into_iter().map(|s| SourceShard {
                    closed: s.sequence_number_range.ending_sequence_number.is_some(),
                    parents: s.parent_shard_id.into_iter().chain(s.adjacent_parent_shard_id).collect(),
                    shard_id: s.shard_id,
                }));
                match out.next_token {
                    Some(t) => token = Some(t),
                    None => return Ok(shards),
                }
            }
        }))
    }

    fn shard_iterator<'a>(
        &'a self,
        shard_id: &'a str,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, Failure>> {
        let (engine, stream) = (self.engine.clone(), self.stream.clone());
        let (shard_id, after) = (shard_id.to_string(), after.map(str::to_string));
        Box::pin(blocking(move || {
            let kind =
                if after.is_some() { ShardIteratorType::AfterSequenceNumber } else { ShardIteratorType::TrimHorizon };
            engine
                .get_shard_iterator(GetShardIteratorInput {
                    stream,
                    shard_id,
                    shard_iterator_type: kind,
                    starting_sequence_number: after,
                    timestamp: None,
                    dry_run: false,
                })
                .map(|o| o.shard_iterator)
                .map_err(|e| engine_failure(e, "GetShardIterator"))
        }))
    }

    fn get_records<'a>(&'a self, iterator: &'a str, limit: u32) -> BoxFuture<'a, Result<ShardRead, Failure>> {
        let engine = self.engine.clone();
        let iterator = iterator.to_string();
        Box::pin(blocking(move || {
            let out = engine
                .get_records(GetRecordsInput {
                    shard_iterator: iterator,
                    limit: Some(limit.clamp(1, 10_000)),
                    ..GetRecordsInput::default()
                })
                .map_err(|e| engine_failure(e, "GetRecords"))?;
            Ok(ShardRead {
                records: out
                    .records
                    .into_iter()
                    .map(|r| SourceRecord {
                        offset: Some(r.sequence_number.counter()),
                        sequence_number: r.sequence_number.to_string(),
                        arrival_ms: r.approximate_arrival_timestamp.as_millis(),
                        data: r.data,
                        partition_key: Some(r.partition_key).filter(|k| !k.is_empty()),
                        explicit_hash_key: r.explicit_hash_key,
                    })
                    .collect(),
                next_iterator: out.next_shard_iterator,
                millis_behind_latest: out.millis_behind_latest,
            })
        }))
    }

    fn extents(&self) -> BoxFuture<'_, Result<Option<Vec<SourceExtent>>, Failure>> {
        let (engine, stream) = (self.engine.clone(), self.stream.clone());
        Box::pin(blocking(move || {
            let extents = engine.shard_extents(&stream).map_err(|e| engine_failure(e, "shard extents"))?;
            Ok(Some(
                extents
                    .into_iter()
                    .map(|x| SourceExtent {
                        shard_id: x.shard_id,
                        first_offset: x.first_offset,
                        next_offset: x.next_offset,
                    })
                    .collect(),
            ))
        }))
    }

    fn trim_through<'a>(&'a self, shard_id: &'a str, through: &'a str) -> BoxFuture<'a, Result<Option<u64>, Failure>> {
        let (engine, stream) = (self.engine.clone(), self.stream.clone());
        let (shard_id, through) = (shard_id.to_string(), through.to_string());
        Box::pin(blocking(move || {
            let seq = shardlog::engine::types::SequenceNumber::parse(&through)
                .map_err(|e| Failure::Fatal(format!("sequence number {through}: {e}")))?;
            match engine.trim_shard_through(&stream, &shard_id, seq) {
                Ok(t) => Ok(Some(t.bytes_removed)),
                // The shard expired meanwhile: nothing left to trim.
                Err(Error::ResourceNotFound { .. }) => Ok(Some(0)),
                Err(e) => Err(engine_failure(e, "trim")),
            }
        }))
    }
}
