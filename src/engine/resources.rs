//! Resources by ARN: `TagResource`, `UntagResource`, `ListTagsForResource`,
//! `PutResourcePolicy`, `GetResourcePolicy` and `DeleteResourcePolicy` on streams, enhanced
//! fan-out consumers, channels and queues.
//!
//! `ResourceARN` must match `arn:aws.*:kinesis:.*:\d{12}:.*(stream|channel|queue)/\S+`
//! (`ValidationException`); an ARN of another region or account, or of a resource that does
//! not exist, is `ResourceNotFoundException`. Queues take tags and policies like streams (a
//! DELETING queue is not found).
//!
//! Tags: at most 50 per resource (`InvalidArgumentException` beyond, as for
//! `AddTagsToStream`), 1–200 per call, keys 1–128 and values 0–256 characters of the union of
//! the two documented character sets (Unicode letters, digits and spaces, and
//! `_ . : / = + - @ %`), keys not starting with `aws:`. A stream still `CREATING` cannot be
//! re-tagged (`ResourceInUseException`). Channels take tags too (AWS is silent on it).
//!
//! Policies: stored and returned byte-identical. The document must be a JSON object with a
//! `Statement` (an object or a non-empty list) whose every statement names an `Effect`, a
//! principal (`Principal` or `NotPrincipal`) and actions (`Action` or `NotAction`);
//! otherwise `InvalidArgumentException`. The size cap, an emulator choice (AWS states none),
//! is 20,480 bytes (`ValidationException` beyond). A resource without a policy answers
//! `GetResourcePolicy` with `{}`; deleting a policy that does not exist succeeds. Channels
//! take no policy (`InvalidArgumentException`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::{ConsumerMeta, StreamLifecycle};
use crate::engine::types::*;
use crate::engine::{check_stream_id, Engine, EngineInner, StreamHandle};
use crate::error::{Error, Result};
use crate::kinesis::{messages, names, Constraint, ValidationErrors};

/// Pattern of `ResourceARN`.
pub const RESOURCE_ARN_PATTERN: &str = "arn:aws.*:kinesis:.*:\\d{12}:.*(stream|channel|queue)/\\S+";
/// Largest resource policy (bytes), an emulator choice.
pub const MAX_POLICY_BYTES: usize = 20_480;
/// Most tags in one TagResource call.
pub const MAX_TAGS_PER_TAG_RESOURCE_CALL: usize = 200;
/// Most keys in one UntagResource call.
pub const MAX_KEYS_PER_UNTAG_CALL: usize = 50;
/// Pattern of tag keys and values (the union of the two documented sets).
pub const TAG_PATTERN: &str = "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@%]*)$";

/// What a `ResourceARN` names.
pub(crate) enum Resource {
    /// A stream.
    Stream(Arc<StreamHandle>),
    /// A consumer of a stream.
    Consumer(Arc<StreamHandle>, ConsumerMeta),
    /// A channel (uid).
    Channel(u64),
    /// A queue (uid).
    Queue(u64),
}

/// Whether every character of a tag key or value is one of the union of the documented
/// sets (see the module docs).
pub(crate) fn tag_chars_ok(s: &str) -> bool {
    s.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@%".contains(c))
}

/// Validates the tags of a TagResource / RegisterStreamConsumer / CreateChannel call.
pub(crate) fn validate_resource_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    names::validate_tags(&pairs, MAX_TAGS_PER_TAG_RESOURCE_CALL)?;
    let mut e = ValidationErrors::new();
    for (k, v) in tags {
        if !tag_chars_ok(k) {
            e.pattern("tags", k, TAG_PATTERN);
        }
        if !tag_chars_ok(v) {
            e.pattern("tags", v, TAG_PATTERN);
        }
    }
    e.into_result()?;
    // `:` is a tag character here (unlike AddTagsToStream's set, which refuses `aws:` keys
    // by their `:`), so the reserved prefix is refused on its own, in any case.
    match tags.keys().find(|k| k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))) {
        Some(k) => Err(messages::tag_key_reserved(k)),
        None => Ok(()),
    }
}

