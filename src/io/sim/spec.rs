//! The crash-state vocabulary: how the interrupted write lands ([`TailMode`]), which
//! directory changes ([`DirMode`]) and which file data ([`DataMode`]) survive, a crash point
//! ([`CrashSpec`]), a sweep over crash points ([`CrashSweep`]), a produced state
//! ([`CrashState`]) and the logged operations ([`SimOp`]).

use std::fmt;
use std::path::PathBuf;

use bytes::Bytes;

use super::SimVfs;
use crate::io::OpKind;

/// How the write interrupted by the crash (the `n`-th operation) reaches the disk. Ignored
/// when that operation is not a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TailMode {
    /// The whole write landed.
    #[default]
    Whole,
    /// Only the first `len` bytes landed (`len` at or above the write's length is `Whole`).
    Cut(usize),
    /// The write's range holds zeros (a preallocated or zero-filled torn tail).
    Zeroed,
    /// The write's range holds deterministic pseudo-random bytes from this seed.
    Garbage(u64),
    /// The write landed with one bit flipped: bit `index % (8 * len)` of the written bytes
    /// (bit 0 is the lowest bit of the first byte).
    BitFlip(u64),
}

/// Which directory-entry changes survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirMode {
    /// Every create, rename and remove before the crash point survives.
    #[default]
    KeepAll,
    /// Each directory reverts to its entries as of its last `sync_dir` before the crash point.
    DropUnsynced,
}

/// Which file data survives a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataMode {
    /// Every write (and `set_len`) before the crash point survives, in order; the last one
    /// per [`TailMode`].
    #[default]
    AllWritten,
    /// Each file reverts to exactly its content as of its last `sync_data` before the crash
    /// point (new files are empty). The tail mode has no effect. Use it to check that
    /// everything acknowledged after an fsync survives.
    SyncedOnly,
}

/// A fully specified crash point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashSpec {
    /// The crash strikes after this many logged operations (clamped to the log length).
    pub ops: usize,
    /// How the `ops`-th operation lands if it is a write.
    pub tail: TailMode,
    /// Which directory-entry changes survive.
    pub dir: DirMode,
    /// Which file data survives.
    pub data: DataMode,
}

impl CrashSpec {
    /// A crash after `ops` operations with the last one whole, every entry change kept and
    /// every write kept.
    pub fn at(ops: usize) -> CrashSpec {
        CrashSpec { ops, tail: TailMode::Whole, dir: DirMode::KeepAll, data: DataMode::AllWritten }
    }
}

/// What [`SimVfs::crash_states`] enumerates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashSweep {
    /// First crash point (number of operations applied); the sweep runs to the end of the log.
    pub from_op: usize,
    /// Cut lengths tried for each write: `0, step, 2*step, ...` below the write's length
    /// (the whole write is always tried). `1` is every byte; `0` tries no partial cuts.
    pub cut_step: usize,
    /// Also try each write zero-filled.
    pub zeroed: bool,
    /// Also try each write replaced by garbage (seeded by the op index).
    pub garbage: bool,
    /// Number of single-bit flips tried per write, spread evenly over its bits.
    pub bit_flips: usize,
    /// Directory modes tried for every tail variant. When `KeepAll` is listed, a
    /// `DropUnsynced` state is skipped if no directory has un-synced changes (it would be
    /// identical).
    pub dir_modes: Vec<DirMode>,
    /// Which file data survives. With `SyncedOnly` only whole operations are tried.
    pub data: DataMode,
}

impl Default for CrashSweep {
    /// Every byte of every write, zeroed, garbage and one bit flip, under both directory
    /// modes, with all writes kept.
    fn default() -> CrashSweep {
        CrashSweep {
            from_op: 0,
            cut_step: 1,
            zeroed: true,
            garbage: true,
            bit_flips: 1,
            dir_modes: vec![DirMode::KeepAll, DirMode::DropUnsynced],
            data: DataMode::AllWritten,
        }
    }
}

/// One crash state produced by [`SimVfs::crash_states`].
#[derive(Debug, Clone)]
pub struct CrashState {
    /// Human-readable description for failure messages, e.g.
    /// `"op 17/230 write /d/seg.log@4096+512 Cut(100) KeepAll"`.
    pub label: String,
    /// The crash point that produced the state.
    pub spec: CrashSpec,
    /// The file system as the power cut left it.
    pub vfs: SimVfs,
}

/// A logged mutating operation, for debugging and for locating crash points. Paths are as
/// the caller gave them; file-handle operations name the path the handle was opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimOp {
    /// A file was created, or an existing one truncated by `create`.
    Create {
        /// The file.
        path: PathBuf,
        /// True when an existing file was truncated rather than created.
        truncated: bool,
    },
    /// A directory was created.
    CreateDir {
        /// The directory.
        path: PathBuf,
    },
    /// A positional write.
    Write {
        /// The file.
        path: PathBuf,
        /// Byte offset of the write.
        offset: u64,
        /// The bytes written.
        data: Bytes,
    },
    /// A file's length was changed.
    SetLen {
        /// The file.
        path: PathBuf,
        /// The new length.
        len: u64,
    },
    /// `fdatasync` of a file.
    SyncData {
        /// The file.
        path: PathBuf,
    },
    /// fsync of a directory.
    SyncDir {
        /// The directory.
        path: PathBuf,
    },
    /// A rename.
    Rename {
        /// The old name.
        from: PathBuf,
        /// The new name.
        to: PathBuf,
    },
    /// A file was removed.
    Remove {
        /// The file.
        path: PathBuf,
    },
    /// A directory tree was removed.
    RemoveDirAll {
        /// The directory.
        path: PathBuf,
    },
}

impl SimOp {
    /// The I/O call kind of this operation.
    pub fn kind(&self) -> OpKind {
        match self {
            SimOp::Create { .. } => OpKind::Create,
            SimOp::CreateDir { .. } => OpKind::CreateDir,
            SimOp::Write { .. } => OpKind::Write,
            SimOp::SetLen { .. } => OpKind::SetLen,
            SimOp::SyncData { .. } => OpKind::SyncData,
            SimOp::SyncDir { .. } => OpKind::SyncDir,
            SimOp::Rename { .. } => OpKind::Rename,
            SimOp::Remove { .. } | SimOp::RemoveDirAll { .. } => OpKind::Remove,
        }
    }
}

impl fmt::Display for SimOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimOp::Create { path, truncated: false } => write!(f, "create {}", path.display()),
            SimOp::Create { path, truncated: true } => write!(f, "create {} (truncate)", path.display()),
            SimOp::CreateDir { path } => write!(f, "mkdir {}", path.display()),
            SimOp::Write { path, offset, data } => {
                write!(f, "write {}@{offset}+{}", path.display(), data.len())
            }
            SimOp::SetLen { path, len } => write!(f, "set_len {} {len}", path.display()),
            SimOp::SyncData { path } => write!(f, "fdatasync {}", path.display()),
            SimOp::SyncDir { path } => write!(f, "fsync dir {}", path.display()),
            SimOp::Rename { from, to } => {
                write!(f, "rename {} -> {}", from.display(), to.display())
            }
            SimOp::Remove { path } => write!(f, "remove {}", path.display()),
            SimOp::RemoveDirAll { path } => write!(f, "remove_dir_all {}", path.display()),
        }
    }
}
