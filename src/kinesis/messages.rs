//! Constructors for the Kinesis errors the engine returns, one per situation, with the exact
//! AWS strings of kinesis-behaviour.md (mostly from kinesalite tests run against AWS). Where a
//! string is not documented there, the function says so.
//!
//! Shard ids passed in should be canonical (`shardId-000000000005`, see
//! [`shard_id_name`]): AWS quotes the canonical form even when
//! the request used a lenient one.

use std::fmt;

use super::shard_id::shard_id_name;
use crate::Error;

/// The message of a per-entry `InternalFailure` in a PutRecords response.
pub const INTERNAL_FAILURE_MESSAGE: &str = "Internal Service Failure";
/// Lifetime of shard iterators and pagination tokens, in milliseconds.
pub const TOKEN_LIFETIME_MS: i64 = 300_000;

fn not_found(message: String) -> Error {
    Error::ResourceNotFound { message }
}

fn in_use(message: String) -> Error {
    Error::ResourceInUse { message }
}

fn invalid(message: String) -> Error {
    Error::InvalidArgument { message }
}

// ---------------------------------------------------------------- streams and shards

/// `Stream <s> under account <a> not found.` (ResourceNotFound; also for writes to a
/// CREATING or DELETING stream).
pub fn stream_not_found(stream: &str, account: &str) -> Error {
    not_found(format!("Stream {stream} under account {account} not found."))
}

/// `Stream <s> under account <a> already exists.` (ResourceInUse, CreateStream).
pub fn stream_already_exists(stream: &str, account: &str) -> Error {
    in_use(format!("Stream {stream} under account {account} already exists."))
}

/// `Stream <s> under account <a> not ACTIVE, instead in state <STATE>` (ResourceInUse,
/// Split/Merge/UpdateShardCount on a non-ACTIVE stream).
pub fn stream_not_active(stream: &str, account: &str, state: &str) -> Error {
    in_use(format!("Stream {stream} under account {account} not ACTIVE, instead in state {state}"))
}

/// `Shard <id> in stream <s> under account <a> does not exist` (ResourceNotFound,
/// GetShardIterator; AWS puts no final period).
pub fn shard_not_found(shard_id: &str, stream: &str, account: &str) -> Error {
    not_found(format!("Shard {shard_id} in stream {stream} under account {account} does not exist"))
}

/// `Could not find shard <id> in stream <s> under account <a>.` (ResourceNotFound,
/// SplitShard/MergeShards).
pub fn shard_not_found_for_reshard(shard_id: &str, stream: &str, account: &str) -> Error {
    not_found(format!("Could not find shard {shard_id} in stream {stream} under account {account}."))
}

/// The account shard-quota error of CreateStream/SplitShard/UpdateShardCount
/// (LimitExceeded). The closing sentence is kinesalite's.
pub fn shard_limit_exceeded(account: &str, region: &str, current: u64, limit: u64, additional: u64) -> Error {
    Error::LimitExceeded {
        message: format!(
            "This request would exceed the shard limit for the account {account} in {region}. \
             Current shard count for the account: {current}. Limit: {limit}. \
             Number of additional shards that would have resulted from this request: {additional}. \
             Refer to the AWS Service Limits page \
             (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) \
             for current limits and how to request higher limits."
        ),
    }
}

/// `Rate exceeded for shard <id> in stream <s> under account <a>.`
/// (ProvisionedThroughputExceeded; also the per-entry PutRecords throttling message).
pub fn shard_rate_exceeded(shard_id: &str, stream: &str, account: &str) -> Error {
    Error::ProvisionedThroughputExceeded {
        message: format!("Rate exceeded for shard {shard_id} in stream {stream} under account {account}."),
    }
}

// ---------------------------------------------------------------- GetShardIterator

const ITERATOR_TYPE_RULE: &str = "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and \
     StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber.";

/// A sequence iterator type without `StartingSequenceNumber` (InvalidArgument).
pub fn starting_sequence_number_missing(iterator_type: &str) -> Error {
    invalid(format!("{ITERATOR_TYPE_RULE} Request specified {iterator_type} and no StartingSequenceNumber."))
}

/// `TRIM_HORIZON`/`LATEST` with a `StartingSequenceNumber` (InvalidArgument).
pub fn starting_sequence_number_unexpected(iterator_type: &str) -> Error {
    invalid(format!("{ITERATOR_TYPE_RULE} Request specified {iterator_type} and also a StartingSequenceNumber."))
}

