//! Sending one component output to every consumer of it.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::ack::BatchStatus;
use crate::component::SyncTransform;
use crate::event::{Batch, Event, finish_batch};
use crate::metrics::ComponentMetrics;
use crate::topology::buffer::BufferSender;

/// Every consumer of an output went away (they failed or the pipeline is stopping).
#[derive(Debug, thiserror::Error)]
#[error("every consumer of this output has stopped")]
pub struct ClosedError;

/// The consumers of one output. A batch goes to each of them (a clone to all but the last;
/// clones carry finalizers of their own, so the source hears from every copy).
///
/// A source's output may carry a `FusedChain`: the synchronous transforms that only this
/// output feeds, run on each batch before it is sent (see [`Fanout::with_chain`]).
#[derive(Clone, Debug, Default)]
pub struct Fanout {
    /// Each consumer's buffer.
    targets: Vec<(Arc<str>, BufferSender)>,
    metrics: Option<Arc<ComponentMetrics>>,
    /// Whether a consumer has stopped (and was removed): every later batch misses its copy
    /// for that consumer, so it cannot be reported as delivered.
    lost_consumer: bool,
    chain: Option<FusedChain>,
    /// Consumers with `buffer.when_full = "drop_newest"`, and their metrics: a batch that
    /// finds such a consumer's channel full is dropped for it, counted as the consumer's
    /// discarded events and finalized as delivered (handled).
    drop_when_full: Vec<(Arc<str>, Arc<ComponentMetrics>)>,
}

/// A linear run of synchronous transforms, each with a single input and a default output
/// (plus, possibly, optional named outputs nobody reads), run where the batch already is
/// instead of in tasks of their own.
///
/// A transform in its own task gets each batch through a channel, and the batch often moves
/// to another core on the way: reading events another core just built costs more than the
/// transforms themselves (measured: `bench/README.md`, "Design measurements"). The
/// transforms keep their metrics.
#[derive(Default)]
pub struct FusedChain {
    stages: Vec<FusedStage>,
    /// The producer's metrics, when the chain was taken out of its [`Fanout`]: its `sent`
    /// counts batches as they enter the chain.
    producer: Option<Arc<ComponentMetrics>>,
}

/// One transform of a [`FusedChain`].
#[derive(Clone)]
pub struct FusedStage {
    /// The transform.
    pub transform: Box<dyn SyncTransform>,
    /// Its component's metrics.
    pub metrics: Arc<ComponentMetrics>,
    /// How many named outputs it has after its default one. Nobody reads them (they are
    /// optional, such as the `ocsf` transform's `invalid`): their events are discarded as
    /// handled, as a [`Fanout`] without consumers does.
    pub unread_outputs: usize,
}

impl FusedStage {
    /// A stage for a transform with only a default output.
    pub fn new(transform: Box<dyn SyncTransform>, metrics: Arc<ComponentMetrics>) -> Self {
        Self {
            transform,
            metrics,
            unread_outputs: 0,
        }
    }

    /// Runs the transform over `batch`; returns what its default output gets.
    fn apply(&mut self, mut batch: Batch) -> Batch {
        let metrics = &self.metrics;
        metrics.received_events(&mut batch);
        let mut outputs = vec![Vec::new(); 1 + self.unread_outputs];
        let discarded = self.transform.transform(batch, &mut outputs);
        metrics.discarded(discarded);
        let mut named = outputs.split_off(1);
        let mut output = outputs.pop().unwrap_or_default();
        for unread in named.drain(..).filter(|batch| !batch.is_empty()) {
            metrics.discarded(unread.len());
            finish_batch(unread, BatchStatus::Delivered);
        }
        if !output.is_empty() {
            metrics.sent_events(&mut output);
        }
        output
    }
}

impl FusedChain {
    /// A chain of `stages`, in order.
    pub fn new(stages: Vec<FusedStage>) -> Self {
        Self {
            stages,
            producer: None,
        }
    }

    /// Whether the chain has no transform.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs every transform over `batch`; returns what the last one outputs.
    pub fn apply(&mut self, mut batch: Batch) -> Batch {
        if let Some(producer) = &self.producer
            && !batch.is_empty()
        {
            producer.sent_events(&mut batch);
        }
        for stage in &mut self.stages {
            if batch.is_empty() {
                break;
            }
            batch = stage.apply(batch);
        }
        batch
    }
}

impl Clone for FusedChain {
    /// Another instance, for another task: fresh transform state, the same metrics.
    fn clone(&self) -> Self {
        Self {
            stages: self.stages.clone(),
            producer: self.producer.clone(),
        }
    }
}

impl std::fmt::Debug for FusedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FusedChain")
            .field("stages", &self.stages.len())
            .finish_non_exhaustive()
    }
}

impl Fanout {
    /// An output feeding `targets` (plain channels, whose contents nobody counts), counting
    /// sent events in `metrics`.
    pub fn new(
        targets: Vec<(Arc<str>, mpsc::Sender<Batch>)>,
        metrics: Option<Arc<ComponentMetrics>>,
    ) -> Self {
        let targets = (targets.into_iter())
            .map(|(name, sender)| (name, BufferSender::from(sender)))
            .collect();
        Self::to_buffers(targets, metrics)
    }

