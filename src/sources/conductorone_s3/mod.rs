//! `conductorone_s3`: the files ConductorOne's system-log exporter writes to S3.
//!
//! The exporter writes one file every four to five minutes (up to 2.5 MB of OCSF JSON, zstd
//! or gzip) under an optional prefix of the customer's bucket. Neither key names nor the
//! framing inside a file are documented, so `decode` trusts neither: compression comes from
//! magic bytes, framing from the first byte (NDJSON or a JSON array). Each record becomes one
//! event, the OCSF object unchanged; the event's metadata (`%bucket`, `%key`, `%line`) says
//! where it came from.
//!
//! Two strategies find the files:
//!
//! * **`list`** (default, `list`): backfill everything under `bucket`/`prefix` (optionally
//!   after `start_after` or from `since`), oldest first, then list again every
//!   `poll_interval_secs`. The objects whose events were all acknowledged are checkpointed in
//!   `data_dir`, so a restart neither skips nor re-reads delivered files.
//! * **`sqs`** (`sqs`): S3 `ObjectCreated` notifications from an SQS queue, as Vector's
//!   `aws_s3` source does; several instances can share one queue. A message is deleted only
//!   once its objects' events are delivered, and kept invisible while they are in flight.
//!
//! **Delivery guarantee: at least once**, per object. A file that is corrupt, truncated or
//! larger than `max_decompressed_bytes` once decompressed gives every record before the
//! problem; the problem is logged with bucket, key and line and counted, and the file counts
//! as read (reading it again cannot help). With `dedupe = true` events whose `metadata.uid`
//! this source delivered recently are dropped (export files may overlap; the set is this
//! source's own, persisted in `data_dir`).

mod array;
mod config;
mod decode;
mod list;
mod read;
mod sqs;
mod zstd_stream;

use config::Settings;
pub use config::{ConductoroneS3Config, SqsConfig, Strategy};

/// Default `max_decompressed_bytes`: 256 MiB, a hundred times the exporter's largest file.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 256 * 1024 * 1024;

/// Default `dedupe_capacity`: about a month of a busy tenant's export.
pub const DEFAULT_DEDUPE_CAPACITY: usize = 100_000;

/// Warns at start that a sink downstream does not acknowledge delivery: what the strategy
/// records as done happens before the events are delivered.
fn warn_without_acknowledgements(cx: &crate::component::SourceContext, strategy: Strategy) {
    let consequence = match strategy {
        Strategy::List => "files are recorded as read once their events are handed on",
        Strategy::Sqs => "messages are deleted once their events are handed on",
    };
    if !cx.acknowledgements {
        tracing::warn!(
            "a sink downstream does not acknowledge delivery; {consequence}, so a crash can lose the events still inside the pipeline"
        );
    }
}
