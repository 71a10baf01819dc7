//! The queue state store (`shardlog::queue::QueueStore`), scenario by scenario: delivery
//! and redelivery, acknowledgement, the per-entry error codes of receipt handles, the
//! dead-letter life cycle, the in-flight limit, retention and reshard, attribute updates,
//! deletion, compaction and recovery (torn tails, interrupted compactions, damaged files),
//! and concurrent receivers. The random-sequence counterpart is `tests/queue_model.rs`; the
//! crash and I/O-error suites are `tests/queue_crash.rs` and `tests/queue_io_errors.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::HashSet;
use std::path::Path;

use shardlog::io::sim::SimVfs;
use shardlog::io::Vfs;
use shardlog::kinesis::{SequenceNumber, TokenKey};
use shardlog::queue::{
    DeadLetter, Delivery, FreshSpan, Phase, QueueConfig, QueueOptions, QueueSpec, QueueStore, ReceiptHandle,
    ReceiveRequest, RecordId, RecordKey,
};
use shardlog::{Durability, Error};

const DIR: &str = "/data/queues/q";
const T0: u64 = 1_700_000_000_000;

fn key() -> TokenKey {
    TokenKey::from_bytes([9; 32])
}

fn sim() -> SimVfs {
    let sim = SimVfs::new();
    sim.create_dir_all(Path::new("/data/queues")).unwrap();
    for d in ["/", "/data", "/data/queues"] {
        sim.sync_dir(Path::new(d)).unwrap();
    }
    sim
}

fn options(sim: &SimVfs, durability: Durability) -> QueueOptions {
    QueueOptions::new(durability, key()).with_vfs(sim.shared())
}

fn config(visibility_timeout_ms: u64, max_receive_count: Option<u32>) -> QueueConfig {
    QueueConfig {
        visibility_timeout_ms,
        dead_letter: max_receive_count.map_or(DeadLetter::Off, |m| DeadLetter::BuiltIn { max_receive_count: m }),
    }
}

fn create(config: QueueConfig, opts: QueueOptions) -> QueueStore {
    let spec = QueueSpec { uid: 1, config, now_ms: T0, start_positions: vec![(0, 0)] };
    QueueStore::create(DIR, opts, spec).unwrap()
}

fn reopen(sim: &SimVfs, store: QueueStore, config: QueueConfig, now: u64) -> QueueStore {
    drop(store);
    QueueStore::open(DIR, options(sim, Durability::Sync), 1, config, now).unwrap()
}

/// Shard 0 holds records `0..end`.
fn span(end: u64) -> [FreshSpan; 1] {
    [FreshSpan { shard: 0, start: 0, end }]
}

fn receive(store: &QueueStore, now: u64, max: usize, end: u64) -> Vec<Delivery> {
    let fresh = span(end);
    store
        .receive(now, &ReceiveRequest { max_records: max, visibility_timeout_ms: None, fresh: &fresh })
        .unwrap()
        .deliveries
}

fn offsets(ds: &[Delivery]) -> Vec<u64> {
    ds.iter().map(|d| d.handle.record.offset).collect()
}

fn codes(results: &[shardlog::Result<()>]) -> Vec<&'static str> {
    results.iter().map(|r| r.as_ref().map_or_else(|e| e.kinesis_error_code(), |()| "ok")).collect()
}

const OK: &str = "ok";
const IAE: &str = "InvalidArgumentException";
const RNF: &str = "ResourceNotFoundException";

#[test]
fn a_record_is_hidden_while_in_flight_and_redelivered_after_its_timeout() {
    let sim = sim();
    let store = create(config(1_000, None), options(&sim, Durability::Sync));
    let first = receive(&store, T0, 10, 3);
    assert_eq!(offsets(&first), [0, 1, 2]);
    assert!(first.iter().all(|d| d.receive_count == 1 && d.first_receive_ms == T0 && d.deadline_ms == T0 + 1_000));
    assert!(receive(&store, T0 + 999, 10, 3).is_empty(), "nothing is visible while in flight");
    let again = receive(&store, T0 + 1_000, 10, 3);
    assert_eq!(offsets(&again), [0, 1, 2]);
    assert!(again.iter().all(|d| d.receive_count == 2 && d.first_receive_ms == T0));
    let mut gens: Vec<u64> = first.iter().chain(&again).map(|d| d.handle.generation).collect();
    gens.sort();
    gens.dedup();
    assert_eq!(gens.len(), 6, "every receive issues a new handle");
}

