//! `batch.*`: when a sink sends (or seals) a batch, Vector's names. The limits are the same
//! options in every sink; their defaults are each sink's own ([`BatchDefaults`]), as in Vector.

use std::time::Duration;

use serde::Deserialize;

use crate::component::{BuildError, seconds};

/// `batch` options: a batch is sent when any limit is reached (sizes before compression).
/// Unset limits take the sink's [`BatchDefaults`].
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Bytes of encoded events per batch (before compression).
    #[serde(default)]
    pub max_bytes: Option<usize>,
    /// Events per batch.
    #[serde(default)]
    pub max_events: Option<usize>,
    /// Seconds from a batch's first event until it is sent, however full.
    #[serde(default)]
    pub timeout_secs: Option<f64>,
}

/// A sink's defaults for [`BatchConfig`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchDefaults {
    /// Default `batch.max_bytes`.
    pub max_bytes: usize,
    /// Default `batch.max_events` (`None`: no limit).
    pub max_events: Option<usize>,
    /// Default `batch.timeout_secs`.
    pub timeout_secs: f64,
}

/// Checked batch limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSettings {
    /// Bytes per batch, at least 1.
    pub max_bytes: usize,
    /// Events per batch, at least 1 (`usize::MAX`: no limit).
    pub max_events: usize,
    /// How long a batch may wait for more events.
    pub timeout: Duration,
}

impl BatchConfig {
    /// The limits, unset ones from `defaults`, checked (each at least 1, the timeout a
    /// positive number of seconds).
    pub fn settings(&self, defaults: BatchDefaults) -> Result<BatchSettings, BuildError> {
        let max_bytes = self.max_bytes.unwrap_or(defaults.max_bytes);
        if max_bytes == 0 {
            return Err(BuildError::field("batch.max_bytes", "must be at least 1"));
        }
        let max_events = self.max_events.or(defaults.max_events);
        if max_events == Some(0) {
            return Err(BuildError::field("batch.max_events", "must be at least 1"));
        }
        let timeout = seconds(
            "batch.timeout_secs",
            self.timeout_secs.unwrap_or(defaults.timeout_secs),
            false,
        )?;
        Ok(BatchSettings {
            max_bytes,
            max_events: max_events.unwrap_or(usize::MAX),
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: BatchDefaults = BatchDefaults {
        max_bytes: 1_000,
        max_events: None,
        timeout_secs: 2.0,
    };

    fn settings(text: &str) -> Result<BatchSettings, BuildError> {
        toml::from_str::<BatchConfig>(text)
            .expect("valid batch options")
            .settings(DEFAULTS)
    }

    #[test]
    fn unset_limits_take_the_sinks_defaults() {
        assert_eq!(
            settings(""),
            Ok(BatchSettings {
                max_bytes: 1_000,
                max_events: usize::MAX,
                timeout: Duration::from_secs(2),
            })
        );
        assert_eq!(
            settings("max_bytes = 5\nmax_events = 3\ntimeout_secs = 0.5"),
            Ok(BatchSettings {
                max_bytes: 5,
                max_events: 3,
                timeout: Duration::from_millis(500),
            })
        );
    }

    #[test]
    fn each_bad_limit_is_named() {
        for (text, field) in [
            ("max_bytes = 0", "batch.max_bytes"),
            ("max_events = 0", "batch.max_events"),
            ("timeout_secs = 0", "batch.timeout_secs"),
            ("timeout_secs = -1", "batch.timeout_secs"),
        ] {
            let error = settings(text).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(field), "{text}");
        }
        let error = toml::from_str::<BatchConfig>("max_byte = 1").unwrap_err();
        assert!(error.to_string().contains("max_bytes"), "{error}");
    }
}
