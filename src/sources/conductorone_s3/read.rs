//! Reading objects into events (shared by both strategies): download with retries on a task of
//! the object's own (ahead of time), then decode and forward in order, with the optional uid
//! dedupe, on the task that sends the events on.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument as _;

use aws_sdk_s3::primitives::{ByteStream, ByteStreamError};
use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vrl::value::{ObjectMap, Value};

use super::Settings;
use super::decode::{ObjectReader, ReadError, Records};
use crate::ack::{BatchNotifier, BatchStatus, BatchStatusReceiver};
use crate::aws::{ErrorKind, classify};
use crate::dedupe::{HashSetU64, RecentSet, hash_str};
use crate::event::{Batch, Event, Origin};
use crate::metrics::{ComponentMetrics, ErrorType};
use crate::ocsf::event_uid;
use crate::retry::{Retries, Verdict, retry};
use crate::state::StateWriter;
use crate::topology::MAX_BATCH_EVENTS;
use crate::topology::fanout::{ClosedError, Fanout};

/// The longest record read: a longer line is skipped and counted (an OCSF event is a few
/// kilobytes; a line of hundreds of megabytes is a broken or hostile file).
pub(super) const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// Invalid records logged one by one per object; the rest are only counted (a file of
/// garbage must not flood the log).
const INVALID_RECORDS_LOGGED: u64 = 10;

/// An object to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ObjectRef {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The ETag from the listing or notification, if known.
    pub etag: Option<String>,
    /// Size in bytes as stored.
    pub size: u64,
    /// Last-Modified, epoch milliseconds (0 if unknown).
    pub last_modified_ms: i64,
}

impl ObjectRef {
    /// `s3://bucket/key`, for logs.
    pub(super) fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// Identity of one version of an object: bucket, key and ETag (quotes ignored).
pub(super) fn object_identity(bucket: &str, key: &str, etag: &str) -> u64 {
    let hash = crate::dedupe::hash_bytes(hash_str(bucket), b"\0");
    let hash = crate::dedupe::hash_bytes(hash, key.as_bytes());
    let hash = crate::dedupe::hash_bytes(hash, b"\0");
    crate::dedupe::hash_bytes(hash, etag.trim_matches('"').as_bytes())
}

/// How reading an object ended (its events' acknowledgement comes separately).
#[derive(Debug, Default)]
pub(super) struct ReadOutcome {
    /// The ETag of what was downloaded.
    pub etag: Option<String>,
    /// Events decoded.
    pub events: u64,
    /// Records that were not events.
    pub invalid: u64,
    /// The file ended early (corrupt, truncated, too large): logged, and it counts as read.
    pub failure: Option<String>,
    /// The object could not be downloaded: nothing was sent, it must be tried again (unless
    /// `gone`).
    pub fetch_error: Option<String>,
    /// The object no longer exists (`NoSuchKey`): nothing to read, ever.
    pub gone: bool,
    /// Skipped: this version was already delivered (see [`Reader::start`]'s `done`).
    pub already_done: bool,
    /// Reading stopped before the end (shutdown): the object was not read completely.
    pub interrupted: bool,
}

/// An object being downloaded (and its decompression started) by a task of its own; its
/// records are decoded as [`Reader::forward_object`] sends them on.
pub(super) struct ObjectRead {
    /// The object.
    pub object: ObjectRef,
    /// The download task.
    task: JoinHandle<Fetched>,
    /// Gives each event its finalizer (dropped once every event is made).
    notifier: Option<BatchNotifier>,
    /// Resolves once every event of the object is acknowledged (taken when the object is
    /// forwarded).
    pub receiver: Option<BatchStatusReceiver>,
}

/// A downloaded object, ready for its records to be decoded.
struct Fetched {
    outcome: ReadOutcome,
    /// `None` when there is nothing to decode (see the outcome).
    reader: Option<ObjectReader>,
}

impl Fetched {
    fn nothing(outcome: ReadOutcome) -> Self {
        Self {
            outcome,
            reader: None,
        }
    }
}

/// Downloads and decodes objects.
pub(super) struct Reader {
    s3: aws_sdk_s3::Client,
    settings: Arc<Settings>,
    source_id: &'static str,
    metrics: Arc<ComponentMetrics>,
    shutdown: CancellationToken,
    dedupe: Option<Mutex<UidDedupe>>,
}

impl Reader {
    /// A reader for the source `source_id`.
    pub(super) fn new(
        s3: aws_sdk_s3::Client,
        settings: Arc<Settings>,
        source_id: &'static str,
        metrics: Arc<ComponentMetrics>,
        shutdown: CancellationToken,
    ) -> Self {
        let dedupe = settings
            .dedupe_capacity
            .map(|capacity| Mutex::new(UidDedupe::new(RecentSet::new(capacity))));
        Self {
            s3,
            settings,
            source_id,
            metrics,
            shutdown,
            dedupe,
        }
    }

