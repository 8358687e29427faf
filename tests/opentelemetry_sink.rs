//! The `opentelemetry` sink against an in-process OTLP/HTTP receiver that decodes with the
//! real generated types (`common/otlp_server.rs`): one record per event with the documented
//! mapping, protobuf and OTLP/JSON, gzip, auth and headers, 503 then success, partial
//! success, a 400, retries exhausted, the health check, and a whole pipeline
//! (`config-examples/conductorone-to-opentelemetry.toml`).

mod common;
#[path = "common/otlp_server.rs"]
mod otlp_server;

use std::sync::Arc;
use std::time::Duration;

use c1_pipeline::ack::{BatchNotifier, BatchStatus};
use c1_pipeline::component::{SinkComponent, SinkContext};
use c1_pipeline::event::Event;
use c1_pipeline::metrics::ComponentMetrics;
use c1_pipeline::sinks::opentelemetry::OpenTelemetryConfig;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use otlp_server::{Fault, OtlpServer};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Far above what any run here needs; reached only if something hangs.
const LIMIT: Duration = Duration::from_secs(30);

fn config(uri: &str, extra: &str) -> OpenTelemetryConfig {
    let text = format!(
        r#"
protocol.type = "http"
protocol.uri = "{uri}"
protocol.batch.timeout_secs = 0.05
protocol.request.retry_initial_backoff_secs = 0.01
protocol.request.retry_max_duration_secs = 0.05
{extra}
"#
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("invalid sink options: {e}\n{text}"))
}

/// An OCSF API Activity event with a unique `metadata.uid`.
fn ocsf(i: u64) -> Value {
    json!({
        "metadata": { "uid": format!("evt-{i}"), "version": "1.3.0" },
        "class_uid": 6003,
        "class_name": "API Activity",
        "activity_id": 1,
        "type_uid": 600301,
        "severity_id": if i.is_multiple_of(2) { 1 } else { 4 },
        "time": 1_767_225_600_000_i64 + i as i64,
        "actor": { "user": { "name": format!("user-{i}") } },
        "api": { "operation": "ServicePrincipalService/Create" },
    })
}

/// Runs the sink alone on `events` (source batches of 16), until it returns; gives each
/// event's final status and the sink's metrics.
async fn run_sink(
    config: &OpenTelemetryConfig,
    events: Vec<Value>,
) -> (Vec<BatchStatus>, Arc<ComponentMetrics>) {
    let (sender, input) = mpsc::channel(4);
    let metrics = Arc::new(ComponentMetrics::default());
    let cx = SinkContext {
        id: Arc::from("otel"),
        input: input.into(),
        acknowledgements: true,
        metrics: Arc::clone(&metrics),
    };
    let task = tokio::spawn(config.build(cx).expect("the sink builds"));
    let mut receivers = Vec::new();
    for chunk in events.chunks(16) {
        let mut batch = Vec::new();
        for value in chunk {
            let (notifier, receiver) = BatchNotifier::new();
            let value = serde_json::from_value(value.clone()).expect("JSON is a VRL value");
            batch.push(Event::from_source(
                value,
                "test",
                Some(notifier.finalizer()),
            ));
            receivers.push(receiver);
        }
        sender.send(batch).await.unwrap();
    }
    drop(sender);
    tokio::time::timeout(LIMIT, task)
        .await
        .expect("the sink finished in time")
        .expect("the sink task did not panic")
        .expect("the sink ended without error");
    let mut statuses = Vec::new();
    for receiver in receivers {
        let outcome = tokio::time::timeout(Duration::from_secs(1), receiver)
            .await
            .expect("every event was finalized when the sink returned");
        statuses.push(outcome);
    }
    (statuses, metrics)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|value| value.value.as_ref())
}

/// `path` (dot-separated) inside a `kvlist` body.
fn body_field<'a>(record: &'a LogRecord, path: &str) -> Option<&'a any_value::Value> {
    let mut value: &AnyValue = record.body.as_ref()?;
    for key in path.split('.') {
        let Some(any_value::Value::KvlistValue(list)) = &value.value else {
            return None;
        };
        value = list
            .values
            .iter()
            .find(|kv| kv.key == key)?
            .value
            .as_ref()?;
    }
    value.value.as_ref()
}

fn text(value: Option<&any_value::Value>) -> &str {
    match value {
        Some(any_value::Value::StringValue(text)) => text,
        other => panic!("not a string: {other:?}"),
    }
}

fn uid(record: &LogRecord) -> String {
    text(body_field(record, "metadata.uid")).to_owned()
}

