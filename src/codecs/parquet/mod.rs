//! Parquet objects of OCSF events: the columns of an OCSF class (from the embedded schema),
//! built from events directly, rows sorted by `time`, written row group by row group so the
//! encoded bytes can leave as multipart parts while the object grows.
//!
//! Used by the `aws_security_lake` sink and by `aws_s3` with `batch_encoding.codec =
//! "parquet"`. Layout: `schema` (the OCSF-to-Arrow mapping and the depth cut), `columns` (the
//! builders fed from `vrl` values, and `unmapped`), `writer` (row groups, sorting, output).

//!
//! The writer needs the cargo feature `parquet` (arrow-rs and parquet); without it only the
//! options are here, and `batch_encoding` is refused with an error naming the feature.

#[cfg(feature = "parquet")]
mod columns;
#[cfg(feature = "parquet")]
mod schema;
#[cfg(feature = "parquet")]
mod writer;

#[cfg(feature = "parquet")]
use std::sync::Arc;

use serde::Deserialize;

use crate::component::BuildError;

#[cfg(feature = "parquet")]
pub(crate) use columns::TypeError;
#[cfg(feature = "parquet")]
pub(crate) use schema::{OcsfTable, TableError};
#[cfg(feature = "parquet")]
pub(crate) use writer::{ParquetFormat, ParquetObject, PushError};

/// The default size of a row group: column builder memory collected before it is sorted and
/// encoded (values, and the null each row puts in every column the row group uses; columns
/// no row uses cost nothing, see `columns::NullArrays`). Memory holds about twice this per
/// open object while a row group is written (the columns, and their encoded pages). 24 MiB
/// rather than 32: the Security Lake benchmark's two sinks peaked at 139–157 MiB instead of
/// 153–169 MiB, at the same CPU (bench/README.md).
pub(crate) const DEFAULT_ROW_GROUP_BYTES: usize = 24 * 1024 * 1024;

/// The zstd level of Parquet pages: 1, the Arrow writers' default, not the level 3 the
/// line-oriented sinks use. On the benchmark workload's pages (at most 1 MB each) level 3 made
/// objects no smaller (26.0 MB in all against 25.7 MB at level 1) and cost 3% more of the
/// pipeline's CPU (bench/README.md).
pub(crate) const PARQUET_ZSTD_LEVEL: i32 = 1;

/// The compression of a Parquet object's pages.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ParquetCompression {
    /// zstd at [`PARQUET_ZSTD_LEVEL`]: what Security Lake prefers. Columns without a value
    /// in an object's first row group use Snappy or none (see `writer`).
    Zstd,
    /// Snappy.
    Snappy,
    /// Uncompressed pages.
    None,
}

impl ParquetCompression {
    /// `zstd`: a serde `default` (the `aws_security_lake` sink's).
    pub fn zstd() -> Self {
        Self::Zstd
    }

    /// `snappy`: a serde `default` (`aws_s3`'s `batch_encoding`, as in Vector).
    pub fn snappy() -> Self {
        Self::Snappy
    }
}

/// `batch_encoding.codec`: only `parquet`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BatchCodec {
    /// Apache Parquet.
    Parquet,
}

/// `batch_encoding` of the `aws_s3` sink: objects as Parquet files (Vector's option) whose
/// columns are the attributes of an OCSF class.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ParquetEncodingConfig {
    /// `parquet`. Required.
    pub codec: BatchCodec,
    /// The OCSF class whose attributes are the columns; events of other classes are rejected.
    /// Default `0` (`base_event`): events of any class, their class-specific attributes in
    /// `unmapped`.
    #[serde(default)]
    pub ocsf_class_uid: i64,
    /// The OCSF version of the columns: `1.1.0`, `1.3.0` (default), `1.5.0` or `1.8.0`.
    #[serde(default = "default_ocsf_version")]
    pub ocsf_version: String,
    /// Page compression: `snappy` (default, as in Vector), `zstd` or `none`.
    #[serde(default = "ParquetCompression::snappy")]
    pub compression: ParquetCompression,
    /// Bytes of column data collected per row group before it is sorted and encoded, and of the
    /// row groups of all open objects together (past it the largest is encoded early).
    /// Default 24 MiB.
    #[serde(default = "default_row_group_bytes")]
    pub row_group_bytes: usize,
}

