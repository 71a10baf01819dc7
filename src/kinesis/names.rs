//! Names and ARNs: request-member validation in the Kinesis `ValidationException` form
//! (kinesis-behaviour §1.1, §3.3), stream and consumer ARNs. Shard ids live in
//! [`shard_id`](super::shard_id) (re-exported here).
//!
//! String lengths are counted like AWS (Java `String.length()`, i.e. UTF-16 code units): a
//! character outside the Basic Multilingual Plane counts 2. For the ASCII-only names this is
//! the character count.

use std::fmt;

use super::decimal::digits_to_u128;
use super::messages;
pub use super::shard_id::{parse_shard_id, resolve_shard_id, shard_id_name, MAX_SHARD_INDEX};
use crate::{Error, Result};

/// Pattern shared by `StreamName`, `ConsumerName` and `ShardId`.
pub const NAME_PATTERN: &str = "[a-zA-Z0-9_.-]+";
/// Maximum length of a stream, consumer or shard-id name.
pub const NAME_MAX_LEN: usize = 128;
/// Maximum length of a partition key (UTF-16 code units, as AWS counts).
pub const PARTITION_KEY_MAX_LEN: usize = 256;
/// Maximum UTF-8 size of a partition key (256 characters of up to 4 bytes).
pub const PARTITION_KEY_MAX_BYTES: usize = 1024;
/// Maximum length of a tag key.
pub const TAG_KEY_MAX_LEN: usize = 128;
/// Maximum length of a tag value.
pub const TAG_VALUE_MAX_LEN: usize = 256;
/// Maximum number of tags on one stream.
pub const MAX_TAGS_PER_STREAM: usize = 50;
/// Maximum number of tags in one AddTagsToStream call.
pub const MAX_TAGS_PER_ADD_CALL: usize = 10;
/// Maximum length of a stream or consumer ARN.
pub const ARN_MAX_LEN: usize = 2048;

/// One constraint of the Kinesis model, rendered as the text after
/// `failed to satisfy constraint: `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint<'a> {
    /// `Member must not be null`.
    NotNull,
    /// `Member must satisfy regular expression pattern: <p>`.
    Pattern(&'a str),
    /// `Member must have length greater than or equal to <n>`.
    MinLength(usize),
    /// `Member must have length less than or equal to <n>`.
    MaxLength(usize),
    /// `Member must have value greater than or equal to <n>`.
    MinValue(i128),
    /// `Member must have value less than or equal to <n>`.
    MaxValue(i128),
    /// `Member must satisfy enum value set: [A, B, …]`.
    EnumValue(&'a [&'a str]),
    /// `Map keys must satisfy constraint: [Member must have length less than or equal to
    /// <max>, Member must have length greater than or equal to <min>]`.
    MapKeyLength(usize, usize),
    /// `Map value must satisfy constraint: [Member must have length less than or equal to
    /// <max>, Member must have length greater than or equal to <min>]`.
    MapValueLength(usize, usize),
    /// `Member must be valid UTF-8` (engine-specific: AWS rejects such input while
    /// deserializing, before constraint checks).
    ValidUtf8,
}

impl fmt::Display for Constraint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::NotNull => f.write_str("Member must not be null"),
            Constraint::Pattern(p) => write!(f, "Member must satisfy regular expression pattern: {p}"),
            Constraint::MinLength(n) => write!(f, "Member must have length greater than or equal to {n}"),
            Constraint::MaxLength(n) => write!(f, "Member must have length less than or equal to {n}"),
            Constraint::MinValue(n) => write!(f, "Member must have value greater than or equal to {n}"),
            Constraint::MaxValue(n) => write!(f, "Member must have value less than or equal to {n}"),
            Constraint::EnumValue(set) => {
                write!(f, "Member must satisfy enum value set: [{}]", set.join(", "))
            }
            Constraint::MapKeyLength(min, max) => write!(
                f,
                "Map keys must satisfy constraint: [Member must have length less than or equal to {max}, \
                 Member must have length greater than or equal to {min}]"
            ),
            Constraint::MapValueLength(min, max) => write!(
                f,
                "Map value must satisfy constraint: [Member must have length less than or equal to {max}, \
                 Member must have length greater than or equal to {min}]"
            ),
            Constraint::ValidUtf8 => f.write_str("Member must be valid UTF-8"),
        }
    }
}

