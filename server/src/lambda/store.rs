//! Crash-atomic persistence of the mapping definitions in `<data dir>/lambda/MAPPINGS`
//! (the checkpoints live in the engine's catalog, under each mapping's UUID).
//!
//! | bytes | type | field |
//! |---|---|---|
//! | 0..4 | [u8; 4] | magic `SLEM` |
//! | 4..6 | u16 | format version = 1 |
//! | 6..8 | u16 | reserved, 0 |
//! | 8..16 | u64 | generation (grows by one per commit) |
//! | 16..20 | u32 | body length |
//! | 20.. | | body: JSON `{"next_seq": N, "mappings": [MappingDef, …]}` |
//! | last 4 | u32 | CRC-32 of all preceding bytes |
//!
//! A commit writes `MAPPINGS.tmp`, fdatasyncs it, renames it over `MAPPINGS` and fsyncs the
//! directory, so after a crash the old or the new file is in force, never a mix; a leftover
//! temp file is removed at open. A file that fails any check is refused with an error naming
//! it and the check: the server does not start on damaged mapping state.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::MappingDef;

const MAGIC: &[u8; 4] = b"SLEM";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 20;
/// Largest accepted file (a mapping is well under 64 KiB; the server runs at most a few
/// thousand).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// The file's name.
pub const FILE_NAME: &str = "MAPPINGS";

/// What the file holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The next creation sequence number.
    pub next_seq: u64,
    /// Every mapping, in creation order.
    pub mappings: Vec<MappingDef>,
}

/// The mapping store of one data directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    generation: u64,
}

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The call.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is damaged.
    #[error("{path} is damaged: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What check failed.
        why: String,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { op, path: path.to_path_buf(), source }
}

impl Store {
    /// Open (creating `dir` if needed) and read the store.
    pub fn open(dir: &Path) -> Result<(Store, Snapshot), StoreError> {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io("create_dir", dir))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        if tmp.exists() {
            fs::remove_file(&tmp).map_err(io("remove", &tmp))?;
        }
        let path = dir.join(FILE_NAME);
        let mut store = Store { dir: dir.to_path_buf(), generation: 0 };
        if !path.exists() {
            return Ok((store, Snapshot::default()));
        }
        let mut f = File::open(&path).map_err(io("open", &path))?;
        let len = f.metadata().map_err(io("stat", &path))?.len();
        if len > MAX_FILE_BYTES {
            return Err(StoreError::Corrupt {
                path,
                why: format!("{len} bytes is over the {MAX_FILE_BYTES}-byte limit"),
            });
        }
        let mut buf = Vec::with_capacity(len as usize);
        f.read_to_end(&mut buf).map_err(io("read", &path))?;
        let (generation, snapshot) = decode(&buf).map_err(|why| StoreError::Corrupt { path, why })?;
        store.generation = generation;
        Ok((store, snapshot))
    }

    /// Make `snapshot` the durable state.
    pub fn commit(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let next = self.generation + 1;
        let bytes = encode(next, snapshot);
        let tmp = self.dir.join(format!("{FILE_NAME}.tmp"));
        let target = self.dir.join(FILE_NAME);
        let written = (|| {
            let mut f =
                OpenOptions::new().write(true).create(true).truncate(true).open(&tmp).map_err(io("create", &tmp))?;
            f.write_all(&bytes).map_err(io("write", &tmp))?;
            f.sync_data().map_err(io("fdatasync", &tmp))?;
            fs::rename(&tmp, &target).map_err(io("rename", &target))
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        sync_dir(&self.dir)?;
        self.generation = next;
        Ok(())
    }
}

/// fsync a directory (after a create or rename in it).
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("fsync", dir))
}

