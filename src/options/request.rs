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
    /// Requests allowed per `rate_limit_duration_secs` window (every attempt counts, retries
    /// included). Default Vector's `i64::MAX`: no limit.
    #[serde(default = "default_rate_limit_num")]
    pub rate_limit_num: u64,
    /// The window of `rate_limit_num`, in seconds. Default 1.
    #[serde(default = "default_rate_limit_duration")]
    pub rate_limit_duration_secs: u64,
    /// `Full` (default): each backoff is uniform in `[0, ceiling]`; `None`: exactly the
    /// ceiling (`initial × 2^attempt`, capped).
    #[serde(default)]
    pub retry_jitter_mode: JitterMode,
}

/// `request.retry_jitter_mode` (Vector's values).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum JitterMode {
    /// Full jitter: each delay uniform between zero and its ceiling.
    #[default]
    Full,
    /// No jitter: each delay is its ceiling.
    None,
}

impl JitterMode {
    /// A fresh backoff schedule (`initial`, doubling up to `cap`) with this jitter.
    pub(crate) fn backoff(self, initial: Duration, cap: Duration) -> crate::retry::Backoff {
        let backoff = crate::retry::Backoff::new(initial, cap);
        match self {
            Self::Full => backoff,
            Self::None => backoff.without_jitter(),
        }
    }
}

fn default_rate_limit_num() -> u64 {
    i64::MAX as u64
}
fn default_rate_limit_duration() -> u64 {
    1
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
            rate_limit_num: default_rate_limit_num(),
            rate_limit_duration_secs: default_rate_limit_duration(),
            retry_jitter_mode: JitterMode::default(),
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
    /// `retry_jitter_mode`.
    pub jitter: JitterMode,
    /// `rate_limit_num` requests per `rate_limit_duration_secs`; `None` when unlimited.
    pub rate_limit: Option<(u64, Duration)>,
}

impl RequestSettings {
    /// The limiter every request of the sink passes through (shared by its request tasks),
    /// when `rate_limit_num` sets a limit.
    pub(crate) fn rate_limiter(&self) -> Option<std::sync::Arc<RateLimiter>> {
        self.rate_limit
            .map(|(num, per)| std::sync::Arc::new(RateLimiter::new(num, per)))
    }
}

/// At most `num` requests per window of `per` (fixed windows, as tower's rate limit that
/// Vector uses): a request beyond the limit waits for the next window.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    num: u64,
    per: Duration,
    /// The current window's start and the requests it has let through.
    window: std::sync::Mutex<(tokio::time::Instant, u64)>,
}

impl RateLimiter {
    /// `num` requests per `per`.
    pub(crate) fn new(num: u64, per: Duration) -> Self {
        Self {
            num,
            per,
            window: std::sync::Mutex::new((tokio::time::Instant::now(), 0)),
        }
    }

    /// Waits until the request may go.
    pub(crate) async fn acquire(&self) {
        loop {
            let wait_until = {
                let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
                let now = tokio::time::Instant::now();
                if now >= window.0 + self.per {
                    *window = (now, 0);
                }
                if window.1 < self.num {
                    window.1 += 1;
                    return;
                }
                window.0 + self.per
            };
            tokio::time::sleep_until(wait_until).await;
        }
    }
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
            jitter: self.retry_jitter_mode,
            rate_limit: self.rate_limit()?,
        })
    }

    fn rate_limit(&self) -> Result<Option<(u64, Duration)>, BuildError> {
        if self.rate_limit_num == 0 {
            return Err(
                BuildError::field("request.rate_limit_num", "must be at least 1")
                    .help("remove it for no limit"),
            );
        }
        if self.rate_limit_duration_secs == 0 {
            return Err(BuildError::field(
                "request.rate_limit_duration_secs",
                "must be at least 1 second",
            )
            .help("the window is a whole number of seconds, as in Vector"));
        }
        Ok((self.rate_limit_num < default_rate_limit_num()).then(|| {
            (
                self.rate_limit_num,
                Duration::from_secs(self.rate_limit_duration_secs),
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_rate_limit_holds_requests_to_the_next_window() {
        let limiter = RateLimiter::new(2, Duration::from_millis(200));
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        // Two in the first window, two in the second, the fifth in the third.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(600), "{elapsed:?}");
    }

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
                jitter: JitterMode::Full,
                rate_limit: None,
            }
        );
        let parse = |text: &str| toml::from_str::<RequestConfig>(text);
        let limited =
            parse("rate_limit_num = 5\nrate_limit_duration_secs = 2\nretry_jitter_mode = \"None\"")
                .unwrap()
                .settings()
                .unwrap();
        assert_eq!(limited.rate_limit, Some((5, Duration::from_secs(2))));
        assert_eq!(limited.jitter, JitterMode::None);
        let error = parse("rate_limit_num = 0").unwrap().settings().unwrap_err();
        assert_eq!(error.field.as_deref(), Some("request.rate_limit_num"));
        assert!(parse("retry_jitter_mode = \"Half\"").is_err());
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
