//! `SubscribeToShard` as an AWS event stream (`application/vnd.amazon.eventstream`,
//! kinesis-behaviour §8.3).
//!
//! The response body is a sequence of binary event-stream messages, framed by
//! `aws-smithy-eventstream` (prelude with lengths and CRC-32, string headers, payload,
//! message CRC-32):
//!
//! 1. `:message-type`=`event`, `:event-type`=`initial-response`: the operation's non-stream
//!    output (none for SubscribeToShard: `{}`);
//! 2. one `SubscribeToShardEvent` per event the engine's [`Subscription`] yields (records as
//!    they commit, heartbeats while idle, the final event with `ChildShards` at the end of a
//!    closed shard), the payload in the request's codec;
//! 3. on an error after streaming began: an `exception` message for the members of
//!    Kinesis' `SubscribeToShardEventStream` union (`ResourceNotFoundException`,
//!    `ResourceInUseException`, `InternalFailureException`), an `error` message
//!    (`:error-code`, `:error-message`) for anything else; then the body ends.
//!
//! The body also ends when the subscription's lifetime is over (5 minutes), when the client
//! goes away (which drops the subscription at once), when the server shuts down, or when
//! the client takes no frame for `--stall-timeout-secs` (it stopped reading). Events carry
//! at most `--subscription-event-bytes` of records and one frame is queued at a time, so a
//! subscriber that stops reading costs the server one or two events, not megabytes.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use futures_core::Stream;
use shardlog::engine::fanout::Subscription;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::conn::{RequestGuard, TimeoutCounts, TimeoutKind};
use super::ops;
use super::wire::{self, Codec, Out};

/// Content type of the response.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

fn payload_type(codec: Codec) -> &'static str {
    match codec {
        Codec::Json => "application/json",
        Codec::Cbor => wire::AMZ_CBOR,
    }
}

