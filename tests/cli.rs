//! The `c1-pipeline` command line: `validate`, running, `--help`, `--version`, several
//! `--config` files, `C1_PIPELINE_CONFIG`, and exit codes (78 for configuration errors).

#[path = "common/config.rs"]
mod config;
#[path = "common/process.rs"]
mod process;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use config::{Toml, write_files};
use process::c1_pipeline;

/// sysexits `EX_CONFIG`.
const EXIT_CONFIG: i32 = 78;

/// A demo source of three events (lines 1 to 4).
fn source_only() -> Toml {
    Toml::new().demo_with("in", &["count = 3", "interval_secs = 0"])
}

/// A console sink reading `in` (four lines).
fn sink_only() -> String {
    Toml::new().console("out", &["in"]).into()
}

/// [`source_only`], then [`sink_only`] from line 6.
fn valid() -> String {
    source_only().console("out", &["in"]).into()
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

/// `c1-pipeline validate --no-environment`.
fn validate_command() -> Command {
    let mut command = c1_pipeline();
    command.args(["validate", "--no-environment"]);
    command
}

/// `c1-pipeline validate --no-environment ARGS`.
fn validate(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Output {
    run(validate_command().args(args))
}

/// `c1-pipeline validate --no-environment --config FILE`.
fn validate_config(file: &Path) -> Output {
    validate([OsStr::new("--config"), file.as_os_str()])
}

/// Asserts that stderr holds `text`.
#[track_caller]
fn assert_stderr_contains(output: &Output, text: &str) {
    let stderr = stderr(output);
    assert!(stderr.contains(text), "{stderr}");
}

#[test]
fn validate_accepts_a_valid_config() {
    let (_dir, paths) = write_files(&[("ok.toml", &valid())]);
    let output = validate_config(&paths[0]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "");
    assert_stderr_contains(
        &output,
        "loaded and checked 1 file(s): 1 source(s), 0 transform(s), 1 sink(s)",
    );
}

#[test]
fn validate_rejects_an_invalid_config_with_the_error_on_stderr() {
    let text = valid().replace("count = 3", "cout = 3");
    let (_dir, paths) = write_files(&[("bad.toml", &text)]);
    let output = validate_config(&paths[0]);
    assert_exit(&output, EXIT_CONFIG);
    assert_eq!(stdout(&output), "");
    let stderr = stderr(&output);
    assert!(stderr.contains("configuration has 1 problem"), "{stderr}");
    let expected = format!(
        "{}:3:1: sources.in, field `cout`: unknown field `cout`",
        paths[0].display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains(" 3 | cout = 3"), "{stderr}");
    assert!(stderr.contains("help: did you mean `count`?"), "{stderr}");
}

#[test]
fn validate_reports_graph_and_build_errors() {
    let graph_error = valid().replace("inputs = [\"in\"]", "inputs = [\"inn\"]");
    let build_error = source_only()
        .remap("t", &["in"], "'''\n.a = nosuch()\n'''")
        .console("out", &["t"]);
    let (_dir, paths) = write_files(&[("graph.toml", &graph_error), ("build.toml", &build_error)]);

    let output = validate_config(&paths[0]);
    assert_exit(&output, EXIT_CONFIG);
    assert_stderr_contains(
        &output,
        &format!(
            "{}:8:11: sinks.out, field `inputs`: input `inn` does not match",
            paths[0].display()
        ),
    );
    assert!(stderr(&output).contains("did you mean `in`?"));

    let output = validate_config(&paths[1]);
    assert_exit(&output, EXIT_CONFIG);
    assert_eq!(stdout(&output), "");
    assert_stderr_contains(
        &output,
        &format!(
            "{}:10:6: transforms.t, field `source`: VRL compilation failed",
            paths[1].display()
        ),
    );
}

#[test]
fn validate_reports_every_problem_and_counts_them() {
    let text = "data_dri = 1\n[sources.in]\ntype = \"stdn\"\n";
    let (_dir, paths) = write_files(&[("bad.toml", text)]);
    let output = validate([&paths[0]]);
    assert_exit(&output, EXIT_CONFIG);
    let stderr = stderr(&output);
    assert!(stderr.contains("configuration has 2 problems"), "{stderr}");
    assert!(stderr.contains("did you mean `data_dir`?"), "{stderr}");
    assert!(stderr.contains("did you mean `stdin`?"), "{stderr}");
}

/// Writes [`source_only`] and [`sink_only`] in two files, then `more`.
fn split_config(more: &[(&str, &str)]) -> (tempfile::TempDir, Vec<PathBuf>) {
    let (source, sink) = (source_only(), sink_only());
    write_files(&[&[("sources.toml", &*source), ("sinks.toml", &sink)], more].concat())
}

#[test]
fn validate_takes_files_as_positional_arguments() {
    let (_dir, paths) = split_config(&[]);
    let output = validate(&paths);
    assert_exit(&output, 0);
    assert_stderr_contains(&output, "loaded and checked 2 file(s)");

    let output = validate([&paths[0]]);
    assert_exit(&output, EXIT_CONFIG);
    assert!(stderr(&output).contains("no sinks are defined"));
}

#[test]
fn several_config_options_are_merged() {
    let (_dir, paths) = split_config(&[]);
    let output = validate([
        OsStr::new("--config"),
        paths[0].as_os_str(),
        OsStr::new("-c"),
        paths[1].as_os_str(),
    ]);
    assert_exit(&output, 0);

    // A comma-separated list works too.
    let list = format!("{},{}", paths[0].display(), paths[1].display());
    let output = validate(["--config", &list]);
    assert_exit(&output, 0);
}

#[test]
fn a_duplicate_id_across_files_is_reported() {
    let (_dir, paths) = write_files(&[("a.toml", &valid()), ("b.toml", &source_only())]);
    let output = validate(&paths);
    assert_exit(&output, EXIT_CONFIG);
    assert_stderr_contains(&output, "`sources.in` is defined twice");
}

#[test]
fn the_config_can_come_from_the_environment() {
    let (_dir, paths) = split_config(&[("bad.toml", "[sources.in]\ntype = \"stdn\"\n")]);
    let list = format!("{},{}", paths[0].display(), paths[1].display());
    let output = run(validate_command().env("C1_PIPELINE_CONFIG", &list));
    assert_exit(&output, 0);

    let output = run(validate_command().env("C1_PIPELINE_CONFIG", &paths[2]));
    assert_exit(&output, EXIT_CONFIG);
    assert!(stderr(&output).contains("unknown component type `stdn`"));

    // Running reads it too.
    let output = run(c1_pipeline().env("C1_PIPELINE_CONFIG", &paths[2]));
    assert_exit(&output, EXIT_CONFIG);
}

#[test]
fn environment_variables_are_substituted_by_the_binary() {
    let text = valid().replace(
        "encoding.codec = \"json\"",
        "encoding.codec = \"${TEST_CODEC}\"",
    );
    let (_dir, paths) = write_files(&[("env.toml", &text)]);
    let output = run(validate_command().arg(&paths[0]).env("TEST_CODEC", "json"));
    assert_exit(&output, 0);

    let output = run(validate_command().arg(&paths[0]).env_remove("TEST_CODEC"));
    assert_exit(&output, EXIT_CONFIG);
    assert_stderr_contains(
        &output,
        "sinks.out, field `encoding.codec`: environment variable `TEST_CODEC` is not set",
    );
}

#[test]
fn no_config_is_a_clear_error() {
    for args in [&["validate", "--no-environment"][..], &["run"][..], &[][..]] {
        let output = run(c1_pipeline().args(args));
        assert_exit(&output, EXIT_CONFIG);
        assert_eq!(stdout(&output), "", "{args:?}");
        assert!(
            stderr(&output).contains("no configuration given; pass --config FILE"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn a_missing_file_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let output = validate_config(&missing);
    assert_exit(&output, EXIT_CONFIG);
    assert_stderr_contains(&output, &format!("cannot read {}", missing.display()));
}

#[test]
fn running_with_a_bad_config_exits_78() {
    let vrl = source_only()
        .transform("t", "filter", &["in"], &["condition = '.x'"])
        .console("out", &["t"]);
    let (_dir, paths) = write_files(&[("syntax.toml", "[sources.in\n"), ("vrl.toml", &vrl)]);
    for path in &paths {
        for subcommand in [None, Some("run")] {
            let output = run(c1_pipeline().args(subcommand).arg("--config").arg(path));
            assert_exit(&output, EXIT_CONFIG);
            assert_eq!(stdout(&output), "", "nothing may run");
            assert_stderr_contains(&output, &format!("{}:", path.display()));
        }
    }
}

#[test]
fn running_a_valid_config_delivers_the_events() {
    let (_dir, paths) = write_files(&[("ok.toml", &valid())]);
    let output = run(c1_pipeline()
        .args(["--log-level", "warn", "--config"])
        .arg(&paths[0]));
    assert_exit(&output, 0);
    let stdout = stdout(&output);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for line in lines {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(event.get("class_uid").is_some(), "{line}");
    }
}

#[test]
fn validate_runs_health_checks_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let text = format!("data_dir = \"{}\"\n{}", state.display(), valid());
    let path = dir.path().join("ok.toml");
    std::fs::write(&path, text).unwrap();
    let output = run(c1_pipeline().arg("validate").arg(&path));
    assert_exit(&output, 0);
    assert_stderr_contains(&output, "health checks passed");
    // The data_dir was checked by writing to it.
    assert!(state.is_dir());

    // A data_dir that cannot be created fails validation (but not with --no-environment).
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let text = format!(
        "data_dir = \"{}\"\n{}",
        blocker.join("sub").display(),
        valid()
    );
    std::fs::write(&path, text).unwrap();
    let output = run(c1_pipeline().arg("validate").arg(&path));
    assert_exit(&output, EXIT_CONFIG);
    assert_stderr_contains(&output, "is not writable");
    let output = validate([&path]);
    assert_exit(&output, 0);
}

#[test]
fn help_and_version() {
    let output = run(c1_pipeline().arg("--help"));
    assert_exit(&output, 0);
    let help = stdout(&output);
    for expected in [
        "Usage:",
        "run",
        "validate",
        "--config",
        "--help",
        "--version",
    ] {
        assert!(help.contains(expected), "missing {expected:?} in:\n{help}");
    }

    let output = run(c1_pipeline().args(["validate", "--help"]));
    assert_exit(&output, 0);
    let help = stdout(&output);
    for expected in ["--no-environment", "--config", "[FILE]..."] {
        assert!(help.contains(expected), "missing {expected:?} in:\n{help}");
    }

    let output = run(c1_pipeline().arg("--version"));
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output).trim(),
        format!("c1-pipeline {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_arguments_are_usage_errors() {
    let output = run(c1_pipeline().arg("--no-such-flag"));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--no-such-flag"));
}

/// Parquet output needs the cargo feature `parquet`: a build without it refuses the
/// `aws_security_lake` type and `batch_encoding` of `aws_s3`, naming the feature.
#[test]
fn parquet_outputs_name_the_cargo_feature_they_need() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sink) in [
        (
            "lake.toml",
            "type = \"aws_security_lake\"\ns3_uri = \"s3://b/ext/c1/\"\nregion = \"us-east-1\"\n\
             account_id = \"123456789012\"\nclass_uid = 6003",
        ),
        (
            "s3.toml",
            "type = \"aws_s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\n\
             batch_encoding.codec = \"parquet\"\nbatch_encoding.ocsf_class_uid = 6003",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "[sources.in]\ntype = \"stdin\"\n[sinks.out]\ninputs = [\"in\"]\n\
                 healthcheck.enabled = false\n{sink}\n"
            ),
        )
        .unwrap();
        let output = run(c1_pipeline()
            .args(["validate", "--no-environment", "--config"])
            .arg(&path));
        if cfg!(feature = "parquet") {
            assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
        } else {
            assert_eq!(output.status.code(), Some(78), "{name}");
            assert!(
                stderr(&output).contains("cargo feature `parquet`"),
                "{name}: {}",
                stderr(&output)
            );
        }
    }
}

/// Variables the examples may reference, set to dummy values.
const EXAMPLE_ENV: &[(&str, &str)] = &[
    ("C1_CLIENT_ID", "dummy-client-id@example.conductor.one/pcc"),
    // Well-formed (the conductorone source checks the format at build time), known to no tenant.
    (
        "C1_CLIENT_SECRET",
        "secret-token:conductorone.com:v1:eyJrdHkiOiJPS1AiLCJjcnYiOiJFZDI1NTE5IiwiZCI6IkVSRVJFUkVSRVJFUkVSRVJFUkVSRVJFUkVSRVJFUkVSRVJFUkVSRVJFUkUifQ",
    ),
    ("SPLUNK_HEC_TOKEN", "00000000-0000-0000-0000-000000000000"),
    ("SPLUNK_HEC_ENDPOINT", "https://splunk.example.com:8088"),
    ("AWS_S3_BUCKET", "dummy-bucket"),
    (
        "SECURITY_LAKE_API_ACTIVITY_URI",
        "s3://aws-security-data-lake-us-east-1-abc/ext/c1_api/1.0/",
    ),
    (
        "SECURITY_LAKE_AUTHENTICATION_URI",
        "s3://aws-security-data-lake-us-east-1-abc/ext/c1_auth/1.0/",
    ),
    ("SECURITY_LAKE_ACCOUNT_ID", "123456789012"),
    ("C1_START_AT", "2026-11-01T00:00:00Z"),
    ("C1_UNTIL", "2026-11-08T00:00:00Z"),
    ("C1_EXPORT_BUCKET", "dummy-export-bucket"),
    (
        "C1_EXPORT_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/123456789012/dummy-queue",
    ),
];

#[test]
fn every_config_example_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root.join("config-examples"))
        .expect("config-examples/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        // Security Lake needs the `parquet` feature (see the next test).
        .filter(|path| {
            cfg!(feature = "parquet") || !path.ends_with("conductorone-to-security-lake.toml")
        })
        .collect();
    examples.sort();
    assert!(!examples.is_empty(), "config-examples/ has no *.toml files");
    let mut failures = Vec::new();
    for example in &examples {
        let output = run(c1_pipeline()
            .current_dir(root)
            .envs(EXAMPLE_ENV.iter().copied())
            .args(["validate", "--no-environment", "--config"])
            .arg(example));
        if output.status.code() != Some(0) {
            failures.push(format!(
                "{} (exit {:?}):\n{}",
                example.display(),
                output.status.code(),
                stderr(&output)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
