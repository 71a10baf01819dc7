//! Reliability R10: every row of the hostile-input table (reliability.md) that reaches the
//! engine API. Each case asserts the exact error variant (and the exact AWS text where
//! kinesis-behaviour.md knows it), and that the rejected call changed nothing: the full
//! recursive listing (path + length) of the data directory *and of the directory around it*
//! is identical before and after, and every stream's records are unchanged.
//!
//! Base64 rows belong to the HTTP layer and are not tested here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use shardlog::engine::*;
use shardlog::kinesis::SequenceNumber;
use shardlog::{Clock, Durability, Engine, EngineConfig, Error, ManualClock};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a Thursday
const MIB: usize = 1024 * 1024;
const ACCOUNT: &str = "000000000000";
const NAME_PATTERN: &str = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+";
const HASH_PATTERN: &str = "Member must satisfy regular expression pattern: ^(0|([1-9]\\d{0,38}))$";
const SEQ_PATTERN: &str = "Member must satisfy regular expression pattern: ^(0|([1-9]\\d{0,128}))$";
const MAX_HASH: &str = "340282366920938463463374607431768211455";
const TWO_POW_128: &str = "340282366920938463463374607431768211456";

// ------------------------------------------------------------------------------ fixture

/// A data directory `<tmp>/data` with stream `s` (3 shards, a few records on every shard).
struct Fx {
    _tmp: tempfile::TempDir,
    outer: PathBuf,
    clock: ManualClock,
    e: Engine,
}

fn config(clock: &ManualClock) -> EngineConfig {
    EngineConfig { clock: Arc::new(clock.clone()), durability: Durability::Buffered, ..EngineConfig::default() }
}

impl Fx {
    fn empty() -> Fx {
        let tmp = tempfile::tempdir().unwrap();
        let outer = tmp.path().to_path_buf();
        let clock = ManualClock::new(T0);
        let e = Engine::open(outer.join("data"), config(&clock)).unwrap();
        Fx { _tmp: tmp, outer, clock, e }
    }

    /// Stream `s` with 3 shards and records on each (explicit hash keys pin the shard).
    fn new() -> Fx {
        let fx = Fx::empty();
        create(&fx.e, "s", 3);
        for (i, ehk) in ["0", "150000000000000000000000000000000000000", MAX_HASH].iter().enumerate() {
            for j in 0..4u8 {
                fx.clock.advance(Duration::from_millis(7));
                put_ehk(&fx.e, "s", &format!("k{i}{j}"), ehk, &[i as u8, j]).unwrap();
            }
        }
        fx
    }

    /// Every stream's records, shard by shard (opens every shard log).
    fn records(&self) -> BTreeMap<(String, String), Vec<KinesisRecord>> {
        let mut out = BTreeMap::new();
        let names = self.e.list_streams(ListStreamsInput { limit: Some(10_000), ..Default::default() }).unwrap();
        for name in names.stream_names {
            for shard in describe(&self.e, &name).shards {
                let recs = read_all(&self.e, &name, &shard.shard_id);
                out.insert((name.clone(), shard.shard_id), recs);
            }
        }
        out
    }

    /// Runs `f`, which must fail; asserts that it created, removed and wrote nothing, inside
    /// the data directory or next to it, and that every record is unchanged. Returns the error.
    #[track_caller]
    fn rejected<T: Debug>(&self, what: &str, f: impl FnOnce(&Engine) -> Result<T, Error>) -> Error {
        let records = self.records();
        let files = listing(&self.outer);
        let err = match f(&self.e) {
            Ok(v) => panic!("{what}: accepted, returned {v:?}"),
            Err(e) => e,
        };
        assert_eq!(listing(&self.outer), files, "{what}: files changed by a rejected call ({err})");
        assert_eq!(self.records(), records, "{what}: records changed by a rejected call ({err})");
        err
    }
}

