//! The `aws_security_lake` sink (and `aws_s3` with `batch_encoding.codec = "parquet"`) against
//! a real S3 protocol server (s3s-fs, in-process, verifying SigV4) driven by the real
//! `aws-sdk-s3`; every object is read back with the `parquet` crate: Security Lake's paths, one
//! class per file, rows sorted by `time`, column types, struct columns (`actor.user.name`),
//! `unmapped`, exactly-once delivery across a multi-day input, rejection of a wrong class,
//! multipart uploads of large objects with injected SlowDown/503/500 faults, and the config
//! example.

#[path = "common/c1_server.rs"]
mod c1_server;
mod common;
#[path = "common/s3_server.rs"]
mod s3_server;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_schema::{DataType, TimeUnit};
use bytes::Bytes;
use c1_pipeline::topology::RunError;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use s3_server::{FaultRule, S3Server, StoredObject};

const BUCKET: &str = "aws-security-data-lake-us-east-1-abc";
/// Midnight UTC, 2026-01-01, in epoch milliseconds.
const NEW_YEAR_MS: i64 = 1_767_225_600_000;

/// A demo source of `count` events whose `time` is spread over 2026-01-01 and 2026-01-02 in
/// no particular order (from each event's uid), with a `tenant` attribute OCSF does not have.
fn demo_over_two_days(count: u64, extra_program: &str) -> String {
    format!(
        r#"
[sources.demo]
type = "conductorone_demo"
count = {count}
interval_secs = 0
seed = 5

[transforms.shape]
type = "remap"
inputs = ["demo"]
source = '''
hex = slice!(string!(.metadata.uid), 0, 7)
.time = {NEW_YEAR_MS} + mod(parse_int!(hex, base: 16), 172800000)
.tenant = "acme"
{extra_program}
'''
"#
    )
}

/// An `aws_security_lake` sink `id` for `class_uid` under `ext/<source>/1.0/`.
fn lake_sink(server: &S3Server, id: &str, input: &str, class_uid: i64, extra: &str) -> String {
    format!(
        r#"
[sinks.{id}]
type = "aws_security_lake"
inputs = ["{input}"]
s3_uri = "s3://{BUCKET}/ext/{id}/1.0/"
account_id = "123456789012"
class_uid = {class_uid}
{connection}
request.retry_initial_backoff_secs = 0.05
request.retry_max_duration_secs = 0.2
{extra}
"#,
        connection = server.connection()
    )
}

async fn run(toml: &str) -> Result<(), RunError> {
    common::run_pipeline(toml, Path::new("test.toml"), &[], std::future::pending())
        .await
        .map(drop)
}

/// One object's rows, and how many row groups it has.
fn read(object: &StoredObject) -> (RecordBatch, usize) {
    assert_eq!(&object.body[..4], b"PAR1", "{}: Parquet magic", object.key);
    let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(object.body.clone()))
        .expect("a Parquet file");
    let groups = builder.metadata().num_row_groups();
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> = builder
        .build()
        .unwrap()
        .map(|batch| batch.expect("readable rows"))
        .collect();
    let batch = arrow_select::concat::concat_batches(&schema, &batches).unwrap();
    (batch, groups)
}

/// The column at a dotted path (`actor.user.name`).
fn column<'a>(batch: &'a RecordBatch, path: &str) -> &'a dyn Array {
    let mut names = path.split('.');
    let first = names.next().unwrap();
    let mut array: &dyn Array = batch
        .column_by_name(first)
        .unwrap_or_else(|| panic!("no column {first}"))
        .as_ref();
    for name in names {
        let parent: &StructArray = array.as_struct();
        array = parent
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no field {name} in {path}"))
            .as_ref();
    }
    array
}

fn uids(batch: &RecordBatch) -> Vec<String> {
    column(batch, "metadata.uid")
        .as_string::<i32>()
        .iter()
        .map(|uid| uid.expect("metadata.uid").to_owned())
        .collect()
}

