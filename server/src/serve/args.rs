//! The `serve` command line: every flag, its `SHARDLOG_<FLAG>` environment variable and its
//! key in a `--config` TOML file.
//!
//! Precedence, highest first: the command line, the environment, the config file, the
//! built-in default. The environment variables are not listed per field: [`ServeCommand`]
//! gives every long flag of [`ServeArgs`] the variable `SHARDLOG_` + the flag name upper-cased
//! with `-` → `_` (`--flush-interval-ms` → `SHARDLOG_FLUSH_INTERVAL_MS`) unless the field names
//! its own (`--create-stream` reads the plural `SHARDLOG_CREATE_STREAMS`). A flag added to
//! [`ServeArgs`] therefore gets its variable and its config key without further code, and
//! `serve --help` shows each variable.
//!
//! Boolean flags read their variable leniently (`0`, `false`, `no`, `off`, `n`, `f` and the
//! empty string are false, anything else true), as switches in the environment usually are.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::builder::FalseyValueParser;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use shardlog::engine::StreamMode;
use shardlog::{Durability, Limits, StatusDelays};
use tracing::level_filters::LevelFilter;

/// Prefix of every `serve` environment variable.
pub const ENV_PREFIX: &str = "SHARDLOG_";

/// When puts are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DurabilityArg {
    /// Once written to the OS (survives a process crash, not a power loss).
    Buffered,
    /// Once written; fdatasync every `--flush-interval-ms` in the background.
    Interval,
    /// Only after fdatasync (group commit): survives a power loss.
    Sync,
}

/// Throughput limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LimitsArg {
    /// Kinesis' per-shard, per-consumer and control-plane limits.
    Kinesis,
    /// No limits.
    Off,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable `key=value` lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `fields`).
    Json,
}

