//! An in-process Splunk HTTP Event Collector, faithful to the contract in
//! `docs/splunk-hec.md` (tokens, gzip, concatenated JSON, channels, `ackId` per channel,
//! `/ack`, health, the status codes and bodies of Splunk's troubleshooting table), with fault
//! injection for the sink's tests and a counting-only mode for the benchmark.
//!
//! Used by `tests/splunk_hec.rs` and `benches/splunk_hec.rs` (through `#[path]`).
// Each user needs a different part.
#![allow(dead_code)]
// Error responses are built once per request in a test server: their size does not matter.
#![allow(clippy::result_large_err)]

// Each server file is included on its own; a test including two has two copies.
#[allow(clippy::duplicate_mod)]
#[path = "serve.rs"]
mod serve;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::{Value, json};

/// One event as Splunk would index it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The `event` of the envelope (a string for the raw endpoint).
    pub event: Value,
    /// Envelope (or query) metadata.
    pub index: Option<String>,
    pub source: Option<String>,
    pub sourcetype: Option<String>,
    pub host: Option<String>,
    /// `time` as sent.
    pub time: Option<f64>,
    /// `fields` as sent.
    pub fields: Option<Value>,
    /// The channel of the request.
    pub channel: Option<String>,
    /// Which endpoint: `event` or `raw`.
    pub endpoint: &'static str,
}

/// Faults to inject; change them while the server runs with [`HecServer::faults`].
#[derive(Debug, Default)]
pub struct Faults {
    /// Answers given to the next event POSTs instead of processing them: status, body and
    /// an optional `Retry-After`.
    pub respond_next: VecDeque<(u16, Value, Option<String>)>,
    /// How long after a request an ack id turns true.
    pub ack_delay: Duration,
    /// The next this many ack ids never turn true (`usize::MAX`: no ack ever does, a HEC
    /// that accepts events and never indexes them).
    pub drop_next_acks: usize,
    /// Bodies (as received, compressed or not) larger than this get 413 code 27.
    pub max_content_length: Option<usize>,
    /// Health answers 503 code 18 and event POSTs 503 code 9.
    pub unhealthy: bool,
    /// The health endpoint's answer instead of the real one: status and body.
    pub health_answer: Option<(u16, Value)>,
}

/// Counters of what the server saw.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Event / raw POSTs.
    pub posts: u64,
    /// Of which gzip-encoded.
    pub gzip_posts: u64,
    /// POSTs by response status.
    pub statuses: HashMap<u16, u64>,
    /// `/ack` queries.
    pub ack_queries: u64,
    /// Ack ids handed out.
    pub ack_ids: u64,
    /// Channels seen.
    pub channels: HashSet<String>,
    /// Events indexed (also counted when not recorded).
    pub events: u64,
    /// Largest decoded body.
    pub max_body: usize,
    /// Most ack ids handed out and not yet reported true, at any moment.
    pub max_unacked: usize,
    /// The query parameters of each event-endpoint POST, and when it arrived.
    pub event_posts: Vec<(HashMap<String, String>, Instant)>,
}

#[derive(Default)]
struct Channel {
    next_id: u64,
    /// Ack id → (when it turns true, or never).
    pending: HashMap<u64, Option<Instant>>,
}

struct ServerState {
    /// Token → whether it has indexer acknowledgement.
    tokens: HashMap<String, bool>,
    /// When set, other indexes get code 7.
    indexes: Option<HashSet<String>>,
    record: bool,
    events: Vec<Received>,
    channels: HashMap<String, Channel>,
    faults: Faults,
    stats: Stats,
}

/// Server configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Token → whether it has indexer acknowledgement.
    pub tokens: Vec<(String, bool)>,
    /// Indexes that exist (`None`: any).
    pub indexes: Option<Vec<String>>,
    /// Keep every event (tests) or only count them (benchmark).
    pub record: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            tokens: vec![
                (ACK_TOKEN.to_owned(), true),
                (NO_ACK_TOKEN.to_owned(), false),
            ],
            indexes: None,
            record: true,
        }
    }
}

