//! The forwarder's library in process, engine to engine: a destination that refuses some
//! entries of a request and accepts later ones (of the same key, too) and drops whole
//! requests, to check the ordering modes where PutRecords' per-entry failures bite; lineage
//! across a split and a merge; resuming from checkpoints; option checks; the checkpoint file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use bytes::Bytes;
use shardlog::engine::lineage::{LineageReader, LineageStart};
use shardlog::engine::types::*;
use shardlog::{Engine, EngineConfig};
use shardlog_server::forward::batch::EntryOutcome;
use shardlog_server::forward::checkpoint::CheckpointStore;
use shardlog_server::forward::record::OutRecord;
use shardlog_server::forward::source::BoxFuture;
use shardlog_server::forward::*;

/// A real engine destination behind a flaky front: with a seeded generator it refuses about
/// a third of the entries (throttled) while storing the others, and fails one request in
/// eight as a whole (unreachable).
struct Flaky {
    inner: EngineSink,
    state: AtomicU64,
}

impl Flaky {
    fn next(&self) -> u64 {
        let mut x = self.state.load(AtomicOrdering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state.store(x, AtomicOrdering::Relaxed);
        x
    }
}

impl Sink for Flaky {
    fn describe(&self) -> String {
        format!("flaky {}", self.inner.describe())
    }

    fn put_records<'a>(&'a self, records: Vec<&'a OutRecord>) -> BoxFuture<'a, Result<Vec<EntryOutcome>, Failure>> {
        Box::pin(async move {
            if self.next().is_multiple_of(8) {
                return Err(Failure::Unreachable("connection reset".into()));
            }
            let refuse: Vec<bool> = records.iter().map(|_| self.next().is_multiple_of(3)).collect();
            let kept: Vec<&OutRecord> = records.iter().zip(&refuse).filter(|(_, r)| !**r).map(|(o, _)| *o).collect();
            if !kept.is_empty() {
                let stored = self.inner.put_records(kept).await?;
                assert!(stored.iter().all(|o| *o == EntryOutcome::Accepted));
            }
            Ok(refuse
                .iter()
                .map(|&r| {
                    if r {
                        EntryOutcome::Failed {
                            code: "ProvisionedThroughputExceededException".into(),
                            message: "slow".into(),
                        }
                    } else {
                        EntryOutcome::Accepted
                    }
                })
                .collect())
        })
    }
}

const KEYS: usize = 6;

/// A 2-shard source split and merged on the way, `n` records over `KEYS` keys; returns the
/// data of each key's records in order.
fn source(dir: &std::path::Path, n: usize) -> (Engine, Vec<Vec<Bytes>>) {
    let e = Engine::open(dir, EngineConfig::default()).unwrap();
    e.create_stream(CreateStreamInput { stream_name: "src".into(), shard_count: Some(2), ..Default::default() })
        .unwrap();
    let mut per_key = vec![Vec::new(); KEYS];
    let put = |from: usize, to: usize, per_key: &mut Vec<Vec<Bytes>>| {
        for i in from..to {
            let k = i % KEYS;
            let data = Bytes::from(format!("{i:06}"));
            per_key[k].push(data.clone());
            e.put_record(PutRecordInput {
                stream: StreamRef::name("src"),
                partition_key: Some(format!("key-{k}")),
                data,
                ..Default::default()
            })
            .unwrap();
        }
    };
    put(0, n / 3, &mut per_key);
    e.split_shard(SplitShardInput {
        stream: StreamRef::name("src"),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: (u128::MAX / 4).to_string(),
    })
    .unwrap();
    put(n / 3, 2 * n / 3, &mut per_key);
    e.merge_shards(MergeShardsInput {
        stream: StreamRef::name("src"),
        shard_to_merge: "shardId-000000000002".into(),
        adjacent_shard_to_merge: "shardId-000000000003".into(),
    })
    .unwrap();
    put(2 * n / 3, n, &mut per_key);
    (e, per_key)
}

fn destination(dir: &std::path::Path) -> Engine {
    let e = Engine::open(dir, EngineConfig::default()).unwrap();
    e.create_stream(CreateStreamInput { stream_name: "dst".into(), shard_count: Some(3), ..Default::default() })
        .unwrap();
    e
}

fn arrived(e: &Engine) -> Vec<Vec<Bytes>> {
    let mut r = LineageReader::new(e, StreamRef::name("dst"), LineageStart::TrimHorizon);
    let mut per_key = vec![Vec::new(); KEYS];
    loop {
        let got = r.poll(10_000).unwrap();
        if got.is_empty() {
            return per_key;
        }
        for g in got {
            let k: usize = g.record.partition_key.trim_start_matches("key-").parse().unwrap();
            per_key[k].push(g.record.data);
        }
    }
}

fn options(ordering: Ordering) -> ForwardOptions {
    ForwardOptions {
        until_caught_up: true,
        ordering,
        limits: BatchLimits { max_records: 40, max_bytes: 5 * 1024 * 1024 },
        backoff: BackoffPolicy { base: std::time::Duration::from_millis(1), max: std::time::Duration::from_millis(2) },
        poll_interval: std::time::Duration::from_millis(5),
        ..ForwardOptions::default()
    }
}

fn run(src: &Engine, sink: Arc<dyn Sink>, owner: &str, options: ForwardOptions) -> (Outcome, StatsSnapshot) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let source = Arc::new(LocalSource::new(src.clone(), StreamRef::name("src")));
    let checkpoints = Arc::new(EngineCheckpoints::new(src.clone(), StreamRef::name("src"), owner));
    let f = Forwarder::new(source, sink, checkpoints, options).unwrap();
    let stats = f.stats();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let outcome = rt.block_on(f.run(rx)).unwrap();
    (outcome, stats.snapshot())
}

