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
//! Whether a failure is retried, and after which delay, is [`HecRetryPolicy`]'s verdict on a
//! [`Failure`]; the schedule and the limit are [`crate::retry::Retries`]. Retries
//! (`request.retry_attempts`, counting resends after an ack timeout) exhausted: the events are
//! finalized `Errored`, so a checkpointing source sends them again.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::acks::{AckHandle, AckOutcome};
use super::client::{HecClient, HecResponse, Outcome, TransportError};
use super::encoder::EncodedBatch;
use crate::ack::BatchStatus;
use crate::metrics::{ComponentMetrics, ErrorType};
use crate::options::compression::GZIP_LEVEL;
use crate::retry::{Retries, RetryPolicy, Verdict};

/// Send and retry settings, checked at build time.
#[derive(Clone, Copy, Debug)]
pub(super) struct SendSettings {
    /// Gzip request bodies (`compression = "gzip"`; otherwise uncompressed).
    pub gzip: bool,
    /// Retries per batch after its first attempt before its events are finalized `Errored`.
    pub retry_attempts: u64,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Longest backoff; also the pause after a 401/403.
    pub max_backoff: Duration,
    /// `request.retry_jitter_mode`.
    pub jitter: crate::options::request::JitterMode,
    /// Whether to wait for indexer acknowledgements.
    pub indexer_acks: bool,
    /// Longest pause between ack queries.
    pub query_interval: Duration,
    /// How long an ack id may stay unacknowledged before its batch is resent.
    pub ack_timeout: Duration,
    /// Ack ids awaited at once.
    pub max_pending_acks: usize,
    /// Bytes the sink may hold for batches handed to request tasks (see [`Budget`]).
    pub max_pending_bytes: u32,
}

struct Shared {
    client: HecClient,
    settings: SendSettings,
    metrics: Arc<ComponentMetrics>,
    acks: Option<AckHandle>,
    pending_acks: Arc<Semaphore>,
    /// `acknowledgements.max_pending_bytes`: what batches handed to request tasks hold, so
    /// that memory stays bounded however slowly Splunk acknowledges (see [`Budget`]).
    pending_bytes: Arc<Semaphore>,
    requests: Arc<Semaphore>,
}

/// Hands batches to request tasks; owns the ack poller.
pub(super) struct BatchSender {
    shared: Arc<Shared>,
    ack_task: Option<JoinHandle<()>>,
}

/// What a request task needs (cheap to clone).
#[derive(Clone)]
pub(super) struct SenderHandle {
    shared: Arc<Shared>,
}

impl BatchSender {
    /// Starts the ack poller (when indexer acknowledgements are on).
    pub(super) fn start(
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
                pending_bytes: Arc::new(Semaphore::new(settings.max_pending_bytes as usize)),
                requests: Arc::new(Semaphore::new(concurrency)),
            }),
            ack_task,
        }
    }

    /// Waits until `max_pending_bytes` has room for `batch`, then for a request slot (this is
    /// the sink's backpressure), and returns the handle that sends the batch holding both.
    pub(super) async fn reserve(
        &self,
        batch: &EncodedBatch,
    ) -> Option<(SenderHandle, Reservation)> {
        let shared = &self.shared;
        // Bytes first: a task waiting for a slot may hold bytes, so a slot holder must never
        // wait for bytes (see `Budget`).
        let budget = Budget::acquire(
            &shared.pending_bytes,
            batch.held_bytes() + TASK_OVERHEAD,
            shared.settings.max_pending_bytes,
        )
        .await?;
        let slot = Arc::clone(&shared.requests).acquire_owned().await.ok()?;
        Some((
            SenderHandle {
                shared: Arc::clone(shared),
            },
            Reservation { budget, slot },
        ))
    }

    /// Stops the ack poller once nothing is pending (call after every request task ended).
    pub(super) async fn shutdown(self) {
        let Self { shared, ack_task } = self;
        drop(shared);
        if let Some(task) = ack_task
            && let Err(error) = task.await
        {
            tracing::error!(%error, "the ack poller failed");
        }
    }
}

/// A batch's admission to a request task: its share of `max_pending_bytes` and a request
/// slot.
pub(super) struct Reservation {
    budget: Budget,
    slot: OwnedSemaphorePermit,
}

/// What a batch costs beyond its own buffers while it waits for its acknowledgement: its
/// request task (the future holds the HTTP call and the ack wait; a test checks this bound
/// against its size in a debug build, where it is largest: 2.3 KiB), the task's allocation
/// around it and the batch's entry in the ack poller.
pub(super) const TASK_OVERHEAD: usize = 4 * 1024;

