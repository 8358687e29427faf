//! The one way a component builds its HTTP client: its own settings (timeouts, user agent,
//! redirects) on a `reqwest::ClientBuilder`, then its `tls` ([`TlsConfig`]) and `proxy`
//! ([`ProxyConfig`]) options.

use reqwest::{Client, ClientBuilder};

use super::proxy::ProxyConfig;
use super::tls::TlsConfig;
use crate::component::BuildError;

/// The `User-Agent` of every HTTP request the pipeline makes.
pub(crate) const USER_AGENT: &str = concat!("c1-pipeline/", env!("CARGO_PKG_VERSION"));

/// Applies `tls` and `proxy` to `builder` and builds the client. Errors name the option
/// (`tls.ca_file: cannot read …`, `proxy.http: is not a URL …`).
pub(crate) fn build(
    builder: ClientBuilder,
    tls: &TlsConfig,
    proxy: &ProxyConfig,
) -> Result<Client, BuildError> {
    let builder = tls.apply(builder)?;
    let builder = proxy.apply(builder)?;
    builder.build().map_err(|error| {
        BuildError::field(
            "tls",
            format!(
                "cannot build the HTTP client: {}",
                crate::error_text::error_chain(&error)
            ),
        )
    })
}
