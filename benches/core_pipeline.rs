//! Core throughput benchmark: c1-pipeline against a bare serde_json loop, measured in the same run.
//!
//! Workload: `N` ConductorOne system-log events (default 200,000) from `bench/gen_c1_events.py`,
//! pushed through `stdin (json) -> remap -> filter -> console (json) > /dev/null` as configured in
//! `bench/core-pipeline.toml`. The baseline is this same binary re-executed as
//! `core_pipeline --baseline FILE`: a plain loop that parses each line into `serde_json::Value`,
//! drops `activity_id == 2`, applies the same edit as the VRL program and writes the line back.
//!
//! Both sides run as child processes and are measured exactly with `wait4(2)`: user + system CPU
//! time, wall time and peak RSS. Runs alternate baseline / pipeline (`C1_BENCH_RUNS`, default 3) and
//! the median of each metric is reported with PASS/FAIL against the targets: CPU ≤ 2× baseline,
//! wall < 1× baseline (only judged with 2+ cores), peak RSS ≤ 64 MiB. Before timing, one extra pass
//! of each counts its output lines; the benchmark exits non-zero when the counts disagree, so the
//! pipeline cannot win by dropping events. Missed targets are reported, not fatal.
//!
//! Run with `cargo bench --bench core_pipeline`. Environment:
//! - `C1_BENCH_EVENTS`: number of events (default 200,000; the workload file is generated once per
//!   `N` into `target/bench-data/events-N.ndjson`);
//! - `C1_BENCH_RUNS`: timed runs of each side (default 3);
//! - `C1_BENCH_PIPELINE_BIN`: pipeline executable to measure instead of the crate's `c1-pipeline`.
//!
//! Without `--bench` (as under `cargo test --all-targets`) it is a smoke run: 2,000 events, and only
//! the output-count check.
//!
//! Note on RSS: a child's `ru_maxrss` can never be lower than this harness's own resident set at
//! spawn time, so the harness streams everything and stays at a few MiB.

mod common;

use std::fs;
use std::process::ExitCode;

use common::{BenchResult, Contender, Measurement, OutputSink, Targets, measure, median, verdict};

fn main() -> ExitCode {
    common::bench_main("core_pipeline", run_harness)
}

/// Target: pipeline CPU time at most this multiple of the baseline's.
const MAX_CPU_RATIO: f64 = 2.0;
/// Target: pipeline wall time strictly below this multiple of the baseline's (with 2+ cores).
const MAX_WALL_RATIO: f64 = 1.0;
/// Target: pipeline peak resident set size, in MiB.
const MAX_RSS_MIB: f64 = 64.0;
/// Cores needed before the wall-time target is judged.
const MIN_CORES_FOR_WALL_TARGET: usize = 2;

/// Pipeline configuration, relative to the package root (the children's working directory).
const CONFIG_PATH: &str = "bench/core-pipeline.toml";