/// Every path below `root` with its length (`None` for directories), recursively.
fn listing(root: &Path) -> BTreeMap<PathBuf, Option<u64>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, Option<u64>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if meta.is_dir() {
                out.insert(rel, None);
                walk(&path, root, out);
            } else {
                out.insert(rel, Some(meta.len()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

// ------------------------------------------------------------------------------ API helpers

fn create(e: &Engine, name: &str, shards: u32) {
    e.create_stream(CreateStreamInput { stream_name: name.into(), shard_count: Some(shards), ..Default::default() })
        .unwrap();
}

fn describe(e: &Engine, name: &str) -> StreamDescription {
    e.describe_stream(DescribeStreamInput { stream: StreamRef::name(name), limit: Some(10_000), ..Default::default() })
        .unwrap()
}

fn put(e: &Engine, stream: &str, key: &str, data: &[u8]) -> Result<PutRecordOutput, Error> {
    e.put_record(PutRecordInput {
        stream: StreamRef::name(stream),
        data: Bytes::copy_from_slice(data),
        partition_key: Some(key.into()),
        ..Default::default()
    })
}

fn put_ehk(e: &Engine, stream: &str, key: &str, ehk: &str, data: &[u8]) -> Result<PutRecordOutput, Error> {
    e.put_record(PutRecordInput {
        stream: StreamRef::name(stream),
        data: Bytes::copy_from_slice(data),
        partition_key: Some(key.into()),
        explicit_hash_key: Some(ehk.into()),
        ..Default::default()
    })
}

fn entry(key: &str, ehk: Option<&str>, data: &[u8]) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry {
        data: Bytes::copy_from_slice(data),
        partition_key: Some(key.into()),
        explicit_hash_key: ehk.map(str::to_owned),
    }
}

fn put_records(e: &Engine, stream: &str, records: Vec<PutRecordsRequestEntry>) -> Result<PutRecordsOutput, Error> {
    e.put_records(PutRecordsInput { stream: StreamRef::name(stream), records, dry_run: false })
}

fn gsi(
    e: &Engine,
    stream: &str,
    shard: &str,
    kind: ShardIteratorType,
    seq: Option<&str>,
    ts: Option<i64>,
) -> Result<String, Error> {
    e.get_shard_iterator(GetShardIteratorInput {
        stream: StreamRef::name(stream),
        shard_id: shard.into(),
        shard_iterator_type: kind,
        starting_sequence_number: seq.map(str::to_owned),
        timestamp: ts.map(Timestamp),
        dry_run: false,
    })
    .map(|o| o.shard_iterator)
}

fn trim_horizon(e: &Engine, stream: &str, shard: &str) -> String {
    gsi(e, stream, shard, ShardIteratorType::TrimHorizon, None, None).unwrap()
}

fn get(e: &Engine, it: &str, limit: Option<u32>) -> Result<GetRecordsOutput, Error> {
    e.get_records(GetRecordsInput {
        shard_iterator: it.into(),
        limit,
        stream_arn: None,
        stream_id: None,
        dry_run: false,
    })
}

fn read_all(e: &Engine, stream: &str, shard: &str) -> Vec<KinesisRecord> {
    let mut it = trim_horizon(e, stream, shard);
    let mut out = Vec::new();
    loop {
        let r = get(e, &it, None).unwrap();
        let empty = r.records.is_empty();
        out.extend(r.records);
        if empty && r.millis_behind_latest == 0 {
            return out;
        }
        it = r.next_shard_iterator.unwrap();
    }
}

fn validation(member: &str, value: &str, constraint: &str) -> String {
    format!("1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}")
}

#[track_caller]
fn assert_validation(err: &Error, expected: &str) {
    match err {
        Error::Validation { message } => assert_eq!(message, expected),
        other => panic!("expected Validation `{expected}`, got {other:?}"),
    }
}

#[track_caller]
fn assert_invalid(err: &Error, expected: &str) {
    match err {
        Error::InvalidArgument { message } => assert_eq!(message, expected),
        other => panic!("expected InvalidArgument `{expected}`, got {other:?}"),
    }
}

#[track_caller]
fn assert_variant(err: &Error, code: &str) {
    assert_eq!(err.kinesis_error_code(), code, "{err:?}");
}

// ------------------------------------------------------------------------------ stream names

fn hostile_stream_names() -> Vec<String> {
    [
        "",
        "../x",
        "a/b",
        "/abs",
        "a\\b",
        "a\0b",
        "a b",
        " ",
        "a\tb",
        "a\nb",
        "a\rb",
        "\u{1}",
        "\u{7f}",
        "\u{1b}[31m",
        "é",
        "caf\u{e9}",
        "\u{202e}abc",
        "abc\u{202e}",
        "\u{0430}bc",
        "a\u{200b}b",
        "a:b",
        "a*b",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([
        "a".repeat(129),
        format!("{}é", "a".repeat(127)),
        "../".repeat(40),
        format!("{}/{}", "a".repeat(60), "b".repeat(60)),
    ])
    .collect()
}

fn expected_name_error(member: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        return None; // two violations: checked separately
    }
    let syntax_ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    let java_len: usize = name.chars().map(char::len_utf16).sum();
    match (syntax_ok, java_len > 128) {
        (false, false) => Some(validation(member, name, NAME_PATTERN)),
        (true, true) => Some(validation(member, name, "Member must have length less than or equal to 128")),
        _ => None,
    }
}

#[test]
fn hostile_stream_names_are_rejected_by_create_and_create_nothing() {
    let fx = Fx::new();
    for name in hostile_stream_names() {
        let what = format!("create_stream({name:?})");
        let err = fx.rejected(&what, |e| {
            e.create_stream(CreateStreamInput { stream_name: name.clone(), shard_count: Some(1), ..Default::default() })
        });
        assert_variant(&err, "ValidationException");
        let Error::Validation { message } = &err else { unreachable!() };
        assert!(message.contains("'streamName'"), "{what}: {message}");
        if let Some(expected) = expected_name_error("streamName", &name) {
            assert_validation(&err, &expected);
        }
    }
    // The empty name violates both the pattern and the minimum length.
    let err = fx.rejected("create_stream(\"\")", |e| {
        e.create_stream(CreateStreamInput { stream_name: String::new(), shard_count: Some(1), ..Default::default() })
    });
    assert_validation(
        &err,
        &format!(
            "2 validation errors detected: Value '' at 'streamName' failed to satisfy constraint: {NAME_PATTERN}; \
             Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"
        ),
    );
    // Nothing but `s` exists.
    let listed = fx.e.list_streams(ListStreamsInput::default()).unwrap();
    assert_eq!(listed.stream_names, vec!["s"]);
}

#[test]
fn hostile_stream_names_are_rejected_by_every_operation_that_names_a_stream() {
    let fx = Fx::new();
    for name in hostile_stream_names() {
        let r = || StreamRef::name(name.clone());
        let checks: Vec<(&str, Error)> = vec![
            (
                "describe_stream",
                fx.rejected("describe", |e| {
                    e.describe_stream(DescribeStreamInput { stream: r(), ..Default::default() })
                }),
            ),
            ("describe_stream_summary", fx.rejected("summary", |e| e.describe_stream_summary(r()))),
            (
                "delete_stream",
                fx.rejected("delete", |e| e.delete_stream(DeleteStreamInput { stream: r(), ..Default::default() })),
            ),
            (
                "put_record",
                fx.rejected("put_record", |e| {
                    e.put_record(PutRecordInput {
                        stream: r(),
                        partition_key: Some("k".into()),
                        data: Bytes::from_static(b"x"),
                        ..Default::default()
                    })
                }),
            ),
            (
                "put_records",
                fx.rejected("put_records", |e| {
                    e.put_records(PutRecordsInput {
                        stream: r(),
                        records: vec![entry("k", None, b"x")],
                        dry_run: false,
                    })
                }),
            ),
            (
                "get_shard_iterator",
                fx.rejected("gsi", |e| {
                    e.get_shard_iterator(GetShardIteratorInput {
                        stream: r(),
                        shard_id: "shardId-000000000000".into(),
                        shard_iterator_type: ShardIteratorType::TrimHorizon,
                        starting_sequence_number: None,
                        timestamp: None,
                        dry_run: false,
                    })
                }),
            ),
            (
                "list_shards",
                fx.rejected("list_shards", |e| e.list_shards(ListShardsInput { stream: r(), ..Default::default() })),
            ),
            (
                "list_tags_for_stream",
                fx.rejected("list_tags", |e| {
                    e.list_tags_for_stream(ListTagsForStreamInput { stream: r(), ..Default::default() })
                }),
            ),
            (
                "add_tags_to_stream",
                fx.rejected("add_tags", |e| {
                    e.add_tags_to_stream(AddTagsToStreamInput {
                        stream: r(),
                        tags: BTreeMap::from([("k".to_string(), "v".to_string())]),
                    })
                }),
            ),
        ];
        for (op, err) in checks {
            assert_eq!(err.kinesis_error_code(), "ValidationException", "{op}({name:?}): {err:?}");
            if let Some(expected) = expected_name_error("streamName", &name) {
                assert_eq!(err.to_string(), expected, "{op}({name:?})");
            }
        }
        // The same names inside a stream ARN: an ARN of the model's form naming a stream no
        // name can have is a stream that is not found.
        if !name.is_empty() && !name.chars().any(char::is_whitespace) {
            let arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}");
            let err = fx.rejected("describe by ARN", |e| {
                e.describe_stream(DescribeStreamInput { stream: StreamRef::arn(arn.clone()), ..Default::default() })
            });
            assert_variant(&err, "ResourceNotFoundException");
            assert_eq!(err.to_string(), format!("Stream {name} under account {ACCOUNT} not found."));
        }
    }
}

#[test]
fn boundary_stream_names_are_accepted_and_never_become_paths() {
    let fx = Fx::empty();
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
    let long: String = (0..128).map(|i| alphabet[i % alphabet.len()] as char).collect();
    // AWS accepts any 1–128 characters of [a-zA-Z0-9_.-], names of only dots included.
    let accepted = [
        "a".to_string(),
        "Z".into(),
        "0".into(),
        "_".into(),
        "-".into(),
        "a.b".into(),
        ".a".into(),
        ".".into(),
        "..".into(),
        "...".into(),
        long,
    ];
    for name in &accepted {
        create(&fx.e, name, 1);
        let d = describe(&fx.e, name);
        assert_eq!(&d.stream_name, name);
        assert_eq!(d.stream_status, StreamStatus::Active);
        let out = put(&fx.e, name, "k", b"v").unwrap();
        assert_eq!(out.shard_id, "shardId-000000000000");
        let recs = read_all(&fx.e, name, "shardId-000000000000");
        assert_eq!(recs.len(), 1);
        assert_eq!(&recs[0].data[..], b"v");
    }
    let listed = fx.e.list_streams(ListStreamsInput::default()).unwrap().stream_names;
    let mut sorted = accepted.to_vec();
    sorted.sort();
    assert_eq!(listed, sorted);
    // Stream names never appear in the file system (`.` and `..` as path components would
    // escape or alias the data directory), and every file stays inside it.
    for path in listing(&fx.outer).keys() {
        for c in path.components() {
            assert!(matches!(c, std::path::Component::Normal(_)), "{path:?} has a {c:?} component");
            let c = c.as_os_str().to_string_lossy();
            assert!(!accepted.iter().any(|n| n.len() > 1 && c == n.as_str()), "{path:?} is named after a stream");
        }
    }
    // `.` and `..` are separate streams: deleting one leaves the other (and its data).
    fx.e.delete_stream(DeleteStreamInput { stream: StreamRef::name(".."), ..Default::default() }).unwrap();
    let recs = read_all(&fx.e, ".", "shardId-000000000000");
    assert_eq!(recs.len(), 1);
    assert!(!fx.e.list_streams(ListStreamsInput::default()).unwrap().stream_names.contains(&"..".to_string()));
}

// ------------------------------------------------------------------------------ partition keys

#[test]
fn hostile_partition_keys_are_rejected_and_write_nothing() {
    let fx = Fx::new();
    let k257 = "k".repeat(257);
    let emoji256 = "\u{1F600}".repeat(256); // 1,024 bytes, 512 UTF-16 units
    let emoji129 = "\u{1F600}".repeat(129); // 258 UTF-16 units
    let cases: [(&str, &str); 4] = [
        ("", "Member must have length greater than or equal to 1"),
        (&k257, "Member must have length less than or equal to 256"),
        (&emoji256, "Member must have length less than or equal to 256"),
        (&emoji129, "Member must have length less than or equal to 256"),
    ];
    for (key, constraint) in cases {
        let err = fx.rejected("put_record", |e| put(e, "s", key, b"data"));
        assert_validation(&err, &validation("partitionKey", key, constraint));
        let err = fx.rejected("put_record with an explicit hash key", |e| put_ehk(e, "s", key, "0", b"data"));
        assert_validation(&err, &validation("partitionKey", key, constraint));
        // In PutRecords one bad key fails the whole request.
        let err = fx.rejected("put_records", |e| {
            put_records(e, "s", vec![entry("good", None, b"1"), entry(key, None, b"2"), entry("good2", None, b"3")])
        });
        assert_validation(&err, &validation("records.2.member.partitionKey", key, constraint));
    }
}

#[test]
fn boundary_partition_keys_are_accepted_and_read_back_byte_identical() {
    let fx = Fx::empty();
    create(&fx.e, "p", 1);
    let keys = [
        "k".to_string(),
        "\0".into(),
        "a\0b".into(),
        "x".repeat(256),
        "é".repeat(256),         // 512 bytes, 256 UTF-16 units
        "\u{1F600}".repeat(128), // 512 bytes, 256 UTF-16 units
        "\u{7f}\u{202e}\t\n".into(),
    ];
    for (i, key) in keys.iter().enumerate() {
        put(&fx.e, "p", key, &[i as u8]).unwrap();
    }
    put_records(&fx.e, "p", keys.iter().enumerate().map(|(i, k)| entry(k, None, &[100 + i as u8])).collect()).unwrap();
    let recs = read_all(&fx.e, "p", "shardId-000000000000");
    let got: Vec<(&str, u8)> = recs.iter().map(|r| (r.partition_key.as_str(), r.data[0])).collect();
    let want: Vec<(&str, u8)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i as u8))
        .chain(keys.iter().enumerate().map(|(i, k)| (k.as_str(), 100 + i as u8)))
        .collect();
    assert_eq!(got, want);
    // The NUL key hashes its bytes: it routes like MD5("a\0b").
    create(&fx.e, "two", 2);
    let out = put(&fx.e, "two", "a\0b", b"x").unwrap();
    let h = shardlog::kinesis::partition_key_hash(b"a\0b");
    let expected = if h < (1u128 << 127) { "shardId-000000000000" } else { "shardId-000000000001" };
    assert_eq!(out.shard_id, expected);
}

