//! The task that runs a synchronous transform over its input, on several cores, in order.

use std::sync::Arc;
use tracing::Instrument as _;

use futures::StreamExt;
use futures::stream::FuturesOrdered;

use crate::component::{ComponentError, SyncTransform};
use crate::event::Batch;
use crate::metrics::ComponentMetrics;
use crate::topology::buffer::BufferReceiver;
use crate::topology::fanout::Fanout;
use crate::topology::transform_workers;

/// A worker back from a batch: itself, the outputs, and how many events it discarded.
type Done = (Box<dyn SyncTransform>, Vec<Batch>, usize);

/// Reads batches until every producer has finished, transforms them and sends each output
/// to its consumers.
pub(super) async fn run(
    name: String,
    transform: Box<dyn SyncTransform>,
    mut input: BufferReceiver,
    mut outputs: Vec<Fanout>,
    metrics: Arc<ComponentMetrics>,
) -> Result<(), ComponentError> {
    let workers = transform_workers();
    if workers == 1 {
        return run_inline(name, transform, input, outputs, metrics).await;
    }
    let mut idle: Vec<Box<dyn SyncTransform>> = Vec::with_capacity(workers);
    for _ in 1..workers {
        idle.push(transform.clone());
    }
    idle.push(transform);
    let mut in_flight: FuturesOrdered<tokio::task::JoinHandle<Done>> = FuturesOrdered::new();
    let mut input_open = true;

    while input_open || !in_flight.is_empty() {
        tokio::select! {
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let (worker, results, discarded) = done.map_err(|e| ComponentError(format!("{name}: transform task failed: {e}")))?;
                idle.push(worker);
                metrics.discarded(discarded);
                for (fanout, batch) in outputs.iter_mut().zip(results) {
                    if fanout.send(batch).await.is_err() {
                        return Err(ComponentError(format!("{name}: every consumer of an output stopped")));
                    }
                }
            }
            received = input.recv(), if input_open && !idle.is_empty() => match received {
                Some(mut batch) => {
                    metrics.received_events(&mut batch);
                    let mut worker = idle.pop().expect("guarded by !idle.is_empty()");
                    let output_count = outputs.len();
                    in_flight.push_back(tokio::task::spawn(async move {
                        let mut results: Vec<Batch> = (0..output_count).map(|_| Vec::new()).collect();
                        let discarded = worker.transform(batch, &mut results);
                        (worker, results, discarded)
                    }.in_current_span()));
                }
                None => input_open = false,
            },
        }
    }
    Ok(())
}

/// The single-worker form: transform each batch in this task, keeping it on this core.
async fn run_inline(
    name: String,
    mut transform: Box<dyn SyncTransform>,
    mut input: BufferReceiver,
    mut outputs: Vec<Fanout>,
    metrics: Arc<ComponentMetrics>,
) -> Result<(), ComponentError> {
    let mut results: Vec<Batch> = outputs.iter().map(|_| Vec::new()).collect();
    while let Some(mut batch) = input.recv().await {
        metrics.received_events(&mut batch);
        let discarded = transform.transform(batch, &mut results);
        metrics.discarded(discarded);
        for (fanout, batch) in outputs.iter_mut().zip(results.iter_mut()) {
            if fanout.send(std::mem::take(batch)).await.is_err() {
                return Err(ComponentError(format!(
                    "{name}: every consumer of an output stopped"
                )));
            }
        }
    }
    Ok(())
}
