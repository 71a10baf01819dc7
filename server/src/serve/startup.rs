//! Start-up streams (`--create-stream`, `SHARDLOG_CREATE_STREAMS`): created before the
//! listener opens, kept as they are when they already exist (a restart over the same data
//! directory is not an error, and an existing stream's shard count or mode is not changed —
//! a difference is logged as a warning).
//!
//! With modelled status delays a new stream is `CREATING` for a while; start-up waits until
//! each stream is `ACTIVE` (and until a same-named stream that is still `DELETING` is gone),
//! so clients never see a start-up stream missing. Control-plane rate limits
//! (`--limits kinesis`) are waited out the same way.

use std::time::{Duration, Instant};

use shardlog::engine::{CreateStreamInput, StreamMode, StreamRef, StreamStatus};
use shardlog::{Engine, Error};

use super::args::{StartupCapacity, StartupStream};
use crate::ServeError;

/// How long start-up waits for one stream beyond its modelled creation delay.
const PATIENCE: Duration = Duration::from_secs(60);
/// Poll period while a stream is not ACTIVE yet.
const POLL: Duration = Duration::from_millis(10);

/// Create (or keep) every start-up stream and wait until each is ACTIVE.
pub(crate) fn ensure(engine: &Engine, streams: &[StartupStream]) -> Result<(), ServeError> {
    let delays = engine.config().status_delays;
    let patience = PATIENCE + delays.map_or(Duration::ZERO, |d| d.creating + d.deleting);
    for s in streams {
        ensure_one(engine, s, patience)?;
    }
    Ok(())
}

fn ensure_one(engine: &Engine, s: &StartupStream, patience: Duration) -> Result<(), ServeError> {
    let deadline = Instant::now() + patience;
    let fail = |e: Error| ServeError::run(format!("start-up stream {s}: {e}"));
    let mut created = false;
    loop {
        match engine.describe_stream_summary(StreamRef::name(&s.name)) {
            Ok(d) if d.stream_status == StreamStatus::Active => {
                if !created {
                    let same = match s.capacity {
                        StartupCapacity::Shards(n) => {
                            d.stream_mode == StreamMode::Provisioned && d.open_shard_count == n
                        }
                        StartupCapacity::OnDemand => d.stream_mode == StreamMode::OnDemand,
                    };
                    if same {
                        tracing::info!(stream = %s.name, "start-up stream exists");
                    } else {
                        tracing::warn!(
                            stream = %s.name,
                            wanted = %s,
                            mode = d.stream_mode.as_str(),
                            open_shards = d.open_shard_count,
                            "start-up stream exists with another capacity; kept as it is"
                        );
                    }
                }
                return Ok(());
            }
            Ok(_) => {}
            Err(Error::ResourceNotFound { .. }) => {
                let input = CreateStreamInput {
                    stream_name: s.name.clone(),
                    shard_count: match s.capacity {
                        StartupCapacity::Shards(n) => Some(n),
                        StartupCapacity::OnDemand => None,
                    },
                    stream_mode: Some(s.mode()),
                    ..CreateStreamInput::default()
                };
                match engine.create_stream(input) {
                    Ok(()) => {
                        created = true;
                        tracing::info!(stream = %s, "created start-up stream");
                    }
                    // Still DELETING under modelled delays, or rate-limited: try again.
                    Err(Error::ResourceInUse { .. } | Error::LimitExceeded { .. }) => {}
                    Err(e) => return Err(fail(e)),
                }
            }
            Err(Error::LimitExceeded { .. }) => {}
            Err(e) => return Err(fail(e)),
        }
        if Instant::now() >= deadline {
            return Err(ServeError::run(format!("start-up stream {s} did not become ACTIVE within {patience:?}")));
        }
        std::thread::sleep(POLL);
    }
}
