//! The Parquet (Arrow) schema of one OCSF class at one version, derived from the embedded OCSF
//! schema ([`crate::ocsf::schema`]): the class's attributes as columns, sorted by name.
//!
//! | OCSF | Arrow / Parquet |
//! | --- | --- |
//! | `string_t` and its subtypes | `Utf8` (`BYTE_ARRAY` UTF8) |
//! | `integer_t` (and subtypes: `port_t`, enum `*_id`s) | `Int32` |
//! | `long_t`, `timestamp_t` (epoch milliseconds) | `Int64` |
//! | `float_t` | `Float64` |
//! | `boolean_t` | `Boolean` |
//! | `datetime_t` (`time_dt`, ... of the `datetime` profile) | `Timestamp(ms, UTC)`, filled from the event's RFC 3339 value or else from its epoch-millisecond sibling (`time`) |
//! | `json_t`, free-form `object` (`unmapped`, ...) | `Utf8` holding JSON |
//! | an object type (`user`, `api`, ...) | `Struct` of its attributes |
//! | `is_array` | `List` of the item type |
//!
//! OCSF objects are recursive (`process.parent_process`, `user.ldap_person.manager`, ...), so
//! objects are expanded down to [`MAX_OBJECT_DEPTH`] levels; an object attribute below that has
//! no column, and values an event has there go to `unmapped` like any attribute the schema
//! lacks. Every file of a sink has the same schema (one Glue table).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field as ArrowField, Fields, Schema as ArrowSchema, TimeUnit};

use crate::ocsf::schema::{self as ocsf, AttributeSet, SchemaError, ValueType};

/// How many levels of objects get struct columns: the event's own object attributes are level
/// 1 (`actor`), theirs level 2 (`actor.user`), then level 3 (`actor.user.groups`,
/// `metadata.product.feature`); the object attributes of a level-3 object have no column.
/// Three levels hold every attribute ConductorOne's events use (the deepest,
/// `metadata.product.feature.name`, is at level 3) and the nesting of AWS's own OCSF tables.
/// The number of leaf columns grows about twofold per level (API Activity at OCSF 1.3.0: 537
/// at two levels, 1,158 at three, 2,020 at four; the test
/// `the_depth_cut_and_its_column_counts_are_the_documented_ones` computes them), and every row
/// group of every file has a column chunk per leaf column, used or not, so a deeper cut costs
/// CPU and footer size per row group.
pub(crate) const MAX_OBJECT_DEPTH: usize = 3;

/// The name of the column for attributes the class lacks.
pub(crate) const UNMAPPED: &str = "unmapped";

/// What a column holds.
#[derive(Debug)]
pub(crate) enum Kind {
    /// `boolean_t`.
    Boolean,
    /// `integer_t`: a 32-bit integer.
    Int32,
    /// `long_t`, `timestamp_t`: a 64-bit integer.
    Int64,
    /// `float_t`.
    Float64,
    /// `string_t` and its subtypes.
    Utf8,
    /// `json_t`: any value, as JSON text.
    Json,
    /// A free-form object (`unmapped`), as JSON text.
    AnyObject,
    /// `datetime_t`: a UTC timestamp in milliseconds.
    DateTime,
    /// An object: its attributes.
    Struct(Group),
}

/// The attributes of an object (or of the event), as columns sorted by name.
#[derive(Debug)]
pub(crate) struct Group {
    /// The columns.
    pub(crate) columns: Vec<Column>,
    /// `(datetime column, epoch-millisecond column)` pairs such as `time_dt` and `time`: the
    /// first is filled from the second when an event has only the second.
    pub(crate) mirrors: Vec<(usize, usize)>,
    /// The position of `unmapped`, in the event's own group only: it collects what has no
    /// column, so it is written last.
    pub(crate) unmapped: Option<usize>,
    /// Each column's position by name. Every attribute of every event is looked up here: a
    /// hash and one comparison instead of a binary search's several (string comparisons
    /// were a sixth of the `aws_security_lake` benchmark's CPU).
    positions: HashMap<Box<str>, usize, rustc_hash::FxBuildHasher>,
}

impl Group {
    /// The group of `columns`.
    fn new(columns: Vec<Column>, mirrors: Vec<(usize, usize)>) -> Self {
        let positions = (columns.iter().enumerate())
            .map(|(at, column)| (column.name.clone(), at))
            .collect();
        Self {
            columns,
            mirrors,
            unmapped: None,
            positions,
        }
    }

    /// The position of the column named `name`.
    #[inline]
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
    }
}

/// One column (or struct field) of the table.
#[derive(Debug)]
pub(crate) struct Column {
    /// The attribute's name.
    pub(crate) name: Box<str>,
    /// Whether the attribute is an array (a list column).
    pub(crate) list: bool,
    /// What the column (or each list element) holds.
    pub(crate) kind: Kind,
}

/// The columns of one OCSF class at one version, and their Arrow schema.
#[derive(Debug)]
pub(crate) struct OcsfTable {
    /// The class (`0`: `base_event`, which any class's events fit).
    pub(crate) class_uid: i64,
    /// The top-level columns.
    pub(crate) root: Group,
    /// The Arrow schema of `columns`.
    pub(crate) arrow: Arc<ArrowSchema>,
}

