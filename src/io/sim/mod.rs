//! In-memory crash-simulating file system.
//!
//! [`SimVfs`] behaves like a Linux file system held in memory and records every mutating
//! call in one global, ordered log. From that log it produces the states a power cut could
//! leave on disk (reliability.md, "Crash at every byte" and "Multi-file crash states").
//!
//! # Durability model (the weakest common Linux behaviour)
//!
//! - **File data.** Each file has a *synced* content (as of its last `sync_data`) and a
//!   *live* content. A crash keeps either every write issued before the crash point, in order
//!   ([`DataMode::AllWritten`]: a prefix of the write order survives) or only the synced
//!   content ([`DataMode::SyncedOnly`]). The write the crash interrupts can be torn
//!   ([`TailMode`]).
//! - **Directory entries.** Each directory has *synced* entries (as of its last `sync_dir`)
//!   and *live* entries. Creates, renames, removes and sub-directory creates become durable
//!   only when their directory is synced. [`DirMode::KeepAll`] keeps every entry change,
//!   [`DirMode::DropUnsynced`] reverts each directory to its synced entries: an un-synced
//!   create vanishes, an un-synced rename reverts, an un-synced remove reappears with the
//!   content its file had. A rename between two directories touches both, independently.
//! - Files and directories are inodes: a handle keeps writing to its file after a rename or
//!   unlink, and a crash state holds only what is reachable from the roots (`/` for
//!   absolute paths, the empty path for relative ones; both always exist).
//!
//! # Producing crash states
//!
//! `crash*` methods replay the first `n` logged operations onto the state the `SimVfs`
//! started from, apply the `n`-th per [`TailMode`], then keep the live or synced view of
//! each file and directory. The result is a fresh `SimVfs` whose whole content is its
//! durable baseline and whose log is empty. [`SimVfs::crash_states`] sweeps every op index
//! and tail variant in one forward pass (cheap: file contents are shared copy-on-write).
//!
//! ```
//! use shardlog::io::sim::{CrashSweep, SimVfs, TailMode};
//! use shardlog::io::Vfs;
//! use std::path::Path;
//!
//! let sim = SimVfs::new();
//! sim.create_dir_all(Path::new("/d")).unwrap();
//! let f = sim.create_new(Path::new("/d/seg")).unwrap();
//! f.write_all_at(b"hello", 0).unwrap();
//! f.sync_data().unwrap();
//! sim.sync_dir(Path::new("/d")).unwrap();
//!
//! let torn = sim.crash_at(3, TailMode::Cut(2));
//! assert_eq!(torn.file_content(Path::new("/d/seg")).unwrap(), b"he");
//! for state in sim.crash_states(&CrashSweep::default()) {
//!     let _ = (state.label, state.vfs); // reopen the engine on state.vfs and check it
//! }
//! ```
//!
//! The simulation is split along its parts: [`spec`] (the crash-state vocabulary: what a
//! crash keeps), `model` (inodes with live and synced views, and the operations on them),
//! `fs` ([`SimVfs`] itself) and `enumerate` ([`CrashStates`]).

mod enumerate;
mod fs;
mod model;
pub mod spec;

