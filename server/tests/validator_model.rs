//! The multi-error validator on every operation of the Kinesis model, with requests and
//! expected messages generated from the vendored model itself (not from the generated tables
//! the validator uses), by an oracle written from AWS's rules:
//!
//! - a request with every required member (and nothing else) passes;
//! - `{}` names every required member `null`, in AWS's member order;
//! - each modelled bound of each member, nested members (`a.b`), list elements
//!   (`records.1.member.x`), list and map elements reported against the whole collection —
//!   one request per violation, the exact message expected;
//! - every member of an operation violated at once: every item in order, the true count, at
//!   most ten items listed.
//!
//! Values the oracle cannot know (the hash AWS prints for a structure) are normalised.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod model_support;

use base64::Engine as _;
use model_support::{vendored_model, Value, RECORDED};
use serde_json::{json, Map, Value as J};
use shardlog_server::protocol::ops;
use shardlog_server::protocol::validate::{self, MAX_ITEMS, MAX_VALUE_CHARS};
use shardlog_server::protocol::wire::{decode_json, Codec, In};

/// Enum value orders AWS prints that differ from the model's (kinesalite
/// test/getShardIterator.js, recorded against AWS).
const RECORDED_ENUMS: &[(&str, &[&str])] = &[(
    "ShardIteratorType",
    &["AFTER_SEQUENCE_NUMBER", "LATEST", "AT_TIMESTAMP", "AT_SEQUENCE_NUMBER", "TRIM_HORIZON"],
)];

/// Strings of a model pattern: `prefix`, then `fill` repeated `min_fill..=max_fill` times,
/// then `suffix` (every string of that form matches, and for the lengths asked here no string
/// of another form does), and one string that does not match.
struct Sample {
    prefix: &'static str,
    fill: char,
    suffix: &'static str,
    min_fill: usize,
    max_fill: Option<usize>,
    bad: &'static str,
}

const fn sample(
    prefix: &'static str,
    fill: char,
    suffix: &'static str,
    min_fill: usize,
    max_fill: Option<usize>,
    bad: &'static str,
) -> Sample {
    Sample { prefix, fill, suffix, min_fill, max_fill, bad }
}

