//! The `aws_s3` sink's run loop: partitions, sealing, uploads and acknowledgements.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
#[cfg(feature = "parquet")]
use vrl::value::Value;

use super::config::Settings;
use super::partition::{Body, Multipart, ObjectFormat, Partition};
use super::upload::{UploadError, Uploader};
use crate::ack::BatchStatus;
#[cfg(feature = "parquet")]
use crate::codecs::parquet::{PushError, RowError};
use crate::component::{ComponentError, SinkContext};
use crate::event::Event;
use crate::metrics::{ComponentMetrics, ErrorType};

/// The running sink: partitions, sealing, and the upload tasks.
struct S3Sink {
    settings: Arc<Settings>,
    uploader: Arc<Uploader>,
    partitions: HashMap<String, Partition>,
    uploads: JoinSet<()>,
    permits: Arc<Semaphore>,
    metrics: Arc<ComponentMetrics>,
    acknowledgements: bool,
    /// Scratch buffers reused for every event.
    prefix: String,
    encoded: Vec<u8>,
}

pub(crate) async fn run(settings: Settings, mut cx: SinkContext) -> Result<(), ComponentError> {
    let client = settings.connection.s3_client().await;
    let uploader = Uploader::new(
        client,
        settings.bucket.clone(),
        settings.options.clone(),
        settings.retry,
    );
    let tick = (settings.timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut sink = S3Sink {
        permits: Arc::new(Semaphore::new(settings.concurrency)),
        settings: Arc::new(settings),
        uploader: Arc::new(uploader),
        partitions: HashMap::new(),
        uploads: JoinSet::new(),
        metrics: cx.metrics.clone(),
        acknowledgements: cx.acknowledgements,
        prefix: String::new(),
        encoded: Vec::with_capacity(4096),
    };
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            batch = cx.input.recv() => match batch {
                Some(mut batch) => {
                    sink.metrics.received_events(&mut batch);
                    let settings = Arc::clone(&sink.settings);
                    for event in batch {
                        sink.add(&settings, event).await;
                    }
                }
                None => break,
            },
            _ = ticker.tick() => sink.seal_expired().await,
            Some(joined) = sink.uploads.join_next(), if !sink.uploads.is_empty() => {
                if let Err(error) = joined {
                    return Err(ComponentError(format!("an S3 upload task failed: {error}")));
                }
            }
        }
    }
    // End of input: every open object is written before the sink finishes.
    let open: Vec<String> = sink.partitions.keys().cloned().collect();
    for prefix in open {
        sink.seal(&prefix).await;
    }
    while let Some(joined) = sink.uploads.join_next().await {
        joined.map_err(|error| ComponentError(format!("an S3 upload task failed: {error}")))?;
    }
    Ok(())
}

