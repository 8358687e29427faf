//! What every component implements, and the context it runs in.
//!
//! A component's `…Config` (serde, `deny_unknown_fields`) implements one of
//! [`SourceComponent`], [`TransformComponent`] or [`SinkComponent`]. `build` checks the
//! configuration and returns the running part without starting any I/O, so
//! `c1-pipeline validate` can build every component and drop the result.

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::event::Batch;
use crate::metrics::ComponentMetrics;
use crate::topology::fanout::Fanout;

/// A running source or sink: resolves when the component has finished.
pub type ComponentTask = BoxFuture<'static, Result<(), ComponentError>>;

/// A health check (reachability, credentials) run by `validate` and at start-up.
pub type Healthcheck = BoxFuture<'static, Result<(), HealthcheckError>>;

/// A check that always passes, for components with nothing to reach.
pub fn healthy() -> Healthcheck {
    Box::pin(async { Ok(()) })
}

/// A configuration problem found while building a component.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct BuildError {
    /// The option at fault (for the file position in the message), when one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What would fix it.
    pub help: Option<String>,
    /// For errors inside a program held in a string option (VRL): the 1-based line and
    /// column in that program.
    pub position_in_value: Option<(usize, usize)>,
}

impl BuildError {
    /// A problem with option `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
            help: None,
            position_in_value: None,
        }
    }

    /// Adds a hint on how to fix the problem.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The same problem, for options nested in table `prefix` (`batch.max_bytes` checked by a
    /// shared option group becomes `protocol.batch.max_bytes`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = self.field.map(|field| format!("{prefix}.{field}"));
        self
    }
}

/// The largest number of seconds an option accepts (about 31 years): larger values would
/// overflow a `Duration`, and no timeout or interval needs them.
pub const MAX_SECONDS: f64 = 1e9;

/// A seconds-valued option (`timeout_secs`, `poll_interval_secs`, ...): finite, greater than
/// zero (or zero when `allow_zero`), and at most [`MAX_SECONDS`].
pub fn seconds(
    field: &str,
    value: f64,
    allow_zero: bool,
) -> Result<std::time::Duration, BuildError> {
    let above_floor = value > 0.0 || (allow_zero && value == 0.0);
    if value.is_finite() && above_floor && value <= MAX_SECONDS {
        Ok(std::time::Duration::from_secs_f64(value))
    } else {
        let floor = if allow_zero {
            "0 or more"
        } else {
            "greater than 0"
        };
        Err(BuildError::field(
            field,
            format!("must be a number of seconds {floor} and at most {MAX_SECONDS:e}, not {value}"),
        ))
    }
}

/// A whole-number option that must lie in `range`; `note` (may be empty) says why the bounds
/// are what they are, after them: "must be between 0 and 20 (SQS's longest wait), not 30".
pub fn in_range<T>(
    field: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
    note: &str,
) -> Result<T, BuildError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if range.contains(&value) {
        return Ok(value);
    }
    let note = if note.is_empty() {
        String::new()
    } else {
        format!(" ({note})")
    };
    Err(BuildError::field(
        field,
        format!(
            "must be between {} and {}{note}, not {value}",
            range.start(),
            range.end()
        ),
    ))
}

/// A component failed while running.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ComponentError(pub String);

/// A health check failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HealthcheckError(pub String);

/// Everything a source gets when it is built.
pub struct SourceContext {
    /// The component id (`c1` in `[sources.c1]`).
    pub id: Arc<str>,
    /// Where emitted batches go.
    pub out: Fanout,
    /// Cancelled when the pipeline shuts down; the source stops emitting and returns.
    pub shutdown: CancellationToken,
    /// The pipeline's `data_dir`, for checkpoints.
    pub data_dir: Option<PathBuf>,
    /// Whether every sink downstream acknowledges delivery (so waiting on acks is meaningful).
    pub acknowledgements: bool,
    /// Counters for this component.
    pub metrics: Arc<ComponentMetrics>,
    /// Every component's counters (what the `internal_metrics` source reads).
    pub registry: Arc<crate::metrics::MetricsRegistry>,
}

