//! The `conductorone_demo` generator's events are valid OCSF 1.3.0.
//!
//! Every event validates against the official JSON Schema of its class (vendored in
//! `tests/data/ocsf`, see `PROVENANCE.md` there) and keeps the invariants JSON Schema cannot
//! express: `type_uid == class_uid * 100 + activity_id`, `time` equal to the requested time as an
//! integer, integers as integers. The mix holds every kind of event ConductorOne documents,
//! each with the fields its documentation names, `activity_id` consistent with
//! `activity_name`, some failures; and a seed fixes the events.

use std::collections::{BTreeMap, HashSet};

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

/// Counts of the kinds of events seen, and of each activity name of the product events.
#[derive(Debug, Default)]
struct Mix {
    total: usize,
    failures: usize,
    /// By kind (see [`kind_of`]).
    kinds: BTreeMap<&'static str, usize>,
    /// By `activity_name`, for the product events.
    activities: BTreeMap<String, usize>,
    /// MCP sessions started (their uids), to check that each end had a start.
    mcp_sessions: HashSet<String>,
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
    let kind = kind_of(&json);
    *mix.kinds.entry(kind).or_default() += 1;
    let activity_name = json["activity_name"].as_str().unwrap_or_default();
    if kind != "api call" {
        *mix.activities.entry(activity_name.to_owned()).or_default() += 1;
    }
    problems.extend(activity_problems(&json));
    problems.extend(kind_problems(kind, &json, mix));
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

/// The kind of an event, from its class and activity name.
fn kind_of(json: &Json) -> &'static str {
    let name = json["activity_name"].as_str().unwrap_or_default();
    match (json["class_uid"].as_i64(), name) {
        (Some(3002), _) if json["unmapped"]["requested_token_type"].is_string() => {
            "managed authorization"
        }
        (Some(3002), _) => "token grant",
        (_, "ai_tool_call") => "ai tool call",
        _ if name.starts_with("mcp_") => "mcp",
        _ if name.starts_with("paper_secret_") => "secret sharing",
        _ if name.starts_with("ai_") => "ai administration",
        _ if name.starts_with("automation_circuit_breaker_") => "circuit breaker",
        _ => "api call",
    }
}

/// `activity_id` consistent with `activity_name`: the caption of ids 1 to 4, ConductorOne's
/// own name only with 99 (Other).
fn activity_problems(json: &Json) -> Vec<String> {
    let name = json["activity_name"].as_str().unwrap_or_default();
    let captions = match json["class_uid"].as_i64() {
        Some(6003) => ["Create", "Read", "Update", "Delete"],
        _ => [
            "Logon",
            "Logoff",
            "Authentication Ticket",
            "Service Ticket Request",
        ],
    };
    match json["activity_id"].as_i64() {
        Some(id @ 1..=4) if captions[id as usize - 1] == name => Vec::new(),
        Some(99) if !captions.contains(&name) && !name.is_empty() => Vec::new(),
        id => vec![format!(
            "activity_id {id:?} does not fit activity_name {name:?}"
        )],
    }
}

/// The fields the documentation names for each kind of event.
fn kind_problems(kind: &str, json: &Json, mix: &mut Mix) -> Vec<String> {
    let name = json["activity_name"].as_str().unwrap_or_default();
    let has = |path: &str| {
        path.split('.')
            .try_fold(json, |value, key| value.get(key))
            .is_some_and(|value| !value.is_null())
    };
    let required: &[&str] = match kind {
        "api call" => {
            let operation = json["api"]["operation"].as_str().unwrap_or_default();
            let service = json["api"]["service"]["name"].as_str().unwrap_or_default();
            if !operation.starts_with(&format!("{service}/")) || operation.contains('.') {
                return vec![format!(
                    "api.operation {operation:?} is not `Service/Method`"
                )];
            }
            &[
                "actor.user.uid",
                "src_endpoint.ip",
                "http_request.user_agent",
            ]
        }
        "token grant" => &["user.uid", "src_endpoint.ip", "auth_protocol_id"],
        "mcp" => return mcp_problems(name, json, mix),
        "secret sharing" => return secret_problems(name, json),
        "managed authorization" => return managed_authorization_problems(json),
        "ai tool call" => &[
            "actor.user.uid",
            "actor.app_name",
            "actor.app_uid",
            "api.operation",
            "api.service.name",
            "duration",
            "unmapped.result",
            "unmapped.mcp_server",
        ],
        "ai administration" => &["actor.user.uid", "resources"],
        _ => &["resources", "unmapped.max_executions", "unmapped.period"],
    };
    required
        .iter()
        .filter(|path| !has(path))
        .map(|path| format!("{kind} {name:?} without {path}"))
        .collect()
}

