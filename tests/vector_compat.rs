//! Vector configurations carry over: YAML and JSON files besides TOML (errors positioned in
//! every format, `--config-yaml`/`--config-json`/`--config-toml`/`--config-dir`, mixed
//! formats merged), and the configurations adapted from Vector's repository and docs in
//! `tests/data/vector-configs/` all validate.

#[path = "common/hec_server.rs"]
mod hec_server;
#[path = "common/process.rs"]
mod process;

use std::path::Path;
use std::process::Output;

use c1_pipeline::config::{Config, ConfigError, Format};
use c1_pipeline::transforms::TransformConfig;
use hec_server::{ACK_TOKEN, HecServer, ServerConfig};
use process::c1_pipeline;

/// sysexits `EX_CONFIG`.
const EXIT_CONFIG: i32 = 78;

fn env(name: &str) -> Option<String> {
    (name == "CODEC").then(|| "json".to_owned())
}

fn load(text: &str, name: &str, format: Format) -> Result<Config, Vec<ConfigError>> {
    Config::from_text(text, Path::new(name), format, &env).map_err(|errors| errors.0)
}

#[track_caller]
fn single_error(text: &str, name: &str, format: Format) -> ConfigError {
    let mut errors = load(text, name, format).expect_err("the configuration is invalid");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.remove(0)
}

#[track_caller]
fn assert_at(error: &ConfigError, line: usize, column: usize) {
    let location = error.location.as_ref().expect("a position");
    assert_eq!((location.line, location.column), (line, column), "{error}");
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const YAML: &str = r#"# Vector's getting-started stdio.yaml, with a remap
sources:
  in:
    type: "stdin"
transforms:
  tag:
    type: remap
    inputs: [in]
    source: |
      .seen = true
      .price = "$HOME"
sinks:
  out:
    inputs: ["tag"]
    type: "console"
    encoding:
      codec: "${CODEC}"
"#;

#[test]
fn yaml_and_json_load_like_toml() {
    let config = load(YAML, "a.yaml", Format::Yaml).unwrap();
    assert_eq!(config.sinks["out"].inputs, ["tag"]);
    // Substituted in options, never inside a VRL program.
    let TransformConfig::Remap(remap) = &config.transforms["tag"].config else {
        panic!("a remap");
    };
    assert!(remap.source.as_deref().unwrap().contains("\"$HOME\""));
    let sink = format!("{:?}", config.sinks["out"].config);
    assert!(sink.contains("Json"), "{sink}");

    let json = r#"{"sources": {"in": {"type": "stdin"}},
 "sinks": {"out": {"type": "console", "inputs": ["in"], "encoding": {"codec": "text"}}}}"#;
    let config = load(json, "a.json", Format::Json).unwrap();
    assert_eq!(config.sinks["out"].inputs, ["in"]);
}

#[test]
fn yaml_errors_name_file_line_column_field_and_fix() {
    let text = YAML.replace("codec: \"${CODEC}\"", "codec: jsn");
    let error = single_error(&text, "a.yaml", Format::Yaml);
    assert_at(&error, 17, 14);
    assert_eq!(error.component.as_deref(), Some("sinks.out"));
    assert_eq!(error.field.as_deref(), Some("encoding.codec"));
    assert_eq!(error.help.as_deref(), Some("did you mean `json`?"));
    assert!(error.to_string().starts_with("a.yaml:17:14: "), "{error}");

    let text = YAML.replace(
        "    type: \"console\"",
        "    type: \"console\"\n    bogus: 1",
    );
    let error = single_error(&text, "a.yaml", Format::Yaml);
    assert_at(&error, 16, 5);
    assert_eq!(error.field.as_deref(), Some("bogus"));

    // A VRL error points into the literal block.
    let text = YAML.replace(".price =", ".price = nope(1) +");
    let config = load(&text, "a.yaml", Format::Yaml).unwrap();
    let errors = c1_pipeline::topology::check_build(&config).unwrap_err().0;
    assert_eq!(errors[0].field.as_deref(), Some("source"));
    assert_at(&errors[0], 11, 16);

    let error = single_error("sources:\n  in: [\n", "a.yaml", Format::Yaml);
    assert!(error.message.starts_with("invalid YAML"), "{error}");
    assert!(error.location.is_some());
}