/// The share of `acknowledgements.max_pending_bytes` one request task holds: the heap bytes
/// of its batch — events' bytes until the request body is built, then the body kept for a
/// resend (compressed with gzip) — plus its bookkeeping and [`TASK_OVERHEAD`], adjusted as
/// they change, released when the events are finalized. A batch larger than the whole budget
/// takes all of it (and goes alone).
///
/// Taken before the request slot and never waited for while a slot is held: a task whose ack
/// timed out waits for a slot holding its bytes, so a slot holder waiting for bytes could
/// wait forever.
struct Budget {
    semaphore: Arc<Semaphore>,
    permit: OwnedSemaphorePermit,
    max: u32,
}

impl Budget {
    async fn acquire(semaphore: &Arc<Semaphore>, bytes: usize, max: u32) -> Option<Self> {
        let permit = Arc::clone(semaphore)
            .acquire_many_owned(Self::permits(bytes, max))
            .await
            .ok()?;
        Some(Self {
            semaphore: Arc::clone(semaphore),
            permit,
            max,
        })
    }

    fn permits(bytes: usize, max: u32) -> u32 {
        u32::try_from(bytes).unwrap_or(u32::MAX).min(max)
    }

    /// Adjusts the share to `bytes` held now, without waiting: gives back what is no longer
    /// held, and takes more only if it is free at once. A batch grows only when a partial
    /// failure (a 400 naming one event, a 413) needs its events back in editable form, until
    /// its next request body is built; at most `request.concurrency` tasks hold a slot and can
    /// do that at a time, so going over the budget that way is brief and bounded.
    fn resize(&mut self, bytes: usize) {
        let wanted = Self::permits(bytes, self.max) as usize;
        let held = self.permit.num_permits();
        if wanted < held {
            drop(self.permit.split(held - wanted));
        } else if wanted > held
            && let Ok(more) = Arc::clone(&self.semaphore)
                .try_acquire_many_owned(u32::try_from(wanted - held).unwrap_or(u32::MAX))
        {
            self.permit.merge(more);
        }
    }
}

/// Size of the pieces a gzip request body is kept in: 64 KiB, the largest size that
/// allocators such as snmalloc (the binary's) serve from exact size classes. One larger
/// buffer would be rounded up to a power of two there: a 90 KB body would take 128 KiB.
const PIECE: usize = 64 * 1024;

/// A batch's request body, kept to resend it (after an ack timeout or a failed attempt)
/// without the events, which are gone once it is built.
struct Wire {
    pieces: Vec<Bytes>,
    /// Heap bytes it holds.
    held: usize,
}

impl Wire {
    /// The batch's uncompressed events, moved (not copied).
    fn plain(body: Vec<u8>) -> Self {
        let held = body.capacity() + std::mem::size_of::<Bytes>();
        Self {
            pieces: vec![Bytes::from(body)],
            held,
        }
    }

    /// `body` compressed, in pieces of [`PIECE`] bytes, the last one cut to its size.
    fn gzip(body: &[u8]) -> Self {
        let mut encoder =
            flate2::write::GzEncoder::new(Pieces::default(), flate2::Compression::new(GZIP_LEVEL));
        // Writing into memory cannot fail.
        let written = encoder.write_all(body).and_then(|()| encoder.finish());
        written.unwrap_or_default().into_wire()
    }

    fn len(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }

    /// The body of one request: the piece itself when there is one, else a contiguous copy,
    /// dropped when the request ends (at most `request.concurrency` exist at once).
    fn request_body(&self) -> Bytes {
        if let [piece] = self.pieces.as_slice() {
            return piece.clone();
        }
        let mut body = BytesMut::with_capacity(self.len());
        for piece in &self.pieces {
            body.extend_from_slice(piece);
        }
        body.freeze()
    }

    /// The events' bytes back (`expected` long).
    fn into_events(self, gzip: bool, expected: usize) -> Vec<u8> {
        let body = self.request_body();
        drop(self);
        if !gzip {
            // Usually the batch's own buffer, given back without a copy.
            return Vec::from(body);
        }
        let mut events = Vec::with_capacity(expected);
        // Our own gzip output: decoding fails only through a bug, which `restore_body` then
        // catches in debug builds (the length differs).
        let decoded = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut events);
        debug_assert!(decoded.is_ok(), "{decoded:?}");
        events
    }
}

