//! Kinesis queues through the engine: the control plane (create, describe, list, update,
//! delete; limits and refusals), the data operations (receive, acknowledge, visibility,
//! dead letters), long polling on the engine clock, retention and reshard, reopen, and the
//! plain in-process receive API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, Error, ManualClock};

const T0: i64 = 1_700_000_000_000;

fn config(clock: &ManualClock) -> EngineConfig {
    EngineConfig {
        durability: Durability::Sync,
        clock: Arc::new(clock.clone()),
        retention_check_interval: None,
        channel_delivery_interval: None,
        ..Default::default()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    clock: ManualClock,
    engine: Engine,
    stream_arn: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let clock = ManualClock::new(T0);
    let engine = Engine::open(&root, config(&clock)).unwrap();
    engine.create_stream(CreateStreamInput { stream_name: "orders".into(), ..Default::default() }).unwrap();
    let stream_arn = engine.describe_stream_summary(StreamRef::name("orders")).unwrap().stream_arn;
    Fixture { _dir: dir, root, clock, engine, stream_arn }
}

impl Fixture {
    fn create(
        &self,
        name: &str,
        attrs: Option<QueueAttributes>,
        start: Option<QueueStartingPosition>,
    ) -> QueueDescription {
        self.engine
            .create_queue(CreateQueueInput {
                queue_name: name.into(),
                stream_configuration_list: vec![QueueStreamConfiguration {
                    stream_arn: self.stream_arn.clone(),
                    starting_position: start,
                }],
                queue_attributes: attrs,
                tags: Default::default(),
            })
            .unwrap()
    }

    fn put(&self, n: u64) {
        for i in 0..n {
            self.engine
                .put_record(PutRecordInput {
                    stream: StreamRef::name("orders"),
                    partition_key: Some(format!("key-{i}")),
                    data: Bytes::from(format!("record-{i}")),
                    ..Default::default()
                })
                .unwrap();
        }
    }

    fn receive(&self, arn: &str, limit: u32) -> Vec<QueueRecord> {
        self.engine
            .receive_queue_records(ReceiveQueueRecordsInput {
                queue_arn: arn.into(),
                limit: Some(limit),
                wait_time_seconds: Some(1),
                visibility_timeout_seconds: None,
            })
            .unwrap()
            .queue_records
    }

    fn ack(&self, arn: &str, handles: Vec<String>) -> QueueEntriesOutput {
        self.engine
            .acknowledge_queue_records(QueueHandlesInput { queue_arn: arn.into(), receipt_handles: handles })
            .unwrap()
    }
}

fn attrs(visibility: u32, max_receive: Option<u32>) -> Option<QueueAttributes> {
    Some(QueueAttributes {
        visibility_timeout_seconds: Some(visibility),
        dead_letter_configuration: Some(match max_receive {
            Some(n) => {
                DeadLetterConfiguration { target_type: DeadLetterTargetType::BuiltIn, max_receive_count: Some(n) }
            }
            None => DeadLetterConfiguration { target_type: DeadLetterTargetType::None, max_receive_count: None },
        }),
    })
}

fn data_of(records: &[QueueRecord]) -> BTreeSet<String> {
    records.iter().map(|r| String::from_utf8(r.data.to_vec()).unwrap()).collect()
}

#[test]
fn a_new_queue_is_described_with_aws_defaults_and_a_dns_label_id() {
    let f = fixture();
    let d = f.create("workers", None, None);
    assert_eq!(d.queue_status, QueueStatus::Active);
    assert!(d.queue_arn.starts_with("arn:aws:kinesis:us-east-1:000000000000:queue/"));
    let id = d.queue_arn.rsplit('/').next().unwrap();
    assert_eq!(id, d.queue_id);
    assert!(id.len() <= 63 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
    assert_eq!(d.queue_attributes.visibility_timeout_seconds, Some(30));
    assert_eq!(
        d.queue_attributes.dead_letter_configuration,
        Some(DeadLetterConfiguration { target_type: DeadLetterTargetType::BuiltIn, max_receive_count: Some(6) })
    );
    let sp = d.stream_configuration_list[0].starting_position.unwrap();
    assert_eq!(sp.kind, QueueStartingPositionType::Latest);
    assert_eq!(sp.timestamp, Some(Timestamp(T0)), "ACTIVE: the effective start (LATEST: creation)");
    assert_eq!(f.engine.describe_queue(&d.queue_arn).unwrap(), d);
    assert_eq!(f.engine.describe_stream_summary(StreamRef::name("orders")).unwrap().queue_count, 1);
    assert_eq!(f.engine.describe_limits().unwrap().queue_count, 1);
}

#[test]
fn create_queue_refuses_what_aws_refuses_and_changes_nothing() {
    let f = fixture();
    f.engine
        .create_stream(CreateStreamInput { stream_name: "prov".into(), shard_count: Some(1), ..Default::default() })
        .unwrap();
    let prov = f.engine.describe_stream_summary(StreamRef::name("prov")).unwrap().stream_arn;
    let mk =
        |name: &str, arn: &str, start: Option<QueueStartingPosition>, a: Option<QueueAttributes>| CreateQueueInput {
            queue_name: name.into(),
            stream_configuration_list: vec![QueueStreamConfiguration {
                stream_arn: arn.into(),
                starting_position: start,
            }],
            queue_attributes: a,
            tags: Default::default(),
        };
    let err = f.engine.create_queue(mk("q", &prov, None, None)).unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "provisioned stream: {err}");
    assert!(err.to_string().contains("ON_DEMAND"));
    let at = Some(QueueStartingPosition { kind: QueueStartingPositionType::AtTimestamp, timestamp: None });
    assert!(matches!(f.engine.create_queue(mk("q", &f.stream_arn, at, None)), Err(Error::Validation { .. })));
    let latest_ts =
        Some(QueueStartingPosition { kind: QueueStartingPositionType::Latest, timestamp: Some(Timestamp(1)) });
    assert!(matches!(f.engine.create_queue(mk("q", &f.stream_arn, latest_ts, None)), Err(Error::Validation { .. })));
    let bad_vis = Some(QueueAttributes { visibility_timeout_seconds: Some(43_201), dead_letter_configuration: None });
    assert!(matches!(f.engine.create_queue(mk("q", &f.stream_arn, None, bad_vis)), Err(Error::Validation { .. })));
    let builtin_no_count = Some(QueueAttributes {
        visibility_timeout_seconds: None,
        dead_letter_configuration: Some(DeadLetterConfiguration {
            target_type: DeadLetterTargetType::BuiltIn,
            max_receive_count: None,
        }),
    });
    assert!(matches!(
        f.engine.create_queue(mk("q", &f.stream_arn, None, builtin_no_count)),
        Err(Error::Validation { .. })
    ));
    assert!(matches!(
        f.engine.create_queue(mk("q", &f.stream_arn, None, attrs(1, Some(1001)))),
        Err(Error::Validation { .. })
    ));
    assert!(matches!(f.engine.create_queue(mk("bad name!", &f.stream_arn, None, None)), Err(Error::Validation { .. })));
    let missing = f.stream_arn.replace("orders", "nope");
    assert!(matches!(f.engine.create_queue(mk("q", &missing, None, None)), Err(Error::ResourceNotFound { .. })));
    let mut two = mk("q", &f.stream_arn, None, None);
    two.stream_configuration_list.push(two.stream_configuration_list[0].clone());
    assert!(matches!(f.engine.create_queue(two), Err(Error::Validation { .. })));
    assert!(f.engine.list_queues(ListQueuesInput::default()).unwrap().queue_summaries.is_empty());
    f.create("q", None, None);
    assert!(matches!(f.engine.create_queue(mk("q", &f.stream_arn, None, None)), Err(Error::ResourceInUse { .. })));
}

#[test]
fn consumers_and_queues_share_the_per_stream_limit_of_20() {
    let f = fixture();
    for i in 0..15 {
        f.engine
            .register_stream_consumer(RegisterStreamConsumerInput {
                stream_arn: f.stream_arn.clone(),
                consumer_name: format!("c{i}"),
                ..Default::default()
            })
            .unwrap();
    }
    for i in 0..5 {
        f.create(&format!("q{i}"), None, None);
    }
    let err = f
        .engine
        .create_queue(CreateQueueInput {
            queue_name: "one-too-many".into(),
            stream_configuration_list: vec![QueueStreamConfiguration {
                stream_arn: f.stream_arn.clone(),
                starting_position: None,
            }],
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
    let err = f
        .engine
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: f.stream_arn.clone(),
            consumer_name: "c-extra".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
}

#[test]
fn a_stream_with_queues_cannot_be_deleted_or_made_provisioned() {
    let f = fixture();
    let q = f.create("workers", None, None);
    let err = f
        .engine
        .delete_stream(DeleteStreamInput { stream: StreamRef::name("orders"), enforce_consumer_deletion: true })
        .unwrap_err();
    assert!(matches!(err, Error::ResourceInUse { .. }), "{err}");
    let err = f
        .engine
        .update_stream_mode(UpdateStreamModeInput {
            stream: StreamRef::arn(&f.stream_arn),
            stream_mode: StreamMode::Provisioned,
            warm_throughput_mibps: None,
        })
        .unwrap_err();
    assert!(matches!(err, Error::ResourceInUse { .. }), "{err}");
    f.engine.delete_queue(&q.queue_arn).unwrap();
    f.engine
        .delete_stream(DeleteStreamInput { stream: StreamRef::name("orders"), enforce_consumer_deletion: false })
        .unwrap();
}

#[test]
fn records_are_received_acknowledged_and_never_delivered_twice_while_invisible() {
    let f = fixture();
    let q = f.create("workers", attrs(30, Some(3)), None);
    f.put(25);
    let first = f.receive(&q.queue_arn, 10);
    let second = f.receive(&q.queue_arn, 10);
    let third = f.receive(&q.queue_arn, 10);
    assert_eq!((first.len(), second.len(), third.len()), (10, 10, 5));
    let all: Vec<QueueRecord> = first.iter().chain(&second).chain(&third).cloned().collect();
    let ids: HashSet<&str> = all.iter().map(|r| r.record_id.as_str()).collect();
    assert_eq!(ids.len(), 25, "25 distinct records");
    assert_eq!(data_of(&all), (0..25).map(|i| format!("record-{i}")).collect());
    assert!(all.iter().all(|r| r.receive_count == 1 && r.first_receive_timestamp == Timestamp(T0)));
    assert!(all.iter().all(|r| r.partition_key.as_deref().is_some_and(|k| k.starts_with("key-"))));
    // Nothing is visible while in flight.
    assert!(f.receive(&q.queue_arn, 10).is_empty());
    let out = f.ack(&q.queue_arn, first.iter().map(|r| r.receipt_handle.clone()).collect());
    assert_eq!((out.successful.len(), out.failed.len()), (10, 0));
    // After the timeout the unacknowledged 15 come back, with a new handle each, and count 2.
    f.clock.advance(Duration::from_secs(31));
    let again: Vec<QueueRecord> = [f.receive(&q.queue_arn, 10), f.receive(&q.queue_arn, 10)].concat();
    assert_eq!(again.len(), 15);
    assert!(again.iter().all(|r| r.receive_count == 2));
    let old: HashSet<&str> = all.iter().map(|r| r.receipt_handle.as_str()).collect();
    assert!(again.iter().all(|r| !old.contains(r.receipt_handle.as_str())));
    let acked: HashSet<&str> = first.iter().map(|r| r.record_id.as_str()).collect();
    assert!(again.iter().all(|r| !acked.contains(r.record_id.as_str())), "acknowledged records never come back");
    // The stale handles of the first delivery are not found; a repeat in one batch is invalid.
    let stale = second[0].receipt_handle.clone();
    let out = f.ack(
        &q.queue_arn,
        vec![stale, again[0].receipt_handle.clone(), again[0].receipt_handle.clone(), "junk".into()],
    );
    assert_eq!(out.successful, vec![again[0].receipt_handle.clone()]);
    let codes: Vec<&str> = out.failed.iter().map(|e| e.error_code.as_str()).collect();
    assert_eq!(codes, vec!["ResourceNotFoundException", "InvalidArgumentException", "InvalidArgumentException"]);
}

#[test]
fn the_record_id_is_the_same_in_every_queue_of_the_stream_and_across_redeliveries() {
    let f = fixture();
    let a = f.create("a", attrs(5, None), None);
    let b = f.create("b", None, None);
    f.put(1);
    let ra = f.receive(&a.queue_arn, 10);
    let rb = f.receive(&b.queue_arn, 10);
    assert_eq!(ra[0].record_id, rb[0].record_id);
    f.clock.advance(Duration::from_secs(6));
    let again = f.receive(&a.queue_arn, 10);
    assert_eq!(again[0].record_id, ra[0].record_id);
    assert_ne!(again[0].receipt_handle, ra[0].receipt_handle);
}

#[test]
fn dead_letter_lifecycle_on_the_engine_clock_with_restore_resetting_the_count() {
    let f = fixture();
    let q = f.create("workers", attrs(10, Some(2)), None);
    f.put(1);
    for n in 1..=2 {
        let r = f.receive(&q.queue_arn, 10);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].receive_count, n);
        f.clock.advance(Duration::from_secs(11));
    }
    // The second timeout dead-lettered it: normal receives skip it.
    assert!(f.receive(&q.queue_arn, 10).is_empty());
    let dl = f
        .engine
        .receive_dead_letter_queue_records(ReceiveQueueRecordsInput {
            queue_arn: q.queue_arn.clone(),
            limit: Some(10),
            wait_time_seconds: Some(1),
            visibility_timeout_seconds: Some(60),
        })
        .unwrap()
        .queue_records;
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0].receive_count, 2, "a dead-letter receive reports the count it was dead-lettered with");
    // A dead-letter handle is the wrong kind for the normal acknowledge.
    let out = f.ack(&q.queue_arn, vec![dl[0].receipt_handle.clone()]);
    assert_eq!(out.failed[0].error_code, "InvalidArgumentException");
    let out = f
        .engine
        .restore_dead_letter_queue_records(QueueHandlesInput {
            queue_arn: q.queue_arn.clone(),
            receipt_handles: vec![dl[0].receipt_handle.clone()],
        })
        .unwrap();
    assert_eq!(out.successful.len(), 1);
    let back = f.receive(&q.queue_arn, 10);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].receive_count, 1, "restore resets the receive count");
    assert_eq!(back[0].record_id, dl[0].record_id);
    // Dead-letter again, then discard it.
    f.clock.advance(Duration::from_secs(11));
    f.receive(&q.queue_arn, 10);
    f.clock.advance(Duration::from_secs(11));
    let dl = f
        .engine
        .receive_dead_letter_queue_records(ReceiveQueueRecordsInput {
            queue_arn: q.queue_arn.clone(),
            wait_time_seconds: Some(1),
            ..Default::default()
        })
        .unwrap()
        .queue_records;
    assert_eq!(dl.len(), 1);
    let out = f
        .engine
        .acknowledge_dead_letter_queue_records(QueueHandlesInput {
            queue_arn: q.queue_arn.clone(),
            receipt_handles: vec![dl[0].receipt_handle.clone()],
        })
        .unwrap();
    assert_eq!(out.successful.len(), 1);
    f.clock.advance(Duration::from_secs(3600));
    assert!(f.receive(&q.queue_arn, 10).is_empty());
}

