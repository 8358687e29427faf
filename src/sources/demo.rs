//! `conductorone_demo`: realistic ConductorOne system-log events without a tenant.
//!
//! Events come from [`DemoEventGenerator`]: OCSF API Activity (6003) with real
//! `api.operation` names, Authentication (3002) token grants, MCP tool calls and occasional
//! failures, timestamped with the current time.

use std::time::Duration;

use serde::Deserialize;

use super::demo_events::DemoEventGenerator;
use crate::ack::{BatchNotifier, OrderedAcks};
use crate::component::{
    BuildError, ComponentError, ComponentTask, MAX_SECONDS, SourceComponent, SourceContext, seconds,
};
use crate::event::{Event, intern_id};
use crate::topology::MAX_BATCH_EVENTS;

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
        let generator = DemoEventGenerator::new(self.seed);
        Ok(Box::pin(run(generator, count, interval, cx)))
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn run(
    mut generator: DemoEventGenerator,
    count: u64,
    interval: Duration,
    mut cx: SourceContext,
) -> Result<(), ComponentError> {
    let source_id = intern_id(&cx.id);
    // One event per tick when paced; full batches when unpaced.
    let per_batch = if interval.is_zero() {
        MAX_BATCH_EVENTS as u64
    } else {
        1
    };
    let mut ticker = (!interval.is_zero()).then(|| {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    let mut emitted = 0;
    let mut acks: OrderedAcks<usize> = OrderedAcks::new();
    let mut undelivered: u64 = 0;
    while emitted < count {
        if let Some(ticker) = &mut ticker {
            tokio::select! {
                biased;
                () = cx.shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
        } else if cx.shutdown.is_cancelled() {
            break;
        }
        let size = per_batch.min(count - emitted);
        let (notifier, receiver) = BatchNotifier::new();
        let time = now_ms();
        let batch: Vec<Event> = (0..size)
            .map(|_| {
                Event::from_source(
                    generator.generate(time),
                    source_id,
                    Some(notifier.finalizer()),
                )
            })
            .collect();
        drop(notifier);
        emitted += size;
        cx.metrics.received(batch.len());
        acks.push(batch.len(), receiver);
        tokio::select! {
            biased;
            // Generated but never emitted: nothing to deliver, nobody waits for it.
            () = cx.shutdown.cancelled() => {
                acks.pop_back();
                break;
            }
            sent = cx.out.send(batch) => sent.map_err(|e| ComponentError(format!("conductorone_demo: {e}")))?,
        }
        while let Some((size, status)) = acks.try_next_ready() {
            undelivered += status.undelivered(size);
        }
    }
    // Close the output first: a sink that batches until its input ends (aws_s3) flushes now,
    // instead of both sides waiting for each other until its batch timeout.
    drop(cx.out);
    while let Some((size, status)) = acks.next_ready().await {
        undelivered += status.undelivered(size);
    }
    if undelivered > 0 {
        return Err(ComponentError(format!(
            "{undelivered} demo events were not delivered"
        )));
    }
    Ok(())
}
