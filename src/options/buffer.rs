//! `buffer.*` of every sink (Vector's names): the queue in front of the sink.
//!
//! Events travel between components in batches, over bounded channels; `buffer.max_events`
//! sizes a sink's input channel, `buffer.when_full` says what a producer does when it is full.
//! A disk buffer is refused: the sources here keep durable, acknowledged cursors, so events a
//! sink has not delivered are read again after a restart — what Vector's disk buffer is for.

use serde::Deserialize;

/// Events per batch that `max_events` is counted in: Vector's default `max_events` (500)
/// gives the channel depth every sink had before the option existed.
pub(crate) const EVENTS_PER_CHANNEL_SLOT: usize = 250;

/// A sink's `buffer` table.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// `memory` (default) or `disk` (refused: see the module's documentation).
    #[serde(rename = "type", default)]
    pub kind: BufferType,
    /// How many events the queue holds, counted in batches of `EVENTS_PER_CHANNEL_SLOT`
    /// (rounded up; at least one batch). Default 500.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// A disk buffer's size: accepted so that the refusal, not an unknown field, is what
    /// the user sees.
    #[serde(default)]
    pub max_size: Option<u64>,
    /// What happens when it is full. Default `block`.
    #[serde(default)]
    pub when_full: WhenFull,
}

/// `buffer.type`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BufferType {
    /// In memory.
    #[default]
    Memory,
    /// On disk (refused).
    Disk,
}

fn default_max_events() -> usize {
    500
}

impl Default for BufferConfig {
    fn default() -> Self {
        Self {
            kind: BufferType::Memory,
            max_events: default_max_events(),
            max_size: None,
            when_full: WhenFull::Block,
        }
    }
}

/// `buffer.when_full`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// The producer waits (backpressure up to the sources).
    #[default]
    Block,
    /// The batch is dropped for this sink, counted as discarded and acknowledged as handled.
    DropNewest,
    /// Vector's `overflow` (to a second buffer): refused like a disk buffer.
    Overflow,
}

/// Why a `buffer` table cannot be honoured.
pub(crate) const DISK_REFUSED: &str = "a disk buffer is not needed here: every source keeps a durable \
     cursor that advances only after the sinks acknowledge delivery, so events a sink has not \
     delivered are read again after a restart";

/// How to go on without a disk buffer.
pub(crate) const DISK_HELP: &str = "remove `buffer` (or use type = \"memory\"); for `stdin`, whose input \
     cannot be read again, keep the producer's data until c1-pipeline exits 0";

impl BufferConfig {
    /// The channel depth in batches, and whether a full channel drops the batch; or why the
    /// buffer is refused (message, help).
    pub fn channel(&self) -> Result<(usize, bool), (&'static str, &'static str)> {
        match (self.kind, self.when_full) {
            (BufferType::Disk, _) => Err((DISK_REFUSED, DISK_HELP)),
            (BufferType::Memory, WhenFull::Overflow) => Err((
                "`when_full = \"overflow\"` needs a second buffer, which only Vector's disk buffers have",
                "use `block` (default) or `drop_newest`",
            )),
            (BufferType::Memory, when_full) => Ok((
                self.max_events.div_ceil(EVENTS_PER_CHANNEL_SLOT).max(1),
                when_full == WhenFull::DropNewest,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_and_refusals() {
        assert_eq!(BufferConfig::default().channel(), Ok((2, false)));
        let drop = BufferConfig {
            max_events: 1,
            when_full: WhenFull::DropNewest,
            ..BufferConfig::default()
        };
        assert_eq!(drop.channel(), Ok((1, true)));
        let disk = BufferConfig {
            kind: BufferType::Disk,
            max_size: Some(1 << 30),
            ..BufferConfig::default()
        };
        assert_eq!(disk.channel().unwrap_err().0, DISK_REFUSED);
    }
}
