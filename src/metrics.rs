//! Internal counters per component, named and labelled as Vector names them.
//!
//! Each component holds its counters ([`ComponentMetrics`], plain atomics: no lookup, no
//! lock on the hot path, updated once per batch). [`MetricsRegistry::samples`] reads them all
//! as [`MetricSample`]s — Vector's names (`component_received_events_total`, ...) with the
//! labels `component_id`, `component_kind` and `component_type` — for the `[api]`, the
//! `internal_metrics` source and the shutdown summary ([`MetricsRegistry::snapshot`]).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::observability::ComponentKind;

/// Counters of one component.
#[derive(Debug, Default)]
pub struct ComponentMetrics {
    /// `component_received_events_total`
    pub received_events: AtomicU64,
    /// `component_sent_events_total`
    pub sent_events: AtomicU64,
    /// `component_discarded_events_total` (dropped on purpose, e.g. by a filter)
    pub discarded_events: AtomicU64,
    /// `component_errors_total`
    pub errors: AtomicU64,
    /// Counters and gauges particular to one component type, by name with labels (for
    /// example `conductorone_api_errors_total{status="429"}`). Updated at most once per
    /// request or batch, never per event, so a lock costs nothing measurable here.
    pub extra: Mutex<BTreeMap<String, u64>>,
}

impl ComponentMetrics {
    /// Adds `n` to the component-specific counter `name`.
    pub fn add(&self, name: &str, n: u64) {
        let mut extra = self.extra.lock().unwrap_or_else(|e| e.into_inner());
        match extra.get_mut(name) {
            Some(value) => *value += n,
            None => {
                extra.insert(name.to_owned(), n);
            }
        }
    }

    /// Sets the component-specific gauge `name`.
    pub fn set(&self, name: &str, value: u64) {
        let mut extra = self.extra.lock().unwrap_or_else(|e| e.into_inner());
        match extra.get_mut(name) {
            Some(current) => *current = value,
            None => {
                extra.insert(name.to_owned(), value);
            }
        }
    }

    /// The component-specific counter or gauge `name` (0 when never set).
    pub fn get(&self, name: &str) -> u64 {
        let extra = self.extra.lock().unwrap_or_else(|e| e.into_inner());
        extra.get(name).copied().unwrap_or(0)
    }

