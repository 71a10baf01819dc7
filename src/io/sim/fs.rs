//! [`SimVfs`]: the simulated file system — the live model behind a lock, the operation log,
//! and the `Vfs` and `VfsFile` implementations over them.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::model::*;
use super::spec::{CrashSpec, DataMode, DirMode, SimOp, TailMode};
use crate::io::{DirEntry, FileRef, LockGuard, Vfs, VfsFile, VfsRef};

#[derive(Debug)]
struct Inner {
    /// The durable state the log starts from.
    base: World,
    live: World,
    log: Vec<Rec>,
    /// Files whose lock is held.
    locks: HashSet<u64>,
    next_id: u64,
}

/// How `open_or_create` treats an existing file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Existing {
    Fail,
    Truncate,
    Keep,
}

impl Inner {
    fn new(base: World, next_id: u64) -> Inner {
        Inner { live: base.clone(), base, log: Vec::new(), locks: HashSet::new(), next_id }
    }

    fn alloc(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    fn record(&mut self, op: Op, desc: SimOp) {
        self.live.apply(&op, TailMode::Whole);
        self.log.push(Rec { op, desc });
    }

    fn create_dir_all(&mut self, path: &Path) -> io::Result<()> {
        let (root, names) = parse(path)?;
        let mut dir = root;
        let mut shown = root_path(root);
        for (i, name) in names.iter().enumerate() {
            shown.push(name);
            match self.live.entry(dir, name) {
                Some(Node::Dir(child)) => dir = child,
                Some(Node::File(_)) if i + 1 == names.len() => {
                    return Err(fs_err(io::ErrorKind::AlreadyExists, path));
                }
                Some(Node::File(_)) => return Err(fs_err(io::ErrorKind::NotADirectory, path)),
                None => {
                    let id = self.alloc();
                    let op = Op::CreateDir { parent: dir, name: (*name).to_owned(), dir: id };
                    self.record(op, SimOp::CreateDir { path: shown.clone() });
                    dir = id;
                }
            }
        }
        Ok(())
    }

    fn open_or_create(&mut self, path: &Path, existing: Existing) -> io::Result<u64> {
        let (dir, name) = self.live.parent_of(path)?;
        match (self.live.entry(dir, name), existing) {
            (Some(_), Existing::Fail) => Err(fs_err(io::ErrorKind::AlreadyExists, path)),
            (Some(Node::Dir(_)), _) => Err(fs_err(io::ErrorKind::IsADirectory, path)),
            (Some(Node::File(file)), Existing::Keep) => Ok(file),
            (Some(Node::File(file)), Existing::Truncate) => {
                self.record(Op::Truncate { file }, SimOp::Create { path: path.to_path_buf(), truncated: true });
                Ok(file)
            }
            (None, _) => {
                let file = self.alloc();
                let op = Op::CreateFile { dir, name: name.to_owned(), file };
                self.record(op, SimOp::Create { path: path.to_path_buf(), truncated: false });
                Ok(file)
            }
        }
    }

    fn open(&self, path: &Path) -> io::Result<u64> {
        match self.live.lookup(path)? {
            Node::File(file) => Ok(file),
            Node::Dir(_) => Err(fs_err(io::ErrorKind::IsADirectory, path)),
        }
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let Node::Dir(dir) = self.live.lookup(path)? else {
            return Err(fs_err(io::ErrorKind::NotADirectory, path));
        };
        let entries = self.live.dirs.get(&dir).into_iter().flat_map(|d| d.live.iter());
        Ok(entries.map(|(name, node)| DirEntry { name: name.clone(), is_dir: matches!(node, Node::Dir(_)) }).collect())
    }

    fn remove(&mut self, path: &Path, want_dir: bool) -> io::Result<()> {
        let (dir, name) = self.live.parent_of(path)?;
        let path_buf = path.to_path_buf();
        let desc = match (self.live.entry(dir, name), want_dir) {
            (None, _) => return Err(fs_err(io::ErrorKind::NotFound, path)),
            (Some(Node::File(_)), false) => SimOp::Remove { path: path_buf },
            (Some(Node::Dir(_)), true) => SimOp::RemoveDirAll { path: path_buf },
            (Some(Node::Dir(_)), false) => return Err(fs_err(io::ErrorKind::IsADirectory, path)),
            (Some(Node::File(_)), true) => return Err(fs_err(io::ErrorKind::NotADirectory, path)),
        };
        self.record(Op::Remove { dir, name: name.to_owned() }, desc);
        Ok(())
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let (from_dir, from_name) = self.live.parent_of(from)?;
        let node = self.live.entry(from_dir, from_name).ok_or_else(|| fs_err(io::ErrorKind::NotFound, from))?;
        let (to_dir, to_name) = self.live.parent_of(to)?;
        if from_dir == to_dir && from_name == to_name {
            return Ok(());
        }
        match (node, self.live.entry(to_dir, to_name)) {
            (Node::Dir(src), _) if self.live.dir_contains(src, to_dir) => {
                return Err(fs_err(io::ErrorKind::InvalidInput, to));
            }
            (Node::File(_), Some(Node::Dir(_))) => return Err(fs_err(io::ErrorKind::IsADirectory, to)),
            (Node::Dir(_), Some(Node::File(_))) => return Err(fs_err(io::ErrorKind::NotADirectory, to)),
            (Node::Dir(_), Some(Node::Dir(target)))
                if self.live.dirs.get(&target).is_some_and(|d| !d.live.is_empty()) =>
            {
                return Err(fs_err(io::ErrorKind::DirectoryNotEmpty, to));
            }
            _ => {}
        }
        let op = Op::Rename { from_dir, from: from_name.to_owned(), to_dir, to: to_name.to_owned() };
        self.record(op, SimOp::Rename { from: from.to_path_buf(), to: to.to_path_buf() });
        Ok(())
    }

    fn sync_dir(&mut self, path: &Path) -> io::Result<()> {
        match self.live.lookup(path)? {
            Node::Dir(dir) => {
                self.record(Op::SyncDir { dir }, SimOp::SyncDir { path: path.to_path_buf() });
                Ok(())
            }
            Node::File(_) => Err(fs_err(io::ErrorKind::NotADirectory, path)),
        }
    }
}

/// An in-memory file system that records every mutation and produces crash states. Clones
/// share the same state. See the [module documentation](super) for the durability model.
#[derive(Clone)]
pub struct SimVfs {
    inner: Arc<Mutex<Inner>>,
}

impl Default for SimVfs {
    fn default() -> SimVfs {
        SimVfs::new()
    }
}

impl fmt::Debug for SimVfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.try_lock() {
            Some(inner) => {
                write!(f, "SimVfs {{ files: {}, ops: {} }}", inner.live.files_by_path().len(), inner.log.len())
            }
            None => f.write_str("SimVfs { <busy> }"),
        }
    }
}

