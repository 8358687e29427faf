//! The library API for host programs: `Pipeline` (from TOML, components added in code, run or
//! start with a handle), open registries (a host's own sink type used by `type` in TOML), the
//! channel endpoints (`embed::host_source`, `embed::host_sink`) with their acknowledgements, and
//! the two examples, built by `cargo test` and run here: `custom_sink`, and `embed_source`
//! against the fake ConductorOne tenant (run, restart, no gap).

#[path = "common/c1_server.rs"]
mod c1_server;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use c1_pipeline::component::{BuildError, ComponentTask, SinkComponent, SinkContext};
use c1_pipeline::embed::{host_sink, host_source};
use c1_pipeline::registry::{RegistryError, register_sink};
use c1_pipeline::{BatchStatus, Pipeline};
use c1_server::{FakeC1, make_events};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);

/// Counts events into a shared total (the registered type of these tests).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TallyConfig {
    label: String,
}

impl SinkComponent for TallyConfig {
    fn build(&self, mut cx: SinkContext) -> Result<ComponentTask, BuildError> {
        if self.label.is_empty() {
            return Err(BuildError::field("label", "must not be empty"));
        }
        Ok(Box::pin(async move {
            while let Some(mut batch) = cx.input.recv().await {
                cx.metrics.received_events(&mut batch);
                cx.metrics.sent_events(&mut batch);
                c1_pipeline::event::finish_batch(batch, BatchStatus::Delivered);
            }
            Ok(())
        }))
    }
}

fn register_tally() {
    // Tests share the process: the first registration wins, later ones see it taken.
    match register_sink::<TallyConfig>("tally") {
        Ok(()) | Err(RegistryError::Taken { .. }) => {}
    }
}

#[tokio::test]
async fn a_registered_sink_type_is_used_by_type_like_a_built_in() {
    register_tally();
    let pipeline = Pipeline::from_toml(
        r#"
[sources.demo]
type = "conductorone_demo"
count = 30
interval_secs = 0

[sinks.count]
type = "tally"
inputs = ["demo"]
label = "demo events"
"#,
    )
    .expect("a registered type parses");
    let summary = tokio::time::timeout(LIMIT, pipeline.run(std::future::pending()))
        .await
        .expect("the demo ends the run")
        .expect("the run succeeds");
    let sink = summary
        .metrics
        .iter()
        .find(|m| m.component == "sinks.count")
        .expect("the sink's metrics");
    assert_eq!(sink.received_events, 30);
}

#[test]
fn registered_types_are_checked_like_built_ins() {
    register_tally();
    assert_eq!(
        register_sink::<TallyConfig>("console"),
        Err(RegistryError::Taken {
            kind: "sink",
            name: "console"
        }),
        "a built-in name cannot be taken"
    );
    let error = Pipeline::from_toml(
        "[sinks.count]\ntype = \"tally\"\ninputs = [\"x\"]\nlabell = \"typo\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("labell") && error.contains("sinks.count"),
        "{error}"
    );
    let error = Pipeline::from_toml("[sinks.count]\ntype = \"taly\"\ninputs = [\"x\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("tally"),
        "the registered type is suggested: {error}"
    );
}

