//! The `conductorone_demo` source's options.

use std::time::Duration;

use serde::Deserialize;

use super::events::DemoEventGenerator;
use super::source::run;
use crate::component::{
    BuildError, ComponentTask, MAX_SECONDS, SourceComponent, SourceContext, seconds,
};

/// `[sources.ID] type = "conductorone_demo"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Stop after this many events (default: never stop).
    #[serde(default)]
    pub count: Option<u64>,
    /// Seconds between events (default 1.0, as Vector's `demo_logs`). `0` emits as fast as the
    /// pipeline takes them.
    #[serde(default)]
    pub interval_secs: Option<f64>,
    /// Events per second instead of `interval_secs`.
    #[serde(default)]
    pub events_per_second: Option<f64>,
    /// Seed for every random choice: the same seed gives the same events (times aside).
    /// Default 7.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Write automation circuit-breaker events without `time`, as ConductorOne did before a
    /// 2026 release (to try how a pipeline copes; such events are not valid OCSF). Default
    /// false.
    #[serde(default)]
    pub untimed_circuit_breaker_events: bool,
}

fn default_seed() -> u64 {
    7
}

impl DemoConfig {
    fn interval(&self) -> Result<Duration, BuildError> {
        match (self.interval_secs, self.events_per_second) {
            (Some(_), Some(_)) => Err(BuildError::field(
                "events_per_second",
                "both `interval_secs` and `events_per_second` are set",
            )
            .help("keep one of them")),
            (Some(interval), None) => seconds("interval_secs", interval, true),
            // At least one event per MAX_SECONDS, so the interval fits a `Duration`.
            (None, Some(rate)) if rate.is_finite() && rate * MAX_SECONDS >= 1.0 => {
                Ok(Duration::from_secs_f64(1.0 / rate))
            }
            (None, Some(_)) => Err(BuildError::field(
                "events_per_second",
                "must be a number > 0",
            )),
            (None, None) => Ok(Duration::from_secs(1)),
        }
    }
}

impl SourceComponent for DemoConfig {
    fn build(&self, cx: SourceContext) -> Result<ComponentTask, BuildError> {
        let interval = self.interval()?;
        let count = self.count.unwrap_or(u64::MAX);
        let generator = DemoEventGenerator::new(self.seed)
            .untimed_circuit_breaker_events(self.untimed_circuit_breaker_events);
        Ok(Box::pin(run(generator, count, interval, cx)))
    }
}
