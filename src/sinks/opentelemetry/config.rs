//! The `opentelemetry` sink's options (Vector's names under `protocol`, plus the OCSF mapping's
//! resource attributes), their checks, and building the sink.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::client::OtlpClient;
use super::encoder::{LogRecordEncoder, WireFormat};
use crate::codecs::FieldSelection;
use crate::component::{
    BuildError, ComponentTask, Healthcheck, HealthcheckError, SinkComponent, SinkContext,
};
use crate::options::HealthcheckConfig;
use crate::options::batch::{BatchConfig, BatchDefaults};
use crate::options::compression::Compression;
use crate::options::proxy::ProxyConfig;
use crate::options::request::RequestConfig;
use crate::options::tls::TlsConfig;
use crate::secrets::Secret;
use crate::sinks::SinkAcknowledgements;

/// `[sinks.ID] type = "opentelemetry"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenTelemetryConfig {
    /// How records are sent (Vector's `protocol` table). Required.
    pub protocol: ProtocolConfig,
    /// Resource attributes of every record (string values). Default `service.name =
    /// "conductorone"`; a table given here adds to it (and may replace `service.name`).
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, String>,
    /// Start-up health check: an empty export request, which a receiver answers 200.
    #[serde(default)]
    pub healthcheck: HealthcheckConfig,
}

/// `protocol`: the transport, tagged by `type`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProtocolConfig {
    /// OTLP/HTTP (`POST <uri>`).
    Http(Box<HttpProtocolConfig>),
    /// OTLP/gRPC: refused with a configuration error pointing at the OTLP/HTTP port.
    Grpc(serde::de::IgnoredAny),
}

/// `protocol.type = "http"` (Vector's `http` sink options that apply to OTLP).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProtocolConfig {
    /// Where to send, by convention `http(s)://host:4318/v1/logs`. Required.
    pub uri: String,
    /// Only `post`, OTLP/HTTP's method (accepted for Vector configs that spell it out).
    #[serde(default)]
    pub method: HttpMethod,
    /// `none` (default) or `gzip` (`Content-Encoding: gzip`).
    #[serde(default = "Compression::none")]
    pub compression: Compression,
    /// `codec = "otlp"` (binary protobuf) or `"json"` (OTLP/JSON); `only_fields` /
    /// `except_fields` choose what of each event becomes the record's body.
    pub encoding: OtlpEncodingConfig,
    /// Extra headers on every request. Values are kept secret (they often carry API keys).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// `Authorization`: `strategy = "basic"` (`user`, `password`) or `"bearer"` (`token`).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// TLS options (TLS itself is chosen by the `https` scheme of `uri`).
    #[serde(default)]
    pub tls: TlsConfig,
    /// The HTTP proxy (default: the environment's `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`).
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// When a request is sent: `max_bytes` (default 10,000,000, Vector's, counted as encoded
    /// protobuf records), `max_events` (default no limit), `timeout_secs` (default 1).
    #[serde(default)]
    pub batch: BatchConfig,
    /// Concurrency, retries and timeouts of requests.
    #[serde(default)]
    pub request: RequestConfig,
    /// End-to-end acknowledgements (Vector has them under `protocol`).
    #[serde(default)]
    pub acknowledgements: SinkAcknowledgements,
}

/// `protocol.method`: OTLP/HTTP only posts.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HttpMethod {
    /// `POST`.
    #[default]
    Post,
}

/// `protocol.encoding`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpEncodingConfig {
    /// The body's wire format.
    pub codec: OtlpCodec,
    /// Keep only these top-level fields of each event in the record's body.
    #[serde(default)]
    pub only_fields: Option<Vec<String>>,
    /// Remove these top-level fields from the record's body.
    #[serde(default)]
    pub except_fields: Option<Vec<String>>,
}

/// `protocol.encoding.codec`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OtlpCodec {
    /// Binary protobuf (`Content-Type: application/x-protobuf`).
    Otlp,
    /// The protobuf JSON mapping (`Content-Type: application/json`).
    Json,
}

/// `protocol.auth`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user name.
        user: String,
        /// The password (never logged).
        password: Secret,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token (never logged).
        token: Secret,
    },
}