/// `AT_TIMESTAMP` without `Timestamp` (InvalidArgument).
pub fn timestamp_missing() -> Error {
    invalid(
        "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. \
         Current request has no timestamp parameter."
            .to_owned(),
    )
}

/// `AT_TIMESTAMP` with a timestamp after now (InvalidArgument).
pub fn timestamp_in_future(timestamp_ms: i64, now_ms: i64) -> Error {
    invalid(format!(
        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. \
         timestampInMillis: {timestamp_ms}, currentTimestampInMillis: {now_ms}"
    ))
}

/// A `StartingSequenceNumber` that encodes another shard (InvalidArgument):
/// `Invalid StartingSequenceNumber. It encodes shardId-000000000005, while it was used in a
/// call to a shard with shardId-000000000000`.
pub fn sequence_number_other_shard(encoded_shard_index: u32, shard_id: &str) -> Error {
    invalid(format!(
        "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {shard_id}",
        shard_id_name(encoded_shard_index)
    ))
}

/// A `StartingSequenceNumber` with this shard's index but another creation time
/// (InvalidArgument).
pub fn sequence_number_other_stream(sequence: &str, shard_id: &str, stream: &str, account: &str) -> Error {
    invalid(format!(
        "StartingSequenceNumber {sequence} used in GetShardIterator on shard {shard_id} in stream {stream} \
         under account {account} is invalid because it did not come from this stream."
    ))
}

/// A `StartingSequenceNumber` that does not decode (counter ≥ 2^63, creation time too
/// large, …) (InvalidArgument). kinesalite's string; not quoted in kinesis-behaviour.md.
pub fn starting_sequence_number_invalid(sequence: &str, shard_id: &str, stream: &str, account: &str) -> Error {
    invalid(format!(
        "StartingSequenceNumber {sequence} used in GetShardIterator on shard {shard_id} in stream {stream} \
         under account {account} is invalid."
    ))
}

/// AT_/AFTER_SEQUENCE_NUMBER at a closed shard's `EndingSequenceNumber` (InvalidArgument).
/// AWS's observed text names `AFTER_SEQUENCE_NUMBER`; pass the request's type.
pub fn sequence_number_at_shard_end(iterator_type: &str) -> Error {
    invalid(format!(
        "Invalid SequenceNumber for ShardIteratorType {iterator_type}, \
         SequenceNumber has reached max possible value for the shard."
    ))
}

/// An unusable `SequenceNumberForOrdering` on PutRecord (InvalidArgument).
pub fn exclusive_minimum_sequence_number_invalid(sequence: &str, stream: &str, account: &str) -> Error {
    invalid(format!(
        "ExclusiveMinimumSequenceNumber {sequence} used in PutRecord on stream {stream} under account {account} \
         is invalid."
    ))
}

// ---------------------------------------------------------------- tokens

/// A shard iterator that does not decode or authenticate (InvalidArgument).
pub fn invalid_shard_iterator() -> Error {
    invalid("Invalid ShardIterator.".to_owned())
}

/// A shard iterator older than 300 s (ExpiredIterator), with both times formatted
/// `EEE MMM dd HH:mm:ss UTC yyyy`.
pub fn iterator_expired(created_ms: i64, now_ms: i64) -> Error {
    Error::ExpiredIterator {
        message: format!(
            "Iterator expired. The iterator was created at time {} while right now it is {} which is further \
             in the future than the tolerated delay of {TOKEN_LIFETIME_MS} milliseconds.",
            UtcDate(created_ms),
            UtcDate(now_ms)
        ),
    }
}

/// A pagination token older than 300 s (ExpiredNextToken). The AWS text is not documented
/// in kinesis-behaviour.md.
pub fn next_token_expired() -> Error {
    Error::ExpiredNextToken { message: "The requested token has expired.".to_owned() }
}

/// A pagination token that does not decode or authenticate (InvalidArgument). The AWS text
/// is not documented in kinesis-behaviour.md.
pub fn invalid_next_token() -> Error {
    invalid("Invalid NextToken.".to_owned())
}

/// ListShards with both `NextToken` and `StreamName` (InvalidArgument).
pub fn next_token_with_stream_name() -> Error {
    invalid("NextToken and StreamName cannot be provided together.".to_owned())
}

