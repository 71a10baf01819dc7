//! The two small metadata files of a shard log directory.
//!
//! - `CLEAN` — written by a clean close after the active segment was fdatasync'd and its
//!   index files written; it names the active segment and its exact length. Present and
//!   matching ⇒ recovery skips the scan. It is removed (and the directory synced) before the
//!   first append after opening, so it never describes a file that changed since.
//! - `HORIZON` — the trim horizon: the lowest offset still retained. Replaced atomically
//!   (temp file, fdatasync, rename, directory fsync) *before* any segment below it is
//!   unlinked, so an interrupted trim is finished at the next open and never leaves a gap.
//!
//! Both carry a magic, a version and a CRC-32 over everything before the CRC.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::VfsRef;

/// Name of the clean-shutdown marker file.
pub const CLEAN_FILE: &str = "CLEAN";
/// Name of the trim-horizon file.
pub const HORIZON_FILE: &str = "HORIZON";
/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";
const CLEAN_MAGIC: [u8; 4] = *b"SLCM";
const HORIZON_MAGIC: [u8; 4] = *b"SLHZ";
const VERSION: u16 = 1;

/// What a clean close recorded about the active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanMarker {
    /// Base offset of the active segment.
    pub base: u64,
    /// Its exact byte length.
    pub len: u64,
    /// One past its last record.
    pub end_offset: u64,
    /// Arrival time of its newest record.
    pub max_arrival_ms: i64,
}

fn frame(magic: [u8; 4], fields: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + fields.len() * 8 + 4);
    out.extend_from_slice(&magic);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    for f in fields {
        out.extend_from_slice(&f.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn unframe<const N: usize>(magic: [u8; 4], bytes: &[u8]) -> std::result::Result<[u64; N], String> {
    let expected = 8 + N * 8 + 4;
    if bytes.len() != expected {
        return Err(format!("{} bytes, expected {expected}", bytes.len()));
    }
    if bytes.get(..4) != Some(&magic[..]) {
        return Err("bad magic".into());
    }
    let version = u16::from_le_bytes([bytes.get(4).copied().unwrap_or(0), bytes.get(5).copied().unwrap_or(0)]);
    if version != VERSION {
        return Err(format!("unsupported version {version}"));
    }
    if bytes.get(6..8) != Some(&[0, 0][..]) {
        return Err("reserved bytes are not zero".into());
    }
    let (body, crc) = bytes.split_at_checked(expected - 4).ok_or("short")?;
    let mut c = [0u8; 4];
    c.copy_from_slice(crc);
    if u32::from_le_bytes(c) != crc32fast::hash(body) {
        return Err("CRC mismatch".into());
    }
    let mut out = [0u64; N];
    for (i, slot) in out.iter_mut().enumerate() {
        let mut a = [0u8; 8];
        a.copy_from_slice(body.get(8 + i * 8..16 + i * 8).ok_or("short")?);
        *slot = u64::from_le_bytes(a);
    }
    Ok(out)
}

impl CleanMarker {
    /// Encode the marker file.
    pub fn encode(&self) -> Vec<u8> {
        frame(CLEAN_MAGIC, &[self.base, self.len, self.end_offset, self.max_arrival_ms as u64])
    }

    /// Decode the marker file.
    pub fn decode(bytes: &[u8]) -> std::result::Result<CleanMarker, String> {
        let [base, len, end_offset, max_arrival] = unframe::<4>(CLEAN_MAGIC, bytes)?;
        Ok(CleanMarker { base, len, end_offset, max_arrival_ms: max_arrival as i64 })
    }
}

/// Encode the horizon file.
pub fn encode_horizon(start_offset: u64) -> Vec<u8> {
    frame(HORIZON_MAGIC, &[start_offset])
}

/// Decode the horizon file.
pub fn decode_horizon(bytes: &[u8]) -> std::result::Result<u64, String> {
    unframe::<1>(HORIZON_MAGIC, bytes).map(|[s]| s)
}

/// Read a small file whole, `None` if it does not exist. Files over 4 KiB are rejected (no
/// metadata file is that large) before anything is allocated.
pub(crate) fn read_small(vfs: &VfsRef, path: &Path) -> Result<Option<Vec<u8>>> {
    if !vfs.exists(path) {
        return Ok(None);
    }
    let f = vfs.open_read(path).map_err(|e| Error::io("open", path, e))?;
    let len = f.len().map_err(|e| Error::io("stat", path, e))?;
    if len > 4096 {
        return Err(Error::corrupt(path, 0, format!("metadata file of {len} bytes is too large")));
    }
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, 0).map_err(|e| Error::io("read", path, e))?;
    Ok(Some(buf))
}

/// Replace `dir/name` atomically with `bytes`: write a temp file, fdatasync it, rename it
/// over the target, fsync the directory.
pub(crate) fn replace_atomically(vfs: &VfsRef, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let target = dir.join(name);
    let f = vfs.create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all_at(bytes, 0).map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_data().map_err(|e| Error::io("fdatasync", &tmp, e))?;
    vfs.rename(&tmp, &target).map_err(|e| Error::io("rename", &target, e))?;
    vfs.sync_dir(dir).map_err(|e| Error::io("directory fsync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let m = CleanMarker { base: 5, len: 99, end_offset: 12, max_arrival_ms: -3 };
        let b = m.encode();
        assert_eq!(CleanMarker::decode(&b), Ok(m));
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 1;
            assert!(CleanMarker::decode(&bad).is_err());
        }
        assert_eq!(decode_horizon(&encode_horizon(77)), Ok(77));
        assert!(decode_horizon(&[]).is_err());
        assert!(decode_horizon(&m.encode()).is_err());
    }
}