// ------------------------------------------------------------------------------ data size

#[test]
fn oversized_records_are_rejected_and_boundaries_accepted() {
    let fx = Fx::new();
    let big = vec![7u8; MIB + 1];
    let err = fx.rejected("data > 1 MiB", |e| put(e, "s", "k", &big));
    assert_validation(
        &err,
        &validation(
            "data",
            "java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]",
            "Member must have length less than or equal to 1048576",
        ),
    );
    let err = fx.rejected("data > 1 MiB in put_records", |e| {
        put_records(e, "s", vec![entry("a", None, b"ok"), entry("b", None, &big)])
    });
    assert_validation(
        &err,
        &validation(
            "records.2.member.data",
            "java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]",
            "Member must have length less than or equal to 1048576",
        ),
    );
    // Data exactly 1 MiB plus a key: the sum is over the limit.
    let exact = vec![8u8; MIB];
    let err = fx.rejected("data + key > 1 MiB", |e| put(e, "s", "k", &exact));
    assert_variant(&err, "InvalidArgumentException");
    let err = fx.rejected("data + key > 1 MiB in put_records", |e| {
        put_records(e, "s", vec![entry("a", None, b"ok"), entry("kk", None, &exact[..MIB - 1])])
    });
    assert_variant(&err, "InvalidArgumentException");

    // Accepted: 0 bytes, and data + key = exactly 1 MiB (single and batched).
    create(&fx.e, "b", 1);
    put(&fx.e, "b", "k", b"").unwrap();
    put(&fx.e, "b", "k", &exact[..MIB - 1]).unwrap();
    put_records(&fx.e, "b", vec![entry("kk", None, &exact[..MIB - 2]), entry("z", None, b"")]).unwrap();
    let recs = read_all(&fx.e, "b", "shardId-000000000000");
    let sizes: Vec<usize> = recs.iter().map(|r| r.data.len() + r.partition_key.len()).collect();
    assert_eq!(sizes, vec![1, MIB, MIB, 1]);
    assert!(recs[1].data.iter().all(|&b| b == 8));
}

