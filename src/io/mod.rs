//! The I/O layer: every file operation the engine performs goes through [`Vfs`] and
//! [`VfsFile`], so tests can swap in a recording, crash-simulating or fault-injecting
//! implementation. This layer knows nothing of records or shards.
//!
//! Implementations:
//! - [`RealVfs`]: the operating system (`pwrite`, `fdatasync`, `rename`, directory fsync,
//!   `flock`, `mmap` through memmap2; the memory mapping lives in `map.rs`, the crate's one
//!   `unsafe` module).
//! - The test harness, behind the `testing` cargo feature (tests, benches and fuzz targets
//!   enable it; the default build does not contain it): `sim::SimVfs`, an in-memory file
//!   system that records every mutation and produces the crash states a power cut may leave
//!   behind, and `fault::FaultVfs`, which wraps any `Vfs` and fails the N-th call of a chosen
//!   kind, once or forever.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

#[cfg(feature = "testing")]
pub mod fault;
mod map;
pub(crate) use map::prefetch;
#[cfg(feature = "testing")]
pub mod sim;

/// The kinds of I/O call, used to name failures and to target fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// Creating a file (`create_new` or `create`).
    Create,
    /// Opening an existing file.
    Open,
    /// Positional write.
    Write,
    /// Positional read.
    Read,
    /// `fdatasync` of a file.
    SyncData,
    /// fsync of a directory.
    SyncDir,
    /// Changing a file's length.
    SetLen,
    /// Renaming a file.
    Rename,
    /// Removing a file or directory.
    Remove,
    /// Creating a directory.
    CreateDir,
    /// Listing a directory.
    ReadDir,
    /// Memory-mapping a file.
    Map,
    /// Taking the directory lock.
    Lock,
}

impl OpKind {
    /// Every kind, for sweeps.
    pub const ALL: [OpKind; 13] = [
        OpKind::Create,
        OpKind::Open,
        OpKind::Write,
        OpKind::Read,
        OpKind::SyncData,
        OpKind::SyncDir,
        OpKind::SetLen,
        OpKind::Rename,
        OpKind::Remove,
        OpKind::CreateDir,
        OpKind::ReadDir,
        OpKind::Map,
        OpKind::Lock,
    ];

    /// The name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Open => "open",
            OpKind::Write => "write",
            OpKind::Read => "read",
            OpKind::SyncData => "fdatasync",
            OpKind::SyncDir => "directory fsync",
            OpKind::SetLen => "set_len",
            OpKind::Rename => "rename",
            OpKind::Remove => "remove",
            OpKind::CreateDir => "create_dir",
            OpKind::ReadDir => "read_dir",
            OpKind::Map => "mmap",
            OpKind::Lock => "lock",
        }
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// File name (not a path).
    pub name: String,
    /// True for a sub-directory.
    pub is_dir: bool,
}

/// An open file. All positioned calls are safe to use from several threads at once.
#[allow(clippy::len_without_is_empty)] // a file's length, not a collection's
pub trait VfsFile: Send + Sync + fmt::Debug {
    /// Read exactly `buf.len()` bytes at `offset`; a short file is `UnexpectedEof`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Write all of `buf` at `offset` (one `pwrite` loop).
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// `fdatasync`: the file's data (and its size) are durable when this returns `Ok`.
    fn sync_data(&self) -> io::Result<()>;
    /// Truncate or extend the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's current length.
    fn len(&self) -> io::Result<u64>;
    /// A read-only view of the whole file as it is now. The real implementation maps it
    /// (zero copy); the view stays valid after the file is unlinked. Callers must only map
    /// files that are never written or shrunk afterwards (sealed segments, index files), or
    /// drop every byte of the view before they change the file (recovery's scan).
    fn map(&self) -> io::Result<Bytes>;
    /// The bytes in `range`, which were written through this handle (or were in the file when
    /// it was opened), for a file that is still being appended to (an active segment). The
    /// real implementation slices one read-only mapping made ahead of the file's end,
    /// `reserve` bytes long, so later views of the growing file need no system call and no
    /// copy; a range past what was written is an `UnexpectedEof` error. The caller never
    /// writes or cuts off bytes it viewed while any view of them lives (the real
    /// implementation refuses such a write or `set_len` with an error; see `io/map.rs`).
    fn view(&self, range: Range<u64>, reserve: u64) -> io::Result<Bytes>;
}

/// A file handle shared between the writer and readers of a file.
pub type FileRef = Arc<dyn VfsFile>;

