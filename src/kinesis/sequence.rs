//! Kinesis sequence numbers: 188-bit values printed as decimal (56 digits for modern
//! streams), in the "version 2" layout real AWS values decode to (kinesis-behaviour §2.2).
//!
//! | bits (LSB = 0) | width | field |
//! |---|---|---|
//! | 187–184 | 4 | constant `0x2` |
//! | 183–148 | 36 | shard creation time, epoch seconds |
//! | 147–144 | 4 | low nibble of the shard index |
//! | 143–80 | 64 | counter (< 2^63); in this engine the record's offset in its shard |
//! | 79–72 | 8 | `byte1`, always 0 when issued here |
//! | 71–36 | 36 | record arrival time, epoch seconds |
//! | 35–4 | 32 | shard index (0..=2^31−1) |
//! | 3–0 | 4 | version `0x2` |
//!
//! Ordering and equality are numeric on the 188-bit value, never textual.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::decimal::{canonical_decimal, Uint};
use super::messages;
use super::names::{shard_id_name, Constraint, ValidationErrors};
use crate::Result;

/// Maximum number of digits the model pattern `^(0|([1-9]\d{0,128}))$` allows.
pub const SEQUENCE_NUMBER_MAX_DIGITS: usize = 129;
/// The model pattern of a `SequenceNumber` member, as the current model (botocore 1.44.18)
/// writes it and validation messages quote it.
pub const SEQUENCE_NUMBER_PATTERN: &str = "^(0|([1-9]\\d{0,128}))$";

const LEAD: u64 = 0x2;
const VERSION: u64 = 0x2;
const WIDTH_SECS: u32 = 36;
// Bit positions (least significant bit of each field).
const POS_LEAD: u32 = 184;
const POS_CREATE: u32 = 148;
const POS_NIBBLE: u32 = 144;
const POS_COUNTER: u32 = 80;
const POS_BYTE1: u32 = 72;
const POS_ARRIVAL: u32 = 36;
const POS_SHARD: u32 = 4;
const POS_VERSION: u32 = 0;

/// Why a string is not a usable (version-2) sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SequenceParseError {
    /// Does not match `0|([1-9]\d{0,128})`.
    #[error("not a decimal sequence number matching 0|([1-9]\\d{{0,128}})")]
    Syntax,
    /// The value does not fit in 188 bits.
    #[error("sequence number is larger than 188 bits")]
    TooLarge,
    /// The leading nibble or the version nibble is not 2 (legacy layouts such as `0`).
    #[error("sequence number does not use the version-2 layout")]
    NotVersion2,
    /// The 64-bit counter has its top bit set (≥ 2^63).
    #[error("sequence number counter is 2^63 or more")]
    CounterTooLarge,
    /// The shard creation time is 16025175000 seconds or later.
    #[error("sequence number shard creation time is 16025175000 seconds or later")]
    CreateTimeTooLarge,
    /// The 32-bit shard index is negative as a signed int32.
    #[error("sequence number shard index is above 2147483647")]
    ShardIndexOutOfRange,
    /// The shard-index nibble (bits 147–144) disagrees with the shard index field.
    #[error("sequence number shard-index nibble disagrees with its shard index")]
    ShardNibbleMismatch,
}

/// A decoded version-2 sequence number. `Copy`; compares numerically.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SequenceNumber(Uint<3>);

impl SequenceNumber {
    /// Largest counter value; the counter of every `EndingSequenceNumber`.
    pub const MAX_COUNTER: u64 = 0x7fff_ffff_ffff_ffff;
    /// Largest accepted shard creation time in epoch seconds (AWS rejects ≥ 16025175000).
    pub const MAX_CREATE_SECS: u64 = 16_025_174_999;
    /// Largest arrival time in epoch seconds (36 bits).
    pub const MAX_ARRIVAL_SECS: u64 = (1 << WIDTH_SECS) - 1;
    /// Largest shard index (shard indexes are non-negative int32).
    pub const MAX_SHARD_INDEX: u32 = i32::MAX as u32;

