//! What every operation module shares: reading the members of a validated request
//! ([`Members`], and the conversions to engine input types that keep AWS' wording should a
//! value the validator passed still not fit) and writing response members.

use std::collections::BTreeMap;

use bytes::Bytes;
use shardlog::engine::types::*;

use super::deser::{self, to_blob, to_bool, to_int, to_list, to_map, to_string, to_structure, to_timestamp};
use super::errors::ApiError;
use super::wire::{Codec, In, Out};

/// The members of a structure, read once each.
pub struct Members {
    pub(crate) codec: Codec,
    map: Vec<(String, In)>,
}

impl Members {
    /// The members of a request body (which must be a structure).
    pub fn new(codec: Codec, body: In) -> Result<Members, ApiError> {
        deser::body_members(&body)?;
        Ok(Members { codec, map: to_structure(codec, body)? })
    }

    /// Take a member (`None` when absent or null; the last one when repeated).
    pub(crate) fn take(&mut self, name: &str) -> Option<In> {
        let i = self.map.iter().rposition(|(k, _)| k == name)?;
        match self.map.swap_remove(i).1 {
            In::Null => None,
            v => Some(v),
        }
    }

    pub(crate) fn string(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_string(codec, v)).transpose()
    }

    pub(crate) fn int(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_int(codec, v)).transpose()
    }

    pub(crate) fn boolean(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_bool(codec, v)).transpose()
    }

    pub(crate) fn blob(&mut self, name: &str) -> Result<Option<Bytes>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_blob(codec, v)).transpose()
    }

    pub(crate) fn timestamp(&mut self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_timestamp(codec, v)).transpose()
    }

    pub(crate) fn list(&mut self, name: &str) -> Result<Option<Vec<In>>, ApiError> {
        let codec = self.codec;
        self.take(name).map(|v| to_list(codec, v)).transpose()
    }

    pub(crate) fn string_list(&mut self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        let codec = self.codec;
        self.list(name)?
            .map(|items| items.into_iter().filter(|v| *v != In::Null).map(|v| to_string(codec, v)).collect())
            .transpose()
    }

    pub(crate) fn string_map(&mut self, name: &str) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        let codec = self.codec;
        let Some(m) = self.take(name).map(|v| to_map(codec, v)).transpose()? else { return Ok(None) };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            if v != In::Null {
                out.insert(k, to_string(codec, v)?);
            }
        }
        Ok(Some(out))
    }

    /// The members of a nested structure value (a list element).
    pub(crate) fn structure(codec: Codec, v: In) -> Result<Members, ApiError> {
        Ok(Members { codec, map: to_structure(codec, v)? })
    }

    pub(crate) fn sub(&mut self, name: &str) -> Result<Option<Members>, ApiError> {
        let codec = self.codec;
        Ok(self.take(name).map(|v| to_structure(codec, v)).transpose()?.map(|map| Members { codec, map }))
    }

    pub(crate) fn stream_ref(&mut self) -> Result<StreamRef, ApiError> {
        let stream_arn = self.string("StreamARN")?;
        let stream_name = self.string("StreamName")?;
        let stream_id = self.string("StreamId")?;
        Ok(StreamRef { stream_name, stream_arn, stream_id })
    }
}

/// A required member. The model validator has already refused requests without it; this is
/// the same answer should it ever be reached.
pub(crate) fn required<T>(member: &str, v: Option<T>) -> Result<T, ApiError> {
    v.ok_or_else(|| {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// An integer member for an engine input of type `u32`. The model's minimum (checked by the
/// validator) is at least 0 for every member read this way.
pub(crate) fn unsigned(member: &str, v: Option<i64>) -> Result<Option<u32>, ApiError> {
    v.map(|n| {
        u32::try_from(n).map_err(|_| {
            ApiError::validation(format!(
                "1 validation error detected: Value '{n}' at '{member}' failed to satisfy constraint: Member must \
                 have value greater than or equal to 0"
            ))
        })
    })
    .transpose()
}

/// An enum member (the validator has checked the value is in the model's set).
pub(crate) fn enumeration<T: Copy>(
    member: &str,
    v: Option<String>,
    values: &[(&'static str, T)],
) -> Result<Option<T>, ApiError> {
    let Some(s) = v else { return Ok(None) };
    match values.iter().find(|(name, _)| *name == s) {
        Some((_, t)) => Ok(Some(*t)),
        None => {
            let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
            Err(ApiError::validation(format!(
                "1 validation error detected: Value '{s}' at '{member}' failed to satisfy constraint: Member must \
                 satisfy enum value set: [{}]",
                names.join(", ")
            )))
        }
    }
}

pub(crate) const STREAM_MODES: &[(&str, StreamMode)] =
    &[("PROVISIONED", StreamMode::Provisioned), ("ON_DEMAND", StreamMode::OnDemand)];

/// `RecordDistributionStrategy`, in the model's order.
pub(crate) const DISTRIBUTIONS: &[(&str, RecordDistribution)] =
    &[("AUTO", RecordDistribution::Auto), ("USER_PARTITION_KEY", RecordDistribution::UserPartitionKey)];

/// The elements of a list of structures (nulls skipped), each with its 1-based position.
pub(crate) fn structures(m: &Members, items: Vec<In>) -> Result<Vec<(usize, Members)>, ApiError> {
    items
        .into_iter()
        .enumerate()
        .filter(|(_, v)| *v != In::Null)
        .map(|(i, v)| Ok((i + 1, Members::structure(m.codec, v)?)))
        .collect()
}

pub(crate) fn api<T>(r: shardlog::Result<T>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::from_engine(&e))
}

// ---------------------------------------------------------------------------------------
// Output conversions.

pub(crate) fn s(v: impl Into<String>) -> Out {
    Out::Str(v.into())
}

pub(crate) fn opt_push(members: &mut Vec<(&'static str, Out)>, name: &'static str, v: Option<Out>) {
    if let Some(v) = v {
        members.push((name, v));
    }
}

pub(crate) fn metrics_list(m: &[ShardMetric]) -> Out {
    Out::List(m.iter().map(|x| Out::Static(x.as_str())).collect())
}

/// A tag list (`[{"Key": …, "Value": …}]`, no `Value` when the tag has none).
pub(crate) fn tag_list(tags: Vec<Tag>) -> Out {
    Out::List(
        tags.into_iter()
            .map(|t| {
                let mut tm = vec![("Key", s(t.key))];
                opt_push(&mut tm, "Value", t.value.map(Out::Str));
                Out::Map(tm)
            })
            .collect(),
    )
}
