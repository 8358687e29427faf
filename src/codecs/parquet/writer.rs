//! One Parquet object being written: rows are collected into a row group, which is sorted by
//! `time` and encoded once it reaches the row-group size; the encoded bytes can be taken as
//! they accumulate (multipart parts), so memory holds one row group and at most one part.
//! A row group is encoded column by column, each column's builder memory freed once its
//! chunk is in the output, so encoding adds one column's pages to the row group, not a copy
//! of it.
//!
//! Every row of an object is in `time` order: a row group is sorted before it is written, and an
//! event older than a row group already written cannot join the object
//! ([`ParquetObject::accepts`]): the sink seals the object and starts another. Events that
//! arrive in order (the ConductorOne API's, a backfill's) never split an object this way.
//!
//! With zstd, only the columns that hold values are compressed with it. A class has about a
//! thousand leaf columns and an event uses a few dozen, so most column chunks are all null:
//! only definition and repetition levels, for which the Parquet writer would set up a zstd
//! context each (two `CPUID` instructions, which trap on a virtual machine: 5% of the
//! `aws_security_lake` benchmark's CPU). Chunks whose levels vary (the fields of a list's
//! elements: stored uncompressed, they made the benchmark's objects 10% larger) use Snappy,
//! which has no such set-up; chunks of a column whose top-level column has no value hold one
//! run of levels, a few bytes, and are stored uncompressed (a Snappy encoder for each of them,
//! created with the row group's column writers, cost 5 MiB of peak memory). An object's file
//! is therefore started with its first row group, each column's codec chosen from how that
//! row group, or any earlier one of the same format, used it ([`LeafUse`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use arrow_array::{Array, UInt32Array};
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, compute_leaves};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use vrl::value::Value;

use super::columns::{
    Builder, LeafUse, NullArrays, Path, RowContext, TypeError, put_fields, put_unmapped,
};
use super::schema::OcsfTable;
use super::{ParquetCompression, RowError};
use crate::ocsf::derive::as_integer;

/// How objects are written: the table, the encoder's settings, and the row-group size.
#[derive(Debug)]
pub(crate) struct ParquetFormat {
    table: OcsfTable,
    properties: WriterProperties,
    row_group_bytes: usize,
    /// Whether pages are zstd-compressed (columns without values then use Snappy or none).
    zstd: bool,
    /// Each leaf column's path, in the file's column order.
    leaf_paths: Vec<ColumnPath>,
    /// The most any row group of this format used each leaf column so far (a [`LeafUse`]):
    /// what the objects started from now on compress it with.
    leaf_uses: Vec<AtomicU8>,
}

impl ParquetFormat {
    /// Objects of `table`, compressed with `compression`, with row groups of about
    /// `row_group_bytes` of column builder memory (before encoding and compression).
    pub(crate) fn new(
        table: OcsfTable,
        compression: ParquetCompression,
        row_group_bytes: usize,
    ) -> Self {
        let compression = match compression {
            ParquetCompression::Zstd => {
                Compression::ZSTD(ZstdLevel::try_new(super::PARQUET_ZSTD_LEVEL).unwrap_or_default())
            }
            ParquetCompression::Snappy => Compression::SNAPPY,
            ParquetCompression::None => Compression::UNCOMPRESSED,
        };
        let properties = WriterProperties::builder()
            .set_compression(compression)
            .set_writer_version(WriterVersion::PARQUET_1_0)
            // Security Lake asks for data pages of at most 1 MB uncompressed.
            .set_data_page_size_limit(1024 * 1024)
            // Row groups are cut here, by size, after sorting (see `ParquetObject::push`).
            .set_max_row_group_row_count(None)
            // No dictionary pages: with zstd they made objects no smaller on the benchmark
            // workload (5.5 MB largest object with, 5.3 MB without) and cost memory and CPU
            // for each of a class's ~1,000 mostly-null columns (peak RSS 376 -> 249 MiB, CPU
            // 1.61x -> 1.37x aws_s3 gzip NDJSON; bench/README.md).
            .set_dictionary_enabled(false)
            .set_created_by(format!("c1-pipeline {}", env!("CARGO_PKG_VERSION")))
            .build();
        // The converter is the one the Arrow writer uses, so the paths are the file's.
        let leaf_paths: Vec<ColumnPath> = match ArrowSchemaConverter::new().convert(&table.arrow) {
            Ok(schema) => schema.columns().iter().map(|c| c.path().clone()).collect(),
            // The writer reports the error when the first object is started.
            Err(_) => Vec::new(),
        };
        Self {
            leaf_uses: leaf_paths.iter().map(|_| AtomicU8::new(0)).collect(),
            leaf_paths,
            zstd: matches!(compression, Compression::ZSTD(_)),
            table,
            properties,
            row_group_bytes: row_group_bytes.max(1),
        }
    }

