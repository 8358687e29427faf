//! The `ocsf` transform end to end: the demo source's events with their derived fields
//! stripped come out complete and valid against the official OCSF 1.3.0 JSON Schemas
//! (`tests/data/ocsf`); classes the demo does not produce (Network Activity 4001, Detection
//! Finding 2004) valid and invalid; the `.invalid` output with `%ocsf.errors`; invalid events
//! dropped, counted and logged when nothing reads `.invalid`; configuration errors.
//!
//! Helpers live in this file on purpose (tests/common is shared with other suites).

#[path = "common/ocsf_strip.rs"]
mod ocsf_strip;
#[path = "common/process.rs"]
mod process;

use ocsf_strip::strip;
use process::{c1_pipeline, run_to_end};
use std::process::Output;

use c1_pipeline::component::{SyncTransform, TransformComponent};
use c1_pipeline::event::{Batch, Event};
use c1_pipeline::sources::demo::DemoEventGenerator;
use c1_pipeline::transforms::TransformConfig;
use serde_json::{Value as Json, json};
use vrl::value::Value;

/// 2026-01-01T00:00:00Z in epoch milliseconds.
const START_MS: i64 = 1_767_225_600_000;

fn build(toml_text: &str) -> Box<dyn SyncTransform> {
    let config: TransformConfig = toml::from_str(toml_text).expect("transform TOML");
    TransformComponent::build(config.component(), &Default::default()).expect("builds")
}

/// Runs `transform` on `values`: (valid, invalid) events.
fn run(transform: &mut dyn SyncTransform, values: Vec<Json>) -> (Vec<Event>, Vec<Event>) {
    let batch: Batch = values
        .into_iter()
        .map(|json| Event::new(serde_json::from_value::<Value>(json).expect("VRL value")))
        .collect();
    let mut outputs = vec![Vec::new(), Vec::new()];
    assert_eq!(transform.transform(batch, &mut outputs), 0);
    let invalid = outputs.pop().expect("two outputs");
    let valid = outputs.pop().expect("two outputs");
    (valid, invalid)
}

fn to_json(value: &Value) -> Json {
    serde_json::to_value(value).expect("JSON")
}

/// `%ocsf.errors` of an event.
fn errors_of(event: &mut Event) -> Vec<String> {
    let metadata = to_json(event.metadata.value_mut());
    serde_json::from_value(metadata["ocsf"]["errors"].clone()).expect("%ocsf.errors")
}

