#!/usr/bin/env python3
"""Generate the request-constraint tables of `shardlog serve` from the Kinesis service model.

Input: the model that ships in botocore (PyPI), `botocore/data/kinesis/2013-12-02/service-2.json`,
vendored as `server/model/kinesis-2013-12-02.service-2.json` (botocore BOTOCORE_VERSION, sha256
MODEL_SHA256 below). Output: `server/src/protocol/model/tables.rs`, one static per shape reachable
from an operation's input and the table of every operation (see `server/src/protocol/model.rs`
for the types).

    python3 scripts/gen_model.py            # regenerate model/tables.rs from the vendored model
    python3 scripts/gen_model.py --check    # exit 1 if model/tables.rs is not what it would write
    python3 scripts/gen_model.py --fetch    # download botocore BOTOCORE_VERSION with pip and
                                            # check that the vendored model is its model

`server/tests/model_gen.rs` runs `--check` and compares the tables to the vendored model in Rust.

What the model does not say, and where it comes from here:
- The order AWS reports members in. For the operations kinesalite recorded against AWS
  (RECORDED_MEMBER_ORDER) that recorded order comes first, the members the recording predates
  follow in model order; every other operation and every nested structure uses model order.
- The order enum values are printed in: model order, except RECORDED_ENUM_ORDER.
- Java regular expressions are translated to the `regex` crate's syntax (java_to_rust_regex).
"""

import argparse
import gzip
import hashlib
import io
import json
import pathlib
import subprocess
import sys
import tempfile
import zipfile

BOTOCORE_VERSION = "1.44.18"
MODEL_PATH_IN_WHEEL = "botocore/data/kinesis/2013-12-02/service-2.json"
MODEL_SHA256 = "a6e520a0638d45d21247f68e3a65f9b9a1b4c4ba13cb03b5f587814eb5f7e864"

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENDORED = ROOT / "server" / "model" / "kinesis-2013-12-02.service-2.json"
OUTPUT = ROOT / "server" / "src" / "protocol" / "model" / "tables.rs"

# Member order of the operations whose validation messages kinesalite's tests recorded against
# AWS (test/*.js of mhart/kinesalite), as issue #13 lists them.
RECORDED_MEMBER_ORDER = {
    "CreateStream": ["ShardCount", "StreamName"],
    "AddTagsToStream": ["Tags", "StreamName"],
    "RemoveTagsFromStream": ["TagKeys", "StreamName"],
    "IncreaseStreamRetentionPeriod": ["RetentionPeriodHours", "StreamName"],
    "DecreaseStreamRetentionPeriod": ["RetentionPeriodHours", "StreamName"],
    "DescribeStream": ["Limit", "ExclusiveStartShardId", "StreamName"],
    "GetRecords": ["Limit", "ShardIterator"],
    "GetShardIterator": ["ShardId", "ShardIteratorType", "StartingSequenceNumber", "StreamName", "Timestamp"],
    "ListShards": ["ExclusiveStartShardId", "MaxResults", "NextToken", "StreamCreationTimestamp", "StreamName"],
    "ListStreams": ["Limit", "ExclusiveStartStreamName"],
    "ListTagsForStream": ["Limit", "ExclusiveStartTagKey", "StreamName"],
    "MergeShards": ["ShardToMerge", "AdjacentShardToMerge", "StreamName"],
    "PutRecord": ["SequenceNumberForOrdering", "PartitionKey", "ExplicitHashKey", "Data", "StreamName"],
    "PutRecords": ["Records", "StreamName"],
    "SplitShard": ["NewStartingHashKey", "StreamName", "ShardToSplit"],
}
# The same for nested structures (by shape name).
RECORDED_STRUCTURE_ORDER = {
    "PutRecordsRequestEntry": ["PartitionKey", "ExplicitHashKey", "Data"],
}
# Enum value order AWS prints (kinesalite test/getShardIterator.js).
RECORDED_ENUM_ORDER = {
    "ShardIteratorType": ["AFTER_SEQUENCE_NUMBER", "LATEST", "AT_TIMESTAMP", "AT_SEQUENCE_NUMBER", "TRIM_HORIZON"],
}

SIMPLE_TYPES = {"string", "integer", "long", "boolean", "blob", "timestamp", "list", "map", "structure"}

# Java's \s: [ \t\n\x0B\f\r]; `.`: anything but Java's line terminators.
JAVA_SPACE = r"\t\n\x0B\x0C\r "
JAVA_DOT = r"[^\n\r\x{85}\x{2028}\x{2029}]"
# Characters that keep their backslash in `regex` syntax; other escaped punctuation is
# written literally.
RUST_META_OUTSIDE = set(".+*?()|[]{}^$\\#&-~")
RUST_META_INSIDE = set("\\-[]^&~")