/// Validates a resource policy document (see the module docs).
pub fn validate_policy(policy: &str) -> Result<()> {
    if policy.len() > MAX_POLICY_BYTES {
        return Err(ValidationErrors::single(
            "policy",
            format_args!("<{} bytes>", policy.len()),
            Constraint::MaxLength(MAX_POLICY_BYTES),
        ));
    }
    let invalid = |why: &str| Error::invalid_argument(format!("Invalid policy document: {why}."));
    let doc: serde_json::Value = serde_json::from_str(policy).map_err(|e| invalid(&e.to_string()))?;
    let obj = doc.as_object().ok_or_else(|| invalid("it must be a JSON object"))?;
    let statements: Vec<&serde_json::Value> = match obj.get("Statement") {
        Some(serde_json::Value::Array(list)) if !list.is_empty() => list.iter().collect(),
        Some(v @ serde_json::Value::Object(_)) => vec![v],
        _ => return Err(invalid("it must have a Statement (an object or a non-empty list)")),
    };
    for st in statements {
        let st = st.as_object().ok_or_else(|| invalid("every statement must be an object"))?;
        if !st.get("Effect").is_some_and(|e| e == "Allow" || e == "Deny") {
            return Err(invalid("every statement needs an Effect of Allow or Deny"));
        }
        if !st.contains_key("Principal") && !st.contains_key("NotPrincipal") {
            return Err(invalid("every statement must name a Principal"));
        }
        if !st.contains_key("Action") && !st.contains_key("NotAction") {
            return Err(invalid("every statement must name an Action"));
        }
    }
    Ok(())
}

fn check_resource_arn(arn: &str) -> Result<()> {
    let mut e = ValidationErrors::new();
    e.length("resourceARN", arn, 1, names::ARN_MAX_LEN);
    if arn.is_empty() || names::parse_resource_arn(arn).is_none() {
        e.pattern("resourceARN", arn, RESOURCE_ARN_PATTERN);
    }
    e.into_result()
}

fn not_found(arn: &str) -> Error {
    Error::ResourceNotFound { message: format!("Resource {arn} not found.") }
}

impl EngineInner {
    /// The resource a `ResourceARN` names (and a `StreamId`, which must match its stream).
    pub(crate) fn resolve_resource(&self, arn: &str, stream_id: Option<&str>) -> Result<Resource> {
        check_resource_arn(arn)?;
        if let Some(id) = stream_id {
            check_stream_id(id)?;
        }
        let Some(parsed) = names::parse_resource_arn(arn) else { return Err(not_found(arn)) };
        if parsed.region != self.config.region || parsed.account != self.config.account_id {
            return Err(not_found(arn));
        }
        let with_id = |r: StreamRef| StreamRef { stream_id: stream_id.map(str::to_string), ..r };
        match parsed.kind {
            names::ResourceKind::Stream => {
                let h = self.resolve(&with_id(StreamRef::arn(arn)))?;
                Ok(Resource::Stream(h))
            }
            names::ResourceKind::Consumer => {
                let r = ConsumerRef {
                    consumer_arn: Some(arn.to_string()),
                    stream_id: stream_id.map(str::to_string),
                    ..ConsumerRef::default()
                };
                let (h, c) = self.resolve_consumer(&r)?;
                Ok(Resource::Consumer(h, c))
            }
            names::ResourceKind::Channel => {
                let cat = self.catalog.lock();
                let found = cat
                    .catalog
                    .channels
                    .values()
                    .find(|c| parsed.id == c.id && c.deleting_since_ms.is_none())
                    .map(|c| c.uid);
                found.map(Resource::Channel).ok_or_else(|| not_found(arn))
            }
            names::ResourceKind::Queue => {
                self.reap_queues()?;
                let cat = self.catalog.lock();
                let found = cat
                    .catalog
                    .queues
                    .values()
                    .find(|q| parsed.id == q.id && q.deleting_since_ms.is_none())
                    .map(|q| q.uid);
                found
                    .map(Resource::Queue)
                    .ok_or_else(|| Error::ResourceNotFound { message: format!("Queue {arn} not found.") })
            }
        }
    }

