//! The `aws_security_lake` sink's options, their checks, and building the sink on the `aws_s3`
//! sink's machinery.

use std::time::Duration;

use serde::Deserialize;

use crate::codecs::parquet::{
    self, ParquetCompression, ParquetFormat, check_row_group_bytes, default_ocsf_version,
    default_row_group_bytes,
};
use crate::component::{
    BuildError, ComponentTask, Healthcheck, SinkComponent, SinkContext, in_range,
};
use crate::options::HealthcheckConfig;
use crate::options::batch::{BatchConfig, BatchDefaults};
use crate::options::request::RequestConfig;
use crate::sinks::SinkAcknowledgements;
use crate::sinks::aws_s3::key::{KeyTemplate, ObjectNaming};
use crate::sinks::aws_s3::partition::ObjectFormat;
use crate::sinks::aws_s3::upload::{ObjectOptions, RetrySettings};
use crate::sinks::aws_s3::{MIN_PART_SIZE, PARQUET_CONTENT_TYPE, Settings};

crate::options::component_options! {
[aws_connection]
/// `[sinks.ID] type = "aws_security_lake"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSecurityLakeConfig {
    /// The custom source's location, as Security Lake gives it
    /// (`s3://aws-security-data-lake-<region>-<id>/ext/<source>/` or `.../ext/<source>/<version>/`).
    /// Required.
    pub s3_uri: String,
    /// The `accountId` partition value: the AWS account the records pertain to, or
    /// `external` / `external_<id>` for data from outside AWS. Required.
    pub account_id: String,
    /// The custom source's OCSF class (API Activity 6003, Authentication 3002). Required.
    pub class_uid: i64,
    /// The OCSF version of the columns: `1.1.0`, `1.3.0` (default, the highest Security Lake
    /// takes), `1.5.0` or `1.8.0`.
    #[serde(default = "default_ocsf_version")]
    pub ocsf_version: String,
    /// Page compression inside the Parquet files: `zstd` (default, what Security Lake
    /// prefers), `snappy` or `none`.
    #[serde(default = "ParquetCompression::zstd")]
    pub compression: ParquetCompression,
    /// When an object is sealed: `max_bytes` of Parquet (default 256,000,000, Security Lake's
    /// ceiling), `max_events` (default no limit), `timeout_secs` from its first event (default
    /// 300; 300 to 86,400, the window Security Lake asks for).
    #[serde(default)]
    pub batch: BatchConfig,
    /// Retries and concurrency of requests.
    #[serde(default)]
    pub request: RequestConfig,
    /// Bytes of column data collected per row group before it is sorted and encoded, and of the
    /// row groups of all open objects together (past it the largest is encoded early).
    /// Default 24 MiB.
    #[serde(default = "default_row_group_bytes")]
    pub row_group_bytes: usize,
    /// Size of multipart upload parts (at least 5 MiB). Default 8 MiB.
    #[serde(default = "default_part_size")]
    pub multipart_part_size: usize,
    /// Open objects (event days) at most; the oldest is sealed to open another. Default 2:
    /// the day being written and the one before, for events around midnight (ConductorOne's
    /// log arrives in time order). Each open object holds its encoded bytes until they make
    /// a multipart part, so more cost memory; raise it for input that is out of time order
    /// by more than a day.
    #[serde(default = "default_max_open_partitions")]
    pub max_open_partitions: usize,
    /// `acknowledgements.enabled`.
    #[serde(default)]
    pub acknowledgements: SinkAcknowledgements,
    /// `healthcheck.enabled`: `HeadBucket` at start-up and in `validate`. Default `true`.
    #[serde(default)]
    pub healthcheck: HealthcheckConfig,
}
}

/// The sink's `batch` defaults: Security Lake's object ceiling and its shortest interval.
pub const BATCH_DEFAULTS: BatchDefaults = BatchDefaults {
    max_bytes: 256_000_000,
    max_events: None,
    timeout_secs: 300.0,
};

/// The interval Security Lake asks objects to be written in, in seconds: 5 minutes to a day.
const TIMEOUT_RANGE: std::ops::RangeInclusive<f64> = 300.0..=86_400.0;

fn default_part_size() -> usize {
    8 * 1024 * 1024
}
fn default_max_open_partitions() -> usize {
    2
}

