//! Kinesis' deserializer rules: which decoded values a member of each model type accepts,
//! and the `SerializationException` message (Kinesis' own wording, recorded by kinesalite)
//! for the rest. The validator checks every member with [`type_error`] before any
//! constraint; the operation table then reads values with the converters, which cannot fail
//! on a validated request.

use bytes::Bytes;
use shardlog::engine::types::Timestamp;

use super::errors::ApiError;
use super::wire::{base64_decoded_len, decode_base64, Codec, In};

/// The model type a member is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `string`.
    String,
    /// `integer`.
    Integer,
    /// `long`.
    Long,
    /// `boolean`.
    Boolean,
    /// `blob` (base64 in JSON).
    Blob,
    /// `timestamp`.
    Timestamp,
    /// `list`.
    List,
    /// `map`.
    Map,
    /// `structure`.
    Structure,
}

const LIST_NOT_EXPECTED: &str = "Start of list found where not expected";
const MAP_NOT_EXPECTED: &str = "Start of structure or map found where not expected.";
const NUMBER_CLASS: &str = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber";

fn ser(msg: impl Into<String>) -> ApiError {
    ApiError::serialization(msg)
}

/// The value without CBOR tags (kept only where a timestamp is read).
pub fn untag(v: &In) -> &In {
    match v {
        In::Tag(_, inner) => untag(inner),
        v => v,
    }
}

fn untag_owned(v: In) -> In {
    match v {
        In::Tag(_, inner) => untag_owned(*inner),
        v => v,
    }
}

/// `"class X can not be converted to an <target>"`-style message for a scalar of the wrong
/// type, or the list/map messages.
fn mismatch(v: &In, target: &str, article: &str) -> ApiError {
    match v {
        In::Bool(_) => ser(format!("class java.lang.Boolean can not be converted to {article}{target}")),
        In::Int(_) | In::Float(_) => ser(format!("{NUMBER_CLASS} can not be converted to {article}{target}")),
        In::Str(_) => ser(format!("class java.lang.String can not be converted to {article}{target}")),
        In::Bytes(_) => ser(format!("class java.nio.HeapByteBuffer can not be converted to {article}{target}")),
        In::List(_) => ser(LIST_NOT_EXPECTED),
        In::Map(_) => ser(MAP_NOT_EXPECTED),
        In::Null | In::Tag(..) => ser(format!("null can not be converted to {article}{target}")),
    }
}

/// Whether `v` can be read as `kind`; the `SerializationException` if not. `null` (an
/// absent member) is always accepted. Blobs given as base64 text must be valid base64 (the
/// message says why not); nothing is decoded or allocated for it.
pub fn type_error(kind: Kind, codec: Codec, v: &In) -> Option<ApiError> {
    if matches!(v, In::Null) {
        return None;
    }
    let raw = v;
    let v = untag(v);
    match kind {
        Kind::String => match v {
            In::Str(_) => None,
            other => Some(mismatch(other, "String", "an ")),
        },
        Kind::Integer | Kind::Long => match v {
            In::Int(_) | In::Float(_) => None,
            other => Some(mismatch(other, if kind == Kind::Integer { "Integer" } else { "Long" }, "an ")),
        },
        Kind::Boolean => match v {
            In::Bool(_) => None,
            In::Str(s) => Some(ser(format!("'{}' can not be converted to an Boolean", s.to_uppercase()))),
            other => Some(mismatch(other, "Boolean", "an ")),
        },
        Kind::Blob => match v {
            In::Bytes(_) => None,
            In::Str(s) => base64_decoded_len(s).err().map(ser),
            other => Some(mismatch(other, "Blob", "a ")),
        },
        Kind::Timestamp => {
            let v = match (codec, raw) {
                (Codec::Cbor, In::Tag(_, inner)) => untag(inner),
                _ => v,
            };
            match v {
                In::Int(_) | In::Float(_) => None,
                other => Some(mismatch(other, "milliseconds since epoch", "")),
            }
        }
        Kind::List => match v {
            In::List(_) => None,
            In::Map(_) => Some(ser(MAP_NOT_EXPECTED)),
            _ => Some(ser("Expected list or null")),
        },
        Kind::Map => match v {
            In::Map(_) => None,
            In::List(_) => Some(ser(LIST_NOT_EXPECTED)),
            _ => Some(ser("Expected map or null")),
        },
        Kind::Structure => match v {
            In::Map(_) => None,
            In::List(_) => Some(ser(LIST_NOT_EXPECTED)),
            _ => Some(ser("Expected null")),
        },
    }
}

