//! The `conductorone` source's run loop: polling, sending, acknowledgements, checkpoints.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vrl::value::Value;

use super::checkpoint::{Checkpoint, CheckpointStore};
use super::client::{ApiClient, ApiError, ListRequest, RawPage, SORT_ASC};
use super::config::Settings;
use super::{CHECKPOINT_MIN_INTERVAL, DEDUPE_CAPACITY, PREFETCH_PAGES, StartAt, client};
use crate::ack::{BatchNotifier, BatchStatus, OrderedAcks};
use crate::component::{ComponentError, SourceContext};
use crate::dedupe::{RecentSet, hash_str as uid_hash};
use crate::event::{Event, intern_id};
use crate::metrics::{ComponentMetrics, ErrorType};
use crate::ocsf::{event_time_millis, event_uid};
use crate::retry::{Backoff, Retries, Verdict};
use crate::state::StateWriter;
use crate::topology::MAX_BATCH_EVENTS;
use crate::topology::fanout::Fanout;

/// An RFC 3339 UTC time with milliseconds, as the API's `since` wants it.
pub(super) fn format_time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Lists one poll's pages into `pages`: ends at an empty token, a repeated token, a
/// permanent error (sent on), or when the receiver is gone. Transient errors are retried.
async fn fetch_cycle(
    client: Arc<ApiClient>,
    mut request: ListRequest,
    mut fallback_since: Option<String>,
    mut retries: Retries,
    pages: mpsc::Sender<Result<RawPage, ApiError>>,
) {
    let mut tokens_seen = HashSet::new();
    let mut first = true;
    loop {
        let page = match client.list_events_retrying(&request, &mut retries).await {
            Ok(page) => page,
            Err(error) if first && error.is_client_error() && request.since_event_uid.is_some() => {
                let Some(since) = fallback_since.take() else {
                    let _ = pages.send(Err(error)).await;
                    return;
                };
                tracing::warn!(%error, %since, "the server rejected sinceEventUid; resuming by time instead (events already sent are skipped)");
                request.since_event_uid = None;
                request.since = Some(since);
                continue;
            }
            Err(error) => {
                let _ = pages.send(Err(error)).await;
                return;
            }
        };
        first = false;
        let next = page.next_page_token.clone();
        if pages.send(Ok(page)).await.is_err() {
            return;
        }
        match next {
            None => return,
            Some(token) if !tokens_seen.insert(token.clone()) => {
                tracing::warn!(
                    "conductorone: the server repeated a nextPageToken; ending this poll (the next one resumes after the last event)"
                );
                return;
            }
            Some(token) => request.page_token = Some(token),
        }
    }
}

/// Recent uids, to drop events sent before.
struct Dedupe(RecentSet);

impl Dedupe {
    fn new(seed: Option<&str>) -> Self {
        let mut dedupe = Self(RecentSet::new(DEDUPE_CAPACITY));
        if let Some(uid) = seed {
            dedupe.insert(uid_hash(uid));
        }
        dedupe
    }

    /// Records `hash`; false if it was already there.
    fn insert(&mut self, hash: u64) -> bool {
        self.0.insert(hash)
    }
}

/// The token of a sent batch.
#[derive(Clone, Debug)]
struct AckToken {
    /// Events sent up to the end of the batch (the checkpoint writer's sequence number).
    seq: u64,
    /// Events in the batch.
    events: u64,
    /// The cursor after the batch.
    cursor: Checkpoint,
}

/// Why a poll ended.
enum PollEnd {
    Shutdown,
    /// A batch was not delivered: resend from the checkpoint.
    Rewind,
    Failed(ApiError),
    Done,
}

/// The running source.
struct Source {
    source_id: &'static str,
    out: Fanout,
    shutdown: CancellationToken,
    acknowledgements: bool,
    metrics: Arc<ComponentMetrics>,
    page_size: u32,
    /// `until`, epoch ms: events at or after it are outside the window.
    until: Option<i64>,
    /// Events the server returned at or after `until`, not sent, this run.
    outside_window: u64,
    /// The cursor after the last event sent (where the next poll starts).
    cursor: Checkpoint,
    /// Events sent so far (a sequence number for acks and the checkpoint writer). A rewind
    /// moves it back to the last committed batch's: the abandoned batches were never handed
    /// to the writer, so its sequence stays increasing.
    sent: u64,
    /// `max_unacknowledged_events`.
    max_unacknowledged: u64,
    acks: OrderedAcks<AckToken>,
    commit: Commit,
    dedupe: Dedupe,
    /// Items skipped because they could not become events, this run.
    invalid_events: u64,
}

