//! Shard ids: the canonical `shardId-NNNNNNNNNNNN` form and AWS' lenient parsing. A leaf
//! module (no imports from the rest of `kinesis` but the decimal parser), so both the
//! validators in [`names`](super::names) and the error texts in
//! [`messages`](super::messages) use it without depending on each other.

use super::decimal::digits_to_u128;

/// Largest shard index (`shardId-002147483647`).
pub const MAX_SHARD_INDEX: u32 = i32::MAX as u32;
/// Maximum length of a shard id (the `ShardId` member's constraint, as for names).
pub const SHARD_ID_MAX_LEN: usize = 128;

/// The canonical shard id of a shard index: `shardId-` and 12 zero-padded digits.
pub fn shard_id_name(index: u32) -> String {
    format!("shardId-{index:012}")
}

/// Resolves a shard id leniently, as AWS does: the part after the first `-` must be a
/// decimal integer in `0..=2147483647` (leading zeros allowed); the prefix is ignored but
/// must consist of `[a-zA-Z0-9_.]` and the whole id must be at most 128 characters.
/// `shardId-5`, `shard-0` and `x-0` resolve; `shardId-`, `shardId--1`, `shardId-2147483648`,
/// `shardId-../../x` and `abc` do not.
pub fn parse_shard_id(s: &str) -> Option<u32> {
    if s.len() > SHARD_ID_MAX_LEN {
        return None;
    }
    let (prefix, digits) = s.split_once('-')?;
    if !prefix.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.')) {
        return None;
    }
    digits_to_u128(digits.as_bytes()).filter(|v| *v <= u128::from(MAX_SHARD_INDEX)).and_then(|v| u32::try_from(v).ok())
}

/// Resolves a shard id given in a request the way AWS does: the part after the first `-`
/// (the whole id when it has none) must be ASCII decimal digits — leading zeros allowed —
/// with a value of at most 2147483647; anything before the `-` is ignored. `shardId-5`,
/// `a-00002147483647`, `-7` and `2147483647` resolve; `ABKLFD8`, `2.14E4`,
/// `shardId-002147483648`, `shardId-` and `shardId-5-6` do not. Unlike
/// [`parse_shard_id`], the id's characters are not checked (the model's pattern is).
pub fn resolve_shard_id(s: &str) -> Option<u32> {
    let digits = s.split_once('-').map_or(s, |(_, rest)| rest);
    digits_to_u128(digits.as_bytes()).filter(|v| *v <= u128::from(MAX_SHARD_INDEX)).and_then(|v| u32::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shard_ids_resolve_as_aws_does() {
        // kinesalite test/getShardIterator.js, recorded against AWS.
        for (s, v) in [
            ("2147483647", MAX_SHARD_INDEX),
            ("shardId-5", 5),
            ("a-00002147483647", MAX_SHARD_INDEX),
            ("-00002147483647", MAX_SHARD_INDEX),
            ("shard-0", 0),
            ("shardId-000000000005", 5),
        ] {
            assert_eq!(resolve_shard_id(s), Some(v), "{s}");
        }
        for s in
            ["2147483648", "shardId-002147483648", "ABKLFD8", "2.14E4", "shardId-", "", "shardId-5-6", "shardId-+5"]
        {
            assert_eq!(resolve_shard_id(s), None, "{s}");
        }
    }

    #[test]
    fn shard_ids() {
        assert_eq!(shard_id_name(5), "shardId-000000000005");
        assert_eq!(shard_id_name(MAX_SHARD_INDEX), "shardId-002147483647");
        for (s, v) in [
            ("shardId-5", 5),
            ("shard-0", 0),
            ("x-0", 0),
            ("-7", 7),
            ("shardId-000000000005", 5),
            ("shardId-2147483647", MAX_SHARD_INDEX),
            ("shardId-0000000000000000000000001", 1),
        ] {
            assert_eq!(parse_shard_id(s), Some(v), "{s}");
        }
        for s in [
            "shardId-",
            "shardId--1",
            "shardId-2147483648",
            "shardId-99999999999999999999999999999999999999999",
            "shardId-../../x",
            "abc",
            "5",
            "",
            "shardId-+5",
            "shardId- 5",
            "shardId-5 ",
            "shardId-5-6",
            "a/b-5",
            "shardId-١",
        ] {
            assert_eq!(parse_shard_id(s), None, "{s}");
        }
        let long = format!("{}-1", "a".repeat(127));
        assert_eq!(parse_shard_id(&long), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = parse_shard_id(&s);
            let _ = resolve_shard_id(&s);
        }

        #[test]
        fn shard_id_round_trip(i in 0u32..=MAX_SHARD_INDEX) {
            proptest::prop_assert_eq!(parse_shard_id(&shard_id_name(i)), Some(i));
        }
    }
}
