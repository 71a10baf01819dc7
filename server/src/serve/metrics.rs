//! `GET /metrics`: Prometheus text (or OpenMetrics when the scraper asks for it) with
//! Kinesis' CloudWatch metric names in Prometheus' conventions.
//!
//! | Prometheus | CloudWatch | kind |
//! |---|---|---|
//! | `kinesis_incoming_records_total` | `IncomingRecords` | counter |
//! | `kinesis_incoming_bytes_total` | `IncomingBytes` | counter |
//! | `kinesis_get_records_records_total` | `GetRecords.Records` | counter |
//! | `kinesis_get_records_bytes_total` | `GetRecords.Bytes` | counter |
//! | `kinesis_get_records_iterator_age_milliseconds` | `GetRecords.IteratorAgeMilliseconds` | gauge |
//! | `kinesis_write_provisioned_throughput_exceeded_total` | `WriteProvisionedThroughputExceeded` | counter |
//! | `kinesis_read_provisioned_throughput_exceeded_total` | `ReadProvisionedThroughputExceeded` | counter |
//! | `kinesis_subscribe_to_shard_event_records_total` | `SubscribeToShardEvent.Records` | counter |
//! | `kinesis_subscribe_to_shard_event_bytes_total` | `SubscribeToShardEvent.Bytes` | counter |
//! | `kinesis_subscribe_to_shard_event_millis_behind_latest` | `SubscribeToShardEvent.MillisBehindLatest` | gauge |
//!
//! Each has a series per stream (`{stream="orders"}`) and, for the shard-level metrics the
//! stream enabled with enhanced monitoring, one per shard (`{stream="orders",
//! shard_id="shardId-000000000000"}`): select stream totals with `shard_id=""` before
//! summing, or the shard series count twice. Which shard-level metric (CloudWatch's
//! `ShardLevelMetrics`) shows which per-shard series: `IncomingRecords`/`IncomingBytes` the
//! incoming pair, `OutgoingRecords`/`OutgoingBytes` the GetRecords and SubscribeToShard
//! records/bytes, `IteratorAgeMilliseconds` both gauges, and the two throughput ones theirs.
//!
//! Queues (labels `queue_id`, `queue_name`; CloudWatch's `QueueId`/`QueueName` dimensions):
//!
//! | Prometheus | CloudWatch | kind |
//! |---|---|---|
//! | `kinesis_received_queue_records_total` | `ReceivedQueueRecords` | counter |
//! | `kinesis_acknowledged_queue_records_total` | `AcknowledgedQueueRecords` | counter |
//! | `kinesis_empty_receives_total` | `EmptyReceives` | counter |
//! | `kinesis_visible_queue_records` | `VisibleQueueRecords` (capped at 1,000,000) | gauge |
//! | `kinesis_in_flight_queue_records` | `InFlightQueueRecords` | gauge |
//! | `kinesis_visible_dead_letter_queue_records` | `VisibleDeadLetterQueueRecords` | gauge |
//!
//! The server's own: `shardlog_requests_total{operation,status}` (HTTP status of every
//! Kinesis API request, `operation="unknown"` when the target names none) and
//! `shardlog_request_duration_seconds{operation}` (a histogram, until the response head for
//! SubscribeToShard). Engine gauges: `shardlog_open_shards{stream}` (shards open for writes),
//! `shardlog_stream_bytes_on_disk{stream}`, `shardlog_open_shard_logs`,
//! `shardlog_loaded_segments` (memory-mapped sealed segments) and, on Linux,
//! `process_open_fds`. The Lambda event-source mappings add `lambda_*` series per mapping
//! (see `crate::lambda::metrics`).
//!
//! With `serve --forward`, per forwarder (`{stream="orders",destination="copy@ENDPOINT"}`):
//! `shardlog_forward_records_total`, `shardlog_forward_bytes_total`,
//! `shardlog_forward_requests_total`, `shardlog_forward_failed_requests_total`,
//! `shardlog_forward_throttled_records_total`, `shardlog_forward_retries_total`,
//! `shardlog_forward_records_lost_to_retention_total` and the gauges
//! `shardlog_forward_records_behind` and `shardlog_forward_millis_behind`.
//!
//! Client bounds: `shardlog_open_connections`, `shardlog_refused_connections_total`,
//! `shardlog_buffered_body_bytes` and `shardlog_connection_timeouts_total{kind}` (`idle`,
//! `header_read`, `body_read`, `stall`).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use shardlog::engine::metrics::{DataPlaneCounters, EngineMetrics, ShardMetric};
use shardlog::engine::queues::QueueMetrics;
use shardlog::Engine;

