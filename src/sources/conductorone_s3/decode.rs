//! Reading one exported object: compression from its magic bytes, then NDJSON or a JSON array.
//!
//! ConductorOne documents the export as "OCSF JSON" compressed with zstd or gzip, but neither
//! the key names nor the framing inside a file, so nothing here trusts a name or a header:
//!
//! * **Compression** comes from the first bytes: zstd `28 b5 2f fd`, gzip `1f 8b`, anything
//!   else is read as it is. Concatenated gzip members and zstd frames are all read.
//! * **Framing** comes from the first non-whitespace byte after decompression (a UTF-8 byte
//!   order mark is skipped): `[` is one JSON array of events, anything else is NDJSON, one
//!   event per line (blank lines skipped, `\r\n` accepted).
//! * **Limits.** At most `max_decompressed_bytes` are decompressed; a file that expands
//!   beyond that (a decompression bomb) ends there, after the records before the limit.
//!
//! Both framings are decoded as they are decompressed, a batch at a time, so memory stays at
//! a batch whatever the file's size: NDJSON split at newlines, a JSON array split into its
//! elements by [`ArrayFramer`] (which tracks strings and bracket depth, not the JSON itself),
//! each line or element then decoded on its own.
//!
//! A record that is not a JSON object is reported (with its line number, and its index in an
//! array) and skipped; the reader goes on with the next. A corrupt or truncated compressed
//! stream, the size limit, or an array whose structure breaks (no `,` between elements, data
//! after the `]`) ends the file with a [`ReadError`] after every good record before it.

use std::io::{Cursor, Read};

use bytes::Bytes;
use vrl::value::Value;

use super::array::{ArrayError, ArrayFramer, Frame};
use super::zstd_stream::ZstdFrames;
use crate::codecs::{LineFramer, json};

/// How an object is compressed, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Compression {
    /// Zstandard (`28 b5 2f fd`).
    Zstd,
    /// gzip (`1f 8b`).
    Gzip,
    /// Not compressed.
    None,
}

impl Compression {
    /// The compression of data starting with `head`.
    pub(super) fn detect(head: &[u8]) -> Self {
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else {
            Self::None
        }
    }

    /// The name used in logs and metrics.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::Gzip => "gzip",
            Self::None => "none",
        }
    }
}

/// Why reading an object stopped before its end. The records before the problem have been
/// returned.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    /// The compressed stream is corrupt or truncated.
    #[error(
        "{compression} data is corrupt or truncated after {decompressed} decompressed bytes: {message}"
    )]
    Corrupt {
        /// The detected compression.
        compression: &'static str,
        /// Bytes decompressed before the error.
        decompressed: u64,
        /// The decoder's message.
        message: String,
    },
    /// The data decompresses to more than `max_decompressed_bytes`.
    #[error(
        "decompresses to more than max_decompressed_bytes ({limit} bytes); the rest of the file is skipped"
    )]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// A JSON array whose structure is broken: no `,` between elements, data after its `]`,
    /// or the file ends inside it (the elements before the problem were read).
    #[error("the JSON array is invalid at line {line}: {message}")]
    InvalidArray {
        /// The line of the error.
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// A record that is not an event: where it is and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InvalidRecord {
    /// 1-based line where the record starts.
    pub line: u64,
    /// Its 0-based position in a JSON array (`None` in NDJSON, where the line says it all).
    pub index: Option<u64>,
    /// What is wrong with it.
    pub reason: String,
}

/// Marks the size limit inside an `io::Error`, to tell it from decoder errors.
#[derive(Debug, thiserror::Error)]
#[error("decompressed size limit reached")]
struct LimitReached;