    /// The most bytes of one object worth downloading: compressed data never expands by more
    /// than a fraction of a percent, so anything beyond this decompresses past
    /// `max_decompressed_bytes`.
    pub(super) fn max_download_bytes(&self) -> u64 {
        let limit = self.settings.max_decompressed_bytes;
        limit.saturating_add(limit / 100).saturating_add(64 * 1024)
    }

    pub(super) fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(super) fn metrics(&self) -> &Arc<ComponentMetrics> {
        &self.metrics
    }

    pub(super) fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    pub(super) fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// Starts downloading `object` on a task of its own; its events share one
    /// acknowledgement ([`ObjectRead::receiver`]). When `done` is given and the downloaded
    /// version's identity is in it, the object is skipped (`already_done`).
    pub(super) fn start(
        self: &Arc<Self>,
        object: ObjectRef,
        done: Option<Arc<Mutex<RecentSet>>>,
    ) -> ObjectRead {
        let (notifier, receiver) = BatchNotifier::new();
        let reader = Arc::clone(self);
        let task = tokio::spawn(reader.fetch(object.clone(), done).in_current_span());
        ObjectRead {
            object,
            task,
            notifier: Some(notifier),
            receiver: Some(receiver),
        }
    }

    /// Downloads `object` and starts decompressing it.
    async fn fetch(
        self: Arc<Self>,
        object: ObjectRef,
        done: Option<Arc<Mutex<RecentSet>>>,
    ) -> Fetched {
        let mut outcome = ReadOutcome::default();
        let (body, etag) = match self.download(&object).await {
            Ok(downloaded) => downloaded,
            Err(Fetch::Shutdown) => {
                outcome.interrupted = true;
                return Fetched::nothing(outcome);
            }
            Err(Fetch::Gone(message)) => {
                outcome.gone = true;
                outcome.fetch_error = Some(message);
                return Fetched::nothing(outcome);
            }
            Err(Fetch::Failed(message)) => {
                outcome.fetch_error = Some(message);
                return Fetched::nothing(outcome);
            }
        };
        if let (Some(done), Some(etag)) = (&done, &etag)
            && done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(object_identity(&object.bucket, &object.key, etag))
        {
            outcome.already_done = true;
            outcome.etag = Some(etag.clone());
            return Fetched::nothing(outcome);
        }
        outcome.etag = etag;
        self.metrics.add("bytes_read_total", body.len() as u64);
        // Up to the first significant byte, decompression has no bound but the size limit
        // (leading whitespace): a blocking thread's work. Records are then decoded by the task
        // that sends them on, a bounded batch at a time, so that the transforms and sink it
        // wakes read the events on the core that built them (see
        // `sources::stdin::read_lines`).
        let limit = self.settings.max_decompressed_bytes;
        let prepared = tokio::task::spawn_blocking(move || {
            let mut reader = ObjectReader::new(body, limit).with_max_record_bytes(MAX_RECORD_BYTES);
            reader.prepare();
            reader
        })
        .await;
        match prepared {
            Ok(reader) => Fetched {
                outcome,
                reader: Some(reader),
            },
            Err(error) => Fetched::nothing(ReadOutcome {
                fetch_error: Some(format!("decompressing failed: {error}")),
                ..outcome
            }),
        }
    }