pub use enumerate::CrashStates;
pub use fs::SimVfs;
pub use spec::{CrashSpec, CrashState, CrashSweep, DataMode, DirMode, SimOp, TailMode};

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::io::{OpKind, Vfs};

    fn p(s: &str) -> &Path {
        Path::new(s)
    }

    /// `/d` exists and is durable; the log is empty.
    fn fresh() -> SimVfs {
        let sim = SimVfs::new();
        sim.create_dir_all(p("/d")).unwrap();
        sim.sync_dir(p("/")).unwrap();
        sim.crash_at(sim.op_count(), TailMode::Whole)
    }

    fn content(sim: &SimVfs, path: &str) -> Option<Vec<u8>> {
        sim.file_content(p(path))
    }

    #[test]
    fn linux_semantics() {
        let sim = fresh();
        assert_eq!(sim.create_new(p("/nodir/x")).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(sim.open_rw(p("/d/missing")).unwrap_err().kind(), io::ErrorKind::NotFound);
        let f = sim.create_new(p("/d/b")).unwrap();
        assert_eq!(sim.create_new(p("/d/b")).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        f.write_all_at(b"xy", 4).unwrap();
        assert_eq!(content(&sim, "/d/b").unwrap(), b"\0\0\0\0xy");
        assert_eq!(f.len().unwrap(), 6);
        let mut buf = [0u8; 3];
        assert_eq!(f.read_exact_at(&mut buf, 4).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        f.read_exact_at(&mut buf, 3).unwrap();
        assert_eq!(&buf, b"\0xy");
        f.set_len(2).unwrap();
        assert_eq!(content(&sim, "/d/b").unwrap(), b"\0\0");

        sim.create_new(p("/d/a")).unwrap().write_all_at(b"A", 0).unwrap();
        sim.create_dir_all(p("/d/c/e/")).unwrap();
        let names: Vec<_> = sim.read_dir(p("/d/")).unwrap().into_iter().map(|e| (e.name, e.is_dir)).collect();
        assert_eq!(names, [("a".into(), false), ("b".into(), false), ("c".into(), true)]);
        assert_eq!(sim.read_dir(p("/d/a")).unwrap_err().kind(), io::ErrorKind::NotADirectory);

        sim.rename(p("/d/a"), p("/d/b")).unwrap();
        assert_eq!(content(&sim, "/d/b").unwrap(), b"A");
        assert!(!sim.exists(p("/d/a")));
        assert_eq!(sim.rename(p("/d/b"), p("/d/c")).unwrap_err().kind(), io::ErrorKind::IsADirectory);
        assert_eq!(sim.rename(p("/d/c"), p("/d/c/e/f")).unwrap_err().kind(), io::ErrorKind::InvalidInput);

        // The old handle follows the inode that was replaced; the new one follows the rename.
        f.write_all_at(b"zz", 0).unwrap();
        assert_eq!(content(&sim, "/d/b").unwrap(), b"A");

        sim.create_new(p("/d/c/e/g")).unwrap();
        assert_eq!(sim.remove_file(p("/d/c")).unwrap_err().kind(), io::ErrorKind::IsADirectory);
        sim.remove_dir_all(p("/d/c")).unwrap();
        assert!(!sim.exists(p("/d/c/e/g")));
        assert_eq!(sim.list_files(), [PathBuf::from("/d/b")]);
        let t = sim.create(p("/d/b")).unwrap();
        assert_eq!(t.len().unwrap(), 0);
        assert_eq!(
            sim.open_read(p("/d/b")).unwrap().write_all_at(b"x", 0).unwrap_err().kind(),
            io::ErrorKind::PermissionDenied
        );
        assert_eq!(f.write_all_at(b"x", u64::MAX).unwrap_err().kind(), io::ErrorKind::FileTooLarge);

        // Relative paths have their own root.
        sim.create_dir_all(p("rel/dir")).unwrap();
        sim.create_new(p("./rel/dir/f")).unwrap();
        assert!(sim.exists(p("rel/dir/f")));
        assert!(!sim.exists(p("")));
    }

    #[test]
    fn op_log_is_readable() {
        let sim = fresh();
        let f = sim.create_new(p("/d/seg.log")).unwrap();
        f.write_all_at(&[1; 512], 4096).unwrap();
        f.sync_data().unwrap();
        sim.sync_dir(p("/d")).unwrap();
        sim.rename(p("/d/seg.log"), p("/d/old.log")).unwrap();
        let ops: Vec<String> = sim.ops().iter().map(ToString::to_string).collect();
        assert_eq!(
            ops,
            [
                "create /d/seg.log",
                "write /d/seg.log@4096+512",
                "fdatasync /d/seg.log",
                "fsync dir /d",
                "rename /d/seg.log -> /d/old.log"
            ]
        );
        assert_eq!(sim.op_count(), 5);
        assert_eq!(sim.ops().get(1).map(SimOp::kind), Some(OpKind::Write));
    }

    #[test]
    fn synced_only_drops_unsynced_writes_and_keeps_synced_ones() {
        let sim = fresh();
        let f = sim.create_new(p("/d/f")).unwrap();
        sim.sync_dir(p("/d")).unwrap();
        f.write_all_at(b"acked", 0).unwrap();
        f.sync_data().unwrap();
        f.write_all_at(b"-lost", 5).unwrap();

        let cut = sim.power_cut();
        assert_eq!(content(&cut, "/d/f").unwrap(), b"acked");
        // With every write kept, the unsynced one is there too.
        assert_eq!(content(&sim.crash_at(sim.op_count(), TailMode::Whole), "/d/f").unwrap(), b"acked-lost");
        // Before the sync, nothing of the file's data is durable.
        let spec = CrashSpec { data: DataMode::SyncedOnly, ..CrashSpec::at(3) };
        assert_eq!(content(&sim.crash(&spec), "/d/f").unwrap(), b"");
        // A set_len after the sync is not durable either.
        f.set_len(1).unwrap();
        assert_eq!(content(&sim.power_cut(), "/d/f").unwrap(), b"acked");
    }

    #[test]
    fn every_prefix_of_the_write_order_survives() {
        let sim = fresh();
        let f = sim.create_new(p("/d/f")).unwrap();
        for i in 0..5u8 {
            f.write_all_at(&[b'a' + i], u64::from(i)).unwrap();
        }
        for n in 1..=6 {
            let state = sim.crash_at(n, TailMode::Whole);
            assert_eq!(content(&state, "/d/f").unwrap(), &b"abcde"[..n - 1]);
        }
        assert!(content(&sim.crash_at(0, TailMode::Whole), "/d/f").is_none());
        assert_eq!(content(&sim.crash_at(999, TailMode::Whole), "/d/f").unwrap(), b"abcde");
    }

    #[test]
    fn un_dir_synced_create_is_dropped_only_with_drop_unsynced() {
        let sim = fresh();
        let f = sim.create_new(p("/d/new")).unwrap();
        f.write_all_at(b"data", 0).unwrap();
        f.sync_data().unwrap();
        let n = sim.op_count();
        assert!(!sim.crash_at_with(n, TailMode::Whole, DirMode::DropUnsynced).exists(p("/d/new")));
        assert_eq!(content(&sim.crash_at_with(n, TailMode::Whole, DirMode::KeepAll), "/d/new").unwrap(), b"data");

        sim.sync_dir(p("/d")).unwrap();
        let durable = sim.crash_at_with(sim.op_count(), TailMode::Whole, DirMode::DropUnsynced);
        assert_eq!(content(&durable, "/d/new").unwrap(), b"data");
    }

    #[test]
    fn file_in_un_dir_synced_directory_is_dropped() {
        let sim = fresh();
        sim.create_dir_all(p("/d/shard")).unwrap();
        sim.create_new(p("/d/shard/seg")).unwrap();
        sim.sync_dir(p("/d/shard")).unwrap();
        assert!(!sim.power_cut().exists(p("/d/shard")));
        sim.sync_dir(p("/d")).unwrap();
        assert!(sim.power_cut().exists(p("/d/shard/seg")));
    }

    #[test]
    fn rename_before_dir_sync_reverts() {
        let sim = fresh();
        let old = sim.create_new(p("/d/MANIFEST")).unwrap();
        old.write_all_at(b"gen1", 0).unwrap();
        old.sync_data().unwrap();
        sim.sync_dir(p("/d")).unwrap();
        let tmp = sim.create_new(p("/d/MANIFEST.tmp")).unwrap();
        tmp.write_all_at(b"gen2", 0).unwrap();
        tmp.sync_data().unwrap();
        sim.rename(p("/d/MANIFEST.tmp"), p("/d/MANIFEST")).unwrap();

        let reverted = sim.crash_at_with(sim.op_count(), TailMode::Whole, DirMode::DropUnsynced);
        assert_eq!(content(&reverted, "/d/MANIFEST").unwrap(), b"gen1");
        assert!(!reverted.exists(p("/d/MANIFEST.tmp")));
        let kept = sim.crash_at_with(sim.op_count(), TailMode::Whole, DirMode::KeepAll);
        assert_eq!(content(&kept, "/d/MANIFEST").unwrap(), b"gen2");

        sim.sync_dir(p("/d")).unwrap();
        let durable = sim.power_cut();
        assert_eq!(content(&durable, "/d/MANIFEST").unwrap(), b"gen2");
        assert_eq!(durable.list_files(), [PathBuf::from("/d/MANIFEST")]);
    }

    #[test]
    fn un_dir_synced_remove_reappears_with_its_content() {
        let sim = fresh();
        let f = sim.create_new(p("/d/seg")).unwrap();
        f.write_all_at(b"old", 0).unwrap();
        f.sync_data().unwrap();
        sim.create_dir_all(p("/d/sub")).unwrap();
        sim.sync_dir(p("/d")).unwrap();
        sim.remove_file(p("/d/seg")).unwrap();
        sim.remove_dir_all(p("/d/sub")).unwrap();
        let n = sim.op_count();
        let back = sim.crash_at_with(n, TailMode::Whole, DirMode::DropUnsynced);
        assert_eq!(content(&back, "/d/seg").unwrap(), b"old");
        assert!(back.exists(p("/d/sub")));
        let gone = sim.crash_at_with(n, TailMode::Whole, DirMode::KeepAll);
        assert!(!gone.exists(p("/d/seg")) && !gone.exists(p("/d/sub")));
    }

    #[test]
    fn torn_write_variants() {
        let sim = fresh();
        let f = sim.create_new(p("/d/f")).unwrap();
        f.write_all_at(b"head", 0).unwrap();
        f.write_all_at(b"TAIL", 4).unwrap();
        let n = sim.op_count();
        let tail = |mode| content(&sim.crash_at(n, mode), "/d/f").unwrap();
        assert_eq!(tail(TailMode::Whole), b"headTAIL");
        assert_eq!(tail(TailMode::Cut(0)), b"head");
        assert_eq!(tail(TailMode::Cut(2)), b"headTA");
        assert_eq!(tail(TailMode::Cut(100)), b"headTAIL");
        assert_eq!(tail(TailMode::Zeroed), b"head\0\0\0\0");
        let g1 = tail(TailMode::Garbage(7));
        assert_eq!(g1.len(), 8);
        assert_eq!(&g1[..4], b"head");
        assert_ne!(&g1[4..], b"TAIL");
        assert_eq!(g1, tail(TailMode::Garbage(7)));
        assert_ne!(g1, tail(TailMode::Garbage(8)));
        let flipped = tail(TailMode::BitFlip(9));
        assert_eq!(flipped, b"headTCIL"); // bit 9 = bit 1 of byte 1: 'A' (0x41) -> 'C' (0x43)
        assert_eq!(tail(TailMode::BitFlip(9 + 32)), flipped);
        // The torn variant applies only to the n-th op: earlier writes stay whole.
        assert_eq!(content(&sim.crash_at(n - 1, TailMode::Cut(1)), "/d/f").unwrap(), b"h");
        // Tails are ignored under SyncedOnly and for ops that are not writes.
        let spec = CrashSpec { tail: TailMode::Zeroed, data: DataMode::SyncedOnly, ..CrashSpec::at(n) };
        assert_eq!(content(&sim.crash(&spec), "/d/f").unwrap(), b"");
        f.sync_data().unwrap();
        assert_eq!(content(&sim.crash_at(n + 1, TailMode::Zeroed), "/d/f").unwrap(), b"headTAIL");
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let sim = fresh();
        let guard = sim.lock(p("/d/LOCK")).unwrap();
        assert!(sim.exists(p("/d/LOCK")));
        let clone = sim.clone();
        assert_eq!(clone.lock(p("/d/LOCK")).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert_eq!(sim.lock(p("/d//LOCK/")).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let other = sim.lock(p("/d/OTHER")).unwrap();
        drop(guard);
        let again = clone.lock(p("/d/LOCK")).unwrap();
        drop((again, other));
        // Locks are not part of a crash state.
        let _held = sim.lock(p("/d/LOCK")).unwrap();
        sim.crash_at(sim.op_count(), TailMode::Whole).lock(p("/d/LOCK")).unwrap();
    }

    #[test]
    fn map_is_a_snapshot_that_survives_remove() {
        let sim = fresh();
        let f = sim.create_new(p("/d/seg")).unwrap();
        f.write_all_at(b"sealed", 0).unwrap();
        let view = sim.open_read(p("/d/seg")).unwrap().map().unwrap();
        sim.remove_file(p("/d/seg")).unwrap();
        f.write_all_at(b"X", 0).unwrap();
        assert_eq!(&view[..], b"sealed");
        assert_eq!(f.map().unwrap(), &b"Xealed"[..]);
    }

    #[test]
    fn crash_state_is_a_fresh_durable_baseline() {
        let sim = fresh();
        let f = sim.create_new(p("/d/f")).unwrap();
        f.write_all_at(b"abc", 0).unwrap();
        let crashed = sim.crash_at(sim.op_count(), TailMode::Cut(1));
        assert_eq!(crashed.op_count(), 0);
        assert_eq!(content(&crashed.power_cut(), "/d/f").unwrap(), b"a");
        // The crashed file system is independent of the original.
        crashed.open_rw(p("/d/f")).unwrap().write_all_at(b"Z", 0).unwrap();
        assert_eq!(content(&sim, "/d/f").unwrap(), b"abc");
    }

    #[test]
    fn sweep_enumerates_every_variant_with_labels() {
        let sim = fresh();
        let f = sim.create_new(p("/d/seg.log")).unwrap();
        f.write_all_at(b"0123", 0).unwrap();
        f.sync_data().unwrap();
        sim.sync_dir(p("/d")).unwrap();
        let states: Vec<CrashState> = sim.crash_states(&CrashSweep::default()).collect();
        // n=0: 1 state; n=1 (create, dir dirty): 2; n=2 (write, dir dirty): (4 cuts + whole
        // + zeroed + garbage + flip) x 2 dirs = 16; n=3 (sync, dir dirty): 2; n=4: 1.
        assert_eq!(states.len(), 1 + 2 + 16 + 2 + 1);
        let labels: Vec<&str> = states.iter().map(|s| s.label.as_str()).collect();
        assert!(labels.contains(&"op 2/4 write /d/seg.log@0+4 Cut(3) DropUnsynced"), "{labels:?}");
        assert_eq!(labels.first(), Some(&"op 0/4 initial state Whole KeepAll"));
        for state in &states {
            assert_eq!(
                content(&state.vfs, "/d/seg.log"),
                content(&sim.crash(&state.spec), "/d/seg.log"),
                "{}",
                state.label
            );
        }
        let cut3 = states.iter().find(|s| s.spec.tail == TailMode::Cut(3) && s.spec.dir == DirMode::KeepAll).unwrap();
        assert_eq!(content(&cut3.vfs, "/d/seg.log").unwrap(), b"012");

        let coarse = CrashSweep {
            from_op: 2,
            cut_step: 3,
            zeroed: false,
            garbage: false,
            bit_flips: 0,
            dir_modes: vec![DirMode::KeepAll],
            data: DataMode::AllWritten,
        };
        let tails: Vec<TailMode> = sim.crash_states(&coarse).map(|s| s.spec.tail).collect();
        assert_eq!(tails, [TailMode::Cut(0), TailMode::Cut(3), TailMode::Whole, TailMode::Whole, TailMode::Whole]);
        let synced = CrashSweep { data: DataMode::SyncedOnly, ..CrashSweep::default() };
        assert_eq!(sim.crash_states(&synced).count(), 1 + 2 + 2 + 2 + 1);
    }

    #[test]
    fn thousands_of_crash_states_are_cheap() {
        let sim = fresh();
        let mut segment = 0;
        let mut f = sim.create_new(p("/d/seg-0")).unwrap();
        let mut pos = 0u64;
        for i in 0..60u64 {
            if pos >= 1000 {
                segment += 1;
                pos = 0;
                f = sim.create_new(&PathBuf::from(format!("/d/seg-{segment}"))).unwrap();
                f.sync_data().unwrap();
                sim.sync_dir(p("/d")).unwrap();
            }
            let record = vec![i as u8; 100];
            f.write_all_at(&record, pos).unwrap();
            f.sync_data().unwrap();
            pos += 100;
        }
        let start = std::time::Instant::now();
        let sweep = CrashSweep { dir_modes: vec![DirMode::KeepAll], ..CrashSweep::default() };
        let mut count = 0;
        for state in sim.crash_states(&sweep) {
            count += 1;
            assert!(state.vfs.list_files().len() <= segment + 1);
        }
        assert!(count > 6000, "{count}");
        assert!(start.elapsed().as_secs() < 30, "{count} states took {:?}", start.elapsed());
    }
}