#[tokio::test]
async fn host_source_to_host_sink_acknowledges_after_the_host_finalizes() {
    let mut pipeline = Pipeline::from_toml(
        r#"
[transforms.tag]
type = "remap"
inputs = ["from_host"]
source = '.seen = true'
"#,
    )
    .expect("valid");
    let (source, sender) = host_source(2);
    let (sink, mut batches) = host_sink(2);
    pipeline
        .add_source("from_host", source)
        .expect("a new id")
        .add_sink("to_host", &["tag"], sink)
        .expect("a new id");
    assert!(
        pipeline
            .add_sink("tag", &["from_host"], host_sink(1).0)
            .is_err()
    );
    let handle = pipeline.start().expect("the graph is valid");

    let (batch, mut ack) = round_trip(&sender, &mut batches, 0, 5).await;
    assert_eq!(batch.len(), 5);
    assert!(
        batch
            .iter()
            .all(|event| event.value.as_object().unwrap().contains_key("seen"))
    );
    // Not acknowledged while the host holds the events.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), &mut ack)
            .await
            .is_err()
    );
    c1_pipeline::event::finish_batch(batch, BatchStatus::Delivered);
    assert_eq!(
        tokio::time::timeout(LIMIT, ack).await.unwrap(),
        BatchStatus::Delivered
    );
    let metrics = handle.metrics();
    let sink = metrics
        .iter()
        .find(|m| m.component == "sinks.to_host")
        .unwrap();
    assert_eq!(sink.received_events, 5);

    handle.stop();
    tokio::time::timeout(LIMIT, handle.wait())
        .await
        .expect("the pipeline stops")
        .expect("cleanly");
    assert!(
        sender.send(Vec::new()).await.is_err(),
        "a stopped pipeline takes nothing"
    );
}

