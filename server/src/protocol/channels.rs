//! Wire side of the channel operations: `CreateChannel`, `DescribeChannel`, `ListChannels`,
//! `UpdateChannel`, `DeleteChannel`.
//!
//! As in `ops`: the model validator has checked every member before these run (required
//! members at every depth, ARN and name patterns, enum values, list sizes); these read the
//! members with the deserializer's conversions, and the engine checks what the model does not
//! (freshness range, the two-channels-per-stream and no-backfill rules, the streams named).

use shardlog::engine::types::*;
use shardlog::Engine;

use super::convert::{api, enumeration, opt_push, required, s, structures, unsigned, Members};
use super::errors::ApiError;
use super::wire::Out;

const RECORD_FORMATS: &[(&str, RecordFormat)] = &[
    ("GSR_JSON", RecordFormat::GsrJson),
    ("JSON", RecordFormat::Json),
    ("STRING", RecordFormat::String),
    ("BYTE_ARRAY", RecordFormat::ByteArray),
];
const S3_COMPRESSION: &[(&str, S3Compression)] =
    &[("NONE", S3Compression::None), ("GZIP", S3Compression::Gzip), ("ZSTD", S3Compression::Zstd)];
const TABLES_COMPRESSION: &[(&str, TablesCompression)] =
    &[("NONE", TablesCompression::None), ("ZSTD", TablesCompression::Zstd), ("SNAPPY", TablesCompression::Snappy)];
const STORAGE_CLASSES: &[(&str, StorageClass)] = &[
    ("STANDARD", StorageClass::Standard),
    ("INTELLIGENT_TIERING", StorageClass::IntelligentTiering),
    ("GLACIER_IR", StorageClass::GlacierIr),
];
const CHANNEL_ENCRYPTION_TYPES: &[(&str, ())] = &[("KMS", ())];

fn dead_letter(path: &str, mut d: Members) -> Result<DeadLetterQueueS3Configuration, ApiError> {
    Ok(DeadLetterQueueS3Configuration {
        bucket_arn: required(&format!("{path}.bucketARN"), d.string("BucketARN")?)?,
        expected_bucket_owner: required(&format!("{path}.expectedBucketOwner"), d.string("ExpectedBucketOwner")?)?,
        error_output_prefix: d.string("ErrorOutputPrefix")?,
    })
}

fn logging(m: Option<Members>) -> Result<Option<ChannelLoggingConfiguration>, ApiError> {
    let Some(mut l) = m else { return Ok(None) };
    let mut cw = required("loggingConfiguration.cloudWatchLogs", l.sub("CloudWatchLogs")?)?;
    Ok(Some(ChannelLoggingConfiguration {
        enabled: required("loggingConfiguration.cloudWatchLogs.enabled", cw.boolean("Enabled")?)?,
        log_group_name: cw.string("LogGroupName")?,
        log_stream_name: cw.string("LogStreamName")?,
    }))
}

fn stream_configuration(path: &str, mut e: Members) -> Result<ChannelStreamConfiguration, ApiError> {
    let stream_arn = required(&format!("{path}.streamARN"), e.string("StreamARN")?)?;
    let rp = format!("{path}.recordConfiguration");
    let mut rc = required(&rp, e.sub("RecordConfiguration")?)?;
    let fp = format!("{rp}.recordFormatType");
    let record_format_type = required(&fp, enumeration(&fp, rc.string("RecordFormatType")?, RECORD_FORMATS)?)?;
    Ok(ChannelStreamConfiguration {
        stream_arn,
        record_configuration: RecordConfiguration { record_format_type, gsr_schema_arn: rc.string("GSRSchemaARN")? },
    })
}

