//! Splitting a JSON array into its elements as it is decompressed, so that reading an array
//! file takes the memory of a few reads, not of the file.
//!
//! The splitter does not parse JSON; it only finds where each element starts and ends, and
//! each element is then decoded on its own (by [`crate::codecs::json::from_bytes`], with its
//! limits). To find the ends it follows, byte by byte and across reads, whether it is inside a
//! string (and after a backslash in it) and how deeply brackets nest. Nesting is a counter,
//! not a stack or a recursion: any depth costs the same, and an absurdly nested element is
//! simply one element, which then fails to decode. Brackets are not matched by kind (`{]`
//! counts as balanced): a malformed element is still one element, and decoding rejects it.
//!
//! An element that does not decode is the caller's business; the splitter reports problems
//! with the array itself (no `[`, no `,` between elements, data after the `]`, a file ending
//! inside the array), after every element before them.

use std::collections::VecDeque;
use std::io::Read;

use bytes::Bytes;

use crate::codecs::read_appending;

/// Bytes asked of the reader per read (as the NDJSON framer).
const READ_SIZE: usize = 64 * 1024;

/// What the splitter hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Frame {
    /// An element's bytes (a slice of the buffer it was read into).
    Element {
        /// The element's text.
        bytes: Bytes,
        /// The 1-based line it starts on.
        line: u64,
        /// Its 0-based position in the array.
        index: u64,
    },
    /// An element longer than the limit, skipped without being buffered.
    TooLong {
        /// The 1-based line it starts on.
        line: u64,
        /// Its 0-based position in the array.
        index: u64,
        /// Its length in bytes.
        length: u64,
    },
}

/// Why the array could not be read to its end. The elements before the problem have been
/// handed out.
#[derive(Debug, thiserror::Error)]
pub(super) enum ArrayError {
    /// Reading (decompressing) failed.
    #[error(transparent)]
    Read(#[from] std::io::Error),
    /// The data is not a well-formed JSON array.
    #[error("the JSON array is invalid at line {line}: {message}")]
    Invalid {
        /// The line of the problem.
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// Where the scanner is between elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Between {
    /// Before the array's `[`.
    Open,
    /// After `[`: the first element, or `]`.
    First,
    /// After `,`: an element (or `]`: a trailing comma is tolerated, as it always was).
    Next,
    /// After an element: `,` or `]`.
    After,
    /// After the closing `]`: only whitespace may follow.
    Closed,
}

/// Where the scanner is inside an element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Inside {
    /// Open brackets (`{` or `[`) not closed yet.
    depth: u64,
    in_string: bool,
    /// After a backslash inside a string.
    escaped: bool,
    /// A number, literal or garbage: it ends before whitespace, `,` or `]`.
    bare: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Between(Between),
    Inside(Inside),
}

/// What the scanner found at an offset of the data it was given.
#[derive(Debug, PartialEq, Eq)]
enum Mark {
    /// An element starts here.
    Start(usize),
    /// The element ends before this offset.
    End(usize),
    /// The array is not well formed here.
    Invalid(usize, &'static str),
}

/// The element-boundary state machine, fed any number of chunks.
#[derive(Debug)]
struct Scanner {
    state: State,
}

impl Scanner {
    fn new() -> Self {
        Self {
            state: State::Between(Between::Open),
        }
    }

