//! A reference model of one Kinesis queue's delivery state (a plain map of per-record states
//! with the rules of `kinesis-api-2026.md` §2.6 and the decisions of `shardlog::queue`),
//! and a harness that runs the same operations on a real `QueueStore` (over a `SimVfs`) and
//! on the model, comparing every result and the whole state after every step.
//!
//! Shared by `tests/queue_model.rs` (proptest) and the `queue_ops` fuzz target; it uses only
//! `shardlog` and `std`, and refers to nothing else in `checks/`.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use shardlog::io::sim::SimVfs;
use shardlog::io::Vfs;
use shardlog::kinesis::TokenKey;
use shardlog::queue::{
    DeadLetter, Delivery, FreshSpan, Phase, QueueConfig, QueueOptions, QueueSpec, QueueStore, ReceiptHandle,
    ReceiveRequest, RecordKey,
};
use shardlog::{Durability, Error};

/// Shards of the modelled stream.
pub const SHARDS: u32 = 3;
/// The queue's directory in the simulated file system.
pub const DIR: &str = "/data/queues/0000000000000007";
/// The queue's uid.
pub const UID: u64 = 7;
/// Clock at the start.
pub const T0: u64 = 1_700_000_000_000;

/// One step of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QOp {
    /// `n` records are appended to a shard.
    Append { shard: u8, n: u8 },
    /// ReceiveQueueRecords (visibility `None`: the queue's).
    Receive { max: u8, visibility_ms: Option<u16> },
    /// ReceiveDeadLetterQueueRecords.
    ReceiveDeadLetter { max: u8, visibility_ms: Option<u16> },
    /// AcknowledgeQueueRecords.
    Ack(Vec<Pick>),
    /// UpdateQueueRecordsVisibility.
    Visibility(Vec<(Pick, u16)>),
    /// AcknowledgeDeadLetterQueueRecords.
    AckDeadLetter(Vec<Pick>),
    /// UpdateDeadLetterQueueRecordsVisibility.
    DeadLetterVisibility(Vec<(Pick, u16)>),
    /// RestoreDeadLetterQueueRecords.
    Restore(Vec<Pick>),
    /// The clock moves forward.
    Advance { ms: u16 },
    /// `tick`.
    Tick,
    /// Retention moves a shard's start up by `by` (at most to its high-watermark); `quiet`
    /// leaves it to the next receive's span instead of calling `trim`.
    Trim { shard: u8, by: u8, quiet: bool },
    /// UpdateQueue (`max_receive_count` 0 = dead-lettering off).
    Config { visibility_ms: u16, max_receive_count: u8 },
    /// A shard leaves the catalog.
    Forget { shard: u8 },
    /// The shard log lost its last `n` records in a crash (never below its start); the queue
    /// is rewound to its new high-watermark.
    LoseTail { shard: u8, n: u8 },
    /// `compact`.
    Compact,
    /// Clean close and reopen.
    Reopen,
    /// Power cut (`Sync`: only synced data survives) or process crash (other modes: every
    /// write survives), then reopen.
    Crash,
}

/// Which handle an entry of a batch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The i-th most recently issued handle (modulo their number).
    Issued(u16),
    /// The (i + n)-th most recently issued handle of the kind (normal or dead-letter) the
    /// operation takes, where n is the entry's position in its batch (so a batch of these
    /// names different deliveries).
    IssuedKind(u16),
    /// Text that is no handle.
    Garbage(u8),
    /// A validly sealed handle of another queue.
    Foreign(u16),
    /// An issued handle with one character changed.
    Mangled(u16),
    /// The same handle as the entry before.
    Repeat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MPhase {
    InFlight(u64),
    Visible,
    DlVisible,
    DlInFlight(u64),
}

#[derive(Debug, Clone)]
struct MRec {
    phase: MPhase,
    count: u32,
    first: u64,
    /// The handle of the latest delivery, and whether a dead-letter receive issued it.
    handle: String,
    handle_dl: bool,
}

/// The reference model.
#[derive(Debug, Clone)]
struct Model {
    visibility: u64,
    max_rc: Option<u32>,
    clock: u64,
    max_in_flight: usize,
    hwm: Vec<u64>,
    start: Vec<u64>,
    gone: Vec<bool>,
    cursor: BTreeMap<u32, u64>,
    recs: BTreeMap<RecordKey, MRec>,
    /// Every handle text ever issued: its record and kind.
    issued: HashMap<String, (RecordKey, bool)>,
}