#[test]
fn an_acknowledged_record_is_never_delivered_again_even_after_a_reopen() {
    let sim = sim();
    let cfg = config(100, None);
    let store = create(cfg, options(&sim, Durability::Sync));
    let ds = receive(&store, T0, 10, 4);
    let texts: Vec<String> = ds.iter().map(|d| store.encode_handle(&d.handle)).collect();
    assert_eq!(codes(&store.acknowledge(T0 + 1, &[&texts[1], &texts[3]]).unwrap()), [OK, OK]);
    let store = reopen(&sim, store, cfg, T0 + 500);
    assert!(store.is_settled(RecordKey::new(0, 1)) && store.is_settled(RecordKey::new(0, 3)));
    assert_eq!(offsets(&receive(&store, T0 + 500, 10, 6)), [0, 2, 4, 5]);
    let p = store.progress(0).unwrap();
    assert_eq!((p.floor, p.cursor, p.pending), (0, 6, 4));
}

#[test]
fn a_timed_out_delivery_nobody_received_again_can_still_be_acknowledged() {
    let sim = sim();
    let store = create(config(100, Some(1)), options(&sim, Durability::Sync));
    let d = receive(&store, T0, 2, 2);
    store.tick(T0 + 200).unwrap();
    assert_eq!(store.entry(d[1].handle.record).unwrap().phase, Phase::DeadLetterVisible);
    // Record 0 timed out (dead-lettered by its only allowed receive): its holder finished.
    assert_eq!(codes(&store.acknowledge(T0 + 200, &[d[0].handle]).unwrap()), [OK]);
    assert!(store.is_settled(d[0].handle.record));
    // Visibility changes need the delivery to be in flight.
    assert_eq!(codes(&store.change_visibility(T0 + 200, &[(d[1].handle, 5_000)]).unwrap()), [RNF]);
}

#[test]
fn a_handle_superseded_by_a_new_receive_is_not_found() {
    let sim = sim();
    let store = create(config(100, None), options(&sim, Durability::Sync));
    let old = receive(&store, T0, 1, 1)[0];
    let new = receive(&store, T0 + 100, 1, 1)[0];
    let r = store.acknowledge(T0 + 101, &[store.encode_handle(&old.handle)]).unwrap();
    assert_eq!(codes(&r), [RNF]);
    assert!(r[0].as_ref().unwrap_err().to_string().contains("stale"), "{:?}", r[0]);
    assert_eq!(codes(&store.acknowledge(T0 + 101, &[new.handle, new.handle]).unwrap()), [OK, IAE]);
    assert_eq!(codes(&store.acknowledge(T0 + 102, &[new.handle]).unwrap()), [RNF], "already acknowledged");
}

#[test]
fn malformed_foreign_and_wrong_kind_handles_are_invalid_arguments() {
    let sim = sim();
    let store = create(config(100, Some(1)), options(&sim, Durability::Sync));
    let d = receive(&store, T0, 1, 1)[0];
    let text = store.encode_handle(&d.handle);
    let foreign = ReceiptHandle { queue_uid: 2, ..d.handle };
    let other_key = d.handle.encode(&TokenKey::from_bytes([1; 32]));
    let mut flipped = text.clone().into_bytes();
    flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let entries = [&text[..10], "", &other_key, &flipped, &store.encode_handle(&foreign), &"x".repeat(2_000)];
    assert_eq!(codes(&store.acknowledge(T0, &entries).unwrap()), [IAE; 6]);
    assert_eq!(codes(&store.acknowledge_dead_letter(T0, &[&text]).unwrap()), [IAE], "normal handle, dead-letter op");
    assert_eq!(codes(&store.restore_dead_letter(T0, &[&text]).unwrap()), [IAE]);
    store.tick(T0 + 100).unwrap();
    let dl = store.receive_dead_letter(T0 + 100, 10, None).unwrap().deliveries;
    assert_eq!(codes(&store.acknowledge(T0 + 100, &[dl[0].handle]).unwrap()), [IAE], "dead-letter handle, normal op");
    assert_eq!(codes(&store.change_visibility(T0 + 100, &[(dl[0].handle, 1)]).unwrap()), [IAE]);
    let e = store.acknowledge(T0, &["nope"]).unwrap().remove(0).unwrap_err();
    assert_eq!(e.to_string(), "Invalid ReceiptHandle.");
    assert!(!store.is_settled(d.handle.record), "no rejected entry changed anything");
}

