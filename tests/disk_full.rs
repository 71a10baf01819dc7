//! Reliability R5, real disk-full: an [`Engine`] fills a tiny real file system until the
//! kernel says `ENOSPC`, gets typed errors, loses nothing acknowledged, and appends resume once
//! space is freed — on the same engine handle, without reopening.
//!
//! Two file systems: a 1 MiB tmpfs and a 2 MiB ext4 image loop-mounted from a temp file that
//! lives *off* the small file system (as does everything the checker keeps). Mounting needs root
//! (CI runs as root on this machine kind); where `mount` is impossible each test prints
//! `SKIPPED: <reason>` and passes. The mount is undone by a guard in every case (a bounded
//! number of `umount` attempts, then a lazy unmount).
//!
//! The workload (`Durability::Sync`, 64 KiB segments, no age-based roll, a `ManualClock` one
//! second per put):
//!
//! 1. a one-shard stream is filled with 1 KiB puts until they fail, then with 100-byte and
//!    1-byte puts until those fail too, also after a journal commit (`sync -f`: ext4 reuses
//!    freed blocks only then). Every write-path error must be typed: `is_storage_full()`.
//!    Space a segment cannot use but a small new file could (ext4 may need an extent block
//!    besides the data block) is taken by 1 KiB "plug" files;
//! 2. a metadata commit (`AddTagsToStream`) must fail with the same typed error, the catalog
//!    stays the old one and `MANIFEST.tmp` is gone (the old `MANIFEST` stays in force);
//! 3. every acknowledged put reads back identical, in order, under its sequence number;
//! 4. space is freed — by deleting another file (a ballast the test wrote first, and the
//!    plugs), or by `enforce_retention()` after the clock moved past the retention of the older
//!    half of the records — and puts and a metadata commit succeed again on the same handle;
//! 5. a retention pass on the nearly full disk, a second fill (and, in the retention variant,
//!    a second pass on the full disk), checks again;
//! 6. close (on a full disk this may fail, typed: the index files and CLEAN marker do not fit;
//!    the data was fdatasync'd first), reopen, check, make room, one more put.
//!
//! The retention variants are `#[ignore]`d: on a really full disk a trim cannot write its
//! `HORIZON.tmp` before unlinking, so retention frees nothing (see notes/bugs.md). Run them with
//! `cargo test -p shardlog --test disk_full -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardlog::engine::*;
use shardlog::kinesis::SequenceNumber;
use shardlog::{Clock, Durability, Engine, EngineConfig, Error, LogConfig, ManualClock};

/// Start of the workload's clock.
const T0: i64 = 1_767_225_600_000;
const HOUR_MS: i64 = 3_600_000;
/// The stream's retention (the Kinesis default).
const RETENTION_MS: i64 = 24 * HOUR_MS;
const STREAM: &str = "full";
const SHARD: &str = "shardId-000000000000";
/// Upper bound on puts per fill phase (the file systems hold ~1,000 1 KiB records).
const MAX_PUTS: usize = 20_000;

// ---------------------------------------------------------------------------------------
// Mounting
// ---------------------------------------------------------------------------------------

/// A mounted file system, unmounted on drop.
struct Mount {
    point: PathBuf,
    /// Holds the mount point and (for ext4) the image; removed after the unmount.
    _holder: tempfile::TempDir,
}

