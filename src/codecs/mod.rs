//! Encoding events to bytes and decoding bytes to events (Vector's `encoding` / `decoding`).

pub(crate) mod json;
pub(crate) mod parquet;

use bytes::Bytes;
use serde::Deserialize;
use vrl::path::{OwnedValuePath, parse_value_path};
use vrl::value::{KeyString, ObjectMap, Value};

use crate::component::BuildError;

/// `decoding.codec` of a source.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DecodingCodec {
    /// Each frame becomes `{ "message": "<the bytes>" }` (Vector's default).
    #[default]
    Bytes,
    /// Each frame is a JSON object, which becomes the event itself.
    Json,
}

/// `decoding` options of a source.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DecodingConfig {
    /// How frames become events. Default `bytes`.
    #[serde(default)]
    pub codec: DecodingCodec,
    /// `json` codec options.
    #[serde(default)]
    pub json: JsonDecodingOptions,
    /// Where the `bytes` codec puts a frame: the global `log_schema.message_key` (not an
    /// option of the table; `None` is `message`).
    #[serde(skip)]
    pub message_key: Option<String>,
}

/// `decoding.json.*` (Vector's).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JsonDecodingOptions {
    /// Replace invalid UTF-8 sequences with U+FFFD instead of failing the line. Default
    /// `true`, as in Vector.
    #[serde(default = "crate::options::default_true")]
    pub lossy: bool,
}

impl Default for JsonDecodingOptions {
    fn default() -> Self {
        Self { lossy: true }
    }
}

/// A source's checked `decoding` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoder {
    codec: DecodingCodec,
    lossy: bool,
    /// A `message` field other than the default one (`bytes` codec).
    message_key: Option<OwnedValuePath>,
}

impl DecodingConfig {
    /// The decoder these options describe (`message_key` was checked with the global
    /// options).
    pub fn decoder(&self) -> Decoder {
        let message_key = self
            .message_key
            .as_deref()
            .filter(|key| *key != crate::config::globals::MESSAGE_KEY)
            .and_then(|key| crate::config::globals::field_path(key).ok());
        Decoder {
            codec: self.codec,
            lossy: self.json.lossy,
            message_key,
        }
    }
}

impl Decoder {
    /// Whether a frame is the event's JSON text itself (so its length is the event's JSON
    /// size).
    pub fn is_json(&self) -> bool {
        self.codec == DecodingCodec::Json
    }

    /// Decodes one frame; with `json.lossy`, a frame that is not valid UTF-8 is read again
    /// with its invalid sequences replaced.
    pub fn decode(&self, frame: &Bytes) -> Result<Value, DecodeError> {
        if let (DecodingCodec::Bytes, Some(path)) = (self.codec, &self.message_key) {
            let mut event = Value::Object(ObjectMap::new());
            event.insert(path, Value::Bytes(frame.clone()));
            return Ok(event);
        }
        match self.codec.decode(frame) {
            Err(DecodeError::Json(_)) if self.lossy && std::str::from_utf8(frame).is_err() => {
                let repaired = Bytes::from(String::from_utf8_lossy(frame).into_owned());
                self.codec.decode(&repaired)
            }
            result => result,
        }
    }
}

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The frame is not JSON.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The frame is JSON but not an object.
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
}

impl DecodingCodec {
    /// Decodes one frame. The event shares the frame's memory (see [`json`]).
    pub fn decode(self, frame: &Bytes) -> Result<Value, DecodeError> {
        match self {
            Self::Bytes => {
                let mut object = ObjectMap::new();
                object.insert(KeyString::from("message"), Value::Bytes(frame.clone()));
                Ok(Value::Object(object))
            }
            Self::Json => match json::from_bytes(frame)? {
                value @ Value::Object(_) => Ok(value),
                other => Err(DecodeError::NotAnObject(json_kind(&other))),
            },
        }
    }
}

/// The JSON kind of a decoded non-object value, for messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "an array",
        Value::Null => "null",
        Value::Boolean(_) => "a boolean",
        Value::Integer(_) | Value::Float(_) => "a number",
        _ => "a string",
    }
}

/// `framing` options (of sources and sinks).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FramingConfig {
    /// Only `newline_delimited`.
    pub method: FramingMethod,
}

