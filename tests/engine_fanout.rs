//! Enhanced fan-out: consumer registration and push subscriptions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::fanout::{FanoutConfig, Received, Subscription};
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, Error, ManualClock};

const T0: i64 = 1_767_225_600_000;

fn engine(dir: &std::path::Path, clock: &ManualClock) -> Engine {
    let cfg = EngineConfig {
        clock: Arc::new(clock.clone()),
        durability: Durability::Buffered,
        retention_check_interval: None,
        fanout: FanoutConfig { heartbeat_interval: Duration::from_secs(5), ..FanoutConfig::default() },
        ..EngineConfig::default()
    };
    let e = Engine::open(dir, cfg).unwrap();
    e.create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(1), ..Default::default() }).unwrap();
    e
}

const ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/s";

fn register(e: &Engine, name: &str) -> Consumer {
    e.register_stream_consumer(RegisterStreamConsumerInput {
        stream_arn: ARN.into(),
        consumer_name: name.into(),
        stream_id: None,
        tags: Default::default(),
    })
    .unwrap()
}

fn put(e: &Engine, data: &str) -> PutRecordOutput {
    e.put_record(PutRecordInput {
        stream: StreamRef::name("s"),
        data: Bytes::copy_from_slice(data.as_bytes()),
        partition_key: Some("k".into()),
        ..Default::default()
    })
    .unwrap()
}

fn subscribe(
    e: &Engine,
    c: &Consumer,
    kind: ShardIteratorType,
    seq: Option<String>,
    ts: Option<i64>,
) -> Result<Subscription, Error> {
    e.subscribe_to_shard(SubscribeToShardInput {
        consumer_arn: c.consumer_arn.clone(),
        shard_id: "shardId-000000000000".into(),
        starting_position: StartingPosition { position_type: kind, sequence_number: seq, timestamp: ts.map(Timestamp) },
        stream_id: None,
        dry_run: false,
    })
}

fn event(r: Result<Received, Error>) -> SubscribeToShardEvent {
    match r.unwrap() {
        Received::Event(e) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

fn data(ev: &SubscribeToShardEvent) -> Vec<String> {
    ev.records.iter().map(|r| String::from_utf8(r.data.to_vec()).unwrap()).collect()
}

#[test]
fn consumer_registry_follows_kinesis_rules() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock);
    let c = register(&e, "c1");
    assert_eq!(c.consumer_arn, format!("{ARN}/consumer/c1:{}", T0 / 1000));
    assert_eq!(c.consumer_status, ConsumerStatus::Active);
    let dup = e.register_stream_consumer(RegisterStreamConsumerInput {
        stream_arn: ARN.into(),
        consumer_name: "c1".into(),
        stream_id: None,
        tags: Default::default(),
    });
    assert!(matches!(dup, Err(Error::ResourceInUse { .. })));
    for i in 2..=20 {
        register(&e, &format!("c{i}"));
    }
    let over = e.register_stream_consumer(RegisterStreamConsumerInput {
        stream_arn: ARN.into(),
        consumer_name: "c21".into(),
        stream_id: None,
        tags: Default::default(),
    });
    assert!(matches!(over, Err(Error::LimitExceeded { .. })));
    let bad = e.register_stream_consumer(RegisterStreamConsumerInput {
        stream_arn: ARN.into(),
        consumer_name: "a/b".into(),
        stream_id: None,
        tags: Default::default(),
    });
    assert!(matches!(bad, Err(Error::Validation { .. })));
    // Describe by ARN and by stream ARN + name.
    let d = e
        .describe_stream_consumer(ConsumerRef { consumer_arn: Some(c.consumer_arn.clone()), ..Default::default() })
        .unwrap();
    assert_eq!((d.consumer_name.as_str(), d.stream_arn.as_str()), ("c1", ARN));
    let d2 = e
        .describe_stream_consumer(ConsumerRef {
            stream_arn: Some(ARN.into()),
            consumer_name: Some("c1".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(d, d2);
    // Pagination.
    let p1 = e
        .list_stream_consumers(ListStreamConsumersInput {
            stream_arn: ARN.into(),
            max_results: Some(15),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p1.consumers.len(), 15);
    let p2 = e
        .list_stream_consumers(ListStreamConsumersInput {
            stream_arn: ARN.into(),
            next_token: p1.next_token,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p2.consumers.len(), 5);
    assert!(p2.next_token.is_none());
    // Deregister; the old ARN is gone; re-registering gives a new ARN.
    e.deregister_stream_consumer(ConsumerRef { consumer_arn: Some(c.consumer_arn.clone()), ..Default::default() })
        .unwrap();
    let gone =
        e.describe_stream_consumer(ConsumerRef { consumer_arn: Some(c.consumer_arn.clone()), ..Default::default() });
    assert!(matches!(gone, Err(Error::ResourceNotFound { .. })));
    clock.advance(Duration::from_secs(2));
    let again = register(&e, "c1");
    assert_ne!(again.consumer_arn, c.consumer_arn);
    // Consumers persist; delete_stream needs enforce_consumer_deletion.
    let del = e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), enforce_consumer_deletion: false });
    assert!(matches!(del, Err(Error::ResourceInUse { .. })));
    e.close().unwrap();
    drop(e);
    let e = Engine::open(
        dir.path(),
        EngineConfig { clock: Arc::new(clock.clone()), retention_check_interval: None, ..Default::default() },
    )
    .unwrap();
    let all =
        e.list_stream_consumers(ListStreamConsumersInput { stream_arn: ARN.into(), ..Default::default() }).unwrap();
    assert_eq!(all.consumers.len(), 20);
    e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), enforce_consumer_deletion: true }).unwrap();
}