impl Drop for Mount {
    fn drop(&mut self) {
        for _ in 0..20 {
            match Command::new("umount").arg(&self.point).output() {
                Ok(o) if o.status.success() => return,
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        // Still busy after 2 s: detach it so the temp dir can go; the kernel finishes later.
        let _ = Command::new("umount").arg("-l").arg(&self.point).status();
        eprintln!("warning: {} needed a lazy unmount", self.point.display());
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A 1 MiB tmpfs.
fn mount_tmpfs() -> Result<Mount, String> {
    if !is_root() {
        return Err("not root (mounting a tmpfs needs root)".into());
    }
    let holder = tempfile::tempdir().map_err(|e| e.to_string())?;
    let point = holder.path().join("mnt");
    std::fs::create_dir(&point).map_err(|e| e.to_string())?;
    run(Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(&point))?;
    Ok(Mount { point, _holder: holder })
}

/// A 2 MiB ext4 image (in a temp dir on the big file system), loop-mounted.
fn mount_ext4() -> Result<Mount, String> {
    if !is_root() {
        return Err("not root (loop-mounting an image needs root)".into());
    }
    let holder = tempfile::tempdir().map_err(|e| e.to_string())?;
    let image = holder.path().join("ext4.img");
    let point = holder.path().join("mnt");
    std::fs::create_dir(&point).map_err(|e| e.to_string())?;
    std::fs::File::create(&image).and_then(|f| f.set_len(2 << 20)).map_err(|e| e.to_string())?;
    run(Command::new("mkfs.ext4").args(["-F", "-q"]).arg(&image))?;
    run(Command::new("mount").args(["-o", "loop"]).arg(&image).arg(&point))?;
    Ok(Mount { point, _holder: holder })
}

fn free_bytes(path: &Path) -> String {
    Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().nth(1).map(|l| l.trim().to_string()))
        .unwrap_or_else(|| "?".into())
}

/// Fill whatever the engine's files cannot use any more (a block too few for a segment to
/// grow, say, while a small new file still fits) with 1 KiB "plug" files, so the file system
/// is full for every kind of write. Returns how many plugs were written.
fn plug(mount: &Path) -> usize {
    let mut n = 0;
    for _ in 0..10 {
        let _ = Command::new("sync").arg("-f").arg(mount).status();
        let before = n;
        while n < 512 && std::fs::write(mount.join(format!("plug-{n}")), [0x5a; 1024]).is_ok() {
            n += 1;
        }
        if n == before {
            break;
        }
    }
    n
}

fn unplug(mount: &Path) {
    for e in std::fs::read_dir(mount).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("plug-") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------

fn config(clock: &ManualClock) -> EngineConfig {
    EngineConfig {
        durability: Durability::Sync,
        log: LogConfig {
            segment_max_bytes: 64 * 1024,
            segment_max_age: None,
            index_interval_bytes: 4096,
            ..LogConfig::default()
        },
        clock: Arc::new(clock.clone()),
        retention_check_interval: None,
        ..EngineConfig::default()
    }
}

/// Deterministic, distinct payload of put number `i`.
fn payload(i: u64, len: usize) -> Bytes {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Bytes::from(
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>(),
    )
}

/// A put that was acknowledged.
#[derive(Debug, Clone)]
struct Acked {
    seq: SequenceNumber,
    arrival_ms: i64,
    key: String,
    data: Bytes,
}

struct Run {
    engine: Engine,
    clock: ManualClock,
    acked: Vec<Acked>,
    next_id: u64,
    /// Errors seen, by a short description, with counts.
    errors: BTreeMap<String, usize>,
}

/// Reopen after a close and drop. The other test thread of this file keeps spawning
/// `mount`/`mkfs`/`sync`; between fork and exec each child briefly holds a copy of every open
/// descriptor, the engine's `LOCK` among them, so its flock can outlive our drop by a moment.
/// Retry `Locked` a bounded number of times; any other error, or a lock that stays, fails.
fn reopen(root: &std::path::Path, clock: &ManualClock) -> Engine {
    for _ in 0..100 {
        match Engine::open(root, config(clock)) {
            Err(Error::Locked { .. }) => std::thread::sleep(Duration::from_millis(20)),
            other => return other.unwrap(),
        }
    }
    Engine::open(root, config(clock)).unwrap()
}

fn describe(e: &Error) -> String {
    match e {
        Error::Io { op, source, .. } => format!("Io {op}: {source}"),
        Error::Poisoned { cause, .. } => format!("Poisoned ({cause})"),
        other => format!("{other:?}"),
    }
}

impl Run {
    /// One put of `len` bytes; the clock moves one second first.
    fn put(&mut self, len: usize) -> Result<(), Error> {
        self.clock.advance(Duration::from_secs(1));
        let i = self.next_id;
        self.next_id += 1;
        let key = format!("k{}", i % 7);
        let data = payload(i, len);
        let out = self.engine.put_record(PutRecordInput {
            stream: StreamRef::name(STREAM),
            data: data.clone(),
            partition_key: Some(key.clone()),
            ..Default::default()
        });
        match out {
            Ok(o) => {
                assert_eq!(o.shard_id, SHARD);
                self.acked.push(Acked { seq: o.sequence_number, arrival_ms: self.clock.now_ms(), key, data });
                Ok(())
            }
            Err(e) => {
                *self.errors.entry(describe(&e)).or_insert(0) += 1;
                Err(e)
            }
        }
    }

    /// Put records of `len` bytes until one fails; returns the failure and the puts that
    /// succeeded.
    fn fill(&mut self, len: usize) -> (Error, usize) {
        for n in 0..MAX_PUTS {
            if let Err(e) = self.put(len) {
                return (e, n);
            }
        }
        panic!("{MAX_PUTS} puts of {len} bytes never filled the file system");
    }

    /// Fill completely: 1 KiB puts, then 100 B, then 1 B, each until they fail. Every error
    /// must be a typed storage-full error.
    fn fill_up(&mut self, label: &str, mount: &Path) {
        for len in [1024, 100, 1] {
            let (e, n) = self.fill(len);
            println!("[{label}] {n} puts of {len} B, then: {e}");
            assert!(
                e.is_storage_full(),
                "[{label}] a put on a full file system must fail with a typed storage-full error, got {e:?}"
            );
            assert!(!e.is_client_error(), "a full disk is a server-side failure");
        }
        // ext4 makes blocks freed in a running journal transaction (e.g. by the engine
        // cutting off a failed partial write) reusable only once it commits: commit it and use
        // those blocks up too, until a fill right after a commit adds nothing.
        for round in 0..10 {
            let _ = Command::new("sync").arg("-f").arg(mount).status();
            let (e, n) = self.fill(1);
            assert!(e.is_storage_full(), "[{label}] retry: {e:?}");
            if n == 0 {
                return;
            }
            println!("[{label}] after a journal commit {n} more 1 B puts fit (round {round})");
        }
        panic!("[{label}] the file system never stayed full");
    }

    fn tags(&self) -> Vec<String> {
        self.engine
            .list_tags_for_stream(ListTagsForStreamInput { stream: StreamRef::name(STREAM), ..Default::default() })
            .unwrap()
            .tags
            .into_iter()
            .map(|t| t.key)
            .collect()
    }

    fn add_tag(&self, key: &str) -> Result<(), Error> {
        self.engine.add_tags_to_stream(AddTagsToStreamInput {
            stream: StreamRef::name(STREAM),
            tags: [(key.to_string(), "v".to_string())].into_iter().collect(),
        })
    }
}

/// Every record of the shard, from TRIM_HORIZON to the end.
fn read_shard(e: &Engine) -> Vec<KinesisRecord> {
    let mut it = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: StreamRef::name(STREAM),
            shard_id: SHARD.into(),
            shard_iterator_type: ShardIteratorType::TrimHorizon,
            starting_sequence_number: None,
            timestamp: None,
            dry_run: false,
        })
        .unwrap()
        .shard_iterator;
    let mut out = Vec::new();
    loop {
        let r = e
            .get_records(GetRecordsInput {
                shard_iterator: it,
                limit: Some(10_000),
                stream_arn: None,
                stream_id: None,
                dry_run: false,
            })
            .unwrap();
        if r.records.is_empty() {
            return out;
        }
        out.extend(r.records);
        match r.next_shard_iterator {
            Some(next) => it = next,
            None => return out,
        }
    }
}

/// The shard holds exactly a suffix of `acked` that includes every record arriving at or
/// after `kept_from_ms`, byte-identical, in order, under the acknowledged sequence numbers.
fn check_acked(e: &Engine, acked: &[Acked], kept_from_ms: i64, what: &str) -> usize {
    let got = read_shard(e);
    let must_keep = acked.iter().filter(|a| a.arrival_ms >= kept_from_ms).count();
    assert!(
        got.len() >= must_keep && got.len() <= acked.len(),
        "[{what}] {} records read; {} acknowledged, of which {must_keep} are not expired",
        got.len(),
        acked.len()
    );
    let expected = &acked[acked.len() - got.len()..];
    for (i, (g, a)) in got.iter().zip(expected).enumerate() {
        assert_eq!(g.sequence_number, a.seq, "[{what}] record {i}: sequence number");
        assert_eq!(g.partition_key, a.key, "[{what}] record {i}: partition key");
        assert_eq!(g.data, a.data, "[{what}] record {i}: data");
        assert_eq!(g.approximate_arrival_timestamp.as_millis(), a.arrival_ms, "[{what}] record {i}: arrival time");
    }
    got.len()
}

/// How space is freed once the file system is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FreedBy {
    /// Another file on the file system (a ballast the test wrote first) is deleted.
    OtherFile,
    /// The engine's retention pass (nothing else frees anything).
    Retention,
}

/// Size of the ballast file written before the fill in `FreedBy::OtherFile` runs.
const BALLAST: usize = 96 * 1024;

fn disk_full_scenario(fs: &str, mount: Result<Mount, String>, freed_by: FreedBy) {
    let mount = match mount {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED: R5 disk-full on {fs}: cannot mount: {why}");
            eprintln!("SKIPPED: R5 disk-full on {fs}: cannot mount: {why}");
            return;
        }
    };
    let fs = format!("{fs}, {freed_by:?}");
    let fs = fs.as_str();
    let root = mount.point.join("data");
    let ballast = mount.point.join("ballast");
    let ballast2 = mount.point.join("ballast2");
    if freed_by == FreedBy::OtherFile {
        std::fs::write(&ballast, vec![0x5a; BALLAST]).unwrap();
        std::fs::write(&ballast2, vec![0x5a; BALLAST / 3]).unwrap();
    }
    println!("[{fs}] mounted at {}, {} bytes free", mount.point.display(), free_bytes(&mount.point));
    let clock = ManualClock::new(T0);
    let engine = Engine::open(&root, config(&clock)).unwrap();
    engine
        .create_stream(CreateStreamInput { stream_name: STREAM.into(), shard_count: Some(1), ..Default::default() })
        .unwrap();
    let mut run = Run { engine, clock: clock.clone(), acked: Vec::new(), next_id: 0, errors: BTreeMap::new() };

