//! The engine's check order and error precedence, one test per AWS behaviour (issue #13 §2,
//! with the texts kinesalite's tests recorded against the real service): shard ids parsed
//! before the stream is looked up, MergeShards' lower-shard rule, tag character rules, the
//! account shard quota before the per-stream count, iterators of deleted streams, stream
//! names `.` and `..`, and legacy sequence numbers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use shardlog::engine::*;
use shardlog::{Durability, Engine, EngineConfig, Error, ManualClock};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const ACCOUNT: &str = "000000000000";

struct Fx {
    _dir: tempfile::TempDir,
    e: Engine,
}

fn engine() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let config = EngineConfig { clock: Arc::new(clock), durability: Durability::Buffered, ..EngineConfig::default() };
    let e = Engine::open(dir.path(), config).unwrap();
    Fx { _dir: dir, e }
}

fn create(e: &Engine, name: &str, shards: u32) {
    e.create_stream(CreateStreamInput { stream_name: name.into(), shard_count: Some(shards), ..Default::default() })
        .unwrap();
}

#[track_caller]
fn expect_err<T: std::fmt::Debug>(r: Result<T, Error>, code: &str, message: &str) {
    let err = r.expect_err("the call must fail");
    assert_eq!(err.kinesis_error_code(), code, "{err:?}");
    assert_eq!(err.to_string(), message);
}

fn iterator_input(stream: &str, shard_id: &str) -> GetShardIteratorInput {
    GetShardIteratorInput {
        stream: StreamRef::name(stream),
        shard_id: shard_id.into(),
        shard_iterator_type: ShardIteratorType::TrimHorizon,
        starting_sequence_number: None,
        timestamp: None,
        dry_run: false,
    }
}

fn could_not_find(id: &str, stream: &str) -> String {
    format!("Could not find shard {id} in stream {stream} under account {ACCOUNT}.")
}

fn shard_does_not_exist(id: &str, stream: &str) -> String {
    format!("Shard {id} in stream {stream} under account {ACCOUNT} does not exist")
}

/// The shard ids kinesalite recorded as not resolving: the part after the first `-` (or the
/// whole id) is not decimal digits of at most 2147483647.
const UNPARSEABLE: &[&str] = &["ABKLFD8", "2.14E4", "shardId-002147483648", "2147483648", "shardId-"];

#[test]
fn get_shard_iterator_parses_the_shard_id_before_looking_up_the_stream() {
    let fx = engine();
    create(&fx.e, "s", 1);
    for id in UNPARSEABLE {
        for stream in ["s", "missing"] {
            expect_err(
                fx.e.get_shard_iterator(iterator_input(stream, id)),
                "ResourceNotFoundException",
                &could_not_find(id, stream),
            );
        }
    }
    // A parseable id on a missing stream names the shard, canonical, and the stream.
    for (id, canonical) in [
        ("2147483647", "shardId-002147483647"),
        ("a-00002147483647", "shardId-002147483647"),
        ("-00002147483647", "shardId-002147483647"),
        ("shardId-5", "shardId-000000000005"),
    ] {
        expect_err(
            fx.e.get_shard_iterator(iterator_input("missing", id)),
            "ResourceNotFoundException",
            &shard_does_not_exist(canonical, "missing"),
        );
    }
    // On the existing stream, lenient ids resolve; unknown indexes do not exist.
    fx.e.get_shard_iterator(iterator_input("s", "0")).unwrap();
    fx.e.get_shard_iterator(iterator_input("s", "anything-0")).unwrap();
    expect_err(
        fx.e.get_shard_iterator(iterator_input("s", "shardId-5")),
        "ResourceNotFoundException",
        &shard_does_not_exist("shardId-000000000005", "s"),
    );
}

#[test]
fn split_and_merge_parse_shard_ids_before_the_stream_and_keep_stream_not_found() {
    let fx = engine();
    create(&fx.e, "s", 2);
    let split = |stream: &str, id: &str| {
        fx.e.split_shard(SplitShardInput {
            stream: StreamRef::name(stream),
            shard_to_split: id.into(),
            new_starting_hash_key: "1000".into(),
        })
    };
    let merge = |stream: &str, a: &str, b: &str| {
        fx.e.merge_shards(MergeShardsInput {
            stream: StreamRef::name(stream),
            shard_to_merge: a.into(),
            adjacent_shard_to_merge: b.into(),
        })
    };
    for id in UNPARSEABLE {
        for stream in ["s", "missing"] {
            expect_err(split(stream, id), "ResourceNotFoundException", &could_not_find(id, stream));
            // ShardToMerge first, then AdjacentShardToMerge.
            expect_err(merge(stream, id, "ZZ"), "ResourceNotFoundException", &could_not_find(id, stream));
            expect_err(
                merge(stream, "shardId-000000000000", id),
                "ResourceNotFoundException",
                &could_not_find(id, stream),
            );
        }
    }
    // Parseable ids on a missing stream: the stream is not found.
    let stream_not_found = format!("Stream missing under account {ACCOUNT} not found.");
    expect_err(split("missing", "shardId-000000000000"), "ResourceNotFoundException", &stream_not_found);
    expect_err(merge("missing", "0", "1"), "ResourceNotFoundException", &stream_not_found);
    // Parseable ids of shards the stream does not have.
    expect_err(split("s", "9"), "ResourceNotFoundException", &could_not_find("shardId-000000000009", "s"));
}

