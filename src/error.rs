//! The one error type of the crate.
//!
//! Variants are the Kinesis exception names (so an emulator maps any error to the exact wire
//! error without string matching) plus the storage variants of the engine itself. Every
//! rejection names what was wrong; a rejected call changes nothing.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the engine returns.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Kinesis `ResourceNotFoundException`: the stream, shard or consumer does not exist.
    #[error("{message}")]
    ResourceNotFound {
        /// The Kinesis message.
        message: String,
    },
    /// Kinesis `ResourceInUseException`: the resource is not in a state for this operation.
    #[error("{message}")]
    ResourceInUse {
        /// The Kinesis message.
        message: String,
    },
    /// Kinesis `InvalidArgumentException`: a value is well-formed but not acceptable.
    #[error("{message}")]
    InvalidArgument {
        /// The Kinesis message.
        message: String,
    },
    /// Kinesis `LimitExceededException`: a quota or rate limit was hit.
    #[error("{message}")]
    LimitExceeded {
        /// The Kinesis message.
        message: String,
    },
    /// Kinesis `ProvisionedThroughputExceededException`: a throughput limit was hit.
    #[error("{message}")]
    ProvisionedThroughputExceeded {
        /// The Kinesis message.
        message: String,
    },
    /// Kinesis `ExpiredIteratorException`: the shard iterator is older than 300 s.
    #[error("{message}")]
    ExpiredIterator {
        /// The Kinesis message.
        message: String,
    },
    /// Kinesis `ExpiredNextTokenException`: a pagination token is older than 300 s.
    #[error("{message}")]
    ExpiredNextToken {
        /// The Kinesis message.
        message: String,
    },
    /// Kinesis `ValidationException`: a request member violates its constraints.
    #[error("{message}")]
    Validation {
        /// The Kinesis message.
        message: String,
    },
    /// Kinesis `KMSNotFoundException`: records are encrypted at rest and no key is
    /// configured to read them.
    #[error("{message}")]
    KmsNotFound {
        /// The message.
        message: String,
    },
    /// Kinesis `KMSAccessDeniedException`: the configured at-rest key does not open the
    /// records.
    #[error("{message}")]
    KmsAccessDenied {
        /// The message.
        message: String,
    },
    /// Kinesis `DryRunOperationException`: a request with `DryRun` set passed every check;
    /// nothing was done.
    #[error("{message}")]
    DryRunOperation {
        /// The Kinesis message.
        message: String,
    },
    /// An operating-system I/O call failed. `op` names the call, `path` the file.
    #[error("I/O error during {op} on {}: {source}", path.display())]
    Io {
        /// The failed operation (`write`, `fdatasync`, `create`, …).
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes read from disk failed validation: acknowledged data is damaged.
    #[error("corrupt data in {} at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte position of the damage within the file.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// A write or fsync failed earlier; the shard log refuses writes until it is reopened.
    #[error("shard log {} refuses writes after a failed {cause}; reopen it to recover", path.display())]
    Poisoned {
        /// The shard log directory.
        path: PathBuf,
        /// The failure that poisoned it.
        cause: String,
    },
    /// Another open handle (in this or another process) holds the data directory's lock.
    #[error("data directory {} is locked by another open engine or process", path.display())]
    Locked {
        /// The locked directory.
        path: PathBuf,
    },
}

impl Error {
    /// The Kinesis wire error name (`__type`) for this error. Storage failures map to
    /// `InternalFailure`, which Kinesis returns with HTTP 500.
    pub fn kinesis_error_code(&self) -> &'static str {
        match self {
            Error::ResourceNotFound { .. } => "ResourceNotFoundException",
            Error::ResourceInUse { .. } => "ResourceInUseException",
            Error::InvalidArgument { .. } => "InvalidArgumentException",
            Error::LimitExceeded { .. } => "LimitExceededException",
            Error::ProvisionedThroughputExceeded { .. } => "ProvisionedThroughputExceededException",
            Error::ExpiredIterator { .. } => "ExpiredIteratorException",
            Error::ExpiredNextToken { .. } => "ExpiredNextTokenException",
            Error::Validation { .. } => "ValidationException",
            Error::DryRunOperation { .. } => "DryRunOperationException",
            Error::KmsNotFound { .. } => "KMSNotFoundException",
            Error::KmsAccessDenied { .. } => "KMSAccessDeniedException",
            Error::Io { .. } | Error::Corrupt { .. } | Error::Poisoned { .. } | Error::Locked { .. } => {
                "InternalFailure"
            }
        }
    }

    /// True for errors caused by the caller's input (HTTP 400 in Kinesis), false for
    /// storage failures (HTTP 500).
    pub fn is_client_error(&self) -> bool {
        self.kinesis_error_code() != "InternalFailure"
    }

    /// True when the error is the file system running out of space (`ENOSPC`).
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Error::Io { source, .. } if is_enospc(source))
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { op, path: path.into(), source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Error {
        Error::Corrupt { path: path.into(), offset, reason: reason.into() }
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Error {
        Error::InvalidArgument { message: message.into() }
    }
}

/// True when an OS error is "no space left on device".
pub(crate) fn is_enospc(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}
