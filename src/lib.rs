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
//! * loading a configuration: [`Config`] (TOML files, `${VAR}` substitution, graph checks;
//!   errors as [`ConfigErrors`] with file:line:col, field and fix);
//! * running it until a shutdown signal: [`run`] with [`RunOptions`], giving a [`RunSummary`]
//!   or a [`RunError`];
//! * events and their acknowledgement: [`Event`], [`Batch`], [`BatchNotifier`],
//!   [`BatchStatus`], [`BatchStatusReceiver`];
//! * the component traits: [`SourceComponent`], [`TransformComponent`] (with
//!   [`SyncTransform`]), [`SinkComponent`], and their contexts in [`component`]; the registries
//!   of the built-in components in [`sources`], [`transforms`] and [`sinks`] (each component's
//!   `…Config` is built by deserializing its options, as Vector's are).
//!
//! * the official OCSF schema of the embedded versions: [`ocsf::schema`] (classes, objects,
//!   attribute types, enums), the data behind the `ocsf` transform.
//!
//! Everything else is private to the crate. [`stdio`] is public for the binary (non-blocking
//! stdout and stderr).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let env = |name: &str| std::env::var(name).ok();
//! let (config, graph) = c1_pipeline::Config::load_with_graph(&["pipeline.toml".into()], &env)?;
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! let summary = c1_pipeline::run(&config, &graph, shutdown, Default::default()).await?;
//! println!("{summary:?}");
//! # Ok(()) }
//! ```

#![warn(unreachable_pub)]
// No function over 120 lines (`clippy.toml`); tests are exempt.
#![warn(clippy::too_many_lines)]

// The library's surface: what a host program needs to load a configuration, run it, and
// write components of its own. Everything else is crate-private (`unreachable_pub` keeps it
// that way); tests reach the few internals they check through `test_support`.
pub mod ack;
pub mod component;
pub mod config;
pub mod event;
pub mod metrics;
pub mod ocsf;
pub mod sinks;
pub mod sources;
pub mod stdio;
pub mod topology;
pub mod transforms;

mod aws;
mod codecs;
mod dedupe;
mod error_text;
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
