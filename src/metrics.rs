//! Internal counters per component, named as Vector names them.
//!
//! They are plain atomics (no locks on the hot path, updated once per batch) and are
//! reported in the shutdown summary; see [`MetricsRegistry::snapshot`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

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
    index: std::collections::HashMap<String, usize>,
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

    /// Current values of every component's counters.
    pub fn snapshot(&self) -> Vec<MetricsSnapshot> {
        let components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        components
            .ordered
            .iter()
            .map(|(name, m)| MetricsSnapshot {
                component: name.clone(),
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
