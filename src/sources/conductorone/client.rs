//! The ListEvents call, its paging request, errors and retries.
//!
//! Facts (team notes on the ConductorOne API §3–4, from the OpenAPI spec in
//! `conductorone-sdk-typescript`, `conductorone-sdk-go` `systemlog.go` and `c1i`
//! `cmd/export_events.go`):
//!
//! * `POST /api/v1/systemlog/events` with a JSON body of lowerCamelCase fields: `pageSize`,
//!   `pageToken`, `since` (RFC 3339, inclusive), `until` (RFC 3339, exclusive),
//!   `sinceEventUid` (exclusive), `sortDirection` (`SORT_DIRECTION_ASC` = oldest first).
//!   Every filter is re-sent with each `pageToken`.
//! * The answer is `{"list": [OCSF object, …], "nextPageToken": "…"}`; either field may be absent
//!   (proto3 JSON), and an empty or absent token ends the listing.
//! * Error bodies are `{"code": int, "message": string, "details": [...]}` (gRPC status JSON),
//!   but may be anything: they are parsed leniently.
//! * Retried: 408, 429, 499, 500, 502, 503, 504 and connection errors / timeouts, honouring
//!   `Retry-After`; other 4xx are permanent. A 401 gets one fresh token, then fails. A 401
//!   DPoP challenge `use_dpop_nonce` with a `DPoP-Nonce` header (RFC 9449 §9) is answered once
//!   with a proof carrying that nonce; the newest nonce the API sent is used from then on.
//! * `GET /api/v1/auth/introspect` returns the credential's identity (`userId`,
//!   `principleId`, `roles`, `permissions`); used by the health check.
//!
//! Whatever the server says (error bodies, messages, request ids) goes through
//! [`secrets::redact`] before it reaches an error or a log: servers echo tokens back.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::Serialize;
use vrl::value::Value;

use super::token::{DPOP_HEADER, TokenClient, TokenError, sensitive};
use crate::metrics::ComponentMetrics;
use crate::retry::{Retries, Verdict, parse_retry_after, retry};
use crate::secrets;

/// Statuses worth retrying: timeouts, rate limits, client-closed and server-side failures.
pub(super) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 499 | 500 | 502 | 503 | 504)
}

/// Response headers that may carry a request id, in the order they are looked for. Which one
/// ConductorOne sets is not documented, so every common name is tried.
const REQUEST_ID_HEADERS: &[&str] = &[
    "x-request-id",
    "request-id",
    "x-c1-request-id",
    "grpc-metadata-x-request-id",
    "x-amzn-requestid",
];

/// The most of an unparsable error body that goes into a message.
const EXCERPT_CHARS: usize = 200;

/// The start of a response body, for an error message (lossy UTF-8, one line, every secret
/// hidden).
pub(super) fn error_excerpt(body: &[u8]) -> String {
    let text = secrets::redact(&String::from_utf8_lossy(body));
    let mut excerpt: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > EXCERPT_CHARS {
        excerpt.push('…');
    }
    if excerpt.trim().is_empty() {
        "(empty body)".to_owned()
    } else {
        excerpt
    }
}

/// A ConductorOne error answer: the status, and what the body and headers said.
#[derive(Clone, Debug, Default)]
pub(super) struct ErrorDetails {
    /// HTTP status.
    pub status: u16,
    /// The gRPC `code` from the body, when it is the usual error JSON.
    pub code: Option<i64>,
    /// The `message` from the body, or the start of a body that is not the usual JSON
    /// (redacted).
    pub message: String,
    /// The request id from the response headers, if any (redacted).
    pub request_id: Option<String>,
    /// The server's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
    /// A 401's `WWW-Authenticate` challenge, if any (redacted): with DPoP it names the
    /// refused proof (`error="invalid_dpop_proof"`).
    pub challenge: Option<String>,
}

impl fmt::Display for ErrorDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = self.code {
            write!(f, ", code {code}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        if let Some(challenge) = &self.challenge {
            write!(f, " (WWW-Authenticate: {challenge})")?;
        }
        Ok(())
    }
}

