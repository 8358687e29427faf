//! Sending one batch until it is delivered or finally failed, and finalizing its events.
//!
//! Every batch has its own task. It holds a request slot (`request.concurrency`) while it
//! posts and while it backs off, so an outage applies backpressure instead of piling up
//! batches; it gives the slot back as soon as Splunk accepted the request, and waits for the
//! indexer acknowledgement holding only a `max_pending_acks` permit — many requests stay in
//! flight while acks are awaited.
//!
//! | response | what happens |
//! |---|---|
//! | 200 with `ackId` (indexer acks on) | wait for `/ack`; acked → `Delivered`; deadline passed → resend |
//! | 200 without `ackId` | `Delivered` |
//! | 400 with `invalid-event-number` i | event i `Rejected` (logged); the others are resent at once |
//! | other 400, other 4xx | the whole batch `Rejected` (logged with Splunk's code and text) |
//! | 401 / 403 | logged as a token problem; retried every `retry_max_duration_secs` |
//! | 413 | batch split in two, each half sent; a single event too large is `Rejected` |
//! | 408, 429, 5xx, transport errors | retried with exponential backoff and full jitter, `Retry-After` honoured |
//!
//! Attempts (`request.retry_attempts`, counting resends after an ack timeout) exhausted: the
//! events are finalized `Errored`, so a checkpointing source sends them again.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::Compression;
use super::acks::{AckHandle, AckOutcome};
use super::encoder::EncodedBatch;
use super::request::{HecClient, Outcome};
use crate::ack::BatchStatus;
use crate::metrics::ComponentMetrics;
use crate::retry::Backoff;
/// Send and retry settings, checked at build time.
#[derive(Clone, Copy, Debug)]
pub struct SendSettings {
    /// Body compression.
    pub compression: Compression,
    /// Attempts per batch before its events are finalized `Errored`.
    pub retry_attempts: u64,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Longest backoff; also the pause after a 401/403.
    pub max_backoff: Duration,
    /// Whether to wait for indexer acknowledgements.
    pub indexer_acks: bool,
    /// Longest pause between ack queries.
    pub query_interval: Duration,
    /// How long an ack id may stay unacknowledged before its batch is resent.
    pub ack_timeout: Duration,
    /// Ack ids awaited at once.
    pub max_pending_acks: usize,
    /// Bytes of request bodies kept while their acks are awaited.
    pub max_pending_bytes: u32,
}

struct Shared {
    client: HecClient,
    settings: SendSettings,
    metrics: Arc<ComponentMetrics>,
    acks: Option<AckHandle>,
    pending_acks: Arc<Semaphore>,
    /// Bytes of request bodies kept for a possible resend while their acks are awaited
    /// (`acknowledgements.max_pending_bytes`): memory stays bounded however slowly Splunk
    /// acknowledges.
    awaiting_ack_bytes: Arc<Semaphore>,
    requests: Arc<Semaphore>,
}

/// Hands batches to request tasks; owns the ack poller.
pub struct BatchSender {
    shared: Arc<Shared>,
    ack_task: Option<JoinHandle<()>>,
}

/// What a request task needs (cheap to clone).
#[derive(Clone)]
pub struct SenderHandle {
    shared: Arc<Shared>,
}

impl BatchSender {
    /// Starts the ack poller (when indexer acknowledgements are on).
    pub fn start(
        client: HecClient,
        settings: SendSettings,
        concurrency: usize,
        metrics: Arc<ComponentMetrics>,
    ) -> Self {
        let (acks, ack_task) = if settings.indexer_acks {
            let (handle, task) = AckHandle::spawn(
                client.clone(),
                settings.query_interval,
                settings.ack_timeout,
                Arc::clone(&metrics),
            );
            (Some(handle), Some(task))
        } else {
            (None, None)
        };
        Self {
            shared: Arc::new(Shared {
                client,
                settings,
                metrics,
                acks,
                pending_acks: Arc::new(Semaphore::new(settings.max_pending_acks)),
                awaiting_ack_bytes: Arc::new(Semaphore::new(settings.max_pending_bytes as usize)),
                requests: Arc::new(Semaphore::new(concurrency)),
            }),
            ack_task,
        }
    }

    /// Waits for a request slot (this is the sink's backpressure) and returns the handle that
    /// sends the batch holding it.
    pub async fn reserve(&self) -> Option<(SenderHandle, OwnedSemaphorePermit)> {
        let permit = Arc::clone(&self.shared.requests)
            .acquire_owned()
            .await
            .ok()?;
        Some((
            SenderHandle {
                shared: Arc::clone(&self.shared),
            },
            permit,
        ))
    }

