//! Server-side encryption settings: `StartStreamEncryption` / `StopStreamEncryption`.
//!
//! A stream's `EncryptionType` (NONE or KMS) and `KeyId` are catalog state. Both calls move
//! the stream ACTIVE → UPDATING → ACTIVE (with modelled delays; at once otherwise) while I/O
//! continues, and are limited per rolling 24 hours to 25 applications of a new key and 25
//! disables (`LimitExceededException`). Records written while a stream is encrypted report
//! `EncryptionType: KMS`, as do put responses.
//!
//! No KMS exists locally, so any well-formed `KeyId` is accepted: a key GUID (or
//! multi-Region `mrk-` id), a key ARN, an alias ARN, `alias/<name>`, or `alias/aws/kinesis`.
//! Decisions where AWS is silent: re-applying the key already in use changes nothing (it is
//! not counted and causes no UPDATING); stopping encryption of a stream that is not encrypted,
//! or naming another key than the one in use, is `InvalidArgumentException`.

use crate::engine::types::*;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::kinesis::{messages, ValidationErrors};

/// Most new-key applications, and most disables, per stream per rolling 24 hours.
pub const MAX_ENCRYPTION_CHANGES_PER_DAY: usize = 25;
/// Longest `KeyId`.
pub const KEY_ID_MAX_LEN: usize = 2048;
const DAY_MS: i64 = 24 * 3_600_000;

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A key GUID (`8-4-4-4-12` hex) or a multi-Region key id (`mrk-` + 32 hex).
fn is_key_guid(s: &str) -> bool {
    if let Some(hex) = s.strip_prefix("mrk-") {
        return is_hex(hex, 32);
    }
    let parts: Vec<&str> = s.split('-').collect();
    matches!(parts.as_slice(), [a, b, c, d, e] if is_hex(a, 8) && is_hex(b, 4) && is_hex(c, 4) && is_hex(d, 4) && is_hex(e, 12))
}

/// An alias name after `alias/`: 1–256 of `[a-zA-Z0-9/_-]`.
fn is_alias_name(s: &str) -> bool {
    (1..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
}

/// `arn:<partition>:kms:<region>:<12 digits>:<resource>`.
fn kms_arn_resource(s: &str) -> Option<&str> {
    let mut p = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("kms"), Some(region), Some(account), Some(resource)) =
        (p.next(), p.next(), p.next(), p.next(), p.next(), p.next())
    else {
        return None;
    };
    let ok = partition.starts_with("aws")
        && !region.is_empty()
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(resource)
}

/// Validates a `KeyId` in every documented form. Length 1–2048 is a `ValidationException`
/// (member `keyId`); any other malformation is `InvalidArgumentException`.
pub fn validate_key_id(key_id: &str) -> Result<()> {
    let mut e = ValidationErrors::new();
    e.length("keyId", key_id, 1, KEY_ID_MAX_LEN);
    e.into_result()?;
    let ok = is_key_guid(key_id)
        || key_id.strip_prefix("alias/").is_some_and(is_alias_name)
        || kms_arn_resource(key_id).is_some_and(|r| {
            r.strip_prefix("key/").is_some_and(is_key_guid) || r.strip_prefix("alias/").is_some_and(is_alias_name)
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!(
            "Invalid KeyId {key_id}: it must be a key id, a key ARN, an alias ARN, or an alias name (alias/<name>)."
        )))
    }
}

fn require_kms(op: &str, t: EncryptionType) -> Result<()> {
    match t {
        EncryptionType::Kms => Ok(()),
        EncryptionType::None => {
            Err(Error::invalid_argument(format!("{op} supports only EncryptionType KMS, not NONE.")))
        }
    }
}

/// The `EncryptionType` of records written to a stream now.
pub(crate) fn encryption_type(meta: &crate::catalog::StreamMeta) -> EncryptionType {
    if meta.encryption_key.is_some() {
        EncryptionType::Kms
    } else {
        EncryptionType::None
    }
}

