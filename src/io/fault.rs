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

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::{DirEntry, FileRef, LockGuard, OpKind, Vfs, VfsFile, VfsRef};

/// Whether a plan fails one call or every call from the N-th on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Fail only the N-th call.
    Once,
    /// Fail the N-th call and every later call of the kind, until the plan is cleared.
    Forever,
}

/// The error an injected fault produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    /// A generic I/O error (`ErrorKind::Other`).
    Other,
    /// Disk full: `ErrorKind::StorageFull`, with an `ENOSPC` OS error as its source.
    NoSpace,
    /// For `Write`: the first half of the buffer is written, then the call fails with
    /// `ErrorKind::WriteZero`. Other kinds fail as [`FaultError::Other`].
    ShortWrite,
}

/// Which call to fail, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    /// The kind of call to fail.
    pub kind: OpKind,
    /// 1-based: fail the `nth` call of `kind` counted from when the plan was set (0 acts
    /// as 1).
    pub nth: u64,
    /// Once or forever.
    pub mode: FaultMode,
    /// The error to inject.
    pub error: FaultError,
}

impl FaultPlan {
    /// Fail only the `nth` call of `kind`.
    pub fn once(kind: OpKind, nth: u64, error: FaultError) -> FaultPlan {
        FaultPlan { kind, nth, mode: FaultMode::Once, error }
    }

    /// Fail the `nth` call of `kind` and every later one.
    pub fn forever(kind: OpKind, nth: u64, error: FaultError) -> FaultPlan {
        FaultPlan { kind, nth, mode: FaultMode::Forever, error }
    }
}

/// True if `error` was produced by a [`FaultVfs`].
pub fn is_injected(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<InjectedFault>())
}

/// The payload of an injected `io::Error`.
#[derive(Debug)]
struct InjectedFault {
    kind: OpKind,
    call: u64,
    error: FaultError,
    /// The OS error it stands for (`ENOSPC` for `NoSpace`).
    os: Option<io::Error>,
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.error {
            FaultError::Other => "I/O error",
            FaultError::NoSpace => "no space left on device (ENOSPC)",
            FaultError::ShortWrite => "short write",
        };
        write!(f, "injected fault: {what} on {} call #{}", self.kind.name(), self.call)
    }
}

impl StdError for InjectedFault {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.os.as_ref().map(|e| e as &(dyn StdError + 'static))
    }
}

/// A fault that fired: which call, and the error to return for it.
#[derive(Debug, Clone, Copy)]
struct Fault {
    kind: OpKind,
    call: u64,
    error: FaultError,
}

impl Fault {
    fn into_io(self) -> io::Error {
        let (kind, os) = match (self.error, self.kind) {
            (FaultError::NoSpace, _) => (io::ErrorKind::StorageFull, Some(io::Error::from_raw_os_error(28))),
            (FaultError::ShortWrite, OpKind::Write) => (io::ErrorKind::WriteZero, None),
            (FaultError::Other | FaultError::ShortWrite, _) => (io::ErrorKind::Other, None),
        };
        io::Error::new(kind, InjectedFault { kind: self.kind, call: self.call, error: self.error, os })
    }
}

#[derive(Debug, Default)]
struct State {
    calls: HashMap<OpKind, u64>,
    /// The plan and the number of matching calls seen since it was set.
    plan: Option<(FaultPlan, u64)>,
    fired: u64,
}

impl State {
    /// Count a call of `kind`; the fault to inject, if the plan says this call fails.
    fn hit(&mut self, kind: OpKind) -> Option<Fault> {
        let calls = self.calls.entry(kind).or_insert(0);
        *calls = calls.saturating_add(1);
        let call = *calls;
        let (plan, seen) = self.plan.as_mut().filter(|(plan, _)| plan.kind == kind)?;
        *seen = seen.saturating_add(1);
        let nth = plan.nth.max(1);
        let fails = match plan.mode {
            FaultMode::Once => *seen == nth,
            FaultMode::Forever => *seen >= nth,
        };
        if !fails {
            return None;
        }
        let error = plan.error;
        self.fired = self.fired.saturating_add(1);
        Some(Fault { kind, call, error })
    }
}

/// Shared fault state: counters and the active plan.
#[derive(Debug, Clone, Default)]
struct Faults(Arc<Mutex<State>>);

impl Faults {
    /// Count a call of `kind`; the fault to inject, if the plan says this call fails.
    fn hit(&self, kind: OpKind) -> Option<Fault> {
        self.0.lock().hit(kind)
    }

    /// Count a call of `kind` and fail it if the plan says so.
    fn check(&self, kind: OpKind) -> io::Result<()> {
        self.hit(kind).map_or(Ok(()), |fault| Err(fault.into_io()))
    }
}

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
        self.faults.0.lock().plan = Some((plan, 0));
    }

    /// Remove the plan: no further faults.
    pub fn clear(&self) {
        self.faults.0.lock().plan = None;
    }

    /// Calls of `kind` made since creation or the last [`reset_counts`](Self::reset_counts),
    /// failed ones included.
    pub fn calls(&self, kind: OpKind) -> u64 {
        self.faults.0.lock().calls.get(&kind).copied().unwrap_or(0)
    }

    /// Faults injected since creation or the last [`reset_counts`](Self::reset_counts).
    pub fn fired(&self) -> u64 {
        self.faults.0.lock().fired
    }

    /// Zero the call and fired counters. The plan and its own count are unchanged.
    pub fn reset_counts(&self) {
        let mut state = self.faults.0.lock();
        state.calls.clear();
        state.fired = 0;
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
