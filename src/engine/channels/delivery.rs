//! The delivery worker of channels: a pass ([`Engine::deliver_channels`], run by a
//! background thread every `EngineConfig::channel_delivery_interval`) reads new records of
//! each ACTIVE S3 channel's stream, buffers them, and once the oldest buffered record has
//! waited `DataFreshnessInSeconds` (on the engine clock), or the buffer holds
//! [`MAX_OBJECT_BYTES`], writes them out:
//!
//! - **one data object** with every deliverable record, in shard order then offset order:
//!   `JSON` and `STRING` records one per line (each followed by `\n`), `BYTE_ARRAY` records
//!   concatenated as they are; compressed with GZIP or ZSTD when configured; keyed by the
//!   channel's `OutputKeyTemplate` (see [`super::template`]);
//! - **one error object** with every undeliverable record (a `JSON` record whose data is not
//!   JSON, a `STRING` record that is not UTF-8), as JSON lines naming the shard, sequence
//!   number, arrival time, partition key, base64 data and the reason, under the dead-letter
//!   bucket's `ErrorOutputPrefix` (default `kinesis-channel-errors/`).
//!
//! Only then is the channel's progress (per-shard offsets, object count) committed to the
//! catalog, so a crash between writing and committing re-delivers the same records on the
//! next run, under the same keys: delivery is at least once, and after a crash the rewrite
//! usually replaces the same object. Records that arrived before the channel became ACTIVE
//! are never delivered (no backfill); shards created after the channel (splits of an
//! on-demand stream) are delivered from their first record; records trimmed by retention
//! before delivery are skipped.
//!
//! A sink failure marked transient keeps the records buffered for the next pass; a permanent
//! one turns the channel FAILED with the sink's reason. Buffers are run-time state.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;

use super::sink::{DirectorySink, ObjectSink, PutObject, SinkError};
use super::template::{self, KeyContext};
use crate::catalog::channel::{ChannelDestination, ChannelMeta, RecordFormat, S3Compression, S3Destination};
use crate::engine::types::*;
use crate::engine::{Engine, EngineInner};
use crate::error::{Error, Result};
use crate::kinesis::{names, SequenceNumber};

/// Largest data object (bytes before compression); a fuller buffer is written at once.
pub const MAX_OBJECT_BYTES: usize = 64 * 1024 * 1024;
/// Most records read from one shard in one read.
const READ_RECORDS: usize = 10_000;

/// One record waiting in a channel's buffer.
#[derive(Debug, Clone)]
struct Buffered {
    shard_id: String,
    seq: SequenceNumber,
    arrival_ms: i64,
    key: Bytes,
    data: Bytes,
}

/// What one channel has read but not yet written out.
#[derive(Debug, Default)]
struct ChannelBuffer {
    /// When the oldest buffered record entered the buffer (engine clock).
    started_ms: i64,
    records: Vec<Buffered>,
    bytes: usize,
    /// Read-ahead positions: per shard, the next offset to read.
    positions: BTreeMap<u32, u64>,
}

/// The delivery buffers of every channel (run-time state).
#[derive(Debug, Default)]
pub struct Buffers {
    by_channel: HashMap<u64, ChannelBuffer>,
}

impl Buffers {
    /// Forget what a channel buffered (deleted or failed).
    pub(crate) fn drop_channel(&mut self, uid: u64) {
        self.by_channel.remove(&uid);
    }
}

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Objects written (data and error objects).
    pub objects_written: u64,
    /// Records delivered in data objects.
    pub records_delivered: u64,
    /// Records written to error objects.
    pub records_undeliverable: u64,
    /// Channels that turned FAILED in this pass.
    pub channels_failed: u32,
}

impl Engine {
    /// Run a delivery pass over every channel now (the background thread runs one every
    /// `EngineConfig::channel_delivery_interval`).
    pub fn deliver_channels(&self) -> Result<DeliveryReport> {
        self.inner.deliver_channels()
    }
}

