//! Wire side of the 12 queue operations: `CreateQueue`, `DescribeQueue`, `ListQueues`,
//! `UpdateQueue`, `DeleteQueue`, `ReceiveQueueRecords`, `AcknowledgeQueueRecords`,
//! `UpdateQueueRecordsVisibility`, `ReceiveDeadLetterQueueRecords`,
//! `AcknowledgeDeadLetterQueueRecords`, `UpdateDeadLetterQueueRecordsVisibility`,
//! `RestoreDeadLetterQueueRecords`. Members are read with their model types; required
//! members, enums and negative integers are checked here, ranges and patterns by the engine.

use shardlog::engine::types::*;
use shardlog::Engine;

use super::errors::ApiError;
use super::ops::{api, opt_push, s, Checks, Members};
use super::wire::Out;

const START_TYPES: &[(&str, QueueStartingPositionType)] = &[
    ("TRIM_HORIZON", QueueStartingPositionType::TrimHorizon),
    ("LATEST", QueueStartingPositionType::Latest),
    ("AT_TIMESTAMP", QueueStartingPositionType::AtTimestamp),
];
const TARGET_TYPES: &[(&str, DeadLetterTargetType)] =
    &[("BUILT_IN", DeadLetterTargetType::BuiltIn), ("NONE", DeadLetterTargetType::None)];

fn attributes(c: &mut Checks, path: &str, m: Option<Members>) -> Result<Option<QueueAttributes>, ApiError> {
    let Some(mut a) = m else { return Ok(None) };
    let vis = a.int("VisibilityTimeoutSeconds")?;
    let dl = a.sub("DeadLetterConfiguration")?;
    let visibility_timeout_seconds = c.int(&format!("{path}.visibilityTimeoutSeconds"), vis, 0);
    let dead_letter_configuration = match dl {
        Some(mut d) => {
            let target = d.string("TargetType")?;
            let max = d.int("MaxReceiveCount")?;
            let p = format!("{path}.deadLetterConfiguration");
            let target = c.required(&format!("{p}.targetType"), target);
            let target = c.enumeration(&format!("{p}.targetType"), target, TARGET_TYPES);
            let max = c.int(&format!("{p}.maxReceiveCount"), max, 1);
            target.map(|target_type| DeadLetterConfiguration { target_type, max_receive_count: max })
        }
        None => None,
    };
    Ok(Some(QueueAttributes { visibility_timeout_seconds, dead_letter_configuration }))
}

fn attributes_out(a: &QueueAttributes) -> Out {
    let mut m = Vec::new();
    opt_push(&mut m, "VisibilityTimeoutSeconds", a.visibility_timeout_seconds.map(|v| Out::Int(i64::from(v))));
    if let Some(d) = a.dead_letter_configuration {
        let mut dm = vec![("TargetType", Out::Static(d.target_type.as_str()))];
        opt_push(&mut dm, "MaxReceiveCount", d.max_receive_count.map(|n| Out::Int(i64::from(n))));
        m.push(("DeadLetterConfiguration", Out::Map(dm)));
    }
    Out::Map(m)
}

fn description(d: QueueDescription) -> Out {
    let streams = d
        .stream_configuration_list
        .into_iter()
        .map(|sc| {
            let mut m = vec![("StreamARN", s(sc.stream_arn))];
            if let Some(p) = sc.starting_position {
                let mut pm = vec![("Type", Out::Static(p.kind.as_str()))];
                opt_push(&mut pm, "Timestamp", p.timestamp.map(|t| Out::Time(t.as_millis())));
                m.push(("StartingPosition", Out::Map(pm)));
            }
            Out::Map(m)
        })
        .collect();
    Out::Map(vec![(
        "QueueDescription",
        Out::Map(vec![
            ("QueueName", s(d.queue_name)),
            ("QueueARN", s(d.queue_arn)),
            ("QueueStatus", Out::Static(d.queue_status.as_str())),
            ("QueueCreationTimestamp", Out::Time(d.queue_creation_timestamp.as_millis())),
            ("StreamConfigurationList", Out::List(streams)),
            ("QueueAttributes", attributes_out(&d.queue_attributes)),
        ]),
    )])
}

fn queue_arn(c: &mut Checks, m: &mut Members) -> Result<String, ApiError> {
    let arn = m.string("QueueARN")?;
    Ok(c.required("queueARN", arn).unwrap_or_default())
}

