//! Lambda event filtering (`FilterCriteria`, feature `json`): the EventBridge pattern grammar
//! Lambda documents for event-source mappings, compiled once and matched against every
//! record before it is batched. A record that matches no filter is dropped — never
//! delivered — and the checkpoint moves past it like past a processed record.
//!
//! # What a pattern is matched against
//! The fields of the record's `kinesis` object (`kinesisSchemaVersion`, `partitionKey`,
//! `sequenceNumber`, `approximateArrivalTimestamp`, and `data`) plus the record's own
//! metadata (`eventSource`, `eventVersion`, `eventID`, `eventName`, `invokeIdentityArn`,
//! `awsRegion`, `eventSourceARN`), all at the top level: Lambda's documented example
//! `{"partitionKey": ["1"], "data": {"Location": ["Los Angeles"]}}` puts metadata and `data`
//! side by side. `data` is the record's bytes parsed as JSON; a pattern for `data` must be a
//! JSON object (Lambda refuses other forms when the mapping is created), and a filter that
//! names `data` never matches a record whose data is not JSON (Lambda drops it). A filter
//! that does not name `data` matches on metadata alone, whatever the data is.
//!
//! # Grammar
//! A pattern is a JSON object. Each key names a field; its value is either an object (the
//! field must be an object matching it, or an array holding one) or an array of rules, any
//! of which may match (OR). Keys are ANDed; `"$or": [pattern, …]` at any level matches when
//! one of its patterns does. Rules:
//!
//! | rule | matches |
//! |---|---|
//! | `"s"`, `5`, `true`, `null` | a field equal to it (strings exactly, numbers by JSON value: `300` and `300.0` differ) |
//! | `{"prefix": "s"}`, `{"prefix": {"equals-ignore-case": "s"}}` | a string starting with `s` |
//! | `{"suffix": "s"}`, `{"suffix": {"equals-ignore-case": "s"}}` | a string ending with `s` |
//! | `{"equals-ignore-case": "s"}` | a string equal to `s` ignoring case |
//! | `{"wildcard": "a*b"}` | a string matching the glob (`*` any run, `\*` a star, `\\` a backslash) |
//! | `{"anything-but": v}` with a value, a list, or `{"prefix"/"suffix"/"equals-ignore-case"/"wildcard": …}` | a present field not matching |
//! | `{"numeric": [">", 0, "<=", 5]}` (`=`, `<`, `<=`, `>`, `>=`; one or a lower and an upper bound) | a number in range |
//! | `{"exists": true}` / `{"exists": false}` | a field present with a value that is not an object / absent |
//!
//! When the record's field is an array, a rule matches if it matches any element (and an
//! object pattern if any element object matches it).
//!
//! Where EventBridge's documentation is silent the choices are: an empty rule list matches
//! nothing; numbers compare as JSON values, so `3.0e2` equals `300.0` (Lambda compares their
//! text and would not); `anything-but` with a list matches a present value of any other type.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::event_source::config::RecordFilter;
use crate::event_source::event::{KinesisEventRecord, EVENT_NAME, EVENT_SOURCE, EVENT_VERSION, KINESIS_SCHEMA_VERSION};

/// Most filters in one `FilterCriteria` (Lambda's default quota).
pub const MAX_FILTERS: usize = 5;
/// Longest pattern text (the service model's limit).
pub const MAX_PATTERN_CHARS: usize = 4096;
/// Deepest nesting of objects in a pattern.
const MAX_DEPTH: usize = 32;

/// Why a `FilterCriteria` was refused: the message names the filter and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

fn err<T>(filter: usize, why: impl std::fmt::Display) -> Result<T, FilterError> {
    Err(FilterError(format!("Invalid filter pattern definition in filter {}: {why}", filter + 1)))
}

/// Compiled `FilterCriteria`: a record passes when any filter matches it.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterCriteria {
    filters: Vec<Filter>,
    patterns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    pattern: Object,
    /// The pattern names `data`: it never matches a record whose data is not JSON.
    uses_data: bool,
}

