//! Retry timing shared by every component that talks to a remote service.
//!
//! [`Backoff`] is exponential backoff with *full jitter* (each delay is uniform in
//! `[0, min(cap, initial × 2^attempt)]`), which spreads retries of many clients apart after a
//! shared outage. [`parse_retry_after`] reads an HTTP `Retry-After` header in both of its forms.
//! Which errors are worth retrying is each component's own decision: the services differ.

use std::time::{Duration, SystemTime};

use rand::RngExt;

/// Exponential backoff with full jitter.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays start at up to `initial`, double with every failure, and never exceed `cap`.
    pub fn new(initial: Duration, cap: Duration) -> Self {
        Self {
            initial,
            cap: cap.max(initial),
            attempt: 0,
        }
    }

    /// The ceiling of the next delay, before jitter: `min(cap, initial × 2^attempt)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.cap)
    }

    /// The delay before the next attempt (uniform in `[0, ceiling]`), and counts the failure.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// The delay before the next attempt when the server asked for `retry_after`: the server's
    /// wish, capped at `cap`, wins over the jittered delay (but the failure still counts).
    pub fn next_delay_honouring(&mut self, retry_after: Option<Duration>) -> Duration {
        let jittered = self.next_delay();
        match retry_after {
            Some(wanted) => wanted.min(self.cap),
            None => jittered,
        }
    }

    /// Failures counted since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Call after a success: the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Parses a `Retry-After` header value: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, a date in the past meaning "now"). `None` if neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let when = SystemTime::from(when);
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The API-polling sources' defaults (serde `default` functions) for `request_timeout_secs`,
/// `retry_initial_backoff_secs` and `retry_max_backoff_secs`, so the sources agree.
pub mod source_defaults {
    /// `request_timeout_secs`: 30.
    pub fn request_timeout_secs() -> f64 {
        30.0
    }

    /// `retry_initial_backoff_secs`: 0.5.
    pub fn initial_backoff_secs() -> f64 {
        0.5
    }

    /// `retry_max_backoff_secs`: 30.
    pub fn max_backoff_secs() -> f64 {
        30.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_stay_within_the_ceiling() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let ceilings: Vec<u64> = (0..10)
            .map(|_| {
                let ceiling = backoff.ceiling();
                assert!(backoff.next_delay() <= ceiling);
                ceiling.as_millis() as u64
            })
            .collect();
        assert_eq!(
            ceilings,
            [
                500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000
            ]
        );
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(500));
        for _ in 0..200 {
            backoff.next_delay();
        }
        assert_eq!(backoff.ceiling(), Duration::from_secs(30));
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let wanted = Some(Duration::from_secs(7));
        assert_eq!(backoff.next_delay_honouring(wanted), Duration::from_secs(7));
        let wanted = Some(Duration::from_secs(3600));
        assert_eq!(
            backoff.next_delay_honouring(wanted),
            Duration::from_secs(30)
        );
        assert_eq!(backoff.attempts(), 2);
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 07:28:00
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
