//! Receipt handles and record ids.
//!
//! A **receipt handle** names one delivery: queue, record and delivery generation. On the wire
//! it is opaque, MAC-authenticated text sealed exactly like shard iterators (see
//! `kinesis::token`, whose helpers it uses): standard base64 of the 8-byte prefix, a kind byte
//! (`0x03` normal, `0x04` dead-letter), queue uid u64, shard index u32, offset u64 and
//! generation u64 (big-endian), zero padding to 16-byte blocks and a 16-byte HMAC-SHA256 tag
//! under the engine's key, checked in constant time: 56 bytes, always 76 characters (AWS allows
//! up to 1,024). In process the decoded [`ReceiptHandle`] is used directly (no MAC work).
//!
//! A **record id** ([`RecordId`]) is the record's sequence number in decimal: stable across
//! redeliveries, the same in every queue of the stream, 56 digits (within AWS' 1–64 chars of
//! `^[a-z0-9]+$`), and usable with `GetShardIterator(AT_SEQUENCE_NUMBER)` when debugging.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::key::RecordKey;
use crate::kinesis::token::{
    raw_token_len, Reader, Writer, KIND_DEAD_LETTER_RECEIPT_HANDLE, KIND_RECEIPT_HANDLE, PREFIX,
};
use crate::kinesis::{SequenceNumber, TokenKey};
use crate::{Error, Result};

/// Fields of a receipt handle before padding: kind + uid + shard + offset + generation.
const HANDLE_FIELDS: usize = 1 + 8 + 4 + 8 + 8;
const HANDLE_RAW: usize = raw_token_len(HANDLE_FIELDS);

/// A decoded receipt handle: one delivery of one record by one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiptHandle {
    /// The queue's internal id (never reused).
    pub queue_uid: u64,
    /// The record.
    pub record: RecordKey,
    /// The delivery's generation (unique per delivery within the queue).
    pub generation: u64,
    /// Issued by a dead-letter receive.
    pub dead_letter: bool,
}

impl ReceiptHandle {
    /// Length of every encoded receipt handle, in characters.
    pub const ENCODED_LEN: usize = HANDLE_RAW.div_ceil(3) * 4;

    /// The handle's text (one HMAC).
    pub fn encode(&self, key: &TokenKey) -> String {
        let mut raw = [0u8; HANDLE_RAW];
        let mut w = Writer::new(&mut raw);
        w.put(&PREFIX);
        w.put(&[if self.dead_letter { KIND_DEAD_LETTER_RECEIPT_HANDLE } else { KIND_RECEIPT_HANDLE }]);
        w.put(&self.queue_uid.to_be_bytes());
        w.put(&self.record.shard.to_be_bytes());
        w.put(&self.record.offset.to_be_bytes());
        w.put(&self.generation.to_be_bytes());
        key.seal(&mut raw);
        STANDARD.encode(raw)
    }

    /// Decode and authenticate a handle (no allocation). Anything that is not a handle this
    /// engine issued is `InvalidArgument("Invalid ReceiptHandle.")`; which queue it belongs
    /// to and whether its delivery is current is for the caller to check.
    pub fn decode(text: &str, key: &TokenKey) -> Result<ReceiptHandle> {
        Self::try_decode(text, key).ok_or_else(invalid_receipt_handle)
    }

    fn try_decode(text: &str, key: &TokenKey) -> Option<ReceiptHandle> {
        if text.len() != Self::ENCODED_LEN {
            return None;
        }
        let mut raw = [0u8; HANDLE_RAW];
        if STANDARD.decode_slice(text, &mut raw).ok()? != HANDLE_RAW {
            return None;
        }
        let mut r = Reader(key.open(&raw)?);
        let dead_letter = match r.u8()? {
            KIND_RECEIPT_HANDLE => false,
            KIND_DEAD_LETTER_RECEIPT_HANDLE => true,
            _ => return None,
        };
        let handle = ReceiptHandle {
            queue_uid: r.u64()?,
            record: RecordKey::new(r.u32()?, r.u64()?),
            generation: r.u64()?,
            dead_letter,
        };
        r.only_padding_left().then_some(handle)
    }
}

/// `InvalidArgument("Invalid ReceiptHandle.")`.
pub fn invalid_receipt_handle() -> Error {
    Error::invalid_argument("Invalid ReceiptHandle.")
}