    /// Apply `change` to the tags and policy of a resource and commit.
    fn update_resource(
        &self,
        arn: &str,
        stream_id: Option<&str>,
        change: impl FnOnce(&str, &mut BTreeMap<String, String>, Option<&mut Option<String>>) -> Result<()>,
    ) -> Result<()> {
        self.check_metadata()?;
        match self.resolve_resource(arn, stream_id)? {
            Resource::Stream(h) => {
                let mut cat = self.catalog.lock();
                let mut topo = h.topo.write();
                if matches!(topo.meta.lifecycle, StreamLifecycle::Deleting { .. }) {
                    return Err(messages::stream_not_found(&topo.meta.name, self.account()));
                }
                if self.status(&topo.meta) == StreamStatus::Creating {
                    return Err(messages::stream_not_active(&topo.meta.name, self.account(), "CREATING"));
                }
                let mut meta = topo.meta.clone();
                let what = format!("stream {}", meta.name);
                change(&what, &mut meta.tags, Some(&mut meta.policy))?;
                self.commit_stream(&mut cat, &mut topo, &h.dir, meta)
            }
            Resource::Consumer(h, c) => {
                let mut cat = self.catalog.lock();
                let mut topo = h.topo.write();
                let mut meta = topo.meta.clone();
                let Some(target) = meta.consumers.iter_mut().find(|x| x.name == c.name && x.created_ms == c.created_ms)
                else {
                    return Err(not_found(arn));
                };
                let what = format!("consumer {}", target.name);
                change(&what, &mut target.tags, Some(&mut target.policy))?;
                self.commit_stream(&mut cat, &mut topo, &h.dir, meta)
            }
            Resource::Channel(uid) => {
                let mut cat = self.catalog.lock();
                let mut next = cat.catalog.clone();
                let Some(ch) = next.channels.get_mut(&uid) else { return Err(not_found(arn)) };
                let what = format!("channel {}", ch.name);
                change(&what, &mut ch.tags, None)?;
                self.commit_catalog(&mut cat, &next)?;
                cat.catalog = next;
                Ok(())
            }
            Resource::Queue(uid) => {
                let mut cat = self.catalog.lock();
                let mut next = cat.catalog.clone();
                let Some(q) = next.queues.get_mut(&uid) else { return Err(not_found(arn)) };
                let what = format!("queue {}", q.name);
                change(&what, &mut q.tags, Some(&mut q.policy))?;
                self.commit_catalog(&mut cat, &next)?;
                cat.catalog = next;
                Ok(())
            }
        }
    }
}

impl Engine {
    /// `TagResource`: adds or overwrites tags on a stream, consumer, channel or queue.
    pub fn tag_resource(&self, input: TagResourceInput) -> Result<()> {
        let inner = &self.inner;
        inner.admit_control("TagResource", 0)?;
        validate_resource_tags(&input.tags)?;
        let account = inner.config.account_id.clone();
        inner.update_resource(&input.resource_arn, input.stream_id.as_deref(), |what, tags, _| {
            let mut after = tags.clone();
            after.extend(input.tags.clone());
            if after.len() > names::MAX_TAGS_PER_STREAM {
                return Err(Error::invalid_argument(format!(
                    "Failed to add tags to {what} under account {account} because a given resource cannot have \
                     more than {} tags associated with it.",
                    names::MAX_TAGS_PER_STREAM
                )));
            }
            *tags = after;
            Ok(())
        })
    }

    /// `UntagResource`: removes tags (unknown keys are ignored).
    pub fn untag_resource(&self, input: UntagResourceInput) -> Result<()> {
        let inner = &self.inner;
        inner.admit_control("UntagResource", 0)?;
        let mut e = ValidationErrors::new();
        let n = input.tag_keys.len();
        if n == 0 || n > MAX_KEYS_PER_UNTAG_CALL {
            let c = if n == 0 { Constraint::MinLength(1) } else { Constraint::MaxLength(MAX_KEYS_PER_UNTAG_CALL) };
            e.push("tagKeys", format!("[{}]", input.tag_keys.join(", ")), c);
        }
        for (i, k) in input.tag_keys.iter().enumerate() {
            e.length(&format!("tagKeys.{}.member", i + 1), k, 1, names::TAG_KEY_MAX_LEN);
        }
        e.into_result()?;
        inner.update_resource(&input.resource_arn, input.stream_id.as_deref(), |_, tags, _| {
            for k in &input.tag_keys {
                tags.remove(k);
            }
            Ok(())
        })
    }

