//! `blackhole`: accept and discard events (for benchmarks and tests), Vector's options.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::ack::BatchStatus;
use crate::component::{BuildError, ComponentError, ComponentTask, SinkComponent, SinkContext};
use crate::event::{Event, finish_batch};
use crate::sinks::SinkAcknowledgements;

/// `[sinks.ID] type = "blackhole"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeConfig {
    /// Seconds between log lines with the running totals (default 1; 0 turns them off).
    #[serde(default = "default_print_interval")]
    pub print_interval_secs: u64,
    /// Accept at most this many events per second (default: unlimited). Makes a slow sink
    /// for backpressure tests.
    #[serde(default)]
    pub rate: Option<u64>,
    /// `acknowledgements.enabled`.
    #[serde(default)]
    pub acknowledgements: SinkAcknowledgements,
    /// `healthcheck.*`: accepted (Vector's option on every sink); there is nothing to check.
    #[serde(default)]
    pub healthcheck: crate::options::HealthcheckConfig,
}

fn default_print_interval() -> u64 {
    1
}

impl SinkComponent for BlackholeConfig {
    fn build(&self, cx: SinkContext) -> Result<ComponentTask, BuildError> {
        if self.rate == Some(0) {
            return Err(BuildError::field("rate", "must be greater than 0")
                .help("remove `rate` for no limit"));
        }
        Ok(Box::pin(run(self.clone(), cx)))
    }

    fn acknowledgements(&self) -> Option<bool> {
        self.acknowledgements.enabled
    }
}

async fn run(config: BlackholeConfig, mut cx: SinkContext) -> Result<(), ComponentError> {
    let started = Instant::now();
    let mut total: u64 = 0;
    let print_interval = Duration::from_secs(config.print_interval_secs);
    let mut last_print = Instant::now();
    while let Some(batch) = cx.input.recv().await {
        let bytes: usize = batch.iter().map(Event::json_size_now).sum();
        cx.metrics.received_with_bytes(batch.len(), bytes);
        total += batch.len() as u64;
        // Only the count: sizing every event (serializing it) would make the benchmarking
        // sink cost as much as a real one.
        if config.print_interval_secs > 0 && last_print.elapsed() >= print_interval {
            tracing::info!(events = total, "blackhole totals");
            last_print = Instant::now();
        }
        if let Some(rate) = config.rate {
            // Pace to `rate` events per second since start.
            let due = Duration::from_secs_f64(total as f64 / rate as f64);
            let elapsed = started.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        }
        cx.metrics.sent_with_bytes(batch.len(), bytes);
        finish_batch(batch, BatchStatus::Delivered);
    }
    if config.print_interval_secs > 0 {
        tracing::info!(events = total, "blackhole finished");
    }
    Ok(())
}
