//! `shardlog verify DIR`: every problem as `<file>: byte <offset>: <what>`, exit 1 on damage.
//!
//! A torn tail of an active segment and stale cache files are printed as warnings but do not
//! fail the run: the next open repairs them. Corruption, gaps, index files that disagree with
//! the log, unknown format versions and unreadable files exit 1.

use std::path::Path;
use std::process::ExitCode;

use shardlog::check::ShardReport;

use crate::format::thousands;
use crate::inspect::examine;
use crate::Failure;

pub(crate) fn run(dir: &Path, index_interval: u32) -> Result<ExitCode, Failure> {
    let report = examine(dir, index_interval)?;
    let mut errors = 0usize;
    let mut warnings = 0usize;
    for p in report.all_problems() {
        if p.kind.is_error() {
            errors += 1;
            println!("{p}");
        } else {
            warnings += 1;
            println!("{p} [warning: repaired by the next open]");
        }
    }
    let segments: usize = report.shards.iter().map(|s| s.segments.len()).sum();
    let records: u64 = report.shards.iter().map(ShardReport::total_records).sum();
    let batches: u64 = report.shards.iter().map(ShardReport::total_batches).sum();
    if report.shards.is_empty() {
        println!(
            "warning: no shard logs (directories of <20 digits>.log segments) under {}; nothing to verify",
            report.root.display()
        );
    }
    let summary = format!(
        "{} shard log(s), {segments} segment(s), {} batches, {} records checked",
        report.shards.len(),
        thousands(batches),
        thousands(records)
    );
    if errors > 0 {
        println!("FAILED: {errors} error(s), {warnings} warning(s) in {summary}");
        Ok(ExitCode::from(1))
    } else if warnings > 0 {
        println!("OK with {warnings} warning(s): {summary}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("OK: {summary}");
        Ok(ExitCode::SUCCESS)
    }
}
