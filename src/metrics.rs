//! Internal metrics per component, named and labelled as Vector names them, kept in the
//! `metrics` ecosystem's types.
//!
//! Every metric is a [`metrics::Key`] (its name and labels) in a `metrics-util` registry of
//! atomics ([`MetricsRegistry`]). A component holds a [`ComponentMetrics`] with the handles of
//! its standard counters made once when it is built (Vector's
//! `component_received_events_total`, `component_received_event_bytes_total`,
//! `component_sent_events_total`, `component_sent_event_bytes_total`,
//! `component_discarded_events_total`), each labelled `component_id`, `component_kind` and
//! `component_type`: counting is a relaxed atomic add per batch, with no lookup and no lock.
//! `component_errors_total` carries `error_type` and `stage` ([`ErrorType`], [`Stage`]), and
//! a component's own counters and gauges carry their own labels
//! (`conductorone_api_errors_total{status="429"}`); both are looked up when they change, at
//! most once per request or batch. [`MetricsRegistry::samples`] reads every metric for the
//! `[api]`, the `internal_metrics` source and the Prometheus exporter;
//! [`MetricsRegistry::snapshot`] sums them per component.
//!
//! Event bytes are the events' estimated JSON size ([`crate::event::Event::json_size`]), as
//! Vector's `EstimatedJsonEncodedSizeOf`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{GaugeFn as _, Key, Label};
use metrics_util::registry::{AtomicStorage, Registry};

use crate::event::Event;
use crate::observability::ComponentKind;

/// Vector's metric names used here.
mod name {
    pub(super) const RECEIVED_EVENTS: &str = "component_received_events_total";
    pub(super) const RECEIVED_EVENT_BYTES: &str = "component_received_event_bytes_total";
    pub(super) const SENT_EVENTS: &str = "component_sent_events_total";
    pub(super) const SENT_EVENT_BYTES: &str = "component_sent_event_bytes_total";
    pub(super) const DISCARDED_EVENTS: &str = "component_discarded_events_total";
    pub(super) const ERRORS: &str = "component_errors_total";
    pub(super) const BUFFER_EVENTS: &str = "buffer_events";
    pub(super) const BUFFER_BYTE_SIZE: &str = "buffer_byte_size";
    pub(super) const BUFFER_RECEIVED_EVENTS: &str = "buffer_received_events_total";
    pub(super) const BUFFER_RECEIVED_EVENT_BYTES: &str = "buffer_received_event_bytes_total";
    pub(super) const BUFFER_SENT_EVENTS: &str = "buffer_sent_events_total";
    pub(super) const BUFFER_SENT_EVENT_BYTES: &str = "buffer_sent_event_bytes_total";
}

/// The `error_type` label of `component_errors_total` (Vector's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// An acknowledgement could not be obtained or tracked (`acknowledgment_failed`).
    Acknowledgment,
    /// Credentials were refused (`authentication_failed`).
    Authentication,
    /// Input could not be decoded or parsed (`parser_failed`).
    Parser,
    /// An event could not be encoded (`encoder_failed`).
    Encoder,
    /// A value could not be converted (`conversion_failed`).
    Conversion,
    /// Reading input failed (`reader_failed`).
    Reader,
    /// Writing output failed (`writer_failed`).
    Writer,
    /// A request to a remote service failed (`request_failed`).
    Request,
    /// Local I/O failed (`io_failed`).
    Io,
    /// A program (VRL) failed on an event (`script_failed`).
    Script,
    /// A template could not be rendered (`template_failed`).
    Template,
}

impl ErrorType {
    /// The label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acknowledgment => "acknowledgment_failed",
            Self::Authentication => "authentication_failed",
            Self::Parser => "parser_failed",
            Self::Encoder => "encoder_failed",
            Self::Conversion => "conversion_failed",
            Self::Reader => "reader_failed",
            Self::Writer => "writer_failed",
            Self::Request => "request_failed",
            Self::Io => "io_failed",
            Self::Script => "script_failed",
            Self::Template => "template_failed",
        }
    }
}

