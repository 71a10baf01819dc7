//! Enhanced monitoring: `EnableEnhancedMonitoring` / `DisableEnhancedMonitoring` (the
//! stream's set of shard-level metrics, persisted in the catalog) and the per-shard counters
//! behind those metrics.
//!
//! The counters themselves live in [`crate::engine::metrics`]: every shard counts whether or
//! not a metric is enabled, and [`Engine::metrics`] reports them with the enabled set, so an
//! exporter (the server's `/metrics`) publishes shard-level series only for enabled metrics,
//! as CloudWatch does.
//!
//! AWS does not say whether the change passes through `UPDATING`; here it is applied at once
//! (the stream must be `ACTIVE`, as for resharding).

use crate::engine::types::*;
use crate::engine::Engine;
use crate::error::Result;
use crate::kinesis::{messages, Constraint, ValidationErrors};

fn check_metric_list(list: &[MetricsName]) -> Result<u8> {
    let mut e = ValidationErrors::new();
    let rendered = || format!("[{}]", list.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "));
    if list.is_empty() {
        e.push("shardLevelMetrics", rendered(), Constraint::MinLength(1));
    } else if list.len() > ShardMetric::ALL.len() {
        e.push("shardLevelMetrics", rendered(), Constraint::MaxLength(ShardMetric::ALL.len()));
    }
    e.into_result()?;
    Ok(list.iter().fold(0u8, |acc, m| match m {
        MetricsName::All => acc | ((1 << ShardMetric::ALL.len()) - 1),
        MetricsName::Metric(m) => acc | m.bit(),
    }))
}

impl Engine {
    /// `EnableEnhancedMonitoring`: adds metrics to the stream's set.
    pub fn enable_enhanced_monitoring(&self, input: EnhancedMonitoringInput) -> Result<EnhancedMonitoringOutput> {
        self.change_monitoring("EnableEnhancedMonitoring", input, |cur, bits| cur | bits)
    }

    /// `DisableEnhancedMonitoring`: removes metrics from the stream's set.
    pub fn disable_enhanced_monitoring(&self, input: EnhancedMonitoringInput) -> Result<EnhancedMonitoringOutput> {
        self.change_monitoring("DisableEnhancedMonitoring", input, |cur, bits| cur & !bits)
    }

    fn change_monitoring(
        &self,
        op: &str,
        input: EnhancedMonitoringInput,
        apply: fn(u8, u8) -> u8,
    ) -> Result<EnhancedMonitoringOutput> {
        self.inner.admit_control(op, 0)?;
        let bits = check_metric_list(&input.shard_level_metrics)?;
        let mut before = 0u8;
        let mut after = 0u8;
        let mut name = String::new();
        self.update_stream(&input.stream, |inner, meta| {
            let status = inner.status(meta);
            if status != StreamStatus::Active {
                return Err(messages::stream_not_active(&meta.name, &inner.config.account_id, status.as_str()));
            }
            before = meta.shard_level_metrics;
            after = apply(before, bits);
            meta.shard_level_metrics = after;
            name = meta.name.clone();
            Ok(())
        })?;
        let h = self.inner.resolve(&StreamRef::name(&name))?;
        Ok(EnhancedMonitoringOutput {
            stream_name: name,
            stream_arn: h.arn.clone(),
            current_shard_level_metrics: ShardMetric::from_bits(before),
            desired_shard_level_metrics: ShardMetric::from_bits(after),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_means_the_seven_metrics_and_lists_are_1_to_7_long() {
        assert_eq!(check_metric_list(&[MetricsName::All]).unwrap(), 0x7f);
        let one = MetricsName::Metric(ShardMetric::OutgoingBytes);
        assert_eq!(check_metric_list(&[one, one]).unwrap(), ShardMetric::OutgoingBytes.bit());
        assert!(check_metric_list(&[]).is_err());
        assert!(check_metric_list(&[one; 8]).is_err());
        assert_eq!(ShardMetric::from_bits(0x7f), ShardMetric::ALL.to_vec());
    }
}
