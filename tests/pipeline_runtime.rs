//! The `c1-pipeline` binary at run time: no event lost at end of input, invalid input lines,
//! graceful shutdown on SIGTERM (also while stdin waits for input), a failing sink failing
//! the run, bounded memory under backpressure, route outputs, and a counted demo source.
//!
//! Every process gets generous time limits (it is killed and the test fails past them), so a
//! slow CI machine makes the suite slower, not flaky.

#![cfg(unix)]

#[path = "common/config.rs"]
mod config;
#[path = "common/process.rs"]
mod process;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use process::resident_bytes;
use process::{Launch, Pipeline, log_records, records_with_message, tail};

use config::Toml;
use serde_json::{Value, json};

/// Far above what any of these runs needs; only reached when something hangs.
const PROCESS_LIMIT: Duration = Duration::from_secs(60);
/// How long a signalled pipeline may take to exit before the test fails (it needs well
/// under a second).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(20);

/// Every line of `bytes` as a JSON object; fails on a partial or non-JSON line.
fn json_lines(bytes: &[u8], stream: &str) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{stream} is not UTF-8: {e}"));
    if text.is_empty() {
        return Vec::new();
    }
    assert!(
        text.ends_with('\n'),
        "{stream} ends with a partial line: {:?}",
        &text[text.len().saturating_sub(200)..]
    );
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("{stream} line {} is not JSON ({e}): {line}", index + 1)
            });
            assert!(
                value.is_object(),
                "{stream} line {} is not an object",
                index + 1
            );
            value
        })
        .collect()
}

/// An OCSF-shaped event with a unique id.
fn input_event(id: u64) -> Value {
    json!({
        "id": id,
        "class_uid": if id.is_multiple_of(3) { 3002 } else { 6003 },
        "status_id": if id.is_multiple_of(4) { 2 } else { 1 },
        "actor": { "user": { "email_addr": format!("user{}@example.com", id % 97) } },
        "api": { "operation": "c1.api.app.v1.Apps.Get" },
    })
}

fn ndjson(events: impl IntoIterator<Item = Value>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for event in events {
        serde_json::to_writer(&mut bytes, &event).unwrap();
        bytes.push(b'\n');
    }
    bytes
}

fn id_of(event: &Value) -> u64 {
    event["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("event without a numeric id: {event}"))
}

/// Asserts that `events` hold ids `0..count` exactly once each, in input order.
fn assert_all_ids_once_in_order(events: &[Value], count: u64, sink: &str) {
    let ids: Vec<u64> = events.iter().map(id_of).collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "{sink}: {} duplicate events",
        ids.len() - unique.len()
    );
    let missing: Vec<u64> = (0..count)
        .filter(|id| !unique.contains(id))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{sink}: {} of {count} events missing (first: {missing:?})",
        count as usize - unique.len()
    );
    assert_eq!(ids.len() as u64, count, "{sink}: unexpected extra events");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "{sink}: events were reordered"
    );
}

