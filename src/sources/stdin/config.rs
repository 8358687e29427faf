//! The `stdin` source's options.

use std::sync::Arc;

use serde::Deserialize;
use vrl::path::OwnedValuePath;
use vrl::value::Value;

use super::source::{read_lines, spawn_reader};
use crate::codecs::{DecodingConfig, FramingConfig};
use crate::component::{BuildError, ComponentError, ComponentTask, SourceComponent, SourceContext};

/// `[sources.ID] type = "stdin"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {
    /// How each line becomes an event. Default `bytes` (`{ "message": line }`); `json` makes
    /// each line's object the event itself.
    #[serde(default)]
    pub decoding: DecodingConfig,
    /// Framing: only `newline_delimited` (the default) is supported.
    #[serde(default)]
    pub framing: Option<FramingConfig>,
    /// Lines longer than this many bytes are skipped and counted. Default 102400 (Vector's).
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    /// The field that gets this machine's host name (a path). Unset: the global
    /// `log_schema.host_key` when that is set, else no host field (events here are usually
    /// OCSF objects, which carry their own), unlike Vector, which always adds one at
    /// `log_schema.host_key` (default `host`).
    #[serde(default)]
    pub host_key: Option<String>,
}

fn default_max_length() -> usize {
    102_400
}

impl StdinConfig {
    /// The `host_key` path and the host name to put there, when `host_key` is set.
    pub(super) fn host_field(&self) -> Result<Option<(OwnedValuePath, Value)>, BuildError> {
        let Some(key) = &self.host_key else {
            return Ok(None);
        };
        let path = crate::config::globals::field_path(key).map_err(|message| {
            BuildError::field("host_key", message)
                .help("write a path as in VRL, e.g. `host` or `device.hostname`")
        })?;
        let name = hostname::get()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Some((path, Value::from(name))))
    }
}

impl SourceComponent for StdinConfig {
    fn apply_globals(&mut self, globals: &crate::config::GlobalOptions) {
        let schema = &globals.log_schema;
        if self.host_key.is_none() {
            self.host_key.clone_from(&schema.host_key);
        }
        if self.decoding.message_key.is_none() {
            self.decoding.message_key.clone_from(&schema.message_key);
        }
    }

    fn build(&self, cx: SourceContext) -> Result<ComponentTask, BuildError> {
        if self.max_length == 0 {
            return Err(BuildError::field("max_length", "must be greater than 0"));
        }
        self.host_field()?;
        let config = self.clone();
        // The reader thread starts with the source, not at build time (`validate` builds
        // sources without running them).
        Ok(Box::pin(async move {
            let batches =
                spawn_reader(std::io::stdin(), config.max_length, Arc::clone(&cx.metrics))
                    .map_err(|e| ComponentError(format!("stdin: cannot start the reader: {e}")))?;
            read_lines(config, cx, batches).await
        }))
    }
}
