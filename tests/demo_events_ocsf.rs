//! The `conductorone_demo` generator's events are valid OCSF 1.3.0.
//!
//! Every event validates against the official JSON Schema of its class (vendored in
//! `tests/data/ocsf`, see `PROVENANCE.md` there) and keeps the invariants JSON Schema cannot
//! express: `type_uid == class_uid * 100 + activity_id`, `time` equal to the requested time as an
//! integer, integers as integers. The mix holds every kind of event, some failures, and a seed
//! fixes the events.

use std::collections::HashSet;

use c1_pipeline::sources::demo::DemoEventGenerator;
use serde_json::Value as Json;
use vrl::value::Value;

/// 2026-01-01T00:00:00Z in epoch milliseconds.
const START_MS: i64 = 1_767_225_600_000;
/// Seeds of the validation run, including the extremes.
const SEEDS: [u64; 4] = [0, 7, 0xC1, u64::MAX];
/// 4 × 1,250 = 5,000 events.
const EVENTS_PER_SEED: usize = 1_250;
/// How many invalid events the failure message shows.
const SHOWN_PROBLEMS: usize = 5;

/// A compiled validator for one of the vendored schemas.
fn validator(file: &str) -> jsonschema::Validator {
    let path = format!("{}/tests/data/ocsf/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let schema: Json =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("compiling {path}: {e}"))
}

/// The event time of the `index`th event: irregular steps, as in a real log.
fn time_of(index: usize) -> i64 {
    let index = i64::try_from(index).expect("index fits in i64");
    START_MS + index * 1_237 + (index * index) % 997
}

/// `events` events of one seed, with the time each was generated for.
fn generate(seed: u64, events: usize) -> Vec<(i64, Value)> {
    let mut generator = DemoEventGenerator::new(seed);
    (0..events)
        .map(|index| {
            let time = time_of(index);
            (time, generator.generate(time))
        })
        .collect()
}

/// Paths of values that are not plain JSON data built from strings, integers, booleans, objects
/// and arrays (a float, timestamp, regex or null would be serialized differently downstream).
fn non_json_values(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                non_json_values(value, &format!("{path}.{key}"), out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                non_json_values(item, &format!("{path}[{index}]"), out);
            }
        }
        Value::Bytes(_) | Value::String(_) | Value::Integer(_) | Value::Boolean(_) => {}
        other => out.push(format!("{path} is {other:?}")),
    }
}

/// Counts of the kinds of events seen.
#[derive(Debug, Default)]
struct Mix {
    total: usize,
    api_activity: usize,
    authentication: usize,
    mcp_tool_calls: usize,
    failures: usize,
}

impl Mix {
    fn share(&self, count: usize) -> f64 {
        count as f64 / self.total as f64
    }
}

/// The problems of one event, empty when it is valid.
fn problems_of(
    event: &Value,
    time: i64,
    api_activity: &jsonschema::Validator,
    authentication: &jsonschema::Validator,
    mix: &mut Mix,
) -> Vec<String> {
    let mut problems = Vec::new();
    non_json_values(event, "", &mut problems);
    if event.get(vrl::path!("time")) != Some(&Value::Integer(time)) {
        problems.push(format!(
            "`time` is {:?}, not the integer {time}",
            event.get(vrl::path!("time"))
        ));
    }

    let json = match serde_json::to_value(event) {
        Ok(json) => json,
        Err(error) => {
            problems.push(format!("does not serialize: {error}"));
            return problems;
        }
    };
    let int = |key: &str| json.get(key).and_then(Json::as_i64);
    let class_uid = int("class_uid");
    let activity_id = int("activity_id");
    let validator = match class_uid {
        Some(6003) => api_activity,
        Some(3002) => authentication,
        other => {
            problems.push(format!("unexpected class_uid {other:?}"));
            return problems;
        }
    };
    problems.extend(validator.iter_errors(&json).take(3).map(|error| {
        let mut message = format!("schema: {}: {error}", error.instance_path());
        shorten(&mut message, 300);
        message
    }));
    match (class_uid, activity_id, int("type_uid")) {
        (Some(class), Some(activity), Some(type_uid)) if type_uid == class * 100 + activity => {}
        other => problems.push(format!(
            "(class_uid, activity_id, type_uid) = {other:?} breaks type_uid = class_uid * 100 + activity_id"
        )),
    }
    if json.get("time").and_then(Json::as_i64) != Some(time) {
        problems.push(format!("JSON `time` is {:?}, not {time}", json.get("time")));
    }
    let metadata = &json["metadata"];
    if metadata["version"] != "1.3.0" {
        problems.push(format!("metadata.version is {}", metadata["version"]));
    }
    if metadata["logged_time"]
        .as_i64()
        .is_none_or(|logged| logged < time)
    {
        problems.push(format!(
            "metadata.logged_time {} is before time",
            metadata["logged_time"]
        ));
    }
    if !metadata["uid"].as_str().is_some_and(is_uuid_v4) {
        problems.push(format!("metadata.uid {} is not a UUIDv4", metadata["uid"]));
    }

    mix.total += 1;
    let activity_name = json["activity_name"].as_str().unwrap_or_default();
    match (class_uid, activity_id, activity_name) {
        (Some(6003), Some(99), "mcp_tool_call") => mix.mcp_tool_calls += 1,
        (Some(6003), _, "mcp_tool_call") => {
            problems.push("an MCP tool call whose activity_id is not 99".to_owned());
        }
        (Some(6003), _, _) => mix.api_activity += 1,
        (_, _, "client_credentials" | "token_exchange") => mix.authentication += 1,
        (_, _, other) => problems.push(format!("Authentication with activity_name {other:?}")),
    }
    match (int("status_id"), json["status"].as_str()) {
        (Some(1), Some("Success")) => {}
        (Some(2), Some("Failure")) => {
            mix.failures += 1;
            if json["status_detail"].as_str().is_none_or(str::is_empty) {
                problems.push("a failure without status_detail".to_owned());
            }
        }
        other => problems.push(format!("(status_id, status) = {other:?}")),
    }
    problems
}

