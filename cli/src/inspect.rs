//! `shardlog inspect DIR`: a table of every shard log's segments, indexes and markers.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use shardlog::check::{self, CheckOptions, DirReport, IndexStatus, MarkerState, SegmentReport, ShardReport};
use shardlog::io::RealVfs;

use crate::format::{bytes, thousands, time_ms};
use crate::{existing_dir, Failure};

/// Examine `dir` (read-only) for `inspect` and `verify`.
pub(crate) fn examine(dir: &Path, index_interval: u32) -> Result<DirReport, Failure> {
    existing_dir(dir)?;
    let opts = CheckOptions { index_interval_bytes: index_interval, ..CheckOptions::default() };
    check::examine_with(&RealVfs::shared(), dir, &opts).map_err(|e| Failure::usage(e.to_string()))
}

pub(crate) fn run(dir: &Path, index_interval: u32) -> Result<ExitCode, Failure> {
    let report = examine(dir, index_interval)?;
    print!("{}", render(&report, index_interval));
    Ok(ExitCode::SUCCESS)
}

/// The whole report as text.
pub(crate) fn render(report: &DirReport, index_interval: u32) -> String {
    let mut out = String::new();
    if report.shards.is_empty() {
        let _ =
            writeln!(out, "no shard logs (directories of <20 digits>.log segments) under {}", report.root.display());
    }
    for shard in &report.shards {
        render_shard(&mut out, shard, index_interval);
    }
    if report.shards.len() > 1 {
        let segs: usize = report.shards.iter().map(|s| s.segments.len()).sum();
        let recs: u64 = report.shards.iter().map(ShardReport::total_records).sum();
        let b: u64 = report.shards.iter().map(ShardReport::total_bytes).sum();
        let _ = writeln!(
            out,
            "{} shard logs, {segs} segments, {} records, {}",
            report.shards.len(),
            thousands(recs),
            bytes(b)
        );
    }
    for p in &report.problems {
        let _ = writeln!(out, "problem: {p}");
    }
    out
}

fn clean_state(shard: &ShardReport) -> String {
    match &shard.clean {
        MarkerState::Absent => "absent (the next open scans the active segment)".into(),
        MarkerState::Present(m) if shard.clean_matches => {
            format!(
                "present: active segment {} closed cleanly at {} bytes (the next open skips recovery)",
                m.base, m.len
            )
        }
        MarkerState::Present(m) => {
            format!("present but stale: names segment {} of {} bytes (ignored; the next open scans)", m.base, m.len)
        }
        MarkerState::Invalid(why) => format!("invalid: {why}"),
    }
}

fn horizon_state(shard: &ShardReport) -> String {
    match &shard.horizon {
        MarkerState::Absent => "none (nothing trimmed)".into(),
        MarkerState::Present(h) => format!("offset {}", thousands(*h)),
        MarkerState::Invalid(why) => format!("invalid: {why}"),
    }
}

fn index_state(s: &SegmentReport) -> &'static str {
    match s.index.status {
        IndexStatus::Absent => "absent",
        IndexStatus::Consistent => "consistent",
        IndexStatus::Stale => "stale",
        IndexStatus::Bad => "BAD",
    }
}

fn render_shard(out: &mut String, shard: &ShardReport, index_interval: u32) {
    let _ = writeln!(out, "shard log {}", shard.dir.display());
    let _ = writeln!(out, "  clean marker  {}", clean_state(shard));
    let _ = writeln!(out, "  trim horizon  {}", horizon_state(shard));
    let _ = writeln!(
        out,
        "  offsets       {} .. {} ({} records retained)",
        thousands(shard.start_offset()),
        thousands(shard.end_offset()),
        thousands(shard.end_offset().saturating_sub(shard.start_offset()))
    );
    let header = [
        "segment",
        "base",
        "end",
        "bytes",
        "batches",
        "records",
        "idx mem",
        "idx file",
        "B/entry",
        "index files",
        "first arrival",
        "last arrival",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for s in &shard.segments {
        let name = s.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let mut flags = String::new();
        if s.active {
            flags.push_str(" (active)");
        }
        if s.below_horizon {
            flags.push_str(" (trimmed)");
        }
        let entries = s.index.file_entries.unwrap_or(s.scan_index_entries);
        let density = if entries == 0 { "-".to_string() } else { thousands(s.valid_bytes / entries as u64) };
        rows.push(vec![
            format!("{name}{flags}"),
            thousands(s.base_offset),
            thousands(s.end_offset),
            thousands(s.bytes),
            thousands(s.batches),
            thousands(s.records),
            thousands(s.scan_index_entries as u64),
            s.index.file_entries.map_or_else(|| "-".into(), |n| thousands(n as u64)),
            density,
            index_state(s).to_string(),
            s.first_arrival_ms.map_or_else(|| "-".into(), time_ms),
            s.last_arrival_ms.map_or_else(|| "-".into(), time_ms),
        ]);
    }
    let mem: usize = shard.segments.iter().map(|s| s.scan_index_entries).sum();
    let file: usize = shard.segments.iter().filter_map(|s| s.index.file_entries).sum();
    let valid: u64 = shard.segments.iter().map(|s| s.valid_bytes).sum();
    rows.push(vec![
        format!("total ({} segments)", shard.segments.len()),
        String::new(),
        String::new(),
        thousands(shard.total_bytes()),
        thousands(shard.total_batches()),
        thousands(shard.total_records()),
        thousands(mem as u64),
        thousands(file as u64),
        if mem == 0 { "-".into() } else { thousands(valid / mem as u64) },
        String::new(),
        shard.segments.first().and_then(|s| s.first_arrival_ms).map_or_else(String::new, time_ms),
        shard.segments.last().and_then(|s| s.last_arrival_ms).map_or_else(String::new, time_ms),
    ]);
    table(out, &rows);
    let _ = writeln!(
        out,
        "  idx mem: entries of the in-memory sparse index at a {index_interval}-byte interval; idx file: entries in \
         the .index file; B/entry: log bytes per index entry"
    );
    let errors = shard.problems.iter().filter(|p| p.kind.is_error()).count();
    if shard.problems.is_empty() {
        let _ = writeln!(out, "  no problems found");
    } else {
        let _ = writeln!(
            out,
            "  {} problem(s), {errors} of them error(s) (`shardlog verify` for the full list):",
            shard.problems.len()
        );
        for p in &shard.problems {
            let _ = writeln!(out, "    {p}");
        }
    }
    let _ = writeln!(out);
}

/// Columns: first and the last three left-aligned, the rest right-aligned.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().map(|r| r.get(c).map_or(0, |s| s.chars().count())).max().unwrap_or(0)).collect();
    for row in rows {
        let mut line = String::from("  ");
        for (c, cell) in row.iter().enumerate() {
            let w = widths.get(c).copied().unwrap_or(0);
            if c == 0 || c + 3 >= cols {
                let _ = write!(line, "{cell:<w$}  ");
            } else {
                let _ = write!(line, "{cell:>w$}  ");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
