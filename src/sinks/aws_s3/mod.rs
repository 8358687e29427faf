//! `aws_s3`: write events as compressed NDJSON objects to S3 (Vector's options and object names).
//!
//! * **Partitions.** Each event's `key_prefix` is rendered (strftime on the event's own time,
//!   `{{ field }}` values confined to their place in the key, see [`key`]); every distinct prefix
//!   is an open object. At most `max_open_partitions` are open at once: opening one more seals
//!   the oldest, so memory does not grow with the number of prefixes.
//! * **Bounded memory.** Events are encoded and compressed as they arrive ([`partition`]); only
//!   compressed bytes are held. Once an object's compressed bytes reach `multipart_part_size`
//!   it becomes a multipart upload and each full part is sent at once, so a 1 GB object needs
//!   about one part of memory.
//! * **Sealing.** An object is sealed at `batch.max_bytes` (uncompressed), `batch.max_events`,
//!   `batch.timeout_secs` after its first event, when its partition is evicted, or at shutdown.
//!   Its key is fixed before the first request ([`upload`]), so retries overwrite, never add.
//! * **Acknowledgement.** Events are finalized `Delivered` only after `PutObject` /
//!   `CompleteMultipartUpload` succeeded; `Errored` when the write failed for good (the failed
//!   multipart upload is aborted); `Rejected` when the event's key cannot be rendered.

pub mod key;
pub mod partition;
pub mod upload;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::types::{ServerSideEncryption, StorageClass};
use bytes::Bytes;
use chrono::Utc;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::ack::BatchStatus;
use crate::aws::AwsConnection;
use crate::codecs::{Encoder, EncodingConfig, FramingConfig};
use crate::component::{
    BuildError, ComponentError, ComponentTask, Healthcheck, HealthcheckError, SinkComponent,
    SinkContext, seconds,
};
use crate::event::Event;
use crate::metrics::ComponentMetrics;
use crate::sinks::SinkAcknowledgements;
use crate::sinks::request::RequestConfig;
use key::{KeyTemplate, ObjectNaming, event_time};
use partition::{Compression, Multipart, Partition};
use upload::{ObjectOptions, RetryPolicy, UploadError, Uploader};

/// The smallest part S3 accepts (except for the last one).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

crate::options::component_options! {
[aws_connection]
/// `[sinks.ID] type = "aws_s3"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsS3Config {
    /// The bucket. Required.
    pub bucket: String,
    /// Object key prefix: strftime (event time) and `{{ field }}` template. Default `date=%F`.
    /// No `/` is added after it, as in Vector.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// strftime format of the upload time in object names. Default `%s`; empty for none.
    #[serde(default = "default_filename_time_format")]
    pub filename_time_format: String,
    /// Append a UUID to object names. Default `true`.
    #[serde(default = "default_true")]
    pub filename_append_uuid: bool,
    /// Object name extension (default from `compression`: `log.gz`, `log.zst`, `log`).
    #[serde(default)]
    pub filename_extension: Option<String>,
    /// `gzip` (default), `zstd` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// How events are encoded. Required, as in Vector.
    pub encoding: EncodingConfig,
    /// Framing: only `newline_delimited` (the default): objects are NDJSON.
    #[serde(default)]
    pub framing: Option<FramingConfig>,
    /// `Content-Type` of objects. Default `text/x-log`, as in Vector.
    #[serde(default)]
    pub content_type: Option<String>,
    /// `Content-Encoding` of objects (default from `compression`).
    #[serde(default)]
    pub content_encoding: Option<String>,
    /// Storage class (`STANDARD`, `STANDARD_IA`, `INTELLIGENT_TIERING`, `GLACIER_IR`, ...).
    #[serde(default)]
    pub storage_class: Option<String>,
    /// `AES256` or `aws:kms`.
    #[serde(default)]
    pub server_side_encryption: Option<String>,
    /// KMS key id for `server_side_encryption = "aws:kms"`.
    #[serde(default)]
    pub ssekms_key_id: Option<String>,
    /// Object tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// When an object is sealed.
    #[serde(default)]
    pub batch: S3BatchConfig,
    /// Retries and concurrency of requests.
    #[serde(default)]
    pub request: RequestConfig,
    /// Open objects (distinct key prefixes) at most; the oldest is sealed to open another.
    /// Default 64.
    #[serde(default = "default_max_open_partitions")]
    pub max_open_partitions: usize,
    /// Size of multipart upload parts, compressed (at least 5 MiB). Default 8 MiB.
    #[serde(default = "default_part_size")]
    pub multipart_part_size: usize,
    /// `acknowledgements.enabled`.
    #[serde(default)]
    pub acknowledgements: SinkAcknowledgements,
    /// `healthcheck.enabled`: `HeadBucket` at start-up and in `validate`. Default `true`.
    #[serde(default)]
    pub healthcheck: HealthcheckConfig,
}
}