    /// Decodes the records of `reader` and forwards them (see [`Reader::forward`]); stops
    /// early at shutdown (`interrupted`).
    async fn decode(
        &self,
        object: &ObjectRef,
        mut reader: ObjectReader,
        notifier: &BatchNotifier,
        out: &mut Fanout,
        held: &mut Vec<u64>,
        outcome: &mut ReadOutcome,
    ) -> Result<(), ClosedError> {
        let shared = Arc::new(ObjectMap::from([
            ("bucket".into(), Value::from(object.bucket.as_str())),
            ("key".into(), Value::from(object.key.as_str())),
        ]));
        let mut records = Records::default();
        loop {
            if self.shutdown.is_cancelled() {
                outcome.interrupted = true;
                break;
            }
            // Batches of blank or invalid lines send nothing: let other tasks run between them.
            tokio::task::consume_budget().await;
            let result = reader.next_batch(MAX_BATCH_EVENTS, &mut records);
            for invalid in records.invalid.drain(..) {
                outcome.invalid += 1;
                if outcome.invalid <= INVALID_RECORDS_LOGGED {
                    tracing::warn!(bucket = %object.bucket, key = %object.key, line = invalid.line, element = invalid.index, reason = %invalid.reason, "record skipped");
                }
            }
            if !records.events.is_empty() {
                let batch: Batch = records
                    .events
                    .drain(..)
                    .map(|(value, line)| {
                        let mut event =
                            Event::from_source(value, self.source_id, Some(notifier.finalizer()));
                        event.metadata.set_origin(Origin {
                            shared: Arc::clone(&shared),
                            line,
                        });
                        event
                    })
                    .collect();
                outcome.events += batch.len() as u64;
                self.forward(batch, out, held).await?;
            }
            match result {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => {
                    self.report_failure(object, &reader, &error, outcome);
                    break;
                }
            }
        }
        let too_long = reader.records_too_long();
        if too_long > 0 {
            outcome.invalid += too_long;
            tracing::warn!(bucket = %object.bucket, key = %object.key, records = too_long, max_bytes = MAX_RECORD_BYTES, "records longer than the limit skipped");
        }
        if outcome.invalid > 0 {
            self.metrics.add("invalid_records_total", outcome.invalid);
            if outcome.invalid > INVALID_RECORDS_LOGGED {
                tracing::warn!(bucket = %object.bucket, key = %object.key, invalid = outcome.invalid, "records skipped in this file (only the first {INVALID_RECORDS_LOGGED} were logged)");
            }
        }
        Ok(())
    }

    fn report_failure(
        &self,
        object: &ObjectRef,
        reader: &ObjectReader,
        error: &ReadError,
        outcome: &mut ReadOutcome,
    ) {
        let reason = match error {
            ReadError::Corrupt { .. } => "corrupt",
            ReadError::TooLarge { .. } => "too_large",
            ReadError::InvalidArray { .. } => "invalid_array",
        };
        (self.metrics).add_labelled("files_failed_total", &[("reason", reason)], 1);
        self.metrics.error(ErrorType::Reader);
        tracing::error!(bucket = %object.bucket, key = %object.key, line = reader.line(), compression = reader.compression().name(), records_read = outcome.events, %error, "file ended early; the records before the problem were sent");
        outcome.failure = Some(error.to_string());
    }

