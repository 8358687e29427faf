//! S3 benchmark: the core workload through `stdin (json) -> remap -> filter -> aws_s3 (gzip
//! NDJSON)` (`bench/aws-s3.toml`) into the S3 test server (s3s-fs, verifying signatures),
//! against the serde_json baseline loop of the core benchmark and `gzip -6` compressing the
//! baseline's output, all measured in the same run.
//!
//! The S3 server runs in a child process of its own (this binary with `--serve-s3`), so neither
//! its CPU nor its memory is counted: only the measured children are, with `wait4(2)`. The
//! objects are verified by streaming them from the server's directory, which keeps the harness
//! small (a child's peak RSS can never be lower than the harness's at spawn time). `batch.max_bytes` is 100 MB, so every run writes one
//! large object as a multipart upload; the memory target applies to that.
//!
//! Targets (issue 6): pipeline CPU ≤ 2× the baseline's + 1.2× gzip's CPU on the same output
//! bytes at the same level (6); peak RSS ≤ 96 MiB. Before timing, one pass reads the objects
//! back, decompresses them and checks they hold exactly the events the baseline wrote; the
//! benchmark exits non-zero otherwise. Missed targets are reported, not fatal.
//!
//! Run with `cargo bench --bench aws_s3` (`C1_BENCH_EVENTS`, default 200,000, and
//! `C1_BENCH_RUNS`, default 3). Without `--bench` (as under `cargo test --all-targets`) it is a
//! smoke run: 2,000 events, the count check only.

mod common;
#[path = "../tests/common/s3_server.rs"]
mod s3_server;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use common::{BenchResult, Contender, Measurement, OutputSink, Targets, measure, median, verdict};
use s3_server::S3Server;

/// Target: pipeline CPU ≤ this × baseline CPU + [`MAX_GZIP_FACTOR`] × gzip CPU.
const MAX_BASELINE_FACTOR: f64 = 2.0;
/// See [`MAX_BASELINE_FACTOR`].
const MAX_GZIP_FACTOR: f64 = 1.2;
/// Target: peak RSS of the pipeline, in MiB.
const MAX_RSS_MIB: f64 = 96.0;
/// Pipeline configuration, relative to the package root.
const CONFIG_PATH: &str = "bench/aws-s3.toml";
/// The bucket the configuration writes to.
const BUCKET: &str = "bench";

fn main() -> ExitCode {
    if std::env::args().any(|arg| arg == SERVE_FLAG) {
        return match serve_s3() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("aws_s3: S3 server: {error}");
                ExitCode::FAILURE
            }
        };
    }
    common::bench_main("aws_s3", run_harness)
}

/// Argument that turns this binary into the S3 server child: it prints
/// `<endpoint> <root directory>` on one line, then serves until its stdin closes.
const SERVE_FLAG: &str = "--serve-s3";

/// Runs the S3 test server (s3s-fs) until stdin closes: the server child.
fn serve_s3() -> BenchResult<()> {
    let runtime = common::server_runtime(1)?;
    runtime.block_on(async {
        let server = S3Server::start().await;
        server.create_bucket(BUCKET).await;
        println!("{} {}", server.endpoint, server.root.path().display());
        // The harness holds our stdin; its end (or the harness's death) ends the server.
        let mut stdin = tokio::io::stdin();
        let mut sink = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut stdin, &mut sink).await;
        drop(server);
    });
    Ok(())
}

/// The S3 server, in a child process of its own: neither its CPU nor its memory (it receives
/// every object) may count as the pipeline's, and a child's peak RSS starts from the harness's
/// own, so the harness must stay small.
struct Server {
    child: std::process::Child,
    endpoint: String,
    root: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> BenchResult<Self> {
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .arg(SERVE_FLAG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout from the S3 server")?;
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
        let (endpoint, root) = line
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("unexpected S3 server banner {line:?}"))?;
        Ok(Self {
            endpoint: endpoint.to_owned(),
            root: PathBuf::from(root),
            child,
        })
    }

    /// Events in the gzip objects under `prefix` (streamed from the server's directory, so the
    /// harness stays small), and the number of objects.
    fn events_under(&self, prefix: &str) -> BenchResult<(u64, usize)> {
        let mut events = 0;
        let mut objects = 0;
        let mut pending = vec![self.root.join(BUCKET).join(prefix)];
        while let Some(path) = pending.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path)? {
                    pending.push(entry?.path());
                }
            } else if path.extension().is_some_and(|e| e == "gz") {
                let decoder = flate2::read::MultiGzDecoder::new(File::open(&path)?);
                events += common::count_newlines(decoder)?;
                objects += 1;
            }
        }
        Ok((events, objects))
    }
}

