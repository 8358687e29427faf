//! Reloading the configuration of the running binary (SIGHUP, `--watch-config`): a valid new
//! configuration replaces the pipeline without losing or skipping an event of a durable
//! source (the fake ConductorOne tenant); an invalid one is logged and the old pipeline keeps
//! delivering.

#![cfg(unix)]

#[path = "common/c1_server.rs"]
mod c1_server;
#[path = "common/config.rs"]
mod config;
#[path = "common/process.rs"]
mod process;

use std::time::{Duration, Instant};

use c1_server::{FakeC1, make_events};
use config::Toml;
use process::{Launch, Pipeline, tail};
use serde_json::Value;

const CLIENT_ID: &str = "clever-fox-42195@acme.conductor.one/spc";
/// 2026-01-01T00:00:00Z in ms.
const T0: i64 = 1_767_225_600_000;
/// Only reached when something hangs.
const LIMIT: Duration = Duration::from_secs(60);

/// `conductorone` (the fake tenant) → `remap` setting `.stage` → `console`, with a data_dir.
fn pipeline_config(server: &FakeC1, data_dir: &std::path::Path, stage: &str) -> String {
    let client_id = format!("client_id = \"{CLIENT_ID}\"");
    let base_url = format!("base_url = \"{}\"", server.base_url());
    let data_dir = format!("data_dir = \"{}\"", data_dir.display());
    Toml::new()
        .lines(&[&data_dir, "acknowledgements.enabled = true"])
        .table(
            "sources.c1",
            &[
                r#"type = "conductorone""#,
                &client_id,
                r#"client_secret = "${TEST_C1_SECRET}""#,
                &base_url,
                r#"start_at = "beginning""#,
                "poll_interval_secs = 0.2",
                "retry_initial_backoff_secs = 0.05",
                "retry_max_backoff_secs = 0.2",
            ],
        )
        .remap("stage", &["c1"], &format!("'.stage = \"{stage}\"'"))
        .console("out", &["stage"])
        .into()
}