/// Supported framings.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FramingMethod {
    /// One event per line (`\n`, with an optional `\r` before it).
    NewlineDelimited,
}

/// Frames (lines) read from an input: slices of the buffer they were read into, so reading
/// costs one copy and one allocation per read, whatever the number of lines. Decoded later,
/// on whichever core is free.
#[derive(Debug, Default)]
pub struct FrameBatch {
    data: Bytes,
    /// Start and end offsets in `data`, and line number, of each frame.
    frames: Vec<(usize, usize, u64)>,
}

impl FrameBatch {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Each frame with its line number; the frames share one buffer.
    pub fn into_frames(self) -> impl Iterator<Item = (Bytes, u64)> {
        let data = self.data;
        self.frames
            .into_iter()
            .map(move |(start, end, line)| (data.slice(start..end), line))
    }
}

/// Splits a byte stream into [`FrameBatch`]es of newline-delimited frames (`\n`, with an
/// optional `\r` before it). Blank lines are skipped; lines longer than `max_length` are
/// skipped, logged and counted.
pub(crate) struct LineFramer<R> {
    reader: R,
    /// The last buffer read, frozen, and its complete lines not yet handed out.
    buffer: Bytes,
    ready: std::collections::VecDeque<(usize, usize, u64)>,
    /// The unfinished last line of the previous read.
    partial: Vec<u8>,
    line_number: u64,
    max_length: usize,
    /// Lines skipped for being longer than `max_length`.
    pub too_long: u64,
    /// Inside a line already longer than `max_length`, discarding until its end.
    skipping: bool,
    eof: bool,
    /// Reads one [`next_batch`](Self::next_batch) call makes at most.
    max_reads: usize,
}

/// Bytes asked of the reader per read.
const READ_SIZE: usize = 64 * 1024;

