//! Compiling and running VRL programs (shared by `remap`, `filter` and `route`).

use std::sync::Arc;

use vrl::compiler::runtime::{Runtime, Terminate};
use vrl::compiler::{
    CompileConfig, Program, SecretTarget, Target, TargetValueRef, TimeZone, TypeState,
};
use vrl::diagnostic::{DiagnosticList, Formatter};
use vrl::path::{OwnedSegment, OwnedTargetPath, PathPrefix};
use vrl::value::{KeyString, Secrets, Value};

use crate::component::{BuildError, TransformContext};

/// A compiled program, shared by every worker of a transform.
#[derive(Clone, Debug)]
pub(super) struct CompiledVrl {
    program: Arc<Program>,
    timezone: TimeZone,
}

/// Where the first error of a failed compilation is, in the program text (1-based).
fn first_error_position(source: &str, diagnostics: &DiagnosticList) -> Option<(usize, usize)> {
    let offset = diagnostics
        .errors()
        .first()
        .and_then(|d| d.labels.iter().find(|l| l.primary).or(d.labels.first()))
        .map(|label| label.span.start())?;
    let offset = offset.min(source.len());
    let before = source.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, column))
}

impl CompiledVrl {
    /// Compiles `source`; a failure names the program position and shows VRL's diagnostic.
    /// `field` is the option the program came from (for the error's file position).
    pub(super) fn compile(
        source: &str,
        field: &str,
        timezone: Option<&str>,
        cx: &TransformContext,
    ) -> Result<Self, BuildError> {
        let mut functions = vrl::stdlib::all();
        functions.extend(crate::transforms::ocsf::vrl_functions());
        functions.extend(crate::enrichment::functions::vrl_functions(
            &cx.enrichment_tables,
        ));
        let state = TypeState::default();
        let result =
            vrl::compiler::compile_with_state(source, &functions, &state, CompileConfig::default());
        let compiled = result.map_err(|diagnostics| {
            let position = first_error_position(source, &diagnostics);
            let at = position
                .map(|(line, column)| format!(" at line {line}, column {column} of the program"))
                .unwrap_or_default();
            let rendered = Formatter::new(source, diagnostics).to_string();
            let mut error =
                BuildError::field(field, format!("VRL compilation failed{at}:{rendered}"))
                    .help("fix the VRL program (https://playground.vrl.dev runs VRL too)");
            error.position_in_value = position;
            error
        })?;
        for warning in compiled.warnings.iter() {
            tracing::debug!(field, warning = %warning.message(), "VRL compiler warning");
        }
        let timezone = match timezone {
            None => TimeZone::default(),
            Some(name) => TimeZone::parse(name).ok_or_else(|| {
                BuildError::field("timezone", format!("unknown time zone `{name}`"))
                    .help("use `local` or an IANA name such as `UTC` or `Europe/Paris`")
            })?,
        };
        Ok(Self {
            program: Arc::new(compiled.program),
            timezone,
        })
    }

    /// The compiled program.
    pub(super) fn program(&self) -> &Program {
        &self.program
    }

    /// Whether the program may raise an error at run time.
    pub(super) fn fallible(&self) -> bool {
        self.program.info().fallible
    }

    /// Whether the program contains `abort`.
    pub(super) fn abortable(&self) -> bool {
        self.program.info().abortable
    }
}

/// Per-worker state for running a [`CompiledVrl`]: the reused runtime.
#[derive(Debug)]
pub(super) struct VrlRunner {
    compiled: CompiledVrl,
    runtime: Runtime,
    secrets: Secrets,
}

impl Clone for VrlRunner {
    fn clone(&self) -> Self {
        Self::new(self.compiled.clone())
    }
}

impl VrlRunner {
    /// A runner with a fresh runtime.
    pub(super) fn new(compiled: CompiledVrl) -> Self {
        Self {
            compiled,
            runtime: Runtime::default(),
            secrets: Secrets::default(),
        }
    }

    /// Runs the program against `value` (modified in place) and `metadata` (VRL's `%`).
    pub(super) fn run(
        &mut self,
        value: &mut Value,
        metadata: &mut Value,
    ) -> Result<Value, Terminate> {
        let mut target = TargetValueRef {
            value,
            metadata,
            secrets: &mut self.secrets,
        };
        let result =
            self.runtime
                .resolve(&mut target, &self.compiled.program, &self.compiled.timezone);
        self.runtime.clear();
        result
    }

