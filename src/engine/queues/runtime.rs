//! A queue at run time: its [`QueueStore`] (the durable delivery state), its long-poll
//! [`PollGate`] and its counters; and how the engine opens, recovers and drops them.
//!
//! Files: `<root>/queues/<uid:016x>/` per queue (`docs/format.md`, "Queue state directory").
//! At engine open every live catalog queue's store is opened; directories the catalog does
//! not know (a crash between a store's creation and the catalog commit, or between a
//! delete's commit and the removal) are removed. Then, still inside the open — before any
//! append can reuse an offset — every queue's shards are reconciled with the shard logs
//! ([`QueueRuntime::recover`]): a shard log that came back from a crash below the queue's
//! cursor (a durability mode weaker than `Sync` lost its tail) is rewound in the queue, so
//! the offsets it will reuse are delivered as the new records they will be; shards gone from
//! the catalog are dropped. (Reconciling lazily, at the queue's first operation, was wrong:
//! records put to the stream before it refilled the lost offsets, the log's high-watermark
//! reached the queue's cursor again, and the queue took the new records for ones it had
//! already settled — the engine simulation's seed 3 found it.)

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;

use super::poll::{GateWaker, PollGate};
use crate::engine::{EngineInner, StreamHandle};
use crate::error::{Error, Result};
use crate::log::queue::{QueueOptions, QueueStore};

/// Directory holding every queue's state.
pub(crate) const QUEUES_DIR: &str = "queues";

/// Run-time counters of a queue (the CloudWatch-named metrics; not persisted).
#[derive(Debug, Default)]
pub struct QueueActivity {
    /// `ReceivedQueueRecords`: records handed out by receives (normal and dead-letter).
    pub received: AtomicU64,
    /// `AcknowledgedQueueRecords`: records acknowledged (normal and dead-letter).
    pub acknowledged: AtomicU64,
    /// `EmptyReceives`: receives that returned no record.
    pub empty_receives: AtomicU64,
}

/// One open queue.
pub(crate) struct QueueRuntime {
    pub(crate) uid: u64,
    pub(crate) stream_uid: u64,
    pub(crate) store: QueueStore,
    pub(crate) gate: Arc<PollGate>,
    /// Wakes `gate`; registered with shard notifiers and the engine timer.
    pub(crate) waker: Waker,
    pub(crate) activity: QueueActivity,
    /// Rotates which open shard fresh records are taken from first.
    pub(crate) rotation: AtomicUsize,
}

impl QueueRuntime {
    pub(crate) fn new(uid: u64, stream_uid: u64, store: QueueStore) -> Arc<QueueRuntime> {
        let gate = Arc::new(PollGate::default());
        let waker = Waker::from(Arc::new(GateWaker(Arc::downgrade(&gate))));
        Arc::new(QueueRuntime {
            uid,
            stream_uid,
            store,
            gate,
            waker,
            activity: QueueActivity::default(),
            rotation: AtomicUsize::new(0),
        })
    }

