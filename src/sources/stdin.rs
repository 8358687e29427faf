//! `stdin`: newline-delimited events from standard input (Vector's options).
//!
//! One task reads lines into [`FrameBatch`]es; decoding (JSON parsing, the costliest step of
//! the whole pipeline) runs on every core at once; a forwarding task sends the decoded
//! batches on in input order. The source ends at end of input; before returning it waits for
//! every batch it sent to be acknowledged, and fails (non-zero exit) if any event was not
//! delivered, so `exit 0` means every line reached every sink.

use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::ack::{BatchNotifier, BatchStatus, BatchStatusReceiver, OrderedAcks};
use crate::codecs::{DecodingCodec, DecodingConfig, FrameBatch};
use crate::component::{BuildError, ComponentError, ComponentTask, SourceComponent, SourceContext};
use crate::event::{Batch, Event};
use crate::topology::{MAX_BATCH_BYTES, MAX_BATCH_EVENTS, worker_count};

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
            let input = ThreadStdin::spawn()
                .map_err(|e| ComponentError(format!("stdin: cannot start the reader: {e}")))?;
            read_lines(config, cx, input).await
        }))
    }
}

/// Standard input, read on a thread of its own.
///
/// `tokio::io::stdin()` reads on the runtime's blocking pool, and a read waiting for input
/// cannot be cancelled: when stdin stays open (a terminal, `tail -f … |`, a supervisor's
/// pipe) the runtime's shutdown waits for that read forever, so the process hangs after a
/// SIGTERM has stopped the pipeline. A plain thread blocked in `read` does not keep the
/// process alive (Vector's stdin source reads the same way).
struct ThreadStdin {
    chunks: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    position: usize,
}

/// Bytes per read of the reader thread.
const STDIN_CHUNK: usize = 256 * 1024;

impl ThreadStdin {
    fn spawn() -> std::io::Result<Self> {
        let (sender, chunks) = mpsc::channel(4);
        std::thread::Builder::new()
            .name("stdin-reader".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                let mut buffer = vec![0u8; STDIN_CHUNK];
                loop {
                    let chunk = match stdin.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(read) => Ok(buffer[..read].to_vec()),
                        Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(error) => Err(error),
                    };
                    let failed = chunk.is_err();
                    // The source has stopped (or the read failed): nothing more to read.
                    if sender.blocking_send(chunk).is_err() || failed {
                        break;
                    }
                }
            })?;
        Ok(Self {
            chunks,
            chunk: Vec::new(),
            position: 0,
        })
    }
}

impl AsyncRead for ThreadStdin {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        while this.position == this.chunk.len() {
            match ready!(this.chunks.poll_recv(cx)) {
                Some(Ok(chunk)) => {
                    this.chunk = chunk;
                    this.position = 0;
                }
                Some(Err(error)) => return Poll::Ready(Err(error)),
                // End of input: a read of zero bytes.
                None => return Poll::Ready(Ok(())),
            }
        }
        let available = &this.chunk[this.position..];
        let count = available.len().min(buf.remaining());
        buf.put_slice(&available[..count]);
        this.position += count;
        Poll::Ready(Ok(()))
    }
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
    source_id: Arc<str>,
    notifier: BatchNotifier,
) -> Decoded {
    let mut events = Vec::with_capacity(frames.len());
    let mut invalid_lines = Vec::new();
    for (frame, line) in frames.into_frames() {
        match codec.decode(&frame) {
            Ok(value) => events.push(Event::from_source(
                value,
                &source_id,
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

/// Reads newline-delimited events from `input` (stdin in production, anything in tests) to
/// its end or until shutdown, and waits for every batch's acknowledgement.
pub async fn read_lines(
    config: StdinConfig,
    cx: SourceContext,
    input: impl AsyncRead + Unpin,
) -> Result<(), ComponentError> {
    let (jobs_tx, jobs_rx) = mpsc::channel::<Decoding>(worker_count());
    let reader = read_frames(&config, &cx, input, jobs_tx);
    let forwarder = forward(&cx, jobs_rx);
    let (read, forwarded) = tokio::join!(reader, forwarder);
    let lines = read?;
    let undelivered = forwarded?;
    tracing::debug!(component = %cx.id, lines, "end of input");
    if undelivered > 0 {
        return Err(ComponentError(format!(
            "{undelivered} events read from stdin were not delivered"
        )));
    }
    Ok(())
}

/// Splits the input into frame batches and starts decoding each on the runtime's workers.
/// Returns the number of lines read.
async fn read_frames(
    config: &StdinConfig,
    cx: &SourceContext,
    input: impl AsyncRead + Unpin,
    jobs: mpsc::Sender<Decoding>,
) -> Result<u64, ComponentError> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut line = Vec::with_capacity(4096);
    let mut line_number: u64 = 0;
    let mut frames = FrameBatch::with_capacity(MAX_BATCH_EVENTS, MAX_BATCH_BYTES + 4096);
    let codec = config.decoding.codec;
    let dispatch = |frames: FrameBatch| {
        let (notifier, receiver) = BatchNotifier::new();
        let source_id = Arc::clone(&cx.id);
        let job = if worker_count() == 1 {
            // Decode right here, keeping the batch on this core.
            let decoded = decode(frames, codec, source_id, notifier);
            tokio::task::spawn(async move { decoded })
        } else {
            tokio::task::spawn(async move { decode(frames, codec, source_id, notifier) })
        };
        Decoding { job, receiver }
    };
    loop {
        line.clear();
        let read = tokio::select! {
            biased;
            () = cx.shutdown.cancelled() => break,
            read = reader.read_until(b'\n', &mut line) => read,
        };
        if read.map_err(|e| ComponentError(format!("reading stdin: {e}")))? == 0 {
            break;
        }
        line_number += 1;
        let frame = trim_newline(&line);
        if frame.len() > config.max_length {
            cx.metrics.error();
            tracing::warn!(
                line = line_number,
                bytes = frame.len(),
                max_length = config.max_length,
                "line longer than max_length skipped"
            );
            continue;
        }
        if frame.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        frames.push(frame, line_number);
        // A partial batch goes out as soon as no more input is buffered, so interactive use
        // sees events at once; full batches go out as soon as they fill.
        if frames.len() >= MAX_BATCH_EVENTS
            || frames.bytes() >= MAX_BATCH_BYTES
            || reader.buffer().is_empty()
        {
            let full = std::mem::replace(
                &mut frames,
                FrameBatch::with_capacity(MAX_BATCH_EVENTS, MAX_BATCH_BYTES + 4096),
            );
            if jobs.send(dispatch(full)).await.is_err() {
                return Err(ComponentError("stdin: downstream stopped".into()));
            }
        }
    }
    if !frames.is_empty() && jobs.send(dispatch(frames)).await.is_err() {
        return Err(ComponentError("stdin: downstream stopped".into()));
    }
    Ok(line_number)
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

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
