//! The ConductorOne config examples run end to end: `conductorone-to-splunk.toml` against the HEC
//! emulator, `conductorone-to-s3.toml` and `conductorone-window-to-s3.toml` (a bounded window:
//! the run ends by itself) against the S3 server, all pulling from the fake tenant. Each example file is loaded as shipped, with its `${VAR}`s pointing at the servers.

#[path = "common/c1_server.rs"]
mod c1_server;
mod common;
#[path = "common/hec_server.rs"]
mod hec_server;
#[path = "common/s3_server.rs"]
mod s3_server;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use c1_server::{FakeC1, make_events};

const CLIENT_ID: &str = "clever-fox-42195@acme.conductor.one/spc";
/// 2026-01-01T00:00:00Z: the backfill starts here (`C1_START_AT`).
const START_MS: i64 = 1_767_225_600_000;
const EVENTS: usize = 300;

/// Runs `example` with `vars` until `done` says every event arrived (then shuts down).
async fn run_example(
    example: &str,
    vars: Vec<(&str, String)>,
    done: impl Fn() -> bool + Send + 'static,
) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config-examples")
        .join(example);
    let text = std::fs::read_to_string(&path).expect("example exists");
    let shutdown = async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    common::run_pipeline(&text, &path, &vars, shutdown)
        .await
        .unwrap_or_else(|error| panic!("{example}: {error}"));
}

fn source_vars(c1: &FakeC1, data_dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("C1_PIPELINE_DATA_DIR", data_dir.display().to_string()),
        ("C1_CLIENT_ID", CLIENT_ID.to_owned()),
        ("C1_CLIENT_SECRET", c1.secret()),
        ("C1_BASE_URL", c1.base_url()),
        ("C1_START_AT", "2026-01-01T00:00:00Z".to_owned()),
    ]
}

fn expected_uids() -> BTreeSet<String> {
    (0..EVENTS).map(|i| format!("evt-{i:06}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conductorone_to_splunk_delivers_every_event_once_with_indexer_acks() {
    let c1 = FakeC1::start(CLIENT_ID, make_events(0, EVENTS, START_MS, false)).await;
    let hec = std::sync::Arc::new(
        hec_server::HecServer::start(hec_server::ServerConfig::default()).await,
    );
    let dir = tempfile::tempdir().unwrap();
    let mut vars = source_vars(&c1, dir.path());
    vars.push(("SPLUNK_HEC_ENDPOINT", hec.endpoint()));
    vars.push(("SPLUNK_HEC_TOKEN", hec_server::ACK_TOKEN.to_owned()));
    let stats = {
        let hec = std::sync::Arc::clone(&hec);
        move || hec.stats().events as usize >= EVENTS
    };
    run_example("conductorone-to-splunk.toml", vars, stats).await;

    let received = hec.events();
    let uids: Vec<String> = received
        .iter()
        .map(|r| r.event["metadata"]["uid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(uids.len(), EVENTS, "each event once");
    assert_eq!(
        uids.iter().cloned().collect::<BTreeSet<_>>(),
        expected_uids()
    );
    for r in &received {
        assert_eq!(r.sourcetype.as_deref(), Some("ocsf:conductorone"));
        assert_eq!(r.fields.as_ref().unwrap()["class_uid"], 6003);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conductorone_to_s3_writes_every_event_once_under_class_and_day() {
    let c1 = FakeC1::start(CLIENT_ID, make_events(0, EVENTS, START_MS, false)).await;
    let s3 = s3_server::S3Server::start().await;
    s3.create_bucket("c1-logs").await;
    let dir = tempfile::tempdir().unwrap();
    let mut vars = source_vars(&c1, dir.path());
    vars.push(("AWS_S3_BUCKET", "c1-logs".to_owned()));
    vars.push(("S3_ENDPOINT", s3.endpoint.clone()));
    vars.push(("AWS_ACCESS_KEY_ID", s3_server::ACCESS_KEY.to_owned()));
    vars.push(("AWS_SECRET_ACCESS_KEY", s3_server::SECRET_KEY.to_owned()));
    // The sink holds events until shutdown (60 s objects): stop a second after the last page
    // was served (the health check's request, then 3 pages), once the source has sent it on.
    let state = std::sync::Arc::clone(&c1.state);
    let served_at = std::sync::Mutex::new(None::<Instant>);
    let served = move || {
        let all_pages = state.lock().unwrap().requests.len() > EVENTS / 100;
        let mut served_at = served_at.lock().unwrap();
        if all_pages && served_at.is_none() {
            *served_at = Some(Instant::now());
        }
        served_at.is_some_and(|at| at.elapsed() > Duration::from_secs(1))
    };
    run_example("conductorone-to-s3.toml", vars, served).await;

    let mut uids = Vec::new();
    for object in s3.objects("c1-logs").await {
        assert!(
            object
                .key
                .starts_with("conductorone/ocsf/class_uid=6003/date=2026-01-01/"),
            "{}",
            object.key
        );
        for event in object.json_lines() {
            uids.push(event["metadata"]["uid"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(uids.len(), EVENTS, "each event once");
    assert_eq!(uids.into_iter().collect::<BTreeSet<_>>(), expected_uids());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conductorone_window_to_s3_writes_exactly_the_window_and_exits_by_itself() {
    let c1 = FakeC1::start(CLIENT_ID, make_events(0, EVENTS, START_MS, false)).await;
    let s3 = s3_server::S3Server::start().await;
    s3.create_bucket("c1-logs").await;
    let dir = tempfile::tempdir().unwrap();
    let mut vars = source_vars(&c1, dir.path());
    // Events 100 to 199 (one a second from START_MS).
    vars.retain(|(name, _)| *name != "C1_START_AT");
    vars.push(("C1_START_AT", "2026-01-01T00:01:40Z".to_owned()));
    vars.push(("C1_UNTIL", "2026-01-01T00:03:20Z".to_owned()));
    vars.push(("AWS_S3_BUCKET", "c1-logs".to_owned()));
    vars.push(("S3_ENDPOINT", s3.endpoint.clone()));
    vars.push(("AWS_ACCESS_KEY_ID", s3_server::ACCESS_KEY.to_owned()));
    vars.push(("AWS_SECRET_ACCESS_KEY", s3_server::SECRET_KEY.to_owned()));
    let started = Instant::now();
    // Never asked to stop: the run ends because the window is done.
    run_example("conductorone-window-to-s3.toml", vars, || false).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let mut uids = Vec::new();
    for object in s3.objects("c1-logs").await {
        assert!(
            object
                .key
                .starts_with("conductorone/window/class_uid=6003/")
        );
        for event in object.json_lines() {
            uids.push(event["metadata"]["uid"].as_str().unwrap().to_owned());
        }
    }
    uids.sort();
    let expected: Vec<String> = (100..200).map(|i| format!("evt-{i:06}")).collect();
    assert_eq!(uids, expected, "exactly the window, each event once");
}
