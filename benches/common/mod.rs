//! What the benchmarks share: the workload (generated once per size by
//! `bench/gen_c1_events.py`), the serde_json baseline loop, and exact measurement of child
//! processes with `wait4(2)` (user + system CPU, wall time, peak RSS).
//!
//! Note on RSS: a child's `ru_maxrss` can never be lower than the harness's own resident set at
//! spawn time, so harnesses stream everything and stay at a few MiB.
#![allow(dead_code)] // each benchmark uses a different subset

use std::error::Error;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use chrono::{DateTime, SecondsFormat};
use serde_json::Value;

/// Workload generator, relative to the package root.
pub const GENERATOR_PATH: &str = "bench/gen_c1_events.py";
/// Directory of generated workloads, relative to the package root.
pub const DATA_DIR: &str = "target/bench-data";

/// Argument that turns a benchmark binary into the baseline child.
pub const BASELINE_FLAG: &str = "--baseline";
/// I/O buffer size used by the baseline and by the harness's streaming reads.
pub const IO_BUFFER_BYTES: usize = 64 * 1024;

/// The `main` of a benchmark binary that compares against the baseline: with
/// `--baseline FILE` it is the baseline child; otherwise it runs `harness(bench_mode)`, where
/// `bench_mode` is whether `cargo bench` passed `--bench` (`cargo test --all-targets` runs it
/// without, as a smoke run). `Ok(false)` (a failed check) and errors exit non-zero.
pub fn bench_main(name: &str, harness: impl FnOnce(bool) -> BenchResult<bool>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.iter().position(|arg| arg == BASELINE_FLAG) {
        Some(index) => match args.get(index + 1) {
            Some(path) => run_baseline(Path::new(path)).map(|()| true),
            None => Err(format!("{BASELINE_FLAG} needs a FILE argument").into()),
        },
        None => harness(args.iter().any(|arg| arg == "--bench")),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("{name}: error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Boxed error for the harnesses and the baseline; printed by `main`.
pub type BenchResult<T> = Result<T, Box<dyn Error>>;

// ---------------------------------------------------------------------------------------------
// Run sizes and the programs compared.
// ---------------------------------------------------------------------------------------------

/// Events for a real (`--bench`) run unless `C1_BENCH_EVENTS` says otherwise.
pub const DEFAULT_EVENTS: u64 = 200_000;
/// Events for a smoke run (no `--bench` argument) unless `C1_BENCH_EVENTS` says otherwise.
pub const SMOKE_EVENTS: u64 = 2_000;
/// Timed rounds unless `C1_BENCH_RUNS` says otherwise.
pub const DEFAULT_RUNS: u64 = 3;

/// Events in the workload: `C1_BENCH_EVENTS`, by default [`DEFAULT_EVENTS`] for a real run and
/// [`SMOKE_EVENTS`] for a smoke run.
pub fn workload_events(bench_mode: bool) -> BenchResult<u64> {
    let default = if bench_mode {
        DEFAULT_EVENTS
    } else {
        SMOKE_EVENTS
    };
    env_number("C1_BENCH_EVENTS", default)
}

/// Timed rounds: `C1_BENCH_RUNS`, by default [`DEFAULT_RUNS`].
pub fn timed_runs() -> BenchResult<usize> {
    let runs = env_number("C1_BENCH_RUNS", DEFAULT_RUNS)?;
    Ok(usize::try_from(runs).map_err(|_| "C1_BENCH_RUNS is too large")?)
}

/// [`workload_events`] and [`timed_runs`] (a smoke run of a benchmark that stops after the
/// count checks still reads both), both checked to be at least 1.
pub fn events_and_runs(bench_mode: bool) -> BenchResult<(u64, usize)> {
    let events = workload_events(bench_mode)?;
    let runs = timed_runs()?;
    check_events_and_runs(events, runs)?;
    Ok((events, runs))
}

/// What the harnesses that compare whole pipelines start from: the package root (the
/// children's working directory), the events and timed rounds ([`events_and_runs`]), and the
/// workload file ([`ensure_workload`]).
pub fn setup(bench_mode: bool) -> BenchResult<(&'static Path, u64, usize, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (events, runs) = events_and_runs(bench_mode)?;
    let workload = ensure_workload(root, events)?;
    Ok((root, events, runs, workload))
}

/// Whether the harness stops after its checks: in a smoke run (no `--bench`), after saying that
/// `checked` and that timing is skipped.
pub fn smoke_run_ends(bench_mode: bool, checked: &str) -> bool {
    if !bench_mode {
        println!("smoke run (no --bench): {checked}, timing skipped");
    }
    !bench_mode
}

/// The error for a zero `C1_BENCH_EVENTS` or `C1_BENCH_RUNS`.
pub fn check_events_and_runs(events: u64, runs: usize) -> BenchResult<()> {
    if events == 0 || runs == 0 {
        return Err("C1_BENCH_EVENTS and C1_BENCH_RUNS must be at least 1".into());
    }
    Ok(())
}

/// The `c1-pipeline` binary measured: `C1_BENCH_PIPELINE_BIN` (to compare two builds), or
/// the one Cargo built with this benchmark.
pub fn pipeline_binary() -> PathBuf {
    std::env::var_os("C1_BENCH_PIPELINE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_c1-pipeline")))
}

/// A multi-threaded Tokio runtime with `workers` threads, for the servers a harness runs.
pub fn server_runtime(workers: usize) -> BenchResult<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?)
}

