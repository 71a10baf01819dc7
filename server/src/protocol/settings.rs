//! Wire side of the account, capacity, encryption and monitoring operations:
//! `DescribeAccountSettings`, `UpdateAccountSettings`, `UpdateStreamMode`,
//! `UpdateStreamWarmThroughput`, `UpdateStreamRecordDistributionStrategy`,
//! `Start/StopStreamEncryption`, `Enable/DisableEnhancedMonitoring`.
//!
//! As in `ops`: the model validator has checked every member (required members, enum values,
//! ranges, list sizes) before these run; they read the members with the deserializer's
//! conversions and call the engine, which checks what needs state (key ids, limits, modes).

use shardlog::engine::types::*;
use shardlog::Engine;

use super::convert::{
    api, enumeration, metrics_list, opt_push, required, s, unsigned, Members, DISTRIBUTIONS, STREAM_MODES,
};
use super::errors::ApiError;
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

pub(crate) fn describe_account_settings(engine: &Engine) -> Result<Out, ApiError> {
    Ok(account_settings(api(engine.describe_account_settings())?))
}

pub(crate) fn update_account_settings(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let path = "minimumThroughputBillingCommitment";
    let mut commitment = required(path, m.sub("MinimumThroughputBillingCommitment")?)?;
    let status = format!("{path}.status");
    let enable = required(&status, enumeration(&status, commitment.string("Status")?, COMMITMENT_INPUT)?)?;
    let input = UpdateAccountSettingsInput { enable_minimum_throughput_billing_commitment: enable };
    Ok(account_settings(api(engine.update_account_settings(input))?))
}

pub(crate) fn update_stream_mode(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let arn = required("streamARN", m.string("StreamARN")?)?;
    let stream_id = m.string("StreamId")?;
    let mut details = required("streamModeDetails", m.sub("StreamModeDetails")?)?;
    let path = "streamModeDetails.streamMode";
    let stream_mode = required(path, enumeration(path, details.string("StreamMode")?, STREAM_MODES)?)?;
    let warm = unsigned("warmThroughputMiBps", m.int("WarmThroughputMiBps")?)?;
    api(engine.update_stream_mode(UpdateStreamModeInput {
        stream: StreamRef { stream_arn: Some(arn), stream_id, ..StreamRef::default() },
        stream_mode,
        warm_throughput_mibps: warm,
    }))?;
    Ok(Out::empty())
}

pub(crate) fn update_stream_warm_throughput(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let stream = m.stream_ref()?;
    let warm = required("warmThroughputMiBps", unsigned("warmThroughputMiBps", m.int("WarmThroughputMiBps")?)?)?;
    let out =
        api(engine
            .update_stream_warm_throughput(UpdateStreamWarmThroughputInput { stream, warm_throughput_mibps: warm }))?;
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
    let arn = required("streamARN", m.string("StreamARN")?)?;
    let stream_id = m.string("StreamId")?;
    let path = "recordDistributionStrategy";
    let strategy = required(path, enumeration(path, m.string("RecordDistributionStrategy")?, DISTRIBUTIONS)?)?;
    api(engine.update_stream_record_distribution_strategy(UpdateStreamRecordDistributionStrategyInput {
        stream: StreamRef { stream_arn: Some(arn), stream_id, ..StreamRef::default() },
        record_distribution_strategy: strategy,
    }))?;
    Ok(Out::empty())
}

pub(crate) fn stream_encryption(engine: &Engine, m: &mut Members, start: bool) -> Result<Out, ApiError> {
    let stream = m.stream_ref()?;
    let path = "encryptionType";
    let encryption_type = required(path, enumeration(path, m.string("EncryptionType")?, ENCRYPTION_TYPES)?)?;
    let key_id = required("keyId", m.string("KeyId")?)?;
    let input = StreamEncryptionInput { stream, encryption_type, key_id };
    if start {
        api(engine.start_stream_encryption(input))?;
    } else {
        api(engine.stop_stream_encryption(input))?;
    }
    Ok(Out::empty())
}

pub(crate) fn enhanced_monitoring(engine: &Engine, m: &mut Members, enable: bool) -> Result<Out, ApiError> {
    let stream = m.stream_ref()?;
    let names: Vec<(&str, MetricsName)> = MetricsName::ALL.iter().map(|n| (n.as_str(), *n)).collect();
    let metrics = required("shardLevelMetrics", m.string_list("ShardLevelMetrics")?)?;
    let mut shard_level_metrics = Vec::with_capacity(metrics.len());
    for (i, name) in metrics.into_iter().enumerate() {
        let path = format!("shardLevelMetrics.{}.member", i + 1);
        shard_level_metrics.extend(enumeration(&path, Some(name), &names)?);
    }
    let input = EnhancedMonitoringInput { stream, shard_level_metrics };
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
