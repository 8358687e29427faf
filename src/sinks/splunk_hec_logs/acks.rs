//! The indexer-acknowledgement client: one task per sink that asks
//! `/services/collector/ack` which ack ids are indexed and tells each waiting batch.
//!
//! Vector polls every `query_interval` (10 s) and drops (`Rejected`) what is not acked after
//! `retry_limit` queries. Here polling starts at [`FAST_POLL`] and doubles while no id turns
//! true, up to `query_interval`, and resets to fast whenever an ack arrives — so a fast
//! indexer is asked often and a slow one is not hammered. One query covers every pending id.
//! An id not acked within its deadline (`query_interval × retry_limit`) is reported
//! [`AckOutcome::TimedOut`] and its batch resent by its sender; nothing is dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::client::HecClient;
use crate::metrics::ComponentMetrics;

/// First pause between ack queries after new ids arrive or an ack turns true.
pub(super) const FAST_POLL: Duration = Duration::from_millis(50);

/// Most ids asked about in one query (keeps request bodies small).
const MAX_IDS_PER_QUERY: usize = 1_000;

/// What became of an ack id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AckOutcome {
    /// `/ack` reported it true: the events are indexed.
    Acked,
    /// Not acked before the deadline: resend.
    TimedOut,
}

struct Waiting {
    deadline: Instant,
    notify: oneshot::Sender<AckOutcome>,
}

/// Registers ack ids with the polling task.
#[derive(Clone, Debug)]
pub(super) struct AckHandle {
    register: mpsc::UnboundedSender<(u64, oneshot::Sender<AckOutcome>)>,
}

impl AckHandle {
    /// Starts the polling task. It ends once every handle is dropped and no id is pending.
    pub(super) fn spawn(
        client: HecClient,
        query_interval: Duration,
        timeout: Duration,
        metrics: Arc<ComponentMetrics>,
    ) -> (Self, JoinHandle<()>) {
        // Unbounded is safe: senders hold a `max_pending_acks` permit per registered id.
        let (register, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(
            poll(client, receiver, query_interval, timeout, metrics).in_current_span(),
        );
        (Self { register }, task)
    }

    /// Waits until `ack_id` is acked or its deadline passes.
    pub(super) async fn wait(&self, ack_id: u64) -> AckOutcome {
        let (notify, outcome) = oneshot::channel();
        if self.register.send((ack_id, notify)).is_err() {
            return AckOutcome::TimedOut;
        }
        // A closed channel means the poller is gone: resending is the safe answer.
        outcome.await.unwrap_or(AckOutcome::TimedOut)
    }
}

async fn poll(
    client: HecClient,
    mut receiver: mpsc::UnboundedReceiver<(u64, oneshot::Sender<AckOutcome>)>,
    query_interval: Duration,
    timeout: Duration,
    metrics: Arc<ComponentMetrics>,
) {
    let fast = FAST_POLL.min(query_interval);
    let mut pending: HashMap<u64, Waiting> = HashMap::new();
    let mut interval = fast;
    let mut next_poll = Instant::now() + interval;
    let mut open = true;
    let mut failures: u32 = 0;
    loop {
        if pending.is_empty() {
            if !open {
                return;
            }
            match receiver.recv().await {
                Some((id, notify)) => {
                    pending.insert(
                        id,
                        Waiting {
                            deadline: Instant::now() + timeout,
                            notify,
                        },
                    );
                    interval = fast;
                    next_poll = Instant::now() + interval;
                }
                None => return,
            }
            continue;
        }
        tokio::select! {
            registered = receiver.recv(), if open => match registered {
                Some((id, notify)) => {
                    pending.insert(id, Waiting { deadline: Instant::now() + timeout, notify });
                }
                None => open = false,
            },
            () = tokio::time::sleep_until(next_poll) => {
                let mut ids: Vec<u64> = pending.keys().copied().collect();
                ids.sort_unstable();
                let mut any_acked = false;
                for chunk in ids.chunks(MAX_IDS_PER_QUERY) {
                    match client.query_acks(chunk).await {
                        Ok(acks) => {
                            failures = 0;
                            for (id, acked) in acks {
                                if acked && let Some(waiting) = pending.remove(&id) {
                                    any_acked = true;
                                    let _ = waiting.notify.send(AckOutcome::Acked);
                                }
                            }
                        }
                        Err(error) => {
                            failures += 1;
                            metrics.error(crate::metrics::ErrorType::Acknowledgment);
                            // Log the first failure of a streak and then every tenth.
                            if failures == 1 || failures.is_multiple_of(10) {
                                tracing::warn!(
                                    channel = client.channel(),
                                    %error,
                                    failures,
                                    "splunk_hec_logs: indexer acknowledgement query failed; will ask again"
                                );
                            }
                        }
                    }
                }
                let now = Instant::now();
                let expired: Vec<u64> = pending
                    .iter()
                    .filter(|(_, w)| w.deadline <= now)
                    .map(|(id, _)| *id)
                    .collect();
                for id in expired {
                    if let Some(waiting) = pending.remove(&id) {
                        let _ = waiting.notify.send(AckOutcome::TimedOut);
                    }
                }
                interval = if any_acked { fast } else { (interval * 2).min(query_interval) };
                next_poll = Instant::now() + interval;
            }
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::sinks::splunk_hec_logs::test_server::{Acks, TestHec};

    async fn wait_for(acks: Acks, timeout: Duration) -> (AckOutcome, TestHec, u64) {
        let server = TestHec::start(Vec::new(), acks).await;
        let metrics = Arc::new(ComponentMetrics::default());
        let (handle, task) = AckHandle::spawn(
            server.client(""),
            Duration::from_millis(20),
            timeout,
            Arc::clone(&metrics),
        );
        let outcome = handle.wait(7).await;
        drop(handle);
        task.await.expect("the poller ends once nothing is pending");
        (outcome, server, metrics.errors_total())
    }

    #[tokio::test]
    async fn an_id_reported_true_is_acked() {
        let (outcome, server, errors) = wait_for(Acks::AllTrue, Duration::from_secs(30)).await;
        assert_eq!(outcome, AckOutcome::Acked);
        assert_eq!(server.script().ack_queries, 1, "one query answered it");
        assert_eq!(errors, 0);
    }

    #[tokio::test]
    async fn an_id_not_acked_before_its_deadline_times_out() {
        let started = Instant::now();
        let (outcome, server, errors) = wait_for(Acks::AllFalse, Duration::from_millis(200)).await;
        assert_eq!(outcome, AckOutcome::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        // Fast at first (50 ms, capped here at the 20 ms query interval), then every 20 ms.
        assert!(
            server.script().ack_queries >= 3,
            "{}",
            server.script().ack_queries
        );
        assert_eq!(errors, 0, "an unacknowledged id is not an error");
    }

    #[tokio::test]
    async fn a_refused_ack_query_is_counted_and_the_id_times_out() {
        let (outcome, server, errors) =
            wait_for(Acks::Status(400), Duration::from_millis(200)).await;
        assert_eq!(outcome, AckOutcome::TimedOut, "never acked, so resent");
        let queries = server.script().ack_queries as u64;
        assert!(queries >= 2, "asked again after a failure: {queries}");
        assert_eq!(errors, queries, "each failed query is an error");
    }

    #[tokio::test]
    async fn a_gone_poller_means_resend() {
        let (register, receiver) = mpsc::unbounded_channel();
        drop(receiver);
        let handle = AckHandle { register };
        assert_eq!(handle.wait(1).await, AckOutcome::TimedOut);
    }
}