impl ErrorDetails {
    fn from_response(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Body {
            code: Option<i64>,
            message: Option<String>,
        }
        let (code, message) = match serde_json::from_slice::<Body>(body) {
            Ok(Body {
                code,
                message: Some(message),
            }) => (code, secrets::redact(&message)),
            Ok(Body {
                code,
                message: None,
            }) => (code, error_excerpt(body)),
            Err(_) => (None, error_excerpt(body)),
        };
        Self {
            status,
            code,
            message,
            request_id: request_id(headers),
            retry_after: headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now())),
            challenge: headers
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(|v| error_excerpt(v.as_bytes())),
        }
    }
}

/// The request id (redacted: a server may echo the request's own headers in it).
fn request_id(headers: &reqwest::header::HeaderMap) -> Option<String> {
    REQUEST_ID_HEADERS
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok().map(secrets::redact))
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ApiError {
    /// The API answered with an error status.
    #[error("ConductorOne API error: {0}")]
    Status(ErrorDetails),
    /// The API refused a freshly minted token too.
    #[error(
        "ConductorOne rejected a freshly minted access token ({0}); check that the credential is valid and not expired or revoked"
    )]
    Unauthorized(ErrorDetails),
    /// The credential lacks the permission (403).
    #[error(
        "the credential may not read the system log ({0}); give it a role with system-log access, or create it with the \"Read-Only to System Logs\" scope"
    )]
    Forbidden(ErrorDetails),
    /// No answer: connection error or timeout.
    #[error("cannot reach ConductorOne: {0}")]
    Transport(String),
    /// A 200 whose body is not the expected JSON.
    #[error("ConductorOne answered 200 with an unexpected body{}: {reason}", request_id.as_ref().map(|id| format!(" (request id {id})")).unwrap_or_default())]
    InvalidBody {
        /// What is wrong with it.
        reason: String,
        /// The request id, if any.
        request_id: Option<String>,
    },
    /// No access token.
    #[error("cannot get an access token: {0}")]
    Token(#[from] TokenError),
}

impl ApiError {
    /// A 200 whose body is unusable, for `reason` (which may quote the body: redacted).
    pub(super) fn invalid_body(reason: &str) -> Self {
        Self::InvalidBody {
            reason: secrets::redact(reason),
            request_id: None,
        }
    }

    /// Whether the same request may succeed later (it is then retried with backoff).
    pub(super) fn is_retryable(&self) -> bool {
        match self {
            Self::Status(details) => is_retryable_status(details.status),
            Self::Transport(_) => true,
            Self::Token(token) => token.is_retryable(),
            Self::Unauthorized(_) | Self::Forbidden(_) | Self::InvalidBody { .. } => false,
        }
    }

    /// A permanent error that no waiting can fix (the source stops).
    pub(super) fn is_fatal(&self) -> bool {
        matches!(self, Self::Token(token) if token.is_fatal())
    }

    /// A 4xx answer other than the retried ones (the server refused the request itself).
    pub(super) fn is_client_error(&self) -> bool {
        matches!(self, Self::Status(d) if (400..500).contains(&d.status) && !is_retryable_status(d.status))
    }

    /// What the server asked us to wait, if it did.
    pub(super) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status(details) => details.retry_after,
            _ => None,
        }
    }

    /// The metric label: the status, or the kind of failure.
    pub(super) fn label(&self) -> String {
        match self {
            Self::Status(d) | Self::Unauthorized(d) | Self::Forbidden(d) => d.status.to_string(),
            Self::Transport(_) => "transport".to_owned(),
            Self::InvalidBody { .. } => "invalid_body".to_owned(),
            Self::Token(token) => match token.status() {
                Some(status) => format!("token_{status}"),
                None => "token".to_owned(),
            },
        }
    }

    /// A transport error's description: its kind and causes (redacted: a proxy or TLS layer
    /// may quote what the server said).
    pub(super) fn describe_transport(error: &reqwest::Error) -> String {
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        let message = match std::error::Error::source(error) {
            Some(cause) => format!("{kind}: {}", crate::error_text::error_chain(cause)),
            None => kind.to_owned(),
        };
        secrets::redact(&message)
    }
}

