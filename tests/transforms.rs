//! `remap`, `filter` and `route` at library level: configurations deserialized from TOML,
//! built, and run over batches whose events carry acknowledgement finalizers.

#[path = "common/batches.rs"]
mod batches;

use std::sync::Arc;

use batches::{
    assert_delivered_after_the_last, assert_delivered_only_after, batch_of, is_pending, status_of,
};
use c1_pipeline::ack::{BatchStatus, BatchStatusReceiver};
use c1_pipeline::component::{SyncTransform, TransformComponent, TransformOutputs};
use c1_pipeline::event::{Batch, Origin, finish_batch};
use c1_pipeline::transforms::TransformConfig;
use serde_json::json;
use vrl::value::{ObjectMap, Value};

fn config(toml_text: &str) -> TransformConfig {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("invalid transform TOML: {e}"))
}

/// Builds the transform and returns it with its output layout.
fn build(toml_text: &str) -> (Box<dyn SyncTransform>, TransformOutputs) {
    let config = config(toml_text);
    let transform = TransformComponent::build(config.component(), &Default::default())
        .unwrap_or_else(|e| panic!("build failed: {e}"));
    (transform, config.component().outputs())
}

fn vrl_value(json: serde_json::Value) -> Value {
    serde_json::from_value(json).expect("JSON is a VRL value")
}

fn to_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).expect("a VRL value is JSON")
}

/// Events for `values`, all from one source batch, and that batch's receiver.
fn batch(values: &[serde_json::Value]) -> (Batch, BatchStatusReceiver) {
    batch_of(values.iter().map(|v| vrl_value(v.clone())))
}

/// A remap transform with `options` (lines) and the multi-line `program`.
fn remap(options: &[&str], program: &str) -> (Box<dyn SyncTransform>, TransformOutputs) {
    let options: String = options.iter().map(|line| format!("{line}\n")).collect();
    build(&format!(
        "type = \"remap\"\n{options}source = '''\n{program}'''\n"
    ))
}

/// Runs `transform` over `batch` with `count` output slots.
fn run(transform: &mut dyn SyncTransform, batch: Batch, count: usize) -> Vec<Batch> {
    run_counted(transform, batch, count).0
}

/// The outputs and the number of events the transform reports as discarded.
fn run_counted(
    transform: &mut dyn SyncTransform,
    batch: Batch,
    count: usize,
) -> (Vec<Batch>, usize) {
    let mut outputs: Vec<Batch> = (0..count).map(|_| Vec::new()).collect();
    let discarded = transform.transform(batch, &mut outputs);
    (outputs, discarded)
}

fn output_count(outputs: &TransformOutputs) -> usize {
    usize::from(outputs.default) + outputs.named.len()
}

/// Finishes the first output batch as delivered; the source batch must then be delivered.
async fn deliver_first(out: Vec<Batch>, receiver: BatchStatusReceiver) {
    finish_batch(out.into_iter().next().unwrap(), BatchStatus::Delivered);
    assert_eq!(status_of(receiver).await, BatchStatus::Delivered);
}

/// Checks that the source batch is still open (`open` is the failure message), then
/// [`deliver_first`].
async fn deliver_first_once_open(out: Vec<Batch>, mut receiver: BatchStatusReceiver, open: &str) {
    assert!(is_pending(&mut receiver), "{open}");
    deliver_first(out, receiver).await;
}

/// Runs remap `program` (with `options`) over [`original_event`]: the event must come out
/// exactly as it went in, and be delivered with its batch.
async fn assert_passes_the_original_on(options: &[&str], program: &str) {
    let (mut remap, _) = remap(options, program);
    let (events, receiver) = batch(&[original_event()]);
    let out = run(remap.as_mut(), events, 1);
    assert_eq!(values(&out[0]), vec![original_event()]);
    deliver_first(out, receiver).await;
}

fn values(batch: &Batch) -> Vec<serde_json::Value> {
    batch.iter().map(|e| to_json(&e.value)).collect()
}

/// An OCSF-like event rich enough for backup tests: nested objects, arrays, several types.
fn original_event() -> serde_json::Value {
    json!({
        "class_uid": 6003,
        "activity_id": 1,
        "actor": { "user": { "email_addr": "alice@example.com", "uid": "u-1" } },
        "secret": "s3cr3t",
        "count": 1,
        "raw": "{not json",
        "observables": [ { "name": "ip", "value": "10.0.0.1" } ],
        "untouched": { "deep": [1, 2.5, true, null] },
    })
}

