//! Fuzz targets `sequence_number` and `iterator_token`: the Kinesis-facing parsers of
//! `shardlog::kinesis` (sequence numbers, explicit hash keys, shard iterators, NextTokens).

use shardlog::kinesis::{
    parse_explicit_hash_key, NextToken, ResumeAt, SequenceNumber, SequenceParseError, SequenceValue,
    ShardIteratorToken, TokenKey,
};

use super::Input;

/// The independent oracle for `0|([1-9]\d{0,max-1})`.
fn is_canonical_decimal(s: &str, max_digits: usize) -> bool {
    let b = s.as_bytes();
    s == "0"
        || (!b.is_empty() && b.len() <= max_digits && (b'1'..=b'9').contains(&b[0]) && b.iter().all(u8::is_ascii_digit))
}

/// Numeric order of two canonical decimals: by length, then by digits.
fn decimal_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Input: `mode` u8, then mode-specific bytes.
///
/// - mode % 4 == 0: the rest as text (lossy UTF-8) through `SequenceNumber::parse` and
///   `SequenceValue::parse`: syntax errors exactly when the text does not match
///   `0|([1-9]\d{0,128})`; a parsed value prints back as the same text; both parsers agree;
///   a decoded number rebuilt from its fields is the same number (unless it carries a
///   non-zero `byte1`, which numbers issued here never do).
/// - mode % 4 == 1: fields (create secs u64, shard index u32, counter u64, arrival secs u64,
///   each reduced into range) → `SequenceNumber::new` → text → parse gives the same number and
///   the same fields back; numbers of one shard order by counter.
/// - mode % 4 == 2: two texts (u8 length-prefixed, then the rest): `SequenceValue` ordering
///   equals numeric ordering of the decimals.
/// - mode % 4 == 3: the rest as an explicit hash key: accepted exactly when it matches
///   `0|([1-9]\d{0,38})` and is ≤ 2^128 − 1, and the value prints back as the text.
pub fn sequence_number(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    match mode % 4 {
        0 => {
            let text = String::from_utf8_lossy(input.rest()).into_owned();
            let syntax_ok = is_canonical_decimal(&text, 129);
            let value = SequenceValue::parse(&text);
            let number = SequenceNumber::parse(&text);
            assert_eq!(value.is_ok(), syntax_ok, "SequenceValue::parse({text:?}) = {value:?}");
            if !syntax_ok {
                assert_eq!(number, Err(SequenceParseError::Syntax), "{text:?}");
                return;
            }
            let value = value.expect("checked");
            assert_eq!(value.to_string(), text, "SequenceValue does not print back");
            assert_eq!(value.decode(), number, "the two parsers disagree on {text:?}");
            if let Ok(n) = number {
                assert_eq!(n.to_string(), text, "SequenceNumber does not print back");
                assert_eq!(n.value(), value);
                let rebuilt =
                    SequenceNumber::new(n.shard_create_secs(), n.shard_index(), n.counter(), n.arrival_secs());
                // `byte1` is carried, not issued (always 0 here): the other fields rebuild it.
                assert_eq!(rebuilt == n, n.byte1() == 0, "fields of {text} do not rebuild it");
                assert_eq!(n.is_ending(), n.counter() == SequenceNumber::MAX_COUNTER);
            }
        }
        1 => {
            let create = input.u64() % (SequenceNumber::MAX_CREATE_SECS + 1);
            let shard = input.u32() % (SequenceNumber::MAX_SHARD_INDEX + 1);
            let counter = input.u64() & SequenceNumber::MAX_COUNTER;
            let arrival = input.u64() % (SequenceNumber::MAX_ARRIVAL_SECS + 1);
            let other_counter = input.u64() & SequenceNumber::MAX_COUNTER;
            let other_arrival = input.u64() % (SequenceNumber::MAX_ARRIVAL_SECS + 1);
            let n = SequenceNumber::new(create, shard, counter, arrival);
            assert_eq!(
                (n.shard_create_secs(), n.shard_index(), n.counter(), n.arrival_secs()),
                (create, shard, counter, arrival),
                "fields do not round-trip"
            );
            let text = n.to_string();
            assert!(is_canonical_decimal(&text, 129), "{text} is not a canonical decimal");
            assert_eq!(SequenceNumber::parse(&text), Ok(n));
            assert_eq!(SequenceValue::parse(&text).map(|v| v.decode()), Ok(Ok(n)));
            // Within one shard, the counter orders the numbers (arrival times follow the
            // counter in a log, so only pairs where both agree are compared).
            let m = SequenceNumber::new(create, shard, other_counter, other_arrival);
            if (counter < other_counter && arrival <= other_arrival)
                || (counter > other_counter && arrival >= other_arrival)
            {
                assert_eq!(n.cmp(&m), counter.cmp(&other_counter), "{n} vs {m}");
            }
            assert!(
                n < SequenceNumber::ending(create, shard, arrival.max(other_arrival))
                    || counter == SequenceNumber::MAX_COUNTER
            );
        }
        2 => {
            let a = String::from_utf8_lossy(input.short_bytes()).into_owned();
            let b = String::from_utf8_lossy(input.rest()).into_owned();
            if let (Ok(x), Ok(y)) = (SequenceValue::parse(&a), SequenceValue::parse(&b)) {
                assert_eq!(x.cmp(&y), decimal_cmp(&a, &b), "{a} vs {b}");
                if let (Ok(n), Ok(m)) = (x.decode(), y.decode()) {
                    assert_eq!(n.cmp(&m), x.cmp(&y));
                    assert_eq!(n.partial_cmp(&y), Some(x.cmp(&y)));
                }
            }
        }
        _ => {
            let text = String::from_utf8_lossy(input.rest()).into_owned();
            let parsed = parse_explicit_hash_key(&text);
            let expected = if is_canonical_decimal(&text, 39) { text.parse::<u128>().ok() } else { None };
            match (&parsed, expected) {
                (Ok(v), Some(e)) => {
                    assert_eq!(*v, e);
                    assert_eq!(v.to_string(), text);
                }
                (Err(_), None) => {}
                _ => panic!("parse_explicit_hash_key({text:?}) = {parsed:?}, expected {expected:?}"),
            }
        }
    }
}

