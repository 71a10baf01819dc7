//! Reliability R3 for the queue state store, the SQLite-style error-path loop: for every kind
//! of I/O call the store makes (create, open, write, read, fdatasync, directory fsync,
//! set_len, rename, remove, create_dir), in fail-once and fail-forever modes, fail the N-th
//! call for N = 1, 2, 3, … until the workload of `tests/queue_common` (create, receives,
//! acknowledgements, visibility changes, dead-letter operations, trims, attribute updates,
//! compactions, reopens) runs without the fault firing. The workload runs under
//! `Durability::Sync` on a `FaultVfs` over a `SimVfs` and stops at the first error. Every run
//! checks:
//!
//! - no panic;
//! - a fault that fired reached the caller as an `Err`;
//! - after the error, a poisoned store refuses the next call with `Error::Poisoned`, and one
//!   that is not poisoned takes calls again once the fault clears;
//! - with the fault cleared, reopening (the same file system, and a power cut of it taken at
//!   the moment of the error) passes the oracle of the crash suite: nothing acknowledged is
//!   undone, nothing is lost, receive counts never go back, handles are never reissued, and
//!   draining works.
//!
//! Dedicated tests cover a full disk (typed `is_storage_full`, no poisoning, calls resume
//! without a reopen) and short writes (the partial frame is cut off).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod queue_common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use queue_common::{check_state, options, prepared_sim, Workload, DIR, T0, UID};
use shardlog::io::fault::{FaultError, FaultMode, FaultPlan, FaultVfs};
use shardlog::io::sim::TailMode;
use shardlog::io::{OpKind, Vfs};
use shardlog::queue::{FreshSpan, QueueStore, ReceiveRequest};
use shardlog::Error;

/// Steps of the workload per run.
const STEPS: usize = 90;
const SEED: u64 = 0xfa17;

/// The call kinds the store makes.
const KINDS: [OpKind; 10] = [
    OpKind::Create,
    OpKind::Open,
    OpKind::Write,
    OpKind::Read,
    OpKind::SyncData,
    OpKind::SyncDir,
    OpKind::SetLen,
    OpKind::Rename,
    OpKind::Remove,
    OpKind::CreateDir,
];

/// What one faulted run saw.
struct Outcome {
    fired: u64,
    error: Option<Error>,
    workload: Workload,
    fault: FaultVfs,
}

fn run(plan: Option<FaultPlan>) -> Outcome {
    let sim = prepared_sim();
    let fault = FaultVfs::new(sim.shared());
    let mut w = Workload::new(sim, fault.shared(), SEED);
    if let Some(plan) = plan {
        fault.set_plan(plan);
    }
    let mut error = w.create().err();
    if error.is_none() {
        for _ in 0..STEPS {
            if let Err(e) = w.step() {
                error = Some(e);
                break;
            }
        }
    }
    Outcome { fired: fault.fired(), error, workload: w, fault }
}

fn check_run(plan: FaultPlan) -> Result<bool, String> {
    let Outcome { fired, error, workload: w, fault } = run(Some(plan));
    if fired == 0 {
        return Ok(false);
    }
    let Some(error) = error else {
        return Err(format!("{fired} injected fault(s) fired but no call failed"));
    };
    fault.clear();
    // Poisoned ⇒ refuses; otherwise takes calls again (calls that change no state, so the
    // oracle below sees the state the error left).
    if let Some(store) = &w.store {
        let now = w.facts.clock.last().map_or(0, |c| c.1);
        let r = store.flush().and_then(|()| store.tick(now));
        match (store.poisoned(), r) {
            (Some(_), Err(Error::Poisoned { .. })) | (None, Ok(_)) => {}
            (p, r) => return Err(format!("after {error}: poisoned {p:?} but the next call gave {r:?}")),
        }
    }
    let n = w.sim.op_count();
    let facts = &w.facts;
    // Independent copies, taken before the handle is dropped (a drop syncs): the check
    // drains (changes) the file system it reopens.
    let (now, cut) = (w.sim.crash_at(n, TailMode::Whole), w.sim.power_cut());
    drop(w.store);
    check_state(&now, n, facts).map_err(|e| format!("reopen after {error}: {e}"))?;
    check_state(&cut, n, facts).map_err(|e| format!("reopen of a power cut after {error}: {e}"))?;
    Ok(true)
}

#[test]
fn every_failing_call_reaches_the_caller_and_reopen_recovers() {
    let clean = run(None);
    assert!(clean.error.is_none(), "the workload runs clean without faults: {:?}", clean.error);
    let mut runs = 0;
    for kind in KINDS {
        let calls = clean.fault.calls(kind);
        // Removes and set_len happen only on recovery and failure paths: see the tests below.
        assert!(calls > 0 || matches!(kind, OpKind::SetLen | OpKind::Remove), "the workload makes {kind:?} calls");
        for mode in [FaultMode::Once, FaultMode::Forever] {
            for nth in 1..=calls {
                let plan = FaultPlan { kind, nth, mode, error: FaultError::Other };
                match catch_unwind(AssertUnwindSafe(|| check_run(plan))) {
                    Ok(Ok(_)) => runs += 1,
                    Ok(Err(e)) => panic!("{plan:?}: {e}"),
                    Err(p) => panic!("{plan:?}: panicked: {p:?}"),
                }
            }
        }
    }
    eprintln!("{runs} faulted runs");
    assert!(runs > 200, "{runs}");
}