#[tokio::test]
async fn remap_success_modifies_the_event_and_keeps_its_finalizer() {
    let program = [
        r#".tenant = "acme""#,
        ".actor.user.email_addr = downcase(upcase!(.actor.user.email_addr))",
        "del(.secret)",
        ".count = 2",
        "%seen = true",
    ];
    let (mut remap, outputs) = remap(&[], &(program.join("\n") + "\n"));
    assert_eq!(
        outputs,
        TransformOutputs {
            default: true,
            named: vec![],
            optional: vec![]
        }
    );
    let (events, receiver) = batch(&[original_event()]);
    let out = run(remap.as_mut(), events, 1);
    assert_eq!(out[0].len(), 1);
    let mut expected = original_event();
    expected["tenant"] = json!("acme");
    expected["count"] = json!(2);
    expected.as_object_mut().unwrap().remove("secret");
    assert_eq!(to_json(&out[0][0].value), expected);
    assert_eq!(
        to_json(&out[0][0].metadata.to_value()),
        json!({ "seen": true }),
        "`%` metadata written by the program"
    );
    let open = "a passed-on event is finalized by its sink, not by remap";
    deliver_first_once_open(out, receiver, open).await;
}

/// Events read from a file carry their origin (`%bucket`, `%key`, `%line`) lazily: VRL
/// programs, filter conditions and route conditions all see it as ordinary `%` fields, and a
/// field the program sets wins over the origin's.
#[tokio::test]
async fn the_origin_of_an_event_reads_as_percent_fields_in_every_vrl_transform() {
    let shared = Arc::new(ObjectMap::from([
        ("bucket".into(), Value::from("c1-export")),
        ("key".into(), Value::from("systemlog/a.json.zst")),
    ]));
    let with_origin = |values: &[serde_json::Value]| {
        let (mut events, receiver) = batch(values);
        for (line, event) in (7..).zip(events.iter_mut()) {
            event.metadata.set_origin(Origin {
                shared: Arc::clone(&shared),
                line,
            });
        }
        (events, receiver)
    };
    let two = [json!({ "n": 1 }), json!({ "n": 2 })];

    let (mut remap, _) = remap(
        &[],
        ".file = join!([%bucket, %key], \"/\")\n.at = %line\n%key = \"renamed\"\n",
    );
    let (events, _receiver) = with_origin(&two);
    let out = run(remap.as_mut(), events, 1);
    assert_eq!(
        values(&out[0]),
        vec![
            json!({ "n": 1, "file": "c1-export/systemlog/a.json.zst", "at": 7 }),
            json!({ "n": 2, "file": "c1-export/systemlog/a.json.zst", "at": 8 }),
        ]
    );
    assert_eq!(
        to_json(&out[0][1].metadata.to_value()),
        json!({ "bucket": "c1-export", "key": "renamed", "line": 8 })
    );

    let (mut filter, _) = build(
        r#"
type = "filter"
condition = '%line == 8 && %bucket == "c1-export"'
"#,
    );
    let (events, _receiver) = with_origin(&two);
    let out = run(filter.as_mut(), events, 1);
    assert_eq!(values(&out[0]), vec![json!({ "n": 2 })]);

    let (mut route, outputs) = build(
        r#"
type = "route"
route.first = '%line == 7 && %key == "systemlog/a.json.zst"'
"#,
    );
    let (events, _receiver) = with_origin(&two);
    let out = run(route.as_mut(), events, output_count(&outputs));
    assert_eq!(outputs.named, vec!["first", "_unmatched"]);
    assert_eq!(values(&out[0]), vec![json!({ "n": 1 })]);
    assert_eq!(values(&out[1]), vec![json!({ "n": 2 })]);
}