/// A record's id in every queue of its stream (`^[a-z0-9]+$`, 1–64 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(String);

impl RecordId {
    /// Longest record id AWS allows.
    pub const MAX_LEN: usize = 64;

    /// The id of the record with sequence number `seq`.
    pub fn from_sequence_number(seq: &SequenceNumber) -> RecordId {
        let id = RecordId(seq.to_string());
        debug_assert!(RecordId::parse(&id.0).is_ok(), "sequence number {id} is not a valid record id");
        id
    }

    /// Check text against AWS' constraint (1–64 characters of `[a-z0-9]`).
    pub fn parse(text: &str) -> Result<RecordId> {
        let valid = (1..=Self::MAX_LEN).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if valid {
            Ok(RecordId(text.to_owned()))
        } else {
            Err(Error::invalid_argument("RecordId must be 1 to 64 characters of [a-z0-9]."))
        }
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinesis::token::ShardIteratorToken;

    fn key() -> TokenKey {
        TokenKey::from_bytes([3; 32])
    }

    fn handle() -> ReceiptHandle {
        ReceiptHandle { queue_uid: 42, record: RecordKey::new(7, 1234), generation: 99, dead_letter: false }
    }

    #[test]
    fn round_trips_within_the_length_limit() {
        for dead_letter in [false, true] {
            let h = ReceiptHandle { dead_letter, ..handle() };
            let text = h.encode(&key());
            assert_eq!(text.len(), ReceiptHandle::ENCODED_LEN);
            assert!(text.len() <= 1024);
            assert_eq!(ReceiptHandle::decode(&text, &key()).unwrap(), h);
        }
        let extreme = ReceiptHandle {
            queue_uid: u64::MAX,
            record: RecordKey::new(u32::MAX, u64::MAX),
            generation: u64::MAX,
            dead_letter: true,
        };
        assert_eq!(ReceiptHandle::decode(&extreme.encode(&key()), &key()).unwrap(), extreme);
    }

    #[test]
    fn forged_damaged_and_foreign_tokens_are_invalid() {
        let text = handle().encode(&key());
        let raw = STANDARD.decode(&text).unwrap();
        for i in 0..raw.len() {
            let mut r = raw.clone();
            r[i] ^= 0x01;
            assert!(ReceiptHandle::decode(&STANDARD.encode(&r), &key()).is_err(), "byte {i}");
        }
        for n in 0..text.len() {
            assert!(ReceiptHandle::decode(&text[..n], &key()).is_err());
        }
        assert!(ReceiptHandle::decode(&text, &TokenKey::from_bytes([4; 32])).is_err());
        assert!(ReceiptHandle::decode("", &key()).is_err());
        assert!(ReceiptHandle::decode(&"A".repeat(76), &key()).is_err());
        // A shard iterator under the same key is not a receipt handle, nor the reverse.
        let it = ShardIteratorToken { stream_uid: 1, shard_index: 2, offset: 3, issued_ms: 4, flags: 0 };
        let it_text = it.encode(&key());
        assert_eq!(it_text.len(), ReceiptHandle::ENCODED_LEN);
        assert!(ReceiptHandle::decode(&it_text, &key()).is_err());
        assert!(ShardIteratorToken::decode(&text, &key()).is_err());
        let err = ReceiptHandle::decode("nope", &key()).unwrap_err();
        assert_eq!(
            (err.kinesis_error_code(), err.to_string().as_str()),
            ("InvalidArgumentException", "Invalid ReceiptHandle.")
        );
    }

    #[test]
    fn record_ids_are_sequence_numbers_within_the_pattern() {
        let seq = SequenceNumber::new(1_700_000_000, 3, 77, 1_700_000_100);
        let id = RecordId::from_sequence_number(&seq);
        assert_eq!(id.as_str(), seq.to_string());
        assert_eq!(RecordId::from_sequence_number(&seq), id, "stable");
        assert!(id.as_str().len() <= RecordId::MAX_LEN);
        let max = SequenceNumber::new(u64::MAX, u32::MAX, u64::MAX, u64::MAX);
        assert!(RecordId::parse(RecordId::from_sequence_number(&max).as_str()).is_ok());
        for bad in ["", "ABC", "a-b", &"a".repeat(65), "é"] {
            assert!(RecordId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RecordId::parse(&"z9".repeat(32)).is_ok());
    }
}
