//! `splunk_hec_logs`: send events to Splunk's HTTP Event Collector (Vector's options and
//! defaults), with indexer acknowledgements that neither stall nor lose data.
//!
//! The HEC contract this follows (endpoints, envelope, status codes, acknowledgements) is
//! summarized in `docs/splunk-hec.md`. The parts:
//!
//! * [`encoder`]: each event becomes one HEC envelope (or one raw line) as soon as it arrives,
//!   so a batch holds bytes and acknowledgement links, not event values;
//! * `config`: the options, their checks and building the sink;
//! * `sink`: the batching loop (by bytes, events and time), which hands full batches to
//!   request tasks, at most `request.concurrency` sending at once;
//! * [`service`]: one task per batch: compression, the POST, retries with backoff, partial
//!   failures (`invalid-event-number`, 413), then the wait for the indexer acknowledgement,
//!   and the events' finalization;
//! * [`acks`]: the per-sink indexer-acknowledgement client, polling `/services/collector/ack`
//!   fast at first and backing off while nothing changes.

pub mod acks;
mod config;
pub mod encoder;
pub mod request;
pub mod service;
mod sink;

pub use crate::options::HealthcheckConfig;
pub use crate::sinks::request::{ADAPTIVE_CONCURRENCY, Concurrency, RequestConfig};
pub use config::{
    BatchConfig, Compression, DEFAULT_MAX_BYTES, EndpointTarget, HecAcknowledgementsConfig,
    SplunkHecLogsConfig, TlsConfig,
};