#[test]
fn strict_ordering_keeps_every_key_exact_when_the_destination_refuses_entries_at_random() {
    let (s, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (src, sent) = source(s.path(), 900);
    let dst = destination(d.path());
    let sink = Arc::new(Flaky {
        inner: EngineSink::new(dst.clone(), StreamRef::name("dst")),
        state: AtomicU64::new(0x9e37_79b9),
    });
    let (outcome, stats) = run(&src, sink, "strict", options(Ordering::Strict));
    assert_eq!(outcome, Outcome::CaughtUp);
    assert_eq!(stats.records_forwarded, 900);
    assert!(stats.entries_failed > 50 && stats.request_failures > 5, "the destination was not flaky enough: {stats:?}");
    assert_eq!(stats.shards_finished, 3);
    // Exactly the source's records, in the source's order, once each.
    assert_eq!(arrived(&dst), sent);
}

#[test]
fn batched_ordering_sends_later_records_of_a_refused_key_again_so_order_survives_as_a_subsequence() {
    let (s, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (src, sent) = source(s.path(), 900);
    let dst = destination(d.path());
    let sink = Arc::new(Flaky {
        inner: EngineSink::new(dst.clone(), StreamRef::name("dst")),
        state: AtomicU64::new(0x1234_5678),
    });
    let (_, stats) = run(&src, sink, "batched", options(Ordering::Batched));
    assert!(stats.records_resent > 0, "{stats:?}");
    let got = arrived(&dst);
    for (k, want) in sent.iter().enumerate() {
        let mut it = got[k].iter();
        for w in want {
            assert!(it.any(|g| g == w), "key {k}: {w:?} missing or out of order");
        }
    }
}

#[test]
fn a_second_run_resumes_after_the_checkpoints_and_a_new_owner_starts_over() {
    let (s, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (src, sent) = source(s.path(), 300);
    let dst = destination(d.path());
    let sink: Arc<dyn Sink> = Arc::new(EngineSink::new(dst.clone(), StreamRef::name("dst")));
    assert_eq!(run(&src, Arc::clone(&sink), "one", options(Ordering::Strict)).1.records_forwarded, 300);
    src.put_record(PutRecordInput {
        stream: StreamRef::name("src"),
        partition_key: Some("key-0".into()),
        data: Bytes::from_static(b"late"),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(run(&src, Arc::clone(&sink), "one", options(Ordering::Strict)).1.records_forwarded, 1);
    let got = arrived(&dst);
    assert_eq!(got[0].last().map(|b| b.as_ref()), Some(&b"late"[..]));
    assert_eq!(got[1], sent[1]);
    assert_eq!(run(&src, sink, "two", options(Ordering::Strict)).1.records_forwarded, 301);
}

#[test]
fn options_beyond_put_records_or_without_time_are_refused() {
    let s = tempfile::tempdir().unwrap();
    let (src, _) = source(s.path(), 3);
    let mk = |o: ForwardOptions| {
        let source = Arc::new(LocalSource::new(src.clone(), StreamRef::name("src")));
        let sink = Arc::new(EngineSink::new(src.clone(), StreamRef::name("src")));
        let checkpoints = Arc::new(EngineCheckpoints::new(src.clone(), StreamRef::name("src"), "x"));
        Forwarder::new(source, sink, checkpoints, o).map(|_| ())
    };
    assert!(mk(ForwardOptions::default()).is_ok());
    let e = mk(ForwardOptions { limits: BatchLimits { max_records: 501, max_bytes: 1 }, ..Default::default() })
        .unwrap_err();
    assert!(e.0.contains("500"), "{e}");
    let e = mk(ForwardOptions { poll_interval: std::time::Duration::ZERO, ..Default::default() }).unwrap_err();
    assert!(e.0.contains("poll interval"), "{e}");
    let bad_backoff = BackoffPolicy { base: std::time::Duration::from_secs(2), max: std::time::Duration::from_secs(1) };
    assert!(mk(ForwardOptions { backoff: bad_backoff, ..Default::default() }).unwrap_err().0.contains("backoff"));
}

#[test]
fn the_checkpoint_file_round_trips_and_refuses_another_source_or_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p").join("x.json");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = FileCheckpoints::new(&path, "stream a at X");
        assert!(store.load().await.unwrap().is_empty());
        store
            .save("shardId-000000000001", &ShardPosition { last_forwarded: Some("4960".into()), finished: false })
            .await
            .unwrap();
        store.save("shardId-000000000000", &ShardPosition { last_forwarded: None, finished: true }).await.unwrap();
        let again = FileCheckpoints::new(&path, "stream a at X").load().await.unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(again["shardId-000000000001"].last_forwarded.as_deref(), Some("4960"));
        assert!(again["shardId-000000000000"].finished);
        let other = FileCheckpoints::new(&path, "stream b at Y").load().await.unwrap_err();
        assert!(other.message().contains("not of stream b at Y"), "{other}");
        std::fs::write(&path, b"{\"version\":1,").unwrap();
        let damaged = FileCheckpoints::new(&path, "stream a at X").load().await.unwrap_err();
        assert!(damaged.message().contains("not a forward checkpoint file"), "{damaged}");
    });
}
