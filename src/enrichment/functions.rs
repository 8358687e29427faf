//! `get_enrichment_table_record` and `find_enrichment_table_records`, with Vector's
//! parameters and errors:
//!
//! ```text
//! owner = get_enrichment_table_record!("app_owners", { "app_id": .app.uid }, select: ["owner"])
//! rows = find_enrichment_table_records!("app_owners", { "team": "iam", "reviewed": { "from": t'2026-01-01T00:00:00Z' } }, case_sensitive: false)
//! ```
//!
//! `table` must be a literal naming a configured table and `condition` an object literal
//! whose keys are columns of it (both checked when the program is compiled). A condition
//! value is matched for equality, or, when it is an object with `from` and/or `to`
//! timestamps, as an inclusive date range. `get_…` fails unless exactly one row matches.
//! The first exact-match column of the condition is indexed when the program is compiled.
//!
//! `wildcard` (Vector's parameter) gives a fallback: when no row matches exactly, the rows
//! whose exact-match columns all hold the wildcard value (and that meet the date ranges)
//! match instead, as Vector's indexed lookups do, e.g. a `*` row of defaults:
//! `get_enrichment_table_record!("app_owners", { "app_id": .app.uid }, wildcard: "*")`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use vrl::compiler::expression::Expr;
use vrl::compiler::prelude::*;

use super::{EnrichmentTables, Table};

/// The two functions, looking rows up in `tables`.
pub(crate) fn vrl_functions(tables: &EnrichmentTables) -> Vec<Box<dyn Function>> {
    vec![
        Box::new(TableFunction {
            tables: tables.clone(),
            many: false,
        }),
        Box::new(TableFunction {
            tables: tables.clone(),
            many: true,
        }),
    ]
}

const PARAMETERS: &[Parameter] = &[
    Parameter::required("table", kind::BYTES, "The id of the enrichment table."),
    Parameter::required(
        "condition",
        kind::OBJECT,
        "Column → value (exact match) or { from, to } (inclusive date range).",
    ),
    Parameter::optional("select", kind::ARRAY, "The columns to return; default all."),
    Parameter::optional(
        "case_sensitive",
        kind::BOOLEAN,
        "Whether string matches are case-sensitive; default true.",
    ),
    Parameter::optional(
        "wildcard",
        kind::BYTES,
        "The value of the rows that match when none matches exactly.",
    ),
];

/// `get_enrichment_table_record` (`many: false`) or `find_enrichment_table_records`.
#[derive(Clone, Debug)]
struct TableFunction {
    tables: EnrichmentTables,
    many: bool,
}

impl Function for TableFunction {
    fn identifier(&self) -> &'static str {
        if self.many {
            "find_enrichment_table_records"
        } else {
            "get_enrichment_table_record"
        }
    }

    fn usage(&self) -> &'static str {
        if self.many {
            "Returns the rows of an enrichment table that match `condition` (possibly none)."
        } else {
            "Returns the one row of an enrichment table that matches `condition`; an error when no row or more than one row matches."
        }
    }

    fn category(&self) -> &'static str {
        Category::Object.as_ref()
    }

    fn return_kind(&self) -> u16 {
        if self.many { kind::ARRAY } else { kind::OBJECT }
    }

    fn parameters(&self) -> &'static [Parameter] {
        PARAMETERS
    }

    fn examples(&self) -> &'static [Example] {
        &[]
    }

    fn compile(
        &self,
        state: &TypeState,
        _ctx: &mut FunctionCompileContext,
        arguments: ArgumentList,
    ) -> Compiled {
        let table_id = arguments.required_literal("table", state)?;
        let table = table_id
            .to_str_lossy()
            .and_then(|id| self.tables.get(&id))
            .cloned()
            .ok_or(function::Error::InvalidArgument {
                keyword: "table",
                value: table_id,
                error: "no enrichment table has this id: define it in [enrichment_tables.<id>]",
            })?;
        let mut condition = Vec::new();
        for (column, expr) in arguments.required_object("condition")? {
            let Some(index) = table.column(&column) else {
                return Err(function::Error::InvalidArgument {
                    keyword: "condition",
                    value: Value::from(column.as_str()),
                    error: "the enrichment table has no column with this name",
                }
                .into());
            };
            let range = expr.type_def(state).kind().contains_object();
            condition.push((index, expr, range));
        }
        let case_sensitive = arguments.optional("case_sensitive");
        // Index when the case sensitivity is known now (the default, or a literal).
        let index = match case_sensitive.as_ref().map(|e| e.resolve_constant(state)) {
            None => ColumnIndex::build(&table, &condition, true),
            Some(Some(Value::Boolean(sensitive))) => {
                ColumnIndex::build(&table, &condition, sensitive)
            }
            Some(_) => None,
        };
        Ok(TableCall {
            table,
            condition,
            select: arguments.optional("select"),
            case_sensitive,
            wildcard: arguments.optional("wildcard"),
            index: index.map(Arc::new),
            many: self.many,
        }
        .as_expr())
    }
}

