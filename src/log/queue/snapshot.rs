//! The snapshot file of a queue: the whole delivery state at the start of a log epoch
//! (`docs/format.md`, "Queue snapshot").
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `SLQS` |
//! | 4..6 | version u16 = 1 |
//! | 6..8 | reserved u16 = 0 |
//! | 8..16 | queue uid u64 |
//! | 16..24 | epoch u64 |
//! | 24..32 | body length u64 |
//! | 32.. | body |
//! | last 4 | CRC-32 of every byte before it |
//!
//! Body: the attributes (visibility timeout ms u64, MaxReceiveCount u32, 0 = off), clock ms
//! u64, next generation u64, reserved generation u64, shard count u32, then per shard: index
//! u32, floor u64, cursor u64, entry count u32 and entries of 37 bytes (offset u64, phase u8,
//! receive count u32, first receive ms u64, generation u64, deadline ms u64). Every count is
//! checked against the bytes left before anything is allocated; the decoded state must pass
//! every invariant of [`DeliveryState`].

use super::codec::{put_u32, put_u64, DecodeError, Decoded, LeReader};
use super::event::{put_config, read_config};
use super::state::{DeliveryState, Entry, Phase, ShardParts, StateParts};

/// Magic of a snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 4] = *b"SLQS";
/// The snapshot format version this build writes and reads.
pub const SNAPSHOT_VERSION: u16 = 1;
/// Bytes of the snapshot header.
pub const SNAPSHOT_HEADER_LEN: usize = 32;
/// Bytes of one entry.
pub const ENTRY_LEN: usize = 37;
/// Bytes of a shard's fields before its entries.
const SHARD_LEN: usize = 24;

/// A decoded snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The queue's internal id.
    pub queue_uid: u64,
    /// The epoch: the log that continues this snapshot carries the same epoch.
    pub epoch: u64,
    /// The delivery state.
    pub state: DeliveryState,
}