/// `stdin (json)` into console sinks `to_stdout` and `to_stderr` reading `input`, with
/// `between` (transforms) in between.
fn stdin_to_two_consoles(between: Toml, input: &str) -> Toml {
    between.console("to_stdout", &[input]).console_with(
        "to_stderr",
        &[input],
        &[r#"target = "stderr""#],
    )
}

/// `stdin (json)` into console sink `out`.
fn stdin_to_console() -> Toml {
    Toml::new().stdin_json("in").console("out", &["in"])
}

/// 20,000 events through stdin → remap → two console sinks (stdout and stderr, with
/// logging limited to errors so stderr holds only events): each sink gets every event
/// exactly once, in order, and the process exits 0 only after both have them.
fn no_event_lost_at_end_of_input(workers: &str) {
    const EVENTS: u64 = 20_000;
    let input = ndjson((0..EVENTS).map(input_event));
    let run = Launch {
        args: &["--log-level", "error"],
        env: &[
            ("C1_PIPELINE_WORKERS", workers),
            ("C1_TRANSFORM_WORKERS", workers),
        ],
        input: Some(input),
        ..Launch::default()
    }
    .start(&stdin_to_two_consoles(
        Toml::new().stdin_json("in").remap(
            "shape",
            &["in"],
            "'''\n.seen_by = \"shape\"\n\
             .actor.user.email_addr = downcase(upcase!(.actor.user.email_addr))\n'''",
        ),
        "shape",
    ))
    .wait(PROCESS_LIMIT);
    run.assert_success();
    let stdout = json_lines(&run.stdout, "stdout");
    let stderr = json_lines(&run.stderr, "stderr (events only at --log-level error)");
    assert_all_ids_once_in_order(&stdout, EVENTS, "console to stdout");
    assert_all_ids_once_in_order(&stderr, EVENTS, "console to stderr");
    for event in stdout.iter().chain(&stderr) {
        assert_eq!(
            event["seen_by"], "shape",
            "event skipped the remap: {event}"
        );
        assert_eq!(event, &stdout[usize::try_from(id_of(event)).unwrap()]);
    }
}

#[test]
fn no_event_lost_at_end_of_input_with_two_sinks_parallel_workers() {
    no_event_lost_at_end_of_input("4");
}

#[test]
fn no_event_lost_at_end_of_input_with_two_sinks_one_worker() {
    no_event_lost_at_end_of_input("1");
}

#[test]
fn invalid_json_lines_are_logged_with_their_line_number_and_skipped() {
    // Line numbers are 1-based; blank lines are skipped silently (not invalid).
    let lines: Vec<Vec<u8>> = vec![
        br#"{"id": 0}"#.to_vec(),                       // 1
        br#"{"id": 99"#.to_vec(),                       // 2: truncated
        br#"{"id": 1}"#.to_vec(),                       // 3
        b"not json at all".to_vec(),                    // 4
        b"[1, 2, 3]".to_vec(),                          // 5: JSON, but not an object
        br#"{"id": 2}"#.to_vec(),                       // 6
        Vec::new(),                                     // 7: blank
        b"\xff\xfe{\"id\": 99}".to_vec(),               // 8: not UTF-8
        b"42".to_vec(),                                 // 9: a number
        br#"{"id": 3, "nested": {"a": [1]}}"#.to_vec(), // 10
        b"{\"id\": 4}\r".to_vec(),                      // 11: CRLF line ending
    ];
    let invalid_lines: Vec<u64> = vec![2, 4, 5, 8, 9];
    let mut input = Vec::new();
    for line in &lines {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    // Many valid lines after the invalid ones: they all come through.
    for id in 5..2_000 {
        serde_json::to_writer(&mut input, &json!({ "id": id })).unwrap();
        input.push(b'\n');
    }
    let run = Pipeline::start(&stdin_to_console(), &["--log-format", "json"], Some(input))
        .wait(PROCESS_LIMIT);
    run.assert_success();
    let events = json_lines(&run.stdout, "stdout");
    assert_all_ids_once_in_order(&events, 2_000, "console");
    assert_eq!(events[3], json!({ "id": 3, "nested": { "a": [1] } }));

    let records = log_records(&run.stderr_text());
    let skipped = records_with_message(&records, "invalid line skipped");
    let mut logged: Vec<u64> = skipped
        .iter()
        .map(|r| {
            r["fields"]["line"]
                .as_u64()
                .unwrap_or_else(|| panic!("warning without a line number: {r}"))
        })
        .collect();
    logged.sort_unstable();
    assert_eq!(
        logged,
        invalid_lines,
        "each invalid line is logged once, with its number; stderr:\n{}",
        tail(&run.stderr_text())
    );
    for record in &skipped {
        assert_eq!(record["level"], "WARN");
        // The topology's span names the component that wrote the line.
        assert_eq!(record["span"]["component_id"], "in", "{record}");
        assert_eq!(record["span"]["component_kind"], "source", "{record}");
        assert_eq!(record["span"]["component_type"], "stdin", "{record}");
        assert!(
            record["fields"]["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "the warning says what is wrong: {record}"
        );
    }
    let summary = records_with_message(&records, "invalid lines were skipped");
    assert_eq!(summary.len(), 1, "one summary of the skipped lines");
    assert_eq!(summary[0]["span"]["component_id"], "in");
    assert_eq!(
        summary[0]["fields"]["invalid_lines"],
        json!(invalid_lines.len())
    );
}

/// In the text log format too, a component's log lines carry its id, kind and type.
#[test]
fn text_logs_name_the_component() {
    let input = b"{\"id\": 1}\nnot json\n".to_vec();
    let run = Pipeline::start(&stdin_to_console(), &[], Some(input)).wait(PROCESS_LIMIT);
    run.assert_success();
    let stderr = run.stderr_text();
    let line = stderr
        .lines()
        .find(|line| line.contains("invalid line skipped"))
        .unwrap_or_else(|| panic!("no warning; stderr:\n{}", tail(&stderr)));
    for field in [
        "component_id=in",
        "component_kind=source",
        "component_type=stdin",
    ] {
        assert!(line.contains(field), "{field} missing from: {line}");
    }
}

#[test]
fn sigterm_shuts_down_gracefully_with_complete_lines() {
    let config = Toml::new()
        .demo_with("demo", &["interval_secs = 0.01"])
        .console("out", &["demo"]);
    let mut pipeline = Pipeline::start(&config, &["--log-format", "json"], None);
    // Start the clock once events flow, so a slow start cannot make the run empty.
    pipeline.wait_until("first event on stdout", PROCESS_LIMIT, |p| {
        p.stdout_snapshot().contains(&b'\n')
    });
    std::thread::sleep(Duration::from_secs(1));
    pipeline.signal(libc::SIGTERM);
    let signalled = Instant::now();
    let run = pipeline.wait(SHUTDOWN_LIMIT);
    let shutdown = signalled.elapsed();
    run.assert_success();
    assert!(
        shutdown < Duration::from_secs(10),
        "graceful shutdown took {shutdown:?}"
    );
    let events = json_lines(&run.stdout, "stdout");
    assert!(
        events.len() >= 5,
        "only {} events in over a second at 100 events/s",
        events.len()
    );
    for event in &events {
        assert!(
            event["class_uid"].is_u64() && event["time"].is_i64(),
            "not a demo event: {event}"
        );
    }
    let records = log_records(&run.stderr_text());
    assert_eq!(
        records_with_message(
            &records,
            "shutting down: sources stop, in-flight events drain"
        )
        .len(),
        1,
        "the signal started a graceful shutdown; stderr:\n{}",
        tail(&run.stderr_text())
    );
}

#[test]
fn sigterm_stops_a_stdin_source_waiting_for_input() {
    const EVENTS: u64 = 100;
    let mut pipeline = Launch {
        input: Some(ndjson((0..EVENTS).map(input_event))),
        keep_stdin_open: true,
        ..Launch::default()
    }
    .start(&stdin_to_console());
    pipeline.wait_until("every event on stdout", PROCESS_LIMIT, |p| {
        p.stdout_snapshot().iter().filter(|&&b| b == b'\n').count() as u64 == EVENTS
    });
    pipeline.signal(libc::SIGTERM);
    let signalled = Instant::now();
    let run = pipeline.wait(SHUTDOWN_LIMIT);
    run.assert_success();
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "stdin kept the pipeline waiting for {:?} after SIGTERM",
        signalled.elapsed()
    );
    assert_all_ids_once_in_order(&json_lines(&run.stdout, "stdout"), EVENTS, "console");
}

/// One of two sinks fails (its stdout is closed): the run must not report success, and the
/// source must say that events were not delivered rather than count them as sent.
#[test]
fn a_failing_sink_fails_the_run_and_the_source_reports_undelivered_events() {
    const EVENTS: u64 = 20_000;
    let run = Launch {
        args: &["--log-format", "json"],
        input: Some(ndjson((0..EVENTS).map(input_event))),
        close_stdout: true,
        ..Launch::default()
    }
    .start(&stdin_to_two_consoles(Toml::new().stdin_json("in"), "in"))
    .wait(PROCESS_LIMIT);
    let stderr = run.stderr_text();
    assert_eq!(
        run.status.code(),
        Some(1),
        "a failed sink must fail the run; stderr:\n{}",
        tail(&stderr)
    );
    let records = log_records(&stderr);
    let failed = records_with_message(&records, "component failed; shutting down");
    assert!(
        failed
            .iter()
            .any(|r| r["fields"]["component"] == "sinks.to_stdout"
                && r["fields"]["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("Broken pipe"))),
        "the failing sink is named; stderr:\n{}",
        tail(&stderr)
    );
    let source_error = failed
        .iter()
        .find(|r| r["fields"]["component"] == "sources.in")
        .and_then(|r| r["fields"]["error"].as_str())
        .unwrap_or_else(|| {
            panic!(
                "the source did not report undelivered events; stderr:\n{}",
                tail(&stderr)
            )
        });
    let undelivered: u64 = source_error
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected source error: {source_error}"));
    assert!(
        source_error.ends_with("events read from stdin were not delivered")
            && (1..=EVENTS).contains(&undelivered),
        "unexpected source error: {source_error}"
    );
}

/// An unpaced demo source feeding a sink limited to `RATE` events/s: without backpressure
/// the source (several thousand events/s even in a debug build) would queue events without
/// bound. With it, at most a few batches are in flight:
///
/// * the number of events the source emitted stays within what the sink accepted plus the
///   channel capacity;
/// * resident memory stays far below 100 MiB (the idle process is ~40 MiB in a debug
///   build; an unbounded queue grows by several MiB per second) and does not grow between
///   second 1 and second 4 by more than 16 MiB (allocator slack; a queue of the excess
///   events would be tens of MiB).
#[cfg(target_os = "linux")]
#[test]
fn backpressure_keeps_memory_bounded() {
    use c1_pipeline::topology::{CHANNEL_BATCHES, MAX_BATCH_EVENTS};

    const RATE: u64 = 500;
    const MIB: u64 = 1024 * 1024;
    const PEAK_LIMIT: u64 = 100 * MIB;
    const GROWTH_LIMIT: u64 = 16 * MIB;
    let config = Toml::new()
        .demo_with("demo", &["interval_secs = 0"])
        .blackhole(
            "slow",
            &["demo"],
            &[&format!("rate = {RATE}"), "print_interval_secs = 0"],
        );
    let mut pipeline = Pipeline::start(
        &config,
        &["--log-format", "json", "--log-level", "debug"],
        None,
    );
    pipeline.wait_until("pipeline start", PROCESS_LIMIT, |p| {
        p.stderr_snapshot().contains("starting pipeline")
    });
    let pid = pipeline.pid();
    let sampling = Instant::now();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    while sampling.elapsed() < Duration::from_secs(4) {
        if let Some(rss) = resident_bytes(pid) {
            samples.push((sampling.elapsed(), rss));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let in_window = |from: f64, to: f64| {
        samples
            .iter()
            .filter(|(t, _)| (from..to).contains(&t.as_secs_f64()))
            .map(|&(_, rss)| rss)
            .max()
            .unwrap_or_else(|| panic!("no memory sample between {from} s and {to} s"))
    };
    let at_one = in_window(0.5, 1.0);
    let at_four = in_window(3.5, 4.0);
    let peak = samples.iter().map(|&(_, rss)| rss).max().unwrap();
    eprintln!(
        "resident memory: {} KiB at 1 s, {} KiB at 4 s, peak {} KiB ({} samples)",
        at_one / 1024,
        at_four / 1024,
        peak / 1024,
        samples.len()
    );
    assert!(peak < PEAK_LIMIT, "peak resident memory {} MiB", peak / MIB);
    assert!(
        at_four <= at_one + GROWTH_LIMIT,
        "resident memory grew from {} MiB at 1 s to {} MiB at 4 s",
        at_one / MIB,
        at_four / MIB
    );

    let running = pipeline.started.elapsed();
    pipeline.signal(libc::SIGTERM);
    // A bounded queue drains in about a second at this rate.
    let run = pipeline.wait(SHUTDOWN_LIMIT);
    run.assert_success();

    // The source emitted only what the sink took, plus what the channel and the two
    // components hold.
    let records = log_records(&run.stderr_text());
    let source = records_with_message(&records, "component totals")
        .into_iter()
        .find(|r| r["fields"]["component"] == "sources.demo")
        .unwrap_or_else(|| {
            panic!(
                "no totals for the source; stderr:\n{}",
                tail(&run.stderr_text())
            )
        });
    let emitted = source["fields"]["sent"].as_u64().unwrap();
    let accepted_at_most = RATE * (running.as_secs() + 2);
    let in_flight = ((CHANNEL_BATCHES + 4) * MAX_BATCH_EVENTS) as u64;
    assert!(
        emitted <= accepted_at_most + in_flight,
        "the source emitted {emitted} events in {running:?} to a sink taking {RATE}/s"
    );
    eprintln!("the source emitted {emitted} events in {running:?}");
    assert!(emitted > 0, "the source emitted nothing");
}

#[test]
fn route_outputs_get_every_matching_event() {
    const EVENTS: u64 = 3_000;
    let mut config = Toml::new().stdin_json("in").transform(
        "by_class",
        "route",
        &["in"],
        &[
            "route.auth = '.class_uid == 3002'",
            "route.failures = '.status_id == 2'",
        ],
    );
    for route in ["auth", "failures", "_unmatched"] {
        let tag = format!("tag_{}", route.trim_start_matches('_'));
        let source = format!("'.routed = \"{route}\"'");
        config = config.remap(&tag, &[&format!("by_class.{route}")], &source);
    }
    let config = config.console("out", &["tag_auth", "tag_failures", "tag_unmatched"]);
    let input = ndjson((0..EVENTS).map(input_event));
    let run = Pipeline::start(&config, &[], Some(input)).wait(PROCESS_LIMIT);
    run.assert_success();
    let events = json_lines(&run.stdout, "stdout");

    let mut routes_of: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for event in &events {
        let tag = event["routed"]
            .as_str()
            .unwrap_or_else(|| panic!("untagged event: {event}"));
        routes_of
            .entry(id_of(event))
            .or_default()
            .push(tag.to_owned());
    }
    let mut expected_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in 0..EVENTS {
        let event = input_event(id);
        let mut expected = Vec::new();
        if event["class_uid"] == 3002 {
            expected.push("auth");
        }
        if event["status_id"] == 2 {
            expected.push("failures");
        }
        if expected.is_empty() {
            expected.push("_unmatched");
        }
        for route in &expected {
            *expected_counts.entry(route).or_default() += 1;
        }
        let mut got = routes_of.remove(&id).unwrap_or_default();
        got.sort();
        assert_eq!(got, expected, "routes of event {id}");
    }
    assert!(
        routes_of.is_empty(),
        "events that were never sent: {routes_of:?}"
    );

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &events {
        *counts.entry(event["routed"].as_str().unwrap()).or_default() += 1;
    }
    assert_eq!(counts, expected_counts);
    // Ids 0, 12, 24, ... match both routes; the input has some of every kind.
    assert_eq!(expected_counts["auth"], 1_000);
    assert_eq!(expected_counts["failures"], 750);
    assert_eq!(expected_counts["_unmatched"], 1_500);
}

#[test]
fn demo_with_count_emits_exactly_that_many_events_and_exits() {
    let config = Toml::new()
        .demo_with("demo", &["count = 50", "interval_secs = 0"])
        .console("out", &["demo"]);
    let run = Pipeline::start(&config, &[], None).wait(PROCESS_LIMIT);
    run.assert_success();
    let events = json_lines(&run.stdout, "stdout");
    assert_eq!(events.len(), 50);
    for event in &events {
        let class = event["class_uid"].as_u64().unwrap_or_default();
        let activity = event["activity_id"].as_u64().unwrap_or_default();
        assert_eq!(
            event["type_uid"].as_u64(),
            Some(class * 100 + activity),
            "not an OCSF demo event: {event}"
        );
    }
}