/// The body of a ListEvents request (lowerCamelCase, as every official client sends).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListRequest {
    /// Events per page.
    pub page_size: u32,
    /// Always `SORT_DIRECTION_ASC`: oldest first, the order for incremental sync.
    pub sort_direction: &'static str,
    /// Only events at or after this RFC 3339 time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Only events before this RFC 3339 time (a bounded window's end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Only events after this event's `metadata.uid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_event_uid: Option<String>,
    /// The previous answer's `nextPageToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// Ascending order, the only one this source asks for.
pub(super) const SORT_ASC: &str = "SORT_DIRECTION_ASC";

/// One page of events.
#[derive(Debug, Default)]
pub(super) struct Page {
    /// The `list` items that are JSON objects, each an OCSF object, unchanged, in order.
    pub events: Vec<Value>,
    /// The `list` items that could not become events, in order.
    pub invalid: Vec<InvalidItem>,
    /// `nextPageToken`; `None` when absent or empty.
    pub next_page_token: Option<String>,
}

impl Page {
    /// The `metadata.uid` of the last invalid item that ends the page with no valid event
    /// after it: the cursor must move past it, or every poll would fetch it again.
    pub(super) fn trailing_invalid_uid(&self) -> Option<&str> {
        let total = self.events.len() + self.invalid.len();
        let mut expected = total;
        for item in self.invalid.iter().rev() {
            if item.index + 1 != expected {
                break;
            }
            expected -= 1;
            if item.uid.is_some() {
                return item.uid.as_deref();
            }
        }
        None
    }
}

/// An item of a page's `list` that cannot become an event: skipped, counted and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InvalidItem {
    /// Its position in `list`, from 0.
    pub index: usize,
    /// Its `metadata.uid`, when that much of it can be read.
    pub uid: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

/// A ListEvents answer before its events are decoded: the body, and its `nextPageToken`
/// (`None` when absent or empty), so the next request can go out while this page is decoded
/// by the task that sends its events (keeping each event on one core, from decoding to sink).
#[derive(Debug)]
pub(super) struct RawPage {
    /// The whole response body.
    pub body: Bytes,
    /// `nextPageToken`.
    pub next_page_token: Option<String>,
}

/// `nextPageToken` when it is the last member of the answer (protobuf JSON writes fields in
/// declaration order, `list` then `nextPageToken`), read backwards from the end without
/// scanning the events; `None` when the body does not end that way.
///
/// Sound for a valid JSON object: its last `}` closes the top level, so the string before it,
/// the `:` and the key before that, and the `,` or `{` before the key are the last top-level
/// member. A quote preceded by an even number of backslashes delimits a string; one preceded
/// by an odd number is escaped, so lexing a string backwards is unambiguous. Validity itself
/// is checked when the page is decoded ([`parse_page`], and the tokens are compared).
fn trailing_page_token(body: &[u8]) -> Option<Option<String>> {
    fn skip_ws(body: &[u8], mut end: usize) -> usize {
        while end > 0 && body[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        end
    }
    /// The start of the string literal whose closing quote is at `close`.
    fn string_start(body: &[u8], close: usize) -> Option<usize> {
        let mut at = close;
        while at > 0 {
            at -= 1;
            if body[at] == b'"' {
                let backslashes = body[..at].iter().rev().take_while(|b| **b == b'\\').count();
                if backslashes % 2 == 0 {
                    return Some(at);
                }
            }
        }
        None
    }
    const KEY: &[u8] = b"\"nextPageToken\"";
    let end = skip_ws(body, body.len());
    if end == 0 || body[end - 1] != b'}' {
        return None;
    }
    let close = skip_ws(body, end - 1).checked_sub(1)?;
    if body[close] != b'"' {
        return None;
    }
    let open = string_start(body, close)?;
    let colon = skip_ws(body, open).checked_sub(1)?;
    if body[colon] != b':' {
        return None;
    }
    let key_end = skip_ws(body, colon);
    let key_start = key_end.checked_sub(KEY.len())?;
    if &body[key_start..key_end] != KEY {
        return None;
    }
    let before = skip_ws(body, key_start).checked_sub(1)?;
    if body[before] != b',' && body[before] != b'{' {
        return None;
    }
    let token: String = serde_json::from_slice(&body[open..=close]).ok()?;
    Some(Some(token).filter(|t| !t.is_empty()))
}

/// Reads only `nextPageToken` from a ListEvents answer: from the end when it is the last
/// member, otherwise by skipping `list` without building it. Fails if the body is not a JSON
/// object. [`parse_page`] checks the rest.
pub(super) fn page_token(body: &[u8]) -> Result<Option<String>, String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(default, rename = "nextPageToken")]
        next_page_token: Option<String>,
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("not a JSON object".to_owned());
    }
    if let Some(token) = trailing_page_token(body) {
        return Ok(token);
    }
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| format!("not the expected JSON ({e})"))?;
    Ok(envelope.next_page_token.filter(|token| !token.is_empty()))
}

