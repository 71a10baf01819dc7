//! Kinesis queues, storage part: the per-queue delivery state machine, receipt handles, and
//! the crash-safe queue state log. It never reads record bytes; the engine supplies which
//! offsets are readable and reads the records of the deliveries it gets back.
//!
//! # Modules
//!
//! | module | job |
//! |---|---|
//! | [`state`] | [`DeliveryState`]: the pure state machine (floors, cursors, in-flight deliveries, visible redeliveries, dead-letter records; expiry; decisions and transitions) |
//! | [`event`] | the [`Event`]s that change it and their payload bytes |
//! | [`frame`] | the state log's file header and CRC'd event frames |
//! | [`snapshot`] | the snapshot file |
//! | [`handle`] | [`ReceiptHandle`] (MAC-authenticated, via `kinesis::token`) and [`RecordId`] |
//! | [`config`] | [`QueueConfig`] (attributes), [`QueueOptions`] (tunables) |
//! | [`store`] | [`QueueStore`]: the operations, durability, group commit, poisoning |
//! | `files` | the directory's file protocol: new epochs (creation, compaction) and log replay |
//! | `entries` | the per-entry checks of batch operations and their error codes |
//!
//! # How the engine uses it (part B of issue #16)
//!
//! One [`QueueStore`] per queue, in its own directory (suggested:
//! `<root>/queues/<queue uid:016x>/`, named by the queue's internal uid, never by its name),
//! opened with the engine's file system, durability, [`crate::SyncGroup`] and token key
//! ([`QueueOptions`]). Clock values are engine-clock milliseconds as `u64` (the engine passes
//! `clock.now_ms().max(0) as u64`); the store never reads a clock itself.
//!
//! - **CreateQueue**: [`QueueStore::create`] with the queue's uid, attributes and a
//!   [`QueueSpec::start_positions`] entry per shard that exists now (from `StartingPosition`:
//!   LATEST = the high-watermark, TRIM_HORIZON = the trim horizon, AT_TIMESTAMP =
//!   `offset_for_time`); everything is durable when it returns; then commit the catalog.
//!   Shards born later (children) need no registration: they start where their first span
//!   starts (offset 0).
//! - **Engine open**: [`QueueStore::open`] per catalog queue with its current attributes;
//!   remove queue directories the catalog does not know (a crash between create and the
//!   catalog commit, or between a delete's catalog commit and the removal). Then, for every
//!   shard whose recovered high-watermark is below the queue's [`ShardProgress::cursor`] (a
//!   shard log that lost its unsynced tail under `Buffered`/`Interval`: its offsets will be
//!   reused by new records), call [`QueueStore::rewind_shard`] before serving receives.
//! - **ReceiveQueueRecords**: [`QueueStore::receive`] with a [`ReceiveRequest`]: `max_records`
//!   (the wire's `Limit`; in process any number), the visibility timeout (`None` = the queue's)
//!   and one [`FreshSpan`] per shard the queue may read fresh records from, in the order to
//!   take them: `start` = the shard's trim horizon (`ShardLog::start_offset`), `end` = its
//!   high-watermark (a closed parent: its end). For lineage order, offer a child only once
//!   each parent's [`ShardProgress::cursor`] reached the parent's end. Read each returned
//!   [`Delivery`]'s record (`handle.record`: shard + offset) from the shard log; a record the
//!   log no longer has was trimmed meanwhile: leave it out and call [`QueueStore::trim`].
//!   The wire form of the handle is [`QueueStore::encode_handle`]; the `RecordId` is
//!   [`RecordId::from_sequence_number`] of the record's sequence number.
//! - **Long polling** (`WaitTimeSeconds`): when a receive returns nothing, wait on the shard
//!   logs' append notifier *and* until [`QueueStore::next_deadline_ms`] (in-flight records
//!   becoming visible) on the engine clock, then receive again; [`QueueStore::tick`] moves
//!   time without an operation. Acknowledgements never make records visible; visibility 0,
//!   restores and timeouts do (wake pollers after those calls).
//! - **AcknowledgeQueueRecords / UpdateQueueRecordsVisibility / the dead-letter operations**:
//!   [`QueueStore::acknowledge`], [`QueueStore::change_visibility`],
//!   [`QueueStore::receive_dead_letter`], [`QueueStore::acknowledge_dead_letter`],
//!   [`QueueStore::change_dead_letter_visibility`], [`QueueStore::restore_dead_letter`]. They
//!   take handle text (wire: one MAC check each) or decoded [`ReceiptHandle`]s (in process:
//!   no MAC work) through [`HandleInput`] and return one result per entry, in order: `Ok`
//!   → `Successful`, an error → `Failed` with `kinesis_error_code()` and the message.
//! - **Retention**: after a shard log's trim horizon moves, [`QueueStore::trim`] (a receive
//!   also trims from its spans). **Reshard**: nothing to do (shards are independent keys);
//!   [`QueueStore::forget_shard`] once a shard leaves the catalog or a closed parent is
//!   drained (floor = cursor = end).
//! - **UpdateQueue**: commit the catalog, then [`QueueStore::update_config`] (a lost state-log
//!   event is redone at the next open from the catalog's attributes).
//! - **DeleteQueue**: commit the catalog (DELETING), then [`QueueStore::delete`]: every handle
//!   is invalid at once, every later call fails, the directory is removed.
//! - **Metrics / DescribeQueue**: [`QueueStore::counts`] (`InFlightQueueRecords`,
//!   `VisibleDeadLetterQueueRecords`; `VisibleQueueRecords` = visible redeliveries + the
//!   fresh backlog Σ(high-watermark − cursor), capped at 1,000,000 as AWS does).
//! - **Engine flush / close**: [`QueueStore::flush`], [`QueueStore::close`].
//!
//! # What is persisted, and when it is synced
//!
//! Every state change is an event frame in `log`, written before the change is applied to
//! memory (a failed write changes nothing) and before the call returns: receives (records,
//! generations, deadline), acknowledgements, visibility changes, restores, trims, forgotten
//! shards, rewinds, attribute changes and generation reservations. Expiry is not logged: it follows
//! from the logged deadlines and clock values. Durability follows the engine's mode:
//!
//! | mode | an operation returns once its frames are … | survives |
//! |---|---|---|
//! | `Sync` | fdatasync'd (group commit with the engine's other writers) | power loss |
//! | `Interval(p)` | written; the engine's flusher fdatasyncs every `p` | process crash; a power loss loses at most ~`p` |
//! | `Buffered` | written; synced by `flush`, `close`, compaction | process crash |
//!
//! Generation reservations are fdatasync'd before use in every mode. Creation, compaction
//! and recovery sync files and directories whatever the mode. The log is compacted into a new
//! snapshot once it holds `compact_min_bytes` (1 MiB) and at least half the last snapshot's
//! size, so both files stay bounded by the state (what is in flight or dead-lettered), and a
//! reopen replays at most about half a snapshot's worth of events (the reopen time target).
//!
//! # Crash semantics (proved by `tests/queue_crash.rs` over crash states of the files)
//!
//! For what the durability mode guarantees to survive (`Sync`: every returned call):
//! - an acknowledgement (or dead-letter discard) that returned is never undone: the record is
//!   never delivered again;
//! - a record is never lost: unless settled or trimmed, it is in flight, visible, dead-letter
//!   or still ahead of its shard's cursor, so it is delivered (again) — at least once;
//! - receive counts never go backwards (a receive is logged before it returns), so
//!   dead-lettering still happens after a crash;
//! - a receipt handle is never reissued, even after a power loss in any mode: a handle from
//!   before a crash acknowledges only the delivery it was issued for, if that survived.
//!
//! # Decisions where AWS is silent
//!
//! - Dead-lettering happens when the `MaxReceiveCount`-th delivery times out (or is released
//!   with visibility 0), as SQS does, so the last holder can still acknowledge; a dead-letter
//!   receive does not increment the receive count; Restore keeps `FirstReceiveTimestamp`.
//! - A delivery whose timeout passed but which nobody received again can still be
//!   acknowledged (SQS allows it), also when its timeout dead-lettered it; a visibility change
//!   needs the delivery to be in flight.
//! - Per-entry errors: `InvalidArgumentException` for malformed, forged, foreign-queue or
//!   wrong-kind handles and for a handle repeated in one request (each occurrence after the
//!   first); `ResourceNotFoundException` when the delivery no longer exists (settled, trimmed,
//!   received again since, restored, or not in flight for a visibility change).
//! - The 120,000 in-flight limit counts normal and dead-letter deliveries; a receive at the
//!   limit returns what fits, possibly nothing (no error; `limited` tells the engine).
//! - Attribute changes: see [`QueueConfig`].
//! - Receive order: visible redeliveries (by shard, then offset) before fresh records; fresh
//!   records in the span order the engine gives; deliveries are returned sorted by record.

pub(crate) mod codec;
pub mod config;
mod entries;
pub mod event;
mod files;
pub mod frame;
pub mod handle;
mod key;
pub mod snapshot;
pub mod state;
pub mod store;

pub use config::{DeadLetter, QueueConfig, QueueOptions};
pub use event::Event;
pub use files::{LOG_FILE, SNAPSHOT_FILE};
pub use handle::{ReceiptHandle, RecordId};
pub use state::{DeliveryState, Entry, FreshSpan, Phase, QueueCounts, RecordKey, ShardProgress, MAX_RECORDS_PER_EVENT};
pub use store::{
    Delivery, EntryResults, HandleInput, QueueSpec, QueueStore, ReceiveOutcome, ReceiveRequest, StoreStats,
};
