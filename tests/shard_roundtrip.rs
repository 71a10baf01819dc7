//! Round trips through the shard log: record sizes, rolls, lookups at every index boundary,
//! reopen after clean close, trimming, durability modes, locking and corruption reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod common;

use common::*;
use shardlog::io::{RealVfs, VfsRef};
use shardlog::{Durability, Error, LogConfig, LogOptions, ManualClock, RecordRef, ShardLog};
use std::sync::Arc;
use std::time::Duration;

const SIZES: [usize; 5] = [0, 1, 100, 64 * 1024, 1024 * 1024];

fn real() -> VfsRef {
    RealVfs::shared()
}

#[test]
fn every_size_round_trips_across_many_rolls_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let cfg = small_config(256 * 1024, Durability::Buffered);
    let n = 60u64;
    {
        let log = ShardLog::open(dir.path(), options(real(), &clock, cfg.clone())).unwrap();
        for i in 0..n {
            let len = SIZES[(i % 5) as usize];
            assert_eq!(append_one(&log, i, len).unwrap(), i);
            clock.advance(Duration::from_millis(7));
        }
        let segs = log.segments();
        assert!(segs.len() > 10, "expected many rolls, got {}", segs.len());
        check_all(&log, n);
        log.close().unwrap();
    }
    let log = ShardLog::open(dir.path(), options(real(), &clock, cfg)).unwrap();
    assert_eq!(log.high_watermark(), n);
    check_all(&log, n);
    // Appends continue densely after reopen.
    assert_eq!(append_one(&log, n, 10).unwrap(), n);
}

fn check_all(log: &ShardLog, n: u64) {
    let recs = read_all(log, 0);
    assert_eq!(recs.len() as u64, n);
    for (i, r) in recs.iter().enumerate() {
        let i = i as u64;
        assert_eq!(r.offset, i);
        assert_eq!(r.partition_key, key(i));
        assert_eq!(r.data.len(), SIZES[(i % 5) as usize]);
        assert_eq!(r.data, payload(i, r.data.len()));
    }
    // Random access: each offset read singly.
    for i in 0..n {
        let r = log.read(i, 1, usize::MAX).unwrap();
        assert_eq!(r.records.len(), 1);
        assert_eq!(r.records[0].offset, i);
        assert_eq!(r.next_offset, i + 1);
    }
}

#[test]
fn single_record_lookups_inside_large_batches_return_the_same_records_before_and_after_the_batches_are_marked() {
    // Batches of 37, 100 and 500 records of mixed sizes (0..300 B): the first pass over a
    // sealed segment checks each batch and marks every 16th record start; the second pass
    // starts decoding at those marks; the pass after a reopen has a fresh mapping again.
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(9_000);
    let cfg = small_config(96 * 1024, Durability::Buffered);
    let log = ShardLog::open(dir.path(), options(real(), &clock, cfg.clone())).unwrap();
    let size = |i: u64| (i * 37 % 300) as usize;
    let keys: Vec<Vec<u8>> = (0..4_000).map(key).collect();
    let data: Vec<Vec<u8>> = (0..4_000).map(|i| payload(i, size(i))).collect();
    let mut next = 0u64;
    for batch in [37u64, 100, 500].iter().cycle().take(15) {
        let refs: Vec<RecordRef<'_>> =
            (next..next + batch).map(|i| RecordRef::new(&keys[i as usize], &data[i as usize])).collect();
        assert_eq!(log.append(&refs).unwrap().first_offset, next);
        next += batch;
        clock.advance(Duration::from_millis(3));
    }
    assert!(log.segments().len() > 3, "the batches should span several sealed segments");
    let n = next;
    let check = |log: &ShardLog, pass: &str| {
        for i in 0..n {
            let r = log.read(i, 3, usize::MAX).unwrap();
            let got: Vec<(u64, &[u8], &[u8])> =
                r.records.iter().map(|r| (r.offset, &r.partition_key[..], &r.data[..])).collect();
            let want: Vec<(u64, &[u8], &[u8])> =
                (i..(i + 3).min(n)).map(|j| (j, &keys[j as usize][..], &data[j as usize][..])).collect();
            assert_eq!(got, want, "{pass}: read at {i}");
            // A byte budget that fits only the first record still returns exactly it.
            let one = log.read(i, 10, 1).unwrap();
            assert_eq!(one.records.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![i], "{pass}: budget read at {i}");
        }
    };
    check(&log, "first pass (marking)");
    check(&log, "second pass (from the marks)");
    log.close().unwrap();
    let log = ShardLog::open(dir.path(), options(real(), &clock, cfg)).unwrap();
    check(&log, "after reopen");
    check(&log, "after reopen, marked");
}

