//! Wire side of the channel operations: `CreateChannel`, `DescribeChannel`, `ListChannels`,
//! `UpdateChannel`, `DeleteChannel`.

use shardlog::engine::types::*;
use shardlog::Engine;

use super::errors::ApiError;
use super::ops::{api, opt_push, s, Checks, Members};
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

fn dead_letter(
    c: &mut Checks,
    path: &str,
    m: Option<Members>,
) -> Result<Option<DeadLetterQueueS3Configuration>, ApiError> {
    let Some(mut d) = m else { return Ok(None) };
    let bucket = d.string("BucketARN")?;
    let owner = d.string("ExpectedBucketOwner")?;
    let prefix = d.string("ErrorOutputPrefix")?;
    let bucket = c.required(&format!("{path}.bucketARN"), bucket);
    let owner = c.required(&format!("{path}.expectedBucketOwner"), owner);
    Ok(Some(DeadLetterQueueS3Configuration {
        bucket_arn: bucket.unwrap_or_default(),
        expected_bucket_owner: owner.unwrap_or_default(),
        error_output_prefix: prefix,
    }))
}

fn logging(c: &mut Checks, m: Option<Members>) -> Result<Option<ChannelLoggingConfiguration>, ApiError> {
    let Some(mut l) = m else { return Ok(None) };
    let Some(mut cw) = c.required("loggingConfiguration.cloudWatchLogs", l.sub("CloudWatchLogs")?) else {
        return Ok(None);
    };
    let enabled = cw.boolean("Enabled")?;
    let group = cw.string("LogGroupName")?;
    let stream = cw.string("LogStreamName")?;
    let enabled = c.required("loggingConfiguration.cloudWatchLogs.enabled", enabled);
    Ok(Some(ChannelLoggingConfiguration {
        enabled: enabled.unwrap_or(false),
        log_group_name: group,
        log_stream_name: stream,
    }))
}