impl S3Sink {
    /// Adds one event to its partition, sealing or uploading parts as limits are reached.
    async fn add(&mut self, settings: &Settings, mut event: Event) {
        // A Parquet object takes only events of its OCSF class with an integer `time`.
        let ocsf_time = match &settings.format {
            #[cfg(feature = "parquet")]
            ObjectFormat::Parquet(format) => match format.event_time(&event.value) {
                Ok(time) => Some(time),
                Err(error) => return self.reject(event, &error),
            },
            ObjectFormat::Lines(_) => None,
        };
        let now = Utc::now();
        let time = match ocsf_time {
            Some(ms) if settings.keys_from_ocsf_time => {
                DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(now)
            }
            _ if settings.template.uses_time() => settings.template.event_time(&event.value, now),
            _ => now,
        };
        if let Err(error) = settings
            .template
            .render(&event.value, time, &mut self.prefix)
        {
            self.metrics.error(ErrorType::Template);
            tracing::warn!(%error, "event rejected: its key_prefix cannot be rendered");
            event.finalize(BatchStatus::Rejected);
            return;
        }
        if let Err(error) = self.open(settings, ocsf_time).await {
            self.metrics.error(ErrorType::Request);
            tracing::error!(%error, "could not start an object");
            event.finalize(BatchStatus::Errored);
            return;
        }
        let Some(partition) = self.partitions.get_mut(self.prefix.as_str()) else {
            return;
        };
        let written = match (&mut partition.body, ocsf_time) {
            #[cfg(feature = "parquet")]
            (Body::Parquet(object), Some(time)) => match object.push(&event.value, time) {
                Ok(()) => {
                    partition.raw_bytes = object.estimated_size();
                    Ok(())
                }
                Err(PushError::Row(error)) => return self.reject(event, &error),
                Err(error) => Err(error.to_string()),
            },
            (body, _) => {
                self.encoded.clear();
                if let Some(encoder) = &settings.encoder {
                    encoder.encode(&event.value, &mut self.encoded);
                }
                self.encoded.push(b'\n');
                partition.raw_bytes += self.encoded.len();
                match body {
                    Body::Lines(compressor) => compressor
                        .write(&self.encoded)
                        .map_err(|error| error.to_string()),
                    #[cfg(feature = "parquet")]
                    Body::Parquet(_) => Err("an event without an OCSF time".to_owned()),
                }
            }
        };
        let Event { value, metadata } = event;
        drop(value);
        let mut finalizers = metadata.finalizers;
        if !self.acknowledgements {
            finalizers.finalize(BatchStatus::Delivered);
        }
        partition.events += 1;
        partition.finalizers.push(finalizers);
        let full =
            partition.raw_bytes >= settings.max_bytes || partition.events >= settings.max_events;
        let part_due = partition.body.pending_output() >= settings.part_size;
        if written.is_err() || full || part_due {
            let prefix = self.prefix.clone();
            if let Err(error) = written {
                self.metrics.error(ErrorType::Encoder);
                tracing::error!(%error, "encoding an event failed; the object is dropped");
                if let Some(partition) = self.partitions.remove(&prefix) {
                    self.fail(partition, BatchStatus::Errored).await;
                }
            } else if full {
                self.seal(&prefix).await;
            } else {
                self.upload_part(&prefix).await;
            }
        }
        #[cfg(feature = "parquet")]
        if let ObjectFormat::Parquet(format) = &settings.format {
            self.bound_row_groups(format.row_group_bytes()).await;
        }
    }

    /// Keeps the row groups of all open Parquet objects within one row group's size: when
    /// they hold more, the largest is written into its object. Events arrive in time order,
    /// so the objects of earlier days keep a partial row group that would otherwise stay in
    /// memory until they are sealed (`max_open_partitions` of them at most).
    #[cfg(feature = "parquet")]
    async fn bound_row_groups(&mut self, budget: usize) {
        let mut held = 0;
        let mut largest: Option<(&String, usize)> = None;
        for (prefix, partition) in &self.partitions {
            if let Body::Parquet(object) = &partition.body {
                let bytes = object.buffered_bytes();
                held += bytes;
                if largest.is_none_or(|(_, most)| bytes > most) {
                    largest = Some((prefix, bytes));
                }
            }
        }
        let Some((prefix, _)) = largest.filter(|_| held > budget) else {
            return;
        };
        let prefix = prefix.clone();
        let Some(partition) = self.partitions.get_mut(&prefix) else {
            return;
        };
        let Body::Parquet(object) = &mut partition.body else {
            return;
        };
        match object.write_buffered() {
            Ok(()) => partition.raw_bytes = object.estimated_size(),
            Err(error) => {
                self.metrics.error(ErrorType::Encoder);
                tracing::error!(%error, "encoding a row group failed; the object is dropped");
                if let Some(partition) = self.partitions.remove(&prefix) {
                    self.fail(partition, BatchStatus::Errored).await;
                }
            }
        }
    }

