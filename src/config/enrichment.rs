//! `[enrichment_tables.<id>]`: each table is deserialized with positions and read at load
//! time, so a missing file, a malformed CSV or a cell that does not fit the schema is a
//! configuration error at the option concerned.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

use super::{Config, ConfigError, Loader, Origin, collect_entries, field_at};
use crate::enrichment::{EnrichmentTableConfig, EnrichmentTables, Table, TableError};

/// A configured, loaded enrichment table.
#[derive(Clone, Debug)]
pub struct EnrichmentTableOuter {
    /// Its options.
    pub config: EnrichmentTableConfig,
    /// Its rows.
    pub table: Arc<Table>,
    /// Where it was defined.
    pub origin: Origin,
}

impl Config {
    /// The loaded tables, for the transforms' VRL programs.
    pub fn enrichment(&self) -> EnrichmentTables {
        EnrichmentTables::new(
            self.enrichment_tables
                .iter()
                .map(|(id, outer)| (id.clone(), Arc::clone(&outer.table)))
                .collect::<BTreeMap<_, _>>(),
        )
    }
}

impl Loader<'_> {
    /// Reads the `enrichment_tables` table into `config`.
    pub(super) fn enrichment_tables(
        &self,
        config: &mut Config,
        value: Spanned<DeValue<'_>>,
        errors: &mut Vec<ConfigError>,
    ) {
        let span = value.span();
        let DeValue::Table(tables) = value.into_inner() else {
            errors.push(
                ConfigError::new("`enrichment_tables` must be a table of tables")
                    .at(Some(self.location(span.start)))
                    .help("write [enrichment_tables.my_id] with `type = \"file\"`"),
            );
            return;
        };
        for (id, body) in tables {
            let name = format!("enrichment_tables.{}", id.get_ref());
            if let Some(outer) = self.enrichment_table(&name, id.span().start, body, errors) {
                config
                    .enrichment_tables
                    .insert(id.get_ref().to_string(), outer);
            }
        }
    }

    fn enrichment_table(
        &self,
        name: &str,
        id_at: usize,
        body: Spanned<DeValue<'_>>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<EnrichmentTableOuter> {
        let body_span = body.span();
        let mut entries = Vec::new();
        if let DeValue::Table(table) = body.get_ref() {
            collect_entries(table, "", &mut entries);
        }
        let origin = Origin {
            location: Some(self.location(id_at)),
            source: Some((Arc::clone(self.file), Arc::clone(&self.shared_text))),
            value_offsets: entries
                .iter()
                .map(|e| (e.path.clone(), e.value.start))
                .collect(),
        };
        let config = EnrichmentTableConfig::deserialize(ValueDeserializer::from(body))
            .map_err(|error| {
                let field = error.span().and_then(|at| field_at(&entries, &at));
                errors.push(self.serde_error(&error, body_span.clone(), Some(name), field));
            })
            .ok()?;
        match config.load() {
            Ok(table) => Some(EnrichmentTableOuter {
                config,
                table: Arc::new(table),
                origin,
            }),
            Err(error) => {
                errors.push(table_error(name, &origin, &error));
                None
            }
        }
    }
}

/// A table that cannot be loaded, at the option that names what is wrong.
fn table_error(name: &str, origin: &Origin, error: &TableError) -> ConfigError {
    let (field, help) = match error {
        TableError::Read { .. } => (
            "file.path".to_owned(),
            "check the path (relative paths are relative to the working directory)",
        ),
        TableError::Csv { .. } => (
            "file.path".to_owned(),
            "fix the CSV file: every row needs as many fields as the header, in UTF-8",
        ),
        TableError::Convert { column, .. } => (
            format!("schema.{column}"),
            "fix the value in the file, or the column's type in `schema`",
        ),
        TableError::UnknownType { column, .. } => (
            format!("schema.{column}"),
            "column types are string, bool, integer, float, date and timestamp \
             (`date|%m/%d/%Y`, `timestamp|%Y-%m-%d %H:%M:%S` give a format)",
        ),
        TableError::Delimiter(_) => (
            "file.encoding.delimiter".to_owned(),
            "use a single ASCII character, such as `,`, `;` or `\\t`",
        ),
    };
    ConfigError::new(error.to_string())
        .at(origin.field_location(&field))
        .component(name)
        .field(field)
        .help(help)
}