/// What an entry of a batch should get: `Ok`, or the error code.
type Expect = Result<(), &'static str>;
const IAE: &str = "InvalidArgumentException";
const RNF: &str = "ResourceNotFoundException";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Batch {
    Ack,
    Visibility,
    AckDl,
    DlVisibility,
    Restore,
}

impl Batch {
    fn dl(self) -> bool {
        matches!(self, Batch::AckDl | Batch::DlVisibility | Batch::Restore)
    }
}

impl Model {
    fn expire(&mut self, now: u64) -> u64 {
        self.clock = self.clock.max(now);
        let clock = self.clock;
        for r in self.recs.values_mut() {
            match r.phase {
                MPhase::InFlight(d) if d <= clock => {
                    r.phase =
                        if self.max_rc.is_some_and(|m| r.count >= m) { MPhase::DlVisible } else { MPhase::Visible };
                }
                MPhase::DlInFlight(d) if d <= clock => r.phase = MPhase::DlVisible,
                _ => {}
            }
        }
        clock
    }

    fn in_flight(&self) -> usize {
        self.recs.values().filter(|r| matches!(r.phase, MPhase::InFlight(_) | MPhase::DlInFlight(_))).count()
    }

    fn keys_in(&self, phase: fn(&MPhase) -> bool) -> Vec<RecordKey> {
        self.recs.iter().filter(|(_, r)| phase(&r.phase)).map(|(k, _)| *k).collect()
    }

    fn spans(&self) -> Vec<FreshSpan> {
        (0..SHARDS)
            .filter(|&s| !self.gone[s as usize])
            .map(|s| FreshSpan { shard: s, start: self.start[s as usize], end: self.hwm[s as usize] })
            .collect()
    }

    fn trim(&mut self, shard: u32, start: u64) {
        match self.cursor.get_mut(&shard) {
            None => {
                self.cursor.insert(shard, start);
            }
            Some(c) => {
                *c = (*c).max(start);
                self.recs.retain(|k, _| k.shard != shard || k.offset >= start);
            }
        }
    }

    /// A normal receive: the expected deliveries (record, count, first, deadline) and
    /// `limited`.
    fn receive(&mut self, now: u64, max: usize, visibility: u64) -> (Vec<(RecordKey, u32, u64, u64)>, bool) {
        let now = self.expire(now);
        let spans = self.spans();
        for span in &spans {
            self.trim(span.shard, span.start);
        }
        let room = self.max_in_flight.saturating_sub(self.in_flight());
        let budget = max.min(room);
        let mut picks: Vec<RecordKey> =
            self.keys_in(|p| *p == MPhase::Visible).into_iter().take(budget).collect::<Vec<_>>();
        let mut available = self.keys_in(|p| *p == MPhase::Visible).len();
        for span in &spans {
            let cursor = self.cursor[&span.shard];
            available += span.end.saturating_sub(cursor) as usize;
            let left = budget - picks.len();
            let end = span.end.min(cursor + left as u64);
            picks.extend((cursor..end.max(cursor)).map(|o| RecordKey::new(span.shard, o)));
        }
        picks.sort();
        let limited = room < max && picks.len() < max && picks.len() < available;
        let deadline = now + visibility;
        let mut out = Vec::new();
        for k in picks {
            let cursor = self.cursor.get_mut(&k.shard).expect("registered shard");
            if k.offset >= *cursor {
                *cursor += 1;
                let fresh = MRec {
                    phase: MPhase::InFlight(deadline),
                    count: 1,
                    first: now,
                    handle: String::new(),
                    handle_dl: false,
                };
                self.recs.insert(k, fresh);
            } else {
                let r = self.recs.get_mut(&k).expect("visible record");
                r.count = r.count.saturating_add(1);
                r.phase = MPhase::InFlight(deadline);
            }
            let r = &self.recs[&k];
            out.push((k, r.count, r.first, deadline));
        }
        self.expire(now);
        (out, limited)
    }

