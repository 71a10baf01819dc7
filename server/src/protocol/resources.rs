//! Wire side of the tag and policy operations by ARN: `TagResource`, `UntagResource`,
//! `ListTagsForResource`, `PutResourcePolicy`, `GetResourcePolicy`, `DeleteResourcePolicy`.

use shardlog::engine::types::*;
use shardlog::Engine;

use super::errors::ApiError;
use super::ops::{api, opt_push, s, Checks, Members};
use super::wire::Out;

fn arn_and_id(m: &mut Members) -> Result<(Option<String>, Option<String>), ApiError> {
    Ok((m.string("ResourceARN")?, m.string("StreamId")?))
}

pub(crate) fn tag_resource(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let (arn, stream_id) = arn_and_id(m)?;
    let tags = m.string_map("Tags")?;
    let mut c = Checks::default();
    let tags = c.required("tags", tags);
    let arn = c.required("resourceARN", arn);
    c.finish()?;
    api(engine.tag_resource(TagResourceInput {
        resource_arn: arn.unwrap_or_default(),
        tags: tags.unwrap_or_default(),
        stream_id,
    }))?;
    Ok(Out::empty())
}

pub(crate) fn untag_resource(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let (arn, stream_id) = arn_and_id(m)?;
    let keys = m.string_list("TagKeys")?;
    let mut c = Checks::default();
    let keys = c.required("tagKeys", keys);
    let arn = c.required("resourceARN", arn);
    c.finish()?;
    api(engine.untag_resource(UntagResourceInput {
        resource_arn: arn.unwrap_or_default(),
        tag_keys: keys.unwrap_or_default(),
        stream_id,
    }))?;
    Ok(Out::empty())
}

pub(crate) fn list_tags_for_resource(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let (arn, stream_id) = arn_and_id(m)?;
    let mut c = Checks::default();
    let arn = c.required("resourceARN", arn);
    c.finish()?;
    let out =
        api(engine
            .list_tags_for_resource(ListTagsForResourceInput { resource_arn: arn.unwrap_or_default(), stream_id }))?;
    let tags = out
        .tags
        .into_iter()
        .map(|t| {
            let mut tm = vec![("Key", s(t.key))];
            opt_push(&mut tm, "Value", t.value.map(Out::Str));
            Out::Map(tm)
        })
        .collect();
    Ok(Out::Map(vec![("Tags", Out::List(tags))]))
}

pub(crate) fn put_resource_policy(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let (arn, stream_id) = arn_and_id(m)?;
    let policy = m.string("Policy")?;
    let mut c = Checks::default();
    let arn = c.required("resourceARN", arn);
    let policy = c.required("policy", policy);
    c.finish()?;
    api(engine.put_resource_policy(PutResourcePolicyInput {
        resource_arn: arn.unwrap_or_default(),
        policy: policy.unwrap_or_default(),
        stream_id,
    }))?;
    Ok(Out::empty())
}

fn policy_input(m: &mut Members) -> Result<ResourcePolicyInput, ApiError> {
    let (arn, stream_id) = arn_and_id(m)?;
    let mut c = Checks::default();
    let arn = c.required("resourceARN", arn);
    c.finish()?;
    Ok(ResourcePolicyInput { resource_arn: arn.unwrap_or_default(), stream_id })
}

pub(crate) fn get_resource_policy(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let out = api(engine.get_resource_policy(policy_input(m)?))?;
    Ok(Out::Map(vec![("Policy", s(out.policy))]))
}

pub(crate) fn delete_resource_policy(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    api(engine.delete_resource_policy(policy_input(m)?))?;
    Ok(Out::empty())
}
