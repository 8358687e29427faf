//! The `remap` transform at work: runs the program on each event, in place when it can.

use vrl::compiler::runtime::Terminate;
use vrl::path::OwnedValuePath;
use vrl::value::{KeyString, ObjectMap, Value};

use super::config::RemapConfig;
use crate::ack::BatchStatus;
use crate::component::SyncTransform;
use crate::event::{Batch, Event};
use crate::transforms::program::{CompiledVrl, UndoLog, VrlRunner};

/// A running `remap`.
pub(super) struct Remap {
    runner: VrlRunner,
    drop_on_error: bool,
    drop_on_abort: bool,
    reroute_dropped: bool,
    keep_original: bool,
    /// Where a non-object result goes (`log_schema.message_key`).
    message_key: OwnedValuePath,
    /// What the current run changed, to undo it if it fails.
    undo: UndoLog,
    logged_errors: u64,
}

/// Errors are logged individually up to this many per worker, then only counted.
const LOGGED_ERRORS_LIMIT: u64 = 20;

impl Remap {
    /// The transform for `config`'s compiled program.
    pub(super) fn new(
        compiled: CompiledVrl,
        config: &RemapConfig,
        message_key: OwnedValuePath,
    ) -> Self {
        // A copy of the original event is needed only when a failed or aborted run must pass
        // it on unchanged (or reroute it); otherwise the program runs in place, with no copy.
        let keep_original = (compiled.fallible()
            && (!config.drop_on_error || config.reroute_dropped))
            || (compiled.abortable() && (!config.drop_on_abort || config.reroute_dropped));
        Self {
            undo: UndoLog::default(),
            runner: VrlRunner::new(compiled),
            drop_on_error: config.drop_on_error,
            drop_on_abort: config.drop_on_abort,
            reroute_dropped: config.reroute_dropped,
            keep_original,
            message_key,
            logged_errors: 0,
        }
    }

    /// Sends a successful result on. `. = [a, b]` emits one event per element, as in Vector.
    fn emit(&self, event: Event, outputs: &mut [Batch]) {
        let Event {
            value,
            mut metadata,
        } = event;
        match value {
            Value::Object(_) => outputs[0].push(Event { value, metadata }),
            Value::Array(items) => {
                for item in items {
                    outputs[0].push(Event {
                        value: into_object(item, &self.message_key),
                        metadata: metadata.clone(),
                    });
                }
                // Each element carries its own finalizer copy; this one is done.
                metadata.finalizers.finalize(BatchStatus::Delivered);
            }
            other => outputs[0].push(Event {
                value: into_object(other, &self.message_key),
                metadata,
            }),
        }
    }

    /// Handles an event whose program failed or aborted (already restored to its original
    /// value when a copy was kept). Returns whether the event was dropped for good.
    fn failed(&mut self, mut event: Event, terminate: Terminate, outputs: &mut [Batch]) -> bool {
        let aborted = matches!(terminate, Terminate::Abort(_));
        let drop = if aborted {
            self.drop_on_abort
        } else {
            self.drop_on_error
        };
        if !aborted {
            self.logged_errors += 1;
            if self.logged_errors <= LOGGED_ERRORS_LIMIT {
                tracing::warn!(error = %terminate, dropped = drop, "VRL program failed on an event");
            }
        }
        if !drop {
            outputs[0].push(event);
            false
        } else if self.reroute_dropped {
            let mut dropped = ObjectMap::new();
            dropped.insert(
                KeyString::from("reason"),
                Value::from(if aborted { "abort" } else { "error" }),
            );
            dropped.insert(
                KeyString::from("message"),
                Value::from(terminate.to_string()),
            );
            dropped.insert(KeyString::from("component_type"), Value::from("remap"));
            dropped.insert(KeyString::from("component_kind"), Value::from("transform"));
            if let Value::Object(metadata) = event.metadata.value_mut() {
                metadata.insert(KeyString::from("dropped"), Value::Object(dropped));
            }
            outputs[1].push(event);
            false
        } else {
            // Dropped on purpose by configuration: handled.
            event.finish(BatchStatus::Delivered);
            true
        }
    }
}

impl SyncTransform for Remap {
    fn transform(&mut self, batch: Batch, outputs: &mut [Batch]) -> usize {
        outputs[0].reserve(batch.len());
        let mut discarded = 0;
        for mut event in batch {
            let result = if self.keep_original {
                self.runner.run_undoable(
                    &mut event.value,
                    event.metadata.value_mut(),
                    &mut self.undo,
                )
            } else {
                self.runner
                    .run(&mut event.value, event.metadata.value_mut())
            };
            // The program may have changed the value: its JSON size is measured again.
            event.value_changed();
            match result {
                Ok(_) => self.emit(event, outputs),
                Err(terminate) => {
                    if self.keep_original {
                        self.undo
                            .restore(&mut event.value, event.metadata.value_mut());
                    }
                    discarded += usize::from(self.failed(event, terminate, outputs));
                }
            }
        }
        discarded
    }
}

/// Another worker's instance: the same program and options, its own runtime and undo log.
impl Clone for Remap {
    fn clone(&self) -> Self {
        Self {
            runner: self.runner.clone(),
            drop_on_error: self.drop_on_error,
            drop_on_abort: self.drop_on_abort,
            reroute_dropped: self.reroute_dropped,
            keep_original: self.keep_original,
            message_key: self.message_key.clone(),
            undo: UndoLog::default(),
            logged_errors: 0,
        }
    }
}

/// A non-object root becomes `{ "message": value }` (at `log_schema.message_key`), as in
/// Vector.
fn into_object(value: Value, message_key: &OwnedValuePath) -> Value {
    match value {
        Value::Object(_) => value,
        other => {
            let mut object = Value::Object(ObjectMap::new());
            object.insert(message_key, other);
            object
        }
    }
}
