//! Fuzz target `request`: the request parser and validator of `shardlog serve` — the JSON 1.1
//! and CBOR codecs (`shardlog_server::protocol::wire`) and the operation table that validates a
//! decoded request and calls the engine (`shardlog_server::protocol::ops`) — without HTTP.
//!
//! Included (`#[path]`) by `fuzz/fuzz_targets/request.rs` and by `cli/tests/fuzz_corpus.rs`,
//! next to `checks/mod.rs` (as `crate::checks`), whose engine helpers it uses.
#![allow(dead_code)]

use bytes::Bytes;
use shardlog::engine::*;
use shardlog::io::sim::SimVfs;
use shardlog::{Engine, ManualClock};
use shardlog_server::protocol::errors::{ApiError, Form};
use shardlog_server::protocol::ops::{self, Op};
use shardlog_server::protocol::wire::{self, Codec, In, Out};

use crate::checks::engine_state::{self, snapshot, T0};
use crate::checks::Input;

/// A body string replaced by a fresh shard iterator of `s`/shard 0 (tokens are keyed per
/// engine, so a stored input cannot carry a valid one).
pub const ITERATOR_PLACEHOLDER: &str = "@ITERATOR@";
/// A body string replaced by a fresh ListShards NextToken of `s`.
pub const NEXT_TOKEN_PLACEHOLDER: &str = "@NEXTTOKEN@";

/// The engine every input runs against: stream `s` (2 shards, 3 records on shard 0),
/// consumer `c` of `s`, stream `t` (1 shard, tagged). Returns it with a fresh iterator and
/// NextToken.
fn fixture() -> (SimVfs, Engine, String, String) {
    let sim = SimVfs::new();
    let clock = ManualClock::new(T0);
    let e = engine_state::open(&sim, &clock).expect("open");
    for (name, shards) in [("s", 2), ("t", 1)] {
        e.create_stream(CreateStreamInput {
            stream_name: name.into(),
            shard_count: Some(shards),
            ..CreateStreamInput::default()
        })
        .expect("create");
    }
    for i in 0..3 {
        e.put_record(PutRecordInput {
            stream: StreamRef::name("s"),
            data: Bytes::from(vec![i; 10]),
            partition_key: Some("k".into()),
            explicit_hash_key: Some("0".into()),
            sequence_number_for_ordering: None,
            dry_run: false,
        })
        .expect("put");
    }
    let arn = e.describe_stream_summary(StreamRef::name("s")).expect("summary").stream_arn;
    e.register_stream_consumer(RegisterStreamConsumerInput {
        stream_arn: arn,
        consumer_name: "c".into(),
        stream_id: None,
        tags: Default::default(),
    })
    .expect("consumer");
    e.add_tags_to_stream(AddTagsToStreamInput {
        stream: StreamRef::name("t"),
        tags: [("team".to_string(), "x".to_string())].into_iter().collect(),
    })
    .expect("tags");
    let iterator = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name("s"),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .expect("iterator")
        .shard_iterator;
    let next_token = e
        .list_shards(ListShardsInput { stream: StreamRef::name("s"), max_results: Some(1), ..Default::default() })
        .expect("list")
        .next_token
        .expect("two shards, one per page");
    (sim, e, iterator, next_token)
}

/// Replace the placeholder strings anywhere in a decoded request.
fn substitute(v: In, iterator: &str, next_token: &str) -> In {
    match v {
        In::Str(s) if s == ITERATOR_PLACEHOLDER => In::Str(iterator.to_string()),
        In::Str(s) if s == NEXT_TOKEN_PLACEHOLDER => In::Str(next_token.to_string()),
        In::List(items) => In::List(items.into_iter().map(|i| substitute(i, iterator, next_token)).collect()),
        In::Map(members) => {
            In::Map(members.into_iter().map(|(k, i)| (k, substitute(i, iterator, next_token))).collect())
        }
        In::Tag(t, inner) => In::Tag(t, Box::new(substitute(*inner, iterator, next_token))),
        other => other,
    }
}