#[test]
fn visibility_changes_hide_longer_or_release_at_once() {
    let f = fixture();
    let q = f.create("workers", attrs(30, None), None);
    f.put(2);
    let r = f.receive(&q.queue_arn, 10);
    assert_eq!(r.len(), 2);
    let out = f
        .engine
        .update_queue_records_visibility(QueueVisibilityInput {
            queue_arn: q.queue_arn.clone(),
            entries: vec![(r[0].receipt_handle.clone(), 0), (r[1].receipt_handle.clone(), 120)],
        })
        .unwrap();
    assert_eq!(out.successful.len(), 2);
    let again = f.receive(&q.queue_arn, 10);
    assert_eq!(again.len(), 1, "visibility 0 released only the first");
    assert_eq!(again[0].record_id, r[0].record_id);
    f.clock.advance(Duration::from_secs(31));
    let first_again = f.receive(&q.queue_arn, 10);
    assert_eq!(first_again.len(), 1, "the first timed out again; the second is extended");
    assert_eq!(f.ack(&q.queue_arn, vec![first_again[0].receipt_handle.clone()]).successful.len(), 1);
    f.clock.advance(Duration::from_secs(90));
    let late = f.receive(&q.queue_arn, 10);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].record_id, r[1].record_id);
}

#[test]
fn update_queue_changes_only_what_it_names_and_applies_to_later_receives() {
    let f = fixture();
    let q = f.create("workers", attrs(30, Some(4)), None);
    let d = f
        .engine
        .update_queue(UpdateQueueInput {
            queue_arn: q.queue_arn.clone(),
            queue_attributes: QueueAttributes { visibility_timeout_seconds: Some(5), dead_letter_configuration: None },
        })
        .unwrap();
    assert_eq!(d.queue_attributes.visibility_timeout_seconds, Some(5));
    assert_eq!(d.queue_attributes.dead_letter_configuration.unwrap().max_receive_count, Some(4));
    f.put(1);
    f.receive(&q.queue_arn, 10);
    f.clock.advance(Duration::from_secs(6));
    assert_eq!(f.receive(&q.queue_arn, 10).len(), 1);
}