/// Undecodable events logged one by one per run; the rest are only counted.
const LOGGED_INVALID_EVENTS: u64 = 100;

/// What acknowledgements move: the committed cursor and the checkpoint writer.
struct Commit {
    /// The cursor every sink has acknowledged.
    committed: Checkpoint,
    /// The sequence number of `committed` (the last one handed to the writer).
    committed_seq: u64,
    /// A batch failed: nothing more is committed until the source has rewound.
    failed: bool,
    writer: StateWriter,
    metrics: Arc<ComponentMetrics>,
}

impl Commit {
    /// Handles one batch's outcome; false when it was not delivered.
    /// `Rejected` counts as handled: resending cannot help, so the checkpoint moves over it.
    fn on_ack(&mut self, token: AckToken, status: BatchStatus) -> bool {
        if self.failed {
            return false;
        }
        match status {
            BatchStatus::Delivered => {}
            BatchStatus::Rejected => {
                tracing::error!(
                    events = token.events,
                    last_uid = token.cursor.last_uid.as_deref().unwrap_or(""),
                    "conductorone: a sink refused a batch for good (Rejected); its events are not sent again and the checkpoint moves past them"
                );
                self.metrics.error(ErrorType::Acknowledgment);
                self.metrics
                    .add("conductorone_rejected_events_total", token.events);
            }
            BatchStatus::Errored => {
                tracing::error!(
                    events = token.events,
                    "conductorone: a batch was not delivered; the checkpoint stays, and events after it will be sent again"
                );
                self.metrics.error(ErrorType::Acknowledgment);
                self.failed = true;
                return false;
            }
        }
        self.committed = token.cursor.clone();
        self.committed_seq = token.seq;
        self.writer.update_at(token.seq, token.cursor.to_bytes());
        true
    }
}

impl Source {
    /// Whether another page may be sent without exceeding the unpersisted bound.
    fn has_room(&self) -> bool {
        let persisted = *self.commit.writer.persisted().borrow();
        self.sent.saturating_sub(persisted) < self.max_unacknowledged
    }

    fn on_ack(&mut self, token: AckToken, status: BatchStatus) -> bool {
        self.commit.on_ack(token, status)
    }

    fn drain_ready_acks(&mut self) -> bool {
        while let Some((token, status)) = self.acks.try_next_ready() {
            if !self.on_ack(token, status) {
                return false;
            }
        }
        true
    }