// ---------------------------------------------------------------------------------------------
// Baseline: the bare serde_json loop.
// ---------------------------------------------------------------------------------------------

/// Reads NDJSON events from `path`, applies the benchmark's edit and filter to each and writes the
/// kept events as NDJSON to stdout: the floor for any JSON pipeline doing this work.
pub fn run_baseline(path: &Path) -> BenchResult<()> {
    let file = File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    let mut reader = BufReader::with_capacity(IO_BUFFER_BYTES, file);
    let stdout = io::stdout();
    let mut writer = BufWriter::with_capacity(IO_BUFFER_BYTES, stdout.lock());
    let mut line = String::new();
    let mut line_number: u64 = 0;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        if read == 0 {
            break;
        }
        line_number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut event: Value = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{line_number}: invalid JSON: {e}", path.display()))?;
        if is_read_activity(&event) {
            continue;
        }
        shape_event(&mut event);
        serde_json::to_writer(&mut writer, &event)
            .map_err(|e| format!("writing event {line_number}: {e}"))?;
        writer
            .write_all(b"\n")
            .map_err(|e| format!("writing event {line_number}: {e}"))?;
    }
    writer
        .flush()
        .map_err(|e| format!("flushing stdout: {e}"))?;
    Ok(())
}

/// The filter `.activity_id != 2`, inverted: true for the events the pipeline drops.
///
/// The remap step never changes `activity_id`, so filtering before the edit (cheaper, which makes
/// the baseline a stricter floor) keeps the same events as the pipeline's remap-then-filter.
pub fn is_read_activity(event: &Value) -> bool {
    event.get("activity_id").and_then(Value::as_f64) == Some(2.0)
}

/// The remap program, done by hand:
///
/// ```text
/// .timestamp = from_unix_timestamp!(.time, unit: "milliseconds")
/// .tenant = "acme"
/// if .class_uid == 6003 { .api_service = .api.service.name }
/// del(.observables)
/// ```
///
/// As in VRL, a failing `from_unix_timestamp!` aborts the program and the event goes on unchanged.
pub fn shape_event(event: &mut Value) {
    let Some(timestamp) = event
        .get("time")
        .and_then(Value::as_i64)
        .and_then(DateTime::from_timestamp_millis)
    else {
        return;
    };
    // Same text as VRL's JSON rendering of a timestamp, e.g. `2026-01-01T00:00:00.123Z`.
    let timestamp = timestamp.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let api_service = event
        .pointer("/api/service/name")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(fields) = event.as_object_mut() else {
        return;
    };
    fields.insert("timestamp".to_owned(), Value::String(timestamp));
    fields.insert("tenant".to_owned(), Value::from("acme"));
    if fields.get("class_uid").and_then(Value::as_i64) == Some(6003) {
        fields.insert("api_service".to_owned(), api_service);
    }
    fields.remove("observables");
}