fn encode(generation: u64, snapshot: &Snapshot) -> Vec<u8> {
    // Serializing plain data into a Vec cannot fail.
    let body = serde_json::to_vec(snapshot).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn decode(buf: &[u8]) -> Result<(u64, Snapshot), String> {
    let short = || "the file is shorter than its header".to_string();
    let bytes = |range: std::ops::Range<usize>| buf.get(range).ok_or_else(short);
    if bytes(0..4)? != MAGIC {
        return Err("bad magic (not a shardlog mapping store)".into());
    }
    let version = u16::from_le_bytes(bytes(4..6)?.try_into().map_err(|_| short())?);
    if version != VERSION {
        return Err(format!("format version {version} is not supported (this build reads version {VERSION})"));
    }
    let generation = u64::from_le_bytes(bytes(8..16)?.try_into().map_err(|_| short())?);
    let len = u32::from_le_bytes(bytes(16..20)?.try_into().map_err(|_| short())?) as usize;
    if buf.len() != HEADER_LEN + len + 4 {
        return Err(format!("the file is {} bytes, its header says {}", buf.len(), HEADER_LEN + len + 4));
    }
    let (content, crc) = buf.split_at(HEADER_LEN + len);
    let stored = u32::from_le_bytes(crc.try_into().map_err(|_| short())?);
    if crc32fast::hash(content) != stored {
        return Err("CRC mismatch".into());
    }
    let body = content.get(HEADER_LEN..).unwrap_or_default();
    let snapshot: Snapshot = serde_json::from_slice(body).map_err(|e| format!("the body does not parse: {e}"))?;
    Ok((generation, snapshot))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::model::State;

    fn def(uuid: &str, seq: u64) -> MappingDef {
        MappingDef {
            uuid: uuid.into(),
            seq,
            event_source_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/s".into(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            enabled: true,
            state: State::Enabled,
            state_transition_reason: "User action".into(),
            last_modified_ms: 1,
            last_processing_result: "OK".into(),
            starting_position: "LATEST".into(),
            starting_position_timestamp_ms: None,
            batch_size: 100,
            maximum_batching_window_in_seconds: 0,
            parallelization_factor: 1,
            bisect_batch_on_function_error: false,
            maximum_retry_attempts: -1,
            maximum_record_age_in_seconds: -1,
            function_response_types: vec![],
            tumbling_window_in_seconds: 0,
            on_failure_destination: None,
            filter_patterns: Some(vec!["{}".into()]),
            metrics: None,
            tags: Default::default(),
            stream_creation_ms: Some(5),
        }
    }

    #[test]
    fn commits_survive_reopen_and_bump_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("lambda");
        let (mut store, snap) = Store::open(&d).unwrap();
        assert_eq!(snap, Snapshot::default());
        let s1 = Snapshot { next_seq: 2, mappings: vec![def("a", 0), def("b", 1)] };
        store.commit(&s1).unwrap();
        store.commit(&s1).unwrap();
        let (store2, back) = Store::open(&d).unwrap();
        assert_eq!(back, s1);
        assert_eq!(store2.generation, 2);
    }

    #[test]
    fn a_leftover_temp_file_is_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path()).unwrap();
        let s1 = Snapshot { next_seq: 1, mappings: vec![def("a", 0)] };
        store.commit(&s1).unwrap();
        // A crash after writing the temp file of the next commit, before its rename.
        fs::write(dir.path().join("MAPPINGS.tmp"), b"half-written").unwrap();
        let (_, back) = Store::open(dir.path()).unwrap();
        assert_eq!(back, s1);
        assert!(!dir.path().join("MAPPINGS.tmp").exists());
    }

    #[test]
    fn every_damaged_byte_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path()).unwrap();
        store.commit(&Snapshot { next_seq: 1, mappings: vec![def("a", 0)] }).unwrap();
        let path = dir.path().join(FILE_NAME);
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            fs::write(&path, &bad).unwrap();
            match Store::open(dir.path()) {
                Err(StoreError::Corrupt { path: p, .. }) => assert_eq!(p, path),
                other => panic!("flipping byte {i} gave {other:?}"),
            }
        }
        for cut in [0, 3, HEADER_LEN - 1, good.len() - 1] {
            fs::write(&path, &good[..cut]).unwrap();
            assert!(matches!(Store::open(dir.path()), Err(StoreError::Corrupt { .. })), "cut at {cut}");
        }
    }
}