    /// The object's bytes and ETag, retrying transient errors until shutdown. An object larger
    /// than [`Reader::max_download_bytes`] is fetched only up to that size (it cannot
    /// decompress to less than the limit; the decoder reports it as too large or truncated).
    async fn download(&self, object: &ObjectRef) -> Result<(Bytes, Option<String>), Fetch> {
        let mut retries = Retries::new(self.settings.backoff(), None);
        let on_retry = |(_, message, _): &DownloadError, _: u64, delay: Duration| {
            self.metrics.error(ErrorType::Request);
            tracing::warn!(object = %object.url(), %message, retry_in_ms = delay.as_millis() as u64, "download failed; retrying");
        };
        let download = retry(
            &download_policy,
            &mut retries,
            || self.download_once(object),
            on_retry,
        );
        let result = tokio::select! {
            result = download => result,
            () = self.shutdown.cancelled() => return Err(Fetch::Shutdown),
        };
        match result {
            Ok(downloaded) => Ok(downloaded),
            Err((_, message, true)) => {
                tracing::warn!(object = %object.url(), %message, "the object no longer exists; skipped");
                Err(Fetch::Gone(message))
            }
            Err((_, message, false)) => {
                self.metrics.error(ErrorType::Request);
                tracing::error!(object = %object.url(), %message, "cannot read the object; it will be tried again later");
                Err(Fetch::Failed(message))
            }
        }
    }

    /// One attempt at [`download`](Self::download).
    async fn download_once(
        &self,
        object: &ObjectRef,
    ) -> Result<(Bytes, Option<String>), DownloadError> {
        let cap = self.max_download_bytes();
        let classify_get = |error: &aws_sdk_s3::error::SdkError<
            aws_sdk_s3::operation::get_object::GetObjectError,
            aws_sdk_s3::config::http::HttpResponse,
        >| {
            let gone = error
                .as_service_error()
                .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key);
            let (kind, message) = classify(error);
            (kind, message, gone)
        };
        let get = || self.s3.get_object().bucket(&object.bucket).key(&object.key);
        let mut response = get().send().await.map_err(|e| classify_get(&e))?;
        if response
            .content_length()
            .is_some_and(|length| length as u64 > cap)
        {
            tracing::warn!(object = %object.url(), bytes = response.content_length(), max_bytes = cap, "the object is larger than max_decompressed_bytes allows; reading only its start");
            drop(response);
            response = get()
                .range(format!("bytes=0-{}", cap - 1))
                .send()
                .await
                .map_err(|e| classify_get(&e))?;
        }
        let etag = response.e_tag().map(str::to_owned);
        let length = response.content_length();
        let body = read_body(response.body, length, cap)
            .await
            .map_err(|error| {
                (
                    ErrorKind::Transient,
                    crate::secrets::redact(&format!("reading the body failed: {error}")),
                    false,
                )
            })?;
        Ok((body, etag))
    }

    /// Sends one batch on, after the uid dedupe: events already delivered are finalized as
    /// delivered and dropped, the uids of the others are held in `held` until the object's
    /// fate is known (then [`Reader::settle_uids`]).
    pub(super) async fn forward(
        &self,
        mut batch: Batch,
        out: &mut Fanout,
        held: &mut Vec<u64>,
    ) -> Result<(), ClosedError> {
        self.metrics.received_events(&mut batch);
        if let Some(dedupe) = &self.dedupe {
            let mut dedupe = dedupe.lock().unwrap_or_else(|e| e.into_inner());
            let before = batch.len();
            batch.retain_mut(|event| {
                let Some(uid) = event_uid(&event.value) else {
                    return true;
                };
                let hash = hash_str(uid);
                if dedupe.hold(hash) {
                    held.push(hash);
                    true
                } else {
                    event.finalize(BatchStatus::Delivered);
                    false
                }
            });
            let dropped = before - batch.len();
            if dropped > 0 {
                self.metrics
                    .add("deduplicated_events_total", dropped as u64);
            }
        }
        out.send(batch).await
    }