fn extension(format: RecordFormat, compression: S3Compression) -> &'static str {
    match (format, compression) {
        (RecordFormat::Json | RecordFormat::GsrJson, S3Compression::None) => ".json",
        (RecordFormat::Json | RecordFormat::GsrJson, S3Compression::Gzip) => ".json.gz",
        (RecordFormat::Json | RecordFormat::GsrJson, S3Compression::Zstd) => ".json.zst",
        (RecordFormat::String, S3Compression::None) => ".txt",
        (RecordFormat::String, S3Compression::Gzip) => ".txt.gz",
        (RecordFormat::String, S3Compression::Zstd) => ".txt.zst",
        (RecordFormat::ByteArray, S3Compression::None) => ".bin",
        (RecordFormat::ByteArray, S3Compression::Gzip) => ".bin.gz",
        (RecordFormat::ByteArray, S3Compression::Zstd) => ".bin.zst",
    }
}

/// Why a record cannot be delivered in `format`, if it cannot.
fn undeliverable(format: RecordFormat, data: &[u8]) -> Option<&'static str> {
    match format {
        RecordFormat::Json | RecordFormat::GsrJson => {
            serde_json::from_slice::<serde_json::Value>(data).is_err().then_some("The record data is not valid JSON.")
        }
        RecordFormat::String => std::str::from_utf8(data).is_err().then_some("The record data is not valid UTF-8."),
        RecordFormat::ByteArray => None,
    }
}

/// Compress a data object.
pub fn compress(compression: S3Compression, body: Vec<u8>) -> std::io::Result<Vec<u8>> {
    match compression {
        S3Compression::None => Ok(body),
        S3Compression::Gzip => {
            let mut enc =
                flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 2), flate2::Compression::default());
            enc.write_all(&body)?;
            enc.finish()
        }
        S3Compression::Zstd => zstd::encode_all(body.as_slice(), 3),
    }
}

impl EngineInner {
    fn sink(&self) -> Arc<dyn ObjectSink> {
        match &self.config.channel_sink {
            Some(s) => Arc::clone(s),
            None => Arc::new(DirectorySink::new(Arc::clone(&self.config.vfs), self.root.join("s3"))),
        }
    }

    pub(crate) fn deliver_channels(&self) -> Result<DeliveryReport> {
        self.reap_channels()?;
        let mut report = DeliveryReport::default();
        let channels: Vec<ChannelMeta> = self.catalog.lock().catalog.channels.values().cloned().collect();
        let mut buffers = self.deliveries.lock();
        let live: Vec<u64> = channels.iter().map(|c| c.uid).collect();
        buffers.by_channel.retain(|uid, _| live.contains(uid));
        let sink = self.sink();
        for c in &channels {
            let ChannelDestination::S3(dest) = &c.destination else { continue };
            if !matches!(self.channel_status(c), ChannelStatus::Active | ChannelStatus::Updating) {
                continue;
            }
            let buf = buffers.by_channel.entry(c.uid).or_insert_with(|| ChannelBuffer {
                positions: c.delivery.positions.clone(),
                ..ChannelBuffer::default()
            });
            let stream_name = match self.read_new(c, buf) {
                Ok(Some(name)) => name,
                Ok(None) => continue,
                Err(e) => return Err(e),
            };
            let now = self.now_ms();
            let due = now.saturating_sub(buf.started_ms) >= i64::from(dest.freshness_secs) * 1000;
            if buf.records.is_empty() || !(due || buf.bytes >= MAX_OBJECT_BYTES) {
                continue;
            }
            match self.write_out(c, dest, &stream_name, buf, sink.as_ref(), &mut report) {
                Ok(()) => {}
                Err(SinkError::Transient(why)) => {
                    // Kept buffered; the next pass tries again.
                    let _ = why;
                }
                Err(SinkError::Permanent(why)) => {
                    buffers.by_channel.remove(&c.uid);
                    drop(buffers);
                    self.mark_channel_failed(c.uid, &why)?;
                    report.channels_failed += 1;
                    buffers = self.deliveries.lock();
                }
            }
        }
        Ok(report)
    }

