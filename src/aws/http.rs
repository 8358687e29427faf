//! The HTTP side of the AWS clients: the SDK's connector interface over a `reqwest` client
//! built by [`crate::options::http_client::build`], so an AWS component's `tls.*` and
//! `proxy.*` (and the global `proxy`) mean what they mean on every HTTP component, with the
//! same errors.
//!
//! Vector gives its AWS clients a connector of its own for the same reason. The SDK's own
//! client takes a trust store and one proxy URL, not client certificates, `verify_hostname`,
//! `server_name` or separate `http`/`https` proxies.

use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;

use crate::component::BuildError;
use crate::options::proxy::ProxyConfig;
use crate::options::tls::TlsConfig;

/// The reqwest client for an AWS component: `tls` and `proxy` applied, connections given at
/// most `connect_timeout`, and redirects left to the SDK (S3 answers a request for a bucket
/// in another region with a redirect the SDK must see).
pub(crate) fn client(
    tls: &TlsConfig,
    proxy: &ProxyConfig,
    connect_timeout: Duration,
) -> Result<reqwest::Client, BuildError> {
    let builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none());
    crate::options::http_client::build(builder, tls, proxy)
}

/// `client` as the SDK's HTTP client. The SDK's per-attempt timeout still bounds every
/// request; its connect timeout is the one `client` was built with.
pub(crate) fn sdk_client(client: reqwest::Client) -> SharedHttpClient {
    let connector = SharedHttpConnector::new(ReqwestConnector(client));
    http_client_fn(move |_settings, _components| connector.clone())
}

/// Sends the SDK's requests with a reqwest client.
#[derive(Clone, Debug)]
struct ReqwestConnector(reqwest::Client);

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|error| ConnectorError::user(error.into()))?;
            // The body streams as it is (its exact size hint keeps `Content-Length`): an S3
            // part is not copied.
            let request = reqwest::Request::try_from(request.map(reqwest::Body::wrap))
                .map_err(|error| ConnectorError::user(error.into()))?;
            let response = client.execute(request).await.map_err(connector_error)?;
            let response = http::Response::<reqwest::Body>::from(response);
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|error| ConnectorError::other(error.into(), None))
        })
    }
}

/// A failed exchange as the SDK classifies it (timeouts and I/O errors are transient in
/// [`super::classify`] either way; the kind shows in the error text).
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}