/// Collects constraint violations of one request and renders them as AWS does:
/// `N validation error(s) detected: Value '<v>' at '<member>' failed to satisfy constraint:
/// <constraint>; …`, listing at most [`ValidationErrors::MAX_LISTED`] while `N` counts them
/// all (only the listed ones are formatted). Members are lower-camel paths with 1-based list
/// indexes (`records.1.member.partitionKey`).
#[derive(Debug, Default, Clone)]
pub struct ValidationErrors {
    violations: Vec<String>,
    total: usize,
}

impl ValidationErrors {
    /// Most violations a message lists (AWS's limit).
    pub const MAX_LISTED: usize = 10;

    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// A `ValidationException` with a single violation.
    pub fn single(member: &str, value: impl fmt::Display, constraint: Constraint<'_>) -> Error {
        let mut v = Self::new();
        v.push(member, value, constraint);
        v.to_error()
    }

    /// Records that `member` with `value` violates `constraint`.
    pub fn push(&mut self, member: &str, value: impl fmt::Display, constraint: Constraint<'_>) {
        self.total += 1;
        if self.violations.len() < Self::MAX_LISTED {
            self.violations.push(format!("Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"));
        }
    }

    /// Records a missing required member (`Value null at '<member>' … must not be null`).
    pub fn null(&mut self, member: &str) {
        self.total += 1;
        if self.violations.len() < Self::MAX_LISTED {
            self.violations
                .push(format!("Value null at '{member}' failed to satisfy constraint: {}", Constraint::NotNull));
        }
    }

    /// Records a pattern violation.
    pub fn pattern(&mut self, member: &str, value: &str, pattern: &str) {
        self.push(member, value, Constraint::Pattern(pattern));
    }

    /// Checks a length (counted as AWS does) against `[min, max]`.
    pub fn length(&mut self, member: &str, value: &str, min: usize, max: usize) {
        let len = java_len(value);
        if len < min {
            self.push(member, value, Constraint::MinLength(min));
        }
        if len > max {
            self.push(member, value, Constraint::MaxLength(max));
        }
    }

    /// Checks an integer against `[min, max]`.
    pub fn range(&mut self, member: &str, value: i128, min: i128, max: i128) {
        if value < min {
            self.push(member, value, Constraint::MinValue(min));
        }
        if value > max {
            self.push(member, value, Constraint::MaxValue(max));
        }
    }

    /// Checks a stream, consumer or shard-id name: pattern `[a-zA-Z0-9_.-]+`, length 1–128.
    pub fn name(&mut self, member: &str, value: &str) {
        if !is_name_syntax(value) {
            self.pattern(member, value, NAME_PATTERN);
        }
        self.length(member, value, 1, NAME_MAX_LEN);
    }

    /// Checks a partition key: length 1–256 as AWS counts (and at most 1024 UTF-8 bytes,
    /// checked first so huge keys are rejected without scanning them).
    pub fn partition_key(&mut self, member: &str, value: &str) {
        if value.is_empty() {
            self.push(member, value, Constraint::MinLength(1));
        } else if value.len() > PARTITION_KEY_MAX_BYTES || java_len(value) > PARTITION_KEY_MAX_LEN {
            self.push(member, value, Constraint::MaxLength(PARTITION_KEY_MAX_LEN));
        }
    }