pub(crate) fn create_channel(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let name = m.string("ChannelName")?;
    let role = m.string("ServiceExecutionRoleARN")?;
    let streams = m.list("StreamConfigurationList")?;
    let s3 = m.sub("S3DestinationConfiguration")?;
    let tables = m.sub("S3TablesDestinationConfiguration")?;
    let encryption = m.sub("EncryptionConfiguration")?;
    let tags = m.string_map("Tags")?;
    let log = m.sub("LoggingConfiguration")?;
    let codec = m.codec;
    let mut c = Checks::default();
    let name = c.required("channelName", name);
    let role = c.required("serviceExecutionRoleARN", role);
    let mut stream_configuration_list = Vec::new();
    if let Some(items) = c.required("streamConfigurationList", streams) {
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("streamConfigurationList.{}.member", i + 1);
            let mut e = Members::structure(codec, item)?;
            let arn = e.string("StreamARN")?;
            let rc = e.sub("RecordConfiguration")?;
            let arn = c.required(&format!("{path}.streamARN"), arn);
            let rc = match c.required(&format!("{path}.recordConfiguration"), rc) {
                Some(mut rc) => {
                    let fmt = rc.string("RecordFormatType")?;
                    let gsr = rc.string("GSRSchemaARN")?;
                    let fmt = c.required(&format!("{path}.recordConfiguration.recordFormatType"), fmt);
                    let fmt =
                        c.enumeration(&format!("{path}.recordConfiguration.recordFormatType"), fmt, RECORD_FORMATS);
                    fmt.map(|record_format_type| RecordConfiguration { record_format_type, gsr_schema_arn: gsr })
                }
                None => None,
            };
            if let (Some(stream_arn), Some(record_configuration)) = (arn, rc) {
                stream_configuration_list.push(ChannelStreamConfiguration { stream_arn, record_configuration });
            }
        }
    }
    let s3_destination_configuration = match s3 {
        Some(mut d) => {
            let p = "s3DestinationConfiguration";
            let fresh = d.int("DataFreshnessInSeconds")?;
            let dl = d.sub("DeadLetterQueueS3Configuration")?;
            let storage = d.sub("StorageConfiguration")?;
            let dl = dead_letter(&mut c, &format!("{p}.deadLetterQueueS3Configuration"), dl)?;
            match c.required(&format!("{p}.storageConfiguration"), storage) {
                Some(mut sc) => {
                    let sp = format!("{p}.storageConfiguration");
                    let bucket = sc.string("BucketARN")?;
                    let owner = sc.string("ExpectedBucketOwner")?;
                    let template = sc.string("OutputKeyTemplate")?;
                    let class = sc.string("StorageClass")?;
                    let compression = sc.string("CompressionType")?;
                    let bucket = c.required(&format!("{sp}.bucketARN"), bucket);
                    let owner = c.required(&format!("{sp}.expectedBucketOwner"), owner);
                    let class = c.enumeration(&format!("{sp}.storageClass"), class, STORAGE_CLASSES);
                    let compression = c.required(&format!("{sp}.compressionType"), compression);
                    let compression = c.enumeration(&format!("{sp}.compressionType"), compression, S3_COMPRESSION);
                    Some(S3DestinationConfiguration {
                        data_freshness_in_seconds: fresh,
                        dead_letter_queue_s3_configuration: dl,
                        storage_configuration: S3StorageConfiguration {
                            bucket_arn: bucket.unwrap_or_default(),
                            expected_bucket_owner: owner.unwrap_or_default(),
                            output_key_template: template,
                            storage_class: class,
                            compression_type: compression.unwrap_or(S3Compression::None),
                        },
                    })
                }
                None => None,
            }
        }
        None => None,
    };
    let s3_tables_destination_configuration = match tables {
        Some(mut d) => {
            let p = "s3TablesDestinationConfiguration";
            let fresh = d.int("DataFreshnessInSeconds")?;
            let dl = d.sub("DeadLetterQueueS3Configuration")?;
            let list = d.list("S3TablesConfigurationList")?;
            let dl = c.required(&format!("{p}.deadLetterQueueS3Configuration"), dl);
            let dl = dead_letter(&mut c, &format!("{p}.deadLetterQueueS3Configuration"), dl)?;
            let mut configs = Vec::new();
            if let Some(items) = c.required(&format!("{p}.s3TablesConfigurationList"), list) {
                for (i, item) in items.into_iter().enumerate() {
                    let tp = format!("{p}.s3TablesConfigurationList.{}.member", i + 1);
                    let mut t = Members::structure(codec, item)?;
                    let bucket = t.string("TableBucketARN")?;
                    let namespace = t.string("Namespace")?;
                    let table = t.string("TableName")?;
                    let compression = t.string("CompressionType")?;
                    let spec = t.sub("PartitionSpec")?;
                    let bucket = c.required(&format!("{tp}.tableBucketARN"), bucket);
                    let namespace = c.required(&format!("{tp}.namespace"), namespace);
                    let table = c.required(&format!("{tp}.tableName"), table);
                    let compression = c.required(&format!("{tp}.compressionType"), compression);
                    let compression = c.enumeration(&format!("{tp}.compressionType"), compression, TABLES_COMPRESSION);
                    let partition_fields = match spec {
                        Some(mut sp) => {
                            let fields = sp.list("PartitionFields")?;
                            let mut out = Vec::new();
                            if let Some(items) = c.required(&format!("{tp}.partitionSpec.partitionFields"), fields) {
                                for (j, f) in items.into_iter().enumerate() {
                                    let fp = format!("{tp}.partitionSpec.partitionFields.{}.member", j + 1);
                                    let mut f = Members::structure(codec, f)?;
                                    let transform = f.string("Transform")?;
                                    let source = f.string("SourceName")?;
                                    let transform = c.required(&format!("{fp}.transform"), transform);
                                    let source = c.required(&format!("{fp}.sourceName"), source);
                                    out.push((transform.unwrap_or_default(), source.unwrap_or_default()));
                                }
                            }
                            Some(out)
                        }
                        None => None,
                    };
                    configs.push(S3TablesConfiguration {
                        table_bucket_arn: bucket.unwrap_or_default(),
                        namespace: namespace.unwrap_or_default(),
                        table_name: table.unwrap_or_default(),
                        compression: compression.unwrap_or(TablesCompression::None),
                        partition_fields,
                    });
                }
            }
            dl.map(|dead_letter_queue_s3_configuration| S3TablesDestinationConfiguration {
                data_freshness_in_seconds: fresh,
                dead_letter_queue_s3_configuration,
                s3_tables_configuration_list: configs,
            })
        }
        None => None,
    };
    let encryption_configuration = match encryption {
        Some(mut e) => {
            let kind = e.string("EncryptionType")?;
            let key = e.string("KeyId")?;
            let kind = c.required("encryptionConfiguration.encryptionType", kind);
            let kind = c.enumeration("encryptionConfiguration.encryptionType", kind, CHANNEL_ENCRYPTION_TYPES);
            let key = c.required("encryptionConfiguration.keyId", key);
            kind.and(key).map(|key_id| ChannelEncryptionConfiguration { key_id })
        }
        None => None,
    };
    let logging_configuration = logging(&mut c, log)?;
    c.finish()?;
    let d = api(engine.create_channel(CreateChannelInput {
        channel_name: name.unwrap_or_default(),
        service_execution_role_arn: role.unwrap_or_default(),
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
    let arn = m.string("ChannelARN")?;
    let mut c = Checks::default();
    let arn = c.required("channelARN", arn);
    c.finish()?;
    Ok(arn.unwrap_or_default())
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

pub(crate) fn update_channel(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let arn = m.string("ChannelARN")?;
    let s3 = m.sub("S3DestinationConfiguration")?;
    let tables = m.sub("S3TablesDestinationConfiguration")?;
    let log = m.sub("LoggingConfiguration")?;
    let mut c = Checks::default();
    let arn = c.required("channelARN", arn);
    let fresh = |c: &mut Checks, path: &str, d: Option<Members>| -> Result<Option<i64>, ApiError> {
        match d {
            Some(mut d) => {
                let f = d.int("DataFreshnessInSeconds")?;
                Ok(c.required(&format!("{path}.dataFreshnessInSeconds"), f))
            }
            None => Ok(None),
        }
    };
    let s3 = fresh(&mut c, "s3DestinationConfiguration", s3)?;
    let tables = fresh(&mut c, "s3TablesDestinationConfiguration", tables)?;
    let logging_configuration = logging(&mut c, log)?;
    c.finish()?;
    let d = api(engine.update_channel(UpdateChannelInput {
        channel_arn: arn.unwrap_or_default(),
        s3_data_freshness_in_seconds: s3,
        s3_tables_data_freshness_in_seconds: tables,
        logging_configuration,
    }))?;
    Ok(Out::Map(vec![("ChannelDescription", description(&d))]))
}

pub(crate) fn list_channels(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let filter = m.list("StreamFilter")?;
    let max = m.int("MaxResults")?;
    let next_token = m.string("NextToken")?;
    let codec = m.codec;
    let mut c = Checks::default();
    let max = c.int("maxResults", max, 1);
    let stream_filter = match filter {
        Some(items) => {
            let mut out = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                let mut f = Members::structure(codec, item)?;
                let arn = f.string("StreamARN")?;
                let created = f.timestamp("StreamCreationTimestamp")?;
                let arn = c.required(&format!("streamFilter.{}.member.streamARN", i + 1), arn);
                out.push(StreamFilter { stream_arn: arn.unwrap_or_default(), stream_creation_timestamp: created });
            }
            Some(out)
        }
        None => None,
    };
    c.finish()?;
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