/// Encode the snapshot of `state` for `queue_uid` at `epoch`.
pub fn encode(queue_uid: u64, epoch: u64, state: &DeliveryState) -> Vec<u8> {
    let entries = state.entry_count();
    let mut out =
        Vec::with_capacity(SNAPSHOT_HEADER_LEN + 64 + state.shards().len() * SHARD_LEN + entries * ENTRY_LEN + 4);
    out.extend_from_slice(&SNAPSHOT_MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    put_u64(&mut out, queue_uid);
    put_u64(&mut out, epoch);
    put_u64(&mut out, 0); // body length, filled in below
    put_config(&mut out, &state.config());
    put_u64(&mut out, state.clock_ms());
    put_u64(&mut out, state.next_generation());
    put_u64(&mut out, state.reserved_generation());
    put_u32(&mut out, state.shards().len() as u32);
    for (&index, shard) in state.shards() {
        put_u32(&mut out, index);
        put_u64(&mut out, shard.floor());
        put_u64(&mut out, shard.cursor());
        put_u32(&mut out, shard.entries().len() as u32);
        for (&offset, e) in shard.entries() {
            put_u64(&mut out, offset);
            out.push(e.phase.code());
            put_u32(&mut out, e.receive_count);
            put_u64(&mut out, e.first_receive_ms);
            put_u64(&mut out, e.generation);
            put_u64(&mut out, e.deadline_ms);
        }
    }
    let body_len = (out.len() - SNAPSHOT_HEADER_LEN) as u64;
    if let Some(slot) = out.get_mut(24..32) {
        slot.copy_from_slice(&body_len.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decode and check a snapshot file's bytes.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, String> {
    decode_inner(bytes).map_err(|e| e.0)
}

fn decode_inner(bytes: &[u8]) -> Decoded<Snapshot> {
    let mut r = LeReader::new(bytes);
    if r.bytes(4, "magic")? != SNAPSHOT_MAGIC {
        return Err(DecodeError::new("bad magic: not a queue snapshot"));
    }
    let version = r.u16("version")?;
    if version != SNAPSHOT_VERSION {
        return Err(DecodeError::new(format!("unsupported queue snapshot version {version}")));
    }
    if r.u16("reserved")? != 0 {
        return Err(DecodeError::new("reserved header bytes are not zero"));
    }
    let queue_uid = r.u64("queue uid")?;
    let epoch = r.u64("epoch")?;
    let body_len = r.u64("body length")?;
    let expected = (SNAPSHOT_HEADER_LEN as u64).checked_add(body_len).and_then(|n| n.checked_add(4));
    if expected != Some(bytes.len() as u64) {
        return Err(DecodeError::new(format!(
            "body length {body_len} does not match the file's {} bytes",
            bytes.len()
        )));
    }
    let (covered, crc) = bytes.split_at(bytes.len() - 4);
    let mut stored = [0u8; 4];
    stored.copy_from_slice(crc);
    let (stored, computed) = (u32::from_le_bytes(stored), crc32fast::hash(covered));
    if stored != computed {
        return Err(DecodeError::new(format!("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")));
    }
    let mut r = LeReader::new(covered.get(SNAPSHOT_HEADER_LEN..).unwrap_or_default());
    let config = read_config(&mut r)?;
    let clock_ms = r.u64("clock")?;
    let next_generation = r.u64("next generation")?;
    let reserved_generation = r.u64("reserved generation")?;
    let shard_count = r.count(SHARD_LEN, "shard count")?;
    let mut shards = Vec::with_capacity(shard_count);
    for _ in 0..shard_count {
        let index = r.u32("shard index")?;
        let floor = r.u64("floor")?;
        let cursor = r.u64("cursor")?;
        let n = r.count(ENTRY_LEN, "entry count")?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let offset = r.u64("offset")?;
            let code = r.u8("phase")?;
            let phase = Phase::from_code(code).ok_or_else(|| DecodeError::new(format!("unknown phase {code}")))?;
            let entry = Entry {
                phase,
                receive_count: r.u32("receive count")?,
                first_receive_ms: r.u64("first receive")?,
                generation: r.u64("generation")?,
                deadline_ms: r.u64("deadline")?,
            };
            entries.push((offset, entry));
        }
        shards.push(ShardParts { index, floor, cursor, entries });
    }
    r.finish("the snapshot body")?;
    let parts = StateParts { config, clock_ms, next_generation, reserved_generation, shards };
    let state = DeliveryState::from_parts(parts).map_err(|e| DecodeError::new(e.0))?;
    Ok(Snapshot { queue_uid, epoch, state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::queue::config::QueueConfig;
    use crate::log::queue::event::{Event, Receive, Reserve, Trim};
    use crate::log::queue::state::RecordKey;

    fn sample() -> DeliveryState {
        let mut s = DeliveryState::new(QueueConfig::default(), 10);
        s.apply(&Event::Trim(Trim { now_ms: 10, shard: 3, start: 5 })).unwrap();
        s.apply(&Event::Trim(Trim { now_ms: 10, shard: 1, start: 0 })).unwrap();
        s.apply(&Event::Reserve(Reserve { upto: 100 })).unwrap();
        let records = vec![RecordKey::new(1, 0), RecordKey::new(1, 1), RecordKey::new(3, 5)];
        s.apply(&Event::Receive(Receive {
            now_ms: 11,
            deadline_ms: 50,
            first_generation: 0,
            dead_letter: false,
            records,
        }))
        .unwrap();
        s.advance_clock(60);
        s
    }

    #[test]
    fn round_trips_and_rejects_every_damaged_byte() {
        let s = sample();
        let b = encode(7, 2, &s);
        let d = decode(&b).unwrap();
        assert_eq!((d.queue_uid, d.epoch), (7, 2));
        assert_eq!(d.state, s);
        assert_eq!(encode(7, 2, &d.state), b);
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x04;
            assert!(decode(&bad).is_err(), "byte {i}");
        }
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err());
        }
    }

    #[test]
    fn states_breaking_an_invariant_are_rejected_even_with_a_valid_crc() {
        let s = sample();
        let mut parts = s.to_parts();
        parts.shards[0].floor = 7; // floor above the first entry
        let bad = DeliveryState::from_parts(parts.clone());
        assert!(bad.is_err());
        parts = s.to_parts();
        parts.next_generation = 0; // entries with generations not below it
        assert!(DeliveryState::from_parts(parts).is_err());
    }
}
