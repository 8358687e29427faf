//! `conductorone_s3` source throughput: a list-mode backfill of zstd NDJSON files from a local
//! S3 server into `blackhole`, against the `stdin (json)` source reading the same events
//! uncompressed.
//!
//! Workload: `N` events (default 200,000) from `bench/gen_c1_events.py`, the shared workload,
//! split into `C1_BENCH_FILES` files (default 90, about what the exporter writes in eight hours)
//! compressed with zstd level 3 and stored in s3s-fs (the server the integration tests use,
//! verifying SigV4) inside this process. The pipeline (`conductorone_s3 -> blackhole`, release
//! build) runs as a child process from a fresh `data_dir` and is stopped with SIGTERM as soon
//! as its checkpoint lists every file as delivered (so every event was delivered and
//! acknowledged). The baseline is the same binary with `stdin (json) -> blackhole` reading the
//! uncompressed workload.
//!
//! Both children are measured exactly with `wait4(2)`; the server's CPU is this process's own
//! over the run, reported separately. Runs alternate (`C1_BENCH_RUNS`, default 3); medians are
//! reported with the target: source CPU per event at most 1.3× the stdin source's (median of
//! paired ratios), plus events/s and MB/s (uncompressed and as stored). Each run checks from
//! the blackhole's final count that exactly `N` events arrived. A missed target is reported,
//! not fatal.
//!
//! Run with `cargo bench --bench conductorone_s3`. Without `--bench` (as under
//! `cargo test --all-targets`) it is a smoke run: 2,000 events in 9 files, one run, counts only.

mod common;
#[path = "../tests/common/s3_server.rs"]
mod s3_server;

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::Path;

use common::{
    BenchResult, Measurement, STDIN_BLACKHOLE_TOML, SourceMedians, SourceRun, SourceUnderTest,
    Targets, alternate_source_rounds, ensure_workload, env_number, pipeline_binary, server_runtime,
    timed_runs, verdict, workload_events,
};
use s3_server::S3Server;

fn main() -> std::process::ExitCode {
    common::bench_main("conductorone_s3", run)
}

const DEFAULT_FILES: u64 = 90;
const SMOKE_FILES: u64 = 9;
/// Target: CPU per event at most this multiple of the stdin source's.
const MAX_CPU_RATIO: f64 = 1.3;
const BUCKET: &str = "c1-export";
const PREFIX: &str = "systemlog/";

/// Splits the workload into `files` zstd NDJSON objects; returns the compressed bytes stored.
/// Streams the workload (one file's lines at a time), so this process stays small: a child's
/// peak RSS starts from its parent's at `fork`.
fn upload(
    runtime: &tokio::runtime::Runtime,
    server: &S3Server,
    workload: &Path,
    files: u64,
    events: u64,
) -> BenchResult<u64> {
    let per_file = (events as usize).div_ceil(files as usize).max(1);
    let client = server.client();
    let mut stored = 0u64;
    let mut lines = BufReader::new(File::open(workload)?).lines();
    let mut index = 0;
    loop {
        let mut text = String::new();
        for line in lines.by_ref().take(per_file) {
            text.push_str(&line?);
            text.push('\n');
        }
        if text.is_empty() {
            return Ok(stored);
        }
        let body = zstd::encode_all(text.as_bytes(), 3)?;
        stored += body.len() as u64;
        let key = format!("{PREFIX}2026/01/01/export-{index:04}.json.zst");
        runtime.block_on(
            client
                .put_object()
                .bucket(BUCKET)
                .key(&key)
                .body(body.into())
                .send(),
        )?;
        index += 1;
    }
}

/// One backfill from a fresh data_dir, stopped once the checkpoint lists every file.
fn run_s3(binary: &Path, dir: &Path, files: usize, events: u64) -> BenchResult<SourceRun> {
    let source = SourceUnderTest {
        name: "s3",
        checkpoint: "export/objects.json",
        envs: &[],
    };
    source.run(binary, dir, events, |checkpoint| {
        checkpoint["delivered"].as_object().map_or(0, |o| o.len()) >= files
    })
}