/// One `read` into `buf`, retrying a read interrupted by a signal.
pub(crate) fn read_retrying(
    reader: &mut impl std::io::Read,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// One read of at most `want` bytes appended to `data` (whose spare room grows as a `Vec`
/// does, so appending to a long unfinished record costs no copy of it). The bytes read: 0 at
/// end of input.
pub(crate) fn read_appending(
    reader: &mut impl std::io::Read,
    data: &mut Vec<u8>,
    want: usize,
) -> std::io::Result<usize> {
    let filled = data.len();
    data.resize(filled + want, 0);
    let read = read_retrying(reader, &mut data[filled..]);
    data.truncate(filled + *read.as_ref().unwrap_or(&0));
    read
}

impl<R: std::io::Read> LineFramer<R> {
    /// A framer over `reader`.
    pub(crate) fn new(reader: R, max_length: usize) -> Self {
        Self {
            reader,
            buffer: Bytes::new(),
            ready: std::collections::VecDeque::new(),
            partial: Vec::new(),
            line_number: 0,
            max_length,
            too_long: 0,
            skipping: false,
            eof: false,
            max_reads: usize::MAX,
        }
    }

    /// Makes [`next_batch`](Self::next_batch) read at most `reads` times (at least once) and
    /// return an empty batch if no line was complete by then: a caller on an async runtime
    /// is then never held long by a run of blank or overlong lines. Default: no limit.
    pub(crate) fn with_max_reads_per_batch(mut self, reads: usize) -> Self {
        self.max_reads = reads.max(1);
        self
    }

    /// The reader (for example to ask it how much it has read).
    pub(crate) fn get_ref(&self) -> &R {
        &self.reader
    }

    /// Lines read so far.
    pub(crate) fn lines(&self) -> u64 {
        self.line_number
    }

    /// The next batch of at most `max_frames` frames: from what is already buffered, or from
    /// one more read (so interactive input is never held back waiting for a full batch).
    /// `None` at end of input; an empty batch when the read limit
    /// ([`with_max_reads_per_batch`](Self::with_max_reads_per_batch)) came first.
    pub(crate) fn next_batch(&mut self, max_frames: usize) -> std::io::Result<Option<FrameBatch>> {
        let mut reads = 0;
        while self.ready.is_empty() {
            if self.eof {
                return Ok(None);
            }
            if reads == self.max_reads {
                return Ok(Some(FrameBatch {
                    data: Bytes::new(),
                    frames: Vec::new(),
                }));
            }
            self.read_more()?;
            reads += 1;
        }
        let count = self.ready.len().min(max_frames);
        Ok(Some(FrameBatch {
            data: self.buffer.clone(),
            frames: self.ready.drain(..count).collect(),
        }))
    }

    /// Reads once, after the unfinished line of the previous read, into the buffer that holds
    /// it; the buffer's complete lines become ready.
    ///
    /// The unfinished line is never copied while it grows: new bytes go after it in the same
    /// buffer, which grows by doubling, so a line of any length costs time linear in its
    /// length (copying it into a fresh buffer at each read was quadratic in the line's
    /// length). Only the start of a line that began in this read is copied.
    fn read_more(&mut self) -> std::io::Result<()> {
        let mut data = std::mem::take(&mut self.partial);
        let filled = data.len();
        self.eof = read_appending(&mut self.reader, &mut data, READ_SIZE)? == 0;
        let mut ready = std::mem::take(&mut self.ready);
        let mut newlines = memchr::memchr_iter(b'\n', &data[filled..]).map(|at| filled + at);
        let mut line_start = 0;
        if self.skipping {
            // The rest of a line already known to be too long: discard up to its end.
            match newlines.next() {
                Some(end) => line_start = end + 1,
                None if !self.eof => {
                    self.ready = ready;
                    return Ok(());
                }
                None => line_start = data.len(),
            }
            self.skipping = false;
            self.skip_long_line(None);
        }
        for end in newlines {
            self.frame(&data, line_start, end, &mut ready);
            line_start = end + 1;
        }
        if self.eof && line_start < data.len() {
            // A last line without a newline.
            let end = data.len();
            self.frame(&data, line_start, end, &mut ready);
            line_start = end;
        }
        if data.len() - line_start > self.max_length {
            // Do not buffer a line that will be skipped anyway: memory stays bounded.
            self.skipping = true;
        } else if line_start == 0 {
            // No line ended in this read: the whole buffer is the unfinished line.
            self.partial = data;
            self.ready = ready;
            return Ok(());
        } else {
            self.partial.extend_from_slice(&data[line_start..]);
        }
        data.truncate(line_start);
        self.buffer = Bytes::from(data);
        self.ready = ready;
        Ok(())
    }

    fn skip_long_line(&mut self, bytes: Option<usize>) {
        self.line_number += 1;
        self.too_long += 1;
        tracing::warn!(
            line = self.line_number,
            bytes,
            max_length = self.max_length,
            "line longer than max_length skipped"
        );
    }

    fn frame(
        &mut self,
        data: &[u8],
        start: usize,
        end: usize,
        ready: &mut std::collections::VecDeque<(usize, usize, u64)>,
    ) {
        let end = if end > start && data[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        let line = &data[start..end];
        if line.len() > self.max_length {
            self.skip_long_line(Some(line.len()));
            return;
        }
        self.line_number += 1;
        if !line.iter().all(u8::is_ascii_whitespace) {
            ready.push_back((start, end, self.line_number));
        }
    }
}

/// `encoding.codec` of a sink.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EncodingCodec {
    /// The event as one line of JSON.
    #[default]
    Json,
    /// The event's `message` field as text (events without one are written as JSON, so
    /// nothing is silently emptied).
    Text,
}

/// `encoding.json` options.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JsonEncodingOptions {
    /// Pretty-print (multi-line) JSON. Default `false`.
    #[serde(default)]
    pub pretty: bool,
}

/// `encoding` options of a sink (Vector's names).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EncodingConfig {
    /// `json` or `text`. Required, as in Vector.
    pub codec: EncodingCodec,
    /// JSON options.
    #[serde(default)]
    pub json: JsonEncodingOptions,
    /// Keep only these top-level fields.
    #[serde(default)]
    pub only_fields: Option<Vec<String>>,
    /// Remove these top-level fields.
    #[serde(default)]
    pub except_fields: Option<Vec<String>>,
    /// How timestamps are written (Vector's option). Default `rfc3339`.
    #[serde(default)]
    pub timestamp_format: TimestampFormat,
    /// The field the `text` codec writes: the global `log_schema.message_key` (not an option
    /// of the table; `None` is `message`).
    #[serde(skip)]
    pub message_key: Option<String>,
}