    /// Settles the uids held for an object: remembered when its events were delivered (or
    /// rejected for good), released when it will be read again.
    pub(super) fn settle_uids(&self, held: &[u64], delivered: bool) {
        if let Some(dedupe) = &self.dedupe {
            let mut dedupe = dedupe.lock().unwrap_or_else(|e| e.into_inner());
            for hash in held {
                dedupe.settle(*hash, delivered);
            }
        }
    }

    /// The remembered uids, for the state file (`None` without `dedupe`).
    pub(super) fn dedupe_state(&self) -> Option<Vec<u8>> {
        self.dedupe.as_ref().map(|dedupe| {
            dedupe
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .delivered
                .to_bytes()
        })
    }

    /// Restores the remembered uids from `state_dir`'s `dedupe.bin` and starts the writer that
    /// keeps it; `None` without `dedupe`.
    pub(super) fn open_dedupe_state(
        &self,
        state_dir: &Path,
    ) -> std::io::Result<Option<StateWriter>> {
        if self.dedupe.is_none() {
            return Ok(None);
        }
        let (content, writer) = StateWriter::open(
            state_dir.join("dedupe.bin"),
            "dedupe state",
            Arc::clone(&self.metrics),
            Duration::from_secs(1),
            self.settings.backoff(),
        )?;
        if let Some(bytes) = content {
            self.restore_dedupe(&bytes);
        }
        Ok(Some(writer))
    }

    /// Restores the remembered uids from the state file's bytes.
    pub(super) fn restore_dedupe(&self, bytes: &[u8]) {
        if let (Some(dedupe), Some(capacity)) = (&self.dedupe, self.settings.dedupe_capacity) {
            dedupe.lock().unwrap_or_else(|e| e.into_inner()).delivered =
                RecentSet::from_bytes(bytes, capacity);
        }
    }

    /// Waits for `read`'s download, then decodes its records and forwards them; ends early
    /// at shutdown. Returns the read outcome (`interrupted` if not every event was
    /// forwarded).
    pub(super) async fn forward_object(
        &self,
        read: &mut ObjectRead,
        out: &mut Fanout,
        held: &mut Vec<u64>,
    ) -> Result<ReadOutcome, ClosedError> {
        // Dropped on every way out, once every event has its finalizer: the object's
        // acknowledgement resolves only then.
        let notifier = read.notifier.take();
        let fetched = tokio::select! {
            fetched = &mut read.task => fetched,
            () = self.shutdown.cancelled() => {
                read.task.abort();
                return Ok(ReadOutcome {
                    interrupted: true,
                    ..ReadOutcome::default()
                });
            }
        };
        let (mut outcome, reader) = match fetched {
            Ok(Fetched { outcome, reader }) => (outcome, reader),
            Err(error) => (
                ReadOutcome {
                    fetch_error: Some(format!("the reading task failed: {error}")),
                    ..ReadOutcome::default()
                },
                None,
            ),
        };
        if let (Some(reader), Some(notifier)) = (reader, &notifier) {
            self.decode(&read.object, reader, notifier, out, held, &mut outcome)
                .await?;
        }
        Ok(outcome)
    }
}

/// An object's body in one buffer, reserved from its Content-Length (at most `cap`) and
/// filled as the chunks arrive. `ByteStream::collect` keeps every chunk and joins them only
/// at the end, holding an uncompressed object twice at its peak.
async fn read_body(
    mut body: ByteStream,
    length: Option<i64>,
    cap: u64,
) -> Result<Bytes, ByteStreamError> {
    let expected = length.and_then(|l| u64::try_from(l).ok()).unwrap_or(0);
    let mut data = Vec::with_capacity(usize::try_from(expected.min(cap)).unwrap_or(0));
    while let Some(chunk) = body.try_next().await? {
        data.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(data))
}

/// A failed download attempt: its kind, message, and whether the object is gone.
type DownloadError = (ErrorKind, String, bool);

