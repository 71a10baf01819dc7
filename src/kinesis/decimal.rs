//! Shared helpers for the decimal numbers of the Kinesis API: the canonical-decimal syntax
//! check (`0|([1-9]\d{0,K})`, used by sequence numbers, hash keys and shard ids) and a small
//! fixed-width unsigned integer for values wider than `u128`.

use std::cmp::Ordering;
use std::fmt;

/// Largest power of ten that fits a `u64`, and its exponent: decimal conversion works in
/// chunks of 19 digits.
const CHUNK: u64 = 10_000_000_000_000_000_000;
const CHUNK_DIGITS: usize = 19;

/// The bytes of `s` if it matches `0|([1-9]\d{0,max_digits-1})`: ASCII digits only, no sign,
/// no leading zero (except `0` itself), at most `max_digits` digits.
pub(crate) fn canonical_decimal(s: &str, max_digits: usize) -> Option<&[u8]> {
    let b = s.as_bytes();
    let ok = match b {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        _ => b.len() <= max_digits && b.iter().all(u8::is_ascii_digit),
    };
    ok.then_some(b)
}

/// Value of a run of ASCII digits as a `u128`, `None` if it is empty, holds a non-digit or
/// overflows. Leading zeros are allowed (callers check syntax first where they matter).
pub(crate) fn digits_to_u128(digits: &[u8]) -> Option<u128> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u128, |acc, &d| {
        let v = d.checked_sub(b'0').filter(|v| *v <= 9)?;
        acc.checked_mul(10)?.checked_add(u128::from(v))
    })
}

/// An unsigned integer of `N` 64-bit limbs (least significant first). Comparison is numeric.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Uint<const N: usize>(pub(crate) [u64; N]);

impl<const N: usize> Default for Uint<N> {
    fn default() -> Self {
        Uint([0; N])
    }
}

impl<const N: usize> Uint<N> {
    /// Parses ASCII digits (caller has checked they are digits). `None` if the value does not
    /// fit `64·N` bits or a byte is not a digit.
    pub(crate) fn from_decimal(digits: &[u8]) -> Option<Self> {
        let mut v = Uint::default();
        for chunk in digits.chunks(CHUNK_DIGITS) {
            let mut add = 0u64;
            let mut mul = 1u64;
            for &d in chunk {
                let d = d.checked_sub(b'0').filter(|d| *d <= 9)?;
                add = add * 10 + u64::from(d);
                mul *= 10;
            }
            if v.mul_add_small(mul, add) != 0 {
                return None;
            }
        }
        Some(v)
    }

    /// `self = self * mul + add`; returns the carry out of the top limb (0 = no overflow).
    pub(crate) fn mul_add_small(&mut self, mul: u64, add: u64) -> u64 {
        let mut carry = u128::from(add);
        for limb in self.0.iter_mut() {
            let t = u128::from(*limb) * u128::from(mul) + carry;
            *limb = t as u64;
            carry = t >> 64;
        }
        carry as u64
    }

    /// `self = self / d`; returns the remainder. `d` must be non-zero (0 leaves `self` as is
    /// and returns 0).
    pub(crate) fn div_rem_small(&mut self, d: u64) -> u64 {
        if d == 0 {
            return 0;
        }
        let mut rem = 0u128;
        for limb in self.0.iter_mut().rev() {
            let cur = (rem << 64) | u128::from(*limb);
            *limb = (cur / u128::from(d)) as u64;
            rem = cur % u128::from(d);
        }
        rem as u64
    }

    /// True when the value is zero.
    pub(crate) fn is_zero(&self) -> bool {
        self.0.iter().all(|l| *l == 0)
    }

    /// `width` (≤ 64) bits starting at bit `lo` (bit 0 = least significant). Bits beyond
    /// the integer read as zero.
    pub(crate) fn bits(&self, lo: u32, width: u32) -> u64 {
        let limb = (lo / 64) as usize;
        let off = lo % 64;
        let low = self.0.get(limb).copied().unwrap_or(0) >> off;
        let high = match off {
            0 => 0,
            _ => self.0.get(limb + 1).copied().unwrap_or(0) << (64 - off),
        };
        (low | high) & mask(width)
    }

    /// Sets `width` (≤ 64) bits starting at bit `lo` to the low bits of `value`. Bits
    /// beyond the integer are dropped.
    pub(crate) fn set_bits(&mut self, lo: u32, width: u32, value: u64) {
        let m = mask(width);
        let value = value & m;
        let limb = (lo / 64) as usize;
        let off = lo % 64;
        if let Some(l) = self.0.get_mut(limb) {
            *l = (*l & !(m << off)) | (value << off);
        }
        if off != 0 && off + width.min(64) > 64 {
            if let Some(l) = self.0.get_mut(limb + 1) {
                let shift = 64 - off;
                *l = (*l & !(m >> shift)) | (value >> shift);
            }
        }
    }

    /// The same value with `M` limbs, `None` if it does not fit.
    pub(crate) fn resize<const M: usize>(&self) -> Option<Uint<M>> {
        let mut out = Uint::<M>::default();
        for (i, limb) in self.0.iter().enumerate() {
            match out.0.get_mut(i) {
                Some(o) => *o = *limb,
                None if *limb != 0 => return None,
                None => {}
            }
        }
        Some(out)
    }
}

fn mask(width: u32) -> u64 {
    match width {
        0 => 0,
        w if w >= 64 => u64::MAX,
        w => (1u64 << w) - 1,
    }
}

