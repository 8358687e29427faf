//! HEC envelopes: each event becomes `{"event":…,"fields":…,"host":…,"index":…,"source":…,
//! "sourcetype":…,"time":…}` (event endpoint) or one line of encoded text (raw endpoint), and
//! batches hold these bytes with their events' acknowledgement links.
//!
//! Time (`time`, epoch seconds with millisecond precision, written as `1767225600.123`):
//! the `timestamp_key` field when it holds a timestamp (removed from the event, as Vector
//! does); otherwise an integer OCSF `time` (epoch milliseconds, kept in the event); otherwise
//! the current time, as Vector sends. `timestamp_key = ""` sends no `time`.

use std::borrow::Cow;

use vrl::path::{OwnedValuePath, parse_value_path};
use vrl::value::Value;

use super::EndpointTarget;
use crate::ack::{BatchStatus, EventFinalizers};
use crate::codecs::{EncodingCodec, EncodingConfig};
use crate::component::BuildError;
use crate::template::{Template, TemplateRenderError};

/// The metadata that the raw endpoint takes per request (query parameters), and so the key
/// batches are partitioned by. Always empty for the event endpoint (one partition).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RawMetadata {
    /// `index`
    pub index: Option<String>,
    /// `source`
    pub source: Option<String>,
    /// `sourcetype`
    pub sourcetype: Option<String>,
    /// `host`
    pub host: Option<String>,
}

/// The rendered templates of one event.
#[derive(Debug)]
pub(super) struct EventMetadata<'a> {
    index: Option<Cow<'a, str>>,
    source: Option<Cow<'a, str>>,
    sourcetype: Option<Cow<'a, str>>,
    /// Only computed for the raw endpoint (the event endpoint writes it from the event).
    host: Option<String>,
}

/// A template that could not be rendered, with the option it belongs to.
#[derive(Debug)]
pub(super) struct MetadataError {
    /// `index`, `source` or `sourcetype`.
    pub option: &'static str,
    /// Why.
    pub error: TemplateRenderError,
}

/// Turns events into HEC payload bytes.
#[derive(Debug)]
pub(super) struct HecEncoder {
    target: EndpointTarget,
    encoder: crate::codecs::Encoder,
    text: bool,
    index: Option<Template>,
    source: Option<Template>,
    sourcetype: Option<Template>,
    host_key: OwnedValuePath,
    timestamp_key: Option<OwnedValuePath>,
    indexed_fields: Vec<(String, OwnedValuePath)>,
    /// The zone of strftime specifiers in `index`/`source`/`sourcetype` (UTC).
    zone: vrl::compiler::TimeZone,
    /// Where those specifiers read the event's time (`log_schema.timestamp_key`).
    template_time_key: crate::template::TimeKey,
}

fn path(option: &str, text: &str) -> Result<OwnedValuePath, BuildError> {
    parse_value_path(text.strip_prefix('.').unwrap_or(text)).map_err(|error| {
        BuildError::field(option, format!("invalid field path `{text}`: {error}"))
            .help("write paths as in VRL, e.g. `actor.user.email_addr`")
    })
}