    /// Number of violations recorded.
    pub fn len(&self) -> usize {
        self.total
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// `Ok(())` when nothing was recorded, else the `ValidationException`.
    pub fn into_result(self) -> Result<()> {
        match self.is_empty() {
            true => Ok(()),
            false => Err(self.to_error()),
        }
    }

    fn to_error(&self) -> Error {
        let n = self.total;
        let plural = if n == 1 { "" } else { "s" };
        Error::Validation { message: format!("{n} validation error{plural} detected: {}", self.violations.join("; ")) }
    }
}

/// Length of `s` as AWS (Java) counts it: UTF-16 code units.
pub fn java_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

fn is_name_syntax(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn validate_name(member: &str, value: &str) -> Result<()> {
    let mut v = ValidationErrors::new();
    v.name(member, value);
    v.into_result()
}

/// Validates a `StreamName` (member `streamName`): 1–128 chars of `[a-zA-Z0-9_.-]`.
/// `.`, `..` and names starting with `-` are valid Kinesis names (AWS accepts them); they
/// never reach the file system, where a stream's directory is named by its internal id.
pub fn validate_stream_name(name: &str) -> Result<()> {
    validate_name("streamName", name)
}

/// Validates a `ConsumerName` (member `consumerName`): 1–128 chars of `[a-zA-Z0-9_.-]`.
pub fn validate_consumer_name(name: &str) -> Result<()> {
    validate_name("consumerName", name)
}

/// Validates a `ShardId` member (member `shardId`): 1–128 chars of `[a-zA-Z0-9_.-]`.
pub fn validate_shard_id(shard_id: &str) -> Result<()> {
    validate_name("shardId", shard_id)
}

/// Validates a `PartitionKey` (member `partitionKey`): 1–256 characters as AWS counts them
/// (UTF-16 code units) and at most 1024 UTF-8 bytes. NUL and any other character are allowed.
pub fn validate_partition_key(key: &str) -> Result<()> {
    let mut v = ValidationErrors::new();
    v.partition_key("partitionKey", key);
    v.into_result()
}

/// Validates a partition key given as raw bytes (e.g. from a CBOR text string) and returns
/// it as `&str`. Invalid UTF-8, including encoded lone surrogates, is a `ValidationException`.
pub fn validate_partition_key_utf8(key: &[u8]) -> Result<&str> {
    match std::str::from_utf8(key) {
        Ok(s) => validate_partition_key(s).map(|()| s),
        Err(_) => Err(ValidationErrors::single("partitionKey", String::from_utf8_lossy(key), Constraint::ValidUtf8)),
    }
}

/// Validates a tag key's length: 1–128 characters (`ValidationException` on member `tags`).
/// Its characters are checked once the stream is found ([`validate_tag_characters`]); keys
/// starting with `aws:` are refused there, `:` not being an allowed character.
pub fn validate_tag_key(key: &str) -> Result<()> {
    let len = java_len(key);
    if !(1..=TAG_KEY_MAX_LEN).contains(&len) {
        return Err(ValidationErrors::single("tags", key, Constraint::MapKeyLength(1, TAG_KEY_MAX_LEN)));
    }
    Ok(())
}

/// Whether `c` may appear in a tag key or value: Unicode letters, digits and white space,
/// and `_ . / = + - % @` (the `Tag` shape's documentation; `%` is then refused on its own,
/// see [`validate_tag_characters`]).
pub fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || matches!(c, '_' | '.' | '/' | '=' | '+' | '-' | '%' | '@')
}

/// Which tag operation a character check is for (it names the operation in its message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagChange {
    /// AddTagsToStream (and the tags of CreateStream): keys and values are checked.
    Add,
    /// RemoveTagsFromStream: keys only.
    Remove,
}

