//! `conductorone`: ConductorOne's system log, pulled over the API with a durable, acknowledged
//! cursor.
//!
//! Each poll lists events oldest first (`POST /api/v1/systemlog/events`, `SORT_DIRECTION_ASC`,
//! `pageSize` events a page) and follows `nextPageToken` until it is empty or absent, re-sending
//! the same filters with every page; a `nextPageToken` seen before in the same poll ends the
//! poll instead of looping. Every `poll_interval_secs` the next poll resumes after the last
//! event sent (`sinceEventUid` = its `metadata.uid`). The first run starts at `start_at`:
//! `now` (the default), `beginning`, or an RFC 3339 time (`since`). If the server rejects
//! the stored uid with a 4xx, the poll falls back to `since` = that event's `time` (inclusive)
//! and events already sent are dropped by `metadata.uid` (the last [`DEDUPE_CAPACITY`] sent;
//! right after a restart only the checkpoint's uid is known, so other events of that same
//! millisecond may be delivered again: at least once, never lost).
//!
//! Each `list` item becomes one event, the OCSF object unchanged except that integral floats
//! in integer fields become integers (see [`normalize`]).
//!
//! **Delivery guarantee: at least once.** Events go out in batches (a page split into batches
//! of at most [`MAX_BATCH_EVENTS`]), each with a [`BatchNotifier`]. The checkpoint
//! (`data_dir/<source id>/checkpoint.json`: `metadata.uid` and `time` of the last event) only
//! advances over the contiguous prefix of batches every sink has acknowledged
//! ([`OrderedAcks`]), and is written atomically by a [`StateWriter`] task (at most every
//! [`CHECKPOINT_MIN_INTERVAL`]) so `fsync` never stalls the polling. At most
//! `max_unacknowledged_events` (plus the page being sent) are sent ahead of the stored
//! checkpoint, which bounds what a crash (even `kill -9`) can make the source send again. A
//! batch that fails transiently (`Errored`) stops the checkpoint: the source waits for its
//! other batches, then resends everything after the checkpoint, after a backoff. A batch a
//! sink refused for good (`Rejected`: resending cannot help) is logged, counted in
//! `conductorone_rejected_events_total`, and the checkpoint moves over it. On shutdown the
//! source releases its output first (sinks that flush when their input closes then
//! acknowledge), waits for the outstanding batches and writes the final checkpoint; a write
//! that keeps failing then is given up after a few attempts, logging the
//! cursor that was not stored.
//! When some sink downstream does not acknowledge (`acknowledgements.enabled = false`), the
//! checkpoint advances as soon as a batch has been handed to the next component, so a crash
//! can lose the events still inside the pipeline.
//!
//! Errors: 408, 429, 499, 500, 502, 503, 504, connection errors and timeouts are retried
//! with the shared [`Backoff`] (from `retry_initial_backoff_secs`, doubling, full jitter, at most
//! `retry_max_backoff_secs`), honouring `Retry-After` (capped at the same maximum). Other
//! errors end the poll; it starts again after the same backoff. The source only stops on
//! shutdown, or for a credential that requires DPoP (no waiting can fix that).

pub mod checkpoint;
pub mod client;
pub mod credentials;
pub mod normalize;
pub mod token;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vrl::value::Value;

use crate::ack::{BatchNotifier, BatchStatus, OrderedAcks};
use crate::component::{
    BuildError, ComponentError, ComponentTask, Healthcheck, HealthcheckError, SourceComponent,
    SourceContext, seconds,
};
use crate::dedupe::{RecentSet, hash_str as uid_hash};
use crate::event::{Event, intern_id};
use crate::metrics::ComponentMetrics;
use crate::ocsf::{event_time_millis, event_uid};
use crate::retry::{Backoff, Retries};
use crate::secrets::Secret;
use crate::state::StateWriter;
use crate::topology::MAX_BATCH_EVENTS;
use crate::topology::fanout::Fanout;
use checkpoint::{Checkpoint, CheckpointStore};
use client::{ApiClient, ApiError, ListRequest, RawPage, SORT_ASC};
use credentials::AssertionKey;
use token::{Authenticator, TokenClient};

