//! `stdin`: newline-delimited events from standard input (Vector's options).
//!
//! A reader thread splits the input into [`FrameBatch`]es of lines; decoding (JSON parsing,
//! the costliest step of the whole pipeline) runs on every core at once; a forwarding task
//! sends the decoded batches on in input order. The source ends at end of input; before returning it waits for
//! every batch it sent to be acknowledged, and fails (non-zero exit) if any event was not
//! delivered, so `exit 0` means every line reached every sink.

use std::io::Read;
use std::sync::Arc;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::ack::{BatchNotifier, BatchStatus, BatchStatusReceiver, OrderedAcks};
use crate::codecs::{DecodingCodec, DecodingConfig, FrameBatch, LineFramer};
use crate::component::{BuildError, ComponentError, ComponentTask, SourceComponent, SourceContext};
use crate::event::{Batch, Event, intern_id};
use crate::metrics::ComponentMetrics;
use crate::topology::{MAX_BATCH_EVENTS, worker_count};

/// `[sources.ID] type = "stdin"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {
    /// How each line becomes an event. Default `bytes` (`{ "message": line }`); `json` makes
    /// each line's object the event itself.
    #[serde(default)]
    pub decoding: DecodingConfig,
    /// Framing: only `newline_delimited` (the default) is supported.
    #[serde(default)]
    pub framing: Option<FramingConfig>,
    /// Lines longer than this many bytes are skipped and counted. Default 102400 (Vector's).
    #[serde(default = "default_max_length")]
    pub max_length: usize,
}

/// `framing` options.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FramingConfig {
    /// Only `newline_delimited`.
    pub method: FramingMethod,
}

/// Supported framings.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FramingMethod {
    /// One event per line (`\n`, with an optional `\r` before it).
    NewlineDelimited,
}

fn default_max_length() -> usize {
    102_400
}

impl SourceComponent for StdinConfig {
    fn build(&self, cx: SourceContext) -> Result<ComponentTask, BuildError> {
        if self.max_length == 0 {
            return Err(BuildError::field("max_length", "must be greater than 0"));
        }
        let config = self.clone();
        // The reader thread starts with the source, not at build time (`validate` builds
        // sources without running them).
        Ok(Box::pin(async move {
            let batches =
                spawn_reader(std::io::stdin(), config.max_length, Arc::clone(&cx.metrics))
                    .map_err(|e| ComponentError(format!("stdin: cannot start the reader: {e}")))?;
            read_lines(config, cx, batches).await
        }))
    }
}

/// Frames `input` into batches of lines on a thread of its own.
///
/// A read waiting for input cannot be cancelled: on tokio's blocking pool, a stdin that stays
/// open (a terminal, `tail -f … |`, a supervisor's pipe) would make the runtime's shutdown
/// wait forever after a SIGTERM. A plain thread blocked in `read` does not keep the process
/// alive (Vector's stdin source reads the same way). The thread ends at end of input, on a
/// read error (sent on), or when the source stops listening.
pub fn spawn_reader<R: Read + Send + 'static>(
    input: R,
    max_length: usize,
    metrics: Arc<ComponentMetrics>,
) -> std::io::Result<mpsc::Receiver<std::io::Result<FrameBatch>>> {
    let (sender, batches) = mpsc::channel(2);
    std::thread::Builder::new()
        .name("stdin-reader".into())
        .spawn(move || {
            let mut framer = LineFramer::new(input, max_length);
            loop {
                let skipped_before = framer.too_long;
                let next = framer.next_batch(MAX_BATCH_EVENTS);
                for _ in skipped_before..framer.too_long {
                    metrics.error();
                }
                let batch = match next {
                    Ok(None) => break,
                    Ok(Some(batch)) => Ok(batch),
                    Err(error) => Err(error),
                };
                let failed = batch.is_err();
                if sender.blocking_send(batch).is_err() || failed {
                    break;
                }
            }
        })?;
    Ok(batches)
}

/// Invalid lines are logged one by one up to this many, then only counted.
const LOGGED_INVALID_LINES: u64 = 100;

/// A batch being decoded, with the acknowledgement receiver of its events.
struct Decoding {
    job: JoinHandle<Decoded>,
    receiver: BatchStatusReceiver,
}

/// The result of decoding one [`FrameBatch`].
struct Decoded {
    events: Batch,
    invalid_lines: Vec<(u64, String)>,
}

