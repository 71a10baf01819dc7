//! The model validator: every request is checked against its operation's input shape
//! ([`model`](super::model)) before anything else looks at it, in two passes.
//!
//! 1. Types, in wire order: a member whose value the deserializer cannot read as its model
//!    type is a `SerializationException` (the first one found; see [`deser`](super::deser)).
//! 2. Constraints, in the model's member order, depth first, collecting every violation into
//!    one `ValidationException`:
//!    `N validation error(s) detected: <item>; <item>…` with at most [`MAX_ITEMS`] items while
//!    `N` counts them all. An item reads `Value <v> at '<path>' failed to satisfy constraint:
//!    <constraint>`.
//!
//! Per member: not-null, then pattern or enum, then minimum length, then maximum length;
//! integers minimum then maximum; collections their size first, then their elements. Lists of
//! structures report element members at `records.1.member.partitionKey` (1-based); element
//! violations of lists of scalars and of map keys and values are one item against the whole
//! collection (`Member must satisfy constraint: [...]`, `Map keys must satisfy constraint:
//! [...]`, `Map value must satisfy constraint: [...]`).
//!
//! Values print as AWS prints them: `null`, `'text'`, integers as the deserializer read them,
//! `'[a, b]'`, `'{k=v, k2=v2}'`, `'java.nio.HeapByteBuffer[pos=0 lim=N cap=N]'`, structures as
//! `'com.amazonaws.kinesis.v20131202.<Shape>@<hash>'` (AWS's hash is Java's `hashCode`; this
//! one is a content hash, so equal entries still print equal).
//!
//! Cost is bounded whatever the input: the walk allocates nothing per value, messages are
//! built for the first [`MAX_ITEMS`] violations only, each rendered value is cut after
//! [`MAX_VALUE_CHARS`] characters (ending in `...`), and a map's distinct keys are counted only
//! up to its maximum size plus one. Counting the true total is a walk over the decoded tree.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::OnceLock;

use super::deser::{self, Kind};
use super::errors::ApiError;
use super::model::tables::PATTERNS;
use super::model::{self, Member, Pattern, Shape, StringShape, StructureShape};
use super::wire::{base64_decoded_len, Codec, In};

/// Most violations listed in one message (AWS's limit).
pub const MAX_ITEMS: usize = 10;
/// Longest rendering of one value, in characters; longer ones are cut and end in `...`.
/// AWS prints values whole; this bound keeps a hostile request's error small.
pub const MAX_VALUE_CHARS: usize = 8192;
/// Package of the classes AWS names when it prints a structure.
const CLASS_PREFIX: &str = "com.amazonaws.kinesis.v20131202.";

/// Check a decoded request body of operation `op` (its wire name) against the model.
/// Operations the model does not know pass (the caller answers them as unknown).
pub fn validate(op: &str, codec: Codec, body: &In) -> Result<(), ApiError> {
    let Some(op) = model::operation(op) else { return Ok(()) };
    validate_operation(op, codec, body)
}

/// Check `body` against `op`'s input shape.
pub fn validate_operation(op: &model::Operation, codec: Codec, body: &In) -> Result<(), ApiError> {
    let members = deser::body_members(body)?;
    let Shape::Structure(shape) = op.input else {
        debug_assert!(false, "{}: input shape is not a structure", op.name);
        return Ok(());
    };
    check_struct_types(codec, shape, members)?;
    let mut report = Report::default();
    let root = Path::Root;
    check_struct(&mut report, codec, shape, members, &root);
    report.finish()
}

// ----------------------------------------------------------------------------------------
// Pass 1: types.

fn kind(shape: &Shape) -> Kind {
    match shape {
        Shape::String(_) => Kind::String,
        Shape::Integer(_) => Kind::Integer,
        Shape::Long(_) => Kind::Long,
        Shape::Boolean(_) => Kind::Boolean,
        Shape::Blob(_) => Kind::Blob,
        Shape::Timestamp(_) => Kind::Timestamp,
        Shape::List(_) => Kind::List,
        Shape::Map(_) => Kind::Map,
        Shape::Structure(_) => Kind::Structure,
    }
}

fn check_struct_types(codec: Codec, shape: &StructureShape, members: &[(String, In)]) -> Result<(), ApiError> {
    for (name, value) in members {
        if let Some(m) = shape.members.iter().find(|m| m.name == name) {
            check_types(codec, m.shape, value)?;
        }
    }
    Ok(())
}

