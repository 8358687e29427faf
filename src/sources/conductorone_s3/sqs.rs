//! `strategy = "sqs"`: S3 event notifications from an SQS queue (Vector's `aws_s3` source).
//!
//! `sqs.client_concurrency` receivers long-poll the queue (`sqs.poll_secs`, up to
//! `sqs.max_number_of_messages` a receive, `sqs.visibility_timeout_secs`). Several instances
//! may share one queue as competing consumers: the visibility timeout hides a message from
//! the others while one instance works on it, and a **heartbeat** extends it (every half
//! timeout) for as long as its objects are being read or their events await acknowledgement,
//! so a slow object is not handed to a second consumer.
//!
//! A message body is an S3 notification (`Records[].eventName` `ObjectCreated:*`, keys
//! form-urlencoded), possibly inside an SNS envelope. `s3:TestEvent` messages and records of
//! other events are deleted without reading anything. Keys outside `prefix` (and other buckets
//! than `bucket`, when set) are not read; a message with nothing else is left on the queue
//! for a consumer it is meant for (or the dead-letter queue), never deleted unread.
//!
//! **Deleting.** A message is deleted (with `sqs.delete_message`) only when every event of its
//! objects is `Delivered`. When an object must be read again (`Errored`, a failed download,
//! shutdown in the middle) the message is made visible again after a backoff that doubles
//! with its receive count, and never deleted; `Rejected` leaves it for redelivery after its
//! visibility timeout, or for the queue's dead-letter queue, unless
//! `sqs.delete_failed_message = true`. A message that is not a notification is logged and
//! left to the dead-letter queue too: nothing is deleted unread.
//!
//! **Idempotent per object version.** Delivered objects are remembered by bucket, key and
//! ETag (the last [`DONE_CAPACITY`], persisted in `data_dir` when it is set): a second
//! notification for the same version (SQS delivers at least once; some servers notify a
//! multipart upload twice) is deleted without sending its events again. A notification for a
//! key another message is being read for does not wait (that could deadlock two receivers):
//! the message comes back after a short delay and is then recognised as delivered.
//!
//! Errors from SQS are retried with the source's backoff (never in a tight loop).
//!
//! **Shutdown** waits for the receive in progress (at most `sqs.poll_secs`) rather than
//! abandoning it, because SQS would hide its messages for their whole visibility timeout;
//! messages received but not yet read are made visible again at once, and the messages being
//! acknowledged are deleted or left as usual once their sinks have flushed.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument as _;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde::Deserialize;
use tokio::task::JoinSet;

use super::read::{ObjectRef, Reader, object_identity};
use crate::ack::BatchStatus;
use crate::aws::{self, ErrorKind, classify};
use crate::component::{ComponentError, SourceContext};
use crate::dedupe::{RecentSet, hash_str};
use crate::metrics::ErrorType;
use crate::retry::{Retries, retry};
use crate::state::StateWriter;
use crate::topology::fanout::Fanout;

/// Delivered object versions remembered to drop repeated notifications.
pub(super) const DONE_CAPACITY: usize = 10_000;

/// Pause after an empty receive when `sqs.poll_secs = 0` (no long polling).
const EMPTY_SHORT_POLL_PAUSE: Duration = Duration::from_millis(200);

/// Messages one receiver works on at once (read, or awaiting acknowledgement).
const MESSAGES_IN_FLIGHT_PER_RECEIVER: usize = 20;

/// State shared by the receivers.
struct Shared {
    reader: Arc<Reader>,
    sqs: aws_sdk_sqs::Client,
    /// Delivered object versions.
    done: Arc<Mutex<RecentSet>>,
    /// Keys (bucket and key hashed) being read or awaiting acknowledgement.
    in_progress: Mutex<HashSet<u64>>,
    done_writer: Option<StateWriter>,
    dedupe_writer: Option<StateWriter>,
}

impl Shared {
    /// An object is no longer being read or awaited (another message may read it now).
    fn finish(&self, key_hash: u64) {
        self.in_progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key_hash);
    }

    /// Gives up an object that will be read again: its uids are released, its key freed.
    fn abandon(&self, key_hash: u64, held_uids: &[u64]) {
        self.reader.settle_uids(held_uids, false);
        self.finish(key_hash);
    }
}