/// Counts decompressed bytes and fails once they would exceed the limit.
struct Limited<R> {
    inner: R,
    read: u64,
    limit: u64,
    exceeded: bool,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.exceeded {
            return Err(std::io::Error::other(LimitReached));
        }
        let allowed = self.limit - self.read;
        // Ask for one byte more than allowed, to notice data beyond the limit.
        let want = buf
            .len()
            .min(usize::try_from(allowed + 1).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > allowed {
            // Hand out what fits; the next read reports the limit.
            self.exceeded = true;
            self.read = self.limit;
            return if allowed == 0 {
                Err(std::io::Error::other(LimitReached))
            } else {
                Ok(allowed as usize)
            };
        }
        self.read += n as u64;
        Ok(n)
    }
}

type Decompressed = Limited<Box<dyn Read + Send>>;

/// Decompressed reads (of 64 KiB) one batch makes at most: a run of blank or overlong lines,
/// or a long array element, yields empty batches instead of holding the caller for the whole
/// file.
pub(super) const READS_PER_BATCH: usize = 16;

/// The decompressed text: the start read to choose the framing, then the rest.
type Text = std::io::Chain<Cursor<Bytes>, Decompressed>;

enum State {
    /// Not started: the compressed body.
    Start(Bytes),
    /// NDJSON, framed as it is decompressed.
    Lines(Box<LineFramer<Text>>),
    /// A JSON array, split into elements as it is decompressed.
    Array(Box<ArrayFramer<Text>>),
    /// [`ObjectReader::prepare`] failed: the error the next batch reports.
    Failed(ReadError),
    Finished,
}

/// Reads the records of one object, a batch at a time.
pub(super) struct ObjectReader {
    state: State,
    compression: Compression,
    limit: u64,
    max_record: usize,
    /// NDJSON lines read when the framer was dropped (for [`ObjectReader::line`]).
    lines_done: u64,
    too_long: u64,
    /// Array elements split and not decoded yet (kept for its allocation).
    frames: Vec<Frame>,
}

/// The records of one call to [`ObjectReader::next_batch`].
#[derive(Debug, Default)]
pub(super) struct Records {
    /// Events with the line each starts on.
    pub events: Vec<(Value, u64)>,
    /// Records that are not events.
    pub invalid: Vec<InvalidRecord>,
}

impl ObjectReader {
    /// A reader over `body`, the object's bytes as stored, decompressing at most `limit` bytes.
    pub(super) fn new(body: Bytes, limit: u64) -> Self {
        Self {
            compression: Compression::detect(&body),
            state: State::Start(body),
            limit,
            max_record: usize::try_from(limit).unwrap_or(usize::MAX),
            lines_done: 0,
            too_long: 0,
            frames: Vec::new(),
        }
    }

    /// Skips NDJSON lines and array elements longer than `max` bytes. Lines are counted (see
    /// [`records_too_long`](Self::records_too_long)); elements are reported as invalid
    /// records, with their index. Default: the decompressed limit.
    pub(super) fn with_max_record_bytes(mut self, max: usize) -> Self {
        self.max_record = max;
        self
    }

    /// NDJSON lines skipped for being longer than the record limit.
    pub(super) fn records_too_long(&self) -> u64 {
        match &self.state {
            State::Lines(framer) => framer.too_long,
            _ => self.too_long,
        }
    }

    /// The line reached so far (where a [`ReadError`] happened).
    pub(super) fn line(&self) -> u64 {
        match &self.state {
            State::Lines(framer) => framer.lines(),
            State::Array(framer) => framer.line(),
            _ => self.lines_done,
        }
    }

    /// Ends the object, keeping the framer's counts.
    fn finish(&mut self) {
        match &self.state {
            State::Lines(framer) => {
                self.lines_done = framer.lines();
                self.too_long = framer.too_long;
            }
            State::Array(framer) => self.lines_done = framer.line(),
            _ => {}
        }
        self.state = State::Finished;
    }

    /// The compression found.
    pub(super) fn compression(&self) -> Compression {
        self.compression
    }