/// An object pattern: every field must match, and one alternative of every `$or`.
#[derive(Debug, Clone, PartialEq, Default)]
struct Object {
    fields: Vec<(String, Node)>,
    any_of: Vec<Vec<Object>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Object(Object),
    Rules(Vec<Rule>),
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Equals(Value),
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(Glob),
    AnythingBut(AnythingBut),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum AnythingBut {
    Values(Vec<Value>),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(Vec<String>),
    Wildcard(Vec<Glob>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn parse(s: &str) -> Option<Cmp> {
        Some(match s {
            "=" => Cmp::Eq,
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            ">" => Cmp::Gt,
            ">=" => Cmp::Ge,
            _ => return None,
        })
    }

    fn holds(self, v: f64, bound: f64) -> bool {
        match self {
            Cmp::Eq => v == bound,
            Cmp::Lt => v < bound,
            Cmp::Le => v <= bound,
            Cmp::Gt => v > bound,
            Cmp::Ge => v >= bound,
        }
    }
}

/// A wildcard pattern: literal pieces separated by `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob {
    /// The literal pieces; `pieces.len() - 1` stars sit between them.
    pieces: Vec<String>,
}

impl Glob {
    fn parse(text: &str) -> Result<Glob, String> {
        let mut pieces = vec![String::new()];
        let mut chars = text.chars().peekable();
        let mut last_star = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => {
                        if let Some(p) = pieces.last_mut() {
                            p.push(e);
                        }
                        last_star = false;
                    }
                    _ => return Err(format!("wildcard {text:?}: a backslash must escape '*' or '\\'")),
                },
                '*' => {
                    if last_star {
                        return Err(format!("wildcard {text:?}: consecutive '*' are not allowed"));
                    }
                    pieces.push(String::new());
                    last_star = true;
                }
                c => {
                    if let Some(p) = pieces.last_mut() {
                        p.push(c);
                    }
                    last_star = false;
                }
            }
        }
        Ok(Glob { pieces })
    }

    fn matches(&self, s: &str) -> bool {
        let Some((first, rest)) = self.pieces.split_first() else { return s.is_empty() };
        let Some(mut tail) = s.strip_prefix(first.as_str()) else { return false };
        let Some((last, middle)) = rest.split_last() else { return tail.is_empty() };
        for piece in middle {
            match tail.find(piece.as_str()) {
                Some(i) => tail = tail.get(i + piece.len()..).unwrap_or_default(),
                None => return false,
            }
        }
        tail.len() >= last.len() && tail.ends_with(last.as_str())
    }
}

impl FilterCriteria {
    /// Compile the `Pattern` strings of a `FilterCriteria.Filters` list (at most
    /// [`MAX_FILTERS`], each at most [`MAX_PATTERN_CHARS`] characters).
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<FilterCriteria, FilterError> {
        if patterns.len() > MAX_FILTERS {
            return Err(FilterError(format!(
                "FilterCriteria has {} filters; at most {MAX_FILTERS} are allowed",
                patterns.len()
            )));
        }
        let mut filters = Vec::with_capacity(patterns.len());
        for (i, p) in patterns.iter().enumerate() {
            let text = p.as_ref();
            if text.chars().count() > MAX_PATTERN_CHARS {
                return err(i, format_args!("the pattern is longer than {MAX_PATTERN_CHARS} characters"));
            }
            let value: Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => return err(i, format_args!("the pattern is not JSON ({e})")),
            };
            let Value::Object(map) = &value else { return err(i, "the pattern must be a JSON object") };
            if let Some(data) = map.get("data") {
                if !data.is_object() {
                    return err(i, "the pattern for data must be a JSON object (Kinesis data is filtered as JSON)");
                }
            }
            let uses_data = mentions_data(map);
            let pattern = compile_object(map, i, 0)?;
            filters.push(Filter { pattern, uses_data });
        }
        Ok(FilterCriteria { filters, patterns: patterns.iter().map(|p| p.as_ref().to_string()).collect() })
    }

    /// The patterns as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// True when there is no filter (every record passes).
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// True when the record matches one of the filters (or there are none).
    pub fn matches(&self, record: &KinesisEventRecord) -> bool {
        if self.filters.is_empty() {
            return true;
        }
        let needs_data = self.filters.iter().any(|f| f.uses_data);
        let data = if needs_data { parse_data(&record.kinesis.data) } else { None };
        let view = record_view(record, data.clone());
        self.filters.iter().any(|f| (!f.uses_data || data.is_some()) && match_object(&f.pattern, &view))
    }

    /// The criteria as the driver's record filter.
    pub fn into_record_filter(self) -> RecordFilter {
        std::sync::Arc::new(move |r: &KinesisEventRecord| self.matches(r))
    }
}