    fn receive_dl(&mut self, now: u64, max: usize, visibility: u64) -> (Vec<(RecordKey, u32, u64, u64)>, bool) {
        let now = self.expire(now);
        let room = self.max_in_flight.saturating_sub(self.in_flight());
        let visible = self.keys_in(|p| *p == MPhase::DlVisible);
        let picks: Vec<RecordKey> = visible.iter().copied().take(max.min(room)).collect();
        let limited = room < max && picks.len() < max && picks.len() < visible.len();
        let deadline = now + visibility;
        let out = picks
            .into_iter()
            .map(|k| {
                let r = self.recs.get_mut(&k).expect("dead-letter record");
                r.phase = MPhase::DlInFlight(deadline);
                (k, r.count, r.first, deadline)
            })
            .collect();
        self.expire(now);
        (out, limited)
    }

    /// Record the handle a delivery got.
    fn issue(&mut self, key: RecordKey, text: &str, dl: bool) {
        let r = self.recs.get_mut(&key).expect("delivered record");
        r.handle = text.to_string();
        r.handle_dl = dl;
        self.issued.insert(text.to_string(), (key, dl));
    }

    fn batch(&mut self, now: u64, op: Batch, entries: &[(String, u64)]) -> Vec<Expect> {
        let now = self.expire(now);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (text, timeout) in entries {
            let Some(&(key, dl)) = self.issued.get(text) else {
                out.push(Err(IAE));
                continue;
            };
            if dl != op.dl() || !seen.insert(text.clone()) {
                out.push(Err(IAE));
                continue;
            }
            let Some(r) = self.recs.get_mut(&key) else {
                out.push(Err(RNF));
                continue;
            };
            if r.handle != *text {
                out.push(Err(RNF));
                continue;
            }
            let ok = matches!(
                (op, r.phase),
                (Batch::Ack, MPhase::InFlight(_) | MPhase::Visible | MPhase::DlVisible)
                    | (Batch::Visibility, MPhase::InFlight(_))
                    | (Batch::AckDl | Batch::Restore, MPhase::DlInFlight(_) | MPhase::DlVisible)
                    | (Batch::DlVisibility, MPhase::DlInFlight(_))
            );
            if !ok {
                out.push(Err(RNF));
                continue;
            }
            match op {
                Batch::Ack | Batch::AckDl => {
                    self.recs.remove(&key);
                }
                Batch::Visibility => r.phase = MPhase::InFlight(now + timeout),
                Batch::DlVisibility => r.phase = MPhase::DlInFlight(now + timeout),
                Batch::Restore => {
                    r.phase = MPhase::Visible;
                    r.count = 0;
                }
            }
            out.push(Ok(()));
        }
        self.expire(now);
        out
    }

    fn config(&mut self, now: u64, visibility: u64, max_rc: Option<u32>) {
        self.expire(now);
        self.visibility = visibility;
        self.max_rc = max_rc;
        if let Some(m) = max_rc {
            for r in self.recs.values_mut() {
                if r.phase == MPhase::Visible && r.count >= m {
                    r.phase = MPhase::DlVisible;
                }
            }
        }
    }

    fn queue_config(&self) -> QueueConfig {
        QueueConfig {
            visibility_timeout_ms: self.visibility,
            dead_letter: self.max_rc.map_or(DeadLetter::Off, |m| DeadLetter::BuiltIn { max_receive_count: m }),
        }
    }
}

/// How a workload runs.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// The store's durability mode.
    pub durability: Durability,
    /// The in-flight limit.
    pub max_in_flight: u32,
    /// The compaction threshold (small, so compactions happen).
    pub compact_min_bytes: u64,
    /// MaxReceiveCount at creation (0 = off).
    pub max_receive_count: u8,
    /// Records per shard before the queue is created, and where each shard starts.
    pub initial: [u8; 3],
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            durability: Durability::Sync,
            max_in_flight: 6,
            compact_min_bytes: 300,
            max_receive_count: 2,
            initial: [2, 0, 5],
        }
    }
}

