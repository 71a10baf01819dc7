//! Encryption at rest through the engine: records of KMS-encrypted streams are stored
//! sealed with the engine's local key, read back transparently, unreadable without the key
//! (`KMSNotFoundException`) or with another (`KMSAccessDeniedException`), and `verify` still
//! checks every batch of the directory without any key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use shardlog::at_rest::AtRestKey;
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, ManualClock};

const T0: i64 = 1_767_225_600_000;

fn open(dir: &Path, key: Option<[u8; 32]>) -> Engine {
    Engine::open(
        dir,
        EngineConfig {
            clock: Arc::new(ManualClock::new(T0)),
            durability: Durability::Sync,
            retention_check_interval: None,
            channel_delivery_interval: None,
            encryption_key: key.map(|k| Arc::new(AtRestKey::new(k))),
            ..EngineConfig::default()
        },
    )
    .unwrap()
}

fn put(e: &Engine, data: &[u8]) {
    e.put_record(PutRecordInput {
        stream: StreamRef::name("s"),
        data: Bytes::copy_from_slice(data),
        partition_key: Some("k".into()),
        ..Default::default()
    })
    .unwrap();
}

fn read(e: &Engine) -> shardlog::Result<Vec<Vec<u8>>> {
    let it = e.get_shard_iterator(GetShardIteratorInput {
        stream: StreamRef::name("s"),
        shard_id: "shardId-000000000000".into(),
        shard_iterator_type: ShardIteratorType::TrimHorizon,
        starting_sequence_number: None,
        timestamp: None,
        dry_run: false,
    })?;
    let out = e.get_records(GetRecordsInput { shard_iterator: it.shard_iterator, ..Default::default() })?;
    Ok(out.records.into_iter().map(|r| r.data.to_vec()).collect())
}

fn files_contain(dir: &Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).unwrap().windows(needle.len()).any(|w| w == needle) {
                return true;
            }
        }
    }
    false
}

#[test]
fn records_of_encrypted_streams_are_sealed_on_disk_and_need_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = [42u8; 32];
    let e = open(dir.path(), Some(key));
    e.create_stream(CreateStreamInput { stream_name: "s".into(), shard_count: Some(1), ..Default::default() }).unwrap();
    put(&e, b"plain record before encryption");
    e.start_stream_encryption(StreamEncryptionInput {
        stream: StreamRef::name("s"),
        encryption_type: EncryptionType::Kms,
        key_id: "alias/aws/kinesis".into(),
    })
    .unwrap();
    put(&e, b"secret record one");
    put(&e, b"secret record two");
    assert_eq!(read(&e).unwrap().len(), 3, "read back transparently");
    e.close().unwrap();
    drop(e);
    assert!(files_contain(dir.path(), b"plain record before encryption"));
    assert!(!files_contain(dir.path(), b"secret record"), "sealed records never appear in the clear");

    // A copy without the key: the data directory opens, verify passes, the records cannot
    // be read.
    let report = shardlog::check::examine(&shardlog::io::RealVfs::shared(), dir.path()).unwrap();
    assert!(!report.has_errors(), "{report:?}");
    assert_eq!(report.shards.iter().map(|s| s.total_records()).sum::<u64>(), 3, "verify counts sealed batches too");
    let e = open(dir.path(), None);
    let err = read(&e).unwrap_err();
    assert_eq!(err.kinesis_error_code(), "KMSNotFoundException", "{err}");
    e.close().unwrap();
    drop(e);
    let e = open(dir.path(), Some([7u8; 32]));
    assert_eq!(read(&e).unwrap_err().kinesis_error_code(), "KMSAccessDeniedException");
    e.close().unwrap();
    drop(e);
    let e = open(dir.path(), Some(key));
    let got = read(&e).unwrap();
    assert_eq!(got[1], b"secret record one");
    assert_eq!(got[2], b"secret record two");
}
