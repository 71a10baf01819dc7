//! Opaque, authenticated tokens: shard iterators and pagination `NextToken`s; queue receipt
//! handles (`log::queue::handle`) use the same sealing with kinds `0x03` and `0x04`.
//!
//! Both are AWS-shaped text: standard base64 of the 8 bytes `00 00 00 00 00 00 00 01` (so
//! they start `AAAAAAAAAAE`, like real iterators) followed by a body that is a whole number
//! of 16-byte blocks: a kind byte, the big-endian fields, zero padding, and a 16-byte tag
//! (HMAC-SHA256 over everything before it, truncated) under a per-engine [`TokenKey`].
//! Anything that does not decode, has the wrong kind or fails the constant-time tag check is
//! rejected as `InvalidArgument`. Tokens are valid for 300 000 ms after `issued_ms`.
//!
//! | bytes | shard iterator (56 bytes, 76 chars) | next token |
//! |---|---|---|
//! | 0–7 | prefix | prefix |
//! | 8 | kind `0x01` | kind `0x02` |
//! | … | stream_uid u64, shard_index u32, offset u64, issued_ms i64, flags u8 | stream_uid u64, issued_ms i64, resume tag u8 (0 index, 1 key), index u64 or key length u16 + UTF-8 key |
//! | … | zero padding to a 16-byte boundary | zero padding |
//! | last 16 | tag | tag |

use std::fmt;
use std::io::Read;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::messages::{self, TOKEN_LIFETIME_MS};
use crate::{Error, Result};

pub(crate) const PREFIX: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 1];
pub(crate) const TAG_LEN: usize = 16;
pub(crate) const BLOCK: usize = 16;
const KIND_ITERATOR: u8 = 0x01;
const KIND_NEXT_TOKEN: u8 = 0x02;
/// Kind byte of a queue receipt handle (`log::queue::handle`). Every token kind is allocated
/// here, so no two kinds of token can ever be mistaken for one another under the same key.
pub(crate) const KIND_RECEIPT_HANDLE: u8 = 0x03;
/// Kind byte of a dead-letter receipt handle (`log::queue::handle`).
pub(crate) const KIND_DEAD_LETTER_RECEIPT_HANDLE: u8 = 0x04;

/// Bytes of a raw (not yet base64) token whose fields, kind byte included, take
/// `fields` bytes: prefix, fields padded to whole blocks, tag.
pub(crate) const fn raw_token_len(fields: usize) -> usize {
    PREFIX.len() + fields.next_multiple_of(BLOCK) + TAG_LEN
}
const RESUME_INDEX: u8 = 0;
const RESUME_KEY: u8 = 1;

/// Fields of a shard iterator before padding: kind + 8 + 4 + 8 + 8 + 1.
const ITERATOR_FIELDS: usize = 30;
const ITERATOR_RAW: usize = raw_token_len(ITERATOR_FIELDS);
/// Fields of a next token before the resume value: kind + 8 + 8 + tag byte.
const NEXT_TOKEN_FIXED: usize = 18;
const NEXT_TOKEN_MAX_RAW: usize =
    PREFIX.len() + (NEXT_TOKEN_FIXED + 2 + NextToken::MAX_KEY_BYTES).next_multiple_of(BLOCK) + TAG_LEN;

/// The per-engine secret that authenticates tokens (32 bytes). Its `Debug` output is
/// redacted.
#[derive(Clone)]
pub struct TokenKey {
    mac: Hmac<Sha256>,
}

