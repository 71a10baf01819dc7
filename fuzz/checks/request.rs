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
use shardlog_server::protocol::model::{self, Shape};
use shardlog_server::protocol::ops::{self, Op};
use shardlog_server::protocol::wire::{self, Codec, In, Out};

use crate::checks::engine_state::{self, snapshot, T0};
use crate::checks::Input;

/// A body string replaced by a fresh shard iterator of `s`/shard 0 (tokens are keyed per
/// engine, so a stored input cannot carry a valid one).
pub const ITERATOR_PLACEHOLDER: &str = "@ITERATOR@";
/// A body string replaced by a fresh ListShards NextToken of `s`.
pub const NEXT_TOKEN_PLACEHOLDER: &str = "@NEXTTOKEN@";
/// A body string replaced by the ARN of queue `q` (queue ids are random).
pub const QUEUE_ARN_PLACEHOLDER: &str = "@QUEUEARN@";
/// A body string replaced by the receipt handle of a record of `q` in flight (handles are
/// MAC'd with the engine's key).
pub const HANDLE_PLACEHOLDER: &str = "@HANDLE@";
/// A body string replaced by the receipt handle of a dead letter of `q` in flight.
pub const DEAD_LETTER_HANDLE_PLACEHOLDER: &str = "@DLHANDLE@";