/// True when `$or` alternatives or the top level name `data`.
fn mentions_data(map: &Map<String, Value>) -> bool {
    map.iter().any(|(k, v)| {
        k == "data"
            || (k == "$or"
                && v.as_array().is_some_and(|alts| alts.iter().any(|a| a.as_object().is_some_and(mentions_data))))
    })
}

fn parse_data(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice(bytes).ok()
}

/// The record as the filters see it (see the module docs).
fn record_view(r: &KinesisEventRecord, data: Option<Value>) -> Value {
    let mut m = Map::new();
    m.insert("kinesisSchemaVersion".into(), KINESIS_SCHEMA_VERSION.into());
    m.insert("partitionKey".into(), r.kinesis.partition_key.clone().into());
    m.insert("sequenceNumber".into(), r.kinesis.sequence_number.to_string().into());
    m.insert("approximateArrivalTimestamp".into(), r.kinesis.approximate_arrival_timestamp.as_secs_f64().into());
    match data {
        Some(v) => m.insert("data".into(), v),
        None => m.insert("data".into(), STANDARD.encode(&r.kinesis.data).into()),
    };
    m.insert("eventSource".into(), EVENT_SOURCE.into());
    m.insert("eventVersion".into(), EVENT_VERSION.into());
    m.insert("eventID".into(), r.event_id().into());
    m.insert("eventName".into(), EVENT_NAME.into());
    m.insert("invokeIdentityArn".into(), r.invoke_identity_arn.to_string().into());
    m.insert("awsRegion".into(), r.aws_region.to_string().into());
    m.insert("eventSourceARN".into(), r.event_source_arn.to_string().into());
    Value::Object(m)
}

fn compile_object(map: &Map<String, Value>, filter: usize, depth: usize) -> Result<Object, FilterError> {
    if depth > MAX_DEPTH {
        return err(filter, format_args!("the pattern nests deeper than {MAX_DEPTH} levels"));
    }
    let mut out = Object::default();
    for (key, value) in map {
        if key == "$or" {
            let Some(alts) = value.as_array().filter(|a| !a.is_empty()) else {
                return err(filter, "\"$or\" must be a non-empty list of patterns");
            };
            let mut compiled = Vec::with_capacity(alts.len());
            for alt in alts {
                let Value::Object(m) = alt else { return err(filter, "every \"$or\" alternative must be an object") };
                compiled.push(compile_object(m, filter, depth + 1)?);
            }
            out.any_of.push(compiled);
            continue;
        }
        let node = match value {
            Value::Object(m) => Node::Object(compile_object(m, filter, depth + 1)?),
            Value::Array(rules) => {
                let mut compiled = Vec::with_capacity(rules.len());
                for r in rules {
                    compiled.push(compile_rule(key, r, filter)?);
                }
                Node::Rules(compiled)
            }
            other => {
                return err(
                    filter,
                    format_args!("the value of {key:?} must be a list of rules or an object, not {other}"),
                )
            }
        };
        out.fields.push((key.clone(), node));
    }
    Ok(out)
}

