//! The `splunk_hec_logs` sink against an in-process HEC emulator (`common/hec_server.rs`):
//! exact envelopes, exactly-once delivery without faults, at-least-once with them (503
//! bursts, delayed and lost acks, an invalid event mid-batch, 413, bad tokens), templated
//! index routing, the raw endpoint, health checks, option errors, secrets kept out of output,
//! and whole pipelines (the demo source, `config-examples/demo-to-splunk.toml`).
//!
//! Sink-level tests give every event its own batch notifier, so each event's final status
//! (delivered / errored / rejected) is checked individually.

#[path = "common/config.rs"]
mod config;
#[path = "common/hec_server.rs"]
mod hec_server;
#[path = "common/process.rs"]
mod process;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use c1_pipeline::ack::{BatchNotifier, BatchStatus};
use c1_pipeline::component::{SinkComponent, SinkContext};
use c1_pipeline::config::Config;
use c1_pipeline::event::Event;
use c1_pipeline::metrics::ComponentMetrics;
use c1_pipeline::sinks::splunk_hec_logs::SplunkHecLogsConfig;
use config::Toml;
use hec_server::{ACK_TOKEN, HecServer, NO_ACK_TOKEN, ServerConfig};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Far above what any run here needs; reached only if something hangs.
const LIMIT: Duration = Duration::from_secs(30);

/// Options every test starts from: short timers so faults resolve in well under a second.
fn base_config(endpoint: &str, token: &str, extra: &str) -> SplunkHecLogsConfig {
    let base = format!(
        r#"
endpoint = "{endpoint}"
default_token = "{token}"
encoding.codec = "json"
compression = "gzip"
batch.timeout_secs = 0.05
request.retry_initial_backoff_secs = 0.01
request.retry_max_duration_secs = 0.1
acknowledgements.query_interval = 0.2
acknowledgements.retry_limit = 5
"#
    );
    let mut table: toml::Table = base.parse().expect("base options are TOML");
    let overrides: toml::Table = extra.parse().expect("extra options are TOML");
    merge(&mut table, overrides);
    table
        .try_into()
        .unwrap_or_else(|e| panic!("invalid sink options: {e}\n{base}{extra}"))
}

/// A fresh emulator with the default settings, and [`base_config`] for it with `token` and
/// `extra`.
async fn emulator_and_config(token: &str, extra: &str) -> (HecServer, SplunkHecLogsConfig) {
    let server = HecServer::start(ServerConfig::default()).await;
    let config = base_config(&server.endpoint(), token, extra);
    (server, config)
}

/// `overrides` on top of `base`, table by table.
fn merge(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(more)) => merge(inner, more),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// An OCSF-like event with a unique `metadata.uid`.
fn ocsf(i: u64) -> Value {
    let class_uid = if i.is_multiple_of(4) { 3002 } else { 6003 };
    json!({
        "metadata": { "uid": format!("evt-{i}"), "product": { "name": "ConductorOne" } },
        "class_uid": class_uid,
        "activity_id": 1,
        "time": 1_767_225_600_000_i64 + i as i64 * 7,
        "device": { "hostname": format!("host-{}", i % 3) },
        "message": format!("event number {i}"),
    })
}

fn uid(event: &Value) -> String {
    event["metadata"]["uid"]
        .as_str()
        .unwrap_or_else(|| panic!("no metadata.uid in {event}"))
        .to_owned()
}

/// Runs the sink alone on `events` (each its own source batch), until it returns; gives
/// each event's final status.
async fn run_sink(config: &SplunkHecLogsConfig, events: Vec<Value>) -> Vec<BatchStatus> {
    let (sender, input) = mpsc::channel(4);
    let metrics = Arc::new(ComponentMetrics::default());
    let cx = SinkContext {
        id: Arc::from("splunk"),
        input: input.into(),
        acknowledgements: true,
        metrics,
    };
    let task = tokio::spawn(config.build(cx).expect("the sink builds"));
    let mut receivers = Vec::new();
    let mut batch = Vec::new();
    for value in events {
        let (notifier, receiver) = BatchNotifier::new();
        let value = serde_json::from_value(value).expect("JSON is a VRL value");
        batch.push(Event::from_source(
            value,
            "test",
            Some(notifier.finalizer()),
        ));
        receivers.push(receiver);
        if batch.len() == 32 {
            sender.send(std::mem::take(&mut batch)).await.unwrap();
        }
    }
    if !batch.is_empty() {
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
        statuses.push(
            tokio::time::timeout(Duration::from_secs(1), receiver)
                .await
                .expect("every event was finalized when the sink returned"),
        );
    }
    statuses
}

/// Collects the log lines of the current thread (tests here run on one thread, sink tasks
/// included) while the returned guard lives.
fn capture_logs() -> (
    Arc<std::sync::Mutex<Vec<u8>>>,
    tracing::subscriber::DefaultGuard,
) {
    #[derive(Clone)]
    struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = Capture(Arc::clone(&buffer));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

fn logs(buffer: &std::sync::Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
}

/// How many times each uid reached the server.
fn arrivals(server: &HecServer) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for received in server.events() {
        *counts.entry(uid(&received.event)).or_default() += 1;
    }
    counts
}

