//! The `conductorone` source against an in-process fake tenant (`tests/common/c1_server.rs`):
//! authentication, paging, resume, fault handling, checkpoints over acknowledged events, and
//! (with the real binary) crash safety under `kill -9` and secret-free logs.

#[path = "common/c1_server.rs"]
mod c1_server;
mod common;
#[path = "common/s3_server.rs"]
mod s3_server;
// DPoP-bound credentials and bounded windows, with this file's helpers.
#[path = "conductorone_source/dpop.rs"]
mod dpop;
#[path = "conductorone_source/window.rs"]
mod window;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use c1_pipeline::ack::BatchStatus;
use c1_pipeline::component::{SourceComponent, SourceContext};
use c1_pipeline::event::Batch;
use c1_pipeline::metrics::ComponentMetrics;
use c1_pipeline::sources::conductorone::ConductoroneConfig;
use c1_pipeline::test_support::{Checkpoint, CheckpointStore};
use c1_pipeline::topology::Fanout;
use c1_server::{FakeC1, Fault, make_events};
use common::config::Toml;
use common::source::{RunningSource, start_source};
use common::wait::poll_until;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a condition may take to come true ([`poll_until`]), and how often it is checked.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

const CLIENT_ID: &str = "clever-fox-42195@acme.conductor.one/spc";
/// 2026-01-01T00:00:00Z in ms.
const T0: i64 = 1_767_225_600_000;

/// A source configuration for `server`, with fast polling and retries, plus `extra` TOML.
fn config(server: &FakeC1, extra: &str) -> ConductoroneConfig {
    let mut text = format!(
        "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{}\"\nbase_url = \"{}\"\n{extra}\n",
        server.secret(),
        server.base_url()
    );
    for (key, default) in [
        ("poll_interval_secs", "0.2"),
        ("retry_initial_backoff_secs", "0.05"),
        ("retry_max_backoff_secs", "1.0"),
        ("start_at", "\"beginning\""),
    ] {
        if !extra.contains(key) {
            text.push_str(&format!("{key} = {default}\n"));
        }
    }
    toml::from_str(&text).expect("valid source configuration")
}

/// A running source whose only consumer is the test.
type Running = RunningSource;

fn start(config: &ConductoroneConfig, data_dir: &Path, acknowledgements: bool) -> Running {
    start_source(config, "c1", data_dir, acknowledgements, 2)
}

/// A fake tenant holding the events `0..count` (see [`make_events`]).
async fn tenant(count: usize) -> FakeC1 {
    FakeC1::start(CLIENT_ID, make_events(0, count, T0, false)).await
}

/// [`start`] on [`config`]`(server, extra)` with a fresh data_dir (returned with the source).
fn start_in_a_fresh_dir(
    server: &FakeC1,
    extra: &str,
    acknowledgements: bool,
) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = start(&config(server, extra), dir.path(), acknowledgements);
    (dir, source)
}

/// [`tenant`] with `count` events, and the source started on it ([`start_in_a_fresh_dir`]).
async fn tenant_and_source(
    count: usize,
    extra: &str,
    acknowledgements: bool,
) -> (FakeC1, tempfile::TempDir, Running) {
    let server = tenant(count).await;
    let (dir, source) = start_in_a_fresh_dir(&server, extra, acknowledgements);
    (server, dir, source)
}

/// The binary's configuration: a `conductorone` source for `server` (its secret from
/// `TEST_C1_SECRET`, fast polling and retries as `timing` says, then `extra` lines) into a
/// console sink, with its data_dir under `dir`.
fn binary_config(server: &FakeC1, dir: &Path, timing: &[&str], extra: &[&str]) -> String {
    let client_id = format!("client_id = \"{CLIENT_ID}\"");
    let base_url = format!("base_url = \"{}\"", server.base_url());
    let mut lines = vec![
        r#"type = "conductorone""#,
        &client_id,
        r#"client_secret = "${TEST_C1_SECRET}""#,
        &base_url,
        r#"start_at = "beginning""#,
    ];
    lines.extend_from_slice(timing);
    lines.extend_from_slice(extra);
    let data_dir = format!("data_dir = \"{}\"", dir.join("data").display());
    Toml::new()
        .lines(&[&data_dir])
        .table("sources.c1", &lines)
        .console("out", &["c1"])
        .into()
}

fn uid(event: &c1_pipeline::event::Event) -> String {
    let json = serde_json::to_value(&event.value).expect("serializable");
    json["metadata"]["uid"].as_str().expect("uid").to_owned()
}

impl Running {
    /// Receives batches, acknowledging each as delivered, until `n` events have arrived.
    async fn collect(&mut self, n: usize, within: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        let mut events = Vec::new();
        while events.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let batch = tokio::time::timeout(left, self.batches.recv())
                .await
                .unwrap_or_else(|_| panic!("only {} of {n} events within {within:?}", events.len()))
                .expect("source still sending");
            for mut event in batch {
                events.push(serde_json::to_value(&event.value).expect("serializable"));
                event.finalize(BatchStatus::Delivered);
            }
        }
        events
    }

    /// Asserts nothing more arrives for `quiet`.
    async fn assert_quiet(&mut self, quiet: Duration) {
        self.assert_quiet_showing(quiet, uid).await;
    }

    async fn stop(self) -> Result<(), c1_pipeline::component::ComponentError> {
        self.stop_within(Duration::from_secs(10)).await
    }
}

fn uids(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["metadata"]["uid"].as_str().expect("uid").to_owned())
        .collect()
}

fn expected_uids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("evt-{i:06}")).collect()
}

fn checkpoint(dir: &Path) -> Option<Checkpoint> {
    CheckpointStore::new(dir, "c1")
        .load()
        .expect("readable checkpoint")
}

/// Waits until the checkpoint's uid is `uid`.
async fn wait_for_checkpoint(dir: &Path, uid: &str) {
    poll_until(WAIT, POLL, async || {
        let current = checkpoint(dir);
        match current.as_ref().and_then(|c| c.last_uid.as_deref()) == Some(uid) {
            true => Ok(()),
            false => Err(format!("checkpoint stuck at {current:?}, expected {uid}")),
        }
    })
    .await;
}