fn validator(file: &str) -> jsonschema::Validator {
    let path = format!("{}/tests/data/ocsf/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("schema file");
    jsonschema::validator_for(&serde_json::from_str(&text).expect("JSON")).expect("schema")
}

fn demo_events(count: usize) -> Vec<Json> {
    let mut generator = DemoEventGenerator::new(0xC1);
    (0..count)
        .map(|index| to_json(&generator.generate(START_MS + index as i64 * 1_000)))
        .collect()
}

#[test]
fn stripped_demo_events_are_derived_back_and_valid_against_the_official_json_schemas() {
    let api_activity = validator("api_activity_1.3.0.schema.json");
    let authentication = validator("authentication_1.3.0.schema.json");
    let originals = demo_events(500);
    let stripped: Vec<Json> = originals
        .iter()
        .cloned()
        .map(|mut event| {
            strip(&mut event, true);
            event
        })
        .collect();
    assert!(stripped.iter().all(|event| event.get("type_uid").is_none()));
    let mut transform = build("type = \"ocsf\"\nversion = \"1.3.0\"");
    let (valid, mut invalid) = run(transform.as_mut(), stripped);
    if let Some(event) = invalid.first_mut() {
        panic!("invalid: {:?}\n{}", errors_of(event), to_json(&event.value));
    }
    assert_eq!(valid.len(), originals.len());
    for (event, original) in valid.iter().zip(&originals) {
        let derived = to_json(&event.value);
        let schema = match derived["class_uid"].as_i64() {
            Some(6003) => &api_activity,
            Some(3002) => &authentication,
            other => panic!("unexpected class {other:?}"),
        };
        let problems: Vec<String> = schema
            .iter_errors(&derived)
            .map(|e| e.to_string())
            .collect();
        assert!(problems.is_empty(), "{problems:?}\n{derived}");
        for field in [
            "category_uid",
            "type_uid",
            "class_name",
            "category_name",
            "type_name",
        ] {
            assert_eq!(derived[field], original[field], "{field} of {original}");
        }
        assert_eq!(derived["severity"], original["severity"]);
    }
}

#[test]
fn without_derive_stripped_events_are_invalid_and_complete_ones_valid() {
    let mut transform = build("type = \"ocsf\"\nderive = false");
    let mut stripped = demo_events(3);
    stripped.iter_mut().for_each(|event| strip(event, true));
    let (valid, mut invalid) = run(transform.as_mut(), stripped);
    assert!(valid.is_empty());
    for event in &mut invalid {
        let errors = errors_of(event);
        assert!(
            errors.contains(&"type_uid: required, missing".to_owned()),
            "{errors:?}"
        );
    }
    let (valid, invalid) = run(transform.as_mut(), demo_events(200));
    assert_eq!((valid.len(), invalid.len()), (200, 0));
}

/// A valid Network Activity (4001) event of OCSF 1.3.0, derived fields left out.
fn network_activity() -> Json {
    json!({
        "class_uid": 4001, "activity_id": 6, "severity_id": 1, "time": START_MS,
        "metadata": {"version": "1.3.0", "product": {"name": "fw", "vendor_name": "Acme"}},
        "src_endpoint": {"ip": "192.0.2.10", "port": 51234},
        "dst_endpoint": {"ip": "198.51.100.7", "port": 443},
        "connection_info": {"direction_id": 2, "protocol_num": 6},
        "traffic": {"bytes_in": 1200, "bytes_out": 5400}
    })
}

/// A valid Detection Finding (2004) event of OCSF 1.3.0, derived fields left out.
fn detection_finding() -> Json {
    json!({
        "class_uid": 2004, "activity_id": 1, "severity_id": 4, "time": START_MS,
        "metadata": {"version": "1.3.0", "product": {"name": "edr", "vendor_name": "Acme"}},
        "finding_info": {"uid": "f-1", "title": "Credential dumping", "types": ["malware"]},
        "status_id": 1, "confidence_id": 3,
        "resources": [{"uid": "host-1", "type": "device"}],
        "unmapped": {"vendor": {"anything": [1, "goes"]}}
    })
}

#[test]
fn other_classes_valid_and_invalid_at_several_versions() {
    for version in ["1.3.0", "1.8.0"] {
        let mut transform = build(&format!("type = \"ocsf\"\nversion = \"{version}\""));
        let (valid, mut invalid) = run(
            transform.as_mut(),
            vec![network_activity(), detection_finding()],
        );
        if let Some(event) = invalid.first_mut() {
            panic!("{version}: {:?}", errors_of(event));
        }
        let network = to_json(&valid[0].value);
        assert_eq!(network["type_uid"], 400106);
        assert_eq!(network["type_name"], "Network Activity: Traffic");
        assert_eq!(network["connection_info"]["direction"], "Outbound");
        let finding = to_json(&valid[1].value);
        assert_eq!(finding["type_uid"], 200401);
        assert_eq!(finding["category_name"], "Findings");
        assert_eq!(finding["severity"], "High");
        assert_eq!(finding["status"], "New");
        // 1.3.0's schema declares no sibling for confidence_id; 1.8.0 does.
        if version == "1.8.0" {
            assert_eq!(finding["confidence"], "High");
        }
    }

    let mut broken_network = network_activity();
    broken_network["src_endpoint"]["port"] = json!(70000);
    broken_network["connection_info"]["direction_id"] = json!("out");
    broken_network["dst_endpoint"] = json!({"port": 443});
    broken_network["colour"] = json!("blue");
    let mut broken_finding = detection_finding();
    broken_finding["finding_info"]
        .as_object_mut()
        .unwrap()
        .remove("uid");
    broken_finding["severity_id"] = json!(8);
    broken_finding["time"] = json!("2026-01-01T00:00:00Z");
    let mut transform = build("type = \"ocsf\"\nversion = \"1.3.0\"");
    let (valid, mut invalid) = run(transform.as_mut(), vec![broken_network, broken_finding]);
    assert!(valid.is_empty());
    assert_eq!(
        errors_of(&mut invalid[0]),
        [
            "colour: unknown attribute",
            "connection_info.direction_id: expected integer_t (a 32-bit integer), got a string",
            "dst_endpoint: at least one of ip, uid, name, hostname, svc_name, instance_uid, interface_uid, interface_name is required, found 0",
            "src_endpoint.port: 70000 is out of range (0 to 65535)",
        ]
    );
    assert_eq!(
        errors_of(&mut invalid[1]),
        [
            "finding_info.uid: required, missing",
            "severity_id: 8 is not in the enum (0, 1, 2, 3, 4, 5, 6, 99)",
            "time: expected timestamp_t (epoch milliseconds, an integer), got a string",
        ]
    );
    // Detection Finding is valid at 1.1.0 too; a class added in 1.3.0 (2006) is unknown there.
    let mut transform = build("type = \"ocsf\"\nversion = \"1.1.0\"");
    let mut later = detection_finding();
    later["class_uid"] = json!(2006);
    let (valid, mut invalid) = run(transform.as_mut(), vec![detection_finding(), later]);
    assert_eq!(valid.len(), 1);
    assert_eq!(
        errors_of(&mut invalid[0]),
        ["class_uid: 2006 is not a class of OCSF 1.1.0"]
    );
}

#[test]
fn the_version_follows_metadata_version_when_not_configured() {
    // 1.8.0 dropped the 1.3.0 requirement of dst_endpoint for an at_least_one constraint.
    let mut event = network_activity();
    event.as_object_mut().unwrap().remove("dst_endpoint");
    let mut transform = build("type = \"ocsf\"");
    let (valid, mut invalid) = run(transform.as_mut(), vec![event.clone()]);
    assert!(valid.is_empty());
    assert_eq!(
        errors_of(&mut invalid[0]),
        ["dst_endpoint: required, missing"]
    );
    event["metadata"]["version"] = json!("1.8.0");
    let (valid, _) = run(transform.as_mut(), vec![event]);
    assert_eq!(valid.len(), 1);
}

// The binary: the `.invalid` output, and invalid events nothing reads.

fn pipeline(config: &str, input: &[Json]) -> Output {
    let lines: String = input.iter().map(|event| format!("{event}\n")).collect();
    run_to_end(config, lines.as_bytes())
}

fn lines(output: &Output) -> Vec<Json> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

const STDIN_TO_OCSF: &str = r#"
[sources.in]
type = "stdin"
decoding.codec = "json"

[transforms.ocsf]
type = "ocsf"
inputs = ["in"]
version = "1.3.0"
"#;

fn mixed_input() -> Vec<Json> {
    let mut input = vec![network_activity(), detection_finding()];
    for n in 0..12 {
        input.push(json!({"class_uid": 4001, "activity_id": 6, "n": n}));
    }
    input.push(json!({"no": "class"}));
    input
}

#[test]
fn invalid_events_go_to_the_invalid_output_with_their_errors() {
    let config = format!(
        r#"{STDIN_TO_OCSF}
[transforms.tag]
type = "remap"
inputs = ["ocsf.invalid"]
source = '. = {{"invalid": ., "errors": %ocsf.errors}}'

[sinks.out]
type = "console"
inputs = ["ocsf", "tag"]
encoding.codec = "json"
"#
    );
    let output = pipeline(&config, &mixed_input());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let lines = lines(&output);
    assert_eq!(lines.len(), 15);
    let (invalid, valid): (Vec<&Json>, Vec<&Json>) =
        lines.iter().partition(|line| line.get("invalid").is_some());
    assert_eq!(valid.len(), 2);
    assert_eq!(invalid.len(), 13);
    let first = invalid
        .iter()
        .find(|line| line["invalid"]["n"] == 0)
        .unwrap();
    let errors = first["errors"].as_array().unwrap();
    assert!(
        errors.contains(&json!("n: unknown attribute")),
        "{errors:?}"
    );
    assert!(errors.contains(&json!("metadata: required, missing")));
    assert_eq!(
        first["invalid"]["type_uid"], 400106,
        "derived before validation"
    );
    let no_class = invalid
        .iter()
        .find(|l| l["invalid"]["no"] == "class")
        .unwrap();
    assert_eq!(no_class["errors"], json!(["class_uid: required, missing"]));
}

/// Runs the mixed input through the `ocsf` transform (with `options` added to it) into a
/// console sink; the run must succeed.
fn mixed_input_to_console(options: &str) -> Output {
    let config = format!(
        r#"{STDIN_TO_OCSF}{options}
[sinks.out]
type = "console"
inputs = ["ocsf"]
encoding.codec = "json"
"#
    );
    let output = pipeline(&config, &mixed_input());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    output
}

#[test]
fn invalid_events_nobody_reads_are_dropped_counted_and_logged() {
    let output = mixed_input_to_console("");
    let lines = lines(&output);
    assert_eq!(lines.len(), 2, "only the valid events reach the sink");
    assert!(lines.iter().all(|line| line["type_uid"].is_i64()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let logged = stderr
        .lines()
        .filter(|line| line.contains("ocsf: invalid OCSF event,"))
        .count();
    assert_eq!(logged, 10, "the first ten, with their problems:\n{stderr}");
    assert!(stderr.contains("unknown attribute"), "{stderr}");
    assert!(stderr.contains("further invalid events are only counted"));
    assert!(
        stderr
            .lines()
            .any(|line| line.contains("invalid OCSF events in all") && line.contains("invalid=13")),
        "{stderr}"
    );
}

#[test]
fn without_reroute_invalid_events_are_dropped_as_discarded() {
    let output = mixed_input_to_console("reroute_invalid = false\n");
    assert_eq!(lines(&output).len(), 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dropped (reroute_invalid = false)"),
        "{stderr}"
    );
    // `.invalid` does not exist then: reading it is a configuration error.
    let reading = format!(
        r#"{STDIN_TO_OCSF}reroute_invalid = false

[sinks.out]
type = "console"
inputs = ["ocsf.invalid"]
encoding.codec = "json"
"#
    );
    assert_eq!(validate(&reading).status.code(), Some(78));
}

fn validate(config: &str) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("pipeline.toml");
    std::fs::write(&path, config).expect("config written");
    c1_pipeline()
        .args(["validate", "--no-environment", "--config"])
        .arg(&path)
        .output()
        .expect("c1-pipeline runs")
}

#[test]
fn configuration_errors_name_the_field_and_the_embedded_versions() {
    let sink =
        "\n[sinks.out]\ntype = \"console\"\ninputs = [\"ocsf\"]\nencoding.codec = \"json\"\n";
    let good = format!("{STDIN_TO_OCSF}{sink}");
    let output = validate(&good);
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    let output = validate(&good.replace("\"1.3.0\"", "\"1.4.0\""));
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pipeline.toml:9:"), "{stderr}");
    assert!(
        stderr.contains("transforms.ocsf, field `version`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "OCSF version `1.4.0` is not embedded (embedded versions: 1.1.0, 1.3.0, 1.5.0, 1.8.0)"
        ),
        "{stderr}"
    );

    let output = validate(&good.replace("version = ", "versoin = "));
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown field `versoin`"), "{stderr}");
    assert!(stderr.contains("did you mean `version`?"), "{stderr}");
}
