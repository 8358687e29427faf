//! Option groups that several components take, declared once.
//!
//! Nested tables, one type each (a component embeds them as `#[serde(default)]` fields):
//!
//! * [`tls`]: `tls.*` of HTTP clients, and [`http_client`], the one builder that applies it and
//!   [`proxy`] (`proxy.*`) to a `reqwest` client;
//! * [`batch`]: `batch.*` of sinks (each sink gives its own defaults);
//! * [`buffer`]: `buffer.*` of every sink (taken by the loader, like `inputs`);
//! * [`request`]: `request.*` of sinks (concurrency, retries, timeout);
//! * [`compression`]: `compression` of sinks, and the one gzip and zstd level.
//!
//! Fields at a component's top level come from the `component_options!` macro:
//!
//! `component_options!` declares a component's configuration struct with the fields of the
//! named groups appended, and a method per group that resolves them:
//!
//! * `aws_connection`: `region`, `endpoint`, `force_path_style` (default `true`), `auth`,
//!   `tls` and `proxy`, as in Vector; `aws_connection(timeout)` gives the
//!   [`crate::aws::AwsConnection`], one rule for every AWS component (trimmed, empty = unset).
//! * `source_retry`: `request_timeout_secs` (default 30), `retry_initial_backoff_secs` (0.5)
//!   and `retry_max_backoff_secs` (30) of the sources that call a remote service;
//!   `source_retry()` checks them into a [`crate::retry::SourceRetry`].
//!
//! A macro rather than `#[serde(flatten)]`ed structs: flattening loses serde's precise
//! "unknown field `x`, expected one of …" errors (with `deny_unknown_fields`), which the
//! configuration errors and their "did you mean" are built on.
//!
//! ```ignore
//! crate::options::component_options! {
//!     [source_retry, aws_connection]
//!     /// `[sources.ID] type = "example"`.
//!     #[derive(Clone, Debug, Deserialize)]
//!     #[serde(deny_unknown_fields)]
//!     pub struct ExampleConfig {
//!         pub bucket: String,
//!     }
//! }
//! ```

pub(crate) mod batch;
pub(crate) mod buffer;
pub(crate) mod compression;
pub(crate) mod http_client;
pub(crate) mod proxy;
pub(crate) mod request;
pub(crate) mod tls;