/// How often each interesting outcome happened (to check that workloads reach them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Records delivered by normal receives.
    pub delivered: usize,
    /// Records delivered by dead-letter receives.
    pub dead_letter_delivered: usize,
    /// Receives cut short by the in-flight limit.
    pub limited: usize,
    /// Batch entries that succeeded, per batch kind (ack, visibility, dl ack, dl visibility, restore).
    pub succeeded: [usize; 5],
    /// Batch entries refused as InvalidArgument / ResourceNotFound.
    pub invalid: usize,
    /// See above.
    pub not_found: usize,
    /// Compactions the store ran.
    pub compactions: u64,
    /// Reopens after a crash.
    pub crashes: usize,
}

impl Coverage {
    /// Add another run's counts.
    pub fn add(&mut self, c: &Coverage) {
        self.delivered += c.delivered;
        self.dead_letter_delivered += c.dead_letter_delivered;
        self.limited += c.limited;
        for (a, b) in self.succeeded.iter_mut().zip(c.succeeded) {
            *a += b;
        }
        self.invalid += c.invalid;
        self.not_found += c.not_found;
        self.compactions += c.compactions;
        self.crashes += c.crashes;
    }
}

/// Runs a workload on a store and the model side by side.
pub struct Harness {
    /// What the workload reached so far.
    pub coverage: Coverage,
    sim: SimVfs,
    setup: Setup,
    key: TokenKey,
    store: Option<QueueStore>,
    model: Model,
    /// Every handle issued, in order (for picks), and those of each kind (normal, dead-letter).
    handles: Vec<String>,
    by_kind: [Vec<String>; 2],
    step: usize,
}

fn options(sim: &SimVfs, setup: &Setup, key: &TokenKey) -> QueueOptions {
    let mut o = QueueOptions::new(setup.durability, key.clone()).with_vfs(sim.shared());
    o.max_in_flight = setup.max_in_flight;
    o.compact_min_bytes = setup.compact_min_bytes;
    o
}

fn code(r: &Result<(), Error>) -> Expect {
    match r {
        Ok(()) => Ok(()),
        Err(e) => match e.kinesis_error_code() {
            "InvalidArgumentException" => Err(IAE),
            "ResourceNotFoundException" => Err(RNF),
            _ => Err("other"),
        },
    }
}

impl Harness {
    /// A fresh queue: shard `s` holds `initial[s]` records and the queue starts at the
    /// middle of each (a mix of TRIM_HORIZON and LATEST).
    pub fn new(setup: Setup) -> Result<Harness, String> {
        let sim = SimVfs::new();
        // The parent exists and is durable before the queue is created, as an engine makes it.
        sim.create_dir_all(Path::new("/data/queues")).map_err(|e| e.to_string())?;
        for dir in ["/", "/data", "/data/queues"] {
            sim.sync_dir(Path::new(dir)).map_err(|e| e.to_string())?;
        }
        let key = TokenKey::from_bytes([5; 32]);
        let max_rc = (setup.max_receive_count > 0).then_some(u32::from(setup.max_receive_count));
        let mut model = Model {
            visibility: 40,
            max_rc,
            clock: T0,
            max_in_flight: setup.max_in_flight as usize,
            hwm: setup.initial.iter().map(|&n| u64::from(n)).collect(),
            start: vec![0; SHARDS as usize],
            gone: vec![false; SHARDS as usize],
            cursor: BTreeMap::new(),
            recs: BTreeMap::new(),
            issued: HashMap::new(),
        };
        let start_positions: Vec<(u32, u64)> = (0..SHARDS).map(|s| (s, model.hwm[s as usize] / 2)).collect();
        for &(s, p) in &start_positions {
            model.cursor.insert(s, p);
        }
        let spec = QueueSpec { uid: UID, config: model.queue_config(), now_ms: T0, start_positions };
        let store = QueueStore::create(DIR, options(&sim, &setup, &key), spec).map_err(|e| format!("create: {e}"))?;
        let h = Harness {
            coverage: Coverage::default(),
            sim,
            setup,
            key,
            store: Some(store),
            model,
            handles: Vec::new(),
            by_kind: [Vec::new(), Vec::new()],
            step: 0,
        };
        h.compare("create")?;
        Ok(h)
    }

    fn store(&self) -> &QueueStore {
        self.store.as_ref().expect("store open")
    }

