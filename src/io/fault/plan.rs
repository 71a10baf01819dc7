//! What fails and how: [`FaultPlan`] (which call, once or forever) and the `io::Error` an
//! injected fault produces, recognised by [`is_injected`].

use std::error::Error as StdError;
use std::fmt;
use std::io;

use crate::io::OpKind;

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

/// True if `error` was produced by a [`FaultVfs`](super::FaultVfs).
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
pub(super) struct Fault {
    pub(super) kind: OpKind,
    pub(super) call: u64,
    pub(super) error: FaultError,
}

impl Fault {
    pub(super) fn into_io(self) -> io::Error {
        let (kind, os) = match (self.error, self.kind) {
            (FaultError::NoSpace, _) => (io::ErrorKind::StorageFull, Some(io::Error::from_raw_os_error(28))),
            (FaultError::ShortWrite, OpKind::Write) => (io::ErrorKind::WriteZero, None),
            (FaultError::Other | FaultError::ShortWrite, _) => (io::ErrorKind::Other, None),
        };
        io::Error::new(kind, InjectedFault { kind: self.kind, call: self.call, error: self.error, os })
    }
}
