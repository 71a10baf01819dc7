//! The events of the queue state log: what they mean (applied by
//! [`super::state::DeliveryState::apply`]) and their payload bytes (framed by
//! [`super::frame`]; the tables are in `docs/format.md`).
//!
//! Record lists are stored as *runs* `(shard u32, start u64, len u32)` of consecutive offsets,
//! ascending, with a gap between runs of the same shard: a receive of 100 fresh records or an
//! in-order acknowledgement of 100 records is one 16-byte run. The decoder accepts only that
//! canonical form, so every decoded payload re-encodes to the same bytes, and it checks every
//! count against the bytes left before allocating.

use super::codec::{put_u32, put_u64, DecodeError, Decoded, LeReader};
use super::config::{DeadLetter, QueueConfig};
use super::key::{RecordKey, MAX_RECORDS_PER_EVENT};

/// Records went in flight (normal or dead-letter receive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receive {
    /// Clock of the operation (ms).
    pub now_ms: u64,
    /// When these deliveries time out.
    pub deadline_ms: u64,
    /// Generation of the first record; the i-th record (in list order) gets `first + i`.
    pub first_generation: u64,
    /// A dead-letter receive.
    pub dead_letter: bool,
    /// The records, strictly ascending.
    pub records: Vec<RecordKey>,
}

/// Records were settled: acknowledged, or (dead-letter) discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledge {
    /// Clock of the operation (ms).
    pub now_ms: u64,
    /// Through the dead-letter operation.
    pub dead_letter: bool,
    /// The records, strictly ascending.
    pub records: Vec<RecordKey>,
}

/// In-flight records got new deadlines (a deadline not after `now_ms` releases the record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    /// Clock of the operation (ms).
    pub now_ms: u64,
    /// Through the dead-letter operation.
    pub dead_letter: bool,
    /// `(record, new deadline)`, strictly ascending by record.
    pub changes: Vec<(RecordKey, u64)>,
}

/// Dead-letter records went back to the normal path with receive count 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    /// Clock of the operation (ms).
    pub now_ms: u64,
    /// The records, strictly ascending.
    pub records: Vec<RecordKey>,
}

/// Retention moved a shard's start: everything below `start` is dropped. Also how a shard
/// first becomes known (its reading starts at `start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    /// Clock of the operation (ms).
    pub now_ms: u64,
    /// The shard index.
    pub shard: u32,
    /// The shard's new start.
    pub start: u64,
}

/// A shard's state was dropped whole (a drained or expired shard the catalog no longer has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forget {
    /// Clock of the operation (ms).
    pub now_ms: u64,
    /// The shard index.
    pub shard: u32,
}

/// The shard log lost its tail in a crash (a mode weaker than `Sync`): offsets from `end`
/// on will be reused by new records, so the queue forgets what it knew of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewind {
    /// Clock of the operation (ms).
    pub now_ms: u64,
    /// The shard index.
    pub shard: u32,
    /// The shard's recovered high-watermark.
    pub end: u64,
}

/// The queue's delivery attributes changed (UpdateQueue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigChange {
    /// Clock of the operation (ms).
    pub now_ms: u64,
    /// The new attributes.
    pub config: QueueConfig,
}

/// Generations below `upto` may be handed out. Made durable before any of them is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserve {
    /// The new reservation bound.
    pub upto: u64,
}

/// One change of a queue's delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// See [`Receive`].
    Receive(Receive),
    /// See [`Acknowledge`].
    Acknowledge(Acknowledge),
    /// See [`Visibility`].
    Visibility(Visibility),
    /// See [`Restore`].
    Restore(Restore),
    /// See [`Trim`].
    Trim(Trim),
    /// See [`Forget`].
    Forget(Forget),
    /// See [`ConfigChange`].
    Config(ConfigChange),
    /// See [`Reserve`].
    Reserve(Reserve),
    /// See [`Rewind`].
    Rewind(Rewind),
}

/// Event kind bytes (in the frame header).
pub mod kind {
    /// [`super::Receive`].
    pub const RECEIVE: u8 = 1;
    /// [`super::Acknowledge`].
    pub const ACKNOWLEDGE: u8 = 2;
    /// [`super::Visibility`].
    pub const VISIBILITY: u8 = 3;
    /// [`super::Restore`].
    pub const RESTORE: u8 = 4;
    /// [`super::Trim`].
    pub const TRIM: u8 = 5;
    /// [`super::Forget`].
    pub const FORGET: u8 = 6;
    /// [`super::ConfigChange`].
    pub const CONFIG: u8 = 7;
    /// [`super::Reserve`].
    pub const RESERVE: u8 = 8;
    /// [`super::Rewind`].
    pub const REWIND: u8 = 9;
}

