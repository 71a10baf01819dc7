//! Fault-injecting file system wrapper.
//!
//! [`FaultVfs`] wraps any [`Vfs`] and counts every call by [`OpKind`], including the calls
//! made on the files it opens. A [`FaultPlan`] makes the N-th call of one kind (counted from
//! when the plan was set) fail, once or from then on, SQLite-style: sweep N until the
//! workload runs clean. Injected errors say `injected fault` in their message and are
//! recognised by [`is_injected`].
//!
//! Calls that cannot fail or have no [`OpKind`] (`exists`, `len`) are passed through
//! uncounted.
//!
//! ```
//! use shardlog::io::fault::{FaultError, FaultPlan, FaultVfs};
//! use shardlog::io::sim::SimVfs;
//! use shardlog::io::{OpKind, Vfs};
//! use std::path::Path;
//!
//! let fault = FaultVfs::new(SimVfs::new().shared());
//! fault.set_plan(FaultPlan::once(OpKind::SyncData, 2, FaultError::Other));
//! let f = fault.create_new(Path::new("f")).unwrap();
//! f.sync_data().unwrap();
//! assert!(f.sync_data().is_err());
//! f.sync_data().unwrap();
//! assert_eq!(fault.fired(), 1);
//! ```
//!
//! Parts: `plan` (what fails, and the error it produces) and `counter` (counting calls and
//! picking the one that fails); this module wraps the file system with them.

mod counter;
mod plan;

use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use counter::Faults;
pub use plan::{is_injected, FaultError, FaultMode, FaultPlan};

use super::{DirEntry, FileRef, LockGuard, OpKind, Vfs, VfsFile, VfsRef};

/// A [`Vfs`] wrapper that counts calls and fails the chosen one. Clones share counters and
/// plan; files it opens are wrapped too.
#[derive(Debug, Clone)]
pub struct FaultVfs {
    inner: VfsRef,
    faults: Faults,
}

impl FaultVfs {
    /// Wrap `inner`, with no plan (every call passes through, counted).
    pub fn new(inner: VfsRef) -> FaultVfs {
        FaultVfs { inner, faults: Faults::default() }
    }

    /// A shared `Vfs` handle onto this wrapper (same counters and plan).
    pub fn shared(&self) -> VfsRef {
        Arc::new(self.clone())
    }

    /// Replace the plan; its call count starts now.
    pub fn set_plan(&self, plan: FaultPlan) {
        self.faults.set_plan(Some(plan));
    }

    /// Remove the plan: no further faults.
    pub fn clear(&self) {
        self.faults.set_plan(None);
    }

    /// Calls of `kind` made since creation or the last [`reset_counts`](Self::reset_counts),
    /// failed ones included.
    pub fn calls(&self, kind: OpKind) -> u64 {
        self.faults.calls(kind)
    }

    /// Faults injected since creation or the last [`reset_counts`](Self::reset_counts).
    pub fn fired(&self) -> u64 {
        self.faults.fired()
    }

    /// Zero the call and fired counters. The plan and its own count are unchanged.
    pub fn reset_counts(&self) {
        self.faults.reset_counts();
    }

    fn wrap(&self, file: FileRef) -> FileRef {
        Arc::new(FaultFile { inner: file, faults: self.faults.clone() })
    }
}

impl Vfs for FaultVfs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.faults.check(OpKind::CreateDir)?;
        self.inner.create_dir_all(path)
    }

    fn create_new(&self, path: &Path) -> io::Result<FileRef> {
        self.faults.check(OpKind::Create)?;
        self.inner.create_new(path).map(|f| self.wrap(f))
    }

    fn create(&self, path: &Path) -> io::Result<FileRef> {
        self.faults.check(OpKind::Create)?;
        self.inner.create(path).map(|f| self.wrap(f))
    }

    fn open_rw(&self, path: &Path) -> io::Result<FileRef> {
        self.faults.check(OpKind::Open)?;
        self.inner.open_rw(path).map(|f| self.wrap(f))
    }

    fn open_read(&self, path: &Path) -> io::Result<FileRef> {
        self.faults.check(OpKind::Open)?;
        self.inner.open_read(path).map(|f| self.wrap(f))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.faults.check(OpKind::ReadDir)?;
        self.inner.read_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.faults.check(OpKind::Remove)?;
        self.inner.remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.faults.check(OpKind::Remove)?;
        self.inner.remove_dir_all(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.faults.check(OpKind::Rename)?;
        self.inner.rename(from, to)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.faults.check(OpKind::SyncDir)?;
        self.inner.sync_dir(path)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        self.faults.check(OpKind::Lock)?;
        self.inner.lock(path)
    }
}

