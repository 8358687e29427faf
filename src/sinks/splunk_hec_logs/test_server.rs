//! A scripted HEC for the unit tests of the delivery loop and the ack poller: each event POST
//! gets the next scripted answer (then 200), the ack endpoint answers as told, and every
//! request body is recorded.

#[allow(unreachable_pub)]
#[path = "../../../tests/common/serve.rs"]
mod serve;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::SplunkHecLogsConfig;
use super::client::HecClient;

/// How the ack endpoint answers.
#[derive(Clone, Copy, Debug)]
pub(super) enum Acks {
    /// Every id asked about is indexed.
    AllTrue,
    /// No id is indexed yet.
    AllFalse,
    /// This HTTP status, with a HEC error body.
    Status(u16),
}

/// What the server has been told and has seen.
pub(super) struct Script {
    /// Answers to the next event POSTs: status, body, `Retry-After`.
    pub events: VecDeque<(u16, Value, Option<&'static str>)>,
    /// How `/ack` answers.
    pub acks: Acks,
    /// Bodies of the event POSTs, in order.
    pub bodies: Vec<String>,
    /// Ack queries received.
    pub ack_queries: usize,
}

/// A running scripted HEC.
#[derive(Clone)]
pub(super) struct TestHec {
    script: Arc<Mutex<Script>>,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl TestHec {
    /// Starts a server answering `events` in turn, then 200 with `ackId` 7.
    pub(super) async fn start(events: Vec<(u16, Value, Option<&'static str>)>, acks: Acks) -> Self {
        let script = Arc::new(Mutex::new(Script {
            events: events.into(),
            acks,
            bodies: Vec::new(),
            ack_queries: 0,
        }));
        let app = Router::new()
            .route("/services/collector/event", post(event))
            .route("/services/collector/ack", post(ack))
            .with_state(Arc::clone(&script));
        let (addr, _task) = serve::serve_local(app).await;
        let endpoint = format!("http://{addr}");
        Self { script, endpoint }
    }

    /// What the server has seen.
    pub(super) fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A client of this server (event endpoint, `extra` TOML options).
    pub(super) fn client(&self, extra: &str) -> HecClient {
        let config: SplunkHecLogsConfig = toml::from_str(&format!(
            "endpoint = \"{}\"\ndefault_token = \"t\"\nencoding.codec = \"json\"\n{extra}",
            self.endpoint
        ))
        .expect("valid options");
        HecClient::new(&config).expect("a client")
    }
}

async fn event(State(script): State<Arc<Mutex<Script>>>, body: String) -> Response {
    let mut script = script.lock().unwrap_or_else(|e| e.into_inner());
    script.bodies.push(body);
    let (status, body, retry_after) = script.events.pop_front().unwrap_or((
        200,
        json!({"text": "Success", "code": 0, "ackId": 7}),
        None,
    ));
    let mut headers = HeaderMap::new();
    if let Some(value) = retry_after {
        headers.insert("retry-after", value.parse().expect("a header value"));
    }
    let status = StatusCode::from_u16(status).expect("a status");
    (status, headers, axum::Json(body)).into_response()
}

async fn ack(State(script): State<Arc<Mutex<Script>>>, body: String) -> Response {
    let mut script = script.lock().unwrap_or_else(|e| e.into_inner());
    script.ack_queries += 1;
    let asked: Value = serde_json::from_str(&body).unwrap_or_default();
    let ids = asked["acks"].as_array().cloned().unwrap_or_default();
    let answer = |acked: bool| {
        let acks: serde_json::Map<String, Value> = ids
            .iter()
            .map(|id| (id.to_string(), Value::Bool(acked)))
            .collect();
        axum::Json(json!({ "acks": acks })).into_response()
    };
    match script.acks {
        Acks::AllTrue => answer(true),
        Acks::AllFalse => answer(false),
        Acks::Status(status) => (
            StatusCode::from_u16(status).expect("a status"),
            axum::Json(json!({"text": "Invalid data format", "code": 6})),
        )
            .into_response(),
    }
}