#[test]
fn deleting_a_queue_invalidates_its_handles_and_leaves_the_stream_alone() {
    let f = fixture();
    let q = f.create("workers", None, None);
    f.put(3);
    let r = f.receive(&q.queue_arn, 10);
    f.engine.delete_queue(&q.queue_arn).unwrap();
    let err = f
        .engine
        .acknowledge_queue_records(QueueHandlesInput {
            queue_arn: q.queue_arn.clone(),
            receipt_handles: vec![r[0].receipt_handle.clone()],
        })
        .unwrap_err();
    assert!(matches!(err, Error::ResourceNotFound { .. }), "{err}");
    assert!(matches!(f.engine.describe_queue(&q.queue_arn), Err(Error::ResourceNotFound { .. })));
    assert!(!f.root.join("queues").read_dir().unwrap().any(|_| true), "its state directory is gone");
    // A new queue of the same name is a new queue: its handles are not the old ones'.
    let q2 = f.create(
        "workers",
        None,
        Some(QueueStartingPosition { kind: QueueStartingPositionType::TrimHorizon, timestamp: None }),
    );
    assert_ne!(q2.queue_arn, q.queue_arn);
    let out = f.ack(&q2.queue_arn, vec![r[1].receipt_handle.clone()]);
    assert_eq!(out.failed[0].error_code, "InvalidArgumentException", "a handle of another queue");
    assert_eq!(f.receive(&q2.queue_arn, 10).len(), 3, "the stream's records are untouched");
}