    /// Read what the channel has not buffered yet; the stream's name, or `None` when the
    /// stream is gone.
    fn read_new(&self, c: &ChannelMeta, buf: &mut ChannelBuffer) -> Result<Option<String>> {
        let Some(h) = self.streams.read().by_uid.get(&c.stream_uid).cloned() else { return Ok(None) };
        let active_ms = self.channel_active_ms(c);
        let topo = h.topo.read();
        let listed: Vec<u32> = topo.meta.shards.iter().map(|s| s.index).collect();
        buf.positions.retain(|index, _| listed.contains(index));
        for (slot, shard) in topo.slots.iter().zip(&topo.meta.shards) {
            let start = match buf.positions.get(&shard.index) {
                Some(p) => *p,
                None if shard.index >= c.delivery.first_new_shard => 0,
                None => continue,
            };
            let Some(log) = self.existing_log(slot)? else {
                buf.positions.insert(shard.index, start);
                continue;
            };
            let mut pos = start.max(log.start_offset());
            let hw = log.high_watermark();
            let shard_id = names::shard_id_name(shard.index);
            while pos < hw && buf.bytes < MAX_OBJECT_BYTES {
                let read = log.read(pos, READ_RECORDS, MAX_OBJECT_BYTES - buf.bytes)?;
                if read.records.is_empty() {
                    break;
                }
                for r in read.records {
                    if r.arrival_ms < active_ms {
                        continue;
                    }
                    if buf.records.is_empty() {
                        buf.started_ms = self.now_ms();
                    }
                    buf.bytes += r.data.len();
                    buf.records.push(Buffered {
                        shard_id: shard_id.clone(),
                        seq: SequenceNumber::new(
                            crate::engine::shard_create_secs(shard),
                            shard.index,
                            r.offset,
                            crate::engine::arrival_secs(r.arrival_ms),
                        ),
                        arrival_ms: r.arrival_ms,
                        key: r.partition_key,
                        data: r.data,
                    });
                }
                pos = read.next_offset;
            }
            buf.positions.insert(shard.index, pos);
        }
        Ok(Some(topo.meta.name.clone()))
    }

