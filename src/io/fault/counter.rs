//! Counting calls by kind and deciding which one a [`FaultPlan`] fails.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use parking_lot::Mutex;

use super::plan::{Fault, FaultMode, FaultPlan};
use crate::io::OpKind;

#[derive(Debug, Default)]
struct State {
    calls: HashMap<OpKind, u64>,
    /// The plan and the number of matching calls seen since it was set.
    plan: Option<(FaultPlan, u64)>,
    fired: u64,
}

impl State {
    /// Count a call of `kind`; the fault to inject, if the plan says this call fails.
    fn hit(&mut self, kind: OpKind) -> Option<Fault> {
        let calls = self.calls.entry(kind).or_insert(0);
        *calls = calls.saturating_add(1);
        let call = *calls;
        let (plan, seen) = self.plan.as_mut().filter(|(plan, _)| plan.kind == kind)?;
        *seen = seen.saturating_add(1);
        let nth = plan.nth.max(1);
        let fails = match plan.mode {
            FaultMode::Once => *seen == nth,
            FaultMode::Forever => *seen >= nth,
        };
        if !fails {
            return None;
        }
        let error = plan.error;
        self.fired = self.fired.saturating_add(1);
        Some(Fault { kind, call, error })
    }
}

/// Shared fault state: counters and the active plan.
#[derive(Debug, Clone, Default)]
pub(super) struct Faults(Arc<Mutex<State>>);

impl Faults {
    /// Count a call of `kind`; the fault to inject, if the plan says this call fails.
    pub(super) fn hit(&self, kind: OpKind) -> Option<Fault> {
        self.0.lock().hit(kind)
    }

    /// Count a call of `kind` and fail it if the plan says so.
    pub(super) fn check(&self, kind: OpKind) -> io::Result<()> {
        self.hit(kind).map_or(Ok(()), |fault| Err(fault.into_io()))
    }

    /// Replace the plan (`None`: no more faults); its call count starts now.
    pub(super) fn set_plan(&self, plan: Option<FaultPlan>) {
        self.0.lock().plan = plan.map(|p| (p, 0));
    }

    /// Calls of `kind` counted so far.
    pub(super) fn calls(&self, kind: OpKind) -> u64 {
        self.0.lock().calls.get(&kind).copied().unwrap_or(0)
    }

    /// Faults injected so far.
    pub(super) fn fired(&self) -> u64 {
        self.0.lock().fired
    }

    /// Zero the call and fired counters (not the plan's own count).
    pub(super) fn reset_counts(&self) {
        let mut state = self.0.lock();
        state.calls.clear();
        state.fired = 0;
    }
}
