//! The mappings of one server: their definitions (persisted in the [`Store`] at every
//! change), their state machine, and the poller that runs each enabled one — an
//! [`EventSourceMapping`](shardlog::event_source::EventSourceMapping) (the library's
//! driver) on a thread of its own, or, in manual mode, stepped by the caller.
//!
//! # States
//! - Create answers `Creating` and Update `Enabling` when they start a poller: the poller is
//!   running (state `Enabled`) by the time the answer is sent.
//! - Disabling, an update of a running mapping, and deleting answer `Disabling`, `Updating`
//!   and `Deleting`, and stay in that state until the running poller has finished its
//!   current step (an invocation in flight completes); then the mapping is `Disabled`, runs
//!   with its new configuration (`Enabled`), or is gone with its checkpoints. While a mapping
//!   is in such a state, Update and Delete answer `ResourceInUseException`.
//! - A restart resumes every enabled mapping from its checkpoints (at least once: a batch
//!   invoked but not checkpointed is invoked again); a change interrupted by a crash is
//!   completed (`Updating` runs the new configuration, `Deleting` finishes the deletion).
//! - A stream that is deleted (or deleted and created again under the same ARN) disables its
//!   mappings, as Lambda does: `State` `Disabled`, `StateTransitionReason` and
//!   `LastProcessingResult` say why, `Enabled` must be set again to resume (on the new
//!   stream, from the starting position).
//!
//! # Shutdown
//! Every invocation in flight is abandoned as not invoked (retried after the next start,
//! without counting as a retry), every poller finishes its step (writing its checkpoints)
//! and is joined, changes waiting for a poller finish, and the definitions are stored; no
//! poller starts after that.
//!
//! # Locking
//! One mutex guards the definitions; it is never held while a poller is joined (pollers take
//! it to report a deleted stream). Each poller start bumps the mapping's generation, so a
//! late report from a replaced poller is ignored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use shardlog::engine::StreamRef;
use shardlog::event_source::StepReport;
use shardlog::{Engine, Error};

use super::api::{ListQuery, Members};
use super::destination::Destinations;
use super::errors::LambdaError;
use super::invoke::Functions;
use super::model::{EventSource, FunctionRef, MappingDef, State, NO_RECORDS_PROCESSED, USER_ACTION};
use super::poller::{self, BuildCtx, Poller, Stepped, StopSignal};
use super::status::{Counters, Live};
use super::store::{Snapshot, Store};
use crate::outbound::Abort;

/// Most mappings one server runs (each enabled one has a thread).
pub const MAX_MAPPINGS: usize = 1_000;
/// Most mappings in one ListEventSourceMappings page.
const PAGE: usize = 100;
/// `LastProcessingResult` once the stream is gone.
const STREAM_NOT_FOUND: &str = "PROBLEM: Stream not found";

/// What the registry works with.
#[derive(Debug)]
pub struct Env {
    /// The engine.
    pub engine: Engine,
    /// Region of ARNs.
    pub region: String,
    /// Account of ARNs.
    pub account: String,
    /// Function backends.
    pub functions: Functions,
    /// On-failure storage.
    pub destinations: Arc<Destinations>,
    /// Wait of an idle poller.
    pub poll_interval: Duration,
    /// Pollers are stepped by the caller ([`Registry::step`]) instead of running on threads.
    pub manual: bool,
    /// Turned at shutdown.
    pub abort: Arc<Abort>,
}

/// See the module docs.
#[derive(Debug)]
pub struct Registry {
    env: Env,
    inner: Mutex<Inner>,
    me: Weak<Registry>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    next_seq: u64,
    entries: HashMap<String, Entry>,
    /// Threads finishing a change (waiting for a poller to stop); joined at shutdown.
    transitions: Vec<JoinHandle<()>>,
    /// Shutdown has begun: no poller starts any more (a change left unfinished is completed
    /// at the next start).
    closed: bool,
}

#[derive(Debug)]
struct Entry {
    def: MappingDef,
    live: Arc<Live>,
    runner: Runner,
    generation: u64,
}

#[derive(Debug)]
enum Runner {
    Idle,
    Thread(Worker),
    Manual(Box<Poller>),
}