impl AwsSecurityLakeConfig {
    /// Everything the running sink needs, checked.
    fn settings(&self) -> Result<Settings, BuildError> {
        self.auth.normalized().check()?;
        let (bucket, prefix) = parse_s3_uri(&self.s3_uri)?;
        let region = self
            .region
            .as_deref()
            .map(str::trim)
            .filter(|region| !region.is_empty())
            .ok_or_else(|| {
                BuildError::field("region", "missing `region`")
                    .help("the Security Lake region (`us-east-1`): it is a partition value")
            })?;
        check_partition_value("region", region)?;
        check_partition_value("account_id", &self.account_id)?;
        let key_prefix = format!(
            "{prefix}region={region}/accountId={}/eventDay=%Y%m%d/",
            self.account_id
        );
        let template = KeyTemplate::parse(&key_prefix, "s3_uri")?;
        let table = parquet::table(
            &self.ocsf_version,
            self.class_uid,
            "ocsf_version",
            "class_uid",
        )?;
        if self.class_uid == 0 {
            return Err(BuildError::field(
                "class_uid",
                "`base_event` (0) is not a class a custom source can have",
            ));
        }
        check_row_group_bytes(self.row_group_bytes, "row_group_bytes")?;
        let format = ParquetFormat::new(table, self.compression, self.row_group_bytes);
        let batch = self.batch.settings(BATCH_DEFAULTS)?;
        let timeout = batch.timeout.as_secs_f64();
        in_range(
            "batch.timeout_secs",
            timeout,
            TIMEOUT_RANGE,
            "Security Lake's 5 minutes to 1 day",
        )?;
        if self.multipart_part_size < MIN_PART_SIZE {
            return Err(BuildError::field(
                "multipart_part_size",
                format!("S3 needs parts of at least {MIN_PART_SIZE} bytes (5 MiB)"),
            ));
        }
        in_range(
            "max_open_partitions",
            self.max_open_partitions,
            1..=1024,
            "",
        )?;
        let request = self.request.settings()?;
        Ok(Settings {
            template,
            keys_from_ocsf_time: true,
            naming: ObjectNaming {
                time_format: String::new(),
                append_uuid: true,
                extension: "parquet".into(),
            },
            encoder: None,
            format: ObjectFormat::Parquet(std::sync::Arc::new(format)),
            options: ObjectOptions {
                content_type: PARQUET_CONTENT_TYPE.into(),
                ..ObjectOptions::default()
            },
            retry: RetrySettings::from_request(&request),
            connection: self.aws_connection(request.timeout)?,
            bucket,
            max_bytes: batch.max_bytes,
            max_events: batch.max_events,
            timeout: Duration::from_secs_f64(timeout),
            concurrency: request.concurrency,
            max_open_partitions: self.max_open_partitions,
            part_size: self.multipart_part_size,
            healthcheck: self.healthcheck.enabled,
        })
    }
}

/// The bucket and the key prefix (ending in `/`, strftime-escaped) of `s3://bucket/prefix/`.
fn parse_s3_uri(uri: &str) -> Result<(String, String), BuildError> {
    let invalid = |why: &str| {
        BuildError::field("s3_uri", format!("{uri:?} {why}"))
            .help("the custom source's location, e.g. `s3://aws-security-data-lake-us-east-1-abc/ext/conductorone/1.0/`")
    };
    let rest = uri
        .trim()
        .strip_prefix("s3://")
        .ok_or_else(|| invalid("is not an s3:// URI"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid("has no bucket"));
    }
    if prefix.contains("{{") || prefix.split('/').any(|s| s == "." || s == "..") {
        return Err(invalid("has a path segment that cannot be part of a key"));
    }
    let mut prefix = prefix.replace('%', "%%");
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok((bucket.to_owned(), prefix))
}

/// A partition value: letters, digits, `-` and `_` (an AWS region or account id, `external_…`).
fn check_partition_value(field: &str, value: &str) -> Result<(), BuildError> {
    let fine = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if fine {
        Ok(())
    } else {
        Err(BuildError::field(
            field,
            format!("{value:?} is not a partition value (letters, digits, `-`, `_`)"),
        ))
    }
}