const FLAG_DEAD_LETTER: u8 = 1;
/// Bytes of one run.
const RUN_LEN: usize = 16;
/// Bytes of one visibility change.
const CHANGE_LEN: usize = 20;

impl Event {
    /// The clock value the event ran at (`None` for a reservation).
    pub fn now_ms(&self) -> Option<u64> {
        match self {
            Event::Receive(e) => Some(e.now_ms),
            Event::Acknowledge(e) => Some(e.now_ms),
            Event::Visibility(e) => Some(e.now_ms),
            Event::Restore(e) => Some(e.now_ms),
            Event::Trim(e) => Some(e.now_ms),
            Event::Forget(e) => Some(e.now_ms),
            Event::Config(e) => Some(e.now_ms),
            Event::Reserve(_) => None,
            Event::Rewind(e) => Some(e.now_ms),
        }
    }

    /// The kind byte.
    pub fn kind(&self) -> u8 {
        match self {
            Event::Receive(_) => kind::RECEIVE,
            Event::Acknowledge(_) => kind::ACKNOWLEDGE,
            Event::Visibility(_) => kind::VISIBILITY,
            Event::Restore(_) => kind::RESTORE,
            Event::Trim(_) => kind::TRIM,
            Event::Forget(_) => kind::FORGET,
            Event::Config(_) => kind::CONFIG,
            Event::Reserve(_) => kind::RESERVE,
            Event::Rewind(_) => kind::REWIND,
        }
    }

    /// Append the payload bytes to `buf`. The record lists must be strictly ascending (the
    /// state machine builds them so; checked in debug builds).
    pub fn encode_payload(&self, buf: &mut Vec<u8>) {
        match self {
            Event::Receive(e) => {
                put_u64(buf, e.now_ms);
                put_u64(buf, e.deadline_ms);
                put_u64(buf, e.first_generation);
                buf.push(flags(e.dead_letter));
                put_runs(buf, &e.records);
            }
            Event::Acknowledge(e) => {
                put_u64(buf, e.now_ms);
                buf.push(flags(e.dead_letter));
                put_runs(buf, &e.records);
            }
            Event::Visibility(e) => {
                debug_assert!(e.changes.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)));
                put_u64(buf, e.now_ms);
                buf.push(flags(e.dead_letter));
                put_u32(buf, e.changes.len() as u32);
                for &(key, deadline) in &e.changes {
                    put_u32(buf, key.shard);
                    put_u64(buf, key.offset);
                    put_u64(buf, deadline);
                }
            }
            Event::Restore(e) => {
                put_u64(buf, e.now_ms);
                put_runs(buf, &e.records);
            }
            Event::Trim(e) => {
                put_u64(buf, e.now_ms);
                put_u32(buf, e.shard);
                put_u64(buf, e.start);
            }
            Event::Forget(e) => {
                put_u64(buf, e.now_ms);
                put_u32(buf, e.shard);
            }
            Event::Config(e) => {
                put_u64(buf, e.now_ms);
                put_config(buf, &e.config);
            }
            Event::Reserve(e) => put_u64(buf, e.upto),
            Event::Rewind(e) => {
                put_u64(buf, e.now_ms);
                put_u32(buf, e.shard);
                put_u64(buf, e.end);
            }
        }
    }

    /// Decode the payload of an event of kind `kind`. Anything but the canonical encoding of
    /// an event is an error.
    pub fn decode_payload(kind: u8, payload: &[u8]) -> Result<Event, String> {
        let mut r = LeReader::new(payload);
        let event = decode_fields(kind, &mut r).map_err(|e| e.0)?;
        r.finish("the event").map_err(|e| e.0)?;
        Ok(event)
    }
}