#[derive(Debug)]
struct Worker {
    stop: Arc<StopSignal>,
    thread: JoinHandle<()>,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// Read the stored mappings and start every enabled one; finish changes a crash
    /// interrupted.
    pub fn open(env: Env, dir: &std::path::Path) -> Result<Arc<Registry>, String> {
        let (store, snapshot) = Store::open(dir).map_err(|e| e.to_string())?;
        let reg = Arc::new_cyclic(|me| Registry {
            env,
            inner: Mutex::new(Inner {
                store,
                next_seq: snapshot.next_seq,
                entries: HashMap::new(),
                transitions: Vec::new(),
                closed: false,
            }),
            me: me.clone(),
        });
        let mut deleting = Vec::new();
        {
            let mut inner = lock(&reg.inner);
            for mut def in snapshot.mappings {
                let live = Arc::new(Live::new(&def.last_processing_result));
                let mut runner = Runner::Idle;
                if def.state == State::Deleting {
                    deleting.push(def.clone());
                } else if def.enabled {
                    match reg.start(&def, &live, 1) {
                        Ok(r) => {
                            runner = r;
                            def.state = State::Enabled;
                        }
                        Err(why) => {
                            tracing::warn!(uuid = def.uuid, reason = why, "event source mapping disabled at start-up");
                            def.enabled = false;
                            def.state = State::Disabled;
                            def.state_transition_reason = why;
                            live.set_last_result(STREAM_NOT_FOUND);
                        }
                    }
                } else {
                    def.state = State::Disabled;
                }
                inner.next_seq = inner.next_seq.max(def.seq + 1);
                inner.entries.insert(def.uuid.clone(), Entry { def, live, runner, generation: 1 });
            }
            reg.persist(&mut inner).map_err(|e| e.message)?;
            tracing::info!(mappings = inner.entries.len(), "event source mappings loaded");
        }
        for def in deleting {
            reg.finish_delete(&def, 1);
        }
        Ok(reg)
    }

