//! Sinks: the registry of every sink type, and options they share.

pub mod aws_s3;
#[cfg(feature = "parquet")]
pub mod aws_security_lake;
pub mod blackhole;
pub mod console;
pub mod opentelemetry;
pub mod prometheus_exporter;
pub mod splunk_hec_logs;

use serde::Deserialize;

use crate::component::{SinkComponent, component_registry};

component_registry! {
    /// Every sink type, tagged by `type`.
    // Configurations exist once per component at start-up: their size does not matter, and
    // boxing variants would complicate the registry for every component.
    #[allow(clippy::large_enum_variant)]
    SinkConfig: SinkComponent, registered in crate::registry::SINKS {
        /// Write to stdout or stderr.
        Console(console::ConsoleConfig) = "console",
        /// Write compressed NDJSON (or Parquet) objects to S3.
        AwsS3(aws_s3::AwsS3Config) = "aws_s3",
        /// Write OCSF events as Parquet in an Amazon Security Lake custom source's layout.
        AwsSecurityLake(aws_security_lake::AwsSecurityLakeConfig) = "aws_security_lake"
            if feature "parquet",
        /// Discard (benchmarks, tests).
        Blackhole(blackhole::BlackholeConfig) = "blackhole",
        /// OTLP log records over HTTP (OpenTelemetry Collector, Alloy, Vector, ...).
        OpenTelemetry(opentelemetry::OpenTelemetryConfig) = "opentelemetry",
        /// Splunk HTTP Event Collector.
        SplunkHecLogs(splunk_hec_logs::SplunkHecLogsConfig) = "splunk_hec_logs",
        /// Metric events served at `GET /metrics` in the Prometheus text format.
        PrometheusExporter(prometheus_exporter::PrometheusExporterConfig) = "prometheus_exporter",
    }
}

/// A sink's `acknowledgements` table.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SinkAcknowledgements {
    /// Finalize events only once the destination has them, so sources wait for this sink.
    /// Unset: the global `acknowledgements.enabled` (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}
