//! Crash-atomic persistence of the catalog in `<root>/MANIFEST`.
//!
//! A commit encodes the whole catalog with the next generation number, writes it to
//! `MANIFEST.tmp`, fdatasyncs it, renames it over `MANIFEST` and fsyncs the directory
//! (reliability rule 4). Only after that returns may anything the old manifest referred to be
//! deleted. A commit that fails before the rename leaves the old manifest in force (the temp
//! file is removed) and the store stays usable — this is how a full disk is survived. If the
//! directory fsync after the rename fails, the durable state is the old or the new manifest,
//! unknown which, so the store refuses further commits until the engine is reopened.

use std::path::{Path, PathBuf};

use crate::catalog::{codec, Catalog};
use crate::error::{Error, Result};
use crate::io::VfsRef;

/// Name of the manifest file.
pub const MANIFEST_FILE: &str = "MANIFEST";

/// The manifest of one data directory.
#[derive(Debug)]
pub struct ManifestStore {
    vfs: VfsRef,
    dir: PathBuf,
    generation: u64,
    poisoned: Option<String>,
}

impl ManifestStore {
    /// Read the manifest in `dir`, if there is one. A damaged manifest is `Corrupt`.
    pub fn open(vfs: VfsRef, dir: &Path) -> Result<(ManifestStore, Option<Catalog>)> {
        let path = dir.join(MANIFEST_FILE);
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        if vfs.exists(&tmp) {
            vfs.remove_file(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
        }
        let mut store = ManifestStore { vfs, dir: dir.to_path_buf(), generation: 0, poisoned: None };
        if !store.vfs.exists(&path) {
            return Ok((store, None));
        }
        let f = store.vfs.open_read(&path).map_err(|e| Error::io("open", &path, e))?;
        let len = f.len().map_err(|e| Error::io("stat", &path, e))?;
        if len > codec::MAX_MANIFEST_BYTES as u64 {
            return Err(Error::corrupt(&path, 0, format!("manifest of {len} bytes exceeds the limit")));
        }
        let mut buf = vec![0u8; len as usize];
        f.read_exact_at(&mut buf, 0).map_err(|e| Error::io("read", &path, e))?;
        let (generation, catalog) = codec::decode(&buf).map_err(|why| Error::corrupt(&path, 0, why))?;
        store.generation = generation;
        Ok((store, Some(catalog)))
    }

    /// True once a commit failed after its rename: the durable state is unknown until reopen.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// The generation of the last committed manifest (0 before the first commit).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Make `catalog` the durable state. On error the store refuses further commits.
    pub fn commit(&mut self, catalog: &Catalog) -> Result<()> {
        self.commit_or_retry(catalog, &|| false)
    }

    /// [`ManifestStore::commit`], where a step that could not *open* a file or the directory
    /// for lack of descriptors (`EMFILE`/`ENFILE`) calls `free` (which closes what it can)
    /// and, if it freed anything, is tried once more. Nothing was written or synced by the
    /// failed step, so this never retries an fsync.
    pub fn commit_or_retry(&mut self, catalog: &Catalog, free: &dyn Fn() -> bool) -> Result<()> {
        let retry = |e: &std::io::Error| crate::io::is_out_of_descriptors(e) && free();
        if let Some(cause) = &self.poisoned {
            return Err(Error::Poisoned { path: self.dir.clone(), cause: cause.clone() });
        }
        let next = self.generation + 1;
        let bytes = codec::encode(catalog, next);
        let tmp = self.dir.join(format!("{MANIFEST_FILE}.tmp"));
        let target = self.dir.join(MANIFEST_FILE);
        let created = match self.vfs.create(&tmp) {
            Err(e) if retry(&e) => self.vfs.create(&tmp),
            r => r,
        };
        let staged = created
            .map_err(|e| Error::io("create", &tmp, e))
            .and_then(|f| {
                f.write_all_at(&bytes, 0).map_err(|e| Error::io("write", &tmp, e))?;
                f.sync_data().map_err(|e| Error::io("fdatasync", &tmp, e))
            })
            .and_then(|()| self.vfs.rename(&tmp, &target).map_err(|e| Error::io("rename", &target, e)));
        if let Err(e) = staged {
            // The old manifest is still the one in force.
            let _ = self.vfs.remove_file(&tmp);
            return Err(e);
        }
        // Planted bug (reliability R9): without this directory fsync the rename may not be
        // durable when the caller goes on to delete what the old manifest referred to.
        #[cfg(not(feature = "canary-rename-without-dir-fsync"))]
        let synced = match self.vfs.sync_dir(&self.dir) {
            // The directory could not be opened: its fsync never ran.
            Err(e) if retry(&e) => self.vfs.sync_dir(&self.dir),
            r => r,
        };
        #[cfg(not(feature = "canary-rename-without-dir-fsync"))]
        if let Err(e) = synced {
            self.poisoned = Some(format!("directory fsync after a manifest rename failed: {e}"));
            return Err(Error::io("directory fsync", &self.dir, e));
        }
        self.generation = next;
        Ok(())
    }
}
