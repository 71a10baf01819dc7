//! Log set-up of the `serve` command: tracing to stderr, as text or one JSON object per line,
//! filtered by `--log-level` or, without it, by `RUST_LOG` (tracing-subscriber's env-filter
//! syntax), else at `info`.
//!
//! Only the command installs a global subscriber; an embedded [`super::Server`] logs through
//! whatever subscriber its host installed.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

use super::args::LogFormat;

/// The filter: `--log-level` when given (it wins, like every flag), else `RUST_LOG` when set
/// (invalid directives in it are skipped), else `info`.
pub fn filter(level: Option<LevelFilter>) -> EnvFilter {
    match level {
        Some(level) => EnvFilter::default().add_directive(level.into()),
        None => EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).from_env_lossy(),
    }
}

/// Install the global subscriber (a second call, or a host's own subscriber, wins quietly).
pub fn init(level: Option<LevelFilter>, format: LogFormat) {
    let builder = tracing_subscriber::fmt().with_env_filter(filter(level)).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_current_span(false).with_span_list(false).try_init(),
    };
}