/// The UTC day of epoch milliseconds as `YYYYMMDD`.
fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y%m%d")
        .to_string()
}

/// zstd (the default) for the columns with values (`time` always has one); Snappy or no
/// compression for those without: most of a class's thousand leaf columns.
fn check_codecs(object: &StoredObject) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(object.body.clone()));
    let metadata = reader.expect("a Parquet file").metadata().clone();
    for group in metadata.row_groups() {
        let codec = |path: &str| {
            let mut chunks = group.columns().iter();
            let chunk = chunks.find(|chunk| chunk.column_path().string() == path);
            chunk.expect("a column chunk").compression()
        };
        assert!(
            matches!(codec("time"), Compression::ZSTD(_)),
            "{}",
            object.key
        );
        let count = |codec: Compression| {
            let chunks = group.columns().iter();
            chunks.filter(|chunk| chunk.compression() == codec).count()
        };
        let (snappy, none) = (count(Compression::SNAPPY), count(Compression::UNCOMPRESSED));
        assert!(
            snappy > 0 && none > 0,
            "{snappy} Snappy, {none} uncompressed"
        );
        assert!(snappy + none > group.num_columns() / 2);
    }
}

/// Checks every object under `ext/<source>/1.0/`: the layout, one class, `time` order and the
/// day; returns the uids of all rows.
fn check_objects(objects: &[StoredObject], source: &str, class_uid: i32) -> Vec<String> {
    let prefix = format!("ext/{source}/1.0/region=us-east-1/accountId=123456789012/eventDay=");
    let mut all = Vec::new();
    for object in objects
        .iter()
        .filter(|o| o.key.starts_with(&format!("ext/{source}/")))
    {
        let rest = object
            .key
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{}", object.key));
        let (event_day, name) = rest.split_once('/').expect("eventDay=…/name");
        let uuid = name.strip_suffix(".parquet").expect(".parquet");
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{name}");
        assert_eq!(
            object.content_type.as_deref(),
            Some("application/vnd.apache.parquet")
        );
        let (batch, _) = read(object);
        let classes = column(&batch, "class_uid").as_primitive::<Int32Type>();
        assert!(
            classes.values().iter().all(|c| *c == class_uid),
            "one class per file"
        );
        let times = column(&batch, "time").as_primitive::<Int64Type>();
        assert!(
            times.values().is_sorted(),
            "{}: rows sorted by time",
            object.key
        );
        assert!(
            times.values().iter().all(|t| day(*t) == event_day),
            "{}",
            object.key
        );
        all.extend(uids(&batch));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_classes_land_in_their_sources_by_day_sorted_typed_and_exactly_once() {
    let server = S3Server::with_bucket(BUCKET).await;
    let route = r#"
[transforms.by_class]
type = "route"
inputs = ["shape"]
route.api_activity = '.class_uid == 6003'
route.authentication = '.class_uid == 3002'
"#;
    let toml = format!(
        "{}{route}{}{}",
        demo_over_two_days(3000, ""),
        lake_sink(&server, "c1_api", "by_class.api_activity", 6003, ""),
        lake_sink(&server, "c1_auth", "by_class.authentication", 3002, ""),
    );
    run(&toml).await.expect("pipeline run");

    let objects = server.objects(BUCKET).await;
    let api = check_objects(&objects, "c1_api", 6003);
    let auth = check_objects(&objects, "c1_auth", 3002);
    assert!(!api.is_empty() && !auth.is_empty());
    let all: BTreeSet<&String> = api.iter().chain(&auth).collect();
    assert_eq!(api.len() + auth.len(), 3000, "every event written");
    assert_eq!(all.len(), 3000, "no event written twice");
    // Two days, one object each per source (end of input sealed them).
    let mut per_source: BTreeMap<&str, usize> = BTreeMap::new();
    for object in &objects {
        *per_source
            .entry(object.key.split('/').nth(1).unwrap())
            .or_default() += 1;
    }
    assert_eq!(per_source, BTreeMap::from([("c1_api", 2), ("c1_auth", 2)]));
    objects.iter().for_each(check_codecs);

    // Column types from OCSF, structs queryable, unmapped.
    let object = objects.iter().find(|o| o.key.contains("c1_api")).unwrap();
    let (batch, _) = read(object);
    let schema = batch.schema();
    let field = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
    assert_eq!(field("time"), DataType::Int64);
    assert_eq!(field("type_uid"), DataType::Int64);
    assert_eq!(field("activity_id"), DataType::Int32);
    assert_eq!(field("severity"), DataType::Utf8);
    assert_eq!(field("unmapped"), DataType::Utf8);
    assert_eq!(
        field("time_dt"),
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert!(matches!(field("actor"), DataType::Struct(_)));
    assert!(matches!(field("resources"), DataType::List(_)));
    let times = column(&batch, "time").as_primitive::<Int64Type>();
    let time_dt = column(&batch, "time_dt").as_primitive::<TimestampMillisecondType>();
    assert_eq!(times.values(), time_dt.values(), "time_dt mirrors time");
    let names = column(&batch, "actor.user.name").as_string::<i32>();
    assert!(
        names.iter().flatten().count() > batch.num_rows() / 2,
        "actor.user.name"
    );
    let unmapped = column(&batch, "unmapped").as_string::<i32>();
    for text in unmapped.iter() {
        let extra: serde_json::Value = serde_json::from_str(text.expect("tenant")).unwrap();
        assert_eq!(extra["tenant"], "acme");
    }
    // Every file of a source has the same schema (one Glue table).
    let schemas: BTreeSet<String> = objects
        .iter()
        .map(|o| format!("{:?}", read(o).0.schema().fields()))
        .collect();
    assert_eq!(schemas.len(), 2, "one schema per class");
}

/// The row groups of a sink's open objects together stay within `row_group_bytes`: with a
/// tiny one and events of two days interleaved, row groups are written early and objects split
/// where an event is older than what was written, yet every event lands once, each object in
/// time order and on its day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_objects_share_one_row_group_budget_and_lose_nothing() {
    let server = S3Server::with_bucket(BUCKET).await;
    let toml = format!(
        "{}{}",
        demo_over_two_days(200, "if .class_uid != 6003 { abort }"),
        lake_sink(&server, "c1_api", "shape", 6003, "row_group_bytes = 4096"),
    );
    run(&toml).await.expect("pipeline run");
    let objects = server.objects(BUCKET).await;
    let api = check_objects(&objects, "c1_api", 6003);
    let unique: BTreeSet<&String> = api.iter().collect();
    assert_eq!(unique.len(), api.len(), "no event written twice");
    assert!(api.len() > 100, "{} events written", api.len());
    assert!(objects.len() > 2, "row groups written early split objects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_another_class_or_a_wrong_type_are_rejected_not_written() {
    let server = S3Server::with_bucket(BUCKET).await;
    // Every 3002 event reaches the 6003 sink; one in ten 6003 events has a string severity_id.
    let program = r#"if .class_uid == 6003 && .activity_id == 4 { .severity_id = "high" }"#;
    let toml = format!(
        "{}{}",
        demo_over_two_days(1000, program),
        lake_sink(&server, "c1_api", "shape", 6003, "")
    );
    let error = run(&toml).await.expect_err("rejected events fail the run");
    assert!(error.to_string().contains("not delivered"), "{error}");
    let objects = server.objects(BUCKET).await;
    let written = check_objects(&objects, "c1_api", 6003);
    assert!(!written.is_empty());
    for object in &objects {
        let (batch, _) = read(object);
        let activity = column(&batch, "activity_id").as_primitive::<Int32Type>();
        assert!(
            activity.values().iter().all(|a| *a != 4),
            "wrong-type events are not rows"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_objects_are_multipart_uploads_through_slowdown_and_5xx() {
    // s3s-fs keeps an upload's metadata in a file named after the base64 of bucket and key,
    // which must fit a file name (255 bytes): a short bucket and source name here.
    let server = S3Server::with_bucket("lake").await;
    let faults = &server.faults;
    for (method, query, status, code) in [
        ("POST", Some("uploads"), 503, "ServiceUnavailable"),
        ("PUT", Some("partNumber=1"), 503, "SlowDown"),
        ("PUT", Some("partNumber=2"), 503, "SlowDown"),
        ("POST", Some("uploadId="), 500, "InternalError"),
    ] {
        faults.add(FaultRule {
            method,
            query,
            remaining: 1,
            status,
            code,
        });
    }
    // raw_data (the event as JSON, unique per event) makes rows that do not compress away;
    // small row groups and 5 MiB parts make the object a multipart upload of several parts.
    // The demo's own times (now, in order) keep it one object.
    let options =
        "compression = \"none\"\nrow_group_bytes = 1048576\nmultipart_part_size = 5242880";
    let toml = format!(
        r#"
[sources.demo]
type = "conductorone_demo"
count = 2500
interval_secs = 0
seed = 5

[transforms.only_api]
type = "filter"
inputs = ["demo"]
condition = '.class_uid == 6003'

[transforms.shape]
type = "remap"
inputs = ["only_api"]
source = 'row = encode_json(.); .raw_data = row + row + row + row + row'
{}"#,
        lake_sink(&server, "a", "shape", 6003, options).replace(BUCKET, "lake")
    );
    run(&toml).await.expect("pipeline run");
    let objects = server.objects("lake").await;
    // One object, or two if the run crossed midnight UTC.
    assert!(objects.len() <= 2, "{} objects", objects.len());
    let big = objects.iter().max_by_key(|o| o.body.len()).unwrap();
    assert!(big.body.len() > 10 * 1024 * 1024, "{}", big.body.len());
    let (_, groups) = read(big);
    assert!(groups > 5, "{groups} row groups");
    let written = check_objects(&objects, "a", 6003);
    let distinct: BTreeSet<&String> = written.iter().collect();
    assert_eq!(distinct.len(), written.len(), "no duplicates");
    assert!(written.len() > 1500, "{}", written.len());
    assert!(
        faults.count("POST", "uploads") >= 2,
        "CreateMultipartUpload, retried once"
    );
    assert!(faults.count("PUT", "partNumber=3") >= 1, "at least 3 parts");
    assert_eq!(*faults.injected.lock().unwrap(), 4, "every fault was hit");
    let md5 = faults.put_has_content_md5.lock().unwrap();
    assert!(
        md5.iter().all(|(_, has)| *has),
        "every part carries Content-MD5"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_s3_writes_parquet_objects_with_batch_encoding() {
    let server = S3Server::with_bucket(BUCKET).await;
    let sink = format!(
        r#"
[sinks.s3]
type = "aws_s3"
inputs = ["shape"]
bucket = "{BUCKET}"
{connection}
key_prefix = "ocsf/class={{{{ class_uid }}}}/"
batch_encoding.codec = "parquet"
batch_encoding.ocsf_class_uid = 0
"#,
        connection = server.connection()
    );
    run(&format!("{}{sink}", demo_over_two_days(500, "")))
        .await
        .expect("pipeline run");
    let objects = server.objects(BUCKET).await;
    assert_eq!(objects.len(), 2, "one per class prefix");
    let mut rows = 0;
    for object in &objects {
        assert!(object.key.ends_with(".parquet"), "{}", object.key);
        assert_eq!(object.content_encoding, None);
        let (batch, _) = read(object);
        rows += batch.num_rows();
        // base_event's columns; the class's own attributes are kept in unmapped.
        let unmapped = column(&batch, "unmapped").as_string::<i32>();
        let first: serde_json::Value = serde_json::from_str(unmapped.value(0)).unwrap();
        assert!(
            first.get("actor").is_some() || first.get("user").is_some(),
            "{first}"
        );
    }
    assert_eq!(rows, 500);

    // gzip on top of Parquet is refused when the sink is built.
    let bad = sink.replace(
        "batch_encoding.codec",
        "compression = \"gzip\"\nbatch_encoding.codec",
    );
    let error = run(&format!("{}{bad}", demo_over_two_days(1, "")))
        .await
        .expect_err("gzip cannot compress Parquet objects");
    assert!(
        error.to_string().contains("cannot compress Parquet"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_lake_example_routes_both_classes_from_the_api() {
    const CLIENT_ID: &str = "clever-fox-42195@acme.conductor.one/spc";
    const EVENTS: usize = 300;
    // The fake tenant's events, numbers as doubles (a protobuf Struct), without their
    // non-integral `duration` (a long_t), every third one an Authentication event.
    let mut events = c1_server::make_events(0, EVENTS, NEW_YEAR_MS, true);
    for (i, event) in events.iter_mut().enumerate() {
        event.json = event.json.replace(",\"duration\":12.5", "");
        if i % 3 == 0 {
            event.json = event
                .json
                .replace("\"class_uid\":6003.0", "\"class_uid\":3002.0")
                .replace(
                    "\"class_name\":\"API Activity\"",
                    "\"class_name\":\"Authentication\"",
                )
                .replace("\"category_uid\":6.0", "\"category_uid\":3.0")
                .replace("\"activity_id\":3.0", "\"activity_id\":1.0")
                .replace("\"type_uid\":600303.0", "\"type_uid\":300201.0");
        }
    }
    let c1 = c1_server::FakeC1::start(CLIENT_ID, events).await;
    let s3 = S3Server::with_bucket(BUCKET).await;
    let dir = tempfile::tempdir().unwrap();
    let vars = vec![
        ("C1_PIPELINE_DATA_DIR", dir.path().display().to_string()),
        ("C1_CLIENT_ID", CLIENT_ID.to_owned()),
        ("C1_CLIENT_SECRET", c1.secret()),
        ("C1_BASE_URL", c1.base_url()),
        ("C1_START_AT", "2026-01-01T00:00:00Z".to_owned()),
        (
            "SECURITY_LAKE_API_ACTIVITY_URI",
            format!("s3://{BUCKET}/ext/c1_api/1.0/"),
        ),
        (
            "SECURITY_LAKE_AUTHENTICATION_URI",
            format!("s3://{BUCKET}/ext/c1_auth/1.0/"),
        ),
        ("SECURITY_LAKE_ACCOUNT_ID", "123456789012".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("S3_ENDPOINT", s3.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", s3_server::ACCESS_KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", s3_server::SECRET_KEY.to_owned()),
    ];
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config-examples/conductorone-to-security-lake.toml");
    let text = std::fs::read_to_string(&path).expect("example exists");
    // The sinks hold events until shutdown: stop a second after the last page was served.
    let state = std::sync::Arc::clone(&c1.state);
    let shutdown = async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut served_at = None::<Instant>;
        loop {
            let all_pages = state.lock().unwrap().requests.len() > EVENTS / 100;
            if all_pages && served_at.is_none() {
                served_at = Some(Instant::now());
            }
            if served_at.is_some_and(|at| at.elapsed() > Duration::from_secs(1))
                || Instant::now() > deadline
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    common::run_pipeline(&text, &path, &vars, shutdown)
        .await
        .expect("the example runs");
    let objects = s3.objects(BUCKET).await;
    let api = check_objects(&objects, "c1_api", 6003);
    let auth = check_objects(&objects, "c1_auth", 3002);
    assert_eq!((api.len(), auth.len()), (EVENTS - EVENTS / 3, EVENTS / 3));
    let expected: BTreeSet<String> = (0..EVENTS).map(|i| format!("evt-{i:06}")).collect();
    assert_eq!(
        api.into_iter().chain(auth).collect::<BTreeSet<_>>(),
        expected
    );
}
