//! Where channel deliveries go: the [`ObjectSink`] trait the delivery worker calls, and the
//! library's own [`DirectorySink`], which lays objects out as `<dir>/<bucket>/<key>`.
//!
//! An S3-compatible endpoint is another implementation of the trait; it lives outside the
//! library (the server's `--s3-endpoint`), which keeps the core free of HTTP and AWS SDKs.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::io::VfsRef;

/// One object to store.
#[derive(Debug, Clone, Copy)]
pub struct PutObject<'a> {
    /// The bucket (the name from the channel's bucket ARN).
    pub bucket: &'a str,
    /// The object key.
    pub key: &'a str,
    /// The object's bytes (already compressed).
    pub body: &'a [u8],
    /// `Content-Type`.
    pub content_type: &'a str,
    /// `Content-Encoding` (`gzip`, `zstd`) when compressed.
    pub content_encoding: Option<&'a str>,
    /// S3 storage class (`STANDARD`, …), when the channel names one.
    pub storage_class: Option<&'a str>,
    /// The account the bucket must belong to (`x-amz-expected-bucket-owner`).
    pub expected_bucket_owner: &'a str,
}

/// Why an object could not be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkError {
    /// Worth retrying later (a connection failure, a 5xx, a full disk): the records stay
    /// buffered and are delivered by a later pass.
    Transient(String),
    /// Never going to work (the bucket does not exist, access is denied, the key cannot be
    /// stored): the channel turns FAILED with this reason.
    Permanent(String),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Transient(m) | SinkError::Permanent(m) => f.write_str(m),
        }
    }
}

/// Stores delivered objects. Called from the engine's delivery thread; an implementation
/// may block.
pub trait ObjectSink: Send + Sync + fmt::Debug {
    /// Store one object, replacing any object with the same key.
    fn put_object(&self, object: &PutObject<'_>) -> Result<(), SinkError>;
}

/// Stores objects as files `<dir>/<bucket>/<key>` through the engine's file system: each is
/// written to a temp file, fdatasync'd and renamed into place, then its directory is synced,
/// so an object is either wholly there or absent.
///
/// Keys are S3 keys, not paths: a bucket or key segment that is empty, `.` or `..`, or
/// longer than 255 bytes cannot be stored and is a permanent failure (the channel turns
/// FAILED), so nothing is ever written outside `dir`.
#[derive(Debug, Clone)]
pub struct DirectorySink {
    vfs: VfsRef,
    dir: PathBuf,
}

impl DirectorySink {
    /// A sink writing under `dir` through `vfs`.
    pub fn new(vfs: VfsRef, dir: impl Into<PathBuf>) -> DirectorySink {
        DirectorySink { vfs, dir: dir.into() }
    }

    /// The path an object would be stored at, or why it cannot be.
    pub fn path_of(&self, bucket: &str, key: &str) -> Result<PathBuf, SinkError> {
        let mut path = self.dir.clone();
        for seg in std::iter::once(bucket).chain(key.split('/')) {
            let plain = matches!(Path::new(seg).components().next(), Some(Component::Normal(_)))
                && Path::new(seg).components().count() == 1;
            if seg.is_empty() || seg == "." || seg == ".." || seg.len() > 255 || !plain || seg.contains('\0') {
                return Err(SinkError::Permanent(format!(
                    "object s3://{bucket}/{key} cannot be stored in a directory: segment {seg:?} is not a plain file name"
                )));
            }
            path.push(seg);
        }
        Ok(path)
    }
}

impl ObjectSink for DirectorySink {
    fn put_object(&self, object: &PutObject<'_>) -> Result<(), SinkError> {
        let path = self.path_of(object.bucket, object.key)?;
        let transient = |what: &str, p: &Path, e: std::io::Error| {
            SinkError::Transient(format!("{what} {} failed: {e}", p.display()))
        };
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_else(|| self.dir.clone());
        crate::io::create_dir_all_durable(self.vfs.as_ref(), &parent)
            .map_err(|e| SinkError::Transient(format!("creating {} failed: {e}", parent.display())))?;
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let f = self.vfs.create(&tmp).map_err(|e| transient("create", &tmp, e))?;
        f.write_all_at(object.body, 0).map_err(|e| transient("write", &tmp, e))?;
        f.sync_data().map_err(|e| transient("fdatasync", &tmp, e))?;
        drop(f);
        self.vfs.rename(&tmp, &path).map_err(|e| transient("rename", &path, e))?;
        self.vfs.sync_dir(&parent).map_err(|e| transient("directory fsync", &parent, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_leave_the_directory() {
        let sink = DirectorySink::new(crate::io::RealVfs::shared(), "/base");
        assert_eq!(sink.path_of("b", "a/b.json").unwrap(), PathBuf::from("/base/b/a/b.json"));
        for (bucket, key) in
            [("..", "x"), ("b", "../x"), ("b", "a/../x"), ("b", "/x"), ("b", "a//x"), ("b", "a/./x"), ("...", "x/.")]
        {
            if bucket == "..." {
                // `...` is a plain name; `.` is not.
                assert!(sink.path_of(bucket, key).is_err());
                continue;
            }
            assert!(matches!(sink.path_of(bucket, key), Err(SinkError::Permanent(_))), "{bucket} {key}");
        }
        assert!(sink.path_of("b", &"k".repeat(256)).is_err());
    }
}