/// Every pattern of the model's inputs. A new pattern fails the tests until it is added.
fn pattern_sample(pattern: &str) -> Sample {
    let stream_arn = "arn:aws:kinesis:us-east-1:123456789012:stream/";
    match pattern {
        "[a-zA-Z0-9_.-]+" => sample("", 'a', "", 1, None, "a/b"),
        r"arn:aws.*:kinesis:.*:\d{12}:stream/\S+" => {
            sample(stream_arn, 'a', "", 1, None, "arn:aws:kinesis:r:1:stream/a")
        }
        r"arn:aws.*:kinesis:.*:\d{12}:queue/\S+" => {
            sample("arn:aws:kinesis:us-east-1:123456789012:queue/", 'a', "", 1, None, "arn:aws:kinesis:r:1:queue/q")
        }
        r"arn:aws.*:kinesis:.*:\d{12}:channel/\S+" => sample(
            "arn:aws:kinesis:us-east-1:123456789012:channel/",
            'a',
            "",
            1,
            None,
            "arn:aws:kinesis:us-east-1:123456789012:channel/a b",
        ),
        r"arn:aws.*:kinesis:.*:\d{12}:.*(stream|channel|queue)/\S+" => {
            sample(stream_arn, 'a', "", 1, None, "arn:aws:kinesis:us-east-1:123456789012:table/a")
        }
        r"^(arn):aws.*:kinesis:.*:\d{12}:.*stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:[0-9]+" => sample(
            "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:",
            '1',
            "",
            1,
            None,
            "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c",
        ),
        "[a-z0-9]{20}-[a-z0-9]{3}" => sample("", 'a', "-aaa", 20, Some(20), "aaaaaaaaaaaaaaaaaaaa_aaa"),
        r"arn:aws[-a-z0-9]*:iam::\d{12}:role/[a-zA-Z_0-9+=,.@\-_/]+" => {
            sample("arn:aws:iam::123456789012:role/", 'a', "", 1, None, "arn:aws:iam::123456789012:user/a")
        }
        r"arn:aws[-a-z0-9]*:glue:[-a-z0-9]+:\d{12}:schema/[-a-zA-Z0-9_$#.]+/[-a-zA-Z0-9_$#.]+" => sample(
            "arn:aws:glue:us-east-1:123456789012:schema/r/",
            'a',
            "",
            1,
            None,
            "arn:aws:glue:us-east-1:123456789012:schema/r",
        ),
        "arn:aws[-a-z0-9]*:s3:::[a-z0-9._-]{3,63}" => sample("arn:aws", 'a', ":s3:::bkt", 0, None, "arn:aws:s3:::b"),
        r"arn:aws[-a-z0-9]*:s3tables:[-a-z0-9]+:\d{12}:bucket/[a-z0-9_-]{3,63}" => sample(
            "arn:aws",
            'a',
            ":s3tables:us-east-1:123456789012:bucket/bkt",
            0,
            None,
            "arn:aws:s3tables:us-east-1:123456789012:bucket/b",
        ),
        r"\d{12}" => sample("", '1', "", 12, Some(12), "12345678901a"),
        r"[0-9A-Za-z!\-_'.*()\/]+" | r"[0-9A-Za-z!\-_'.*()\/=:{}]+" | r"[\.\-_/#A-Za-z0-9]+" => {
            sample("", 'a', "", 1, None, "a b")
        }
        "[0-9a-z_]+" => sample("", 'a', "", 1, None, "A"),
        r"[a-zA-Z0-9\.\_]+" => sample("", 'a', "", 1, None, "a-b"),
        "[^:*]*" => sample("", 'a', "", 0, None, "a:b"),
        r"^(0|([1-9]\d{0,128}))$" => sample("", '1', "", 1, Some(129), "01"),
        r"^(0|([1-9]\d{0,38}))$" => sample("", '1', "", 1, Some(39), "01"),
        other => panic!("no sample for model pattern {other}: add one to pattern_sample"),
    }
}

impl Sample {
    /// A string of `len` characters and whether it matches.
    fn of_len(&self, len: usize) -> (String, bool) {
        let fixed = self.prefix.len() + self.suffix.len();
        let fill = len.checked_sub(fixed);
        match fill {
            Some(f) if f >= self.min_fill && self.max_fill.is_none_or(|m| f <= m) => {
                (format!("{}{}{}", self.prefix, self.fill.to_string().repeat(f), self.suffix), true)
            }
            _ => (self.fill.to_string().repeat(len), false),
        }
    }
}

/// Base64 of `n` zero bytes, written directly (10 MiB of it is encoded several times).
fn zero_bytes_base64(n: usize) -> String {
    let tail = match n % 3 {
        0 => "",
        1 => "AA==",
        _ => "AAA=",
    };
    let s = "AAAA".repeat(n / 3) + tail;
    debug_assert!(n > 1000 || base64::engine::general_purpose::STANDARD.decode(&s).map(|v| v.len()) == Ok(n));
    s
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

fn join(prefix: &str, member: &str) -> String {
    if prefix.is_empty() {
        lower_first(member)
    } else {
        format!("{prefix}.{}", lower_first(member))
    }
}

/// One expected violation.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    value: String,
    path: String,
    constraint: String,
}

impl Item {
    fn text(&self) -> String {
        format!("Value {} at '{}' failed to satisfy constraint: {}", self.value, self.path, self.constraint)
    }
}

/// A value for some member and the violations it must produce.
#[derive(Debug, Clone)]
struct Case {
    value: J,
    items: Vec<Item>,
}

/// The expected message of a list of items.
fn expected_message(items: &[Item]) -> String {
    let n = items.len();
    let shown: Vec<String> = items.iter().take(MAX_ITEMS).map(Item::text).collect();
    format!("{n} validation error{} detected: {}", if n == 1 { "" } else { "s" }, shown.join("; "))
}