    /// Builds a sequence number. Out-of-range fields saturate at the `MAX_*` constants, so
    /// every constructed value parses back.
    pub fn new(shard_create_secs: u64, shard_index: u32, counter: u64, arrival_secs: u64) -> Self {
        let shard_index = shard_index.min(Self::MAX_SHARD_INDEX);
        let mut v = Uint::<3>::default();
        v.set_bits(POS_LEAD, 4, LEAD);
        v.set_bits(POS_CREATE, WIDTH_SECS, shard_create_secs.min(Self::MAX_CREATE_SECS));
        v.set_bits(POS_NIBBLE, 4, u64::from(shard_index & 0xf));
        v.set_bits(POS_COUNTER, 64, counter.min(Self::MAX_COUNTER));
        v.set_bits(POS_ARRIVAL, WIDTH_SECS, arrival_secs.min(Self::MAX_ARRIVAL_SECS));
        v.set_bits(POS_SHARD, 32, u64::from(shard_index));
        v.set_bits(POS_VERSION, 4, VERSION);
        SequenceNumber(v)
    }

    /// A shard's `StartingSequenceNumber`: counter 0, arrival time = creation time.
    pub fn starting(shard_create_secs: u64, shard_index: u32) -> Self {
        Self::new(shard_create_secs, shard_index, 0, shard_create_secs)
    }

    /// A closed shard's `EndingSequenceNumber`: counter 2^63−1, arrival time = close time.
    pub fn ending(shard_create_secs: u64, shard_index: u32, close_secs: u64) -> Self {
        Self::new(shard_create_secs, shard_index, Self::MAX_COUNTER, close_secs)
    }

    /// Parses the decimal form; the string must match `0|([1-9]\d{0,128})` and decode as a
    /// valid version-2 number. See [`SequenceValue`] for numbers that only pass the syntax.
    pub fn parse(s: &str) -> Result<Self, SequenceParseError> {
        let digits = canonical_decimal(s, SEQUENCE_NUMBER_MAX_DIGITS).ok_or(SequenceParseError::Syntax)?;
        let value = Uint::<3>::from_decimal(digits).ok_or(SequenceParseError::TooLarge)?;
        Self::decode(value)
    }

    fn decode(v: Uint<3>) -> Result<Self, SequenceParseError> {
        if v.bits(188, 4) != 0 {
            return Err(SequenceParseError::TooLarge);
        }
        if v.bits(POS_LEAD, 4) != LEAD || v.bits(POS_VERSION, 4) != VERSION {
            return Err(SequenceParseError::NotVersion2);
        }
        if v.bits(POS_COUNTER, 64) > Self::MAX_COUNTER {
            return Err(SequenceParseError::CounterTooLarge);
        }
        if v.bits(POS_CREATE, WIDTH_SECS) > Self::MAX_CREATE_SECS {
            return Err(SequenceParseError::CreateTimeTooLarge);
        }
        let shard = v.bits(POS_SHARD, 32);
        if shard > u64::from(Self::MAX_SHARD_INDEX) {
            return Err(SequenceParseError::ShardIndexOutOfRange);
        }
        if v.bits(POS_NIBBLE, 4) != shard & 0xf {
            return Err(SequenceParseError::ShardNibbleMismatch);
        }
        Ok(SequenceNumber(v))
    }

    /// Shard creation time, epoch seconds.
    pub fn shard_create_secs(&self) -> u64 {
        self.0.bits(POS_CREATE, WIDTH_SECS)
    }

    /// Index of the shard that issued it (`shardId-%012d`).
    pub fn shard_index(&self) -> u32 {
        self.0.bits(POS_SHARD, 32) as u32
    }

    /// The counter; in this engine the record's offset within its shard.
    pub fn counter(&self) -> u64 {
        self.0.bits(POS_COUNTER, 64)
    }

    /// The unknown byte at bits 79–72 (0 for numbers issued here, kept when parsed).
    pub fn byte1(&self) -> u8 {
        self.0.bits(POS_BYTE1, 8) as u8
    }

    /// Record arrival time (or a closed shard's close time), epoch seconds.
    pub fn arrival_secs(&self) -> u64 {
        self.0.bits(POS_ARRIVAL, WIDTH_SECS)
    }

    /// Layout version; always 2.
    pub fn version(&self) -> u8 {
        self.0.bits(POS_VERSION, 4) as u8
    }

    /// True for a shard's `EndingSequenceNumber` (counter 2^63−1).
    pub fn is_ending(&self) -> bool {
        self.counter() == Self::MAX_COUNTER
    }

