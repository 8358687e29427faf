//! Observability plumbing shared by the topology and the components: the per-component
//! tracing span (every log line a component writes carries its id, kind and type).

/// A component's kind, as Vector names it in logs and metric labels (`component_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComponentKind {
    /// `[sources.<id>]`
    Source,
    /// `[transforms.<id>]`
    Transform,
    /// `[sinks.<id>]`
    Sink,
}

impl ComponentKind {
    /// `source`, `transform` or `sink`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Transform => "transform",
            Self::Sink => "sink",
        }
    }

    /// The kind whose table is `name` (`sources`, `transforms`, `sinks`).
    pub fn from_table(name: &str) -> Option<Self> {
        match name {
            "sources" => Some(Self::Source),
            "transforms" => Some(Self::Transform),
            "sinks" => Some(Self::Sink),
            _ => None,
        }
    }

    /// The configuration table of this kind: `sources`, `transforms` or `sinks`.
    pub fn table(self) -> &'static str {
        match self {
            Self::Source => "sources",
            Self::Transform => "transforms",
            Self::Sink => "sinks",
        }
    }
}

/// The span the topology enters around everything component `id` runs: its build, its task
/// and every task it spawns (`Instrument::in_current_span`). Its fields `component_id`,
/// `component_kind` and `component_type` appear on every log line written inside it, in the
/// text and the JSON log formats.
///
/// At `ERROR` level, as Vector's: a span below the log filter's level would be disabled and
/// the warnings written inside it would lose their component.
pub(crate) fn component_span(kind: ComponentKind, id: &str, type_name: &str) -> tracing::Span {
    tracing::error_span!(
        "component",
        component_id = %id,
        component_kind = %kind.as_str(),
        component_type = %type_name
    )
}

pub mod api;
pub(crate) mod http;
pub(crate) mod prometheus;
pub mod top;

/// Whether the topology runs, for `GET /health`.
#[derive(Debug, Default)]
pub struct RunState(std::sync::atomic::AtomicU8);

/// The phases of a run ([`RunState`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Building, health checks, or between two topologies during a reload.
    Starting,
    /// Every component runs.
    Running,
    /// Sources stopped; events in flight drain.
    Stopping,
}

impl RunState {
    /// Records the current phase.
    pub fn set(&self, phase: Phase) {
        let value = match phase {
            Phase::Starting => 0,
            Phase::Running => 1,
            Phase::Stopping => 2,
        };
        self.0.store(value, std::sync::atomic::Ordering::Relaxed);
    }

    /// The current phase.
    pub fn get(&self) -> Phase {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            1 => Phase::Running,
            2 => Phase::Stopping,
            _ => Phase::Starting,
        }
    }
}
