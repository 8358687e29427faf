//! Loading, checking and merging TOML configuration files.
//!
//! A file is parsed once into a span-carrying tree; `${VAR}` references are substituted
//! inside string values on that tree ([`env`]); then each component table is deserialized
//! into its own `…Config`, so every error can name the file, line and column, the component
//! and the field. [`graph`] checks how components connect.

pub mod env;
pub mod error;
pub mod graph;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

pub use error::{ConfigError, ConfigErrors, Location};

use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;
use crate::transforms::TransformConfig;

/// Where a component was defined, for error messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The component's table header (or first key).
    pub location: Option<Location>,
    /// Position of each option's value, by option name (top-level keys of the table).
    pub fields: BTreeMap<String, Location>,
    /// The file and its text, to locate positions inside string values.
    source: Option<(Arc<Path>, Arc<str>)>,
    /// Byte offset of each option's value in the file text.
    value_offsets: BTreeMap<String, usize>,
}

impl Origin {
    /// The position of `field`, falling back to the component's own position.
    pub fn field_location(&self, field: &str) -> Option<Location> {
        let top = field.split('.').next().unwrap_or(field);
        self.fields.get(top).or(self.location.as_ref()).cloned()
    }

    /// The file position of `line`:`column` (1-based) inside the string value of `field`
    /// (for example a VRL error inside `source = '''...'''`). Exact for literal strings;
    /// for strings with escapes it is the best estimate.
    pub fn position_in_value(&self, field: &str, line: usize, column: usize) -> Option<Location> {
        let (file, text) = self.source.as_ref()?;
        let start = *self.value_offsets.get(field)?;
        let rest = text.get(start..)?;
        let (delimiter, multi_line) = if rest.starts_with("'''") || rest.starts_with("\"\"\"") {
            (3, true)
        } else if rest.starts_with(['\'', '"']) {
            (1, false)
        } else {
            return None;
        };
        let mut offset = start + delimiter;
        if multi_line {
            // TOML drops a newline right after the opening delimiter.
            let after = &text[offset..];
            offset += if after.starts_with("\r\n") {
                2
            } else {
                usize::from(after.starts_with('\n'))
            };
        }
        for _ in 1..line {
            offset += text[offset..].find('\n')? + 1;
        }
        let line_text = &text[offset..];
        offset += line_text
            .chars()
            .take(column.saturating_sub(1))
            .map(char::len_utf8)
            .sum::<usize>();
        Some(Location::from_offset(file, text, offset))
    }
}

/// A source as configured.
#[derive(Clone, Debug)]
pub struct SourceOuter {
    /// Its options.
    pub config: SourceConfig,
    /// Where it was defined.
    pub origin: Origin,
}

/// A transform as configured.
#[derive(Clone, Debug)]
pub struct TransformOuter {
    /// Components or named outputs it reads from (may contain `*` wildcards).
    pub inputs: Vec<String>,
    /// Its options.
    pub config: TransformConfig,
    /// Where it was defined.
    pub origin: Origin,
}

/// A sink as configured.
#[derive(Clone, Debug)]
pub struct SinkOuter {
    /// Components or named outputs it reads from (may contain `*` wildcards).
    pub inputs: Vec<String>,
    /// Its options.
    pub config: SinkConfig,
    /// Where it was defined.
    pub origin: Origin,
}

/// Global `acknowledgements` (the default for sinks that do not set their own).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgementsConfig {
    /// Whether sinks finalize events only after the destination has them (so checkpointing
    /// sources wait for them). With it off a sink finalizes on receipt. Default: `true` —
    /// unlike Vector (`false`), because delivering every event is this tool's purpose.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Global `healthchecks` options (Vector's names).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HealthchecksConfig {
    /// Run component health checks at start-up. Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Refuse to start when a health check fails. Default `false` (log and go on).
    #[serde(default)]
    pub require_healthy: bool,
}

impl Default for HealthchecksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            require_healthy: false,
        }
    }
}

fn default_true() -> bool {
    true
}

