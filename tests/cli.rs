//! The `c1-pipeline` command line: `validate`, running, `--help`, `--version`, several
//! `--config` files, `C1_PIPELINE_CONFIG`, and exit codes (78 for configuration errors).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// sysexits `EX_CONFIG`.
const EXIT_CONFIG: i32 = 78;

const VALID: &str = r#"[sources.in]
type = "conductorone_demo"
count = 3
interval_secs = 0

[sinks.out]
type = "console"
inputs = ["in"]
encoding.codec = "json"
"#;

const SOURCE_ONLY: &str =
    "[sources.in]\ntype = \"conductorone_demo\"\ncount = 3\ninterval_secs = 0\n";
const SINK_ONLY: &str =
    "[sinks.out]\ntype = \"console\"\ninputs = [\"in\"]\nencoding.codec = \"json\"\n";

/// The binary, with no configuration or log settings inherited from the test's environment.
fn c1_pipeline() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_c1-pipeline"));
    command
        .env_remove("C1_PIPELINE_CONFIG")
        .env_remove("C1_PIPELINE_LOG")
        .env_remove("C1_PIPELINE_LOG_FORMAT")
        .stdin(std::process::Stdio::null());
    command
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

/// Writes `files` (name, text) in a fresh directory.
fn write_files(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = files
        .iter()
        .map(|(name, text)| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    (dir, paths)
}

#[test]
fn validate_accepts_a_valid_config() {
    let (_dir, paths) = write_files(&[("ok.toml", VALID)]);
    let output = run(c1_pipeline()
        .args(["validate", "--no-environment", "--config"])
        .arg(&paths[0]));
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output)
            .contains("loaded and checked 1 file(s): 1 source(s), 0 transform(s), 1 sink(s)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn validate_rejects_an_invalid_config_with_the_error_on_stderr() {
    let text = VALID.replace("count = 3", "cout = 3");
    let (_dir, paths) = write_files(&[("bad.toml", &text)]);
    let output = run(c1_pipeline()
        .args(["validate", "--no-environment", "--config"])
        .arg(&paths[0]));
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
    let graph_error = VALID.replace("inputs = [\"in\"]", "inputs = [\"inn\"]");
    let build_error = VALID.replace(
        "[sinks.out]",
        "[transforms.t]\ntype = \"remap\"\ninputs = [\"in\"]\nsource = '''\n.a = nosuch()\n'''\n\n[sinks.out]",
    )
    .replace("inputs = [\"in\"]\nencoding", "inputs = [\"t\"]\nencoding");
    let (_dir, paths) = write_files(&[("graph.toml", &graph_error), ("build.toml", &build_error)]);

    let output = run(c1_pipeline()
        .args(["validate", "--no-environment", "--config"])
        .arg(&paths[0]));
    assert_exit(&output, EXIT_CONFIG);
    assert!(
        stderr(&output).contains(&format!(
            "{}:8:11: sinks.out, field `inputs`: input `inn` does not match",
            paths[0].display()
        )),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("did you mean `in`?"));

    let output = run(c1_pipeline()
        .args(["validate", "--no-environment", "--config"])
        .arg(&paths[1]));
    assert_exit(&output, EXIT_CONFIG);
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).contains(&format!(
            "{}:10:6: transforms.t, field `source`: VRL compilation failed",
            paths[1].display()
        )),
        "{}",
        stderr(&output)
    );
}

#[test]
fn validate_reports_every_problem_and_counts_them() {
    let text = "data_dri = 1\n[sources.in]\ntype = \"stdn\"\n";
    let (_dir, paths) = write_files(&[("bad.toml", text)]);
    let output = run(c1_pipeline()
        .args(["validate", "--no-environment"])
        .arg(&paths[0]));
    assert_exit(&output, EXIT_CONFIG);
    let stderr = stderr(&output);
    assert!(stderr.contains("configuration has 2 problems"), "{stderr}");
    assert!(stderr.contains("did you mean `data_dir`?"), "{stderr}");
    assert!(stderr.contains("did you mean `stdin`?"), "{stderr}");
}

#[test]
fn validate_takes_files_as_positional_arguments() {
    let (_dir, paths) = write_files(&[("sources.toml", SOURCE_ONLY), ("sinks.toml", SINK_ONLY)]);
    let output = run(c1_pipeline()
        .args(["validate", "--no-environment"])
        .args(&paths));
    assert_exit(&output, 0);
    assert!(
        stderr(&output).contains("loaded and checked 2 file(s)"),
        "{}",
        stderr(&output)
    );

    let output = run(c1_pipeline()
        .args(["validate", "--no-environment"])
        .arg(&paths[0]));
    assert_exit(&output, EXIT_CONFIG);
    assert!(stderr(&output).contains("no sinks are defined"));
}