/// The output of the gzip encoder, written into pieces of [`PIECE`] bytes.
#[derive(Default)]
struct Pieces {
    full: Vec<Bytes>,
    current: Vec<u8>,
}

impl Write for Pieces {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.current.len() == PIECE {
            // Exactly its capacity: becomes a `Bytes` without reallocating.
            self.full
                .push(Bytes::from(std::mem::take(&mut self.current)));
        }
        if self.current.capacity() == 0 {
            self.current.reserve_exact(PIECE);
        }
        let n = data.len().min(PIECE - self.current.len());
        self.current.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Pieces {
    fn into_wire(self) -> Wire {
        let Self { mut full, current } = self;
        if !current.is_empty() {
            // The last piece at its own size; its PIECE-sized buffer is let go.
            full.push(Bytes::copy_from_slice(&current));
        }
        full.shrink_to_fit();
        let held = full.iter().map(Bytes::len).sum::<usize>()
            + full.capacity() * std::mem::size_of::<Bytes>();
        Wire { pieces: full, held }
    }
}

/// One batch's progress: its events' bookkeeping, and the request body built from them (kept
/// to resend without encoding again; the events' own bytes are let go once it exists).
struct InFlight {
    batch: EncodedBatch,
    wire: Option<Wire>,
    retries: Retries,
}

impl InFlight {
    /// The body of the next request, built from the batch if it has none yet.
    fn request_body(&mut self, gzip: bool) -> Bytes {
        let batch = &mut self.batch;
        let wire = self.wire.get_or_insert_with(|| {
            if gzip {
                let wire = Wire::gzip(batch.body());
                drop(batch.take_body());
                wire
            } else {
                Wire::plain(batch.take_body())
            }
        });
        wire.request_body()
    }

    /// Heap bytes held for the batch.
    fn held_bytes(&self) -> usize {
        self.batch.held_bytes() + self.wire.as_ref().map_or(0, |wire| wire.held)
    }

    /// Makes the batch's own bytes available again before it is changed (an event removed,
    /// a split), and forgets the old request body.
    fn editable(&mut self, gzip: bool) -> &mut EncodedBatch {
        if let Some(wire) = self.wire.take()
            && self.batch.body_taken()
        {
            let events = wire.into_events(gzip, self.batch.bytes());
            self.batch.restore_body(events);
        }
        &mut self.batch
    }
}

/// What a request task holds: the batch in flight and the parts of it waiting their turn.
fn task_bytes(flight: &InFlight, queue: &VecDeque<EncodedBatch>) -> usize {
    TASK_OVERHEAD + flight.held_bytes() + queue.iter().map(EncodedBatch::held_bytes).sum::<usize>()
}

impl SenderHandle {
    /// Sends `batch` until every event is finalized, holding what `reservation` admitted.
    pub(super) async fn send(self, batch: EncodedBatch, reservation: Reservation) {
        let settings = self.shared.settings;
        let Reservation { mut budget, slot } = reservation;
        let mut queue = VecDeque::from([batch]);
        let mut permit = Some(slot);
        while let Some(batch) = queue.pop_front() {
            let backoff = (settings.jitter).backoff(settings.initial_backoff, settings.max_backoff);
            let flight = InFlight {
                batch,
                wire: None,
                retries: Retries::new(backoff, Some(settings.retry_attempts)),
            };
            self.deliver(flight, &mut queue, &mut permit, &mut budget)
                .await;
        }
    }

    /// Delivers one batch (or part of one); halves of a split go back to `queue`.
    async fn deliver(
        &self,
        mut flight: InFlight,
        queue: &mut VecDeque<EncodedBatch>,
        permit: &mut Option<OwnedSemaphorePermit>,
        budget: &mut Budget,
    ) {
        let shared = &self.shared;
        let settings = shared.settings;
        let policy = HecRetryPolicy {
            token_pause: settings.max_backoff,
        };
        while !flight.batch.is_empty() {
            if permit.is_none() {
                // Resending after an ack timeout: take a request slot again.
                *permit = Arc::clone(&shared.requests).acquire_owned().await.ok();
            }
            // Taken before sending, so that at most `max_pending_acks` ids are ever awaited.
            let ack_permit = match &shared.acks {
                Some(_) => Arc::clone(&shared.pending_acks).acquire_owned().await.ok(),
                None => None,
            };
            let body = flight.request_body(settings.gzip);
            // The events' bytes have become the (compressed) request body: count that.
            budget.resize(task_bytes(&flight, queue));
            let posted = shared.client.post(body, settings.gzip, flight.batch.key());
            let failure = match posted.await {
                Err(error) => Failure::Transport(error),
                Ok(response) => match response.outcome(flight.batch.len()) {
                    Outcome::Accepted(ack_id) => {
                        match self.accepted(&mut flight, ack_id, permit, ack_permit).await {
                            Some(failure) => failure,
                            None => return,
                        }
                    }
                    Outcome::InvalidEvent(index) => {
                        // Progress, not a failure: no backoff, and no retry counted.
                        self.drop_invalid_event(&mut flight, index, &response, queue, budget);
                        continue;
                    }
                    Outcome::TooLarge => return self.split_too_large(&mut flight, queue, budget),
                    Outcome::Retry(_) => Failure::Busy(response),
                    Outcome::Unauthorized => Failure::Unauthorized(response),
                    Outcome::Rejected => Failure::Rejected(response),
                },
            };
            match flight.retries.next(policy.judge(&failure)) {
                Some(delay) => {
                    self.retrying(&flight, &failure, delay);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                }
                None => return self.give_up(&mut flight, &failure),
            }
        }
    }