pub(super) async fn run(
    reader: Arc<Reader>,
    sqs: aws_sdk_sqs::Client,
    state_dir: Option<PathBuf>,
    cx: SourceContext,
) -> Result<(), ComponentError> {
    let SourceContext {
        id, out, metrics, ..
    } = cx;
    let settings = reader.settings();
    let queue = settings.sqs.clone().expect("sqs mode has sqs settings");
    let mut done = RecentSet::new(DONE_CAPACITY);
    let mut done_writer = None;
    let mut dedupe_writer = None;
    if let Some(dir) = &state_dir {
        let (content, writer) = StateWriter::open(
            dir.join("sqs-objects.bin"),
            "delivered-object list",
            Arc::clone(&metrics),
            Duration::from_millis(5),
            settings.backoff(),
        )
        .map_err(|e| ComponentError(format!("{id}: {e}")))?;
        if let Some(bytes) = content {
            done = RecentSet::from_bytes(&bytes, DONE_CAPACITY);
        }
        done_writer = Some(writer);
        dedupe_writer = reader
            .open_dedupe_state(dir)
            .map_err(|e| ComponentError(format!("{id}: {e}")))?;
    }
    let shared = Arc::new(Shared {
        reader: Arc::clone(&reader),
        sqs,
        done: Arc::new(Mutex::new(done)),
        in_progress: Mutex::new(HashSet::new()),
        done_writer,
        dedupe_writer,
    });
    tracing::info!(queue = %queue.queue_url, receivers = queue.client_concurrency, "receiving S3 notifications");
    let mut receivers = JoinSet::new();
    for _ in 0..queue.client_concurrency {
        receivers.spawn(receive_loop(Arc::clone(&shared), out.clone()).in_current_span());
    }
    // Only the receivers hold the output now: it closes when the last one stops.
    drop(out);
    while let Some(result) = receivers.join_next().await {
        if let Err(error) = result {
            tracing::error!(%error, "a receiver failed");
        }
    }
    // Every receiver, acknowledgement task and heartbeat has ended: the state is ours.
    let Ok(shared) = Arc::try_unwrap(shared) else {
        tracing::error!(
            "a task still holds the source's state; the delivered-object list may not be written"
        );
        return Ok(());
    };
    if let Some(writer) = shared.done_writer {
        writer.finish().await;
    }
    if let Some(writer) = shared.dedupe_writer {
        writer.finish().await;
    }
    Ok(())
}