/// `batch.*` of the S3 sink.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3BatchConfig {
    /// Uncompressed bytes per object. Default 10,000,000 (Vector's).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Events per object. Default: no limit.
    #[serde(default)]
    pub max_events: Option<usize>,
    /// Seconds from an object's first event to its upload. Default 300.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
}

impl Default for S3BatchConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_max_bytes(),
            max_events: None,
            timeout_secs: default_timeout_secs(),
        }
    }
}

/// `healthcheck.*`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthcheckConfig {
    /// Run the check. Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for HealthcheckConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

fn default_true() -> bool {
    true
}
fn default_key_prefix() -> String {
    "date=%F".into()
}
fn default_filename_time_format() -> String {
    "%s".into()
}
fn default_max_bytes() -> usize {
    10_000_000
}
fn default_timeout_secs() -> f64 {
    300.0
}
fn default_max_open_partitions() -> usize {
    64
}
fn default_part_size() -> usize {
    8 * 1024 * 1024
}

/// Everything the running sink needs, checked at build time.
struct Settings {
    template: KeyTemplate,
    naming: ObjectNaming,
    encoder: Encoder,
    compression: Compression,
    options: ObjectOptions,
    retry: RetryPolicy,
    connection: AwsConnection,
    bucket: String,
    max_bytes: usize,
    max_events: usize,
    timeout: Duration,
    concurrency: usize,
    max_open_partitions: usize,
    part_size: usize,
    healthcheck: bool,
}

impl AwsS3Config {
    fn settings(&self) -> Result<Settings, BuildError> {
        if self.bucket.is_empty() {
            return Err(BuildError::field("bucket", "the bucket name is empty"));
        }
        self.auth.normalized().check()?;
        let template = KeyTemplate::parse(&self.key_prefix, "key_prefix")?;
        let naming = ObjectNaming {
            time_format: self.filename_time_format.clone(),
            append_uuid: self.filename_append_uuid,
            extension: self
                .filename_extension
                .clone()
                .unwrap_or_else(|| self.compression.extension().to_owned()),
        };
        naming.check()?;
        let storage_class = self
            .storage_class
            .as_deref()
            .map(|name| {
                check_known("storage_class", name, StorageClass::values())
                    .map(|()| StorageClass::from(name))
            })
            .transpose()?;
        let server_side_encryption = self
            .server_side_encryption
            .as_deref()
            .map(|name| {
                check_known(
                    "server_side_encryption",
                    name,
                    ServerSideEncryption::values(),
                )
                .map(|()| ServerSideEncryption::from(name))
            })
            .transpose()?;
        if self.ssekms_key_id.is_some()
            && server_side_encryption != Some(ServerSideEncryption::AwsKms)
        {
            return Err(BuildError::field(
                "ssekms_key_id",
                "`ssekms_key_id` is only used with `server_side_encryption = \"aws:kms\"`",
            ));
        }
        let tagging = (!self.tags.is_empty()).then(|| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&self.tags)
                .finish()
        });
        if self.multipart_part_size < MIN_PART_SIZE {
            return Err(BuildError::field(
                "multipart_part_size",
                format!("S3 needs parts of at least {MIN_PART_SIZE} bytes (5 MiB)"),
            ));
        }
        if self.max_open_partitions == 0 {
            return Err(BuildError::field(
                "max_open_partitions",
                "must be at least 1",
            ));
        }
        if self.batch.max_bytes == 0 || self.batch.max_events == Some(0) {
            return Err(BuildError::field(
                "batch",
                "batch limits must be at least 1",
            ));
        }
        let timeout = seconds("request.timeout_secs", self.request.timeout_secs, false)?;
        Ok(Settings {
            template,
            naming,
            encoder: self.encoding.build()?,
            compression: self.compression,
            options: ObjectOptions {
                content_type: self
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "text/x-log".into()),
                content_encoding: self
                    .content_encoding
                    .clone()
                    .or_else(|| self.compression.content_encoding().map(str::to_owned)),
                storage_class,
                server_side_encryption,
                ssekms_key_id: self.ssekms_key_id.clone(),
                tagging,
            },
            retry: RetryPolicy {
                retry_attempts: usize::try_from(self.request.retry_attempts).unwrap_or(usize::MAX),
                initial_backoff: seconds(
                    "request.retry_initial_backoff_secs",
                    self.request.retry_initial_backoff_secs,
                    false,
                )?,
                max_backoff: seconds(
                    "request.retry_max_duration_secs",
                    self.request.retry_max_duration_secs,
                    false,
                )?,
            },
            connection: self.aws_connection(timeout),
            bucket: self.bucket.clone(),
            max_bytes: self.batch.max_bytes,
            max_events: self.batch.max_events.unwrap_or(usize::MAX),
            timeout: seconds("batch.timeout_secs", self.batch.timeout_secs, false)?,
            concurrency: self.request.concurrency.limit(),
            max_open_partitions: self.max_open_partitions,
            part_size: self.multipart_part_size,
            healthcheck: self.healthcheck.enabled,
        })
    }
}

