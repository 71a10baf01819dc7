//! S3 object keys of channel deliveries: the `OutputKeyTemplate` and the error-output key.
//!
//! A template is literal text (the model pattern `[0-9A-Za-z!\-_'.*()\/=:{}]+`) with
//! variables `!{name}`: `channel-name`, `channel-id`, `stream-name`, `yyyy`, `YY`, `MM`, `dd`,
//! `HH`, `mm` (UTC time of the oldest record in the object) and `extension` (`.json`,
//! `.txt` or `.bin` by record format, then `.gz` / `.zst` by compression). Rules, as AWS
//! documents them for delivery templates: no `..` or `./`, not starting or ending with `/`,
//! every `!{` closed, known variables only. Without a template the AWS default is used:
//!
//! ```text
//! kinesis-channel/!{channel-name}/!{channel-id}/!{yyyy}/!{MM}/!{dd}/!{HH}/!{channel-name}-!{channel-id}-!{yyyy}-!{MM}-!{dd}-!{HH}-!{mm}!{extension}
//! ```
//!
//! As AWS does, a unique suffix (`-<object number>`) is appended to every key — before the
//! extension when the template ends with `!{extension}` — so keys never collide even when
//! the template has no fine time component.

use crate::clock::civil_from_days;

/// AWS' default template.
pub const DEFAULT_TEMPLATE: &str = "kinesis-channel/!{channel-name}/!{channel-id}/!{yyyy}/!{MM}/!{dd}/!{HH}/\
!{channel-name}-!{channel-id}-!{yyyy}-!{MM}-!{dd}-!{HH}-!{mm}!{extension}";

/// Default `ErrorOutputPrefix`.
pub const DEFAULT_ERROR_PREFIX: &str = "kinesis-channel-errors/";

const VARIABLES: [&str; 10] =
    ["channel-name", "channel-id", "stream-name", "yyyy", "YY", "MM", "dd", "HH", "mm", "extension"];

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn parse(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find("!{") {
        let (text, tail) = rest.split_at(i);
        if !text.is_empty() {
            out.push(Piece::Text(text));
        }
        let body = tail.get(2..).unwrap_or("");
        let Some(end) = body.find('}') else { return Err("a `!{` is not closed".into()) };
        let (name, after) = body.split_at(end);
        if !VARIABLES.contains(&name) {
            return Err(format!("unknown variable !{{{name}}} (known: {})", VARIABLES.join(", ")));
        }
        out.push(Piece::Var(name));
        rest = after.get(1..).unwrap_or("");
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Checks a template's rules (beyond the model pattern); the reason when it breaks one.
pub fn check(template: &str) -> Result<(), String> {
    if template.contains("..") || template.contains("./") {
        return Err("it must not contain `..` or `./`".into());
    }
    if template.starts_with('/') || template.ends_with('/') {
        return Err("it must not start or end with `/`".into());
    }
    if template.contains("//") {
        return Err("it must not contain `//`".into());
    }
    parse(template).map(|_| ())
}

/// What the variables stand for in one object's key.
#[derive(Debug, Clone)]
pub struct KeyContext<'a> {
    /// `!{channel-name}`.
    pub channel_name: &'a str,
    /// `!{channel-id}`.
    pub channel_id: &'a str,
    /// `!{stream-name}`.
    pub stream_name: &'a str,
    /// The time the date variables show (ms since the epoch, UTC).
    pub time_ms: i64,
    /// `!{extension}`.
    pub extension: &'a str,
    /// The object's number: the unique suffix.
    pub object_number: u64,
}

fn date_parts(ms: i64) -> (i64, u32, u32, i64, i64) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, in_day / 3_600_000, (in_day / 60_000) % 60)
}

/// The key of one object (`template` must have passed [`check`]).
pub fn render(template: &str, ctx: &KeyContext<'_>) -> String {
    let (y, mo, d, h, mi) = date_parts(ctx.time_ms);
    let (body, ext_last) = match template.strip_suffix("!{extension}") {
        Some(b) => (b, true),
        None => (template, false),
    };
    let mut out = String::with_capacity(template.len() + 64);
    for piece in parse(body).unwrap_or_default() {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var("channel-name") => out.push_str(ctx.channel_name),
            Piece::Var("channel-id") => out.push_str(ctx.channel_id),
            Piece::Var("stream-name") => out.push_str(ctx.stream_name),
            Piece::Var("yyyy") => out.push_str(&format!("{y:04}")),
            Piece::Var("YY") => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Piece::Var("MM") => out.push_str(&format!("{mo:02}")),
            Piece::Var("dd") => out.push_str(&format!("{d:02}")),
            Piece::Var("HH") => out.push_str(&format!("{h:02}")),
            Piece::Var("mm") => out.push_str(&format!("{mi:02}")),
            Piece::Var(_) => out.push_str(ctx.extension),
        }
    }
    out.push_str(&format!("-{:012}", ctx.object_number));
    if ext_last {
        out.push_str(ctx.extension);
    }
    out
}

/// The key of an error object: `<prefix><channel-name>/<yyyy>/<MM>/<dd>/<HH>/<channel-name>-
/// <channel-id>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<object number>.json`.
pub fn error_key(prefix: &str, ctx: &KeyContext<'_>) -> String {
    let (y, mo, d, h, mi) = date_parts(ctx.time_ms);
    let name = ctx.channel_name;
    format!(
        "{prefix}{name}/{y:04}/{mo:02}/{d:02}/{h:02}/{name}-{}-{y:04}-{mo:02}-{d:02}-{h:02}-{mi:02}-{:012}.json",
        ctx.channel_id, ctx.object_number
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> KeyContext<'static> {
        KeyContext {
            channel_name: "ch",
            channel_id: "abc",
            stream_name: "s",
            // 2026-01-02T03:04:05Z
            time_ms: 1_767_323_045_000,
            extension: ".json.gz",
            object_number: 7,
        }
    }

    #[test]
    fn the_default_template_renders_like_aws_with_a_unique_suffix() {
        check(DEFAULT_TEMPLATE).unwrap();
        assert_eq!(
            render(DEFAULT_TEMPLATE, &ctx()),
            "kinesis-channel/ch/abc/2026/01/02/03/ch-abc-2026-01-02-03-04-000000000007.json.gz"
        );
        assert_eq!(render("data/!{stream-name}/!{YY}", &ctx()), "data/s/26-000000000007");
        assert_eq!(error_key("err/", &ctx()), "err/ch/2026/01/02/03/ch-abc-2026-01-02-03-04-000000000007.json");
    }

    #[test]
    fn template_rules() {
        for bad in ["../x", "a/./b", "/a", "a/", "a//b", "!{nope}", "!{yyyy", "a/!{bad}/b"] {
            assert!(check(bad).is_err(), "{bad}");
        }
        for ok in ["a", "x/!{yyyy}/!{mm}", "!{channel-id}!{extension}", "a=b/c:d/(x)*'!"] {
            check(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }
}