    /// The numeric value, for comparing with numbers that do not decode.
    pub fn value(&self) -> SequenceValue {
        SequenceValue(self.0.resize().unwrap_or_default())
    }
}

impl fmt::Display for SequenceNumber {
    /// The decimal form, e.g. `49600871683001637932762086172474144873796357303140614178`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequenceNumber")
            .field("decimal", &format_args!("{}", self.0))
            .field("shard_create_secs", &self.shard_create_secs())
            .field("shard_index", &self.shard_index())
            .field("counter", &self.counter())
            .field("byte1", &self.byte1())
            .field("arrival_secs", &self.arrival_secs())
            .finish()
    }
}

impl FromStr for SequenceNumber {
    type Err = SequenceParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The numeric value of any string matching `0|([1-9]\d{0,128})`, decodable or not (e.g.
/// `0`, legacy 38-digit numbers, 129-digit numbers). Compares numerically with other values
/// and, via [`SequenceNumber::value`], with decoded sequence numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SequenceValue(Uint<7>);

impl SequenceValue {
    /// Parses a string that matches the model pattern (only syntax is checked).
    pub fn parse(s: &str) -> Result<Self, SequenceParseError> {
        let digits = canonical_decimal(s, SEQUENCE_NUMBER_MAX_DIGITS).ok_or(SequenceParseError::Syntax)?;
        // 10^129 < 2^448, so 129 digits always fit; map the impossible overflow anyway.
        Uint::<7>::from_decimal(digits).map(SequenceValue).ok_or(SequenceParseError::TooLarge)
    }

    /// Decodes the value as a version-2 sequence number.
    pub fn decode(&self) -> Result<SequenceNumber, SequenceParseError> {
        let narrow = self.0.resize::<3>().ok_or(SequenceParseError::TooLarge)?;
        SequenceNumber::decode(narrow)
    }
}

impl From<SequenceNumber> for SequenceValue {
    fn from(s: SequenceNumber) -> Self {
        s.value()
    }
}

impl PartialEq<SequenceValue> for SequenceNumber {
    fn eq(&self, other: &SequenceValue) -> bool {
        self.value() == *other
    }
}

impl PartialOrd<SequenceValue> for SequenceNumber {
    fn partial_cmp(&self, other: &SequenceValue) -> Option<Ordering> {
        Some(self.value().cmp(other))
    }
}

impl fmt::Display for SequenceValue {
    /// The decimal form (canonical: no leading zeros).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for SequenceValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SequenceValue({})", self.0)
    }
}

impl FromStr for SequenceValue {
    type Err = SequenceParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A sequence number as AWS reads one given in a request, in any of the layouts it still
/// parses (kinesalite's reading of them, whose tests were recorded against AWS). The value is
/// first raised by 2^124 if below it; then, in hex digits from the most significant:
///
/// | version | range | fields (hex digit positions) |
/// |---|---|---|
/// | 0 | below 2^129 (32–33 digits) | `[1,10)` shard creation secs (must be < 16025175000), `[10,12)` byte1, `[12,28)` random, `[28,32)` shard index |
/// | 1 | 47 digits, first `2`, last `1` | `[1,10)` creation secs, `[11,13)` byte1, `[13,22)` arrival secs, `[22,36)` random, `[36,38)` counter, `[38,46)` shard index |
/// | 2 | 47 digits, first `2`, last `2` | the version-2 layout of [`SequenceNumber`]; the counter's and the shard index's top nibbles must be below 8 |
///
/// Anything else (another last digit, another length or first digit) is not a sequence
/// number AWS accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsSequence {
    /// Layout version: 0, 1 or 2.
    pub version: u8,
    /// Shard creation time, epoch seconds.
    pub shard_create_secs: u64,
    /// The shard index it encodes.
    pub shard_index: u32,
    /// Record arrival time, epoch seconds (versions 1 and 2).
    pub arrival_secs: Option<u64>,
    /// The counter (version 2).
    pub counter: Option<u64>,
    /// How AWS quotes a version-0 number in messages: re-encoded in its canonical form
    /// (leading digit `1`), which differs from the text sent for small values like `0`.
    pub requoted: Option<SequenceValue>,
}

impl AwsSequence {
    /// Reads `value` as AWS does; `None` if AWS would call it invalid.
    pub fn decode(value: &SequenceValue) -> Option<AwsSequence> {
        let mut v = value.0;
        // Below 2^124: AWS adds 2^124 (bit 124 is clear, so this is setting it).
        if bits_from_zero(&v, 124) {
            v.set_bits(124, 1, 1);
        }
        let hex = hex_digits(&v);
        let field = |from: usize, to: usize| hex.get(from..to).and_then(|h| u64::from_str_radix(h, 16).ok());
        if bits_from_zero(&v, 129) {
            let create = field(1, 10)?;
            if create >= 16_025_175_000 {
                return None;
            }
            let shard_index = u32::try_from(field(28, 32)?).ok()?;
            let canonical = format!("1{:09x}{}{}{:04x}", create, hex.get(10..12)?, hex.get(12..28)?, shard_index);
            let requoted = u128::from_str_radix(&canonical, 16).ok().map(|n| {
                let mut u = Uint::<7>::default();
                u.set_bits(0, 64, n as u64);
                u.set_bits(64, 64, (n >> 64) as u64);
                SequenceValue(u)
            });
            return Some(AwsSequence {
                version: 0,
                shard_create_secs: create,
                shard_index,
                arrival_secs: None,
                counter: None,
                requoted,
            });
        }
        if hex.len() != 47 || !hex.starts_with('2') || hex.bytes().skip(1).all(|b| b == b'0') {
            return None;
        }
        match hex.get(46..47)? {
            "1" => Some(AwsSequence {
                version: 1,
                shard_create_secs: field(1, 10)?,
                shard_index: u32::try_from(field(38, 46)?).ok()?,
                arrival_secs: field(13, 22),
                counter: None,
                requoted: None,
            }),
            "2" => {
                let counter = field(11, 27)?;
                let shard_index = field(38, 46)?;
                if counter > SequenceNumber::MAX_COUNTER || shard_index > u64::from(SequenceNumber::MAX_SHARD_INDEX) {
                    return None;
                }
                Some(AwsSequence {
                    version: 2,
                    shard_create_secs: field(1, 10)?,
                    shard_index: u32::try_from(shard_index).ok()?,
                    arrival_secs: field(29, 38),
                    counter: Some(counter),
                    requoted: None,
                })
            }
            _ => None,
        }
    }
}

/// Whether every bit of `v` from bit `from` up is zero (`v < 2^from`).
fn bits_from_zero(v: &Uint<7>, from: u32) -> bool {
    (from..448).step_by(64).all(|lo| v.bits(lo, 64) == 0)
}

/// The hex digits of `v`, most significant first, without leading zeros.
fn hex_digits(v: &Uint<7>) -> String {
    let mut out = String::with_capacity(112);
    for nibble in (0..112u32).rev() {
        let d = v.bits(nibble * 4, 4);
        if d != 0 || !out.is_empty() {
            out.push(char::from_digit(d as u32, 16).unwrap_or('0'));
        }
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// Checks a GetShardIterator `StartingSequenceNumber` against the shard it is used on and
/// maps every failure to the AWS error, in AWS's order: bad syntax → `Validation` (member
/// `startingSequenceNumber`); not a sequence number AWS reads ([`AwsSequence`]) →
/// `InvalidArgument … is invalid.`; another shard index → `Invalid StartingSequenceNumber. It
/// encodes shardId-…, while it was used in a call to a shard with shardId-…`; an older layout
/// (version 0 or 1: shards here are version 2) or another shard creation time → `… is invalid
/// because it did not come from this stream.` (quoting a version-0 number re-encoded, as AWS
/// does).
pub fn check_starting_sequence_number(
    s: &str,
    shard_index: u32,
    shard_create_secs: u64,
    stream: &str,
    account: &str,
) -> Result<SequenceNumber> {
    let shard_id = shard_id_name(shard_index);
    let value = match SequenceValue::parse(s) {
        Ok(v) => v,
        Err(_) => {
            return Err(ValidationErrors::single(
                "startingSequenceNumber",
                s,
                Constraint::Pattern(SEQUENCE_NUMBER_PATTERN),
            ))
        }
    };
    let invalid = || messages::starting_sequence_number_invalid(s, &shard_id, stream, account);
    let aws = AwsSequence::decode(&value).ok_or_else(invalid)?;
    if aws.shard_index != shard_index {
        return Err(messages::sequence_number_other_shard(aws.shard_index, &shard_id));
    }
    if aws.version != 2 || aws.shard_create_secs != shard_create_secs {
        let quoted = aws.requoted.map_or_else(|| s.to_string(), |q| q.to_string());
        return Err(messages::sequence_number_other_stream(&quoted, &shard_id, stream, account));
    }
    // This shard's creation time and index: a version-2 number of this shard.
    match SequenceNumber::parse(s) {
        Ok(seq) => Ok(seq),
        // Fields this engine never issues (a shard-index nibble that disagrees): AWS reads
        // the counter and arrival time alone.
        Err(_) => Ok(SequenceNumber::new(
            shard_create_secs,
            shard_index,
            aws.counter.unwrap_or_default(),
            aws.arrival_secs.unwrap_or_default(),
        )),
    }
}

/// Checks a PutRecord `SequenceNumberForOrdering` as AWS does: bad syntax → `Validation`
/// (member `sequenceNumberForOrdering`); not a sequence number AWS reads ([`AwsSequence`]),
/// or one whose arrival time is after `now_ms` → `InvalidArgument
/// ExclusiveMinimumSequenceNumber <n> used in PutRecord on stream <s> under account <a> is
/// invalid.` Numbers of any shard, stream or layout version are otherwise accepted: the
/// record is ordered after every record already in its shard anyway.
pub fn check_sequence_number_for_ordering(s: &str, stream: &str, account: &str, now_ms: i64) -> Result<()> {
    let value = SequenceValue::parse(s).map_err(|_| {
        ValidationErrors::single("sequenceNumberForOrdering", s, Constraint::Pattern(SEQUENCE_NUMBER_PATTERN))
    })?;
    let invalid = || messages::exclusive_minimum_sequence_number_invalid(s, stream, account);
    let aws = AwsSequence::decode(&value).ok_or_else(invalid)?;
    let future = aws.arrival_secs.is_some_and(|secs| i128::from(secs) * 1000 > i128::from(now_ms));
    if future {
        return Err(invalid());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> SequenceNumber {
        SequenceNumber::parse(s).unwrap()
    }

    #[test]
    fn worked_example_cli_shard_2_start() {
        let s = p("49600871683001637932762086172474144873796357303140614178");
        assert_eq!(s.shard_create_secs(), 1572297165);
        assert_eq!(s.shard_index(), 2);
        assert_eq!(s.counter(), 0);
        assert_eq!(s.byte1(), 0);
        assert_eq!(s.arrival_secs(), 1572297165);
        assert_eq!(s.version(), 2);
        assert_eq!(s, SequenceNumber::starting(1572297165, 2));
        assert_eq!(s.to_string(), "49600871683001637932762086172474144873796357303140614178");
    }

    #[test]
    fn worked_example_kplt_closed_shard_end() {
        let s = p("49549167410956685081233009822320176730553508082787287058");
        assert_eq!(s.counter(), 0x7fff_ffff_ffff_ffff);
        assert!(s.is_ending());
        assert_eq!(s.shard_create_secs(), 1427390931);
        assert_eq!(s.arrival_secs(), 1427748984);
        assert_eq!(s.shard_index(), 1);
        assert_eq!(s, SequenceNumber::ending(1427390931, 1, 1427748984));
    }

    #[test]
    fn verified_real_values() {
        // brandur split example: closed shard 0.
        let s = p("49548859072981407141756144980517230543978492779512725506");
        assert_eq!(s, SequenceNumber::ending(1426526784, 0, 1426527176));
        // LDG Lambda event: shardId-000000000006.
        let s = p("49590338271490256608559692538361571095921575989136588898");
        assert_eq!(
            (s.shard_create_secs(), s.shard_index(), s.counter(), s.byte1(), s.arrival_secs()),
            (1542776258, 6, 1734642199, 0, 1545084650)
        );
        assert_eq!(s, SequenceNumber::new(1542776258, 6, 1734642199, 1545084650));
    }

    #[test]
    fn numeric_ordering_across_digit_counts() {
        let small = SequenceValue::parse("9").unwrap();
        let legacy = SequenceValue::parse("21269319989652663814458848515492872193").unwrap();
        let modern = p("49600871683001637932762086172474144873796357303140614178");
        let huge = SequenceValue::parse(&"9".repeat(129)).unwrap();
        assert!(small < legacy);
        assert!(legacy < modern.value());
        assert!(modern < huge);
        assert!(modern > legacy);
        // String order would say "9" > "4960…"; numeric order must not.
        assert!(small < modern.value());
        // Within a shard, a bigger counter sorts later regardless of arrival time.
        let a = SequenceNumber::new(100, 3, 5, 999);
        let b = SequenceNumber::new(100, 3, 6, 100);
        assert!(a < b);
        assert!(SequenceNumber::starting(100, 3) < a);
        assert!(b < SequenceNumber::ending(100, 3, 100));
        assert_eq!(b.value().decode(), Ok(b));
    }

    #[test]
    fn syntax_rejects() {
        let long = format!("1{}", "0".repeat(129));
        for bad in ["", "-1", "+1", " 1", "1 ", "01", "00", "1a", "0x10", "1e5", "١٢", "4960\n", long.as_str()] {
            assert_eq!(SequenceNumber::parse(bad), Err(SequenceParseError::Syntax), "{bad:?}");
            assert_eq!(SequenceValue::parse(bad), Err(SequenceParseError::Syntax), "{bad:?}");
        }
        // 129 digits is syntactically fine but too large.
        let max_len = "9".repeat(129);
        assert_eq!(SequenceNumber::parse(&max_len), Err(SequenceParseError::TooLarge));
        assert!(SequenceValue::parse(&max_len).is_ok());
    }

    #[test]
    fn decode_rejects() {
        use SequenceParseError::*;
        // Legacy/tiny numbers parse as values but do not decode.
        assert_eq!(SequenceNumber::parse("0"), Err(NotVersion2));
        assert_eq!(SequenceValue::parse("0").unwrap().decode(), Err(NotVersion2));
        assert_eq!(SequenceNumber::parse("21269319989652663814458848515492872193"), Err(NotVersion2));
        // 2^188 and 2^192 are too large.
        assert_eq!(SequenceNumber::parse("392318858461667547739736838950479151006397215279002157056"), Err(TooLarge));
        assert_eq!(SequenceNumber::parse("6277101735386680763835789423207666416102355444464034512896"), Err(TooLarge));
        let base = SequenceNumber::new(1572297165, 2, 7, 1572297166).0;
        let with = |lo: u32, w: u32, v: u64| {
            let mut u = base;
            u.set_bits(lo, w, v);
            SequenceNumber::parse(&u.to_string())
        };
        assert!(with(0, 0, 0).is_ok());
        assert_eq!(with(POS_LEAD, 4, 3), Err(NotVersion2));
        assert_eq!(with(POS_VERSION, 4, 1), Err(NotVersion2));
        assert_eq!(with(POS_COUNTER, 64, 1 << 63), Err(CounterTooLarge));
        assert_eq!(with(POS_CREATE, 36, 16_025_175_000), Err(CreateTimeTooLarge));
        assert!(with(POS_CREATE, 36, 16_025_174_999).is_ok());
        assert_eq!(with(POS_NIBBLE, 4, 3), Err(ShardNibbleMismatch));
        let mut u = base;
        u.set_bits(POS_SHARD, 32, 0x8000_0002);
        assert_eq!(SequenceNumber::parse(&u.to_string()), Err(ShardIndexOutOfRange));
        // byte1 is kept.
        let b = with(POS_BYTE1, 8, 0xab).unwrap();
        assert_eq!(b.byte1(), 0xab);
        assert_eq!(SequenceNumber::parse(&b.to_string()), Ok(b));
    }

    #[test]
    fn constructor_saturates() {
        let s = SequenceNumber::new(u64::MAX, u32::MAX, u64::MAX, u64::MAX);
        assert_eq!(s.shard_create_secs(), SequenceNumber::MAX_CREATE_SECS);
        assert_eq!(s.shard_index(), SequenceNumber::MAX_SHARD_INDEX);
        assert_eq!(s.counter(), SequenceNumber::MAX_COUNTER);
        assert_eq!(s.arrival_secs(), SequenceNumber::MAX_ARRIVAL_SECS);
        assert_eq!(SequenceNumber::parse(&s.to_string()), Ok(s));
    }

    #[test]
    fn modern_values_have_56_digits() {
        assert_eq!(SequenceNumber::starting(1_700_000_000, 0).to_string().len(), 56);
        assert_eq!(SequenceNumber::ending(1_700_000_000, 9999, 1_800_000_000).to_string().len(), 56);
    }

    #[test]
    fn starting_sequence_number_checks() {
        use crate::Error;
        let (st, acct) = ("s", "000000000000");
        let seq = SequenceNumber::new(1000, 5, 3, 1001);
        let text = seq.to_string();
        assert_eq!(check_starting_sequence_number(&text, 5, 1000, st, acct).unwrap(), seq);
        let msg = |r: Result<SequenceNumber>| match r {
            Err(e) => (e.kinesis_error_code(), e.to_string()),
            Ok(v) => panic!("{v:?}"),
        };
        assert_eq!(
            msg(check_starting_sequence_number(&text, 0, 1000, st, acct)),
            (
                "InvalidArgumentException",
                "Invalid StartingSequenceNumber. It encodes shardId-000000000005, while it was used in a call to \
                 a shard with shardId-000000000000"
                    .into()
            )
        );
        assert_eq!(
            msg(check_starting_sequence_number(&text, 5, 999, st, acct)).1,
            format!(
                "StartingSequenceNumber {text} used in GetShardIterator on shard shardId-000000000005 in stream s \
                 under account 000000000000 is invalid because it did not come from this stream."
            )
        );
        assert!(matches!(check_starting_sequence_number("01", 5, 1000, st, acct), Err(Error::Validation { .. })));
        check_sequence_number_for_ordering(&text, st, acct, 1_002_000).unwrap();
        assert_eq!(msg_unit(check_sequence_number_for_ordering("x", st, acct, 0)).0, "ValidationException");
    }

    fn msg_unit(r: Result<()>) -> (&'static str, String) {
        match r {
            Err(e) => (e.kinesis_error_code(), e.to_string()),
            Ok(()) => panic!("accepted"),
        }
    }

    fn hex(h: &str) -> String {
        let mut v = Uint::<7>::default();
        for c in h.chars() {
            v.mul_add_small(16, u64::from(c.to_digit(16).unwrap()));
        }
        v.to_string()
    }

    /// kinesalite test/getShardIterator.js, recorded against AWS: legacy (version 0) numbers
    /// are decoded, their shard index checked, and they are quoted re-encoded.
    #[test]
    fn legacy_starting_sequence_numbers_read_as_aws_does() {
        let (st, acct) = ("s", "000000000000");
        let msg = |s: &str, shard: u32| match check_starting_sequence_number(s, shard, 1000, st, acct) {
            Err(e) => e.to_string(),
            Ok(v) => panic!("{s}: {v:?}"),
        };
        assert_eq!(
            msg("5", 0),
            "Invalid StartingSequenceNumber. It encodes shardId-000000000005, while it was used in a call to a \
             shard with shardId-000000000000"
        );
        let other_stream = |quoted: &str, shard: &str| {
            format!(
                "StartingSequenceNumber {quoted} used in GetShardIterator on shard {shard} in stream s under \
                 account 000000000000 is invalid because it did not come from this stream."
            )
        };
        assert_eq!(msg("0", 0), other_stream("21267647932558653966460912964485513216", "shardId-000000000000"));
        assert_eq!(
            msg("425352958651173072921826052383309826", 2),
            other_stream("21693000891209827039382739016868823042", "shardId-000000000002")
        );
        assert_eq!(
            msg(&hex("f3bb2cc3d7ff7fffffffffffffff0000"), 0),
            other_stream("26227199374821822965252748908982894592", "shardId-000000000000")
        );
        let invalid = |s: &str| {
            format!(
                "StartingSequenceNumber {s} used in GetShardIterator on shard shardId-000000000000 in stream s \
                 under account 000000000000 is invalid."
            )
        };
        // Version 0 with a creation time of 16025175000 or later.
        let late = hex("13bb2cc3d80000000000000000000000");
        assert_eq!(late, "26227199374822427428162556223570313216");
        assert_eq!(msg(&late, 0), invalid(&late));
        // Version 2 with the counter's or the shard index's top bit set.
        for h in ["20000000000800000000000000000000000000000000002", "20000000000000000000000000000000000000800000002"]
        {
            let n = hex(h);
            assert_eq!(msg(&n, 0), invalid(&n), "{h}");
        }
        // Version 1 of this shard: an older layout, not from this stream.
        // '2', creation 1000, nibble, byte1, arrival, random, counter, shard 0, version 1.
        let v1 = hex(&format!("2{:09x}0{}{}{}{}{:08x}1", 1000, "00", "0".repeat(9), "0".repeat(14), "00", 0));
        assert!(msg(&v1, 0).ends_with("is invalid because it did not come from this stream."), "{}", msg(&v1, 0));
    }

    /// kinesalite test/putRecord.js, recorded against AWS.
    #[test]
    fn sequence_numbers_for_ordering_read_as_aws_does() {
        let (st, acct) = ("s", "000000000000");
        let now_ms = 1_700_000_000_123;
        let now_secs = now_ms / 1000;
        let accepted = [
            hex("2ffffffffff7fffffffffffffff000000000007fffffff2"),
            hex("20000000000000000000000000000000000000000000002"),
            hex("20000000000000000000000000000000000000000000001"),
            hex(&format!("2ffffffffff7fffffff7fffffff00{:09x}7fffffff2", now_secs - 2)),
            hex(&format!("2ffffffffff7fffffff7fffffff00{now_secs:09x}7fffffff2")),
            "0".into(),
        ];
        for s in &accepted {
            check_sequence_number_for_ordering(s, st, acct, now_ms).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        let rejected = [
            hex("20000000000000000000000000000000000000000000000"),
            hex("20000000000000000000000000000000000000000000004"),
            hex("20000000000000000000000000000000000000000000003"),
            hex("30000000000000000000000000000000000000000000001"),
            hex("1ffffffffff7fffffffffffffff000000000007fffffff2"),
            hex("20000000000800000000000000000000000000000000002"),
            hex("20000000000000000000000000000000000000800000002"),
            hex(&format!("20000000000000000000000000000{:09x}000000002", now_secs + 2)),
            hex("13bb2cc3d80000000000000000000000"),
        ];
        for s in &rejected {
            assert_eq!(
                msg_unit(check_sequence_number_for_ordering(s, st, acct, now_ms)),
                (
                    "InvalidArgumentException",
                    format!("ExclusiveMinimumSequenceNumber {s} used in PutRecord on stream s under account 000000000000 is invalid.")
                ),
                "{s}"
            );
        }
    }

    proptest! {
        #[test]
        fn round_trip(
            create in 0u64..=SequenceNumber::MAX_CREATE_SECS,
            shard in 0u32..=SequenceNumber::MAX_SHARD_INDEX,
            counter in 0u64..=SequenceNumber::MAX_COUNTER,
            arrival in 0u64..=SequenceNumber::MAX_ARRIVAL_SECS,
        ) {
            let s = SequenceNumber::new(create, shard, counter, arrival);
            prop_assert_eq!(
                (s.shard_create_secs(), s.shard_index(), s.counter(), s.arrival_secs(), s.byte1()),
                (create, shard, counter, arrival, 0)
            );
            let text = s.to_string();
            prop_assert_eq!(SequenceNumber::parse(&text), Ok(s));
            prop_assert_eq!(SequenceValue::parse(&text).unwrap().decode(), Ok(s));
            prop_assert_eq!(s.value().to_string(), text);
        }

        #[test]
        fn ordering_is_numeric(a in 0u64..=SequenceNumber::MAX_COUNTER, b in 0u64..=SequenceNumber::MAX_COUNTER,
                               ta in 0u64..1 << 36, tb in 0u64..1 << 36) {
            let x = SequenceNumber::new(1_600_000_000, 4, a, ta);
            let y = SequenceNumber::new(1_600_000_000, 4, b, tb);
            prop_assert_eq!(x.cmp(&y), (a, ta).cmp(&(b, tb)));
            prop_assert_eq!(x.value().cmp(&y.value()), x.cmp(&y));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,140}") {
            let _ = SequenceNumber::parse(&s);
            let _ = SequenceValue::parse(&s);
        }

        #[test]
        fn parse_digits_never_panics(s in "[1-9][0-9]{0,130}") {
            if let Ok(v) = SequenceValue::parse(&s) {
                prop_assert_eq!(v.to_string(), s.clone());
                prop_assert_eq!(v.decode().ok(), SequenceNumber::parse(&s).ok());
            }
        }
    }
}