#[test]
fn json_errors_name_file_line_column_field_and_fix() {
    let text = "{\n  \"sources\": {\"in\": {\"type\": \"stdin\", \"decodng\": {}}}\n}";
    let error = single_error(text, "a.json", Format::Json);
    assert_at(&error, 2, 39);
    assert_eq!(error.field.as_deref(), Some("decodng"));
    assert_eq!(error.help.as_deref(), Some("did you mean `decoding`?"));

    let error = single_error("{\n  \"sources\": {,}\n}", "a.json", Format::Json);
    assert!(error.message.starts_with("invalid JSON"), "{error}");
    assert_at(&error, 2, 15);
}

#[test]
fn config_flags_and_dirs_merge_mixed_formats() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("1-source.toml", "[sources.in]\ntype = \"stdin\"\n");
    write(
        "2-sink.yml",
        "sinks:\n  out:\n    type: console\n    inputs: [in]\n    encoding: {codec: json}\n",
    );
    write("README.md", "not a config");
    let output = c1_pipeline()
        .args(["validate", "--no-environment", "--config-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("2 file(s): 1 source(s)"));

    // A format named by the flag, whatever the extension; Vector's interpolation flag is
    // accepted.
    write(
        "sink.conf",
        "{\"sinks\": {\"out\": {\"type\": \"console\", \"inputs\": [\"in\"], \"encoding\": {\"codec\": \"json\"}}}}",
    );
    let output = c1_pipeline()
        .args([
            "validate",
            "--no-environment",
            "--dangerously-allow-env-var-interpolation",
        ])
        .arg("--config-toml")
        .arg(dir.path().join("1-source.toml"))
        .arg("--config-json")
        .arg(dir.path().join("sink.conf"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    // The same component in two formats is a duplicate, as between two TOML files.
    write(
        "3-again.json",
        "{\"sources\": {\"in\": {\"type\": \"stdin\"}}}",
    );
    let output = c1_pipeline()
        .args(["validate", "--no-environment", "-C"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(EXIT_CONFIG));
    assert!(
        stderr(&output).contains("`sources.in` is defined twice"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_yaml_config_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stdio.yaml");
    std::fs::write(&path, YAML).unwrap();
    let mut child = c1_pipeline()
        .arg("--config")
        .arg(&path)
        .env("CODEC", "json")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["message"], "hello");
    assert_eq!(line["seen"], true);
    assert_eq!(line["price"], "$HOME");
}

/// Runs the binary on `config` (written as `name`) with `input` on stdin.
fn run_with_input(name: &str, config: &str, input: &[u8], env: &[(&str, &str)]) -> Output {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, config).unwrap();
    let mut child = c1_pipeline()
        .arg("--config")
        .arg(&path)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_full_vrl_library_and_event_type_conditions() {
    let config = r#"{
  "sources": {"in": {"type": "stdin"}},
  "transforms": {
    "hash": {"type": "remap", "inputs": ["in"], "source":
      ".sha256 = sha2!(.message, variant: \"SHA-256\")\n.hmac = encode_base16(hmac!(.message, get_env_var!(\"HMAC_KEY\")))\n.md5 = md5!(.message)\n.crc = crc!(.message)\n.host = get_hostname!()"},
    "split": {"type": "route", "inputs": ["hash"],
      "route": {"logs": {"type": "is_log"}, "metrics": {"type": "is_metric"}}},
    "traces": {"type": "filter", "inputs": ["hash"], "condition": {"type": "is_trace"}}
  },
  "sinks": {
    "out": {"type": "console", "inputs": ["split.logs", "traces"], "encoding": {"codec": "json"}}
  }
}"#;
    let output = run_with_input("vrl.json", config, b"hello\n", &[("HMAC_KEY", "key")]);
    assert!(output.status.success(), "{}", stderr(&output));
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        line["sha256"],
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(
        line["hmac"],
        "9307b3b915efb5171ff14d8cb55fbcc798c6c0ef1456d66ded1a6aa723a58b7b"
    );
    assert_eq!(line["md5"], "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(line["crc"], "907060870");
    assert!(line["host"].as_str().is_some_and(|host| !host.is_empty()));
    // A route output nothing reads is a warning at start, as in Vector.
    assert!(
        stderr(&output).contains("output `split.metrics` is not used by any transform or sink"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("split._unmatched` is not used"));
}

/// An exec backend answering Vector's protocol: checks the request, then answers
/// `hec_token` with `$SECRET_VALUE` (and an error for any other key).
const EXEC_BACKEND: &str = r#"req=$(cat)
case "$req" in *'"version":"1.0"'*) ;; *) exit 3 ;; esac
case "$req" in *'"secrets":["hec_token"]'*)
  printf '{"hec_token":{"value":"%s","error":null}}' "$SECRET_VALUE" ;;
*) printf '{"other":{"value":null,"error":"no such secret"}}' ;;
esac"#;

fn secret_yaml(endpoint: &str, reference: &str) -> String {
    // `$$`: the configuration would substitute `$req`.
    let script = serde_json::to_string(&EXEC_BACKEND.replace('$', "$$")).unwrap();
    format!(
        r#"secret:
  vault:
    type: exec
    command: [sh, -c, {script}]
sources:
  demo: {{type: conductorone_demo, count: 3, interval_secs: 0}}
sinks:
  splunk:
    type: splunk_hec_logs
    inputs: [demo]
    endpoint: "{endpoint}"
    default_token: "{reference}"
    encoding: {{codec: json}}
    batch: {{timeout_secs: 0.05}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_backed_hec_token_reaches_splunk() {
    let server = HecServer::start(ServerConfig::default()).await;
    let config = secret_yaml(&server.endpoint(), "SECRET[vault.hec_token]");
    let output = tokio::task::block_in_place(|| {
        run_with_input("secret.yaml", &config, b"", &[("SECRET_VALUE", ACK_TOKEN)])
    });
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(server.events().len(), 3);
    assert!(!stderr(&output).contains(ACK_TOKEN));

    // A backend without the key: an error naming the backend and key, at the reference.
    let config = secret_yaml(&server.endpoint(), "SECRET[vault.other]");
    let output = run_with_input("secret.yaml", &config, b"", &[("SECRET_VALUE", ACK_TOKEN)]);
    assert_eq!(output.status.code(), Some(EXIT_CONFIG));
    let text = stderr(&output);
    assert!(
        text.contains("secret.yaml:12:20: secret backend `vault` has no value for `other`: the command said: no such secret"),
        "{text}"
    );
    let config = secret_yaml(&server.endpoint(), "SECRET[nope.x]");
    let output = run_with_input("secret.yaml", &config, b"", &[]);
    assert!(stderr(&output).contains("secret backend `nope` is not defined"));
}

#[test]
fn secret_values_never_show_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("secrets.json"),
        r#"{"codec": "a-secret-codec-value"}"#,
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("by-key")).unwrap();
    std::fs::write(dir.path().join("by-key/target"), "stdout\n").unwrap();
    let text = format!(
        "[secret.files]\ntype = \"file\"\npath = \"{0}/secrets.json\"\n\n\
         [secret.dir]\ntype = \"directory\"\npath = \"{0}/by-key\"\nremove_trailing_whitespace = true\n\n\
         [sources.in]\ntype = \"stdin\"\n\n\
         [sinks.out]\ntype = \"console\"\ninputs = [\"in\"]\ntarget = \"SECRET[dir.target]\"\n\
         encoding.codec = \"SECRET[files.codec]\"\n",
        dir.path().display()
    );
    let errors = Config::from_text(&text, Path::new("s.toml"), Format::Toml, &env)
        .unwrap_err()
        .to_string();
    assert!(errors.contains("unknown variant `[REDACTED]`"), "{errors}");
    assert!(!errors.contains("a-secret-codec-value"), "{errors}");
    // The directory backend's value was used (no error about `target`).
    assert!(!errors.contains("target"), "{errors}");
}

#[test]
fn a_disk_buffer_is_refused_with_the_reason() {
    let text = "sources:\n  in: {type: stdin}\nsinks:\n  out:\n    type: console\n    inputs: [in]\n    encoding: {codec: json}\n    buffer:\n      type: disk\n      max_size: 268435488\n";
    let error = single_error(text, "b.yaml", Format::Yaml);
    assert_at(&error, 9, 13);
    assert_eq!(error.field.as_deref(), Some("buffer"));
    assert!(
        error
            .message
            .starts_with("a disk buffer is not needed here"),
        "{error}"
    );
    assert!(error.help.as_deref().unwrap().contains("stdin"));

    let text = text.replace("type: disk\n      max_size: 268435488", "max_event: 5");
    let error = single_error(&text, "b.yaml", Format::Yaml);
    assert_eq!(error.field.as_deref(), Some("buffer.max_event"));
    assert_eq!(error.help.as_deref(), Some("did you mean `max_events`?"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_drop_newest_buffer_drops_and_counts() {
    // Vector's option names on a slow sink: the demo source is never held back, the sink gets
    // what fits and the rest is discarded (acknowledged as handled, so the run succeeds).
    let text = r#"
sources:
  demo: {type: conductorone_demo, count: 20000, interval_secs: 0}
sinks:
  slow:
    type: blackhole
    inputs: [demo]
    rate: 2000
    print_interval_secs: 0
    healthcheck: {enabled: false}
    buffer: {type: memory, max_events: 1, when_full: drop_newest}
"#;
    let config = load(text, "drop.yaml", Format::Yaml).unwrap();
    let graph = c1_pipeline::config::graph::check(&config).unwrap();
    let started = std::time::Instant::now();
    let summary =
        c1_pipeline::topology::run(&config, &graph, std::future::pending(), Default::default())
            .await
            .unwrap();
    let sink = summary
        .metrics
        .iter()
        .find(|m| m.component == "sinks.slow")
        .unwrap();
    assert!(sink.discarded_events > 0, "{sink:?}");
    assert_eq!(
        sink.received_events + sink.discarded_events,
        20000,
        "{sink:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
}

/// `tests/data/vector-configs/`: configurations adapted from Vector's repository and docs
/// (each cites its origin), in the three formats.
#[test]
fn every_adapted_vector_config_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vector-configs");
    let mut formats = std::collections::BTreeSet::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(format) = Format::from_extension(&path) else {
            continue; // data the configurations use
        };
        formats.insert(format!("{format:?}"));
        let output = c1_pipeline()
            .args(["validate", "--no-environment"])
            .arg(&path)
            .env("VECTOR_CONFIG_SECRETS", dir.join("hec-secrets.data"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}:\n{}",
            path.display(),
            stderr(&output)
        );
        checked += 1;
    }
    assert_eq!(formats.len(), 3, "{formats:?}");
    assert!(checked >= 5);
}

#[test]
fn encoding_timestamp_format_writes_timestamps_as_asked() {
    for (format, expected) in [
        ("rfc3339", serde_json::json!("2026-01-01T00:00:00.500Z")),
        ("unix", serde_json::json!(1_767_225_600)),
        ("unix_ms", serde_json::json!(1_767_225_600_500_i64)),
        ("unix_float", serde_json::json!(1_767_225_600.5)),
    ] {
        let config = format!(
            "sources:\n  in: {{type: stdin}}\ntransforms:\n  t:\n    type: remap\n    inputs: [in]\n    source: .at = t'2026-01-01T00:00:00.5Z'\nsinks:\n  out:\n    type: console\n    inputs: [t]\n    encoding: {{codec: json, timestamp_format: {format}}}\n"
        );
        let output = run_with_input("ts.yaml", &config, b"x\n", &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(line["at"], expected, "{format}");
    }
}
