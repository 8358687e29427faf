//! The OTLP/HTTP side: the export POST, what a response means, and the health check.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Client, Url};

use super::encoder::WireFormat;
use crate::component::HealthcheckError;
use crate::retry::{Verdict, parse_retry_after};

/// The longest receiver message kept for logs (bodies of error pages can be large).
const MAX_MESSAGE_CHARS: usize = 300;

/// A configured OTLP/HTTP logs endpoint.
#[derive(Debug)]
pub(crate) struct OtlpClient {
    http: Client,
    uri: Url,
    format: WireFormat,
    gzip: bool,
    /// `protocol.headers` and `protocol.auth`, marked sensitive.
    headers: HeaderMap,
}

/// A request the receiver accepted.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Accepted {
    /// `partial_success.rejected_log_records`: records refused for good.
    pub rejected: i64,
    /// `partial_success.error_message`.
    pub message: String,
}

/// A request that failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ExportError {
    /// No HTTP answer (connection refused, timeout, TLS).
    #[error("cannot reach the OTLP receiver: {0}")]
    Transport(String),
    /// An HTTP answer other than 200.
    #[error("the OTLP receiver answered HTTP {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The receiver's `google.rpc.Status` message, or the start of its body.
        message: String,
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
}

impl ExportError {
    /// OTLP's rule: 429, 502, 503, 504 and transport errors are transient; other statuses
    /// are permanent.
    pub(super) fn verdict(&self) -> Verdict {
        match self {
            Self::Transport(_) => Verdict::Retry { after: None },
            Self::Status {
                status: 429 | 502 | 503 | 504,
                retry_after,
                ..
            } => Verdict::Retry {
                after: *retry_after,
            },
            Self::Status { .. } => Verdict::Stop,
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP error response (only the fields used).
#[derive(Clone, PartialEq, prost::Message, serde::Deserialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    #[serde(default)]
    code: i32,
    #[prost(string, tag = "2")]
    #[serde(default)]
    message: String,
}

impl OtlpClient {
    /// A client posting `format` bodies (gzip-compressed when `gzip`) to `uri`.
    pub(super) fn new(
        http: Client,
        uri: Url,
        format: WireFormat,
        gzip: bool,
        headers: HeaderMap,
    ) -> Self {
        Self {
            http,
            uri,
            format,
            gzip,
            headers,
        }
    }

    /// The request body's format.
    pub(super) fn format(&self) -> WireFormat {
        self.format
    }

    /// Whether bodies are gzip-compressed.
    pub(super) fn gzip(&self) -> bool {
        self.gzip
    }

    /// Posts one export request body (already encoded and compressed).
    pub(super) async fn export(&self, body: Bytes) -> Result<Accepted, ExportError> {
        let mut request = self
            .http
            .post(self.uri.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, self.format.content_type());
        if self.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|error| ExportError::Transport(crate::error_text::error_chain(&error)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        let json = is_json(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|error| ExportError::Transport(crate::error_text::error_chain(&error)))?;
        if status == 200 {
            return Ok(accepted(&body, json));
        }
        Err(ExportError::Status {
            status,
            message: error_message(&body, json),
            retry_after,
        })
    }

    /// Posts an empty export request, which a receiver accepts without storing anything.
    pub(super) async fn healthcheck(&self) -> Result<(), HealthcheckError> {
        let body = self.format.encode(&ExportLogsServiceRequest::default());
        let body = if self.gzip {
            crate::options::compression::gzip(&body)
        } else {
            body
        };
        match self.export(Bytes::from(body)).await {
            Ok(_) => Ok(()),
            Err(
                error @ ExportError::Status {
                    status: 401 | 403, ..
                },
            ) => Err(HealthcheckError(format!(
                "{error}: check protocol.auth and protocol.headers"
            ))),
            Err(error) => Err(HealthcheckError(format!("{error} (uri {})", self.uri))),
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// The partial success a 200 may carry (an empty or undecodable body: everything accepted).
fn accepted(body: &[u8], json: bool) -> Accepted {
    if json {
        return accepted_json(body);
    }
    let response: Option<ExportLogsServiceResponse> = prost::Message::decode(body).ok();
    let partial = response.and_then(|response| response.partial_success);
    Accepted {
        rejected: partial.as_ref().map_or(0, |p| p.rejected_log_records),
        message: partial.map(|p| p.error_message).unwrap_or_default(),
    }
}

/// OTLP/JSON's partial success, read by hand: its 64-bit `rejectedLogRecords` may be a
/// string or a number, and the generated types' JSON mapping takes only one of them.
fn accepted_json(body: &[u8]) -> Accepted {
    let response: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let partial = &response["partialSuccess"];
    let rejected = match &partial["rejectedLogRecords"] {
        serde_json::Value::Number(n) => n.as_i64().unwrap_or(0),
        serde_json::Value::String(text) => text.parse().unwrap_or(0),
        _ => 0,
    };
    Accepted {
        rejected,
        message: partial["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// The message of an error response: its `google.rpc.Status` message, else its start as text.
fn error_message(body: &[u8], json: bool) -> String {
    let status: Option<RpcStatus> = if json {
        serde_json::from_slice(body).ok()
    } else {
        prost::Message::decode(body).ok()
    };
    let message = match status {
        Some(status) if !status.message.is_empty() => status.message,
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    };
    if message.is_empty() {
        return "(no message)".to_owned();
    }
    message.chars().take(MAX_MESSAGE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_and_permanent_failures() {
        let status = |status| ExportError::Status {
            status,
            message: String::new(),
            retry_after: Some(Duration::from_secs(3)),
        };
        for transient in [429, 502, 503, 504] {
            assert_eq!(
                status(transient).verdict(),
                Verdict::Retry {
                    after: Some(Duration::from_secs(3))
                }
            );
        }
        for permanent in [400, 401, 403, 404, 413, 500] {
            assert_eq!(status(permanent).verdict(), Verdict::Stop, "{permanent}");
        }
        assert_eq!(
            ExportError::Transport("refused".into()).verdict(),
            Verdict::Retry { after: None }
        );
    }

    #[test]
    fn error_bodies_are_read_as_rpc_status_in_both_formats() {
        let status = RpcStatus {
            code: 3,
            message: "bad record".to_owned(),
        };
        let binary = prost::Message::encode_to_vec(&status);
        assert_eq!(error_message(&binary, false), "bad record");
        assert_eq!(
            error_message(br#"{"code":3,"message":"bad json"}"#, true),
            "bad json"
        );
        assert_eq!(
            error_message(b"<html>oops</html>", true),
            "<html>oops</html>"
        );
        assert_eq!(error_message(b"", false), "(no message)");
    }

    #[test]
    fn partial_success_is_read_in_both_formats() {
        assert_eq!(
            accepted(
                br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"too old"}}"#,
                true
            ),
            Accepted {
                rejected: 2,
                message: "too old".to_owned()
            }
        );
        assert_eq!(
            accepted(br#"{"partialSuccess":{"rejectedLogRecords":3}}"#, true).rejected,
            3
        );
        assert_eq!(accepted(b"", false).rejected, 0);
        assert_eq!(accepted(b"{}", true).rejected, 0);
    }
}
