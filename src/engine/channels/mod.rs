//! Channels: `CreateChannel`, `DescribeChannel`, `ListChannels`, `UpdateChannel`,
//! `DeleteChannel`, and delivery of a stream's records to S3 ([`delivery`]).
//!
//! A channel reads one on-demand stream and delivers every record written after it became
//! ACTIVE (no backfill), untransformed, to an S3 bucket — through [`ObjectSink`]: a
//! directory under the data directory by default ([`DirectorySink`], `<root>/s3/<bucket>/
//! <key>`), or any S3-compatible endpoint the embedder plugs in. S3 Tables destinations are
//! control plane only: configured, validated, described and listed, never delivered to.
//!
//! Status: CREATING → ACTIVE (⇄ UPDATING on `UpdateChannel`) → DELETING → gone, with the
//! engine's modelled delays (at once without them); FAILED, with a `ChannelStatusReason`,
//! when the destination refuses delivery for good (a missing bucket, access denied, a key
//! that cannot be stored) or through [`Engine::fail_channel`]. FAILED is terminal: only
//! deletion remains (AWS documents nothing else).
//!
//! Rules: at most 2 channels per stream, one per destination type
//! (`LimitExceededException`), at most [`CHANNEL_COUNT_LIMIT`] per account; channel names
//! are unique per account (`ResourceInUseException`); the stream must be on-demand
//! (`ValidationException`) and cannot be deleted while it has channels that are not
//! DELETING (`ResourceInUseException`); `UpdateChannel` changes only the freshness and the
//! logging. Every configuration check is a `ValidationException`, except a KMS key that is
//! AWS-managed (`alias/aws/kinesis`), refused with `InvalidArgumentException`.
//!
//! Decisions where AWS is silent: `DataFreshnessInSeconds` is accepted from 1 to 900 (AWS
//! documents 300–900; a lower value lets tests see deliveries without waiting five minutes;
//! the default is 300); channel ids are 32-character DNS labels derived from the data
//! directory's key; ListChannels pages are ordered by creation and the stream filter is
//! taken from each request (a token carries only the position).

pub mod delivery;
pub mod sink;
pub mod template;

use std::collections::BTreeMap;

use crate::catalog::channel::{
    ChannelDestination, ChannelLogging, ChannelMeta, DeadLetterS3, DeliveryState, RecordFormat, S3Destination,
    TablesDestination,
};
use crate::catalog::{StreamLifecycle, StreamMode};
use crate::engine::listing::ByStreamPager;
use crate::engine::types::*;
use crate::engine::{Engine, EngineInner};
use crate::error::{Error, Result};
use crate::kinesis::{ids, names, Constraint, ValidationErrors};

pub use delivery::{Buffers, DeliveryReport};
pub use sink::{DirectorySink, ObjectSink, PutObject, SinkError};

/// Most channels per account (`ChannelCountLimit`), an emulator choice.
pub const CHANNEL_COUNT_LIMIT: u32 = 50;
/// Most channels per stream (one per destination type).
pub const MAX_CHANNELS_PER_STREAM: usize = 2;
/// Default `DataFreshnessInSeconds`.
pub const DEFAULT_FRESHNESS_SECS: u32 = 300;
/// Largest `DataFreshnessInSeconds`.
pub const MAX_FRESHNESS_SECS: i64 = 900;

const ROLE_ARN_PATTERN: &str = "arn:aws[-a-z0-9]*:iam::\\d{12}:role/[a-zA-Z_0-9+=,.@\\-_/]+";
const BUCKET_ARN_PATTERN: &str = "arn:aws[-a-z0-9]*:s3:::[a-z0-9._-]{3,63}";
const TABLE_BUCKET_ARN_PATTERN: &str = "arn:aws[-a-z0-9]*:s3tables:[-a-z0-9]+:\\d{12}:bucket/[a-z0-9_-]{3,63}";
const GSR_ARN_PATTERN: &str = "arn:aws[-a-z0-9]*:glue:[-a-z0-9]+:\\d{12}:schema/[-a-zA-Z0-9_$#.]+/[-a-zA-Z0-9_$#.]+";
const OUTPUT_KEY_PATTERN: &str = "[0-9A-Za-z!\\-_'.*()\\/=:{}]+";
const ERROR_PREFIX_PATTERN: &str = "[0-9A-Za-z!\\-_'.*()\\/]+";
const NAMESPACE_PATTERN: &str = "[0-9a-z_]+";
const SOURCE_NAME_PATTERN: &str = "[a-zA-Z0-9\\.\\_]+";
const LOG_GROUP_PATTERN: &str = "[\\.\\-_/#A-Za-z0-9]+";
const LOG_STREAM_PATTERN: &str = "[^:*]*";
const CHANNEL_ARN_PATTERN: &str = "arn:aws.*:kinesis:.*:\\d{12}:channel/\\S+";
const OWNER_PATTERN: &str = "\\d{12}";

