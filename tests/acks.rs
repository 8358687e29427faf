//! End-to-end acknowledgements at library level: batch notifiers and event finalizers,
//! in-order release of finished batches, and fan-out to several consumers.

#[path = "common/batches.rs"]
mod batches;

use std::sync::Arc;
use std::time::Duration;

use batches::{
    WAIT, assert_delivered_after_the_last, assert_delivered_only_after, batch_of, is_pending,
    status_of,
};
use c1_pipeline::ack::{
    BatchNotifier, BatchStatus, BatchStatusReceiver, EventFinalizer, OrderedAcks,
};
use c1_pipeline::event::{Batch, finish_batch};
use c1_pipeline::topology::Fanout;
use futures::FutureExt;
use tokio::sync::mpsc;
use vrl::value::Value;

fn value(id: u64) -> Value {
    serde_json::from_value(serde_json::json!({ "id": id, "class_uid": 6003 }))
        .expect("a JSON object is a VRL value")
}

/// A batch of `events` events from one source batch, and that batch's receiver.
fn batch(first_id: u64, events: u64) -> (Batch, BatchStatusReceiver) {
    batch_of((first_id..first_id + events).map(value))
}

#[tokio::test]
async fn batch_resolves_delivered_only_after_its_last_event() {
    let (notifier, receiver) = BatchNotifier::new();
    let finalizers: Vec<_> = (0..3).map(|_| notifier.finalizer()).collect();
    drop(notifier);
    assert_delivered_after_the_last(
        receiver,
        finalizers,
        |finalizer| finalizer.finalize(BatchStatus::Delivered),
        "resolved while one finalizer was still alive",
    )
    .await;
}

#[tokio::test]
async fn notifier_keeps_the_batch_open_until_dropped() {
    // The source may still be adding events while it holds the notifier.
    let (notifier, mut receiver) = BatchNotifier::new();
    notifier.finalizer().finalize(BatchStatus::Delivered);
    assert!(is_pending(&mut receiver));
    let late = notifier.finalizer();
    drop(notifier);
    assert!(is_pending(&mut receiver));
    late.finalize(BatchStatus::Delivered);
    assert_eq!(status_of(receiver).await, BatchStatus::Delivered);
}

#[tokio::test]
async fn a_batch_without_events_is_delivered() {
    let (notifier, receiver) = BatchNotifier::new();
    drop(notifier);
    assert_eq!(status_of(receiver).await, BatchStatus::Delivered);
}

#[tokio::test]
async fn worst_status_wins_in_any_order() {
    use BatchStatus::{Delivered, Errored, Rejected};
    let cases: &[(&[BatchStatus], BatchStatus)] = &[
        (&[Delivered, Delivered], Delivered),
        (&[Delivered, Errored, Delivered], Errored),
        (&[Errored, Delivered], Errored),
        (&[Delivered, Rejected], Rejected),
        (&[Rejected, Errored], Rejected),
        (&[Errored, Rejected], Rejected),
        (&[Errored, Rejected, Delivered], Rejected),
        (&[Rejected, Delivered, Errored], Rejected),
        (&[Errored, Errored], Errored),
    ];
    for (statuses, expected) in cases {
        let (notifier, receiver) = BatchNotifier::new();
        let finalizers: Vec<_> = statuses.iter().map(|_| notifier.finalizer()).collect();
        drop(notifier);
        for (finalizer, status) in finalizers.into_iter().zip(statuses.iter()) {
            finalizer.finalize(*status);
        }
        assert_eq!(
            status_of(receiver).await,
            *expected,
            "statuses {statuses:?}"
        );
    }
    assert_eq!(Delivered.worst(Errored), Errored);
    assert_eq!(Rejected.worst(Errored), Rejected);
    assert_eq!(Delivered.worst(Delivered), Delivered);
}

/// The status of a batch with two finalizers: one finalized with `status`, the other dropped
/// without a status.
async fn one_finalized_one_dropped(status: BatchStatus) -> BatchStatus {
    let (notifier, receiver) = BatchNotifier::new();
    let finalized = notifier.finalizer();
    let dropped = notifier.finalizer();
    drop(notifier);
    finalized.finalize(status);
    drop(dropped);
    status_of(receiver).await
}

#[tokio::test]
async fn finalizer_dropped_without_status_counts_as_errored() {
    assert_eq!(
        one_finalized_one_dropped(BatchStatus::Delivered).await,
        BatchStatus::Errored
    );
}

