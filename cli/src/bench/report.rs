//! The final table and the JSON object of a full `shardlog bench` run.

use std::fmt::Write as _;

use super::consumers::{ConsumerReport, Side};
use super::scale::{Step, P99_LIMIT};
use super::{baseline, FullRun, KINESIS_BYTES_PER_S, KINESIS_RECORDS_PER_S};
use crate::format::{rate, thousands};

/// Goal: shards sustained at the full Kinesis write rate.
pub(crate) const GOAL_SHARDS: u32 = 500;
/// Goal: single-shard multiple of the Kinesis target at 100 B records.
pub(crate) const GOAL_SINGLE_MULTIPLE: f64 = 1000.0;

fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

fn single_100b(run: &FullRun) -> Option<f64> {
    run.single.iter().find(|s| s.record_bytes <= 1024).map(|s| s.write.kinesis_multiple().0)
}

/// The run as one JSON object.
pub(crate) fn json(run: &FullRun) -> serde_json::Value {
    let scale = run.scale.as_ref().map(|s| {
        let best = s.best();
        let fail = s.first_failure();
        serde_json::json!({
            "settings": {
                "start_shards": run.scale_settings.start,
                "max_shards": run.scale_settings.max,
                "step_seconds": run.scale_settings.step.as_secs_f64(),
                "producers": run.scale_settings.producers,
                "tick_ms": run.scale_settings.tick.as_millis() as u64,
                "p99_limit_ms": P99_LIMIT.as_millis() as u64,
            },
            "steps": s.steps.iter().map(Step::json).collect::<Vec<_>>(),
            "largest_sustained": best.map(|b| serde_json::json!({
                "shards": b.shards,
                "mib_per_s": b.mib_per_s(),
                "records_per_s": b.records_per_s(),
                "put_p99_ms": ms(b.put.quantile(0.99)),
            })),
            "first_failure": fail.map(|f| serde_json::json!({"shards": f.shards, "reason": f.reason})),
        })
    });
    let best_shards = run.scale.as_ref().and_then(|s| s.best()).map_or(0, |b| b.shards);
    let single = single_100b(run);
    serde_json::json!({
        "durability": run.durability.name(),
        "dir": run.dir.as_ref().map(|d| d.display().to_string()),
        "wall_seconds": run.wall_seconds,
        "load_average_at_start": run.load_at_start,
        "cpus": std::thread::available_parallelism().map_or(0, usize::from),
        "kinesis_per_shard_target": {"records_per_s": KINESIS_RECORDS_PER_S, "bytes_per_s": KINESIS_BYTES_PER_S},
        "baseline": run.baseline.as_ref().map(|(p, r)| baseline::json(p, r, None)),
        "single_shard": run.single.iter().map(super::single::Single::json).collect::<Vec<_>>(),
        "scale": scale,
        "consumers": run.consumers.as_ref().map(Step::json),
        "goals": {
            "shards_at_kinesis_rate": {
                "goal": GOAL_SHARDS,
                "measured": run.scale.as_ref().map(|_| best_shards),
                "met": run.scale.as_ref().map(|_| best_shards >= GOAL_SHARDS),
            },
            "single_shard_multiple_100b": {
                "goal": GOAL_SINGLE_MULTIPLE,
                "measured": single,
                "met": single.map(|m| m >= GOAL_SINGLE_MULTIPLE),
            },
        },
    })
}

fn side_line(out: &mut String, name: &str, s: &Side) {
    let drained = match s.drained_after {
        Some(t) => format!("all {} received {:.2} s after the producers stopped", thousands(s.expected), t),
        None => {
            format!("{} of {} received (did not catch up within 5 s)", thousands(s.received), thousands(s.expected))
        }
    };
    let _ = writeln!(
        out,
        "  {name:<17} latency p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms; {drained}",
        ms(s.latency.quantile(0.5)),
        ms(s.latency.quantile(0.99)),
        ms(s.latency.max()),
    );
    for e in &s.errors {
        let _ = writeln!(out, "    error: {e}");
    }
}

fn consumers_section(out: &mut String, step: &Step, c: &ConsumerReport) {
    let _ = writeln!(
        out,
        "producers at {} shards during it: {:.1} MiB/s, {} records/s, put p99 {:.2} ms — {}",
        step.shards,
        step.mib_per_s(),
        rate(step.records_per_s()).trim_end(),
        ms(step.put.quantile(0.99)),
        step.reason.as_deref().unwrap_or("sustained")
    );
    let _ = writeln!(out, "append→receipt (PutRecords sent → record in the consumer's hands):");
    side_line(out, &format!("polling ({} ms)", c.poll_interval.as_millis()), &c.polling);
    side_line(out, "push (SubscribeToShard)", &c.push);
    let series = |f: fn(&super::consumers::BehindSample) -> i64| {
        c.behind.iter().map(|s| if f(s) < 0 { "-".to_string() } else { f(s).to_string() }).collect::<Vec<_>>().join(" ")
    };
    let _ = writeln!(out, "MillisBehindLatest, largest per {} ms sample:", super::consumers::SAMPLE_PERIOD.as_millis());
    let _ = writeln!(out, "  polling: {}", series(|s| s.polling_ms));
    let _ = writeln!(out, "  push:    {}", series(|s| s.push_ms));
}