fn s3_destination(mut d: Members) -> Result<S3DestinationConfiguration, ApiError> {
    let p = "s3DestinationConfiguration";
    let data_freshness_in_seconds = d.int("DataFreshnessInSeconds")?;
    let dead_letter_queue_s3_configuration = match d.sub("DeadLetterQueueS3Configuration")? {
        Some(dl) => Some(dead_letter(&format!("{p}.deadLetterQueueS3Configuration"), dl)?),
        None => None,
    };
    let sp = format!("{p}.storageConfiguration");
    let mut sc = required(&sp, d.sub("StorageConfiguration")?)?;
    let class_path = format!("{sp}.storageClass");
    let compression_path = format!("{sp}.compressionType");
    let storage_configuration = S3StorageConfiguration {
        bucket_arn: required(&format!("{sp}.bucketARN"), sc.string("BucketARN")?)?,
        expected_bucket_owner: required(&format!("{sp}.expectedBucketOwner"), sc.string("ExpectedBucketOwner")?)?,
        output_key_template: sc.string("OutputKeyTemplate")?,
        storage_class: enumeration(&class_path, sc.string("StorageClass")?, STORAGE_CLASSES)?,
        compression_type: required(
            &compression_path,
            enumeration(&compression_path, sc.string("CompressionType")?, S3_COMPRESSION)?,
        )?,
    };
    Ok(S3DestinationConfiguration {
        data_freshness_in_seconds,
        dead_letter_queue_s3_configuration,
        storage_configuration,
    })
}

fn s3_tables_destination(mut d: Members) -> Result<S3TablesDestinationConfiguration, ApiError> {
    let p = "s3TablesDestinationConfiguration";
    let data_freshness_in_seconds = d.int("DataFreshnessInSeconds")?;
    let dp = format!("{p}.deadLetterQueueS3Configuration");
    let dead_letter_queue_s3_configuration =
        dead_letter(&dp, required(&dp, d.sub("DeadLetterQueueS3Configuration")?)?)?;
    let lp = format!("{p}.s3TablesConfigurationList");
    let items = required(&lp, d.list("S3TablesConfigurationList")?)?;
    let mut s3_tables_configuration_list = Vec::with_capacity(items.len());
    for (i, mut t) in structures(&d, items)? {
        let tp = format!("{lp}.{i}.member");
        let cp = format!("{tp}.compressionType");
        let partition_fields = match t.sub("PartitionSpec")? {
            Some(mut spec) => {
                let fp = format!("{tp}.partitionSpec.partitionFields");
                let fields = required(&fp, spec.list("PartitionFields")?)?;
                let mut out = Vec::with_capacity(fields.len());
                for (j, mut f) in structures(&spec, fields)? {
                    let ep = format!("{fp}.{j}.member");
                    out.push((
                        required(&format!("{ep}.transform"), f.string("Transform")?)?,
                        required(&format!("{ep}.sourceName"), f.string("SourceName")?)?,
                    ));
                }
                Some(out)
            }
            None => None,
        };
        s3_tables_configuration_list.push(S3TablesConfiguration {
            table_bucket_arn: required(&format!("{tp}.tableBucketARN"), t.string("TableBucketARN")?)?,
            namespace: required(&format!("{tp}.namespace"), t.string("Namespace")?)?,
            table_name: required(&format!("{tp}.tableName"), t.string("TableName")?)?,
            compression: required(&cp, enumeration(&cp, t.string("CompressionType")?, TABLES_COMPRESSION)?)?,
            partition_fields,
        });
    }
    Ok(S3TablesDestinationConfiguration {
        data_freshness_in_seconds,
        dead_letter_queue_s3_configuration,
        s3_tables_configuration_list,
    })
}

pub(crate) fn create_channel(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let channel_name = required("channelName", m.string("ChannelName")?)?;
    let service_execution_role_arn = required("serviceExecutionRoleARN", m.string("ServiceExecutionRoleARN")?)?;
    let items = required("streamConfigurationList", m.list("StreamConfigurationList")?)?;
    let mut stream_configuration_list = Vec::with_capacity(items.len());
    for (i, e) in structures(m, items)? {
        stream_configuration_list.push(stream_configuration(&format!("streamConfigurationList.{i}.member"), e)?);
    }
    let s3_destination_configuration = m.sub("S3DestinationConfiguration")?.map(s3_destination).transpose()?;
    let s3_tables_destination_configuration =
        m.sub("S3TablesDestinationConfiguration")?.map(s3_tables_destination).transpose()?;
    let encryption_configuration = match m.sub("EncryptionConfiguration")? {
        Some(mut e) => {
            let p = "encryptionConfiguration.encryptionType";
            required(p, enumeration(p, e.string("EncryptionType")?, CHANNEL_ENCRYPTION_TYPES)?)?;
            let key_id = required("encryptionConfiguration.keyId", e.string("KeyId")?)?;
            Some(ChannelEncryptionConfiguration { key_id })
        }
        None => None,
    };
    let tags = m.string_map("Tags")?;
    let logging_configuration = logging(m.sub("LoggingConfiguration")?)?;
    let d = api(engine.create_channel(CreateChannelInput {
        channel_name,
        service_execution_role_arn,
        stream_configuration_list,
        s3_destination_configuration,
        s3_tables_destination_configuration,
        encryption_configuration,
        tags: tags.unwrap_or_default(),
        logging_configuration,
    }))?;
    Ok(Out::Map(vec![("ChannelDescription", description(&d))]))
}