use super::conn::TimeoutCounts;
use crate::forward::embedded::RunningForward;
use crate::forward::StatsSnapshot;

/// Labels of `shardlog_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: u16,
}

/// Labels of `shardlog_request_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

/// The metrics registry of one server: request metrics it updates and the engine's counters
/// read at each scrape.
#[derive(Debug)]
pub struct ServerMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<OperationLabels, Histogram>,
    open_connections: Gauge,
    refused_connections: Counter,
    buffered_body_bytes: Gauge<u64, AtomicU64>,
}

/// An open connection, counted in `shardlog_open_connections` until dropped.
#[derive(Debug)]
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl ServerMetrics {
    /// A registry exporting `engine`'s counters.
    pub fn new(engine: Engine) -> ServerMetrics {
        ServerMetrics::with_forwards(engine, Vec::new())
    }

    /// A registry exporting `engine`'s counters and the stats of `forwards`
    /// (`shardlog_forward_*`, labelled `stream` and `destination`).
    pub fn with_forwards(engine: Engine, forwards: Vec<RunningForward>) -> ServerMetrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("shardlog_requests", "Kinesis API requests by operation and HTTP status", requests.clone());
        let durations = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            // 0.25 ms to ~8 s.
            Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
        });
        registry.register(
            "shardlog_request_duration_seconds",
            "Time from request to response head, by operation",
            durations.clone(),
        );
        registry.register_collector(Box::new(EngineCollector { engine }));
        let open_connections = Gauge::default();
        registry.register("shardlog_open_connections", "Client connections open now", open_connections.clone());
        let refused_connections = Counter::default();
        registry.register(
            "shardlog_refused_connections",
            "Connections closed on accept because --max-connections were open",
            refused_connections.clone(),
        );
        let buffered_body_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "shardlog_buffered_body_bytes",
            "Bytes of request bodies being read or served (bounded by --max-buffered-body-bytes)",
            buffered_body_bytes.clone(),
        );
        if !forwards.is_empty() {
            registry.register_collector(Box::new(ForwardCollector { forwards }));
        }
        ServerMetrics { registry, requests, durations, open_connections, refused_connections, buffered_body_bytes }
    }

    /// Count a connection as open until the returned value is dropped.
    pub fn connection_opened(&self) -> OpenConnection {
        self.open_connections.inc();
        OpenConnection(self.open_connections.clone())
    }

    /// Count a connection refused at the connection limit.
    pub fn connection_refused(&self) {
        self.refused_connections.inc();
    }

    /// The gauge the request-body budget keeps its total in.
    pub fn buffered_body_bytes(&self) -> Gauge<u64, AtomicU64> {
        self.buffered_body_bytes.clone()
    }

    /// Export `timeouts` as `shardlog_connection_timeouts_total{kind}`.
    pub fn register_timeouts(&mut self, timeouts: &TimeoutCounts) {
        self.registry.register(
            "shardlog_connection_timeouts",
            "Connections and requests ended for taking too long, by kind (idle, header_read, body_read, stall)",
            timeouts.family(),
        );
    }

    /// Also export what `collector` reads at each scrape (the Lambda mappings' series).
    pub fn with_collector(mut self, collector: Box<dyn Collector>) -> ServerMetrics {
        self.registry.register_collector(collector);
        self
    }

    /// Count one API request.
    pub fn observe(&self, operation: &'static str, status: u16, elapsed: Duration) {
        self.requests.get_or_create(&RequestLabels { operation, status }).inc();
        self.durations.get_or_create(&OperationLabels { operation }).observe(elapsed.as_secs_f64());
    }

    /// The exposition and its content type: OpenMetrics if `accept` asks for it, else the
    /// Prometheus text format 0.0.4.
    pub fn render(&self, accept: Option<&str>) -> Result<(String, &'static str), std::fmt::Error> {
        let mut out = String::new();
        if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
            Ok((out, "application/openmetrics-text; version=1.0.0; charset=utf-8"))
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
            Ok((out, prometheus_client::encoding::prometheus_text::CONTENT_TYPE))
        }
    }
}

