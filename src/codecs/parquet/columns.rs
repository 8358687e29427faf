//! Arrow columns built straight from events (`vrl::value::Value`s), one row per event, without
//! a JSON round trip.
//!
//! Each builder mirrors one [`Column`] of the table. Absent attributes cost nothing: a builder
//! fills the rows it was not given with nulls only when it next gets a value, or when the row
//! group is finished, so an event touches only the columns it has. A column no row of a row
//! group used is never filled at all: it is finished as a shared all-null array
//! ([`NullArrays`]), one per type and length, so the hundreds of columns an OCSF class has and
//! an event lacks cost neither memory nor time per row. A row that fails (a value of the wrong
//! type) is taken back by truncating every builder to the rows before it, so a rejected event
//! leaves no trace in the row group.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{
    ArrayRef, BooleanArray, ListArray, PrimitiveArray, StringArray, StructArray, new_null_array,
};
use arrow_buffer::{
    BooleanBufferBuilder, Buffer, NullBuffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer,
};
use arrow_schema::{DataType, Field};
use vrl::value::{ObjectMap, Value};

use super::schema::{Column, Group, Kind, item_type};
use crate::ocsf::derive::as_integer;

/// Where a value is in its event, built only when it is needed (an error, or an attribute for
/// `unmapped`): each level of the walk is a link on the stack.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    /// The event itself.
    Root,
    /// An attribute of the object at `parent`.
    Key(&'a Path<'a>, &'a str),
    /// An element of the array at `parent`.
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => Ok(()),
            Self::Key(Self::Root, key) => f.write_str(key),
            Self::Key(parent, key) => write!(f, "{parent}.{key}"),
            Self::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// A value whose type does not fit its column.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{path}: expected {expected}, got {got}")]
pub(crate) struct TypeError {
    /// Where the value is (`actor.user.type_id`, `resources[1].name`).
    pub(crate) path: String,
    /// What the column holds.
    pub(crate) expected: &'static str,
    /// What the value is.
    pub(crate) got: &'static str,
}

/// What a walk collects besides the columns: the size of what was written and the attributes
/// that have no column (for `unmapped`).
#[derive(Default)]
pub(crate) struct RowContext<'v> {
    /// Estimated bytes of column data written (what a row group's size is measured in).
    pub(crate) bytes: usize,
    /// Bytes every row of the row group takes in the builders this row used first (see
    /// [`Column::row_bytes`]): once a column has a value, each row has a value or a null in
    /// it.
    pub(crate) newly_used: usize,
    /// Attributes without a column, by path.
    pub(crate) unmapped: Vec<(String, &'v Value)>,
    /// The event's own `unmapped` object.
    pub(crate) own_unmapped: Option<&'v ObjectMap>,
}

/// How a row group uses a leaf column (what its column chunk holds), in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum LeafUse {
    /// Its top-level column has no value: every level is 0, one run of a few bytes.
    Unused = 0,
    /// No value, but its top-level column has some: definition and repetition levels that
    /// vary from row to row (every field of a list's elements, for one).
    Levels = 1,
    /// Values.
    Values = 2,
}

/// Validity plus the length of one builder, the part every kind shares. The length is kept
/// here too: it is read for every value written, and `NullBufferBuilder::len` is a call into
/// another crate that is not inlined.
#[derive(Debug)]
struct Nulls {
    validity: NullBufferBuilder,
    len: usize,
}

