//! # c1-pipeline
//!
//! Gets ConductorOne's system log (OCSF events) into the places security teams read it. A
//! Vector-style pipeline — **sources → transforms → sinks** — defined in TOML, with the
//! same component names and options as Vector where Vector has the component.
//!
//! * Events are [`vrl::value::Value`] objects: the OCSF object itself ([`event`]).
//! * Batches move between one task per component over bounded channels ([`topology`]).
//! * Delivery is acknowledged end to end ([`ack`]): a source learns when every copy of every
//!   event it emitted has reached every sink, which is what checkpointing sources build on.
//!
//! ## The library
//!
//! What a host program needs, re-exported here:
//!
//! * running a pipeline: [`Pipeline`] — from TOML text or files (`${VAR}` substitution, graph
//!   checks; errors as [`ConfigErrors`] with line:col, field and fix), plus components added
//!   in code; [`Pipeline::run`] until a shutdown future resolves, or [`Pipeline::start`] for a
//!   [`PipelineHandle`] that reads the counters while it runs, replaces its configuration
//!   without losing events ([`PipelineHandle::reload`], what SIGHUP does for the binary; an
//!   invalid one is refused as [`ReloadError::Invalid`] and the running one goes on) and stops
//!   it. The lower layer is still public: [`Config`] and [`run`] with [`RunOptions`];
//! * the channel endpoints in [`embed`]: a source the host feeds (an acknowledgement future per
//!   batch) and a sink that hands batches to the host, which finalizes them — so the
//!   `conductorone` source can feed a host's own code with at-least-once delivery;
//! * its own component types, used by `type` in TOML like the built-ins: [`registry`]
//!   (`register_source`, `register_transform`, `register_sink`);
//! * events and their acknowledgement: [`Event`], [`Batch`], [`BatchNotifier`],
//!   [`BatchStatus`], [`BatchStatusReceiver`];
//! * the component traits: [`SourceComponent`], [`TransformComponent`] (with
//!   [`SyncTransform`]), [`SinkComponent`], and their contexts in [`component`]; the registries
//!   of the built-in components in [`sources`], [`transforms`] and [`sinks`] (each component's
//!   `…Config` is built by deserializing its options, as Vector's are);
//! * the official OCSF schema of the embedded versions: [`ocsf::schema`] (classes, objects,
//!   attribute types, enums), the data behind the `ocsf` transform.
//!
//! Everything else is private to the crate. [`stdio`] is public for the binary (non-blocking
//! stdout and stderr).
//!
//! ### The `conductorone` source inside a host program
//!
//! Events reach the host with their acknowledgement links; the source's checkpoint advances
//! only over events the host has finalized (the whole program: `examples/embed_source.rs`).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use c1_pipeline::{BatchStatus, Pipeline};
//!
//! let mut pipeline = Pipeline::from_toml(
//!     r#"
//!     data_dir = "/var/lib/my-agent/c1"
//!     [sources.c1]
//!     type = "conductorone"
//!     client_id = "${C1_CLIENT_ID}"
//!     client_secret = "${C1_CLIENT_SECRET}"
//!     "#,
//! )?;
//! let (sink, mut batches) = c1_pipeline::embed::host_sink(4);
//! pipeline.add_sink("host", &["c1"], sink)?;
//! let handle = pipeline.start()?;
//! while let Some(batch) = batches.recv().await {
//!     for event in &batch {
//!         // `event.value` is a `vrl::value::Value`: the OCSF object.
//!         println!("{}", serde_json::to_string(&event.value)?);
//!     }
//!     c1_pipeline::event::finish_batch(batch, BatchStatus::Delivered);
//! }
//! handle.wait().await?;
//! # Ok(()) }
//! ```
//!
//! A host's own sink type, registered before the configuration that uses it is loaded, is
//! shown in [`registry`] (and `examples/custom_sink.rs`).
//!
//! ### In a Vector build or another Rust pipeline
//!
//! Vector's log events hold the same [`vrl::value::Value`] this crate's events do, so a Vector
//! build (or any Rust agent) wraps the source with the two endpoints: run the `conductorone`
//! source into a [`embed::host_sink`], turn each event's `value` into the host's own event
//! (for Vector, a `LogEvent` from the value, keeping the batch), and finalize the batch with
//! the status the host's own acknowledgement reports (`Delivered`, or `Errored` to have the
//! source send it again). Events flowing the other way enter through [`embed::host_source`],
//! whose per-batch receiver is the acknowledgement to hand back upstream.

#![warn(unreachable_pub)]
// No function over 120 lines (`clippy.toml`); tests are exempt.
#![warn(clippy::too_many_lines)]

// The library's surface: what a host program needs to load a configuration, run it, and
// write components of its own. Everything else is crate-private (`unreachable_pub` keeps it
// that way); tests reach the few internals they check through `test_support`.
pub mod ack;
pub mod component;
pub mod config;
pub mod embed;
pub mod enrichment;
pub mod event;
pub mod metrics;
pub mod ocsf;
mod pipeline;
pub mod registry;
pub mod sinks;
pub mod sources;
pub mod stdio;
pub mod topology;
pub mod transforms;

mod aws;
mod codecs;
mod dedupe;
mod error_text;
pub mod observability;
mod options;
mod retry;
pub mod secrets;
mod state;
mod template;

#[cfg(test)]
mod test_alloc;
#[cfg(test)]
mod test_s3;

pub use ack::{BatchNotifier, BatchStatus, BatchStatusReceiver};
pub use component::{SinkComponent, SourceComponent, SyncTransform, TransformComponent};
pub use config::{Config, ConfigError, ConfigErrors};
pub use event::{Batch, Event};
pub use pipeline::{IdTaken, Pipeline, PipelineHandle, ReloadError};
pub use topology::{RunError, RunOptions, RunSummary, run};

/// Internals that the integration tests check directly. Not part of the API: it may change
/// in any release.
#[doc(hidden)]
pub mod test_support {
    pub use crate::codecs::EncodingCodec;
    pub use crate::sinks::splunk_hec_logs::client::HecClient;
    pub use crate::sources::conductorone::checkpoint::{Checkpoint, CheckpointStore};
    pub use crate::sources::conductorone::credentials::format_secret;
}