/// Runs the whole benchmark. Returns `Ok(false)` when the output counts disagree.
fn run_harness(bench_mode: bool) -> BenchResult<bool> {
    let (root, events, runs, workload) = common::setup(bench_mode)?;
    let input_bytes = fs::metadata(&workload)
        .map_err(|e| format!("reading metadata of {}: {e}", workload.display()))?
        .len();

    let baseline = Contender::baseline(&workload)?;
    let pipeline = Contender::pipeline("c1-pipeline", CONFIG_PATH, &[]);

    println!("c1-pipeline core benchmark: stdin (json) -> remap -> filter -> console (json)");
    println!(
        "workload : {} ({events} events, {:.1} MB)",
        workload.display(),
        input_bytes as f64 / 1e6
    );
    println!("baseline : {} > /dev/null", baseline.describe());
    pipeline.print_pipeline_line(root, "", " > /dev/null");

    // Verification pass (also warms the page cache): both sides must emit the same event count.
    let (_, baseline_lines) = measure(&baseline, root, &workload, OutputSink::CountLines)?;
    let (_, pipeline_lines) = measure(&pipeline, root, &workload, OutputSink::CountLines)?;
    if baseline_lines != pipeline_lines {
        eprintln!(
            "core_pipeline: FAIL: output counts disagree: baseline wrote {baseline_lines} \
             events, c1-pipeline wrote {pipeline_lines}"
        );
        return Ok(false);
    }
    println!("output   : {pipeline_lines} events from each side (counts agree)");
    if common::smoke_run_ends(bench_mode, "output counts checked") {
        return Ok(true);
    }

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "timing   : {runs} runs of each, alternating; medians and paired ratios; {cores} cores available\n"
    );
    let mut baseline_runs = Vec::with_capacity(runs);
    let mut pipeline_runs = Vec::with_capacity(runs);
    for run in 1..=runs {
        let (base, _) = measure(&baseline, root, &workload, OutputSink::DevNull)?;
        let (pipe, _) = measure(&pipeline, root, &workload, OutputSink::DevNull)?;
        println!(
            "run {run}/{runs}: baseline {base} | pipeline {pipe} | CPU {:.2}x wall {:.2}x",
            pipe.cpu_secs / base.cpu_secs,
            pipe.wall_secs / base.wall_secs
        );
        baseline_runs.push(base);
        pipeline_runs.push(pipe);
    }

    let report = Report {
        events,
        input_bytes,
        cores,
        baseline: Measurement::median(&baseline_runs),
        pipeline: Measurement::median(&pipeline_runs),
        // Each pipeline run is compared with the baseline run just before it: the machine's
        // speed drifts between runs, and paired ratios cancel most of that drift.
        paired_cpu_ratio: median(
            baseline_runs
                .iter()
                .zip(&pipeline_runs)
                .map(|(base, pipe)| pipe.cpu_secs / base.cpu_secs)
                .collect(),
        ),
        paired_wall_ratio: median(
            baseline_runs
                .iter()
                .zip(&pipeline_runs)
                .map(|(base, pipe)| pipe.wall_secs / base.wall_secs)
                .collect(),
        ),
    };
    report.print(baseline.name, pipeline.name);
    Ok(true)
}
/// Median figures of both sides, and what is needed to judge them.
struct Report {
    /// Events in the workload.
    events: u64,
    /// Size of the workload file.
    input_bytes: u64,
    /// Cores available to this process.
    cores: usize,
    /// Median baseline figures.
    baseline: Measurement,
    /// Median pipeline figures.
    pipeline: Measurement,
    /// Median over runs of pipeline CPU / the adjacent baseline run's CPU.
    paired_cpu_ratio: f64,
    /// Median over runs of pipeline wall / the adjacent baseline run's wall.
    paired_wall_ratio: f64,
}

impl Report {
    /// Prints the results table and the verdict on each target.
    fn print(&self, baseline_name: &str, pipeline_name: &str) {
        let cpu_ratio = self.paired_cpu_ratio;
        let wall_ratio = self.paired_wall_ratio;
        let input_mb = self.input_bytes as f64 / 1e6;

        println!();
        println!("events {}  input {input_mb:.1} MB  (medians)", self.events);
        println!(
            "{:<28} {:>10} {:>10} {:>12}",
            "", "CPU s", "wall s", "peak RSS MiB"
        );
        for (name, figures) in [
            (baseline_name, &self.baseline),
            (pipeline_name, &self.pipeline),
        ] {
            println!(
                "{name:<28} {:>10.3} {:>10.3} {:>12.1}",
                figures.cpu_secs, figures.wall_secs, figures.max_rss_mib
            );
        }
        println!(
            "{:<28} {:>9.2}x {:>9.2}x",
            "ratio of the medians",
            self.pipeline.cpu_secs / self.baseline.cpu_secs,
            self.pipeline.wall_secs / self.baseline.wall_secs
        );
        println!(
            "{:<28} {:>9.2}x {:>9.2}x",
            "median of paired ratios", cpu_ratio, wall_ratio
        );
        println!(
            "pipeline throughput: {:.0} events/s, {:.1} MB/s",
            self.events as f64 / self.pipeline.wall_secs,
            input_mb / self.pipeline.wall_secs
        );

        let wall_verdict = if self.cores < MIN_CORES_FOR_WALL_TARGET {
            format!("SKIP ({} core)", self.cores)
        } else {
            verdict(wall_ratio < MAX_WALL_RATIO).to_owned()
        };
        println!();
        let targets = Targets {
            label: 30,
            measured: 12,
        };
        targets.header("target");
        targets.ratio(
            &format!("CPU time  <= {MAX_CPU_RATIO:.1}x baseline"),
            cpu_ratio,
            verdict(cpu_ratio <= MAX_CPU_RATIO),
        );
        targets.ratio(
            &format!("wall time <  {MAX_WALL_RATIO:.1}x baseline"),
            wall_ratio,
            &wall_verdict,
        );
        targets.mib(
            &format!("peak RSS  <= {MAX_RSS_MIB:.0} MiB"),
            self.pipeline.max_rss_mib,
            verdict(self.pipeline.max_rss_mib <= MAX_RSS_MIB),
        );
    }
}
