//! The `splunk_hec_logs` sink's options (Vector's names and defaults), their checks, and
//! building the sink.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Semaphore;

use super::client::HecClient;
use super::deliver::SendSettings;
use super::encoder::HecEncoder;
use crate::codecs::EncodingConfig;
use crate::component::{
    BuildError, ComponentTask, Healthcheck, HealthcheckError, SinkComponent, SinkContext, seconds,
};
use crate::options::batch::{BatchConfig, BatchDefaults};
use crate::options::compression::Compression;
use crate::options::proxy::ProxyConfig;
use crate::options::request::RequestConfig;
use crate::options::tls::TlsConfig;
use crate::options::{HealthcheckConfig, default_true};
use crate::secrets::Secret;
use crate::template::Template;

/// `[sinks.ID] type = "splunk_hec_logs"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplunkHecLogsConfig {
    /// Base URL of the HEC, scheme and host (`https://splunk.example.com:8088`); the sink
    /// appends `/services/collector/...`. Required.
    pub endpoint: String,
    /// The global `log_schema.timestamp_key`: where the strftime specifiers of `index`,
    /// `source` and `sourcetype` read the event's time, as in Vector (set by
    /// `apply_globals`, not an option of the sink, whose `timestamp_key` is what it sends).
    #[serde(skip)]
    pub(crate) template_time_key: Option<String>,
    /// The HEC token (`Authorization: Splunk <token>`). Required. Never logged or printed,
    /// and hidden from whatever Splunk says back. `token` is accepted for it (Vector's older
    /// name, which Vector still reads).
    #[serde(alias = "token")]
    pub default_token: Secret,
    /// `event` (default: JSON envelopes to `/services/collector/event`) or `raw`
    /// (`/services/collector/raw`, metadata in query parameters, no timestamp).
    #[serde(default)]
    pub endpoint_target: EndpointTarget,
    /// Index, as a template (`{{ field.path }}`). Unset: the token's default index.
    #[serde(default)]
    pub index: Option<String>,
    /// `source`, as a template. Unset: Splunk's default.
    #[serde(default)]
    pub source: Option<String>,
    /// `sourcetype`, as a template. Unset: Splunk's default (`httpevent`). For OCSF use an
    /// `ocsf:` prefix (`ocsf:conductorone`), which Splunk's OCSF add-on expects.
    #[serde(default)]
    pub sourcetype: Option<String>,
    /// Field whose value is sent as `host`. Default: the global `log_schema.host_key`
    /// (`host`), as in Vector.
    #[serde(default)]
    pub host_key: Option<String>,
    /// Field holding the event time as a timestamp (default: the global
    /// `log_schema.timestamp_key`, `timestamp`, as in Vector); it is sent
    /// as `time` and removed from the event. `""` sends no time at all. When the field is
    /// absent, an integer OCSF `time` (epoch milliseconds) gives `time` instead.
    #[serde(default)]
    pub timestamp_key: Option<String>,
    /// Sent to Splunk (8.0 and later) as the `auto_extract_timestamp` query parameter of the
    /// `event` endpoint (ignored with `endpoint_target = "raw"`, as in Vector). With `true`,
    /// Splunk takes the time from the event text (`yyyy-mm-dd hh:mm:ss`), so no `time` is sent
    /// and `timestamp_key`'s field stays in the event. Default unset (not sent).
    #[serde(default)]
    pub auto_extract_timestamp: Option<bool>,
    /// Fields copied into the envelope's `fields` (index-time fields). Default none.
    #[serde(default)]
    pub indexed_fields: Vec<String>,
    /// How each event is written (`codec` `json` or `text`, `only_fields`, `except_fields`).
    pub encoding: EncodingConfig,
    /// `none` (default) or `gzip` (`zstd` is refused: Splunk does not take it).
    #[serde(default = "Compression::none")]
    pub compression: Compression,
    /// When a batch is sent: `max_bytes` (default 1,000,000, Vector's; Splunk's
    /// `max_content_length` is about 1 MB on some versions), `max_events` (default no limit),
    /// `timeout_secs` (default 1).
    #[serde(default)]
    pub batch: BatchConfig,
    /// Concurrency, retries and timeouts of requests.
    #[serde(default)]
    pub request: RequestConfig,
    /// End-to-end and indexer acknowledgements.
    #[serde(default)]
    pub acknowledgements: HecAcknowledgementsConfig,
    /// TLS options (TLS itself is chosen by the `https` scheme of `endpoint`).
    #[serde(default)]
    pub tls: TlsConfig,
    /// The HTTP proxy (default: the environment's `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`).
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// Start-up health check.
    #[serde(default)]
    pub healthcheck: HealthcheckConfig,
}