/// Parses a ListEvents answer. Strings in the events share `body` (no copies).
///
/// The page fails as a whole only when its envelope is broken (not JSON, `list` not an
/// array, `nextPageToken` not a string): that is a transport or server fault worth a retry.
/// An item that cannot become an event (not an object, nested deeper than
/// [`crate::codecs::json::MAX_DEPTH`]) is reported in [`Page::invalid`] and the others are
/// kept, so one bad event can never stop the source.
pub(super) fn parse_page(body: &Bytes) -> Result<Page, String> {
    // One pass over the whole body when it decodes (the usual case); item by item otherwise.
    match crate::codecs::json::from_bytes(body) {
        Ok(value) => page_from_value(value),
        Err(_) => parse_page_by_item(body),
    }
}

/// A page decoded in one piece.
fn page_from_value(value: Value) -> Result<Page, String> {
    let Value::Object(mut object) = value else {
        return Err("not a JSON object".to_owned());
    };
    let items = match object.remove("list") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("`list` is not an array".to_owned()),
    };
    let next_page_token = match object.remove("nextPageToken") {
        None | Some(Value::Null) => None,
        Some(token) => match crate::ocsf::str_value(&token) {
            Some("") => None,
            Some(token) => Some(token.to_owned()),
            None => return Err("`nextPageToken` is not a string".to_owned()),
        },
    };
    let mut page = Page {
        events: Vec::with_capacity(items.len()),
        invalid: Vec::new(),
        next_page_token,
    };
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(_) => page.events.push(item),
            other => page.invalid.push(not_an_object(index, &other)),
        }
    }
    Ok(page)
}

/// A page whose body did not decode in one piece: the envelope is read with each item kept
/// as raw text (serde_json skips raw values without recursing, so any depth is safe), then
/// each item is decoded on its own.
fn parse_page_by_item(body: &Bytes) -> Result<Page, String> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow, default)]
        list: Option<Vec<&'a serde_json::value::RawValue>>,
        #[serde(default, rename = "nextPageToken")]
        next_page_token: Option<String>,
    }
    let envelope: Envelope<'_> = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(error) if error.is_data() => return Err(format!("not the expected JSON ({error})")),
        Err(error) => return Err(format!("not JSON ({error})")),
    };
    let items = envelope.list.unwrap_or_default();
    let mut page = Page {
        events: Vec::with_capacity(items.len()),
        invalid: Vec::new(),
        next_page_token: envelope.next_page_token.filter(|token| !token.is_empty()),
    };
    for (index, raw) in items.into_iter().enumerate() {
        let text = raw.get();
        match crate::codecs::json::from_bytes(&body.slice_ref(text.as_bytes())) {
            Ok(event @ Value::Object(_)) => page.events.push(event),
            Ok(other) => page.invalid.push(not_an_object(index, &other)),
            Err(error) => page.invalid.push(InvalidItem {
                index,
                uid: raw_item_uid(text),
                reason: error.to_string(),
            }),
        }
    }
    Ok(page)
}