/// Everything a sink gets when it is built.
pub struct SinkContext {
    /// The component id.
    pub id: Arc<str>,
    /// Batches from every input, in arrival order, taken from the sink's buffer (counted in
    /// its `buffer_*` metrics). Closed when all inputs have finished. A sink run on its own
    /// takes any channel: `input: receiver.into()`.
    pub input: crate::topology::BufferReceiver,
    /// Whether the sink must finalize events only after delivery (`acknowledgements.enabled`).
    pub acknowledgements: bool,
    /// Counters for this component.
    pub metrics: Arc<ComponentMetrics>,
}

/// A source's configuration.
pub trait SourceComponent: Debug + Send + Sync {
    /// Checks the configuration and returns the source, not yet started.
    fn build(&self, cx: SourceContext) -> Result<ComponentTask, BuildError>;

    /// Reachability and credentials; `validate` runs it unless `--no-environment`.
    fn healthcheck(&self) -> Healthcheck {
        healthy()
    }

    /// Takes the global options its options default to (`timezone`, `proxy`, `log_schema`;
    /// [`crate::config::GlobalOptions`]), once, after the configuration is loaded and before
    /// it is built or checked. The default takes none.
    fn apply_globals(&mut self, _globals: &crate::config::GlobalOptions) {}
}

/// A sink's configuration.
pub trait SinkComponent: Debug + Send + Sync {
    /// Checks the configuration and returns the sink, not yet started.
    fn build(&self, cx: SinkContext) -> Result<ComponentTask, BuildError>;

    /// Reachability and credentials; `validate` runs it unless `--no-environment`.
    fn healthcheck(&self) -> Healthcheck {
        healthy()
    }

    /// The sink's own `acknowledgements.enabled`, if set (otherwise the global default applies).
    fn acknowledgements(&self) -> Option<bool> {
        None
    }

    /// Takes the global options its options default to (`timezone`, `proxy`, `log_schema`;
    /// [`crate::config::GlobalOptions`]), once, after the configuration is loaded and before
    /// it is built or checked. The default takes none.
    fn apply_globals(&mut self, _globals: &crate::config::GlobalOptions) {}
}

/// Everything a transform gets when it is built.
#[derive(Clone, Debug, Default)]
pub struct TransformContext {
    /// The configuration's enrichment tables, for VRL programs' lookups.
    pub enrichment_tables: crate::enrichment::EnrichmentTables,
}

/// A transform's configuration.
pub trait TransformComponent: Debug + Send + Sync {
    /// Compiles the transform (VRL errors surface here, at configuration time).
    fn build(&self, cx: &TransformContext) -> Result<Box<dyn SyncTransform>, BuildError>;

    /// Named outputs besides the default one, with whether a default output exists.
    fn outputs(&self) -> TransformOutputs;

    /// Takes the global options its options default to (`timezone`, `proxy`, `log_schema`;
    /// [`crate::config::GlobalOptions`]), once, after the configuration is loaded and before
    /// it is built or checked. The default takes none.
    fn apply_globals(&mut self, _globals: &crate::config::GlobalOptions) {}
}

/// The outputs a transform has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransformOutputs {
    /// Whether `<id>` itself is an output.
    pub default: bool,
    /// Named outputs `<id>.<name>`.
    pub named: Vec<String>,
    /// Named outputs that may go unconsumed: their events are then discarded as handled
    /// (route's `_unmatched`), instead of that being a configuration error.
    pub optional: Vec<String>,
}

/// A synchronous function over a batch, run on as many tasks as there are cores.
///
/// Output `0` is the default output when the transform has one; named outputs follow in the
/// order of [`TransformOutputs::named`].
///
/// A transform is `Clone`: each worker task gets an instance of its own (with its own VRL
/// runtime state); `Box<dyn SyncTransform>` clones through [`dyn_clone`].
pub trait SyncTransform: dyn_clone::DynClone + Send {
    /// Processes `batch`, appending results to `outputs[i]`. Events dropped on purpose must be
    /// finalized (usually as delivered); events that fail must be finalized as rejected.
    /// Returns how many events were dropped on purpose (`component_discarded_events_total`).
    fn transform(&mut self, batch: Batch, outputs: &mut [Batch]) -> usize;

    /// Hands the transform its component's counters, once, before any batch, for counters
    /// of its own (`ocsf_invalid_events_total`, ...). Workers cloned afterwards share them.
    /// The default ignores them.
    fn use_metrics(&mut self, _metrics: Arc<crate::metrics::ComponentMetrics>) {}
}

