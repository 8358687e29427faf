//! An in-process OTLP/HTTP logs receiver, following the contract in `docs/otlp.md`: `POST
//! /v1/logs` with a protobuf (`application/x-protobuf`) or OTLP/JSON (`application/json`)
//! `ExportLogsServiceRequest`, optionally gzip-compressed, decoded with the
//! `opentelemetry-proto` crate's generated types; answers 200 with an
//! `ExportLogsServiceResponse` in the request's format, or an error status with a
//! `google.rpc.Status` body, and a script of faults to answer with first.
//!
//! Used by `tests/opentelemetry_sink.rs` and `benches/opentelemetry.rs` (through `#[path]`).
// Each user needs a different part.
#![allow(dead_code)]

#[allow(clippy::duplicate_mod)]
#[path = "serve.rs"]
mod serve;

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;

/// An answer the receiver gives to the next request instead of accepting it.
#[derive(Clone, Debug)]
pub enum Fault {
    /// This HTTP status (not stored), with `Retry-After` seconds when given and a
    /// `google.rpc.Status` message.
    Status(u16, Option<u64>, &'static str),
    /// 200 and stored, but with `partial_success.rejected_log_records = n`.
    PartialSuccess(i64, &'static str),
}

/// One request the receiver accepted.
#[derive(Clone, Debug)]
pub struct Received {
    pub request: ExportLogsServiceRequest,
    pub content_type: String,
    pub gzip: bool,
    pub authorization: Option<String>,
    pub headers: HeaderMap,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    faults: VecDeque<Fault>,
    /// Requests answered, faults included.
    requests: usize,
    /// Count records only (benchmarks): keep no request.
    counting_only: bool,
    records: usize,
}

/// A running receiver; stops when dropped.
pub struct OtlpServer {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtlpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OtlpServer {
    /// Starts a receiver on a fresh local port.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/v1/logs", post(export))
            .with_state(Arc::clone(&inner));
        let (addr, task) = serve::serve_local(app).await;
        Self { addr, inner, task }
    }

    /// The logs endpoint, `http://127.0.0.1:<port>/v1/logs`.
    pub fn uri(&self) -> String {
        format!("http://{}/v1/logs", self.addr)
    }

    /// Answers the next requests with `faults`, in order.
    pub fn fail_with(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().unwrap().faults.extend(faults);
    }

    /// Keeps only a count of records (for benchmarks).
    pub fn count_only(&self) {
        self.inner.lock().unwrap().counting_only = true;
    }

    /// The requests accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Every record accepted so far, in arrival order.
    pub fn records(&self) -> Vec<LogRecord> {
        self.received()
            .into_iter()
            .flat_map(|received| received.request.resource_logs)
            .flat_map(|resource| resource.scope_logs)
            .flat_map(|scope| scope.log_records)
            .collect()
    }

    /// Records accepted so far (also in counting-only mode).
    pub fn record_count(&self) -> usize {
        self.inner.lock().unwrap().records
    }

    /// Requests answered so far, faults included.
    pub fn requests(&self) -> usize {
        self.inner.lock().unwrap().requests
    }
}

/// `google.rpc.Status`, the body of OTLP error responses.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn export(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let json = content_type.starts_with("application/json");
    if !json && content_type != "application/x-protobuf" {
        return status_response(415, None, "unsupported content type", json);
    }
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|value| value == "gzip");
    let request = match decode(&body, gzip, json) {
        Ok(request) => request,
        Err(message) => return status_response(400, None, &message, json),
    };
    let mut inner = inner.lock().unwrap();
    inner.requests += 1;
    let mut rejected = None;
    match inner.faults.pop_front() {
        Some(Fault::Status(status, retry_after, message)) => {
            return status_response(status, retry_after, message, json);
        }
        Some(Fault::PartialSuccess(n, message)) => rejected = Some((n, message)),
        None => {}
    }
    let records: usize = request
        .resource_logs
        .iter()
        .flat_map(|resource| &resource.scope_logs)
        .map(|scope| scope.log_records.len())
        .sum();
    inner.records += records;
    if !inner.counting_only {
        inner.received.push(Received {
            request,
            content_type,
            gzip,
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            headers,
        });
    }
    let response = ExportLogsServiceResponse {
        partial_success: rejected.map(|(n, message)| ExportLogsPartialSuccess {
            rejected_log_records: n,
            error_message: message.to_owned(),
        }),
    };
    let (body, content_type) = if json {
        (serde_json::to_vec(&response).unwrap(), "application/json")
    } else {
        (
            prost::Message::encode_to_vec(&response),
            "application/x-protobuf",
        )
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn decode(body: &[u8], gzip: bool, json: bool) -> Result<ExportLogsServiceRequest, String> {
    let mut plain = Vec::new();
    let body = if gzip {
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut plain)
            .map_err(|error| format!("gzip: {error}"))?;
        &plain[..]
    } else {
        body
    };
    if json {
        serde_json::from_slice(body).map_err(|error| format!("OTLP/JSON: {error}"))
    } else {
        prost::Message::decode(body).map_err(|error| format!("protobuf: {error}"))
    }
}

fn status_response(status: u16, retry_after: Option<u64>, message: &str, json: bool) -> Response {
    let rpc = RpcStatus {
        code: 3,
        message: message.to_owned(),
    };
    let (body, content_type) = if json {
        (
            serde_json::json!({"code": rpc.code, "message": rpc.message})
                .to_string()
                .into_bytes(),
            "application/json",
        )
    } else {
        (
            prost::Message::encode_to_vec(&rpc),
            "application/x-protobuf",
        )
    };
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, seconds.to_string().parse().unwrap());
    }
    response
}
