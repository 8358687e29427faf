//! AWS connection options shared by the components that talk to S3 (and SQS): region, endpoint,
//! path-style addressing and credentials, with Vector's option names.
//!
//! Every AWS client sends its requests through the component's `tls` and `proxy` options
//! ([`http`]).
//!
//! Retries are the components' own (with [`crate::retry::Backoff`]), so the SDK's retry layer is
//! switched off: one retry policy, one set of options (`request.*`), and every attempt is logged.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use serde::Deserialize;

mod http;

use crate::component::BuildError;
use crate::options::proxy::ProxyConfig;
use crate::options::tls::TlsConfig;
use crate::retry::Verdict;
use crate::secrets::{self, Secret};

/// The region used when neither `region` nor the environment names one.
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

/// `auth`: where credentials come from. Empty (the default) means the standard AWS chain
/// (environment, profile files, web identity, ECS/EC2 metadata).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AwsAuthConfig {
    /// Static access key id (with `secret_access_key`).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Static secret access key (with `access_key_id`). Never logged.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary static credentials. Never logged.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// A named profile from the shared AWS config/credentials files.
    #[serde(default)]
    pub profile: Option<String>,
    /// ARN of a role to assume (with STS) on top of the other credentials.
    #[serde(default)]
    pub assume_role: Option<String>,
    /// External id required by the role's trust policy.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Session name for `assume_role` (default: generated).
    #[serde(default)]
    pub session_name: Option<String>,
    /// A shared credentials file to read `profile` (default `default`) from, instead of
    /// `~/.aws/credentials` (Vector's file-based authentication).
    #[serde(default)]
    pub credentials_file: Option<String>,
    /// The region STS is asked in for `assume_role`. Default: the component's region.
    #[serde(default)]
    pub region: Option<String>,
    /// Seconds that loading credentials may take (each time they are loaded or refreshed).
    /// Default: the SDK's (5).
    #[serde(default)]
    pub load_timeout_secs: Option<u64>,
    /// The EC2 instance metadata client of the credential chain. Default: the SDK's.
    #[serde(default)]
    pub imds: Option<ImdsConfig>,
}

/// `auth.imds.*` (Vector's names and defaults).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ImdsConfig {
    /// Attempts per metadata request. Default 4.
    #[serde(default = "default_imds_attempts")]
    pub max_attempts: u32,
    /// Seconds to connect. Default 1.
    #[serde(default = "default_imds_timeout")]
    pub connect_timeout_seconds: u64,
    /// Seconds to read an answer. Default 1.
    #[serde(default = "default_imds_timeout")]
    pub read_timeout_seconds: u64,
}

fn default_imds_attempts() -> u32 {
    4
}
fn default_imds_timeout() -> u64 {
    1
}

impl ImdsConfig {
    /// The metadata client these options describe.
    fn client(&self) -> aws_config::imds::Client {
        aws_config::imds::Client::builder()
            .max_attempts(self.max_attempts)
            .connect_timeout(Duration::from_secs(self.connect_timeout_seconds))
            .read_timeout(Duration::from_secs(self.read_timeout_seconds))
            .build()
    }
}

impl AwsAuthConfig {
    /// The same options with empty strings treated as unset, so `"${AWS_ACCESS_KEY_ID:-}"` in a
    /// config means "use the credential chain" when the variable is not set.
    pub fn normalized(&self) -> Self {
        let keep = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        let keep_secret = |value: &Option<Secret>| value.clone().filter(|v| !v.expose().is_empty());
        Self {
            access_key_id: keep(&self.access_key_id),
            secret_access_key: keep_secret(&self.secret_access_key),
            session_token: keep_secret(&self.session_token),
            profile: keep(&self.profile),
            assume_role: keep(&self.assume_role),
            external_id: keep(&self.external_id),
            session_name: keep(&self.session_name),
            credentials_file: keep(&self.credentials_file),
            region: keep(&self.region),
            load_timeout_secs: self.load_timeout_secs,
            imds: self.imds,
        }
    }