/// Reads the engine's counters at each scrape.
#[derive(Debug)]
struct EngineCollector {
    engine: Engine,
}

impl Collector for EngineCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode_engine(&self.engine.metrics(), open_fds(), &mut encoder)?;
        // A failing queue store shows no series rather than failing the whole scrape.
        encode_queues(&self.engine.queue_metrics().unwrap_or_default(), &mut encoder)
    }
}

/// Reads the forwarders' stats at each scrape.
#[derive(Debug)]
struct ForwardCollector {
    forwards: Vec<RunningForward>,
}

impl Collector for ForwardCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshots: Vec<(String, String, StatsSnapshot)> = self
            .forwards
            .iter()
            .map(|f| {
                let destination = format!("{}@{}", f.spec.to_stream, f.spec.endpoint_url.as_deref().unwrap_or("aws"));
                (f.spec.local.clone(), destination, f.stats())
            })
            .collect();
        encode_forwards(&snapshots, &mut encoder)
    }
}

/// One forwarder series: name (without `_total`), help, counter or gauge, how to read it.
type ForwardSeries = (&'static str, &'static str, bool, fn(&StatsSnapshot) -> u64);

const FORWARD_SERIES: &[ForwardSeries] = &[
    ("shardlog_forward_records", "Records the destination acknowledged (checkpointed)", true, |s| s.records_forwarded),
    ("shardlog_forward_bytes", "Bytes (data plus partition key) the destination acknowledged", true, |s| {
        s.bytes_forwarded
    }),
    ("shardlog_forward_requests", "PutRecords requests sent", true, |s| s.requests),
    ("shardlog_forward_failed_requests", "Requests that failed whole (throttled, 5xx, unreachable)", true, |s| {
        s.request_failures
    }),
    ("shardlog_forward_throttled_records", "Entries refused with ProvisionedThroughputExceeded", true, |s| {
        s.entries_throttled
    }),
    ("shardlog_forward_retries", "Backoff waits after failures", true, |s| s.backoffs),
    ("shardlog_forward_records_behind", "Records not yet acknowledged by the destination", false, |s| {
        s.records_behind.unwrap_or(0)
    }),
    ("shardlog_forward_millis_behind", "Age of the oldest record not yet acknowledged (0: caught up)", false, |s| {
        s.millis_behind
    }),
    ("shardlog_forward_records_lost_to_retention", "Records retention deleted before they were forwarded", true, |s| {
        s.records_lost_to_retention
    }),
];

/// Encode forwarder snapshots (`(local stream, destination, stats)`).
pub(crate) fn encode_forwards(
    forwards: &[(String, String, StatsSnapshot)],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    for (name, help, counter, value) in FORWARD_SERIES {
        let kind = if *counter { MetricType::Counter } else { MetricType::Gauge };
        let mut family = encoder.encode_descriptor(name, help, None, kind)?;
        for (stream, destination, stats) in forwards {
            let labels = [("stream", stream.as_str()), ("destination", destination.as_str())];
            encode_value(family.encode_family(&labels)?, *counter, value(stats))?;
        }
    }
    Ok(())
}

/// One Kinesis metric family: its name (without `_total`), help, type, the shard-level
/// metric that shows its per-shard series, and how to read it.
struct KinesisMetric {
    name: &'static str,
    help: &'static str,
    counter: bool,
    shard_level: ShardMetric,
    value: fn(&DataPlaneCounters) -> u64,
}