/// One receiver: receive, read each message's objects, hand the wait for their
/// acknowledgement to a task; until shutdown, then wait for those tasks.
async fn receive_loop(shared: Arc<Shared>, mut out: Fanout) {
    let reader = &shared.reader;
    let settings = reader.settings();
    let queue = settings.sqs.as_ref().expect("sqs settings");
    let shutdown = reader.shutdown().clone();
    let metrics = Arc::clone(reader.metrics());
    let mut backoff = settings.backoff();
    let mut in_flight = JoinSet::new();
    'receiving: while !shutdown.is_cancelled() {
        while in_flight.try_join_next().is_some() {}
        if in_flight.len() >= MESSAGES_IN_FLIGHT_PER_RECEIVER {
            tokio::select! {
                _ = in_flight.join_next() => continue,
                () = shutdown.cancelled() => break,
            }
        }
        let receive = shared
            .sqs
            .receive_message()
            .queue_url(&queue.queue_url)
            .max_number_of_messages(queue.max_number_of_messages)
            .wait_time_seconds(queue.poll_secs)
            .visibility_timeout(queue.visibility_timeout_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send();
        // Not cancelled at shutdown: SQS marks the messages of a receive in progress as
        // received even if the caller has gone, and they would stay hidden for their whole
        // visibility timeout. The receive ends within `poll_secs`; its messages are then
        // handed back at once (below).
        let received = receive.await;
        let messages = match received {
            Ok(output) => {
                backoff.reset();
                output.messages.unwrap_or_default()
            }
            Err(error) => {
                let (kind, message) = classify(&error);
                metrics.add("sqs_receive_errors_total", 1);
                metrics.error(ErrorType::Request);
                let delay = backoff.next_delay();
                let hint = if kind == ErrorKind::Permanent {
                    " (check sqs.queue_url and that the credentials may receive from it)"
                } else {
                    ""
                };
                tracing::error!(queue = %queue.queue_url, %message, retry_in_ms = delay.as_millis() as u64, "receiving from the queue failed{hint}");
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    () = shutdown.cancelled() => break,
                }
            }
        };
        metrics.add("sqs_messages_received_total", messages.len() as u64);
        if messages.is_empty() && queue.poll_secs == 0 {
            // Short polling: do not spin on an empty queue.
            tokio::select! {
                () = tokio::time::sleep(EMPTY_SHORT_POLL_PAUSE) => {}
                () = shutdown.cancelled() => break,
            }
        }
        // Heartbeats start at once: later messages of the batch wait their turn invisible.
        let mut batch: Vec<(Message, tokio::task::JoinHandle<()>)> = messages
            .into_iter()
            .map(|message| {
                let heartbeat = tokio::spawn(
                    heartbeat(
                        Arc::clone(&shared),
                        message.receipt_handle.clone().unwrap_or_default(),
                    )
                    .in_current_span(),
                );
                (message, heartbeat)
            })
            .collect();
        while !batch.is_empty() {
            let (message, heartbeat) = batch.remove(0);
            tracing::debug!(
                message_id = message.message_id().unwrap_or(""),
                "message received"
            );
            if shutdown.is_cancelled() {
                stop(heartbeat).await;
                release(&shared, &message, 0).await;
                for (message, heartbeat) in batch.drain(..) {
                    stop(heartbeat).await;
                    release(&shared, &message, 0).await;
                }
                break 'receiving;
            }
            let plan = process(&shared, &message, &mut out).await;
            match plan {
                Err(Stopped) => {
                    stop(heartbeat).await;
                    release(&shared, &message, 0).await;
                    for (message, heartbeat) in batch.drain(..) {
                        heartbeat.abort();
                        release(&shared, &message, 0).await;
                    }
                    break 'receiving;
                }
                Ok(plan) => {
                    in_flight.spawn(
                        complete(Arc::clone(&shared), message, plan, heartbeat).in_current_span(),
                    );
                }
            }
        }
    }
    drop(out);
    while in_flight.join_next().await.is_some() {}
}

/// The output stopped: stop receiving.
struct Stopped;

/// What a message needs once its objects are sent.
enum Plan {
    /// Nothing to read (a test event, only other kinds of events, versions already
    /// delivered): delete it.
    Delete,
    /// Not ours to handle (not a notification, or only keys outside `bucket`/`prefix`):
    /// leave it to its visibility timeout (another consumer, or the dead-letter queue).
    Leave,
    /// Objects sent: wait for their acknowledgement. `busy`: another message's copy of one of
    /// its keys was being read, so that object was not; the message must come back.
    Await {
        objects: Vec<SentObject>,
        busy: bool,
    },
}

struct SentObject {
    object: ObjectRef,
    receiver: Option<crate::ack::BatchStatusReceiver>,
    outcome: super::read::ReadOutcome,
    held_uids: Vec<u64>,
    key_hash: u64,
}