fn compile_rule(key: &str, rule: &Value, filter: usize) -> Result<Rule, FilterError> {
    let obj = match rule {
        Value::Object(o) => o,
        Value::Array(_) => return err(filter, format_args!("a rule of {key:?} must not be a list")),
        literal => return Ok(Rule::Equals(literal.clone())),
    };
    let mut entries = obj.iter();
    let (Some((op, arg)), None) = (entries.next(), entries.next()) else {
        return err(filter, format_args!("a rule object of {key:?} must have exactly one operator"));
    };
    let string = |what: &str| -> Result<String, FilterError> {
        match arg {
            Value::String(s) => Ok(s.clone()),
            other => err(filter, format_args!("{what} of {key:?} needs a string, not {other}")),
        }
    };
    Ok(match op.as_str() {
        "prefix" | "suffix" => {
            let (text, ignore_case) = match arg {
                Value::String(s) => (s.clone(), false),
                Value::Object(o) => match (o.len(), o.get("equals-ignore-case")) {
                    (1, Some(Value::String(s))) => (s.to_lowercase(), true),
                    _ => {
                        return err(
                            filter,
                            format_args!("{op} of {key:?} takes a string or {{\"equals-ignore-case\": string}}"),
                        )
                    }
                },
                other => return err(filter, format_args!("{op} of {key:?} needs a string, not {other}")),
            };
            match (op.as_str(), ignore_case) {
                ("prefix", false) => Rule::Prefix(text),
                ("prefix", true) => Rule::PrefixIgnoreCase(text),
                (_, false) => Rule::Suffix(text),
                (_, true) => Rule::SuffixIgnoreCase(text),
            }
        }
        "equals-ignore-case" => Rule::EqualsIgnoreCase(string("equals-ignore-case")?.to_lowercase()),
        "wildcard" => Rule::Wildcard(Glob::parse(&string("wildcard")?).or_else(|e| err(filter, e))?),
        "exists" => match arg {
            Value::Bool(b) => Rule::Exists(*b),
            other => return err(filter, format_args!("exists of {key:?} needs true or false, not {other}")),
        },
        "numeric" => Rule::Numeric(compile_numeric(key, arg, filter)?),
        "anything-but" => Rule::AnythingBut(compile_anything_but(key, arg, filter)?),
        other => return err(filter, format_args!("unknown operator {other:?} in the rule of {key:?}")),
    })
}

fn compile_numeric(key: &str, arg: &Value, filter: usize) -> Result<Vec<(Cmp, f64)>, FilterError> {
    let bad =
        || err(filter, format_args!("numeric of {key:?} must be [op, number] or [lower op, number, upper op, number]"));
    let Some(items) = arg.as_array() else { return bad() };
    if items.len() != 2 && items.len() != 4 {
        return bad();
    }
    let mut out = Vec::new();
    for pair in items.chunks(2) {
        let (Some(op), Some(n)) = (pair.first().and_then(Value::as_str), pair.get(1).and_then(Value::as_f64)) else {
            return bad();
        };
        let Some(cmp) = Cmp::parse(op) else {
            return err(filter, format_args!("numeric of {key:?}: unknown comparison {op:?}"));
        };
        if !n.is_finite() {
            return bad();
        }
        out.push((cmp, n));
    }
    if let [(lo, a), (hi, b)] = out.as_slice() {
        let lower_ok = matches!(lo, Cmp::Gt | Cmp::Ge);
        let upper_ok = matches!(hi, Cmp::Lt | Cmp::Le);
        if !lower_ok || !upper_ok || a >= b {
            return err(
                filter,
                format_args!(
                    "numeric of {key:?}: a range is a lower bound (> or >=) then a greater upper bound (< or <=)"
                ),
            );
        }
    }
    Ok(out)
}

