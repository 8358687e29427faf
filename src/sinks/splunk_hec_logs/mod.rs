//! `splunk_hec_logs`: send events to Splunk's HTTP Event Collector (Vector's options and
//! defaults), with indexer acknowledgements that neither stall nor lose data.
//!
//! The HEC contract this follows (endpoints, envelope, status codes, acknowledgements) is
//! summarized in `docs/splunk-hec.md`. The parts:
//!
//! * `encoder`: each event becomes one HEC envelope (or one raw line) as soon as it arrives,
//!   so a batch holds bytes and acknowledgement links, not event values;
//! * `config`: the options, their checks and building the sink;
//! * `sink`: the batching loop (by bytes, events and time), which hands full batches to
//!   request tasks, at most `request.concurrency` sending at once;
//! * `client`: the HEC's HTTP side: the client (endpoint, token, channel; `tls` and
//!   `proxy` through `crate::options::http_client`), the event POST, the ack query, the
//!   health check, and what a response means;
//! * `deliver`: one task per batch: compression, the POST, retries (on
//!   `crate::retry`), partial failures (`invalid-event-number`, 413), then the wait for the
//!   indexer acknowledgement, and the events' finalization;
//! * `acks`: the per-sink indexer-acknowledgement client, polling `/services/collector/ack`
//!   fast at first and backing off while nothing changes.

mod acks;
pub(crate) mod client;
mod config;
mod deliver;
mod encoder;
mod sink;
#[cfg(test)]
mod test_server;

pub use config::{
    BATCH_DEFAULTS, DEFAULT_MAX_BYTES, EndpointTarget, HecAcknowledgementsConfig,
    SplunkHecLogsConfig,
};