#[test]
fn starting_positions_trim_horizon_latest_and_at_timestamp() {
    let f = fixture();
    f.put(2);
    f.clock.advance(Duration::from_secs(10));
    let middle = f.clock_now();
    f.put(2);
    let th = f.create(
        "th",
        None,
        Some(QueueStartingPosition { kind: QueueStartingPositionType::TrimHorizon, timestamp: None }),
    );
    let latest = f.create("latest", None, None);
    let at = f.create(
        "at",
        None,
        Some(QueueStartingPosition {
            kind: QueueStartingPositionType::AtTimestamp,
            timestamp: Some(Timestamp(middle)),
        }),
    );
    f.put(1);
    assert_eq!(f.receive_all(&th.queue_arn), 5);
    assert_eq!(f.receive_all(&latest.queue_arn), 1);
    assert_eq!(f.receive_all(&at.queue_arn), 3);
    let d = f.engine.describe_queue(&at.queue_arn).unwrap();
    let sp = d.stream_configuration_list[0].starting_position.unwrap();
    assert_eq!(sp.timestamp, Some(Timestamp(middle)));
    let d = f.engine.describe_queue(&th.queue_arn).unwrap();
    assert_eq!(d.stream_configuration_list[0].starting_position.unwrap().timestamp, Some(Timestamp(T0)));
}