/// A whole pipeline configuration (possibly merged from several files).
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Directory for checkpoints and other durable state. No default: sources that keep
    /// state refuse to start without it.
    pub data_dir: Option<PathBuf>,
    /// Global acknowledgement default for sinks.
    pub acknowledgements: AcknowledgementsConfig,
    /// Global health-check options.
    pub healthchecks: HealthchecksConfig,
    /// Sources by id.
    pub sources: BTreeMap<String, SourceOuter>,
    /// Transforms by id.
    pub transforms: BTreeMap<String, TransformOuter>,
    /// Sinks by id.
    pub sinks: BTreeMap<String, SinkOuter>,
}

/// Top-level keys a file may have.
const TOP_LEVEL_KEYS: &[&str] = &[
    "data_dir",
    "acknowledgements",
    "healthchecks",
    "sources",
    "transforms",
    "sinks",
];

impl Config {
    /// Loads and merges `paths`, substituting variables from the process environment, and
    /// checks the graph.
    pub fn load(paths: &[PathBuf]) -> Result<Self, ConfigErrors> {
        Self::load_with_env(paths, &|name| std::env::var(name).ok())
    }

    /// As [`load`](Self::load) with a custom variable lookup.
    pub fn load_with_env(
        paths: &[PathBuf],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let mut config = Config::default();
        let mut errors = Vec::new();
        for path in paths {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(error) => {
                    errors.push(
                        ConfigError::new(format!("cannot read {}: {error}", path.display()))
                            .help("check the path given to --config"),
                    );
                    continue;
                }
            };
            match Self::from_toml(&text, path, lookup) {
                Ok(part) => config.merge(part, &mut errors),
                Err(ConfigErrors(mut more)) => errors.append(&mut more),
            }
        }
        if errors.is_empty() {
            errors.extend(graph::check(&config).err().map(|e| e.0).unwrap_or_default());
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Parses one file's text (`path` is used for positions in messages). Does not check the
    /// graph: several files may be merged first.
    pub fn from_toml(
        text: &str,
        path: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let file: Arc<Path> = Arc::from(path);
        let loader = Loader {
            file: &file,
            text,
            shared_text: Arc::from(text),
        };
        let mut root = DeTable::parse(text).map_err(|error| {
            ConfigError::new(format!("invalid TOML: {}", error.message()))
                .at(error.span().map(|span| loader.location(span.start)))
        })?;
        let mut errors = Vec::new();
        loader.interpolate_table(root.get_mut(), "", lookup, &mut errors);
        let mut config = Config::default();
        for (key, value) in std::mem::take(root.get_mut()) {
            loader.top_level(&mut config, key, value, &mut errors);
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Adds `other`'s components; duplicates are errors.
    pub fn merge(&mut self, other: Config, errors: &mut Vec<ConfigError>) {
        if let Some(dir) = other.data_dir {
            match &self.data_dir {
                Some(existing) if *existing != dir => errors.push(
                    ConfigError::new(format!(
                        "`data_dir` is set twice, to {} and {}",
                        existing.display(),
                        dir.display()
                    ))
                    .help("set data_dir in one file only"),
                ),
                _ => self.data_dir = Some(dir),
            }
        }
        if other.acknowledgements.enabled.is_some() {
            self.acknowledgements = other.acknowledgements;
        }
        if other.healthchecks != HealthchecksConfig::default() {
            self.healthchecks = other.healthchecks;
        }
        merge_components(
            &mut self.sources,
            other.sources,
            "sources",
            |o| &o.origin,
            errors,
        );
        merge_components(
            &mut self.transforms,
            other.transforms,
            "transforms",
            |o| &o.origin,
            errors,
        );
        merge_components(&mut self.sinks, other.sinks, "sinks", |o| &o.origin, errors);
    }

    /// Whether sink `id` finalizes only after delivery.
    pub fn sink_acknowledges(&self, sink: &SinkOuter) -> bool {
        sink.config
            .component()
            .acknowledgements()
            .or(self.acknowledgements.enabled)
            .unwrap_or(true)
    }
}

fn merge_components<T>(
    into: &mut BTreeMap<String, T>,
    from: BTreeMap<String, T>,
    kind: &str,
    origin: impl Fn(&T) -> &Origin,
    errors: &mut Vec<ConfigError>,
) {
    for (id, component) in from {
        if let Some(existing) = into.get(&id) {
            let first = origin(existing)
                .location
                .as_ref()
                .map_or_else(String::new, |l| format!(" (first defined at {l})"));
            errors.push(
                ConfigError::new(format!("`{kind}.{id}` is defined twice{first}"))
                    .at(origin(&component).location.clone())
                    .help("give each component a unique id across all config files"),
            );
        } else {
            into.insert(id, component);
        }
    }
}

/// Turns one file's span tree into components.
struct Loader<'a> {
    file: &'a Arc<Path>,
    text: &'a str,
    /// The same text, shared with every component's [`Origin`].
    shared_text: Arc<str>,
}

impl Loader<'_> {
    fn location(&self, offset: usize) -> Location {
        Location::from_offset(self.file, self.text, offset)
    }

    fn interpolate_table(
        &self,
        table: &mut DeTable<'_>,
        path: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
        errors: &mut Vec<ConfigError>,
    ) {
        for (key, value) in table.iter_mut() {
            let child = join_path(path, key.get_ref());
            self.interpolate_value(value, &child, lookup, errors);
        }
    }

    fn interpolate_value(
        &self,
        value: &mut Spanned<DeValue<'_>>,
        path: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
        errors: &mut Vec<ConfigError>,
    ) {
        let span = value.span();
        match value.get_mut() {
            DeValue::String(text) => match env::interpolate(text, lookup) {
                Ok(std::borrow::Cow::Borrowed(_)) => {}
                Ok(std::borrow::Cow::Owned(replaced)) => *text = replaced.into(),
                Err(error) => errors.push(
                    ConfigError::new(error.to_string())
                        .at(Some(self.location(span.start)))
                        .field(path.to_owned())
                        .help(error.help()),
                ),
            },
            DeValue::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    self.interpolate_value(item, &format!("{path}[{index}]"), lookup, errors);
                }
            }
            DeValue::Table(table) => self.interpolate_table(table, path, lookup, errors),
            _ => {}
        }
    }

    fn top_level(
        &self,
        config: &mut Config,
        key: Spanned<std::borrow::Cow<'_, str>>,
        value: Spanned<DeValue<'_>>,
        errors: &mut Vec<ConfigError>,
    ) {
        let key_location = Some(self.location(key.span().start));
        match key.get_ref().as_ref() {
            "data_dir" => match value.get_ref().as_str() {
                Some(dir) => config.data_dir = Some(PathBuf::from(dir)),
                None => errors.push(
                    ConfigError::new(format!(
                        "expected a string path, found {}",
                        value.get_ref().type_str()
                    ))
                    .field("data_dir")
                    .at(Some(self.location(value.span().start)))
                    .help("data_dir = \"/var/lib/c1-pipeline\""),
                ),
            },
            "acknowledgements" => {
                if let Some(parsed) = self.deserialize_global(value, "acknowledgements", errors) {
                    config.acknowledgements = parsed;
                }
            }
            "healthchecks" => {
                if let Some(parsed) = self.deserialize_global(value, "healthchecks", errors) {
                    config.healthchecks = parsed;
                }
            }
            kind @ ("sources" | "transforms" | "sinks") => {
                let kind = kind.to_owned();
                let span = value.span();
                let DeValue::Table(components) = value.into_inner() else {
                    errors.push(
                        ConfigError::new(format!("`{kind}` must be a table of components"))
                            .at(Some(self.location(span.start)))
                            .help(format!("write [{kind}.my_id] with a `type` key")),
                    );
                    return;
                };
                for (id, body) in components {
                    self.component(config, &kind, id, body, errors);
                }
            }
            other => {
                let mut error = ConfigError::new(format!("unknown top-level option `{other}`"))
                    .at(key_location);
                error = match error::did_you_mean(other, TOP_LEVEL_KEYS.iter().copied()) {
                    Some(suggestion) => error.help(format!("did you mean `{suggestion}`?")),
                    None => error.help(format!(
                        "top-level options are: {}",
                        TOP_LEVEL_KEYS.join(", ")
                    )),
                };
                errors.push(error);
            }
        }
    }

    fn deserialize_global<T: for<'de> Deserialize<'de>>(
        &self,
        value: Spanned<DeValue<'_>>,
        name: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let fallback = value.span();
        T::deserialize(ValueDeserializer::from(value))
            .map_err(|error| errors.push(self.serde_error(&error, fallback, None, Some(name))))
            .ok()
    }

    fn component(
        &self,
        config: &mut Config,
        kind: &str,
        id: Spanned<std::borrow::Cow<'_, str>>,
        body: Spanned<DeValue<'_>>,
        errors: &mut Vec<ConfigError>,
    ) {
        let name = format!("{kind}.{}", id.get_ref());
        let id_location = self.location(id.span().start);
        if let Err(problem) = check_component_id(id.get_ref()) {
            errors.push(
                ConfigError::new(problem)
                    .at(Some(id_location.clone()))
                    .component(&name)
                    .help("ids may contain letters, digits, `_` and `-`"),
            );
            return;
        }
        let body_span = body.span();
        let DeValue::Table(mut table) = body.into_inner() else {
            errors.push(
                ConfigError::new("a component must be a table")
                    .at(Some(self.location(body_span.start)))
                    .component(&name)
                    .help(format!("write [{name}] followed by `type = \"...\"`")),
            );
            return;
        };
        let origin = Origin {
            location: Some(id_location.clone()),
            fields: table
                .iter()
                .map(|(k, v)| (k.get_ref().to_string(), self.location(v.span().start)))
                .collect(),
            source: Some((Arc::clone(self.file), Arc::clone(&self.shared_text))),
            value_offsets: table
                .iter()
                .map(|(k, v)| (k.get_ref().to_string(), v.span().start))
                .collect(),
        };
        let types: &[&str] = match kind {
            "sources" => SourceConfig::TYPES,
            "transforms" => TransformConfig::TYPES,
            _ => SinkConfig::TYPES,
        };
        let Some(type_name) = self.take_type(&mut table, &name, &id_location, types, errors) else {
            return;
        };
        let inputs = if kind == "sources" {
            if let Some(inputs) = table.remove("inputs") {
                errors.push(
                    ConfigError::new("sources have no `inputs`")
                        .at(Some(self.location(inputs.span().start)))
                        .component(&name)
                        .field("inputs")
                        .help("remove `inputs`; list this source in the `inputs` of a transform or sink"),
                );
                return;
            }
            Vec::new()
        } else {
            match self.take_inputs(&mut table, &name, &id_location, errors) {
                Some(inputs) => inputs,
                None => return,
            }
        };
        let field_spans: Vec<(String, Range<usize>)> = table
            .iter()
            .map(|(k, v)| (k.get_ref().to_string(), k.span().start..v.span().end))
            .collect();
        let deserializer =
            ValueDeserializer::from(Spanned::new(body_span.clone(), DeValue::Table(table)));
        let id = id.get_ref().to_string();
        let fail = |error: toml::de::Error| {
            let field = error.span().and_then(|span| {
                field_spans
                    .iter()
                    .find(|(_, range)| range.start <= span.start && span.end <= range.end)
                    .map(|(field, _)| field.as_str())
            });
            self.serde_error(&error, body_span.clone(), Some(&name), field)
        };
        let unknown = || ConfigError::new(format!("unknown type `{type_name}`")).component(&name);
        match kind {
            "sources" => match SourceConfig::deserialize_type(&type_name, deserializer) {
                Some(Ok(parsed)) => {
                    config.sources.insert(
                        id,
                        SourceOuter {
                            config: parsed,
                            origin,
                        },
                    );
                }
                Some(Err(error)) => errors.push(fail(error)),
                None => errors.push(unknown()),
            },
            "transforms" => match TransformConfig::deserialize_type(&type_name, deserializer) {
                Some(Ok(parsed)) => {
                    config.transforms.insert(
                        id,
                        TransformOuter {
                            inputs,
                            config: parsed,
                            origin,
                        },
                    );
                }
                Some(Err(error)) => errors.push(fail(error)),
                None => errors.push(unknown()),
            },
            _ => match SinkConfig::deserialize_type(&type_name, deserializer) {
                Some(Ok(parsed)) => {
                    config.sinks.insert(
                        id,
                        SinkOuter {
                            inputs,
                            config: parsed,
                            origin,
                        },
                    );
                }
                Some(Err(error)) => errors.push(fail(error)),
                None => errors.push(unknown()),
            },
        }
    }

    /// Removes and checks the `type` key.
    fn take_type(
        &self,
        table: &mut DeTable<'_>,
        name: &str,
        id_location: &Location,
        types: &[&str],
        errors: &mut Vec<ConfigError>,
    ) -> Option<String> {
        let Some(value) = table.remove("type") else {
            errors.push(
                ConfigError::new("missing required option `type`")
                    .at(Some(id_location.clone()))
                    .component(name)
                    .help(format!(
                        "add `type = \"...\"`; one of: {}",
                        types.join(", ")
                    )),
            );
            return None;
        };
        let location = Some(self.location(value.span().start));
        let Some(type_name) = value.get_ref().as_str() else {
            errors.push(
                ConfigError::new(format!(
                    "`type` must be a string, found {}",
                    value.get_ref().type_str()
                ))
                .at(location)
                .component(name)
                .field("type"),
            );
            return None;
        };
        if !types.contains(&type_name) {
            let help = match error::did_you_mean(type_name, types.iter().copied()) {
                Some(suggestion) => format!(
                    "did you mean `{suggestion}`? Known types: {}",
                    types.join(", ")
                ),
                None => format!("known types: {}", types.join(", ")),
            };
            errors.push(
                ConfigError::new(format!("unknown component type `{type_name}`"))
                    .at(location)
                    .component(name)
                    .field("type")
                    .help(help),
            );
            return None;
        }
        Some(type_name.to_owned())
    }

    /// Removes and checks the `inputs` key of a transform or sink.
    fn take_inputs(
        &self,
        table: &mut DeTable<'_>,
        name: &str,
        id_location: &Location,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Vec<String>> {
        let Some(value) = table.remove("inputs") else {
            errors.push(
                ConfigError::new("missing required option `inputs`")
                    .at(Some(id_location.clone()))
                    .component(name)
                    .help(
                        "add `inputs = [\"source_id\"]` naming the components this one reads from",
                    ),
            );
            return None;
        };
        let span = value.span();
        let parsed = Vec::<String>::deserialize(ValueDeserializer::from(value));
        match parsed {
            Ok(inputs) => Some(inputs),
            Err(error) => {
                let mut error = self.serde_error(&error, span, Some(name), Some("inputs"));
                error.help = Some(
                    "inputs is a list of component ids, e.g. inputs = [\"c1\", \"route.errors\"]"
                        .into(),
                );
                errors.push(error);
                None
            }
        }
    }

    /// A deserialization error with its position and, for unknown names, a suggestion.
    fn serde_error(
        &self,
        error: &toml::de::Error,
        fallback: Range<usize>,
        component: Option<&str>,
        field: Option<&str>,
    ) -> ConfigError {
        let span = error.span().unwrap_or(fallback);
        let message = error.message().trim().to_owned();
        let mut result = ConfigError::new(message.clone()).at(Some(self.location(span.start)));
        if let Some(component) = component {
            result = result.component(component);
        }
        if let Some(field) = field {
            result = result.field(field);
        }
        if let Some(help) = suggestion_for(&message) {
            result = result.help(help);
        }
        result
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (and unknown variant) messages:
/// the closest expected name.
fn suggestion_for(message: &str) -> Option<String> {
    let (kind, rest) = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|prefix| message.split_once(prefix).map(|(_, rest)| (*prefix, rest)))?;
    let (given, expected) = rest.split_once('`')?;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    if candidates.is_empty() {
        return Some(if kind.contains("field") {
            format!("remove `{given}`: this component takes no options of that name")
        } else {
            format!("`{given}` is not a valid value here")
        });
    }
    Some(
        match error::did_you_mean(given, candidates.iter().copied()) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => format!("expected one of: {}", candidates.join(", ")),
        },
    )
}

fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Component ids become metric labels and output names: keep them simple.
fn check_component_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("component id is empty".into());
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!("component id `{id}` contains `{bad}`"));
    }
    Ok(())
}