impl Nulls {
    fn new() -> Self {
        Self {
            validity: NullBufferBuilder::new(0),
            len: 0,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    fn append_non_null(&mut self) {
        self.validity.append_non_null();
        self.len += 1;
    }

    fn append_n_nulls(&mut self, n: usize) {
        self.validity.append_n_nulls(n);
        self.len += n;
    }

    fn truncate(&mut self, len: usize) {
        self.validity.truncate(len);
        self.len = self.len.min(len);
    }

    /// The validity of the rows so far; starts anew.
    fn finish(&mut self) -> Option<NullBuffer> {
        self.len = 0;
        self.validity.finish()
    }
}

/// The values of one column (or of the elements of a list column).
#[derive(Debug)]
enum Values {
    Boolean(BooleanBufferBuilder),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float64(Vec<f64>),
    /// `Utf8`, `Json`, `AnyObject`: text, and where each row's text ends.
    Text {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
    /// `DateTime`: epoch milliseconds.
    Millis(Vec<i64>),
    Struct(Vec<Builder>),
}

/// The builder of one column of a row group.
#[derive(Debug)]
pub(crate) struct Builder {
    /// Validity of each row (of each element, for a list column's items).
    nulls: Nulls,
    values: Values,
    /// For a list column: each row's end in `values`, and each row's validity.
    list: Option<(Vec<i32>, Nulls)>,
    /// What each row of the row group costs this builder once it holds a value
    /// ([`Column::row_bytes`]).
    row_bytes: usize,
}

impl Builder {
    /// An empty builder for `column`.
    pub(crate) fn new(column: &Column) -> Self {
        let values = match &column.kind {
            Kind::Boolean => Values::Boolean(BooleanBufferBuilder::new(0)),
            Kind::Int32 => Values::Int32(Vec::new()),
            Kind::Int64 => Values::Int64(Vec::new()),
            Kind::Float64 => Values::Float64(Vec::new()),
            Kind::Utf8 | Kind::Json | Kind::AnyObject => Values::Text {
                offsets: vec![0],
                data: Vec::new(),
            },
            Kind::DateTime => Values::Millis(Vec::new()),
            Kind::Struct(group) => Values::Struct(group.columns.iter().map(Builder::new).collect()),
        };
        Self {
            nulls: Nulls::new(),
            values,
            list: column.list.then(|| (vec![0], Nulls::new())),
            row_bytes: column.row_bytes(),
        }
    }

    /// Counts the builder in [`RowContext::newly_used`] when it is about to take its first
    /// value of the row group.
    fn note_use(&self, cx: &mut RowContext<'_>) {
        if self.rows() == 0 {
            cx.newly_used += self.row_bytes;
        }
    }

    /// Rows so far (the index of the next row).
    fn rows(&self) -> usize {
        match &self.list {
            Some((_, nulls)) => nulls.len(),
            None => self.nulls.len(),
        }
    }

    /// Writes `value` as row `row` of `column`; skipped rows before it become null.
    pub(crate) fn put<'v>(
        &mut self,
        column: &Column,
        row: usize,
        value: &'v Value,
        path: Path<'_>,
        cx: &mut RowContext<'v>,
    ) -> Result<(), TypeError> {
        if matches!(value, Value::Null) {
            return Ok(());
        }
        self.note_use(cx);
        if self.list.is_none() {
            self.pad_items(row);
            return self.item(column, value, path, cx);
        }
        let Value::Array(items) = value else {
            return Err(type_error(path, "an array", value));
        };
        self.pad_rows(row);
        let Some((offsets, nulls)) = self.list.as_mut() else {
            return Ok(());
        };
        let start = offsets.last().copied().unwrap_or(0) as usize;
        nulls.append_non_null();
        offsets.push((start + items.len()) as i32);
        cx.bytes += 4;
        for (index, item) in items.iter().enumerate() {
            if matches!(item, Value::Null) {
                continue;
            }
            self.pad_items(start + index);
            self.item(column, item, Path::Index(&path, index), cx)?;
        }
        Ok(())
    }

    /// Fills list rows before `row` with nulls.
    fn pad_rows(&mut self, row: usize) {
        if let Some((offsets, nulls)) = self.list.as_mut() {
            let missing = row.saturating_sub(nulls.len());
            if missing > 0 {
                let end = offsets.last().copied().unwrap_or(0);
                offsets.extend(std::iter::repeat_n(end, missing));
                nulls.append_n_nulls(missing);
            }
        }
    }

    /// Fills item slots before `index` with nulls.
    fn pad_items(&mut self, index: usize) {
        let missing = index.saturating_sub(self.nulls.len());
        if missing == 0 {
            return;
        }
        self.nulls.append_n_nulls(missing);
        match &mut self.values {
            Values::Boolean(values) => values.append_n(missing, false),
            Values::Int32(values) => values.resize(values.len() + missing, 0),
            Values::Int64(values) | Values::Millis(values) => {
                values.resize(values.len() + missing, 0);
            }
            Values::Float64(values) => values.resize(values.len() + missing, 0.0),
            Values::Text { offsets, data } => {
                let end = data.len() as i32;
                offsets.extend(std::iter::repeat_n(end, missing));
            }
            // Fields are padded when they next get a value, or at the end.
            Values::Struct(_) => {}
        }
    }

    /// Appends one value (a row, or a list element) at the end of the items.
    fn item<'v>(
        &mut self,
        column: &Column,
        value: &'v Value,
        path: Path<'_>,
        cx: &mut RowContext<'v>,
    ) -> Result<(), TypeError> {
        match (&mut self.values, &column.kind) {
            (Values::Boolean(values), _) => match value {
                Value::Boolean(flag) => values.append(*flag),
                _ => return Err(type_error(path, "a boolean", value)),
            },
            (Values::Int32(values), _) => {
                let number =
                    as_integer(value).ok_or_else(|| type_error(path, "an integer", value))?;
                let number = i32::try_from(number).map_err(|_| TypeError {
                    path: path.to_string(),
                    expected: "a 32-bit integer",
                    got: "an integer out of its range",
                })?;
                values.push(number);
            }
            (Values::Int64(values), _) => {
                values
                    .push(as_integer(value).ok_or_else(|| type_error(path, "an integer", value))?);
            }
            (Values::Float64(values), _) => match value {
                Value::Float(number) => values.push(number.into_inner()),
                Value::Integer(number) => values.push(*number as f64),
                _ => return Err(type_error(path, "a number", value)),
            },
            (Values::Text { offsets, data }, kind) => {
                let start = data.len();
                write_text(kind, value, data)
                    .map_err(|expected| type_error(path, expected, value))?;
                cx.bytes += data.len() - start;
                offsets.push(data.len() as i32);
            }
            (Values::Millis(values), _) => {
                values.push(
                    datetime_millis(value)
                        .ok_or_else(|| type_error(path, "an RFC 3339 date-time string", value))?,
                );
            }
            (Values::Struct(fields), Kind::Struct(group)) => {
                let Value::Object(map) = value else {
                    return Err(type_error(path, "an object", value));
                };
                let row = self.nulls.len();
                // Valid from here on; a failure truncates the row away.
                self.nulls.append_non_null();
                return put_fields(fields, group, row, map, path, cx);
            }
            (Values::Struct(_), _) => return Err(type_error(path, "an object", value)),
        }
        self.nulls.append_non_null();
        cx.bytes += 8;
        Ok(())
    }

    /// The value of row `row` of a (non-list) `Int64` column, when this row wrote one.
    fn int64_at(&self, row: usize) -> Option<i64> {
        match &self.values {
            // Item `row` exists only once a value was written to it (nulls are padded up to
            // a row, never at it).
            Values::Int64(values) if self.list.is_none() && self.nulls.len() > row => {
                values.get(row).copied()
            }
            _ => None,
        }
    }

    /// Appends, for each Parquet leaf column under this top-level column's builder (in schema
    /// order), how the row group uses it. Call before [`Builder::finish`], which pads.
    pub(crate) fn leaf_uses(&self, out: &mut Vec<LeafUse>) {
        let column_used = self.rows() > 0;
        self.push_leaf_uses(column_used, out);
    }

    fn push_leaf_uses(&self, column_used: bool, out: &mut Vec<LeafUse>) {
        match &self.values {
            Values::Struct(fields) => {
                (fields.iter()).for_each(|field| field.push_leaf_uses(column_used, out))
            }
            // Items are appended (with the nulls before them) only for a value.
            _ if self.nulls.len() > 0 => out.push(LeafUse::Values),
            _ if column_used => out.push(LeafUse::Levels),
            _ => out.push(LeafUse::Unused),
        }
    }

    /// Takes back every row from `rows` on (list columns: rows; others: items).
    pub(crate) fn truncate(&mut self, rows: usize) {
        let items = match self.list.as_mut() {
            Some((offsets, nulls)) => {
                if nulls.len() <= rows {
                    return;
                }
                offsets.truncate(rows + 1);
                nulls.truncate(rows);
                offsets[rows] as usize
            }
            None => rows,
        };
        if self.nulls.len() <= items {
            // Struct fields may still hold values of a failed row even when the struct's
            // own validity was not appended yet.
            if let Values::Struct(fields) = &mut self.values {
                fields.iter_mut().for_each(|field| field.truncate(items));
            }
            return;
        }
        self.nulls.truncate(items);
        match &mut self.values {
            Values::Boolean(values) => values.truncate(items),
            Values::Int32(values) => values.truncate(items),
            Values::Int64(values) | Values::Millis(values) => values.truncate(items),
            Values::Float64(values) => values.truncate(items),
            Values::Text { offsets, data } => {
                offsets.truncate(items + 1);
                data.truncate(offsets[items] as usize);
            }
            Values::Struct(fields) => fields.iter_mut().for_each(|field| field.truncate(items)),
        }
    }

    /// Finishes the column at `rows` rows (missing ones null) and starts it anew. A column
    /// without a value in the row group is an array of `shared`.
    pub(crate) fn finish(
        &mut self,
        column: &Column,
        rows: usize,
        shared: &mut NullArrays,
    ) -> ArrayRef {
        let data_type = item_type(&column.kind);
        if self.rows() == 0 {
            let full = match column.list {
                true => DataType::List(Arc::new(Field::new("element", data_type, true))),
                false => data_type,
            };
            return shared.get(&full, rows);
        }
        if self.list.is_none() {
            return self.finish_items(column, rows, data_type, shared);
        }
        self.pad_rows(rows);
        let Some((offsets, nulls)) = self.list.as_mut() else {
            return new_null_array(&data_type, rows);
        };
        let offsets = std::mem::replace(offsets, vec![0]);
        let nulls = nulls.finish();
        let items = offsets.last().copied().unwrap_or(0) as usize;
        let field = Arc::new(Field::new("element", data_type.clone(), true));
        let values = self.finish_items(column, items, data_type, shared);
        Arc::new(ListArray::new(
            field,
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            values,
            nulls,
        ))
    }

    /// Finishes the items at `len` (padding them) as one array.
    fn finish_items(
        &mut self,
        column: &Column,
        len: usize,
        data_type: DataType,
        shared: &mut NullArrays,
    ) -> ArrayRef {
        self.pad_items(len);
        let nulls = self.nulls.finish();
        match (&mut self.values, &column.kind) {
            (Values::Boolean(values), _) => Arc::new(BooleanArray::new(values.finish(), nulls)),
            (Values::Int32(values), _) => Arc::new(PrimitiveArray::<Int32Type>::new(
                ScalarBuffer::from(std::mem::take(values)),
                nulls,
            )),
            (Values::Int64(values), _) => Arc::new(PrimitiveArray::<Int64Type>::new(
                ScalarBuffer::from(std::mem::take(values)),
                nulls,
            )),
            (Values::Millis(values), _) => Arc::new(
                PrimitiveArray::<TimestampMillisecondType>::new(
                    ScalarBuffer::from(std::mem::take(values)),
                    nulls,
                )
                .with_timezone("UTC"),
            ),
            (Values::Float64(values), _) => Arc::new(PrimitiveArray::<Float64Type>::new(
                ScalarBuffer::from(std::mem::take(values)),
                nulls,
            )),
            (Values::Text { offsets, data }, _) => {
                let offsets = std::mem::replace(offsets, vec![0]);
                let data = Buffer::from(std::mem::take(data));
                // The text is valid UTF-8 by construction (strings are written lossily).
                Arc::new(StringArray::new(
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    data,
                    nulls,
                ))
            }
            (Values::Struct(fields), Kind::Struct(group)) => {
                let arrays = fields
                    .iter_mut()
                    .zip(&group.columns)
                    .map(|(field, column)| field.finish(column, len, shared))
                    .collect();
                let DataType::Struct(arrow_fields) = data_type else {
                    return new_null_array(&data_type, len);
                };
                Arc::new(StructArray::new(arrow_fields, arrays, nulls))
            }
            (Values::Struct(_), _) => new_null_array(&data_type, len),
        }
    }
}

/// All-null arrays of a row group, one per type and length, shared by every column that had
/// no value in it: a class has about a thousand leaf columns and an event uses a few dozen,
/// so building a null array for each would cost more memory than the row group's values.
/// A struct's fields are shared the same way.
#[derive(Debug, Default)]
pub(crate) struct NullArrays(HashMap<(DataType, usize), ArrayRef>);

impl NullArrays {
    /// An all-null array of `data_type` with `len` rows.
    pub(crate) fn get(&mut self, data_type: &DataType, len: usize) -> ArrayRef {
        let key = (data_type.clone(), len);
        if let Some(array) = self.0.get(&key) {
            return Arc::clone(array);
        }
        let array = match data_type {
            DataType::Struct(fields) => {
                let children = fields
                    .iter()
                    .map(|field| self.get(field.data_type(), len))
                    .collect();
                Arc::new(StructArray::new(
                    fields.clone(),
                    children,
                    Some(NullBuffer::new_null(len)),
                ))
            }
            // Lists hold no items when null; the other types are flat.
            _ => new_null_array(data_type, len),
        };
        self.0.insert(key, Arc::clone(&array));
        array
    }
}

/// Writes the attributes of `map` into the group's field builders at `row`, each found by
/// name ([`Group::position`]). Keys without a column go to
/// [`RowContext::unmapped`]; the event's own `unmapped` is kept aside in
/// [`RowContext::own_unmapped`].
pub(crate) fn put_fields<'v>(
    fields: &mut [Builder],
    group: &Group,
    row: usize,
    map: &'v ObjectMap,
    path: Path<'_>,
    cx: &mut RowContext<'v>,
) -> Result<(), TypeError> {
    let columns = &group.columns;
    for (key, value) in map {
        let key = key.as_str();
        if let Some(at) = group.position(key) {
            if group.unmapped == Some(at) {
                match value {
                    Value::Object(own) => cx.own_unmapped = Some(own),
                    Value::Null => {}
                    _ => return Err(type_error(Path::Key(&path, key), "an object", value)),
                }
                continue;
            }
            fields[at].put(&columns[at], row, value, Path::Key(&path, key), cx)?;
        } else if !matches!(value, Value::Null) {
            cx.unmapped.push((Path::Key(&path, key).to_string(), value));
        }
    }
    // `time_dt` from `time` when the event has only the latter: the value just written to
    // `time`'s column (a search of the event for it costs several string comparisons).
    for &(datetime, source) in &group.mirrors {
        if fields[datetime].nulls.len() > row {
            continue;
        }
        let Some(millis) = fields[source].int64_at(row) else {
            continue;
        };
        let builder = &mut fields[datetime];
        builder.note_use(cx);
        builder.pad_items(row);
        if let Values::Millis(values) = &mut builder.values {
            values.push(millis);
            builder.nulls.append_non_null();
            cx.bytes += 8;
        }
    }
    Ok(())
}

