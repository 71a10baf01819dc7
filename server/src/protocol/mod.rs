//! The Kinesis wire protocol of `shardlog serve`, without HTTP: the JSON 1.1 and CBOR codecs
//! (`wire`), the operation table that validates a decoded request and calls the engine
//! (`ops`, with the account/capacity/encryption/monitoring operations in `settings`, the
//! tag and policy operations by ARN in `resources` and the channel operations in
//! `channels`), and the error envelope (`errors`).
//!
//! Kept apart from the server so the request parser and validator can be driven directly,
//! by the `request` fuzz target (`fuzz/checks/request.rs`) and its corpus replay.

mod channels;
pub mod errors;
pub mod ops;
mod resources;
mod settings;
pub mod wire;
