//! One open object per rendered key prefix: events are encoded and compressed as they arrive,
//! so memory holds compressed bytes only (or, for Parquet, one row group), and at most one
//! multipart part of them.

use std::io::Write;
use std::time::Instant;

#[cfg(feature = "parquet")]
use std::sync::Arc;

use crate::ack::EventFinalizers;
#[cfg(feature = "parquet")]
use crate::codecs::parquet::{ParquetFormat, ParquetObject};
use crate::options::compression::{Compression, GZIP_LEVEL, ZSTD_LEVEL};
use aws_sdk_s3::types::CompletedPart;

/// The file extension Vector gives objects compressed with `compression`.
pub(super) fn extension(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "log",
        Compression::Gzip => "log.gz",
        Compression::Zstd => "log.zst",
    }
}

/// A streaming compressor writing into memory; its output can be taken in pieces (parts).
pub(super) enum Compressor {
    /// Plain bytes.
    None(Vec<u8>),
    /// gzip stream.
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    /// zstd frame.
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Compressor {
    /// A new, empty stream.
    pub(super) fn new(compression: Compression) -> std::io::Result<Self> {
        Ok(match compression {
            Compression::None => Compressor::None(Vec::new()),
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(GZIP_LEVEL),
            )),
            Compression::Zstd => {
                Compressor::Zstd(zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)?)
            }
        })
    }

    /// Compresses `data` (writes into memory, so it cannot fail short of allocation).
    pub(super) fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Compressor::None(out) => {
                out.extend_from_slice(data);
                Ok(())
            }
            Compressor::Gzip(encoder) => encoder.write_all(data),
            Compressor::Zstd(encoder) => encoder.write_all(data),
        }
    }

    fn output(&mut self) -> &mut Vec<u8> {
        match self {
            Compressor::None(out) => out,
            Compressor::Gzip(encoder) => encoder.get_mut(),
            Compressor::Zstd(encoder) => encoder.get_mut(),
        }
    }

    /// Compressed bytes produced so far and not yet taken.
    pub(super) fn pending_output(&mut self) -> usize {
        self.output().len()
    }

    /// Takes the compressed bytes produced so far (the next part of the object).
    pub(super) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(self.output())
    }

    /// Ends the stream and returns the remaining compressed bytes.
    pub(super) fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Compressor::None(out) => Ok(out),
            Compressor::Gzip(encoder) => encoder.finish(),
            Compressor::Zstd(encoder) => encoder.finish(),
        }
    }
}

/// How an object's bytes are made.
pub(crate) enum ObjectFormat {
    /// Events encoded one per line, the stream compressed.
    Lines(Compression),
    /// A Parquet file of OCSF events.
    #[cfg(feature = "parquet")]
    Parquet(Arc<ParquetFormat>),
}

/// The bytes of an object being built.
// One per open object: its size does not matter, and boxing the compressor would add a
// pointer hop to every line written.
#[allow(clippy::large_enum_variant)]
pub(super) enum Body {
    /// NDJSON through a compressor.
    Lines(Compressor),
    /// A Parquet file.
    #[cfg(feature = "parquet")]
    Parquet(Box<ParquetObject>),
}

/// Why an object's bytes could not be made.
#[derive(Debug, thiserror::Error)]
pub(super) enum BodyError {
    /// Compressing failed.
    #[error("compressing the object failed: {0}")]
    Compress(#[from] std::io::Error),
    /// Encoding Parquet failed.
    #[cfg(feature = "parquet")]
    #[error("writing the Parquet object failed: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

impl Body {
    fn new(format: &ObjectFormat) -> Result<Self, BodyError> {
        Ok(match format {
            ObjectFormat::Lines(compression) => Body::Lines(Compressor::new(*compression)?),
            #[cfg(feature = "parquet")]
            ObjectFormat::Parquet(format) => Body::Parquet(Box::new(ParquetObject::new(format))),
        })
    }

    /// Bytes made so far and not yet taken.
    pub(super) fn pending_output(&mut self) -> usize {
        match self {
            Body::Lines(compressor) => compressor.pending_output(),
            #[cfg(feature = "parquet")]
            Body::Parquet(object) => object.pending_output(),
        }
    }

    /// Takes the bytes made so far (the next part of the object).
    pub(super) fn take_output(&mut self) -> Vec<u8> {
        match self {
            Body::Lines(compressor) => compressor.take_output(),
            #[cfg(feature = "parquet")]
            Body::Parquet(object) => object.take_output(),
        }
    }

    /// Ends the object and returns its remaining bytes.
    pub(super) fn finish(self) -> Result<Vec<u8>, BodyError> {
        Ok(match self {
            Body::Lines(compressor) => compressor.finish()?,
            #[cfg(feature = "parquet")]
            Body::Parquet(object) => object.finish()?,
        })
    }
}

/// A multipart upload in progress: the key was fixed when it started.
#[derive(Debug)]
pub(super) struct Multipart {
    /// The object key.
    pub key: String,
    /// The upload id.
    pub upload_id: String,
    /// Parts uploaded so far, in order.
    pub parts: Vec<CompletedPart>,
}

/// The object being built for one key prefix.
pub(super) struct Partition {
    /// The rendered key prefix.
    pub prefix: String,
    /// The object's bytes.
    pub body: Body,
    /// What `batch.max_bytes` limits: encoded (uncompressed) bytes so far, or for Parquet the
    /// object's estimated size.
    pub raw_bytes: usize,
    /// Events so far.
    pub events: usize,
    /// The events' acknowledgement links, finalized once the object is written.
    pub finalizers: Vec<EventFinalizers>,
    /// When the first event arrived (for `batch.timeout_secs`).
    pub opened: Instant,
    /// Set once the object has outgrown one part.
    pub multipart: Option<Multipart>,
}

impl Partition {
    /// An empty partition for `prefix`.
    pub(super) fn new(prefix: String, format: &ObjectFormat) -> Result<Self, BodyError> {
        Ok(Self {
            prefix,
            body: Body::new(format)?,
            raw_bytes: 0,
            events: 0,
            finalizers: Vec::new(),
            opened: Instant::now(),
            multipart: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn output_taken_in_parts_concatenates_to_one_valid_stream() {
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut compressor = Compressor::new(compression).unwrap();
            let mut expected = Vec::new();
            let mut object = Vec::new();
            for i in 0..20_000u32 {
                let line = format!(
                    "{{\"n\":{i},\"pad\":\"{}\"}}\n",
                    i.wrapping_mul(2_654_435_761)
                );
                expected.extend_from_slice(line.as_bytes());
                compressor.write(line.as_bytes()).unwrap();
                if compressor.pending_output() > 4096 {
                    object.extend(compressor.take_output());
                }
            }
            object.extend(compressor.finish().unwrap());
            let mut decoded = Vec::new();
            match compression {
                Compression::None => decoded = object,
                Compression::Gzip => {
                    flate2::read::GzDecoder::new(&object[..])
                        .read_to_end(&mut decoded)
                        .unwrap();
                }
                Compression::Zstd => decoded = zstd::decode_all(&object[..]).unwrap(),
            }
            assert_eq!(decoded, expected, "{compression:?}");
        }
    }
}
