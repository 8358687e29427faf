//! The HTTP side of the HEC contract: the client (endpoint, token, channel; `tls` and `proxy`
//! through [`http_client`]), the event POST, the ack query, the health check, and what a response means.
//!
//! Status codes (Splunk's "Troubleshoot HTTP Event Collector" table, see
//! `docs/splunk-hec.md`): 200 success (`ackId` when the token has indexer acknowledgement);
//! 400 with `invalid-event-number` (codes 6, 7, 12, 13) names one bad event; other 400s
//! (5, 10, 11, 14) are permanent; 401/403 (codes 2, 3, 4) are token problems; 413 (code 27)
//! means the body is too large; 503 (code 9), 429, 408 and other 5xx are worth retrying.
//!
//! Splunk's `text`, and every transport error, goes through [`secrets::redact`] before it is
//! logged or put into an error: a HEC (or a proxy before it) may quote the token.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;

use super::encoder::RawMetadata;
use super::{EndpointTarget, SplunkHecLogsConfig};
use crate::component::{BuildError, HealthcheckError};
use crate::options::http_client;
use crate::retry::parse_retry_after;
use crate::secrets;

/// Header carrying the channel GUID on every request.
pub(crate) const CHANNEL_HEADER: &str = "X-Splunk-Request-Channel";

/// A HEC response body (`{"text":…,"code":…}` plus `ackId` or `invalid-event-number`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct HecBody {
    /// Splunk's message.
    #[serde(default)]
    pub text: Option<String>,
    /// Splunk's status code (see the module documentation).
    #[serde(default)]
    pub code: Option<i64>,
    /// The acknowledgement id of an accepted request.
    #[serde(default, rename = "ackId")]
    pub ack_id: Option<u64>,
    /// The 0-based position of the event Splunk refused.
    #[serde(default, rename = "invalid-event-number")]
    pub invalid_event_number: Option<usize>,
}

impl HecBody {
    /// `code N: text`, for logs and errors (`text` redacted).
    pub fn describe(&self) -> String {
        match (&self.code, self.text.as_deref().map(secrets::redact)) {
            (Some(code), Some(text)) => format!("code {code}: {text}"),
            (None, Some(text)) => text,
            (Some(code), None) => format!("code {code}"),
            (None, None) => "no HEC body".to_owned(),
        }
    }
}

/// One HTTP response from the HEC.
#[derive(Debug)]
pub struct HecResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The parsed body (default when it is not HEC JSON).
    pub body: HecBody,
    /// `Retry-After`, when sent.
    pub retry_after: Option<Duration>,
}

/// What the sender must do after a response.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; with an ack id when the token has indexer acknowledgement.
    Accepted(Option<u64>),
    /// One event was refused: drop it (rejected), send the others again.
    InvalidEvent(usize),
    /// The body is too large: split the batch.
    TooLarge,
    /// The token is missing, malformed or unknown: a configuration problem, retried slowly.
    Unauthorized,
    /// A transient failure: retry after a backoff (or the server's `Retry-After`).
    Retry(Option<Duration>),
    /// Permanently refused (the whole batch).
    Rejected,
}

impl HecResponse {
    /// Classifies the response for a batch of `events` events.
    pub fn outcome(&self, events: usize) -> Outcome {
        match self.status.as_u16() {
            200..=299 => Outcome::Accepted(self.body.ack_id),
            400 => match self.body.invalid_event_number {
                Some(index) if index < events => Outcome::InvalidEvent(index),
                _ => Outcome::Rejected,
            },
            401 | 403 => Outcome::Unauthorized,
            413 => Outcome::TooLarge,
            408 | 429 | 500..=599 => Outcome::Retry(self.retry_after),
            _ => Outcome::Rejected,
        }
    }
}

/// A failure before any HTTP response (connection, timeout, TLS), or an unusable ack answer.
/// Redacted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(String);

impl TransportError {
    /// `message` redacted: it may quote what the server (or a proxy) said.
    pub fn new(message: &str) -> Self {
        Self(secrets::redact(message))
    }
}

impl From<reqwest::Error> for TransportError {
    fn from(error: reqwest::Error) -> Self {
        Self::new(&crate::error_text::error_chain(&error))
    }
}