impl HecEncoder {
    /// Checks the paths and builds the encoder.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        target: EndpointTarget,
        encoding: &EncodingConfig,
        index: Option<Template>,
        source: Option<Template>,
        sourcetype: Option<Template>,
        host_key: &str,
        timestamp_key: &str,
        template_time_key: crate::template::TimeKey,
        indexed_fields: &[String],
    ) -> Result<Self, BuildError> {
        Ok(Self {
            target,
            encoder: encoding.build()?,
            text: encoding.codec == EncodingCodec::Text,
            index,
            source,
            sourcetype,
            host_key: path("host_key", host_key)?,
            zone: crate::template::parse_timezone("timezone", None)?,
            template_time_key,
            timestamp_key: if timestamp_key.is_empty() {
                None
            } else {
                Some(path("timestamp_key", timestamp_key)?)
            },
            indexed_fields: indexed_fields
                .iter()
                .map(|field| Ok((field.clone(), path("indexed_fields", field)?)))
                .collect::<Result<_, BuildError>>()?,
        })
    }

    /// Renders the routing templates for `event`.
    pub(super) fn metadata<'a>(
        &'a self,
        event: &Value,
    ) -> Result<EventMetadata<'a>, MetadataError> {
        let render = |option: &'static str, template: &'a Option<Template>| {
            template
                .as_ref()
                .map(|t| t.render_timed(event, &self.template_time_key, &self.zone))
                .transpose()
                .map_err(|error| MetadataError { option, error })
        };
        let host = match self.target {
            EndpointTarget::Event => None,
            EndpointTarget::Raw => event.get(&self.host_key).and_then(scalar_text),
        };
        Ok(EventMetadata {
            index: render("index", &self.index)?,
            source: render("source", &self.source)?,
            sourcetype: render("sourcetype", &self.sourcetype)?,
            host,
        })
    }

    /// The batch an event with `metadata` belongs to.
    pub(super) fn partition_key(&self, metadata: &EventMetadata<'_>) -> RawMetadata {
        match self.target {
            EndpointTarget::Event => RawMetadata::default(),
            EndpointTarget::Raw => RawMetadata {
                index: metadata.index.as_deref().map(str::to_owned),
                source: metadata.source.as_deref().map(str::to_owned),
                sourcetype: metadata.sourcetype.as_deref().map(str::to_owned),
                host: metadata.host.clone(),
            },
        }
    }

    /// Appends the payload of one event (with its trailing newline) to `out`.
    pub(super) fn encode(
        &self,
        event: &mut Value,
        metadata: &EventMetadata<'_>,
        out: &mut Vec<u8>,
    ) {
        if self.target == EndpointTarget::Raw {
            self.encoder.encode(event, out);
            out.push(b'\n');
            return;
        }
        let time_ms = self.time_ms(event);
        out.extend_from_slice(b"{\"event\":");
        if self.text {
            let start = out.len();
            self.encoder.encode(event, out);
            let text = out.split_off(start);
            write_json_str(out, &String::from_utf8_lossy(&text));
        } else {
            self.encoder.encode(event, out);
        }
        let mut wrote_fields = false;
        for (name, path) in &self.indexed_fields {
            let Some(value) = event.get(path) else {
                continue;
            };
            out.extend_from_slice(if wrote_fields { b"," } else { b",\"fields\":{" });
            wrote_fields = true;
            write_json_str(out, name);
            out.push(b':');
            write_json_value(out, value);
        }
        if wrote_fields {
            out.push(b'}');
        }
        if let Some(host) = event.get(&self.host_key) {
            match host {
                Value::Bytes(bytes) => {
                    out.extend_from_slice(b",\"host\":");
                    write_json_str(out, &String::from_utf8_lossy(bytes));
                }
                other => {
                    if let Some(text) = scalar_text(other) {
                        out.extend_from_slice(b",\"host\":");
                        write_json_str(out, &text);
                    }
                }
            }
        }
        for (name, value) in [
            ("index", &metadata.index),
            ("source", &metadata.source),
            ("sourcetype", &metadata.sourcetype),
        ] {
            if let Some(value) = value {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
                write_json_str(out, value);
            }
        }
        if let Some(ms) = time_ms {
            out.extend_from_slice(b",\"time\":");
            write_epoch_millis_as_seconds(out, ms);
        }
        out.extend_from_slice(b"}\n");
    }

    /// The envelope time in epoch milliseconds (see the module documentation).
    fn time_ms(&self, event: &mut Value) -> Option<i64> {
        let key = self.timestamp_key.as_ref()?;
        if let Some(Value::Timestamp(timestamp)) = event.get(key) {
            let ms = timestamp.timestamp_millis();
            event.remove(key, false);
            return Some(ms);
        }
        if let Some(ms) = crate::ocsf::event_time_millis(event) {
            return Some(ms);
        }
        Some(chrono::Utc::now().timestamp_millis())
    }
}

/// The text of a scalar value (for `host` and the raw endpoint's query parameters).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::Null | Value::Object(_) | Value::Array(_) => None,
        other => Some(other.to_string_lossy().into_owned()),
    }
}

