//! The `aws_s3` sink against a real S3 protocol server (s3s-fs, in-process, verifying SigV4)
//! driven by the real `aws-sdk-s3`: every event read back exactly once under the expected keys,
//! event-time and templated partitions, multipart objects, gzip and zstd objects readable by
//! the standard tools, headers, wrong credentials, injected 500/503/SlowDown faults, confinement
//! of templated keys, the open-partition cap, and the config examples.

mod common;
#[path = "common/s3_server.rs"]
mod s3_server;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use c1_pipeline::config::Config;
use c1_pipeline::topology::RunError;
use s3_server::{ACCESS_KEY, FaultRule, S3Server, SECRET_KEY};
use serde_json::Value;

const BUCKET: &str = "c1-logs";

/// Midnight UTC, 2026-01-01, in epoch milliseconds.
const NEW_YEAR_MS: i64 = 1_767_225_600_000;

/// A demo source emitting `count` events as fast as the sink takes them.
fn demo_source(count: u64) -> String {
    format!(
        r#"
[sources.demo]
type = "conductorone_demo"
count = {count}
interval_secs = 0
seed = 11
"#
    )
}

/// An `aws_s3` sink table pointing at `server`, with `extra` options appended.
fn s3_sink(server: &S3Server, input: &str, extra: &str) -> String {
    format!(
        r#"
{table}
request.retry_initial_backoff_secs = 0.05
request.retry_max_duration_secs = 0.2
{extra}
"#,
        table = server.sink_table(input, BUCKET)
    )
}

async fn run(toml: &str) -> Result<(), RunError> {
    run_with_vars(toml, &[]).await
}

async fn run_with_vars(toml: &str, vars: &[(&str, String)]) -> Result<(), RunError> {
    common::run_pipeline(toml, Path::new("test.toml"), vars, std::future::pending())
        .await
        .map(drop)
}

/// Every event of every object, with the object's key.
async fn events_by_key(server: &S3Server) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    for object in server.objects(BUCKET).await {
        for event in object.json_lines() {
            events.push((object.key.clone(), event));
        }
    }
    events
}

fn uid(event: &Value) -> String {
    event["metadata"]["uid"]
        .as_str()
        .expect("metadata.uid")
        .to_owned()
}

/// A demo source of `count` events into [`s3_sink`] with the options `extra` (lines).
fn demo_into_s3(server: &S3Server, count: u64, extra: &[&str]) -> String {
    let sink = s3_sink(server, "demo", &extra.join("\n"));
    format!("{}{sink}", demo_source(count))
}

/// Checks that a run failed because events were not delivered (the source said so).
#[track_caller]
fn assert_not_delivered(error: &RunError) {
    let text = error.to_string();
    assert!(
        text.contains("not delivered") || text.contains("undelivered"),
        "{error}"
    );
}

/// A demo source of `count` events, remap `id` running `program` on them, and `sink`.
fn demo_remap_into(count: u64, id: &str, program: &str, sink: &str) -> String {
    format!(
        "{}\n[transforms.{id}]\ntype = \"remap\"\ninputs = [\"demo\"]\nsource = '''\n{program}\n'''\n{sink}",
        demo_source(count)
    )
}

