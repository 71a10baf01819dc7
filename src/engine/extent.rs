//! Where each shard's retained records begin and end, and trimming a prefix a reader is done
//! with. Beyond Kinesis; used by the forwarder (`shardlog forward`) to report how many records
//! it is behind and, in its "keep until forwarded" mode, to delete what the destination
//! acknowledged.
//!
//! A record's offset in its shard is its sequence number's counter
//! ([`SequenceNumber::counter`]): offsets are dense, start at 0 and are never reused, so the
//! number of records between two positions of a shard is a subtraction.

use crate::engine::parse_shard_id;
use crate::engine::types::*;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::kinesis::{messages, names};
use crate::log::TrimOutcome;

/// The retained records of one shard: offsets `first_offset .. next_offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardExtent {
    /// The shard.
    pub shard_id: String,
    /// Offset of the oldest retained record (the trim horizon).
    pub first_offset: u64,
    /// One past the newest committed record (0 for a shard never written).
    pub next_offset: u64,
    /// The shard was closed by a split or merge (no more records will arrive).
    pub closed: bool,
}

impl ShardExtent {
    /// Records retained.
    pub fn len(&self) -> u64 {
        self.next_offset.saturating_sub(self.first_offset)
    }

    /// Nothing retained.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Engine {
    /// The retained offsets of every shard of the stream (every shard ListShards would list),
    /// in shard-id order.
    pub fn shard_extents(&self, stream: &StreamRef) -> Result<Vec<ShardExtent>> {
        let inner = &self.inner;
        let h = inner.resolve(stream)?;
        let topo = h.topo.read();
        let mut out = Vec::with_capacity(topo.meta.shards.len());
        for (shard, slot) in topo.meta.shards.iter().zip(topo.slots.iter()) {
            let (first_offset, next_offset) = match inner.existing_log(slot)? {
                Some(log) => (log.start_offset(), log.high_watermark()),
                None => (0, 0),
            };
            debug_assert!(first_offset <= next_offset, "trim horizon past the high watermark");
            out.push(ShardExtent {
                shard_id: names::shard_id_name(shard.index),
                first_offset,
                next_offset,
                closed: shard.closed.is_some(),
            });
        }
        out.sort_by(|a, b| a.shard_id.cmp(&b.shard_id));
        Ok(out)
    }

    /// Delete the shard's whole segments whose every record is at or before `through` (a
    /// sequence number of that shard). The segment being appended to is never deleted, so
    /// at most one segment of already-trimmable records stays. Readers positioned in a
    /// deleted range continue at the new trim horizon, as after retention.
    pub fn trim_shard_through(
        &self,
        stream: &StreamRef,
        shard_id: &str,
        through: SequenceNumber,
    ) -> Result<TrimOutcome> {
        let index = parse_shard_id("shardId", shard_id)?;
        let inner = &self.inner;
        let h = inner.resolve(stream)?;
        let topo = h.topo.read();
        let pos = topo.position(index).ok_or_else(|| {
            messages::shard_not_found(&names::shard_id_name(index), &topo.meta.name, &inner.config.account_id)
        })?;
        let (Some(shard), Some(slot)) = (topo.meta.shards.get(pos), topo.slots.get(pos)) else {
            return Err(messages::shard_not_found(
                &names::shard_id_name(index),
                &topo.meta.name,
                &inner.config.account_id,
            ));
        };
        if through.shard_index() != index || through.shard_create_secs() != crate::engine::shard_create_secs(shard) {
            return Err(Error::invalid_argument(format!(
                "sequence number {through} does not belong to shard {}",
                names::shard_id_name(index)
            )));
        }
        match inner.existing_log(slot)? {
            Some(log) => log.trim_below(through.counter().saturating_add(1)),
            None => Ok(TrimOutcome::default()),
        }
    }
}
