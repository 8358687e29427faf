//! `request.*`: concurrency, retries and timeouts of a sink's requests (Vector's names and
//! defaults), shared by the Splunk HEC and S3 sinks.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::component::{BuildError, seconds};

/// `request.concurrency`: `"adaptive"`, `"none"` or a number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Concurrency {
    /// Vector's default. Here a fixed limit of [`ADAPTIVE_CONCURRENCY`] requests (no AIMD
    /// controller yet): enough to keep a HEC busy without flooding it.
    #[default]
    Adaptive,
    /// One request at a time.
    None,
    /// At most this many requests at once.
    Fixed(usize),
}

/// Requests in flight when `request.concurrency = "adaptive"`.
pub(crate) const ADAPTIVE_CONCURRENCY: usize = 8;

impl Concurrency {
    /// The number of requests allowed in flight.
    pub fn limit(self) -> usize {
        match self {
            Self::Adaptive => ADAPTIVE_CONCURRENCY,
            Self::None => 1,
            Self::Fixed(n) => n,
        }
    }
}

impl<'de> Deserialize<'de> for Concurrency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(0) => Err(serde::de::Error::custom(
                "request.concurrency must be at least 1",
            )),
            Raw::Number(n) => Ok(Self::Fixed(usize::try_from(n).unwrap_or(usize::MAX))),
            Raw::Text(text) if text == "adaptive" => Ok(Self::Adaptive),
            Raw::Text(text) if text == "none" => Ok(Self::None),
            Raw::Text(text) => Err(serde::de::Error::custom(format!(
                "request.concurrency must be \"adaptive\", \"none\" or a number, not {text:?}"
            ))),
        }
    }
}

/// `request` options (Vector's names and defaults).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequestConfig {
    /// Requests in flight. Default `"adaptive"` (see [`Concurrency::Adaptive`]).
    #[serde(default)]
    pub concurrency: Concurrency,
    /// Retries of one batch after its first attempt (Vector's meaning: the maximum number of
    /// retries; 0 = none) before its events are finalized as errored, so the source resends
    /// them. Default unlimited.
    #[serde(default = "default_retry_attempts")]
    pub retry_attempts: u64,
    /// First backoff, in seconds. Default 1.
    #[serde(default = "default_initial_backoff")]
    pub retry_initial_backoff_secs: f64,
    /// Longest single backoff, in seconds. Default 30. Also the pause between attempts after
    /// an authentication failure (401/403).
    #[serde(default = "default_max_backoff")]
    pub retry_max_duration_secs: f64,
    /// Timeout of one HTTP request, in seconds. Default 60.
    #[serde(default = "default_request_timeout")]
    pub timeout_secs: f64,
}

fn default_retry_attempts() -> u64 {
    u64::MAX
}
fn default_initial_backoff() -> f64 {
    1.0
}
fn default_max_backoff() -> f64 {
    30.0
}
fn default_request_timeout() -> f64 {
    60.0
}

impl Default for RequestConfig {
    fn default() -> Self {
        Self {
            concurrency: Concurrency::default(),
            retry_attempts: default_retry_attempts(),
            retry_initial_backoff_secs: default_initial_backoff(),
            retry_max_duration_secs: default_max_backoff(),
            timeout_secs: default_request_timeout(),
        }
    }
}

/// Checked `request` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestSettings {
    /// Requests in flight, at least 1.
    pub concurrency: usize,
    /// `retry_attempts`: retries after the first attempt.
    pub retry_attempts: u64,
    /// `retry_initial_backoff_secs`.
    pub initial_backoff: Duration,
    /// `retry_max_duration_secs`.
    pub max_backoff: Duration,
    /// `timeout_secs`.
    pub timeout: Duration,
}

impl RequestConfig {
    /// The options, checked (the durations finite, positive seconds).
    pub fn settings(&self) -> Result<RequestSettings, BuildError> {
        Ok(RequestSettings {
            concurrency: self.concurrency.limit(),
            retry_attempts: self.retry_attempts,
            initial_backoff: seconds(
                "request.retry_initial_backoff_secs",
                self.retry_initial_backoff_secs,
                false,
            )?,
            max_backoff: seconds(
                "request.retry_max_duration_secs",
                self.retry_max_duration_secs,
                false,
            )?,
            timeout: seconds("request.timeout_secs", self.timeout_secs, false)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_vectors_and_bad_values_are_named() {
        let settings = RequestConfig::default().settings().expect("valid defaults");
        assert_eq!(
            settings,
            RequestSettings {
                concurrency: ADAPTIVE_CONCURRENCY,
                retry_attempts: u64::MAX,
                initial_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(30),
                timeout: Duration::from_secs(60),
            }
        );
        let parse = |text: &str| toml::from_str::<RequestConfig>(text);
        assert_eq!(
            parse("concurrency = \"none\"").unwrap().concurrency.limit(),
            1
        );
        assert_eq!(parse("concurrency = 3").unwrap().concurrency.limit(), 3);
        assert_eq!(parse("retry_attempts = 0").unwrap().retry_attempts, 0);
        assert!(parse("concurrency = 0").is_err());
        let error = parse("timeout_secs = 0").unwrap().settings().unwrap_err();
        assert_eq!(error.field.as_deref(), Some("request.timeout_secs"));
    }
}