fn write_json_str(out: &mut Vec<u8>, text: &str) {
    // Writing into a Vec cannot fail.
    let result = serde_json::to_writer(&mut *out, text);
    debug_assert!(result.is_ok());
}

fn write_json_value(out: &mut Vec<u8>, value: &Value) {
    let result = serde_json::to_writer(&mut *out, value);
    debug_assert!(result.is_ok());
}

/// Writes `ms` epoch milliseconds as epoch seconds with exactly three decimals
/// (`1767225600123` → `1767225600.123`), with no floating-point rounding.
pub(super) fn write_epoch_millis_as_seconds(out: &mut Vec<u8>, ms: i64) {
    use std::io::Write;
    let sign = if ms < 0 { "-" } else { "" };
    let magnitude = ms.unsigned_abs();
    let result = write!(out, "{sign}{}.{:03}", magnitude / 1000, magnitude % 1000);
    debug_assert!(result.is_ok());
}

/// Encoded events waiting to be sent together, with their acknowledgement links.
///
/// The links are kept per run of consecutive events that carry the same ones, not per event:
/// a source emits a batch of events with one notifier, so a batch of a thousand events
/// usually needs a few dozen links rather than a thousand (24 bytes each, held for as long as
/// Splunk takes to acknowledge).
#[derive(Debug)]
pub(super) struct EncodedBatch {
    key: RawMetadata,
    body: Vec<u8>,
    /// End offset in `body` of each event.
    ends: Vec<usize>,
    /// `(end, links)`: the links of events `previous end..end`; ends increase strictly and
    /// the last is `ends.len()`.
    runs: Vec<(usize, EventFinalizers)>,
}