impl SimVfs {
    /// An empty file system (only the roots `/` and `.` exist) with an empty log.
    pub fn new() -> SimVfs {
        SimVfs::from_world(World::empty(), FIRST_FREE_ID)
    }

    pub(super) fn from_world(base: World, next_id: u64) -> SimVfs {
        SimVfs { inner: Arc::new(Mutex::new(Inner::new(base, next_id))) }
    }

    /// A shared `Vfs` handle onto this file system (same state).
    pub fn shared(&self) -> VfsRef {
        Arc::new(self.clone())
    }

    /// Number of mutating operations logged so far.
    pub fn op_count(&self) -> usize {
        self.inner.lock().log.len()
    }

    /// The logged operations, in order (index `i` is operation number `i + 1`).
    pub fn ops(&self) -> Vec<SimOp> {
        self.inner.lock().log.iter().map(|rec| rec.desc.clone()).collect()
    }

    /// The state a power cut leaves when it strikes as `spec` describes. The result is an
    /// independent `SimVfs` whose content is all durable and whose log is empty.
    pub fn crash(&self, spec: &CrashSpec) -> SimVfs {
        let inner = self.inner.lock();
        let world = replay(&inner.base, &inner.log, spec.ops, spec.tail);
        SimVfs::from_world(world.settle(spec.dir, spec.data), inner.next_id)
    }

    /// Crash after the first `n` operations, the `n`-th landing per `tail`; every write and
    /// every directory-entry change before it survives.
    pub fn crash_at(&self, n: usize, tail: TailMode) -> SimVfs {
        self.crash(&CrashSpec { tail, ..CrashSpec::at(n) })
    }

    /// Like [`crash_at`](Self::crash_at), choosing which directory-entry changes survive.
    pub fn crash_at_with(&self, n: usize, tail: TailMode, dir: DirMode) -> SimVfs {
        self.crash(&CrashSpec { tail, dir, ..CrashSpec::at(n) })
    }

    /// The strictest crash now: only synced data and dir-synced entries survive.
    pub fn power_cut(&self) -> SimVfs {
        let ops = self.op_count();
        self.crash(&CrashSpec { dir: DirMode::DropUnsynced, data: DataMode::SyncedOnly, ..CrashSpec::at(ops) })
    }

    /// What a crash-state sweep replays: the durable state the log starts from, the
    /// operation log, and the next free file id.
    pub(super) fn history(&self) -> (World, Vec<Rec>, u64) {
        let inner = self.inner.lock();
        (inner.base.clone(), inner.log.clone(), inner.next_id)
    }