/// [`run_sink`] on the events `0..count` ([`ocsf`]).
async fn run_sink_on(config: &SplunkHecLogsConfig, count: u64) -> Vec<BatchStatus> {
    run_sink(config, (0..count).map(ocsf).collect()).await
}

/// Checks that the events for which `rejected` holds were rejected, and all others delivered
/// (`context` starts the failure message).
fn assert_rejected_only(statuses: &[BatchStatus], rejected: impl Fn(usize) -> bool, context: &str) {
    for (i, status) in statuses.iter().enumerate() {
        let expected = if rejected(i) {
            BatchStatus::Rejected
        } else {
            BatchStatus::Delivered
        };
        assert_eq!(*status, expected, "{context}event {i}");
    }
}

fn assert_all(statuses: &[BatchStatus], expected: BatchStatus) {
    for (i, status) in statuses.iter().enumerate() {
        assert_eq!(*status, expected, "event {i}");
    }
}

#[tokio::test]
async fn envelopes_are_exact_gzip_decodes_and_every_event_arrives_exactly_once() {
    let options = [
        r#"index = "ocsf_{{ class_uid }}""#,
        r#"source = "conductorone""#,
        r#"sourcetype = "ocsf:conductorone""#,
        r#"host_key = "device.hostname""#,
        r#"indexed_fields = ["class_uid", "metadata.uid"]"#,
        "batch.max_events = 40",
    ];
    let (server, config) = emulator_and_config(ACK_TOKEN, &options.join("\n")).await;
    let events: Vec<Value> = (0..300).map(ocsf).collect();
    let statuses = run_sink(&config, events.clone()).await;
    assert_all(&statuses, BatchStatus::Delivered);

    let counts = arrivals(&server);
    assert_eq!(counts.len(), 300);
    assert!(counts.values().all(|n| *n == 1), "duplicates: {counts:?}");
    let by_uid: HashMap<String, hec_server::Received> = server
        .events()
        .into_iter()
        .map(|r| (uid(&r.event), r))
        .collect();
    for original in &events {
        let got = &by_uid[&uid(original)];
        // The event itself is unchanged: OCSF `time` stays, nothing is added.
        assert_eq!(&got.event, original);
        let class_uid = original["class_uid"].as_i64().unwrap();
        assert_eq!(got.index.as_deref(), Some(&*format!("ocsf_{class_uid}")));
        assert_eq!(got.source.as_deref(), Some("conductorone"));
        assert_eq!(got.sourcetype.as_deref(), Some("ocsf:conductorone"));
        assert_eq!(
            got.host,
            original["device"]["hostname"].as_str().map(str::to_owned)
        );
        let time_ms = original["time"].as_i64().unwrap();
        assert_eq!(got.time, Some(time_ms as f64 / 1000.0));
        assert_eq!(
            got.fields,
            Some(json!({ "class_uid": class_uid, "metadata.uid": uid(original) }))
        );
    }
    let stats = server.stats();
    assert!(
        stats.posts >= 8,
        "batch.max_events = 40 means 8+ requests: {stats:?}"
    );
    assert_eq!(
        stats.gzip_posts, stats.posts,
        "every body is gzip: {stats:?}"
    );
    assert_eq!(stats.statuses.get(&200), Some(&stats.posts));
    assert_eq!(
        stats.ack_ids, stats.posts,
        "the token acknowledges every request"
    );
    assert!(stats.ack_queries >= 1);
    assert_eq!(stats.channels.len(), 1, "one channel GUID per sink");
}

#[tokio::test]
async fn end_of_input_sends_partial_batches_at_once_and_waits_for_their_acks() {
    let (server, config) = emulator_and_config(ACK_TOKEN, "batch.timeout_secs = 30").await;
    server.faults(|f| f.ack_delay = Duration::from_millis(200));
    let started = std::time::Instant::now();
    let statuses = run_sink_on(&config, 5).await;
    assert_all(&statuses, BatchStatus::Delivered);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the partial batch went out at end of input, not after batch.timeout_secs"
    );
    assert_eq!(arrivals(&server).len(), 5);
}

#[tokio::test]
async fn requests_stay_in_flight_while_acks_are_awaited() {
    let (server, config) =
        emulator_and_config(ACK_TOKEN, "batch.max_events = 10\nrequest.concurrency = 2").await;
    server.faults(|f| f.ack_delay = Duration::from_millis(500));
    let statuses = run_sink_on(&config, 120).await;
    assert_all(&statuses, BatchStatus::Delivered);
    let stats = server.stats();
    // Two request slots, yet many batches were accepted and waiting for their acks at once:
    // waiting for an ack does not hold a request slot.
    assert!(stats.max_unacked > 2, "{stats:?}");
    assert_eq!(arrivals(&server).len(), 120);
}