dyn_clone::clone_trait_object!(SyncTransform);

/// Declares a registry: the serde-tagged enum of every built-in component of one kind (the only
/// place a component is listed), its `type` names, and access to the variant's trait object.
/// Types a host registers at run time ([`crate::registry`], table `$table`) are the
/// `Registered` variant. A component written `... = "type" if feature "name"` exists only in
/// builds with that cargo feature; without it, its type is in `MISSING_FEATURES`, so a
/// configuration naming it is told which feature the build lacks.
macro_rules! component_registry {
    (
        $(#[$meta:meta])*
        $name:ident: $trait:path, registered in $table:path {
            $(
                $(#[$vmeta:meta])* $variant:ident($config:ty) = $type_name:literal
                $(if feature $feature:literal)?
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, serde::Deserialize)]
        #[serde(tag = "type")]
        // Configurations exist once per component: their size does not matter.
        #[allow(clippy::large_enum_variant)]
        pub enum $name {
            $(
                $(#[$vmeta])* $(#[cfg(feature = $feature)])?
                #[serde(rename = $type_name)] $variant($config),
            )+
            /// A type a host program registered ([`crate::registry`]), or a component it
            /// added in code.
            #[serde(skip)]
            Registered(crate::registry::Registered<dyn $trait>),
        }

        impl $name {
            /// Every built-in `type` name of this registry.
            pub const TYPES: &'static [&'static str] =
                &[$( $(#[cfg(feature = $feature)])? $type_name ),+];

            /// Built-in types this build lacks, with the cargo feature each needs.
            pub const MISSING_FEATURES: &'static [(&'static str, &'static str)] =
                &[$( $( #[cfg(not(feature = $feature))] ($type_name, $feature), )? )+];

            /// Every `type` name: the built-in ones, then those registered, sorted.
            pub fn type_names() -> Vec<&'static str> {
                let mut names = Self::TYPES.to_vec();
                names.extend($table.names());
                names
            }

            /// Deserializes the options of component type `type_name` (without the `type`
            /// key itself). Returns `None` for an unknown type.
            pub fn deserialize_type<'de, D: serde::Deserializer<'de>>(
                type_name: &str,
                deserializer: D,
            ) -> Option<Result<Self, D::Error>> {
                use serde::Deserialize as _;
                match type_name {
                    $(
                        $(#[cfg(feature = $feature)])?
                        $type_name => Some(<$config>::deserialize(deserializer).map(Self::$variant)),
                    )+
                    _ => Some($table.deserialize(type_name, deserializer)?.map(Self::Registered)),
                }
            }

            /// The component behind the variant.
            pub fn component(&self) -> &dyn $trait {
                match self {
                    $( $(#[cfg(feature = $feature)])? Self::$variant(config) => config, )+
                    Self::Registered(registered) => registered.component(),
                }
            }

            /// Applies the global options to the component's options (see the trait's
            /// `apply_globals`); a registered component shared elsewhere keeps its own.
            pub fn apply_globals(&mut self, globals: &crate::config::GlobalOptions) {
                match self {
                    $(
                        $(#[cfg(feature = $feature)])?
                        Self::$variant(config) => <$config as $trait>::apply_globals(config, globals),
                    )+
                    Self::Registered(registered) => {
                        if let Some(component) = registered.component_mut() {
                            component.apply_globals(globals);
                        }
                    }
                }
            }

            /// The `type` name of this component.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $( $(#[cfg(feature = $feature)])? Self::$variant(_) => $type_name, )+
                    Self::Registered(registered) => registered.type_name(),
                }
            }
        }
    };
}
pub(crate) use component_registry;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_options_are_finite_positive_and_fit_a_duration() {
        assert_eq!(
            seconds("t", 1.5, false),
            Ok(std::time::Duration::from_millis(1500))
        );
        assert_eq!(seconds("t", 0.0, true), Ok(std::time::Duration::ZERO));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e30] {
            let error = seconds("request.timeout_secs", bad, false).unwrap_err();
            assert_eq!(
                error.field.as_deref(),
                Some("request.timeout_secs"),
                "{bad}"
            );
        }
        assert!(
            seconds("t", -0.5, true)
                .unwrap_err()
                .message
                .contains("0 or more")
        );
    }
}
