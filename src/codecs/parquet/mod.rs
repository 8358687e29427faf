//! Parquet objects of OCSF events: the columns of an OCSF class (from the embedded schema),
//! built from events directly, rows sorted by `time`, written row group by row group so the
//! encoded bytes can leave as multipart parts while the object grows.
//!
//! Used by the `aws_security_lake` sink and by `aws_s3` with `batch_encoding.codec =
//! "parquet"`. Layout: `schema` (the OCSF-to-Arrow mapping and the depth cut), `columns` (the
//! builders fed from `vrl` values, and `unmapped`), `writer` (row groups, sorting, output).

mod columns;
mod schema;
mod writer;

use serde::Deserialize;

pub(crate) use columns::TypeError;
pub(crate) use schema::{MAX_OBJECT_DEPTH, OcsfTable, TableError};
pub(crate) use writer::{ParquetFormat, ParquetObject, PushError};

/// The default size of a row group: column data collected before it is sorted and encoded.
/// Memory holds about twice this per open object while a row group is written (the columns,
/// and their encoded pages); encoded with zstd it makes row groups of a few MB.
pub(crate) const DEFAULT_ROW_GROUP_BYTES: usize = 32 * 1024 * 1024;

/// The compression of a Parquet object's pages.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ParquetCompression {
    /// zstd at the level every sink uses (3): what Security Lake prefers.
    #[default]
    Zstd,
    /// Snappy.
    Snappy,
    /// Uncompressed pages.
    None,
}

/// Why an event cannot be a row of a Parquet object.
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

fn describe_class(class_uid: Option<i64>) -> String {
    class_uid.map_or_else(|| "(none)".to_owned(), |uid| uid.to_string())
}