/// `encoding.timestamp_format`: how a timestamp value is written.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// An RFC 3339 string (`2026-01-01T00:00:00.123Z`).
    #[default]
    Rfc3339,
    /// Whole seconds since the epoch.
    Unix,
    /// Milliseconds since the epoch.
    UnixMs,
    /// Microseconds since the epoch.
    UnixUs,
    /// Nanoseconds since the epoch.
    UnixNs,
    /// Seconds since the epoch with a fraction.
    UnixFloat,
}

impl TimestampFormat {
    /// `value` with every timestamp in it (at any depth) written in this format.
    fn apply(self, value: &mut Value) {
        match value {
            Value::Timestamp(at) => {
                let at = *at;
                *value = match self {
                    Self::Rfc3339 => return,
                    Self::Unix => Value::Integer(at.timestamp()),
                    Self::UnixMs => Value::Integer(at.timestamp_millis()),
                    Self::UnixUs => Value::Integer(at.timestamp_micros()),
                    // Past 2262 nanoseconds overflow an i64: microseconds × 1000 saturate.
                    Self::UnixNs => Value::Integer(
                        at.timestamp_nanos_opt()
                            .unwrap_or_else(|| at.timestamp_micros().saturating_mul(1000)),
                    ),
                    Self::UnixFloat => {
                        let seconds = at.timestamp_micros() as f64 / 1e6;
                        Value::from_f64_or_zero(seconds)
                    }
                };
            }
            Value::Object(fields) => fields.values_mut().for_each(|field| self.apply(field)),
            Value::Array(items) => items.iter_mut().for_each(|item| self.apply(item)),
            _ => {}
        }
    }
}

impl EncodingConfig {
    /// Checks the field paths and returns the encoder.
    pub fn build(&self) -> Result<Encoder, BuildError> {
        let message_key = self
            .message_key
            .as_deref()
            .unwrap_or(crate::config::globals::MESSAGE_KEY);
        Ok(Encoder {
            codec: self.codec,
            pretty: self.json.pretty,
            fields: FieldSelection::parse("encoding", &self.only_fields, &self.except_fields)?,
            timestamp_format: self.timestamp_format,
            message_key: crate::config::globals::field_path(message_key)
                .map_err(|message| BuildError::field("log_schema.message_key", message))?,
        })
    }
}

/// `only_fields` / `except_fields`: which parts of an event a sink writes (Vector's options).
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldSelection {
    only_fields: Option<Vec<OwnedValuePath>>,
    except_fields: Option<Vec<OwnedValuePath>>,
}

impl FieldSelection {
    /// Parses the two options of table `table` (for the error's option name).
    pub(crate) fn parse(
        table: &str,
        only_fields: &Option<Vec<String>>,
        except_fields: &Option<Vec<String>>,
    ) -> Result<Self, BuildError> {
        let parse = |option: &str,
                     fields: &Option<Vec<String>>|
         -> Result<Option<Vec<OwnedValuePath>>, BuildError> {
            fields
                .as_ref()
                .map(|fields| {
                    fields
                        .iter()
                        .map(|field| {
                            parse_value_path(field).map_err(|error| {
                                BuildError::field(
                                    format!("{table}.{option}"),
                                    format!("invalid field path `{field}`: {error}"),
                                )
                                .help(
                                    "write paths as in VRL without the leading dot: `metadata.uid`",
                                )
                            })
                        })
                        .collect()
                })
                .transpose()
        };
        Ok(Self {
            only_fields: parse("only_fields", only_fields)?,
            except_fields: parse("except_fields", except_fields)?,
        })
    }

    /// `value` with only the chosen fields (borrowed as is when no option is set).
    pub(crate) fn apply<'a>(&self, value: &'a Value) -> std::borrow::Cow<'a, Value> {
        if self.only_fields.is_none() && self.except_fields.is_none() {
            return std::borrow::Cow::Borrowed(value);
        }
        let mut result = match &self.only_fields {
            Some(only) => {
                let mut kept = Value::Object(ObjectMap::new());
                for path in only {
                    if let Some(field) = value.get(path) {
                        kept.insert(path, field.clone());
                    }
                }
                kept
            }
            None => value.clone(),
        };
        for path in self.except_fields.iter().flatten() {
            result.remove(path, false);
        }
        std::borrow::Cow::Owned(result)
    }
}