    /// Adds `n` received events.
    pub fn received(&self, n: usize) {
        self.received_events.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Adds `n` sent events.
    pub fn sent(&self, n: usize) {
        self.sent_events.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Adds `n` discarded events.
    pub fn discarded(&self, n: usize) {
        self.discarded_events.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Adds one error.
    pub fn error(&self) {
        self.errors(1);
    }

    /// Adds `n` errors.
    pub fn errors(&self, n: u64) {
        self.errors.fetch_add(n, Ordering::Relaxed);
    }
}

/// A point-in-time copy of one component's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// `sources.id`, `transforms.id` or `sinks.id`.
    pub component: String,
    /// `component_kind`: `source`, `transform` or `sink` (empty when not known).
    pub component_kind: String,
    /// `component_type`: the component's `type` (empty when not known).
    pub component_type: String,
    /// `component_received_events_total`
    pub received_events: u64,
    /// `component_sent_events_total`
    pub sent_events: u64,
    /// `component_discarded_events_total`
    pub discarded_events: u64,
    /// `component_errors_total`
    pub errors: u64,
    /// Component-specific counters and gauges (see [`ComponentMetrics::extra`]).
    pub extra: Vec<(String, u64)>,
}

/// Every component's counters.
#[derive(Debug, Default)]
pub struct MetricsRegistry {
    components: Mutex<Components>,
}

/// The registered components, in registration order, and where each is in that order.
#[derive(Debug, Default)]
struct Components {
    ordered: Vec<(String, Arc<ComponentMetrics>)>,
    /// Looked up per registration: a linear search made 10,000 components quadratic.
    index: HashMap<String, usize>,
    /// Each component's kind and type, by name (see [`MetricsRegistry::describe`]).
    identity: HashMap<String, (ComponentKind, &'static str)>,
}

impl MetricsRegistry {
    /// The counters of `component` (created on first use).
    pub fn component(&self, component: &str) -> Arc<ComponentMetrics> {
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = components.index.get(component).copied() {
            return Arc::clone(&components.ordered[at].1);
        }
        let metrics = Arc::new(ComponentMetrics::default());
        let at = components.ordered.len();
        components
            .ordered
            .push((component.to_owned(), Arc::clone(&metrics)));
        components.index.insert(component.to_owned(), at);
        metrics
    }

    /// Forgets every component not in `keep` (`sources.id`, ...): a reload's removed
    /// components leave `/components`, `/metrics` and the snapshots, while the kept ones
    /// keep their counters growing.
    pub fn retain_components(&self, keep: &std::collections::BTreeSet<String>) {
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        let components = &mut *components;
        components.ordered.retain(|(name, _)| keep.contains(name));
        components.identity.retain(|name, _| keep.contains(name));
        components.index = (components.ordered.iter().enumerate())
            .map(|(at, (name, _))| (name.clone(), at))
            .collect();
    }

    /// Records the kind and type of component `id`, for the labels of its metrics.
    pub fn describe(&self, kind: ComponentKind, id: &str, type_name: &'static str) {
        let name = format!("{}.{id}", kind.table());
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        components.identity.insert(name, (kind, type_name));
    }

    /// Current values of every component's counters.
    pub fn snapshot(&self) -> Vec<MetricsSnapshot> {
        let components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        components
            .ordered
            .iter()
            .map(|(name, m)| MetricsSnapshot {
                component: name.clone(),
                component_kind: components
                    .identity
                    .get(name)
                    .map_or("", |(kind, _)| kind.as_str())
                    .to_owned(),
                component_type: components
                    .identity
                    .get(name)
                    .map_or("", |(_, type_name)| type_name)
                    .to_owned(),
                received_events: m.received_events.load(Ordering::Relaxed),
                sent_events: m.sent_events.load(Ordering::Relaxed),
                discarded_events: m.discarded_events.load(Ordering::Relaxed),
                errors: m.errors.load(Ordering::Relaxed),
                extra: m
                    .extra
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .map(|(name, value)| (name.clone(), *value))
                    .collect(),
            })
            .collect()
    }
}

impl MetricsRegistry {
    /// Every component's metrics as samples with Vector's names and labels.
    pub fn samples(&self) -> Vec<MetricSample> {
        self.snapshot().iter().flat_map(MetricSample::of).collect()
    }
}

/// Whether a sample only grows (`counter`) or is a current value (`gauge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleKind {
    /// Monotonic; its name ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
}

/// One metric of one component: Vector's name (no namespace), its labels and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSample {
    /// `component_sent_events_total`, `conductorone_api_errors_total`, ...
    pub name: String,
    /// `component_id`, `component_kind`, `component_type`, plus the metric's own labels.
    pub tags: BTreeMap<String, String>,
    /// Counter or gauge.
    pub kind: SampleKind,
    /// The value.
    pub value: f64,
}

impl MetricSample {
    /// The samples of one component's counters. `component_errors_total` carries
    /// `error_type="unclassified"` and the stage of the component's kind (`receiving`,
    /// `processing`, `sending`): errors are counted per component, not per cause.
    pub fn of(snapshot: &MetricsSnapshot) -> Vec<Self> {
        let (kind, id) = snapshot
            .component
            .split_once('.')
            .unwrap_or(("", snapshot.component.as_str()));
        let kind = match snapshot.component_kind.as_str() {
            "" => kind.trim_end_matches('s'),
            known => known,
        };
        let tags = BTreeMap::from([
            ("component_id".to_owned(), id.to_owned()),
            ("component_kind".to_owned(), kind.to_owned()),
            ("component_type".to_owned(), snapshot.component_type.clone()),
        ]);
        let stage = match kind {
            "source" => "receiving",
            "transform" => "processing",
            _ => "sending",
        };
        let counter = |name: &str, value: u64, extra: &[(&str, &str)]| {
            let mut tags = tags.clone();
            for (key, value) in extra {
                tags.insert((*key).to_owned(), (*value).to_owned());
            }
            Self {
                name: name.to_owned(),
                tags,
                kind: SampleKind::Counter,
                value: value as f64,
            }
        };
        let mut samples = vec![
            counter(
                "component_received_events_total",
                snapshot.received_events,
                &[],
            ),
            counter("component_sent_events_total", snapshot.sent_events, &[]),
            counter(
                "component_discarded_events_total",
                snapshot.discarded_events,
                &[],
            ),
            counter(
                "component_errors_total",
                snapshot.errors,
                &[("error_type", "unclassified"), ("stage", stage)],
            ),
        ];
        for (key, value) in &snapshot.extra {
            let (name, labels) = parse_key(key);
            let mut sample = counter(name, *value, &[]);
            sample.tags.extend(labels);
            if !name.ends_with("_total") {
                sample.kind = SampleKind::Gauge;
            }
            samples.push(sample);
        }
        samples
    }
}

/// A component-specific key, `name` or `name{label="value",...}`: the name and the labels.
fn parse_key(key: &str) -> (&str, Vec<(String, String)>) {
    let Some((name, rest)) = key.split_once('{') else {
        return (key, Vec::new());
    };
    let labels = rest
        .trim_end_matches('}')
        .split(',')
        .filter_map(|pair| {
            let (label, value) = pair.split_once('=')?;
            Some((
                label.trim().to_owned(),
                value.trim().trim_matches('"').to_owned(),
            ))
        })
        .collect();
    (name, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_not_retained_are_forgotten_and_the_others_keep_counting() {
        let registry = MetricsRegistry::default();
        registry.component("sources.old").received(3);
        registry.component("sinks.kept").received(4);
        registry.describe(ComponentKind::Sink, "kept", "console");
        registry.retain_components(&["sinks.kept".to_owned()].into());
        registry.component("sinks.kept").received(1);
        registry.component("sources.new").received(2);
        let snapshot = registry.snapshot();
        let names: Vec<_> = snapshot.iter().map(|m| m.component.as_str()).collect();
        assert_eq!(names, ["sinks.kept", "sources.new"]);
        assert_eq!(snapshot[0].received_events, 5);
        assert_eq!(snapshot[0].component_type, "console");
    }

    #[test]
    fn samples_carry_vector_names_and_component_labels() {
        let registry = MetricsRegistry::default();
        let metrics = registry.component("sources.c1");
        registry.describe(ComponentKind::Source, "c1", "conductorone");
        metrics.sent(5);
        metrics.add("conductorone_api_errors_total{status=\"429\"}", 2);
        metrics.set("objects_known", 7);
        let samples = registry.samples();
        let sent = samples
            .iter()
            .find(|s| s.name == "component_sent_events_total")
            .expect("sent");
        assert_eq!(sent.value, 5.0);
        assert_eq!(sent.tags["component_id"], "c1");
        assert_eq!(sent.tags["component_kind"], "source");
        assert_eq!(sent.tags["component_type"], "conductorone");
        let api = samples
            .iter()
            .find(|s| s.name == "conductorone_api_errors_total")
            .expect("api errors");
        assert_eq!(api.tags["status"], "429");
        assert_eq!(api.value, 2.0);
        let known = samples.iter().find(|s| s.name == "objects_known").unwrap();
        assert_eq!(known.kind, SampleKind::Gauge);
        let errors = samples
            .iter()
            .find(|s| s.name == "component_errors_total")
            .unwrap();
        assert_eq!(errors.tags["stage"], "receiving");
    }
}
