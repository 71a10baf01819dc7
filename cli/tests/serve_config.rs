//! `shardlog serve` configured like the emulators people know: `SHARDLOG_*` environment
//! variables (flags win), a `--config` TOML file (below both), start-up streams from the
//! environment across a restart, JSON log lines and `RUST_LOG`, and `/healthcheck` through a
//! shutdown grace period.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod serve_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_support::{call_json, get, ok_json, Server};

/// `shardlog serve` with no `SHARDLOG_*` or `RUST_LOG` inherited from the test's own
/// environment.
fn serve() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardlog"));
    cmd.arg("serve");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SHARDLOG_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn summary(addr: std::net::SocketAddr, stream: &str) -> Value {
    ok_json(addr, "DescribeStreamSummary", json!({"StreamName": stream}))["StreamDescriptionSummary"].clone()
}

#[test]
fn serve_help_shows_the_variable_of_every_flag() {
    let o = serve().arg("--help").output().unwrap();
    assert!(o.status.success());
    let help = String::from_utf8(o.stdout).unwrap();
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .map(|l| l.split([' ', '\t']).next().unwrap())
        .filter(|f| *f != "help")
        .collect();
    assert!(flags.len() >= 20, "{flags:?}");
    for f in flags {
        let var = match f {
            "create-stream" => "SHARDLOG_CREATE_STREAMS".to_string(),
            f => format!("SHARDLOG_{}", f.replace('-', "_").to_ascii_uppercase()),
        };
        // `[env: VAR=value]`, or `[env: VAR]` for the secret whose value is hidden.
        assert!(
            help.contains(&format!("[env: {var}=")) || help.contains(&format!("[env: {var}]")),
            "--{f} does not show {var}:\n{help}"
        );
    }
    for var in ["SHARDLOG_ADDR", "SHARDLOG_DIR", "SHARDLOG_DURABILITY", "SHARDLOG_LIMITS", "SHARDLOG_LOG_LEVEL"] {
        assert!(help.contains(var), "{var}");
    }
}

#[test]
fn the_readme_table_lists_every_serve_flag_with_its_variable() {
    let readme = include_str!("../../README.md");
    let cmd = shardlog_server::serve::ServeCommand::command();
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let var = arg.get_env().unwrap().to_string_lossy().into_owned();
        let row = format!("| `--{long}` | `{var}` |");
        assert!(readme.contains(&row), "README.md's flags table has no row starting {row}");
    }
}

#[test]
fn environment_variables_set_the_flags_that_were_not_given() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("from-env");
    let mut cmd = serve();
    cmd.env("SHARDLOG_ADDR", "127.0.0.1:0")
        .env("SHARDLOG_DIR", &dir)
        .env("SHARDLOG_REGION", "eu-west-1")
        .env("SHARDLOG_ACCOUNT", "123456789012")
        .env("SHARDLOG_CREATE_STREAMS", "orders:4,events:on-demand")
        .env("SHARDLOG_LOG_LEVEL", "warn")
        .env("SHARDLOG_VERIFY_SIGV4", "0")
        .stderr(Stdio::inherit());
    let server = Server::spawn(cmd);
    let orders = summary(server.addr, "orders");
    assert_eq!(orders["OpenShardCount"], 4);
    assert_eq!(orders["StreamARN"], "arn:aws:kinesis:eu-west-1:123456789012:stream/orders");
    assert_eq!(summary(server.addr, "events")["StreamModeDetails"]["StreamMode"], "ON_DEMAND");
    assert!(server.terminate().success());
    assert!(dir.join("MANIFEST").exists(), "SHARDLOG_DIR was used");
}

#[test]
fn flags_beat_the_environment_which_beats_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("shardlog.toml");
    std::fs::write(
        &config,
        format!(
            "dir = {:?}\nregion = \"ap-south-1\"\naccount = \"111111111111\"\ncreate_stream = [\"fromfile:2\"]\n\
             durability = \"sync\"\nlog-level = \"warn\"\n",
            tmp.path().join("data").to_str().unwrap()
        ),
    )
    .unwrap();
    let mut cmd = serve();
    cmd.args(["--addr", "127.0.0.1:0", "--region", "us-west-2", "--config"])
        .arg(&config)
        .env("SHARDLOG_REGION", "eu-west-1")
        .env("SHARDLOG_ACCOUNT", "222222222222")
        .stderr(Stdio::inherit());
    let server = Server::spawn(cmd);
    let s = summary(server.addr, "fromfile");
    assert_eq!(s["OpenShardCount"], 2, "the file's start-up stream (nothing above it set one)");
    // Region: the flag beats the environment and the file; account: the environment beats the file.
    assert_eq!(s["StreamARN"], "arn:aws:kinesis:us-west-2:222222222222:stream/fromfile");
    assert!(server.terminate().success());
    assert!(tmp.path().join("data/MANIFEST").exists(), "the file's dir was used");
}