/// The `stage` label of `component_errors_total` (Vector's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Taking input in (sources).
    Receiving,
    /// Working on events (transforms).
    Processing,
    /// Delivering output (sinks).
    Sending,
}

impl Stage {
    /// The label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receiving => "receiving",
            Self::Processing => "processing",
            Self::Sending => "sending",
        }
    }

    /// The stage a component of `kind` is in by default.
    fn of(kind: ComponentKind) -> Self {
        match kind {
            ComponentKind::Source => Self::Receiving,
            ComponentKind::Transform => Self::Processing,
            ComponentKind::Sink => Self::Sending,
        }
    }
}

/// The metrics of one component.
#[derive(Debug)]
pub struct ComponentMetrics {
    kind: ComponentKind,
    id: String,
    type_name: &'static str,
    storage: Arc<Registry<Key, AtomicStorage>>,
    received_events: Arc<AtomicU64>,
    received_event_bytes: Arc<AtomicU64>,
    sent_events: Arc<AtomicU64>,
    sent_event_bytes: Arc<AtomicU64>,
    discarded_events: Arc<AtomicU64>,
}

impl Default for ComponentMetrics {
    /// Metrics of a component outside any topology (a transform used on its own, a test),
    /// kept in a registry of their own.
    fn default() -> Self {
        let storage = Arc::new(Registry::atomic());
        Self::new(storage, ComponentKind::Transform, "", "")
    }
}

impl ComponentMetrics {
    fn new(
        storage: Arc<Registry<Key, AtomicStorage>>,
        kind: ComponentKind,
        id: &str,
        type_name: &'static str,
    ) -> Self {
        let mut metrics = Self {
            kind,
            id: id.to_owned(),
            type_name,
            storage,
            received_events: Arc::default(),
            received_event_bytes: Arc::default(),
            sent_events: Arc::default(),
            sent_event_bytes: Arc::default(),
            discarded_events: Arc::default(),
        };
        metrics.received_events = metrics.counter(name::RECEIVED_EVENTS, &[]);
        metrics.received_event_bytes = metrics.counter(name::RECEIVED_EVENT_BYTES, &[]);
        metrics.sent_events = metrics.counter(name::SENT_EVENTS, &[]);
        metrics.sent_event_bytes = metrics.counter(name::SENT_EVENT_BYTES, &[]);
        metrics.discarded_events = metrics.counter(name::DISCARDED_EVENTS, &[]);
        metrics
    }

