//! The `prometheus_exporter` sink's options.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::component::{BuildError, ComponentTask, SinkComponent, SinkContext, seconds};
use crate::observability::http;
use crate::options::tls::ServerTlsConfig;
use crate::secrets::Secret;
use crate::sinks::SinkAcknowledgements;

/// `[sinks.ID] type = "prometheus_exporter"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusExporterConfig {
    /// Where to serve `GET /metrics`. Default `0.0.0.0:9598` (Vector's).
    #[serde(default = "default_address")]
    pub address: SocketAddr,
    /// Namespace of metrics that have none. Default: none (the name alone).
    #[serde(default)]
    pub default_namespace: Option<String>,
    /// Seconds after which a series that received no new value is no longer served.
    /// Default 60 (Vector's).
    #[serde(default = "default_flush_period")]
    pub flush_period_secs: f64,
    /// `auth.strategy = "basic"` (`user`, `password`) or `"bearer"` (`token`): what a scrape
    /// must present. Default: none.
    #[serde(default)]
    pub auth: Option<ExporterAuth>,
    /// `tls.*`: serve `/metrics` over TLS (`enabled`, `crt_file`, `key_file`), and require
    /// client certificates signed by `ca_file` (`verify_certificate = true`). Default: plain
    /// HTTP.
    #[serde(default)]
    pub tls: ServerTlsConfig,
    /// `acknowledgements.enabled`.
    #[serde(default)]
    pub acknowledgements: SinkAcknowledgements,
    /// `healthcheck.*`: accepted (Vector's option on every sink); there is nothing to check.
    #[serde(default)]
    pub healthcheck: crate::options::HealthcheckConfig,
}

/// `auth` of the `prometheus_exporter` sink (Vector's names).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExporterAuth {
    /// HTTP basic authentication.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: Secret,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: Secret,
    },
}

fn default_address() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 9598))
}

fn default_flush_period() -> f64 {
    60.0
}

/// The checked options the sink uses.
#[derive(Debug)]
pub(super) struct Settings {
    pub(super) address: SocketAddr,
    pub(super) listener: std::net::TcpListener,
    pub(super) default_namespace: Option<String>,
    pub(super) flush_period: Duration,
    /// The exact `Authorization` header a scrape must send.
    pub(super) authorization: Option<Secret>,
    /// Serve over TLS with this configuration.
    pub(super) tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl PrometheusExporterConfig {
    /// The options checked into [`Settings`], the listener bound (an address that cannot be
    /// bound is a configuration error).
    pub(super) fn settings(&self) -> Result<Settings, BuildError> {
        let flush_period = seconds("flush_period_secs", self.flush_period_secs, false)?;
        let tls = self.tls.server_config()?;
        let listener = http::listener(self.address).map_err(|error| {
            BuildError::field(
                "address",
                format!("cannot listen on {}: {error}", self.address),
            )
            .help("choose a free address, or stop what listens there")
        })?;
        let authorization = self.auth.as_ref().map(|auth| match auth {
            ExporterAuth::Basic { user, password } => {
                use base64::Engine as _;
                let pair = format!("{user}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Secret::new(format!("Basic {encoded}"))
            }
            ExporterAuth::Bearer { token } => Secret::new(format!("Bearer {}", token.expose())),
        });
        Ok(Settings {
            address: self.address,
            listener,
            default_namespace: self.default_namespace.clone(),
            flush_period,
            authorization,
            tls,
        })
    }
}

impl SinkComponent for PrometheusExporterConfig {
    fn build(&self, cx: SinkContext) -> Result<ComponentTask, BuildError> {
        let settings = self.settings()?;
        Ok(Box::pin(super::sink::run(settings, cx)))
    }

    fn acknowledgements(&self) -> Option<bool> {
        self.acknowledgements.enabled
    }
}