    // 1. Fill until ENOSPC.
    run.fill_up(fs, &mount.point);
    let first_round = run.acked.len();
    println!("[{fs}] full after {first_round} acknowledged puts; {} bytes free", free_bytes(&mount.point));
    assert!(first_round > 100, "a 1-2 MiB file system holds hundreds of 1 KiB records, got {first_round}");

    // 2. A metadata commit fails typed and changes nothing. (Should a block have become free
    // in between after all, the commit succeeds, which is fine: fill again and retry.)
    let plugs = plug(&mount.point);
    println!("[{fs}] {plugs} plug file(s) of 1 KiB took the space the segment could not use");
    let mut tags = Vec::new();
    let mut commit_failed = false;
    for attempt in 0..5 {
        let tag = format!("while-full-{attempt}");
        match run.add_tag(&tag) {
            Ok(()) => {
                println!("[{fs}] AddTagsToStream while full succeeded (space was freed meanwhile); filling again");
                tags.push(tag);
                run.fill_up(fs, &mount.point);
                plug(&mount.point);
            }
            Err(e) => {
                println!("[{fs}] AddTagsToStream while full: {e}");
                assert!(
                    e.is_storage_full(),
                    "manifest commit on a full disk: typed storage-full error expected, got {e:?}"
                );
                commit_failed = true;
                break;
            }
        }
    }
    assert!(commit_failed, "[{fs}] no manifest commit failed on the full file system");
    assert_eq!(run.tags(), tags, "a failed commit must leave the old catalog in force");
    assert!(!root.join("MANIFEST.tmp").exists(), "the failed commit's temp file is removed");
    let first_round = run.acked.len();