/// Accepts one of the SDK's known values for an enum option (`STANDARD_IA`, `aws:kms`).
fn check_known(field: &str, name: &str, known: &[&str]) -> Result<(), BuildError> {
    if known.contains(&name) {
        Ok(())
    } else {
        Err(BuildError::field(field, format!("unknown value {name:?}"))
            .help(format!("one of: {}", known.join(", "))))
    }
}

impl SinkComponent for AwsS3Config {
    fn build(&self, cx: SinkContext) -> Result<ComponentTask, BuildError> {
        let settings = self.settings()?;
        Ok(Box::pin(run(settings, cx)))
    }

    fn healthcheck(&self) -> Healthcheck {
        let settings = self.settings();
        Box::pin(async move {
            let settings = settings.map_err(|e| HealthcheckError(e.to_string()))?;
            if !settings.healthcheck {
                return Ok(());
            }
            let client = settings.connection.s3_client().await;
            head_bucket(&client, &settings.bucket).await
        })
    }

    fn acknowledgements(&self) -> Option<bool> {
        self.acknowledgements.enabled
    }
}

/// `HeadBucket`, with distinct messages for a missing bucket and refused access.
async fn head_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> Result<(), HealthcheckError> {
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(error) => {
            let status = error.raw_response().map(|raw| raw.status().as_u16());
            let (_, detail) = crate::aws::classify(&error);
            Err(HealthcheckError(match status {
                Some(404) => format!("S3 bucket {bucket:?} does not exist ({detail})"),
                Some(403) => format!(
                    "access to S3 bucket {bucket:?} is denied: check the credentials (a wrong \
                     secret key gives this too) and that they allow s3:ListBucket and s3:PutObject ({detail})"
                ),
                Some(301) => format!(
                    "S3 bucket {bucket:?} is in another region: set `region` to the bucket's region ({detail})"
                ),
                _ => format!("S3 bucket {bucket:?} is not reachable: {detail}"),
            }))
        }
    }
}

/// The running sink: partitions, sealing, and the upload tasks.
struct S3Sink {
    settings: Arc<Settings>,
    uploader: Arc<Uploader>,
    partitions: HashMap<String, Partition>,
    uploads: JoinSet<()>,
    permits: Arc<Semaphore>,
    metrics: Arc<ComponentMetrics>,
    acknowledgements: bool,
    /// Scratch buffers reused for every event.
    prefix: String,
    encoded: Vec<u8>,
}

async fn run(settings: Settings, mut cx: SinkContext) -> Result<(), ComponentError> {
    let client = settings.connection.s3_client().await;
    let uploader = Uploader::new(
        client,
        settings.bucket.clone(),
        settings.options.clone(),
        settings.retry,
    );
    let tick = (settings.timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut sink = S3Sink {
        permits: Arc::new(Semaphore::new(settings.concurrency)),
        settings: Arc::new(settings),
        uploader: Arc::new(uploader),
        partitions: HashMap::new(),
        uploads: JoinSet::new(),
        metrics: cx.metrics.clone(),
        acknowledgements: cx.acknowledgements,
        prefix: String::new(),
        encoded: Vec::with_capacity(4096),
    };
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            batch = cx.input.recv() => match batch {
                Some(batch) => {
                    sink.metrics.received(batch.len());
                    for event in batch {
                        sink.add(event).await;
                    }
                }
                None => break,
            },
            _ = ticker.tick() => sink.seal_expired().await,
            Some(joined) = sink.uploads.join_next(), if !sink.uploads.is_empty() => {
                if let Err(error) = joined {
                    return Err(ComponentError(format!("an S3 upload task failed: {error}")));
                }
            }
        }
    }
    // End of input: every open object is written before the sink finishes.
    let open: Vec<String> = sink.partitions.keys().cloned().collect();
    for prefix in open {
        sink.seal(&prefix).await;
    }
    while let Some(joined) = sink.uploads.join_next().await {
        joined.map_err(|error| ComponentError(format!("an S3 upload task failed: {error}")))?;
    }
    Ok(())
}