fn check_types(codec: Codec, shape: &Shape, value: &In) -> Result<(), ApiError> {
    if let Some(e) = deser::type_error(kind(shape), codec, value) {
        return Err(e);
    }
    match (shape, deser::untag(value)) {
        (Shape::List(l), In::List(items)) => items.iter().try_for_each(|i| check_types(codec, l.member, i)),
        (Shape::Map(m), In::Map(entries)) => entries.iter().try_for_each(|(_, v)| check_types(codec, m.value, v)),
        (Shape::Structure(s), In::Map(entries)) => check_struct_types(codec, s, entries),
        _ => Ok(()),
    }
}

// ----------------------------------------------------------------------------------------
// Pass 2: constraints.

/// The violations found: the first [`MAX_ITEMS`] rendered, all counted.
#[derive(Default)]
struct Report {
    items: Vec<String>,
    total: usize,
}

impl Report {
    fn push(&mut self, value: &dyn Fn(&mut String), path: &Path<'_>, constraint: &dyn Fn(&mut String)) {
        self.total += 1;
        if self.items.len() >= MAX_ITEMS {
            return;
        }
        let mut item = String::from("Value ");
        value(&mut item);
        item.push_str(" at '");
        path.render(&mut item);
        item.push_str("' failed to satisfy constraint: ");
        constraint(&mut item);
        self.items.push(item);
    }

    fn finish(self) -> Result<(), ApiError> {
        debug_assert!(self.items.len() <= MAX_ITEMS && self.items.len() <= self.total);
        if self.total == 0 {
            return Ok(());
        }
        let plural = if self.total == 1 { "" } else { "s" };
        Err(ApiError::validation(format!(
            "{} validation error{plural} detected: {}",
            self.total,
            self.items.join("; ")
        )))
    }
}

/// Where a value sits: rendered only when a violation is reported.
enum Path<'a> {
    Root,
    Member(&'a Path<'a>, &'static str),
    Element(&'a Path<'a>, usize),
    Entry(&'a Path<'a>, &'a str),
}

impl Path<'_> {
    fn render(&self, out: &mut String) {
        let sep = |out: &mut String, parent: &Path<'_>| {
            parent.render(out);
            if !matches!(parent, Path::Root) {
                out.push('.');
            }
        };
        match self {
            Path::Root => {}
            Path::Member(parent, name) => {
                sep(out, parent);
                lower_first(name, out);
            }
            Path::Element(parent, index) => {
                parent.render(out);
                let _ = write!(out, ".{}.member", index + 1);
            }
            Path::Entry(parent, key) => {
                parent.render(out);
                let _ = write!(out, ".{key}");
            }
        }
    }
}

fn lower_first(name: &str, out: &mut String) {
    let mut chars = name.chars();
    if let Some(c) = chars.next() {
        out.extend(c.to_lowercase());
        out.push_str(chars.as_str());
    }
}

/// The member `name` of a wire structure (the last one when repeated; `null` is absent).
fn lookup<'a>(members: &'a [(String, In)], name: &str) -> Option<&'a In> {
    members.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v).filter(|v| !matches!(v, In::Null))
}

fn check_struct(report: &mut Report, codec: Codec, shape: &StructureShape, members: &[(String, In)], at: &Path<'_>) {
    for m in shape.members {
        let path = Path::Member(at, m.name);
        check_member(report, codec, m, lookup(members, m.name), &path);
    }
}

fn check_member(report: &mut Report, codec: Codec, m: &Member, value: Option<&In>, path: &Path<'_>) {
    match value {
        None if m.required => report.push(&|o| o.push_str("null"), path, &|o| o.push_str("Member must not be null")),
        None => {}
        Some(v) => check_value(report, codec, m.shape, v, path),
    }
}