// ---------------------------------------------------------------------------------------
// Pattern checks (hand-written matchers for the model's regular expressions).

fn prefixed_partition(s: &str) -> Option<&str> {
    // `arn:aws[-a-z0-9]*:`
    let rest = s.strip_prefix("arn:aws")?;
    let end = rest.find(':')?;
    let (part, tail) = rest.split_at(end);
    part.bytes().all(|b| b == b'-' || b.is_ascii_lowercase() || b.is_ascii_digit()).then(|| tail.get(1..))?
}

fn twelve_digits(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_role_arn(s: &str) -> bool {
    let Some(rest) = prefixed_partition(s) else { return false };
    let Some(rest) = rest.strip_prefix("iam::") else { return false };
    let Some((acct, role)) = rest.split_once(":role/") else { return false };
    twelve_digits(acct)
        && !role.is_empty()
        && role.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-/".contains(&b))
}

/// The bucket name of a `BucketARN` (`arn:aws…:s3:::<3–63 of [a-z0-9._-]>`).
pub fn bucket_name(arn: &str) -> Option<&str> {
    let name = prefixed_partition(arn)?.strip_prefix("s3:::")?;
    ((3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)))
    .then_some(name)
}

fn is_table_bucket_arn(s: &str) -> bool {
    let Some(rest) = prefixed_partition(s).and_then(|r| r.strip_prefix("s3tables:")) else { return false };
    let mut p = rest.splitn(3, ':');
    let (Some(region), Some(acct), Some(res)) = (p.next(), p.next(), p.next()) else { return false };
    let Some(name) = res.strip_prefix("bucket/") else { return false };
    !region.is_empty()
        && region.bytes().all(|b| b == b'-' || b.is_ascii_lowercase() || b.is_ascii_digit())
        && twelve_digits(acct)
        && (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
}

fn is_gsr_arn(s: &str) -> bool {
    let Some(rest) = prefixed_partition(s).and_then(|r| r.strip_prefix("glue:")) else { return false };
    let mut p = rest.splitn(3, ':');
    let (Some(region), Some(acct), Some(res)) = (p.next(), p.next(), p.next()) else { return false };
    let Some((registry, schema)) = res.strip_prefix("schema/").and_then(|r| r.split_once('/')) else { return false };
    let part_ok = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_$#.".contains(&b));
    !region.is_empty()
        && region.bytes().all(|b| b == b'-' || b.is_ascii_lowercase() || b.is_ascii_digit())
        && twelve_digits(acct)
        && part_ok(registry)
        && part_ok(schema)
}

fn all_bytes(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.bytes().all(ok)
}

// ---------------------------------------------------------------------------------------
// Validation of the configuration members.

fn check_dead_letter(e: &mut ValidationErrors, member: &str, d: &DeadLetterS3) {
    if bucket_name(&d.bucket_arn).is_none() {
        e.pattern(&format!("{member}.bucketARN"), &d.bucket_arn, BUCKET_ARN_PATTERN);
    }
    if !twelve_digits(&d.expected_bucket_owner) {
        e.pattern(&format!("{member}.expectedBucketOwner"), &d.expected_bucket_owner, OWNER_PATTERN);
    }
    if let Some(p) = &d.error_output_prefix {
        let m = format!("{member}.errorOutputPrefix");
        e.length(&m, p, 1, 512);
        if !all_bytes(p, |b| b.is_ascii_alphanumeric() || b"!-_'.*()/".contains(&b)) {
            e.pattern(&m, p, ERROR_PREFIX_PATTERN);
        } else if p.contains("..") || p.starts_with('/') || p.contains("//") {
            e.pattern(&m, p, "[0-9A-Za-z!\\-_'.*()\\/]+ (without `..`, `//` or a leading `/`)");
        }
    }
}

fn check_freshness(e: &mut ValidationErrors, member: &str, v: Option<i64>) -> u32 {
    match v {
        None => DEFAULT_FRESHNESS_SECS,
        Some(v) => {
            e.range(member, i128::from(v), 1, i128::from(MAX_FRESHNESS_SECS));
            u32::try_from(v.clamp(1, MAX_FRESHNESS_SECS)).unwrap_or(DEFAULT_FRESHNESS_SECS)
        }
    }
}

fn check_logging(e: &mut ValidationErrors, l: &ChannelLogging) {
    if let Some(g) = &l.log_group_name {
        let m = "loggingConfiguration.cloudWatchLogs.logGroupName";
        e.length(m, g, 1, 512);
        if !all_bytes(g, |b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b)) {
            e.pattern(m, g, LOG_GROUP_PATTERN);
        }
    }
    if let Some(s) = &l.log_stream_name {
        let m = "loggingConfiguration.cloudWatchLogs.logStreamName";
        e.length(m, s, 1, 512);
        if s.contains(':') || s.contains('*') {
            e.pattern(m, s, LOG_STREAM_PATTERN);
        }
    }
}

