//! The per-entry checks of the batch operations on receipt handles (acknowledge, change
//! visibility, their dead-letter forms, restore) and the error each failing entry gets:
//!
//! | entry | error |
//! |---|---|
//! | not a handle this engine issued (malformed, damaged, forged, other key) | `InvalidArgumentException` "Invalid ReceiptHandle." |
//! | a handle of another queue | `InvalidArgumentException` |
//! | a dead-letter handle on a normal operation, or the reverse | `InvalidArgumentException` |
//! | the same handle again in one request (each occurrence after the first) | `InvalidArgumentException` |
//! | the record was settled (acknowledged, discarded, trimmed) | `ResourceNotFoundException` |
//! | the record was received again since (a stale handle) | `ResourceNotFoundException` |
//! | a visibility change of a delivery no longer in flight | `ResourceNotFoundException` |
//! | a dead-letter operation on a record restored since | `ResourceNotFoundException` |

use rustc_hash::FxHashSet;

use super::handle::ReceiptHandle;
use super::state::{DeliveryState, Phase};
use crate::{Error, Result};

/// Which handle operation a batch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandleOp {
    Acknowledge,
    Visibility,
    AcknowledgeDeadLetter,
    DeadLetterVisibility,
    Restore,
}

impl HandleOp {
    pub(crate) fn dead_letter(self) -> bool {
        matches!(self, HandleOp::AcknowledgeDeadLetter | HandleOp::DeadLetterVisibility | HandleOp::Restore)
    }

    /// `Ok` if a current delivery in `phase` can take this operation, else the entry's
    /// `ResourceNotFound`.
    pub(crate) fn check_phase(self, phase: Phase) -> Result<()> {
        use Phase::*;
        let restored =
            || not_found("The record of this ReceiptHandle is no longer a dead-letter record: it was restored.");
        let expired =
            || not_found("The record of this ReceiptHandle is not in flight: its visibility timeout expired.");
        match (self, phase) {
            (HandleOp::Acknowledge, InFlight | Visible | DeadLetterVisible) => Ok(()),
            (HandleOp::Visibility, InFlight) => Ok(()),
            (HandleOp::Visibility, Visible) => Err(expired()),
            (HandleOp::Visibility, DeadLetterVisible) => {
                Err(not_found("The record of this ReceiptHandle is not in flight: it became a dead-letter record."))
            }
            (HandleOp::AcknowledgeDeadLetter | HandleOp::Restore, DeadLetterInFlight | DeadLetterVisible) => Ok(()),
            (HandleOp::DeadLetterVisibility, DeadLetterInFlight) => Ok(()),
            (HandleOp::DeadLetterVisibility, DeadLetterVisible) => Err(expired()),
            (HandleOp::AcknowledgeDeadLetter | HandleOp::DeadLetterVisibility | HandleOp::Restore, Visible) => {
                Err(restored())
            }
            // A normal handle is superseded by the dead-letter receive that put the record in
            // this phase (a new generation), and a dead-letter handle by a restore and a new
            // receive: a current handle never meets these.
            (_, InFlight | DeadLetterInFlight) => Err(superseded()),
        }
    }
}

pub(crate) fn not_found(message: &str) -> Error {
    Error::ResourceNotFound { message: message.into() }
}

fn superseded() -> Error {
    not_found("This ReceiptHandle is stale: the record was received again after it was issued.")
}

/// The checks of one batch entry of queue `uid` (see `QueueStore::acknowledge`): `Ok` if the
/// entry's delivery takes `op`, else the entry's error. `seen` collects the request's handles.
pub(crate) fn check(
    uid: u64,
    state: &DeliveryState,
    seen: &mut FxHashSet<ReceiptHandle>,
    handle: &ReceiptHandle,
    op: HandleOp,
) -> Result<()> {
    if handle.queue_uid != uid {
        return Err(Error::invalid_argument("The ReceiptHandle belongs to another queue."));
    }
    if handle.dead_letter != op.dead_letter() {
        return Err(Error::invalid_argument(if handle.dead_letter {
            "The ReceiptHandle was issued by ReceiveDeadLetterQueueRecords; use the dead-letter operations."
        } else {
            "The ReceiptHandle was issued by ReceiveQueueRecords; it cannot be used with dead-letter operations."
        }));
    }
    if !seen.insert(*handle) {
        return Err(Error::invalid_argument("The ReceiptHandle appears more than once in this request."));
    }
    let Some(entry) = state.entry(handle.record) else {
        return Err(not_found(
            "The record of this ReceiptHandle is no longer in the queue: it was acknowledged, discarded, or \
             trimmed by the stream's retention.",
        ));
    };
    if entry.generation != handle.generation {
        return Err(superseded());
    }
    op.check_phase(entry.phase)
}