/// The default of `max_unacknowledged_events`: events that may be sent ahead of the stored
/// checkpoint (in the pipeline, or acknowledged but not yet written). After a crash at most
/// this many events, plus the page being sent, are delivered again; it also bounds the events
/// held in memory downstream. Large enough that checkpoint writes, spaced by
/// [`CHECKPOINT_MIN_INTERVAL`], never stall a backfill, and that a sink acknowledging every
/// few thousand events keeps up; a sink that batches more (`aws_s3`: 10 MB or
/// `batch.timeout_secs`) needs a larger value.
pub const DEFAULT_MAX_UNACKNOWLEDGED_EVENTS: usize = 10_000;

/// The shortest time between two checkpoint writes. Each write costs two `fsync`s (about
/// 0.1 ms of CPU and 0.3 ms of waiting here); writing after every acknowledged batch made
/// them a third of the source's CPU during a backfill. Updates arriving in between are
/// coalesced into the next write.
pub const CHECKPOINT_MIN_INTERVAL: Duration = Duration::from_millis(5);

/// Pages fetched ahead while earlier ones are being sent.
const PREFETCH_PAGES: usize = 2;

/// Recent `metadata.uid`s remembered to drop repeats (after the `since` fallback, or if the
/// server returns an event twice).
pub const DEDUPE_CAPACITY: usize = 10_000;

crate::options::component_options! {
[source_retry]
/// `[sources.ID] type = "conductorone"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConductoroneConfig {
    /// The credential's client id, `<id>@<tenant host>/<use case>`; the tenant host
    /// (`acme.conductor.one`, `acme.c1eu.ai`) comes from it. Required.
    pub client_id: String,
    /// The client secret (`secret-token:conductorone.com:v1:…`). Exactly one of
    /// `client_secret` and `client_secret_file` is required.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// A file holding the client secret (surrounding whitespace is ignored).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The API's root URL instead of `https://<tenant host>`; `http://` only for loopback
    /// addresses (tests, local proxies).
    #[serde(default)]
    pub base_url: Option<String>,
    /// How tokens are requested: `client_assertion` (default: a signed EdDSA JWT, the secret
    /// never leaves the process) or `client_secret` (the secret itself in the request).
    #[serde(default)]
    pub auth_method: AuthMethod,
    /// Events per ListEvents page, 1 to 100. Default 100.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Events sent and not yet covered by the stored checkpoint (waiting for a sink's
    /// acknowledgement, or for the write). Bounds memory downstream and the events sent again
    /// after a crash. Default [`DEFAULT_MAX_UNACKNOWLEDGED_EVENTS`]; at least 1 (a page
    /// always goes out whole).
    #[serde(default = "default_max_unacknowledged_events")]
    pub max_unacknowledged_events: usize,
    /// Seconds between polls once caught up. Default 30.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: f64,
    /// Where the first run starts (ignored once a checkpoint exists): `now` (default),
    /// `beginning`, or an RFC 3339 time.
    #[serde(default)]
    pub start_at: StartAt,
}
}

fn default_page_size() -> u32 {
    100
}
fn default_max_unacknowledged_events() -> usize {
    DEFAULT_MAX_UNACKNOWLEDGED_EVENTS
}
fn default_poll_interval() -> f64 {
    30.0
}

/// How the source authenticates to the token endpoint.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// An EdDSA-signed JWT client assertion (what every official SDK sends).
    #[default]
    ClientAssertion,
    /// The client secret itself, in the form body.
    ClientSecret,
}

/// Where the first run starts.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub enum StartAt {
    /// Only events from the moment the source first starts.
    #[default]
    Now,
    /// Everything the tenant still has.
    Beginning,
    /// Events at or after this time, epoch milliseconds.
    Time(i64),
}

impl TryFrom<String> for StartAt {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "now" => Ok(Self::Now),
            "beginning" => Ok(Self::Beginning),
            other => chrono::DateTime::parse_from_rfc3339(other)
                .map(|t| Self::Time(t.timestamp_millis()))
                .map_err(|_| {
                    format!(
                        "`start_at` must be `now`, `beginning` or an RFC 3339 time such as `2026-01-01T00:00:00Z`, not `{other}`"
                    )
                }),
        }
    }
}

/// A checked configuration.
#[derive(Clone, Debug)]
struct Settings {
    client_id: String,
    base_url: String,
    audience: String,
    auth: Authenticator,
    page_size: u32,
    max_unacknowledged_events: u64,
    poll_interval: Duration,
    start_at: StartAt,
    retry: crate::retry::SourceRetry,
}