/// A token with indexer acknowledgement.
pub const ACK_TOKEN: &str = "11111111-2222-3333-4444-555555555555";
/// A token without indexer acknowledgement.
pub const NO_ACK_TOKEN: &str = "66666666-7777-8888-9999-000000000000";

/// A running emulator.
pub struct HecServer {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<ServerState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HecServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = Arc<Mutex<ServerState>>;

fn lock(state: &Shared) -> MutexGuard<'_, ServerState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl HecServer {
    /// Starts on 127.0.0.1 (any port), on the current tokio runtime.
    pub async fn start(config: ServerConfig) -> Self {
        let state = Arc::new(Mutex::new(ServerState {
            tokens: config.tokens.into_iter().collect(),
            indexes: config.indexes.map(|i| i.into_iter().collect()),
            record: config.record,
            events: Vec::new(),
            channels: HashMap::new(),
            faults: Faults::default(),
            stats: Stats::default(),
        }));
        let app = Router::new()
            .route("/services/collector", post_endpoint(event_request, true))
            .route(
                "/services/collector/event",
                post_endpoint(event_request, true),
            )
            .route(
                "/services/collector/event/1.0",
                post_endpoint(event_request, true),
            )
            .route("/services/collector/raw", post_endpoint(raw_request, true))
            .route("/services/collector/ack", post_endpoint(ack_request, false))
            .route("/services/collector/health", get(health_endpoint))
            .route("/services/collector/health/1.0", get(health_endpoint))
            .with_state(Arc::clone(&state));
        let (addr, task) = serve::serve_local(app).await;
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every event indexed so far.
    pub fn events(&self) -> Vec<Received> {
        lock(&self.state).events.clone()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        lock(&self.state).stats.clone()
    }

    /// Changes the injected faults.
    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut lock(&self.state).faults);
    }

    /// Answers queued in [`Faults::respond_next`] and not given yet.
    pub fn queued_answers(&self) -> usize {
        lock(&self.state).faults.respond_next.len()
    }

    /// Adds (or changes) a token.
    pub fn set_token(&self, token: &str, acks: bool) {
        lock(&self.state).tokens.insert(token.to_owned(), acks);
    }
}

fn hec(status: u16, text: &str, code: i64) -> Response {
    reply(status, json!({ "text": text, "code": code }), None)
}

fn reply(status: u16, body: Value, retry_after: Option<&str>) -> Response {
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

fn invalid_event(status: u16, text: &str, code: i64, index: usize) -> Response {
    reply(
        status,
        json!({ "text": text, "code": code, "invalid-event-number": index }),
        None,
    )
}

/// Checks the token: `Ok(has_acks)` or the error response.
fn authorize(state: &ServerState, headers: &HeaderMap) -> Result<bool, Response> {
    let Some(value) = headers.get("authorization") else {
        return Err(hec(401, "Token is required", 2));
    };
    let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Splunk ")) else {
        return Err(hec(401, "Invalid authorization", 3));
    };
    state
        .tokens
        .get(token.trim())
        .copied()
        .ok_or_else(|| hec(403, "Invalid token", 4))
}

/// The request's channel (header or `channel` query parameter), checked.
fn channel(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    acks: bool,
) -> Result<Option<String>, Response> {
    let channel = headers
        .get("x-splunk-request-channel")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.get("channel").cloned());
    match channel {
        None if acks => Err(hec(400, "Data channel is missing", 10)),
        Some(channel) if uuid::Uuid::parse_str(&channel).is_err() => {
            Err(hec(400, "Invalid data channel", 11))
        }
        other => Ok(other),
    }
}