pub(crate) fn create_queue(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let name = m.string("QueueName")?;
    let streams = m.list("StreamConfigurationList")?;
    let attrs = m.sub("QueueAttributes")?;
    let tags = m.string_map("Tags")?;
    let codec = m.codec;
    let mut c = Checks::default();
    let name = c.required("queueName", name);
    let mut stream_configuration_list = Vec::new();
    if let Some(items) = c.required("streamConfigurationList", streams) {
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("streamConfigurationList.{}.member", i + 1);
            let mut e = Members::structure(codec, item)?;
            let arn = e.string("StreamARN")?;
            let start = e.sub("StartingPosition")?;
            let arn = c.required(&format!("{path}.streamARN"), arn);
            let starting_position = match start {
                Some(mut p) => {
                    let kind = p.string("Type")?;
                    let ts = p.timestamp("Timestamp")?;
                    let kind = c.required(&format!("{path}.startingPosition.type"), kind);
                    let kind = c.enumeration(&format!("{path}.startingPosition.type"), kind, START_TYPES);
                    kind.map(|kind| QueueStartingPosition { kind, timestamp: ts })
                }
                None => None,
            };
            if let Some(stream_arn) = arn {
                stream_configuration_list.push(QueueStreamConfiguration { stream_arn, starting_position });
            }
        }
    }
    let queue_attributes = attributes(&mut c, "queueAttributes", attrs)?;
    c.finish()?;
    let d = api(engine.create_queue(CreateQueueInput {
        queue_name: name.unwrap_or_default(),
        stream_configuration_list,
        queue_attributes,
        tags: tags.unwrap_or_default(),
    }))?;
    Ok(description(d))
}

pub(crate) fn describe_queue(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let mut c = Checks::default();
    let arn = queue_arn(&mut c, m)?;
    c.finish()?;
    Ok(description(api(engine.describe_queue(&arn))?))
}

pub(crate) fn list_queues(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let max = m.int("MaxResults")?;
    let next_token = m.string("NextToken")?;
    let filter = m.list("StreamFilter")?;
    let codec = m.codec;
    let mut c = Checks::default();
    let max_results = c.int("maxResults", max, 1);
    let stream_filter = match filter {
        Some(items) => {
            let mut out = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                let mut e = Members::structure(codec, item)?;
                let arn = e.string("StreamARN")?;
                let created = e.timestamp("StreamCreationTimestamp")?;
                if let Some(stream_arn) = c.required(&format!("streamFilter.{}.member.streamARN", i + 1), arn) {
                    out.push(QueueStreamFilter { stream_arn, stream_creation_timestamp: created });
                }
            }
            Some(out)
        }
        None => None,
    };
    c.finish()?;
    let out = api(engine.list_queues(ListQueuesInput { max_results, next_token, stream_filter }))?;
    let summaries = out
        .queue_summaries
        .into_iter()
        .map(|q| {
            Out::Map(vec![
                ("QueueName", s(q.queue_name)),
                ("QueueARN", s(q.queue_arn)),
                ("QueueStatus", Out::Static(q.queue_status.as_str())),
                ("QueueCreationTimestamp", Out::Time(q.queue_creation_timestamp.as_millis())),
                (
                    "Streams",
                    Out::List(
                        q.streams
                            .into_iter()
                            .map(|(arn, t)| {
                                Out::Map(vec![
                                    ("StreamARN", s(arn)),
                                    ("StreamCreationTimestamp", Out::Time(t.as_millis())),
                                ])
                            })
                            .collect(),
                    ),
                ),
            ])
        })
        .collect();
    let mut members = vec![("QueueSummaries", Out::List(summaries))];
    opt_push(&mut members, "NextToken", out.next_token.map(Out::Str));
    Ok(Out::Map(members))
}

pub(crate) fn update_queue(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let attrs = m.sub("QueueAttributes")?;
    let mut c = Checks::default();
    let arn = queue_arn(&mut c, m)?;
    let attrs = c.required("queueAttributes", attrs);
    let attrs = attributes(&mut c, "queueAttributes", attrs)?;
    c.finish()?;
    let d = api(engine.update_queue(UpdateQueueInput { queue_arn: arn, queue_attributes: attrs.unwrap_or_default() }))?;
    Ok(description(d))
}

pub(crate) fn delete_queue(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let mut c = Checks::default();
    let arn = queue_arn(&mut c, m)?;
    c.finish()?;
    api(engine.delete_queue(&arn))?;
    Ok(Out::empty())
}