    /// Stops the ack poller once nothing is pending (call after every request task ended).
    pub async fn shutdown(self) {
        let Self { shared, ack_task } = self;
        drop(shared);
        if let Some(task) = ack_task
            && let Err(error) = task.await
        {
            tracing::error!(%error, "splunk_hec_logs: the ack poller failed");
        }
    }
}

/// Gzip level: 6, as Vector's default for `compression = "gzip"`.
const GZIP_LEVEL: u32 = 6;

fn gzip(body: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::new(GZIP_LEVEL),
    );
    // Writing into a Vec cannot fail.
    let written = encoder.write_all(body).and_then(|()| encoder.finish());
    match written {
        Ok(compressed) => Bytes::from(compressed),
        Err(_) => Bytes::new(),
    }
}

fn gunzip(wire: &[u8], expected: usize) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(expected);
    flate2::read::GzDecoder::new(wire).read_to_end(&mut body)?;
    Ok(body)
}

/// One batch's progress: its events, and the request body built from them (kept to resend
/// after an ack timeout without encoding again).
struct InFlight {
    batch: EncodedBatch,
    wire: Option<Bytes>,
    attempts: u64,
    backoff: Backoff,
}

impl InFlight {
    /// The request body for the batch as it is now.
    fn wire(&mut self, compression: Compression) -> Bytes {
        if let Some(wire) = &self.wire {
            return wire.clone();
        }
        let wire = match compression {
            Compression::Gzip => gzip(self.batch.body()),
            // Moved, not copied; restored from the wire if the batch has to change.
            Compression::None => Bytes::from(self.batch.take_body()),
        };
        self.wire = Some(wire.clone());
        wire
    }

    /// Makes the batch's own bytes available again before it is changed (an event removed,
    /// a split), and forgets the old request body.
    fn editable(&mut self, compression: Compression) -> &mut EncodedBatch {
        if let Some(wire) = self.wire.take()
            && self.batch.body_taken()
        {
            let body = match compression {
                Compression::None => Vec::from(wire),
                Compression::Gzip => gunzip(&wire, self.batch.bytes()).unwrap_or_default(),
            };
            self.batch.restore_body(body);
        }
        &mut self.batch
    }
}

impl SenderHandle {
    /// Sends `batch` until every event is finalized. `permit` is the request slot.
    pub async fn send(self, batch: EncodedBatch, permit: OwnedSemaphorePermit) {
        let settings = self.shared.settings;
        let mut queue = VecDeque::from([batch]);
        let mut permit = Some(permit);
        while let Some(batch) = queue.pop_front() {
            let flight = InFlight {
                batch,
                wire: None,
                attempts: 0,
                backoff: Backoff::new(settings.initial_backoff, settings.max_backoff),
            };
            self.deliver(flight, &mut queue, &mut permit).await;
        }
    }

