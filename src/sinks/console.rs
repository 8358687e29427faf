//! `console`: write events to stdout or stderr (Vector's options).
//!
//! Encoding happens per batch into one buffer, written and flushed with a single call by the
//! stream's own writer thread ([`crate::stdio`]), so a reader that stops reading stalls only
//! this sink, never the runtime; events are finalized as delivered only after the flush
//! succeeded.

use serde::Deserialize;

use crate::ack::BatchStatus;
use crate::codecs::{Encoder, EncodingConfig};
use crate::component::{BuildError, ComponentError, ComponentTask, SinkComponent, SinkContext};
use crate::sinks::SinkAcknowledgements;
use crate::stdio::{self, Stream};
use crate::topology::MAX_BATCH_EVENTS;

/// `[sinks.ID] type = "console"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// `stdout` (default) or `stderr`.
    #[serde(default)]
    pub target: ConsoleTarget,
    /// How events are written. Required, as in Vector (`encoding.codec = "json"`).
    pub encoding: EncodingConfig,
    /// Framing: only `newline_delimited` (the default).
    #[serde(default)]
    pub framing: Option<crate::codecs::FramingConfig>,
    /// `acknowledgements.enabled`.
    #[serde(default)]
    pub acknowledgements: SinkAcknowledgements,
    /// `healthcheck.*`: accepted (Vector's option on every sink); there is nothing to check.
    #[serde(default)]
    pub healthcheck: crate::options::HealthcheckConfig,
}

/// Where the console sink writes.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleTarget {
    /// Standard output.
    #[default]
    Stdout,
    /// Standard error.
    Stderr,
}

impl SinkComponent for ConsoleConfig {
    fn apply_globals(&mut self, globals: &crate::config::GlobalOptions) {
        if self.encoding.message_key.is_none() {
            self.encoding
                .message_key
                .clone_from(&globals.log_schema.message_key);
        }
    }

    fn build(&self, cx: SinkContext) -> Result<ComponentTask, BuildError> {
        let encoder = self.encoding.build()?;
        let target = self.target;
        Ok(Box::pin(run(encoder, target, cx)))
    }

    fn acknowledgements(&self) -> Option<bool> {
        self.acknowledgements.enabled
    }
}

impl ConsoleTarget {
    fn stream(self) -> Stream {
        match self {
            Self::Stdout => Stream::Stdout,
            Self::Stderr => Stream::Stderr,
        }
    }
}

async fn run(
    encoder: Encoder,
    target: ConsoleTarget,
    mut cx: SinkContext,
) -> Result<(), ComponentError> {
    let mut buffer: Vec<u8> = Vec::with_capacity(1 << 20);
    while let Some(mut batch) = cx.input.recv().await {
        cx.metrics.received_events(&mut batch);
        // Coalesce whatever else is already queued into the same write.
        while batch.len() < 4 * MAX_BATCH_EVENTS {
            match cx.input.try_recv() {
                Ok(mut more) => {
                    cx.metrics.received_events(&mut more);
                    batch.extend(more);
                }
                Err(_) => break,
            }
        }
        if !cx.acknowledgements {
            for event in &mut batch {
                event.finalize(BatchStatus::Delivered);
            }
        }
        buffer.clear();
        // Encode each event and drop its value at once, on this core where the event is
        // hot; only the acknowledgement links wait for the write.
        let count = batch.len();
        let mut finalizers = Vec::with_capacity(count);
        for event in batch {
            encoder.encode(&event.value, &mut buffer);
            buffer.push(b'\n');
            finalizers.push(event.metadata.finalizers);
        }
        let bytes = buffer.len();
        let (result, returned) = stdio::stream(target.stream()).write_all(buffer).await;
        buffer = returned;
        let status = if result.is_ok() {
            BatchStatus::Delivered
        } else {
            BatchStatus::Errored
        };
        for mut finalizer in finalizers {
            finalizer.finalize(status);
        }
        if let Err(error) = result {
            cx.metrics.error(crate::metrics::ErrorType::Writer);
            return Err(ComponentError(format!("writing to {target:?}: {error}")));
        }
        cx.metrics.sent_with_bytes(count, bytes);
    }
    Ok(())
}