/// A URL's host without the brackets of an IPv6 literal.
fn bare_host(url: &reqwest::Url) -> Option<&str> {
    url.host_str()
        .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    bare_host(url).is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

impl ConductoroneConfig {
    fn secret(&self) -> Result<(Secret, &'static str), BuildError> {
        match (&self.client_secret, &self.client_secret_file) {
            (Some(secret), None) => Ok((secret.clone(), "client_secret")),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    BuildError::field(
                        "client_secret_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                Ok((Secret::new(text.trim()), "client_secret_file"))
            }
            (Some(_), Some(_)) => Err(BuildError::field(
                "client_secret_file",
                "both `client_secret` and `client_secret_file` are set",
            )
            .help("keep one of them")),
            (None, None) => Err(
                BuildError::field("client_secret", "no client secret is set")
                    .help("set `client_secret = \"${C1_CLIENT_SECRET}\"` or `client_secret_file`"),
            ),
        }
    }

    fn resolve(&self) -> Result<Settings, BuildError> {
        let client_id = self.client_id.trim().to_owned();
        let host = credentials::tenant_host(&client_id)
            .map_err(|e| BuildError::field("client_id", e.to_string()))?;
        // Empty counts as unset, so `base_url = "${C1_BASE_URL:-}"` works in a config.
        let base_url = self
            .base_url
            .as_deref()
            .filter(|raw| !raw.trim().is_empty());
        let (base_url, audience) = match base_url {
            None => (
                format!("https://{host}"),
                credentials::audience(&host).to_owned(),
            ),
            Some(raw) => {
                let url = reqwest::Url::parse(raw.trim()).map_err(|e| {
                    BuildError::field("base_url", format!("`{raw}` is not a URL: {e}"))
                })?;
                if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&url)) {
                    return Err(BuildError::field(
                        "base_url",
                        format!("`{raw}` must use https (http only for loopback addresses)"),
                    ));
                }
                let Some(audience) = bare_host(&url).map(str::to_owned) else {
                    return Err(BuildError::field(
                        "base_url",
                        format!("`{raw}` has no host"),
                    ));
                };
                (url.as_str().trim_end_matches('/').to_owned(), audience)
            }
        };
        let (secret, secret_field) = self.secret()?;
        // No `field`: the error would then quote the option's line of the file, which may
        // hold the secret itself. The message names the option instead.
        let key = credentials::parse_secret(secret.expose()).map_err(|e| BuildError {
            field: None,
            message: format!("`{secret_field}`: {e}"),
            help: Some("use the secret exactly as ConductorOne showed it when the credential was created: `secret-token:conductorone.com:v1:…`".to_owned()),
            position_in_value: None,
        })?;
        let auth = match self.auth_method {
            AuthMethod::ClientAssertion => Authenticator::Assertion(AssertionKey::new(key)),
            AuthMethod::ClientSecret => Authenticator::Secret(secret),
        };
        if !(1..=100).contains(&self.page_size) {
            return Err(BuildError::field(
                "page_size",
                format!("must be between 1 and 100, not {}", self.page_size),
            ));
        }
        if self.max_unacknowledged_events == 0 {
            return Err(BuildError::field(
                "max_unacknowledged_events",
                "must be at least 1, not 0",
            ));
        }
        let retry = self.source_retry()?;
        Ok(Settings {
            client_id,
            base_url,
            audience,
            auth,
            page_size: self.page_size,
            max_unacknowledged_events: self.max_unacknowledged_events as u64,
            poll_interval: seconds("poll_interval_secs", self.poll_interval_secs, false)?,
            start_at: self.start_at,
            retry,
        })
    }
}

impl Settings {
    fn client(&self, metrics: Option<Arc<ComponentMetrics>>) -> Result<ApiClient, String> {
        let http = reqwest::Client::builder()
            .timeout(self.retry.request_timeout)
            .connect_timeout(self.retry.request_timeout.min(Duration::from_secs(10)))
            // Never follow a redirect with the bearer token (it could lead to another host).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("c1-pipeline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
        let tokens = TokenClient::new(
            http.clone(),
            &self.base_url,
            self.client_id.clone(),
            self.audience.clone(),
            self.auth.clone(),
        );
        Ok(ApiClient::new(http, self.base_url.clone(), tokens, metrics))
    }

    fn backoff(&self) -> Backoff {
        self.retry.backoff()
    }
}

