//! Configuration unit tests (`[[tests]]`), in Vector's format, run by `c1-pipeline test`:
//! events are inserted at a transform, flow through the real transform code (built from the
//! configuration, in process; no source or sink runs), and conditions are checked on what
//! chosen transforms emit.
//!
//! ```toml
//! [[tests]]
//! name = "reads are dropped"
//! [[tests.inputs]]
//! insert_at = "no_reads"
//! type = "log"
//! log_fields = { activity_id = 2 }
//! no_outputs_from = ["no_reads"]
//! ```
//!
//! `validate` and a normal run read `[[tests]]` (so its errors are reported) and ignore it.

mod run;

use std::collections::BTreeMap;

use serde::Deserialize;
use vrl::value::Value;

pub use run::{TestOutcome, run_tests};

use super::Origin;
use crate::transforms::ConditionConfig;

/// One `[[tests]]` entry, with where it was defined.
#[derive(Clone, Debug)]
pub struct UnitTest {
    /// Its options.
    pub definition: TestDefinition,
    /// Where it was defined (paths such as `inputs[0].insert_at`).
    pub origin: Origin,
}

/// `[[tests]]`: Vector's test definition.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestDefinition {
    /// The test's name, printed with its result. Required.
    pub name: String,
    /// Vector's older single-input form (`[tests.input]`), added to `inputs`.
    #[serde(default)]
    pub input: Option<TestInput>,
    /// The events to insert. Default: none.
    #[serde(default)]
    pub inputs: Vec<TestInput>,
    /// What must come out, and where. Default: none.
    #[serde(default)]
    pub outputs: Vec<TestOutput>,
    /// Transforms (or named outputs) that must emit nothing. Default: none.
    #[serde(default)]
    pub no_outputs_from: Vec<String>,
}

/// `[[tests.inputs]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestInput {
    /// The transform the event is given to. Required.
    pub insert_at: String,
    /// How the event is written: `raw` (default, as in Vector), `log` or `vrl`; `metric` is
    /// refused (every event here is a log).
    #[serde(rename = "type", default)]
    pub kind: TestInputType,
    /// `raw`: the `message` of the event (which also gets a `timestamp`, as in Vector).
    #[serde(default)]
    pub value: Option<String>,
    /// `log`: the event's fields; keys are paths (`app.name` makes `{"app": {"name": ..}}`).
    #[serde(default)]
    pub log_fields: Option<BTreeMap<String, Value>>,
    /// `vrl`: a program that builds the event from an empty one (`.`).
    #[serde(default)]
    pub source: Option<String>,
    /// `metric` inputs are not supported; accepted here only to explain that.
    #[serde(default)]
    pub metric: Option<toml::Value>,
}

/// `type` of a test input.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TestInputType {
    /// `value` becomes the `message`.
    #[default]
    Raw,
    /// `log_fields` are the event.
    Log,
    /// `source` builds the event.
    Vrl,
    /// Refused: every event here is a log.
    Metric,
}

/// `[[tests.outputs]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestOutput {
    /// The transform(s) or named output(s) (`route.errors`) whose events are checked.
    pub extract_from: OneOrMany,
    /// Conditions (VRL strings, or `{ type = "vrl", source = ... }`): each must hold for at
    /// least one of the events extracted, as in Vector. Default: none (any output passes).
    #[serde(default)]
    pub conditions: Vec<ConditionConfig>,
}

/// A string or a list of strings.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// `extract_from = "a"`.
    One(String),
    /// `extract_from = ["a", "b"]`.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The names, in order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Self::One(name) => vec![name.as_str()],
            Self::Many(names) => names.iter().map(String::as_str).collect(),
        }
    }
}

impl TestDefinition {
    /// `input` and `inputs` together.
    pub fn all_inputs(&self) -> impl Iterator<Item = (String, &TestInput)> {
        self.input
            .iter()
            .map(|input| ("input".to_owned(), input))
            .chain(
                self.inputs
                    .iter()
                    .enumerate()
                    .map(|(i, input)| (format!("inputs[{i}]"), input)),
            )
    }
}

impl super::Loader<'_> {
    /// Reads the `tests` array into `config`.
    pub(super) fn unit_tests(
        &self,
        config: &mut super::Config,
        value: toml::Spanned<toml::de::DeValue<'_>>,
        errors: &mut Vec<super::ConfigError>,
    ) {
        use toml::de::{DeValue, ValueDeserializer};
        let span = value.span();
        let DeValue::Array(items) = value.into_inner() else {
            errors.push(
                super::ConfigError::new("`tests` must be an array of tables")
                    .at(Some(self.location(span.start)))
                    .help("write each test as [[tests]] with a `name`"),
            );
            return;
        };
        for (index, item) in items.into_iter().enumerate() {
            let item_span = item.span();
            let mut entries = Vec::new();
            if let DeValue::Table(table) = item.get_ref() {
                super::collect_entries(table, "", &mut entries);
            }
            let origin = Origin {
                location: Some(self.location(item_span.start)),
                source: Some((
                    std::sync::Arc::clone(self.file),
                    std::sync::Arc::clone(&self.shared_text),
                )),
                value_offsets: entries
                    .iter()
                    .map(|e| (e.path.clone(), e.value.start))
                    .collect(),
            };
            let name = format!("tests[{index}]");
            match TestDefinition::deserialize(ValueDeserializer::from(item)) {
                Ok(definition) => config.tests.push(UnitTest { definition, origin }),
                Err(error) => {
                    let field = error.span().and_then(|at| super::field_at(&entries, &at));
                    errors.push(self.serde_error(&error, item_span, Some(&name), field));
                }
            }
        }
    }
}