const KINESIS_METRICS: &[KinesisMetric] = &[
    KinesisMetric {
        name: "kinesis_incoming_records",
        help: "Records acknowledged by PutRecord and PutRecords (CloudWatch IncomingRecords)",
        counter: true,
        shard_level: ShardMetric::IncomingRecords,
        value: |c| c.incoming_records,
    },
    KinesisMetric {
        name: "kinesis_incoming_bytes",
        help: "Bytes (data plus partition key) acknowledged by PutRecord and PutRecords (CloudWatch IncomingBytes)",
        counter: true,
        shard_level: ShardMetric::IncomingBytes,
        value: |c| c.incoming_bytes,
    },
    KinesisMetric {
        name: "kinesis_get_records_records",
        help: "Records returned by GetRecords (CloudWatch GetRecords.Records)",
        counter: true,
        shard_level: ShardMetric::OutgoingRecords,
        value: |c| c.get_records_records,
    },
    KinesisMetric {
        name: "kinesis_get_records_bytes",
        help: "Bytes returned by GetRecords (CloudWatch GetRecords.Bytes)",
        counter: true,
        shard_level: ShardMetric::OutgoingBytes,
        value: |c| c.get_records_bytes,
    },
    KinesisMetric {
        name: "kinesis_get_records_iterator_age_milliseconds",
        help: "MillisBehindLatest of the latest GetRecords call; per stream the largest over its open shards \
               (CloudWatch GetRecords.IteratorAgeMilliseconds)",
        counter: false,
        shard_level: ShardMetric::IteratorAgeMilliseconds,
        value: |c| c.get_records_iterator_age_ms,
    },
    KinesisMetric {
        name: "kinesis_write_provisioned_throughput_exceeded",
        help: "Records refused by write throughput limits (CloudWatch WriteProvisionedThroughputExceeded)",
        counter: true,
        shard_level: ShardMetric::WriteProvisionedThroughputExceeded,
        value: |c| c.write_throughput_exceeded,
    },
    KinesisMetric {
        name: "kinesis_read_provisioned_throughput_exceeded",
        help: "GetRecords calls refused by read throughput limits (CloudWatch ReadProvisionedThroughputExceeded)",
        counter: true,
        shard_level: ShardMetric::ReadProvisionedThroughputExceeded,
        value: |c| c.read_throughput_exceeded,
    },
    KinesisMetric {
        name: "kinesis_subscribe_to_shard_event_records",
        help: "Records pushed by SubscribeToShard (CloudWatch SubscribeToShardEvent.Records)",
        counter: true,
        shard_level: ShardMetric::OutgoingRecords,
        value: |c| c.subscribe_event_records,
    },
    KinesisMetric {
        name: "kinesis_subscribe_to_shard_event_bytes",
        help: "Bytes pushed by SubscribeToShard (CloudWatch SubscribeToShardEvent.Bytes)",
        counter: true,
        shard_level: ShardMetric::OutgoingBytes,
        value: |c| c.subscribe_event_bytes,
    },
    KinesisMetric {
        name: "kinesis_subscribe_to_shard_event_millis_behind_latest",
        help: "MillisBehindLatest of the latest SubscribeToShard event (CloudWatch SubscribeToShardEvent.MillisBehindLatest)",
        counter: false,
        shard_level: ShardMetric::IteratorAgeMilliseconds,
        value: |c| c.subscribe_event_millis_behind_latest,
    },
];

fn encode_value(encoder: prometheus_client::encoding::MetricEncoder<'_>, counter: bool, v: u64) -> std::fmt::Result {
    if counter {
        ConstCounter::new(v).encode(encoder)
    } else {
        ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX)).encode(encoder)
    }
}