fn compile_anything_but(key: &str, arg: &Value, filter: usize) -> Result<AnythingBut, FilterError> {
    let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_));
    match arg {
        Value::String(_) | Value::Number(_) => Ok(AnythingBut::Values(vec![arg.clone()])),
        Value::Array(items) if !items.is_empty() && items.iter().all(scalar) => Ok(AnythingBut::Values(items.clone())),
        Value::Object(o) if o.len() == 1 => {
            let Some((op, v)) = o.iter().next() else {
                return err(filter, format_args!("anything-but of {key:?} is empty"));
            };
            let strings = |v: &Value| -> Option<Vec<String>> {
                match v {
                    Value::String(s) => Some(vec![s.clone()]),
                    Value::Array(a) if !a.is_empty() => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
                    _ => None,
                }
            };
            match (op.as_str(), v) {
                ("prefix", Value::String(s)) => Ok(AnythingBut::Prefix(s.clone())),
                ("suffix", Value::String(s)) => Ok(AnythingBut::Suffix(s.clone())),
                ("equals-ignore-case", v) => match strings(v) {
                    Some(list) => Ok(AnythingBut::EqualsIgnoreCase(list.iter().map(|s| s.to_lowercase()).collect())),
                    None => err(filter, format_args!("anything-but equals-ignore-case of {key:?} needs strings")),
                },
                ("wildcard", v) => match strings(v) {
                    Some(list) => Ok(AnythingBut::Wildcard(
                        list.iter().map(|s| Glob::parse(s)).collect::<Result<_, _>>().or_else(|e| err(filter, e))?,
                    )),
                    None => err(filter, format_args!("anything-but wildcard of {key:?} needs strings")),
                },
                (op, _) => err(filter, format_args!("anything-but of {key:?}: unsupported form {op:?}")),
            }
        }
        other => err(
            filter,
            format_args!("anything-but of {key:?} takes a string, a number, a non-empty list of them, or an operator object, not {other}"),
        ),
    }
}

fn match_object(pattern: &Object, value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            pattern.fields.iter().all(|(key, node)| match_field(node, map.get(key)))
                && pattern.any_of.iter().all(|alts| alts.iter().any(|alt| match_object(alt, value)))
        }
        Value::Array(items) => items.iter().any(|item| item.is_object() && match_object(pattern, item)),
        _ => false,
    }
}

fn match_field(node: &Node, value: Option<&Value>) -> bool {
    match node {
        Node::Object(o) => value.is_some_and(|v| match_object(o, v)),
        Node::Rules(rules) => rules.iter().any(|r| match_rule(r, value)),
    }
}

/// The leaf values of a field: its elements when it is an array, else itself.
fn leaves(value: &Value) -> impl Iterator<Item = &Value> {
    let (single, many) = match value {
        Value::Array(items) => (None, items.as_slice()),
        v => (Some(v), [].as_slice()),
    };
    single.into_iter().chain(many.iter())
}

fn match_rule(rule: &Rule, value: Option<&Value>) -> bool {
    if let Rule::Exists(want) = rule {
        let present = value.is_some_and(|v| leaves(v).any(|l| !l.is_object()));
        return present == *want;
    }
    let Some(value) = value else { return false };
    leaves(value).any(|leaf| match_leaf(rule, leaf))
}