    /// Checks that the options form one coherent credential source.
    pub fn check(&self) -> Result<(), BuildError> {
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(_), None) => {
                return Err(BuildError::field(
                    "auth.secret_access_key",
                    "`auth.access_key_id` is set but `auth.secret_access_key` is not",
                )
                .help("set both static keys, or neither to use the AWS credential chain"));
            }
            (None, Some(_)) => {
                return Err(BuildError::field(
                    "auth.access_key_id",
                    "`auth.secret_access_key` is set but `auth.access_key_id` is not",
                )
                .help("set both static keys, or neither to use the AWS credential chain"));
            }
            _ => {}
        }
        if self.access_key_id.is_some() && self.profile.is_some() {
            return Err(BuildError::field(
                "auth.profile",
                "`auth.profile` and static keys are both set",
            )
            .help("use one credential source"));
        }
        if self.access_key_id.is_some() && self.credentials_file.is_some() {
            return Err(BuildError::field(
                "auth.credentials_file",
                "`auth.credentials_file` and static keys are both set",
            )
            .help("use one credential source"));
        }
        if self.access_key_id.is_some() && self.imds.is_some() {
            return Err(BuildError::field(
                "auth.imds",
                "`auth.imds` configures the credential chain, which static keys replace",
            )
            .help("remove `auth.imds`, or the static keys"));
        }
        if self.load_timeout_secs == Some(0) {
            return Err(BuildError::field(
                "auth.load_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.assume_role.is_none() && (self.external_id.is_some() || self.session_name.is_some())
        {
            return Err(BuildError::field(
                "auth.external_id",
                "`auth.external_id`/`auth.session_name` need `auth.assume_role`",
            ));
        }
        Ok(())
    }
}

/// `force_path_style`'s default: `true`, as in Vector (most S3-compatible servers need it).
pub(crate) fn default_force_path_style() -> bool {
    true
}

/// Connection options of an AWS service client.
#[derive(Clone, Debug)]
pub struct AwsConnection {
    /// `region` (else `AWS_REGION` / profile, else `us-east-1`).
    pub region: Option<String>,
    /// `endpoint`: an S3-compatible server instead of AWS.
    pub endpoint: Option<String>,
    /// `force_path_style`: `bucket` in the path, not the host name (needed by most local servers).
    pub force_path_style: bool,
    /// `auth`.
    pub auth: AwsAuthConfig,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// The HTTP client every request goes through (`tls`, `proxy`).
    http: reqwest::Client,
}

impl AwsConnection {
    /// The connection the `aws_connection` options describe ([`crate::options`]). One rule for every
    /// component: `region` and `endpoint` are trimmed and empty means unset; `auth` is
    /// normalized the same way ([`AwsAuthConfig::normalized`]). Fails when `tls` or `proxy`
    /// cannot be applied (the error names the option).
    pub fn from_options(
        region: Option<&str>,
        endpoint: Option<&str>,
        force_path_style: bool,
        auth: &AwsAuthConfig,
        (tls, proxy): (&TlsConfig, &ProxyConfig),
        timeout: Duration,
    ) -> Result<Self, BuildError> {
        let set = |value: Option<&str>| {
            value
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        Ok(Self {
            region: set(region),
            endpoint: set(endpoint),
            force_path_style,
            auth: auth.normalized(),
            timeout,
            http: http::client(tls, proxy, connect_timeout(timeout))?,
        })
    }

    /// Loads the shared SDK configuration: region, endpoint, credentials, no SDK retries.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(self.timeout)
                    .connect_timeout(connect_timeout(self.timeout))
                    .build(),
            )
            .http_client(http::sdk_client(self.http.clone()));
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint.clone());
        }
        if let Some(profile) = &self.auth.profile {
            loader = loader.profile_name(profile.clone());
        }
        loader = self.credential_chain_options(loader).await;
        if let (Some(key), Some(secret)) = (&self.auth.access_key_id, &self.auth.secret_access_key)
        {
            // The key id is shown in the configuration's `Debug` (it names the key without
            // granting anything), but an echo from a server is hidden like the secret key.
            secrets::register(key);
            let credentials = Credentials::new(
                key.clone(),
                secret.expose().to_owned(),
                self.auth
                    .session_token
                    .as_ref()
                    .map(|token| token.expose().to_owned()),
                None,
                "c1-pipeline-config",
            );
            loader = loader.credentials_provider(credentials);
        }
        let mut config = loader.load().await;
        if config.region().is_none() {
            config = config
                .into_builder()
                .region(Region::new(DEFAULT_REGION))
                .build();
        }
        if let Some(role) = &self.auth.assume_role {
            let mut builder = aws_config::sts::AssumeRoleProvider::builder(role.clone());
            if let Some(external_id) = &self.auth.external_id {
                builder = builder.external_id(external_id.clone());
            }
            if let Some(name) = &self.auth.session_name {
                builder = builder.session_name(name.clone());
            }
            if let Some(region) = &self.auth.region {
                builder = builder.region(Region::new(region.clone()));
            }
            let provider = builder.configure(&config).build().await;
            config = config
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build();
        }
        config
    }

    /// `auth.credentials_file`, `auth.load_timeout_secs` and `auth.imds.*` on the loader.
    // `ConfigLoader::profile_files` takes aws-config's (deprecated) aliases of aws-runtime's
    // types; a direct aws-runtime dependency only for the new names is not worth it.
    #[allow(deprecated)]
    async fn credential_chain_options(
        &self,
        mut loader: aws_config::ConfigLoader,
    ) -> aws_config::ConfigLoader {
        use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
        if let Some(path) = &self.auth.credentials_file {
            loader = loader.profile_files(
                ProfileFiles::builder()
                    .with_file(ProfileFileKind::Credentials, path)
                    .include_default_config_file(true)
                    .build(),
            );
        }
        if let Some(seconds) = self.auth.load_timeout_secs {
            loader = loader.identity_cache(
                aws_config::identity::IdentityCache::lazy()
                    .load_timeout(Duration::from_secs(seconds))
                    .build(),
            );
        }
        if let (Some(imds), None) = (&self.auth.imds, &self.auth.access_key_id) {
            let mut chain =
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .imds_client(imds.client());
            if let Some(profile) = &self.auth.profile {
                chain = chain.profile_name(profile);
            }
            if let Some(region) = &self.region {
                chain = chain.region(Region::new(region.clone()));
            }
            loader = loader.credentials_provider(chain.build().await);
        }
        loader
    }

    /// An S3 client for these options.
    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        let sdk_config = self.sdk_config().await;
        let config = aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(self.force_path_style)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// An SQS client for these options (`endpoint` applies to SQS too: local servers such as
    /// moto serve both on one port).
    pub async fn sqs_client(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config().await)
    }
}