/// The program changes nested and top-level fields, adds one, deletes one and writes `%`
/// metadata, and only then fails: the event must come out exactly as it went in.
#[tokio::test]
async fn remap_error_passes_the_original_event_on_unchanged() {
    let program = [
        r#".actor.user.email_addr = "mallory@example.com""#,
        ".count = 99",
        r#".added = "new field""#,
        "del(.secret)",
        "del(.observables[0].value)",
        r#"%scratch = "temporary""#,
        ".parsed = parse_json!(.raw)",
    ];
    let (mut remap, _) = remap(&[], &(program.join("\n") + "\n"));
    // One event that fails, one that succeeds (its `raw` is valid JSON).
    let mut good = original_event();
    good["raw"] = json!("{\"ok\": true}");
    let (mut events, receiver) = batch(&[original_event(), good]);
    *events[0].metadata.value_mut() = vrl_value(json!({ "line": 3 }));
    let out = run(remap.as_mut(), events, 1);
    assert_eq!(
        out[0].len(),
        2,
        "drop_on_error = false passes failing events on"
    );
    assert_eq!(
        to_json(&out[0][0].value),
        original_event(),
        "the failed run's changes leaked into the event"
    );
    assert_eq!(
        to_json(&out[0][0].metadata.to_value()),
        json!({ "line": 3 }),
        "`%` metadata written by the failed run leaked"
    );
    let second = to_json(&out[0][1].value);
    assert_eq!(second["parsed"], json!({ "ok": true }));
    assert_eq!(second["count"], json!(99));
    assert!(second.get("secret").is_none());
    deliver_first(out, receiver).await;
}

/// The same with a program that replaces the whole event first (the backup must then be of
/// the whole event).
#[tokio::test]
async fn remap_error_after_replacing_the_root_restores_everything() {
    assert_passes_the_original_on(
        &[],
        "raw = .raw\n. = { \"replaced\": true }\n.parsed = parse_json!(raw)\n",
    )
    .await;
}

/// Fields reached through an index or only read through a variable are restored too.
#[tokio::test]
async fn remap_error_restores_fields_changed_through_nested_paths() {
    let program = [
        r#".observables[0].name = "changed""#,
        r#".untouched.deep[1] = "changed""#,
        ".brand_new.nested = 1",
        ".x = to_int!(.raw)",
    ];
    assert_passes_the_original_on(&[], &(program.join("\n") + "\n")).await;
}

#[tokio::test]
async fn remap_drop_on_error_drops_and_finalizes_delivered() {
    let (mut remap, outputs) = remap(&["drop_on_error = true"], ".parsed = parse_json!(.raw)\n");
    assert_eq!(output_count(&outputs), 1);
    let (events, receiver) = batch(&[original_event(), original_event()]);
    let (out, discarded) = run_counted(remap.as_mut(), events, 1);
    assert!(out[0].is_empty(), "failed events were not dropped");
    assert_eq!(discarded, 2);
    // Dropping on purpose is handling the event: the source must not resend it.
    assert_eq!(status_of(receiver).await, BatchStatus::Delivered);
}

#[tokio::test]
async fn remap_drop_on_abort_defaults_to_true() {
    let (mut remap, _) = remap(&[], ".touched = true\nif .activity_id == 2 { abort }\n");
    let mut read = original_event();
    read["activity_id"] = json!(2);
    let (events, receiver) = batch(&[read, original_event()]);
    let out = run(remap.as_mut(), events, 1);
    assert_eq!(out[0].len(), 1, "the aborted event was not dropped");
    let mut expected = original_event();
    expected["touched"] = json!(true);
    assert_eq!(values(&out[0]), vec![expected]);
    deliver_first_once_open(out, receiver, "the kept event is not finalized yet").await;
}

#[tokio::test]
async fn remap_drop_on_abort_false_passes_the_original_on() {
    assert_passes_the_original_on(
        &["drop_on_abort = false"],
        ".touched = true\ndel(.secret)\nabort\n",
    )
    .await;
}

