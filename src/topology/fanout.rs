//! Sending one component output to every consumer of it.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::ack::BatchStatus;
use crate::event::{Batch, finish_batch};
use crate::metrics::ComponentMetrics;

/// Every consumer of an output went away (they failed or the pipeline is stopping).
#[derive(Debug, thiserror::Error)]
#[error("every consumer of this output has stopped")]
pub struct ClosedError;

/// The consumers of one output. A batch goes to each of them (a clone to all but the last;
/// clones carry finalizers of their own, so the source hears from every copy).
#[derive(Clone, Debug, Default)]
pub struct Fanout {
    targets: Vec<(Arc<str>, mpsc::Sender<Batch>)>,
    metrics: Option<Arc<ComponentMetrics>>,
    /// Whether a consumer has stopped (and was removed): every later batch misses its copy
    /// for that consumer, so it cannot be reported as delivered.
    lost_consumer: bool,
}

impl Fanout {
    /// An output feeding `targets`, counting sent events in `metrics`.
    pub fn new(
        targets: Vec<(Arc<str>, mpsc::Sender<Batch>)>,
        metrics: Option<Arc<ComponentMetrics>>,
    ) -> Self {
        Self {
            targets,
            metrics,
            lost_consumer: false,
        }
    }

    /// Whether nothing consumes this output (its events are discarded as handled).
    pub fn is_unconsumed(&self) -> bool {
        self.targets.is_empty() && !self.lost_consumer
    }

    /// Sends `batch` to every consumer, waiting while a consumer's channel is full
    /// (backpressure). A consumer that has stopped is removed, and from then on every batch
    /// is also reported `Errored` for the copy that consumer never got; when none is left the
    /// batch is finalized as `Errored` (so it is not lost silently) and an error returned.
    pub async fn send(&mut self, batch: Batch) -> Result<(), ClosedError> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(metrics) = &self.metrics {
            metrics.sent(batch.len());
        }
        if self.lost_consumer {
            report_missing_copy(&batch);
            if self.targets.is_empty() {
                finish_batch(batch, BatchStatus::Errored);
                return Err(ClosedError);
            }
        } else if self.targets.is_empty() {
            // An optional output nobody reads (route `_unmatched`): handled on purpose.
            finish_batch(batch, BatchStatus::Delivered);
            return Ok(());
        }
        let mut batch = Some(batch);
        let mut index = 0;
        while index < self.targets.len() {
            let last = index + 1 == self.targets.len();
            let copy = if last { batch.take() } else { batch.clone() };
            let Some(copy) = copy else { break };
            match self.targets[index].1.send(copy).await {
                Ok(()) => index += 1,
                Err(mpsc::error::SendError(returned)) => {
                    tracing::debug!(consumer = %self.targets[index].0, "consumer stopped; dropping it from the fan-out");
                    finish_batch(returned, BatchStatus::Errored);
                    self.targets.remove(index);
                    self.lost_consumer = true;
                    if last {
                        break;
                    }
                }
            }
        }
        if self.targets.is_empty() {
            if let Some(batch) = batch {
                finish_batch(batch, BatchStatus::Errored);
            }
            return Err(ClosedError);
        }
        Ok(())
    }
}

/// Reports `Errored` for a copy of each event that a stopped consumer will never receive.
fn report_missing_copy(batch: &Batch) {
    for event in batch {
        event
            .metadata
            .finalizers
            .clone()
            .finalize(BatchStatus::Errored);
    }
}
