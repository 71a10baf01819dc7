//! Resharding with lineage: SplitShard, MergeShards and UpdateShardCount.
//!
//! Every reshard is one manifest transition that closes the parent(s) at their final offset
//! and opens the children, taken under the stream's topology write lock: puts in flight finish
//! first (on the parent), later puts route to the children, and no put ever lands on a closed
//! shard. Children's directories are created on first use; a crash before the commit leaves
//! the old topology (and no child directories, or orphans that the next open removes).

use crate::catalog::{ShardClose, ShardMeta, StreamLifecycle, StreamMeta, StreamMode};
use crate::engine::parse_shard_id_of;
use crate::engine::types::*;
use crate::engine::{Engine, EngineInner, Topology};
use crate::error::{Error, Result};
use crate::kinesis::quotas::MAX_SCALINGS_PER_DAY;
use crate::kinesis::quotas::MAX_SHARDS_PER_STREAM;
use crate::kinesis::{even_split, messages, names, parse_explicit_hash_key, HashKeyRange, ValidationErrors};

const DAY_MS: i64 = 24 * 3600 * 1000;

impl EngineInner {
    /// Run a reshard `plan` on a stream: checks its state, lets the plan edit a copy of the
    /// catalog entry (closing shards through `Reshard::close`), and commits.
    fn reshard<T>(&self, stream: &StreamRef, plan: impl FnOnce(&mut Reshard<'_>) -> Result<T>) -> Result<T> {
        self.reshard_with(stream, false, plan)
    }

    /// [`Self::reshard`]; `managed` is the engine scaling an on-demand stream itself (user
    /// reshards of on-demand streams are refused).
    pub(crate) fn reshard_with<T>(
        &self,
        stream: &StreamRef,
        managed: bool,
        plan: impl FnOnce(&mut Reshard<'_>) -> Result<T>,
    ) -> Result<T> {
        self.reap_deleted()?;
        let h = self.resolve(stream)?;
        let mut cat = self.catalog.lock();
        let mut topo = h.topo.write();
        let status = self.status(&topo.meta);
        // The engine scales on-demand streams during their updates too.
        let allowed = status == StreamStatus::Active || (managed && status == StreamStatus::Updating);
        if !allowed {
            return Err(messages::stream_not_active(&topo.meta.name, &self.config.account_id, status.as_str()));
        }
        if matches!(topo.meta.lifecycle, StreamLifecycle::Deleting { .. }) {
            return Err(messages::stream_not_found(&topo.meta.name, &self.config.account_id));
        }
        if topo.meta.mode == StreamMode::OnDemand && !managed {
            return Err(Error::Validation {
                message: "This API is not supported for streams in ON_DEMAND capacity mode.".into(),
            });
        }
        let now = self.now_ms();
        let mut meta = topo.meta.clone();
        let out = {
            let mut r = Reshard { inner: self, topo: &topo, meta: &mut meta, now };
            plan(&mut r)?
        };
        meta.updated_ms = now;
        self.check_quota(&cat.catalog, &meta)?;
        self.commit_stream(&mut cat, &mut topo, &h.dir, meta)?;
        Ok(out)
    }

    fn check_quota(&self, catalog: &crate::catalog::Catalog, changed: &StreamMeta) -> Result<()> {
        let open = |m: &StreamMeta| m.shards.iter().filter(|s| s.is_open()).count() as u64;
        let before: u64 = catalog.streams.values().map(open).sum();
        let old = catalog.streams.get(&changed.uid).map_or(0, open);
        let after = before - old + open(changed);
        let limit = u64::from(self.config.effective_shard_limit());
        if after > limit && after > before {
            return Err(messages::shard_limit_exceeded(
                &self.config.account_id,
                &self.config.region,
                before,
                limit,
                after - before,
            ));
        }
        Ok(())
    }
}

/// A reshard in progress: a working copy of the stream's catalog entry.
pub(crate) struct Reshard<'a> {
    inner: &'a EngineInner,
    topo: &'a Topology,
    pub(crate) meta: &'a mut StreamMeta,
    now: i64,
}

impl Reshard<'_> {
    fn name(&self) -> String {
        self.meta.name.clone()
    }