#[test]
fn merge_shards_requires_the_shard_to_merge_to_be_the_lower_one() {
    let fx = engine();
    create(&fx.e, "s", 2);
    let merge = |a: &str, b: &str| {
        fx.e.merge_shards(MergeShardsInput {
            stream: StreamRef::name("s"),
            shard_to_merge: a.into(),
            adjacent_shard_to_merge: b.into(),
        })
    };
    expect_err(
        merge("shardId-000000000001", "shardId-000000000000"),
        "InvalidArgumentException",
        &format!(
            "Shards shardId-000000000001 and shardId-000000000000 in stream s under account {ACCOUNT} are not an \
             adjacent pair of shards eligible for merging"
        ),
    );
    merge("shardId-000000000000", "shardId-000000000001").unwrap();
    let shards = fx.e.list_shards(ListShardsInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    let child = shards.shards.iter().find(|s| s.shard_id == "shardId-000000000002").expect("the merged child");
    assert_eq!(child.parent_shard_id.as_deref(), Some("shardId-000000000000"));
    assert_eq!(child.adjacent_parent_shard_id.as_deref(), Some("shardId-000000000001"));
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn tag_characters_are_checked_after_the_stream_is_found_and_before_the_tag_count() {
    let fx = engine();
    create(&fx.e, "s", 1);
    let add = |stream: &str, t: BTreeMap<String, String>| {
        fx.e.add_tags_to_stream(AddTagsToStreamInput { stream: StreamRef::name(stream), tags: t })
    };
    let invalid = "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, \
                   _ . / = + - % @.";
    // The stream is looked up first.
    expect_err(
        add("missing", tags(&[("a:b", "v")])),
        "ResourceNotFoundException",
        &format!("Stream missing under account {ACCOUNT} not found."),
    );
    for bad in [("a:b", "v"), ("k", "v*"), ("aws:name", "v"), ("k", "a,b")] {
        expect_err(add("s", tags(&[bad])), "InvalidArgumentException", invalid);
    }
    expect_err(
        add("s", tags(&[("50%", "v")])),
        "InvalidArgumentException",
        &format!(
            "Failed to add tags to stream s under account {ACCOUNT} because some tags contained illegal characters. \
             The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'."
        ),
    );
    // Unicode letters, digits, white space and _ . / = + - @ are fine.
    add("s", tags(&[("Ünï cödé_./=+-@", "日本 ٣")])).unwrap();
    // Characters come before the 50-tag count (one tag so far; 49 more fill the stream).
    for chunk in 0..5 {
        let n = if chunk == 4 { 9 } else { 10 };
        let more: BTreeMap<String, String> = (0..n).map(|i| (format!("k{chunk}{i}"), "v".to_string())).collect();
        add("s", more).unwrap_or_else(|e| panic!("chunk {chunk}: {e}"));
    }
    expect_err(add("s", tags(&[("x:y", "v")])), "InvalidArgumentException", invalid);
    expect_err(
        add("s", tags(&[("one-more", "v")])),
        "InvalidArgumentException",
        &format!(
            "Failed to add tags to stream s under account {ACCOUNT} because a given stream cannot have more than 50 \
             tags associated with it."
        ),
    );
    // RemoveTagsFromStream checks keys, with its own wording for `%`.
    let remove = |keys: &[&str]| {
        fx.e.remove_tags_from_stream(RemoveTagsFromStreamInput {
            stream: StreamRef::name("s"),
            tag_keys: keys.iter().map(|k| k.to_string()).collect(),
        })
    };
    expect_err(remove(&["a:b"]), "InvalidArgumentException", invalid);
    expect_err(
        remove(&["50%"]),
        "InvalidArgumentException",
        &format!(
            "Failed to remove tags from stream s under account {ACCOUNT} because some tags contained illegal \
             characters. The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'."
        ),
    );
    remove(&["k00"]).unwrap();
}

#[test]
fn a_huge_shard_count_reports_the_account_quota_with_its_real_numbers() {
    let fx = engine();
    create(&fx.e, "s", 3);
    expect_err(
        fx.e.create_stream(CreateStreamInput {
            stream_name: "big".into(),
            shard_count: Some(2_000_000_000),
            ..Default::default()
        }),
        "LimitExceededException",
        &format!(
            "This request would exceed the shard limit for the account {ACCOUNT} in us-east-1. Current shard count \
             for the account: 3. Limit: 500. Number of additional shards that would have resulted from this \
             request: 2000000000. Refer to the AWS Service Limits page \
             (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to \
             request higher limits."
        ),
    );
}

#[test]
fn get_records_on_an_iterator_of_a_deleted_stream_names_the_stream_even_after_re_creation() {
    let fx = engine();
    create(&fx.e, "s", 1);
    let put = |data: &'static [u8]| {
        fx.e.put_record(PutRecordInput {
            stream: StreamRef::name("s"),
            data: Bytes::from_static(data),
            partition_key: Some("k".into()),
            ..Default::default()
        })
        .unwrap()
    };
    put(b"old");
    let it = fx.e.get_shard_iterator(iterator_input("s", "shardId-000000000000")).unwrap().shard_iterator;
    fx.e.delete_stream(DeleteStreamInput { stream: StreamRef::name("s"), ..Default::default() }).unwrap();
    let gone = shard_does_not_exist("shardId-000000000000", "s");
    let read = |it: &str| fx.e.get_records(GetRecordsInput { shard_iterator: it.into(), ..Default::default() });
    expect_err(read(&it), "ResourceNotFoundException", &gone);
    // A stream of the same name is another stream: the old iterator never reads it.
    create(&fx.e, "s", 1);
    put(b"new");
    expect_err(read(&it), "ResourceNotFoundException", &gone);
    let fresh = fx.e.get_shard_iterator(iterator_input("s", "shardId-000000000000")).unwrap().shard_iterator;
    let recs = read(&fresh).unwrap().records;
    assert_eq!(recs.len(), 1);
    assert_eq!(&recs[0].data[..], b"new");
}

#[test]
fn stream_names_of_only_dots_are_valid_kinesis_names() {
    let fx = engine();
    for name in [".", "..", "..."] {
        create(&fx.e, name, 1);
        fx.e.put_record(PutRecordInput {
            stream: StreamRef::name(name),
            data: Bytes::from_static(b"x"),
            partition_key: Some("k".into()),
            ..Default::default()
        })
        .unwrap();
        let arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}");
        let d = fx.e.describe_stream_summary(StreamRef::arn(arn.clone())).unwrap();
        assert_eq!(d.stream_arn, arn);
    }
    assert_eq!(fx.e.list_streams(ListStreamsInput::default()).unwrap().stream_names, vec![".", "..", "..."]);
}

