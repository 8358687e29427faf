//! `strategy = "list"`: backfill the bucket, then follow it by listing again.
//!
//! Each cycle lists every object under `prefix` (after `start_after`, modified at or after
//! `since`), keeps those not delivered yet and reads them oldest first (Last-Modified, then
//! key), `max_concurrent_objects` downloaded and decoded ahead of the one being sent.
//!
//! **The checkpoint** (`data_dir/<id>/objects.json`) records which objects are delivered,
//! without growing with the bucket: a `floor` time before which every object is delivered,
//! and the delivered objects (key and ETag) modified since `floor` minus [`RETAIN_MS`].
//! `floor` is the Last-Modified of the oldest listed object not yet delivered, so an object
//! that keeps failing holds it back, and an object listed late (a multipart upload that
//! took long, clock skew) is still read if its Last-Modified is within [`RETAIN_MS`] of it.
//! An object whose ETag changed (overwritten) is read again. The file is written after every
//! acknowledged object, off the source's task.
//!
//! Object fates: `Delivered` (and `Rejected`: a sink refused the events for good, logged and
//! counted; reading again cannot help) mark the object done. `Errored`, a download that failed
//! for good (access denied) or shutdown in the middle of an object leave it to be read again:
//! at once on the next cycle after a backoff for errors, on the next start otherwise.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

use super::read::{ObjectRead, ObjectRef, ReadOutcome, Reader};
use crate::ack::BatchStatus;
use crate::aws::classify;
use crate::component::{ComponentError, SourceContext};
use crate::metrics::ComponentMetrics;
use crate::state::{StateWriter, read_optional};
use crate::topology::fanout::Fanout;

/// How far behind `floor` delivered objects are remembered by key: 24 hours.
pub(super) const RETAIN_MS: i64 = 24 * 60 * 60 * 1000;

/// The shortest time between two checkpoint writes (updates in between are coalesced).
const CHECKPOINT_MIN_INTERVAL: Duration = Duration::from_millis(5);

/// Time between progress lines on an interactive terminal.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);

/// One delivered object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Delivered {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    last_modified_ms: i64,
}

/// The delivered objects (`objects.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    bucket: String,
    prefix: String,
    /// Every object modified before this time (epoch ms) is delivered (or before `since`).
    #[serde(default)]
    floor_ms: Option<i64>,
    /// Delivered objects modified since `floor_ms - RETAIN_MS`, by key.
    #[serde(default)]
    delivered: BTreeMap<String, Delivered>,
}

fn same_etag(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.trim_matches('"') == b.trim_matches('"'),
        // Without an ETag on one side (multipart objects on some servers), the key decides.
        _ => true,
    }
}

impl Checkpoint {
    fn is_delivered(&self, object: &ObjectRef) -> bool {
        if let Some(done) = self.delivered.get(&object.key) {
            return same_etag(done.etag.as_deref(), object.etag.as_deref());
        }
        self.floor_ms
            .is_some_and(|floor| object.last_modified_ms < floor.saturating_sub(RETAIN_MS))
    }

    fn mark_delivered(&mut self, object: &ObjectRef, etag: Option<String>) {
        self.delivered.insert(
            object.key.clone(),
            Delivered {
                etag: etag.or_else(|| object.etag.clone()),
                last_modified_ms: object.last_modified_ms,
            },
        );
    }

    /// Moves `floor` to `floor` (never back) and forgets what it makes redundant.
    fn raise_floor(&mut self, floor: i64) {
        let floor = self.floor_ms.map_or(floor, |old| old.max(floor));
        self.floor_ms = Some(floor);
        self.delivered
            .retain(|_, done| done.last_modified_ms >= floor.saturating_sub(RETAIN_MS));
    }
}

/// An object's events, sent and awaiting acknowledgement.
struct Sent {
    object: ObjectRef,
    outcome: ReadOutcome,
    held_uids: Vec<u64>,
    status: BatchStatus,
}

/// The listed objects of the current cycle, for `floor` and progress.
#[derive(Default)]
struct Cycle {
    /// Listed and not yet delivered, by (Last-Modified, key).
    outstanding: BTreeSet<(i64, String)>,
    /// The newest Last-Modified listed.
    newest_ms: Option<i64>,
    objects_known: u64,
    bytes_known: u64,
    objects_done: u64,
    bytes_done: u64,
}

impl Cycle {
    /// The floor this cycle proves: every listed object before it is delivered.
    fn floor(&self) -> Option<i64> {
        match self.outstanding.first() {
            Some((oldest, _)) => Some(*oldest),
            None => self.newest_ms.map(|newest| newest.saturating_add(1)),
        }
    }
}

