//! Sending one batch of records: encode the export request, compress it, post it with retries
//! (on [`crate::retry`]), and finalize the batch's events.
//!
//! | outcome | events |
//! | --- | --- |
//! | 200 | `Delivered`; a `partial_success` with rejected records is logged and counted (OTLP does not say which records, so the others count as delivered) |
//! | 429, 502, 503, 504, no answer | retried after `Retry-After` or the backoff; retries exhausted: `Errored` (a checkpointing source sends them again) |
//! | other statuses | `Rejected`, logged with the receiver's message |

use std::sync::Arc;

use bytes::Bytes;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use vrl::value::Value;

use super::client::{ExportError, OtlpClient};
use super::encoder::{LogRecordEncoder, WireFormat};
use crate::ack::{BatchStatus, EventFinalizers};
use crate::metrics::ComponentMetrics;
use crate::retry::{Backoff, Retries, Verdict, retry};

/// The metric counting records a receiver refused in a `partial_success`.
pub(super) const REJECTED_RECORDS_METRIC: &str = "otlp_rejected_log_records_total";

/// Records waiting to be sent, with their events' acknowledgement links.
#[derive(Debug)]
pub(super) struct RecordBatch {
    records: Records,
    /// Records in the batch.
    len: usize,
    /// Links of events `previous end..end` (consecutive events of one source batch share
    /// one set of links, see [`EventFinalizers::absorb`]).
    links: Vec<(usize, EventFinalizers)>,
    /// Encoded protobuf size of the records.
    bytes: usize,
}

/// The records of a batch, as the request's format needs them.
#[derive(Debug)]
enum Records {
    /// Written at once as `ScopeLogs.log_records` fields (protobuf bodies), straight from
    /// the events; with scratch space for the writer.
    Protobuf { encoded: Vec<u8>, sizes: Vec<usize> },
    /// Kept whole (OTLP/JSON bodies).
    Json(Vec<LogRecord>),
}

impl RecordBatch {
    /// An empty batch for a request body in `format`; protobuf records are written into
    /// `buffer` (emptied; its capacity kept).
    pub(super) fn new(format: WireFormat, mut buffer: Vec<u8>) -> Self {
        buffer.clear();
        let records = match format {
            WireFormat::Protobuf => Records::Protobuf {
                encoded: buffer,
                sizes: Vec::new(),
            },
            WireFormat::Json => Records::Json(Vec::new()),
        };
        Self {
            records,
            len: 0,
            links: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds the record of `event` (observed at `observed_unix_nano`) and its links.
    pub(super) fn push(
        &mut self,
        encoder: &LogRecordEncoder,
        event: &Value,
        observed_unix_nano: u64,
        finalizers: EventFinalizers,
    ) {
        match &mut self.records {
            Records::Protobuf { encoded, sizes } => {
                encoder.write_protobuf_record(
                    SCOPE_LOGS_RECORDS,
                    event,
                    observed_unix_nano,
                    sizes,
                    encoded,
                );
                self.bytes = encoded.len();
            }
            Records::Json(records) => {
                let record = encoder.record(event, observed_unix_nano);
                self.bytes += prost::Message::encoded_len(&record);
                records.push(record);
            }
        }
        self.len += 1;
        let end = self.len;
        let unabsorbed = match self.links.last_mut() {
            Some((last_end, links)) => links.absorb(finalizers).map(|()| *last_end = end),
            None => Err(finalizers),
        };
        if let Err(finalizers) = unabsorbed {
            self.links.push((end, finalizers));
        }
    }

    /// Records in the batch.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch is empty.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Encoded size of the records.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    fn finalize(links: Vec<(usize, EventFinalizers)>, status: BatchStatus) {
        let mut start = 0;
        for (end, mut links) in links {
            links.finalize_events(status, (end - start) as u64);
            start = end;
        }
    }
}

/// `ScopeLogs.log_records`.
const SCOPE_LOGS_RECORDS: u32 = 2;

/// What every request task shares.
#[derive(Debug)]
pub(super) struct Delivery {
    pub(super) client: OtlpClient,
    pub(super) encoder: LogRecordEncoder,
    pub(super) metrics: Arc<ComponentMetrics>,
    pub(super) retry_attempts: u64,
    pub(super) backoff: Backoff,
    /// `request.rate_limit_*`.
    pub(super) limiter: Option<Arc<crate::options::request::RateLimiter>>,
    /// The records buffer of a batch already compressed, for the next batch: a batch of
    /// megabytes grown from empty is copied at every doubling and faults its pages in anew
    /// (about 2% of the benchmark's CPU).
    pub(super) spare_buffer: std::sync::Mutex<Vec<u8>>,
}

impl Delivery {
    /// An empty batch for the next records, in the spare buffer if there is one.
    pub(super) fn new_batch(&self, format: WireFormat) -> RecordBatch {
        let buffer =
            std::mem::take(&mut *self.spare_buffer.lock().unwrap_or_else(|e| e.into_inner()));
        RecordBatch::new(format, buffer)
    }

