//! The `conductorone` source's options, their checks, and building it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::checkpoint::CheckpointStore;
use super::client::{ApiClient, ApiError, ListRequest, SORT_ASC};
use super::credentials::AssertionKey;
use super::token::{Authenticator, TokenClient};
use super::{DEFAULT_MAX_UNACKNOWLEDGED_EVENTS, credentials};
use crate::component::{
    BuildError, ComponentTask, Healthcheck, HealthcheckError, SourceComponent, SourceContext,
    seconds,
};
use crate::metrics::ComponentMetrics;
use crate::options::http_client;
use crate::options::proxy::ProxyConfig;
use crate::options::tls::TlsConfig;
use crate::retry::Backoff;
use crate::secrets::Secret;

crate::options::component_options! {
[source_retry]
/// `[sources.ID] type = "conductorone"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConductoroneConfig {
    /// The credential's client id, `<id>@<tenant host>/<use case>`; the tenant host
    /// (`acme.conductor.one`, `acme.c1eu.ai`) comes from it. Required.
    pub client_id: String,
    /// The client secret (`secret-token:conductorone.com:v1:…`). Exactly one of
    /// `client_secret` and `client_secret_file` is required.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// A file holding the client secret (surrounding whitespace is ignored).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The API's root URL instead of `https://<tenant host>`; `http://` only for loopback
    /// addresses (tests, local proxies).
    #[serde(default)]
    pub base_url: Option<String>,
    /// How tokens are requested: `client_assertion` (default: a signed EdDSA JWT, the secret
    /// never leaves the process) or `client_secret` (the secret itself in the request).
    #[serde(default)]
    pub auth_method: AuthMethod,
    /// Events per ListEvents page, 1 to 100. Default 100.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Events sent and not yet covered by the stored checkpoint (waiting for a sink's
    /// acknowledgement, or for the write). Bounds memory downstream and the events sent again
    /// after a crash. Default [`DEFAULT_MAX_UNACKNOWLEDGED_EVENTS`]; at least 1 (a page
    /// always goes out whole).
    #[serde(default = "default_max_unacknowledged_events")]
    pub max_unacknowledged_events: usize,
    /// Seconds between polls once caught up. Default 30.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: f64,
    /// Where the first run starts (ignored once a checkpoint exists): `now` (default),
    /// `beginning`, or an RFC 3339 time.
    #[serde(default)]
    pub start_at: StartAt,
    /// The end of a bounded window, an RFC 3339 time (exclusive). The source asks only for
    /// events before it; once it has delivered the last one (acknowledged by every sink) and
    /// written its checkpoint, it stops, and the pipeline exits when everything has drained.
    /// With `start_at`, a run exports the window `[start_at, until)`. It must be after
    /// `start_at` (after the current time with `start_at = "now"`). Default: none, the
    /// source follows the log for ever.
    #[serde(default)]
    pub until: Option<Until>,
    /// Whether to send DPoP proofs (RFC 9449). Default `true`: every token request carries a
    /// proof (signed by a key the process generates and keeps in memory), which a credential
    /// created with "Require DPoP" needs and others ignore; a DPoP-bound token is then sent
    /// with a fresh proof on every API call. `false` only for a server that refuses requests
    /// carrying proofs.
    #[serde(default = "default_dpop")]
    pub dpop: bool,
    /// TLS options of the client (extra CA, client certificate, verification).
    #[serde(default)]
    pub tls: TlsConfig,
    /// The HTTP proxy (default: the environment's `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`).
    #[serde(default)]
    pub proxy: ProxyConfig,
}
}

fn default_page_size() -> u32 {
    100
}
fn default_max_unacknowledged_events() -> usize {
    DEFAULT_MAX_UNACKNOWLEDGED_EVENTS
}
fn default_poll_interval() -> f64 {
    30.0
}
fn default_dpop() -> bool {
    true
}

/// How the source authenticates to the token endpoint.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// An EdDSA-signed JWT client assertion (what every official SDK sends).
    #[default]
    ClientAssertion,
    /// The client secret itself, in the form body.
    ClientSecret,
}

/// Where the first run starts.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub enum StartAt {
    /// Only events from the moment the source first starts.
    #[default]
    Now,
    /// Everything the tenant still has.
    Beginning,
    /// Events at or after this time, epoch milliseconds.
    Time(i64),
}

