//! The account's minimum-throughput billing commitment (`UpdateAccountSettings`) and its
//! 24-hour state machine, evaluated on the engine clock.
//!
//! ```text
//! never enabled ──ENABLED──▶ ENABLED ──DISABLED before StartedAt+24h──▶ ENABLED_UNTIL_EARLIEST_ALLOWED_END
//!       ▲                      │  ▲                                              │
//!       │                      │  └──────────────ENABLED (cancels)───────────────┘
//!       │          DISABLED at or after StartedAt+24h        clock reaches EarliestAllowedEndAt
//!       │                      ▼                                              ▼
//!       └────────ENABLED (a new commitment)───────────── DISABLED (EndedAt set) ◀┘
//! ```
//!
//! Only two timestamps are stored: when the commitment started and when it ends (or is
//! scheduled to end). The status is derived from them and the clock, so the scheduled end
//! needs no background work and survives restarts.
//!
//! Invariant (checked on load): an end is only recorded together with a start, and never
//! before `started + 24 h` unless the commitment was disabled after that point (so
//! `ended_ms >= started_ms + 24 h` always holds).

/// The minimum commitment lasts this long (ms).
pub const COMMITMENT_MIN_MS: i64 = 24 * 3_600_000;

/// `MinimumThroughputBillingCommitment` as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Commitment {
    /// When the current (or last) commitment started (ms); `None`: never enabled.
    pub started_ms: Option<i64>,
    /// When it ends or ended (ms); `None`: no end requested.
    pub ends_ms: Option<i64>,
}

/// `MinimumThroughputBillingCommitmentOutputStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitmentStatus {
    /// `ENABLED`.
    Enabled,
    /// `DISABLED`.
    Disabled,
    /// `ENABLED_UNTIL_EARLIEST_ALLOWED_END`: a disable was requested before the 24 hours were
    /// up; the commitment ends at `EarliestAllowedEndAt`.
    EnabledUntilEarliestAllowedEnd,
}

impl CommitmentStatus {
    /// The Kinesis enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            CommitmentStatus::Enabled => "ENABLED",
            CommitmentStatus::Disabled => "DISABLED",
            CommitmentStatus::EnabledUntilEarliestAllowedEnd => "ENABLED_UNTIL_EARLIEST_ALLOWED_END",
        }
    }
}

impl Commitment {
    /// The status at `now_ms`.
    pub fn status(&self, now_ms: i64) -> CommitmentStatus {
        match (self.started_ms, self.ends_ms) {
            (None, _) => CommitmentStatus::Disabled,
            (Some(_), None) => CommitmentStatus::Enabled,
            (Some(_), Some(end)) if now_ms < end => CommitmentStatus::EnabledUntilEarliestAllowedEnd,
            (Some(_), Some(_)) => CommitmentStatus::Disabled,
        }
    }

    /// True while the account is committed (On-demand Advantage: 50 consumers per stream,
    /// warm throughput allowed). The pending-disable state still counts as committed.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.status(now_ms) != CommitmentStatus::Disabled
    }

    /// `EarliestAllowedEndAt`.
    pub fn earliest_allowed_end_ms(&self) -> Option<i64> {
        self.started_ms.map(|s| s.saturating_add(COMMITMENT_MIN_MS))
    }

    /// The commitment after an `UpdateAccountSettings` with `Status` = ENABLED (`true`) or
    /// DISABLED (`false`) at `now_ms`. Repeating the current state changes nothing.
    pub fn updated(&self, enable: bool, now_ms: i64) -> Commitment {
        match (self.status(now_ms), enable) {
            (CommitmentStatus::Disabled, true) => Commitment { started_ms: Some(now_ms), ends_ms: None },
            (CommitmentStatus::EnabledUntilEarliestAllowedEnd, true) => Commitment { ends_ms: None, ..*self },
            (CommitmentStatus::Enabled, false) => {
                let earliest = self.earliest_allowed_end_ms().unwrap_or(now_ms);
                Commitment { ends_ms: Some(now_ms.max(earliest)), ..*self }
            }
            _ => *self,
        }
    }

    /// True if the stored values are ones the state machine can produce.
    pub fn is_consistent(&self) -> bool {
        match (self.started_ms, self.ends_ms) {
            (None, None) | (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(s), Some(e)) => e >= s.saturating_add(COMMITMENT_MIN_MS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn a_disable_within_24_hours_is_scheduled_for_the_earliest_allowed_end() {
        let c = Commitment::default();
        assert_eq!(c.status(0), CommitmentStatus::Disabled);
        let c = c.updated(true, 1000);
        assert_eq!(c.status(1000), CommitmentStatus::Enabled);
        assert_eq!(c.earliest_allowed_end_ms(), Some(1000 + 24 * H));
        let c = c.updated(false, 2 * H);
        assert_eq!(c.status(2 * H), CommitmentStatus::EnabledUntilEarliestAllowedEnd);
        assert!(c.is_active(1000 + 24 * H - 1));
        assert_eq!(c.status(1000 + 24 * H), CommitmentStatus::Disabled);
        assert_eq!(c.ends_ms, Some(1000 + 24 * H));
        assert!(c.is_consistent());
    }

    #[test]
    fn enabling_again_cancels_a_pending_disable_and_keeps_the_start() {
        let c = Commitment::default().updated(true, 0).updated(false, H);
        let c = c.updated(true, 2 * H);
        assert_eq!(c, Commitment { started_ms: Some(0), ends_ms: None });
    }

    #[test]
    fn a_disable_after_24_hours_ends_at_once_and_a_new_enable_starts_afresh() {
        let c = Commitment::default().updated(true, 0).updated(false, 30 * H);
        assert_eq!(c.status(30 * H), CommitmentStatus::Disabled);
        assert_eq!(c.ends_ms, Some(30 * H));
        let again = c.updated(true, 31 * H);
        assert_eq!(again, Commitment { started_ms: Some(31 * H), ends_ms: None });
        assert_eq!(c.updated(false, 32 * H), c, "disabling a disabled account changes nothing");
    }

    #[test]
    fn impossible_values_are_inconsistent() {
        assert!(!Commitment { started_ms: None, ends_ms: Some(5) }.is_consistent());
        assert!(!Commitment { started_ms: Some(0), ends_ms: Some(H) }.is_consistent());
    }
}
