//! The 128-bit hash-key space: even division at CreateStream, MD5 partition-key hashing and
//! `ExplicitHashKey` parsing (kinesis-behaviour §1.2–§1.3).

use md5::{Digest, Md5};

use super::decimal::{canonical_decimal, digits_to_u128};
use super::messages;
use super::names::{Constraint, ValidationErrors};
use crate::Result;

/// Maximum number of digits of a hash key (`0|([1-9]\d{0,38})`).
pub const HASH_KEY_MAX_DIGITS: usize = 39;
/// The model pattern of a `HashKey` member, as quoted in validation messages.
pub const HASH_KEY_PATTERN: &str = "^(0|([1-9]\\d{0,38}))$";

/// An inclusive range of hash keys, as in Kinesis `HashKeyRange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HashKeyRange {
    /// First hash key of the range (inclusive).
    pub starting_hash_key: u128,
    /// Last hash key of the range (inclusive).
    pub ending_hash_key: u128,
}

impl HashKeyRange {
    /// The whole space `[0, 2^128−1]`.
    pub const FULL: HashKeyRange = HashKeyRange { starting_hash_key: 0, ending_hash_key: u128::MAX };

    /// True when `hash` lies in the range (both ends inclusive).
    pub fn contains(&self, hash: u128) -> bool {
        (self.starting_hash_key..=self.ending_hash_key).contains(&hash)
    }
}

/// Divides the hash space into `n` ranges the way CreateStream does: with
/// `q = floor(2^128 / n)`, range `i` is `[i·q, (i+1)·q − 1]` and the last range ends at
/// `2^128 − 1`. `n = 0` gives no ranges. Allocates `n` ranges: callers bound `n` (the shard
/// count) first.
pub fn even_split(n: u32) -> Vec<HashKeyRange> {
    let n128 = u128::from(n);
    if n <= 1 {
        return if n == 1 { vec![HashKeyRange::FULL] } else { Vec::new() };
    }
    // 2^128 = u128::MAX + 1, so floor(2^128 / n) = floor(MAX / n) + (1 if MAX % n == n-1).
    let q = u128::MAX / n128 + u128::from(u128::MAX % n128 == n128 - 1);
    let mut start = 0u128;
    (0..n)
        .map(|i| {
            let end = if i + 1 == n { u128::MAX } else { start.wrapping_add(q).wrapping_sub(1) };
            let range = HashKeyRange { starting_hash_key: start, ending_hash_key: end };
            start = end.wrapping_add(1);
            range
        })
        .collect()
}

/// The hash of a partition key: MD5 of its UTF-8 bytes read as a big-endian unsigned
/// integer. No allocation.
pub fn partition_key_hash(key: &[u8]) -> u128 {
    let digest: [u8; 16] = Md5::digest(key).into();
    u128::from_be_bytes(digest)
}

/// True when `s` matches the hash-key pattern `0|([1-9]\d{0,38})` (the value may still be
/// ≥ 2^128).
pub fn is_hash_key_syntax(s: &str) -> bool {
    canonical_decimal(s, HASH_KEY_MAX_DIGITS).is_some()
}

