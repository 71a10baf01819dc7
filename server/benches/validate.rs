//! The cost of the model validator on the request path, as a ratio to decoding the same
//! body (both run on every request, in this order: decode, then validate).
//!
//! - `decode/put_records_500x1KiB`: `wire::decode_json` of a PutRecords body of 500 entries,
//!   each 1 KiB of data (base64) with a partition key and an explicit hash key — the largest
//!   common request.
//! - `validate/put_records_500x1KiB`: `validate::validate` of the decoded body (type checks,
//!   then every constraint of every entry).
//! - `decode/…` and `validate/get_shard_iterator`: a small control request.
//! - `validate/put_records_100000_bad`: a hostile body of 100,000 `{}` entries: ten messages
//!   built, all counted.
//!
//! Run: `cargo bench -p shardlog-server --bench validate` (`-- --quick` for a smoke run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::hint::black_box;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardlog_server::protocol::validate;
use shardlog_server::protocol::wire::{decode_json, Codec};

fn put_records_body() -> Vec<u8> {
    let data = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 1024]);
    let entries: Vec<String> = (0..500)
        .map(|i| format!(r#"{{"Data":"{data}","PartitionKey":"key-{i}","ExplicitHashKey":"{}"}}"#, i * 1_000_003))
        .collect();
    format!(r#"{{"StreamName":"bench","Records":[{}]}}"#, entries.join(",")).into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("request");
    let put = put_records_body();
    g.throughput(Throughput::Bytes(put.len() as u64));
    g.bench_function("decode/put_records_500x1KiB", |b| b.iter(|| black_box(decode_json(black_box(&put)))));
    let decoded = decode_json(&put).expect("bench body decodes");
    g.bench_function("validate/put_records_500x1KiB", |b| {
        b.iter(|| black_box(validate::validate("PutRecords", Codec::Json, black_box(&decoded))))
    });
    let small = br#"{"StreamName":"bench","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}"#;
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode/get_shard_iterator", |b| b.iter(|| black_box(decode_json(black_box(small)))));
    let small_decoded = decode_json(small).expect("bench body decodes");
    g.bench_function("validate/get_shard_iterator", |b| {
        b.iter(|| black_box(validate::validate("GetShardIterator", Codec::Json, black_box(&small_decoded))))
    });
    let bad = format!(r#"{{"StreamName":"s","Records":[{}]}}"#, vec!["{}"; 100_000].join(","));
    let bad_decoded = decode_json(bad.as_bytes()).expect("bench body decodes");
    g.bench_function("validate/put_records_100000_bad", |b| {
        b.iter(|| black_box(validate::validate("PutRecords", Codec::Json, black_box(&bad_decoded))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