    /// The current content of the file at `path`, if it is a file.
    pub fn file_content(&self, path: &Path) -> Option<Vec<u8>> {
        let inner = self.inner.lock();
        let file = inner.open(path).ok()?;
        inner.live.content(file).ok().map(|content| content.to_vec())
    }

    /// Every file currently reachable, sorted (absolute paths, then relative ones).
    pub fn list_files(&self) -> Vec<PathBuf> {
        self.inner.lock().live.files_by_path().into_iter().map(|(path, _)| path).collect()
    }

    fn handle(&self, file: u64, path: &Path, writable: bool) -> FileRef {
        Arc::new(SimFile { inner: Arc::clone(&self.inner), file, path: path.to_path_buf(), writable })
    }
}

impl Vfs for SimVfs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.lock().create_dir_all(path)
    }

    fn create_new(&self, path: &Path) -> io::Result<FileRef> {
        let file = self.inner.lock().open_or_create(path, Existing::Fail)?;
        Ok(self.handle(file, path, true))
    }

    fn create(&self, path: &Path) -> io::Result<FileRef> {
        let file = self.inner.lock().open_or_create(path, Existing::Truncate)?;
        Ok(self.handle(file, path, true))
    }

    fn open_rw(&self, path: &Path) -> io::Result<FileRef> {
        let file = self.inner.lock().open(path)?;
        Ok(self.handle(file, path, true))
    }

    fn open_read(&self, path: &Path) -> io::Result<FileRef> {
        let file = self.inner.lock().open(path)?;
        Ok(self.handle(file, path, false))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.inner.lock().read_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.lock().live.lookup(path).is_ok()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.lock().remove(path, false)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.lock().remove(path, true)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.lock().rename(from, to)
    }

    /// fsync a directory. Unlike Linux, a path naming a file is `NotADirectory`.
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.lock().sync_dir(path)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        let mut inner = self.inner.lock();
        let file = inner.open_or_create(path, Existing::Keep)?;
        if !inner.locks.insert(file) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "lock held by another handle"));
        }
        Ok(Box::new(SimLock { inner: Arc::clone(&self.inner), file }))
    }
}

/// An open file of a [`SimVfs`]; it follows its inode across renames and unlinks.
struct SimFile {
    inner: Arc<Mutex<Inner>>,
    file: u64,
    path: PathBuf,
    writable: bool,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile").field("path", &self.path).field("writable", &self.writable).finish()
    }
}

impl SimFile {
    fn check_writable(&self, kind: io::ErrorKind) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(fs_err(kind, &self.path))
        }
    }
}

impl VfsFile for SimFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let inner = self.inner.lock();
        let content = inner.live.content(self.file)?;
        let start = usize::try_from(offset).ok();
        let src = start.and_then(|s| content.get(s..s.checked_add(buf.len())?));
        let src = src.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "failed to fill whole buffer"))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.check_writable(io::ErrorKind::PermissionDenied)?;
        let end = checked_end(offset, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        let start = end.saturating_sub(buf.len());
        let data = Bytes::copy_from_slice(buf);
        let desc = SimOp::Write { path: self.path.clone(), offset, data: data.clone() };
        self.inner.lock().record(Op::Write { file: self.file, offset: start, data }, desc);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut inner = self.inner.lock();
        inner.live.content(self.file)?;
        inner.record(Op::SyncData { file: self.file }, SimOp::SyncData { path: self.path.clone() });
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check_writable(io::ErrorKind::InvalidInput)?;
        let new_len = checked_end(len, 0)?;
        self.inner
            .lock()
            .record(Op::SetLen { file: self.file, len: new_len }, SimOp::SetLen { path: self.path.clone(), len });
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.inner.lock().live.content(self.file)?.len() as u64)
    }

    /// A snapshot of the current content (copy-on-write: later writes do not change it, and
    /// it stays valid after unlink).
    fn map(&self) -> io::Result<Bytes> {
        let content = Arc::clone(self.inner.lock().live.content(self.file)?);
        Ok(Bytes::from_owner(SharedContent(content)))
    }

    /// A copy of the range (so a growing file's later writes do not have to copy it).
    fn view(&self, range: Range<u64>, _reserve: u64) -> io::Result<Bytes> {
        let inner = self.inner.lock();
        let content = inner.live.content(self.file)?;
        let bytes = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(start, end)| content.get(start..end))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "view past the end of the file"))?;
        Ok(Bytes::copy_from_slice(bytes))
    }
}

/// Lets a `Bytes` own a shared file content without copying it.
struct SharedContent(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedContent {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// A held [`SimVfs`] lock; dropping it releases the lock.
struct SimLock {
    inner: Arc<Mutex<Inner>>,
    file: u64,
}

impl fmt::Debug for SimLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimLock").field("file", &self.file).finish()
    }
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.inner.lock().locks.remove(&self.file);
    }
}

impl LockGuard for SimLock {}
