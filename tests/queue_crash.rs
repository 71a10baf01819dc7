//! Reliability R1/R2 for the queue state log: crash states of the files of one queue.
//!
//! A seeded `Durability::Sync` workload runs a `QueueStore` on the crash-simulating `SimVfs`
//! with a small compaction threshold: receives (fresh records and redeliveries, visibility 0
//! among them), acknowledgements (current and stale handles), visibility changes, timeouts
//! into the dead-letter set, dead-letter receives, acknowledgements, visibility changes and
//! restores, retention trims (explicit and through a receive's spans), attribute updates,
//! explicit and automatic compactions, and clean reopens. Every call is recorded with the sim
//! op count before it started and after it returned, together with what it returned.
//!
//! Then, for every crash state the simulation produces (every operation × cut lengths of an
//! interrupted write, zero-filled, garbage and bit-flipped writes, with and without un-synced
//! directory changes; and a strict power cut keeping only synced data at every operation),
//! the store is reopened and checked:
//!
//! - it opens (no panic; once `create` returned, no error either) and passes its invariants;
//! - **an acknowledgement that returned is never undone**: every record acknowledged (or
//!   discarded, or trimmed) by a call that returned before the crash is settled;
//! - **nothing is lost**: a settled record was settled by a call that had at least started;
//! - **receive counts never go backwards**: a record's count is at least what the last
//!   receive that returned reported (unless a restore had started since);
//! - **handles are never reissued**: the next generation is above every generation returned;
//! - the store works again: draining everything (normal and dead-letter receives after the
//!   clock passes every deadline, acknowledging all) delivers exactly the unsettled records —
//!   never one whose acknowledgement had returned — and leaves every record settled; a reopen
//!   after that shows the same state.
//!
//! The PR run checks several thousand states in seconds. The nightly size
//! (`SHARDLOG_QUEUE_CRASH_STATES=full`) runs a longer workload with every cut length.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod queue_common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use queue_common::{check_state, full, run_workload, Facts, MIN_STATES};
use shardlog::io::sim::{CrashSweep, DataMode as SimDurability, DirMode, SimVfs};

fn sweep_states(sim: &SimVfs, facts: &Facts, sweep: &CrashSweep) -> usize {
    let mut n = 0;
    for state in sim.crash_states(sweep) {
        let r = catch_unwind(AssertUnwindSafe(|| check_state(&state.vfs, state.spec.ops, facts)));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{}: {e}", state.label),
            Err(p) => panic!("{}: panicked: {p:?}", state.label),
        }
        n += 1;
    }
    n
}

#[test]
fn every_crash_state_keeps_acknowledgements_and_loses_no_record() {
    let started = Instant::now();
    let (steps, cut_step) = if full() { (1_500, 1) } else { (220, 6) };
    let (sim, facts) = run_workload(0x5eed, steps);
    let dl_received = facts.received.iter().filter(|(k, ..)| facts.restored.iter().any(|(r, _)| r == k)).count();
    assert!(
        facts.acked.len() > 30 && facts.restored.len() > 3 && dl_received > 3,
        "workload too thin: {} acks, {} restores",
        facts.acked.len(),
        facts.restored.len()
    );
    let sweep = CrashSweep {
        from_op: 0,
        cut_step,
        zeroed: true,
        garbage: true,
        bit_flips: 1,
        dir_modes: vec![DirMode::KeepAll, DirMode::DropUnsynced],
        data: SimDurability::AllWritten,
    };
    let torn = sweep_states(&sim, &facts, &sweep);
    let strict = CrashSweep {
        data: SimDurability::SyncedOnly,
        dir_modes: vec![DirMode::DropUnsynced],
        cut_step: 0,
        zeroed: false,
        garbage: false,
        bit_flips: 0,
        from_op: 0,
    };
    let synced = sweep_states(&sim, &facts, &strict);
    eprintln!(
        "{torn} torn + {synced} synced-only crash states over {} ops ({} acks, {} deliveries) in {:?}",
        sim.op_count(),
        facts.acked.len(),
        facts.received.len(),
        started.elapsed()
    );
    assert!(torn + synced >= MIN_STATES, "{torn} + {synced} states");
}

#[test]
fn other_seeds_keep_the_crash_semantics_at_every_power_cut() {
    for seed in 1..=4u64 {
        let (sim, facts) = run_workload(seed, 150);
        let strict = CrashSweep {
            data: SimDurability::SyncedOnly,
            dir_modes: vec![DirMode::DropUnsynced],
            cut_step: 0,
            zeroed: false,
            garbage: false,
            bit_flips: 0,
            from_op: 0,
        };
        sweep_states(&sim, &facts, &strict);
    }
}