/// A sink that does not keep up (a host that reads nothing): the batches waiting in its
/// buffer show in its `buffer_events` and `buffer_byte_size`, which return to 0 once it
/// drains; `buffer_received_events_total` and `buffer_sent_events_total` count them through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_sinks_buffer_is_measured_and_empties_when_it_drains() {
    let mut pipeline = Pipeline::from_toml("").expect("valid");
    let (source, sender) = host_source(1);
    let (sink, mut batches) = host_sink(1);
    pipeline
        .add_source("from_host", source)
        .expect("a new id")
        .add_sink("to_host", &["from_host"], sink)
        .expect("a new id");
    let handle = pipeline.start().expect("the graph is valid");
    let sink_metric = |name: &str| {
        let metrics = handle.metrics();
        let sink = (metrics.iter())
            .find(|m| m.component == "sinks.to_host")
            .expect("the sink's metrics");
        (sink.extra.iter())
            .find(|(key, _)| key == name)
            .map(|(_, value)| *value)
    };
    // The host reads nothing: the first batch waits in the host's channel, the second in
    // the sink's hands, the other two in the sink's buffer (two batches deep).
    for first in 0..4 {
        let values = (first * 5..first * 5 + 5)
            .map(|i| serde_json::from_value(serde_json::json!({ "n": i })).unwrap())
            .collect();
        sender
            .send(values)
            .await
            .expect("the pipeline takes events");
    }
    let started = std::time::Instant::now();
    while sink_metric("buffer_events") != Some(10) {
        assert!(
            started.elapsed() < LIMIT,
            "buffer_events: {:?}",
            sink_metric("buffer_events")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // `{"n":N}`: 7 estimated JSON bytes for each of these one-digit or two-digit numbers.
    let byte_size = sink_metric("buffer_byte_size").expect("the gauge is there");
    assert!(
        (70..=80).contains(&byte_size),
        "buffer_byte_size {byte_size}"
    );

    for _ in 0..4 {
        let batch = tokio::time::timeout(LIMIT, batches.recv())
            .await
            .expect("the batch arrives")
            .expect("the sink is open");
        c1_pipeline::event::finish_batch(batch, BatchStatus::Delivered);
    }
    assert_eq!(sink_metric("buffer_events"), Some(0));
    assert_eq!(sink_metric("buffer_byte_size"), Some(0));
    assert_eq!(sink_metric("buffer_received_events_total"), Some(20));
    assert_eq!(sink_metric("buffer_sent_events_total"), Some(20));
    handle.stop();
    tokio::time::timeout(LIMIT, handle.wait())
        .await
        .expect("the pipeline stops")
        .expect("cleanly");
}

/// Sends `count` values numbered from `first` and returns the batch the host sink gets.
async fn round_trip(
    sender: &c1_pipeline::embed::HostSender,
    batches: &mut tokio::sync::mpsc::Receiver<c1_pipeline::Batch>,
    first: usize,
    count: usize,
) -> (c1_pipeline::Batch, c1_pipeline::BatchStatusReceiver) {
    let values = (first..first + count)
        .map(|i| serde_json::from_value(serde_json::json!({ "n": i })).unwrap())
        .collect();
    let ack = sender
        .send(values)
        .await
        .expect("the pipeline takes events");
    let batch = tokio::time::timeout(LIMIT, batches.recv())
        .await
        .expect("the batch arrives")
        .expect("the sink is open");
    (batch, ack)
}

fn tag_of(event: &c1_pipeline::Event) -> Option<String> {
    let tag = event.value.as_object()?.get("tag")?;
    Some(tag.to_string_lossy().into_owned())
}

#[tokio::test]
async fn a_reload_replaces_the_configuration_keeps_the_host_endpoints_and_loses_nothing() {
    let config = |tag: &str| {
        format!(
            "[transforms.tag]\ntype = \"remap\"\ninputs = [\"from_host\"]\nsource = '.tag = \"{tag}\"'\n"
        )
    };
    let mut pipeline = Pipeline::from_toml(&config("first")).expect("valid");
    let (source, sender) = host_source(4);
    let (sink, mut batches) = host_sink(4);
    pipeline
        .add_source("from_host", source)
        .unwrap()
        .add_sink("to_host", &["tag"], sink)
        .unwrap();
    let handle = pipeline.start().expect("the graph is valid");

    let (batch, first_ack) = round_trip(&sender, &mut batches, 0, 3).await;
    assert!(batch.iter().all(|e| tag_of(e).as_deref() == Some("first")));
    // The host still holds the first batch while the configuration changes: its
    // acknowledgement is not lost with the old topology, it arrives once the host finalizes.
    let next = Pipeline::from_toml(&config("second")).expect("valid");
    let sent_around_reload = tokio::spawn({
        let sender = sender.clone();
        async move {
            // Sent around the reload: kept in the host source's channel if the old one is gone.
            let value = serde_json::from_value(serde_json::json!({"n": 3})).unwrap();
            let ack = sender.send(vec![value]).await;
            ack.expect("the host source outlives the reload").await
        }
    });
    tokio::time::timeout(LIMIT, handle.reload(next))
        .await
        .expect("the reload ends")
        .expect("the new configuration is valid");
    let mut first_ack = first_ack;
    assert!(
        tokio::time::timeout(Duration::from_millis(100), &mut first_ack)
            .await
            .is_err(),
        "not acknowledged while the host holds the events"
    );
    c1_pipeline::event::finish_batch(batch, BatchStatus::Delivered);
    assert_eq!(first_ack.await, BatchStatus::Delivered);

    let batch = tokio::time::timeout(LIMIT, batches.recv())
        .await
        .expect("the batch sent around the reload arrives")
        .unwrap();
    assert_eq!(batch.len(), 1);
    c1_pipeline::event::finish_batch(batch, BatchStatus::Delivered);
    assert_eq!(sent_around_reload.await.unwrap(), BatchStatus::Delivered);

    // An invalid configuration is refused and the running one goes on.
    let invalid = Pipeline::from_toml(
        "[transforms.tag]\ntype = \"remap\"\ninputs = [\"from_host\"]\nsource = 'nonexistent_function!(.)'\n",
    )
    .expect("parses; the program is checked when built");
    match handle.reload(invalid).await {
        Err(c1_pipeline::ReloadError::Invalid(errors)) => {
            assert!(
                errors.to_string().contains("nonexistent_function"),
                "{errors}"
            );
        }
        other => panic!("expected the reload to be refused, got {other:?}"),
    }
    let (batch, ack) = round_trip(&sender, &mut batches, 4, 2).await;
    assert!(batch.iter().all(|e| tag_of(e).as_deref() == Some("second")));
    c1_pipeline::event::finish_batch(batch, BatchStatus::Delivered);
    assert_eq!(ack.await, BatchStatus::Delivered);

    let metrics = handle.metrics();
    let sink = metrics
        .iter()
        .find(|m| m.component == "sinks.to_host")
        .unwrap();
    assert_eq!(
        sink.received_events, 6,
        "counters keep growing across reloads"
    );

    // The kept sink reads `tag`, which this configuration renames: refused.
    let renamed = config("third").replace("transforms.tag", "transforms.label");
    let next = Pipeline::from_toml(&renamed).expect("valid");
    assert!(matches!(
        handle.reload(next).await,
        Err(c1_pipeline::ReloadError::Invalid(_))
    ));
    // With a sink of the same id, the kept one is replaced; the removed transform leaves the
    // counters.
    let mut next = Pipeline::from_toml(&renamed).expect("valid");
    let (replacement, mut third_batches) = host_sink(4);
    next.add_sink("to_host", &["label"], replacement).unwrap();
    handle.reload(next).await.expect("valid");
    let (batch, ack) = round_trip(&sender, &mut third_batches, 6, 1).await;
    assert_eq!(tag_of(&batch[0]).as_deref(), Some("third"));
    c1_pipeline::event::finish_batch(batch, BatchStatus::Delivered);
    assert_eq!(ack.await, BatchStatus::Delivered);
    let names: Vec<_> = handle.metrics().into_iter().map(|m| m.component).collect();
    assert!(names.contains(&"transforms.label".to_owned()), "{names:?}");
    assert!(!names.contains(&"transforms.tag".to_owned()), "{names:?}");
    handle.stop();
    tokio::time::timeout(LIMIT, handle)
        .await
        .expect("the pipeline stops")
        .expect("cleanly");
}

/// An example's binary, built by `cargo build --examples` (scripts/test does) or plain `cargo test`.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().expect("the test binary's path");
    let path = deps
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --examples` first (scripts/test does; `cargo test --all-targets` builds examples only as test harnesses)",
        path.display()
    );
    path
}

#[test]
fn the_custom_sink_example_runs_a_config_using_its_type() {
    let output = Command::new(example("custom_sink"))
        .output()
        .expect("the example runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let total: u64 = stdout
        .lines()
        .filter_map(|line| line.rsplit_once(": ")?.1.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 200, "{stdout}");
    assert!(stdout.contains("class_uid 6003"), "{stdout}");
}

const CLIENT_ID: &str = "clever-fox-42195@acme.conductor.one/spc";
/// Enough pages that the first run stops long before the end, whatever it reads ahead.
const EVENTS: usize = 3_000;

/// Runs `embed_source --max-events max` against `c1`; the event indexes it printed.
fn embed_source_run(c1: &FakeC1, data_dir: &std::path::Path, max: usize) -> Vec<usize> {
    let output = Command::new(example("embed_source"))
        .args(["--max-events", &max.to_string()])
        .env("C1_CLIENT_ID", CLIENT_ID)
        .env("C1_CLIENT_SECRET", c1.secret())
        .env("C1_BASE_URL", c1.base_url())
        .env("C1_DATA_DIR", data_dir)
        .output()
        .expect("the example runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).expect("one JSON event a line");
            let uid = event["metadata"]["uid"].as_str().expect("a uid").to_owned();
            uid["evt-".len()..].parse().expect("evt-<index>")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embed_source_example_continues_where_it_stopped() {
    let c1 = FakeC1::start(CLIENT_ID, make_events(0, EVENTS, 1_767_225_600_000, false)).await;
    let dir = tempfile::tempdir().unwrap();
    let first = tokio::task::block_in_place(|| embed_source_run(&c1, dir.path(), 100));
    assert!(
        first.len() >= 100,
        "at least the events asked for: {}",
        first.len()
    );
    assert_eq!(
        first,
        (0..first.len()).collect::<Vec<_>>(),
        "in order, from the start"
    );
    let second =
        tokio::task::block_in_place(|| embed_source_run(&c1, dir.path(), EVENTS - first.len()));
    let resumed_at = *second.first().expect("the second run prints events");
    assert!(
        resumed_at <= first.len(),
        "no gap: the second run starts at {resumed_at}, the first printed 0..{}",
        first.len()
    );
    let expected: Vec<usize> = (resumed_at..resumed_at + second.len()).collect();
    assert_eq!(second, expected, "in order, without gaps");
}
