//! Splunk HEC benchmark: the core workload through `stdin (json) -> remap -> filter ->
//! splunk_hec_logs (gzip)` (`bench/splunk-hec.toml`) into the HEC emulator of the tests, against
//! the serde_json baseline loop of the core benchmark, measured in the same run.
//!
//! The emulator runs on a thread of this harness (counting events, keeping none), so its CPU
//! is not counted as pipeline CPU: only the child `c1-pipeline` is measured, with `wait4(2)`.
//! Each round runs the baseline, the pipeline with a token that has indexer acknowledgement
//! (every batch waits for `/ack`), and the pipeline with a token without it.
//!
//! Targets (issue 5): pipeline CPU (acks on) ≤ 3× the baseline's; wall time with acks on ≤
//! 1.2× with acks off; peak RSS ≤ 96 MiB. Before timing, one pass checks that the emulator
//! received exactly as many events as the baseline wrote, for both tokens; the benchmark exits
//! non-zero otherwise. Missed targets are reported, not fatal.
//!
//! Run with `cargo bench --bench splunk_hec` (`C1_BENCH_EVENTS`, default 200,000, and
//! `C1_BENCH_RUNS`, default 3, as in the core benchmark). Without `--bench` (as under
//! `cargo test --all-targets`) it is a smoke run: 2,000 events, the count checks only.

mod common;
#[path = "../tests/common/hec_server.rs"]
mod hec_server;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use common::{
    BASELINE_FLAG, BenchResult, Contender, Measurement, OutputSink, ensure_workload, env_number,
    measure, median, verdict,
};
use hec_server::{ACK_TOKEN, HecServer, NO_ACK_TOKEN, ServerConfig};

/// Events for a real (`--bench`) run unless `C1_BENCH_EVENTS` says otherwise.
const DEFAULT_EVENTS: u64 = 200_000;
/// Events for a smoke run unless `C1_BENCH_EVENTS` says otherwise.
const SMOKE_EVENTS: u64 = 2_000;
/// Timed rounds unless `C1_BENCH_RUNS` says otherwise.
const DEFAULT_RUNS: usize = 3;
/// Target: pipeline CPU (acks on) at most this multiple of the baseline's.
const MAX_CPU_RATIO: f64 = 3.0;
/// Target: wall time with indexer acks at most this multiple of the wall time without.
const MAX_ACK_WALL_RATIO: f64 = 1.2;
/// Target: peak RSS of the pipeline, in MiB.
const MAX_RSS_MIB: f64 = 96.0;
/// Pipeline configuration, relative to the package root.
const CONFIG_PATH: &str = "bench/splunk-hec.toml";

fn main() -> ExitCode {
    common::bench_main("splunk_hec", run_harness)
}

/// The emulator on its own runtime thread.
struct Emulator {
    /// Declared first so that it is dropped (its task aborted) before the runtime.
    server: HecServer,
    /// Runs the server task for as long as the emulator lives.
    _runtime: tokio::runtime::Runtime,
}

impl Emulator {
    fn start() -> BenchResult<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let server = runtime.block_on(HecServer::start(ServerConfig {
            record: false,
            ..ServerConfig::default()
        }));
        Ok(Self {
            server,
            _runtime: runtime,
        })
    }

    fn events(&self) -> u64 {
        self.server.stats().events
    }
}

fn pipeline(name: &'static str, endpoint: &str, token: &str) -> Contender {
    Contender {
        name,
        program: std::env::var_os("C1_BENCH_PIPELINE_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_c1-pipeline"))),
        args: vec!["--config".to_owned(), CONFIG_PATH.to_owned()],
        env: vec![
            ("C1_BENCH_HEC_ENDPOINT".to_owned(), endpoint.to_owned()),
            ("C1_BENCH_HEC_TOKEN".to_owned(), token.to_owned()),
        ],
    }
}

/// Runs `contender` once and returns its measurement and the events the emulator received.
fn measure_delivery(
    contender: &Contender,
    emulator: &Emulator,
    root: &Path,
    workload: &Path,
) -> BenchResult<(Measurement, u64)> {
    let before = emulator.events();
    let (measurement, _) = measure(contender, root, workload, OutputSink::DevNull)?;
    Ok((measurement, emulator.events() - before))
}

