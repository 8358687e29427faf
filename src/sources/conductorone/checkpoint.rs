//! The durable cursor: `data_dir/<source id>/checkpoint.json`.
//!
//! It holds the `metadata.uid` and `time` (epoch ms) of the last event every sink has
//! acknowledged, and is replaced atomically ([`crate::state::write_atomic`]): a reader sees
//! either the old or the new checkpoint, never a torn one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where polling resumes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// `metadata.uid` of the last delivered event (`sinceEventUid` of the next request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_uid: Option<String>,
    /// `time` of the last delivered event, epoch milliseconds (the `since` fallback); or the
    /// start time before any event was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<i64>,
}

/// Reading or writing the checkpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File system error.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint.
    #[error(
        "checkpoint {path} is not valid ({source}); move it away to start again from `start_at`"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// The checkpoint file of one source.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    path: PathBuf,
}

impl CheckpointStore {
    /// The store in `data_dir/<source_id>/`.
    pub fn new(data_dir: &Path, source_id: &str) -> Self {
        let path = data_dir.join(source_id).join("checkpoint.json");
        Self { path }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored checkpoint, or `None` on first run.
    pub fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| CheckpointError::Invalid {
                path: self.path.clone(),
                source,
            })
    }

    /// Replaces the checkpoint atomically (temp file, fsync, rename, directory fsync).
    pub fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        };
        crate::state::write_atomic(&self.path, &checkpoint.to_bytes()).map_err(io)
    }
}

impl Checkpoint {
    /// The file's content: the checkpoint as one JSON line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).expect("a checkpoint serializes");
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::new(dir.path(), "c1");
        assert!(store.load().expect("readable").is_none());
        let checkpoint = Checkpoint {
            last_uid: Some("evt-9".into()),
            last_time: Some(1_767_225_600_123),
        };
        store.save(&checkpoint).expect("saved");
        assert_eq!(store.load().expect("readable"), Some(checkpoint));
        assert!(!dir.path().join("c1/checkpoint.json.tmp").exists());
        std::fs::write(store.path(), b"{not json").expect("write");
        assert!(matches!(store.load(), Err(CheckpointError::Invalid { .. })));
    }
}
