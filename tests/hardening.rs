//! The binary under adversarial conditions: a stdout nobody reads, signals at awkward
//! moments, two processes on one `data_dir`, events nested past any limit, huge lines and huge
//! configurations. Each test reproduces a defect found by an adversarial run, with its numbers
//! as limits (docs/failure-modes.md lists them).

#[path = "common/config.rs"]
mod config;
#[path = "common/process.rs"]
mod process;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use config::Toml;
use process::c1_pipeline;

/// A `splunk_hec_logs` sink `hec` reading `input` and sending to `endpoint` (`host:port`).
fn hec_sink(toml: Toml, input: &str, endpoint: &str) -> Toml {
    let endpoint = format!("http://{endpoint}");
    let token = "00000000-0000-0000-0000-000000000000";
    toml.splunk_hec("hec", &[input], (&endpoint, token), &[])
}

/// `data_dir = "DIR"`, to start a configuration with.
fn data_dir(dir: &Path) -> Toml {
    Toml::new().lines(&[&format!("data_dir = \"{}\"", dir.display())])
}

/// A `stdin (json)` source that takes lines up to `max_length` bytes.
fn stdin_up_to(max_length: u64) -> Toml {
    Toml::new().table(
        "sources.in",
        &[
            r#"type = "stdin""#,
            r#"decoding.codec = "json""#,
            &format!("max_length = {max_length}"),
        ],
    )
}

/// Writes `text` as `name` in `dir`.
fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("config written");
    path
}

/// Starts `c1-pipeline ARGS --config CONFIG` with `stdout` and `stderr` (stdin empty).
fn start(args: &[&str], config: &Path, stdout: Stdio, stderr: Stdio) -> Child {
    c1_pipeline()
        .args(args)
        .arg("--config")
        .arg(config)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("the binary starts")
}

/// Runs `command` to its end: its exit code and its stderr.
fn finish(command: &mut Command) -> (Option<i32>, String) {
    let output = command.output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

/// Runs `c1-pipeline --config CONFIG` with `input` written to its stdin by a thread (returned,
/// with the write's result) and stdout as given; stderr is captured.
fn feed(config: &Path, input: Vec<u8>, stdout: Stdio) -> (Output, JoinHandle<std::io::Result<()>>) {
    let mut child = c1_pipeline()
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    (child.wait_with_output().expect("the binary runs"), writer)
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) on a child process id this test started and has not reaped.
    let result = unsafe { libc::kill(child.id() as i32, signal) };
    assert_eq!(result, 0, "kill({signal})");
}

/// Waits up to `limit` for `child` to exit; its exit code and how long it took.
fn wait_exit(child: &mut Child, limit: Duration) -> (Option<i32>, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            return (status.code(), start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running {limit:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A demo source as fast as the pipeline takes it, into the console sink.
fn flood_to_console() -> Toml {
    Toml::new()
        .demo_with("in", &["interval_secs = 0"])
        .console("out", &["in"])
}

/// Starts the flood with stdout a pipe this test holds open and never reads, and waits until
/// the pipe is full (the console sink is then blocked in a write).
fn flood_into_an_unread_pipe(dir: &Path) -> Child {
    let config = write_config(dir, "flood.toml", &flood_to_console());
    let child = start(
        &["--graceful-shutdown-limit-secs", "2"],
        &config,
        Stdio::piped(),
        Stdio::null(),
    );
    // A pipe holds 64 KiB; the demo source fills it in far less than this.
    std::thread::sleep(Duration::from_secs(3));
    child
}

#[test]
fn the_shutdown_limit_ends_the_process_while_stdout_is_not_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = flood_into_an_unread_pipe(dir.path());
    signal(&child, libc::SIGTERM);
    // Exit 1 at the 2 s limit (plus the bounded exit grace), never a hang.
    let (code, took) = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(code, Some(1));
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_second_signal_exits_130_at_once_while_stdout_is_not_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    for second in [libc::SIGINT, libc::SIGTERM] {
        let mut child = flood_into_an_unread_pipe(dir.path());
        signal(&child, libc::SIGTERM);
        std::thread::sleep(Duration::from_millis(300));
        signal(&child, second);
        let (code, took) = wait_exit(&mut child, Duration::from_secs(10));
        assert_eq!(code, Some(130));
        assert!(took < Duration::from_secs(1), "took {took:?}");
    }
}

#[test]
fn a_signal_during_the_start_up_health_checks_stops_gracefully() {
    // A HEC endpoint that accepts connections and never answers: the health check hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = silent.local_addr().expect("address");
    let dir = tempfile::tempdir().expect("tempdir");
    let text = data_dir(&dir.path().join("state")).demo_with("in", &["interval_secs = 0"]);
    let config = write_config(
        dir.path(),
        "hec.toml",
        &hec_sink(text, "in", &address.to_string()),
    );
    let mut child = start(&[], &config, Stdio::null(), Stdio::piped());
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGTERM);
    let (code, took) = wait_exit(&mut child, Duration::from_secs(10));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr)
        .expect("stderr");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        stderr.contains("during the start-up health checks"),
        "{stderr}"
    );
    drop(silent);
}