fn match_leaf(rule: &Rule, v: &Value) -> bool {
    let text = v.as_str();
    match rule {
        Rule::Equals(want) => want == v,
        Rule::Prefix(p) => text.is_some_and(|s| s.starts_with(p.as_str())),
        Rule::PrefixIgnoreCase(p) => text.is_some_and(|s| s.to_lowercase().starts_with(p.as_str())),
        Rule::Suffix(p) => text.is_some_and(|s| s.ends_with(p.as_str())),
        Rule::SuffixIgnoreCase(p) => text.is_some_and(|s| s.to_lowercase().ends_with(p.as_str())),
        Rule::EqualsIgnoreCase(p) => text.is_some_and(|s| s.to_lowercase() == *p),
        Rule::Wildcard(g) => text.is_some_and(|s| g.matches(s)),
        Rule::Numeric(conds) => v.as_f64().is_some_and(|n| conds.iter().all(|(c, b)| c.holds(n, *b))),
        Rule::AnythingBut(a) => match a {
            AnythingBut::Values(list) => !v.is_object() && !list.iter().any(|x| x == v),
            AnythingBut::Prefix(p) => text.is_some_and(|s| !s.starts_with(p.as_str())),
            AnythingBut::Suffix(p) => text.is_some_and(|s| !s.ends_with(p.as_str())),
            AnythingBut::EqualsIgnoreCase(list) => text.is_some_and(|s| {
                let low = s.to_lowercase();
                !list.contains(&low)
            }),
            AnythingBut::Wildcard(globs) => text.is_some_and(|s| !globs.iter().any(|g| g.matches(s))),
        },
        Rule::Exists(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(pattern: Value, event: Value) -> bool {
        let Value::Object(m) = &pattern else { panic!("pattern must be an object") };
        let compiled = compile_object(m, 0, 0).unwrap();
        match_object(&compiled, &event)
    }

    #[test]
    fn globs_match_like_eventbridge_wildcards() {
        let g = |p: &str| Glob::parse(p).unwrap();
        assert!(g("*.png").matches("a.png"));
        assert!(g("*.png").matches(".png"));
        assert!(!g("*.png").matches("a.png.gz"));
        assert!(g("a*b*c").matches("abc"));
        assert!(g("a*b*c").matches("axxbyyc"));
        assert!(!g("a*b*c").matches("axxbyy"));
        assert!(g("*/lib/*").matches("/usr/lib/x"));
        assert!(g("a\\*b").matches("a*b"));
        assert!(!g("a\\*b").matches("axb"));
        assert!(g("exact").matches("exact"));
        assert!(!g("exact").matches("exactly"));
        assert!(g("ab*ab").matches("abab"));
        assert!(!g("ab*ab").matches("aba"));
        assert!(Glob::parse("a**b").is_err());
        assert!(Glob::parse("a\\b").is_err());
    }

    #[test]
    fn every_documented_operator_matches_and_refuses() {
        let ev = json!({"Name": "Alice", "Price": 15, "Tags": ["x", "y"], "Region": "us-east-1",
                        "UserID": null, "LastName": "", "File": "photo.PNG", "Nested": {"a": [{"b": 1}, {"b": 2}]}});
        assert!(matches(json!({"Name": ["Alice"]}), ev.clone()));
        assert!(!matches(json!({"Name": ["alice"]}), ev.clone()));
        assert!(matches(json!({"Name": [{"equals-ignore-case": "alice"}]}), ev.clone()));
        assert!(matches(json!({"UserID": [null]}), ev.clone()));
        assert!(!matches(json!({"Missing": [null]}), ev.clone()));
        assert!(matches(json!({"LastName": [""]}), ev.clone()));
        assert!(matches(json!({"Name": ["Bob", "Alice"]}), ev.clone()));
        assert!(matches(json!({"Name": ["Alice"], "Region": [{"prefix": "us-"}]}), ev.clone()));
        assert!(!matches(json!({"Name": ["Alice"], "Region": [{"prefix": "eu-"}]}), ev.clone()));
        assert!(matches(json!({"Region": [{"prefix": {"equals-ignore-case": "US-"}}]}), ev.clone()));
        assert!(matches(json!({"File": [{"suffix": ".PNG"}]}), ev.clone()));
        assert!(!matches(json!({"File": [{"suffix": ".png"}]}), ev.clone()));
        assert!(matches(json!({"File": [{"suffix": {"equals-ignore-case": ".png"}}]}), ev.clone()));
        assert!(matches(json!({"File": [{"wildcard": "photo.*"}]}), ev.clone()));
        assert!(matches(json!({"Name": [{"anything-but": ["Bob", "Carol"]}]}), ev.clone()));
        assert!(!matches(json!({"Name": [{"anything-but": "Alice"}]}), ev.clone()));
        assert!(!matches(json!({"Missing": [{"anything-but": "Alice"}]}), ev.clone()));
        assert!(matches(json!({"Region": [{"anything-but": {"prefix": "eu-"}}]}), ev.clone()));
        assert!(!matches(json!({"Region": [{"anything-but": {"prefix": "us-"}}]}), ev.clone()));
        assert!(!matches(json!({"File": [{"anything-but": {"suffix": ".PNG"}}]}), ev.clone()));
        assert!(!matches(json!({"Name": [{"anything-but": {"equals-ignore-case": ["ALICE"]}}]}), ev.clone()));
        assert!(!matches(json!({"File": [{"anything-but": {"wildcard": "*.PNG"}}]}), ev.clone()));
        assert!(matches(json!({"Price": [{"numeric": [">", 10, "<=", 20]}]}), ev.clone()));
        assert!(!matches(json!({"Price": [{"numeric": [">", 15]}]}), ev.clone()));
        assert!(matches(json!({"Price": [{"numeric": ["=", 15]}]}), ev.clone()));
        assert!(!matches(json!({"Name": [{"numeric": [">", 0]}]}), ev.clone()));
        assert!(matches(json!({"Price": [15]}), ev.clone()));
        assert!(!matches(json!({"Price": ["15"]}), ev.clone()));
        assert!(matches(json!({"Name": [{"exists": true}]}), ev.clone()));
        assert!(matches(json!({"Missing": [{"exists": false}]}), ev.clone()));
        assert!(!matches(json!({"Name": [{"exists": false}]}), ev.clone()));
        assert!(!matches(json!({"Nested": [{"exists": true}]}), ev.clone()), "exists matches leaves only");
        assert!(matches(json!({"Tags": ["y"]}), ev.clone()), "an array field matches when one element does");
        assert!(matches(json!({"Nested": {"a": {"b": [2]}}}), ev.clone()), "arrays of objects");
        assert!(!matches(json!({"Nested": {"a": {"b": [3]}}}), ev.clone()));
        assert!(matches(json!({"$or": [{"Name": ["Bob"]}, {"Price": [{"numeric": ["<", 20]}]}]}), ev.clone()));
        assert!(!matches(json!({"$or": [{"Name": ["Bob"]}, {"Price": [{"numeric": [">", 20]}]}]}), ev.clone()));
        assert!(!matches(json!({"Name": []}), ev.clone()), "an empty rule list matches nothing");
    }

    #[test]
    fn malformed_patterns_are_refused_with_the_reason() {
        for (p, why) in [
            ("not json", "not JSON"),
            ("[1]", "must be a JSON object"),
            ("{\"a\": \"x\"}", "must be a list of rules"),
            ("{\"a\": [{\"prefix\": 1}]}", "needs a string"),
            ("{\"a\": [{\"numeric\": [\">\", 5, \">\", 6]}]}", "lower bound"),
            ("{\"a\": [{\"numeric\": [\"<\", 5, \">\", 1]}]}", "lower bound"),
            ("{\"a\": [{\"numeric\": [\"!\", 5]}]}", "unknown comparison"),
            ("{\"a\": [{\"numeric\": [\">\"]}]}", "numeric"),
            ("{\"a\": [{\"exists\": \"yes\"}]}", "true or false"),
            ("{\"a\": [{\"bogus\": 1}]}", "unknown operator"),
            ("{\"a\": [{\"prefix\": \"x\", \"suffix\": \"y\"}]}", "exactly one operator"),
            ("{\"a\": [{\"wildcard\": \"a**\"}]}", "consecutive"),
            ("{\"a\": [{\"anything-but\": []}]}", "anything-but"),
            ("{\"$or\": []}", "$or"),
            ("{\"$or\": [1]}", "alternative"),
            ("{\"data\": [\"x\"]}", "data must be a JSON object"),
        ] {
            let e = FilterCriteria::parse(&[p]).unwrap_err();
            assert!(e.0.contains(why), "{p}: {e}");
        }
        let six: Vec<String> = (0..6).map(|_| "{}".to_string()).collect();
        assert!(FilterCriteria::parse(&six).unwrap_err().0.contains("at most 5"));
        let long = format!("{{\"a\": [\"{}\"]}}", "x".repeat(MAX_PATTERN_CHARS));
        assert!(FilterCriteria::parse(&[long]).unwrap_err().0.contains("longer than"));
        let deep = format!("{}{}", "{\"a\":".repeat(40), "[1]".to_string() + &"}".repeat(40));
        assert!(FilterCriteria::parse(&[deep]).unwrap_err().0.contains("deeper"));
    }
}