    fn account(&self) -> &str {
        &self.inner.config.account_id
    }

    /// The open shard `index` (parsed from the request before the stream was looked up),
    /// with the split/merge errors.
    fn open_shard(&self, index: u32) -> Result<ShardMeta> {
        let canonical = names::shard_id_name(index);
        let s = self
            .meta
            .shard(index)
            .ok_or_else(|| messages::shard_not_found_for_reshard(&canonical, &self.meta.name, self.account()))?;
        if !s.is_open() {
            return Err(messages::shard_already_closed(&canonical, &self.meta.name, self.account()));
        }
        Ok(s.clone())
    }

    /// Close shard `index` at its final offset. Its log is flushed first, so the final
    /// offset is durable data.
    fn close(&mut self, index: u32) -> Result<()> {
        let end_offset = match self.topo.position(index).and_then(|p| self.topo.slots.get(p)) {
            Some(slot) => {
                let log = self.inner.log(slot)?;
                log.flush()?;
                let end = log.high_watermark();
                drop(log);
                // The shard takes no appends once the transition commits (puts are held off
                // by the topology lock meanwhile): its log is closed cleanly now, so its
                // descriptors come back at once. If the commit then fails, the shard stays
                // open and its log is reopened on its next use (without recovery).
                slot.close_for_reshard()?;
                end
            }
            // A shard created and closed within this same transition holds no records.
            None => 0,
        };
        if let Some(s) = self.meta.shards.iter_mut().find(|s| s.index == index) {
            s.closed = Some(ShardClose { closed_ms: self.now, end_offset });
        }
        Ok(())
    }

    /// Add a new open shard and return its index.
    fn open(&mut self, range: HashKeyRange, parent: u32, adjacent_parent: Option<u32>) -> Result<u32> {
        let index = self.meta.next_shard_index;
        if index >= names::MAX_SHARD_INDEX {
            return Err(Error::LimitExceeded {
                message: format!("Stream {} has used every shard id.", self.meta.name),
            });
        }
        self.meta.next_shard_index += 1;
        self.meta.shards.push(ShardMeta {
            index,
            range,
            created_ms: self.now,
            parent: Some(parent),
            adjacent_parent,
            closed: None,
        });
        Ok(index)
    }

    /// Split open shard `s` at `key` (already checked: `start + 1 < key < end`).
    pub(crate) fn split(&mut self, s: &ShardMeta, key: u128) -> Result<(u32, u32)> {
        self.close(s.index)?;
        let lower = HashKeyRange { starting_hash_key: s.range.starting_hash_key, ending_hash_key: key - 1 };
        let upper = HashKeyRange { starting_hash_key: key, ending_hash_key: s.range.ending_hash_key };
        Ok((self.open(lower, s.index, None)?, self.open(upper, s.index, None)?))
    }

    /// Merge adjacent open shards `a` and `b` (in either hash order).
    fn merge(&mut self, a: &ShardMeta, b: &ShardMeta) -> Result<u32> {
        self.close(a.index)?;
        self.close(b.index)?;
        let range = HashKeyRange {
            starting_hash_key: a.range.starting_hash_key.min(b.range.starting_hash_key),
            ending_hash_key: a.range.ending_hash_key.max(b.range.ending_hash_key),
        };
        self.open(range, a.index, Some(b.index))
    }

    pub(crate) fn open_sorted(&self) -> Vec<ShardMeta> {
        self.meta.open_shards().into_iter().cloned().collect()
    }
}

/// Whether `lower` and `upper` can be merged as MergeShards' `ShardToMerge` and
/// `AdjacentShardToMerge`: AWS requires the shard to merge to be the lower one,
/// `end(lower) + 1 == start(upper)`.
fn adjacent_in_order(lower: &ShardMeta, upper: &ShardMeta) -> bool {
    lower.range.ending_hash_key.checked_add(1) == Some(upper.range.starting_hash_key)
}