/// Arguments of `shardlog serve`. Parse them through [`ServeCommand`], which adds the
/// environment variables and the config file.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Read flags from this TOML file (keys are flag names: `addr = "0.0.0.0:4567"`,
    /// `create-stream = ["orders:4"]`); the command line and the environment win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4567")]
    pub addr: SocketAddr,
    /// Data directory (created if missing). Without it a temporary directory is used and
    /// the data does not survive the process.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// When puts are acknowledged.
    #[arg(long, value_enum, default_value = "interval")]
    pub durability: DurabilityArg,
    /// Background fdatasync period of `--durability interval`.
    #[arg(long, default_value_t = 200, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub flush_interval_ms: u64,
    /// Throughput limits.
    #[arg(long, value_enum, default_value = "off")]
    pub limits: LimitsArg,
    /// Region used in ARNs (and required in signatures with `--verify-sigv4`).
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// 12-digit account id used in ARNs and messages.
    #[arg(long, default_value = "000000000000")]
    pub account: String,
    /// Streams to create at start-up unless they exist (repeatable, or comma-separated):
    /// NAME (1 shard), NAME:SHARDS, or NAME:on-demand. An existing stream is kept as it is.
    /// They exist before the port accepts connections.
    #[arg(long, value_name = "NAME[:SHARDS|:on-demand]", env = "SHARDLOG_CREATE_STREAMS", value_delimiter = ',', action = ArgAction::Append)]
    pub create_stream: Vec<StartupStream>,
    /// Forward local stream LOCAL to stream DEST (a name or an ARN) at ENDPOINT (default:
    /// AWS; the region from an ARN or the AWS configuration chain), at least once and in
    /// order per key, checkpointed in the data directory (repeatable, or comma-separated).
    /// Credentials come from the standard AWS variables, profiles or instance roles.
    #[arg(long = "forward", value_name = "LOCAL=DEST[@ENDPOINT]", value_delimiter = ',', action = ArgAction::Append)]
    pub forward: Vec<crate::forward::setup::ForwardSpec>,
    /// Log level: off, error, warn, info (one line per request), debug, trace. Without it,
    /// `RUST_LOG` (tracing's env-filter syntax, e.g. `shardlog_server=debug,hyper=info`) is
    /// used when set, else `info`.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<LevelFilter>,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Largest request body; larger ones get HTTP 413 before being read.
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "N")]
    pub max_body_bytes: u64,
    /// Verify SigV4 signatures (with `--access-key` and `--secret-key`) instead of only
    /// requiring them.
    // Pairs of flags are checked when the server is built, not with clap's `requires`: a
    // switch set to false in the environment would count as given.
    #[arg(long)]
    pub verify_sigv4: bool,
    /// Access key id accepted with `--verify-sigv4`.
    #[arg(long, value_name = "ID")]
    pub access_key: Option<String>,
    /// Secret access key of `--access-key`.
    #[arg(long, value_name = "SECRET", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Serve HTTPS (ALPN h2 and http/1.1) on `--addr` instead of plain HTTP. Without
    /// `--tls-cert`/`--tls-key` a self-signed certificate for localhost, 127.0.0.1 and ::1 is
    /// generated (kept beside the data directory as DIR.cert.pem and DIR.key.pem and reused
    /// on the next start); its path is logged.
    #[arg(long)]
    pub tls: bool,
    /// PEM certificate chain for `--tls`.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for `--tls-cert`.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// After SIGTERM or Ctrl-C, keep serving this long with `/healthcheck` answering 503
    /// (so load balancers and orchestrators stop sending traffic), then shut down.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    pub shutdown_grace_secs: u64,
    /// How long shutdown waits for in-flight requests before closing the engine anyway.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub shutdown_timeout_secs: u64,
    /// How long a new stream stays CREATING before it is ACTIVE (0: ACTIVE at once).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub create_stream_ms: u64,
    /// How long a deleted stream stays DELETING before it is gone (0: gone at once).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub delete_stream_ms: u64,
    /// How long a stream stays UPDATING after a reshard or update (0: ACTIVE at once).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub update_stream_ms: u64,
    /// The account's shard quota (default: Kinesis' 500 in us-east-1, us-west-2 and
    /// eu-west-1, 200 elsewhere).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shard_limit: Option<u32>,
    /// Deliver channels to this S3-compatible endpoint (`http[s]://host[:port]`, path-style
    /// requests signed with SigV4). Without it, channels deliver into `<dir>/s3/<bucket>/<key>`.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Access key for `--s3-endpoint` (default: `AWS_ACCESS_KEY_ID`, else `shardlog`).
    #[arg(long, value_name = "ID")]
    pub s3_access_key: Option<String>,
    /// Secret key for `--s3-endpoint` (default: `AWS_SECRET_ACCESS_KEY`, else `shardlog`).
    #[arg(long, value_name = "SECRET", hide_env_values = true)]
    pub s3_secret_key: Option<String>,
    /// Encrypt records of KMS-encrypted streams at rest with this local key: a file of 32
    /// bytes, or 64 hexadecimal digits (AES-256-GCM per batch; see the README).
    #[arg(long, value_name = "FILE")]
    pub encryption_key_file: Option<PathBuf>,
    /// How often channel deliveries are checked (a channel writes once its
    /// DataFreshnessInSeconds has passed).
    #[arg(long, default_value_t = 1000, value_name = "MS", value_parser = clap::value_parser!(u64).range(10..))]
    pub channel_delivery_interval_ms: u64,
    /// Most open client connections; more are closed as soon as they are accepted. Default:
    /// 3/8 of the open-file limit (`ulimit -n`), at least 16.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Close a connection that has no request in flight for this long.
    #[arg(long, default_value_t = 120, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
    /// An HTTP/1.1 request head must arrive within this of its first byte (else 408 and the
    /// connection is closed).
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: u64,
    /// A request body must arrive within this of its head (else 408).
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_secs: u64,
    /// Most bytes of request bodies held at once, all connections together; a request that
    /// would pass it gets 503.
    #[arg(long, default_value_t = 128 * 1024 * 1024, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_buffered_body_bytes: u64,
    /// End a connection, or a SubscribeToShard stream, whose client has accepted no bytes
    /// for this long (it stopped reading).
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout_secs: u64,
    /// Most record bytes in one SubscribeToShard event (an event carries at least one
    /// record); with one event queued, this bounds what a subscriber that stops reading holds.
    #[arg(long, default_value_t = 64 * 1024, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub subscription_event_bytes: u64,
    /// File descriptors the engine may hold: shard logs beyond the budget are closed when
    /// idle and reopened on demand, and manifest commits keep a reserve. Default: half the
    /// open-file limit (`ulimit -n`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(20..))]
    pub max_open_files: Option<u64>,
    /// Lambda event-source mappings (`--lambda-*`, `--sqs-endpoint`).
    #[command(flatten)]
    pub lambda: crate::lambda::LambdaArgs,
}