impl TryFrom<String> for StartAt {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "now" => Ok(Self::Now),
            "beginning" => Ok(Self::Beginning),
            other => rfc3339_millis(other).map(Self::Time).ok_or_else(|| {
                format!(
                    "`start_at` must be `now`, `beginning` or an RFC 3339 time such as `2026-01-01T00:00:00Z`, not `{other}`"
                )
            }),
        }
    }
}

/// The end of a bounded window, epoch milliseconds (`until`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Until(pub i64);

impl<'de> Deserialize<'de> for Until {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        rfc3339_millis(&text).map(Self).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`until` must be an RFC 3339 time such as `2026-01-02T00:00:00Z`, not `{text}`"
            ))
        })
    }
}

/// An RFC 3339 time as epoch milliseconds.
fn rfc3339_millis(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Checks that the window `[start_at, until)` is not empty.
fn check_window(start_at: StartAt, until: Option<Until>) -> Result<(), BuildError> {
    let Some(Until(until)) = until else {
        return Ok(());
    };
    let (start, what) = match start_at {
        StartAt::Beginning => return Ok(()),
        StartAt::Time(start) => (start, "`start_at`"),
        StartAt::Now => (
            chrono::Utc::now().timestamp_millis(),
            "the current time (`start_at = \"now\"`, the default)",
        ),
    };
    if until > start {
        return Ok(());
    }
    let show = super::source::format_time;
    Err(BuildError::field(
        "until",
        format!(
            "`until` ({}) must be after {what} ({}): the window would be empty",
            show(until),
            show(start)
        ),
    )
    .help("set `start_at` to the start of the window, before `until`"))
}

/// A checked configuration.
#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub(super) client_id: String,
    pub(super) base_url: String,
    pub(super) audience: String,
    pub(super) auth: Authenticator,
    pub(super) page_size: u32,
    pub(super) max_unacknowledged_events: u64,
    pub(super) poll_interval: Duration,
    pub(super) start_at: StartAt,
    /// `until`, epoch milliseconds.
    pub(super) until: Option<i64>,
    pub(super) dpop: bool,
    pub(super) retry: crate::retry::SourceRetry,
    tls: TlsConfig,
    proxy: ProxyConfig,
}

/// A URL's host without the brackets of an IPv6 literal.
fn bare_host(url: &reqwest::Url) -> Option<&str> {
    url.host_str()
        .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    bare_host(url).is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

impl ConductoroneConfig {
    fn secret(&self) -> Result<(Secret, &'static str), BuildError> {
        match (&self.client_secret, &self.client_secret_file) {
            (Some(secret), None) => Ok((secret.clone(), "client_secret")),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    BuildError::field(
                        "client_secret_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                Ok((Secret::new(text.trim()), "client_secret_file"))
            }
            (Some(_), Some(_)) => Err(BuildError::field(
                "client_secret_file",
                "both `client_secret` and `client_secret_file` are set",
            )
            .help("keep one of them")),
            (None, None) => Err(
                BuildError::field("client_secret", "no client secret is set")
                    .help("set `client_secret = \"${C1_CLIENT_SECRET}\"` or `client_secret_file`"),
            ),
        }
    }

    fn settings(&self) -> Result<Settings, BuildError> {
        let client_id = self.client_id.trim().to_owned();
        let host = credentials::tenant_host(&client_id)
            .map_err(|e| BuildError::field("client_id", e.to_string()))?;
        // Empty counts as unset, so `base_url = "${C1_BASE_URL:-}"` works in a config.
        let base_url = self
            .base_url
            .as_deref()
            .filter(|raw| !raw.trim().is_empty());
        let (base_url, audience) = match base_url {
            None => (
                format!("https://{host}"),
                credentials::audience(&host).to_owned(),
            ),
            Some(raw) => {
                let url = reqwest::Url::parse(raw.trim()).map_err(|e| {
                    BuildError::field("base_url", format!("`{raw}` is not a URL: {e}"))
                })?;
                if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&url)) {
                    return Err(BuildError::field(
                        "base_url",
                        format!("`{raw}` must use https (http only for loopback addresses)"),
                    ));
                }
                let Some(audience) = bare_host(&url).map(str::to_owned) else {
                    return Err(BuildError::field(
                        "base_url",
                        format!("`{raw}` has no host"),
                    ));
                };
                (url.as_str().trim_end_matches('/').to_owned(), audience)
            }
        };
        let (secret, secret_field) = self.secret()?;
        // No `field`: the error would then quote the option's line of the file, which may
        // hold the secret itself. The message names the option instead.
        let key = credentials::parse_secret(secret.expose()).map_err(|e| BuildError {
            field: None,
            message: format!("`{secret_field}`: {e}"),
            help: Some("use the secret exactly as ConductorOne showed it when the credential was created: `secret-token:conductorone.com:v1:…`".to_owned()),
            position_in_value: None,
        })?;
        let auth = match self.auth_method {
            AuthMethod::ClientAssertion => Authenticator::Assertion(AssertionKey::new(key)),
            AuthMethod::ClientSecret => Authenticator::Secret(secret),
        };
        if !(1..=100).contains(&self.page_size) {
            return Err(BuildError::field(
                "page_size",
                format!("must be between 1 and 100, not {}", self.page_size),
            ));
        }
        if self.max_unacknowledged_events == 0 {
            return Err(BuildError::field(
                "max_unacknowledged_events",
                "must be at least 1, not 0",
            ));
        }
        check_window(self.start_at, self.until)?;
        let retry = self.source_retry()?;
        Ok(Settings {
            client_id,
            base_url,
            audience,
            auth,
            page_size: self.page_size,
            max_unacknowledged_events: self.max_unacknowledged_events as u64,
            poll_interval: seconds("poll_interval_secs", self.poll_interval_secs, false)?,
            start_at: self.start_at,
            until: self.until.map(|Until(ms)| ms),
            dpop: self.dpop,
            retry,
            tls: self.tls.clone(),
            proxy: self.proxy.clone(),
        })
    }
}