/// Asserts `count` events, each once.
fn assert_each_once(events: &[(String, Value)], count: usize) {
    let uids: BTreeSet<String> = events.iter().map(|(_, event)| uid(event)).collect();
    assert_eq!(events.len(), count, "events written");
    assert_eq!(uids.len(), count, "distinct events written (no duplicates)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_time_partitions_across_a_day_boundary_hold_every_event_once() {
    let server = S3Server::with_bucket(BUCKET).await;
    // Authentication events just before midnight, everything else just after.
    let program = format!(
        ".time = if .class_uid == 3002 {{ {before} }} else {{ {after} }}",
        before = NEW_YEAR_MS - 1,
        after = NEW_YEAR_MS + 1,
    );
    let sink = s3_sink(&server, "clock", r#"key_prefix = "date=%F/""#);
    let toml = demo_remap_into(3000, "clock", &program, &sink);
    run(&toml).await.expect("pipeline run");

    let objects = server.objects(BUCKET).await;
    let events = events_by_key(&server).await;
    assert_each_once(&events, 3000);
    let mut per_prefix: BTreeMap<&str, usize> = BTreeMap::new();
    for (key, event) in &events {
        let (prefix, name) = key.split_once('/').expect("date=…/name");
        let expected = if event["class_uid"] == 3002 {
            "date=2025-12-31"
        } else {
            "date=2026-01-01"
        };
        assert_eq!(prefix, expected, "{key}");
        // <upload time>-<uuid>.log.gz, as in Vector.
        let (time, rest) = name.split_once('-').expect("time-uuid");
        assert!(time.parse::<u64>().is_ok(), "{name}");
        assert!(rest.ends_with(".log.gz") && rest.len() == 36 + 7, "{name}");
        *per_prefix
            .entry(if prefix.ends_with("31") {
                "2025"
            } else {
                "2026"
            })
            .or_default() += 1;
    }
    assert_eq!(per_prefix.len(), 2, "both days have events");
    // End of input sealed exactly one object per partition (the batch limits were not reached).
    assert_eq!(objects.len(), 2);
    for object in &objects {
        assert_eq!(object.content_type.as_deref(), Some("text/x-log"));
        assert_eq!(object.content_encoding.as_deref(), Some("gzip"));
        assert_eq!(&object.body[..2], &[0x1f, 0x8b], "gzip magic");
    }
    assert!(
        server.faults.count("PUT", "") >= 2,
        "objects written with PutObject"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templated_prefixes_route_events_and_batch_limits_split_objects() {
    let server = S3Server::with_bucket(BUCKET).await;
    let options = [
        r#"key_prefix = "ocsf/class_uid={{ class_uid }}/%Y/""#,
        "batch.max_events = 500",
    ];
    let toml = demo_into_s3(&server, 2500, &options);
    run(&toml).await.expect("pipeline run");

    let events = events_by_key(&server).await;
    assert_each_once(&events, 2500);
    let mut per_object: BTreeMap<String, usize> = BTreeMap::new();
    for (key, event) in &events {
        let class = event["class_uid"].as_i64().unwrap();
        let year = chrono::DateTime::from_timestamp_millis(event["time"].as_i64().unwrap())
            .unwrap()
            .format("%Y")
            .to_string();
        assert!(
            key.starts_with(&format!("ocsf/class_uid={class}/{year}/")),
            "{key} holds a class {class} event"
        );
        *per_object.entry(key.clone()).or_default() += 1;
    }
    assert!(per_object.values().all(|&n| n <= 500), "{per_object:?}");
    assert!(per_object.len() >= 5, "batch.max_events split the objects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_object_goes_out_as_a_multipart_upload() {
    let server = S3Server::with_bucket(BUCKET).await;
    // ~1.1 KB per event uncompressed: 12,000 events make about 13 MB, so at least 3 parts.
    let options = [
        r#"compression = "none""#,
        "batch.max_bytes = 100000000",
        "multipart_part_size = 5242880",
    ];
    let toml = demo_into_s3(&server, 12_000, &options);
    run(&toml).await.expect("pipeline run");

    let objects = server.objects(BUCKET).await;
    assert_eq!(objects.len(), 1, "one object");
    assert!(objects[0].key.ends_with(".log"));
    assert!(objects[0].body.len() > 10_000_000);
    assert_each_once(&events_by_key(&server).await, 12_000);
    assert_eq!(
        server.faults.count("POST", "uploads"),
        1,
        "CreateMultipartUpload"
    );
    assert!(server.faults.count("PUT", "partNumber=") >= 3, "UploadPart");
    assert_eq!(
        server.faults.count("POST", "uploadId="),
        1,
        "CompleteMultipartUpload"
    );
}

/// Writes the object to a file and decompresses it with the standard command-line tool.
fn decompress_with_tool(tool: &str, body: &[u8]) -> Option<Vec<u8>> {
    let which = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .ok()?;
    if !which.status.success() {
        eprintln!("{tool} is not installed: checked with the library decoder only");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("object");
    std::fs::write(&path, body).unwrap();
    let output = std::process::Command::new(tool)
        .arg("-dc")
        .arg(&path)
        .output()
        .expect("run the decompressor");
    assert!(
        output.status.success(),
        "{tool} -dc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_zstd_objects_decompress_with_the_standard_tools() {
    for (compression, tool, encoding, extension) in [
        ("gzip", "gzip", "gzip", ".log.gz"),
        ("zstd", "zstd", "zstd", ".log.zst"),
    ] {
        let server = S3Server::with_bucket(BUCKET).await;
        let sink = s3_sink(
            &server,
            "demo",
            &format!("compression = \"{compression}\"\ncontent_type = \"application/x-ndjson\""),
        );
        run(&format!("{}{sink}", demo_source(400)))
            .await
            .expect("pipeline run");
        let objects = server.objects(BUCKET).await;
        assert_eq!(objects.len(), 1);
        let object = &objects[0];
        assert!(object.key.ends_with(extension), "{}", object.key);
        assert_eq!(object.content_encoding.as_deref(), Some(encoding));
        assert_eq!(object.content_type.as_deref(), Some("application/x-ndjson"));
        assert_eq!(object.json_lines().len(), 400);
        if let Some(plain) = decompress_with_tool(tool, &object.body) {
            assert_eq!(
                plain,
                object.decoded(),
                "{tool} agrees with the library decoder"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_key_fails_clearly_and_writes_nothing() {
    let server = S3Server::with_bucket(BUCKET).await;
    let sink = s3_sink(&server, "demo", "").replace(SECRET_KEY, "not-the-secret");
    let toml = format!("{}{sink}", demo_source(50));

    // The health check names the problem.
    let config = Config::from_toml(&toml, Path::new("test.toml"), &|_| None).unwrap();
    let check = config.sinks["s3"].config.component().healthcheck().await;
    let message = check.expect_err("wrong secret is unhealthy").to_string();
    assert!(
        message.contains("denied") && message.contains("secret"),
        "{message}"
    );

    // The run fails: the source learns its events were not delivered.
    let error = run(&toml)
        .await
        .expect_err("undelivered events fail the run");
    assert_not_delivered(&error);
    assert!(server.objects(BUCKET).await.is_empty());
    assert!(
        !message.contains("not-the-secret"),
        "the secret is never printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_reported_as_missing() {
    let server = S3Server::start().await;
    let toml = demo_into_s3(&server, 1, &[]);
    let config = Config::from_toml(&toml, Path::new("test.toml"), &|_| None).unwrap();
    let message = config.sinks["s3"]
        .config
        .component()
        .healthcheck()
        .await
        .expect_err("no bucket")
        .to_string();
    assert!(message.contains("does not exist"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_500_503_and_slowdown_lose_nothing_and_duplicate_nothing() {
    let server = S3Server::with_bucket(BUCKET).await;
    let faults = &server.faults;
    // PutObject: two SlowDowns and a 500; multipart: a 503 on create, part and complete.
    faults.add(FaultRule {
        method: "PUT",
        query: None,
        remaining: 2,
        status: 503,
        code: "SlowDown",
    });
    faults.add(FaultRule {
        method: "PUT",
        query: None,
        remaining: 1,
        status: 500,
        code: "InternalError",
    });
    faults.add(FaultRule {
        method: "POST",
        query: Some("uploads"),
        remaining: 1,
        status: 503,
        code: "ServiceUnavailable",
    });
    faults.add(FaultRule {
        method: "PUT",
        query: Some("partNumber=2"),
        remaining: 1,
        status: 503,
        code: "SlowDown",
    });
    faults.add(FaultRule {
        method: "POST",
        query: Some("uploadId="),
        remaining: 2,
        status: 500,
        code: "InternalError",
    });
    let sink = s3_sink(
        &server,
        "demo",
        r#"key_prefix = "class={{ class_uid }}/"
compression = "none"
multipart_part_size = 5242880
batch.max_bytes = 100000000"#,
    );
    run(&format!("{}{sink}", demo_source(8000)))
        .await
        .expect("pipeline run");
    assert_each_once(&events_by_key(&server).await, 8000);
    assert_eq!(*faults.injected.lock().unwrap(), 7, "every fault was hit");
    let md5 = faults.put_has_content_md5.lock().unwrap();
    assert!(
        !md5.is_empty() && md5.iter().all(|(_, has)| *has),
        "every upload carries Content-MD5: {md5:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_multipart_upload_is_aborted_and_its_events_are_not_delivered() {
    let server = S3Server::with_bucket(BUCKET).await;
    // A permanent error completing the upload.
    server.faults.add(FaultRule {
        method: "POST",
        query: Some("uploadId="),
        remaining: 1,
        status: 400,
        code: "InvalidPart",
    });
    let sink = s3_sink(
        &server,
        "demo",
        r#"compression = "none"
multipart_part_size = 5242880
batch.max_bytes = 100000000"#,
    );
    let error = run(&format!("{}{sink}", demo_source(6000)))
        .await
        .expect_err("undelivered events fail the run");
    assert!(
        error
            .to_string()
            .contains("6000 demo events were not delivered"),
        "{error}"
    );
    assert_eq!(
        server.faults.count("DELETE", "uploadId="),
        1,
        "AbortMultipartUpload"
    );
    assert!(
        server.objects(BUCKET).await.is_empty(),
        "no partial object is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_retried_then_reported() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let toml = format!(
        r#"{source}
[sinks.s3]
type = "aws_s3"
inputs = ["demo"]
bucket = "{BUCKET}"
endpoint = "{endpoint}"
auth = {{ access_key_id = "{ACCESS_KEY}", secret_access_key = "{SECRET_KEY}" }}
encoding.codec = "json"
healthcheck.enabled = false
request = {{ retry_attempts = 2, retry_initial_backoff_secs = 0.05, timeout_secs = 2 }}
"#,
        source = demo_source(20)
    );
    let error = run(&toml).await.expect_err("nothing can be written");
    assert!(
        error
            .to_string()
            .contains("20 demo events were not delivered"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_values_that_escape_their_prefix_are_rejected_not_written() {
    let server = S3Server::with_bucket(BUCKET).await;
    let program = r#".tenant = if .class_uid == 3002 { "../other-tenant" } else { "acme" }"#;
    let sink = s3_sink(&server, "tenant", r#"key_prefix = "tenants/{{ tenant }}/""#);
    let toml = demo_remap_into(1000, "tenant", program, &sink);
    let error = run(&toml)
        .await
        .expect_err("rejected events are reported by the source");
    assert_not_delivered(&error);
    let events = events_by_key(&server).await;
    assert!(!events.is_empty());
    for (key, event) in &events {
        assert!(key.starts_with("tenants/acme/"), "{key}");
        assert_ne!(event["class_uid"], 3002);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_partition_cap_seals_the_oldest_and_loses_nothing() {
    let server = S3Server::with_bucket(BUCKET).await;
    // Four activity ids interleaved, but only two open objects allowed.
    let options = [
        r#"key_prefix = "activity={{ activity_id }}/""#,
        "max_open_partitions = 2",
    ];
    run(&demo_into_s3(&server, 2000, &options))
        .await
        .expect("pipeline run");
    let events = events_by_key(&server).await;
    assert_each_once(&events, 2000);
    let prefixes: BTreeSet<&str> = events
        .iter()
        .map(|(key, _)| key.split('/').next().unwrap())
        .collect();
    let objects: BTreeSet<&str> = events.iter().map(|(key, _)| key.as_str()).collect();
    assert!(prefixes.len() >= 3, "{prefixes:?}");
    assert!(
        objects.len() > prefixes.len(),
        "evicted partitions were sealed early"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_to_s3_example_runs_against_the_test_server() {
    let server = S3Server::with_bucket(BUCKET).await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config-examples/demo-to-s3.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let vars = [
        ("AWS_S3_BUCKET", BUCKET.to_owned()),
        ("S3_ENDPOINT", server.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
    ];
    run_with_vars(&text, &vars).await.expect("example runs");
    let events = events_by_key(&server).await;
    assert!(!events.is_empty());
    for (key, event) in &events {
        assert!(key.starts_with("conductorone/ocsf/class_uid="), "{key}");
        assert!(event.get("observables").is_none());
    }
}