fn check_value(report: &mut Report, codec: Codec, shape: &Shape, value: &In, path: &Path<'_>) {
    let value = deser::untag(value);
    let shown = |o: &mut String| render_quoted(codec, shape, value, o);
    match shape {
        Shape::String(s) => {
            let In::Str(text) = value else { return };
            for c in string_violations(s, text) {
                report.push(&shown, path, &|o| c.render(o));
            }
        }
        Shape::Integer(s) | Shape::Long(s) => {
            let n = match shape {
                Shape::Long(_) => deser::long_value(value),
                _ => deser::int_value(value),
            };
            let Some(n) = n else { return };
            if let Some(min) = s.min.filter(|&min| n < min) {
                report.push(&shown, path, &|o| {
                    let _ = write!(o, "Member must have value greater than or equal to {min}");
                });
            }
            if let Some(max) = s.max.filter(|&max| n > max) {
                report.push(&shown, path, &|o| {
                    let _ = write!(o, "Member must have value less than or equal to {max}");
                });
            }
        }
        Shape::Blob(b) => {
            let Some(len) = blob_len(value) else { return };
            length_bounds(report, &shown, path, len, b.min, b.max);
        }
        Shape::List(l) => {
            let In::List(items) = value else { return };
            length_bounds(report, &shown, path, items.len() as u64, l.min, l.max);
            match l.member {
                Shape::Structure(s) => {
                    for (i, item) in items.iter().enumerate() {
                        let In::Map(members) = deser::untag(item) else { continue };
                        check_struct(report, codec, s, members, &Path::Element(path, i));
                    }
                }
                element => {
                    if items.iter().any(|i| !element_ok(element, i)) {
                        report.push(&shown, path, &|o| {
                            o.push_str("Member must satisfy constraint: ");
                            element_constraints(element, o);
                        });
                    }
                }
            }
        }
        Shape::Map(m) => {
            let In::Map(entries) = value else { return };
            let size = distinct_keys(entries, m.max.map_or(u64::MAX, |x| x.saturating_add(1)));
            length_bounds(report, &shown, path, size, m.min, m.max);
            if entries.iter().any(|(k, _)| !string_ok(m.key, k)) {
                report.push(&shown, path, &|o| {
                    o.push_str("Map keys must satisfy constraint: ");
                    element_constraints(m.key, o);
                });
            }
            match m.value {
                Shape::Structure(s) => {
                    for (k, v) in entries {
                        let In::Map(members) = deser::untag(v) else { continue };
                        check_struct(report, codec, s, members, &Path::Entry(path, k));
                    }
                }
                element => {
                    if entries.iter().any(|(_, v)| !element_ok(element, v)) {
                        report.push(&shown, path, &|o| {
                            o.push_str("Map value must satisfy constraint: ");
                            element_constraints(element, o);
                        });
                    }
                }
            }
        }
        Shape::Structure(s) => {
            let In::Map(members) = value else { return };
            check_struct(report, codec, s, members, path);
        }
        Shape::Boolean(_) | Shape::Timestamp(_) => {}
    }
}

fn length_bounds(
    report: &mut Report,
    shown: &dyn Fn(&mut String),
    path: &Path<'_>,
    len: u64,
    min: Option<u64>,
    max: Option<u64>,
) {
    if let Some(min) = min.filter(|&m| len < m) {
        report.push(shown, path, &|o| {
            let _ = write!(o, "Member must have length greater than or equal to {min}");
        });
    }
    if let Some(max) = max.filter(|&m| len > m) {
        report.push(shown, path, &|o| {
            let _ = write!(o, "Member must have length less than or equal to {max}");
        });
    }
}

/// Distinct keys of a map, counted up to `cap` (a duplicate key is one entry, the last
/// value winning, as the operations read it).
fn distinct_keys(entries: &[(String, In)], cap: u64) -> u64 {
    let mut seen: HashSet<&str> = HashSet::new();
    for (k, _) in entries {
        seen.insert(k.as_str());
        if seen.len() as u64 >= cap {
            break;
        }
    }
    seen.len() as u64
}

/// A string constraint that can fail.
enum StringViolation<'a> {
    Pattern(&'a str),
    Enum(&'a [&'a str]),
    MinLength(u64),
    MaxLength(u64),
}

impl StringViolation<'_> {
    fn render(&self, o: &mut String) {
        match self {
            StringViolation::Pattern(p) => {
                let _ = write!(o, "Member must satisfy regular expression pattern: {p}");
            }
            StringViolation::Enum(values) => {
                let _ = write!(o, "Member must satisfy enum value set: [{}]", values.join(", "));
            }
            StringViolation::MinLength(n) => {
                let _ = write!(o, "Member must have length greater than or equal to {n}");
            }
            StringViolation::MaxLength(n) => {
                let _ = write!(o, "Member must have length less than or equal to {n}");
            }
        }
    }
}