    // 3. Nothing acknowledged is lost, and the engine still serves reads.
    assert_eq!(check_acked(&run.engine, &run.acked, i64::MIN, "full"), first_round);

    // 4. Space is freed; appends and commits resume on the same engine handle: no restart.
    let mut cutoff = i64::MIN;
    match freed_by {
        FreedBy::OtherFile => {
            std::fs::remove_file(&ballast).unwrap();
            unplug(&mount.point);
            // ext4 hands freed blocks out again once the journal commits the unlink.
            let _ = Command::new("sync").arg("-f").arg(&mount.point).status();
            println!("[{fs}] ballast deleted; {} bytes free", free_bytes(&mount.point));
        }
        FreedBy::Retention => {
            // Expire the older half of the records.
            cutoff = run.acked[first_round / 2].arrival_ms;
            run.clock.set_ms(cutoff + RETENTION_MS);
            let report = run.engine.enforce_retention();
            println!("[{fs}] enforce_retention while full: {report:?}; {} bytes free", free_bytes(&mount.point));
            let report = report.unwrap_or_else(|e| {
                panic!("[{fs}] enforce_retention on a full disk must free space, but failed: {}", describe(&e))
            });
            assert!(report.segments_removed > 0 && report.bytes_removed > 0, "retention removed nothing: {report:?}");
        }
    }
    for i in 0..30 {
        run.put(1024).unwrap_or_else(|e| panic!("[{fs}] put {i} after space was freed failed: {e:?}"));
    }
    run.add_tag("after-freeing").unwrap_or_else(|e| panic!("[{fs}] manifest commit after space was freed: {e:?}"));
    tags.push("after-freeing".into());
    tags.sort();
    assert_eq!(run.tags(), tags);
    let kept = check_acked(&run.engine, &run.acked, cutoff, "after freeing space");
    println!("[{fs}] resumed: {} acknowledged in total, {kept} retained", run.acked.len());