#[tokio::test]
async fn bodies_kept_for_acks_are_bounded_by_max_pending_bytes() {
    // A budget of one byte: one batch at a time is admitted, sent and awaits its ack; the
    // others wait before taking a request slot (backpressure), though two slots are free.
    let options = [
        "batch.max_events = 10",
        "request.concurrency = 2",
        "acknowledgements.max_pending_bytes = 1",
    ];
    let (server, config) = emulator_and_config(ACK_TOKEN, &options.join("\n")).await;
    server.faults(|f| f.ack_delay = Duration::from_millis(300));
    let statuses = run_sink_on(&config, 60).await;
    assert_all(&statuses, BatchStatus::Delivered);
    let stats = server.stats();
    assert_eq!(stats.max_unacked, 1, "{stats:?}");
    assert_eq!(arrivals(&server).len(), 60);
}

#[tokio::test]
async fn templated_index_routes_events_and_an_unrenderable_event_is_rejected() {
    let server = HecServer::start(ServerConfig {
        indexes: Some(vec!["acme".into(), "globex".into()]),
        ..ServerConfig::default()
    })
    .await;
    let config = base_config(
        &server.endpoint(),
        ACK_TOKEN,
        r#"index = "{{ tenant.name }}""#,
    );
    let events: Vec<Value> = (0..60)
        .map(|i| {
            let mut event = ocsf(i);
            match i % 3 {
                0 => event["tenant"] = json!({ "name": "acme" }),
                1 => event["tenant"] = json!({ "name": "globex" }),
                // No tenant: the template cannot render.
                _ => {}
            }
            event
        })
        .collect();
    let statuses = run_sink(&config, events).await;
    assert_rejected_only(&statuses, |i| i % 3 == 2, "");
    let received = server.events();
    assert_eq!(received.len(), 40);
    for r in received {
        let n: u64 = uid(&r.event)[4..].parse().unwrap();
        let expected = if n.is_multiple_of(3) {
            "acme"
        } else {
            "globex"
        };
        assert_eq!(r.index.as_deref(), Some(expected), "{}", r.event);
    }
}

#[tokio::test]
async fn busy_and_failing_responses_are_retried_and_nothing_is_lost() {
    let server = HecServer::start(ServerConfig::default()).await;
    server.faults(|f| {
        for _ in 0..3 {
            f.respond_next
                .push_back((503, json!({"text": "Server is busy", "code": 9}), None));
        }
        f.respond_next
            .push_back((429, json!({"text": "Too many"}), Some("0".into())));
        f.respond_next.push_back((500, json!({}), None));
        f.respond_next.push_back((408, json!({}), None));
        f.respond_next.push_back((502, Value::Null, None));
    });
    let config = base_config(&server.endpoint(), ACK_TOKEN, "batch.max_events = 25");
    let statuses = run_sink_on(&config, 200).await;
    assert_all(&statuses, BatchStatus::Delivered);
    let counts = arrivals(&server);
    assert_eq!(counts.len(), 200, "every event arrived");
    let stats = server.stats();
    assert_eq!(stats.statuses.get(&503), Some(&3));
    assert_eq!(stats.statuses.get(&429), Some(&1));
}

#[tokio::test]
async fn delayed_and_lost_acks_lead_to_resends_not_losses() {
    let server = HecServer::start(ServerConfig::default()).await;
    server.faults(|f| {
        f.ack_delay = Duration::from_millis(150);
        f.drop_next_acks = 2;
    });
    // Ack deadline: 0.1 s × 4 = 0.4 s.
    let options = [
        "batch.max_events = 50",
        "acknowledgements.query_interval = 0.1",
        "acknowledgements.retry_limit = 4",
    ];
    let config = base_config(&server.endpoint(), ACK_TOKEN, &options.join("\n"));
    let statuses = run_sink_on(&config, 200).await;
    assert_all(&statuses, BatchStatus::Delivered);
    let counts = arrivals(&server);
    assert_eq!(counts.len(), 200, "every event arrived at least once");
    let total: usize = counts.values().sum();
    assert!(
        total >= 200 + 2,
        "the two batches whose acks never came were resent: {total} arrivals"
    );
    assert_eq!(server.stats().ack_ids, 4 + 2);
}

#[tokio::test]
async fn ack_polling_starts_fast_and_backs_off_while_nothing_is_acked() {
    let (server, config) = emulator_and_config(
        ACK_TOKEN,
        "acknowledgements.query_interval = 1\nacknowledgements.retry_limit = 10",
    )
    .await;
    server.faults(|f| f.ack_delay = Duration::from_millis(1_500));
    let started = std::time::Instant::now();
    let statuses = run_sink_on(&config, 5).await;
    assert_all(&statuses, BatchStatus::Delivered);
    let queries = server.stats().ack_queries;
    // Fixed 50 ms polling would ask ~30 times in 1.5 s; doubling from 50 ms asks about 6 times.
    assert!((2..=9).contains(&queries), "{queries} ack queries");
    // ... and the ack is still noticed within one query_interval of being ready.
    assert!(started.elapsed() < Duration::from_millis(1_500 + 1_000 + 500));
}

