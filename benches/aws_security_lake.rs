//! Security Lake benchmark: the workload through `stdin (json) -> route (class) ->
//! aws_security_lake ×2` (Parquet, zstd; `bench/security-lake.toml`) against `stdin (json) ->
//! aws_s3 (gzip NDJSON)` (`bench/s3-gzip-ndjson.toml`) on the same events, both writing to the
//! S3 test server (s3s-fs, verifying signatures), which runs on a thread of this harness so its
//! CPU is not the pipelines' (each pipeline is a child process measured with `wait4(2)`).
//!
//! Targets (issue 17): CPU per event at most that of `aws_s3` with gzip NDJSON (median of
//! paired ratios ≤ 1.0); peak RSS of the Security Lake pipeline ≤ 160 MiB. Before timing, one
//! run of each is read back: the gzip objects' lines are counted, the Parquet objects' rows
//! are read with the `parquet` crate; both must hold every event of the workload, or the
//! benchmark fails. Missed targets are reported, not fatal.
//!
//! Run with `cargo bench --bench aws_security_lake` (`C1_BENCH_EVENTS`, default 200,000;
//! `C1_BENCH_RUNS`, default 3). Without `--bench` (as under `cargo test --all-targets`) it is a
//! smoke run: 2,000 events, the count checks only.

mod common;
#[path = "../tests/common/s3_server.rs"]
mod s3_server;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use common::{BenchResult, Contender, Measurement, OutputSink, Targets, measure, median, verdict};
use s3_server::S3Server;

/// Target: Security Lake CPU ≤ this × the gzip NDJSON pipeline's.
const MAX_CPU_RATIO: f64 = 1.0;
/// Target: peak RSS of the Security Lake pipeline, in MiB.
const MAX_RSS_MIB: f64 = 160.0;
/// The bucket both configurations write to.
const BUCKET: &str = "bench";

fn main() -> ExitCode {
    common::bench_main("aws_security_lake", run_harness)
}

fn contender(name: &'static str, config: &str, endpoint: &str, prefix: &str) -> Contender {
    Contender::pipeline(
        name,
        config,
        &[
            ("C1_BENCH_S3_ENDPOINT", endpoint),
            ("C1_BENCH_S3_PREFIX", prefix),
        ],
    )
}

/// Every file under `dir` (recursively) whose name ends with `extension`.
fn files(dir: &Path, extension: &str) -> BenchResult<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        } else if path.to_string_lossy().ends_with(extension) {
            found.push(path);
        }
    }
    Ok(found)
}

/// Events in the gzip NDJSON objects under `prefix`.
fn ndjson_events(root: &Path, prefix: &str) -> BenchResult<u64> {
    let mut events = 0;
    for path in files(&root.join(BUCKET).join(prefix), ".log.gz")? {
        let decoder = flate2::read::MultiGzDecoder::new(File::open(&path)?);
        events += common::count_newlines(decoder)?;
    }
    Ok(events)
}

/// Rows in the Parquet objects under `prefix` (from their footers), the number of objects and
/// the largest object's size.
fn parquet_rows(root: &Path, prefix: &str) -> BenchResult<(u64, usize, u64)> {
    let mut rows = 0;
    let mut largest = 0;
    let objects = files(&root.join(BUCKET).join(prefix), ".parquet")?;
    for path in &objects {
        let file = File::open(path)?;
        largest = largest.max(file.metadata()?.len());
        let reader = parquet::file::reader::SerializedFileReader::new(file)?;
        let metadata = parquet::file::reader::FileReader::metadata(&reader);
        rows += metadata.file_metadata().num_rows() as u64;
    }
    Ok((rows, objects.len(), largest))
}

fn run_harness(bench_mode: bool) -> BenchResult<bool> {
    let (root, events, runs, workload) = common::setup(bench_mode)?;
    let runtime = common::server_runtime(1)?;
    let server = runtime.block_on(S3Server::start());
    runtime.block_on(server.create_bucket(BUCKET));
    let endpoint = server.endpoint.clone();
    let store = server.root.path().to_path_buf();
    let gzip = |prefix: &str| {
        contender(
            "aws_s3 gzip NDJSON",
            "bench/s3-gzip-ndjson.toml",
            &endpoint,
            prefix,
        )
    };
    let lake = |prefix: &str| {
        contender(
            "aws_security_lake",
            "bench/security-lake.toml",
            &endpoint,
            prefix,
        )
    };
    println!(
        "c1-pipeline Security Lake benchmark: stdin -> route -> aws_security_lake x2 (Parquet, zstd)"
    );
    println!("            against stdin -> aws_s3 (gzip NDJSON) on the same events");
    println!("workload : {} ({events} events)", workload.display());
    lake("run").print_pipeline_line(
        root,
        &format!("C1_BENCH_S3_ENDPOINT={endpoint} C1_BENCH_S3_PREFIX=... "),
        "",
    );

    measure(&gzip("verify-gzip"), root, &workload, OutputSink::DevNull)?;
    measure(&lake("verify-lake"), root, &workload, OutputSink::DevNull)?;
    let lines = ndjson_events(&store, "verify-gzip")?;
    let (rows, objects, largest) = parquet_rows(&store, "verify-lake")?;
    if lines != events || rows != events {
        eprintln!(
            "aws_security_lake: FAIL: {events} events in, {lines} NDJSON lines and {rows} Parquet rows out"
        );
        return Ok(false);
    }
    println!(
        "output   : {events} events as NDJSON lines and as rows of {objects} Parquet object(s) (largest {:.1} MB), read back (counts agree)",
        largest as f64 / 1e6
    );
    if common::smoke_run_ends(bench_mode, "delivery counts checked") {
        return Ok(true);
    }

    let mut rows: Vec<[Measurement; 2]> = Vec::with_capacity(runs);
    for run in 1..=runs {
        let (reference, _) = measure(
            &gzip(&format!("gzip-{run}")),
            root,
            &workload,
            OutputSink::DevNull,
        )?;
        let (parquet, _) = measure(
            &lake(&format!("lake-{run}")),
            root,
            &workload,
            OutputSink::DevNull,
        )?;
        println!("run {run}/{runs}: gzip NDJSON {reference}\n           Security Lake {parquet}");
        rows.push([reference, parquet]);
    }
    let [reference, parquet] = common::column_medians(&rows);
    let ratio = median(rows.iter().map(|r| r[1].cpu_secs / r[0].cpu_secs).collect());
    println!("\nevents {events} (medians of {runs} runs)");
    common::print_medians(
        24,
        &[
            ("aws_s3 gzip NDJSON", reference),
            ("aws_security_lake", parquet),
        ],
    );
    let per_event = |m: Measurement| m.cpu_secs * 1e6 / events as f64;
    println!(
        "CPU per event: aws_s3 gzip NDJSON {:.2} µs, aws_security_lake {:.2} µs",
        per_event(reference),
        per_event(parquet)
    );
    println!();
    let targets = Targets {
        label: 48,
        measured: 10,
    };
    targets.header("target (median of paired ratios)");
    targets.ratio(
        &format!("CPU <= {MAX_CPU_RATIO}x aws_s3 gzip NDJSON"),
        ratio,
        verdict(ratio <= MAX_CPU_RATIO),
    );
    targets.mib(
        &format!("peak RSS <= {MAX_RSS_MIB:.0} MiB"),
        parquet.max_rss_mib,
        verdict(parquet.max_rss_mib <= MAX_RSS_MIB),
    );
    drop(server);
    Ok(true)
}
