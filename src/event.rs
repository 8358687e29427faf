//! The event model: an OCSF object as a [`vrl::value::Value`] plus pipeline metadata.
//!
//! The value is the event itself (no wrapper fields), so VRL programs address OCSF paths
//! directly (`.actor.user.email_addr`). Pipeline data — where the event came from and who is
//! waiting for its acknowledgement — lives in [`EventMetadata`].

use std::sync::Arc;

use vrl::value::{KeyString, ObjectMap, Value};

use crate::ack::{BatchStatus, EventFinalizer, EventFinalizers};

/// A batch of events: the unit that moves between components.
pub type Batch = Vec<Event>;

/// One event flowing through the pipeline.
#[derive(Clone, Debug)]
pub struct Event {
    /// The event itself (an OCSF object for ConductorOne sources).
    pub value: Value,
    /// Pipeline data attached to the event.
    pub metadata: EventMetadata,
}

/// Pipeline data carried beside an event's value.
#[derive(Clone, Debug)]
pub struct EventMetadata {
    /// Id of the source component that created the event (interned: see [`intern_id`]).
    pub source_id: Option<&'static str>,
    /// VRL's `%` metadata namespace as set so far; [`origin`](Self::origin) is not merged in
    /// yet. Read it through [`value_mut`](Self::value_mut) or [`to_value`](Self::to_value).
    value: Value,
    /// Where the event was read from, until something reads the `%` namespace.
    origin: Option<Origin>,
    /// The acknowledgement links back to the source batch(es).
    pub finalizers: EventFinalizers,
    /// The value's estimated JSON size once something has measured it
    /// ([`Event::json_size`]); 0 while not known.
    json_size: u32,
}

/// Where an event was read from: the fields it shares with every other record of the same
/// file or object (for example `bucket` and `key`) and its line in it.
///
/// The shared fields sit behind one `Arc` per file, and are copied into the event's own `%`
/// namespace only when something reads it (a VRL program, a test): building the map for every
/// record is a measurable share of the S3 source's CPU (`bench/README.md`, "Design
/// measurements"), spent for nothing whenever no transform looks at the metadata.
#[derive(Clone, Debug)]
pub struct Origin {
    /// Fields shared by every record of the origin, for example `bucket` and `key`.
    pub shared: Arc<ObjectMap>,
    /// The record's 1-based line, exposed as `%line`.
    pub line: u64,
}

impl EventMetadata {
    fn new(source_id: Option<&'static str>, finalizers: EventFinalizers) -> Self {
        Self {
            source_id,
            value: Value::Object(ObjectMap::new()),
            origin: None,
            finalizers,
            json_size: 0,
        }
    }

    /// VRL's `%` namespace, with the event's [`Origin`] merged in (on the first call).
    pub fn value_mut(&mut self) -> &mut Value {
        if let Some(origin) = self.origin.take() {
            merge_origin(&mut self.value, origin);
        }
        &mut self.value
    }

    /// A copy of VRL's `%` namespace, with the event's [`Origin`] merged in.
    pub fn to_value(&self) -> Value {
        let mut value = self.value.clone();
        if let Some(origin) = &self.origin {
            merge_origin(&mut value, origin.clone());
        }
        value
    }

    /// Records where the event was read from (see [`Origin`]), replacing an earlier origin not
    /// read yet. Fields already set in the `%` namespace take precedence over the origin's.
    pub fn set_origin(&mut self, origin: Origin) {
        self.origin = Some(origin);
    }
}

/// Adds `origin`'s fields to `value` (an object) where `value` has none of that name.
fn merge_origin(value: &mut Value, origin: Origin) {
    let Value::Object(map) = value else {
        return;
    };
    for (name, field) in origin.shared.iter() {
        map.entry(name.clone()).or_insert_with(|| field.clone());
    }
    map.entry(KeyString::from("line"))
        .or_insert_with(|| Value::Integer(i64::try_from(origin.line).unwrap_or(i64::MAX)));
}

impl Event {
    /// An event with no source and no finalizer.
    pub fn new(value: Value) -> Self {
        Self {
            value,
            metadata: EventMetadata::new(None, EventFinalizers::default()),
        }
    }

    /// An event from `source_id` (see [`intern_id`]), acknowledged through `finalizer`.
    pub fn from_source(
        value: Value,
        source_id: &'static str,
        finalizer: Option<EventFinalizer>,
    ) -> Self {
        Self {
            value,
            metadata: EventMetadata::new(
                Some(source_id),
                finalizer.map(EventFinalizers::new).unwrap_or_default(),
            ),
        }
    }