    /// The key of metric `name` of this component, with `labels` besides its own.
    fn key(&self, name: &str, labels: &[(&str, &str)]) -> Key {
        let mut all = vec![
            Label::new("component_id", self.id.clone()),
            Label::new("component_kind", self.kind.as_str()),
            Label::new("component_type", self.type_name),
        ];
        all.extend(
            (labels.iter()).map(|(label, value)| Label::new(label.to_string(), value.to_string())),
        );
        Key::from_parts(name.to_owned(), all)
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Arc<AtomicU64> {
        let key = self.key(name, labels);
        self.storage.get_or_create_counter(&key, Arc::clone)
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Arc<AtomicU64> {
        let key = self.key(name, labels);
        self.storage.get_or_create_gauge(&key, Arc::clone)
    }

    /// The metrics of this component's input buffer (see [`BufferMetrics`]).
    pub(crate) fn buffer(&self) -> BufferMetrics {
        BufferMetrics {
            events: self.gauge(name::BUFFER_EVENTS, &[]),
            byte_size: self.gauge(name::BUFFER_BYTE_SIZE, &[]),
            received_events: self.counter(name::BUFFER_RECEIVED_EVENTS, &[]),
            received_event_bytes: self.counter(name::BUFFER_RECEIVED_EVENT_BYTES, &[]),
            sent_events: self.counter(name::BUFFER_SENT_EVENTS, &[]),
            sent_event_bytes: self.counter(name::BUFFER_SENT_EVENT_BYTES, &[]),
        }
    }

    /// `component_received_events_total` and `component_received_event_bytes_total` of
    /// `events`, whose JSON sizes are estimated now (and kept) if nothing has yet.
    pub fn received_events(&self, events: &mut [Event]) {
        let bytes: usize = events.iter_mut().map(Event::json_size).sum();
        self.received_with_bytes(events.len(), bytes);
    }

    /// `n` events of `bytes` estimated JSON bytes in all, received.
    pub fn received_with_bytes(&self, n: usize, bytes: usize) {
        self.received_events.fetch_add(n as u64, Ordering::Relaxed);
        self.received_event_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `n` events of `bytes` estimated JSON bytes in all, sent.
    pub fn sent_with_bytes(&self, n: usize, bytes: usize) {
        self.sent_events.fetch_add(n as u64, Ordering::Relaxed);
        self.sent_event_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `component_sent_events_total` and `component_sent_event_bytes_total` of `events`,
    /// their JSON sizes estimated and kept in them for the components downstream. Returns
    /// their estimated JSON bytes in all.
    pub fn sent_events(&self, events: &mut [Event]) -> usize {
        let bytes: usize = events.iter_mut().map(Event::json_size).sum();
        self.sent_with_bytes(events.len(), bytes);
        bytes
    }

    /// Adds `n` discarded events (dropped on purpose, e.g. by a filter).
    pub fn discarded(&self, n: usize) {
        self.discarded_events.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// One error of `error_type` in the stage of the component's kind.
    pub fn error(&self, error_type: ErrorType) {
        self.errors(error_type, 1);
    }

    /// `n` errors of `error_type` in the stage of the component's kind.
    pub fn errors(&self, error_type: ErrorType, n: u64) {
        self.errors_at(error_type, Stage::of(self.kind), n);
    }

    /// `n` errors of `error_type` in `stage` (a sink's error while receiving, ...).
    pub fn errors_at(&self, error_type: ErrorType, stage: Stage, n: u64) {
        let labels = [
            ("error_type", error_type.as_str()),
            ("stage", stage.as_str()),
        ];
        self.counter(name::ERRORS, &labels)
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Adds `n` to this component's own counter `name` (a name ending in `_total`).
    pub fn add(&self, name: &str, n: u64) {
        self.add_labelled(name, &[], n);
    }

    /// Adds `n` to this component's own counter `name` with `labels`
    /// (`conductorone_api_errors_total`, `[("status", "429")]`).
    pub fn add_labelled(&self, name: &str, labels: &[(&str, &str)], n: u64) {
        self.counter(name, labels).fetch_add(n, Ordering::Relaxed);
    }

    /// Sets this component's own gauge `name`.
    pub fn set(&self, name: &str, value: f64) {
        self.gauge(name, &[])
            .store(value.to_bits(), Ordering::Relaxed);
    }

    /// This component's own counter `name` (0 when never counted).
    pub fn get(&self, name: &str) -> u64 {
        self.get_labelled(name, &[])
    }

    /// This component's own counter `name` with `labels` (0 when never counted).
    pub fn get_labelled(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let key = self.key(name, labels);
        (self.storage.get_counter(&key)).map_or(0, |counter| counter.load(Ordering::Relaxed))
    }

    /// `component_received_events_total` so far.
    pub fn received_total(&self) -> u64 {
        self.received_events.load(Ordering::Relaxed)
    }

    /// `component_sent_events_total` so far.
    pub fn sent_total(&self) -> u64 {
        self.sent_events.load(Ordering::Relaxed)
    }

    /// `component_discarded_events_total` so far.
    pub fn discarded_total(&self) -> u64 {
        self.discarded_events.load(Ordering::Relaxed)
    }

    /// Every `component_errors_total` of this component, summed over its labels.
    pub fn errors_total(&self) -> u64 {
        let mut total = 0;
        let id = self.id.as_str();
        self.storage.visit_counters(|key, counter| {
            if key.name() == name::ERRORS && label(key, "component_id") == Some(id) {
                total += counter.load(Ordering::Relaxed);
            }
        });
        total
    }
}

/// The metrics of the buffer in front of a transform or sink (its input channel), as
/// Vector reports a sink's buffer: `buffer_events` and `buffer_byte_size` (gauges: what
/// waits in it now), `buffer_received_events_total` / `buffer_received_event_bytes_total`
/// (what entered it) and `buffer_sent_events_total` / `buffer_sent_event_bytes_total` (what
/// the component took out), labelled as the component's other metrics.
///
/// Each change is a few atomic operations per batch, never per event.
#[derive(Debug)]
pub(crate) struct BufferMetrics {
    events: Arc<AtomicU64>,
    byte_size: Arc<AtomicU64>,
    received_events: Arc<AtomicU64>,
    received_event_bytes: Arc<AtomicU64>,
    sent_events: Arc<AtomicU64>,
    sent_event_bytes: Arc<AtomicU64>,
}

impl BufferMetrics {
    /// A batch of `events` events and `bytes` estimated JSON bytes entered the buffer.
    pub(crate) fn entered(&self, events: usize, bytes: usize) {
        // Gauges hold an `f64`'s bits (the registry's storage): `GaugeFn` adds to them.
        self.events.increment(events as f64);
        self.byte_size.increment(bytes as f64);
        self.received_events
            .fetch_add(events as u64, Ordering::Relaxed);
        self.received_event_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A batch of `events` events and `bytes` estimated JSON bytes left the buffer (the
    /// component took it, or it was dropped with the buffer).
    pub(crate) fn left(&self, events: usize, bytes: usize) {
        self.events.decrement(events as f64);
        self.byte_size.decrement(bytes as f64);
        self.sent_events.fetch_add(events as u64, Ordering::Relaxed);
        self.sent_event_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// The value of `label` in `key`.
fn label<'a>(key: &'a Key, label: &str) -> Option<&'a str> {
    (key.labels()).find(|l| l.key() == label).map(|l| l.value())
}

/// A point-in-time copy of one component's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// `sources.id`, `transforms.id` or `sinks.id`.
    pub component: String,
    /// `component_kind`: `source`, `transform` or `sink`.
    pub component_kind: String,
    /// `component_type`: the component's `type`.
    pub component_type: String,
    /// `component_received_events_total`
    pub received_events: u64,
    /// `component_received_event_bytes_total`
    pub received_event_bytes: u64,
    /// `component_sent_events_total`
    pub sent_events: u64,
    /// `component_sent_event_bytes_total`
    pub sent_event_bytes: u64,
    /// `component_discarded_events_total`
    pub discarded_events: u64,
    /// `component_errors_total`, summed over `error_type` and `stage`.
    pub errors: u64,
    /// The component's own counters and gauges, each as `name` or `name{label="value",...}`,
    /// with errors by `error_type` and `stage` among them.
    pub extra: Vec<(String, u64)>,
}

/// Every component's metrics.
#[derive(Debug)]
pub struct MetricsRegistry {
    storage: Arc<Registry<Key, AtomicStorage>>,
    components: Mutex<Components>,
}

impl Default for MetricsRegistry {
    fn default() -> Self {
        Self {
            storage: Arc::new(Registry::atomic()),
            components: Mutex::default(),
        }
    }
}

/// The registered components in registration order, by name (`sources.id`).
#[derive(Debug, Default)]
struct Components {
    ordered: Vec<(String, Arc<ComponentMetrics>)>,
    /// Where each is in `ordered`: a linear search made 10,000 components quadratic.
    index: HashMap<String, usize>,
}

impl MetricsRegistry {
    /// The metrics of component `id` of `kind` and type `type_name` (made on first use; the
    /// type of the first use stays).
    pub fn component(
        &self,
        kind: ComponentKind,
        id: &str,
        type_name: &'static str,
    ) -> Arc<ComponentMetrics> {
        let name = format!("{}.{id}", kind.table());
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = components.index.get(&name).copied() {
            return Arc::clone(&components.ordered[at].1);
        }
        let storage = Arc::clone(&self.storage);
        let metrics = Arc::new(ComponentMetrics::new(storage, kind, id, type_name));
        let at = components.ordered.len();
        components
            .ordered
            .push((name.clone(), Arc::clone(&metrics)));
        components.index.insert(name, at);
        metrics
    }

    /// Forgets every component not in `keep` (`sources.id`, ...) and its metrics: a reload's
    /// removed components leave `/components`, `/metrics` and the snapshots, while the kept
    /// ones keep counting.
    pub fn retain_components(&self, keep: &BTreeSet<String>) {
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        let components = &mut *components;
        let mut kept_ids = BTreeSet::new();
        components.ordered.retain(|(name, metrics)| {
            let kept = keep.contains(name);
            if kept {
                kept_ids.insert((metrics.kind.as_str(), metrics.id.clone()));
            }
            kept
        });
        let owned = |key: &Key| {
            let kind = label(key, "component_kind").unwrap_or_default();
            let id = label(key, "component_id").unwrap_or_default();
            kept_ids.contains(&(kind, id.to_owned()))
        };
        self.storage.retain_counters(|key, _| owned(key));
        self.storage.retain_gauges(|key, _| owned(key));
        components.index = (components.ordered.iter().enumerate())
            .map(|(at, (name, _))| (name.clone(), at))
            .collect();
    }

    /// Every metric now, with Vector's names and labels.
    pub fn samples(&self) -> Vec<MetricSample> {
        let mut samples = Vec::new();
        let mut collect = |key: &Key, value: f64, kind: SampleKind| {
            let tags = (key.labels())
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            samples.push(MetricSample {
                name: key.name().to_owned(),
                tags,
                kind,
                value,
            });
        };
        self.storage.visit_counters(|key, counter| {
            collect(
                key,
                counter.load(Ordering::Relaxed) as f64,
                SampleKind::Counter,
            );
        });
        self.storage.visit_gauges(|key, gauge| {
            let value = f64::from_bits(gauge.load(Ordering::Relaxed));
            collect(key, value, SampleKind::Gauge);
        });
        samples
    }

    /// Every component's metrics now, summed per component, in registration order.
    pub fn snapshot(&self) -> Vec<MetricsSnapshot> {
        let components: Vec<_> = {
            let components = self.components.lock().unwrap_or_else(|e| e.into_inner());
            (components.ordered.iter())
                .map(|(name, metrics)| (name.clone(), Arc::clone(metrics)))
                .collect()
        };
        let mut snapshots: Vec<MetricsSnapshot> = (components.iter())
            .map(|(name, metrics)| MetricsSnapshot {
                component: name.clone(),
                component_kind: metrics.kind.as_str().to_owned(),
                component_type: metrics.type_name.to_owned(),
                ..MetricsSnapshot::default()
            })
            .collect();
        let at: HashMap<(&str, &str), usize> = (components.iter().enumerate())
            .map(|(at, (_, m))| ((m.kind.as_str(), m.id.as_str()), at))
            .collect();
        for sample in self.samples() {
            let kind = sample.tags.get("component_kind").map_or("", String::as_str);
            let id = sample.tags.get("component_id").map_or("", String::as_str);
            if let Some(&at) = at.get(&(kind, id)) {
                snapshots[at].add(&sample);
            }
        }
        snapshots
    }
}

impl MetricsSnapshot {
    /// Adds one of the component's samples to the totals.
    fn add(&mut self, sample: &MetricSample) {
        let value = sample.value as u64;
        match sample.name.as_str() {
            name::RECEIVED_EVENTS => self.received_events += value,
            name::RECEIVED_EVENT_BYTES => self.received_event_bytes += value,
            name::SENT_EVENTS => self.sent_events += value,
            name::SENT_EVENT_BYTES => self.sent_event_bytes += value,
            name::DISCARDED_EVENTS => self.discarded_events += value,
            other => {
                if other == name::ERRORS {
                    self.errors += value;
                }
                let own: Vec<String> = (sample.tags.iter())
                    .filter(|(label, _)| !label.starts_with("component_"))
                    .map(|(label, value)| format!("{label}=\"{value}\""))
                    .collect();
                let key = match own.is_empty() {
                    true => other.to_owned(),
                    false => format!("{other}{{{}}}", own.join(",")),
                };
                self.extra.push((key, value));
                self.extra.sort();
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_not_retained_are_forgotten_and_the_others_keep_counting() {
        let registry = MetricsRegistry::default();
        let old = registry.component(ComponentKind::Source, "old", "stdin");
        old.received_with_bytes(3, 30);
        old.error(ErrorType::Parser);
        let kept = registry.component(ComponentKind::Sink, "kept", "console");
        kept.received_with_bytes(4, 40);
        registry.retain_components(&["sinks.kept".to_owned()].into());
        kept.received_with_bytes(1, 10);
        registry
            .component(ComponentKind::Source, "new", "stdin")
            .received_with_bytes(2, 20);
        let snapshot = registry.snapshot();
        let names: Vec<_> = snapshot.iter().map(|m| m.component.as_str()).collect();
        assert_eq!(names, ["sinks.kept", "sources.new"]);
        assert_eq!(snapshot[0].received_events, 5);
        assert_eq!(snapshot[0].received_event_bytes, 50);
        assert_eq!(snapshot[0].component_type, "console");
        assert!(
            (registry.samples().iter()).all(|s| s.tags["component_id"] != "old"),
            "the removed component's metrics are gone"
        );
    }

    #[test]
    fn samples_carry_vector_names_and_labels() {
        let registry = MetricsRegistry::default();
        let metrics = registry.component(ComponentKind::Source, "c1", "conductorone");
        metrics.sent_with_bytes(5, 500);
        metrics.add_labelled("conductorone_api_errors_total", &[("status", "429")], 2);
        metrics.set("objects_known", 7.0);
        metrics.error(ErrorType::Request);
        metrics.errors_at(ErrorType::Acknowledgment, Stage::Sending, 2);
        let samples = registry.samples();
        let find = |name: &str| {
            (samples.iter())
                .filter(|s| s.name == name)
                .collect::<Vec<_>>()
        };
        let sent = find("component_sent_events_total")[0];
        assert_eq!(sent.value, 5.0);
        assert_eq!(sent.tags["component_id"], "c1");
        assert_eq!(sent.tags["component_kind"], "source");
        assert_eq!(sent.tags["component_type"], "conductorone");
        assert_eq!(find("component_sent_event_bytes_total")[0].value, 500.0);
        let api = find("conductorone_api_errors_total")[0];
        assert_eq!(api.tags["status"], "429");
        assert_eq!(api.value, 2.0);
        let known = find("objects_known")[0];
        assert_eq!((known.kind, known.value), (SampleKind::Gauge, 7.0));
        let mut errors: Vec<_> = find("component_errors_total")
            .into_iter()
            .map(|s| {
                (
                    s.tags["error_type"].as_str(),
                    s.tags["stage"].as_str(),
                    s.value,
                )
            })
            .collect();
        errors.sort_by(|a, b| a.0.cmp(b.0));
        assert_eq!(
            errors,
            [
                ("acknowledgment_failed", "sending", 2.0),
                ("request_failed", "receiving", 1.0)
            ]
        );
        assert_eq!(metrics.errors_total(), 3);
        assert_eq!(
            metrics.get_labelled("conductorone_api_errors_total", &[("status", "429")]),
            2
        );
        let snapshot = &registry.snapshot()[0];
        assert_eq!((snapshot.sent_events, snapshot.errors), (5, 3));
        assert!(
            (snapshot.extra.iter()).any(|(key, value)| key
                == "conductorone_api_errors_total{status=\"429\"}"
                && *value == 2),
            "{:?}",
            snapshot.extra
        );
    }
}
