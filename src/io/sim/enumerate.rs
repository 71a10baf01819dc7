//! [`CrashStates`]: every crash state of a [`CrashSweep`], produced in one forward pass over
//! the operation log.

use std::collections::VecDeque;

use super::fs::SimVfs;
use super::model::*;
use super::spec::{CrashSpec, CrashState, CrashSweep, DataMode, DirMode, TailMode};

/// Iterator over crash states, from [`SimVfs::crash_states`]. It replays the log once,
/// forwards, so a full sweep costs one clone of the (copy-on-write) image per state.
#[derive(Debug)]
pub struct CrashStates {
    /// The image after `applied` operations.
    running: World,
    applied: usize,
    log: Vec<Rec>,
    next_id: u64,
    sweep: CrashSweep,
    /// The crash point whose variants are pending.
    current: Option<usize>,
    pending: VecDeque<(TailMode, DirMode)>,
}

impl SimVfs {
    /// Every crash state `sweep` asks for, lazily, in op order: for each crash point `n`
    /// from `sweep.from_op` to the current op count, each tail variant of the `n`-th
    /// operation (only `Whole` unless it is a write), under each directory mode. Later
    /// operations on this `SimVfs` do not affect the iterator.
    pub fn crash_states(&self, sweep: &CrashSweep) -> CrashStates {
        let (running, log, next_id) = self.history();
        CrashStates { running, applied: 0, log, next_id, sweep: sweep.clone(), current: None, pending: VecDeque::new() }
    }
}

impl CrashStates {
    /// The tail and directory variants to try at crash point `n` (`running` is the image
    /// after `n - 1` operations).
    fn variants(&self, n: usize) -> VecDeque<(TailMode, DirMode)> {
        let op = n.checked_sub(1).and_then(|i| self.log.get(i)).map(|rec| &rec.op);
        let mut tails = Vec::new();
        if let (Some(Op::Write { data, .. }), DataMode::AllWritten) = (op, self.sweep.data) {
            let len = data.len();
            if self.sweep.cut_step > 0 {
                tails.extend((0..len).step_by(self.sweep.cut_step).map(TailMode::Cut));
            }
            tails.push(TailMode::Whole);
            if self.sweep.zeroed {
                tails.push(TailMode::Zeroed);
            }
            if self.sweep.garbage {
                tails.push(TailMode::Garbage(n as u64));
            }
            let bits = (len as u128).saturating_mul(8);
            let flips = self.sweep.bit_flips as u128;
            let mut last = None;
            for i in 0..flips.min(bits) {
                let bit = (2 * i + 1) * bits / (2 * flips);
                if last != Some(bit) {
                    tails.push(TailMode::BitFlip(u64::try_from(bit).unwrap_or(0)));
                    last = Some(bit);
                }
            }
        } else {
            tails.push(TailMode::Whole);
        }

        let dirty = match op {
            Some(op) => {
                let mut after = self.running.clone();
                after.apply(op, TailMode::Whole);
                after.has_unsynced_dirs()
            }
            None => self.running.has_unsynced_dirs(),
        };
        let keep_all_listed = self.sweep.dir_modes.contains(&DirMode::KeepAll);
        let dirs: Vec<DirMode> = self
            .sweep
            .dir_modes
            .iter()
            .copied()
            .filter(|mode| *mode != DirMode::DropUnsynced || dirty || !keep_all_listed)
            .collect();
        tails.iter().flat_map(|tail| dirs.iter().map(move |dir| (*tail, *dir))).collect()
    }

    fn make(&self, n: usize, tail: TailMode, dir: DirMode) -> CrashState {
        let spec = CrashSpec { ops: n, tail, dir, data: self.sweep.data };
        let rec = n.checked_sub(1).and_then(|i| self.log.get(i));
        let settled = match rec {
            Some(rec) => {
                let mut world = self.running.clone();
                world.apply(&rec.op, tail);
                world.settle(dir, spec.data)
            }
            None => self.running.settle(dir, spec.data),
        };
        CrashState {
            label: label(n, self.log.len(), rec.map(|r| &r.desc), &spec),
            spec,
            vfs: SimVfs::from_world(settled, self.next_id),
        }
    }
}

impl Iterator for CrashStates {
    type Item = CrashState;

    fn next(&mut self) -> Option<CrashState> {
        loop {
            if let Some(n) = self.current {
                if let Some((tail, dir)) = self.pending.pop_front() {
                    return Some(self.make(n, tail, dir));
                }
            }
            let n = match self.current {
                None => self.sweep.from_op,
                Some(n) => n.checked_add(1)?,
            };
            if n > self.log.len() {
                return None;
            }
            while self.applied + 1 < n {
                if let Some(rec) = self.log.get(self.applied) {
                    self.running.apply(&rec.op, TailMode::Whole);
                }
                self.applied += 1;
            }
            self.current = Some(n);
            self.pending = self.variants(n);
        }
    }
}