impl ServeArgs {
    /// The engine durability these arguments ask for.
    pub fn durability(&self) -> Durability {
        match self.durability {
            DurabilityArg::Buffered => Durability::Buffered,
            DurabilityArg::Interval => Durability::Interval(Duration::from_millis(self.flush_interval_ms)),
            DurabilityArg::Sync => Durability::Sync,
        }
    }

    /// The client bounds these arguments ask for.
    pub fn serve_limits(&self) -> super::ServeLimits {
        let secs = Duration::from_secs;
        super::ServeLimits {
            max_connections: match self.max_connections {
                Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
                None => super::limits::default_max_connections(),
            },
            idle_timeout: secs(self.idle_timeout_secs),
            header_read_timeout: secs(self.header_read_timeout_secs),
            body_read_timeout: secs(self.body_read_timeout_secs),
            max_buffered_body_bytes: self.max_buffered_body_bytes,
            stall_timeout: secs(self.stall_timeout_secs),
            subscription_event_bytes: usize::try_from(self.subscription_event_bytes).unwrap_or(usize::MAX),
        }
    }

    /// The engine limits these arguments ask for.
    pub fn limits(&self) -> Limits {
        match self.limits {
            LimitsArg::Kinesis => Limits::kinesis(),
            LimitsArg::Off => Limits::off(),
        }
    }

    /// The status transitions the flags ask for (`None` when every delay is 0).
    pub fn status_delays(&self) -> Option<StatusDelays> {
        let (c, d, u) = (self.create_stream_ms, self.delete_stream_ms, self.update_stream_ms);
        (c, d, u).ne(&(0, 0, 0)).then(|| StatusDelays {
            creating: Duration::from_millis(c),
            deleting: Duration::from_millis(d),
            updating: Duration::from_millis(u),
        })
    }
}

/// A stream `serve` creates at start-up: `NAME`, `NAME:SHARDS` or `NAME:on-demand`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupStream {
    /// The stream name (Kinesis' rules: 1–128 of `a-zA-Z0-9_.-`).
    pub name: String,
    /// Provisioned with this many shards, or on-demand.
    pub capacity: StartupCapacity,
}

/// How a start-up stream is provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupCapacity {
    /// `PROVISIONED` with this many shards.
    Shards(u32),
    /// `ON_DEMAND` (the engine picks the initial shard count).
    OnDemand,
}

impl StartupStream {
    /// A provisioned stream with `shards` shards.
    pub fn provisioned(name: impl Into<String>, shards: u32) -> StartupStream {
        StartupStream { name: name.into(), capacity: StartupCapacity::Shards(shards) }
    }

    /// An on-demand stream.
    pub fn on_demand(name: impl Into<String>) -> StartupStream {
        StartupStream { name: name.into(), capacity: StartupCapacity::OnDemand }
    }

    /// The stream mode this asks for.
    pub fn mode(&self) -> StreamMode {
        match self.capacity {
            StartupCapacity::Shards(_) => StreamMode::Provisioned,
            StartupCapacity::OnDemand => StreamMode::OnDemand,
        }
    }
}

impl FromStr for StartupStream {
    type Err = String;

    /// `NAME` alone means one shard (Kinesis requires a count for provisioned streams;
    /// kinesis-mock and LocalStack default theirs, and one is the cheapest).
    fn from_str(s: &str) -> Result<StartupStream, String> {
        let s = s.trim();
        // Stream names never contain ':', so the last one separates the capacity.
        let (name, capacity) = match s.rsplit_once(':') {
            None => (s, StartupCapacity::Shards(1)),
            Some((name, cap)) if cap.eq_ignore_ascii_case("on-demand") || cap.eq_ignore_ascii_case("on_demand") => {
                (name, StartupCapacity::OnDemand)
            }
            Some((name, cap)) => match cap.parse::<u32>() {
                Ok(n) if n >= 1 => (name, StartupCapacity::Shards(n)),
                _ => {
                    return Err(format!(
                        "{s:?}: after the ':' comes a shard count of at least 1 or 'on-demand', not {cap:?}"
                    ))
                }
            },
        };
        if let Err(e) = shardlog::kinesis::names::validate_stream_name(name) {
            return Err(format!("{s:?}: {name:?} is not a valid stream name: {e}"));
        }
        Ok(StartupStream { name: name.to_string(), capacity })
    }
}

