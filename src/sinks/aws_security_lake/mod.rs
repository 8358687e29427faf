//! `aws_security_lake`: OCSF events as Parquet objects in an Amazon Security Lake custom
//! source's layout.
//!
//! * **Layout.** `<s3_uri>region=<region>/accountId=<account_id>/eventDay=<YYYYMMDD>/<uuid>.parquet`,
//!   the day from each event's OCSF `time` (UTC): one open object per day.
//! * **One class per sink.** Security Lake takes one OCSF class per custom source: events of
//!   another class, and events without an integer `time`, are finalized `Rejected`, logged
//!   with their class and uid, and counted (`component_errors_total`,
//!   `rejected_events_total`). Route by class before the sink.
//! * **Columns from OCSF.** The class's attributes at `ocsf_version` are the columns
//!   (`crate::codecs::parquet`: objects as structs, arrays as lists, ints as ints, `time` as
//!   int64 epoch ms and `time_dt` as a timestamp, three object levels); what the schema lacks
//!   goes to `unmapped` as JSON; a value of the wrong type rejects its event, naming the path.
//! * **Objects.** Rows sorted by `time`; zstd pages by default; sealed at `batch.max_bytes`
//!   (Parquet bytes, default 256 MB, Security Lake's ceiling) or `batch.timeout_secs` (300 to
//!   86,400, as Security Lake asks); row groups encoded as they fill and sent as multipart
//!   parts, so memory is bounded by the row-group size (one for all open objects of the sink)
//!   and the part size, not the object's.
//! * **Delivery.** The `aws_s3` sink's machinery (`crate::sinks::aws_s3`): multipart uploads,
//!   `Content-MD5`, retries with `request.*`, credentials (including `auth.assume_role` with
//!   `auth.external_id`, which the role Security Lake creates for the source requires); events
//!   are acknowledged when their object's upload completes.

mod config;

pub use config::{AwsSecurityLakeConfig, BATCH_DEFAULTS};