    /// Delivers one batch (or part of one); halves of a split go back to `queue`.
    async fn deliver(
        &self,
        mut flight: InFlight,
        queue: &mut VecDeque<EncodedBatch>,
        permit: &mut Option<OwnedSemaphorePermit>,
    ) {
        let shared = &self.shared;
        let settings = shared.settings;
        let client = &shared.client;
        loop {
            if flight.batch.is_empty() {
                return;
            }
            if flight.attempts >= settings.retry_attempts {
                shared.metrics.errors(1);
                tracing::error!(
                    events = flight.batch.len(),
                    attempts = flight.attempts,
                    "splunk_hec_logs: giving up on a batch after request.retry_attempts; its events are reported errored so the source can resend them"
                );
                flight.batch.finalize(BatchStatus::Errored);
                return;
            }
            if permit.is_none() {
                // Resending after an ack timeout: take a request slot again.
                *permit = Arc::clone(&shared.requests).acquire_owned().await.ok();
            }
            // Taken before sending, so that at most `max_pending_acks` ids are ever awaited.
            let ack_permit = match &shared.acks {
                Some(_) => Arc::clone(&shared.pending_acks).acquire_owned().await.ok(),
                None => None,
            };
            flight.attempts += 1;
            let wire = flight.wire(settings.compression);
            let gzip = settings.compression == Compression::Gzip;
            let response = client.post(wire, gzip, flight.batch.key()).await;
            let response = match response {
                Ok(response) => response,
                Err(error) => {
                    shared.metrics.error();
                    let delay = flight.backoff.next_delay();
                    tracing::warn!(
                        url = %client.events_url(),
                        %error,
                        attempt = flight.attempts,
                        retry_in_ms = delay.as_millis() as u64,
                        "splunk_hec_logs: request failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            let events = flight.batch.len();
            match response.outcome(events) {
                Outcome::Accepted(ack_id) => {
                    flight.backoff.reset();
                    let (Some(acks), Some(ack_id)) = (&shared.acks, ack_id) else {
                        // No ack id: the token has no indexer acknowledgement, and a 200 is
                        // all Splunk will ever say (Vector treats it the same way).
                        shared.metrics.sent(events);
                        flight.batch.finalize(BatchStatus::Delivered);
                        return;
                    };
                    // Keep the body for a resend, within the byte budget: when it is spent,
                    // this request keeps its slot until older batches are acknowledged, so
                    // the sink stops taking input (backpressure) instead of growing.
                    let held = flight.wire.as_ref().map_or(0, Bytes::len);
                    let held = u32::try_from(held)
                        .unwrap_or(u32::MAX)
                        .min(settings.max_pending_bytes);
                    let _held_bytes = Arc::clone(&shared.awaiting_ack_bytes)
                        .acquire_many_owned(held)
                        .await
                        .ok();
                    // Free the request slot and the batch's bytes while waiting.
                    *permit = None;
                    if settings.compression == Compression::Gzip {
                        flight.batch.release_body();
                    }
                    let outcome = acks.wait(ack_id).await;
                    drop(ack_permit);
                    match outcome {
                        AckOutcome::Acked => {
                            shared.metrics.sent(events);
                            flight.batch.finalize(BatchStatus::Delivered);
                            return;
                        }
                        AckOutcome::TimedOut => {
                            shared.metrics.error();
                            tracing::warn!(
                                ack_id,
                                events,
                                channel = client.channel(),
                                timeout_secs = settings.ack_timeout.as_secs_f64(),
                                "splunk_hec_logs: indexer acknowledgement did not arrive in time; resending the batch (at-least-once)"
                            );
                            continue;
                        }
                    }
                }
                Outcome::InvalidEvent(index) => {
                    shared.metrics.error();
                    tracing::error!(
                        event_index = index,
                        events,
                        status = response.status.as_u16(),
                        reason = %response.body.describe(),
                        "splunk_hec_logs: Splunk refused one event of a batch; that event is rejected, the others are resent"
                    );
                    // Splunk may or may not have indexed the events before it: resend them.
                    let batch = flight.editable(settings.compression);
                    if let Some(mut finalizers) = batch.remove(index) {
                        finalizers.finalize(BatchStatus::Rejected);
                    }
                    // Progress, not a failure: no backoff, and the attempt is not counted.
                    flight.attempts -= 1;
                }
                Outcome::TooLarge => {
                    shared.metrics.error();
                    let batch = flight.editable(settings.compression);
                    if batch.len() <= 1 {
                        tracing::error!(
                            bytes = batch.bytes(),
                            "splunk_hec_logs: Splunk refused an event as too large (HTTP 413) even alone; event rejected"
                        );
                        let batch = std::mem::replace(
                            &mut flight.batch,
                            EncodedBatch::new(Default::default()),
                        );
                        batch.finalize(BatchStatus::Rejected);
                        return;
                    }
                    tracing::warn!(
                        events,
                        bytes = batch.bytes(),
                        "splunk_hec_logs: HTTP 413 (content too large); splitting the batch in two (lower batch.max_bytes to avoid this)"
                    );
                    let whole =
                        std::mem::replace(&mut flight.batch, EncodedBatch::new(Default::default()));
                    let (first, second) = whole.split_at(events / 2);
                    queue.push_front(second);
                    queue.push_front(first);
                    return;
                }
                Outcome::Unauthorized => {
                    shared.metrics.error();
                    let delay = settings.max_backoff;
                    tracing::error!(
                        status = response.status.as_u16(),
                        reason = %response.body.describe(),
                        retry_in_secs = delay.as_secs_f64(),
                        "splunk_hec_logs: Splunk refused the token: a configuration problem (check default_token and that the token is enabled); retrying slowly"
                    );
                    tokio::time::sleep(delay).await;
                }
                Outcome::Retry(retry_after) => {
                    shared.metrics.error();
                    let delay = flight.backoff.next_delay_honouring(retry_after);
                    tracing::warn!(
                        status = response.status.as_u16(),
                        reason = %response.body.describe(),
                        attempt = flight.attempts,
                        retry_in_ms = delay.as_millis() as u64,
                        "splunk_hec_logs: Splunk is busy or failing; retrying after a backoff"
                    );
                    tokio::time::sleep(delay).await;
                }
                Outcome::Rejected => {
                    shared.metrics.errors(1);
                    tracing::error!(
                        status = response.status.as_u16(),
                        reason = %response.body.describe(),
                        events,
                        "splunk_hec_logs: Splunk refused the batch permanently; its events are rejected"
                    );
                    let batch =
                        std::mem::replace(&mut flight.batch, EncodedBatch::new(Default::default()));
                    batch.finalize(BatchStatus::Rejected);
                    return;
                }
            }
        }
    }
}
