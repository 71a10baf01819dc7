//! Where records go: the [`Sink`] trait (PutRecords) and [`EngineSink`], a stream of a local
//! [`Engine`] (the reverse direction's destination). The Kinesis sink is in `remote`.

use shardlog::engine::types::{PutRecordsInput, PutRecordsRequestEntry, StreamRef};
use shardlog::Engine;

use crate::forward::backoff::Failure;
use crate::forward::batch::EntryOutcome;
use crate::forward::record::OutRecord;
use crate::forward::source::{blocking, engine_failure, BoxFuture};

/// A stream to write to.
pub trait Sink: Send + Sync {
    /// A human-readable name (for messages).
    fn describe(&self) -> String;
    /// PutRecords: one outcome per record, same order; or a whole-request failure.
    fn put_records<'a>(&'a self, records: Vec<&'a OutRecord>) -> BoxFuture<'a, Result<Vec<EntryOutcome>, Failure>>;
}

/// Check that a PutRecords answer has one entry per record: anything else is a broken
/// destination, and guessing which records were stored could lose some.
pub(crate) fn check_answer(sent: usize, outcomes: Vec<EntryOutcome>, who: &str) -> Result<Vec<EntryOutcome>, Failure> {
    if outcomes.len() == sent {
        Ok(outcomes)
    } else {
        Err(Failure::Fatal(format!("{who} answered PutRecords of {sent} records with {} results", outcomes.len())))
    }
}

/// A stream of a local engine.
#[derive(Debug, Clone)]
pub struct EngineSink {
    engine: Engine,
    stream: StreamRef,
}

impl EngineSink {
    /// The stream `stream` of `engine`.
    pub fn new(engine: Engine, stream: StreamRef) -> EngineSink {
        EngineSink { engine, stream }
    }
}

impl Sink for EngineSink {
    fn describe(&self) -> String {
        let name = self.stream.stream_name.as_deref().or(self.stream.stream_arn.as_deref()).unwrap_or("?");
        format!("local stream {name} in {}", self.engine.root().display())
    }

    fn put_records<'a>(&'a self, records: Vec<&'a OutRecord>) -> BoxFuture<'a, Result<Vec<EntryOutcome>, Failure>> {
        let (engine, stream) = (self.engine.clone(), self.stream.clone());
        let entries: Vec<PutRecordsRequestEntry> = records
            .iter()
            .map(|r| PutRecordsRequestEntry {
                data: r.data.clone(),
                partition_key: Some(r.partition_key.clone()),
                explicit_hash_key: r.explicit_hash_key.map(|h| h.to_string()),
            })
            .collect();
        let sent = entries.len();
        let who = self.describe();
        Box::pin(async move {
            let out = blocking(move || {
                engine.put_records(PutRecordsInput { stream, records: entries, ..PutRecordsInput::default() }).map_err(
                    |e| match engine_failure(e, "PutRecords") {
                        Failure::ShardGone(m) => Failure::Fatal(m),
                        f => f,
                    },
                )
            })
            .await?;
            let outcomes = out
                .records
                .into_iter()
                .map(|r| match r.error_code {
                    None => EntryOutcome::Accepted,
                    Some(code) => EntryOutcome::Failed { code, message: r.error_message.unwrap_or_default() },
                })
                .collect();
            check_answer(sent, outcomes, &who)
        })
    }
}
