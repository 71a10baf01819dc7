//! Fuzz targets `queue_ops` (queue operation sequences against the reference model of
//! `queue_model.rs`) and `queue_log` (the queue state log's frame, event and snapshot
//! decoders, and a `QueueStore` opened on damaged or forged files).

use std::path::Path;
use std::sync::OnceLock;

use shardlog::io::sim::{SimVfs, TailMode};
use shardlog::io::Vfs;
use shardlog::kinesis::TokenKey;
use shardlog::queue::event::Event;
use shardlog::queue::frame::{self, LogHeader, FRAME_HEADER_LEN, LOG_HEADER_LEN};
use shardlog::queue::snapshot::{self, SNAPSHOT_HEADER_LEN};
use shardlog::queue::{DeadLetter, FreshSpan, QueueConfig, QueueOptions, QueueSpec, QueueStore, ReceiveRequest};
use shardlog::Durability;

use super::queue_model::{self, Pick, QOp, Setup};
use super::{fix_trailing_crc, write_file, Input};

/// Longest operation sequence run per input.
const MAX_OPS: usize = 64;

// ---------------------------------------------------------------------------------------
// queue_ops
// ---------------------------------------------------------------------------------------

/// Input: 6 setup bytes (durability, in-flight limit, compaction threshold, MaxReceiveCount,
/// records per shard ×3... packed as documented in `setup`), then up to 64 operations, each an
/// opcode byte and its argument bytes (past the end every field is 0).
///
/// Checks: every delivery, per-entry result, count and the whole state after every step equal
/// the reference model's (`queue_model.rs`); the state passes its invariant check; every
/// handle is new; a power cut (`Sync`) or process crash (`Buffered`) and a clean reopen keep
/// the state exactly.
pub fn queue_ops(data: &[u8]) {
    let mut inp = Input::new(data);
    let setup = setup(&mut inp);
    let mut ops = Vec::new();
    while !inp.data.is_empty() && ops.len() < MAX_OPS {
        ops.push(op(&mut inp));
    }
    if let Err(e) = queue_model::run(setup, &ops) {
        panic!("{e}\nsetup {setup:?}\nops {ops:?}");
    }
}

fn setup(inp: &mut Input<'_>) -> Setup {
    let flags = inp.u8();
    Setup {
        durability: if flags & 1 == 0 { Durability::Sync } else { Durability::Buffered },
        max_in_flight: 1 + u32::from(inp.u8() % 12),
        compact_min_bytes: [1, 64, 300, 4_096][usize::from(flags >> 1) % 4],
        max_receive_count: inp.u8() % 5,
        initial: [inp.u8() % 9, inp.u8() % 9, inp.u8() % 9],
    }
}

fn pick(inp: &mut Input<'_>) -> Pick {
    match inp.u8() % 8 {
        0..=3 => Pick::IssuedKind(u16::from(inp.u8() % 8)),
        4 => Pick::Issued(inp.u16()),
        5 => Pick::Garbage(inp.u8()),
        6 => match inp.u8() % 2 {
            0 => Pick::Foreign(inp.u16()),
            _ => Pick::Mangled(inp.u16()),
        },
        _ => Pick::Repeat,
    }
}

fn picks(inp: &mut Input<'_>) -> Vec<Pick> {
    let n = 1 + usize::from(inp.u8() % 5);
    (0..n).map(|_| pick(inp)).collect()
}

fn timed_picks(inp: &mut Input<'_>) -> Vec<(Pick, u16)> {
    let n = 1 + usize::from(inp.u8() % 5);
    (0..n).map(|_| (pick(inp), u16::from(inp.u8()))).collect()
}

fn visibility(inp: &mut Input<'_>) -> Option<u16> {
    match inp.u8() {
        0 => None,
        1 => Some(0),
        v => Some(u16::from(v % 120)),
    }
}