/// ListShards with neither `NextToken` nor `StreamName` (InvalidArgument).
pub fn next_token_or_stream_name_required() -> Error {
    invalid("Either NextToken or StreamName should be provided.".to_owned())
}

// ---------------------------------------------------------------- records

/// An `ExplicitHashKey` ≥ 2^128 (InvalidArgument; in PutRecords it fails the whole request).
pub fn invalid_explicit_hash_key(value: &str) -> Error {
    invalid(format!(
        "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {value}"
    ))
}

// ---------------------------------------------------------------- resharding

/// `NewStartingHashKey` outside `(start + 1, end)` (InvalidArgument, SplitShard).
pub fn split_hash_key_out_of_range(
    new_starting_hash_key: &str,
    shard_id: &str,
    stream: &str,
    account: &str,
    starting_hash_key: u128,
    ending_hash_key: u128,
) -> Error {
    invalid(format!(
        "NewStartingHashKey {new_starting_hash_key} used in SplitShard() on shard {shard_id} in stream {stream} \
         under account {account} is not both greater than one plus the shard's StartingHashKey \
         {starting_hash_key} and less than the shard's EndingHashKey {ending_hash_key}."
    ))
}

/// Split or merge of a closed shard (InvalidArgument).
pub fn shard_already_closed(shard_id: &str, stream: &str, account: &str) -> Error {
    invalid(format!(
        "Shard {shard_id} in stream {stream} under account {account} has already been merged or split, \
         and thus is not eligible for merging or splitting."
    ))
}

/// MergeShards of shards whose ranges are not adjacent (InvalidArgument; AWS puts no final
/// period).
pub fn shards_not_adjacent(shard_to_merge: &str, adjacent_shard: &str, stream: &str, account: &str) -> Error {
    invalid(format!(
        "Shards {shard_to_merge} and {adjacent_shard} in stream {stream} under account {account} \
         are not an adjacent pair of shards eligible for merging"
    ))
}

// ---------------------------------------------------------------- retention

/// IncreaseStreamRetentionPeriod below the current period (InvalidArgument).
pub fn retention_shorter_than_existing(requested_hours: i64, stream: &str, existing_hours: i64) -> Error {
    invalid(format!(
        "Requested retention period ({requested_hours} hours) for stream {stream} can not be shorter than \
         existing retention period ({existing_hours} hours). Use DecreaseRetentionPeriod API."
    ))
}

/// DecreaseStreamRetentionPeriod above the current period (InvalidArgument).
pub fn retention_longer_than_existing(requested_hours: i64, stream: &str, existing_hours: i64) -> Error {
    invalid(format!(
        "Requested retention period ({requested_hours} hours) for stream {stream} can not be longer than \
         existing retention period ({existing_hours} hours). Use IncreaseRetentionPeriod API."
    ))
}

/// A retention period below 24 hours (InvalidArgument).
pub fn retention_too_short(requested_hours: i64) -> Error {
    invalid(format!(
        "Minimum allowed retention period is 24 hours. Requested retention period ({requested_hours} hours) \
         is too short."
    ))
}

/// A retention period above the maximum (8760 hours) (InvalidArgument). Mirrors
/// [`retention_too_short`]; the AWS text is inferred, not quoted in kinesis-behaviour.md.
pub fn retention_too_long(requested_hours: i64, max_hours: i64) -> Error {
    invalid(format!(
        "Maximum allowed retention period is {max_hours} hours. Requested retention period ({requested_hours} \
         hours) is too long."
    ))
}

// ---------------------------------------------------------------- tags

/// A `TagResource` key starting with `aws:` in any case (InvalidArgument).
pub fn tag_key_reserved(key: &str) -> Error {
    invalid(format!("Tag key {key} is invalid: tag keys starting with 'aws:' are reserved for AWS use."))
}

/// A tag key or value with a character other than Unicode letters, digits, white space and
/// `_ . / = + - % @` (InvalidArgument).
pub fn tags_invalid_characters() -> Error {
    invalid(
        "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, \
         _ . / = + - % @."
            .to_owned(),
    )
}

/// A tag key or value with a `%` (InvalidArgument); `removing` names RemoveTagsFromStream.
pub fn tags_illegal_characters(stream: &str, account: &str, removing: bool) -> Error {
    let what = if removing { "remove tags from" } else { "add tags to" };
    invalid(format!(
        "Failed to {what} stream {stream} under account {account} because some tags contained illegal \
         characters. The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'."
    ))
}