impl SourceComponent for ConductoroneConfig {
    fn build(&self, cx: SourceContext) -> Result<ComponentTask, BuildError> {
        let settings = self.resolve()?;
        let Some(data_dir) = cx.data_dir.clone() else {
            return Err(BuildError {
                field: None,
                message: "the conductorone source keeps its checkpoint in `data_dir`, which is not set".to_owned(),
                help: Some("add `data_dir = \"/var/lib/c1-pipeline\"` at the top level of the configuration".to_owned()),
                position_in_value: None,
            });
        };
        let client = settings
            .client(Some(Arc::clone(&cx.metrics)))
            .map_err(|message| BuildError {
                field: None,
                message,
                help: None,
                position_in_value: None,
            })?;
        let store = CheckpointStore::new(&data_dir, &cx.id);
        Ok(Box::pin(run(settings, client, store, cx)))
    }

    /// Mints a token, calls `GET /api/v1/auth/introspect`, then lists one event (from now) to
    /// prove the credential may read the system log.
    fn healthcheck(&self) -> Healthcheck {
        let settings = self.resolve();
        Box::pin(async move {
            let settings = settings.map_err(|e| HealthcheckError(e.message))?;
            let client = settings.client(None).map_err(HealthcheckError)?;
            let identity = client
                .introspect()
                .await
                .map_err(|e| HealthcheckError(format!("{} ({})", e, settings.base_url)))?;
            let field = |name: &str| {
                let value = identity.get(name).unwrap_or(&serde_json::Value::Null);
                crate::secrets::redact(&value.to_string())
            };
            tracing::debug!(
                principal = %field("principleId"),
                roles = %field("roles"),
                "conductorone: credential introspected"
            );
            let probe = ListRequest {
                page_size: 1,
                sort_direction: SORT_ASC,
                since: Some(format_time(chrono::Utc::now().timestamp_millis())),
                ..ListRequest::default()
            };
            client.list_events(&probe).await.map_err(|e| match e {
                ApiError::Forbidden(_) => HealthcheckError(format!(
                    "the credential is valid but lacks system-log access: {e}"
                )),
                other => HealthcheckError(format!("listing system-log events failed: {other}")),
            })?;
            Ok(())
        })
    }
}

/// An RFC 3339 UTC time with milliseconds, as the API's `since` wants it.
fn format_time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Lists one poll's pages into `pages`: ends at an empty token, a repeated token, a
/// permanent error (sent on), or when the receiver is gone. Transient errors are retried.
async fn fetch_cycle(
    client: Arc<ApiClient>,
    mut request: ListRequest,
    mut fallback_since: Option<String>,
    mut retries: Retries,
    pages: mpsc::Sender<Result<RawPage, ApiError>>,
) {
    let mut tokens_seen = HashSet::new();
    let mut first = true;
    loop {
        let page = match client.list_events_retrying(&request, &mut retries).await {
            Ok(page) => page,
            Err(error) if first && error.is_client_error() && request.since_event_uid.is_some() => {
                let Some(since) = fallback_since.take() else {
                    let _ = pages.send(Err(error)).await;
                    return;
                };
                tracing::warn!(%error, %since, "conductorone: the server rejected sinceEventUid; resuming by time instead (events already sent are skipped)");
                request.since_event_uid = None;
                request.since = Some(since);
                continue;
            }
            Err(error) => {
                let _ = pages.send(Err(error)).await;
                return;
            }
        };
        first = false;
        let next = page.next_page_token.clone();
        if pages.send(Ok(page)).await.is_err() {
            return;
        }
        match next {
            None => return,
            Some(token) if !tokens_seen.insert(token.clone()) => {
                tracing::warn!(
                    "conductorone: the server repeated a nextPageToken; ending this poll (the next one resumes after the last event)"
                );
                return;
            }
            Some(token) => request.page_token = Some(token),
        }
    }
}

/// Recent uids, to drop events sent before.
struct Dedupe(RecentSet);

impl Dedupe {
    fn new(seed: Option<&str>) -> Self {
        let mut dedupe = Self(RecentSet::new(DEDUPE_CAPACITY));
        if let Some(uid) = seed {
            dedupe.insert(uid_hash(uid));
        }
        dedupe
    }

    /// Records `hash`; false if it was already there.
    fn insert(&mut self, hash: u64) -> bool {
        self.0.insert(hash)
    }
}

/// The token of a sent batch.
#[derive(Clone, Debug)]
struct AckToken {
    /// Events sent up to the end of the batch (the checkpoint writer's sequence number).
    seq: u64,
    /// Events in the batch.
    events: u64,
    /// The cursor after the batch.
    cursor: Checkpoint,
}

