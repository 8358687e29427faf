//! The `prometheus_exporter` run loop: keep the latest value of every series received, and
//! serve them at `GET /metrics`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use vrl::value::Value;

use super::config::Settings;
use crate::ack::BatchStatus;
use crate::component::{ComponentError, SinkContext};
use crate::event::finish_batch;
use crate::metrics::{MetricSample, SampleKind};
use crate::observability::{http, prometheus};
use crate::ocsf::str_value;
use crate::secrets::Secret;

/// How often at most the sink warns about events that are not metrics.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// A series: its full name (with namespace) and its labels.
type SeriesKey = (String, BTreeMap<String, String>);

/// The latest value of every series, and when it last changed.
#[derive(Debug, Default)]
struct Store {
    series: HashMap<SeriesKey, (MetricSample, Instant)>,
}

/// What the `/metrics` handler reads.
struct Shared {
    store: Mutex<Store>,
    flush_period: Duration,
    authorization: Option<Secret>,
}

pub(super) async fn run(settings: Settings, mut cx: SinkContext) -> Result<(), ComponentError> {
    let shared = Arc::new(Shared {
        store: Mutex::new(Store::default()),
        flush_period: settings.flush_period,
        authorization: settings.authorization,
    });
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(Arc::clone(&shared));
    let stop = CancellationToken::new();
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let serving = http::serve(settings.listener, router, settings.tls, stop.clone());
    let server = tokio::spawn(serving.in_current_span());
    tracing::info!(address = %settings.address, scheme, "serving GET /metrics");
    let mut last_warning: Option<Instant> = None;
    while let Some(mut batch) = cx.input.recv().await {
        cx.metrics.received_events(&mut batch);
        let mut not_metrics = 0;
        let mut sent_bytes = 0;
        {
            let mut store = shared.store.lock().unwrap_or_else(|e| e.into_inner());
            for event in &batch {
                match parse(&event.value, settings.default_namespace.as_deref()) {
                    Some((sample, incremental)) => {
                        sent_bytes += event.json_size_now();
                        store.update(sample, incremental);
                    }
                    None => not_metrics += 1,
                }
            }
        }
        if not_metrics > 0 {
            cx.metrics.discarded(not_metrics);
            if last_warning.is_none_or(|at| at.elapsed() >= WARN_INTERVAL) {
                tracing::warn!(
                    events = not_metrics,
                    "events that are not metrics were dropped (this sink serves metric events, such as the internal_metrics source's)"
                );
                last_warning = Some(Instant::now());
            }
        }
        cx.metrics
            .sent_with_bytes(batch.len() - not_metrics, sent_bytes);
        finish_batch(batch, BatchStatus::Delivered);
    }
    // The listener stays open for the next topology (a reload); only this server stops.
    stop.cancel();
    let _ = server.await;
    Ok(())
}

impl Store {
    fn update(&mut self, sample: MetricSample, incremental: bool) {
        let key = (sample.name.clone(), sample.tags.clone());
        let now = Instant::now();
        match self.series.get_mut(&key) {
            Some((current, at)) if incremental && sample.kind == SampleKind::Counter => {
                current.value += sample.value;
                *at = now;
            }
            _ => {
                self.series.insert(key, (sample, now));
            }
        }
    }
}

/// A metric event (Vector's JSON shape): the sample named with its namespace, and whether
/// its value is an increment (`kind = "incremental"`) rather than the total.
fn parse(value: &Value, default_namespace: Option<&str>) -> Option<(MetricSample, bool)> {
    let object = value.as_object()?;
    let name = str_value(object.get("name")?)?;
    let namespace = object
        .get("namespace")
        .and_then(str_value)
        .or(default_namespace);
    let (kind, reading) = match (object.get("counter"), object.get("gauge")) {
        (Some(counter), _) => (SampleKind::Counter, counter),
        (None, Some(gauge)) => (SampleKind::Gauge, gauge),
        (None, None) => return None,
    };
    let number = match reading.as_object()?.get("value")? {
        Value::Float(float) => float.into_inner(),
        Value::Integer(integer) => *integer as f64,
        _ => return None,
    };
    let tags = match object.get("tags") {
        Some(Value::Object(tags)) => tags
            .iter()
            .filter_map(|(key, value)| {
                let text = match (value, str_value(value)) {
                    (_, Some(text)) => text.to_owned(),
                    (Value::Null, None) => return None,
                    (other, None) => other.to_string(),
                };
                Some((key.to_string(), text))
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let name = match namespace {
        Some(namespace) if !namespace.is_empty() => format!("{namespace}_{name}"),
        _ => name.to_owned(),
    };
    let incremental = object.get("kind").and_then(str_value) == Some("incremental");
    let sample = MetricSample {
        name,
        tags,
        kind,
        value: number,
    };
    Some((sample, incremental))
}

async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(expected) = &shared.authorization {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        if given != Some(expected.expose()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic, Bearer")],
                "unauthorized\n",
            )
                .into_response();
        }
    }
    let text = {
        let mut store = shared.store.lock().unwrap_or_else(|e| e.into_inner());
        let period = shared.flush_period;
        store.series.retain(|_, (_, at)| at.elapsed() < period);
        prometheus::render(store.series.values().map(|(sample, _)| (None, sample)))
    };
    ([(header::CONTENT_TYPE, http::PROMETHEUS_TEXT)], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vector_metric_events_and_refuses_others() {
        let event: Value = serde_json::json!({
            "name": "component_sent_events_total",
            "namespace": "vector",
            "tags": {"component_id": "demo"},
            "kind": "absolute",
            "counter": {"value": 42.0}
        })
        .into();
        let (sample, incremental) = parse(&event, None).expect("a metric");
        assert_eq!(sample.name, "vector_component_sent_events_total");
        assert_eq!(sample.tags["component_id"], "demo");
        assert_eq!(sample.value, 42.0);
        assert!(!incremental);
        let gauge: Value = serde_json::json!({"name": "up", "gauge": {"value": 1}}).into();
        let (sample, _) = parse(&gauge, Some("app")).expect("a gauge");
        assert_eq!(
            (sample.name.as_str(), sample.kind),
            ("app_up", SampleKind::Gauge)
        );
        let log: Value = serde_json::json!({"message": "hello"}).into();
        assert!(parse(&log, None).is_none());
    }
}