impl Engine {
    /// `SplitShard`: close the parent and open two children `[start, K−1]` and `[K, end]`.
    pub fn split_shard(&self, input: SplitShardInput) -> Result<()> {
        self.inner.admit_control("SplitShard", 0)?;
        let mut errs = ValidationErrors::new();
        errs.name("shardToSplit", &input.shard_to_split);
        if !crate::kinesis::hashkey::is_hash_key_syntax(&input.new_starting_hash_key) {
            errs.pattern("newStartingHashKey", &input.new_starting_hash_key, crate::kinesis::hashkey::HASH_KEY_PATTERN);
        }
        errs.into_result()?;
        // As AWS: the shard id is parsed before the stream is looked up.
        let inner = &self.inner;
        let name = inner.stream_name_of(&input.stream)?;
        let index = parse_shard_id_of("shardToSplit", &input.shard_to_split, &name, &inner.config.account_id)?;
        self.inner.reshard(&input.stream, |r| {
            let s = r.open_shard(index)?;
            let out_of_range = || {
                messages::split_hash_key_out_of_range(
                    &input.new_starting_hash_key,
                    &names::shard_id_name(s.index),
                    &r.name(),
                    r.account(),
                    s.range.starting_hash_key,
                    s.range.ending_hash_key,
                )
            };
            let key = parse_explicit_hash_key(&input.new_starting_hash_key).map_err(|_| out_of_range())?;
            let low_ok = s.range.starting_hash_key.checked_add(1).is_some_and(|v| key > v);
            if !low_ok || key >= s.range.ending_hash_key {
                return Err(out_of_range());
            }
            r.split(&s, key).map(|_| ())
        })
    }

    /// `MergeShards`: close both parents and open one child covering their union, with
    /// `ParentShardId = ShardToMerge` and `AdjacentParentShardId = AdjacentShardToMerge`.
    /// As AWS: both ids are parsed before the stream is looked up (`ShardToMerge` first), and
    /// `ShardToMerge` must be the lower shard — `end(ShardToMerge) + 1 ==
    /// start(AdjacentShardToMerge)`; the other order is `… are not an adjacent pair of shards
    /// eligible for merging`.
    pub fn merge_shards(&self, input: MergeShardsInput) -> Result<()> {
        self.inner.admit_control("MergeShards", 0)?;
        let mut errs = ValidationErrors::new();
        errs.name("shardToMerge", &input.shard_to_merge);
        errs.name("adjacentShardToMerge", &input.adjacent_shard_to_merge);
        errs.into_result()?;
        let inner = &self.inner;
        let (name, account) = (inner.stream_name_of(&input.stream)?, &inner.config.account_id);
        let a_index = parse_shard_id_of("shardToMerge", &input.shard_to_merge, &name, account)?;
        let b_index = parse_shard_id_of("adjacentShardToMerge", &input.adjacent_shard_to_merge, &name, account)?;
        self.inner.reshard(&input.stream, |r| {
            let a = r.open_shard(a_index)?;
            let b = r.open_shard(b_index)?;
            if a.index == b.index || !adjacent_in_order(&a, &b) {
                return Err(messages::shards_not_adjacent(
                    &names::shard_id_name(a.index),
                    &names::shard_id_name(b.index),
                    &r.name(),
                    r.account(),
                ));
            }
            r.merge(&a, &b).map(|_| ())
        })
    }