/// Checks the documented mapping on the records of events `0..count`, each once.
fn assert_mapping(records: &[LogRecord], count: u64) {
    let mut uids: Vec<String> = records.iter().map(uid).collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len() as u64, count, "one record per event, none twice");
    assert_eq!(records.len() as u64, count);
    for record in records {
        let i: i64 = uid(record)["evt-".len()..].parse().unwrap();
        assert_eq!(
            record.time_unix_nano,
            (1_767_225_600_000 + i) as u64 * 1_000_000
        );
        assert!(record.observed_time_unix_nano > record.time_unix_nano);
        let severity = if i % 2 == 0 {
            (9, "INFO")
        } else {
            (17, "ERROR")
        };
        assert_eq!(
            (record.severity_number, record.severity_text.as_str()),
            severity
        );
        assert_eq!(record.event_name, "API Activity");
        let int = |key| match attribute(&record.attributes, key) {
            Some(any_value::Value::IntValue(n)) => *n,
            other => panic!("{key}: {other:?}"),
        };
        assert_eq!(
            (
                int("ocsf.class_uid"),
                int("ocsf.activity_id"),
                int("ocsf.type_uid")
            ),
            (6003, 1, 600_301)
        );
        assert_eq!(
            text(body_field(record, "actor.user.name")),
            format!("user-{i}")
        );
        assert_eq!(
            body_field(record, "class_uid"),
            Some(&any_value::Value::IntValue(6003))
        );
    }
}

#[tokio::test]
async fn protobuf_with_gzip_and_bearer_auth_carries_one_record_per_event() {
    let server = OtlpServer::start().await;
    let config = config(
        &server.uri(),
        r#"
protocol.encoding.codec = "otlp"
protocol.compression = "gzip"
protocol.auth.strategy = "bearer"
protocol.auth.token = "s3cret"
protocol.headers.x-scope-orgid = "tenant-1"
resource_attributes."deployment.environment" = "test"
"#,
    );
    let (statuses, metrics) = run_sink(&config, (0..100).map(ocsf).collect()).await;
    assert!(statuses.iter().all(|s| *s == BatchStatus::Delivered));
    assert_mapping(&server.records(), 100);
    let received = server.received();
    for request in &received {
        assert_eq!(request.content_type, "application/x-protobuf");
        assert!(request.gzip);
        assert_eq!(request.authorization.as_deref(), Some("Bearer s3cret"));
        assert_eq!(request.headers["x-scope-orgid"], "tenant-1");
        let resource = request.request.resource_logs[0].resource.as_ref().unwrap();
        assert_eq!(
            text(attribute(&resource.attributes, "service.name")),
            "conductorone"
        );
        assert_eq!(
            text(attribute(&resource.attributes, "deployment.environment")),
            "test"
        );
        let scope = request.request.resource_logs[0].scope_logs[0]
            .scope
            .as_ref()
            .unwrap();
        assert_eq!(scope.name, "c1-pipeline");
    }
    let sent = metrics.sent_total();
    assert_eq!(sent, 100);
}

#[tokio::test]
async fn otlp_json_without_compression_and_basic_auth() {
    let server = OtlpServer::start().await;
    let config = config(
        &server.uri(),
        r#"
protocol.encoding.codec = "json"
protocol.auth.strategy = "basic"
protocol.auth.user = "c1"
protocol.auth.password = "pw"
protocol.batch.max_events = 10
"#,
    );
    let (statuses, _) = run_sink(&config, (0..35).map(ocsf).collect()).await;
    assert!(statuses.iter().all(|s| *s == BatchStatus::Delivered));
    assert_mapping(&server.records(), 35);
    let received = server.received();
    assert!(
        received.len() >= 4,
        "batches of at most 10: {}",
        received.len()
    );
    for request in &received {
        assert_eq!(request.content_type, "application/json");
        assert!(!request.gzip);
        assert_eq!(request.authorization.as_deref(), Some("Basic YzE6cHc="));
    }
}

#[tokio::test]
async fn only_fields_choose_the_body_and_events_without_time_get_the_observed_time() {
    let server = OtlpServer::start().await;
    let config = config(
        &server.uri(),
        r#"
protocol.encoding.codec = "otlp"
protocol.encoding.only_fields = ["metadata", "message"]
"#,
    );
    let events = vec![
        ocsf(1),
        json!({"message": "not OCSF", "metadata": {"uid": "x-1"}}),
    ];
    let (statuses, _) = run_sink(&config, events).await;
    assert!(statuses.iter().all(|s| *s == BatchStatus::Delivered));
    let records = server.records();
    assert_eq!(records.len(), 2);
    assert!(
        body_field(&records[0], "actor").is_none(),
        "only_fields applied"
    );
    assert_eq!(text(body_field(&records[1], "message")), "not OCSF");
    assert_eq!(
        records[1].time_unix_nano,
        records[1].observed_time_unix_nano
    );
    assert_eq!(records[1].severity_number, 0);
}

