//! Running `[[tests]]`: the transforms are built from the configuration (fresh for every
//! test), the inputs are handed to their `insert_at` transforms, and every batch a transform
//! emits goes to the transforms that read that output (as `inputs` say, wildcards included),
//! until nothing is left to run. Sources and sinks are not involved.

use std::collections::{BTreeMap, VecDeque};

use vrl::value::{ObjectMap, Value};

use super::{TestInput, TestInputType, UnitTest};
use crate::component::{BuildError, SyncTransform, TransformContext};
use crate::config::graph::wildcard_match;
use crate::config::{Config, ConfigError, ConfigErrors};
use crate::event::{Batch, Event};
use crate::topology::build_error;
use crate::transforms::remap::RemapConfig;

/// At most this many transform runs per test (a guard against a cycle of transforms, which
/// `test` does not reject up front since a test file need not hold a whole graph).
const MAX_STEPS: usize = 100_000;

/// What one test found.
#[derive(Clone, Debug)]
pub struct TestOutcome {
    /// The test's name.
    pub name: String,
    /// Why it failed, one entry per failed check; empty when it passed.
    pub failures: Vec<String>,
}

/// A built transform and the names of its outputs, in port order.
#[derive(Clone)]
struct Node {
    transform: Box<dyn SyncTransform>,
    ports: Vec<String>,
}