    /// `UpdateShardCount` with `UNIFORM_SCALING`: carried out as splits and merges (each with
    /// normal lineage, committed together as one transition) that end with the open shards
    /// evenly spaced exactly as `CreateStream` would space `target` shards. Target within
    /// ½×–2× of the open count, ≤ 10,000 per stream, ≤ 10 calls per rolling 24 h.
    pub fn update_shard_count(&self, input: UpdateShardCountInput) -> Result<UpdateShardCountOutput> {
        self.inner.admit_control("UpdateShardCount", 0)?;
        let target = input.target_shard_count;
        let mut errs = ValidationErrors::new();
        errs.range("targetShardCount", i128::from(target), 1, 100_000);
        errs.into_result()?;
        let inner = &self.inner;
        let (name, current) = inner.reshard(&input.stream, |r| {
            let open = r.open_sorted();
            let current = open.len() as u32;
            let name = r.name();
            let account = r.account().to_string();
            if u64::from(target) > 2 * u64::from(current) {
                return Err(Error::invalid_argument(format!(
                    "UpdateShardCount request for stream {name} under account {account}: target shard count {target} \
                     exceeds twice the current count of {current} open shards."
                )));
            }
            if 2 * u64::from(target) < u64::from(current) {
                return Err(Error::invalid_argument(format!(
                    "UpdateShardCount request for stream {name} under account {account}: target shard count {target} \
                     is below half the current count of {current} open shards."
                )));
            }
            if target > MAX_SHARDS_PER_STREAM {
                return Err(Error::LimitExceeded {
                    message: format!("Stream {name} under account {account} cannot have more than {MAX_SHARDS_PER_STREAM} shards."),
                });
            }
            let now = r.now;
            r.meta.scaling_history_ms.retain(|t| now.saturating_sub(*t) < DAY_MS);
            if r.meta.scaling_history_ms.len() >= MAX_SCALINGS_PER_DAY {
                return Err(Error::LimitExceeded {
                    message: format!(
                        "Stream {name} under account {account} has already been scaled {MAX_SCALINGS_PER_DAY} times in the last 24 hours."
                    ),
                });
            }
            r.meta.scaling_history_ms.push(now);
            if target != current {
                scale_uniformly(r, target)?;
            }
            Ok((name, current))
        })?;
        let h = inner.resolve(&StreamRef::name(&name))?;
        Ok(UpdateShardCountOutput {
            stream_name: name,
            stream_arn: h.arn.clone(),
            current_shard_count: current,
            target_shard_count: target,
        })
    }
}

/// Reach `even_split(target)` by splitting at every target boundary that falls inside an
/// open shard, then merging, within each target range, adjacent shards pairwise until one
/// remains. A boundary one key from a shard edge cannot be split there (each child needs
/// two keys): that shard is first merged with a neighbour.
pub(crate) fn scale_uniformly(r: &mut Reshard<'_>, target: u32) -> Result<()> {
    let goal = even_split(target);
    let boundaries: Vec<u128> = goal.iter().skip(1).map(|g| g.starting_hash_key).collect();
    // Split phase.
    let mut guard = 0usize;
    'outer: loop {
        guard += 1;
        if guard > 4 * (target as usize + 16) * 4 {
            return Err(Error::invalid_argument("UpdateShardCount could not converge on an even layout"));
        }
        let open = r.open_sorted();
        for &b in &boundaries {
            let Some(s) = open.iter().find(|s| s.range.starting_hash_key < b && b <= s.range.ending_hash_key) else {
                continue;
            };
            let splittable = s.range.starting_hash_key + 1 < b && b < s.range.ending_hash_key;
            if splittable {
                r.split(s, b)?;
            } else {
                let pos = open.iter().position(|o| o.index == s.index).unwrap_or(0);
                let neighbour = open.get(pos + 1).or_else(|| pos.checked_sub(1).and_then(|p| open.get(p)));
                let Some(n) = neighbour else {
                    return Err(Error::invalid_argument("UpdateShardCount found no neighbour to merge with"));
                };
                r.merge(s, n)?;
            }
            continue 'outer;
        }
        break;
    }
    // Merge phase: every open shard now lies inside exactly one goal range.
    for g in &goal {
        loop {
            let inside: Vec<ShardMeta> = r
                .open_sorted()
                .into_iter()
                .filter(|s| {
                    s.range.starting_hash_key >= g.starting_hash_key && s.range.ending_hash_key <= g.ending_hash_key
                })
                .collect();
            match inside.as_slice() {
                [a, b, ..] => {
                    r.merge(a, b)?;
                }
                _ => break,
            }
        }
    }
    debug_assert_eq!(r.open_sorted().iter().map(|s| s.range).collect::<Vec<_>>(), goal);
    Ok(())
}