/// The events on stdout so far.
fn events(pipeline: &Pipeline) -> Vec<Value> {
    String::from_utf8_lossy(&pipeline.stdout_snapshot())
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Waits (without blocking the tenant's runtime) until `ready` holds.
async fn wait_for(pipeline: &Pipeline, what: &str, ready: impl Fn(&Pipeline) -> bool) {
    let started = Instant::now();
    while !ready(pipeline) {
        assert!(
            started.elapsed() < LIMIT,
            "timed out waiting for {what}; stderr:\n{}",
            tail(&pipeline.stderr_snapshot())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every uid `0..count` appears, in order, each event after the first of a uid a repeat of
/// one just before (only in-flight events may repeat); the stage of the last copy of each.
fn assert_no_gap(events: &[Value], count: usize) -> Vec<String> {
    let mut stages = vec![String::new(); count];
    let mut next = 0;
    for event in events {
        let uid = event["metadata"]["uid"].as_str().expect("uid");
        let index: usize = uid["evt-".len()..].parse().expect("numbered uid");
        assert!(index <= next, "{uid} arrived before evt-{next:06}: a gap");
        stages[index] = event["stage"].as_str().unwrap_or("").to_owned();
        next = next.max(index + 1);
    }
    assert_eq!(next, count, "not every event was delivered");
    stages
}

async fn start(server: &FakeC1, dir: &std::path::Path, args: &[&str]) -> Pipeline {
    let secret = server.secret();
    let pipeline = Launch {
        args,
        env: &[("TEST_C1_SECRET", &secret)],
        ..Launch::default()
    }
    .start(&pipeline_config(server, &dir.join("data"), "v1"));
    wait_for(&pipeline, "the first 50 events", |p| events(p).len() >= 50).await;
    pipeline
}

/// SIGHUP with a changed `remap`: events read after the reload show the new program, and
/// the source resumes from its checkpoint (nothing skipped, only in-flight events repeat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_a_changed_remap_without_a_gap() {
    let server = FakeC1::start(CLIENT_ID, make_events(0, 50, T0, false)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = start(&server, dir.path(), &[]).await;

    let text = pipeline_config(&server, &dir.path().join("data"), "v2");
    std::fs::write(&pipeline.config_path, text).expect("config rewritten");
    pipeline.signal(libc::SIGHUP);
    wait_for(&pipeline, "the reload", |p| {
        p.stderr_snapshot()
            .contains("starting the new configuration")
    })
    .await;
    let more = make_events(50, 50, T0 + 50_000, false);
    server.lock().events.extend(more);
    wait_for(&pipeline, "the events after the reload", |p| {
        events(p)
            .iter()
            .any(|e| e["metadata"]["uid"] == "evt-000099")
    })
    .await;
    pipeline.signal(libc::SIGTERM);
    let run = pipeline.wait(LIMIT);
    run.assert_success();
    let delivered: Vec<Value> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON event"))
        .collect();
    let stages = assert_no_gap(&delivered, 100);
    assert!(
        stages[..50].iter().all(|s| s == "v1"),
        "events before the reload: {stages:?}"
    );
    assert!(
        stages[50..].iter().all(|s| s == "v2"),
        "events after the reload show the new remap: {stages:?}"
    );
    assert!(
        delivered.len() <= 100 + 64,
        "at most the in-flight events repeat: {} delivered",
        delivered.len()
    );
}

/// SIGHUP with a broken file: the error is logged with its position and the old pipeline
/// keeps delivering; with `--watch-config`, fixing the file reloads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_keeps_the_old_pipeline_delivering() {
    let server = FakeC1::start(CLIENT_ID, make_events(0, 50, T0, false)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = start(&server, dir.path(), &["--watch-config"]).await;

    let good = pipeline_config(&server, &dir.path().join("data"), "v2");
    // A VRL error in the new program (and a syntax error would do as well).
    let broken = good.replace("\"v2\"'", "\"v2\" +'");
    assert_ne!(broken, good);
    std::fs::write(&pipeline.config_path, &broken).expect("config broken");
    pipeline.signal(libc::SIGHUP);
    wait_for(&pipeline, "the rejected reload", |p| {
        p.stderr_snapshot()
            .contains("the new configuration is not valid")
    })
    .await;
    let stderr = pipeline.stderr_snapshot();
    let file = pipeline.config_path.display().to_string();
    assert!(
        stderr.contains(&format!("{file}:")),
        "the error names the file and position:\n{}",
        tail(&stderr)
    );
    server
        .lock()
        .events
        .extend(make_events(50, 20, T0 + 50_000, false));
    wait_for(&pipeline, "delivery by the old pipeline", |p| {
        events(p)
            .iter()
            .any(|e| e["metadata"]["uid"] == "evt-000069")
    })
    .await;
    assert!(
        events(&pipeline).iter().all(|e| e["stage"] == "v1"),
        "the old pipeline runs unchanged"
    );

    // The watcher sees the fixed file and reloads it.
    std::fs::write(&pipeline.config_path, &good).expect("config fixed");
    wait_for(&pipeline, "the reload of the fixed file", |p| {
        p.stderr_snapshot()
            .contains("starting the new configuration")
    })
    .await;
    server
        .lock()
        .events
        .extend(make_events(70, 10, T0 + 70_000, false));
    wait_for(&pipeline, "the events after the reload", |p| {
        events(p)
            .iter()
            .any(|e| e["metadata"]["uid"] == "evt-000079" && e["stage"] == "v2")
    })
    .await;
    pipeline.signal(libc::SIGTERM);
    let run = pipeline.wait(LIMIT);
    run.assert_success();
    let delivered: Vec<Value> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON event"))
        .collect();
    assert_no_gap(&delivered, 80);
}
