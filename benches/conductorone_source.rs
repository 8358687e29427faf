//! `conductorone` source throughput: a backfill from a fake tenant on loopback into
//! `blackhole`, with DPoP-bound tokens and with Bearer tokens, against the `stdin (json)`
//! source into `blackhole` on the same events.
//!
//! Workload: `N` events (default 200,000) from `bench/gen_c1_events.py`, the shared workload of
//! the core benchmark. The fake tenant (`tests/common/c1_server.rs`, the one the integration
//! tests use) runs inside this process and serves them in pages of 100; the pipeline
//! (`conductorone -> blackhole`, release build) runs as a child process from a fresh
//! `data_dir`, and is stopped with SIGTERM as soon as its checkpoint holds the last event's
//! uid (so every event was delivered and acknowledged). The baseline is the same binary with
//! `stdin (json) -> blackhole`, reading the workload file.
//!
//! Each round runs the baseline and the source twice: against a tenant whose credential
//! requires DPoP (the source's default: a proof on every request, each validated by the
//! tenant as ConductorOne's validator does) and with `dpop = false` against one that issues
//! Bearer tokens (no proofs), in alternating order. Targets for the DPoP run: at least 50,000
//! events/s, and at least 90% of the Bearer run's events/s (medians).
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

use c1_server::{Dpop, FakeC1, StoredEvent};
use common::{
    BenchResult, Measurement, STDIN_BLACKHOLE_TOML, SourceMedians, SourceRounds, SourceRun,
    SourceUnderTest, Targets, check_events_and_runs, ensure_workload, median, pipeline_binary,
    run_stdin_blackhole, server_runtime, timed_runs, verdict, workload_events,
};

/// Target: events per second through the conductorone source.
const MIN_EVENTS_PER_SEC: f64 = 50_000.0;
/// Target: events per second with DPoP at least this share of the Bearer figure.
const MIN_DPOP_SHARE_OF_BEARER: f64 = 0.90;
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

/// One conductorone backfill (`<dir>/<name>.toml`) from a fresh data_dir, stopped once the
/// checkpoint is at `last_uid`.
fn run_conductorone(
    binary: &Path,
    dir: &Path,
    name: &str,
    secret: &str,
    last_uid: &str,
    events: u64,
) -> BenchResult<SourceRun> {
    let source = SourceUnderTest {
        name,
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
    for (name, extra) in [("c1", ""), ("c1-bearer", "dpop = false\n")] {
        fs::write(
            dir.path().join(format!("{name}.toml")),
            format!(
                r#"data_dir = "{}"
[sources.c1]
type = "conductorone"
client_id = "{CLIENT_ID}"
client_secret = "${{C1_BENCH_SECRET}}"
base_url = "{}"
start_at = "beginning"
page_size = {PAGE_SIZE}
{extra}
[sinks.out]
type = "blackhole"
inputs = ["c1"]
print_interval_secs = 3600
"#,
                dir.path().join("data").display(),
                server.base_url()
            ),
        )?;
    }
    fs::write(dir.path().join("stdin.toml"), STDIN_BLACKHOLE_TOML)?;

    println!(
        "conductorone source benchmark: fake tenant on loopback (pages of {PAGE_SIZE}) -> blackhole"
    );
    println!("workload : {} ({events} events)", workload.display());
    println!(
        "pipeline : {} --config c1.toml (conductorone -> blackhole; the tenant requires DPoP)",
        binary.display()
    );
    println!(
        "bearer   : {} --config c1-bearer.toml (the same with dpop = false: Bearer tokens)",
        binary.display()
    );
    println!(
        "baseline : {} --config stdin.toml < workload (stdin json -> blackhole)",
        binary.display()
    );

    let mut rounds = SourceRounds {
        stdin: Vec::new(),
        source: Vec::new(),
    };
    let mut bearer_runs = Vec::new();
    for run in 1..=runs {
        let base = run_stdin_blackhole(&binary, dir.path(), &workload, events)?;
        let measure = |dpop: bool| -> BenchResult<SourceRun> {
            server.lock().dpop = if dpop { Dpop::Required } else { Dpop::Optional };
            let name = if dpop { "c1" } else { "c1-bearer" };
            run_conductorone(&binary, dir.path(), name, &secret, &last_uid, events)
        };
        // Alternate which goes first, so drift in machine speed favours neither.
        let (dpop, bearer) = if run % 2 == 1 {
            let dpop = measure(true)?;
            (dpop, measure(false)?)
        } else {
            let bearer = measure(false)?;
            (measure(true)?, bearer)
        };
        let refused = server.lock().proof_failures.clone();
        if !refused.is_empty() {
            return Err(format!("the tenant refused proofs: {refused:?}").into());
        }
        println!(
            "run {run}/{runs}: stdin {base} | dpop {} | bearer {} | DPoP/Bearer wall {:.3}",
            dpop.child,
            bearer.child,
            dpop.child.wall_secs / bearer.child.wall_secs
        );
        rounds.stdin.push(base);
        rounds.source.push(dpop);
        bearer_runs.push(bearer);
    }
    if server.lock().dpop_calls == 0 {
        return Err("no API call used a DPoP-bound token".into());
    }
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
    let bearer = Measurement::median(&bearer_runs.iter().map(|r| r.child).collect::<Vec<_>>());
    let bearer_rate = n / bearer.wall_secs;
    let paired_share = median(
        rounds
            .source
            .iter()
            .zip(&bearer_runs)
            .map(|(dpop, bearer)| bearer.child.wall_secs / dpop.child.wall_secs)
            .collect(),
    );
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
        "{:<34} {:>9.3} {:>9.3} {:>13.2} {:>10.0}",
        "conductorone (DPoP) -> blackhole",
        c1.cpu_secs,
        c1.wall_secs,
        c1.cpu_secs / n * 1e6,
        rate
    );
    println!(
        "{:<34} {:>9.3} {:>9.3} {:>13.2} {:>10.0}",
        "conductorone (Bearer) -> blackhole",
        bearer.cpu_secs,
        bearer.wall_secs,
        bearer.cpu_secs / n * 1e6,
        bearer_rate
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
    let share = rate / bearer_rate;
    targets.ratio(
        &format!("DPoP events/s >= {MIN_DPOP_SHARE_OF_BEARER:.2}x Bearer"),
        share,
        verdict(share >= MIN_DPOP_SHARE_OF_BEARER),
    );
    println!("(paired per round: DPoP events/s = {paired_share:.3}x Bearer, median)");
    Ok(true)
}