/// Why a poll ended.
enum PollEnd {
    Shutdown,
    /// A batch was not delivered: resend from the checkpoint.
    Rewind,
    Failed(ApiError),
    Done,
}

/// The running source.
struct Source {
    source_id: &'static str,
    out: Fanout,
    shutdown: CancellationToken,
    acknowledgements: bool,
    metrics: Arc<ComponentMetrics>,
    page_size: u32,
    /// The cursor after the last event sent (where the next poll starts).
    cursor: Checkpoint,
    /// Events sent so far (a sequence number for acks and the checkpoint writer). A rewind
    /// moves it back to the last committed batch's: the abandoned batches were never handed
    /// to the writer, so its sequence stays increasing.
    sent: u64,
    /// `max_unacknowledged_events`.
    max_unacknowledged: u64,
    acks: OrderedAcks<AckToken>,
    commit: Commit,
    dedupe: Dedupe,
    /// Items skipped because they could not become events, this run.
    invalid_events: u64,
}

/// Undecodable events logged one by one per run; the rest are only counted.
const LOGGED_INVALID_EVENTS: u64 = 100;

/// What acknowledgements move: the committed cursor and the checkpoint writer.
struct Commit {
    /// The cursor every sink has acknowledged.
    committed: Checkpoint,
    /// The sequence number of `committed` (the last one handed to the writer).
    committed_seq: u64,
    /// A batch failed: nothing more is committed until the source has rewound.
    failed: bool,
    writer: StateWriter,
    metrics: Arc<ComponentMetrics>,
}

impl Commit {
    /// Handles one batch's outcome; false when it was not delivered.
    /// `Rejected` counts as handled: resending cannot help, so the checkpoint moves over it.
    fn on_ack(&mut self, token: AckToken, status: BatchStatus) -> bool {
        if self.failed {
            return false;
        }
        match status {
            BatchStatus::Delivered => {}
            BatchStatus::Rejected => {
                tracing::error!(
                    events = token.events,
                    last_uid = token.cursor.last_uid.as_deref().unwrap_or(""),
                    "conductorone: a sink refused a batch for good (Rejected); its events are not sent again and the checkpoint moves past them"
                );
                self.metrics.error();
                self.metrics
                    .add("conductorone_rejected_events_total", token.events);
            }
            BatchStatus::Errored => {
                tracing::error!(
                    events = token.events,
                    "conductorone: a batch was not delivered; the checkpoint stays, and events after it will be sent again"
                );
                self.metrics.error();
                self.failed = true;
                return false;
            }
        }
        self.committed = token.cursor.clone();
        self.committed_seq = token.seq;
        self.writer.update_at(token.seq, token.cursor.to_bytes());
        true
    }
}

impl Source {
    /// Whether another page may be sent without exceeding the unpersisted bound.
    fn has_room(&self) -> bool {
        let persisted = *self.commit.writer.persisted().borrow();
        self.sent.saturating_sub(persisted) < self.max_unacknowledged
    }

    fn on_ack(&mut self, token: AckToken, status: BatchStatus) -> bool {
        self.commit.on_ack(token, status)
    }

    fn drain_ready_acks(&mut self) -> bool {
        while let Some((token, status)) = self.acks.try_next_ready() {
            if !self.on_ack(token, status) {
                return false;
            }
        }
        true
    }