#[test]
fn all_five_starting_positions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock);
    let c = register(&e, "c");
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(put(&e, &format!("r{i}")).sequence_number);
        clock.advance(Duration::from_millis(10));
    }
    let mut th = subscribe(&e, &c, ShardIteratorType::TrimHorizon, None, None).unwrap();
    let ev = event(th.try_recv());
    assert_eq!(data(&ev), ["r0", "r1", "r2", "r3", "r4"]);
    assert_eq!(ev.continuation_sequence_number, Some(seqs[4]));
    drop(th);
    clock.advance(Duration::from_secs(6));
    let mut at = subscribe(&e, &c, ShardIteratorType::AtSequenceNumber, Some(seqs[2].to_string()), None).unwrap();
    assert_eq!(data(&event(at.try_recv())), ["r2", "r3", "r4"]);
    drop(at);
    clock.advance(Duration::from_secs(6));
    let mut after = subscribe(&e, &c, ShardIteratorType::AfterSequenceNumber, Some(seqs[2].to_string()), None).unwrap();
    assert_eq!(data(&event(after.try_recv())), ["r3", "r4"]);
    drop(after);
    clock.advance(Duration::from_secs(6));
    let mut ts = subscribe(&e, &c, ShardIteratorType::AtTimestamp, None, Some(T0 + 20)).unwrap();
    assert_eq!(data(&event(ts.try_recv())), ["r2", "r3", "r4"]);
    drop(ts);
    clock.advance(Duration::from_secs(6));
    let mut latest = subscribe(&e, &c, ShardIteratorType::Latest, None, None).unwrap();
    assert_eq!(latest.try_recv().unwrap(), Received::TimedOut);
    put(&e, "r5");
    assert_eq!(data(&event(latest.try_recv())), ["r5"]);
}