/// Declares a configuration struct with the fields of the listed option groups appended (see
/// the module documentation).
macro_rules! component_options {
    (
        [$($group:ident),* $(,)?]
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $($fields:tt)*
        }
    ) => {
        $crate::options::component_options!(
            @groups [$($group),*] [$(#[$attr])*] $vis $name { $($fields)* }
        );
    };
    (@groups [aws_connection $(, $rest:ident)*] $attrs:tt $vis:vis $name:ident { $($fields:tt)* }) => {
        $crate::options::component_options!(@groups [$($rest),*] $attrs $vis $name {
            $($fields)*
            /// AWS region (default: from the environment or profile, else `us-east-1`).
            #[serde(default)]
            pub region: Option<String>,
            /// An S3-compatible endpoint instead of AWS (`http://127.0.0.1:9000`); for a
            /// component that also uses SQS, the SQS endpoint too.
            #[serde(default)]
            pub endpoint: Option<String>,
            /// Put the bucket in the path rather than the host name. Default `true`, as in
            /// Vector.
            #[serde(default = "crate::aws::default_force_path_style")]
            pub force_path_style: bool,
            /// Credentials (default: the AWS credential chain).
            #[serde(default)]
            pub auth: crate::aws::AwsAuthConfig,
            /// TLS of the AWS requests (the same options as every HTTP client's).
            #[serde(default)]
            pub tls: crate::options::tls::TlsConfig,
            /// The HTTP proxy of the AWS requests (default: the global `proxy`, then the
            /// environment's `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`).
            #[serde(default)]
            pub proxy: crate::options::proxy::ProxyConfig,
        });

        impl $name {
            /// The AWS connection these options describe, with a per-attempt `timeout`;
            /// fails when `tls` or `proxy` cannot be applied.
            pub fn aws_connection(
                &self,
                timeout: std::time::Duration,
            ) -> Result<crate::aws::AwsConnection, crate::component::BuildError> {
                crate::aws::AwsConnection::from_options(
                    self.region.as_deref(),
                    self.endpoint.as_deref(),
                    self.force_path_style,
                    &self.auth,
                    (&self.tls, &self.proxy),
                    timeout,
                )
            }
        }
    };
    (@groups [source_retry $(, $rest:ident)*] $attrs:tt $vis:vis $name:ident { $($fields:tt)* }) => {
        $crate::options::component_options!(@groups [$($rest),*] $attrs $vis $name {
            $($fields)*
            /// Seconds before a request to the service is abandoned (and retried). Default 30.
            #[serde(default = "crate::retry::source_defaults::request_timeout_secs")]
            pub request_timeout_secs: f64,
            /// First retry delay ceiling in seconds; doubles with every failure. Default 0.5.
            #[serde(default = "crate::retry::source_defaults::initial_backoff_secs")]
            pub retry_initial_backoff_secs: f64,
            /// Longest retry delay in seconds, also the cap on a server's `Retry-After`.
            /// Default 30.
            #[serde(default = "crate::retry::source_defaults::max_backoff_secs")]
            pub retry_max_backoff_secs: f64,
        });

        impl $name {
            /// The retry options, checked.
            fn source_retry(&self) -> Result<crate::retry::SourceRetry, crate::component::BuildError> {
                crate::retry::SourceRetry::from_options(
                    self.request_timeout_secs,
                    self.retry_initial_backoff_secs,
                    self.retry_max_backoff_secs,
                )
            }
        }
    };
    (@groups [] [$($attrs:tt)*] $vis:vis $name:ident { $($fields:tt)* }) => {
        $($attrs)*
        $vis struct $name {
            $($fields)*
        }
    };
}
pub(crate) use component_options;

/// `healthcheck.*` of a component that checks its destination at start-up and in `validate`
/// (Vector's option).
#[derive(Clone, Copy, Debug, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthcheckConfig {
    /// Run the check. Default `true`. On a sink without a check of its own (`console`,
    /// `blackhole`) the table is accepted and changes nothing.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Seconds the check may take before it counts as failed. Default 10 (Vector's).
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// Default `healthcheck.timeout`, in seconds.
const DEFAULT_HEALTHCHECK_TIMEOUT: f64 = 10.0;

impl HealthcheckConfig {
    /// The checked `timeout`.
    pub(crate) fn timeout(&self) -> Result<std::time::Duration, crate::component::BuildError> {
        crate::component::seconds(
            "healthcheck.timeout",
            self.timeout.unwrap_or(DEFAULT_HEALTHCHECK_TIMEOUT),
            false,
        )
    }

    /// `check` as configured: skipped when disabled, failed when it outlasts `timeout`.
    pub(crate) fn bound(
        &self,
        check: crate::component::Healthcheck,
    ) -> crate::component::Healthcheck {
        if !self.enabled {
            return crate::component::healthy();
        }
        let timeout = self.timeout();
        Box::pin(async move {
            let limit = timeout.map_err(|e| crate::component::HealthcheckError(e.to_string()))?;
            tokio::time::timeout(limit, check)
                .await
                .unwrap_or_else(|_| {
                    Err(crate::component::HealthcheckError(format!(
                        "no answer within healthcheck.timeout ({} s)",
                        limit.as_secs_f64()
                    )))
                })
        })
    }
}

impl Default for HealthcheckConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            timeout: None,
        }
    }
}

/// `true`, for boolean options whose default is on (serde `default` function).
pub(crate) fn default_true() -> bool {
    true
}