    /// Sends a page's new events in batches. `Err` when the source must stop.
    async fn send_page(&mut self, page: RawPage) -> Result<Option<PollEnd>, ComponentError> {
        // Decoded here, not by the fetcher: the events are then built, sent and (usually)
        // consumed by the sink on one core.
        let parsed = match client::parse_page(&page.body) {
            Ok(parsed) => parsed,
            Err(reason) => {
                self.metrics.error(ErrorType::Parser);
                let labels = [("status", "invalid_body")];
                (self.metrics).add_labelled("conductorone_api_errors_total", &labels, 1);
                return Ok(Some(PollEnd::Failed(ApiError::invalid_body(&reason))));
            }
        };
        if parsed.next_page_token != page.next_page_token {
            return Ok(Some(PollEnd::Failed(ApiError::InvalidBody {
                reason: "the page's nextPageToken could not be read consistently".to_owned(),
                request_id: None,
            })));
        }
        self.skip_invalid(&parsed);
        let trailing_invalid = parsed.trailing_invalid_uid().map(str::to_owned);
        let mut events: Vec<Value> = Vec::with_capacity(parsed.events.len());
        let mut outside = 0;
        for mut event in parsed.events {
            crate::ocsf::numbers::integers_from_floats(&mut event);
            if self.is_after_window(&event) {
                outside += 1;
                continue;
            }
            if event_uid(&event).is_none_or(|uid| self.dedupe.insert(uid_hash(uid))) {
                events.push(event);
            }
        }
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            let chunk: Vec<Value> = events.by_ref().take(MAX_BATCH_EVENTS).collect();
            if let Some(end) = self.send_batch(chunk).await? {
                return Ok(Some(end));
            }
        }
        if let Some(uid) = trailing_invalid {
            // The next request starts after it; the durable cursor passes it with the next
            // delivered batch (after a crash before that, it is fetched and skipped again).
            self.cursor.last_uid = Some(uid);
        }
        if outside > 0 {
            self.note_outside_window(outside);
            // Oldest first: the rest of the listing is past the window too.
            return Ok(Some(PollEnd::Done));
        }
        Ok(None)
    }

    /// Whether `event` is at or after `until` (an event without `time` is in: the server
    /// placed it in the window).
    fn is_after_window(&self, event: &Value) -> bool {
        self.until
            .is_some_and(|until| event_time_millis(event).is_some_and(|time| time >= until))
    }

    /// Counts events the server returned past `until` (it should not have: they are left for
    /// a later run, the cursor stays before them); logs the first time.
    fn note_outside_window(&mut self, count: u64) {
        if self.outside_window == 0 {
            tracing::warn!(
                "conductorone: the server returned events at or after `until`; they are not sent and the checkpoint stays before them"
            );
        }
        self.outside_window += count;
        self.metrics
            .add("conductorone_events_after_until_total", count);
    }

    /// Moves the sent cursor to the last event of `chunk` that has a uid, and updates the lag.
    fn advance_cursor(&mut self, chunk: &[Value]) {
        if let Some((uid, event)) = chunk
            .iter()
            .rev()
            .find_map(|event| event_uid(event).map(|uid| (uid, event)))
        {
            self.cursor.last_uid = Some(uid.to_owned());
            if let Some(time) = event_time_millis(event) {
                self.cursor.last_time = Some(time);
            }
        }
        if let Some(time) = chunk.last().and_then(event_time_millis) {
            let lag = chrono::Utc::now()
                .timestamp_millis()
                .saturating_sub(time)
                .max(0);
            self.metrics
                .set("source_lag_time_seconds", (lag / 1000) as f64);
        }
    }

    /// Sends one batch, committing acknowledgements while the consumer is busy. `Some` when
    /// the poll must end (shutdown, or a failed batch to rewind for).
    async fn send_batch(&mut self, chunk: Vec<Value>) -> Result<Option<PollEnd>, ComponentError> {
        self.advance_cursor(&chunk);
        self.sent += chunk.len() as u64;
        let token = AckToken {
            seq: self.sent,
            events: chunk.len() as u64,
            cursor: self.cursor.clone(),
        };
        let (notifier, receiver) = if self.acknowledgements {
            let (notifier, receiver) = BatchNotifier::new();
            (Some(notifier), Some(receiver))
        } else {
            (None, None)
        };
        let mut batch: Vec<Event> = chunk
            .into_iter()
            .map(|value| {
                let finalizer = notifier.as_ref().map(BatchNotifier::finalizer);
                Event::from_source(value, self.source_id, finalizer)
            })
            .collect();
        drop(notifier);
        // Sized once here and kept in the events, so the output counts them for free.
        self.metrics.received_events(&mut batch);
        if let Some(receiver) = receiver {
            self.acks.push(token.clone(), receiver);
        }
        // While the consumer is busy (backpressure), keep committing acknowledgements.
        let mut ok = true;
        {
            let send = self.out.send(batch);
            tokio::pin!(send);
            loop {
                tokio::select! {
                    biased;
                    () = self.shutdown.cancelled() => {
                        // Not sent: its events were dropped (as `Errored`), nobody waits.
                        if self.acknowledgements {
                            self.acks.pop_back();
                        }
                        return Ok(Some(PollEnd::Shutdown));
                    }
                    sent = &mut send => {
                        sent.map_err(|e| ComponentError(format!("conductorone: {e}")))?;
                        break;
                    }
                    Some((token, status)) = self.acks.next_ready(), if ok && self.acks.len() > 1 => {
                        ok = self.commit.on_ack(token, status);
                    }
                }
            }
        }
        if !self.acknowledgements {
            ok = ok && self.on_ack(token, BatchStatus::Delivered);
        }
        if !ok || !self.drain_ready_acks() {
            return Ok(Some(PollEnd::Rewind));
        }
        Ok(None)
    }

    /// Counts and logs the page's items that cannot become events (the first
    /// [`LOGGED_INVALID_EVENTS`] of a run each with its uid and position, then only counted).
    fn skip_invalid(&mut self, page: &client::Page) {
        for item in &page.invalid {
            self.metrics.error(ErrorType::Parser);
            self.metrics.add("conductorone_invalid_events_total", 1);
            self.invalid_events += 1;
            if self.invalid_events <= LOGGED_INVALID_EVENTS {
                tracing::warn!(
                    uid = item.uid.as_deref().unwrap_or("(unknown)"),
                    position = item.index,
                    error = %item.reason,
                    "conductorone: skipped an event that cannot be decoded"
                );
            } else if self.invalid_events == LOGGED_INVALID_EVENTS + 1 {
                tracing::warn!("more undecodable events; counting them without logging each");
            }
        }
    }

    /// The request that resumes after the sent cursor, and its `since` fallback.
    fn next_request(&self) -> (ListRequest, Option<String>) {
        let since = self.cursor.last_time.map(format_time);
        let mut request = ListRequest {
            page_size: self.page_size,
            sort_direction: SORT_ASC,
            until: self.until.map(format_time),
            ..ListRequest::default()
        };
        match &self.cursor.last_uid {
            Some(uid) => {
                request.since_event_uid = Some(uid.clone());
                (request, since)
            }
            None => {
                request.since = since;
                (request, None)
            }
        }
    }

    /// One poll: fetches pages on a task of its own while sending them.
    async fn poll(
        &mut self,
        client: &Arc<ApiClient>,
        backoff: Backoff,
    ) -> Result<PollEnd, ComponentError> {
        let (request, fallback) = self.next_request();
        let (pages_tx, mut pages) = mpsc::channel(PREFETCH_PAGES);
        let fetch = tokio::spawn(
            fetch_cycle(
                Arc::clone(client),
                request,
                fallback,
                Retries::new(backoff, None),
                pages_tx,
            )
            .in_current_span(),
        );
        let _abort = AbortOnDrop(fetch);
        let mut persisted = self.commit.writer.persisted().clone();
        loop {
            let room = self.has_room();
            enum Step {
                Shutdown,
                Ack(Option<(AckToken, BatchStatus)>),
                Page(Option<Result<RawPage, ApiError>>),
                Persisted,
            }
            let step = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => Step::Shutdown,
                ack = self.acks.next_ready(), if !self.acks.is_empty() => Step::Ack(ack),
                page = pages.recv(), if room => Step::Page(page),
                _ = persisted.changed(), if !room => Step::Persisted,
            };
            match step {
                Step::Shutdown => return Ok(PollEnd::Shutdown),
                Step::Ack(Some((token, status))) => {
                    if !self.on_ack(token, status) {
                        return Ok(PollEnd::Rewind);
                    }
                }
                Step::Ack(None) | Step::Persisted => {}
                Step::Page(Some(Ok(page))) => {
                    if let Some(end) = self.send_page(page).await? {
                        return Ok(end);
                    }
                }
                Step::Page(Some(Err(error))) => return Ok(PollEnd::Failed(error)),
                Step::Page(None) => return Ok(PollEnd::Done),
            }
        }
    }

    /// Waits `duration` while handling acks. Returns why it stopped early, if it did.
    async fn idle(&mut self, duration: Duration) -> Option<PollEnd> {
        let sleep = tokio::time::sleep(duration);
        tokio::pin!(sleep);
        loop {
            enum Step {
                Shutdown,
                Elapsed,
                Ack(Option<(AckToken, BatchStatus)>),
            }
            let step = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => Step::Shutdown,
                ack = self.acks.next_ready(), if !self.acks.is_empty() => Step::Ack(ack),
                () = &mut sleep => Step::Elapsed,
            };
            match step {
                Step::Shutdown => return Some(PollEnd::Shutdown),
                Step::Elapsed => return None,
                Step::Ack(Some((token, status))) => {
                    if !self.on_ack(token, status) {
                        return Some(PollEnd::Rewind);
                    }
                }
                Step::Ack(None) => {}
            }
        }
    }

    /// After a failed batch: waits for every outstanding batch, then resumes from the
    /// committed checkpoint with a fresh dedupe memory. False on shutdown.
    async fn rewind(&mut self) -> bool {
        while !self.acks.is_empty() {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return false,
                Some((token, status)) = self.acks.next_ready() => {
                    self.on_ack(token, status);
                }
            }
        }
        self.commit.failed = false;
        // The failed batches will never be acknowledged: count room from the committed one.
        self.sent = self.commit.committed_seq;
        self.cursor = self.commit.committed.clone();
        self.dedupe = Dedupe::new(self.commit.committed.last_uid.as_deref());
        tracing::info!(
            uid = self.cursor.last_uid.as_deref().unwrap_or(""),
            "conductorone: resending from the checkpoint"
        );
        true
    }
}