    /// Sends a page's new events in batches. `Err` when the source must stop.
    async fn send_page(&mut self, page: RawPage) -> Result<Option<PollEnd>, ComponentError> {
        // Decoded here, not by the fetcher: the events are then built, sent and (usually)
        // consumed by the sink on one core.
        let parsed = match client::parse_page(&page.body) {
            Ok(parsed) => parsed,
            Err(reason) => {
                self.metrics.error();
                self.metrics
                    .add("conductorone_api_errors_total{status=\"invalid_body\"}", 1);
                return Ok(Some(PollEnd::Failed(ApiError::invalid_body(&reason))));
            }
        };
        if parsed.next_page_token != page.next_page_token {
            return Ok(Some(PollEnd::Failed(ApiError::InvalidBody {
                reason: "the page's nextPageToken could not be read consistently".to_owned(),
                request_id: None,
            })));
        }
        self.skip_invalid(&parsed);
        let trailing_invalid = parsed.trailing_invalid_uid().map(str::to_owned);
        let mut events: Vec<Value> = Vec::with_capacity(parsed.events.len());
        for mut event in parsed.events {
            normalize::normalize(&mut event);
            if event_uid(&event).is_none_or(|uid| self.dedupe.insert(uid_hash(uid))) {
                events.push(event);
            }
        }
        self.metrics.received(events.len());
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            let chunk: Vec<Value> = events.by_ref().take(MAX_BATCH_EVENTS).collect();
            if let Some(end) = self.send_batch(chunk).await? {
                return Ok(Some(end));
            }
        }
        if let Some(uid) = trailing_invalid {
            // The next request starts after it; the durable cursor passes it with the next
            // delivered batch (after a crash before that, it is fetched and skipped again).
            self.cursor.last_uid = Some(uid);
        }
        Ok(None)
    }

    /// Moves the sent cursor to the last event of `chunk` that has a uid, and updates the lag.
    fn advance_cursor(&mut self, chunk: &[Value]) {
        if let Some((uid, event)) = chunk
            .iter()
            .rev()
            .find_map(|event| event_uid(event).map(|uid| (uid, event)))
        {
            self.cursor.last_uid = Some(uid.to_owned());
            if let Some(time) = event_time_millis(event) {
                self.cursor.last_time = Some(time);
            }
        }
        if let Some(time) = chunk.last().and_then(event_time_millis) {
            let lag = chrono::Utc::now()
                .timestamp_millis()
                .saturating_sub(time)
                .max(0);
            self.metrics
                .set("source_lag_time_seconds", (lag / 1000) as u64);
        }
    }

    /// Sends one batch, committing acknowledgements while the consumer is busy. `Some` when
    /// the poll must end (shutdown, or a failed batch to rewind for).
    async fn send_batch(&mut self, chunk: Vec<Value>) -> Result<Option<PollEnd>, ComponentError> {
        self.advance_cursor(&chunk);
        self.sent += chunk.len() as u64;
        let token = AckToken {
            seq: self.sent,
            events: chunk.len() as u64,
            cursor: self.cursor.clone(),
        };
        let (notifier, receiver) = if self.acknowledgements {
            let (notifier, receiver) = BatchNotifier::new();
            (Some(notifier), Some(receiver))
        } else {
            (None, None)
        };
        let batch: Vec<Event> = chunk
            .into_iter()
            .map(|value| {
                let finalizer = notifier.as_ref().map(BatchNotifier::finalizer);
                Event::from_source(value, self.source_id, finalizer)
            })
            .collect();
        drop(notifier);
        if let Some(receiver) = receiver {
            self.acks.push(token.clone(), receiver);
        }
        // While the consumer is busy (backpressure), keep committing acknowledgements.
        let mut ok = true;
        {
            let send = self.out.send(batch);
            tokio::pin!(send);
            loop {
                tokio::select! {
                    biased;
                    () = self.shutdown.cancelled() => {
                        // Not sent: its events were dropped (as `Errored`), nobody waits.
                        if self.acknowledgements {
                            self.acks.pop_back();
                        }
                        return Ok(Some(PollEnd::Shutdown));
                    }
                    sent = &mut send => {
                        sent.map_err(|e| ComponentError(format!("conductorone: {e}")))?;
                        break;
                    }
                    Some((token, status)) = self.acks.next_ready(), if ok && self.acks.len() > 1 => {
                        ok = self.commit.on_ack(token, status);
                    }
                }
            }
        }
        if !self.acknowledgements {
            ok = ok && self.on_ack(token, BatchStatus::Delivered);
        }
        if !ok || !self.drain_ready_acks() {
            return Ok(Some(PollEnd::Rewind));
        }
        Ok(None)
    }

    /// Counts and logs the page's items that cannot become events (the first
    /// [`LOGGED_INVALID_EVENTS`] of a run each with its uid and position, then only counted).
    fn skip_invalid(&mut self, page: &client::Page) {
        for item in &page.invalid {
            self.metrics.error();
            self.metrics.add("conductorone_invalid_events_total", 1);
            self.invalid_events += 1;
            if self.invalid_events <= LOGGED_INVALID_EVENTS {
                tracing::warn!(
                    component = %self.source_id,
                    uid = item.uid.as_deref().unwrap_or("(unknown)"),
                    position = item.index,
                    error = %item.reason,
                    "conductorone: skipped an event that cannot be decoded"
                );
            } else if self.invalid_events == LOGGED_INVALID_EVENTS + 1 {
                tracing::warn!(component = %self.source_id, "conductorone: more undecodable events; counting them without logging each");
            }
        }
    }

    /// The request that resumes after the sent cursor, and its `since` fallback.
    fn next_request(&self) -> (ListRequest, Option<String>) {
        let since = self.cursor.last_time.map(format_time);
        let mut request = ListRequest {
            page_size: self.page_size,
            sort_direction: SORT_ASC,
            ..ListRequest::default()
        };
        match &self.cursor.last_uid {
            Some(uid) => {
                request.since_event_uid = Some(uid.clone());
                (request, since)
            }
            None => {
                request.since = since;
                (request, None)
            }
        }
    }

    /// One poll: fetches pages on a task of its own while sending them.
    async fn poll(
        &mut self,
        client: &Arc<ApiClient>,
        backoff: Backoff,
    ) -> Result<PollEnd, ComponentError> {
        let (request, fallback) = self.next_request();
        let (pages_tx, mut pages) = mpsc::channel(PREFETCH_PAGES);
        let fetch = tokio::spawn(fetch_cycle(
            Arc::clone(client),
            request,
            fallback,
            Retries::new(backoff, None),
            pages_tx,
        ));
        let _abort = AbortOnDrop(fetch);
        let mut persisted = self.commit.writer.persisted().clone();
        loop {
            let room = self.has_room();
            enum Step {
                Shutdown,
                Ack(Option<(AckToken, BatchStatus)>),
                Page(Option<Result<RawPage, ApiError>>),
                Persisted,
            }
            let step = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => Step::Shutdown,
                ack = self.acks.next_ready(), if !self.acks.is_empty() => Step::Ack(ack),
                page = pages.recv(), if room => Step::Page(page),
                _ = persisted.changed(), if !room => Step::Persisted,
            };
            match step {
                Step::Shutdown => return Ok(PollEnd::Shutdown),
                Step::Ack(Some((token, status))) => {
                    if !self.on_ack(token, status) {
                        return Ok(PollEnd::Rewind);
                    }
                }
                Step::Ack(None) | Step::Persisted => {}
                Step::Page(Some(Ok(page))) => {
                    if let Some(end) = self.send_page(page).await? {
                        return Ok(end);
                    }
                }
                Step::Page(Some(Err(error))) => return Ok(PollEnd::Failed(error)),
                Step::Page(None) => return Ok(PollEnd::Done),
            }
        }
    }

    /// Waits `duration` while handling acks. Returns why it stopped early, if it did.
    async fn idle(&mut self, duration: Duration) -> Option<PollEnd> {
        let sleep = tokio::time::sleep(duration);
        tokio::pin!(sleep);
        loop {
            enum Step {
                Shutdown,
                Elapsed,
                Ack(Option<(AckToken, BatchStatus)>),
            }
            let step = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => Step::Shutdown,
                ack = self.acks.next_ready(), if !self.acks.is_empty() => Step::Ack(ack),
                () = &mut sleep => Step::Elapsed,
            };
            match step {
                Step::Shutdown => return Some(PollEnd::Shutdown),
                Step::Elapsed => return None,
                Step::Ack(Some((token, status))) => {
                    if !self.on_ack(token, status) {
                        return Some(PollEnd::Rewind);
                    }
                }
                Step::Ack(None) => {}
            }
        }
    }

    /// After a failed batch: waits for every outstanding batch, then resumes from the
    /// committed checkpoint with a fresh dedupe memory. False on shutdown.
    async fn rewind(&mut self) -> bool {
        while !self.acks.is_empty() {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return false,
                Some((token, status)) = self.acks.next_ready() => {
                    self.on_ack(token, status);
                }
            }
        }
        self.commit.failed = false;
        // The failed batches will never be acknowledged: count room from the committed one.
        self.sent = self.commit.committed_seq;
        self.cursor = self.commit.committed.clone();
        self.dedupe = Dedupe::new(self.commit.committed.last_uid.as_deref());
        tracing::info!(
            uid = self.cursor.last_uid.as_deref().unwrap_or(""),
            "conductorone: resending from the checkpoint"
        );
        true
    }
}