/// The violations of one string value, in AWS's order: pattern or enum, minimum length,
/// maximum length.
fn string_violations<'s>(s: &'s StringShape, text: &str) -> impl Iterator<Item = StringViolation<'s>> {
    let pattern = s.pattern.filter(|p| !pattern_matches(p, text)).map(|p| StringViolation::Pattern(p.model));
    let enumeration =
        (!s.enum_values.is_empty() && !s.enum_values.contains(&text)).then_some(StringViolation::Enum(s.enum_values));
    let len = java_len(text);
    let min = s.min.filter(|&m| len < m).map(StringViolation::MinLength);
    let max = s.max.filter(|&m| len > m).map(StringViolation::MaxLength);
    pattern.into_iter().chain(enumeration).chain(min).chain(max)
}

/// Length as AWS counts a string: UTF-16 code units (Java's `String.length()`).
fn java_len(s: &str) -> u64 {
    s.chars().map(|c| c.len_utf16() as u64).sum()
}

fn string_ok(shape: &Shape, text: &str) -> bool {
    match shape {
        Shape::String(s) => string_violations(s, text).next().is_none(),
        _ => true,
    }
}

/// Whether one element of a list of scalars (or one map value) satisfies its shape. A
/// `null` element does not.
fn element_ok(shape: &Shape, value: &In) -> bool {
    let value = deser::untag(value);
    match (shape, value) {
        (_, In::Null) => false,
        (Shape::String(_), In::Str(s)) => string_ok(shape, s),
        (Shape::Integer(s) | Shape::Long(s), v) => {
            let n = if matches!(shape, Shape::Long(_)) { deser::long_value(v) } else { deser::int_value(v) };
            n.is_none_or(|n| s.min.is_none_or(|m| n >= m) && s.max.is_none_or(|m| n <= m))
        }
        (Shape::Blob(b), v) => blob_len(v).is_none_or(|n| b.min.is_none_or(|m| n >= m) && b.max.is_none_or(|m| n <= m)),
        _ => true,
    }
}

/// The constraints of an element shape as AWS lists them inside `[...]`: maximum length,
/// minimum length, pattern, enum; maximum value, minimum value.
fn element_constraints(shape: &Shape, o: &mut String) {
    let mut parts: Vec<String> = Vec::new();
    match shape {
        Shape::String(s) => {
            if let Some(max) = s.max {
                parts.push(format!("Member must have length less than or equal to {max}"));
            }
            if let Some(min) = s.min {
                parts.push(format!("Member must have length greater than or equal to {min}"));
            }
            if let Some(p) = s.pattern {
                parts.push(format!("Member must satisfy regular expression pattern: {}", p.model));
            }
            if !s.enum_values.is_empty() {
                parts.push(format!("Member must satisfy enum value set: [{}]", s.enum_values.join(", ")));
            }
        }
        Shape::Integer(s) | Shape::Long(s) => {
            if let Some(max) = s.max {
                parts.push(format!("Member must have value less than or equal to {max}"));
            }
            if let Some(min) = s.min {
                parts.push(format!("Member must have value greater than or equal to {min}"));
            }
        }
        Shape::Blob(b) => {
            if let Some(max) = b.max {
                parts.push(format!("Member must have length less than or equal to {max}"));
            }
            if let Some(min) = b.min {
                parts.push(format!("Member must have length greater than or equal to {min}"));
            }
        }
        _ => {}
    }
    let _ = write!(o, "[{}]", parts.join(", "));
}

/// A blob's length. Base64 text was checked by the type pass; its length follows from its
/// size and padding (re-checking it would scan every blob twice).
fn blob_len(value: &In) -> Option<u64> {
    match deser::untag(value) {
        In::Bytes(b) => Some(b.len() as u64),
        In::Str(s) => {
            debug_assert!(base64_decoded_len(s).is_ok(), "pass 1 accepted only valid base64");
            let pad = s.bytes().rev().take_while(|&b| b == b'=').count().min(2);
            Some((s.len() / 4 * 3).saturating_sub(pad) as u64)
        }
        _ => None,
    }
}

// ----------------------------------------------------------------------------------------
// Patterns.

static COMPILED: [OnceLock<Option<regex::Regex>>; PATTERNS.len()] = [const { OnceLock::new() }; PATTERNS.len()];

/// Whether `text` matches the whole of model pattern `p`.
pub fn pattern_matches(p: &Pattern, text: &str) -> bool {
    let Some(slot) = COMPILED.get(p.id) else {
        debug_assert!(false, "pattern id {} out of range", p.id);
        return true;
    };
    let compiled = slot.get_or_init(|| {
        let r = regex::RegexBuilder::new(p.regex).size_limit(1 << 24).build();
        debug_assert!(r.is_ok(), "model pattern {} does not compile: {:?}", p.model, r.as_ref().err());
        r.ok()
    });
    // A pattern that does not compile (never: a test compiles every one) accepts everything
    // rather than refusing every request.
    compiled.as_ref().is_none_or(|r| r.is_match(text))
}

