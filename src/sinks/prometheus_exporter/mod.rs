//! `prometheus_exporter`: serves the metric events it receives (from `internal_metrics`, or
//! any event shaped as Vector's JSON encoding of a metric) at `GET /metrics` in the Prometheus
//! text format, Vector's sink of the same name and options. Events that are not metrics are
//! counted (`component_discarded_events_total`) and dropped with a warning.

mod config;
mod sink;

pub use crate::options::tls::ServerTlsConfig;
pub use config::{ExporterAuth, PrometheusExporterConfig};
