//! Batching: which buffered records form the next in-flight *window* of a shard (at most
//! one PutRecords request's worth: 500 records and 5 MiB of data plus keys), and which of the
//! window's not-yet-accepted records go in the next request (a *round*).
//!
//! A window is checkpointed only once every one of its records was accepted, so after a
//! crash at most one window per shard is sent again.
//!
//! Order per key ([`Ordering`]): PutRecords handles entries independently, so a later entry
//! of a key can be accepted while an earlier one is throttled.
//! - [`Ordering::Strict`]: a round holds at most one record per ordering key — the key's
//!   earliest record not yet accepted — so the destination never accepts a record before
//!   every earlier record of its key. A window of k records of one key takes k rounds.
//! - [`Ordering::Batched`]: a round holds every record not yet accepted. When a record
//!   fails, every later record of its key in the window is sent again after it (even if it
//!   was accepted), so each key's records appear at the destination in source order, with
//!   extra earlier copies of the re-sent ones.
//!
//! Invariant (checked with `debug_assert!`): in strict mode, a record is in a round only if
//! every earlier record of the window with the same ordering key was accepted.

use std::collections::HashSet;

use crate::forward::record::OutRecord;

/// Most entries in one PutRecords request.
pub const MAX_PUT_RECORDS_ENTRIES: usize = 500;
/// Most bytes (data + partition keys) in one PutRecords request.
pub const MAX_PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;

/// How records of one key are kept in order (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ordering {
    /// At most one record per key per request: never a later record before an earlier one.
    #[default]
    Strict,
    /// Whole windows per request; after a failure the key's later records are sent again.
    Batched,
}

/// Size limits of a window (and so of a request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Records (1–500).
    pub max_records: usize,
    /// Bytes of data and partition keys (1 B – 5 MiB).
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits { max_records: MAX_PUT_RECORDS_ENTRIES, max_bytes: MAX_PUT_RECORDS_BYTES }
    }
}

impl BatchLimits {
    /// Check the limits against PutRecords'.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_PUT_RECORDS_ENTRIES).contains(&self.max_records) {
            return Err(format!("batch records must be 1 to {MAX_PUT_RECORDS_ENTRIES}, not {}", self.max_records));
        }
        if !(1..=MAX_PUT_RECORDS_BYTES).contains(&self.max_bytes) {
            return Err(format!("batch bytes must be 1 to {MAX_PUT_RECORDS_BYTES}, not {}", self.max_bytes));
        }
        Ok(())
    }

    /// How many records from the front of a buffer (given their billed sizes) form the next
    /// window: as many as fit, and always at least one (a record larger than the byte
    /// limit goes alone; the destination judges it). `full` tells whether the window was cut
    /// by a limit rather than by the end of the buffer.
    pub fn window_len(&self, sizes: impl IntoIterator<Item = usize>) -> (usize, bool) {
        let mut n = 0usize;
        let mut bytes = 0usize;
        for size in sizes {
            if n == self.max_records || (n > 0 && bytes.saturating_add(size) > self.max_bytes) {
                return (n, true);
            }
            n += 1;
            bytes = bytes.saturating_add(size);
        }
        (n, n == self.max_records || bytes >= self.max_bytes)
    }
}

/// What a destination said about one entry of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    /// Stored.
    Accepted,
    /// Not stored (`ProvisionedThroughputExceededException` or `InternalFailure`).
    Failed {
        /// `ErrorCode`.
        code: String,
        /// `ErrorMessage`.
        message: String,
    },
}

/// What one round's answer changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Entries accepted by the destination in this round.
    pub accepted: usize,
    /// Entries that failed.
    pub failed: usize,
    /// Failed entries that were throttled.
    pub throttled: usize,
    /// Records accepted earlier that must be sent again ([`Ordering::Batched`]).
    pub resent: usize,
    /// Billed bytes of the entries accepted in this round.
    pub accepted_bytes: usize,
}

/// The in-flight window of one shard.
#[derive(Debug)]
pub struct Window {
    records: Vec<OutRecord>,
    accepted: Vec<bool>,
    ordering: Ordering,
}

