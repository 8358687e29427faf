//! `c1-pipeline test`: Vector's `[[tests]]` run through the real transforms, in the three
//! configuration formats; passing and failing runs, the explanation a failure prints, and the
//! configuration errors of a test that cannot run. `validate` and a normal run ignore
//! `[[tests]]`.

#[path = "common/process.rs"]
mod process;

use std::path::{Path, PathBuf};
use std::process::Output;

use process::c1_pipeline;

/// sysexits `EX_CONFIG`: what `vector test` exits with when a test fails, as here.
const EXIT_CONFIG: i32 = 78;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vector-configs/unit-tests")
}

fn test_files(files: &[&Path]) -> Output {
    c1_pipeline().arg("test").args(files).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes `text` as `name` in a fresh folder.
fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn vector_behaviour_tests_pass() {
    let mut count = 0;
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let path = entry.unwrap().path();
        let output = test_files(&[&path]);
        assert!(
            output.status.success(),
            "{}:\n{}{}",
            path.display(),
            stdout(&output),
            stderr(&output)
        );
        assert!(stdout(&output).starts_with("Running tests\n"));
        assert!(!stdout(&output).contains("failed"), "{}", stdout(&output));
        count += 1;
    }
    assert!(count >= 2);
}

/// A whole pipeline with its tests, in JSON: `validate` ignores the tests, `test` runs them
/// (log inputs with path keys, `extract_from` lists, `no_outputs_from`).
const PIPELINE_JSON: &str = r#"{
  "sources": {"in": {"type": "stdin"}},
  "transforms": {
    "tag": {"type": "remap", "inputs": ["in"], "source": ".owner = upcase!(.app.owner)"},
    "no_reads": {"type": "filter", "inputs": ["tag"], "condition": ".activity_id != 2"}
  },
  "sinks": {"out": {"type": "console", "inputs": ["no_reads"], "encoding": {"codec": "json"}}},
  "tests": [
    {
      "name": "writes pass with their owner",
      "inputs": [{"insert_at": "tag", "type": "log",
                  "log_fields": {"activity_id": 1, "app.owner": "alice"}}],
      "outputs": [{"extract_from": ["no_reads"], "conditions": [
        {"type": "vrl", "source": "assert_eq!(.owner, \"ALICE\")\nassert_eq!(.app, {\"owner\": \"alice\"})"}
      ]}]
    },
    {
      "name": "reads are dropped",
      "inputs": [{"insert_at": "tag", "type": "log", "log_fields": {"activity_id": 2, "app.owner": "bob"}}],
      "no_outputs_from": ["no_reads"]
    }
  ]
}"#;

#[test]
fn a_pipeline_with_tests_validates_and_its_tests_pass() {
    let (_dir, path) = write("pipeline.json", PIPELINE_JSON);
    let output = c1_pipeline()
        .args(["validate", "--no-environment"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let output = test_files(&[&path]);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert_eq!(
        stdout(&output),
        "Running tests\ntest writes pass with their owner ... passed\ntest reads are dropped ... passed\n"
    );
}

#[test]
fn a_failing_test_exits_non_zero_and_explains() {
    let failing = PIPELINE_JSON
        .replace(r#"\"ALICE\""#, r#"\"CAROL\""#)
        .replace(r#""activity_id": 2"#, r#""activity_id": 3"#);
    let (_dir, path) = write("failing.json", &failing);
    let output = test_files(&[&path]);
    assert_eq!(
        output.status.code(),
        Some(EXIT_CONFIG),
        "{}",
        stderr(&output)
    );
    let text = stdout(&output);
    assert!(
        text.contains("test writes pass with their owner ... failed"),
        "{text}"
    );
    assert!(text.contains("test reads are dropped ... failed"), "{text}");
    assert!(text.contains("\nfailures:\n"), "{text}");
    // The assertion's own message, and the events that were compared.
    assert!(
        text.contains(r#"assertion failed: "ALICE" == "CAROL""#),
        "{text}"
    );
    assert!(
        text.contains(r#"{"activity_id":1,"app":{"owner":"alice"},"owner":"ALICE"}"#),
        "{text}"
    );
    assert!(
        text.contains("check for `no_reads` failed: expected no events, received 1"),
        "{text}"
    );
}

/// Transforms in one YAML file, the tests in a TOML file: files merge for `test` too.
#[test]
fn tests_and_transforms_may_sit_in_different_files() {
    let (dir, transforms) = write(
        "transforms.yaml",
        "transforms:\n  parse:\n    type: remap\n    inputs: [nowhere]\n    source: |\n      . = parse_json!(.message)\n",
    );
    let tests = dir.path().join("tests.toml");
    std::fs::write(
        &tests,
        r#"[[tests]]
name = "parses"
[tests.input]
insert_at = "parse"
type = "raw"
value = '{"uid": "abc"}'
[[tests.outputs]]
extract_from = "parse"
conditions = ['.uid == "abc"']

[[tests]]
name = "fails on text"
[[tests.inputs]]
insert_at = "parse"
value = "not json"
[[tests.outputs]]
extract_from = "parse"
conditions = ['exists(.uid)']
"#,
    )
    .unwrap();
    let output = test_files(&[&transforms, &tests]);
    assert_eq!(output.status.code(), Some(EXIT_CONFIG));
    let text = stdout(&output);
    assert!(text.contains("test parses ... passed"), "{text}");
    assert!(text.contains("test fails on text ... failed"), "{text}");
    assert!(
        text.contains("condition[0]: returned false for every event"),
        "{text}"
    );
}

#[test]
fn a_test_that_cannot_run_is_a_configuration_error_at_its_position() {
    let (_dir, path) = write(
        "bad.toml",
        r#"[transforms.tag]
type = "remap"
inputs = ["in"]
source = ".x = 1"

[[tests]]
name = "typo"
[[tests.inputs]]
insert_at = "tga"
value = "x"
[[tests.outputs]]
extract_from = "tag.dropped"
"#,
    );
    let output = test_files(&[&path]);
    assert_eq!(output.status.code(), Some(EXIT_CONFIG));
    let text = stderr(&output);
    let file = path.display().to_string();
    assert!(text.contains(&format!("{file}:9:13:")), "{text}");
    assert!(text.contains("no transform `tga` to insert at"), "{text}");
    assert!(text.contains(&format!("{file}:12:16:")), "{text}");
    assert!(text.contains("no transform output `tag.dropped`"), "{text}");

    let (_dir, path) = write(
        "unknown.toml",
        "[[tests]]\nname = \"x\"\n[[tests.inputs]]\ninsert_at = \"a\"\nvalu = \"x\"\n",
    );
    let output = test_files(&[&path]);
    assert_eq!(output.status.code(), Some(EXIT_CONFIG));
    assert!(
        stderr(&output).contains("unknown field `valu`"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("did you mean `value`?"),
        "{}",
        stderr(&output)
    );
}