/// Checks the characters of tags (`texts`: keys, and for [`TagChange::Add`] values), in
/// AWS's order once the stream is found: a character outside [`is_tag_char`] is
/// `InvalidArgumentException` `Some tags contain invalid characters. …`; otherwise a `%`
/// is `InvalidArgumentException` `Failed to add (remove) tags to (from) stream … because
/// some tags contained illegal characters. …`.
pub fn validate_tag_characters<'a>(
    stream: &str,
    account: &str,
    change: TagChange,
    texts: impl Iterator<Item = &'a str> + Clone,
) -> Result<()> {
    if texts.clone().any(|t| !t.chars().all(is_tag_char)) {
        return Err(messages::tags_invalid_characters());
    }
    if texts.clone().any(|t| t.contains('%')) {
        return Err(messages::tags_illegal_characters(stream, account, change == TagChange::Remove));
    }
    Ok(())
}

/// Validates a tag value: 0–256 characters (`ValidationException` on member `tags`).
pub fn validate_tag_value(value: &str) -> Result<()> {
    match java_len(value) <= TAG_VALUE_MAX_LEN {
        true => Ok(()),
        false => Err(ValidationErrors::single("tags", value, Constraint::MapValueLength(0, TAG_VALUE_MAX_LEN))),
    }
}

/// Validates the tags of one call: 1..=`max_per_call` entries (10 for AddTagsToStream, 50
/// for CreateStream), then every key and value.
pub fn validate_tags(tags: &[(&str, &str)], max_per_call: usize) -> Result<()> {
    if tags.is_empty() || tags.len() > max_per_call {
        let rendered = JavaMap(tags);
        let c = if tags.is_empty() { Constraint::MinLength(1) } else { Constraint::MaxLength(max_per_call) };
        return Err(ValidationErrors::single("tags", rendered, c));
    }
    tags.iter().try_for_each(|(k, v)| validate_tag_key(k).and_then(|()| validate_tag_value(v)))
}

/// Checks that a stream would hold at most 50 tags after a change
/// (`InvalidArgumentException` otherwise).
pub fn validate_tag_count(stream: &str, account: &str, total_after: usize) -> Result<()> {
    match total_after <= MAX_TAGS_PER_STREAM {
        true => Ok(()),
        false => Err(messages::too_many_tags(stream, account)),
    }
}

/// Renders tags like a Java map: `{k1=v1, k2=v2}`.
struct JavaMap<'a>(&'a [(&'a str, &'a str)]);

impl fmt::Display for JavaMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{k}={v}")?;
        }
        f.write_str("}")
    }
}

/// `arn:aws:kinesis:<region>:<account>:stream/<name>`.
pub fn stream_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:kinesis:{region}:{account}:stream/{name}")
}

/// `arn:aws:kinesis:<region>:<account>:stream/<stream>/consumer/<consumer>:<creation_secs>`.
pub fn consumer_arn(region: &str, account: &str, stream: &str, consumer: &str, creation_secs: u64) -> String {
    format!("arn:aws:kinesis:{region}:{account}:stream/{stream}/consumer/{consumer}:{creation_secs}")
}

/// Splits `arn:<aws…>:kinesis:<region>:<12 digits>:<resource>`, returning region, account
/// and resource. Partition and region may not contain `:`.
fn split_kinesis_arn(arn: &str) -> Option<(&str, &str, &str)> {
    if arn.len() > ARN_MAX_LEN {
        return None;
    }
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("kinesis"), Some(region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (partition.starts_with("aws") && account_ok).then_some((region, account, resource))
}

/// Parses a stream ARN matching the model pattern `arn:aws.*:kinesis:.*:\d{12}:stream/\S+`
/// (length ≤ 2048) into `(region, account, stream name)`. The name is returned as written;
/// callers validate it with [`validate_stream_name`].
pub fn parse_stream_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let (region, account, resource) = split_kinesis_arn(arn)?;
    let name = resource.strip_prefix("stream/")?;
    (!name.is_empty() && !name.chars().any(char::is_whitespace)).then_some((region, account, name))
}

/// The parts of a consumer ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerArnParts<'a> {
    /// Region.
    pub region: &'a str,
    /// 12-digit account id.
    pub account: &'a str,
    /// Stream name.
    pub stream: &'a str,
    /// Consumer name.
    pub consumer: &'a str,
    /// Consumer creation time, epoch seconds.
    pub creation_secs: u64,
}