    /// Write the buffer's objects, then commit the channel's progress.
    fn write_out(
        &self,
        c: &ChannelMeta,
        dest: &S3Destination,
        stream_name: &str,
        buf: &mut ChannelBuffer,
        sink: &dyn ObjectSink,
        report: &mut DeliveryReport,
    ) -> std::result::Result<(), SinkError> {
        let mut body = Vec::with_capacity(buf.bytes + buf.records.len());
        let mut errors = Vec::new();
        let mut delivered = 0u64;
        let stream_arn = names::stream_arn(&self.config.region, &self.config.account_id, stream_name);
        for r in &buf.records {
            match undeliverable(c.record_format, &r.data) {
                None => {
                    body.extend_from_slice(&r.data);
                    if c.record_format != RecordFormat::ByteArray {
                        body.push(b'\n');
                    }
                    delivered += 1;
                }
                Some(why) => {
                    let line = serde_json::json!({
                        "errorCode": "InvalidRecordFormat",
                        "errorMessage": why,
                        "channelARN": self.channel_arn(c),
                        "streamARN": stream_arn,
                        "shardId": r.shard_id,
                        "sequenceNumber": r.seq.to_string(),
                        "approximateArrivalTimestamp": r.arrival_ms as f64 / 1000.0,
                        "partitionKey": String::from_utf8_lossy(&r.key),
                        "data": base64::engine::general_purpose::STANDARD.encode(&r.data),
                    });
                    errors.extend_from_slice(line.to_string().as_bytes());
                    errors.push(b'\n');
                }
            }
        }
        let oldest = buf.records.iter().map(|r| r.arrival_ms).min().unwrap_or(0);
        let mut objects = c.delivery.objects;
        let ext = extension(c.record_format, dest.compression);
        if delivered > 0 {
            let ctx = KeyContext {
                channel_name: &c.name,
                channel_id: &c.id,
                stream_name,
                time_ms: oldest,
                extension: ext,
                object_number: objects,
            };
            let key = template::render(dest.output_key_template.as_deref().unwrap_or(template::DEFAULT_TEMPLATE), &ctx);
            let payload = compress(dest.compression, body)
                .map_err(|e| SinkError::Transient(format!("compressing an object failed: {e}")))?;
            let bucket = super::bucket_name(&dest.bucket_arn)
                .ok_or_else(|| SinkError::Permanent(format!("invalid bucket ARN {}", dest.bucket_arn)))?;
            sink.put_object(&PutObject {
                bucket,
                key: &key,
                body: &payload,
                content_type: match c.record_format {
                    RecordFormat::Json | RecordFormat::GsrJson => "application/json",
                    RecordFormat::String => "text/plain; charset=utf-8",
                    RecordFormat::ByteArray => "application/octet-stream",
                },
                content_encoding: match dest.compression {
                    S3Compression::None => None,
                    S3Compression::Gzip => Some("gzip"),
                    S3Compression::Zstd => Some("zstd"),
                },
                storage_class: dest.storage_class.map(|s| s.as_str()),
                expected_bucket_owner: &dest.expected_bucket_owner,
            })?;
            objects += 1;
        }
        if !errors.is_empty() {
            let dl = &dest.dead_letter;
            let ctx = KeyContext {
                channel_name: &c.name,
                channel_id: &c.id,
                stream_name,
                time_ms: oldest,
                extension: ".json",
                object_number: objects,
            };
            let prefix = dl.error_output_prefix.as_deref().unwrap_or(template::DEFAULT_ERROR_PREFIX);
            let key = template::error_key(prefix, &ctx);
            let bucket = super::bucket_name(&dl.bucket_arn)
                .ok_or_else(|| SinkError::Permanent(format!("invalid bucket ARN {}", dl.bucket_arn)))?;
            sink.put_object(&PutObject {
                bucket,
                key: &key,
                body: &errors,
                content_type: "application/json",
                content_encoding: None,
                storage_class: None,
                expected_bucket_owner: &dl.expected_bucket_owner,
            })?;
            objects += 1;
        }
        let undeliverable_count = buf.records.len() as u64 - delivered;
        self.commit_delivery(c.uid, &buf.positions, objects)
            .map_err(|e| SinkError::Transient(format!("committing delivery progress failed: {e}")))?;
        report.objects_written += objects - c.delivery.objects;
        report.records_delivered += delivered;
        report.records_undeliverable += undeliverable_count;
        buf.records.clear();
        buf.bytes = 0;
        Ok(())
    }

    fn commit_delivery(&self, uid: u64, positions: &BTreeMap<u32, u64>, objects: u64) -> Result<()> {
        let mut cat = self.catalog.lock();
        let mut next = cat.catalog.clone();
        let Some(ch) = next.channels.get_mut(&uid) else {
            return Err(Error::ResourceNotFound { message: format!("channel {uid} is gone") });
        };
        ch.delivery.positions = positions.clone();
        ch.delivery.objects = objects;
        self.commit_catalog(&mut cat, &next)?;
        cat.catalog = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn compression_round_trips() {
        let body = b"{\"a\":1}\n".repeat(100);
        assert_eq!(compress(S3Compression::None, body.clone()).unwrap(), body);
        let gz = compress(S3Compression::Gzip, body.clone()).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice()).read_to_end(&mut out).unwrap();
        assert_eq!(out, body);
        let zs = compress(S3Compression::Zstd, body.clone()).unwrap();
        assert_eq!(zstd::decode_all(zs.as_slice()).unwrap(), body);
    }

    #[test]
    fn formats_decide_what_is_deliverable() {
        assert_eq!(undeliverable(RecordFormat::Json, b"{\"a\": [1]}"), None);
        assert!(undeliverable(RecordFormat::Json, b"not json").is_some());
        assert_eq!(undeliverable(RecordFormat::String, "é".as_bytes()), None);
        assert!(undeliverable(RecordFormat::String, b"\xff").is_some());
        assert_eq!(undeliverable(RecordFormat::ByteArray, b"\xff\x00"), None);
    }
}
