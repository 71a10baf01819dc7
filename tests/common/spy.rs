//! A `Vfs` layer that passes every call on to the file system below it (in the fault tests, a
//! `FaultVfs`) and tells a [`SpyLog`] about it, so a test can see which calls had a fault
//! injected, on which file, and in what context (tests/io_errors.rs, tests/engine_io_errors.rs).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};
use shardlog::io::{DirEntry, FileRef, LockGuard, OpKind, Vfs, VfsFile, VfsRef};

/// The bookkeeping of a [`Spy`]: told about the calls passing through it, under the spy's lock.
pub trait SpyLog: fmt::Debug + Default + Send + 'static {
    /// A call that changes a file is about to be passed on: `Create` (offset 0) for `create`
    /// and `create_new`, `Write` with the write's offset, `SetLen` with the new length.
    fn changing(&mut self, _kind: OpKind, _path: &Path, _offset: u64) {}

    /// A call came back: its kind, its path (for a rename, the target) and its error if it
    /// failed. Every call but `exists` and `len` is reported.
    fn returned(&mut self, kind: OpKind, path: &Path, error: Option<&io::Error>);
}

/// Sits between the code under test and the file system below, passing every call on and
/// telling its [`SpyLog`] about it. Clones share the log.
#[derive(Debug)]
pub struct Spy<L> {
    inner: VfsRef,
    log: Arc<Mutex<L>>,
}

impl<L> Clone for Spy<L> {
    fn clone(&self) -> Self {
        Spy { inner: self.inner.clone(), log: self.log.clone() }
    }
}

impl<L: SpyLog> Spy<L> {
    /// A spy over `inner` with an empty log.
    pub fn new(inner: VfsRef) -> Spy<L> {
        Spy { inner, log: Arc::default() }
    }

    /// The log, locked.
    pub fn log(&self) -> MutexGuard<'_, L> {
        self.log.lock()
    }

    fn changing(&self, kind: OpKind, path: &Path, offset: u64) {
        self.log.lock().changing(kind, path, offset);
    }

    fn note<T>(&self, kind: OpKind, path: &Path, r: io::Result<T>) -> io::Result<T> {
        self.log.lock().returned(kind, path, r.as_ref().err());
        r
    }

    fn wrap(&self, path: &Path, file: io::Result<FileRef>, kind: OpKind) -> io::Result<FileRef> {
        let file = self.note(kind, path, file)?;
        Ok(Arc::new(SpyFile { inner: file, path: path.to_path_buf(), spy: self.clone() }))
    }
}

impl<L: SpyLog> Vfs for Spy<L> {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.note(OpKind::CreateDir, path, self.inner.create_dir_all(path))
    }
    fn create_new(&self, path: &Path) -> io::Result<FileRef> {
        self.changing(OpKind::Create, path, 0);
        self.wrap(path, self.inner.create_new(path), OpKind::Create)
    }
    fn create(&self, path: &Path) -> io::Result<FileRef> {
        self.changing(OpKind::Create, path, 0);
        self.wrap(path, self.inner.create(path), OpKind::Create)
    }
    fn open_rw(&self, path: &Path) -> io::Result<FileRef> {
        self.wrap(path, self.inner.open_rw(path), OpKind::Open)
    }
    fn open_read(&self, path: &Path) -> io::Result<FileRef> {
        self.wrap(path, self.inner.open_read(path), OpKind::Open)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.note(OpKind::ReadDir, path, self.inner.read_dir(path))
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.note(OpKind::Remove, path, self.inner.remove_file(path))
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.note(OpKind::Remove, path, self.inner.remove_dir_all(path))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.note(OpKind::Rename, to, self.inner.rename(from, to))
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.note(OpKind::SyncDir, path, self.inner.sync_dir(path))
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        self.note(OpKind::Lock, path, self.inner.lock(path))
    }
}

/// A file opened through a [`Spy`].
#[derive(Debug)]
struct SpyFile<L> {
    inner: FileRef,
    path: PathBuf,
    spy: Spy<L>,
}

impl<L: SpyLog> VfsFile for SpyFile<L> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.spy.note(OpKind::Read, &self.path, self.inner.read_exact_at(buf, offset))
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.spy.changing(OpKind::Write, &self.path, offset);
        self.spy.note(OpKind::Write, &self.path, self.inner.write_all_at(buf, offset))
    }
    fn sync_data(&self) -> io::Result<()> {
        self.spy.note(OpKind::SyncData, &self.path, self.inner.sync_data())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.spy.changing(OpKind::SetLen, &self.path, len);
        self.spy.note(OpKind::SetLen, &self.path, self.inner.set_len(len))
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn map(&self) -> io::Result<Bytes> {
        self.spy.note(OpKind::Map, &self.path, self.inner.map())
    }
    fn view(&self, range: std::ops::Range<u64>, reserve: u64) -> io::Result<Bytes> {
        self.spy.note(OpKind::Read, &self.path, self.inner.view(range, reserve))
    }
}

/// The file name of `path` ("" if it has none or it is not UTF-8).
pub fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}