#[test]
fn offset_and_time_lookups_at_every_index_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(5_000);
    // 100-byte records, index every 256 bytes, segments of 8 KiB: many entries and rolls.
    let cfg = small_config(8 * 1024, Durability::Buffered);
    let log = ShardLog::open(dir.path(), options(real(), &clock, cfg.clone())).unwrap();
    let n = 400u64;
    for i in 0..n {
        append_one(&log, i, 100).unwrap();
        if i % 3 == 0 {
            clock.advance(Duration::from_millis(10));
        }
    }
    let all = read_all(&log, 0);
    assert_eq!(all.len() as u64, n);
    for reopen in [false, true] {
        let log = if reopen {
            log.close().unwrap();
            ShardLog::open(dir.path(), options(real(), &clock, cfg.clone())).unwrap()
        } else {
            log.clone()
        };
        for i in 0..n {
            let r = log.read(i, 3, usize::MAX).unwrap();
            let want: Vec<u64> = (i..(i + 3).min(n)).collect();
            assert_eq!(r.records.iter().map(|r| r.offset).collect::<Vec<_>>(), want);
        }
        // Time lookup: first record with arrival >= t, for every distinct t and t-1, t+1.
        for probe in all.iter().flat_map(|r| [r.arrival_ms - 1, r.arrival_ms, r.arrival_ms + 1]) {
            let expect = all.iter().find(|r| r.arrival_ms >= probe).map_or(n, |r| r.offset);
            assert_eq!(log.offset_for_time(probe).unwrap(), expect, "time {probe}");
        }
        assert_eq!(log.offset_for_time(i64::MIN).unwrap(), 0);
        assert_eq!(log.offset_for_time(i64::MAX).unwrap(), n);
    }
}

#[test]
fn reads_respect_record_and_byte_limits() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = ShardLog::open(dir.path(), options(real(), &clock, small_config(1 << 20, Durability::Buffered))).unwrap();
    let data = vec![7u8; 1000];
    let recs: Vec<RecordRef> = (0..50).map(|_| RecordRef::new(b"k", &data)).collect();
    log.append(&recs).unwrap();
    let r = log.read(0, 10, usize::MAX).unwrap();
    assert_eq!(r.records.len(), 10);
    let r = log.read(5, 1000, 3500).unwrap();
    assert_eq!(r.records.len(), 3, "3 × 1001 bytes fit in 3500");
    assert_eq!(r.next_offset, 8);
    let r = log.read(0, 1000, 1).unwrap();
    assert_eq!(r.records.len(), 1, "one record always returned");
    assert!(log.read(50, 10, usize::MAX).unwrap().records.is_empty());
    assert!(log.read(5000, 10, usize::MAX).unwrap().records.is_empty());
}

#[test]
fn trimming_drops_whole_segments_and_keeps_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000);
    let cfg = small_config(4 * 1024, Durability::Buffered);
    let log = ShardLog::open(dir.path(), options(real(), &clock, cfg.clone())).unwrap();
    for i in 0..200 {
        append_one(&log, i, 100).unwrap();
        clock.advance(Duration::from_millis(1));
    }
    let held = log.read(0, 5, usize::MAX).unwrap().records;
    let before = log.segments();
    let cutoff = 1_000 + 100;
    let t = log.trim_before(cutoff).unwrap();
    assert!(t.segments_removed > 0);
    assert!(t.bytes_removed > 0);
    let after = log.segments();
    assert_eq!(after.len(), before.len() - t.segments_removed);
    assert_eq!(log.start_offset(), t.start_offset);
    assert_eq!(after[0].base_offset, t.start_offset);
    assert!(t.start_offset <= 100, "records arriving at/after the cutoff are kept");
    // Trimmed data is skipped; held bytes stay valid.
    let r = log.read(0, 1, usize::MAX).unwrap();
    assert_eq!(r.records[0].offset, t.start_offset);
    assert_eq!(held[0].data, payload(0, 100));
    // Files are really gone.
    for s in &before[..t.segments_removed] {
        assert!(!s.path.exists());
    }
    // Offsets continue from the newest segment after reopen.
    log.close().unwrap();
    drop(log);
    let log = ShardLog::open(dir.path(), options(real(), &clock, cfg)).unwrap();
    assert_eq!(log.start_offset(), t.start_offset);
    assert_eq!(append_one(&log, 200, 10).unwrap(), 200);
    // Expiring everything rolls the active segment and keeps offsets dense.
    clock.advance(Duration::from_secs(10));
    let t2 = log.trim_before(clock_now(&clock)).unwrap();
    assert_eq!(t2.start_offset, 201);
    assert!(read_all(&log, 0).is_empty());
    assert_eq!(append_one(&log, 201, 10).unwrap(), 201);
}

