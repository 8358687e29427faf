//! Standard output and standard error, written by one dedicated thread each.
//!
//! A write to a pipe whose reader stopped reading blocks forever. Done on a tokio worker (or
//! on tokio's blocking pool, which the runtime waits for when it shuts down) it would keep the
//! process from reacting to signals and from exiting. Here every write to stdout or stderr —
//! the console sink's batches and the log lines — is handed to the stream's own thread, which
//! the process never waits for at exit. Callers wait for their write asynchronously
//! ([`StdStream::write_all`]) or not at all ([`StdStream::try_write`], for logs, which are
//! dropped and counted when the stream is that far behind).

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// Writes queued per stream before [`StdStream::try_write`] drops lines.
const QUEUED_WRITES: usize = 4096;

/// One of the process's standard streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// File descriptor 1.
    Stdout,
    /// File descriptor 2.
    Stderr,
}

/// What the writer thread is asked to do.
enum Job {
    /// Write the bytes and flush; answer with the result and the buffer (for reuse).
    Write(
        Vec<u8>,
        Option<oneshot::Sender<(std::io::Result<()>, Vec<u8>)>>,
    ),
    /// Answer once everything queued before has been written.
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// The queue of one standard stream's writer thread.
pub struct StdStream {
    jobs: mpsc::Sender<Job>,
    dropped: AtomicU64,
}

/// The writer of `stream`, started on first use.
pub fn stream(stream: Stream) -> &'static StdStream {
    static STDOUT: OnceLock<StdStream> = OnceLock::new();
    static STDERR: OnceLock<StdStream> = OnceLock::new();
    let cell = match stream {
        Stream::Stdout => &STDOUT,
        Stream::Stderr => &STDERR,
    };
    cell.get_or_init(|| StdStream::start(stream))
}

impl StdStream {
    fn start(stream: Stream) -> Self {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUED_WRITES);
        let name = match stream {
            Stream::Stdout => "c1-stdout",
            Stream::Stderr => "c1-stderr",
        };
        let spawned = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Some(job) = queue.blocking_recv() {
                    match job {
                        Job::Write(bytes, reply) => {
                            let result = write_flushed(stream, &bytes);
                            if let Some(reply) = reply {
                                let _ = reply.send((result, bytes));
                            }
                        }
                        Job::Flush(reply) => {
                            let _ = reply.send(());
                        }
                    }
                }
            });
        if let Err(error) = spawned {
            // Without the thread every write reports this error; nothing blocks.
            eprintln!("cannot start the {name} writer thread: {error}");
        }
        Self {
            jobs,
            dropped: AtomicU64::new(0),
        }
    }

    /// Writes `bytes` and flushes, without blocking the caller's thread. Returns the result
    /// and the buffer (cleared capacity can be reused). Never completes while the stream's
    /// reader does not read: callers that must stop race it against their shutdown.
    pub async fn write_all(&self, bytes: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        let (reply, answer) = oneshot::channel();
        if self
            .jobs
            .send(Job::Write(bytes, Some(reply)))
            .await
            .is_err()
        {
            return (Err(writer_gone()), Vec::new());
        }
        answer
            .await
            .unwrap_or_else(|_| (Err(writer_gone()), Vec::new()))
    }

    /// Queues `bytes` if there is room, else drops them (counted in [`Self::dropped`]).
    pub fn try_write(&self, bytes: Vec<u8>) {
        if self.jobs.try_send(Job::Write(bytes, None)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes dropped by [`Self::try_write`] because the stream was too far behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits up to `limit` for everything queued so far to be written; false if it was not.
    /// Blocks the calling thread: for the end of `main`.
    pub fn flush(&self, limit: Duration) -> bool {
        let (reply, done) = std::sync::mpsc::sync_channel(1);
        if self.jobs.try_send(Job::Flush(reply)).is_err() {
            return false;
        }
        done.recv_timeout(limit).is_ok()
    }
}

fn write_flushed(stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
    match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        }
        Stream::Stderr => {
            let mut out = std::io::stderr().lock();
            out.write_all(bytes)?;
            out.flush()
        }
    }
}

fn writer_gone() -> std::io::Error {
    std::io::Error::other("the standard stream's writer thread is not running")
}

/// A [`tracing_subscriber`] writer that hands each formatted log line to the stderr thread
/// (and drops it if stderr is far behind), so logging never blocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct NonBlockingStderr;

/// One log line being formatted; queued when dropped.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            stream(Stream::Stderr).try_write(std::mem::take(&mut self.0));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for NonBlockingStderr {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::with_capacity(256))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_queued_whole_and_flushed() {
        let mut line = tracing_subscriber::fmt::MakeWriter::make_writer(&NonBlockingStderr);
        line.write_all(b"stdio test: one ").unwrap();
        line.write_all(b"line\n").unwrap();
        drop(line);
        assert!(stream(Stream::Stderr).flush(Duration::from_secs(5)));
    }

    #[tokio::test]
    async fn writes_answer_with_the_result_and_the_buffer() {
        let (result, buffer) = stream(Stream::Stderr)
            .write_all(b"stdio test: a batch\n".to_vec())
            .await;
        result.expect("stderr is writable");
        assert_eq!(buffer, b"stdio test: a batch\n");
    }
}
