//! A host program running the `conductorone` source in its own process, with the pipeline's
//! acknowledgements: every event is printed as one JSON line on stdout and acknowledged only
//! after it is printed, so the source's checkpoint never passes an event the host has not
//! handled. A second run continues where the first stopped (from its last acknowledged batch
//! at worst).
//!
//! ```text
//! C1_CLIENT_ID=... C1_CLIENT_SECRET=... C1_DATA_DIR=/tmp/c1-embed \
//!     cargo run --example embed_source -- --max-events 1000
//! ```
//!
//! Settings from the environment: `C1_CLIENT_ID`, `C1_CLIENT_SECRET`, `C1_BASE_URL`
//! (optional: the API's root URL), `C1_DATA_DIR` (where the checkpoint lives). On its first
//! run the source starts at the beginning of the log. With `--max-events N` the program stops
//! after acknowledging N events (and the events already on their way), and exits 0 once the
//! checkpoint is written.

use std::io::Write;

use c1_pipeline::embed::host_sink;
use c1_pipeline::{BatchStatus, Pipeline};

const CONFIG: &str = r#"
data_dir = "${C1_DATA_DIR}"

[sources.c1]
type = "conductorone"
client_id = "${C1_CLIENT_ID}"
client_secret = "${C1_CLIENT_SECRET}"
base_url = "${C1_BASE_URL:-}"
start_at = "beginning"
"#;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let max_events = match max_events_argument() {
        Ok(max) => max,
        Err(message) => {
            eprintln!("embed_source: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut pipeline = match Pipeline::from_toml(CONFIG) {
        Ok(pipeline) => pipeline,
        Err(errors) => {
            eprintln!("embed_source: {errors}");
            return std::process::ExitCode::from(78);
        }
    };
    let (sink, mut batches) = host_sink(4);
    if let Err(error) = pipeline.add_sink("host", &["c1"], sink) {
        eprintln!("embed_source: {error}");
        return std::process::ExitCode::FAILURE;
    }
    let handle = match pipeline.start() {
        Ok(handle) => handle,
        Err(errors) => {
            eprintln!("embed_source: {errors}");
            return std::process::ExitCode::from(78);
        }
    };
    let mut printed: u64 = 0;
    if max_events == Some(0) {
        handle.stop();
    }
    let mut stdout = std::io::stdout().lock();
    // Ends when the pipeline has stopped and every batch in flight was handed over.
    while let Some(batch) = batches.recv().await {
        let mut lines = Vec::new();
        for event in &batch {
            serde_json::to_writer(&mut lines, &event.value).expect("a value serializes");
            lines.push(b'\n');
        }
        let written = stdout.write_all(&lines).and_then(|()| stdout.flush());
        let status = match written {
            Ok(()) => BatchStatus::Delivered,
            // Not printed: not acknowledged, so a later run sends these again.
            Err(_) => BatchStatus::Errored,
        };
        printed += batch.len() as u64;
        c1_pipeline::event::finish_batch(batch, status);
        if max_events.is_some_and(|max| printed >= max) {
            handle.stop();
        }
    }
    match handle.wait().await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("embed_source: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn max_events_argument() -> Result<Option<u64>, String> {
    let mut args = std::env::args().skip(1);
    let mut max = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--max-events" => {
                let value = args.next().ok_or("--max-events needs a number")?;
                max = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--max-events: `{value}` is not a number"))?,
                );
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}` (usage: [--max-events N])"
                ));
            }
        }
    }
    Ok(max)
}
