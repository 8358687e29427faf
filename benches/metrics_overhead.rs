//! Metrics overhead benchmark (issue 14, "counting must cost nothing measurable"): the core
//! benchmark's pipeline (`bench/core-pipeline.toml`: `stdin (json) -> remap -> filter ->
//! console (json)`) against the same pipeline with its metrics exported
//! (`bench/core-pipeline-observed.toml`: `[api]` served, an `internal_metrics` source scraping
//! every counter each second into a `prometheus_exporter`).
//!
//! Both run as child processes on the same workload, alternating, measured with `wait4(2)`.
//! The plain pipeline ends with its input; the observed one does not (its `internal_metrics`
//! source never ends, as in Vector), so it is stopped with SIGTERM, as an operator would stop
//! it, once it has written every event the plain one wrote.
//! Target: CPU of the observed pipeline ≤ 1.03× the plain one (median of the paired ratios).
//! Before timing, one pass of each counts its output lines; the benchmark exits non-zero when
//! they disagree. Missed targets are reported, not fatal.
//!
//! Run with `cargo bench --bench metrics_overhead` (`C1_BENCH_EVENTS`, default 200,000;
//! `C1_BENCH_RUNS`, default 3). Without `--bench` (as under `cargo test --all-targets`) it is
//! a smoke run: 2,000 events, the count check only.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{
    BenchResult, Contender, Measurement, OutputSink, Targets, measure, median, timeval_secs,
    verdict, wait_for_exit,
};

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
    let (_, observed_lines) = measure_until(&observed, root, &workload, plain_lines)?;
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
        // Both write into the same counting pipe: a pipe costs the writer more than
        // /dev/null, and only the metrics may differ between the two.
        let (without, _) = measure_until(&plain, root, &workload, plain_lines)?;
        let (with, _) = measure_until(&observed, root, &workload, plain_lines)?;
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

/// How long an observed run may take before it is stopped regardless (its count then falls
/// short, which fails the benchmark).
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Runs `contender` on `workload` until it has written `expected` lines, then sends it SIGTERM
/// and measures the whole run (`wait4(2)`); returns the lines it wrote in all.
fn measure_until(
    contender: &Contender,
    root: &Path,
    workload: &Path,
    expected: u64,
) -> BenchResult<(Measurement, u64)> {
    let mut command = contender.command(root, workload)?;
    command.stdout(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting {}: {e}", contender.describe()))?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|_| "child pid out of range")?;
    let mut stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let stopped = Arc::new(AtomicBool::new(false));
    let stop = move || {
        // SAFETY: `kill` with a pid this harness spawned and has not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    };
    let watchdog = {
        let stopped = Arc::clone(&stopped);
        std::thread::spawn(move || {
            while started.elapsed() < RUN_LIMIT && !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
            if !stopped.swap(true, Ordering::Relaxed) {
                stop();
            }
        })
    };
    let reader = {
        let stopped = Arc::clone(&stopped);
        std::thread::spawn(move || {
            let mut buffer = vec![0_u8; 1 << 16];
            let mut lines = 0_u64;
            while let Ok(read) = stdout.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                lines += buffer[..read].iter().filter(|&&b| b == b'\n').count() as u64;
                if lines >= expected && !stopped.swap(true, Ordering::Relaxed) {
                    stop();
                }
            }
            lines
        })
    };
    let (status, usage) =
        wait_for_exit(pid).map_err(|e| format!("waiting for {}: {e}", contender.name))?;
    let wall_secs = started.elapsed().as_secs_f64();
    stopped.store(true, Ordering::Relaxed);
    let lines = reader.join().map_err(|_| "the output reader panicked")?;
    watchdog.join().map_err(|_| "the watchdog panicked")?;
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("{} failed: {}", contender.name, contender.describe()).into());
    }
    let measurement = Measurement {
        cpu_secs: timeval_secs(usage.ru_utime) + timeval_secs(usage.ru_stime),
        wall_secs,
        max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
    };
    Ok((measurement, lines))
}
