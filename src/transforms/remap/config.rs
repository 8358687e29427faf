//! The `remap` transform's options (Vector's names and defaults).

use std::path::PathBuf;

use serde::Deserialize;

use super::transform::Remap;
use crate::component::{
    BuildError, SyncTransform, TransformComponent, TransformContext, TransformOutputs,
};
use crate::options::default_true;
use crate::transforms::program::CompiledVrl;

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
    /// Time zone for VRL functions that use one. Default: the global `timezone`, else
    /// local (as in Vector).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Where a program's non-object result goes (`{ "message": 42 }`): the global
    /// `log_schema.message_key` (not an option of the table; `None` is `message`).
    #[serde(skip)]
    pub message_key: Option<String>,
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
    fn apply_globals(&mut self, globals: &crate::config::GlobalOptions) {
        self.timezone = globals.timezone_or(&self.timezone);
        if self.message_key.is_none() {
            self.message_key.clone_from(&globals.log_schema.message_key);
        }
    }

    fn build(&self, cx: &TransformContext) -> Result<Box<dyn SyncTransform>, BuildError> {
        let (text, field) = self.program_text()?;
        let compiled = CompiledVrl::compile(&text, field, self.timezone.as_deref(), cx).map_err(
            |mut error| {
                if field == "file" {
                    // The position is in the program file, not in the path string: keep it in
                    // the message only.
                    error.position_in_value = None;
                }
                error
            },
        )?;
        let message_key = crate::config::globals::field_path(
            self.message_key
                .as_deref()
                .unwrap_or(crate::config::globals::MESSAGE_KEY),
        )
        .map_err(|message| BuildError::field("log_schema.message_key", message))?;
        Ok(Box::new(Remap::new(compiled, self, message_key)))
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
