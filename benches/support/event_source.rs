//! What the event-source benchmarks share (`benches/event_source.rs`, and
//! `server/benches/lambda.rs`, which includes this file by path): a handler that only counts
//! records, and a one-shard stream pre-filled with 100-byte records over 1,000 partition keys.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use shardlog::engine::{CreateStreamInput, PutRecordsInput, PutRecordsRequestEntry, StreamRef};
use shardlog::event_source::{FunctionError, Handler, HandlerResponse, KinesisEvent};
use shardlog::Engine;

/// Payload bytes per record.
pub const RECORD_BYTES: usize = 100;

/// Counts records; does nothing else.
pub struct Noop(pub AtomicUsize);

impl Handler for Noop {
    fn handle(&self, event: &KinesisEvent) -> Result<HandlerResponse, FunctionError> {
        self.0.fetch_add(std::hint::black_box(event.records.len()), Ordering::Relaxed);
        Ok(HandlerResponse::success())
    }
}

/// Create the one-shard stream `stream` and put `records` records (a multiple of 500) into it.
pub fn prefill(engine: &Engine, stream: &str, records: usize) {
    engine
        .create_stream(CreateStreamInput { stream_name: stream.into(), shard_count: Some(1), ..Default::default() })
        .unwrap();
    let payload = Bytes::from(vec![0x5a; RECORD_BYTES]);
    for chunk in 0..records / 500 {
        let records = (0..500)
            .map(|i| PutRecordsRequestEntry {
                data: payload.clone(),
                partition_key: Some(format!("key-{}", (chunk * 500 + i) % 1000)),
                explicit_hash_key: None,
            })
            .collect();
        let out =
            engine.put_records(PutRecordsInput { stream: StreamRef::name(stream), records, dry_run: false }).unwrap();
        assert_eq!(out.failed_record_count, 0);
    }
}