impl S3Sink {
    /// Adds one event to its partition, sealing or uploading parts as limits are reached.
    async fn add(&mut self, mut event: Event) {
        // Per event, only borrows: the settings and the scratch buffers are separate fields,
        // and the prefix is copied only when a partition opens or closes.
        let settings = &*self.settings;
        let now = Utc::now();
        let time = if settings.template.uses_time() {
            event_time(&event.value, now)
        } else {
            now
        };
        if let Err(error) = settings
            .template
            .render(&event.value, time, &mut self.prefix)
        {
            self.metrics.error();
            tracing::warn!(%error, "event rejected: its key_prefix cannot be rendered");
            event.finalize(BatchStatus::Rejected);
            return;
        }
        if !self.partitions.contains_key(self.prefix.as_str()) {
            if self.partitions.len() >= self.settings.max_open_partitions {
                self.seal_oldest().await;
            }
            match Partition::new(self.prefix.clone(), self.settings.compression) {
                Ok(partition) => {
                    self.partitions.insert(self.prefix.clone(), partition);
                }
                Err(error) => {
                    self.metrics.error();
                    tracing::error!(%error, "could not start a compressed object");
                    event.finalize(BatchStatus::Errored);
                    return;
                }
            }
        }
        let settings = &*self.settings;
        self.encoded.clear();
        settings.encoder.encode(&event.value, &mut self.encoded);
        self.encoded.push(b'\n');
        let Event { value, metadata } = event;
        drop(value);
        let mut finalizers = metadata.finalizers;
        if !self.acknowledgements {
            finalizers.finalize(BatchStatus::Delivered);
        }
        let Some(partition) = self.partitions.get_mut(self.prefix.as_str()) else {
            return;
        };
        let written = partition.compressor.write(&self.encoded);
        partition.raw_bytes += self.encoded.len();
        partition.events += 1;
        partition.finalizers.push(finalizers);
        let full =
            partition.raw_bytes >= settings.max_bytes || partition.events >= settings.max_events;
        let part_due = partition.compressor.pending_output() >= settings.part_size;
        if written.is_err() || full || part_due {
            let prefix = self.prefix.clone();
            if let Err(error) = written {
                self.metrics.error();
                tracing::error!(%error, "compressing an event failed; the object is dropped");
                if let Some(partition) = self.partitions.remove(&prefix) {
                    self.fail(partition, BatchStatus::Errored).await;
                }
            } else if full {
                self.seal(&prefix).await;
            } else {
                self.upload_part(&prefix).await;
            }
        }
    }

    /// Sends the compressed bytes of `prefix`'s object so far as its next multipart part.
    async fn upload_part(&mut self, prefix: &str) {
        let Some(partition) = self.partitions.get_mut(prefix) else {
            return;
        };
        let body = Bytes::from(partition.compressor.take_output());
        if partition.multipart.is_none() {
            let key = self.settings.naming.key(prefix, Utc::now());
            match self.uploader.create_multipart(&key).await {
                Ok(upload_id) => {
                    partition.multipart = Some(Multipart {
                        key,
                        upload_id,
                        parts: Vec::new(),
                    });
                }
                Err(error) => {
                    self.report(&error);
                    if let Some(partition) = self.partitions.remove(prefix) {
                        self.fail(partition, error_status(&error)).await;
                    }
                    return;
                }
            }
        }
        let Some(multipart) = partition.multipart.as_mut() else {
            return;
        };
        let number = multipart.parts.len() as i32 + 1;
        let result = self
            .uploader
            .upload_part(&multipart.key, &multipart.upload_id, number, body)
            .await;
        match result {
            Ok(part) => multipart.parts.push(part),
            Err(error) => {
                self.report(&error);
                if let Some(partition) = self.partitions.remove(prefix) {
                    self.fail(partition, error_status(&error)).await;
                }
            }
        }
    }

