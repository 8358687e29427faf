//! Retrying, for every component that talks to a remote service.
//!
//! Two questions, kept apart as in tower's `retry::Policy`: *whether* a failure is worth
//! another attempt is the component's own knowledge of its service (a [`RetryPolicy`] looks at
//! the error and gives a [`Verdict`]); *when*, and how many times, is the same everywhere
//! ([`Retries`]: exponential backoff with *full jitter* — each delay uniform in
//! `[0, min(cap, initial × 2^attempt)]`, which spreads many clients apart after a shared
//! outage — a server's `Retry-After` honoured up to the cap, and an optional limit on
//! retries). [`retry`] runs an operation under both. [`parse_retry_after`] reads an HTTP
//! `Retry-After` header in each form RFC 9110 allows.

use std::time::{Duration, SystemTime};

use rand::RngExt;

/// Exponential backoff with full jitter.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    cap: Duration,
    attempt: u32,
    /// Whether delays are drawn uniformly below the ceiling (`request.retry_jitter_mode`).
    jitter: bool,
}

impl Backoff {
    /// Delays start at up to `initial`, double with every failure, and never exceed `cap`.
    pub(crate) fn new(initial: Duration, cap: Duration) -> Self {
        Self {
            initial,
            cap: cap.max(initial),
            attempt: 0,
            jitter: true,
        }
    }

    /// The same schedule without jitter: each delay is its ceiling.
    pub(crate) fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The ceiling of the next delay, before jitter: `min(cap, initial × 2^attempt)`.
    pub(crate) fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.cap)
    }

    /// The delay before the next attempt (uniform in `[0, ceiling]`, or the ceiling without
    /// jitter), and counts the failure.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        if !self.jitter {
            return ceiling;
        }
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// The delay before the next attempt when the server asked for `retry_after`: the server's
    /// wish, capped at `cap`, wins over the jittered delay (but the failure still counts).
    pub(crate) fn next_delay_honouring(&mut self, retry_after: Option<Duration>) -> Duration {
        let jittered = self.next_delay();
        match retry_after {
            Some(wanted) => wanted.min(self.cap),
            None => jittered,
        }
    }

    /// Failures counted since the last success.
    #[cfg(test)]
    pub(crate) fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Call after a success: the next failure starts from `initial` again.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Parses a `Retry-After` header value: delay-seconds (`120`) or an HTTP date in any of the
/// three forms RFC 9110 allows (IMF-fixdate `Wed, 21 Oct 2015 07:28:00 GMT`, RFC 850
/// `Wednesday, 21-Oct-15 07:28:00 GMT`, asctime `Wed Oct 21 07:28:00 2015`); a date in the
/// past means "now". `None` if neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What a [`RetryPolicy`] says of a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Transient: try again, after the server's `Retry-After` when it gave one.
    Retry {
        /// The delay the server asked for.
        after: Option<Duration>,
    },
    /// Permanent: another attempt cannot help.
    Stop,
}

/// Whether a failure is worth another attempt: each service's own rules (which statuses
/// are transient, whether it sent `Retry-After`).
pub(crate) trait RetryPolicy<E> {
    /// The verdict on `error`.
    fn judge(&self, error: &E) -> Verdict;
}

/// Any `Fn(&E) -> Verdict` is a policy.
impl<E, F: Fn(&E) -> Verdict> RetryPolicy<E> for F {
    fn judge(&self, error: &E) -> Verdict {
        self(error)
    }
}

/// When to retry and how often: a [`Backoff`] and an optional limit on retries (Vector's
/// `request.retry_attempts`: the maximum number of retries; 0 = none).
#[derive(Clone, Debug)]
pub(crate) struct Retries {
    backoff: Backoff,
    max_retries: Option<u64>,
    retries: u64,
}

impl Retries {
    /// Retries after `backoff`'s delays, at most `max_retries` times (`None`: no limit).
    pub(crate) fn new(backoff: Backoff, max_retries: Option<u64>) -> Self {
        Self {
            backoff,
            max_retries,
            retries: 0,
        }
    }

    /// The delay before the next attempt after a failure judged `verdict`; `None` when the
    /// failure is permanent or the retries are used up. Counts the retry.
    pub(crate) fn next(&mut self, verdict: Verdict) -> Option<Duration> {
        let Verdict::Retry { after } = verdict else {
            return None;
        };
        if self.max_retries.is_some_and(|max| self.retries >= max) {
            return None;
        }
        self.retries += 1;
        Some(self.backoff.next_delay_honouring(after))
    }

    /// Retries since the last [`reset`](Self::reset).
    pub(crate) fn retries(&self) -> u64 {
        self.retries
    }

    /// After a success: the next failure starts again from the first delay and a full count.
    pub(crate) fn reset(&mut self) {
        self.retries = 0;
        self.backoff.reset();
    }

    /// After progress that does not end the operation (a request accepted whose outcome is
    /// still awaited): the next failure starts again from the first delay, while the retries
    /// already made still count against the limit.
    pub(crate) fn reset_backoff(&mut self) {
        self.backoff.reset();
    }
}