impl<const N: usize> Ord for Uint<N> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

impl<const N: usize> PartialOrd for Uint<N> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<const N: usize> fmt::Display for Uint<N> {
    /// Decimal, written straight into the formatter (no allocation).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each 19-digit chunk removes at least 63 bits, so N+1 chunks suffice; 8 covers N ≤ 7.
        const { assert!(N <= 7, "Uint Display supports at most 7 limbs") };
        let mut chunks = [0u64; 8];
        let mut used = 0;
        let mut v = *self;
        for slot in chunks.iter_mut() {
            *slot = v.div_rem_small(CHUNK);
            used += 1;
            if v.is_zero() {
                break;
            }
        }
        let mut rest = chunks.iter().take(used).rev();
        if let Some(first) = rest.next() {
            write!(f, "{first}")?;
        }
        for chunk in rest {
            write!(f, "{chunk:019}")?;
        }
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for Uint<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn u2(v: u128) -> Uint<2> {
        Uint([v as u64, (v >> 64) as u64])
    }

    #[test]
    fn canonical_decimal_syntax() {
        assert!(canonical_decimal("0", 3).is_some());
        assert!(canonical_decimal("1", 3).is_some());
        assert!(canonical_decimal("999", 3).is_some());
        for bad in ["", "00", "01", "1000", "-1", "+1", " 1", "1 ", "1a", "0x1", "١", "1e5"] {
            assert!(canonical_decimal(bad, 3).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn digits_to_u128_bounds() {
        assert_eq!(digits_to_u128(b"0"), Some(0));
        assert_eq!(digits_to_u128(b"007"), Some(7));
        assert_eq!(digits_to_u128(u128::MAX.to_string().as_bytes()), Some(u128::MAX));
        assert_eq!(digits_to_u128(b"340282366920938463463374607431768211456"), None);
        assert_eq!(digits_to_u128(b""), None);
        assert_eq!(digits_to_u128(b"1x"), None);
    }

    #[test]
    fn max_values_and_carries() {
        let max = Uint([u64::MAX; 3]);
        let s = max.to_string();
        assert_eq!(s, "6277101735386680763835789423207666416102355444464034512895"); // 2^192-1
        assert_eq!(Uint::<3>::from_decimal(s.as_bytes()), Some(max));
        // 2^192 overflows.
        assert_eq!(Uint::<3>::from_decimal(b"6277101735386680763835789423207666416102355444464034512896"), None);
        // Carry across limbs: 2^64 and 2^128.
        assert_eq!(Uint::<3>::from_decimal(b"18446744073709551616"), Some(Uint([0, 1, 0])));
        assert_eq!(Uint::<3>::from_decimal(b"340282366920938463463374607431768211456"), Some(Uint([0, 0, 1])));
        assert_eq!(Uint::<3>::default().to_string(), "0");
        assert_eq!(Uint([CHUNK, 0, 0]).to_string(), "10000000000000000000");
        // 10^129 - 1 fits 7 limbs.
        let nines = "9".repeat(129);
        let v = Uint::<7>::from_decimal(nines.as_bytes()).unwrap();
        assert_eq!(v.to_string(), nines);
        assert_eq!(v.resize::<3>(), None);
        assert_eq!(Uint([5u64, 0, 0, 0, 0, 0, 0]).resize::<3>(), Some(Uint([5, 0, 0])));
    }

    #[test]
    fn bit_fields_straddle_limbs() {
        let mut v = Uint::<3>::default();
        v.set_bits(60, 8, 0xAB);
        assert_eq!(v.0, [0xB000_0000_0000_0000, 0xA, 0]);
        assert_eq!(v.bits(60, 8), 0xAB);
        v.set_bits(80, 64, u64::MAX);
        assert_eq!(v.bits(80, 64), u64::MAX);
        v.set_bits(80, 64, 0x1234);
        assert_eq!(v.bits(80, 64), 0x1234);
        assert_eq!(v.bits(60, 8), 0xAB);
        assert_eq!(v.bits(184, 4), 0);
        assert_eq!(v.bits(190, 10), 0);
    }

    proptest! {
        #[test]
        fn matches_u128(a: u128, b: u128) {
            let (ua, ub) = (u2(a), u2(b));
            prop_assert_eq!(ua.to_string(), a.to_string());
            prop_assert_eq!(Uint::<2>::from_decimal(a.to_string().as_bytes()), Some(ua));
            prop_assert_eq!(ua.cmp(&ub), a.cmp(&b));
            let mut q = ua;
            let r = q.div_rem_small(1_000_000_007);
            prop_assert_eq!(q, u2(a / 1_000_000_007));
            prop_assert_eq!(u128::from(r), a % 1_000_000_007);
        }

        #[test]
        fn round_trip_wide(limbs: [u64; 7]) {
            let v = Uint(limbs);
            prop_assert_eq!(Uint::<7>::from_decimal(v.to_string().as_bytes()), Some(v));
        }

        #[test]
        fn bits_round_trip(lo in 0u32..192, width in 1u32..=64, value: u64) {
            let mut v = Uint([u64::MAX, 0x5555_5555_5555_5555, 0]);
            let before = v;
            v.set_bits(lo, width, value);
            let fits = lo + width <= 192;
            if fits {
                prop_assert_eq!(v.bits(lo, width), value & mask(width));
            }
            v.set_bits(lo, width, before.bits(lo, width));
            prop_assert_eq!(v, before);
        }
    }
}