#[test]
fn the_dead_letter_life_cycle_follows_the_receive_count() {
    let sim = sim();
    let store = create(config(10, Some(3)), options(&sim, Durability::Sync));
    let mut now = T0;
    for n in 1..=3 {
        let d = receive(&store, now, 1, 1);
        assert_eq!((d[0].receive_count, d[0].first_receive_ms), (n, T0));
        now += 10;
    }
    // The third delivery timed out: the record is dead-lettered, not redelivered.
    assert!(receive(&store, now, 1, 1).is_empty());
    assert_eq!(store.counts().dead_letter_visible, 1);
    let dl = store.receive_dead_letter(now, 10, Some(50)).unwrap().deliveries;
    assert_eq!((dl.len(), dl[0].receive_count, dl[0].handle.dead_letter), (1, 3, true));
    assert!(store.receive_dead_letter(now, 10, None).unwrap().deliveries.is_empty(), "hidden while in flight");
    assert_eq!(codes(&store.change_dead_letter_visibility(now + 1, &[(dl[0].handle, 0)]).unwrap()), [OK]);
    let dl = store.receive_dead_letter(now + 1, 10, Some(50)).unwrap().deliveries;
    assert_eq!(dl.len(), 1, "visibility 0 made it visible to dead-letter receives at once");
    assert_eq!(codes(&store.restore_dead_letter(now + 2, &[dl[0].handle]).unwrap()), [OK]);
    assert_eq!(codes(&store.acknowledge_dead_letter(now + 2, &[dl[0].handle]).unwrap()), [RNF], "restored");
    // Restored: three more receives before it dead-letters again, first receive time kept.
    for n in 1..=3 {
        let d = receive(&store, now + 2, 1, 1);
        assert_eq!((d[0].receive_count, d[0].first_receive_ms), (n, T0));
        now += 10;
    }
    store.tick(now + 2).unwrap();
    let dl = store.receive_dead_letter(now + 2, 10, None).unwrap().deliveries;
    assert_eq!(codes(&store.acknowledge_dead_letter(now + 2, &[dl[0].handle]).unwrap()), [OK]);
    assert!(store.is_settled(RecordKey::new(0, 0)));
    assert_eq!(store.counts(), Default::default());
}

#[test]
fn releasing_the_last_allowed_delivery_dead_letters_at_once() {
    let sim = sim();
    let store = create(config(1_000, Some(1)), options(&sim, Durability::Sync));
    let d = receive(&store, T0, 1, 1)[0];
    assert_eq!(codes(&store.change_visibility(T0 + 1, &[(d.handle, 0)]).unwrap()), [OK]);
    assert_eq!(store.entry(d.handle.record).unwrap().phase, Phase::DeadLetterVisible);
    // A receive with visibility 0 times out at once too.
    let fresh = span(2);
    let r = ReceiveRequest { max_records: 1, visibility_timeout_ms: Some(0), fresh: &fresh };
    let d = store.receive(T0 + 2, &r).unwrap().deliveries[0];
    assert_eq!((d.handle.record.offset, d.deadline_ms), (1, T0 + 2));
    assert_eq!(store.entry(d.handle.record).unwrap().phase, Phase::DeadLetterVisible);
}

#[test]
fn a_receive_at_the_in_flight_limit_returns_what_fits() {
    let sim = sim();
    let mut opts = options(&sim, Durability::Sync);
    opts.max_in_flight = 5;
    let store = create(config(100, None), opts);
    let fresh = span(20);
    let r = ReceiveRequest { max_records: 4, visibility_timeout_ms: None, fresh: &fresh };
    let a = store.receive(T0, &r).unwrap();
    assert_eq!((a.deliveries.len(), a.limited), (4, false));
    let b = store.receive(T0, &r).unwrap();
    assert_eq!((b.deliveries.len(), b.limited), (1, true));
    let c = store.receive(T0, &r).unwrap();
    assert_eq!((c.deliveries.len(), c.limited), (0, true));
    store.acknowledge(T0, &[a.deliveries[0].handle, a.deliveries[1].handle]).unwrap();
    assert_eq!(store.receive(T0, &r).unwrap().deliveries.len(), 2);
    // In process there is no 10-record cap.
    let sim = self::sim();
    let store = QueueStore::create(
        "/data/queues/big",
        options(&sim, Durability::Buffered),
        QueueSpec { uid: 3, config: QueueConfig::default(), now_ms: T0, start_positions: vec![] },
    )
    .unwrap();
    let fresh = span(100_000);
    let r = ReceiveRequest { max_records: 50_000, visibility_timeout_ms: None, fresh: &fresh };
    assert_eq!(store.receive(T0, &r).unwrap().deliveries.len(), 50_000);
}