pub(super) async fn run(
    reader: Arc<Reader>,
    state_dir: PathBuf,
    cx: SourceContext,
) -> Result<(), ComponentError> {
    let SourceContext {
        id, out, metrics, ..
    } = cx;
    let ledger = open_ledger(&reader, &id, &state_dir, &metrics)?;
    let mut lister = Lister {
        reader: &reader,
        bucket: reader
            .settings()
            .bucket
            .clone()
            .expect("list mode has a bucket"),
        out,
        metrics,
        shutdown: reader.shutdown().clone(),
        ledger,
        unacknowledged: FuturesUnordered::new(),
        interactive: std::io::stderr().is_terminal(),
        caught_up_logged: false,
    };
    lister.follow().await;
    lister.finish().await;
    Ok(())
}

/// The object checkpoint and the dedupe state, loaded, with their writers started.
fn open_ledger<'a>(
    reader: &'a Reader,
    id: &str,
    state_dir: &std::path::Path,
    metrics: &Arc<ComponentMetrics>,
) -> Result<Ledger<'a>, ComponentError> {
    let settings = reader.settings();
    let bucket = settings.bucket.clone().expect("list mode has a bucket");
    let path = state_dir.join("objects.json");
    let mut checkpoint = load(&path, &bucket, &settings.prefix)?;
    if checkpoint.floor_ms.is_none() {
        checkpoint.floor_ms = settings
            .since_ms
            .map(|since| since.saturating_add(RETAIN_MS));
    }
    let dedupe_writer = reader
        .open_dedupe_state(state_dir)
        .map_err(|e| ComponentError(format!("{id}: {e}")))?;
    let writer = StateWriter::spawn(
        path,
        "object checkpoint",
        Arc::clone(metrics),
        CHECKPOINT_MIN_INTERVAL,
        settings.backoff(),
    );
    Ok(Ledger {
        reader,
        checkpoint,
        in_flight_keys: HashMap::new(),
        retry_soon: false,
        writer,
        dedupe_writer,
    })
}

/// An object's acknowledgement, awaited.
type AwaitedAck = futures::future::BoxFuture<'static, Sent>;

/// The list loop: lists, reads what is new, follows.
struct Lister<'a> {
    reader: &'a Arc<Reader>,
    bucket: String,
    out: Fanout,
    metrics: Arc<ComponentMetrics>,
    shutdown: tokio_util::sync::CancellationToken,
    ledger: Ledger<'a>,
    /// Objects sent, awaiting their acknowledgement.
    unacknowledged: FuturesUnordered<AwaitedAck>,
    /// Whether stderr is a terminal (then progress lines are logged during a backfill).
    interactive: bool,
    caught_up_logged: bool,
}

/// What to do after one step of the list loop.
enum Flow {
    Continue,
    Stop,
}