impl EncodedBatch {
    /// An empty batch for partition `key`.
    pub(super) fn new(key: RawMetadata) -> Self {
        Self {
            key,
            body: Vec::new(),
            ends: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// The partition (raw endpoint metadata).
    pub(super) fn key(&self) -> &RawMetadata {
        &self.key
    }

    /// Encoded bytes (before compression).
    pub(super) fn bytes(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    /// Number of events.
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no events.
    pub(super) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Number of acknowledgement links held (one per run of events with the same links).
    #[cfg(test)]
    pub(super) fn links(&self) -> usize {
        self.runs.len()
    }

    /// Heap bytes the batch holds: the payload (while it is here) and the bookkeeping, by
    /// capacity, which is what is allocated.
    pub(super) fn held_bytes(&self) -> usize {
        let text = |field: &Option<String>| field.as_ref().map_or(0, String::capacity);
        self.body.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.runs.capacity() * std::mem::size_of::<(usize, EventFinalizers)>()
            + text(&self.key.index)
            + text(&self.key.source)
            + text(&self.key.sourcetype)
            + text(&self.key.host)
    }

    /// Gives back the bookkeeping's spare capacity (vectors grow by doubling while events
    /// arrive), once the batch is complete and may wait a long time for its acknowledgement.
    pub(super) fn shrink_to_fit(&mut self) {
        self.ends.shrink_to_fit();
        self.runs.shrink_to_fit();
    }

    /// The payload (empty after [`take_body`](Self::take_body) until
    /// [`restore_body`](Self::restore_body)).
    pub(super) fn body(&self) -> &[u8] {
        &self.body
    }

    /// Appends one event, written by `write`.
    pub(super) fn push_with(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>),
        finalizers: EventFinalizers,
    ) {
        write(&mut self.body);
        self.ends.push(self.body.len());
        self.push_links(finalizers);
    }

    /// Records the links of the event just added to `ends`.
    fn push_links(&mut self, finalizers: EventFinalizers) {
        let end = self.ends.len();
        let finalizers = match self.runs.last_mut() {
            // Every event of a run gets the same fate (the whole batch is finalized at once,
            // and an event finalized alone is first given links of its own): see `absorb`.
            Some((run_end, links)) => match links.absorb(finalizers) {
                Ok(()) => {
                    *run_end = end;
                    return;
                }
                Err(finalizers) => finalizers,
            },
            None => finalizers,
        };
        self.runs.push((end, finalizers));
    }

    fn start(&self, index: usize) -> usize {
        if index == 0 { 0 } else { self.ends[index - 1] }
    }

    /// Takes the links of the event at `index` (which must exist) out of its run, leaving
    /// the run one event shorter: the run's own links when it held only this event, a copy
    /// otherwise (the batch then reports the run's fate and the caller this event's).
    fn take_links(&mut self, index: usize) -> EventFinalizers {
        let run = self.runs.partition_point(|(end, _)| *end <= index);
        let run_start = if run == 0 { 0 } else { self.runs[run - 1].0 };
        let links = if self.runs[run].0 - run_start == 1 {
            self.runs.remove(run).1
        } else {
            self.runs[run].1.clone()
        };
        // The run (if it is still there) and every later one end one event earlier.
        for later in &mut self.runs[run..] {
            later.0 -= 1;
        }
        links
    }

    /// Moves the last event into a new batch of the same partition.
    pub(super) fn split_off_last(&mut self) -> EncodedBatch {
        let mut last = EncodedBatch::new(self.key.clone());
        if self.is_empty() {
            return last;
        }
        let finalizers = self.take_links(self.len() - 1);
        self.ends.pop();
        let bytes = self.body.split_off(self.bytes());
        last.push_with(|out| out.extend_from_slice(&bytes), finalizers);
        last
    }

    /// Takes the event at `index` out of the batch, returning its finalizers.
    pub(super) fn remove(&mut self, index: usize) -> Option<EventFinalizers> {
        if index >= self.len() {
            return None;
        }
        let finalizers = self.take_links(index);
        let (start, end) = (self.start(index), self.ends[index]);
        let width = end - start;
        self.body.drain(start..end);
        self.ends.remove(index);
        for end in &mut self.ends[index..] {
            *end -= width;
        }
        Some(finalizers)
    }

    /// Splits into the first `mid` events and the rest.
    pub(super) fn split_at(mut self, mid: usize) -> (EncodedBatch, EncodedBatch) {
        let mid = mid.min(self.len());
        let cut = self.start(mid);
        let mut rest = EncodedBatch::new(self.key.clone());
        rest.body = self.body.split_off(cut);
        rest.ends = self
            .ends
            .split_off(mid)
            .into_iter()
            .map(|e| e - cut)
            .collect();
        // Runs ending after `mid` go to the rest; one that straddles `mid` is in both halves,
        // each with links of its own.
        let first_after = self.runs.partition_point(|(end, _)| *end <= mid);
        rest.runs = self
            .runs
            .split_off(first_after)
            .into_iter()
            .map(|(end, links)| (end - mid, links))
            .collect();
        let straddles = self.runs.last().map_or(0, |(end, _)| *end) < mid;
        if straddles && let Some((_, links)) = rest.runs.first() {
            self.runs.push((mid, links.clone()));
        }
        (self, rest)
    }

    /// Moves the payload out (to become a request body).
    pub(super) fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// Whether the payload has been taken.
    pub(super) fn body_taken(&self) -> bool {
        self.body.len() != self.bytes()
    }

    /// Puts back the payload taken by [`take_body`](Self::take_body).
    pub(super) fn restore_body(&mut self, body: Vec<u8>) {
        debug_assert_eq!(body.len(), self.bytes());
        self.body = body;
    }

    /// Finalizes every event with `status` (each run's links report its events' count).
    pub(super) fn finalize(self, status: BatchStatus) {
        let mut run_start = 0;
        for (run_end, mut finalizers) in self.runs {
            finalizers.finalize_events(status, (run_end - run_start) as u64);
            run_start = run_end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::{BatchNotifier, BatchStatusReceiver};
    use crate::codecs::EncodingCodec;
    use crate::template::TimeKey;
    use futures::FutureExt;

    fn value(json: serde_json::Value) -> Value {
        serde_json::from_value(json).expect("a JSON value is a VRL value")
    }

    fn encoding(codec: EncodingCodec) -> EncodingConfig {
        EncodingConfig {
            codec,
            json: Default::default(),
            only_fields: None,
            except_fields: None,
            timestamp_format: Default::default(),
            message_key: None,
        }
    }

    fn encode(encoder: &HecEncoder, mut event: Value) -> serde_json::Value {
        let metadata = encoder.metadata(&event.clone()).unwrap();
        let mut out = Vec::new();
        encoder.encode(&mut event, &metadata, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn ocsf_time_becomes_seconds_with_milliseconds_and_stays_in_the_event() {
        let encoder = HecEncoder::new(
            EndpointTarget::Event,
            &encoding(EncodingCodec::Json),
            Some(Template::parse("ocsf_{{ class_uid }}").unwrap()),
            None,
            Some(Template::parse("ocsf:conductorone").unwrap()),
            "device.hostname",
            "timestamp",
            TimeKey::default(),
            &["class_uid".to_owned(), "missing".to_owned()],
        )
        .unwrap();
        let envelope = encode(
            &encoder,
            value(serde_json::json!({
                "time": 1767225600123_i64, "class_uid": 6003,
                "device": {"hostname": "c1.example"}
            })),
        );
        assert_eq!(
            envelope,
            serde_json::json!({
                "event": {"time": 1767225600123_i64, "class_uid": 6003, "device": {"hostname": "c1.example"}},
                "fields": {"class_uid": 6003},
                "host": "c1.example",
                "index": "ocsf_6003",
                "sourcetype": "ocsf:conductorone",
                "time": 1767225600.123
            })
        );
    }

    #[test]
    fn a_timestamp_field_wins_and_is_removed_and_an_empty_key_sends_no_time() {
        let make = |key: &str| {
            HecEncoder::new(
                EndpointTarget::Event,
                &encoding(EncodingCodec::Json),
                None,
                None,
                None,
                "host",
                key,
                TimeKey::default(),
                &[],
            )
            .unwrap()
        };
        let ts = chrono::DateTime::from_timestamp_millis(1767225600005).unwrap();
        let mut event = value(serde_json::json!({"time": 1, "message": "x"}));
        event
            .as_object_mut()
            .unwrap()
            .insert("timestamp".into(), Value::Timestamp(ts));
        let envelope = encode(&make("timestamp"), event.clone());
        assert_eq!(envelope["time"], serde_json::json!(1767225600.005));
        assert_eq!(
            envelope["event"],
            serde_json::json!({"time": 1, "message": "x"})
        );
        let envelope = encode(&make(""), event);
        assert!(envelope.get("time").is_none(), "{envelope}");
    }

    #[test]
    fn text_codec_sends_the_message_as_a_string() {
        let encoder = HecEncoder::new(
            EndpointTarget::Event,
            &encoding(EncodingCodec::Text),
            None,
            None,
            None,
            "host",
            "timestamp",
            TimeKey::default(),
            &[],
        )
        .unwrap();
        let envelope = encode(
            &encoder,
            value(serde_json::json!({"message": "he said \"hi\"", "host": "h1", "time": 2000})),
        );
        assert_eq!(envelope["event"], "he said \"hi\"");
        assert_eq!(envelope["host"], "h1");
        assert_eq!(envelope["time"], serde_json::json!(2.0));
    }

    #[test]
    fn negative_and_small_times_keep_three_decimals() {
        for (ms, text) in [
            (0, "0.000"),
            (7, "0.007"),
            (-1, "-0.001"),
            (-1500, "-1.500"),
            (1234, "1.234"),
        ] {
            let mut out = Vec::new();
            write_epoch_millis_as_seconds(&mut out, ms);
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }

    #[test]
    fn batches_remove_and_split_events_with_their_offsets() {
        let mut batch = EncodedBatch::new(RawMetadata::default());
        for text in ["aa\n", "bbb\n", "c\n", "dddd\n"] {
            batch.push_with(
                |out| out.extend_from_slice(text.as_bytes()),
                EventFinalizers::default(),
            );
        }
        assert_eq!(batch.bytes(), 14);
        assert!(batch.remove(1).is_some());
        assert_eq!(batch.body(), b"aa\nc\ndddd\n");
        let last = batch.split_off_last();
        assert_eq!(last.body(), b"dddd\n");
        assert_eq!(batch.body(), b"aa\nc\n");
        let (left, right) = batch.split_at(1);
        assert_eq!((left.body(), right.body()), (&b"aa\n"[..], &b"c\n"[..]));
        assert_eq!(right.bytes(), 2);
    }

    /// A source batch's receiver and its status once reported.
    type Watched = (BatchStatusReceiver, Option<BatchStatus>);

    /// `events` one-line events, from source batches of `per_source` events each (one
    /// notifier per source batch, as sources create them), and each source batch's receiver.
    fn linked_batch(events: usize, per_source: usize) -> (EncodedBatch, Vec<Watched>) {
        let mut batch = EncodedBatch::new(RawMetadata::default());
        let mut receivers = Vec::new();
        let mut notifier = None;
        for i in 0..events {
            if i % per_source == 0 {
                let (next, receiver) = BatchNotifier::new();
                notifier = Some(next);
                receivers.push((receiver, None));
            }
            let link = notifier.as_ref().map(BatchNotifier::finalizer);
            batch.push_with(
                |out| out.extend_from_slice(format!("event {i}\n").as_bytes()),
                link.map(EventFinalizers::new).unwrap_or_default(),
            );
        }
        (batch, receivers)
    }

    /// Each source batch's status, if reported by now (a receiver is not polled once done).
    fn statuses(receivers: &mut [Watched]) -> Vec<Option<BatchStatus>> {
        receivers
            .iter_mut()
            .map(|(receiver, status)| {
                if status.is_none() {
                    *status = receiver.now_or_never();
                }
                *status
            })
            .collect()
    }

    #[test]
    fn events_of_one_source_batch_share_one_link_and_one_can_be_rejected_alone() {
        let (mut batch, mut receivers) = linked_batch(10, 4);
        assert_eq!(batch.links(), 3, "one link per source batch, not per event");
        let mut rejected = batch.remove(5).expect("event 5 exists");
        assert_eq!(
            batch.body(),
            b"event 0\nevent 1\nevent 2\nevent 3\nevent 4\nevent 6\nevent 7\nevent 8\nevent 9\n"
        );
        rejected.finalize(BatchStatus::Rejected);
        // The rest of its source batch is still in the batch: nothing is reported yet.
        assert_eq!(statuses(&mut receivers), [None, None, None]);
        batch.finalize(BatchStatus::Delivered);
        assert_eq!(
            statuses(&mut receivers),
            [
                Some(BatchStatus::Delivered),
                Some(BatchStatus::Rejected),
                Some(BatchStatus::Delivered)
            ]
        );
    }

    #[test]
    fn a_split_inside_a_source_batch_leaves_it_waiting_for_both_halves() {
        let (batch, mut receivers) = linked_batch(8, 4);
        let (first, second) = batch.split_at(6);
        assert_eq!((first.links(), second.links()), (2, 1));
        assert_eq!(second.body(), b"event 6\nevent 7\n");
        first.finalize(BatchStatus::Delivered);
        assert_eq!(
            statuses(&mut receivers),
            [Some(BatchStatus::Delivered), None]
        );
        second.finalize(BatchStatus::Errored);
        assert_eq!(statuses(&mut receivers)[1], Some(BatchStatus::Errored));
    }

    #[test]
    fn the_last_event_split_off_keeps_its_own_link() {
        let (mut batch, mut receivers) = linked_batch(6, 3);
        let last = batch.split_off_last();
        assert_eq!((batch.links(), last.links(), last.len()), (2, 1, 1));
        batch.finalize(BatchStatus::Delivered);
        assert_eq!(
            statuses(&mut receivers),
            [Some(BatchStatus::Delivered), None]
        );
        last.finalize(BatchStatus::Rejected);
        assert_eq!(statuses(&mut receivers)[1], Some(BatchStatus::Rejected));
        // An event alone in its run moves its link rather than copying it.
        let (mut batch, _receivers) = linked_batch(4, 3);
        let last = batch.split_off_last();
        assert_eq!((batch.links(), last.links()), (1, 1));
    }
}
