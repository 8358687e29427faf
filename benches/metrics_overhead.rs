//! Metrics overhead benchmark (issue 14, "counting must cost nothing measurable"): the core
//! benchmark's pipeline (`bench/core-pipeline.toml`: `stdin (json) -> remap -> filter ->
//! console (json)`) against the same pipeline with its metrics exported
//! (`bench/core-pipeline-observed.toml`: `[api]` served, an `internal_metrics` source scraping
//! every counter each second into a `prometheus_exporter`).
//!
//! Both run as child processes on the same workload, alternating, measured with `wait4(2)`.
//! Target: CPU of the observed pipeline ≤ 1.03× the plain one (median of the paired ratios).
//! Before timing, one pass of each counts its output lines; the benchmark exits non-zero when
//! they disagree. Missed targets are reported, not fatal.
//!
//! Run with `cargo bench --bench metrics_overhead` (`C1_BENCH_EVENTS`, default 200,000;
//! `C1_BENCH_RUNS`, default 3). Without `--bench` (as under `cargo test --all-targets`) it is
//! a smoke run: 2,000 events, the count check only.

mod common;

use std::process::ExitCode;

use common::{BenchResult, Contender, Measurement, OutputSink, Targets, measure, median, verdict};

fn main() -> ExitCode {
    common::bench_main("metrics_overhead", run_harness)
}

/// Target: CPU of the pipeline with metrics exported, at most this multiple of the plain one.
const MAX_CPU_RATIO: f64 = 1.03;

fn run_harness(bench_mode: bool) -> BenchResult<bool> {
    let (root, events, runs, workload) = common::setup(bench_mode)?;
    let plain = Contender::pipeline("plain", "bench/core-pipeline.toml", &[]);
    let observed = Contender::pipeline("observed", "bench/core-pipeline-observed.toml", &[]);
    println!("c1-pipeline metrics overhead: the core pipeline with and without metrics exported");
    println!("workload : {} ({events} events)", workload.display());
    plain.print_pipeline_line(root, "", " > /dev/null");
    observed.print_pipeline_line(root, "", " > /dev/null");

    let (_, plain_lines) = measure(&plain, root, &workload, OutputSink::CountLines)?;
    let (_, observed_lines) = measure(&observed, root, &workload, OutputSink::CountLines)?;
    if plain_lines != observed_lines {
        eprintln!(
            "metrics_overhead: FAIL: output counts disagree: {plain_lines} without metrics \
             exported, {observed_lines} with"
        );
        return Ok(false);
    }
    println!("output   : {plain_lines} events from each side (counts agree)");
    if common::smoke_run_ends(bench_mode, "output counts checked") {
        return Ok(true);
    }

    let mut rows = Vec::with_capacity(runs);
    for run in 1..=runs {
        let (without, _) = measure(&plain, root, &workload, OutputSink::DevNull)?;
        let (with, _) = measure(&observed, root, &workload, OutputSink::DevNull)?;
        println!(
            "run {run}/{runs}: plain {without} | observed {with} | CPU {:.3}x",
            with.cpu_secs / without.cpu_secs
        );
        rows.push((without, with));
    }
    let plain_median = Measurement::median(&rows.iter().map(|r| r.0).collect::<Vec<_>>());
    let observed_median = Measurement::median(&rows.iter().map(|r| r.1).collect::<Vec<_>>());
    // Paired: each observed run against the plain run just before it (the machine drifts).
    let ratio = median(rows.iter().map(|(a, b)| b.cpu_secs / a.cpu_secs).collect());
    println!();
    println!("median   : plain    {plain_median}");
    println!("median   : observed {observed_median}");
    println!(
        "CPU µs per event: plain {:.2}, observed {:.2}",
        plain_median.cpu_secs * 1e6 / events as f64,
        observed_median.cpu_secs * 1e6 / events as f64
    );
    println!();
    let targets = Targets {
        label: 40,
        measured: 9,
    };
    targets.header("target");
    targets.ratio(
        "CPU with metrics exported ≤ 1.03× without",
        ratio,
        verdict(ratio <= MAX_CPU_RATIO),
    );
    Ok(true)
}