impl std::fmt::Display for StartupStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.capacity {
            StartupCapacity::Shards(n) => write!(f, "{}:{n}", self.name),
            StartupCapacity::OnDemand => write!(f, "{}:on-demand", self.name),
        }
    }
}

/// The environment variable of a long flag: `SHARDLOG_` + the name upper-cased, `-` → `_`.
pub fn env_var_for(long: &str) -> String {
    format!("{ENV_PREFIX}{}", long.replace('-', "_").to_ascii_uppercase())
}

/// Give every long flag of `cmd` without a variable of its own its `SHARDLOG_<FLAG>`
/// variable, and let boolean switches read theirs leniently.
pub fn with_env_vars(cmd: Command) -> Command {
    cmd.mut_args(|arg: Arg| {
        let Some(long) = arg.get_long().map(str::to_string) else { return arg };
        let mut arg = if arg.get_env().is_none() { arg.env(env_var_for(&long)) } else { arg };
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            arg = arg.value_parser(FalseyValueParser::new());
        }
        arg
    })
}

/// [`ServeArgs`] with its environment variables and `--config` file: use this type in a
/// clap command (`Serve(ServeCommand)`), then read `.args`.
#[derive(Debug, Clone)]
pub struct ServeCommand {
    /// The resolved arguments.
    pub args: ServeArgs,
}

impl ServeCommand {
    /// The `serve` command on its own (for parsing outside a larger command line).
    pub fn command() -> Command {
        <ServeCommand as Args>::augment_args(Command::new("serve"))
    }

    /// Parse `argv` (its first item is the program name) with the environment and config.
    pub fn try_parse_from<I, T>(argv: I) -> Result<ServeCommand, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let m = Self::command().try_get_matches_from(argv)?;
        <ServeCommand as FromArgMatches>::from_arg_matches(&m)
    }
}

impl Args for ServeCommand {
    fn augment_args(cmd: Command) -> Command {
        with_env_vars(ServeArgs::augment_args(cmd))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        with_env_vars(ServeArgs::augment_args_for_update(cmd))
    }
}

impl FromArgMatches for ServeCommand {
    fn from_arg_matches(m: &ArgMatches) -> Result<ServeCommand, clap::Error> {
        let config = m.get_one::<PathBuf>("config").cloned();
        let args = match config {
            None => ServeArgs::from_arg_matches(m)?,
            Some(path) => {
                let merged = super::config::merge(&Self::command(), m, &path)?;
                ServeArgs::from_arg_matches(&merged)?
            }
        };
        Ok(ServeCommand { args })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_stream_specs_parse_with_one_shard_by_default() {
        assert_eq!("orders:4".parse::<StartupStream>(), Ok(StartupStream::provisioned("orders", 4)));
        assert_eq!("events:on-demand".parse::<StartupStream>(), Ok(StartupStream::on_demand("events")));
        assert_eq!("plain".parse::<StartupStream>(), Ok(StartupStream::provisioned("plain", 1)));
        assert_eq!(" a.b-c_d:2 ".parse::<StartupStream>(), Ok(StartupStream::provisioned("a.b-c_d", 2)));
    }

    #[test]
    fn bad_startup_stream_specs_name_what_is_wrong() {
        let e = "orders:0".parse::<StartupStream>().unwrap_err();
        assert!(e.contains("\"0\""), "{e}");
        let e = "orders:many".parse::<StartupStream>().unwrap_err();
        assert!(e.contains("on-demand"), "{e}");
        let e = "bad name:2".parse::<StartupStream>().unwrap_err();
        assert!(e.contains("not a valid stream name"), "{e}");
        assert!(":3".parse::<StartupStream>().is_err());
    }

    #[test]
    fn every_long_flag_gets_a_shardlog_variable() {
        let cmd = ServeCommand::command();
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            let want = if long == "create-stream" { "SHARDLOG_CREATE_STREAMS".to_string() } else { env_var_for(long) };
            assert_eq!(env.as_deref(), Some(want.as_str()), "--{long}");
        }
        assert_eq!(env_var_for("flush-interval-ms"), "SHARDLOG_FLUSH_INTERVAL_MS");
    }
}