impl Window {
    /// A window of `records` (in source order).
    pub fn new(records: Vec<OutRecord>, ordering: Ordering) -> Window {
        let accepted = vec![false; records.len()];
        Window { records, accepted, ordering }
    }

    /// The records.
    pub fn records(&self) -> &[OutRecord] {
        &self.records
    }

    /// Every record was accepted.
    pub fn is_done(&self) -> bool {
        self.accepted.iter().all(|a| *a)
    }

    /// Records not yet accepted.
    pub fn pending(&self) -> usize {
        self.accepted.iter().filter(|a| !**a).count()
    }

    /// The arrival time of the oldest record not yet accepted.
    pub fn oldest_pending_arrival_ms(&self) -> Option<i64> {
        self.records.iter().zip(&self.accepted).filter(|(_, a)| !**a).map(|(r, _)| r.arrival_ms).min()
    }

    /// The indexes of the records to send next (empty once done).
    pub fn next_round(&self) -> Vec<usize> {
        let pending = self.accepted.iter().enumerate().filter(|(_, a)| !**a).map(|(i, _)| i);
        match self.ordering {
            Ordering::Batched => pending.collect(),
            Ordering::Strict => {
                let mut blocked: HashSet<&str> = HashSet::new();
                let mut round = Vec::new();
                for i in pending {
                    let Some(r) = self.records.get(i) else { continue };
                    match r.ordering_key.as_deref() {
                        None => round.push(i),
                        Some(k) => {
                            if blocked.insert(k) {
                                round.push(i);
                            }
                        }
                    }
                }
                debug_assert!(round.iter().all(|&i| self.earlier_of_key_accepted(i)));
                round
            }
        }
    }

    fn earlier_of_key_accepted(&self, i: usize) -> bool {
        let Some(key) = self.records.get(i).and_then(|r| r.ordering_key.as_deref()) else { return true };
        self.records.iter().zip(&self.accepted).take(i).all(|(r, a)| *a || r.ordering_key.as_deref() != Some(key))
    }