/// The rows of one column by value (lower-cased strings when matching ignores case).
///
/// `Value` keys are sound: the interior mutability clippy sees is a regex's internal cache,
/// which its hash and equality never read (and table cells are never regexes).
#[derive(Debug)]
#[allow(clippy::mutable_key_type)]
struct ColumnIndex {
    /// Which entry of the condition it serves.
    condition: usize,
    rows: HashMap<Value, Vec<usize>>,
    case_sensitive: bool,
}

impl ColumnIndex {
    /// An index over the first exact-match column of `condition`, if it has one.
    fn build(
        table: &Table,
        condition: &[(usize, Expr, bool)],
        case_sensitive: bool,
    ) -> Option<Self> {
        let (position, (column, _, _)) = condition
            .iter()
            .enumerate()
            .find(|(_, (_, _, range))| !range)?;
        #[allow(clippy::mutable_key_type)] // see the type's comment
        let mut rows: HashMap<Value, Vec<usize>> = HashMap::new();
        for row in 0..table.len() {
            let key = index_key(&table.row(row)[*column], case_sensitive);
            rows.entry(key).or_default().push(row);
        }
        Some(Self {
            condition: position,
            rows,
            case_sensitive,
        })
    }
}

fn index_key(value: &Value, case_sensitive: bool) -> Value {
    match value.to_str_lossy() {
        Some(text) if !case_sensitive => Value::from(text.to_lowercase()),
        _ => value.clone(),
    }
}

/// One resolved condition entry.
#[derive(Clone)]
enum Test {
    Equals(usize, Value),
    Range {
        column: usize,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    },
}

/// A compiled call.
#[derive(Debug, Clone)]
struct TableCall {
    table: Arc<Table>,
    /// Column, value expression, and whether the value may be a `{ from, to }` range.
    condition: Vec<(usize, Expr, bool)>,
    select: Option<Box<dyn Expression>>,
    case_sensitive: Option<Box<dyn Expression>>,
    wildcard: Option<Box<dyn Expression>>,
    index: Option<Arc<ColumnIndex>>,
    many: bool,
}

impl TableCall {
    fn tests(&self, ctx: &mut Context) -> Result<Vec<Test>, ExpressionError> {
        let mut tests = Vec::with_capacity(self.condition.len());
        for (column, expr, _) in &self.condition {
            let value = expr.resolve(ctx)?;
            tests.push(match value {
                Value::Object(range) if is_range(&range) => Test::Range {
                    column: *column,
                    from: range_bound(&range, "from")?,
                    to: range_bound(&range, "to")?,
                },
                value => Test::Equals(*column, value),
            });
        }
        Ok(tests)
    }

    fn selected(&self, ctx: &mut Context) -> Result<Option<Vec<usize>>, ExpressionError> {
        let Some(select) = &self.select else {
            return Ok(None);
        };
        let columns = select.resolve(ctx)?;
        let columns = columns
            .as_array()
            .ok_or("`select` must be an array of strings")?;
        Ok(Some(
            columns
                .iter()
                .filter_map(|name| self.table.column(&name.to_str_lossy()?))
                .collect(),
        ))
    }