/// The run as a table.
pub(crate) fn table(run: &FullRun) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "shardlog bench: engine durability {}; data in {}; {:.0} s; {} CPUs, load average {} at the start",
        run.durability.describe(),
        run.dir.as_ref().map_or("a temporary directory".to_string(), |d| d.display().to_string()),
        run.wall_seconds,
        std::thread::available_parallelism().map_or(0, usize::from),
        run.load_at_start.map_or("unknown".to_string(), |l| format!("{l:.2}"))
    );
    let _ = writeln!(out, "Kinesis per-shard write target: 1,000 records/s and 1 MiB/s");
    if let Some((p, r)) = &run.baseline {
        let _ = writeln!(out, "\n== baseline: one ShardLog vs a raw buffered file with a CRC per record ==");
        out.push_str(&baseline::table(p, r, None));
    }
    if !run.single.is_empty() {
        let _ = writeln!(
            out,
            "\n== single shard, maximum rates through the engine (PutRecords, then GetRecords of everything) =="
        );
        let _ = writeln!(
            out,
            "{:>9} {:>9} {:>13} {:>10} {:>12} {:>13} {:>10} {:>15}",
            "record", "producers", "write rec/s", "MiB/s", "x target", "read rec/s", "MiB/s", "put p50/p99 ms"
        );
        for s in &run.single {
            let (m, binding) = s.write.kinesis_multiple();
            let _ = writeln!(
                out,
                "{:>9} {:>9} {:>13} {:>10.1} {:>12} {:>13} {:>10.1} {:>15}",
                crate::format::bytes(s.record_bytes as u64),
                s.producers,
                rate(s.write.records_per_s()),
                s.write.mib_per_s(),
                format!("{}x", thousands(m.round() as u64)),
                rate(s.read.records_per_s()),
                s.read.mib_per_s(),
                format!("{:.2}/{:.2}", ms(s.put.quantile(0.5)), ms(s.put.quantile(0.99))),
            );
            let _ = writeln!(out, "{:>9} (at {} B records the {binding} limit binds)", "", s.record_bytes);
        }
    }
    if let Some(scale) = &run.scale {
        let st = &run.scale_settings;
        let _ = writeln!(
            out,
            "\n== Kinesis-rate scale: every shard fed 1,000 records/s and 1 MiB/s of ~1 KiB records ==\n\
             ({} producer threads, PutRecords paced every {} ms, {:.1} s per step; sustained = every shard at \
             >= 99% of its target, no failed entry, put p99 <= {} ms)",
            st.producers,
            st.tick.as_millis(),
            st.step.as_secs_f64(),
            P99_LIMIT.as_millis()
        );
        let _ = writeln!(
            out,
            "{:>7} {:>10} {:>12} {:>18} {:>21} {:>10} {:>8} {:>8}  verdict",
            "shards", "MiB/s", "records/s", "per-shard MiB/s", "put p50/p99/max ms", "max lag ms", "setup s", "flush s"
        );
        for s in &scale.steps {
            let _ = writeln!(
                out,
                "{:>7} {:>10.1} {:>12} {:>18} {:>21} {:>10.0} {:>8.1} {:>8.1}  {}",
                s.shards,
                s.mib_per_s(),
                rate(s.records_per_s()),
                format!("{:.3} (min {:.3})", s.per_shard_mib_per_s(), s.min_shard_mib_per_s()),
                format!("{:.2}/{:.2}/{:.1}", ms(s.put.quantile(0.5)), ms(s.put.quantile(0.99)), ms(s.put.max())),
                s.max_lag_ms,
                s.setup_seconds,
                s.flush_seconds,
                s.reason.as_deref().unwrap_or("sustained")
            );
        }
        let _ = writeln!(
            out,
            "(max lag: latest acknowledgement behind its wall-clock schedule; setup: opening new shards' logs; \
             flush: fdatasync of every shard right after the step, i.e. how far durability trailed the \
             acknowledgements)"
        );
        match scale.best() {
            Some(b) => {
                let _ = writeln!(
                    out,
                    "largest sustained: {} shards = {:.1} MiB/s and {} records/s aggregate",
                    b.shards,
                    b.mib_per_s(),
                    rate(b.records_per_s()).trim_end()
                );
            }
            None => {
                let _ = writeln!(out, "largest sustained: none of the steps");
            }
        }
        if let Some(f) = scale.first_failure() {
            let _ = writeln!(out, "first failure: {} shards: {}", f.shards, f.reason.as_deref().unwrap_or(""));
        } else {
            let _ = writeln!(out, "no step failed (up to --max-shards {})", st.max);
        }
    }
    if let Some(step) = &run.consumers {
        if let Some(c) = &step.consumers {
            let _ = writeln!(
                out,
                "\n== consumers during the scale load at {} shards: one polling reader per shard (GetRecords loop) and \
                 one push subscription per shard ==",
                step.shards
            );
            consumers_section(&mut out, step, c);
        }
    }
    let _ = writeln!(out, "\n== goals ==");
    if let Some(scale) = &run.scale {
        let best = scale.best().map_or(0, |b| b.shards);
        let _ = writeln!(
            out,
            ">= {GOAL_SHARDS} shards at the full Kinesis write rate ({}): {best} sustained — {}",
            run.durability.name(),
            if best >= GOAL_SHARDS { "met" } else { "MISSED" }
        );
    }
    if let Some(m) = single_100b(run) {
        let _ = writeln!(
            out,
            ">= {}x the Kinesis per-shard target on one shard at 100 B records: {}x — {}",
            thousands(GOAL_SINGLE_MULTIPLE as u64),
            thousands(m.round() as u64),
            if m >= GOAL_SINGLE_MULTIPLE { "met" } else { "MISSED" }
        );
    }
    if let Some((_, r)) = &run.baseline {
        let _ = writeln!(
            out,
            "one ShardLog vs the raw-file ceiling: append {:.2}x, read {:.2}x (peers: cargo bench -p shardlog --bench peers)",
            r.append_ratio(),
            r.read_ratio()
        );
    }
    out
}