/// Aborts a task when dropped (the fetcher of a poll that ended early).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The starting checkpoint: the stored one, or `start_at` on first run (then stored at once,
/// so a restart before the first event does not move `now` forward and skip events).
async fn initial_checkpoint(
    store: &CheckpointStore,
    start_at: StartAt,
) -> Result<Checkpoint, ComponentError> {
    let loader = store.clone();
    let loaded = tokio::task::spawn_blocking(move || loader.load())
        .await
        .map_err(|e| ComponentError(format!("conductorone: {e}")))?
        .map_err(|e| ComponentError(format!("conductorone: {e}")))?;
    if let Some(checkpoint) = loaded {
        tracing::info!(
            path = %store.path().display(),
            uid = checkpoint.last_uid.as_deref().unwrap_or(""),
            time = checkpoint.last_time.map(format_time).unwrap_or_default(),
            "conductorone: resuming from the checkpoint"
        );
        return Ok(checkpoint);
    }
    let checkpoint = Checkpoint {
        last_uid: None,
        last_time: match start_at {
            StartAt::Now => Some(chrono::Utc::now().timestamp_millis()),
            StartAt::Beginning => None,
            StartAt::Time(ms) => Some(ms),
        },
    };
    let saver = store.clone();
    let first = checkpoint.clone();
    tokio::task::spawn_blocking(move || saver.save(&first))
        .await
        .map_err(|e| ComponentError(format!("conductorone: {e}")))?
        .map_err(|e| ComponentError(format!("conductorone: {e}")))?;
    tracing::info!(
        start = checkpoint
            .last_time
            .map(format_time)
            .unwrap_or_else(|| "the beginning".to_owned()),
        "conductorone: first run"
    );
    Ok(checkpoint)
}

