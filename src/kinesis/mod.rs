//! Kinesis primitives: pure (no I/O) building blocks with AWS-exact behaviour.
//!
//! - [`sequence`]: the 188-bit sequence number (layout, decimal form, numeric order).
//! - [`hashkey`]: the 128-bit hash-key space, even splits, MD5 routing, `ExplicitHashKey`.
//! - [`names`]: stream/consumer/partition-key/tag validation in the `ValidationException`
//!   form, ARNs.
//! - [`shard_id`]: shard-id naming and lenient parsing.
//! - [`token`]: MAC-authenticated shard iterators and pagination tokens.
//! - [`ids`]: generated `StreamId`s and channel ids.
//! - [`messages`]: one constructor per Kinesis error message.
//! - [`quotas`]: the service's fixed quotas and defaults.

mod decimal;
pub mod hashkey;
pub mod ids;
pub mod messages;
pub mod names;
pub mod quotas;
pub mod sequence;
pub mod shard_id;
pub mod token;

pub use hashkey::{even_split, parse_explicit_hash_key, partition_key_hash, HashKeyRange};
pub use names::{Constraint, ValidationErrors};
pub use sequence::{SequenceNumber, SequenceParseError, SequenceValue};
pub use token::{NextToken, ResumeAt, ShardIteratorToken, TokenKey};
