//! `shardlog forward` end to end, with a second `shardlog serve` as the destination: every
//! record arrives with its partition key and explicit hash key, in order per key across the
//! source's splits and merges; kill -9 of the forwarder at random points loses nothing and
//! duplicates stay within one window per shard; destination throttling (`--limits kinesis`,
//! one shard) slows it without loss or reordering; a destination outage of several seconds
//! is ridden out; the reverse direction copies a remote stream into a local directory.
//!
//! `SHARDLOG_FORWARD_KILL_RUNS` sets the number of kill -9 runs (default 20).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod forward_support;
mod serve_support;

use std::time::{Duration, Instant};

use forward_support::*;
use serve_support::Server;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn every_record_arrives_once_in_order_per_key_with_keys_and_explicit_hash_keys_kept() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let sent = make_source(src.path(), "orders", 1_500, 40, 100);
    let server = Server::start(dst.path(), &[]);
    create_destination(server.addr, "copy", 3);
    let url = format!("http://{}", server.addr);
    let (stats, ok) = run_forward(
        &[
            "--dir",
            src.path().to_str().unwrap(),
            "--stream",
            "orders",
            "--to-stream",
            "copy",
            "--endpoint-url",
            &url,
            "--until-caught-up",
        ],
        LIMIT,
    );
    assert!(ok, "forward failed: {stats}");
    assert_eq!(stats["outcome"], "caught_up");
    assert_eq!(stats["records_forwarded"], 1_500);
    assert_eq!(stats["records_behind"], 0);
    assert_eq!(stats["shards_finished"], 3, "shards 0, 2 and 3 were closed and forwarded to their end: {stats}");
    // Run again: everything is checkpointed, nothing is sent twice.
    let (again, ok) = run_forward(
        &[
            "--dir",
            src.path().to_str().unwrap(),
            "--stream",
            "orders",
            "--to-stream",
            "copy",
            "--endpoint-url",
            &url,
            "--until-caught-up",
        ],
        LIMIT,
    );
    assert!(ok, "{again}");
    assert_eq!(again["records_forwarded"], 0);
    assert!(server.terminate().success());
    let got = read_back(dst.path(), "copy");
    let verdict = check(&sent, &got);
    assert_eq!(verdict.duplicates, 0, "strict ordering without failures sends every record once");
}