#[test]
fn trimmed_records_are_dropped_and_their_handles_are_not_found() {
    let sim = sim();
    let store = create(config(10, Some(1)), options(&sim, Durability::Sync));
    let d = receive(&store, T0, 4, 4);
    store.tick(T0 + 10).unwrap(); // 0..4 dead-letter
    let dl = store.receive_dead_letter(T0 + 10, 1, None).unwrap().deliveries;
    store.trim(T0 + 11, 0, 3).unwrap();
    assert_eq!(codes(&store.acknowledge_dead_letter(T0 + 11, &[dl[0].handle]).unwrap()), [RNF]);
    assert_eq!(codes(&store.acknowledge(T0 + 11, &[d[1].handle, d[3].handle]).unwrap()), [RNF, OK]);
    assert!((0..4).all(|o| store.is_settled(RecordKey::new(0, o))));
    // A receive whose span starts later trims too, also records never received.
    let fresh = [FreshSpan { shard: 0, start: 8, end: 10 }];
    let r = ReceiveRequest { max_records: 10, visibility_timeout_ms: None, fresh: &fresh };
    assert_eq!(offsets(&store.receive(T0 + 12, &r).unwrap().deliveries), [8, 9]);
    assert_eq!(store.progress(0).unwrap().floor, 8);
}

#[test]
fn shards_are_independent_keys_across_a_reshard() {
    let sim = sim();
    let store = create(config(1_000, None), options(&sim, Durability::Sync));
    // Parent 0 closed at offset 3; children 1 and 2 start at 0 with no registration.
    let parent = [FreshSpan { shard: 0, start: 0, end: 3 }];
    let r = ReceiveRequest { max_records: 10, visibility_timeout_ms: None, fresh: &parent };
    let p = store.receive(T0, &r).unwrap().deliveries;
    assert_eq!(store.progress(0).unwrap().cursor, 3, "the engine offers children once this reaches the end");
    let all = [parent[0], FreshSpan { shard: 1, start: 0, end: 2 }, FreshSpan { shard: 2, start: 0, end: 1 }];
    let r = ReceiveRequest { max_records: 10, visibility_timeout_ms: None, fresh: &all };
    let c = store.receive(T0, &r).unwrap().deliveries;
    let keys: Vec<(u32, u64)> = c.iter().map(|d| (d.handle.record.shard, d.handle.record.offset)).collect();
    assert_eq!(keys, [(1, 0), (1, 1), (2, 0)]);
    store.acknowledge(T0, &p.iter().map(|d| d.handle).collect::<Vec<_>>()).unwrap();
    let drained = store.progress(0).unwrap();
    assert_eq!((drained.floor, drained.cursor, drained.pending), (3, 3, 0));
    store.forget_shard(T0, 0).unwrap();
    assert_eq!(store.shard_progress().iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1, 2]);
}

#[test]
fn a_new_visibility_timeout_applies_to_later_receives_only() {
    let sim = sim();
    let store = create(config(100, None), options(&sim, Durability::Sync));
    let a = receive(&store, T0, 1, 2)[0];
    store.update_config(T0 + 1, config(5_000, None)).unwrap();
    let b = receive(&store, T0 + 1, 1, 2)[0];
    assert_eq!((a.deadline_ms, b.deadline_ms), (T0 + 100, T0 + 5_001));
    assert_eq!(offsets(&receive(&store, T0 + 100, 5, 2)), [0]);
}