/// Runs `attempt` until it succeeds, `policy` calls a failure permanent, or `retries` are
/// used up (then the last error is returned). Before each retry `on_retry(error, retry,
/// delay)` is called (to log it), then the delay is slept. `retries` is reset on success.
pub(crate) async fn retry<T, E, Fut>(
    policy: &impl RetryPolicy<E>,
    retries: &mut Retries,
    mut attempt: impl FnMut() -> Fut,
    mut on_retry: impl FnMut(&E, u64, Duration),
) -> Result<T, E>
where
    Fut: std::future::Future<Output = Result<T, E>>,
{
    loop {
        match attempt().await {
            Ok(value) => {
                retries.reset();
                return Ok(value);
            }
            Err(error) => {
                let Some(delay) = retries.next(policy.judge(&error)) else {
                    return Err(error);
                };
                on_retry(&error, retries.retries(), delay);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// A source's resolved retry options (the `source_retry` options of [`crate::options`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SourceRetry {
    /// `request_timeout_secs`.
    pub request_timeout: Duration,
    /// `retry_initial_backoff_secs`.
    pub initial_backoff: Duration,
    /// `retry_max_backoff_secs`, at least `initial_backoff`.
    pub max_backoff: Duration,
}

impl SourceRetry {
    /// Checks the three options (finite, positive seconds).
    pub(crate) fn from_options(
        request_timeout_secs: f64,
        initial_backoff_secs: f64,
        max_backoff_secs: f64,
    ) -> Result<Self, crate::component::BuildError> {
        use crate::component::seconds;
        let initial_backoff = seconds("retry_initial_backoff_secs", initial_backoff_secs, false)?;
        Ok(Self {
            request_timeout: seconds("request_timeout_secs", request_timeout_secs, false)?,
            initial_backoff,
            max_backoff: seconds("retry_max_backoff_secs", max_backoff_secs, false)?
                .max(initial_backoff),
        })
    }

    /// A fresh backoff schedule from these options.
    pub(crate) fn backoff(&self) -> Backoff {
        Backoff::new(self.initial_backoff, self.max_backoff)
    }
}

/// Defaults of the `source_retry` options (serde `default` functions).
pub(crate) mod source_defaults {
    /// `request_timeout_secs`: 30.
    pub(crate) fn request_timeout_secs() -> f64 {
        30.0
    }

    /// `retry_initial_backoff_secs`: 0.5.
    pub(crate) fn initial_backoff_secs() -> f64 {
        0.5
    }

    /// `retry_max_backoff_secs`: 30.
    pub(crate) fn max_backoff_secs() -> f64 {
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
    fn without_jitter_each_delay_is_its_ceiling() {
        let mut backoff =
            Backoff::new(Duration::from_millis(500), Duration::from_secs(2)).without_jitter();
        let delays: Vec<u128> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 2000]);
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
    fn retries_stop_on_a_permanent_verdict_and_after_the_limit() {
        let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(40));
        let mut retries = Retries::new(backoff.clone(), Some(2));
        let transient = Verdict::Retry { after: None };
        assert_eq!(retries.next(Verdict::Stop), None);
        assert!(retries.next(transient).is_some());
        let asked = Verdict::Retry {
            after: Some(Duration::from_secs(5)),
        };
        assert_eq!(
            retries.next(asked),
            Some(Duration::from_millis(40)),
            "capped"
        );
        assert_eq!(retries.next(transient), None, "two retries, no more");
        retries.reset();
        assert!(retries.next(transient).is_some());
        // 0 means no retry at all; `None`, no limit.
        assert_eq!(Retries::new(backoff.clone(), Some(0)).next(transient), None);
        let mut unlimited = Retries::new(backoff, None);
        assert!((0..1000).all(|_| unlimited.next(transient).is_some()));
    }

    #[tokio::test]
    async fn retry_runs_until_success_or_a_permanent_failure() {
        let policy = |error: &&str| {
            if *error == "busy" {
                Verdict::Retry { after: None }
            } else {
                Verdict::Stop
            }
        };
        let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(10));
        let mut retries = Retries::new(backoff, None);
        let mut answers = vec![Ok(7), Err("busy"), Err("busy")];
        let mut logged = Vec::new();
        let result = retry(
            &policy,
            &mut retries,
            || std::future::ready(answers.pop().expect("an answer")),
            |error, retry, _| logged.push((*error, retry)),
        )
        .await;
        assert_eq!(result, Ok(7));
        assert_eq!(logged, [("busy", 1), ("busy", 2)]);
        assert_eq!(retries.retries(), 0, "reset after the success");
        let mut answers = vec![Err("denied"), Err("busy")];
        let result: Result<i32, &str> = retry(
            &policy,
            &mut retries,
            || std::future::ready(answers.pop().expect("an answer")),
            |_, _, _| {},
        )
        .await;
        assert_eq!(result, Err("denied"));
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 07:28:00
        let cases = [
            (" 120 ", 120),
            ("Wed, 21 Oct 2015 07:28:30 GMT", 30),
            // A date in the past: now.
            ("Wed, 21 Oct 2015 07:00:00 GMT", 0),
            // RFC 9110's two obsolete forms too.
            ("Wednesday, 21-Oct-15 07:28:30 GMT", 30),
            ("Wed Oct 21 07:28:30 2015", 30),
        ];
        for (header, seconds) in cases {
            assert_eq!(
                parse_retry_after(header, now),
                Some(Duration::from_secs(seconds)),
                "{header}"
            );
        }
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
