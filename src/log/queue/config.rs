//! The delivery-relevant attributes of a queue and the store's tunables.

use std::sync::Arc;

use crate::io::{RealVfs, VfsRef};
use crate::kinesis::TokenKey;
use crate::log::commit::{Durability, SyncGroup};

/// AWS' default visibility timeout: 30 s.
pub const DEFAULT_VISIBILITY_TIMEOUT_MS: u64 = 30_000;
/// AWS' default `MaxReceiveCount` when `DeadLetterConfiguration` is left out: 6.
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 6;
/// AWS' limit on records in flight per queue: 120,000.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 120_000;
/// The log is compacted (snapshot + fresh log) once it holds at least this many bytes and
/// at least half as many as the last snapshot.
pub const DEFAULT_COMPACT_MIN_BYTES: u64 = 1024 * 1024;

/// Dead-lettering of a queue (`DeadLetterConfiguration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadLetter {
    /// `TargetType: NONE`: a record that is never acknowledged is redelivered until it is
    /// acknowledged or the stream's retention removes it.
    Off,
    /// `TargetType: BUILT_IN`: a record whose `max_receive_count`-th delivery times out (or is
    /// released with visibility 0) without an acknowledgement becomes a dead-letter record.
    BuiltIn {
        /// `MaxReceiveCount`, ≥ 1 (AWS allows 1–1000; the wire layer enforces that range).
        max_receive_count: u32,
    },
}

impl DeadLetter {
    /// The receive count at which a timed-out record is dead-lettered, if dead-lettering is on.
    pub fn max_receive_count(self) -> Option<u32> {
        match self {
            DeadLetter::Off => None,
            DeadLetter::BuiltIn { max_receive_count } => Some(max_receive_count),
        }
    }
}

/// The attributes of a queue that shape delivery (`QueueAttributes`).
///
/// Decisions where AWS is silent, applied when [`crate::log::queue::QueueStore::update_config`]
/// changes them:
/// - a new visibility timeout applies to receives after the update only; records in flight
///   keep the deadline they were received with (AWS documents this);
/// - switching dead-lettering **off** leaves existing dead-letter records dead-lettered (they
///   stay receivable, acknowledgeable and restorable through the dead-letter operations);
///   records in flight are redelivered normally when they time out;
/// - lowering `MaxReceiveCount` dead-letters at once every *visible* redelivery whose receive
///   count already reaches the new maximum (it would otherwise get one delivery more than the
///   limit allows, as SQS also avoids); records in flight are checked against the new maximum
///   when they time out; raising it (or switching it off) never un-dead-letters anything:
///   that is what Restore is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueConfig {
    /// `VisibilityTimeoutSeconds` in milliseconds: the default of receives that give none.
    pub visibility_timeout_ms: u64,
    /// `DeadLetterConfiguration`.
    pub dead_letter: DeadLetter,
}

impl Default for QueueConfig {
    /// AWS' defaults: 30 s visibility, `BUILT_IN` dead-lettering with `MaxReceiveCount` 6.
    fn default() -> Self {
        QueueConfig {
            visibility_timeout_ms: DEFAULT_VISIBILITY_TIMEOUT_MS,
            dead_letter: DeadLetter::BuiltIn { max_receive_count: DEFAULT_MAX_RECEIVE_COUNT },
        }
    }
}

impl QueueConfig {
    /// `Err(InvalidArgument)` naming the field if `MaxReceiveCount` is 0 (no other value is
    /// out of range for the store; the wire layer enforces AWS' ranges).
    pub fn validate(&self) -> crate::Result<()> {
        if self.dead_letter == (DeadLetter::BuiltIn { max_receive_count: 0 }) {
            return Err(crate::Error::invalid_argument("MaxReceiveCount must be at least 1."));
        }
        Ok(())
    }
}

/// Everything a queue store is opened with. An engine shares `vfs`, `sync_group` and `key`
/// between all its queues (and its shard logs).
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// The file system.
    pub vfs: VfsRef,
    /// When operations are acknowledged (see the module docs of `log::queue`).
    pub durability: Durability,
    /// The group commit / interval flusher the store joins.
    pub sync_group: Arc<SyncGroup>,
    /// The key that authenticates receipt handles (the engine's token key).
    pub key: TokenKey,
    /// Records in flight (normal and dead-letter) per queue; a receive returns at most what
    /// fits under it (default 120,000, AWS' limit).
    pub max_in_flight: u32,
    /// Compact once the log holds at least this many bytes (and at least half as many as the
    /// last snapshot); default 1 MiB.
    pub compact_min_bytes: u64,
}

impl QueueOptions {
    /// Options on the real file system with a private sync group and the given key.
    pub fn new(durability: Durability, key: TokenKey) -> QueueOptions {
        QueueOptions {
            vfs: RealVfs::shared(),
            durability,
            sync_group: SyncGroup::new(),
            key,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            compact_min_bytes: DEFAULT_COMPACT_MIN_BYTES,
        }
    }

    /// Use another file system.
    pub fn with_vfs(mut self, vfs: VfsRef) -> QueueOptions {
        self.vfs = vfs;
        self
    }
}