#[test]
fn several_config_options_are_merged() {
    let (_dir, paths) = write_files(&[("sources.toml", SOURCE_ONLY), ("sinks.toml", SINK_ONLY)]);
    let output = run(c1_pipeline()
        .args(["validate", "--no-environment", "--config"])
        .arg(&paths[0])
        .arg("-c")
        .arg(&paths[1]));
    assert_exit(&output, 0);

    // A comma-separated list works too.
    let list = format!("{},{}", paths[0].display(), paths[1].display());
    let output = run(c1_pipeline().args(["validate", "--no-environment", "--config", &list]));
    assert_exit(&output, 0);
}

#[test]
fn a_duplicate_id_across_files_is_reported() {
    let (_dir, paths) = write_files(&[("a.toml", VALID), ("b.toml", SOURCE_ONLY)]);
    let output = run(c1_pipeline()
        .args(["validate", "--no-environment"])
        .args(&paths));
    assert_exit(&output, EXIT_CONFIG);
    assert!(
        stderr(&output).contains("`sources.in` is defined twice"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_config_can_come_from_the_environment() {
    let (_dir, paths) = write_files(&[
        ("sources.toml", SOURCE_ONLY),
        ("sinks.toml", SINK_ONLY),
        ("bad.toml", "[sources.in]\ntype = \"stdn\"\n"),
    ]);
    let list = format!("{},{}", paths[0].display(), paths[1].display());
    let output = run(c1_pipeline()
        .args(["validate", "--no-environment"])
        .env("C1_PIPELINE_CONFIG", &list));
    assert_exit(&output, 0);

    let output = run(c1_pipeline()
        .args(["validate", "--no-environment"])
        .env("C1_PIPELINE_CONFIG", &paths[2]));
    assert_exit(&output, EXIT_CONFIG);
    assert!(stderr(&output).contains("unknown component type `stdn`"));

    // Running reads it too.
    let output = run(c1_pipeline().env("C1_PIPELINE_CONFIG", &paths[2]));
    assert_exit(&output, EXIT_CONFIG);
}

#[test]
fn environment_variables_are_substituted_by_the_binary() {
    let text = VALID.replace(
        "encoding.codec = \"json\"",
        "encoding.codec = \"${TEST_CODEC}\"",
    );
    let (_dir, paths) = write_files(&[("env.toml", &text)]);
    let output = run(c1_pipeline()
        .args(["validate", "--no-environment"])
        .arg(&paths[0])
        .env("TEST_CODEC", "json"));
    assert_exit(&output, 0);

    let output = run(c1_pipeline()
        .args(["validate", "--no-environment"])
        .arg(&paths[0])
        .env_remove("TEST_CODEC"));
    assert_exit(&output, EXIT_CONFIG);
    assert!(
        stderr(&output).contains(
            "sinks.out, field `encoding.codec`: environment variable `TEST_CODEC` is not set"
        ),
        "{}",
        stderr(&output)
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
    let output = run(c1_pipeline()
        .args(["validate", "--no-environment", "--config"])
        .arg(&missing));
    assert_exit(&output, EXIT_CONFIG);
    assert!(
        stderr(&output).contains(&format!("cannot read {}", missing.display())),
        "{}",
        stderr(&output)
    );
}

#[test]
fn running_with_a_bad_config_exits_78() {
    let (_dir, paths) = write_files(&[
        ("syntax.toml", "[sources.in\n"),
        (
            "vrl.toml",
            &VALID.replace(
                "[sinks.out]",
                "[transforms.t]\ntype = \"filter\"\ninputs = [\"in\"]\ncondition = '.x'\n\n[sinks.out]",
            )
            .replace("inputs = [\"in\"]\nencoding", "inputs = [\"t\"]\nencoding"),
        ),
    ]);
    for path in &paths {
        for subcommand in [None, Some("run")] {
            let output = run(c1_pipeline().args(subcommand).arg("--config").arg(path));
            assert_exit(&output, EXIT_CONFIG);
            assert_eq!(stdout(&output), "", "nothing may run");
            assert!(
                stderr(&output).contains(&format!("{}:", path.display())),
                "{}",
                stderr(&output)
            );
        }
    }
}

#[test]
fn running_a_valid_config_delivers_the_events() {
    let (_dir, paths) = write_files(&[("ok.toml", VALID)]);
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
    let text = format!("data_dir = \"{}\"\n{VALID}", state.display());
    let path = dir.path().join("ok.toml");
    std::fs::write(&path, text).unwrap();
    let output = run(c1_pipeline().arg("validate").arg(&path));
    assert_exit(&output, 0);
    assert!(
        stderr(&output).contains("health checks passed"),
        "{}",
        stderr(&output)
    );
    // The data_dir was checked by writing to it.
    assert!(state.is_dir());

    // A data_dir that cannot be created fails validation (but not with --no-environment).
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let text = format!("data_dir = \"{}\"\n{VALID}", blocker.join("sub").display());
    std::fs::write(&path, text).unwrap();
    let output = run(c1_pipeline().arg("validate").arg(&path));
    assert_exit(&output, EXIT_CONFIG);
    assert!(
        stderr(&output).contains("is not writable"),
        "{}",
        stderr(&output)
    );
    let output = run(c1_pipeline()
        .args(["validate", "--no-environment"])
        .arg(&path));
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