fn read<T>(kind: Kind, codec: Codec, v: In, f: impl FnOnce(In) -> Option<T>) -> Result<T, ApiError> {
    if let Some(e) = type_error(kind, codec, &v) {
        return Err(e);
    }
    let shown = format!("{kind:?}");
    f(untag_owned(v)).ok_or_else(|| ser(format!("null can not be converted to {shown}")))
}

/// A `string` member.
pub fn to_string(codec: Codec, v: In) -> Result<String, ApiError> {
    read(Kind::String, codec, v, |v| match v {
        In::Str(s) => Some(s),
        _ => None,
    })
}

/// The value of an `integer` member as Kinesis' deserializer reads it: fractions are
/// truncated towards −∞ and values outside a Java `int` are clamped to its range (AWS prints
/// `2147483647` for anything larger).
pub fn int_value(v: &In) -> Option<i64> {
    clamp_number(v, i64::from(i32::MIN), i64::from(i32::MAX))
}

/// The value of a `long` member (clamped to a Java `long`).
pub fn long_value(v: &In) -> Option<i64> {
    clamp_number(v, i64::MIN, i64::MAX)
}

fn clamp_number(v: &In, min: i64, max: i64) -> Option<i64> {
    match untag(v) {
        In::Int(i) => Some((*i).clamp(i128::from(min), i128::from(max)) as i64),
        In::Float(f) if f.is_nan() => Some(0),
        In::Float(f) => Some(f.floor().clamp(min as f64, max as f64) as i64),
        _ => None,
    }
}

/// An `integer` member.
pub fn to_int(codec: Codec, v: In) -> Result<i64, ApiError> {
    read(Kind::Integer, codec, v, |v| int_value(&v))
}

/// A `boolean` member.
pub fn to_bool(codec: Codec, v: In) -> Result<bool, ApiError> {
    read(Kind::Boolean, codec, v, |v| match v {
        In::Bool(b) => Some(b),
        _ => None,
    })
}

/// A `blob` member: CBOR bytes as they are, JSON base64 decoded.
pub fn to_blob(codec: Codec, v: In) -> Result<Bytes, ApiError> {
    if let Some(e) = type_error(Kind::Blob, codec, &v) {
        return Err(e);
    }
    match untag_owned(v) {
        In::Bytes(b) => Ok(Bytes::from(b)),
        In::Str(s) => decode_base64(&s).map(Bytes::from).map_err(ser),
        _ => Err(ser("null can not be converted to a Blob")),
    }
}

/// A `timestamp` member: JSON epoch seconds (any number form), CBOR tag 1 around epoch
/// milliseconds (an untagged CBOR number is taken as milliseconds too).
pub fn to_timestamp(codec: Codec, v: In) -> Result<Timestamp, ApiError> {
    if let Some(e) = type_error(Kind::Timestamp, codec, &v) {
        return Err(e);
    }
    let per_unit: i128 = match codec {
        Codec::Cbor => 1,
        Codec::Json => 1000,
    };
    match untag_owned(v) {
        In::Int(i) => {
            let ms = i.saturating_mul(per_unit);
            Ok(Timestamp(ms.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64))
        }
        In::Float(f) => Ok(Timestamp((f * per_unit as f64).round() as i64)),
        _ => Err(ser("null can not be converted to milliseconds since epoch")),
    }
}

