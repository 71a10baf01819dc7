//! Memory of the queue state: what a `QueueStore` holds with 120,000 records in flight (AWS'
//! in-flight limit) must stay within 32 MiB, and it must be bounded by what is in flight or
//! dead-lettered, never by how many records the queue has processed. Measured by a counting
//! global allocator (bytes held by live allocations), so the figure is exact, not estimated.
//! `cargo bench --bench queue` prints the same figure for release builds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod counting_alloc;

use std::path::Path;
use std::sync::Mutex;

use shardlog::kinesis::TokenKey;
use shardlog::queue::{FreshSpan, QueueConfig, QueueOptions, QueueSpec, QueueStore, ReceiveRequest};
use shardlog::Durability;

/// The tests measure one at a time (the counter is process-wide).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const T0: u64 = 1_767_225_600_000;
const MIB: isize = 1 << 20;

/// A store on the real file system (so file contents are not in this process's memory).
fn store(dir: &Path) -> QueueStore {
    let mut opts = QueueOptions::new(Durability::Buffered, TokenKey::from_bytes([1; 32]));
    opts.compact_min_bytes = u64::MAX; // no snapshot buffers in the way of the measurement
    let spec = QueueSpec { uid: 1, config: QueueConfig::default(), now_ms: T0, start_positions: vec![(0, 0)] };
    QueueStore::create(dir.join("state"), opts, spec).unwrap()
}

fn receive(store: &QueueStore, now: u64, end: u64) -> Vec<shardlog::queue::ReceiptHandle> {
    let fresh = [FreshSpan { shard: 0, start: 0, end }];
    let r = ReceiveRequest { max_records: 100, visibility_timeout_ms: Some(43_200_000), fresh: &fresh };
    store.receive(now, &r).unwrap().deliveries.iter().map(|d| d.handle).collect()
}

/// Bytes held by the store's memory after `f`.
fn held_by_state(f: impl FnOnce(&QueueStore)) -> isize {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let before = counting_alloc::live_bytes();
    f(&s);
    counting_alloc::live_bytes() - before
}

#[test]
fn the_state_of_120_000_in_flight_records_fits_in_32_mib() {
    let held = held_by_state(|s| {
        for i in 0..1_200u64 {
            receive(s, T0 + i, (i + 1) * 100);
        }
        assert_eq!(s.counts().in_flight, 120_000);
    });
    eprintln!("120,000 in flight: {:.1} MiB ({} bytes/record)", held as f64 / MIB as f64, held / 120_000);
    assert!(held <= 32 * MIB, "{held} bytes");
}

#[test]
fn memory_follows_what_is_in_flight_not_what_was_processed() {
    // 200,000 records received and acknowledged, 1,000 left in flight: about what 1,000
    // in-flight records hold, nothing per processed record.
    let churned = held_by_state(|s| {
        for i in 0..2_000u64 {
            let hs = receive(s, T0 + i, (i + 1) * 100);
            let keep = usize::from(i % 200 == 0) * 100;
            s.acknowledge(T0 + i, &hs[keep..]).unwrap();
        }
        assert_eq!(s.counts().in_flight, 1_000);
    });
    let small = held_by_state(|s| {
        for i in 0..10u64 {
            receive(s, T0 + i, (i + 1) * 100);
        }
    });
    eprintln!("after 200,000 processed: {churned} bytes; 1,000 in flight alone: {small} bytes");
    assert!(churned < 2 * small + 64 * 1024, "{churned} vs {small}");
}