#[test]
fn raised_max_record_size_and_its_bounds() {
    let fx = Fx::new();
    fx.e.create_stream(CreateStreamInput {
        stream_name: "large".into(),
        shard_count: Some(1),
        max_record_size_in_kib: Some(2048),
        ..Default::default()
    })
    .unwrap();
    let summary = fx.e.describe_stream_summary(StreamRef::name("large")).unwrap();
    assert_eq!(summary.max_record_size_in_kib, 2048);
    let two = vec![3u8; 2 * MIB];
    put(&fx.e, "large", "k", &two[..2 * MIB - 1]).unwrap();
    let recs = read_all(&fx.e, "large", "shardId-000000000000");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].data.len(), 2 * MIB - 1);
    // Above the raised limit.
    let err = fx.rejected("data + key > 2 MiB", |e| put(e, "large", "k", &two));
    assert_variant(&err, "InvalidArgumentException");
    let over = vec![3u8; 2 * MIB + 1];
    let err = fx.rejected("data > 2 MiB", |e| put(e, "large", "k", &over));
    assert_variant(&err, "ValidationException");
    // Out-of-range MaxRecordSizeInKiB.
    for (kib, constraint) in [
        (1023u32, "Member must have value greater than or equal to 1024"),
        (0, "Member must have value greater than or equal to 1024"),
        (10241, "Member must have value less than or equal to 10240"),
        (u32::MAX, "Member must have value less than or equal to 10240"),
    ] {
        let err = fx.rejected("max_record_size_in_kib", |e| {
            e.create_stream(CreateStreamInput {
                stream_name: "x".into(),
                shard_count: Some(1),
                max_record_size_in_kib: Some(kib),
                ..Default::default()
            })
        });
        assert_validation(&err, &validation("maxRecordSizeInKiB", &kib.to_string(), constraint));
    }
    for kib in [1024, 10240] {
        let name = format!("ok{kib}");
        fx.e.create_stream(CreateStreamInput {
            stream_name: name.clone(),
            shard_count: Some(1),
            max_record_size_in_kib: Some(kib),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(fx.e.describe_stream_summary(StreamRef::name(name)).unwrap().max_record_size_in_kib, kib);
    }
}

// ------------------------------------------------------------------------------ explicit hash keys

#[test]
fn hostile_explicit_hash_keys_are_rejected_and_write_nothing() {
    let fx = Fx::new();
    let forty = "1".repeat(40);
    let bad =
        ["-1", "", "01", "00", "+1", " 1", "1 ", "0x10", "1e5", "\u{661}\u{662}\u{663}", "１", "1.0", "1\0", &forty];
    for h in bad {
        let err = fx.rejected("put_record", |e| put_ehk(e, "s", "k", h, b"x"));
        assert_validation(&err, &validation("explicitHashKey", h, HASH_PATTERN));
        let err = fx.rejected("put_records", |e| {
            put_records(e, "s", vec![entry("a", Some("0"), b"1"), entry("b", Some(h), b"2"), entry("c", None, b"3")])
        });
        assert_validation(&err, &validation("records.2.member.explicitHashKey", h, HASH_PATTERN));
    }
    let range_message = format!(
        "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {TWO_POW_128}"
    );
    let err = fx.rejected("2^128", |e| put_ehk(e, "s", "k", TWO_POW_128, b"x"));
    assert_invalid(&err, &range_message);
    // One out-of-range entry fails the whole PutRecords request; nothing is written.
    let err = fx.rejected("2^128 in put_records", |e| {
        put_records(e, "s", vec![entry("a", Some("0"), b"1"), entry("b", Some(TWO_POW_128), b"2")])
    });
    assert_invalid(&err, &range_message);
    let nines = "9".repeat(39);
    let err = fx.rejected("39 nines", |e| put_ehk(e, "s", "k", &nines, b"x"));
    assert_variant(&err, "InvalidArgumentException");
}

#[test]
fn boundary_explicit_hash_keys_route_to_the_first_and_last_shard() {
    let fx = Fx::empty();
    create(&fx.e, "h", 3);
    assert_eq!(put_ehk(&fx.e, "h", "k", "0", b"lo").unwrap().shard_id, "shardId-000000000000");
    assert_eq!(put_ehk(&fx.e, "h", "k", MAX_HASH, b"hi").unwrap().shard_id, "shardId-000000000002");
    // Either side of the first boundary of a 3-way split.
    let b = "113427455640312821154458202477256070484";
    assert_eq!(put_ehk(&fx.e, "h", "k", b, b"b").unwrap().shard_id, "shardId-000000000000");
    let b1 = "113427455640312821154458202477256070485";
    assert_eq!(put_ehk(&fx.e, "h", "k", b1, b"b1").unwrap().shard_id, "shardId-000000000001");
    let out = put_records(&fx.e, "h", vec![entry("x", Some(MAX_HASH), b"r1"), entry("x", Some("0"), b"r0")]).unwrap();
    assert_eq!(out.failed_record_count, 0);
    assert_eq!(out.records[0].shard_id.as_deref(), Some("shardId-000000000002"));
    assert_eq!(out.records[1].shard_id.as_deref(), Some("shardId-000000000000"));
    let first = read_all(&fx.e, "h", "shardId-000000000000");
    assert_eq!(first.iter().map(|r| &r.data[..]).collect::<Vec<_>>(), vec![&b"lo"[..], b"b", b"r0"]);
    assert_eq!(first[0].explicit_hash_key, Some(0));
    let last = read_all(&fx.e, "h", "shardId-000000000002");
    assert_eq!(last.iter().map(|r| &r.data[..]).collect::<Vec<_>>(), vec![&b"hi"[..], b"r1"]);
    assert_eq!(last[0].explicit_hash_key, Some(u128::MAX));
}

// ------------------------------------------------------------------------------ sequence numbers

#[test]
fn hostile_sequence_numbers_are_rejected() {
    let fx = Fx::new();
    let sh0 = "shardId-000000000000";
    let recs0 = read_all(&fx.e, "s", sh0);
    let recs1 = read_all(&fx.e, "s", "shardId-000000000001");
    let issued = recs0[1].sequence_number.to_string();
    let too_long = "1".repeat(130);
    let syntax = [
        "abc".to_string(),
        "".into(),
        format!("0{issued}"),
        "00".into(),
        format!("+{issued}"),
        format!("-{issued}"),
        format!(" {issued}"),
        format!("{issued} "),
        format!("{issued}x"),
        "1e5".into(),
        "\u{661}\u{662}".into(),
        too_long,
    ];
    for kind in [ShardIteratorType::AtSequenceNumber, ShardIteratorType::AfterSequenceNumber] {
        for s in &syntax {
            let err = fx.rejected("syntax", |e| gsi(e, "s", sh0, kind, Some(s), None));
            assert_validation(&err, &validation("startingSequenceNumber", s, SEQ_PATTERN));
        }
        // Syntactically valid but not a sequence number this engine could have issued.
        for s in ["0", "1", "21269319989652663814458848515492872193", &"9".repeat(129)] {
            let err = fx.rejected("undecodable", |e| gsi(e, "s", sh0, kind, Some(s), None));
            assert_variant(&err, "InvalidArgumentException");
        }
        // Above any issued number: same shard and creation time, counter past the end.
        let last = recs0.last().unwrap().sequence_number;
        for counter in [recs0.len() as u64, recs0.len() as u64 + 1, SequenceNumber::MAX_COUNTER - 1] {
            let s = SequenceNumber::new(last.shard_create_secs(), 0, counter, last.arrival_secs()).to_string();
            let err = fx.rejected("above issued", |e| gsi(e, "s", sh0, kind, Some(&s), None));
            assert_invalid(
                &err,
                &format!(
                    "StartingSequenceNumber {s} used in GetShardIterator on shard {sh0} in stream s under account \
                     {ACCOUNT} is invalid."
                ),
            );
        }
        // From another shard of the same stream.
        let other = recs1[0].sequence_number.to_string();
        let err = fx.rejected("other shard", |e| gsi(e, "s", sh0, kind, Some(&other), None));
        assert_invalid(
            &err,
            "Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was used in a call to a shard \
             with shardId-000000000000",
        );
    }
}

#[test]
fn a_sequence_number_from_another_stream_is_rejected() {
    let fx = Fx::new();
    fx.clock.advance(Duration::from_secs(10));
    create(&fx.e, "t", 1);
    let t_seq = put(&fx.e, "t", "k", b"t").unwrap().sequence_number;
    assert_eq!(t_seq.shard_index(), 0);
    let s = t_seq.to_string();
    for kind in [ShardIteratorType::AtSequenceNumber, ShardIteratorType::AfterSequenceNumber] {
        let err = fx.rejected("other stream", |e| gsi(e, "s", "shardId-000000000000", kind, Some(&s), None));
        assert_invalid(
            &err,
            &format!(
                "StartingSequenceNumber {s} used in GetShardIterator on shard shardId-000000000000 in stream s under \
                 account {ACCOUNT} is invalid because it did not come from this stream."
            ),
        );
    }
    // A deleted and re-created stream of the same name issues numbers the old one rejects.
    let old = read_all(&fx.e, "s", "shardId-000000000000")[0].sequence_number.to_string();
    fx.e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    fx.clock.advance(Duration::from_secs(5));
    create(&fx.e, "s", 3);
    let err = fx.rejected("re-created stream", |e| {
        gsi(e, "s", "shardId-000000000000", ShardIteratorType::AtSequenceNumber, Some(&old), None)
    });
    assert_variant(&err, "InvalidArgumentException");
    assert!(err.to_string().ends_with("did not come from this stream."), "{err}");
}

#[test]
fn every_issued_sequence_number_works() {
    let fx = Fx::new();
    for shard in describe(&fx.e, "s").shards {
        let recs = read_all(&fx.e, "s", &shard.shard_id);
        assert!(!recs.is_empty());
        for (i, r) in recs.iter().enumerate() {
            let s = r.sequence_number.to_string();
            let at = gsi(&fx.e, "s", &shard.shard_id, ShardIteratorType::AtSequenceNumber, Some(&s), None).unwrap();
            assert_eq!(get(&fx.e, &at, None).unwrap().records, recs[i..].to_vec());
            let after =
                gsi(&fx.e, "s", &shard.shard_id, ShardIteratorType::AfterSequenceNumber, Some(&s), None).unwrap();
            assert_eq!(get(&fx.e, &after, None).unwrap().records, recs[i + 1..].to_vec());
        }
        // The shard's StartingSequenceNumber works with both types and starts at the first record.
        let start = shard.sequence_number_range.starting_sequence_number.to_string();
        for kind in [ShardIteratorType::AtSequenceNumber, ShardIteratorType::AfterSequenceNumber] {
            let it = gsi(&fx.e, "s", &shard.shard_id, kind, Some(&start), None).unwrap();
            assert_eq!(get(&fx.e, &it, None).unwrap().records, recs);
        }
    }
}

// ------------------------------------------------------------------------------ shard iterators

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn hostile_shard_iterators_are_rejected() {
    let fx = Fx::new();
    let good = trim_horizon(&fx.e, "s", "shardId-000000000001");
    let raw = STANDARD.decode(&good).unwrap();
    let mut hostile: Vec<String> = vec![
        String::new(),
        "x".into(),
        "AAAAAAAAAAE".into(),
        "AAAAAAAAAAE=".into(),
        "not base64 at all !!".into(),
        "\0".repeat(76),
        "é".repeat(38),
        "A".repeat(76),
        "A".repeat(100_000),
        format!("{good}="),
        format!("{good}A"),
        format!(" {good}"),
        good.to_lowercase(),
        good[..good.len() - 1].to_string(),
        good[..good.len() - 4].to_string(),
        good[..40].to_string(),
        good[4..].to_string(),
    ];
    // Valid base64 of the right length with a bad MAC: every byte flipped in turn.
    for i in 0..raw.len() {
        let mut r = raw.clone();
        r[i] ^= 0x01;
        hostile.push(STANDARD.encode(&r));
    }
    // Random bytes of every length around the real one, base64-encoded, with and without the
    // real 8-byte prefix.
    let mut seed = 0x1234_5678_9abc_def0u64;
    for len in 0..=80usize {
        let bytes: Vec<u8> = (0..len).map(|_| xorshift(&mut seed) as u8).collect();
        hostile.push(STANDARD.encode(&bytes));
        let mut prefixed = vec![0, 0, 0, 0, 0, 0, 0, 1];
        prefixed.extend(&bytes);
        hostile.push(STANDARD.encode(&prefixed));
    }
    // A token from another engine (its own data directory, so its own key) for the same
    // stream name and shard.
    let other = Fx::new();
    hostile.push(trim_horizon(&other.e, "s", "shardId-000000000001"));
    for it in &hostile {
        for limit in [None, Some(1)] {
            let err = fx.rejected("get_records", |e| get(e, it, limit));
            assert_invalid(&err, "Invalid ShardIterator.");
        }
    }
    // The genuine token still works.
    assert_eq!(get(&fx.e, &good, None).unwrap().records.len(), 4);
}

#[test]
fn iterators_expire_after_300_seconds_with_the_aws_message() {
    let fx = Fx::new();
    fx.clock.set_ms(T0);
    let it = trim_horizon(&fx.e, "s", "shardId-000000000000");
    fx.clock.set_ms(T0 + 300_000);
    let r = get(&fx.e, &it, Some(1)).unwrap();
    assert_eq!(r.records.len(), 1);
    fx.clock.set_ms(T0 + 300_001);
    let err = fx.rejected("replay after 300 s", |e| get(e, &it, None));
    match &err {
        Error::ExpiredIterator { message } => assert_eq!(
            message,
            "Iterator expired. The iterator was created at time Thu Jan 01 00:00:00 UTC 2026 while right now it is \
             Thu Jan 01 00:05:00 UTC 2026 which is further in the future than the tolerated delay of 300000 \
             milliseconds."
        ),
        other => panic!("{other:?}"),
    }
    // The iterator the last call returned was issued at T0 + 300 000 and is still fresh.
    let next = r.next_shard_iterator.unwrap();
    assert_eq!(get(&fx.e, &next, None).unwrap().records.len(), 3);
    fx.clock.set_ms(T0 + 10 * 86_400_000);
    let err = fx.rejected("replay after 10 days", |e| get(e, &next, None));
    assert_variant(&err, "ExpiredIteratorException");
    assert!(
        err.to_string().contains(
            "created at time Thu Jan 01 00:05:00 UTC 2026 while right now it is Sun Jan 11 00:00:00 UTC 2026"
        ),
        "{err}"
    );
}

#[test]
fn an_iterator_of_a_deleted_stream_is_resource_not_found() {
    let fx = Fx::new();
    let it = trim_horizon(&fx.e, "s", "shardId-000000000000");
    create(&fx.e, "keep", 1);
    fx.e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    let err = fx.rejected("deleted", |e| get(e, &it, None));
    assert_variant(&err, "ResourceNotFoundException");
    // Re-created under the same name: still the old stream's iterator.
    create(&fx.e, "s", 3);
    let err = fx.rejected("re-created", |e| get(e, &it, None));
    assert_variant(&err, "ResourceNotFoundException");
}

#[test]
fn get_records_with_a_mismatched_stream_arn_is_rejected() {
    let fx = Fx::new();
    create(&fx.e, "t", 1);
    let it = trim_horizon(&fx.e, "s", "shardId-000000000000");
    let arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/t");
    let err = fx.rejected("arn mismatch", |e| {
        e.get_records(GetRecordsInput {
            shard_iterator: it.clone(),
            limit: None,
            stream_arn: Some(arn.clone()),
            stream_id: None,
            dry_run: false,
        })
    });
    assert_variant(&err, "InvalidArgumentException");
    let own = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s");
    let r =
        fx.e.get_records(GetRecordsInput {
            shard_iterator: it,
            limit: None,
            stream_arn: Some(own),
            stream_id: None,
            dry_run: false,
        })
        .unwrap();
    assert_eq!(r.records.len(), 4);
}

// ------------------------------------------------------------------------------ limits / misc

#[test]
fn get_records_limits() {
    let fx = Fx::new();
    let it = trim_horizon(&fx.e, "s", "shardId-000000000000");
    let err = fx.rejected("limit 0", |e| get(e, &it, Some(0)));
    assert_validation(&err, &validation("limit", "0", "Member must have value greater than or equal to 1"));
    for limit in [10_001, u32::MAX] {
        let err = fx.rejected("limit > 10000", |e| get(e, &it, Some(limit)));
        assert_variant(&err, "InvalidArgumentException");
    }
    // The limit is checked before the iterator: garbage with a bad limit is a limit error.
    let err = fx.rejected("limit 0 + garbage", |e| get(e, "garbage", Some(0)));
    assert_variant(&err, "ValidationException");
    // 10,000 is accepted and honoured.
    create(&fx.e, "many", 1);
    for chunk in 0..21u32 {
        let n = if chunk == 20 { 1 } else { 500 };
        let entries = (0..n).map(|i| entry("k", None, &(chunk * 500 + i).to_be_bytes())).collect();
        assert_eq!(put_records(&fx.e, "many", entries).unwrap().failed_record_count, 0);
    }
    let it = trim_horizon(&fx.e, "many", "shardId-000000000000");
    let r = get(&fx.e, &it, Some(10_000)).unwrap();
    assert_eq!(r.records.len(), 10_000);
    assert!(r.records.iter().enumerate().all(|(i, rec)| rec.data[..] == (i as u32).to_be_bytes()));
    let r = get(&fx.e, &r.next_shard_iterator.unwrap(), None).unwrap();
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.records[0].data[..], 10_000u32.to_be_bytes());
}

