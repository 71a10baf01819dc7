//! Tumbling windows (§9.5): fixed, epoch-aligned windows of `TumblingWindowInSeconds` over
//! record arrival times. A lane keeps one open window at a time, with the state its last
//! invocation returned and the records already delivered in it (which are checkpointed only
//! when the window's final invoke succeeds, so a restart replays the window from its start
//! with a fresh state).

use crate::event_source::event::WindowState;

/// The window `[start, end)` (ms) holding `arrival_ms` for windows of `length_ms`.
pub(crate) fn bounds(arrival_ms: i64, length_ms: i64) -> (i64, i64) {
    let start = arrival_ms.div_euclid(length_ms) * length_ms;
    (start, start.saturating_add(length_ms))
}

/// A lane's open window.
#[derive(Debug)]
pub(crate) struct WindowRun {
    /// Inclusive start (ms).
    pub start: i64,
    /// Exclusive end (ms).
    pub end: i64,
    /// State for the next invocation.
    pub state: WindowState,
    /// Positions of records delivered in this window, not yet checkpointable.
    pub delivered: Vec<u64>,
    /// The state outgrew the limit: the next invocation is an early final invoke.
    pub terminated_early: bool,
}

impl WindowRun {
    /// A fresh window `[start, end)` with state `{}`.
    pub fn new(start: i64, end: i64) -> WindowRun {
        WindowRun { start, end, state: WindowState::default(), delivered: Vec::new(), terminated_early: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_aligned() {
        assert_eq!(bounds(0, 60_000), (0, 60_000));
        assert_eq!(bounds(59_999, 60_000), (0, 60_000));
        assert_eq!(bounds(60_000, 60_000), (60_000, 120_000));
        assert_eq!(bounds(-1, 1000), (-1000, 0));
    }
}