impl Lister<'_> {
    /// Lists, reads and follows until shutdown (or until every consumer stopped).
    async fn follow(&mut self) {
        let settings = self.reader.settings();
        let mut backoff = settings.backoff();
        // Delays re-reading objects that failed; not reset by a successful listing, so a sink
        // that keeps failing is not sent the same objects in a tight loop.
        let mut retry_backoff = settings.backoff();
        while !self.shutdown.is_cancelled() {
            let listed = tokio::select! {
                listed = list_all(self.reader, &self.bucket) => listed,
                () = self.shutdown.cancelled() => break,
            };
            let listed = match listed {
                Ok(listed) => {
                    backoff.reset();
                    listed
                }
                Err(message) => {
                    self.metrics.error(crate::metrics::ErrorType::Request);
                    let delay = backoff.next_delay();
                    tracing::error!(bucket = %self.bucket, prefix = %settings.prefix, %message, retry_in_ms = delay.as_millis() as u64, "listing failed");
                    if !self.pause(delay).await {
                        break;
                    }
                    continue;
                }
            };
            let (mut cycle, pending) = self.plan(listed);
            if let Flow::Stop = self.read_pending(&mut cycle, pending).await {
                break;
            }
            self.caught_up(cycle);
            let delay = if self.ledger.retry_soon {
                retry_backoff.next_delay()
            } else {
                retry_backoff.reset();
                settings.poll_interval
            };
            if !self.pause(delay).await {
                break;
            }
        }
    }

    /// This cycle's view of a listing, and the objects to read, oldest first.
    fn plan(&mut self, listed: Vec<ObjectRef>) -> (Cycle, VecDeque<ObjectRef>) {
        let settings = self.reader.settings();
        let mut cycle = Cycle::default();
        let mut pending: VecDeque<ObjectRef> = VecDeque::new();
        for object in listed {
            if settings
                .since_ms
                .is_some_and(|since| object.last_modified_ms < since)
            {
                continue;
            }
            cycle.objects_known += 1;
            cycle.bytes_known += object.size;
            cycle.newest_ms = Some(
                cycle
                    .newest_ms
                    .map_or(object.last_modified_ms, |n| n.max(object.last_modified_ms)),
            );
            if self.ledger.checkpoint.is_delivered(&object) {
                cycle.objects_done += 1;
                cycle.bytes_done += object.size;
                continue;
            }
            cycle
                .outstanding
                .insert((object.last_modified_ms, object.key.clone()));
            if !self.ledger.in_flight_keys.contains_key(&object.key) {
                pending.push_back(object);
            }
        }
        pending
            .make_contiguous()
            .sort_by(|a, b| (a.last_modified_ms, &a.key).cmp(&(b.last_modified_ms, &b.key)));
        if let Some(floor) = cycle.floor() {
            self.ledger.checkpoint.raise_floor(floor);
        }
        report_progress(&self.metrics, &cycle);
        if !pending.is_empty() {
            self.caught_up_logged = false;
            tracing::info!(bucket = %self.bucket, prefix = %settings.prefix, new_objects = pending.len(), known_objects = cycle.objects_known, "reading new objects");
        }
        self.ledger.retry_soon = false;
        (cycle, pending)
    }

    /// Reads `pending` objects a few at a time, within the unacknowledged bound.
    async fn read_pending(&mut self, cycle: &mut Cycle, mut pending: VecDeque<ObjectRef>) -> Flow {
        let settings = self.reader.settings();
        let mut reads: VecDeque<ObjectRead> = VecDeque::new();
        let mut last_progress = Instant::now();
        loop {
            // Start reads ahead, within the unacknowledged bound.
            while reads.len() < settings.max_concurrent_objects
                && reads.len() + self.unacknowledged.len() < settings.max_unacknowledged_objects
                && let Some(object) = pending.pop_front()
            {
                *self
                    .ledger
                    .in_flight_keys
                    .entry(object.key.clone())
                    .or_default() += 1;
                reads.push_back(self.reader.start(object, None));
            }
            let Some(read) = reads.pop_front() else {
                if self.unacknowledged.is_empty() || pending.is_empty() {
                    return Flow::Continue;
                }
                // The unacknowledged bound is reached: wait for one object.
                let next = tokio::select! {
                    next = self.unacknowledged.next() => next,
                    () = self.shutdown.cancelled() => return Flow::Stop,
                };
                if let Some(sent) = next {
                    self.ledger.settle(Some(cycle), sent);
                }
                continue;
            };
            if let Flow::Stop = self.forward(read, cycle).await {
                return Flow::Stop;
            }
            if self.interactive && last_progress.elapsed() >= PROGRESS_INTERVAL {
                last_progress = Instant::now();
                log_progress(cycle);
            }
        }
    }

    /// Sends one object's events on (settling acknowledged objects meanwhile), then awaits
    /// its acknowledgement among the others.
    async fn forward(&mut self, mut read: ObjectRead, cycle: &mut Cycle) -> Flow {
        let receiver = read.receiver.take().expect("every read has its receiver");
        let mut held = Vec::new();
        let forwarded = {
            let forward = self
                .reader
                .forward_object(&mut read, &mut self.out, &mut held);
            tokio::pin!(forward);
            loop {
                tokio::select! {
                    biased;
                    Some(sent) = self.unacknowledged.next(), if !self.unacknowledged.is_empty() => {
                        self.ledger.settle(Some(&mut *cycle), sent);
                    }
                    forwarded = &mut forward => break forwarded,
                }
            }
        };
        let Ok(outcome) = forwarded else {
            self.reader.settle_uids(&held, false);
            tracing::error!("every consumer of the source stopped");
            return Flow::Stop;
        };
        let object = read.object.clone();
        self.unacknowledged.push(Box::pin(async move {
            let status = receiver.await;
            Sent {
                object,
                outcome,
                held_uids: held,
                status,
            }
        }));
        if self.shutdown.is_cancelled() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// Caught up with a listing: settles what is acknowledged and writes the state down.
    fn caught_up(&mut self, mut cycle: Cycle) {
        while let Some(sent) = next_ready(&mut self.unacknowledged) {
            self.ledger.settle(Some(&mut cycle), sent);
        }
        self.ledger.write();
        report_progress(&self.metrics, &cycle);
        if !self.caught_up_logged && self.unacknowledged.is_empty() && !self.ledger.retry_soon {
            self.caught_up_logged = true;
            tracing::info!(
                objects = cycle.objects_done,
                bytes = cycle.bytes_done,
                "caught up; following new objects"
            );
        }
    }

    /// Waits `delay`, settling acknowledged objects meanwhile; false if shut down.
    async fn pause(&mut self, delay: Duration) -> bool {
        let ledger = &mut self.ledger;
        wait(
            &self.shutdown,
            delay,
            &mut self.unacknowledged,
            &mut |sent| {
                ledger.settle(None, sent);
            },
        )
        .await
    }

    /// Releases the output (sinks that flush when their input closes then acknowledge),
    /// settles every object still awaited and writes the final state.
    async fn finish(self) {
        let Lister {
            out,
            mut unacknowledged,
            mut ledger,
            ..
        } = self;
        drop(out);
        while let Some(sent) = unacknowledged.next().await {
            ledger.settle(None, sent);
        }
        ledger.finish().await;
    }
}