/// Reads the objects of a message and sends their events.
async fn process(shared: &Shared, message: &Message, out: &mut Fanout) -> Result<Plan, Stopped> {
    let reader = &shared.reader;
    let settings = reader.settings();
    let metrics = reader.metrics();
    let body = message.body().unwrap_or("");
    let objects = match parse_notification(body) {
        Ok(Notification::Test) => {
            tracing::debug!("s3:TestEvent skipped");
            return Ok(Plan::Delete);
        }
        Ok(Notification::Objects(objects)) => objects,
        Err(reason) => {
            metrics.add("sqs_messages_invalid_total", 1);
            metrics.error(ErrorType::Parser);
            // Both may quote the message, which anyone who may send to the queue wrote.
            let reason = crate::secrets::redact(&reason);
            let excerpt: String = crate::secrets::redact(body).chars().take(200).collect();
            tracing::error!(message_id = message.message_id().unwrap_or(""), %reason, body = %excerpt, "the message is not an S3 notification; it is left on the queue (configure a dead-letter queue to collect such messages)");
            return Ok(Plan::Leave);
        }
    };
    let mut sent: Vec<SentObject> = Vec::new();
    let mut busy = false;
    let mut outside = 0;
    let mut keys_seen = HashSet::new();
    let total = objects.len();
    for object in objects {
        if !object.key.starts_with(&settings.prefix)
            || settings
                .bucket
                .as_ref()
                .is_some_and(|bucket| *bucket != object.bucket)
        {
            tracing::debug!(object = %object.url(), "outside bucket/prefix; not read here");
            outside += 1;
            continue;
        }
        let key_hash = crate::dedupe::hash_bytes(
            crate::dedupe::hash_bytes(hash_str(&object.bucket), b"\0"),
            object.key.as_bytes(),
        );
        if !keys_seen.insert(key_hash) {
            continue; // the same key twice in one message: read once
        }
        if let Some(etag) = &object.etag
            && shared
                .done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(object_identity(&object.bucket, &object.key, etag))
        {
            metrics.add("sqs_duplicate_notifications_total", 1);
            continue;
        }
        // Another message's copy of this key is being read: do not wait for it (its receiver
        // might be waiting for one of ours); this message comes back later and is then
        // recognised as delivered.
        if !shared
            .in_progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key_hash)
        {
            busy = true;
            continue;
        }
        tracing::debug!(object = %object.url(), etag = object.etag.as_deref().unwrap_or(""), message_id = message.message_id().unwrap_or(""), "reading the object of a notification");
        let mut read = reader.start(object, Some(Arc::clone(&shared.done)));
        let receiver = read.receiver.take();
        let mut held = Vec::new();
        let outcome = match reader.forward_object(&mut read, out, &mut held).await {
            Ok(outcome) => outcome,
            Err(_) => {
                shared.abandon(key_hash, &held);
                for object in sent {
                    shared.abandon(object.key_hash, &object.held_uids);
                }
                return Err(Stopped);
            }
        };
        if outcome.already_done {
            metrics.add("sqs_duplicate_notifications_total", 1);
        }
        sent.push(SentObject {
            object: read.object.clone(),
            receiver,
            outcome,
            held_uids: held,
            key_hash,
        });
    }
    if total > 0 && outside == total {
        metrics.add("sqs_messages_ignored_total", 1);
        return Ok(Plan::Leave);
    }
    if sent.is_empty() && !busy {
        return Ok(Plan::Delete);
    }
    Ok(Plan::Await {
        objects: sent,
        busy,
    })
}

/// Waits for a message's objects to be acknowledged, then deletes it or leaves it.
async fn complete(
    shared: Arc<Shared>,
    message: Message,
    plan: Plan,
    heartbeat: tokio::task::JoinHandle<()>,
) {
    let reader = &shared.reader;
    let settings = reader.settings();
    let queue = settings.sqs.as_ref().expect("sqs settings");
    let metrics = reader.metrics();
    let message_id = message.message_id().unwrap_or("").to_owned();
    let (objects, busy) = match plan {
        Plan::Delete => (Vec::new(), false),
        Plan::Leave => {
            stop(heartbeat).await;
            return;
        }
        Plan::Await { objects, busy } => (objects, busy),
    };
    let mut status = BatchStatus::Delivered;
    // An object that must be read again (not delivered, interrupted, not downloadable):
    // the message must come back whatever else happened to it.
    let mut read_again = busy;
    for mut sent in objects {
        let object_status = match sent.receiver.take() {
            Some(receiver) => receiver.await,
            None => BatchStatus::Errored,
        };
        let outcome = &sent.outcome;
        let complete = !outcome.interrupted && (outcome.fetch_error.is_none() || outcome.gone);
        let delivered = complete && object_status == BatchStatus::Delivered;
        // Only delivered uids are remembered: a rejected object's message comes back, and its
        // events must then be sent again, not dropped as duplicates.
        reader.settle_uids(&sent.held_uids, delivered);
        if delivered {
            if !outcome.gone && !outcome.already_done {
                metrics.add("objects_read_total", 1);
            }
            let mut done = shared.done.lock().unwrap_or_else(|e| e.into_inner());
            for etag in [sent.object.etag.as_deref(), outcome.etag.as_deref()]
                .into_iter()
                .flatten()
            {
                done.insert(object_identity(&sent.object.bucket, &sent.object.key, etag));
            }
        }
        shared.finish(sent.key_hash);
        if !complete || object_status == BatchStatus::Errored {
            read_again = true;
            status = status.worst(BatchStatus::Errored);
        } else {
            if object_status == BatchStatus::Rejected {
                metrics.add("rejected_events_total", outcome.events);
                tracing::error!(object = %sent.object.url(), events = outcome.events, "a sink rejected this object's events for good");
            }
            status = status.worst(object_status);
        }
    }
    if let Some(writer) = &shared.done_writer {
        writer.update(
            shared
                .done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .to_bytes(),
        );
    }
    if let (Some(writer), Some(state)) = (&shared.dedupe_writer, reader.dedupe_state()) {
        writer.update(state);
    }
    // No extension may land after the delete or release below.
    stop(heartbeat).await;
    if read_again {
        metrics.add("sqs_messages_failed_total", 1);
        let delay = retry_delay(settings, &message);
        tracing::warn!(
            message_id,
            retry_in_secs = delay,
            "not every object of the message was delivered; it will be received again"
        );
        release(&shared, &message, delay).await;
        return;
    }
    let delete = match status {
        BatchStatus::Delivered => queue.delete_message,
        BatchStatus::Rejected => queue.delete_failed_message,
        BatchStatus::Errored => false,
    };
    if delete {
        delete_message(&shared, &message).await;
    } else if status != BatchStatus::Delivered {
        metrics.add("sqs_messages_failed_total", 1);
        tracing::warn!(
            message_id,
            "the message is left on the queue (it returns after its visibility timeout, or goes to the dead-letter queue)"
        );
    }
}