    /// Notes how a row group used each leaf column (`uses`, in the file's column order).
    fn remember_leaf_uses(&self, uses: &[LeafUse]) {
        if uses.len() != self.leaf_uses.len() {
            return;
        }
        for (most, used) in self.leaf_uses.iter().zip(uses) {
            most.fetch_max(*used as u8, Ordering::Relaxed);
        }
    }

    /// The writer settings of a new object: with zstd, the codec of each column chosen from
    /// how row groups used it so far (see the module's documentation).
    fn object_properties(&self) -> WriterProperties {
        if !self.zstd {
            return self.properties.clone();
        }
        let columns = self.leaf_paths.iter().zip(&self.leaf_uses);
        let builder = self.properties.clone().into_builder();
        columns
            .fold(builder, |builder, (path, used)| {
                let codec = match used.load(Ordering::Relaxed) {
                    most if most == LeafUse::Unused as u8 => Compression::UNCOMPRESSED,
                    most if most == LeafUse::Levels as u8 => Compression::SNAPPY,
                    _ => return builder,
                };
                builder.set_column_compression(path.clone(), codec)
            })
            .build()
    }

    /// The row-group size (see [`ParquetFormat::new`]).
    pub(crate) fn row_group_bytes(&self) -> usize {
        self.row_group_bytes
    }

    /// The `time` (epoch milliseconds) of an event that fits the table: an object of the
    /// table's class (any class for `base_event`) with an integer `time`.
    pub(crate) fn event_time(&self, event: &Value) -> Result<i64, RowError> {
        let Value::Object(map) = event else {
            return Err(RowError::NotAnObject);
        };
        let class_uid = map.get("class_uid").and_then(as_integer);
        if self.table.class_uid != 0 && class_uid != Some(self.table.class_uid) {
            return Err(RowError::WrongClass {
                class_uid,
                expected: self.table.class_uid,
            });
        }
        map.get("time").and_then(as_integer).ok_or(RowError::NoTime)
    }
}

/// The rows of the row group being collected.
struct RowGroup {
    builders: Vec<Builder>,
    times: Vec<i64>,
    /// Bytes of the values written (text, numbers, list offsets).
    bytes: usize,
    /// What each row costs the builders of the columns the row group uses, a value or a null
    /// (the sum of their `Column::row_bytes`).
    used_row_bytes: usize,
}

impl RowGroup {
    /// Estimated column builder memory: the values, and a value or null in every used column
    /// for every row. Columns no row used cost nothing (they become shared null arrays).
    fn size(&self) -> usize {
        self.bytes + self.times.len() * self.used_row_bytes
    }
}

/// The file of an object: started with its first row group.
struct ParquetFile {
    writer: SerializedFileWriter<Vec<u8>>,
    /// The Arrow-to-Parquet column writers of each row group.
    columns: ArrowRowGroupWriterFactory,
}

impl ParquetFile {
    fn new(format: &ParquetFormat) -> Result<Self, ParquetError> {
        // The Arrow writer sets the file up (schema, the Arrow schema in the metadata); row
        // groups are then written column by column (`write_row_group`).
        let (writer, columns) = ArrowWriter::try_new(
            Vec::new(),
            Arc::clone(&format.table.arrow),
            Some(format.object_properties()),
        )?
        .into_serialized_writer()?;
        Ok(Self { writer, columns })
    }
}