impl Settings {
    fn client(&self, metrics: Option<Arc<ComponentMetrics>>) -> Result<ApiClient, BuildError> {
        let builder = reqwest::Client::builder()
            .timeout(self.retry.request_timeout)
            .connect_timeout(self.retry.request_timeout.min(Duration::from_secs(10)))
            // Never follow a redirect with the bearer token (it could lead to another host).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(http_client::USER_AGENT);
        let http = http_client::build(builder, &self.tls, &self.proxy)?;
        let tokens = TokenClient::new(
            http.clone(),
            &self.base_url,
            self.client_id.clone(),
            self.audience.clone(),
            self.auth.clone(),
            self.dpop,
        );
        Ok(ApiClient::new(http, self.base_url.clone(), tokens, metrics))
    }

    pub(super) fn backoff(&self) -> Backoff {
        self.retry.backoff()
    }
}

impl SourceComponent for ConductoroneConfig {
    fn apply_globals(&mut self, globals: &crate::config::GlobalOptions) {
        self.proxy = globals.proxy_under(&self.proxy);
    }

    fn build(&self, cx: SourceContext) -> Result<ComponentTask, BuildError> {
        let settings = self.settings()?;
        let Some(data_dir) = cx.data_dir.clone() else {
            return Err(BuildError {
                field: None,
                message: "the conductorone source keeps its checkpoint in `data_dir`, which is not set".to_owned(),
                help: Some("add `data_dir = \"/var/lib/c1-pipeline\"` at the top level of the configuration".to_owned()),
                position_in_value: None,
            });
        };
        let client = settings.client(Some(Arc::clone(&cx.metrics)))?;
        let store = CheckpointStore::new(&data_dir, &cx.id);
        Ok(Box::pin(super::source::run(settings, client, store, cx)))
    }

    /// Mints a token, calls `GET /api/v1/auth/introspect`, then lists one event (from now) to
    /// prove the credential may read the system log.
    fn healthcheck(&self) -> Healthcheck {
        let settings = self.settings();
        Box::pin(async move {
            let settings = settings.map_err(|e| HealthcheckError(e.message))?;
            let client = settings
                .client(None)
                .map_err(|e| HealthcheckError(e.to_string()))?;
            let identity = client
                .introspect()
                .await
                .map_err(|e| HealthcheckError(format!("{} ({})", e, settings.base_url)))?;
            let field = |name: &str| {
                let value = identity.get(name).unwrap_or(&serde_json::Value::Null);
                crate::secrets::redact(&value.to_string())
            };
            tracing::debug!(
                principal = %field("principleId"),
                roles = %field("roles"),
                "conductorone: credential introspected"
            );
            let probe = ListRequest {
                page_size: 1,
                sort_direction: SORT_ASC,
                since: Some(super::source::format_time(
                    chrono::Utc::now().timestamp_millis(),
                )),
                ..ListRequest::default()
            };
            client.list_events(&probe).await.map_err(|e| match e {
                ApiError::Forbidden(_) => HealthcheckError(format!(
                    "the credential is valid but lacks system-log access: {e}"
                )),
                other => HealthcheckError(format!("listing system-log events failed: {other}")),
            })?;
            Ok(())
        })
    }
}