#[tokio::test]
async fn event_dropped_without_finalizing_counts_as_errored() {
    let (mut events, receiver) = batch(0, 3);
    let lost = events.pop().unwrap();
    finish_batch(events, BatchStatus::Delivered);
    drop(lost);
    assert_eq!(status_of(receiver).await, BatchStatus::Errored);
}

#[tokio::test]
async fn rejected_is_not_downgraded_by_a_dropped_finalizer() {
    assert_eq!(
        one_finalized_one_dropped(BatchStatus::Rejected).await,
        BatchStatus::Rejected
    );
}

#[tokio::test]
async fn cloned_finalizer_must_finish_too() {
    let (notifier, receiver) = BatchNotifier::new();
    let original = notifier.finalizer();
    drop(notifier);
    let copy = original.clone();
    assert_delivered_only_after(
        receiver,
        || original.finalize(BatchStatus::Delivered),
        "resolved before the fan-out copy finished",
        || copy.finalize(BatchStatus::Delivered),
    )
    .await;
}

#[tokio::test]
async fn cloned_event_copies_report_separately() {
    // Copy 1 delivered, copy 2 failed: the source must hear about the failure.
    let (mut events, mut receiver) = batch(0, 1);
    let mut first = events.pop().unwrap();
    let second = first.clone();
    first.finalize(BatchStatus::Delivered);
    drop(first);
    assert!(is_pending(&mut receiver));
    second.finish(BatchStatus::Errored);
    assert_eq!(status_of(receiver).await, BatchStatus::Errored);

    // A copy that is simply dropped (a consumer lost it) also makes the batch errored.
    let (mut events, receiver) = batch(0, 1);
    let first = events.pop().unwrap();
    let second = first.clone();
    first.finish(BatchStatus::Delivered);
    drop(second);
    assert_eq!(status_of(receiver).await, BatchStatus::Errored);
}

#[tokio::test]
async fn merged_event_reports_to_every_batch() {
    let (mut a, receiver_a) = batch(0, 1);
    let (mut b, receiver_b) = batch(1, 1);
    let mut merged = a.pop().unwrap();
    let other = b.pop().unwrap();
    merged.metadata.finalizers.merge(other.metadata.finalizers);
    merged.finish(BatchStatus::Rejected);
    assert_eq!(status_of(receiver_a).await, BatchStatus::Rejected);
    assert_eq!(status_of(receiver_b).await, BatchStatus::Rejected);
}

#[tokio::test]
async fn finalizing_twice_does_not_change_the_first_report() {
    // After `finalize`, the event's finalizers are spent: a later drop reports nothing.
    let (mut events, receiver) = batch(0, 1);
    let mut event = events.pop().unwrap();
    event.finalize(BatchStatus::Delivered);
    assert!(event.metadata.finalizers.is_empty());
    event.finalize(BatchStatus::Rejected);
    drop(event);
    assert_eq!(status_of(receiver).await, BatchStatus::Delivered);
}

/// The next batch `acks` releases, waited for (bounded).
async fn next_released<T>(acks: &mut OrderedAcks<T>) -> Option<(T, BatchStatus)> {
    tokio::time::timeout(WAIT, acks.next_ready())
        .await
        .expect("next_ready did not return after the oldest batch finished")
}

/// Finalizes a batch's only finalizer with `status`, then waits for the next batch `acks`
/// releases.
async fn finish_and_release<T>(
    acks: &mut OrderedAcks<T>,
    finalizer: EventFinalizer,
    status: BatchStatus,
) -> Option<(T, BatchStatus)> {
    finalizer.finalize(status);
    next_released(acks).await
}

/// Checks that `acks` releases nothing yet (`why` is the failure message) and holds `len`.
#[track_caller]
fn assert_holds_back<T: std::fmt::Debug>(acks: &mut OrderedAcks<T>, len: usize, why: &str) {
    assert!(acks.try_next_ready().is_none(), "{why}");
    assert_eq!(acks.len(), len);
}

