//! A lineage-aware reader of a whole stream: parents are read to their end before their
//! children, and both parents of a merge before the merged child, so the records of any one
//! partition key come out in the order they were written, across splits and merges. It uses
//! only the public Kinesis-shaped operations (ListShards, GetShardIterator, GetRecords), the
//! way KCL does.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::types::*;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::kinesis::names;

/// A record and the shard it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageRecord {
    /// The shard id.
    pub shard_id: String,
    /// The record.
    pub record: KinesisRecord,
}

/// Where a [`LineageReader`] starts in the shards that exist when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineageStart {
    /// The oldest retained record of every shard.
    TrimHorizon,
    /// The tip of the shards open now (their ancestors are skipped); shards created later
    /// are read from their start.
    Latest,
}

#[derive(Debug)]
struct Cursor {
    parents: Vec<u32>,
    iterator: Option<String>,
    last: Option<SequenceNumber>,
    latest: bool,
}

/// Reads a stream in per-key order across resharding. See the module docs.
#[derive(Debug)]
pub struct LineageReader {
    engine: Engine,
    stream: StreamRef,
    cursors: BTreeMap<u32, Cursor>,
    finished: BTreeSet<u32>,
    started: bool,
    start: LineageStart,
}

impl LineageReader {
    /// A reader of `stream` starting at `start`.
    pub fn new(engine: &Engine, stream: StreamRef, start: LineageStart) -> LineageReader {
        LineageReader {
            engine: engine.clone(),
            stream,
            cursors: BTreeMap::new(),
            finished: BTreeSet::new(),
            started: false,
            start,
        }
    }

    /// Shards read to their end so far.
    pub fn finished_shards(&self) -> Vec<String> {
        self.finished.iter().map(|&i| names::shard_id_name(i)).collect()
    }

    fn discover(&mut self) -> Result<()> {
        let mut token: Option<String> = None;
        let mut listed = Vec::new();
        loop {
            let out = self.engine.list_shards(ListShardsInput {
                stream: if token.is_some() { StreamRef::default() } else { self.stream.clone() },
                next_token: token.take(),
                ..Default::default()
            })?;
            listed.extend(out.shards);
            match out.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let listed_ids: BTreeSet<u32> = listed.iter().filter_map(|s| names::parse_shard_id(&s.shard_id)).collect();
        // A shard no longer listed expired with all its records (Kinesis' EXPIRED): finished.
        let gone: Vec<u32> = self.cursors.keys().filter(|i| !listed_ids.contains(i)).copied().collect();
        for index in gone {
            self.cursors.remove(&index);
            self.finished.insert(index);
        }
        let first = !self.started;
        self.started = true;
        for s in &listed {
            let Some(index) = names::parse_shard_id(&s.shard_id) else { continue };
            if self.finished.contains(&index) || self.cursors.contains_key(&index) {
                continue;
            }
            let parents: Vec<u32> = [&s.parent_shard_id, &s.adjacent_parent_shard_id]
                .into_iter()
                .flatten()
                .filter_map(|p| names::parse_shard_id(p))
                .filter(|p| listed_ids.contains(p))
                .collect();
            let latest = first && self.start == LineageStart::Latest;
            if latest && s.sequence_number_range.ending_sequence_number.is_some() {
                // At LATEST, shards already closed hold only history: skip them.
                self.finished.insert(index);
                continue;
            }
            self.cursors.insert(index, Cursor { parents, iterator: None, last: None, latest });
        }
        Ok(())
    }

    fn iterator_for(&self, index: u32, c: &Cursor) -> Result<String> {
        let (kind, seq) = match (&c.last, c.latest) {
            (Some(seq), _) => (ShardIteratorType::AfterSequenceNumber, Some(seq.to_string())),
            (None, true) => (ShardIteratorType::Latest, None),
            (None, false) => (ShardIteratorType::TrimHorizon, None),
        };
        Ok(self
            .engine
            .get_shard_iterator(GetShardIteratorInput {
                stream: self.stream.clone(),
                shard_id: names::shard_id_name(index),
                shard_iterator_type: kind,
                starting_sequence_number: seq,
                timestamp: None,
                dry_run: false,
            })?
            .shard_iterator)
    }

    /// Read what is available now, up to about `max_records` (a shard's batch is not cut).
    /// Shards whose parents are not finished are not read yet.
    pub fn poll(&mut self, max_records: usize) -> Result<Vec<LineageRecord>> {
        self.discover()?;
        let mut out = Vec::new();
        loop {
            let ready: Vec<u32> = self
                .cursors
                .iter()
                .filter(|(_, c)| c.parents.iter().all(|p| self.finished.contains(p)))
                .map(|(&i, _)| i)
                .collect();
            let mut progressed = false;
            for index in ready {
                if out.len() >= max_records {
                    return Ok(out);
                }
                progressed |= self.drain(index, max_records - out.len(), &mut out)?;
            }
            if !progressed || out.len() >= max_records {
                return Ok(out);
            }
            self.discover()?;
        }
    }

    /// Read shard `index` until it has nothing more now; returns true if it finished.
    fn drain(&mut self, index: u32, budget: usize, out: &mut Vec<LineageRecord>) -> Result<bool> {
        let shard_id = names::shard_id_name(index);
        let mut taken = 0usize;
        loop {
            let Some(c) = self.cursors.get(&index) else { return Ok(false) };
            let it = match &c.iterator {
                Some(it) => it.clone(),
                None => match self.iterator_for(index, c) {
                    Ok(it) => it,
                    Err(Error::ResourceNotFound { .. }) => {
                        self.cursors.remove(&index);
                        self.finished.insert(index);
                        return Ok(true);
                    }
                    Err(e) => return Err(e),
                },
            };
            let limit = u32::try_from(budget.saturating_sub(taken).clamp(1, 10_000)).unwrap_or(10_000);
            let r = match self.engine.get_records(GetRecordsInput {
                shard_iterator: it,
                limit: Some(limit),
                stream_arn: None,
                stream_id: None,
                dry_run: false,
            }) {
                Ok(r) => r,
                Err(Error::ExpiredIterator { .. }) => {
                    if let Some(c) = self.cursors.get_mut(&index) {
                        c.iterator = None;
                    }
                    continue;
                }
                // The shard expired between listing and reading: its records are gone.
                Err(Error::ResourceNotFound { .. }) => {
                    self.cursors.remove(&index);
                    self.finished.insert(index);
                    return Ok(true);
                }
                Err(e) => return Err(e),
            };
            let got = r.records.len();
            taken += got;
            let Some(c) = self.cursors.get_mut(&index) else { return Ok(false) };
            if let Some(last) = r.records.last() {
                c.last = Some(last.sequence_number);
            }
            out.extend(r.records.into_iter().map(|record| LineageRecord { shard_id: shard_id.clone(), record }));
            match r.next_shard_iterator {
                None => {
                    self.cursors.remove(&index);
                    self.finished.insert(index);
                    return Ok(true);
                }
                Some(next) => c.iterator = Some(next),
            }
            if got == 0 || taken >= budget {
                return Ok(false);
            }
        }
    }
}