#[test]
fn hostile_shard_ids_are_rejected_and_create_no_file() {
    let fx = Fx::new();
    for id in ["shardId-../../x", "../../x", "shardId-0/../../x", "shardId-0\0", "shardId 0", "shardId-é", ""] {
        let err = fx.rejected("gsi", |e| gsi(e, "s", id, ShardIteratorType::TrimHorizon, None, None));
        assert_variant(&err, "ValidationException");
        assert!(err.to_string().contains("'shardId'"), "{id:?}: {err}");
        let err = fx.rejected("describe exclusive start", |e| {
            e.describe_stream(DescribeStreamInput {
                stream: StreamRef::name("s"),
                exclusive_start_shard_id: Some(id.into()),
                ..Default::default()
            })
        });
        assert_variant(&err, "ValidationException");
    }
    let long = format!("shardId-{}", "0".repeat(121));
    let err = fx.rejected("129-char shard id", |e| gsi(e, "s", &long, ShardIteratorType::TrimHorizon, None, None));
    assert_variant(&err, "ValidationException");
    // Well-formed names that do not parse as shard ids, or name no shard.
    for id in ["shardId-", "shardId--1", "shardId-2147483648", "abc", "shardId-x"] {
        let err = fx.rejected("unparsable", |e| gsi(e, "s", id, ShardIteratorType::TrimHorizon, None, None));
        assert!(err.is_client_error(), "{id}: {err:?}");
        assert!(matches!(err, Error::InvalidArgument { .. } | Error::ResourceNotFound { .. }), "{id}: {err:?}");
    }
    for (id, canonical) in [("shardId-5", "shardId-000000000005"), ("shardId-2147483647", "shardId-002147483647")] {
        let err = fx.rejected("unknown shard", |e| gsi(e, "s", id, ShardIteratorType::TrimHorizon, None, None));
        assert_eq!(
            err.to_string(),
            format!("Shard {canonical} in stream s under account {ACCOUNT} does not exist"),
            "{err:?}"
        );
        assert_variant(&err, "ResourceNotFoundException");
    }
}