    /// An output feeding the buffers of `targets`, counting sent events in `metrics`.
    pub(crate) fn to_buffers(
        targets: Vec<(Arc<str>, BufferSender)>,
        metrics: Option<Arc<ComponentMetrics>>,
    ) -> Self {
        Self {
            targets,
            metrics,
            lost_consumer: false,
            chain: None,
            drop_when_full: Vec::new(),
        }
    }

    /// Drops a batch instead of waiting when the channel of one of `consumers` is full.
    pub fn with_drop_when_full(
        mut self,
        consumers: Vec<(Arc<str>, Arc<ComponentMetrics>)>,
    ) -> Self {
        self.drop_when_full = consumers;
        self
    }

    /// Runs `chain` on every batch before sending it. The output's metrics still count the
    /// batches as they were before the chain.
    pub fn with_chain(mut self, chain: FusedChain) -> Self {
        self.chain = (!chain.is_empty()).then_some(chain);
        self
    }

    /// Takes the fused transforms out, for a source that runs them itself (on several
    /// batches at once, one instance per task: see `FusedChain`'s `Clone`) and then sends
    /// their output here. The chain then counts this output's sent events as they enter it.
    pub fn take_chain(&mut self) -> Option<FusedChain> {
        let mut chain = self.chain.take()?;
        chain.producer = self.metrics.take();
        Some(chain)
    }

    /// Whether nothing consumes this output (its events are discarded as handled).
    pub fn is_unconsumed(&self) -> bool {
        self.targets.is_empty() && !self.lost_consumer
    }

