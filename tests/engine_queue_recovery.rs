//! A queue after a crash that cost its stream's shard log the unsynced tail while the queue's
//! own state (which had received and acknowledged those records) survived: the engine must
//! reconcile the queue with the log when it opens, before any append can reuse the lost
//! offsets. Reconciling at the queue's first operation was too late — records put in
//! between refilled the offsets, and the queue took them for records it had already settled
//! and never delivered them (found by the engine simulation, seed 3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod sim;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::*;
use shardlog::io::sim::{CrashSpec, DataMode, DirMode, SimOp, SimVfs, TailMode};
use shardlog::{Durability, Engine, ManualClock};
use sim::{ROOT, T0};

const STREAM: &str = "qs";
const QUEUE: &str = "q";

fn open(vfs: &SimVfs, clock: &ManualClock) -> Engine {
    Engine::open(ROOT, sim::engine_config(vfs.shared(), clock, Durability::Buffered)).unwrap()
}

fn put(e: &Engine, data: &str) {
    e.put_record(PutRecordInput {
        stream: StreamRef::name(STREAM),
        data: Bytes::copy_from_slice(data.as_bytes()),
        partition_key: Some("k".into()),
        explicit_hash_key: None,
        sequence_number_for_ordering: None,
        ..Default::default()
    })
    .unwrap();
}

/// Receive until nothing comes, acknowledging everything; the payloads received.
fn drain(e: &Engine) -> BTreeSet<String> {
    let q = e.queue(STREAM, QUEUE).unwrap();
    let mut got = BTreeSet::new();
    loop {
        let batch = q.receive(usize::MAX, Duration::ZERO).unwrap();
        if batch.is_empty() {
            return got;
        }
        for r in q.ack_all(&batch).unwrap() {
            r.unwrap();
        }
        got.extend(batch.iter().map(|d| String::from_utf8(d.data().to_vec()).unwrap()));
    }
}

#[test]
fn records_that_refill_offsets_a_crash_lost_are_delivered_even_if_put_before_the_queue_is_used() {
    let vfs = SimVfs::new();
    let clock = ManualClock::new(T0);
    let e = open(&vfs, &clock);
    // Queues read on-demand streams; one partition key keeps every record on one shard.
    e.create_stream(CreateStreamInput { stream_name: STREAM.into(), ..Default::default() }).unwrap();
    let arn = e.describe_stream_summary(StreamRef::name(STREAM)).unwrap().stream_arn;
    e.create_queue(CreateQueueInput {
        queue_name: QUEUE.into(),
        stream_configuration_list: vec![QueueStreamConfiguration {
            stream_arn: arn,
            starting_position: Some(QueueStartingPosition {
                kind: QueueStartingPositionType::TrimHorizon,
                timestamp: None,
            }),
        }],
        queue_attributes: None,
        tags: Default::default(),
    })
    .unwrap();
    for d in ["a0", "a1", "a2"] {
        put(&e, d);
    }
    e.flush().unwrap();
    // Written, not synced: a power cut loses them from the shard log.
    for d in ["b0", "b1", "b2"] {
        put(&e, d);
    }
    assert_eq!(drain(&e), ["a0", "a1", "a2", "b0", "b1", "b2"].map(String::from).into());
    // `flush` syncs the queue state first, then the shard log: a power cut between the two
    // keeps the acknowledgements of b0..b2 and loses the records themselves.
    let before = vfs.op_count();
    e.flush().unwrap();
    let ops = vfs.ops();
    let queue_synced = (before..ops.len())
        .rfind(|&i| matches!(&ops[i], SimOp::SyncData { path } if path.starts_with(format!("{ROOT}/queues"))))
        .expect("flush synced the queue state");
    assert!(
        ops[queue_synced..]
            .iter()
            .any(|op| matches!(op, SimOp::SyncData { path } if path.starts_with(format!("{ROOT}/shards")))),
        "the shard log is synced after the queue state"
    );
    let crashed = vfs.crash(&CrashSpec {
        ops: queue_synced + 1,
        tail: TailMode::Whole,
        dir: DirMode::DropUnsynced,
        data: DataMode::SyncedOnly,
    });
    drop(e);

    let e = open(&crashed, &clock);
    // Put before the queue serves anything: these land on the offsets b0..b2 had.
    for d in ["c0", "c1", "c2"] {
        put(&e, d);
    }
    assert_eq!(drain(&e), ["c0", "c1", "c2"].map(String::from).into(), "the new records are delivered once");
}