/// Downloads retry what is transient; a missing object or a permanent error stops.
fn download_policy((kind, _, gone): &DownloadError) -> Verdict {
    if *gone { Verdict::Stop } else { kind.verdict() }
}

enum Fetch {
    Shutdown,
    Gone(String),
    Failed(String),
}

/// Uids delivered recently, and uids of events in flight (an event whose uid is either is a
/// duplicate).
pub(super) struct UidDedupe {
    delivered: RecentSet,
    in_flight: HashSetU64,
}

impl UidDedupe {
    fn new(delivered: RecentSet) -> Self {
        Self {
            delivered,
            in_flight: HashSetU64::default(),
        }
    }

    /// Whether an event with this uid hash should be sent (and then holds it).
    fn hold(&mut self, hash: u64) -> bool {
        !self.delivered.contains(hash) && self.in_flight.insert(hash)
    }

    fn settle(&mut self, hash: u64, delivered: bool) {
        self.in_flight.remove(&hash);
        if delivered {
            self.delivered.insert(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use tokio::sync::mpsc;

    use super::*;
    use crate::test_s3::{FaultRule, S3Server, client_without_retries};

    const BUCKET: &str = "exports";

    /// A server holding `objects` (key, body) and a reader of its bucket.
    async fn reader(extra: &str, objects: &[(&str, Vec<u8>)]) -> (S3Server, Arc<Reader>) {
        let server = S3Server::start().await;
        server.create_bucket(BUCKET).await;
        for (key, body) in objects {
            server
                .client()
                .put_object()
                .bucket(BUCKET)
                .key(*key)
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .expect("object stored");
        }
        let config = format!(
            "bucket = \"{BUCKET}\"\nretry_initial_backoff_secs = 0.001\nretry_max_backoff_secs = 0.005\n{extra}"
        );
        let settings = toml::from_str::<super::super::ConductoroneS3Config>(&config)
            .expect("parses")
            .settings()
            .expect("valid");
        let reader = Reader::new(
            client_without_retries(&server),
            Arc::new(settings),
            "c1_s3",
            Arc::new(ComponentMetrics::default()),
            CancellationToken::new(),
        );
        (server, Arc::new(reader))
    }

    fn object(key: &str) -> ObjectRef {
        ObjectRef {
            bucket: BUCKET.into(),
            key: key.into(),
            etag: None,
            size: 0,
            last_modified_ms: 0,
        }
    }

    fn gzip(text: &str) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    /// Reads `key` to the end; the events sent, the held uids and the outcome.
    async fn read(reader: &Arc<Reader>, key: &str) -> (Vec<Event>, Vec<u64>, ReadOutcome) {
        let (sender, mut receiver) = mpsc::channel(16);
        let mut out = Fanout::new(vec![(Arc::from("sink"), sender)], None);
        let mut read = reader.start(object(key), None);
        let mut held = Vec::new();
        let outcome = reader
            .forward_object(&mut read, &mut out, &mut held)
            .await
            .expect("the consumer is there");
        drop(out);
        let mut events = Vec::new();
        while let Some(batch) = receiver.recv().await {
            events.extend(batch);
        }
        (events, held, outcome)
    }

    const LINES: &str = "{\"metadata\":{\"uid\":\"a\"},\"n\":1}\nnot json\n{\"metadata\":{\"uid\":\"b\"},\"n\":2}\n";

    #[tokio::test]
    async fn a_gzip_file_is_read_and_a_bad_line_counted() {
        let (_server, reader) = reader("", &[("x.json.gz", gzip(LINES))]).await;
        let (events, _, outcome) = read(&reader, "x.json.gz").await;
        let uids: Vec<_> = events.iter().filter_map(|e| event_uid(&e.value)).collect();
        assert_eq!(uids, ["a", "b"]);
        assert_eq!((outcome.events, outcome.invalid), (2, 1));
        assert!(outcome.etag.is_some());
        assert!(outcome.failure.is_none() && outcome.fetch_error.is_none());
    }

    #[tokio::test]
    async fn a_download_is_retried_through_transient_errors() {
        let (server, reader) = reader("", &[("x.json", LINES.as_bytes().to_vec())]).await;
        server.faults.add(FaultRule {
            method: "GET",
            query: None,
            remaining: 2,
            status: 503,
            code: "SlowDown",
        });
        let (events, _, outcome) = read(&reader, "x.json").await;
        assert_eq!(events.len(), 2);
        assert_eq!(server.faults.count("GET", "/exports/x.json"), 3);
        assert_eq!(reader.metrics().errors_total(), 2);
        assert!(outcome.fetch_error.is_none());
    }

    #[tokio::test]
    async fn a_missing_object_is_gone_and_a_forbidden_one_failed_without_retries() {
        let (server, reader) = reader("", &[("x.json", LINES.as_bytes().to_vec())]).await;
        let (events, _, outcome) = read(&reader, "missing.json").await;
        assert!(events.is_empty());
        assert!(outcome.gone, "{outcome:?}");
        server.faults.add(FaultRule {
            method: "GET",
            query: None,
            remaining: 1,
            status: 403,
            code: "AccessDenied",
        });
        let (events, _, outcome) = read(&reader, "x.json").await;
        assert!(events.is_empty());
        assert!(!outcome.gone);
        assert!(
            outcome
                .fetch_error
                .as_deref()
                .unwrap()
                .contains("AccessDenied")
        );
        assert_eq!(server.faults.count("GET", "/exports/x.json"), 1);
    }

    #[tokio::test]
    async fn dedupe_drops_delivered_uids_and_releases_failed_ones() {
        let (_server, reader) =
            reader("dedupe = true", &[("x.json", LINES.as_bytes().to_vec())]).await;
        let (events, held, _) = read(&reader, "x.json").await;
        assert_eq!((events.len(), held.len()), (2, 2));
        // Not delivered: read again, every event is sent again.
        reader.settle_uids(&held, false);
        let (events, held, _) = read(&reader, "x.json").await;
        assert_eq!(events.len(), 2);
        reader.settle_uids(&held, true);
        let (events, held, outcome) = read(&reader, "x.json").await;
        assert!(
            events.is_empty() && held.is_empty(),
            "delivered uids are dropped"
        );
        assert_eq!(outcome.events, 2, "decoded, then deduplicated");
        assert_eq!(reader.metrics().get("deduplicated_events_total"), 2);
        let state = reader.dedupe_state().expect("dedupe on");
        let (_server, restored) = reader_restored(&state).await;
        let (events, _, _) = read(&restored, "x.json").await;
        assert!(
            events.is_empty(),
            "the state file restores what was delivered"
        );
    }

    async fn reader_restored(state: &[u8]) -> (S3Server, Arc<Reader>) {
        let (server, reader) =
            reader("dedupe = true", &[("x.json", LINES.as_bytes().to_vec())]).await;
        reader.restore_dedupe(state);
        (server, reader)
    }

    #[tokio::test]
    async fn an_object_already_done_is_skipped_by_its_identity() {
        let (_server, reader) = reader("", &[("x.json", LINES.as_bytes().to_vec())]).await;
        let (_, _, first) = read(&reader, "x.json").await;
        let etag = first.etag.expect("an etag");
        let mut done = RecentSet::new(16);
        done.insert(object_identity(BUCKET, "x.json", &etag));
        let done = Arc::new(Mutex::new(done));
        let (sender, _receiver) = mpsc::channel(16);
        let mut out = Fanout::new(vec![(Arc::from("sink"), sender)], None);
        let mut read = reader.start(object("x.json"), Some(done));
        let outcome = reader
            .forward_object(&mut read, &mut out, &mut Vec::new())
            .await
            .unwrap();
        assert!(outcome.already_done);
        assert_eq!(outcome.events, 0);
    }
}
