//! End-to-end acknowledgements: a source learns when every copy of every event it
//! emitted has reached its destination (or failed to).
//!
//! The model follows Vector's (`lib/vector-common/src/finalization.rs`):
//!
//! * a source creates one [`BatchNotifier`] per batch and gets back a [`BatchStatusReceiver`];
//! * each event of the batch carries an [`EventFinalizer`] pointing at that notifier;
//! * a sink (or a transform that drops an event on purpose) calls [`EventFinalizer::finalize`]
//!   with the event's fate; copies made by fan-out carry their own finalizer for the same batch;
//! * when the last finalizer is gone the receiver resolves to the **worst** status seen:
//!   `Rejected` beats `Errored` beats `Delivered`.
//!
//! A finalizer dropped without an explicit status counts as [`BatchStatus::Errored`], so a bug
//! or an aborted sink makes the source resend rather than lose data.
//!
//! [`OrderedAcks`] turns the per-batch receivers into the contiguous prefix a checkpointing
//! source may commit.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

/// The fate of a batch of events, as seen by the source that emitted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BatchStatus {
    /// Every copy of every event reached its destination (or was dropped on purpose).
    Delivered = 0,
    /// At least one copy failed transiently; the source should send the batch again.
    Errored = 1,
    /// At least one copy was refused permanently; resending will not help.
    Rejected = 2,
}

impl BatchStatus {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Delivered,
            1 => Self::Errored,
            _ => Self::Rejected,
        }
    }

    /// How many of a batch's `events` count as not delivered when it ends with this status.
    pub fn undelivered(self, events: usize) -> u64 {
        if self == Self::Delivered {
            0
        } else {
            events as u64
        }
    }

    /// The worse of two statuses.
    pub fn worst(self, other: Self) -> Self {
        self.max(other)
    }
}

/// Shared state of one batch; the status is reported when the last reference drops.
#[derive(Debug)]
struct BatchState {
    status: AtomicU8,
    notify: Option<oneshot::Sender<BatchStatus>>,
}

impl BatchState {
    fn update(&self, status: BatchStatus) {
        self.status.fetch_max(status as u8, Ordering::AcqRel);
    }
}

impl Drop for BatchState {
    fn drop(&mut self) {
        let status = BatchStatus::from_u8(*self.status.get_mut());
        if let Some(sender) = self.notify.take() {
            // The source may have stopped listening; that is not an error here.
            let _ = sender.send(status);
        }
    }
}

/// Created by a source for each batch; hands out one [`EventFinalizer`] per event.
#[derive(Clone, Debug)]
pub struct BatchNotifier {
    state: Arc<BatchState>,
}

impl BatchNotifier {
    /// A new notifier and the receiver that resolves once the whole batch is finalized.
    pub fn new() -> (Self, BatchStatusReceiver) {
        let (sender, receiver) = oneshot::channel();
        let state = Arc::new(BatchState {
            status: AtomicU8::new(BatchStatus::Delivered as u8),
            notify: Some(sender),
        });
        (Self { state }, BatchStatusReceiver { receiver })
    }

    /// A finalizer for one event of this batch.
    pub fn finalizer(&self) -> EventFinalizer {
        EventFinalizer {
            batch: Some(Arc::clone(&self.state)),
        }
    }
}

/// Resolves to the batch's final status once every finalizer of the batch is gone.
#[derive(Debug)]
pub struct BatchStatusReceiver {
    receiver: oneshot::Receiver<BatchStatus>,
}

impl Future for BatchStatusReceiver {
    type Output = BatchStatus;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BatchStatus> {
        // The sender lives in the shared state and always sends on drop; a closed channel
        // can only mean a panic while dropping, which we treat as a transient failure.
        Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|result| result.unwrap_or(BatchStatus::Errored))
    }
}

/// One event's link to the batch it came from.
///
/// Dropping it without calling [`finalize`](Self::finalize) reports `Errored`.
#[derive(Debug)]
pub struct EventFinalizer {
    batch: Option<Arc<BatchState>>,
}

impl EventFinalizer {
    /// Reports this event copy's fate to its batch.
    pub fn finalize(mut self, status: BatchStatus) {
        if let Some(batch) = self.batch.take() {
            batch.update(status);
        }
    }

    /// Whether both point at the same batch.
    fn same_batch(&self, other: &EventFinalizer) -> bool {
        match (&self.batch, &other.batch) {
            (Some(mine), Some(theirs)) => Arc::ptr_eq(mine, theirs),
            (None, None) => true,
            _ => false,
        }
    }

    /// Lets go of the batch without reporting anything: only for a link whose batch another
    /// link will report the same fate to (see [`EventFinalizers::absorb`]).
    fn forget(mut self) {
        self.batch = None;
    }
}

impl Clone for EventFinalizer {
    /// A finalizer for a copy of the event: the batch waits for both copies.
    fn clone(&self) -> Self {
        Self {
            batch: self.batch.clone(),
        }
    }
}

impl Drop for EventFinalizer {
    fn drop(&mut self) {
        if let Some(batch) = self.batch.take() {
            batch.update(BatchStatus::Errored);
        }
    }
}