#[test]
fn the_append_wakes_a_blocked_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock);
    let c = register(&e, "c");
    let mut sub = subscribe(&e, &c, ShardIteratorType::Latest, None, None).unwrap();
    let producer = {
        let e = e.clone();
        std::thread::spawn(move || {
            for i in 0..100 {
                put(&e, &format!("m{i}"));
            }
        })
    };
    let mut got = Vec::new();
    while got.len() < 100 {
        // A long timeout: if the append did not wake us, this would time out and fail.
        match sub.recv_timeout(Duration::from_secs(30)).unwrap() {
            Received::Event(ev) => got.extend(data(&ev)),
            other => panic!("not woken by the append: {other:?}"),
        }
    }
    producer.join().unwrap();
    assert_eq!(got, (0..100).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

#[test]
fn heartbeats_lifetime_and_the_five_second_rule() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock);
    let c = register(&e, "c");
    let last = put(&e, "x").sequence_number;
    let mut sub = subscribe(&e, &c, ShardIteratorType::TrimHorizon, None, None).unwrap();
    // Within 5 s of a subscribe a second one is refused.
    clock.advance(Duration::from_millis(4999));
    assert!(matches!(subscribe(&e, &c, ShardIteratorType::Latest, None, None), Err(Error::ResourceInUse { .. })));
    assert_eq!(data(&event(sub.try_recv())), ["x"]);
    assert_eq!(sub.try_recv().unwrap(), Received::TimedOut);
    clock.advance(Duration::from_secs(5));
    let hb = event(sub.try_recv());
    assert!(hb.records.is_empty());
    assert_eq!(hb.continuation_sequence_number, Some(last), "heartbeats carry the continuation number");
    // Later it takes over and the old one ends with ResourceInUse.
    let mut new = subscribe(&e, &c, ShardIteratorType::Latest, None, None).unwrap();
    assert!(matches!(sub.try_recv(), Err(Error::ResourceInUse { .. })));
    assert_eq!(sub.try_recv().unwrap(), Received::Ended);
    // Lifetime: 5 minutes.
    clock.advance(Duration::from_secs(299));
    assert!(matches!(new.try_recv().unwrap(), Received::Event(_) | Received::TimedOut));
    clock.advance(Duration::from_secs(1));
    assert_eq!(new.try_recv().unwrap(), Received::Ended);
}

#[test]
fn a_closed_shard_ends_with_child_shards() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock);
    let c = register(&e, "c");
    put(&e, "before");
    let mut sub = subscribe(&e, &c, ShardIteratorType::TrimHorizon, None, None).unwrap();
    e.split_shard(SplitShardInput {
        stream: StreamRef::name("s"),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: "1000".into(),
    })
    .unwrap();
    assert_eq!(data(&event(sub.try_recv())), ["before"]);
    let last = event(sub.try_recv());
    assert!(last.records.is_empty());
    assert_eq!(last.continuation_sequence_number, None);
    let kids: Vec<String> = last.child_shards.unwrap().into_iter().map(|k| k.shard_id).collect();
    assert_eq!(kids, ["shardId-000000000001", "shardId-000000000002"]);
    assert_eq!(sub.try_recv().unwrap(), Received::Ended);
}

#[test]
fn a_slow_subscriber_slows_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock);
    let slow_c = register(&e, "slow");
    let fast_c = register(&e, "fast");
    let mut slow = subscribe(&e, &slow_c, ShardIteratorType::TrimHorizon, None, None).unwrap();
    let mut fast = subscribe(&e, &fast_c, ShardIteratorType::TrimHorizon, None, None).unwrap();
    let payload = "p".repeat(10_000);
    let mut fast_got = 0;
    for _ in 0..500 {
        put(&e, &payload);
        if let Received::Event(ev) = fast.try_recv().unwrap() {
            fast_got += ev.records.len();
        }
    }
    while let Received::Event(ev) = fast.try_recv().unwrap() {
        fast_got += ev.records.len();
    }
    assert_eq!(fast_got, 500, "the fast subscriber kept up while the slow one read nothing");
    // The slow one catches up later, one bounded event at a time.
    let mut slow_got = 0;
    while let Received::Event(ev) = slow.try_recv().unwrap() {
        let bytes: usize = ev.records.iter().map(|r| r.data.len()).sum();
        assert!(bytes <= FanoutConfig::default().max_event_bytes, "event of {bytes} bytes");
        if ev.records.is_empty() {
            break;
        }
        slow_got += ev.records.len();
    }
    assert_eq!(slow_got, 500);
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

#[test]
fn async_stream_is_woken_by_appends() {
    use futures_core::Stream;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(dir.path(), &clock);
    let c = register(&e, "c");
    let mut sub = subscribe(&e, &c, ShardIteratorType::Latest, None, None).unwrap();
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    assert!(Pin::new(&mut sub).poll_next(&mut cx).is_pending());
    let producer = {
        let e = e.clone();
        std::thread::spawn(move || put(&e, "async"))
    };
    let ev = loop {
        match Pin::new(&mut sub).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(ev))) => break ev,
            Poll::Ready(other) => panic!("{other:?}"),
            Poll::Pending => std::thread::park_timeout(Duration::from_secs(30)),
        }
    };
    producer.join().unwrap();
    assert_eq!(data(&ev), ["async"]);
}

use std::pin::Pin;
