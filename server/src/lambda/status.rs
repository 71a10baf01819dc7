//! A mapping's live status, shared by its poller, its function handler, the API and
//! `/metrics`: `LastProcessingResult` and per-mapping counters.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use shardlog::event_source::StepReport;

use super::model::{RESULT_FUNCTION_FAILED, RESULT_OK};

/// See the module docs.
#[derive(Debug)]
pub struct Live {
    last_result: Mutex<String>,
    /// Invocations.
    pub invocations: AtomicU64,
    /// Invocations that failed (function error, timeout, connection failure).
    pub failed_invocations: AtomicU64,
    /// Records read from the stream (`PolledEventCount`).
    pub records_polled: AtomicU64,
    /// Records sent to the function (a retried record counts each time; `InvokedEventCount`).
    pub records_delivered: AtomicU64,
    /// Records in invocations that failed (`FailedInvokeEventCount`).
    pub records_failed: AtomicU64,
    /// Records dropped by `FilterCriteria`.
    pub records_filtered: AtomicU64,
    /// Records discarded after retries or record age ran out.
    pub records_discarded: AtomicU64,
    /// On-failure documents stored.
    pub on_failure_documents: AtomicU64,
    /// Records the stored on-failure documents cover
    /// (`OnFailureDestinationDeliveredEventCount`).
    pub on_failure_records: AtomicU64,
    /// Age of the last record of the last invocation (Lambda's `IteratorAge`), ms; -1 before
    /// the first.
    pub iterator_age_ms: AtomicI64,
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// See [`Live::invocations`].
    pub invocations: u64,
    /// See [`Live::failed_invocations`].
    pub failed_invocations: u64,
    /// See [`Live::records_polled`].
    pub records_polled: u64,
    /// See [`Live::records_delivered`].
    pub records_delivered: u64,
    /// See [`Live::records_failed`].
    pub records_failed: u64,
    /// See [`Live::records_filtered`].
    pub records_filtered: u64,
    /// See [`Live::records_discarded`].
    pub records_discarded: u64,
    /// See [`Live::on_failure_documents`].
    pub on_failure_documents: u64,
    /// See [`Live::on_failure_records`].
    pub on_failure_records: u64,
    /// See [`Live::iterator_age_ms`].
    pub iterator_age_ms: i64,
}

impl Live {
    /// A fresh status with this `LastProcessingResult`.
    pub fn new(last_result: &str) -> Live {
        Live {
            last_result: Mutex::new(last_result.to_string()),
            invocations: AtomicU64::new(0),
            failed_invocations: AtomicU64::new(0),
            records_polled: AtomicU64::new(0),
            records_delivered: AtomicU64::new(0),
            records_failed: AtomicU64::new(0),
            records_filtered: AtomicU64::new(0),
            records_discarded: AtomicU64::new(0),
            on_failure_documents: AtomicU64::new(0),
            on_failure_records: AtomicU64::new(0),
            iterator_age_ms: AtomicI64::new(-1),
        }
    }

    /// `LastProcessingResult`.
    pub fn last_result(&self) -> String {
        self.last_result.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Set `LastProcessingResult`.
    pub fn set_last_result(&self, text: &str) {
        *self.last_result.lock().unwrap_or_else(|p| p.into_inner()) = text.to_string();
    }

    /// One invocation of `records` records ended (`ok`: the function returned).
    pub fn record_invocation(&self, records: usize, ok: bool, iterator_age_ms: Option<i64>) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        self.records_delivered.fetch_add(records as u64, Ordering::Relaxed);
        if !ok {
            self.failed_invocations.fetch_add(1, Ordering::Relaxed);
            self.records_failed.fetch_add(records as u64, Ordering::Relaxed);
        }
        if let Some(age) = iterator_age_ms {
            self.iterator_age_ms.store(age, Ordering::Relaxed);
        }
        self.set_last_result(if ok { RESULT_OK } else { RESULT_FUNCTION_FAILED });
    }

    /// Count what a poller step did besides invoking.
    pub fn record_step(&self, r: &StepReport) {
        self.records_polled.fetch_add(r.records_read as u64, Ordering::Relaxed);
        self.records_filtered.fetch_add(r.records_filtered as u64, Ordering::Relaxed);
        self.records_discarded.fetch_add(r.records_discarded as u64, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn counters(&self) -> Counters {
        Counters {
            invocations: self.invocations.load(Ordering::Relaxed),
            failed_invocations: self.failed_invocations.load(Ordering::Relaxed),
            records_polled: self.records_polled.load(Ordering::Relaxed),
            records_delivered: self.records_delivered.load(Ordering::Relaxed),
            records_failed: self.records_failed.load(Ordering::Relaxed),
            records_filtered: self.records_filtered.load(Ordering::Relaxed),
            records_discarded: self.records_discarded.load(Ordering::Relaxed),
            on_failure_documents: self.on_failure_documents.load(Ordering::Relaxed),
            on_failure_records: self.on_failure_records.load(Ordering::Relaxed),
            iterator_age_ms: self.iterator_age_ms.load(Ordering::Relaxed),
        }
    }
}
