//! The `conductorone_s3` source against real servers driven by the real AWS SDK: s3s-fs
//! (in-process, verifying SigV4) for list mode, moto (S3 and SQS with real S3 → SQS
//! notifications, started per test) for SQS mode. The sink is the test itself: it receives
//! the source's batches and finalizes each event as the test decides (delivered, errored,
//! rejected, late).

mod common;
#[path = "common/moto.rs"]
mod moto;
#[path = "common/s3_server.rs"]
mod s3_server;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use c1_pipeline::ack::BatchStatus;
use c1_pipeline::component::SourceComponent;
use c1_pipeline::event::Event;
use c1_pipeline::sources::conductorone_s3::ConductoroneS3Config;
use common::source::{RunningSource, start_source};
use moto::Moto;
use s3_server::{FaultRule, S3Server, SECRET_KEY};

const BUCKET: &str = "c1-export";
const PREFIX: &str = "systemlog/";

fn event_json(uid: &str) -> String {
    format!(
        r#"{{"class_uid":6003,"activity_id":1,"type_uid":600301,"time":1767225600000,"metadata":{{"uid":"{uid}","version":"1.3.0"}}}}"#
    )
}

fn ndjson(uids: &[String]) -> Vec<u8> {
    uids.iter()
        .flat_map(|uid| (event_json(uid) + "\n").into_bytes())
        .collect()
}

fn array(uids: &[String]) -> Vec<u8> {
    format!(
        "[\n{}\n]",
        uids.iter()
            .map(|u| event_json(u))
            .collect::<Vec<_>>()
            .join(",\n")
    )
    .into_bytes()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("zstd")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

/// How a test file's records are written.
type Encode = fn(&[String]) -> Vec<u8>;

fn uids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:05}")).collect()
}