fn decode_fields(kind: u8, r: &mut LeReader<'_>) -> Decoded<Event> {
    Ok(match kind {
        kind::RECEIVE => Event::Receive(Receive {
            now_ms: r.u64("now")?,
            deadline_ms: r.u64("deadline")?,
            first_generation: r.u64("first generation")?,
            dead_letter: read_flags(r)?,
            records: read_runs(r)?,
        }),
        kind::ACKNOWLEDGE => Event::Acknowledge(Acknowledge {
            now_ms: r.u64("now")?,
            dead_letter: read_flags(r)?,
            records: read_runs(r)?,
        }),
        kind::VISIBILITY => {
            let now_ms = r.u64("now")?;
            let dead_letter = read_flags(r)?;
            let n = r.count(CHANGE_LEN, "visibility change count")?;
            if n > MAX_RECORDS_PER_EVENT {
                return Err(DecodeError::new(format!("{n} visibility changes in one event")));
            }
            let mut changes: Vec<(RecordKey, u64)> = Vec::with_capacity(n);
            for _ in 0..n {
                let key = RecordKey::new(r.u32("shard")?, r.u64("offset")?);
                if changes.last().is_some_and(|(last, _)| *last >= key) {
                    return Err(DecodeError::new(format!("visibility change of {key:?} out of order")));
                }
                changes.push((key, r.u64("deadline")?));
            }
            Event::Visibility(Visibility { now_ms, dead_letter, changes })
        }
        kind::RESTORE => Event::Restore(Restore { now_ms: r.u64("now")?, records: read_runs(r)? }),
        kind::TRIM => Event::Trim(Trim { now_ms: r.u64("now")?, shard: r.u32("shard")?, start: r.u64("start")? }),
        kind::FORGET => Event::Forget(Forget { now_ms: r.u64("now")?, shard: r.u32("shard")? }),
        kind::CONFIG => Event::Config(ConfigChange { now_ms: r.u64("now")?, config: read_config(r)? }),
        kind::RESERVE => Event::Reserve(Reserve { upto: r.u64("reservation")? }),
        kind::REWIND => Event::Rewind(Rewind { now_ms: r.u64("now")?, shard: r.u32("shard")?, end: r.u64("end")? }),
        other => return Err(DecodeError::new(format!("unknown event kind {other}"))),
    })
}

fn flags(dead_letter: bool) -> u8 {
    if dead_letter {
        FLAG_DEAD_LETTER
    } else {
        0
    }
}

fn read_flags(r: &mut LeReader<'_>) -> Decoded<bool> {
    match r.u8("flags")? {
        0 => Ok(false),
        FLAG_DEAD_LETTER => Ok(true),
        other => Err(DecodeError::new(format!("unknown event flags {other:#04x}"))),
    }
}

/// The queue attributes: visibility timeout ms u64, MaxReceiveCount u32 (0 = dead-lettering
/// off). Shared with the snapshot.
pub(crate) fn put_config(buf: &mut Vec<u8>, config: &QueueConfig) {
    put_u64(buf, config.visibility_timeout_ms);
    put_u32(buf, config.dead_letter.max_receive_count().unwrap_or(0));
}

pub(crate) fn read_config(r: &mut LeReader<'_>) -> Decoded<QueueConfig> {
    let visibility_timeout_ms = r.u64("visibility timeout")?;
    let dead_letter = match r.u32("max receive count")? {
        0 => DeadLetter::Off,
        max_receive_count => DeadLetter::BuiltIn { max_receive_count },
    };
    Ok(QueueConfig { visibility_timeout_ms, dead_letter })
}

/// Append `records` (strictly ascending) as a run count and runs.
fn put_runs(buf: &mut Vec<u8>, records: &[RecordKey]) {
    debug_assert!(records.windows(2).all(|w| matches!(w, [a, b] if a < b)), "records not strictly ascending");
    let count_at = buf.len();
    put_u32(buf, 0);
    let mut runs = 0u32;
    let mut iter = records.iter().peekable();
    while let Some(first) = iter.next() {
        let mut len = 1u32;
        while iter
            .next_if(|k| k.shard == first.shard && first.offset.checked_add(u64::from(len)) == Some(k.offset))
            .is_some()
        {
            len += 1;
        }
        put_u32(buf, first.shard);
        put_u64(buf, first.offset);
        put_u32(buf, len);
        runs += 1;
    }
    if let Some(slot) = buf.get_mut(count_at..count_at + 4) {
        slot.copy_from_slice(&runs.to_le_bytes());
    }
}