fn run(bench_mode: bool) -> BenchResult<bool> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let events = workload_events(bench_mode)?;
    let default_files = if bench_mode {
        DEFAULT_FILES
    } else {
        SMOKE_FILES
    };
    let files = env_number("C1_BENCH_FILES", default_files)?;
    let runs = if bench_mode { timed_runs()? } else { 1 };
    if events == 0 || runs == 0 || files == 0 || files > events {
        return Err("C1_BENCH_EVENTS, C1_BENCH_FILES and C1_BENCH_RUNS must be at least 1, and files at most events".into());
    }
    let workload = ensure_workload(root, events)?;
    let workload_bytes = fs::metadata(&workload)?.len();
    let binary = pipeline_binary();

    let runtime = server_runtime(1)?;
    let server = runtime.block_on(S3Server::start());
    runtime.block_on(server.create_bucket(BUCKET));
    let stored_bytes = upload(&runtime, &server, &workload, files, events)?;
    let files = (events as usize).div_ceil((events as usize).div_ceil(files as usize));
    let dir = tempfile::tempdir()?;
    fs::write(
        dir.path().join("s3.toml"),
        format!(
            r#"data_dir = "{data}"
[sources.export]
type = "conductorone_s3"
{options}
poll_interval_secs = 3600

[sinks.out]
type = "blackhole"
inputs = ["export"]
print_interval_secs = 3600
"#,
            data = dir.path().join("data").display(),
            options = server.source_options(BUCKET, PREFIX),
        ),
    )?;
    fs::write(dir.path().join("stdin.toml"), STDIN_BLACKHOLE_TOML)?;

    println!(
        "conductorone_s3 source benchmark: list-mode backfill from s3s-fs on loopback -> blackhole"
    );
    println!(
        "workload : {} ({events} events, {:.1} MB) in {files} zstd files ({:.1} MB stored)",
        workload.display(),
        workload_bytes as f64 / 1e6,
        stored_bytes as f64 / 1e6
    );
    println!(
        "pipeline : {} --config s3.toml (conductorone_s3 -> blackhole)",
        binary.display()
    );
    println!(
        "baseline : {} --config stdin.toml < workload (stdin json -> blackhole)",
        binary.display()
    );

    let rounds = alternate_source_rounds(
        "conductorone_s3",
        runs,
        &binary,
        dir.path(),
        &workload,
        events,
        || run_s3(&binary, dir.path(), files, events),
    )?;
    let Some(SourceMedians {
        source: s3,
        stdin,
        server_cpu,
        cpu_ratio,
    }) = rounds.conclude(events, bench_mode, &[])
    else {
        return Ok(true);
    };
    let n = events as f64;
    println!();
    println!("events {events}  (medians)");
    println!(
        "{:<32} {:>9} {:>9} {:>13} {:>10} {:>10}",
        "", "CPU s", "wall s", "CPU µs/event", "events/s", "MB/s"
    );
    let row = |name: &str, m: &Measurement| {
        println!(
            "{name:<32} {:>9.3} {:>9.3} {:>13.2} {:>10.0} {:>10.1}",
            m.cpu_secs,
            m.wall_secs,
            m.cpu_secs / n * 1e6,
            n / m.wall_secs,
            workload_bytes as f64 / 1e6 / m.wall_secs
        );
    };
    row("stdin (json) -> blackhole", &stdin);
    row("conductorone_s3 -> blackhole", &s3);
    println!(
        "{:<32} {:>9.3} {:>9} {:>13.2}",
        "S3 server (this process)",
        server_cpu,
        "",
        server_cpu / n * 1e6
    );
    println!(
        "stored (compressed) MB/s read: {:.1}; peak RSS of the source: {:.1} MiB",
        stored_bytes as f64 / 1e6 / s3.wall_secs,
        s3.max_rss_mib
    );
    println!();
    let targets = Targets {
        label: 40,
        measured: 12,
    };
    targets.header("target");
    targets.ratio(
        &format!("CPU/event <= {MAX_CPU_RATIO:.1}x stdin (paired)"),
        cpu_ratio,
        verdict(cpu_ratio <= MAX_CPU_RATIO),
    );
    drop(server);
    Ok(true)
}