// ----------------------------------------------------------------------------------------
// Rendering values.

/// A bounded writer: stops taking text after [`MAX_VALUE_CHARS`] characters.
struct Bounded<'a> {
    out: &'a mut String,
    left: usize,
    cut: bool,
}

impl Bounded<'_> {
    fn push(&mut self, s: &str) {
        if self.cut {
            return;
        }
        for c in s.chars() {
            if self.left == 0 {
                self.cut = true;
                return;
            }
            self.out.push(c);
            self.left -= 1;
        }
    }

    fn full(&self) -> bool {
        self.cut
    }
}

/// `'<value>'`, or `null`.
fn render_quoted(codec: Codec, shape: &Shape, value: &In, out: &mut String) {
    if matches!(value, In::Null) {
        out.push_str("null");
        return;
    }
    out.push('\'');
    let mut w = Bounded { out, left: MAX_VALUE_CHARS, cut: false };
    render(codec, shape, value, &mut w);
    let cut = w.cut;
    if cut {
        out.push_str("...");
    }
    out.push('\'');
}

fn render(codec: Codec, shape: &Shape, value: &In, w: &mut Bounded<'_>) {
    let value = deser::untag(value);
    if matches!(value, In::Null) {
        w.push("null");
        return;
    }
    match shape {
        Shape::String(_) => {
            if let In::Str(s) = value {
                w.push(s);
            }
        }
        Shape::Integer(_) => w.push(&deser::int_value(value).unwrap_or_default().to_string()),
        Shape::Long(_) => w.push(&deser::long_value(value).unwrap_or_default().to_string()),
        Shape::Boolean(_) => w.push(if matches!(value, In::Bool(true)) { "true" } else { "false" }),
        Shape::Blob(_) => {
            let n = blob_len(value).unwrap_or_default();
            w.push(&format!("java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]"));
        }
        Shape::Timestamp(_) => {
            if let Ok(t) = deser::to_timestamp(codec, value.clone()) {
                w.push(&shardlog::kinesis::messages::UtcDate(t.0).to_string());
            }
        }
        Shape::List(l) => {
            let In::List(items) = value else { return };
            w.push("[");
            for (i, item) in items.iter().enumerate() {
                if w.full() {
                    return;
                }
                if i > 0 {
                    w.push(", ");
                }
                render(codec, l.member, item, w);
            }
            w.push("]");
        }
        Shape::Map(m) => {
            let In::Map(entries) = value else { return };
            w.push("{");
            for (i, (k, v)) in entries.iter().enumerate() {
                if w.full() {
                    return;
                }
                if i > 0 {
                    w.push(", ");
                }
                w.push(k);
                w.push("=");
                render(codec, m.value, v, w);
            }
            w.push("}");
        }
        Shape::Structure(s) => {
            w.push(CLASS_PREFIX);
            w.push(s.name);
            w.push(&format!("@{:08x}", content_hash(value)));
        }
    }
}

/// FNV-1a over a value's content (stands in for Java's `hashCode` of a structure).
fn content_hash(value: &In) -> u32 {
    fn feed(h: &mut u32, bytes: &[u8]) {
        for &b in bytes {
            *h ^= u32::from(b);
            *h = h.wrapping_mul(0x0100_0193);
        }
    }
    fn walk(h: &mut u32, v: &In) {
        match v {
            In::Null => feed(h, b"n"),
            In::Bool(b) => feed(h, if *b { b"t" } else { b"f" }),
            In::Int(i) => feed(h, &i.to_le_bytes()),
            In::Float(f) => feed(h, &f.to_le_bytes()),
            In::Str(s) => feed(h, s.as_bytes()),
            In::Bytes(b) => feed(h, b),
            In::Tag(t, inner) => {
                feed(h, &t.to_le_bytes());
                walk(h, inner);
            }
            In::List(items) => items.iter().for_each(|i| walk(h, i)),
            In::Map(members) => members.iter().for_each(|(k, v)| {
                feed(h, k.as_bytes());
                walk(h, v);
            }),
        }
    }
    let mut h = 0x811c_9dc5;
    walk(&mut h, value);
    h
}

#[cfg(test)]
mod tests;