/// Which HEC endpoint receives the events.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EndpointTarget {
    /// `/services/collector/event`: JSON envelopes with metadata per event.
    #[default]
    Event,
    /// `/services/collector/raw`: the encoded events, one a line; metadata per request.
    Raw,
}

/// Default `batch.max_bytes`.
pub const DEFAULT_MAX_BYTES: usize = 1_000_000;

/// The sink's `batch` defaults (Vector's).
pub const BATCH_DEFAULTS: BatchDefaults = BatchDefaults {
    max_bytes: DEFAULT_MAX_BYTES,
    max_events: None,
    timeout_secs: 1.0,
};

/// What the sink can send: Splunk HEC takes gzip bodies, not zstd.
const SUPPORTED_COMPRESSION: [Compression; 2] = [Compression::None, Compression::Gzip];

/// The sink's `acknowledgements` table (Vector's names and defaults).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HecAcknowledgementsConfig {
    /// End-to-end acknowledgements: finalize events only once Splunk has them. Unset: the
    /// global `acknowledgements.enabled`.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Wait for Splunk's indexer acknowledgement (`ackId` → `/services/collector/ack`) before
    /// an event counts as delivered. Default `true`. Tokens without indexer acknowledgement
    /// return no `ackId`; their 200 means delivered either way.
    #[serde(default = "default_true")]
    pub indexer_acknowledgements_enabled: bool,
    /// Longest pause between two ack queries, in seconds. Default 10. Polling starts at
    /// `FAST_POLL` and doubles up to this while no ack turns true.
    #[serde(default = "default_query_interval")]
    pub query_interval: f64,
    /// An ack id not reported true within `query_interval × retry_limit` seconds is given up
    /// and its batch **resent** (never dropped). Default 30 (5 minutes).
    #[serde(default = "default_retry_limit")]
    pub retry_limit: u32,
    /// Ack ids awaited at once; beyond this the sink waits (backpressure). Default 1,000,000.
    #[serde(default = "default_max_pending_acks")]
    pub max_pending_acks: u64,
    /// Bytes the sink may hold for batches it has handed to requests and whose events are
    /// not finalized yet (sent, or awaiting their acks): each batch counts its request body
    /// (compressed with gzip; its uncompressed events until the body is built), its
    /// bookkeeping (event offsets, acknowledgement links) and its request task. Beyond this
    /// the sink stops taking input (backpressure), so memory stays bounded however slowly
    /// Splunk acknowledges. Default 64 MiB. A c1-pipeline addition (not in Vector).
    #[serde(default = "default_max_pending_bytes")]
    pub max_pending_bytes: u32,
}

fn default_query_interval() -> f64 {
    10.0
}
fn default_retry_limit() -> u32 {
    30
}
fn default_max_pending_bytes() -> u32 {
    64 * 1024 * 1024
}
fn default_max_pending_acks() -> u64 {
    1_000_000
}

impl Default for HecAcknowledgementsConfig {
    fn default() -> Self {
        Self {
            enabled: None,
            indexer_acknowledgements_enabled: true,
            query_interval: default_query_interval(),
            retry_limit: default_retry_limit(),
            max_pending_acks: default_max_pending_acks(),
            max_pending_bytes: default_max_pending_bytes(),
        }
    }
}

/// The checked options: templates, paths, the client and the delivery settings.
#[derive(Debug)]
pub(super) struct Settings {
    pub(super) encoder: HecEncoder,
    pub(super) client: HecClient,
    pub(super) send: SendSettings,
    pub(super) max_bytes: usize,
    pub(super) max_events: usize,
    pub(super) timeout: Duration,
    pub(super) concurrency: usize,
}

fn template(field: &str, text: &Option<String>) -> Result<Option<Template>, BuildError> {
    text.as_deref()
        .map(|text| {
            let template = Template::parse(text).map_err(|error| {
                BuildError::field(field, format!("invalid template: {error}"))
                    .help("write field references as `{{ field.path }}`")
            })?;
            template.uses_time().map_err(|message| {
                BuildError::field(field, message)
                    .help("strftime specifiers (`%Y-%m-%d`) use the event's time; write `%%` for a literal `%`")
            })?;
            Ok(template)
        })
        .transpose()
}