fn not_an_object(index: usize, item: &Value) -> InvalidItem {
    InvalidItem {
        index,
        uid: None,
        reason: format!("not a JSON object but {}", json_kind(item)),
    }
}

/// The JSON name of a decoded value's type.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::String(_) | Value::Bytes(_) => "a string",
        Value::Integer(_) | Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        _ => "null",
    }
}

/// `metadata.uid` of an item that did not decode, read without building the rest.
fn raw_item_uid(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Item {
        metadata: Option<Metadata>,
    }
    #[derive(serde::Deserialize)]
    struct Metadata {
        uid: Option<String>,
    }
    let item: Item = serde_json::from_str(text).ok()?;
    item.metadata?.uid
}

/// The API's retry policy: the transient statuses and transport errors are retried, after
/// the server's `Retry-After` when it sent one.
fn api_policy(error: &ApiError) -> Verdict {
    if error.is_retryable() {
        Verdict::Retry {
            after: error.retry_after(),
        }
    } else {
        Verdict::Stop
    }
}

/// Calls the ConductorOne API with a cached token.
#[derive(Debug)]
pub(super) struct ApiClient {
    http: reqwest::Client,
    base_url: String,
    tokens: TokenClient,
    metrics: Option<Arc<ComponentMetrics>>,
}

impl ApiClient {
    /// A client for the tenant at `base_url` (no trailing `/`).
    pub(super) fn new(
        http: reqwest::Client,
        base_url: String,
        tokens: TokenClient,
        metrics: Option<Arc<ComponentMetrics>>,
    ) -> Self {
        Self {
            http,
            base_url,
            tokens,
            metrics,
        }
    }

    fn count_error(&self, error: &ApiError) {
        if let Some(metrics) = &self.metrics {
            metrics.error(crate::metrics::ErrorType::Request);
            let status = error.label();
            metrics.add_labelled("conductorone_api_errors_total", &[("status", &status)], 1);
        }
    }

