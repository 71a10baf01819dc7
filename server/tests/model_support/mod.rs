//! Shared by the model tests: the vendored Kinesis model read with its objects in document
//! order, and the member order issue #13 specifies.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use shardlog_server::protocol::wire::{decode_json, In};

/// A JSON value with its objects in document order (the model's member order is meaningful).
#[derive(Debug, Clone, Copy)]
pub struct Value<'a>(pub Option<&'a In>);

impl<'a> Value<'a> {
    pub fn get(self, key: &str) -> Option<Value<'a>> {
        match self.0 {
            Some(In::Map(m)) => m.iter().find(|(k, _)| k == key).map(|(_, v)| Value(Some(v))),
            _ => None,
        }
    }
    pub fn at(self, key: &str) -> Value<'a> {
        self.get(key).unwrap_or(Value(None))
    }
    pub fn as_str(self) -> Option<&'a str> {
        match self.0 {
            Some(In::Str(s)) => Some(s),
            _ => None,
        }
    }
    pub fn as_i128(self) -> Option<i128> {
        match self.0 {
            Some(In::Int(i)) => Some(*i),
            _ => None,
        }
    }
    pub fn entries(self) -> Vec<(&'a str, Value<'a>)> {
        match self.0 {
            Some(In::Map(m)) => m.iter().map(|(k, v)| (k.as_str(), Value(Some(v)))).collect(),
            _ => Vec::new(),
        }
    }
    pub fn strings(self) -> Vec<&'a str> {
        match self.0 {
            Some(In::List(items)) => items.iter().filter_map(|i| Value(Some(i)).as_str()).collect(),
            _ => Vec::new(),
        }
    }
    pub fn is_object(self) -> bool {
        matches!(self.0, Some(In::Map(_)))
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("server/ has a parent").to_path_buf()
}

pub fn vendored_model() -> In {
    let path = root().join("server/model/kinesis-2013-12-02.service-2.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    decode_json(&text).expect("the vendored model is JSON")
}

/// The member order issue #13 gives for the operations recorded against AWS; the members
/// the recording predates follow in model order.
pub const RECORDED: &[(&str, &[&str])] = &[
    ("CreateStream", &["ShardCount", "StreamName"]),
    ("AddTagsToStream", &["Tags", "StreamName"]),
    ("RemoveTagsFromStream", &["TagKeys", "StreamName"]),
    ("IncreaseStreamRetentionPeriod", &["RetentionPeriodHours", "StreamName"]),
    ("DecreaseStreamRetentionPeriod", &["RetentionPeriodHours", "StreamName"]),
    ("DescribeStream", &["Limit", "ExclusiveStartShardId", "StreamName"]),
    ("GetRecords", &["Limit", "ShardIterator"]),
    ("GetShardIterator", &["ShardId", "ShardIteratorType", "StartingSequenceNumber", "StreamName", "Timestamp"]),
    ("ListShards", &["ExclusiveStartShardId", "MaxResults", "NextToken", "StreamCreationTimestamp", "StreamName"]),
    ("ListStreams", &["Limit", "ExclusiveStartStreamName"]),
    ("ListTagsForStream", &["Limit", "ExclusiveStartTagKey", "StreamName"]),
    ("MergeShards", &["ShardToMerge", "AdjacentShardToMerge", "StreamName"]),
    ("PutRecord", &["SequenceNumberForOrdering", "PartitionKey", "ExplicitHashKey", "Data", "StreamName"]),
    ("PutRecords", &["Records", "StreamName"]),
    ("SplitShard", &["NewStartingHashKey", "StreamName", "ShardToSplit"]),
];