// ---------------------------------------------------------------------------------------------
// Harness: workload, children, measurement, report.
// ---------------------------------------------------------------------------------------------

/// Resource use of one child process, from `wait4(2)`.
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    /// User + system CPU time, in seconds.
    pub cpu_secs: f64,
    /// Wall time from spawn to reaping, in seconds.
    pub wall_secs: f64,
    /// Peak resident set size, in MiB.
    pub max_rss_mib: f64,
}

impl Measurement {
    /// Median of each metric taken separately over `runs` (which must not be empty).
    pub fn median(runs: &[Measurement]) -> Measurement {
        Measurement {
            cpu_secs: median(runs.iter().map(|run| run.cpu_secs).collect()),
            wall_secs: median(runs.iter().map(|run| run.wall_secs).collect()),
            max_rss_mib: median(runs.iter().map(|run| run.max_rss_mib).collect()),
        }
    }
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CPU {:6.3} s  wall {:6.3} s  RSS {:6.1} MiB",
            self.cpu_secs, self.wall_secs, self.max_rss_mib
        )
    }
}

/// Where a measured child's stdout goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputSink {
    /// `/dev/null`, as in the timed runs.
    DevNull,
    /// A pipe whose newlines the harness counts (the verification pass).
    CountLines,
}

/// One side of the comparison: a name for the report and a way to build its command.
pub struct Contender {
    /// Name shown in the report.
    pub name: &'static str,
    /// Executable to run.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl Contender {
    /// This benchmark binary as the baseline child (the serde_json loop over `workload`).
    pub fn baseline(workload: &Path) -> BenchResult<Self> {
        Ok(Contender {
            name: "baseline (serde_json loop)",
            program: std::env::current_exe()
                .map_err(|e| format!("locating this benchmark: {e}"))?,
            args: vec![BASELINE_FLAG.to_owned(), workload.display().to_string()],
            env: Vec::new(),
        })
    }

    /// [`pipeline_binary`] on `config` (relative to the package root), with `env` set.
    pub fn pipeline(name: &'static str, config: &str, env: &[(&str, &str)]) -> Self {
        Contender {
            name,
            program: pipeline_binary(),
            args: vec!["--config".to_owned(), config.to_owned()],
            env: env
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }

    /// A command for one run: working directory the package root, stdin the workload.
    pub fn command(&self, root: &Path, workload: &Path) -> BenchResult<Command> {
        let stdin = File::open(workload)
            .map_err(|e| format!("opening workload {}: {e}", workload.display()))?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(root)
            .stdin(Stdio::from(stdin))
            .stderr(Stdio::inherit());
        Ok(command)
    }

    /// The report's `pipeline :` line: how to run this contender by hand from `root`, with the
    /// environment `env` (`NAME=value `, as shown) and output `redirect` (e.g. ` > /dev/null`).
    pub fn print_pipeline_line(&self, root: &Path, env: &str, redirect: &str) {
        println!(
            "pipeline : (cd {} && {env}{} < workload{redirect})",
            root.display(),
            self.describe()
        );
    }

    /// The command line, for the report.
    pub fn describe(&self) -> String {
        let mut line = self.program.display().to_string();
        for arg in &self.args {
            line.push(' ');
            line.push_str(arg);
        }
        line
    }
}

/// Reads a positive integer from the environment variable `name`, or returns `default`.
pub fn env_number(name: &str, default: u64) -> BenchResult<u64> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|e| format!("{name}={text:?} is not a number: {e}").into()),
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(error) => Err(format!("{name}: {error}").into()),
    }
}

