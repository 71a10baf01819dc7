//! The file protocol of a queue directory: creating an epoch (snapshot + empty log) by
//! temp file, fdatasync, rename and directory fsync — for a new queue and for every
//! compaction — and replaying a log at recovery. See `docs/format.md`, "Queue state
//! directory", and the module docs of [`super::store`].

use std::path::Path;

use super::frame::{self, FrameError, LogHeader, FRAME_HEADER_LEN, LOG_HEADER_LEN, MAX_PAYLOAD_LEN};
use super::snapshot;
use super::state::DeliveryState;
use crate::error::{Error, Result};
use crate::io::{FileRef, VfsRef};

/// Name of the snapshot file in a queue's directory.
pub const SNAPSHOT_FILE: &str = "snapshot";
/// Name of the state log file in a queue's directory.
pub const LOG_FILE: &str = "log";
pub(crate) const SNAPSHOT_TMP: &str = "snapshot.tmp";
pub(crate) const LOG_TMP: &str = "log.tmp";
/// Bytes read per positional read while replaying the log.
const READ_CHUNK: usize = 1 << 20;

/// A compaction (or creation) step failed: `before` when nothing durable changed yet.
pub(crate) struct EpochError {
    pub(crate) error: Error,
    pub(crate) before: bool,
}

/// A whole file's bytes (the snapshot: its size is the state's, bounded by what is in flight
/// or dead-lettered).
pub(crate) fn read_whole(vfs: &VfsRef, path: &Path) -> Result<Vec<u8>> {
    let f = vfs.open_read(path).map_err(|e| Error::io("open", path, e))?;
    let len = f.len().map_err(|e| Error::io("stat", path, e))?;
    let len = usize::try_from(len).map_err(|_| Error::corrupt(path, 0, format!("file of {len} bytes")))?;
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, 0).map_err(|e| Error::io("read", path, e))?;
    Ok(buf)
}

/// Write `bytes` to a fresh `dir/name` and fdatasync it. On failure the file is removed
/// (best effort).
fn write_synced(vfs: &VfsRef, path: &Path, bytes: &[u8]) -> Result<FileRef> {
    let f = vfs.create(path).map_err(|e| Error::io("create", path, e))?;
    let r = f.write_all_at(bytes, 0).map_err(|e| Error::io("write", path, e));
    let r = r.and_then(|()| f.sync_data().map_err(|e| Error::io("fdatasync", path, e)));
    match r {
        Ok(()) => Ok(f),
        Err(e) => {
            let _ = vfs.remove_file(path);
            Err(e)
        }
    }
}

/// Make `state` the durable snapshot of `epoch` with an empty log (the compaction protocol
/// of the module docs; also creates a queue's first epoch). Returns the new log's handle
/// and the snapshot's length.
pub(crate) fn write_epoch(
    vfs: &VfsRef,
    dir: &Path,
    uid: u64,
    epoch: u64,
    state: &DeliveryState,
) -> Result<(FileRef, u64), EpochError> {
    let before = |error| EpochError { error, before: true };
    let after = |error| EpochError { error, before: false };
    let log_tmp = dir.join(LOG_TMP);
    let snapshot_tmp = dir.join(SNAPSHOT_TMP);
    let log = write_synced(vfs, &log_tmp, &LogHeader { queue_uid: uid, epoch }.encode()).map_err(before)?;
    let bytes = snapshot::encode(uid, epoch, state);
    if let Err(e) = write_synced(vfs, &snapshot_tmp, &bytes) {
        let _ = vfs.remove_file(&log_tmp);
        return Err(before(e));
    }
    let snapshot_path = dir.join(SNAPSHOT_FILE);
    vfs.rename(&snapshot_tmp, &snapshot_path).map_err(|e| after(Error::io("rename", &snapshot_path, e)))?;
    vfs.sync_dir(dir).map_err(|e| after(Error::io("directory fsync", dir, e)))?;
    let log_path = dir.join(LOG_FILE);
    vfs.rename(&log_tmp, &log_path).map_err(|e| after(Error::io("rename", &log_path, e)))?;
    vfs.sync_dir(dir).map_err(|e| after(Error::io("directory fsync", dir, e)))?;
    Ok((log, bytes.len() as u64))
}