fn quote(rendered: &str) -> String {
    if rendered.chars().count() > MAX_VALUE_CHARS {
        format!("'{}...'", rendered.chars().take(MAX_VALUE_CHARS).collect::<String>())
    } else {
        format!("'{rendered}'")
    }
}

/// The hash AWS prints after a structure's class name is not reproducible: zero it.
fn normalise(message: &str) -> String {
    let re = regex::Regex::new(r"(com\.amazonaws\.kinesis\.v20131202\.[A-Za-z0-9]+@)([0-9a-f]{1,8})").expect("regex");
    re.replace_all(message, |c: &regex::Captures<'_>| format!("{}{}", &c[1], "0".repeat(c[2].len()))).into_owned()
}

struct Oracle<'m> {
    shapes: Value<'m>,
}

impl<'m> Oracle<'m> {
    fn shape(&self, name: &str) -> Value<'m> {
        let s = self.shapes.at(name);
        assert!(s.is_object(), "shape {name}");
        s
    }

    fn ty(&self, name: &str) -> &'m str {
        self.shape(name).at("type").as_str().expect("type")
    }

    fn bound(&self, name: &str, key: &str) -> Option<i128> {
        self.shape(name).get(key).and_then(Value::as_i128)
    }

    fn member_target(&self, name: &str, field: &str) -> &'m str {
        self.shape(name).at(field).at("shape").as_str().expect("target")
    }

    /// Members of a structure in the order AWS reports them.
    fn members(&self, name: &str, op: Option<&str>) -> Vec<(&'m str, &'m str, bool)> {
        let s = self.shape(name);
        let required = s.at("required").strings();
        let entries = s.at("members").entries();
        let recorded: &[&str] = match (op, name) {
            (_, "PutRecordsRequestEntry") => &["PartitionKey", "ExplicitHashKey", "Data"],
            (Some(op), _) => RECORDED.iter().find(|(n, _)| *n == op).map_or(&[], |(_, o)| *o),
            _ => &[],
        };
        let mut order: Vec<&str> = recorded.to_vec();
        order.extend(entries.iter().map(|(k, _)| *k).filter(|k| !recorded.contains(k)));
        order
            .into_iter()
            .map(|m| {
                let (key, v) = entries.iter().find(|(k, _)| *k == m).expect("recorded member exists");
                (*key, v.at("shape").as_str().expect("member shape"), required.contains(&m))
            })
            .collect()
    }

    fn enum_values(&self, name: &str) -> Vec<&'m str> {
        let model = self.shape(name).at("enum").strings();
        match RECORDED_ENUMS.iter().find(|(n, _)| *n == name) {
            Some((_, order)) => {
                let mut a = order.to_vec();
                let mut b = model.clone();
                a.sort_unstable();
                b.sort_unstable();
                assert_eq!(a, b, "recorded order of {name} is the model's set");
                order.iter().map(|v| *model.iter().find(|m| *m == v).expect("value")).collect()
            }
            None => model,
        }
    }

    /// A value that satisfies shape `name`.
    fn valid(&self, name: &str) -> J {
        match self.ty(name) {
            "string" => {
                let values = self.enum_values(name);
                if let Some(v) = values.first() {
                    return json!(v);
                }
                let min = self.bound(name, "min").unwrap_or(0) as usize;
                match self.shape(name).at("pattern").as_str() {
                    Some(p) => {
                        let s = pattern_sample(p);
                        let len = (min.max(1)..min.max(1) + 200)
                            .find(|&l| s.of_len(l).1)
                            .unwrap_or_else(|| panic!("no valid length for {name}"));
                        json!(s.of_len(len).0)
                    }
                    None => json!("a".repeat(min.max(1))),
                }
            }
            "integer" | "long" => json!(self.bound(name, "min").unwrap_or(0).max(0)),
            "boolean" => json!(true),
            "timestamp" => json!(0),
            "blob" => json!(""),
            "list" => {
                let n = self.bound(name, "min").unwrap_or(0).max(1) as usize;
                J::Array(vec![self.valid(self.member_target(name, "member")); n])
            }
            "map" => json!({ "k": self.valid(self.member_target(name, "value")) }),
            "structure" => {
                let mut obj = Map::new();
                for (m, target, required) in self.members(name, None) {
                    if required {
                        obj.insert(m.to_string(), self.valid(target));
                    }
                }
                J::Object(obj)
            }
            other => panic!("type {other}"),
        }
    }

    /// How AWS prints a value of shape `name` (before quoting and cutting).
    fn render(&self, name: &str, v: &J) -> String {
        if v.is_null() {
            return "null".into();
        }
        match self.ty(name) {
            "string" => v.as_str().expect("string").to_string(),
            "integer" | "long" | "boolean" => v.to_string(),
            "blob" => {
                let b64 = v.as_str().expect("base64");
                let n = b64.len() / 4 * 3 - b64.bytes().rev().take_while(|&c| c == b'=').count();
                format!("java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]")
            }
            "list" => {
                let e = self.member_target(name, "member");
                let items: Vec<String> = v.as_array().expect("list").iter().map(|i| self.render(e, i)).collect();
                format!("[{}]", items.join(", "))
            }
            "map" => {
                let val = self.member_target(name, "value");
                let items: Vec<String> =
                    v.as_object().expect("map").iter().map(|(k, x)| format!("{k}={}", self.render(val, x))).collect();
                format!("{{{}}}", items.join(", "))
            }
            "structure" => format!("com.amazonaws.kinesis.v20131202.{name}@00000000"),
            other => panic!("render {other}"),
        }
    }

    /// The constraints a string `text` of shape `name` violates, in AWS's order.
    fn string_violations(&self, name: &str, text: &str, matches: bool) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = self.shape(name).at("pattern").as_str() {
            if !matches {
                out.push(format!("Member must satisfy regular expression pattern: {p}"));
            }
        }
        let values = self.enum_values(name);
        if !values.is_empty() && !values.contains(&text) {
            out.push(format!("Member must satisfy enum value set: [{}]", values.join(", ")));
        }
        let len = text.encode_utf16().count() as i128;
        if let Some(min) = self.bound(name, "min").filter(|&m| len < m) {
            out.push(format!("Member must have length greater than or equal to {min}"));
        }
        if let Some(max) = self.bound(name, "max").filter(|&m| len > m) {
            out.push(format!("Member must have length less than or equal to {max}"));
        }
        out
    }

    /// `[...]`: the constraints of an element shape, as AWS lists them.
    fn bracket(&self, name: &str) -> String {
        let mut parts = Vec::new();
        let (max, min) = (self.bound(name, "max"), self.bound(name, "min"));
        let (less, more) = match self.ty(name) {
            "integer" | "long" => ("value less than or equal to", "value greater than or equal to"),
            _ => ("length less than or equal to", "length greater than or equal to"),
        };
        if let Some(max) = max {
            parts.push(format!("Member must have {less} {max}"));
        }
        if let Some(min) = min {
            parts.push(format!("Member must have {more} {min}"));
        }
        if let Some(p) = self.shape(name).at("pattern").as_str() {
            parts.push(format!("Member must satisfy regular expression pattern: {p}"));
        }
        let values = self.enum_values(name);
        if !values.is_empty() {
            parts.push(format!("Member must satisfy enum value set: [{}]", values.join(", ")));
        }
        format!("[{}]", parts.join(", "))
    }

    fn item(&self, name: &str, v: &J, path: &str, constraint: String) -> Item {
        Item { value: quote(&self.render(name, v)), path: path.to_string(), constraint }
    }

    /// Values of shape `name` at `path` that violate it, with their expected items.
    fn cases(&self, name: &str, path: &str) -> Vec<Case> {
        let mut out = Vec::new();
        match self.ty(name) {
            "string" => {
                let pattern = self.shape(name).at("pattern").as_str().map(pattern_sample);
                let mut texts: Vec<(String, bool)> = Vec::new();
                if let Some(s) = &pattern {
                    texts.push((s.bad.to_string(), false));
                }
                if !self.enum_values(name).is_empty() {
                    texts.push(("BOGUS_VALUE".into(), true));
                }
                let of_len = |len: usize| match &pattern {
                    Some(s) => s.of_len(len),
                    None => ("x".repeat(len), true),
                };
                if let Some(min) = self.bound(name, "min").filter(|&m| m > 0) {
                    texts.push(of_len(min as usize - 1));
                }
                if let Some(max) = self.bound(name, "max") {
                    texts.push(of_len(max as usize + 1));
                }
                for (text, matches) in texts {
                    let v = json!(text);
                    let items: Vec<Item> = self
                        .string_violations(name, &text, matches)
                        .into_iter()
                        .map(|c| self.item(name, &v, path, c))
                        .collect();
                    assert!(!items.is_empty(), "{path}: {text:?} violates nothing");
                    out.push(Case { value: v, items });
                }
            }
            "integer" | "long" => {
                if let Some(min) = self.bound(name, "min") {
                    let v = json!(min - 1);
                    let c = format!("Member must have value greater than or equal to {min}");
                    out.push(Case { items: vec![self.item(name, &v, path, c)], value: v });
                }
                if let Some(max) = self.bound(name, "max") {
                    let v = json!(max + 1);
                    let c = format!("Member must have value less than or equal to {max}");
                    out.push(Case { items: vec![self.item(name, &v, path, c)], value: v });
                }
            }
            "blob" => {
                if let Some(max) = self.bound(name, "max") {
                    let v = json!(zero_bytes_base64(max as usize + 1));
                    let c = format!("Member must have length less than or equal to {max}");
                    out.push(Case { items: vec![self.item(name, &v, path, c)], value: v });
                }
            }
            "list" => {
                let e = self.member_target(name, "member");
                let sizes = [
                    self.bound(name, "min").filter(|&m| m > 0).map(|m| (m - 1, "greater than or equal to", m)),
                    self.bound(name, "max").map(|m| (m + 1, "less than or equal to", m)),
                ];
                for (n, rel, bound) in sizes.into_iter().flatten() {
                    let v = J::Array(vec![self.valid(e); n as usize]);
                    let c = format!("Member must have length {rel} {bound}");
                    out.push(Case { items: vec![self.item(name, &v, path, c)], value: v });
                }
                if self.ty(e) == "structure" {
                    for c in self.struct_cases(e, &format!("{path}.1.member"), None) {
                        out.push(Case { value: J::Array(vec![c.value]), items: c.items });
                    }
                } else if let Some(bad) = self.cases(e, "-").into_iter().next() {
                    let v = J::Array(vec![self.valid(e), bad.value]);
                    let c = format!("Member must satisfy constraint: {}", self.bracket(e));
                    out.push(Case { items: vec![self.item(name, &v, path, c)], value: v });
                }
            }
            "map" => {
                let (k, val) = (self.member_target(name, "key"), self.member_target(name, "value"));
                if self.bound(name, "min").is_some_and(|m| m > 0) {
                    let v = json!({});
                    let c = format!(
                        "Member must have length greater than or equal to {}",
                        self.bound(name, "min").unwrap_or(0)
                    );
                    out.push(Case { items: vec![self.item(name, &v, path, c)], value: v });
                }
                if let Some(max) = self.bound(name, "max") {
                    let mut obj = Map::new();
                    for i in 0..=max {
                        let key = format!("k{i}");
                        assert!(self.string_violations(k, &key, true).is_empty(), "{key} is a valid key");
                        obj.insert(key, self.valid(val));
                    }
                    let v = J::Object(obj);
                    let c = format!("Member must have length less than or equal to {max}");
                    out.push(Case { items: vec![self.item(name, &v, path, c)], value: v });
                }
                if let Some(bad) = self.cases(k, "-").into_iter().next() {
                    let mut obj = Map::new();
                    obj.insert(bad.value.as_str().expect("string key").to_string(), self.valid(val));
                    let v = J::Object(obj);
                    let c = format!("Map keys must satisfy constraint: {}", self.bracket(k));
                    out.push(Case { items: vec![self.item(name, &v, path, c)], value: v });
                }
                assert_ne!(self.ty(val), "structure", "maps of structures are not modelled here");
                if let Some(bad) = self.cases(val, "-").into_iter().next() {
                    let v = json!({ "k": bad.value });
                    let c = format!("Map value must satisfy constraint: {}", self.bracket(val));
                    out.push(Case { items: vec![self.item(name, &v, path, c)], value: v });
                }
            }
            "structure" => out = self.struct_cases(name, path, None),
            _ => {}
        }
        out
    }

    /// Objects of structure `name` (at `prefix`) with one member missing or violating.
    fn struct_cases(&self, name: &str, prefix: &str, op: Option<&str>) -> Vec<Case> {
        let base = self.valid(name);
        let J::Object(base) = base else { panic!("{name} is a structure") };
        let mut out = Vec::new();
        for (m, target, required) in self.members(name, op) {
            let path = join(prefix, m);
            if required {
                let mut obj = base.clone();
                obj.remove(m);
                let items = vec![Item {
                    value: "null".into(),
                    path: path.clone(),
                    constraint: "Member must not be null".into(),
                }];
                out.push(Case { value: J::Object(obj), items });
            }
            for c in self.cases(target, &path) {
                let mut obj = base.clone();
                obj.insert(m.to_string(), c.value);
                out.push(Case { value: J::Object(obj), items: c.items });
            }
        }
        out
    }
}

