//! Records as the forwarder moves them: what a source yields ([`SourceRecord`]), what a sink
//! is given ([`OutRecord`]), and optional re-keying by a template ([`KeyTemplate`]).
//!
//! Keys: the destination partition key is the template's expansion if one is given,
//! otherwise the source's partition key. A record without a partition key (an AUTO stream's,
//! or a template that expands to nothing) is sent with its source sequence number as the
//! partition key, which spreads such records evenly over the destination's shards as AUTO
//! does; such records have no ordering key, since AUTO promises no order. Explicit hash keys
//! are kept as they are, except when re-keying (the point of a new key is a new route).

use bytes::Bytes;

/// Longest partition key Kinesis accepts (characters).
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// A record read from a source shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Its sequence number in the source shard.
    pub sequence_number: String,
    /// Its offset in the source shard when the source has dense offsets (a local stream:
    /// the sequence number's counter), used to notice records lost to retention.
    pub offset: Option<u64>,
    /// `ApproximateArrivalTimestamp` in milliseconds since the epoch.
    pub arrival_ms: i64,
    /// The payload.
    pub data: Bytes,
    /// The partition key (`None`: the record has none).
    pub partition_key: Option<String>,
    /// The explicit hash key the producer gave, when the source keeps it.
    pub explicit_hash_key: Option<u128>,
}

/// A record ready for `PutRecords`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    /// `PartitionKey` (1–256 characters).
    pub partition_key: String,
    /// `ExplicitHashKey`.
    pub explicit_hash_key: Option<u128>,
    /// `Data`.
    pub data: Bytes,
    /// Records with the same ordering key are accepted by the destination in source order
    /// (`None`: no order promised).
    pub ordering_key: Option<String>,
    /// The source sequence number (for messages).
    pub source_sequence_number: String,
    /// The source arrival time (for the lag).
    pub arrival_ms: i64,
}

impl OutRecord {
    /// Bytes that count against the PutRecords limits: data plus partition key.
    pub fn billed_bytes(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// One piece of a [`KeyTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    PartitionKey,
    ExplicitHashKey,
    SequenceNumber,
    ShardId,
}

/// A re-keying template: literal text with `{partition_key}`, `{explicit_hash_key}`,
/// `{sequence_number}` and `{shard_id}` (the source's), and `{{` / `}}` for braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    pieces: Vec<Piece>,
    source: String,
}

impl KeyTemplate {
    /// Parse a template; the error names what is wrong.
    pub fn parse(template: &str) -> Result<KeyTemplate, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("re-key template {template:?}: '{{{name}' is not closed")),
                        }
                    }
                    let piece = match name.as_str() {
                        "partition_key" => Piece::PartitionKey,
                        "explicit_hash_key" => Piece::ExplicitHashKey,
                        "sequence_number" => Piece::SequenceNumber,
                        "shard_id" => Piece::ShardId,
                        _ => {
                            return Err(format!(
                                "re-key template {template:?}: unknown field {{{name}}} (known: {{partition_key}}, \
                                 {{explicit_hash_key}}, {{sequence_number}}, {{shard_id}})"
                            ))
                        }
                    };
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(piece);
                }
                '}' => return Err(format!("re-key template {template:?}: a lone '}}' (write '}}}}')")),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        if pieces.is_empty() {
            return Err("re-key template is empty".into());
        }
        Ok(KeyTemplate { pieces, source: template.to_string() })
    }

    /// The template as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Expand the template for a record of `shard_id`.
    pub fn expand(&self, shard_id: &str, r: &SourceRecord) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::PartitionKey => out.push_str(r.partition_key.as_deref().unwrap_or("")),
                Piece::ExplicitHashKey => {
                    if let Some(h) = r.explicit_hash_key {
                        out.push_str(&h.to_string());
                    }
                }
                Piece::SequenceNumber => out.push_str(&r.sequence_number),
                Piece::ShardId => out.push_str(shard_id),
            }
        }
        out
    }
}