/// A held exclusive lock; dropping it releases the lock.
pub trait LockGuard: Send + Sync + fmt::Debug {}

/// The file system as the engine sees it.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Create a directory and its missing parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Create a new file; fails with `AlreadyExists` if it exists (`O_EXCL`).
    fn create_new(&self, path: &Path) -> io::Result<FileRef>;
    /// Create a file, truncating it if it exists.
    fn create(&self, path: &Path) -> io::Result<FileRef>;
    /// Open an existing file for reading and writing.
    fn open_rw(&self, path: &Path) -> io::Result<FileRef>;
    /// Open an existing file read-only.
    fn open_read(&self, path: &Path) -> io::Result<FileRef>;
    /// List a directory, sorted by name.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;
    /// True if a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// Remove a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Remove a directory and everything below it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Atomically rename `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsync a directory, making creates, renames and removes in it durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Take an exclusive, non-blocking lock on the file at `path` (created if missing).
    /// Fails with `WouldBlock` if any handle, in this or another process, holds it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>>;
}

/// A file system handle shared by every part of an engine.
pub type VfsRef = Arc<dyn Vfs>;

/// Create `path` and any missing ancestors, then fsync the parent of every directory it
/// created (deepest first), so the new directories survive a power cut before anything in
/// them is acknowledged (reliability rule 5).
pub fn create_dir_all_durable(vfs: &dyn Vfs, path: &Path) -> crate::Result<()> {
    let mut missing = Vec::new();
    let mut p = Some(path);
    while let Some(dir) = p {
        if dir.as_os_str().is_empty() || vfs.exists(dir) {
            break;
        }
        missing.push(dir);
        p = dir.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    vfs.create_dir_all(path).map_err(|e| crate::Error::io("create_dir", path, e))?;
    for dir in missing {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        vfs.sync_dir(parent).map_err(|e| crate::Error::io("directory fsync", parent, e))?;
    }
    Ok(())
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealVfs;

impl RealVfs {
    /// A shared handle to the real file system.
    pub fn shared() -> VfsRef {
        Arc::new(RealVfs)
    }
}

#[derive(Debug)]
struct RealFile {
    file: std::fs::File,
    /// The mappings made through this handle (`io/map.rs` keeps them sound).
    maps: map::FileMaps,
}

impl VfsFile for RealFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.maps.before_change(offset)?;
        std::os::unix::fs::FileExt::write_all_at(&self.file, buf, offset)?;
        self.maps.wrote(offset.saturating_add(buf.len() as u64));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.maps.before_change(len)?;
        self.file.set_len(len)?;
        self.maps.set_len(len);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn map(&self) -> io::Result<Bytes> {
        map::map_whole(&self.file, &self.maps)
    }

    fn view(&self, range: Range<u64>, reserve: u64) -> io::Result<Bytes> {
        self.maps.view(&self.file, range, reserve)
    }
}

#[derive(Debug)]
struct RealLock {
    _file: std::fs::File,
}

impl LockGuard for RealLock {}

fn shared(file: std::fs::File) -> io::Result<FileRef> {
    let len = file.metadata()?.len();
    Ok(Arc::new(RealFile { file, maps: map::FileMaps::new(len) }))
}

impl Vfs for RealVfs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn create_new(&self, path: &Path) -> io::Result<FileRef> {
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        shared(file)
    }

    fn create(&self, path: &Path) -> io::Result<FileRef> {
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
        shared(file)
    }

    fn open_rw(&self, path: &Path) -> io::Result<FileRef> {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
        shared(file)
    }

    fn open_read(&self, path: &Path) -> io::Result<FileRef> {
        shared(std::fs::File::open(path)?)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            // Names that are not UTF-8 are never written by the engine; skip them.
            let Ok(name) = entry.file_name().into_string() else { continue };
            out.push(DirEntry { name, is_dir: entry.file_type()?.is_dir() });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::File::open(path)?.sync_all()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(RealLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(io::Error::new(io::ErrorKind::WouldBlock, "lock held by another handle"))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// True for "too many open files" (`EMFILE` for the process, `ENFILE` for the system): the
/// call failed to *open* something, so nothing was written or synced by it, and it may be
/// tried again once descriptors were freed.
pub fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        let errno = rustix::io::Errno::from_io_error(e);
        errno == Some(rustix::io::Errno::MFILE) || errno == Some(rustix::io::Errno::NFILE)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}