    /// The value's estimated JSON size in bytes (as Vector's `EstimatedJsonEncodedSizeOf`:
    /// strings counted without escapes), what `component_*_event_bytes_total` count. Kept in
    /// the event once measured, so the components downstream count it for free; a component
    /// that changes the value calls [`value_changed`](Self::value_changed).
    pub fn json_size(&mut self) -> usize {
        if self.metadata.json_size == 0 {
            let size = estimated_json_size(&self.value);
            self.metadata.json_size = u32::try_from(size).unwrap_or(u32::MAX);
        }
        self.metadata.json_size as usize
    }

    /// As [`json_size`](Self::json_size), without keeping a new measurement.
    pub fn json_size_now(&self) -> usize {
        match self.metadata.json_size {
            0 => estimated_json_size(&self.value),
            known => known as usize,
        }
    }

    /// Records the value's JSON size when the source knows it (the length of the JSON text
    /// it was parsed from).
    pub fn set_json_size(&mut self, size: usize) {
        self.metadata.json_size = u32::try_from(size).unwrap_or(u32::MAX);
    }

    /// Forgets the measured JSON size: the value has changed.
    pub fn value_changed(&mut self) {
        self.metadata.json_size = 0;
    }

    /// Reports this event's fate to the source(s) waiting on it.
    pub fn finalize(&mut self, status: BatchStatus) {
        self.metadata.finalizers.finalize(status);
    }

    /// Finalizes the event and drops it.
    pub fn finish(mut self, status: BatchStatus) {
        self.finalize(status);
    }
}

/// The length of `value` written as compact JSON, strings counted without escapes and
/// floats as their shortest form is usually long: an estimate, cheap enough to take for every
/// event (one walk, no allocation).
pub fn estimated_json_size(value: &Value) -> usize {
    match value {
        Value::Bytes(bytes) => bytes.len() + 2,
        Value::Integer(n) => integer_len(*n),
        Value::Float(_) => FLOAT_LEN,
        Value::Boolean(true) => 4,
        Value::Boolean(false) => 5,
        Value::Null => 4,
        // RFC 3339 with microseconds and `Z`, quoted.
        Value::Timestamp(_) => 29,
        Value::Object(map) => {
            let fields: usize = (map.iter())
                .map(|(key, field)| key.len() + 3 + estimated_json_size(field))
                .sum();
            2 + fields + map.len().saturating_sub(1)
        }
        Value::Array(items) => {
            let items_len: usize = items.iter().map(estimated_json_size).sum();
            2 + items_len + items.len().saturating_sub(1)
        }
        other => other.to_string_lossy().len() + 2,
    }
}

/// A float's estimated JSON length (`0.1234567890123`).
const FLOAT_LEN: usize = 15;

fn integer_len(n: i64) -> usize {
    let digits = n
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |log| log as usize + 1);
    digits + usize::from(n < 0)
}

/// A component id as a `&'static str`, stored once per distinct id for the life of the
/// process.
///
/// Events carry their source's id; an `Arc<str>` would cost two atomic operations per event
/// on a counter shared by the threads that create and drop events, which measurably slows
/// the whole pipeline.
pub fn intern_id(id: &str) -> &'static str {
    static IDS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = ids.iter().find(|known| **known == id) {
        return existing;
    }
    let leaked: &'static str = Box::leak(id.to_owned().into_boxed_str());
    ids.push(leaked);
    leaked
}

/// Finalizes every event of a batch with the same status and drops the batch.
pub fn finish_batch(batch: Batch, status: BatchStatus) {
    for event in batch {
        event.finish(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_size_estimate_is_the_compact_json_length_without_escapes_or_floats() {
        let json = r#"{"class_uid":6003,"time":-1733500000000,"ok":true,"no":false,"none":null,"actor":{"user":{"name":"Ada","uid":"u-1"}},"list":[1,"two",[],{}],"empty":{}}"#;
        let value: Value = serde_json::from_str(json).unwrap();
        assert_eq!(estimated_json_size(&value), json.len());
        let mut event = Event::new(value);
        assert_eq!(event.json_size(), json.len());
        event.value = Value::from("changed");
        assert_eq!(event.json_size(), json.len(), "kept until told");
        event.value_changed();
        assert_eq!(event.json_size(), "\"changed\"".len());
    }
}