/// Three batches, finishing 3, then 1, then 2, with a status of their own each.
#[tokio::test]
async fn ordered_acks_release_only_the_contiguous_prefix() {
    let mut acks: OrderedAcks<u32> = OrderedAcks::new();
    assert!(acks.is_empty());
    assert!(acks.try_next_ready().is_none());
    assert!(acks.next_ready().await.is_none());

    let mut finalizers = Vec::new();
    for token in 1..=3u32 {
        let (notifier, receiver) = BatchNotifier::new();
        finalizers.push(notifier.finalizer());
        acks.push(token, receiver);
    }
    assert_eq!(acks.len(), 3);
    let mut finalizers = finalizers.into_iter();
    let (one, two, three) = (
        finalizers.next().unwrap(),
        finalizers.next().unwrap(),
        finalizers.next().unwrap(),
    );

    three.finalize(BatchStatus::Rejected);
    tokio::task::yield_now().await;
    assert_holds_back(
        &mut acks,
        3,
        "batch 3 was released while batch 1 was pending",
    );

    let released = finish_and_release(&mut acks, one, BatchStatus::Delivered).await;
    assert_eq!(released, Some((1, BatchStatus::Delivered)));
    assert_holds_back(
        &mut acks,
        2,
        "batch 3 was released while batch 2 was pending",
    );

    let released = finish_and_release(&mut acks, two, BatchStatus::Errored).await;
    assert_eq!(released, Some((2, BatchStatus::Errored)));
    assert_eq!(acks.try_next_ready(), Some((3, BatchStatus::Rejected)));
    assert!(acks.is_empty());
    assert!(acks.try_next_ready().is_none());
    assert!(acks.next_ready().await.is_none());
}

#[tokio::test]
async fn ordered_acks_next_ready_waits_for_the_oldest_batch() {
    let mut acks: OrderedAcks<&str> = OrderedAcks::new();
    let (first, first_receiver) = BatchNotifier::new();
    let (second, second_receiver) = BatchNotifier::new();
    let first_finalizer = first.finalizer();
    drop(first);
    acks.push("first", first_receiver);
    acks.push("second", second_receiver);
    // The younger batch is already complete; the older one finishes later, elsewhere.
    drop(second);
    let finisher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        first_finalizer.finalize(BatchStatus::Delivered);
    });
    let released = next_released(&mut acks).await;
    assert_eq!(released, Some(("first", BatchStatus::Delivered)));
    assert_eq!(
        acks.try_next_ready(),
        Some(("second", BatchStatus::Delivered))
    );
    finisher.await.unwrap();
}

/// A consumer standing in for a sink: finalizes everything it receives with `status` and
/// returns how many events it saw.
fn sink(mut input: mpsc::Receiver<Batch>, status: BatchStatus) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut seen = 0;
        while let Some(batch) = input.recv().await {
            seen += batch.len();
            finish_batch(batch, status);
        }
        seen
    })
}

fn fanout(consumers: Vec<(&str, mpsc::Sender<Batch>)>) -> Fanout {
    Fanout::new(
        consumers
            .into_iter()
            .map(|(name, sender)| (Arc::from(name), sender))
            .collect(),
        None,
    )
}

/// Sends a batch of four events through a fan-out to sinks `a` and `b`, which finalize what
/// they get with `a_status` and `b_status`: the batch's status and the events each sink saw.
async fn fanout_to_two_sinks(
    a_status: BatchStatus,
    b_status: BatchStatus,
) -> (BatchStatus, usize, usize) {
    let (a_tx, a_rx) = mpsc::channel(2);
    let (b_tx, b_rx) = mpsc::channel(2);
    let a = sink(a_rx, a_status);
    let b = sink(b_rx, b_status);
    let mut out = fanout(vec![("a", a_tx), ("b", b_tx)]);
    let (events, receiver) = batch(0, 4);
    out.send(events).await.expect("both consumers are running");
    drop(out);
    let status = status_of(receiver).await;
    (status, a.await.unwrap(), b.await.unwrap())
}

#[tokio::test]
async fn fanout_to_two_delivering_sinks_is_delivered() {
    let (status, a, b) = fanout_to_two_sinks(BatchStatus::Delivered, BatchStatus::Delivered).await;
    assert_eq!(status, BatchStatus::Delivered);
    assert_eq!(a, 4, "sink a got every event");
    assert_eq!(b, 4, "sink b got every event");
}

#[tokio::test]
async fn fanout_with_one_failing_sink_is_errored_at_the_source() {
    let (status, a, b) = fanout_to_two_sinks(BatchStatus::Delivered, BatchStatus::Errored).await;
    assert_eq!(status, BatchStatus::Errored);
    assert_eq!(a, 4);
    assert_eq!(b, 4);

    // The failing consumer may be either one of the two (the last one gets the original).
    let (status, _, _) = fanout_to_two_sinks(BatchStatus::Rejected, BatchStatus::Delivered).await;
    assert_eq!(status, BatchStatus::Rejected);
}

