//! In-memory crash-simulating file system.
//!
//! [`SimVfs`] behaves like a Linux file system held in memory and records every mutating
//! call in one global, ordered log. From that log it produces the states a power cut could
//! leave on disk (reliability.md, "Crash at every byte" and "Multi-file crash states").
//!
//! # Durability model (the weakest common Linux behaviour)
//!
//! - **File data.** Each file has a *synced* content (as of its last `sync_data`) and a
//!   *live* content. A crash keeps either every write issued before the crash point, in order
//!   ([`Durability::AllWritten`]: a prefix of the write order survives) or only the synced
//!   content ([`Durability::SyncedOnly`]). The write the crash interrupts can be torn
//!   ([`TailMode`]).
//! - **Directory entries.** Each directory has *synced* entries (as of its last `sync_dir`)
//!   and *live* entries. Creates, renames, removes and sub-directory creates become durable
//!   only when their directory is synced. [`DirMode::KeepAll`] keeps every entry change,
//!   [`DirMode::DropUnsynced`] reverts each directory to its synced entries: an un-synced
//!   create vanishes, an un-synced rename reverts, an un-synced remove reappears with the
//!   content its file had. A rename between two directories touches both, independently.
//! - Files and directories are inodes: a handle keeps writing to its file after a rename or
//!   unlink, and a crash state holds only what is reachable from the roots (`/` for
//!   absolute paths, the empty path for relative ones; both always exist).
//!
//! # Producing crash states
//!
//! `crash*` methods replay the first `n` logged operations onto the state the `SimVfs`
//! started from, apply the `n`-th per [`TailMode`], then keep the live or synced view of
//! each file and directory. The result is a fresh `SimVfs` whose whole content is its
//! durable baseline and whose log is empty. [`SimVfs::crash_states`] sweeps every op index
//! and tail variant in one forward pass (cheap: file contents are shared copy-on-write).
//!
//! ```
//! use shardlog::io::sim::{CrashSweep, SimVfs, TailMode};
//! use shardlog::io::Vfs;
//! use std::path::Path;
//!
//! let sim = SimVfs::new();
//! sim.create_dir_all(Path::new("/d")).unwrap();
//! let f = sim.create_new(Path::new("/d/seg")).unwrap();
//! f.write_all_at(b"hello", 0).unwrap();
//! f.sync_data().unwrap();
//! sim.sync_dir(Path::new("/d")).unwrap();
//!
//! let torn = sim.crash_at(3, TailMode::Cut(2));
//! assert_eq!(torn.file_content(Path::new("/d/seg")).unwrap(), b"he");
//! for state in sim.crash_states(&CrashSweep::default()) {
//!     let _ = (state.label, state.vfs); // reopen the engine on state.vfs and check it
//! }
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::{DirEntry, FileRef, LockGuard, OpKind, Vfs, VfsFile, VfsRef};

/// Inode of the root of absolute paths (`/`).
const ABS_ROOT: u64 = 0;
/// Inode of the root of relative paths (the working directory).
const REL_ROOT: u64 = 1;
/// First inode number handed out to files and directories.
const FIRST_FREE_ID: u64 = 2;
/// Largest file the simulation accepts (`EFBIG` beyond), so no input can exhaust memory.
const MAX_FILE_SIZE: u64 = 1 << 32;

// ---------------------------------------------------------------------------------------
// Public crash-state vocabulary
// ---------------------------------------------------------------------------------------

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
pub enum Durability {
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
    pub durability: Durability,
}

impl CrashSpec {
    /// A crash after `ops` operations with the last one whole, every entry change kept and
    /// every write kept.
    pub fn at(ops: usize) -> CrashSpec {
        CrashSpec { ops, tail: TailMode::Whole, dir: DirMode::KeepAll, durability: Durability::AllWritten }
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
    pub durability: Durability,
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
            durability: Durability::AllWritten,
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

// ---------------------------------------------------------------------------------------
// The model: inodes with live and synced views, and id-based operations on them
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    File(u64),
    Dir(u64),
}

type Entries = BTreeMap<String, Node>;

#[derive(Debug, Clone, Default)]
struct DirNode {
    live: Entries,
    synced: Entries,
}

/// File contents are shared copy-on-write, so cloning a world or syncing a file is cheap.
#[derive(Debug, Clone, Default)]
struct FileNode {
    live: Arc<Vec<u8>>,
    synced: Arc<Vec<u8>>,
}

/// A complete file-system image.
#[derive(Debug, Clone)]
struct World {
    dirs: HashMap<u64, DirNode>,
    files: HashMap<u64, FileNode>,
}

/// A mutating operation on inodes; replaying the log applies these.
#[derive(Debug, Clone)]
enum Op {
    CreateFile { dir: u64, name: String, file: u64 },
    Truncate { file: u64 },
    CreateDir { parent: u64, name: String, dir: u64 },
    Write { file: u64, offset: usize, data: Bytes },
    SetLen { file: u64, len: usize },
    SyncData { file: u64 },
    SyncDir { dir: u64 },
    Rename { from_dir: u64, from: String, to_dir: u64, to: String },
    Remove { dir: u64, name: String },
}

#[derive(Debug, Clone)]
struct Rec {
    op: Op,
    desc: SimOp,
}

impl World {
    fn empty() -> World {
        let dirs = [(ABS_ROOT, DirNode::default()), (REL_ROOT, DirNode::default())].into_iter().collect();
        World { dirs, files: HashMap::new() }
    }

