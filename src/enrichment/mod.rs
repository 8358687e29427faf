//! Enrichment tables (`[enrichment_tables.<id>]`): data loaded once at start-up that VRL
//! programs (`remap`, and `filter`/`route` conditions) look rows up in, with Vector's
//! `get_enrichment_table_record` and `find_enrichment_table_records`.
//!
//! ```toml
//! [enrichment_tables.app_owners]
//! type = "file"
//! file.path = "/etc/c1-pipeline/app-owners.csv"
//! file.encoding.type = "csv"
//! schema.app_id = "string"
//! schema.reviewed = "date"
//! ```
//!
//! Only Vector's `file` type (CSV) exists here; `geoip`, `mmdb` and `memory` are unknown-type
//! errors. Tables are read when the configuration is loaded, so `validate` reports a missing
//! file, a malformed CSV or a value that does not fit the schema.

mod file;
pub(crate) mod functions;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

pub use file::{Table, TableError};

/// One `[enrichment_tables.<id>]` table, tagged by `type` as in Vector.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EnrichmentTableConfig {
    /// A CSV file, read once.
    File(FileTableConfig),
}

/// `type = "file"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTableConfig {
    /// The file and how it is encoded.
    pub file: FileSettings,
    /// Column name → type (`string`, `bool`, `integer`, `float`, `date`, `timestamp`; `date`
    /// and `timestamp` take a strftime format after a `|`: `date|%m/%d/%Y`). Columns not listed
    /// are strings. Default: none.
    #[serde(default)]
    pub schema: BTreeMap<String, String>,
}

/// `file.*`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// The file to read (relative paths are relative to the working directory). Required.
    pub path: PathBuf,
    /// How the file is encoded. Required by Vector; here its `type` defaults to `csv`.
    #[serde(default)]
    pub encoding: FileEncoding,
}

/// `file.encoding.*`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEncoding {
    /// The format: `csv`, the only one (Vector's too). Default `csv`.
    #[serde(rename = "type", default)]
    pub kind: EncodingType,
    /// The field delimiter, one ASCII character. Default `,`.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Whether the first row names the columns. Default `true`; with `false`, columns are
    /// named by their position (`"0"`, `"1"`, ...), as in Vector.
    #[serde(default = "crate::options::default_true")]
    pub include_headers: bool,
}

/// `file.encoding.type`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EncodingType {
    /// Comma-separated values (or another `delimiter`).
    #[default]
    Csv,
}

impl Default for FileEncoding {
    fn default() -> Self {
        Self {
            kind: EncodingType::Csv,
            delimiter: default_delimiter(),
            include_headers: true,
        }
    }
}

fn default_delimiter() -> char {
    ','
}

impl EnrichmentTableConfig {
    /// Reads the table.
    pub fn load(&self) -> Result<Table, TableError> {
        match self {
            Self::File(config) => Table::load(config),
        }
    }
}

/// The loaded tables by id, shared by every program that looks them up.
#[derive(Clone, Debug, Default)]
pub struct EnrichmentTables {
    tables: Arc<BTreeMap<String, Arc<Table>>>,
}

impl EnrichmentTables {
    /// Tables by id.
    pub fn new(tables: BTreeMap<String, Arc<Table>>) -> Self {
        Self {
            tables: Arc::new(tables),
        }
    }

    /// The table `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<Table>> {
        self.tables.get(id)
    }

    /// The ids of the tables, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}