#[test]
fn lenient_shard_ids_resolve() {
    let fx = Fx::new();
    create(&fx.e, "six", 6);
    for i in 0..6u8 {
        let h = shardlog::kinesis::even_split(6)[i as usize].starting_hash_key.to_string();
        put_ehk(&fx.e, "six", "k", &h, &[i]).unwrap();
    }
    for (id, index) in [
        ("shardId-5", 5u8),
        ("shardId-000000000005", 5),
        ("shardId-0005", 5),
        ("shard-0", 0),
        ("x-3", 3),
        ("shardId_x.y-1", 1),
        ("shardId-000000000000000000000002", 2),
    ] {
        let it = gsi(&fx.e, "six", id, ShardIteratorType::TrimHorizon, None, None).unwrap();
        let r = get(&fx.e, &it, None).unwrap();
        assert_eq!(r.records.len(), 1, "{id}");
        assert_eq!(r.records[0].data[0], index, "{id}");
    }
}

#[test]
fn at_timestamp_in_the_future_is_rejected() {
    let fx = Fx::new();
    let now = fx.clock.now_ms();
    for ts in [now + 1, now + 86_400_000, i64::MAX] {
        let err = fx.rejected("future", |e| {
            gsi(e, "s", "shardId-000000000000", ShardIteratorType::AtTimestamp, None, Some(ts))
        });
        assert_invalid(
            &err,
            &format!(
                "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. \
                 timestampInMillis: {ts}, currentTimestampInMillis: {now}"
            ),
        );
    }
    // Now itself and the distant past are accepted; the past behaves as TRIM_HORIZON.
    let all = read_all(&fx.e, "s", "shardId-000000000000");
    for ts in [i64::MIN, -1, 0, T0 - 1] {
        let it = gsi(&fx.e, "s", "shardId-000000000000", ShardIteratorType::AtTimestamp, None, Some(ts)).unwrap();
        assert_eq!(get(&fx.e, &it, None).unwrap().records, all, "{ts}");
    }
    let it = gsi(&fx.e, "s", "shardId-000000000000", ShardIteratorType::AtTimestamp, None, Some(now)).unwrap();
    assert!(get(&fx.e, &it, None).unwrap().records.is_empty());
    // AT_TIMESTAMP without a timestamp.
    let err = fx
        .rejected("no timestamp", |e| gsi(e, "s", "shardId-000000000000", ShardIteratorType::AtTimestamp, None, None));
    assert_invalid(
        &err,
        "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no \
         timestamp parameter.",
    );
}