    /// Logs and counts a failure about to be retried after `delay`.
    fn retrying(&self, flight: &InFlight, failure: &Failure, delay: Duration) {
        let shared = &self.shared;
        shared.metrics.error(failure.error_type());
        let retry = flight.retries.retries();
        let retry_in_ms = delay.as_millis() as u64;
        match failure {
            Failure::Transport(error) => tracing::warn!(
                url = %shared.client.events_url(),
                %error,
                retry,
                retry_in_ms,
                "splunk_hec_logs: request failed; retrying"
            ),
            Failure::Busy(response) => tracing::warn!(
                status = response.status.as_u16(),
                reason = %response.body.describe(),
                retry,
                retry_in_ms,
                "splunk_hec_logs: Splunk is busy or failing; retrying after a backoff"
            ),
            Failure::Unauthorized(response) => tracing::error!(
                status = response.status.as_u16(),
                reason = %response.body.describe(),
                retry_in_secs = delay.as_secs_f64(),
                "splunk_hec_logs: Splunk refused the token: a configuration problem (check default_token and that the token is enabled); retrying slowly"
            ),
            Failure::AckTimedOut { ack_id } => tracing::warn!(
                ack_id,
                events = flight.batch.len(),
                channel = shared.client.channel(),
                timeout_secs = shared.settings.ack_timeout.as_secs_f64(),
                "splunk_hec_logs: indexer acknowledgement did not arrive in time; resending the batch (at-least-once)"
            ),
            Failure::Rejected(_) => {}
        }
    }

    /// The end of a batch that failed: `Rejected` when Splunk refused it for good, `Errored`
    /// once `request.retry_attempts` are used up (so the source can resend its events).
    fn give_up(&self, flight: &mut InFlight, failure: &Failure) {
        let metrics = &self.shared.metrics;
        if let Failure::Rejected(response) = failure {
            metrics.error(ErrorType::Request);
            tracing::error!(
                status = response.status.as_u16(),
                reason = %response.body.describe(),
                events = flight.batch.len(),
                "splunk_hec_logs: Splunk refused the batch permanently; its events are rejected"
            );
            take_batch(flight).finalize(BatchStatus::Rejected);
            return;
        }
        metrics.error(failure.error_type());
        tracing::error!(
            events = flight.batch.len(),
            attempts = flight.retries.retries() + 1,
            reason = %failure,
            "splunk_hec_logs: giving up on a batch after request.retry_attempts; its events are reported errored so the source can resend them"
        );
        take_batch(flight).finalize(BatchStatus::Errored);
    }

    /// A 2xx: delivered now (no indexer acknowledgement), or once its ack id is acknowledged;
    /// a [`Failure::AckTimedOut`] if the ack does not come in time.
    async fn accepted(
        &self,
        flight: &mut InFlight,
        ack_id: Option<u64>,
        permit: &mut Option<OwnedSemaphorePermit>,
        ack_permit: Option<OwnedSemaphorePermit>,
    ) -> Option<Failure> {
        let shared = &self.shared;
        let events = flight.batch.len();
        let bytes = flight.batch.bytes();
        // Splunk took the request: a later failure backs off from the first delay again (the
        // retries keep counting: a resend after an ack timeout is one).
        flight.retries.reset_backoff();
        let (Some(acks), Some(ack_id)) = (&shared.acks, ack_id) else {
            // No ack id: the token has no indexer acknowledgement, and a 200 is all Splunk
            // will ever say (Vector treats it the same way).
            shared.metrics.sent_with_bytes(events, bytes);
            take_batch(flight).finalize(BatchStatus::Delivered);
            return None;
        };
        // Waiting for the ack holds only the budget's bytes, not a request slot.
        *permit = None;
        let outcome = acks.wait(ack_id).await;
        drop(ack_permit);
        match outcome {
            AckOutcome::Acked => {
                shared.metrics.sent_with_bytes(events, bytes);
                take_batch(flight).finalize(BatchStatus::Delivered);
                None
            }
            AckOutcome::TimedOut => Some(Failure::AckTimedOut { ack_id }),
        }
    }