impl SinkComponent for AwsSecurityLakeConfig {
    fn apply_globals(&mut self, globals: &crate::config::GlobalOptions) {
        self.proxy = globals.proxy_under(&self.proxy);
    }

    fn build(&self, cx: SinkContext) -> Result<ComponentTask, BuildError> {
        let settings = self.settings()?;
        Ok(Box::pin(crate::sinks::aws_s3::sink::run(settings, cx)))
    }

    fn healthcheck(&self) -> Healthcheck {
        self.healthcheck
            .bound(crate::sinks::aws_s3::bucket_healthcheck(self.settings()))
    }

    fn acknowledgements(&self) -> Option<bool> {
        self.acknowledgements.enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<AwsSecurityLakeConfig, toml::de::Error> {
        toml::from_str(&format!(
            "s3_uri = \"s3://lake-bucket/ext/c1/1.0/\"\nregion = \"us-east-1\"\n\
             account_id = \"123456789012\"\nclass_uid = 6003\n{extra}"
        ))
    }

    fn settings(extra: &str) -> Result<Settings, BuildError> {
        config(extra).expect("valid options").settings()
    }

    #[test]
    fn the_layout_is_security_lakes() {
        let settings = settings("").unwrap();
        assert_eq!(settings.bucket, "lake-bucket");
        let event: vrl::value::Value = serde_json::from_str(r#"{"time": 1767225599999}"#).unwrap();
        let time = chrono::DateTime::from_timestamp_millis(1_767_225_599_999).unwrap();
        let mut prefix = String::new();
        settings.template.render(&event, time, &mut prefix).unwrap();
        assert_eq!(
            prefix,
            "ext/c1/1.0/region=us-east-1/accountId=123456789012/eventDay=20251231/"
        );
        let key = settings.naming.key(&prefix, chrono::Utc::now());
        assert!(
            key.starts_with(&prefix) && key.ends_with(".parquet"),
            "{key}"
        );
        assert_eq!(key.len(), prefix.len() + 36 + ".parquet".len());
        assert_eq!(settings.max_bytes, 256_000_000);
        assert_eq!(settings.timeout, Duration::from_secs(300));
        assert!(settings.keys_from_ocsf_time);
    }

    #[test]
    fn each_bad_option_is_named() {
        for (extra, field) in [
            ("batch.timeout_secs = 60", "batch.timeout_secs"),
            ("batch.timeout_secs = 90000", "batch.timeout_secs"),
            ("ocsf_version = \"1.2.0\"", "ocsf_version"),
            ("multipart_part_size = 1000", "multipart_part_size"),
            ("row_group_bytes = 10", "row_group_bytes"),
        ] {
            let error = settings(extra).err().unwrap_or_else(|| panic!("{extra}"));
            assert_eq!(error.field.as_deref(), Some(field), "{extra}: {error}");
        }
        let wrong_class = toml::from_str::<AwsSecurityLakeConfig>(
            "s3_uri = \"s3://b/p/\"\nregion = \"us-east-1\"\naccount_id = \"1\"\nclass_uid = 4242",
        )
        .unwrap()
        .settings()
        .err()
        .unwrap();
        assert_eq!(wrong_class.field.as_deref(), Some("class_uid"));
        for uri in ["https://b/p/", "s3:///p/", "s3://b/a/../p/"] {
            let error = parse_s3_uri(uri).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("s3_uri"), "{uri}");
        }
        assert_eq!(
            parse_s3_uri("s3://b/ext/100%/x").unwrap(),
            ("b".to_owned(), "ext/100%%/x/".to_owned())
        );
        assert_eq!(
            parse_s3_uri("s3://b").unwrap(),
            ("b".to_owned(), String::new())
        );
        let error = config("").unwrap();
        let no_region = AwsSecurityLakeConfig {
            region: None,
            ..error
        };
        assert_eq!(
            no_region.settings().err().unwrap().field.as_deref(),
            Some("region")
        );
        assert!(
            config("account_id2 = 1").is_err(),
            "unknown fields are refused"
        );
        let bad_account = settings("").map(drop);
        assert!(bad_account.is_ok());
        assert!(check_partition_value("account_id", "12/34").is_err());
    }
}
