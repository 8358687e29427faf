//! The `ocsf` transform's cost: `stdin (json) -> ocsf (derive + validate) -> console (json)`
//! (`bench/ocsf.toml`) against `stdin (json) -> console (json)` (`bench/stdin-console.toml`) on
//! the same events, both the crate's `c1-pipeline` as child processes measured with `wait4(2)`
//! (user + system CPU, wall time, peak RSS), alternating, `C1_BENCH_RUNS` times (default 5).
//! Target: the median of the paired CPU ratios at most 1.3×. A second contender,
//! `bench/ocsf-drop-invalid.toml`, sets `reroute_invalid = false` (no `.invalid` output; the
//! transform drops invalid events itself). Both forms run fused with the source.
//!
//! Two workloads, each from `bench/gen_c1_events.py` (the standard workload, N events, default
//! 200,000, in `target/bench-data/events-N.ndjson`):
//! * `standard`: the events as generated (complete OCSF 1.3.0: deriving finds nothing to add);
//! * `stripped`: the same events without their derived fields (`class_name`, `category_uid`,
//!   `category_name`, `type_uid`, `type_name`, `activity_name`, and every `*_id`'s string
//!   sibling at any depth), so the transform derives 6 to 10 fields per event before validating.
//!
//! Before timing, one pass of each side counts its output lines: every event must come out of
//! the `ocsf` pipeline (none invalid), or the benchmark fails.
//!
//! Run with `cargo bench --bench ocsf_transform`; `C1_BENCH_EVENTS`, `C1_BENCH_RUNS` as for the
//! other benchmarks. Without `--bench` (as under `cargo test --all-targets`) it is a smoke run:
//! 2,000 events, the output-count check only.

mod common;
#[path = "../tests/common/ocsf_strip.rs"]
mod ocsf_strip;

use common::median;

use ocsf_strip::strip;
use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use serde_json::Value;

type BenchResult<T> = Result<T, Box<dyn Error>>;

const DEFAULT_EVENTS: u64 = 200_000;
const SMOKE_EVENTS: u64 = 2_000;
const DEFAULT_RUNS: u64 = 5;
/// Target: the `ocsf` pipeline's CPU at most this multiple of `stdin -> console`'s.
const MAX_CPU_RATIO: f64 = 1.3;

const BASELINE_CONFIG: &str = "bench/stdin-console.toml";
const OCSF_CONFIG: &str = "bench/ocsf.toml";
const OCSF_DROP_INVALID_CONFIG: &str = "bench/ocsf-drop-invalid.toml";

fn main() -> ExitCode {
    let bench_mode = std::env::args().any(|arg| arg == "--bench");
    match run(bench_mode) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("ocsf_transform: error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn env_number(name: &str, default: u64) -> BenchResult<u64> {
    match std::env::var(name) {
        Ok(text) => Ok(text.trim().replace('_', "").parse()?),
        Err(_) => Ok(default),
    }
}

fn run(bench_mode: bool) -> BenchResult<bool> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let default = if bench_mode {
        DEFAULT_EVENTS
    } else {
        SMOKE_EVENTS
    };
    let events = env_number("C1_BENCH_EVENTS", default)?;
    let runs = env_number("C1_BENCH_RUNS", DEFAULT_RUNS)?.max(1);
    let standard = workload(root, events)?;
    let stripped = stripped_workload(&standard)?;
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_c1-pipeline"));
    println!("c1-pipeline ocsf benchmark: stdin -> ocsf (derive + validate) -> console");
    println!("binary    : {}", binary.display());
    println!("baseline  : --config {BASELINE_CONFIG}");
    for (name, config) in CONTENDERS {
        println!("{name:<10}: --config {config}");
    }
    let mut met = true;
    for (workload_name, file) in [("standard", &standard), ("stripped", &stripped)] {
        let (_, base_lines) = measure(&binary, BASELINE_CONFIG, root, file, true)?;
        for (name, config) in CONTENDERS {
            let (_, lines) = measure(&binary, config, root, file, true)?;
            if base_lines != events || lines != events {
                eprintln!(
                    "ocsf_transform: FAIL ({workload_name}): {events} events in, baseline wrote {base_lines}, {name} wrote {lines}"
                );
                return Ok(false);
            }
        }
        println!("{workload_name}: {events} events out of every side (every event valid)");
        if bench_mode {
            met &= time_workload(&binary, root, file, workload_name, events, runs)?;
        }
    }
    if !bench_mode {
        println!("smoke run (no --bench): output counts checked, timing skipped");
    } else if !met {
        println!("target missed on the standard workload (reported, not fatal)");
    }
    Ok(true)
}

/// The pipelines compared with the baseline: (name, config).
const CONTENDERS: [(&str, &str); 2] = [
    ("ocsf", OCSF_CONFIG),
    ("ocsf-drop-invalid", OCSF_DROP_INVALID_CONFIG),
];