/// Why a table cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TableError {
    /// The version is not embedded.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The class is not in the version.
    #[error("{class_uid} is not a class of OCSF {version}")]
    UnknownClass {
        /// The class asked for.
        class_uid: i64,
        /// The version.
        version: &'static str,
    },
    /// The class lacks an attribute the table needs (`time`, `unmapped`).
    #[error("class {class_uid} of OCSF {version} has no `{attribute}` attribute")]
    MissingAttribute {
        /// The class.
        class_uid: i64,
        /// The version.
        version: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
}

impl OcsfTable {
    /// The table of class `class_uid` at OCSF `version`.
    pub(crate) fn new(version: &str, class_uid: i64) -> Result<Self, TableError> {
        let schema = ocsf::schema(version)?;
        let version = schema.version();
        let class = schema
            .class(class_uid)
            .ok_or(TableError::UnknownClass { class_uid, version })?;
        let mut root = group(schema, &class.attributes, 1, MAX_OBJECT_DEPTH);
        let position = |attribute: &'static str| {
            root.position(attribute)
                .ok_or(TableError::MissingAttribute {
                    class_uid,
                    version,
                    attribute,
                })
        };
        position("time")?;
        root.unmapped = Some(position(UNMAPPED)?);
        let arrow = Arc::new(ArrowSchema::new(arrow_fields(&root.columns)));
        Ok(Self {
            class_uid,
            root,
            arrow,
        })
    }

    /// How many leaf (non-struct) columns the table has.
    #[cfg(test)]
    pub(crate) fn leaf_count(&self) -> usize {
        leaf_count(&self.root.columns)
    }
}

/// How many leaf (non-struct) columns `columns` have.
#[cfg(test)]
fn leaf_count(columns: &[Column]) -> usize {
    columns
        .iter()
        .map(|column| match &column.kind {
            Kind::Struct(group) => leaf_count(&group.columns),
            _ => 1,
        })
        .sum()
}

impl Column {
    /// The bytes each row of a row group takes in this column's builder once a row has a value
    /// there (the others get a null): a list's offset, or a leaf's value — 8 bytes for 64-bit
    /// columns, 4 for 32-bit ones and string offsets, 1 for booleans. A struct's own validity
    /// is a bit; its fields count for themselves when they are used.
    pub(crate) fn row_bytes(&self) -> usize {
        match &self.kind {
            _ if self.list => 4,
            Kind::Struct(_) => 0,
            Kind::Boolean => 1,
            Kind::Int32 | Kind::Utf8 | Kind::Json | Kind::AnyObject => 4,
            Kind::Int64 | Kind::Float64 | Kind::DateTime => 8,
        }
    }
}

/// The columns of an attribute set at object depth `depth` (1 for the class's own), objects
/// expanded down to `max_depth` levels.
fn group(
    schema: &ocsf::Schema,
    attributes: &AttributeSet,
    depth: usize,
    max_depth: usize,
) -> Group {
    let columns: Vec<Column> = attributes
        .iter()
        .filter_map(|attribute| {
            let kind = match attribute.value_type {
                ValueType::Boolean => Kind::Boolean,
                ValueType::Integer { .. } => Kind::Int32,
                ValueType::Long | ValueType::Timestamp => Kind::Int64,
                ValueType::Float => Kind::Float64,
                ValueType::String { .. } if attribute.type_name == "datetime_t" => Kind::DateTime,
                ValueType::String { .. } => Kind::Utf8,
                ValueType::Json => Kind::Json,
                ValueType::AnyObject => Kind::AnyObject,
                ValueType::Object(_) if depth > max_depth => return None,
                ValueType::Object(id) => {
                    let fields = group(schema, &schema.object(id).attributes, depth + 1, max_depth);
                    // Parquet has no empty groups: an object whose every attribute was cut
                    // has no column either.
                    if fields.columns.is_empty() {
                        return None;
                    }
                    Kind::Struct(fields)
                }
            };
            Some(Column {
                name: attribute.name.as_str().into(),
                list: attribute.is_array,
                kind,
            })
        })
        .collect();
    // `time_dt` mirrors `time`: the sibling is the name without `_dt`.
    let mirrors = columns
        .iter()
        .enumerate()
        .filter(|(_, column)| matches!(column.kind, Kind::DateTime) && !column.list)
        .filter_map(|(at, column)| {
            let base = column.name.strip_suffix("_dt")?;
            let source = columns
                .iter()
                .position(|c| &*c.name == base && !c.list && matches!(c.kind, Kind::Int64))?;
            Some((at, source))
        })
        .collect();
    Group::new(columns, mirrors)
}

/// The Arrow fields of `columns`.
fn arrow_fields(columns: &[Column]) -> Fields {
    columns.iter().map(arrow_field).collect()
}