pub(crate) fn receive(engine: &Engine, m: &mut Members, dead_letter: bool) -> Result<Out, ApiError> {
    let limit = m.int("Limit")?;
    let wait = m.int("WaitTimeSeconds")?;
    let vis = m.int("VisibilityTimeoutSeconds")?;
    let mut c = Checks::default();
    let arn = queue_arn(&mut c, m)?;
    let limit = c.int("limit", limit, 1);
    let wait = c.int("waitTimeSeconds", wait, 1);
    let vis = c.int("visibilityTimeoutSeconds", vis, 0);
    c.finish()?;
    let input =
        ReceiveQueueRecordsInput { queue_arn: arn, limit, wait_time_seconds: wait, visibility_timeout_seconds: vis };
    let out = if dead_letter {
        api(engine.receive_dead_letter_queue_records(input))?
    } else {
        api(engine.receive_queue_records(input))?
    };
    let records = out
        .queue_records
        .into_iter()
        .map(|r| {
            let mut m = vec![("ReceiptHandle", s(r.receipt_handle)), ("RecordId", s(r.record_id))];
            opt_push(&mut m, "PartitionKey", r.partition_key.map(Out::Str));
            m.push(("Data", Out::Blob(r.data)));
            m.push(("ApproximateArrivalTimestamp", Out::Time(r.approximate_arrival_timestamp.as_millis())));
            m.push(("FirstReceiveTimestamp", Out::Time(r.first_receive_timestamp.as_millis())));
            m.push(("ReceiveCount", Out::Int(i64::from(r.receive_count))));
            Out::Map(m)
        })
        .collect();
    Ok(Out::Map(vec![("QueueRecords", Out::List(records))]))
}

/// Which batch call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batch {
    Acknowledge,
    Visibility,
    AcknowledgeDeadLetter,
    DeadLetterVisibility,
    Restore,
}

pub(crate) fn batch(engine: &Engine, m: &mut Members, op: Batch) -> Result<Out, ApiError> {
    let entries = m.list("Entries")?;
    let codec = m.codec;
    let mut c = Checks::default();
    let arn = queue_arn(&mut c, m)?;
    let with_timeout = matches!(op, Batch::Visibility | Batch::DeadLetterVisibility);
    let mut read: Vec<(String, u32)> = Vec::new();
    if let Some(items) = c.required("entries", entries) {
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("entries.{}.member", i + 1);
            let mut e = Members::structure(codec, item)?;
            let handle = e.string("ReceiptHandle")?;
            let timeout = if with_timeout { e.int("VisibilityTimeoutSeconds")? } else { None };
            let handle = c.required(&format!("{path}.receiptHandle"), handle);
            let timeout = if with_timeout {
                let t = c.required(&format!("{path}.visibilityTimeoutSeconds"), timeout);
                c.int(&format!("{path}.visibilityTimeoutSeconds"), t, 0)
            } else {
                Some(0)
            };
            if let (Some(h), Some(t)) = (handle, timeout) {
                read.push((h, t));
            }
        }
    }
    c.finish()?;
    let handles =
        || QueueHandlesInput { queue_arn: arn.clone(), receipt_handles: read.iter().map(|(h, _)| h.clone()).collect() };
    let visibility = || QueueVisibilityInput { queue_arn: arn.clone(), entries: read.clone() };
    let out = api(match op {
        Batch::Acknowledge => engine.acknowledge_queue_records(handles()),
        Batch::AcknowledgeDeadLetter => engine.acknowledge_dead_letter_queue_records(handles()),
        Batch::Restore => engine.restore_dead_letter_queue_records(handles()),
        Batch::Visibility => engine.update_queue_records_visibility(visibility()),
        Batch::DeadLetterVisibility => engine.update_dead_letter_queue_records_visibility(visibility()),
    })?;
    let successful = out.successful.into_iter().map(|h| Out::Map(vec![("ReceiptHandle", s(h))])).collect();
    let failed = out
        .failed
        .into_iter()
        .map(|f| {
            Out::Map(vec![
                ("ReceiptHandle", s(f.receipt_handle)),
                ("ErrorCode", s(f.error_code)),
                ("ErrorMessage", s(f.error_message)),
            ])
        })
        .collect();
    Ok(Out::Map(vec![("Successful", Out::List(successful)), ("Failed", Out::List(failed))]))
}