    /// As [`run`](Self::run), recording in `undo` what the run changes so that
    /// [`UndoLog::restore`] can put the event back as it was.
    pub(super) fn run_undoable(
        &mut self,
        value: &mut Value,
        metadata: &mut Value,
        undo: &mut UndoLog,
    ) -> Result<Value, Terminate> {
        undo.clear();
        let mut target = UndoTarget {
            inner: TargetValueRef {
                value,
                metadata,
                secrets: &mut self.secrets,
            },
            undo,
        };
        let result =
            self.runtime
                .resolve(&mut target, &self.compiled.program, &self.compiled.timezone);
        self.runtime.clear();
        result
    }
}

/// The original values of what a VRL run changed, at top-level-field granularity.
///
/// Copying only what a run actually changes (instead of the whole event before every run,
/// as Vector does) makes `drop_on_error = false`, remap's default, nearly free: reads cost
/// nothing, and a new field costs nothing to undo.
#[derive(Debug, Default)]
pub(super) struct UndoLog {
    /// The whole event, when the run changed its root.
    whole: Option<Value>,
    /// Each changed top-level field as it was before its first change (`None`: absent).
    fields: Vec<(KeyString, Option<Value>)>,
    /// The `%` metadata, when the run changed it.
    metadata: Option<Value>,
}

impl UndoLog {
    fn clear(&mut self) {
        self.whole = None;
        self.fields.clear();
        self.metadata = None;
    }

    /// Puts `value` and `metadata` back as they were before the run.
    pub(super) fn restore(&mut self, value: &mut Value, metadata: &mut Value) {
        if let Some(original) = self.metadata.take() {
            *metadata = original;
        }
        if let Some(original) = self.whole.take() {
            *value = original;
        } else if let Value::Object(object) = value {
            for (field, original) in self.fields.drain(..) {
                match original {
                    Some(original) => {
                        object.insert(field, original);
                    }
                    None => {
                        object.remove(&field);
                    }
                }
            }
        }
        self.clear();
    }

    /// Records the state of what `path` is about to change.
    fn before_change(&mut self, target: &TargetValueRef<'_>, path: &OwnedTargetPath) {
        match path.prefix {
            PathPrefix::Metadata => {
                if self.metadata.is_none() {
                    self.metadata = Some(target.metadata.clone());
                }
            }
            PathPrefix::Event => {
                if self.whole.is_some() {
                    return;
                }
                match (path.path.segments.first(), &*target.value) {
                    (Some(OwnedSegment::Field(field)), Value::Object(object)) => {
                        if !self.fields.iter().any(|(known, _)| known == field) {
                            self.fields
                                .push((field.clone(), object.get(field).cloned()));
                        }
                    }
                    // The root itself, or an event that is not an object.
                    _ => self.whole = Some(target.value.clone()),
                }
            }
        }
    }
}

/// A VRL target that records changes in an [`UndoLog`] before making them.
#[derive(Debug)]
struct UndoTarget<'a> {
    inner: TargetValueRef<'a>,
    undo: &'a mut UndoLog,
}

impl Target for UndoTarget<'_> {
    fn target_insert(&mut self, path: &OwnedTargetPath, value: Value) -> Result<(), String> {
        self.undo.before_change(&self.inner, path);
        self.inner.target_insert(path, value)
    }

    fn target_get(&self, path: &OwnedTargetPath) -> Result<Option<&Value>, String> {
        self.inner.target_get(path)
    }

    fn target_get_mut(&mut self, path: &OwnedTargetPath) -> Result<Option<&mut Value>, String> {
        self.undo.before_change(&self.inner, path);
        self.inner.target_get_mut(path)
    }

    fn target_remove(
        &mut self,
        path: &OwnedTargetPath,
        compact: bool,
    ) -> Result<Option<Value>, String> {
        self.undo.before_change(&self.inner, path);
        self.inner.target_remove(path, compact)
    }
}

impl SecretTarget for UndoTarget<'_> {
    fn get_secret(&self, key: &str) -> Option<&str> {
        self.inner.get_secret(key)
    }

    fn insert_secret(&mut self, key: &str, value: &str) {
        self.inner.insert_secret(key, value);
    }

    fn remove_secret(&mut self, key: &str) {
        self.inner.remove_secret(key);
    }
}

