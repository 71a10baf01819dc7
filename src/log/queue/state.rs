//! The delivery state machine of one queue: pure, no I/O, no record bytes.
//!
//! # Model
//!
//! Per shard (keyed by shard index; shards are independent, so splits and merges only add
//! keys, and a closed parent keeps its state until it is drained or forgotten):
//!
//! - `floor`: every offset below it is *settled*: acknowledged, discarded from the
//!   dead-letter set, or trimmed by the stream's retention. It is never delivered again.
//! - `cursor`: the next offset never received from this queue.
//! - `entries`: one [`Entry`] per offset in `[floor, cursor)` that is **not** settled: in
//!   flight, a visible redelivery, a visible or in-flight dead-letter record.
//!
//! The acknowledged set of a shard is therefore `[0, floor)` plus the gaps between entries in
//! `[floor, cursor)`: a range set that costs no memory of its own ([`ShardState::settled_ranges`]
//! lists its ranges). Memory is bounded by what is in flight, waiting for redelivery or
//! dead-lettered, never by the stream's length.
//!
//! Per record (AWS' state machine, `kinesis-api-2026.md` §2.6):
//!
//! ```text
//! fresh --receive--> InFlight --ack--> settled
//! InFlight --deadline passes | visibility 0--> Visible (or DeadLetterVisible, below)
//! Visible --receive--> InFlight (receive count + 1)
//! InFlight times out with receive count ≥ MaxReceiveCount (dead-lettering on) --> DeadLetterVisible
//! DeadLetterVisible --dead-letter receive--> DeadLetterInFlight --dead-letter ack--> settled
//! DeadLetterInFlight --deadline passes | visibility 0--> DeadLetterVisible
//! DeadLetterInFlight | DeadLetterVisible --restore--> Visible with receive count 0
//! any --trim below it--> settled (dropped, never delivered again)
//! ```
//!
//! Every change is an [`Event`]. The *same* [`DeliveryState::apply`] runs live (after the
//! event was written to the state log) and at recovery (replaying the log), so a replay
//! reproduces the live state exactly. Time passing is not an event: each event carries the
//! clock value it ran at, and `apply` first runs the expiry that the passage of time to that
//! value causes, exactly as the live operation did. The state's clock never goes backwards
//! (`clock_ms` is the largest value seen), so a clock that steps back cannot un-expire
//! anything.
//!
//! # Invariants (checked by [`DeliveryState::check_invariants`], cheap parts by `debug_assert!`)
//!
//! 1. Per shard `floor ≤ cursor`; every entry's offset lies in `[floor, cursor)`; `floor` is
//!    the first entry's offset, or `cursor` when there is none.
//! 2. The deadline index holds exactly the `(deadline, key)` of the in-flight entries (both
//!    kinds); the visible and dead-letter-visible sets hold exactly the keys of the entries
//!    in those phases; `dead_letter_in_flight` counts the dead-letter in-flight entries.
//! 3. Every entry's generation is below `next_generation`, and `next_generation ≤
//!    reserved_generation`: generations are unique per delivery and never reissued, even after
//!    a crash (the store makes each reservation durable before handing out generations in it).
//! 4. An in-flight entry (normal) has a receive count ≥ 1.
//! 5. `clock_ms` only moves up; floors and cursors only move up, except at a [`Rewind`]: the
//!    shard log lost records in a crash (a durability mode weaker than `Sync`), and the queue
//!    forgets what it knew of offsets it will see again as new records.

use std::collections::{BTreeMap, BTreeSet};

use super::config::QueueConfig;
use super::event::{Acknowledge, ConfigChange, Event, Forget, Receive, Restore, Rewind, Trim, Visibility};

pub use super::key::{RecordKey, MAX_RECORDS_PER_EVENT};

/// Where an unsettled record is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Delivered by a receive; hidden until its deadline.
    InFlight,
    /// Timed out (or released) without an acknowledgement; the next receives take it first.
    Visible,
    /// A dead-letter record waiting for a dead-letter receive.
    DeadLetterVisible,
    /// A dead-letter record delivered by a dead-letter receive; hidden until its deadline.
    DeadLetterInFlight,
}

impl Phase {
    /// True for the two in-flight phases (the ones with a deadline).
    pub fn is_in_flight(self) -> bool {
        matches!(self, Phase::InFlight | Phase::DeadLetterInFlight)
    }

    /// True for the two dead-letter phases.
    pub fn is_dead_letter(self) -> bool {
        matches!(self, Phase::DeadLetterVisible | Phase::DeadLetterInFlight)
    }

    /// The byte that stands for the phase on disk.
    pub fn code(self) -> u8 {
        match self {
            Phase::InFlight => 0,
            Phase::Visible => 1,
            Phase::DeadLetterVisible => 2,
            Phase::DeadLetterInFlight => 3,
        }
    }

    /// The phase a byte stands for.
    pub fn from_code(code: u8) -> Option<Phase> {
        match code {
            0 => Some(Phase::InFlight),
            1 => Some(Phase::Visible),
            2 => Some(Phase::DeadLetterVisible),
            3 => Some(Phase::DeadLetterInFlight),
            _ => None,
        }
    }
}