#[tokio::test]
async fn remap_reroute_dropped_sends_the_original_with_the_reason() {
    let (mut remap, outputs) = remap(
        &["drop_on_error = true", "reroute_dropped = true"],
        ".count = 1000\ndel(.secret)\nif .activity_id == 2 { abort }\n.parsed = parse_json!(.raw)\n",
    );
    assert_eq!(
        outputs,
        TransformOutputs {
            default: true,
            named: vec!["dropped".into()],
            optional: vec![]
        }
    );
    let mut aborted = original_event();
    aborted["activity_id"] = json!(2);
    let mut good = original_event();
    good["raw"] = json!("[1]");
    let (events, mut receiver) = batch(&[original_event(), aborted.clone(), good]);
    let mut out = run(remap.as_mut(), events, output_count(&outputs));

    assert_eq!(
        out[0].len(),
        1,
        "only the successful event goes to the default output"
    );
    assert_eq!(to_json(&out[0][0].value)["parsed"], json!([1]));

    let dropped = &out[1];
    assert_eq!(dropped.len(), 2);
    assert_eq!(to_json(&dropped[0].value), original_event());
    let meta = to_json(&dropped[0].metadata.to_value());
    assert_eq!(meta["dropped"]["reason"], json!("error"), "{meta}");
    let message = meta["dropped"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("parse_json") || message.contains("unable to parse json"),
        "the error message is kept: {meta}"
    );
    assert_eq!(meta["dropped"]["component_type"], json!("remap"));
    assert_eq!(meta["dropped"]["component_kind"], json!("transform"));

    assert_eq!(to_json(&dropped[1].value), aborted);
    let meta = to_json(&dropped[1].metadata.to_value());
    assert_eq!(meta["dropped"]["reason"], json!("abort"), "{meta}");

    // Rerouted events are still owed to the source: it waits for their destination.
    let rerouted = out.remove(1);
    finish_batch(out.remove(0), BatchStatus::Delivered);
    assert!(is_pending(&mut receiver));
    finish_batch(rerouted, BatchStatus::Errored);
    assert_eq!(status_of(receiver).await, BatchStatus::Errored);
}

#[tokio::test]
async fn remap_array_root_emits_one_event_per_element() {
    let (mut remap, _) = remap(
        &[],
        ". = [ { \"part\": 1, \"uid\": .actor.user.uid }, { \"part\": 2 }, \"text\" ]\n",
    );
    let (events, receiver) = batch(&[original_event()]);
    let out = run(remap.as_mut(), events, 1);
    assert_eq!(
        values(&out[0]),
        vec![
            json!({ "part": 1, "uid": "u-1" }),
            json!({ "part": 2 }),
            json!({ "message": "text" }),
        ]
    );
    assert_delivered_after_the_last(
        receiver,
        out.into_iter().next().unwrap(),
        |event| event.finish(BatchStatus::Delivered),
        "resolved before every element was finalized",
    )
    .await;

    // An empty array emits nothing and the event counts as handled.
    let (mut remap, _) = build("type = \"remap\"\nsource = '. = []'\n");
    let (events, receiver) = batch(&[original_event()]);
    let out = run(remap.as_mut(), events, 1);
    assert!(out[0].is_empty());
    assert_eq!(status_of(receiver).await, BatchStatus::Delivered);
}

#[tokio::test]
async fn remap_clone_box_runs_the_same_program() {
    let (remap, _) = build("type = \"remap\"\nsource = '.n = 1'\n");
    let mut copy = remap.clone();
    let (events, _receiver) = batch(&[json!({ "a": true })]);
    let out = run(copy.as_mut(), events, 1);
    assert_eq!(values(&out[0]), vec![json!({ "a": true, "n": 1 })]);
    finish_batch(out.into_iter().next().unwrap(), BatchStatus::Delivered);
}

#[tokio::test]
async fn filter_keeps_matches_and_finalizes_the_rest_as_delivered() {
    let (mut filter, outputs) = build(
        r#"
type = "filter"
condition = '.activity_id != 2'
"#,
    );
    assert_eq!(output_count(&outputs), 1);
    let events: Vec<serde_json::Value> = (0..6)
        .map(|i| json!({ "id": i, "activity_id": i % 3 }))
        .collect();
    let (events, receiver) = batch(&events);
    let (out, discarded) = run_counted(filter.as_mut(), events, 1);
    assert_eq!(discarded, 2, "the two reads are counted as discarded");
    let kept: Vec<i64> = values(&out[0])
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(kept, vec![0, 1, 3, 4]);
    // The two filtered-out events were finalized as delivered by the filter itself.
    deliver_first_once_open(out, receiver, "the kept events are still in flight").await;
}

#[tokio::test]
async fn filter_drops_everything_as_delivered_and_errors_count_as_false() {
    let (mut filter, _) = build(
        r#"
type = "filter"
condition = { type = "vrl", source = 'to_int!(.n) > 1' }
"#,
    );
    let (events, receiver) = batch(&[
        json!({ "n": "not a number" }),
        json!({ "n": 1 }),
        json!({ "n": [] }),
    ]);
    let (out, discarded) = run_counted(filter.as_mut(), events, 1);
    assert!(out[0].is_empty());
    assert_eq!(discarded, 3);
    assert_eq!(status_of(receiver).await, BatchStatus::Delivered);

    let (events, _receiver) = batch(&[json!({ "n": "5" })]);
    let (out, discarded) = run_counted(filter.as_mut(), events, 1);
    assert_eq!(discarded, 0);
    assert_eq!(values(&out[0]), vec![json!({ "n": "5" })]);
    finish_batch(out.into_iter().next().unwrap(), BatchStatus::Delivered);
}