#[test]
fn put_records_entry_count_and_total_size_limits() {
    let fx = Fx::new();
    let err = fx.rejected("0 entries", |e| put_records(e, "s", Vec::new()));
    assert_validation(&err, &validation("records", "[]", "Member must have length greater than or equal to 1"));
    let err = fx.rejected("501 entries", |e| put_records(e, "s", (0..501).map(|_| entry("k", None, b"x")).collect()));
    assert_variant(&err, "ValidationException");
    assert!(err.to_string().ends_with("Member must have length less than or equal to 500"), "{err}");
    // Total above 5 MiB (every entry on its own is valid).
    let chunk = vec![1u8; MIB - 1];
    let err = fx.rejected("> 5 MiB", |e| put_records(e, "s", (0..6).map(|_| entry("k", None, &chunk)).collect()));
    assert_variant(&err, "InvalidArgumentException");
    let err = fx.rejected("5 MiB + 1", |e| {
        let mut v: Vec<_> = (0..5).map(|_| entry("k", None, &chunk)).collect();
        v.push(entry("k", None, b""));
        put_records(e, "s", v)
    });
    assert_variant(&err, "InvalidArgumentException");
    // 500 entries and exactly 5 MiB are accepted.
    let out = put_records(&fx.e, "s", (0..500).map(|i| entry(&format!("k{i}"), None, b"x")).collect()).unwrap();
    assert_eq!((out.failed_record_count, out.records.len()), (0, 500));
    let out = put_records(&fx.e, "s", (0..5).map(|_| entry("k", None, &chunk)).collect()).unwrap();
    assert_eq!(out.failed_record_count, 0);
}