/// The fixed key fuzzed tokens are checked against.
fn key(n: u8) -> TokenKey {
    TokenKey::from_bytes([n; 32])
}

/// Input: `mode` u8, then mode-specific bytes.
///
/// - mode % 4 == 0 / 1: the rest as text through `ShardIteratorToken::decode` /
///   `NextToken::decode` with a fixed key: accepted only if re-encoding the result gives the
///   same text (and, the MAC being what it is, random text is never accepted).
/// - mode % 4 == 2: a shard iterator from fuzzed fields: encode → decode gives it back; the
///   other key refuses it; changing any one character (position and replacement from the
///   input) makes it invalid; `check_age` expires it exactly after 300 000 ms.
/// - mode % 4 == 3: the same for a NextToken (index or key resume point, the key from the
///   input, refused above 1,024 bytes).
pub fn iterator_token(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    match mode % 4 {
        0 => {
            let text = String::from_utf8_lossy(input.rest()).into_owned();
            if let Ok(t) = ShardIteratorToken::decode(&text, &key(1)) {
                assert_eq!(t.encode(&key(1)), text, "a decoded iterator does not re-encode to its text");
            }
        }
        1 => {
            let text = String::from_utf8_lossy(input.rest()).into_owned();
            if let Ok(t) = NextToken::decode(&text, &key(1)) {
                assert_eq!(t.encode(&key(1)).ok(), Some(text), "a decoded NextToken does not re-encode to its text");
            }
        }
        2 => {
            let t = ShardIteratorToken {
                stream_uid: input.u64(),
                shard_index: input.u32(),
                offset: input.u64(),
                issued_ms: input.u64() as i64,
                flags: input.u8(),
            };
            let (at, with, age) = (input.u16(), input.u8(), input.u32());
            let text = t.encode(&key(1));
            assert_eq!(text.len(), ShardIteratorToken::ENCODED_LEN);
            assert_eq!(ShardIteratorToken::decode(&text, &key(1)).ok(), Some(t));
            assert!(ShardIteratorToken::decode(&text, &key(2)).is_err(), "another key accepted the token");
            if let Some(changed) = change_one_char(&text, at, with) {
                assert!(ShardIteratorToken::decode(&changed, &key(1)).is_err(), "a changed token was accepted");
            }
            check_age(t.issued_ms, age, |now| t.check_age(now).is_ok());
        }
        _ => {
            let stream_uid = input.u64();
            let issued_ms = input.u64() as i64;
            let (at, with, age) = (input.u16(), input.u8(), input.u32());
            let resume = if input.u8() & 1 == 0 {
                ResumeAt::Index(input.u64())
            } else {
                ResumeAt::Key(String::from_utf8_lossy(input.rest()).into_owned())
            };
            let t = NextToken { stream_uid, resume, issued_ms };
            let text = match t.encode(&key(1)) {
                Ok(text) => text,
                Err(_) => {
                    let ResumeAt::Key(k) = &t.resume else { panic!("an index NextToken failed to encode") };
                    assert!(k.len() > NextToken::MAX_KEY_BYTES, "a {}-byte key was refused", k.len());
                    return;
                }
            };
            assert!(text.len() <= NextToken::MAX_ENCODED_LEN);
            assert_eq!(NextToken::decode(&text, &key(1)).ok().as_ref(), Some(&t));
            assert!(NextToken::decode(&text, &key(2)).is_err(), "another key accepted the token");
            if let Some(changed) = change_one_char(&text, at, with) {
                assert!(NextToken::decode(&changed, &key(1)).is_err(), "a changed token was accepted");
            }
            check_age(t.issued_ms, age, |now| t.check_age(now).is_ok());
        }
    }
}

