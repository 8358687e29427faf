//! Running the `c1-pipeline` binary from a test: start it on a configuration, collect its
//! output, signal it, wait for it with a time limit, read its logs and its memory.
//!
//! Used by `tests/pipeline_runtime.rs`, `tests/splunk_hec.rs`, `tests/cli.rs` and
//! `tests/hardening.rs` (through `#[path]`).
// Each user needs a different part.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `c1-pipeline --config <file>`, its output collected by background threads.
/// Dropping it kills the process if it is still running (a failed assertion leaves no
/// stray process behind).
pub struct Pipeline {
    child: Child,
    pub started: Instant,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
    /// Stdin held open (closed when the run is over).
    open_stdin: Option<ChildStdin>,
    /// The configuration file (a test may rewrite it, then reload with SIGHUP).
    pub config_path: PathBuf,
    _config_dir: tempfile::TempDir,
}

/// What a finished run left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Finished {
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn assert_success(&self) {
        assert!(
            self.status.success(),
            "c1-pipeline exited with {}; stderr:\n{}",
            self.status,
            tail(&self.stderr_text())
        );
    }
}

/// The end of a long text, for failure messages.
pub fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(4000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

pub fn collect(
    mut stream: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    })
}

/// Runs the binary to its end on the TOML configuration `config_text` (written to a temporary
/// file) with `input` on stdin, and returns its output.
pub fn run_to_end(config_text: &str, input: &[u8]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config_text).expect("the configuration written");
    let mut child = c1_pipeline()
        .arg("--config")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input).expect("input written");
    drop(stdin);
    child.wait_with_output().expect("the binary's output")
}

/// The binary, with no configuration, log or worker settings inherited from the test's
/// environment, and an empty stdin.
pub fn c1_pipeline() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_c1-pipeline"));
    command
        .env_remove("C1_PIPELINE_CONFIG")
        .env_remove("C1_PIPELINE_LOG")
        .env_remove("C1_PIPELINE_LOG_FORMAT")
        .env_remove("C1_PIPELINE_WORKERS")
        .env_remove("C1_TRANSFORM_WORKERS")
        .stdin(Stdio::null());
    command
}

/// How to start the binary.
#[derive(Default)]
pub struct Launch<'a> {
    /// Arguments after `--config FILE`.
    pub args: &'a [&'a str],
    /// Extra environment variables.
    pub env: &'a [(&'a str, &'a str)],
    /// Written to stdin, which is then closed; stdin is empty when `None`.
    pub input: Option<Vec<u8>>,
    /// Keep stdin open after writing `input`, as an interactive user would.
    pub keep_stdin_open: bool,
    /// Close the read end of stdout at once, so the pipeline's writes to it fail.
    pub close_stdout: bool,
}

impl Launch<'_> {
    /// Starts the binary on `config` (TOML text).
    pub fn start(self, config: &str) -> Pipeline {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path: PathBuf = dir.path().join("pipeline.toml");
        std::fs::write(&path, config).expect("writing the configuration");
        let mut command = c1_pipeline();
        command
            .arg("--config")
            .arg(&path)
            .args(self.args)
            .envs(self.env.iter().copied())
            .stdin(if self.input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("starting c1-pipeline");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = vec![collect(child.stderr.take().unwrap(), Arc::clone(&stderr))];
        let child_stdout = child.stdout.take().unwrap();
        if self.close_stdout {
            drop(child_stdout);
        } else {
            readers.push(collect(child_stdout, Arc::clone(&stdout)));
        }
        let mut open_stdin = None;
        let mut writer = None;
        if let Some(bytes) = self.input {
            let mut stdin: ChildStdin = child.stdin.take().unwrap();
            if self.keep_stdin_open {
                stdin.write_all(&bytes).expect("writing to stdin");
                stdin.flush().expect("flushing stdin");
                open_stdin = Some(stdin);
            } else {
                writer = Some(std::thread::spawn(move || {
                    // A pipeline that stopped early closes its stdin; its exit status
                    // tells why.
                    let _ = stdin.write_all(&bytes);
                }));
            }
        }
        Pipeline {
            child,
            started: Instant::now(),
            stdout,
            stderr,
            readers,
            writer,
            open_stdin,
            config_path: path,
            _config_dir: dir,
        }
    }
}

impl Pipeline {
    /// Starts the binary on `config` with `args`, feeding `input` to its stdin (then
    /// closing it), or leaving stdin empty when `input` is `None`.
    pub fn start(config: &str, args: &[&str], input: Option<Vec<u8>>) -> Self {
        Launch {
            args,
            input,
            ..Launch::default()
        }
        .start(config)
    }

    pub fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).expect("pid fits in pid_t")
    }

    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: `kill` has no memory-safety preconditions; the pid is our own child, which
        // has not been reaped yet (we still hold it), so it cannot have been reused.
        let result = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(result, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Whether the process has not exited yet.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stdout_snapshot(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr_snapshot(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits until `ready` holds for the output so far, failing past `limit`.
    pub fn wait_until(&mut self, what: &str, limit: Duration, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + limit;
        while !ready(self) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "c1-pipeline exited ({status}) before {what}; stderr:\n{}",
                    tail(&self.stderr_snapshot())
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {limit:?}; stderr:\n{}",
                tail(&self.stderr_snapshot())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit (killing it past `limit`) and returns its output.
    pub fn wait(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for c1-pipeline") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "c1-pipeline did not exit within {limit:?}; stderr:\n{}",
                    tail(&self.stderr_snapshot())
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.open_stdin = None;
        if let Some(writer) = self.writer.take() {
            writer.join().expect("stdin writer thread");
        }
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader thread");
        }
        Finished {
            status,
            stdout: std::mem::take(&mut *self.stdout.lock().unwrap()),
            stderr: std::mem::take(&mut *self.stderr.lock().unwrap()),
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The structured log records (`--log-format json`) on stderr; other lines are ignored.
pub fn log_records(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record.get("fields").is_some())
        .collect()
}

pub fn records_with_message<'a>(records: &'a [Value], message: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["fields"]["message"] == message)
        .collect()
}

/// Resident memory of `pid` in bytes now (`VmRSS` in `/proc/<pid>/status`).
#[cfg(target_os = "linux")]
pub fn resident_bytes(pid: libc::pid_t) -> Option<u64> {
    status_bytes(pid, "VmRSS:")
}

/// The most resident memory `pid` has had so far, in bytes (`VmHWM`, the high-water mark,
/// in `/proc/<pid>/status`): unlike sampling `VmRSS`, it cannot miss a short peak.
#[cfg(target_os = "linux")]
pub fn peak_resident_bytes(pid: libc::pid_t) -> Option<u64> {
    status_bytes(pid, "VmHWM:")
}

/// A `kB` line of `/proc/<pid>/status`, in bytes.
#[cfg(target_os = "linux")]
fn status_bytes(pid: libc::pid_t, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
