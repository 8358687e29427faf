//! A source started directly by a test, which is its only consumer: the test receives its
//! batches and finalizes each event as it decides.
//!
//! Used by `tests/conductorone_source.rs` and `tests/conductorone_s3_source.rs`.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use c1_pipeline::ack::BatchStatus;
use c1_pipeline::component::{ComponentError, SourceComponent, SourceContext};
use c1_pipeline::event::{Batch, Event};
use c1_pipeline::metrics::ComponentMetrics;
use c1_pipeline::topology::Fanout;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A running source and what the test holds of it.
pub struct RunningSource {
    /// The source's output.
    pub batches: mpsc::Receiver<Batch>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), ComponentError>>,
    pub metrics: Arc<ComponentMetrics>,
}

/// Builds `config` as source `id` (its state under `data_dir`) and starts it; its output is a
/// channel of `capacity` batches that the test reads.
pub fn start_source(
    config: &dyn SourceComponent,
    id: &str,
    data_dir: &Path,
    acknowledgements: bool,
    capacity: usize,
) -> RunningSource {
    let (sender, batches) = mpsc::channel(capacity);
    let metrics = Arc::new(ComponentMetrics::default());
    let shutdown = CancellationToken::new();
    let cx = SourceContext {
        id: Arc::from(id),
        out: Fanout::new(vec![(Arc::from("test_sink"), sender)], None),
        shutdown: shutdown.clone(),
        data_dir: Some(data_dir.to_path_buf()),
        acknowledgements,
        metrics: Arc::clone(&metrics),
        registry: Arc::default(),
    };
    let task = tokio::spawn(config.build(cx).expect("source builds"));
    RunningSource {
        batches,
        shutdown,
        task,
        metrics,
    }
}

impl RunningSource {
    /// Asserts that nothing more arrives for `quiet`; what did arrive is shown by `show`.
    pub async fn assert_quiet_showing<T: Debug>(
        &mut self,
        quiet: Duration,
        show: impl Fn(&Event) -> T,
    ) {
        if let Ok(Some(batch)) = tokio::time::timeout(quiet, self.batches.recv()).await {
            panic!(
                "unexpected events: {:?}",
                batch.iter().map(show).collect::<Vec<_>>()
            );
        }
    }

    /// The source's output, its shutdown token and its task, for a test that plays the
    /// sink itself.
    pub fn into_parts(
        self,
    ) -> (
        mpsc::Receiver<Batch>,
        CancellationToken,
        tokio::task::JoinHandle<Result<(), ComponentError>>,
    ) {
        (self.batches, self.shutdown, self.task)
    }

    /// Graceful stop: cancels the source and waits for it (at most `limit`), delivering
    /// whatever is still in flight meanwhile; the source's result.
    pub async fn stop_within(self, limit: Duration) -> Result<(), ComponentError> {
        self.shutdown.cancel();
        let RunningSource {
            mut batches, task, ..
        } = self;
        // Keep acknowledging whatever is still in flight while the source drains.
        let drain = tokio::spawn(async move {
            while let Some(batch) = batches.recv().await {
                for mut event in batch {
                    event.finalize(BatchStatus::Delivered);
                }
            }
        });
        let result = tokio::time::timeout(limit, task)
            .await
            .expect("source stops promptly")
            .expect("source task did not panic");
        drain.abort();
        result
    }
}