#[test]
fn switching_dead_lettering_off_keeps_dead_letter_records_and_lowering_it_applies_to_visible_ones() {
    let sim = sim();
    let store = create(config(10, Some(1)), options(&sim, Durability::Sync));
    receive(&store, T0, 1, 1);
    store.tick(T0 + 10).unwrap();
    store.update_config(T0 + 10, config(10, None)).unwrap();
    assert_eq!(store.counts().dead_letter_visible, 1, "existing dead-letter records stay");
    let d = receive(&store, T0 + 10, 1, 2)[0];
    assert_eq!(d.handle.record.offset, 1);
    for i in 0..3 {
        store.tick(T0 + 20 + 10 * i).unwrap();
        assert_eq!(receive(&store, T0 + 20 + 10 * i, 1, 2).len(), 1, "redelivered while dead-lettering is off");
    }
    store.tick(T0 + 60).unwrap();
    assert_eq!(store.entry(RecordKey::new(0, 1)).unwrap().phase, Phase::Visible);
    store.update_config(T0 + 60, config(10, Some(4))).unwrap();
    assert_eq!(store.entry(RecordKey::new(0, 1)).unwrap().phase, Phase::DeadLetterVisible, "4 receives ≥ 4");
    assert_eq!(store.counts().dead_letter_visible, 2);
    assert!(matches!(store.update_config(T0, config(10, Some(0))), Err(Error::InvalidArgument { .. })));
}

#[test]
fn deleting_the_queue_invalidates_every_handle_and_removes_its_files() {
    let sim = sim();
    let store = create(config(100, None), options(&sim, Durability::Sync));
    let d = receive(&store, T0, 2, 2);
    store.delete().unwrap();
    assert!(matches!(store.acknowledge(T0, &[d[0].handle]), Err(Error::ResourceNotFound { .. })));
    assert!(matches!(store.receive_dead_letter(T0, 1, None), Err(Error::ResourceNotFound { .. })));
    assert!(!sim.exists(Path::new(DIR)));
    assert!(!sim.power_cut().exists(Path::new(DIR)), "the removal is durable");
}

#[test]
fn the_log_is_compacted_and_stays_bounded_by_the_state() {
    let sim = sim();
    let mut opts = options(&sim, Durability::Buffered);
    opts.compact_min_bytes = 4_096;
    let store = create(config(100, None), opts);
    let mut end = 0;
    for i in 0..2_000u64 {
        end += 5;
        let ds = receive(&store, T0 + i, 5, end);
        // One record of each batch stays in flight (until it times out and is redelivered).
        store.acknowledge(T0 + i, &ds[1..].iter().map(|d| d.handle).collect::<Vec<_>>()).unwrap();
    }
    let stats = store.stats();
    assert!(stats.compactions >= 10, "{stats:?}");
    assert!(stats.log_bytes < 4_096 + 1_024 && stats.snapshot_bytes < 64 * 1_024, "{stats:?}");
    let before = store.state_copy();
    store.close().unwrap();
    let reopened =
        QueueStore::open(DIR, options(&sim, Durability::Buffered), 1, config(100, None), T0 + 2_000).unwrap();
    let mut after = reopened.state_copy();
    assert_eq!(after.next_generation(), after.reserved_generation());
    after.check_invariants().unwrap();
    let mut expected = before;
    expected.advance_clock(T0 + 2_000);
    expected.skip_to_reservation();
    after.advance_clock(T0 + 2_000);
    assert_eq!(after, expected);
}

#[test]
fn a_torn_tail_is_cut_at_open_and_an_intact_frame_that_does_not_fit_is_corruption() {
    let sim = sim();
    let cfg = config(100, None);
    let store = create(cfg, options(&sim, Durability::Sync));
    let d = receive(&store, T0, 3, 3);
    store.acknowledge(T0, &[d[0].handle]).unwrap();
    let expected = store.state_copy();
    drop(store);
    let log = Path::new(DIR).join("log");
    let len = sim.file_content(&log).unwrap().len() as u64;
    let f = sim.open_rw(&log).unwrap();
    f.write_all_at(b"QE\x02\x00\x10\x00\x00\x00garbage!", len).unwrap();
    let store = QueueStore::open(DIR, options(&sim, Durability::Sync), 1, cfg, T0).unwrap();
    assert_eq!(store.stats().torn_bytes, 16);
    assert_eq!(sim.file_content(&log).unwrap().len() as u64, len, "cut back");
    let mut got = store.state_copy();
    got.skip_to_reservation();
    let mut want = expected;
    want.skip_to_reservation();
    assert_eq!(got, want);
    drop(store);

    // An intact (CRC-valid) acknowledgement of a record that is not pending: corruption.
    let mut frame = Vec::new();
    let ack =
        shardlog::queue::event::Acknowledge { now_ms: T0, dead_letter: false, records: vec![RecordKey::new(0, 9)] };
    shardlog::queue::frame::encode_frame(&mut frame, 1, len, &shardlog::queue::Event::Acknowledge(ack));
    f.write_all_at(&frame, len).unwrap();
    let err = QueueStore::open(DIR, options(&sim, Durability::Sync), 1, cfg, T0).unwrap_err();
    assert!(matches!(&err, Error::Corrupt { offset, .. } if *offset == len), "{err}");
    assert_eq!(sim.file_content(&log).unwrap().len() as u64, len + frame.len() as u64, "nothing was cut off");
}

