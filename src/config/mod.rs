//! Loading, checking and merging configuration files (TOML, YAML, JSON).
//!
//! A file is parsed once into a span-carrying tree (TOML's own, which `yaml` also builds
//! from YAML and JSON files); `${VAR}` references are substituted
//! inside string values on that tree ([`env`]); then each component table is deserialized
//! into its own `…Config`, so every error can name the file, line and column, the component
//! and the field. [`graph`] checks how components connect.

mod enrichment;
mod env;
pub mod error;
pub(crate) mod globals;
pub mod graph;
mod secret;
pub mod unit_test;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

pub use enrichment::EnrichmentTableOuter;
pub use error::{ConfigError, ConfigErrors, LineIndex, Location};
pub use globals::{GlobalOptions, LogSchema};

pub use crate::options::buffer::{BufferConfig, BufferType, WhenFull};
use crate::options::default_true;
use crate::secrets::backends::BackendConfig;
use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;
use crate::transforms::TransformConfig;

/// Where a component was defined, for error messages.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The component's table header (or first key).
    pub location: Option<Location>,
    /// The file and its text; positions are computed from them only when an error needs one.
    source: Option<(Arc<Path>, Arc<str>)>,
    /// Byte offset of each option's value in the file text, by path: top-level keys of the
    /// table (`encoding`), nested keys (`encoding.codec`, `route.errors`) and array items
    /// (`inputs[1]`).
    value_offsets: BTreeMap<String, usize>,
}

/// Shows where, never the file's text: it holds secrets (tokens, client secrets) after
/// variable substitution.
impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin")
            .field("location", &self.location)
            .field("file", &self.source.as_ref().map(|(file, _)| file))
            .finish_non_exhaustive()
    }
}

impl Origin {
    /// The position of `field` (a path such as `encoding.codec` or `inputs[1]`), falling back
    /// to its closest enclosing option, then to the component's own position.
    pub fn field_location(&self, field: &str) -> Option<Location> {
        let mut path = field;
        loop {
            if let (Some(offset), Some((file, text))) = (self.value_offsets.get(path), &self.source)
            {
                return Some(Location::from_offset(file, text, *offset));
            }
            match path.rfind(['.', '[']) {
                Some(end) => path = &path[..end],
                None => return self.location.clone(),
            }
        }
    }

    /// The file position of `line`:`column` (1-based) inside the string value of `field`
    /// (for example a VRL error inside `source = '''...'''`). Escapes in basic strings
    /// (`\"`, `\t`, `\n`, `\u00e9`, a line-ending backslash) are followed, so the position is
    /// exact for every kind of TOML string (and YAML's quoted strings); YAML's literal blocks
    /// (`|`) and plain scalars are handled by `yaml::position_in_unquoted`.
    pub fn position_in_value(&self, field: &str, line: usize, column: usize) -> Option<Location> {
        let (file, text) = self.source.as_ref()?;
        let start = *self.value_offsets.get(field)?;
        let rest = text.get(start..)?;
        let Some((closing, basic)) = ["'''", "\"\"\"", "'", "\""]
            .into_iter()
            .find(|delimiter| rest.starts_with(delimiter))
            .map(|delimiter| (delimiter, delimiter.starts_with('"')))
        else {
            let offset = yaml::position_in_unquoted(text, start, line, column)?;
            return Some(Location::from_offset(file, text, offset));
        };
        let multi_line = closing.len() == 3;
        let mut offset = start + closing.len();
        if multi_line {
            // TOML drops a newline right after the opening delimiter.
            let after = &text[offset..];
            offset += if after.starts_with("\r\n") {
                2
            } else {
                usize::from(after.starts_with('\n'))
            };
        }
        // Walk the raw text, counting the characters of the string's value.
        let (mut at_line, mut at_column) = (1, 1);
        while (at_line, at_column) < (line, column) {
            let raw = &text[offset..];
            if raw.starts_with(closing) {
                break;
            }
            let mut chars = raw.chars();
            let first = chars.next()?;
            let (produced, raw_len) = match (basic, first, chars.next()) {
                (true, '\\', Some('u')) => (Some('?'), 6),
                (true, '\\', Some('U')) => (Some('?'), 10),
                (true, '\\', Some('x')) => (Some('?'), 4),
                (true, '\\', Some('n')) => (Some('\n'), 2),
                (true, '\\', Some(next)) if multi_line && next.is_whitespace() => {
                    // Line-ending backslash: the newline and the whitespace after it vanish.
                    let after = &raw[1..];
                    (None, 1 + after.len() - after.trim_start().len())
                }
                (true, '\\', Some(_)) => (Some('?'), 2),
                _ => (Some(first), first.len_utf8()),
            };
            if produced == Some('\n') && at_line == line {
                break; // the column is past the end of the line
            }
            offset += raw_len;
            match produced {
                Some('\n') => (at_line, at_column) = (at_line + 1, 1),
                Some(_) => at_column += 1,
                None => {}
            }
        }
        Some(Location::from_offset(file, text, offset.min(text.len())))
    }
}