    /// `ListTagsForResource`: every tag of the resource, by key (no pagination).
    pub fn list_tags_for_resource(&self, input: ListTagsForResourceInput) -> Result<ListTagsForResourceOutput> {
        let inner = &self.inner;
        inner.admit_control("ListTagsForResource", 0)?;
        let tags = match inner.resolve_resource(&input.resource_arn, input.stream_id.as_deref())? {
            Resource::Stream(h) => h.topo.read().meta.tags.clone(),
            Resource::Consumer(_, c) => c.tags,
            Resource::Channel(uid) => {
                inner.catalog.lock().catalog.channels.get(&uid).map(|c| c.tags.clone()).unwrap_or_default()
            }
            Resource::Queue(uid) => {
                inner.catalog.lock().catalog.queues.get(&uid).map(|q| q.tags.clone()).unwrap_or_default()
            }
        };
        Ok(ListTagsForResourceOutput {
            tags: tags.into_iter().map(|(key, value)| Tag { key, value: Some(value) }).collect(),
        })
    }

    /// `PutResourcePolicy`: attach (or replace) the policy of a stream, consumer or queue.
    pub fn put_resource_policy(&self, input: PutResourcePolicyInput) -> Result<()> {
        let inner = &self.inner;
        inner.admit_control("PutResourcePolicy", 0)?;
        validate_policy(&input.policy)?;
        let arn = input.resource_arn.clone();
        inner.update_resource(&input.resource_arn, input.stream_id.as_deref(), |_, _, policy| match policy {
            Some(p) => {
                *p = Some(input.policy.clone());
                Ok(())
            }
            None => Err(no_channel_policy(&arn)),
        })
    }

    /// `GetResourcePolicy`: the stored policy, or `{}` when there is none.
    pub fn get_resource_policy(&self, input: ResourcePolicyInput) -> Result<GetResourcePolicyOutput> {
        let inner = &self.inner;
        inner.admit_control("GetResourcePolicy", 0)?;
        let policy = match inner.resolve_resource(&input.resource_arn, input.stream_id.as_deref())? {
            Resource::Stream(h) => h.topo.read().meta.policy.clone(),
            Resource::Consumer(_, c) => c.policy,
            Resource::Channel(_) => return Err(no_channel_policy(&input.resource_arn)),
            Resource::Queue(uid) => inner.catalog.lock().catalog.queues.get(&uid).and_then(|q| q.policy.clone()),
        };
        Ok(GetResourcePolicyOutput { policy: policy.unwrap_or_else(|| "{}".to_string()) })
    }

    /// `DeleteResourcePolicy` (succeeds when there is none).
    pub fn delete_resource_policy(&self, input: ResourcePolicyInput) -> Result<()> {
        let inner = &self.inner;
        inner.admit_control("DeleteResourcePolicy", 0)?;
        let arn = input.resource_arn.clone();
        inner.update_resource(&input.resource_arn, input.stream_id.as_deref(), |_, _, policy| match policy {
            Some(p) => {
                *p = None;
                Ok(())
            }
            None => Err(no_channel_policy(&arn)),
        })
    }
}

fn no_channel_policy(arn: &str) -> Error {
    Error::invalid_argument(format!("Resource policies are not supported for channels ({arn})."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_must_name_effect_principal_and_action() {
        let ok = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kinesis:*"}}"#;
        validate_policy(ok).unwrap();
        for bad in [
            "",
            "{",
            "[]",
            "{}",
            r#"{"Statement":[]}"#,
            r#"{"Statement":[{"Principal":"*","Action":"a"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"a"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*"}]}"#,
        ] {
            assert!(matches!(validate_policy(bad), Err(Error::InvalidArgument { .. })), "{bad}");
        }
        let big = format!(r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"{}"}}}}"#, "a".repeat(21_000));
        assert!(matches!(validate_policy(&big), Err(Error::Validation { .. })));
    }

    #[test]
    fn tag_characters_are_the_union_of_both_documented_sets() {
        let ok: BTreeMap<String, String> =
            [("Team é 1".to_string(), "a_b.c:d/e=f+g-h@i%j".to_string())].into_iter().collect();
        validate_resource_tags(&ok).unwrap();
        let bad: BTreeMap<String, String> = [("a#b".to_string(), String::new())].into_iter().collect();
        assert!(matches!(validate_resource_tags(&bad), Err(Error::Validation { .. })));
    }
}
