//! Wire side of the 12 queue operations: `CreateQueue`, `DescribeQueue`, `ListQueues`,
//! `UpdateQueue`, `DeleteQueue`, `ReceiveQueueRecords`, `AcknowledgeQueueRecords`,
//! `UpdateQueueRecordsVisibility`, `ReceiveDeadLetterQueueRecords`,
//! `AcknowledgeDeadLetterQueueRecords`, `UpdateDeadLetterQueueRecordsVisibility`,
//! `RestoreDeadLetterQueueRecords`.
//!
//! As in `ops`: the model validator has checked every member before these run (required
//! members at every depth, the queue ARN and name patterns, enum values, list sizes, the
//! ranges of `Limit`, `WaitTimeSeconds`, `VisibilityTimeoutSeconds` and `MaxReceiveCount`);
//! these read the members with the deserializer's conversions, and the engine checks what
//! the model does not (the dead-letter configuration's consistency, the streams named, the
//! queue's state, the handles).

use shardlog::engine::types::*;
use shardlog::Engine;

use super::convert::{api, enumeration, opt_push, required, s, structures, unsigned, Members};
use super::errors::ApiError;
use super::wire::Out;

const START_TYPES: &[(&str, QueueStartingPositionType)] = &[
    ("TRIM_HORIZON", QueueStartingPositionType::TrimHorizon),
    ("LATEST", QueueStartingPositionType::Latest),
    ("AT_TIMESTAMP", QueueStartingPositionType::AtTimestamp),
];
const TARGET_TYPES: &[(&str, DeadLetterTargetType)] =
    &[("BUILT_IN", DeadLetterTargetType::BuiltIn), ("NONE", DeadLetterTargetType::None)];

fn attributes(path: &str, mut a: Members) -> Result<QueueAttributes, ApiError> {
    let visibility_timeout_seconds =
        unsigned(&format!("{path}.visibilityTimeoutSeconds"), a.int("VisibilityTimeoutSeconds")?)?;
    let dead_letter_configuration = match a.sub("DeadLetterConfiguration")? {
        Some(mut d) => {
            let p = format!("{path}.deadLetterConfiguration");
            let tp = format!("{p}.targetType");
            let target_type = required(&tp, enumeration(&tp, d.string("TargetType")?, TARGET_TYPES)?)?;
            let max_receive_count = unsigned(&format!("{p}.maxReceiveCount"), d.int("MaxReceiveCount")?)?;
            Some(DeadLetterConfiguration { target_type, max_receive_count })
        }
        None => None,
    };
    Ok(QueueAttributes { visibility_timeout_seconds, dead_letter_configuration })
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

fn queue_arn(m: &mut Members) -> Result<String, ApiError> {
    required("queueARN", m.string("QueueARN")?)
}

pub(crate) fn create_queue(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let queue_name = required("queueName", m.string("QueueName")?)?;
    let items = required("streamConfigurationList", m.list("StreamConfigurationList")?)?;
    let mut stream_configuration_list = Vec::with_capacity(items.len());
    for (i, mut e) in structures(m, items)? {
        let path = format!("streamConfigurationList.{i}.member");
        let stream_arn = required(&format!("{path}.streamARN"), e.string("StreamARN")?)?;
        let starting_position = match e.sub("StartingPosition")? {
            Some(mut p) => {
                let tp = format!("{path}.startingPosition.type");
                let kind = required(&tp, enumeration(&tp, p.string("Type")?, START_TYPES)?)?;
                Some(QueueStartingPosition { kind, timestamp: p.timestamp("Timestamp")? })
            }
            None => None,
        };
        stream_configuration_list.push(QueueStreamConfiguration { stream_arn, starting_position });
    }
    let queue_attributes = match m.sub("QueueAttributes")? {
        Some(a) => Some(attributes("queueAttributes", a)?),
        None => None,
    };
    let tags = m.string_map("Tags")?.unwrap_or_default();
    let d =
        api(engine.create_queue(CreateQueueInput { queue_name, stream_configuration_list, queue_attributes, tags }))?;
    Ok(description(d))
}

pub(crate) fn describe_queue(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let arn = queue_arn(m)?;
    Ok(description(api(engine.describe_queue(&arn))?))
}

pub(crate) fn list_queues(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let max_results = unsigned("maxResults", m.int("MaxResults")?)?;
    let next_token = m.string("NextToken")?;
    let stream_filter = match m.list("StreamFilter")? {
        Some(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, mut e) in structures(m, items)? {
                let stream_arn = required(&format!("streamFilter.{i}.member.streamARN"), e.string("StreamARN")?)?;
                out.push(QueueStreamFilter {
                    stream_arn,
                    stream_creation_timestamp: e.timestamp("StreamCreationTimestamp")?,
                });
            }
            Some(out)
        }
        None => None,
    };
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
    let arn = queue_arn(m)?;
    let attrs = attributes("queueAttributes", required("queueAttributes", m.sub("QueueAttributes")?)?)?;
    let d = api(engine.update_queue(UpdateQueueInput { queue_arn: arn, queue_attributes: attrs }))?;
    Ok(description(d))
}

pub(crate) fn delete_queue(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let arn = queue_arn(m)?;
    api(engine.delete_queue(&arn))?;
    Ok(Out::empty())
}

pub(crate) fn receive(engine: &Engine, m: &mut Members, dead_letter: bool) -> Result<Out, ApiError> {
    let arn = queue_arn(m)?;
    let limit = unsigned("limit", m.int("Limit")?)?;
    let wait = unsigned("waitTimeSeconds", m.int("WaitTimeSeconds")?)?;
    let vis = unsigned("visibilityTimeoutSeconds", m.int("VisibilityTimeoutSeconds")?)?;
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
    let arn = queue_arn(m)?;
    let items = required("entries", m.list("Entries")?)?;
    let with_timeout = matches!(op, Batch::Visibility | Batch::DeadLetterVisibility);
    let mut read: Vec<(String, u32)> = Vec::with_capacity(items.len());
    for (i, mut e) in structures(m, items)? {
        let path = format!("entries.{i}.member");
        let handle = required(&format!("{path}.receiptHandle"), e.string("ReceiptHandle")?)?;
        let timeout = if with_timeout {
            let tp = format!("{path}.visibilityTimeoutSeconds");
            required(&tp, unsigned(&tp, e.int("VisibilityTimeoutSeconds")?)?)?
        } else {
            0
        };
        read.push((handle, timeout));
    }
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
