//! Wire codecs of the Kinesis API: AWS JSON 1.1 and CBOR (kinesis-behaviour §10.1).
//!
//! Requests decode into one neutral tree ([`In`]) whatever their encoding; the operation
//! table reads members from it with the per-codec rules for blobs and timestamps. Responses
//! are built as an [`Out`] tree and encoded in the request's codec:
//!
//! | member kind | JSON 1.1                                   | CBOR                                  |
//! |-------------|--------------------------------------------|---------------------------------------|
//! | blob        | base64 string                              | byte string                           |
//! | timestamp   | epoch seconds, a number; emitted as a plain decimal with 3 fraction digits (`1545084650.987`); parsed in any number form (`1.545084650987E9`) | tag 1 around integer epoch **milliseconds**, both directions (AWS deviates from RFC 8949 here) |
//!
//! Parsing is bounded: serde_json refuses nesting deeper than 128 and ciborium deeper than
//! 256, so hostile nesting is a `SerializationException`, never a stack overflow; lone UTF-16
//! surrogates (`"\ud800"`) and invalid UTF-8 are parse errors too.

use base64::Engine as _;
use bytes::Bytes;

/// The encodings a request may use; the response uses the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `application/x-amz-json-1.1` (or `application/json`).
    Json,
    /// `application/x-amz-cbor-1.1`.
    Cbor,
}

/// AWS JSON 1.1 content type.
pub const AMZ_JSON: &str = "application/x-amz-json-1.1";
/// AWS CBOR 1.1 content type.
pub const AMZ_CBOR: &str = "application/x-amz-cbor-1.1";
/// Plain JSON, accepted as JSON 1.1.
pub const PLAIN_JSON: &str = "application/json";

/// A request's content type: the codec and the header value echoed in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentType {
    /// How bodies are encoded.
    pub codec: Codec,
    /// The `Content-Type` of responses.
    pub header: &'static str,
}

impl ContentType {
    /// The content type named by a `Content-Type` header value (parameters such as
    /// `; charset=utf-8` ignored), or `None` if it is not one the API speaks.
    pub fn parse(value: &str) -> Option<ContentType> {
        let base = value.split(';').next().unwrap_or("").trim();
        if base.eq_ignore_ascii_case(AMZ_JSON) {
            Some(ContentType { codec: Codec::Json, header: AMZ_JSON })
        } else if base.eq_ignore_ascii_case(AMZ_CBOR) {
            Some(ContentType { codec: Codec::Cbor, header: AMZ_CBOR })
        } else if base.eq_ignore_ascii_case(PLAIN_JSON) {
            Some(ContentType { codec: Codec::Json, header: PLAIN_JSON })
        } else {
            None
        }
    }

    /// CBOR 1.1.
    pub const CBOR: ContentType = ContentType { codec: Codec::Cbor, header: AMZ_CBOR };
}

/// A decoded request value, the same for both codecs.
#[derive(Debug, Clone, PartialEq)]
pub enum In {
    /// JSON `null`, CBOR null or undefined.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A text string.
    Str(String),
    /// A CBOR byte string.
    Bytes(Vec<u8>),
    /// A CBOR tagged item.
    Tag(u64, Box<In>),
    /// A list.
    List(Vec<In>),
    /// A map or structure with text keys (other keys are dropped), in wire order.
    Map(Vec<(String, In)>),
}

/// Decode a JSON request body (straight into [`In`], no intermediate tree).
pub fn decode_json(body: &[u8]) -> Result<In, String> {
    serde_json::from_slice::<In>(body).map_err(|e| e.to_string())
}

impl<'de> serde::Deserialize<'de> for In {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<In, D::Error> {
        d.deserialize_any(InVisitor)
    }
}

struct InVisitor;