fn validation(message: impl Into<String>) -> Error {
    Error::Validation { message: message.into() }
}

fn check_channel_arn(arn: &str) -> Result<()> {
    let mut e = ValidationErrors::new();
    e.length("channelARN", arn, 1, names::ARN_MAX_LEN);
    if names::parse_resource_arn(arn).is_none_or(|p| p.kind != names::ResourceKind::Channel) {
        e.pattern("channelARN", arn, CHANNEL_ARN_PATTERN);
    }
    e.into_result()
}

fn channel_not_found(arn: &str) -> Error {
    Error::ResourceNotFound { message: format!("Channel {arn} not found.") }
}

fn channel_in_use(c: &ChannelMeta, status: ChannelStatus) -> Error {
    Error::ResourceInUse { message: format!("Channel {} is not ACTIVE, instead in state {}.", c.name, status.as_str()) }
}

impl EngineInner {
    pub(crate) fn channel_arn(&self, c: &ChannelMeta) -> String {
        names::channel_arn(&self.config.region, &self.config.account_id, &c.id)
    }

    /// When a channel becomes ACTIVE (its creation, plus the modelled CREATING delay).
    pub(crate) fn channel_active_ms(&self, c: &ChannelMeta) -> i64 {
        let creating = self.config.status_delays.map_or(0, |d| d.creating.as_millis() as i64);
        c.created_ms.saturating_add(creating)
    }

    /// The status a channel shows now.
    pub(crate) fn channel_status(&self, c: &ChannelMeta) -> ChannelStatus {
        let now = self.now_ms();
        if c.deleting_since_ms.is_some() {
            return ChannelStatus::Deleting;
        }
        if c.failure.is_some() {
            return ChannelStatus::Failed;
        }
        if now < self.channel_active_ms(c) {
            return ChannelStatus::Creating;
        }
        let updating = self.config.status_delays.map_or(0, |d| d.updating.as_millis() as i64);
        if now < c.updated_ms.saturating_add(updating) {
            ChannelStatus::Updating
        } else {
            ChannelStatus::Active
        }
    }

    /// Drop channels whose deletion delay has passed (catalog commit).
    pub(crate) fn reap_channels(&self) -> Result<()> {
        let now = self.now_ms();
        let delay = self.config.status_delays.map_or(0, |d| d.deleting.as_millis() as i64);
        let mut cat = self.catalog.lock();
        let due: Vec<u64> = cat
            .catalog
            .channels
            .values()
            .filter(|c| c.deleting_since_ms.is_some_and(|t| now >= t.saturating_add(delay)))
            .map(|c| c.uid)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut next = cat.catalog.clone();
        for uid in &due {
            next.channels.remove(uid);
        }
        self.commit_catalog(&mut cat, &next)?;
        cat.catalog = next;
        drop(cat);
        let mut buffers = self.deliveries.lock();
        for uid in due {
            buffers.drop_channel(uid);
        }
        Ok(())
    }

    /// The channel a `ChannelARN` names (not yet gone).
    fn find_channel(&self, arn: &str) -> Result<ChannelMeta> {
        check_channel_arn(arn)?;
        self.reap_channels()?;
        let p = names::parse_resource_arn(arn).ok_or_else(|| channel_not_found(arn))?;
        if p.region != self.config.region || p.account != self.config.account_id {
            return Err(channel_not_found(arn));
        }
        let cat = self.catalog.lock();
        cat.catalog.channels.values().find(|c| c.id == p.id).cloned().ok_or_else(|| channel_not_found(arn))
    }