/// Returns `target/bench-data/events-N.ndjson`, generating it first unless it already holds
/// exactly `events` lines (a stale or truncated file is regenerated).
pub fn ensure_workload(root: &Path, events: u64) -> BenchResult<PathBuf> {
    let dir = root.join(DATA_DIR);
    let path = dir.join(format!("events-{events}.ndjson"));
    if path.exists() {
        let file = File::open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
        let lines = count_newlines(file).map_err(|e| format!("reading {}: {e}", path.display()))?;
        if lines == events {
            return Ok(path);
        }
        eprintln!(
            "bench: {} has {lines} lines, not {events}: regenerating",
            path.display()
        );
    }
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let partial = dir.join(format!("events-{events}.ndjson.partial"));
    let output =
        File::create(&partial).map_err(|e| format!("creating {}: {e}", partial.display()))?;
    let generator = root.join(GENERATOR_PATH);
    eprintln!(
        "bench: generating {events} events: python3 {} {events} > {}",
        generator.display(),
        path.display()
    );
    let status = Command::new("python3")
        .arg(&generator)
        .arg(events.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(output))
        .status()
        .map_err(|e| format!("running python3 {}: {e}", generator.display()))?;
    if !status.success() {
        return Err(format!("python3 {} failed: {status}", generator.display()).into());
    }
    fs::rename(&partial, &path)
        .map_err(|e| format!("renaming {} to {}: {e}", partial.display(), path.display()))?;
    Ok(path)
}

/// Counts `\n` bytes in a stream, reading it in fixed-size chunks so memory stays flat.
pub fn count_newlines(mut source: impl Read) -> io::Result<u64> {
    let mut buffer = vec![0_u8; IO_BUFFER_BYTES];
    let mut lines: u64 = 0;
    loop {
        let read = match source.read(&mut buffer) {
            Ok(0) => return Ok(lines),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        lines += buffer[..read].iter().filter(|&&byte| byte == b'\n').count() as u64;
    }
}

/// Runs `contender` once on `workload` and measures it; with [`OutputSink::CountLines`] also
/// returns the number of lines it wrote (otherwise 0). Fails if the child does not exit with 0.
pub fn measure(
    contender: &Contender,
    root: &Path,
    workload: &Path,
    sink: OutputSink,
) -> BenchResult<(Measurement, u64)> {
    let mut command = contender.command(root, workload)?;
    command.stdout(match sink {
        OutputSink::DevNull => Stdio::null(),
        OutputSink::CountLines => Stdio::piped(),
    });
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting {}: {e}", contender.describe()))?;
    // Drain the pipe before reaping, or a child with more output than the pipe holds would block.
    let counted = child.stdout.take().map(count_newlines).transpose();
    let pid = libc::pid_t::try_from(child.id()).map_err(|_| "child pid out of range")?;
    let (status, usage) =
        wait_for_exit(pid).map_err(|e| format!("waiting for {}: {e}", contender.name))?;
    let wall_secs = started.elapsed().as_secs_f64();
    let lines = counted
        .map_err(|e| format!("reading output of {}: {e}", contender.name))?
        .unwrap_or(0);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!(
            "{} failed ({}): {}",
            contender.name,
            describe_wait_status(status),
            contender.describe()
        )
        .into());
    }
    let measurement = Measurement {
        cpu_secs: timeval_secs(usage.ru_utime) + timeval_secs(usage.ru_stime),
        wall_secs,
        // Linux reports ru_maxrss in KiB.
        max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
    };
    Ok((measurement, lines))
}

/// Reaps child `pid` with `wait4(2)`, returning its wait status and resource usage.
///
/// `std::process::Child::wait` cannot report resource usage, hence the direct call; the `Child`
/// handle must not be waited on afterwards.
pub fn wait_for_exit(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is a plain C struct of integers, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not reaped yet; both pointers are valid for writes.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            return Ok((status, usage));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Human-readable form of a `wait(2)` status.
pub fn describe_wait_status(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status:#x}")
    }
}