#[test]
fn two_processes_cannot_share_a_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("state");
    let text = self::data_dir(&data_dir)
        .demo_with("in", &["interval_secs = 1"])
        .blackhole("out", &["in"], &[]);
    let config = write_config(dir.path(), "slow.toml", &text);
    let mut first = start(&[], &config, Stdio::null(), Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !data_dir.join(".c1-pipeline.lock").exists() {
        assert!(Instant::now() < deadline, "the first process never locked");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let (second, stderr) = finish(c1_pipeline().arg("--config").arg(&config));
    signal(&first, libc::SIGTERM);
    let (code, _) = wait_exit(&mut first, Duration::from_secs(10));
    assert_eq!(code, Some(0));
    assert_eq!(second, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("data_dir {} is in use", data_dir.display()))
            && stderr.contains(&format!("(pid {})", first.id())),
        "{stderr}"
    );
}

/// `levels` nested objects around `1`.
fn nested_json(levels: usize) -> String {
    format!("{}1{}", r#"{"x":"#.repeat(levels), "}".repeat(levels))
}

#[test]
fn stdin_delivers_deep_events_and_skips_ones_past_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = stdin_up_to(2_000_000)
        .remap("shape", &["in"], r#"".copy = .unmapped""#)
        .console("out", &["shape"]);
    let config = write_config(dir.path(), "deep.toml", &text);
    let input = format!(
        "{{\"n\":1}}\n{{\"n\":2,\"unmapped\":{}}}\n{{\"n\":3,\"unmapped\":{}}}\n{{\"n\":4}}\n",
        nested_json(511),
        nested_json(100_000)
    );
    let (output, _writer) = feed(&config, input.into_bytes(), Stdio::piped());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let numbers: Vec<i64> = stdout
        .lines()
        .map(|line| {
            let mut deserializer = serde_json::Deserializer::from_str(line);
            deserializer.disable_recursion_limit();
            let event: serde_json::Value =
                serde::Deserialize::deserialize(&mut deserializer).expect("JSON output");
            event["n"].as_i64().expect("n")
        })
        .collect();
    assert_eq!(numbers, [1, 2, 4]);
    assert!(
        stderr.contains("line=3") && stderr.contains("nested deeper than 512 levels"),
        "{stderr}"
    );
}

/// Timing tests run one at a time, so that their limits measure the code, not each other.
static TIMED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The limits are for release builds; a debug build (the test suite's) is given 3× as long.
fn time_limit(release: Duration) -> Duration {
    if cfg!(debug_assertions) {
        release * 3
    } else {
        release
    }
}

#[test]
fn a_50_mb_line_is_read_in_linear_time() {
    let _timed = TIMED.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let text = stdin_up_to(100_000_000).blackhole("out", &["in"], &[]);
    let config = write_config(dir.path(), "long.toml", &text);
    let mut input = Vec::with_capacity(50_000_100);
    input.extend_from_slice(b"{\"n\":1}\n{\"n\":2,\"long\":\"");
    input.resize(input.len() + 50_000_000, b'x');
    input.extend_from_slice(b"\"}\n{\"n\":3}\n");
    let start = Instant::now();
    // Through a pipe, 64 KiB at a time, as the adversarial run fed it.
    let (output, writer) = feed(&config, input, Stdio::null());
    let took = start.elapsed();
    writer.join().expect("writer").expect("written");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("events=3"), "{stderr}");
    assert!(took < time_limit(Duration::from_secs(3)), "took {took:?}");
}

#[test]
fn ten_thousand_sinks_are_validated_in_linear_time() {
    let _timed = TIMED.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from("[sources.in]\ntype = \"conductorone_demo\"\ncount = 1\n");
    for sink in 0..10_000 {
        text.push_str(&format!(
            "\n[sinks.s{sink}]\ntype = \"blackhole\"\ninputs = [\"in\"]\n"
        ));
    }
    let config = write_config(dir.path(), "many.toml", &text);
    let start = Instant::now();
    let (code, stderr) = finish(
        c1_pipeline()
            .args(["validate", "--no-environment"])
            .arg(&config),
    );
    let took = start.elapsed();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("10000 sink(s)"), "{stderr}");
    assert!(took < time_limit(Duration::from_secs(5)), "took {took:?}");
}

#[test]
fn configuration_errors_come_before_any_health_check() {
    // An unreachable HEC (its health check would fail and warn) and a VRL error: only the
    // configuration error is reported, and nothing touches the network.
    let dir = tempfile::tempdir().expect("tempdir");
    let text = Toml::new()
        .demo("in")
        .remap("shape", &["in"], r#"".x = undefined_function()""#);
    let config = write_config(
        dir.path(),
        "broken.toml",
        &hec_sink(text, "shape", "127.0.0.1:9"),
    );
    let (code, stderr) = finish(c1_pipeline().arg("--config").arg(&config));
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("undefined_function"), "{stderr}");
    assert!(!stderr.contains("health check"), "{stderr}");
}

#[test]
fn log_options_are_accepted_before_the_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "flood.toml", &flood_to_console());
    for args in [
        &["--log-level", "debug", "validate", "--no-environment"][..],
        &["validate", "--log-level", "debug", "--no-environment"][..],
        &["--log-format", "json", "validate", "--no-environment"][..],
    ] {
        let (code, stderr) = finish(c1_pipeline().args(args).arg(&config));
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
    // `--config` before the subcommand counts too, and a file named twice is read once.
    let (code, stderr) = finish(
        c1_pipeline()
            .arg("--config")
            .arg(&config)
            .args(["validate", "--no-environment"])
            .arg(&config),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("checked 1 file(s)"), "{stderr}");
}