#[tokio::test]
async fn acks_that_never_come_end_as_errored_once_attempts_run_out() {
    let (server, config) = emulator_and_config(ACK_TOKEN, "request.retry_attempts = 1\nacknowledgements.query_interval = 0.05\nacknowledgements.retry_limit = 2").await;
    server.faults(|f| f.drop_next_acks = usize::MAX);
    let statuses = run_sink_on(&config, 10).await;
    // Never confirmed: the source is told to resend, not that they were delivered.
    assert_all(&statuses, BatchStatus::Errored);
    assert_eq!(server.stats().posts, 2, "sent, then resent once");
}

#[tokio::test]
async fn an_invalid_event_mid_batch_is_rejected_alone_and_the_rest_resent() {
    for compression in ["gzip", "none"] {
        let server = HecServer::start(ServerConfig::default()).await;
        let events: Vec<Value> = (0..20)
            .map(|i| {
                let mut event = ocsf(i);
                if i == 7 {
                    event["hec_invalid"] = json!(true);
                }
                event
            })
            .collect();
        let config = base_config(
            &server.endpoint(),
            ACK_TOKEN,
            &format!("batch.timeout_secs = 0.5\ncompression = \"{compression}\""),
        );
        let (log, _guard) = capture_logs();
        let statuses = run_sink(&config, events).await;
        let log = logs(&log);
        assert!(
            log.contains("refused one event") && log.contains("event_index=7"),
            "{log}"
        );
        assert!(log.contains("Invalid data format"), "{log}");
        assert_rejected_only(&statuses, |i| i == 7, &format!("{compression}: "));
        let counts = arrivals(&server);
        assert_eq!(counts.len(), 19, "{compression}");
        assert!(counts.values().all(|n| *n == 1), "{counts:?}");
        assert!(!counts.contains_key("evt-7"));
        let stats = server.stats();
        assert_eq!(stats.statuses.get(&400), Some(&1), "{stats:?}");
    }
}

#[tokio::test]
async fn without_end_to_end_acknowledgements_events_are_released_on_receipt() {
    let (server, config) = emulator_and_config(ACK_TOKEN, "request.retry_attempts = 1").await;
    server.faults(|f| f.unhealthy = true);
    let (sender, input) = mpsc::channel(4);
    let cx = SinkContext {
        id: Arc::from("splunk"),
        input: input.into(),
        acknowledgements: false,
        metrics: Arc::new(ComponentMetrics::default()),
    };
    let task = tokio::spawn(config.build(cx).expect("the sink builds"));
    let (notifier, receiver) = BatchNotifier::new();
    let batch = (0..5)
        .map(|i| {
            let value = serde_json::from_value(ocsf(i)).unwrap();
            Event::from_source(value, "test", Some(notifier.finalizer()))
        })
        .collect();
    drop(notifier);
    sender.send(batch).await.unwrap();
    // Released before any request succeeded: the source does not wait for this sink.
    let status = tokio::time::timeout(Duration::from_secs(5), receiver)
        .await
        .expect("released on receipt");
    assert_eq!(status, BatchStatus::Delivered);
    drop(sender);
    tokio::time::timeout(LIMIT, task)
        .await
        .expect("the sink gave up after retry_attempts")
        .unwrap()
        .unwrap();
    assert_eq!(server.stats().statuses.get(&503), Some(&2));
}

#[tokio::test]
async fn a_payload_too_large_is_split_and_an_event_too_large_alone_is_rejected() {
    let server = HecServer::start(ServerConfig::default()).await;
    server.faults(|f| f.max_content_length = Some(4_000));
    let mut events: Vec<Value> = (0..60).map(ocsf).collect();
    events[30]["message"] = json!("x".repeat(10_000));
    let config = base_config(
        &server.endpoint(),
        ACK_TOKEN,
        "compression = \"none\"\nbatch.timeout_secs = 0.5",
    );
    let statuses = run_sink(&config, events).await;
    assert_rejected_only(&statuses, |i| i == 30, "");
    let counts = arrivals(&server);
    assert_eq!(counts.len(), 59);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    let stats = server.stats();
    assert!(
        stats.statuses.get(&413).copied().unwrap_or(0) >= 2,
        "{stats:?}"
    );
    assert!(stats.max_body <= 4_000, "{stats:?}");
}