/// Alternating timed runs on one workload; prints medians and paired ratios. Returns whether
/// the target holds (judged on the standard workload only).
fn time_workload(
    binary: &Path,
    root: &Path,
    file: &Path,
    workload_name: &str,
    events: u64,
    runs: u64,
) -> BenchResult<bool> {
    let mut base_runs = Vec::new();
    let mut contender_runs = vec![Vec::new(); CONTENDERS.len()];
    for round in 1..=runs {
        let (base, _) = measure(binary, BASELINE_CONFIG, root, file, false)?;
        let mut line = format!("  {workload_name} run {round}/{runs}: baseline {base}");
        for (at, (name, config)) in CONTENDERS.iter().enumerate() {
            let (run, _) = measure(binary, config, root, file, false)?;
            line.push_str(&format!(" | {name} {run} ({:.3}x)", run.cpu / base.cpu));
            contender_runs[at].push(run);
        }
        println!("{line}");
        base_runs.push(base);
    }
    let per_event = |cpu: f64| cpu * 1e6 / events as f64;
    let base = median(base_runs.iter().map(|m| m.cpu).collect());
    println!(
        "  {workload_name}: baseline median CPU {base:.3} s ({:.2} µs/event)",
        per_event(base)
    );
    let mut met = true;
    for ((name, _), runs) in CONTENDERS.iter().zip(&contender_runs) {
        let cpu = median(runs.iter().map(|m| m.cpu).collect());
        let rss = median(runs.iter().map(|m| m.rss_mib).collect());
        let ratio = median(
            runs.iter()
                .zip(&base_runs)
                .map(|(run, base)| run.cpu / base.cpu)
                .collect(),
        );
        let pass = ratio <= MAX_CPU_RATIO;
        println!(
            "  {workload_name}: {name} median CPU {cpu:.3} s ({:.2} µs/event), peak RSS {rss:.1} MiB, median paired CPU ratio {ratio:.3}x (target <= {MAX_CPU_RATIO}x): {}",
            per_event(cpu),
            if pass { "PASS" } else { "FAIL" }
        );
        met &= pass || workload_name != "standard";
    }
    Ok(met)
}

/// `target/bench-data/events-N.ndjson`, generated by `bench/gen_c1_events.py` unless present.
fn workload(root: &Path, events: u64) -> BenchResult<PathBuf> {
    let dir = root.join("target/bench-data");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("events-{events}.ndjson"));
    if path.exists() && count_lines(File::open(&path)?)? == events {
        return Ok(path);
    }
    let output = File::create(&path)?;
    let status = Command::new("python3")
        .arg(root.join("bench/gen_c1_events.py"))
        .arg(events.to_string())
        .stdout(output)
        .status()?;
    if !status.success() {
        return Err(format!("bench/gen_c1_events.py failed: {status}").into());
    }
    Ok(path)
}

/// The workload without derived fields, beside it (`events-N-stripped.ndjson`).
fn stripped_workload(standard: &Path) -> BenchResult<PathBuf> {
    let path = standard.with_extension("stripped.ndjson");
    let lines = count_lines(File::open(standard)?)?;
    if path.exists() && count_lines(File::open(&path)?)? == lines {
        return Ok(path);
    }
    let mut out = BufWriter::new(File::create(&path)?);
    for line in BufReader::new(File::open(standard)?).lines() {
        let mut event: Value = serde_json::from_str(&line?)?;
        strip(&mut event, true);
        serde_json::to_writer(&mut out, &event)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(path)
}

fn count_lines(mut source: impl Read) -> std::io::Result<u64> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut lines = 0;
    loop {
        let read = source.read(&mut buffer)?;
        if read == 0 {
            return Ok(lines);
        }
        lines += buffer[..read].iter().filter(|b| **b == b'\n').count() as u64;
    }
}

/// One child's resource use.
#[derive(Clone, Copy, Debug)]
struct Measurement {
    cpu: f64,
    wall: f64,
    rss_mib: f64,
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CPU {:.3} s wall {:.3} s RSS {:.1} MiB",
            self.cpu, self.wall, self.rss_mib
        )
    }
}

/// Runs `binary --config config < workload`, its output counted (`count`) or to /dev/null.
fn measure(
    binary: &Path,
    config: &str,
    root: &Path,
    workload: &Path,
    count: bool,
) -> BenchResult<(Measurement, u64)> {
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(["--config", config])
        .current_dir(root)
        .stdin(Stdio::from(File::open(workload)?))
        .stdout(if count { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::inherit())
        .spawn()?;
    let lines = child.stdout.take().map(count_lines).transpose()?;
    let pid = libc::pid_t::try_from(child.id())?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped (its `Child` handle is never waited on), and
    // both pointers are valid for the call.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if reaped != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()).into());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!(
            "{} --config {config} failed (status {status})",
            binary.display()
        )
        .into());
    }
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    let measurement = Measurement {
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        wall: started.elapsed().as_secs_f64(),
        rss_mib: usage.ru_maxrss as f64 / 1024.0,
    };
    Ok((measurement, lines.unwrap_or(0)))
}