def java_to_rust_regex(pattern):
    """The Java pattern as a `regex` crate pattern matching the same whole strings."""
    out = []
    in_class = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern):
                raise ValueError(f"dangling backslash in {pattern!r}")
            e = pattern[i + 1]
            i += 2
            if e == "d":
                out.append("0-9" if in_class else "[0-9]")
            elif e == "w":
                out.append("a-zA-Z0-9_" if in_class else "[a-zA-Z0-9_]")
            elif e in "sS":
                if in_class:
                    raise ValueError(f"\\{e} inside a class is not translated: {pattern!r}")
                out.append(("[" if e == "s" else "[^") + JAVA_SPACE + "]")
            elif e.isalnum():
                raise ValueError(f"escape \\{e} is not translated: {pattern!r}")
            else:
                meta = RUST_META_INSIDE if in_class else RUST_META_OUTSIDE
                out.append("\\" + e if e in meta else e)
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif c == "[":
                raise ValueError(f"nested class in {pattern!r}")
            out.append(c)
        elif c == "[":
            in_class = True
            out.append(c)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
        elif c == ".":
            out.append(JAVA_DOT)
        else:
            out.append(c)
        i += 1
    if in_class:
        raise ValueError(f"unterminated class in {pattern!r}")
    return "^(?:" + "".join(out) + ")$"


def rust_str(s):
    """A Rust string literal (raw when it has backslashes or quotes)."""
    if "\\" in s or '"' in s:
        hashes = "#"
        while '"' + hashes in s:
            hashes += "#"
        return "r" + hashes + '"' + s + '"' + hashes
    return '"' + s + '"'


def screaming(name):
    """`StreamARN` → `STREAM_ARN`, `MaxRecordSizeInKiB` → `MAX_RECORD_SIZE_IN_KIB`."""
    name = name.replace("KiB", "Kib")
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.upper())
    return "".join(out)


def opt(v):
    return "None" if v is None else f"Some({v})"


class Generator:
    def __init__(self, model):
        self.model = model
        self.shapes = model["shapes"]
        self.statics = {}  # static name -> Rust item text
        self.order = []  # static names in emission order
        self.patterns = []  # (static name, model pattern)
        self.pattern_ids = {}

    def pattern(self, p):
        if p not in self.pattern_ids:
            name = f"PATTERN_{len(self.patterns)}"
            self.pattern_ids[p] = name
            self.patterns.append((name, p))
        return self.pattern_ids[p]

    def ordered_members(self, shape_name, members, op=None):
        names = list(members)
        first = RECORDED_MEMBER_ORDER.get(op, []) if op else RECORDED_STRUCTURE_ORDER.get(shape_name, [])
        for n in first:
            if n not in names:
                raise ValueError(f"recorded member {n} is not in {shape_name}")
        return first + [n for n in names if n not in first]

    def emit(self, shape_name, op=None):
        """Emit the static of `shape_name` (and everything it references); return its name."""
        static = screaming(shape_name)
        if static in self.statics:
            if op is not None:
                raise ValueError(f"input shape {shape_name} of {op} is used elsewhere too")
            return static
        self.statics[static] = None  # reserve (cycles)
        s = self.shapes[shape_name]
        t = s["type"]
        if t not in SIMPLE_TYPES:
            raise ValueError(f"{shape_name}: unsupported type {t}")
        n = rust_str(shape_name)
        if t == "string":
            pat = s.get("pattern")
            pat_ref = f"Some(&{self.pattern(pat)})" if pat is not None else "None"
            values = s.get("enum", [])
            recorded = RECORDED_ENUM_ORDER.get(shape_name)
            if recorded is not None:
                if sorted(recorded) != sorted(values):
                    raise ValueError(f"recorded enum order of {shape_name} does not match the model")
                values = recorded
            enum = "&[" + ", ".join(rust_str(v) for v in values) + "]"
            body = (
                f"Shape::String(StringShape {{ name: {n}, min: {opt(s.get('min'))}, max: {opt(s.get('max'))}, "
                f"pattern: {pat_ref}, enum_values: {enum} }})"
            )
        elif t in ("integer", "long"):
            kind = "Integer" if t == "integer" else "Long"
            body = f"Shape::{kind}(IntegerShape {{ name: {n}, min: {opt(s.get('min'))}, max: {opt(s.get('max'))} }})"
        elif t == "boolean":
            body = f"Shape::Boolean({n})"
        elif t == "timestamp":
            body = f"Shape::Timestamp({n})"
        elif t == "blob":
            body = f"Shape::Blob(BlobShape {{ name: {n}, min: {opt(s.get('min'))}, max: {opt(s.get('max'))} }})"
        elif t == "list":
            member = self.emit(s["member"]["shape"])
            body = (
                f"Shape::List(ListShape {{ name: {n}, min: {opt(s.get('min'))}, max: {opt(s.get('max'))}, "
                f"member: &{member} }})"
            )
        elif t == "map":
            key = self.emit(s["key"]["shape"])
            value = self.emit(s["value"]["shape"])
            body = (
                f"Shape::Map(MapShape {{ name: {n}, min: {opt(s.get('min'))}, max: {opt(s.get('max'))}, "
                f"key: &{key}, value: &{value} }})"
            )
        else:
            required = set(s.get("required", []))
            members = []
            for m in self.ordered_members(shape_name, s.get("members", {}), op):
                target = self.emit(s["members"][m]["shape"])
                req = "true" if m in required else "false"
                members.append(f"        Member {{ name: {rust_str(m)}, required: {req}, shape: &{target} }},")
            inner = "\n".join(members)
            members_text = "&[\n" + inner + "\n    ]" if members else "&[]"
            body = f"Shape::Structure(StructureShape {{\n    name: {n},\n    members: {members_text},\n}})"
        doc = f"/// `{shape_name}`" + (f" (input of `{op}`, members in validation order)." if op else ".")
        self.statics[static] = f"{doc}\npub static {static}: Shape = {body};"
        self.order.append(static)
        return static

    def generate(self, model_sha256):
        ops = []
        for op_name in sorted(self.model["operations"]):
            op = self.model["operations"][op_name]
            if "input" not in op:
                raise ValueError(f"{op_name} has no input shape")
            input_static = self.emit(op["input"]["shape"], op_name)
            has_output = "true" if "output" in op else "false"
            ops.append(
                f"    Operation {{ name: {rust_str(op_name)}, input: &{input_static}, has_output: {has_output} }},"
            )
        for op_name in RECORDED_MEMBER_ORDER:
            if op_name not in self.model["operations"]:
                raise ValueError(f"recorded operation {op_name} is not in the model")
        lines = [
            "// @generated by scripts/gen_model.py — do not edit; run `python3 scripts/gen_model.py`.",
            f"// Source: botocore {BOTOCORE_VERSION} {MODEL_PATH_IN_WHEEL}",
            "// (vendored as server/model/kinesis-2013-12-02.service-2.json),",
            f"// sha256 {model_sha256}.",
            "",
            "//! The Kinesis model's input shapes and operations (generated; the types are the parent module's).",
            "",
            "#![allow(clippy::all)]",
            "",
            "use super::*;",
            "",
            "/// The botocore release the tables were generated from.",
            f'pub const BOTOCORE_VERSION: &str = "{BOTOCORE_VERSION}";',
            "/// SHA-256 of the model file the tables were generated from.",
            f'pub const MODEL_SHA256: &str = "{model_sha256}";',
            "",
        ]
        for name, p in self.patterns:
            idx = int(name.split("_")[1])
            lines.append(f"/// Model pattern `{p}`.")
            lines.append(
                f"pub static {name}: Pattern = Pattern {{ id: {idx}, model: {rust_str(p)}, "
                f"regex: {rust_str(java_to_rust_regex(p))} }};"
            )
        lines.append("")
        lines.append("/// Every pattern, by `Pattern::id`.")
        lines.append(f"pub static PATTERNS: [&Pattern; {len(self.patterns)}] = [")
        for name, _ in self.patterns:
            lines.append(f"    &{name},")
        lines.append("];")
        lines.append("")
        for static in self.order:
            lines.append(self.statics[static])
            lines.append("")
        lines.append(f"/// Every operation of the model ({len(ops)}), by name.")
        lines.append(f"pub static OPERATIONS: [Operation; {len(ops)}] = [")
        lines.extend(ops)
        lines.append("];")
        return "\n".join(lines) + "\n"


