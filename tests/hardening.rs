//! The binary under adversarial conditions: a stdout nobody reads, signals at awkward
//! moments, two processes on one `data_dir`, events nested past any limit, huge lines and huge
//! configurations. Each test reproduces a defect found by an adversarial run, with its numbers
//! as limits (docs/failure-modes.md lists them).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary, with no configuration or log settings inherited from the test's environment.
fn c1_pipeline() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_c1-pipeline"));
    command
        .env_remove("C1_PIPELINE_CONFIG")
        .env_remove("C1_PIPELINE_LOG")
        .env_remove("C1_PIPELINE_LOG_FORMAT")
        .stdin(Stdio::null());
    command
}

/// Writes `text` as `name` in `dir`.
fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("config written");
    path
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
const FLOOD_TO_CONSOLE: &str = r#"
[sources.in]
type = "conductorone_demo"
interval_secs = 0

[sinks.out]
type = "console"
inputs = ["in"]
encoding.codec = "json"
"#;

/// Starts the flood with stdout a pipe this test holds open and never reads, and waits until
/// the pipe is full (the console sink is then blocked in a write).
fn flood_into_an_unread_pipe(dir: &Path) -> Child {
    let config = write_config(dir, "flood.toml", FLOOD_TO_CONSOLE);
    let child = c1_pipeline()
        .args(["--graceful-shutdown-limit-secs", "2", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
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
    let config = write_config(
        dir.path(),
        "hec.toml",
        &format!(
            r#"
data_dir = "{}"

[sources.in]
type = "conductorone_demo"
interval_secs = 0

[sinks.hec]
type = "splunk_hec_logs"
inputs = ["in"]
endpoint = "http://{address}"
default_token = "00000000-0000-0000-0000-000000000000"
encoding.codec = "json"
"#,
            dir.path().join("state").display()
        ),
    );
    let mut child = c1_pipeline()
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
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
    let config = write_config(
        dir.path(),
        "slow.toml",
        &format!(
            r#"
data_dir = "{}"

[sources.in]
type = "conductorone_demo"
interval_secs = 1

[sinks.out]
type = "blackhole"
inputs = ["in"]
"#,
            data_dir.display()
        ),
    );
    let mut first = c1_pipeline()
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !data_dir.join(".c1-pipeline.lock").exists() {
        assert!(Instant::now() < deadline, "the first process never locked");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let second = c1_pipeline()
        .arg("--config")
        .arg(&config)
        .output()
        .expect("the binary runs");
    signal(&first, libc::SIGTERM);
    let (code, _) = wait_exit(&mut first, Duration::from_secs(10));
    assert_eq!(code, Some(0));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
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
    let config = write_config(
        dir.path(),
        "deep.toml",
        r#"
[sources.in]
type = "stdin"
decoding.codec = "json"
max_length = 2000000

[transforms.shape]
type = "remap"
inputs = ["in"]
source = ".copy = .unmapped"

[sinks.out]
type = "console"
inputs = ["shape"]
encoding.codec = "json"
"#,
    );
    let mut child = c1_pipeline()
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let input = format!(
        "{{\"n\":1}}\n{{\"n\":2,\"unmapped\":{}}}\n{{\"n\":3,\"unmapped\":{}}}\n{{\"n\":4}}\n",
        nested_json(511),
        nested_json(100_000)
    );
    let mut stdin = child.stdin.take().expect("piped");
    std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("the binary runs");
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
    let config = write_config(
        dir.path(),
        "long.toml",
        r#"
[sources.in]
type = "stdin"
decoding.codec = "json"
max_length = 100000000

[sinks.out]
type = "blackhole"
inputs = ["in"]
"#,
    );
    let mut input = Vec::with_capacity(50_000_100);
    input.extend_from_slice(b"{\"n\":1}\n{\"n\":2,\"long\":\"");
    input.resize(input.len() + 50_000_000, b'x');
    input.extend_from_slice(b"\"}\n{\"n\":3}\n");
    let start = Instant::now();
    let mut child = c1_pipeline()
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Through a pipe, 64 KiB at a time, as the adversarial run fed it.
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("the binary runs");
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
    let output = c1_pipeline()
        .args(["validate", "--no-environment"])
        .arg(&config)
        .output()
        .expect("the binary runs");
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("10000 sink(s)"), "{stderr}");
    assert!(took < time_limit(Duration::from_secs(5)), "took {took:?}");
}

#[test]
fn configuration_errors_come_before_any_health_check() {
    // An unreachable HEC (its health check would fail and warn) and a VRL error: only the
    // configuration error is reported, and nothing touches the network.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        "broken.toml",
        r#"
[sources.in]
type = "conductorone_demo"

[transforms.shape]
type = "remap"
inputs = ["in"]
source = ".x = undefined_function()"

[sinks.hec]
type = "splunk_hec_logs"
inputs = ["shape"]
endpoint = "http://127.0.0.1:9"
default_token = "00000000-0000-0000-0000-000000000000"
encoding.codec = "json"
"#,
    );
    let output = c1_pipeline()
        .arg("--config")
        .arg(&config)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("undefined_function"), "{stderr}");
    assert!(!stderr.contains("health check"), "{stderr}");
}

#[test]
fn log_options_are_accepted_before_the_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "flood.toml", FLOOD_TO_CONSOLE);
    for args in [
        &["--log-level", "debug", "validate", "--no-environment"][..],
        &["validate", "--log-level", "debug", "--no-environment"][..],
        &["--log-format", "json", "validate", "--no-environment"][..],
    ] {
        let output = c1_pipeline()
            .args(args)
            .arg(&config)
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
    }
    // `--config` before the subcommand counts too, and a file named twice is read once.
    let output = c1_pipeline()
        .arg("--config")
        .arg(&config)
        .args(["validate", "--no-environment"])
        .arg(&config)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("checked 1 file(s)"), "{stderr}");
}