    /// Apply the destination's answer to the round `round` (one outcome per entry, same
    /// order).
    pub fn apply(&mut self, round: &[usize], outcomes: &[EntryOutcome]) -> RoundReport {
        debug_assert_eq!(round.len(), outcomes.len(), "one outcome per entry");
        let mut report = RoundReport::default();
        let mut failed_at: Vec<usize> = Vec::new();
        for (&i, outcome) in round.iter().zip(outcomes) {
            match outcome {
                EntryOutcome::Accepted => {
                    if let Some(a) = self.accepted.get_mut(i) {
                        if !*a {
                            *a = true;
                            report.accepted += 1;
                            report.accepted_bytes += self.records.get(i).map_or(0, OutRecord::billed_bytes);
                        }
                    }
                }
                EntryOutcome::Failed { code, .. } => {
                    report.failed += 1;
                    if code == "ProvisionedThroughputExceededException" {
                        report.throttled += 1;
                    }
                    failed_at.push(i);
                }
            }
        }
        if self.ordering == Ordering::Batched {
            // Every later record of a failed record's key goes again, after it.
            for &i in &failed_at {
                let Some(key) = self.records.get(i).and_then(|r| r.ordering_key.clone()) else { continue };
                for j in i + 1..self.records.len() {
                    let same = self.records.get(j).and_then(|r| r.ordering_key.as_deref()) == Some(key.as_str());
                    if let (true, Some(a)) = (same, self.accepted.get_mut(j)) {
                        if *a {
                            *a = false;
                            report.resent += 1;
                        }
                    }
                }
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn out(key: Option<&str>, n: usize) -> OutRecord {
        OutRecord {
            partition_key: key.unwrap_or("seq").to_string(),
            explicit_hash_key: None,
            data: Bytes::from(vec![0u8; n]),
            ordering_key: key.map(str::to_string),
            source_sequence_number: String::new(),
            arrival_ms: 0,
        }
    }

    fn throttled() -> EntryOutcome {
        EntryOutcome::Failed { code: "ProvisionedThroughputExceededException".into(), message: "slow down".into() }
    }

    #[test]
    fn a_window_stops_at_the_record_or_byte_limit_and_always_takes_one() {
        let l = BatchLimits { max_records: 3, max_bytes: 100 };
        assert_eq!(l.window_len([10, 10, 10, 10]), (3, true));
        assert_eq!(l.window_len([60, 50]), (1, true));
        assert_eq!(l.window_len([500]), (1, true));
        assert_eq!(l.window_len([10]), (1, false));
        assert_eq!(l.window_len(Vec::<usize>::new()), (0, false));
        assert_eq!(BatchLimits::default().window_len(std::iter::repeat_n(1, 600)), (500, true));
    }

    #[test]
    fn limits_beyond_put_records_are_refused() {
        assert!(BatchLimits { max_records: 501, max_bytes: 1 }.validate().is_err());
        assert!(BatchLimits { max_records: 1, max_bytes: 5 * 1024 * 1024 + 1 }.validate().is_err());
        assert!(BatchLimits { max_records: 0, max_bytes: 1 }.validate().is_err());
        assert!(BatchLimits::default().validate().is_ok());
    }

    #[test]
    fn strict_rounds_send_one_record_per_key_and_keyless_records_together() {
        let w = Window::new(
            vec![out(Some("a"), 1), out(Some("b"), 1), out(Some("a"), 1), out(None, 1), out(None, 1)],
            Ordering::Strict,
        );
        assert_eq!(w.next_round(), vec![0, 1, 3, 4]);
    }

    #[test]
    fn strict_a_failed_record_holds_back_every_later_record_of_its_key() {
        let mut w = Window::new(
            vec![out(Some("a"), 1), out(Some("b"), 1), out(Some("a"), 1), out(Some("b"), 1)],
            Ordering::Strict,
        );
        let r = w.next_round();
        assert_eq!(r, vec![0, 1]);
        let rep = w.apply(&r, &[throttled(), EntryOutcome::Accepted]);
        assert_eq!((rep.accepted, rep.failed, rep.throttled), (1, 1, 1));
        // "a" retries its first record; "b" moves on to its second.
        assert_eq!(w.next_round(), vec![0, 3]);
        let rep = w.apply(&[0, 3], &[EntryOutcome::Accepted, EntryOutcome::Accepted]);
        assert_eq!(rep.accepted, 2);
        assert_eq!(w.next_round(), vec![2]);
        w.apply(&[2], &[EntryOutcome::Accepted]);
        assert!(w.is_done());
        assert!(w.next_round().is_empty());
    }

    #[test]
    fn batched_rounds_send_everything_and_resend_later_records_of_a_failed_key() {
        let mut w = Window::new(
            vec![out(Some("a"), 1), out(Some("b"), 1), out(Some("a"), 1), out(Some("a"), 1)],
            Ordering::Batched,
        );
        let r = w.next_round();
        assert_eq!(r, vec![0, 1, 2, 3]);
        let rep = w.apply(&r, &[throttled(), EntryOutcome::Accepted, EntryOutcome::Accepted, throttled()]);
        assert_eq!((rep.failed, rep.resent), (2, 1));
        // 0 failed: 2 (accepted) and 3 go again after it, in order.
        assert_eq!(w.next_round(), vec![0, 2, 3]);
        assert_eq!(w.pending(), 3);
    }

    #[test]
    fn the_oldest_pending_arrival_tracks_what_is_not_yet_accepted() {
        let mut a = out(Some("a"), 1);
        a.arrival_ms = 5;
        let mut b = out(Some("b"), 1);
        b.arrival_ms = 9;
        let mut w = Window::new(vec![a, b], Ordering::Strict);
        assert_eq!(w.oldest_pending_arrival_ms(), Some(5));
        w.apply(&[0, 1], &[EntryOutcome::Accepted, throttled()]);
        assert_eq!(w.oldest_pending_arrival_ms(), Some(9));
    }
}