#[test]
fn bad_config_keys_and_bad_variable_values_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("bad.toml");
    std::fs::write(&config, "colour = \"red\"\n").unwrap();
    let o = serve().arg("--config").arg(&config).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("\"colour\"") && err.contains("bad.toml"), "{err}");

    std::fs::write(&config, "tls = \"yes please\"\n").unwrap();
    let o = serve().arg("--config").arg(&config).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("true or false"));

    let o = serve().env("SHARDLOG_DURABILITY", "sometimes").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sometimes"));
    let o = serve().env("SHARDLOG_CREATE_STREAMS", "orders:0").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("shard count"));
}

#[test]
fn start_up_streams_from_the_environment_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let start = || {
        let mut cmd = serve();
        cmd.args(["--addr", "127.0.0.1:0", "--log-level", "warn", "--dir"])
            .arg(tmp.path())
            .env("SHARDLOG_CREATE_STREAMS", "orders:2,events:on-demand")
            .stderr(Stdio::inherit());
        Server::spawn(cmd)
    };
    let first = start();
    let put =
        ok_json(first.addr, "PutRecord", json!({"StreamName": "orders", "PartitionKey": "k", "Data": "a2VwdA=="}));
    assert!(first.terminate().success());

    let second = start();
    assert_eq!(summary(second.addr, "orders")["OpenShardCount"], 2);
    let it = ok_json(
        second.addr,
        "GetShardIterator",
        json!({"StreamName": "orders", "ShardId": put["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
    );
    let got = ok_json(second.addr, "GetRecords", json!({"ShardIterator": it["ShardIterator"]}));
    assert_eq!(got["Records"][0]["Data"], "a2VwdA==");
    assert_eq!(got["Records"][0]["SequenceNumber"], put["SequenceNumber"]);
    assert!(second.terminate().success());
}

/// Start with `args` and `env`, make a good and a bad call, stop, and return stderr.
fn logs_of(args: &[&str], env: &[(&str, &str)]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("stderr");
    let mut cmd = serve();
    cmd.args(["--addr", "127.0.0.1:0"]).args(args).envs(env.iter().copied());
    cmd.stderr(std::fs::File::create(&log).unwrap());
    let server = Server::spawn(cmd);
    ok_json(server.addr, "ListStreams", json!({}));
    assert_eq!(call_json(server.addr, "DescribeStreamSummary", &json!({"StreamName": "missing"})).status, 400);
    assert!(server.terminate().success());
    std::fs::read_to_string(&log).unwrap()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l:?}")))
        .collect()
}

fn request_lines(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["fields"]["message"] == "request").collect()
}

#[test]
fn json_log_lines_parse_and_carry_the_request_fields() {
    let lines = json_lines(&logs_of(&["--log-format", "json", "--log-level", "info"], &[]));
    assert!(lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string() && l["fields"].is_object()));
    let requests = request_lines(&lines);
    let ok = requests.iter().find(|l| l["fields"]["op"] == "ListStreams").expect("a ListStreams line");
    assert_eq!(ok["fields"]["status"], 200);
    assert_eq!(ok["level"], "INFO");
    let bad = requests.iter().find(|l| l["fields"]["op"] == "DescribeStreamSummary").expect("the failed call");
    assert_eq!(bad["fields"]["status"], 400);
    assert_eq!(bad["fields"]["error"], "ResourceNotFoundException");
    // The no---dir warning and the clean-stop line are JSON too.
    assert!(lines
        .iter()
        .any(|l| l["level"] == "WARN" && l["fields"]["message"].as_str().unwrap().contains("NOT survive")));
    assert!(lines.iter().any(|l| l["fields"]["message"] == "stopped; data directory closed cleanly"));
}

#[test]
fn rust_log_filters_unless_a_log_level_is_given() {
    let quiet = json_lines(&logs_of(&["--log-format", "json"], &[("RUST_LOG", "warn")]));
    assert!(request_lines(&quiet).is_empty(), "RUST_LOG=warn hides request lines");
    assert!(!quiet.is_empty(), "warnings still show");
    let targeted =
        json_lines(&logs_of(&["--log-format", "json"], &[("RUST_LOG", "warn,shardlog_server::serve::handler=info")]));
    assert_eq!(request_lines(&targeted).len(), 2, "per-target directives work");
    let flag = json_lines(&logs_of(&["--log-format", "json", "--log-level", "warn"], &[("RUST_LOG", "info")]));
    assert!(request_lines(&flag).is_empty(), "--log-level wins over RUST_LOG");
    let default = json_lines(&logs_of(&["--log-format", "json"], &[]));
    assert_eq!(request_lines(&default).len(), 2, "info by default");
}

#[test]
fn healthcheck_answers_503_through_the_shutdown_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--shutdown-grace-secs", "120"]);
    let h = get(server.addr, "/healthcheck");
    assert_eq!((h.status, h.text().as_str()), (200, r#"{"status":"ok"}"#));
    server.signal();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if get(server.addr, "/healthcheck").status == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "health never turned 503 after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(get(server.addr, "/health").status, 503);
    // Still serving the API while draining.
    ok_json(server.addr, "ListStreams", json!({}));
    // A second signal ends the grace period.
    server.signal();
    assert!(server.wait().success());
}
