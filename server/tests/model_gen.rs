//! The generated constraint tables (`server/src/protocol/model/tables.rs`) against their source,
//! the Kinesis service model of botocore 1.44.18 vendored in `server/model/`:
//!
//! - the generator, re-run with `--check`, would write exactly the checked-in file (catches
//!   hand edits and a changed generator or model);
//! - independently of the generator, every operation's table has the model's members,
//!   `required` flags, types and constraints, for all 57 operations, and the member order
//!   AWS uses (the recorded order of issue #13 for the classic operations, model order
//!   otherwise).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code may panic

mod model_support;

use std::process::Command;

use model_support::{root, vendored_model, Value, RECORDED};
use shardlog_server::protocol::model::tables::{self as model_gen, OPERATIONS};
use shardlog_server::protocol::model::{self, Shape};

#[test]
fn the_generator_would_write_the_checked_in_tables() {
    let python = std::env::var("SHARDLOG_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(root().join("scripts/gen_model.py"))
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("`{python}` could not be run ({e}): this test needs Python 3"));
    assert!(
        out.status.success(),
        "scripts/gen_model.py --check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_tables_name_the_vendored_model() {
    use sha2_check::sha256_hex;
    let bytes = std::fs::read(root().join("server/model/kinesis-2013-12-02.service-2.json")).expect("model");
    assert_eq!(sha256_hex(&bytes), model_gen::MODEL_SHA256);
    assert_eq!(model_gen::BOTOCORE_VERSION, "1.44.18");
}

/// SHA-256 through `sha2` (a dependency of the server crate).
mod sha2_check {
    pub fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[test]
fn every_operation_of_the_model_has_a_table() {
    let doc = vendored_model();
    let m = Value(Some(&doc));
    let ops = m.at("operations").entries();
    assert_eq!(ops.len(), 57);
    assert_eq!(OPERATIONS.len(), ops.len());
    for (name, op) in ops {
        let table = model::operation(name).unwrap_or_else(|| panic!("no table for {name}"));
        assert_eq!(table.has_output, op.get("output").is_some(), "{name}: output");
        let input = op.at("input").at("shape").as_str().expect("input shape");
        assert_eq!(table.input.name(), input, "{name}");
        compare(m, input, table.input, name, Some(name));
    }
}

fn opt_u64(v: Value<'_>, key: &str) -> Option<u64> {
    v.get(key).map(|x| x.as_i128().and_then(|i| u64::try_from(i).ok()).unwrap_or_else(|| panic!("{key}: {x:?}")))
}

fn opt_i64(v: Value<'_>, key: &str) -> Option<i64> {
    v.get(key).map(|x| x.as_i128().and_then(|i| i64::try_from(i).ok()).unwrap_or_else(|| panic!("{key}: {x:?}")))
}

/// Compare the table of shape `name` with the model, recursively.
fn compare(m: Value<'_>, name: &str, table: &Shape, at: &str, op: Option<&str>) {
    let s = m.at("shapes").at(name);
    assert!(s.is_object(), "{at}: shape {name} missing from the model");
    assert_eq!(table.name(), name, "{at}");
    let ty = s.at("type").as_str().expect("type");
    match (ty, table) {
        ("string", Shape::String(t)) => {
            assert_eq!(t.min, opt_u64(s, "min"), "{at}: min");
            assert_eq!(t.max, opt_u64(s, "max"), "{at}: max");
            assert_eq!(t.pattern.map(|p| p.model), s.at("pattern").as_str(), "{at}: pattern");
            let mut want: Vec<&str> = s.at("enum").strings();
            let mut have = t.enum_values.to_vec();
            want.sort_unstable();
            have.sort_unstable();
            assert_eq!(have, want, "{at}: enum values");
        }
        ("integer", Shape::Integer(t)) | ("long", Shape::Long(t)) => {
            assert_eq!(t.min, opt_i64(s, "min"), "{at}: min");
            assert_eq!(t.max, opt_i64(s, "max"), "{at}: max");
        }
        ("boolean", Shape::Boolean(_)) | ("timestamp", Shape::Timestamp(_)) => {}
        ("blob", Shape::Blob(t)) => {
            assert_eq!(t.min, opt_u64(s, "min"), "{at}: min");
            assert_eq!(t.max, opt_u64(s, "max"), "{at}: max");
        }
        ("list", Shape::List(t)) => {
            assert_eq!(t.min, opt_u64(s, "min"), "{at}: min");
            assert_eq!(t.max, opt_u64(s, "max"), "{at}: max");
            let member = s.at("member").at("shape").as_str().expect("member");
            compare(m, member, t.member, &format!("{at}.member"), None);
        }
        ("map", Shape::Map(t)) => {
            assert_eq!(t.min, opt_u64(s, "min"), "{at}: min");
            assert_eq!(t.max, opt_u64(s, "max"), "{at}: max");
            compare(m, s.at("key").at("shape").as_str().expect("key"), t.key, &format!("{at}.key"), None);
            compare(m, s.at("value").at("shape").as_str().expect("value"), t.value, &format!("{at}.value"), None);
        }
        ("structure", Shape::Structure(t)) => {
            let members = s.at("members").entries();
            let required: Vec<&str> = s.at("required").strings();
            let model_order: Vec<&str> = members.iter().map(|(k, _)| *k).collect();
            let recorded: &[&str] =
                op.and_then(|o| RECORDED.iter().find(|(n, _)| *n == o)).map_or(&[], |(_, order)| *order);
            let recorded: &[&str] =
                if name == "PutRecordsRequestEntry" { &["PartitionKey", "ExplicitHashKey", "Data"] } else { recorded };
            let mut want: Vec<&str> = recorded.to_vec();
            want.extend(model_order.iter().filter(|n| !recorded.contains(n)));
            let have: Vec<&str> = t.members.iter().map(|mm| mm.name).collect();
            assert_eq!(have, want, "{at}: member order");
            for mm in t.members {
                assert_eq!(mm.required, required.contains(&mm.name), "{at}.{}: required", mm.name);
                let target = members
                    .iter()
                    .find(|(k, _)| *k == mm.name)
                    .and_then(|(_, v)| v.at("shape").as_str())
                    .expect("member shape");
                compare(m, target, mm.shape, &format!("{at}.{}", mm.name), None);
            }
        }
        (ty, other) => panic!("{at}: model type {ty} but table {other:?}"),
    }
}