#[tokio::test]
async fn a_503_then_success_delivers_every_event_once() {
    let server = OtlpServer::start().await;
    server.fail_with([
        Fault::Status(503, Some(0), "busy"),
        Fault::Status(429, None, "slow down"),
        Fault::Status(502, None, "bad gateway"),
    ]);
    let config = config(&server.uri(), "protocol.encoding.codec = \"otlp\"");
    let (statuses, _) = run_sink(&config, (0..20).map(ocsf).collect()).await;
    assert!(statuses.iter().all(|s| *s == BatchStatus::Delivered));
    assert_mapping(&server.records(), 20);
    assert!(
        server.requests() >= 4,
        "three faults, then the accepted requests"
    );
}

#[tokio::test]
async fn a_partial_success_is_counted_and_the_batch_delivered() {
    let server = OtlpServer::start().await;
    server.fail_with([Fault::PartialSuccess(2, "records too old")]);
    let config = config(
        &server.uri(),
        "protocol.encoding.codec = \"json\"\nprotocol.batch.max_events = 5",
    );
    let (statuses, metrics) = run_sink(&config, (0..5).map(ocsf).collect()).await;
    assert!(statuses.iter().all(|s| *s == BatchStatus::Delivered));
    assert_eq!(server.requests(), 1, "a partial success is not retried");
    assert_eq!(metrics.get("otlp_rejected_log_records_total"), 2);
}

#[tokio::test]
async fn a_400_rejects_the_batch_without_retrying() {
    let server = OtlpServer::start().await;
    server.fail_with([Fault::Status(400, None, "cannot decode")]);
    let config = config(
        &server.uri(),
        "protocol.encoding.codec = \"otlp\"\nprotocol.batch.max_events = 4",
    );
    let (statuses, metrics) = run_sink(&config, (0..8).map(ocsf).collect()).await;
    // The first request (4 events) is refused for good; the second is delivered.
    let rejected = statuses
        .iter()
        .filter(|s| **s == BatchStatus::Rejected)
        .count();
    assert_eq!(rejected, 4, "{statuses:?}");
    assert_eq!(server.records().len(), 4);
    assert_eq!(server.requests(), 2);
    assert_eq!(metrics.errors_total(), 1);
}

#[tokio::test]
async fn retries_exhausted_report_the_events_as_errored() {
    let server = OtlpServer::start().await;
    server.fail_with([
        Fault::Status(503, None, "down"),
        Fault::Status(503, None, "down"),
        Fault::Status(503, None, "down"),
    ]);
    let config = config(
        &server.uri(),
        "protocol.encoding.codec = \"otlp\"\nprotocol.request.retry_attempts = 1",
    );
    let (statuses, _) = run_sink(&config, (0..3).map(ocsf).collect()).await;
    assert!(
        statuses.iter().all(|s| *s == BatchStatus::Errored),
        "{statuses:?}"
    );
    assert_eq!(server.requests(), 2, "the attempt and one retry");
}

#[tokio::test]
async fn the_health_check_posts_an_empty_request_and_names_auth_on_401() {
    let server = OtlpServer::start().await;
    let config = config(&server.uri(), "protocol.encoding.codec = \"otlp\"");
    config.healthcheck().await.expect("a receiver is healthy");
    assert_eq!(server.requests(), 1);
    server.fail_with([Fault::Status(401, None, "unauthenticated")]);
    let error = config.healthcheck().await.unwrap_err();
    assert!(
        error.0.contains("401") && error.0.contains("protocol.auth"),
        "{}",
        error.0
    );
    let unreachable = self::config(
        "http://127.0.0.1:9/v1/logs",
        "protocol.encoding.codec = \"otlp\"",
    );
    let error = unreachable.healthcheck().await.unwrap_err();
    assert!(error.0.contains("cannot reach"), "{}", error.0);
}

/// The config example as shipped, its `${OTLP_LOGS_URI}` pointing at the receiver, on the
/// demo source (without its pacing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_example_runs_the_demo_into_the_receiver() {
    let server = OtlpServer::start().await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config-examples/conductorone-to-opentelemetry.toml");
    let text = std::fs::read_to_string(&path)
        .expect("the example exists")
        .replace("interval_secs = 0.002", "interval_secs = 0");
    let vars = [("OTLP_LOGS_URI", server.uri())];
    let summary = tokio::time::timeout(
        LIMIT,
        common::run_pipeline(&text, &path, &vars, std::future::pending()),
    )
    .await
    .expect("the demo's 500 events end the run")
    .expect("the run succeeds");
    let records = server.records();
    assert_eq!(records.len(), 500, "{:?}", summary.metrics);
    assert!(records.iter().all(|record| !record.event_name.is_empty()));
    assert!(records.iter().all(|record| record.severity_number > 0));
}