fn channel_arn(m: &mut Members) -> Result<String, ApiError> {
    required("channelARN", m.string("ChannelARN")?)
}

pub(crate) fn describe_channel(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let arn = channel_arn(m)?;
    let d = api(engine.describe_channel(&arn))?;
    Ok(Out::Map(vec![("ChannelDescription", description(&d))]))
}

pub(crate) fn delete_channel(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let arn = channel_arn(m)?;
    api(engine.delete_channel(&arn))?;
    Ok(Out::empty())
}

/// `DataFreshnessInSeconds` of an update input structure (required in it).
fn freshness(path: &str, d: Option<Members>) -> Result<Option<i64>, ApiError> {
    match d {
        Some(mut d) => Ok(Some(required(&format!("{path}.dataFreshnessInSeconds"), d.int("DataFreshnessInSeconds")?)?)),
        None => Ok(None),
    }
}

pub(crate) fn update_channel(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let channel_arn = channel_arn(m)?;
    let s3_data_freshness_in_seconds = freshness("s3DestinationConfiguration", m.sub("S3DestinationConfiguration")?)?;
    let s3_tables_data_freshness_in_seconds =
        freshness("s3TablesDestinationConfiguration", m.sub("S3TablesDestinationConfiguration")?)?;
    let logging_configuration = logging(m.sub("LoggingConfiguration")?)?;
    let d = api(engine.update_channel(UpdateChannelInput {
        channel_arn,
        s3_data_freshness_in_seconds,
        s3_tables_data_freshness_in_seconds,
        logging_configuration,
    }))?;
    Ok(Out::Map(vec![("ChannelDescription", description(&d))]))
}

pub(crate) fn list_channels(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let stream_filter = match m.list("StreamFilter")? {
        Some(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, mut f) in structures(m, items)? {
                out.push(StreamFilter {
                    stream_arn: required(&format!("streamFilter.{i}.member.streamARN"), f.string("StreamARN")?)?,
                    stream_creation_timestamp: f.timestamp("StreamCreationTimestamp")?,
                });
            }
            Some(out)
        }
        None => None,
    };
    let max = unsigned("maxResults", m.int("MaxResults")?)?;
    let next_token = m.string("NextToken")?;
    let out = api(engine.list_channels(ListChannelsInput { stream_filter, max_results: max, next_token }))?;
    let summaries = out
        .channel_summaries
        .iter()
        .map(|x| {
            let mut sm = vec![
                ("ChannelName", s(x.channel_name.clone())),
                ("ChannelARN", s(x.channel_arn.clone())),
                ("ChannelId", s(x.channel_id.clone())),
                ("ChannelStatus", Out::Static(x.channel_status.as_str())),
            ];
            opt_push(&mut sm, "ChannelStatusReason", x.channel_status_reason.clone().map(Out::Str));
            sm.push(("ChannelCreationTimestamp", Out::Time(x.channel_creation_timestamp.as_millis())));
            sm.push(("ChannelDestinationType", Out::Static(x.channel_destination_type.as_str())));
            sm.push((
                "Streams",
                Out::List(
                    x.streams
                        .iter()
                        .map(|(arn, ts)| {
                            Out::Map(vec![
                                ("StreamARN", s(arn.clone())),
                                ("StreamCreationTimestamp", Out::Time(ts.as_millis())),
                            ])
                        })
                        .collect(),
                ),
            ));
            Out::Map(sm)
        })
        .collect();
    let mut members = vec![("ChannelSummaries", Out::List(summaries))];
    opt_push(&mut members, "NextToken", out.next_token.map(Out::Str));
    Ok(Out::Map(members))
}

fn dead_letter_out(d: &DeadLetterQueueS3Configuration) -> Out {
    let mut m =
        vec![("BucketARN", s(d.bucket_arn.clone())), ("ExpectedBucketOwner", s(d.expected_bucket_owner.clone()))];
    opt_push(&mut m, "ErrorOutputPrefix", d.error_output_prefix.clone().map(Out::Str));
    Out::Map(m)
}