/// MCP: session id, user, source IP, user agent; duration and call counts at the end; tool,
/// result count and duration of a call.
fn mcp_problems(name: &str, json: &Json, mix: &mut Mix) -> Vec<String> {
    let mut problems = Vec::new();
    let session = json["actor"]["session"]["uid"].as_str().unwrap_or_default();
    for path in [
        &json["actor"]["user"]["email_addr"],
        &json["src_endpoint"]["ip"],
        &json["http_request"]["user_agent"],
    ] {
        if !path.is_string() {
            problems.push(format!("{name} without user, source IP or user agent"));
        }
    }
    match name {
        "mcp_session_start" => {
            if json["status_id"] == 1 {
                mix.mcp_sessions.insert(session.to_owned());
            }
        }
        "mcp_session_end" => {
            let unmapped = &json["unmapped"];
            let calls = unmapped["tool_calls_succeeded"]
                .as_i64()
                .zip(unmapped["tool_calls_failed"].as_i64());
            if calls.map(|(ok, failed)| ok + failed) != json["count"].as_i64() {
                problems.push(format!(
                    "mcp_session_end counts {unmapped} vs count {}",
                    json["count"]
                ));
            }
            if json["duration"].as_i64().is_none_or(|d| d < 0) {
                problems.push("mcp_session_end without a duration".to_owned());
            }
            if !mix.mcp_sessions.contains(session) {
                problems.push(format!(
                    "mcp_session_end of session {session} that never started"
                ));
            }
        }
        "mcp_tool_call" => {
            let tool = json["unmapped"]["tool_name"].as_str().unwrap_or_default();
            let tools = [
                "find_api_objects",
                "count_api_objects",
                "list_object_types",
                "describe_object_filters",
                "get_object_schema",
            ];
            if !tools.contains(&tool)
                || !json["unmapped"]["result_count"].is_i64()
                || !json["duration"].is_i64()
            {
                problems.push(format!(
                    "mcp_tool_call without a documented tool, result count or duration: {}",
                    json["unmapped"]
                ));
            }
            if !mix.mcp_sessions.contains(session) {
                problems.push(format!(
                    "mcp_tool_call in session {session} that never started"
                ));
            }
        }
        other => problems.push(format!("unknown MCP activity {other}")),
    }
    problems
}

/// Secret sharing: secret id, share code `XXXX-XXXX-XXXX`, mode, type, actor, client IP; each
/// activity only where its mode and type allow it.
fn secret_problems(name: &str, json: &Json) -> Vec<String> {
    let details = &json["unmapped"];
    let code = details["share_code"].as_str().unwrap_or_default();
    let code_ok = code.len() == 14
        && code.char_indices().all(|(at, c)| match at {
            4 | 9 => c == '-',
            _ => c.is_ascii_uppercase() || c.is_ascii_digit(),
        });
    let mode = details["sharing_mode"].as_str().unwrap_or_default();
    let kind = details["secret_type"].as_str().unwrap_or_default();
    let actor = &json["actor"]["user"];
    let fits = match name {
        "paper_secret_opened_internal" => mode == "internal",
        "paper_secret_opened" | "paper_secret_magic_link_created" => mode == "external",
        "paper_secret_file_downloaded" => kind == "file",
        "paper_secret_access_denied" => json["status_id"] == 2,
        "paper_secret_created" | "paper_secret_revoked" | "paper_secret_revoked_admin" => {
            actor["uid"].is_string()
        }
        _ => false,
    };
    let complete = code_ok
        && details["secret_id"].is_string()
        && details["secret_id"] == json["resources"][0]["uid"]
        && ["internal", "external"].contains(&mode)
        && ["text", "file"].contains(&kind)
        && actor["email_addr"].is_string()
        && json["src_endpoint"]["ip"].is_string();
    if fits && complete {
        Vec::new()
    } else {
        vec![format!(
            "{name} does not carry the documented payload: {json}"
        )]
    }
}

