//! On-failure destinations: where the document of every discarded batch goes
//! (`DestinationConfig.OnFailure`, kinesis-behaviour §9.3).
//!
//! Every document is first written durably under the data directory — a file created,
//! fdatasync'd, renamed into place and its directory fsync'd — so nothing is lost whatever
//! happens next:
//!
//! - `lambda/on-failure/<mapping UUID>/<discard time ms>-<n>.json`: the documents of a
//!   mapping whose destination is kept locally (an SNS or S3 ARN, or an SQS ARN without
//!   `--sqs-endpoint`). Read them there; they stay until you delete them.
//! - `lambda/on-failure/<mapping UUID>/sqs-outbox/…`: documents for an SQS queue when
//!   `--sqs-endpoint` is given. The first line is the queue ARN, the rest the document. A
//!   background sender delivers them in order with `SendMessage` (AWS JSON 1.0 protocol,
//!   SigV4 for `sqs`, the queue URL from `GetQueueUrl`), deleting each file once the queue
//!   has acknowledged it, retrying with backoff while the endpoint fails, and picking up what
//!   is left after a restart.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};
use shardlog::event_source::{OnFailureDestination, OnFailureDocument};

use super::status::Live;
use super::store::sync_dir;
use crate::outbound::{Abort, Call, Outbound};

/// The directory of outbox files inside a mapping's directory.
const OUTBOX: &str = "sqs-outbox";

/// On-failure storage and the SQS sender.
#[derive(Debug)]
pub struct Destinations {
    root: PathBuf,
    sqs: Option<Arc<SqsSender>>,
    counter: AtomicU64,
}

impl Destinations {
    /// Documents under `root` (`<data dir>/lambda/on-failure`); with `sqs`, SQS destinations
    /// are delivered to that endpoint.
    pub fn new(root: PathBuf, sqs: Option<(String, Arc<Outbound>, Arc<Abort>)>) -> Destinations {
        let sqs = sqs.map(|(endpoint, outbound, abort)| SqsSender::start(endpoint, outbound, abort, root.clone()));
        Destinations { root, sqs, counter: AtomicU64::new(0) }
    }

    /// Where a mapping's local documents are.
    pub fn dir(&self, uuid: &str) -> PathBuf {
        self.root.join(uuid)
    }

    /// True when documents for `destination` go to SQS.
    pub fn sends_to_sqs(&self, destination: &str) -> bool {
        self.sqs.is_some() && destination.split(':').nth(2) == Some("sqs")
    }

    /// The driver's on-failure callback for mapping `uuid` with destination ARN
    /// `destination`.
    pub fn sink(self: &Arc<Self>, uuid: &str, destination: &str, live: Arc<Live>) -> OnFailureDestination {
        let me = Arc::clone(self);
        let (uuid, destination) = (uuid.to_string(), destination.to_string());
        Arc::new(move |doc: &OnFailureDocument| {
            let text = match doc.to_json() {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(uuid, error = %e, "on-failure document could not be serialized");
                    return;
                }
            };
            match me.store(&uuid, &destination, &text) {
                Ok(path) => {
                    live.on_failure_documents.fetch_add(1, Ordering::Relaxed);
                    live.on_failure_records.fetch_add(u64::from(doc.kinesis_batch_info.batch_size), Ordering::Relaxed);
                    tracing::warn!(
                        uuid,
                        destination,
                        file = %path.display(),
                        condition = doc.request_context.condition.as_str(),
                        shard = doc.kinesis_batch_info.shard_id,
                        records = doc.kinesis_batch_info.batch_size,
                        "batch discarded: on-failure document stored"
                    );
                }
                Err(e) => tracing::error!(
                    uuid,
                    destination,
                    error = %e,
                    document = text,
                    "batch discarded: the on-failure document could not be stored"
                ),
            }
        })
    }

    /// Write a document durably; hand it to the SQS sender when it is for SQS.
    fn store(&self, uuid: &str, destination: &str, text: &str) -> std::io::Result<PathBuf> {
        let to_sqs = self.sends_to_sqs(destination);
        let dir = if to_sqs { self.dir(uuid).join(OUTBOX) } else { self.dir(uuid) };
        ensure_dir(&dir)?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let name = format!("{now:013}-{:010}-{n:06}.json", std::process::id());
        let contents = if to_sqs { format!("{destination}\n{text}") } else { text.to_string() };
        let path = write_durably(&dir, &name, contents.as_bytes())?;
        if let (true, Some(sqs)) = (to_sqs, &self.sqs) {
            sqs.enqueue(path.clone());
        }
        Ok(path)
    }

    /// Stop the SQS sender (what it has not sent stays in the outbox for the next start).
    pub fn shutdown(&self) {
        if let Some(s) = &self.sqs {
            s.stop();
        }
    }
}

/// Create `dir` (and its missing parents), fsyncing each parent that gained an entry.
fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        ensure_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// temp file → fdatasync → rename → directory fsync.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_data()).and_then(|()| fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(path)
}