/// Aborts a heartbeat and waits until it has stopped (an extension in flight could otherwise
/// land after a delete or release).
async fn stop(heartbeat: tokio::task::JoinHandle<()>) {
    heartbeat.abort();
    let _ = heartbeat.await;
}

/// Seconds until a message whose objects must be read again is received again: the source's
/// backoff, doubling with the message's receive count (so a sink that stays down does not
/// push messages to the dead-letter queue within seconds).
fn retry_delay(settings: &super::Settings, message: &Message) -> i32 {
    let receives = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|count| count.parse::<u32>().ok())
        .unwrap_or(1)
        .clamp(1, 30);
    let initial = settings.retry.initial_backoff.as_secs_f64().max(1.0);
    let delay = (initial * f64::from(1u32 << (receives - 1).min(20)))
        .min(settings.retry.max_backoff.as_secs_f64().max(1.0));
    delay.clamp(1.0, 43_200.0) as i32
}

/// Retries of a failed `DeleteMessage` (if they all fail, the message returns after its
/// visibility timeout and is recognised as delivered).
const DELETE_RETRIES: u64 = 4;

/// Deletes a handled message, retrying transient errors a few times.
async fn delete_message(shared: &Shared, message: &Message) {
    let reader = &shared.reader;
    let queue = reader.settings().sqs.as_ref().expect("sqs settings");
    let message_id = message.message_id().unwrap_or("");
    let mut retries = Retries::new(reader.settings().backoff(), Some(DELETE_RETRIES));
    let attempt = || async {
        shared
            .sqs
            .delete_message()
            .queue_url(&queue.queue_url)
            .receipt_handle(message.receipt_handle().unwrap_or(""))
            .send()
            .await
            .map_err(|error| classify(&error))
    };
    let on_retry = |(_, text): &(ErrorKind, String), retry: u64, delay: Duration| {
        reader.metrics().error(ErrorType::Request);
        tracing::warn!(message_id, error = %text, retry, retry_in_ms = delay.as_millis() as u64, "deleting the message failed; retrying");
    };
    match retry(&aws::retry_policy, &mut retries, attempt, on_retry).await {
        Ok(_) => {
            reader.metrics().add("sqs_messages_deleted_total", 1);
            tracing::debug!(message_id, "message deleted");
        }
        Err((_, text)) => {
            reader.metrics().error(ErrorType::Request);
            tracing::warn!(message_id, error = %text, "deleting the message failed; it returns after its visibility timeout and is recognised as delivered");
        }
    }
}

/// Makes a message visible again after `seconds` (0: at once, for another consumer).
async fn release(shared: &Shared, message: &Message, seconds: i32) {
    let queue = shared.reader.settings().sqs.as_ref().expect("sqs settings");
    if let Err(error) = shared
        .sqs
        .change_message_visibility()
        .queue_url(&queue.queue_url)
        .receipt_handle(message.receipt_handle().unwrap_or(""))
        .visibility_timeout(seconds)
        .send()
        .await
    {
        tracing::debug!(error = %classify(&error).1, "could not change the message's visibility; it returns after its timeout");
    }
}