impl<'de> serde::de::Visitor<'de> for InVisitor {
    type Value = In;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<In, E> {
        Ok(In::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<In, E> {
        Ok(In::Int(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<In, E> {
        Ok(In::Int(i128::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<In, E> {
        Ok(In::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<In, E> {
        Ok(In::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<In, E> {
        Ok(In::Str(v))
    }
    fn visit_unit<E>(self) -> Result<In, E> {
        Ok(In::Null)
    }
    fn visit_none<E>(self) -> Result<In, E> {
        Ok(In::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<In, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<In, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(In::List(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<In, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some((k, v)) = map.next_entry::<String, In>()? {
            members.push((k, v));
        }
        Ok(In::Map(members))
    }
}

/// Decode a CBOR request body: exactly one data item. Bytes after it are refused, as a
/// JSON body with trailing characters is (`serde_json`'s "trailing characters"), so a body
/// cannot carry a second, unchecked payload.
pub fn decode_cbor(body: &[u8]) -> Result<In, String> {
    let mut rest = body;
    let v: ciborium::Value = ciborium::de::from_reader(&mut rest).map_err(|e| format!("{e:?}"))?;
    if !rest.is_empty() {
        let at = body.len() - rest.len();
        return Err(format!("trailing bytes after the top-level CBOR data item: {} more at offset {at}", rest.len()));
    }
    Ok(from_cbor(v))
}

fn from_cbor(v: ciborium::Value) -> In {
    use ciborium::Value;
    match v {
        Value::Integer(i) => In::Int(i128::from(i)),
        Value::Bytes(b) => In::Bytes(b),
        Value::Float(f) => In::Float(f),
        Value::Text(s) => In::Str(s),
        Value::Bool(b) => In::Bool(b),
        Value::Null => In::Null,
        Value::Tag(t, inner) => In::Tag(t, Box::new(from_cbor(*inner))),
        Value::Array(items) => In::List(items.into_iter().map(from_cbor).collect()),
        Value::Map(entries) => In::Map(
            entries
                .into_iter()
                .filter_map(|(k, v)| match k {
                    Value::Text(k) => Some((k, from_cbor(v))),
                    _ => None,
                })
                .collect(),
        ),
        _ => In::Null,
    }
}

/// Decode a body in `codec`.
pub fn decode(codec: Codec, body: &[u8]) -> Result<In, String> {
    match codec {
        Codec::Json => decode_json(body),
        Codec::Cbor => decode_cbor(body),
    }
}

/// A response value.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A string known at compile time (enum values).
    Static(&'static str),
    /// A blob: base64 in JSON, a byte string in CBOR.
    Blob(Bytes),
    /// A timestamp in epoch milliseconds: seconds with a fraction in JSON, tag 1 + ms in CBOR.
    Time(i64),
    /// A list.
    List(Vec<Out>),
    /// A structure; members in this order.
    Map(Vec<(&'static str, Out)>),
}

impl Out {
    /// An empty structure (`{}`).
    pub fn empty() -> Out {
        Out::Map(Vec::new())
    }
}

/// Encode `out` in `codec`.
pub fn encode(codec: Codec, out: &Out) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    match codec {
        Codec::Json => write_json(out, &mut buf),
        Codec::Cbor => {
            let mut enc = ciborium_ll::Encoder::from(&mut buf);
            // Writing into a Vec cannot fail.
            let _ = write_cbor(out, &mut enc);
        }
    }
    buf
}

/// The JSON form of a timestamp: epoch seconds as a plain decimal with three fraction digits.
pub fn json_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

fn write_json(out: &Out, buf: &mut Vec<u8>) {
    use std::io::Write as _;
    match out {
        Out::Bool(true) => buf.extend_from_slice(b"true"),
        Out::Bool(false) => buf.extend_from_slice(b"false"),
        Out::Int(i) => {
            let _ = write!(buf, "{i}");
        }
        Out::Str(s) => write_json_str(s, buf),
        Out::Static(s) => write_json_str(s, buf),
        Out::Blob(b) => {
            buf.push(b'"');
            let start = buf.len();
            let len = base64::encoded_len(b.len(), true).unwrap_or(0);
            buf.resize(start + len, 0);
            if let Some(dst) = buf.get_mut(start..) {
                let _ = base64::engine::general_purpose::STANDARD.encode_slice(b, dst);
            }
            buf.push(b'"');
        }
        Out::Time(ms) => buf.extend_from_slice(json_seconds(*ms).as_bytes()),
        Out::List(items) => {
            buf.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_json(item, buf);
            }
            buf.push(b']');
        }
        Out::Map(members) => {
            buf.push(b'{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_json_str(k, buf);
                buf.push(b':');
                write_json(v, buf);
            }
            buf.push(b'}');
        }
    }
}

fn write_json_str(s: &str, buf: &mut Vec<u8>) {
    // Fast path: nothing to escape.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *buf, s);
    }
}

type CborEncoder<'a> = ciborium_ll::Encoder<&'a mut Vec<u8>>;

fn write_cbor(out: &Out, enc: &mut CborEncoder<'_>) -> std::io::Result<()> {
    use ciborium_ll::{simple, Header};
    match out {
        Out::Bool(b) => enc.push(Header::Simple(if *b { simple::TRUE } else { simple::FALSE })),
        Out::Int(i) => enc.push(cbor_int(*i)),
        Out::Str(s) => enc.text(s, None),
        Out::Static(s) => enc.text(s, None),
        Out::Blob(b) => enc.bytes(b, None),
        Out::Time(ms) => {
            enc.push(Header::Tag(1))?;
            enc.push(cbor_int(*ms))
        }
        Out::List(items) => {
            enc.push(Header::Array(Some(items.len())))?;
            items.iter().try_for_each(|item| write_cbor(item, enc))
        }
        Out::Map(members) => {
            enc.push(Header::Map(Some(members.len())))?;
            for (k, v) in members {
                enc.text(k, None)?;
                write_cbor(v, enc)?;
            }
            Ok(())
        }
    }
}

fn cbor_int(i: i64) -> ciborium_ll::Header {
    if i >= 0 {
        ciborium_ll::Header::Positive(i.unsigned_abs())
    } else {
        // CBOR negative n encodes -1 - n.
        ciborium_ll::Header::Negative(i.unsigned_abs() - 1)
    }
}

/// Decode a JSON blob (base64) with the checks and messages of Kinesis' deserializer; the
/// error is the `SerializationException` message.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(out) => {
            debug_assert_eq!(base64_decoded_len(s), Ok(out.len()), "base64_decoded_len agrees with the decoder");
            Ok(out)
        }
        // The decoder refused it: say why in Kinesis' words.
        Err(_) => Err(base64_decoded_len(s).err().unwrap_or_else(|| {
            format!("'{s}' can not be converted to a Blob: Invalid last non-pad Base64 character dectected")
        })),
    }
}

/// The length of the bytes a JSON blob (base64, padded, no stray bits) decodes to, checked
/// without decoding or allocating; the error is the `SerializationException` message
/// Kinesis' deserializer gives (`… can not be converted to a Blob: …`).
pub fn base64_decoded_len(s: &str) -> Result<usize, String> {
    let prefix = || format!("'{s}' can not be converted to a Blob: ");
    if !s.len().is_multiple_of(4) {
        return Err(format!(
            "{}Base64 encoded length is expected a multiple of 4 bytes but found: {}",
            prefix(),
            s.len()
        ));
    }
    let bytes = s.as_bytes();
    // Every '=' must be followed by '=' or the end: the padding is one trailing run.
    let pad = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    let data = bytes.len() - pad;
    // Fast path (one table lookup per byte); the exact message only when something is wrong.
    // (No early exit: the branch-free fold runs several times faster on valid input.)
    let valid_chars = bytes.get(..data).is_some_and(|d| d.iter().fold(true, |ok, &b| ok & is_base64_char(b)));
    if !valid_chars {
        for (i, &b) in bytes.iter().enumerate() {
            let ok = is_base64_char(b) || (b == b'=' && bytes.get(i + 1).is_none_or(|&n| n == b'='));
            if !ok {
                let c = s.get(i..).and_then(|r| r.chars().next()).unwrap_or('?');
                return Err(format!("{}Invalid Base64 character: '{c}'", prefix()));
            }
        }
    }
    let last_bits_clear = |mask: u8| bytes.get(data.wrapping_sub(1)).is_some_and(|&c| sextet(c) & mask == 0);
    let valid = match (pad, data % 4) {
        (0, 0) => true,
        (1, 3) => last_bits_clear(0b11),
        (2, 2) => last_bits_clear(0b1111),
        _ => false,
    };
    if !valid {
        return Err(format!("{}Invalid last non-pad Base64 character dectected", prefix()));
    }
    Ok(data / 4 * 3 + (data % 4).saturating_sub(1))
}

/// Which bytes are base64 alphabet characters (`A–Z a–z 0–9 + /`).
#[allow(clippy::indexing_slicing)] // built at compile time; `b < 256 == t.len()`
static BASE64_ALPHABET: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
        b += 1;
    }
    t
};

fn is_base64_char(b: u8) -> bool {
    BASE64_ALPHABET.get(usize::from(b)).copied().unwrap_or(false)
}

/// The 6-bit value of a base64 alphabet character.
fn sextet(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_timestamps_are_plain_decimals() {
        assert_eq!(json_seconds(1_545_084_650_987), "1545084650.987");
        assert_eq!(json_seconds(1_000), "1.000");
        assert_eq!(json_seconds(5), "0.005");
        assert_eq!(json_seconds(-1), "-0.001");
    }

    #[test]
    fn cbor_timestamps_are_tag_1_milliseconds() {
        let out = Out::Map(vec![("T", Out::Time(1_545_084_650_987))]);
        let bytes = encode(Codec::Cbor, &out);
        // a1 (map 1) 61 54 ("T") c1 (tag 1) 1b <u64 BE>
        let mut want = vec![0xa1, 0x61, b'T', 0xc1, 0x1b];
        want.extend_from_slice(&1_545_084_650_987u64.to_be_bytes());
        assert_eq!(bytes, want);
        let back = decode_cbor(&bytes).unwrap();
        assert_eq!(back, In::Map(vec![("T".into(), In::Tag(1, Box::new(In::Int(1_545_084_650_987))))]));
    }

    #[test]
    fn json_blobs_round_trip_and_escape() {
        let out = Out::Map(vec![("D", Out::Blob(Bytes::from_static(b"hi"))), ("S", Out::Str("a\"b\n".into()))]);
        assert_eq!(String::from_utf8(encode(Codec::Json, &out)).unwrap(), r#"{"D":"aGk=","S":"a\"b\n"}"#);
    }

    #[test]
    fn base64_errors_use_kinesis_messages() {
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert!(decode_base64("abc").unwrap_err().ends_with("multiple of 4 bytes but found: 3"));
        assert!(decode_base64("ab*=").unwrap_err().ends_with("Invalid Base64 character: '*'"));
        assert!(decode_base64("a=bc").unwrap_err().ends_with("Invalid Base64 character: '='"));
        assert!(decode_base64("aGl=").unwrap_err().ends_with("Invalid last non-pad Base64 character dectected"));
    }

    #[test]
    fn base64_length_agrees_with_the_decoder() {
        for s in ["", "aGk=", "aGVsbG8=", "aGVsbA==", "AAAA", "aGl=", "aG==", "a===", "====", "ab=c", "AB+/"] {
            let expected = base64::engine::general_purpose::STANDARD.decode(s).map(|v| v.len()).ok();
            assert_eq!(base64_decoded_len(s).ok(), expected, "{s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn base64_length_never_disagrees(s in "[A-Za-z0-9+/=]{0,16}") {
            let expected = base64::engine::general_purpose::STANDARD.decode(&s).map(|v| v.len()).ok();
            proptest::prop_assert_eq!(base64_decoded_len(&s).ok(), expected);
        }
    }

    #[test]
    fn hostile_json_is_an_error_not_a_crash() {
        assert!(decode_json(br#"{"a":"\ud800"}"#).is_err());
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(decode_json(deep.as_bytes()).is_err());
        let mut deep_cbor = vec![0x81u8; 10_000];
        deep_cbor.push(0x80);
        assert!(decode_cbor(&deep_cbor).is_err());
    }

    #[test]
    fn bytes_after_the_top_level_item_are_refused_in_both_codecs() {
        // `{}` followed by a second item, and by one stray byte.
        let e = decode_cbor(&[0xa0, 0xa0]).unwrap_err();
        assert!(e.contains("trailing bytes") && e.contains("1 more at offset 1"), "{e}");
        let e = decode_cbor(&[0xa0, 0xff]).unwrap_err();
        assert!(e.contains("trailing bytes"), "{e}");
        assert_eq!(decode_cbor(&[0xa0]).unwrap(), In::Map(vec![]));
        let e = decode_json(b"{}{}").unwrap_err();
        assert!(e.contains("trailing characters"), "{e}");
        // Whitespace after a JSON document is not trailing content.
        assert_eq!(decode_json(b"{} \n").unwrap(), In::Map(vec![]));
    }

    #[test]
    fn exponent_numbers_parse() {
        assert_eq!(decode_json(b"1.547993531819E9").unwrap(), In::Float(1_547_993_531.819));
    }

    #[test]
    fn huge_declared_lengths_are_errors_not_allocations() {
        for head in [0x5bu8, 0x7b, 0x9b, 0xbb] {
            let mut body = vec![head];
            body.extend_from_slice(&(1u64 << 60).to_be_bytes());
            body.extend_from_slice(b"abc");
            assert!(decode_cbor(&body).is_err(), "head {head:#x}");
        }
    }
}