    fn channel_description(&self, c: &ChannelMeta) -> ChannelDescription {
        let stream = self.streams.read().by_uid.get(&c.stream_uid).cloned();
        let (stream_arn, stream_created) = match stream {
            Some(h) => (h.arn.clone(), h.topo.read().meta.created_ms),
            None => (String::new(), 0),
        };
        let status = self.channel_status(c);
        let logging = ChannelLogging {
            enabled: c.logging.enabled,
            log_group_name: Some(
                c.logging.log_group_name.clone().unwrap_or_else(|| format!("/aws/kinesis/{}/{}", c.name, c.id)),
            ),
            log_stream_name: Some(c.logging.log_stream_name.clone().unwrap_or_else(|| "DestinationDelivery".into())),
        };
        ChannelDescription {
            channel_name: c.name.clone(),
            channel_arn: self.channel_arn(c),
            channel_id: c.id.clone(),
            channel_status: status,
            channel_status_reason: c.failure.clone(),
            channel_creation_timestamp: Timestamp(c.created_ms),
            service_execution_role_arn: c.role_arn.clone(),
            stream_configuration_list: vec![ChannelStreamDescription {
                stream_arn,
                stream_creation_timestamp: Timestamp(stream_created),
                record_configuration: RecordConfiguration {
                    record_format_type: c.record_format,
                    gsr_schema_arn: c.gsr_schema_arn.clone(),
                },
            }],
            s3_destination_configuration: match &c.destination {
                ChannelDestination::S3(d) => Some(d.clone()),
                ChannelDestination::S3Tables(_) => None,
            },
            s3_tables_destination_configuration: match &c.destination {
                ChannelDestination::S3Tables(d) => Some(d.clone()),
                ChannelDestination::S3(_) => None,
            },
            encryption_configuration: c.encryption_key.clone().map(|key_id| ChannelEncryptionConfiguration { key_id }),
            logging_configuration: logging,
        }
    }

    fn channel_summary(&self, c: &ChannelMeta) -> ChannelSummary {
        let d = self.channel_description(c);
        ChannelSummary {
            channel_name: d.channel_name,
            channel_arn: d.channel_arn,
            channel_id: d.channel_id,
            channel_status: d.channel_status,
            channel_status_reason: d.channel_status_reason,
            channel_creation_timestamp: d.channel_creation_timestamp,
            channel_destination_type: match c.destination {
                ChannelDestination::S3(_) => ChannelDestinationType::S3,
                ChannelDestination::S3Tables(_) => ChannelDestinationType::S3Tables,
            },
            streams: d
                .stream_configuration_list
                .into_iter()
                .map(|s| (s.stream_arn, s.stream_creation_timestamp))
                .collect(),
        }
    }

    /// Channels of a stream, counted for `ChannelCount`.
    pub(crate) fn channel_count_of(&self, stream_uid: u64) -> u32 {
        let cat = self.catalog.lock();
        cat.catalog.channels.values().filter(|c| c.stream_uid == stream_uid).count() as u32
    }
}

