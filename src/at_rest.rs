//! Encryption at rest: records of KMS-encrypted streams are stored sealed with a local
//! AES-256-GCM key (`aes-gcm`, RustCrypto), one seal per batch, so a data directory copied
//! off the machine is unreadable without the key.
//!
//! - **Key**: 32 bytes given to the engine (`EngineConfig::log.at_rest_key`, `shardlog serve
//!   --encryption-key-file`). Its id is the first four bytes of SHA-256(key) (never 0), written
//!   into the header of every segment created while the key is configured, so a reader can
//!   tell which key a segment's sealed batches need.
//! - **Batch**: the batch header (magic … arrival time) stays in the clear, with flag bit 0
//!   set; the payload (the records) is replaced by `nonce (12) ‖ ciphertext ‖ tag (16)`; the
//!   header's first 32 bytes (length, count, first offset, arrival time included) are the
//!   AEAD's associated data. The batch CRC covers the stored bytes, so recovery, index
//!   rebuilds and `shardlog verify` check sealed batches without the key; reading records
//!   needs it (`KMSNotFoundException` without it, `KMSAccessDeniedException` when the key
//!   does not open them).
//! - **Nonces**: 8 random bytes drawn when a shard log opens, then a 32-bit counter per batch;
//!   a log reopens with fresh random bytes, so a nonce never repeats under one key in
//!   practice (2^-64 per pair of log openings).
//!
//! The module is self-contained: `batch` calls [`AtRestKey::seal`] / [`AtRestKey::open`] on
//! the payload, the segment header carries the id.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit};
use sha2::Digest;

/// Bytes of the nonce stored in front of a sealed payload.
pub const NONCE_LEN: usize = 12;
/// Bytes of the authentication tag stored after the ciphertext.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed payload adds to the plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// A local data key.
pub struct AtRestKey {
    id: u32,
    cipher: Aes256Gcm,
}

impl fmt::Debug for AtRestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtRestKey").field("id", &format_args!("{:08x}", self.id)).finish()
    }
}

impl PartialEq for AtRestKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// Why a key file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl AtRestKey {
    /// The key of 32 bytes.
    pub fn new(key: [u8; 32]) -> AtRestKey {
        let digest = sha2::Sha256::digest(key);
        let mut first = [0u8; 4];
        first.copy_from_slice(digest.get(..4).unwrap_or(&[1, 0, 0, 0]));
        let id = u32::from_le_bytes(first).max(1);
        // A 32-byte slice is always a valid AES-256 key.
        let cipher = Aes256Gcm::new_from_slice(&key).unwrap_or_else(|_| unreachable_key());
        AtRestKey { id, cipher }
    }

    /// A key from the contents of a key file: 32 raw bytes, or 64 hexadecimal digits
    /// (surrounding whitespace ignored).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<AtRestKey, KeyError> {
        if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
            return Ok(AtRestKey::new(raw));
        }
        let text = std::str::from_utf8(bytes).map(str::trim).unwrap_or("");
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut key = [0u8; 32];
            for (i, k) in key.iter_mut().enumerate() {
                *k = text.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(0);
            }
            return Ok(AtRestKey::new(key));
        }
        Err(KeyError(format!(
            "a key file holds 32 bytes, or 64 hexadecimal digits; this one holds {} bytes",
            bytes.len()
        )))
    }

    /// The key's id (never 0: 0 in a segment header means "no key").
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Seal `payload` in place (it grows by [`SEAL_OVERHEAD`]): `nonce ‖ ciphertext ‖ tag`,
    /// authenticating `aad` too.
    pub fn seal(&self, nonce: [u8; NONCE_LEN], aad: &[u8], payload: &mut Vec<u8>) {
        let tag = match self.cipher.encrypt_inout_detached(&nonce.into(), aad, payload.as_mut_slice().into()) {
            Ok(t) => t,
            // Only possible for payloads above 64 GiB, far above any batch.
            Err(_) => unreachable_key(),
        };
        let mut sealed = Vec::with_capacity(payload.len() + SEAL_OVERHEAD);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(payload);
        sealed.extend_from_slice(&tag);
        *payload = sealed;
    }

    /// Open a sealed payload: the plaintext, or `None` if the key or the bytes are wrong.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let nonce = sealed.get(..NONCE_LEN)?;
        let body = sealed.get(NONCE_LEN..sealed.len().checked_sub(TAG_LEN)?)?;
        let tag = sealed.get(sealed.len().checked_sub(TAG_LEN)?..)?;
        let mut plain = body.to_vec();
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let tag: [u8; TAG_LEN] = tag.try_into().ok()?;
        self.cipher.decrypt_inout_detached(&nonce.into(), aad, plain.as_mut_slice().into(), &tag.into()).ok()?;
        Some(plain)
    }
}

#[cold]
fn unreachable_key() -> ! {
    // Both call sites are statically impossible (fixed key size, bounded batch size); a
    // process that gets here has corrupted memory.
    std::process::abort()
}

/// Nonces of one shard log: 8 random bytes fixed at open, then a counter.
#[derive(Debug)]
pub struct NonceSource {
    prefix: [u8; 8],
    counter: AtomicU32,
}

impl NonceSource {
    /// A fresh source (random prefix from the OS).
    pub fn new() -> NonceSource {
        let r = crate::kinesis::TokenKey::random_bytes();
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(r.get(..8).unwrap_or(&[0; 8]));
        NonceSource { prefix, counter: AtomicU32::new(0) }
    }

    /// The next nonce.
    pub fn next(&self) -> [u8; NONCE_LEN] {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut out = [0u8; NONCE_LEN];
        let (head, tail) = out.split_at_mut(8);
        head.copy_from_slice(&self.prefix);
        tail.copy_from_slice(&n.to_le_bytes());
        out
    }
}

impl Default for NonceSource {
    fn default() -> Self {
        NonceSource::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_payloads_open_only_with_the_same_key_and_header() {
        let k = AtRestKey::new([1; 32]);
        let mut p = b"records".to_vec();
        k.seal([9; 12], b"header", &mut p);
        assert_eq!(p.len(), 7 + SEAL_OVERHEAD);
        assert!(!p.windows(7).any(|w| w == b"records"), "the plaintext is gone");
        assert_eq!(k.open(b"header", &p).as_deref(), Some(&b"records"[..]));
        assert_eq!(k.open(b"other", &p), None, "the header is authenticated");
        assert_eq!(AtRestKey::new([2; 32]).open(b"header", &p), None);
        let mut bad = p.clone();
        bad[13] ^= 1;
        assert_eq!(k.open(b"header", &bad), None);
        assert_eq!(k.open(b"header", &p[..10]), None);
        assert_ne!(AtRestKey::new([1; 32]).id(), AtRestKey::new([2; 32]).id());
    }

    #[test]
    fn key_files_hold_raw_or_hex_keys() {
        let hex = "00".repeat(31) + "ff\n";
        assert_eq!(
            AtRestKey::from_file_bytes(hex.as_bytes()).unwrap(),
            AtRestKey::new({
                let mut k = [0; 32];
                k[31] = 0xff;
                k
            })
        );
        assert!(AtRestKey::from_file_bytes(&[7; 32]).is_ok());
        assert!(AtRestKey::from_file_bytes(b"short").is_err());
        let n = NonceSource::new();
        assert_ne!(n.next(), n.next());
    }
}