#[test]
fn open_refuses_another_queues_state_and_missing_files() {
    let sim = sim();
    let cfg = config(100, None);
    drop(create(cfg, options(&sim, Durability::Sync)));
    let err = QueueStore::open(DIR, options(&sim, Durability::Sync), 2, cfg, T0).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    sim.remove_file(&Path::new(DIR).join("log")).unwrap();
    let err = QueueStore::open(DIR, options(&sim, Durability::Sync), 1, cfg, T0).unwrap_err();
    assert!(err.to_string().contains("state log is missing"), "{err}");
    sim.remove_file(&Path::new(DIR).join("snapshot")).unwrap();
    let err = QueueStore::open(DIR, options(&sim, Durability::Sync), 1, cfg, T0).unwrap_err();
    assert!(err.to_string().contains("snapshot file is missing"), "{err}");
    let spec = QueueSpec { uid: 1, config: cfg, now_ms: T0, start_positions: vec![] };
    drop(QueueStore::create(DIR, options(&sim, Durability::Sync), spec.clone()).unwrap());
    let err = QueueStore::create(DIR, options(&sim, Durability::Sync), spec).unwrap_err();
    assert!(matches!(err, Error::ResourceInUse { .. }), "{err}");
}

#[test]
fn open_applies_the_catalogs_attributes_when_the_log_missed_an_update() {
    let sim = sim();
    drop(create(config(100, None), options(&sim, Durability::Sync)));
    let store = QueueStore::open(DIR, options(&sim, Durability::Sync), 1, config(700, Some(2)), T0).unwrap();
    assert_eq!(store.config(), config(700, Some(2)));
    assert_eq!(store.stats().events_written, 1, "the change was logged");
    drop(store);
    // Durably: after a power cut the state log alone already has the new attributes.
    let cut = sim.power_cut();
    let store = QueueStore::open(DIR, options(&cut, Durability::Sync), 1, config(700, Some(2)), T0).unwrap();
    assert_eq!((store.config(), store.stats().events_written), (config(700, Some(2)), 0));
}

#[test]
fn a_compaction_interrupted_between_its_renames_recovers_from_the_new_snapshot() {
    let sim = sim();
    let cfg = config(100, None);
    let store = create(cfg, options(&sim, Durability::Sync));
    let d = receive(&store, T0, 3, 3);
    store.acknowledge(T0, &[d[1].handle]).unwrap();
    let before = sim.op_count();
    store.compact().unwrap();
    let ops = sim.ops();
    // The op after the directory fsync that follows the snapshot rename.
    let renamed = (before..ops.len())
        .find(|&i| matches!(&ops[i], shardlog::io::sim::SimOp::Rename { to, .. } if to.ends_with("snapshot")))
        .unwrap();
    let crashed = sim.crash_at(renamed + 2, shardlog::io::sim::TailMode::Whole);
    let store = QueueStore::open(DIR, options(&crashed, Durability::Sync), 1, cfg, T0).unwrap();
    assert_eq!(store.stats().events_replayed, 0, "the stale log was not replayed");
    assert!(store.is_settled(RecordKey::new(0, 1)));
    assert_eq!(store.counts().in_flight, 2);
    let d2 = receive(&store, T0 + 100, 5, 3);
    assert_eq!(offsets(&d2), [0, 2]);
    assert!(d2.iter().all(|x| d.iter().all(|y| x.handle.generation != y.handle.generation)));
}