/// Extends a message's visibility timeout every half timeout until aborted.
async fn heartbeat(shared: Arc<Shared>, receipt_handle: String) {
    let queue = shared.reader.settings().sqs.as_ref().expect("sqs settings");
    let timeout = queue.visibility_timeout_secs;
    let period = Duration::from_millis((timeout as u64 * 1000 / 2).max(500));
    loop {
        tokio::time::sleep(period).await;
        match shared
            .sqs
            .change_message_visibility()
            .queue_url(&queue.queue_url)
            .receipt_handle(&receipt_handle)
            .visibility_timeout(timeout)
            .send()
            .await
        {
            Ok(_) => shared
                .reader
                .metrics()
                .add("sqs_visibility_extensions_total", 1),
            Err(error) => {
                shared.reader.metrics().error(ErrorType::Request);
                tracing::warn!(error = %classify(&error).1, "extending a message's visibility timeout failed; another consumer may receive it");
            }
        }
    }
}

/// What a message says.
#[derive(Debug, PartialEq, Eq)]
enum Notification {
    /// `s3:TestEvent`, sent when notifications are configured.
    Test,
    /// The objects of its `ObjectCreated:*` records (possibly none).
    Objects(Vec<ObjectRef>),
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    #[serde(rename = "Event")]
    event: Option<String>,
    /// SNS envelope.
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: BucketEntity,
    object: ObjectEntity,
}

#[derive(Deserialize)]
struct BucketEntity {
    name: String,
}

#[derive(Deserialize)]
struct ObjectEntity {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "eTag")]
    etag: Option<String>,
}

fn parse_notification(body: &str) -> Result<Notification, String> {
    let parsed: Body = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if parsed.kind.as_deref() == Some("Notification")
        && let Some(inner) = parsed.message
    {
        return parse_notification(&inner);
    }
    if parsed.event.as_deref() == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    let Some(records) = parsed.records else {
        return Err("no `Records`".to_owned());
    };
    Ok(Notification::Objects(
        records
            .into_iter()
            .filter(|record| record.event_name.starts_with("ObjectCreated:"))
            .map(|record| ObjectRef {
                bucket: record.s3.bucket.name,
                key: form_urldecode(&record.s3.object.key),
                etag: record.s3.object.etag.filter(|etag| !etag.is_empty()),
                size: record.s3.object.size.unwrap_or(0),
                last_modified_ms: 0,
            })
            .collect(),
    ))
}

/// Decodes an S3 notification key: `+` is a space, `%XX` a byte.
fn form_urldecode(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => decoded.push(b' '),
            b'%' if at + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[at + 1]), hex(bytes[at + 2])) {
                    (Some(high), Some(low)) => {
                        decoded.push((high * 16 + low) as u8);
                        at += 2;
                    }
                    _ => decoded.push(b'%'),
                }
            }
            other => decoded.push(other),
        }
        at += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_of_every_shape_are_understood() {
        assert_eq!(
            parse_notification(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#),
            Ok(Notification::Test)
        );
        let body = r#"{"Records":[
            {"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"c1%2F2026+01%2Fa%2Bb.json.zst","size":10,"eTag":"abc"}}},
            {"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"gone"}}}
        ]}"#;
        let Ok(Notification::Objects(objects)) = parse_notification(body) else {
            panic!("objects expected");
        };
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].key, "c1/2026 01/a+b.json.zst");
        assert_eq!(objects[0].etag.as_deref(), Some("abc"));
        let sns = serde_json::json!({"Type": "Notification", "Message": body}).to_string();
        assert!(matches!(parse_notification(&sns), Ok(Notification::Objects(o)) if o.len() == 1));
        assert!(parse_notification("{}").is_err());
        assert!(parse_notification("hello").is_err());
    }

    #[test]
    fn keys_are_form_urldecoded() {
        assert_eq!(form_urldecode("a%2Fb+c%25"), "a/b c%");
        assert_eq!(form_urldecode("%E2%9C%93"), "✓");
        assert_eq!(form_urldecode("bad%zz%2"), "bad%zz%2");
    }
}
