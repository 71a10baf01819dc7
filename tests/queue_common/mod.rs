//! Shared by the queue state reliability suites (`tests/queue_crash.rs`,
//! `tests/queue_io_errors.rs`): a seeded workload on a `QueueStore` that records what every
//! call returned and the span of file-system operations it took, and the oracle that checks a
//! store reopened on a crashed or faulted file system against those facts.
//!
//! A call that failed counts as started and never returned: its effects may or may not be
//! on disk (for a failed acknowledgement or restore, any of its handles).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use shardlog::io::sim::SimVfs;
use shardlog::io::{Vfs, VfsRef};
use shardlog::kinesis::TokenKey;
use shardlog::queue::{
    DeadLetter, Delivery, FreshSpan, QueueConfig, QueueOptions, QueueSpec, QueueStore, ReceiptHandle, ReceiveRequest,
    RecordKey,
};
use shardlog::Durability;

pub const DIR: &str = "/data/queues/q";
pub const UID: u64 = 11;
pub const T0: u64 = 1_700_000_000_000;
pub const SHARDS: u32 = 2;
/// R2's PR gate.
pub const MIN_STATES: usize = 2_000;

pub fn full() -> bool {
    std::env::var("SHARDLOG_QUEUE_CRASH_STATES").is_ok_and(|v| v == "full")
}

pub fn options(vfs: VfsRef) -> QueueOptions {
    let mut o = QueueOptions::new(Durability::Sync, TokenKey::from_bytes([2; 32])).with_vfs(vfs);
    o.compact_min_bytes = 700;
    o.max_in_flight = 12;
    o
}

pub fn config(visibility_timeout_ms: u64, max_receive_count: u32) -> QueueConfig {
    QueueConfig { visibility_timeout_ms, dead_letter: DeadLetter::BuiltIn { max_receive_count } }
}

/// splitmix64.
pub struct Rng(pub u64);

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
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// What the workload was told, and when.
#[derive(Debug, Default)]
pub struct Facts {
    /// `create` returned after this many ops.
    pub created: usize,
    /// Records settled by an acknowledgement (normal or dead-letter) that succeeded.
    pub acked: Vec<(RecordKey, Span)>,
    /// Shard starts moved by a trim (explicit or a receive's span).
    pub trims: Vec<(u32, u64, Span)>,
    /// Deliveries returned: record, receive count, generation.
    pub received: Vec<(RecordKey, u32, u64, Span)>,
    /// Records restored successfully.
    pub restored: Vec<(RecordKey, Span)>,
    /// Attribute updates (the catalog's value from `span.end` on).
    pub configs: Vec<(QueueConfig, Span)>,
    /// The clock at the start of each call.
    pub clock: Vec<(usize, u64)>,
    /// Per shard: the high-watermark, as it grew (op count, value).
    pub hwm: Vec<(usize, [u64; SHARDS as usize])>,
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

/// A failed call: started after `start` ops, never returned.
fn failed(start: usize) -> Span {
    Span { start, end: usize::MAX }
}

/// The seeded workload. `vfs` is what the store uses (the sim itself, or a fault-injecting
/// wrapper of it); `sim` counts the operations.
pub struct Workload {
    pub sim: SimVfs,
    pub vfs: VfsRef,
    pub store: Option<QueueStore>,
    pub facts: Facts,
    rng: Rng,
    now: u64,
    hwm: [u64; SHARDS as usize],
    start: [u64; SHARDS as usize],
    /// Current handles the workload holds (normal and dead-letter), to act on.
    held: Vec<ReceiptHandle>,
    config: QueueConfig,
}

/// The queue directory's parent exists and is durable, as an engine makes it.
pub fn prepared_sim() -> SimVfs {
    let sim = SimVfs::new();
    sim.create_dir_all(Path::new("/data/queues")).unwrap();
    for d in ["/", "/data", "/data/queues"] {
        sim.sync_dir(Path::new(d)).unwrap();
    }
    sim
}

impl Workload {
    pub fn new(sim: SimVfs, vfs: VfsRef, seed: u64) -> Workload {
        Workload {
            sim,
            vfs,
            store: None,
            facts: Facts { created: usize::MAX, ..Facts::default() },
            rng: Rng(seed),
            now: T0,
            hwm: [0; SHARDS as usize],
            start: [0; SHARDS as usize],
            held: Vec::new(),
            config: config(30, 2),
        }
    }

    /// Create the queue.
    pub fn create(&mut self) -> shardlog::Result<()> {
        let spec = QueueSpec { uid: UID, config: self.config, now_ms: T0, start_positions: vec![(0, 0)] };
        self.store = Some(QueueStore::create(DIR, options(self.vfs.clone()), spec)?);
        self.facts.created = self.sim.op_count();
        Ok(())
    }

    fn store(&self) -> shardlog::Result<&QueueStore> {
        self.store.as_ref().ok_or_else(|| shardlog::Error::ResourceNotFound { message: "store not open".into() })
    }

    fn begin(&mut self) -> usize {
        let start = self.sim.op_count();
        self.facts.clock.push((start, self.now));
        start
    }