/// Aborts a task when dropped (the fetcher of a poll that ended early).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The starting checkpoint: the stored one, or `start_at` on first run (then stored at once,
/// so a restart before the first event does not move `now` forward and skip events).
async fn initial_checkpoint(
    store: &CheckpointStore,
    start_at: StartAt,
) -> Result<Checkpoint, ComponentError> {
    let loader = store.clone();
    let loaded = tokio::task::spawn_blocking(move || loader.load())
        .await
        .map_err(|e| ComponentError(format!("conductorone: {e}")))?
        .map_err(|e| ComponentError(format!("conductorone: {e}")))?;
    if let Some(checkpoint) = loaded {
        tracing::info!(
            path = %store.path().display(),
            uid = checkpoint.last_uid.as_deref().unwrap_or(""),
            time = checkpoint.last_time.map(format_time).unwrap_or_default(),
            "conductorone: resuming from the checkpoint"
        );
        return Ok(checkpoint);
    }
    let checkpoint = Checkpoint {
        last_uid: None,
        last_time: match start_at {
            StartAt::Now => Some(chrono::Utc::now().timestamp_millis()),
            StartAt::Beginning => None,
            StartAt::Time(ms) => Some(ms),
        },
    };
    let saver = store.clone();
    let first = checkpoint.clone();
    tokio::task::spawn_blocking(move || saver.save(&first))
        .await
        .map_err(|e| ComponentError(format!("conductorone: {e}")))?
        .map_err(|e| ComponentError(format!("conductorone: {e}")))?;
    tracing::info!(
        start = checkpoint
            .last_time
            .map(format_time)
            .unwrap_or_else(|| "the beginning".to_owned()),
        "conductorone: first run"
    );
    Ok(checkpoint)
}

