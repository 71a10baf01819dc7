//! Ready-made forwarders for the two directions, as `shardlog forward` and
//! `serve --forward` build them, and the `LOCAL=DEST@ENDPOINT` spec of `serve --forward`.

use std::sync::Arc;

use shardlog::engine::types::{CreateStreamInput, StreamRef};
use shardlog::{Engine, Error};

use crate::forward::checkpoint::{EngineCheckpoints, FileCheckpoints};
use crate::forward::remote::{KinesisSink, KinesisSource, RemoteConfig};
use crate::forward::sink::EngineSink;
use crate::forward::source::LocalSource;
use crate::forward::{ForwardError, ForwardOptions, Forwarder};

/// A stream reference from a name or an ARN.
pub fn stream_ref(name_or_arn: &str) -> StreamRef {
    if name_or_arn.starts_with("arn:") {
        StreamRef::arn(name_or_arn)
    } else {
        StreamRef::name(name_or_arn)
    }
}

/// The checkpoint owner a forwarder to `to_stream` at `endpoint` uses unless told otherwise:
/// one per destination, so one local stream can be forwarded to several places.
pub fn default_owner(to_stream: &str, endpoint: Option<&str>) -> String {
    let mut owner = format!("forward:{to_stream}@{}", endpoint.unwrap_or("aws"));
    while owner.len() > shardlog::engine::checkpoint::MAX_OWNER_LEN {
        owner.pop();
    }
    owner
}

/// The endpoint as shown in messages.
fn endpoint_label(remote: &RemoteConfig) -> String {
    remote
        .endpoint_url
        .clone()
        .unwrap_or_else(|| format!("AWS ({})", remote.region.as_deref().unwrap_or("default region")))
}

/// Forward local stream `stream` of `engine` to `to_stream` (a name or an ARN) at `remote`,
/// with positions in the engine under `owner` (default: [`default_owner`]).
pub async fn local_to_remote(
    engine: Engine,
    stream: &str,
    to_stream: &str,
    remote: &RemoteConfig,
    owner: Option<String>,
    options: ForwardOptions,
) -> Result<Forwarder, ForwardError> {
    let local = stream_ref(stream);
    engine
        .describe_stream_summary(local.clone())
        .map_err(|e| ForwardError(format!("local stream {stream} in {}: {e}", engine.root().display())))?;
    let client = remote.client().await.map_err(ForwardError)?;
    let owner = owner.unwrap_or_else(|| default_owner(to_stream, remote.endpoint_url.as_deref()));
    let source = LocalSource::new(engine.clone(), local.clone());
    let sink = KinesisSink::new(client, to_stream, endpoint_label(remote));
    let checkpoints = EngineCheckpoints::new(engine, local, owner);
    Forwarder::new(Arc::new(source), Arc::new(sink), Arc::new(checkpoints), options)
}

/// Copy `from_stream` at `remote` into local stream `to_stream` of `engine` (created with as
/// many shards as the remote has open, if missing), with positions in a file under the data
/// directory.
pub async fn remote_to_local(
    engine: Engine,
    remote: &RemoteConfig,
    from_stream: &str,
    to_stream: &str,
    options: ForwardOptions,
) -> Result<Forwarder, ForwardError> {
    let client = remote.client().await.map_err(ForwardError)?;
    let endpoint = endpoint_label(remote);
    let source = KinesisSource::new(client, from_stream, endpoint.clone());
    let local = stream_ref(to_stream);
    match engine.describe_stream_summary(local.clone()) {
        Ok(_) => {}
        Err(Error::ResourceNotFound { .. }) => {
            let shards = source.open_shard_count().await.map_err(|f| ForwardError(f.message().to_string()))?.max(1);
            let shard_count = u32::try_from(shards).unwrap_or(u32::MAX);
            engine
                .create_stream(CreateStreamInput {
                    stream_name: to_stream.to_string(),
                    shard_count: Some(shard_count),
                    ..Default::default()
                })
                .map_err(|e| ForwardError(format!("creating local stream {to_stream}: {e}")))?;
        }
        Err(e) => return Err(ForwardError(format!("local stream {to_stream}: {e}"))),
    }
    let label = format!("stream {from_stream} at {endpoint} into {to_stream}");
    let digest = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(label.as_bytes());
        d.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>()
    };
    let path = engine.root().join("forward-positions").join(format!("{digest}.json"));
    let checkpoints = FileCheckpoints::new(path, label).flushing(engine.clone());
    let sink = EngineSink::new(engine, local);
    Forwarder::new(Arc::new(source), Arc::new(sink), Arc::new(checkpoints), options)
}

/// One `serve --forward LOCAL=DEST[@ENDPOINT]`: local stream `LOCAL` to stream `DEST` (a name
/// or an ARN) at `ENDPOINT` (default: AWS for the configured region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSpec {
    /// The local stream.
    pub local: String,
    /// The destination stream (name or ARN).
    pub to_stream: String,
    /// The destination endpoint.
    pub endpoint_url: Option<String>,
}

impl std::str::FromStr for ForwardSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<ForwardSpec, String> {
        let bad = |why: &str| format!("--forward {s:?}: {why} (expected LOCAL=DEST or LOCAL=DEST@ENDPOINT)");
        let (local, rest) = s.split_once('=').ok_or_else(|| bad("no '='"))?;
        let (to_stream, endpoint) = match rest.split_once('@') {
            Some((d, e)) => (d, Some(e)),
            None => (rest, None),
        };
        if local.is_empty() {
            return Err(bad("no local stream"));
        }
        if to_stream.is_empty() {
            return Err(bad("no destination stream"));
        }
        if let Some(e) = endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() <= "https://".len() {
                return Err(bad("the endpoint must be an http:// or https:// URL"));
            }
        }
        Ok(ForwardSpec {
            local: local.to_string(),
            to_stream: to_stream.to_string(),
            endpoint_url: endpoint.map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forward_spec_names_the_local_stream_the_destination_and_optionally_the_endpoint() {
        let s: ForwardSpec =
            "orders=arn:aws:kinesis:eu-west-1:123456789012:stream/orders@https://kinesis.eu-west-1.amazonaws.com"
                .parse()
                .unwrap();
        assert_eq!(s.local, "orders");
        assert_eq!(s.to_stream, "arn:aws:kinesis:eu-west-1:123456789012:stream/orders");
        assert_eq!(s.endpoint_url.as_deref(), Some("https://kinesis.eu-west-1.amazonaws.com"));
        let s: ForwardSpec = "a=b".parse().unwrap();
        assert_eq!((s.local.as_str(), s.to_stream.as_str(), s.endpoint_url), ("a", "b", None));
    }

    #[test]
    fn malformed_forward_specs_are_refused_with_the_reason() {
        for (spec, why) in [
            ("orders", "no '='"),
            ("=b", "no local stream"),
            ("a=", "no destination stream"),
            ("a=b@ftp://x", "http:// or https://"),
            ("a=b@", "http:// or https://"),
        ] {
            let e = spec.parse::<ForwardSpec>().unwrap_err();
            assert!(e.contains(why), "{spec}: {e}");
        }
    }

    #[test]
    fn the_default_owner_is_per_destination_and_fits_the_checkpoint_limit() {
        assert_eq!(default_owner("o", Some("http://h:1")), "forward:o@http://h:1");
        assert_eq!(default_owner("o", None), "forward:o@aws");
        assert_eq!(default_owner(&"x".repeat(400), None).len(), shardlog::engine::checkpoint::MAX_OWNER_LEN);
    }
}