/// Default `protocol.batch.max_bytes` (Vector's).
pub const DEFAULT_MAX_BYTES: usize = 10_000_000;

/// The sink's `batch` defaults (Vector's).
const BATCH_DEFAULTS: BatchDefaults = BatchDefaults {
    max_bytes: DEFAULT_MAX_BYTES,
    max_events: None,
    timeout_secs: 1.0,
};

const SUPPORTED_COMPRESSION: [Compression; 2] = [Compression::None, Compression::Gzip];

/// The checked options.
#[derive(Debug)]
pub(super) struct Settings {
    pub(super) encoder: LogRecordEncoder,
    pub(super) client: OtlpClient,
    pub(super) max_bytes: usize,
    pub(super) max_events: usize,
    pub(super) timeout: Duration,
    pub(super) concurrency: usize,
    pub(super) retry_attempts: u64,
    pub(super) initial_backoff: Duration,
    pub(super) max_backoff: Duration,
    pub(super) jitter: crate::options::request::JitterMode,
    pub(super) limiter: Option<std::sync::Arc<crate::options::request::RateLimiter>>,
}

impl OpenTelemetryConfig {
    fn http(&self) -> Result<&HttpProtocolConfig, BuildError> {
        match &self.protocol {
            ProtocolConfig::Http(http) => Ok(http),
            ProtocolConfig::Grpc(_) => Err(BuildError::field(
                "protocol.type",
                "`grpc` is not supported: this sink speaks OTLP/HTTP",
            )
            .help(
                "set protocol.type = \"http\" and protocol.uri to the receiver's OTLP/HTTP \
                 endpoint (port 4318, path /v1/logs); every OTLP receiver serves both",
            )),
        }
    }

    fn settings(&self) -> Result<Settings, BuildError> {
        let http = self.http()?;
        let within = |error: BuildError| error.within("protocol");
        let batch = http.batch.settings(BATCH_DEFAULTS).map_err(within)?;
        let request = http.request.settings().map_err(within)?;
        let fields = FieldSelection::parse(
            "encoding",
            &http.encoding.only_fields,
            &http.encoding.except_fields,
        )
        .map_err(within)?;
        let encoder = LogRecordEncoder::new(fields, self.resource_attributes.clone());
        Ok(Settings {
            encoder,
            client: self.client(request.timeout)?,
            max_bytes: batch.max_bytes,
            max_events: batch.max_events,
            timeout: batch.timeout,
            concurrency: request.concurrency,
            retry_attempts: request.retry_attempts,
            initial_backoff: request.initial_backoff,
            max_backoff: request.max_backoff,
            jitter: request.jitter,
            limiter: request.rate_limiter(),
        })
    }

    /// The HTTP side: endpoint, headers, auth, TLS, proxy.
    fn client(&self, timeout: Duration) -> Result<OtlpClient, BuildError> {
        let http = self.http()?;
        let uri = reqwest::Url::parse(&http.uri)
            .ok()
            .filter(|uri| matches!(uri.scheme(), "http" | "https"))
            .ok_or_else(|| {
                BuildError::field(
                    "protocol.uri",
                    format!("`{}` is not an http(s) URL", http.uri),
                )
                .help("for example \"http://otel-collector:4318/v1/logs\"")
            })?;
        let compression = http
            .compression
            .check_supported("the opentelemetry sink", &SUPPORTED_COMPRESSION)
            .map_err(|error| error.within("protocol"))?;
        let format = match http.encoding.codec {
            OtlpCodec::Otlp => WireFormat::Protobuf,
            OtlpCodec::Json => WireFormat::Json,
        };
        let builder = reqwest::Client::builder()
            .user_agent(crate::options::http_client::USER_AGENT)
            .timeout(timeout);
        let http_client = crate::options::http_client::build(builder, &http.tls, &http.proxy)
            .map_err(|error| error.within("protocol"))?;
        Ok(OtlpClient::new(
            http_client,
            uri,
            format,
            compression == Compression::Gzip,
            request_headers(http)?,
        ))
    }
}