/// A `timeval` in seconds.
pub fn timeval_secs(time: libc::timeval) -> f64 {
    time.tv_sec as f64 + time.tv_usec as f64 / 1e6
}

/// Median of `values` (which must not be empty); the mean of the middle two for an even count.
pub fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty(), "median of no values");
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

/// The median of each column of `rows` (one row a round, one column a contender).
pub fn column_medians<const N: usize>(rows: &[[Measurement; N]]) -> [Measurement; N] {
    std::array::from_fn(|i| Measurement::median(&rows.iter().map(|row| row[i]).collect::<Vec<_>>()))
}

/// Prints the medians table of the harnesses that compare whole pipelines: a header, then one
/// line a contender, the name column `width` wide.
pub fn print_medians(width: usize, contenders: &[(&str, Measurement)]) {
    println!(
        "{:<width$} {:>8} {:>8} {:>10}",
        "", "CPU s", "wall s", "RSS MiB"
    );
    for (name, m) in contenders {
        println!(
            "{name:<width$} {:>8.3} {:>8.3} {:>10.1}",
            m.cpu_secs, m.wall_secs, m.max_rss_mib
        );
    }
}

/// The table of targets that ends a report: a label column `label` wide and a measured column
/// `measured` wide, then the result (`PASS`, `FAIL` or a note).
pub struct Targets {
    /// Width of the label column.
    pub label: usize,
    /// Width of the measured column (a ratio's `x` and a size's ` MiB` included).
    pub measured: usize,
}

impl Targets {
    /// The header line, `title` over the labels.
    pub fn header(&self, title: &str) {
        let (label, measured) = (self.label, self.measured);
        println!("{title:<label$} {:>measured$}  result", "measured");
    }

    /// A ratio line, `1.23x`.
    pub fn ratio(&self, what: &str, ratio: f64, result: &str) {
        let (label, width) = (self.label, self.measured - 1);
        println!("{what:<label$} {ratio:>width$.2}x  {result}");
    }

    /// A memory line, `12.3 MiB`.
    pub fn mib(&self, what: &str, mib: f64, result: &str) {
        let (label, width) = (self.label, self.measured - 4);
        println!("{what:<label$} {mib:>width$.1} MiB  {result}");
    }

    /// A count line (a rate), no decimals.
    pub fn count(&self, what: &str, count: f64, result: &str) {
        let (label, measured) = (self.label, self.measured);
        println!("{what:<label$} {count:>measured$.0}  {result}");
    }
}

/// `PASS` or `FAIL`.
pub fn verdict(passed: bool) -> &'static str {
    if passed { "PASS" } else { "FAIL" }
}

// ---------------------------------------------------------------------------------------------
// Source benchmarks: a `stdin (json) -> blackhole` baseline and the blackhole's count.
// ---------------------------------------------------------------------------------------------

/// `stdin.toml` of the source benchmarks' baseline: the workload from standard input, decoded
/// as JSON, into `blackhole`.
pub const STDIN_BLACKHOLE_TOML: &str = "[sources.in]\ntype = \"stdin\"\ndecoding.codec = \"json\"\n\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"in\"]\nprint_interval_secs = 3600\n";

/// CPU seconds this process (a server the harness runs, mostly) has used so far.
pub fn own_cpu_secs() -> f64 {
    // SAFETY: `rusage` is plain integers (all-zero is valid); the pointer is valid for writes.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    timeval_secs(usage.ru_utime) + timeval_secs(usage.ru_stime)
}

