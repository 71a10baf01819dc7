//! The Kinesis wire protocol of `shardlog serve`, without HTTP: the JSON 1.1 and CBOR codecs
//! (`wire`), the operation table that validates a decoded request and calls the engine
//! (`ops`), and the error envelope (`errors`).
//!
//! Kept apart from the server so the request parser and validator can be driven directly,
//! by the `request` fuzz target (`fuzz/checks/request.rs`) and its corpus replay.

pub mod errors;
pub mod ops;
pub mod wire;
