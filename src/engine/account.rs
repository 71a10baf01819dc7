//! Account settings: `DescribeAccountSettings` / `UpdateAccountSettings` (the minimum
//! throughput billing commitment, see [`crate::catalog::account`] for its state machine).
//!
//! The commitment is persisted in the catalog and evaluated on the engine clock. It decides
//! "On-demand Advantage": while the account is committed (ENABLED, or ENABLED until the
//! earliest allowed end), a stream takes 50 consumers instead of 20 and on-demand streams
//! may have warm throughput. An account that was never configured reports `DISABLED` with no
//! timestamps (AWS leaves open whether it answers `{}` instead).

use crate::catalog::account::CommitmentStatus;
use crate::catalog::Commitment;
use crate::engine::types::*;
use crate::engine::{Engine, EngineInner};
use crate::error::Result;
use crate::kinesis::quotas::{MAX_CONSUMERS_PER_STREAM, MAX_CONSUMERS_PER_STREAM_ADVANTAGE};

fn view(c: &Commitment, now_ms: i64) -> AccountSettings {
    let status = c.status(now_ms);
    AccountSettings {
        minimum_throughput_billing_commitment: MinimumThroughputBillingCommitment {
            status,
            started_at: c.started_ms.map(Timestamp),
            ended_at: c.ends_ms.map(Timestamp),
            earliest_allowed_end_at: match status {
                CommitmentStatus::Disabled => None,
                _ => c.earliest_allowed_end_ms().map(Timestamp),
            },
        },
    }
}

impl EngineInner {
    /// True while the account is committed (On-demand Advantage).
    pub(crate) fn is_advantage(&self) -> bool {
        let now = self.now_ms();
        self.catalog.lock().catalog.commitment.is_active(now)
    }

    /// Most consumers (enhanced fan-out consumers and queues together) per stream now.
    pub(crate) fn max_consumers(&self) -> usize {
        if self.is_advantage() {
            MAX_CONSUMERS_PER_STREAM_ADVANTAGE
        } else {
            MAX_CONSUMERS_PER_STREAM
        }
    }
}

impl Engine {
    /// `DescribeAccountSettings`.
    pub fn describe_account_settings(&self) -> Result<AccountSettings> {
        let inner = &self.inner;
        inner.admit_control("DescribeAccountSettings", 0)?;
        let now = inner.now_ms();
        let cat = inner.catalog.lock();
        Ok(view(&cat.catalog.commitment, now))
    }

    /// `UpdateAccountSettings`: enable or disable the commitment; synchronous, returns the
    /// new state. A disable within 24 hours of the start is scheduled for
    /// `EarliestAllowedEndAt`; an enable while one is scheduled cancels it.
    pub fn update_account_settings(&self, input: UpdateAccountSettingsInput) -> Result<AccountSettings> {
        let inner = &self.inner;
        inner.admit_control("UpdateAccountSettings", 0)?;
        inner.check_metadata()?;
        let now = inner.now_ms();
        let mut cat = inner.catalog.lock();
        let next_commitment = cat.catalog.commitment.updated(input.enable_minimum_throughput_billing_commitment, now);
        if next_commitment != cat.catalog.commitment {
            let mut next = cat.catalog.clone();
            next.commitment = next_commitment;
            inner.commit_catalog(&mut cat, &next)?;
            cat.catalog = next;
        }
        Ok(view(&cat.catalog.commitment, now))
    }
}
