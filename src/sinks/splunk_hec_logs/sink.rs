//! The `splunk_hec_logs` sink's batching loop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::config::Settings;
use super::deliver::BatchSender;
use super::encoder::{EncodedBatch, HecEncoder, RawMetadata};
use crate::ack::BatchStatus;
use crate::component::{ComponentError, SinkContext};
use crate::event::Event;

/// A batch being filled, with the time it must be sent by.
struct Pending {
    batch: EncodedBatch,
    deadline: Instant,
}

/// The sink's main loop: encode, batch, hand batches to request tasks; at end of input, send
/// what is left and wait until every batch is delivered or finally failed.
pub(super) async fn run(settings: Settings, mut cx: SinkContext) -> Result<(), ComponentError> {
    let Settings {
        encoder,
        client,
        send,
        max_bytes,
        max_events,
        timeout,
        concurrency,
    } = settings;
    let sender = BatchSender::start(client, send, concurrency, Arc::clone(&cx.metrics));
    let mut tasks: JoinSet<()> = JoinSet::new();
    // Keyed by the raw endpoint's per-request metadata; the event endpoint uses one key.
    let mut pending: HashMap<RawMetadata, Pending> = HashMap::new();
    let mut panicked = false;

    loop {
        let next_deadline = pending.values().map(|p| p.deadline).min();
        tokio::select! {
            received = cx.input.recv() => {
                let Some(mut batch) = received else { break };
                cx.metrics.received_events(&mut batch);
                for event in batch {
                    let ready = add_event(
                        &encoder, &mut pending, event, cx.acknowledgements, timeout, max_bytes, max_events, &cx,
                    );
                    for done in ready.into_iter().flatten() {
                        dispatch(&sender, &mut tasks, done).await;
                    }
                }
            }
            () = tokio::time::sleep_until(next_deadline.unwrap_or_else(Instant::now)), if next_deadline.is_some() => {
                let now = Instant::now();
                let due: Vec<RawMetadata> = pending
                    .iter()
                    .filter(|(_, p)| p.deadline <= now)
                    .map(|(key, _)| key.clone())
                    .collect();
                for key in due {
                    if let Some(done) = pending.remove(&key) {
                        dispatch(&sender, &mut tasks, done.batch).await;
                    }
                }
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                panicked |= joined.is_err();
            }
        }
    }
    for (_, done) in pending.drain() {
        dispatch(&sender, &mut tasks, done.batch).await;
    }
    while let Some(joined) = tasks.join_next().await {
        panicked |= joined.is_err();
    }
    sender.shutdown().await;
    if panicked {
        // A panicking request task dropped its events' finalizers, which reports them as
        // errored: nothing is lost, but the run must not look clean.
        return Err(ComponentError(
            "splunk_hec_logs: a request task panicked; its events were reported as errored"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Encodes `event` into its partition's batch. Returns the batches that are complete: the
/// previous batch when this event would have made it exceed `max_bytes`, and the batch that
/// reached a limit with this event. A rejected event (a template failed) is finalized here.
#[allow(clippy::too_many_arguments)]
fn add_event(
    encoder: &HecEncoder,
    pending: &mut HashMap<RawMetadata, Pending>,
    mut event: Event,
    acknowledgements: bool,
    timeout: Duration,
    max_bytes: usize,
    max_events: usize,
    cx: &SinkContext,
) -> [Option<EncodedBatch>; 2] {
    let metadata = match encoder.metadata(&event.value) {
        Ok(metadata) => metadata,
        Err(error) => {
            cx.metrics.error(crate::metrics::ErrorType::Template);
            tracing::error!(
                option = error.option,
                error = %error.error,
                "splunk_hec_logs: template could not be rendered for an event; event rejected (not sent)"
            );
            event.finish(BatchStatus::Rejected);
            return [None, None];
        }
    };
    if !acknowledgements {
        // Nobody waits for this sink: the source may go on at once.
        event.finalize(BatchStatus::Delivered);
    }
    let key = encoder.partition_key(&metadata);
    let entry = pending.entry(key.clone()).or_insert_with(|| Pending {
        batch: EncodedBatch::new(key.clone()),
        deadline: Instant::now() + timeout,
    });
    let before = entry.batch.bytes();
    // Encoded straight into the batch: no per-event buffer.
    entry.batch.push_with(
        |out| encoder.encode(&mut event.value, &metadata, out),
        std::mem::take(&mut event.metadata.finalizers),
    );
    let mut ready = [None, None];
    if before > 0 && entry.batch.bytes() > max_bytes {
        // This event overflows a batch that already has events: it starts the next batch,
        // and the batch before it is complete.
        let next = entry.batch.split_off_last();
        let complete = std::mem::replace(
            entry,
            Pending {
                batch: next,
                deadline: Instant::now() + timeout,
            },
        );
        ready[0] = Some(complete.batch);
    }
    if entry.batch.bytes() >= max_bytes || entry.batch.len() >= max_events {
        ready[1] = pending.remove(&key).map(|p| p.batch);
    }
    ready
}

/// Waits until `acknowledgements.max_pending_bytes` has room for the batch and a request slot
/// is free (backpressure on the input), then starts the batch's task.
async fn dispatch(sender: &BatchSender, tasks: &mut JoinSet<()>, mut batch: EncodedBatch) {
    if batch.is_empty() {
        return;
    }
    // It may wait long for its acknowledgement: no spare capacity is kept (or counted).
    batch.shrink_to_fit();
    match sender.reserve(&batch).await {
        Some((handle, reservation)) => {
            tasks.spawn(handle.send(batch, reservation).in_current_span());
        }
        // The semaphore is never closed; should it be, dropping the batch reports its
        // events as errored (never as delivered).
        None => batch.finalize(BatchStatus::Errored),
    }
}