/// A Parquet object being written.
pub(crate) struct ParquetObject {
    format: Arc<ParquetFormat>,
    /// `None` until the first row group is written.
    file: Option<ParquetFile>,
    group: RowGroup,
    /// The latest `time` in the row groups written so far.
    written_until: Option<i64>,
    /// Encoded bytes already taken out (parts).
    taken: usize,
    /// Column-data bytes of the row groups written so far, and what they encoded to: the
    /// ratio estimates what the open row group will add to the object.
    encoded_from: usize,
}

impl ParquetObject {
    /// A new, empty object.
    pub(crate) fn new(format: &Arc<ParquetFormat>) -> Self {
        Self {
            format: Arc::clone(format),
            file: None,
            group: RowGroup {
                builders: format.table.root.columns.iter().map(Builder::new).collect(),
                times: Vec::new(),
                bytes: 0,
                used_row_bytes: 0,
            },
            written_until: None,
            taken: 0,
            encoded_from: 0,
        }
    }

    /// Whether an event at `time` can join the object without breaking its `time` order.
    pub(crate) fn accepts(&self, time: i64) -> bool {
        self.written_until.is_none_or(|until| time >= until)
    }

    /// Adds `event` (whose `time` is `time`, see [`ParquetFormat::event_time`]) as a row,
    /// writing the row group once it is full. A value of the wrong type rejects the event and
    /// leaves the object as it was.
    pub(crate) fn push(&mut self, event: &Value, time: i64) -> Result<(), PushError> {
        if !self.accepts(time) {
            return Err(PushError::OutOfOrder);
        }
        let Value::Object(map) = event else {
            return Err(PushError::Row(RowError::NotAnObject));
        };
        let row = self.group.times.len();
        let root = &self.format.table.root;
        let mut cx = RowContext::default();
        let result = put_fields(
            &mut self.group.builders,
            root,
            row,
            map,
            Path::Root,
            &mut cx,
        );
        if let Err(error) = result {
            for builder in &mut self.group.builders {
                builder.truncate(row);
            }
            return Err(PushError::Row(RowError::Type(error)));
        }
        if let Some(unmapped) = root.unmapped {
            put_unmapped(&mut self.group.builders[unmapped], row, &mut cx);
        }
        self.group.times.push(time);
        self.group.bytes += cx.bytes;
        self.group.used_row_bytes += cx.newly_used;
        if self.group.size() >= self.format.row_group_bytes {
            self.write_row_group()?;
        }
        Ok(())
    }

    /// Sorts the open row group by `time` and encodes it into the object, column by column.
    fn write_row_group(&mut self) -> Result<(), ParquetError> {
        let rows = self.group.times.len();
        if rows == 0 {
            return Ok(());
        }
        let size = self.group.size();
        let times = std::mem::take(&mut self.group.times);
        // A stable sort: events of the same millisecond keep their arrival order.
        let order = (!times.is_sorted()).then(|| {
            let mut order: Vec<u32> = (0..rows as u32).collect();
            order.sort_by_key(|&row| times[row as usize]);
            UInt32Array::from(order)
        });
        let mut uses = Vec::with_capacity(self.format.leaf_paths.len());
        for builder in &self.group.builders {
            builder.leaf_uses(&mut uses);
        }
        self.format.remember_leaf_uses(&uses);
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(ParquetFile::new(&self.format)?),
        };
        let mut nulls = NullArrays::default();
        let index = file.writer.flushed_row_groups().len();
        let mut leaf_writers = file.columns.create_column_writers(index)?.into_iter();
        let mut row_group = file.writer.next_row_group()?;
        let table = &self.format.table;
        let builders = self.group.builders.iter_mut().zip(&table.root.columns);
        for ((builder, column), field) in builders.zip(table.arrow.fields()) {
            let mut array = builder.finish(column, rows, &mut nulls);
            if let Some(order) = &order
                && array.null_count() != array.len()
            {
                // An all-null column (most of them) reads the same in any order.
                array = arrow_select::take::take(&array, order, None)?;
            }
            for leaf in compute_leaves(field, &array)? {
                let mut writer = leaf_writers.next().ok_or_else(|| {
                    ParquetError::General("fewer column writers than leaf columns".into())
                })?;
                writer.write(&leaf)?;
                writer.close()?.append_to_row_group(&mut row_group)?;
            }
        }
        row_group.close()?;
        file.writer.flush()?;
        let latest = times.iter().copied().max();
        self.written_until = self.written_until.max(latest);
        self.encoded_from += size;
        self.group.bytes = 0;
        self.group.used_row_bytes = 0;
        Ok(())
    }

    /// Estimated memory of the open row group's columns (what `row_group_bytes` limits).
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.group.size()
    }

    /// Writes the open row group now, before it is full (to bound the memory of several
    /// open objects together).
    pub(crate) fn write_buffered(&mut self) -> Result<(), ParquetError> {
        self.write_row_group()
    }

    /// Encoded bytes ready to be taken (the next part of the object).
    pub(crate) fn pending_output(&mut self) -> usize {
        self.file
            .as_mut()
            .map_or(0, |file| file.writer.inner_mut().len())
    }

    /// Takes the encoded bytes so far.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        let output = (self.file.as_mut())
            .map(|file| std::mem::take(file.writer.inner_mut()))
            .unwrap_or_default();
        self.taken += output.len();
        output
    }

    /// The object's estimated size in Parquet bytes: what was encoded, plus the open row
    /// group at the compression ratio of those before it (1:1 for the first).
    pub(crate) fn estimated_size(&self) -> usize {
        let encoded = self
            .file
            .as_ref()
            .map_or(0, |file| file.writer.bytes_written());
        let open = self.group.size();
        let open = if self.encoded_from == 0 {
            open
        } else {
            (open as f64 * encoded as f64 / self.encoded_from as f64) as usize
        };
        encoded + open
    }

    /// Writes the open row group and the footer; returns the bytes not yet taken.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, ParquetError> {
        self.write_row_group()?;
        match self.file {
            Some(file) => file.writer.into_inner(),
            // No row: a file with the schema and no row group.
            None => ParquetFile::new(&self.format)?.writer.into_inner(),
        }
    }
}