/// Runs every test of `config`. Problems that stop a test from running at all (a transform
/// that does not build, an unknown `insert_at`, an input without its value) are configuration
/// errors.
pub fn run_tests(config: &Config) -> Result<Vec<TestOutcome>, ConfigErrors> {
    let nodes = build_nodes(config)?;
    let mut errors = Vec::new();
    for test in &config.tests {
        check_targets(test, &nodes, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let mut outcomes = Vec::new();
    for test in &config.tests {
        let inputs = input_events(test, config)?;
        let emitted = propagate(config, nodes.clone(), inputs);
        outcomes.push(TestOutcome {
            name: test.definition.name.clone(),
            failures: check(test, &emitted)?,
        });
    }
    Ok(outcomes)
}

fn build_nodes(config: &Config) -> Result<BTreeMap<String, Node>, ConfigErrors> {
    let cx = TransformContext {
        enrichment_tables: config.enrichment(),
    };
    let mut nodes = BTreeMap::new();
    let mut errors = Vec::new();
    for (id, transform) in &config.transforms {
        let component = transform.config.component();
        match component.build(&cx) {
            Ok(built) => {
                let outputs = component.outputs();
                let ports = outputs
                    .default
                    .then(|| id.clone())
                    .into_iter()
                    .chain(outputs.named.iter().map(|name| format!("{id}.{name}")))
                    .collect();
                nodes.insert(
                    id.clone(),
                    Node {
                        transform: built,
                        ports,
                    },
                );
            }
            Err(error) => errors.push(build_error("transforms", id, &transform.origin, error)),
        }
    }
    if errors.is_empty() {
        Ok(nodes)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// A test's problem at `field` (`inputs[0].insert_at`).
fn test_error(test: &UnitTest, field: &str, message: String, help: &str) -> ConfigError {
    ConfigError::new(message)
        .at(test.origin.field_location(field))
        .component(format!("tests `{}`", test.definition.name))
        .field(field.to_owned())
        .help(help.to_owned())
}

/// Every `insert_at` names a transform, every `extract_from` / `no_outputs_from` an output.
fn check_targets(test: &UnitTest, nodes: &BTreeMap<String, Node>, errors: &mut Vec<ConfigError>) {
    let transforms: Vec<&str> = nodes.keys().map(String::as_str).collect();
    for (field, input) in test.definition.all_inputs() {
        if !nodes.contains_key(&input.insert_at) {
            errors.push(test_error(
                test,
                &format!("{field}.insert_at"),
                format!("no transform `{}` to insert at", input.insert_at),
                &format!("name one of the transforms: {}", transforms.join(", ")),
            ));
        }
    }
    let ports: Vec<&str> = nodes
        .values()
        .flat_map(|node| node.ports.iter().map(String::as_str))
        .collect();
    let mut check = |field: String, name: &str| {
        if !ports.contains(&name) {
            errors.push(test_error(
                test,
                &field,
                format!("no transform output `{name}`"),
                &format!("name one of: {}", ports.join(", ")),
            ));
        }
    };
    for (i, output) in test.definition.outputs.iter().enumerate() {
        for name in output.extract_from.names() {
            check(format!("outputs[{i}].extract_from"), name);
        }
    }
    for (i, name) in test.definition.no_outputs_from.iter().enumerate() {
        check(format!("no_outputs_from[{i}]"), name);
    }
    if test.definition.input.is_none() && test.definition.inputs.is_empty() {
        errors.push(test_error(
            test,
            "inputs",
            "the test has no inputs".to_owned(),
            "add [[tests.inputs]] with `insert_at` and the event",
        ));
    }
}

/// The events of every input, by the transform they go to, in order.
fn input_events(test: &UnitTest, config: &Config) -> Result<Vec<(String, Event)>, ConfigErrors> {
    let mut events = Vec::new();
    for (field, input) in test.definition.all_inputs() {
        let event = input_event(test, &field, input, config)?;
        events.push((input.insert_at.clone(), event));
    }
    Ok(events)
}

fn input_event(
    test: &UnitTest,
    field: &str,
    input: &TestInput,
    config: &Config,
) -> Result<Event, ConfigErrors> {
    let missing = |option: &str, help: &str| {
        ConfigErrors::from(test_error(
            test,
            field,
            format!("a `{}` input needs `{option}`", kind_name(input.kind)),
            help,
        ))
    };
    match input.kind {
        TestInputType::Raw => {
            let message = input
                .value
                .as_ref()
                .ok_or_else(|| missing("value", "add `value = \"the message\"`"))?;
            let mut event = ObjectMap::new();
            event.insert("message".into(), Value::from(message.as_str()));
            event.insert("timestamp".into(), Value::Timestamp(chrono::Utc::now()));
            Ok(Event::new(Value::Object(event)))
        }
        TestInputType::Log => {
            let fields = input
                .log_fields
                .as_ref()
                .ok_or_else(|| missing("log_fields", "add `log_fields = { field = \"value\" }`"))?;
            let mut event = Value::Object(ObjectMap::new());
            for (path, value) in fields {
                match vrl::path::parse_value_path(path) {
                    Ok(parsed) => {
                        event.insert(&parsed, value.clone());
                    }
                    Err(_) => {
                        event.insert(vrl::path!(path.as_str()), value.clone());
                    }
                }
            }
            Ok(Event::new(event))
        }
        TestInputType::Vrl => {
            let source = input
                .source
                .as_ref()
                .ok_or_else(|| missing("source", "add `source = '. = { \"field\": 1 }'`"))?;
            vrl_input(test, &format!("{field}.source"), source, config)
        }
        TestInputType::Metric => Err(ConfigErrors::from(test_error(
            test,
            &format!("{field}.type"),
            "metric inputs are not supported: every event here is a log".to_owned(),
            "use `type = \"log\"` with `log_fields`, `raw` with `value`, or `vrl` with `source`",
        ))),
    }
}

fn kind_name(kind: TestInputType) -> &'static str {
    match kind {
        TestInputType::Raw => "raw",
        TestInputType::Log => "log",
        TestInputType::Vrl => "vrl",
        TestInputType::Metric => "metric",
    }
}

/// Runs a `vrl` input's program on an empty event (value and `%` metadata), through the
/// `remap` transform itself.
fn vrl_input(
    test: &UnitTest,
    field: &str,
    source: &str,
    config: &Config,
) -> Result<Event, ConfigErrors> {
    let remap = RemapConfig {
        source: Some(source.to_owned()),
        file: None,
        drop_on_error: true,
        drop_on_abort: true,
        reroute_dropped: true,
        // As the pipeline's own `remap` transforms: the global `timezone`, else local.
        timezone: config.globals.timezone.clone(),
        message_key: config.globals.log_schema.message_key.clone(),
    };
    let cx = TransformContext {
        enrichment_tables: config.enrichment(),
    };
    let at_field = |mut error: BuildError| {
        error.field = Some(field.to_owned());
        let mut error = build_error("tests", &test.definition.name, &test.origin, error);
        error.component = Some(format!("tests `{}`", test.definition.name));
        ConfigErrors::from(error)
    };
    let mut transform =
        crate::component::TransformComponent::build(&remap, &cx).map_err(at_field)?;
    let mut outputs = vec![Batch::new(), Batch::new()];
    transform.transform(
        vec![Event::new(Value::Object(ObjectMap::new()))],
        &mut outputs,
    );
    if let Some(event) = outputs[0].pop() {
        return Ok(event);
    }
    let reason = outputs[1]
        .pop()
        .and_then(|mut event| {
            let metadata = event.metadata.value_mut().clone();
            let message = metadata.get(vrl::path!("dropped", "message"))?.clone();
            message.to_str_lossy().map(|text| text.into_owned())
        })
        .unwrap_or_else(|| "it dropped the event".to_owned());
    Err(ConfigErrors::from(test_error(
        test,
        field,
        format!("the input program failed: {reason}"),
        "fix the program that builds the input event",
    )))
}

/// Runs the inputs through the transforms; every output's events, by output name.
fn propagate(
    config: &Config,
    mut nodes: BTreeMap<String, Node>,
    inputs: Vec<(String, Event)>,
) -> BTreeMap<String, Vec<Event>> {
    let mut queue: VecDeque<(String, Batch)> = VecDeque::new();
    for (target, event) in inputs {
        match queue.iter_mut().find(|(id, _)| *id == target) {
            Some((_, batch)) => batch.push(event),
            None => queue.push_back((target, vec![event])),
        }
    }
    let mut emitted: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    let mut steps = 0;
    while let Some((id, batch)) = queue.pop_front() {
        steps += 1;
        if steps > MAX_STEPS {
            break;
        }
        let Some(node) = nodes.get_mut(&id) else {
            continue;
        };
        let mut outputs: Vec<Batch> = node.ports.iter().map(|_| Batch::new()).collect();
        node.transform.transform(batch, &mut outputs);
        for (port, batch) in node.ports.clone().into_iter().zip(outputs) {
            if batch.is_empty() {
                continue;
            }
            for (consumer, transform) in &config.transforms {
                if transform
                    .inputs
                    .iter()
                    .any(|input| wildcard_match(input, &port))
                {
                    queue.push_back((consumer.clone(), batch.clone()));
                }
            }
            emitted.entry(port).or_default().extend(batch);
        }
    }
    emitted
}

/// The failures of a test's checks.
fn check(
    test: &UnitTest,
    emitted: &BTreeMap<String, Vec<Event>>,
) -> Result<Vec<String>, ConfigErrors> {
    let mut failures = Vec::new();
    for (i, output) in test.definition.outputs.iter().enumerate() {
        let names = output.extract_from.names();
        let events: Vec<&Event> = names
            .iter()
            .filter_map(|name| emitted.get(*name))
            .flatten()
            .collect();
        if events.is_empty() {
            failures.push(format!(
                "check for {} failed: no events received",
                quoted(&names)
            ));
            continue;
        }
        let mut problems = Vec::new();
        for (j, condition) in output.conditions.iter().enumerate() {
            let field = format!("outputs[{i}].conditions[{j}]");
            let mut built = condition
                .build(&field, &TransformContext::default())
                .map_err(|error| {
                    let mut error =
                        build_error("tests", &test.definition.name, &test.origin, error);
                    error.component = Some(format!("tests `{}`", test.definition.name));
                    ConfigErrors(vec![error])
                })?;
            if let Some(problem) = unmet(&mut built, &events) {
                problems.push(format!("  condition[{j}]: {problem}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "check for {} failed conditions:\n{}\nevents received (as JSON):\n{}",
                quoted(&names),
                problems.join("\n"),
                events_as_json(events.iter().copied())
            ));
        }
    }
    for name in &test.definition.no_outputs_from {
        if let Some(events) = emitted.get(name).filter(|events| !events.is_empty()) {
            failures.push(format!(
                "check for `{name}` failed: expected no events, received {}:\n{}",
                events.len(),
                events_as_json(events.iter())
            ));
        }
    }
    Ok(failures)
}

/// Why no event meets `condition` (the last event's error, or that it returned false); `None`
/// when one does.
fn unmet(condition: &mut crate::transforms::Condition, events: &[&Event]) -> Option<String> {
    let mut problem = String::from("no event matched");
    for event in events {
        let mut value = event.value.clone();
        let mut metadata = event.metadata.to_value();
        match condition.check(&mut value, &mut metadata) {
            Ok(true) => return None,
            Ok(false) => problem = "returned false for every event".to_owned(),
            Err(error) => problem = error.to_string(),
        }
    }
    Some(problem)
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `events` as JSON, one indented line each, for a failure message.
fn events_as_json<'a>(events: impl IntoIterator<Item = &'a crate::event::Event>) -> String {
    (events.into_iter())
        .map(|event| {
            format!(
                "  {}",
                serde_json::to_string(&event.value).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