    /// One request with the cached token (and, for a DPoP-bound token, a fresh proof); after a
    /// 401, once more with a fresh token.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ApiError> {
        let url = format!("{}{path}", self.base_url);
        let mut retried_401 = false;
        let mut answered_nonce = false;
        loop {
            let token = self.tokens.token().await?;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header(reqwest::header::ACCEPT, "application/json")
                .header(reqwest::header::AUTHORIZATION, token.authorization());
            if let Some(proof) = self.tokens.api_proof(method.as_str(), &url, &token) {
                request = request.header(DPOP_HEADER, sensitive(proof.expose()));
            }
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            // The next call's proof is signed while this one's answer is awaited (`join!`
            // polls the request first, which hands it to the connection).
            let sign_ahead = async { self.tokens.sign_ahead(method.as_str(), &url, &token) };
            let (response, ()) = tokio::join!(request.send(), sign_ahead);
            let response =
                response.map_err(|e| ApiError::Transport(ApiError::describe_transport(&e)))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| ApiError::Transport(ApiError::describe_transport(&e)))?;
            let new_nonce = self.tokens.remember_api_nonce(&headers);
            match status {
                200 => return Ok(bytes),
                // RFC 9449 §9: the API wants its nonce in the proof; answered once per call.
                401 if new_nonce && !answered_nonce && is_nonce_challenge(&headers) => {
                    tracing::debug!(
                        "conductorone: the API asked for a DPoP nonce; calling again with it"
                    );
                    answered_nonce = true;
                }
                401 if !retried_401 => {
                    let details = ErrorDetails::from_response(status, &headers, &bytes);
                    tracing::info!(error = %details, "access token refused; minting a new one");
                    self.tokens.invalidate(&token).await;
                    retried_401 = true;
                }
                401 => {
                    return Err(ApiError::Unauthorized(ErrorDetails::from_response(
                        status, &headers, &bytes,
                    )));
                }
                403 => {
                    return Err(ApiError::Forbidden(ErrorDetails::from_response(
                        status, &headers, &bytes,
                    )));
                }
                _ => {
                    return Err(ApiError::Status(ErrorDetails::from_response(
                        status, &headers, &bytes,
                    )));
                }
            }
        }
    }

    /// One ListEvents call (a 401 gets one fresh token, a nonce challenge one answer). Counts
    /// errors and pages.
    pub(super) async fn list_events(&self, request: &ListRequest) -> Result<RawPage, ApiError> {
        let body = serde_json::to_vec(request).map_err(|e| ApiError::InvalidBody {
            reason: format!("cannot encode the request: {e}"),
            request_id: None,
        })?;
        let result = match self
            .call(
                reqwest::Method::POST,
                "/api/v1/systemlog/events",
                Some(body),
            )
            .await
        {
            Ok(body) => match page_token(&body) {
                Ok(next_page_token) => Ok(RawPage {
                    body,
                    next_page_token,
                }),
                Err(reason) => Err(ApiError::invalid_body(&reason)),
            },
            Err(error) => Err(error),
        };
        match &result {
            Ok(_) => {
                if let Some(metrics) = &self.metrics {
                    metrics.add("conductorone_pages_fetched_total", 1);
                }
            }
            Err(error) => self.count_error(error),
        }
        result
    }

    /// ListEvents, retrying transient failures with `backoff` for as long as it takes (the
    /// caller cancels by dropping the future). Permanent errors are returned.
    pub(super) async fn list_events_retrying(
        &self,
        request: &ListRequest,
        retries: &mut Retries,
    ) -> Result<RawPage, ApiError> {
        let on_retry = |error: &ApiError, retry: u64, delay: Duration| {
            tracing::warn!(
                %error,
                attempt = retry,
                retry_in_ms = delay.as_millis() as u64,
                "conductorone: ListEvents failed; retrying"
            );
        };
        retry(&api_policy, retries, || self.list_events(request), on_retry).await
    }

    /// `GET /api/v1/auth/introspect`: who the credential is.
    pub(super) async fn introspect(&self) -> Result<serde_json::Value, ApiError> {
        let bytes = self
            .call(reqwest::Method::GET, "/api/v1/auth/introspect", None)
            .await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::invalid_body(&format!("introspect answer is not JSON ({e})")))
    }
}