fn clock_now(c: &ManualClock) -> i64 {
    use shardlog::Clock;
    c.now_ms()
}

#[test]
fn size_cap_trims_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log =
        ShardLog::open(dir.path(), options(real(), &clock, small_config(4 * 1024, Durability::Buffered))).unwrap();
    for i in 0..300 {
        append_one(&log, i, 100).unwrap();
    }
    let t = log.trim_to_size(10 * 1024).unwrap();
    assert!(t.segments_removed > 0);
    let total: u64 = log.segments().iter().map(|s| std::fs::metadata(&s.path).unwrap().len()).sum();
    assert!(total <= 10 * 1024 + 4 * 1024, "total {total}");
    let recs = read_all(&log, 0);
    assert_eq!(recs.first().unwrap().offset, t.start_offset);
    assert_eq!(recs.last().unwrap().offset, 299);
}

#[test]
fn second_open_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _a = ShardLog::open(dir.path(), LogOptions::new(LogConfig::default())).unwrap();
    match ShardLog::open(dir.path(), LogOptions::new(LogConfig::default())) {
        Err(Error::Locked { path }) => assert_eq!(path, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn a_flipped_bit_in_a_sealed_segment_is_corruption_never_data() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let cfg = small_config(4 * 1024, Durability::Buffered);
    let log = ShardLog::open(dir.path(), options(real(), &clock, cfg.clone())).unwrap();
    for i in 0..100 {
        append_one(&log, i, 100).unwrap();
    }
    let first = log.segments()[0].clone();
    assert!(first.sealed);
    log.close().unwrap();
    drop(log);
    let mut bytes = std::fs::read(&first.path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&first.path, &bytes).unwrap();
    let log = ShardLog::open(dir.path(), options(real(), &clock, cfg)).unwrap();
    // Twice: warm reads skip the checks of index intervals already checked whole through the
    // same mapping, and the interval holding the damage must never count as checked.
    let mut corrupt = [Vec::new(), Vec::new()];
    for pass in &mut corrupt {
        for i in 0..first.end_offset {
            match log.read(i, 1, usize::MAX) {
                Err(Error::Corrupt { path, offset, .. }) => {
                    assert_eq!(path, first.path);
                    assert!(offset <= at as u64, "reported offset {offset} after the damage at {at}");
                    pass.push(i);
                }
                Ok(r) => {
                    let rec = &r.records[0];
                    assert_eq!(rec.data, payload(rec.offset, 100), "damaged data returned");
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }
    assert!(!corrupt[0].is_empty(), "damage went unnoticed");
    assert_eq!(corrupt[0], corrupt[1], "a warm read served records of the damaged batch");
}

#[test]
fn sync_mode_acknowledges_after_fdatasync_and_shares_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = ShardLog::open(dir.path(), LogOptions::new(small_config(1 << 20, Durability::Sync))).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    append_one(&log, t * 1000 + i, 64).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(log.high_watermark(), 400);
    assert_eq!(read_all(&log, 0).len(), 400);
}

#[test]
fn interval_mode_flusher_syncs_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(1 << 20, Durability::Interval(Duration::from_millis(5)));
    let opts = LogOptions::new(cfg);
    let group = Arc::clone(&opts.sync_group);
    let log = ShardLog::open(dir.path(), opts).unwrap();
    append_one(&log, 0, 10).unwrap();
    assert_eq!(log.high_watermark(), 1, "visible before the sync in Interval mode");
    drop(group);
    log.flush().unwrap();
}

#[test]
fn bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let cfg = LogConfig { max_batch_bytes: 4096, ..small_config(1 << 20, Durability::Buffered) };
    let log = ShardLog::open(dir.path(), options(real(), &clock, cfg)).unwrap();
    assert!(matches!(log.append(&[]), Err(Error::InvalidArgument { .. })));
    let big = vec![0u8; 5000];
    assert!(matches!(log.append(&[RecordRef::new(b"k", &big)]), Err(Error::InvalidArgument { .. })));
    let long_key = vec![b'k'; 70_000];
    let cfg_big = small_config(1 << 20, Durability::Buffered);
    let dir2 = tempfile::tempdir().unwrap();
    let log2 = ShardLog::open(dir2.path(), options(real(), &clock, cfg_big)).unwrap();
    assert!(matches!(log2.append(&[RecordRef::new(&long_key, b"")]), Err(Error::InvalidArgument { .. })));
    assert_eq!(log.high_watermark(), 0);
    assert_eq!(log2.high_watermark(), 0);
    assert_eq!(append_one(&log, 0, 1).unwrap(), 0);
}