/// An error for bad input: a 4xx whose body, in the request's codec, decodes and names the
/// exception in `__type`.
fn check_error(e: &ApiError, codec: Codec) {
    assert!(e.status.is_client_error(), "input was answered with {} {} ({:?})", e.status, e.code, e.message);
    let (body, content_type) = e.body(codec);
    if matches!(e.form, Form::Envelope | Form::CapitalMessage) {
        assert!(content_type.is_some());
        let decoded = wire::decode(codec, &body).unwrap_or_else(|err| panic!("error body does not decode: {err}"));
        let In::Map(members) = decoded else { panic!("error body is not a structure") };
        assert!(
            members.iter().any(|(k, v)| k == "__type" && *v == In::Str(e.code.to_string())),
            "error body lacks __type {}",
            e.code
        );
    }
}

/// Input: `op` u8 (an index into the operation table), `codec` u8 (bit 0: CBOR, else JSON),
/// then the request body. The strings [`ITERATOR_PLACEHOLDER`] and [`NEXT_TOKEN_PLACEHOLDER`]
/// in the decoded body become a valid iterator / NextToken of the fixture.
///
/// Checks: no panic; a body that does not decode is a parse error (never a crash, however
/// deep, long or malformed); a decoded request either succeeds, and the response it encodes
/// decodes again in the same codec, or fails with a 4xx error whose body carries `__type` —
/// and a failed request changed nothing the API shows. No file outside the data directory.
pub fn request(data: &[u8]) {
    let Some((op, codec, result, before, after, sim)) = run(data) else { return };
    match result {
        Ok(out) => {
            let bytes = wire::encode(codec, &out);
            wire::decode(codec, &bytes).unwrap_or_else(|err| panic!("our own {op:?} response does not decode: {err}"));
        }
        Err(err) => {
            check_error(&err, codec);
            assert_eq!(before, after, "a failed {op:?} changed what the API shows");
        }
    }
    engine_state::assert_files_inside_root(&sim);
}

/// What one input does: `None` if the body does not decode (a parse error), else the
/// operation, the codec, the outcome, and the API snapshots before and after the call.
#[allow(clippy::type_complexity)]
pub fn run(data: &[u8]) -> Option<(Op, Codec, Result<Out, ApiError>, String, String, SimVfs)> {
    let mut input = Input::new(data);
    let op = ops::ALL[usize::from(input.u8()) % ops::ALL.len()].0;
    let codec = if input.u8() & 1 == 1 { Codec::Cbor } else { Codec::Json };
    let decoded = wire::decode(codec, input.rest()).ok()?;
    let (sim, e, iterator, next_token) = fixture();
    let decoded = substitute(decoded, &iterator, &next_token);
    let before = snapshot(&e);
    let result = if op == Op::SubscribeToShard {
        ops::subscribe_input(codec, decoded)
            .and_then(|i| e.subscribe_to_shard(i).map_err(|err| ApiError::from_engine(&err)))
            .map(|_| Out::empty())
    } else {
        ops::call(&e, op, codec, decoded)
    };
    let after = snapshot(&e);
    Some((op, codec, result, before, after, sim))
}

fn s(v: &'static str) -> Out {
    Out::Static(v)
}

