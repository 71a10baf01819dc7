//! Durable positions: per source shard, the last record the destination acknowledged and
//! whether the shard is finished. A position is saved only after the destination accepted
//! every record up to it, so a restart sends at most the one window that was in flight.
//!
//! - [`EngineCheckpoints`]: in the source engine's catalog (`Engine::set_checkpoint`, crash
//!   atomic through the manifest) under an owner name — the forward direction.
//! - [`FileCheckpoints`]: a small JSON file replaced atomically (write a temporary file,
//!   fsync, rename, fsync the directory) — the reverse direction, whose source shards are
//!   not the local engine's.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shardlog::engine::types::{SequenceNumber, StreamRef};
use shardlog::Engine;

use crate::forward::backoff::Failure;
use crate::forward::source::{blocking, engine_failure, BoxFuture};

/// A stored position in one source shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardPosition {
    /// The last sequence number the destination acknowledged (`None`: nothing yet).
    pub last_forwarded: Option<String>,
    /// The shard was forwarded to its end (a closed shard).
    pub finished: bool,
}

/// Where positions are kept.
pub trait CheckpointStore: Send + Sync {
    /// Every stored position, by shard id.
    fn load(&self) -> BoxFuture<'_, Result<BTreeMap<String, ShardPosition>, Failure>>;
    /// Store a shard's position durably (returns once it would survive a crash).
    fn save<'a>(&'a self, shard_id: &'a str, position: &'a ShardPosition) -> BoxFuture<'a, Result<(), Failure>>;
}

type Waiter = tokio::sync::oneshot::Sender<Result<(), Failure>>;

/// Positions in the source engine's catalog under `owner`. Saves of several shards that
/// arrive while a manifest commit is running are written together in the next one (group
/// commit: `Engine::set_checkpoints`), so shards do not queue behind each other's fsyncs.
#[derive(Debug, Clone)]
pub struct EngineCheckpoints {
    engine: Engine,
    stream: StreamRef,
    owner: String,
    queue: Arc<std::sync::Mutex<Vec<(String, ShardPosition, Waiter)>>>,
    committer: Arc<tokio::sync::Mutex<()>>,
}

impl EngineCheckpoints {
    /// Positions of `stream` in `engine` under `owner` (1–256 bytes).
    pub fn new(engine: Engine, stream: StreamRef, owner: impl Into<String>) -> EngineCheckpoints {
        EngineCheckpoints {
            engine,
            stream,
            owner: owner.into(),
            queue: Arc::new(std::sync::Mutex::new(Vec::new())),
            committer: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The owner name.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Write every queued position in one commit and answer their savers.
    async fn commit_queued(&self) {
        let batch: Vec<(String, ShardPosition, Waiter)> =
            std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return;
        }
        let mut entries = Vec::with_capacity(batch.len());
        let mut parse_error = None;
        for (shard_id, p, _) in &batch {
            let last_processed = match &p.last_forwarded {
                Some(s) => match SequenceNumber::parse(s) {
                    Ok(seq) => Some(seq),
                    Err(e) => {
                        parse_error = Some(Failure::Fatal(format!("sequence number {s}: {e}")));
                        None
                    }
                },
                None => None,
            };
            entries.push(shardlog::engine::checkpoint::ShardCheckpoint {
                shard_id: shard_id.clone(),
                last_processed,
                finished: p.finished,
            });
        }
        let result = match parse_error {
            Some(f) => Err(f),
            None => {
                let (engine, stream, owner) = (self.engine.clone(), self.stream.clone(), self.owner.clone());
                blocking(move || write_positions(&engine, &stream, &owner, entries)).await
            }
        };
        for (_, _, waiter) in batch {
            let _ = waiter.send(result.clone());
        }
    }
}

/// Store positions; a shard that expired (retention) after it was read to its end needs
/// none, so finished positions of shards no longer there are dropped.
fn write_positions(
    engine: &Engine,
    stream: &StreamRef,
    owner: &str,
    mut entries: Vec<shardlog::engine::checkpoint::ShardCheckpoint>,
) -> Result<(), Failure> {
    loop {
        match engine.set_checkpoints(stream, owner, &entries) {
            Ok(()) => return Ok(()),
            Err(shardlog::Error::ResourceNotFound { message }) => {
                let listed: std::collections::BTreeSet<String> = engine
                    .shard_extents(stream)
                    .map_err(|e| Failure::Fatal(format!("saving checkpoints: {e}")))?
                    .into_iter()
                    .map(|x| x.shard_id)
                    .collect();
                let before = entries.len();
                entries.retain(|c| listed.contains(&c.shard_id) || !c.finished);
                if entries.len() == before {
                    return Err(Failure::Fatal(format!("saving checkpoints: {message}")));
                }
            }
            Err(e) => return Err(Failure::Fatal(format!("saving checkpoints: {e}"))),
        }
    }
}

impl CheckpointStore for EngineCheckpoints {
    fn load(&self) -> BoxFuture<'_, Result<BTreeMap<String, ShardPosition>, Failure>> {
        let (engine, stream, owner) = (self.engine.clone(), self.stream.clone(), self.owner.clone());
        Box::pin(blocking(move || {
            let stored =
                engine.checkpoints(&stream, &owner).map_err(|e| match engine_failure(e, "reading checkpoints") {
                    Failure::ShardGone(m) => Failure::Fatal(m),
                    f => f,
                })?;
            Ok(stored
                .into_iter()
                .map(|c| {
                    let p =
                        ShardPosition { last_forwarded: c.last_processed.map(|s| s.to_string()), finished: c.finished };
                    (c.shard_id, p)
                })
                .collect())
        }))
    }