impl Engine {
    /// `StartStreamEncryption`: encrypt new records with `KeyId` (or change the key).
    pub fn start_stream_encryption(&self, input: StreamEncryptionInput) -> Result<()> {
        self.inner.admit_control("StartStreamEncryption", 0)?;
        validate_key_id(&input.key_id)?;
        require_kms("StartStreamEncryption", input.encryption_type)?;
        self.update_stream(&input.stream, |inner, meta| {
            let status = inner.status(meta);
            if status != StreamStatus::Active {
                return Err(messages::stream_not_active(&meta.name, &inner.config.account_id, status.as_str()));
            }
            if meta.encryption_key.as_deref() == Some(input.key_id.as_str()) {
                return Ok(());
            }
            let now = inner.now_ms();
            meta.key_changes_ms.retain(|t| now.saturating_sub(*t) < DAY_MS);
            if meta.key_changes_ms.len() >= MAX_ENCRYPTION_CHANGES_PER_DAY {
                return Err(Error::LimitExceeded {
                    message: format!(
                        "Stream {} under account {} has already had a new encryption key applied \
                         {MAX_ENCRYPTION_CHANGES_PER_DAY} times in the last 24 hours.",
                        meta.name, inner.config.account_id
                    ),
                });
            }
            meta.key_changes_ms.push(now);
            meta.encryption_key = Some(input.key_id.clone());
            meta.updated_ms = now;
            Ok(())
        })
    }

    /// `StopStreamEncryption`: new records are no longer encrypted.
    pub fn stop_stream_encryption(&self, input: StreamEncryptionInput) -> Result<()> {
        self.inner.admit_control("StopStreamEncryption", 0)?;
        validate_key_id(&input.key_id)?;
        require_kms("StopStreamEncryption", input.encryption_type)?;
        self.update_stream(&input.stream, |inner, meta| {
            let status = inner.status(meta);
            if status != StreamStatus::Active {
                return Err(messages::stream_not_active(&meta.name, &inner.config.account_id, status.as_str()));
            }
            match meta.encryption_key.as_deref() {
                None => {
                    return Err(Error::invalid_argument(format!(
                        "Stream {} under account {} is not encrypted.",
                        meta.name, inner.config.account_id
                    )))
                }
                Some(k) if k != input.key_id => {
                    return Err(Error::invalid_argument(format!(
                        "KeyId {} does not match the key in use on stream {} under account {}.",
                        input.key_id, meta.name, inner.config.account_id
                    )))
                }
                Some(_) => {}
            }
            let now = inner.now_ms();
            meta.encryption_stops_ms.retain(|t| now.saturating_sub(*t) < DAY_MS);
            if meta.encryption_stops_ms.len() >= MAX_ENCRYPTION_CHANGES_PER_DAY {
                return Err(Error::LimitExceeded {
                    message: format!(
                        "Stream {} under account {} has already had encryption turned off \
                         {MAX_ENCRYPTION_CHANGES_PER_DAY} times in the last 24 hours.",
                        meta.name, inner.config.account_id
                    ),
                });
            }
            meta.encryption_stops_ms.push(now);
            meta.encryption_key = None;
            meta.updated_ms = now;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_key_id_form_is_accepted() {
        for ok in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-cn:kms:cn-north-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:alias/MyAlias",
            "alias/MyAlias",
            "alias/aws/kinesis",
            "alias/a_b-c/d",
        ] {
            validate_key_id(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn malformed_key_ids_are_refused() {
        for (bad, validation) in [
            ("", true),
            ("not-a-key", false),
            ("1234abcd-12ab-34cd-56ef-1234567890a", false),
            ("alias/", false),
            ("alias/has space", false),
            ("arn:aws:kms:us-east-1:12345678901:key/1234abcd-12ab-34cd-56ef-1234567890ab", false),
            ("arn:aws:kms:us-east-1:123456789012:key/nope", false),
            ("arn:aws:s3:us-east-1:123456789012:alias/x", false),
        ] {
            let e = validate_key_id(bad).expect_err(bad);
            assert_eq!(matches!(e, Error::Validation { .. }), validation, "{bad}: {e:?}");
        }
        assert!(matches!(validate_key_id(&"a".repeat(2049)), Err(Error::Validation { .. })));
    }
}