/// Seed inputs: a well-formed request of every operation, in JSON and in CBOR.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s";
    let carn_prefix = "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:";
    let stream = || ("StreamName", s("s"));
    let bodies: Vec<(Op, Out)> = vec![
        (Op::AddTagsToStream, Out::Map(vec![stream(), ("Tags", Out::Map(vec![("k", s("v"))]))])),
        (Op::CreateStream, Out::Map(vec![("StreamName", s("new")), ("ShardCount", Out::Int(2))])),
        (Op::DecreaseStreamRetentionPeriod, Out::Map(vec![stream(), ("RetentionPeriodHours", Out::Int(24))])),
        (Op::DeleteStream, Out::Map(vec![("StreamName", s("t"))])),
        (Op::DeregisterStreamConsumer, Out::Map(vec![("StreamARN", s(arn)), ("ConsumerName", s("c"))])),
        (Op::DescribeStream, Out::Map(vec![stream(), ("Limit", Out::Int(1))])),
        (Op::DescribeStreamConsumer, Out::Map(vec![("StreamARN", s(arn)), ("ConsumerName", s("c"))])),
        (Op::DescribeLimits, Out::empty()),
        (Op::DescribeStreamSummary, Out::Map(vec![("StreamARN", s(arn))])),
        (Op::GetRecords, Out::Map(vec![("ShardIterator", s(ITERATOR_PLACEHOLDER)), ("Limit", Out::Int(2))])),
        (
            Op::GetShardIterator,
            Out::Map(vec![
                stream(),
                ("ShardId", s("shardId-000000000000")),
                ("ShardIteratorType", s("AT_TIMESTAMP")),
                ("Timestamp", Out::Time(T0)),
            ]),
        ),
        (Op::IncreaseStreamRetentionPeriod, Out::Map(vec![stream(), ("RetentionPeriodHours", Out::Int(48))])),
        (Op::ListShards, Out::Map(vec![("NextToken", s(NEXT_TOKEN_PLACEHOLDER))])),
        (Op::ListShards, Out::Map(vec![stream(), ("ShardFilter", Out::Map(vec![("Type", s("AT_TRIM_HORIZON"))]))])),
        (Op::ListStreamConsumers, Out::Map(vec![("StreamARN", s(arn)), ("MaxResults", Out::Int(5))])),
        (Op::ListStreams, Out::Map(vec![("Limit", Out::Int(1)), ("ExclusiveStartStreamName", s("a"))])),
        (Op::ListTagsForStream, Out::Map(vec![("StreamName", s("t"))])),
        (
            Op::MergeShards,
            Out::Map(vec![
                stream(),
                ("ShardToMerge", s("shardId-000000000000")),
                ("AdjacentShardToMerge", s("shardId-000000000001")),
            ]),
        ),
        (
            Op::PutRecord,
            Out::Map(vec![
                stream(),
                ("Data", Out::Blob(Bytes::from_static(b"hello"))),
                ("PartitionKey", s("pk")),
                ("ExplicitHashKey", s("340282366920938463463374607431768211455")),
            ]),
        ),
        (
            Op::PutRecords,
            Out::Map(vec![
                stream(),
                (
                    "Records",
                    Out::List(vec![
                        Out::Map(vec![("Data", Out::Blob(Bytes::from_static(b"a"))), ("PartitionKey", s("1"))]),
                        Out::Map(vec![("Data", Out::Blob(Bytes::new())), ("PartitionKey", s("2"))]),
                    ]),
                ),
            ]),
        ),
        (Op::RegisterStreamConsumer, Out::Map(vec![("StreamARN", s(arn)), ("ConsumerName", s("d"))])),
        (Op::RemoveTagsFromStream, Out::Map(vec![("StreamName", s("t")), ("TagKeys", Out::List(vec![s("team")]))])),
        (
            Op::SplitShard,
            Out::Map(vec![stream(), ("ShardToSplit", s("shardId-000000000000")), ("NewStartingHashKey", s("1000"))]),
        ),
        (
            Op::SubscribeToShard,
            Out::Map(vec![
                ("ConsumerARN", Out::Str(format!("{carn_prefix}1767225600"))),
                ("ShardId", s("shardId-000000000000")),
                ("StartingPosition", Out::Map(vec![("Type", s("TRIM_HORIZON"))])),
            ]),
        ),
        (Op::UpdateMaxRecordSize, Out::Map(vec![("StreamARN", s(arn)), ("MaxRecordSizeInKiB", Out::Int(2048))])),
        (
            Op::UpdateShardCount,
            Out::Map(vec![stream(), ("TargetShardCount", Out::Int(4)), ("ScalingType", s("UNIFORM_SCALING"))]),
        ),
    ];
    let mut out = Vec::new();
    for (i, (op, body)) in bodies.into_iter().enumerate() {
        let index = ops::ALL.iter().position(|(o, _)| *o == op).expect("in the table") as u8;
        for (codec, flag, name) in [(Codec::Json, 0u8, "json"), (Codec::Cbor, 1, "cbor")] {
            let bytes = [&[index, flag][..], &wire::encode(codec, &body)].concat();
            out.push((format!("seed-{i:02}-{}-{name}", op.name()), bytes));
        }
    }
    out
}