/// Whether a 401's `WWW-Authenticate` is the DPoP challenge `error="use_dpop_nonce"`.
fn is_nonce_challenge(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains(r#"error="use_dpop_nonce""#))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_accept_absent_and_empty_fields() {
        let page = parse_page(&Bytes::from_static(br#"{}"#)).expect("valid");
        assert!(page.events.is_empty() && page.next_page_token.is_none());
        let page = parse_page(&Bytes::from_static(
            br#"{"list":[{"a":1}],"nextPageToken":""}"#,
        ))
        .expect("valid");
        assert_eq!(page.events.len(), 1);
        assert!(page.next_page_token.is_none());
        let page =
            parse_page(&Bytes::from_static(br#"{"list":[],"nextPageToken":"t2"}"#)).expect("valid");
        assert_eq!(page.next_page_token.as_deref(), Some("t2"));
        for bad in [
            &b"<html>"[..],
            b"[]",
            br#"{"list":{}}"#,
            br#"{"nextPageToken":3}"#,
            br#"{"list":[{"a":1}"#,
        ] {
            assert!(parse_page(&Bytes::copy_from_slice(bad)).is_err());
        }
    }

    #[test]
    fn items_that_cannot_become_events_are_reported_and_the_rest_kept() {
        let deep = format!(
            r#"{{"metadata":{{"uid":"deep"}},"unmapped":{}1{}}}"#,
            r#"{"x":"#.repeat(100_000),
            "}".repeat(100_000)
        );
        let body =
            format!(r#"{{"list":[{{"a":1}},{deep},7,{{"b":2}},{deep}],"nextPageToken":"t"}}"#);
        let page = parse_page(&Bytes::from(body)).expect("the envelope is fine");
        assert_eq!(page.events.len(), 2);
        assert_eq!(page.next_page_token.as_deref(), Some("t"));
        let invalid: Vec<(usize, Option<&str>)> = page
            .invalid
            .iter()
            .map(|item| (item.index, item.uid.as_deref()))
            .collect();
        assert_eq!(invalid, [(1, Some("deep")), (2, None), (4, Some("deep"))]);
        assert!(page.invalid[0].reason.contains("nested deeper than"));
        assert_eq!(page.invalid[1].reason, "not a JSON object but a number");
        assert_eq!(page.trailing_invalid_uid(), Some("deep"));
        // Decoded in one piece too: the non-object item alone is reported.
        let page = parse_page(&Bytes::from_static(br#"{"list":[1,{"a":1}]}"#)).expect("valid");
        assert_eq!(page.events.len(), 1);
        assert_eq!(page.invalid[0].index, 0);
        assert_eq!(page.trailing_invalid_uid(), None);
    }

    #[test]
    fn the_page_token_is_read_without_decoding_the_list() {
        assert_eq!(
            page_token(br#"{"list":[{"a":"\"nextPageToken\":\"x\""}],"nextPageToken":"t2"}"#),
            Ok(Some("t2".into()))
        );
        assert_eq!(page_token(br#" {"nextPageToken":"","list":[]}"#), Ok(None));
        assert_eq!(page_token(b"{}"), Ok(None));
        // Read from the end, including escapes and whitespace.
        assert_eq!(
            trailing_page_token(br#"{"list":[] , "nextPageToken" : "a\\\"b\\" }"#),
            Some(Some(r#"a\"b\"#.into()))
        );
        assert_eq!(
            trailing_page_token(br#"{"list":[],"nextPageToken":""}"#),
            Some(None)
        );
        assert_eq!(
            trailing_page_token(br#"{"list":[{"x":",\"nextPageToken\":\"no\"}"}]}"#),
            None
        );
        assert_eq!(
            trailing_page_token(br#"{"nextPageToken":"t","list":[]}"#),
            None
        );
        assert_eq!(
            page_token(br#"{"nextPageToken":"t","list":[]}"#),
            Ok(Some("t".into()))
        );
        for bad in [
            &b"<html>"[..],
            b"[]",
            b"{\"list\":[",
            br#"{"nextPageToken":3}"#,
        ] {
            assert!(page_token(bad).is_err());
        }
    }

    #[test]
    fn request_bodies_are_camel_case_without_unset_fields() {
        let request = ListRequest {
            page_size: 100,
            sort_direction: SORT_ASC,
            since_event_uid: Some("evt-1".into()),
            page_token: Some("tok".into()),
            ..ListRequest::default()
        };
        assert_eq!(
            serde_json::to_string(&request).expect("serializes"),
            r#"{"pageSize":100,"sortDirection":"SORT_DIRECTION_ASC","sinceEventUid":"evt-1","pageToken":"tok"}"#
        );
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for status in [408, 429, 499, 500, 502, 503, 504] {
            assert!(is_retryable_status(status));
        }
        for status in [400, 401, 403, 404, 409, 422, 501] {
            assert!(!is_retryable_status(status));
        }
    }

    #[test]
    fn error_bodies_are_parsed_leniently() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-request-id", "req-42".parse().expect("header"));
        headers.insert("retry-after", "3".parse().expect("header"));
        let details = ErrorDetails::from_response(
            429,
            &headers,
            br#"{"code":8,"message":"slow down","details":[]}"#,
        );
        assert_eq!(
            details.to_string(),
            "HTTP 429, code 8: slow down (request id req-42)"
        );
        assert_eq!(details.retry_after, Some(Duration::from_secs(3)));
        let details = ErrorDetails::from_response(
            502,
            &reqwest::header::HeaderMap::new(),
            b"<html>bad gateway</html>",
        );
        assert_eq!(details.to_string(), "HTTP 502: <html>bad gateway</html>");
    }
}