/// The poll loop's policy: a fatal error (the credential can never work) stops the source;
/// anything else is polled again, after the server's `Retry-After` when it sent one.
fn poll_policy(error: &ApiError) -> Verdict {
    if error.is_fatal() {
        Verdict::Stop
    } else {
        Verdict::Retry {
            after: error.retry_after(),
        }
    }
}

/// Why the poll loop ended.
enum Stop {
    /// Shutdown was requested.
    Shutdown,
    /// A token the source can never use.
    Fatal(ApiError),
    /// Every event before `until` was sent.
    WindowDone,
}

/// Whether a poll that started at `started` (epoch ms) and listed everything the server had
/// completes the window: it started at or after `until`, so no event before `until` can be
/// missing from it (events recorded later with an earlier `time` cannot be waited for).
fn window_complete(until: Option<i64>, started: i64) -> bool {
    until.is_some_and(|until| started >= until)
}

/// Polls until shutdown, a fatal error or (with `until`) the end of the window. Polls never
/// stop for good but on a fatal error; a failed poll (its requests already retried by the
/// client) is polled again after the backoff.
async fn poll_loop(
    source: &mut Source,
    client: &Arc<ApiClient>,
    settings: &Settings,
) -> Result<Stop, ComponentError> {
    let mut poll_retries = Retries::new(settings.backoff(), None);
    loop {
        let started = chrono::Utc::now().timestamp_millis();
        let end = match source.poll(client, settings.backoff()).await? {
            PollEnd::Done => {
                poll_retries.reset();
                if window_complete(settings.until, started) {
                    return Ok(Stop::WindowDone);
                }
                source.idle(settings.poll_interval).await
            }
            PollEnd::Failed(error) => match poll_retries.next(poll_policy(&error)) {
                Some(delay) => {
                    tracing::error!(%error, retry_in_ms = delay.as_millis() as u64, "polling failed; trying again after a backoff");
                    source.idle(delay).await
                }
                None => {
                    tracing::error!(%error, "stopping");
                    return Ok(Stop::Fatal(error));
                }
            },
            other => Some(other),
        };
        match end {
            Some(PollEnd::Shutdown) => return Ok(Stop::Shutdown),
            Some(PollEnd::Rewind) => {
                if !source.rewind().await {
                    return Ok(Stop::Shutdown);
                }
                let delay = poll_retries.next(Verdict::Retry { after: None });
                if let Some(PollEnd::Shutdown) = source.idle(delay.unwrap_or_default()).await {
                    return Ok(Stop::Shutdown);
                }
            }
            _ => {}
        }
    }
}

