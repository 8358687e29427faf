//! The `conductorone_s3` source's options, their checks, and building it (the run loops are
//! `list` and `sqs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::read::Reader;
use super::{DEFAULT_DEDUPE_CAPACITY, DEFAULT_MAX_DECOMPRESSED_BYTES, list, sqs};
use crate::aws::{AwsConnection, ErrorKind, classify};
use crate::component::{
    BuildError, ComponentTask, Healthcheck, HealthcheckError, SourceComponent, SourceContext,
    in_range, seconds,
};
use crate::event::intern_id;
use crate::options::default_true;

crate::options::component_options! {
[source_retry, aws_connection]
/// `[sources.ID] type = "conductorone_s3"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConductoroneS3Config {
    /// The bucket the exporter writes to. Required with `strategy = "list"`; with `sqs` the
    /// notifications name the bucket, and this (if set) only checks they match.
    #[serde(default)]
    pub bucket: Option<String>,
    /// The exporter's file prefix (for example `c1/systemlog/`). Only keys starting with it
    /// are read. Default: the whole bucket.
    #[serde(default)]
    pub prefix: String,
    /// How new files are found: `list` (default) or `sqs`.
    #[serde(default)]
    pub strategy: Strategy,
    /// `list`: only keys after this one (S3's `StartAfter`).
    #[serde(default)]
    pub start_after: Option<String>,
    /// `list`: only objects last modified at or after this RFC 3339 time.
    #[serde(default)]
    pub since: Option<String>,
    /// `list`: seconds between listings once caught up. Default 60.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: f64,
    /// `sqs`: the queue and how it is polled (Vector's `sqs.*` options).
    #[serde(default)]
    pub sqs: Option<SqsConfig>,
    /// A file that decompresses to more bytes is read up to this limit, then counted and
    /// logged (protection against decompression bombs). Default 256 MiB.
    #[serde(default = "default_max_decompressed_bytes")]
    pub max_decompressed_bytes: u64,
    /// Drop events whose `metadata.uid` this source delivered recently (overlapping export
    /// files; not events of other sources). Default `false`.
    #[serde(default)]
    pub dedupe: bool,
    /// How many delivered uids `dedupe` remembers (persisted in `data_dir`). Default 100,000.
    #[serde(default = "default_dedupe_capacity")]
    pub dedupe_capacity: usize,
    /// `list`: objects downloaded (and their decompression started) ahead of the one being
    /// decoded and sent. Default 4.
    #[serde(default = "default_max_concurrent_objects")]
    pub max_concurrent_objects: usize,
    /// `list`: objects sent and not yet acknowledged by every sink. Default 64.
    #[serde(default = "default_max_unacknowledged_objects")]
    pub max_unacknowledged_objects: usize,
}
}

/// How the source finds new files.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// List the bucket: backfill, then follow.
    #[default]
    List,
    /// S3 event notifications from an SQS queue.
    Sqs,
}

/// `sqs.*`: Vector's option names and defaults, except `delete_failed_message`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsConfig {
    /// The queue's URL. Required.
    pub queue_url: String,
    /// Long-poll wait in seconds, 0 to 20. Default 15.
    #[serde(default = "default_poll_secs")]
    pub poll_secs: u32,
    /// Seconds a received message stays invisible to other consumers; the source extends it
    /// while the message's objects are being processed. Default 300.
    #[serde(default = "default_visibility_timeout")]
    pub visibility_timeout_secs: u32,
    /// Messages per receive, 1 to 10. Default 10.
    #[serde(default = "default_max_number_of_messages")]
    pub max_number_of_messages: u32,
    /// Concurrent receivers. Default: the number of CPUs.
    #[serde(default)]
    pub client_concurrency: Option<usize>,
    /// Delete a message once its events are delivered. Default `true`.
    #[serde(default = "default_true")]
    pub delete_message: bool,
    /// Also delete a message whose events a sink rejected for good. Default **`false`**
    /// (Vector: `true`, which loses the object, Vector issue #19711): the message returns
    /// after its visibility timeout, or goes to the queue's dead-letter queue.
    #[serde(default)]
    pub delete_failed_message: bool,
}