/// Replace `log` with an empty log of `epoch` (recovery of a compaction interrupted between
/// its two renames): temp file, fdatasync, rename, directory fsync.
pub(crate) fn install_log(vfs: &VfsRef, dir: &Path, uid: u64, epoch: u64) -> Result<FileRef, EpochError> {
    let after = |error| EpochError { error, before: false };
    let log_tmp = dir.join(LOG_TMP);
    let log = write_synced(vfs, &log_tmp, &LogHeader { queue_uid: uid, epoch }.encode()).map_err(after)?;
    let log_path = dir.join(LOG_FILE);
    vfs.rename(&log_tmp, &log_path).map_err(|e| after(Error::io("rename", &log_path, e)))?;
    vfs.sync_dir(dir).map_err(|e| after(Error::io("directory fsync", dir, e)))?;
    Ok(log)
}

pub(crate) struct Replayed {
    /// End of the last valid frame.
    pub(crate) end: u64,
    /// Events replayed.
    pub(crate) events: u64,
}

/// Replay the frames of `log` (of `epoch`, `len` bytes) onto `state`, stopping at the first
/// torn or invalid frame. Reads in chunks of [`READ_CHUNK`], never more than a frame's
/// bounded length beyond.
pub(crate) fn replay(log: &FileRef, path: &Path, epoch: u64, len: u64, state: &mut DeliveryState) -> Result<Replayed> {
    let mut reader = ChunkReader { log, path, len, buf: Vec::new(), start: 0 };
    let mut pos = LOG_HEADER_LEN as u64;
    let mut events = 0u64;
    while pos < len {
        let header = reader.at(pos, FRAME_HEADER_LEN)?;
        let Ok(payload_len) = frame::frame_payload_len(header) else { break };
        debug_assert!(payload_len <= MAX_PAYLOAD_LEN as usize);
        let bytes = reader.at(pos, FRAME_HEADER_LEN + payload_len)?;
        match frame::decode_frame(bytes, epoch, pos) {
            Ok((event, n)) => {
                state
                    .apply(&event)
                    .map_err(|e| Error::corrupt(path, pos, format!("event does not fit the queue state: {e}")))?;
                pos += n as u64;
                events += 1;
            }
            Err(FrameError::BadPayload(reason)) => return Err(Error::corrupt(path, pos, reason)),
            Err(FrameError::Truncated | FrameError::Invalid(_)) => break,
        }
    }
    Ok(Replayed { end: pos, events })
}

/// Reads a file forward in chunks.
struct ChunkReader<'a> {
    log: &'a FileRef,
    path: &'a Path,
    len: u64,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    start: u64,
}

impl ChunkReader<'_> {
    /// Up to `want` bytes from `pos` (fewer only at the end of the file), reading a chunk of
    /// at least [`READ_CHUNK`] bytes when they are not buffered.
    fn at(&mut self, pos: u64, want: usize) -> Result<&[u8]> {
        let buffered_end = self.start + self.buf.len() as u64;
        let wanted_end = pos.saturating_add(want as u64).min(self.len);
        if pos < self.start || wanted_end > buffered_end {
            let n = (want.max(READ_CHUNK) as u64).min(self.len.saturating_sub(pos)) as usize;
            self.buf.resize(n, 0);
            self.log.read_exact_at(&mut self.buf, pos).map_err(|e| Error::io("read", self.path, e))?;
            self.start = pos;
        }
        let from = (pos - self.start) as usize;
        let to = (wanted_end - self.start) as usize;
        Ok(self.buf.get(from..to).unwrap_or_default())
    }
}