    /// What building a poller needs.
    fn ctx(&self) -> BuildCtx<'_> {
        let env = &self.env;
        BuildCtx {
            engine: &env.engine,
            region: &env.region,
            account: &env.account,
            functions: &env.functions,
            destinations: &env.destinations,
        }
    }

    fn config(&self, def: &MappingDef, live: &Arc<Live>) -> Result<(), LambdaError> {
        poller::config(&self.ctx(), def, live).map(drop)
    }

    fn build(&self, def: &MappingDef, live: &Arc<Live>) -> Result<Poller, LambdaError> {
        poller::build(&self.ctx(), def, live)
    }

    /// Start `def`'s poller. `Err` is why it cannot run (for `StateTransitionReason`).
    fn start(&self, def: &MappingDef, live: &Arc<Live>, generation: u64) -> Result<Runner, String> {
        let poller = self.build(def, live).map_err(|e| format!("PROBLEM: {}", e.message))?;
        if def.stream_creation_ms.is_some_and(|ms| ms != poller.stream_creation_ms) {
            return Err(format!("PROBLEM: Stream {} was deleted and created again", poller.stream_arn));
        }
        Ok(self.run(def, poller, generation))
    }

    /// Run `poller` (a thread, or held for manual steps).
    fn run(&self, def: &MappingDef, poller: Poller, generation: u64) -> Runner {
        if self.env.manual {
            return Runner::Manual(Box::new(poller));
        }
        let stop = Arc::new(StopSignal::default());
        let (me, stop2, uuid) = (self.me.clone(), Arc::clone(&stop), def.uuid.clone());
        let engine = self.env.engine.clone();
        let interval = self.env.poll_interval;
        let spawned =
            std::thread::Builder::new().name(format!("esm-{}", def.uuid.get(..8).unwrap_or(""))).spawn(move || {
                let mut poller = poller;
                while !stop2.is_stopped() {
                    match poller.step(&engine) {
                        Stepped::Busy(_) => {}
                        Stepped::Idle(_) => stop2.wait(interval),
                        Stepped::StreamGone(why) => {
                            if let Some(reg) = me.upgrade() {
                                reg.on_stream_gone(&uuid, generation, why);
                            }
                            return;
                        }
                    }
                }
            });
        match spawned {
            Ok(thread) => Runner::Thread(Worker { stop, thread }),
            Err(e) => {
                tracing::error!(uuid = def.uuid, error = %e, "could not start the poller thread");
                Runner::Idle
            }
        }
    }

    fn on_stream_gone(&self, uuid: &str, generation: u64, why: String) {
        let mut inner = lock(&self.inner);
        let Some(entry) = inner.entries.get_mut(uuid) else { return };
        if entry.generation != generation || entry.def.state != State::Enabled {
            return;
        }
        tracing::warn!(uuid, reason = why, "event source mapping disabled: its stream is gone");
        entry.def.enabled = false;
        entry.def.state = State::Disabled;
        entry.def.state_transition_reason = why;
        entry.def.last_modified_ms = self.now_ms();
        entry.live.set_last_result(STREAM_NOT_FOUND);
        // The poller is this very thread, about to end: detach it.
        entry.runner = Runner::Idle;
        entry.generation += 1;
        if let Err(e) = self.persist(&mut inner) {
            tracing::error!(uuid, error = %e, "could not store the disabled mapping");
        }
    }

    fn now_ms(&self) -> i64 {
        self.env.engine.config().clock.now_ms()
    }

    /// Write every definition (with its current `LastProcessingResult`).
    fn persist(&self, inner: &mut Inner) -> Result<(), LambdaError> {
        let mut mappings: Vec<MappingDef> = inner
            .entries
            .values()
            .map(|e| {
                let mut d = e.def.clone();
                d.last_processing_result = e.live.last_result();
                d
            })
            .collect();
        mappings.sort_by_key(|d| d.seq);
        let snapshot = Snapshot { next_seq: inner.next_seq, mappings };
        inner.store.commit(&snapshot).map_err(LambdaError::service)
    }

    fn show(&self, def: &MappingDef, live: &Live, state: State) -> Value {
        let mut d = def.clone();
        d.last_processing_result = live.last_result();
        d.state = state;
        d.to_json(&self.env.region, &self.env.account)
    }

    fn function(&self, name: &str) -> Result<FunctionRef, LambdaError> {
        let f = FunctionRef::parse(name, &self.env.region, &self.env.account)?;
        if self.env.functions.backend(&f).is_none() {
            return Err(LambdaError::not_found(format!(
                "Function not found: {} (shardlog serve invokes functions given with --lambda-command {}=CMD or through --lambda-endpoint)",
                f.arn, f.name
            )));
        }
        Ok(f)
    }

    /// CreateEventSourceMapping.
    pub fn create(&self, m: Members) -> Result<Value, LambdaError> {
        let name = m.function_name.clone().ok_or_else(|| {
            LambdaError::validation(
                "1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null",
            )
        })?;
        let function = self.function(&name)?;
        let mut def = MappingDef::create(&m, &function, uuid::Uuid::new_v4().to_string(), self.now_ms())?;
        let live = Arc::new(Live::new(NO_RECORDS_PROCESSED));
        // Checks the parameters against the engine (the stream, the consumer, the time).
        let poller = self.build(&def, &live)?;
        def.stream_creation_ms = Some(poller.stream_creation_ms);
        let mut inner = lock(&self.inner);
        if let Some(other) = inner
            .entries
            .values()
            .find(|e| e.def.event_source_arn == def.event_source_arn && e.def.function_arn == def.function_arn)
        {
            return Err(LambdaError::conflict(format!(
                "An event source mapping with Kinesis arn (\" {} \") and function (\" {} \") already exists. Please update or delete the existing mapping with UUID {}",
                def.event_source_arn, function.name, other.def.uuid
            )));
        }
        if inner.entries.len() >= MAX_MAPPINGS {
            return Err(LambdaError::invalid_parameter(format!(
                "shardlog serve runs at most {MAX_MAPPINGS} event source mappings; delete one first"
            )));
        }
        def.seq = inner.next_seq;
        inner.next_seq += 1;
        def.state = if def.enabled { State::Enabled } else { State::Disabled };
        let uuid = def.uuid.clone();
        inner.entries.insert(
            uuid.clone(),
            Entry { def: def.clone(), live: Arc::clone(&live), runner: Runner::Idle, generation: 1 },
        );
        if let Err(e) = self.persist(&mut inner) {
            inner.entries.remove(&uuid);
            return Err(e);
        }
        if def.enabled {
            let runner = self.run(&def, poller, 1);
            if let Some(entry) = inner.entries.get_mut(&uuid) {
                entry.runner = runner;
            }
        }
        tracing::info!(
            uuid,
            source = def.event_source_arn,
            function = def.function_arn,
            enabled = def.enabled,
            "event source mapping created"
        );
        Ok(self.show(&def, &live, State::Creating))
    }

    /// GetEventSourceMapping.
    pub fn get(&self, uuid: &str) -> Result<Value, LambdaError> {
        let inner = lock(&self.inner);
        let e = inner.entries.get(uuid).ok_or_else(not_found)?;
        Ok(self.show(&e.def, &e.live, e.def.state))
    }

    /// ListEventSourceMappings.
    pub fn list(&self, q: &ListQuery) -> Result<Value, LambdaError> {
        let function_arn = match &q.function_name {
            Some(n) => Some(FunctionRef::parse(n, &self.env.region, &self.env.account)?.arn),
            None => None,
        };
        let after = match &q.marker {
            None => None,
            Some(m) => Some(m.strip_prefix('m').and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| {
                LambdaError::invalid_parameter(format!("Marker {m:?} is not one this server issued"))
            })?),
        };
        let inner = lock(&self.inner);
        let mut matching: Vec<&Entry> = inner
            .entries
            .values()
            .filter(|e| q.event_source_arn.as_ref().is_none_or(|a| *a == e.def.event_source_arn))
            .filter(|e| function_arn.as_ref().is_none_or(|a| *a == e.def.function_arn))
            .filter(|e| after.is_none_or(|s| e.def.seq >= s))
            .collect();
        matching.sort_by_key(|e| e.def.seq);
        let page = q.max_items.map_or(PAGE, |n| (n as usize).min(PAGE));
        let next = matching.get(page).map(|e| format!("m{}", e.def.seq));
        let items: Vec<Value> = matching.iter().take(page).map(|e| self.show(&e.def, &e.live, e.def.state)).collect();
        let mut out = serde_json::Map::new();
        out.insert("EventSourceMappings".into(), Value::Array(items));
        if let Some(n) = next {
            out.insert("NextMarker".into(), json!(n));
        }
        Ok(Value::Object(out))
    }

    /// UpdateEventSourceMapping.
    pub fn update(&self, uuid: &str, m: Members) -> Result<Value, LambdaError> {
        let mut inner = lock(&self.inner);
        let entry = inner.entries.get(uuid).ok_or_else(not_found)?;
        if entry.def.state.is_transitional() {
            return Err(LambdaError::in_use(format!(
                "Cannot update the event source mapping {uuid} because it is in use (state {})",
                entry.def.state.as_str()
            )));
        }
        let old = entry.def.clone();
        let live = Arc::clone(&entry.live);
        let mut def = old.clone();
        if let Some(name) = &m.function_name {
            let f = self.function(name)?;
            if f.arn != def.function_arn {
                if let Some(other) = inner.entries.values().find(|e| {
                    e.def.uuid != uuid && e.def.event_source_arn == def.event_source_arn && e.def.function_arn == f.arn
                }) {
                    return Err(LambdaError::conflict(format!(
                        "An event source mapping with Kinesis arn (\" {} \") and function (\" {} \") already exists. Please update or delete the existing mapping with UUID {}",
                        def.event_source_arn, f.name, other.def.uuid
                    )));
                }
            }
            def.function_arn = f.arn;
        }
        let only_enabled = Members { enabled: None, ..m.clone() } == Members::default();
        def.apply(&m);
        // Check the new configuration now (against the engine too when it is to run; the
        // poller is built again once the running one has stopped).
        if def.enabled {
            drop(self.build(&def, &live)?);
        } else {
            self.config(&def, &live)?;
        }
        let answer = match (only_enabled, old.enabled, def.enabled) {
            (true, false, true) => State::Enabling,
            (true, true, false) => State::Disabling,
            _ => State::Updating,
        };
        def.state = answer;
        def.state_transition_reason = USER_ACTION.into();
        def.last_modified_ms = self.now_ms();
        if def.enabled && !old.enabled {
            // Enabled again: a stream re-created since it was disabled is the one to read.
            def.stream_creation_ms = None;
        }
        let entry = inner.entries.get_mut(uuid).ok_or_else(not_found)?;
        entry.def = def.clone();
        if let Err(e) = self.persist(&mut inner) {
            if let Some(entry) = inner.entries.get_mut(uuid) {
                entry.def = old;
            }
            return Err(e);
        }
        let entry = inner.entries.get_mut(uuid).ok_or_else(not_found)?;
        entry.generation += 1;
        let generation = entry.generation;
        let previous = std::mem::replace(&mut entry.runner, Runner::Idle);
        let owned = uuid.to_string();
        self.after_stop(inner, previous, move |reg| reg.finish_update(&owned, generation));
        tracing::info!(uuid, state = answer.as_str(), "event source mapping updated");
        Ok(self.show(&def, &live, answer))
    }

    /// Stop `previous` and then run `finish`: on a thread that joins a running poller
    /// first (the answer does not wait for an invocation in flight), else at once. The lock
    /// is released before either.
    fn after_stop(
        &self,
        mut inner: MutexGuard<'_, Inner>,
        previous: Runner,
        finish: impl FnOnce(&Registry) + Send + 'static,
    ) {
        match previous {
            Runner::Thread(w) => {
                w.stop.stop();
                let me = self.me.clone();
                let t = std::thread::spawn(move || {
                    let _ = w.thread.join();
                    if let Some(reg) = me.upgrade() {
                        finish(&reg);
                    }
                });
                inner.transitions.retain(|t| !t.is_finished());
                inner.transitions.push(t);
            }
            Runner::Idle | Runner::Manual(_) => {
                drop(inner);
                finish(self);
            }
        }
    }

    /// The old poller has stopped: run the new configuration, or settle as disabled.
    fn finish_update(&self, uuid: &str, generation: u64) {
        let mut inner = lock(&self.inner);
        if inner.closed {
            return;
        }
        let Some(entry) = inner.entries.get_mut(uuid) else { return };
        if entry.generation != generation {
            return;
        }
        if entry.def.enabled {
            match self.build(&entry.def, &entry.live) {
                Ok(poller) => {
                    entry.def.stream_creation_ms = Some(poller.stream_creation_ms);
                    entry.def.state = State::Enabled;
                    let def = entry.def.clone();
                    entry.runner = self.run(&def, poller, generation);
                }
                Err(e) => {
                    tracing::warn!(uuid, error = %e, "event source mapping could not restart; disabled");
                    entry.def.enabled = false;
                    entry.def.state = State::Disabled;
                    entry.def.state_transition_reason = format!("PROBLEM: {}", e.message);
                }
            }
        } else {
            entry.def.state = State::Disabled;
        }
        if let Err(e) = self.persist(&mut inner) {
            tracing::error!(uuid, error = %e, "could not store the mapping's new state");
        }
    }

    /// DeleteEventSourceMapping.
    pub fn delete(&self, uuid: &str) -> Result<Value, LambdaError> {
        let mut inner = lock(&self.inner);
        let entry = inner.entries.get_mut(uuid).ok_or_else(not_found)?;
        if entry.def.state.is_transitional() {
            return Err(LambdaError::in_use(format!(
                "Cannot delete the event source mapping {uuid} because it is in use (state {})",
                entry.def.state.as_str()
            )));
        }
        let before = entry.def.state;
        entry.def.state = State::Deleting;
        entry.def.last_modified_ms = self.now_ms();
        if let Err(e) = self.persist(&mut inner) {
            if let Some(entry) = inner.entries.get_mut(uuid) {
                entry.def.state = before;
            }
            return Err(e);
        }
        let entry = inner.entries.get_mut(uuid).ok_or_else(not_found)?;
        entry.generation += 1;
        let generation = entry.generation;
        let shown = self.show(&entry.def, &entry.live, State::Deleting);
        let def = entry.def.clone();
        let previous = std::mem::replace(&mut entry.runner, Runner::Idle);
        self.after_stop(inner, previous, move |reg| reg.finish_delete(&def, generation));
        tracing::info!(uuid, "event source mapping deleted");
        Ok(shown)
    }

    /// The poller has stopped: forget the checkpoints, then the mapping.
    fn finish_delete(&self, def: &MappingDef, generation: u64) {
        if lock(&self.inner).closed {
            return;
        }
        if let Ok(source) = EventSource::parse(&def.event_source_arn) {
            match self.env.engine.delete_checkpoints(&StreamRef::arn(source.stream_arn), &def.uuid) {
                Ok(()) | Err(Error::ResourceNotFound { .. }) => {}
                Err(e) => {
                    // Left in `Deleting`: the next start finishes it.
                    tracing::error!(uuid = def.uuid, error = %e, "could not delete the mapping's checkpoints");
                    return;
                }
            }
        }
        let mut inner = lock(&self.inner);
        if inner.entries.get(&def.uuid).is_some_and(|e| e.generation == generation) {
            inner.entries.remove(&def.uuid);
            if let Err(e) = self.persist(&mut inner) {
                tracing::error!(uuid = def.uuid, error = %e, "could not store the deletion");
            }
        }
    }

    /// Manual mode: run one poller step of mapping `uuid` (`None` when it has no poller).
    pub fn step(&self, uuid: &str) -> Option<StepReport> {
        let (mut poller, generation) = {
            let mut inner = lock(&self.inner);
            let entry = inner.entries.get_mut(uuid)?;
            match std::mem::replace(&mut entry.runner, Runner::Idle) {
                Runner::Manual(p) => (p, entry.generation),
                other => {
                    entry.runner = other;
                    return None;
                }
            }
        };
        let stepped = poller.step(&self.env.engine);
        let mut inner = lock(&self.inner);
        let entry = inner.entries.get_mut(uuid)?;
        if entry.generation != generation {
            return None;
        }
        entry.runner = Runner::Manual(poller);
        match stepped {
            Stepped::Busy(r) | Stepped::Idle(r) => Some(r),
            Stepped::StreamGone(why) => {
                drop(inner);
                self.on_stream_gone(uuid, generation, why);
                Some(StepReport::default())
            }
        }
    }

    /// The mapping's checkpoints (`None` for an unknown UUID).
    pub fn checkpoints(&self, uuid: &str) -> Option<Vec<shardlog::engine::checkpoint::ShardCheckpoint>> {
        let stream = {
            let inner = lock(&self.inner);
            let e = inner.entries.get(uuid)?;
            EventSource::parse(&e.def.event_source_arn).ok()?.stream_arn
        };
        self.env.engine.checkpoints(&StreamRef::arn(stream), uuid).ok()
    }

    /// Every mapping's identity, state and counters, by UUID (for `/metrics`).
    pub fn counters(&self) -> Vec<MappingCounters> {
        let inner = lock(&self.inner);
        let mut out: Vec<MappingCounters> = inner
            .entries
            .values()
            .map(|e| MappingCounters {
                uuid: e.def.uuid.clone(),
                function_arn: e.def.function_arn.clone(),
                event_source_arn: e.def.event_source_arn.clone(),
                state: e.def.state,
                counters: e.live.counters(),
            })
            .collect();
        out.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        out
    }

    /// Where mapping `uuid`'s local on-failure documents are written.
    pub fn on_failure_dir(&self, uuid: &str) -> std::path::PathBuf {
        self.env.destinations.dir(uuid)
    }

    /// Stop every poller (invocations in flight end as not invoked: retried after the next
    /// start) and store the final state.
    pub fn shutdown(&self) {
        self.env.abort.abort();
        let (workers, transitions): (Vec<(String, Worker)>, Vec<JoinHandle<()>>) = {
            let mut inner = lock(&self.inner);
            inner.closed = true;
            let transitions = std::mem::take(&mut inner.transitions);
            let workers = inner
                .entries
                .iter_mut()
                .filter_map(|(uuid, e)| match std::mem::replace(&mut e.runner, Runner::Idle) {
                    Runner::Thread(w) => {
                        e.generation += 1;
                        Some((uuid.clone(), w))
                    }
                    _ => None,
                })
                .collect();
            (workers, transitions)
        };
        for (_, w) in &workers {
            w.stop.stop();
        }
        // (The last handle may be dropped on one of these threads: never join oneself.)
        let me = std::thread::current().id();
        for (uuid, w) in workers {
            if w.thread.thread().id() != me && w.thread.join().is_err() {
                tracing::error!(uuid, "an event source mapping poller panicked");
            }
        }
        for t in transitions {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        self.env.destinations.shutdown();
        let mut inner = lock(&self.inner);
        if let Err(e) = self.persist(&mut inner) {
            tracing::error!(error = %e, "could not store the mappings at shutdown");
        }
    }
}

impl Drop for Registry {
    /// Dropping the last handle without [`Registry::shutdown`] shuts down the same way.
    fn drop(&mut self) {
        if !lock(&self.inner).closed {
            self.shutdown();
        }
    }
}

/// One mapping in [`Registry::counters`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingCounters {
    /// `UUID`.
    pub uuid: String,
    /// `FunctionArn`.
    pub function_arn: String,
    /// `EventSourceArn`.
    pub event_source_arn: String,
    /// `State`.
    pub state: State,
    /// The counters.
    pub counters: Counters,
}

fn not_found() -> LambdaError {
    LambdaError::not_found("The resource you requested does not exist.")
}
