//! Per-mapping metrics on `/metrics`, read from the registry at each scrape: Lambda's
//! CloudWatch metrics for a stream event source, in Prometheus' conventions.
//!
//! | Prometheus | CloudWatch | kind |
//! |---|---|---|
//! | `lambda_invocations_total` | `Invocations` | counter |
//! | `lambda_errors_total` | `Errors` (failed invocations: function errors, timeouts, failed connections) | counter |
//! | `lambda_iterator_age_milliseconds` | `IteratorAge` (age of the last record of the last invocation; absent before the first) | gauge |
//! | `lambda_event_source_mapping_polled_events_total` | `PolledEventCount` | counter |
//! | `lambda_event_source_mapping_filtered_out_events_total` | `FilteredOutEventCount` | counter |
//! | `lambda_event_source_mapping_invoked_events_total` | `InvokedEventCount` (a retried record counts each time) | counter |
//! | `lambda_event_source_mapping_failed_invoke_events_total` | `FailedInvokeEventCount` | counter |
//! | `lambda_event_source_mapping_dropped_events_total` | `DroppedEventCount` (discarded after retries or record age) | counter |
//! | `lambda_event_source_mapping_on_failure_destination_delivered_events_total` | `OnFailureDestinationDeliveredEventCount` | counter |
//! | `lambda_event_source_mapping_enabled` | — (1 while `State` is `Enabled`) | gauge |
//!
//! Every series has the labels `uuid`, `function_name` (the function ARN's name and
//! qualifier) and `event_source_arn`. Counters restart at zero with the server.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use super::model::State;
use super::registry::{MappingCounters, Registry};
use super::status::Counters;

/// The `/metrics` collector of one registry.
#[derive(Debug)]
pub struct LambdaCollector {
    registry: Arc<Registry>,
}

impl LambdaCollector {
    /// A collector reading `registry`.
    pub fn new(registry: Arc<Registry>) -> LambdaCollector {
        LambdaCollector { registry }
    }
}

impl Collector for LambdaCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode(&self.registry.counters(), &mut encoder)
    }
}

/// One metric family: name (without `_total`), help, counter or gauge, and its value (a
/// gauge's may be absent).
struct Family {
    name: &'static str,
    help: &'static str,
    counter: bool,
    value: fn(&Counters, State) -> Option<i64>,
}

fn count(v: u64) -> Option<i64> {
    Some(i64::try_from(v).unwrap_or(i64::MAX))
}

const FAMILIES: &[Family] = &[
    Family {
        name: "lambda_invocations",
        help: "Function invocations by the mapping (CloudWatch Invocations)",
        counter: true,
        value: |c, _| count(c.invocations),
    },
    Family {
        name: "lambda_errors",
        help: "Failed invocations: function errors, timeouts, failed connections (CloudWatch Errors)",
        counter: true,
        value: |c, _| count(c.failed_invocations),
    },
    Family {
        name: "lambda_iterator_age_milliseconds",
        help: "Age of the last record of the last invocation (CloudWatch IteratorAge)",
        counter: false,
        value: |c, _| (c.iterator_age_ms >= 0).then_some(c.iterator_age_ms),
    },
    Family {
        name: "lambda_event_source_mapping_polled_events",
        help: "Records read from the stream (CloudWatch PolledEventCount)",
        counter: true,
        value: |c, _| count(c.records_polled),
    },
    Family {
        name: "lambda_event_source_mapping_filtered_out_events",
        help: "Records dropped by FilterCriteria (CloudWatch FilteredOutEventCount)",
        counter: true,
        value: |c, _| count(c.records_filtered),
    },
    Family {
        name: "lambda_event_source_mapping_invoked_events",
        help: "Records sent to the function, each retry counted (CloudWatch InvokedEventCount)",
        counter: true,
        value: |c, _| count(c.records_delivered),
    },
    Family {
        name: "lambda_event_source_mapping_failed_invoke_events",
        help: "Records in failed invocations (CloudWatch FailedInvokeEventCount)",
        counter: true,
        value: |c, _| count(c.records_failed),
    },
    Family {
        name: "lambda_event_source_mapping_dropped_events",
        help: "Records discarded after retries or record age ran out (CloudWatch DroppedEventCount)",
        counter: true,
        value: |c, _| count(c.records_discarded),
    },
    Family {
        name: "lambda_event_source_mapping_on_failure_destination_delivered_events",
        help: "Records covered by stored on-failure documents (CloudWatch OnFailureDestinationDeliveredEventCount)",
        counter: true,
        value: |c, _| count(c.on_failure_records),
    },
    Family {
        name: "lambda_event_source_mapping_enabled",
        help: "1 while the mapping's State is Enabled",
        counter: false,
        value: |_, s| Some(i64::from(s == State::Enabled)),
    },
];

