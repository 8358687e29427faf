//! `[api]`: `GET /health` for probes and `GET /components` (per-component totals and rates,
//! what `c1-pipeline top` shows), read-only, on `address` (default `127.0.0.1:8686`, as
//! Vector's).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Phase, RunState, http};
use crate::metrics::{MetricsRegistry, MetricsSnapshot};

/// The `[api]` table (Vector's option names).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Serve the API. Default `false`.
    #[serde(default)]
    pub enabled: bool,
    /// Where to listen. Default `127.0.0.1:8686`.
    #[serde(default = "default_address")]
    pub address: SocketAddr,
    /// Accepted for Vector's configurations; there is no GraphQL playground here.
    #[serde(default)]
    pub playground: Option<bool>,
    /// Accepted for Vector's configurations; there is no GraphQL endpoint here.
    #[serde(default)]
    pub graphql: Option<bool>,
}

fn default_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8686))
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            address: default_address(),
            playground: None,
            graphql: None,
        }
    }
}

/// One component's row of `GET /components`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ComponentRow {
    /// `component_id`
    pub component_id: String,
    /// `source`, `transform` or `sink`.
    pub component_kind: String,
    /// The component's `type`.
    pub component_type: String,
    /// `component_received_events_total`
    pub received_events_total: u64,
    /// `component_sent_events_total`
    pub sent_events_total: u64,
    /// `component_received_event_bytes_total`
    #[serde(default)]
    pub received_event_bytes_total: u64,
    /// `component_sent_event_bytes_total`
    #[serde(default)]
    pub sent_event_bytes_total: u64,
    /// `component_discarded_events_total`
    pub discarded_events_total: u64,
    /// `component_errors_total`
    pub errors_total: u64,
    /// Events received per second over the last second or so.
    pub received_events_per_sec: f64,
    /// Events sent per second over the last second or so.
    pub sent_events_per_sec: f64,
}

/// The body of `GET /components`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ComponentsReport {
    /// One row per component, in configuration order.
    pub components: Vec<ComponentRow>,
}

/// What the handlers read.
struct Shared {
    state: Arc<RunState>,
    registry: Arc<MetricsRegistry>,
    /// The two latest samples of the counters (taken each second), for the rates.
    samples: Mutex<(Sample, Sample)>,
}

type Sample = (Instant, Vec<MetricsSnapshot>);

/// A running API server; dropping it does not stop it, [`ApiServer::stop`] does.
#[derive(Debug)]
pub struct ApiServer {
    address: SocketAddr,
    stop: CancellationToken,
}

/// The API address cannot be listened on.
#[derive(Debug, thiserror::Error)]
#[error("api.address: cannot listen on {address}: {source}")]
pub struct BindError {
    /// The address.
    pub address: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// Checks that `config`'s address can be listened on (what `validate` does).
pub fn check_bind(config: &ApiConfig) -> Result<(), BindError> {
    if config.enabled {
        http::listener(config.address).map_err(|source| BindError {
            address: config.address,
            source,
        })?;
    }
    Ok(())
}

impl ApiServer {
    /// Starts serving on `config.address`, on the current Tokio runtime.
    pub fn start(
        config: &ApiConfig,
        state: Arc<RunState>,
        registry: Arc<MetricsRegistry>,
    ) -> Result<Self, BindError> {
        let address = config.address;
        let listener = http::listener(address).map_err(|source| BindError { address, source })?;
        let now = (Instant::now(), registry.snapshot());
        let shared = Arc::new(Shared {
            state,
            registry,
            samples: Mutex::new((now.clone(), now)),
        });
        let stop = CancellationToken::new();
        tokio::spawn(sample_every_second(Arc::clone(&shared), stop.clone()));
        let router = axum::Router::new()
            .route("/health", get(health))
            .route("/components", get(components))
            .with_state(shared);
        let serving = stop.clone();
        tokio::spawn(async move {
            if let Err(error) = http::serve(listener, router, None, serving).await {
                tracing::error!(%address, %error, "the API server stopped");
            }
        });
        tracing::info!(%address, "API listening (GET /health, GET /components)");
        Ok(Self { address, stop })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops serving and closes the listener.
    pub fn stop(self) {
        self.stop.cancel();
        http::release(self.address);
    }
}

async fn sample_every_second(shared: Arc<Shared>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while stop.run_until_cancelled(tick.tick()).await.is_some() {
        let now = (Instant::now(), shared.registry.snapshot());
        let mut samples = shared.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.0 = std::mem::replace(&mut samples.1, now);
    }
}

async fn health(State(shared): State<Arc<Shared>>) -> (StatusCode, Json<serde_json::Value>) {
    match shared.state.get() {
        Phase::Running => (StatusCode::OK, Json(serde_json::json!({ "ok": true }))),
        phase => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "ok": false, "phase": format!("{phase:?}").to_lowercase() })),
        ),
    }
}

async fn components(State(shared): State<Arc<Shared>>) -> Json<ComponentsReport> {
    let ((then, before), (now, after)) = shared
        .samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let seconds = now.duration_since(then).as_secs_f64();
    let rate = |new: u64, old: Option<u64>| match old {
        Some(old) if seconds > 0.0 => new.saturating_sub(old) as f64 / seconds,
        _ => 0.0,
    };
    let components = shared
        .registry
        .snapshot()
        .into_iter()
        .map(|current| {
            let sampled = after.iter().find(|s| s.component == current.component);
            let previous = before.iter().find(|s| s.component == current.component);
            let id = current
                .component
                .split_once('.')
                .map_or(current.component.as_str(), |(_, id)| id);
            ComponentRow {
                component_id: id.to_owned(),
                component_kind: current.component_kind.clone(),
                component_type: current.component_type.clone(),
                received_events_total: current.received_events,
                sent_events_total: current.sent_events,
                received_event_bytes_total: current.received_event_bytes,
                sent_event_bytes_total: current.sent_event_bytes,
                discarded_events_total: current.discarded_events,
                errors_total: current.errors,
                received_events_per_sec: rate(
                    sampled.map_or(0, |s| s.received_events),
                    previous.map(|s| s.received_events),
                ),
                sent_events_per_sec: rate(
                    sampled.map_or(0, |s| s.sent_events),
                    previous.map(|s| s.sent_events),
                ),
            }
        })
        .collect();
    Json(ComponentsReport { components })
}