/// One framed message with string headers, in the given order.
pub fn frame(headers: &[(&'static str, &str)], payload: Vec<u8>) -> Bytes {
    let headers =
        headers.iter().map(|(name, value)| Header::new(*name, HeaderValue::String(value.to_string().into()))).collect();
    let message = Message::new_from_parts(headers, payload);
    let mut buf = Vec::with_capacity(message.payload().len() + 128);
    // Payloads are bounded by the engine (≤ 10,000 records and a few MiB per event), far
    // below the framing limits; an oversized message would be a bug, reported by an empty
    // frame that fails the client's CRC check rather than a crash.
    if write_message_to(&message, &mut buf).is_err() {
        tracing::error!("event-stream message too large to frame");
    }
    Bytes::from(buf)
}

/// The `initial-response` event.
pub fn initial_response(codec: Codec) -> Bytes {
    frame(
        &[(":message-type", "event"), (":event-type", "initial-response"), (":content-type", payload_type(codec))],
        wire::encode(codec, &Out::empty()),
    )
}

/// A `SubscribeToShardEvent`.
pub fn event(codec: Codec, e: &shardlog::engine::types::SubscribeToShardEvent) -> Bytes {
    frame(
        &[(":message-type", "event"), (":event-type", "SubscribeToShardEvent"), (":content-type", payload_type(codec))],
        wire::encode(codec, &ops::subscribe_event(e)),
    )
}

/// A modeled exception of the event stream.
pub fn exception(codec: Codec, name: &str, message: &str) -> Bytes {
    frame(
        &[(":message-type", "exception"), (":exception-type", name), (":content-type", payload_type(codec))],
        wire::encode(codec, &Out::Map(vec![("message", Out::Str(message.to_string()))])),
    )
}

/// An unmodeled error of the event stream.
pub fn error(code: &str, message: &str) -> Bytes {
    frame(&[(":message-type", "error"), (":error-code", code), (":error-message", message)], Vec::new())
}

/// The message that ends a stream after an engine error.
pub fn for_error(codec: Codec, e: &shardlog::Error) -> Bytes {
    match e.kinesis_error_code() {
        name @ ("ResourceNotFoundException" | "ResourceInUseException") => exception(codec, name, &e.to_string()),
        "InternalFailure" => {
            tracing::error!(error = %e, "subscription failed");
            exception(codec, "InternalFailureException", "Internal Service Failure")
        }
        code => error(code, &e.to_string()),
    }
}

/// Moves a subscription's events into the response body.
#[derive(Debug)]
pub struct Pump {
    /// The request's codec (event payloads use it).
    pub codec: Codec,
    /// Turns true at server shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// How long the client may leave the queued frame untaken before the subscription ends.
    pub stall_timeout: Duration,
    /// Where a stall is counted.
    pub timeouts: TimeoutCounts,
    /// The request's place on its connection, released when the pump ends.
    pub guard: Option<RequestGuard>,
}

impl Pump {
    /// Move `sub`'s events into `tx` until the subscription ends, the receiver is dropped
    /// (the client went away), the server shuts down, or the client takes no frame for the
    /// stall timeout (it stopped reading: the subscription is ended, as AWS ends one whose
    /// client stops reading). The next event is read from the shard only once there is room
    /// for it, so a subscriber that does not read holds at most one queued frame here. The
    /// subscription is dropped on return, which frees its (consumer, shard) slot.
    pub async fn run(mut self, mut sub: Subscription, tx: mpsc::Sender<Bytes>) {
        loop {
            let room = tokio::select! {
                room = tokio::time::timeout(self.stall_timeout, tx.reserve()) => room,
                _ = self.shutdown.wait_for(|stop| *stop) => return,
            };
            let permit = match room {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return,
                Err(_) => {
                    self.timeouts.count(TimeoutKind::Stall);
                    tracing::info!(position = sub.position(), "subscriber stopped reading: subscription ended");
                    return;
                }
            };
            let next = tokio::select! {
                next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut sub).poll_next(cx)) => next,
                _ = tx.closed() => return,
                _ = self.shutdown.wait_for(|stop| *stop) => return,
            };
            let (frame, last) = match next {
                None => return,
                Some(Ok(e)) => {
                    let last = e.child_shards.is_some() && e.continuation_sequence_number.is_none();
                    (event(self.codec, &e), last)
                }
                Some(Err(e)) => (for_error(self.codec, &e), true),
            };
            permit.send(frame);
            if last {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kinesis-behaviour §13: the 104-byte `initial-response` frame.
    #[test]
    fn initial_response_matches_the_test_vector() {
        let want = "00000068000000564e6817240d3a6d6573736167652d747970650700056576656e740b3a6576656e742d747970650700\
                    10696e697469616c2d726573706f6e73650d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a73\
                    6f6e7b7dfe942c1d";
        let got: String = initial_response(Codec::Json).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, want);
        assert_eq!(initial_response(Codec::Json).len(), 104);
    }

    #[test]
    fn frames_round_trip_through_the_decoder() {
        let f = exception(Codec::Json, "ResourceInUseException", "taken over");
        let m = aws_smithy_eventstream::frame::read_message_from(f.clone()).unwrap();
        let h = |n: &str| {
            m.headers()
                .iter()
                .find(|h| h.name().as_str() == n)
                .map(|h| h.value().as_string().unwrap().as_str().to_string())
        };
        assert_eq!(h(":message-type").as_deref(), Some("exception"));
        assert_eq!(h(":exception-type").as_deref(), Some("ResourceInUseException"));
        assert_eq!(&m.payload()[..], br#"{"message":"taken over"}"#);
        // A flipped payload byte fails the message CRC.
        let mut bad = f.to_vec();
        let n = bad.len();
        bad[n - 6] ^= 1;
        assert!(aws_smithy_eventstream::frame::read_message_from(Bytes::from(bad)).is_err());
    }
}