fn description(d: &ChannelDescription) -> Out {
    let mut m = vec![
        ("ChannelName", s(d.channel_name.clone())),
        ("ChannelARN", s(d.channel_arn.clone())),
        ("ChannelId", s(d.channel_id.clone())),
        ("ChannelStatus", Out::Static(d.channel_status.as_str())),
    ];
    opt_push(&mut m, "ChannelStatusReason", d.channel_status_reason.clone().map(Out::Str));
    m.push(("ChannelCreationTimestamp", Out::Time(d.channel_creation_timestamp.as_millis())));
    m.push(("ServiceExecutionRoleARN", s(d.service_execution_role_arn.clone())));
    m.push((
        "StreamConfigurationList",
        Out::List(
            d.stream_configuration_list
                .iter()
                .map(|sc| {
                    let mut rc =
                        vec![("RecordFormatType", Out::Static(sc.record_configuration.record_format_type.as_str()))];
                    opt_push(&mut rc, "GSRSchemaARN", sc.record_configuration.gsr_schema_arn.clone().map(Out::Str));
                    Out::Map(vec![
                        ("StreamARN", s(sc.stream_arn.clone())),
                        ("StreamCreationTimestamp", Out::Time(sc.stream_creation_timestamp.as_millis())),
                        ("RecordConfiguration", Out::Map(rc)),
                    ])
                })
                .collect(),
        ),
    ));
    if let Some(s3) = &d.s3_destination_configuration {
        let mut sc =
            vec![("BucketARN", s(s3.bucket_arn.clone())), ("ExpectedBucketOwner", s(s3.expected_bucket_owner.clone()))];
        opt_push(&mut sc, "OutputKeyTemplate", s3.output_key_template.clone().map(Out::Str));
        opt_push(&mut sc, "StorageClass", s3.storage_class.map(|c| Out::Static(c.as_str())));
        sc.push(("CompressionType", Out::Static(s3.compression.as_str())));
        m.push((
            "S3DestinationConfiguration",
            Out::Map(vec![
                ("DataFreshnessInSeconds", Out::Int(i64::from(s3.freshness_secs))),
                ("DeadLetterQueueS3Configuration", dead_letter_out(&s3.dead_letter)),
                ("StorageConfiguration", Out::Map(sc)),
            ]),
        ));
    }
    if let Some(t) = &d.s3_tables_destination_configuration {
        let tables = t
            .tables
            .iter()
            .map(|tc| {
                let mut tm = vec![
                    ("TableBucketARN", s(tc.table_bucket_arn.clone())),
                    ("Namespace", s(tc.namespace.clone())),
                    ("TableName", s(tc.table_name.clone())),
                    ("CompressionType", Out::Static(tc.compression.as_str())),
                ];
                opt_push(
                    &mut tm,
                    "PartitionSpec",
                    tc.partition_fields.as_ref().map(|fields| {
                        Out::Map(vec![(
                            "PartitionFields",
                            Out::List(
                                fields
                                    .iter()
                                    .map(|(t, src)| {
                                        Out::Map(vec![("Transform", s(t.clone())), ("SourceName", s(src.clone()))])
                                    })
                                    .collect(),
                            ),
                        )])
                    }),
                );
                Out::Map(tm)
            })
            .collect();
        m.push((
            "S3TablesDestinationConfiguration",
            Out::Map(vec![
                ("DataFreshnessInSeconds", Out::Int(i64::from(t.freshness_secs))),
                ("DeadLetterQueueS3Configuration", dead_letter_out(&t.dead_letter)),
                ("S3TablesConfigurationList", Out::List(tables)),
            ]),
        ));
    }
    opt_push(
        &mut m,
        "EncryptionConfiguration",
        d.encryption_configuration
            .as_ref()
            .map(|e| Out::Map(vec![("EncryptionType", Out::Static("KMS")), ("KeyId", s(e.key_id.clone()))])),
    );
    let l = &d.logging_configuration;
    let mut cw = vec![("Enabled", Out::Bool(l.enabled))];
    opt_push(&mut cw, "LogGroupName", l.log_group_name.clone().map(Out::Str));
    opt_push(&mut cw, "LogStreamName", l.log_stream_name.clone().map(Out::Str));
    m.push(("LoggingConfiguration", Out::Map(vec![("CloudWatchLogs", Out::Map(cw))])));
    Out::Map(m)
}