/// The tree the JSON decoder would give for `v` (built directly: some bodies hold 14 MB of
/// base64, and `decode_json` itself is tested elsewhere).
fn to_in(v: &J) -> In {
    match v {
        J::Null => In::Null,
        J::Bool(b) => In::Bool(*b),
        J::Number(n) => n.as_i64().map_or_else(|| In::Float(n.as_f64().unwrap_or_default()), |i| In::Int(i.into())),
        J::String(s) => In::Str(s.clone()),
        J::Array(items) => In::List(items.iter().map(to_in).collect()),
        J::Object(m) => In::Map(m.iter().map(|(k, v)| (k.clone(), to_in(v))).collect()),
    }
}

fn run(op: &str, body: &J) -> Result<(), String> {
    let decoded = to_in(body);
    validate::validate(op, Codec::Json, &decoded).map_err(|e| {
        assert_eq!(e.code, "ValidationException", "{op}: {e:?}");
        normalise(e.message.as_deref().unwrap_or_default())
    })
}

fn with_model(mut f: impl FnMut(&Oracle<'_>, &str, &str)) {
    let doc = vendored_model();
    let root = Value(Some(&doc));
    let oracle = Oracle { shapes: root.at("shapes") };
    let ops = root.at("operations").entries();
    assert_eq!(ops.len(), 57);
    for (op, def) in ops {
        f(&oracle, op, def.at("input").at("shape").as_str().expect("input"));
    }
}

#[test]
fn a_request_with_every_required_member_passes_every_operation() {
    with_model(|o, op, input| {
        let body = o.valid(input);
        let bytes = serde_json::to_vec(&body).expect("encode");
        assert_eq!(decode_json(&bytes).expect("decode"), to_in(&body), "to_in builds what the decoder builds");
        assert_eq!(run(op, &body), Ok(()), "{op}: {body}");
    });
}

#[test]
fn missing_required_members_are_reported_null_in_aws_order() {
    with_model(|o, op, input| {
        let items: Vec<Item> = o
            .members(input, Some(op))
            .into_iter()
            .filter(|(_, _, required)| *required)
            .map(|(m, _, _)| Item {
                value: "null".into(),
                path: lower_first(m),
                constraint: "Member must not be null".into(),
            })
            .collect();
        let got = run(op, &json!({}));
        if items.is_empty() {
            assert_eq!(got, Ok(()), "{op}");
        } else {
            assert_eq!(got, Err(expected_message(&items)), "{op}");
        }
    });
}

#[test]
fn each_bound_of_each_member_gives_its_exact_message() {
    let mut checked = 0usize;
    with_model(|o, op, input| {
        for case in o.struct_cases(input, "", Some(op)) {
            let got = run(op, &case.value);
            assert_eq!(got, Err(expected_message(&case.items)), "{op}");
            checked += 1;
        }
    });
    // Every operation, every bound: the generated cases are many.
    assert!(checked > 300, "only {checked} cases");
}

/// A request of `op` with every member violated (lists of structures with twelve bad
/// elements), and the items AWS lists for it in order; `None` when no member can be.
fn every_member_violated(o: &Oracle<'_>, op: &str, input: &str) -> Option<(J, Vec<Item>)> {
    let J::Object(mut body) = o.valid(input) else { panic!("{op}") };
    let mut items = Vec::new();
    for (m, target, _) in o.members(input, Some(op)) {
        let path = lower_first(m);
        if let Some(case) = o.many_bad_elements(target, &path).or_else(|| o.cases(target, &path).into_iter().next()) {
            body.insert(m.to_string(), case.value);
            items.extend(case.items);
        }
    }
    (!items.is_empty()).then_some((J::Object(body), items))
}

#[test]
fn every_member_violated_at_once_lists_ten_and_counts_all() {
    let mut capped = 0;
    with_model(|o, op, input| {
        let Some((body, items)) = every_member_violated(o, op, input) else { return };
        capped += usize::from(items.len() > MAX_ITEMS);
        assert_eq!(run(op, &body), Err(expected_message(&items)), "{op}");
    });
    assert!(capped >= 5, "only {capped} operations had more than ten violations at once");
}

/// The served operations (all 57 of the model, the 2026 and queue ones included) answer an invalid request with
/// the validator's one `ValidationException`, before any hand-written or engine check: on
/// an engine without streams, anything else would answer about a missing resource or a
/// single member.
#[test]
fn every_served_operation_answers_the_validators_exception_before_the_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = shardlog::Engine::open(dir.path(), shardlog::EngineConfig::default()).expect("open");
    let mut served = 0;
    with_model(|o, op, input| {
        let served_op = ops::Op::from_target(&format!("{}.{op}", ops::SERVICE))
            .unwrap_or_else(|| panic!("{op} is in the model but not served"));
        served += 1;
        let Some((body, items)) = every_member_violated(o, op, input) else {
            assert!(matches!(op, "DescribeLimits" | "DescribeAccountSettings"), "{op} has no member to violate");
            return;
        };
        let e = match served_op {
            ops::Op::SubscribeToShard => ops::subscribe_input(Codec::Json, to_in(&body)).map(|_| ()),
            _ => ops::call(&engine, served_op, Codec::Json, to_in(&body)).map(|_| ()),
        }
        .expect_err(op);
        assert_eq!(e.code, "ValidationException", "{op}: {e:?}");
        assert_eq!(normalise(e.message.as_deref().unwrap_or_default()), expected_message(&items), "{op}");
    });
    assert_eq!(served, 57, "every operation of the model, the 12 queue operations included");
    assert!(engine.list_streams(Default::default()).expect("list").stream_names.is_empty(), "nothing was created");
    let queues = engine.list_queues(Default::default()).expect("list queues");
    assert!(queues.queue_summaries.is_empty(), "no queue was created");
}

impl Oracle<'_> {
    /// For a list of structures: twelve elements, each with a violation (and the list's own
    /// size violation first when twelve is out of bounds).
    fn many_bad_elements(&self, name: &str, path: &str) -> Option<Case> {
        if self.ty(name) != "list" {
            return None;
        }
        let e = self.member_target(name, "member");
        if self.ty(e) != "structure" {
            return None;
        }
        let n = 12usize;
        let mut values = Vec::new();
        let mut element_items = Vec::new();
        for i in 0..n {
            let c = self.struct_cases(e, &format!("{path}.{}.member", i + 1), None).into_iter().next()?;
            values.push(c.value);
            element_items.extend(c.items);
        }
        let v = J::Array(values);
        let mut items = Vec::new();
        if let Some(max) = self.bound(name, "max").filter(|&m| (n as i128) > m) {
            items.push(self.item(name, &v, path, format!("Member must have length less than or equal to {max}")));
        }
        items.extend(element_items);
        Some(Case { value: v, items })
    }
}
