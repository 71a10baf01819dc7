//! `serve --config FILE`: flags from a TOML file, below the command line and the environment.
//!
//! The file is a flat table whose keys are long flag names, in kebab or snake case:
//!
//! ```toml
//! addr = "0.0.0.0:4567"
//! dir = "/var/lib/shardlog"
//! durability = "sync"
//! create-stream = ["orders:4", "events:on-demand"]
//! verify_sigv4 = false
//! ```
//!
//! Values are strings, integers, floats, booleans (switches) or arrays of those (repeatable
//! flags). Merging is generic: the command line is rebuilt from what the user typed, then
//! each file key whose flag came neither from the command line nor from the environment is
//! appended as `--flag value`, and the result is parsed again by the same command, so the
//! file's values go through the same parsers and checks as typed ones. An unknown key, a
//! nested table or a value of the wrong shape is a usage error naming the file and the key.

use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command};

/// Re-parse `m` (matches of `cmd`) with the flags of the TOML file at `path` filled in
/// where neither the command line nor the environment set them.
pub(crate) fn merge(cmd: &Command, m: &ArgMatches, path: &Path) -> Result<ArgMatches, clap::Error> {
    let fail = |msg: String| clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{msg}\n"));
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(format!("cannot read the config file {}: {e}", path.display())))?;
    let table: toml::Table =
        text.parse().map_err(|e| fail(format!("the config file {} is not valid TOML: {e}", path.display())))?;

    let mut argv: Vec<OsString> = vec![cmd.get_name().into()];
    // What the user typed, rebuilt from the raw values (environment values are read again
    // by the re-parse).
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        let (Some(long), Some(ValueSource::CommandLine)) = (arg.get_long(), m.value_source(id)) else { continue };
        if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
            argv.push(format!("--{long}").into());
            continue;
        }
        for v in m.get_raw(id).into_iter().flatten() {
            argv.push(format!("--{long}").into());
            argv.push(v.to_owned());
        }
    }
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(long.as_str())) else {
            return Err(fail(format!("{}: unknown key {key:?} (keys are the flags of `serve`)", path.display())));
        };
        if long == "config" {
            return Err(fail(format!("{}: a config file cannot name another (key {key:?})", path.display())));
        }
        let id = arg.get_id().as_str();
        if matches!(m.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable)) {
            continue;
        }
        let switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
        let repeatable = matches!(arg.get_action(), ArgAction::Append);
        match value {
            toml::Value::Boolean(b) if switch => {
                if *b {
                    argv.push(format!("--{long}").into());
                }
            }
            _ if switch => return Err(fail(format!("{}: {key:?} must be true or false", path.display()))),
            toml::Value::Array(items) if repeatable => {
                for item in items {
                    let v = scalar(item)
                        .ok_or_else(|| fail(format!("{}: {key:?} must hold strings or numbers", path.display())))?;
                    argv.push(format!("--{long}").into());
                    argv.push(v.into());
                }
            }
            other => {
                let v = scalar(other).ok_or_else(|| {
                    fail(format!(
                        "{}: {key:?} must be a string or a number{}",
                        path.display(),
                        if repeatable { ", or an array of them" } else { "" }
                    ))
                })?;
                argv.push(format!("--{long}").into());
                argv.push(v.into());
            }
        }
    }
    cmd.clone().try_get_matches_from(argv)
}

/// A TOML scalar as the text a flag would be given.
fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}
