//! `aws_s3`: write events as compressed NDJSON objects to S3 (Vector's options and object names).
//!
//! * **Partitions.** Each event's `key_prefix` is rendered (strftime on the event's own time,
//!   `{{ field }}` values confined to their place in the key, see `key`); every distinct prefix
//!   is an open object. At most `max_open_partitions` are open at once: opening one more seals
//!   the oldest, so memory does not grow with the number of prefixes.
//! * **Bounded memory.** Events are encoded and compressed as they arrive (`partition`); only
//!   compressed bytes are held. Once an object's compressed bytes reach `multipart_part_size`
//!   it becomes a multipart upload and each full part is sent at once, so a 1 GB object needs
//!   about one part of memory.
//! * **Sealing.** An object is sealed at `batch.max_bytes` (uncompressed), `batch.max_events`,
//!   `batch.timeout_secs` after its first event, when its partition is evicted, or at shutdown.
//!   Its key is fixed before the first request (`upload`), so retries overwrite, never add.
//! * **Acknowledgement.** Events are finalized `Delivered` only after `PutObject` /
//!   `CompleteMultipartUpload` succeeded; `Errored` when the write failed for good (the failed
//!   multipart upload is aborted); `Rejected` when the event's key cannot be rendered.
//!
//! * **Parquet.** With `batch_encoding.codec = "parquet"` (Vector's option) objects are Parquet
//!   files whose columns are an OCSF class's attributes (`crate::codecs::parquet`); row groups
//!   are encoded as they fill and leave as multipart parts like compressed bytes do.
//!
//! Layout: `config` (options, checks, build, health check), `sink` (the run loop), `key`,
//! `partition`, `upload`. The `aws_security_lake` sink runs on the same `Settings`, run loop
//! and uploads, with its own options and key layout.

mod config;
pub(crate) mod key;
pub(crate) mod partition;
pub(crate) mod sink;
pub(crate) mod upload;

pub use crate::options::HealthcheckConfig;
#[cfg(feature = "parquet")]
pub(crate) use config::PARQUET_CONTENT_TYPE;
pub use config::{AwsS3Config, BATCH_DEFAULTS};
// The `aws_security_lake` sink runs on these.
#[cfg(feature = "parquet")]
pub(crate) use config::{Settings, bucket_healthcheck};

/// The smallest part S3 accepts (except for the last one).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