/// More than 50 tags on a stream (InvalidArgument). kinesalite's text, with today's limit.
pub fn too_many_tags(stream: &str, account: &str) -> Error {
    invalid(format!(
        "Failed to add tags to stream {stream} under account {account} because a given stream cannot have \
         more than 50 tags associated with it."
    ))
}

// ---------------------------------------------------------------- dates

/// Displays epoch milliseconds as Java's `EEE MMM dd HH:mm:ss UTC yyyy`, e.g.
/// `Thu Jan 22 01:22:02 UTC 2015`. Any `i64` is accepted (proleptic Gregorian calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDate(pub i64);

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

impl fmt::Display for UtcDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DAY_MS: i64 = 86_400_000;
        let days = self.0.div_euclid(DAY_MS);
        let secs_of_day = self.0.rem_euclid(DAY_MS) / 1000;
        let (year, month, day) = crate::clock::civil_from_days(days);
        let weekday = usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0);
        let month_name = usize::try_from(month - 1).ok().and_then(|m| MONTHS.get(m)).copied().unwrap_or("???");
        write!(
            f,
            "{} {month_name} {day:02} {:02}:{:02}:{:02} UTC {year:04}",
            WEEKDAYS.get(weekday).copied().unwrap_or("???"),
            secs_of_day / 3600,
            secs_of_day / 60 % 60,
            secs_of_day % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(e: Error) -> (&'static str, String) {
        (e.kinesis_error_code(), e.to_string())
    }

    #[test]
    fn date_vectors() {
        for (secs, text) in [
            (1_421_889_722, "Thu Jan 22 01:22:02 UTC 2015"),
            (0, "Thu Jan 01 00:00:00 UTC 1970"),
            (951_868_799, "Tue Feb 29 23:59:59 UTC 2000"),
            (1_456_747_200, "Mon Feb 29 12:00:00 UTC 2016"),
            (4_107_542_400, "Mon Mar 01 00:00:00 UTC 2100"),
            (-1, "Wed Dec 31 23:59:59 UTC 1969"),
            (1_735_632_309, "Tue Dec 31 08:05:09 UTC 2024"),
            (-2_203_891_200, "Thu Mar 01 00:00:00 UTC 1900"),
        ] {
            assert_eq!(UtcDate(secs * 1000).to_string(), text, "{secs}");
            assert_eq!(UtcDate(secs * 1000 + 999).to_string(), text, "{secs}.999");
        }
        // Extremes do not panic.
        let _ = UtcDate(i64::MIN).to_string();
        let _ = UtcDate(i64::MAX).to_string();
    }

    #[test]
    fn civil_round_trip_every_day_of_four_centuries() {
        let mut expected = (1970, 1, 1);
        for days in 0..146_097 {
            assert_eq!(crate::clock::civil_from_days(days), expected);
            let (y, m, d) = expected;
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            expected = if d < len {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn exact_strings() {
        let (a, s) = ("000000000000", "foo");
        assert_eq!(
            msg(stream_not_found(s, "123456789012")),
            ("ResourceNotFoundException", "Stream foo under account 123456789012 not found.".into())
        );
        assert_eq!(
            msg(stream_already_exists(s, a)),
            ("ResourceInUseException", "Stream foo under account 000000000000 already exists.".into())
        );
        assert_eq!(
            msg(stream_not_active(s, a, "UPDATING")),
            (
                "ResourceInUseException",
                "Stream foo under account 000000000000 not ACTIVE, instead in state UPDATING".into()
            )
        );
        assert_eq!(
            msg(shard_not_found("shardId-000000000005", s, a)).1,
            "Shard shardId-000000000005 in stream foo under account 000000000000 does not exist"
        );
        assert_eq!(
            msg(shard_not_found_for_reshard("shardId-000000000005", s, a)).1,
            "Could not find shard shardId-000000000005 in stream foo under account 000000000000."
        );
        assert_eq!(
            msg(sequence_number_other_shard(5, "shardId-000000000000")),
            (
                "InvalidArgumentException",
                "Invalid StartingSequenceNumber. It encodes shardId-000000000005, while it was used in a call \
                 to a shard with shardId-000000000000"
                    .into()
            )
        );
        assert_eq!(
            msg(sequence_number_other_stream("123", "shardId-000000000000", s, a)).1,
            "StartingSequenceNumber 123 used in GetShardIterator on shard shardId-000000000000 in stream foo \
             under account 000000000000 is invalid because it did not come from this stream."
        );
        assert_eq!(
            msg(exclusive_minimum_sequence_number_invalid("9", s, a)).1,
            "ExclusiveMinimumSequenceNumber 9 used in PutRecord on stream foo under account 000000000000 is invalid."
        );
        assert_eq!(
            msg(sequence_number_at_shard_end("AFTER_SEQUENCE_NUMBER")).1,
            "Invalid SequenceNumber for ShardIteratorType AFTER_SEQUENCE_NUMBER, SequenceNumber has reached max \
             possible value for the shard."
        );
        assert_eq!(
            msg(starting_sequence_number_missing("AT_SEQUENCE_NUMBER")).1,
            "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or \
             (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified AT_SEQUENCE_NUMBER and \
             no StartingSequenceNumber."
        );
        assert!(msg(starting_sequence_number_unexpected("LATEST"))
            .1
            .ends_with("Request specified LATEST and also a StartingSequenceNumber."));
        assert_eq!(
            msg(timestamp_missing()).1,
            "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no \
             timestamp parameter."
        );
        assert_eq!(
            msg(timestamp_in_future(2000, 1000)).1,
            "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. \
             timestampInMillis: 2000, currentTimestampInMillis: 1000"
        );
        assert_eq!(
            msg(shard_rate_exceeded("shardId-000000000000", s, a)),
            (
                "ProvisionedThroughputExceededException",
                "Rate exceeded for shard shardId-000000000000 in stream foo under account 000000000000.".into()
            )
        );
        assert_eq!(
            msg(iterator_expired(1_421_889_722_000, 1_421_890_022_001)),
            (
                "ExpiredIteratorException",
                "Iterator expired. The iterator was created at time Thu Jan 22 01:22:02 UTC 2015 while right now \
                 it is Thu Jan 22 01:27:02 UTC 2015 which is further in the future than the tolerated delay of \
                 300000 milliseconds."
                    .into()
            )
        );
        assert_eq!(msg(invalid_shard_iterator()), ("InvalidArgumentException", "Invalid ShardIterator.".into()));
        assert_eq!(msg(next_token_expired()).0, "ExpiredNextTokenException");
        assert_eq!(
            msg(split_hash_key_out_of_range("1", "shardId-000000000000", s, a, 0, 99)).1,
            "NewStartingHashKey 1 used in SplitShard() on shard shardId-000000000000 in stream foo under account \
             000000000000 is not both greater than one plus the shard's StartingHashKey 0 and less than the \
             shard's EndingHashKey 99."
        );
        assert_eq!(
            msg(shard_already_closed("shardId-000000000000", s, a)).1,
            "Shard shardId-000000000000 in stream foo under account 000000000000 has already been merged or \
             split, and thus is not eligible for merging or splitting."
        );
        assert_eq!(
            msg(shards_not_adjacent("shardId-000000000000", "shardId-000000000002", s, a)).1,
            "Shards shardId-000000000000 and shardId-000000000002 in stream foo under account 000000000000 are \
             not an adjacent pair of shards eligible for merging"
        );
        assert_eq!(
            msg(shard_limit_exceeded(a, "us-east-1", 10, 10, 1)),
            (
                "LimitExceededException",
                "This request would exceed the shard limit for the account 000000000000 in us-east-1. Current shard \
                 count for the account: 10. Limit: 10. Number of additional shards that would have resulted from \
                 this request: 1. Refer to the AWS Service Limits page \
                 (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how \
                 to request higher limits."
                    .into()
            )
        );
        assert_eq!(
            msg(retention_shorter_than_existing(24, s, 48)).1,
            "Requested retention period (24 hours) for stream foo can not be shorter than existing retention \
             period (48 hours). Use DecreaseRetentionPeriod API."
        );
        assert_eq!(
            msg(retention_longer_than_existing(72, s, 48)).1,
            "Requested retention period (72 hours) for stream foo can not be longer than existing retention \
             period (48 hours). Use IncreaseRetentionPeriod API."
        );
        assert_eq!(
            msg(retention_too_short(23)).1,
            "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short."
        );
        assert_eq!(msg(next_token_with_stream_name()).1, "NextToken and StreamName cannot be provided together.");
        assert_eq!(msg(next_token_or_stream_name_required()).1, "Either NextToken or StreamName should be provided.");
    }
}