#[test]
fn handles_are_never_reissued_after_a_power_cut_even_in_buffered_mode() {
    let sim = sim();
    let cfg = config(10, None);
    let store = create(cfg, options(&sim, Durability::Buffered));
    let mut issued = HashSet::new();
    for i in 0..20 {
        for d in receive(&store, T0 + 10 * i, 3, 3) {
            assert!(issued.insert(store.encode_handle(&d.handle)));
        }
    }
    // Nothing but the creation and the generation reservation was ever fdatasync'd.
    let cut = sim.power_cut();
    drop(store);
    let store = QueueStore::open(DIR, options(&cut, Durability::Buffered), 1, cfg, T0 + 1_000).unwrap();
    for i in 0..20 {
        for d in receive(&store, T0 + 1_000 + 10 * i, 3, 3) {
            assert!(issued.insert(store.encode_handle(&d.handle)), "a handle was issued twice");
        }
    }
}

#[test]
fn concurrent_receivers_never_get_a_record_while_another_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let opts = QueueOptions::new(Durability::Sync, key());
    let spec = QueueSpec { uid: 5, config: config(60_000, None), now_ms: T0, start_positions: vec![] };
    let store = QueueStore::create(dir.path().join("q"), opts, spec).unwrap();
    let total = 1_000u64;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let fresh = span(total);
                    let r = ReceiveRequest { max_records: 10, visibility_timeout_ms: None, fresh: &fresh };
                    let ds = store.receive(T0, &r).unwrap().deliveries;
                    if ds.is_empty() {
                        return mine;
                    }
                    let results = store.acknowledge(T0, &ds.iter().map(|d| d.handle).collect::<Vec<_>>()).unwrap();
                    assert!(results.iter().all(Result::is_ok));
                    mine.extend(ds.iter().map(|d| d.handle.record.offset));
                }
            })
        })
        .collect();
    let mut all: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    all.sort();
    assert_eq!(all, (0..total).collect::<Vec<_>>(), "every record exactly once");
    let p = store.progress(0).unwrap();
    assert_eq!((p.floor, p.cursor), (total, total));
}

#[test]
fn record_ids_are_the_records_sequence_numbers() {
    let seq = SequenceNumber::new(1_700_000_000, 0, 41, 1_700_000_001);
    let id = RecordId::from_sequence_number(&seq);
    assert_eq!(id.as_str().len(), 56);
    assert!(id.as_str().bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(id, RecordId::from_sequence_number(&SequenceNumber::parse(&seq.to_string()).unwrap()));
}

#[test]
fn interval_mode_makes_operations_durable_in_the_background() {
    let sim = sim();
    let cfg = config(100, None);
    let store = create(cfg, options(&sim, Durability::Interval(std::time::Duration::from_millis(1))));
    let d = receive(&store, T0, 3, 3);
    store.acknowledge(T0, &[d[0].handle]).unwrap();
    let acked = sim.op_count();
    // The flusher thread syncs on its own: wait for it (bounded), never calling flush.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !sim.ops()[acked..].iter().any(|op| matches!(op, shardlog::io::sim::SimOp::SyncData { .. })) {
        assert!(std::time::Instant::now() < deadline, "the interval flusher never synced the log");
        std::thread::yield_now();
    }
    let cut = sim.power_cut();
    let reopened = QueueStore::open(DIR, options(&cut, Durability::Sync), 1, cfg, T0).unwrap();
    assert!(reopened.is_settled(d[0].handle.record), "the acknowledgement survived a power cut");
}

#[test]
fn a_shard_log_that_lost_its_tail_rewinds_the_queue_to_deliver_the_new_records() {
    let sim = sim();
    let store = create(config(1_000, None), options(&sim, Durability::Sync));
    let d = receive(&store, T0, 10, 6);
    store.acknowledge(T0, &[d[4].handle, d[5].handle]).unwrap();
    // A power cut under Interval durability cost the shard log its records 3..6; new records
    // arrive at those offsets.
    store.rewind_shard(T0 + 1, 0, 3).unwrap();
    assert_eq!(codes(&store.acknowledge(T0 + 1, &[d[3].handle]).unwrap()), [RNF]);
    let p = store.progress(0).unwrap();
    assert_eq!((p.floor, p.cursor, p.pending), (0, 3, 3));
    let cfg = config(1_000, None);
    let store = reopen(&sim.power_cut(), store, cfg, T0 + 2);
    assert_eq!(offsets(&receive(&store, T0 + 2, 10, 5)), [3, 4], "the new records at reused offsets are delivered");
    store.rewind_shard(T0 + 3, 0, 9).unwrap();
    assert_eq!(store.progress(0).unwrap().cursor, 5, "a rewind above the cursor changes nothing");
}
