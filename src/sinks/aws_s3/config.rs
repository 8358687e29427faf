//! The `aws_s3` sink's options (Vector's names and defaults), their checks, building the
//! sink and its health check.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption, StorageClass};
use serde::Deserialize;

use super::MIN_PART_SIZE;
use super::key::{KeyTemplate, ObjectNaming};
use super::partition::{ObjectFormat, extension};
use super::upload::{Grants, ObjectOptions, RetrySettings};
use crate::aws::AwsConnection;
use crate::codecs::parquet::ParquetEncodingConfig;
use crate::codecs::{Encoder, EncodingConfig, FramingConfig};
use crate::component::{
    BuildError, ComponentTask, Healthcheck, HealthcheckError, SinkComponent, SinkContext,
};
use crate::options::batch::{BatchConfig, BatchDefaults};
use crate::options::compression::Compression;
use crate::options::request::RequestConfig;
use crate::options::{HealthcheckConfig, default_true};
use crate::sinks::SinkAcknowledgements;

crate::options::component_options! {
[aws_connection]
/// `[sinks.ID] type = "aws_s3"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsS3Config {
    /// The bucket. Required.
    pub bucket: String,
    /// The global `log_schema.timestamp_key`: where `key_prefix`'s strftime specifiers read
    /// the event's time (set by `apply_globals`, not an option of the sink).
    #[serde(skip)]
    pub(crate) template_time_key: Option<String>,
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
    /// Object name extension (default from `compression`: `log.gz`, `log.zst`, `log`;
    /// `parquet` with `batch_encoding`).
    #[serde(default)]
    pub filename_extension: Option<String>,
    /// `gzip` (default, as in Vector), `zstd` or `none`. With `batch_encoding` only `none`
    /// (the default then): Parquet compresses its pages itself.
    #[serde(default)]
    pub compression: Option<Compression>,
    /// How events are encoded, one per line. Required unless `batch_encoding` is set, as in
    /// Vector.
    #[serde(default)]
    pub encoding: Option<EncodingConfig>,
    /// Whole objects in a columnar format instead of lines: `codec = "parquet"` (Vector's
    /// option), with the columns of an OCSF class (`ocsf_class_uid`, `ocsf_version`).
    #[serde(default)]
    pub batch_encoding: Option<ParquetEncodingConfig>,
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
    /// Canned ACL of the objects (`private`, `public-read`, `bucket-owner-full-control`,
    /// ...), sent on `PutObject` and `CreateMultipartUpload`. Default none (the bucket's).
    #[serde(default)]
    pub acl: Option<String>,
    /// Grantee given `READ`, `READ_ACP` and `WRITE_ACP` on the objects (`id="<canonical
    /// id>"`, `emailAddress="..."`, `uri="..."`, comma-separated), as S3's
    /// `x-amz-grant-full-control` header. Default none.
    #[serde(default)]
    pub grant_full_control: Option<String>,
    /// Grantee given `READ` on the objects (`x-amz-grant-read`). Default none.
    #[serde(default)]
    pub grant_read: Option<String>,
    /// Grantee given `READ_ACP` (`x-amz-grant-read-acp`). Default none.
    #[serde(default)]
    pub grant_read_acp: Option<String>,
    /// Grantee given `WRITE_ACP` (`x-amz-grant-write-acp`). Default none.
    #[serde(default)]
    pub grant_write_acp: Option<String>,
    /// Time zone of the strftime specifiers of `key_prefix` (`local` or a TZ database name
    /// such as `Europe/Paris`). Default: the global `timezone`, else UTC (as in Vector).
    #[serde(default)]
    pub timezone: Option<String>,
    /// When an object is sealed: `max_bytes` uncompressed (default 10,000,000, Vector's),
    /// `max_events` (default no limit), `timeout_secs` from its first event (default 300).
    #[serde(default)]
    pub batch: BatchConfig,
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

/// The sink's `batch` defaults (Vector's).
pub const BATCH_DEFAULTS: BatchDefaults = BatchDefaults {
    max_bytes: 10_000_000,
    max_events: None,
    timeout_secs: 300.0,
};

fn default_key_prefix() -> String {
    "date=%F".into()
}
fn default_filename_time_format() -> String {
    "%s".into()
}
fn default_max_open_partitions() -> usize {
    64
}
fn default_part_size() -> usize {
    8 * 1024 * 1024
}

/// Everything the running sink needs, checked at build time (also built by the
/// `aws_security_lake` sink, which runs on this sink's machinery).
pub(crate) struct Settings {
    pub(crate) template: KeyTemplate,
    /// The strftime parts of `template` use the OCSF `time` (Security Lake's `eventDay`)
    /// rather than Vector's rule (`timestamp`, then `time`, then now).
    pub(crate) keys_from_ocsf_time: bool,
    pub(crate) naming: ObjectNaming,
    /// The line encoder (with `ObjectFormat::Lines`).
    pub(crate) encoder: Option<Encoder>,
    pub(crate) format: ObjectFormat,
    pub(crate) options: ObjectOptions,
    pub(crate) retry: RetrySettings,
    pub(crate) connection: AwsConnection,
    pub(crate) bucket: String,
    /// For Parquet objects, measured in Parquet bytes.
    pub(crate) max_bytes: usize,
    pub(crate) max_events: usize,
    pub(crate) timeout: Duration,
    pub(crate) concurrency: usize,
    pub(crate) max_open_partitions: usize,
    pub(crate) part_size: usize,
    pub(crate) healthcheck: bool,
}

impl AwsS3Config {
    /// Checks every option into the settings the sink runs with.
    fn settings(&self) -> Result<Settings, BuildError> {
        if self.bucket.is_empty() {
            return Err(BuildError::field("bucket", "the bucket name is empty"));
        }
        self.auth.normalized().check()?;
        self.healthcheck.timeout()?;
        self.check_upload_limits()?;
        let zone = crate::template::parse_timezone("timezone", self.timezone.as_deref())?;
        let time_key = crate::template::TimeKey::parse(self.template_time_key.as_deref())?;
        let template = KeyTemplate::parse(&self.key_prefix, "key_prefix")?
            .in_zone(zone)
            .with_time_key(time_key);
        let (format, encoder) = self.format()?;
        let naming = self.naming(&format)?;
        let options = self.object_options(&format)?;
        let batch = self.batch.settings(BATCH_DEFAULTS)?;
        let request = self.request.settings()?;
        Ok(Settings {
            template,
            keys_from_ocsf_time: false,
            naming,
            encoder,
            format,
            options,
            retry: RetrySettings::from_request(&request),
            connection: self.aws_connection(request.timeout)?,
            bucket: self.bucket.clone(),
            max_bytes: batch.max_bytes,
            max_events: batch.max_events,
            timeout: batch.timeout,
            concurrency: request.concurrency,
            max_open_partitions: self.max_open_partitions,
            part_size: self.multipart_part_size,
            healthcheck: self.healthcheck.enabled,
        })
    }

    /// `multipart_part_size` (S3's minimum) and `max_open_partitions` (at least one).
    fn check_upload_limits(&self) -> Result<(), BuildError> {
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
        Ok(())
    }

    /// Object names: `filename_time_format`, `filename_append_uuid`, and
    /// `filename_extension` (by default from the object format).
    fn naming(&self, format: &ObjectFormat) -> Result<ObjectNaming, BuildError> {
        let default_extension = match format {
            ObjectFormat::Lines(compression) => extension(*compression),
            #[cfg(feature = "parquet")]
            ObjectFormat::Parquet(_) => "parquet",
        };
        let naming = ObjectNaming {
            time_format: self.filename_time_format.clone(),
            append_uuid: self.filename_append_uuid,
            extension: self
                .filename_extension
                .clone()
                .unwrap_or_else(|| default_extension.to_owned()),
        };
        naming.check()?;
        Ok(naming)
    }

    /// What every object is uploaded with: content headers (by default from the object
    /// format), storage class, encryption, tags, ACL and grants.
    fn object_options(&self, format: &ObjectFormat) -> Result<ObjectOptions, BuildError> {
        let (default_type, default_encoding) = match format {
            ObjectFormat::Lines(compression) => ("text/x-log", compression.content_encoding()),
            #[cfg(feature = "parquet")]
            ObjectFormat::Parquet(_) => (PARQUET_CONTENT_TYPE, None),
        };
        let tagging = (!self.tags.is_empty()).then(|| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&self.tags)
                .finish()
        });
        let (server_side_encryption, ssekms_key_id) = self.encryption()?;
        Ok(ObjectOptions {
            content_type: self
                .content_type
                .clone()
                .unwrap_or_else(|| default_type.into()),
            content_encoding: self
                .content_encoding
                .clone()
                .or_else(|| default_encoding.map(str::to_owned)),
            storage_class: self
                .storage_class
                .as_deref()
                .map(|name| {
                    check_known("storage_class", name, StorageClass::values())
                        .map(|()| StorageClass::from(name))
                })
                .transpose()?,
            server_side_encryption,
            ssekms_key_id,
            tagging,
            acl: self.acl()?,
            grants: Grants {
                full_control: self.grant_full_control.clone(),
                read: self.grant_read.clone(),
                read_acp: self.grant_read_acp.clone(),
                write_acp: self.grant_write_acp.clone(),
            },
        })
    }

    /// `server_side_encryption`, checked against S3's values, and `ssekms_key_id` (only with
    /// `aws:kms`).
    fn encryption(&self) -> Result<(Option<ServerSideEncryption>, Option<String>), BuildError> {
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
        Ok((server_side_encryption, self.ssekms_key_id.clone()))
    }
}

