//! Vector option names added for issue 15, with their behaviour: `splunk_hec_logs`
//! (`auto_extract_timestamp`, `request.rate_limit_*` enforced, `request.retry_jitter_mode`,
//! `healthcheck.timeout`, strftime in `index`/`source`/`sourcetype`), `aws_s3` (`acl` and
//! `grant_*` on the upload requests, `timezone` of `key_prefix`), `stdin` (`host_key`,
//! `decoding.json.lossy`), and the global `timezone` and `log_schema`.

#[path = "common/hec_server.rs"]
mod hec_server;
#[path = "common/process.rs"]
mod process;
#[path = "common/s3_server.rs"]
mod s3_server;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use c1_pipeline::config::Config;
use hec_server::{ACK_TOKEN, HecServer, ServerConfig};
use process::{c1_pipeline, run_to_end};
use s3_server::S3Server;

/// Midnight UTC, 2026-01-01, in epoch milliseconds (an OCSF `time`).
const NEW_YEAR_MS: i64 = 1_767_225_600_000;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn hec_config(endpoint: &str, extra: &str) -> String {
    format!(
        r#"
[sources.in]
type = "stdin"
decoding.codec = "json"

[sinks.hec]
type = "splunk_hec_logs"
inputs = ["in"]
endpoint = "{endpoint}"
token = "{ACK_TOKEN}"
encoding.codec = "json"
batch.max_events = 1
batch.timeout_secs = 0.05
{extra}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_rate_limit_templates_and_auto_extracted_time() {
    let server = HecServer::start(ServerConfig::default()).await;
    let config = hec_config(
        &server.endpoint(),
        r#"index = "ocsf-%Y-%m"
sourcetype = "ocsf:{{ class_uid }}:%d"
source = "c1"
auto_extract_timestamp = true
request.rate_limit_num = 1
request.rate_limit_duration_secs = 1
request.retry_jitter_mode = "None"
healthcheck.timeout = 5"#,
    );
    let line = format!("{{\"class_uid\": 6003, \"time\": {NEW_YEAR_MS}}}\n");
    let input = line.repeat(3);
    let output = tokio::task::block_in_place(|| run_to_end(&config, input.as_bytes()));
    assert!(output.status.success(), "{}", stderr(&output));
    let events = server.events();
    assert_eq!(events.len(), 3);
    for event in &events {
        // strftime on the event's time; field values inserted as they are.
        assert_eq!(event.index.as_deref(), Some("ocsf-2026-01"));
        assert_eq!(event.sourcetype.as_deref(), Some("ocsf:6003:01"));
        assert_eq!(event.source.as_deref(), Some("c1"));
        // Splunk extracts the time itself: none is sent.
        assert_eq!(event.time, None);
    }
    let posts = server.stats().event_posts;
    assert_eq!(posts.len(), 3);
    for (query, _) in &posts {
        assert_eq!(
            query.get("auto_extract_timestamp").map(String::as_str),
            Some("true")
        );
    }
    // One request per second: the third comes at least two windows after the first.
    let spread = posts[2].1.duration_since(posts[0].1);
    assert!(spread >= Duration::from_millis(1900), "{spread:?}");
}

#[test]
fn hec_healthcheck_timeout_bounds_the_check() {
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hec.toml");
    std::fs::write(&path, hec_config(&endpoint, "healthcheck.timeout = 0.3")).unwrap();
    let started = std::time::Instant::now();
    let output = c1_pipeline().arg("validate").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(78));
    assert!(
        stderr(&output).contains("no answer within healthcheck.timeout (0.3 s)"),
        "{}",
        stderr(&output)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn request_and_healthcheck_options_are_checked() {
    for (extra, message) in [
        ("request.rate_limit_num = 0", "must be at least 1"),
        (
            "request.rate_limit_duration_secs = 0",
            "must be at least 1 second",
        ),
        ("healthcheck.timeout = 0", "healthcheck.timeout"),
        ("index = \"%Q\"", "invalid strftime specifier"),
    ] {
        let stderr = c1_pipeline_validate(&hec_config("http://127.0.0.1:1", extra));
        assert!(stderr.contains(message), "{extra}: {stderr}");
        assert!(stderr.contains("t.toml:"), "{extra}: {stderr}");
    }
    let error = Config::from_toml(
        &hec_config("http://127.0.0.1:1", "request.retry_jitter_mode = \"Half\""),
        Path::new("t.toml"),
        &|_| None,
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("unknown variant `Half`"),
        "{error}"
    );
}

/// `validate --no-environment` on `text` written as `t.toml`; its stderr.
fn c1_pipeline_validate(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(&path, text).unwrap();
    let output = c1_pipeline()
        .args(["validate", "--no-environment"])
        .arg(&path)
        .output()
        .unwrap();
    stderr(&output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_acl_grants_and_key_prefix_time_zone() {
    const BUCKET: &str = "c1-logs";
    let server = S3Server::with_bucket(BUCKET).await;
    let config = format!(
        r#"
[sources.in]
type = "stdin"
decoding.codec = "json"

{table}
compression = "none"
key_prefix = "date=%Y-%m-%d-%H/"
timezone = "Asia/Tokyo"
acl = "bucket-owner-full-control"
grant_read = 'id="0123456789abcdef"'
grant_full_control = 'emailAddress="owner@example.com"'
grant_read_acp = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'
grant_write_acp = 'id="fedcba9876543210"'
multipart_part_size = 5242880
batch.timeout_secs = 30
"#,
        table = server.sink_table("in", BUCKET)
    );
    // 70 lines of ~90 kB: more than one part, so the object goes up as a multipart upload.
    let padding = "x".repeat(90_000);
    let line = format!("{{\"time\": {NEW_YEAR_MS}, \"pad\": \"{padding}\"}}\n");
    let input = line.repeat(70);
    let output = tokio::task::block_in_place(|| run_to_end(&config, input.as_bytes()));
    assert!(output.status.success(), "{}", stderr(&output));
    let objects = server.objects(BUCKET).await;
    assert_eq!(objects.len(), 1);
    // Midnight UTC is 09:00 in Tokyo.
    assert!(
        objects[0].key.starts_with("date=2026-01-01-09/"),
        "{}",
        objects[0].key
    );
    let headers = server.faults.acl_headers.lock().unwrap().clone();
    let create: Vec<(String, String)> = headers
        .iter()
        .filter(|(method, uri, _, _)| method == "POST" && uri.contains("uploads"))
        .map(|(_, _, name, value)| (name.clone(), value.clone()))
        .collect();
    let mut create = create;
    create.sort();
    assert_eq!(
        create,
        [
            ("x-amz-acl".into(), "bucket-owner-full-control".into()),
            (
                "x-amz-grant-full-control".into(),
                "emailAddress=\"owner@example.com\"".into()
            ),
            ("x-amz-grant-read".into(), "id=\"0123456789abcdef\"".into()),
            (
                "x-amz-grant-read-acp".into(),
                "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"".into()
            ),
            (
                "x-amz-grant-write-acp".into(),
                "id=\"fedcba9876543210\"".into()
            ),
        ]
    );

    // A small object goes up with one PutObject, with the same headers.
    let small = format!("{{\"time\": {NEW_YEAR_MS}}}\n");
    let output = tokio::task::block_in_place(|| run_to_end(&config, small.as_bytes()));
    assert!(output.status.success(), "{}", stderr(&output));
    let headers = server.faults.acl_headers.lock().unwrap().clone();
    let put = headers
        .iter()
        .filter(|(method, uri, _, _)| method == "PUT" && !uri.contains("partNumber"))
        .count();
    assert_eq!(put, 5, "{headers:?}");

    let text = c1_pipeline_validate(&format!(
        "[sources.in]\ntype = \"stdin\"\n{}\nacl = \"world-writable\"\ntimezone = \"Mars/Base\"\n",
        server.sink_table("in", BUCKET)
    ));
    assert!(
        text.contains("field `timezone`: unknown time zone `Mars/Base`"),
        "{text}"
    );
    let text = c1_pipeline_validate(&format!(
        "[sources.in]\ntype = \"stdin\"\n{}\nacl = \"world-writable\"\n",
        server.sink_table("in", BUCKET)
    ));
    assert!(text.contains("field `acl`"), "{text}");
}

#[test]
fn stdin_host_key_and_lossy_json() {
    let config = r#"
[sources.in]
type = "stdin"
host_key = "device.hostname"
decoding.codec = "json"

[sinks.out]
type = "console"
inputs = ["in"]
encoding.codec = "json"
"#;
    let output = run_to_end(config, b"{\"a\": \"\xff\"}\n");
    assert!(output.status.success(), "{}", stderr(&output));
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        line["a"], "\u{fffd}",
        "invalid UTF-8 replaced (lossy, Vector's default)"
    );
    let host = line["device"]["hostname"].as_str().unwrap();
    assert!(!host.is_empty());

    let strict = config.replace(
        "decoding.codec = \"json\"",
        "decoding.codec = \"json\"\ndecoding.json.lossy = false",
    );
    let output = run_to_end(&strict, b"{\"a\": \"\xff\"}\n{\"a\": 1}\n");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1);
    assert!(
        stderr(&output).contains("invalid line skipped"),
        "{}",
        stderr(&output)
    );
}

/// `auth.credentials_file` with `auth.profile`: the keys come from that file (the server
/// verifies the signatures), as Vector's file-based authentication.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_credentials_from_a_credentials_file_profile() {
    const BUCKET: &str = "c1-creds";
    let server = S3Server::with_bucket(BUCKET).await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = AKIAWRONGWRONGWRONG\naws_secret_access_key = wrong\n\n\
             [c1]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            s3_server::ACCESS_KEY,
            s3_server::SECRET_KEY
        ),
    )
    .unwrap();
    let config = format!(
        r#"
[sources.in]
type = "stdin"
decoding.codec = "json"

[sinks.s3]
type = "aws_s3"
inputs = ["in"]
bucket = "{BUCKET}"
endpoint = "{endpoint}"
region = "us-east-1"
encoding.codec = "json"
auth.credentials_file = "{path}"
auth.profile = "c1"
auth.load_timeout_secs = 5
healthcheck.enabled = false
"#,
        endpoint = server.endpoint,
        path = credentials.display(),
    );
    let output = tokio::task::block_in_place(|| run_to_end(&config, b"{\"a\": 1}\n"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(server.objects(BUCKET).await.len(), 1);

    // Static keys and a credentials file are two sources: refused.
    let without_profile = config.replace("auth.profile = \"c1\"\n", "");
    let text = c1_pipeline_validate(&format!(
        "{without_profile}auth.access_key_id = \"x\"\nauth.secret_access_key = \"y\"\n"
    ));
    assert!(text.contains("field `auth.credentials_file`"), "{text}");
    // Vector's IMDS options and the STS region are accepted.
    let imds = config.replace(
        "auth.credentials_file",
        "auth.imds.max_attempts = 2\nauth.imds.connect_timeout_seconds = 1\nauth.imds.read_timeout_seconds = 1\nauth.region = \"eu-west-1\"\n# auth.credentials_file",
    );
    let parsed = Config::from_toml(&imds, Path::new("t.toml"), &|_| None);
    assert!(parsed.is_ok(), "{:?}", parsed.err());
}

/// The one event a pipeline printed as JSON.
fn printed_event(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).expect("one JSON line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_timezone_is_the_default_of_remap_and_aws_s3() {
    // VRL's runtime has the global zone (Vector passes it to the runtime): the zone of
    // `parse_timestamp` without an offset, `get_timezone_name`.
    let remap = |own: &str| {
        format!(
            r#"timezone = "Asia/Tokyo"
[sources.in]
type = "stdin"
[transforms.t]
type = "remap"
inputs = ["in"]
source = '.zone = get_timezone_name!()'
{own}
[sinks.out]
type = "console"
inputs = ["t"]
encoding.codec = "json"
"#
        )
    };
    let output = tokio::task::block_in_place(|| run_to_end(&remap(""), b"x\n"));
    assert_eq!(printed_event(&output)["zone"], "Asia/Tokyo");
    // The transform's own `timezone` wins.
    let output = tokio::task::block_in_place(|| run_to_end(&remap("timezone = \"UTC\""), b"x\n"));
    assert_eq!(printed_event(&output)["zone"], "UTC");

    // `key_prefix`'s strftime, in the global zone when the sink sets none.
    const BUCKET: &str = "zoned";
    let server = S3Server::with_bucket(BUCKET).await;
    let config = format!(
        "timezone = \"Asia/Tokyo\"\n[sources.in]\ntype = \"stdin\"\ndecoding.codec = \"json\"\n\
         {}\ncompression = \"none\"\nkey_prefix = \"hour=%H/\"\n",
        server.sink_table("in", BUCKET)
    );
    let line = format!("{{\"time\": {NEW_YEAR_MS}}}\n");
    let output = tokio::task::block_in_place(|| run_to_end(&config, line.as_bytes()));
    assert!(output.status.success(), "{}", stderr(&output));
    let objects = server.objects(BUCKET).await;
    assert_eq!(objects.len(), 1);
    assert!(objects[0].key.starts_with("hour=09/"), "{}", objects[0].key);

    let text = c1_pipeline_validate(
        "timezone = \"Mars/Base\"\n[sources.in]\ntype = \"stdin\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"in\"]\n",
    );
    assert!(
        text.contains("1:12: field `timezone`: unknown time zone `Mars/Base`"),
        "{text}"
    );
}

/// `log_schema.timestamp_key` is where templates' strftime specifiers read the event's time
/// (the S3 `key_prefix` here), before the OCSF `time`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_schema_timestamp_key_is_the_time_of_key_prefix() {
    const BUCKET: &str = "schema-time";
    let server = S3Server::with_bucket(BUCKET).await;
    let config = format!(
        "log_schema.timestamp_key = \"meta.at\"\n[sources.in]\ntype = \"stdin\"\n\
         decoding.codec = \"json\"\n{}\ncompression = \"none\"\nkey_prefix = \"year=%Y/\"\n",
        server.sink_table("in", BUCKET)
    );
    let lines = format!(
        "{{\"time\": {NEW_YEAR_MS}, \"meta\": {{\"at\": \"2024-06-01T00:00:00Z\"}}}}\n\
         {{\"time\": {NEW_YEAR_MS}, \"timestamp\": \"2023-06-01T00:00:00Z\"}}\n"
    );
    let output = tokio::task::block_in_place(|| run_to_end(&config, lines.as_bytes()));
    assert!(output.status.success(), "{}", stderr(&output));
    let mut prefixes: Vec<String> = (server.objects(BUCKET).await.into_iter())
        .map(|object| object.key.split('/').next().unwrap_or_default().to_owned())
        .collect();
    prefixes.sort();
    // The first event's `meta.at`; the second has none, so its OCSF `time` (`timestamp` is
    // not the schema's time field any more).
    let new_year = chrono::DateTime::from_timestamp_millis(NEW_YEAR_MS)
        .unwrap()
        .format("year=%Y")
        .to_string();
    let mut expected = vec!["year=2024".to_owned(), new_year];
    expected.sort();
    assert_eq!(prefixes, expected);
}

#[test]
fn log_schema_keys_name_the_fields_components_write_and_read() {
    let schema = "log_schema.message_key = \"msg\"\nlog_schema.host_key = \"hostname\"\n";
    // Raw stdin lines go to `message_key`; `host_key` names the host field, which stdin
    // writes once it is set.
    let config = format!(
        "{schema}[sources.in]\ntype = \"stdin\"\n\
         [sinks.out]\ntype = \"console\"\ninputs = [\"in\"]\nencoding.codec = \"json\"\n"
    );
    let event = printed_event(&run_to_end(&config, b"hello\n"));
    assert_eq!(event["msg"], "hello");
    assert!(event.get("message").is_none(), "{event}");
    assert!(
        !event["hostname"].as_str().unwrap_or("").is_empty(),
        "{event}"
    );
    // The `text` codec writes the `message_key` field.
    let text = config.replace("encoding.codec = \"json\"", "encoding.codec = \"text\"");
    let output = run_to_end(&text, b"hello\n");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello\n");
    // A program's non-object result goes to `message_key` too.
    let remap = config.replace(
        "[sinks.out]\ntype = \"console\"\ninputs = [\"in\"]",
        "[transforms.t]\ntype = \"remap\"\ninputs = [\"in\"]\nsource = '. = 42'\n\
         [sinks.out]\ntype = \"console\"\ninputs = [\"t\"]",
    );
    assert_eq!(
        printed_event(&run_to_end(&remap, b"x\n")),
        serde_json::json!({"msg": 42})
    );
    // Without `log_schema`, stdin adds no host field (events are usually OCSF objects).
    let plain = config.replace(schema, "");
    let event = printed_event(&run_to_end(&plain, b"hello\n"));
    assert_eq!(event, serde_json::json!({"message": "hello"}));

    let text = c1_pipeline_validate(
        "log_schema.host_key = \"a..b\"\n[sources.in]\ntype = \"stdin\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"in\"]\n",
    );
    assert!(text.contains("field `log_schema.host_key`"), "{text}");
    let text = c1_pipeline_validate(
        "log_schema.metadata = \"m\"\n[sources.in]\ntype = \"stdin\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"in\"]\n",
    );
    assert!(text.contains("unknown field `metadata`"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_schema_host_and_timestamp_keys_are_the_hec_sinks_defaults() {
    let server = HecServer::start(ServerConfig::default()).await;
    let config = format!(
        "log_schema.host_key = \"device.name\"\nlog_schema.timestamp_key = \"ts\"\n{}",
        hec_config(&server.endpoint(), "")
    );
    let remap = config.replace(
        "[sinks.hec]",
        "[transforms.t]\ntype = \"remap\"\ninputs = [\"in\"]\nsource = \"\"\"\n.ts = t'2026-01-01T00:00:01Z'\n.device.name = \"c1-host\"\n\"\"\"\n[sinks.hec]",
    );
    let remap = remap.replacen(
        "inputs = [\"in\"]\nendpoint",
        "inputs = [\"t\"]\nendpoint",
        1,
    );
    // (stdin writes its host name at `device.name` too, once `log_schema.host_key` is set:
    // the program replaces it.)
    let input = b"{\"class_uid\": 1}\n";
    let output = tokio::task::block_in_place(|| run_to_end(&remap, input));
    assert!(output.status.success(), "{}", stderr(&output));
    let events = server.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].host.as_deref(), Some("c1-host"));
    assert_eq!(events[0].time, Some(1_767_225_601.0));
    // The timestamp field is sent as `time`, not in the event (as with Vector's default key).
    assert!(events[0].event.get("ts").is_none(), "{:?}", events[0].event);
}

#[test]
fn globals_in_two_files_must_agree() {
    let dir = tempfile::tempdir().expect("a folder");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("written");
        path
    };
    let pipeline = write(
        "pipeline.toml",
        "timezone = \"UTC\"\n[sources.in]\ntype = \"stdin\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"in\"]\n",
    );
    let same = write("same.yaml", "timezone: UTC\n");
    let other = write("other.json", "{\"timezone\": \"Asia/Tokyo\"}\n");
    Config::load(&[pipeline.clone(), same]).expect("the same zone twice");
    let errors = Config::load(&[pipeline, other]).expect_err("two zones");
    let text = errors.to_string();
    assert!(text.contains("`timezone` is set differently"), "{text}");
}