/// An acknowledged object if one is ready, without waiting.
fn next_ready<F: std::future::Future<Output = Sent>>(
    unacknowledged: &mut FuturesUnordered<F>,
) -> Option<Sent> {
    use futures::FutureExt;
    unacknowledged.next().now_or_never().flatten()
}

/// Waits `delay` (false if shut down meanwhile), settling acknowledged objects meanwhile (one
/// that must be read again is, at the next listing).
async fn wait<F: std::future::Future<Output = Sent>>(
    shutdown: &tokio_util::sync::CancellationToken,
    delay: Duration,
    unacknowledged: &mut FuturesUnordered<F>,
    settle: &mut impl FnMut(Sent),
) -> bool {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return true,
            () = shutdown.cancelled() => return false,
            Some(sent) = unacknowledged.next(), if !unacknowledged.is_empty() => settle(sent),
        }
    }
}

/// What the list loop knows about delivered objects, and where it writes it down.
struct Ledger<'a> {
    reader: &'a Reader,
    checkpoint: Checkpoint,
    /// Objects being read or awaiting acknowledgement, by key (a key is not started twice).
    in_flight_keys: HashMap<String, usize>,
    /// An object failed and must be read again soon.
    retry_soon: bool,
    writer: StateWriter,
    dedupe_writer: Option<StateWriter>,
}

impl Ledger<'_> {
    /// Records an object's fate and hands the new state to the writers.
    fn settle(&mut self, cycle: Option<&mut Cycle>, sent: Sent) {
        let Sent {
            object,
            outcome,
            held_uids,
            status,
        } = sent;
        if let Some(count) = self.in_flight_keys.get_mut(&object.key) {
            *count -= 1;
            if *count == 0 {
                self.in_flight_keys.remove(&object.key);
            }
        }
        let reader = self.reader;
        let metrics = reader.metrics();
        let done = if outcome.gone {
            true
        } else if outcome.fetch_error.is_some() || outcome.interrupted {
            false
        } else {
            match status {
                BatchStatus::Delivered => true,
                BatchStatus::Rejected => {
                    metrics.add("rejected_events_total", outcome.events);
                    tracing::error!(object = %object.url(), events = outcome.events, "a sink rejected this object's events for good; it is not read again");
                    true
                }
                BatchStatus::Errored => {
                    tracing::warn!(object = %object.url(), "some events of this object were not delivered; it will be read again");
                    false
                }
            }
        };
        reader.settle_uids(&held_uids, done && !outcome.gone);
        if done {
            if !outcome.gone {
                self.checkpoint
                    .mark_delivered(&object, outcome.etag.clone());
                metrics.add("objects_read_total", 1);
            }
            if let Some(cycle) = cycle {
                cycle
                    .outstanding
                    .remove(&(object.last_modified_ms, object.key.clone()));
                cycle.objects_done += 1;
                cycle.bytes_done += object.size;
                if let Some(floor) = cycle.floor() {
                    self.checkpoint.raise_floor(floor);
                }
                report_progress(metrics, cycle);
            }
        } else if outcome.fetch_error.is_some() || status == BatchStatus::Errored {
            self.retry_soon = true;
        }
        self.write();
    }

    /// Hands the current state to the writers (they coalesce and write in the background).
    fn write(&self) {
        let mut bytes =
            serde_json::to_vec_pretty(&self.checkpoint).expect("a checkpoint serializes");
        bytes.push(b'\n');
        self.writer.update(bytes);
        if let (Some(writer), Some(state)) = (&self.dedupe_writer, self.reader.dedupe_state()) {
            writer.update(state);
        }
    }

    /// Writes the final state and stops the writers.
    async fn finish(self) {
        self.write();
        self.writer.finish().await;
        if let Some(writer) = self.dedupe_writer {
            writer.finish().await;
        }
    }
}

