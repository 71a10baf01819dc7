//! Wire side of the account, capacity, encryption and monitoring operations:
//! `DescribeAccountSettings`, `UpdateAccountSettings`, `UpdateStreamMode`,
//! `UpdateStreamWarmThroughput`, `UpdateStreamRecordDistributionStrategy`,
//! `Start/StopStreamEncryption`, `Enable/DisableEnhancedMonitoring`.
//!
//! As in `ops`: members are read with their model types, then required members, enum values
//! and negative integers are checked here; the engine validates the rest.

use shardlog::engine::types::*;
use shardlog::Engine;

use super::errors::ApiError;
use super::ops::{api, metrics_list, opt_push, s, Checks, Members, DISTRIBUTIONS, STREAM_MODES};
use super::wire::Out;

const COMMITMENT_INPUT: &[(&str, bool)] = &[("ENABLED", true), ("DISABLED", false)];
const ENCRYPTION_TYPES: &[(&str, EncryptionType)] = &[("NONE", EncryptionType::None), ("KMS", EncryptionType::Kms)];

fn account_settings(a: AccountSettings) -> Out {
    let c = a.minimum_throughput_billing_commitment;
    let mut m = vec![("Status", Out::Static(c.status.as_str()))];
    opt_push(&mut m, "StartedAt", c.started_at.map(|t| Out::Time(t.as_millis())));
    opt_push(&mut m, "EndedAt", c.ended_at.map(|t| Out::Time(t.as_millis())));
    opt_push(&mut m, "EarliestAllowedEndAt", c.earliest_allowed_end_at.map(|t| Out::Time(t.as_millis())));
    Out::Map(vec![("MinimumThroughputBillingCommitment", Out::Map(m))])
}

pub(crate) fn describe_account_settings(engine: &Engine, _m: &mut Members) -> Result<Out, ApiError> {
    Ok(account_settings(api(engine.describe_account_settings())?))
}

pub(crate) fn update_account_settings(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let status = match m.sub("MinimumThroughputBillingCommitment")? {
        Some(mut c) => Some(c.string("Status")?),
        None => None,
    };
    let mut c = Checks::default();
    let enable = c.required("minimumThroughputBillingCommitment", status).and_then(|st| {
        let st = c.required("minimumThroughputBillingCommitment.status", st);
        c.enumeration("minimumThroughputBillingCommitment.status", st, COMMITMENT_INPUT)
    });
    c.finish()?;
    let input = UpdateAccountSettingsInput { enable_minimum_throughput_billing_commitment: enable.unwrap_or(false) };
    Ok(account_settings(api(engine.update_account_settings(input))?))
}

pub(crate) fn update_stream_mode(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let arn = m.string("StreamARN")?;
    let stream_id = m.string("StreamId")?;
    let mode = match m.sub("StreamModeDetails")? {
        Some(mut d) => Some(d.string("StreamMode")?),
        None => None,
    };
    let warm = m.int("WarmThroughputMiBps")?;
    let mut c = Checks::default();
    let arn = c.required("streamARN", arn);
    let mode = c.required("streamModeDetails", mode).and_then(|md| {
        let md = c.required("streamModeDetails.streamMode", md);
        c.enumeration("streamModeDetails.streamMode", md, STREAM_MODES)
    });
    let warm = c.int("warmThroughputMiBps", warm, 0);
    c.finish()?;
    let (Some(arn), Some(stream_mode)) = (arn, mode) else { return Err(ApiError::internal()) };
    api(engine.update_stream_mode(UpdateStreamModeInput {
        stream: StreamRef { stream_arn: Some(arn), stream_id, ..StreamRef::default() },
        stream_mode,
        warm_throughput_mibps: warm,
    }))?;
    Ok(Out::empty())
}

pub(crate) fn update_stream_warm_throughput(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let stream = m.stream_ref()?;
    let warm = m.int("WarmThroughputMiBps")?;
    let mut c = Checks::default();
    let warm = c.required("warmThroughputMiBps", warm);
    let warm = c.int("warmThroughputMiBps", warm, 0);
    c.finish()?;
    let out = api(engine.update_stream_warm_throughput(UpdateStreamWarmThroughputInput {
        stream,
        warm_throughput_mibps: warm.unwrap_or_default(),
    }))?;
    Ok(Out::Map(vec![
        ("StreamARN", s(out.stream_arn)),
        ("StreamName", s(out.stream_name)),
        (
            "WarmThroughput",
            Out::Map(vec![
                ("TargetMiBps", Out::Int(i64::from(out.warm_throughput.target_mibps))),
                ("CurrentMiBps", Out::Int(i64::from(out.warm_throughput.current_mibps))),
            ]),
        ),
    ]))
}

pub(crate) fn update_record_distribution(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let arn = m.string("StreamARN")?;
    let stream_id = m.string("StreamId")?;
    let strategy = m.string("RecordDistributionStrategy")?;
    let mut c = Checks::default();
    let arn = c.required("streamARN", arn);
    let strategy = c.required("recordDistributionStrategy", strategy);
    let strategy = c.enumeration("recordDistributionStrategy", strategy, DISTRIBUTIONS);
    c.finish()?;
    let (Some(arn), Some(strategy)) = (arn, strategy) else { return Err(ApiError::internal()) };
    api(engine.update_stream_record_distribution_strategy(UpdateStreamRecordDistributionStrategyInput {
        stream: StreamRef { stream_arn: Some(arn), stream_id, ..StreamRef::default() },
        record_distribution_strategy: strategy,
    }))?;
    Ok(Out::empty())
}

pub(crate) fn stream_encryption(engine: &Engine, m: &mut Members, start: bool) -> Result<Out, ApiError> {
    let stream = m.stream_ref()?;
    let kind = m.string("EncryptionType")?;
    let key = m.string("KeyId")?;
    let mut c = Checks::default();
    let kind = c.required("encryptionType", kind);
    let kind = c.enumeration("encryptionType", kind, ENCRYPTION_TYPES);
    let key = c.required("keyId", key);
    c.finish()?;
    let input =
        StreamEncryptionInput { stream, encryption_type: kind.unwrap_or_default(), key_id: key.unwrap_or_default() };
    if start {
        api(engine.start_stream_encryption(input))?;
    } else {
        api(engine.stop_stream_encryption(input))?;
    }
    Ok(Out::empty())
}

pub(crate) fn enhanced_monitoring(engine: &Engine, m: &mut Members, enable: bool) -> Result<Out, ApiError> {
    let stream = m.stream_ref()?;
    let metrics = m.string_list("ShardLevelMetrics")?;
    let names: Vec<(&str, MetricsName)> = MetricsName::ALL.iter().map(|n| (n.as_str(), *n)).collect();
    let mut c = Checks::default();
    let mut list = Vec::new();
    if let Some(items) = c.required("shardLevelMetrics", metrics) {
        for (i, item) in items.into_iter().enumerate() {
            let member = format!("shardLevelMetrics.{}.member", i + 1);
            list.extend(c.enumeration(&member, Some(item), &names));
        }
    }
    c.finish()?;
    let input = EnhancedMonitoringInput { stream, shard_level_metrics: list };
    let out = if enable {
        api(engine.enable_enhanced_monitoring(input))?
    } else {
        api(engine.disable_enhanced_monitoring(input))?
    };
    Ok(Out::Map(vec![
        ("StreamName", s(out.stream_name)),
        ("CurrentShardLevelMetrics", metrics_list(&out.current_shard_level_metrics)),
        ("DesiredShardLevelMetrics", metrics_list(&out.desired_shard_level_metrics)),
        ("StreamARN", s(out.stream_arn)),
    ]))
}