    /// Apply one operation to the live views; a write is applied per `tail`. Operations
    /// whose inodes are missing are skipped (they cannot occur in a consistent log).
    fn apply(&mut self, op: &Op, tail: TailMode) {
        match op {
            Op::CreateFile { dir, name, file } => {
                self.files.insert(*file, FileNode::default());
                self.link(*dir, name, Node::File(*file));
            }
            Op::Truncate { file } => self.edit(*file, Vec::clear),
            Op::CreateDir { parent, name, dir } => {
                self.dirs.insert(*dir, DirNode::default());
                self.link(*parent, name, Node::Dir(*dir));
            }
            Op::Write { file, offset, data } => {
                let bytes = torn(data, tail);
                self.edit(*file, |content| write_at(content, *offset, &bytes));
            }
            Op::SetLen { file, len } => self.edit(*file, |content| content.resize(*len, 0)),
            Op::SyncData { file } => {
                if let Some(node) = self.files.get_mut(file) {
                    node.synced = Arc::clone(&node.live);
                }
            }
            Op::SyncDir { dir } => {
                if let Some(node) = self.dirs.get_mut(dir) {
                    node.synced = node.live.clone();
                }
            }
            Op::Rename { from_dir, from, to_dir, to } => {
                if let Some(node) = self.dirs.get_mut(from_dir).and_then(|d| d.live.remove(from)) {
                    self.link(*to_dir, to, node);
                }
            }
            Op::Remove { dir, name } => {
                if let Some(d) = self.dirs.get_mut(dir) {
                    d.live.remove(name);
                }
            }
        }
    }

    fn link(&mut self, dir: u64, name: &str, node: Node) {
        if let Some(d) = self.dirs.get_mut(&dir) {
            d.live.insert(name.to_owned(), node);
        }
    }

    fn edit(&mut self, file: u64, change: impl FnOnce(&mut Vec<u8>)) {
        if let Some(node) = self.files.get_mut(&file) {
            change(Arc::make_mut(&mut node.live));
        }
    }

    fn has_unsynced_dirs(&self) -> bool {
        self.dirs.values().any(|d| d.live != d.synced)
    }

    /// The image a crash leaves: the chosen view of every reachable directory and file,
    /// which becomes both the live and the synced content of the new image.
    fn settle(&self, dir_mode: DirMode, durability: Durability) -> World {
        let mut out = World { dirs: HashMap::new(), files: HashMap::new() };
        let mut stack = vec![ABS_ROOT, REL_ROOT];
        while let Some(id) = stack.pop() {
            if out.dirs.contains_key(&id) {
                continue;
            }
            let mut entries = match (self.dirs.get(&id), dir_mode) {
                (Some(d), DirMode::KeepAll) => d.live.clone(),
                (Some(d), DirMode::DropUnsynced) => d.synced.clone(),
                (None, _) => Entries::new(),
            };
            entries.retain(|_, node| match *node {
                Node::Dir(child) => {
                    stack.push(child);
                    true
                }
                Node::File(file) => match self.files.get(&file) {
                    Some(f) => {
                        let content = match durability {
                            Durability::AllWritten => Arc::clone(&f.live),
                            Durability::SyncedOnly => Arc::clone(&f.synced),
                        };
                        out.files.insert(file, FileNode { live: Arc::clone(&content), synced: content });
                        true
                    }
                    None => false,
                },
            });
            out.dirs.insert(id, DirNode { live: entries.clone(), synced: entries });
        }
        out
    }

    // --- path resolution on the live view ---

    fn entry(&self, dir: u64, name: &str) -> Option<Node> {
        self.dirs.get(&dir)?.live.get(name).copied()
    }

    fn walk(&self, root: u64, names: &[&str], path: &Path) -> io::Result<Node> {
        let mut node = Node::Dir(root);
        for name in names {
            let Node::Dir(dir) = node else {
                return Err(fs_err(io::ErrorKind::NotADirectory, path));
            };
            node = self.entry(dir, name).ok_or_else(|| fs_err(io::ErrorKind::NotFound, path))?;
        }
        Ok(node)
    }

