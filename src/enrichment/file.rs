//! The `file` enrichment table: a CSV file read once into typed rows, and the row search the
//! VRL functions run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use vrl::value::{KeyString, ObjectMap, Value};

use super::{FileEncoding, FileTableConfig};

/// Why a table could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The file cannot be read.
    #[error("cannot read enrichment table file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CSV is malformed (uneven rows, invalid UTF-8, ...).
    #[error("invalid CSV in {path}{line}: {message}", line = at_line(*.line))]
    Csv {
        /// The file.
        path: PathBuf,
        /// The line of the CSV file, when known.
        line: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A value does not have its column's schema type.
    #[error("{path} line {line}, column `{column}`: `{value}` is not a valid {kind}")]
    Convert {
        /// The file.
        path: PathBuf,
        /// The line of the CSV file.
        line: u64,
        /// The column.
        column: String,
        /// The raw value.
        value: String,
        /// The column's schema type.
        kind: String,
    },
    /// A schema names a type that does not exist.
    #[error("unknown column type `{kind}` for column `{column}`")]
    UnknownType {
        /// The column.
        column: String,
        /// The type as written.
        kind: String,
    },
    /// The delimiter is not a single byte.
    #[error("the CSV delimiter must be one ASCII character, not `{0}`")]
    Delimiter(char),
}

fn at_line(line: Option<u64>) -> String {
    line.map(|line| format!(" at line {line}"))
        .unwrap_or_default()
}

/// The type of a column, from the schema.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ColumnType {
    String,
    Bool,
    Integer,
    Float,
    /// A date, read with the format (default `%Y-%m-%d`), as a timestamp at midnight UTC.
    Date(Option<String>),
    /// A timestamp, read with the format (default: RFC 3339 and common variants).
    Timestamp(Option<String>),
}

impl ColumnType {
    /// Parses a schema entry: `integer`, `timestamp|%Y-%m-%d %H:%M:%S`, ...
    fn parse(column: &str, text: &str) -> Result<Self, TableError> {
        let (name, format) = match text.split_once('|') {
            Some((name, format)) => (name.trim(), Some(format.to_owned())),
            None => (text.trim(), None),
        };
        let kind = match (name, format) {
            ("string" | "bytes" | "asis", None) => Self::String,
            ("bool" | "boolean", None) => Self::Bool,
            ("int" | "integer", None) => Self::Integer,
            ("float", None) => Self::Float,
            ("date", format) => Self::Date(format),
            ("timestamp", format) => Self::Timestamp(format),
            _ => {
                return Err(TableError::UnknownType {
                    column: column.to_owned(),
                    kind: text.to_owned(),
                });
            }
        };
        Ok(kind)
    }

    /// Converts one cell; `None` when it does not fit.
    fn convert(&self, raw: &str) -> Option<Value> {
        match self {
            Self::String => Some(Value::from(raw)),
            Self::Bool => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" => Some(Value::Boolean(true)),
                "false" | "f" | "no" | "n" | "0" => Some(Value::Boolean(false)),
                _ => None,
            },
            Self::Integer => raw.trim().parse::<i64>().ok().map(Value::Integer),
            Self::Float => raw
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| !f.is_nan())
                .map(Value::from_f64_or_zero),
            Self::Date(format) => {
                let format = format.as_deref().unwrap_or("%Y-%m-%d");
                let date = NaiveDate::parse_from_str(raw.trim(), format).ok()?;
                Some(Value::Timestamp(date.and_hms_opt(0, 0, 0)?.and_utc()))
            }
            Self::Timestamp(format) => {
                parse_timestamp(raw.trim(), format.as_deref()).map(Value::Timestamp)
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Self::String => "string".into(),
            Self::Bool => "boolean".into(),
            Self::Integer => "integer".into(),
            Self::Float => "float".into(),
            Self::Date(format) => format!("date ({})", format.as_deref().unwrap_or("%Y-%m-%d")),
            Self::Timestamp(Some(format)) => format!("timestamp ({format})"),
            Self::Timestamp(None) => "timestamp (RFC 3339)".into(),
        }
    }
}

