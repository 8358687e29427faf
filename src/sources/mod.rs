//! Sources: the registry of every source type.

pub mod conductorone;
pub mod conductorone_s3;
pub mod demo;
pub mod internal_metrics;
pub mod stdin;

use crate::component::{SourceComponent, component_registry};

component_registry! {
    /// Every source type, tagged by `type`.
    SourceConfig: SourceComponent, registered in crate::registry::SOURCES {
        /// Newline-delimited events from standard input.
        Stdin(stdin::StdinConfig) = "stdin",
        /// Realistic ConductorOne events, no credentials needed.
        ConductoroneDemo(demo::DemoConfig) = "conductorone_demo",
        /// ConductorOne's system log over the API, with a durable acknowledged cursor.
        Conductorone(conductorone::ConductoroneConfig) = "conductorone",
        /// ConductorOne's system-log export files in S3 (list or SQS notifications).
        ConductoroneS3(conductorone_s3::ConductoroneS3Config) = "conductorone_s3",
        /// The pipeline's own metrics as metric events (Vector's `internal_metrics`).
        InternalMetrics(internal_metrics::InternalMetricsConfig) = "internal_metrics",
    }
}