fn read_runs(r: &mut LeReader<'_>) -> Decoded<Vec<RecordKey>> {
    let n = r.count(RUN_LEN, "run count")?;
    let mut runs = Vec::with_capacity(n);
    let mut total = 0usize;
    let mut previous_end: Option<RecordKey> = None;
    for _ in 0..n {
        let shard = r.u32("run shard")?;
        let start = r.u64("run start")?;
        let len = r.u32("run length")?;
        let end = start.checked_add(u64::from(len)).filter(|_| len > 0);
        let Some(end) = end else {
            return Err(DecodeError::new(format!("run at {shard}/{start} has length {len}")));
        };
        // A run must start past the previous one's end (equal would be one run split in two).
        if previous_end.is_some_and(|p| p >= RecordKey::new(shard, start)) {
            return Err(DecodeError::new(format!("run at {shard}/{start} is out of order or adjoins the previous")));
        }
        previous_end = Some(RecordKey::new(shard, end));
        total = total.saturating_add(len as usize);
        if total > MAX_RECORDS_PER_EVENT {
            return Err(DecodeError::new(format!("more than {MAX_RECORDS_PER_EVENT} records in one event")));
        }
        runs.push((shard, start, end));
    }
    let mut records = Vec::with_capacity(total);
    for (shard, start, end) in runs {
        records.extend((start..end).map(|offset| RecordKey::new(shard, offset)));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[(u32, u64)]) -> Vec<RecordKey> {
        list.iter().map(|&(s, o)| RecordKey::new(s, o)).collect()
    }

    fn round_trip(e: &Event) -> Vec<u8> {
        let mut buf = Vec::new();
        e.encode_payload(&mut buf);
        assert_eq!(Event::decode_payload(e.kind(), &buf).as_ref(), Ok(e));
        buf
    }

    #[test]
    fn every_event_round_trips() {
        let records = keys(&[(0, 5), (0, 6), (0, 7), (0, 9), (1, 0), (3, u64::MAX - 1)]);
        let events = [
            Event::Receive(Receive {
                now_ms: 1,
                deadline_ms: 2,
                first_generation: 3,
                dead_letter: true,
                records: records.clone(),
            }),
            Event::Acknowledge(Acknowledge { now_ms: 9, dead_letter: false, records: records.clone() }),
            Event::Visibility(Visibility {
                now_ms: 4,
                dead_letter: false,
                changes: vec![(RecordKey::new(0, 1), 7), (RecordKey::new(2, 0), 0)],
            }),
            Event::Restore(Restore { now_ms: 5, records: vec![] }),
            Event::Trim(Trim { now_ms: 6, shard: 7, start: 8 }),
            Event::Forget(Forget { now_ms: 6, shard: 9 }),
            Event::Config(ConfigChange { now_ms: 1, config: QueueConfig::default() }),
            Event::Config(ConfigChange {
                now_ms: 1,
                config: QueueConfig { visibility_timeout_ms: 0, dead_letter: DeadLetter::Off },
            }),
            Event::Reserve(Reserve { upto: u64::MAX }),
            Event::Rewind(Rewind { now_ms: 3, shard: 1, end: 4 }),
        ];
        for e in &events {
            round_trip(e);
        }
    }

    #[test]
    fn consecutive_offsets_are_one_run() {
        let records: Vec<RecordKey> = (100..200).map(|o| RecordKey::new(2, o)).collect();
        let bytes = round_trip(&Event::Acknowledge(Acknowledge { now_ms: 0, dead_letter: false, records }));
        assert_eq!(bytes.len(), 8 + 1 + 4 + RUN_LEN);
    }

    #[test]
    fn non_canonical_payloads_are_rejected() {
        let run = |shard: u32, start: u64, len: u32| {
            let mut b = Vec::new();
            put_u32(&mut b, shard);
            put_u64(&mut b, start);
            put_u32(&mut b, len);
            b
        };
        let restore = |runs: &[Vec<u8>]| {
            let mut b = 7u64.to_le_bytes().to_vec();
            put_u32(&mut b, runs.len() as u32);
            runs.iter().for_each(|r| b.extend_from_slice(r));
            Event::decode_payload(kind::RESTORE, &b)
        };
        assert!(restore(&[run(0, 1, 2)]).is_ok());
        assert!(restore(&[run(0, 1, 0)]).is_err(), "empty run");
        assert!(restore(&[run(0, 1, 2), run(0, 3, 1)]).is_err(), "adjoining runs");
        assert!(restore(&[run(0, 5, 1), run(0, 1, 1)]).is_err(), "descending runs");
        assert!(restore(&[run(0, u64::MAX, 1)]).is_err(), "overflowing run");
        assert!(restore(&[run(0, 0, MAX_RECORDS_PER_EVENT as u32 + 1)]).is_err(), "too many records");
        let mut huge = 7u64.to_le_bytes().to_vec();
        put_u32(&mut huge, u32::MAX);
        assert!(Event::decode_payload(kind::RESTORE, &huge).is_err(), "count beyond the bytes");
        let mut trailing = Vec::new();
        Event::Reserve(Reserve { upto: 1 }).encode_payload(&mut trailing);
        trailing.push(0);
        assert!(Event::decode_payload(kind::RESERVE, &trailing).is_err());
        assert!(Event::decode_payload(0, &[]).is_err());
        assert!(Event::decode_payload(99, &[]).is_err());
        let mut flags = Vec::new();
        Event::Acknowledge(Acknowledge { now_ms: 0, dead_letter: false, records: vec![] }).encode_payload(&mut flags);
        flags[8] = 2;
        assert!(Event::decode_payload(kind::ACKNOWLEDGE, &flags).is_err());
    }
}