    /// Seals every object older than `batch.timeout_secs`.
    async fn seal_expired(&mut self) {
        let timeout = self.settings.timeout;
        let expired: Vec<String> = self
            .partitions
            .iter()
            .filter(|(_, partition)| partition.opened.elapsed() >= timeout)
            .map(|(prefix, _)| prefix.clone())
            .collect();
        for prefix in expired {
            self.seal(&prefix).await;
        }
    }

    /// Seals the longest-open object, to make room for another partition.
    async fn seal_oldest(&mut self) {
        let oldest = self
            .partitions
            .iter()
            .min_by_key(|(_, partition)| partition.opened)
            .map(|(prefix, _)| prefix.clone());
        if let Some(prefix) = oldest {
            tracing::debug!(%prefix, "max_open_partitions reached; sealing the oldest object");
            self.seal(&prefix).await;
        }
    }

    /// Closes `prefix`'s object and uploads it in the background (at most `concurrency` at
    /// once: waiting for a slot is the sink's backpressure).
    async fn seal(&mut self, prefix: &str) {
        let Some(partition) = self.partitions.remove(prefix) else {
            return;
        };
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return;
        };
        let uploader = Arc::clone(&self.uploader);
        let settings = Arc::clone(&self.settings);
        let metrics = Arc::clone(&self.metrics);
        self.uploads.spawn(async move {
            let _permit = permit;
            write_object(partition, &uploader, &settings, &metrics).await;
        });
    }

    /// Finalizes a partition that cannot be written, aborting its multipart upload.
    async fn fail(&self, partition: Partition, status: BatchStatus) {
        if let Some(multipart) = &partition.multipart {
            self.uploader
                .abort_multipart(&multipart.key, &multipart.upload_id)
                .await;
        }
        finalize(partition.finalizers, status);
    }

    fn report(&self, error: &UploadError) {
        self.metrics.error();
        tracing::error!(%error, "S3 write failed; its events are not delivered");
    }
}

/// Uploads a sealed object and finalizes its events with the outcome.
async fn write_object(
    partition: Partition,
    uploader: &Uploader,
    settings: &Settings,
    metrics: &ComponentMetrics,
) {
    let Partition {
        prefix,
        compressor,
        events,
        finalizers,
        multipart,
        ..
    } = partition;
    let tail = match compressor.finish() {
        Ok(tail) => Bytes::from(tail),
        Err(error) => {
            metrics.error();
            tracing::error!(%error, %prefix, "finishing the compressed object failed");
            if let Some(multipart) = &multipart {
                uploader
                    .abort_multipart(&multipart.key, &multipart.upload_id)
                    .await;
            }
            finalize(finalizers, BatchStatus::Errored);
            return;
        }
    };
    let result = match multipart {
        None => {
            let key = settings.naming.key(&prefix, Utc::now());
            let result = uploader.put_object(&key, tail).await;
            if result.is_ok() {
                tracing::debug!(bucket = uploader.bucket(), %key, events, "object written");
            }
            result
        }
        Some(Multipart {
            key,
            upload_id,
            mut parts,
        }) => {
            let mut result = Ok(());
            if !tail.is_empty() || parts.is_empty() {
                let number = parts.len() as i32 + 1;
                match uploader.upload_part(&key, &upload_id, number, tail).await {
                    Ok(part) => parts.push(part),
                    Err(error) => result = Err(error),
                }
            }
            if result.is_ok() {
                let count = parts.len();
                result = uploader.complete_multipart(&key, &upload_id, parts).await;
                if result.is_ok() {
                    tracing::debug!(bucket = uploader.bucket(), %key, events, parts = count, "multipart object written");
                }
            }
            if result.is_err() {
                uploader.abort_multipart(&key, &upload_id).await;
            }
            result
        }
    };
    match result {
        Ok(()) => {
            metrics.sent(events);
            finalize(finalizers, BatchStatus::Delivered);
        }
        Err(error) => {
            metrics.error();
            tracing::error!(%error, events, "S3 write failed; its events are not delivered");
            finalize(finalizers, error_status(&error));
        }
    }
}

/// Events of an object that could not be written are `Errored`, whether the failure was
/// transient (retries ran out) or permanent (access denied, no such bucket): the events
/// themselves are fine, and a later attempt (or fixed credentials) can succeed. `Rejected` is
/// kept for events that can never be written as they are (an unrenderable key).
fn error_status(_error: &UploadError) -> BatchStatus {
    BatchStatus::Errored
}

fn finalize(finalizers: Vec<crate::ack::EventFinalizers>, status: BatchStatus) {
    for mut finalizer in finalizers {
        finalizer.finalize(status);
    }
}