impl TokenKey {
    /// A key from the given bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> TokenKey {
        // HMAC zero-pads keys shorter than the block, so this equals HMAC keyed by `bytes`.
        let mut block = [0u8; 64];
        block.iter_mut().zip(bytes).for_each(|(d, s)| *d = s);
        TokenKey { mac: Hmac::<Sha256>::new(&block.into()) }
    }

    /// A fresh random key (see [`TokenKey::random_bytes`]).
    pub fn random() -> TokenKey {
        TokenKey::from_bytes(TokenKey::random_bytes())
    }

    /// 32 fresh random bytes from `/dev/urandom`, or, where that cannot be read, from the
    /// randomly seeded keys of `std`'s `RandomState` mixed with the time.
    pub fn random_bytes() -> [u8; 32] {
        let mut bytes = [0u8; 32];
        let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_ok();
        if !from_os {
            use std::hash::BuildHasher;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            for (i, chunk) in bytes.chunks_mut(8).enumerate() {
                let word = std::collections::hash_map::RandomState::new().hash_one((i, nanos));
                chunk.iter_mut().zip(word.to_le_bytes()).for_each(|(d, s)| *d = s);
            }
        }
        bytes
    }

    /// Writes the tag of `raw[..len-16]` into `raw[len-16..]`.
    pub(crate) fn seal(&self, raw: &mut [u8]) {
        let Some(split) = raw.len().checked_sub(TAG_LEN) else { return };
        let (data, tag) = raw.split_at_mut(split);
        let full = self.mac.clone().chain_update(&*data).finalize().into_bytes();
        tag.iter_mut().zip(full.iter()).for_each(|(d, s)| *d = *s);
    }

    /// Checks prefix, block alignment and tag (constant time); returns the body between the
    /// prefix and the tag.
    pub(crate) fn open<'a>(&self, raw: &'a [u8]) -> Option<&'a [u8]> {
        let split = raw.len().checked_sub(TAG_LEN)?;
        let (data, tag) = raw.split_at_checked(split)?;
        let (prefix, body) = data.split_at_checked(PREFIX.len())?;
        if prefix != PREFIX || body.is_empty() || body.len() % BLOCK != 0 {
            return None;
        }
        self.mac.clone().chain_update(data).verify_truncated_left(tag).ok()?;
        Some(body)
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// Appends bytes into a fixed buffer (positions are computed from constants; a write past
/// the end is dropped rather than panicking).
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer at the start of `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Writer<'a> {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }
}

/// Reads big-endian fields from a slice.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.0.split_first_chunk::<N>()?;
        self.0 = tail;
        Some(*head)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }
    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_be_bytes)
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }
    /// True when what is left is zero padding shorter than a block.
    pub(crate) fn only_padding_left(&self) -> bool {
        self.0.len() < BLOCK && self.0.iter().all(|b| *b == 0)
    }
}

fn is_expired(issued_ms: i64, now_ms: i64) -> bool {
    now_ms.saturating_sub(issued_ms) > TOKEN_LIFETIME_MS
}

/// A decoded shard iterator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShardIteratorToken {
    /// Internal id of the stream (never reused after delete + re-create).
    pub stream_uid: u64,
    /// Index of the shard.
    pub shard_index: u32,
    /// Next offset to read.
    pub offset: u64,
    /// When the iterator was issued, epoch milliseconds.
    pub issued_ms: i64,
    /// Engine-defined flags.
    pub flags: u8,
}

impl ShardIteratorToken {
    /// Length of every encoded shard iterator, in characters.
    pub const ENCODED_LEN: usize = ITERATOR_RAW.div_ceil(3) * 4;

    /// The token text (one allocation of exactly [`Self::ENCODED_LEN`] bytes).
    pub fn encode(&self, key: &TokenKey) -> String {
        let mut raw = [0u8; ITERATOR_RAW];
        let mut w = Writer::new(&mut raw);
        w.put(&PREFIX);
        w.put(&[KIND_ITERATOR]);
        w.put(&self.stream_uid.to_be_bytes());
        w.put(&self.shard_index.to_be_bytes());
        w.put(&self.offset.to_be_bytes());
        w.put(&self.issued_ms.to_be_bytes());
        w.put(&[self.flags]);
        key.seal(&mut raw);
        STANDARD.encode(raw)
    }

    /// Decodes and authenticates a token (no allocation). Any defect is
    /// `InvalidArgument("Invalid ShardIterator.")`.
    pub fn decode(text: &str, key: &TokenKey) -> Result<Self> {
        Self::try_decode(text, key).ok_or_else(messages::invalid_shard_iterator)
    }

    fn try_decode(text: &str, key: &TokenKey) -> Option<Self> {
        if text.len() != Self::ENCODED_LEN {
            return None;
        }
        let mut raw = [0u8; ITERATOR_RAW];
        let n = STANDARD.decode_slice(text, &mut raw).ok()?;
        if n != ITERATOR_RAW {
            return None;
        }
        let mut r = Reader(key.open(&raw)?);
        if r.u8()? != KIND_ITERATOR {
            return None;
        }
        let token = ShardIteratorToken {
            stream_uid: r.u64()?,
            shard_index: r.u32()?,
            offset: r.u64()?,
            issued_ms: r.i64()?,
            flags: r.u8()?,
        };
        r.only_padding_left().then_some(token)
    }

    /// `Err(ExpiredIterator)` when the token is more than 300 000 ms old at `now_ms`
    /// (exactly 300 000 ms is still valid).
    pub fn check_age(&self, now_ms: i64) -> Result<()> {
        match is_expired(self.issued_ms, now_ms) {
            true => Err(messages::iterator_expired(self.issued_ms, now_ms)),
            false => Ok(()),
        }
    }
}

/// Where a paginated listing resumes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResumeAt {
    /// A position in a list.
    Index(u64),
    /// A key to resume after (a shard id, stream or consumer name), at most
    /// [`NextToken::MAX_KEY_BYTES`] bytes.
    Key(String),
}

/// A decoded pagination token (ListShards, ListStreams, ListStreamConsumers).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NextToken {
    /// Internal id of the stream listed (or any scope id the caller chooses).
    pub stream_uid: u64,
    /// Where the next page starts.
    pub resume: ResumeAt,
    /// When the token was issued, epoch milliseconds.
    pub issued_ms: i64,
}

impl NextToken {
    /// Longest resume key, in bytes.
    pub const MAX_KEY_BYTES: usize = 1024;
    /// Longest encoded token, in characters.
    pub const MAX_ENCODED_LEN: usize = NEXT_TOKEN_MAX_RAW.div_ceil(3) * 4;

    /// The token text. `InvalidArgument` if the resume key is longer than
    /// [`Self::MAX_KEY_BYTES`].
    pub fn encode(&self, key: &TokenKey) -> Result<String> {
        let fields = NEXT_TOKEN_FIXED
            + match &self.resume {
                ResumeAt::Index(_) => 8,
                ResumeAt::Key(k) if k.len() > Self::MAX_KEY_BYTES => {
                    return Err(Error::invalid_argument(format!(
                        "NextToken resume key is longer than {} bytes.",
                        Self::MAX_KEY_BYTES
                    )))
                }
                ResumeAt::Key(k) => 2 + k.len(),
            };
        let mut raw = vec![0u8; PREFIX.len() + fields.next_multiple_of(BLOCK) + TAG_LEN];
        let mut w = Writer::new(&mut raw);
        w.put(&PREFIX);
        w.put(&[KIND_NEXT_TOKEN]);
        w.put(&self.stream_uid.to_be_bytes());
        w.put(&self.issued_ms.to_be_bytes());
        match &self.resume {
            ResumeAt::Index(i) => {
                w.put(&[RESUME_INDEX]);
                w.put(&i.to_be_bytes());
            }
            ResumeAt::Key(k) => {
                w.put(&[RESUME_KEY]);
                // k.len() <= MAX_KEY_BYTES (1024) was checked above, so it fits a u16.
                w.put(&(k.len() as u16).to_be_bytes());
                w.put(k.as_bytes());
            }
        }
        key.seal(&mut raw);
        Ok(STANDARD.encode(raw))
    }

    /// Decodes and authenticates a token. Any defect is `InvalidArgument`.
    pub fn decode(text: &str, key: &TokenKey) -> Result<Self> {
        Self::try_decode(text, key).ok_or_else(messages::invalid_next_token)
    }

    fn try_decode(text: &str, key: &TokenKey) -> Option<Self> {
        if text.len() > Self::MAX_ENCODED_LEN {
            return None;
        }
        let mut buf = [0u8; NEXT_TOKEN_MAX_RAW];
        let n = STANDARD.decode_slice(text, &mut buf).ok()?;
        let mut r = Reader(key.open(buf.get(..n)?)?);
        if r.u8()? != KIND_NEXT_TOKEN {
            return None;
        }
        let stream_uid = r.u64()?;
        let issued_ms = r.i64()?;
        let resume = match r.u8()? {
            RESUME_INDEX => ResumeAt::Index(r.u64()?),
            RESUME_KEY => {
                let len = usize::from(r.u16()?);
                if len > Self::MAX_KEY_BYTES {
                    return None;
                }
                ResumeAt::Key(std::str::from_utf8(r.bytes(len)?).ok()?.to_owned())
            }
            _ => return None,
        };
        r.only_padding_left().then_some(NextToken { stream_uid, resume, issued_ms })
    }

    /// `Err(ExpiredNextToken)` when the token is more than 300 000 ms old at `now_ms`.
    pub fn check_age(&self, now_ms: i64) -> Result<()> {
        match is_expired(self.issued_ms, now_ms) {
            true => Err(messages::next_token_expired()),
            false => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> TokenKey {
        TokenKey::from_bytes([7; 32])
    }

    fn it() -> ShardIteratorToken {
        ShardIteratorToken {
            stream_uid: 0x0123_4567_89ab_cdef,
            shard_index: 5,
            offset: 42,
            issued_ms: 1_421_889_722_000,
            flags: 1,
        }
    }

    fn is_invalid_iterator(r: Result<ShardIteratorToken>) -> bool {
        matches!(r, Err(Error::InvalidArgument { message }) if message == "Invalid ShardIterator.")
    }

    fn is_invalid_next(r: Result<NextToken>) -> bool {
        matches!(r, Err(Error::InvalidArgument { .. }))
    }

    #[test]
    fn mac_equals_plain_hmac() {
        let k = [9u8; 32];
        let ours = TokenKey::from_bytes(k).mac.chain_update(b"data").finalize().into_bytes();
        let plain = Hmac::<Sha256>::new_from_slice(&k).unwrap().chain_update(b"data").finalize().into_bytes();
        assert_eq!(ours, plain);
        assert_eq!(format!("{:?}", TokenKey::from_bytes(k)), "TokenKey(<redacted>)");
    }

    #[test]
    fn iterator_round_trip_and_shape() {
        let text = it().encode(&key());
        assert_eq!(text.len(), ShardIteratorToken::ENCODED_LEN);
        assert_eq!(text.len(), 76);
        assert!(text.starts_with("AAAAAAAAAAE"));
        assert_eq!(ShardIteratorToken::decode(&text, &key()).unwrap(), it());
        let extreme = ShardIteratorToken {
            stream_uid: u64::MAX,
            shard_index: u32::MAX,
            offset: u64::MAX,
            issued_ms: i64::MIN,
            flags: 0xff,
        };
        assert_eq!(ShardIteratorToken::decode(&extreme.encode(&key()), &key()).unwrap(), extreme);
    }

    #[test]
    fn iterator_every_bit_flip_rejected() {
        let text = it().encode(&key());
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.to_vec();
                b[i] ^= 1 << bit;
                if let Ok(s) = String::from_utf8(b) {
                    assert!(is_invalid_iterator(ShardIteratorToken::decode(&s, &key())), "char {i} bit {bit}");
                }
            }
        }
        // Bit flips in the raw bytes, re-encoded validly.
        let raw = STANDARD.decode(&text).unwrap();
        for i in 0..raw.len() {
            for bit in 0..8 {
                let mut r = raw.clone();
                r[i] ^= 1 << bit;
                let s = STANDARD.encode(&r);
                assert!(is_invalid_iterator(ShardIteratorToken::decode(&s, &key())), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn iterator_garbage_rejected() {
        let text = it().encode(&key());
        for n in 0..text.len() {
            assert!(is_invalid_iterator(ShardIteratorToken::decode(&text[..n], &key())));
        }
        let raw = STANDARD.decode(&text).unwrap();
        for n in 0..raw.len() {
            let s = STANDARD.encode(&raw[..n]);
            assert!(is_invalid_iterator(ShardIteratorToken::decode(&s, &key())));
        }
        let other = TokenKey::from_bytes([8; 32]);
        assert!(is_invalid_iterator(ShardIteratorToken::decode(&text, &other)));
        assert!(is_invalid_iterator(ShardIteratorToken::decode(&format!("{text}="), &key())));
        assert!(is_invalid_iterator(ShardIteratorToken::decode(&format!(" {}", &text[1..]), &key())));
        assert!(is_invalid_iterator(ShardIteratorToken::decode("", &key())));
        assert!(is_invalid_iterator(ShardIteratorToken::decode(&"A".repeat(76), &key())));
        // A next token is not an iterator, even under the same key.
        let nt = NextToken { stream_uid: 1, resume: ResumeAt::Index(3), issued_ms: 0 }.encode(&key()).unwrap();
        assert!(is_invalid_iterator(ShardIteratorToken::decode(&nt, &key())));
        // Random keys differ.
        let (a, b) = (TokenKey::random(), TokenKey::random());
        let t = it().encode(&a);
        assert!(ShardIteratorToken::decode(&t, &a).is_ok());
        assert!(is_invalid_iterator(ShardIteratorToken::decode(&t, &b)));
    }

    #[test]
    fn iterator_expiry_boundary() {
        let t = it();
        t.check_age(t.issued_ms).unwrap();
        t.check_age(t.issued_ms - 5_000).unwrap();
        t.check_age(t.issued_ms + 300_000).unwrap();
        match t.check_age(t.issued_ms + 300_001) {
            Err(Error::ExpiredIterator { message }) => assert_eq!(
                message,
                "Iterator expired. The iterator was created at time Thu Jan 22 01:22:02 UTC 2015 while right now \
                 it is Thu Jan 22 01:27:02 UTC 2015 which is further in the future than the tolerated delay of \
                 300000 milliseconds."
            ),
            other => panic!("{other:?}"),
        }
        let old = ShardIteratorToken { issued_ms: i64::MIN, ..t };
        assert!(old.check_age(i64::MAX).is_err());
    }

    #[test]
    fn next_token_round_trip_and_rejects() {
        let key = key();
        let tokens = [
            NextToken { stream_uid: 9, resume: ResumeAt::Index(0), issued_ms: 1000 },
            NextToken { stream_uid: 9, resume: ResumeAt::Index(u64::MAX), issued_ms: -1 },
            NextToken { stream_uid: 0, resume: ResumeAt::Key(String::new()), issued_ms: 5 },
            NextToken { stream_uid: 1, resume: ResumeAt::Key("shardId-000000000007".into()), issued_ms: 5 },
            NextToken { stream_uid: 1, resume: ResumeAt::Key("é".repeat(512)), issued_ms: 5 },
        ];
        for t in &tokens {
            let text = t.encode(&key).unwrap();
            assert!(text.starts_with("AAAAAAAAAAE"));
            assert!(text.len() <= NextToken::MAX_ENCODED_LEN);
            assert_eq!(&NextToken::decode(&text, &key).unwrap(), t);
            assert!(is_invalid_next(NextToken::decode(&text, &TokenKey::from_bytes([1; 32]))));
            let raw = STANDARD.decode(&text).unwrap();
            for i in 0..raw.len() {
                let mut r = raw.clone();
                r[i] ^= 0x10;
                assert!(is_invalid_next(NextToken::decode(&STANDARD.encode(&r), &key)));
            }
            for n in 0..raw.len() {
                assert!(is_invalid_next(NextToken::decode(&STANDARD.encode(&raw[..n]), &key)));
            }
        }
        let long = NextToken { stream_uid: 1, resume: ResumeAt::Key("k".repeat(1025)), issued_ms: 0 };
        assert!(matches!(long.encode(&key), Err(Error::InvalidArgument { .. })));
        let huge = "A".repeat(NextToken::MAX_ENCODED_LEN + 4);
        assert!(is_invalid_next(NextToken::decode(&huge, &key)));
        // An iterator is not a next token.
        assert!(is_invalid_next(NextToken::decode(&it().encode(&key), &key)));
        assert_eq!(messages::invalid_next_token().to_string(), "Invalid NextToken.");
    }

    #[test]
    fn next_token_expiry() {
        let t = NextToken { stream_uid: 1, resume: ResumeAt::Index(1), issued_ms: 10 };
        t.check_age(300_010).unwrap();
        assert!(matches!(t.check_age(300_011), Err(Error::ExpiredNextToken { .. })));
    }

    proptest! {
        #[test]
        fn iterator_round_trip(stream_uid: u64, shard_index: u32, offset: u64, issued_ms: i64, flags: u8) {
            let t = ShardIteratorToken { stream_uid, shard_index, offset, issued_ms, flags };
            let text = t.encode(&key());
            prop_assert_eq!(text.len(), ShardIteratorToken::ENCODED_LEN);
            prop_assert_eq!(ShardIteratorToken::decode(&text, &key()).unwrap(), t);
        }

        #[test]
        fn random_text_rejected(s in "\\PC{0,120}", b64 in "[A-Za-z0-9+/]{76}") {
            prop_assert!(ShardIteratorToken::decode(&s, &key()).is_err());
            prop_assert!(ShardIteratorToken::decode(&b64, &key()).is_err());
            prop_assert!(NextToken::decode(&s, &key()).is_err());
        }

        #[test]
        fn random_bytes_rejected(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut with_prefix = PREFIX.to_vec();
            with_prefix.extend_from_slice(&raw);
            for bytes in [&raw, &with_prefix] {
                let s = STANDARD.encode(bytes);
                prop_assert!(ShardIteratorToken::decode(&s, &key()).is_err());
                prop_assert!(NextToken::decode(&s, &key()).is_err());
            }
        }

        #[test]
        fn next_token_round_trip(uid: u64, issued_ms: i64, idx: u64, k in "\\PC{0,64}") {
            for resume in [ResumeAt::Index(idx), ResumeAt::Key(k.clone())] {
                let t = NextToken { stream_uid: uid, resume, issued_ms };
                prop_assert_eq!(NextToken::decode(&t.encode(&key()).unwrap(), &key()).unwrap(), t);
            }
        }
    }
}
