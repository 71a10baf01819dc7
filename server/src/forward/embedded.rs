//! Forwarders running inside `shardlog serve` (`serve --forward LOCAL=DEST[@ENDPOINT]`): one
//! task per spec on the server's runtime, over the server's engine. A forwarder that stops
//! on an error (the destination stream missing, bad credentials) is logged and started again
//! after a backoff, so a server keeps forwarding once the cause is fixed; its stats stay
//! readable through [`RunningForward::stats`] the whole time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use shardlog::Engine;
use tokio::sync::watch;

use crate::forward::remote::RemoteConfig;
use crate::forward::setup::{local_to_remote, ForwardSpec};
use crate::forward::{BackoffPolicy, ForwardOptions, ForwardStats, Outcome, StatsSnapshot};

/// A forwarder run by [`start`] (and by `serve --forward`).
#[derive(Debug, Clone)]
pub struct RunningForward {
    /// What it forwards.
    pub spec: ForwardSpec,
    current: Arc<Mutex<Arc<ForwardStats>>>,
}

impl RunningForward {
    /// The stats of its current run (a restart after an error starts new counters).
    pub fn stats(&self) -> StatsSnapshot {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).snapshot()
    }
}

/// The region of a stream ARN (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`).
pub fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("kinesis"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

impl RunningForward {
    /// A forwarder for `spec`, not started yet (its stats are zero until [`start`] runs it).
    pub fn new(spec: ForwardSpec) -> RunningForward {
        RunningForward { spec, current: Arc::new(Mutex::new(Arc::new(ForwardStats::default()))) }
    }
}

/// Run `forwarders` on `runtime` over `engine`; they stop when `stop` turns true.
pub fn start(
    runtime: &tokio::runtime::Handle,
    engine: &Engine,
    forwarders: &[RunningForward],
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    forwarders
        .iter()
        .map(|f| {
            let (engine, spec, stop, current) = (engine.clone(), f.spec.clone(), stop.clone(), Arc::clone(&f.current));
            runtime.spawn(async move { supervise(engine, spec, stop, current).await })
        })
        .collect()
}

async fn supervise(
    engine: Engine,
    spec: ForwardSpec,
    mut stop: watch::Receiver<bool>,
    current: Arc<Mutex<Arc<ForwardStats>>>,
) {
    let remote = RemoteConfig {
        endpoint_url: spec.endpoint_url.clone(),
        region: arn_region(&spec.to_stream).map(str::to_string),
        ..Default::default()
    };
    let restart = BackoffPolicy { base: Duration::from_secs(1), max: Duration::from_secs(60) };
    let mut failures = 0u32;
    let label = format!("{} -> {}@{}", spec.local, spec.to_stream, spec.endpoint_url.as_deref().unwrap_or("aws"));
    loop {
        if *stop.borrow() {
            return;
        }
        let built =
            local_to_remote(engine.clone(), &spec.local, &spec.to_stream, &remote, None, ForwardOptions::default())
                .await;
        let result = match built {
            Ok(f) => {
                let stats = f.stats();
                *current.lock().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&stats);
                tracing::info!(forward = %label, "forwarding");
                let run = f.run(stop.clone());
                tokio::pin!(run);
                // A progress line every half minute in the server's log.
                let mut ticker = tokio::time::interval(Duration::from_secs(30));
                ticker.tick().await;
                loop {
                    tokio::select! {
                        r = &mut run => break r,
                        _ = ticker.tick() => {
                            let s = stats.snapshot();
                            tracing::info!(
                                forward = %label,
                                records_forwarded = s.records_forwarded,
                                records_behind = s.records_behind.unwrap_or(0),
                                millis_behind = s.millis_behind,
                                retries = s.backoffs,
                                "forward progress"
                            );
                        }
                    }
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(Outcome::Stopped) | Ok(Outcome::CaughtUp) => return,
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = restart.jittered(failures).max(Duration::from_millis(500));
                tracing::error!(forward = %label, error = %e, retry_in_ms = wait.as_millis() as u64, "forwarder stopped");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_a_stream_arn() {
        assert_eq!(arn_region("arn:aws:kinesis:eu-west-1:123456789012:stream/orders"), Some("eu-west-1"));
        assert_eq!(arn_region("arn:aws-cn:kinesis:cn-north-1:123456789012:stream/o"), Some("cn-north-1"));
        assert_eq!(arn_region("orders"), None);
        assert_eq!(arn_region("arn:aws:s3:::bucket"), None);
    }
}
