//! Small files of durable state in `data_dir` (checkpoints), replaced atomically.
//!
//! The new content goes to a temporary file in the same directory, which is flushed to disk
//! (`fsync`) and renamed over the old file; then the directory is synced so the rename itself
//! survives a power loss. A reader sees either the old or the new content, never a torn file.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

use tokio::sync::watch;

use crate::metrics::ComponentMetrics;
use crate::retry::Backoff;

/// Replaces `path` with `bytes` atomically, creating its directory if needed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp_name = path.file_name().unwrap_or_default().to_owned();
    temp_name.push(".tmp");
    let temp = dir.join(temp_name);
    {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, path)?;
    // Make the rename durable too (a directory is synced through a read-only handle).
    std::fs::File::open(dir).and_then(|dir| dir.sync_all())
}

/// The content of `path`, or `None` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The file in `data_dir` that one process at a time holds locked.
pub(crate) const LOCK_FILE: &str = ".c1-pipeline.lock";

/// An exclusive lock on a `data_dir`, held for as long as the value lives.
///
/// Two processes sharing one `data_dir` would race on the same checkpoint files (and their
/// temporary files) and each resume from the other's cursor. The lock is an advisory
/// `flock` on [`LOCK_FILE`]: the kernel drops it when the process ends, however it ends, so
/// a crash never leaves a stale lock behind. The holder writes its process id into the file
/// so the next one can say who holds it.
#[derive(Debug)]
pub(crate) struct DataDirLock {
    _file: std::fs::File,
}

/// Why a `data_dir` could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "data_dir {} is in use by another c1-pipeline process{}: two processes must not share one data_dir (their checkpoints would collide); stop the other process or give this one its own data_dir",
        dir.display(),
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    InUse {
        /// The folder.
        dir: std::path::PathBuf,
        /// The holder's process id, when it could be read.
        pid: Option<u32>,
    },
    /// The folder or its lock file could not be created or locked.
    #[error("cannot lock data_dir {}: {source}", dir.display())]
    Io {
        /// The folder.
        dir: std::path::PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

impl DataDirLock {
    /// Locks `dir` (creating it if needed) for this process, or says who holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| text.trim().parse().ok());
                return Err(LockError::InUse {
                    dir: dir.to_path_buf(),
                    pid,
                });
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(io(error)),
        }
        file.set_len(0).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { _file: file })
    }
}

/// Attempts at the final write before giving up (a full disk must not keep the process from
/// exiting).
const FINAL_ATTEMPTS: u32 = 3;

/// Content handed to the writer, with its sequence number.
type Update = Option<(u64, Arc<Vec<u8>>)>;

/// A task that writes the newest content handed to it, off the caller's task, coalescing
/// updates that arrive while a write is in progress and retrying failed writes with backoff.
/// Each update carries a sequence number; [`persisted`](Self::persisted) tells the highest one
/// on disk (a source bounds how far it runs ahead of its stored checkpoint with it).
pub(crate) struct StateWriter {
    latest: watch::Sender<Update>,
    persisted: watch::Receiver<u64>,
    next_seq: std::sync::atomic::AtomicU64,
    task: tokio::task::JoinHandle<()>,
}

impl StateWriter {
    /// The content of `path` as last written (`None` when there is no file yet), and a
    /// writer that keeps it from now on (see [`spawn`](Self::spawn)). The error names the file.
    pub(crate) fn open(
        path: std::path::PathBuf,
        what: &'static str,
        metrics: Arc<ComponentMetrics>,
        min_interval: Duration,
        backoff: Backoff,
    ) -> std::io::Result<(Option<Vec<u8>>, Self)> {
        let content = read_optional(&path).map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot read the {what} {}: {error}", path.display()),
            )
        })?;
        Ok((
            content,
            Self::spawn(path, what, metrics, min_interval, backoff),
        ))
    }

    /// A writer of `path`; `what` names the file in logs. Each write counts in `metrics` as
    /// `checkpoints_total`, each failure as an error. At most one write every `min_interval`;
    /// failed writes are retried after `backoff`'s delays.
    pub(crate) fn spawn(
        path: std::path::PathBuf,
        what: &'static str,
        metrics: Arc<ComponentMetrics>,
        min_interval: Duration,
        backoff: Backoff,
    ) -> Self {
        let (latest, updates) = watch::channel::<Update>(None);
        let (persisted_tx, persisted) = watch::channel(0u64);
        let task = tokio::spawn(
            write_loop(
                path,
                what,
                metrics,
                min_interval,
                backoff,
                updates,
                persisted_tx,
            )
            .in_current_span(),
        );
        Self {
            latest,
            persisted,
            next_seq: std::sync::atomic::AtomicU64::new(0),
            task,
        }
    }

    /// Hands over new content (numbered after the previous update); only the newest content
    /// not yet written is written.
    pub(crate) fn update(&self, bytes: Vec<u8>) {
        let seq = self
            .next_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        self.update_at(seq, bytes);
    }

    /// Hands over new content numbered `seq` by the caller (increasing; do not mix with
    /// [`update`](Self::update)).
    pub(crate) fn update_at(&self, seq: u64, bytes: Vec<u8>) {
        self.latest.send_replace(Some((seq, Arc::new(bytes))));
    }

    /// The sequence number of the newest content on disk (0 before the first write).
    pub(crate) fn persisted(&self) -> &watch::Receiver<u64> {
        &self.persisted
    }

    /// Writes the last content handed over, then stops.
    pub(crate) async fn finish(self) {
        drop(self.latest);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the state writer failed");
        }
    }
}