    /// Sends `batch` to every consumer, waiting while a consumer's channel is full
    /// (backpressure). A consumer that has stopped is removed, and from then on every batch
    /// is also reported `Errored` for the copy that consumer never got; when none is left the
    /// batch is finalized as `Errored` (so it is not lost silently) and an error returned.
    pub async fn send(&mut self, mut batch: Batch) -> Result<(), ClosedError> {
        if batch.is_empty() {
            return Ok(());
        }
        // The batch's estimated JSON bytes, when counting its sent events measured them.
        let mut measured = None;
        if let Some(metrics) = &self.metrics {
            if self.is_unconsumed() {
                // An optional output nobody reads: its events are dropped on purpose.
                metrics.discarded(batch.len());
            } else {
                measured = Some(metrics.sent_events(&mut batch));
            }
        }
        let mut batch = match &mut self.chain {
            Some(chain) => {
                measured = None;
                chain.apply(batch)
            }
            None => batch,
        };
        if batch.is_empty() {
            return Ok(());
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
        // Measured once for every buffer the batch enters (the sizes are kept in the events).
        let counted = self.targets.iter().any(|(_, sender)| sender.is_counted());
        let bytes = match (counted, measured) {
            (false, _) => 0,
            (true, Some(bytes)) => bytes,
            (true, None) => batch.iter_mut().map(Event::json_size).sum(),
        };
        let mut batch = Some(batch);
        let mut index = 0;
        while index < self.targets.len() {
            let last = index + 1 == self.targets.len();
            let copy = if last { batch.take() } else { batch.clone() };
            let Some(copy) = copy else { break };
            let (name, sender) = &self.targets[index];
            let dropping = self.drop_when_full.iter().find(|(n, _)| n == name);
            let sent = match dropping {
                Some((_, consumer)) => match sender.try_send(copy, bytes) {
                    Err(mpsc::error::TrySendError::Full(returned)) => {
                        consumer.discarded(returned.len());
                        finish_batch(returned, BatchStatus::Delivered);
                        Ok(())
                    }
                    Err(mpsc::error::TrySendError::Closed(returned)) => Err(returned),
                    Ok(()) => Ok(()),
                },
                None => sender.send(copy, bytes).await,
            };
            match sent {
                Ok(()) => index += 1,
                Err(returned) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use vrl::value::Value;

    /// Keeps every other event, finalizing the others as delivered.
    #[derive(Clone)]
    struct EveryOther;

    impl SyncTransform for EveryOther {
        fn transform(&mut self, batch: Batch, outputs: &mut [Batch]) -> usize {
            let mut discarded = 0;
            for (index, event) in batch.into_iter().enumerate() {
                if index % 2 == 0 {
                    outputs[0].push(event);
                } else {
                    discarded += 1;
                    event.finish(BatchStatus::Delivered);
                }
            }
            discarded
        }
    }

    #[tokio::test]
    async fn a_fused_chain_runs_before_sending_and_keeps_every_metric() {
        let source = Arc::new(ComponentMetrics::default());
        let first = Arc::new(ComponentMetrics::default());
        let second = Arc::new(ComponentMetrics::default());
        let (sender, mut receiver) = mpsc::channel(4);
        let chain = FusedChain::new(vec![
            FusedStage::new(Box::new(EveryOther), Arc::clone(&first)),
            FusedStage::new(Box::new(EveryOther), Arc::clone(&second)),
        ]);
        let mut fanout = Fanout::new(vec![(Arc::from("sink"), sender)], Some(Arc::clone(&source)))
            .with_chain(chain);
        let batch: Batch = (0..8).map(|i| Event::new(Value::Integer(i))).collect();
        fanout.send(batch).await.unwrap();
        let received = receiver.recv().await.unwrap();
        let values: Vec<Value> = received.into_iter().map(|event| event.value).collect();
        assert_eq!(values, vec![Value::Integer(0), Value::Integer(4)]);
        assert_eq!(source.sent_total(), 8);
        for (metrics, expected) in [(&first, (8, 4, 4)), (&second, (4, 2, 2))] {
            let got = (
                metrics.received_total(),
                metrics.sent_total(),
                metrics.discarded_total(),
            );
            assert_eq!(got, expected);
        }
        // Taken out, the chain counts the producer's sent events itself.
        let mut chain = fanout.take_chain().unwrap();
        let out = chain.apply((0..2).map(|i| Event::new(Value::Integer(i))).collect());
        assert_eq!(out.len(), 1);
        assert_eq!(source.sent_total(), 10);
    }

    #[tokio::test]
    async fn an_output_nobody_reads_counts_its_events_as_discarded_and_delivers_them() {
        let metrics = Arc::new(ComponentMetrics::default());
        let mut fanout = Fanout::new(Vec::new(), Some(Arc::clone(&metrics)));
        assert!(fanout.is_unconsumed());
        let (notifier, receiver) = crate::ack::BatchNotifier::new();
        let batch: Batch = (0..3)
            .map(|i| Event::from_source(Value::Integer(i), "src", Some(notifier.finalizer())))
            .collect();
        drop(notifier);
        fanout.send(batch).await.expect("nothing to lose");
        assert_eq!(receiver.outcome().await.status, BatchStatus::Delivered);
        assert_eq!(metrics.discarded_total(), 3);
        assert_eq!(metrics.sent_total(), 0);
    }

    /// A batch `drop_newest` drops for a full consumer counts as that consumer's discarded
    /// events, never in its buffer.
    #[tokio::test]
    async fn a_batch_dropped_for_a_full_buffer_is_never_counted_as_buffered() {
        let registry = crate::metrics::MetricsRegistry::default();
        let sink = registry.component(crate::observability::ComponentKind::Sink, "out", "console");
        let (sender, mut receiver) = crate::topology::buffer::channel(1, Some(sink.buffer()));
        let mut fanout = Fanout::to_buffers(vec![(Arc::from("out"), sender)], None)
            .with_drop_when_full(vec![(Arc::from("out"), Arc::clone(&sink))]);
        for size in [3, 2] {
            fanout
                .send((0..size).map(|i| Event::new(Value::Integer(i))).collect())
                .await
                .unwrap();
        }
        let buffered = |name: &str| {
            (registry.samples().into_iter())
                .find(|sample| sample.name == name)
                .map(|sample| sample.value)
        };
        assert_eq!(sink.discarded_total(), 2);
        assert_eq!(buffered("buffer_events"), Some(3.0));
        assert_eq!(buffered("buffer_received_events_total"), Some(3.0));
        assert_eq!(receiver.recv().await.map(|batch| batch.len()), Some(3));
        assert_eq!(buffered("buffer_events"), Some(0.0));
        assert_eq!(buffered("buffer_byte_size"), Some(0.0));
    }

    /// Sends odd events to its named output 1.
    #[derive(Clone)]
    struct OddToNamed;

    impl SyncTransform for OddToNamed {
        fn transform(&mut self, batch: Batch, outputs: &mut [Batch]) -> usize {
            for event in batch {
                let odd = matches!(event.value, Value::Integer(i) if i % 2 == 1);
                outputs[usize::from(odd)].push(event);
            }
            0
        }
    }

    #[tokio::test]
    async fn a_fused_stage_discards_its_unread_named_outputs_as_delivered() {
        let metrics = Arc::new(ComponentMetrics::default());
        let stage = FusedStage {
            transform: Box::new(OddToNamed),
            metrics: Arc::clone(&metrics),
            unread_outputs: 1,
        };
        let (sender, mut receiver) = mpsc::channel(4);
        let mut fanout = Fanout::new(vec![(Arc::from("sink"), sender)], None)
            .with_chain(FusedChain::new(vec![stage]));
        let (notifier, outcome) = crate::ack::BatchNotifier::new();
        let batch: Batch = (0..6)
            .map(|i| Event::from_source(Value::Integer(i), "src", Some(notifier.finalizer())))
            .collect();
        drop(notifier);
        fanout.send(batch).await.unwrap();
        let received = receiver.recv().await.unwrap();
        let values: Vec<Value> = received.iter().map(|event| event.value.clone()).collect();
        assert_eq!(values, [0, 2, 4].map(Value::Integer));
        finish_batch(received, BatchStatus::Delivered);
        assert_eq!(outcome.outcome().await.status, BatchStatus::Delivered);
        assert_eq!(metrics.received_total(), 6);
        assert_eq!(metrics.sent_total(), 3);
        assert_eq!(metrics.discarded_total(), 3);
    }
}