    fn text(&self, pick: Pick, previous: Option<&String>, dl: bool, position: usize) -> String {
        let recent = |list: &Vec<String>, i: u16| {
            let n = list.len();
            n.checked_sub(1 + i as usize % n.max(1)).and_then(|at| list.get(at)).cloned()
        };
        let issued = |i: u16| recent(&self.handles, i);
        match pick {
            Pick::Issued(i) => issued(i).unwrap_or_else(|| "no-handle-yet".into()),
            Pick::IssuedKind(i) => recent(&self.by_kind[usize::from(dl)], i.wrapping_add(position as u16))
                .unwrap_or_else(|| "no-handle-yet".into()),
            Pick::Garbage(n) => "A".repeat(n as usize % 90),
            Pick::Foreign(i) => {
                let h = ReceiptHandle {
                    queue_uid: UID + 1,
                    record: RecordKey::new(u32::from(i) % SHARDS, u64::from(i) % 5),
                    generation: u64::from(i),
                    dead_letter: i % 2 == 0,
                };
                h.encode(&self.key)
            }
            Pick::Mangled(i) => {
                let mut t = issued(i).unwrap_or_default().into_bytes();
                if let Some(b) = t.get_mut(i as usize % 70 + 3) {
                    *b = if *b == b'A' { b'B' } else { b'A' };
                }
                String::from_utf8(t).unwrap_or_default()
            }
            Pick::Repeat => previous.cloned().unwrap_or_default(),
        }
    }

    /// Run one step and compare.
    pub fn step(&mut self, op: &QOp) -> Result<(), String> {
        self.step += 1;
        let label = format!("step {} {op:?}", self.step);
        self.apply(op).map_err(|e| format!("{label}: {e}"))?;
        self.compare(&label)
    }