/// Turn a source record into what is sent, applying the re-key template; the error names
/// the record whose new key Kinesis would refuse.
pub fn to_out(shard_id: &str, r: SourceRecord, rekey: Option<&KeyTemplate>) -> Result<OutRecord, String> {
    let (key, explicit_hash_key) = match rekey {
        Some(t) => (t.expand(shard_id, &r), None),
        None => (r.partition_key.clone().unwrap_or_default(), r.explicit_hash_key),
    };
    let chars = key.chars().count();
    if chars > MAX_PARTITION_KEY_CHARS {
        return Err(format!(
            "the partition key for record {} of {shard_id} has {chars} characters (Kinesis allows at most \
             {MAX_PARTITION_KEY_CHARS}){}",
            r.sequence_number,
            rekey.map(|t| format!("; re-key template {:?}", t.as_str())).unwrap_or_default()
        ));
    }
    let (partition_key, ordering_key) =
        if key.is_empty() { (r.sequence_number.clone(), None) } else { (key.clone(), Some(key)) };
    Ok(OutRecord {
        partition_key,
        explicit_hash_key,
        data: r.data,
        ordering_key,
        source_sequence_number: r.sequence_number,
        arrival_ms: r.arrival_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: Option<&str>, ehk: Option<u128>) -> SourceRecord {
        SourceRecord {
            sequence_number: "4960".into(),
            offset: Some(7),
            arrival_ms: 1,
            data: Bytes::from_static(b"x"),
            partition_key: key.map(str::to_string),
            explicit_hash_key: ehk,
        }
    }

    #[test]
    fn without_a_template_keys_and_explicit_hash_keys_are_kept() {
        let o = to_out("shardId-000000000001", rec(Some("k"), Some(42)), None).unwrap();
        assert_eq!(
            (o.partition_key.as_str(), o.explicit_hash_key, o.ordering_key.as_deref()),
            ("k", Some(42), Some("k"))
        );
    }

    #[test]
    fn a_record_without_a_key_is_sent_under_its_sequence_number_with_no_order_promised() {
        let o = to_out("shardId-000000000001", rec(None, None), None).unwrap();
        assert_eq!(o.partition_key, "4960");
        assert_eq!(o.ordering_key, None);
    }

    #[test]
    fn a_template_expands_every_field_and_drops_the_explicit_hash_key() {
        let t = KeyTemplate::parse("{{x}}-{partition_key}/{shard_id}/{sequence_number}/{explicit_hash_key}").unwrap();
        let o = to_out("shardId-000000000001", rec(Some("k"), Some(42)), Some(&t)).unwrap();
        assert_eq!(o.partition_key, "{x}-k/shardId-000000000001/4960/42");
        assert_eq!(o.explicit_hash_key, None);
        assert_eq!(o.ordering_key.as_deref(), Some("{x}-k/shardId-000000000001/4960/42"));
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        assert!(KeyTemplate::parse("").unwrap_err().contains("empty"));
        assert!(KeyTemplate::parse("{nope}").unwrap_err().contains("unknown field {nope}"));
        assert!(KeyTemplate::parse("{partition_key").unwrap_err().contains("not closed"));
        assert!(KeyTemplate::parse("a}b").unwrap_err().contains("lone"));
    }

    #[test]
    fn a_key_longer_than_kinesis_allows_is_refused_naming_the_record() {
        let t = KeyTemplate::parse(&"é".repeat(257)).unwrap();
        let e = to_out("shardId-000000000001", rec(Some("k"), None), Some(&t)).unwrap_err();
        assert!(e.contains("257 characters") && e.contains("4960"), "{e}");
        let t = KeyTemplate::parse(&"é".repeat(256)).unwrap();
        assert!(to_out("shardId-000000000001", rec(Some("k"), None), Some(&t)).is_ok());
    }
}
