//! OpenTelemetry benchmark: the core workload through `stdin (json) -> remap -> filter ->
//! opentelemetry (OTLP/HTTP, gzip)` (`bench/opentelemetry.toml`) into the OTLP receiver of the
//! tests, against the same pipeline ending in `splunk_hec_logs` with gzip
//! (`bench/splunk-hec.toml`, a token without indexer acknowledgement) into the HEC emulator.
//!
//! Both receivers run on a thread of this harness (counting, keeping nothing), so their CPU is
//! not the pipeline's: only the child `c1-pipeline` is measured, with `wait4(2)`. Each round
//! runs the HEC pipeline, then the OTLP pipeline with the protobuf codec, then with OTLP/JSON.
//!
//! Target (issue 19): CPU per event of the OTLP pipeline (protobuf) at most that of the HEC
//! one (median of the paired ratios ≤ 1.0). Before timing, one pass checks that each receiver
//! got exactly as many events as the baseline loop writes; the benchmark exits non-zero
//! otherwise. Missed targets are reported, not fatal.
//!
//! Run with `cargo bench --bench opentelemetry` (`C1_BENCH_EVENTS`, default 200,000, and
//! `C1_BENCH_RUNS`, default 3). Without `--bench` (as under `cargo test --all-targets`) it is a
//! smoke run: 2,000 events, the count checks only.

mod common;
#[path = "../tests/common/hec_server.rs"]
mod hec_server;
#[path = "../tests/common/otlp_server.rs"]
mod otlp_server;

use std::path::Path;
use std::process::ExitCode;

use common::{
    BenchResult, Contender, Measurement, OutputSink, Targets, column_medians, measure, median,
    print_medians, verdict,
};
use hec_server::{HecServer, NO_ACK_TOKEN, ServerConfig};
use otlp_server::OtlpServer;

fn main() -> ExitCode {
    common::bench_main("opentelemetry", run_harness)
}

/// Target: OTLP pipeline CPU at most this multiple of the HEC pipeline's.
const MAX_CPU_RATIO: f64 = 1.0;

/// Both receivers on their own runtime thread.
struct Receivers {
    /// Declared first so that they are dropped (their tasks aborted) before the runtime.
    hec: HecServer,
    otlp: OtlpServer,
    _runtime: tokio::runtime::Runtime,
}

impl Receivers {
    fn start() -> BenchResult<Self> {
        let runtime = common::server_runtime(1)?;
        let hec = runtime.block_on(HecServer::start(ServerConfig {
            record: false,
            ..ServerConfig::default()
        }));
        let otlp = runtime.block_on(OtlpServer::start());
        otlp.count_only();
        Ok(Self {
            hec,
            otlp,
            _runtime: runtime,
        })
    }

    /// Events received by both receivers so far.
    fn events(&self) -> u64 {
        self.hec.stats().events + self.otlp.record_count() as u64
    }
}

/// Runs `contender` once; returns its measurement and the events the receivers got.
fn measure_delivery(
    contender: &Contender,
    receivers: &Receivers,
    root: &Path,
    workload: &Path,
) -> BenchResult<(Measurement, u64)> {
    let before = receivers.events();
    let (measurement, _) = measure(contender, root, workload, OutputSink::DevNull)?;
    Ok((measurement, receivers.events() - before))
}

fn run_harness(bench_mode: bool) -> BenchResult<bool> {
    let (root, events, runs, workload) = common::setup(bench_mode)?;
    let receivers = Receivers::start()?;
    let endpoint = receivers.hec.endpoint();
    let uri = receivers.otlp.uri();
    let contenders = [
        Contender::pipeline(
            "splunk_hec_logs (gzip)",
            "bench/splunk-hec.toml",
            &[
                ("C1_BENCH_HEC_ENDPOINT", &endpoint),
                ("C1_BENCH_HEC_TOKEN", NO_ACK_TOKEN),
            ],
        ),
        Contender::pipeline(
            "opentelemetry (otlp, gzip)",
            "bench/opentelemetry.toml",
            &[("C1_BENCH_OTLP_URI", &uri), ("C1_BENCH_OTLP_CODEC", "otlp")],
        ),
        Contender::pipeline(
            "opentelemetry (json, gzip)",
            "bench/opentelemetry.toml",
            &[("C1_BENCH_OTLP_URI", &uri), ("C1_BENCH_OTLP_CODEC", "json")],
        ),
    ];
    println!(
        "c1-pipeline OpenTelemetry benchmark: stdin -> remap -> filter -> opentelemetry vs splunk_hec_logs"
    );
    println!("workload : {} ({events} events)", workload.display());
    contenders[1].print_pipeline_line(
        root,
        &format!("C1_BENCH_OTLP_URI={uri} C1_BENCH_OTLP_CODEC=otlp "),
        "",
    );

    // Verification (also warms the page cache): each receiver gets what the baseline writes.
    let baseline = Contender::baseline(&workload)?;
    let (_, expected) = measure(&baseline, root, &workload, OutputSink::CountLines)?;
    for contender in &contenders {
        let (_, received) = measure_delivery(contender, &receivers, root, &workload)?;
        if received != expected {
            eprintln!(
                "opentelemetry: FAIL: {}: {received} events received, the baseline wrote {expected}",
                contender.name
            );
            return Ok(false);
        }
    }
    println!("output   : {expected} events delivered by each pipeline (counts agree)");
    if common::smoke_run_ends(bench_mode, "delivery counts checked") {
        return Ok(true);
    }

    let mut rows: Vec<[Measurement; 3]> = Vec::with_capacity(runs);
    for run in 1..=runs {
        let mut row = Vec::with_capacity(3);
        for contender in &contenders {
            let (measurement, received) = measure_delivery(contender, &receivers, root, &workload)?;
            if received != expected {
                eprintln!(
                    "opentelemetry: FAIL: run {run}: {}: delivered {received}, expected {expected}",
                    contender.name
                );
                return Ok(false);
            }
            println!("run {run}/{runs}: {:28} {measurement}", contender.name);
            row.push(measurement);
        }
        rows.push([row[0], row[1], row[2]]);
    }
    let [hec, otlp, json] = column_medians(&rows);
    let ratio = |column: usize| {
        median(
            rows.iter()
                .map(|r| r[column].cpu_secs / r[0].cpu_secs)
                .collect(),
        )
    };
    let (otlp_ratio, json_ratio) = (ratio(1), ratio(2));
    println!("\nevents {events}, {expected} delivered per run (medians of {runs} runs)");
    print_medians(
        30,
        &[
            (contenders[0].name, hec),
            (contenders[1].name, otlp),
            (contenders[2].name, json),
        ],
    );
    for (name, measurement) in [
        ("splunk_hec_logs", hec),
        ("otlp", otlp),
        ("otlp/json", json),
    ] {
        println!(
            "CPU per delivered event, {name}: {:.2} µs",
            measurement.cpu_secs * 1e6 / expected as f64
        );
    }
    println!();
    let targets = Targets {
        label: 44,
        measured: 10,
    };
    targets.header("target (median of paired ratios)");
    targets.ratio(
        &format!("CPU otlp <= {MAX_CPU_RATIO:.1}x splunk_hec_logs"),
        otlp_ratio,
        verdict(otlp_ratio <= MAX_CPU_RATIO),
    );
    targets.ratio(
        "CPU otlp/json vs splunk_hec_logs",
        json_ratio,
        "(no target)",
    );
    Ok(true)
}