/// The three kinds of component, each configured in a top-level table of its own (the one
/// type the metrics and logs label with, too).
pub use crate::observability::ComponentKind;

/// What loading a configuration needs to know of each kind.
impl ComponentKind {
    /// The `type` names of the kind's registry (built-in and registered).
    fn types(self) -> Vec<&'static str> {
        match self {
            Self::Source => SourceConfig::type_names(),
            Self::Transform => TransformConfig::type_names(),
            Self::Sink => SinkConfig::type_names(),
        }
    }

    /// The cargo feature a built-in `type_name` needs, when this build lacks it.
    fn missing_feature(self, type_name: &str) -> Option<&'static str> {
        let missing = match self {
            Self::Source => SourceConfig::MISSING_FEATURES,
            Self::Transform => TransformConfig::MISSING_FEATURES,
            Self::Sink => SinkConfig::MISSING_FEATURES,
        };
        missing
            .iter()
            .find(|(name, _)| *name == type_name)
            .map(|(_, feature)| *feature)
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
    /// `buffer.*`: the queue in front of it (Vector's outer option, taken by every sink).
    pub buffer: BufferConfig,
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

/// The format of a configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// TOML (`.toml`, and any file whose extension names no other format, as in Vector).
    Toml,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file's extension names, if any.
    pub fn from_extension(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Self::Toml),
            "yaml" | "yml" => Some(Self::Yaml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The format of `path`: by extension, TOML when the extension names none.
    pub fn from_path(path: &Path) -> Self {
        Self::from_extension(path).unwrap_or(Self::Toml)
    }
}

/// One configuration file to load, with its format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    /// Where it is.
    pub path: PathBuf,
    /// How to read it.
    pub format: Format,
}

impl ConfigFile {
    /// `path`, in the format its extension names (`--config`).
    pub fn detect(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let format = Format::from_path(&path);
        Self { path, format }
    }