/// Encode an engine snapshot (a pure function of it, so tests can feed any snapshot).
pub(crate) fn encode_engine(
    m: &EngineMetrics,
    open_fds: Option<u64>,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    for km in KINESIS_METRICS {
        let kind = if km.counter { MetricType::Counter } else { MetricType::Gauge };
        let mut family = encoder.encode_descriptor(km.name, km.help, None, kind)?;
        for s in &m.streams {
            let labels = [("stream", s.stream_name.as_str())];
            encode_value(family.encode_family(&labels)?, km.counter, (km.value)(&s.counters))?;
            if !s.shard_level_metrics.contains(&km.shard_level) {
                continue;
            }
            for shard in &s.shards {
                let labels = [("stream", s.stream_name.as_str()), ("shard_id", shard.shard_id.as_str())];
                encode_value(family.encode_family(&labels)?, km.counter, (km.value)(&shard.counters))?;
            }
        }
    }
    let mut family = encoder.encode_descriptor(
        "shardlog_open_shards",
        "Shards open for writes, per stream",
        None,
        MetricType::Gauge,
    )?;
    for s in &m.streams {
        ConstGauge::new(i64::from(s.open_shards))
            .encode(family.encode_family(&[("stream", s.stream_name.as_str())])?)?;
    }
    let mut family = encoder.encode_descriptor(
        "shardlog_stream_bytes_on_disk",
        "Bytes of a stream's segment and index files",
        None,
        MetricType::Gauge,
    )?;
    for s in &m.streams {
        encode_value(family.encode_family(&[("stream", s.stream_name.as_str())])?, false, s.bytes_on_disk)?;
    }
    let family = encoder.encode_descriptor(
        "shardlog_open_shard_logs",
        "Shard logs open in this process",
        None,
        MetricType::Gauge,
    )?;
    encode_value(family, false, m.open_shard_logs)?;
    let family = encoder.encode_descriptor(
        "shardlog_loaded_segments",
        "Sealed segments currently memory-mapped",
        None,
        MetricType::Gauge,
    )?;
    encode_value(family, false, m.loaded_segments)?;
    if let Some(n) = open_fds {
        let family = encoder.encode_descriptor(
            "process_open_fds",
            "Open file descriptors of the process",
            None,
            MetricType::Gauge,
        )?;
        encode_value(family, false, n)?;
    }
    Ok(())
}

/// One queue metric family: name (without `_total`), help, kind, value.
type QueueMetric = (&'static str, &'static str, bool, fn(&QueueMetrics) -> u64);

const QUEUE_METRICS: &[QueueMetric] = &[
    (
        "kinesis_received_queue_records",
        "Records handed out by queue receives, normal and dead-letter (CloudWatch ReceivedQueueRecords)",
        true,
        |q| q.received,
    ),
    (
        "kinesis_acknowledged_queue_records",
        "Queue records acknowledged, normal and dead-letter (CloudWatch AcknowledgedQueueRecords)",
        true,
        |q| q.acknowledged,
    ),
    ("kinesis_empty_receives", "Queue receives that returned no record (CloudWatch EmptyReceives)", true, |q| {
        q.empty_receives
    }),
    (
        "kinesis_visible_queue_records",
        "Queue records receivable now: redeliveries plus records not yet received, capped at 1,000,000 \
         (CloudWatch VisibleQueueRecords)",
        false,
        |q| q.visible,
    ),
    ("kinesis_in_flight_queue_records", "Queue records in flight (CloudWatch InFlightQueueRecords)", false, |q| {
        q.in_flight
    }),
    (
        "kinesis_visible_dead_letter_queue_records",
        "Dead-letter records receivable now (CloudWatch VisibleDeadLetterQueueRecords)",
        false,
        |q| q.visible_dead_letter,
    ),
];

/// Encode the queues' metrics.
pub(crate) fn encode_queues(queues: &[QueueMetrics], encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    for &(name, help, counter, value) in QUEUE_METRICS {
        let kind = if counter { MetricType::Counter } else { MetricType::Gauge };
        let mut family = encoder.encode_descriptor(name, help, None, kind)?;
        for q in queues {
            let labels = [("queue_id", q.queue_id.as_str()), ("queue_name", q.queue_name.as_str())];
            encode_value(family.encode_family(&labels)?, counter, value(q))?;
        }
    }
    Ok(())
}

/// The process's open file descriptors (Linux: the entries of /proc/self/fd).
fn open_fds() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64)
}

/// The metrics of a server, shared by its handlers.
pub type SharedMetrics = Arc<ServerMetrics>;

#[cfg(test)]
mod tests {
    use shardlog::engine::metrics::{ShardMetrics, StreamMetrics};

    use super::*;

    fn snapshot(shard_level: Vec<ShardMetric>) -> EngineMetrics {
        let c = |n: u64| DataPlaneCounters {
            incoming_records: n,
            incoming_bytes: 10 * n,
            get_records_records: n,
            get_records_bytes: 10 * n,
            get_records_iterator_age_ms: 7,
            ..DataPlaneCounters::default()
        };
        EngineMetrics {
            streams: vec![StreamMetrics {
                stream_name: "orders".into(),
                counters: c(3),
                shards: vec![
                    ShardMetrics { shard_id: "shardId-000000000000".into(), open: true, counters: c(1) },
                    ShardMetrics { shard_id: "shardId-000000000001".into(), open: true, counters: c(2) },
                ],
                shard_level_metrics: shard_level,
                open_shards: 2,
                bytes_on_disk: 4096,
            }],
            open_shard_logs: 2,
            loaded_segments: 0,
        }
    }

