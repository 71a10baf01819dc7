//! The model behind [`SimVfs`](super::SimVfs): inodes with a live and a synced view, the
//! id-based operations on them, and replaying an operation log up to a crash point.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::spec::{CrashSpec, DataMode, DirMode, SimOp, TailMode};

/// Inode of the root of absolute paths (`/`).
pub(super) const ABS_ROOT: u64 = 0;
/// Inode of the root of relative paths (the working directory).
pub(super) const REL_ROOT: u64 = 1;
/// First inode number handed out to files and directories.
pub(super) const FIRST_FREE_ID: u64 = 2;
/// Largest file the simulation accepts (`EFBIG` beyond), so no input can exhaust memory.
pub(super) const MAX_FILE_SIZE: u64 = 1 << 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Node {
    File(u64),
    Dir(u64),
}

type Entries = BTreeMap<String, Node>;

#[derive(Debug, Clone, Default)]
pub(super) struct DirNode {
    pub(super) live: Entries,
    pub(super) synced: Entries,
}

/// File contents are shared copy-on-write, so cloning a world or syncing a file is cheap.
#[derive(Debug, Clone, Default)]
pub(super) struct FileNode {
    pub(super) live: Arc<Vec<u8>>,
    pub(super) synced: Arc<Vec<u8>>,
}

/// A complete file-system image.
#[derive(Debug, Clone)]
pub(super) struct World {
    pub(super) dirs: HashMap<u64, DirNode>,
    pub(super) files: HashMap<u64, FileNode>,
}

/// A mutating operation on inodes; replaying the log applies these.
#[derive(Debug, Clone)]
pub(super) enum Op {
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
pub(super) struct Rec {
    pub(super) op: Op,
    pub(super) desc: SimOp,
}

impl World {
    pub(super) fn empty() -> World {
        let dirs = [(ABS_ROOT, DirNode::default()), (REL_ROOT, DirNode::default())].into_iter().collect();
        World { dirs, files: HashMap::new() }
    }

    /// Apply one operation to the live views; a write is applied per `tail`. Operations
    /// whose inodes are missing are skipped (they cannot occur in a consistent log).
    pub(super) fn apply(&mut self, op: &Op, tail: TailMode) {
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

    pub(super) fn link(&mut self, dir: u64, name: &str, node: Node) {
        if let Some(d) = self.dirs.get_mut(&dir) {
            d.live.insert(name.to_owned(), node);
        }
    }

    pub(super) fn edit(&mut self, file: u64, change: impl FnOnce(&mut Vec<u8>)) {
        if let Some(node) = self.files.get_mut(&file) {
            change(Arc::make_mut(&mut node.live));
        }
    }

    pub(super) fn has_unsynced_dirs(&self) -> bool {
        self.dirs.values().any(|d| d.live != d.synced)
    }

    /// The image a crash leaves: the chosen view of every reachable directory and file,
    /// which becomes both the live and the synced content of the new image.
    pub(super) fn settle(&self, dir_mode: DirMode, data: DataMode) -> World {
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
                        let content = match data {
                            DataMode::AllWritten => Arc::clone(&f.live),
                            DataMode::SyncedOnly => Arc::clone(&f.synced),
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

    pub(super) fn entry(&self, dir: u64, name: &str) -> Option<Node> {
        self.dirs.get(&dir)?.live.get(name).copied()
    }

    pub(super) fn walk(&self, root: u64, names: &[&str], path: &Path) -> io::Result<Node> {
        let mut node = Node::Dir(root);
        for name in names {
            let Node::Dir(dir) = node else {
                return Err(fs_err(io::ErrorKind::NotADirectory, path));
            };
            node = self.entry(dir, name).ok_or_else(|| fs_err(io::ErrorKind::NotFound, path))?;
        }
        Ok(node)
    }

    pub(super) fn lookup(&self, path: &Path) -> io::Result<Node> {
        let (root, names) = parse(path)?;
        self.walk(root, &names, path)
    }

    /// The directory holding `path` and the final name; the directory must exist.
    pub(super) fn parent_of<'p>(&self, path: &'p Path) -> io::Result<(u64, &'p str)> {
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
    pub(super) fn dir_contains(&self, ancestor: u64, target: u64) -> bool {
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

    pub(super) fn content(&self, file: u64) -> io::Result<&Arc<Vec<u8>>> {
        self.files
            .get(&file)
            .map(|f| &f.live)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "stale SimVfs file handle"))
    }

    /// Every reachable file, with its path.
    pub(super) fn files_by_path(&self) -> Vec<(PathBuf, u64)> {
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
pub(super) fn torn(data: &Bytes, tail: TailMode) -> Cow<'_, [u8]> {
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
pub(super) fn garbage(seed: u64, len: usize) -> Vec<u8> {
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
pub(super) fn write_at(content: &mut Vec<u8>, offset: usize, data: &[u8]) {
    let end = offset.saturating_add(data.len());
    if content.len() < end {
        content.resize(end, 0);
    }
    if let Some(dst) = content.get_mut(offset..end) {
        dst.copy_from_slice(data);
    }
}

/// Split a path into its root inode and names. Only `..` and non-UTF-8 names are refused.
pub(super) fn parse(path: &Path) -> io::Result<(u64, Vec<&str>)> {
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

pub(super) fn root_path(root: u64) -> PathBuf {
    if root == ABS_ROOT {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }
}

pub(super) fn fs_err(kind: io::ErrorKind, path: &Path) -> io::Error {
    io::Error::new(kind, format!("SimVfs: {kind} on {}", path.display()))
}

/// Validate a byte range of a file; the simulation refuses files above `MAX_FILE_SIZE`.
pub(super) fn checked_end(offset: u64, len: usize) -> io::Result<usize> {
    let end = offset.checked_add(len as u64).filter(|end| *end <= MAX_FILE_SIZE);
    end.and_then(|end| usize::try_from(end).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::FileTooLarge, "SimVfs: file would exceed 4 GiB"))
}

/// Replay the first `n` operations onto `base`, the `n`-th per `tail`.
pub(super) fn replay(base: &World, log: &[Rec], n: usize, tail: TailMode) -> World {
    let mut world = base.clone();
    let n = n.min(log.len());
    for (i, rec) in log.iter().take(n).enumerate() {
        world.apply(&rec.op, if i + 1 == n { tail } else { TailMode::Whole });
    }
    world
}

pub(super) fn label(n: usize, total: usize, desc: Option<&SimOp>, spec: &CrashSpec) -> String {
    let what = desc.map_or_else(|| "initial state".to_owned(), ToString::to_string);
    let durability = match spec.data {
        DataMode::AllWritten => "",
        DataMode::SyncedOnly => " SyncedOnly",
    };
    format!("op {n}/{total} {what} {:?} {:?}{durability}", spec.tail, spec.dir)
}
