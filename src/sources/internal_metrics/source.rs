//! The `internal_metrics` run loop: every `scrape_interval_secs`, one batch of metric events.

use vrl::value::{ObjectMap, Value};

use super::config::Settings;
use crate::component::{ComponentError, SourceContext};
use crate::event::{Event, intern_id};
use crate::metrics::{MetricSample, SampleKind};

pub(super) async fn run(settings: Settings, mut cx: SourceContext) -> Result<(), ComponentError> {
    let source_id = intern_id(&cx.id);
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cx.shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = chrono::Utc::now();
        // Metrics are readings, not a record to keep: nobody waits for their delivery.
        let mut batch: Vec<Event> = cx
            .registry
            .samples()
            .iter()
            .map(|sample| Event::from_source(metric_event(sample, &settings, now), source_id, None))
            .collect();
        cx.metrics.received_events(&mut batch);
        tokio::select! {
            biased;
            () = cx.shutdown.cancelled() => break,
            sent = cx.out.send(batch) => {
                if sent.is_err() {
                    return Err(ComponentError("every consumer of the source stopped".into()));
                }
            }
        }
    }
    Ok(())
}

/// A sample as Vector's JSON encoding of a metric: `name`, `namespace`, `tags`, `timestamp`,
/// `kind` (`absolute`: the value is the total so far) and `counter` or `gauge`.
fn metric_event(
    sample: &MetricSample,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let mut tags: ObjectMap = sample
        .tags
        .iter()
        .map(|(key, value)| (key.as_str().into(), Value::from(value.as_str())))
        .collect();
    for (key, value) in &settings.tags {
        tags.insert(key.as_str().into(), Value::from(value.as_str()));
    }
    let mut value = ObjectMap::new();
    value.insert("value".into(), Value::from_f64_or_zero(sample.value));
    let mut event = ObjectMap::new();
    event.insert("name".into(), Value::from(sample.name.as_str()));
    event.insert("namespace".into(), Value::from(settings.namespace.as_str()));
    event.insert("tags".into(), Value::Object(tags));
    event.insert("timestamp".into(), Value::Timestamp(now));
    event.insert("kind".into(), Value::from("absolute"));
    let kind = match sample.kind {
        SampleKind::Counter => "counter",
        SampleKind::Gauge => "gauge",
    };
    event.insert(kind.into(), Value::Object(value));
    Value::Object(event)
}
