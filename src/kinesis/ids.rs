//! Generated resource ids: `StreamId` (`[a-z0-9]{20}-[a-z0-9]{3}`) and channel ids (DNS
//! labels, which SDKs put in front of the endpoint host).
//!
//! An id is derived from the data directory's secret key and the resource's internal uid
//! (HMAC-SHA256, rendered in base 36), so it is unpredictable to clients, unique per
//! resource (uids are never reused), and the same every time it is computed — a manifest
//! written before ids existed gets the same ids on every open.

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Length of a channel id.
pub const CHANNEL_ID_LEN: usize = 32;
/// Length of a queue id.
pub const QUEUE_ID_LEN: usize = 32;

fn derive(key: &[u8; 32], kind: &str, uid: u64, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut block = 0u32;
    while out.len() < len {
        let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(key) else { break };
        mac.update(kind.as_bytes());
        mac.update(&uid.to_le_bytes());
        mac.update(&block.to_le_bytes());
        for b in mac.finalize().into_bytes() {
            // 252 = 7 × 36: reject the top values so every character is uniform.
            if let Some(&c) = ALPHABET.get(usize::from(b % 36)).filter(|_| b < 252 && out.len() < len) {
                out.push(char::from(c));
            }
        }
        block += 1;
    }
    out
}

/// The `StreamId` of the stream with internal uid `uid`.
pub fn stream_id(key: &[u8; 32], uid: u64) -> String {
    let raw = derive(key, "stream-id", uid, 23);
    let (a, b) = raw.split_at(20.min(raw.len()));
    format!("{a}-{b}")
}

/// True if `s` matches the `StreamId` pattern `[a-z0-9]{20}-[a-z0-9]{3}` (whole string).
pub fn is_stream_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter()
            .enumerate()
            .all(|(i, c)| if i == 20 { *c == b'-' } else { c.is_ascii_lowercase() || c.is_ascii_digit() })
}

/// The id of the channel with internal uid `uid`: 32 characters of `[a-z0-9]`, a valid DNS
/// label.
pub fn channel_id(key: &[u8; 32], uid: u64) -> String {
    derive(key, "channel-id", uid, CHANNEL_ID_LEN)
}

/// The id of the queue with internal uid `uid`: a 32-character DNS label (SDKs route a queue
/// operation to `{id}.{data|control}-kinesis-queues.{region}…` without a custom endpoint).
pub fn queue_id(key: &[u8; 32], uid: u64) -> String {
    let raw = derive(key, "queue-id", uid, QUEUE_ID_LEN - 1);
    format!("q{raw}")
}

/// True if `s` is a DNS label (`[a-z0-9-]`, 1–63 characters, not starting or ending with `-`).
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_match_the_model_pattern_and_differ_per_stream() {
        let key = [3u8; 32];
        let a = stream_id(&key, 1);
        let b = stream_id(&key, 2);
        assert!(is_stream_id(&a), "{a}");
        assert!(is_stream_id(&b), "{b}");
        assert_ne!(a, b);
        assert_eq!(a, stream_id(&key, 1), "derivation is stable");
        assert_ne!(a, stream_id(&[4u8; 32], 1), "another data directory gives other ids");
        for bad in ["", "abc", "ABCDEFGHIJKLMNOPQRST-abc", "aaaaaaaaaaaaaaaaaaaa_aaa", "aaaaaaaaaaaaaaaaaaaa-aaaa"] {
            assert!(!is_stream_id(bad), "{bad}");
        }
    }

    #[test]
    fn channel_ids_are_dns_labels() {
        let id = channel_id(&[9u8; 32], 7);
        assert_eq!(id.len(), CHANNEL_ID_LEN);
        assert!(is_dns_label(&id));
        assert!(!is_dns_label("-a") && !is_dns_label("a_b") && !is_dns_label(&"a".repeat(64)));
    }
}
