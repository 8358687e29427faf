//! Helpers shared by the benchmarks: the workload (generated once per size by
//! `bench/gen_c1_events.py`), exact child-process measurement with `wait4(2)`, and medians.
#![allow(dead_code)] // each benchmark uses a different subset

use std::error::Error;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Workload generator, relative to the package root.
pub const GENERATOR_PATH: &str = "bench/gen_c1_events.py";
/// Directory of generated workloads, relative to the package root.
pub const DATA_DIR: &str = "target/bench-data";

/// I/O buffer size used by the baseline and by the harness's streaming reads.
pub const IO_BUFFER_BYTES: usize = 64 * 1024;

/// Boxed error for the harness and the baseline; printed by `main`.
pub type BenchResult<T> = Result<T, Box<dyn Error>>;

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

/// `PASS` or `FAIL`.
pub fn verdict(passed: bool) -> &'static str {
    if passed { "PASS" } else { "FAIL" }
}
