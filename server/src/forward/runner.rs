//! Running a forwarder as a command: a tokio runtime, Ctrl-C / SIGTERM as the stop signal,
//! and a periodic callback with the stats (the progress display, `--json` lines).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::forward::{ForwardError, Forwarder, Outcome, StatsSnapshot};

/// How a command run ended: the outcome (or the error) and the final stats.
pub type RunResult = (Result<Outcome, ForwardError>, StatsSnapshot);

/// Build a forwarder with `build` and run it on a new runtime until it ends or the process
/// gets SIGINT/SIGTERM (then in-flight windows finish or are abandoned, never half
/// checkpointed). `on_tick` gets the stats every `tick`.
pub fn run_until_signal<B>(build: B, tick: Duration, mut on_tick: impl FnMut(&StatsSnapshot) + Send) -> RunResult
where
    B: Future<Output = Result<Forwarder, ForwardError>> + Send,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("shardlog-forward").build()
    {
        Ok(r) => r,
        Err(e) => return (Err(ForwardError(format!("cannot start the runtime: {e}"))), StatsSnapshot::default()),
    };
    runtime.block_on(async move {
        let forwarder = match build.await {
            Ok(f) => f,
            Err(e) => return (Err(e), StatsSnapshot::default()),
        };
        let stats = forwarder.stats();
        let (stop_tx, stop_rx) = watch::channel(false);
        let run = tokio::spawn(forwarder.run(stop_rx));
        tokio::pin!(run);
        let signal = stop_signal();
        tokio::pin!(signal);
        let mut ticker = tokio::time::interval(tick.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut signalled = false;
        let outcome = loop {
            tokio::select! {
                r = &mut run => break r.unwrap_or_else(|e| Err(ForwardError(format!("the forwarder failed: {e}")))),
                _ = &mut signal, if !signalled => {
                    signalled = true;
                    let _ = stop_tx.send(true);
                }
                _ = ticker.tick() => on_tick(&stats.snapshot()),
            }
        };
        (outcome, stats.snapshot())
    })
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