fn default_poll_interval() -> f64 {
    60.0
}
fn default_max_decompressed_bytes() -> u64 {
    DEFAULT_MAX_DECOMPRESSED_BYTES
}
fn default_dedupe_capacity() -> usize {
    DEFAULT_DEDUPE_CAPACITY
}
fn default_max_concurrent_objects() -> usize {
    4
}
fn default_max_unacknowledged_objects() -> usize {
    64
}
fn default_poll_secs() -> u32 {
    15
}
fn default_visibility_timeout() -> u32 {
    300
}
fn default_max_number_of_messages() -> u32 {
    10
}

/// Checked `sqs.*` options.
#[derive(Clone, Debug)]
pub(super) struct SqsSettings {
    pub(super) queue_url: String,
    pub(super) poll_secs: i32,
    pub(super) visibility_timeout_secs: i32,
    pub(super) max_number_of_messages: i32,
    pub(super) client_concurrency: usize,
    pub(super) delete_message: bool,
    pub(super) delete_failed_message: bool,
}

/// A checked configuration.
#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub(super) bucket: Option<String>,
    pub(super) prefix: String,
    pub(super) connection: AwsConnection,
    pub(super) strategy: Strategy,
    pub(super) start_after: Option<String>,
    pub(super) since_ms: Option<i64>,
    pub(super) poll_interval: Duration,
    pub(super) sqs: Option<SqsSettings>,
    pub(super) max_decompressed_bytes: u64,
    pub(super) dedupe_capacity: Option<usize>,
    pub(super) max_concurrent_objects: usize,
    pub(super) max_unacknowledged_objects: usize,
    pub(super) retry: crate::retry::SourceRetry,
}

impl Settings {
    pub(super) fn backoff(&self) -> crate::retry::Backoff {
        self.retry.backoff()
    }
}

impl ConductoroneS3Config {
    pub(super) fn settings(&self) -> Result<Settings, BuildError> {
        self.auth.normalized().check()?;

        let non_empty = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        let bucket = non_empty(&self.bucket);
        let sqs = match (self.strategy, &self.sqs) {
            (Strategy::List, Some(_)) => {
                return Err(BuildError::field(
                    "sqs",
                    "`sqs` options are set but `strategy` is `list`",
                )
                .help("set `strategy = \"sqs\"`, or remove the `sqs` table"));
            }
            (Strategy::List, None) => {
                if bucket.is_none() {
                    return Err(BuildError::field("bucket", "`bucket` is required")
                        .help("name the bucket ConductorOne's exporter writes to"));
                }
                None
            }
            (Strategy::Sqs, None) => {
                return Err(BuildError::field(
                    "sqs",
                    "`strategy = \"sqs\"` needs `sqs.queue_url`",
                )
                .help("add `sqs.queue_url = \"https://sqs.<region>.amazonaws.com/<account>/<queue>\"`"));
            }
            (Strategy::Sqs, Some(sqs)) => Some(sqs.settings()?),
        };
        if self.strategy == Strategy::Sqs && (self.start_after.is_some() || self.since.is_some()) {
            return Err(BuildError::field(
                if self.start_after.is_some() {
                    "start_after"
                } else {
                    "since"
                },
                "`start_after` and `since` apply to `strategy = \"list\"` only",
            ));
        }
        let since_ms = match non_empty(&self.since) {
            None => None,
            Some(text) => Some(
                chrono::DateTime::parse_from_rfc3339(text.trim())
                    .map_err(|e| {
                        BuildError::field("since", format!("`{text}` is not an RFC 3339 time: {e}"))
                            .help("for example `since = \"2026-01-01T00:00:00Z\"`")
                    })?
                    .timestamp_millis(),
            ),
        };
        if self.max_decompressed_bytes == 0 {
            return Err(BuildError::field(
                "max_decompressed_bytes",
                "must be greater than 0",
            ));
        }
        for (field, value) in [
            ("dedupe_capacity", self.dedupe_capacity),
            ("max_concurrent_objects", self.max_concurrent_objects),
            (
                "max_unacknowledged_objects",
                self.max_unacknowledged_objects,
            ),
        ] {
            if value == 0 {
                return Err(BuildError::field(field, "must be at least 1, not 0"));
            }
        }
        let retry = self.source_retry()?;
        let request_timeout = retry.request_timeout;
        if let Some(sqs) = &sqs
            && request_timeout.as_secs_f64() <= f64::from(sqs.poll_secs) + 1.0
        {
            return Err(BuildError::field(
                "request_timeout_secs",
                format!(
                    "{} s is not longer than the long poll (`sqs.poll_secs` = {}): every receive would time out",
                    self.request_timeout_secs, sqs.poll_secs
                ),
            )
            .help("raise `request_timeout_secs` or lower `sqs.poll_secs`"));
        }
        Ok(Settings {
            bucket,
            prefix: self.prefix.clone(),
            connection: self.aws_connection(request_timeout)?,
            strategy: self.strategy,
            start_after: non_empty(&self.start_after),
            since_ms,
            poll_interval: seconds("poll_interval_secs", self.poll_interval_secs, false)?,
            sqs,
            max_decompressed_bytes: self.max_decompressed_bytes,
            dedupe_capacity: self.dedupe.then_some(self.dedupe_capacity),
            max_concurrent_objects: self.max_concurrent_objects,
            max_unacknowledged_objects: self.max_unacknowledged_objects,
            retry,
        })
    }
}

