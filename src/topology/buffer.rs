//! The buffer in front of each transform and sink: the bounded channel of batches its
//! producers send into, counting what waits in it in the consumer's metrics
//! (`buffer_events`, `buffer_byte_size` and their `_total` counters, [`BufferMetrics`]).
//!
//! A batch is counted in when a producer's [`BufferSender`] puts it in the channel and
//! counted out when the consumer's [`BufferReceiver`] takes it (or drops it with the
//! buffer): a few atomic operations per batch. A batch the channel refuses (full with
//! `buffer.when_full = "drop_newest"`, or the consumer gone) is never counted.

use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};

use crate::event::{Batch, Event};
use crate::metrics::BufferMetrics;

/// A buffer of `depth` batches whose contents `metrics` counts (`None`: not counted).
pub(crate) fn channel(
    depth: usize,
    metrics: Option<BufferMetrics>,
) -> (BufferSender, BufferReceiver) {
    let (sender, receiver) = mpsc::channel(depth);
    let metrics = metrics.map(Arc::new);
    let sender = BufferSender {
        sender,
        metrics: metrics.clone(),
    };
    (sender, BufferReceiver { receiver, metrics })
}

/// A producer's end of a component's buffer.
#[derive(Clone, Debug)]
pub(crate) struct BufferSender {
    sender: mpsc::Sender<Batch>,
    metrics: Option<Arc<BufferMetrics>>,
}

impl From<mpsc::Sender<Batch>> for BufferSender {
    /// A sender into a plain channel, whose contents nobody counts (a test's, a host's).
    fn from(sender: mpsc::Sender<Batch>) -> Self {
        Self {
            sender,
            metrics: None,
        }
    }
}

impl BufferSender {
    /// Puts `batch` (`bytes` estimated JSON bytes in all) in the buffer, waiting while it is
    /// full; the batch back when the consumer has stopped.
    pub(crate) async fn send(&self, batch: Batch, bytes: usize) -> Result<(), Batch> {
        // Room first, then count, then send: the consumer cannot take (and count out) a
        // batch before it was counted in, and a refused batch is never counted.
        match self.sender.reserve().await {
            Ok(permit) => {
                self.count_in(&batch, bytes);
                permit.send(batch);
                Ok(())
            }
            Err(_) => Err(batch),
        }
    }

    /// Puts `batch` in the buffer if it has room now; otherwise the batch back, with why.
    pub(crate) fn try_send(&self, batch: Batch, bytes: usize) -> Result<(), TrySendError<Batch>> {
        match self.sender.try_reserve() {
            Ok(permit) => {
                self.count_in(&batch, bytes);
                permit.send(batch);
                Ok(())
            }
            Err(TrySendError::Full(())) => Err(TrySendError::Full(batch)),
            Err(TrySendError::Closed(())) => Err(TrySendError::Closed(batch)),
        }
    }

    /// Whether the buffer's contents are counted (then senders need the batch's bytes).
    pub(crate) fn is_counted(&self) -> bool {
        self.metrics.is_some()
    }

    fn count_in(&self, batch: &Batch, bytes: usize) {
        if let Some(metrics) = &self.metrics {
            metrics.entered(batch.len(), bytes);
        }
    }
}

/// A component's input: the batches from every producer, in arrival order, taken from the
/// component's buffer. Closed when every producer has finished.
#[derive(Debug)]
pub struct BufferReceiver {
    receiver: mpsc::Receiver<Batch>,
    metrics: Option<Arc<BufferMetrics>>,
}

impl From<mpsc::Receiver<Batch>> for BufferReceiver {
    /// An input from a plain channel, whose contents nobody counts (a sink run on its own
    /// in a test).
    fn from(receiver: mpsc::Receiver<Batch>) -> Self {
        Self {
            receiver,
            metrics: None,
        }
    }
}

impl BufferReceiver {
    /// The next batch, waiting for one; `None` once every producer has finished and the
    /// buffer is empty. Cancel safe, as [`mpsc::Receiver::recv`].
    pub async fn recv(&mut self) -> Option<Batch> {
        let batch = self.receiver.recv().await?;
        self.count_out(&batch);
        Some(batch)
    }