/// Why [`ParquetObject::push`] failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PushError {
    /// The event cannot be a row (it is rejected; the object is unchanged).
    #[error(transparent)]
    Row(RowError),
    /// The event is older than a row group already written: it needs another object.
    #[error("the event is older than the rows already written to the object")]
    OutOfOrder,
    /// Encoding a row group failed (the object is unusable).
    #[error("writing a Parquet row group failed: {0}")]
    Write(#[from] ParquetError),
}

impl From<TypeError> for RowError {
    fn from(error: TypeError) -> Self {
        Self::Type(error)
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type, TimestampMillisecondType};
    use arrow_array::{Array, RecordBatch, StructArray};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn event(json: &str) -> Value {
        serde_json::from_str(json).expect("valid JSON")
    }

    fn format(row_group_bytes: usize) -> Arc<ParquetFormat> {
        let table = OcsfTable::new("1.3.0", 6003).unwrap();
        Arc::new(ParquetFormat::new(
            table,
            ParquetCompression::Zstd,
            row_group_bytes,
        ))
    }

    fn api_event(time: i64, name: &str) -> String {
        format!(
            r#"{{"class_uid": 6003, "activity_id": 1, "time": {time}, "type_uid": 600301,
               "actor": {{"user": {{"name": "{name}", "type_id": 1}}}},
               "resources": [{{"uid": "r1"}}, {{"uid": "r2", "name": "two"}}],
               "metadata": {{"uid": "u-{time}", "version": "1.3.0"}}}}"#
        )
    }

    fn push(object: &mut ParquetObject, format: &ParquetFormat, json: &str) {
        let value = event(json);
        let time = format.event_time(&value).expect("an event of the class");
        object.push(&value, time).expect("a row");
    }

    fn read(bytes: Vec<u8>) -> (RecordBatch, usize) {
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
        let groups = builder.metadata().num_row_groups();
        let schema = builder.schema().clone();
        let batches: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
        (
            arrow_select::concat::concat_batches(&schema, &batches).unwrap(),
            groups,
        )
    }

    fn column<'a>(batch: &'a RecordBatch, path: &[&str]) -> &'a dyn Array {
        let mut array: &dyn Array = batch.column_by_name(path[0]).unwrap().as_ref();
        for name in &path[1..] {
            let parent: &StructArray = array.as_struct();
            array = parent.column_by_name(name).unwrap().as_ref();
        }
        array
    }

    #[test]
    fn rows_are_sorted_typed_nested_and_unmapped_keeps_the_rest() {
        let format = format(1 << 20);
        let mut object = ParquetObject::new(&format);
        push(&mut object, &format, &api_event(3000, "carol"));
        push(&mut object, &format, &api_event(1000, "alice"));
        let with_extra =
            api_event(2000, "bob").replacen("{", r#"{"tenant": "acme", "unmapped": {"k": 1}, "#, 1);
        push(&mut object, &format, &with_extra);
        let (batch, _) = read(object.finish().unwrap());
        assert_eq!(batch.num_rows(), 3);
        let times = column(&batch, &["time"]).as_primitive::<Int64Type>();
        assert_eq!(times.values(), &[1000, 2000, 3000]);
        let time_dt = column(&batch, &["time_dt"]).as_primitive::<TimestampMillisecondType>();
        assert_eq!(time_dt.values(), &[1000, 2000, 3000]);
        let names = column(&batch, &["actor", "user", "name"]).as_string::<i32>();
        let names: Vec<_> = names.iter().map(Option::unwrap).collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
        let class = column(&batch, &["class_uid"]).as_primitive::<Int32Type>();
        assert_eq!(class.value(0), 6003);
        let resources = column(&batch, &["resources"]).as_list::<i32>();
        assert_eq!(resources.value_length(0), 2);
        let unmapped = column(&batch, &["unmapped"]).as_string::<i32>();
        assert!(unmapped.is_null(0) && unmapped.is_null(2));
        let extra: serde_json::Value = serde_json::from_str(unmapped.value(1)).unwrap();
        assert_eq!(extra, serde_json::json!({"k": 1, "tenant": "acme"}));
        assert!(
            column(&batch, &["cloud"]).is_null(0),
            "absent objects are null"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_rejects_the_event_and_leaves_no_trace() {
        let format = format(1 << 20);
        let mut object = ParquetObject::new(&format);
        let bad = api_event(1000, "mallory").replace(r#""type_id": 1"#, r#""type_id": "one""#);
        let value = event(&bad);
        let error = object.push(&value, 1000).unwrap_err();
        let PushError::Row(RowError::Type(error)) = error else {
            panic!("{error}");
        };
        assert_eq!(error.path, "actor.user.type_id");
        assert_eq!(
            error.to_string(),
            "actor.user.type_id: expected an integer, got a string"
        );
        let nested = api_event(1500, "x").replace(r#"{"uid": "r1"}"#, r#"{"uid": 7}"#);
        let error = object.push(&event(&nested), 1500).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("resources[0].uid: expected a string"),
            "{error}"
        );
        push(&mut object, &format, &api_event(2000, "trent"));
        let (batch, _) = read(object.finish().unwrap());
        assert_eq!(batch.num_rows(), 1);
        let names = column(&batch, &["actor", "user", "name"]).as_string::<i32>();
        assert_eq!(names.value(0), "trent");
        assert_eq!(
            column(&batch, &["resources"])
                .as_list::<i32>()
                .value_length(0),
            2
        );
    }

    #[test]
    fn only_events_of_the_class_with_an_integer_time_are_rows() {
        let format = format(1 << 20);
        let auth = event(r#"{"class_uid": 3002, "time": 5}"#);
        assert_eq!(
            format.event_time(&auth),
            Err(RowError::WrongClass {
                class_uid: Some(3002),
                expected: 6003
            })
        );
        for json in [
            r#"{"class_uid": 6003}"#,
            r#"{"class_uid": 6003, "time": "x"}"#,
        ] {
            assert_eq!(format.event_time(&event(json)), Err(RowError::NoTime));
        }
        let float = event(r#"{"class_uid": 6003, "time": 1767225600123.0}"#);
        assert_eq!(format.event_time(&float), Ok(1_767_225_600_123));
    }

    #[test]
    fn full_row_groups_leave_as_parts_and_keep_the_object_in_time_order() {
        let format = format(20_000);
        let mut objects = Vec::new();
        let mut object = ParquetObject::new(&format);
        let mut file = Vec::new();
        for i in 0..600 {
            // Descending within each second, seconds ascending: a row group that ends inside
            // a second makes the rest of that second start another object.
            let time = (i / 100) * 1000 + (99 - i % 100);
            if !object.accepts(time) {
                assert!(matches!(
                    object.push(&event(&api_event(time, "n")), time),
                    Err(PushError::OutOfOrder)
                ));
                file.extend(object.finish().unwrap());
                objects.push(std::mem::take(&mut file));
                object = ParquetObject::new(&format);
            }
            push(&mut object, &format, &api_event(time, "n"));
            if object.pending_output() > 4096 {
                file.extend(object.take_output());
            }
        }
        assert!(object.estimated_size() > 0);
        file.extend(object.finish().unwrap());
        objects.push(file);
        let mut rows = 0;
        let mut all_groups = 0;
        for bytes in objects {
            let (batch, groups) = read(bytes);
            all_groups += groups;
            let times = column(&batch, &["time"]).as_primitive::<Int64Type>();
            rows += times.len();
            assert!(
                times.values().is_sorted(),
                "each object sorted across its row groups"
            );
        }
        assert_eq!(rows, 600);
        assert!(all_groups > 2, "{all_groups} row groups");
    }

    /// The codec of the column chunk at `path` in each row group of `bytes`.
    fn codecs(bytes: &[u8], path: &str) -> Vec<Compression> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(bytes));
        let metadata = reader.unwrap().metadata().clone();
        (metadata.row_groups().iter())
            .map(|group| {
                let chunk = group.columns().iter();
                let mut chunk = chunk.filter(|chunk| chunk.column_path().string() == path);
                chunk.next().expect("a column chunk").compression()
            })
            .collect()
    }

    #[test]
    fn codecs_follow_what_columns_hold_and_later_objects_learn_them() {
        let format = format(20_000);
        let zstd = Compression::ZSTD(ZstdLevel::try_new(1).unwrap());
        let with_cloud =
            |time: i64| api_event(time, "n").replacen("{", r#"{"cloud": {"provider": "aws"}, "#, 1);
        let mut object = ParquetObject::new(&format);
        assert_eq!(
            object.pending_output(),
            0,
            "no file before its first row group"
        );
        let mut time = 0;
        while object.pending_output() == 0 {
            time += 1;
            push(&mut object, &format, &api_event(time, "n"));
        }
        let first_group_rows = time;
        for _ in 0..first_group_rows {
            time += 1;
            push(&mut object, &format, &with_cloud(time));
        }
        let mut first = object.take_output();
        first.extend(object.finish().unwrap());
        let groups = codecs(&first, "actor.user.name").len();
        assert!(groups >= 2, "{groups} row groups");
        assert_eq!(codecs(&first, "actor.user.name"), vec![zstd; groups]);
        // `cloud` had no value in the first row group: uncompressed in every one (its
        // levels, later, are not compressed either).
        let uncompressed = vec![Compression::UNCOMPRESSED; groups];
        assert_eq!(codecs(&first, "cloud.provider"), uncompressed);
        assert_eq!(codecs(&first, "cloud.region"), uncompressed);
        // A field of `resources`' elements without a value: levels that vary, Snappy.
        let snappy = vec![Compression::SNAPPY; groups];
        assert_eq!(codecs(&first, "resources.list.element.type"), snappy);
        let (batch, _) = read(first);
        let providers = column(&batch, &["cloud", "provider"]).as_string::<i32>();
        assert_eq!(providers.iter().flatten().count(), time as usize / 2);
        assert!(providers.iter().flatten().all(|provider| provider == "aws"));

        // The next object compresses what any earlier row group used.
        let mut object = ParquetObject::new(&format);
        push(&mut object, &format, &api_event(time + 1, "n"));
        let second = object.finish().unwrap();
        assert_eq!(codecs(&second, "cloud.provider"), vec![zstd]);
        assert_eq!(codecs(&second, "cloud.region"), vec![Compression::SNAPPY]);
        assert_eq!(
            codecs(&second, "dst_endpoint.name"),
            vec![Compression::UNCOMPRESSED]
        );

        // An object without a row is a valid file of the schema.
        let (batch, groups) = read(ParquetObject::new(&format).finish().unwrap());
        assert_eq!((batch.num_rows(), groups), (0, 0));
        assert_eq!(batch.schema(), format.table.arrow);
    }
}
