//! The `opentelemetry` sink's batching loop.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::Instrument as _;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::config::Settings;
use super::deliver::{Delivery, RecordBatch};
use crate::ack::BatchStatus;
use crate::component::{ComponentError, SinkContext};
use crate::event::Event;

/// A batch being filled, with the time it must be sent by.
struct Pending {
    batch: RecordBatch,
    deadline: Instant,
}

/// The sink's main loop: map each event to a record, batch the records (by encoded bytes,
/// events and time), and hand full batches to request tasks, at most `request.concurrency`
/// at once (backpressure on the input beyond that). At end of input, send what is left and
/// wait for every request.
pub(super) async fn run(settings: Settings, mut cx: SinkContext) -> Result<(), ComponentError> {
    let format = settings.client.format();
    let delivery = Arc::new(Delivery {
        client: settings.client,
        encoder: settings.encoder,
        metrics: Arc::clone(&cx.metrics),
        retry_attempts: settings.retry_attempts,
        backoff: (settings.jitter).backoff(settings.initial_backoff, settings.max_backoff),
        limiter: settings.limiter,
        spare_buffer: Default::default(),
    });
    let slots = Arc::new(Semaphore::new(
        settings.concurrency.min(Semaphore::MAX_PERMITS),
    ));
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut pending: Option<Pending> = None;
    let mut panicked = false;
    loop {
        let deadline = pending.as_ref().map(|p| p.deadline);
        tokio::select! {
            received = cx.input.recv() => {
                let Some(mut batch) = received else { break };
                cx.metrics.received_events(&mut batch);
                let observed = now_unix_nano();
                for event in batch {
                    let pending_batch = pending.get_or_insert_with(|| Pending {
                        batch: delivery.new_batch(format),
                        deadline: Instant::now() + settings.timeout,
                    });
                    add_event(&delivery, &mut pending_batch.batch, event, cx.acknowledgements, observed);
                    let full = pending_batch.batch.bytes() >= settings.max_bytes
                        || pending_batch.batch.len() >= settings.max_events;
                    if full && let Some(done) = pending.take() {
                        dispatch(&delivery, &slots, &mut tasks, done.batch).await;
                    }
                }
            }
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                if let Some(done) = pending.take() {
                    dispatch(&delivery, &slots, &mut tasks, done.batch).await;
                }
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                panicked |= joined.is_err();
            }
        }
    }
    if let Some(done) = pending.take() {
        dispatch(&delivery, &slots, &mut tasks, done.batch).await;
    }
    while let Some(joined) = tasks.join_next().await {
        panicked |= joined.is_err();
    }
    if panicked {
        // A panicking request task dropped its events' links, which reports them as
        // errored: nothing is lost, but the run must not look clean.
        return Err(ComponentError(
            "opentelemetry: a request task panicked; its events were reported as errored"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Adds `event`'s record to `batch`. Without end-to-end acknowledgements nobody waits for
/// this sink, so the event is finalized at once.
fn add_event(
    delivery: &Delivery,
    batch: &mut RecordBatch,
    mut event: Event,
    acknowledgements: bool,
    observed: u64,
) {
    if !acknowledgements {
        event.finalize(BatchStatus::Delivered);
    }
    let finalizers = std::mem::take(&mut event.metadata.finalizers);
    batch.push(&delivery.encoder, &event.value, observed, finalizers);
}

/// Waits for a request slot (backpressure), then starts the batch's task.
async fn dispatch(
    delivery: &Arc<Delivery>,
    slots: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
    batch: RecordBatch,
) {
    if batch.is_empty() {
        return;
    }
    // The semaphore is never closed.
    let Ok(permit) = Arc::clone(slots).acquire_owned().await else {
        return;
    };
    let delivery = Arc::clone(delivery);
    tasks.spawn(
        async move {
            delivery.send(batch).await;
            drop(permit);
        }
        .in_current_span(),
    );
}

fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
        })
}
