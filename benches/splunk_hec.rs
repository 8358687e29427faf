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

use std::path::Path;
use std::process::ExitCode;

use common::{
    BenchResult, Contender, Measurement, OutputSink, Targets, column_medians, measure, median,
    print_medians, verdict,
};
use hec_server::{ACK_TOKEN, HecServer, NO_ACK_TOKEN, ServerConfig};

fn main() -> ExitCode {
    common::bench_main("splunk_hec", run_harness)
}

/// Target: pipeline CPU (acks on) at most this multiple of the baseline's.
const MAX_CPU_RATIO: f64 = 3.0;
/// Target: wall time with indexer acks at most this multiple of the wall time without.
const MAX_ACK_WALL_RATIO: f64 = 1.2;
/// Target: peak RSS of the pipeline, in MiB.
const MAX_RSS_MIB: f64 = 96.0;
/// Pipeline configuration, relative to the package root.
const CONFIG_PATH: &str = "bench/splunk-hec.toml";

/// The emulator on its own runtime thread.
struct Emulator {
    /// Declared first so that it is dropped (its task aborted) before the runtime.
    server: HecServer,
    /// Runs the server task for as long as the emulator lives.
    _runtime: tokio::runtime::Runtime,
}

impl Emulator {
    fn start() -> BenchResult<Self> {
        let runtime = common::server_runtime(1)?;
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
    Contender::pipeline(
        name,
        CONFIG_PATH,
        &[
            ("C1_BENCH_HEC_ENDPOINT", endpoint),
            ("C1_BENCH_HEC_TOKEN", token),
        ],
    )
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
    let (root, events, runs, workload) = common::setup(bench_mode)?;
    let emulator = Emulator::start()?;
    let endpoint = emulator.server.endpoint();

    let baseline = Contender::baseline(&workload)?;
    let with_acks = pipeline("c1-pipeline, indexer acks", &endpoint, ACK_TOKEN);
    let without_acks = pipeline("c1-pipeline, no acks", &endpoint, NO_ACK_TOKEN);

    println!(
        "c1-pipeline Splunk HEC benchmark: stdin -> remap -> filter -> splunk_hec_logs (gzip)"
    );
    println!("workload : {} ({events} events)", workload.display());
    with_acks.print_pipeline_line(
        root,
        &format!("C1_BENCH_HEC_ENDPOINT={endpoint} C1_BENCH_HEC_TOKEN=... "),
        "",
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
    if common::smoke_run_ends(bench_mode, "delivery counts checked") {
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
    let [base, acked, plain] = column_medians(&rows);
    let cpu_ratio = median(rows.iter().map(|r| r[1].cpu_secs / r[0].cpu_secs).collect());
    let plain_cpu_ratio = median(rows.iter().map(|r| r[2].cpu_secs / r[0].cpu_secs).collect());
    let ack_wall_ratio = median(
        rows.iter()
            .map(|r| r[1].wall_secs / r[2].wall_secs)
            .collect(),
    );
    let rss = acked.max_rss_mib.max(plain.max_rss_mib);

    println!("\nevents {events}, {expected} delivered per run (medians of {runs} runs)");
    print_medians(
        30,
        &[
            (baseline.name, base),
            (with_acks.name, acked),
            (without_acks.name, plain),
        ],
    );
    println!(
        "pipeline throughput (acks): {:.0} events/s",
        events as f64 / acked.wall_secs
    );
    println!();
    let targets = Targets {
        label: 40,
        measured: 10,
    };
    targets.header("target (median of paired ratios)");
    targets.ratio(
        &format!("CPU (acks) <= {MAX_CPU_RATIO:.1}x baseline"),
        cpu_ratio,
        verdict(cpu_ratio <= MAX_CPU_RATIO),
    );
    targets.ratio("CPU (no acks) vs baseline", plain_cpu_ratio, "(no target)");
    targets.ratio(
        &format!("wall acks on <= {MAX_ACK_WALL_RATIO:.1}x acks off"),
        ack_wall_ratio,
        verdict(ack_wall_ratio <= MAX_ACK_WALL_RATIO),
    );
    targets.mib(
        &format!("peak RSS <= {MAX_RSS_MIB:.0} MiB"),
        rss,
        verdict(rss <= MAX_RSS_MIB),
    );
    Ok(true)
}