    fn save<'a>(&'a self, shard_id: &'a str, position: &'a ShardPosition) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.queue.lock().unwrap_or_else(|p| p.into_inner()).push((shard_id.to_string(), position.clone(), tx));
            {
                // Whoever holds the committer writes everything queued so far, ours
                // included unless an earlier holder already took it.
                let _committer = self.committer.lock().await;
                self.commit_queued().await;
            }
            rx.await.unwrap_or_else(|_| Err(Failure::Fatal("a checkpoint commit was abandoned".into())))
        })
    }
}

/// Positions in a JSON file, replaced atomically.
#[derive(Debug, Clone)]
pub struct FileCheckpoints {
    path: PathBuf,
    label: String,
    state: Arc<tokio::sync::Mutex<Option<BTreeMap<String, ShardPosition>>>>,
    flush_first: Option<Engine>,
}

impl FileCheckpoints {
    /// Positions in `path`; `label` (the source) is stored with them and checked on load, so
    /// a file is never applied to another source.
    pub fn new(path: impl Into<PathBuf>, label: impl Into<String>) -> FileCheckpoints {
        FileCheckpoints {
            path: path.into(),
            label: label.into(),
            state: Arc::new(tokio::sync::Mutex::new(None)),
            flush_first: None,
        }
    }

    /// Make `engine` durable (fdatasync every shard) before each save: when the engine is
    /// the destination, a position must never be durable before the records it covers.
    pub fn flushing(mut self, engine: Engine) -> FileCheckpoints {
        self.flush_first = Some(engine);
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(path: &Path, label: &str) -> Result<BTreeMap<String, ShardPosition>, Failure> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(Failure::Fatal(format!("reading {}: {e}", path.display()))),
        };
        let bad = |why: &str| Failure::Fatal(format!("{} is not a forward checkpoint file: {why}", path.display()));
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
        if v.get("version").and_then(|v| v.as_u64()) != Some(1) {
            return Err(bad("unknown version"));
        }
        let stored_label = v.get("source").and_then(|s| s.as_str()).ok_or_else(|| bad("no source"))?;
        if stored_label != label {
            return Err(Failure::Fatal(format!(
                "{} holds positions of {stored_label}, not of {label}: remove it to start over",
                path.display()
            )));
        }
        let shards = v.get("shards").and_then(|s| s.as_object()).ok_or_else(|| bad("no shards"))?;
        let mut out = BTreeMap::new();
        for (id, p) in shards {
            let last = match p.get("last") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(bad("a position is not a string")),
            };
            let finished = p.get("finished").and_then(|f| f.as_bool()).ok_or_else(|| bad("no finished flag"))?;
            out.insert(id.clone(), ShardPosition { last_forwarded: last, finished });
        }
        Ok(out)
    }

    fn write(path: &Path, label: &str, all: &BTreeMap<String, ShardPosition>) -> Result<(), Failure> {
        let shards: serde_json::Map<String, serde_json::Value> = all
            .iter()
            .map(|(id, p)| (id.clone(), serde_json::json!({ "last": p.last_forwarded, "finished": p.finished })))
            .collect();
        let doc = serde_json::json!({ "version": 1, "source": label, "shards": shards });
        let fail = |what: &str, e: std::io::Error| Failure::Fatal(format!("{what} {}: {e}", path.display()));
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| fail("creating the directory of", e))?;
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(|e| fail("creating", e))?;
            f.write_all(doc.to_string().as_bytes()).map_err(|e| fail("writing", e))?;
            f.sync_all().map_err(|e| fail("syncing", e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| fail("replacing", e))?;
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| fail("syncing the directory of", e))
    }
}

impl CheckpointStore for FileCheckpoints {
    fn load(&self) -> BoxFuture<'_, Result<BTreeMap<String, ShardPosition>, Failure>> {
        Box::pin(async move {
            let (path, label) = (self.path.clone(), self.label.clone());
            let loaded = blocking(move || FileCheckpoints::read(&path, &label)).await?;
            *self.state.lock().await = Some(loaded.clone());
            Ok(loaded)
        })
    }

    fn save<'a>(&'a self, shard_id: &'a str, position: &'a ShardPosition) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            let mut all = match state.take() {
                Some(s) => s,
                None => {
                    let (path, label) = (self.path.clone(), self.label.clone());
                    blocking(move || FileCheckpoints::read(&path, &label)).await?
                }
            };
            all.insert(shard_id.to_string(), position.clone());
            if let Some(engine) = self.flush_first.clone() {
                blocking(move || engine.flush().map_err(|e| Failure::Fatal(format!("flushing the destination: {e}"))))
                    .await?;
            }
            let (path, label, snapshot) = (self.path.clone(), self.label.clone(), all.clone());
            let written = blocking(move || FileCheckpoints::write(&path, &label, &snapshot)).await;
            *state = Some(all);
            written
        })
    }
}