/// `protocol.headers` and `protocol.auth` as request headers (marked sensitive, so they never
/// appear in `Debug` output).
fn request_headers(http: &HttpProtocolConfig) -> Result<HeaderMap, BuildError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &http.headers {
        let field = format!("protocol.headers.{name}");
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| BuildError::field(&field, "is not a valid HTTP header name"))?;
        headers.insert(header, sensitive(&field, value.expose())?);
    }
    let authorization = match &http.auth {
        None => return Ok(headers),
        Some(AuthConfig::Basic { user, password }) => {
            use base64::Engine as _;
            let pair = format!("{user}:{}", password.expose());
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        }
        Some(AuthConfig::Bearer { token }) => format!("Bearer {}", token.expose()),
    };
    headers.insert(
        reqwest::header::AUTHORIZATION,
        sensitive("protocol.auth", &authorization)?,
    );
    Ok(headers)
}

fn sensitive(field: &str, value: &str) -> Result<HeaderValue, BuildError> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        BuildError::field(
            field,
            "is not a valid HTTP header value (control characters?)",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl SinkComponent for OpenTelemetryConfig {
    fn apply_globals(&mut self, globals: &crate::config::GlobalOptions) {
        if let ProtocolConfig::Http(http) = &mut self.protocol {
            http.proxy = globals.proxy_under(&http.proxy);
        }
    }

    fn build(&self, cx: SinkContext) -> Result<ComponentTask, BuildError> {
        let settings = self.settings()?;
        Ok(Box::pin(super::sink::run(settings, cx)))
    }

    fn healthcheck(&self) -> Healthcheck {
        self.healthcheck
            .bound(match self.client(Duration::from_secs(10)) {
                Ok(client) => Box::pin(async move { client.healthcheck().await }),
                Err(error) => Box::pin(async move { Err(HealthcheckError(error.message)) }),
            })
    }

    fn acknowledgements(&self) -> Option<bool> {
        match &self.protocol {
            ProtocolConfig::Http(http) => http.acknowledgements.enabled,
            ProtocolConfig::Grpc(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<Settings, BuildError> {
        let config: OpenTelemetryConfig =
            toml::from_str(text).map_err(|error| BuildError::field("toml", error.to_string()))?;
        config.settings()
    }

    #[test]
    fn vector_minimal_config_is_accepted_with_vectors_defaults() {
        let settings = config(
            r#"
protocol.type = "http"
protocol.uri = "http://collector:4318/v1/logs"
protocol.encoding.codec = "otlp"
"#,
        )
        .expect("valid");
        assert_eq!(settings.max_bytes, DEFAULT_MAX_BYTES);
        assert_eq!(settings.max_events, usize::MAX);
        assert_eq!(settings.timeout, Duration::from_secs(1));
    }

    #[test]
    fn errors_name_the_option_under_protocol() {
        let error = config(
            r#"
protocol.type = "http"
protocol.uri = "http://collector:4318/v1/logs"
protocol.encoding.codec = "json"
protocol.batch.max_bytes = 0
"#,
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("protocol.batch.max_bytes"));
        let error = config(
            r#"
protocol.type = "http"
protocol.uri = "collector:4318"
protocol.encoding.codec = "json"
"#,
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("protocol.uri"));
        let error = config(
            r#"
protocol.type = "http"
protocol.uri = "http://collector:4318/v1/logs"
protocol.encoding.codec = "json"
protocol.compression = "zstd"
"#,
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("protocol.compression"));
    }

    #[test]
    fn grpc_is_refused_with_the_http_alternative() {
        let error = config(
            r#"
protocol.type = "grpc"
protocol.uri = "http://collector:4317"
"#,
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("protocol.type"));
        assert!(error.help.unwrap().contains("4318"));
    }

    #[test]
    fn auth_and_headers_become_sensitive_headers() {
        let http: HttpProtocolConfig = toml::from_str(
            r#"
uri = "http://collector:4318/v1/logs"
encoding.codec = "otlp"
headers.x-api-key = "k3y"
auth.strategy = "basic"
auth.user = "u"
auth.password = "p"
"#,
        )
        .unwrap();
        let headers = request_headers(&http).unwrap();
        assert_eq!(headers["authorization"], "Basic dTpw");
        assert!(headers["authorization"].is_sensitive());
        assert!(headers["x-api-key"].is_sensitive());
        assert!(!format!("{headers:?}").contains("k3y"));
    }
}