impl SqsConfig {
    fn settings(&self) -> Result<SqsSettings, BuildError> {
        if self.queue_url.trim().is_empty() {
            return Err(BuildError::field(
                "sqs.queue_url",
                "`sqs.queue_url` is empty",
            ));
        }
        let poll_secs = in_range(
            "sqs.poll_secs",
            self.poll_secs,
            0..=20,
            "SQS's longest wait",
        )?;
        let visibility_timeout_secs = in_range(
            "sqs.visibility_timeout_secs",
            self.visibility_timeout_secs,
            1..=43_200,
            "12 hours",
        )?;
        let max_number_of_messages = in_range(
            "sqs.max_number_of_messages",
            self.max_number_of_messages,
            1..=10,
            "",
        )?;
        let client_concurrency = match self.client_concurrency {
            Some(0) => {
                return Err(BuildError::field(
                    "sqs.client_concurrency",
                    "must be at least 1, not 0",
                ));
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        Ok(SqsSettings {
            queue_url: self.queue_url.trim().to_owned(),
            poll_secs: poll_secs as i32,
            visibility_timeout_secs: visibility_timeout_secs as i32,
            max_number_of_messages: max_number_of_messages as i32,
            client_concurrency,
            delete_message: self.delete_message,
            delete_failed_message: self.delete_failed_message,
        })
    }
}

/// Where this source keeps its state: `data_dir/<source id>/`.
fn state_dir(data_dir: &Option<PathBuf>, id: &str) -> Option<PathBuf> {
    data_dir.as_ref().map(|dir| dir.join(id))
}

impl SourceComponent for ConductoroneS3Config {
    fn apply_globals(&mut self, globals: &crate::config::GlobalOptions) {
        self.proxy = globals.proxy_under(&self.proxy);
    }

    fn build(&self, cx: SourceContext) -> Result<ComponentTask, BuildError> {
        let settings = Arc::new(self.settings()?);
        let state_dir = state_dir(&cx.data_dir, &cx.id);
        if state_dir.is_none() && (settings.strategy == Strategy::List || self.dedupe) {
            let what = if settings.strategy == Strategy::List {
                "keeps the list of delivered files"
            } else {
                "keeps the uids `dedupe` remembers"
            };
            return Err(BuildError {
                field: None,
                message: format!("the conductorone_s3 source {what} in `data_dir`, which is not set"),
                help: Some("add `data_dir = \"/var/lib/c1-pipeline\"` at the top level of the configuration".to_owned()),
                position_in_value: None,
            });
        }
        Ok(Box::pin(async move {
            let s3 = settings.connection.s3_client().await;
            let reader = Arc::new(Reader::new(
                s3,
                Arc::clone(&settings),
                intern_id(&cx.id),
                Arc::clone(&cx.metrics),
                cx.shutdown.clone(),
            ));
            super::warn_without_acknowledgements(&cx, settings.strategy);
            match settings.strategy {
                Strategy::List => list::run(reader, state_dir.expect("checked above"), cx).await,
                Strategy::Sqs => {
                    let sqs = settings.connection.sqs_client().await;
                    sqs::run(reader, sqs, state_dir, cx).await
                }
            }
        }))
    }

    /// `list`: lists one key under `bucket`/`prefix`. `sqs`: reads the queue's attributes.
    fn healthcheck(&self) -> Healthcheck {
        let settings = self.settings();
        Box::pin(async move {
            let settings = settings.map_err(|e| HealthcheckError(e.message))?;
            if let Some(bucket) = &settings.bucket {
                let s3 = settings.connection.s3_client().await;
                s3.list_objects_v2()
                    .bucket(bucket)
                    .prefix(&settings.prefix)
                    .max_keys(1)
                    .send()
                    .await
                    .map_err(|e| {
                        let (_, message) = classify(&e);
                        HealthcheckError(format!(
                            "cannot list s3://{bucket}/{}: {message}",
                            settings.prefix
                        ))
                    })?;
            }
            if let Some(queue) = &settings.sqs {
                let sqs = settings.connection.sqs_client().await;
                sqs.get_queue_attributes()
                    .queue_url(&queue.queue_url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
                    .send()
                    .await
                    .map_err(|e| {
                        let (kind, message) = classify(&e);
                        let hint = if kind == ErrorKind::Permanent {
                            " (check the queue URL and that the credentials may use it)"
                        } else {
                            ""
                        };
                        HealthcheckError(format!(
                            "cannot reach the queue {}: {message}{hint}",
                            queue.queue_url
                        ))
                    })?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, BuildError> {
        toml::from_str::<ConductoroneS3Config>(text)
            .expect("parses")
            .settings()
    }

    #[test]
    fn list_needs_a_bucket_and_sqs_a_queue() {
        assert_eq!(parse("").unwrap_err().field.as_deref(), Some("bucket"));
        assert_eq!(
            parse("strategy = \"sqs\"").unwrap_err().field.as_deref(),
            Some("sqs")
        );
        assert_eq!(
            parse("bucket = \"b\"\n[sqs]\nqueue_url = \"q\"")
                .unwrap_err()
                .field
                .as_deref(),
            Some("sqs")
        );
        let settings = parse("strategy = \"sqs\"\n[sqs]\nqueue_url = \"http://q\"").unwrap();
        let sqs = settings.sqs.unwrap();
        assert_eq!(
            (
                sqs.poll_secs,
                sqs.visibility_timeout_secs,
                sqs.max_number_of_messages
            ),
            (15, 300, 10)
        );
        assert!(sqs.delete_message && !sqs.delete_failed_message);
    }

    #[test]
    fn out_of_range_options_name_their_field() {
        for (text, field) in [
            ("bucket = \"b\"\nsince = \"yesterday\"", "since"),
            (
                "bucket = \"b\"\nmax_decompressed_bytes = 0",
                "max_decompressed_bytes",
            ),
            (
                "bucket = \"b\"\npoll_interval_secs = -1",
                "poll_interval_secs",
            ),
            (
                "strategy = \"sqs\"\n[sqs]\nqueue_url = \"q\"\npoll_secs = 21",
                "sqs.poll_secs",
            ),
            (
                "strategy = \"sqs\"\n[sqs]\nqueue_url = \"q\"\nmax_number_of_messages = 11",
                "sqs.max_number_of_messages",
            ),
            (
                "strategy = \"sqs\"\n[sqs]\nqueue_url = \"q\"\nvisibility_timeout_secs = 0",
                "sqs.visibility_timeout_secs",
            ),
            (
                "strategy = \"sqs\"\nsince = \"2026-01-01T00:00:00Z\"\n[sqs]\nqueue_url = \"q\"",
                "since",
            ),
        ] {
            let error = parse(text).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(field), "{text}: {error:?}");
        }
        assert_eq!(
            parse("bucket = \"b\"\nsince = \"2026-01-01T00:00:00Z\"")
                .unwrap()
                .since_ms,
            Some(1_767_225_600_000)
        );
    }
}