/// A configured encoder.
#[derive(Clone, Debug)]
pub struct Encoder {
    codec: EncodingCodec,
    pretty: bool,
    fields: FieldSelection,
    timestamp_format: TimestampFormat,
    /// The field the `text` codec writes.
    message_key: OwnedValuePath,
}

impl Encoder {
    /// Appends `value`, encoded, to `out` (without a frame delimiter).
    pub fn encode(&self, value: &Value, out: &mut Vec<u8>) {
        let mut value = self.fields.apply(value);
        if self.timestamp_format != TimestampFormat::Rfc3339 {
            self.timestamp_format.apply(value.to_mut());
        }
        let value = value.as_ref();
        if self.codec == EncodingCodec::Text
            && let Some(message) = value.get(&self.message_key)
        {
            match message {
                Value::Bytes(bytes) => out.extend_from_slice(bytes),
                other => out.extend_from_slice(other.to_string_lossy().as_bytes()),
            }
            return;
        }
        // Serializing a `Value` into a Vec cannot fail (keys are strings, floats are finite).
        if self.pretty {
            let result = serde_json::to_writer_pretty(&mut *out, value);
            debug_assert!(result.is_ok());
        } else {
            json::write_compact(value, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `step` bytes per read, to split lines across reads.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn frames(
        input: &[u8],
        step: usize,
        max_length: usize,
        max_frames: usize,
    ) -> (Vec<(String, u64)>, u64) {
        let mut framer = LineFramer::new(Trickle { data: input, step }, max_length);
        let mut out = Vec::new();
        while let Some(batch) = framer.next_batch(max_frames).unwrap() {
            assert!(batch.len() <= max_frames);
            for (frame, line) in batch.into_frames() {
                out.push((String::from_utf8(frame.to_vec()).unwrap(), line));
            }
        }
        (out, framer.too_long)
    }

    #[test]
    fn a_read_limit_returns_empty_batches_until_a_line_is_complete() {
        let long = "x".repeat(50);
        let input = format!("{long}\n\n\n\n\nshort\n");
        let mut framer = LineFramer::new(
            Trickle {
                data: input.as_bytes(),
                step: 4,
            },
            1000,
        )
        .with_max_reads_per_batch(3);
        let mut empty = 0;
        let mut out = Vec::new();
        while let Some(batch) = framer.next_batch(10).unwrap() {
            if batch.is_empty() {
                empty += 1;
            }
            for (frame, line) in batch.into_frames() {
                out.push((String::from_utf8(frame.to_vec()).unwrap(), line));
            }
        }
        assert_eq!(out, vec![(long, 1), ("short".to_owned(), 6)]);
        // 51 bytes of the first line take 13 reads of 4: four calls give up empty-handed.
        assert_eq!(empty, 4, "calls that hit the read limit");
    }

    #[test]
    fn splits_lines_across_reads_with_line_numbers() {
        let input = b"one\r\ntwo\n\n   \nthree\nlast-without-newline";
        for step in [1, 2, 3, 7, 1000] {
            let (out, too_long) = frames(input, step, 100, 2);
            let expected = vec![
                ("one".to_owned(), 1),
                ("two".to_owned(), 2),
                ("three".to_owned(), 5),
                ("last-without-newline".to_owned(), 6),
            ];
            assert_eq!(out, expected, "step {step}");
            assert_eq!(too_long, 0);
        }
    }

    #[test]
    fn skips_long_lines_without_buffering_them() {
        let long = "x".repeat(50);
        let input = format!("ok1\n{long}\nok2\n{long}");
        for step in [1, 4, 16, 1000] {
            let (out, too_long) = frames(input.as_bytes(), step, 10, 64);
            assert_eq!(
                out,
                vec![("ok1".to_owned(), 1), ("ok2".to_owned(), 3)],
                "step {step}"
            );
            assert_eq!(too_long, 2, "step {step}");
        }
    }

    #[test]
    fn empty_input_has_no_batches() {
        assert_eq!(frames(b"", 10, 10, 10).0, vec![]);
        assert_eq!(frames(b"\n\n", 10, 10, 10).0, vec![]);
    }
}