    /// Reconcile the queue's shards with the shard logs, inside the engine's open before any
    /// append (see the module docs).
    fn recover(&self, inner: &EngineInner, h: &StreamHandle) -> Result<()> {
        let now = inner.queue_now();
        let topo = h.topo.read();
        for (shard, progress) in self.store.shard_progress() {
            match topo.position(shard).and_then(|p| topo.slots.get(p)) {
                None => self.store.forget_shard(now, shard)?,
                Some(slot) => {
                    let hw = inner.existing_log(slot)?.map_or(0, |l| l.high_watermark());
                    if hw < progress.cursor {
                        self.store.rewind_shard(now, shard, hw)?;
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn count_received(&self, n: usize) {
        self.activity.received.fetch_add(n as u64, Ordering::Relaxed);
        if n == 0 {
            self.activity.empty_receives.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl EngineInner {
    /// The engine clock for queue stores (ms, never negative).
    pub(crate) fn queue_now(&self) -> u64 {
        u64::try_from(self.now_ms()).unwrap_or(0)
    }

    pub(crate) fn queue_dir(&self, uid: u64) -> PathBuf {
        self.root.join(QUEUES_DIR).join(format!("{uid:016x}"))
    }

    pub(crate) fn queue_options(&self) -> QueueOptions {
        QueueOptions {
            vfs: Arc::clone(&self.config.vfs),
            durability: self.config.durability,
            sync_group: Arc::clone(&self.sync_group),
            key: self.token_key.clone(),
            max_in_flight: self.config.queue_max_in_flight,
            compact_min_bytes: crate::log::queue::config::DEFAULT_COMPACT_MIN_BYTES,
        }
    }

    /// Open every live catalog queue's store and remove queue directories the catalog does
    /// not know (engine open).
    pub(crate) fn open_queues(&self) -> Result<()> {
        let vfs = &self.config.vfs;
        let dir = self.root.join(QUEUES_DIR);
        crate::io::create_dir_all_durable(vfs.as_ref(), &dir)?;
        let live: Vec<crate::catalog::QueueMeta> = {
            let cat = self.catalog.lock();
            cat.catalog.queues.values().filter(|q| q.deleting_since_ms.is_none()).cloned().collect()
        };
        let entries = vfs.read_dir(&dir).map_err(|e| Error::io("read_dir", &dir, e))?;
        let mut removed = false;
        for e in entries {
            let known = u64::from_str_radix(&e.name, 16)
                .ok()
                .filter(|uid| e.is_dir && e.name.len() == 16 && live.iter().any(|q| q.uid == *uid));
            if known.is_none() {
                let path = dir.join(&e.name);
                let r = if e.is_dir { vfs.remove_dir_all(&path) } else { vfs.remove_file(&path) };
                r.map_err(|err| Error::io("remove", &path, err))?;
                removed = true;
            }
        }
        if removed {
            vfs.sync_dir(&dir).map_err(|e| Error::io("directory fsync", &dir, e))?;
        }
        let now = self.queue_now();
        let mut opened = Vec::with_capacity(live.len());
        for q in live {
            let store = QueueStore::open(self.queue_dir(q.uid), self.queue_options(), q.uid, q.config, now)?;
            opened.push(QueueRuntime::new(q.uid, q.stream_uid, store));
        }
        // Reconcile with the shard logs now, before any append (module docs).
        for rt in &opened {
            let stream = self.streams.read().by_uid.get(&rt.stream_uid).cloned();
            debug_assert!(stream.is_some(), "a live queue's stream is in the catalog");
            if let Some(h) = stream {
                rt.recover(self, &h)?;
            }
        }
        self.queues.write().extend(opened.into_iter().map(|rt| (rt.uid, rt)));
        Ok(())
    }

    /// Every open queue reading stream `stream_uid`.
    pub(crate) fn queues_of(&self, stream_uid: u64) -> Vec<Arc<QueueRuntime>> {
        self.queues.read().values().filter(|q| q.stream_uid == stream_uid).cloned().collect()
    }

    /// Wake every long poll (a moved manual clock, shutdown).
    pub(crate) fn wake_queue_pollers(&self) {
        let all: Vec<Arc<QueueRuntime>> = self.queues.read().values().cloned().collect();
        for q in all {
            q.gate.wake();
        }
    }

    /// Retention moved (or removed) shards of `h`: drop what the queues hold of trimmed
    /// records, and the state of shards gone from the catalog.
    pub(crate) fn trim_queues(&self, h: &StreamHandle) -> Result<()> {
        let queues = self.queues_of(h.uid);
        if queues.is_empty() {
            return Ok(());
        }
        let now = self.queue_now();
        let starts: Vec<(u32, u64)> = {
            let topo = h.topo.read();
            let mut v = Vec::with_capacity(topo.slots.len());
            for slot in &topo.slots {
                if let Some(log) = self.existing_log(slot)? {
                    v.push((slot.index, log.start_offset()));
                } else {
                    v.push((slot.index, 0));
                }
            }
            v
        };
        for q in queues {
            for (shard, _) in q.store.shard_progress() {
                match starts.iter().find(|(i, _)| *i == shard) {
                    Some(&(_, start)) => q.store.trim(now, shard, start)?,
                    None => q.store.forget_shard(now, shard)?,
                }
            }
        }
        Ok(())
    }

    /// Flush every queue store.
    pub(crate) fn flush_queues(&self) -> Result<()> {
        let all: Vec<Arc<QueueRuntime>> = self.queues.read().values().cloned().collect();
        for q in all {
            q.store.flush()?;
        }
        Ok(())
    }

    /// Close every queue store (engine close); long polls end.
    pub(crate) fn close_queues(&self) -> Result<()> {
        let all: Vec<Arc<QueueRuntime>> = self.queues.read().values().cloned().collect();
        let mut first = None;
        for q in all {
            if let Err(e) = q.store.close() {
                first.get_or_insert(e);
            }
            q.gate.wake();
        }
        first.map_or(Ok(()), Err)
    }
}