#[tokio::test]
async fn a_refused_token_is_retried_slowly_until_it_is_accepted() {
    let server = HecServer::start(ServerConfig::default()).await;
    let late_token = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    let config = base_config(&server.endpoint(), late_token, "");
    let (log, _guard) = capture_logs();
    let sink = tokio::spawn({
        let config = config.clone();
        async move { run_sink_on(&config, 30).await }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let refused = server.stats().statuses.get(&403).copied().unwrap_or(0);
    assert!(refused >= 1, "the token was refused at first");
    assert!(
        refused <= 10,
        "retried slowly (every retry_max_duration_secs = 0.1 s), not hammered: {refused}"
    );
    assert!(!sink.is_finished(), "no crash, no give-up");
    server.set_token(late_token, true);
    let statuses = sink.await.unwrap();
    assert_all(&statuses, BatchStatus::Delivered);
    assert_eq!(arrivals(&server).len(), 30);
    let log = logs(&log);
    assert!(log.contains("refused the token"), "{log}");
    assert!(log.contains("configuration problem"), "{log}");
    assert!(
        !log.contains(late_token),
        "the token leaked into the logs:\n{log}"
    );
}

#[tokio::test]
async fn without_indexer_acks_a_200_means_delivered() {
    // A token without indexer acknowledgement returns no ackId.
    let (server, config) = emulator_and_config(NO_ACK_TOKEN, "").await;
    let statuses = run_sink_on(&config, 50).await;
    assert_all(&statuses, BatchStatus::Delivered);
    assert_eq!(server.stats().ack_queries, 0);

    // Indexer acknowledgements turned off in the sink: ack ids are ignored.
    let (server, config) = emulator_and_config(
        ACK_TOKEN,
        "acknowledgements.indexer_acknowledgements_enabled = false",
    )
    .await;
    let statuses = run_sink_on(&config, 50).await;
    assert_all(&statuses, BatchStatus::Delivered);
    assert_eq!(server.stats().ack_queries, 0);
    assert_eq!(arrivals(&server).len(), 50);
}

#[tokio::test]
async fn the_raw_endpoint_sends_lines_with_metadata_in_the_query() {
    let options = [
        r#"endpoint_target = "raw""#,
        r#"encoding.codec = "text""#,
        r#"sourcetype = "c1:text""#,
        r#"index = "idx_{{ class_uid }}""#,
        r#"host_key = "device.hostname""#,
    ];
    let (server, config) = emulator_and_config(ACK_TOKEN, &options.join("\n")).await;
    let statuses = run_sink_on(&config, 30).await;
    assert_all(&statuses, BatchStatus::Delivered);
    let received = server.events();
    assert_eq!(received.len(), 30);
    for r in received {
        assert_eq!(r.endpoint, "raw");
        let text = r.event.as_str().unwrap();
        let n: u64 = text.strip_prefix("event number ").unwrap().parse().unwrap();
        let class_uid = if n.is_multiple_of(4) { 3002 } else { 6003 };
        assert_eq!(r.index, Some(format!("idx_{class_uid}")));
        assert_eq!(r.host, Some(format!("host-{}", n % 3)));
        assert_eq!(r.sourcetype.as_deref(), Some("c1:text"));
        assert!(r.channel.is_some());
    }
}

#[tokio::test]
async fn the_health_check_tells_unhealthy_from_invalid_token() {
    let server = HecServer::start(ServerConfig::default()).await;
    let good = base_config(&server.endpoint(), ACK_TOKEN, "");
    good.healthcheck().await.expect("healthy");

    let secret = "bbbbbbbb-0000-0000-0000-000000000000";
    let bad = base_config(&server.endpoint(), secret, "");
    let error = bad.healthcheck().await.unwrap_err().to_string();
    assert!(error.contains("rejected the token"), "{error}");
    assert!(!error.contains(secret), "the token leaked: {error}");

    server.faults(|f| f.unhealthy = true);
    let error = good.healthcheck().await.unwrap_err().to_string();
    assert!(error.contains("unhealthy"), "{error}");
    assert!(!error.contains("token"), "{error}");

    let unreachable = base_config("http://127.0.0.1:1", ACK_TOKEN, "");
    let error = unreachable.healthcheck().await.unwrap_err().to_string();
    assert!(error.contains("cannot reach"), "{error}");

    let disabled = base_config(
        "http://127.0.0.1:1",
        ACK_TOKEN,
        "healthcheck.enabled = false",
    );
    disabled
        .healthcheck()
        .await
        .expect("a disabled check passes");
}

#[test]
fn the_token_never_appears_in_debug_output_or_errors() {
    let secret = "s3cr3t-t0ken-value";
    let config = base_config("http://127.0.0.1:8088", secret, "");
    let debug = format!("{config:?} {config:#?}");
    assert!(!debug.contains(secret), "{debug}");
    assert!(debug.contains("REDACTED"));

    // Through the whole configuration, as `validate` would print it.
    let text = Toml::new().demo_with("demo", &["count = 1"]).splunk_hec(
        "splunk",
        &["demo"],
        ("not a url", secret),
        &[],
    );
    let config = Config::from_toml(&text, Path::new("test.toml"), &|_| None).unwrap();
    assert!(!format!("{config:?}").contains(secret));
    let errors = c1_pipeline::topology::check_build(&config).unwrap_err();
    let shown = format!("{errors} {errors:?}");
    assert!(shown.contains("endpoint"), "{shown}");
    assert!(!shown.contains(secret), "{shown}");
}

#[test]
fn option_errors_name_the_option() {
    let build_error = |extra: &str| {
        let text = Toml::new().demo("demo").splunk_hec(
            "splunk",
            &["demo"],
            ("https://splunk.example.com:8088", "t"),
            &[extra],
        );
        match Config::from_toml(&text, Path::new("test.toml"), &|_| None) {
            Err(errors) => errors.to_string(),
            Ok(config) => c1_pipeline::topology::check_build(&config)
                .expect_err(extra)
                .to_string(),
        }
    };
    for (extra, expected) in [
        ("no_such_option = 1", "no_such_option"),
        ("index = \"{{ tenant\"", "index"),
        ("request.concurrency = 0", "concurrency"),
        ("request.concurrency = \"lots\"", "concurrency"),
        ("compression = \"zstd\"", "compression"),
        ("batch.timeout_secs = 0", "batch.timeout_secs"),
        ("acknowledgements.retry_limit = 0", "retry_limit"),
        ("tls.ca_file = \"/no/such/ca.pem\"", "tls.ca_file"),
        ("tls.key_file = \"/no/such/key.pem\"", "tls.crt_file"),
        ("indexed_fields = [\"a..b\"]", "indexed_fields"),
    ] {
        let message = build_error(extra);
        assert!(message.contains(expected), "{extra}: {message}");
    }
}

#[test]
fn defaults_follow_vector() {
    let config = base_config("https://splunk.example.com:8088", "t", "");
    let defaults: SplunkHecLogsConfig = toml::from_str(
        "endpoint = \"https://h:8088\"\ndefault_token = \"t\"\nencoding.codec = \"json\"",
    )
    .unwrap();
    // Unset: the global `log_schema.host_key`, `host` by default.
    assert_eq!(defaults.host_key, None);
    assert!(defaults.acknowledgements.indexer_acknowledgements_enabled);
    assert_eq!(defaults.acknowledgements.query_interval, 10.0);
    assert_eq!(defaults.acknowledgements.retry_limit, 30);
    assert_eq!(defaults.acknowledgements.max_pending_acks, 1_000_000);
    assert_eq!(defaults.request.retry_attempts, u64::MAX);
    assert_eq!(defaults.request.retry_initial_backoff_secs, 1.0);
    assert_eq!(defaults.request.retry_max_duration_secs, 30.0);
    assert_eq!(defaults.request.timeout_secs, 60.0);
    assert!(defaults.healthcheck.enabled);
    assert_eq!(config.acknowledgements(), None);
    let off = base_config("https://h:8088", "t", "acknowledgements.enabled = false");
    assert_eq!(off.acknowledgements(), Some(false));
}

/// Runs a whole pipeline from TOML text against the server; `vars` feed `${VAR}`.
async fn run_pipeline(text: &str, vars: &[(&str, String)]) -> c1_pipeline::topology::RunSummary {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let lookup = move |name: &str| vars.get(name).cloned();
    let config = Config::from_toml(text, Path::new("pipeline.toml"), &lookup)
        .unwrap_or_else(|e| panic!("{e}"));
    let graph = c1_pipeline::config::graph::check(&config).unwrap_or_else(|e| panic!("{e}"));
    tokio::time::timeout(
        LIMIT,
        c1_pipeline::topology::run(&config, &graph, std::future::pending(), Default::default()),
    )
    .await
    .expect("the pipeline finished in time")
    .unwrap_or_else(|e| panic!("the pipeline failed: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_pipeline_delivers_every_event_exactly_once() {
    let server = HecServer::start(ServerConfig::default()).await;
    let text = Toml::new()
        .demo_with("c1", &["count = 1000", "interval_secs = 0", "seed = 11"])
        .splunk_hec(
            "splunk",
            &["c1"],
            ("${HEC_ENDPOINT}", "${HEC_TOKEN}"),
            &[
                r#"sourcetype = "ocsf:conductorone""#,
                r#"compression = "gzip""#,
                "batch.max_events = 100",
                "batch.timeout_secs = 0.05",
                "acknowledgements.query_interval = 0.2",
            ],
        );
    let summary = run_pipeline(
        &text,
        &[
            ("HEC_ENDPOINT", server.endpoint()),
            ("HEC_TOKEN", ACK_TOKEN.to_owned()),
        ],
    )
    .await;
    let counts = arrivals(&server);
    assert_eq!(counts.len(), 1000);
    assert!(counts.values().all(|n| *n == 1));
    assert!(
        server
            .events()
            .iter()
            .all(|r| r.sourcetype.as_deref() == Some("ocsf:conductorone"))
    );
    let sink = summary
        .metrics
        .iter()
        .find(|m| m.component == "sinks.splunk")
        .unwrap();
    assert_eq!((sink.received_events, sink.sent_events), (1000, 1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_to_splunk_example_runs_against_the_emulator() {
    let server = HecServer::start(ServerConfig::default()).await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config-examples/demo-to-splunk.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    run_pipeline(
        &text,
        &[
            ("SPLUNK_HEC_ENDPOINT", server.endpoint()),
            ("SPLUNK_HEC_TOKEN", ACK_TOKEN.to_owned()),
        ],
    )
    .await;
    let received = server.events();
    assert!(!received.is_empty());
    let counts = arrivals(&server);
    assert_eq!(counts.len(), received.len(), "no duplicates");
    for r in &received {
        assert_eq!(r.sourcetype.as_deref(), Some("ocsf:conductorone"));
        assert_ne!(r.event["activity_id"], json!(2), "reads are filtered out");
        // The envelope time is the OCSF time in seconds.
        assert_eq!(
            r.time,
            Some(r.event["time"].as_i64().unwrap() as f64 / 1000.0)
        );
    }
    assert!(server.stats().gzip_posts > 0);
}

/// Runs the binary as `launch` says on `config` (TOML) until it exits, within [`LIMIT`],
/// letting the runtime's other worker serve the HEC emulator meanwhile (multi-thread tests).
fn run_to_end(launch: process::Launch<'_>, config: &str) -> process::Finished {
    tokio::task::block_in_place(|| launch.start(config).wait(LIMIT))
}

/// The binary's whole stderr for a `conductorone_demo` → `splunk_hec_logs` pipeline sending
/// 3 events to `server` with `token`, at `log_level` (`None`: the default).
async fn stderr_of_a_run(server: &HecServer, token: &str, log_level: Option<&str>) -> String {
    let config = Toml::new()
        .demo_with("demo", &["count = 3", "interval_secs = 0"])
        .splunk_hec(
            "splunk",
            &["demo"],
            (&server.endpoint(), "${TEST_HEC_TOKEN}"),
            &[
                "batch.timeout_secs = 0.05",
                "request.retry_initial_backoff_secs = 0.01",
                "request.retry_max_duration_secs = 0.1",
                "acknowledgements.query_interval = 0.2",
            ],
        );
    let args: Vec<&str> = log_level
        .map(|level| vec!["--log-level", level])
        .unwrap_or_default();
    let launch = process::Launch {
        args: &args,
        env: &[("TEST_HEC_TOKEN", token)],
        ..Default::default()
    };
    run_to_end(launch, &config).stderr_text()
}

/// A HEC whose health check quotes the token, which refuses it quoting its start, then
/// refuses the batch for good quoting it whole: the logs (at the default level and at
/// debug) show `[REDACTED]` instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_messages_quoting_the_token_are_logged_redacted() {
    let token = uuid::Uuid::new_v4().to_string();
    let server = HecServer::start(ServerConfig {
        tokens: vec![(token.clone(), true)],
        ..ServerConfig::default()
    })
    .await;
    for log_level in [None, Some("debug")] {
        server.faults(|f| {
            f.health_answer = Some((
                400,
                json!({ "text": format!("Invalid token {token}"), "code": 4 }),
            ));
            f.respond_next = [
                (
                    403,
                    json!({ "text": format!("Token {}… is disabled", &token[..13]), "code": 4 }),
                    None,
                ),
                (
                    400,
                    json!({ "text": format!("Incorrect data for token {token}"), "code": 5 }),
                    None,
                ),
            ]
            .into();
        });
        let stderr = stderr_of_a_run(&server, &token, log_level).await;
        assert_eq!(server.queued_answers(), 0, "{stderr}");
        for expected in [
            "rejected the token (HTTP 400 Bad Request, code 4: Invalid token [REDACTED])",
            "reason=code 4: Token [REDACTED]… is disabled",
            "reason=code 5: Incorrect data for token [REDACTED]",
            "refused the batch permanently",
        ] {
            assert!(
                stderr.contains(expected),
                "{expected:?} is not in:\n{stderr}"
            );
        }
        assert!(
            !stderr.contains(&token[..8]),
            "the start of the token is in the logs:\n{stderr}"
        );
    }
}

/// Issue 12: with gzip, a demo source sending as fast as it can and acks that never come,
/// memory must stay near `acknowledgements.max_pending_bytes` (64 MiB by default) — the sink
/// stops taking input once the budget is spent — instead of growing 4× past it (283 MB was
/// measured when the budget counted only the compressed bodies). The process's peak resident
/// memory (`VmHWM`, which no sampling gap can miss) must stay within 160 MiB, the budget plus
/// the process's own ~40 MiB and allocator slack; SIGTERM must then end it within the
/// graceful shutdown limit (the acks still never come, so the limit is what ends it).
#[cfg(target_os = "linux")]
#[test]
fn memory_stays_near_max_pending_bytes_when_acks_never_come() {
    use process::{Pipeline, log_records, peak_resident_bytes, records_with_message, tail};
    use std::time::Instant;

    const MIB: u64 = 1024 * 1024;
    const PEAK_LIMIT: u64 = 160 * MIB;
    /// Input counts as blocked once the HEC has seen no new event for this long.
    const STALL: Duration = Duration::from_secs(5);
    /// Far above the time a debug build needs to spend the budget.
    const FILL_LIMIT: Duration = Duration::from_secs(240);
    const GRACE_SECS: u64 = 2;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(HecServer::start(ServerConfig {
        record: false,
        ..ServerConfig::default()
    }));
    server.faults(|f| f.drop_next_acks = usize::MAX);
    let config = Toml::new()
        .demo_with("demo", &["interval_secs = 0"])
        .splunk_hec(
            "splunk",
            &["demo"],
            (&server.endpoint(), ACK_TOKEN),
            &[r#"compression = "gzip""#],
        );
    let grace = GRACE_SECS.to_string();
    let mut pipeline = Pipeline::start(
        &config,
        &[
            "--log-format",
            "json",
            "--graceful-shutdown-limit-secs",
            &grace,
        ],
        None,
    );
    let pid = pipeline.pid();
    let started = Instant::now();
    // Until input is blocked, or memory is past the limit already (no need to wait then).
    let (mut sent, mut last_growth, mut peak) = (0, Instant::now(), 0);
    while last_growth.elapsed() < STALL && peak <= PEAK_LIMIT {
        assert!(
            started.elapsed() < FILL_LIMIT,
            "the HEC still receives events after {FILL_LIMIT:?} ({sent} so far): the sink never \
             stopped taking input; stderr:\n{}",
            tail(&pipeline.stderr_snapshot())
        );
        assert!(
            pipeline.is_running(),
            "c1-pipeline exited; stderr:\n{}",
            tail(&pipeline.stderr_snapshot())
        );
        std::thread::sleep(Duration::from_millis(250));
        peak = peak_resident_bytes(pid).expect("VmHWM of the pipeline");
        let now = server.stats().events;
        if now > sent {
            (sent, last_growth) = (now, Instant::now());
        }
    }
    let stats = server.stats();
    eprintln!(
        "after {:?}: {sent} events in {} requests awaiting acks (the last received at {:?}); \
         peak resident memory {} MiB",
        started.elapsed(),
        stats.ack_ids,
        last_growth - started,
        peak / MIB
    );

    pipeline.signal(libc::SIGTERM);
    let signalled = Instant::now();
    let run = pipeline.wait(Duration::from_secs(GRACE_SECS + 20));
    let exited = signalled.elapsed();
    assert!(
        exited < Duration::from_secs(GRACE_SECS + 5),
        "exited {exited:?} after SIGTERM with a {GRACE_SECS} s graceful shutdown limit"
    );
    let records = log_records(&run.stderr_text());
    assert!(
        !records_with_message(
            &records,
            "graceful shutdown limit reached; events still in these components were not delivered (sources will resend unacknowledged data)"
        )
        .is_empty(),
        "the unacknowledged batches kept the sink busy until the limit; stderr:\n{}",
        tail(&run.stderr_text())
    );
    assert!(
        !run.status.success(),
        "undelivered events must fail the run"
    );
    assert!(
        peak <= PEAK_LIMIT,
        "peak resident memory {} MiB with the 64 MiB default max_pending_bytes ({sent} events \
         awaiting acks)",
        peak / MIB
    );
}

/// Issue 12: `stdin` used to report whole 64-event batches as undelivered ("107 events … not
/// delivered" when HEC refused 2): it counts events now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_counts_the_events_a_sink_refused_not_their_batches() {
    let server = HecServer::start(ServerConfig::default()).await;
    let config = Toml::new().stdin_json("in").splunk_hec(
        "splunk",
        &["in"],
        (&server.endpoint(), ACK_TOKEN),
        &[
            "batch.timeout_secs = 0.05",
            "acknowledgements.query_interval = 0.2",
        ],
    );
    let mut input = String::new();
    for i in 0..107 {
        let mut event = ocsf(i);
        if i == 10 || i == 70 {
            event["hec_invalid"] = json!(true);
        }
        input.push_str(&format!("{event}\n"));
    }
    let launch = process::Launch {
        input: Some(input.into_bytes()),
        ..Default::default()
    };
    let output = run_to_end(launch, &config);
    let stderr = output.stderr_text();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 events read from stdin were not delivered"),
        "{stderr}"
    );
    assert_eq!(arrivals(&server).len(), 105);
}

/// `request.retry_attempts` is Vector's "maximum number of retries": 0 is valid and means the
/// first attempt only (it counted attempts, and refused 0, before).
#[tokio::test]
async fn zero_retry_attempts_means_one_attempt_and_no_retry() {
    let (server, config) = emulator_and_config(ACK_TOKEN, "request.retry_attempts = 0").await;
    server.faults(|f| f.unhealthy = true);
    let statuses = run_sink_on(&config, 3).await;
    assert_all(&statuses, BatchStatus::Errored);
    assert_eq!(server.stats().statuses.get(&503), Some(&1), "no retry");
}