    /// The indices of the rows that match.
    fn matches(&self, tests: &[Test], case_sensitive: bool) -> Vec<usize> {
        let row_matches = |row: usize| {
            let cells = self.table.row(row);
            tests.iter().all(|test| test.matches(cells, case_sensitive))
        };
        let indexed = self
            .index
            .as_ref()
            .and_then(|index| match &tests[index.condition] {
                Test::Equals(_, value) if index.case_sensitive == case_sensitive => Some(
                    index
                        .rows
                        .get(&index_key(value, case_sensitive))
                        .map_or(&[][..], Vec::as_slice),
                ),
                _ => None,
            });
        match indexed {
            Some(rows) => rows
                .iter()
                .copied()
                .filter(|&row| row_matches(row))
                .collect(),
            None => (0..self.table.len())
                .filter(|&row| row_matches(row))
                .collect(),
        }
    }
}

fn is_range(object: &ObjectMap) -> bool {
    !object.is_empty() && object.keys().all(|key| key == "from" || key == "to")
}

fn range_bound(range: &ObjectMap, key: &str) -> Result<Option<DateTime<Utc>>, ExpressionError> {
    match range.get(key) {
        None => Ok(None),
        Some(Value::Timestamp(at)) => Ok(Some(*at)),
        Some(other) => Err(format!(
            "the `{key}` of a date range must be a timestamp, not {}",
            other.kind_str()
        )
        .into()),
    }
}

impl Test {
    fn matches(&self, cells: &[Value], case_sensitive: bool) -> bool {
        match self {
            Self::Equals(column, wanted) => {
                let have = &cells[*column];
                if case_sensitive {
                    return have == wanted;
                }
                match (have.to_str_lossy(), wanted.to_str_lossy()) {
                    (Some(have), Some(want)) => have.to_lowercase() == want.to_lowercase(),
                    _ => have == wanted,
                }
            }
            Self::Range { column, from, to } => match &cells[*column] {
                Value::Timestamp(at) => {
                    from.is_none_or(|from| from <= *at) && to.is_none_or(|to| *at <= to)
                }
                _ => false,
            },
        }
    }
}

impl FunctionExpression for TableCall {
    fn resolve(&self, ctx: &mut Context) -> Resolved {
        let tests = self.tests(ctx)?;
        let case_sensitive = match &self.case_sensitive {
            Some(expr) => expr.resolve(ctx)?.try_boolean()?,
            None => true,
        };
        let select = self.selected(ctx)?;
        let mut rows = self.matches(&tests, case_sensitive);
        if rows.is_empty()
            && let Some(wildcard) = &self.wildcard
        {
            let wildcard = wildcard.resolve(ctx)?;
            let fallback: Vec<Test> = tests
                .into_iter()
                .map(|test| match test {
                    Test::Equals(column, _) => Test::Equals(column, wildcard.clone()),
                    range => range,
                })
                .collect();
            rows = self.matches(&fallback, case_sensitive);
        }
        if self.many {
            return Ok(Value::Array(
                rows.into_iter()
                    .map(|row| self.table.record(row, select.as_deref()))
                    .collect(),
            ));
        }
        match rows.as_slice() {
            [row] => Ok(self.table.record(*row, select.as_deref())),
            [] => Err("no rows found".into()),
            _ => Err("more than one row found".into()),
        }
    }

    fn type_def(&self, _: &TypeState) -> TypeDef {
        if self.many {
            TypeDef::array(Collection::from_unknown(Kind::object(Collection::any()))).fallible()
        } else {
            TypeDef::object(Collection::any()).fallible()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_ignore_case() {
        assert_eq!(index_key(&Value::from("Bob"), false), Value::from("bob"));
        assert_eq!(index_key(&Value::from("Bob"), true), Value::from("Bob"));
    }
}
