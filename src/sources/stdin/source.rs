//! The `stdin` source's run loop: framing on a reader thread, decoding on every core, sending in order.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Instrument as _;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::StdinConfig;
use crate::ack::{BatchNotifier, BatchStatusReceiver};
use crate::codecs::{Decoder, FrameBatch, LineFramer};
use crate::component::{ComponentError, SourceContext};
use crate::event::{Batch, Event, intern_id};
use crate::metrics::{ComponentMetrics, ErrorType};
use crate::topology::fanout::{Fanout, FusedChain};
use crate::topology::{MAX_BATCH_EVENTS, worker_count};
use vrl::value::Value;

/// Frames `input` into batches of lines on a thread of its own.
///
/// A read waiting for input cannot be cancelled: on tokio's blocking pool, a stdin that stays
/// open (a terminal, `tail -f … |`, a supervisor's pipe) would make the runtime's shutdown
/// wait forever after a SIGTERM. A plain thread blocked in `read` does not keep the process
/// alive (Vector's stdin source reads the same way). The thread ends at end of input, on a
/// read error (sent on), or when the source stops listening.
pub fn spawn_reader<R: Read + Send + 'static>(
    input: R,
    max_length: usize,
    metrics: Arc<ComponentMetrics>,
) -> std::io::Result<mpsc::Receiver<std::io::Result<FrameBatch>>> {
    let (sender, batches) = mpsc::channel(2);
    // The reader logs inside its component's span as the tasks do.
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("stdin-reader".into())
        .spawn(move || {
            let _entered = span.enter();
            let mut framer = LineFramer::new(input, max_length);
            loop {
                let skipped_before = framer.too_long;
                let next = framer.next_batch(MAX_BATCH_EVENTS);
                metrics.errors(ErrorType::Reader, framer.too_long - skipped_before);
                let batch = match next {
                    Ok(None) => break,
                    Ok(Some(batch)) => Ok(batch),
                    Err(error) => Err(error),
                };
                let failed = batch.is_err();
                if sender.blocking_send(batch).is_err() || failed {
                    break;
                }
            }
            tracing::debug!(
                lines = framer.lines(),
                too_long = framer.too_long,
                "stdin: end of input"
            );
        })?;
    Ok(batches)
}

/// Invalid lines are logged one by one up to this many, then only counted.
const LOGGED_INVALID_LINES: u64 = 100;

/// The result of decoding one [`FrameBatch`].
struct Decoded {
    events: Batch,
    /// The events' JSON size in all.
    bytes: usize,
    invalid_lines: Vec<(u64, String)>,
}

/// How a line becomes an event: the decoder, and the `host_key` field with the host name.
#[derive(Clone, Debug)]
struct LineDecoder {
    decoder: Decoder,
    host: Option<(vrl::path::OwnedValuePath, Value)>,
}

fn decode(
    frames: FrameBatch,
    codec: &LineDecoder,
    source_id: &'static str,
    notifier: BatchNotifier,
) -> Decoded {
    let mut events = Vec::with_capacity(frames.len());
    let mut invalid_lines = Vec::new();
    let mut bytes = 0;
    // A JSON line is the event's JSON text: its length is the size the metrics count, with
    // no walk over the value (unless `host_key` adds to it).
    let json_lines = codec.decoder.is_json() && codec.host.is_none();
    for (frame, line) in frames.into_frames() {
        match codec.decoder.decode(&frame) {
            Ok(mut value) => {
                if let Some((path, host)) = &codec.host {
                    value.insert(path, host.clone());
                }
                let mut event = Event::from_source(value, source_id, Some(notifier.finalizer()));
                if json_lines {
                    event.set_json_size(frame.len());
                }
                bytes += event.json_size();
                events.push(event);
            }
            Err(error) => invalid_lines.push((line, error.to_string())),
        }
    }
    Decoded {
        events,
        bytes,
        invalid_lines,
    }
}