/// Cuts `text` to at most `max` bytes (on a character boundary), marking the cut: the `ip_t`
/// pattern alone is 1.6 kB and would drown the report.
fn shorten(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" […]");
    }
}

/// `8-4-4-4-12` lowercase hex with version 4 and the RFC 4122 variant.
fn is_uuid_v4(text: &str) -> bool {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, &byte)| match index {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte),
        });
    shape_ok && bytes[14] == b'4' && matches!(bytes[19], b'8' | b'9' | b'a' | b'b')
}

#[test]
fn demo_events_validate_against_the_ocsf_1_3_0_schemas() {
    let api_activity = validator("api_activity_1.3.0.schema.json");
    let authentication = validator("authentication_1.3.0.schema.json");
    let mut mix = Mix::default();
    let mut invalid = Vec::new();
    let mut uids = HashSet::new();
    for seed in SEEDS {
        for (index, (time, event)) in generate(seed, EVENTS_PER_SEED).into_iter().enumerate() {
            let problems = problems_of(&event, time, &api_activity, &authentication, &mut mix);
            if let Some(uid) = event
                .get(vrl::path!("metadata", "uid"))
                .and_then(Value::to_str_lossy)
                && !uids.insert(uid.into_owned())
            {
                invalid.push(format!(
                    "seed {seed}, event {index}: its metadata.uid repeats"
                ));
            }
            if !problems.is_empty() {
                let json = serde_json::to_string(&event).unwrap_or_default();
                invalid.push(format!(
                    "seed {seed}, event {index}:\n  {}\n  event: {json}",
                    problems.join("\n  ")
                ));
            }
        }
    }
    assert!(
        invalid.is_empty(),
        "{} of {} events are invalid; the first ones:\n{}",
        invalid.len(),
        SEEDS.len() * EVENTS_PER_SEED,
        invalid[..invalid.len().min(SHOWN_PROBLEMS)].join("\n")
    );

    assert_eq!(mix.total, SEEDS.len() * EVENTS_PER_SEED);
    // The generator aims at 80 % API Activity, 12 % Authentication, 8 % MCP, 5 % failures.
    let expect = |name: &str, count: usize, low: f64, high: f64| {
        let share = mix.share(count);
        assert!(
            (low..=high).contains(&share),
            "{name}: {count} of {} events ({share:.3}) is outside {low}..={high}; mix: {mix:?}",
            mix.total
        );
    };
    expect("API Activity", mix.api_activity, 0.75, 0.85);
    expect("Authentication", mix.authentication, 0.09, 0.15);
    expect("MCP tool calls", mix.mcp_tool_calls, 0.05, 0.11);
    expect("failures", mix.failures, 0.03, 0.07);
}

#[test]
fn a_seed_fixes_the_events() {
    let first = generate(42, 300);
    let again = generate(42, 300);
    for (index, ((_, a), (_, b))) in first.iter().zip(&again).enumerate() {
        assert!(
            a == b,
            "seed 42, event {index} differs between runs:\n{a:?}\n{b:?}"
        );
    }

    let other = generate(43, 300);
    let same = first
        .iter()
        .zip(&other)
        .filter(|((_, a), (_, b))| a == b)
        .count();
    assert_eq!(
        same, 0,
        "{same} of 300 events are identical for seeds 42 and 43"
    );
    let operations = |events: &[(i64, Value)]| -> Vec<Option<Value>> {
        events
            .iter()
            .map(|(_, event)| event.get(vrl::path!("api", "operation")).cloned())
            .collect()
    };
    assert_ne!(
        operations(&first),
        operations(&other),
        "seeds 42 and 43 call the same API operations in the same order"
    );
}