    /// Up to `max` more records in `out` (cleared first). `Ok(false)` once the object is
    /// finished (`out` may still hold its last records); an error ends the object too, after
    /// `out` got every good record before it.
    pub(super) fn next_batch(&mut self, max: usize, out: &mut Records) -> Result<bool, ReadError> {
        out.events.clear();
        out.invalid.clear();
        loop {
            match &mut self.state {
                State::Start(_) => self.start()?,
                State::Lines(framer) => {
                    let batch = match framer.next_batch(max) {
                        Ok(Some(batch)) => batch,
                        Ok(None) => {
                            self.finish();
                            return Ok(false);
                        }
                        Err(error) => {
                            let error = self.stream_error(error);
                            self.finish();
                            return Err(error);
                        }
                    };
                    for (line, number) in batch.into_frames() {
                        decode_record(&line, number, None, out);
                    }
                    return Ok(true);
                }
                State::Array(_) => return self.array_batch(max, out),
                State::Failed(_) => {
                    return match std::mem::replace(&mut self.state, State::Finished) {
                        State::Failed(error) => Err(error),
                        _ => Ok(false),
                    };
                }
                State::Finished => return Ok(false),
            }
        }
    }

    /// Does the work before the first batch that has no bound but the decompressed limit:
    /// decompressing up to the first significant byte (a file may start with any amount of
    /// whitespace). Run it where a long computation is harmless (a blocking thread); after
    /// it, each [`next_batch`](Self::next_batch) call does a bounded amount of work (at most
    /// [`READS_PER_BATCH`] decompressed reads). An error here is returned by the first
    /// `next_batch`.
    pub(super) fn prepare(&mut self) {
        if let Err(error) = self.start() {
            self.state = State::Failed(error);
        }
    }

    /// Decompresses the first bytes to choose the framing.
    fn start(&mut self) -> Result<(), ReadError> {
        let State::Start(body) = std::mem::replace(&mut self.state, State::Finished) else {
            return Ok(());
        };
        let inner: Box<dyn Read + Send> = match self.compression {
            Compression::Zstd => match ZstdFrames::new(body) {
                Ok(decoder) => Box::new(decoder),
                Err(error) => return Err(self.stream_error(error)),
            },
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(Cursor::new(body))),
            Compression::None => Box::new(Cursor::new(body)),
        };
        let mut reader = Limited {
            inner,
            read: 0,
            limit: self.limit,
            exceeded: false,
        };
        // Enough of the start to see the first significant byte. Each byte is looked at
        // once, and the lines passed are counted, so a file of blank lines (a bomb) fails in
        // linear time at the line it reached.
        let mut head = Vec::with_capacity(4096);
        let mut first = None;
        let mut scanned = 0;
        while first.is_none() {
            let mut chunk = [0u8; 4096];
            let n = match crate::codecs::read_retrying(&mut reader, &mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) => {
                    self.lines_done = memchr::memchr_iter(b'\n', &head).count() as u64;
                    return Err(self.stream_error(error));
                }
            };
            head.extend_from_slice(&chunk[..n]);
            let from = if head.starts_with(b"\xef\xbb\xbf") {
                scanned.max(3)
            } else {
                scanned
            };
            first = head[from.min(head.len())..]
                .iter()
                .copied()
                .find(|b| !b.is_ascii_whitespace());
            scanned = head.len();
        }
        if head.starts_with(b"\xef\xbb\xbf") {
            // The byte order mark would make the first line invalid JSON.
            head.drain(..3);
        }
        let text = Cursor::new(Bytes::from(head)).chain(reader);
        self.state = if first == Some(b'[') {
            let framer =
                ArrayFramer::new(text, self.max_record).with_max_reads_per_batch(READS_PER_BATCH);
            State::Array(Box::new(framer))
        } else {
            let framer =
                LineFramer::new(text, self.max_record).with_max_reads_per_batch(READS_PER_BATCH);
            State::Lines(Box::new(framer))
        };
        Ok(())
    }

    /// The next elements of a JSON array, each decoded on its own.
    fn array_batch(&mut self, max: usize, out: &mut Records) -> Result<bool, ReadError> {
        let State::Array(framer) = &mut self.state else {
            return Ok(false);
        };
        let error = match framer.next_batch(max, &mut self.frames) {
            Ok(true) => None,
            Ok(false) => {
                self.finish();
                return Ok(false);
            }
            Err(ArrayError::Read(error)) => Some(self.stream_error(error)),
            Err(ArrayError::Invalid { line, message }) => {
                Some(ReadError::InvalidArray { line, message })
            }
        };
        if let Some(error) = error {
            self.finish();
            return Err(error);
        }
        for frame in self.frames.drain(..) {
            match frame {
                Frame::Element { bytes, line, index } => {
                    decode_record(&bytes, line, Some(index), out);
                }
                Frame::TooLong {
                    line,
                    index,
                    length,
                } => out.invalid.push(InvalidRecord {
                    line,
                    index: Some(index),
                    reason: format!(
                        "an element of {length} bytes is longer than the limit ({} bytes)",
                        self.max_record
                    ),
                }),
            }
        }
        Ok(true)
    }

    fn stream_error(&self, error: std::io::Error) -> ReadError {
        let decompressed = match &self.state {
            State::Lines(framer) => framer.get_ref().get_ref().1.read,
            State::Array(framer) => framer.get_ref().get_ref().1.read,
            _ => 0,
        };
        self.stream_error_after(error, decompressed)
    }

    fn stream_error_after(&self, error: std::io::Error, decompressed: u64) -> ReadError {
        if error
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<LimitReached>().is_some())
        {
            return ReadError::TooLarge { limit: self.limit };
        }
        ReadError::Corrupt {
            compression: self.compression.name(),
            decompressed,
            message: error.to_string(),
        }
    }
}

