//! Framing of the queue state log (`docs/format.md`, "Queue state log"): the file header and
//! the CRC'd frame around each event.
//!
//! Log file header (32 bytes): magic `SLQL`, version u16 = 1, reserved u16 = 0, queue uid
//! u64, epoch u64 (the snapshot this log continues), reserved u32 = 0, CRC-32 of bytes 0..28.
//!
//! Event frame (12-byte header + payload): magic `QE`, kind u8, reserved u8 = 0, payload
//! length u32 (≤ [`MAX_PAYLOAD_LEN`], checked before anything is read or allocated), CRC-32
//! over the log's epoch (u64), the frame's byte position in the file (u64), header bytes 0..8
//! and the payload. Every header field is covered, so a zero-filled or garbage tail never
//! decodes (CRC-32 of zeros is not zero once the length and magic are inside), and the epoch
//! and position tie a frame to its place: stale bytes of an older log or a frame copied
//! elsewhere fail the check.

use super::codec::{DecodeError, Decoded, LeReader};
use super::event::Event;

/// Magic of a queue state log file.
pub const LOG_MAGIC: [u8; 4] = *b"SLQL";
/// The log format version this build writes and reads.
pub const LOG_VERSION: u16 = 1;
/// Bytes of the log file header.
pub const LOG_HEADER_LEN: usize = 32;
/// Magic of an event frame.
pub const FRAME_MAGIC: [u8; 2] = *b"QE";
/// Bytes of an event frame header.
pub const FRAME_HEADER_LEN: usize = 12;
/// The largest payload a frame may declare (an event holds at most 131,072 records: at most
/// 2.5 MiB even when every record is its own visibility change).
pub const MAX_PAYLOAD_LEN: u32 = 4 * 1024 * 1024;

/// The header of a queue state log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHeader {
    /// The queue's internal id.
    pub queue_uid: u64,
    /// The epoch of the snapshot this log continues.
    pub epoch: u64,
}

impl LogHeader {
    /// The header bytes.
    pub fn encode(&self) -> [u8; LOG_HEADER_LEN] {
        let mut b = [0u8; LOG_HEADER_LEN];
        let mut v = Vec::with_capacity(LOG_HEADER_LEN);
        v.extend_from_slice(&LOG_MAGIC);
        v.extend_from_slice(&LOG_VERSION.to_le_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&self.queue_uid.to_le_bytes());
        v.extend_from_slice(&self.epoch.to_le_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
        let crc = crc32fast::hash(&v);
        v.extend_from_slice(&crc.to_le_bytes());
        b.iter_mut().zip(v).for_each(|(d, s)| *d = s);
        b
    }

    /// Decode and check a header (magic, version, reserved bytes, CRC).
    pub fn decode(bytes: &[u8]) -> Result<LogHeader, String> {
        let header = bytes.get(..LOG_HEADER_LEN).ok_or("log file shorter than its header")?;
        let mut r = LeReader::new(header);
        let parse = |r: &mut LeReader<'_>| -> Decoded<LogHeader> {
            if r.bytes(4, "magic")? != LOG_MAGIC {
                return Err(DecodeError::new("bad magic: not a queue state log"));
            }
            let version = r.u16("version")?;
            if version != LOG_VERSION {
                return Err(DecodeError::new(format!("unsupported queue state log version {version}")));
            }
            if r.u16("reserved")? != 0 {
                return Err(DecodeError::new("reserved header bytes are not zero"));
            }
            let queue_uid = r.u64("queue uid")?;
            let epoch = r.u64("epoch")?;
            if r.u32("reserved")? != 0 {
                return Err(DecodeError::new("reserved header bytes are not zero"));
            }
            let stored = r.u32("CRC")?;
            let computed = crc32fast::hash(header.get(..LOG_HEADER_LEN - 4).unwrap_or_default());
            if stored != computed {
                return Err(DecodeError::new(format!(
                    "header CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )));
            }
            Ok(LogHeader { queue_uid, epoch })
        };
        parse(&mut r).map_err(|e| e.0)
    }
}

/// Why the bytes at a position are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header or the declared payload: a torn tail.
    Truncated,
    /// Magic, reserved byte, length or CRC is wrong: a torn or damaged tail.
    Invalid(String),
    /// The frame is intact (its CRC matches) but its payload is not an event this build
    /// knows: corruption, never a torn write.
    BadPayload(String),
}

fn frame_crc(epoch: u64, position: u64, header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&epoch.to_le_bytes());
    h.update(&position.to_le_bytes());
    h.update(header);
    h.update(payload);
    h.finalize()
}

/// Append the frame of `event`, to be written at byte `position` of a log of `epoch`, to
/// `buf`. Returns the frame's length.
pub fn encode_frame(buf: &mut Vec<u8>, epoch: u64, position: u64, event: &Event) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&FRAME_MAGIC);
    buf.push(event.kind());
    buf.push(0);
    buf.extend_from_slice(&[0; 8]);
    event.encode_payload(buf);
    let payload_len = buf.len() - start - FRAME_HEADER_LEN;
    debug_assert!(payload_len <= MAX_PAYLOAD_LEN as usize, "event payload of {payload_len} bytes");
    if let Some(slot) = buf.get_mut(start + 4..start + 8) {
        slot.copy_from_slice(&(payload_len as u32).to_le_bytes());
    }
    let (head, payload) = buf.split_at(start + FRAME_HEADER_LEN);
    let crc = frame_crc(epoch, position, head.get(start..start + 8).unwrap_or_default(), payload);
    if let Some(slot) = buf.get_mut(start + 8..start + FRAME_HEADER_LEN) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    debug_assert_eq!(
        decode_frame(buf.get(start..).unwrap_or_default(), epoch, position),
        Ok((event.clone(), buf.len() - start))
    );
    buf.len() - start
}