const ROUTE: &str = r#"
type = "route"
route.failures = '.status_id == 2'
route.auth = '.class_uid == 3002'
"#;

/// The four combinations of the two route conditions.
fn route_events() -> Vec<serde_json::Value> {
    vec![
        json!({ "id": "both", "class_uid": 3002, "status_id": 2 }),
        json!({ "id": "auth", "class_uid": 3002, "status_id": 1 }),
        json!({ "id": "failure", "class_uid": 6003, "status_id": 2 }),
        json!({ "id": "none", "class_uid": 6003, "status_id": 1 }),
    ]
}

fn ids(batch: &Batch) -> Vec<String> {
    values(batch)
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn route_copies_to_every_matching_route_and_unmatched_otherwise() {
    let (mut route, outputs) = build(ROUTE);
    assert_eq!(
        outputs,
        TransformOutputs {
            default: false,
            named: vec!["auth".into(), "failures".into(), "_unmatched".into()],
            optional: vec!["_unmatched".into()],
        }
    );
    let (events, receiver) = batch(&route_events());
    let out = run(route.as_mut(), events, output_count(&outputs));
    assert_eq!(ids(&out[0]), vec!["both", "auth"], "auth route");
    assert_eq!(ids(&out[1]), vec!["both", "failure"], "failures route");
    assert_eq!(ids(&out[2]), vec!["none"], "_unmatched");

    // Every copy must be finalized before the batch resolves.
    let mut out = out.into_iter();
    let (auth, failures, unmatched) = (
        out.next().unwrap(),
        out.next().unwrap(),
        out.next().unwrap(),
    );
    let mut failures = failures.into_iter();
    let both_copy = failures.next().unwrap();
    assert_delivered_only_after(
        receiver,
        || {
            finish_batch(auth, BatchStatus::Delivered);
            finish_batch(unmatched, BatchStatus::Delivered);
            finish_batch(failures.collect(), BatchStatus::Delivered);
        },
        "resolved while the second copy of the event matching both routes was in flight",
        || both_copy.finish(BatchStatus::Delivered),
    )
    .await;
}

#[tokio::test]
async fn route_copy_failing_on_one_route_fails_the_batch() {
    let (mut route, outputs) = build(ROUTE);
    let (events, receiver) = batch(&route_events()[..1]);
    let out = run(route.as_mut(), events, output_count(&outputs));
    let mut out = out.into_iter();
    finish_batch(out.next().unwrap(), BatchStatus::Delivered);
    finish_batch(out.next().unwrap(), BatchStatus::Errored);
    assert_eq!(status_of(receiver).await, BatchStatus::Errored);
}

#[tokio::test]
async fn route_without_reroute_unmatched_drops_as_delivered() {
    let (mut route, outputs) = build(&format!("{ROUTE}reroute_unmatched = false\n"));
    assert_eq!(outputs.named, vec!["auth", "failures"]);
    let (events, receiver) = batch(&route_events()[3..]);
    let (out, discarded) = run_counted(route.as_mut(), events, output_count(&outputs));
    assert!(out.iter().all(Vec::is_empty));
    assert_eq!(discarded, 1, "the unmatched event is counted as discarded");
    assert_eq!(status_of(receiver).await, BatchStatus::Delivered);
}

#[test]
fn transforms_reject_invalid_configurations_at_build_time() {
    let cases = [
        (
            "type = \"remap\"\nsource = '.a = '\n",
            "VRL compilation failed",
        ),
        ("type = \"remap\"\n", "a VRL program is required"),
        (
            "type = \"filter\"\ncondition = '.a'\n",
            "must return a boolean",
        ),
        (
            "type = \"route\"\nroute._unmatched = '.a == 1'\n",
            "cannot be a route name",
        ),
    ];
    for (text, expected) in cases {
        let error = match TransformComponent::build(config(text).component(), &Default::default()) {
            Ok(_) => panic!("built: {text}"),
            Err(error) => error,
        };
        assert!(
            error.message.contains(expected),
            "{text}: expected `{expected}` in `{}`",
            error.message
        );
    }
}