fn decode(
    frames: FrameBatch,
    codec: DecodingCodec,
    source_id: &'static str,
    notifier: BatchNotifier,
) -> Decoded {
    let mut events = Vec::with_capacity(frames.len());
    let mut invalid_lines = Vec::new();
    for (frame, line) in frames.into_frames() {
        match codec.decode(&frame) {
            Ok(value) => events.push(Event::from_source(
                value,
                source_id,
                Some(notifier.finalizer()),
            )),
            Err(error) => invalid_lines.push((line, error.to_string())),
        }
    }
    Decoded {
        events,
        invalid_lines,
    }
}

/// Decodes the framed batches from `batches` on every core and sends them on in order,
/// until end of input or shutdown; then waits for every batch's acknowledgement.
pub async fn read_lines(
    config: StdinConfig,
    cx: SourceContext,
    batches: mpsc::Receiver<std::io::Result<FrameBatch>>,
) -> Result<(), ComponentError> {
    let (jobs_tx, jobs_rx) = mpsc::channel::<Decoding>(worker_count());
    let reader = dispatch_decoding(&config, &cx, batches, jobs_tx);
    let forwarder = forward(&cx, jobs_rx);
    let (read, forwarded) = tokio::join!(reader, forwarder);
    read?;
    let undelivered = forwarded?;
    if undelivered > 0 {
        return Err(ComponentError(format!(
            "{undelivered} events read from stdin were not delivered"
        )));
    }
    Ok(())
}

/// Starts decoding each framed batch on the runtime's workers, in order.
async fn dispatch_decoding(
    config: &StdinConfig,
    cx: &SourceContext,
    mut batches: mpsc::Receiver<std::io::Result<FrameBatch>>,
    jobs: mpsc::Sender<Decoding>,
) -> Result<(), ComponentError> {
    let codec = config.decoding.codec;
    loop {
        let next = tokio::select! {
            biased;
            () = cx.shutdown.cancelled() => break,
            next = batches.recv() => next,
        };
        let frames = match next {
            None => break,
            Some(Ok(frames)) => frames,
            Some(Err(error)) => return Err(ComponentError(format!("reading stdin: {error}"))),
        };
        let (notifier, receiver) = BatchNotifier::new();
        let source_id = intern_id(&cx.id);
        let job = tokio::task::spawn(async move { decode(frames, codec, source_id, notifier) });
        if jobs.send(Decoding { job, receiver }).await.is_err() {
            return Err(ComponentError("stdin: downstream stopped".into()));
        }
    }
    Ok(())
}

/// Sends decoded batches on in input order, then waits for their acknowledgements.
/// Returns how many events were not delivered.
async fn forward(
    cx: &SourceContext,
    mut jobs: mpsc::Receiver<Decoding>,
) -> Result<u64, ComponentError> {
    let mut out = cx.out.clone();
    let mut acks: OrderedAcks<usize> = OrderedAcks::new();
    let mut undelivered: u64 = 0;
    let mut invalid: u64 = 0;
    while let Some(Decoding { job, receiver }) = jobs.recv().await {
        let decoded = job
            .await
            .map_err(|e| ComponentError(format!("stdin: decoding task failed: {e}")))?;
        for (line, error) in &decoded.invalid_lines {
            invalid += 1;
            cx.metrics.error();
            if invalid <= LOGGED_INVALID_LINES {
                tracing::warn!(line, %error, "invalid line skipped");
            } else if invalid == LOGGED_INVALID_LINES + 1 {
                tracing::warn!("more invalid lines; counting them without logging each");
            }
        }
        acks.push(decoded.events.len(), receiver);
        cx.metrics.received(decoded.events.len());
        out.send(decoded.events)
            .await
            .map_err(|e| ComponentError(format!("stdin: {e}")))?;
        while let Some((count, status)) = acks.try_next_ready() {
            undelivered += not_delivered(count, status);
        }
    }
    // Wait for the sinks: exit 0 must mean everything read was delivered.
    while let Some((count, status)) = acks.next_ready().await {
        undelivered += not_delivered(count, status);
    }
    if invalid > 0 {
        tracing::warn!(component = %cx.id, invalid_lines = invalid, "invalid lines were skipped");
    }
    Ok(undelivered)
}

fn not_delivered(count: usize, status: BatchStatus) -> u64 {
    if status == BatchStatus::Delivered {
        0
    } else {
        count as u64
    }
}
