//! Batches of events with acknowledgement finalizers, and waiting for their final status: for
//! the library-level tests of acknowledgements and transforms.
//!
//! Used by `tests/acks.rs` and `tests/transforms.rs` (through `#[path]`).
#![allow(dead_code)] // each test crate uses a different subset

use std::time::Duration;

use c1_pipeline::ack::{BatchNotifier, BatchStatus, BatchStatusReceiver};
use c1_pipeline::event::{Batch, Event};
use futures::FutureExt;
use vrl::value::Value;

/// Generous bound for anything that should resolve at once.
pub const WAIT: Duration = Duration::from_secs(10);

/// Waits (bounded) for a batch's final status.
pub async fn status_of(receiver: BatchStatusReceiver) -> BatchStatus {
    tokio::time::timeout(WAIT, receiver)
        .await
        .expect("the batch receiver did not resolve")
}

/// Whether the batch has not resolved yet. Only call it while expecting `true`: a resolved
/// oneshot receiver must not be polled again.
pub fn is_pending(receiver: &mut BatchStatusReceiver) -> bool {
    receiver.now_or_never().is_none()
}

/// Events for `values`, all from one source batch, and that batch's receiver.
pub fn batch_of(values: impl IntoIterator<Item = Value>) -> (Batch, BatchStatusReceiver) {
    let source = "test_source";
    let (notifier, receiver) = BatchNotifier::new();
    let batch = values
        .into_iter()
        .map(|value| Event::from_source(value, source, Some(notifier.finalizer())))
        .collect();
    (batch, receiver)
}

/// Finishes each of `parts` but the last with `finish`, checks that the batch of `receiver` is
/// still open (`open` is the failure message), finishes the last and checks that the batch
/// resolves as delivered.
pub async fn assert_delivered_after_the_last<T>(
    receiver: BatchStatusReceiver,
    mut parts: Vec<T>,
    finish: impl Fn(T),
    open: &str,
) {
    let last = parts.pop().expect("at least one part");
    assert_delivered_only_after(
        receiver,
        || parts.into_iter().for_each(&finish),
        open,
        || finish(last),
    )
    .await;
}

/// Runs `first`, checks that the batch of `receiver` is still open (`open` is the failure
/// message: what resolved it too early), then runs `last` and checks that the batch resolves
/// as delivered.
pub async fn assert_delivered_only_after(
    mut receiver: BatchStatusReceiver,
    first: impl FnOnce(),
    open: &str,
    last: impl FnOnce(),
) {
    first();
    assert!(is_pending(&mut receiver), "{open}");
    last();
    assert_eq!(status_of(receiver).await, BatchStatus::Delivered);
}