/// The longest a connection may take: the attempt's timeout, at most 10 seconds.
fn connect_timeout(attempt: Duration) -> Duration {
    attempt.min(Duration::from_secs(10))
}

/// Whether a failed AWS request is worth retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// Throttling, 5xx, timeouts, connection failures: retry with backoff.
    Transient,
    /// Access denied, missing bucket, bad request, bad signature: retrying cannot help.
    Permanent,
}

impl ErrorKind {
    /// The retry verdict for a failure of this kind (AWS sends no `Retry-After`).
    pub(crate) fn verdict(self) -> Verdict {
        match self {
            Self::Transient => Verdict::Retry { after: None },
            Self::Permanent => Verdict::Stop,
        }
    }
}

/// The retry policy for AWS requests whose errors went through [`classify`]: what it calls
/// transient is retried.
pub(crate) fn retry_policy((kind, _): &(ErrorKind, String)) -> Verdict {
    kind.verdict()
}

/// Classifies an SDK error, and describes it with the service's code, message and HTTP status.
/// The description is redacted ([`secrets::redact`]): every AWS error text that is logged or
/// reported comes from here, and services quote what they were sent.
pub(crate) fn classify<E>(error: &SdkError<E, HttpResponse>) -> (ErrorKind, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, description) = describe(error);
    (kind, secrets::redact(&description))
}

fn describe<E>(error: &SdkError<E, HttpResponse>) -> (ErrorKind, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::TimeoutError(_) => (ErrorKind::Transient, "request timed out".into()),
        SdkError::DispatchFailure(_) => (
            ErrorKind::Transient,
            format!(
                "could not reach the endpoint: {}",
                crate::error_text::error_chain(error)
            ),
        ),
        SdkError::ResponseError(_) => (
            ErrorKind::Transient,
            format!(
                "unreadable response: {}",
                crate::error_text::error_chain(error)
            ),
        ),
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or("");
            let message = service.err().message().unwrap_or("");
            let transient = status >= 500
                || status == 429
                || status == 408
                || matches!(
                    code,
                    "SlowDown"
                        | "RequestTimeout"
                        | "RequestTimeTooSkewed"
                        | "InternalError"
                        | "ServiceUnavailable"
                        | "Throttling"
                        | "ThrottlingException"
                );
            let kind = if transient {
                ErrorKind::Transient
            } else {
                ErrorKind::Permanent
            };
            let code = if code.is_empty() {
                "no error code"
            } else {
                code
            };
            (kind, format!("HTTP {status} {code}: {message}"))
        }
        other => (ErrorKind::Permanent, crate::error_text::error_chain(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aws_component_resolves_its_connection_by_one_rule() {
        let options = r#"
bucket = "b"
region = " us-west-2 "
endpoint = ""
"#;
        let sink: crate::sinks::aws_s3::AwsS3Config =
            toml::from_str(&format!("{options}encoding.codec = \"json\"")).expect("sink options");
        let source: crate::sources::conductorone_s3::ConductoroneS3Config =
            toml::from_str(options).expect("source options");
        let timeout = Duration::from_secs(1);
        for connection in [sink.aws_connection(timeout), source.aws_connection(timeout)] {
            let connection = connection.expect("no tls or proxy options to fail");
            assert_eq!(connection.region.as_deref(), Some("us-west-2"));
            assert_eq!(connection.endpoint, None);
            assert!(connection.force_path_style, "Vector's default");
        }
    }

    #[test]
    fn secrets_are_redacted_from_debug() {
        let auth = AwsAuthConfig {
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some(Secret::new("wJalrXUtnFEMI/K7MDENG")),
            session_token: Some(Secret::new("token-secret")),
            ..AwsAuthConfig::default()
        };
        let text = format!("{auth:?}");
        assert!(text.contains("AKIDEXAMPLE"));
        assert!(!text.contains("wJalrXUtnFEMI"));
        assert!(!text.contains("token-secret"));
    }

    #[test]
    fn half_a_static_key_is_a_configuration_error() {
        let auth = AwsAuthConfig {
            access_key_id: Some("AKIDEXAMPLE".into()),
            ..AwsAuthConfig::default()
        };
        let error = auth.check().unwrap_err();
        assert_eq!(error.field.as_deref(), Some("auth.secret_access_key"));
    }
}