/// A condition as Vector accepts it: a VRL string, or `{ type = "vrl", source = "..." }`,
/// or `{ type = "is_log" }` (`is_metric`, `is_trace`).
#[derive(Clone, Debug)]
pub enum ConditionConfig {
    /// `condition = '.activity_id != 2'`
    Vrl(String),
    /// `condition = { type = "vrl", source = '.activity_id != 2' }`
    Typed(TypedCondition),
}

/// The table form of a condition.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedCondition {
    /// `vrl`, or one of Vector's event-type checks: `is_log` (every event here is a log, so
    /// it always matches), `is_metric` and `is_trace` (never match).
    #[serde(rename = "type")]
    pub kind: String,
    /// The VRL expression (`vrl` only, where it is required).
    #[serde(default)]
    pub source: Option<String>,
}

impl<'de> serde::Deserialize<'de> for ConditionConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ConditionVisitor;

        impl<'de> serde::de::Visitor<'de> for ConditionVisitor {
            type Value = ConditionConfig;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a VRL condition such as '.status_id == 2', or a table { type = \"vrl\", source = \"...\" }")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<ConditionConfig, E> {
                Ok(ConditionConfig::Vrl(value.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ConditionConfig, A::Error> {
                serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ConditionConfig::Typed)
            }
        }

        deserializer.deserialize_any(ConditionVisitor)
    }
}

impl ConditionConfig {
    /// Compiles the condition, which must evaluate to a boolean.
    pub fn build(&self, field: &str, cx: &TransformContext) -> Result<Condition, BuildError> {
        let (source, field) = match self {
            Self::Vrl(source) => (source, field.to_owned()),
            Self::Typed(typed) => match (typed.kind.as_str(), &typed.source) {
                // Point errors at the program itself, not at the table's opening brace.
                ("vrl", Some(source)) => (source, format!("{field}.source")),
                ("vrl", None) => {
                    return Err(BuildError::field(field, "missing required option `source`")
                        .help("add `source = '.field == \"value\"'`"));
                }
                (kind @ ("is_log" | "is_metric" | "is_trace"), None) => {
                    return Ok(Condition {
                        test: Test::Constant(kind == "is_log"),
                    });
                }
                (kind @ ("is_log" | "is_metric" | "is_trace"), Some(_)) => {
                    return Err(BuildError::field(
                        format!("{field}.source"),
                        format!("a `{kind}` condition takes no `source`"),
                    )
                    .help("remove `source`, or use `type = \"vrl\"`"));
                }
                (other, _) => {
                    return Err(BuildError::field(
                        field,
                        format!("unsupported condition type `{other}`"),
                    )
                    .help(
                        "use `vrl` (or a VRL string: `condition = '.field == \"value\"'`), \
                         `is_log`, `is_metric` or `is_trace`",
                    ));
                }
            },
        };
        let field = field.as_str();
        let compiled = CompiledVrl::compile(source, field, None, cx)?;
        let kind = compiled.program().final_type_info().result.kind().clone();
        if !kind.is_boolean() {
            return Err(BuildError::field(
                field,
                format!("the condition must return a boolean, but it returns {kind}"),
            )
            .help("compare values (`.status_id == 2`) or coerce with `to_bool`"));
        }
        Ok(Condition {
            test: Test::Vrl(VrlRunner::new(compiled)),
        })
    }
}

/// A compiled boolean condition with its own runtime.
#[derive(Clone, Debug)]
pub struct Condition {
    test: Test,
}

#[derive(Clone, Debug)]
enum Test {
    Vrl(VrlRunner),
    /// `is_log` (true: every event here is a log), `is_metric`, `is_trace` (false).
    Constant(bool),
}

impl Condition {
    /// Whether the event matches. A run-time error counts as "no match" (as in Vector) and is
    /// returned so the caller can count it.
    pub fn check(&mut self, value: &mut Value, metadata: &mut Value) -> Result<bool, Terminate> {
        let runner = match &mut self.test {
            Test::Vrl(runner) => runner,
            Test::Constant(matched) => return Ok(*matched),
        };
        match runner.run(value, metadata)? {
            Value::Boolean(matched) => Ok(matched),
            _ => Ok(false),
        }
    }
}