/// Waits until the sink of [`sink_that_flushes_on_close`] holds `count` events; `short` says
/// what is wrong when it holds fewer.
async fn wait_until_held(
    held: &std::sync::atomic::AtomicUsize,
    count: usize,
    short: impl Fn(usize) -> String,
) {
    poll_until(WAIT, POLL, async || {
        let now = held.load(std::sync::atomic::Ordering::SeqCst);
        if now >= count {
            Ok(())
        } else {
            Err(short(now))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_then_live_polling_delivers_every_event_exactly_once() {
    let (server, dir, mut source) = tenant_and_source(1000, "", true).await;
    let events = source.collect(1000, Duration::from_secs(20)).await;
    assert_eq!(uids(&events), expected_uids(0..1000));
    wait_for_checkpoint(dir.path(), "evt-000999").await;

    // New events arrive at the tail: the next poll resumes after the last delivered one.
    {
        let mut state = server.lock();
        let more = make_events(1000, 50, T0 + 1_000_000, false);
        state.events.extend(more);
    }
    let events = source.collect(50, Duration::from_secs(10)).await;
    assert_eq!(uids(&events), expected_uids(1000..1050));
    source.assert_quiet(Duration::from_millis(600)).await;
    let metrics = Arc::clone(&source.metrics);
    source.stop().await.expect("clean stop");
    assert_eq!(
        checkpoint(dir.path()),
        Some(Checkpoint {
            last_uid: Some("evt-001049".into()),
            last_time: Some(T0 + 1_000_000 + 49_000)
        })
    );

    let state = server.lock();
    assert!(state.auth_failures.is_empty(), "{:?}", state.auth_failures);
    assert_eq!(state.mints, 1, "the token is cached");
    let bodies: Vec<&serde_json::Value> = state.requests.iter().map(|(_, b)| b).collect();
    assert_eq!(
        *bodies[0],
        serde_json::json!({"pageSize": 100, "sortDirection": "SORT_DIRECTION_ASC"})
    );
    for (page, body) in bodies[1..10].iter().enumerate() {
        assert_eq!(body["pageSize"], 100);
        assert_eq!(body["sortDirection"], "SORT_DIRECTION_ASC");
        assert!(
            body["pageToken"]
                .as_str()
                .is_some_and(|t| t.starts_with(&format!("{}|", (page + 1) * 100)))
        );
    }
    assert!(
        bodies.iter().any(|b| b["sinceEventUid"] == "evt-000999"),
        "a later poll resumes with sinceEventUid"
    );
    assert!(metrics.get("conductorone_pages_fetched_total") >= 11);
    assert!(metrics.get("checkpoints_total") >= 1);
    assert_eq!(metrics.received_total(), 1050);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_nothing_is_lost_or_repeated() {
    let server = tenant(1500).await;
    server.lock().faults = [
        Fault::Pass,
        Fault::Status(429, Some("1".into())),
        Fault::Status(429, None),
        Fault::Pass,
        Fault::Status(500, None),
        Fault::Status(500, None),
        Fault::Status(500, None),
        Fault::Pass,
        Fault::Status(503, Some("0".into())),
        Fault::Status(503, None),
        Fault::Delay(Duration::from_millis(1500)),
        Fault::Pass,
        Fault::NonJson,
        Fault::Status(502, None),
        Fault::Status(504, None),
        Fault::Status(408, None),
        Fault::Status(499, None),
    ]
    .into();
    let (_dir, mut source) = start_in_a_fresh_dir(&server, "request_timeout_secs = 0.5", true);
    let events = source.collect(1500, Duration::from_secs(30)).await;
    assert_eq!(uids(&events), expected_uids(0..1500));
    source.assert_quiet(Duration::from_millis(500)).await;
    let metrics = Arc::clone(&source.metrics);
    source.stop().await.expect("clean stop");

    for (status, count) in [
        ("429", 2),
        ("500", 3),
        ("503", 2),
        ("502", 1),
        ("504", 1),
        ("408", 1),
        ("499", 1),
        ("invalid_body", 1),
    ] {
        let errors = metrics.get_labelled("conductorone_api_errors_total", &[("status", status)]);
        assert_eq!(
            errors, count,
            "conductorone_api_errors_total{{status=\"{status}\"}}"
        );
    }
    assert!(
        metrics.get_labelled("conductorone_api_errors_total", &[("status", "transport")]) >= 1,
        "the slow answer timed out"
    );
    // Retry-After: 1 was honoured: the retry came a second later.
    let state = server.lock();
    let times: Vec<Instant> = state.requests.iter().map(|(t, _)| *t).collect();
    assert!(times[2].duration_since(times[1]) >= Duration::from_millis(950));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_mid_backfill_is_replaced_once_per_401() {
    let server = tenant(800).await;
    // Every third request finds its token revoked.
    let every_third = [Fault::Pass, Fault::Pass, Fault::RevokeTokens];
    server.lock().faults = [every_third.clone(), every_third].concat().into();
    let (_dir, mut source) = start_in_a_fresh_dir(&server, "", true);
    let events = source.collect(800, Duration::from_secs(20)).await;
    assert_eq!(uids(&events), expected_uids(0..800));
    source.stop().await.expect("clean stop");
    let state = server.lock();
    assert_eq!(
        state.mints, 3,
        "one mint at start, one after each revocation"
    );
    assert_eq!(state.unauthorized, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_minted_again_shortly_before_they_expire() {
    let server = tenant(10).await;
    server.lock().token_ttl = Duration::from_secs(1);
    let (_dir, mut source) = start_in_a_fresh_dir(&server, "poll_interval_secs = 0.3", true);
    source.collect(10, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    source.stop().await.expect("clean stop");
    let state = server.lock();
    assert!(
        state.mints >= 3,
        "expected new tokens before expiry, got {} mints",
        state.mints
    );
    assert_eq!(state.unauthorized, 0, "no request used an expired token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_refused_after_a_fresh_token_keeps_the_source_polling() {
    let server = tenant(10).await;
    server.lock().reject_all_tokens = true;
    let (_dir, mut source) = start_in_a_fresh_dir(&server, "", true);
    source.assert_quiet(Duration::from_millis(1500)).await;
    assert!(!source.task.is_finished(), "a 401 is not a reason to exit");
    {
        // Read while the tenant is locked (no new answer meanwhile); the poll in progress may
        // have had its 401s and not counted them yet.
        let state = server.lock();
        let refused = source
            .metrics
            .get_labelled("conductorone_api_errors_total", &[("status", "401")]);
        assert!(refused >= 2, "polling continued: {refused} refusals");
        // Every poll: the cached token, a 401, one fresh token, a 401, then a backoff.
        let per_poll = 2 * refused as usize;
        assert!(
            (per_poll..=per_poll + 2).contains(&state.unauthorized),
            "{} 401s for {refused} refused polls",
            state.unauthorized
        );
        assert!(state.mints as u64 >= refused);
    }
    server.lock().reject_all_tokens = false;
    assert_eq!(
        uids(&source.collect(10, Duration::from_secs(10)).await),
        expected_uids(0..10)
    );
    source.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_empty_and_repeated_page_tokens_end_a_poll_without_losing_events() {
    for omit in [false, true] {
        let server = tenant(450).await;
        {
            let mut state = server.lock();
            state.omit_empty_fields = omit;
            // The third page answers with the token it was asked with.
            let (pass, repeat) = (Fault::Pass, Fault::RepeatToken);
            state.faults = [pass.clone(), pass, repeat.clone(), repeat].into();
        }
        let (_dir, mut source) = start_in_a_fresh_dir(&server, "", true);
        let events = source.collect(450, Duration::from_secs(20)).await;
        assert_eq!(
            uids(&events),
            expected_uids(0..450),
            "omit_empty_fields = {omit}"
        );
        source.assert_quiet(Duration::from_millis(600)).await;
        source.stop().await.expect("clean stop");
        let state = server.lock();
        let bodies: Vec<&serde_json::Value> = state.requests.iter().map(|(_, b)| b).collect();
        // Page 3 repeated its token: the poll ended there, and the next one resumed by uid.
        assert!(bodies[3].get("pageToken").is_none(), "{}", bodies[3]);
        assert_eq!(bodies[3]["sinceEventUid"], "evt-000299");
        // Caught up: polls keep coming and find nothing.
        assert!(
            bodies
                .iter()
                .filter(|b| b["sinceEventUid"] == "evt-000449")
                .count()
                >= 2
        );
    }
}

/// `levels` nested objects around `1`: `{"x":{"x":...1...}}`.
fn nested_json(levels: usize) -> String {
    format!("{}1{}", r#"{"x":"#.repeat(levels), "}".repeat(levels))
}

/// Puts `unmapped` into a stored event's JSON.
fn with_unmapped(event: &mut c1_server::StoredEvent, unmapped: &str) {
    let end = event.json.rfind('}').expect("an object");
    event
        .json
        .insert_str(end, &format!(r#","unmapped":{unmapped}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_event_is_skipped_counted_and_passed_by_the_cursor() {
    // Event 1500 nests 200 levels (deeper than serde_json's own limit of 128: delivered);
    // events 2000 and 2999, the very last, nest 100,000 (past any limit: skipped, no crash).
    let mut events = make_events(0, 3000, T0, false);
    with_unmapped(&mut events[1500], &nested_json(200));
    with_unmapped(&mut events[2000], &nested_json(100_000));
    with_unmapped(&mut events[2999], &nested_json(100_000));
    let server = FakeC1::start(CLIENT_ID, events).await;
    let (dir, mut source) = start_in_a_fresh_dir(&server, "", true);
    let events = source.collect(2998, Duration::from_secs(60)).await;
    let expected: Vec<String> = (0..2999)
        .filter(|i| *i != 2000)
        .map(|i| format!("evt-{i:06}"))
        .collect();
    assert_eq!(uids(&events), expected);
    let mut inner = &events[1500]["unmapped"];
    for _ in 0..200 {
        inner = &inner["x"];
    }
    assert_eq!(*inner, serde_json::json!(1), "all 200 levels delivered");
    wait_for_checkpoint(dir.path(), "evt-002998").await;
    // The cursor moved past the skipped last event: polls resume after it and find nothing.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .lock()
        .requests
        .iter()
        .any(|(_, body)| body["sinceEventUid"] == "evt-002999")
    {
        assert!(
            Instant::now() < deadline,
            "no poll resumed after evt-002999"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    source.assert_quiet(Duration::from_millis(600)).await;
    let metrics = Arc::clone(&source.metrics);
    source.stop().await.expect("clean stop");
    assert_eq!(metrics.get("conductorone_invalid_events_total"), 2);
    assert_eq!(metrics.errors_total(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integral_floats_in_integer_fields_become_integers() {
    let server = FakeC1::start(CLIENT_ID, make_events(0, 5, T0, true)).await;
    let (_dir, mut source) = start_in_a_fresh_dir(&server, "", true);
    let events = source.collect(5, Duration::from_secs(10)).await;
    source.stop().await.expect("clean stop");
    let event = &events[0];
    for field in [
        "time",
        "class_uid",
        "category_uid",
        "activity_id",
        "type_uid",
        "severity_id",
    ] {
        assert!(event[field].is_i64(), "{field} = {}", event[field]);
    }
    assert_eq!(event["time"], T0);
    assert_eq!(event["duration"], 12.5, "other numbers are unchanged");
    assert_eq!(event["metadata"]["version"], "1.3.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_uid_falls_back_to_since_without_repeating_delivered_events() {
    let server = tenant(1000).await;
    server.lock().reject_uids = true;
    let dir = tempfile::tempdir().expect("tempdir");
    // A previous run delivered up to evt-000499.
    CheckpointStore::new(dir.path(), "c1")
        .save(&Checkpoint {
            last_uid: Some("evt-000499".into()),
            last_time: Some(T0 + 499_000),
        })
        .expect("checkpoint written");
    let mut source = start(&config(&server, ""), dir.path(), true);
    let events = source.collect(500, Duration::from_secs(20)).await;
    assert_eq!(uids(&events), expected_uids(500..1000));
    // And again at the tail, within one run.
    server
        .lock()
        .events
        .extend(make_events(1000, 10, T0 + 2_000_000, false));
    let events = source.collect(10, Duration::from_secs(10)).await;
    assert_eq!(uids(&events), expected_uids(1000..1010));
    source.assert_quiet(Duration::from_millis(600)).await;
    source.stop().await.expect("clean stop");
    let state = server.lock();
    assert_eq!(state.requests[0].1["sinceEventUid"], "evt-000499");
    assert_eq!(state.requests[1].1["since"], "2026-01-01T00:08:19.000Z");
    assert!(state.requests[1].1.get("sinceEventUid").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_now_or_a_time_skips_older_events() {
    let now = chrono::Utc::now().timestamp_millis();
    let server = FakeC1::start(CLIENT_ID, make_events(0, 100, now - 200_000, false)).await;
    // `now`: nothing from before the start; new events are delivered.
    let (_dir, mut source) = start_in_a_fresh_dir(&server, "start_at = \"now\"", true);
    source.assert_quiet(Duration::from_millis(800)).await;
    server.lock().events.extend(make_events(
        100,
        3,
        chrono::Utc::now().timestamp_millis() + 5_000,
        false,
    ));
    assert_eq!(
        uids(&source.collect(3, Duration::from_secs(10)).await),
        expected_uids(100..103)
    );
    source.stop().await.expect("clean stop");
    assert!(server.lock().requests[0].1["since"].is_string());

    // An RFC 3339 time: events at or after it.
    let at = chrono::DateTime::from_timestamp_millis(now - 200_000 + 90_000)
        .expect("time")
        .to_rfc3339();
    let (_dir, mut source) = start_in_a_fresh_dir(&server, &format!("start_at = \"{at}\""), true);
    assert_eq!(
        uids(&source.collect(13, Duration::from_secs(10)).await),
        expected_uids(90..103)
    );
    source.stop().await.expect("clean stop");
}

async fn recv(batches: &mut mpsc::Receiver<Batch>) -> Batch {
    tokio::time::timeout(Duration::from_secs(10), batches.recv())
        .await
        .expect("a batch in time")
        .expect("source running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_moves_only_over_acknowledged_events() {
    let (_server, dir, mut source) = tenant_and_source(300, "", true).await;
    // Page 1 arrives as two batches: 0..64 and 64..100.
    let first = recv(&mut source.batches).await;
    let second = recv(&mut source.batches).await;
    assert_eq!(
        (uid(&first[0]), uid(&second[35])),
        ("evt-000000".into(), "evt-000099".into())
    );
    c1_pipeline::event::finish_batch(second, BatchStatus::Delivered);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        checkpoint(dir.path()).and_then(|c| c.last_uid),
        None,
        "an acknowledged batch behind an unacknowledged one does not move the checkpoint"
    );
    c1_pipeline::event::finish_batch(first, BatchStatus::Delivered);
    wait_for_checkpoint(dir.path(), "evt-000099").await;

    // A sink failure: the checkpoint stays, and the events are sent again.
    let failed = recv(&mut source.batches).await;
    assert_eq!(uid(&failed[0]), "evt-000100");
    c1_pipeline::event::finish_batch(failed, BatchStatus::Errored);
    let mut seen_again = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen_again {
        assert!(
            Instant::now() < deadline,
            "the failed events were not sent again"
        );
        let batch = recv(&mut source.batches).await;
        seen_again = batch.iter().any(|e| uid(e) == "evt-000100");
        assert_eq!(
            checkpoint(dir.path()).and_then(|c| c.last_uid).as_deref(),
            Some("evt-000099")
        );
        c1_pipeline::event::finish_batch(batch, BatchStatus::Delivered);
    }
    let rest = source.collect(300 - 164, Duration::from_secs(10)).await;
    assert_eq!(uids(&rest).last().map(String::as_str), Some("evt-000299"));
    wait_for_checkpoint(dir.path(), "evt-000299").await;
    source.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_acknowledgements_the_checkpoint_follows_what_was_sent() {
    let (_server, dir, mut source) = tenant_and_source(100, "", false).await;
    let first = source.batches.recv().await.expect("batch");
    let second = source.batches.recv().await.expect("batch");
    assert!(
        first[0].metadata.finalizers.is_empty(),
        "no one waits for acknowledgements"
    );
    wait_for_checkpoint(dir.path(), "evt-000099").await;
    drop((first, second));
    source.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_mints_a_token_and_checks_system_log_access() {
    let server = tenant(10).await;
    config(&server, "").healthcheck().await.expect("healthy");
    assert_eq!(server.lock().mints, 1);

    server.lock().deny_system_log = true;
    let error = config(&server, "")
        .healthcheck()
        .await
        .expect_err("no access")
        .to_string();
    assert!(error.contains("lacks system-log access"), "{error}");

    // A secret of another key: the token endpoint refuses the assertion.
    let other = c1_pipeline::test_support::format_secret(&c1_server::random_key());
    let text = format!(
        "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{}\"\nbase_url = \"{}\"",
        other.expose(),
        server.base_url()
    );
    let wrong: ConductoroneConfig = toml::from_str(&text).expect("valid");
    let error = wrong.healthcheck().await.expect_err("refused").to_string();
    assert!(error.contains("token endpoint answered 401"), "{error}");
    assert!(!error.contains(other.expose()));
    assert!(
        server
            .lock()
            .auth_failures
            .iter()
            .any(|f| f.contains("bad signature"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_client_secret_method_sends_the_secret() {
    let (server, _dir, mut source) =
        tenant_and_source(10, "auth_method = \"client_secret\"", true).await;
    assert_eq!(
        uids(&source.collect(10, Duration::from_secs(10)).await),
        expected_uids(0..10)
    );
    source.stop().await.expect("clean stop");
    assert_eq!(server.lock().mints, 1);
}

#[test]
fn configuration_errors_name_the_problem_and_never_show_the_secret() {
    let secret = c1_pipeline::test_support::format_secret(&c1_server::random_key());
    let secret = secret.expose().to_owned();
    let key_part = secret.rsplit(':').next().expect("part 4").to_owned();
    let build = |toml_text: String| {
        let config: ConductoroneConfig = toml::from_str(&toml_text).expect("parses");
        let dir = tempfile::tempdir().expect("tempdir");
        let cx = SourceContext {
            id: Arc::from("c1"),
            out: Fanout::default(),
            shutdown: CancellationToken::new(),
            data_dir: Some(dir.path().to_path_buf()),
            acknowledgements: true,
            metrics: Arc::new(ComponentMetrics::default()),
            registry: Arc::default(),
        };
        let debug = format!("{config:?}");
        assert!(
            !debug.contains(&key_part),
            "Debug shows the secret: {debug}"
        );
        config.build(cx).err()
    };
    let cases = [
        (
            format!(
                "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{}\"",
                secret.replacen(":v1:", ":v2:", 1)
            ),
            "client_secret",
            "part 3",
        ),
        (
            format!(
                "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{}x!\"",
                secret
            ),
            "client_secret",
            "part 4",
        ),
        (
            format!(
                "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{}\"",
                secret.replacen("secret-token", "token", 1)
            ),
            "client_secret",
            "part 1",
        ),
        (
            format!("client_id = \"no-tenant\"\nclient_secret = \"{secret}\""),
            "client_id",
            "no `@`",
        ),
        (
            format!("client_id = \"{CLIENT_ID}\""),
            "client_secret",
            "no client secret",
        ),
        (
            format!("client_id = \"{CLIENT_ID}\"\nclient_secret = \"{secret}\"\npage_size = 0"),
            "page_size",
            "between 1 and 100",
        ),
        (
            format!(
                "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{secret}\"\nbase_url = \"http://c1.example.com\""
            ),
            "base_url",
            "https",
        ),
        (
            format!(
                "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{secret}\"\npoll_interval_secs = 0"
            ),
            "poll_interval_secs",
            "greater than 0",
        ),
        (
            format!(
                "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{secret}\"\nclient_secret_file = \"/nonexistent\""
            ),
            "client_secret_file",
            "both",
        ),
    ];
    for (text, field, message) in cases {
        let error = build(text.clone()).unwrap_or_else(|| panic!("accepted: {text}"));
        if field == "client_secret" && message.starts_with("part") {
            // Not pointed at by position: that would quote the line holding the secret.
            assert_eq!(error.field, None, "{error:?}");
            assert!(error.message.starts_with("`client_secret`: "), "{error:?}");
        } else {
            assert_eq!(error.field.as_deref(), Some(field), "{error:?}");
        }
        assert!(error.message.contains(message), "{error:?}");
        assert!(!format!("{error:?}").contains(&key_part));
    }
    assert!(
        build(format!(
            "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{secret}\""
        ))
        .is_none()
    );
    // A secret file works the same, and EU tenants are fine.
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), format!("{secret}\n")).expect("written");
    let text = format!(
        "client_id = \"id@acme.c1eu.ai/spc\"\nclient_secret_file = \"{}\"",
        file.path().display()
    );
    assert!(build(text).is_none());
    // Unknown options and bad `start_at` are rejected while parsing.
    for bad in ["page_sise = 10", "start_at = \"yesterday\""] {
        let text = format!("client_id = \"{CLIENT_ID}\"\nclient_secret = \"{secret}\"\n{bad}");
        assert!(
            toml::from_str::<ConductoroneConfig>(&text).is_err(),
            "{bad}"
        );
    }
}

/// The real binary, killed with SIGKILL at random moments of a 20,000-event backfill and
/// restarted: every event reaches the sink at least once, duplicates stay within what can be
/// in flight, and no log line (at debug level) holds the secret or a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_backfill_loses_nothing_and_logs_no_secret() {
    use rand::RngExt as _;
    use std::process::{Command, Stdio};

    const EVENTS: usize = 20_000;
    const PAGE: usize = 100;
    const IN_FLIGHT: usize = 16 * PAGE;
    const KILLS: usize = 3;
    let server = tenant(EVENTS).await;
    // Errors along the way put the error paths into the logs too.
    server.lock().faults = [
        Fault::Pass,
        Fault::Status(500, None),
        Fault::Pass,
        Fault::RevokeTokens,
    ]
    .into();
    let secret = server.secret();
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("c1.toml");
    let sizes = [
        format!("page_size = {PAGE}"),
        format!("max_unacknowledged_events = {IN_FLIGHT}"),
    ];
    let timing = [
        "poll_interval_secs = 0.2",
        "retry_initial_backoff_secs = 0.05",
        "retry_max_backoff_secs = 0.5",
    ];
    let text = binary_config(&server, dir.path(), &[&sizes[0], &sizes[1]], &timing);
    std::fs::write(&config_path, text).expect("config written");
    let output_path = dir.path().join("events.ndjson");
    let spawn = |run: usize| {
        let stdout = std::fs::File::options()
            .append(true)
            .create(true)
            .open(&output_path)
            .expect("output file");
        let stderr =
            std::fs::File::create(dir.path().join(format!("stderr-{run}.log"))).expect("log file");
        Command::new(env!("CARGO_BIN_EXE_c1-pipeline"))
            .args(["--log-level", "debug", "--config"])
            .arg(&config_path)
            .env("TEST_C1_SECRET", &secret)
            .env_remove("C1_PIPELINE_CONFIG")
            .env_remove("C1_PIPELINE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("binary starts")
    };
    let count_lines = || -> (std::collections::HashMap<String, usize>, usize) {
        let text = std::fs::read_to_string(&output_path).unwrap_or_default();
        let mut counts = std::collections::HashMap::new();
        let mut total = 0;
        for line in text.lines() {
            // A kill in the middle of a write can leave a torn last line: it was not
            // acknowledged, so it is delivered again.
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(line)
                && let Some(uid) = event["metadata"]["uid"].as_str()
            {
                *counts.entry(uid.to_owned()).or_insert(0) += 1;
                total += 1;
            }
        }
        (counts, total)
    };

    let mut kills = 0;
    for run in 0..KILLS {
        let mut child = spawn(run);
        // Kill at a random point of the backfill (however fast it runs): once the distinct
        // events delivered reach a random share of what is left.
        let before = count_lines().0.len();
        let target = before + rand::rng().random_range(1..(EVENTS - before).max(2) / 2);
        let deadline = Instant::now() + Duration::from_secs(30);
        while count_lines().0.len() < target && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        if count_lines().0.len() == EVENTS {
            break; // finished before the kill landed: later kills would prove nothing
        }
        kills += 1;
    }
    assert!(kills >= 1, "the backfill finished before any kill");
    // The last run completes the backfill and stops gracefully.
    let mut child = spawn(KILLS);
    let deadline = Instant::now() + Duration::from_secs(60);
    while count_lines().0.len() < EVENTS {
        assert!(
            Instant::now() < deadline,
            "only {} of {EVENTS} events delivered",
            count_lines().0.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(0), "graceful stop");

    let (counts, total) = count_lines();
    assert!((0..EVENTS).all(|i| counts.contains_key(&format!("evt-{i:06}"))));
    let duplicates = total - EVENTS;
    let in_flight_bound = kills * (IN_FLIGHT + PAGE);
    assert!(
        duplicates <= in_flight_bound,
        "{duplicates} duplicates after {kills} kills (bound {in_flight_bound})"
    );
    assert_eq!(
        CheckpointStore::new(&dir.path().join("data"), "c1")
            .load()
            .expect("checkpoint")
            .and_then(|c| c.last_uid)
            .as_deref(),
        Some("evt-019999")
    );

    let key_part = secret.rsplit(':').next().expect("part 4").to_owned();
    let tokens: Vec<String> = server.lock().issued.clone();
    assert!(tokens.len() >= 2);
    let mut logs = String::new();
    for run in 0..=KILLS {
        logs.push_str(
            &std::fs::read_to_string(dir.path().join(format!("stderr-{run}.log")))
                .unwrap_or_default(),
        );
    }
    assert!(
        logs.contains("minted an access token"),
        "debug logs were captured"
    );
    assert!(
        logs.contains("injected failure") || logs.contains("access token refused"),
        "error paths were logged"
    );
    assert!(!logs.contains(&key_part), "the secret appears in the logs");
    // Every DPoP proof starts with the encoded `{"alg":"EdDSA","jwk":{"crv":"Ed25519",...`.
    assert!(
        !logs.contains("eyJhbGciOiJFZERTQSIsImp3ayI6eyJjcnYiOiJFZDI1NTE5Iiwia3R5IjoiT0tQIiwieCI6"),
        "a DPoP proof appears in the logs"
    );
    assert!(
        server.lock().dpop_calls > 0,
        "the runs used DPoP-bound tokens"
    );
    for token in &tokens {
        let token_id = token.rsplit('-').next().expect("uuid tail");
        assert!(
            !logs.contains(token_id),
            "an access token appears in the logs"
        );
    }
    eprintln!("kill -9 test: {kills} kills, {duplicates} duplicates (bound {in_flight_bound})");
}

/// `c1-pipeline validate` runs the health check: a token, the introspect call and a one-event
/// listing; a credential without system-log access fails validation with a clear message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_checks_the_credential_against_the_tenant() {
    let server = tenant(10).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("c1.toml");
    std::fs::write(
        &config_path,
        format!(
            "data_dir = \"{}\"\n[sources.c1]\ntype = \"conductorone\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"${{TEST_C1_SECRET}}\"\nbase_url = \"{}\"\n\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"c1\"]\n",
            dir.path().join("data").display(),
            server.base_url()
        ),
    )
    .expect("config written");
    let secret = server.secret();
    let validate = move || {
        let config_path = config_path.clone();
        let secret = secret.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_c1-pipeline"))
                .args(["validate", "--config"])
                .arg(&config_path)
                .env("TEST_C1_SECRET", &secret)
                .env_remove("C1_PIPELINE_CONFIG")
                .output()
                .expect("binary runs")
        })
    };
    let output = validate().await.expect("joined");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("health checks passed"), "{stderr}");
    {
        let state = server.lock();
        assert_eq!(state.mints, 1);
        assert_eq!(state.requests.len(), 1, "one probe listing");
        assert_eq!(state.requests[0].1["pageSize"], 1);
    }

    server.lock().deny_system_log = true;
    let output = validate().await.expect("joined");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("health check failed for sources.c1: the credential is valid but lacks system-log access"),
        "{stderr}"
    );
    assert!(!stderr.contains(&server.secret()));
}

/// Runs the binary on a `conductorone` → `console` pipeline against `server` (plus `extra`
/// source options) at `log_level` (`None`: the default), in `dir`; stops it with SIGTERM once
/// `done` holds (or after 20 s) and returns its whole stderr.
async fn stderr_of_a_run(
    server: &FakeC1,
    dir: &Path,
    extra: &str,
    log_level: Option<&str>,
    done: impl Fn() -> bool,
) -> String {
    use std::process::{Command, Stdio};
    let config_path = dir.join("c1.toml");
    let timing = [
        "poll_interval_secs = 0.2",
        "retry_initial_backoff_secs = 0.05",
        "retry_max_backoff_secs = 0.2",
    ];
    let text = binary_config(server, dir, &timing, &[extra]);
    std::fs::write(&config_path, text).expect("config written");
    let stderr_path = dir.join("stderr.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_c1-pipeline"));
    if let Some(level) = log_level {
        command.args(["--log-level", level]);
    }
    let mut child = command
        .arg("--config")
        .arg(&config_path)
        .env("TEST_C1_SECRET", server.secret())
        .env_remove("C1_PIPELINE_CONFIG")
        .env_remove("C1_PIPELINE_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(dir.join("events.ndjson")).expect("output file"),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(&stderr_path).expect("log file"),
        ))
        .spawn()
        .expect("binary starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("child status").is_none() {
        assert!(Instant::now() < deadline, "the binary did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::read_to_string(&stderr_path).expect("stderr")
}

/// Lines written to `path` so far.
fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

/// Asserts that something in `stderr` was redacted, and that it holds none of `secrets`,
/// nor the first 8 characters of one (an echo of the start of a secret).
#[track_caller]
fn assert_redacted(stderr: &str, secrets: &[String]) {
    assert!(stderr.contains("[REDACTED]"), "nothing redacted:\n{stderr}");
    for secret in secrets {
        let start = &secret[..8];
        assert!(
            !stderr.contains(start),
            "the start of a secret (`{start}…`) is in the logs:\n{stderr}"
        );
    }
}

/// The tenant's client secret, its key part and every access token issued so far.
fn secrets_of(server: &FakeC1) -> Vec<String> {
    let secret = server.secret();
    let key = secret.rsplit(':').next().expect("part 4").to_owned();
    let mut secrets = vec![secret, key];
    secrets.extend(server.lock().issued.iter().cloned());
    secrets
}

/// A server that quotes the bearer token in 500, 401 and 403 messages and echoes it as
/// `X-Request-Id`: the logs (at the default level and at debug) show `[REDACTED]` instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_quoting_the_bearer_token_are_logged_redacted() {
    let server = tenant(10).await;
    server.lock().echo_bearer_token = true;
    for log_level in [None, Some("debug")] {
        // The health check's probe takes the first fault; the source then gets a 500
        // (retried), a 401 (a fresh token is minted), another (the credential counts as
        // refused) and a 403 (no system-log access), then succeeds.
        server.lock().faults = [500, 500, 401, 401, 403]
            .map(|status| Fault::Status(status, None))
            .into();
        let dir = tempfile::tempdir().expect("tempdir");
        let events = dir.path().join("events.ndjson");
        let stderr = stderr_of_a_run(&server, dir.path(), "", log_level, || {
            line_count(&events) >= 10
        })
        .await;
        assert_eq!(line_count(&events), 10, "{stderr}");
        assert!(server.lock().faults.is_empty());
        for expected in [
            "injected failure: request with Authorization: DPoP [REDACTED] refused (request id [REDACTED])",
            "HTTP 401",
            "HTTP 403",
            "health check failed",
        ] {
            assert!(
                stderr.contains(expected),
                "{expected:?} is not in:\n{stderr}"
            );
        }
        assert_redacted(&stderr, &secrets_of(&server));
    }
}

/// With `auth_method = "client_secret"`, a token endpoint that refuses the secret quoting its
/// first 20 characters: the logs show `[REDACTED]` instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_quoting_the_client_secret_is_logged_redacted() {
    let server = tenant(10).await;
    server.lock().refuse_tokens_quoting_secret = true;
    for log_level in [None, Some("debug")] {
        let before = server.lock().auth_failures.len();
        let dir = tempfile::tempdir().expect("tempdir");
        // Refused twice: by the health check, and by the source's first poll.
        let stderr = stderr_of_a_run(
            &server,
            dir.path(),
            "auth_method = \"client_secret\"",
            log_level,
            || server.lock().auth_failures.len() >= before + 2,
        )
        .await;
        assert!(
            stderr.contains("client authentication failed for [REDACTED]..."),
            "{stderr}"
        );
        assert_redacted(&stderr, &secrets_of(&server));
    }
}

/// Like an `aws_s3` sink with a long `batch.timeout_secs`: holds every event and finalizes
/// them all `Delivered` only when its input closes. Returns the number of events held so far
/// and the task (which yields the uids it delivered).
fn sink_that_flushes_on_close(
    mut batches: mpsc::Receiver<Batch>,
) -> (
    Arc<std::sync::atomic::AtomicUsize>,
    tokio::task::JoinHandle<Vec<String>>,
) {
    let held = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&held);
    let task = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(batch) = batches.recv().await {
            counter.fetch_add(batch.len(), std::sync::atomic::Ordering::SeqCst);
            events.extend(batch);
        }
        let uids = events.iter().map(uid).collect();
        c1_pipeline::event::finish_batch(events, BatchStatus::Delivered);
        uids
    });
    (held, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_the_output_so_a_sink_that_flushes_on_close_acknowledges() {
    let (_server, dir, source) = tenant_and_source(250, "", true).await;
    let (batches, shutdown, task) = source.into_parts();
    let (held, sink) = sink_that_flushes_on_close(batches);
    wait_until_held(&held, 250, |_| "the source did not send everything".into()).await;
    shutdown.cancel();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the source stops without waiting for acknowledgements it blocks")
        .expect("no panic")
        .expect("clean stop");
    assert!(started.elapsed() < Duration::from_secs(3));
    let delivered = sink.await.expect("sink");
    assert_eq!(delivered, expected_uids(0..250));
    assert_eq!(
        checkpoint(dir.path()).and_then(|c| c.last_uid).as_deref(),
        Some("evt-000249"),
        "the final checkpoint covers what the sink delivered at close"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_at_the_in_flight_limit_do_not_stall_the_source() {
    const EVENTS: usize = 400;
    // Pages of 10 events, at most 160 unacknowledged.
    const LIMIT: usize = 160;
    let options = [
        "page_size = 10",
        "max_unacknowledged_events = 160",
        "retry_max_backoff_secs = 0.2",
    ];
    let (_server, dir, mut source) = tenant_and_source(EVENTS, &options.join("\n"), true).await;
    // Three times in a row: fill the in-flight limit, then fail every batch.
    for round in 0..3 {
        let mut held = Vec::new();
        while held.len() < LIMIT {
            let batch = tokio::time::timeout(Duration::from_secs(10), source.batches.recv())
                .await
                .unwrap_or_else(|_| panic!("round {round}: stalled after {} events", held.len()))
                .expect("source running");
            if held.is_empty() {
                assert_eq!(
                    uid(&batch[0]),
                    "evt-000000",
                    "round {round} resends from the start"
                );
            }
            held.extend(batch);
        }
        c1_pipeline::event::finish_batch(held, BatchStatus::Errored);
    }
    // Then the sink recovers: everything arrives.
    let events = source.collect(EVENTS, Duration::from_secs(20)).await;
    assert_eq!(uids(&events), expected_uids(0..EVENTS));
    wait_for_checkpoint(dir.path(), "evt-000399").await;
    source.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_batch_is_skipped_counted_and_never_resent() {
    let (_server, dir, mut source) = tenant_and_source(300, "", true).await;
    // Page 1 arrives as two batches: 0..64 (refused for good) and 64..100.
    let rejected = recv(&mut source.batches).await;
    assert_eq!(uid(&rejected[0]), "evt-000000");
    c1_pipeline::event::finish_batch(rejected, BatchStatus::Rejected);
    let rest = source.collect(300 - 64, Duration::from_secs(10)).await;
    assert_eq!(uids(&rest), expected_uids(64..300), "nothing is sent twice");
    wait_for_checkpoint(dir.path(), "evt-000299").await;
    source.assert_quiet(Duration::from_millis(600)).await;
    assert_eq!(source.metrics.get("conductorone_rejected_events_total"), 64);
    source.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batching_sink_can_hold_more_than_the_default_bound_when_configured() {
    const EVENTS: usize = 3000;
    let (_server, dir, source) =
        tenant_and_source(EVENTS, "max_unacknowledged_events = 5000", true).await;
    let (batches, shutdown, task) = source.into_parts();
    // The sink acknowledges nothing until its input closes: every event must still arrive.
    let (held, sink) = sink_that_flushes_on_close(batches);
    let short = |held| format!("only {held} events sent without acknowledgements");
    wait_until_held(&held, EVENTS, short).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .expect("no panic")
        .expect("clean stop");
    assert_eq!(sink.await.expect("sink").len(), EVENTS);
    assert_eq!(
        checkpoint(dir.path()).and_then(|c| c.last_uid).as_deref(),
        Some("evt-002999")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_on_unacknowledged_events_holds_and_is_validated() {
    let (server, dir, mut source) = tenant_and_source(
        1000,
        "page_size = 50\nmax_unacknowledged_events = 200",
        true,
    )
    .await;
    // Nothing is acknowledged: 200 events (4 pages) go out, then the source waits.
    let mut held = Vec::new();
    while held.len() < 200 {
        held.extend(recv(&mut source.batches).await);
    }
    source.assert_quiet(Duration::from_millis(600)).await;
    c1_pipeline::event::finish_batch(held, BatchStatus::Delivered);
    let rest = source.collect(800, Duration::from_secs(10)).await;
    assert_eq!(uids(&rest), expected_uids(200..1000));
    source.stop().await.expect("clean stop");

    let bad: Result<ConductoroneConfig, _> = toml::from_str(&format!(
        "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{}\"\nmax_unacknowledged_events = 0\n",
        server.secret()
    ));
    let cx = SourceContext {
        id: Arc::from("c1"),
        out: Fanout::new(vec![], None),
        shutdown: CancellationToken::new(),
        data_dir: Some(dir.path().to_path_buf()),
        acknowledgements: true,
        metrics: Arc::new(ComponentMetrics::default()),
        registry: Arc::default(),
    };
    let error = match bad.expect("parses").build(cx) {
        Ok(_) => panic!("0 is refused"),
        Err(error) => error,
    };
    assert!(error.message.contains("at least 1"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_cannot_be_written_does_not_block_shutdown() {
    let (_server, dir, mut source) = tenant_and_source(100, "", true).await;
    let first = recv(&mut source.batches).await;
    // The first-run checkpoint exists; from now on every write fails (as on a full disk):
    // the temporary file's name is taken by a directory.
    assert!(checkpoint(dir.path()).is_some());
    std::fs::create_dir(dir.path().join("c1").join("checkpoint.json.tmp")).expect("mkdir");
    c1_pipeline::event::finish_batch(first, BatchStatus::Delivered);
    source.collect(36, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    source.stop().await.expect("stops");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "gave up on the checkpoint within a few attempts, took {:?}",
        started.elapsed()
    );
    assert_eq!(checkpoint(dir.path()).and_then(|c| c.last_uid), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_into_aws_s3_with_a_long_batch_timeout_is_prompt_and_complete() {
    let server = tenant(250).await;
    let s3 = s3_server::S3Server::start().await;
    s3.create_bucket("c1-logs").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        r#"
data_dir = "{data}"

[sources.c1]
type = "conductorone"
client_id = "{CLIENT_ID}"
client_secret = "{secret}"
base_url = "{base}"
start_at = "beginning"
poll_interval_secs = 0.2

{sink}
batch.timeout_secs = 300
"#,
        data = dir.path().display(),
        secret = server.secret(),
        base = server.base_url(),
        sink = s3.sink_table("c1", "c1-logs"),
    );
    // Shut down once the whole backfill was fetched (the sink holds it until it closes).
    let fetched = Arc::clone(&server.state);
    let shutdown = async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        while fetched.lock().unwrap().requests.len() < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let started = Instant::now();
    common::run_pipeline(&toml, Path::new("test.toml"), &[], shutdown)
        .await
        .expect("clean run");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown waited {:?} (the graceful limit is 60 s)",
        started.elapsed()
    );
    let mut written = Vec::new();
    for object in s3.objects("c1-logs").await {
        written.extend(
            object
                .json_lines()
                .iter()
                .map(|e| e["metadata"]["uid"].as_str().expect("uid").to_owned()),
        );
    }
    written.sort();
    assert_eq!(written, expected_uids(0..250));
    assert_eq!(
        checkpoint(dir.path()).and_then(|c| c.last_uid).as_deref(),
        Some("evt-000249")
    );
}
