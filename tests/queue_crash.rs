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

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

use shardlog::io::sim::{CrashSweep, DirMode, Durability as SimDurability, SimVfs};
use shardlog::io::Vfs;
use shardlog::kinesis::TokenKey;
use shardlog::log::queue::{
    DeadLetter, Delivery, FreshSpan, QueueConfig, QueueOptions, QueueSpec, QueueStore, ReceiptHandle, ReceiveRequest,
    RecordKey,
};
use shardlog::Durability;

const DIR: &str = "/data/queues/q";
const UID: u64 = 11;
const T0: u64 = 1_700_000_000_000;
const SHARDS: u32 = 2;
/// R2's PR gate.
const MIN_STATES: usize = 2_000;

fn full() -> bool {
    std::env::var("SHARDLOG_QUEUE_CRASH_STATES").is_ok_and(|v| v == "full")
}

fn options(sim: &SimVfs) -> QueueOptions {
    let mut o = QueueOptions::new(Durability::Sync, TokenKey::from_bytes([2; 32])).with_vfs(sim.shared());
    o.compact_min_bytes = 700;
    o.max_in_flight = 12;
    o
}

fn config(visibility_timeout_ms: u64, max_receive_count: u32) -> QueueConfig {
    QueueConfig { visibility_timeout_ms, dead_letter: DeadLetter::BuiltIn { max_receive_count } }
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A call's span of sim operations: it started after `start` ops and returned after `end`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// What the workload was told, and when.
#[derive(Debug, Default)]
struct Facts {
    /// `create` returned after this many ops.
    created: usize,
    /// Records settled by an acknowledgement (normal or dead-letter) that succeeded.
    acked: Vec<(RecordKey, Span)>,
    /// Shard starts moved by a trim (explicit or a receive's span).
    trims: Vec<(u32, u64, Span)>,
    /// Deliveries returned: record, receive count, generation.
    received: Vec<(RecordKey, u32, u64, Span)>,
    /// Records restored successfully.
    restored: Vec<(RecordKey, Span)>,
    /// Attribute updates (the catalog's value from `span.end` on).
    configs: Vec<(QueueConfig, Span)>,
    /// The clock at the start of each call.
    clock: Vec<(usize, u64)>,
    /// Per shard: the high-watermark, as it grew (op count, value).
    hwm: Vec<(usize, [u64; SHARDS as usize])>,
}

impl Facts {
    fn config_at(&self, n: usize) -> QueueConfig {
        self.configs.iter().rev().find(|(_, s)| s.end <= n).map_or(config(30, 2), |(c, _)| *c)
    }
    fn clock_at(&self, n: usize) -> u64 {
        self.clock.iter().rev().find(|(op, _)| *op <= n).map_or(T0, |(_, t)| *t)
    }
    fn hwm_at(&self, n: usize) -> [u64; SHARDS as usize] {
        self.hwm.iter().rev().find(|(op, _)| *op <= n).map_or([0; SHARDS as usize], |(_, h)| *h)
    }
    /// The highest start any trim that had started by `n` may have moved a shard to.
    fn start_at(&self, n: usize, shard: u32) -> u64 {
        self.trims.iter().filter(|(s, _, span)| *s == shard && span.start < n).map(|(_, v, _)| *v).max().unwrap_or(0)
    }
}

struct Workload {
    sim: SimVfs,
    store: QueueStore,
    facts: Facts,
    rng: Rng,
    now: u64,
    hwm: [u64; SHARDS as usize],
    start: [u64; SHARDS as usize],
    /// Current handles the workload holds (normal and dead-letter), to act on.
    held: Vec<ReceiptHandle>,
    config: QueueConfig,
}

impl Workload {
    fn call<T>(&mut self, f: impl FnOnce(&mut Workload) -> T) -> (T, Span) {
        let start = self.sim.op_count();
        self.facts.clock.push((start, self.now));
        let r = f(self);
        (r, Span { start, end: self.sim.op_count() })
    }

    fn spans(&self) -> Vec<FreshSpan> {
        (0..SHARDS).map(|s| FreshSpan { shard: s, start: self.start[s as usize], end: self.hwm[s as usize] }).collect()
    }

    fn record(&mut self, ds: &[Delivery], span: Span) {
        for d in ds {
            self.facts.received.push((d.handle.record, d.receive_count, d.handle.generation, span));
            self.held.push(d.handle);
        }
    }

    /// Up to `n` held handles, removed from the held list when `take`.
    fn pick(&mut self, n: usize, dead_letter: bool) -> Vec<ReceiptHandle> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.held.len() && out.len() < n {
            if self.held[i].dead_letter == dead_letter && self.rng.chance(60) {
                out.push(self.held.swap_remove(i));
            } else {
                i += 1;
            }
        }
        out
    }

    fn step(&mut self) {
        let r = self.rng.below(100);
        match r {
            0..=7 => {
                let s = self.rng.below(u64::from(SHARDS)) as usize;
                self.hwm[s] += 1 + self.rng.below(4);
                self.facts.hwm.push((self.sim.op_count(), self.hwm));
            }
            8..=25 => {
                let max = 1 + self.rng.below(6) as usize;
                let vis = if self.rng.chance(15) { Some(0) } else { None };
                if self.rng.chance(10) {
                    let s = self.rng.below(u64::from(SHARDS)) as usize;
                    self.start[s] = (self.start[s] + 1 + self.rng.below(2)).min(self.hwm[s]);
                }
                let spans = self.spans();
                let (out, span) = self.call(|w| {
                    let r = ReceiveRequest { max_records: max, visibility_timeout_ms: vis, fresh: &spans };
                    w.store.receive(w.now, &r).expect("receive")
                });
                for sp in &spans {
                    self.facts.trims.push((sp.shard, sp.start, span));
                }
                self.record(&out.deliveries, span);
            }
            26..=37 => {
                let hs = self.pick(2, false);
                let (res, span) = self.call(|w| w.store.acknowledge(w.now, &hs).expect("ack"));
                for (h, r) in hs.iter().zip(res) {
                    if r.is_ok() {
                        self.facts.acked.push((h.record, span));
                    }
                }
            }
            38..=43 => {
                let hs = self.pick(3, false);
                let entries: Vec<(ReceiptHandle, u64)> =
                    hs.iter().map(|h| (*h, if self.rng.chance(40) { 0 } else { self.rng.below(80) })).collect();
                self.call(|w| w.store.change_visibility(w.now, &entries).expect("visibility"));
                self.held.extend(hs);
            }
            44..=55 => self.now += self.rng.below(60),
            56..=63 => {
                let max = 1 + self.rng.below(4) as usize;
                let (out, span) = self.call(|w| w.store.receive_dead_letter(w.now, max, None).expect("dl receive"));
                self.record(&out.deliveries, span);
            }
            64..=68 => {
                let hs = self.pick(3, true);
                let (res, span) = self.call(|w| w.store.acknowledge_dead_letter(w.now, &hs).expect("dl ack"));
                for (h, r) in hs.iter().zip(res) {
                    if r.is_ok() {
                        self.facts.acked.push((h.record, span));
                    }
                }
            }
            69..=75 => {
                let hs = self.pick(3, true);
                let (res, span) = self.call(|w| w.store.restore_dead_letter(w.now, &hs).expect("restore"));
                for (h, r) in hs.iter().zip(res) {
                    if r.is_ok() {
                        self.facts.restored.push((h.record, span));
                    }
                }
            }
            76..=78 => {
                let hs = self.pick(2, true);
                let entries: Vec<(ReceiptHandle, u64)> = hs.iter().map(|h| (*h, self.rng.below(2) * 50)).collect();
                self.call(|w| w.store.change_dead_letter_visibility(w.now, &entries).expect("dl visibility"));
                self.held.extend(hs);
            }
            79..=82 => {
                let s = self.rng.below(u64::from(SHARDS)) as u32;
                let to = (self.start[s as usize] + 1 + self.rng.below(3)).min(self.hwm[s as usize]);
                self.start[s as usize] = to;
                let (_, span) = self.call(|w| w.store.trim(w.now, s, to).expect("trim"));
                self.facts.trims.push((s, to, span));
            }
            83..=85 => {
                let cfg = config(10 + self.rng.below(50), 1 + self.rng.below(3) as u32);
                let (_, span) = self.call(|w| w.store.update_config(w.now, cfg).expect("update"));
                self.config = cfg;
                self.facts.configs.push((cfg, span));
            }
            86..=88 => {
                self.call(|w| w.store.compact().expect("compact"));
            }
            89..=90 => {
                let ((), _) = self.call(|w| {
                    w.store.close().expect("close");
                    w.store = QueueStore::open(DIR, options(&w.sim), UID, w.config, w.now).expect("reopen");
                });
            }
            _ => {
                self.call(|w| w.store.tick(w.now).expect("tick"));
            }
        }
    }
}