fn run_harness(bench_mode: bool) -> BenchResult<bool> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let events = env_number(
        "C1_BENCH_EVENTS",
        if bench_mode {
            DEFAULT_EVENTS
        } else {
            SMOKE_EVENTS
        },
    )?;
    let runs = usize::try_from(env_number("C1_BENCH_RUNS", DEFAULT_RUNS as u64)?)?;
    if events == 0 || runs == 0 {
        return Err("C1_BENCH_EVENTS and C1_BENCH_RUNS must be at least 1".into());
    }
    let workload = ensure_workload(root, events)?;
    let emulator = Emulator::start()?;
    let endpoint = emulator.server.endpoint();

    let baseline = Contender {
        name: "baseline (serde_json loop)",
        program: std::env::current_exe()?,
        args: vec![BASELINE_FLAG.to_owned(), workload.display().to_string()],
        env: Vec::new(),
    };
    let with_acks = pipeline("c1-pipeline, indexer acks", &endpoint, ACK_TOKEN);
    let without_acks = pipeline("c1-pipeline, no acks", &endpoint, NO_ACK_TOKEN);

    println!(
        "c1-pipeline Splunk HEC benchmark: stdin -> remap -> filter -> splunk_hec_logs (gzip)"
    );
    println!("workload : {} ({events} events)", workload.display());
    println!(
        "pipeline : (cd {} && C1_BENCH_HEC_ENDPOINT={endpoint} C1_BENCH_HEC_TOKEN=... {} < workload)",
        root.display(),
        with_acks.describe()
    );

    // Verification (also warms the page cache): the emulator gets what the baseline writes.
    let (_, expected) = measure(&baseline, root, &workload, OutputSink::CountLines)?;
    for contender in [&with_acks, &without_acks] {
        let (_, received) = measure_delivery(contender, &emulator, root, &workload)?;
        if received != expected {
            eprintln!(
                "splunk_hec: FAIL: {}: the HEC received {received} events, the baseline wrote {expected}",
                contender.name
            );
            return Ok(false);
        }
    }
    println!("output   : {expected} events delivered with and without acks (counts agree)");
    if !bench_mode {
        println!("smoke run (no --bench): delivery counts checked, timing skipped");
        return Ok(true);
    }

    let mut rows: Vec<[Measurement; 3]> = Vec::with_capacity(runs);
    for run in 1..=runs {
        let (base, _) = measure(&baseline, root, &workload, OutputSink::DevNull)?;
        let (acked, got_acked) = measure_delivery(&with_acks, &emulator, root, &workload)?;
        let (plain, got_plain) = measure_delivery(&without_acks, &emulator, root, &workload)?;
        if got_acked != expected || got_plain != expected {
            eprintln!(
                "splunk_hec: FAIL: run {run}: delivered {got_acked} / {got_plain}, expected {expected}"
            );
            return Ok(false);
        }
        println!(
            "run {run}/{runs}: baseline {base}\n           acks    {acked}\n           no acks {plain}"
        );
        rows.push([base, acked, plain]);
    }
    let column = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<_>>();
    let (base, acked, plain) = (
        Measurement::median(&column(0)),
        Measurement::median(&column(1)),
        Measurement::median(&column(2)),
    );
    let cpu_ratio = median(rows.iter().map(|r| r[1].cpu_secs / r[0].cpu_secs).collect());
    let plain_cpu_ratio = median(rows.iter().map(|r| r[2].cpu_secs / r[0].cpu_secs).collect());
    let ack_wall_ratio = median(
        rows.iter()
            .map(|r| r[1].wall_secs / r[2].wall_secs)
            .collect(),
    );
    let rss = acked.max_rss_mib.max(plain.max_rss_mib);

    println!("\nevents {events}, {expected} delivered per run (medians of {runs} runs)");
    println!(
        "{:<30} {:>8} {:>8} {:>10}",
        "", "CPU s", "wall s", "RSS MiB"
    );
    for (name, m) in [
        (baseline.name, base),
        (with_acks.name, acked),
        (without_acks.name, plain),
    ] {
        println!(
            "{name:<30} {:>8.3} {:>8.3} {:>10.1}",
            m.cpu_secs, m.wall_secs, m.max_rss_mib
        );
    }
    println!(
        "pipeline throughput (acks): {:.0} events/s",
        events as f64 / acked.wall_secs
    );
    println!(
        "\n{:<40} {:>10}  result",
        "target (median of paired ratios)", "measured"
    );
    println!(
        "{:<40} {:>9.2}x  {}",
        format!("CPU (acks) <= {MAX_CPU_RATIO:.1}x baseline"),
        cpu_ratio,
        verdict(cpu_ratio <= MAX_CPU_RATIO)
    );
    println!(
        "{:<40} {:>9.2}x  (no target)",
        "CPU (no acks) vs baseline", plain_cpu_ratio
    );
    println!(
        "{:<40} {:>9.2}x  {}",
        format!("wall acks on <= {MAX_ACK_WALL_RATIO:.1}x acks off"),
        ack_wall_ratio,
        verdict(ack_wall_ratio <= MAX_ACK_WALL_RATIO)
    );
    println!(
        "{:<40} {:>6.1} MiB  {}",
        format!("peak RSS <= {MAX_RSS_MIB:.0} MiB"),
        rss,
        verdict(rss <= MAX_RSS_MIB)
    );
    Ok(true)
}