    /// A 400 naming one event: that event is rejected, the others are sent again.
    fn drop_invalid_event(
        &self,
        flight: &mut InFlight,
        index: usize,
        response: &HecResponse,
        queue: &VecDeque<EncodedBatch>,
        budget: &mut Budget,
    ) {
        self.shared.metrics.error(ErrorType::Request);
        tracing::error!(
            event_index = index,
            events = flight.batch.len(),
            status = response.status.as_u16(),
            reason = %response.body.describe(),
            "splunk_hec_logs: Splunk refused one event of a batch; that event is rejected, the others are resent"
        );
        // Splunk may or may not have indexed the events before it: resend them.
        let batch = flight.editable(self.shared.settings.gzip);
        if let Some(mut finalizers) = batch.remove(index) {
            finalizers.finalize(BatchStatus::Rejected);
        }
        budget.resize(task_bytes(flight, queue));
    }

    /// A 413: the batch is split in two and both halves queued; a single event is rejected.
    fn split_too_large(
        &self,
        flight: &mut InFlight,
        queue: &mut VecDeque<EncodedBatch>,
        budget: &mut Budget,
    ) {
        self.shared.metrics.error(ErrorType::Request);
        let events = flight.batch.len();
        let batch = flight.editable(self.shared.settings.gzip);
        if batch.len() <= 1 {
            tracing::error!(
                bytes = batch.bytes(),
                "splunk_hec_logs: Splunk refused an event as too large (HTTP 413) even alone; event rejected"
            );
            take_batch(flight).finalize(BatchStatus::Rejected);
            return;
        }
        tracing::warn!(
            events,
            bytes = batch.bytes(),
            "splunk_hec_logs: HTTP 413 (content too large); splitting the batch in two (lower batch.max_bytes to avoid this)"
        );
        let (first, second) = take_batch(flight).split_at(events / 2);
        queue.push_front(second);
        queue.push_front(first);
        budget.resize(task_bytes(flight, queue));
    }
}

/// A failed attempt at delivering a batch, as [`HecRetryPolicy`] judges it.
#[derive(Debug)]
pub(super) enum Failure {
    /// No HTTP response (connection, timeout, TLS).
    Transport(TransportError),
    /// 408, 429 or 5xx: Splunk is busy or failing.
    Busy(HecResponse),
    /// 401/403: the token is missing, malformed or disabled (a configuration problem).
    Unauthorized(HecResponse),
    /// Accepted, but its indexer acknowledgement did not come in time.
    AckTimedOut {
        /// The ack id given up on.
        ack_id: u64,
    },
    /// Any other 4xx (a 400 that names no event): refused for good.
    Rejected(HecResponse),
}

impl Failure {
    /// The `error_type` it is counted as in `component_errors_total`.
    fn error_type(&self) -> ErrorType {
        match self {
            Self::AckTimedOut { .. } => ErrorType::Acknowledgment,
            Self::Unauthorized(_) => ErrorType::Authentication,
            Self::Transport(_) | Self::Busy(_) | Self::Rejected(_) => ErrorType::Request,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport(error) => write!(f, "request failed: {error}"),
            Self::Busy(response) | Self::Unauthorized(response) | Self::Rejected(response) => {
                write!(f, "HTTP {} ({})", response.status, response.body.describe())
            }
            Self::AckTimedOut { ack_id } => write!(f, "ack id {ack_id} not acknowledged in time"),
        }
    }
}

/// Which HEC failures are worth another attempt, and when (the schedule and the limit are the
/// batch's [`Retries`]): transport errors, 408/429/5xx after a backoff or the server's
/// `Retry-After`; a refused token every `token_pause` (it may be fixed meanwhile); a batch whose
/// ack timed out at once (at-least-once); any other 4xx never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HecRetryPolicy {
    /// The pause after a 401/403: `request.retry_max_duration_secs`.
    pub token_pause: Duration,
}