/// Validate a CreateChannel request into the catalog's destination and record format.
fn check_create(input: &CreateChannelInput) -> Result<(ChannelDestination, RecordConfiguration, String)> {
    let mut e = ValidationErrors::new();
    e.name("channelName", &input.channel_name);
    e.length("serviceExecutionRoleARN", &input.service_execution_role_arn, 1, 512);
    if !is_role_arn(&input.service_execution_role_arn) {
        e.pattern("serviceExecutionRoleARN", &input.service_execution_role_arn, ROLE_ARN_PATTERN);
    }
    let n = input.stream_configuration_list.len();
    if n == 0 {
        e.push("streamConfigurationList", "[]", Constraint::MinLength(1));
    }
    if let Some(enc) = &input.encryption_configuration {
        e.length("encryptionConfiguration.keyId", &enc.key_id, 1, crate::engine::encryption::KEY_ID_MAX_LEN);
    }
    if let Some(l) = &input.logging_configuration {
        check_logging(&mut e, l);
    }
    let dest = match (&input.s3_destination_configuration, &input.s3_tables_destination_configuration) {
        (Some(s3), None) => {
            let m = "s3DestinationConfiguration";
            let freshness =
                check_freshness(&mut e, &format!("{m}.dataFreshnessInSeconds"), s3.data_freshness_in_seconds);
            let sc = &s3.storage_configuration;
            if bucket_name(&sc.bucket_arn).is_none() {
                e.pattern(&format!("{m}.storageConfiguration.bucketARN"), &sc.bucket_arn, BUCKET_ARN_PATTERN);
            }
            if !twelve_digits(&sc.expected_bucket_owner) {
                e.pattern(
                    &format!("{m}.storageConfiguration.expectedBucketOwner"),
                    &sc.expected_bucket_owner,
                    OWNER_PATTERN,
                );
            }
            if let Some(t) = &sc.output_key_template {
                let mm = format!("{m}.storageConfiguration.outputKeyTemplate");
                e.length(&mm, t, 1, 1024);
                if !all_bytes(t, |b| b.is_ascii_alphanumeric() || b"!-_'.*()/=:{}".contains(&b)) {
                    e.pattern(&mm, t, OUTPUT_KEY_PATTERN);
                } else if let Err(why) = template::check(t) {
                    return Err(validation(format!("Invalid OutputKeyTemplate {t}: {why}.")));
                }
            }
            let dead_letter = match &s3.dead_letter_queue_s3_configuration {
                Some(d) => {
                    check_dead_letter(&mut e, &format!("{m}.deadLetterQueueS3Configuration"), d);
                    d.clone()
                }
                None => DeadLetterS3 {
                    bucket_arn: sc.bucket_arn.clone(),
                    expected_bucket_owner: sc.expected_bucket_owner.clone(),
                    error_output_prefix: None,
                },
            };
            ChannelDestination::S3(S3Destination {
                freshness_secs: freshness,
                dead_letter,
                bucket_arn: sc.bucket_arn.clone(),
                expected_bucket_owner: sc.expected_bucket_owner.clone(),
                output_key_template: sc.output_key_template.clone(),
                storage_class: sc.storage_class,
                compression: sc.compression_type,
            })
        }
        (None, Some(t)) => {
            let m = "s3TablesDestinationConfiguration";
            let freshness =
                check_freshness(&mut e, &format!("{m}.dataFreshnessInSeconds"), t.data_freshness_in_seconds);
            check_dead_letter(
                &mut e,
                &format!("{m}.deadLetterQueueS3Configuration"),
                &t.dead_letter_queue_s3_configuration,
            );
            let list = &t.s3_tables_configuration_list;
            if list.is_empty() {
                e.push(&format!("{m}.s3TablesConfigurationList"), "[]", Constraint::MinLength(1));
            }
            for (i, tc) in list.iter().enumerate() {
                let mm = format!("{m}.s3TablesConfigurationList.{}.member", i + 1);
                if !is_table_bucket_arn(&tc.table_bucket_arn) {
                    e.pattern(&format!("{mm}.tableBucketARN"), &tc.table_bucket_arn, TABLE_BUCKET_ARN_PATTERN);
                }
                for (field, v) in [("namespace", &tc.namespace), ("tableName", &tc.table_name)] {
                    e.length(&format!("{mm}.{field}"), v, 1, 255);
                    if !all_bytes(v, |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                        e.pattern(&format!("{mm}.{field}"), v, NAMESPACE_PATTERN);
                    }
                }
                if let Some(fields) = &tc.partition_fields {
                    if fields.is_empty() || fields.len() > 10 {
                        let c = if fields.is_empty() { Constraint::MinLength(1) } else { Constraint::MaxLength(10) };
                        e.push(&format!("{mm}.partitionSpec.partitionFields"), format!("[{} fields]", fields.len()), c);
                    }
                    for (j, (transform, source)) in fields.iter().enumerate() {
                        let fm = format!("{mm}.partitionSpec.partitionFields.{}.member", j + 1);
                        if transform != "TIME_HOUR" {
                            e.push(&format!("{fm}.transform"), transform, Constraint::EnumValue(&["TIME_HOUR"]));
                        }
                        e.length(&format!("{fm}.sourceName"), source, 1, 255);
                        if !all_bytes(source, |b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_') {
                            e.pattern(&format!("{fm}.sourceName"), source, SOURCE_NAME_PATTERN);
                        }
                    }
                }
            }
            ChannelDestination::S3Tables(TablesDestination {
                freshness_secs: freshness,
                dead_letter: t.dead_letter_queue_s3_configuration.clone(),
                tables: list.clone(),
            })
        }
        (Some(_), Some(_)) => return Err(validation(
            "Exactly one of S3DestinationConfiguration and S3TablesDestinationConfiguration must be given, not both.",
        )),
        (None, None) => {
            return Err(validation(
                "Exactly one of S3DestinationConfiguration and S3TablesDestinationConfiguration must be given.",
            ))
        }
    };
    for (i, sc) in input.stream_configuration_list.iter().enumerate() {
        let m = format!("streamConfigurationList.{}.member", i + 1);
        if names::parse_stream_arn(&sc.stream_arn).is_none() {
            e.pattern(&format!("{m}.streamARN"), &sc.stream_arn, "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+");
        }
        if let Some(g) = &sc.record_configuration.gsr_schema_arn {
            e.length(&format!("{m}.recordConfiguration.gSRSchemaARN"), g, 1, 512);
            if !is_gsr_arn(g) {
                e.pattern(&format!("{m}.recordConfiguration.gSRSchemaARN"), g, GSR_ARN_PATTERN);
            }
        }
    }
    e.into_result()?;
    if n != 1 {
        return Err(validation(format!("StreamConfigurationList must hold exactly one stream, not {n}.")));
    }
    let Some(sc) = input.stream_configuration_list.first() else {
        return Err(validation("StreamConfigurationList must hold exactly one stream."));
    };
    let rc = sc.record_configuration.clone();
    let tables = matches!(dest, ChannelDestination::S3Tables(_));
    match (rc.record_format_type, tables) {
        (RecordFormat::GsrJson, false) => {
            return Err(validation("RecordFormatType GSR_JSON is supported only for S3 Tables destinations."))
        }
        (RecordFormat::String | RecordFormat::ByteArray, true) => {
            return Err(validation(format!(
                "RecordFormatType {} is supported only for S3 destinations.",
                rc.record_format_type.as_str()
            )))
        }
        _ => {}
    }
    match (tables, &rc.gsr_schema_arn) {
        (true, None) => return Err(validation("GSRSchemaARN is required for S3 Tables destinations.")),
        (false, Some(_)) => return Err(validation("GSRSchemaARN applies only to S3 Tables destinations.")),
        _ => {}
    }
    if let ChannelDestination::S3Tables(t) = &dest {
        if t.tables.len() != 1 {
            return Err(validation(format!(
                "S3TablesConfigurationList must hold exactly one table, not {}.",
                t.tables.len()
            )));
        }
    }
    if let Some(enc) = &input.encryption_configuration {
        crate::engine::encryption::validate_key_id(&enc.key_id)?;
        if enc.key_id == "alias/aws/kinesis" || enc.key_id.ends_with(":alias/aws/kinesis") {
            return Err(Error::invalid_argument(
                "Channel encryption needs a customer managed KMS key; alias/aws/kinesis is not allowed.",
            ));
        }
    }
    if !input.tags.is_empty() {
        crate::engine::resources::validate_resource_tags(&input.tags)?;
    }
    Ok((dest, rc, sc.stream_arn.clone()))
}