fn op(inp: &mut Input<'_>) -> QOp {
    match inp.u8() % 16 {
        0 => QOp::Append { shard: inp.u8(), n: inp.u8() },
        1 | 2 => QOp::Receive { max: inp.u8(), visibility_ms: visibility(inp) },
        3 => QOp::ReceiveDeadLetter { max: inp.u8(), visibility_ms: visibility(inp) },
        4 => QOp::Ack(picks(inp)),
        5 => QOp::Visibility(timed_picks(inp)),
        6 => QOp::AckDeadLetter(picks(inp)),
        7 => QOp::DeadLetterVisibility(timed_picks(inp)),
        8 => QOp::Restore(picks(inp)),
        9 => QOp::Advance { ms: u16::from(inp.u8()) },
        10 => QOp::Tick,
        11 => {
            let shard = inp.u8();
            QOp::Trim { shard, by: inp.u8(), quiet: shard & 0x80 != 0 }
        }
        12 => QOp::Config { visibility_ms: u16::from(inp.u8()), max_receive_count: inp.u8() },
        13 => match inp.u8() % 8 {
            0 => QOp::Forget { shard: inp.u8() },
            1 => QOp::LoseTail { shard: inp.u8(), n: inp.u8() },
            _ => QOp::Compact,
        },
        14 => QOp::Reopen,
        _ => QOp::Crash,
    }
}

/// Seed programs for `queue_ops`: a life cycle through every operation.
pub fn seed_programs() -> Vec<Vec<u8>> {
    vec![
        // Sync, limit 6, threshold 300, MaxReceiveCount 2, records 3/0/5: receive, time out,
        // receive, dead-letter receive, restore, acknowledge, crash.
        vec![4, 5, 2, 3, 0, 5, 1, 4, 2, 9, 120, 1, 4, 2, 9, 120, 3, 4, 0, 8, 1, 0, 0, 15, 1, 6, 0, 4, 2, 0, 0, 1, 0],
        // Buffered, visibility changes, trims, config, compaction, reopen.
        vec![3, 2, 1, 1, 6, 6, 1, 8, 50, 5, 2, 0, 1, 0, 1, 5, 11, 0, 2, 12, 30, 3, 13, 1, 14, 2, 8, 0, 4, 1, 0, 0],
    ]
}

// ---------------------------------------------------------------------------------------
// queue_log
// ---------------------------------------------------------------------------------------

const DIR: &str = "/data/queues/q";
const UID: u64 = 3;
const NOW: u64 = 1_700_000_000_000;

fn options(sim: &SimVfs) -> QueueOptions {
    let mut o = QueueOptions::new(Durability::Buffered, TokenKey::from_bytes([4; 32])).with_vfs(sim.shared());
    o.compact_min_bytes = 1 << 20;
    o
}

fn sample_config() -> QueueConfig {
    QueueConfig { visibility_timeout_ms: 50, dead_letter: DeadLetter::BuiltIn { max_receive_count: 2 } }
}

/// A queue directory after a little of everything (its log not compacted).
fn sample_queue() -> &'static SimVfs {
    static SAMPLE: OnceLock<SimVfs> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let sim = SimVfs::new();
        sim.create_dir_all(Path::new("/data/queues")).expect("mkdir");
        let spec = QueueSpec { uid: UID, config: sample_config(), now_ms: NOW, start_positions: vec![(0, 0), (1, 2)] };
        let store = QueueStore::create(DIR, options(&sim), spec).expect("create");
        let fresh = [FreshSpan { shard: 0, start: 0, end: 9 }, FreshSpan { shard: 1, start: 2, end: 6 }];
        let r = |max| ReceiveRequest { max_records: max, visibility_timeout_ms: None, fresh: &fresh };
        let a = store.receive(NOW, &r(6)).expect("receive").deliveries;
        store.acknowledge(NOW, &[a[0].handle, a[2].handle]).expect("ack");
        store.change_visibility(NOW, &[(a[1].handle, 0), (a[3].handle, 500)]).expect("visibility");
        store.receive(NOW + 50, &r(4)).expect("receive");
        store.receive(NOW + 100, &r(4)).expect("receive");
        store.tick(NOW + 150).expect("tick");
        let dl = store.receive_dead_letter(NOW + 150, 3, Some(10)).expect("dl").deliveries;
        if let Some(d) = dl.first() {
            store.restore_dead_letter(NOW + 151, &[d.handle]).expect("restore");
        }
        store.trim(NOW + 152, 1, 3).expect("trim");
        store
            .update_config(NOW + 153, QueueConfig { visibility_timeout_ms: 20, dead_letter: DeadLetter::Off })
            .expect("update");
        store.close().expect("close");
        sim
    })
}