#[test]
fn iterator_type_and_starting_sequence_number_mismatches() {
    let fx = Fx::new();
    let sh = "shardId-000000000000";
    let seq = read_all(&fx.e, "s", sh)[0].sequence_number.to_string();
    for kind in [ShardIteratorType::AtSequenceNumber, ShardIteratorType::AfterSequenceNumber] {
        let err = fx.rejected("missing", |e| gsi(e, "s", sh, kind, None, None));
        assert_invalid(
            &err,
            &format!(
                "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or \
                 (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {} and no \
                 StartingSequenceNumber.",
                kind.as_str()
            ),
        );
    }
    for kind in [ShardIteratorType::TrimHorizon, ShardIteratorType::Latest] {
        let err = fx.rejected("unexpected", |e| gsi(e, "s", sh, kind, Some(&seq), None));
        assert_invalid(
            &err,
            &format!(
                "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or \
                 (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {} and also a \
                 StartingSequenceNumber.",
                kind.as_str()
            ),
        );
    }
}

#[test]
fn rejected_calls_on_a_never_touched_stream_create_no_shard_files() {
    // Shard logs are opened lazily; a rejected call must not be the one that creates them.
    let fx = Fx::empty();
    create(&fx.e, "fresh", 2);
    create(&fx.e, "other", 2);
    let other_seq = put(&fx.e, "other", "a", b"x").unwrap();
    let sh = other_seq.shard_id.clone();
    let other_seq = other_seq.sequence_number.to_string();
    let mut seq_other_shard = put(&fx.e, "other", "1", b"x").unwrap();
    if seq_other_shard.shard_id == sh {
        seq_other_shard = put(&fx.e, "other", "a", b"y").unwrap();
    }
    let before = listing(&fx.outer);
    let check = |what: &str, err: Error| {
        assert!(err.is_client_error(), "{what}: {err:?}");
        assert_eq!(listing(&fx.outer), before, "{what}: files created by a rejected call ({err})");
    };
    let sq = |s: &str| Some(s.to_string());
    let at = ShardIteratorType::AtSequenceNumber;
    let cases: Vec<(&str, Option<String>, ShardIteratorType, Option<i64>)> = vec![
        ("bad syntax", sq("abc"), at, None),
        ("other stream", Some(other_seq.clone()), at, None),
        ("other shard", Some(seq_other_shard.sequence_number.to_string()), at, None),
        ("missing seq", None, at, None),
        ("future timestamp", None, ShardIteratorType::AtTimestamp, Some(T0 + 1_000_000)),
        ("no timestamp", None, ShardIteratorType::AtTimestamp, None),
    ];
    for (what, seq, kind, ts) in cases {
        let err = gsi(&fx.e, "fresh", &sh, kind, seq.as_deref(), ts).unwrap_err();
        check(what, err);
    }
    let err = put_ehk(&fx.e, "fresh", "k", TWO_POW_128, b"x").unwrap_err();
    check("put 2^128", err);
    let err = put(&fx.e, "fresh", "", b"x").unwrap_err();
    check("put empty key", err);
}