impl Engine {
    /// `CreateChannel`: validates everything, then creates the channel (CREATING → ACTIVE).
    pub fn create_channel(&self, input: CreateChannelInput) -> Result<ChannelDescription> {
        let inner = &self.inner;
        inner.admit_control("CreateChannel", 0)?;
        inner.check_metadata()?;
        let (destination, rc, stream_arn) = check_create(&input)?;
        inner.reap_channels()?;
        let h = inner.resolve(&StreamRef::arn(&stream_arn))?;
        let now = inner.now_ms();
        let topo = h.topo.read();
        let meta = &topo.meta;
        let account = &inner.config.account_id;
        if matches!(meta.lifecycle, StreamLifecycle::Deleting { .. }) {
            return Err(crate::kinesis::messages::stream_not_found(&meta.name, account));
        }
        if meta.mode != StreamMode::OnDemand {
            return Err(validation(format!(
                "Channels need a stream in ON_DEMAND capacity mode; stream {} under account {account} is PROVISIONED.",
                meta.name
            )));
        }
        if inner.status(meta) == StreamStatus::Creating {
            return Err(crate::kinesis::messages::stream_not_active(&meta.name, account, "CREATING"));
        }
        let mut positions = BTreeMap::new();
        for (slot, shard) in topo.slots.iter().zip(&meta.shards) {
            let hw = match inner.existing_log(slot)? {
                Some(log) => log.high_watermark(),
                None => 0,
            };
            if shard.is_open() {
                positions.insert(shard.index, hw);
            }
        }
        let first_new_shard = meta.next_shard_index;
        drop(topo);
        let mut cat = inner.catalog.lock();
        if cat.catalog.channels.values().any(|c| c.name == input.channel_name) {
            return Err(Error::ResourceInUse {
                message: format!("Channel {} under account {account} already exists.", input.channel_name),
            });
        }
        if cat.catalog.channels.len() as u32 >= CHANNEL_COUNT_LIMIT {
            return Err(Error::LimitExceeded {
                message: format!("Account {account} already has {CHANNEL_COUNT_LIMIT} channels."),
            });
        }
        let same_stream: Vec<&ChannelMeta> =
            cat.catalog.channels.values().filter(|c| c.stream_uid == h.uid && c.deleting_since_ms.is_none()).collect();
        let same_type =
            same_stream.iter().any(|c| std::mem::discriminant(&c.destination) == std::mem::discriminant(&destination));
        if same_stream.len() >= MAX_CHANNELS_PER_STREAM || same_type {
            return Err(Error::LimitExceeded {
                message: format!(
                    "Stream {stream_arn} already has a channel with this destination type; a stream takes at most \
                     {MAX_CHANNELS_PER_STREAM} channels, one S3 and one S3 Tables."
                ),
            });
        }
        let uid = cat.catalog.next_channel_uid;
        let channel = ChannelMeta {
            uid,
            id: ids::channel_id(&cat.catalog.token_key, uid),
            name: input.channel_name.clone(),
            created_ms: now,
            updated_ms: i64::MIN,
            role_arn: input.service_execution_role_arn.clone(),
            stream_uid: h.uid,
            record_format: rc.record_format_type,
            gsr_schema_arn: rc.gsr_schema_arn,
            destination,
            encryption_key: input.encryption_configuration.map(|e| e.key_id),
            tags: input.tags,
            logging: input.logging_configuration.unwrap_or_default(),
            deleting_since_ms: None,
            failure: None,
            delivery: DeliveryState { first_new_shard, positions, objects: 0 },
        };
        let mut next = cat.catalog.clone();
        next.next_channel_uid = uid + 1;
        next.channels.insert(uid, channel.clone());
        inner.commit_catalog(&mut cat, &next)?;
        cat.catalog = next;
        drop(cat);
        Ok(inner.channel_description(&channel))
    }

