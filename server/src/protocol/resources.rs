//! Wire side of the tag and policy operations by ARN: `TagResource`, `UntagResource`,
//! `ListTagsForResource`, `PutResourcePolicy`, `GetResourcePolicy`, `DeleteResourcePolicy`.
//!
//! As in `ops`: the model validator has checked every member before these run (required
//! `ResourceARN` and its pattern, tag map and key-list sizes and lengths); the engine checks
//! tag characters, the per-resource tag limit and the policy document.

use shardlog::engine::types::*;
use shardlog::Engine;

use super::convert::{api, required, s, tag_list, Members};
use super::errors::ApiError;
use super::wire::Out;

fn arn_and_id(m: &mut Members) -> Result<(String, Option<String>), ApiError> {
    Ok((required("resourceARN", m.string("ResourceARN")?)?, m.string("StreamId")?))
}

pub(crate) fn tag_resource(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let tags = required("tags", m.string_map("Tags")?)?;
    let (resource_arn, stream_id) = arn_and_id(m)?;
    api(engine.tag_resource(TagResourceInput { resource_arn, tags, stream_id }))?;
    Ok(Out::empty())
}

pub(crate) fn untag_resource(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let tag_keys = required("tagKeys", m.string_list("TagKeys")?)?;
    let (resource_arn, stream_id) = arn_and_id(m)?;
    api(engine.untag_resource(UntagResourceInput { resource_arn, tag_keys, stream_id }))?;
    Ok(Out::empty())
}

pub(crate) fn list_tags_for_resource(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let (resource_arn, stream_id) = arn_and_id(m)?;
    let out = api(engine.list_tags_for_resource(ListTagsForResourceInput { resource_arn, stream_id }))?;
    Ok(Out::Map(vec![("Tags", tag_list(out.tags))]))
}

pub(crate) fn put_resource_policy(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let (resource_arn, stream_id) = arn_and_id(m)?;
    let policy = required("policy", m.string("Policy")?)?;
    api(engine.put_resource_policy(PutResourcePolicyInput { resource_arn, policy, stream_id }))?;
    Ok(Out::empty())
}

fn policy_input(m: &mut Members) -> Result<ResourcePolicyInput, ApiError> {
    let (resource_arn, stream_id) = arn_and_id(m)?;
    Ok(ResourcePolicyInput { resource_arn, stream_id })
}

pub(crate) fn get_resource_policy(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    let out = api(engine.get_resource_policy(policy_input(m)?))?;
    Ok(Out::Map(vec![("Policy", s(out.policy))]))
}

pub(crate) fn delete_resource_policy(engine: &Engine, m: &mut Members) -> Result<Out, ApiError> {
    api(engine.delete_resource_policy(policy_input(m)?))?;
    Ok(Out::empty())
}