impl Fixture {
    fn clock_now(&self) -> i64 {
        use shardlog::Clock;
        self.clock.now_ms()
    }

    fn receive_all(&self, arn: &str) -> usize {
        let mut n = 0;
        loop {
            let r = self.receive(arn, 10);
            if r.is_empty() {
                return n;
            }
            n += r.len();
        }
    }
}

#[test]
fn list_queues_pages_and_filters_by_stream() {
    let f = fixture();
    f.engine.create_stream(CreateStreamInput { stream_name: "other".into(), ..Default::default() }).unwrap();
    let other = f.engine.describe_stream_summary(StreamRef::name("other")).unwrap().stream_arn;
    for i in 0..3 {
        f.create(&format!("q{i}"), None, None);
    }
    f.engine
        .create_queue(CreateQueueInput {
            queue_name: "o".into(),
            stream_configuration_list: vec![QueueStreamConfiguration {
                stream_arn: other.clone(),
                starting_position: None,
            }],
            ..Default::default()
        })
        .unwrap();
    let page = f.engine.list_queues(ListQueuesInput { max_results: Some(2), ..Default::default() }).unwrap();
    assert_eq!(page.queue_summaries.len(), 2);
    let rest = f
        .engine
        .list_queues(ListQueuesInput { max_results: Some(10), next_token: page.next_token, ..Default::default() })
        .unwrap();
    let names: Vec<String> =
        page.queue_summaries.iter().chain(&rest.queue_summaries).map(|s| s.queue_name.clone()).collect();
    assert_eq!(names, vec!["q0", "q1", "q2", "o"]);
    assert!(rest.next_token.is_none());
    let filtered = f
        .engine
        .list_queues(ListQueuesInput {
            stream_filter: Some(vec![QueueStreamFilter { stream_arn: other.clone(), stream_creation_timestamp: None }]),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(filtered.queue_summaries.len(), 1);
    assert_eq!(filtered.queue_summaries[0].streams[0].0, other);
}

#[test]
fn a_long_poll_is_woken_by_an_append() {
    let f = fixture();
    let q = f.create("workers", None, None);
    let engine = f.engine.clone();
    let arn = q.queue_arn.clone();
    let poller = std::thread::spawn(move || {
        engine
            .receive_queue_records(ReceiveQueueRecordsInput {
                queue_arn: arn,
                limit: Some(10),
                wait_time_seconds: Some(20),
                visibility_timeout_seconds: None,
            })
            .unwrap()
            .queue_records
    });
    // The poll waits on the engine clock, which does not move: only the append can end it.
    wait_until_polling(&f.engine);
    f.put(1);
    let got = poller.join().unwrap();
    assert_eq!(got.len(), 1);
}

#[test]
fn a_long_poll_is_woken_by_a_visibility_timeout_on_the_manual_clock() {
    let f = fixture();
    let q = f.create("workers", attrs(5, None), None);
    f.put(1);
    let first = f.receive(&q.queue_arn, 10);
    assert_eq!(first.len(), 1);
    let engine = f.engine.clone();
    let arn = q.queue_arn.clone();
    let poller = std::thread::spawn(move || {
        engine
            .receive_queue_records(ReceiveQueueRecordsInput {
                queue_arn: arn,
                limit: Some(10),
                wait_time_seconds: Some(20),
                visibility_timeout_seconds: None,
            })
            .unwrap()
            .queue_records
    });
    wait_until_polling(&f.engine);
    f.clock.advance(Duration::from_secs(6));
    let got = poller.join().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record_id, first[0].record_id);
    assert_eq!(got[0].receive_count, 2);
}

#[test]
fn a_long_poll_ends_empty_when_its_wait_passes_on_the_engine_clock() {
    let f = fixture();
    let q = f.create("workers", None, None);
    let engine = f.engine.clone();
    let arn = q.queue_arn.clone();
    let poller = std::thread::spawn(move || {
        engine
            .receive_queue_records(ReceiveQueueRecordsInput {
                queue_arn: arn,
                wait_time_seconds: Some(20),
                ..Default::default()
            })
            .unwrap()
            .queue_records
    });
    wait_until_polling(&f.engine);
    f.clock.advance(Duration::from_secs(21));
    assert!(poller.join().unwrap().is_empty());
    let m = f.engine.queue_metrics().unwrap();
    assert_eq!(m[0].empty_receives, 1);
}

/// Poll (bounded) until a blocking receive is waiting on a queue.
fn wait_until_polling(engine: &Engine) {
    let start = std::time::Instant::now();
    loop {
        if engine.queue_pollers_waiting() > 0 {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no poller started waiting");
        std::thread::yield_now();
    }
}

#[test]
fn retention_drops_the_state_of_trimmed_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let mut cfg = config(&clock);
    cfg.log.segment_max_bytes = 4096;
    let engine = Engine::open(dir.path(), cfg).unwrap();
    engine.create_stream(CreateStreamInput { stream_name: "s".into(), ..Default::default() }).unwrap();
    let stream_arn = engine.describe_stream_summary(StreamRef::name("s")).unwrap().stream_arn;
    let q = engine
        .create_queue(CreateQueueInput {
            queue_name: "q".into(),
            stream_configuration_list: vec![QueueStreamConfiguration { stream_arn, starting_position: None }],
            queue_attributes: attrs(5, None),
            ..Default::default()
        })
        .unwrap();
    for i in 0..200 {
        engine
            .put_record(PutRecordInput {
                stream: StreamRef::name("s"),
                partition_key: Some("same".into()),
                data: Bytes::from(vec![i as u8; 100]),
                ..Default::default()
            })
            .unwrap();
    }
    let input =
        ReceiveQueueRecordsInput { queue_arn: q.queue_arn.clone(), wait_time_seconds: Some(1), ..Default::default() };
    let got = engine.receive_queue_records(input.clone()).unwrap().queue_records;
    assert_eq!(got.len(), 10);
    clock.advance(Duration::from_secs(25 * 3600));
    engine
        .put_record(PutRecordInput {
            stream: StreamRef::name("s"),
            partition_key: Some("same".into()),
            data: Bytes::from_static(b"fresh"),
            ..Default::default()
        })
        .unwrap();
    engine.enforce_retention().unwrap();
    // Whatever retention removed is never delivered; the in-flight handles of it are gone.
    let mut seen = Vec::new();
    loop {
        let r = engine.receive_queue_records(input.clone()).unwrap().queue_records;
        if r.is_empty() {
            break;
        }
        seen.extend(r);
    }
    assert!(seen.iter().any(|r| &r.data[..] == b"fresh"));
    let old_left = seen.len() - 1;
    assert!(old_left < 190, "retention removed old segments ({old_left} old records still delivered)");
    let out = engine
        .acknowledge_queue_records(QueueHandlesInput {
            queue_arn: q.queue_arn.clone(),
            receipt_handles: vec![got[0].receipt_handle.clone()],
        })
        .unwrap();
    assert_eq!(out.failed[0].error_code, "ResourceNotFoundException");
}

#[test]
fn queues_read_across_splits_and_merges_in_lineage_order() {
    let f = fixture();
    // Reshard a provisioned stream, make it on-demand, then let the engine split it again.
    f.engine
        .create_stream(CreateStreamInput { stream_name: "p".into(), shard_count: Some(2), ..Default::default() })
        .unwrap();
    let mut next = 0u32;
    let put = |n: u32, next: &mut u32| {
        for _ in 0..n {
            f.engine
                .put_record(PutRecordInput {
                    stream: StreamRef::name("p"),
                    partition_key: Some("one-key".into()),
                    data: Bytes::from(next.to_be_bytes().to_vec()),
                    ..Default::default()
                })
                .unwrap();
            *next += 1;
        }
    };
    let open_shard_of_key = || {
        let shards = f
            .engine
            .list_shards(ListShardsInput { stream: StreamRef::name("p"), ..Default::default() })
            .unwrap()
            .shards;
        let hash = shardlog::kinesis::partition_key_hash(b"one-key");
        shards
            .into_iter()
            .find(|s| s.sequence_number_range.ending_sequence_number.is_none() && s.hash_key_range.contains(hash))
            .unwrap()
    };
    put(10, &mut next);
    let s = open_shard_of_key();
    let mid = s.hash_key_range.starting_hash_key / 2 + s.hash_key_range.ending_hash_key / 2;
    f.engine
        .split_shard(SplitShardInput {
            stream: StreamRef::name("p"),
            shard_to_split: s.shard_id,
            new_starting_hash_key: mid.to_string(),
        })
        .unwrap();
    put(10, &mut next);
    let shards =
        f.engine.list_shards(ListShardsInput { stream: StreamRef::name("p"), ..Default::default() }).unwrap().shards;
    let children: Vec<String> = shards
        .iter()
        .filter(|x| x.sequence_number_range.ending_sequence_number.is_none() && x.parent_shard_id.is_some())
        .map(|x| x.shard_id.clone())
        .collect();
    f.engine
        .merge_shards(MergeShardsInput {
            stream: StreamRef::name("p"),
            shard_to_merge: children[0].clone(),
            adjacent_shard_to_merge: children[1].clone(),
        })
        .unwrap();
    put(10, &mut next);
    f.engine
        .update_stream_mode(UpdateStreamModeInput {
            stream: StreamRef::name("p"),
            stream_mode: StreamMode::OnDemand,
            warm_throughput_mibps: None,
        })
        .unwrap();
    let arn = f.engine.describe_stream_summary(StreamRef::name("p")).unwrap().stream_arn;
    f.engine
        .create_queue(CreateQueueInput {
            queue_name: "lineage".into(),
            stream_configuration_list: vec![QueueStreamConfiguration {
                stream_arn: arn,
                starting_position: Some(QueueStartingPosition {
                    kind: QueueStartingPositionType::TrimHorizon,
                    timestamp: None,
                }),
            }],
            queue_attributes: attrs(3600, None),
            ..Default::default()
        })
        .unwrap();
    put(10, &mut next);
    f.engine.scale_on_demand_shard("p", &open_shard_of_key().shard_id).unwrap();
    put(10, &mut next);
    let workers = f.engine.queue("p", "lineage").unwrap();
    let mut got = Vec::new();
    loop {
        let batch = workers.receive(7, Duration::ZERO).unwrap();
        if batch.is_empty() {
            break;
        }
        for d in batch {
            got.push(u32::from_be_bytes(d.data()[..4].try_into().unwrap()));
            d.ack().unwrap();
        }
    }
    assert_eq!(got, (0..50).collect::<Vec<u32>>(), "one key's records in write order: parents before children");
}

#[test]
fn queue_state_survives_a_reopen() {
    let f = fixture();
    let q = f.create("workers", attrs(30, Some(5)), None);
    f.put(5);
    let r = f.receive(&q.queue_arn, 3);
    f.ack(&q.queue_arn, vec![r[0].receipt_handle.clone()]);
    f.engine.close().unwrap();
    let Fixture { _dir, root, clock, engine, .. } = f;
    drop(engine);
    let engine = Engine::open(&root, config(&clock)).unwrap();
    // Handles from before the reopen still work.
    let out = engine
        .acknowledge_queue_records(QueueHandlesInput {
            queue_arn: q.queue_arn.clone(),
            receipt_handles: vec![r[1].receipt_handle.clone(), r[0].receipt_handle.clone()],
        })
        .unwrap();
    assert_eq!(out.successful, vec![r[1].receipt_handle.clone()]);
    assert_eq!(out.failed[0].error_code, "ResourceNotFoundException");
    let input =
        ReceiveQueueRecordsInput { queue_arn: q.queue_arn.clone(), wait_time_seconds: Some(1), ..Default::default() };
    assert_eq!(engine.receive_queue_records(input.clone()).unwrap().queue_records.len(), 2, "the two never received");
    clock.advance(Duration::from_secs(31));
    let back = engine.receive_queue_records(input).unwrap().queue_records;
    assert_eq!(back.len(), 3, "the one left in flight and the two just received");
}

#[test]
fn tags_and_policies_work_on_queue_arns() {
    let f = fixture();
    let q = f.create("workers", None, None);
    f.engine
        .tag_resource(TagResourceInput {
            resource_arn: q.queue_arn.clone(),
            tags: [("team".to_string(), "a".to_string())].into_iter().collect(),
            stream_id: None,
        })
        .unwrap();
    let tags = f
        .engine
        .list_tags_for_resource(ListTagsForResourceInput { resource_arn: q.queue_arn.clone(), stream_id: None })
        .unwrap()
        .tags;
    assert_eq!(tags, vec![Tag { key: "team".into(), value: Some("a".into()) }]);
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kinesis:ReceiveQueueRecords"}]}"#;
    f.engine
        .put_resource_policy(PutResourcePolicyInput {
            resource_arn: q.queue_arn.clone(),
            policy: policy.into(),
            stream_id: None,
        })
        .unwrap();
    let got = f
        .engine
        .get_resource_policy(ResourcePolicyInput { resource_arn: q.queue_arn.clone(), stream_id: None })
        .unwrap();
    assert_eq!(got.policy, policy);
    f.engine.delete_queue(&q.queue_arn).unwrap();
    let err = f
        .engine
        .list_tags_for_resource(ListTagsForResourceInput { resource_arn: q.queue_arn.clone(), stream_id: None })
        .unwrap_err();
    assert!(matches!(err, Error::ResourceNotFound { .. }));
}

#[test]
fn the_plain_api_receives_without_the_wire_cap_and_acks_extends_and_releases() {
    let f = fixture();
    f.create("workers", attrs(30, None), None);
    f.put(250);
    let workers = f.engine.queue("orders", "workers").unwrap();
    let batch = workers.receive(200, Duration::ZERO).unwrap();
    assert_eq!(batch.len(), 200, "no 10-record cap in process");
    assert!(batch.iter().all(|d| d.data().starts_with(b"record-") && d.key().starts_with(b"key-")));
    let results = workers.ack_all(&batch[..150]).unwrap();
    assert!(results.iter().all(|r| r.is_ok()));
    batch[150].release().unwrap();
    batch[151].extend(Duration::from_secs(600)).unwrap();
    let next = workers.receive(1000, Duration::ZERO).unwrap();
    assert_eq!(next.len(), 51, "the 50 never received and the released one");
    assert!(next.iter().any(|d| d.record_id() == batch[150].record_id()));
    f.clock.advance(Duration::from_secs(31));
    let later = workers.receive(1000, Duration::ZERO).unwrap();
    assert_eq!(later.len(), 48 + 51, "timed out: all but the extended one and those acked");
    assert!(later.iter().all(|d| d.record_id() != batch[151].record_id()));
    assert!(matches!(batch[0].ack(), Err(Error::ResourceNotFound { .. })));
    assert!(matches!(f.engine.queue("orders", "nope"), Err(Error::ResourceNotFound { .. })));
}

#[test]
fn the_plain_api_is_a_futures_stream_woken_by_appends() {
    use futures_core::Stream;
    use std::pin::Pin;
    use std::task::{Context, Poll, Wake, Waker};

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let f = fixture();
    f.create("workers", None, None);
    let workers = f.engine.queue("orders", "workers").unwrap();
    let mut stream = workers.deliveries(10);
    let flag = Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
    let waker = Waker::from(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    assert!(matches!(Pin::new(&mut stream).poll_next(&mut cx), Poll::Pending));
    f.put(2);
    assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst), "the append woke the stream");
    let mut got = Vec::new();
    while let Poll::Ready(Some(d)) = Pin::new(&mut stream).poll_next(&mut cx) {
        let d = d.unwrap();
        d.ack().unwrap();
        got.push(d.data().clone());
        if got.len() == 2 {
            break;
        }
    }
    assert_eq!(got.len(), 2);
}

#[test]
fn competing_consumers_never_get_a_record_twice_while_it_is_invisible() {
    let f = fixture();
    f.create("workers", attrs(3600, None), None);
    f.put(2000);
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let workers = f.engine.queue("orders", "workers").unwrap();
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || loop {
                let batch = workers.receive(37, Duration::ZERO).unwrap();
                if batch.is_empty() {
                    return;
                }
                seen.lock().extend(batch.iter().map(|d| d.record_id().to_owned()));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let seen = seen.lock();
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 2000);
    assert_eq!(distinct.len(), 2000, "no record delivered twice while its visibility holds");
}