    fn lookup(&self, path: &Path) -> io::Result<Node> {
        let (root, names) = parse(path)?;
        self.walk(root, &names, path)
    }

    /// The directory holding `path` and the final name; the directory must exist.
    fn parent_of<'p>(&self, path: &'p Path) -> io::Result<(u64, &'p str)> {
        let (root, names) = parse(path)?;
        let Some((name, parents)) = names.split_last() else {
            return Err(fs_err(io::ErrorKind::InvalidInput, path));
        };
        match self.walk(root, parents, path)? {
            Node::Dir(dir) => Ok((dir, name)),
            Node::File(_) => Err(fs_err(io::ErrorKind::NotADirectory, path)),
        }
    }

    /// True if `target` is `ancestor` or lies below it.
    fn dir_contains(&self, ancestor: u64, target: u64) -> bool {
        let mut stack = vec![ancestor];
        let mut seen = HashSet::new();
        while let Some(dir) = stack.pop() {
            if dir == target {
                return true;
            }
            if seen.insert(dir) {
                let children = self.dirs.get(&dir).into_iter().flat_map(|d| d.live.values());
                stack.extend(children.filter_map(|n| match n {
                    Node::Dir(d) => Some(*d),
                    Node::File(_) => None,
                }));
            }
        }
        false
    }

    fn content(&self, file: u64) -> io::Result<&Arc<Vec<u8>>> {
        self.files
            .get(&file)
            .map(|f| &f.live)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "stale SimVfs file handle"))
    }

    /// Every reachable file, with its path.
    fn files_by_path(&self) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        let mut stack = vec![(root_path(ABS_ROOT), ABS_ROOT), (root_path(REL_ROOT), REL_ROOT)];
        let mut seen = HashSet::new();
        while let Some((path, dir)) = stack.pop() {
            if !seen.insert(dir) {
                continue;
            }
            for (name, node) in self.dirs.get(&dir).into_iter().flat_map(|d| d.live.iter()) {
                match *node {
                    Node::Dir(child) => stack.push((path.join(name), child)),
                    Node::File(file) => out.push((path.join(name), file)),
                }
            }
        }
        out.sort();
        out
    }
}

/// The bytes a write leaves on disk under `tail`.
fn torn(data: &Bytes, tail: TailMode) -> Cow<'_, [u8]> {
    match tail {
        TailMode::Whole => Cow::Borrowed(data.as_ref()),
        TailMode::Cut(len) => Cow::Borrowed(data.get(..len).unwrap_or(data.as_ref())),
        TailMode::Zeroed => Cow::Owned(vec![0; data.len()]),
        TailMode::Garbage(seed) => Cow::Owned(garbage(seed, data.len())),
        TailMode::BitFlip(index) => {
            let mut bytes = data.to_vec();
            let bits = (bytes.len() as u64).saturating_mul(8);
            if let Some(bit) = index.checked_rem(bits) {
                let byte = usize::try_from(bit / 8).ok().and_then(|i| bytes.get_mut(i));
                if let Some(byte) = byte {
                    *byte ^= 1 << (bit % 8);
                }
            }
            Cow::Owned(bytes)
        }
    }
}

/// Deterministic pseudo-random bytes (splitmix64).
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let want = len - out.len();
        out.extend(z.to_le_bytes().into_iter().take(want));
    }
    out
}

/// Write `data` at `offset`, zero-filling any gap past the end.
fn write_at(content: &mut Vec<u8>, offset: usize, data: &[u8]) {
    let end = offset.saturating_add(data.len());
    if content.len() < end {
        content.resize(end, 0);
    }
    if let Some(dst) = content.get_mut(offset..end) {
        dst.copy_from_slice(data);
    }
}

/// Split a path into its root inode and names. Only `..` and non-UTF-8 names are refused.
fn parse(path: &Path) -> io::Result<(u64, Vec<&str>)> {
    if path.as_os_str().is_empty() {
        return Err(fs_err(io::ErrorKind::NotFound, path));
    }
    let mut root = REL_ROOT;
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            Component::RootDir => root = ABS_ROOT,
            Component::CurDir => {}
            Component::Normal(name) => {
                names.push(name.to_str().ok_or_else(|| fs_err(io::ErrorKind::InvalidInput, path))?)
            }
            Component::ParentDir | Component::Prefix(_) => {
                return Err(fs_err(io::ErrorKind::InvalidInput, path));
            }
        }
    }
    Ok((root, names))
}

fn root_path(root: u64) -> PathBuf {
    if root == ABS_ROOT {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }
}

fn fs_err(kind: io::ErrorKind, path: &Path) -> io::Error {
    io::Error::new(kind, format!("SimVfs: {kind} on {}", path.display()))
}