/// Writes the `unmapped` column of `row`: the event's own `unmapped` object with the attributes
/// that have no column added, each under its path (`tenant`, `actor.user.team`,
/// `resources[0].tag`). An attribute whose path the event's `unmapped` already has as a key is
/// added under the path with a leading dot (`.tenant`), so nothing is overwritten.
pub(crate) fn put_unmapped(builder: &mut Builder, row: usize, cx: &mut RowContext<'_>) {
    if cx.unmapped.is_empty() && cx.own_unmapped.is_none() {
        return;
    }
    builder.note_use(cx);
    builder.pad_items(row);
    let Values::Text { offsets, data } = &mut builder.values else {
        return;
    };
    let start = data.len();
    data.push(b'{');
    let mut first = true;
    let mut entry = |key: &str, value: &Value, data: &mut Vec<u8>| {
        if !first {
            data.push(b',');
        }
        first = false;
        crate::codecs::json::write_str(key, data);
        data.push(b':');
        crate::codecs::json::write_compact(value, data);
    };
    for (key, value) in cx.own_unmapped.into_iter().flatten() {
        entry(key.as_str(), value, data);
    }
    for (path, value) in &cx.unmapped {
        let taken = cx
            .own_unmapped
            .is_some_and(|own| own.contains_key(path.as_str()));
        if taken {
            entry(&format!(".{path}"), value, data);
        } else {
            entry(path, value, data);
        }
    }
    data.push(b'}');
    cx.bytes += data.len() - start;
    offsets.push(data.len() as i32);
    builder.nulls.append_non_null();
}