#[test]
fn legacy_starting_sequence_numbers_get_aws_texts() {
    // kinesalite test/getShardIterator.js (recorded against AWS): `5` is a version-0 number of
    // shard 5; `0` is version 0 of shard 0 but not from this stream, quoted re-encoded.
    let fx = engine();
    create(&fx.e, "s", 1);
    let at = |seq: &str| {
        fx.e.get_shard_iterator(GetShardIteratorInput {
            starting_sequence_number: Some(seq.into()),
            shard_iterator_type: ShardIteratorType::AtSequenceNumber,
            ..iterator_input("s", "shardId-0")
        })
    };
    expect_err(
        at("5"),
        "InvalidArgumentException",
        "Invalid StartingSequenceNumber. It encodes shardId-000000000005, while it was used in a call to a shard \
         with shardId-000000000000",
    );
    expect_err(
        at("0"),
        "InvalidArgumentException",
        &format!(
            "StartingSequenceNumber 21267647932558653966460912964485513216 used in GetShardIterator on shard \
             shardId-000000000000 in stream s under account {ACCOUNT} is invalid because it did not come from this \
             stream."
        ),
    );
    // PutRecord accepts legacy ordering numbers (version 1 here) as AWS does.
    fx.e.put_record(PutRecordInput {
        stream: StreamRef::name("s"),
        data: Bytes::from_static(b"x"),
        partition_key: Some("k".into()),
        sequence_number_for_ordering: Some("49039857307708443467467104868809893875799651909875269633".into()),
        ..Default::default()
    })
    .unwrap();
}
