//! Channel endpoints between a pipeline and the program that embeds it.
//!
//! * [`host_source`]: a source the host feeds: each batch of values it sends becomes a batch
//!   of events, and its [`BatchStatusReceiver`] resolves once every sink has them (or one
//!   refused them): the acknowledgement a host needs to advance its own cursor.
//! * [`host_sink`]: a sink that hands each batch to the host, which finalizes its events
//!   ([`Event::finish`], [`finish_batch`]) after it has done what it does with them; the
//!   sources upstream (a `conductorone` source's checkpoint) advance only then.
//!
//! Both are added to a [`Pipeline`](crate::Pipeline) in code
//! ([`Pipeline::add_source`](crate::Pipeline::add_source),
//! [`Pipeline::add_sink`](crate::Pipeline::add_sink)) next to components from its
//! configuration.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use vrl::value::Value;

use crate::ack::{BatchNotifier, BatchStatus, BatchStatusReceiver};
use crate::component::{
    BuildError, ComponentError, ComponentTask, SinkComponent, SinkContext, SourceComponent,
    SourceContext,
};
use crate::event::{Batch, Event, finish_batch, intern_id};

/// A batch from the host and the notifier its events report to.
type HostBatch = (Vec<Value>, BatchNotifier);

/// The pipeline no longer takes batches from the host (it is stopping or has stopped).
#[derive(Debug, thiserror::Error)]
#[error("the pipeline has stopped taking events")]
pub struct Closed;

/// The host's end of a [`host_source`].
#[derive(Clone, Debug)]
pub struct HostSender {
    sender: mpsc::Sender<HostBatch>,
}

impl HostSender {
    /// Sends `values` as one batch, waiting while the pipeline is full (backpressure). The
    /// receiver resolves to the batch's status once every sink has finished with it.
    pub async fn send(&self, values: Vec<Value>) -> Result<BatchStatusReceiver, Closed> {
        let (notifier, receiver) = BatchNotifier::new();
        self.sender
            .send((values, notifier))
            .await
            .map_err(|_| Closed)?;
        Ok(receiver)
    }
}

/// A source fed by the host through a [`HostSender`]. It ends when every sender is dropped
/// or the pipeline stops. A reload ([`crate::PipelineHandle::reload`]) keeps it: the batches
/// the host sent meanwhile wait in its channel for the next configuration.
#[derive(Debug)]
pub struct HostSource {
    receiver: Arc<ReceiverSlot>,
}

/// Where the receiver of a [`HostSource`] is while no run holds it.
type ReceiverSlot = Mutex<Option<mpsc::Receiver<HostBatch>>>;

/// The receiver lent to one run of a [`HostSource`]; given back when the run ends (or its
/// task is dropped unstarted, as `validate` and a reload's check do).
struct LentReceiver {
    slot: Arc<ReceiverSlot>,
    receiver: Option<mpsc::Receiver<HostBatch>>,
}

impl LentReceiver {
    fn receiver(&mut self) -> &mut mpsc::Receiver<HostBatch> {
        self.receiver
            .as_mut()
            .expect("the receiver is only given back on drop")
    }
}

impl Drop for LentReceiver {
    fn drop(&mut self) {
        let mut slot = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = self.receiver.take();
    }
}

/// A source the host feeds, holding up to `capacity` batches the pipeline has not taken yet.
pub fn host_source(capacity: usize) -> (HostSource, HostSender) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    (
        HostSource {
            receiver: Arc::new(Mutex::new(Some(receiver))),
        },
        HostSender { sender },
    )
}

impl SourceComponent for HostSource {
    fn build(&self, mut cx: SourceContext) -> Result<ComponentTask, BuildError> {
        let taken = (self.receiver.lock())
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(receiver) = taken else {
            return Err(BuildError {
                field: None,
                message: "a host source runs in one pipeline at a time".to_owned(),
                help: Some("make another one with c1_pipeline::embed::host_source".to_owned()),
                position_in_value: None,
            });
        };
        let mut lent = LentReceiver {
            slot: Arc::clone(&self.receiver),
            receiver: Some(receiver),
        };
        let id = intern_id(&cx.id);
        Ok(Box::pin(async move {
            loop {
                let next = tokio::select! {
                    () = cx.shutdown.cancelled() => None,
                    next = lent.receiver().recv() => next,
                };
                let Some((values, notifier)) = next else {
                    return Ok(());
                };
                let mut batch: Batch = values
                    .into_iter()
                    .map(|value| Event::from_source(value, id, Some(notifier.finalizer())))
                    .collect();
                cx.metrics.received_events(&mut batch);
                if cx.out.send(batch).await.is_err() {
                    return Err(ComponentError(
                        "every consumer of the host source has stopped".to_owned(),
                    ));
                }
            }
        }))
    }
}

/// A sink handing every batch to the host (see [`host_sink`]).
#[derive(Debug)]
pub struct HostSink {
    sender: mpsc::Sender<Batch>,
}

/// A sink whose batches the host receives, up to `capacity` of them waiting. The host must
/// finalize each event; an event dropped without it counts as errored (never as delivered).
/// The receiver ends when the pipeline has stopped.
pub fn host_sink(capacity: usize) -> (HostSink, mpsc::Receiver<Batch>) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    (HostSink { sender }, receiver)
}

impl SinkComponent for HostSink {
    fn build(&self, mut cx: SinkContext) -> Result<ComponentTask, BuildError> {
        let sender = self.sender.clone();
        Ok(Box::pin(async move {
            while let Some(mut batch) = cx.input.recv().await {
                cx.metrics.received_events(&mut batch);
                let bytes = batch.iter().map(Event::json_size_now).sum();
                if !cx.acknowledgements {
                    // Nobody waits for this sink.
                    for event in &mut batch {
                        event.finalize(BatchStatus::Delivered);
                    }
                }
                let count = batch.len();
                if let Err(mpsc::error::SendError(batch)) = sender.send(batch).await {
                    finish_batch(batch, BatchStatus::Errored);
                    return Err(ComponentError(
                        "the host stopped receiving from its sink".to_owned(),
                    ));
                }
                cx.metrics.sent_with_bytes(count, bytes);
            }
            Ok(())
        }))
    }
}