/// Common checks of the event and raw endpoints; returns the decoded body.
fn admit(
    state: &mut ServerState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Result<(bool, Option<String>, Vec<u8>), Response> {
    state.stats.posts += 1;
    let acks = authorize(state, headers)?;
    let channel = channel(headers, query, acks)?;
    if let Some(channel) = &channel {
        state.stats.channels.insert(channel.clone());
    }
    if state.faults.unhealthy {
        return Err(hec(503, "Server is busy", 9));
    }
    if let Some((status, body, retry_after)) = state.faults.respond_next.pop_front() {
        return Err(reply(status, body, retry_after.as_deref()));
    }
    if let Some(limit) = state.faults.max_content_length
        && body.len() > limit
    {
        return Err(hec(413, "Content length too large", 27));
    }
    let gzip = headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let decoded = if gzip {
        state.stats.gzip_posts += 1;
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .is_err()
        {
            return Err(invalid_event(400, "Invalid data format", 6, 0));
        }
        out
    } else {
        body.to_vec()
    };
    state.stats.max_body = state.stats.max_body.max(decoded.len());
    if decoded.iter().all(u8::is_ascii_whitespace) {
        return Err(hec(400, "No data", 5));
    }
    Ok((acks, channel, decoded))
}

/// The success answer, with an ack id when the token has acknowledgement.
fn accept(state: &mut ServerState, acks: bool, channel: Option<String>) -> Response {
    if !acks {
        return hec(200, "Success", 0);
    }
    let channel = channel.unwrap_or_default();
    let ready = if state.faults.drop_next_acks > 0 {
        state.faults.drop_next_acks -= 1;
        None
    } else {
        Some(Instant::now() + state.faults.ack_delay)
    };
    let entry = state.channels.entry(channel).or_default();
    let id = entry.next_id;
    entry.next_id += 1;
    entry.pending.insert(id, ready);
    let unacked = state.channels.values().map(|c| c.pending.len()).sum();
    state.stats.max_unacked = state.stats.max_unacked.max(unacked);
    state.stats.ack_ids += 1;
    reply(
        200,
        json!({ "text": "Success", "code": 0, "ackId": id }),
        None,
    )
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn finish(state: &mut ServerState, status: &Response) {
    *state
        .stats
        .statuses
        .entry(status.status().as_u16())
        .or_default() += 1;
}

/// What a POST to the collector carries.
struct Post {
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
}

/// How a POST endpoint answers, from the locked server state.
type PostHandler = fn(&mut ServerState, &Post) -> Response;

/// A POST endpoint answered by `handle`; with `counted`, the answer's status is counted (see
/// [`finish`]).
fn post_endpoint(handle: PostHandler, counted: bool) -> MethodRouter<Shared> {
    post(
        move |State(state): State<Shared>,
              Query(query): Query<HashMap<String, String>>,
              headers: HeaderMap,
              body: Bytes| async move {
            let mut state = lock(&state);
            let post = Post {
                query,
                headers,
                body,
            };
            let response = handle(&mut state, &post);
            if counted {
                finish(&mut state, &response);
            }
            response
        },
    )
}

fn event_request(state: &mut ServerState, post: &Post) -> Response {
    let (query, headers, body) = (&post.query, &post.headers, &post.body);
    state
        .stats
        .event_posts
        .push((query.clone(), Instant::now()));
    let (acks, channel, decoded) = match admit(state, headers, query, body) {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    if !state.record {
        // Counting mode (benchmark): check the JSON, keep nothing.
        let mut count = 0;
        for item in
            serde_json::Deserializer::from_slice(&decoded).into_iter::<serde::de::IgnoredAny>()
        {
            if item.is_err() {
                return invalid_event(400, "Invalid data format", 6, count);
            }
            count += 1;
        }
        state.stats.events += count as u64;
        return accept(state, acks, channel);
    }
    let mut batch = Vec::new();
    for (index, item) in serde_json::Deserializer::from_slice(&decoded)
        .into_iter::<Value>()
        .enumerate()
    {
        let Ok(Value::Object(envelope)) = item else {
            return invalid_event(400, "Invalid data format", 6, index);
        };
        let event = match envelope.get("event") {
            None => return invalid_event(400, "Event field is required", 12, index),
            Some(Value::Null) => {
                return invalid_event(400, "Event field cannot be blank", 13, index);
            }
            Some(Value::String(s)) if s.is_empty() => {
                return invalid_event(400, "Event field cannot be blank", 13, index);
            }
            Some(event) => event.clone(),
        };
        if event.get("hec_invalid") == Some(&Value::Bool(true)) {
            return invalid_event(400, "Invalid data format", 6, index);
        }
        let index_name = text(envelope.get("index"));
        if let (Some(allowed), Some(name)) = (&state.indexes, &index_name)
            && !allowed.contains(name)
        {
            return invalid_event(400, "Incorrect index", 7, index);
        }
        batch.push(Received {
            event,
            index: index_name,
            source: text(envelope.get("source")),
            sourcetype: text(envelope.get("sourcetype")),
            host: text(envelope.get("host")),
            time: envelope.get("time").and_then(Value::as_f64),
            fields: envelope.get("fields").cloned(),
            channel: channel.clone(),
            endpoint: "event",
        });
    }
    state.stats.events += batch.len() as u64;
    state.events.extend(batch);
    accept(state, acks, channel)
}

fn raw_request(state: &mut ServerState, post: &Post) -> Response {
    let (query, headers, body) = (&post.query, &post.headers, &post.body);
    match admit(state, headers, query, body) {
        Err(response) => response,
        Ok((acks, channel, decoded)) => {
            let index = query.get("index").cloned();
            if let (Some(allowed), Some(name)) = (&state.indexes, &index)
                && !allowed.contains(name)
            {
                hec(400, "Incorrect index", 7)
            } else {
                let lines: Vec<Received> = String::from_utf8_lossy(&decoded)
                    .lines()
                    .filter(|line| !line.trim().is_empty())
                    .map(|line| Received {
                        event: Value::String(line.to_owned()),
                        index: index.clone(),
                        source: query.get("source").cloned(),
                        sourcetype: query.get("sourcetype").cloned(),
                        host: query.get("host").cloned(),
                        time: None,
                        fields: None,
                        channel: channel.clone(),
                        endpoint: "raw",
                    })
                    .collect();
                state.stats.events += lines.len() as u64;
                if state.record {
                    state.events.extend(lines);
                }
                accept(state, acks, channel)
            }
        }
    }
}

fn ack_request(state: &mut ServerState, post: &Post) -> Response {
    let (query, headers, body) = (&post.query, &post.headers, &post.body);
    state.stats.ack_queries += 1;
    let acks = match authorize(state, headers) {
        Ok(acks) => acks,
        Err(response) => return response,
    };
    if !acks {
        return hec(400, "ACK is disabled", 14);
    }
    let channel = match channel(headers, query, true) {
        Ok(channel) => channel.unwrap_or_default(),
        Err(response) => return response,
    };
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return hec(400, "Invalid data format", 6);
    };
    let Some(ids) = request.get("acks").and_then(Value::as_array) else {
        return hec(400, "Invalid data format", 6);
    };
    let now = Instant::now();
    let pending = &mut state.channels.entry(channel).or_default().pending;
    let mut answer = serde_json::Map::new();
    for id in ids.iter().filter_map(Value::as_u64) {
        // An id is reported true once, then forgotten.
        let ready = matches!(pending.get(&id), Some(Some(at)) if *at <= now);
        if ready {
            pending.remove(&id);
        }
        answer.insert(id.to_string(), Value::Bool(ready));
    }
    reply(200, json!({ "acks": answer }), None)
}

async fn health_endpoint(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = lock(&state);
    if let Some((status, body)) = &state.faults.health_answer {
        return reply(*status, body.clone(), None);
    }
    if headers.get("authorization").is_some() && authorize(&state, &headers).is_err() {
        return hec(400, "Invalid token", 4);
    }
    if state.faults.unhealthy {
        return hec(503, "HEC is unhealthy, queues are full", 18);
    }
    hec(200, "HEC is healthy", 17)
}