/// `text` with the character at `at % len` replaced by a different one chosen by `with`
/// (from the base64 alphabet plus a few strangers), or `None` for an empty text.
fn change_one_char(text: &str, at: u16, with: u8) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ .";
    let mut b = text.as_bytes().to_vec();
    if b.is_empty() {
        return None;
    }
    let i = usize::from(at) % b.len();
    let mut c = ALPHABET[usize::from(with) % ALPHABET.len()];
    if c == b[i] {
        c = ALPHABET[(usize::from(with) + 1) % ALPHABET.len()];
    }
    b[i] = c;
    String::from_utf8(b).ok()
}

/// A token issued at `issued` is valid at `issued + age` exactly when `age ≤ 300 000` ms.
fn check_age(issued: i64, age: u32, valid_at: impl Fn(i64) -> bool) {
    let Some(now) = issued.checked_add(i64::from(age % 600_001)) else { return };
    let age = now - issued;
    assert_eq!(valid_at(now), age <= 300_000, "age {age} ms");
}

/// Seed inputs of `sequence_number` and `iterator_token`: `(target, bytes)`.
pub fn seed_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let n = SequenceNumber::new(1_767_225_598, 3, 41, 1_767_225_700);
    let mut out = Vec::new();
    for text in [n.to_string(), "0".into(), "01".into(), "9".repeat(129), "1".repeat(130), format!("{n}x")] {
        out.push(("sequence_number", [&[0u8][..], text.as_bytes()].concat()));
    }
    let mut fields = vec![1u8];
    for v in [1_767_225_598u64, 3, 41, 1_767_225_700, 42, 1_767_225_701] {
        fields.extend(v.to_le_bytes());
    }
    out.push(("sequence_number", fields));
    let a = n.to_string();
    out.push(("sequence_number", [&[2u8, a.len() as u8][..], a.as_bytes(), b"123"].concat()));
    for text in ["0", "340282366920938463463374607431768211455", "340282366920938463463374607431768211456", "+1"] {
        out.push(("sequence_number", [&[3u8][..], text.as_bytes()].concat()));
    }
    let it = ShardIteratorToken { stream_uid: 7, shard_index: 2, offset: 99, issued_ms: 1_767_225_600_000, flags: 0 };
    out.push(("iterator_token", [&[0u8][..], it.encode(&key(1)).as_bytes()].concat()));
    let nt = NextToken { stream_uid: 7, resume: ResumeAt::Key("shardId-000000000001".into()), issued_ms: 5 };
    out.push(("iterator_token", [&[1u8][..], nt.encode(&key(1)).expect("short key").as_bytes()].concat()));
    let mut fields = vec![2u8];
    fields.extend(7u64.to_le_bytes());
    fields.extend(2u32.to_le_bytes());
    fields.extend(99u64.to_le_bytes());
    fields.extend(1_767_225_600_000u64.to_le_bytes());
    fields.extend([0, 5, 0, b'A']);
    fields.extend(300_000u32.to_le_bytes());
    out.push(("iterator_token", fields));
    let mut fields = vec![3u8];
    fields.extend(7u64.to_le_bytes());
    fields.extend(5u64.to_le_bytes());
    fields.extend([9, 0, b'z']);
    fields.extend(300_001u32.to_le_bytes());
    fields.push(1);
    fields.extend(b"stream-name");
    out.push(("iterator_token", fields));
    out
}
