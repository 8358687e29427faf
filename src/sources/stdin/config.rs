//! The `stdin` source's options.

use std::sync::Arc;

use serde::Deserialize;

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
}

fn default_max_length() -> usize {
    102_400
}

impl SourceComponent for StdinConfig {
    fn build(&self, cx: SourceContext) -> Result<ComponentTask, BuildError> {
        if self.max_length == 0 {
            return Err(BuildError::field("max_length", "must be greater than 0"));
        }
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
