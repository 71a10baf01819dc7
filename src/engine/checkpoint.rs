//! Durable checkpoints for readers that must resume where they stopped (the event-source
//! driver, apps using the engine as a buffer). Stored in the catalog, so a checkpoint is
//! crash-atomic and disappears with its stream.

use crate::catalog::Checkpoint;
use crate::engine::parse_shard_id;
use crate::engine::types::*;
use crate::engine::Engine;
use crate::error::{Error, Result};
/// Longest checkpoint owner name (a Kinesis-side quota, kept with the others).
pub use crate::kinesis::quotas::MAX_OWNER_LEN;
use crate::kinesis::{names, SequenceNumber};

/// A reader's stored position in one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardCheckpoint {
    /// The shard.
    pub shard_id: String,
    /// The last sequence number processed, if any.
    pub last_processed: Option<SequenceNumber>,
    /// The shard was processed to its end.
    pub finished: bool,
}

fn check_owner(owner: &str) -> Result<()> {
    if owner.is_empty() || owner.len() > MAX_OWNER_LEN {
        return Err(Error::invalid_argument(format!(
            "checkpoint owner must be 1 to {MAX_OWNER_LEN} bytes, got {}",
            owner.len()
        )));
    }
    Ok(())
}

impl Engine {
    /// Durably record that `owner` processed shard `shard_id` up to and including
    /// `last_processed` (`None`: nothing yet), and whether the shard is finished (read to the
    /// end of a closed shard). The sequence number must belong to that shard.
    pub fn set_checkpoint(
        &self,
        stream: &StreamRef,
        owner: &str,
        shard_id: &str,
        last_processed: Option<SequenceNumber>,
        finished: bool,
    ) -> Result<()> {
        self.set_checkpoints(
            stream,
            owner,
            &[ShardCheckpoint { shard_id: shard_id.to_string(), last_processed, finished }],
        )
    }

    /// [`Engine::set_checkpoint`] for several shards of one stream in one manifest commit
    /// (one group of fsyncs instead of one per shard). All or none are stored; every entry
    /// is checked before anything is written. A shard listed twice keeps its last entry.
    pub fn set_checkpoints(&self, stream: &StreamRef, owner: &str, checkpoints: &[ShardCheckpoint]) -> Result<()> {
        check_owner(owner)?;
        let indexes =
            checkpoints.iter().map(|c| parse_shard_id("shardId", &c.shard_id)).collect::<Result<Vec<u32>>>()?;
        let inner = &self.inner;
        let h = inner.resolve(stream)?;
        let mut cat = inner.catalog.lock();
        {
            let topo = h.topo.read();
            let meta = &topo.meta;
            for (c, &index) in checkpoints.iter().zip(&indexes) {
                let shard = meta.shard(index).ok_or_else(|| {
                    crate::kinesis::messages::shard_not_found(
                        &names::shard_id_name(index),
                        &meta.name,
                        &inner.config.account_id,
                    )
                })?;
                if let Some(seq) = c.last_processed {
                    if seq.shard_index() != index || seq.shard_create_secs() != crate::engine::shard_create_secs(shard)
                    {
                        return Err(Error::invalid_argument(format!(
                            "sequence number {seq} does not belong to shard {}",
                            names::shard_id_name(index)
                        )));
                    }
                }
            }
            // A checkpoint must never point past durable data: outside `Sync` a reader may
            // have seen records not yet fdatasync'd, so make the shards durable first.
            if inner.config.durability != crate::log::commit::Durability::Sync {
                for (c, &index) in checkpoints.iter().zip(&indexes) {
                    if c.last_processed.is_none() {
                        continue;
                    }
                    if let Some(slot) = topo.position(index).and_then(|p| topo.slots.get(p)) {
                        if let Some(log) = inner.existing_log(slot)? {
                            log.flush()?;
                        }
                    }
                }
            }
        }
        let mut next = cat.catalog.clone();
        for (c, &index) in checkpoints.iter().zip(&indexes) {
            next.checkpoints.retain(|k| !(k.stream_uid == h.uid && k.owner == owner && k.shard_index == index));
            next.checkpoints.push(Checkpoint {
                stream_uid: h.uid,
                owner: owner.to_string(),
                shard_index: index,
                sequence_number: c.last_processed.map(|s| s.to_string()).unwrap_or_default(),
                finished: c.finished,
            });
        }
        if checkpoints.is_empty() {
            return Ok(());
        }
        inner.commit_catalog(&mut cat, &next)?;
        cat.catalog = next;
        Ok(())
    }

    /// Every checkpoint `owner` stored for the stream.
    pub fn checkpoints(&self, stream: &StreamRef, owner: &str) -> Result<Vec<ShardCheckpoint>> {
        let h = self.inner.resolve(stream)?;
        let cat = self.inner.catalog.lock();
        let mut out: Vec<ShardCheckpoint> = cat
            .catalog
            .checkpoints
            .iter()
            .filter(|c| c.stream_uid == h.uid && c.owner == owner)
            .map(|c| ShardCheckpoint {
                shard_id: names::shard_id_name(c.shard_index),
                last_processed: SequenceNumber::parse(&c.sequence_number).ok(),
                finished: c.finished,
            })
            .collect();
        out.sort_by(|a, b| a.shard_id.cmp(&b.shard_id));
        Ok(out)
    }

    /// Forget every checkpoint `owner` stored for the stream.
    pub fn delete_checkpoints(&self, stream: &StreamRef, owner: &str) -> Result<()> {
        let h = self.inner.resolve(stream)?;
        let mut cat = self.inner.catalog.lock();
        let mut next = cat.catalog.clone();
        next.checkpoints.retain(|c| !(c.stream_uid == h.uid && c.owner == owner));
        if next.checkpoints.len() == cat.catalog.checkpoints.len() {
            return Ok(());
        }
        self.inner.commit_catalog(&mut cat, &next)?;
        cat.catalog = next;
        Ok(())
    }
}
