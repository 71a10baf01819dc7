//! The library half of the `shardlog` command: the Kinesis wire protocol that `shardlog
//! serve` speaks, with no server around it. The binary (`src/main.rs`) adds the CLI, the
//! bench harness and the HTTP server.

pub mod protocol;