/// A timestamp in `format` (with an offset when the format has one, else UTC), or without a
/// format RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC) or Unix seconds.
fn parse_timestamp(raw: &str, format: Option<&str>) -> Option<DateTime<Utc>> {
    match format {
        Some(format) => DateTime::parse_from_str(raw, format)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| NaiveDateTime::parse_from_str(raw, format).map(|t| t.and_utc()))
            .ok(),
        None => DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                    .iter()
                    .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
                    .map(|t| t.and_utc())
            })
            .or_else(|| DateTime::from_timestamp(raw.parse().ok()?, 0)),
    }
}

/// A loaded table: named columns and typed rows.
#[derive(Debug)]
pub struct Table {
    columns: Vec<KeyString>,
    positions: HashMap<KeyString, usize>,
    rows: Vec<Vec<Value>>,
}

impl Table {
    /// Reads a `file` table.
    pub fn load(config: &FileTableConfig) -> Result<Self, TableError> {
        let path = &config.file.path;
        let FileEncoding {
            delimiter,
            include_headers,
            ..
        } = config.file.encoding;
        let delimiter = u8::try_from(delimiter)
            .ok()
            .filter(u8::is_ascii)
            .ok_or(TableError::Delimiter(delimiter))?;
        let text = std::fs::read(path).map_err(|source| TableError::Read {
            path: path.clone(),
            source,
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(include_headers)
            .from_reader(text.as_slice());
        let csv_error = |error: csv::Error| TableError::Csv {
            path: path.clone(),
            line: error.position().map(csv::Position::line),
            message: csv_message(&error),
        };
        let mut columns: Vec<KeyString> = if include_headers {
            let headers = reader.headers().map_err(csv_error)?;
            headers.iter().map(KeyString::from).collect()
        } else {
            Vec::new()
        };
        let types = column_types(&config.schema)?;
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(csv_error)?;
            if columns.is_empty() {
                columns = (0..record.len())
                    .map(|i| KeyString::from(i.to_string()))
                    .collect();
            }
            let line = record.position().map_or(0, csv::Position::line);
            rows.push(typed_row(path, line, &record, &columns, &types)?);
        }
        let positions = columns
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), i))
            .collect();
        Ok(Self {
            columns,
            positions,
            rows,
        })
    }

    /// The column named `name`, if the table has it.
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
    }

    /// The column names, in file order.
    pub fn columns(&self) -> &[KeyString] {
        &self.columns
    }

    /// How many rows it has.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row `index`'s cells.
    pub(crate) fn row(&self, index: usize) -> &[Value] {
        &self.rows[index]
    }

    /// Row `index` as an object, with only the `select` columns when given.
    pub(crate) fn record(&self, index: usize, select: Option<&[usize]>) -> Value {
        let row = &self.rows[index];
        let mut object = ObjectMap::new();
        match select {
            Some(columns) => {
                for &column in columns {
                    object.insert(self.columns[column].clone(), row[column].clone());
                }
            }
            None => {
                for (name, value) in self.columns.iter().zip(row) {
                    object.insert(name.clone(), value.clone());
                }
            }
        }
        Value::Object(object)
    }
}

/// The csv crate's message without its own position prefix (ours names the file line).
fn csv_message(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("a row has {len} fields where the first row has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "the file is not valid UTF-8".into(),
        _ => error.to_string(),
    }
}

fn column_types(
    schema: &std::collections::BTreeMap<String, String>,
) -> Result<HashMap<String, ColumnType>, TableError> {
    schema
        .iter()
        .map(|(column, kind)| Ok((column.clone(), ColumnType::parse(column, kind)?)))
        .collect()
}

fn typed_row(
    path: &Path,
    line: u64,
    record: &csv::StringRecord,
    columns: &[KeyString],
    types: &HashMap<String, ColumnType>,
) -> Result<Vec<Value>, TableError> {
    record
        .iter()
        .zip(columns)
        .map(|(raw, column)| match types.get(column.as_str()) {
            None | Some(ColumnType::String) => Ok(Value::from(raw)),
            Some(kind) => kind.convert(raw).ok_or_else(|| TableError::Convert {
                path: path.to_owned(),
                line,
                column: column.to_string(),
                value: raw.to_owned(),
                kind: kind.name(),
            }),
        })
        .collect()
}