impl SplunkHecLogsConfig {
    fn settings(&self) -> Result<Settings, BuildError> {
        if self.default_token.expose().trim().is_empty() {
            return Err(BuildError::field("default_token", "is empty")
                .help("set it to the HEC token, e.g. \"${SPLUNK_HEC_TOKEN}\""));
        }
        let compression = self
            .compression
            .check_supported("Splunk HEC", &SUPPORTED_COMPRESSION)?;
        self.healthcheck.timeout()?;
        let client = HecClient::new(self)?;
        let batch = self.batch.settings(BATCH_DEFAULTS)?;
        let request = self.request.settings()?;
        let query_interval = seconds(
            "acknowledgements.query_interval",
            self.acknowledgements.query_interval,
            false,
        )?;
        if self.acknowledgements.retry_limit == 0 {
            return Err(BuildError::field(
                "acknowledgements.retry_limit",
                "must be at least 1",
            ));
        }
        if self.acknowledgements.max_pending_acks == 0 {
            return Err(BuildError::field(
                "acknowledgements.max_pending_acks",
                "must be at least 1",
            ));
        }
        if self.acknowledgements.max_pending_bytes == 0 {
            return Err(BuildError::field(
                "acknowledgements.max_pending_bytes",
                "must be at least 1",
            ));
        }
        let encoder = HecEncoder::new(
            self.endpoint_target,
            &self.encoding,
            template("index", &self.index)?,
            template("source", &self.source)?,
            template("sourcetype", &self.sourcetype)?,
            self.host_key
                .as_deref()
                .unwrap_or(crate::config::globals::HOST_KEY),
            self.envelope_timestamp_key(),
            crate::template::TimeKey::parse(self.template_time_key.as_deref())?,
            &self.indexed_fields,
        )?;
        let send = SendSettings {
            gzip: compression == Compression::Gzip,
            retry_attempts: request.retry_attempts,
            initial_backoff: request.initial_backoff,
            max_backoff: request.max_backoff,
            jitter: request.jitter,
            indexer_acks: self.acknowledgements.indexer_acknowledgements_enabled,
            query_interval,
            ack_timeout: query_interval.saturating_mul(self.acknowledgements.retry_limit),
            max_pending_acks: usize::try_from(self.acknowledgements.max_pending_acks)
                .unwrap_or(usize::MAX)
                .min(Semaphore::MAX_PERMITS),
            max_pending_bytes: self.acknowledgements.max_pending_bytes,
        };
        Ok(Settings {
            encoder,
            client,
            send,
            max_bytes: batch.max_bytes,
            max_events: batch.max_events,
            timeout: batch.timeout,
            concurrency: request.concurrency.min(Semaphore::MAX_PERMITS),
        })
    }
}

impl SplunkHecLogsConfig {
    /// The field sent as `time`: `timestamp_key` (default `timestamp`), or none (`""`) when
    /// Splunk extracts the time itself (`auto_extract_timestamp = true`).
    fn envelope_timestamp_key(&self) -> &str {
        if self.auto_extract_timestamp == Some(true)
            && self.endpoint_target == EndpointTarget::Event
        {
            return "";
        }
        self.timestamp_key
            .as_deref()
            .unwrap_or(crate::config::globals::TIMESTAMP_KEY)
    }
}

impl SinkComponent for SplunkHecLogsConfig {
    fn apply_globals(&mut self, globals: &crate::config::GlobalOptions) {
        self.proxy = globals.proxy_under(&self.proxy);
        let schema = &globals.log_schema;
        if self.host_key.is_none() {
            self.host_key.clone_from(&schema.host_key);
        }
        if self.timestamp_key.is_none() {
            self.timestamp_key.clone_from(&schema.timestamp_key);
        }
        self.template_time_key.clone_from(&schema.timestamp_key);
        if self.encoding.message_key.is_none() {
            self.encoding.message_key.clone_from(&schema.message_key);
        }
    }

    fn build(&self, cx: SinkContext) -> Result<ComponentTask, BuildError> {
        let settings = self.settings()?;
        Ok(Box::pin(super::sink::run(settings, cx)))
    }

    fn healthcheck(&self) -> Healthcheck {
        self.healthcheck.bound(match HecClient::new(self) {
            Ok(client) => Box::pin(async move { client.healthcheck().await }),
            Err(error) => Box::pin(async move { Err(HealthcheckError(error.message)) }),
        })
    }

    fn acknowledgements(&self) -> Option<bool> {
        self.acknowledgements.enabled
    }
}
