//! The primitive encodings of the manifest body (little-endian integers, `u32`-length
//! strings, `u8`-tagged options) shared by the catalog codecs. Reading checks every length
//! against the bytes that remain before allocating.

use std::collections::BTreeMap;

pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u128(&mut self, v: u128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    pub(crate) fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.u32(v);
            }
            None => self.u8(0),
        }
    }
    pub(crate) fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.i64(v);
            }
            None => self.u8(0),
        }
    }
    pub(crate) fn opt_str(&mut self, v: Option<&str>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.str(v);
            }
            None => self.u8(0),
        }
    }
    pub(crate) fn i64_list(&mut self, v: &[i64]) {
        self.u32(v.len() as u32);
        for t in v {
            self.i64(*t);
        }
    }
    pub(crate) fn str_map(&mut self, m: &BTreeMap<String, String>) {
        self.u32(m.len() as u32);
        for (k, v) in m {
            self.str(k);
            self.str(v);
        }
    }
}

pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

pub(crate) type DecodeResult<T> = std::result::Result<T, String>;

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or("length overflows")?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn arr<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> DecodeResult<u8> {
        let [b] = self.arr::<1>()?;
        Ok(b)
    }
    pub(crate) fn bool(&mut self) -> DecodeResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            t => Err(format!("bad flag {t}")),
        }
    }
    pub(crate) fn u16(&mut self) -> DecodeResult<u16> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    pub(crate) fn u32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    pub(crate) fn u64(&mut self) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    pub(crate) fn i64(&mut self) -> DecodeResult<i64> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    pub(crate) fn u128(&mut self) -> DecodeResult<u128> {
        Ok(u128::from_le_bytes(self.arr()?))
    }
    pub(crate) fn str(&mut self) -> DecodeResult<String> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("invalid UTF-8 before byte {}", self.pos))
    }
    fn tag(&mut self) -> DecodeResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            t => Err(format!("bad option tag {t}")),
        }
    }
    pub(crate) fn opt_u32(&mut self) -> DecodeResult<Option<u32>> {
        if self.tag()? {
            Ok(Some(self.u32()?))
        } else {
            Ok(None)
        }
    }
    pub(crate) fn opt_i64(&mut self) -> DecodeResult<Option<i64>> {
        if self.tag()? {
            Ok(Some(self.i64()?))
        } else {
            Ok(None)
        }
    }
    pub(crate) fn opt_u64(&mut self) -> DecodeResult<Option<u64>> {
        if self.tag()? {
            Ok(Some(self.u64()?))
        } else {
            Ok(None)
        }
    }
    pub(crate) fn opt_str(&mut self) -> DecodeResult<Option<String>> {
        if self.tag()? {
            Ok(Some(self.str()?))
        } else {
            Ok(None)
        }
    }
    /// A count of items each at least `min_item` bytes: rejected if they cannot fit.
    pub(crate) fn count(&mut self, min_item: usize) -> DecodeResult<usize> {
        let n = self.u32()? as usize;
        let left = self.buf.len().saturating_sub(self.pos);
        if n.saturating_mul(min_item) > left {
            return Err(format!("count {n} cannot fit in the {left} bytes left"));
        }
        Ok(n)
    }
    pub(crate) fn i64_list(&mut self) -> DecodeResult<Vec<i64>> {
        let n = self.count(8)?;
        (0..n).map(|_| self.i64()).collect()
    }
    /// A string map; a repeated key is damage.
    pub(crate) fn str_map(&mut self) -> DecodeResult<BTreeMap<String, String>> {
        let mut m = BTreeMap::new();
        for _ in 0..self.count(8)? {
            let k = self.str()?;
            let v = self.str()?;
            if m.insert(k, v).is_some() {
                return Err("repeated map key".into());
            }
        }
        Ok(m)
    }
}