    fn apply(&mut self, op: &QOp) -> Result<(), String> {
        let now = self.model.clock;
        match op {
            QOp::Append { shard, n } => {
                let s = u32::from(*shard) % SHARDS;
                if !self.model.gone[s as usize] {
                    self.model.hwm[s as usize] += u64::from(*n % 8);
                }
            }
            QOp::Receive { max, visibility_ms } => {
                let spans = self.model.spans();
                let vis = visibility_ms.map(u64::from);
                let request =
                    ReceiveRequest { max_records: usize::from(*max % 12), visibility_timeout_ms: vis, fresh: &spans };
                let got = self.store().receive(now, &request).map_err(|e| format!("receive: {e}"))?;
                let (want, limited) =
                    self.model.receive(now, usize::from(*max % 12), vis.unwrap_or(self.model.visibility));
                self.check_deliveries(&got.deliveries, &want, false)?;
                self.coverage.delivered += want.len();
                self.coverage.limited += usize::from(limited);
                if got.limited != limited {
                    return Err(format!("limited {} expected {limited}", got.limited));
                }
            }
            QOp::ReceiveDeadLetter { max, visibility_ms } => {
                let vis = visibility_ms.map(u64::from);
                let got = self
                    .store()
                    .receive_dead_letter(now, usize::from(*max % 12), vis)
                    .map_err(|e| format!("receive: {e}"))?;
                let (want, limited) =
                    self.model.receive_dl(now, usize::from(*max % 12), vis.unwrap_or(self.model.visibility));
                self.check_deliveries(&got.deliveries, &want, true)?;
                self.coverage.dead_letter_delivered += want.len();
                self.coverage.limited += usize::from(limited);
                if got.limited != limited {
                    return Err(format!("limited {} expected {limited}", got.limited));
                }
            }
            QOp::Ack(p) => self.batch(now, Batch::Ack, &p.iter().map(|&p| (p, 0)).collect::<Vec<_>>())?,
            QOp::Visibility(p) => self.batch(now, Batch::Visibility, p)?,
            QOp::AckDeadLetter(p) => self.batch(now, Batch::AckDl, &p.iter().map(|&p| (p, 0)).collect::<Vec<_>>())?,
            QOp::DeadLetterVisibility(p) => self.batch(now, Batch::DlVisibility, p)?,
            QOp::Restore(p) => self.batch(now, Batch::Restore, &p.iter().map(|&p| (p, 0)).collect::<Vec<_>>())?,
            QOp::Advance { ms } => self.model.clock += u64::from(*ms),
            QOp::Tick => {
                let next = self.store().tick(now).map_err(|e| format!("tick: {e}"))?;
                self.model.expire(now);
                let want = self
                    .model
                    .recs
                    .values()
                    .filter_map(|r| match r.phase {
                        MPhase::InFlight(d) | MPhase::DlInFlight(d) => Some(d),
                        _ => None,
                    })
                    .min();
                if next != want {
                    return Err(format!("next deadline {next:?}, expected {want:?}"));
                }
            }
            QOp::Trim { shard, by, quiet } => {
                let s = u32::from(*shard) % SHARDS;
                let i = s as usize;
                if self.model.gone[i] {
                    return Ok(());
                }
                self.model.start[i] = (self.model.start[i] + u64::from(*by % 6)).min(self.model.hwm[i]);
                if !quiet {
                    self.store().trim(now, s, self.model.start[i]).map_err(|e| format!("trim: {e}"))?;
                    self.model.expire(now);
                    self.model.trim(s, self.model.start[i]);
                }
            }
            QOp::Config { visibility_ms, max_receive_count } => {
                let max_rc = (*max_receive_count % 5 > 0).then_some(u32::from(*max_receive_count % 5));
                self.model.config(now, u64::from(*visibility_ms), max_rc);
                self.store().update_config(now, self.model.queue_config()).map_err(|e| format!("update: {e}"))?;
            }
            QOp::Forget { shard } => {
                let s = u32::from(*shard) % SHARDS;
                self.store().forget_shard(now, s).map_err(|e| format!("forget: {e}"))?;
                self.model.expire(now);
                self.model.gone[s as usize] = true;
                self.model.cursor.remove(&s);
                self.model.recs.retain(|k, _| k.shard != s);
            }
            QOp::LoseTail { shard, n } => {
                let s = u32::from(*shard) % SHARDS;
                let i = s as usize;
                if self.model.gone[i] {
                    return Ok(());
                }
                let end = self.model.hwm[i].saturating_sub(u64::from(*n % 4)).max(self.model.start[i]);
                self.model.hwm[i] = end;
                self.store().rewind_shard(now, s, end).map_err(|e| format!("rewind: {e}"))?;
                self.model.expire(now);
                if let Some(c) = self.model.cursor.get_mut(&s) {
                    *c = (*c).min(end);
                }
                self.model.recs.retain(|k, _| k.shard != s || k.offset < end);
            }
            QOp::Compact => self.store().compact().map_err(|e| format!("compact: {e}"))?,
            QOp::Reopen => {
                self.coverage.compactions += self.store().stats().compactions;
                self.store().close().map_err(|e| format!("close: {e}"))?;
                self.store = None;
                self.reopen(self.sim.clone())?;
            }
            QOp::Crash => {
                self.coverage.crashes += 1;
                self.coverage.compactions += self.store().stats().compactions;
                let sim = match self.setup.durability {
                    Durability::Sync => self.sim.power_cut(),
                    _ => self.sim.crash_at(self.sim.op_count(), shardlog::io::sim::TailMode::Whole),
                };
                self.store = None;
                self.sim = sim.clone();
                self.reopen(sim)?;
            }
        }
        Ok(())
    }

    fn reopen(&mut self, sim: SimVfs) -> Result<(), String> {
        let opts = options(&sim, &self.setup, &self.key);
        let store = QueueStore::open(DIR, opts, UID, self.model.queue_config(), self.model.clock)
            .map_err(|e| format!("reopen: {e}"))?;
        self.store = Some(store);
        self.model.expire(self.model.clock);
        Ok(())
    }

    fn check_deliveries(
        &mut self,
        got: &[Delivery],
        want: &[(RecordKey, u32, u64, u64)],
        dl: bool,
    ) -> Result<(), String> {
        let got_view: Vec<(RecordKey, u32, u64, u64)> =
            got.iter().map(|d| (d.handle.record, d.receive_count, d.first_receive_ms, d.deadline_ms)).collect();
        if got_view != want {
            return Err(format!("delivered {got_view:?}\n expected {want:?}"));
        }
        for d in got {
            if d.handle.queue_uid != UID || d.handle.dead_letter != dl {
                return Err(format!("handle {:?} has the wrong queue or kind", d.handle));
            }
            let text = self.store().encode_handle(&d.handle);
            if self.model.issued.contains_key(&text) {
                return Err(format!("handle {:?} was issued before", d.handle));
            }
            self.model.issue(d.handle.record, &text, dl);
            self.by_kind[usize::from(dl)].push(text.clone());
            self.handles.push(text);
        }
        Ok(())
    }

