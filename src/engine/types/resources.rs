//! Inputs and outputs of the resource tag and policy operations (`TagResource`,
//! `UntagResource`, `ListTagsForResource`, `Put/Get/DeleteResourcePolicy`), which address a
//! stream, an enhanced fan-out consumer, a channel or a queue by ARN.

use std::collections::BTreeMap;

use super::Tag;

/// `TagResource` input.
#[derive(Debug, Clone, Default)]
pub struct TagResourceInput {
    /// `ResourceARN`.
    pub resource_arn: String,
    /// `Tags` (1–200 per call; at most 50 on a resource).
    pub tags: BTreeMap<String, String>,
    /// `StreamId` (optional; must match the resource's stream).
    pub stream_id: Option<String>,
}

/// `UntagResource` input.
#[derive(Debug, Clone, Default)]
pub struct UntagResourceInput {
    /// `ResourceARN`.
    pub resource_arn: String,
    /// `TagKeys` (1–50; unknown keys are ignored).
    pub tag_keys: Vec<String>,
    /// `StreamId`.
    pub stream_id: Option<String>,
}

/// `ListTagsForResource` input.
#[derive(Debug, Clone, Default)]
pub struct ListTagsForResourceInput {
    /// `ResourceARN`.
    pub resource_arn: String,
    /// `StreamId`.
    pub stream_id: Option<String>,
}

/// `ListTagsForResource` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTagsForResourceOutput {
    /// `Tags`, by key.
    pub tags: Vec<Tag>,
}

/// `PutResourcePolicy` input.
#[derive(Debug, Clone, Default)]
pub struct PutResourcePolicyInput {
    /// `ResourceARN` (a stream, consumer or queue).
    pub resource_arn: String,
    /// `Policy`: a JSON policy document, stored and returned byte-identical.
    pub policy: String,
    /// `StreamId`.
    pub stream_id: Option<String>,
}

/// `GetResourcePolicy` / `DeleteResourcePolicy` input.
#[derive(Debug, Clone, Default)]
pub struct ResourcePolicyInput {
    /// `ResourceARN`.
    pub resource_arn: String,
    /// `StreamId`.
    pub stream_id: Option<String>,
}

/// `GetResourcePolicy` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetResourcePolicyOutput {
    /// `Policy`: the stored document, or `{}` when the resource has none (as AWS answers).
    pub policy: String,
}