/// The state of one unsettled record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Where it is in its life.
    pub phase: Phase,
    /// Receives without an acknowledgement (normal receives only; a dead-letter receive does
    /// not count, a restore resets it to 0).
    pub receive_count: u32,
    /// When this queue first received it (engine clock, ms). Kept across restores.
    pub first_receive_ms: u64,
    /// Generation of its latest delivery (normal or dead-letter); a receipt handle is current
    /// only while it carries this generation.
    pub generation: u64,
    /// When the latest delivery times out; meaningful only in the in-flight phases, 0
    /// otherwise.
    pub deadline_ms: u64,
}

/// The delivery state of one shard.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShardState {
    floor: u64,
    cursor: u64,
    entries: BTreeMap<u64, Entry>,
}

impl ShardState {
    /// A shard whose reading starts at `start`: nothing below it will ever be delivered.
    pub fn starting_at(start: u64) -> ShardState {
        ShardState { floor: start, cursor: start, entries: BTreeMap::new() }
    }

    /// Every offset below it is settled.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The next offset never received.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The unsettled records in `[floor, cursor)`, by offset.
    pub fn entries(&self) -> &BTreeMap<u64, Entry> {
        &self.entries
    }

    /// The settled offsets of `[floor, cursor)` as half-open ranges, ascending (the gaps
    /// between entries). Everything below `floor` is settled too.
    pub fn settled_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut next = self.floor;
        let ends = self.entries.keys().copied().chain(std::iter::once(self.cursor));
        ends.filter_map(move |end| {
            let start = std::mem::replace(&mut next, end.saturating_add(1));
            (start < end).then_some((start, end))
        })
    }

    /// Lift `floor` to the first unsettled offset (or `cursor` when none is left).
    fn settle_floor(&mut self) {
        let floor = self.entries.first_key_value().map_or(self.cursor, |(&o, _)| o);
        debug_assert!(floor >= self.floor, "floor moves down from {} to {floor}", self.floor);
        self.floor = floor;
    }
}

/// Where a shard stands, for the engine (lineage order, metrics, dropping drained parents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardProgress {
    /// Every offset below it is settled.
    pub floor: u64,
    /// The next offset never received.
    pub cursor: u64,
    /// Unsettled records below `cursor` (in flight, visible, dead-letter).
    pub pending: usize,
}

/// Readable offsets `[start, end)` of one shard, offered to a receive as fresh records. The
/// engine passes the shard's trim horizon and high-watermark (a closed parent: its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshSpan {
    /// The shard index.
    pub shard: u32,
    /// The lowest offset the stream still retains: records below it are trimmed.
    pub start: u64,
    /// One past the newest readable offset.
    pub end: u64,
}

/// An event that does not fit the state it is applied to: a bug live, corruption in replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub String);

fn fail<T>(message: String) -> Result<T, StateError> {
    Err(StateError(message))
}

/// Record counts of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueCounts {
    /// Records in flight from normal receives.
    pub in_flight: usize,
    /// Records that timed out and wait for a redelivery (the fresh backlog, `high-watermark −
    /// cursor` per shard, is not included: the engine adds it).
    pub visible_redeliveries: usize,
    /// Dead-letter records waiting for a dead-letter receive.
    pub dead_letter_visible: usize,
    /// Dead-letter records in flight.
    pub dead_letter_in_flight: usize,
}

/// The records a receive will deliver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceivePlan {
    /// The records, sorted by key.
    pub records: Vec<RecordKey>,
    /// True when the in-flight limit cut the receive short.
    pub limited: bool,
}

/// The delivery state of one queue. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    config: QueueConfig,
    clock_ms: u64,
    next_generation: u64,
    reserved_generation: u64,
    shards: BTreeMap<u32, ShardState>,
    deadlines: BTreeSet<(u64, RecordKey)>,
    visible: BTreeSet<RecordKey>,
    dead_letter_visible: BTreeSet<RecordKey>,
    dead_letter_in_flight: usize,
}

/// The persistent fields of a [`DeliveryState`] (what a snapshot holds); the indexes are
/// derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateParts {
    /// The queue's delivery attributes.
    pub config: QueueConfig,
    /// The largest clock value seen.
    pub clock_ms: u64,
    /// The next delivery generation.
    pub next_generation: u64,
    /// Generations below this may have been handed out.
    pub reserved_generation: u64,
    /// Per shard, by index.
    pub shards: Vec<ShardParts>,
}

/// The persistent fields of one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardParts {
    /// The shard index.
    pub index: u32,
    /// Every offset below it is settled.
    pub floor: u64,
    /// The next offset never received.
    pub cursor: u64,
    /// The unsettled records, by ascending offset.
    pub entries: Vec<(u64, Entry)>,
}

