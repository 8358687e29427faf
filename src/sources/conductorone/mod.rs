//! `conductorone`: ConductorOne's system log, pulled over the API with a durable, acknowledged
//! cursor.
//!
//! Each poll lists events oldest first (`POST /api/v1/systemlog/events`, `SORT_DIRECTION_ASC`,
//! `pageSize` events a page) and follows `nextPageToken` until it is empty or absent, re-sending
//! the same filters with every page; a `nextPageToken` seen before in the same poll ends the
//! poll instead of looping. Every `poll_interval_secs` the next poll resumes after the last
//! event sent (`sinceEventUid` = its `metadata.uid`). The first run starts at `start_at`:
//! `now` (the default), `beginning`, or an RFC 3339 time (`since`). With `until`, every
//! request also asks only for events before it (events a server returns past it are not
//! sent, and end the listing); once a poll that started at or after `until` has listed
//! everything, the source waits for every outstanding acknowledgement, writes its checkpoint
//! and returns, so the pipeline exits when the rest has drained. The checkpoint only ever
//! covers delivered events, all before `until`, so a later run without `until` skips nothing. If the server rejects
//! the stored uid with a 4xx, the poll falls back to `since` = that event's `time` (inclusive)
//! and events already sent are dropped by `metadata.uid` (the last [`DEDUPE_CAPACITY`] sent;
//! right after a restart only the checkpoint's uid is known, so other events of that same
//! millisecond may be delivered again: at least once, never lost).
//!
//! Each `list` item becomes one event, the OCSF object unchanged except that integral floats
//! in the fields OCSF types as integers become integers (`crate::ocsf::numbers`).
//!
//! **Delivery guarantee: at least once.** Events go out in batches (a page split into batches
//! of at most [`MAX_BATCH_EVENTS`](crate::topology::MAX_BATCH_EVENTS)), each with a [`BatchNotifier`](crate::ack::BatchNotifier). The checkpoint
//! (`data_dir/<source id>/checkpoint.json`: `metadata.uid` and `time` of the last event) only
//! advances over the contiguous prefix of batches every sink has acknowledged
//! (`OrderedAcks`), and is written atomically by a `StateWriter` task (at most every
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
//! with the shared `Backoff` (from `retry_initial_backoff_secs`, doubling, full jitter, at most
//! `retry_max_backoff_secs`), honouring `Retry-After` (capped at the same maximum). Other
//! errors end the poll; it starts again after the same backoff. The source only stops on
//! shutdown, at the end of a window, or for a token it cannot use (a type other than `Bearer`
//! and `DPoP`, or `DPoP` with `dpop = false`: no waiting can fix that).
//!
//! Authentication (`token`, `credentials`, `dpop`): a signed client assertion (or the secret)
//! at `/auth/v1/token`, with a DPoP proof unless `dpop = false`; a `DPoP` token is sent with a
//! fresh proof on every API call, a `Bearer` token alone.
//!
//! Layout: `config` (the options, their checks, building the source and its health check),
//! `source` (the run loop), `client` (the ListEvents call and page decoding), `token`,
//! `credentials` and `dpop` (authentication), `checkpoint`.

pub(crate) mod checkpoint;
mod client;
mod config;
pub(crate) mod credentials;
mod dpop;
mod source;
mod token;

use std::time::Duration;

pub use config::{AuthMethod, ConductoroneConfig, StartAt, Until};

/// The default of `max_unacknowledged_events`: events that may be sent ahead of the stored
/// checkpoint (in the pipeline, or acknowledged but not yet written). After a crash at most
/// this many events, plus the page being sent, are delivered again; it also bounds the events
/// held in memory downstream. Large enough that checkpoint writes, spaced by
/// [`CHECKPOINT_MIN_INTERVAL`], never stall a backfill, and that a sink acknowledging every
/// few thousand events keeps up; a sink that batches more (`aws_s3`: 10 MB or
/// `batch.timeout_secs`) needs a larger value.
pub const DEFAULT_MAX_UNACKNOWLEDGED_EVENTS: usize = 10_000;

/// The shortest time between two checkpoint writes. Each write costs two `fsync`s; writing
/// after every acknowledged batch made them a large share of the source's CPU during a
/// backfill (`bench/README.md`, "Design measurements"). Updates arriving in between are
/// coalesced into the next write.
pub const CHECKPOINT_MIN_INTERVAL: Duration = Duration::from_millis(5);

/// Pages fetched ahead while earlier ones are being sent.
const PREFETCH_PAGES: usize = 2;

/// Recent `metadata.uid`s remembered to drop repeats (after the `since` fallback, or if the
/// server returns an event twice).
pub const DEDUPE_CAPACITY: usize = 10_000;
