//! Bounded windows (`start_at` + `until`): exactly the window's events, then the source
//! finishes and the pipeline exits 0; crash-safe; and a windowed checkpoint never makes a
//! later unbounded run skip what comes after `until`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::c1_server::FakeC1;
use super::{
    CLIENT_ID, T0, binary_config, checkpoint, config, expected_uids, make_events, start,
    start_in_a_fresh_dir, tenant, uids,
};

/// RFC 3339 of `ms`, as the source sends it.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The time of event `i` of [`tenant`]: `T0 + i` seconds.
fn at(i: usize) -> String {
    rfc3339(T0 + i as i64 * 1000)
}

/// `start_at` and `until` for the events `range` of [`tenant`].
fn window(range: std::ops::Range<usize>) -> String {
    format!(
        "start_at = \"{}\"\nuntil = \"{}\"",
        at(range.start),
        at(range.end)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_delivers_exactly_its_events_then_a_later_unbounded_run_skips_nothing() {
    // A server that filters by `until`, and one that ignores it (the source filters then).
    for ignore_until in [false, true] {
        let server = tenant(1000).await;
        server.lock().ignore_until = ignore_until;
        let (dir, mut source) = start_in_a_fresh_dir(&server, &window(100..700), true);
        let events = source.collect(600, Duration::from_secs(20)).await;
        assert_eq!(
            uids(&events),
            expected_uids(100..700),
            "ignore_until {ignore_until}"
        );
        let metrics = std::sync::Arc::clone(&source.metrics);
        // The source finishes by itself, once everything was acknowledged.
        tokio::time::timeout(Duration::from_secs(5), &mut source.task)
            .await
            .expect("the source finishes after the window")
            .expect("no panic")
            .expect("a clean finish");
        assert!(source.batches.recv().await.is_none(), "nothing more");
        assert_eq!(
            checkpoint(dir.path()).and_then(|c| c.last_uid).as_deref(),
            Some("evt-000699")
        );
        {
            let state = server.lock();
            assert!(state.requests.iter().all(|(_, b)| b["until"] == at(700)));
            assert_eq!(state.requests[0].1["since"], at(100));
        }
        let outside = metrics.get("conductorone_events_after_until_total");
        assert_eq!(outside > 0, ignore_until, "{outside} events past `until`");

        // The same data_dir without `until`: everything after the window, nothing skipped.
        let mut source = start(&config(&server, ""), dir.path(), true);
        let events = source.collect(300, Duration::from_secs(10)).await;
        assert_eq!(uids(&events), expected_uids(700..1000));
        source.assert_quiet(Duration::from_millis(400)).await;
        source.stop().await.expect("clean stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_ending_in_the_future_follows_the_log_until_then() {
    let now = chrono::Utc::now().timestamp_millis();
    let until = now + 1500;
    let server = FakeC1::start(CLIENT_ID, Vec::new()).await;
    let options = format!(
        "start_at = \"{}\"\nuntil = \"{}\"",
        rfc3339(now - 1000),
        rfc3339(until)
    );
    let (_dir, mut source) = start_in_a_fresh_dir(&server, &options, true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!source.task.is_finished(), "the window is still open");
    // At now - 0.5 s, now + 0.5 s and `until` itself (outside: `until` is exclusive).
    server
        .lock()
        .events
        .extend(make_events(0, 3, now - 500, false));
    let events = source.collect(2, Duration::from_secs(5)).await;
    assert_eq!(uids(&events), expected_uids(0..2));
    tokio::time::timeout(Duration::from_secs(5), &mut source.task)
        .await
        .expect("the source finishes once `until` has passed")
        .expect("no panic")
        .expect("a clean finish");
    assert!(chrono::Utc::now().timestamp_millis() >= until);
    assert!(
        source.batches.recv().await.is_none(),
        "evt-000002 is outside"
    );
}

#[test]
fn an_empty_window_is_a_configuration_error_at_its_line() {
    use c1_pipeline::config::Config;
    let secret = c1_pipeline::test_support::format_secret(&super::c1_server::random_key());
    let build = |options: &str| -> Result<(), String> {
        let text = format!(
            "data_dir = \"/tmp\"\n[sources.c1]\ntype = \"conductorone\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{}\"\n{options}\n\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"c1\"]\n",
            secret.expose()
        );
        let config = Config::from_toml(&text, Path::new("test.toml"), &|_| None)
            .map_err(|e| e.to_string())?;
        c1_pipeline::topology::check_build(&config).map_err(|e| e.to_string())
    };
    let before = "start_at = \"2026-01-02T00:00:00Z\"\nuntil = \"2026-01-01T00:00:00Z\"";
    let same = "start_at = \"2026-01-01T00:00:00Z\"\nuntil = \"2026-01-01T00:00:00Z\"";
    for options in [before, same] {
        let error = build(options).expect_err(options);
        for expected in [
            "test.toml:7:",
            "until",
            "must be after `start_at` (2026-01-0",
            "the window would be empty",
            "set `start_at` to the start of the window",
        ] {
            assert!(error.contains(expected), "{expected:?} is not in: {error}");
        }
    }
    // `start_at` defaults to now: a past `until` leaves nothing to read.
    let error = build("until = \"2026-01-01T00:00:00Z\"").expect_err("past until");
    assert!(error.contains("the current time"), "{error}");
    let error = build("until = \"tomorrow\"").expect_err("not a time");
    assert!(error.contains("RFC 3339"), "{error}");
    for fine in [
        "start_at = \"beginning\"\nuntil = \"2026-01-01T00:00:00Z\"",
        "start_at = \"2025-12-31T00:00:00Z\"\nuntil = \"2026-01-01T00:00:00+01:00\"",
        "until = \"2999-01-01T00:00:00Z\"",
    ] {
        build(fine).unwrap_or_else(|e| panic!("{fine}: {e}"));
    }
}

/// The binary on `config` (its secret from `TEST_C1_SECRET`), appending to `output`.
fn spawn(server: &FakeC1, config: &Path, output: &Path, log: &Path) -> Child {
    let stdout = std::fs::File::options()
        .append(true)
        .create(true)
        .open(output)
        .expect("output file");
    Command::new(env!("CARGO_BIN_EXE_c1-pipeline"))
        .arg("--config")
        .arg(config)
        .env("TEST_C1_SECRET", server.secret())
        .env_remove("C1_PIPELINE_CONFIG")
        .env_remove("C1_PIPELINE_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(std::fs::File::create(log).expect("log file")))
        .spawn()
        .expect("binary starts")
}

/// How often each uid was written to `path` (a torn last line, from a kill, is skipped: it
/// was not acknowledged and is written again).
fn counts(path: &Path) -> (std::collections::BTreeMap<String, usize>, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut counts = std::collections::BTreeMap::new();
    let mut total = 0;
    for line in text.lines() {
        if let Ok(event) = serde_json::from_str::<serde_json::Value>(line)
            && let Some(uid) = event["metadata"]["uid"].as_str()
        {
            *counts.entry(uid.to_owned()).or_insert(0) += 1;
            total += 1;
        }
    }
    (counts, total)
}

/// Waits for `child` to exit by itself; its exit code.
async fn exit_code(child: &mut Child, within: Duration, log: &Path) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("the pipeline did not exit by itself:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real binary exports a window and exits 0 by itself; then, on a fresh data_dir, it is
/// killed with SIGKILL at random moments of the same window and restarted: the last run
/// exits 0 by itself and every event of the window (and none outside) was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_run_exits_0_and_kill_9_mid_window_loses_nothing() {
    use rand::RngExt as _;
    const PAGE: usize = 100;
    const IN_FLIGHT: usize = 1000;
    const WINDOW: std::ops::Range<usize> = 1000..7000;
    let server = tenant(8000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sizes = [
        format!("page_size = {PAGE}"),
        format!("max_unacknowledged_events = {IN_FLIGHT}"),
    ];
    let window_lines = window(WINDOW);
    let mut extra: Vec<&str> = window_lines.lines().collect();
    extra.extend(sizes.iter().map(String::as_str));
    let timing = [
        "retry_initial_backoff_secs = 0.05",
        "retry_max_backoff_secs = 0.5",
    ];
    let expected: Vec<String> = expected_uids(WINDOW);
    let log = dir.path().join("stderr.log");

    // One clean run: exactly the window, each event once, exit 0 without a signal.
    let clean = dir.path().join("clean");
    std::fs::create_dir(&clean).expect("mkdir");
    let config_path = clean.join("c1.toml");
    let text =
        binary_config(&server, &clean, &timing, &extra).replace("start_at = \"beginning\"\n", "");
    std::fs::write(&config_path, &text).expect("config written");
    let output = clean.join("events.ndjson");
    let mut child = spawn(&server, &config_path, &output, &log);
    assert_eq!(
        exit_code(&mut child, Duration::from_secs(60), &log).await,
        Some(0)
    );
    let (seen, total) = counts(&output);
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), expected);
    assert_eq!(total, WINDOW.len(), "each event once");

    // The same window, killed at random points, then resumed to the end.
    let crashy = dir.path().join("crashy");
    std::fs::create_dir(&crashy).expect("mkdir");
    let config_path = crashy.join("c1.toml");
    let text =
        binary_config(&server, &crashy, &timing, &extra).replace("start_at = \"beginning\"\n", "");
    std::fs::write(&config_path, &text).expect("config written");
    let output = crashy.join("events.ndjson");
    let mut kills = 0;
    for _ in 0..2 {
        let before = counts(&output).0.len();
        let target = before + rand::rng().random_range(1..(WINDOW.len() - before).max(2) / 2);
        let mut child = spawn(&server, &config_path, &output, &log);
        let deadline = Instant::now() + Duration::from_secs(30);
        while counts(&output).0.len() < target && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        if counts(&output).0.len() == WINDOW.len() {
            break;
        }
        kills += 1;
    }
    assert!(kills >= 1, "the window was done before any kill landed");
    let mut child = spawn(&server, &config_path, &output, &log);
    assert_eq!(
        exit_code(&mut child, Duration::from_secs(60), &log).await,
        Some(0)
    );
    let (seen, total) = counts(&output);
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        expected,
        "every event of the window, none outside"
    );
    let duplicates = total - WINDOW.len();
    let bound = kills * (IN_FLIGHT + PAGE);
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates after {kills} kills (bound {bound})"
    );
    assert_eq!(
        checkpoint(&crashy.join("data"))
            .and_then(|c| c.last_uid)
            .as_deref(),
        Some("evt-006999")
    );
}