pub(super) async fn run(
    settings: Settings,
    client: ApiClient,
    store: CheckpointStore,
    cx: SourceContext,
) -> Result<(), ComponentError> {
    let committed = initial_checkpoint(&store, settings.start_at).await?;
    if !cx.acknowledgements {
        tracing::info!(
            "conductorone: not every sink downstream acknowledges delivery; the checkpoint advances when events are sent, so a crash can lose events still in the pipeline"
        );
    }
    if let Some(until) = settings.until {
        tracing::info!(until = %format_time(until), "exporting the events before `until`, then stopping");
    }
    let client = Arc::new(client);
    let writer = StateWriter::spawn(
        store.path().to_path_buf(),
        "checkpoint",
        Arc::clone(&cx.metrics),
        CHECKPOINT_MIN_INTERVAL,
        settings.backoff(),
    );
    let mut source = Source {
        source_id: intern_id(&cx.id),
        out: cx.out,
        shutdown: cx.shutdown,
        acknowledgements: cx.acknowledgements,
        metrics: Arc::clone(&cx.metrics),
        page_size: settings.page_size,
        until: settings.until,
        outside_window: 0,
        max_unacknowledged: settings.max_unacknowledged_events,
        cursor: committed.clone(),
        dedupe: Dedupe::new(committed.last_uid.as_deref()),
        invalid_events: 0,
        commit: Commit {
            committed,
            committed_seq: 0,
            failed: false,
            writer,
            metrics: Arc::clone(&cx.metrics),
        },
        sent: 0,
        acks: OrderedAcks::new(),
    };
    let stop = poll_loop(&mut source, &client, &settings).await?;
    // Shutdown, a fatal error or the window's end: release the output first, so sinks that
    // flush when their input closes (`aws_s3`) acknowledge now instead of at their batch
    // timeout, then wait for what is in flight, so the checkpoint covers every delivered event.
    drop(std::mem::take(&mut source.out));
    while let Some((token, status)) = source.acks.next_ready().await {
        source.on_ack(token, status);
    }
    source.commit.writer.finish().await;
    match stop {
        Stop::Fatal(error) => Err(ComponentError(format!("conductorone: {error}"))),
        Stop::WindowDone if source.commit.failed => Err(ComponentError(format!(
            "conductorone: the window before `until` was read, but a sink did not deliver some of its events; the checkpoint holds the last delivered one (uid {}): run again to send the rest",
            source
                .commit
                .committed
                .last_uid
                .as_deref()
                .unwrap_or("none")
        ))),
        Stop::WindowDone => {
            tracing::info!(
                uid = source.commit.committed.last_uid.as_deref().unwrap_or(""),
                "conductorone: every event before `until` was delivered; the source is done"
            );
            Ok(())
        }
        Stop::Shutdown => Ok(()),
    }
}