/// The blackhole's final count from a pipeline's log.
pub fn blackhole_count(log: &Path) -> BenchResult<u64> {
    let text = std::fs::read_to_string(log)?;
    let line = text
        .lines()
        .rfind(|l| l.contains("blackhole finished"))
        .ok_or_else(|| format!("no `blackhole finished` line in {}", log.display()))?;
    let count = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("events="))
        .ok_or("no events= in the blackhole line")?;
    Ok(count.parse()?)
}

/// One `stdin (json) -> blackhole` run (`dir/stdin.toml`, [`STDIN_BLACKHOLE_TOML`]) over the
/// workload file, checking that exactly `events` arrived.
pub fn run_stdin_blackhole(
    binary: &Path,
    dir: &Path,
    workload: &Path,
    events: u64,
) -> BenchResult<Measurement> {
    let log = dir.join("stdin.log");
    let started = std::time::Instant::now();
    let child = std::process::Command::new(binary)
        .args(["--config"])
        .arg(dir.join("stdin.toml"))
        .stdin(std::process::Stdio::from(std::fs::File::open(workload)?))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(std::fs::File::create(&log)?))
        .spawn()?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|_| "pid out of range")?;
    let (status, usage) = wait_for_exit(pid)?;
    let wall_secs = started.elapsed().as_secs_f64();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("stdin pipeline failed ({})", describe_wait_status(status)).into());
    }
    let count = blackhole_count(&log)?;
    if count != events {
        return Err(format!("stdin pipeline delivered {count} events, not {events}").into());
    }
    Ok(Measurement {
        cpu_secs: timeval_secs(usage.ru_utime) + timeval_secs(usage.ru_stime),
        wall_secs,
        max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
    })
}

/// A source benchmark's pipeline run: the child's measurement, and the CPU this process (the
/// server it runs for the source) used meanwhile.
pub struct SourceRun {
    /// The pipeline child (wall time up to `done`).
    pub child: Measurement,
    /// This process's CPU from the start until `done`.
    pub server_cpu_secs: f64,
}

/// Runs `binary --config <config>` (standard input and output closed, standard error to `log`,
/// `envs` set) until `done()` holds (polled every 2 ms, at most 600 s), then stops it with
/// SIGTERM and checks that it exits 0 and that its blackhole counted exactly `events`.
pub fn run_source_until(
    binary: &Path,
    config: &Path,
    log: &Path,
    envs: &[(&str, &str)],
    events: u64,
    mut done: impl FnMut() -> bool,
) -> BenchResult<SourceRun> {
    let server_before = own_cpu_secs();
    let started = std::time::Instant::now();
    let child = std::process::Command::new(binary)
        .args(["--config"])
        .arg(config)
        .envs(envs.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(std::fs::File::create(log)?))
        .spawn()?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|_| "pid out of range")?;
    let deadline = started + std::time::Duration::from_secs(600);
    while !done() {
        if std::time::Instant::now() > deadline {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = wait_for_exit(pid);
            return Err("the backfill did not finish within 600 s".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let wall_secs = started.elapsed().as_secs_f64();
    let server_cpu_secs = own_cpu_secs() - server_before;
    // SAFETY: our own child, not reaped yet.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let (status, usage) = wait_for_exit(pid)?;
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!(
            "the pipeline failed ({}); see {}",
            describe_wait_status(status),
            log.display()
        )
        .into());
    }
    let count = blackhole_count(log)?;
    if count != events {
        return Err(format!("the pipeline delivered {count} events, not {events}").into());
    }
    Ok(SourceRun {
        child: Measurement {
            cpu_secs: timeval_secs(usage.ru_utime) + timeval_secs(usage.ru_stime),
            wall_secs,
            max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        },
        server_cpu_secs,
    })
}

/// The rounds of a source benchmark: in each, the `stdin (json) -> blackhole` baseline, then the
/// source under test.
pub struct SourceRounds {
    /// The baseline's runs.
    pub stdin: Vec<Measurement>,
    /// The source's runs.
    pub source: Vec<SourceRun>,
}

