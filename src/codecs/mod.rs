//! Encoding events to bytes and decoding bytes to events (Vector's `encoding` / `decoding`).

pub mod json;

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

/// Frames (lines) read from an input, stored back to back in one buffer so a batch of
/// lines costs two allocations, decoded later on whichever core is free.
#[derive(Debug, Default)]
pub struct FrameBatch {
    data: Vec<u8>,
    /// End offset in `data` and line number of each frame.
    frames: Vec<(usize, u64)>,
}

impl FrameBatch {
    /// An empty batch with room for `frames` frames of `bytes` bytes in total.
    pub fn with_capacity(frames: usize, bytes: usize) -> Self {
        Self {
            data: Vec::with_capacity(bytes),
            frames: Vec::with_capacity(frames),
        }
    }

    /// Appends one frame read at `line_number`.
    pub fn push(&mut self, frame: &[u8], line_number: u64) {
        self.data.extend_from_slice(frame);
        self.frames.push((self.data.len(), line_number));
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Total bytes of all frames.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Each frame with its line number; the frames share one buffer.
    pub fn into_frames(self) -> impl Iterator<Item = (Bytes, u64)> {
        let data = Bytes::from(self.data);
        let mut start = 0;
        self.frames.into_iter().map(move |(end, line)| {
            let frame = data.slice(start..end);
            start = end;
            (frame, line)
        })
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
}

impl EncodingConfig {
    /// Checks the field paths and returns the encoder.
    pub fn build(&self) -> Result<Encoder, BuildError> {
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
                                    format!("encoding.{option}"),
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
        Ok(Encoder {
            codec: self.codec,
            pretty: self.json.pretty,
            only_fields: parse("only_fields", &self.only_fields)?,
            except_fields: parse("except_fields", &self.except_fields)?,
        })
    }
}

/// A configured encoder.
#[derive(Clone, Debug)]
pub struct Encoder {
    codec: EncodingCodec,
    pretty: bool,
    only_fields: Option<Vec<OwnedValuePath>>,
    except_fields: Option<Vec<OwnedValuePath>>,
}

impl Encoder {
    /// Appends `value`, encoded, to `out` (without a frame delimiter).
    pub fn encode(&self, value: &Value, out: &mut Vec<u8>) {
        let filtered;
        let value = if self.only_fields.is_some() || self.except_fields.is_some() {
            filtered = self.filter_fields(value);
            &filtered
        } else {
            value
        };
        if self.codec == EncodingCodec::Text
            && let Some(message) = value.as_object().and_then(|object| object.get("message"))
        {
            match message {
                Value::Bytes(bytes) => out.extend_from_slice(bytes),
                other => out.extend_from_slice(other.to_string_lossy().as_bytes()),
            }
            return;
        }
        // Serializing a `Value` into a Vec cannot fail (keys are strings, floats are finite).
        let result = if self.pretty {
            serde_json::to_writer_pretty(&mut *out, value)
        } else {
            serde_json::to_writer(&mut *out, value)
        };
        debug_assert!(result.is_ok());
    }

    fn filter_fields(&self, value: &Value) -> Value {
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
        result
    }
}
