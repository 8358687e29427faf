//! The `conductorone_demo` source's run loop: events at the configured pace (or as fast as the
//! pipeline takes them), then a wait for their acknowledgements.

use std::time::Duration;

use super::events::DemoEventGenerator;
use crate::ack::{BatchNotifier, OrderedAcks};
use crate::component::{ComponentError, SourceContext};
use crate::event::{Event, intern_id};
use crate::topology::MAX_BATCH_EVENTS;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(super) async fn run(
    mut generator: DemoEventGenerator,
    count: u64,
    interval: Duration,
    mut cx: SourceContext,
) -> Result<(), ComponentError> {
    let source_id = intern_id(&cx.id);
    // One event per tick when paced; full batches when unpaced.
    let per_batch = if interval.is_zero() {
        MAX_BATCH_EVENTS as u64
    } else {
        1
    };
    let mut ticker = (!interval.is_zero()).then(|| {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    let mut emitted = 0;
    let mut acks: OrderedAcks<usize> = OrderedAcks::new();
    let mut undelivered: u64 = 0;
    while emitted < count {
        if let Some(ticker) = &mut ticker {
            tokio::select! {
                biased;
                () = cx.shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
        } else if cx.shutdown.is_cancelled() {
            break;
        }
        let size = per_batch.min(count - emitted);
        let (notifier, receiver) = BatchNotifier::new();
        let time = now_ms();
        let mut batch: Vec<Event> = (0..size)
            .map(|_| {
                Event::from_source(
                    generator.generate(time),
                    source_id,
                    Some(notifier.finalizer()),
                )
            })
            .collect();
        drop(notifier);
        emitted += size;
        cx.metrics.received_events(&mut batch);
        acks.push(batch.len(), receiver);
        tokio::select! {
            biased;
            // Generated but never emitted: nothing to deliver, nobody waits for it.
            () = cx.shutdown.cancelled() => {
                acks.pop_back();
                break;
            }
            sent = cx.out.send(batch) => sent.map_err(|e| ComponentError(format!("conductorone_demo: {e}")))?,
        }
        while let Some((size, status)) = acks.try_next_ready() {
            undelivered += status.undelivered(size);
        }
    }
    // Close the output first: a sink that batches until its input ends (aws_s3) flushes now,
    // instead of both sides waiting for each other until its batch timeout.
    drop(cx.out);
    while let Some((size, status)) = acks.next_ready().await {
        undelivered += status.undelivered(size);
    }
    if undelivered > 0 {
        return Err(ComponentError(format!(
            "{undelivered} demo events were not delivered"
        )));
    }
    Ok(())
}