fn kill_runs() -> usize {
    std::env::var("SHARDLOG_FORWARD_KILL_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20)
}

#[test]
fn kill_9_at_random_points_loses_nothing_and_duplicates_stay_within_one_window_per_shard() {
    const WINDOW: usize = 40;
    const MAX_SHARDS_IN_FLIGHT: usize = 3;
    let seed = std::env::var("SHARDLOG_FORWARD_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("kill -9 points from seed {seed} (SHARDLOG_FORWARD_SEED={seed} to replay)");
    let mut rng = Rng(seed);
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let sent = make_source(src.path(), "orders", 3_000, 24, 100);
    let server = Server::start(dst.path(), &[]);
    create_destination(server.addr, "copy", 2);
    let url = format!("http://{}", server.addr);
    let window = WINDOW.to_string();
    let args = [
        "--dir",
        src.path().to_str().unwrap(),
        "--stream",
        "orders",
        "--to-stream",
        "copy",
        "--endpoint-url",
        &url,
        "--until-caught-up",
        "--batch-records",
        &window,
    ];
    let mut kills = 0usize;
    for run in 0..kill_runs() {
        let mut child = spawn_forward(&args);
        let rx = json_lines(&mut child);
        // A random point: after a random number of requests (0: as soon as it reports).
        let after = rng.below(12);
        let hit = wait_for(&rx, LIMIT, |s| s["requests"].as_u64().unwrap_or(0) >= after);
        if hit.is_some() {
            child.kill().expect("kill -9");
            kills += 1;
        }
        let status = wait_exit(&mut child, LIMIT);
        assert!(hit.is_some() || status.success(), "run {run}: the forwarder failed on its own");
    }
    let (stats, ok) = run_forward(&args, LIMIT);
    assert!(ok && stats["outcome"] == "caught_up", "{stats}");
    assert!(server.terminate().success());
    let got = read_back(dst.path(), "copy");
    let verdict = check(&sent, &got);
    let bound = kills * WINDOW * MAX_SHARDS_IN_FLIGHT;
    eprintln!("{kills} kills, {} duplicates (bound {bound})", verdict.duplicates);
    assert!(verdict.duplicates <= bound, "{} duplicates after {kills} kills exceed {bound}", verdict.duplicates);
}

#[test]
fn destination_throttling_slows_the_forwarder_without_loss_or_reordering() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    // 3.2 MB of 8 KB records for a 1-shard destination at Kinesis' 1 MiB/s: even a slow
    // forwarder on a busy machine sends faster than that.
    let sent = make_source(src.path(), "orders", 400, 100, 8_000);
    let server = Server::start(dst.path(), &["--limits", "kinesis"]);
    create_destination(server.addr, "copy", 1);
    let url = format!("http://{}", server.addr);
    let (stats, ok) = run_forward(
        &[
            "--dir",
            src.path().to_str().unwrap(),
            "--stream",
            "orders",
            "--to-stream",
            "copy",
            "--endpoint-url",
            &url,
            "--until-caught-up",
            "--backoff-base-ms",
            "20",
            "--backoff-max-ms",
            "500",
        ],
        LIMIT,
    );
    assert!(ok, "{stats}");
    let throttled = stats["entries_throttled"].as_u64().unwrap() + stats["request_failures"].as_u64().unwrap();
    assert!(throttled > 0, "the destination never throttled: {stats}");
    assert!(stats["backoffs"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["elapsed_ms"].as_u64().unwrap() >= 1_000, "3.2 MB at 1 MiB/s took under a second: {stats}");
    assert_eq!(stats["records_forwarded"], 400);
    assert!(server.terminate().success());
    let verdict = check(&sent, &read_back(dst.path(), "copy"));
    assert_eq!(verdict.duplicates, 0, "strict ordering re-sends nothing");
}

#[test]
fn batched_ordering_under_throttling_keeps_each_keys_order_as_a_subsequence() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let sent = make_source(src.path(), "orders", 400, 8, 8_000);
    let server = Server::start(dst.path(), &["--limits", "kinesis"]);
    create_destination(server.addr, "copy", 1);
    let url = format!("http://{}", server.addr);
    let (stats, ok) = run_forward(
        &[
            "--dir",
            src.path().to_str().unwrap(),
            "--stream",
            "orders",
            "--to-stream",
            "copy",
            "--endpoint-url",
            &url,
            "--until-caught-up",
            "--ordering",
            "batched",
            "--backoff-base-ms",
            "20",
            "--backoff-max-ms",
            "500",
        ],
        LIMIT,
    );
    assert!(ok, "{stats}");
    assert!(stats["entries_throttled"].as_u64().unwrap() > 0, "{stats}");
    assert!(server.terminate().success());
    check_subsequence(&sent, &read_back(dst.path(), "copy"));
}

#[test]
fn a_destination_outage_of_several_seconds_is_ridden_out() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let sent = make_source(src.path(), "orders", 3_000, 24, 100);
    let server = Server::start(dst.path(), &[]);
    let addr = server.addr;
    create_destination(addr, "copy", 2);
    let url = format!("http://{addr}");
    let mut child = spawn_forward(&[
        "--dir",
        src.path().to_str().unwrap(),
        "--stream",
        "orders",
        "--to-stream",
        "copy",
        "--endpoint-url",
        &url,
        "--until-caught-up",
        "--max-records-per-sec",
        "1500",
        "--backoff-base-ms",
        "50",
        "--backoff-max-ms",
        "1000",
    ]);
    let rx = json_lines(&mut child);
    wait_for(&rx, LIMIT, |s| s["records_forwarded"].as_u64().unwrap_or(0) >= 500).expect("the forwarder ended early");
    assert!(server.terminate().success());
    let down = Instant::now();
    // The outage lasts at least 3 s and until the forwarder has failed several times.
    let during = wait_for(&rx, LIMIT, |s| {
        s["request_failures"].as_u64().unwrap_or(0) >= 3 && down.elapsed() >= Duration::from_secs(3)
    })
    .expect("the forwarder gave up during the outage");
    assert!(during["records_forwarded"].as_u64().unwrap() < 3_000);
    let server = Server::start_on(dst.path(), &addr.to_string(), &[]);
    let last = loop {
        match rx.recv_timeout(LIMIT) {
            Ok(v) if v["final"] == true => break v,
            Ok(_) => {}
            Err(e) => panic!("no final stats: {e}"),
        }
    };
    assert!(wait_exit(&mut child, LIMIT).success(), "{last}");
    assert_eq!(last["outcome"], "caught_up");
    assert!(server.terminate().success());
    let verdict = check(&sent, &read_back(dst.path(), "copy"));
    assert!(verdict.duplicates <= 500 * 3, "{} duplicates", verdict.duplicates);
}