/// Parses an `ExplicitHashKey`. A pattern violation is `Error::Validation` (member
/// `explicitHashKey`; PutRecords callers build their own message with
/// [`ValidationErrors`] and the `records.N.member.explicitHashKey` path); a value ≥ 2^128
/// is `Error::InvalidArgument` with the AWS message.
pub fn parse_explicit_hash_key(s: &str) -> Result<u128> {
    let Some(digits) = canonical_decimal(s, HASH_KEY_MAX_DIGITS) else {
        return Err(ValidationErrors::single("explicitHashKey", s, Constraint::Pattern(HASH_KEY_PATTERN)));
    };
    digits_to_u128(digits).ok_or_else(|| messages::invalid_explicit_hash_key(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn r(s: &str, e: &str) -> HashKeyRange {
        HashKeyRange { starting_hash_key: s.parse().unwrap(), ending_hash_key: e.parse().unwrap() }
    }

    #[test]
    fn split_vectors() {
        assert!(even_split(0).is_empty());
        assert_eq!(even_split(1), vec![r("0", "340282366920938463463374607431768211455")]);
        assert_eq!(
            even_split(2),
            vec![
                r("0", "170141183460469231731687303715884105727"),
                r("170141183460469231731687303715884105728", "340282366920938463463374607431768211455"),
            ]
        );
        assert_eq!(
            even_split(3),
            vec![
                r("0", "113427455640312821154458202477256070484"),
                r("113427455640312821154458202477256070485", "226854911280625642308916404954512140969"),
                r("226854911280625642308916404954512140970", "340282366920938463463374607431768211455"),
            ]
        );
        assert_eq!(
            even_split(4),
            vec![
                r("0", "85070591730234615865843651857942052863"),
                r("85070591730234615865843651857942052864", "170141183460469231731687303715884105727"),
                r("170141183460469231731687303715884105728", "255211775190703847597530955573826158591"),
                r("255211775190703847597530955573826158592", "340282366920938463463374607431768211455"),
            ]
        );
        // N=5: q = floor(2^128/5) = 68056473384187692692674921486353642291.
        let q: u128 = 68056473384187692692674921486353642291;
        let five = even_split(5);
        assert_eq!(five.len(), 5);
        for (i, range) in five.iter().enumerate() {
            let i = i as u128;
            assert_eq!(range.starting_hash_key, i * q);
            let end = if i == 4 { u128::MAX } else { (i + 1) * q - 1 };
            assert_eq!(range.ending_hash_key, end);
        }
    }

    fn assert_tiles(ranges: &[HashKeyRange]) {
        assert_eq!(ranges.first().unwrap().starting_hash_key, 0);
        assert_eq!(ranges.last().unwrap().ending_hash_key, u128::MAX);
        for w in ranges.windows(2) {
            assert!(w[0].starting_hash_key <= w[0].ending_hash_key);
            assert_eq!(w[0].ending_hash_key + 1, w[1].starting_hash_key);
        }
    }

    #[test]
    fn split_tiles_for_many_n() {
        let big = even_split(10_000);
        assert_eq!(big.len(), 10_000);
        assert_tiles(&big);
        assert_eq!(big[1].starting_hash_key, 34028236692093846346337460743176821);
        for n in [1, 2, 3, 5, 7, 16, 255, 256, 1000, 4096] {
            assert_tiles(&even_split(n));
        }
    }

    #[test]
    fn md5_vectors() {
        assert_eq!(partition_key_hash(b"a"), 16955237001963240173058271559858726497);
        assert_eq!(partition_key_hash(b"1"), 261578874264819908609102035485573088411);
        assert_eq!(partition_key_hash(b""), 281949768489412648962353822266799178366);
        // §13: 2-shard stream routing.
        let two = even_split(2);
        assert!(two[0].contains(partition_key_hash(b"a")));
        assert!(two[1].contains(partition_key_hash(b"1")));
    }

    #[test]
    fn explicit_hash_key_accepts() {
        assert_eq!(parse_explicit_hash_key("0").unwrap(), 0);
        assert_eq!(parse_explicit_hash_key("340282366920938463463374607431768211455").unwrap(), u128::MAX);
        assert_eq!(
            parse_explicit_hash_key("16955237001963240173058271559858726497").unwrap(),
            partition_key_hash(b"a")
        );
    }

    #[test]
    fn explicit_hash_key_hostile_rows() {
        let forty = "1".repeat(40);
        for bad in ["-1", "", "01", "+1", " 1", "0x10", "1e5", "١٢٣", forty.as_str(), "1 ", "1\0"] {
            match parse_explicit_hash_key(bad) {
                Err(Error::Validation { message }) => {
                    assert_eq!(
                        message,
                        format!(
                            "1 validation error detected: Value '{bad}' at 'explicitHashKey' failed to satisfy \
                             constraint: Member must satisfy regular expression pattern: ^(0|([1-9]\\d{{0,38}}))$"
                        )
                    );
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        for big in ["340282366920938463463374607431768211456", "999999999999999999999999999999999999999"] {
            match parse_explicit_hash_key(big) {
                Err(Error::InvalidArgument { message }) => assert_eq!(
                    message,
                    format!(
                        "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. \
                         Specified value was {big}"
                    )
                ),
                other => panic!("{big}: {other:?}"),
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn explicit_hash_key_round_trip(v: u128) {
            proptest::prop_assert_eq!(parse_explicit_hash_key(&v.to_string()).unwrap(), v);
        }

        #[test]
        fn explicit_hash_key_never_panics(s in "\\PC{0,45}") {
            let _ = parse_explicit_hash_key(&s);
        }

        #[test]
        fn split_tiles(n in 1u32..20_000) {
            let ranges = even_split(n);
            proptest::prop_assert_eq!(ranges.len(), n as usize);
            assert_tiles(&ranges);
        }
    }
}