fn arrow_field(column: &Column) -> ArrowField {
    let item = item_type(&column.kind);
    let data_type = if column.list {
        DataType::List(Arc::new(ArrowField::new("element", item, true)))
    } else {
        item
    };
    ArrowField::new(&*column.name, data_type, true)
}

/// The Arrow type of one value of `kind`.
pub(crate) fn item_type(kind: &Kind) -> DataType {
    match kind {
        Kind::Boolean => DataType::Boolean,
        Kind::Int32 => DataType::Int32,
        Kind::Int64 => DataType::Int64,
        Kind::Float64 => DataType::Float64,
        Kind::Utf8 | Kind::Json | Kind::AnyObject => DataType::Utf8,
        Kind::DateTime => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        Kind::Struct(group) => DataType::Struct(arrow_fields(&group.columns)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(columns: &'a [Column], path: &[&str]) -> &'a Column {
        let (first, rest) = path.split_first().unwrap();
        let column = columns.iter().find(|c| &*c.name == *first).unwrap();
        match (rest.is_empty(), &column.kind) {
            (true, _) => column,
            (false, Kind::Struct(group)) => field(&group.columns, rest),
            _ => panic!("{first} is no struct"),
        }
    }

    #[test]
    fn api_activity_columns_follow_the_ocsf_types() {
        let table = OcsfTable::new("1.3.0", 6003).unwrap();
        let columns = &table.root.columns;
        assert!(columns.windows(2).all(|w| w[0].name < w[1].name), "sorted");
        assert!(matches!(field(columns, &["time"]).kind, Kind::Int64));
        let time = columns.iter().position(|c| &*c.name == "time").unwrap();
        let time_dt = columns.iter().position(|c| &*c.name == "time_dt").unwrap();
        assert!(matches!(field(columns, &["time_dt"]).kind, Kind::DateTime));
        assert!(table.root.mirrors.contains(&(time_dt, time)));
        assert!(matches!(field(columns, &["class_uid"]).kind, Kind::Int32));
        assert!(matches!(field(columns, &["type_uid"]).kind, Kind::Int64));
        assert!(matches!(
            field(columns, &["unmapped"]).kind,
            Kind::AnyObject
        ));
        assert!(matches!(
            field(columns, &["actor", "user", "name"]).kind,
            Kind::Utf8
        ));
        let resources = field(columns, &["resources"]);
        assert!(resources.list && matches!(resources.kind, Kind::Struct(_)));
        assert!(matches!(
            field(columns, &["metadata", "product", "feature", "name"]).kind,
            Kind::Utf8
        ));
        assert_eq!(
            columns[table.root.unmapped.unwrap()].name.as_ref(),
            "unmapped"
        );
        assert_eq!(table.arrow.fields().len(), columns.len());
        assert_eq!(
            table.arrow.field_with_name("time_dt").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        // Level 3 is the last struct level: `actor.process.parent_process` is a struct, its
        // object attributes (`user`, `file`, ...) have no column.
        let deep = field(columns, &["actor", "process", "parent_process"]);
        let Kind::Struct(group) = &deep.kind else {
            panic!("a struct");
        };
        assert!(
            group
                .columns
                .iter()
                .all(|f| !matches!(f.kind, Kind::Struct(_)))
        );
    }

    #[test]
    fn every_embedded_version_has_tables_of_a_bounded_size() {
        for version in ocsf::VERSIONS {
            for class_uid in [0, 3002, 6003] {
                let table = OcsfTable::new(version, class_uid).unwrap();
                let leaves = table.leaf_count();
                assert!(
                    (20..3500).contains(&leaves),
                    "{version} {class_uid}: {leaves}"
                );
                if *version == "1.3.0" && class_uid == 6003 {
                    assert_eq!(leaves, 1158);
                }
            }
        }
        assert_eq!(
            OcsfTable::new("1.3.0", 4242).unwrap_err(),
            TableError::UnknownClass {
                class_uid: 4242,
                version: "1.3.0"
            }
        );
    }

    /// The figures the README and [`MAX_OBJECT_DEPTH`] give, computed from the embedded
    /// schema: leaf columns of API Activity and Authentication at OCSF 1.3.0 when objects are
    /// cut at two, three (the cut) and four levels.
    #[test]
    fn the_depth_cut_and_its_column_counts_are_the_documented_ones() {
        let schema = ocsf::schema("1.3.0").unwrap();
        let leaves = |class_uid: i64, max_depth: usize| {
            let class = schema.class(class_uid).unwrap();
            leaf_count(&group(schema, &class.attributes, 1, max_depth).columns)
        };
        assert_eq!(MAX_OBJECT_DEPTH, 3);
        assert_eq!(
            [2, 3, 4].map(|depth| leaves(6003, depth)),
            [537, 1158, 2020],
            "API Activity"
        );
        assert_eq!(
            [2, 3, 4].map(|depth| leaves(3002, depth)),
            [853, 1789, 3130],
            "Authentication"
        );
        assert_eq!(
            OcsfTable::new("1.3.0", 6003).unwrap().leaf_count(),
            leaves(6003, MAX_OBJECT_DEPTH)
        );
    }
}