    fn done(&self, start: usize) -> Span {
        Span { start, end: self.sim.op_count() }
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

    /// Up to `n` held handles of a kind, removed from the held list.
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

    /// Settle facts of a batch: the successful entries, or every entry if the call failed.
    fn settled(
        list: &mut Vec<(RecordKey, Span)>,
        hs: &[ReceiptHandle],
        r: &shardlog::Result<Vec<shardlog::Result<()>>>,
        span: Span,
        start: usize,
    ) {
        match r {
            Ok(res) => list.extend(hs.iter().zip(res).filter(|(_, r)| r.is_ok()).map(|(h, _)| (h.record, span))),
            Err(_) => list.extend(hs.iter().map(|h| (h.record, failed(start)))),
        }
    }

    /// One random call. An error is returned as is (after its facts are recorded).
    pub fn step(&mut self) -> shardlog::Result<()> {
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
                let start = self.begin();
                let r = ReceiveRequest { max_records: max, visibility_timeout_ms: vis, fresh: &spans };
                let out = self.store()?.receive(self.now, &r);
                let span = if out.is_ok() { self.done(start) } else { failed(start) };
                for sp in &spans {
                    self.facts.trims.push((sp.shard, sp.start, span));
                }
                self.record(&out?.deliveries, span);
            }
            26..=37 => {
                let hs = self.pick(2, false);
                let start = self.begin();
                let r = self.store()?.acknowledge(self.now, &hs);
                let span = self.done(start);
                Self::settled(&mut self.facts.acked, &hs, &r, span, start);
                r?;
            }
            38..=43 => {
                let hs = self.pick(3, false);
                let entries: Vec<(ReceiptHandle, u64)> =
                    hs.iter().map(|h| (*h, if self.rng.chance(40) { 0 } else { self.rng.below(80) })).collect();
                self.begin();
                self.held.extend(&hs);
                self.store()?.change_visibility(self.now, &entries)?;
            }
            44..=55 => self.now += self.rng.below(60),
            56..=63 => {
                let max = 1 + self.rng.below(4) as usize;
                let start = self.begin();
                let out = self.store()?.receive_dead_letter(self.now, max, None)?;
                let span = self.done(start);
                self.record(&out.deliveries, span);
            }
            64..=68 => {
                let hs = self.pick(3, true);
                let start = self.begin();
                let r = self.store()?.acknowledge_dead_letter(self.now, &hs);
                let span = self.done(start);
                Self::settled(&mut self.facts.acked, &hs, &r, span, start);
                r?;
            }
            69..=75 => {
                let hs = self.pick(3, true);
                let start = self.begin();
                let r = self.store()?.restore_dead_letter(self.now, &hs);
                let span = self.done(start);
                Self::settled(&mut self.facts.restored, &hs, &r, span, start);
                r?;
            }
            76..=78 => {
                let hs = self.pick(2, true);
                let entries: Vec<(ReceiptHandle, u64)> = hs.iter().map(|h| (*h, self.rng.below(2) * 50)).collect();
                self.begin();
                self.held.extend(&hs);
                self.store()?.change_dead_letter_visibility(self.now, &entries)?;
            }
            79..=82 => {
                let s = self.rng.below(u64::from(SHARDS)) as u32;
                let to = (self.start[s as usize] + 1 + self.rng.below(3)).min(self.hwm[s as usize]);
                self.start[s as usize] = to;
                let start = self.begin();
                let r = self.store()?.trim(self.now, s, to);
                let span = if r.is_ok() { self.done(start) } else { failed(start) };
                self.facts.trims.push((s, to, span));
                r?;
            }
            83..=85 => {
                let cfg = config(10 + self.rng.below(50), 1 + self.rng.below(3) as u32);
                let start = self.begin();
                self.store()?.update_config(self.now, cfg)?;
                self.config = cfg;
                let span = self.done(start);
                self.facts.configs.push((cfg, span));
            }
            86..=88 => {
                self.begin();
                self.store()?.compact()?;
            }
            89..=90 => {
                self.begin();
                self.store()?.close()?;
                self.store = None;
                self.store = Some(QueueStore::open(DIR, options(self.vfs.clone()), UID, self.config, self.now)?);
            }
            _ => {
                self.begin();
                self.store()?.tick(self.now)?;
            }
        }
        Ok(())
    }
}

/// Run `steps` steps of the workload of `seed` on a fresh simulated file system, without
/// faults.
pub fn run_workload(seed: u64, steps: usize) -> (SimVfs, Facts) {
    let sim = prepared_sim();
    let mut w = Workload::new(sim.clone(), sim.shared(), seed);
    w.create().unwrap();
    for _ in 0..steps {
        w.step().unwrap();
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
pub fn check_state(vfs: &SimVfs, n: usize, facts: &Facts) -> Result<(), String> {
    let now = facts.clock_at(n);
    let cfg = facts.config_at(n);
    let opened = QueueStore::open(DIR, options(vfs.shared()), UID, cfg, now);
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
    let again =
        QueueStore::open(DIR, options(vfs.shared()), UID, cfg, t).map_err(|e| format!("reopen after drain: {e}"))?;
    let mut after = again.state_copy();
    let mut before = before;
    before.skip_to_reservation();
    after.skip_to_reservation();
    if after != before {
        return Err("a clean reopen after the drain changed the state".into());
    }
    Ok(())
}