fn report_progress(metrics: &crate::metrics::ComponentMetrics, cycle: &Cycle) {
    metrics.set("objects_known", cycle.objects_known as f64);
    metrics.set("objects_done", cycle.objects_done as f64);
    metrics.set("bytes_known", cycle.bytes_known as f64);
    metrics.set("bytes_done", cycle.bytes_done as f64);
}

fn log_progress(cycle: &Cycle) {
    let percent = if cycle.bytes_known == 0 {
        100.0
    } else {
        cycle.bytes_done as f64 * 100.0 / cycle.bytes_known as f64
    };
    tracing::info!(
        "conductorone_s3: backfill {}/{} objects, {:.1}/{:.1} MB ({percent:.0}%)",
        cycle.objects_done,
        cycle.objects_known,
        cycle.bytes_done as f64 / 1e6,
        cycle.bytes_known as f64 / 1e6,
    );
}

fn load(path: &std::path::Path, bucket: &str, prefix: &str) -> Result<Checkpoint, ComponentError> {
    let fresh = Checkpoint {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        ..Checkpoint::default()
    };
    let Some(bytes) = read_optional(path).map_err(|e| {
        ComponentError(format!(
            "cannot read the checkpoint {}: {e}",
            path.display()
        ))
    })?
    else {
        return Ok(fresh);
    };
    let stored: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| {
        ComponentError(format!(
            "the checkpoint {} is not valid ({e}); move it away to read the bucket from the start",
            path.display()
        ))
    })?;
    if stored.bucket != bucket || stored.prefix != prefix {
        tracing::warn!(path = %path.display(), stored_bucket = %stored.bucket, stored_prefix = %stored.prefix, %bucket, %prefix, "the checkpoint is for another bucket or prefix; starting afresh");
        return Ok(fresh);
    }
    Ok(stored)
}

/// Every object under the prefix (after `start_after`). The caller retries a failure after
/// its backoff, settling acknowledgements while it waits (which [`crate::retry::retry`]'s
/// plain sleep would not).
async fn list_all(reader: &Reader, bucket: &str) -> Result<Vec<ObjectRef>, String> {
    let settings = reader.settings();
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = reader
            .s3()
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&settings.prefix);
        if let Some(token) = &token {
            request = request.continuation_token(token);
        } else if let Some(start_after) = &settings.start_after {
            request = request.start_after(start_after);
        }
        let page = request.send().await.map_err(|error| classify(&error).1)?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            if key.ends_with('/') && object.size().unwrap_or(0) == 0 {
                continue; // a "folder" placeholder
            }
            objects.push(ObjectRef {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                etag: object.e_tag().map(str::to_owned),
                size: object.size().unwrap_or(0).max(0) as u64,
                last_modified_ms: object
                    .last_modified()
                    .and_then(|t| t.to_millis().ok())
                    .unwrap_or(0),
            });
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() || !page.is_truncated().unwrap_or(false) {
            return Ok(objects);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, etag: &str, last_modified_ms: i64) -> ObjectRef {
        ObjectRef {
            bucket: "b".into(),
            key: key.into(),
            etag: Some(etag.into()),
            size: 1,
            last_modified_ms,
        }
    }

    #[test]
    fn the_floor_forgets_old_keys_but_still_knows_they_are_delivered() {
        let mut checkpoint = Checkpoint::default();
        let old = object("a", "\"1\"", 0);
        checkpoint.mark_delivered(&old, Some("\"1\"".into()));
        assert!(checkpoint.is_delivered(&old));
        assert!(
            !checkpoint.is_delivered(&object("a", "2", 0)),
            "overwritten"
        );
        checkpoint.raise_floor(RETAIN_MS + 10);
        assert!(checkpoint.delivered.is_empty());
        assert!(checkpoint.is_delivered(&old), "before the floor");
        let late = object("late", "x", RETAIN_MS);
        assert!(
            !checkpoint.is_delivered(&late),
            "listed late, within the retained window"
        );
        checkpoint.raise_floor(5);
        assert_eq!(checkpoint.floor_ms, Some(RETAIN_MS + 10), "never back");
    }
}