/// The payload length a frame header declares, once magic, reserved byte and the length
/// bound are checked (needs only the header bytes).
pub fn frame_payload_len(header: &[u8]) -> Result<usize, FrameError> {
    let Some(h) = header.get(..FRAME_HEADER_LEN) else { return Err(FrameError::Truncated) };
    if h.get(..2) != Some(&FRAME_MAGIC[..]) {
        return Err(FrameError::Invalid("bad frame magic".into()));
    }
    if h.get(3) != Some(&0) {
        return Err(FrameError::Invalid("reserved frame byte is not zero".into()));
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(h.get(4..8).unwrap_or(&[0; 4]));
    let len = u32::from_le_bytes(len);
    if len > MAX_PAYLOAD_LEN {
        return Err(FrameError::Invalid(format!("frame declares {len} payload bytes (limit {MAX_PAYLOAD_LEN})")));
    }
    Ok(len as usize)
}

/// Decode the frame at the start of `bytes`, which sits at byte `position` of a log of
/// `epoch`. Returns the event and the frame's length.
pub fn decode_frame(bytes: &[u8], epoch: u64, position: u64) -> Result<(Event, usize), FrameError> {
    let payload_len = frame_payload_len(bytes)?;
    let total = FRAME_HEADER_LEN + payload_len;
    let Some(frame) = bytes.get(..total) else { return Err(FrameError::Truncated) };
    let (header, payload) = frame.split_at(FRAME_HEADER_LEN);
    let mut stored = [0u8; 4];
    stored.copy_from_slice(header.get(8..12).unwrap_or(&[0; 4]));
    let stored = u32::from_le_bytes(stored);
    let computed = frame_crc(epoch, position, header.get(..8).unwrap_or_default(), payload);
    if stored != computed {
        return Err(FrameError::Invalid(format!(
            "frame CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
        )));
    }
    let kind = header.get(2).copied().unwrap_or(0);
    let event = Event::decode_payload(kind, payload).map_err(FrameError::BadPayload)?;
    Ok((event, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::queue::event::{Reserve, Trim};

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = LogHeader { queue_uid: 9, epoch: 3 };
        let b = h.encode();
        assert_eq!(LogHeader::decode(&b), Ok(h));
        for i in 0..b.len() {
            let mut bad = b;
            bad[i] ^= 0x20;
            assert!(LogHeader::decode(&bad).is_err(), "byte {i}");
        }
        assert!(LogHeader::decode(&b[..31]).is_err());
        assert!(LogHeader::decode(&[0; 32]).is_err());
    }

    #[test]
    fn frames_are_tied_to_epoch_and_position_and_reject_zeros() {
        let e = Event::Trim(Trim { now_ms: 5, shard: 1, start: 2 });
        let mut buf = Vec::new();
        let n = encode_frame(&mut buf, 7, 32, &e);
        assert_eq!(decode_frame(&buf, 7, 32), Ok((e.clone(), n)));
        assert!(matches!(decode_frame(&buf, 8, 32), Err(FrameError::Invalid(_))));
        assert!(matches!(decode_frame(&buf, 7, 33), Err(FrameError::Invalid(_))));
        for cut in 0..n {
            assert!(decode_frame(&buf[..cut], 7, 32).is_err());
        }
        for i in 0..n {
            let mut bad = buf.clone();
            bad[i] ^= 1;
            assert!(decode_frame(&bad, 7, 32).is_err(), "byte {i}");
        }
        assert!(decode_frame(&[0u8; 64], 0, 0).is_err());
        let mut huge = buf.clone();
        huge[4..8].copy_from_slice(&(MAX_PAYLOAD_LEN + 1).to_le_bytes());
        assert!(matches!(frame_payload_len(&huge), Err(FrameError::Invalid(_))));
    }

    #[test]
    fn an_intact_frame_with_an_unknown_payload_is_corruption() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 1, 32, &Event::Reserve(Reserve { upto: 4 }));
        buf[2] = 200; // unknown kind, CRC recomputed below
        let crc = frame_crc(1, 32, &buf[..8], &buf[12..]);
        buf[8..12].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode_frame(&buf, 1, 32), Err(FrameError::BadPayload(_))));
    }
}