/// A file opened through a [`FaultVfs`].
#[derive(Debug)]
struct FaultFile {
    inner: FileRef,
    faults: Faults,
}

impl VfsFile for FaultFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.faults.check(OpKind::Read)?;
        self.inner.read_exact_at(buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let Some(fault) = self.faults.hit(OpKind::Write) else {
            return self.inner.write_all_at(buf, offset);
        };
        if fault.error == FaultError::ShortWrite {
            let half = buf.get(..buf.len() / 2).unwrap_or_default();
            self.inner.write_all_at(half, offset)?;
        }
        Err(fault.into_io())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.faults.check(OpKind::SyncData)?;
        self.inner.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.faults.check(OpKind::SetLen)?;
        self.inner.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn map(&self) -> io::Result<Bytes> {
        self.faults.check(OpKind::Map)?;
        self.inner.map()
    }

    /// Counted as a `Read`: it is how an active segment is read.
    fn view(&self, range: std::ops::Range<u64>, reserve: u64) -> io::Result<Bytes> {
        self.faults.check(OpKind::Read)?;
        self.inner.view(range, reserve)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::sim::SimVfs;
    use crate::io::RealVfs;

    fn over_sim() -> (FaultVfs, SimVfs) {
        let sim = SimVfs::new();
        (FaultVfs::new(sim.shared()), sim)
    }

    #[test]
    fn once_fails_exactly_the_nth_call() {
        let (fault, _) = over_sim();
        let f = fault.create_new(Path::new("f")).unwrap();
        f.write_all_at(b"before", 0).unwrap(); // counted before the plan: does not count for it
        fault.set_plan(FaultPlan::once(OpKind::Write, 3, FaultError::Other));
        let results: Vec<bool> = (0..6).map(|i| f.write_all_at(b"x", i).is_ok()).collect();
        assert_eq!(results, [true, true, false, true, true, true]);
        assert_eq!(fault.fired(), 1);
        assert_eq!(fault.calls(OpKind::Write), 7);
    }

    #[test]
    fn forever_fails_every_call_from_the_nth_until_cleared() {
        let (fault, _) = over_sim();
        let f = fault.create_new(Path::new("f")).unwrap();
        fault.set_plan(FaultPlan::forever(OpKind::SyncData, 2, FaultError::Other));
        let results: Vec<bool> = (0..4).map(|_| f.sync_data().is_ok()).collect();
        assert_eq!(results, [true, false, false, false]);
        assert_eq!(fault.fired(), 3);
        fault.clear();
        f.sync_data().unwrap();
        // Other kinds are never affected.
        fault.set_plan(FaultPlan::forever(OpKind::Rename, 1, FaultError::Other));
        f.write_all_at(b"ok", 0).unwrap();
        assert!(fault.rename(Path::new("f"), Path::new("g")).is_err());
    }

    #[test]
    fn nth_counts_from_when_the_plan_is_set() {
        let (fault, _) = over_sim();
        for i in 0..3 {
            fault.create_dir_all(Path::new(&format!("d{i}"))).unwrap();
        }
        fault.set_plan(FaultPlan::once(OpKind::CreateDir, 2, FaultError::Other));
        fault.create_dir_all(Path::new("e1")).unwrap();
        assert!(fault.create_dir_all(Path::new("e2")).is_err());
        assert!(!fault.exists(Path::new("e2")), "a failed call must not reach the inner Vfs");
        // Setting a plan again restarts its count; nth 0 acts as 1.
        fault.set_plan(FaultPlan::once(OpKind::CreateDir, 0, FaultError::Other));
        assert!(fault.create_dir_all(Path::new("e3")).is_err());
        fault.create_dir_all(Path::new("e4")).unwrap();
    }

    #[test]
    fn errors_are_recognisable() {
        let (fault, _) = over_sim();
        fault.set_plan(FaultPlan::once(OpKind::Create, 1, FaultError::NoSpace));
        let err = fault.create_new(Path::new("f")).unwrap_err();
        assert!(is_injected(&err));
        assert!(err.to_string().contains("injected fault"), "{err}");
        assert!(crate::error::is_enospc(&err));
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        let os = err.get_ref().and_then(|e| e.source()).and_then(|s| s.downcast_ref::<io::Error>());
        assert_eq!(os.and_then(io::Error::raw_os_error), Some(28));

        fault.set_plan(FaultPlan::once(OpKind::Open, 1, FaultError::Other));
        let err = fault.open_read(Path::new("f")).unwrap_err();
        assert!(is_injected(&err) && err.to_string().contains("injected fault: I/O error on open call #1"), "{err}");
        // A genuine error of the inner Vfs is not mistaken for an injected one.
        let err = fault.open_read(Path::new("missing")).unwrap_err();
        assert!(!is_injected(&err) && err.kind() == io::ErrorKind::NotFound);
    }

    #[test]
    fn short_write_writes_the_first_half() {
        let (fault, sim) = over_sim();
        let f = fault.create_new(Path::new("f")).unwrap();
        fault.set_plan(FaultPlan::once(OpKind::Write, 1, FaultError::ShortWrite));
        let err = f.write_all_at(b"0123456789", 2).unwrap_err();
        assert!(is_injected(&err) && err.kind() == io::ErrorKind::WriteZero);
        assert_eq!(sim.file_content(Path::new("f")).unwrap(), b"\x00\x0001234");
        // ShortWrite on another kind is a plain failure.
        fault.set_plan(FaultPlan::once(OpKind::SyncData, 1, FaultError::ShortWrite));
        assert_eq!(f.sync_data().unwrap_err().kind(), io::ErrorKind::Other);
    }

    #[test]
    fn counts_every_kind_and_resets() {
        let (fault, _) = over_sim();
        let vfs = fault.shared();
        vfs.create_dir_all(Path::new("d")).unwrap();
        let f = vfs.create_new(Path::new("d/f")).unwrap();
        let _ = vfs.create(Path::new("d/g")).unwrap();
        f.write_all_at(b"abc", 0).unwrap();
        let mut buf = [0; 3];
        f.read_exact_at(&mut buf, 0).unwrap();
        f.sync_data().unwrap();
        f.set_len(2).unwrap();
        f.map().unwrap();
        assert_eq!(f.len().unwrap(), 2);
        let r = vfs.open_read(Path::new("d/f")).unwrap();
        r.read_exact_at(&mut buf[..2], 0).unwrap();
        vfs.open_rw(Path::new("d/f")).unwrap();
        vfs.read_dir(Path::new("d")).unwrap();
        vfs.sync_dir(Path::new("d")).unwrap();
        vfs.rename(Path::new("d/g"), Path::new("d/h")).unwrap();
        vfs.remove_file(Path::new("d/h")).unwrap();
        let guard = vfs.lock(Path::new("d/LOCK")).unwrap();
        assert!(vfs.lock(Path::new("d/LOCK")).is_err());
        drop(guard);
        vfs.remove_dir_all(Path::new("d")).unwrap();
        assert!(!vfs.exists(Path::new("d")));

        let counts: Vec<(OpKind, u64)> = OpKind::ALL.iter().map(|k| (*k, fault.calls(*k))).collect();
        assert_eq!(
            counts,
            [
                (OpKind::Create, 2),
                (OpKind::Open, 2),
                (OpKind::Write, 1),
                (OpKind::Read, 2),
                (OpKind::SyncData, 1),
                (OpKind::SyncDir, 1),
                (OpKind::SetLen, 1),
                (OpKind::Rename, 1),
                (OpKind::Remove, 2),
                (OpKind::CreateDir, 1),
                (OpKind::ReadDir, 1),
                (OpKind::Map, 1),
                (OpKind::Lock, 2),
            ]
        );
        assert_eq!(fault.fired(), 0);
        fault.reset_counts();
        assert!(OpKind::ALL.iter().all(|k| fault.calls(*k) == 0));
    }

    #[test]
    fn works_over_the_real_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultVfs::new(RealVfs::shared());
        let path = dir.path().join("seg");
        let f = fault.create_new(&path).unwrap();
        f.write_all_at(b"good", 0).unwrap();
        fault.set_plan(FaultPlan::once(OpKind::Write, 1, FaultError::ShortWrite));
        assert!(is_injected(&f.write_all_at(b"ABCDEF", 4).unwrap_err()));
        assert_eq!(std::fs::read(&path).unwrap(), b"goodABC");

        fault.set_plan(FaultPlan::forever(OpKind::SyncData, 1, FaultError::NoSpace));
        for _ in 0..2 {
            assert!(crate::error::is_enospc(&f.sync_data().unwrap_err()));
        }
        fault.set_plan(FaultPlan::once(OpKind::SyncDir, 1, FaultError::Other));
        assert!(fault.sync_dir(dir.path()).is_err());
        fault.sync_dir(dir.path()).unwrap();
        fault.clear();
        f.sync_data().unwrap();
        assert_eq!(fault.fired(), 4);
        assert_eq!(fault.calls(OpKind::Write), 2);
        assert_eq!(fault.calls(OpKind::SyncData), 3);
    }
}
