//! Streaming zstd decompression of an in-memory object through a reused context.
//!
//! `zstd::stream::read::Decoder` creates a decompression context per object, and with it a
//! window buffer (2 MiB at the exporter's level) whose pages the kernel has to map and zero
//! anew for every file. The whole compressed object is in memory anyway, so this reader feeds
//! it to `ZSTD_decompressStream` directly, and finished objects leave their context in a small
//! pool for the next (an object may start on one thread and finish on another, so the pool is
//! shared rather than per thread).

use std::io::{self, Read};
use std::sync::Mutex;

use bytes::Bytes;
use zstd::zstd_safe::{self, DCtx, InBuffer, OutBuffer, ResetDirective};

/// Contexts kept for reuse; more are freed (each holds a window of up to a few MiB).
const POOLED_CONTEXTS: usize = 8;

/// Contexts of finished objects.
static POOL: Mutex<Vec<DCtx<'static>>> = Mutex::new(Vec::new());

fn pooled_context() -> Option<DCtx<'static>> {
    POOL.lock().unwrap_or_else(|e| e.into_inner()).pop()
}

fn return_context(context: DCtx<'static>) {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if pool.len() < POOLED_CONTEXTS {
        pool.push(context);
    }
}

/// Reads the decompressed bytes of every zstd frame in a body (concatenated frames included;
/// skippable frames are skipped). Data that is not zstd, or a body ending inside a frame, is
/// an error after everything before it.
pub(super) struct ZstdFrames {
    context: Option<DCtx<'static>>,
    input: Bytes,
    position: usize,
    /// A frame is started and not finished yet.
    in_frame: bool,
}

impl ZstdFrames {
    /// A reader over `input`, the compressed object.
    pub(super) fn new(input: Bytes) -> io::Result<Self> {
        let mut context = match pooled_context() {
            Some(context) => context,
            None => DCtx::try_create().ok_or_else(|| {
                io::Error::other("zstd could not allocate a decompression context")
            })?,
        };
        // A context left mid-frame by an interrupted object must start clean.
        context
            .reset(ResetDirective::SessionOnly)
            .map_err(zstd_error)?;
        Ok(Self {
            context: Some(context),
            input,
            position: 0,
            in_frame: false,
        })
    }
}

impl Read for ZstdFrames {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(context) = self.context.as_mut() else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let rest = &self.input[self.position..];
            if rest.is_empty() && !self.in_frame {
                return Ok(0);
            }
            let mut input = InBuffer::around(rest);
            let mut output = OutBuffer::around(buf);
            let hint = context
                .decompress_stream(&mut output, &mut input)
                .map_err(zstd_error)?;
            let consumed = input.pos();
            let written = output.pos();
            self.position += consumed;
            // `hint` is 0 exactly when a frame is complete and flushed.
            self.in_frame = hint != 0;
            if written > 0 {
                return Ok(written);
            }
            if consumed == 0 {
                // No input left to make progress with, inside a frame: the file was cut.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the zstd data ends inside a frame",
                ));
            }
        }
    }
}

impl Drop for ZstdFrames {
    fn drop(&mut self) {
        if let Some(context) = self.context.take() {
            return_context(context);
        }
    }
}

fn zstd_error(code: zstd_safe::ErrorCode) -> io::Error {
    io::Error::other(zstd_safe::get_error_name(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: Vec<u8>, chunk: usize) -> (Vec<u8>, io::Result<()>) {
        let mut reader = ZstdFrames::new(Bytes::from(input)).expect("context");
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return (out, Ok(())),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(error) => return (out, Err(error)),
            }
        }
    }

    fn text(lines: usize, tag: &str) -> Vec<u8> {
        (0..lines)
            .map(|n| format!("{{\"n\":{n},\"tag\":\"{tag}\"}}\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn every_frame_is_read_whatever_the_buffer_size() {
        let (a, b) = (text(5_000, "a"), text(3, "b"));
        let mut input = zstd::encode_all(&a[..], 3).unwrap();
        // A skippable frame between the two.
        input.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
        input.extend(zstd::encode_all(&b[..], 19).unwrap());
        for chunk in [1, 7, 4096, 1 << 20] {
            let (out, result) = read_all(input.clone(), chunk);
            result.expect("valid frames");
            assert_eq!(out, [a.clone(), b.clone()].concat(), "buffer of {chunk}");
        }
        let (out, result) = read_all(Vec::new(), 64);
        assert!(out.is_empty() && result.is_ok(), "an empty body is empty");
    }

    #[test]
    fn a_cut_frame_is_an_error_after_the_data_before_the_cut() {
        let data = text(20_000, "cut");
        let input = zstd::encode_all(&data[..], 3).unwrap();
        let (out, result) = read_all(input[..input.len() / 2].to_vec(), 64 * 1024);
        let error = result.expect_err("a cut frame");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof, "{error}");
        assert!(
            !out.is_empty() && data.starts_with(&out),
            "data before the cut"
        );
        // A pooled context left mid-frame starts the next object clean.
        let whole = zstd::encode_all(&data[..], 3).unwrap();
        let (out, result) = read_all(whole, 64 * 1024);
        result.expect("valid frame after a cut one");
        assert_eq!(out, data);
    }

    #[test]
    fn data_that_is_not_zstd_is_an_error() {
        let mut input = zstd::encode_all(&b"{}\n"[..], 3).unwrap();
        input.extend_from_slice(b"not zstd at all");
        let (out, result) = read_all(input, 1024);
        assert_eq!(out, b"{}\n");
        assert!(result.is_err());
    }
}