#[tokio::test]
async fn fanout_waits_for_every_copy() {
    let (a_tx, mut a_rx) = mpsc::channel(2);
    let (b_tx, mut b_rx) = mpsc::channel(2);
    let mut out = fanout(vec![("a", a_tx), ("b", b_tx)]);
    let (events, receiver) = batch(0, 2);
    out.send(events).await.unwrap();
    let a_batch = a_rx.recv().await.unwrap();
    let b_batch = b_rx.recv().await.unwrap();
    assert_eq!(a_batch.len(), 2);
    assert_eq!(b_batch.len(), 2);
    assert_eq!(a_batch[0].value, b_batch[0].value);
    assert_delivered_only_after(
        receiver,
        || finish_batch(a_batch, BatchStatus::Delivered),
        "resolved while sink b still held its copy",
        || finish_batch(b_batch, BatchStatus::Delivered),
    )
    .await;
}

/// Sends events `first_id..first_id + 3` through `out`, which must still have a running
/// consumer; the batch's status.
async fn send_three(out: &mut Fanout, first_id: u64) -> BatchStatus {
    let (events, receiver) = batch(first_id, 3);
    out.send(events)
        .await
        .expect("one consumer is still running");
    status_of(receiver).await
}

#[tokio::test]
async fn fanout_to_a_stopped_consumer_is_errored_not_lost() {
    for stopped_index in 0..2 {
        let (a_tx, a_rx) = mpsc::channel(2);
        let (b_tx, b_rx) = mpsc::channel(2);
        let (live, dead) = if stopped_index == 0 {
            (b_rx, a_rx)
        } else {
            (a_rx, b_rx)
        };
        drop(dead);
        let live = sink(live, BatchStatus::Delivered);
        let mut out = fanout(vec![("a", a_tx), ("b", b_tx)]);

        assert_eq!(
            send_three(&mut out, 0).await,
            BatchStatus::Errored,
            "consumer {stopped_index} stopped: its copy was never delivered"
        );

        // Later batches cannot reach the stopped consumer either: they are not delivered.
        assert_eq!(
            send_three(&mut out, 3).await,
            BatchStatus::Errored,
            "a batch sent after consumer {stopped_index} stopped was reported delivered"
        );
        drop(out);
        assert_eq!(
            live.await.unwrap(),
            6,
            "the running consumer got both batches"
        );
    }
}

#[tokio::test]
async fn fanout_with_every_consumer_stopped_fails_and_reports_errored() {
    let (a_tx, a_rx) = mpsc::channel(2);
    let (b_tx, b_rx) = mpsc::channel(2);
    drop(a_rx);
    drop(b_rx);
    let mut out = fanout(vec![("a", a_tx), ("b", b_tx)]);
    let (events, receiver) = batch(0, 3);
    assert!(out.send(events).await.is_err());
    assert_eq!(status_of(receiver).await, BatchStatus::Errored);

    // Sending again must not treat the now consumer-less output as "unconsumed on purpose".
    let (events, receiver) = batch(3, 3);
    assert!(out.send(events).await.is_err());
    assert_eq!(status_of(receiver).await, BatchStatus::Errored);
}

#[tokio::test]
async fn fanout_without_consumers_discards_as_delivered() {
    // An optional output nobody reads (route `_unmatched`): handled on purpose.
    let mut out = Fanout::default();
    assert!(out.is_unconsumed());
    let (events, receiver) = batch(0, 3);
    out.send(events).await.unwrap();
    assert_eq!(status_of(receiver).await, BatchStatus::Delivered);
}

#[tokio::test]
async fn fanout_applies_backpressure() {
    let (tx, mut rx) = mpsc::channel(1);
    let mut out = fanout(vec![("slow", tx)]);
    let (first, first_receiver) = batch(0, 1);
    out.send(first).await.unwrap();
    let (second, second_receiver) = batch(1, 1);
    // The channel holds one batch: the second send waits until the consumer takes one.
    let mut sending = Box::pin(out.send(second));
    assert!((&mut sending).now_or_never().is_none());
    let taken = rx.recv().await.unwrap();
    tokio::time::timeout(WAIT, sending)
        .await
        .expect("send did not proceed after the consumer took a batch")
        .unwrap();
    finish_batch(taken, BatchStatus::Delivered);
    finish_batch(rx.recv().await.unwrap(), BatchStatus::Delivered);
    assert_eq!(status_of(first_receiver).await, BatchStatus::Delivered);
    assert_eq!(status_of(second_receiver).await, BatchStatus::Delivered);
}