    #[derive(Debug)]
    struct Fixed(EngineMetrics);

    impl Collector for Fixed {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            encode_engine(&self.0, Some(9), &mut encoder)
        }
    }

    fn render(m: EngineMetrics) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Fixed(m)));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
        out
    }

    #[derive(Debug)]
    struct FixedQueues(Vec<QueueMetrics>);

    impl Collector for FixedQueues {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            encode_queues(&self.0, &mut encoder)
        }
    }

    #[derive(Debug)]
    struct Forwards(Vec<(String, String, StatsSnapshot)>);

    impl Collector for Forwards {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            encode_forwards(&self.0, &mut encoder)
        }
    }

    #[test]
    fn queue_metrics_carry_the_queue_id_and_name() {
        let q = QueueMetrics {
            queue_id: "qabc".into(),
            queue_name: "workers".into(),
            received: 5,
            acknowledged: 4,
            empty_receives: 2,
            visible: 7,
            in_flight: 1,
            visible_dead_letter: 3,
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(FixedQueues(vec![q])));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        let l = "{queue_id=\"qabc\",queue_name=\"workers\"}";
        for line in [
            format!("kinesis_received_queue_records_total{l} 5\n"),
            format!("kinesis_acknowledged_queue_records_total{l} 4\n"),
            format!("kinesis_empty_receives_total{l} 2\n"),
            format!("kinesis_visible_queue_records{l} 7\n"),
            format!("kinesis_in_flight_queue_records{l} 1\n"),
            format!("kinesis_visible_dead_letter_queue_records{l} 3\n"),
        ] {
            assert!(text.contains(&line), "{line} missing from {text}");
        }
    }

    #[test]
    fn forwarder_series_carry_the_stream_and_the_destination() {
        let stats =
            StatsSnapshot { records_forwarded: 42, records_behind: Some(7), millis_behind: 1500, ..Default::default() };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Forwards(vec![("orders".into(), "copy@http://h:1".into(), stats)])));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        let labels = "{stream=\"orders\",destination=\"copy@http://h:1\"}";
        assert!(text.contains(&format!("shardlog_forward_records_total{labels} 42\n")), "{text}");
        assert!(text.contains(&format!("shardlog_forward_records_behind{labels} 7\n")), "{text}");
        assert!(text.contains(&format!("shardlog_forward_millis_behind{labels} 1500\n")), "{text}");
    }

    #[test]
    fn stream_series_only_without_enhanced_monitoring() {
        let text = render(snapshot(Vec::new()));
        assert!(text.contains("kinesis_incoming_records_total{stream=\"orders\"} 3\n"), "{text}");
        assert!(text.contains("kinesis_incoming_bytes_total{stream=\"orders\"} 30\n"), "{text}");
        assert!(text.contains("kinesis_get_records_iterator_age_milliseconds{stream=\"orders\"} 7\n"), "{text}");
        assert!(text.contains("shardlog_open_shards{stream=\"orders\"} 2\n"), "{text}");
        assert!(text.contains("shardlog_stream_bytes_on_disk{stream=\"orders\"} 4096\n"), "{text}");
        assert!(text.contains("process_open_fds 9\n"), "{text}");
        assert!(!text.contains("shard_id"), "{text}");
    }

    #[test]
    fn enabled_shard_level_metrics_add_per_shard_series_for_them_only() {
        let text = render(snapshot(vec![ShardMetric::IncomingRecords]));
        assert!(
            text.contains("kinesis_incoming_records_total{stream=\"orders\",shard_id=\"shardId-000000000001\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("kinesis_incoming_records_total{stream=\"orders\"} 3\n"), "{text}");
        let shard_lines: Vec<&str> = text.lines().filter(|l| l.contains("shard_id")).collect();
        assert_eq!(shard_lines.len(), 2, "only IncomingRecords per shard: {shard_lines:?}");
    }
}