/// A `list` member.
pub fn to_list(codec: Codec, v: In) -> Result<Vec<In>, ApiError> {
    read(Kind::List, codec, v, |v| match v {
        In::List(items) => Some(items),
        _ => None,
    })
}

/// A `map` member.
pub fn to_map(codec: Codec, v: In) -> Result<Vec<(String, In)>, ApiError> {
    read(Kind::Map, codec, v, |v| match v {
        In::Map(m) => Some(m),
        _ => None,
    })
}

/// A nested `structure` member.
pub fn to_structure(codec: Codec, v: In) -> Result<Vec<(String, In)>, ApiError> {
    read(Kind::Structure, codec, v, |v| match v {
        In::Map(m) => Some(m),
        _ => None,
    })
}

/// The members of a request body, which must be a structure.
pub fn body_members(v: &In) -> Result<&[(String, In)], ApiError> {
    match untag(v) {
        In::Map(m) => Ok(m),
        In::List(_) => Err(ser(LIST_NOT_EXPECTED)),
        _ => Err(ser("Expected a structure")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::decode_json;

    fn json(s: &str) -> In {
        decode_json(s.as_bytes()).unwrap()
    }

    #[test]
    fn type_errors_use_kinesis_wording() {
        let e = to_string(Codec::Json, json("5")).unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert_eq!(
            e.message.as_deref(),
            Some("class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String")
        );
        let e = to_int(Codec::Json, json(r#""5""#)).unwrap_err();
        assert_eq!(e.message.as_deref(), Some("class java.lang.String can not be converted to an Integer"));
        let e = to_list(Codec::Json, json("{}")).unwrap_err();
        assert_eq!(e.message.as_deref(), Some("Start of structure or map found where not expected."));
        let e = to_timestamp(Codec::Json, json(r#""2020-01-01""#)).unwrap_err();
        assert_eq!(
            e.message.as_deref(),
            Some("class java.lang.String can not be converted to milliseconds since epoch")
        );
        let e = to_bool(Codec::Json, json(r#""yes""#)).unwrap_err();
        assert_eq!(e.message.as_deref(), Some("'YES' can not be converted to an Boolean"));
        let e = to_blob(Codec::Json, json("true")).unwrap_err();
        assert_eq!(e.message.as_deref(), Some("class java.lang.Boolean can not be converted to a Blob"));
        let e = to_blob(Codec::Json, json(r#""abc""#)).unwrap_err();
        assert!(e.message.unwrap().ends_with("multiple of 4 bytes but found: 3"));
        assert_eq!(to_structure(Codec::Json, json("1")).unwrap_err().message.as_deref(), Some("Expected null"));
        assert_eq!(to_map(Codec::Json, json("1")).unwrap_err().message.as_deref(), Some("Expected map or null"));
    }

    #[test]
    fn integers_truncate_and_clamp_to_java_int() {
        assert_eq!(to_int(Codec::Json, json("2.9")).unwrap(), 2);
        assert_eq!(to_int(Codec::Json, json("-2.1")).unwrap(), -3);
        assert_eq!(to_int(Codec::Json, json("1e12")).unwrap(), 2_147_483_647);
        assert_eq!(to_int(Codec::Json, json("100000000000000000000000")).unwrap(), 2_147_483_647);
        assert_eq!(to_int(Codec::Json, json("-100000000000")).unwrap(), -2_147_483_648);
    }

    #[test]
    fn json_timestamps_accept_both_number_forms() {
        assert_eq!(to_timestamp(Codec::Json, json("1.547993531819E9")).unwrap(), Timestamp(1_547_993_531_819));
        assert_eq!(to_timestamp(Codec::Json, json("1545084650.987")).unwrap(), Timestamp(1_545_084_650_987));
        assert_eq!(to_timestamp(Codec::Json, json("1545084650")).unwrap(), Timestamp(1_545_084_650_000));
        let tagged = In::Tag(1, Box::new(In::Int(1_545_084_650_987)));
        assert_eq!(to_timestamp(Codec::Cbor, tagged).unwrap(), Timestamp(1_545_084_650_987));
    }
}