impl RetryPolicy<Failure> for HecRetryPolicy {
    fn judge(&self, failure: &Failure) -> Verdict {
        match failure {
            Failure::Transport(_) => Verdict::Retry { after: None },
            Failure::Busy(response) => Verdict::Retry {
                after: response.retry_after,
            },
            Failure::Unauthorized(_) => Verdict::Retry {
                after: Some(self.token_pause),
            },
            Failure::AckTimedOut { .. } => Verdict::Retry {
                after: Some(Duration::ZERO),
            },
            Failure::Rejected(_) => Verdict::Stop,
        }
    }
}

/// The flight's batch, leaving an empty one in its place.
fn take_batch(flight: &mut InFlight) -> EncodedBatch {
    std::mem::replace(&mut flight.batch, EncodedBatch::new(Default::default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::{BatchNotifier, EventFinalizers};
    use crate::retry::Backoff;
    use crate::test_alloc::live_bytes;

    /// A HEC batch shaped like the demo source's: `events` envelopes of about 1.2 KB with
    /// pseudo-random ids (gzip takes them to about a twentieth), from source batches of 64
    /// events.
    fn demo_like_batch(events: usize, notifiers: &[BatchNotifier]) -> EncodedBatch {
        let mut batch = EncodedBatch::new(Default::default());
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state >> 16
        };
        for i in 0..events {
            let (a, b, c, d) = (next(), next(), next(), next());
            let link = EventFinalizers::new(notifiers[i / 64].finalizer());
            batch.push_with(
                |out| {
                    let envelope = format!(
                        r#"{{"event":{{"activity_id":1,"actor":{{"user":{{"email_addr":"user{}@example.com","uid":"{a:016x}"}}}},"api":{{"operation":"c1.api.app.v1.AppEntitlements.List","request":{{"uid":"{b:016x}"}},"response":{{"code":200}}}},"category_uid":6,"class_uid":6003,"metadata":{{"product":{{"name":"ConductorOne","vendor_name":"ConductorOne"}},"uid":"{c:016x}","version":"1.4.0"}},"src_endpoint":{{"ip":"10.{}.{}.{}"}},"status_id":1,"time":{},"type_uid":600301,"http_request":{{"user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36","url":{{"path":"/api/v1/apps/{d:016x}/entitlements","hostname":"tenant.conductor.one"}}}},"unmapped":{{"trace_id":"{a:016x}{b:016x}","span_id":"{d:016x}","padding":"{}"}}}},"sourcetype":"ocsf:conductorone","time":{}.{:03}}}"#,
                        a % 97,
                        b % 256,
                        c % 256,
                        d % 256,
                        1_767_225_600_000 + i,
                        "x".repeat(400),
                        1_767_225_600 + i / 1000,
                        i % 1000,
                    );
                    out.extend_from_slice(envelope.as_bytes());
                    out.push(b'\n');
                },
                link,
            );
        }
        batch
    }

    /// What the budget is told a batch holds is what the allocator handed out for it: the
    /// encoded events and their bookkeeping when it is admitted; once its request body is
    /// built, only the compressed pieces and the bookkeeping (one link per source batch).
    #[test]
    fn the_budget_counts_what_a_batch_really_holds() {
        let notifiers: Vec<BatchNotifier> = (0..12).map(|_| BatchNotifier::new().0).collect();
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let before = live_bytes();
        let mut batch = demo_like_batch(768, &notifiers);
        batch.shrink_to_fit();
        let admitted = batch.held_bytes();
        assert_eq!(live_bytes() - before, admitted as isize);
        assert!(batch.bytes() > 900_000, "{} bytes", batch.bytes());
        assert_eq!(batch.links(), 12);

        let mut flight = InFlight {
            batch,
            wire: None,
            retries: Retries::new(backoff, None),
        };
        let compressed = flight.request_body(true).len();
        let held = flight.held_bytes();
        let live = live_bytes() - before;
        // `Bytes` adds a small shared header to a piece it clones; nothing else is uncounted.
        assert!(
            (held as isize - live).abs() <= 256,
            "counted {held} bytes, {live} really held"
        );
        let wire = flight.wire.as_ref().expect("the request body is kept");
        let pieces: Vec<usize> = wire.pieces.iter().map(Bytes::len).collect();
        assert!(
            pieces[..pieces.len() - 1].iter().all(|&len| len == PIECE),
            "{pieces:?}"
        );
        assert_eq!(pieces.iter().sum::<usize>(), compressed);
        // The events' 1 MB is gone: what is held is the compressed body and 6 KB of offsets
        // and links, about an eleventh of what was admitted.
        let bookkeeping = 768 * std::mem::size_of::<usize>() + 12 * 32;
        assert!(
            held <= compressed + bookkeeping + 256,
            "{held} bytes held for a {compressed}-byte body"
        );
        assert!(held * 8 < admitted, "{held} of {admitted} bytes");

        // Back in editable form (a partial failure), the events are as they were.
        let original = demo_like_batch(768, &notifiers);
        let restored = flight.editable(true);
        assert_eq!(restored.body(), original.body());
        original.finalize(BatchStatus::Delivered);
        flight.batch.finalize(BatchStatus::Delivered);
    }

    /// [`TASK_OVERHEAD`] covers the request task's future (largest in a debug build) and a
    /// margin for its allocation and its ack poller entry.
    #[tokio::test]
    async fn task_overhead_covers_a_request_task() {
        let config: super::super::SplunkHecLogsConfig = toml::from_str(
            r#"
endpoint = "http://127.0.0.1:9"
default_token = "t"
encoding.codec = "json"
"#,
        )
        .expect("valid options");
        let client = HecClient::new(&config).expect("a client");
        let settings = SendSettings {
            gzip: true,
            retry_attempts: 0,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(1),
            jitter: crate::options::request::JitterMode::Full,
            indexer_acks: true,
            query_interval: Duration::from_secs(1),
            ack_timeout: Duration::from_secs(1),
            max_pending_acks: 1,
            max_pending_bytes: 1 << 20,
        };
        let sender = BatchSender::start(client, settings, 1, Arc::default());
        let batch = EncodedBatch::new(Default::default());
        let (handle, reservation) = sender.reserve(&batch).await.expect("admitted");
        let task = handle.send(batch, reservation);
        let size = std::mem::size_of_val(&task);
        assert!(
            size + 1024 <= TASK_OVERHEAD,
            "a request task's future takes {size} bytes"
        );
        drop(task);
        sender.shutdown().await;
    }
}

#[cfg(test)]
mod delivery_tests {

    use serde_json::{Value, json};

    use super::*;
    use crate::ack::{BatchNotifier, EventFinalizers};
    use crate::sinks::splunk_hec_logs::test_server::{Acks, TestHec};

    type Script = Vec<(u16, Value, Option<&'static str>)>;

    fn settings(retry_attempts: u64) -> SendSettings {
        SendSettings {
            gzip: false,
            retry_attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(50),
            jitter: crate::options::request::JitterMode::Full,
            indexer_acks: false,
            query_interval: Duration::from_millis(20),
            ack_timeout: Duration::from_millis(100),
            max_pending_acks: 10,
            max_pending_bytes: 1 << 20,
        }
    }

    fn status(code: u16) -> (u16, Value, Option<&'static str>) {
        (code, json!({"text": "scripted", "code": 9}), None)
    }

    /// What became of a batch of `events` events (each from a source batch of its own): each
    /// event's status, the number of events in each body posted, and the errors counted.
    async fn deliver(
        script: Script,
        events: usize,
        settings: SendSettings,
        acks: Acks,
    ) -> (Vec<BatchStatus>, Vec<usize>, u64) {
        let server = TestHec::start(script, acks).await;
        let metrics = Arc::new(ComponentMetrics::default());
        let sender = BatchSender::start(server.client(""), settings, 1, Arc::clone(&metrics));
        let mut batch = EncodedBatch::new(Default::default());
        let mut receivers = Vec::new();
        for i in 0..events {
            let (notifier, receiver) = BatchNotifier::new();
            let event = format!("{{\"event\":{i}}}\n");
            batch.push_with(
                |out| out.extend_from_slice(event.as_bytes()),
                EventFinalizers::new(notifier.finalizer()),
            );
            receivers.push(receiver);
        }
        let (handle, reservation) = sender.reserve(&batch).await.expect("admitted");
        tokio::time::timeout(Duration::from_secs(10), handle.send(batch, reservation))
            .await
            .expect("the batch finished");
        sender.shutdown().await;
        let statuses = futures::future::join_all(receivers).await;
        let bodies = server
            .script()
            .bodies
            .iter()
            .map(|b| b.lines().count())
            .collect();
        (statuses, bodies, metrics.errors_total())
    }

    use BatchStatus::{Delivered, Errored, Rejected};

    #[test]
    fn the_policy_retries_transient_failures_and_stops_on_other_4xx() {
        let policy = HecRetryPolicy {
            token_pause: Duration::from_secs(30),
        };
        let response = |code: u16, retry_after: Option<Duration>| HecResponse {
            status: reqwest::StatusCode::from_u16(code).expect("a status"),
            body: Default::default(),
            retry_after,
        };
        let asked = Some(Duration::from_secs(4));
        for (failure, verdict) in [
            (
                Failure::Transport(TransportError::new("connection refused")),
                Verdict::Retry { after: None },
            ),
            (
                Failure::Busy(response(503, asked)),
                Verdict::Retry { after: asked },
            ),
            (
                Failure::Busy(response(429, None)),
                Verdict::Retry { after: None },
            ),
            (
                Failure::Unauthorized(response(401, None)),
                Verdict::Retry {
                    after: Some(Duration::from_secs(30)),
                },
            ),
            (
                Failure::AckTimedOut { ack_id: 1 },
                Verdict::Retry {
                    after: Some(Duration::ZERO),
                },
            ),
            (Failure::Rejected(response(404, None)), Verdict::Stop),
        ] {
            assert_eq!(policy.judge(&failure), verdict, "{failure}");
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_accepted() {
        let script = vec![
            (503, json!({"code": 9}), Some("0")),
            status(429),
            status(500),
        ];
        let (statuses, bodies, errors) = deliver(script, 2, settings(5), Acks::AllTrue).await;
        assert_eq!(statuses, [Delivered, Delivered]);
        assert_eq!(bodies, [2, 2, 2, 2]);
        assert_eq!(errors, 3);
    }

    #[tokio::test]
    async fn used_up_retries_end_errored_so_the_source_resends() {
        let script = vec![status(503), status(503), status(503)];
        let (statuses, bodies, _) = deliver(script, 2, settings(2), Acks::AllTrue).await;
        assert_eq!(statuses, [Errored, Errored]);
        assert_eq!(bodies.len(), 3, "one attempt and two retries");
        let (statuses, bodies, _) = deliver(vec![status(503)], 1, settings(0), Acks::AllTrue).await;
        assert_eq!((statuses, bodies.len()), (vec![Errored], 1), "0: no retry");
    }

    #[tokio::test]
    async fn other_4xx_reject_the_batch_at_once() {
        let (statuses, bodies, errors) =
            deliver(vec![status(404)], 2, settings(5), Acks::AllTrue).await;
        assert_eq!(statuses, [Rejected, Rejected]);
        assert_eq!(bodies, [2]);
        assert_eq!(errors, 1);
    }

    #[tokio::test]
    async fn an_invalid_event_is_rejected_alone_and_the_rest_resent_without_a_retry() {
        let invalid = json!({"text": "Invalid data format", "code": 6, "invalid-event-number": 1});
        let script = vec![(400, invalid, None)];
        // No retry allowed: resending the others is progress, not a retry.
        let (statuses, bodies, _) = deliver(script, 3, settings(0), Acks::AllTrue).await;
        assert_eq!(statuses, [Delivered, Rejected, Delivered]);
        assert_eq!(bodies, [3, 2]);
    }

    #[tokio::test]
    async fn too_large_splits_the_batch_and_a_single_event_is_rejected() {
        let script = vec![status(413), status(413)];
        let (statuses, bodies, _) = deliver(script, 2, settings(0), Acks::AllTrue).await;
        assert_eq!(statuses, [Rejected, Delivered]);
        assert_eq!(bodies, [2, 1, 1]);
    }

    #[tokio::test]
    async fn a_refused_token_is_retried_after_the_longest_backoff() {
        let started = tokio::time::Instant::now();
        let (statuses, bodies, errors) =
            deliver(vec![status(401)], 1, settings(5), Acks::AllTrue).await;
        assert_eq!((statuses, bodies, errors), (vec![Delivered], vec![1, 1], 1));
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn indexer_acks_deliver_or_resend_the_batch() {
        let with_acks = SendSettings {
            indexer_acks: true,
            ..settings(1)
        };
        let (statuses, bodies, _) = deliver(Vec::new(), 2, with_acks, Acks::AllTrue).await;
        assert_eq!((statuses, bodies), (vec![Delivered, Delivered], vec![2]));
        // Never acknowledged: resent once (the one retry allowed), then errored.
        let (statuses, bodies, errors) = deliver(Vec::new(), 2, with_acks, Acks::AllFalse).await;
        assert_eq!((statuses, bodies), (vec![Errored, Errored], vec![2, 2]));
        assert_eq!(errors, 2, "one per timeout, the last one giving up");
    }
}