    /// `DescribeChannel`.
    pub fn describe_channel(&self, channel_arn: &str) -> Result<ChannelDescription> {
        let inner = &self.inner;
        inner.admit_control("DescribeChannel", 0)?;
        let c = inner.find_channel(channel_arn)?;
        Ok(inner.channel_description(&c))
    }

    /// `ListChannels`, in creation order, at most 100 per page, optionally only channels of
    /// the given streams; `NextToken` expires after 300 s.
    pub fn list_channels(&self, input: ListChannelsInput) -> Result<ListChannelsOutput> {
        let inner = &self.inner;
        inner.admit_control("ListChannels", 0)?;
        let filter = input
            .stream_filter
            .as_ref()
            .map(|f| f.iter().map(|sf| (sf.stream_arn.clone(), sf.stream_creation_timestamp.map(|t| t.0))).collect());
        let pager =
            ByStreamPager::new(inner, "channel", input.max_results, filter, input.next_token.as_deref(), || {
                inner.reap_channels()
            })?;
        let all: Vec<ChannelMeta> = inner.catalog.lock().catalog.channels.values().cloned().collect();
        let (page, next_token) = pager.page(&all, |x| x.uid, |x| x.stream_uid)?;
        Ok(ListChannelsOutput {
            channel_summaries: page.into_iter().map(|c| inner.channel_summary(c)).collect(),
            next_token,
        })
    }