    fn batch(&mut self, now: u64, op: Batch, picks: &[(Pick, u16)]) -> Result<(), String> {
        let mut entries: Vec<(String, u64)> = Vec::new();
        for &(pick, timeout) in picks {
            let text = self.text(pick, entries.last().map(|(t, _)| t), op.dl(), entries.len());
            entries.push((text, u64::from(timeout % 120)));
        }
        let store = self.store().clone();
        let got = match op {
            Batch::Ack => store.acknowledge(now, &entries.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>()),
            Batch::AckDl => {
                store.acknowledge_dead_letter(now, &entries.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>())
            }
            Batch::Restore => {
                store.restore_dead_letter(now, &entries.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>())
            }
            Batch::Visibility => store.change_visibility(now, &entries),
            Batch::DlVisibility => store.change_dead_letter_visibility(now, &entries),
        }
        .map_err(|e| format!("{op:?}: {e}"))?;
        let want = self.model.batch(now, op, &entries);
        let got: Vec<Expect> = got.iter().map(code).collect();
        for r in &want {
            match r {
                Ok(()) => self.coverage.succeeded[op as usize] += 1,
                Err(c) if *c == IAE => self.coverage.invalid += 1,
                Err(_) => self.coverage.not_found += 1,
            }
        }
        if got != want {
            return Err(format!("{op:?} results {got:?}\n expected {want:?}"));
        }
        Ok(())
    }

    /// The whole state of the store against the model.
    fn compare(&self, label: &str) -> Result<(), String> {
        let state = self.store().state_copy();
        state.check_invariants().map_err(|e| format!("{label}: invariant broken: {e}"))?;
        let m = &self.model;
        let fail = |what: String| Err(format!("{label}: {what}"));
        let shards: Vec<(u32, u64)> = state.shards().iter().map(|(&i, s)| (i, s.cursor())).collect();
        let want: Vec<(u32, u64)> = m.cursor.iter().map(|(&i, &c)| (i, c)).collect();
        if shards != want {
            return fail(format!("cursors {shards:?}, expected {want:?}"));
        }
        if state.config() != m.queue_config() {
            return fail(format!("config {:?}, expected {:?}", state.config(), m.queue_config()));
        }
        if state.entry_count() != m.recs.len() {
            return fail(format!("{} pending records, expected {}", state.entry_count(), m.recs.len()));
        }
        for (k, r) in &m.recs {
            let Some(e) = state.entry(*k) else { return fail(format!("{k:?} missing (expected {r:?})")) };
            let phase = match (e.phase, e.deadline_ms) {
                (Phase::InFlight, d) => MPhase::InFlight(d),
                (Phase::Visible, _) => MPhase::Visible,
                (Phase::DeadLetterVisible, _) => MPhase::DlVisible,
                (Phase::DeadLetterInFlight, d) => MPhase::DlInFlight(d),
            };
            if (phase, e.receive_count, e.first_receive_ms) != (r.phase, r.count, r.first) {
                return fail(format!("{k:?} is {e:?}, expected {r:?}"));
            }
        }
        let counts = state.counts();
        let n = |p: fn(&MPhase) -> bool| m.recs.values().filter(|r| p(&r.phase)).count();
        let want = (
            n(|p| matches!(p, MPhase::InFlight(_))),
            n(|p| *p == MPhase::Visible),
            n(|p| *p == MPhase::DlVisible),
            n(|p| matches!(p, MPhase::DlInFlight(_))),
        );
        let got =
            (counts.in_flight, counts.visible_redeliveries, counts.dead_letter_visible, counts.dead_letter_in_flight);
        if got != want {
            return fail(format!("counts {got:?}, expected {want:?}"));
        }
        Ok(())
    }
}

/// Run a whole workload; `Err` describes the first divergence.
pub fn run(setup: Setup, ops: &[QOp]) -> Result<Coverage, String> {
    let mut h = Harness::new(setup)?;
    for op in ops {
        h.step(op)?;
    }
    // The end state survives a clean close and reopen exactly.
    h.step(&QOp::Reopen)?;
    Ok(h.coverage)
}