/// The sink's HTTP client: endpoint URLs, the token header, the channel GUID.
#[derive(Clone)]
pub struct HecClient {
    http: Client,
    events_url: Url,
    ack_url: Url,
    health_url: Url,
    target: EndpointTarget,
    authorization: HeaderValue,
    channel: String,
    /// `request.rate_limit_*`, shared by every clone (every request task).
    limiter: Option<std::sync::Arc<crate::options::request::RateLimiter>>,
}

impl std::fmt::Debug for HecClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HecClient")
            .field("events_url", &self.events_url.as_str())
            .field("channel", &self.channel)
            .field("authorization", &crate::secrets::REDACTED)
            .finish()
    }
}

impl HecClient {
    /// Checks `endpoint`, the token, `tls` and `proxy`, and builds the client (no I/O beyond
    /// reading the TLS files).
    pub fn new(config: &SplunkHecLogsConfig) -> Result<Self, BuildError> {
        let endpoint = Url::parse(config.endpoint.trim()).map_err(|error| {
            BuildError::field(
                "endpoint",
                format!("`{}` is not a URL: {error}", config.endpoint),
            )
            .help("give the scheme and host, e.g. \"https://splunk.example.com:8088\"")
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(BuildError::field(
                "endpoint",
                format!("scheme `{}` is not http or https", endpoint.scheme()),
            ));
        }
        if endpoint.query().is_some() {
            return Err(BuildError::field(
                "endpoint",
                "must not have a query string: the sink adds its own",
            ));
        }
        // As Vector: the collector paths are appended to whatever path the endpoint has.
        let base = endpoint.as_str().trim_end_matches('/').to_owned();
        let url = |path: &str| {
            Url::parse(&format!("{base}{path}")).map_err(|error| {
                BuildError::field("endpoint", format!("cannot append {path}: {error}"))
            })
        };
        let mut events_url = url(match config.endpoint_target {
            EndpointTarget::Event => "/services/collector/event",
            EndpointTarget::Raw => "/services/collector/raw",
        })?;
        if let (EndpointTarget::Event, Some(extract)) =
            (config.endpoint_target, config.auto_extract_timestamp)
        {
            events_url.query_pairs_mut().append_pair(
                "auto_extract_timestamp",
                if extract { "true" } else { "false" },
            );
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Splunk {}", config.default_token.expose().trim()))
                .map_err(|_| {
                    BuildError::field(
                        "default_token",
                        "contains characters that cannot be sent in an HTTP header",
                    )
                })?;
        authorization.set_sensitive(true);

        let builder = Client::builder()
            .timeout(Duration::from_secs_f64(
                config.request.timeout_secs.clamp(0.001, 1e9),
            ))
            .user_agent(http_client::USER_AGENT);
        let http = http_client::build(builder, &config.tls, &config.proxy)?;
        Ok(Self {
            http,
            events_url,
            ack_url: url("/services/collector/ack")?,
            health_url: url("/services/collector/health/1.0")?,
            target: config.endpoint_target,
            authorization,
            channel: uuid::Uuid::new_v4().to_string(),
            limiter: config.request.settings()?.rate_limiter(),
        })
    }

    /// The channel GUID this sink sends on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The events URL (for logs; it holds no secret).
    pub fn events_url(&self) -> &Url {
        &self.events_url
    }

    /// POSTs one batch body.
    pub async fn post(
        &self,
        body: Bytes,
        gzip: bool,
        metadata: &RawMetadata,
    ) -> Result<HecResponse, TransportError> {
        if let Some(limiter) = &self.limiter {
            limiter.acquire().await;
        }
        let mut url = self.events_url.clone();
        if self.target == EndpointTarget::Raw {
            let mut query = url.query_pairs_mut();
            query.append_pair("channel", &self.channel);
            for (name, value) in [
                ("index", &metadata.index),
                ("source", &metadata.source),
                ("sourcetype", &metadata.sourcetype),
                ("host", &metadata.host),
            ] {
                if let Some(value) = value {
                    query.append_pair(name, value);
                }
            }
        }
        let mut request = self
            .http
            .post(url)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CHANNEL_HEADER, &self.channel)
            .header(
                CONTENT_TYPE,
                match self.target {
                    EndpointTarget::Event => "application/json",
                    EndpointTarget::Raw => "text/plain",
                },
            )
            .body(body);
        if gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let response = request.send().await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or_default();
        Ok(HecResponse {
            status,
            body,
            retry_after,
        })
    }

    /// Asks which of `ids` are indexed: `{"acks":[…]}` → `{"acks":{"0":true,…}}`.
    pub async fn query_acks(&self, ids: &[u64]) -> Result<HashMap<u64, bool>, TransportError> {
        #[derive(Deserialize)]
        struct AckResponse {
            acks: HashMap<String, bool>,
        }
        let body = serde_json::json!({ "acks": ids }).to_string();
        let response = self
            .http
            .post(self.ack_url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CHANNEL_HEADER, &self.channel)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            let body: HecBody = serde_json::from_slice(&bytes).unwrap_or_default();
            // `describe` redacts.
            return Err(TransportError(format!(
                "ack query answered HTTP {status} ({})",
                body.describe()
            )));
        }
        let parsed: AckResponse = serde_json::from_slice(&bytes).map_err(|error| {
            TransportError::new(&format!("ack response is not HEC JSON: {error}"))
        })?;
        Ok(parsed
            .acks
            .into_iter()
            .filter_map(|(id, acked)| id.parse().ok().map(|id| (id, acked)))
            .collect())
    }