#[test]
fn the_reverse_direction_copies_a_remote_stream_across_lineage_into_a_local_directory() {
    let remote_dir = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let sent = make_source(remote_dir.path(), "orders", 1_200, 30, 100);
    let server = Server::start(remote_dir.path(), &[]);
    let url = format!("http://{}", server.addr);
    let args = [
        "--from-endpoint",
        url.as_str(),
        "--from-stream",
        "orders",
        "--to-dir",
        local.path().to_str().unwrap(),
        "--until-caught-up",
    ];
    let (stats, ok) = run_forward(&args, LIMIT);
    assert!(ok, "{stats}");
    assert_eq!(stats["records_forwarded"], 1_200);
    let (again, ok) = run_forward(&args, LIMIT);
    assert!(ok, "{again}");
    assert_eq!(again["records_forwarded"], 0, "positions were kept in the data directory");
    assert!(server.terminate().success());
    let verdict = check_with(&sent, &read_back(local.path(), "orders"), false);
    assert_eq!(verdict.duplicates, 0);
}

/// Records stored in a (never resharded) destination stream, counted over HTTP.
fn count_records(addr: std::net::SocketAddr, stream: &str) -> usize {
    let shards = serve_support::ok_json(addr, "ListShards", serde_json::json!({"StreamName": stream}));
    let mut n = 0;
    for s in shards["Shards"].as_array().unwrap() {
        let it = serve_support::ok_json(
            addr,
            "GetShardIterator",
            serde_json::json!({"StreamName": stream, "ShardId": s["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        );
        let mut iterator = it["ShardIterator"].clone();
        loop {
            let r = serve_support::ok_json(addr, "GetRecords", serde_json::json!({"ShardIterator": iterator}));
            let got = r["Records"].as_array().unwrap().len();
            n += got;
            if got == 0 {
                break;
            }
            iterator = r["NextShardIterator"].clone();
        }
    }
    n
}

#[test]
fn serve_forward_ships_a_local_stream_while_serving_it() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let sent = make_source(src.path(), "orders", 1_200, 30, 100);
    let destination = Server::start(dst.path(), &[]);
    create_destination(destination.addr, "copy", 2);
    let spec = format!("orders=copy@http://{}", destination.addr);
    let source = Server::start_with(src.path(), "127.0.0.1:0", &["--forward", &spec], aws_env);
    let deadline = Instant::now() + LIMIT;
    while count_records(destination.addr, "copy") < 1_200 {
        assert!(Instant::now() < deadline, "serve --forward did not ship 1,200 records in time");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Records put while serving are forwarded too.
    serve_support::ok_json(
        source.addr,
        "PutRecord",
        serde_json::json!({"StreamName": "orders", "PartitionKey": "k1", "Data": "bGF0ZQ=="}),
    );
    while count_records(destination.addr, "copy") < 1_201 {
        assert!(Instant::now() < deadline, "a record put while serving was not forwarded");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The forwarder's series are on the source server's /metrics.
    let labels = format!("{{stream=\"orders\",destination=\"copy@http://{}\"}}", destination.addr);
    let metrics = loop {
        let text = serve_support::get(source.addr, "/metrics").text();
        // The lag gauge follows within a poll interval of the last checkpoint.
        if text.contains(&format!("shardlog_forward_records_total{labels} 1201\n"))
            && text.contains(&format!("shardlog_forward_records_behind{labels} 0\n"))
        {
            break text;
        }
        assert!(Instant::now() < deadline, "no forward series on /metrics: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(metrics.contains("shardlog_forward_millis_behind{"), "{metrics}");
    assert!(source.terminate().success());
    assert!(destination.terminate().success());
    let got: Vec<Got> = read_back(dst.path(), "copy").into_iter().filter(|g| g.index != usize::MAX).collect();
    let verdict = check(&sent, &got);
    assert_eq!(verdict.duplicates, 0);
}

#[test]
fn keep_until_forwarded_deletes_what_the_destination_acknowledged() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let config = shardlog::EngineConfig {
        log: shardlog::LogConfig { segment_max_bytes: 16 * 1024, ..Default::default() },
        ..Default::default()
    };
    let sent = make_source_with(src.path(), "orders", 3_000, 24, 200, config);
    let before = segment_bytes(src.path());
    let server = Server::start(dst.path(), &[]);
    create_destination(server.addr, "copy", 2);
    let url = format!("http://{}", server.addr);
    let (stats, ok) = run_forward(
        &[
            "--dir",
            src.path().to_str().unwrap(),
            "--stream",
            "orders",
            "--to-stream",
            "copy",
            "--endpoint-url",
            &url,
            "--until-caught-up",
            "--keep-until-forwarded",
        ],
        LIMIT,
    );
    assert!(ok, "{stats}");
    let after = segment_bytes(src.path());
    assert!(stats["bytes_trimmed"].as_u64().unwrap() > 0, "{stats}");
    // What is left: at most the segment being appended to on each of the 5 shards.
    // What is left: only the segment each of the 5 shards was appending to.
    let mut left: Vec<(String, u64)> = Vec::new();
    for shard in std::fs::read_dir(src.path().join("shards"))
        .unwrap()
        .flatten()
        .flat_map(|s| std::fs::read_dir(s.path()).unwrap().flatten())
    {
        for f in std::fs::read_dir(shard.path()).unwrap().flatten() {
            if f.path().extension().is_some_and(|x| x == "log") {
                left.push((f.path().display().to_string(), f.metadata().unwrap().len()));
            }
        }
    }
    assert_eq!(left.len(), 5, "one segment per shard should be left: {left:?}");
    assert!(before > 4 * after, "{after} bytes left of {before}");
    assert!(server.terminate().success());
    assert_eq!(check(&sent, &read_back(dst.path(), "copy")).duplicates, 0);
}

#[test]
fn errors_retrying_cannot_fix_stop_the_forwarder_with_the_reason_and_bad_arguments_exit_2() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    make_source(src.path(), "orders", 30, 5, 50);
    let server = Server::start(dst.path(), &[]);
    let url = format!("http://{}", server.addr);
    let dir = src.path().to_str().unwrap();
    // The destination stream does not exist.
    let (stats, ok) = run_forward(
        &["--dir", dir, "--stream", "orders", "--to-stream", "missing", "--endpoint-url", &url, "--until-caught-up"],
        LIMIT,
    );
    assert!(!ok);
    assert_eq!(stats["outcome"], "failed");
    assert!(stats["error"].as_str().unwrap().contains("ResourceNotFoundException"), "{stats}");
    // The local stream does not exist.
    let (stats, ok) =
        run_forward(&["--dir", dir, "--stream", "nope", "--to-stream", "missing", "--endpoint-url", &url], LIMIT);
    assert!(!ok);
    assert!(stats["error"].as_str().unwrap().contains("nope"), "{stats}");
    // Usage errors.
    for args in [
        vec!["--stream", "orders", "--to-stream", "x"],
        vec!["--dir", dir, "--stream", "orders"],
        vec!["--dir", dir, "--stream", "orders", "--to-stream", "x", "--batch-records", "501"],
        vec!["--dir", dir, "--stream", "orders", "--to-stream", "x", "--rekey", "{nope}"],
        vec!["--dir", dir, "--stream", "orders", "--to-stream", "x", "--endpoint-url", "ftp://h"],
        vec!["--dir", "/nonexistent/shardlog", "--stream", "orders", "--to-stream", "x"],
    ] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_shardlog"));
        let out = aws_env(cmd.arg("forward").args(&args)).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(server.terminate().success());
}