/// Validate a byte range of a file; the simulation refuses files above `MAX_FILE_SIZE`.
fn checked_end(offset: u64, len: usize) -> io::Result<usize> {
    let end = offset.checked_add(len as u64).filter(|end| *end <= MAX_FILE_SIZE);
    end.and_then(|end| usize::try_from(end).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::FileTooLarge, "SimVfs: file would exceed 4 GiB"))
}

/// Replay the first `n` operations onto `base`, the `n`-th per `tail`.
fn replay(base: &World, log: &[Rec], n: usize, tail: TailMode) -> World {
    let mut world = base.clone();
    let n = n.min(log.len());
    for (i, rec) in log.iter().take(n).enumerate() {
        world.apply(&rec.op, if i + 1 == n { tail } else { TailMode::Whole });
    }
    world
}

fn label(n: usize, total: usize, desc: Option<&SimOp>, spec: &CrashSpec) -> String {
    let what = desc.map_or_else(|| "initial state".to_owned(), ToString::to_string);
    let durability = match spec.durability {
        Durability::AllWritten => "",
        Durability::SyncedOnly => " SyncedOnly",
    };
    format!("op {n}/{total} {what} {:?} {:?}{durability}", spec.tail, spec.dir)
}

// ---------------------------------------------------------------------------------------
// The file system
// ---------------------------------------------------------------------------------------

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
/// share the same state. See the [module documentation](self) for the durability model.
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

    fn from_world(base: World, next_id: u64) -> SimVfs {
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
        SimVfs::from_world(world.settle(spec.dir, spec.durability), inner.next_id)
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
        self.crash(&CrashSpec { dir: DirMode::DropUnsynced, durability: Durability::SyncedOnly, ..CrashSpec::at(ops) })
    }

    /// Every crash state `sweep` asks for, lazily, in op order: for each crash point `n`
    /// from `sweep.from_op` to the current op count, each tail variant of the `n`-th
    /// operation (only `Whole` unless it is a write), under each directory mode. Later
    /// operations on this `SimVfs` do not affect the iterator.
    pub fn crash_states(&self, sweep: &CrashSweep) -> CrashStates {
        let inner = self.inner.lock();
        CrashStates {
            running: inner.base.clone(),
            applied: 0,
            log: inner.log.clone(),
            next_id: inner.next_id,
            sweep: sweep.clone(),
            current: None,
            pending: VecDeque::new(),
        }
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

// ---------------------------------------------------------------------------------------
// Enumeration
// ---------------------------------------------------------------------------------------

/// Iterator over crash states, from [`SimVfs::crash_states`]. It replays the log once,
/// forwards, so a full sweep costs one clone of the (copy-on-write) image per state.
#[derive(Debug)]
pub struct CrashStates {
    /// The image after `applied` operations.
    running: World,
    applied: usize,
    log: Vec<Rec>,
    next_id: u64,
    sweep: CrashSweep,
    /// The crash point whose variants are pending.
    current: Option<usize>,
    pending: VecDeque<(TailMode, DirMode)>,
}

impl CrashStates {
    /// The tail and directory variants to try at crash point `n` (`running` is the image
    /// after `n - 1` operations).
    fn variants(&self, n: usize) -> VecDeque<(TailMode, DirMode)> {
        let op = n.checked_sub(1).and_then(|i| self.log.get(i)).map(|rec| &rec.op);
        let mut tails = Vec::new();
        if let (Some(Op::Write { data, .. }), Durability::AllWritten) = (op, self.sweep.durability) {
            let len = data.len();
            if self.sweep.cut_step > 0 {
                tails.extend((0..len).step_by(self.sweep.cut_step).map(TailMode::Cut));
            }
            tails.push(TailMode::Whole);
            if self.sweep.zeroed {
                tails.push(TailMode::Zeroed);
            }
            if self.sweep.garbage {
                tails.push(TailMode::Garbage(n as u64));
            }
            let bits = (len as u128).saturating_mul(8);
            let flips = self.sweep.bit_flips as u128;
            let mut last = None;
            for i in 0..flips.min(bits) {
                let bit = (2 * i + 1) * bits / (2 * flips);
                if last != Some(bit) {
                    tails.push(TailMode::BitFlip(u64::try_from(bit).unwrap_or(0)));
                    last = Some(bit);
                }
            }
        } else {
            tails.push(TailMode::Whole);
        }

        let dirty = match op {
            Some(op) => {
                let mut after = self.running.clone();
                after.apply(op, TailMode::Whole);
                after.has_unsynced_dirs()
            }
            None => self.running.has_unsynced_dirs(),
        };
        let keep_all_listed = self.sweep.dir_modes.contains(&DirMode::KeepAll);
        let dirs: Vec<DirMode> = self
            .sweep
            .dir_modes
            .iter()
            .copied()
            .filter(|mode| *mode != DirMode::DropUnsynced || dirty || !keep_all_listed)
            .collect();
        tails.iter().flat_map(|tail| dirs.iter().map(move |dir| (*tail, *dir))).collect()
    }

    fn make(&self, n: usize, tail: TailMode, dir: DirMode) -> CrashState {
        let spec = CrashSpec { ops: n, tail, dir, durability: self.sweep.durability };
        let rec = n.checked_sub(1).and_then(|i| self.log.get(i));
        let settled = match rec {
            Some(rec) => {
                let mut world = self.running.clone();
                world.apply(&rec.op, tail);
                world.settle(dir, spec.durability)
            }
            None => self.running.settle(dir, spec.durability),
        };
        CrashState {
            label: label(n, self.log.len(), rec.map(|r| &r.desc), &spec),
            spec,
            vfs: SimVfs::from_world(settled, self.next_id),
        }
    }
}

impl Iterator for CrashStates {
    type Item = CrashState;

    fn next(&mut self) -> Option<CrashState> {
        loop {
            if let Some(n) = self.current {
                if let Some((tail, dir)) = self.pending.pop_front() {
                    return Some(self.make(n, tail, dir));
                }
            }
            let n = match self.current {
                None => self.sweep.from_op,
                Some(n) => n.checked_add(1)?,
            };
            if n > self.log.len() {
                return None;
            }
            while self.applied + 1 < n {
                if let Some(rec) = self.log.get(self.applied) {
                    self.running.apply(&rec.op, TailMode::Whole);
                }
                self.applied += 1;
            }
            self.current = Some(n);
            self.pending = self.variants(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> &Path {
        Path::new(s)
    }

    /// `/d` exists and is durable; the log is empty.
    fn fresh() -> SimVfs {
        let sim = SimVfs::new();
        sim.create_dir_all(p("/d")).unwrap();
        sim.sync_dir(p("/")).unwrap();
        sim.crash_at(sim.op_count(), TailMode::Whole)
    }

    fn content(sim: &SimVfs, path: &str) -> Option<Vec<u8>> {
        sim.file_content(p(path))
    }

    #[test]
    fn linux_semantics() {
        let sim = fresh();
        assert_eq!(sim.create_new(p("/nodir/x")).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(sim.open_rw(p("/d/missing")).unwrap_err().kind(), io::ErrorKind::NotFound);
        let f = sim.create_new(p("/d/b")).unwrap();
        assert_eq!(sim.create_new(p("/d/b")).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        f.write_all_at(b"xy", 4).unwrap();
        assert_eq!(content(&sim, "/d/b").unwrap(), b"\0\0\0\0xy");
        assert_eq!(f.len().unwrap(), 6);
        let mut buf = [0u8; 3];
        assert_eq!(f.read_exact_at(&mut buf, 4).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        f.read_exact_at(&mut buf, 3).unwrap();
        assert_eq!(&buf, b"\0xy");
        f.set_len(2).unwrap();
        assert_eq!(content(&sim, "/d/b").unwrap(), b"\0\0");

        sim.create_new(p("/d/a")).unwrap().write_all_at(b"A", 0).unwrap();
        sim.create_dir_all(p("/d/c/e/")).unwrap();
        let names: Vec<_> = sim.read_dir(p("/d/")).unwrap().into_iter().map(|e| (e.name, e.is_dir)).collect();
        assert_eq!(names, [("a".into(), false), ("b".into(), false), ("c".into(), true)]);
        assert_eq!(sim.read_dir(p("/d/a")).unwrap_err().kind(), io::ErrorKind::NotADirectory);

        sim.rename(p("/d/a"), p("/d/b")).unwrap();
        assert_eq!(content(&sim, "/d/b").unwrap(), b"A");
        assert!(!sim.exists(p("/d/a")));
        assert_eq!(sim.rename(p("/d/b"), p("/d/c")).unwrap_err().kind(), io::ErrorKind::IsADirectory);
        assert_eq!(sim.rename(p("/d/c"), p("/d/c/e/f")).unwrap_err().kind(), io::ErrorKind::InvalidInput);

        // The old handle follows the inode that was replaced; the new one follows the rename.
        f.write_all_at(b"zz", 0).unwrap();
        assert_eq!(content(&sim, "/d/b").unwrap(), b"A");

        sim.create_new(p("/d/c/e/g")).unwrap();
        assert_eq!(sim.remove_file(p("/d/c")).unwrap_err().kind(), io::ErrorKind::IsADirectory);
        sim.remove_dir_all(p("/d/c")).unwrap();
        assert!(!sim.exists(p("/d/c/e/g")));
        assert_eq!(sim.list_files(), [PathBuf::from("/d/b")]);
        let t = sim.create(p("/d/b")).unwrap();
        assert_eq!(t.len().unwrap(), 0);
        assert_eq!(
            sim.open_read(p("/d/b")).unwrap().write_all_at(b"x", 0).unwrap_err().kind(),
            io::ErrorKind::PermissionDenied
        );
        assert_eq!(f.write_all_at(b"x", u64::MAX).unwrap_err().kind(), io::ErrorKind::FileTooLarge);

        // Relative paths have their own root.
        sim.create_dir_all(p("rel/dir")).unwrap();
        sim.create_new(p("./rel/dir/f")).unwrap();
        assert!(sim.exists(p("rel/dir/f")));
        assert!(!sim.exists(p("")));
    }

    #[test]
    fn op_log_is_readable() {
        let sim = fresh();
        let f = sim.create_new(p("/d/seg.log")).unwrap();
        f.write_all_at(&[1; 512], 4096).unwrap();
        f.sync_data().unwrap();
        sim.sync_dir(p("/d")).unwrap();
        sim.rename(p("/d/seg.log"), p("/d/old.log")).unwrap();
        let ops: Vec<String> = sim.ops().iter().map(ToString::to_string).collect();
        assert_eq!(
            ops,
            [
                "create /d/seg.log",
                "write /d/seg.log@4096+512",
                "fdatasync /d/seg.log",
                "fsync dir /d",
                "rename /d/seg.log -> /d/old.log"
            ]
        );
        assert_eq!(sim.op_count(), 5);
        assert_eq!(sim.ops().get(1).map(SimOp::kind), Some(OpKind::Write));
    }

    #[test]
    fn synced_only_drops_unsynced_writes_and_keeps_synced_ones() {
        let sim = fresh();
        let f = sim.create_new(p("/d/f")).unwrap();
        sim.sync_dir(p("/d")).unwrap();
        f.write_all_at(b"acked", 0).unwrap();
        f.sync_data().unwrap();
        f.write_all_at(b"-lost", 5).unwrap();

        let cut = sim.power_cut();
        assert_eq!(content(&cut, "/d/f").unwrap(), b"acked");
        // With every write kept, the unsynced one is there too.
        assert_eq!(content(&sim.crash_at(sim.op_count(), TailMode::Whole), "/d/f").unwrap(), b"acked-lost");
        // Before the sync, nothing of the file's data is durable.
        let spec = CrashSpec { durability: Durability::SyncedOnly, ..CrashSpec::at(3) };
        assert_eq!(content(&sim.crash(&spec), "/d/f").unwrap(), b"");
        // A set_len after the sync is not durable either.
        f.set_len(1).unwrap();
        assert_eq!(content(&sim.power_cut(), "/d/f").unwrap(), b"acked");
    }

    #[test]
    fn every_prefix_of_the_write_order_survives() {
        let sim = fresh();
        let f = sim.create_new(p("/d/f")).unwrap();
        for i in 0..5u8 {
            f.write_all_at(&[b'a' + i], u64::from(i)).unwrap();
        }
        for n in 1..=6 {
            let state = sim.crash_at(n, TailMode::Whole);
            assert_eq!(content(&state, "/d/f").unwrap(), &b"abcde"[..n - 1]);
        }
        assert!(content(&sim.crash_at(0, TailMode::Whole), "/d/f").is_none());
        assert_eq!(content(&sim.crash_at(999, TailMode::Whole), "/d/f").unwrap(), b"abcde");
    }

    #[test]
    fn un_dir_synced_create_is_dropped_only_with_drop_unsynced() {
        let sim = fresh();
        let f = sim.create_new(p("/d/new")).unwrap();
        f.write_all_at(b"data", 0).unwrap();
        f.sync_data().unwrap();
        let n = sim.op_count();
        assert!(!sim.crash_at_with(n, TailMode::Whole, DirMode::DropUnsynced).exists(p("/d/new")));
        assert_eq!(content(&sim.crash_at_with(n, TailMode::Whole, DirMode::KeepAll), "/d/new").unwrap(), b"data");

        sim.sync_dir(p("/d")).unwrap();
        let durable = sim.crash_at_with(sim.op_count(), TailMode::Whole, DirMode::DropUnsynced);
        assert_eq!(content(&durable, "/d/new").unwrap(), b"data");
    }

    #[test]
    fn file_in_un_dir_synced_directory_is_dropped() {
        let sim = fresh();
        sim.create_dir_all(p("/d/shard")).unwrap();
        sim.create_new(p("/d/shard/seg")).unwrap();
        sim.sync_dir(p("/d/shard")).unwrap();
        assert!(!sim.power_cut().exists(p("/d/shard")));
        sim.sync_dir(p("/d")).unwrap();
        assert!(sim.power_cut().exists(p("/d/shard/seg")));
    }

    #[test]
    fn rename_before_dir_sync_reverts() {
        let sim = fresh();
        let old = sim.create_new(p("/d/MANIFEST")).unwrap();
        old.write_all_at(b"gen1", 0).unwrap();
        old.sync_data().unwrap();
        sim.sync_dir(p("/d")).unwrap();
        let tmp = sim.create_new(p("/d/MANIFEST.tmp")).unwrap();
        tmp.write_all_at(b"gen2", 0).unwrap();
        tmp.sync_data().unwrap();
        sim.rename(p("/d/MANIFEST.tmp"), p("/d/MANIFEST")).unwrap();

        let reverted = sim.crash_at_with(sim.op_count(), TailMode::Whole, DirMode::DropUnsynced);
        assert_eq!(content(&reverted, "/d/MANIFEST").unwrap(), b"gen1");
        assert!(!reverted.exists(p("/d/MANIFEST.tmp")));
        let kept = sim.crash_at_with(sim.op_count(), TailMode::Whole, DirMode::KeepAll);
        assert_eq!(content(&kept, "/d/MANIFEST").unwrap(), b"gen2");

        sim.sync_dir(p("/d")).unwrap();
        let durable = sim.power_cut();
        assert_eq!(content(&durable, "/d/MANIFEST").unwrap(), b"gen2");
        assert_eq!(durable.list_files(), [PathBuf::from("/d/MANIFEST")]);
    }

    #[test]
    fn un_dir_synced_remove_reappears_with_its_content() {
        let sim = fresh();
        let f = sim.create_new(p("/d/seg")).unwrap();
        f.write_all_at(b"old", 0).unwrap();
        f.sync_data().unwrap();
        sim.create_dir_all(p("/d/sub")).unwrap();
        sim.sync_dir(p("/d")).unwrap();
        sim.remove_file(p("/d/seg")).unwrap();
        sim.remove_dir_all(p("/d/sub")).unwrap();
        let n = sim.op_count();
        let back = sim.crash_at_with(n, TailMode::Whole, DirMode::DropUnsynced);
        assert_eq!(content(&back, "/d/seg").unwrap(), b"old");
        assert!(back.exists(p("/d/sub")));
        let gone = sim.crash_at_with(n, TailMode::Whole, DirMode::KeepAll);
        assert!(!gone.exists(p("/d/seg")) && !gone.exists(p("/d/sub")));
    }

    #[test]
    fn torn_write_variants() {
        let sim = fresh();
        let f = sim.create_new(p("/d/f")).unwrap();
        f.write_all_at(b"head", 0).unwrap();
        f.write_all_at(b"TAIL", 4).unwrap();
        let n = sim.op_count();
        let tail = |mode| content(&sim.crash_at(n, mode), "/d/f").unwrap();
        assert_eq!(tail(TailMode::Whole), b"headTAIL");
        assert_eq!(tail(TailMode::Cut(0)), b"head");
        assert_eq!(tail(TailMode::Cut(2)), b"headTA");
        assert_eq!(tail(TailMode::Cut(100)), b"headTAIL");
        assert_eq!(tail(TailMode::Zeroed), b"head\0\0\0\0");
        let g1 = tail(TailMode::Garbage(7));
        assert_eq!(g1.len(), 8);
        assert_eq!(&g1[..4], b"head");
        assert_ne!(&g1[4..], b"TAIL");
        assert_eq!(g1, tail(TailMode::Garbage(7)));
        assert_ne!(g1, tail(TailMode::Garbage(8)));
        let flipped = tail(TailMode::BitFlip(9));
        assert_eq!(flipped, b"headTCIL"); // bit 9 = bit 1 of byte 1: 'A' (0x41) -> 'C' (0x43)
        assert_eq!(tail(TailMode::BitFlip(9 + 32)), flipped);
        // The torn variant applies only to the n-th op: earlier writes stay whole.
        assert_eq!(content(&sim.crash_at(n - 1, TailMode::Cut(1)), "/d/f").unwrap(), b"h");
        // Tails are ignored under SyncedOnly and for ops that are not writes.
        let spec = CrashSpec { tail: TailMode::Zeroed, durability: Durability::SyncedOnly, ..CrashSpec::at(n) };
        assert_eq!(content(&sim.crash(&spec), "/d/f").unwrap(), b"");
        f.sync_data().unwrap();
        assert_eq!(content(&sim.crash_at(n + 1, TailMode::Zeroed), "/d/f").unwrap(), b"headTAIL");
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let sim = fresh();
        let guard = sim.lock(p("/d/LOCK")).unwrap();
        assert!(sim.exists(p("/d/LOCK")));
        let clone = sim.clone();
        assert_eq!(clone.lock(p("/d/LOCK")).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert_eq!(sim.lock(p("/d//LOCK/")).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let other = sim.lock(p("/d/OTHER")).unwrap();
        drop(guard);
        let again = clone.lock(p("/d/LOCK")).unwrap();
        drop((again, other));
        // Locks are not part of a crash state.
        let _held = sim.lock(p("/d/LOCK")).unwrap();
        sim.crash_at(sim.op_count(), TailMode::Whole).lock(p("/d/LOCK")).unwrap();
    }

    #[test]
    fn map_is_a_snapshot_that_survives_remove() {
        let sim = fresh();
        let f = sim.create_new(p("/d/seg")).unwrap();
        f.write_all_at(b"sealed", 0).unwrap();
        let view = sim.open_read(p("/d/seg")).unwrap().map().unwrap();
        sim.remove_file(p("/d/seg")).unwrap();
        f.write_all_at(b"X", 0).unwrap();
        assert_eq!(&view[..], b"sealed");
        assert_eq!(f.map().unwrap(), &b"Xealed"[..]);
    }

    #[test]
    fn crash_state_is_a_fresh_durable_baseline() {
        let sim = fresh();
        let f = sim.create_new(p("/d/f")).unwrap();
        f.write_all_at(b"abc", 0).unwrap();
        let crashed = sim.crash_at(sim.op_count(), TailMode::Cut(1));
        assert_eq!(crashed.op_count(), 0);
        assert_eq!(content(&crashed.power_cut(), "/d/f").unwrap(), b"a");
        // The crashed file system is independent of the original.
        crashed.open_rw(p("/d/f")).unwrap().write_all_at(b"Z", 0).unwrap();
        assert_eq!(content(&sim, "/d/f").unwrap(), b"abc");
    }

    #[test]
    fn sweep_enumerates_every_variant_with_labels() {
        let sim = fresh();
        let f = sim.create_new(p("/d/seg.log")).unwrap();
        f.write_all_at(b"0123", 0).unwrap();
        f.sync_data().unwrap();
        sim.sync_dir(p("/d")).unwrap();
        let states: Vec<CrashState> = sim.crash_states(&CrashSweep::default()).collect();
        // n=0: 1 state; n=1 (create, dir dirty): 2; n=2 (write, dir dirty): (4 cuts + whole
        // + zeroed + garbage + flip) x 2 dirs = 16; n=3 (sync, dir dirty): 2; n=4: 1.
        assert_eq!(states.len(), 1 + 2 + 16 + 2 + 1);
        let labels: Vec<&str> = states.iter().map(|s| s.label.as_str()).collect();
        assert!(labels.contains(&"op 2/4 write /d/seg.log@0+4 Cut(3) DropUnsynced"), "{labels:?}");
        assert_eq!(labels.first(), Some(&"op 0/4 initial state Whole KeepAll"));
        for state in &states {
            assert_eq!(
                content(&state.vfs, "/d/seg.log"),
                content(&sim.crash(&state.spec), "/d/seg.log"),
                "{}",
                state.label
            );
        }
        let cut3 = states.iter().find(|s| s.spec.tail == TailMode::Cut(3) && s.spec.dir == DirMode::KeepAll).unwrap();
        assert_eq!(content(&cut3.vfs, "/d/seg.log").unwrap(), b"012");

        let coarse = CrashSweep {
            from_op: 2,
            cut_step: 3,
            zeroed: false,
            garbage: false,
            bit_flips: 0,
            dir_modes: vec![DirMode::KeepAll],
            durability: Durability::AllWritten,
        };
        let tails: Vec<TailMode> = sim.crash_states(&coarse).map(|s| s.spec.tail).collect();
        assert_eq!(tails, [TailMode::Cut(0), TailMode::Cut(3), TailMode::Whole, TailMode::Whole, TailMode::Whole]);
        let synced = CrashSweep { durability: Durability::SyncedOnly, ..CrashSweep::default() };
        assert_eq!(sim.crash_states(&synced).count(), 1 + 2 + 2 + 2 + 1);
    }

    #[test]
    fn thousands_of_crash_states_are_cheap() {
        let sim = fresh();
        let mut segment = 0;
        let mut f = sim.create_new(p("/d/seg-0")).unwrap();
        let mut pos = 0u64;
        for i in 0..60u64 {
            if pos >= 1000 {
                segment += 1;
                pos = 0;
                f = sim.create_new(&PathBuf::from(format!("/d/seg-{segment}"))).unwrap();
                f.sync_data().unwrap();
                sim.sync_dir(p("/d")).unwrap();
            }
            let record = vec![i as u8; 100];
            f.write_all_at(&record, pos).unwrap();
            f.sync_data().unwrap();
            pos += 100;
        }
        let start = std::time::Instant::now();
        let sweep = CrashSweep { dir_modes: vec![DirMode::KeepAll], ..CrashSweep::default() };
        let mut count = 0;
        for state in sim.crash_states(&sweep) {
            count += 1;
            assert!(state.vfs.list_files().len() <= segment + 1);
        }
        assert!(count > 6000, "{count}");
        assert!(start.elapsed().as_secs() < 30, "{count} states took {:?}", start.elapsed());
    }
}