fn pipeline(endpoint: &str, prefix: &str) -> Contender {
    Contender::pipeline(
        "c1-pipeline",
        CONFIG_PATH,
        &[
            ("C1_BENCH_S3_ENDPOINT", endpoint),
            ("C1_BENCH_S3_PREFIX", prefix),
        ],
    )
}

/// Writes the baseline's output (the NDJSON the sink compresses) to `path`.
fn save_baseline_output(
    baseline: &Contender,
    root: &Path,
    workload: &Path,
    path: &Path,
) -> BenchResult<()> {
    let mut command = baseline.command(root, workload)?;
    let file = File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    let status = command.stdout(Stdio::from(file)).status()?;
    if !status.success() {
        return Err(format!("baseline failed: {status}").into());
    }
    Ok(())
}

fn run_harness(bench_mode: bool) -> BenchResult<bool> {
    let (root, events, runs, workload) = common::setup(bench_mode)?;
    let server = Server::start()?;
    let endpoint = server.endpoint.clone();

    let baseline = Contender::baseline(&workload)?;
    let gzip = Contender {
        name: "gzip -6 of the baseline output",
        program: PathBuf::from("gzip"),
        args: vec!["-6".to_owned(), "-c".to_owned()],
        env: Vec::new(),
    };
    println!(
        "c1-pipeline S3 benchmark: stdin -> remap -> filter -> aws_s3 (gzip NDJSON, 100 MB objects)"
    );
    println!("workload : {} ({events} events)", workload.display());
    pipeline(&endpoint, "run").print_pipeline_line(
        root,
        &format!("C1_BENCH_S3_ENDPOINT={endpoint} C1_BENCH_S3_PREFIX=... "),
        "",
    );

    // Verification (also warms the page cache): the objects hold what the baseline writes.
    let (_, expected) = measure(&baseline, root, &workload, OutputSink::CountLines)?;
    let output_dir = tempfile::tempdir()?;
    let baseline_output = output_dir.path().join("baseline.ndjson");
    save_baseline_output(&baseline, root, &workload, &baseline_output)?;
    measure(
        &pipeline(&endpoint, "verify"),
        root,
        &workload,
        OutputSink::DevNull,
    )?;
    let (written, objects) = server.events_under("verify")?;
    if written != expected {
        eprintln!("aws_s3: FAIL: the objects hold {written} events, the baseline wrote {expected}");
        return Ok(false);
    }
    println!(
        "output   : {expected} events in {objects} object(s), read back and decompressed (counts agree)"
    );
    if common::smoke_run_ends(bench_mode, "delivery count checked") {
        return Ok(true);
    }

    let mut rows: Vec<[Measurement; 3]> = Vec::with_capacity(runs);
    for run in 1..=runs {
        let (base, _) = measure(&baseline, root, &workload, OutputSink::DevNull)?;
        let (zipped, _) = measure(&gzip, root, &baseline_output, OutputSink::DevNull)?;
        let prefix = format!("run-{run}");
        let (piped, _) = measure(
            &pipeline(&endpoint, &prefix),
            root,
            &workload,
            OutputSink::DevNull,
        )?;
        println!(
            "run {run}/{runs}: baseline {base}\n           gzip     {zipped}\n           pipeline {piped}"
        );
        rows.push([base, zipped, piped]);
    }
    let [base, zipped, piped] = common::column_medians(&rows);
    // Paired per round: the allowance is computed from the same round's baseline and gzip.
    let budget_ratio = median(
        rows.iter()
            .map(|r| {
                r[2].cpu_secs
                    / (MAX_BASELINE_FACTOR * r[0].cpu_secs + MAX_GZIP_FACTOR * r[1].cpu_secs)
            })
            .collect(),
    );
    let cpu_ratio = median(rows.iter().map(|r| r[2].cpu_secs / r[0].cpu_secs).collect());

    println!("\nevents {events}, {expected} written per run (medians of {runs} runs)");
    common::print_medians(
        32,
        &[
            (baseline.name, base),
            (gzip.name, zipped),
            ("c1-pipeline", piped),
        ],
    );
    println!(
        "pipeline throughput: {:.0} events/s",
        events as f64 / piped.wall_secs
    );
    println!();
    let targets = Targets {
        label: 48,
        measured: 10,
    };
    targets.header("target (median of paired ratios)");
    targets.ratio(
        &format!("CPU <= {MAX_BASELINE_FACTOR}x baseline + {MAX_GZIP_FACTOR}x gzip (share used)"),
        budget_ratio,
        verdict(budget_ratio <= 1.0),
    );
    targets.ratio("CPU vs baseline alone", cpu_ratio, "(no target)");
    targets.mib(
        &format!("peak RSS <= {MAX_RSS_MIB:.0} MiB (100 MB objects)"),
        piped.max_rss_mib,
        verdict(piped.max_rss_mib <= MAX_RSS_MIB),
    );
    Ok(true)
}
