//! The event model: an OCSF object as a [`vrl::value::Value`] plus pipeline metadata.
//!
//! The value is the event itself (no wrapper fields), so VRL programs address OCSF paths
//! directly (`.actor.user.email_addr`). Pipeline data — where the event came from and who is
//! waiting for its acknowledgement — lives in [`EventMetadata`].

use vrl::value::{ObjectMap, Value};

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
    /// VRL's `%` metadata namespace (for example the line number or S3 key of the record).
    pub value: Value,
    /// The acknowledgement links back to the source batch(es).
    pub finalizers: EventFinalizers,
}

impl Event {
    /// An event with no source and no finalizer.
    pub fn new(value: Value) -> Self {
        Self {
            value,
            metadata: EventMetadata {
                source_id: None,
                value: Value::Object(ObjectMap::new()),
                finalizers: EventFinalizers::default(),
            },
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
            metadata: EventMetadata {
                source_id: Some(source_id),
                value: Value::Object(ObjectMap::new()),
                finalizers: finalizer.map(EventFinalizers::new).unwrap_or_default(),
            },
        }
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