    /// Makes sure `self.prefix` has an open object that can take an event at `ocsf_time`:
    /// opens one (sealing the oldest when `max_open_partitions` are open), or, when the
    /// Parquet object already written rows later than `ocsf_time`, seals it and opens another
    /// so every object stays in `time` order.
    async fn open(
        &mut self,
        settings: &Settings,
        ocsf_time: Option<i64>,
    ) -> Result<(), super::partition::BodyError> {
        // `None`: no object yet; `Some(accepts)`: whether the open one takes the event.
        let open = self.partitions.get(self.prefix.as_str()).map(|partition| {
            match (&partition.body, ocsf_time) {
                #[cfg(feature = "parquet")]
                (Body::Parquet(object), Some(time)) => object.accepts(time),
                _ => true,
            }
        });
        match open {
            Some(true) => return Ok(()),
            Some(false) => {}
            None if self.partitions.len() >= settings.max_open_partitions => {
                self.seal_oldest().await;
            }
            None => {}
        }
        let prefix = self.prefix.clone();
        if self.partitions.contains_key(&prefix) {
            tracing::debug!(%prefix, "an event older than the object's written rows; sealing it");
            self.seal(&prefix).await;
        }
        let partition = Partition::new(prefix.clone(), &settings.format)?;
        self.partitions.insert(prefix, partition);
        Ok(())
    }

    /// Finalizes an event that cannot be written as it is (`Rejected`), logging its class and
    /// uid and counting it.
    #[cfg(feature = "parquet")]
    fn reject(&self, mut event: Event, error: &RowError) {
        self.metrics.error(ErrorType::Conversion);
        self.metrics.add("rejected_events_total", 1);
        let class_uid = match &event.value {
            Value::Object(map) => map
                .get("class_uid")
                .and_then(crate::ocsf::derive::as_integer),
            _ => None,
        };
        let uid = crate::ocsf::event_uid(&event.value).unwrap_or("(none)");
        tracing::warn!(class_uid, uid, %error, "event rejected: it cannot be a row of this sink's Parquet objects");
        event.finalize(BatchStatus::Rejected);
    }

    /// Sends the compressed bytes of `prefix`'s object so far as its next multipart part.
    async fn upload_part(&mut self, prefix: &str) {
        let Some(partition) = self.partitions.get_mut(prefix) else {
            return;
        };
        let body = Bytes::from(partition.body.take_output());
        if partition.multipart.is_none() {
            let key = self.settings.naming.key(prefix, Utc::now());
            match self.uploader.create_multipart(&key).await {
                Ok(upload_id) => {
                    partition.multipart = Some(Multipart {
                        key,
                        upload_id,
                        parts: Vec::new(),
                    });
                }
                Err(error) => {
                    self.report(&error);
                    if let Some(partition) = self.partitions.remove(prefix) {
                        self.fail(partition, error_status(&error)).await;
                    }
                    return;
                }
            }
        }
        let Some(multipart) = partition.multipart.as_mut() else {
            return;
        };
        let number = multipart.parts.len() as i32 + 1;
        let result = self
            .uploader
            .upload_part(&multipart.key, &multipart.upload_id, number, body)
            .await;
        match result {
            Ok(part) => multipart.parts.push(part),
            Err(error) => {
                self.report(&error);
                if let Some(partition) = self.partitions.remove(prefix) {
                    self.fail(partition, error_status(&error)).await;
                }
            }
        }
    }

    /// Seals every object older than `batch.timeout_secs`.
    async fn seal_expired(&mut self) {
        let timeout = self.settings.timeout;
        let expired: Vec<String> = self
            .partitions
            .iter()
            .filter(|(_, partition)| partition.opened.elapsed() >= timeout)
            .map(|(prefix, _)| prefix.clone())
            .collect();
        for prefix in expired {
            self.seal(&prefix).await;
        }
    }

    /// Seals the longest-open object, to make room for another partition.
    async fn seal_oldest(&mut self) {
        let oldest = self
            .partitions
            .iter()
            .min_by_key(|(_, partition)| partition.opened)
            .map(|(prefix, _)| prefix.clone());
        if let Some(prefix) = oldest {
            tracing::debug!(%prefix, "max_open_partitions reached; sealing the oldest object");
            self.seal(&prefix).await;
        }
    }