/// Enterprise-managed authorization: user, client, audience, scopes with an outcome each,
/// token id (when granted), signing key, algorithm, lifetime, status detail on a denial.
fn managed_authorization_problems(json: &Json) -> Vec<String> {
    let details = &json["unmapped"];
    let scopes_ok = details["scopes"].as_array().is_some_and(|scopes| {
        !scopes.is_empty()
            && scopes.iter().all(|scope| {
                scope["scope"].is_string()
                    && ["granted", "denied"]
                        .contains(&scope["outcome"].as_str().unwrap_or_default())
            })
    });
    let granted = json["status_id"] == 1;
    let complete = scopes_ok
        && json["user"]["uid"].is_string()
        && json["actor"]["app_uid"] == details["client_id"]
        && json["service"]["uid"] == details["audience"]
        && details["signing_key_id"].is_string()
        && ["ES256", "RS256"].contains(&details["algorithm"].as_str().unwrap_or_default())
        && details["lifetime_secs"].is_i64()
        && json["activity_name"] == "token_exchange"
        && (details["token_id"].is_string() == granted)
        && (!granted || json["session"]["uid"] == details["token_id"]);
    if complete {
        Vec::new()
    } else {
        vec![format!(
            "managed authorization without the documented fields: {json}"
        )]
    }
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
    // The generator's mix (see its module documentation), and about 5 % failures.
    let expect = |name: &str, count: usize, aim: f64| {
        let share = mix.share(count);
        let (low, high) = (aim * 0.6, aim * 1.4 + 0.004);
        assert!(
            (low..=high).contains(&share),
            "{name}: {count} of {} events ({share:.3}) is outside {low:.3}..={high:.3}; mix: {mix:?}",
            mix.total
        );
    };
    for (kind, aim) in [
        ("api call", 0.70),
        ("token grant", 0.10),
        ("mcp", 0.08),
        ("secret sharing", 0.04),
        ("managed authorization", 0.03),
        ("ai tool call", 0.03),
        ("ai administration", 0.01),
        ("circuit breaker", 0.01),
    ] {
        expect(kind, mix.kinds.get(kind).copied().unwrap_or(0), aim);
    }
    expect("failures", mix.failures, 0.05);
    // Every documented activity occurs.
    for name in [
        "client_credentials",
        "token_exchange",
        "mcp_session_start",
        "mcp_tool_call",
        "mcp_session_end",
        "paper_secret_created",
        "paper_secret_opened",
        "paper_secret_opened_internal",
        "paper_secret_revoked",
        "paper_secret_revoked_admin",
        "paper_secret_magic_link_created",
        "paper_secret_access_denied",
        "paper_secret_file_downloaded",
        "ai_tool_call",
        "automation_circuit_breaker_tripped",
        "automation_circuit_breaker_resumed",
    ] {
        assert!(
            mix.activities.contains_key(name),
            "no {name}: {:?}",
            mix.activities
        );
    }
}

#[test]
fn untimed_circuit_breaker_events_lack_only_time() {
    let api_activity = validator("api_activity_1.3.0.schema.json");
    let mut generator = DemoEventGenerator::new(3).untimed_circuit_breaker_events(true);
    let mut untimed = 0;
    for index in 0..3_000 {
        let event = serde_json::to_value(generator.generate(time_of(index))).expect("JSON");
        let breaker = kind_of(&event) == "circuit breaker";
        assert_eq!(event.get("time").is_none(), breaker, "{event}");
        if breaker {
            untimed += 1;
            let errors: Vec<String> = api_activity
                .iter_errors(&event)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.len() == 1 && errors[0].contains("\"time\""),
                "only `time` is missing: {errors:?}"
            );
        }
    }
    assert!(untimed >= 10, "{untimed} circuit-breaker events");
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