    /// Keeps `buffer` for the next batch, unless a spare is already kept.
    fn return_buffer(&self, buffer: Vec<u8>) {
        let mut spare = self.spare_buffer.lock().unwrap_or_else(|e| e.into_inner());
        if spare.capacity() < buffer.capacity() {
            *spare = buffer;
        }
    }

    /// Sends `batch` until it is accepted, refused for good, or out of retries, and
    /// finalizes its events accordingly.
    pub(super) async fn send(self: Arc<Self>, batch: RecordBatch) {
        let count = batch.len();
        let RecordBatch {
            records,
            links,
            bytes,
            ..
        } = batch;
        let body = self.body(records);
        let mut retries = Retries::new(self.backoff.clone(), Some(self.retry_attempts));
        let policy = |error: &ExportError| error.verdict();
        let result = retry(
            &policy,
            &mut retries,
            || async {
                if let Some(limiter) = &self.limiter {
                    limiter.acquire().await;
                }
                self.client.export(body.clone()).await
            },
            |error, retry, delay| {
                tracing::warn!(%error, retry, ?delay, "export failed; retrying");
            },
        )
        .await;
        let status = match result {
            Ok(accepted) => {
                if accepted.rejected > 0 {
                    self.metrics
                        .add(REJECTED_RECORDS_METRIC, accepted.rejected.unsigned_abs());
                    tracing::warn!(
                        rejected = accepted.rejected,
                        records = count,
                        message = %accepted.message,
                        "opentelemetry: the receiver refused some records of a request (partial success); the others are delivered"
                    );
                }
                self.metrics.sent_with_bytes(count, bytes);
                BatchStatus::Delivered
            }
            Err(error) => {
                self.metrics.error(crate::metrics::ErrorType::Request);
                if error.verdict() == Verdict::Stop {
                    tracing::error!(%error, events = count, "the receiver refused a request; its events are rejected");
                    BatchStatus::Rejected
                } else {
                    tracing::error!(%error, events = count, "retries exhausted; events reported as errored");
                    BatchStatus::Errored
                }
            }
        };
        RecordBatch::finalize(links, status);
    }

    /// The export request carrying `records`, encoded and compressed.
    fn body(&self, records: Records) -> Bytes {
        use crate::options::compression::gzip_parts;
        let gzip = self.client.gzip();
        let body = match records {
            // Compressed from its two parts: the records are not copied behind the head.
            Records::Protobuf { encoded, .. } if gzip => {
                let head = self.encoder.protobuf_request_head(encoded.len());
                let body = Bytes::from(gzip_parts(&[&head, &encoded]));
                self.return_buffer(encoded);
                return body;
            }
            Records::Protobuf { encoded, .. } => {
                let body = self.encoder.protobuf_request(&encoded);
                self.return_buffer(encoded);
                body
            }
            Records::Json(records) => WireFormat::Json.encode(&self.encoder.request(records)),
        };
        if gzip {
            Bytes::from(gzip_parts(&[&body]))
        } else {
            Bytes::from(body)
        }
    }
}
