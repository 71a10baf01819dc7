//! The Kinesis wire protocol of `shardlog serve`, without HTTP: the JSON 1.1 and CBOR codecs
//! (`wire`), the deserializer's type rules (`deser`), the service model's input constraints
//! (`model`, tables generated into `model::tables`) and the validator that applies them before
//! anything else (`validate`), the operation table that calls the engine (`ops`, with the
//! account/capacity/encryption/monitoring operations in `settings`, the tag and policy
//! operations by ARN in `resources`, the channel operations in `channels` and the queue
//! operations in `queues`), and the error envelope (`errors`).
//!
//! Kept apart from the server so the request parser and validator can be driven directly,
//! by the `request` fuzz target (`fuzz/checks/request.rs`) and its corpus replay.

mod channels;
mod convert;
pub mod deser;
pub mod errors;
pub mod model;
pub mod ops;
mod queues;
mod resources;
mod settings;
pub mod validate;
pub mod wire;