/// A queue directory needing every recovery step: a leftover `snapshot.tmp` and `log.tmp` of
/// an interrupted compaction (removed at open) and a torn tail (cut and fdatasync'd).
fn damaged_dir() -> (shardlog::io::sim::SimVfs, shardlog::queue::DeliveryState) {
    let (sim, _) = {
        let sim = prepared_sim();
        let mut w = Workload::new(sim.clone(), sim.shared(), SEED);
        w.create().unwrap();
        for _ in 0..40 {
            w.step().unwrap();
        }
        (sim, w)
    };
    let dir = std::path::Path::new(DIR);
    let expected = {
        let s = QueueStore::open(DIR, options(sim.shared()), UID, queue_common::config(30, 2), 0).unwrap();
        s.state_copy()
    };
    for tmp in ["snapshot.tmp", "log.tmp"] {
        sim.create(&dir.join(tmp)).unwrap().write_all_at(b"partial", 0).unwrap();
    }
    let log = dir.join("log");
    let len = sim.file_content(&log).unwrap().len() as u64;
    sim.open_rw(&log).unwrap().write_all_at(b"QE\x02\x00\xff\x00\x00\x00torn", len).unwrap();
    (sim, expected)
}

#[test]
fn recovery_calls_that_fail_reach_the_caller_and_a_later_open_recovers() {
    let (base, mut expected) = damaged_dir();
    let counting = FaultVfs::new(base.crash_at(base.op_count(), TailMode::Whole).shared());
    let cfg = queue_common::config(30, 2);
    QueueStore::open(DIR, options(counting.shared()), UID, cfg, 0).unwrap();
    expected.skip_to_reservation();
    let mut runs = 0;
    for kind in KINDS {
        for mode in [FaultMode::Once, FaultMode::Forever] {
            for nth in 1..=counting.calls(kind) {
                let sim = base.crash_at(base.op_count(), TailMode::Whole);
                let fault = FaultVfs::new(sim.shared());
                fault.set_plan(FaultPlan { kind, nth, mode, error: FaultError::Other });
                let r = catch_unwind(AssertUnwindSafe(|| QueueStore::open(DIR, options(fault.shared()), UID, cfg, 0)));
                let r = r.unwrap_or_else(|_| panic!("{kind:?} #{nth} {mode:?}: open panicked"));
                assert!(
                    fault.fired() == 0 || r.is_err(),
                    "{kind:?} #{nth} {mode:?}: the fault did not reach the caller"
                );
                drop(r);
                fault.clear();
                for vfs in [sim.crash_at(sim.op_count(), TailMode::Whole), sim.power_cut()] {
                    let store = QueueStore::open(DIR, options(vfs.shared()), UID, cfg, 0)
                        .unwrap_or_else(|e| panic!("{kind:?} #{nth} {mode:?}: reopen failed: {e}"));
                    let mut got = store.state_copy();
                    got.skip_to_reservation();
                    assert_eq!(got, expected, "{kind:?} #{nth} {mode:?}");
                }
                runs += 1;
            }
        }
    }
    assert!(counting.calls(OpKind::Remove) >= 2 && counting.calls(OpKind::SetLen) >= 1 && runs > 12, "{runs}");
}

#[test]
fn a_failed_deletion_is_reported_and_the_queue_stays_deleted() {
    for kind in [OpKind::Remove, OpKind::SyncDir] {
        let sim = prepared_sim();
        let fault = FaultVfs::new(sim.shared());
        let mut w = Workload::new(sim.clone(), fault.shared(), SEED);
        w.create().unwrap();
        for _ in 0..10 {
            w.step().unwrap();
        }
        let store = w.store.take().unwrap();
        fault.set_plan(FaultPlan::once(kind, 1, FaultError::Other));
        assert!(matches!(store.delete(), Err(Error::Io { .. })), "{kind:?}");
        assert!(matches!(store.tick(T0), Err(Error::ResourceNotFound { .. })), "handles are invalid at once");
        fault.clear();
        store.delete().unwrap();
        assert!(!sim.power_cut().exists(std::path::Path::new(DIR)));
    }
}

#[test]
fn a_full_disk_is_a_typed_error_that_leaves_the_store_writable() {
    for nth in [3, 8, 20, 40] {
        let plan = FaultPlan::once(OpKind::Write, nth, FaultError::NoSpace);
        let Outcome { error, workload: w, fault, .. } = run(Some(plan));
        let error = error.expect("the fault fired");
        assert!(error.is_storage_full(), "{error}");
        fault.clear();
        let store = w.store.as_ref().expect("the store was created");
        assert_eq!(store.poisoned(), None, "ENOSPC with the partial write cut off does not poison");
        let fresh = [FreshSpan { shard: 0, start: 0, end: 100 }];
        let r = ReceiveRequest { max_records: 3, visibility_timeout_ms: None, fresh: &fresh };
        assert!(store.receive(u64::MAX / 2, &r).is_ok(), "calls resume without a reopen");
    }
}

#[test]
fn a_short_write_is_cut_off_and_poisons_until_reopened() {
    let plan = FaultPlan::once(OpKind::Write, 12, FaultError::ShortWrite);
    let Outcome { error, workload: w, fault, .. } = run(Some(plan));
    assert!(matches!(error, Some(Error::Io { .. })), "{error:?}");
    fault.clear();
    let store = w.store.as_ref().unwrap();
    assert!(store.poisoned().is_some());
    let log = std::path::Path::new(DIR).join("log");
    let len = w.sim.file_content(&log).unwrap().len() as u64;
    assert_eq!(len, store.stats().log_bytes, "the half-written frame was cut off");
    let cfg = store.config();
    drop(w.store);
    let reopened = QueueStore::open(DIR, options(w.sim.shared()), UID, cfg, u64::MAX / 4).unwrap();
    assert_eq!(reopened.stats().torn_bytes, 0);
}
