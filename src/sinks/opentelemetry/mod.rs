//! `opentelemetry`: send events as OTLP log records over HTTP (Vector's `protocol` options),
//! each OCSF event mapped to a `LogRecord` whose body keeps the event queryable.
//!
//! The OTLP/HTTP contract this follows is summarized in `docs/otlp.md`. The parts:
//!
//! * `config`: the options, their checks and building the sink;
//! * `encoder`: an event as a `LogRecord` (the mapping table is there) and the export request
//!   around a batch, as protobuf or OTLP/JSON, on the `opentelemetry-proto` crate's types;
//! * `sink`: the batching loop (by encoded bytes, events and time), which hands full batches
//!   to request tasks, at most `request.concurrency` at once;
//! * `client`: the POST, what a response means (`partial_success`, `google.rpc.Status`,
//!   `Retry-After`) and the health check;
//! * `deliver`: one task per batch: encoding, compression, retries (on `crate::retry`) and
//!   the events' finalization.

mod client;
mod config;
mod deliver;
mod encoder;
mod protobuf;
mod sink;

pub use config::{
    AuthConfig, DEFAULT_MAX_BYTES, HttpMethod, HttpProtocolConfig, OpenTelemetryConfig, OtlpCodec,
    OtlpEncodingConfig, ProtocolConfig,
};