/// The finalizers an event carries: usually one, more when events were merged.
#[derive(Clone, Debug, Default)]
pub struct EventFinalizers(smallvec::SmallVec<[EventFinalizer; 1]>);

impl EventFinalizers {
    /// Finalizers of a single batch.
    pub fn new(finalizer: EventFinalizer) -> Self {
        Self(smallvec::smallvec![finalizer])
    }

    /// Adds another finalizer (for example when two events are merged into one).
    pub fn merge(&mut self, other: EventFinalizers) {
        self.0.extend(other.0);
    }

    /// Whether no source is waiting on this event.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes over `other` when it links to exactly the same batches as `self`, so that events
    /// of one source batch held together need one set of links between them rather than one
    /// each. `other`'s links are let go without a report, which is sound only because the
    /// caller promises to give both events the same fate: a batch's status is the worst
    /// reported and it resolves when its last link is gone, so one report through the links
    /// kept is indistinguishable from two identical ones. Gives `other` back when the batches
    /// differ.
    pub fn absorb(&mut self, mut other: EventFinalizers) -> Result<(), EventFinalizers> {
        let same = self.0.len() == other.0.len()
            && self.0.iter().zip(&other.0).all(|(a, b)| a.same_batch(b));
        if !same {
            return Err(other);
        }
        for finalizer in other.0.drain(..) {
            finalizer.forget();
        }
        Ok(())
    }

    /// Reports the event's fate to every batch it belongs to.
    pub fn finalize(&mut self, status: BatchStatus) {
        for finalizer in self.0.drain(..) {
            finalizer.finalize(status);
        }
    }
}

/// Releases acknowledged batches in the order they were sent, so a checkpointing source
/// advances only over the contiguous prefix of finished batches.
///
/// Each pushed batch carries a token (for example the cursor reached by that batch).
/// [`next_ready`](Self::next_ready) yields `(token, status)` for the oldest batch as soon as
/// it is finalized, regardless of how many younger batches finished before it.
#[derive(Debug)]
pub struct OrderedAcks<T> {
    pending: VecDeque<(T, BatchStatusReceiver)>,
}

impl<T> Default for OrderedAcks<T> {
    fn default() -> Self {
        Self {
            pending: VecDeque::new(),
        }
    }
}

impl<T> OrderedAcks<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a sent batch.
    pub fn push(&mut self, token: T, receiver: BatchStatusReceiver) {
        self.pending.push_back((token, receiver));
    }

    /// Forgets the most recently pushed batch (it was not sent after all).
    pub fn pop_back(&mut self) -> Option<T> {
        self.pending.pop_back().map(|(token, _)| token)
    }

    /// Batches sent and not yet released.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no batch is outstanding.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Waits for the oldest outstanding batch and returns its token and status.
    /// Returns `None` when nothing is outstanding.
    pub async fn next_ready(&mut self) -> Option<(T, BatchStatus)> {
        let (_, receiver) = self.pending.front_mut()?;
        let status = receiver.await;
        let (token, _) = self.pending.pop_front()?;
        Some((token, status))
    }

    /// Returns the oldest batch's result if it is already finalized, without waiting.
    pub fn try_next_ready(&mut self) -> Option<(T, BatchStatus)> {
        let (_, receiver) = self.pending.front_mut()?;
        let status = match receiver.receiver.try_recv() {
            Ok(status) => status,
            Err(oneshot::error::TryRecvError::Empty) => return None,
            Err(oneshot::error::TryRecvError::Closed) => BatchStatus::Errored,
        };
        let (token, _) = self.pending.pop_front()?;
        Some((token, status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(receiver: &mut BatchStatusReceiver) -> Option<BatchStatus> {
        receiver.receiver.try_recv().ok()
    }

    #[test]
    fn absorbed_links_leave_the_batch_waiting_for_the_link_kept() {
        let (notifier, mut receiver) = BatchNotifier::new();
        let mut kept = EventFinalizers::new(notifier.finalizer());
        kept.absorb(EventFinalizers::new(notifier.finalizer()))
            .expect("same batch");
        drop(notifier);
        // The absorbed link is gone without an `Errored` report, and the batch still waits.
        assert_eq!(resolved(&mut receiver), None);
        kept.finalize(BatchStatus::Delivered);
        assert_eq!(resolved(&mut receiver), Some(BatchStatus::Delivered));
    }

    #[test]
    fn links_to_other_batches_are_given_back_untouched() {
        let (first, _first_receiver) = BatchNotifier::new();
        let (second, mut second_receiver) = BatchNotifier::new();
        let mut kept = EventFinalizers::new(first.finalizer());
        let other = kept
            .absorb(EventFinalizers::new(second.finalizer()))
            .expect_err("different batches");
        assert!(kept.absorb(EventFinalizers::default()).is_err());
        drop(second);
        drop(other);
        // Given back, then dropped without a status: reported as errored, as any link.
        assert_eq!(resolved(&mut second_receiver), Some(BatchStatus::Errored));
        kept.finalize(BatchStatus::Delivered);
    }
}