    // 5. Retention on a nearly full disk, then a second fill and a second pass on the same
    // handle: it keeps working.
    let cutoff1 = run.acked[first_round + 10].arrival_ms;
    run.clock.set_ms(cutoff1 + RETENTION_MS);
    let report = run.engine.enforce_retention().unwrap_or_else(|e| panic!("[{fs}] retention pass: {e:?}"));
    assert!(report.segments_removed > 0, "the retention pass removed nothing: {report:?}");
    let second_fill = run.acked.len();
    run.fill_up(fs, &mount.point);
    check_acked(&run.engine, &run.acked, cutoff1, "full again");
    if freed_by == FreedBy::Retention {
        // Expire the older half of the second fill.
        let cutoff2 = run.acked[(second_fill + run.acked.len()) / 2].arrival_ms;
        run.clock.set_ms(cutoff2 + RETENTION_MS);
        let report = run.engine.enforce_retention().unwrap_or_else(|e| panic!("[{fs}] second full retention: {e:?}"));
        assert!(report.segments_removed > 0, "second pass removed nothing: {report:?}");
        for i in 0..20 {
            run.put(1024).unwrap_or_else(|e| panic!("[{fs}] put {i} after the second retention pass failed: {e:?}"));
        }
        cutoff = cutoff2;
    } else {
        cutoff = cutoff1;
    }
    check_acked(&run.engine, &run.acked, cutoff, "after the second fill");

    // 6. Reopen (on the still nearly full file system): the same records, the tag, and the
    // log takes more once there is room.
    let Run { engine, mut acked, errors, .. } = run;
    // A clean close writes the active segment's index files and the CLEAN marker; on a full
    // disk that may fail (typed). Everything was fdatasync'd first, so the next open simply
    // scans the active segment.
    match engine.close() {
        Ok(()) => println!("[{fs}] closed cleanly"),
        Err(e) => {
            println!("[{fs}] close on the full disk: {e}");
            assert!(e.is_storage_full(), "close on a full disk: typed storage-full error expected, got {e:?}");
        }
    }
    drop(engine);
    let engine = reopen(&root, &clock);
    let kept = check_acked(&engine, &acked, cutoff, "reopened");
    let reopened_tags: Vec<String> = engine
        .list_tags_for_stream(ListTagsForStreamInput { stream: StreamRef::name(STREAM), ..Default::default() })
        .unwrap()
        .tags
        .into_iter()
        .map(|t| t.key)
        .collect();
    assert_eq!(reopened_tags, tags);
    println!("[{fs}] reopened: {kept} records intact");
    // Make room once more (the second ballast, or retention), then the reopened log takes a put.
    let room = match freed_by {
        FreedBy::OtherFile => std::fs::remove_file(&ballast2).map_err(|e| e.to_string()).map(|()| {
            let _ = Command::new("sync").arg("-f").arg(&mount.point).status();
        }),
        FreedBy::Retention => {
            // Expire everything but the newest record.
            cutoff = acked.last().unwrap().arrival_ms;
            clock.set_ms(cutoff + RETENTION_MS);
            engine.enforce_retention().map(|_| ()).map_err(|e| describe(&e))
        }
    };
    room.unwrap_or_else(|e| panic!("[{fs}] freeing space after the reopen: {e}"));
    {
        clock.advance(Duration::from_secs(1));
        let data = payload(u64::MAX, 10);
        let o = engine
            .put_record(PutRecordInput {
                stream: StreamRef::name(STREAM),
                data: data.clone(),
                partition_key: Some("last".into()),
                ..Default::default()
            })
            .unwrap();
        acked.push(Acked { seq: o.sequence_number, arrival_ms: clock.now_ms(), key: "last".into(), data });
        check_acked(&engine, &acked, cutoff, "reopened + put");
    }
    println!("[{fs}] errors seen: {errors:?}");
    engine.close().unwrap();
}

#[test]
fn a_full_tmpfs_fails_puts_typed_loses_nothing_and_resumes_once_space_is_freed() {
    disk_full_scenario("tmpfs 1 MiB", mount_tmpfs(), FreedBy::OtherFile);
}

#[test]
fn a_full_ext4_image_fails_puts_typed_loses_nothing_and_resumes_once_space_is_freed() {
    disk_full_scenario("ext4 2 MiB (loop)", mount_ext4(), FreedBy::OtherFile);
}

#[test]
fn a_full_tmpfs_resumes_after_retention() {
    disk_full_scenario("tmpfs 1 MiB", mount_tmpfs(), FreedBy::Retention);
}

#[test]
fn a_full_ext4_image_resumes_after_retention() {
    disk_full_scenario("ext4 2 MiB (loop)", mount_ext4(), FreedBy::Retention);
}