    /// The next mark in `data` from `*at` on, advancing `*at` past it; `None` once `data` is
    /// consumed. After an `Invalid` mark nothing more is scanned.
    fn next_mark(&mut self, data: &[u8], at: &mut usize) -> Option<Mark> {
        while *at < data.len() {
            match &mut self.state {
                State::Inside(inside) => {
                    if let Some(end) = scan_element(inside, data, at) {
                        self.state = State::Between(Between::After);
                        return Some(Mark::End(end));
                    }
                }
                State::Between(between) => {
                    let byte = data[*at];
                    if byte.is_ascii_whitespace() {
                        *at += 1;
                        continue;
                    }
                    let position = *at;
                    let (next, mark) = match (*between, byte) {
                        (Between::Open, b'[') => (Between::First, None),
                        (Between::Open, _) => (Between::Open, Some("the data is not a JSON array")),
                        (Between::First | Between::Next | Between::After, b']') => {
                            (Between::Closed, None)
                        }
                        (Between::After, b',') => (Between::Next, None),
                        (Between::After, _) => {
                            (Between::After, Some("expected `,` or `]` after an element"))
                        }
                        (Between::First | Between::Next, b',') => {
                            (Between::Next, Some("expected an element, found `,`"))
                        }
                        (Between::First | Between::Next, first) => {
                            self.state = State::Inside(Inside::starting_with(first));
                            *at += 1;
                            return Some(Mark::Start(position));
                        }
                        (Between::Closed, _) => {
                            (Between::Closed, Some("data after the end of the array"))
                        }
                    };
                    if let Some(message) = mark {
                        // Stop here: nothing after a broken structure can be trusted.
                        *at = data.len();
                        return Some(Mark::Invalid(position, message));
                    }
                    *between = next;
                    *at += 1;
                }
            }
        }
        None
    }
}

impl Inside {
    fn starting_with(byte: u8) -> Self {
        let mut inside = Self {
            depth: 0,
            in_string: false,
            escaped: false,
            bare: false,
        };
        match byte {
            b'{' | b'[' => inside.depth = 1,
            b'"' => inside.in_string = true,
            _ => inside.bare = true,
        }
        inside
    }
}

/// Scans an element from `*at`: its end offset if it ends in `data` (`*at` then just after
/// its last byte), else `None` with all of `data` consumed.
fn scan_element(inside: &mut Inside, data: &[u8], at: &mut usize) -> Option<usize> {
    let mut i = *at;
    while i < data.len() {
        if inside.in_string {
            if inside.escaped {
                inside.escaped = false;
                i += 1;
                continue;
            }
            // Most of an event is strings: jump to the next quote or backslash.
            let Some(offset) = memchr::memchr2(b'"', b'\\', &data[i..]) else {
                i = data.len();
                break;
            };
            i += offset;
            if data[i] == b'\\' {
                inside.escaped = true;
            } else {
                inside.in_string = false;
                if inside.depth == 0 {
                    *at = i + 1;
                    return Some(i + 1);
                }
            }
        } else if inside.bare {
            if matches!(data[i], b',' | b']') || data[i].is_ascii_whitespace() {
                // The delimiter is not part of the element.
                *at = i;
                return Some(i);
            }
        } else {
            match data[i] {
                b'"' => inside.in_string = true,
                b'{' | b'[' => inside.depth += 1,
                b'}' | b']' => {
                    inside.depth -= 1;
                    if inside.depth == 0 {
                        *at = i + 1;
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    *at = i;
    None
}

/// The element being read.
#[derive(Debug)]
struct Current {
    /// Its offset in the current buffer (0 once carried into a new one).
    start: usize,
    line: u64,
    index: u64,
    /// Set once it is known to be too long: its bytes so far (no longer kept).
    skipped: Option<u64>,
}

/// A [`Frame`] found in the current buffer.
#[derive(Debug)]
enum Found {
    /// An element whose bytes are still inside the buffer.
    Element {
        start: usize,
        end: usize,
        line: u64,
        index: u64,
    },
    /// A frame that needs nothing from the buffer (an element skipped as too long).
    Done(Frame),
}

/// Splits the JSON array read from `reader` into its elements, a batch at a time, holding no
/// more than one read (64 KiB, or the unfinished element if longer) and the elements handed
/// out. Elements longer than `max_length` are skipped as they are read, not buffered.
pub(super) struct ArrayFramer<R> {
    reader: R,
    scanner: Scanner,
    /// The last buffer read, frozen: the elements in `ready` are slices of it.
    buffer: Bytes,
    ready: VecDeque<Found>,
    /// The start of the unfinished element, carried into the next buffer.
    partial: Vec<u8>,
    current: Option<Current>,
    /// The line of the scan position.
    line: u64,
    /// Elements started so far.
    elements: u64,
    max_length: usize,
    max_reads: usize,
    eof: bool,
    /// A problem with the array, reported once the elements before it are handed out.
    failed: Option<ArrayError>,
}

impl<R: Read> ArrayFramer<R> {
    /// A splitter over `reader`, the array's text from its start (whitespace before the `[`
    /// is fine).
    pub(super) fn new(reader: R, max_length: usize) -> Self {
        Self {
            reader,
            scanner: Scanner::new(),
            buffer: Bytes::new(),
            ready: VecDeque::new(),
            partial: Vec::new(),
            current: None,
            line: 1,
            elements: 0,
            max_length,
            max_reads: usize::MAX,
            eof: false,
            failed: None,
        }
    }

    /// Makes [`next_batch`](Self::next_batch) read at most `reads` times (at least once) and
    /// return an empty batch if no element was complete by then, so that a caller on an async
    /// runtime is never held long by a huge element or a run of whitespace. Default: no limit.
    pub(super) fn with_max_reads_per_batch(mut self, reads: usize) -> Self {
        self.max_reads = reads.max(1);
        self
    }

    /// The reader (for example to ask it how much it has read).
    pub(super) fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The line reached so far.
    pub(super) fn line(&self) -> u64 {
        self.line
    }

    /// Up to `max` more frames in `out` (cleared first): `Ok(true)` while the array may have
    /// more (`out` may then be empty, see
    /// [`with_max_reads_per_batch`](Self::with_max_reads_per_batch)), `Ok(false)` at its
    /// end. An error comes after every frame before it was handed out, with `out` empty.
    pub(super) fn next_batch(
        &mut self,
        max: usize,
        out: &mut Vec<Frame>,
    ) -> Result<bool, ArrayError> {
        out.clear();
        let mut reads = 0;
        while self.ready.is_empty() {
            if let Some(error) = self.failed.take() {
                self.eof = true;
                return Err(error);
            }
            if self.eof {
                return Ok(false);
            }
            if reads == self.max_reads {
                return Ok(true);
            }
            self.read_more()?;
            reads += 1;
        }
        let count = self.ready.len().min(max);
        out.extend(self.ready.drain(..count).map(|found| match found {
            Found::Element {
                start,
                end,
                line,
                index,
            } => Frame::Element {
                bytes: self.buffer.slice(start..end),
                line,
                index,
            },
            Found::Done(frame) => frame,
        }));
        Ok(true)
    }

    /// Reads once into a fresh buffer (after the unfinished element of the previous one) and
    /// finds the elements that end in it.
    fn read_more(&mut self) -> std::io::Result<()> {
        let filled = self.partial.len();
        // At least as much as is carried: a long element is copied a bounded number of times.
        let want = READ_SIZE.max(filled);
        let mut data = Vec::with_capacity(filled + want);
        data.extend_from_slice(&self.partial);
        self.eof = read_appending(&mut self.reader, &mut data, want)? == 0;
        self.scan(&data, filled);
        if self.eof {
            self.end_of_input(data.len());
        }
        self.partial.clear();
        if let Some(current) = &mut self.current {
            match &mut current.skipped {
                Some(skipped) => *skipped += (data.len() - filled) as u64,
                None if data.len() - current.start > self.max_length => {
                    // Do not buffer an element that will be skipped anyway.
                    current.skipped = Some((data.len() - current.start) as u64);
                }
                None => {
                    self.partial.extend_from_slice(&data[current.start..]);
                    current.start = 0;
                }
            }
        }
        self.buffer = Bytes::from(data);
        Ok(())
    }

    /// Scans `data` from `from` (what is before was scanned with the previous buffer).
    fn scan(&mut self, data: &[u8], from: usize) {
        let mut at = from;
        let mut counted = from;
        while self.failed.is_none() {
            let Some(mark) = self.scanner.next_mark(data, &mut at) else {
                break;
            };
            match mark {
                Mark::Start(start) => {
                    self.line += count_newlines(&data[counted..start]);
                    counted = start;
                    self.current = Some(Current {
                        start,
                        line: self.line,
                        index: self.elements,
                        skipped: None,
                    });
                    self.elements += 1;
                }
                Mark::End(end) => self.element_ends(end),
                Mark::Invalid(position, message) => {
                    self.line += count_newlines(&data[counted..position]);
                    counted = position;
                    self.fail(self.line, message.to_owned());
                }
            }
        }
        if self.failed.is_none() {
            self.line += count_newlines(&data[counted..]);
        }
    }

    /// The current element ends at `end` of the data being scanned.
    fn element_ends(&mut self, end: usize) {
        let Some(current) = self.current.take() else {
            return;
        };
        let length = match current.skipped {
            // The skipped bytes were not carried: this buffer starts with the rest.
            Some(skipped) => skipped + end as u64,
            None => (end - current.start) as u64,
        };
        self.ready.push_back(if length > self.max_length as u64 {
            Found::Done(Frame::TooLong {
                line: current.line,
                index: current.index,
                length,
            })
        } else {
            Found::Element {
                start: current.start,
                end,
                line: current.line,
                index: current.index,
            }
        });
    }

    /// The input ended after `len` bytes of the current buffer.
    fn end_of_input(&mut self, len: usize) {
        if self.failed.is_some() {
            return;
        }
        let not_closed = "the array is not closed (the file ends inside it)";
        match self.scanner.state {
            State::Between(Between::Closed) => {}
            State::Between(Between::Open) => {
                self.fail(self.line, "the data is empty, not a JSON array".into());
            }
            State::Inside(inside) if inside.bare => {
                // A number or literal ends with the input.
                self.element_ends(len);
                self.fail(self.line, not_closed.into());
            }
            State::Inside(_) => {
                // Reported where the unfinished element starts.
                let line = self.current.as_ref().map_or(self.line, |c| c.line);
                let index = self.elements.saturating_sub(1);
                self.fail(line, format!("the file ends inside element {index}"));
            }
            State::Between(_) => self.fail(self.line, not_closed.into()),
        }
    }

    fn fail(&mut self, line: u64, message: String) {
        self.current = None;
        self.failed = Some(ArrayError::Invalid { line, message });
    }
}

fn count_newlines(data: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', data).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its chunks one per read, then an error if one is set.
    struct Chunks {
        chunks: VecDeque<Vec<u8>>,
        error: Option<std::io::Error>,
    }

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some(chunk) = self.chunks.front_mut() else {
                return self.error.take().map_or(Ok(0), Err);
            };
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            chunk.drain(..n);
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
            Ok(n)
        }
    }

    fn chunks(parts: &[&[u8]]) -> Chunks {
        Chunks {
            // An empty read would be the end of the input.
            chunks: parts
                .iter()
                .filter(|part| !part.is_empty())
                .map(|part| part.to_vec())
                .collect(),
            error: None,
        }
    }

    /// What a whole read gave: each frame (text or skipped length, line, index), and the
    /// error that ended it.
    type Split = (Vec<(String, u64, u64)>, Option<String>);

    fn split_reader(reader: impl Read, max_length: usize) -> Split {
        let mut framer = ArrayFramer::new(reader, max_length).with_max_reads_per_batch(2);
        let mut frames = Vec::new();
        let mut out = Vec::new();
        let error = loop {
            match framer.next_batch(3, &mut out) {
                Ok(more) => {
                    assert!(out.len() <= 3);
                    frames.extend(out.drain(..).map(|frame| match frame {
                        Frame::Element { bytes, line, index } => (
                            String::from_utf8(bytes.to_vec()).expect("UTF-8"),
                            line,
                            index,
                        ),
                        Frame::TooLong {
                            line,
                            index,
                            length,
                        } => (format!("<{length} bytes skipped>"), line, index),
                    }));
                    if !more {
                        break None;
                    }
                }
                Err(error) => {
                    assert!(out.is_empty(), "an error comes alone");
                    break Some(error.to_string());
                }
            }
        };
        (frames, error)
    }

    fn split(text: &str) -> Split {
        split_reader(chunks(&[text.as_bytes()]), 1 << 20)
    }

    /// The texts of the frames.
    fn texts(split: &Split) -> Vec<&str> {
        split.0.iter().map(|(text, _, _)| text.as_str()).collect()
    }

    /// Elements whose strings hold every structural character, escaped quotes and
    /// backslashes; elements of every JSON type; whitespace of every kind.
    const TRICKY: &str = "\u{20}\t\r\n[ {\"a\":\"[{,}]\",\"b\":[1,{\"c\":\"]\"}]} ,\n\
        \"str \\\" ] } , [ {\",\t{\"q\":\"\\\\\"},{\"r\":\"\\\\\\\"]\"}\r\n, 12.5e3 ,true,null,\
        [ ], {}\n]\n\t ";

    fn tricky_elements() -> Vec<&'static str> {
        vec![
            r#"{"a":"[{,}]","b":[1,{"c":"]"}]}"#,
            r#""str \" ] } , [ {""#,
            r#"{"q":"\\"}"#,
            r#"{"r":"\\\"]"}"#,
            "12.5e3",
            "true",
            "null",
            "[ ]",
            "{}",
        ]
    }

    #[test]
    fn finds_every_element_whatever_it_holds() {
        let result = split(TRICKY);
        assert_eq!(result.1, None);
        assert_eq!(texts(&result), tricky_elements());
        let lines: Vec<u64> = result.0.iter().map(|(_, line, _)| *line).collect();
        assert_eq!(lines, vec![2, 3, 3, 3, 4, 4, 4, 4, 4]);
        let indexes: Vec<u64> = result.0.iter().map(|(_, _, index)| *index).collect();
        assert_eq!(indexes, (0..9).collect::<Vec<u64>>());
        // Every element is valid JSON on its own.
        for (text, _, _) in &result.0 {
            serde_json::from_str::<serde_json::Value>(text).expect(text);
        }
    }

    #[test]
    fn elements_split_across_reads_at_every_byte() {
        let whole = split(TRICKY);
        let bytes = TRICKY.as_bytes();
        for at in 0..=bytes.len() {
            let result = split_reader(chunks(&[&bytes[..at], &bytes[at..]]), 1 << 20);
            assert_eq!(result, whole, "split at byte {at}");
        }
        // One byte per read, and three parts at every pair of places (a sample of them).
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(split_reader(chunks(&bytewise), 1 << 20), whole);
        for a in (0..bytes.len()).step_by(3) {
            for b in (a..bytes.len()).step_by(5) {
                let parts = [&bytes[..a], &bytes[a..b], &bytes[b..]];
                assert_eq!(split_reader(chunks(&parts), 1 << 20), whole, "{a}, {b}");
            }
        }
    }

    #[test]
    fn empty_arrays_have_no_elements_and_no_error() {
        for text in ["[]", "[ ]", "\n[\n]\n", "  [\t]  "] {
            assert_eq!(split(text), (vec![], None), "{text:?}");
        }
    }

    #[test]
    fn a_truncated_array_gives_its_complete_elements_then_an_error() {
        let (frames, error) = split("[{\"a\":1},\n{\"b\":2},\n{\"c\":[3,");
        assert_eq!(frames.len(), 2);
        assert_eq!(
            error.as_deref(),
            Some("the JSON array is invalid at line 3: the file ends inside element 2")
        );
        for text in ["[{\"a\":1}", "[{\"a\":1},", "[1", "["] {
            let (frames, error) = split(text);
            assert_eq!(frames.len(), usize::from(text.len() > 1), "{text:?}");
            assert!(error.unwrap().contains("not closed"), "{text:?}");
        }
        let (frames, error) = split("[\"open string");
        assert!(frames.is_empty());
        assert!(error.unwrap().contains("inside element 0"));
    }

    #[test]
    fn a_top_level_that_is_not_an_array_is_an_error() {
        for text in ["{\"a\":[1]}", "\n\nnot json", "1", ""] {
            let (frames, error) = split(text);
            assert!(frames.is_empty(), "{text:?}");
            assert!(error.unwrap().contains("not a JSON array"), "{text:?}");
        }
    }

    #[test]
    fn data_after_the_array_or_between_elements_is_an_error_after_the_elements_before() {
        let (frames, error) = split("[{\"a\":1},{\"b\":2}]\n\n ]x");
        assert_eq!(frames.len(), 2);
        assert_eq!(
            error.as_deref(),
            Some("the JSON array is invalid at line 3: data after the end of the array")
        );
        let (frames, error) = split("[{\"a\":1}\n{\"b\":2}]");
        assert_eq!(texts(&(frames, None)), vec!["{\"a\":1}"]);
        assert!(error.unwrap().contains("line 2: expected `,` or `]`"));
        let (frames, error) = split("[1,,2]");
        assert_eq!(frames.len(), 1);
        assert!(error.unwrap().contains("found `,`"));
        // A trailing comma has always been tolerated.
        assert_eq!(split("[1,2,]"), split("[1,2]"));
    }

    #[test]
    fn deep_nesting_is_one_element_scanned_without_recursion() {
        let depth = 100_000;
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let text = format!("[{{\"a\":1}},{deep},{{\"b\":2}}]");
        let (frames, error) = split(&text);
        assert_eq!(error, None);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1].0.len(), 2 * depth);
        assert_eq!(frames[2].0, "{\"b\":2}");
        // Unclosed, it swallows the rest of the file.
        let open = format!("[{{\"a\":1}},{}", "{\"x\":[".repeat(depth));
        let (frames, error) = split(&open);
        assert_eq!(frames.len(), 1);
        assert!(error.unwrap().contains("inside element 1"));
    }

    #[test]
    fn elements_over_the_limit_are_skipped_without_being_kept() {
        let long = format!("{{\"s\":\"{}\"}}", "x".repeat(200_000));
        let text = format!("[{{\"a\":1}},\n{long},\n{{\"b\":2}},\n123456789]");
        for step in [997, 70_001, 1 << 20] {
            let parts: Vec<&[u8]> = text.as_bytes().chunks(step).collect();
            let mut framer = ArrayFramer::new(chunks(&parts), 1000);
            let mut out = Vec::new();
            let mut frames = Vec::new();
            while framer.next_batch(10, &mut out).expect("valid") {
                // The long element is never buffered: no read holds more than one chunk.
                assert!(framer.partial.len() <= 1000 + READ_SIZE);
                frames.append(&mut out);
            }
            assert_eq!(frames.len(), 4, "step {step}");
            assert_eq!(
                frames[1],
                Frame::TooLong {
                    line: 2,
                    index: 1,
                    length: long.len() as u64
                },
                "step {step}"
            );
            let skipped = split_reader(chunks(&parts), 8);
            assert_eq!(
                texts(&skipped),
                vec![
                    "{\"a\":1}",
                    &format!("<{} bytes skipped>", long.len()),
                    "{\"b\":2}",
                    "<9 bytes skipped>"
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn a_read_error_comes_after_the_elements_before_it() {
        let mut reader = chunks(&[b"[{\"a\":1},{\"b\":", b"2},{\"c\""]);
        reader.error = Some(std::io::Error::other("corrupt"));
        let (frames, error) = split_reader(reader, 1 << 20);
        assert_eq!(texts(&(frames, None)), vec!["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(error.as_deref(), Some("corrupt"));
    }

    #[test]
    fn a_read_limit_returns_empty_batches_while_an_element_is_incomplete() {
        let text = format!("[{}]", " ".repeat(100));
        let parts: Vec<&[u8]> = text.as_bytes().chunks(10).collect();
        let mut framer = ArrayFramer::new(chunks(&parts), 1000).with_max_reads_per_batch(3);
        let mut out = Vec::new();
        let mut calls = 0;
        while framer.next_batch(10, &mut out).expect("valid") {
            assert!(out.is_empty());
            calls += 1;
        }
        // 102 bytes in 11 reads, then the end: 3 + 3 + 3 + 2 reads.
        assert_eq!(calls, 3);
    }
}