/// Parses a consumer ARN matching the model pattern
/// `arn:aws.*:kinesis:.*:\d{12}:stream/[a-zA-Z0-9_.-]+/consumer/[a-zA-Z0-9_.-]+:[0-9]+`
/// (length ≤ 2048).
pub fn parse_consumer_arn(arn: &str) -> Option<ConsumerArnParts<'_>> {
    let (region, account, resource) = split_kinesis_arn(arn)?;
    let rest = resource.strip_prefix("stream/")?;
    let (stream, rest) = rest.split_once('/')?;
    let (consumer, secs) = rest.strip_prefix("consumer/")?.rsplit_once(':')?;
    if !is_name_syntax(stream) || !is_name_syntax(consumer) {
        return None;
    }
    let creation_secs = u64::try_from(digits_to_u128(secs.as_bytes())?).ok()?;
    Some(ConsumerArnParts { region, account, stream, consumer, creation_secs })
}

/// `arn:aws:kinesis:<region>:<account>:channel/<channel id>` (the id is what SDK endpoint
/// rules read as the resource id).
pub fn channel_arn(region: &str, account: &str, channel_id: &str) -> String {
    format!("arn:aws:kinesis:{region}:{account}:channel/{channel_id}")
}

/// `arn:aws:kinesis:<region>:<account>:queue/<queue id>`.
pub fn queue_arn(region: &str, account: &str, queue_id: &str) -> String {
    format!("arn:aws:kinesis:{region}:{account}:queue/{queue_id}")
}

/// The kind of resource a `ResourceARN` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// `…:stream/<name>`.
    Stream,
    /// `…:stream/<name>/consumer/<name>:<secs>`.
    Consumer,
    /// `…:channel/<id>`.
    Channel,
    /// `…:queue/<id>`.
    Queue,
}

/// The parts of a `ResourceARN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceArnParts<'a> {
    /// Region.
    pub region: &'a str,
    /// 12-digit account id.
    pub account: &'a str,
    /// What it names.
    pub kind: ResourceKind,
    /// The stream name (streams and consumers) or the channel or queue id.
    pub id: &'a str,
}