async fn put(client: &aws_sdk_s3::Client, key: &str, body: Vec<u8>) {
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

/// [`put`] under [`PREFIX`].
async fn put_in_prefix(client: &aws_sdk_s3::Client, name: &str, body: Vec<u8>) {
    put(client, &format!("{PREFIX}{name}"), body).await;
}

/// Sends `body` to the queue as a notification would come.
async fn send_to_queue(sqs: &aws_sdk_sqs::Client, queue_url: &str, body: &str) {
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

/// Checks that `received` are the records `uids` starts with, in order (`what`: which file's).
#[track_caller]
fn assert_prefix_in_order(received: &[&Received], uids: &[String], what: &str) {
    for (n, r) in received.iter().enumerate() {
        assert_eq!(r.uid, uids[n], "{what} records are a prefix, in order");
    }
}

/// A source started directly, its output received by the test.
type Running = RunningSource;

/// One received event: its uid and `%key`, `%line` metadata.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Received {
    uid: String,
    key: String,
    line: i64,
}

fn received(event: &Event) -> Received {
    let json = serde_json::to_value(&event.value).expect("serializable");
    let meta = serde_json::to_value(event.metadata.to_value()).expect("serializable");
    assert_eq!(meta["bucket"], BUCKET, "{meta}");
    Received {
        uid: json["metadata"]["uid"].as_str().expect("uid").to_owned(),
        key: meta["key"].as_str().expect("key").to_owned(),
        line: meta["line"].as_i64().expect("line"),
    }
}

fn start(config_toml: &str, data_dir: &Path) -> Running {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
    let config: ConductoroneS3Config = toml::from_str(config_toml).expect("config parses");
    start_source(&config, "c1_s3", data_dir, true, 4)
}

impl Running {
    /// Receives events, finalizing each with `fate(event)`, until `done(received so far)`.
    async fn collect_until(
        &mut self,
        within: Duration,
        mut fate: impl FnMut(&Received) -> BatchStatus,
        mut done: impl FnMut(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        let mut all = Vec::new();
        while !done(&all) {
            assert!(
                Instant::now() < deadline,
                "timed out after {} events: {:?}",
                all.len(),
                summary(&all)
            );
            // Short waits: `done` may depend on more than the events (a metric).
            let batch =
                match tokio::time::timeout(Duration::from_millis(100), self.batches.recv()).await {
                    Ok(Some(batch)) => batch,
                    Ok(None) => panic!("the source closed its output after {} events", all.len()),
                    Err(_) => continue,
                };
            for mut event in batch {
                let r = received(&event);
                event.finalize(fate(&r));
                all.push(r);
            }
        }
        all
    }

    /// Receives and rejects until `n` events arrived.
    async fn reject(&mut self, n: usize, within: Duration) -> Vec<Received> {
        self.collect_until(within, |_| BatchStatus::Rejected, |all| all.len() >= n)
            .await
    }

    /// Receives and delivers until `n` events arrived.
    async fn collect(&mut self, n: usize, within: Duration) -> Vec<Received> {
        self.collect_until(within, |_| BatchStatus::Delivered, |all| all.len() >= n)
            .await
    }

    async fn assert_quiet(&mut self, quiet: Duration) {
        self.assert_quiet_showing(quiet, received).await;
    }

    /// Graceful stop, delivering what is still in flight.
    async fn stop(self) {
        let result = self.stop_within(Duration::from_secs(15)).await;
        result.expect("source ends cleanly");
    }

    /// Like `kill -9`: the task is dropped where it is, nothing more is written.
    async fn crash(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    async fn wait_metric(&self, name: &str, at_least: u64, within: Duration) {
        let deadline = Instant::now() + within;
        while self.metrics.get(name) < at_least {
            assert!(
                Instant::now() < deadline,
                "{name} = {} (want >= {at_least})",
                self.metrics.get(name)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn summary(all: &[Received]) -> BTreeMap<String, usize> {
    let mut per_key = BTreeMap::new();
    for r in all {
        *per_key.entry(r.key.clone()).or_insert(0) += 1;
    }
    per_key
}

fn list_config(server: &S3Server, extra: &str) -> String {
    format!(
        r#"
{options}
poll_interval_secs = 0.2
retry_initial_backoff_secs = 0.05
retry_max_backoff_secs = 0.5
{extra}
"#,
        options = server.source_options(BUCKET, PREFIX)
    )
}

/// [`s3_with_bucket`] and a client for it.
async fn s3_and_client() -> (S3Server, aws_sdk_s3::Client) {
    let server = s3_with_bucket().await;
    let client = server.client();
    (server, client)
}

async fn s3_with_bucket() -> S3Server {
    S3Server::with_bucket(BUCKET).await
}

fn checkpoint_keys(data_dir: &Path) -> BTreeSet<String> {
    let Ok(text) = std::fs::read(data_dir.join("c1_s3/objects.json")) else {
        return BTreeSet::new();
    };
    let json: serde_json::Value = serde_json::from_slice(&text).expect("checkpoint is JSON");
    json["delivered"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_of_every_format_is_delivered_and_bad_files_are_counted() {
    let (server, client) = s3_and_client().await;
    let mut expected = BTreeSet::new();
    let mut add = |uids: &[String]| expected.extend(uids.iter().cloned());
    let files: Vec<(&str, Vec<String>, Encode)> = vec![
        ("a-ndjson.json.zst", uids("zstd-ndjson", 300), |u| {
            zstd(&ndjson(u))
        }),
        ("b-ndjson.json.gz", uids("gzip-ndjson", 300), |u| {
            gzip(&ndjson(u))
        }),
        ("c-array.json.zst", uids("zstd-array", 200), |u| {
            zstd(&array(u))
        }),
        ("d-array.json.gz", uids("gzip-array", 200), |u| {
            gzip(&array(u))
        }),
        ("e-plain.json", uids("plain", 50), |u| ndjson(u)),
        // A misleading name: the magic bytes decide.
        ("f-misnamed.json.gz", uids("misnamed", 50), |u| {
            zstd(&ndjson(u))
        }),
    ];
    for (name, file_uids, encode) in &files {
        add(file_uids);
        put_in_prefix(&client, name, encode(file_uids)).await;
    }
    put_in_prefix(&client, "g-empty.json.zst", zstd(b"")).await;
    put_in_prefix(&client, "h-empty-plain", Vec::new()).await;
    // Invalid lines among good ones.
    let mut mixed = ndjson(&uids("mixed", 3));
    mixed.extend_from_slice(b"{not json\n[1]\n");
    mixed.extend_from_slice(&ndjson(&uids("mixed-after", 2)));
    add(&uids("mixed", 3));
    add(&uids("mixed-after", 2));
    put_in_prefix(&client, "i-mixed.json.gz", gzip(&mixed)).await;
    // A file cut in half: the records before the cut.
    let cut_uids = uids("cut", 20_000);
    let cut = zstd(&ndjson(&cut_uids));
    put_in_prefix(&client, "j-cut.json.zst", cut[..cut.len() / 2].to_vec()).await;
    // A bomb: 64 MiB of blank lines after one record, limit 4 MiB.
    let mut bomb = ndjson(&uids("bomb", 1));
    bomb.resize(64 << 20, b'\n');
    bomb.extend_from_slice(&ndjson(&uids("after-bomb", 1)));
    add(&uids("bomb", 1));
    put_in_prefix(&client, "k-bomb.json.zst", zstd(&bomb)).await;
    // Plain and larger than the limit: only its start is downloaded and read.
    let big_uids = uids("big", 50_000);
    put_in_prefix(&client, "l-big.json", ndjson(&big_uids)).await;
    // Outside the prefix: never read.
    put(&client, "other/x.json", ndjson(&uids("outside", 5))).await;

    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut source = start(
        &list_config(&server, "max_decompressed_bytes = 4194304"),
        data_dir.path(),
    );
    // Until every expected record arrived and every file is acknowledged (the cut and the
    // big file end at a point only the reader knows).
    let metrics = Arc::clone(&source.metrics);
    let all = source
        .collect_until(
            Duration::from_secs(60),
            |_| BatchStatus::Delivered,
            |all| {
                let got: BTreeSet<&str> = all.iter().map(|r| r.uid.as_str()).collect();
                expected.iter().all(|u| got.contains(u.as_str()))
                    && metrics.get("objects_read_total") >= 12
            },
        )
        .await;
    source
        .wait_metric("objects_read_total", 12, Duration::from_secs(10))
        .await;
    source.assert_quiet(Duration::from_millis(600)).await;
    let cut_received: Vec<&Received> = all
        .iter()
        .filter(|r| r.key.ends_with("j-cut.json.zst"))
        .collect();
    assert!(
        cut_received.len() > 5_000,
        "{} records before the cut",
        cut_received.len()
    );
    assert_prefix_in_order(&cut_received, &cut_uids, "the cut file's");
    let big_received: Vec<&Received> = all
        .iter()
        .filter(|r| r.key.ends_with("l-big.json"))
        .collect();
    assert!(
        big_received.len() > 10_000 && big_received.len() < 50_000,
        "{} records of the big file",
        big_received.len()
    );
    assert_prefix_in_order(&big_received, &big_uids, "the big file's");
    let others: Vec<&Received> = all
        .iter()
        .filter(|r| !r.key.ends_with("j-cut.json.zst") && !r.key.ends_with("l-big.json"))
        .collect();
    assert_eq!(
        others.len(),
        expected.len(),
        "each record exactly once: {:?}",
        summary(&all)
    );
    assert!(
        all.iter()
            .all(|r| !r.uid.starts_with("outside") && !r.uid.starts_with("after-bomb"))
    );
    // Metadata: key and line of the record.
    let sample = all
        .iter()
        .find(|r| r.uid == "mixed-after-00001")
        .expect("sample");
    assert_eq!(
        (sample.key.as_str(), sample.line),
        ("systemlog/i-mixed.json.gz", 7)
    );
    let array_sample = all
        .iter()
        .find(|r| r.uid == "zstd-array-00002")
        .expect("array sample");
    assert_eq!(array_sample.line, 4, "an array element's line");
    assert_eq!(source.metrics.get("invalid_records_total"), 2);
    assert_eq!(
        source
            .metrics
            .get_labelled("files_failed_total", &[("reason", "corrupt")]),
        1
    );
    assert_eq!(
        source
            .metrics
            .get_labelled("files_failed_total", &[("reason", "too_large")]),
        2
    );
    let downloaded = source.metrics.get("bytes_read_total");
    assert!(
        downloaded < 4 * 1024 * 1024 + 200_000 + 3_000_000,
        "the big file was downloaded only up to the cap: {downloaded} bytes in all"
    );
    source.stop().await;
    assert_eq!(
        checkpoint_keys(data_dir.path()).len(),
        12,
        "every file is recorded as read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_backfill_neither_loses_nor_rereads_delivered_files() {
    let (server, client) = s3_and_client().await;
    let mut expected = BTreeSet::new();
    for file in 0..30 {
        let file_uids = uids(&format!("f{file:02}"), 100);
        expected.extend(file_uids.iter().cloned());
        put_in_prefix(
            &client,
            &format!("{file:02}.json.zst"),
            zstd(&ndjson(&file_uids)),
        )
        .await;
    }
    let data_dir = tempfile::tempdir().expect("tempdir");
    let config = list_config(&server, "max_concurrent_objects = 2");
    let mut first = start(&config, data_dir.path());
    let before = first.collect(1_250, Duration::from_secs(30)).await;
    // Let the acknowledged files reach the checkpoint, then crash.
    let deadline = Instant::now() + Duration::from_secs(10);
    while checkpoint_keys(data_dir.path()).len() < 10 {
        assert!(
            Instant::now() < deadline,
            "checkpoint never reached 10 files"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.crash().await;
    let delivered_files = checkpoint_keys(data_dir.path());
    assert!(delivered_files.len() < 30);

    let mut second = start(&config, data_dir.path());
    let mut all: Vec<Received> = before.clone();
    let after = second
        .collect_until(
            Duration::from_secs(30),
            |_| BatchStatus::Delivered,
            |got| {
                let seen: BTreeSet<&str> =
                    before.iter().chain(got).map(|r| r.uid.as_str()).collect();
                expected.iter().all(|u| seen.contains(u.as_str()))
            },
        )
        .await;
    second.assert_quiet(Duration::from_millis(600)).await;
    for r in &after {
        assert!(
            !delivered_files.contains(&r.key),
            "{} was delivered and checkpointed before the crash, but read again",
            r.key
        );
    }
    all.extend(after);
    let distinct: BTreeSet<&str> = all.iter().map(|r| r.uid.as_str()).collect();
    assert_eq!(distinct.len(), expected.len(), "nothing lost");
    second.stop().await;
    assert_eq!(checkpoint_keys(data_dir.path()).len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errored_objects_are_read_again_rejected_ones_are_not_and_new_objects_are_followed() {
    let (server, client) = s3_and_client().await;
    for name in ["a", "b", "c"] {
        put_in_prefix(
            &client,
            &format!("{name}.json.zst"),
            zstd(&ndjson(&uids(name, 10))),
        )
        .await;
    }
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut source = start(&list_config(&server, ""), data_dir.path());
    let mut errored_once = false;
    let first = source
        .collect_until(
            Duration::from_secs(20),
            |r| {
                if r.key.ends_with("a.json.zst") && !errored_once && r.uid == "a-00009" {
                    errored_once = true;
                    BatchStatus::Errored
                } else if r.key.ends_with("b.json.zst") {
                    BatchStatus::Rejected
                } else {
                    BatchStatus::Delivered
                }
            },
            |all| {
                all.iter().filter(|r| r.key.ends_with("a.json.zst")).count() >= 20
                    && all.iter().any(|r| r.key.ends_with("c.json.zst"))
            },
        )
        .await;
    let per_key = summary(&first);
    assert_eq!(
        per_key["systemlog/a.json.zst"], 20,
        "errored once, read twice: {per_key:?}"
    );
    assert_eq!(
        per_key["systemlog/b.json.zst"], 10,
        "rejected: not read again"
    );
    assert_eq!(per_key["systemlog/c.json.zst"], 10);
    // Followed: a new object appears.
    put_in_prefix(&client, "d.json.gz", gzip(&ndjson(&uids("d", 5)))).await;
    let next = source.collect(5, Duration::from_secs(10)).await;
    assert!(
        next.iter().all(|r| r.key.ends_with("d.json.gz")),
        "{next:?}"
    );
    source.assert_quiet(Duration::from_millis(600)).await;
    assert_eq!(source.metrics.get("rejected_events_total"), 10);
    source.stop().await;
    assert_eq!(checkpoint_keys(data_dir.path()).len(), 4);
}

/// A shutdown while an object's download is being retried stops the source promptly and
/// leaves the object undelivered in the checkpoint: the next run reads it whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_during_a_download_loses_nothing() {
    let (server, client) = s3_and_client().await;
    put_in_prefix(&client, "a.json.zst", zstd(&ndjson(&uids("a", 10)))).await;
    server.faults.add(FaultRule {
        method: "GET",
        query: Some("x-id=GetObject"),
        remaining: usize::MAX,
        status: 503,
        code: "SlowDown",
    });
    let data_dir = tempfile::tempdir().expect("tempdir");
    let source = start(&list_config(&server, ""), data_dir.path());
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.faults.count("GET", "x-id=GetObject") < 3 {
        assert!(Instant::now() < deadline, "the download was not retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    source.stop().await;
    assert!(
        checkpoint_keys(data_dir.path()).is_empty(),
        "an object never downloaded was checkpointed"
    );

    server.faults.clear();
    let mut source = start(&list_config(&server, ""), data_dir.path());
    let events = source.collect(10, Duration::from_secs(10)).await;
    assert_eq!(summary(&events)["systemlog/a.json.zst"], 10);
    source.assert_quiet(Duration::from_millis(500)).await;
    source.stop().await;
    assert_eq!(checkpoint_keys(data_dir.path()).len(), 1);
}

/// Events in each file of the large array test: about 100 MB of JSON.
const LARGE_ARRAY_EVENTS: usize = 112_000;

/// Peak resident memory the pipeline may reach reading the large array.
const LARGE_ARRAY_MAX_RSS: u64 = 256 * 1024 * 1024;

/// Event `n` of the large array: about 900 bytes, the size of a typical OCSF event.
fn large_event(n: usize) -> String {
    format!(
        r#"{{"class_uid":6003,"activity_id":1,"type_uid":600301,"time":1767225600000,"metadata":{{"uid":"big-{n:07}","version":"1.3.0"}},"actor":{{"user":{{"name":"alice@example.com","uid":"u-1"}}}},"message":"{}"}}"#,
        "x".repeat(700)
    )
}

/// Writes a pretty-printed JSON array of the large events `first..first + events` to `out`;
/// returns its size.
fn write_large_array(first: usize, events: usize, out: &mut impl Write) -> u64 {
    let mut size = 0;
    let mut write = |bytes: &[u8]| {
        out.write_all(bytes).expect("write");
        size += bytes.len() as u64;
    };
    write(b"[\n");
    for n in first..first + events {
        write(large_event(n).as_bytes());
        write(if n + 1 < first + events {
            b",\n"
        } else {
            b"\n"
        });
    }
    write(b"]\n");
    size
}

/// Peak resident memory (`VmHWM`) of process `pid`, in bytes. It is per address space, so
/// the test process's own memory (inherited at `fork`) does not count once the child `exec`s.
fn peak_resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kib * 1024
}

/// The c1-pipeline binary as a child process, killed if the test fails first.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Counts each large-array uid in the console sink's output lines (`{"metadata":{"uid":..}}`);
/// `lines` is updated as they arrive. Returns the counts, and the lines that were not such.
fn count_large_uids(
    stdout: std::process::ChildStdout,
    lines: Arc<std::sync::atomic::AtomicUsize>,
) -> (Vec<u32>, Vec<String>) {
    use std::io::BufRead;
    let mut counts = vec![0u32; 2 * LARGE_ARRAY_EVENTS];
    let mut unexpected = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("stdout");
        let n = line
            .split_once("\"uid\":\"big-")
            .and_then(|(_, rest)| rest.get(..7))
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|n| *n < counts.len());
        match n {
            Some(n) => counts[n] += 1,
            None => unexpected.push(line),
        }
        lines.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    (counts, unexpected)
}

/// Two 100 MB JSON array exports, one zstd-compressed and one not, are read by the
/// c1-pipeline binary with the source's default options in bounded memory: every event
/// reaches the sink exactly once, both files are checkpointed as delivered, and the process's
/// peak resident memory stays under 256 MiB (reading an array whole took about 4 times its
/// size, and an uncompressed body was held twice while downloaded).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_json_array_is_read_in_bounded_memory() {
    let started = Instant::now();
    // The same size compressed (the array itself streams) and not (the body is held once).
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).expect("zstd");
    let size = write_large_array(0, LARGE_ARRAY_EVENTS, &mut encoder);
    let compressed = encoder.finish().expect("zstd");
    let mut plain = Vec::with_capacity(size as usize + 1_000_000);
    write_large_array(LARGE_ARRAY_EVENTS, LARGE_ARRAY_EVENTS, &mut plain);
    assert!(size > 100_000_000, "{size} bytes uncompressed");
    let server = s3_with_bucket().await;
    let keys = [
        format!("{PREFIX}large-array.json.zst"),
        format!("{PREFIX}large-array.json"),
    ];
    put(&server.client(), &keys[0], compressed).await;
    put(&server.client(), &keys[1], plain).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "{data}"

[sources.c1_s3]
type = "conductorone_s3"
{options}

[sinks.out]
type = "console"
inputs = ["c1_s3"]
encoding.codec = "json"
encoding.only_fields = ["metadata.uid"]
"#,
            data = dir.path().display(),
            options = server.source_options(BUCKET, PREFIX),
        ),
    )
    .expect("config");
    let generated = started.elapsed();
    let log = dir.path().join("pipeline.log");
    let mut child = ChildGuard(
        std::process::Command::new(env!("CARGO_BIN_EXE_c1-pipeline"))
            .arg("--config")
            .arg(&config)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("c1-pipeline starts"),
    );
    let pid = child.0.id();
    let lines = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stdout = child.0.stdout.take().expect("stdout");
    let reader = std::thread::spawn({
        let lines = Arc::clone(&lines);
        move || count_large_uids(stdout, lines)
    });
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Every event printed and both files checkpointed (acknowledged).
    let events = 2 * LARGE_ARRAY_EVENTS;
    while lines.load(std::sync::atomic::Ordering::Relaxed) < events || {
        let delivered = checkpoint_keys(dir.path());
        !keys.iter().all(|key| delivered.contains(key))
    } {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("c1-pipeline exited ({status}); stderr:\n{}", stderr());
        }
        assert!(
            Instant::now() < deadline,
            "{} of {events} events within 120 s; stderr:\n{}",
            lines.load(std::sync::atomic::Ordering::Relaxed),
            stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let peak = peak_resident_bytes(pid);
    let read = started.elapsed() - generated;
    // SAFETY: `kill` has no memory-safety preconditions; the pid is our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
    let status = tokio::task::spawn_blocking(move || child.0.wait())
        .await
        .expect("wait")
        .expect("exit status");
    assert!(status.success(), "{status}; stderr:\n{}", stderr());
    let (counts, unexpected) = reader.join().expect("stdout reader");
    eprintln!(
        "2 files of {LARGE_ARRAY_EVENTS} events, {size} bytes each: generated in \
         {generated:?}, read in {read:?}, peak resident memory {} MiB",
        peak >> 20
    );
    assert!(
        unexpected.is_empty(),
        "unexpected output: {:?}",
        &unexpected[..unexpected.len().min(3)]
    );
    let missing = counts.iter().filter(|c| **c == 0).count();
    let repeated = counts.iter().filter(|c| **c > 1).count();
    assert_eq!(
        (missing, repeated),
        (0, 0),
        "events missing, events repeated"
    );
    assert!(
        peak < LARGE_ARRAY_MAX_RSS,
        "peak resident memory {} MiB reading {} MB arrays",
        peak >> 20,
        size / 1_000_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_after_and_since_limit_the_backfill() {
    let (server, client) = s3_and_client().await;
    for name in ["2026-01-01", "2026-01-02", "2026-01-03"] {
        put_in_prefix(&client, &format!("{name}.json"), ndjson(&uids(name, 3))).await;
    }
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut source = start(
        &list_config(
            &server,
            &format!("start_after = \"{PREFIX}2026-01-01.json\""),
        ),
        data_dir.path(),
    );
    let got = source.collect(6, Duration::from_secs(10)).await;
    source.assert_quiet(Duration::from_millis(500)).await;
    assert!(got.iter().all(|r| !r.uid.starts_with("2026-01-01")));
    source.stop().await;
    // `since` in the future: nothing listed so far is read, a new object is.
    let data_dir = tempfile::tempdir().expect("tempdir");
    let since = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let mut source = start(
        &list_config(&server, &format!("since = \"{since}\"")),
        data_dir.path(),
    );
    source.assert_quiet(Duration::from_millis(2500)).await;
    put_in_prefix(&client, "2026-01-04.json", ndjson(&uids("new", 2))).await;
    let got = source.collect(2, Duration::from_secs(10)).await;
    assert!(got.iter().all(|r| r.uid.starts_with("new")));
    source.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedupe_drops_uids_seen_in_other_files_and_before_a_restart() {
    let (server, client) = s3_and_client().await;
    put_in_prefix(&client, "1.json", ndjson(&uids("x", 10))).await;
    // Overlaps the first file by 5 events.
    let overlap: Vec<String> = (5..15).map(|i| format!("x-{i:05}")).collect();
    put_in_prefix(&client, "2.json", ndjson(&overlap)).await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let config = list_config(&server, "dedupe = true");
    let mut source = start(&config, data_dir.path());
    let got = source.collect(15, Duration::from_secs(10)).await;
    source.assert_quiet(Duration::from_millis(500)).await;
    let distinct: BTreeSet<&str> = got.iter().map(|r| r.uid.as_str()).collect();
    assert_eq!(distinct.len(), 15);
    assert_eq!(source.metrics.get("deduplicated_events_total"), 5);
    source.stop().await;
    // After a restart, the remembered uids still count.
    put_in_prefix(
        &client,
        "3.json",
        ndjson(&(12..18).map(|i| format!("x-{i:05}")).collect::<Vec<_>>()),
    )
    .await;
    let mut source = start(&config, data_dir.path());
    let got = source.collect(3, Duration::from_secs(10)).await;
    source.assert_quiet(Duration::from_millis(500)).await;
    let uids: Vec<&str> = got.iter().map(|r| r.uid.as_str()).collect();
    assert_eq!(uids, vec!["x-00015", "x-00016", "x-00017"]);
    source.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_the_health_check_and_the_source_keeps_retrying() {
    let server = s3_with_bucket().await;
    put_in_prefix(&server.client(), "a.json", ndjson(&uids("a", 3))).await;
    let config = list_config(&server, "").replace(SECRET_KEY, "wrong-secret");
    let parsed: ConductoroneS3Config = toml::from_str(&config).expect("parses");
    let error = parsed.healthcheck().await.expect_err("unhealthy");
    assert!(
        error.0.contains("SignatureDoesNotMatch") || error.0.contains("403"),
        "{error}"
    );
    let missing: ConductoroneS3Config =
        toml::from_str(&list_config(&server, "").replace(BUCKET, "no-such-bucket"))
            .expect("parses");
    let error = missing.healthcheck().await.expect_err("no bucket");
    assert!(error.0.contains("NoSuchBucket"), "{error}");
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut source = start(&config, data_dir.path());
    let deadline = Instant::now() + Duration::from_secs(10);
    while source.metrics.errors_total() < 2 {
        assert!(Instant::now() < deadline, "the listing errors are counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    source.assert_quiet(Duration::from_millis(300)).await;
    source.stop().await;
}

// ---------------------------------------------------------------- SQS mode (moto)

fn sqs_config(moto: &Moto, queue_url: &str, extra_sqs: &str) -> String {
    format!(
        r#"
strategy = "sqs"
bucket = "{BUCKET}"
prefix = "{PREFIX}"
endpoint = "{endpoint}"
region = "us-east-1"
retry_initial_backoff_secs = 0.05
retry_max_backoff_secs = 1
auth.access_key_id = "{access}"
auth.secret_access_key = "{secret}"

[sqs]
queue_url = "{queue_url}"
poll_secs = 1
client_concurrency = 2
{extra_sqs}
"#,
        endpoint = moto.endpoint,
        access = moto::ACCESS_KEY,
        secret = moto::SECRET_KEY,
    )
}

async fn moto_with_queue() -> (Moto, String) {
    let moto = Moto::start().await;
    let queue_url = moto
        .bucket_notifying_queue(BUCKET, "c1-export-events")
        .await;
    (moto, queue_url)
}

async fn wait_queue_empty(moto: &Moto, queue_url: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let depth = moto.queue_depth(queue_url).await;
        if depth == (0, 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "queue still holds {depth:?} messages"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_queue_deliver_each_object_once() {
    let (moto, queue_url) = moto_with_queue().await;
    let s3 = moto.s3();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let config = sqs_config(&moto, &queue_url, "");
    let mut a = start(&config, dirs[0].path());
    let mut b = start(&config, dirs[1].path());
    let mut expected = BTreeSet::new();
    for file in 0..20 {
        let file_uids = uids(&format!("f{file:02}"), 50);
        expected.extend(file_uids.iter().cloned());
        // A key that must be form-urldecoded from the notification.
        let key = format!("{PREFIX}2026/01/01 export+{file:02}.json.zst");
        let body = if file % 2 == 0 {
            zstd(&ndjson(&file_uids))
        } else {
            gzip(&array(&file_uids))
        };
        put(&s3, &key, body).await;
    }
    let mut all = Vec::new();
    let mut keys_of_a = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while all.len() < expected.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} events",
            all.len(),
            expected.len()
        );
        for (index, source) in [&mut a, &mut b].into_iter().enumerate() {
            if let Ok(Some(batch)) =
                tokio::time::timeout(Duration::from_millis(50), source.batches.recv()).await
            {
                for mut event in batch {
                    let r = received(&event);
                    if index == 0 {
                        keys_of_a.insert(r.key.clone());
                    }
                    all.push(r);
                    event.finalize(BatchStatus::Delivered);
                }
            }
        }
    }
    wait_queue_empty(&moto, &queue_url, Duration::from_secs(15)).await;
    a.assert_quiet(Duration::from_millis(300)).await;
    b.assert_quiet(Duration::from_millis(300)).await;
    let distinct: BTreeSet<&str> = all.iter().map(|r| r.uid.as_str()).collect();
    assert_eq!(
        all.len(),
        expected.len(),
        "each event exactly once: {:?}",
        summary(&all)
    );
    assert_eq!(distinct.len(), expected.len());
    assert!(
        all.iter()
            .any(|r| r.key == "systemlog/2026/01/01 export+03.json.zst")
    );
    assert_eq!(
        a.metrics.get("objects_read_total") + b.metrics.get("objects_read_total"),
        20
    );
    // A repeated notification (no ETag in it) for a version an instance delivered is deleted
    // by that instance without sending anything again. (The instances do not share what they
    // delivered: the other one is stopped so the repeat reaches the right one.)
    let (mut keeper, other, key) = match keys_of_a.first() {
        Some(key) => (a, b, key.clone()),
        None => (b, a, all[0].key.clone()),
    };
    other.stop().await;
    let encoded = key
        .replace('+', "%2B")
        .replace(' ', "+")
        .replace('/', "%2F");
    let repeat = serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": BUCKET},
        "object": {"key": encoded}}}]});
    send_to_queue(&moto.sqs(), &queue_url, &repeat.to_string()).await;
    wait_queue_empty(&moto, &queue_url, Duration::from_secs(10)).await;
    keeper.assert_quiet(Duration::from_millis(300)).await;
    assert_eq!(keeper.metrics.get("sqs_duplicate_notifications_total"), 1);
    keeper.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_leaves_the_message_on_the_queue() {
    let (moto, queue_url) = moto_with_queue().await;
    let data_dir = tempfile::tempdir().unwrap();
    let config = sqs_config(&moto, &queue_url, "visibility_timeout_secs = 2");
    let mut source = start(&config, data_dir.path());
    put_in_prefix(
        &moto.s3(),
        "rejected.json.zst",
        zstd(&ndjson(&uids("r", 10))),
    )
    .await;
    // Rejected by the sink: the message stays (for redelivery or the dead-letter queue).
    let first = source.reject(10, Duration::from_secs(20)).await;
    assert_eq!(first.len(), 10);
    source
        .wait_metric("sqs_messages_failed_total", 1, Duration::from_secs(10))
        .await;
    let depth = moto.queue_depth(&queue_url).await;
    assert_eq!(
        depth.0 + depth.1,
        1,
        "the message is still on the queue: {depth:?}"
    );
    // It comes back after the visibility timeout; delivered this time, then deleted.
    let again = source.collect(10, Duration::from_secs(20)).await;
    assert!(again.iter().all(|r| r.uid.starts_with('r')));
    wait_queue_empty(&moto, &queue_url, Duration::from_secs(10)).await;
    // Errored: received again soon after a backoff, then delivered and deleted.
    put_in_prefix(
        &moto.s3(),
        "errored.json.zst",
        zstd(&ndjson(&uids("e", 10))),
    )
    .await;
    let mut failed_once = false;
    let both = source
        .collect_until(
            Duration::from_secs(20),
            |_| {
                if failed_once {
                    BatchStatus::Delivered
                } else {
                    failed_once = true;
                    BatchStatus::Errored
                }
            },
            |all| all.len() >= 20,
        )
        .await;
    assert_eq!(both.len(), 20);
    wait_queue_empty(&moto, &queue_url, Duration::from_secs(10)).await;
    source.assert_quiet(Duration::from_millis(500)).await;
    source.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_a_slow_object_invisible_to_other_consumers() {
    let (moto, queue_url) = moto_with_queue().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let config = sqs_config(&moto, &queue_url, "visibility_timeout_secs = 3")
        .replace("client_concurrency = 2", "client_concurrency = 1");
    // Drain the s3:TestEvent first, so the slow instance is the one that gets the object.
    let mut slow = start(&config, dirs[0].path());
    slow.wait_metric("sqs_messages_deleted_total", 1, Duration::from_secs(10))
        .await;
    put_in_prefix(&moto.s3(), "slow.json.zst", zstd(&ndjson(&uids("s", 20)))).await;
    let batch = tokio::time::timeout(Duration::from_secs(10), slow.batches.recv())
        .await
        .expect("the slow instance receives the object")
        .expect("open");
    let mut held: Vec<Event> = batch;
    // Hold the acknowledgement for three visibility timeouts while another consumer polls.
    let mut other = start(&config, dirs[1].path());
    other.assert_quiet(Duration::from_secs(9)).await;
    assert!(slow.metrics.get("sqs_visibility_extensions_total") >= 2);
    for event in held.iter_mut() {
        event.finalize(BatchStatus::Delivered);
    }
    drop(held);
    wait_queue_empty(&moto, &queue_url, Duration::from_secs(10)).await;
    other.assert_quiet(Duration::from_millis(500)).await;
    slow.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_output_is_released_before_final_acknowledgements_and_unacknowledged_objects_are_bounded()
 {
    let (server, client) = s3_and_client().await;
    for file in 0..6 {
        put_in_prefix(
            &client,
            &format!("{file}.json"),
            ndjson(&uids(&format!("f{file}"), 3)),
        )
        .await;
    }
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut source = start(
        &list_config(
            &server,
            "max_unacknowledged_objects = 2\nmax_concurrent_objects = 1",
        ),
        data_dir.path(),
    );
    // A sink that acknowledges nothing until its input closes (like one that flushes then).
    let mut held: Vec<Event> = Vec::new();
    while held.len() < 6 {
        let batch = tokio::time::timeout(Duration::from_secs(10), source.batches.recv())
            .await
            .expect("events of the first two objects")
            .expect("open");
        held.extend(batch);
    }
    source.assert_quiet(Duration::from_millis(800)).await;
    let keys: BTreeSet<String> = held.iter().map(|e| received(e).key).collect();
    assert_eq!(keys.len(), 2, "at most 2 unacknowledged objects: {keys:?}");
    // Shutdown while the bound is reached: the source must close its output, then wait.
    source.shutdown.cancel();
    let Running {
        mut batches, task, ..
    } = source;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(batch) = batches.recv().await {
            held.extend(batch);
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the source did not close its output before waiting"
    );
    for event in held.iter_mut() {
        event.finalize(BatchStatus::Delivered);
    }
    drop(held);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stops once acknowledged")
        .expect("no panic")
        .expect("clean");
    assert_eq!(checkpoint_keys(data_dir.path()).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_messages_of_every_shape_are_handled_and_rejected_events_come_back_despite_dedupe() {
    let (moto, queue_url) = moto_with_queue().await;
    let s3 = moto.s3();
    let data_dir = tempfile::tempdir().unwrap();
    let config = sqs_config(&moto, &queue_url, "visibility_timeout_secs = 2")
        .replace("strategy = \"sqs\"", "strategy = \"sqs\"\ndedupe = true");
    let mut source = start(&config, data_dir.path());
    source
        .wait_metric("sqs_messages_deleted_total", 1, Duration::from_secs(10))
        .await; // the s3:TestEvent
    // Rejected once: with dedupe on, the events must come back (not be dropped as seen).
    put_in_prefix(&s3, "r.json.zst", zstd(&ndjson(&uids("r", 5)))).await;
    let first = source.reject(5, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 5);
    let again = source.collect(5, Duration::from_secs(20)).await;
    assert!(again.iter().all(|r| r.uid.starts_with("r-")), "{again:?}");
    wait_queue_empty(&moto, &queue_url, Duration::from_secs(10)).await;
    // One message, an SNS envelope, naming a delivered key twice: deleted, nothing sent again.
    let sqs = moto.sqs();
    put_in_prefix(&s3, "twice.json", ndjson(&uids("twice", 3))).await;
    let twice = source.collect(3, Duration::from_secs(10)).await;
    assert!(twice.iter().all(|r| r.uid.starts_with("twice-")));
    wait_queue_empty(&moto, &queue_url, Duration::from_secs(10)).await;
    let record = |key: &str| {
        serde_json::json!({"eventName": "ObjectCreated:Put", "s3": {
            "bucket": {"name": BUCKET}, "object": {"key": key}}})
    };
    let inner = serde_json::json!({"Records": [record("systemlog%2Ftwice.json"), record("systemlog%2Ftwice.json")]});
    let sns = serde_json::json!({"Type": "Notification", "Message": inner.to_string()});
    send_to_queue(&sqs, &queue_url, &sns.to_string()).await;
    wait_queue_empty(&moto, &queue_url, Duration::from_secs(10)).await;
    source.assert_quiet(Duration::from_millis(500)).await;
    assert_eq!(source.metrics.get("sqs_duplicate_notifications_total"), 1);
    // A key outside the prefix: not read, and the message is left for whoever it is meant for.
    let outside = serde_json::json!({"Records": [record("elsewhere%2Fx.json")]});
    send_to_queue(&sqs, &queue_url, &outside.to_string()).await;
    source
        .wait_metric("sqs_messages_ignored_total", 1, Duration::from_secs(10))
        .await;
    let depth = moto.queue_depth(&queue_url).await;
    assert_eq!(depth.0 + depth.1, 1, "left on the queue: {depth:?}");
    // Not a notification at all: left too, and counted.
    send_to_queue(&sqs, &queue_url, "hello").await;
    source
        .wait_metric("sqs_messages_invalid_total", 1, Duration::from_secs(10))
        .await;
    source.assert_quiet(Duration::from_millis(300)).await;
    source.stop().await;
}