/// Not [`crate::retry::retry`]: each attempt writes the newest content (not the one that
/// failed), and once the sender closes the remaining attempts are bounded and quick.
async fn write_loop(
    path: std::path::PathBuf,
    what: &'static str,
    metrics: Arc<ComponentMetrics>,
    min_interval: Duration,
    mut backoff: Backoff,
    mut updates: watch::Receiver<Update>,
    persisted: watch::Sender<u64>,
) {
    let mut written = 0u64;
    let mut closed = false;
    while !closed {
        closed = updates.changed().await.is_err();
        let mut failures_after_close = 0;
        loop {
            // Always the newest content: one handed over during a retry wins.
            let next = updates.borrow_and_update().clone();
            let Some((seq, bytes)) = next.filter(|(seq, _)| *seq > written) else {
                break;
            };
            let target = path.clone();
            let result = tokio::task::spawn_blocking(move || write_atomic(&target, &bytes))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| r);
            match result {
                Ok(()) => {
                    backoff.reset();
                    written = seq;
                    metrics.add("checkpoints_total", 1);
                    let _ = persisted.send(seq);
                    if !closed {
                        tokio::time::sleep(min_interval).await;
                    }
                    break;
                }
                Err(error) => {
                    metrics.error(crate::metrics::ErrorType::Io);
                    closed = closed || updates.has_changed().is_err();
                    if closed {
                        failures_after_close += 1;
                        if failures_after_close >= FINAL_ATTEMPTS {
                            tracing::error!(%error, path = %path.display(), "giving up on writing the final {what}; the work after the last one written will be done again on the next start");
                            break;
                        }
                    }
                    let delay = if closed {
                        backoff.next_delay().min(Duration::from_secs(1))
                    } else {
                        backoff.next_delay()
                    };
                    tracing::error!(%error, path = %path.display(), retry_in_ms = delay.as_millis() as u64, "cannot write the {what}");
                    closed = sleep_unless_closed(&mut updates, delay, closed).await;
                }
            }
        }
    }
}

/// Sleeps `delay`, cut short when the sender closes; returns whether it is closed.
async fn sleep_unless_closed<T>(
    updates: &mut watch::Receiver<T>,
    delay: Duration,
    closed: bool,
) -> bool {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    if closed {
        sleep.await;
        return true;
    }
    loop {
        tokio::select! {
            () = &mut sleep => return false,
            changed = updates.changed() => if changed.is_err() {
                return true;
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_is_locked_by_one_holder_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("state");
        let held = DataDirLock::acquire(&data_dir).expect("first lock");
        let error = DataDirLock::acquire(&data_dir).expect_err("already held");
        let message = error.to_string();
        assert!(
            message.contains(&data_dir.display().to_string())
                && message.contains(&format!("(pid {})", std::process::id())),
            "{message}"
        );
        drop(held);
        DataDirLock::acquire(&data_dir).expect("free again");
    }

    #[tokio::test]
    async fn the_last_update_is_on_disk_after_finish() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("state.json");
        let metrics = Arc::new(ComponentMetrics::default());
        let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        let writer = StateWriter::spawn(
            path.clone(),
            "state",
            metrics,
            Duration::from_millis(1),
            backoff,
        );
        for n in 0..50 {
            writer.update(format!("{n}").into_bytes());
        }
        let mut persisted = writer.persisted().clone();
        tokio::time::timeout(Duration::from_secs(5), persisted.wait_for(|seq| *seq == 50))
            .await
            .expect("the last update is written")
            .expect("writer alive");
        writer.finish().await;
        assert_eq!(read_optional(&path).unwrap().unwrap(), b"49");
        assert!(
            read_optional(&dir.path().join("missing"))
                .unwrap()
                .is_none()
        );
    }
}