/// Decodes one line or array element into an event, or an invalid record.
fn decode_record(text: &Bytes, line: u64, index: Option<u64>, out: &mut Records) {
    let reason = match json::from_bytes(text) {
        Ok(value @ Value::Object(_)) => {
            out.events.push((value, line));
            return;
        }
        Ok(other) => format!("a JSON {} is not an event (an object)", json_type(&other)),
        Err(error) => format!("invalid JSON: {error}"),
    };
    out.invalid.push(InvalidRecord {
        line,
        index,
        reason,
    });
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::Bytes(_) | Value::String(_) => "string",
        Value::Integer(_) | Value::Float(_) => "number",
        Value::Boolean(_) => "boolean",
        Value::Null => "null",
        _ => "value",
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::encode_all(data, 3).unwrap()
    }

    fn event(n: usize) -> String {
        format!(r#"{{"class_uid":6003,"metadata":{{"uid":"e{n}"}},"time":{n}}}"#)
    }

    fn ndjson(n: usize) -> String {
        (0..n).map(|i| event(i) + "\n").collect()
    }

    /// Every record (uid and line), the invalid ones, and the error that ended the object.
    type ReadAll = (Vec<(String, u64)>, Vec<InvalidRecord>, Option<ReadError>);

    /// Every record and the error of `body`, reading 7 records at a time; the same whether
    /// [`ObjectReader::prepare`] ran first (as the source does) or not.
    fn read_all(body: Vec<u8>, limit: u64) -> ReadAll {
        let prepared = read_with(body.clone(), limit, true);
        let lazy = read_with(body, limit, false);
        assert_eq!(
            format!("{prepared:?}"),
            format!("{lazy:?}"),
            "prepare() changed the outcome"
        );
        lazy
    }

    fn read_with(body: Vec<u8>, limit: u64, prepare: bool) -> ReadAll {
        let mut reader = ObjectReader::new(Bytes::from(body), limit);
        if prepare {
            reader.prepare();
        }
        let mut records = Records::default();
        let mut events = Vec::new();
        let mut invalid = Vec::new();
        let error = loop {
            let result = reader.next_batch(7, &mut records);
            for (value, line) in records.events.drain(..) {
                let uid = crate::ocsf::event_uid(&value)
                    .unwrap_or_default()
                    .to_owned();
                events.push((uid, line));
            }
            invalid.append(&mut records.invalid);
            match result {
                Ok(true) => {}
                Ok(false) => break None,
                Err(error) => break Some(error),
            }
        };
        (events, invalid, error)
    }

    fn uids(events: &[(String, u64)]) -> Vec<String> {
        events.iter().map(|(uid, _)| uid.clone()).collect()
    }

    fn expected(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("e{i}")).collect()
    }

    #[test]
    fn compression_comes_from_magic_bytes_only() {
        assert_eq!(Compression::detect(&zstd(b"{}")), Compression::Zstd);
        assert_eq!(Compression::detect(&gzip(b"{}")), Compression::Gzip);
        assert_eq!(Compression::detect(b"{\"a\":1}"), Compression::None);
        assert_eq!(Compression::detect(b""), Compression::None);
    }

    #[test]
    fn ndjson_in_every_compression_gives_every_record_with_its_line() {
        let text = ndjson(100);
        for body in [
            zstd(text.as_bytes()),
            gzip(text.as_bytes()),
            text.clone().into_bytes(),
        ] {
            let (events, invalid, error) = read_all(body, 1 << 20);
            assert!(error.is_none(), "{error:?}");
            assert!(invalid.is_empty());
            assert_eq!(uids(&events), expected(100));
            assert_eq!(events[41].1, 42);
        }
    }

    /// [`read_all`] with a 1 MiB limit, for a body that must read to the end without error.
    fn read_cleanly(body: Vec<u8>) -> (Vec<(String, u64)>, Vec<InvalidRecord>) {
        let (events, invalid, error) = read_all(body, 1 << 20);
        assert!(error.is_none(), "{error:?}");
        (events, invalid)
    }

    #[test]
    fn a_json_array_gives_every_element_with_the_line_it_starts_on() {
        let [a, b, c] = [0, 1, 2].map(event);
        let pretty = format!("\u{feff}\n[\n  {a},\n  {b}\n,{c}]\n");
        let (events, invalid) = read_cleanly(zstd(pretty.as_bytes()));
        assert!(invalid.is_empty());
        assert_eq!(
            events,
            vec![("e0".into(), 3), ("e1".into(), 4), ("e2".into(), 5)]
        );
        let compact = format!("[{}]", (0..50).map(event).collect::<Vec<_>>().join(","));
        let (events, _) = read_cleanly(gzip(compact.as_bytes()));
        assert_eq!(uids(&events), expected(50));
        let (events, _, error) = read_all(b"  [ ]  ".to_vec(), 1 << 20);
        assert!(error.is_none() && events.is_empty());
    }

    #[test]
    fn empty_files_have_no_records_and_no_error() {
        for body in [Vec::new(), zstd(b""), gzip(b""), b"\n\n  \n".to_vec()] {
            let (events, invalid, error) = read_all(body, 1 << 20);
            assert!(events.is_empty() && invalid.is_empty() && error.is_none());
        }
    }

    #[test]
    fn invalid_lines_are_reported_and_the_rest_keeps_flowing() {
        let [a, b, c] = [0, 1, 2].map(event);
        let text = format!("{a}\nnot json\n[1,2]\n\r\n{b}\r\n\"text\"\n{c}");
        let (events, invalid) = read_cleanly(gzip(text.as_bytes()));
        assert_eq!(
            events,
            vec![("e0".into(), 1), ("e1".into(), 5), ("e2".into(), 7)]
        );
        let lines: Vec<u64> = invalid.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 6]);
        assert!(
            invalid[0].reason.contains("invalid JSON"),
            "{:?}",
            invalid[0]
        );
        assert!(invalid[1].reason.contains("array"), "{:?}", invalid[1]);
    }

    #[test]
    fn a_truncated_file_gives_every_record_before_the_cut_then_an_error() {
        let text = ndjson(20_000);
        for compressed in [zstd(text.as_bytes()), gzip(text.as_bytes())] {
            let half = compressed[..compressed.len() / 2].to_vec();
            let (events, _, error) = read_all(half, 1 << 30);
            assert!(
                matches!(error, Some(ReadError::Corrupt { .. })),
                "{error:?}"
            );
            assert!(
                events.len() > 5000,
                "only {} records before the cut",
                events.len()
            );
            assert_eq!(uids(&events), expected(events.len()), "a prefix, in order");
        }
        // A truncated array keeps its complete elements.
        let array = format!("[{}]", (0..20_000).map(event).collect::<Vec<_>>().join(","));
        let compressed = zstd(array.as_bytes());
        let (events, _, error) = read_all(compressed[..compressed.len() / 2].to_vec(), 1 << 30);
        assert!(
            matches!(error, Some(ReadError::Corrupt { .. })),
            "{error:?}"
        );
        assert!(events.len() > 5000);
        assert_eq!(uids(&events), expected(events.len()));
        // Uncompressed and cut inside a line: the complete lines, and the half line is invalid.
        let cut = &text[..text.len() / 2 + 10];
        let (events, invalid, error) = read_all(cut.as_bytes().to_vec(), 1 << 30);
        assert!(error.is_none());
        assert_eq!(uids(&events), expected(events.len()));
        assert_eq!(invalid.len(), 1);
    }

    #[test]
    fn corrupt_data_after_a_magic_number_is_an_error_not_a_crash() {
        let mut garbage = vec![0x28, 0xb5, 0x2f, 0xfd];
        garbage.extend_from_slice(&[0xff; 64]);
        let (events, _, error) = read_all(garbage, 1 << 20);
        assert!(events.is_empty());
        assert!(
            matches!(
                error,
                Some(ReadError::Corrupt {
                    compression: "zstd",
                    ..
                })
            ),
            "{error:?}"
        );
        let (_, _, error) = read_all(vec![0x1f, 0x8b, 0, 1, 2, 3], 1 << 20);
        assert!(
            matches!(
                error,
                Some(ReadError::Corrupt {
                    compression: "gzip",
                    ..
                })
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit_after_the_records_before_it() {
        // 64 MiB of blank lines after one record compress to a few kilobytes.
        let mut text = event(0).into_bytes();
        text.push(b'\n');
        text.resize(64 << 20, b'\n');
        text.extend_from_slice(event(1).as_bytes());
        let bomb = zstd(&text);
        assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
        let (events, _, error) = read_all(bomb, 1 << 20);
        assert_eq!(uids(&events), vec!["e0"]);
        assert!(
            matches!(error, Some(ReadError::TooLarge { limit: 1048576 })),
            "{error:?}"
        );
        // The limit itself is allowed.
        let exact = ndjson(10);
        let (events, _, error) = read_all(gzip(exact.as_bytes()), exact.len() as u64);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(events.len(), 10);
        // An array bomb too.
        let mut array = b"[".to_vec();
        array.extend_from_slice(event(0).as_bytes());
        array.resize(32 << 20, b' ');
        array.push(b']');
        let (_, _, error) = read_all(gzip(&array), 1 << 20);
        assert!(
            matches!(error, Some(ReadError::TooLarge { .. })),
            "{error:?}"
        );
    }

    #[test]
    fn a_bomb_of_blank_lines_from_the_start_fails_at_the_line_it_reached() {
        // Nothing significant before the limit: the framing is never chosen.
        let bomb = zstd(&vec![b'\n'; 64 << 20]);
        let mut reader = ObjectReader::new(Bytes::from(bomb), 1 << 20);
        let mut records = Records::default();
        let error = reader
            .next_batch(7, &mut records)
            .expect_err("over the limit");
        assert!(matches!(error, ReadError::TooLarge { .. }), "{error:?}");
        let line = reader.line();
        assert!(
            ((1 << 20) - 8192..=1 << 20).contains(&line),
            "reported at line {line}"
        );
    }

    #[test]
    fn concatenated_gzip_members_and_zstd_frames_are_all_read() {
        let mut gz = gzip(ndjson(3).as_bytes());
        gz.extend_from_slice(&gzip(format!("{}\n", event(3)).as_bytes()));
        let (events, _, error) = read_all(gz, 1 << 20);
        assert!(error.is_none());
        assert_eq!(uids(&events), expected(4));
        let mut zs = zstd(ndjson(3).as_bytes());
        zs.extend_from_slice(&zstd(format!("{}\n", event(3)).as_bytes()));
        let (events, _, error) = read_all(zs, 1 << 20);
        assert!(error.is_none());
        assert_eq!(uids(&events), expected(4));
    }

    #[test]
    fn an_invalid_array_stops_at_the_error_with_its_line() {
        let text = format!("[\n{},\n{} {}\n]", event(0), event(1), event(2));
        let (events, _, error) = read_all(text.into_bytes(), 1 << 20);
        assert_eq!(uids(&events), vec!["e0", "e1"]);
        assert!(
            matches!(error, Some(ReadError::InvalidArray { line: 3, .. })),
            "{error:?}"
        );
    }

    #[test]
    fn a_bad_element_is_reported_with_its_index_and_the_others_are_delivered_once() {
        let depth = 100_000;
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let long = format!("{{\"s\":\"{}\"}}", "x".repeat(300_000));
        let text = format!(
            "[\n{},\n{{\"a\":}},\n5,\n{deep},\n{long},\n{}\n]",
            event(0),
            event(1)
        );
        for body in [text.clone().into_bytes(), zstd(text.as_bytes())] {
            let mut reader =
                ObjectReader::new(Bytes::from(body), 1 << 20).with_max_record_bytes(250_000);
            let mut records = Records::default();
            let mut events = Vec::new();
            let mut invalid = Vec::new();
            while reader.next_batch(2, &mut records).expect("a valid array") {
                events.extend(records.events.drain(..).map(|(_, line)| line));
                invalid.append(&mut records.invalid);
            }
            assert_eq!(events, vec![2, 7], "each good element once, with its line");
            let at: Vec<(u64, Option<u64>)> = invalid.iter().map(|r| (r.line, r.index)).collect();
            assert_eq!(
                at,
                vec![(3, Some(1)), (4, Some(2)), (5, Some(3)), (6, Some(4))]
            );
            assert!(
                invalid[0].reason.starts_with("invalid JSON"),
                "{:?}",
                invalid[0]
            );
            assert!(invalid[1].reason.contains("number"), "{:?}", invalid[1]);
            // Too deep for the decoder, not for the splitter: no stack overflow.
            assert!(
                invalid[2].reason.starts_with("invalid JSON"),
                "{:?}",
                invalid[2]
            );
            assert!(
                invalid[3].reason.contains("longer than the limit"),
                "{:?}",
                invalid[3]
            );
            assert_eq!(reader.records_too_long(), 0, "counted as invalid records");
        }
    }

    #[test]
    fn an_array_is_decompressed_only_a_few_reads_ahead_of_its_decoded_elements() {
        // 32 MiB of elements: each batch decompresses at most a batch's reads beyond the
        // elements decoded so far (reading an array whole decompressed it all at once).
        let element = event(7);
        let count = (32 << 20) / (element.len() + 1);
        let mut text = b"[".to_vec();
        for n in 0..count {
            if n > 0 {
                text.push(b',');
            }
            text.extend_from_slice(element.as_bytes());
        }
        text.push(b']');
        let mut reader = ObjectReader::new(Bytes::from(zstd(&text)), 1 << 30);
        reader.prepare();
        let mut records = Records::default();
        let mut events = 0;
        let ahead = (READS_PER_BATCH as u64 + 1) * 64 * 1024;
        while reader.next_batch(64, &mut records).expect("valid") {
            events += records.events.len() as u64;
            let State::Array(framer) = &reader.state else {
                panic!("not read as an array")
            };
            let decompressed = framer.get_ref().get_ref().1.read;
            let decoded = events * (element.len() as u64 + 1);
            assert!(
                decompressed <= decoded + ahead,
                "{decompressed} bytes decompressed for {decoded} bytes decoded"
            );
        }
        assert_eq!(events, count as u64);
    }
}
