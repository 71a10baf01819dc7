//! Little-endian field reading for the queue state files: every read is bounds-checked and
//! fails (never panics) past the end.

/// Reads little-endian fields off the front of a slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeReader<'a> {
    bytes: &'a [u8],
}

/// The bytes ran out, or a field had an impossible value; the message says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) String);

impl DecodeError {
    pub(crate) fn new(message: impl Into<String>) -> DecodeError {
        DecodeError(message.into())
    }
}

pub(crate) type Decoded<T> = Result<T, DecodeError>;

impl<'a> LeReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> LeReader<'a> {
        LeReader { bytes }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Decoded<[u8; N]> {
        let (head, tail) =
            self.bytes.split_first_chunk::<N>().ok_or_else(|| DecodeError::new(format!("truncated at {what}")))?;
        self.bytes = tail;
        Ok(*head)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Decoded<u8> {
        self.array::<1>(what).map(|[b]| b)
    }

    pub(crate) fn u16(&mut self, what: &str) -> Decoded<u16> {
        self.array(what).map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self, what: &str) -> Decoded<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, what: &str) -> Decoded<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &str) -> Decoded<&'a [u8]> {
        let (head, tail) =
            self.bytes.split_at_checked(n).ok_or_else(|| DecodeError::new(format!("truncated at {what}")))?;
        self.bytes = tail;
        Ok(head)
    }

    /// A count of items of `item_len` bytes each that must all fit in the bytes left: checked
    /// before anything is allocated for them.
    pub(crate) fn count(&mut self, item_len: usize, what: &str) -> Decoded<usize> {
        let n = self.u32(what)? as usize;
        if n.checked_mul(item_len).is_none_or(|need| need > self.bytes.len()) {
            return Err(DecodeError::new(format!("{what} of {n} needs more than the {} bytes left", self.bytes.len())));
        }
        Ok(n)
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(&self, what: &str) -> Decoded<()> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(DecodeError::new(format!("{n} trailing bytes after {what}"))),
        }
    }
}

pub(crate) fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}