    /// Every file of `dir` whose extension names a format (`.toml`, `.yaml`, `.yml`,
    /// `.json`), in name order, as Vector's `--config-dir` reads a folder (other files, and
    /// subfolders, are skipped).
    pub fn in_dir(dir: &Path) -> Result<Vec<Self>, ConfigErrors> {
        let unreadable = |error: std::io::Error| {
            ConfigErrors::from(
                ConfigError::new(format!("cannot read directory {}: {error}", dir.display()))
                    .help("check the path given to --config-dir"),
            )
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            if path.is_file()
                && let Some(format) = Format::from_extension(&path)
            {
                files.push(Self { path, format });
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }
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
    /// `[api]`: `/health` and per-component totals over HTTP.
    pub api: crate::observability::api::ApiConfig,
    /// `timezone`, `proxy` and `log_schema`: defaults of component options, applied to them
    /// once every file is loaded.
    pub globals: GlobalOptions,
    /// Secret backends by id (`[secret.<id>]`), whose values `SECRET[<id>.<key>]` stands for.
    pub secret: BTreeMap<String, BackendConfig>,
    /// Enrichment tables by id (`[enrichment_tables.<id>]`), loaded.
    pub enrichment_tables: BTreeMap<String, EnrichmentTableOuter>,
    /// Sources by id.
    pub sources: BTreeMap<String, SourceOuter>,
    /// Transforms by id.
    pub transforms: BTreeMap<String, TransformOuter>,
    /// Sinks by id.
    pub sinks: BTreeMap<String, SinkOuter>,
    /// `[[tests]]`, run by `c1-pipeline test`; ignored otherwise.
    pub tests: Vec<unit_test::UnitTest>,
}

/// Top-level keys a file may have.
const TOP_LEVEL_KEYS: &[&str] = &[
    "data_dir",
    "acknowledgements",
    "healthchecks",
    "api",
    "secret",
    "sources",
    "transforms",
    "sinks",
    "enrichment_tables",
    "tests",
    "timezone",
    "proxy",
    "log_schema",
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
        Self::load_with_graph(paths, lookup).map(|(config, _)| config)
    }

    /// As [`load_with_env`](Self::load_with_env), also returning the resolved graph (what a
    /// run needs), so the graph is checked once.
    pub fn load_with_graph(
        paths: &[PathBuf],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Self, graph::Graph), ConfigErrors> {
        let files: Vec<ConfigFile> = paths.iter().map(ConfigFile::detect).collect();
        Self::load_files(&files, lookup)
    }

    /// Loads and merges `files`, each in its own format, and checks the graph.
    pub fn load_files(
        files: &[ConfigFile],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Self, graph::Graph), ConfigErrors> {
        let config = Self::load_files_unchecked(files, lookup)?;
        let graph = graph::check(&config)?;
        Ok((config, graph))
    }

    /// Loads and merges `files` without checking the graph (what `test` needs: a file of
    /// transforms and `[[tests]]` names inputs it does not define).
    pub fn load_files_unchecked(
        files: &[ConfigFile],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let mut config = Config::default();
        let mut errors = Vec::new();
        // Every file is read first: a `SECRET[...]` may name a backend of another file.
        let texts: Vec<_> = files
            .iter()
            .map(|file| (file, std::fs::read_to_string(&file.path)))
            .collect();
        let mut backends = BTreeMap::new();
        for (file, text) in &texts {
            if let Ok(text) = text
                && let Ok(root) = parse_tree(text, file.format)
            {
                backends.extend(secret::backends_of(root.get_ref()));
            }
        }
        for (ConfigFile { path, format }, text) in &texts {
            let text = match text {
                Ok(text) => text,
                Err(error) => {
                    errors.push(
                        ConfigError::new(format!("cannot read {}: {error}", path.display()))
                            .help("check the path given to --config"),
                    );
                    continue;
                }
            };
            match Self::from_text_with(text, path, *format, lookup, &backends) {
                Ok(part) => config.merge(part, &mut errors),
                Err(ConfigErrors(mut more)) => errors.append(&mut more),
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        config.apply_globals();
        Ok(config)
    }

    /// Applies the global options to the component options they are defaults of (once, after
    /// every file is merged: a global may be set in another file than the component).
    fn apply_globals(&mut self) {
        let globals = &self.globals;
        for source in self.sources.values_mut() {
            source.config.apply_globals(globals);
        }
        for transform in self.transforms.values_mut() {
            transform.config.apply_globals(globals);
        }
        for sink in self.sinks.values_mut() {
            sink.config.apply_globals(globals);
        }
    }

    /// Parses one TOML file's text (`path` is used for positions in messages). Does not
    /// check the graph: several files may be merged first.
    pub fn from_toml(
        text: &str,
        path: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        Self::from_text(text, path, Format::Toml, lookup)
    }

    /// Parses one file's text in `format`; as [`from_toml`](Self::from_toml). The file's
    /// global options are applied to its components.
    pub fn from_text(
        text: &str,
        path: &Path,
        format: Format,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let mut config = Self::from_text_with(text, path, format, lookup, &BTreeMap::new())?;
        config.apply_globals();
        Ok(config)
    }

    /// As [`from_text`](Self::from_text), `SECRET[...]` also drawing on `shared` backends
    /// (those of the other files loaded with it).
    fn from_text_with(
        text: &str,
        path: &Path,
        format: Format,
        lookup: &dyn Fn(&str) -> Option<String>,
        shared: &BTreeMap<String, BackendConfig>,
    ) -> Result<Self, ConfigErrors> {
        let file: Arc<Path> = Arc::from(path);
        let mut loader = Loader {
            file: &file,
            text,
            shared_text: Arc::from(text),
            lines: LineIndex::new(text),
            skip: BTreeSet::new(),
        };
        let mut root = parse_tree(text, format).map_err(|error| {
            ConfigError::new(error.message).at(Some(loader.location(error.offset)))
        })?;
        let mut errors = Vec::new();
        loader.interpolate_table(root.get_mut(), "", lookup, &mut errors);
        // After the variables (a backend's `command` or `path` may use them), so that a
        // secret's value is inserted as it is, never read for `$`.
        let mut backends = shared.clone();
        backends.extend(secret::backends_of(root.get_ref()));
        loader.resolve_secrets(root.get_mut(), &backends, &mut errors);
        // A value whose variable could not be substituted still holds `${...}`: checking it
        // would only add a misleading second error, so skip what it belongs to.
        loader.skip = errors
            .iter()
            .filter_map(|e| {
                e.component.clone().or_else(|| {
                    let field = e.field.as_deref()?;
                    Some(field.split(['.', '[']).next().unwrap_or(field).to_owned())
                })
            })
            .collect();
        let mut config = Config::default();
        for (key, value) in std::mem::take(root.get_mut()) {
            loader.top_level(&mut config, key, value, &mut errors);
        }
        // Tables come out sorted by key; report in the order of the file.
        errors.sort_by_key(|e| {
            e.location
                .as_ref()
                .map_or((usize::MAX, usize::MAX), |l| (l.line, l.column))
        });
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
        if other.api != crate::observability::api::ApiConfig::default() {
            self.api = other.api;
        }
        if let Err(error) = self.globals.merge(other.globals) {
            errors.push(
                ConfigError::new(error.message)
                    .field(error.option)
                    .help(error.help),
            );
        }
        self.secret.extend(other.secret);
        self.tests.extend(other.tests);
        merge_components(
            &mut self.enrichment_tables,
            other.enrichment_tables,
            "enrichment_tables",
            |o| &o.origin,
            errors,
        );
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

    /// Every component's name as its metrics know it: `sources.<id>`, `transforms.<id>`,
    /// `sinks.<id>`.
    pub fn component_names(&self) -> std::collections::BTreeSet<String> {
        let named = |table: &str, ids: Vec<&String>| {
            ids.into_iter()
                .map(|id| format!("{table}.{id}"))
                .collect::<Vec<_>>()
        };
        (named("sources", self.sources.keys().collect()).into_iter())
            .chain(named("transforms", self.transforms.keys().collect()))
            .chain(named("sinks", self.sinks.keys().collect()))
            .collect()
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

/// Parses a file's text into the span tree, whatever its format.
fn parse_tree(text: &str, format: Format) -> Result<Spanned<DeTable<'_>>, yaml::SyntaxError> {
    match format {
        Format::Toml => DeTable::parse(text).map_err(|error| yaml::SyntaxError {
            message: format!("invalid TOML: {}", error.message()),
            offset: error.span().map_or(0, |span| span.start),
        }),
        Format::Yaml => yaml::parse_yaml(text),
        Format::Json => yaml::parse_json(text),
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
    /// Where its lines start: every component's position is looked up (linear, not
    /// quadratic, in the number of components).
    lines: LineIndex,
    /// Top-level keys and components (`sinks.out`) not to check: they hold a variable that
    /// could not be substituted, already reported.
    skip: BTreeSet<String>,
}

impl Loader<'_> {
    fn location(&self, offset: usize) -> Location {
        self.lines.location(self.file, self.text, offset)
    }

    /// Replaces every `SECRET[backend.key]` of the file with its value, asking each backend
    /// once; a failure is an error at the first reference it concerns.
    fn resolve_secrets(
        &self,
        root: &mut DeTable<'_>,
        backends: &BTreeMap<String, BackendConfig>,
        errors: &mut Vec<ConfigError>,
    ) {
        let mut references = secret::References::new();
        secret::collect(root, "", &mut references);
        if references.is_empty() {
            return;
        }
        let keys = secret::keys_by_backend(&references);
        match crate::secrets::backends::fetch(backends, &keys) {
            Ok(values) => secret::replace(root, "", &values),
            Err(failures) => {
                for failure in failures {
                    let (backend, key) = failure.reference();
                    let at = references
                        .iter()
                        .find(|((b, k), _)| b == backend && key.is_none_or(|key| key == k))
                        .map(|(_, span)| self.location(span.start));
                    let help = match failure {
                        crate::secrets::backends::SecretError::UnknownBackend { .. } => format!(
                            "define it: [secret.{backend}] with `type` exec, file or directory"
                        ),
                        _ => format!("check the `[secret.{backend}]` backend and its store"),
                    };
                    errors.push(ConfigError::new(failure.to_string()).at(at).help(help));
                }
            }
        }
    }

    fn interpolate_table(
        &self,
        table: &mut DeTable<'_>,
        path: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
        errors: &mut Vec<ConfigError>,
    ) {
        let programs = vrl_program_keys(path, table);
        for (key, value) in table.iter_mut() {
            if programs.contains(&key.get_ref().as_ref()) {
                continue;
            }
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
                Err(error) => {
                    let mut result = ConfigError::new(error.to_string())
                        .at(Some(self.location(span.start)))
                        .help(error.help());
                    // `sinks.out.encoding.codec` → component `sinks.out`, field `encoding.codec`.
                    let mut parts = path.splitn(3, '.');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(kind @ ("sources" | "transforms" | "sinks")), Some(id), rest) => {
                            result = result.component(format!("{kind}.{id}"));
                            if let Some(field) = rest {
                                result = result.field(field);
                            }
                        }
                        _ => result = result.field(path.to_owned()),
                    }
                    errors.push(result);
                }
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
        if self.skip.contains(key.get_ref().as_ref()) {
            return;
        }
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
            "api" => {
                if let Some(parsed) = self.deserialize_global(value, "api", errors) {
                    config.api = parsed;
                }
            }
            "timezone" | "proxy" | "log_schema" => self.global_default(config, key, value, errors),
            "secret" => {
                if let Some(parsed) = self.deserialize_global(value, "secret", errors) {
                    config.secret = parsed;
                }
            }
            "enrichment_tables" => self.enrichment_tables(config, value, errors),
            "tests" => self.unit_tests(config, value, errors),
            table if ComponentKind::from_table(table).is_some() => {
                let kind = ComponentKind::from_table(table).expect("checked");
                let span = value.span();
                let DeValue::Table(components) = value.into_inner() else {
                    errors.push(
                        ConfigError::new(format!(
                            "`{}` must be a table of components",
                            kind.table()
                        ))
                        .at(Some(self.location(span.start)))
                        .help(format!("write [{}.my_id] with a `type` key", kind.table())),
                    );
                    return;
                };
                for (id, body) in components {
                    self.component(config, kind, id, body, errors);
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

    /// `timezone`, `proxy` or `log_schema`, checked.
    fn global_default(
        &self,
        config: &mut Config,
        key: Spanned<std::borrow::Cow<'_, str>>,
        value: Spanned<DeValue<'_>>,
        errors: &mut Vec<ConfigError>,
    ) {
        let at = Some(self.location(value.span().start));
        // Checked alone, so an earlier bad global is not reported again.
        let mut globals = GlobalOptions::default();
        match key.get_ref().as_ref() {
            "timezone" => {
                match value.get_ref().as_str() {
                    Some(zone) => globals.timezone = Some(zone.to_owned()),
                    None => {
                        errors.push(
                        ConfigError::new(format!(
                            "expected a time zone name, found {}",
                            value.get_ref().type_str()
                        ))
                        .field("timezone")
                        .at(at)
                        .help("timezone = \"local\" (or a TZ database name such as \"Europe/Paris\")"),
                    );
                        return;
                    }
                }
            }
            "proxy" => match self.deserialize_global(value, "proxy", errors) {
                Some(parsed) => globals.proxy = parsed,
                None => return,
            },
            _ => match self.deserialize_global(value, "log_schema", errors) {
                Some(parsed) => globals.log_schema = parsed,
                None => return,
            },
        }
        if let Err(error) = globals.check() {
            errors.push(
                ConfigError::new(error.message)
                    .field(error.option)
                    .at(at)
                    .help(error.help),
            );
            return;
        }
        if let Err(error) = config.globals.merge(globals) {
            errors.push(ConfigError::new(error.message).field(error.option).at(at));
        }
    }

    fn deserialize_global<T: for<'de> Deserialize<'de>>(
        &self,
        value: Spanned<DeValue<'_>>,
        name: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let fallback = value.span();
        let mut entries = Vec::new();
        collect_value(&value, name.to_owned(), fallback.clone(), &mut entries);
        T::deserialize(ValueDeserializer::from(value))
            .map_err(|error| {
                let field = error.span().and_then(|span| field_at(&entries, &span));
                errors.push(self.serde_error(&error, fallback, None, field.or(Some(name))));
            })
            .ok()
    }

    fn component(
        &self,
        config: &mut Config,
        kind: ComponentKind,
        id: Spanned<std::borrow::Cow<'_, str>>,
        body: Spanned<DeValue<'_>>,
        errors: &mut Vec<ConfigError>,
    ) {
        let name = format!("{}.{}", kind.table(), id.get_ref());
        if self.skip.contains(&name) {
            return;
        }
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
        let mut entries = Vec::new();
        collect_entries(&table, "", &mut entries);
        let origin = Origin {
            location: Some(id_location.clone()),
            source: Some((Arc::clone(self.file), Arc::clone(&self.shared_text))),
            value_offsets: entries
                .iter()
                .map(|e| (e.path.clone(), e.value.start))
                .collect(),
        };
        let Some(type_name) = self.take_type(&mut table, &name, &id_location, kind, errors) else {
            return;
        };
        let inputs = if kind == ComponentKind::Source {
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
        let buffer = match table.remove("buffer") {
            Some(value) if kind == ComponentKind::Sink => {
                let Some(buffer) = self.take_buffer(value, &name, errors) else {
                    return;
                };
                buffer
            }
            // Anywhere else it is an unknown field, reported as such.
            Some(value) => {
                table.insert(Spanned::new(value.span(), "buffer".into()), value);
                BufferConfig::default()
            }
            None => BufferConfig::default(),
        };
        let deserializer =
            ValueDeserializer::from(Spanned::new(body_span.clone(), DeValue::Table(table)));
        let id = id.get_ref().to_string();
        let sink_id = id.clone();
        let fail = |error: toml::de::Error| {
            let field = error.span().and_then(|span| field_at(&entries, &span));
            self.serde_error(&error, body_span.clone(), Some(&name), field)
        };
        match insert_component(config, kind, id, &type_name, inputs, origin, deserializer) {
            Some(Ok(())) => {
                if let Some(sink) = config.sinks.get_mut(&sink_id)
                    && kind == ComponentKind::Sink
                {
                    sink.buffer = buffer;
                }
            }
            Some(Err(error)) => errors.push(fail(error)),
            None => errors
                .push(ConfigError::new(format!("unknown type `{type_name}`")).component(&name)),
        }
    }

    /// Checks a sink's `buffer` table; `None` (reported) when it is invalid or refused.
    fn take_buffer(
        &self,
        value: Spanned<DeValue<'_>>,
        name: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<BufferConfig> {
        let span = value.span();
        let mut entries = Vec::new();
        collect_value(&value, "buffer".to_owned(), span.clone(), &mut entries);
        let type_at = value
            .get_ref()
            .get("type")
            .map_or(span.start, |kind| kind.span().start);
        let buffer = BufferConfig::deserialize(ValueDeserializer::from(value))
            .map_err(|error| {
                let field = error.span().and_then(|at| field_at(&entries, &at));
                let field = field.unwrap_or("buffer");
                errors.push(self.serde_error(&error, span.clone(), Some(name), Some(field)));
            })
            .ok()?;
        match buffer.channel() {
            Ok(_) => Some(buffer),
            Err((message, help)) => {
                errors.push(
                    ConfigError::new(message)
                        .at(Some(self.location(type_at)))
                        .component(name)
                        .field("buffer")
                        .help(help),
                );
                None
            }
        }
    }

    /// Removes and checks the `type` key.
    fn take_type(
        &self,
        table: &mut DeTable<'_>,
        name: &str,
        id_location: &Location,
        kind: ComponentKind,
        errors: &mut Vec<ConfigError>,
    ) -> Option<String> {
        let types = kind.types();
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
        if let Some(feature) = kind.missing_feature(type_name)
            && !types.contains(&type_name)
        {
            errors.push(
                ConfigError::new(format!(
                    "component type `{type_name}` is not in this build: it needs the cargo feature `{feature}`"
                ))
                .at(location)
                .component(name)
                .field("type")
                .help(format!(
                    "use a c1-pipeline built with the `{feature}` feature (on by default; `cargo build --features {feature}`)"
                )),
            );
            return None;
        }
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
        // serde names a missing field only in the message: add it to the path.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name);
        match (field, missing) {
            (Some(field), Some(missing)) => result = result.field(join_path(field, missing)),
            (None, Some(missing)) => result = result.field(missing),
            (Some(field), None) => result = result.field(field),
            (None, None) => {}
        }
        if let Some(missing) = missing {
            result = result.help(format!("add the required option `{missing}`"));
        } else if let Some(help) = suggestion_for(&message) {
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

/// One option of a component table, at any depth.
struct Entry {
    /// `encoding.codec`, `inputs[1]`.
    path: String,
    /// Where its key is (for an array item, its value).
    key: Range<usize>,
    /// Where its value is. For a table made implicitly by a dotted key (`encoding.codec = ..`)
    /// this is the key itself; for a `[a.b]` table, its header.
    value: Range<usize>,
}

/// Every key (recursively, through tables and arrays) of a component table.
fn collect_entries(table: &DeTable<'_>, prefix: &str, entries: &mut Vec<Entry>) {
    for (key, value) in table.iter() {
        let path = join_path(prefix, key.get_ref());
        collect_value(value, path, key.span(), entries);
    }
}

fn collect_value(
    value: &Spanned<DeValue<'_>>,
    path: String,
    key: Range<usize>,
    entries: &mut Vec<Entry>,
) {
    match value.get_ref() {
        DeValue::Table(table) => collect_entries(table, &path, entries),
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_value(item, format!("{path}[{index}]"), item.span(), entries);
            }
        }
        _ => {}
    }
    entries.push(Entry {
        path,
        key,
        value: value.span(),
    });
}

/// The option a deserialization error at `span` is about: the key it points at (unknown
/// fields), else the innermost value containing it.
fn field_at<'e>(entries: &'e [Entry], span: &Range<usize>) -> Option<&'e str> {
    let contains = |range: &Range<usize>| range.start <= span.start && span.end <= range.end;
    entries
        .iter()
        .find(|e| e.key == *span)
        .or_else(|| {
            entries
                .iter()
                .filter(|e| contains(&e.value))
                .min_by_key(|e| e.value.len())
        })
        .map(|e| e.path.as_str())
}

/// The options of the component table at `path` that hold VRL programs, which are never
/// substituted: `$NAME` in a program is VRL text (a regex anchor, a price), and a program
/// reads the environment with `get_env_var!` (Vector does the same since 0.57).
fn vrl_program_keys(path: &str, table: &DeTable<'_>) -> &'static [&'static str] {
    let Some(id) = path.strip_prefix("transforms.") else {
        return &[];
    };
    if id.contains('.') {
        return &[];
    }
    let kind = table.get("type").and_then(|value| match value.get_ref() {
        DeValue::String(kind) => Some(kind.as_ref()),
        _ => None,
    });
    match kind {
        Some("remap") => &["source"],
        Some("filter") => &["condition"],
        Some("route") => &["route"],
        _ => &[],
    }
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

/// Deserializes a component of `type_name` into `config`; `None` when the kind's registry has
/// no such type.
fn insert_component<'de>(
    config: &mut Config,
    kind: ComponentKind,
    id: String,
    type_name: &str,
    inputs: Vec<String>,
    origin: Origin,
    deserializer: ValueDeserializer<'de>,
) -> Option<Result<(), toml::de::Error>> {
    // A table key occurs once in a TOML file, so no component is replaced here (files are
    // merged later, with their own duplicate check).
    let inserted = match kind {
        ComponentKind::Source => SourceConfig::deserialize_type(type_name, deserializer)?
            .map(|parsed| SourceOuter {
                config: parsed,
                origin,
            })
            .map(|outer| drop(config.sources.insert(id, outer))),
        ComponentKind::Transform => TransformConfig::deserialize_type(type_name, deserializer)?
            .map(|parsed| TransformOuter {
                inputs,
                config: parsed,
                origin,
            })
            .map(|outer| drop(config.transforms.insert(id, outer))),
        ComponentKind::Sink => SinkConfig::deserialize_type(type_name, deserializer)?
            .map(|parsed| SinkOuter {
                inputs,
                config: parsed,
                buffer: BufferConfig::default(),
                origin,
            })
            .map(|outer| drop(config.sinks.insert(id, outer))),
    };
    Some(inserted)
}