/// The placeholders of a fixture and their values.
type Substitutions = Vec<(&'static str, String)>;

/// The engine every input runs against: stream `s` (2 shards, 3 records on shard 0),
/// consumer `c` of `s`, stream `t` (1 shard, tagged), on-demand stream `o` with 5 records
/// and its queue `q` (MaxReceiveCount 1): two dead letters (one in flight), one record in
/// flight, two visible. Returns it with the values of the placeholders.
fn fixture() -> (SimVfs, Engine, Substitutions) {
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
    let (queue_arn, handle, dead_letter_handle) = queue_fixture(&e, &clock);
    let subs = vec![
        (ITERATOR_PLACEHOLDER, iterator),
        (NEXT_TOKEN_PLACEHOLDER, next_token),
        (QUEUE_ARN_PLACEHOLDER, queue_arn),
        (HANDLE_PLACEHOLDER, handle),
        (DEAD_LETTER_HANDLE_PLACEHOLDER, dead_letter_handle),
    ];
    (sim, e, subs)
}

/// Stream `o` (on demand) and queue `q` as [`fixture`] describes; returns the queue's ARN,
/// the in-flight record's handle and the in-flight dead letter's handle.
fn queue_fixture(e: &Engine, clock: &ManualClock) -> (String, String, String) {
    e.create_stream(CreateStreamInput { stream_name: "o".into(), ..CreateStreamInput::default() })
        .expect("on-demand stream");
    for i in 0..5u8 {
        e.put_record(PutRecordInput {
            stream: StreamRef::name("o"),
            data: Bytes::from(vec![i; 4]),
            partition_key: Some(format!("k{i}")),
            explicit_hash_key: None,
            sequence_number_for_ordering: None,
            dry_run: false,
        })
        .expect("put");
    }
    let arn = e.describe_stream_summary(StreamRef::name("o")).expect("summary").stream_arn;
    let queue_arn = e
        .create_queue(CreateQueueInput {
            queue_name: "q".into(),
            stream_configuration_list: vec![QueueStreamConfiguration {
                stream_arn: arn,
                starting_position: Some(QueueStartingPosition {
                    kind: QueueStartingPositionType::TrimHorizon,
                    timestamp: None,
                }),
            }],
            queue_attributes: Some(QueueAttributes {
                visibility_timeout_seconds: Some(30),
                dead_letter_configuration: Some(DeadLetterConfiguration {
                    target_type: DeadLetterTargetType::BuiltIn,
                    max_receive_count: Some(1),
                }),
            }),
            tags: Default::default(),
        })
        .expect("queue")
        .queue_arn;
    let receive = |n: u32, dead_letter: bool| {
        let input = ReceiveQueueRecordsInput {
            queue_arn: queue_arn.clone(),
            limit: Some(n),
            wait_time_seconds: Some(1),
            visibility_timeout_seconds: None,
        };
        let out = if dead_letter { e.receive_dead_letter_queue_records(input) } else { e.receive_queue_records(input) };
        let records = out.expect("receive").queue_records;
        assert_eq!(records.len(), n as usize, "the fixture's queue has records to receive");
        records.into_iter().map(|r| r.receipt_handle).collect::<Vec<_>>()
    };
    // Two records time out at their first (and last) receive: dead letters.
    receive(2, false);
    clock.advance(std::time::Duration::from_secs(31));
    let handle = receive(1, false).remove(0);
    let dead_letter_handle = receive(1, true).remove(0);
    (queue_arn, handle, dead_letter_handle)
}

/// Replace the placeholder strings anywhere in a decoded request.
fn substitute(v: In, subs: &Substitutions) -> In {
    match v {
        In::Str(s) => match subs.iter().find(|(p, _)| *p == s) {
            Some((_, value)) => In::Str(value.clone()),
            None => In::Str(s),
        },
        In::List(items) => In::List(items.into_iter().map(|i| substitute(i, subs)).collect()),
        In::Map(members) => In::Map(members.into_iter().map(|(k, i)| (k, substitute(i, subs))).collect()),
        In::Tag(t, inner) => In::Tag(t, Box::new(substitute(*inner, subs))),
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

/// `ValidationException` texts that are not in the list form: the engine's own (documented)
/// refusals of requests the model cannot describe.
const FREE_VALIDATION_TEXTS: &[&str] = &[
    "Either StreamName or StreamARN must be provided.",
    "This API is not supported for streams in ON_DEMAND capacity mode.",
];

/// The starts of the queue operations' free-form `ValidationException` texts (rules across
/// members that the model cannot state; some name a value, so they are matched by prefix).
const FREE_VALIDATION_PREFIXES: &[&str] = &[
    "MaxReceiveCount is required when the dead-letter TargetType is BUILT_IN.",
    "MaxReceiveCount applies only to the dead-letter TargetType BUILT_IN.",
    "StreamConfigurationList must hold exactly one stream, not ",
    "Timestamp is required when the StartingPosition Type is AT_TIMESTAMP.",
    "Timestamp can be given only when the StartingPosition Type is AT_TIMESTAMP, not ",
    "Queues need a stream in ON_DEMAND capacity mode; stream ",
];

/// Every 4xx carries a message that is valid against the service model: a non-empty text;
/// for a `ValidationException` in the list form, `N validation error(s) detected: ` and
/// `min(N, 10)` items, each naming a member path the operation's model input has (lower camel,
/// `records.1.member.x`), `null` exactly for `Member must not be null` of a required member
/// (or of `PartitionKey` and `ShardCount`, which the server requires on streams routing by
/// partition key and on provisioned streams), and a constraint that
/// member's shape has: its exact pattern, its exact enum set, its element constraints, or a
/// length or value bound no looser than the model's (the engine may be stricter: a stream's
/// record limit, 10 tags per call).
pub fn check_model_valid(op: Op, e: &ApiError) {
    let msg = e.message.as_deref().unwrap_or_else(|| panic!("{} {} has no message", e.status, e.code));
    assert!(!msg.is_empty(), "{} has an empty message", e.code);
    if e.code != "ValidationException"
        || FREE_VALIDATION_TEXTS.contains(&msg)
        || FREE_VALIDATION_PREFIXES.iter().any(|p| msg.starts_with(p))
    {
        return;
    }
    let input = model::operation(op.name()).unwrap_or_else(|| panic!("{op:?} is not in the model")).input;
    let (count, rest) = msg.split_once(' ').unwrap_or_else(|| panic!("not a validation list: {msg}"));
    let n: usize = count.parse().unwrap_or_else(|_| panic!("no count in: {msg}"));
    let head = if n == 1 { "validation error detected: " } else { "validation errors detected: " };
    let items = rest.strip_prefix(head).unwrap_or_else(|| panic!("bad head in: {msg}"));
    let mut budget = 10_000usize;
    let parsed = parse_items(items, input, &mut budget);
    assert_eq!(parsed, Some(n.min(10)), "{op:?}: not {} model-valid items: {msg}", n.min(10));
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// The shape a message path names in `input`, and whether a `null` there is a valid
/// not-null violation.
fn resolve_path(input: &'static Shape, path: &str) -> Option<(&'static Shape, bool)> {
    let mut shape = input;
    let mut nullable_ok = false;
    let mut segments = path.split('.').peekable();
    while let Some(seg) = segments.next() {
        match shape {
            Shape::Structure(s) => {
                let m = s.members.iter().find(|m| lower_first(m.name) == seg)?;
                // Conditionally required members the model cannot mark: PartitionKey (streams
                // routing by partition key) and ShardCount (provisioned streams).
                nullable_ok = m.required || matches!(m.name, "PartitionKey" | "ShardCount");
                shape = m.shape;
            }
            Shape::List(l) => {
                seg.parse::<usize>().ok().filter(|i| *i >= 1)?;
                if segments.next()? != "member" {
                    return None;
                }
                shape = l.member;
                nullable_ok = false;
            }
            _ => return None,
        }
    }
    Some((shape, nullable_ok))
}

/// `[...]` of an element shape: maximum, minimum, pattern, enum.
fn bracket(shape: &Shape) -> String {
    let mut parts = Vec::new();
    match shape {
        Shape::String(s) => {
            parts.extend(s.max.map(|m| format!("Member must have length less than or equal to {m}")));
            parts.extend(s.min.map(|m| format!("Member must have length greater than or equal to {m}")));
            parts.extend(s.pattern.map(|p| format!("Member must satisfy regular expression pattern: {}", p.model)));
            if !s.enum_values.is_empty() {
                parts.push(format!("Member must satisfy enum value set: [{}]", s.enum_values.join(", ")));
            }
        }
        Shape::Integer(s) | Shape::Long(s) => {
            parts.extend(s.max.map(|m| format!("Member must have value less than or equal to {m}")));
            parts.extend(s.min.map(|m| format!("Member must have value greater than or equal to {m}")));
        }
        Shape::Blob(b) => {
            parts.extend(b.max.map(|m| format!("Member must have length less than or equal to {m}")));
            parts.extend(b.min.map(|m| format!("Member must have length greater than or equal to {m}")));
        }
        _ => {}
    }
    format!("[{}]", parts.join(", "))
}

/// The lengths a shape bounds: (min, max).
fn length_bounds(shape: &Shape) -> Option<(Option<u64>, Option<u64>)> {
    match shape {
        Shape::String(s) => Some((s.min, s.max)),
        Shape::Blob(b) => Some((b.min, b.max)),
        Shape::List(l) => Some((l.min, l.max)),
        Shape::Map(m) => Some((m.min, m.max)),
        _ => None,
    }
}

/// The length of the constraint text at the start of `s` that is valid for `shape`, if any
/// (several candidates can match a prefix; all are returned).
fn constraint_lengths(s: &str, shape: &Shape, null: bool, nullable_ok: bool) -> Vec<usize> {
    let mut out = Vec::new();
    let mut exact = |text: String| {
        if s.starts_with(&text) {
            out.push(text.len());
        }
    };
    if null {
        if nullable_ok {
            exact("Member must not be null".into());
        }
        return out;
    }
    if let Shape::String(st) = shape {
        if let Some(p) = st.pattern {
            exact(format!("Member must satisfy regular expression pattern: {}", p.model));
        }
        if !st.enum_values.is_empty() {
            exact(format!("Member must satisfy enum value set: [{}]", st.enum_values.join(", ")));
        }
    }
    match shape {
        Shape::List(l) => exact(format!("Member must satisfy constraint: {}", bracket(l.member))),
        Shape::Map(m) => {
            exact(format!("Map keys must satisfy constraint: {}", bracket(m.key)));
            exact(format!("Map value must satisfy constraint: {}", bracket(m.value)));
        }
        _ => {}
    }
    let number = |prefix: &str| -> Option<(i128, usize)> {
        let rest = s.strip_prefix(prefix)?;
        let digits = rest.char_indices().take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '-')).count();
        rest.get(..digits)?.parse::<i128>().ok().map(|n| (n, prefix.len() + digits))
    };
    if let Some((min, max)) = length_bounds(shape) {
        if let Some((n, len)) = number("Member must have length greater than or equal to ") {
            if min.is_some_and(|m| n >= i128::from(m)) || (min.is_none() && n >= 0) {
                out.push(len);
            }
        }
        if let Some((n, len)) = number("Member must have length less than or equal to ") {
            if max.is_none_or(|m| n <= i128::from(m)) {
                out.push(len);
            }
        }
    }
    if let Shape::Integer(b) | Shape::Long(b) = shape {
        if let Some((n, len)) = number("Member must have value greater than or equal to ") {
            if b.min.is_none_or(|m| n >= i128::from(m)) {
                out.push(len);
            }
        }
        if let Some((n, len)) = number("Member must have value less than or equal to ") {
            if b.max.is_none_or(|m| n <= i128::from(m)) {
                out.push(len);
            }
        }
    }
    out
}

/// How many model-valid items `s` holds, if it is a `; `-separated list of them (values are
/// arbitrary text, so every split is tried, within `budget` steps).
fn parse_items(s: &str, input: &'static Shape, budget: &mut usize) -> Option<usize> {
    let s = s.strip_prefix("Value ")?;
    let mut candidates: Vec<(bool, &str)> = Vec::new();
    if let Some(rest) = s.strip_prefix("null") {
        candidates.push((true, rest));
    }
    if let Some(quoted) = s.strip_prefix('\'') {
        candidates.extend(quoted.match_indices("' at '").map(|(i, _)| (false, &quoted[i + 1..])));
    }
    for (null, after) in candidates {
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        let Some(t) = after.strip_prefix(" at '") else { continue };
        let Some((path, t)) = t.split_once("' failed to satisfy constraint: ") else { continue };
        let Some((shape, nullable_ok)) = resolve_path(input, path) else { continue };
        for len in constraint_lengths(t, shape, null, nullable_ok) {
            let rest = &t[len..];
            if rest.is_empty() {
                return Some(1);
            }
            if let Some(k) = rest.strip_prefix("; ").and_then(|r| parse_items(r, input, budget)) {
                return Some(k + 1);
            }
        }
    }
    None
}

/// Input: `op` u8 (an index into the operation table), `codec` u8 (bit 0: CBOR, else JSON),
/// then the request body. The placeholder strings ([`ITERATOR_PLACEHOLDER`],
/// [`NEXT_TOKEN_PLACEHOLDER`], [`QUEUE_ARN_PLACEHOLDER`], [`HANDLE_PLACEHOLDER`],
/// [`DEAD_LETTER_HANDLE_PLACEHOLDER`]) in the decoded body become a valid iterator,
/// NextToken, queue ARN and receipt handles of the fixture.
///
/// Checks: no panic; a body that does not decode is a parse error (never a crash, however
/// deep, long or malformed); a decoded request either succeeds, and the response it encodes
/// decodes again in the same codec, or fails with a 4xx error whose body carries `__type`
/// and a model-valid message ([`check_model_valid`]) — and a failed request changed nothing
/// the API shows. No file outside the data directory.
pub fn request(data: &[u8]) {
    let Some((op, codec, result, before, after, sim)) = run(data) else { return };
    match result {
        Ok(out) => {
            let bytes = wire::encode(codec, &out);
            wire::decode(codec, &bytes).unwrap_or_else(|err| panic!("our own {op:?} response does not decode: {err}"));
        }
        Err(err) => {
            check_error(&err, codec);
            check_model_valid(op, &err);
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
    let (sim, e, subs) = fixture();
    let decoded = substitute(decoded, &subs);
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
    let oarn = "arn:aws:kinesis:us-east-1:000000000000:stream/o";
    let queue = || Out::Map(vec![("QueueARN", s(QUEUE_ARN_PLACEHOLDER))]);
    let entries = |handle: &'static str, timeout: Option<i64>| {
        let mut entry = vec![("ReceiptHandle", s(handle))];
        if let Some(t) = timeout {
            entry.push(("VisibilityTimeoutSeconds", Out::Int(t)));
        }
        Out::Map(vec![("QueueARN", s(QUEUE_ARN_PLACEHOLDER)), ("Entries", Out::List(vec![Out::Map(entry)]))])
    };
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
        (Op::ListQueues, Out::Map(vec![("MaxResults", Out::Int(5))])),
        (
            Op::CreateQueue,
            Out::Map(vec![
                ("QueueName", s("q2")),
                ("StreamConfigurationList", Out::List(vec![Out::Map(vec![("StreamARN", s(oarn))])])),
                ("QueueAttributes", Out::Map(vec![("VisibilityTimeoutSeconds", Out::Int(60))])),
            ]),
        ),
        (Op::DescribeQueue, queue()),
        (
            Op::UpdateQueue,
            Out::Map(vec![
                ("QueueARN", s(QUEUE_ARN_PLACEHOLDER)),
                (
                    "QueueAttributes",
                    Out::Map(vec![
                        ("VisibilityTimeoutSeconds", Out::Int(45)),
                        (
                            "DeadLetterConfiguration",
                            Out::Map(vec![("TargetType", s("BUILT_IN")), ("MaxReceiveCount", Out::Int(2))]),
                        ),
                    ]),
                ),
            ]),
        ),
        (Op::DeleteQueue, queue()),
        (
            Op::ReceiveQueueRecords,
            Out::Map(vec![
                ("QueueARN", s(QUEUE_ARN_PLACEHOLDER)),
                ("Limit", Out::Int(2)),
                ("WaitTimeSeconds", Out::Int(1)),
            ]),
        ),
        (Op::AcknowledgeQueueRecords, entries(HANDLE_PLACEHOLDER, None)),
        (Op::UpdateQueueRecordsVisibility, entries(HANDLE_PLACEHOLDER, Some(10))),
        (
            Op::ReceiveDeadLetterQueueRecords,
            Out::Map(vec![("QueueARN", s(QUEUE_ARN_PLACEHOLDER)), ("Limit", Out::Int(1))]),
        ),
        (Op::AcknowledgeDeadLetterQueueRecords, entries(DEAD_LETTER_HANDLE_PLACEHOLDER, None)),
        (Op::UpdateDeadLetterQueueRecordsVisibility, entries(DEAD_LETTER_HANDLE_PLACEHOLDER, Some(10))),
        (Op::RestoreDeadLetterQueueRecords, entries(DEAD_LETTER_HANDLE_PLACEHOLDER, None)),
        (Op::ListQueues, Out::Map(vec![("StreamFilter", Out::List(vec![Out::Map(vec![("StreamARN", s(oarn))])]))])),
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