fn copy(sim: &SimVfs) -> SimVfs {
    sim.crash_at(sim.op_count(), TailMode::Whole)
}

/// Recompute the CRCs of the frames of `log` (a whole log file of `epoch`) from byte 32 on,
/// as far as headers decode and fit.
fn fix_frame_crcs(log: &mut [u8], epoch: u64) {
    let mut pos = LOG_HEADER_LEN;
    while let Some(rest) = log.get(pos..) {
        let Ok(len) = frame::frame_payload_len(rest) else { break };
        let end = pos + FRAME_HEADER_LEN + len;
        if end > log.len() {
            break;
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&epoch.to_le_bytes());
        h.update(&(pos as u64).to_le_bytes());
        h.update(&log[pos..pos + 8]);
        h.update(&log[pos + FRAME_HEADER_LEN..end]);
        let crc = h.finalize();
        log[pos + 8..pos + 12].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

/// Input: `ctrl` u8 then bytes. `ctrl & 3` picks the mode, bit 2 repairs checksums:
/// 0. the bytes are one frame at position 32 of a log of epoch 1: a decoded frame re-encodes
///    to exactly its bytes, and its payload re-encodes too;
/// 1. the bytes are a snapshot (body length and CRC repaired if bit 2): a decoded snapshot
///    passes the state invariants and re-encodes to exactly the input;
/// 2. the bytes are appended to the log of a sample queue (frame CRCs repaired if bit 2);
/// 3. the bytes replace the sample queue's snapshot (repaired if bit 2).
///
/// In modes 2 and 3 a `QueueStore` is opened on the result: it opens or fails with a typed
/// error (never panics); once open its state passes the invariant check, receives,
/// acknowledgements, dead-letter operations and a compaction either work or fail with a
/// typed error, and a clean close and reopen show exactly the same state.
pub fn queue_log(data: &[u8]) {
    let mut inp = Input::new(data);
    let ctrl = inp.u8();
    let repair = ctrl & 4 != 0;
    let mut bytes = inp.rest().to_vec();
    match ctrl & 3 {
        0 => {
            if repair {
                let mut log = LogHeader { queue_uid: UID, epoch: 1 }.encode().to_vec();
                log.extend_from_slice(&bytes);
                fix_frame_crcs(&mut log, 1);
                bytes = log.split_off(LOG_HEADER_LEN);
            }
            if let Ok((event, n)) = frame::decode_frame(&bytes, 1, LOG_HEADER_LEN as u64) {
                let mut again = Vec::new();
                frame::encode_frame(&mut again, 1, LOG_HEADER_LEN as u64, &event);
                assert_eq!(again, bytes[..n], "a decoded frame does not re-encode to its bytes");
                let mut payload = Vec::new();
                event.encode_payload(&mut payload);
                assert_eq!(Event::decode_payload(event.kind(), &payload).as_ref(), Ok(&event));
            }
        }
        1 => {
            if repair {
                repair_snapshot(&mut bytes);
            }
            if let Ok(snap) = snapshot::decode(&bytes) {
                snap.state.check_invariants().expect("a decoded snapshot breaks an invariant");
                assert_eq!(snapshot::encode(snap.queue_uid, snap.epoch, &snap.state), bytes, "snapshot re-encoding");
            }
        }
        mode => {
            let sim = copy(sample_queue());
            let dir = Path::new(DIR);
            if mode == 2 {
                let path = dir.join("log");
                let mut log = sim.file_content(&path).expect("sample log");
                log.extend_from_slice(&bytes);
                if repair {
                    fix_frame_crcs(&mut log, 1);
                }
                write_file(&sim, &path, &log);
            } else {
                if repair {
                    repair_snapshot(&mut bytes);
                }
                write_file(&sim, &dir.join("snapshot"), &bytes);
            }
            exercise(&sim);
        }
    }
}

fn repair_snapshot(bytes: &mut [u8]) {
    if bytes.len() >= SNAPSHOT_HEADER_LEN + 4 {
        let body = (bytes.len() - SNAPSHOT_HEADER_LEN - 4) as u64;
        bytes[24..32].copy_from_slice(&body.to_le_bytes());
        fix_trailing_crc(bytes);
    }
}

/// Open a store on `sim` and use it; see [`queue_log`].
fn exercise(sim: &SimVfs) {
    let Ok(store) = QueueStore::open(DIR, options(sim), UID, sample_config(), NOW + 200) else { return };
    store.state_copy().check_invariants().expect("an opened state breaks an invariant");
    let fresh = [FreshSpan { shard: 0, start: 0, end: 20 }, FreshSpan { shard: 1, start: 3, end: 20 }];
    let r = ReceiveRequest { max_records: 50, visibility_timeout_ms: Some(5), fresh: &fresh };
    if let Ok(out) = store.receive(NOW + 300, &r) {
        let handles: Vec<_> = out.deliveries.iter().map(|d| d.handle).collect();
        let _ = store.acknowledge(NOW + 301, &handles[..handles.len() / 2]);
    }
    if let Ok(out) = store.receive_dead_letter(NOW + 400, 50, Some(5)) {
        let _ = store.restore_dead_letter(NOW + 401, &out.deliveries.iter().map(|d| d.handle).collect::<Vec<_>>());
    }
    let _ = store.trim(NOW + 402, 0, 1);
    let _ = store.compact();
    store.state_copy().check_invariants().expect("a state broke an invariant after operations");
    let before = store.state_copy();
    if store.close().is_err() {
        return;
    }
    drop(store);
    let again = QueueStore::open(DIR, options(sim), UID, before.config(), NOW)
        .unwrap_or_else(|e| panic!("reopen after a clean close failed: {e}"));
    let mut after = again.state_copy();
    let mut before = before;
    // Expiry is not logged: compare at the same clock.
    let clock = before.clock_ms().max(after.clock_ms());
    for s in [&mut before, &mut after] {
        s.advance_clock(clock);
        s.skip_to_reservation();
    }
    assert_eq!(after, before, "a clean close and reopen changed the state");
}

/// Seeds for `queue_log`: the sample's frames, log tail and snapshot, in every mode.
pub fn seed_inputs() -> Vec<(&'static str, String, Vec<u8>)> {
    let sim = sample_queue();
    let dir = Path::new(DIR);
    let log = sim.file_content(&dir.join("log")).expect("sample log");
    let snap = sim.file_content(&dir.join("snapshot")).expect("sample snapshot");
    let mut out = Vec::new();
    let frames = log.get(LOG_HEADER_LEN..).unwrap_or_default();
    out.push(("queue_log", "seed-frame".to_string(), [&[0u8][..], frames].concat()));
    out.push(("queue_log", "seed-snapshot".to_string(), [&[1u8][..], &snap].concat()));
    // A few frames of the sample log again as a tail: they do not fit the state (corruption).
    out.push(("queue_log", "seed-tail".to_string(), [&[2u8 | 4][..], &frames[..frames.len().min(200)]].concat()));
    out.push(("queue_log", "seed-torn-tail".to_string(), [&[2u8][..], &frames[..frames.len().min(7)]].concat()));
    out.push(("queue_log", "seed-replaced-snapshot".to_string(), [&[3u8 | 4][..], &snap].concat()));
    for (i, p) in seed_programs().into_iter().enumerate() {
        out.push(("queue_ops", format!("seed-program{i}"), p));
    }
    out
}