async fn run(
    settings: Settings,
    client: ApiClient,
    store: CheckpointStore,
    cx: SourceContext,
) -> Result<(), ComponentError> {
    let committed = initial_checkpoint(&store, settings.start_at).await?;
    if !cx.acknowledgements {
        tracing::info!(
            "conductorone: not every sink downstream acknowledges delivery; the checkpoint advances when events are sent, so a crash can lose events still in the pipeline"
        );
    }
    let client = Arc::new(client);
    let writer = StateWriter::spawn(
        store.path().to_path_buf(),
        "checkpoint",
        Arc::clone(&cx.metrics),
        CHECKPOINT_MIN_INTERVAL,
        settings.backoff(),
    );
    let mut source = Source {
        source_id: intern_id(&cx.id),
        out: cx.out,
        shutdown: cx.shutdown,
        acknowledgements: cx.acknowledgements,
        metrics: Arc::clone(&cx.metrics),
        page_size: settings.page_size,
        max_unacknowledged: settings.max_unacknowledged_events,
        cursor: committed.clone(),
        dedupe: Dedupe::new(committed.last_uid.as_deref()),
        invalid_events: 0,
        commit: Commit {
            committed,
            committed_seq: 0,
            failed: false,
            writer,
            metrics: Arc::clone(&cx.metrics),
        },
        sent: 0,
        acks: OrderedAcks::new(),
    };
    let mut poll_backoff = settings.backoff();
    let mut fatal = None;
    loop {
        let end = source.poll(&client, settings.backoff()).await?;
        let end = match end {
            PollEnd::Done => {
                poll_backoff.reset();
                source.idle(settings.poll_interval).await
            }
            PollEnd::Failed(error) if error.is_fatal() => {
                tracing::error!(%error, "conductorone: stopping");
                fatal = Some(error);
                break;
            }
            PollEnd::Failed(error) => {
                let delay = poll_backoff.next_delay_honouring(error.retry_after());
                tracing::error!(%error, retry_in_ms = delay.as_millis() as u64, "conductorone: polling failed; trying again after a backoff");
                source.idle(delay).await
            }
            other => Some(other),
        };
        match end {
            Some(PollEnd::Shutdown) => break,
            Some(PollEnd::Rewind) => {
                if !source.rewind().await {
                    break;
                }
                let delay = poll_backoff.next_delay();
                if let Some(PollEnd::Shutdown) = source.idle(delay).await {
                    break;
                }
            }
            _ => {}
        }
    }
    // Shutdown (or a fatal error): release the output first, so sinks that flush when their
    // input closes (`aws_s3`) acknowledge now instead of at their batch timeout, then wait
    // for what is in flight, so the checkpoint covers every delivered event.
    drop(std::mem::take(&mut source.out));
    while let Some((token, status)) = source.acks.next_ready().await {
        source.on_ack(token, status);
    }
    source.commit.writer.finish().await;
    match fatal {
        Some(error) => Err(ComponentError(format!("conductorone: {error}"))),
        None => Ok(()),
    }
}