/// The SQS outbox sender.
#[derive(Debug)]
struct SqsSender {
    endpoint: String,
    outbound: Arc<Outbound>,
    abort: Arc<Abort>,
    queue: Mutex<SenderState>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct SenderState {
    /// Outbox files not sent yet, oldest first (by name: discard time, then sequence).
    pending: BTreeMap<String, PathBuf>,
    stopped: bool,
}

impl SqsSender {
    fn start(endpoint: String, outbound: Arc<Outbound>, abort: Arc<Abort>, root: PathBuf) -> Arc<SqsSender> {
        let me = Arc::new(SqsSender {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            outbound,
            abort,
            queue: Mutex::new(SenderState::default()),
            wake: Condvar::new(),
        });
        // What an earlier run left unsent.
        if let Ok(mappings) = fs::read_dir(&root) {
            for m in mappings.flatten() {
                if let Ok(files) = fs::read_dir(m.path().join(OUTBOX)) {
                    for f in files.flatten() {
                        let name = f.file_name().to_string_lossy().into_owned();
                        if name.ends_with(".json") && !name.starts_with('.') {
                            me.enqueue(f.path());
                        }
                    }
                }
            }
        }
        let worker = Arc::clone(&me);
        std::thread::Builder::new()
            .name("shardlog-sqs-outbox".into())
            .spawn(move || worker.run())
            .map_err(|e| tracing::error!(error = %e, "the SQS outbox sender could not start"))
            .ok();
        me
    }

    fn enqueue(&self, path: PathBuf) {
        let key = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.pending.insert(key, path);
        self.wake.notify_all();
    }

    fn stop(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).stopped = true;
        self.wake.notify_all();
    }

    fn run(&self) {
        let mut urls: HashMap<String, String> = HashMap::new();
        let mut backoff = Duration::from_millis(200);
        loop {
            let next = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if q.stopped {
                        return;
                    }
                    if let Some((_, p)) = q.pending.iter().next() {
                        break p.clone();
                    }
                    q = self.wake.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            };
            match self.send(&next, &mut urls) {
                Ok(()) => {
                    backoff = Duration::from_millis(200);
                    let key = next.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    self.queue.lock().unwrap_or_else(|p| p.into_inner()).pending.remove(&key);
                }
                Err(e) => {
                    tracing::warn!(file = %next.display(), error = %e, retry_in_ms = backoff.as_millis() as u64,
                        "sending an on-failure document to SQS failed; it stays in the outbox");
                    let q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                    // Wait out the backoff unless stopped first.
                    let _ = self.wake.wait_timeout_while(q, backoff, |q| !q.stopped);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Send one outbox file and delete it.
    fn send(&self, path: &Path, urls: &mut HashMap<String, String>) -> Result<(), String> {
        let contents = match fs::read_to_string(path) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        let Some((queue_arn, document)) = contents.split_once('\n') else {
            return Err(format!("{} has no queue line", path.display()));
        };
        let url = match urls.get(queue_arn) {
            Some(u) => u.clone(),
            None => {
                let u = self.queue_url(queue_arn)?;
                urls.insert(queue_arn.to_string(), u.clone());
                u
            }
        };
        let reply = self.call("SendMessage", json!({ "QueueUrl": url, "MessageBody": document }))?;
        if reply.get("MessageId").is_none() {
            return Err(format!("SendMessage answered without a MessageId: {reply}"));
        }
        fs::remove_file(path).map_err(|e| format!("removing {}: {e}", path.display()))?;
        if let Some(dir) = path.parent() {
            let _ = sync_dir(dir);
        }
        Ok(())
    }

    /// `GetQueueUrl` for `arn:aws:sqs:<region>:<account>:<name>`.
    fn queue_url(&self, arn: &str) -> Result<String, String> {
        let parts: Vec<&str> = arn.split(':').collect();
        let (Some(account), Some(name)) = (parts.get(4), parts.get(5)) else {
            return Err(format!("{arn} is not an SQS queue ARN"));
        };
        let reply = self.call("GetQueueUrl", json!({ "QueueName": name, "QueueOwnerAWSAccountId": account }))?;
        reply
            .get("QueueUrl")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("GetQueueUrl answered {reply}"))
    }

    fn call(&self, action: &str, body: Value) -> Result<Value, String> {
        let target = format!("AmazonSQS.{action}");
        let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", target.as_str())];
        let url = format!("{}/", self.endpoint);
        let call = Call {
            method: Method::POST,
            url: &url,
            headers: &headers,
            body: body.to_string().into_bytes(),
            service: "sqs",
            timeout: Duration::from_secs(30),
            max_body: 1024 * 1024,
        };
        let reply = self.outbound.send(call, &self.abort).map_err(|e| format!("{action} to {}: {e}", self.endpoint))?;
        let text = String::from_utf8_lossy(&reply.body);
        if !reply.status.is_success() {
            return Err(format!("{action} to {} answered {}: {text}", self.endpoint, reply.status));
        }
        serde_json::from_str(&text).map_err(|e| format!("{action} answered non-JSON ({e}): {text}"))
    }
}
