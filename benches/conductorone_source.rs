//! `conductorone` source throughput: a backfill from a fake tenant on loopback into
//! `blackhole`, against the `stdin (json)` source into `blackhole` on the same events.
//!
//! Workload: `N` events (default 200,000) from `bench/gen_c1_events.py`, the shared workload of
//! the core benchmark. The fake tenant (`tests/common/c1_server.rs`, the one the integration
//! tests use) runs inside this process and serves them in pages of 100; the pipeline
//! (`conductorone -> blackhole`, release build) runs as a child process from a fresh
//! `data_dir`, and is stopped with SIGTERM as soon as its checkpoint holds the last event's
//! uid (so every event was delivered and acknowledged). The baseline is the same binary with
//! `stdin (json) -> blackhole`, reading the workload file.
//!
//! Both children are measured exactly with `wait4(2)` (user + system CPU, wall time); the
//! server's CPU is this process's own `getrusage` over the run, reported separately. Runs
//! alternate (`C1_BENCH_RUNS`, default 3) and medians are reported with the targets: at least
//! 50,000 events/s, and source CPU per event at most 1.5× the stdin source's (median of paired
//! ratios). Each run also checks from the blackhole's final count that exactly `N` events
//! arrived. Missed targets are reported, not fatal.
//!
//! Run with `cargo bench --bench conductorone_source`. Without `--bench` (as under
//! `cargo test --all-targets`) it is a smoke run: 2,000 events, one run, counts only.

#[path = "../tests/common/c1_server.rs"]
mod c1_server;
mod common;

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::ExitCode;

use c1_server::{FakeC1, StoredEvent};
use common::{
    BenchResult, STDIN_BLACKHOLE_TOML, SourceMedians, SourceRun, SourceUnderTest, Targets,
    alternate_source_rounds, check_events_and_runs, ensure_workload, pipeline_binary,
    server_runtime, timed_runs, verdict, workload_events,
};

/// Target: events per second through the conductorone source.
const MIN_EVENTS_PER_SEC: f64 = 50_000.0;
/// Target: conductorone CPU per event at most this multiple of the stdin source's.
const MAX_CPU_RATIO: f64 = 1.5;
const CLIENT_ID: &str = "bench-client@acme.conductor.one/spc";
const PAGE_SIZE: u32 = 100;

fn main() -> ExitCode {
    common::bench_main("conductorone_source", run)
}

/// The workload's events for the fake tenant, in ascending `time` (the API's order).
fn load_events(path: &Path) -> BenchResult<Vec<StoredEvent>> {
    let file = File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    let mut events = Vec::new();
    for line in BufReader::new(file).lines() {
        let json = line?;
        let value: serde_json::Value = serde_json::from_str(&json)?;
        let uid = value["metadata"]["uid"]
            .as_str()
            .ok_or("an event without metadata.uid")?
            .to_owned();
        let time = value["time"].as_i64().ok_or("an event without time")?;
        events.push(StoredEvent { uid, time, json });
    }
    events.sort_by_key(|e| e.time);
    Ok(events)
}

/// One conductorone backfill from a fresh data_dir, stopped once the checkpoint is at `last_uid`.
fn run_conductorone(
    binary: &Path,
    dir: &Path,
    secret: &str,
    last_uid: &str,
    events: u64,
) -> BenchResult<SourceRun> {
    let source = SourceUnderTest {
        name: "c1",
        checkpoint: "c1/checkpoint.json",
        envs: &[("C1_BENCH_SECRET", secret)],
    };
    source.run(binary, dir, events, |checkpoint| {
        checkpoint["last_uid"] == last_uid
    })
}

fn run(bench_mode: bool) -> BenchResult<bool> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let events = workload_events(bench_mode)?;
    let runs = if bench_mode { timed_runs()? } else { 1 };
    check_events_and_runs(events, runs)?;
    let workload = ensure_workload(root, events)?;
    let stored = load_events(&workload)?;
    let last_uid = stored
        .last()
        .map(|e| e.uid.clone())
        .ok_or("empty workload")?;
    let binary = pipeline_binary();

    let runtime = server_runtime(2)?;
    let server = runtime.block_on(FakeC1::start(CLIENT_ID, stored));
    let secret = server.secret();
    let dir = tempfile::tempdir()?;
    fs::write(
        dir.path().join("c1.toml"),
        format!(
            r#"data_dir = "{}"
[sources.c1]
type = "conductorone"
client_id = "{CLIENT_ID}"
client_secret = "${{C1_BENCH_SECRET}}"
base_url = "{}"
start_at = "beginning"
page_size = {PAGE_SIZE}

[sinks.out]
type = "blackhole"
inputs = ["c1"]
print_interval_secs = 3600
"#,
            dir.path().join("data").display(),
            server.base_url()
        ),
    )?;
    fs::write(dir.path().join("stdin.toml"), STDIN_BLACKHOLE_TOML)?;

    println!(
        "conductorone source benchmark: fake tenant on loopback (pages of {PAGE_SIZE}) -> blackhole"
    );
    println!("workload : {} ({events} events)", workload.display());
    println!(
        "pipeline : {} --config c1.toml (conductorone -> blackhole)",
        binary.display()
    );
    println!(
        "baseline : {} --config stdin.toml < workload (stdin json -> blackhole)",
        binary.display()
    );

    let rounds = alternate_source_rounds(
        "conductorone",
        runs,
        &binary,
        dir.path(),
        &workload,
        events,
        || run_conductorone(&binary, dir.path(), &secret, &last_uid, events),
    )?;
    let notes = [
        "a child's peak RSS includes this harness's resident set at spawn (the workload it serves): ignore RSS here",
    ];
    let Some(SourceMedians {
        source: c1,
        stdin,
        server_cpu,
        cpu_ratio,
    }) = rounds.conclude(events, bench_mode, &notes)
    else {
        return Ok(true);
    };
    let n = events as f64;
    let rate = n / c1.wall_secs;
    println!();
    println!("events {events}  (medians)");
    println!(
        "{:<32} {:>9} {:>9} {:>13} {:>10}",
        "", "CPU s", "wall s", "CPU µs/event", "events/s"
    );
    println!(
        "{:<32} {:>9.3} {:>9.3} {:>13.2} {:>10.0}",
        "stdin (json) -> blackhole",
        stdin.cpu_secs,
        stdin.wall_secs,
        stdin.cpu_secs / n * 1e6,
        n / stdin.wall_secs
    );
    println!(
        "{:<32} {:>9.3} {:>9.3} {:>13.2} {:>10.0}",
        "conductorone -> blackhole",
        c1.cpu_secs,
        c1.wall_secs,
        c1.cpu_secs / n * 1e6,
        rate
    );
    println!(
        "{:<32} {:>9.3} {:>9} {:>13.2}",
        "fake tenant (this process)",
        server_cpu,
        "",
        server_cpu / n * 1e6
    );
    println!(
        "CPU share: source {:.0}%, server {:.0}%",
        100.0 * c1.cpu_secs / (c1.cpu_secs + server_cpu),
        100.0 * server_cpu / (c1.cpu_secs + server_cpu)
    );
    println!();
    let targets = Targets {
        label: 40,
        measured: 12,
    };
    targets.header("target");
    targets.count(
        &format!("events/s >= {MIN_EVENTS_PER_SEC:.0}"),
        rate,
        verdict(rate >= MIN_EVENTS_PER_SEC),
    );
    targets.ratio(
        &format!("CPU/event <= {MAX_CPU_RATIO:.1}x stdin (paired)"),
        cpu_ratio,
        verdict(cpu_ratio <= MAX_CPU_RATIO),
    );
    Ok(true)
}