/// `function:<name>[:<qualifier>]` of a function ARN → `<name>[:<qualifier>]`.
fn function_name(arn: &str) -> &str {
    arn.split_once(":function:").map_or(arn, |(_, n)| n)
}

/// Encode a snapshot (a pure function of it, for tests).
pub(crate) fn encode(mappings: &[MappingCounters], encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    for f in FAMILIES {
        let kind = if f.counter { MetricType::Counter } else { MetricType::Gauge };
        let mut family = encoder.encode_descriptor(f.name, f.help, None, kind)?;
        for m in mappings {
            let Some(v) = (f.value)(&m.counters, m.state) else { continue };
            let labels = [
                ("uuid", m.uuid.as_str()),
                ("function_name", function_name(&m.function_arn)),
                ("event_source_arn", m.event_source_arn.as_str()),
            ];
            let e = family.encode_family(&labels)?;
            if f.counter {
                ConstCounter::new(u64::try_from(v).unwrap_or(0)).encode(e)?;
            } else {
                ConstGauge::new(v).encode(e)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry as Prom;

    use super::*;

    #[derive(Debug)]
    struct Fixed(Vec<MappingCounters>);

    impl Collector for Fixed {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            encode(&self.0, &mut encoder)
        }
    }

    #[test]
    fn each_mapping_has_lambdas_metrics_under_its_labels() {
        let m = MappingCounters {
            uuid: "u1".into(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:orders:live".into(),
            event_source_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/s".into(),
            state: State::Enabled,
            counters: Counters {
                invocations: 4,
                failed_invocations: 1,
                records_polled: 10,
                records_delivered: 12,
                records_failed: 3,
                records_filtered: 2,
                records_discarded: 1,
                on_failure_documents: 1,
                on_failure_records: 1,
                iterator_age_ms: 250,
            },
        };
        let fresh = MappingCounters {
            uuid: "u2".into(),
            state: State::Disabled,
            counters: Counters { iterator_age_ms: -1, ..Counters::default() },
            ..m.clone()
        };
        let mut reg = Prom::default();
        reg.register_collector(Box::new(Fixed(vec![m, fresh])));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &reg).unwrap();
        let l = "uuid=\"u1\",function_name=\"orders:live\",event_source_arn=\"arn:aws:kinesis:us-east-1:000000000000:stream/s\"";
        for line in [
            format!("lambda_invocations_total{{{l}}} 4"),
            format!("lambda_errors_total{{{l}}} 1"),
            format!("lambda_iterator_age_milliseconds{{{l}}} 250"),
            format!("lambda_event_source_mapping_polled_events_total{{{l}}} 10"),
            format!("lambda_event_source_mapping_filtered_out_events_total{{{l}}} 2"),
            format!("lambda_event_source_mapping_invoked_events_total{{{l}}} 12"),
            format!("lambda_event_source_mapping_failed_invoke_events_total{{{l}}} 3"),
            format!("lambda_event_source_mapping_dropped_events_total{{{l}}} 1"),
            format!("lambda_event_source_mapping_on_failure_destination_delivered_events_total{{{l}}} 1"),
            format!("lambda_event_source_mapping_enabled{{{l}}} 1"),
        ] {
            assert!(text.contains(&format!("{line}\n")), "missing {line}:\n{text}");
        }
        assert!(text.contains("lambda_event_source_mapping_enabled{uuid=\"u2\""), "{text}");
        assert!(!text.contains("lambda_iterator_age_milliseconds{uuid=\"u2\""), "no age before an invocation:\n{text}");
    }
}
