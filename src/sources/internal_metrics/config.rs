//! The `internal_metrics` source's options.

use std::time::Duration;

use serde::Deserialize;

use crate::component::{BuildError, ComponentTask, SourceComponent, SourceContext, seconds};

/// `[sources.ID] type = "internal_metrics"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalMetricsConfig {
    /// Seconds between two readings of every metric. Default 15 (Vector's).
    #[serde(default = "default_scrape_interval")]
    pub scrape_interval_secs: f64,
    /// The `namespace` of every metric event. Default `vector` (Vector's), so dashboards made
    /// for Vector's `vector_component_*` series work unchanged.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Tags added to every metric.
    #[serde(default)]
    pub tags: InternalMetricsTags,
}

/// `tags.*` of the `internal_metrics` source.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalMetricsTags {
    /// Tag holding this machine's host name. Default: none (no such tag).
    #[serde(default)]
    pub host_key: Option<String>,
    /// Tag holding this process's id. Default: none (no such tag).
    #[serde(default)]
    pub pid_key: Option<String>,
}

fn default_scrape_interval() -> f64 {
    15.0
}

fn default_namespace() -> String {
    "vector".to_owned()
}

/// The checked options the run loop uses.
#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub(super) interval: Duration,
    pub(super) namespace: String,
    /// Tags added to every metric (host, pid), resolved once.
    pub(super) tags: Vec<(String, String)>,
}

impl InternalMetricsConfig {
    /// The options checked into [`Settings`].
    pub(super) fn settings(&self) -> Result<Settings, BuildError> {
        let interval = seconds("scrape_interval_secs", self.scrape_interval_secs, false)?;
        let mut tags = Vec::new();
        if let Some(key) = non_empty(&self.tags.host_key, "tags.host_key")? {
            let host = hostname::get()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            tags.push((key, host));
        }
        if let Some(key) = non_empty(&self.tags.pid_key, "tags.pid_key")? {
            tags.push((key, std::process::id().to_string()));
        }
        Ok(Settings {
            interval,
            namespace: self.namespace.clone(),
            tags,
        })
    }
}

fn non_empty(key: &Option<String>, field: &str) -> Result<Option<String>, BuildError> {
    match key.as_deref() {
        Some("") => Err(BuildError::field(field, "must not be empty")
            .help("remove the option to leave the tag out")),
        other => Ok(other.map(str::to_owned)),
    }
}

impl SourceComponent for InternalMetricsConfig {
    fn build(&self, cx: SourceContext) -> Result<ComponentTask, BuildError> {
        let settings = self.settings()?;
        Ok(Box::pin(super::source::run(settings, cx)))
    }
}