/// Parses a `ResourceARN` (model pattern
/// `arn:aws.*:kinesis:.*:\d{12}:.*(stream|channel|queue)/\S+`, length ≤ 2048) naming a
/// stream, consumer, channel or queue.
pub fn parse_resource_arn(arn: &str) -> Option<ResourceArnParts<'_>> {
    if let Some(c) = parse_consumer_arn(arn) {
        return Some(ResourceArnParts {
            region: c.region,
            account: c.account,
            kind: ResourceKind::Consumer,
            id: c.stream,
        });
    }
    let (region, account, resource) = split_kinesis_arn(arn)?;
    let (kind, id) = if let Some(n) = resource.strip_prefix("stream/") {
        (ResourceKind::Stream, n)
    } else if let Some(id) = resource.strip_prefix("channel/") {
        (ResourceKind::Channel, id)
    } else if let Some(id) = resource.strip_prefix("queue/") {
        (ResourceKind::Queue, id)
    } else {
        return None;
    };
    (!id.is_empty() && !id.chars().any(char::is_whitespace)).then_some(ResourceArnParts { region, account, kind, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validation_message(r: Result<()>) -> String {
        match r {
            Err(Error::Validation { message }) => message,
            other => panic!("expected Validation, got {other:?}"),
        }
    }

    #[test]
    fn stream_name_hostile_rows_rejected() {
        let long = "a".repeat(129);
        let rejected = [
            "",
            "../x",
            "a/b",
            "a\\b",
            "a\0b",
            long.as_str(),
            "a b",
            " ",
            "a\tb",
            "a\nb",
            "\u{7f}",
            "é",
            "a\u{202e}b",
            "\u{430}bc", // Cyrillic а
        ];
        for name in rejected {
            validation_message(validate_stream_name(name));
            validation_message(validate_consumer_name(name));
        }
    }

    #[test]
    fn stream_name_accepted() {
        let max = "a".repeat(128);
        for name in ["a", max.as_str(), "A-z_0.9", "-leading", "_", "a..b"] {
            validate_stream_name(name).unwrap();
            validate_consumer_name(name).unwrap();
            validate_shard_id(name).unwrap();
        }
        // Kinesis accepts names of only dots, and so does the engine (names are never paths).
        for name in [".", "..", "..."] {
            validate_consumer_name(name).unwrap();
            validate_stream_name(name).unwrap();
        }
    }

    #[test]
    fn name_messages_exact() {
        assert_eq!(
            validation_message(validate_stream_name("a/b")),
            "1 validation error detected: Value 'a/b' at 'streamName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        );
        let long = "b".repeat(129);
        assert_eq!(
            validation_message(validate_consumer_name(&long)),
            format!(
                "1 validation error detected: Value '{long}' at 'consumerName' failed to satisfy constraint: \
                 Member must have length less than or equal to 128"
            )
        );
        assert_eq!(
            validation_message(validate_stream_name("")),
            "2 validation errors detected: Value '' at 'streamName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; \
             Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
    }

    #[test]
    fn builder_combines() {
        let mut v = ValidationErrors::new();
        assert!(v.is_empty());
        v.null("streamName");
        v.range("shardCount", 0, 1, 10_000);
        v.partition_key("records.2.member.partitionKey", "");
        v.push("shardIteratorType", "BOGUS", Constraint::EnumValue(&["LATEST", "TRIM_HORIZON"]));
        assert_eq!(v.len(), 4);
        let m = validation_message(v.into_result());
        assert_eq!(
            m,
            "4 validation errors detected: \
             Value null at 'streamName' failed to satisfy constraint: Member must not be null; \
             Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1; \
             Value '' at 'records.2.member.partitionKey' failed to satisfy constraint: \
             Member must have length greater than or equal to 1; \
             Value 'BOGUS' at 'shardIteratorType' failed to satisfy constraint: \
             Member must satisfy enum value set: [LATEST, TRIM_HORIZON]"
        );
        assert!(ValidationErrors::new().into_result().is_ok());
        let mut v = ValidationErrors::new();
        v.range("limit", 10_001, 1, 10_000);
        v.range("limit", -1, 1, 10_000);
        assert!(validation_message(v.into_result()).contains("Value '-1' at 'limit'"));
    }

    #[test]
    fn at_most_ten_are_listed_and_all_are_counted() {
        let mut v = ValidationErrors::new();
        for i in 0..25 {
            v.null(&format!("records.{}.member.data", i + 1));
        }
        assert_eq!(v.len(), 25);
        let m = validation_message(v.into_result());
        assert!(m.starts_with("25 validation errors detected: Value null at 'records.1.member.data'"), "{m}");
        assert_eq!(m.matches("failed to satisfy constraint").count(), ValidationErrors::MAX_LISTED);
        assert!(
            m.ends_with("Value null at 'records.10.member.data' failed to satisfy constraint: Member must not be null")
        );
    }

    #[test]
    fn partition_key_rows() {
        let k256 = "k".repeat(256);
        let k257 = "k".repeat(257);
        let two_byte_256 = "é".repeat(256);
        let four_byte_256 = "😀".repeat(256); // 1024 bytes, 512 UTF-16 units
        let four_byte_128 = "😀".repeat(128); // 512 bytes, 256 UTF-16 units
        for ok in ["k", "a\0b", k256.as_str(), two_byte_256.as_str(), four_byte_128.as_str()] {
            validate_partition_key(ok).unwrap();
        }
        assert_eq!(
            validation_message(validate_partition_key("")),
            "1 validation error detected: Value '' at 'partitionKey' failed to satisfy constraint: \
             Member must have length greater than or equal to 1"
        );
        for bad in [k257.as_str(), four_byte_256.as_str()] {
            assert!(validation_message(validate_partition_key(bad)).ends_with(
                "at 'partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256"
            ));
        }
        let huge = "x".repeat(10 << 20);
        validation_message(validate_partition_key(&huge));
        // Lone surrogate U+D800 as (invalid) UTF-8 bytes, and other invalid UTF-8.
        for bytes in [&b"\xed\xa0\x80"[..], b"\xff", b"a\xc0"] {
            assert!(matches!(validate_partition_key_utf8(bytes), Err(Error::Validation { .. })));
        }
        assert_eq!(validate_partition_key_utf8(b"pk").unwrap(), "pk");
    }

    #[test]
    fn tags() {
        validate_tag_key("k").unwrap();
        validate_tag_key(&"k".repeat(128)).unwrap();
        validate_tag_value("").unwrap();
        validate_tag_value(&"v".repeat(256)).unwrap();
        validation_message(validate_tag_key(""));
        validation_message(validate_tag_key(&"k".repeat(129)));
        validation_message(validate_tag_value(&"v".repeat(257)));
        // `aws:` keys are refused by the character rule (`:` is not allowed).
        for reserved in ["aws:x", "AWS:x", "Aws:"] {
            validate_tag_key(reserved).unwrap();
            assert!(matches!(
                validate_tag_characters("s", "0", TagChange::Add, [reserved].into_iter()),
                Err(Error::InvalidArgument { .. })
            ));
        }
        validate_tag_key("awsx").unwrap();
        validate_tag_key("é").unwrap();
        let ten: Vec<(&str, &str)> = (0..10).map(|_| ("k", "v")).collect();
        validate_tags(&ten, MAX_TAGS_PER_ADD_CALL).unwrap();
        let eleven: Vec<(&str, &str)> = (0..11).map(|_| ("k", "v")).collect();
        assert!(validation_message(validate_tags(&eleven, MAX_TAGS_PER_ADD_CALL))
            .contains("at 'tags' failed to satisfy constraint: Member must have length less than or equal to 10"));
        assert!(
            validation_message(validate_tags(&[], 10)).starts_with("1 validation error detected: Value '{}' at 'tags'")
        );
        assert!(validate_tags(&[("a", "1"), ("", "2")], 10).is_err());
        validate_tag_count("s", "000000000000", 50).unwrap();
        match validate_tag_count("s", "000000000000", 51) {
            Err(Error::InvalidArgument { message }) => assert_eq!(
                message,
                "Failed to add tags to stream s under account 000000000000 because a given stream \
                 cannot have more than 50 tags associated with it."
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tag_characters_in_aws_order() {
        let ok = ["k", "Ünïcödé", "a b", "_./=+-@", "日本", "٣"];
        validate_tag_characters("s", "000000000000", TagChange::Add, ok.into_iter()).unwrap();
        let invalid = |t: &str, change| match validate_tag_characters("s", "000000000000", change, [t].into_iter()) {
            Err(Error::InvalidArgument { message }) => message,
            other => panic!("{t:?}: {other:?}"),
        };
        for bad in ["a:b", "a*b", "a,b", "a#b", "a\u{0}b", "a%b:c"] {
            assert_eq!(
                invalid(bad, TagChange::Add),
                "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, \
                 _ . / = + - % @."
            );
        }
        assert_eq!(
            invalid("50%", TagChange::Add),
            "Failed to add tags to stream s under account 000000000000 because some tags contained illegal \
             characters. The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'."
        );
        assert_eq!(
            invalid("50%", TagChange::Remove),
            "Failed to remove tags from stream s under account 000000000000 because some tags contained illegal \
             characters. The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'."
        );
    }

    #[test]
    fn arns() {
        let arn = stream_arn("us-east-1", "000000000000", "my.stream");
        assert_eq!(arn, "arn:aws:kinesis:us-east-1:000000000000:stream/my.stream");
        assert_eq!(parse_stream_arn(&arn), Some(("us-east-1", "000000000000", "my.stream")));
        assert_eq!(
            parse_stream_arn("arn:aws-cn:kinesis:cn-north-1:123456789012:stream/x"),
            Some(("cn-north-1", "123456789012", "x"))
        );
        for bad in [
            "",
            "arn:aws:kinesis:us-east-1:00000000000:stream/x",
            "arn:aws:kinesis:us-east-1:0000000000000:stream/x",
            "arn:aws:kinesis:us-east-1:00000000000a:stream/x",
            "arn:aws:kinesis:us-east-1:000000000000:stream/",
            "arn:aws:kinesis:us-east-1:000000000000:stream/a b",
            "arn:aws:sqs:us-east-1:000000000000:stream/x",
            "arn:gcp:kinesis:us-east-1:000000000000:stream/x",
            "arn:aws:kinesis:us-east-1:000000000000:table/x",
            "arn:aws:kinesis:us-east-1",
        ] {
            assert_eq!(parse_stream_arn(bad), None, "{bad}");
        }
        let too_long = stream_arn("r", "000000000000", &"a".repeat(2048));
        assert_eq!(parse_stream_arn(&too_long), None);

        let c = consumer_arn("us-east-1", "123456789012", "s1", "con1", 1540591608);
        assert_eq!(c, "arn:aws:kinesis:us-east-1:123456789012:stream/s1/consumer/con1:1540591608");
        assert_eq!(
            parse_consumer_arn(&c),
            Some(ConsumerArnParts {
                region: "us-east-1",
                account: "123456789012",
                stream: "s1",
                consumer: "con1",
                creation_secs: 1540591608,
            })
        );
        for bad in [
            "arn:aws:kinesis:us-east-1:123456789012:stream/s1/consumer/con1",
            "arn:aws:kinesis:us-east-1:123456789012:stream/s1/consumer/con1:",
            "arn:aws:kinesis:us-east-1:123456789012:stream/s1/consumer/con1:x",
            "arn:aws:kinesis:us-east-1:123456789012:stream/s1/consumer/:1",
            "arn:aws:kinesis:us-east-1:123456789012:stream/s/1/consumer/c:1",
            "arn:aws:kinesis:us-east-1:123456789012:stream/s1/consumer/c:99999999999999999999999",
            "arn:aws:kinesis:us-east-1:123456789012:stream/s1",
        ] {
            assert_eq!(parse_consumer_arn(bad), None, "{bad}");
        }

        let kinds = [
            (stream_arn("r", "123456789012", "s"), ResourceKind::Stream, "s"),
            (consumer_arn("r", "123456789012", "s", "c", 5), ResourceKind::Consumer, "s"),
            (channel_arn("r", "123456789012", "abc"), ResourceKind::Channel, "abc"),
            (queue_arn("r", "123456789012", "q1"), ResourceKind::Queue, "q1"),
        ];
        for (arn, kind, id) in kinds {
            let p = parse_resource_arn(&arn).unwrap_or_else(|| panic!("{arn}"));
            assert_eq!((p.kind, p.id, p.region, p.account), (kind, id, "r", "123456789012"));
        }
        for bad in ["arn:aws:kinesis:r:123456789012:table/x", "arn:aws:kinesis:r:123456789012:channel/", "x"] {
            assert_eq!(parse_resource_arn(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}", b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = validate_stream_name(&s);
            let _ = validate_partition_key(&s);
            let _ = validate_partition_key_utf8(&b);
            let _ = validate_tag_key(&s);
            let _ = parse_shard_id(&s);
            let _ = resolve_shard_id(&s);
            let _ = parse_stream_arn(&s);
            let _ = parse_consumer_arn(&s);
        }
    }
}