impl AwsS3Config {
    /// `acl`, checked against S3's canned ACLs.
    fn acl(&self) -> Result<Option<ObjectCannedAcl>, BuildError> {
        self.acl
            .as_deref()
            .map(|name| {
                check_known("acl", name, ObjectCannedAcl::values())
                    .map(|()| ObjectCannedAcl::from(name))
            })
            .transpose()
    }
}

/// The `Content-Type` of Parquet objects.
#[cfg(feature = "parquet")]
pub(crate) const PARQUET_CONTENT_TYPE: &str = "application/vnd.apache.parquet";

impl AwsS3Config {
    /// The object format (lines or Parquet) and, for lines, the encoder.
    fn format(&self) -> Result<(ObjectFormat, Option<Encoder>), BuildError> {
        let Some(parquet) = &self.batch_encoding else {
            let encoding = self.encoding.as_ref().ok_or_else(|| {
                BuildError::field("encoding", "missing `encoding`").help(
                    "set `encoding.codec = \"json\"` (or `batch_encoding.codec = \"parquet\"`)",
                )
            })?;
            let compression = self.compression.unwrap_or(Compression::Gzip);
            return Ok((ObjectFormat::Lines(compression), Some(encoding.build()?)));
        };
        if self.encoding.is_some() {
            return Err(BuildError::field(
                "batch_encoding",
                "`encoding` and `batch_encoding` are both set",
            )
            .help("Parquet objects are encoded by `batch_encoding` alone: remove `encoding`"));
        }
        if let Some(compression) = self.compression.filter(|c| *c != Compression::None) {
            return Err(BuildError::field(
                "compression",
                format!("`{}` cannot compress Parquet objects", compression.name()),
            )
            .help("Parquet compresses its pages itself: set `batch_encoding.compression` and leave `compression` unset or \"none\""));
        }
        #[cfg(not(feature = "parquet"))]
        return Err(parquet.unavailable());
        #[cfg(feature = "parquet")]
        Ok((ObjectFormat::Parquet(parquet.build()?), None))
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
    fn apply_globals(&mut self, globals: &crate::config::GlobalOptions) {
        self.proxy = globals.proxy_under(&self.proxy);
        self.timezone = globals.timezone_or(&self.timezone);
        self.template_time_key
            .clone_from(&globals.log_schema.timestamp_key);
        if let Some(encoding) = &mut self.encoding
            && encoding.message_key.is_none()
        {
            encoding
                .message_key
                .clone_from(&globals.log_schema.message_key);
        }
    }

    fn build(&self, cx: SinkContext) -> Result<ComponentTask, BuildError> {
        let settings = self.settings()?;
        Ok(Box::pin(super::sink::run(settings, cx)))
    }

    fn healthcheck(&self) -> Healthcheck {
        self.healthcheck.bound(bucket_healthcheck(self.settings()))
    }

    fn acknowledgements(&self) -> Option<bool> {
        self.acknowledgements.enabled
    }
}

/// `HeadBucket`, with distinct messages for a missing bucket and refused access.
/// The health check of a sink writing to S3 with `settings` (its own or `aws_security_lake`'s):
/// `HeadBucket` on its bucket, unless `healthcheck.enabled = false`.
pub(crate) fn bucket_healthcheck(settings: Result<Settings, BuildError>) -> Healthcheck {
    Box::pin(async move {
        let settings = settings.map_err(|e| HealthcheckError(e.to_string()))?;
        if !settings.healthcheck {
            return Ok(());
        }
        let client = settings.connection.s3_client().await;
        head_bucket(&client, &settings.bucket).await
    })
}

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