fn run_workload(seed: u64, steps: usize) -> (SimVfs, Facts) {
    let sim = SimVfs::new();
    sim.create_dir_all(Path::new("/data/queues")).unwrap();
    for d in ["/", "/data", "/data/queues"] {
        sim.sync_dir(Path::new(d)).unwrap();
    }
    let cfg = config(30, 2);
    let spec = QueueSpec { uid: UID, config: cfg, now_ms: T0, start_positions: vec![(0, 0)] };
    let store = QueueStore::create(DIR, options(&sim), spec).unwrap();
    let facts = Facts { created: sim.op_count(), ..Facts::default() };
    let mut w = Workload {
        sim,
        store,
        facts,
        rng: Rng(seed),
        now: T0,
        hwm: [0; SHARDS as usize],
        start: [0; SHARDS as usize],
        held: Vec::new(),
        config: cfg,
    };
    for _ in 0..steps {
        w.step();
    }
    let compactions = w
        .sim
        .ops()
        .iter()
        .filter(|op| matches!(op, shardlog::io::sim::SimOp::Rename { to, .. } if to.ends_with("snapshot")))
        .count();
    assert!(compactions >= 3, "the workload compacts ({compactions})");
    (w.sim, w.facts)
}

/// Check one crash state (crash after `n` ops); `Err` says what broke.
fn check_state(vfs: &SimVfs, n: usize, facts: &Facts) -> Result<(), String> {
    let now = facts.clock_at(n);
    let cfg = facts.config_at(n);
    let opened = QueueStore::open(DIR, options(vfs), UID, cfg, now);
    let store = match opened {
        Ok(s) => s,
        Err(_) if n < facts.created => return Ok(()), // create had not returned: any typed error
        Err(e) => return Err(format!("open failed: {e}")),
    };
    let state = store.state_copy();
    state.check_invariants().map_err(|e| format!("invariants: {e}"))?;

    // Acknowledged (returned) ⇒ settled; trimmed (returned) ⇒ settled.
    for (k, span) in &facts.acked {
        if span.end <= n && !state.is_settled(*k) {
            return Err(format!("acknowledged {k:?} (returned at op {}) is not settled", span.end));
        }
    }
    for (shard, start, span) in &facts.trims {
        if span.end <= n && state.shard(*shard).is_some_and(|s| s.floor() < *start) {
            return Err(format!("trim of shard {shard} to {start} (returned at op {}) undone", span.end));
        }
    }
    // Settled ⇒ some settling call had started.
    let hwm = facts.hwm_at(n);
    for shard in 0..SHARDS {
        let trimmed_to = facts.start_at(n, shard);
        for offset in 0..hwm[shard as usize] {
            let k = RecordKey::new(shard, offset);
            if state.is_settled(k) && offset >= trimmed_to && !facts.acked.iter().any(|(a, s)| *a == k && s.start < n) {
                return Err(format!("{k:?} is settled but nothing had acknowledged or trimmed it (lost)"));
            }
        }
    }
    // Receive counts never go backwards; generations are never reissued.
    let mut last: BTreeMap<RecordKey, (u32, usize)> = BTreeMap::new();
    let mut max_generation = None;
    for (k, count, generation, span) in &facts.received {
        if span.end <= n {
            last.insert(*k, (*count, span.end));
            max_generation = max_generation.max(Some(*generation));
        }
    }
    for (k, (count, at)) in &last {
        let restored_since = facts.restored.iter().any(|(r, s)| r == k && s.start < n && s.end > *at);
        if let (Some(e), false) = (state.entry(*k), restored_since) {
            if e.receive_count < *count {
                return Err(format!("{k:?} receive count went back from {count} to {}", e.receive_count));
            }
        }
    }
    if let Some(g) = max_generation {
        if state.next_generation() <= g {
            return Err(format!("next generation {} would reissue generation {g}", state.next_generation()));
        }
    }

    // Works again: drain everything.
    let acked_returned: BTreeSet<RecordKey> = facts.acked.iter().filter(|(_, s)| s.end <= n).map(|(k, _)| *k).collect();
    let fresh: Vec<FreshSpan> = (0..SHARDS)
        .map(|s| {
            let start = facts.start_at(n, s).min(hwm[s as usize]);
            FreshSpan { shard: s, start, end: hwm[s as usize] }
        })
        .collect();
    let mut t = now + 1_000_000;
    let mut delivered = BTreeSet::new();
    for _ in 0..1_000 {
        t += 1_000_000;
        let r = ReceiveRequest { max_records: 10_000, visibility_timeout_ms: Some(1), fresh: &fresh };
        let normal = store.receive(t, &r).map_err(|e| format!("drain receive: {e}"))?.deliveries;
        let dl =
            store.receive_dead_letter(t, 10_000, Some(1)).map_err(|e| format!("drain dl receive: {e}"))?.deliveries;
        if normal.is_empty() && dl.is_empty() {
            break;
        }
        for d in normal.iter().chain(&dl) {
            if acked_returned.contains(&d.handle.record) {
                return Err(format!("{:?} delivered after its acknowledgement returned", d.handle.record));
            }
            delivered.insert(d.handle.record);
        }
        let a =
            store.acknowledge(t, &normal.iter().map(|d| d.handle).collect::<Vec<_>>()).map_err(|e| e.to_string())?;
        let b = store
            .acknowledge_dead_letter(t, &dl.iter().map(|d| d.handle).collect::<Vec<_>>())
            .map_err(|e| e.to_string())?;
        if let Some(Err(e)) = a.iter().chain(&b).find(|r| r.is_err()) {
            return Err(format!("drain acknowledgement failed: {e}"));
        }
    }
    let counts = store.counts();
    if counts != Default::default() {
        return Err(format!("records left after the drain: {counts:?}"));
    }
    for shard in 0..SHARDS {
        for offset in 0..hwm[shard as usize] {
            if !store.is_settled(RecordKey::new(shard, offset)) {
                return Err(format!("{:?} was never delivered by the drain", RecordKey::new(shard, offset)));
            }
        }
    }
    let before = store.state_copy();
    store.close().map_err(|e| e.to_string())?;
    let again = QueueStore::open(DIR, options(vfs), UID, cfg, t).map_err(|e| format!("reopen after drain: {e}"))?;
    let mut after = again.state_copy();
    let mut before = before;
    before.skip_to_reservation();
    after.skip_to_reservation();
    if after != before {
        return Err("a clean reopen after the drain changed the state".into());
    }
    Ok(())
}

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
        durability: SimDurability::AllWritten,
    };
    let torn = sweep_states(&sim, &facts, &sweep);
    let strict = CrashSweep {
        durability: SimDurability::SyncedOnly,
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
            durability: SimDurability::SyncedOnly,
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