    /// `GET /services/collector/health/1.0` with the token.
    pub async fn healthcheck(&self) -> Result<(), HealthcheckError> {
        let response = self
            .http
            .get(self.health_url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|error| {
                HealthcheckError(format!(
                    "cannot reach Splunk HEC at {}: {}",
                    self.health_url,
                    TransportError::from(error)
                ))
            })?;
        let status = response.status();
        let body: HecBody = response
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        match status.as_u16() {
            200 => Ok(()),
            400 | 401 | 403 => Err(HealthcheckError(format!(
                "Splunk HEC rejected the token (HTTP {status}, {}): check `default_token`",
                body.describe()
            ))),
            503 => Err(HealthcheckError(format!(
                "Splunk HEC is unhealthy (HTTP 503, {}): its queues are full or it is starting",
                body.describe()
            ))),
            _ => Err(HealthcheckError(format!(
                "unexpected answer from the Splunk HEC health endpoint {}: HTTP {status} ({})",
                self.health_url,
                body.describe()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: serde_json::Value) -> HecResponse {
        HecResponse {
            status: StatusCode::from_u16(status).expect("a status"),
            body: serde_json::from_value(body).expect("a HEC body"),
            retry_after: Some(Duration::from_secs(2)),
        }
    }

    #[test]
    fn statuses_map_to_what_the_sender_does() {
        let ok = serde_json::json!({"text": "Success", "code": 0, "ackId": 3});
        assert_eq!(response(200, ok).outcome(5), Outcome::Accepted(Some(3)));
        let no_ack = serde_json::json!({"text": "Success", "code": 0});
        assert_eq!(response(200, no_ack).outcome(5), Outcome::Accepted(None));
        let invalid = |index: usize| serde_json::json!({"text": "Invalid data format", "code": 6, "invalid-event-number": index});
        assert_eq!(
            response(400, invalid(4)).outcome(5),
            Outcome::InvalidEvent(4)
        );
        // An index outside the batch names nothing: the batch is refused.
        assert_eq!(response(400, invalid(5)).outcome(5), Outcome::Rejected);
        let plain = serde_json::json!({"text": "x", "code": 5});
        for (status, expected) in [
            (400, Outcome::Rejected),
            (404, Outcome::Rejected),
            (401, Outcome::Unauthorized),
            (403, Outcome::Unauthorized),
            (413, Outcome::TooLarge),
            (408, Outcome::Retry(Some(Duration::from_secs(2)))),
            (429, Outcome::Retry(Some(Duration::from_secs(2)))),
            (500, Outcome::Retry(Some(Duration::from_secs(2)))),
            (503, Outcome::Retry(Some(Duration::from_secs(2)))),
        ] {
            assert_eq!(
                response(status, plain.clone()).outcome(5),
                expected,
                "{status}"
            );
        }
    }

    #[test]
    fn splunks_text_is_redacted_when_described() {
        let token = crate::secrets::Secret::new("hec-token-that-leaks-0123456789");
        let body = HecBody {
            text: Some(format!("bad token {}", token.expose())),
            code: Some(4),
            ..HecBody::default()
        };
        let described = body.describe();
        assert!(described.starts_with("code 4: bad token"), "{described}");
        assert!(!described.contains(token.expose()), "{described}");
    }
}
