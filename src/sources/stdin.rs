//! `stdin`: newline-delimited events from standard input (Vector's options).
//!
//! The source ends at end of input; the pipeline then drains and exits. Before returning,
//! the source waits for every batch it sent to be acknowledged and fails (non-zero exit) if
//! any event was not delivered, so `exit 0` means every line reached every sink.

use std::sync::Arc;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::ack::{BatchNotifier, BatchStatus, OrderedAcks};
use crate::codecs::DecodingConfig;
use crate::component::{BuildError, ComponentError, ComponentTask, SourceComponent, SourceContext};
use crate::event::{Batch, Event};
use crate::topology::{MAX_BATCH_BYTES, MAX_BATCH_EVENTS};

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
        let reader = LineReader {
            config: self.clone(),
            cx,
        };
        Ok(Box::pin(reader.run(tokio::io::stdin())))
    }
}

/// Reads newline-delimited events from any byte stream (stdin in production, anything in
/// tests).
pub struct LineReader {
    config: StdinConfig,
    cx: SourceContext,
}

/// Per-run counters of lines that did not become events.
#[derive(Default)]
struct Skipped {
    invalid: u64,
    too_long: u64,
}

/// Invalid lines are logged one by one up to this many, then only counted.
const LOGGED_INVALID_LINES: u64 = 100;

impl LineReader {
    /// A reader for `config` in `cx`.
    pub fn new(config: StdinConfig, cx: SourceContext) -> Self {
        Self { config, cx }
    }

    /// Reads `input` to its end (or until shutdown) and waits for every batch's acknowledgement.
    pub async fn run(mut self, input: impl AsyncRead + Unpin) -> Result<(), ComponentError> {
        let mut reader = BufReader::with_capacity(1 << 20, input);
        let mut line = Vec::with_capacity(4096);
        let mut line_number: u64 = 0;
        let mut skipped = Skipped::default();
        let mut acks: OrderedAcks<usize> = OrderedAcks::new();
        let mut undelivered: u64 = 0;
        let mut batch: Batch = Vec::with_capacity(MAX_BATCH_EVENTS);
        let mut batch_bytes = 0;
        let mut notifier = BatchNotifier::new();
        let codec = self.config.decoding.codec;
        let source_id = Arc::clone(&self.cx.id);
        let shutdown = self.cx.shutdown.clone();

        loop {
            line.clear();
            let read = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                read = reader.read_until(b'\n', &mut line) => read,
            };
            let read = read.map_err(|e| ComponentError(format!("reading stdin: {e}")))?;
            if read == 0 {
                break;
            }
            line_number += 1;
            let frame = trim_newline(&line);
            if frame.len() > self.config.max_length {
                skipped.too_long += 1;
                self.cx.metrics.error();
                tracing::warn!(
                    line = line_number,
                    bytes = frame.len(),
                    max_length = self.config.max_length,
                    "line longer than max_length skipped"
                );
                continue;
            }
            if frame.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match codec.decode(frame) {
                Ok(value) => {
                    batch.push(Event::from_source(
                        value,
                        &source_id,
                        Some(notifier.0.finalizer()),
                    ));
                    batch_bytes += frame.len();
                }
                Err(error) => {
                    skipped.invalid += 1;
                    self.cx.metrics.error();
                    if skipped.invalid <= LOGGED_INVALID_LINES {
                        tracing::warn!(line = line_number, %error, "invalid line skipped");
                    } else if skipped.invalid == LOGGED_INVALID_LINES + 1 {
                        tracing::warn!("more invalid lines; counting them without logging each");
                    }
                }
            }
            // A partial batch goes out when no more input is buffered, so interactive use
            // sees events at once, and full batches go out as soon as they fill.
            if batch.len() >= MAX_BATCH_EVENTS
                || batch_bytes >= MAX_BATCH_BYTES
                || (!batch.is_empty() && reader.buffer().is_empty())
            {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH_EVENTS));
                let (next, receiver) = BatchNotifier::new();
                let (_, sent_receiver) = std::mem::replace(&mut notifier, (next, receiver));
                acks.push(full.len(), sent_receiver);
                self.send(full).await?;
                batch_bytes = 0;
                while let Some((count, status)) = acks.try_next_ready() {
                    undelivered += not_delivered(count, status);
                }
            }
        }
        if !batch.is_empty() {
            let (notifier, receiver) = notifier;
            drop(notifier);
            acks.push(batch.len(), receiver);
            self.send(batch).await?;
        }
        // Wait for the sinks: exit 0 must mean everything read was delivered.
        while let Some((count, status)) = acks.next_ready().await {
            undelivered += not_delivered(count, status);
        }
        if skipped.invalid > 0 || skipped.too_long > 0 {
            tracing::warn!(
                lines = line_number,
                invalid = skipped.invalid,
                too_long = skipped.too_long,
                "stdin finished with skipped lines"
            );
        }
        if undelivered > 0 {
            return Err(ComponentError(format!(
                "{undelivered} events read from stdin were not delivered"
            )));
        }
        Ok(())
    }

    async fn send(&mut self, batch: Batch) -> Result<(), ComponentError> {
        self.cx.metrics.received(batch.len());
        self.cx
            .out
            .send(batch)
            .await
            .map_err(|e| ComponentError(format!("stdin: {e}")))
    }
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