    /// `UpdateChannel`: only `DataFreshnessInSeconds` (of the channel's own destination type)
    /// and the logging configuration change; ACTIVE → UPDATING → ACTIVE.
    pub fn update_channel(&self, input: UpdateChannelInput) -> Result<ChannelDescription> {
        let inner = &self.inner;
        inner.admit_control("UpdateChannel", 0)?;
        inner.check_metadata()?;
        let mut e = ValidationErrors::new();
        let s3 = input
            .s3_data_freshness_in_seconds
            .map(|v| check_freshness(&mut e, "s3DestinationConfiguration.dataFreshnessInSeconds", Some(v)));
        let tables = input
            .s3_tables_data_freshness_in_seconds
            .map(|v| check_freshness(&mut e, "s3TablesDestinationConfiguration.dataFreshnessInSeconds", Some(v)));
        if let Some(l) = &input.logging_configuration {
            check_logging(&mut e, l);
        }
        e.into_result()?;
        let c = inner.find_channel(&input.channel_arn)?;
        let status = inner.channel_status(&c);
        if status != ChannelStatus::Active {
            return Err(channel_in_use(&c, status));
        }
        let mut updated = c.clone();
        match (&mut updated.destination, s3, tables) {
            (_, Some(_), Some(_)) => {
                return Err(validation("Give the freshness of one destination type only."));
            }
            (ChannelDestination::S3(d), Some(f), None) => d.freshness_secs = f,
            (ChannelDestination::S3Tables(d), None, Some(f)) => d.freshness_secs = f,
            (_, None, None) => {}
            (ChannelDestination::S3(_), None, Some(_)) => {
                return Err(validation("S3TablesDestinationConfiguration does not apply to an S3 channel."));
            }
            (ChannelDestination::S3Tables(_), Some(_), None) => {
                return Err(validation("S3DestinationConfiguration does not apply to an S3 Tables channel."));
            }
        }
        if let Some(l) = input.logging_configuration {
            updated.logging = l;
        }
        updated.updated_ms = inner.now_ms();
        let mut cat = inner.catalog.lock();
        let mut next = cat.catalog.clone();
        next.channels.insert(updated.uid, updated.clone());
        inner.commit_catalog(&mut cat, &next)?;
        cat.catalog = next;
        drop(cat);
        Ok(inner.channel_description(&updated))
    }

    /// `DeleteChannel`: delivery stops at once (records buffered but not yet written are
    /// dropped); data already delivered stays. DELETING, then gone.
    pub fn delete_channel(&self, channel_arn: &str) -> Result<()> {
        let inner = &self.inner;
        inner.admit_control("DeleteChannel", 0)?;
        inner.check_metadata()?;
        let c = inner.find_channel(channel_arn)?;
        if c.deleting_since_ms.is_some() {
            return Err(channel_not_found(channel_arn));
        }
        {
            let mut cat = inner.catalog.lock();
            let mut next = cat.catalog.clone();
            if let Some(ch) = next.channels.get_mut(&c.uid) {
                ch.deleting_since_ms = Some(inner.now_ms());
            }
            inner.commit_catalog(&mut cat, &next)?;
            cat.catalog = next;
        }
        inner.deliveries.lock().drop_channel(c.uid);
        inner.reap_channels()
    }

    /// Turn a channel FAILED with `reason` (a test hook, as AWS offers none: the
    /// `ChannelActive` waiter and status-reason handling can be exercised). Terminal.
    pub fn fail_channel(&self, channel_arn: &str, reason: &str) -> Result<()> {
        let inner = &self.inner;
        let c = inner.find_channel(channel_arn)?;
        inner.mark_channel_failed(c.uid, reason)
    }
}

impl EngineInner {
    /// Record a channel's failure (commit) and drop what it had buffered.
    pub(crate) fn mark_channel_failed(&self, uid: u64, reason: &str) -> Result<()> {
        let mut reason: String = reason.chars().take(2048).collect();
        if reason.is_empty() {
            reason = "delivery failed".into();
        }
        {
            let mut cat = self.catalog.lock();
            let mut next = cat.catalog.clone();
            let Some(ch) = next.channels.get_mut(&uid) else { return Ok(()) };
            if ch.failure.is_some() || ch.deleting_since_ms.is_some() {
                return Ok(());
            }
            ch.failure = Some(reason);
            self.commit_catalog(&mut cat, &next)?;
            cat.catalog = next;
        }
        self.deliveries.lock().drop_channel(uid);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_patterns() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/service-role/my_role+1"));
        assert!(!is_role_arn("arn:aws:iam::12345678901:role/x"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/x"));
        assert_eq!(bucket_name("arn:aws:s3:::my-bucket.1"), Some("my-bucket.1"));
        assert_eq!(bucket_name("arn:aws-cn:s3:::abc"), Some("abc"));
        assert_eq!(bucket_name("arn:aws:s3:::ab"), None);
        assert_eq!(bucket_name("arn:aws:s3:::Upper"), None);
        assert!(is_table_bucket_arn("arn:aws:s3tables:us-east-1:123456789012:bucket/tb_1"));
        assert!(!is_table_bucket_arn("arn:aws:s3tables:us-east-1:123456789012:bucket/TB"));
        assert!(is_gsr_arn("arn:aws:glue:us-east-1:123456789012:schema/reg/sch.1"));
        assert!(!is_gsr_arn("arn:aws:glue:us-east-1:123456789012:schema/reg"));
    }
}
