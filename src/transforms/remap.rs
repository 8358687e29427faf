//! `remap`: modify events with a VRL program (Vector's options and behaviour).

use std::path::PathBuf;

use serde::Deserialize;
use vrl::compiler::runtime::Terminate;
use vrl::value::{KeyString, ObjectMap, Value};

use super::vrl::{CompiledVrl, UndoLog, VrlRunner};
use crate::ack::BatchStatus;
use crate::component::{BuildError, SyncTransform, TransformComponent, TransformOutputs};
use crate::event::{Batch, Event};
use crate::options::default_true;

/// Name of the output that carries dropped events when `reroute_dropped` is on.
pub const DROPPED_OUTPUT: &str = "dropped";

/// `[transforms.ID] type = "remap"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemapConfig {
    /// The VRL program. Exactly one of `source` and `file` is required.
    #[serde(default)]
    pub source: Option<String>,
    /// A file holding the VRL program.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Drop an event whose program raised an error (default `false`: pass the original event
    /// on unchanged and log the error).
    #[serde(default)]
    pub drop_on_error: bool,
    /// Drop an event whose program called `abort` (default `true`; `false` passes the
    /// original event on).
    #[serde(default = "default_true")]
    pub drop_on_abort: bool,
    /// Send dropped events to the `<id>.dropped` output, with `%dropped` metadata saying why
    /// (default `false`).
    #[serde(default)]
    pub reroute_dropped: bool,
    /// Time zone for VRL functions that use one (default: local).
    #[serde(default)]
    pub timezone: Option<String>,
}

impl RemapConfig {
    fn program_text(&self) -> Result<(String, &'static str), BuildError> {
        match (&self.source, &self.file) {
            (Some(source), None) => Ok((source.clone(), "source")),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|text| (text, "file"))
                .map_err(|error| {
                    BuildError::field(
                        "file",
                        format!("cannot read VRL file {}: {error}", path.display()),
                    )
                    .help("check the path (relative paths are relative to the working directory)")
                }),
            (Some(_), Some(_)) => Err(BuildError::field(
                "file",
                "both `source` and `file` are set",
            )
            .help("keep one of them")),
            (None, None) => Err(BuildError {
                field: None,
                message: "a VRL program is required".into(),
                help: Some("add `source = '''...'''` or `file = \"program.vrl\"`".into()),
                position_in_value: None,
            }),
        }
    }
}

impl TransformComponent for RemapConfig {
    fn build(&self) -> Result<Box<dyn SyncTransform>, BuildError> {
        let (text, field) = self.program_text()?;
        let compiled =
            CompiledVrl::compile(&text, field, self.timezone.as_deref()).map_err(|mut error| {
                if field == "file" {
                    // The position is in the program file, not in the path string: keep it in
                    // the message only.
                    error.position_in_value = None;
                }
                error
            })?;
        // A copy of the original event is needed only when a failed or aborted run must pass
        // it on unchanged (or reroute it); otherwise the program runs in place, with no copy.
        let keep_original = (compiled.fallible() && (!self.drop_on_error || self.reroute_dropped))
            || (compiled.abortable() && (!self.drop_on_abort || self.reroute_dropped));
        Ok(Box::new(Remap {
            undo: UndoLog::default(),
            runner: VrlRunner::new(compiled),
            drop_on_error: self.drop_on_error,
            drop_on_abort: self.drop_on_abort,
            reroute_dropped: self.reroute_dropped,
            keep_original,
            logged_errors: 0,
        }))
    }

    fn outputs(&self) -> TransformOutputs {
        TransformOutputs {
            default: true,
            named: if self.reroute_dropped {
                vec![DROPPED_OUTPUT.to_owned()]
            } else {
                Vec::new()
            },
            optional: Vec::new(),
        }
    }
}

/// A running `remap`.
struct Remap {
    runner: VrlRunner,
    drop_on_error: bool,
    drop_on_abort: bool,
    reroute_dropped: bool,
    keep_original: bool,
    /// What the current run changed, to undo it if it fails.
    undo: UndoLog,
    logged_errors: u64,
}

/// Errors are logged individually up to this many per worker, then only counted.
const LOGGED_ERRORS_LIMIT: u64 = 20;

impl Remap {
    /// Sends a successful result on. `. = [a, b]` emits one event per element, as in Vector.
    fn emit(event: Event, outputs: &mut [Batch]) {
        let Event {
            value,
            mut metadata,
        } = event;
        match value {
            Value::Object(_) => outputs[0].push(Event { value, metadata }),
            Value::Array(items) => {
                for item in items {
                    outputs[0].push(Event {
                        value: into_object(item),
                        metadata: metadata.clone(),
                    });
                }
                // Each element carries its own finalizer copy; this one is done.
                metadata.finalizers.finalize(BatchStatus::Delivered);
            }
            other => outputs[0].push(Event {
                value: into_object(other),
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
            match result {
                Ok(_) => Self::emit(event, outputs),
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

    fn clone_box(&self) -> Box<dyn SyncTransform> {
        Box::new(Remap {
            runner: self.runner.clone(),
            drop_on_error: self.drop_on_error,
            drop_on_abort: self.drop_on_abort,
            reroute_dropped: self.reroute_dropped,
            keep_original: self.keep_original,
            undo: UndoLog::default(),
            logged_errors: 0,
        })
    }
}

/// A non-object root becomes `{ "message": value }`, as in Vector.
fn into_object(value: Value) -> Value {
    match value {
        Value::Object(_) => value,
        other => {
            let mut object = ObjectMap::new();
            object.insert(KeyString::from("message"), other);
            Value::Object(object)
        }
    }
}