/// Decodes the framed batches from `batches` on every core and sends them on in order,
/// until end of input or shutdown; then waits for every batch's acknowledgement.
///
/// Each batch is decoded and sent by one task. The output is handed from task to task in
/// input order (the "turn"): a task that has decoded its batch waits for the output, sends,
/// and passes the output on. A task usually finds the output already waiting, so it sends
/// from the core that decoded the batch, and the transforms and the sink it wakes run there
/// too: the events are read on the core that built them, which costs far less than moving
/// them to another core.
pub async fn read_lines(
    config: StdinConfig,
    cx: SourceContext,
    mut batches: mpsc::Receiver<std::io::Result<FrameBatch>>,
) -> Result<(), ComponentError> {
    let codec = Arc::new(LineDecoder {
        decoder: config.decoding.decoder(),
        host: config
            .host_field()
            .map_err(|error| ComponentError(error.message))?,
    });
    let source_id = intern_id(&cx.id);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(worker_count()));
    let invalid = Arc::new(AtomicU64::new(0));
    let (acks_tx, mut acks_rx) = mpsc::unbounded_channel::<(usize, BatchStatusReceiver)>();
    // The output travels from task to task; the first task finds it here.
    let (first_turn, mut turn) = oneshot::channel::<Fanout>();
    // The transforms fused into our output run in the decoding tasks, in parallel, before
    // the ordered send: each batch is decoded and transformed on one core. One instance per
    // task in flight (transforms keep state, such as VRL's runtime).
    let mut out = cx.out;
    let chains = out
        .take_chain()
        .map(|chain| Arc::new(ChainPool::new(chain)));
    // Moved, not cloned: once the last task is done with it, downstream sees the end of input
    // (a sink that batches until its input ends must not wait for our acknowledgements).
    let _ = first_turn.send(out);
    let mut tasks: std::collections::VecDeque<JoinHandle<Result<(), ComponentError>>> =
        std::collections::VecDeque::new();

    let collect_acks = async {
        let mut undelivered: u64 = 0;
        while let Some((count, receiver)) = acks_rx.recv().await {
            undelivered += receiver.outcome().await.undelivered_of(count);
        }
        undelivered
    };
    let dispatch = async {
        loop {
            let next = tokio::select! {
                biased;
                () = cx.shutdown.cancelled() => break,
                next = batches.recv() => next,
            };
            let frames = match next {
                None => break,
                Some(Ok(frames)) => frames,
                Some(Err(error)) => {
                    return Err(ComponentError(format!("reading stdin: {error}")));
                }
            };
            let permit = Arc::clone(&in_flight)
                .acquire_owned()
                .await
                .map_err(|_| ComponentError("stdin: decoding stopped".into()))?;
            let (next_turn, next_turn_rx) = oneshot::channel::<Fanout>();
            let my_turn = std::mem::replace(&mut turn, next_turn_rx);
            let (notifier, receiver) = BatchNotifier::new();
            let acks = acks_tx.clone();
            let invalid = Arc::clone(&invalid);
            let metrics = Arc::clone(&cx.metrics);
            let chains = chains.clone();
            let codec = Arc::clone(&codec);
            tasks.push_back(tokio::task::spawn(
                async move {
                    let decoded = decode(frames, &codec, source_id, notifier);
                    let count = decoded.events.len();
                    let bytes = decoded.bytes;
                    let events = match &chains {
                        Some(chains) => chains.apply(decoded.events),
                        None => decoded.events,
                    };
                    let Ok(mut out) = my_turn.await else {
                        // An earlier task failed and dropped the output: stop here too.
                        return Err(ComponentError("stdin: output lost".into()));
                    };
                    log_invalid_lines(&decoded.invalid_lines, &invalid, &metrics);
                    metrics.received_with_bytes(count, bytes);
                    let _ = acks.send((count, receiver));
                    let sent = out.send(events).await;
                    let _ = next_turn.send(out);
                    drop(permit);
                    sent.map_err(|e| ComponentError(format!("stdin: {e}")))
                }
                .in_current_span(),
            ));
            while tasks.front().is_some_and(JoinHandle::is_finished) {
                if let Some(task) = tasks.pop_front() {
                    join(task).await?;
                }
            }
        }
        while let Some(task) = tasks.pop_front() {
            join(task).await?;
        }
        Ok(())
    };
    let dispatched = dispatch.await;
    // Every batch is sent: let the output go so downstream sees the end, then wait for the
    // acknowledgements (exit 0 must mean everything read was delivered).
    drop(turn);
    drop(acks_tx);
    let undelivered = collect_acks.await;
    dispatched?;
    let invalid = invalid.load(Ordering::Relaxed);
    if invalid > 0 {
        tracing::warn!(invalid_lines = invalid, "invalid lines were skipped");
    }
    if undelivered > 0 {
        return Err(ComponentError(format!(
            "{undelivered} events read from stdin were not delivered"
        )));
    }
    Ok(())
}

/// Instances of a [`FusedChain`] for the decoding tasks: each takes an idle one (a new copy
/// when all are busy) and puts it back.
struct ChainPool {
    /// The first instance, then the idle ones.
    idle: std::sync::Mutex<Vec<FusedChain>>,
}

impl ChainPool {
    fn new(chain: FusedChain) -> Self {
        Self {
            idle: std::sync::Mutex::new(vec![chain]),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FusedChain>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply(&self, batch: Batch) -> Batch {
        let mut chain = {
            let mut idle = self.lock();
            if idle.len() > 1 {
                idle.pop()
            } else {
                // Keep one idle instance to copy from.
                idle.first().cloned()
            }
        }
        .expect("the pool keeps an instance");
        let batch = chain.apply(batch);
        self.lock().push(chain);
        batch
    }
}

async fn join(task: JoinHandle<Result<(), ComponentError>>) -> Result<(), ComponentError> {
    task.await
        .map_err(|e| ComponentError(format!("stdin: decoding task failed: {e}")))?
}

/// Logs each invalid line with its number, up to [`LOGGED_INVALID_LINES`], then only counts.
fn log_invalid_lines(lines: &[(u64, String)], invalid: &AtomicU64, metrics: &ComponentMetrics) {
    for (line, error) in lines {
        let count = invalid.fetch_add(1, Ordering::Relaxed) + 1;
        metrics.error(ErrorType::Parser);
        if count <= LOGGED_INVALID_LINES {
            tracing::warn!(line, %error, "invalid line skipped");
        } else if count == LOGGED_INVALID_LINES + 1 {
            tracing::warn!("more invalid lines; counting them without logging each");
        }
    }
}