/// Writes `value` as the text `kind` holds; the error names what was expected.
fn write_text(kind: &Kind, value: &Value, out: &mut Vec<u8>) -> Result<(), &'static str> {
    match (kind, value) {
        (Kind::Json, _) | (Kind::AnyObject, Value::Object(_)) => {
            crate::codecs::json::write_compact(value, out);
        }
        (Kind::AnyObject, _) => return Err("an object"),
        (_, Value::Bytes(bytes)) => match std::str::from_utf8(bytes) {
            Ok(text) => out.extend_from_slice(text.as_bytes()),
            Err(_) => out.extend_from_slice(String::from_utf8_lossy(bytes).as_bytes()),
        },
        (_, Value::String(text)) => out.extend_from_slice(text.as_bytes()),
        (_, Value::Timestamp(time)) => out.extend_from_slice(
            time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                .as_bytes(),
        ),
        _ => return Err("a string"),
    }
    Ok(())
}

/// Epoch milliseconds of a `datetime_t` value: a timestamp, or an RFC 3339 string.
fn datetime_millis(value: &Value) -> Option<i64> {
    match value {
        Value::Timestamp(time) => Some(time.timestamp_millis()),
        Value::Bytes(_) | Value::String(_) => {
            let text = crate::ocsf::str_value(value)?;
            chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|time| time.timestamp_millis())
        }
        _ => None,
    }
}

fn type_error(path: Path<'_>, expected: &'static str, value: &Value) -> TypeError {
    TypeError {
        path: path.to_string(),
        expected,
        got: describe(value),
    }
}

/// A value's kind, for messages.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Bytes(_) | Value::String(_) | Value::Regex(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Timestamp(_) => "a timestamp",
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::Null => "null",
    }
}
