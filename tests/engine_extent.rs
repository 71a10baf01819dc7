//! `Engine::shard_extents` (each shard's retained offsets) and `Engine::trim_shard_through`
//! (delete a prefix a reader is done with: the forwarder's "keep until forwarded" mode).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use bytes::Bytes;
use shardlog::engine::types::*;
use shardlog::{Engine, EngineConfig, Error, LogConfig};

fn engine(dir: &std::path::Path) -> Engine {
    let config = EngineConfig {
        log: LogConfig { segment_max_bytes: 4096, ..LogConfig::default() },
        retention_check_interval: None,
        ..EngineConfig::default()
    };
    Engine::open(dir, config).unwrap()
}

fn put(e: &Engine, n: usize) -> Vec<PutRecordOutput> {
    (0..n)
        .map(|i| {
            e.put_record(PutRecordInput {
                stream: StreamRef::name("s"),
                partition_key: Some(format!("k{i}")),
                data: Bytes::from(vec![b'x'; 200 + i % 7]),
                ..Default::default()
            })
            .unwrap()
        })
        .collect()
}

fn read_all(e: &Engine) -> Vec<SequenceNumber> {
    let it = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name("s"),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .unwrap();
    let out = e.get_records(GetRecordsInput { shard_iterator: it.shard_iterator, ..Default::default() }).unwrap();
    out.records.into_iter().map(|r| r.sequence_number).collect()
}

#[test]
fn extents_count_the_retained_records_of_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(2), ..Default::default() }).unwrap();
    let puts = put(&e, 50);
    let x = e.shard_extents(&StreamRef::name("s")).unwrap();
    assert_eq!(x.len(), 2);
    let on0 = puts.iter().filter(|p| p.shard_id == "shardId-000000000000").count() as u64;
    let ext0 = x.iter().find(|x| x.shard_id == "shardId-000000000000").unwrap();
    let ext1 = x.iter().find(|x| x.shard_id == "shardId-000000000001").unwrap();
    assert_eq!((ext0.first_offset, ext0.next_offset, ext0.len()), (0, on0, on0));
    assert_eq!(ext1.len(), 50 - on0);
    assert!(!ext0.closed && !ext1.closed);
    assert!(on0 > 0 && on0 < 50, "50 keys land on both shards");
    // The last record's sequence counter is its offset.
    let last0 = puts.iter().rfind(|p| p.shard_id == "shardId-000000000000").unwrap();
    assert_eq!(last0.sequence_number.counter() + 1, ext0.next_offset);
    assert!(matches!(e.shard_extents(&StreamRef::name("nope")), Err(Error::ResourceNotFound { .. })));
}

#[test]
fn trimming_through_a_sequence_number_deletes_only_whole_segments_at_or_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(1), ..Default::default() }).unwrap();
    let puts = put(&e, 100);
    let stream = StreamRef::name("s");
    let through = puts[59].sequence_number;
    let t = e.trim_shard_through(&stream, "shardId-000000000000", through).unwrap();
    assert!(t.segments_removed > 0 && t.bytes_removed > 0, "{t:?}");
    assert!(t.start_offset <= 60, "a record after {through} was deleted: {t:?}");
    let x = &e.shard_extents(&stream).unwrap()[0];
    assert_eq!((x.first_offset, x.next_offset), (t.start_offset, 100));
    // Readers start at the new horizon; nothing after `through` is lost.
    let left = read_all(&e);
    assert_eq!(left.first().map(|s| s.counter()), Some(t.start_offset));
    assert_eq!(left.len() as u64, 100 - t.start_offset);
    // Trimming through the last record keeps the segment being appended to.
    let t = e.trim_shard_through(&stream, "shardId-000000000000", puts[99].sequence_number).unwrap();
    assert!(t.start_offset < 100);
    assert!(!read_all(&e).is_empty());
    assert_eq!(read_all(&e).last(), Some(&puts[99].sequence_number));
}

#[test]
fn trimming_refuses_a_sequence_number_of_another_shard_or_an_unknown_shard() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(2), ..Default::default() }).unwrap();
    let puts = put(&e, 20);
    let on1 = puts.iter().find(|p| p.shard_id == "shardId-000000000001");
    let stream = StreamRef::name("s");
    if let Some(p) = on1 {
        let err = e.trim_shard_through(&stream, "shardId-000000000000", p.sequence_number).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    }
    let err = e.trim_shard_through(&stream, "shardId-000000000009", puts[0].sequence_number).unwrap_err();
    assert!(matches!(err, Error::ResourceNotFound { .. }), "{err:?}");
    let err = e.trim_shard_through(&stream, "../x", puts[0].sequence_number).unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
}
