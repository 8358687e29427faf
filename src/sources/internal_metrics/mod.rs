//! `internal_metrics`: the pipeline's own metrics as metric events, Vector's source of the
//! same name and options. Each event is shaped as Vector encodes a metric in JSON (`name`,
//! `namespace`, `tags`, `timestamp`, `kind`, and `counter` or `gauge` with a `value`), so a
//! `console` or HEC sink can carry them and the `prometheus_exporter` sink can serve them.

mod config;
mod source;

pub use config::{InternalMetricsConfig, InternalMetricsTags};
