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
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
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
    /// Event copies reported other than `Delivered` (see [`BatchOutcome`]).
    undelivered: AtomicU64,
    notify: Option<oneshot::Sender<BatchOutcome>>,
}

impl BatchState {
    /// Records the fate of `events` event copies.
    fn update(&self, status: BatchStatus, events: u64) {
        self.status.fetch_max(status as u8, Ordering::AcqRel);
        if status != BatchStatus::Delivered {
            self.undelivered.fetch_add(events, Ordering::Relaxed);
        }
    }
}

impl Drop for BatchState {
    fn drop(&mut self) {
        let outcome = BatchOutcome {
            status: BatchStatus::from_u8(*self.status.get_mut()),
            undelivered_copies: *self.undelivered.get_mut(),
        };
        if let Some(sender) = self.notify.take() {
            // The source may have stopped listening; that is not an error here.
            let _ = sender.send(outcome);
        }
    }
}

/// How a batch ended: its status, and how many event copies were not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The worst status over every copy of every event.
    pub status: BatchStatus,
    /// Event copies finalized other than `Delivered`. An event sent to two sinks that both
    /// failed counts twice, so callers cap it at the batch's size
    /// ([`undelivered_of`](Self::undelivered_of)).
    pub undelivered_copies: u64,
}

impl BatchOutcome {
    /// Events of a batch of `events` that were not delivered (at most `events`).
    pub fn undelivered_of(self, events: usize) -> u64 {
        if self.status == BatchStatus::Delivered {
            0
        } else {
            self.undelivered_copies.clamp(1, events.max(1) as u64)
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
            undelivered: AtomicU64::new(0),
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
    receiver: oneshot::Receiver<BatchOutcome>,
}

/// What a closed channel means: the sender lives in the shared state and always sends on
/// drop, so only a panic while dropping closes it, treated as a transient failure of all.
const LOST: BatchOutcome = BatchOutcome {
    status: BatchStatus::Errored,
    undelivered_copies: u64::MAX,
};

impl BatchStatusReceiver {
    /// The batch's whole outcome (status and undelivered event copies), once it is known.
    pub async fn outcome(self) -> BatchOutcome {
        self.receiver.await.unwrap_or(LOST)
    }
}

impl Future for BatchStatusReceiver {
    type Output = BatchStatus;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BatchStatus> {
        Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|result| result.unwrap_or(LOST).status)
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
    pub fn finalize(self, status: BatchStatus) {
        self.finalize_events(status, 1);
    }

    /// Reports the fate of `events` event copies that share this one link (see
    /// [`EventFinalizers::absorb`]).
    pub fn finalize_events(mut self, status: BatchStatus, events: u64) {
        if let Some(batch) = self.batch.take() {
            batch.update(status, events);
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
            batch.update(BatchStatus::Errored, 1);
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
        self.finalize_events(status, 1);
    }

    /// Reports the fate of `events` events whose links were absorbed into these.
    pub fn finalize_events(&mut self, status: BatchStatus, events: u64) {
        for finalizer in self.0.drain(..) {
            finalizer.finalize_events(status, events);
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
            Ok(outcome) => outcome.status,
            Err(oneshot::error::TryRecvError::Empty) => return None,
            Err(oneshot::error::TryRecvError::Closed) => LOST.status,
        };
        let (token, _) = self.pending.pop_front()?;
        Some((token, status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(receiver: &mut BatchStatusReceiver) -> Option<BatchStatus> {
        receiver
            .receiver
            .try_recv()
            .ok()
            .map(|outcome| outcome.status)
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

    #[tokio::test]
    async fn the_outcome_counts_undelivered_events_including_absorbed_runs() {
        let (notifier, receiver) = BatchNotifier::new();
        let mut delivered = EventFinalizers::new(notifier.finalizer());
        let mut rejected = EventFinalizers::new(notifier.finalizer());
        let mut run = EventFinalizers::new(notifier.finalizer());
        for _ in 0..4 {
            run.absorb(EventFinalizers::new(notifier.finalizer()))
                .expect("same batch");
        }
        drop(notifier);
        delivered.finalize(BatchStatus::Delivered);
        rejected.finalize(BatchStatus::Rejected);
        run.finalize_events(BatchStatus::Errored, 5);
        let outcome = receiver.outcome().await;
        assert_eq!(outcome.status, BatchStatus::Rejected);
        assert_eq!(outcome.undelivered_copies, 6);
        assert_eq!(outcome.undelivered_of(7), 6);
        // Copies of one event that both failed count once per event at most.
        assert_eq!(outcome.undelivered_of(3), 3);
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