impl DeliveryState {
    /// An empty state with `config` at clock `now_ms`.
    pub fn new(config: QueueConfig, now_ms: u64) -> DeliveryState {
        DeliveryState {
            config,
            clock_ms: now_ms,
            next_generation: 0,
            reserved_generation: 0,
            shards: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            visible: BTreeSet::new(),
            dead_letter_visible: BTreeSet::new(),
            dead_letter_in_flight: 0,
        }
    }

    // -----------------------------------------------------------------------------------
    // Queries
    // -----------------------------------------------------------------------------------

    /// The queue's delivery attributes.
    pub fn config(&self) -> QueueConfig {
        self.config
    }

    /// The largest clock value seen (ms).
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms
    }

    /// The generation the next delivery gets.
    pub fn next_generation(&self) -> u64 {
        self.next_generation
    }

    /// Generations below this may have been handed out (durably reserved).
    pub fn reserved_generation(&self) -> u64 {
        self.reserved_generation
    }

    /// The state of one shard.
    pub fn shard(&self, shard: u32) -> Option<&ShardState> {
        self.shards.get(&shard)
    }

    /// Every shard's state, by index.
    pub fn shards(&self) -> &BTreeMap<u32, ShardState> {
        &self.shards
    }

    /// The entry of an unsettled record.
    pub fn entry(&self, key: RecordKey) -> Option<&Entry> {
        self.shards.get(&key.shard)?.entries.get(&key.offset)
    }

    /// True if `key` is settled (acknowledged, discarded or trimmed) for good: below its
    /// shard's cursor with no entry. Records of unknown shards are not settled.
    pub fn is_settled(&self, key: RecordKey) -> bool {
        self.shards.get(&key.shard).is_some_and(|s| key.offset < s.cursor && !s.entries.contains_key(&key.offset))
    }

    /// Record counts.
    pub fn counts(&self) -> QueueCounts {
        QueueCounts {
            in_flight: self.deadlines.len() - self.dead_letter_in_flight,
            visible_redeliveries: self.visible.len(),
            dead_letter_visible: self.dead_letter_visible.len(),
            dead_letter_in_flight: self.dead_letter_in_flight,
        }
    }

    /// Records in flight, normal and dead-letter (what the in-flight limit counts).
    pub fn total_in_flight(&self) -> usize {
        self.deadlines.len()
    }

    /// The earliest deadline of a record in flight: when something next becomes visible by
    /// itself.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.first().map(|&(d, _)| d)
    }

    /// Where shard `shard` stands.
    pub fn progress(&self, shard: u32) -> Option<ShardProgress> {
        self.shards.get(&shard).map(|s| ShardProgress { floor: s.floor, cursor: s.cursor, pending: s.entries.len() })
    }

    /// The number of unsettled records (entries) over all shards.
    pub fn entry_count(&self) -> usize {
        self.shards.values().map(|s| s.entries.len()).sum()
    }

    /// The persistent fields (for a snapshot).
    pub fn to_parts(&self) -> StateParts {
        StateParts {
            config: self.config,
            clock_ms: self.clock_ms,
            next_generation: self.next_generation,
            reserved_generation: self.reserved_generation,
            shards: self
                .shards
                .iter()
                .map(|(&index, s)| ShardParts {
                    index,
                    floor: s.floor,
                    cursor: s.cursor,
                    entries: s.entries.iter().map(|(&o, &e)| (o, e)).collect(),
                })
                .collect(),
        }
    }

    /// Rebuild a state (and its indexes) from persistent fields, checking every invariant.
    pub fn from_parts(parts: StateParts) -> Result<DeliveryState, StateError> {
        let StateParts { config, clock_ms, next_generation, reserved_generation, shards: shard_parts } = parts;
        if next_generation > reserved_generation {
            return fail(format!("next generation {next_generation} is above the reservation {reserved_generation}"));
        }
        let mut deadlines = Vec::new();
        let mut visible = Vec::new();
        let mut dead_letter_visible = Vec::new();
        let mut dead_letter_in_flight = 0;
        let mut shards = BTreeMap::new();
        let mut previous: Option<u32> = None;
        for ShardParts { index, floor, cursor, entries } in shard_parts {
            if previous.is_some_and(|p| p >= index) {
                return fail(format!("shard {index} is out of order"));
            }
            previous = Some(index);
            if floor > cursor {
                return fail(format!("shard {index}: floor {floor} is above cursor {cursor}"));
            }
            if entries.first().map_or(cursor, |&(o, _)| o) != floor {
                return fail(format!("shard {index}: floor {floor} is not its first unsettled offset"));
            }
            let mut last: Option<u64> = None;
            for &(offset, e) in &entries {
                if last.is_some_and(|l| l >= offset) || offset >= cursor {
                    return fail(format!("shard {index}: entry at offset {offset} is out of order or range"));
                }
                last = Some(offset);
                check_entry(e, next_generation)
                    .map_err(|m| StateError(format!("shard {index} offset {offset}: {m}")))?;
                let key = RecordKey::new(index, offset);
                match e.phase {
                    Phase::InFlight => deadlines.push((e.deadline_ms, key)),
                    Phase::DeadLetterInFlight => {
                        deadlines.push((e.deadline_ms, key));
                        dead_letter_in_flight += 1;
                    }
                    Phase::Visible => visible.push(key),
                    Phase::DeadLetterVisible => dead_letter_visible.push(key),
                }
            }
            shards.insert(index, ShardState { floor, cursor, entries: entries.into_iter().collect() });
        }
        deadlines.sort_unstable();
        let state = DeliveryState {
            config,
            clock_ms,
            next_generation,
            reserved_generation,
            shards,
            deadlines: deadlines.into_iter().collect(),
            visible: visible.into_iter().collect(),
            dead_letter_visible: dead_letter_visible.into_iter().collect(),
            dead_letter_in_flight,
        };
        Ok(state)
    }

    /// Check every invariant of the module docs (O(records)); tests call it after each step.
    pub fn check_invariants(&self) -> Result<(), String> {
        let rebuilt = DeliveryState::from_parts(self.to_parts()).map_err(|e| e.0)?;
        if rebuilt != *self {
            return Err("the derived indexes disagree with the entries".into());
        }
        Ok(())
    }

    /// After recovery: generations between the last one the log shows and the reservation
    /// may have been handed out before the crash without reaching the log, so none of them is
    /// used again.
    pub fn skip_to_reservation(&mut self) {
        self.next_generation = self.reserved_generation;
    }

    // -----------------------------------------------------------------------------------
    // Time
    // -----------------------------------------------------------------------------------

    /// Move the clock to `now_ms` (never backwards) and time out every delivery whose
    /// deadline has passed. Returns the effective clock, which events must carry.
    pub fn advance_clock(&mut self, now_ms: u64) -> u64 {
        self.clock_ms = self.clock_ms.max(now_ms);
        while let Some(&(deadline, key)) = self.deadlines.first() {
            if deadline > self.clock_ms {
                break;
            }
            self.deadlines.pop_first();
            self.time_out(key);
        }
        self.clock_ms
    }

    /// The delivery of `key` (already removed from the deadline index) timed out or was
    /// released: back to visible, or into the dead-letter set.
    fn time_out(&mut self, key: RecordKey) {
        let max_receive_count = self.config.dead_letter.max_receive_count();
        let Some(entry) = self.shards.get_mut(&key.shard).and_then(|s| s.entries.get_mut(&key.offset)) else {
            debug_assert!(false, "deadline index names {key:?}, which has no entry");
            return;
        };
        entry.deadline_ms = 0;
        match entry.phase {
            Phase::InFlight if max_receive_count.is_some_and(|m| entry.receive_count >= m) => {
                entry.phase = Phase::DeadLetterVisible;
                self.dead_letter_visible.insert(key);
            }
            Phase::InFlight => {
                entry.phase = Phase::Visible;
                self.visible.insert(key);
            }
            Phase::DeadLetterInFlight => {
                entry.phase = Phase::DeadLetterVisible;
                self.dead_letter_in_flight -= 1;
                self.dead_letter_visible.insert(key);
            }
            Phase::Visible | Phase::DeadLetterVisible => {
                debug_assert!(false, "deadline index names {key:?}, which is not in flight");
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Decisions (no changes): what the live operations turn into events
    // -----------------------------------------------------------------------------------

    /// The trims a receive over `fresh` needs first: shards it has never seen start at their
    /// span's start, and shards whose span starts above their floor lose what retention
    /// removed. Call after [`DeliveryState::advance_clock`].
    pub fn trims_for(&self, fresh: &[FreshSpan]) -> Vec<Event> {
        fresh
            .iter()
            .filter(|span| self.shards.get(&span.shard).is_none_or(|s| span.start > s.floor))
            .map(|span| Event::Trim(Trim { now_ms: self.clock_ms, shard: span.shard, start: span.start }))
            .collect()
    }

    /// Choose up to `max` records for a normal receive: visible redeliveries first (by key),
    /// then fresh records from `fresh` in the order given, each shard from its cursor. No
    /// more than `max_in_flight` records may be in flight afterwards, nor more than
    /// [`MAX_RECORDS_PER_EVENT`] delivered at once. Every span's shard must be known with
    /// `floor ≥ start` (apply [`DeliveryState::trims_for`] first).
    pub fn plan_receive(&self, max: usize, fresh: &[FreshSpan], max_in_flight: usize) -> ReceivePlan {
        debug_assert!(self.trims_for(fresh).is_empty(), "plan_receive before its trims were applied");
        let room = max_in_flight.saturating_sub(self.deadlines.len());
        let budget = max.min(room).min(MAX_RECORDS_PER_EVENT);
        let mut records: Vec<RecordKey> = self.visible.iter().take(budget).copied().collect();
        for span in fresh {
            let left = budget - records.len();
            if left == 0 {
                break;
            }
            let cursor = self.cursor_for(span);
            let end = span.end.min(cursor.saturating_add(left as u64));
            records.extend((cursor..end).map(|offset| RecordKey::new(span.shard, offset)));
        }
        records.sort_unstable();
        let limited = room < max && records.len() < max && records.len() < self.available(fresh);
        ReceivePlan { limited, records }
    }

    /// Where fresh records of `span` start: its shard's cursor (the span's start for a shard
    /// whose trim is still to be applied: where that trim will put the cursor).
    fn cursor_for(&self, span: &FreshSpan) -> u64 {
        self.shards.get(&span.shard).map_or(span.start, |s| s.cursor.max(span.start))
    }

    /// Records a normal receive over `fresh` could take without limits (saturating).
    fn available(&self, fresh: &[FreshSpan]) -> usize {
        let backlog =
            fresh.iter().fold(0u64, |n, span| n.saturating_add(span.end.saturating_sub(self.cursor_for(span))));
        self.visible.len().saturating_add(usize::try_from(backlog).unwrap_or(usize::MAX))
    }

    /// Choose up to `max` dead-letter records (by key) for a dead-letter receive, within the
    /// in-flight limit.
    pub fn plan_dead_letter_receive(&self, max: usize, max_in_flight: usize) -> ReceivePlan {
        let room = max_in_flight.saturating_sub(self.deadlines.len());
        let budget = max.min(room).min(MAX_RECORDS_PER_EVENT);
        let records: Vec<RecordKey> = self.dead_letter_visible.iter().take(budget).copied().collect();
        let limited = budget < max && self.dead_letter_visible.len() > records.len();
        ReceivePlan { records, limited }
    }

    // -----------------------------------------------------------------------------------
    // Transitions
    // -----------------------------------------------------------------------------------

    /// Apply one event: first the expiry up to its clock value, then its change. Fails, and
    /// may leave the state partly changed, when the event does not fit the state (a bug when
    /// live, corruption when replaying).
    pub fn apply(&mut self, event: &Event) -> Result<(), StateError> {
        if let Some(now) = event.now_ms() {
            self.advance_clock(now);
        }
        match event {
            Event::Receive(r) => self.apply_receive(r),
            Event::Acknowledge(a) => self.apply_acknowledge(a),
            Event::Visibility(v) => self.apply_visibility(v),
            Event::Restore(r) => self.apply_restore(r),
            Event::Trim(t) => {
                self.apply_trim(t);
                Ok(())
            }
            Event::Forget(f) => {
                self.apply_forget(f);
                Ok(())
            }
            Event::Config(c) => self.apply_config(c),
            Event::Rewind(r) => {
                self.apply_rewind(r);
                Ok(())
            }
            Event::Reserve(r) => {
                if r.upto < self.next_generation {
                    return fail(format!(
                        "reservation up to {} is below the next generation {}",
                        r.upto, self.next_generation
                    ));
                }
                self.reserved_generation = self.reserved_generation.max(r.upto);
                Ok(())
            }
        }
    }

    fn apply_receive(&mut self, r: &Receive) -> Result<(), StateError> {
        let count = r.records.len() as u64;
        let end = r.first_generation.checked_add(count).ok_or_else(|| StateError("generation overflow".into()))?;
        if r.first_generation < self.next_generation || end > self.reserved_generation {
            return fail(format!(
                "receive of generations {}..{end} outside the unused reserved range {}..{}",
                r.first_generation, self.next_generation, self.reserved_generation
            ));
        }
        // A bounded range: `end` was checked above, and a `RangeFrom` would overflow stepping
        // past `u64::MAX` after the last record.
        for (generation, key) in (r.first_generation..end).zip(&r.records) {
            let key = *key;
            let Some(shard) = self.shards.get_mut(&key.shard) else {
                return fail(format!("receive of {key:?}: unknown shard"));
            };
            if r.dead_letter {
                match shard.entries.get_mut(&key.offset) {
                    Some(e) if e.phase == Phase::DeadLetterVisible => {
                        e.phase = Phase::DeadLetterInFlight;
                        e.generation = generation;
                        e.deadline_ms = r.deadline_ms;
                    }
                    other => return fail(format!("dead-letter receive of {key:?} in state {other:?}")),
                }
                self.dead_letter_visible.remove(&key);
                self.dead_letter_in_flight += 1;
            } else if key.offset == shard.cursor {
                shard.cursor = shard
                    .cursor
                    .checked_add(1)
                    .ok_or_else(|| StateError(format!("receive of {key:?}: cursor overflow")))?;
                shard.entries.insert(
                    key.offset,
                    Entry {
                        phase: Phase::InFlight,
                        receive_count: 1,
                        first_receive_ms: r.now_ms,
                        generation,
                        deadline_ms: r.deadline_ms,
                    },
                );
                // A shard with no entries has floor == old cursor == this offset: unchanged.
                debug_assert!(shard.floor <= key.offset);
            } else {
                match shard.entries.get_mut(&key.offset) {
                    Some(e) if e.phase == Phase::Visible => {
                        e.phase = Phase::InFlight;
                        e.receive_count = e.receive_count.saturating_add(1);
                        e.generation = generation;
                        e.deadline_ms = r.deadline_ms;
                    }
                    other => {
                        return fail(format!(
                            "receive of {key:?} (cursor {}) in state {other:?}: neither fresh nor visible",
                            shard.cursor
                        ))
                    }
                }
                self.visible.remove(&key);
            }
            self.deadlines.insert((r.deadline_ms, key));
        }
        self.next_generation = end;
        // A receive with a deadline already passed (visibility 0) times out at once.
        self.advance_clock(r.now_ms);
        Ok(())
    }

    fn apply_acknowledge(&mut self, a: &Acknowledge) -> Result<(), StateError> {
        for &key in &a.records {
            let Some(shard) = self.shards.get_mut(&key.shard) else {
                return fail(format!("acknowledgement of {key:?}: unknown shard"));
            };
            // A normal handle stays current through a timeout (Visible) and through the
            // dead-lettering its own timeout caused (DeadLetterVisible), never past a
            // dead-letter receive; a dead-letter handle only while the record is dead-letter.
            let allowed = match shard.entries.get(&key.offset).map(|e| e.phase) {
                Some(Phase::InFlight | Phase::Visible) => !a.dead_letter,
                Some(Phase::DeadLetterVisible) => true,
                Some(Phase::DeadLetterInFlight) => a.dead_letter,
                None => false,
            };
            let Some(e) = shard.entries.remove(&key.offset).filter(|_| allowed) else {
                return fail(format!(
                    "acknowledgement (dead-letter: {}) of {key:?}, which is not pending so",
                    a.dead_letter
                ));
            };
            shard.settle_floor();
            self.unindex(key, &e);
        }
        Ok(())
    }

    fn apply_visibility(&mut self, v: &Visibility) -> Result<(), StateError> {
        let wanted = if v.dead_letter { Phase::DeadLetterInFlight } else { Phase::InFlight };
        for &(key, deadline) in &v.changes {
            let Some(e) = self.shards.get_mut(&key.shard).and_then(|s| s.entries.get_mut(&key.offset)) else {
                return fail(format!("visibility change of {key:?}, which is not pending"));
            };
            if e.phase != wanted {
                return fail(format!("visibility change of {key:?} in phase {:?}", e.phase));
            }
            let old = std::mem::replace(&mut e.deadline_ms, deadline);
            self.deadlines.remove(&(old, key));
            self.deadlines.insert((deadline, key));
        }
        // Visibility 0 (a deadline not after now) releases the record at once.
        self.advance_clock(v.now_ms);
        Ok(())
    }

    fn apply_restore(&mut self, r: &Restore) -> Result<(), StateError> {
        for &key in &r.records {
            let Some(e) = self.shards.get_mut(&key.shard).and_then(|s| s.entries.get_mut(&key.offset)) else {
                return fail(format!("restore of {key:?}, which is not pending"));
            };
            match e.phase {
                Phase::DeadLetterInFlight => {
                    self.deadlines.remove(&(e.deadline_ms, key));
                    self.dead_letter_in_flight -= 1;
                }
                Phase::DeadLetterVisible => {
                    self.dead_letter_visible.remove(&key);
                }
                Phase::InFlight | Phase::Visible => {
                    return fail(format!("restore of {key:?} in phase {:?}", e.phase));
                }
            }
            e.phase = Phase::Visible;
            e.receive_count = 0;
            e.deadline_ms = 0;
            self.visible.insert(key);
        }
        Ok(())
    }

    fn apply_trim(&mut self, t: &Trim) {
        let Some(shard) = self.shards.get_mut(&t.shard) else {
            self.shards.insert(t.shard, ShardState::starting_at(t.start));
            return;
        };
        if t.start <= shard.floor {
            return;
        }
        let kept = shard.entries.split_off(&t.start);
        let dropped = std::mem::replace(&mut shard.entries, kept);
        shard.cursor = shard.cursor.max(t.start);
        shard.settle_floor();
        for (offset, e) in dropped {
            self.unindex(RecordKey::new(t.shard, offset), &e);
        }
    }

    fn apply_rewind(&mut self, r: &Rewind) {
        let Some(shard) = self.shards.get_mut(&r.shard) else { return };
        let dropped = shard.entries.split_off(&r.end);
        shard.cursor = shard.cursor.min(r.end);
        // The one place a floor may move down: offsets from `end` on are records to come.
        shard.floor = shard.entries.first_key_value().map_or(shard.cursor, |(&o, _)| o);
        for (offset, e) in dropped {
            self.unindex(RecordKey::new(r.shard, offset), &e);
        }
    }

    fn apply_forget(&mut self, f: &Forget) {
        if let Some(shard) = self.shards.remove(&f.shard) {
            for (offset, e) in shard.entries {
                self.unindex(RecordKey::new(f.shard, offset), &e);
            }
        }
    }

    /// Remove a dropped entry from the indexes.
    fn unindex(&mut self, key: RecordKey, e: &Entry) {
        match e.phase {
            Phase::InFlight => {
                self.deadlines.remove(&(e.deadline_ms, key));
            }
            Phase::DeadLetterInFlight => {
                self.deadlines.remove(&(e.deadline_ms, key));
                self.dead_letter_in_flight -= 1;
            }
            Phase::Visible => {
                self.visible.remove(&key);
            }
            Phase::DeadLetterVisible => {
                self.dead_letter_visible.remove(&key);
            }
        }
    }

    fn apply_config(&mut self, c: &ConfigChange) -> Result<(), StateError> {
        if c.config.dead_letter.max_receive_count() == Some(0) {
            return fail("MaxReceiveCount 0".into());
        }
        self.config = c.config;
        let Some(max) = c.config.dead_letter.max_receive_count() else { return Ok(()) };
        for (&index, shard) in &mut self.shards {
            for (&offset, e) in &mut shard.entries {
                if e.phase == Phase::Visible && e.receive_count >= max {
                    e.phase = Phase::DeadLetterVisible;
                    let key = RecordKey::new(index, offset);
                    self.visible.remove(&key);
                    self.dead_letter_visible.insert(key);
                }
            }
        }
        Ok(())
    }
}

/// Per-entry checks of [`DeliveryState::from_parts`].
fn check_entry(e: Entry, next_generation: u64) -> Result<(), String> {
    if e.generation >= next_generation {
        return Err(format!("generation {} is not below the next generation {next_generation}", e.generation));
    }
    if !e.phase.is_in_flight() && e.deadline_ms != 0 {
        return Err(format!("phase {:?} with a deadline", e.phase));
    }
    if e.phase == Phase::InFlight && e.receive_count == 0 {
        return Err("in flight with receive count 0".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::queue::config::DeadLetter;
    use crate::log::queue::event::Reserve;

    fn cfg(max: Option<u32>) -> QueueConfig {
        QueueConfig {
            visibility_timeout_ms: 1_000,
            dead_letter: max.map_or(DeadLetter::Off, |m| DeadLetter::BuiltIn { max_receive_count: m }),
        }
    }

    fn receive(s: &mut DeliveryState, now: u64, max: usize, span_end: u64, visibility: u64) -> Vec<RecordKey> {
        let now = s.advance_clock(now);
        let spans = [FreshSpan { shard: 0, start: 0, end: span_end }];
        for t in s.trims_for(&spans) {
            s.apply(&t).unwrap();
        }
        let plan = s.plan_receive(max, &spans, 100);
        let first = s.next_generation();
        s.apply(&Event::Reserve(Reserve { upto: first + plan.records.len() as u64 })).unwrap();
        s.apply(&Event::Receive(Receive {
            now_ms: now,
            deadline_ms: now + visibility,
            first_generation: first,
            dead_letter: false,
            records: plan.records.clone(),
        }))
        .unwrap();
        s.check_invariants().unwrap();
        plan.records
    }

    #[test]
    fn settled_ranges_are_the_gaps_between_entries() {
        let mut s = DeliveryState::new(cfg(None), 0);
        let got = receive(&mut s, 0, 6, 6, 100);
        assert_eq!(got.len(), 6);
        let ack = |s: &mut DeliveryState, offsets: &[u64]| {
            let records = offsets.iter().map(|&o| RecordKey::new(0, o)).collect();
            s.apply(&Event::Acknowledge(Acknowledge { now_ms: 0, dead_letter: false, records })).unwrap();
            s.check_invariants().unwrap();
        };
        ack(&mut s, &[1, 2, 4]);
        let shard = s.shard(0).unwrap();
        assert_eq!((shard.floor(), shard.cursor()), (0, 6));
        assert_eq!(shard.settled_ranges().collect::<Vec<_>>(), vec![(1, 3), (4, 5)]);
        ack(&mut s, &[0]);
        assert_eq!(s.shard(0).unwrap().floor(), 3);
        assert_eq!(s.shard(0).unwrap().settled_ranges().collect::<Vec<_>>(), vec![(4, 5)]);
        ack(&mut s, &[3, 5]);
        assert_eq!((s.shard(0).unwrap().floor(), s.shard(0).unwrap().entries().len()), (6, 0));
        assert!((0..6).all(|o| s.is_settled(RecordKey::new(0, o))));
    }

    #[test]
    fn the_nth_timeout_dead_letters_and_restore_resets_the_count() {
        let mut s = DeliveryState::new(cfg(Some(2)), 0);
        let k = RecordKey::new(0, 0);
        receive(&mut s, 0, 1, 1, 10);
        s.advance_clock(10);
        assert_eq!(s.entry(k).unwrap().phase, Phase::Visible);
        receive(&mut s, 10, 1, 1, 10);
        assert_eq!(s.entry(k).unwrap().receive_count, 2);
        assert_eq!(s.entry(k).unwrap().phase, Phase::InFlight, "the last holder may still ack");
        s.advance_clock(20);
        assert_eq!(s.entry(k).unwrap().phase, Phase::DeadLetterVisible);
        assert!(s.plan_receive(10, &[FreshSpan { shard: 0, start: 0, end: 1 }], 100).records.is_empty());
        let plan = s.plan_dead_letter_receive(10, 100);
        assert_eq!(plan.records, vec![k]);
        s.apply(&Event::Reserve(Reserve { upto: 10 })).unwrap();
        let first = s.next_generation();
        s.apply(&Event::Receive(Receive {
            now_ms: 20,
            deadline_ms: 50,
            first_generation: first,
            dead_letter: true,
            records: plan.records,
        }))
        .unwrap();
        assert_eq!(s.counts().dead_letter_in_flight, 1);
        assert_eq!(s.entry(k).unwrap().receive_count, 2, "a dead-letter receive does not count");
        s.apply(&Event::Restore(Restore { now_ms: 21, records: vec![k] })).unwrap();
        let e = *s.entry(k).unwrap();
        assert_eq!((e.phase, e.receive_count, e.first_receive_ms), (Phase::Visible, 0, 0));
        s.check_invariants().unwrap();
    }

    #[test]
    fn the_in_flight_limit_caps_a_receive() {
        let mut s = DeliveryState::new(cfg(None), 0);
        s.apply(&Event::Trim(Trim { now_ms: 0, shard: 0, start: 0 })).unwrap();
        let spans = [FreshSpan { shard: 0, start: 0, end: 50 }];
        let plan = s.plan_receive(10, &spans, 4);
        assert_eq!((plan.records.len(), plan.limited), (4, true));
        let plan = s.plan_receive(10, &[FreshSpan { shard: 0, start: 0, end: 3 }], 4);
        assert_eq!((plan.records.len(), plan.limited), (3, false), "fewer available than the room is not limited");
    }

    #[test]
    fn trim_drops_state_below_the_start_and_moves_the_cursor() {
        let mut s = DeliveryState::new(cfg(None), 0);
        receive(&mut s, 0, 5, 5, 100);
        s.apply(&Event::Trim(Trim { now_ms: 1, shard: 0, start: 3 })).unwrap();
        assert_eq!(s.counts().in_flight, 2);
        assert_eq!(s.shard(0).unwrap().floor(), 3);
        s.apply(&Event::Trim(Trim { now_ms: 1, shard: 0, start: 9 })).unwrap();
        assert_eq!((s.shard(0).unwrap().floor(), s.shard(0).unwrap().cursor()), (9, 9));
        assert_eq!(s.total_in_flight(), 0);
        s.check_invariants().unwrap();
    }

    #[test]
    fn a_rewind_forgets_offsets_the_shard_log_lost() {
        let mut s = DeliveryState::new(cfg(None), 0);
        let got = receive(&mut s, 0, 6, 6, 100);
        s.apply(&Event::Acknowledge(Acknowledge { now_ms: 0, dead_letter: false, records: got[..2].to_vec() }))
            .unwrap();
        s.apply(&Event::Rewind(Rewind { now_ms: 1, shard: 0, end: 4 })).unwrap();
        let shard = s.shard(0).unwrap();
        assert_eq!((shard.floor(), shard.cursor(), shard.entries().len()), (2, 4, 2));
        assert_eq!(s.counts().in_flight, 2);
        s.apply(&Event::Rewind(Rewind { now_ms: 1, shard: 0, end: 1 })).unwrap();
        let shard = s.shard(0).unwrap();
        assert_eq!(
            (shard.floor(), shard.cursor(), shard.entries().len()),
            (1, 1, 0),
            "settled offsets above come again"
        );
        s.check_invariants().unwrap();
        assert_eq!(receive(&mut s, 2, 10, 3, 100), vec![RecordKey::new(0, 1), RecordKey::new(0, 2)]);
    }

    #[test]
    fn lowering_max_receive_count_dead_letters_visible_records_over_it() {
        let mut s = DeliveryState::new(cfg(None), 0);
        receive(&mut s, 0, 2, 2, 5);
        s.advance_clock(5);
        receive(&mut s, 5, 1, 2, 5);
        s.advance_clock(10);
        assert_eq!(s.counts().visible_redeliveries, 2);
        s.apply(&Event::Config(ConfigChange { now_ms: 10, config: cfg(Some(2)) })).unwrap();
        assert_eq!(s.entry(RecordKey::new(0, 0)).unwrap().phase, Phase::DeadLetterVisible);
        assert_eq!(s.entry(RecordKey::new(0, 1)).unwrap().phase, Phase::Visible);
        s.check_invariants().unwrap();
    }

    #[test]
    fn events_that_do_not_fit_are_errors() {
        let mut s = DeliveryState::new(cfg(None), 0);
        let bad =
            Event::Acknowledge(Acknowledge { now_ms: 0, dead_letter: false, records: vec![RecordKey::new(0, 0)] });
        assert!(s.apply(&bad).is_err());
        let skip = Event::Receive(Receive {
            now_ms: 0,
            deadline_ms: 1,
            first_generation: 0,
            dead_letter: false,
            records: vec![RecordKey::new(0, 3)],
        });
        s.apply(&Event::Trim(Trim { now_ms: 0, shard: 0, start: 0 })).unwrap();
        assert!(s.apply(&skip).is_err(), "no reservation");
        s.apply(&Event::Reserve(Reserve { upto: 5 })).unwrap();
        assert!(s.apply(&skip).is_err(), "fresh records must start at the cursor");
    }
}