impl ParquetEncodingConfig {
    /// The error of a build without the `parquet` feature, where Parquet objects cannot be
    /// written.
    #[cfg(not(feature = "parquet"))]
    pub(crate) fn unavailable(&self) -> BuildError {
        BuildError::field(
            "batch_encoding.codec",
            "Parquet objects are not in this build: it lacks the cargo feature `parquet`",
        )
        .help("use a c1-pipeline built with the `parquet` feature (on by default; `cargo build --features parquet`)")
    }

    /// Checks the options; the format objects are written in.
    #[cfg(feature = "parquet")]
    pub(crate) fn build(&self) -> Result<Arc<ParquetFormat>, BuildError> {
        let table = table(
            &self.ocsf_version,
            self.ocsf_class_uid,
            "batch_encoding.ocsf_version",
            "batch_encoding.ocsf_class_uid",
        )?;
        check_row_group_bytes(self.row_group_bytes, "batch_encoding.row_group_bytes")?;
        Ok(Arc::new(ParquetFormat::new(
            table,
            self.compression,
            self.row_group_bytes,
        )))
    }
}

/// `1.3.0`, the highest version Security Lake takes: a serde `default`.
pub(crate) fn default_ocsf_version() -> String {
    crate::ocsf::schema::DEFAULT_VERSION.to_owned()
}

/// [`DEFAULT_ROW_GROUP_BYTES`]: a serde `default`.
pub(crate) fn default_row_group_bytes() -> usize {
    DEFAULT_ROW_GROUP_BYTES
}

/// The table of `class_uid` at `version`, errors naming the option at fault.
#[cfg(feature = "parquet")]
pub(crate) fn table(
    version: &str,
    class_uid: i64,
    version_field: &str,
    class_field: &str,
) -> Result<OcsfTable, BuildError> {
    OcsfTable::new(version, class_uid).map_err(|error| match error {
        TableError::Schema(_) => BuildError::field(version_field, error.to_string()),
        TableError::UnknownClass { .. } => BuildError::field(class_field, error.to_string())
            .help("API Activity is 6003, Authentication 3002"),
        TableError::MissingAttribute { .. } => BuildError::field(class_field, error.to_string()),
    })
}

/// A row group of at least 1 KiB (smaller ones would be mostly metadata).
#[cfg(feature = "parquet")]
pub(crate) fn check_row_group_bytes(bytes: usize, field: &str) -> Result<(), BuildError> {
    crate::component::in_range(field, bytes, 1024..=1 << 30, "1 KiB to 1 GiB").map(drop)
}

/// Why an event cannot be a row of a Parquet object.
#[cfg(feature = "parquet")]
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum RowError {
    /// The event is not an object.
    #[error("the event is not an object")]
    NotAnObject,
    /// The event's `class_uid` is not the table's.
    #[error("class_uid {} is not this sink's class {expected}", describe_class(*.class_uid))]
    WrongClass {
        /// The event's class, if it has an integer one.
        class_uid: Option<i64>,
        /// The table's class.
        expected: i64,
    },
    /// The event has no integer `time`.
    #[error("the event has no integer `time` (epoch milliseconds)")]
    NoTime,
    /// A value's type does not fit its column.
    #[error("{0}")]
    Type(TypeError),
}

#[cfg(feature = "parquet")]
fn describe_class(class_uid: Option<i64>) -> String {
    class_uid.map_or_else(|| "(none)".to_owned(), |uid| uid.to_string())
}