    /// The next batch if one is waiting, as [`mpsc::Receiver::try_recv`].
    pub fn try_recv(&mut self) -> Result<Batch, TryRecvError> {
        let batch = self.receiver.try_recv()?;
        self.count_out(&batch);
        Ok(batch)
    }

    /// Polls for the next batch, as [`mpsc::Receiver::poll_recv`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Batch>> {
        let polled = self.receiver.poll_recv(cx);
        if let Poll::Ready(Some(batch)) = &polled {
            self.count_out(batch);
        }
        polled
    }

    /// Refuses further batches; those already in the buffer can still be received.
    pub fn close(&mut self) {
        self.receiver.close();
    }

    fn count_out(&self, batch: &Batch) {
        if let Some(metrics) = &self.metrics {
            // The sender measured these sizes (`Event::json_size` keeps them): reading them
            // back gives the bytes it counted in.
            let bytes = batch.iter().map(Event::json_size_now).sum();
            metrics.left(batch.len(), bytes);
        }
    }
}

impl Drop for BufferReceiver {
    /// Counts out what is left in the buffer (dropped with it, finalized as errored by the
    /// events themselves), so a component kept across a reload starts its next buffer at 0.
    fn drop(&mut self) {
        if self.metrics.is_some() {
            self.receiver.close();
            while let Ok(batch) = self.receiver.try_recv() {
                self.count_out(&batch);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ComponentMetrics, MetricsRegistry};
    use crate::observability::ComponentKind;
    use vrl::value::Value;

    fn batch(n: i64) -> Batch {
        (0..n).map(|i| Event::new(Value::Integer(i))).collect()
    }

    fn bytes(batch: &mut Batch) -> usize {
        batch.iter_mut().map(Event::json_size).sum()
    }

    /// `(buffer_events, buffer_byte_size, buffer_received_events_total,
    /// buffer_sent_events_total)` of `metrics`.
    fn gauges(registry: &MetricsRegistry) -> (f64, f64, f64, f64) {
        let samples = registry.samples();
        let value = |name: &str| {
            (samples.iter())
                .find(|sample| sample.name == name)
                .map_or(-1.0, |sample| sample.value)
        };
        (
            value("buffer_events"),
            value("buffer_byte_size"),
            value("buffer_received_events_total"),
            value("buffer_sent_events_total"),
        )
    }

    fn sink_metrics(registry: &MetricsRegistry) -> Arc<ComponentMetrics> {
        registry.component(ComponentKind::Sink, "out", "blackhole")
    }

    #[tokio::test]
    async fn counts_batches_in_and_out_but_never_a_refused_one() {
        let registry = MetricsRegistry::default();
        let (sender, mut receiver) = channel(1, Some(sink_metrics(&registry).buffer()));
        let mut first = batch(3);
        let first_bytes = bytes(&mut first);
        sender.send(first, first_bytes).await.expect("room");
        let mut second = batch(2);
        let second_bytes = bytes(&mut second);
        assert!(matches!(
            sender.try_send(second, second_bytes),
            Err(TrySendError::Full(_))
        ));
        assert_eq!(gauges(&registry), (3.0, first_bytes as f64, 3.0, 0.0));
        assert_eq!(receiver.recv().await.expect("a batch").len(), 3);
        assert_eq!(gauges(&registry), (0.0, 0.0, 3.0, 3.0));
    }

    #[tokio::test]
    async fn what_is_left_in_a_dropped_buffer_is_counted_out() {
        let registry = MetricsRegistry::default();
        let (sender, receiver) = channel(2, Some(sink_metrics(&registry).buffer()));
        let mut events = batch(4);
        let size = bytes(&mut events);
        sender.send(events, size).await.expect("room");
        assert_eq!(gauges(&registry).0, 4.0);
        drop(receiver);
        assert_eq!(gauges(&registry), (0.0, 0.0, 4.0, 4.0));
        assert!(
            sender.send(batch(1), 1).await.is_err(),
            "the consumer is gone"
        );
        assert_eq!(gauges(&registry).2, 4.0, "a refused batch is not counted");
    }
}