/// Median figures of [`SourceRounds`].
pub struct SourceMedians {
    /// The source's pipeline child.
    pub source: Measurement,
    /// The baseline.
    pub stdin: Measurement,
    /// The CPU this process (the server) used during a source run.
    pub server_cpu: f64,
    /// Median over rounds of the source's CPU / the same round's baseline CPU.
    pub cpu_ratio: f64,
}

/// Runs `runs` rounds of [`run_stdin_blackhole`] (`dir/stdin.toml`) and then `source`, printing
/// one line a round (the source named `name`).
pub fn alternate_source_rounds(
    name: &str,
    runs: usize,
    binary: &Path,
    dir: &Path,
    workload: &Path,
    events: u64,
    mut source: impl FnMut() -> BenchResult<SourceRun>,
) -> BenchResult<SourceRounds> {
    let mut rounds = SourceRounds {
        stdin: Vec::new(),
        source: Vec::new(),
    };
    for run in 1..=runs {
        let base = run_stdin_blackhole(binary, dir, workload, events)?;
        let measured = source()?;
        println!(
            "run {run}/{runs}: stdin {base} | {name} {} | server CPU {:.3} s | CPU {:.2}x",
            measured.child,
            measured.server_cpu_secs,
            measured.child.cpu_secs / base.cpu_secs
        );
        rounds.stdin.push(base);
        rounds.source.push(measured);
    }
    Ok(rounds)
}

impl SourceRounds {
    /// Reports that each side delivered all `events` in every round (each run checked its
    /// count), then prints `notes`. A smoke run stops there (`None`); a real one goes on to
    /// [`Self::medians`].
    pub fn conclude(&self, events: u64, bench_mode: bool, notes: &[&str]) -> Option<SourceMedians> {
        println!(
            "output   : {events} events delivered by each side in every run (blackhole counts)"
        );
        for note in notes {
            println!("note     : {note}");
        }
        if !bench_mode {
            println!("smoke run (no --bench): counts checked, timing not judged");
            return None;
        }
        Some(self.medians())
    }

    /// The medians of each figure, and the median of the paired CPU ratios.
    pub fn medians(&self) -> SourceMedians {
        SourceMedians {
            source: Measurement::median(&self.source.iter().map(|r| r.child).collect::<Vec<_>>()),
            stdin: Measurement::median(&self.stdin),
            server_cpu: median(self.source.iter().map(|r| r.server_cpu_secs).collect()),
            cpu_ratio: median(
                self.stdin
                    .iter()
                    .zip(&self.source)
                    .map(|(base, run)| run.child.cpu_secs / base.cpu_secs)
                    .collect(),
            ),
        }
    }
}

/// The pipeline of a source benchmark: `<dir>/<name>.toml`, whose `data_dir` is `<dir>/data`.
pub struct SourceUnderTest<'a> {
    /// The configuration's and the log's file name, without extension.
    pub name: &'a str,
    /// The checkpoint file that shows progress, relative to the `data_dir`.
    pub checkpoint: &'a str,
    /// Environment variables for the pipeline.
    pub envs: &'a [(&'a str, &'a str)],
}

impl SourceUnderTest<'_> {
    /// One run from a fresh `data_dir` (logging to `<dir>/<name>.log`) with [`run_source_until`],
    /// stopped once `done` holds for the checkpoint's JSON.
    pub fn run(
        &self,
        binary: &Path,
        dir: &Path,
        events: u64,
        done: impl Fn(&Value) -> bool,
    ) -> BenchResult<SourceRun> {
        let data_dir = dir.join("data");
        let _ = fs::remove_dir_all(&data_dir);
        let checkpoint = data_dir.join(self.checkpoint);
        run_source_until(
            binary,
            &dir.join(format!("{}.toml", self.name)),
            &dir.join(format!("{}.log", self.name)),
            self.envs,
            events,
            || {
                fs::read(&checkpoint)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
                    .is_some_and(|checkpoint| done(&checkpoint))
            },
        )
    }
}