def load_model(path):
    data = path.read_bytes()
    return data, json.loads(data)


def fetch_model():
    """Download botocore BOTOCORE_VERSION with pip and return its Kinesis model bytes."""
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, "-m", "pip", "download", f"botocore=={BOTOCORE_VERSION}", "--no-deps", "-d", d]
        subprocess.run(cmd, check=True)
        wheels = list(pathlib.Path(d).glob("botocore-*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one botocore wheel in {d}, found {wheels}")
        with zipfile.ZipFile(wheels[0]) as z:
            names = set(z.namelist())
            if MODEL_PATH_IN_WHEEL in names:
                return z.read(MODEL_PATH_IN_WHEEL)
            return gzip.decompress(z.read(MODEL_PATH_IN_WHEEL + ".gz"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="fail if the generated file is out of date")
    ap.add_argument("--fetch", action="store_true", help="check the vendored model against PyPI's botocore")
    ap.add_argument("--model", type=pathlib.Path, default=VENDORED, help="model file to read")
    args = ap.parse_args()

    if args.fetch:
        fetched = fetch_model()
        vendored = VENDORED.read_bytes()
        if fetched != vendored:
            raise SystemExit(f"{VENDORED} differs from botocore {BOTOCORE_VERSION}'s {MODEL_PATH_IN_WHEEL}")
        print(f"{VENDORED.relative_to(ROOT)} is botocore {BOTOCORE_VERSION}'s model")

    raw, model = load_model(args.model)
    digest = hashlib.sha256(raw).hexdigest()
    if args.model == VENDORED and digest != MODEL_SHA256:
        raise SystemExit(f"{VENDORED} has sha256 {digest}, not botocore {BOTOCORE_VERSION}'s {MODEL_SHA256}")
    text = Generator(model).generate(digest)
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            sys.stderr.write(f"{OUTPUT.relative_to(ROOT)} is out of date: run python3 scripts/gen_model.py\n")
            sys.exit(1)
        print(f"{OUTPUT.relative_to(ROOT)} is up to date")
        return
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(model['operations'])} operations)")


if __name__ == "__main__":
    main()
