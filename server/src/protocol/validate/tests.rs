//! The validator on the cases AWS recorded (kinesalite's tests run against the real service,
//! and the examples of issue #13). Every operation's constraints are exercised from the model
//! itself by `server/tests/validator_model.rs`.

use super::*;
use crate::protocol::wire::decode_json;

fn check(op: &str, body: &str) -> Result<(), ApiError> {
    validate(op, Codec::Json, &decode_json(body.as_bytes()).expect("test body is JSON"))
}

fn message(op: &str, body: &str) -> String {
    match check(op, body) {
        Err(e) => {
            assert_eq!(e.code, "ValidationException", "{op} {body}: {e:?}");
            e.message.unwrap_or_default()
        }
        Ok(()) => panic!("{op} {body} passed validation"),
    }
}

fn serialization(op: &str, body: &str) -> String {
    match check(op, body) {
        Err(e) => {
            assert_eq!(e.code, "SerializationException", "{op} {body}: {e:?}");
            e.message.unwrap_or_default()
        }
        Ok(()) => panic!("{op} {body} passed validation"),
    }
}

#[test]
fn create_stream_reports_every_violation_in_model_order() {
    // Issue #13's example: the shardCount minimum, the streamName pattern, its minimum length.
    assert_eq!(
        message("CreateStream", r#"{"StreamName":"","ShardCount":0}"#),
        "3 validation errors detected: \
         Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1; \
         Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: \
         [a-zA-Z0-9_.-]+; \
         Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
}

#[test]
fn get_records_limit_and_iterator_are_one_validation_exception() {
    // Issue #13: a 513-character iterator and Limit 100000 are two items of one
    // ValidationException, not an InvalidArgumentException about the limit.
    let it = "x".repeat(513);
    assert_eq!(
        message("GetRecords", &format!(r#"{{"ShardIterator":"{it}","Limit":100000}}"#)),
        format!(
            "2 validation errors detected: \
             Value '100000' at 'limit' failed to satisfy constraint: Member must have value less than or equal to \
             10000; \
             Value '{it}' at 'shardIterator' failed to satisfy constraint: Member must have length less than or \
             equal to 512"
        )
    );
}

#[test]
fn missing_required_members_are_null_values() {
    // kinesalite test/getShardIterator.js (StreamName is no longer required in the model).
    assert_eq!(
        message("GetShardIterator", "{}"),
        "2 validation errors detected: \
         Value null at 'shardId' failed to satisfy constraint: Member must not be null; \
         Value null at 'shardIteratorType' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        message("AddTagsToStream", "{}"),
        "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn enum_values_print_in_the_recorded_order() {
    // kinesalite test/getShardIterator.js, recorded against AWS.
    assert!(message("GetShardIterator", r#"{"ShardId":"shardId-0","ShardIteratorType":""}"#).ends_with(
        "Value '' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: \
         [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"
    ));
}

#[test]
fn put_record_members_follow_the_recorded_order() {
    // kinesalite test/putRecord.js: sequenceNumberForOrdering, partitionKey, explicitHashKey,
    // data, streamName. Patterns print as the current model writes them.
    let name = "a".repeat(129);
    let key = "k".repeat(257);
    let data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![0u8; 10_485_761]);
    let body = format!(
        r#"{{"StreamName":"{name}","PartitionKey":"{key}","Data":"{data}","ExplicitHashKey":"","SequenceNumberForOrdering":"01"}}"#
    );
    assert_eq!(
        message("PutRecord", &body),
        format!(
            "5 validation errors detected: \
             Value '01' at 'sequenceNumberForOrdering' failed to satisfy constraint: Member must satisfy regular \
             expression pattern: ^(0|([1-9]\\d{{0,128}}))$; \
             Value '{key}' at 'partitionKey' failed to satisfy constraint: Member must have length less than or \
             equal to 256; \
             Value '' at 'explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression \
             pattern: ^(0|([1-9]\\d{{0,38}}))$; \
             Value 'java.nio.HeapByteBuffer[pos=0 lim=10485761 cap=10485761]' at 'data' failed to satisfy \
             constraint: Member must have length less than or equal to 10485760; \
             Value '{name}' at 'streamName' failed to satisfy constraint: Member must have length less than or \
             equal to 128"
        )
    );
}

#[test]
fn list_elements_use_one_based_member_paths() {
    // kinesalite test/putRecords.js.
    assert_eq!(
        message("PutRecords", r#"{"StreamName":"s","Records":[{"PartitionKey":"","Data":"","ExplicitHashKey":""}]}"#),
        "2 validation errors detected: \
         Value '' at 'records.1.member.partitionKey' failed to satisfy constraint: Member must have length greater \
         than or equal to 1; \
         Value '' at 'records.1.member.explicitHashKey' failed to satisfy constraint: Member must satisfy regular \
         expression pattern: ^(0|([1-9]\\d{0,38}))$"
    );
}

#[test]
fn ten_items_are_listed_and_all_are_counted() {
    // kinesalite test/putRecords.js "too many records": the size first, then elements.
    let records: Vec<String> = (0..501).map(|_| r#"{"PartitionKey":"","Data":""}"#.to_string()).collect();
    let m = message("PutRecords", &format!(r#"{{"StreamName":"","Records":[{}]}}"#, records.join(",")));
    assert!(m.starts_with(
        "504 validation errors detected: Value '[com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@"
    ));
    assert!(m.contains(
        "...' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500; "
    ));
    let items: Vec<&str> = m.split("; Value").collect();
    assert_eq!(items.len(), MAX_ITEMS);
    for (i, item) in items.iter().skip(1).enumerate() {
        assert_eq!(
            *item,
            format!(
                " '' at 'records.{}.member.partitionKey' failed to satisfy constraint: Member must have length \
                 greater than or equal to 1",
                i + 1
            )
        );
    }
    // Equal entries print equal (AWS prints the same hash for equal entries).
    let hashes: HashSet<&str> = m.split("PutRecordsRequestEntry@").skip(1).map(|h| &h[..8]).collect();
    assert_eq!(hashes.len(), 1);
}

#[test]
fn map_and_list_element_violations_are_reported_against_the_collection() {
    let long_key = "k".repeat(129);
    assert_eq!(
        message("AddTagsToStream", &format!(r#"{{"StreamName":"s","Tags":{{"a":"1","{long_key}":"2"}}}}"#)),
        format!(
            "1 validation error detected: Value '{{a=1, {long_key}=2}}' at 'tags' failed to satisfy constraint: Map \
             keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have \
             length greater than or equal to 1]"
        )
    );
    let long_value = "v".repeat(257);
    assert_eq!(
        message("AddTagsToStream", &format!(r#"{{"StreamName":"s","Tags":{{"":"{long_value}"}}}}"#)),
        format!(
            "2 validation errors detected: Value '{{={long_value}}}' at 'tags' failed to satisfy constraint: Map keys \
             must satisfy constraint: [Member must have length less than or equal to 128, Member must have length \
             greater than or equal to 1]; Value '{{={long_value}}}' at 'tags' failed to satisfy constraint: Map \
             value must satisfy constraint: [Member must have length less than or equal to 256, Member must have \
             length greater than or equal to 0]"
        )
    );
    assert_eq!(
        message("RemoveTagsFromStream", r#"{"StreamName":"s","TagKeys":["a",""]}"#),
        "1 validation error detected: Value '[a, ]' at 'tagKeys' failed to satisfy constraint: Member must satisfy \
         constraint: [Member must have length less than or equal to 128, Member must have length greater than or \
         equal to 1]"
    );
    assert_eq!(
        message("EnableEnhancedMonitoring", r#"{"StreamName":"s","ShardLevelMetrics":["ALL","Bogus"]}"#),
        "1 validation error detected: Value '[ALL, Bogus]' at 'shardLevelMetrics' failed to satisfy constraint: \
         Member must satisfy constraint: [Member must satisfy enum value set: [IncomingBytes, IncomingRecords, \
         OutgoingBytes, OutgoingRecords, WriteProvisionedThroughputExceeded, ReadProvisionedThroughputExceeded, \
         IteratorAgeMilliseconds, ALL]]"
    );
}

#[test]
fn nested_structures_use_dotted_paths() {
    assert_eq!(
        message("CreateStream", r#"{"StreamName":"s","StreamModeDetails":{}}"#),
        "1 validation error detected: Value null at 'streamModeDetails.streamMode' failed to satisfy constraint: \
         Member must not be null"
    );
    assert_eq!(
        message("ListShards", r#"{"StreamName":"s","ShardFilter":{"Type":"SOON"}}"#),
        "1 validation error detected: Value 'SOON' at 'shardFilter.type' failed to satisfy constraint: Member must \
         satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, \
         FROM_TIMESTAMP]"
    );
}

#[test]
fn integers_print_as_the_deserializer_read_them() {
    // Above 2^31-1 the deserializer clamps: AWS prints 2147483647.
    assert!(message("ListStreams", r#"{"Limit":100000000000}"#)
        .contains("Value '2147483647' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"));
    assert!(message("ListStreams", r#"{"Limit":0.5}"#).contains(
        "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
    ));
}

#[test]
fn types_are_checked_before_constraints() {
    // A constraint violation earlier in the body does not hide a type error later.
    assert_eq!(
        serialization("CreateStream", r#"{"StreamName":"","ShardCount":"1"}"#),
        "class java.lang.String can not be converted to an Integer"
    );
    assert_eq!(
        serialization("PutRecords", r#"{"Records":[{"Data":5}]}"#).as_str(),
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to a Blob"
    );
    assert!(serialization("PutRecord", r#"{"Data":"abc","PartitionKey":"k"}"#)
        .ends_with("multiple of 4 bytes but found: 3"));
    assert_eq!(serialization("CreateStream", r#"[]"#), "Start of list found where not expected");
    // Unknown members are ignored whatever their type.
    assert!(check("ListStreams", r#"{"Bogus":[1,{"x":true}]}"#).is_ok());
}

#[test]
fn valid_requests_pass() {
    for (op, body) in [
        ("CreateStream", r#"{"StreamName":"..","ShardCount":1}"#),
        ("CreateStream", r#"{"StreamName":".","StreamModeDetails":{"StreamMode":"ON_DEMAND"}}"#),
        ("PutRecord", r#"{"StreamName":"s","PartitionKey":"k","Data":"","ExplicitHashKey":"0"}"#),
        (
            "PutRecords",
            r#"{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s","Records":[{"Data":"aGk="}]}"#,
        ),
        ("DescribeLimits", "{}"),
        ("ListShards", r#"{"StreamName":"s","ShardFilter":{"Type":"AT_LATEST"}}"#),
        ("AddTagsToStream", r#"{"StreamName":"s","Tags":{"a":""}}"#),
    ] {
        assert!(check(op, body).is_ok(), "{op} {body}: {:?}", check(op, body));
    }
}

#[test]
fn a_hundred_thousand_bad_entries_give_a_bounded_message() {
    // 100,000 entries each missing Data: the true total is counted, ten are listed, and the
    // rendered list is cut, so the message stays small.
    let body = format!(r#"{{"StreamName":"s","Records":[{}]}}"#, vec!["{}"; 100_000].join(","));
    let m = message("PutRecords", &body);
    assert!(m.starts_with("100001 validation errors detected: "), "{}", &m[..80]);
    assert!(m.len() < MAX_VALUE_CHARS + 2_000, "message of {} bytes", m.len());
    assert_eq!(m.matches("failed to satisfy constraint").count(), MAX_ITEMS);
    assert!(m.contains("Value null at 'records.9.member.data' failed to satisfy constraint: Member must not be null"));
}

#[test]
fn every_model_pattern_compiles_and_anchors() {
    for p in PATTERNS.iter() {
        let r = regex::Regex::new(p.regex);
        assert!(r.is_ok(), "{}: {:?}", p.model, r.err());
    }
    let name = model::operation("CreateStream").map(|o| o.input);
    assert!(name.is_some());
    // Java semantics: whole-string match, \d is ASCII, \S excludes only ASCII white space.
    let stream_arn = PATTERNS.iter().find(|p| p.model.ends_with(":stream/\\S+")).expect("stream ARN pattern");
    assert!(pattern_matches(stream_arn, "arn:aws:kinesis:us-east-1:123456789012:stream/a"));
    assert!(!pattern_matches(stream_arn, "arn:aws:kinesis:us-east-1:123456789012:stream/a b"));
    assert!(pattern_matches(stream_arn, "arn:aws:kinesis:us-east-1:123456789012:stream/a\u{a0}b"));
    assert!(!pattern_matches(stream_arn, "arn:aws:kinesis:us-east-1:12345678901\u{661}:stream/a"));
    assert!(!pattern_matches(stream_arn, "xarn:aws:kinesis:us-east-1:123456789012:stream/a"));
    let hash_key = PATTERNS.iter().find(|p| p.model.contains("{0,38}")).expect("hash key pattern");
    assert!(pattern_matches(hash_key, "0"));
    assert!(!pattern_matches(hash_key, "01"));
    assert!(!pattern_matches(hash_key, "1\n"));
}