    /// Closes `prefix`'s object and uploads it in the background (at most `concurrency` at
    /// once: waiting for a slot is the sink's backpressure).
    async fn seal(&mut self, prefix: &str) {
        let Some(partition) = self.partitions.remove(prefix) else {
            return;
        };
        if partition.events == 0 {
            // Opened for an event that was then rejected: nothing to write.
            return self.fail(partition, BatchStatus::Delivered).await;
        }
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return;
        };
        let uploader = Arc::clone(&self.uploader);
        let settings = Arc::clone(&self.settings);
        let metrics = Arc::clone(&self.metrics);
        self.uploads.spawn(
            async move {
                let _permit = permit;
                write_object(partition, &uploader, &settings, &metrics).await;
            }
            .in_current_span(),
        );
    }

    /// Finalizes a partition that cannot be written, aborting its multipart upload.
    async fn fail(&mut self, partition: Partition, status: BatchStatus) {
        if let Some(multipart) = &partition.multipart {
            self.uploader
                .abort_multipart(&multipart.key, &multipart.upload_id)
                .await;
        }
        finalize(partition.finalizers, status);
    }

    fn report(&self, error: &UploadError) {
        self.metrics.error(ErrorType::Request);
        tracing::error!(%error, "S3 write failed; its events are not delivered");
    }
}

/// Uploads a sealed object and finalizes its events with the outcome.
async fn write_object(
    partition: Partition,
    uploader: &Uploader,
    settings: &Settings,
    metrics: &ComponentMetrics,
) {
    let Partition {
        prefix,
        body,
        events,
        finalizers,
        multipart,
        raw_bytes,
        ..
    } = partition;
    let tail = match body.finish() {
        Ok(tail) => Bytes::from(tail),
        Err(error) => {
            metrics.error(ErrorType::Encoder);
            tracing::error!(%error, %prefix, "finishing the object failed");
            if let Some(multipart) = &multipart {
                uploader
                    .abort_multipart(&multipart.key, &multipart.upload_id)
                    .await;
            }
            finalize(finalizers, BatchStatus::Errored);
            return;
        }
    };
    let result = match multipart {
        None => {
            let key = settings.naming.key(&prefix, Utc::now());
            let result = uploader.put_object(&key, tail).await;
            if result.is_ok() {
                tracing::debug!(bucket = uploader.bucket(), %key, events, "object written");
            }
            result
        }
        Some(Multipart {
            key,
            upload_id,
            mut parts,
        }) => {
            let mut result = Ok(());
            if !tail.is_empty() || parts.is_empty() {
                let number = parts.len() as i32 + 1;
                match uploader.upload_part(&key, &upload_id, number, tail).await {
                    Ok(part) => parts.push(part),
                    Err(error) => result = Err(error),
                }
            }
            if result.is_ok() {
                let count = parts.len();
                result = uploader.complete_multipart(&key, &upload_id, parts).await;
                if result.is_ok() {
                    tracing::debug!(bucket = uploader.bucket(), %key, events, parts = count, "multipart object written");
                }
            }
            if result.is_err() {
                uploader.abort_multipart(&key, &upload_id).await;
            }
            result
        }
    };
    match result {
        Ok(()) => {
            metrics.sent_with_bytes(events, raw_bytes);
            finalize(finalizers, BatchStatus::Delivered);
        }
        Err(error) => {
            metrics.error(ErrorType::Request);
            tracing::error!(%error, events, "S3 write failed; its events are not delivered");
            finalize(finalizers, error_status(&error));
        }
    }
}

/// Events of an object that could not be written are `Errored`, whether the failure was
/// transient (retries ran out) or permanent (access denied, no such bucket): the events
/// themselves are fine, and a later attempt (or fixed credentials) can succeed. `Rejected` is
/// kept for events that can never be written as they are (an unrenderable key).
fn error_status(_error: &UploadError) -> BatchStatus {
    BatchStatus::Errored
}

fn finalize(finalizers: Vec<crate::ack::EventFinalizers>, status: BatchStatus) {
    for mut finalizer in finalizers {
        finalizer.finalize(status);
    }
}
